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

/// Where the pages are: free in the allocator, in page-table pages the
/// kernel's tables took, in slab pages; after caches that hold pages for
/// reuse were emptied (vmalloc's lazy aliases, kmalloc's empty slabs, the
/// per-CPU page lists), so that a test which gives back everything it took
/// finds the same sum.
pub struct PageCounts {
    free_pages: u64,
    tables: u64,
    slab_pages: u64,
}

impl PageCounts {
    /// The counts now.
    pub fn now() -> Self {
        use crate::memory::{page_alloc, pgtable, slab, vmalloc};
        vmalloc::vm_unmap_aliases();
        slab::shrink_kmalloc_caches();
        let pa = page_alloc::allocator();
        pa.drain_all_pages();
        let (rec, unrec) = slab::slub().map(|s| s.nr_slab_pages()).unwrap_or((0, 0));
        PageCounts {
            free_pages: pa.nr_free_pages(),
            tables: pgtable::nr_table_pages_allocated(),
            slab_pages: rec + unrec,
        }
    }

    /// Every page counted in `before` is back: free, or in the kernel's
    /// page tables or slab pages that grew meanwhile.
    pub fn check_back_to(&self, before: &PageCounts) -> TestResult {
        let tables = self.tables as i64 - before.tables as i64;
        let slab = self.slab_pages as i64 - before.slab_pages as i64;
        if self.free_pages as i64 + tables + slab != before.free_pages as i64 {
            return Err(alloc::format!(
                "free pages {} + {} new page tables + {} slab pages != {} before: pages leaked",
                self.free_pages,
                tables,
                slab,
                before.free_pages
            ));
        }
        Ok(())
    }
}
