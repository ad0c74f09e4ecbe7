//! `ptdump`: the kernel page tables in the format of Linux's
//! /sys/kernel/debug/kernel_page_tables, checked against the kernel's own
//! symbols, and the boot-time W^X check's verdict.

use boot_tests::console::strip_timestamp;
use boot_tests::{Outcome, Qemu, kernel};
use std::collections::HashMap;

/// The markers, in the order the dump must print them (Linux's names, and
/// this kernel's layout: README's address map).
const MARKERS: [&str; 14] = [
    "Linear Mapping start",
    "Linear Mapping end",
    "Modules start",
    "Modules end",
    "Kernel image start",
    "Kernel image end",
    "vmalloc() area",
    "vmalloc() end",
    "Fixmap start",
    "Fixmap end",
    "PCI I/O start",
    "PCI I/O end",
    "vmemmap start",
    "vmemmap end",
];

/// The early console's fixmap slot, from the start of the fixmap
/// (kernel/src/memory/layout.rs, FIX_EARLYCON).
const FIX_EARLYCON_OFFSET: u64 = 0x40_0000;

/// Linux's attribute columns for a kernel page of normal memory that is
/// read-only and executable: one ` %s` per column of arm64's pte_bits
/// (valid, USR, ro/RW, NX/x, SHD, AF, NG, CON, BLK, UXN, GP, memory type).
fn kernel_text_attrs() -> String {
    [" ", "   ", "ro", "x ", "SHD", "AF", "  ", "   ", "   ", "UXN", "  ", "MEM/NORMAL"]
        .iter()
        .map(|c| format!(" {c}"))
        .collect()
}

/// One range line: `0xSTART-0xEND   SIZE LEVEL attrs`.
#[derive(Debug)]
struct Range {
    start: u64,
    /// 0 stands for 2^64.
    end: u64,
    level: String,
    /// Everything after the level name, as printed.
    attrs: String,
    /// The marker the range is under.
    section: &'static str,
}

impl Range {
    fn words(&self) -> Vec<&str> {
        self.attrs.split_whitespace().collect()
    }
    fn is_hole(&self) -> bool {
        self.attrs.is_empty()
    }
    fn overlaps(&self, start: u64, end: u64) -> bool {
        let last = self.end.wrapping_sub(1);
        self.start < end && last >= start
    }
}

/// Linux's size column: `%9lu` and the largest unit of K..E that divides it.
fn linux_size(bytes: u64) -> String {
    let units = ['K', 'M', 'G', 'T', 'P', 'E'];
    let mut n = bytes >> 10;
    let mut u = 0;
    while n.is_multiple_of(1024) && u + 1 < units.len() {
        n /= 1024;
        u += 1;
    }
    format!("{n:>9}{}", units[u])
}

/// The dump's markers and ranges, in order, checking each line's form.
fn parse_dump(out: &Outcome) -> (Vec<&'static str>, Vec<Range>) {
    let lines: Vec<&str> = out.log.lines().map(strip_timestamp).collect();
    let Some(head) = lines.iter().position(|l| *l == "/sys/kernel/debug/kernel_page_tables:") else {
        out.fail("no kernel_page_tables report");
    };
    let (mut markers, mut ranges) = (Vec::new(), Vec::new());
    for line in &lines[head + 1..] {
        if let Some(name) = line.strip_prefix("---[ ").and_then(|l| l.strip_suffix(" ]---")) {
            match MARKERS.iter().find(|m| **m == name) {
                Some(m) => markers.push(*m),
                None => out.fail(&format!("unknown marker line {line:?}")),
            }
            continue;
        }
        if !line.starts_with("0x") {
            break;
        }
        let bad = |why: &str| -> ! { out.fail(&format!("range line {line:?}: {why}")) };
        let hex = |s: &str| u64::from_str_radix(s, 16).unwrap_or_else(|_| bad("bad address"));
        let (Some(start), Some(end)) = (line.get(2..18), line.get(21..37)) else { bad("too short") };
        if line.get(18..21) != Some("-0x") || line.get(37..40) != Some("   ") {
            bad("not 0x%016lx-0x%016lx followed by three spaces");
        }
        let (start, end) = (hex(start), hex(end));
        let size = line.get(40..50).unwrap_or_else(|| bad("no size"));
        if size != linux_size(end.wrapping_sub(start)) {
            bad(&format!("size {size:?} is not Linux's for the range ({:?})", linux_size(end.wrapping_sub(start))));
        }
        let rest = line[50..].strip_prefix(' ').unwrap_or_else(|| bad("no space before the level"));
        let (level, attrs) = rest.split_at(rest.len().min(3));
        if !["PGD", "PUD", "PMD", "PTE"].contains(&level) {
            bad("no level name");
        }
        let section = *markers.last().unwrap_or_else(|| bad("a range before the first marker"));
        ranges.push(Range { start, end, level: level.to_string(), attrs: attrs.to_string(), section });
    }
    (markers, ranges)
}

