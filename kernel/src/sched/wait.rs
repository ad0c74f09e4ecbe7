//! Sleeping: wait queues and timed sleeps (Linux's kernel/sched/wait.c,
//! wait_event, and schedule_timeout/msleep).
//!
//! A [`WaitQueue`] is a list of tasks under an IRQ-safe lock. The
//! wait_event pattern, which cannot lose a wake-up:
//!
//! ```text
//!   sleeper                                waker
//!   lock; add self; state := asleep;       condition := true
//!   unlock                                 (fence: wake_up)
//!   condition? -> done (remove self)       lock; take every waiter; unlock
//!   schedule()                             wake_up(each)
//! ```
//!
//! The sleeper's state store is ordered before its condition load
//! (SeqCst), the waker's condition store before its state load
//! (`wake_up`'s fence): either the sleeper sees the condition, or the
//! waker sees the sleeping state and makes it runnable (if it has not yet
//! left the CPU, `wake_up` just sets it Running and its schedule() keeps
//! it). Locks: a wait queue's lock is never held while a run queue's is
//! taken ([`WaitQueue::wake_up_all`] takes the waiters out first).
//!
//! A timed sleep puts the task on its CPU's run-queue sleeper list with a
//! deadline in counter ticks; schedule(), the idle loops and the tick move
//! due sleepers back to the queue.

use super::clock;
use super::irqlock::IrqSpinLock;
use super::runqueue::cpu_rq;
use super::schedule::{current, schedule, wake_up};
use super::task::{Task, TaskState};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

/// Tasks waiting for something (Linux's wait_queue_head).
pub struct WaitQueue {
    waiters: IrqSpinLock<Vec<Arc<Task>>>,
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl WaitQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        WaitQueue { waiters: IrqSpinLock::new(Vec::new()) }
    }

    /// Put the current task on the queue, asleep (Linux's prepare_to_wait).
    fn prepare_to_wait(&self, me: &Arc<Task>, state: TaskState) {
        let mut w = self.waiters.lock();
        if !w.iter().any(|t| Arc::ptr_eq(t, me)) {
            w.push(me.clone());
        }
        me.set_state(state);
    }

    /// Take the current task off the queue, Running (Linux's finish_wait).
    fn finish_wait(&self, me: &Arc<Task>) {
        me.set_state(TaskState::Running);
        let mut w = self.waiters.lock();
        if let Some(i) = w.iter().position(|t| Arc::ptr_eq(t, me)) {
            w.swap_remove(i);
        }
    }

    /// Sleep until `cond()` holds (Linux's wait_event, uninterruptible).
    /// `cond` is checked after every wake-up; it runs without the lock.
    pub fn wait_event(&self, cond: impl Fn() -> bool) {
        if cond() {
            return;
        }
        let me = current();
        loop {
            self.prepare_to_wait(&me, TaskState::Uninterruptible);
            if cond() {
                break;
            }
            schedule();
        }
        self.finish_wait(&me);
    }

    /// Wake every waiter (Linux's wake_up_all); how many were asleep.
    pub fn wake_up_all(&self) -> usize {
        let woken = core::mem::take(&mut *self.waiters.lock());
        woken.iter().filter(|t| wake_up(t)).count()
    }

    /// Whether no task waits.
    pub fn is_empty(&self) -> bool {
        self.waiters.lock().is_empty()
    }
}

/// Sleep until the counter reaches `deadline` (uninterruptible).
fn sleep_until_counter(deadline: u64) {
    let me = current();
    let rq = cpu_rq(me.cpu());
    while clock::now() < deadline {
        {
            let mut q = rq.lock();
            me.wake_at.store(deadline, Ordering::Relaxed);
            me.set_state(TaskState::Uninterruptible);
            if !q.sleepers.iter().any(|t| Arc::ptr_eq(t, &me)) {
                q.sleepers.push(me.clone());
            }
        }
        schedule();
        let mut q = rq.lock();
        if let Some(i) = q.sleepers.iter().position(|t| Arc::ptr_eq(t, &me)) {
            q.sleepers.swap_remove(i);
        }
        me.set_state(TaskState::Running);
    }
    me.wake_at.store(0, Ordering::Relaxed);
}

/// Sleep until jiffy `j` (Linux's schedule_timeout_uninterruptible to an
/// absolute time). Without a counter frequency, one yield.
pub fn sleep_until(j: u64) {
    match clock::jiffies_to_counter(j) {
        Some(d) => sleep_until_counter(d),
        None => schedule(),
    }
}

/// Sleep at least `ms` milliseconds (Linux's msleep; finer than a jiffy
/// here, since deadlines are counter values).
pub fn msleep(ms: u64) {
    match clock::msecs_to_counter(ms) {
        Some(d) => sleep_until_counter(clock::now().saturating_add(d)),
        None => schedule(),
    }
}
