//! A process's task from its first return to user space to its exit: the
//! EL0 trap handler, the return-to-user work (signals, rescheduling),
//! user faults and their reports, do_exit, wait4 and kill.
//!
//! ```text
//!   exception from EL0 -> arch's vector saves the frame at the top of the
//!   task's kernel stack -> el0_trap:
//!     SVC        syscall::dispatch (IRQs on while it runs, as Linux)
//!     DABT/IABT  do_mem_abort -> memory::user::fault; a bad access sets
//!                SIGSEGV (report printed), no memory runs the OOM killer
//!     FP/SIMD    the task's first use: sched::fpsimd::first_use
//!     IRQ        the interrupt controller's handler (the tick: need_resched)
//!     others     SIGILL / SIGBUS / SIGTRAP, as Linux's el0_* handlers
//!   exit_to_user_mode: a fatal signal or an exit request -> do_exit; a
//!     reschedule request -> schedule(); then eret with the frame
//! ```
//!
//! do_exit runs only from exit_to_user_mode, where nothing above it on the
//! kernel stack holds a reference (an `Arc` held across the switch away
//! for the last time would never be dropped): system calls and faults
//! that end the task only record why.

use super::pid::{self, ProcState, Process, SIGBUS, SIGILL, SIGKILL, SIGSEGV};
use crate::memory::user::fault::{FaultResult, SegvCode, fault_kind, handle_user_fault};
use crate::memory::user::mm::Mm;
use crate::sched;
use crate::{pr_info, pr_warn};
use alloc::sync::Arc;
use arch::exception::{TrapFrame, Vector, esr_ec};
use core::sync::atomic::Ordering;

/// How a task's life ends (recorded, acted on at exit_to_user_mode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReason {
    /// exit / exit_group with this code (its low 8 bits are the status).
    Code(i32),
    /// A fatal signal.
    Signal(u32),
}

impl ExitReason {
    /// Linux's wait status: code << 8, or the signal.
    pub fn wstatus(self) -> i32 {
        match self {
            ExitReason::Code(c) => (c & 0xff) << 8,
            ExitReason::Signal(s) => (s & 0x7f) as i32,
        }
    }
}

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

/// The kernel's handler for every exception taken from EL0.
pub fn el0_trap(frame: &mut TrapFrame, vector: Vector) {
    match vector.index() {
        8 => el0_sync(frame),
        9 => crate::irq::handle_irq(frame, vector),
        10 => {}
        11 => force_sig(SIGBUS),
        _ => force_sig(SIGILL),
    }
    exit_to_user_mode(frame);
}

fn el0_sync(frame: &mut TrapFrame) {
    const SVC64: u64 = 0x15;
    const IABT_LOW: u64 = 0x20;
    const DABT_LOW: u64 = 0x24;
    const FP_ASIMD: u64 = 0x07;
    const WFX: u64 = 0x01;
    const PC_ALIGN: u64 = 0x22;
    const SP_ALIGN: u64 = 0x26;
    const BRK64: u64 = 0x3c;
    match esr_ec(frame.esr) {
        SVC64 => {
            arch::irqflags::local_irq_enable();
            super::syscall::dispatch(frame);
            arch::irqflags::local_irq_disable();
        }
        DABT_LOW => do_mem_abort(frame, false),
        IABT_LOW => do_mem_abort(frame, true),
        FP_ASIMD => sched::with_current(sched::fpsimd::first_use).unwrap_or(()),
        WFX => {
            // WFI at EL0 traps (nTWI clear, as Linux leaves it): a no-op
            // that gives the CPU away.
            frame.elr += 4;
            sched::yield_now();
        }
        PC_ALIGN | SP_ALIGN => {
            report_unhandled(frame, "alignment fault", SIGBUS);
            force_sig(SIGBUS);
        }
        BRK64 => force_sig(5),
        _ => {
            report_unhandled(frame, "undefined instruction", SIGILL);
            force_sig(SIGILL);
        }
    }
}

/// A data or instruction abort from EL0 (Linux's do_mem_abort through the
/// fault_info table).
fn do_mem_abort(frame: &mut TrapFrame, instruction: bool) {
    let fsc = frame.esr & 0x3f;
    match fsc {
        // Translation, access flag and permission faults: the mm's business.
        0x04..=0x07 | 0x09..=0x0b | 0x0d..=0x0f => {}
        0x21 => {
            report_unhandled(frame, "alignment fault", SIGBUS);
            return force_sig(SIGBUS);
        }
        0x10 | 0x14..=0x17 => {
            report_unhandled(frame, "synchronous external abort", SIGBUS);
            return force_sig(SIGBUS);
        }
        _ => {
            report_unhandled(frame, arch::exception::fsc_name(fsc), SIGSEGV);
            return force_sig(SIGSEGV);
        }
    }
    arch::irqflags::local_irq_enable();
    let result = user_fault(frame.far, fault_kind(frame.esr, instruction));
    arch::irqflags::local_irq_disable();
    match result {
        FaultResult::Handled => {}
        FaultResult::Segv(_) => {
            report_unhandled(frame, "page fault", SIGSEGV);
            force_sig(SIGSEGV);
        }
        FaultResult::Oom => {}
    }
}

/// Resolve a fault at `addr` in the current process's mm; out of memory
/// runs the OOM killer and retries once the victim is gone (or returns the
/// OOM result if the victim is this task: its SIGKILL is pending).
pub fn user_fault(addr: u64, kind: mm::mmap::fault::FaultKind) -> FaultResult {
    let Some(mm) = sched::with_current(|t| t.mm()).flatten() else {
        return FaultResult::Segv(SegvCode::MapErr);
    };
    loop {
        match handle_user_fault(&mm, addr, kind) {
            FaultResult::Oom => {
                if !super::oom::out_of_memory() || fatal_signal_pending() {
                    return FaultResult::Oom;
                }
            }
            r => return r,
        }
    }
}

