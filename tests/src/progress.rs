//! What a boot-test run tells `scripts/test.sh` as it goes and when it fails.
//!
//! With `BOOT_TESTS_PROGRESS=1`, each test that boots writes, once its last
//! [`Outcome`](crate::Outcome) is gone, a line straight to stderr (past cargo's capture of
//! test output, so it arrives while the run goes on), and a failing test
//! adds what `scripts/test.sh` repeats at the end of its output:
//!
//! ```text
//! boot-tests: boot::smp8 ... ok (1.2s)
//! boot-tests: boot::numa_2_nodes_dist ... FAILED (2 boots, 3.1s)
//! boot-tests: boot::numa_2_nodes_dist: why: 1 self-test(s) failed
//! boot-tests: boot::numa_2_nodes_dist: exit code 1 (some self-test failed) after 1.6s
//! boot-tests: boot::numa_2_nodes_dist: failed self-test: pages: pcp_drain ... FAILED: 3 pages left (4 ms)
//! boot-tests: boot::numa_2_nodes_dist: rerun: cargo test -p boot-tests --test boot -- --exact numa_2_nodes_dist --include-ignored
//! ```
//!
//! The name is the test binary's (`tests/boot.rs` -> `boot`) and the test's
//! path, which cargo's test runner gives its thread. A test's boots are
//! counted together: the line comes when no `Outcome` of the test is alive,
//! that is after the checks that use it. An `Outcome` dropped while its
//! thread panics (a check failed) marks the test failed and contributes its
//! [`BootFailure`]: the check's message (if it came from
//! [`Outcome::fail`](crate::Outcome::fail)), how the boot ended, and its
//! failed self-tests.
//!
//! This module knows nothing of `Outcome` (which calls it): it takes plain
//! data, so the two files do not import each other.

use std::cell::RefCell;
use std::io::Write as _;
use std::time::Duration;

/// Start of every line written for `scripts/test.sh`.
pub const PREFIX: &str = "boot-tests: ";

/// Whether progress lines are wanted (`BOOT_TESTS_PROGRESS` set, not 0).
pub fn enabled() -> bool {
    std::env::var("BOOT_TESTS_PROGRESS").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `1.6s`.
pub fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// One failed boot, for the summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootFailure {
    /// The message of the check that failed, if it came from
    /// [`Outcome::fail`](crate::Outcome::fail).
    pub why: Option<String>,
    /// How the boot ended: `exit code 1 (some self-test failed) after 1.6s`.
    pub ended: String,
    /// The `<suite>: <name> ... FAILED: <reason>` lines, timestamps removed.
    pub failed_selftests: Vec<String>,
}

impl BootFailure {
    /// Worth listing: it names what failed.
    fn names_something(&self) -> bool {
        self.why.is_some() || !self.failed_selftests.is_empty()
    }
}

/// The lines for one test: its progress line, and for a failure its
/// details. `failures` are the failed boots; when none of them names what
/// failed (a plain `assert!` in the test), all are listed.
pub fn lines(name: &str, boots: u32, elapsed: Duration, failed: bool, failures: &[BootFailure]) -> Vec<String> {
    let took = if boots == 1 { secs(elapsed) } else { format!("{boots} boots, {}", secs(elapsed)) };
    let verdict = if failed { "FAILED" } else { "ok" };
    let mut out = vec![format!("{PREFIX}{name} ... {verdict} ({took})")];
    if !failed {
        return out;
    }
    let named = failures.iter().any(BootFailure::names_something);
    for f in failures.iter().filter(|f| !named || f.names_something()) {
        if let Some(why) = &f.why {
            for (i, line) in why.lines().enumerate() {
                out.push(format!("{PREFIX}{name}: {}{line}", if i == 0 { "why: " } else { "     " }));
            }
        }
        out.push(format!("{PREFIX}{name}: {}", f.ended));
        for t in &f.failed_selftests {
            out.push(format!("{PREFIX}{name}: failed self-test: {t}"));
        }
    }
    if let Some((binary, test)) = name.split_once("::") {
        out.push(format!(
            "{PREFIX}{name}: rerun: cargo test -p boot-tests --test {binary} -- --exact {test} --include-ignored"
        ));
    }
    out
}

