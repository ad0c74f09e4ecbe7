//! Per-CPU run queues (Linux's struct rq, with the round-robin class only).
//!
//! One queue per possible CPU, in a static array indexed by the CPU
//! number: each CPU picks only from its own, so the per-CPU variable
//! machinery would add nothing but an offset. Each queue has its own
//! [`IrqSpinLock`]; a CPU takes another's lock only to enqueue a task
//! there (spawn, wake-up), never two at once.

use super::irqlock::{IrqSpinLock, IrqSpinLockGuard};
use super::task::Task;
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// What a run queue's lock protects.
pub struct RqInner {
    /// Runnable tasks, in the order they will run.
    pub queue: VecDeque<Arc<Task>>,
    /// The task on the CPU now.
    pub curr: Option<Arc<Task>>,
    /// The CPU's idle task ("swapper/N").
    pub idle: Option<Arc<Task>>,
    /// Tasks in a timed sleep, each with its `wake_at`.
    pub sleepers: Vec<Arc<Task>>,
    /// The idle task was woken while another task had the CPU (the boot
    /// CPU's kernel_main, whose sleep ended under a user task): it is
    /// never queued, so schedule() switches to it first, as it does for
    /// a kick, and the tick counts it as waiting.
    pub idle_woken: bool,
}

/// One CPU's run queue.
pub struct RunQueue {
    inner: IrqSpinLock<RqInner>,
    /// Tasks that belong here and are not asleep or dead, the idle task
    /// not counted (Linux's nr_running): for load balancing at spawn.
    pub nr_running: AtomicUsize,
    /// Context switches on this CPU.
    pub nr_switches: AtomicU64,
    /// The idle task has work outside the scheduler (an on_each_cpu call
    /// posted): schedule() switches to it first.
    pub idle_kick: AtomicBool,
}

impl RunQueue {
    const fn new() -> Self {
        RunQueue {
            inner: IrqSpinLock::new(RqInner {
                queue: VecDeque::new(),
                curr: None,
                idle: None,
                sleepers: Vec::new(),
                idle_woken: false,
            }),
            nr_running: AtomicUsize::new(0),
            nr_switches: AtomicU64::new(0),
            idle_kick: AtomicBool::new(false),
        }
    }

    /// Take the lock (IRQs masked while it is held).
    pub fn lock(&self) -> IrqSpinLockGuard<'_, RqInner> {
        self.inner.lock()
    }
}

static RQS: [RunQueue; NR_CPUS] = [const { RunQueue::new() }; NR_CPUS];

/// CPU `cpu`'s run queue (Linux's cpu_rq).
pub fn cpu_rq(cpu: usize) -> &'static RunQueue {
    &RQS[cpu]
}

impl RqInner {
    /// Move every sleeper whose time has come (`wake_at <= now`, counter
    /// ticks) to the queue; how many.
    pub fn expire_sleepers(&mut self, now: u64, rq: &RunQueue) -> usize {
        let mut n = 0;
        let mut i = 0;
        while i < self.sleepers.len() {
            let t = &self.sleepers[i];
            if t.wake_at.load(Ordering::Relaxed) <= now {
                let t = self.sleepers.swap_remove(i);
                if self.activate(&t, rq) {
                    n += 1;
                }
            } else {
                i += 1;
            }
        }
        n
    }

    /// Wake `t` (a task of this queue) if it sleeps: Running again if it
    /// has not left its CPU yet, else Runnable at the queue's tail
    /// (Linux's ttwu_runnable / ttwu_do_activate). Whether it slept.
    pub fn activate(&mut self, t: &Arc<Task>, rq: &RunQueue) -> bool {
        use super::task::TaskState;
        if !t.state().is_sleeping() {
            return false;
        }
        if let Some(i) = self.sleepers.iter().position(|s| Arc::ptr_eq(s, t)) {
            self.sleepers.swap_remove(i);
        }
        if t.on_rq.load(Ordering::Relaxed) {
            // Still current: it set itself asleep but has not scheduled;
            // or the idle task (always on_rq), which may be off the CPU.
            t.set_state(TaskState::Running);
            if t.is_idle() && !self.curr.as_ref().is_some_and(|c| Arc::ptr_eq(c, t)) {
                self.idle_woken = true;
            }
        } else {
            t.set_state(TaskState::Runnable);
            t.on_rq.store(true, Ordering::Relaxed);
            self.queue.push_back(t.clone());
            rq.nr_running.fetch_add(1, Ordering::Relaxed);
        }
        true
    }
}
