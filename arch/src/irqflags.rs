//! Masking IRQs on the calling CPU (PSTATE.I, through DAIF), Linux's
//! `local_irq_*` (arch/arm64/include/asm/irqflags.h).
//!
//! Only the I bit is touched: debug exceptions, SErrors and FIQs stay as
//! they are. Every access is a compiler barrier (the asm may touch memory),
//! so loads and stores of the masked section are not moved out of it; the
//! CPU itself takes an IRQ only between instructions, and an `msr daifclr`
//! is self-synchronising for interrupts (Arm ARM D1.3.6), so no `isb` is
//! needed after it.

use core::arch::asm;

/// PSTATE.I in DAIF.
const DAIF_I: u64 = 1 << 7;

/// DAIF as [`local_irq_save`] found it, for [`local_irq_restore`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "the flags are for local_irq_restore"]
pub struct IrqFlags(u64);

impl IrqFlags {
    /// The saved DAIF value (to keep it where an `IrqFlags` cannot go).
    pub fn bits(self) -> u64 {
        self.0
    }

    /// Flags from [`bits`](Self::bits).
    pub fn from_bits(bits: u64) -> Self {
        IrqFlags(bits)
    }

    /// Whether these flags have IRQs masked.
    pub fn irqs_disabled(self) -> bool {
        self.0 & DAIF_I != 0
    }
}

fn daif() -> u64 {
    let v: u64;
    // SAFETY: reading DAIF has no side effect.
    unsafe { asm!("mrs {}, daif", out(reg) v, options(nostack, preserves_flags)) };
    v
}

/// Whether IRQs are masked on this CPU now.
pub fn irqs_disabled() -> bool {
    daif() & DAIF_I != 0
}

/// Mask IRQs on this CPU and return the previous state.
pub fn local_irq_save() -> IrqFlags {
    let flags = IrqFlags(daif());
    local_irq_disable();
    flags
}

/// Put PSTATE.I back as [`local_irq_save`] found it.
pub fn local_irq_restore(flags: IrqFlags) {
    if !flags.irqs_disabled() {
        local_irq_enable();
    }
}

/// Mask IRQs on this CPU.
pub fn local_irq_disable() {
    // SAFETY: masking interrupts cannot break memory safety.
    unsafe { asm!("msr daifset, #2", options(nostack, preserves_flags)) };
}

/// Unmask IRQs on this CPU: from here an IRQ may arrive between any two
/// instructions. The caller's locks must allow that (no lock an IRQ
/// handler takes may be held with IRQs unmasked).
pub fn local_irq_enable() {
    // SAFETY: the handlers the kernel installed run on this CPU's stack and
    // return to the interrupted instruction; see the obligation above.
    unsafe { asm!("msr daifclr, #2", options(nostack, preserves_flags)) };
}

/// Wait for an interrupt (`wfi`), for a caller that then checks why it woke.
pub fn wait_for_interrupt() {
    // SAFETY: wfi only suspends the CPU until an interrupt or event.
    unsafe { asm!("dsb sy", "wfi", options(nostack, preserves_flags)) };
}
