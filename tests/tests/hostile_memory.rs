//! Hostile memory descriptions and boot inputs (issue 8, "Hostile input"):
//! /memory claiming RAM the machine does not have, odd or overlapping
//! ranges, too many nodes, memory without the kernel image, undecodable
//! `reg`, a garbage distance-map, x0 pointing at nothing, oversized trees,
//! and `mem=` / `kernelcore=` / `movablecore=` values that would leave the
//! kernel no memory. Each boot ends in a pass with a warning naming what was
//! wrong, or in a one-line diagnosis and exit code 2 within seconds.

use std::time::Duration;

use boot_tests::{Boot, Outcome, Qemu, fdt_edit, fdt_with_distance_map};

/// The Image's base for stub boots (above QEMU's own DTB at 0x4000_0000).
const IMAGE_BASE: u64 = 0x4020_0000;
/// Where the edited DTB goes.
const DTB_ADDR: u64 = 0x4800_0000;
/// A fatal error is reported at once; this only has to catch a hang.
const FATAL_WITHIN: Duration = Duration::from_secs(20);

fn machine() -> Qemu {
    Qemu::virt().mem("512M")
}

fn base_dtb() -> Vec<u8> {
    machine().dump_dtb()
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// 64-bit values as the four cells of a `#address-cells = 2, #size-cells = 2` reg entry.
fn reg(base: u64, size: u64) -> Vec<String> {
    [base >> 32, base & 0xffff_ffff, size >> 32, size & 0xffff_ffff].iter().map(|v| format!("{v:#x}")).collect()
}

/// The base tree with /memory@40000000's reg replaced by these ranges.
fn with_memory(ranges: &[(u64, u64)]) -> Vec<u8> {
    let mut e = args(&["-t", "x", "%", "/memory@40000000", "reg"]);
    for &(b, s) in ranges {
        e.extend(reg(b, s));
    }
    fdt_edit(&base_dtb(), &[e])
}

fn boot(dtb: Vec<u8>) -> Outcome {
    machine().stub_with_dtb(IMAGE_BASE, dtb, DTB_ADDR).timeout(FATAL_WITHIN + Duration::from_secs(40)).run()
}

/// QEMU's own tree, with a command line (`-append` needs `-kernel`).
fn boot_cmdline(cmdline: &str) -> Outcome {
    machine().append(cmdline).timeout(FATAL_WITHIN + Duration::from_secs(40)).run()
}

#[track_caller]
fn assert_passes_warning(out: &Outcome, warning: &str) {
    out.assert_passed();
    out.assert_contains(warning);
}

#[track_caller]
fn assert_fatal(out: &Outcome, message: &str) {
    out.assert_finished_within(FATAL_WITHIN);
    out.assert_exit(2);
    out.assert_contains(message);
}

/// 1 GiB claimed on a 512 MiB machine: the absent half is probed and dropped.
#[test]
fn memory_larger_than_the_machine_is_probed_and_cut() {
    let out = boot(with_memory(&[(0x4000_0000, 0x4000_0000)]));
    assert_passes_warning(&out, "memblock: dropping [mem 0x0000000060000000-0x000000007fffffff]: nothing behind it");
}

/// The issue's own example: 2 GiB claimed on a 1 GiB machine.
#[test]
fn two_gib_claimed_on_a_one_gib_machine() {
    let q = Qemu::virt().mem("1G");
    let mut e = args(&["-t", "x", "%", "/memory@40000000", "reg"]);
    e.extend(reg(0x4000_0000, 0x8000_0000));
    let dtb = fdt_edit(&q.dump_dtb(), &[e]);
    let out = q.stub_with_dtb(IMAGE_BASE, dtb, DTB_ADDR).timeout(FATAL_WITHIN + Duration::from_secs(40)).run();
    assert_passes_warning(&out, "memblock: dropping [mem 0x0000000080000000-0x00000000bfffffff]: nothing behind it");
}

/// size 0xffffffffffffffff: cut at the address space's end, then probed.
#[test]
fn memory_of_size_all_ones_is_cut_and_probed() {
    let out = boot(with_memory(&[(0x4000_0000, u64::MAX)]));
    out.assert_contains("runs past the end of the address space");
    assert_passes_warning(&out, "memblock: dropping [mem 0x0000000060000000-");
}

/// A second node at 4 GiB that the machine does not have: dropped whole.
#[test]
fn memory_node_at_4g_that_is_absent_is_dropped() {
    let mut e = vec![
        args(&["-c", "%", "/memory@100000000"]),
        args(&["-t", "s", "%", "/memory@100000000", "device_type", "memory"]),
    ];
    let mut r = args(&["-t", "x", "%", "/memory@100000000", "reg"]);
    r.extend(reg(0x1_0000_0000, 0x4000_0000));
    e.push(r);
    let out = boot(fdt_edit(&base_dtb(), &e));
    assert_passes_warning(&out, "memblock: dropping [mem 0x0000000100000000-0x000000013fffffff]: nothing behind it");
}

/// Overlapping ranges: memblock merges them; the self-tests count them once.
#[test]
fn overlapping_memory_ranges_are_merged() {
    let out = boot(with_memory(&[(0x4000_0000, 0x2000_0000), (0x5000_0000, 0x0800_0000), (0x4800_0000, 0x1800_0000)]));
    out.assert_passed();
}

/// 150 memory nodes: the first 64 MiB (with the kernel), then 149 adjacent
/// 4 MiB nodes from 0x44000000, the last ones past the end of the 512 MiB
/// machine. The parser keeps MAX_MEM_RANGES of them and says so, memblock
/// merges them, the probe drops the absent ones, and the boot passes.
#[test]
fn one_hundred_fifty_memory_nodes() {
    let mut e = vec![{
        let mut r = args(&["-t", "x", "%", "/memory@40000000", "reg"]);
        r.extend(reg(0x4000_0000, 0x400_0000));
        r
    }];
    for i in 0..149u64 {
        let base = 0x4400_0000 + i * 0x40_0000;
        let node = format!("/memory@{base:x}");
        e.push(args(&["-c", "%", &node]));
        e.push(args(&["-t", "s", "%", &node, "device_type", "memory"]));
        let mut r = args(&["-t", "x", "%", &node, "reg"]);
        r.extend(reg(base, 0x40_0000));
        e.push(r);
    }
    let out = boot(fdt_edit(&base_dtb(), &e));
    assert_passes_warning(&out, "too many /memory ranges");
}

/// A base that is not page aligned: aligned up, as Linux does, and said.
#[test]
fn memory_at_an_unaligned_base_is_aligned() {
    let out = boot(with_memory(&[(0x4000_0123, 0x1fff_fedd)]));
    assert_passes_warning(&out, "is not page aligned; using [mem 0x0000000040001000-");
}

/// /memory that leaves out the kernel image: the image is added, said.
#[test]
fn memory_without_the_kernel_image() {
    let out = boot(with_memory(&[(0x5000_0000, 0x1000_0000)]));
    assert_passes_warning(&out, "is not in any /memory range; adding it");
}

/// Root #size-cells = 0: /memory cannot be decoded; the diagnosis names the cells.
#[test]
fn memory_that_cannot_be_decoded_says_why() {
    let out = boot(fdt_edit(&base_dtb(), &[args(&["-t", "u", "%", "/", "#size-cells", "0"])]));
    assert_fatal(&out, "no usable memory");
    out.assert_contains("cannot decode reg with #address-cells = 2, #size-cells = 0");
}

/// A distance-map with a self-distance of 20 and a remote one of 5:
/// Linux refuses the map and runs with one node.
#[test]
fn garbage_distance_map_is_ignored_like_linux() {
    let out = boot(fdt_with_distance_map(&base_dtb(), &[(0, 0, 20), (0, 1, 5), (7, 300, 99999)]));
    assert_passes_warning(&out, "NUMA: invalid /distance-map");
}

fn boot_x0(x0: u64) -> Outcome {
    machine().boot(Boot::Stub { base: IMAGE_BASE, dtb: x0 }).timeout(FATAL_WITHIN + Duration::from_secs(10)).run()
}

/// x0 points at 64 GiB, where the 512 MiB machine has nothing.
#[test]
fn x0_pointing_at_nothing() {
    assert_fatal(&boot_x0(0x10_0000_0000), "nothing behind it (external abort");
}

/// x0 at the top of the address space.
#[test]
fn x0_at_the_top_of_the_address_space() {
    assert_fatal(&boot_x0(0xffff_ffff_ffff_fff8), "physical address space");
}

/// A 1.5 MiB tree (a large property): more than the old 256 KiB buffer,
/// within Linux's 2 MiB; it boots.
#[test]
fn device_tree_of_one_and_a_half_mib_boots() {
    // In 96 KiB properties: one argument may not exceed 128 KiB.
    let chunk = "x".repeat(96 * 1024);
    let edits: Vec<Vec<String>> =
        (0..16).map(|i| args(&["-t", "s", "%", "/", &format!("padding-{i}"), &chunk])).collect();
    let dtb = fdt_edit(&base_dtb(), &edits);
    assert!(dtb.len() > 1536 * 1024);
    boot(dtb).assert_passed();
}

/// totalsize above 2 MiB: refused with both sizes.
#[test]
fn device_tree_larger_than_the_limit_names_both_sizes() {
    let mut dtb = base_dtb();
    let size: u32 = 3 << 20;
    dtb[4..8].copy_from_slice(&size.to_be_bytes());
    let out = boot(dtb);
    assert_fatal(&out, &format!("the blob is {size} bytes"));
    out.assert_contains("2097152-byte");
}

/// mem=1M leaves nothing beyond the image: refused by name.
#[test]
fn mem_too_small_is_refused_by_name() {
    let out = boot_cmdline("mem=1M");
    assert_passes_warning(&out, "mem=1024K leaves the kernel no memory");
}

/// kernelcore= / movablecore= that leave the kernel no memory.
#[test]
fn kernelcore_and_movablecore_that_leave_no_kernel_memory() {
    for (arg, warning) in [
        ("kernelcore=4K", "kernelcore=4K"),
        ("movablecore=100%", "movablecore=100%"),
        ("movablecore=2G", "movablecore=2G"),
    ] {
        let out = boot_cmdline(arg);
        out.assert_passed();
        out.assert_contains(warning);
    }
}

/// 150 scattered memory nodes: 2 MiB each, 4 MiB apart, the tree's own
/// node (with the kernel) listed after them, so the parser's cut drops it:
/// the image is added back, the early heap shrinks to fit a 2 MiB piece, and
/// the self-tests hold on memory without a block above order 9.
#[test]
fn one_hundred_fifty_scattered_memory_nodes() {
    let mut e = vec![{
        let mut r = args(&["-t", "x", "%", "/memory@40000000", "reg"]);
        r.extend(reg(0x4000_0000, 0x400_0000));
        r
    }];
    for i in 0..149u64 {
        let base = 0x4400_0000 + i * 0x40_0000;
        let node = format!("/memory@{base:x}");
        e.push(args(&["-c", "%", &node]));
        e.push(args(&["-t", "s", "%", &node, "device_type", "memory"]));
        let mut r = args(&["-t", "x", "%", &node, "reg"]);
        r.extend(reg(base, 0x20_0000));
        e.push(r);
    }
    let out = boot(fdt_edit(&base_dtb(), &e));
    out.assert_contains("too many /memory ranges");
    assert_passes_warning(&out, "for the early heap; trying half");
}
