//! The pageblock map: the migratetype of every pageblock of every populated
//! zone, one letter each. Linux has no such file (its nearest are the
//! per-type totals at the end of /proc/pagetypeinfo and page_owner's
//! per-pageblock lines); this kernel prints it in its `mminfo` reports
//! under the debugfs-style title `/sys/kernel/debug/pageblock_map`, for
//! `scripts/mmplot`'s pageblock picture.
//!
//! ```text
//! Pageblock map: 1 letter per pageblock of 512 pages, 64 per row: U Unmovable, M Movable, R Reclaimable, H HighAtomic, C CMA, I Isolate, - another zone's or a hole
//! Node 0, zone      DMA, start_pfn 262144, pageblocks 512
//!     262144 UUMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM
//!     294912 MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM
//! ```
//!
//! A row starts with the PFN of its first pageblock. The walk is
//! pagetypeinfo's (pagetypeinfo_showblockcount): from the zone's first PFN
//! in steps of a pageblock, counting a block whose first page exists and
//! belongs to the zone. So the letters of a zone, counted by type, are its
//! "Number of blocks type" row; the other blocks show as `-`.

use core::fmt::{self, Write};

use crate::hal::Hal;
use crate::page_alloc::PageAllocator;
use crate::zone::MigrateType;
use crate::zone::{PAGEBLOCK_NR_PAGES, Zone};

/// Pageblocks per row.
pub const PAGEBLOCKS_PER_ROW: usize = 64;

/// The letter of a migratetype in the map.
pub const fn migratetype_letter(mt: MigrateType) -> char {
    match mt {
        MigrateType::Unmovable => 'U',
        MigrateType::Movable => 'M',
        MigrateType::Reclaimable => 'R',
        MigrateType::HighAtomic => 'H',
        MigrateType::Cma => 'C',
        MigrateType::Isolate => 'I',
    }
}

/// The letter of a block pagetypeinfo does not count: its first page is
/// missing (a hole) or in another zone or node.
pub const NOT_IN_ZONE: char = '-';

impl<H: Hal> PageAllocator<H> {
    /// The pageblock map of every populated zone of every node with memory
    /// (see the module's documentation for the format).
    pub fn pageblock_map(&self, out: &mut impl Write) -> fmt::Result {
        write!(
            out,
            "Pageblock map: 1 letter per pageblock of {PAGEBLOCK_NR_PAGES} pages, {PAGEBLOCKS_PER_ROW} per row:"
        )?;
        for mt in MigrateType::ALL {
            write!(out, " {} {},", migratetype_letter(mt), mt.name())?;
        }
        writeln!(out, " {NOT_IN_ZONE} another zone's or a hole")?;
        for pgdat in self.online_nodes().filter(|p| p.node_present_pages() != 0) {
            for zone in pgdat.zones().iter().filter(|z| z.is_populated()) {
                let start = zone.zone_start_pfn();
                let blocks = zone.spanned_pages().div_ceil(PAGEBLOCK_NR_PAGES);
                writeln!(
                    out,
                    "Node {}, zone {:>8}, start_pfn {start}, pageblocks {blocks}",
                    pgdat.node_id(),
                    zone.name()
                )?;
                for row in 0..blocks.div_ceil(PAGEBLOCKS_PER_ROW as u64) {
                    let first = start + row * PAGEBLOCKS_PER_ROW as u64 * PAGEBLOCK_NR_PAGES;
                    write!(out, "{first:>11} ")?;
                    let mut pfn = first;
                    for _ in 0..PAGEBLOCKS_PER_ROW {
                        if pfn >= zone.zone_end_pfn() {
                            break;
                        }
                        out.write_char(self.pageblock_letter(zone, pfn))?;
                        pfn += PAGEBLOCK_NR_PAGES;
                    }
                    out.write_char('\n')?;
                }
            }
        }
        Ok(())
    }

