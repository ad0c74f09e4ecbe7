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
//! Every line Linux 6.12 prints is printed, in its order and widths, so the
//! files can be fed to what reads a Linux machine's and compared with them
//! line by line (the boot tests do, against Debian's arm64 kernel's). A
//! counter this kernel does not keep (LRU lists, page cache, swap, THP,
//! NUMA hit accounting, per-CPU vmstat thresholds) prints 0, as on a Linux
//! machine that never used the feature; the rest are real, the counters
//! kept outside the page allocator coming in a [`MemCounters`].
//!
//! Linux's arm64 configuration has a fifth zone, ZONE_DEVICE, which only
//! device memory (never RAM) populates: this kernel has no such memory and
//! no such zone, and prints it as Linux prints it on these machines, empty.

use core::fmt::{self, Write};

use crate::addr::PAGE_SHIFT;
use crate::hal::Hal;
use crate::page_alloc::PageAllocator;
use crate::pcp::NR_CPUS;
use crate::vmstat::{MemCounters, NODE_STAT_NAMES, NUMA_EVENT_NAMES, ZONE_STAT_NAMES};
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

    /// `/proc/zoneinfo`: every zone of every node, populated or not, and
    /// the empty Device zone after them.
    pub fn zoneinfo(&self, out: &mut impl Write, c: &MemCounters) -> fmt::Result {
        for pgdat in self.online_nodes() {
            let first_populated = pgdat.zones().iter().position(Zone::is_populated);
            for (i, zone) in pgdat.zones().iter().enumerate() {
                write!(out, "Node {}, zone {:>8}", pgdat.node_id(), zone.name())?;
                if first_populated == Some(i) {
                    let node = c.node(pgdat.node_id().0 as usize);
                    write!(out, "\n  per-node stats")?;
                    for name in NODE_STAT_NAMES {
                        write!(out, "\n      {name:<12} {}", node.get(name))?;
                    }
                }
                self.zoneinfo_zone(out, zone)?;
            }
            write!(out, "Node {}, zone {:>8}", pgdat.node_id(), "Device")?;
            zoneinfo_watermarks(out, [0; 10])?;
            writeln!(out, "\n        protection: (0, 0, 0, 0, 0)")?;
        }
        Ok(())
    }

    fn zoneinfo_zone(&self, out: &mut impl Write, zone: &Zone) -> fmt::Result {
        let snap = zone.free_snapshot();
        let (min, low, high) = (zone.min_wmark_pages(), zone.low_wmark_pages(), zone.high_wmark_pages());
        zoneinfo_watermarks(
            out,
            [
                snap.nr_free_pages,
                zone.watermark_boost.load(core::sync::atomic::Ordering::Relaxed),
                min,
                low,
                high,
                // WMARK_PROMO: one more step of the low-to-high distance.
                high + (high - low),
                zone.spanned_pages(),
                zone.present_pages(),
                zone.managed_pages(),
                zone.cma_pages(),
            ],
        )?;
        write!(out, "\n        protection: ({}", zone.lowmem_reserve(ZoneType::Dma))?;
        for zt in &ZoneType::ALL[1..MAX_NR_ZONES] {
            write!(out, ", {}", zone.lowmem_reserve(*zt))?;
        }
        // The Device column: the pages of every zone above, as Movable's,
        // since Device adds none; a zone's own and lower columns are 0.
        let device = if zone.zone_type() < ZoneType::Movable { zone.lowmem_reserve(ZoneType::Movable) } else { 0 };
        write!(out, ", {device})")?;
        if !zone.is_populated() {
            return out.write_char('\n');
        }
        for name in ZONE_STAT_NAMES {
            let v = match name {
                "nr_free_pages" => snap.nr_free_pages,
                "nr_free_cma" => zone.free_cma_pages(),
                _ => 0,
            };
            write!(out, "\n      {name:<12} {v}")?;
        }
        for name in NUMA_EVENT_NAMES {
            write!(out, "\n      {name:<12} 0")?;
        }
        write!(out, "\n  pagesets")?;
        for cpu in 0..self.nr_cpus().min(NR_CPUS) {
            let pcp = zone.pcp_stats(cpu);
            write!(out, "\n    cpu: {cpu}")?;
            write!(out, "\n              count: {}", pcp.count)?;
            write!(out, "\n              high:  {}", pcp.high)?;
            write!(out, "\n              batch: {}", pcp.batch)?;
            // The per-CPU vmstat threshold: this kernel's counters have no
            // per-CPU deltas to fold, so none.
            write!(out, "\n  vm stats threshold: 0")?;
        }
        // No reclaim, so kswapd never gave up on the node.
        write!(out, "\n  node_unreclaimable:  0")?;
        write!(out, "\n  start_pfn:           {}", zone.zone_start_pfn())?;
        out.write_char('\n')
    }

    /// MemAvailable (si_mem_available): free pages minus the reserves. The
    /// page-cache and reclaimable-slab terms are zero until those exist.
    pub fn si_mem_available(&self) -> u64 {
        self.nr_free_pages().saturating_sub(self.totalreserve_pages())
    }

    /// A machine-wide zone counter of /proc/vmstat by its name: the free
    /// and free CMA pages; 0 for the LRU and other counters not kept.
    pub fn global_zone_stat(&self, name: &str) -> u64 {
        match name {
            "nr_free_pages" => self.nr_free_pages(),
            "nr_free_cma" => self.all_zones().map(Zone::free_cma_pages).sum(),
            _ => 0,
        }
    }

    /// `/proc/meminfo`: Linux 6.12's 53 lines (arm64, Debian's
    /// configuration).
    ///
    /// ```text
    /// MemTotal:        1012312 kB
    /// MemFree:          987520 kB
    /// MemAvailable:     951204 kB
    /// Buffers:               0 kB
    /// ...
    /// ```
    pub fn meminfo(&self, out: &mut impl Write, c: &MemCounters) -> fmt::Result {
        use Meminfo::{Count, Kb, Pages};
        let t = &c.total;
        let cma_free: u64 = self.all_zones().map(Zone::free_cma_pages).sum();
        // One call a line, not a table: the shell prints this from the boot
        // stack, where a 53-entry array would be a large frame.
        meminfo_line(out, "MemTotal:", Pages(self.totalram_pages()))?;
        meminfo_line(out, "MemFree:", Pages(self.nr_free_pages()))?;
        meminfo_line(out, "MemAvailable:", Pages(self.si_mem_available()))?;
        meminfo_line(out, "Buffers:", Pages(0))?;
        // Shared memory is the only file memory (no page cache).
        meminfo_line(out, "Cached:", Pages(t.shmem))?;
        meminfo_line(out, "SwapCached:", Pages(0))?;
        meminfo_line(out, "Active:", Pages(0))?;
        meminfo_line(out, "Inactive:", Pages(0))?;
        meminfo_line(out, "Active(anon):", Pages(0))?;
        meminfo_line(out, "Inactive(anon):", Pages(0))?;
        meminfo_line(out, "Active(file):", Pages(0))?;
        meminfo_line(out, "Inactive(file):", Pages(0))?;
        meminfo_line(out, "Unevictable:", Pages(0))?;
        meminfo_line(out, "Mlocked:", Pages(0))?;
        meminfo_line(out, "SwapTotal:", Pages(0))?;
        meminfo_line(out, "SwapFree:", Pages(0))?;
        meminfo_line(out, "Zswap:", Pages(0))?;
        meminfo_line(out, "Zswapped:", Pages(0))?;
        meminfo_line(out, "Dirty:", Pages(0))?;
        meminfo_line(out, "Writeback:", Pages(0))?;
        meminfo_line(out, "AnonPages:", Pages(t.anon_pages))?;
        meminfo_line(out, "Mapped:", Pages(0))?;
        meminfo_line(out, "Shmem:", Pages(t.shmem))?;
        meminfo_line(out, "KReclaimable:", Pages(t.slab_reclaimable))?;
        meminfo_line(out, "Slab:", Pages(t.slab_reclaimable + t.slab_unreclaimable))?;
        meminfo_line(out, "SReclaimable:", Pages(t.slab_reclaimable))?;
        meminfo_line(out, "SUnreclaim:", Pages(t.slab_unreclaimable))?;
        meminfo_line(out, "KernelStack:", Kb(t.kernel_stack_kb))?;
        meminfo_line(out, "PageTables:", Pages(t.page_table_pages))?;
        meminfo_line(out, "SecPageTables:", Pages(0))?;
        meminfo_line(out, "NFS_Unstable:", Pages(0))?;
        meminfo_line(out, "Bounce:", Pages(0))?;
        meminfo_line(out, "WritebackTmp:", Pages(0))?;
        // vm_commit_limit: half the RAM (overcommit_ratio 50), no swap.
        meminfo_line(out, "CommitLimit:", Pages(self.totalram_pages() * 50 / 100))?;
        meminfo_line(out, "Committed_AS:", Pages(c.committed_pages))?;
        meminfo_line(out, "VmallocTotal:", Kb(c.vmalloc_total >> 10))?;
        meminfo_line(out, "VmallocUsed:", Pages(c.vmalloc_pages))?;
        // Linux stopped computing VmallocChunk in 5.3 and prints 0.
        meminfo_line(out, "VmallocChunk:", Pages(0))?;
        meminfo_line(out, "Percpu:", Kb(c.percpu_bytes >> 10))?;
        meminfo_line(out, "HardwareCorrupted:", Pages(0))?;
        meminfo_line(out, "AnonHugePages:", Pages(0))?;
        meminfo_line(out, "ShmemHugePages:", Pages(0))?;
        meminfo_line(out, "ShmemPmdMapped:", Pages(0))?;
        meminfo_line(out, "FileHugePages:", Pages(0))?;
        meminfo_line(out, "FilePmdMapped:", Pages(0))?;
        meminfo_line(out, "CmaTotal:", Pages(self.all_zones().map(Zone::cma_pages).sum()))?;
        meminfo_line(out, "CmaFree:", Pages(cma_free))?;
        meminfo_line(out, "HugePages_Total:", Count(0))?;
        meminfo_line(out, "HugePages_Free:", Count(0))?;
        meminfo_line(out, "HugePages_Rsvd:", Count(0))?;
        meminfo_line(out, "HugePages_Surp:", Count(0))?;
        // The PMD size, the only huge page size with 4 KiB pages here.
        meminfo_line(out, "Hugepagesize:", Kb(2048))?;
        meminfo_line(out, "Hugetlb:", Pages(0))?;
        Ok(())
    }
}

