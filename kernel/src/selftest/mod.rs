//! In-kernel self-tests, registered per subsystem and run at the end of boot.
//!
//! Each test is a function returning `Ok(())` or a reason. The runner prints
//! `<subsystem>: <name> ... ok` or `... FAILED: <reason>` per test and closes
//! with `selftest: N passed, M failed` alone on a line. `selftest=` picks
//! suites (`off`, `all`, or a comma list of subsystem names).

pub mod harness;
pub mod lkdtm;

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

use crate::{pr_err, pr_info};
use bootdata::cmdline::SelftestSel;
use harness::Test;

const SUITES: &[&[Test]] = &[
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

/// Whether every name in `sel` is a registered suite or test; each one
/// that is not is reported by name.
pub fn names_exist(sel: &SelftestSel) -> bool {
    let mut ok = true;
    for n in sel.names() {
        let suite_known = SUITES.iter().flat_map(|s| s.iter()).any(|t| t.suite == n.suite);
        if !suite_known {
            pr_err!("selftest: no such suite \"{}\"", n);
            ok = false;
        } else if !SUITES.iter().flat_map(|s| s.iter()).any(|t| n.selects(t.suite, t.name)) {
            pr_err!("selftest: no such test \"{}\"", n);
            ok = false;
        }
    }
    ok
}

/// Run the selected suites; returns (passed, failed).
pub fn run(sel: &SelftestSel) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for suite in SUITES {
        for t in suite.iter() {
            if !sel.wants(t.suite, t.name) {
                continue;
            }
            // Suites that measure the page allocator's exact counts keep the
            // heap off it while they run (see heap::with_early_heap).
            let measured = matches!(t.suite, "pages" | "slub");
            let r = if measured { crate::memory::heap::with_early_heap(t.run) } else { (t.run)() };
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
        crate::console::printk::log_bare(format_args!("selftest: {passed} passed, {failed} failed"));
    }
    (passed, failed)
}
