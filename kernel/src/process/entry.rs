//! A process's task from its first return to user space to its exit: the
//! EL0 trap handler, user faults and their reports, the return-to-user
//! work (exit requests, rescheduling), and the EL1 handler's uaccess
//! faults.
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

use super::exit::do_exit_work;
use super::fault::user_fault;
use super::pid::{self, SIGBUS, SIGILL, SIGSEGV};
use super::signal::{decode_request, force_sig};
use crate::memory::user::fault::{FaultResult, SegvCode, fault_kind};
use crate::pr_info;
use crate::sched;
use arch::exception::{TrapFrame, Vector, esr_ec};

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

/// Print Linux's line for a user task killed by a fault.
fn report_unhandled(frame: &TrapFrame, what: &str, sig: u32) {
    let (comm, pid) = match pid::current_process() {
        Some(p) => (p.comm(), p.pid),
        None => (alloc::string::String::from("?"), 0),
    };
    pr_info!("{comm}[{pid}]: unhandled {what} ({sig}) at 0x{:016x}, esr 0x{:08x}, in {comm}", frame.far, frame.esr);
    pr_info!("{comm}[{pid}]: pc : {:016x} lr : {:016x} sp : {:016x}", frame.elr, frame.x[30], frame.sp);
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
        // A permission fault on a user address outside the uaccess
        // routines is PAN catching a stray kernel access (Linux's
        // is_el1_permission_fault check); a translation fault there (a NULL
        // pointer, say) is reported by the oops path as any other.
        if matches!(frame.esr & 0x3f, 0x0d..=0x0f) {
            crate::console::printk::emergency_write(format_args!(
                "Unable to handle kernel access to user memory outside uaccess routines at virtual address {:016x}",
                frame.far
            ));
        }
    }
    crate::console::oops::handle_trap(frame, vector);
}
