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
use crate::{pr_err, pr_info};

/// Make processes possible: the zero page, the commit limit from the RAM
/// the allocator has, EL0 access set up on every CPU (PAN where the CPU
/// has it), and the trap handlers for EL0 and for uaccess faults at EL1.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn init(maps_at_exit: bool) -> Result<(), mm::Error> {
    pid::set_maps_at_exit(maps_at_exit);
    anon::init_zero_page()?;
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

/// The first program's image: `path` in the initramfs, else the built-in
/// program of that name (so `rdinit=/fault` works without an archive).
fn find_init(path: &str) -> Option<&'static [u8]> {
    crate::init::initramfs::resolve(path).ok().map(|f| f.data).or_else(|| programs::find(path))
}

/// Start the first program (Linux's kernel_init: rdinit= in the initramfs,
/// default /init when there is an archive). Returns false when there is
/// none to start; on success the run ends when it exits.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn start_init(rdinit: Option<&str>, have_initramfs: bool) -> bool {
    let path = match (rdinit, have_initramfs) {
        (Some(p), _) => p,
        (None, true) => "/init",
        (None, false) => return false,
    };
    let Some(image) = find_init(path) else {
        pr_err!("Failed to execute {path} (error -2)");
        crate::console::printk::emergency_write(format_args!(
            "Kernel panic - not syncing: No working init found.  Try passing init= option to kernel."
        ));
        crate::console::exit::exit(crate::console::exit::ExitCode::Fatal);
    };
    pr_info!("Run {path} as init process");
    match exec::spawn_program(image, &[path], &["HOME=/", "TERM=linux"], 0, true) {
        Ok(_) => true,
        Err(e) => {
            pr_err!("Failed to execute {path}: {e}");
            crate::console::exit::exit(crate::console::exit::ExitCode::Fatal);
        }
    }
}
