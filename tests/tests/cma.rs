//! CMA at boot: `cma=` on `virt` (placement, refusals, `cma=0`), the Pi 4's
//! device-tree pool (`linux,cma`, below 1 GiB; replaced by `cma=`; refused
//! with `no-map`), and what the reports show: CMA pageblocks in
//! pagetypeinfo, CmaTotal in meminfo, the `Memory:` line's cma-reserved,
//! the debugfs files and the vmstat events. Each boot runs the `cma`
//! self-test suite (cma_alloc/cma_release over the whole free area).

use boot_tests::console::strip_timestamp;
use boot_tests::{Outcome, Qemu, ScratchFile, kernel};
use std::process::Command;

const MIB: u64 = 1 << 20;

/// The hexadecimal number right after `marker` on its line.
fn hex_after(out: &Outcome, marker: &str) -> u64 {
    let line = out.line_with(marker).unwrap_or_else(|| out.fail(&format!("no line with {marker:?}")));
    let rest = &line[line.find(marker).unwrap() + marker.len()..];
    let digits: String = rest.trim_start_matches("0x").chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&digits, 16).unwrap_or_else(|_| out.fail(&format!("no hex number after {marker:?}: {line}")))
}

/// The lines after the one that is exactly `title`, up to the next report
/// title (a line ending in ':' that starts with '/').
fn report<'a>(out: &'a Outcome, title: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = out.log.lines().map(strip_timestamp).collect();
    let Some(i) = lines.iter().position(|l| *l == title) else { out.fail(&format!("no {title} report")) };
    lines[i + 1..]
        .iter()
        .take_while(|l| !(l.starts_with('/') && l.ends_with(':') && !l.contains("/cma/")))
        .copied()
        .collect()
}

/// The pageblocks of type CMA in pagetypeinfo's "Number of blocks type"
/// tables (one per node), per zone name.
fn cma_pageblocks(out: &Outcome) -> Vec<(String, u64)> {
    let lines = report(out, "/proc/pagetypeinfo:");
    let mut blocks = Vec::new();
    for (h, header) in lines.iter().enumerate().filter(|(_, l)| l.starts_with("Number of blocks type")) {
        let header: Vec<&str> = header.split_whitespace().collect();
        let col = header.iter().position(|w| *w == "CMA").expect("a CMA column") - 4;
        for l in lines[h + 1..].iter().take_while(|l| l.starts_with("Node ")) {
            let w: Vec<&str> = l.split_whitespace().collect();
            blocks.push((w[3].to_string(), w[4 + col].parse().expect("a pageblock count")));
        }
    }
    if blocks.is_empty() {
        out.fail("pagetypeinfo has no pageblock table");
    }
    blocks
}

/// The value in kB of a meminfo line, or None if meminfo has no such line.
fn meminfo_kb(out: &Outcome, name: &str) -> Option<u64> {
    report(out, "/proc/meminfo:")
        .iter()
        .find(|l| l.starts_with(name))
        .map(|l| l[name.len()..].trim().trim_end_matches(" kB").trim().parse().expect("a kB value"))
}

/// The `Memory:` line's cma-reserved figure, in KiB.
fn cma_reserved_kib(out: &Outcome) -> u64 {
    let line = out.line_with("K cma-reserved)").unwrap_or_else(|| out.fail("no Memory: line"));
    let before = &line[..line.find("K cma-reserved)").unwrap()];
    before.rsplit(' ').next().unwrap().parse().expect("a KiB figure")
}

/// The contents of /sys/kernel/debug/cma/<area>/<file> in the mminfo report.
fn debugfs(out: &Outcome, area: &str, file: &str) -> String {
    let lines = report(out, "/sys/kernel/debug/cma:");
    let title = format!("/sys/kernel/debug/cma/{area}/{file}:");
    let Some(i) = lines.iter().position(|l| *l == title) else { out.fail(&format!("no {title}")) };
    lines.get(i + 1).map_or(String::new(), |l| l.to_string())
}

/// A /proc/vmstat event counter from the mminfo report.
fn vmstat(out: &Outcome, name: &str) -> u64 {
    let lines = report(out, "/proc/vmstat:");
    let line = lines.iter().find(|l| l.split(' ').next() == Some(name));
    line.and_then(|l| l.split(' ').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| out.fail(&format!("no {name}")))
}

