//! What a self-test is: a function returning `Ok(())` or a reason, the
//! macros that make the reason (`fail!`, `check!`, `check_eq!`), and
//! [`expect_bug`] for the tests that make the kernel report a bug on purpose.

use crate::pr_info;
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

/// Run `provoke`, which makes the kernel print a BUG report on purpose,
/// between two lines that say so: `selftest: expecting BUG <what>` before
/// and `selftest: end of expected BUG` after, so that a reader of a passing
/// boot's log knows the report between them is the test's, not a fault.
pub fn expect_bug<R>(what: core::fmt::Arguments<'_>, provoke: impl FnOnce() -> R) -> R {
    pr_info!("selftest: expecting BUG {}", what);
    let r = provoke();
    pr_info!("selftest: end of expected BUG");
    r
}
