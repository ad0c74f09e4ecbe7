//! The kernel command line: parsed by `bootdata::cmdline`, logged here.
//!
//! Malformed values, repeats and unknown words are reported and the boot
//! goes on with defaults, as in Linux. A value that names something that
//! does not exist (a benchmark suite, an lkdtm crash type, and, checked by
//! the self-test runner, a self-test) stops the boot before anything runs,
//! with exit code 5 ([`refuse`]): a typo in `selftest=` must not pass for a
//! passing run.

use crate::console::exit::{ExitCode, exit};
use crate::console::printk;
use crate::{pr_emerg, pr_err, pr_notice, pr_warn};
use bootdata::cmdline::{self, Diag, Params, UnknownLine};

/// Parse and log the command line; set the console log level. Returns the
/// parameters and whether every name in them exists.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn setup(bootargs: &str) -> (Params, bool) {
    pr_notice!("Kernel command line: {}", bootargs);
    // Kept whole, not destructured: a destructuring copy of the parser's
    // 3 KiB result would double this frame.
    let parsed = cmdline::parse(bootargs);
    printk::set_console_loglevel(parsed.0.loglevel.min(15));
    report(&parsed.1);
    let names_exist = !parsed.1.has_no_such();
    (parsed.0, names_exist)
}

/// Log what the parser had to say (apart from [`setup`], whose frame holds
/// the parser's 3 KiB result: 16 KiB stacks). `cma=` is acted on, and
/// logged, by `memory::cma` once memblock knows the memory.
#[inline(never)]
fn report(diags: &cmdline::Diags) {
    for d in &diags.list {
        match d {
            Diag::NoSuch { .. } => pr_err!("{}", d),
            _ => pr_warn!("{}", d),
        }
    }
    if !diags.unknown.is_empty() {
        pr_warn!("{}", UnknownLine(&diags.unknown));
    }
}

/// Stop the boot: the command line names something that does not exist
/// (each such name was reported on its own line).
pub fn refuse() -> ! {
    pr_emerg!("cmdline: the command line asks for something that does not exist; nothing was run (exit code 5)");
    exit(ExitCode::NoSuchName)
}
