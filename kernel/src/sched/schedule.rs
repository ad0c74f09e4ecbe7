//! The scheduler proper: schedule, wake-up, the tick and the idle tasks
//! (Linux's kernel/sched/core.c and idle.c, round robin only).

use super::clock;
use super::hooks::kick_cpu;
use super::runqueue::cpu_rq;
use super::switch::{context_switch, finish_task_switch, set_current, try_current, with_current};
use super::task::{SLICE_TICKS, Task, TaskFlags, TaskState};
use alloc::sync::Arc;
use arch::irqflags::{local_irq_restore, local_irq_save};
use arch::percpu::{NR_CPUS, smp_processor_id};
use core::sync::atomic::{AtomicBool, Ordering, fence};

/// Whether CPU n has an idle task (the scheduler is up there).
static SCHED_UP: [AtomicBool; NR_CPUS] = [const { AtomicBool::new(false) }; NR_CPUS];

/// Whether the scheduler runs on CPU `cpu`.
pub fn sched_up(cpu: usize) -> bool {
    cpu < NR_CPUS && SCHED_UP[cpu].load(Ordering::Acquire)
}

/// Make the context running now on this CPU its idle task (Linux's
/// init_idle + sched_init for the boot CPU): the boot CPU's kernel_main,
/// a secondary's bring-up path. `[lo, hi)` is the stack it runs on.
pub fn init_idle(cpu: usize, lo: u64, hi: u64) -> Result<(), mm::Error> {
    let idle = Arc::new(Task::new_idle(cpu, lo, hi));
    let rq = cpu_rq(cpu);
    {
        let mut q = rq.lock();
        // Room for a few tasks up front: a wake-up from an interrupt then
        // rarely allocates.
        q.queue.reserve(8);
        q.sleepers.reserve(8);
        q.curr = Some(idle.clone());
        q.idle = Some(idle.clone());
        set_current(cpu, &idle);
    }
    // Idle CPUs wait in `wfe`: let them wake for due sleeps without a tick.
    arch::timer::enable_event_stream();
    SCHED_UP[cpu].store(true, Ordering::Release);
    Ok(())
}

/// Ask CPU `cpu` to reschedule soon: its current task's NEED_RESCHED, and
/// a wake-up (event, IPI hook) when it is another CPU.
pub fn resched_cpu(cpu: usize) {
    {
        let q = cpu_rq(cpu).lock();
        if let Some(c) = &q.curr {
            c.set_flags(TaskFlags::NEED_RESCHED);
        }
    }
    if cpu != smp_processor_id() {
        kick_cpu(cpu);
    }
}

/// Whether the current task should call schedule() (Linux's
/// need_resched): `process::entry` checks it on every return to EL0.
pub fn need_resched() -> bool {
    with_current(|t| t.flags().contains(TaskFlags::NEED_RESCHED)).unwrap_or(false)
}

/// The current task (Linux's `current`). Panics before the scheduler is up
/// on this CPU.
pub fn current() -> Arc<Task> {
    try_current().expect("current() before sched::init_idle on this CPU")
}

/// Give the CPU to the next runnable task of this CPU, if any (Linux's
/// sched_yield): the caller goes to the tail of the queue.
pub fn yield_now() {
    schedule();
}

/// Pick the next task and switch to it (Linux's __schedule). The current
/// task stays on the CPU if it is Running and nothing else is runnable;
/// if it set itself asleep (or exited), it leaves the queue and the next
/// runnable task, or the idle task, runs. The idle task, when it is itself
/// asleep (the boot CPU's, which is kernel_main), waits here for work.
///
/// Not from interrupt context, and not with a preemption count raised
/// (debug builds assert it: "scheduling while atomic").
pub fn schedule() {
    debug_assert_eq!(arch::percpu::preempt_count(), 0, "scheduling while atomic");
    let flags = local_irq_save();
    let cpu = smp_processor_id();
    let rq = cpu_rq(cpu);
    loop {
        let mut q = rq.lock();
        q.expire_sleepers(clock::now(), rq);
        let prev = q.curr.clone().expect("schedule() before sched::init_idle on this CPU");
        prev.clear_flags(TaskFlags::NEED_RESCHED);
        let prev_state = prev.state();
        let prev_runs = prev_state == TaskState::Running;
        let kicked = rq.idle_kick.load(Ordering::Acquire);
        if prev.is_idle() && prev_runs && kicked {
            // Back to the idle loop: it has an on_each_cpu call to serve.
            break;
        }
        let idle_first = !prev.is_idle() && (kicked || q.idle_woken);
        if prev.is_idle() || idle_first {
            q.idle_woken = false;
        }
        let next = if idle_first { q.idle.clone() } else { q.queue.pop_front() };
        let next = match next {
            Some(n) => n,
            None if prev_runs => break,
            None if !prev.is_idle() => q.idle.clone().expect("every CPU with a scheduler has an idle task"),
            None => {
                // The idle task itself waits (kernel_main asleep on the
                // boot CPU): nothing to run until a wake-up or a timer.
                drop(q);
                local_irq_restore(flags);
                idle_wait(cpu);
                let f = local_irq_save();
                debug_assert_eq!(f, flags);
                continue;
            }
        };
        if Arc::ptr_eq(&next, &prev) {
            // The idle task woken while it waited here: it was queued.
            prev.set_state(TaskState::Running);
            break;
        }
        if prev_runs && !prev.is_idle() {
            prev.set_state(TaskState::Runnable);
            q.queue.push_back(prev.clone());
        } else if prev_runs && prev.is_idle() && cpu == 0 {
            // kernel_main gives the CPU to a queued task while it can run:
            // its sleep ended on the way here (the expiry above, or a tick
            // between its going to sleep and this call), or it yields. It
            // is never queued, so without this it would wait for the next
            // wake-up that never comes while a CPU-bound task keeps the
            // CPU: the tick brings it back after the task's slice.
            q.idle_woken = true;
        } else if !prev_runs && !prev.is_idle() {
            prev.on_rq.store(false, Ordering::Relaxed);
            rq.nr_running.fetch_sub(1, Ordering::Relaxed);
        }
        if next.state() == TaskState::Runnable {
            next.set_state(TaskState::Running);
        }
        next.slice.store(SLICE_TICKS, Ordering::Relaxed);
        let prev_ref = q.curr.replace(next.clone()).expect("curr was set");
        rq.nr_switches.fetch_add(1, Ordering::Relaxed);
        drop(q);
        drop(prev);
        context_switch(prev_ref, next, flags);
        // Back on this task, later: finish what the switch here began.
        let last = finish_task_switch();
        local_irq_restore(flags);
        drop(last);
        let me_runs = with_current(|t| t.state() == TaskState::Running).unwrap_or(true);
        if me_runs {
            return;
        }
        // Only the idle task is ever switched to while asleep: wait on.
        let _ = local_irq_save();
    }
    local_irq_restore(flags);
}

