//! Comparing a report's format with Linux's, line by line.
//!
//! The reference files under `tests/linux-ref/` are what Debian's arm64
//! Linux printed on the same QEMU machine. The values differ (Linux uses
//! memory for other things), the format must not: the same lines in the
//! same order, the same labels, and every number in a field of the same
//! shape. A line is cut into text and numbers; texts must be equal, and a
//! number matches its reference twin when either
//!
//! ```text
//!   the spaces before it are as many     "%s %lu", "count: %i"  (left-aligned)
//!   spaces + digits are as wide          "%6lu", "%8lu kB"      (right-aligned)
//! ```
//!
//! so `count:    5` against Linux's `count: 5` fails, while `    12` against
//! `  1234` (a `%6lu` field) passes. [`Numbers::Hex`] also counts hex digit
//! runs as numbers (for /proc/iomem and addresses).
//!
//! Files whose lines name things this kernel does not have (slab caches,
//! vmalloc callers) are compared by [`compare_rows`]: the rows that share
//! their first word, and the header lines, are held to the same rules.

use std::fmt::Write;

/// What counts as a number in a line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// Runs of decimal digits, with a leading '-' if there is one.
    Decimal,
    /// Runs of hex digits (0-9, a-f) that start at a word boundary: every
    /// run that is not part of a word of letters.
    Hex,
}

#[derive(Debug, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    /// Spaces before the number, and its digits.
    Num {
        spaces: usize,
        digits: usize,
    },
}

fn is_num_char(c: u8, n: Numbers) -> bool {
    match n {
        Numbers::Decimal => c.is_ascii_digit(),
        Numbers::Hex => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
    }
}

fn is_word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The number that starts at byte `i` of `b`, as (first byte, end): a run
/// of number characters at a word start (not glued to a name before or
/// after it, as in "DMA32" or "kmalloc-64"), with a '-' sign in decimal
/// mode when the '-' itself starts a word. In hex mode a `0x` prefix is
/// text and the digits after it the number.
fn number_at(b: &[u8], i: usize, n: Numbers) -> Option<(usize, usize)> {
    let prev = |k: usize| if k == 0 { None } else { Some(b[k - 1]) };
    let mut start = i;
    if n == Numbers::Hex && b[i..].starts_with(b"0x") && prev(i).is_none_or(|c| !is_word_char(c)) {
        start = i + 2;
    }
    if start >= b.len() || !is_num_char(b[start], n) {
        return None;
    }
    let mut sign = start;
    match prev(start) {
        Some(c) if is_word_char(c) && start == i => return None,
        // A '-' after a name ("kmalloc-64") makes the digits part of it;
        // after a number ("4000-7fff") it is a range's dash.
        Some(b'-') if n == Numbers::Decimal => match prev(start - 1) {
            Some(c) if is_word_char(c) => return None,
            _ => sign = start - 1,
        },
        Some(b'-') if prev(start - 1).is_some_and(|c| c.is_ascii_alphabetic() && !is_num_char(c, n)) => return None,
        _ => {}
    }
    let mut end = start;
    while end < b.len() && is_num_char(b[end], n) {
        end += 1;
    }
    // A hex run glued to more letters is a word ("deface" is, "defaced"
    // is not a number); decimal digits may carry a unit ("880K").
    if n == Numbers::Hex && end < b.len() && is_word_char(b[end]) {
        return None;
    }
    Some((sign, end))
}

/// A line as text pieces and numbers; the spaces right before a number
/// belong to it.
fn pieces(line: &str, n: Numbers) -> Vec<Piece<'_>> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let (mut i, mut text_start) = (0, 0);
    while i < b.len() {
        let Some((start, end)) = number_at(b, i, n) else {
            // Skip the rest of a word, so no number starts inside it.
            if is_word_char(b[i]) {
                while i < b.len() && is_word_char(b[i]) {
                    i += 1;
                }
            } else {
                i += 1;
            }
            continue;
        };
        let mut sp = start;
        while sp > text_start && b[sp - 1] == b' ' {
            sp -= 1;
        }
        if sp > text_start {
            out.push(Piece::Text(&line[text_start..sp]));
        }
        out.push(Piece::Num { spaces: start - sp, digits: end - start });
        text_start = end;
        i = end;
    }
    if text_start < b.len() {
        out.push(Piece::Text(&line[text_start..]));
    }
    out
}

/// Whether `ours` has the format of `linux` (see the module text); the
/// reason if not.
pub fn same_line_format(ours: &str, linux: &str, n: Numbers) -> Result<(), String> {
    let (a, b) = (pieces(ours, n), pieces(linux, n));
    if a.len() != b.len() {
        return Err(format!("different shape:\n    ours:  {ours:?}\n    linux: {linux:?}"));
    }
    for (x, y) in a.iter().zip(&b) {
        let ok = match (x, y) {
            (Piece::Text(p), Piece::Text(q)) => p == q,
            (Piece::Num { spaces: s1, digits: d1 }, Piece::Num { spaces: s2, digits: d2 }) => {
                s1 == s2 || s1 + d1 == s2 + d2
            }
            _ => false,
        };
        if !ok {
            return Err(format!("different format:\n    ours:  {ours:?}\n    linux: {linux:?}"));
        }
    }
    Ok(())
}

/// Compare two whole files line by line: the same number of lines, each
/// pair of the same format. Every difference is listed (up to 20).
pub fn compare_lines(name: &str, ours: &str, linux: &str, n: Numbers) -> Result<(), String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.split('\n').collect(), linux.split('\n').collect());
    let mut errs = String::new();
    let mut nr = 0;
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        if let Err(e) = same_line_format(x, y, n) {
            nr += 1;
            if nr <= 20 {
                let _ = writeln!(errs, "  {name} line {}: {e}", i + 1);
            }
        }
    }
    if a.len() != b.len() {
        let _ = writeln!(errs, "  {name}: {} lines, Linux's has {}", a.len(), b.len());
        nr += 1;
    }
    if nr == 0 { Ok(()) } else { Err(format!("{name}: {nr} differences from Linux's format\n{errs}")) }
}

