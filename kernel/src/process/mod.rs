//! User processes: programs at EL0, each with its own address space
//! (`memory::user::Mm` in TTBR0) and one task of the scheduler.
//!
//! ```text
//!   entry    the EL0 trap handler, exit_to_user_mode, uaccess faults at EL1
//!   syscall  Linux's arm64 system call ABI
//!   exec     start a static ELF as a new process (the first program from
//!            the initramfs or the built-in ones): VMAs, pages, stack
//!   fork     clone(SIGCHLD): dup_mmap with copy-on-write
//!   exit     do_exit, wait4, the end of the run with the first program
//!   fault    a user fault with the OOM killer behind it
//!   oom      the OOM killer
//!   spawn    a process's task
//!   signal   exit requests, kill, default signal actions
//!   report   /proc/<pid>/maps and smaps_rollup
//!   pid      Process and the pid table
//!   programs the user programs built into the image (user/programs)
//! ```
//!
//! Each file imports only files below it in this list.
//!
//! Processes are single-threaded (no CLONE_VM) and have no signal
//! handlers: every signal acts by default (terminate, or ignore for those
//! Linux ignores by default), which is all a program that does not install
//! handlers can tell apart. The first program's exit ends the run with its
//! exit status.
//!
//! Lock order: the pid table, then a process's own locks (`state`, `mm`,
//! `task`), then its `Mm::inner`, then the page allocator's.

pub mod entry;
#[allow(unsafe_code)] // a never-installed page reference given back
pub mod exec;
pub mod exit;
pub mod fault;
#[allow(unsafe_code)] // a never-installed page reference given back
pub mod fork;
pub mod oom;
pub mod pid;
pub mod programs;
pub mod report;
pub mod signal;
pub mod spawn;
pub mod syscall;

use crate::memory::user::anon;
use crate::{pr_err, pr_info, pr_warn};

/// Make processes possible: the zero page, the commit limit from the RAM
/// the allocator has, EL0 access set up on every CPU (PAN where the CPU
/// has it), and the trap handlers for EL0 and for uaccess faults at EL1.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn init(maps_at_exit: bool) -> Result<(), mm::Error> {
    pid::set_maps_at_exit(maps_at_exit);
    anon::init_zero_page()?;
    // From here on user pages can move: CMA and compaction may migrate.
    crate::memory::page_alloc::allocator().set_migrator(&crate::memory::user::migrate::USER_MIGRATOR);
    crate::memory::user::migrate::set_sleep_hook(crate::sched::msleep);
    crate::memory::user::set_totalram(crate::memory::page_alloc::allocator().totalram_pages());
    crate::smp::call::on_each_cpu(|_| {
        let _ = arch::cpu::setup_el0_access();
    });
    if arch::cpu::has_pan() {
        pr_info!("CPU features: detected: Privileged Access Never");
    }
    arch::exception::set_user_handler(entry::el0_trap);
    arch::exception::set_handler(entry::el1_trap);
    Ok(())
}

/// The first program to run: its path and image.
pub struct FirstProgram {
    path: &'static str,
    image: &'static [u8],
}

/// Find the first program, as Linux's kernel_init_freeable does: `rdinit=`
/// (default `/init`) in the initramfs, else (an extension) the built-in
/// program of that name when `rdinit=` names one (`rdinit=/fault` works
/// without an archive). A path found nowhere is not an error: Linux then
/// mounts the root file system; there is none here, so the boot goes on
/// as without a first program (the self-tests and their verdict).
pub fn find_first_program(rdinit: &'static str, rdinit_given: bool) -> Option<FirstProgram> {
    if let Ok(f) = crate::init::initramfs::resolve(rdinit) {
        return Some(FirstProgram { path: rdinit, image: f.data });
    }
    if let Some(image) = programs::find(rdinit) {
        if rdinit_given {
            return Some(FirstProgram { path: rdinit, image });
        }
    } else if rdinit_given {
        pr_warn!(
            "rdinit={rdinit}: not in the initramfs nor among the built-in programs; no first program, the boot goes on"
        );
    }
    None
}

/// Start the first program (Linux's run_init_process from kernel_init);
/// the run ends when it exits. A file that is not an executable this
/// kernel runs ends the run as Linux's "No working init found" panic does
/// (exit code 2).
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn start_init(first: FirstProgram) {
    let path = first.path;
    pr_info!("Run {path} as init process");
    if let Err(e) = exec::spawn_program(first.image, &[path], &["HOME=/", "TERM=linux"], 0, true) {
        pr_err!("Failed to execute {path} (error {}): {e}", e.errno().as_neg());
        crate::console::printk::emergency_write(format_args!(
            "Kernel panic - not syncing: No working init found.  Try passing init= option to kernel."
        ));
        crate::console::exit::exit(crate::console::exit::ExitCode::Fatal);
    }
}
