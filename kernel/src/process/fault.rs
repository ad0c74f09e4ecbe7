//! A user fault from the process's side: the mm's handler, and the OOM
//! killer when it finds no memory (Linux's pagefault_out_of_memory).

use super::signal::fatal_signal_pending;
use crate::memory::user::fault::{FaultResult, SegvCode, handle_user_fault};
use crate::sched;

/// Resolve a fault at `addr` in the current process's mm; out of memory
/// runs the OOM killer and retries once the victim is gone (or returns the
/// OOM result if the victim is this task: its SIGKILL is pending).
pub fn user_fault(addr: u64, kind: mm::mmap::fault::FaultKind) -> FaultResult {
    let Some(mm) = sched::with_current(|t| t.mm()).flatten() else {
        return FaultResult::Segv(SegvCode::MapErr);
    };
    loop {
        match handle_user_fault(&mm, addr, kind) {
            FaultResult::Oom => {
                if !super::oom::out_of_memory() || fatal_signal_pending() {
                    return FaultResult::Oom;
                }
            }
            r => return r,
        }
    }
}