/// Everything an area of `size` bytes at `base` named `name` shows, all of
/// it in `zone`.
#[track_caller]
fn assert_area(out: &Outcome, name: &str, base: u64, size: u64, zone: &str) {
    let pageblocks = size / (2 * MIB);
    let blocks = cma_pageblocks(out);
    let total: u64 = blocks.iter().map(|b| b.1).sum();
    assert_eq!(total, pageblocks, "CMA pageblocks {blocks:?}\n{}", out.report());
    assert!(blocks.iter().any(|(z, n)| z == zone && *n == pageblocks), "not all in {zone}: {blocks:?}");
    assert_eq!(meminfo_kb(out, "CmaTotal:"), Some(size >> 10));
    let free = meminfo_kb(out, "CmaFree:").expect("a CmaFree line");
    assert!(free > 0 && free <= size >> 10, "CmaFree {free} kB");
    assert_eq!(cma_reserved_kib(out), size >> 10);
    assert_eq!(debugfs(out, name, "base_pfn"), (base >> 12).to_string());
    assert_eq!(debugfs(out, name, "count"), (size >> 12).to_string());
    assert_eq!(debugfs(out, name, "used"), "0", "the self-tests gave every page back");
    assert_eq!(debugfs(out, name, "maxchunk"), (size >> 12).to_string());
    assert_eq!(debugfs(out, name, "order_per_bit"), "0");
    let bitmap = debugfs(out, name, "bitmap");
    let words: Vec<&str> = bitmap.split(' ').collect();
    assert_eq!(words.len() as u64, (size >> 12) / 32, "one u32 per 32 pages");
    assert!(words.iter().all(|w| *w == "0"), "bitmap {bitmap}");
    assert!(vmstat(out, "cma_alloc_success") > 0);
    let _ = vmstat(out, "cma_alloc_fail");
}

#[track_caller]
fn assert_no_area(out: &Outcome) {
    out.assert_not_contains("cma: Reserved");
    assert_eq!(cma_reserved_kib(out), 0);
    // Linux prints the line whatever the areas: 0 kB without one.
    assert_eq!(meminfo_kb(out, "CmaTotal:"), Some(0));
    assert!(cma_pageblocks(out).iter().all(|b| b.1 == 0));
    out.assert_not_contains("/sys/kernel/debug/cma:");
}

#[test]
fn virt_cma_64m_is_reserved_top_down_and_becomes_cma_pageblocks() {
    let out = Qemu::virt().append("cma=64M selftest=cma mminfo").run();
    let n = out.assert_passed();
    assert!(n >= 5, "the cma suite ran {n} tests");
    let base = hex_after(&out, "cma: Reserved 64 MiB at ");
    // 1 GiB of RAM at 1 GiB: all of it ZONE_DMA, the area near its top.
    assert_eq!(base % (2 * MIB), 0);
    assert!((0x4000_0000..=0x8000_0000 - 64 * MIB).contains(&base), "base {base:#x}");
    assert!(base >= 0x7000_0000, "top-down: {base:#x} is far from the top of RAM");
    assert_area(&out, "reserved", base, 64 * MIB, "DMA");
}