    /// The letter of the pageblock starting at `pfn` in `zone`: the test
    /// of [`pageblock_counts`](Self::pageblock_counts).
    fn pageblock_letter(&self, zone: &Zone, pfn: u64) -> char {
        match self.memmap().pfn_to_page(crate::Pfn(pfn)) {
            Some(page) if page.node() == zone.node() && page.zone_type() == zone.zone_type() => {
                self.pageblock_migratetype(crate::Pfn(pfn)).map_or(NOT_IN_ZONE, migratetype_letter)
            }
            _ => NOT_IN_ZONE,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PAGEBLOCKS_PER_ROW, migratetype_letter};
    use crate::Pfn;
    use crate::test_support::*;
    use crate::zone::{MIGRATE_TYPES, MigrateType, PAGEBLOCK_NR_PAGES};

    const B: u64 = 0x40000;

    /// Node 0: DMA 8 blocks and Normal 8 blocks; node 1: Normal 8 blocks.
    fn machine() -> PageAllocator {
        two_node_machine()
    }

    /// Per zone of the map: (node, zone name, start_pfn, letters).
    fn zones(map: &str) -> Vec<(u32, String, u64, String)> {
        let mut out: Vec<(u32, String, u64, String)> = Vec::new();
        for line in map.lines().skip(1) {
            if let Some(rest) = line.strip_prefix("Node ") {
                let w: Vec<&str> = rest.split_whitespace().collect();
                let nid = w[0].trim_end_matches(',').parse().unwrap();
                out.push((
                    nid,
                    w[2].trim_end_matches(',').into(),
                    w[4].trim_end_matches(',').parse().unwrap(),
                    String::new(),
                ));
            } else {
                let (pfn, letters) = line.trim_start().split_once(' ').unwrap();
                let z = out.last_mut().unwrap();
                let row = z.3.len() as u64 / PAGEBLOCKS_PER_ROW as u64;
                assert_eq!(pfn.parse::<u64>().unwrap(), z.2 + row * PAGEBLOCKS_PER_ROW as u64 * PAGEBLOCK_NR_PAGES);
                z.3.push_str(letters);
            }
        }
        out
    }

    #[test]
    fn one_letter_per_pageblock_per_zone() {
        let pa = machine();
        let mut s = String::new();
        pa.pageblock_map(&mut s).unwrap();
        assert_eq!(
            s.lines().next().unwrap(),
            "Pageblock map: 1 letter per pageblock of 512 pages, 64 per row: U Unmovable, M Movable, R Reclaimable, \
             H HighAtomic, C CMA, I Isolate, - another zone's or a hole"
        );
        assert_eq!(s.lines().nth(1).unwrap(), "Node 0, zone      DMA, start_pfn 262144, pageblocks 8");
        assert_eq!(s.lines().nth(2).unwrap(), "     262144 MMMMMMMM");
        let z = zones(&s);
        let names: Vec<(u32, &str, u64)> = z.iter().map(|(n, name, pfn, _)| (*n, name.as_str(), *pfn)).collect();
        assert_eq!(names, [(0, "DMA", B), (0, "Normal", B + 4096), (1, "Normal", B + 8192)]);
        assert!(z.iter().all(|(_, _, _, l)| l.len() == 8), "{s}");
    }

    #[test]
    fn letters_count_as_pagetypeinfo_counts_blocks() {
        let pa = machine();
        pa.isolate_pageblock(Pfn(B + 4096 + 512)).unwrap();
        let mut s = String::new();
        pa.pageblock_map(&mut s).unwrap();
        let z = zones(&s);
        assert_eq!(z[1].3, "MIMMMMMM", "{s}");
        let mut i = 0;
        for pgdat in pa.online_nodes() {
            for zone in pgdat.zones().iter().filter(|z| z.is_populated()) {
                let counts = pa.pageblock_counts(zone);
                let mut letters = [0u64; MIGRATE_TYPES];
                for mt in MigrateType::ALL {
                    letters[mt as usize] = z[i].3.chars().filter(|&c| c == migratetype_letter(mt)).count() as u64;
                }
                assert_eq!(letters, counts, "zone {i}");
                i += 1;
            }
        }
        assert_eq!(i, 3);
    }
}
