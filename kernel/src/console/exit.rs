//! How a run ends: an exit code over semihosting, or a parked CPU.
//!
//! The code is the run's verdict for whoever started QEMU (the boot tests,
//! `scripts/run.sh`). Without a semihosting host the CPU parks after saying
//! which code it would have left with, so no ending is a silent hang.

use super::printk;

/// The kernel's exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// All self-tests passed (or none were run).
    Pass = 0,
    /// Some self-test failed.
    SelftestFailed = 1,
    /// The boot could not go on (unusable device tree, no memory).
    Fatal = 2,
    /// A Rust panic.
    Panic = 3,
    /// An unexpected exception (an oops), a kernel stack overflow included.
    Oops = 4,
    /// The command line asked for something that does not exist (a
    /// self-test, benchmark suite or lkdtm crash type): nothing was run.
    NoSuchName = 5,
}

/// End the run with `code`: semihosting exit, else park.
pub fn exit(code: ExitCode) -> ! {
    if !printk::have_console() {
        printk::flush_early_to_semihosting();
    }
    arch::semihosting::exit(code as u32);
    printk::emergency_write(format_args!(
        "reboot: System halted (exit code {}; no semihosting host to report it to)",
        code as u32
    ));
    arch::cpu::park()
}

/// Stop the boot with a diagnosis (exit code 2).
pub fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    crate::pr_emerg!("Kernel panic - not syncing: {}", args);
    exit(ExitCode::Fatal)
}