/// The running test's name: `<binary>::<test path>`.
pub fn test_name() -> String {
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .map(|stem| match stem.rsplit_once('-') {
            Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_string(),
            _ => stem,
        })
        .unwrap_or_else(|| "boot-tests".into());
    match std::thread::current().name() {
        Some(test) if test != "main" => format!("{binary}::{test}"),
        _ => binary,
    }
}

/// The boots of the test running on this thread.
#[derive(Debug, Default, PartialEq, Eq)]
struct TestBoots {
    live: u32,
    boots: u32,
    elapsed: Duration,
    failed: bool,
    failures: Vec<BootFailure>,
}

impl TestBoots {
    fn started(&mut self, elapsed: Duration) {
        self.live += 1;
        self.boots += 1;
        self.elapsed += elapsed;
    }

    /// One of them is gone (`failure` if its thread panics); the whole
    /// record once none is left.
    fn dropped(&mut self, failure: Option<BootFailure>) -> Option<TestBoots> {
        self.live = self.live.saturating_sub(1);
        if let Some(f) = failure {
            self.failed = true;
            self.failures.push(f);
        }
        (self.live == 0).then(|| std::mem::take(self))
    }
}

thread_local! {
    static BOOTS: RefCell<TestBoots> = RefCell::new(TestBoots::default());
}

/// A tracked `Outcome` came to be.
pub(crate) fn boot_started(elapsed: Duration) {
    let _ = BOOTS.try_with(|b| b.borrow_mut().started(elapsed));
}

