//! In-kernel self-tests, registered per subsystem and run at the end of boot.
//!
//! They test the wiring on real translation: this machine's page tables,
//! CPUs and device tree, the allocators on the memory the boot handed over.
//! Algorithms the host tests already assert (mm's and bootdata's unit
//! tests) are not run again here under other names.
//!
//! Each test (`harness::Test`) is a function returning `Ok(())` or a reason.
//! The runner prints `<suite>: <name> ... ok (<t> ms)` or
//! `<suite>: <name> ... FAILED: <reason> (<t> ms)` per test, timed with the
//! generic timer, and closes with `selftest: N passed, M failed` alone on a
//! line, after a table of the time each suite took (`selftest: time per
//! suite:`). The tests of suites that take seconds are announced before
//! they start (`cma: 3/7 whole_area_from_under_running_tasks ...`; see
//! [`ANNOUNCED`]). `selftest=` picks what runs: `all` (the default), `off`, or a comma
//! list of suites and `suite.test` names; [`names_exist`] refuses a name
//! that is not registered (the boot then stops with exit code 5). A test
//! that makes the kernel print a BUG report on purpose brackets it with
//! `selftest: expecting BUG ...` and `selftest: end of expected BUG`
//! (`harness::expect_bug`).
//!
//! Files: `harness` (the test type and macros), one file per suite, and
//! `lkdtm` (deliberate crashes, run after the tests when asked).

pub mod harness;
#[allow(unsafe_code)] // a NULL dereference on purpose
pub mod lkdtm;

#[allow(unsafe_code)] // loads through TTBR0 with the fault probe; the test mms' table pages
mod asid;
#[allow(unsafe_code)] // writing and reading back the pages of a CMA range through the linear map
mod cma;
pub(crate) mod cma_user;
pub(crate) mod compaction;
#[allow(unsafe_code)] // loads from freed pages that fault on purpose
mod debug_pagealloc;
mod exceptions;
mod extfrag;
mod fault;
mod fdt;
#[allow(unsafe_code)] // the Rust heap's GlobalAlloc, called directly
mod heap;
pub(crate) mod hog;
mod irq;
mod memblock;
#[allow(unsafe_code)] // migration targets that were not used go back as raw frames
mod migrate;
#[allow(unsafe_code)] // probes that fault on purpose
mod mmu;
#[allow(unsafe_code)] // block contents and raw frees through the linear map
mod pages;
#[allow(unsafe_code)] // per-CPU copies written through raw addresses; a test chunk memory
mod percpu;
mod programs;
mod sched;
#[allow(unsafe_code)] // red zones, freed objects and free pointers, written on purpose
mod slub;
mod smp;
mod stack;
mod timer;
mod uaccess;
#[allow(unsafe_code)] // user frames read and written through the linear map under their mm's lock
mod userload;
#[allow(unsafe_code)] // reading vmalloc'd pages back through the linear map; guard-page probes
mod vmalloc;
mod zones;

use crate::{pr_err, pr_info};
use alloc::vec::Vec;
use bootdata::cmdline::{SelftestSel, TestName};
use harness::Test;

const SUITES: &[&[Test]] = &[
    fdt::TESTS,
    memblock::TESTS,
    mmu::TESTS,
    exceptions::TESTS,
    timer::TESTS,
    smp::TESTS,
    irq::TESTS,
    zones::TESTS,
    // Before any user task: its areas hold no movable pages yet.
    cma::TESTS,
    pages::TESTS,
    slub::TESTS,
    heap::TESTS,
    vmalloc::TESTS,
    percpu::TESTS,
    asid::TESTS,
    debug_pagealloc::TESTS,
    sched::TESTS,
    uaccess::TESTS,
    migrate::TESTS,
    compaction::TESTS,
    extfrag::TESTS,
    cma_user::TESTS,
    fault::TESTS,
    userload::TESTS,
    programs::TESTS,
    // Last: its high-water marks cover every suite above.
    stack::TESTS,
];

/// What part of a self-test name is not registered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unregistered {
    /// No suite of that name.
    Suite,
    /// The suite exists, the test does not.
    Test,
}

impl Unregistered {
    /// "suite" or "test", for messages.
    pub fn what(self) -> &'static str {
        match self {
            Unregistered::Suite => "suite",
            Unregistered::Test => "test",
        }
    }
}

/// Whether `n` names a registered suite, or a registered test of one.
pub fn lookup(n: &TestName<'_>) -> Result<(), Unregistered> {
    let all = || SUITES.iter().flat_map(|s| s.iter());
    if !all().any(|t| t.suite == n.suite) {
        Err(Unregistered::Suite)
    } else if !all().any(|t| n.selects(t.suite, t.name)) {
        Err(Unregistered::Test)
    } else {
        Ok(())
    }
}

