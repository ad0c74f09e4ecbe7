//! What a self-test is: a function returning `Ok(())` or a reason, and the
//! macros that make the reason (`fail!`, `check!`, `check_eq!`).

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