/// A tracked `Outcome` is being dropped; `failure` if its thread panics.
pub(crate) fn boot_dropped(failure: Option<BootFailure>) {
    let _ = BOOTS.try_with(|b| {
        let Ok(mut b) = b.try_borrow_mut() else { return };
        let Some(done) = b.dropped(failure) else { return };
        let mut text = String::new();
        for line in lines(&test_name(), done.boots, done.elapsed, done.failed, &done.failures) {
            text.push_str(&line);
            text.push('\n');
        }
        // One write, straight to the file descriptor: not captured by the
        // test runner, and whole among other threads' lines.
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Outcome, repo_root};
    use std::process::Command;

    /// A boot in which one self-test failed, with the kernel's timing suffix.
    const FAILING_LOG: &str = "\
[    0.195472] cmdline: known_params ... ok (1 ms)
[    0.201205] pages: pcp_drain ... FAILED: 3 pages left on cpu 1's list (4 ms)
[    0.201900] pages: buddy_merge ... ok
selftest: 2 passed, 1 failed
";

    fn failing_boot() -> Outcome {
        Outcome::sample(FAILING_LOG, Some(1), Duration::from_millis(1600))
    }

    #[test]
    fn a_failed_selftest_is_named_with_its_reason() {
        let out = failing_boot();
        let failure = out.boot_failure();
        assert_eq!(failure.failed_selftests, ["pages: pcp_drain ... FAILED: 3 pages left on cpu 1's list (4 ms)"]);
        assert_eq!(failure.ended, "exit code 1 (some self-test failed) after 1.6s");
        let report = out.report();
        assert!(report.contains("--- failed self-tests (1) ---\npages: pcp_drain ... FAILED: 3 pages"), "{report}");
        assert!(report.contains("exit code 1 (some self-test failed)"), "{report}");
    }

    #[test]
    fn exit_code_1_without_a_failing_verdict_is_qemus() {
        let qemu = Outcome::sample("", Some(1), Duration::from_millis(100)).boot_failure();
        assert_eq!(
            qemu.ended,
            "exit code 1 (QEMU's own error: the kernel printed no failing selftest line) after 0.1s"
        );
        let kernel = Outcome::sample(FAILING_LOG, Some(4), Duration::from_millis(100)).boot_failure();
        assert_eq!(kernel.ended, "exit code 4 (oops: an unexpected exception or a kernel stack overflow) after 0.1s");
    }

    #[test]
    fn a_failing_test_lists_why_how_and_which_selftests() {
        let mut failure = failing_boot().boot_failure();
        failure.why = Some("1 self-test(s) failed".into());
        let failed = lines("boot::smp8", 1, Duration::from_millis(1600), true, &[failure]);
        assert_eq!(
            failed,
            [
                "boot-tests: boot::smp8 ... FAILED (1.6s)",
                "boot-tests: boot::smp8: why: 1 self-test(s) failed",
                "boot-tests: boot::smp8: exit code 1 (some self-test failed) after 1.6s",
                "boot-tests: boot::smp8: failed self-test: pages: pcp_drain ... FAILED: 3 pages left on cpu 1's list (4 ms)",
                "boot-tests: boot::smp8: rerun: cargo test -p boot-tests --test boot -- --exact smp8 --include-ignored",
            ]
        );
        let ok = lines("boot::smp8", 2, Duration::from_millis(2500), false, &[]);
        assert_eq!(ok, ["boot-tests: boot::smp8 ... ok (2 boots, 2.5s)"]);
    }

    #[test]
    fn boots_that_name_nothing_are_left_out_unless_none_does() {
        let passed = (Outcome::sample("selftest: 3 passed, 0 failed\n", Some(0), Duration::ZERO)).boot_failure();
        let failing = failing_boot().boot_failure();
        let both = lines("boot::t", 2, Duration::ZERO, true, &[passed.clone(), failing]);
        assert!(!both.iter().any(|l| l.contains("exit code 0")), "{both:#?}");
        assert!(both.iter().any(|l| l.contains("pages: pcp_drain")), "{both:#?}");
        let alone = lines("boot::t", 1, Duration::ZERO, true, &[passed]);
        assert!(alone.iter().any(|l| l.contains("exit code 0 (all self-tests passed")), "{alone:#?}");
    }

    #[test]
    fn a_test_is_reported_once_its_last_boot_is_dropped() {
        let mut t = TestBoots::default();
        t.started(Duration::from_secs(1));
        t.started(Duration::from_secs(2));
        assert_eq!(t.dropped(None), None);
        let done = t.dropped(Some(BootFailure::default())).expect("the last one");
        assert_eq!((done.boots, done.elapsed, done.failed, done.failures.len()), (2, Duration::from_secs(3), true, 1));
        assert_eq!(t, TestBoots::default());
        t.started(Duration::ZERO);
        assert!(!t.dropped(None).expect("one boot").failed);
    }

    /// The path from a kernel log to what `scripts/test.sh` prints at the end:
    /// its summary of a cargo log holding these lines names the failed
    /// self-test with its reason, and the exit code with its meaning.
    #[test]
    fn test_sh_ends_with_the_failed_selftests() {
        let mut failure = failing_boot().boot_failure();
        failure.why = Some("1 self-test(s) failed".into());
        let mut cargo_log =
            String::from("     Running tests/boot.rs (target/debug/deps/boot-0123456789abcdef)\n\nrunning 3 tests\n");
        for line in lines("boot::smp8", 1, Duration::from_millis(1600), true, &[failure]) {
            cargo_log.push_str(&line);
            cargo_log.push('\n');
        }
        cargo_log.push_str(&lines("boot::raspi4b", 1, Duration::from_secs(1), false, &[])[0]);
        cargo_log.push_str("\ntest smp8 ... FAILED\ntest raspi4b ... ok\ntest no_boot ... FAILED\n");
        let file = crate::ScratchFile::with_bytes("cargo.log", cargo_log.as_bytes());
        let out = Command::new("bash")
            .arg(repo_root().join("scripts/test.sh"))
            .arg("--boot-summary")
            .arg(file.path())
            .output()
            .expect("run scripts/test.sh");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{out:?}");
        for want in [
            "test: boot boot::smp8: failed self-test: pages: pcp_drain ... FAILED: 3 pages left on cpu 1's list (4 ms)",
            "test: boot boot::smp8: exit code 1 (some self-test failed) after 1.6s",
            "test: boot boot::smp8: why: 1 self-test(s) failed",
            "test: boot boot::no_boot: FAILED before or after its boots",
        ] {
            assert!(text.contains(want), "no {want:?} in:\n{text}");
        }
        assert!(!text.contains("raspi4b"), "a passing test is in the summary:\n{text}");
        assert!(
            text.trim_end()
                .ends_with("rerun: cargo test -p boot-tests --test boot -- --exact no_boot --include-ignored"),
            "{text}"
        );
    }
}