/// The ELF's symbol values by name (`.symtab`).
fn elf_symbols(path: &std::path::Path) -> HashMap<String, u64> {
    let elf = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let u16_at = |o: usize| u16::from_le_bytes(elf[o..o + 2].try_into().unwrap()) as usize;
    let u32_at = |o: usize| u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap());
    assert_eq!(&elf[..5], b"\x7fELF\x02", "not an ELF64 file");
    let (shoff, shentsize, shnum) = (u64_at(0x28) as usize, u16_at(0x3a), u16_at(0x3c));
    let section = |i: usize| shoff + i * shentsize;
    let symtab = (0..shnum).map(section).find(|&s| u32_at(s + 4) == 2).expect("the ELF has a .symtab");
    let strtab = section(u32_at(symtab + 0x28));
    let (sym_off, sym_size) = (u64_at(symtab + 0x18) as usize, u64_at(symtab + 0x20) as usize);
    let str_off = u64_at(strtab + 0x18) as usize;
    let mut syms = HashMap::new();
    for s in (sym_off..sym_off + sym_size).step_by(24) {
        let name_at = str_off + u32_at(s);
        let len = elf[name_at..].iter().position(|&b| b == 0).unwrap_or(0);
        let name = String::from_utf8_lossy(&elf[name_at..name_at + len]).into_owned();
        syms.insert(name, u64_at(s + 8));
    }
    syms
}