/// Whether every name in `sel` is a registered suite or test; each one
/// that is not is reported by name.
pub fn names_exist(sel: &SelftestSel) -> bool {
    let mut ok = true;
    for n in sel.names() {
        if let Err(u) = lookup(&n) {
            pr_err!("selftest: no such {} \"{}\"", u.what(), n);
            ok = false;
        }
    }
    ok
}

/// Suites that `selftest=all` (the default) leaves out: they run only when
/// named. `fault` starts 40 user programs (demand paging over 64 MiB, an
/// OOM that fills all of RAM, 64 forks in a row): 10 to 30 seconds of
/// QEMU time that every other boot test would pay for. `userload` runs
/// memtouch processes for seconds and waits for their rewrites. `extfrag`
/// prints a series of unusable_index reports for `scripts/mmplot`.
const NAMED_ONLY: &[&str] = &["fault", "userload", "extfrag"];

/// Suites whose tests take up to seconds each (the suite timings at the
/// end of a run show which): the runner announces each of their tests
/// before it starts, with `<suite>: <i>/<n> <name> ...`, so a console that
/// has gone quiet says what it is waiting for. The line has no ` ... `
/// inside it, so nothing that reads verdict lines takes it for one.
const ANNOUNCED: &[&str] = &["cma", "compaction", "extfrag", "fault", "userload"];

/// Whether `t` runs under `sel`.
fn selected(sel: &SelftestSel, t: &Test) -> bool {
    sel.wants(t.suite, t.name) && !(matches!(sel, SelftestSel::All) && NAMED_ONLY.contains(&t.suite))
}

/// One suite's share of a run.
struct SuiteTime {
    suite: &'static str,
    tests: u32,
    ns: u64,
}

/// `selftest: time per suite:` and a line per suite that ran, in the
/// order they started, then the total: printed before the closing line.
fn print_suite_times(times: &[SuiteTime]) {
    let row = |suite: &str, tests: u32, ns: u64| {
        let unit = if tests == 1 { "test " } else { "tests" };
        pr_info!("selftest:   {suite:<16} {tests:>4} {unit} {:>8} ms", ns / 1_000_000);
    };
    pr_info!("selftest: time per suite:");
    let (mut tests, mut ns) = (0, 0);
    for t in times {
        row(t.suite, t.tests, t.ns);
        tests += t.tests;
        ns += t.ns;
    }
    row("total", tests, ns);
}

/// Run the selected suites; returns (passed, failed).
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn run(sel: &SelftestSel) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    // Room for every suite up front: no allocation between two tests that
    // compare the allocators' counts.
    let mut times: Vec<SuiteTime> = Vec::with_capacity(SUITES.iter().map(|s| s.len()).sum());
    for suite in SUITES {
        for t in suite.iter() {
            if !selected(sel, t) {
                continue;
            }
            // A suite's tests may come from more than one file's list.
            let slot = match times.iter().position(|s| s.suite == t.suite) {
                Some(i) => i,
                None => {
                    times.push(SuiteTime { suite: t.suite, tests: 0, ns: 0 });
                    times.len() - 1
                }
            };
            if ANNOUNCED.contains(&t.suite) {
                let of_suite = SUITES.iter().flat_map(|s| s.iter()).filter(|o| o.suite == t.suite);
                let n = of_suite.clone().filter(|o| selected(sel, o)).count();
                let i = of_suite.take_while(|o| o.name != t.name).filter(|o| selected(sel, o)).count() + 1;
                pr_info!("{}: {i}/{n} {} ...", t.suite, t.name);
            }
            // Suites that measure the page allocator's exact counts keep the
            // heap off it while they run (see heap::with_early_heap).
            let measured = matches!(t.suite, "pages" | "slub");
            let t0 = arch::timer::uptime_ns();
            let r = if measured { crate::memory::heap::with_early_heap(t.run) } else { (t.run)() };
            let ns = arch::timer::uptime_ns().saturating_sub(t0);
            let ms = ns / 1_000_000;
            times[slot].tests += 1;
            times[slot].ns += ns;
            match r {
                Ok(()) => {
                    pr_info!("{}: {} ... ok ({} ms)", t.suite, t.name, ms);
                    passed += 1;
                }
                Err(why) => {
                    pr_err!("{}: {} ... FAILED: {} ({} ms)", t.suite, t.name, why, ms);
                    failed += 1;
                }
            }
        }
    }
    if passed + failed > 0 {
        print_suite_times(&times);
        crate::console::printk::log_bare(format_args!("selftest: {passed} passed, {failed} failed"));
    }
    (passed, failed)
}
