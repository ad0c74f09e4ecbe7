//! User tasks: a task whose first switch-in returns to EL0 (Linux's
//! copy_thread for a user task, ret_from_fork into ret_to_user).
//!
//! The task is built as a kernel thread is, but its stack starts
//! `FRAME_SIZE` bytes below the top: that slot is where the first frame
//! goes for the `eret`, and where every later exception from EL0 saves
//! the task's registers. Its first run lands in [`user_entry`], which
//! finishes the switch as `task_entry` does, takes the frame, drops every
//! reference it holds and returns to user space; from then on the task is
//! in the kernel only through exceptions, until `process::entry` ends it
//! with `exit`.

use super::kthread::{NEXT_TID, enqueue_new, least_loaded_cpu};
use super::switch::{finish_task_switch, switch_flags, with_current};
use super::task::{Pid, Task};
use crate::memory::user::mm::Mm;
use alloc::sync::Arc;
use arch::exception::TrapFrame;
use arch::irqflags::{local_irq_disable, local_irq_restore};
use core::sync::atomic::Ordering;

/// Start a user task for process `owner`, on `mm`, entering EL0 with
/// `frame`, on the least loaded CPU (Linux's wake_up_new_task after
/// select_task_rq). With `from` (the current task, forking), the new task
/// inherits its thread registers and FP/SIMD state.
pub fn spawn_user(
    name: &str,
    owner: Pid,
    mm: Arc<Mm>,
    frame: TrapFrame,
    from: Option<&Task>,
) -> Result<Arc<Task>, mm::Error> {
    let cpu = least_loaded_cpu(u64::MAX).ok_or(mm::Error::InvalidArgument)?;
    let nid = crate::memory::page_alloc::allocator().numa_mem_id(cpu).0;
    let tid: Pid = NEXT_TID.fetch_add(1, Ordering::Relaxed);
    let task = Task::new_user(tid, name, cpu, nid, frame, user_entry)?;
    task.cpus_allowed.store(1 << cpu, Ordering::Relaxed);
    task.owner.store(owner, Ordering::Relaxed);
    task.set_mm(Some(mm));
    if let Some(from) = from {
        task.inherit_thread(from);
    }
    let task = Arc::new(task);
    enqueue_new(&task, cpu);
    Ok(task)
}

/// A user task's first instructions after its first switch-in.
extern "C" fn user_entry(_arg: u64) -> ! {
    let flags = switch_flags();
    let last = finish_task_switch();
    local_irq_restore(flags);
    drop(last);
    let Some((frame, top)) = with_current(|t| t.user_frame.lock().take().map(|f| (f, t.stack_hi))).flatten() else {
        panic!("a user task started without its first frame");
    };
    // ELR_EL1 and SPSR_EL1 must not be overwritten by an IRQ between their
    // writes and the eret.
    local_irq_disable();
    // SAFETY: `top` is this task's stack top; Task::new_user started the
    // task FRAME_SIZE below it, so the slot is free and `frame` (a local
    // here, below the slot) is not in it; nothing on this stack is needed
    // again: the only reference taken above (`last`) is dropped. The frame
    // was built for EL0t (exec's or fork's), and the switch that brought
    // this task here loaded its mm into TTBR0 (hooks::switch_mm_hook).
    unsafe { arch::exception::ret_to_user(&frame, top) }
}
