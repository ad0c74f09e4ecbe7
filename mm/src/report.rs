//! The page allocator's reports, in Linux's formats: `/proc/buddyinfo`,
//! `/proc/pagetypeinfo`, `/proc/zoneinfo`, `/proc/meminfo` (mm/vmstat.c,
//! fs/proc/meminfo.c) and show_mem (mm/show_mem.c), which warn_alloc prints
//! after an allocation failure.
//!
//! Each writer takes any `core::fmt::Write`, so the kernel can print to its
//! console or fill a buffer. They read the same counters (the zone
//! statistics of the zones, the pcp counts), so they agree:
//! buddyinfo's blocks, pagetypeinfo's per-type blocks, zoneinfo's
//! `pages free`/`nr_free_pages` and meminfo's `MemFree` are all sums of one
//! set of per-(order, type) counters. Each zone's free counts are taken
//! under its zone lock and formatted after the lock is dropped, so the
//! writer may be slow without holding up allocations, and a line is never
//! a mix of two moments.
//!
//! Only lines that mean something in this kernel are printed: no LRU, slab,
//! page cache, swap or NUMA-event counters, which do not exist yet, rather
//! than zeros that would look like measurements. Otherwise field widths,
//! labels and order follow Linux, so the files can be compared line by line
//! with a Linux machine's.

use core::fmt::{self, Write};

use crate::addr::PAGE_SHIFT;
use crate::hal::Hal;
use crate::page_alloc::{PageAllocator, PgData};
use crate::pcp::NR_CPUS;
use crate::zone::{
    MAX_NR_ZONES, MIGRATE_TYPES, MigrateType, NR_PAGE_ORDERS, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, Zone, ZoneType,
};

/// Pages to kB (Linux's K()).
const fn k(pages: u64) -> u64 {
    pages << (PAGE_SHIFT - 10)
}

/// pagetypeinfo stops counting a list here, as Linux does.
const FREECOUNT_CAP: u64 = 100_000;

/// One meminfo line: label padded to 16, value right-aligned in 8, " kB".
fn show_val_kb(out: &mut impl Write, label: &str, pages: u64) -> fmt::Result {
    writeln!(out, "{label:<16}{:>8} kB", k(pages))
}

impl<H: Hal> PageAllocator<H> {
    /// `/proc/buddyinfo`: free blocks per order of every populated zone.
    ///
    /// ```text
    /// Node 0, zone      DMA      1      0      1      0      2      1      1      0      1      1      3
    /// ```
    pub fn buddyinfo(&self, out: &mut impl Write) -> fmt::Result {
        for pgdat in self.online_nodes() {
            for zone in pgdat.zones().iter().filter(|z| z.is_populated()) {
                let snap = zone.free_snapshot();
                write!(out, "Node {}, zone {:>8} ", pgdat.node_id(), zone.name())?;
                for nr in snap.nr_free {
                    write!(out, "{nr:>6} ")?;
                }
                out.write_char('\n')?;
            }
        }
        Ok(())
    }

    /// `/proc/pagetypeinfo`: per node with memory, the free blocks per
    /// order of each migratetype, then the pageblocks of each migratetype.
    pub fn pagetypeinfo(&self, out: &mut impl Write) -> fmt::Result {
        for pgdat in self.online_nodes().filter(|p| p.node_present_pages() != 0) {
            writeln!(out, "Page block order: {PAGEBLOCK_ORDER}")?;
            writeln!(out, "Pages per block:  {PAGEBLOCK_NR_PAGES}")?;
            out.write_char('\n')?;
            write!(out, "{:<43} ", "Free pages count per migrate type at order")?;
            for order in 0..NR_PAGE_ORDERS {
                write!(out, "{order:>6} ")?;
            }
            out.write_char('\n')?;
            for zone in pgdat.zones().iter().filter(|z| z.is_populated()) {
                let snap = zone.free_snapshot();
                for mt in MigrateType::ALL {
                    write!(out, "Node {:>4}, zone {:>8}, type {:>12} ", pgdat.node_id(), zone.name(), mt.name())?;
                    for by_type in &snap.by_type {
                        let count = by_type[mt as usize];
                        if count >= FREECOUNT_CAP {
                            write!(out, ">{FREECOUNT_CAP:>6} ")?;
                        } else {
                            write!(out, "{count:>6} ")?;
                        }
                    }
                    out.write_char('\n')?;
                }
            }
            write!(out, "\n{:<23}", "Number of blocks type ")?;
            for mt in MigrateType::ALL {
                write!(out, "{:>12} ", mt.name())?;
            }
            out.write_char('\n')?;
            for zone in pgdat.zones().iter().filter(|z| z.is_populated()) {
                let counts = self.pageblock_counts(zone);
                write!(out, "Node {}, zone {:>8} ", pgdat.node_id(), zone.name())?;
                for count in counts {
                    write!(out, "{count:>12} ")?;
                }
                out.write_char('\n')?;
            }
        }
        Ok(())
    }

