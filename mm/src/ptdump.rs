//! ptdump: the kernel page-table dump and the W^X check, architecture-free
//! (Linux's mm/ptdump.c with the reporting half of arch/arm64/mm/ptdump.c).
//!
//! A read-only walk of the tree ([`PageTable::walk_range`]) hands every
//! leaf and every hole to [`PgState::note_entry`], in address order.
//! `PgState` keeps one open range: its start, its level and its
//! protection, which is the leaf descriptor masked to the bits the
//! architecture names (output addresses never count, so contiguous virtual
//! ranges with equal attributes merge whatever they map). The open range is
//! closed, and reported, when the next entry differs in protection or
//! level, or when the walk crosses the next address marker; a hole closes
//! a mapping and is reported like one, with its level and no attributes.
//!
//! ```text
//!   walk_range ──PtEntry──> PgState::note_entry ──> PtdumpOut
//!                             open range            marker("Linear Mapping start")
//!                             [start, level, prot]  range(PtRange) ─ Display ─>
//!                             next marker           "0xSTART-0xEND   SIZE LEVEL  attrs"
//!                             W+X counts            warn(WxWarning)
//! ```
//!
//! The text is Linux's, column for column: `0x%016lx-0x%016lx   `, the size
//! as `%9lu` with the largest of K, M, G, T, P, E that divides it, the
//! level name (PGD, PUD, PMD, PTE: the names a four-level arm64 kernel
//! prints, its p4d being folded), then for a mapping one ` %s` per entry of
//! the architecture's [`ProtBits`] table: the entry's `set` text when
//! `prot & mask == val`, else its `clear` text, nothing when that text is
//! absent (the memory types). A marker line is `---[ NAME ]---`. As in
//! Linux, markers are visited in order and at most two are printed at one
//! address, so two markers at the same address (the end of one area, the
//! start of the next) both appear, and the final flush
//! ([`PgState::finish`]) closes the last range at 2^64, printed as
//! `0x0000000000000000`.
//!
//! The W^X check ([`PgState::new_check_wx`], Linux's `ptdump_check_wx`)
//! runs the same state machine with no output but counts: the pages of
//! every closed mapping that the architecture calls writable and executable
//! by the kernel ([`PtdumpArch::is_wx`]), and those executable at EL0
//! ([`PtdumpArch::is_user_exec`], Linux's non-UXN count); the first range
//! of each kind is also reported once ([`WxWarning`], Linux's `WARN_ONCE`).
//!
//! Differences from Linux: the output goes to a [`PtdumpOut`] rather than
//! a seq_file, so a caller that walks under a lock can collect the merged
//! lines and print them after dropping it; there is no `effective_prot`
//! (table-level permission bits are not used by this kernel's tables).

use crate::pgtable::{LEVELS, PtEntry};
use core::fmt;

/// A named boundary of the address map (Linux's `struct addr_marker`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrMarker {
    /// First address of the area the marker opens (or just past the area it closes).
    pub start_address: u64,
    /// The text between `---[ ` and ` ]---`.
    pub name: &'static str,
}

/// One column of the attribute part of a dump line (Linux's `struct prot_bits`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtBits {
    /// The descriptor bits this column looks at.
    pub mask: u64,
    /// The value of those bits that selects `set`.
    pub val: u64,
    /// Printed when `prot & mask == val` (None: nothing).
    pub set: Option<&'static str>,
    /// Printed otherwise (None: nothing).
    pub clear: Option<&'static str>,
}

/// What the architecture tells the dump: its descriptor bits by name, and
/// which protections the W^X check counts. Implemented by `arch`, the only
/// crate that names descriptor bits.
pub trait PtdumpArch {
    /// The attribute columns, in print order.
    const PROT_BITS: &'static [ProtBits];
    /// Whether a leaf with these (masked) bits is writable and executable
    /// by the kernel.
    fn is_wx(prot: u64) -> bool;
    /// Whether a leaf with these (masked) bits is executable at EL0
    /// (Linux's non-UXN kernel mapping).
    fn is_user_exec(prot: u64) -> bool;
}

/// The names Linux's arm64 ptdump prints for the four levels.
pub const LEVEL_NAMES: [&str; LEVELS] = ["PGD", "PUD", "PMD", "PTE"];

