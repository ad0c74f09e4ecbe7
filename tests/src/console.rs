//! Reading what the kernel said: its self-test lines and its exit code.
//!
//! ```text
//!   [    0.195472] cmdline: known_params ... ok
//!   [    0.195472] cmdline: known_params ... ok (12 ms)
//!   [    0.201205] pages: pcp_drain ... FAILED: 3 pages left on the list
//!   [    0.201205] pages: pcp_drain ... FAILED: 3 pages left on the list (4 ms)
//!   selftest: 64 passed, 1 failed
//! ```
//!
//! Each line may carry a dmesg timestamp; the per-test timing suffix is
//! optional (the kernel prints it from issue 7 on), and so is a suffix in
//! parentheses after the closing `selftest:` line.

/// What the kernel's exit code (QEMU's, through semihosting) means.
pub fn exit_code_meaning(code: i32) -> &'static str {
    match code {
        0 => "all self-tests passed, or none ran",
        1 => "some self-test failed",
        2 => "fatal boot error",
        3 => "kernel panic",
        4 => "oops: an unexpected exception or a kernel stack overflow",
        5 => "the command line named a self-test, benchmark or crash that does not exist",
        _ => "not a code the kernel uses",
    }
}

/// One `<suite>: <name> ... ok` or `<suite>: <name> ... FAILED: <reason>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelftestResult<'a> {
    pub suite: &'a str,
    pub name: &'a str,
    /// `None` if it passed, else the reason it gave.
    pub failure: Option<&'a str>,
    /// The timing suffix without its parentheses (`12 ms`), if any.
    pub timing: Option<&'a str>,
    /// The whole line without its timestamp.
    pub text: &'a str,
}

/// The line without a leading `[    0.123456]` timestamp.
pub fn strip_timestamp(line: &str) -> &str {
    let line = line.trim();
    if line.starts_with('[')
        && let Some(end) = line.find(']')
        && line[1..end].trim().chars().all(|c| c.is_ascii_digit() || c == '.')
    {
        return line[end + 1..].trim_start();
    }
    line
}

/// `text` without a final ` (12 ms)`-style timing, and the timing.
fn split_timing(text: &str) -> (&str, Option<&str>) {
    if let Some(open) = text.rfind(" (")
        && let Some(inner) = text[open + 2..].strip_suffix(')')
        && let Some((number, unit)) = inner.split_once(' ')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && matches!(unit, "ms" | "us" | "µs" | "s")
    {
        return (&text[..open], Some(inner));
    }
    (text, None)
}

/// A self-test's result line, or `None` for any other line.
pub fn parse_selftest_result(line: &str) -> Option<SelftestResult<'_>> {
    let text = strip_timestamp(line);
    let (head, verdict) = text.split_once(" ... ")?;
    let (suite, name) = head.split_once(": ")?;
    let word = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    if !word(suite) || !word(name) {
        return None;
    }
    let (verdict, timing) = split_timing(verdict);
    let failure = match verdict {
        "ok" => None,
        "FAILED" => Some(""),
        _ => Some(verdict.strip_prefix("FAILED: ")?),
    };
    Some(SelftestResult { suite, name, failure, timing, text })
}

/// `(passed, failed)` from `selftest: 12 passed, 0 failed` (after an
/// optional timestamp, before an optional ` (...)`).
pub fn parse_selftest_line(line: &str) -> Option<(u32, u32)> {
    let rest = strip_timestamp(line).strip_prefix("selftest: ")?;
    let (passed, rest) = rest.split_once(" passed, ")?;
    let failed = match rest.split_once(" failed") {
        Some((failed, "")) => failed,
        Some((failed, tail)) if tail.starts_with(" (") && tail.ends_with(')') => failed,
        _ => return None,
    };
    Some((passed.parse().ok()?, failed.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selftest_line_is_parsed_bare_or_timestamped() {
        assert_eq!(parse_selftest_line("selftest: 12 passed, 0 failed"), Some((12, 0)));
        assert_eq!(parse_selftest_line("[    1.000200] selftest: 3 passed, 2 failed"), Some((3, 2)));
        assert_eq!(parse_selftest_line("selftest: 3 passed, 2 failed (1520 ms)"), Some((3, 2)));
        assert_eq!(parse_selftest_line("selftest: skipped"), None);
        assert_eq!(parse_selftest_line("selftest: x passed, 0 failed"), None);
        assert_eq!(parse_selftest_line("selftest: 3 passed, 2 failed later"), None);
    }

    #[test]
    fn results_are_parsed_with_and_without_timing() {
        let ok = parse_selftest_result("[    0.195472] cmdline: known_params ... ok").unwrap();
        assert_eq!((ok.suite, ok.name, ok.failure, ok.timing), ("cmdline", "known_params", None, None));
        assert_eq!(ok.text, "cmdline: known_params ... ok");
        let ok = parse_selftest_result("cmdline: known_params ... ok (12 ms)").unwrap();
        assert_eq!((ok.failure, ok.timing), (None, Some("12 ms")));

        let bad = parse_selftest_result("[ 0.2] pages: pcp_drain ... FAILED: 3 pages left (on cpu 1)").unwrap();
        assert_eq!((bad.suite, bad.name), ("pages", "pcp_drain"));
        assert_eq!((bad.failure, bad.timing), (Some("3 pages left (on cpu 1)"), None));
        let bad = parse_selftest_result("pages: pcp_drain ... FAILED: 3 pages left (on cpu 1) (4 ms)").unwrap();
        assert_eq!((bad.failure, bad.timing), (Some("3 pages left (on cpu 1)"), Some("4 ms")));
        let bare = parse_selftest_result("pages: pcp_drain ... FAILED (0.5 ms)").unwrap();
        assert_eq!((bare.failure, bare.timing), (Some(""), Some("0.5 ms")));

        for other in [
            "selftest: 3 passed, 2 failed",
            "Booting mm-kernel on physical CPU 0x0000000000 ... ok",
            "pages: pcp_drain ... maybe",
            "[    0.1] slub: a b ... ok",
            "selftest: expecting BUG ...",
        ] {
            assert_eq!(parse_selftest_result(other), None, "{other:?}");
        }
    }

    #[test]
    fn timestamps_are_only_dmesg_ones() {
        assert_eq!(strip_timestamp("[    1.000200] x"), "x");
        assert_eq!(strip_timestamp("[mem 0x40000000] x"), "[mem 0x40000000] x");
    }

    #[test]
    fn every_kernel_exit_code_has_a_meaning() {
        let unknown = exit_code_meaning(99);
        for code in 0..=5 {
            assert_ne!(exit_code_meaning(code), unknown, "{code}");
        }
    }
}