/// Compare files whose rows name things of their own kernel: the first
/// `header` lines must match line by line; of the rest, the rows whose
/// first word both files have must match, and at least `min_common` must.
pub fn compare_rows(
    name: &str,
    ours: &str,
    linux: &str,
    header: usize,
    min_common: usize,
    n: Numbers,
) -> Result<(), String> {
    let (a, b): (Vec<&str>, Vec<&str>) = (ours.lines().collect(), linux.lines().collect());
    let mut errs = String::new();
    if a.len() < header || b.len() < header {
        return Err(format!("{name}: fewer than {header} header lines"));
    }
    for i in 0..header {
        if let Err(e) = same_line_format(a[i], b[i], n) {
            let _ = writeln!(errs, "  {name} header line {}: {e}", i + 1);
        }
    }
    let first = |l: &str| l.split_whitespace().next().unwrap_or("").to_string();
    let mut common = 0;
    for x in &a[header..] {
        if let Some(y) = b[header..].iter().find(|y| first(y) == first(x)) {
            common += 1;
            if let Err(e) = same_line_format(x, y, n) {
                let _ = writeln!(errs, "  {name} row {}: {e}", first(x));
            }
        }
    }
    if common < min_common {
        let _ = writeln!(errs, "  {name}: {common} rows in common with Linux's, at least {min_common} expected");
    }
    if errs.is_empty() { Ok(()) } else { Err(format!("{name}: differences from Linux's format\n{errs}")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_aligned_fields_match_whatever_the_value() {
        assert!(
            same_line_format("MemTotal:        1012312 kB", "MemTotal:         990000 kB", Numbers::Decimal).is_ok()
        );
        assert!(
            same_line_format(
                "Node 0, zone      DMA      3     12",
                "Node 0, zone      DMA   1234      0",
                Numbers::Decimal
            )
            .is_ok()
        );
    }

    #[test]
    fn left_aligned_fields_match_whatever_the_value() {
        assert!(same_line_format("      nr_free_pages 5", "      nr_free_pages 123456", Numbers::Decimal).is_ok());
    }

    #[test]
    fn padding_and_label_differences_are_caught() {
        assert!(same_line_format("              count:    5", "              count: 5", Numbers::Decimal).is_err());
        assert!(same_line_format("MemFree:  12 kB", "MemFree:         12 kB", Numbers::Decimal).is_err());
        assert!(same_line_format("pages free 5", "pages  free 5", Numbers::Decimal).is_err());
        assert!(same_line_format("a 1 2", "a 1", Numbers::Decimal).is_err());
    }

    #[test]
    fn digits_in_names_are_text() {
        // "DMA32" and "kmalloc-64" are names, not numbers.
        assert!(same_line_format("Node 0, zone    DMA32", "Node 0, zone    DMA32", Numbers::Decimal).is_ok());
        assert!(same_line_format("Node 0, zone    DMA32", "Node 0, zone    DMA16", Numbers::Decimal).is_err());
        assert!(same_line_format("kmalloc-64    12", "kmalloc-64  1234", Numbers::Decimal).is_ok());
        assert!(same_line_format("kmalloc-64    12", "kmalloc-96  1234", Numbers::Decimal).is_err());
        // Digits with a unit are a number and its unit.
        assert!(same_line_format("(880K kernel code", "(15552K kernel code", Numbers::Decimal).is_ok());
        assert!(same_line_format("(880K kernel code", "(15552M kernel code", Numbers::Decimal).is_err());
    }

    #[test]
    fn negative_numbers_and_hex() {
        assert!(same_line_format("x -1", "x -3", Numbers::Decimal).is_ok());
        assert!(
            same_line_format("40000000-7fffffff : System RAM", "40000000-bfffffff : System RAM", Numbers::Hex).is_ok()
        );
        assert!(
            same_line_format("  40200000-40ffffff : Kernel code", "  40210000-4121ffff : Kernel data", Numbers::Hex)
                .is_err()
        );
        // "fade" in a word of letters is not a number.
        assert!(same_line_format("abc deface", "abc facade", Numbers::Hex).is_ok());
        assert!(same_line_format("deadbeef-x", "deadbeef-y", Numbers::Hex).is_err());
    }

    #[test]
    fn whole_files_line_counts_and_blank_lines() {
        let linux = "Page block order: 9\nPages per block:  512\n\nNode 0\n";
        assert!(
            compare_lines("f", "Page block order: 9\nPages per block:  512\n\nNode 0\n", linux, Numbers::Decimal)
                .is_ok()
        );
        let e = compare_lines("f", "Page block order: 9\nPages per block:  512\nNode 0\n", linux, Numbers::Decimal);
        assert!(e.is_err());
    }

    #[test]
    fn rows_by_first_word() {
        let linux = "slabinfo - version: 2.1\n# name\nkmalloc-64  10 20\next4_inode 1 2\n";
        let ours = "slabinfo - version: 2.1\n# name\nkmalloc-64  99 20\nours_only 5 5\n";
        assert!(compare_rows("s", ours, linux, 2, 1, Numbers::Decimal).is_ok());
        let bad = "slabinfo - version: 2.1\n# name\nkmalloc-64 99 20\n";
        assert!(compare_rows("s", bad, linux, 2, 1, Numbers::Decimal).is_err());
        assert!(compare_rows("s", "slabinfo - version: 2.1\n# name\n", linux, 2, 1, Numbers::Decimal).is_err());
    }
}