/// Print Linux's line for a user task killed by a fault.
fn report_unhandled(frame: &TrapFrame, what: &str, sig: u32) {
    let (comm, pid) = match pid::current_process() {
        Some(p) => (p.comm(), p.pid),
        None => (alloc::string::String::from("?"), 0),
    };
    pr_info!("{comm}[{pid}]: unhandled {what} ({sig}) at 0x{:016x}, esr 0x{:08x}, in {comm}", frame.far, frame.esr);
    pr_info!("{comm}[{pid}]: pc : {:016x} lr : {:016x} sp : {:016x}", frame.elr, frame.x[30], frame.sp);
}

/// Make the current task die of `sig` at its next return to user space.
pub fn force_sig(sig: u32) {
    sched::with_current(|t| t.request_exit(sig_reason(sig)));
}

/// An exit request as the task keeps it: the kind in the high half (1 a
/// signal, 2 an exit code), so that no request is 0.
fn sig_reason(sig: u32) -> u64 {
    (1 << 32) | sig as u64
}

fn code_reason(code: i32) -> u64 {
    (2 << 32) | (code as u32 & 0xff) as u64
}

/// Whether the current task has a fatal signal or exit request pending.
pub fn fatal_signal_pending() -> bool {
    sched::with_current(|t| t.exit_request() != 0).unwrap_or(false)
}

/// Ask the current task to exit with `code` (exit, exit_group).
pub fn request_exit(code: i32) {
    sched::with_current(|t| t.request_exit(code_reason(code)));
}

fn decode_request(r: u64) -> ExitReason {
    if r >> 32 == 1 { ExitReason::Signal(r as u32) } else { ExitReason::Code((r & 0xff) as i32) }
}

/// The work before every return to EL0 (Linux's exit_to_user_mode_loop):
/// exit if asked, reschedule if asked; IRQs masked on return.
pub fn exit_to_user_mode(_frame: &mut TrapFrame) {
    loop {
        let req = sched::with_current(|t| t.exit_request()).unwrap_or(0);
        if req != 0 {
            let code = do_exit_work(decode_request(req));
            sched::exit(code);
        }
        if sched::need_resched() {
            sched::schedule();
            continue;
        }
        break;
    }
}

/// Everything do_exit does before the task's last switch; returns the
/// task's exit code. Holds no reference when it returns.
fn do_exit_work(reason: ExitReason) -> i32 {
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

/// Signals whose default action is to do nothing (Linux's
/// SIG_KERNEL_IGNORE_MASK): SIGCHLD, SIGCONT, SIGURG, SIGWINCH.
fn ignored_by_default(sig: u32) -> bool {
    matches!(sig, 17 | 18 | 23 | 28)
}

/// kill(pid, sig): every signal here has its default action (no handlers
/// yet): terminate, except those ignored by default; 0 only probes.
pub fn kill(pid: i32, sig: u32) -> Result<(), mm::mmap::Errno> {
    use mm::mmap::Errno;
    if sig > 64 {
        return Err(Errno::EINVAL);
    }
    if pid <= 0 {
        return Err(Errno::ESRCH);
    }
    let target = pid::find_process(pid).ok_or(Errno::ESRCH)?;
    if sig == 0 || ignored_by_default(sig) {
        return Ok(());
    }
    if matches!(*target.state.lock(), ProcState::Zombie(_)) {
        return Ok(());
    }
    let task = target.task.lock().clone();
    target.pending_kill.store(sig, Ordering::Release);
    if let Some(t) = task {
        t.request_exit(sig_reason(sig));
        sched::wake_up(&t);
        sched::resched_cpu(t.cpu());
    }
    // A process sleeping in wait4 checks its own pending signal.
    target.child_exit.wake_up_all();
    Ok(())
}

/// Kill `p` with SIGKILL (the OOM killer).
pub fn kill_process(p: &Process) {
    let _ = kill(p.pid, SIGKILL);
}

/// The kernel's handler for exceptions taken at EL1, installed once
/// processes can exist: a data abort on a user address inside a uaccess
/// routine is the current process's page fault (resolved, and the access
/// retried, or the routine's fixup returns -EFAULT); a kernel access to
/// user memory anywhere else is an oops, as Linux's die_kernel_fault says;
/// everything else goes to the oops path.
pub fn el1_trap(frame: &mut TrapFrame, vector: Vector) {
    const DABT_CUR: u64 = 0x25;
    use crate::memory::user::uaccess::TASK_SIZE;
    if vector.is_sync() && !vector.stack_overflowed() && esr_ec(frame.esr) == DABT_CUR && frame.far < TASK_SIZE {
        if let Some(fixup) = arch::uaccess::fixup_for(frame.elr) {
            let fsc = frame.esr & 0x3f;
            let resolvable = matches!(fsc, 0x04..=0x07 | 0x09..=0x0b | 0x0d..=0x0f);
            let r = if resolvable {
                arch::irqflags::local_irq_enable();
                let r = user_fault(frame.far, fault_kind(frame.esr, false));
                arch::irqflags::local_irq_disable();
                r
            } else {
                FaultResult::Segv(SegvCode::MapErr)
            };
            if r != FaultResult::Handled {
                frame.elr = fixup;
            }
            return;
        }
        crate::console::printk::emergency_write(format_args!(
            "Unable to handle kernel access to user memory outside uaccess routines at virtual address {:016x}",
            frame.far
        ));
    }
    crate::console::oops::handle_trap(frame, vector);
}