#[test]
fn ptdump_prints_linux_format_and_wx_check_passes() {
    let out = Qemu::virt().smp(2).append("ptdump").run();
    out.assert_passed();
    out.assert_contains("Checked W+X mappings: passed, no W+X pages found");
    let log: Vec<&str> = out.log.lines().map(strip_timestamp).collect();
    let at = |text: &str| log.iter().position(|l| l.starts_with(text));
    if at("selftest: ") > at("/sys/kernel/debug/kernel_page_tables:") {
        out.fail("the dump came before the self-tests' summary");
    }
    if at("Checked W+X mappings:") > at("selftest: ") {
        out.fail("the W^X check ran after the self-tests");
    }

    let (markers, ranges) = parse_dump(&out);
    assert_eq!(markers, MARKERS, "the markers, each once, in address order");
    // The ranges tile the upper half from PAGE_OFFSET to 2^64.
    assert_eq!(ranges.first().map(|r| r.start), Some(0xffff_0000_0000_0000), "the dump starts at PAGE_OFFSET");
    assert_eq!(ranges.last().map(|r| r.end), Some(0), "the last range ends at 2^64");
    for w in ranges.windows(2) {
        assert_eq!(w[0].end, w[1].start, "a gap or overlap between {:?} and {:?}", w[0], w[1]);
        // Linux merges neighbours with equal level and attributes under one marker.
        if w[0].section == w[1].section && w[0].level == w[1].level && w[0].attrs == w[1].attrs {
            panic!("two ranges not merged: {:?} and {:?}", w[0], w[1]);
        }
    }

    let sym = elf_symbols(&kernel().elf);
    let s = |name: &str| *sym.get(name).unwrap_or_else(|| panic!("no symbol {name}"));
    let within = |start: u64, end: u64| ranges.iter().filter(move |r| r.overlaps(start, end));
    // Kernel text: read-only, executable, pages of normal memory.
    let text: Vec<&Range> = within(s("_text"), s("_etext")).collect();
    assert!(!text.is_empty(), "no range covers the kernel text");
    for r in &text {
        assert_eq!((r.level.as_str(), r.attrs.as_str()), ("PTE", kernel_text_attrs().as_str()), "kernel text: {r:?}");
        assert_eq!(r.section, "Kernel image start", "{r:?}");
    }
    // Read-only data: ro NX; data and bss: RW NX.
    for (what, start, end, want) in [
        ("rodata", s("__start_rodata"), s("__end_rodata"), ["ro", "NX"]),
        ("data and bss", s("_sdata"), s("__bss_end"), ["RW", "NX"]),
    ] {
        let found: Vec<&Range> = within(start, end).collect();
        assert!(!found.is_empty(), "no range covers the {what}");
        for r in found {
            assert_eq!(r.words()[..2], want, "{what}: {r:?}");
            assert!(r.words().contains(&"MEM/NORMAL"), "{what}: {r:?}");
        }
    }
    // The boot stack's guard is not mapped.
    for r in within(s("__stack_guard_start"), s("__stack_guard_end")) {
        assert!(r.is_hole(), "the stack guard is mapped: {r:?}");
    }
    // Only the kernel text is executable.
    for r in ranges.iter().filter(|r| r.words().contains(&"x")) {
        assert!(r.start >= s("_text") && r.end <= s("_etext"), "executable outside the kernel text: {r:?}");
    }
    // The linear map: normal memory, RW NX, in blocks.
    let linear: Vec<&Range> = ranges.iter().filter(|r| r.section == "Linear Mapping start" && !r.is_hole()).collect();
    assert!(!linear.is_empty(), "nothing mapped in the linear map");
    for r in &linear {
        assert_eq!(r.words()[..2], ["RW", "NX"], "linear map: {r:?}");
    }
    assert!(
        linear.iter().any(|r| r.words().contains(&"BLK") && ["PUD", "PMD"].contains(&r.level.as_str())),
        "no block in the linear map: {linear:?}"
    );
    // The console's registers: mapped by ioremap in the vmalloc area once
    // vmalloc is up (one page of device memory), and gone from the fixmap.
    let moved = out
        .line_with("moved from the fixmap to ioremap (0x")
        .unwrap_or_else(|| out.fail("the console did not move to ioremap"));
    let va = moved.rsplit("(0x").next().and_then(|t| t.strip_suffix(')')).map(|h| u64::from_str_radix(h, 16).unwrap());
    let va = va.unwrap_or_else(|| out.fail(&format!("no address in {moved:?}")));
    let page = ranges
        .iter()
        .find(|r| r.start <= va && va < r.end && !r.is_hole())
        .unwrap_or_else(|| panic!("no mapping at the console's ioremap address {va:#x}"));
    assert_eq!((page.section, page.level.as_str()), ("vmalloc() area", "PTE"), "{page:?}");
    let words = page.words();
    assert!(words.contains(&"DEVICE/nGnRE") && words[..2] == ["RW", "NX"], "console page: {page:?}");
    let fixmap = ranges.iter().find(|r| r.section == "Fixmap start").expect("a range under Fixmap start");
    let early = fixmap.start + FIX_EARLYCON_OFFSET;
    let slot = ranges.iter().find(|r| r.start <= early && early < r.end).expect("a range at the early console slot");
    assert!(slot.is_hole(), "the early console slot is still mapped: {slot:?}");
    // Device memory only where MMIO is mapped: the fixmap (and vmalloc
    // space, where ioremap puts it), never the linear map or the image.
    for r in ranges.iter().filter(|r| r.attrs.contains("DEVICE/")) {
        assert!(["Fixmap start", "vmalloc() area"].contains(&r.section), "device memory at {r:?}");
    }
}

/// Without the parameter: the check still runs, the dump does not.
#[test]
fn no_dump_without_the_parameter() {
    let out = Qemu::virt().append("selftest=off").run();
    out.assert_exit(0);
    out.assert_contains("Checked W+X mappings: passed, no W+X pages found");
    out.assert_not_contains("kernel_page_tables");
    out.assert_not_contains("---[ Linear Mapping start ]---");
}
