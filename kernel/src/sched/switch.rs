//! The switch itself (Linux's context_switch, __switch_to and
//! finish_task_switch) and `current`.
//!
//! The unsafe part of the scheduler: the register switch, the task's
//! saved state, and the raw `Arc` pointers of the per-CPU slots.
//!
//! ```text
//!   schedule() on CPU n, IRQs masked, no lock held:
//!     context_switch(prev, next)
//!       switch_mm_hook(prev, next)         TTBR0/ASID
//!       fpsimd: save prev's, load next's or trap FP/SIMD
//!       TPIDR_EL0/TPIDRRO_EL0: save prev's, load next's
//!       CPU area stack bounds := next's    (the oops code, overflow report)
//!       CURRENT[n] := next; LAST[n] := prev's Arc
//!       cpu_switch_to                      ---> next runs
//!     ... later, prev is switched back in on CPU n:
//!     finish_task_switch()                  (also the first thing a new
//!       the task switched away from:         task does)
//!       on_cpu := false; its Arc handed back to be dropped
//! ```
//!
//! `CURRENT[n]` is a plain pointer: the run queue's `curr` holds the
//! reference that keeps the task alive while it runs. `LAST[n]` holds the
//! reference the switching task's run queue gave up (`curr` was replaced
//! by `next`): the task switched away from may have exited, and this is
//! what keeps its stack mapped until it is off the CPU.

use super::task::Task;
use alloc::sync::Arc;
use arch::irqflags::IrqFlags;
use arch::percpu::{NR_CPUS, smp_processor_id, this_cpu_area};
use core::ptr::null_mut;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

static CURRENT: [AtomicPtr<Task>; NR_CPUS] = [const { AtomicPtr::new(null_mut()) }; NR_CPUS];
static LAST: [AtomicPtr<Task>; NR_CPUS] = [const { AtomicPtr::new(null_mut()) }; NR_CPUS];
/// The IRQ state of the schedule() call that switched, which a new task
/// takes on when it first runs (it has no schedule() frame to return to).
static SWITCH_FLAGS: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

/// Make `t` this CPU's current task, for the context already running
/// (the idle task at boot). `t` must be kept alive by the run queue.
pub(super) fn set_current(cpu: usize, t: &Arc<Task>) {
    CURRENT[cpu].store(Arc::as_ptr(t) as *mut Task, Ordering::Release);
}

/// The task running on this CPU, if the scheduler is up on it.
pub fn try_current() -> Option<Arc<Task>> {
    let p = CURRENT[smp_processor_id()].load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null CURRENT[n] came from Arc::as_ptr of the task the
    // run queue of CPU n holds in `curr`; it changes only in
    // context_switch, on this CPU with IRQs masked, and the caller runs on
    // this CPU as that task (or an interrupt of it), so the task and the
    // run queue's reference outlive this increment.
    unsafe {
        Arc::increment_strong_count(p);
        Some(Arc::from_raw(p))
    }
}

/// Run `f` on the current task without touching its reference count.
pub fn with_current<R>(f: impl FnOnce(&Task) -> R) -> Option<R> {
    let p = CURRENT[smp_processor_id()].load(Ordering::Acquire);
    if p.is_null() {
        return None;
    }
    // SAFETY: as in try_current: the task is alive while it is current,
    // and it is current for as long as this call (which runs on it) lasts.
    Some(f(unsafe { &*p }))
}

/// Switch from `prev` (running now, this CPU's `curr` until the caller
/// replaced it with `next`) to `next`; `prev_ref` is the reference `curr`
/// held, `next` a reference of the caller's besides the one now in
/// `curr` (dropped before the switch: a task that exits never returns
/// here, so nothing may stay on its stack). Returns when `prev` is
/// switched back in.
///
/// Called by schedule() with IRQs masked (`flags`: its caller's state)
/// and no lock held.
pub(super) fn context_switch(prev_ref: Arc<Task>, next: Arc<Task>, flags: IrqFlags) {
    debug_assert!(arch::irqflags::irqs_disabled());
    let cpu = smp_processor_id();
    let prev: &Task = &prev_ref;
    super::hooks::switch_mm_hook(prev, &next);
    // SAFETY: this is the switch path for both tasks, with IRQs masked
    // (checked above): prev is running here, next is off every CPU (it
    // was on this CPU's queue, and a task is only queued once it is off
    // its CPU or is the current one, which next is not); no other
    // reference to either thread state is alive.
    let (p, n) = unsafe { (prev.thread_state(), next.thread_state()) };
    super::fpsimd::switch_fpsimd(prev, p, &next, n);
    p.tls = arch::context::ThreadRegs::read();
    n.tls.write();
    let area = this_cpu_area();
    area.stack_lo.store(next.stack_lo, Ordering::Relaxed);
    area.stack_hi.store(next.stack_hi, Ordering::Relaxed);
    next.on_cpu.store(true, Ordering::Release);
    CURRENT[cpu].store(Arc::as_ptr(&next) as *mut Task, Ordering::Release);
    SWITCH_FLAGS[cpu].store(flags.bits(), Ordering::Relaxed);
    let prev_ctx = core::ptr::addr_of_mut!(p.cpu_context);
    let next_ctx = core::ptr::addr_of!(n.cpu_context);
    let old = LAST[cpu].swap(Arc::into_raw(prev_ref) as *mut Task, Ordering::AcqRel);
    debug_assert!(old.is_null(), "a switch on CPU{cpu} was not finished");
    debug_assert!(Arc::strong_count(&next) > 1, "next is not this CPU's curr");
    drop(next);
    // SAFETY: 1. both contexts live in tasks kept alive (prev by LAST,
    // next by the run queue's curr, whose reference outlives `next`'s) and are touched by nobody else until
    // the switch completes; 2. next's context was saved by its last switch
    // away or built for its first run, and its stack is its own, mapped
    // for its lifetime; 3. IRQs are masked and the caller dropped every
    // lock.
    unsafe { arch::context::cpu_switch_to(prev_ctx, next_ctx) };
}

/// The second half of a switch, on the task switched in (Linux's
/// finish_task_switch): the task switched away from is off the CPU now.
/// Returns its reference, for the caller to drop once IRQs are back on
/// (the last reference to a dead task frees its stack).
pub(super) fn finish_task_switch() -> Option<Arc<Task>> {
    let cpu = smp_processor_id();
    let p = LAST[cpu].swap(null_mut(), Ordering::AcqRel);
    if p.is_null() {
        return None;
    }
    // SAFETY: LAST[cpu] only ever holds a pointer from Arc::into_raw
    // (context_switch), swapped out exactly once, here.
    let prev = unsafe { Arc::from_raw(p) };
    prev.on_cpu.store(false, Ordering::Release);
    Some(prev)
}

/// The IRQ state the switch into a new task found.
pub(super) fn switch_flags() -> IrqFlags {
    IrqFlags::from_bits(SWITCH_FLAGS[smp_processor_id()].load(Ordering::Relaxed))
}
