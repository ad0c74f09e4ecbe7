//! The reports against Linux's, format for format: each machine boots with
//! `mminfo`, and every /proc file it prints, with the memory lines of the
//! boot log, is compared with what Debian's arm64 Linux 6.12 printed on the
//! same QEMU machine (tests/linux-ref/, captured by scripts/linux-ref.sh):
//! the same lines in the same order with the same labels and field widths
//! ([`boot_tests::format`]); values may differ.

use boot_tests::console::strip_timestamp;
use boot_tests::format::{Numbers, compare_lines, compare_rows, same_line_format};
use boot_tests::{Outcome, Qemu, repo_root};

/// A reference file of `machine`.
fn linux(machine: &str, file: &str) -> String {
    let path = repo_root().join("tests/linux-ref").join(machine).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of report `title` as the kernel printed it: the lines after the
/// title's log line up to the next log line (reports are printed bare).
fn report(out: &Outcome, title: &str) -> String {
    let lines: Vec<&str> = out.log.lines().collect();
    let Some(i) = lines.iter().position(|l| strip_timestamp(l) == title && l.starts_with('[')) else {
        out.fail(&format!("no {title} report"))
    };
    let mut text = String::new();
    for l in &lines[i + 1..] {
        if l.starts_with('[') {
            break;
        }
        text.push_str(l.trim_end_matches('\r'));
        text.push('\n');
    }
    text
}

/// The boot-log lines Linux and this kernel both print about memory, in
/// order: the zone and node ranges, the CMA area, the zonelists, the smp:
/// summary. (The Memory: line comes at another moment of each boot; it is
/// compared on its own.)
fn memory_lines(log: &str) -> Vec<String> {
    const STARTS: [&str; 13] = [
        "NUMA: Faking a node at ",
        "Policy zone: ",
        "Zone ranges:",
        "  DMA ",
        "  DMA32 ",
        "  Normal ",
        "  Device ",
        "Movable zone start for each node",
        "Early memory node ranges",
        "  node ",
        "Initmem setup node ",
        "Fallback order for Node ",
        "Built ",
    ];
    let mut out = Vec::new();
    for l in log.lines() {
        // Linux's dmesg has "<6>[    0.000000] ", ours "[    0.000000] ".
        let l = l.trim_end_matches('\r');
        let l = l.strip_prefix(|c| c == '<').and_then(|r| r.split_once('>')).map_or(l, |(_, r)| r);
        let Some(rest) = l.strip_prefix('[').and_then(|r| r.split_once("] ")).map(|(_, r)| r) else { continue };
        if STARTS.iter().any(|s| rest.starts_with(s))
            || rest.starts_with("smp: Brought up ")
            || rest.starts_with("cma: Reserved ")
        {
            out.push(rest.to_string());
        }
    }
    out
}

/// vmallocinfo lines as shapes: the caller `name+0xoff/0xsize` and every
/// number made uniform, the rest (the flag words, the pages=, phys= and
/// N<node>= fields and their order) kept.
fn vmalloc_shape(line: &str) -> String {
    let words: Vec<String> = line
        .split_whitespace()
        .enumerate()
        .map(|(i, w)| {
            if i == 0 {
                "RANGE".into()
            } else if i == 1 {
                "SIZE".into()
            } else if w.contains("+0x") && w.contains("/0x") {
                "CALLER".into()
            } else if let Some((k, _)) = w.split_once('=') {
                format!("{}=N", k.trim_end_matches(|c: char| c.is_ascii_digit()))
            } else {
                w.to_string()
            }
        })
        .collect();
    words.join(" ")
}

fn compare_all(machine: &str, out: &Outcome) -> Vec<String> {
    let mut errs = Vec::new();
    let mut check = |r: Result<(), String>| {
        if let Err(e) = r {
            errs.push(e);
        }
    };
    for file in ["buddyinfo", "pagetypeinfo", "zoneinfo", "meminfo"] {
        let ours = report(out, &format!("/proc/{file}:"));
        check(compare_lines(file, &ours, &linux(machine, file), Numbers::Decimal));
    }
    // vmstat: the same names in the same order.
    let names = |t: &str| t.lines().map(|l| l.split_whitespace().next().unwrap_or("").to_string()).collect::<Vec<_>>();
    let (ours, theirs) = (names(&report(out, "/proc/vmstat:")), names(&linux(machine, "vmstat")));
    if ours != theirs {
        let first = ours.iter().zip(&theirs).position(|(a, b)| a != b).unwrap_or(ours.len().min(theirs.len()));
        check(Err(format!(
            "vmstat: names differ from entry {first}: ours {:?}, Linux's {:?} ({} vs {} names)",
            ours.get(first),
            theirs.get(first),
            ours.len(),
            theirs.len()
        )));
    }
    check(compare_rows(
        "slabinfo",
        &report(out, "/proc/slabinfo:"),
        &linux(machine, "slabinfo"),
        2,
        8,
        Numbers::Decimal,
    ));
    // vmallocinfo: every line of ours has a shape Linux's file has, with
    // Linux's field widths for the range and size.
    let theirs = linux(machine, "vmallocinfo");
    let shapes: Vec<String> = theirs.lines().map(vmalloc_shape).collect();
    let sample = theirs.lines().find(|l| l.split_whitespace().nth(1).is_some_and(|s| s.len() <= 7));
    for l in report(out, "/proc/vmallocinfo:").lines() {
        let shape = vmalloc_shape(l);
        if !shapes.contains(&shape) {
            check(Err(format!("vmallocinfo: no line of Linux's has the shape {shape:?} of {l:?}")));
        }
        if let Some(s) = sample.filter(|_| l.split_whitespace().nth(1).is_some_and(|s| s.len() <= 7)) {
            let cut = |x: &str| x.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
            check(same_line_format(&cut(l), &cut(s), Numbers::Hex).map_err(|e| format!("vmallocinfo: {e}")));
        }
    }
    let memory = |log: &str| log.lines().find_map(|l| l.split_once("] Memory: ").map(|(_, r)| format!("Memory: {r}")));
    match (memory(&out.log), memory(&linux(machine, "dmesg"))) {
        (Some(a), Some(b)) => check(same_line_format(&a, &b, Numbers::Decimal).map_err(|e| format!("boot log: {e}"))),
        (a, b) => check(Err(format!("boot log: Memory: line ours {a:?}, Linux's {b:?}"))),
    }
    // The boot log's memory lines, in order.
    let (ours, theirs) = (memory_lines(&out.log), memory_lines(&linux(machine, "dmesg")));
    if ours.len() != theirs.len() {
        check(Err(format!("boot log: memory lines differ:\n  ours:  {ours:#?}\n  linux: {theirs:#?}")));
    } else {
        for (a, b) in ours.iter().zip(&theirs) {
            check(same_line_format(a, b, Numbers::Hex).map_err(|e| format!("boot log: {e}")));
        }
    }
    errs
}

fn run(machine: &str, q: Qemu, cmdline: &str) {
    let out = q.append(&format!("{cmdline} selftest=off mminfo")).run();
    out.assert_exit(0);
    let errs = compare_all(machine, &out);
    if !errs.is_empty() {
        out.fail(&format!("{machine}: the reports differ from Linux's in format:\n{}", errs.join("\n")));
    }
}

#[test]
fn virt_one_node() {
    run("virt-1node", Qemu::virt().smp(2).mem("1G"), "");
}

#[test]
fn virt_two_nodes() {
    run("virt-2node", Qemu::virt().smp(2).mem("1G").numa(2), "");
}

#[test]
fn raspi4b() {
    // Debian's device tree, as Linux booted with it, and its PL011 console.
    let dtb = repo_root().join("bootdata/tests/data/bcm2711-rpi-4-b.dtb");
    run("raspi4b", Qemu::raspi4b().dtb(dtb), "console=ttyAMA0");
}

#[test]
fn memblock_dump_only_with_memblock_debug() {
    let out = Qemu::virt().smp(1).append("selftest=off").run();
    out.assert_exit(0);
    out.assert_not_contains("MEMBLOCK configuration:");
    let out = Qemu::virt().smp(1).append("selftest=off memblock=debug").run();
    out.assert_exit(0);
    out.assert_contains("MEMBLOCK configuration:");
    // The early reservations carry their node, as after Linux's NUMA setup.
    out.assert_line_contains(" reserved[0x0]\t", &["bytes on node 0 flags: 0x0"]);
}
