//! A process's task: started on the least loaded CPU, its first return to
//! user space with the frame exec or fork built.

use super::pid::Process;
use crate::memory::user::mm::Mm;
use crate::sched;
use alloc::sync::Arc;
use arch::exception::TrapFrame;

/// Start `p`'s task: on its first run it enters EL0 with `frame`.
pub fn start_user_task(
    p: &Arc<Process>,
    mm: Arc<Mm>,
    frame: TrapFrame,
    from: Option<&sched::task::Task>,
) -> Result<(), mm::Error> {
    let task = sched::spawn_user(&p.comm(), p.pid, mm, frame, from)?;
    *p.task.lock() = Some(task);
    Ok(())
}
