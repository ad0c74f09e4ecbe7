//! FP/SIMD state per task (Linux's arch/arm64/kernel/fpsimd.c, in its
//! simplest, eager form).
//!
//! The kernel is softfloat: nothing it compiles touches a V register, so
//! the FP/SIMD registers belong to whichever task last ran with
//! `TaskFlags::FP_USED`. A task gets the flag on its first FP/SIMD use
//! ([`first_use`], called from the EL0 FP trap, or by a kernel thread that
//! wants FP on purpose). At every switch:
//!
//! ```text
//!   prev FP_USED ?  save prev's registers into prev's FpState
//!   next FP_USED ?  enable FP/SIMD (CPACR_EL1.FPEN = 0b11), load next's
//!              else  trap FP/SIMD (FPEN = 0b00)
//! ```
//!
//! so a task that never used FP/SIMD still traps on its first instruction
//! (the `exceptions.fp_simd_traps` self-test holds on every task), and
//! the registers it could read are never another task's.
//!
//! Differences from Linux: Linux saves lazily (TIF_FOREIGN_FPSTATE and the
//! per-CPU fpsimd_last_state let a task that comes back to the CPU whose
//! registers still hold its state skip the load); here the save and load
//! are eager, 1 KiB of stores and loads per switch between FP tasks and
//! nothing for the others. No SVE or SME state.

use super::task::{Task, TaskFlags, ThreadState};
use arch::fpsimd::FpState;
use arch::irqflags::{local_irq_restore, local_irq_save};

/// The FP/SIMD part of a switch; IRQs masked, `p`/`n` the two tasks'
/// thread states (the switch path's).
pub(super) fn switch_fpsimd(prev: &Task, p: &mut ThreadState, next: &Task, n: &ThreadState) {
    if prev.flags().contains(TaskFlags::FP_USED) {
        arch::fpsimd::save(&mut p.fpsimd);
    }
    if next.flags().contains(TaskFlags::FP_USED) {
        arch::fpsimd::enable();
        arch::fpsimd::restore(&n.fpsimd);
    } else if arch::fpsimd::is_enabled() {
        arch::fpsimd::disable();
    }
}

/// The current task's first use of FP/SIMD (the EL0 FP/ASIMD trap handler
/// calls this, Linux's do_fpsimd_acc): give it a zeroed state (FPCR 0),
/// mark it FP_USED and enable FP/SIMD, so the trapped instruction can be
/// retried. `task` must be the current task; a task that already has the
/// flag keeps its state.
pub fn first_use(task: &Task) {
    debug_assert!(
        task.on_cpu() && task.cpu() == arch::percpu::smp_processor_id(),
        "fpsimd::first_use of a task that is not current"
    );
    let flags = local_irq_save();
    if !task.flags().contains(TaskFlags::FP_USED) {
        // SAFETY: `task` is the current task (asserted above; the callers'
        // contract) and IRQs are masked, so no switch touches its state now.
        let ts = unsafe { task.thread_state() };
        ts.fpsimd = FpState::ZERO;
        arch::fpsimd::enable();
        arch::fpsimd::restore(&ts.fpsimd);
        task.set_flags(TaskFlags::FP_USED);
    }
    local_irq_restore(flags);
}
