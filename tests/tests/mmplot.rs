//! What `scripts/mmplot` draws from, on a real boot: the pageblock map of
//! the `mminfo` reports (one letter per pageblock, agreeing with
//! /proc/pagetypeinfo's "Number of blocks type" table), the `extfrag`
//! suite's series of unusable_index dumps, memblock=debug's reserve line
//! after each allocation; the self-test runner's progress lines and suite
//! timings around them; and the script's own reading of such a log
//! (`--summary`, which needs no plotting library), including its refusal
//! of a log that lacks what a picture needs.

use boot_tests::console::{parse_selftest_result, strip_timestamp};
use boot_tests::{Outcome, Qemu, ScratchFile, repo_root};
use std::collections::BTreeMap;
use std::process::Command;

/// The lines after the one that is exactly `title`, up to the next report
/// title (a line that starts with '/' and ends with ':').
fn report<'a>(out: &'a Outcome, title: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = out.log.lines().map(strip_timestamp).collect();
    let Some(i) = lines.iter().rposition(|l| *l == title) else { out.fail(&format!("no {title} report")) };
    lines[i + 1..].iter().take_while(|l| !(l.starts_with('/') && l.ends_with(':'))).copied().collect()
}

/// "Node 0, zone      DMA" -> (0, "DMA").
fn node_zone(words: &[&str]) -> (u32, String) {
    (words[1].trim_end_matches(',').parse().expect("a node id"), words[3].trim_end_matches(',').to_string())
}

/// Per (node, zone): the pageblocks of each migratetype in pagetypeinfo.
fn pagetypeinfo_blocks(out: &Outcome) -> BTreeMap<(u32, String), BTreeMap<String, u64>> {
    let lines = report(out, "/proc/pagetypeinfo:");
    let mut blocks = BTreeMap::new();
    for (h, header) in lines.iter().enumerate().filter(|(_, l)| l.starts_with("Number of blocks type")) {
        let types: Vec<&str> = header["Number of blocks type".len()..].split_whitespace().collect();
        for l in lines[h + 1..].iter().take_while(|l| l.starts_with("Node ")) {
            let w: Vec<&str> = l.split_whitespace().collect();
            let counts = types.iter().zip(&w[4..]).map(|(t, n)| (t.to_string(), n.parse().expect("a count")));
            blocks.insert(node_zone(&w), counts.collect());
        }
    }
    blocks
}

/// One zone of the pageblock map.
struct MapZone {
    start_pfn: u64,
    nr: u64,
    letters: String,
}

/// The pageblock map: its letters (letter -> migratetype) and its zones.
fn pageblock_map(out: &Outcome) -> (BTreeMap<char, String>, BTreeMap<(u32, String), MapZone>) {
    let lines = report(out, "/sys/kernel/debug/pageblock_map:");
    let legend = lines.first().unwrap_or_else(|| out.fail("an empty pageblock map"));
    let (_, pairs) = legend.split_once("per row:").unwrap_or_else(|| out.fail(&format!("legend {legend:?}")));
    let mut letters = BTreeMap::new();
    for pair in pairs.split(',') {
        let (letter, name) = pair.trim().split_once(' ').expect("letter and name");
        if name.starts_with("another zone") {
            continue;
        }
        letters.insert(letter.chars().next().unwrap(), name.to_string());
    }
    let mut zones: BTreeMap<(u32, String), MapZone> = BTreeMap::new();
    let mut cur = None;
    for l in &lines[1..] {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w[0] == "Node" {
            assert_eq!((w[4], w[6]), ("start_pfn", "pageblocks"), "{l}");
            let key = node_zone(&w);
            let z = MapZone {
                start_pfn: w[5].trim_end_matches(',').parse().unwrap(),
                nr: w[7].parse().unwrap(),
                letters: String::new(),
            };
            zones.insert(key.clone(), z);
            cur = Some(key);
        } else {
            let z = zones.get_mut(cur.as_ref().expect("a zone header first")).unwrap();
            let row = z.letters.len() as u64 / 64;
            assert_eq!(w[0].parse::<u64>().unwrap(), z.start_pfn + row * 64 * 512, "row start: {l}");
            assert!(w[1].len() <= 64, "{l}");
            z.letters.push_str(w[1]);
        }
    }
    (letters, zones)
}

#[track_caller]
fn assert_map_agrees_with_pagetypeinfo(out: &Outcome) {
    let blocks = pagetypeinfo_blocks(out);
    let (letters, zones) = pageblock_map(out);
    assert_eq!(letters.len(), 6, "{letters:?}");
    assert_eq!(
        zones.keys().collect::<Vec<_>>(),
        blocks.keys().collect::<Vec<_>>(),
        "the map and pagetypeinfo list the same zones"
    );
    for (key, z) in &zones {
        assert_eq!(z.letters.len() as u64, z.nr, "{key:?}: one letter per pageblock");
        let want = &blocks[key];
        for (letter, mt) in &letters {
            let got = z.letters.chars().filter(|c| c == letter).count() as u64;
            assert_eq!(Some(&got), want.get(mt), "{key:?}: {mt} pageblocks");
        }
        assert!(z.letters.chars().all(|c| c == '-' || letters.contains_key(&c)), "{key:?}: {}", z.letters);
    }
}

