//! Hooks the interrupt handlers call: a slot holds at most one function,
//! read without waiting in IRQ context, written with IRQs masked.

/// A hook called in IRQ context, replaceable (see [`run_hook`]).
pub(super) type HookSlot = spin::RwLock<Option<fn()>>;

/// Run the hook in `slot`, if one is set. `try_read`: a reader never
/// waits, so an IRQ that lands while this CPU is inside a setter (which
/// masks IRQs anyway) cannot deadlock; it skips the hook once.
pub(super) fn run_hook(slot: &HookSlot) {
    let f = slot.try_read().and_then(|g| *g);
    if let Some(f) = f {
        f();
    }
}

/// Store `f` in `slot` with IRQs masked on this CPU.
pub(super) fn store_hook(slot: &HookSlot, f: fn()) {
    let flags = arch::irqflags::local_irq_save();
    *slot.write() = Some(f);
    arch::irqflags::local_irq_restore(flags);
}