    /// Pageblocks of each migratetype whose pageblock-aligned page is in `zone`.
    pub fn pageblock_counts(&self, zone: &Zone) -> [u64; MIGRATE_TYPES] {
        let mut counts = [0; MIGRATE_TYPES];
        let map = self.memmap();
        let mut pfn = zone.zone_start_pfn();
        while pfn < zone.zone_end_pfn() {
            if let Some(page) = map.pfn_to_page(crate::Pfn(pfn))
                && page.node() == zone.node()
                && page.zone_type() == zone.zone_type()
                && let Some(mt) = self.pageblock_migratetype(crate::Pfn(pfn))
            {
                counts[mt as usize] += 1;
            }
            pfn += PAGEBLOCK_NR_PAGES;
        }
        counts
    }

    /// `/proc/zoneinfo`: every zone of every node, populated or not.
    pub fn zoneinfo(&self, out: &mut impl Write) -> fmt::Result {
        for pgdat in self.online_nodes() {
            for zone in pgdat.zones() {
                self.zoneinfo_zone(out, pgdat, zone)?;
            }
        }
        Ok(())
    }

    fn zoneinfo_zone(&self, out: &mut impl Write, pgdat: &PgData, zone: &Zone) -> fmt::Result {
        write!(out, "Node {}, zone {:>8}", pgdat.node_id(), zone.name())?;
        let snap = zone.free_snapshot();
        write!(out, "\n  pages free     {}", snap.nr_free_pages)?;
        write!(out, "\n        min      {}", zone.min_wmark_pages())?;
        write!(out, "\n        low      {}", zone.low_wmark_pages())?;
        write!(out, "\n        high     {}", zone.high_wmark_pages())?;
        write!(out, "\n        spanned  {}", zone.spanned_pages())?;
        write!(out, "\n        present  {}", zone.present_pages())?;
        write!(out, "\n        managed  {}", zone.managed_pages())?;
        if zone.cma_pages() != 0 {
            write!(out, "\n        cma      {}", zone.cma_pages())?;
        }
        write!(out, "\n        protection: ({}", zone.lowmem_reserve(ZoneType::Dma))?;
        for zt in &ZoneType::ALL[1..MAX_NR_ZONES] {
            write!(out, ", {}", zone.lowmem_reserve(*zt))?;
        }
        out.write_char(')')?;
        if !zone.is_populated() {
            return out.write_char('\n');
        }
        write!(out, "\n      {:<12} {}", "nr_free_pages", snap.nr_free_pages)?;
        if zone.cma_pages() != 0 {
            write!(out, "\n      {:<12} {}", "nr_free_cma", zone.free_cma_pages())?;
        }
        write!(out, "\n  pagesets")?;
        for cpu in 0..self.nr_cpus().min(NR_CPUS) {
            let pcp = zone.pcp_stats(cpu);
            write!(out, "\n    cpu: {cpu}")?;
            write!(out, "\n              count:    {}", pcp.count)?;
            write!(out, "\n              high:     {}", pcp.high)?;
            write!(out, "\n              batch:    {}", pcp.batch)?;
        }
        write!(out, "\n  start_pfn:           {}", zone.zone_start_pfn())?;
        out.write_char('\n')
    }

    /// MemAvailable (si_mem_available): free pages minus the reserves. The
    /// page-cache and reclaimable-slab terms are zero until those exist.
    pub fn si_mem_available(&self) -> u64 {
        self.nr_free_pages().saturating_sub(self.totalreserve_pages())
    }

