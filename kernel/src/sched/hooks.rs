//! Where the rest of the kernel plugs into the scheduler: the address
//! space switch and the reschedule IPI.
//!
//!
//! * [`switch_mm_hook`]: called on every switch, on the switching CPU,
//!   with IRQs masked and no scheduler lock held, before the FP/SIMD and
//!   register switch. The place for TTBR0_EL1/ASID switching (Linux's
//!   switch_mm -> check_and_switch_context, cpu_switch_mm): `prev` still
//!   runs here, `next` is about to. Kernel threads can keep the previous
//!   mm (Linux's lazy TLB `active_mm`) or load the reserved empty table.
//! * [`set_resched_ipi_hook`]: the function the scheduler calls to make
//!   another CPU look at its run queue (the GIC helper's reschedule SGI).
//!   Without one, a `dsb ish; sev` wakes a CPU waiting in `wfe`, which is
//!   all an idle CPU needs; a CPU running a task sees its need_resched
//!   flag at the task's next yield (or, with the tick, on return to EL0).

use super::irqlock::IrqSpinLock;
use super::task::Task;

/// The address space switch (TTBR0, ASID) between `prev` and `next`: a
/// user task's mm goes into TTBR0 with its ASID (a fresh one after a
/// rollover, with the local flush the allocator asks for); a kernel thread
/// gets the reserved empty table, so no user translation is reachable
/// from it (Linux keeps the previous mm lazily; the reserved table is the
/// simpler correct choice, and costs a TTBR0 write per switch from a user
/// task to a kernel thread). Between two kernel threads nothing changes:
/// TTBR0 already holds the reserved table (an exiting task loads it itself
/// when it lets go of its mm).
#[inline]
pub fn switch_mm_hook(prev: &Task, next: &Task) {
    next.with_mm(|mm| match mm {
        Some(mm) => mm.switch_to(),
        None if prev.with_mm(|p| p.is_some()) => crate::memory::context::cpu_set_reserved_ttbr0(),
        None => {}
    });
}

/// The reschedule IPI sender, if installed.
static RESCHED_IPI: IrqSpinLock<Option<fn(usize)>> = IrqSpinLock::new(None);

/// Install `f(cpu)` as the way to interrupt CPU `cpu` so that it
/// reschedules (Linux's smp_send_reschedule). Called once the interrupt
/// controller can send SGIs; `f` must be callable with IRQs masked.
pub fn set_resched_ipi_hook(f: fn(usize)) {
    *RESCHED_IPI.lock() = Some(f);
}

/// Make CPU `cpu` (not the caller's) look at its run queue: `dsb ish; sev`
/// for a CPU in `wfe`, and the IPI when one is installed.
pub(super) fn kick_cpu(cpu: usize) {
    arch::cpu::send_event();
    let f = *RESCHED_IPI.lock();
    if let Some(f) = f {
        f(cpu);
    }
}