/// Wake `task` if it sleeps (Linux's wake_up_process / try_to_wake_up):
/// it goes back on its CPU's queue, and that CPU is asked to reschedule.
/// Callable from any CPU and from interrupt context. Whether it slept.
pub fn wake_up(task: &Arc<Task>) -> bool {
    // Order the waker's earlier stores (the condition the task waits for)
    // before its look at the task's state (Linux's smp_mb__after_spinlock
    // in try_to_wake_up).
    fence(Ordering::SeqCst);
    let cpu = task.cpu();
    let rq = cpu_rq(cpu);
    let woke = rq.lock().activate(task, rq);
    if woke {
        resched_cpu(cpu);
    }
    woke
}

/// The timer tick on this CPU (Linux's scheduler_tick), at HZ from the
/// timer interrupt with IRQs masked: ends timed sleeps that are due and
/// uses up the current task's slice, asking for a reschedule when it is
/// gone or when the idle task runs while something is runnable.
pub fn scheduler_tick() {
    let cpu = smp_processor_id();
    if !sched_up(cpu) {
        return;
    }
    let rq = cpu_rq(cpu);
    let mut q = rq.lock();
    q.expire_sleepers(clock::now(), rq);
    let waiting = !q.queue.is_empty() || q.idle_woken;
    if let Some(c) = &q.curr {
        if c.is_idle() {
            if waiting {
                c.set_flags(TaskFlags::NEED_RESCHED);
            }
        } else {
            let left = c.slice.load(Ordering::Relaxed).saturating_sub(1);
            c.slice.store(left, Ordering::Relaxed);
            if left == 0 {
                c.slice.store(SLICE_TICKS, Ordering::Relaxed);
                if waiting {
                    c.set_flags(TaskFlags::NEED_RESCHED);
                }
            }
        }
    }
}

/// For an idle loop: end the due sleeps of this CPU; whether a task is
/// waiting to run.
pub fn idle_has_work(cpu: usize) -> bool {
    let rq = cpu_rq(cpu);
    let mut q = rq.lock();
    q.expire_sleepers(clock::now(), rq);
    !q.queue.is_empty()
}

/// Make CPU `cpu`'s idle task run soon for work outside the scheduler (an
/// on_each_cpu call): schedule() there switches to it first.
pub fn kick_idle(cpu: usize) {
    if !sched_up(cpu) {
        return;
    }
    cpu_rq(cpu).idle_kick.store(true, Ordering::Release);
    resched_cpu(cpu);
}

/// The idle task's acknowledgement of a [`kick_idle`]: whether it was
/// kicked. Call before looking for the work.
pub fn take_idle_kick(cpu: usize) -> bool {
    cpu_rq(cpu).idle_kick.swap(false, Ordering::AcqRel)
}

/// Context switches CPU `cpu` has made.
pub fn nr_switches(cpu: usize) -> u64 {
    cpu_rq(cpu).nr_switches.load(Ordering::Relaxed)
}

/// The boot CPU's idle loop, once kernel_main has nothing left to do but
/// let tasks run (Linux's cpu_startup_entry after rest_init): run what is
/// queued, else wait for an interrupt or an event.
pub fn idle_forever() -> ! {
    let cpu = arch::percpu::smp_processor_id();
    loop {
        let _ = take_idle_kick(cpu);
        if idle_has_work(cpu) {
            schedule();
        } else {
            idle_wait(cpu);
        }
    }
}

/// How an idle CPU waits (Linux's cpu_do_idle): `wfi` once this CPU's tick
/// runs, so the CPU really stops until an interrupt (the tick, an IPI: every
/// wake-up of another CPU sends one, `hooks::kick_cpu`); `wfe` before that,
/// woken by the `sev` of a wake-up or the timer's event stream. (Under QEMU
/// a `wfe` only yields the vCPU, which keeps spinning; `wfi` halts it.)
pub fn idle_wait(cpu: usize) {
    if crate::irq::timer::is_running() && crate::irq::timer::tick_count(cpu) > 0 {
        arch::irqflags::wait_for_interrupt();
    } else {
        arch::cpu::wait_for_event();
    }
}