    /// `/proc/meminfo`, the lines that apply.
    ///
    /// ```text
    /// MemTotal:        1012312 kB
    /// MemFree:          987520 kB
    /// MemAvailable:     951204 kB
    /// ```
    pub fn meminfo(&self, out: &mut impl Write) -> fmt::Result {
        show_val_kb(out, "MemTotal:", self.totalram_pages())?;
        show_val_kb(out, "MemFree:", self.nr_free_pages())?;
        show_val_kb(out, "MemAvailable:", self.si_mem_available())?;
        let cma_total: u64 = self.all_zones().map(Zone::cma_pages).sum();
        if cma_total != 0 {
            show_val_kb(out, "CmaTotal:", cma_total)?;
            show_val_kb(out, "CmaFree:", self.all_zones().map(Zone::free_cma_pages).sum())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::Pfn;
    use crate::gfp::Gfp;
    use crate::memblock::NodeId;
    use crate::test_support::*;
    use crate::zone::ZoneType;

    const B: u64 = 0x40000;

    fn machine() -> PageAllocator {
        let nodes = [
            NodeSpec { nid: 0, zones: [(B, B + 4096), (0, 0), (B + 4096, B + 8192), (0, 0)] },
            NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 8192, B + 12_288), (0, 0)] },
        ];
        build(&nodes, &[(B, B + 12_288)], &[0, 1])
    }

    #[test]
    fn buddyinfo_format() {
        let pa = machine();
        let mut s = String::new();
        pa.buddyinfo(&mut s).unwrap();
        let expected = "\
Node 0, zone      DMA      0      0      0      0      0      0      0      0      0      0      4 
Node 0, zone   Normal      0      0      0      0      0      0      0      0      0      0      4 
Node 1, zone   Normal      0      0      0      0      0      0      0      0      0      0      4 
";
        assert_eq!(s, expected);
        let p = pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA, 0).unwrap();
        s.clear();
        pa.buddyinfo(&mut s).unwrap();
        // batch 1 in the DMA zone: exactly one page taken, split 10 -> 0.
        assert!(s.starts_with(
            "Node 0, zone      DMA      1      1      1      1      1      1      1      1      1      1      3 \n"
        ));
        pa.test_free_pages(0, p, 0);
    }

    #[test]
    fn pagetypeinfo_format() {
        let pa = machine();
        let _p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        let mut s = String::new();
        pa.pagetypeinfo(&mut s).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Page block order: 9");
        assert_eq!(lines[1], "Pages per block:  512");
        assert_eq!(lines[2], "");
        assert_eq!(
            lines[3],
            "Free pages count per migrate type at order       0      1      2      3      4      5      6      7      8      9     10 "
        );
        assert_eq!(
            lines[4],
            "Node    0, zone      DMA, type    Unmovable      0      0      0      0      0      0      0      0      0      0      0 "
        );
        assert_eq!(
            lines[5],
            "Node    0, zone      DMA, type      Movable      0      0      0      0      0      0      0      0      0      0      4 "
        );
        assert!(lines[10].starts_with("Node    0, zone   Normal, type    Unmovable"));
        assert_eq!(lines[16], "");
        assert_eq!(
            lines[17],
            "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic          CMA      Isolate "
        );
        assert_eq!(
            lines[18],
            "Node 0, zone      DMA            0            8            0            0            0            0 "
        );
        assert_eq!(
            lines[19],
            "Node 0, zone   Normal            2            6            0            0            0            0 "
        );
        assert_eq!(lines[20], "Page block order: 9", "node 1 repeats the header");
    }

    #[test]
    fn zoneinfo_format() {
        let pa = machine();
        let mut s = String::new();
        pa.zoneinfo(&mut s).unwrap();
        let dma = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Dma);
        let expected_dma = format!(
            "Node 0, zone      DMA\n  pages free     4096\n        min      {}\n        low      {}\n        high     {}\n        spanned  4096\n        present  4096\n        managed  4096\n        protection: (0, 0, {}, {})\n      nr_free_pages 4096\n  pagesets\n    cpu: 0\n              count:    0\n              high:     {}\n              batch:    1\n    cpu: 1\n              count:    0\n              high:     {}\n              batch:    1\n  start_pfn:           {}\n",
            dma.min_wmark_pages(),
            dma.low_wmark_pages(),
            dma.high_wmark_pages(),
            4096 / 256,
            4096 / 256,
            dma.pcp_stats(0).high,
            dma.pcp_stats(1).high,
            B
        );
        assert!(s.starts_with(&expected_dma), "{s}");
        assert!(s.contains("Node 0, zone    DMA32\n  pages free     0\n"));
        assert!(s.contains("        protection: (0, 0, 0, 0)\nNode 0, zone   Normal\n"));
        assert_eq!(s.matches("Node 1, zone").count(), 4);
    }

    #[test]
    fn meminfo_format_and_agreement() {
        let pa = machine();
        let held: Vec<Pfn> = (0..10).map(|_| pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap()).collect();
        let mut s = String::new();
        pa.meminfo(&mut s).unwrap();
        let free_kb = pa.nr_free_pages() * 4;
        let avail_kb = pa.nr_free_pages().saturating_sub(pa.totalreserve_pages()) * 4;
        assert_eq!(
            s,
            format!("MemTotal:          49152 kB\nMemFree:        {free_kb:>8} kB\nMemAvailable:   {avail_kb:>8} kB\n")
        );
        // The same counters everywhere: buddyinfo and zoneinfo sums equal MemFree.
        let mut b = String::new();
        pa.buddyinfo(&mut b).unwrap();
        let buddy_pages: u64 = b
            .lines()
            .map(|l| l.split_whitespace().skip(4).enumerate().map(|(o, n)| n.parse::<u64>().unwrap() << o).sum::<u64>())
            .sum();
        assert_eq!(buddy_pages * 4, free_kb);
        let mut z = String::new();
        pa.zoneinfo(&mut z).unwrap();
        let zone_free: u64 =
            z.lines().filter_map(|l| l.strip_prefix("  pages free     ")).map(|n| n.parse::<u64>().unwrap()).sum();
        assert_eq!(zone_free * 4, free_kb);
        let mut t = String::new();
        pa.pagetypeinfo(&mut t).unwrap();
        let type_pages: u64 = t
            .lines()
            .filter(|l| l.contains(", type "))
            .map(|l| {
                l.split(", type ")
                    .nth(1)
                    .unwrap()
                    .split_whitespace()
                    .skip(1)
                    .enumerate()
                    .map(|(o, n)| n.parse::<u64>().unwrap() << o)
                    .sum::<u64>()
            })
            .sum();
        assert_eq!(type_pages * 4, free_kb);
        for p in held {
            pa.test_free_pages(0, p, 2);
        }
    }

    #[test]
    fn show_mem_lines() {
        let pa = machine();
        let mut s = String::new();
        let p = pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA, 3).unwrap();
        pa.show_mem(0, &mut s, ZoneType::Normal).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[0], "Mem-Info:");
        assert_eq!(lines[1], format!("free:{} free_pcp:0 free_cma:0", pa.nr_free_pages()));
        assert!(lines[2].starts_with("Node 0 DMA free:16352kB min:"));
        assert!(lines[3].starts_with("lowmem_reserve[]: 0 0 16 16"));
        assert_eq!(
            lines[8],
            "Node 0 DMA: 0*4kB 0*8kB 0*16kB 1*32kB (U) 1*64kB (U) 1*128kB (U) 1*256kB (U) 1*512kB (U) 1*1024kB (U) 1*2048kB (U) 3*4096kB (M) = 16352kB"
        );
        assert_eq!(lines[11], "12288 pages RAM");
        assert_eq!(lines[12], "0 pages reserved");
        s.clear();
        pa.show_mem(0, &mut s, ZoneType::Dma).unwrap();
        assert!(!s.contains("Normal"));
        pa.test_free_pages(0, p, 3);
        take_log();
        pa.show_mem_log(0, ZoneType::Dma);
        let log = take_log();
        assert_eq!(log[0], "Mem-Info:");
        assert_eq!(log.len(), 7);
    }
}