/// One meminfo line in Linux's widths.
fn meminfo_line(out: &mut impl Write, label: &str, v: Meminfo) -> fmt::Result {
    match v {
        // Its label is wider than 16: Linux gives the value 5 columns after
        // one space (`HardwareCorrupted: %5lu kB`).
        Meminfo::Pages(p) if label == "HardwareCorrupted:" => writeln!(out, "{label} {:>5} kB", k(p)),
        Meminfo::Pages(p) => show_val_kb(out, label, p),
        Meminfo::Kb(kb) => writeln!(out, "{label:<16}{kb:>8} kB"),
        Meminfo::Count(n) => writeln!(out, "{label:<16}{n:>8}"),
    }
}

/// A meminfo value: pages (printed in kB), already kB, or a bare count.
#[derive(Clone, Copy)]
enum Meminfo {
    Pages(u64),
    Kb(u64),
    Count(u64),
}

/// zoneinfo's free and watermark lines: pages free, boost, min, low, high,
/// promo, spanned, present, managed, cma.
fn zoneinfo_watermarks(out: &mut impl Write, v: [u64; 10]) -> fmt::Result {
    const LABELS: [&str; 10] = [
        "\n  pages free     ",
        "\n        boost    ",
        "\n        min      ",
        "\n        low      ",
        "\n        high     ",
        "\n        promo    ",
        "\n        spanned  ",
        "\n        present  ",
        "\n        managed  ",
        "\n        cma      ",
    ];
    for (label, v) in LABELS.iter().zip(v) {
        write!(out, "{label}{v}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::Pfn;
    use crate::gfp::Gfp;
    use crate::memblock::NodeId;
    use crate::test_support::*;
    use crate::vmstat::{MemCounters, NODE_STAT_NAMES, NUMA_EVENT_NAMES, ZONE_STAT_NAMES};
    use crate::zone::ZoneType;

    const B: u64 = 0x40000;

    fn machine() -> PageAllocator {
        two_node_machine()
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
        let mut c = MemCounters::default();
        c.total.slab_unreclaimable = 7;
        c.totals_node = Some(0);
        let mut s = String::new();
        pa.zoneinfo(&mut s, &c).unwrap();
        let dma = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Dma);
        let (min, low, high) = (dma.min_wmark_pages(), dma.low_wmark_pages(), dma.high_wmark_pages());
        let mut expected = String::from("Node 0, zone      DMA\n  per-node stats\n");
        for name in NODE_STAT_NAMES {
            let v = if name == "nr_slab_unreclaimable" { 7 } else { 0 };
            expected += &format!("      {name:<12} {v}\n");
        }
        expected += &format!(
            "  pages free     4096\n        boost    0\n        min      {min}\n        low      {low}\n        high     {high}\n        promo    {}\n        spanned  4096\n        present  4096\n        managed  4096\n        cma      0\n        protection: (0, 0, {}, {}, {})\n",
            high + high - low,
            4096 / 256,
            4096 / 256,
            4096 / 256,
        );
        for name in ZONE_STAT_NAMES {
            expected += &format!("      {name:<12} {}\n", if name == "nr_free_pages" { 4096 } else { 0 });
        }
        for name in NUMA_EVENT_NAMES {
            expected += &format!("      {name:<12} 0\n");
        }
        expected += &format!(
            "  pagesets\n    cpu: 0\n              count: 0\n              high:  {}\n              batch: 1\n  vm stats threshold: 0\n    cpu: 1\n              count: 0\n              high:  {}\n              batch: 1\n  vm stats threshold: 0\n  node_unreclaimable:  0\n  start_pfn:           {B}\n",
            dma.pcp_stats(0).high,
            dma.pcp_stats(1).high,
        );
        assert!(s.starts_with(&expected), "{s}");
        assert!(s.contains("Node 0, zone    DMA32\n  pages free     0\n        boost    0\n"));
        assert!(s.contains("        protection: (0, 0, 0, 0, 0)\nNode 0, zone   Normal\n"));
        assert!(s.contains("Node 0, zone   Device\n  pages free     0\n"));
        // Node 1's first populated zone (Normal) carries its per-node stats.
        assert_eq!(s.matches("  per-node stats").count(), 2);
        assert_eq!(s.matches("Node 1, zone").count(), 5);
        assert!(s.ends_with("        protection: (0, 0, 0, 0, 0)\n"));
    }

    #[test]
    fn meminfo_format_and_agreement() {
        let pa = machine();
        let held: Vec<Pfn> = (0..10).map(|_| pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap()).collect();
        let mut c = MemCounters::default();
        c.total.slab_reclaimable = 1;
        c.total.slab_unreclaimable = 2;
        c.total.kernel_stack_kb = 48;
        let mut s = String::new();
        pa.meminfo(&mut s, &c).unwrap();
        let free_kb = pa.nr_free_pages() * 4;
        let avail_kb = pa.nr_free_pages().saturating_sub(pa.totalreserve_pages()) * 4;
        assert!(
            s.starts_with(&format!(
                "MemTotal:          49152 kB\nMemFree:        {free_kb:>8} kB\nMemAvailable:   {avail_kb:>8} kB\nBuffers:               0 kB\n"
            )),
            "{s}"
        );
        assert_eq!(s.lines().count(), 53);
        assert!(s.contains("\nSlab:                 12 kB\nSReclaimable:          4 kB\nSUnreclaim:            8 kB\nKernelStack:          48 kB\n"));
        assert!(s.contains("\nHardwareCorrupted:     0 kB\n"));
        assert!(s.contains("\nCommitLimit:       24576 kB\n"));
        assert!(s.ends_with("HugePages_Surp:        0\nHugepagesize:       2048 kB\nHugetlb:               0 kB\n"));
        // The same counters everywhere: buddyinfo and zoneinfo sums equal MemFree.
        let mut b = String::new();
        pa.buddyinfo(&mut b).unwrap();
        let buddy_pages: u64 = b
            .lines()
            .map(|l| l.split_whitespace().skip(4).enumerate().map(|(o, n)| n.parse::<u64>().unwrap() << o).sum::<u64>())
            .sum();
        assert_eq!(buddy_pages * 4, free_kb);
        let mut z = String::new();
        pa.zoneinfo(&mut z, &c).unwrap();
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