/// The pageblock map after the compaction suite (whose unmovable holds
/// turn blocks over) and with CMA and two nodes: every letter agrees with
/// pagetypeinfo's counts.
#[test]
fn pageblock_map_counts_as_pagetypeinfo() {
    let out = Qemu::virt().smp(2).numa(2).mem("2G").append("selftest=compaction mminfo").run();
    out.assert_passed();
    assert_map_agrees_with_pagetypeinfo(&out);
    let (_, zones) = pageblock_map(&out);
    let all: String = zones.values().map(|z| z.letters.as_str()).collect();
    assert!(all.contains('C') && all.contains('M') && all.contains('U'), "{all}");
}

/// Run `scripts/mmplot` on `log` with `args`.
fn mmplot(log: &str, args: &[&str]) -> std::process::Output {
    let file = ScratchFile::with_bytes("boot.log", log.as_bytes());
    Command::new("python3")
        .arg(repo_root().join("scripts/mmplot"))
        .args(args)
        .arg(file.path())
        .output()
        .expect("run python3 scripts/mmplot")
}

/// The boot `scripts/mmplot --demo` makes, read back.
#[test]
fn extfrag_series_progress_lines_and_what_mmplot_reads() {
    let out = Qemu::virt().smp(2).numa(2).mem("2G").append("selftest=fdt,extfrag mminfo memblock=debug").run();
    let passed = out.assert_passed();
    let lines: Vec<&str> = out.log.lines().map(strip_timestamp).collect();

    // The series: step i/7, then the report, seven times.
    for i in 1..=7 {
        let at = lines
            .iter()
            .position(|l| l.starts_with(&format!("extfrag: step {i}/7: ")))
            .unwrap_or_else(|| out.fail(&format!("no step {i}")));
        assert_eq!(lines[at + 1], "/sys/kernel/debug/extfrag/unusable_index:", "after step {i}");
        assert!(lines[at + 2].starts_with("Node 0, zone "), "{}", lines[at + 2]);
    }

    // Progress: the extfrag suite's test is announced, fdt's are not; the
    // announcement is no verdict; the times per suite come before the
    // closing line.
    out.assert_contains("extfrag: 1/1 unusable_index_series ...");
    assert!(!lines.iter().any(|l| l.starts_with("fdt: 1/")), "fdt is announced");
    let results = out.log.lines().filter_map(parse_selftest_result).count() as u32;
    assert_eq!(results, passed, "one verdict line per test, no more");
    let times = lines.iter().position(|l| *l == "selftest: time per suite:").unwrap_or_else(|| out.fail("no times"));
    let closing = lines.iter().rposition(|l| l.starts_with("selftest: ") && l.ends_with(" failed")).unwrap();
    let table: Vec<&str> = lines[times + 1..closing].to_vec();
    assert_eq!(table.len(), 3, "fdt, extfrag and the total: {table:?}");
    for (row, (suite, unit)) in table.iter().zip([("fdt", "tests"), ("extfrag", "test"), ("total", "tests")]) {
        let w: Vec<&str> = row.split_whitespace().collect();
        assert_eq!((w[1], w[3], w[5]), (suite, unit, "ms"), "{row}");
    }

    // memblock=debug: each allocation's request line, then where it landed.
    let vmemmap = lines.iter().position(|l| l.starts_with("memblock_alloc_try_nid:") && l.contains("vmemmap"));
    let vmemmap = vmemmap.unwrap_or_else(|| out.fail("no vmemmap allocation line"));
    assert!(lines[vmemmap + 1].starts_with("memblock_reserve: [0x"), "{}", lines[vmemmap + 1]);
    assert!(lines[vmemmap + 1].ends_with("] memblock_alloc_range_nid"), "{}", lines[vmemmap + 1]);

    assert_map_agrees_with_pagetypeinfo(&out);

    // mmplot reads all four pictures' inputs from it.
    let summary = mmplot(&out.log, &["--summary"]);
    let text = String::from_utf8_lossy(&summary.stdout);
    assert!(summary.status.success(), "{summary:?}");
    for want in [
        "nodes: 0 [0x40000000-0x7fffffff], 1 [0x80000000-0xbfffffff]",
        "pageblock map against pagetypeinfo: agrees",
        "unusable_index dumps: 8",
        "memmap: can be drawn",
        "pageblocks: can be drawn",
        "buddyinfo: can be drawn",
        "unusable_index: can be drawn",
    ] {
        assert!(text.contains(want), "no {want:?} in:\n{text}");
    }
    let sources = text.lines().find(|l| l.starts_with("reserved by source: ")).expect("reserved by source");
    for source in ["kernel image", "DTB", "page tables", "memmap", "CMA", "percpu", "early heap"] {
        assert!(sources.contains(source), "no {source} in {sources}");
    }

    // A log cut before the mminfo reports has no pageblock map and no
    // buddyinfo: the refusal names both, says how to boot, draws nothing.
    let cut = &out.log[..out.log.find("/proc/buddyinfo:").expect("buddyinfo")];
    let refused = mmplot(cut, &["--only", "pageblocks,buddyinfo", "-o", "/nonexistent/mmplot"]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(err.contains("pageblocks needs the pageblock map (/sys/kernel/debug/pageblock_map"), "{err}");
    assert!(err.contains("buddyinfo needs /proc/buddyinfo"), "{err}");
    assert!(err.contains("mminfo memblock=debug selftest=extfrag"), "says how to boot: {err}");
    assert!(refused.stdout.is_empty(), "{refused:?}");
}
