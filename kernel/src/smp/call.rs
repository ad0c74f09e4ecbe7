//! Running a function on every online CPU (Linux's on_each_cpu with
//! wait = true), and the secondaries' idle loop that serves it.
//!
//! Each CPU has a mailbox holding at most one `fn(usize)`. [`on_each_cpu`]
//! posts the function in every other online CPU's mailbox, wakes them
//! (`dsb ish; sev`), runs it locally, and waits until all have run it. A
//! secondary takes its mail, runs it with its CPU number, counts itself
//! done, and otherwise waits in `wfe`. A post between a secondary's look at
//! its mailbox and its `wfe` leaves the event register set, so no wake-up
//! is lost. With the scheduler, that loop is the CPU's idle task
//! (swapper/N): it also runs schedule() while tasks are queued, and
//! on_each_cpu kicks it (`sched::kick_idle`) so that a CPU busy with tasks
//! switches to its idle task at its next schedule() to serve the call.
//! Debug builds check that the work leaves the CPU's preemption
//! count (arch::percpu) at 0: every get_cpu was put. Calls do not nest and come from one CPU at a time (the boot
//! CPU, which runs the self-tests).

use super::cpumask::cpu_online;
use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicUsize, Ordering};
use spin::Mutex;

/// What a CPU's mailbox holds: the function to run, if any.
type Mail = Mutex<Option<fn(usize)>>;

/// Work posted to each CPU.
static MAILBOX: [Mail; NR_CPUS] = [const { Mutex::new(None) }; NR_CPUS];
/// CPUs that finished the current `on_each_cpu` call.
static DONE: AtomicUsize = AtomicUsize::new(0);

/// Run `f(cpu)` on every online CPU, this one included, and wait for all.
pub fn on_each_cpu(f: fn(usize)) {
    let me = arch::percpu::smp_processor_id();
    DONE.store(0, Ordering::Release);
    let mut posted = 0;
    for (cpu, mailbox) in MAILBOX.iter().enumerate() {
        if cpu != me && cpu_online(cpu) {
            *mailbox.lock() = Some(f);
            posted += 1;
            crate::sched::kick_idle(cpu);
        }
    }
    arch::cpu::send_event();
    f(me);
    debug_assert_eq!(
        arch::percpu::preempt_count(),
        0,
        "on_each_cpu work left CPU{me} pinned (get_cpu without put_cpu)"
    );
    while DONE.load(Ordering::Acquire) < posted {
        core::hint::spin_loop();
    }
}

/// A secondary's life once online, as its idle task: serve its mailbox,
/// run queued tasks, wait.
pub(super) fn serve_mailbox(cpu: usize) -> ! {
    loop {
        let _ = crate::sched::schedule::take_idle_kick(cpu);
        let work = MAILBOX[cpu].lock().take();
        match work {
            Some(f) => {
                f(cpu);
                debug_assert_eq!(
                    arch::percpu::preempt_count(),
                    0,
                    "on_each_cpu work left CPU{cpu} pinned (get_cpu without put_cpu)"
                );
                DONE.fetch_add(1, Ordering::AcqRel);
            }
            None if crate::sched::schedule::sched_up(cpu) && crate::sched::schedule::idle_has_work(cpu) => {
                crate::sched::schedule()
            }
            None => crate::sched::schedule::idle_wait(cpu),
        }
    }
}
