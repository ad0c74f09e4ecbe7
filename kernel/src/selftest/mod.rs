//! In-kernel self-tests, registered per subsystem and run at the end of boot.
//!
//! Each test is a function returning `Ok(())` or a reason. The runner prints
//! `<subsystem>: <name> ... ok` or `... FAILED: <reason>` per test and closes
//! with `selftest: N passed, M failed` alone on a line. `selftest=` picks
//! suites (`off`, `all`, or a comma list of subsystem names).

mod cmdline;
mod exceptions;
mod fdt;
mod heap;
mod memblock;
mod mmu;
mod pages;
mod slub;
mod smp;
mod timer;
mod zones;

use crate::cmdline::SelftestSel;
use crate::{pr_err, pr_info};
use alloc::string::String;

/// A test's verdict.
pub type TestResult = Result<(), String>;

/// One registered test.
pub struct Test {
    /// Subsystem (suite) name.
    pub suite: &'static str,
    /// Test name.
    pub name: &'static str,
    /// The test.
    pub run: fn() -> TestResult,
}

/// Fail with a formatted reason.
#[macro_export]
macro_rules! fail {
    ($($arg:tt)*) => { return Err(alloc::format!($($arg)*)) };
}

/// Fail unless `cond`.
#[macro_export]
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => { if !$cond { $crate::fail!($($arg)*); } };
}

/// Fail unless `a == b`, showing both.
#[macro_export]
macro_rules! check_eq {
    ($a:expr, $b:expr) => {{
        let (a, b) = (&$a, &$b);
        if a != b {
            $crate::fail!("{} == {:?}, expected {:?}", stringify!($a), a, b);
        }
    }};
}

const SUITES: &[&[Test]] = &[
    cmdline::TESTS,
    fdt::TESTS,
    memblock::TESTS,
    mmu::TESTS,
    exceptions::TESTS,
    timer::TESTS,
    smp::TESTS,
    zones::TESTS,
    pages::TESTS,
    slub::TESTS,
    heap::TESTS,
];

/// Run the selected suites; returns (passed, failed).
pub fn run(sel: &SelftestSel) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for suite in SUITES {
        for t in suite.iter() {
            if !sel.wants(t.suite) {
                continue;
            }
            // Suites that measure the page allocator's exact counts keep the
            // heap off it while they run (see heap::with_early_heap).
            let measured = matches!(t.suite, "pages" | "slub");
            let r = if measured { crate::heap::with_early_heap(t.run) } else { (t.run)() };
            match r {
                Ok(()) => {
                    pr_info!("{}: {} ... ok", t.suite, t.name);
                    passed += 1;
                }
                Err(why) => {
                    pr_err!("{}: {} ... FAILED: {}", t.suite, t.name, why);
                    failed += 1;
                }
            }
        }
    }
    if passed + failed > 0 {
        crate::printk::log_bare(format_args!("selftest: {passed} passed, {failed} failed"));
    }
    (passed, failed)
}
