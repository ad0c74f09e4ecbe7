//! `Process`: one user program's identity and life (the parts of Linux's
//! task_struct and signal_struct a single-threaded process needs), and the
//! pid table.
//!
//! A process has one task (sched's `Task`, whose `owner` is the pid) and
//! one `Mm`. Its life: `Running` from exec or fork, `Zombie(wstatus)` from
//! do_exit until its parent reaps it with wait4 (or at once when it has no
//! parent any more), then gone from the table. A child whose parent exits
//! first is reparented to nobody and reaps itself when it exits (Linux
//! reparents to init, which reaps; the effect on memory is the same).
//!
//! Locks: `PROCS` (the table), then one process's `state`; never two
//! processes' `state` at once.

use crate::memory::user::mm::Mm;
use crate::sched::task::{Pid, TASK_COMM_LEN, Task};
use crate::sched::wait::WaitQueue;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use spin::Mutex;

/// SIGKILL.
pub const SIGKILL: u32 = 9;
/// SIGSEGV.
pub const SIGSEGV: u32 = 11;
/// SIGBUS.
pub const SIGBUS: u32 = 7;
/// SIGILL.
pub const SIGILL: u32 = 4;

/// Where a process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// Its task runs (or sleeps, or waits for a CPU).
    Running,
    /// It exited with this wait status (Linux's encoding: exit code << 8,
    /// or the terminating signal) and waits to be reaped.
    Zombie(i32),
}

/// One user process.
pub struct Process {
    /// Process id (= its only thread's id).
    pub pid: Pid,
    comm: Mutex<[u8; TASK_COMM_LEN]>,
    /// Parent's pid; 0 once the parent is gone (or for the first program).
    pub ppid: AtomicI32,
    /// The address space (None once exit_mm ran).
    pub mm: Mutex<Option<Arc<Mm>>>,
    /// Its task, once started.
    pub task: Mutex<Option<Arc<Task>>>,
    /// Running or zombie.
    pub state: Mutex<ProcState>,
    /// This process's wait4 sleeps here; its children's exits wake it.
    pub child_exit: WaitQueue,
    /// A fatal signal sent to it (0: none), acted on at its next return to
    /// user space or wake-up.
    pub pending_kill: AtomicU32,
    /// The run's first program: its exit ends the run.
    pub is_init: bool,
    /// It printed its smaps summary at exit (`user_debug` style reports).
    pub report_at_exit: AtomicBool,
}

static PROCS: Mutex<BTreeMap<Pid, Arc<Process>>> = Mutex::new(BTreeMap::new());
/// `maps_at_exit`: every process reports its maps when it exits.
static MAPS_AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Whether processes print their maps and smaps_rollup at exit.
pub fn set_maps_at_exit(on: bool) {
    MAPS_AT_EXIT.store(on, Ordering::Relaxed);
}
static NEXT_PID: AtomicI32 = AtomicI32::new(1);

impl Process {
    /// A new process in the table.
    pub fn new(comm: &str, ppid: Pid, mm: Arc<Mm>, is_init: bool) -> Arc<Process> {
        let pid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
        let p = Arc::new(Process {
            pid,
            comm: Mutex::new(comm_bytes(comm)),
            ppid: AtomicI32::new(ppid),
            mm: Mutex::new(Some(mm)),
            task: Mutex::new(None),
            state: Mutex::new(ProcState::Running),
            child_exit: WaitQueue::new(),
            pending_kill: AtomicU32::new(0),
            is_init,
            report_at_exit: AtomicBool::new(MAPS_AT_EXIT.load(Ordering::Relaxed)),
        });
        PROCS.lock().insert(pid, p.clone());
        p
    }

    /// The name (Linux's comm: the program's file name, 15 bytes at most).
    pub fn comm(&self) -> alloc::string::String {
        let c = self.comm.lock();
        let n = c.iter().position(|&b| b == 0).unwrap_or(c.len());
        alloc::string::String::from_utf8_lossy(&c[..n]).into_owned()
    }

    /// The address space, while the process has one.
    pub fn mm(&self) -> Option<Arc<Mm>> {
        self.mm.lock().clone()
    }

    /// Whether a fatal signal is pending.
    pub fn fatal_signal_pending(&self) -> bool {
        self.pending_kill.load(Ordering::Acquire) != 0
    }
}

fn comm_bytes(name: &str) -> [u8; TASK_COMM_LEN] {
    let mut c = [0u8; TASK_COMM_LEN];
    let base = name.rsplit('/').next().unwrap_or(name).as_bytes();
    let n = base.len().min(TASK_COMM_LEN - 1);
    c[..n].copy_from_slice(&base[..n]);
    c
}

/// The process with `pid`, zombies included.
pub fn find_process(pid: Pid) -> Option<Arc<Process>> {
    PROCS.lock().get(&pid).cloned()
}

/// The current task's process (None in a kernel thread).
pub fn current_process() -> Option<Arc<Process>> {
    let owner = crate::sched::switch::with_current(|t| t.owner.load(Ordering::Relaxed))?;
    if owner == 0 {
        return None;
    }
    find_process(owner)
}

/// Every process, for reports and the OOM killer's choice.
pub fn all_processes() -> Vec<Arc<Process>> {
    PROCS.lock().values().cloned().collect()
}

/// The children of `ppid`.
pub fn children_of(ppid: Pid) -> Vec<Arc<Process>> {
    PROCS.lock().values().filter(|p| p.ppid.load(Ordering::Relaxed) == ppid).cloned().collect()
}

/// Remove a reaped process from the table.
pub fn unhash(pid: Pid) -> Option<Arc<Process>> {
    PROCS.lock().remove(&pid)
}