/// The union of every column's mask: the bits of a leaf that count.
pub const fn prot_mask(bits: &[ProtBits]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < bits.len() {
        mask |= bits[i].mask;
        i += 1;
    }
    mask
}

/// One closed range of the dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PtRange {
    /// First address.
    pub start: u64,
    /// One past the last address; 0 stands for 2^64.
    pub end: u64,
    /// The level of every entry in the range.
    pub level: usize,
    /// The masked descriptor bits (0: a hole).
    pub prot: u64,
}

impl PtRange {
    /// Bytes covered.
    pub fn size_bytes(&self) -> u64 {
        self.end.wrapping_sub(self.start)
    }

    /// Pages of 4 KiB covered.
    pub fn nr_pages(&self) -> u64 {
        self.size_bytes() / crate::PAGE_SIZE
    }

    /// The dump line for this range, with `A`'s columns.
    pub fn line<A: PtdumpArch>(&self) -> RangeLine<'static> {
        RangeLine { range: *self, bits: A::PROT_BITS }
    }
}

/// A size as Linux's ptdump prints it: `%9lu` and a unit, the largest of
/// K, M, G, T, P, E that divides it.
pub struct DumpSize(pub u64);

impl fmt::Display for DumpSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: &[u8] = b"KMGTPE";
        let mut n = self.0 >> 10;
        let mut unit = 0;
        while n & 1023 == 0 && unit + 1 < UNITS.len() {
            n >>= 10;
            unit += 1;
        }
        write!(f, "{:9}{}", n, UNITS[unit] as char)
    }
}

/// A range's dump line (no newline).
pub struct RangeLine<'a> {
    range: PtRange,
    bits: &'a [ProtBits],
}

impl fmt::Display for RangeLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = &self.range;
        let level = LEVEL_NAMES.get(r.level).copied().unwrap_or("???");
        write!(f, "0x{:016x}-0x{:016x}   {} {}", r.start, r.end, DumpSize(r.size_bytes()), level)?;
        if r.prot != 0 {
            for b in self.bits {
                let s = if r.prot & b.mask == b.val { b.set } else { b.clear };
                if let Some(s) = s {
                    write!(f, " {s}")?;
                }
            }
        }
        Ok(())
    }
}

/// A marker's dump line (no newline).
pub struct MarkerLine(pub &'static str);

impl fmt::Display for MarkerLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "---[ {} ]---", self.0)
    }
}

/// The first offending range of a kind, found by the W^X check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WxWarning {
    /// Writable and executable by the kernel, starting at this address.
    Wx(u64),
    /// Executable at EL0 (no UXN), starting at this address.
    UserExec(u64),
}

/// Where a [`PgState`] sends what it finds.
pub trait PtdumpOut {
    /// The walk entered the area `name` opens (or left the one it closes).
    fn marker(&mut self, name: &'static str);
    /// A range closed.
    fn range(&mut self, range: PtRange);
    /// The W^X check found its first offending range of a kind.
    fn warn(&mut self, warning: WxWarning) {
        let _ = warning;
    }
}

/// The most output one call of [`PgState::note_entry`] or [`PgState::finish`]
/// can produce (a range and two markers; the first call, one marker): a
/// caller collecting output in a fixed buffer stops the walk before an
/// entry when less room than this is left.
pub const MAX_OUT_PER_NOTE: usize = 4;

/// The dump's state between entries (Linux's `struct pg_state`).
pub struct PgState<'m, A: PtdumpArch> {
    markers: &'m [AddrMarker],
    /// Index of the marker whose area the walk is in.
    marker: usize,
    start_address: u64,
    /// Level of the open range; None before the first entry and after `finish`.
    level: Option<usize>,
    current_prot: u64,
    check_wx: bool,
    wx_pages: u64,
    user_exec_pages: u64,
    warned_wx: bool,
    warned_user_exec: bool,
    _arch: core::marker::PhantomData<A>,
}

impl<'m, A: PtdumpArch> PgState<'m, A> {
    const MASK: u64 = prot_mask(A::PROT_BITS);

    /// A dump with `markers` (sorted by address; the first is printed
    /// before the first range, whatever its address).
    pub fn new(markers: &'m [AddrMarker]) -> Self {
        Self {
            markers,
            marker: 0,
            start_address: 0,
            level: None,
            current_prot: 0,
            check_wx: false,
            wx_pages: 0,
            user_exec_pages: 0,
            warned_wx: false,
            warned_user_exec: false,
            _arch: core::marker::PhantomData,
        }
    }

