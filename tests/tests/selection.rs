//! What the command line selects: `selftest=` by suite and by `suite.test`,
//! and names that do not exist (`selftest=`, `bench=`, `lkdtm=`), which stop
//! the boot with exit code 5 and the name, running nothing.

use boot_tests::{Outcome, Qemu};

fn boot(cmdline: &str) -> Outcome {
    Qemu::virt().smp(2).append(cmdline).run()
}

/// Every `<suite>: <name> ... ok` line of a boot.
fn ran(out: &Outcome) -> Vec<String> {
    out.log
        .lines()
        .filter_map(|l| {
            let l = l.find("] ").map_or(l, |i| &l[i + 2..]);
            let (head, _) = l.split_once(" ... ")?;
            head.contains(": ").then(|| head.replace(": ", "."))
        })
        .collect()
}

#[test]
fn one_test_by_suite_dot_name() {
    let out = boot("selftest=pages.gfp_zone_modifiers");
    out.assert_passed();
    assert_eq!(ran(&out), ["pages.gfp_zone_modifiers"], "exactly the named test runs");
    assert_eq!(out.selftest(), Some((1, 0)));
}

#[test]
fn a_suite_and_a_test_together() {
    let out = boot("selftest=fdt,pages.node_placement");
    out.assert_passed();
    let names = ran(&out);
    assert!(names.iter().all(|n| n.starts_with("fdt.") || n == "pages.node_placement"), "{names:?}");
    assert!(names.iter().any(|n| n == "pages.node_placement"), "{names:?}");
    assert!(names.iter().filter(|n| n.starts_with("fdt.")).count() >= 2, "the whole fdt suite: {names:?}");
}

#[track_caller]
fn assert_refused(cmdline: &str, message: &str) {
    let out = boot(cmdline);
    out.assert_exit(5);
    out.assert_contains(message);
    if out.selftest().is_some() || !ran(&out).is_empty() {
        out.fail("a refused selection still ran tests");
    }
}

#[test]
fn unknown_suite_exits_5_naming_it() {
    assert_refused("selftest=nosuch", "no such suite \"nosuch\"");
}

#[test]
fn unknown_test_exits_5_naming_it() {
    assert_refused("selftest=pages.nosuch", "no such test \"pages.nosuch\"");
}

#[test]
fn unknown_bench_exits_5_naming_it() {
    assert_refused("bench=nope", "no such suite \"nope\"");
}

#[test]
fn unknown_crash_exits_5_naming_it() {
    assert_refused("lkdtm=FOO", "no such crash type \"FOO\"");
}
