//! The generic timer that stamps the log.

use super::harness::{Test, TestResult};
use crate::check;

pub const TESTS: &[Test] = &[Test { suite: "timer", name: "counter_runs", run: counter_runs }];

fn counter_runs() -> TestResult {
    let f = arch::timer::frequency_hz();
    check!((1_000_000..=10_000_000_000).contains(&f), "CNTFRQ_EL0 = {f} Hz is implausible");
    let a = arch::timer::counter();
    let mut b = a;
    for _ in 0..1_000_000 {
        b = arch::timer::counter();
        if b > a {
            break;
        }
    }
    check!(b > a, "the counter did not advance ({a} -> {b})");
    Ok(())
}