#[test]
fn virt_cma_at_a_fixed_base() {
    let out = Qemu::virt().append("cma=32M@0x60000000 selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains("cma: Reserved 32 MiB at 0x0000000060000000");
    assert_area(&out, "reserved", 0x6000_0000, 32 * MIB, "DMA");
}

#[test]
fn virt_cma_0_disables() {
    let out = Qemu::virt().append("cma=0 selftest=cma mminfo").run();
    out.assert_passed();
    assert_no_area(&out);
}

#[test]
fn virt_bad_cma_values_are_refused_and_the_boot_goes_on() {
    // A malformed value is ignored: the built-in default area remains.
    let out = Qemu::virt().append("cma=64Q selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains("malformed value for 'cma'");
    let base = hex_after(&out, "cma: Reserved 64 MiB at ");
    assert_area(&out, "reserved", base, 64 * MIB, "DMA");

    // Past the DMA limit (the end of RAM here, 2 GiB).
    let out = Qemu::virt().append("cma=4G selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains(
        "cma: Size (0x0000000100000000) of region at 0x0000000000000000 exceeds limit (0x0000000080000000)",
    );
    out.assert_contains("cma: Failed to reserve 4096 MiB");
    assert_no_area(&out);

    // Below the limit, but more than memblock has free.
    let out = Qemu::virt().append("cma=2G selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains("cma: Failed to reserve 2048 MiB");
    assert_no_area(&out);

    let out = Qemu::virt().append("cma=64M@0x40100000 selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains("cma: Region at 0x0000000040100000 must be aligned to 0x0000000000200000 bytes");
    out.assert_contains("cma: Failed to reserve 64 MiB");
    assert_no_area(&out);
}

#[test]
fn raspi4b_device_tree_pool_is_cma_below_1g() {
    let out = Qemu::raspi4b().append("selftest=cma mminfo").run();
    out.assert_passed();
    let base = hex_after(&out, "Reserved memory: created CMA memory pool at ");
    out.assert_line_contains("Reserved memory: created CMA memory pool at", &["size 64 MiB"]);
    // alloc-ranges asks for the low 768 MiB; ZONE_DMA is the low GiB.
    assert!(base + 64 * MIB <= 0x3000_0000, "base {base:#x}");
    assert_area(&out, "linux,cma", base, 64 * MIB, "DMA");
}

#[test]
fn raspi4b_cma_on_the_command_line_replaces_the_pool_below_1g() {
    let out = Qemu::raspi4b().append("cma=32M selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains("Reserved memory: bypass linux,cma node, using cmdline CMA params instead");
    out.assert_contains("OF: reserved mem: node linux,cma compatible matching fail");
    out.assert_not_contains("created CMA memory pool");
    let base = hex_after(&out, "cma: Reserved 32 MiB at ");
    assert!(base + 32 * MIB <= 1 << 30, "the default area must be in ZONE_DMA: {base:#x}");
    assert_area(&out, "reserved", base, 32 * MIB, "DMA");
}

#[test]
fn raspi4b_no_map_pool_is_refused() {
    let blob = std::fs::read(kernel().dtb("raspi4b")).expect("read raspi4b.dtb");
    let file = ScratchFile::with_bytes("raspi4b-nomap-cma.dtb", &blob);
    let path = file.path().to_str().expect("UTF-8 path");
    let st = Command::new("fdtput")
        .args(["-t", "s", path, "/reserved-memory/linux,cma", "no-map", ""])
        .status()
        .expect("run fdtput (dtc)");
    assert!(st.success());
    let out = Qemu::raspi4b().dtb(file.path()).append("selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains("OF: reserved mem: node linux,cma compatible matching fail");
    out.assert_not_contains("created CMA memory pool");
    // Without the pool, Linux's default area: 64 MiB below the DMA limit.
    let base = hex_after(&out, "cma: Reserved 64 MiB at ");
    assert!(base + 64 * MIB <= 0x4000_0000, "default area at {base:#x}: not below 1 GiB");
    assert_area(&out, "reserved", base, 64 * MIB, "DMA");
}

#[test]
fn virt_without_cma_gets_the_64m_default_area() {
    let out = Qemu::virt().append("selftest=cma mminfo").run();
    out.assert_passed();
    let base = hex_after(&out, "cma: Reserved 64 MiB at ");
    assert!(base >= 0x7000_0000, "top-down: {base:#x} is far from the top of RAM");
    assert_area(&out, "reserved", base, 64 * MIB, "DMA");
    out.assert_contains("cma: whole_area_from_under_running_tasks ... ok");
    out.assert_contains("cma: pinned_page_makes_the_range_busy ... ok");
}

#[test]
fn virt_4g_keeps_the_area_in_zone_dma_below_4g() {
    let out = Qemu::virt().mem("4G").append("cma=64M selftest=cma mminfo").run();
    out.assert_passed();
    let base = hex_after(&out, "cma: Reserved 64 MiB at ");
    // RAM runs to 5 GiB; the DMA limit (the top of ZONE_DMA) is 4 GiB.
    assert!(base + 64 * MIB <= 1 << 32, "base {base:#x}");
    assert_area(&out, "reserved", base, 64 * MIB, "DMA");
}

#[test]
fn virt_numa_area_on_the_node_that_holds_it() {
    let out = Qemu::virt().smp(2).numa(2).mem("2G").append("cma=64M selftest=cma mminfo").run();
    out.assert_passed();
    let base = hex_after(&out, "cma: Reserved 64 MiB at ");
    assert!(base >= 0x8000_0000, "top-down: the area is in the second node's GiB, not at {base:#x}");
    assert_area(&out, "reserved", base, 64 * MIB, "DMA");
    let lines = report(&out, "/proc/pagetypeinfo:");
    let node1 = lines.iter().find(|l| l.starts_with("Node 1, zone      DMA ") && !l.contains("type"));
    assert!(node1.is_some_and(|l| l.split_whitespace().nth(8) == Some("32")), "node 1's DMA zone: {node1:?}");
}

/// Every self-test suite, with a CMA area in the way of nothing.
#[test]
fn virt_all_selftests_pass_with_a_cma_area() {
    let out = Qemu::virt().append("cma=64M").run();
    out.assert_passed();
    out.assert_contains("cma: Reserved 64 MiB at ");
    out.assert_contains("cma: whole_area_in_random_pieces ... ok");
}

/// An area across a zone boundary (here ZONE_DMA / ZONE_MOVABLE at
/// 0x60000000) cannot be activated: Linux's message, and its pages go to
/// the page allocator as ordinary memory.
#[test]
fn virt_area_across_two_zones_is_given_back() {
    let out = Qemu::virt().append("cma=64M@0x5e000000 kernelcore=50% selftest=cma mminfo").run();
    out.assert_passed();
    out.assert_contains("cma: Reserved 64 MiB at 0x000000005e000000");
    out.assert_contains("CMA area reserved could not be activated");
    assert!(cma_pageblocks(&out).iter().all(|b| b.1 == 0));
    assert_eq!(meminfo_kb(&out, "CmaTotal:"), Some(0));
}

/// With debug_pagealloc the pages of a CMA range are mapped when handed
/// out (the suite writes and reads every one) and unmapped when released.
#[test]
fn virt_cma_with_debug_pagealloc() {
    let out = Qemu::virt().append("cma=64M debug_pagealloc=on selftest=cma,debug_pagealloc").run();
    let n = out.assert_passed();
    assert!(n >= 8, "{n} tests ran");
    out.assert_contains("cma: Reserved 64 MiB at ");
}
