//! How a run ends: an exit code over semihosting; without a semihosting
//! host (real hardware), the verdict line and then a power off, a reset or
//! a parked CPU.
//!
//! The code is the run's verdict for whoever started QEMU (the boot tests,
//! `scripts/run.sh`). Without a host the kernel says which code it would
//! have left with and then does what [`Shutdown`] (set by `init::reboot`
//! from the device tree and the command line) says, as Linux does:
//!
//! ```text
//!   reboot=park                   park the CPU
//!   a crash (exit 2, 3, 4):       panic=0 (default) park; panic=N > 0 reset
//!                                 after N seconds; panic=N < 0 reset now
//!   otherwise                     reboot=poweroff (default): power off;
//!                                 reboot=reset: reset
//!   power off / reset             PSCI SYSTEM_OFF / SYSTEM_RESET if /psci
//!                                 works, else the BCM2835 PM watchdog, else park
//! ```
//!
//! Everything here runs lock-free (the oops path ends here): output goes
//! through `printk::emergency_write` and the set-up is read from a
//! `spin::Once` written before the self-tests.

use super::printk;
use arch::bcm2835_pm::Bcm2835Pm;
use arch::psci::Conduit;
use bootdata::cmdline::RebootMode;

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

/// How to end a run without a semihosting host.
pub struct Shutdown {
    /// A PSCI conduit that answered PSCI_VERSION.
    pub psci: Option<Conduit>,
    /// The BCM2835/BCM2711 PM watchdog, mapped.
    pub pm: Option<&'static Bcm2835Pm>,
    /// `reboot=`.
    pub mode: RebootMode,
    /// `panic=`: seconds before a reset after a crash (0 = stay, < 0 = now).
    pub panic_timeout: i32,
}

static SHUTDOWN: spin::Once<Shutdown> = spin::Once::new();
/// The PM watchdog at its ioremap address, once it moved from the fixmap.
static PM_MOVED: spin::Once<&'static Bcm2835Pm> = spin::Once::new();

/// The PM watchdog moved to another mapping (its ioremap): use `pm` from
/// now on (once; later calls are ignored).
pub fn replace_pm(pm: &'static Bcm2835Pm) {
    PM_MOVED.call_once(|| pm);
}

/// The PM watchdog to use, at its newest mapping.
fn pm_of(s: &Shutdown) -> Option<&'static Bcm2835Pm> {
    s.pm.map(|early| PM_MOVED.get().copied().unwrap_or(early))
}

/// Record how runs end (once; later calls are ignored).
pub fn set_shutdown(s: Shutdown) {
    SHUTDOWN.call_once(|| s);
}

/// End the run with `code`: semihosting exit, else power off, reset or park.
pub fn exit(code: ExitCode) -> ! {
    end_run(code as u32, matches!(code, ExitCode::Fatal | ExitCode::Panic | ExitCode::Oops))
}

/// End the run with the self-tests' verdict: [`ExitCode::Pass`] when none
/// failed (saying `selftest: skipped` first when none ran, the line
/// `scripts/run.sh` reads), else [`ExitCode::SelftestFailed`].
pub fn exit_verdict(passed: usize, failed: usize) -> ! {
    match (passed, failed) {
        (0, 0) => {
            printk::log_bare(format_args!("selftest: skipped"));
            exit(ExitCode::Pass)
        }
        (_, 0) => exit(ExitCode::Pass),
        _ => exit(ExitCode::SelftestFailed),
    }
}

/// End the run with the first user program's exit status (or 0 for its
/// reboot(2) power off): the same ways out as [`exit`], the status as the
/// code.
pub fn exit_status(status: u32) -> ! {
    end_run(status, false)
}

fn end_run(n: u32, crashed: bool) -> ! {
    if !printk::have_console() {
        printk::flush_early_to_semihosting();
    }
    arch::semihosting::exit(n);
    let Some(s) = SHUTDOWN.get() else {
        printk::emergency_write(format_args!(
            "reboot: System halted (exit code {n}; no semihosting host to report it to)"
        ));
        arch::cpu::park()
    };
    if s.mode == RebootMode::Park {
        printk::emergency_write(format_args!("reboot: System halted (exit code {n}; reboot=park)"));
        arch::cpu::park()
    }
    if crashed {
        match s.panic_timeout {
            0 => {
                printk::emergency_write(format_args!(
                    "reboot: System halted (exit code {n}; panic=N would reset the board after N seconds)"
                ));
                arch::cpu::park()
            }
            t if t > 0 => {
                printk::emergency_write(format_args!("Rebooting in {t} seconds.."));
                arch::timer::delay_us(t as u64 * 1_000_000);
            }
            _ => {}
        }
        restart(s, n)
    }
    match s.mode {
        RebootMode::Reset => restart(s, n),
        _ => power_off(s, n),
    }
}

fn power_off(s: &Shutdown, n: u32) -> ! {
    printk::emergency_write(format_args!("reboot: Power down (exit code {n})"));
    if let Some(c) = s.psci {
        let r = arch::psci::system_off(c);
        printk::emergency_write(format_args!("reboot: PSCI SYSTEM_OFF returned {r}"));
    }
    if let Some(pm) = pm_of(s) {
        pm.power_off();
        printk::emergency_write(format_args!("reboot: the PM watchdog did not power the board off"));
    }
    printk::emergency_write(format_args!("reboot: nothing powered the machine off: System halted"));
    arch::cpu::park()
}

fn restart(s: &Shutdown, n: u32) -> ! {
    printk::emergency_write(format_args!("reboot: Restarting system (exit code {n})"));
    if let Some(c) = s.psci {
        let r = arch::psci::system_reset(c);
        printk::emergency_write(format_args!("reboot: PSCI SYSTEM_RESET returned {r}"));
    }
    if let Some(pm) = pm_of(s) {
        pm.restart();
        printk::emergency_write(format_args!("reboot: the PM watchdog did not reset the board"));
    }
    printk::emergency_write(format_args!("reboot: nothing reset the machine: System halted"));
    arch::cpu::park()
}

/// Stop the boot with a diagnosis (exit code 2). It is an emergency line
/// (level 0), which every `loglevel=` prints.
pub fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    crate::pr_emerg!("Kernel panic - not syncing: {}", args);
    exit(ExitCode::Fatal)
}
