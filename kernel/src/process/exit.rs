//! The end of a process (Linux's do_exit, exit_mm, exit_notify and
//! wait4): off its address space, a zombie until its parent reaps it; the
//! first program's end ends the run.

use super::pid::{self, ProcState, Process};
use super::signal::{ExitReason, fatal_signal_pending};
use crate::sched;
use crate::{pr_info, pr_warn};
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

/// Everything do_exit does before the task's last switch; returns the
/// task's exit code. Holds no reference when it returns.
pub(super) fn do_exit_work(reason: ExitReason) -> i32 {
    let Some(p) = pid::current_process() else {
        return 0;
    };
    // exit_mm: off this address space first (TTBR0 to the reserved table),
    // then the last reference may tear it down.
    let mm = p.mm.lock().take();
    sched::with_current(|t| t.set_mm(None));
    crate::memory::context::cpu_set_reserved_ttbr0();
    if let Some(mm) = mm {
        if p.report_at_exit.load(Ordering::Relaxed) {
            super::report::print_smaps_rollup(&p, &mm);
        }
        drop(mm);
    }
    let wstatus = reason.wstatus();
    *p.state.lock() = ProcState::Zombie(wstatus);
    // Orphans: their parent is gone; zombies among them go at once.
    for c in pid::children_of(p.pid) {
        c.ppid.store(0, Ordering::Relaxed);
        if matches!(*c.state.lock(), ProcState::Zombie(_)) {
            pid::unhash(c.pid);
        }
    }
    if p.is_init {
        end_run(&p, reason);
    }
    match pid::find_process(p.ppid.load(Ordering::Relaxed)) {
        Some(parent) => {
            parent.child_exit.wake_up_all();
        }
        None => {
            // No parent to reap it: it leaves the table now; a kernel
            // caller holding it (wait_detached) still sees the status.
            pid::unhash(p.pid);
            DETACHED_EXIT.wake_up_all();
        }
    }
    match reason {
        ExitReason::Code(c) => c,
        ExitReason::Signal(s) => 128 + s as i32,
    }
}

/// The first program is gone: the run ends with its exit status.
fn end_run(p: &Process, reason: ExitReason) -> ! {
    let code = match reason {
        ExitReason::Code(c) => {
            pr_info!("{}[{}]: init exited with status {}", p.comm(), p.pid, c & 0xff);
            (c & 0xff) as u32
        }
        ExitReason::Signal(s) => {
            pr_warn!("Kernel panic - not syncing: Attempted to kill init! exitcode=0x{:08x}", s);
            128 + s
        }
    };
    crate::console::exit::exit_status(code)
}

/// Woken when a process without a parent exits.
static DETACHED_EXIT: sched::wait::WaitQueue = sched::wait::WaitQueue::new();

/// Wait, in the kernel, for a process the kernel started without a parent
/// (the self-tests' programs) to exit; its task is reaped; returns its wait
/// status.
pub fn wait_detached(p: &Arc<Process>) -> i32 {
    let zombie = |p: &Process| match *p.state.lock() {
        ProcState::Zombie(w) => Some(w),
        ProcState::Running => None,
    };
    DETACHED_EXIT.wait_event(|| zombie(p).is_some());
    if let Some(task) = p.task.lock().take() {
        sched::reap(task);
    }
    zombie(p).unwrap_or(0)
}

/// wait4(pid, &status, options): reap a zombie child.
pub fn wait4(me: &Arc<Process>, pid: i32, nohang: bool) -> Result<(i32, i32), mm::mmap::Errno> {
    use mm::mmap::Errno;
    loop {
        let children: alloc::vec::Vec<Arc<Process>> =
            pid::children_of(me.pid).into_iter().filter(|c| pid <= 0 || c.pid == pid).collect();
        if children.is_empty() {
            return Err(Errno::ECHILD);
        }
        for c in &children {
            let st = *c.state.lock();
            if let ProcState::Zombie(wstatus) = st {
                pid::unhash(c.pid);
                if let Some(task) = c.task.lock().take() {
                    sched::reap(task);
                }
                return Ok((c.pid, wstatus));
            }
        }
        if nohang {
            return Ok((0, 0));
        }
        drop(children);
        let my = me.pid;
        me.child_exit.wait_event(|| {
            fatal_signal_pending()
                || pid::children_of(my)
                    .iter()
                    .any(|c| (pid <= 0 || c.pid == pid) && matches!(*c.state.lock(), ProcState::Zombie(_)))
        });
        if fatal_signal_pending() {
            return Err(Errno::EINTR);
        }
    }
}
