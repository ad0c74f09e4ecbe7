//! Signals, as far as this kernel has them: every signal acts by default
//! (there are no handlers), so a fatal one is a request that the task end
//! at its next return to user space, as are exit and exit_group. kill(2),
//! the OOM killer and faults make such requests; `entry` acts on them.

use super::pid::{self, ProcState, Process, SIGKILL};
use crate::sched;
use core::sync::atomic::Ordering;

/// How a task's life ends (recorded, acted on at exit_to_user_mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// exit / exit_group with this code (its low 8 bits are the status).
    Code(i32),
    /// A fatal signal.
    Signal(u32),
}

impl ExitReason {
    /// Linux's wait status: code << 8, or the signal.
    pub fn wstatus(self) -> i32 {
        match self {
            ExitReason::Code(c) => (c & 0xff) << 8,
            ExitReason::Signal(s) => (s & 0x7f) as i32,
        }
    }
}

/// Make the current task die of `sig` at its next return to user space.
pub fn force_sig(sig: u32) {
    sched::with_current(|t| t.request_exit(sig_reason(sig)));
}

/// An exit request as the task keeps it: the kind in the high half (1 a
/// signal, 2 an exit code), so that no request is 0.
fn sig_reason(sig: u32) -> u64 {
    (1 << 32) | sig as u64
}

fn code_reason(code: i32) -> u64 {
    (2 << 32) | (code as u32 & 0xff) as u64
}

/// Whether the current task has a fatal signal or exit request pending.
pub fn fatal_signal_pending() -> bool {
    sched::with_current(|t| t.exit_request() != 0).unwrap_or(false)
}

/// Ask the current task to exit with `code` (exit, exit_group).
pub fn request_exit(code: i32) {
    sched::with_current(|t| t.request_exit(code_reason(code)));
}

pub(super) fn decode_request(r: u64) -> ExitReason {
    if r >> 32 == 1 { ExitReason::Signal(r as u32) } else { ExitReason::Code((r & 0xff) as i32) }
}

/// Signals whose default action is to do nothing (Linux's
/// SIG_KERNEL_IGNORE_MASK): SIGCHLD, SIGCONT, SIGURG, SIGWINCH.
fn ignored_by_default(sig: u32) -> bool {
    matches!(sig, 17 | 18 | 23 | 28)
}

/// kill(pid, sig): every signal here has its default action (no handlers
/// yet): terminate, except those ignored by default; 0 only probes.
pub fn kill(pid: i32, sig: u32) -> Result<(), mm::mmap::Errno> {
    use mm::mmap::Errno;
    if sig > 64 {
        return Err(Errno::EINVAL);
    }
    if pid <= 0 {
        return Err(Errno::ESRCH);
    }
    let target = pid::find_process(pid).ok_or(Errno::ESRCH)?;
    if sig == 0 || ignored_by_default(sig) {
        return Ok(());
    }
    if matches!(*target.state.lock(), ProcState::Zombie(_)) {
        return Ok(());
    }
    let task = target.task.lock().clone();
    target.pending_kill.store(sig, Ordering::Release);
    if let Some(t) = task {
        t.request_exit(sig_reason(sig));
        sched::wake_up(&t);
        sched::resched_cpu(t.cpu());
    }
    // A process sleeping in wait4 checks its own pending signal.
    target.child_exit.wake_up_all();
    Ok(())
}

/// Kill `p` with SIGKILL (the OOM killer).
pub fn kill_process(p: &Process) {
    let _ = kill(p.pid, SIGKILL);
}
