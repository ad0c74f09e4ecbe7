//! Kernel threads: creation, exit and reaping (Linux's kernel/kthread.c,
//! the kernel-thread half of kernel/fork.c and kernel/exit.c).
//!
//! [`spawn`] builds a task with its own vmalloc'd stack, whose first
//! switch-in lands in `task_entry` (through arch's `__ret_from_fork`),
//! and queues it on the CPU asked for or the least loaded one. [`exit`]
//! makes the current task a Zombie with its code and wakes
//! [`TASK_EXIT_WAIT`] (one queue for every exit, as Linux's parents wait
//! on their own wait_chldexit: the waiters re-check their task); the task
//! is freed with its stack when the last reference goes, never before it
//! is off its CPU (the switch path holds a reference until then).
//! [`reap`] waits for both and drops the reference.

use super::runqueue::cpu_rq;
use super::schedule::{current, resched_cpu, sched_up, schedule};
use super::switch::{finish_task_switch, switch_flags, with_current};
use super::task::{Entry, Pid, Task, TaskState};
use super::wait::WaitQueue;
use crate::smp::cpumask::cpu_online;
use alloc::sync::Arc;
use arch::irqflags::local_irq_restore;
use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// The next tid (0 is the idle tasks').
pub(super) static NEXT_TID: AtomicI32 = AtomicI32::new(1);
/// Spread ties between equally loaded CPUs.
static SPAWN_ROTOR: AtomicUsize = AtomicUsize::new(0);
/// Woken at every task exit.
pub static TASK_EXIT_WAIT: WaitQueue = WaitQueue::new();

/// The CPU with the fewest tasks that `allowed` permits (round robin among
/// ties), Linux's select_task_rq at fork, reduced to a count.
pub(super) fn least_loaded_cpu(allowed: u64) -> Option<usize> {
    let start = SPAWN_ROTOR.fetch_add(1, Ordering::Relaxed);
    let mut best: Option<(usize, usize)> = None;
    for i in 0..NR_CPUS {
        let cpu = (start + i) % NR_CPUS;
        if allowed & (1 << cpu) == 0 || !cpu_online(cpu) || !sched_up(cpu) {
            continue;
        }
        let load = cpu_rq(cpu).nr_running.load(Ordering::Relaxed);
        if best.is_none_or(|(_, l)| load < l) {
            best = Some((cpu, load));
        }
    }
    best.map(|(c, _)| c)
}

/// Start a kernel thread named `name` running `entry` (Linux's
/// kthread_run): on `cpu` if given (it stays there), else on the least
/// loaded online CPU. The thread exits with code 0 when `entry` returns,
/// or with [`exit`]'s code.
///
/// Errors: `InvalidArgument` for a CPU that is not online or has no
/// scheduler, `NoMemory` when no stack or task can be allocated.
pub fn spawn(name: &str, cpu: Option<usize>, entry: Entry) -> Result<Arc<Task>, mm::Error> {
    let cpu = match cpu {
        Some(c) if c < NR_CPUS && cpu_online(c) && sched_up(c) => c,
        Some(_) => return Err(mm::Error::InvalidArgument),
        None => least_loaded_cpu(u64::MAX).ok_or(mm::Error::InvalidArgument)?,
    };
    let nid = crate::memory::page_alloc::allocator().numa_mem_id(cpu).0;
    let tid: Pid = NEXT_TID.fetch_add(1, Ordering::Relaxed);
    let task = Task::new_kthread(tid, name, cpu, nid, entry, task_entry)?;
    task.cpus_allowed.store(1 << cpu, Ordering::Relaxed);
    let task = Arc::new(task);
    task.set_start_arg(Arc::as_ptr(&task) as u64);
    enqueue_new(&task, cpu);
    Ok(task)
}

/// Put a task that never ran on `cpu`'s queue and have that CPU look
/// (Linux's wake_up_new_task).
pub(super) fn enqueue_new(task: &Arc<Task>, cpu: usize) {
    let rq = cpu_rq(cpu);
    {
        let mut q = rq.lock();
        task.on_rq.store(true, Ordering::Relaxed);
        q.queue.push_back(task.clone());
        rq.nr_running.fetch_add(1, Ordering::Relaxed);
    }
    resched_cpu(cpu);
}

/// Where a new task begins (after `__ret_from_fork`): finish the switch
/// that brought it here, take on the IRQ state of the schedule() that
/// switched, run the entry, exit.
extern "C" fn task_entry(_task: u64) -> ! {
    let flags = switch_flags();
    let last = finish_task_switch();
    local_irq_restore(flags);
    drop(last);
    let entry = with_current(|t| t.entry.lock().take()).flatten();
    if let Some(f) = entry {
        f();
    }
    exit(0)
}

/// End the current task with `code` (Linux's do_exit for a kernel
/// thread): it becomes a Zombie, whoever waits for it is woken, and it
/// never runs again; its stack is freed once the last reference goes.
pub fn exit(code: i32) -> ! {
    {
        let me = current();
        assert!(!me.is_idle(), "the idle task of CPU{} tried to exit", me.cpu());
        me.set_exit_code(code);
        me.set_state(TaskState::Zombie);
        TASK_EXIT_WAIT.wake_up_all();
        // `me` is dropped here: nothing on this stack may keep a reference.
    }
    loop {
        schedule();
    }
}

/// Wait for `task` to exit and then for it to leave its CPU; its exit
/// code. The caller's reference is then the last one but for the other
/// holders it knows of, so dropping it frees the task's stack (the
/// reaping half of Linux's wait4 / kthread_stop).
pub fn wait_task_exit(task: &Arc<Task>) -> i32 {
    TASK_EXIT_WAIT.wait_event(|| task.state() == TaskState::Zombie);
    while task.on_cpu() {
        schedule();
        core::hint::spin_loop();
    }
    task.exit_code()
}

/// Wait for `task` to exit and reap it: when this returns its stack and
/// struct are freed (the caller held the only other reference). Its exit
/// code.
pub fn reap(task: Arc<Task>) -> i32 {
    let code = wait_task_exit(&task);
    while Arc::strong_count(&task) > 1 {
        schedule();
        core::hint::spin_loop();
    }
    drop(task);
    code
}