    /// The W^X check: counts (and first warnings), no markers to speak of.
    pub fn new_check_wx() -> PgState<'static, A> {
        const ONE: &[AddrMarker] = &[AddrMarker { start_address: 0, name: "" }];
        PgState { check_wx: true, ..PgState::new(ONE) }
    }

    /// Pages found writable and executable by the kernel (W^X check only).
    pub fn wx_pages(&self) -> u64 {
        self.wx_pages
    }

    /// Pages found executable at EL0 (W^X check only).
    pub fn user_exec_pages(&self) -> u64 {
        self.user_exec_pages
    }

    fn next_marker_start(&self) -> u64 {
        self.markers.get(self.marker + 1).map_or(u64::MAX, |m| m.start_address)
    }

    fn enter_next_marker(&mut self, out: &mut impl PtdumpOut) {
        self.marker += 1;
        if let Some(m) = self.markers.get(self.marker) {
            out.marker(m.name);
        }
    }

    /// Note one entry of the walk.
    pub fn note_entry(&mut self, entry: PtEntry, out: &mut impl PtdumpOut) {
        match entry {
            PtEntry::Leaf { va, level, raw } => self.note_page(va.0, Some(level), raw, out),
            PtEntry::Hole { va, level } => self.note_page(va.0, Some(level), 0, out),
        }
    }

    /// Close the last range at 2^64 (Linux's final `note_page(st, 0, -1, 0)`).
    pub fn finish(&mut self, out: &mut impl PtdumpOut) {
        self.note_page(0, None, 0, out);
    }

    fn count_wx(&mut self, end: u64, out: &mut impl PtdumpOut) {
        if !self.check_wx {
            return;
        }
        let pages = end.wrapping_sub(self.start_address) / crate::PAGE_SIZE;
        if A::is_user_exec(self.current_prot) {
            if !self.warned_user_exec {
                self.warned_user_exec = true;
                out.warn(WxWarning::UserExec(self.start_address));
            }
            self.user_exec_pages += pages;
        }
        if A::is_wx(self.current_prot) {
            if !self.warned_wx {
                self.warned_wx = true;
                out.warn(WxWarning::Wx(self.start_address));
            }
            self.wx_pages += pages;
        }
    }

    fn note_page(&mut self, addr: u64, level: Option<usize>, raw: u64, out: &mut impl PtdumpOut) {
        let prot = if level.is_some() { raw & Self::MASK } else { 0 };
        match self.level {
            None => {
                self.level = level;
                self.current_prot = prot;
                self.start_address = addr;
                if !self.check_wx
                    && let Some(m) = self.markers.get(self.marker)
                {
                    out.marker(m.name);
                }
            }
            Some(open) if prot != self.current_prot || level != Some(open) || addr >= self.next_marker_start() => {
                if self.current_prot != 0 {
                    self.count_wx(addr, out);
                }
                if !self.check_wx {
                    out.range(PtRange { start: self.start_address, end: addr, level: open, prot: self.current_prot });
                }
                if addr >= self.next_marker_start() {
                    self.enter_next_marker(out);
                }
                self.start_address = addr;
                self.current_prot = prot;
                self.level = level;
            }
            Some(_) => {}
        }
        if addr >= self.next_marker_start() {
            self.enter_next_marker(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::VirtAddr;
    use std::fmt::Write;
    use std::string::String;
    use std::vec::Vec;

    /// A toy format: bit 0 valid, bit 1 "page", bit 2 read-only, bit 3
    /// kernel execute-never, bit 4 user execute-never, bits 8..10 a type.
    struct Toy;
    impl PtdumpArch for Toy {
        const PROT_BITS: &'static [ProtBits] = &[
            ProtBits { mask: 1, val: 1, set: Some(" "), clear: Some("F") },
            ProtBits { mask: 4, val: 4, set: Some("ro"), clear: Some("RW") },
            ProtBits { mask: 8, val: 8, set: Some("NX"), clear: Some("x ") },
            ProtBits { mask: 2, val: 2, set: Some("   "), clear: Some("BLK") },
            ProtBits { mask: 16, val: 16, set: Some("UXN"), clear: Some("   ") },
            ProtBits { mask: 0x300, val: 0, set: Some("MEM"), clear: None },
            ProtBits { mask: 0x300, val: 0x100, set: Some("DEV"), clear: None },
        ];
        fn is_wx(prot: u64) -> bool {
            prot & 4 == 0 && prot & 8 == 0
        }
        fn is_user_exec(prot: u64) -> bool {
            prot & 16 == 0
        }
    }

    const PAGE_RW: u64 = 1 | 2 | 8 | 16;
    const PAGE_ROX: u64 = 1 | 2 | 4 | 16;
    const BLOCK_RW: u64 = 1 | 8 | 16;
    const PAGE_DEV: u64 = PAGE_RW | 0x100;
    /// Output-address bits, which never count.
    const PA: u64 = 0x4000_0000;

    #[derive(Default)]
    struct Text {
        s: String,
        warnings: Vec<WxWarning>,
    }
    impl PtdumpOut for Text {
        fn marker(&mut self, name: &'static str) {
            writeln!(self.s, "{}", MarkerLine(name)).unwrap();
        }
        fn range(&mut self, range: PtRange) {
            writeln!(self.s, "{}", range.line::<Toy>()).unwrap();
        }
        fn warn(&mut self, w: WxWarning) {
            self.warnings.push(w);
        }
    }

    fn leaf(va: u64, level: usize, raw: u64) -> PtEntry {
        PtEntry::Leaf { va: VirtAddr(va), level, raw }
    }
    fn hole(va: u64, level: usize) -> PtEntry {
        PtEntry::Hole { va: VirtAddr(va), level }
    }

    fn dump(markers: &[AddrMarker], entries: &[PtEntry]) -> String {
        let mut st = PgState::<Toy>::new(markers);
        let mut out = Text::default();
        for &e in entries {
            st.note_entry(e, &mut out);
        }
        st.finish(&mut out);
        assert!(out.warnings.is_empty(), "a dump warned");
        out.s
    }

    #[test]
    fn sizes_take_the_largest_unit_that_divides() {
        let s = |n: u64| DumpSize(n).to_string();
        assert_eq!(s(4096), "        4K");
        assert_eq!(s(1920 << 10), "     1920K");
        assert_eq!(s(2 << 20), "        2M");
        assert_eq!(s(1 << 30), "        1G");
        assert_eq!(s(0x7f80_0000_0000), "   130560G");
        assert_eq!(s(2 << 40), "        2T");
        assert_eq!(s(0u64.wrapping_sub(0xffff_0000_0000_0000)), "      256T");
        // Linux's loop stops at E.
        assert_eq!(s(1 << 63), "        8E");
    }

    #[test]
    fn equal_neighbours_merge_and_any_difference_splits() {
        let base = 0xffff_0000_0000_0000u64;
        let entries = [
            // Two blocks with different output addresses: one range.
            leaf(base, 2, BLOCK_RW | PA),
            leaf(base + (2 << 20), 2, BLOCK_RW | (PA << 1)),
            // The same attributes one level down: a new range.
            leaf(base + (4 << 20), 3, PAGE_RW),
            leaf(base + (4 << 20) + 0x1000, 3, PAGE_RW),
            // Other attributes: a new range.
            leaf(base + (4 << 20) + 0x2000, 3, PAGE_ROX),
            leaf(base + (4 << 20) + 0x3000, 3, PAGE_DEV),
            // Holes at one level merge; at another they split.
            hole(base + (4 << 20) + 0x4000, 3),
            hole(base + (4 << 20) + 0x5000, 3),
            hole(base + (6 << 20), 2),
            hole(base + (1 << 30), 1),
        ];
        let markers = [AddrMarker { start_address: base, name: "Start" }];
        let want = "\
---[ Start ]---
0xffff000000000000-0xffff000000400000           4M PMD   RW NX BLK UXN MEM
0xffff000000400000-0xffff000000402000           8K PTE   RW NX     UXN MEM
0xffff000000402000-0xffff000000403000           4K PTE   ro x      UXN MEM
0xffff000000403000-0xffff000000404000           4K PTE   RW NX     UXN DEV
0xffff000000404000-0xffff000000600000        2032K PTE
0xffff000000600000-0xffff000040000000        1018M PMD
0xffff000040000000-0x0000000000000000      262143G PUD
";
        assert_eq!(dump(&markers, &entries), want);
    }

    #[test]
    fn markers_split_ranges_and_coinciding_markers_both_print() {
        let entries = [hole(0x1000, 3), hole(0x2000, 3), hole(0x3000, 3), hole(0x4000, 3), hole(0x5000, 3)];
        let m = |start_address, name| AddrMarker { start_address, name };
        // "B end" and "C start" share an address; "D" is never reached.
        let markers = [m(0x1000, "A"), m(0x3000, "B start"), m(0x4000, "B end"), m(0x4000, "C start"), m(0x9000, "D")];
        let want = "\
---[ A ]---
0x0000000000001000-0x0000000000003000           8K PTE
---[ B start ]---
0x0000000000003000-0x0000000000004000           4K PTE
---[ B end ]---
---[ C start ]---
0x0000000000004000-0x0000000000000000   18014398509481968K PTE
";
        assert_eq!(dump(&markers, &entries), want);
        // The first marker is printed before the first range even when the
        // walk starts past it; an empty walk (which Linux never does) still
        // prints it, as Linux's final flush would.
        let out = dump(&[m(0x100, "Early")], &entries[..1]);
        assert!(out.starts_with("---[ Early ]---\n0x0000000000001000-"), "{out}");
        assert_eq!(dump(&markers, &[]), "---[ A ]---\n");
    }

    #[test]
    fn check_wx_counts_pages_and_warns_once_per_kind() {
        let mut st = PgState::<Toy>::new_check_wx();
        let mut out = Text::default();
        let base = 0xffff_8000_8000_0000u64;
        let wx = PAGE_RW & !8; // writable, kernel-executable
        let ux = PAGE_ROX & !16; // user-executable
        let entries = [
            leaf(base, 3, PAGE_ROX),
            leaf(base + 0x1000, 3, wx),
            leaf(base + 0x2000, 3, wx),
            leaf(base + 0x3000, 3, PAGE_RW),
            leaf(base + 0x4000, 3, wx | 0x100),
            hole(base + 0x5000, 3),
            leaf(base + 0x6000, 3, ux),
            hole(base + 0x7000, 3),
            leaf(base + (2 << 20), 2, BLOCK_RW & !16 & !8), // both: a 2 MiB block
            hole(base + (4 << 20), 2),
        ];
        for e in entries {
            st.note_entry(e, &mut out);
        }
        st.finish(&mut out);
        assert_eq!(out.s, "", "the check printed");
        assert_eq!(st.wx_pages(), 2 + 1 + 512);
        assert_eq!(st.user_exec_pages(), 1 + 512);
        assert_eq!(out.warnings, vec![WxWarning::Wx(base + 0x1000), WxWarning::UserExec(base + 0x6000)]);
        // A clean tree: nothing counted, nothing said.
        let mut st = PgState::<Toy>::new_check_wx();
        let mut out = Text::default();
        for e in [leaf(base, 3, PAGE_ROX), leaf(base + 0x1000, 3, PAGE_RW), hole(base + 0x2000, 3)] {
            st.note_entry(e, &mut out);
        }
        st.finish(&mut out);
        assert_eq!((st.wx_pages(), st.user_exec_pages(), out.warnings.len()), (0, 0, 0));
    }

    #[test]
    fn one_note_never_outputs_more_than_the_bound() {
        #[derive(Default)]
        struct Count(usize);
        impl PtdumpOut for Count {
            fn marker(&mut self, _: &'static str) {
                self.0 += 1;
            }
            fn range(&mut self, _: PtRange) {
                self.0 += 1;
            }
        }
        let m = |start_address| AddrMarker { start_address, name: "m" };
        let markers = [m(0), m(0x1000), m(0x2000), m(0x2000), m(0x2000), m(0x3000)];
        let mut st = PgState::<Toy>::new(&markers);
        let mut worst = 0;
        for i in 0..6u64 {
            let mut c = Count::default();
            st.note_entry(leaf(i * 0x1000, 3, if i % 2 == 0 { PAGE_RW } else { PAGE_ROX }), &mut c);
            worst = worst.max(c.0);
        }
        let mut c = Count::default();
        st.finish(&mut c);
        worst = worst.max(c.0);
        assert!(worst <= MAX_OUT_PER_NOTE, "{worst} outputs from one note");
        assert_eq!(worst, 3, "three markers at one address: a range and two markers");
    }
}
