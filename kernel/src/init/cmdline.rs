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
use crate::{pr_emerg, pr_err, pr_info, pr_notice, pr_warn};
use bootdata::cmdline::{self, Diag, Params, UnknownLine};

/// Parse and log the command line; set the console log level. Returns the
/// parameters and whether every name in them exists.
pub fn setup(bootargs: &str) -> (Params, bool) {
    pr_notice!("Kernel command line: {}", bootargs);
    let (params, diags) = cmdline::parse(bootargs);
    printk::set_console_loglevel(params.loglevel.min(15));
    for d in &diags.list {
        match d {
            Diag::NoSuch { .. } => pr_err!("{}", d),
            _ => pr_warn!("{}", d),
        }
    }
    if !diags.unknown.is_empty() {
        pr_warn!("{}", UnknownLine(&diags.unknown));
    }
    if let Some(c) = params.cma {
        pr_info!(
            "cma: command line asks for {} MiB{} (recorded; CMA itself arrives in a later issue)",
            c.size_bytes >> 20,
            match (c.base, c.limit) {
                (Some(_), Some(_)) => " at a fixed range",
                (Some(_), None) => " at a fixed base",
                _ => "",
            }
        );
    }
    let names_exist = !diags.has_no_such();
    (params, names_exist)
}

/// Stop the boot: the command line names something that does not exist
/// (each such name was reported on its own line).
pub fn refuse() -> ! {
    pr_emerg!("cmdline: the command line asks for something that does not exist; nothing was run (exit code 5)");
    exit(ExitCode::NoSuchName)
}
