//! The scheduler: kernel threads on per-CPU run queues, round robin, with
//! wait queues, timed sleeps, and FP/SIMD state per task (Linux's
//! kernel/sched/core.c, wait.c and idle.c, arm64's entry.S cpu_switch_to,
//! process.c __switch_to and fpsimd.c, scaled down).
//!
//! # Data structures
//!
//! ```text
//!   Task (task.rs, Arc)       tid/pid, comm[16], state, flags (NEED_RESCHED,
//!                             FP_USED, IDLE, KTHREAD), cpu, cpus_allowed,
//!                             on_rq, on_cpu, slice, wake_at, exit code,
//!                             kernel stack (vmalloc, guarded),
//!                             ThreadState { CpuContext, TPIDR(RO)_EL0, FpState }
//!
//!   RunQueue[cpu] (runqueue.rs, static array, one IRQ-safe lock each)
//!     queue     VecDeque<Arc<Task>>   runnable, round-robin order
//!     curr      the task on the CPU         idle   swapper/<cpu>
//!     sleepers  timed sleeps (deadline in counter ticks)
//!   CURRENT[cpu], LAST[cpu] (switch.rs)  current; the task being switched off
//! ```
//!
//! A task belongs to one CPU for its life: spawn places it (on the CPU
//! asked for, else the least loaded online CPU), and wake-ups put it back
//! on that CPU's queue, waking the CPU (`dsb ish; sev`, and the GIC's
//! reschedule IPI, which main.rs installs as the hook once the GIC is up). Only a CPU picks from its own
//! queue, so a task is never run on two CPUs at once and a task still
//! switching out cannot be picked elsewhere. There is no migration after
//! spawn (Linux's load balancer is out of scope).
//!
//! # States
//!
//! ```text
//!   spawn -> Runnable -(picked)-> Running -(yield, slice)-> Runnable
//!                                   | set asleep + schedule()
//!                                   v
//!            Runnable <-(wake_up, timer)- Interruptible/Uninterruptible
//!   Running -(exit)-> Zombie -(last Arc dropped, after it is off the CPU)-> freed
//! ```
//!
//! # The switch (schedule.rs, switch.rs)
//!
//! schedule() masks IRQs, takes its run queue's lock, ends due sleeps,
//! and picks the queue's head (the idle task if the queue is empty and the
//! current task cannot go on, or if an on_each_cpu call waits for the idle
//! task). The current task, if still Running, goes to the tail. Then, lock
//! dropped, IRQs still masked: `hooks::switch_mm_hook` (TTBR0/ASID for
//! user tasks, the reserved table for kernel threads), FP/SIMD (fpsimd.rs: eager save/restore, FP trapped for
//! tasks that never used it), TPIDR_EL0/TPIDRRO_EL0, the CPU area's stack
//! bounds (the oops code's), `current`, and `arch::context::cpu_switch_to`
//! (x19-x28, fp, sp, lr). The task switched in finishes the switch
//! (finish_task_switch): the task switched away from is off the CPU, and
//! its reference, possibly the last one of a dead task, is dropped once
//! IRQs are restored.
//!
//! # Lock order
//!
//! ```text
//!   WaitQueue lock   never held while any other scheduler lock is taken
//!   RunQueue lock    at most one at a time (own or a wake-up's target);
//!                    may take the heap's locks (queue growth) inside
//!   resched hook     IrqSpinLock of its own, taken alone
//! ```
//!
//! Every scheduler lock masks IRQs while held (irqlock.rs), since the tick
//! and wake-ups from interrupt handlers take them too.
//!
//! # Idle tasks and the boot flow
//!
//! Each CPU's idle task is the context that brought the CPU up: on the
//! boot CPU, kernel_main itself ("swapper/0": the self-tests, benches and
//! the exit run in it; it can sleep and be switched away from like any
//! task, and when it sleeps with nothing runnable, its schedule() is the
//! CPU's idle loop, waiting in `wfe`; when its sleep ends while another
//! task has the CPU, it is not queued (no idle task is), so the run
//! queue's `idle_woken` makes the tick end that task's slice and
//! schedule() switch to it first); on a secondary, the bring-up path,
//! whose loop (smp::call) serves on_each_cpu's mailbox as before and
//! calls schedule() when tasks are queued, else waits in `wfe`. An
//! on_each_cpu call kicks the idle task of each CPU ([`kick_idle`]): the
//! CPU's next schedule() switches to it first.
//!
//! # Preemption
//!
//! [`scheduler_tick`] (the timer interrupt's tick hook calls it at
//! [`clock::HZ`]) counts down the current task's slice of
//! [`task::SLICE_TICKS`] ticks and sets its NEED_RESCHED when the slice is
//! over and another task waits; [`need_resched`] tells, and the return-to-
//! EL0 path calls schedule(). There is no in-kernel preemption: a kernel
//! thread runs until it sleeps, yields or exits (Linux with
//! CONFIG_PREEMPT_NONE). Timed sleeps do not depend on the tick: deadlines
//! are counter values, checked whenever the CPU schedules or idles, and
//! every CPU with a scheduler turns on the generic timer's event stream
//! (10 kHz, as Linux does), so an idle CPU's `wfe` returns to look.
//!
//! # Differences from Linux
//!
//! Round robin only (no CFS/EEVDF, no priorities), no migration after
//! spawn, eager FP/SIMD switching, the per-CPU preemption count stays in
//! arch::percpu (schedule() asserts it is 0), tasks are Arcs rather than
//! RCU-freed task_structs.

#[allow(unsafe_code)] // the task's thread state cell; painting its stack
pub mod task;

pub mod clock;
#[allow(unsafe_code)] // the current task's FP/SIMD state, with IRQs masked
pub mod fpsimd;
pub mod hooks;
pub mod irqlock;
pub mod kthread;
pub mod runqueue;
pub mod schedule;
#[allow(unsafe_code)] // the register switch; raw Arc pointers of current and last
pub mod switch;
#[allow(unsafe_code)] // the first return to EL0
pub mod user;
pub mod wait;

// The scheduler's API (for kernel threads, processes, the tick); not every
// item has a caller outside this folder.
#[allow(unused_imports)]
pub use clock::{HZ, jiffies};
#[allow(unused_imports)]
pub use hooks::{set_resched_ipi_hook, switch_mm_hook};
pub use kthread::{exit, reap, spawn, wait_task_exit};
#[allow(unused_imports)]
pub use schedule::{
    current, idle_forever, init_idle, kick_idle, need_resched, resched_cpu, schedule, scheduler_tick, wake_up,
    yield_now,
};
#[allow(unused_imports)]
pub use switch::{try_current, with_current};
#[allow(unused_imports)]
pub use task::{Pid, Task, TaskFlags, TaskState};
pub use user::spawn_user;
pub use wait::{WaitQueue, msleep, sleep_until};
