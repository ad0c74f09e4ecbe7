//! Where the zones begin and end, by Linux arm64's rules (arch/arm64/mm/init.c
//! zone_sizes_init, mm/mm_init.c free_area_init and
//! find_zone_movable_pfns_for_nodes).
//!
//! ```text
//!   ZONE_DMA     up to max_zone_phys(min(32, bits of the lowest dma-ranges end))
//!                (30 bits on a Pi 4; on virt, with no dma-ranges, 32 bits:
//!                all RAM below 4 GiB)
//!   ZONE_DMA32   up to max_zone_phys(32)           (empty when DMA reaches it)
//!   ZONE_NORMAL  up to the end of memory
//!   ZONE_MOVABLE the top of each node's highest zone, when kernelcore= or
//!                movablecore= ask for it
//! ```
//! `max_zone_phys(bits)` is the end of the `bits`-bit window, widened to 4 GiB
//! when RAM starts above the window and to everything when RAM starts above
//! 4 GiB, and capped at the end of RAM.

use crate::pr_info;
use bootdata::cmdline::{CoreSize, Params};
use mm::memblock::Memblock;
use mm::{PAGE_SHIFT, Pfn};

/// ZONE_DMA, ZONE_DMA32, ZONE_NORMAL, ZONE_MOVABLE.
pub const MAX_NR_ZONES: usize = 4;
/// Linux's zone names, in zone order.
pub const ZONE_NAMES: [&str; MAX_NR_ZONES] = ["DMA", "DMA32", "Normal", "Movable"];
/// Nodes the kernel supports.
pub const MAX_NUMNODES: usize = 64;
/// ZONE_MOVABLE starts are rounded up to this many pages (MAX_ORDER_NR_PAGES).
const MAX_ORDER_NR_PAGES: u64 = 1 << 10;

/// The zone boundaries for the whole machine.
#[derive(Clone, Debug)]
pub struct ZoneLimits {
    /// Highest PFN (exclusive) of each of DMA, DMA32, Normal (Linux's max_zone_pfn).
    pub max_zone_pfn: [u64; 3],
    /// Lowest and highest PFN (exclusive) each zone may span (arch_zone_*_possible_pfn).
    pub zone_range: [(u64, u64); 3],
    /// Per node: the PFN where ZONE_MOVABLE starts, 0 if none.
    pub zone_movable_pfn: [u64; MAX_NUMNODES],
    /// The zone ZONE_MOVABLE takes its pages from (the highest populated).
    pub movable_zone: usize,
}

/// Linux's max_zone_phys.
fn max_zone_phys(bits: u32, dram_start: u64, dram_end: u64) -> u64 {
    let mut mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    if dram_start > u32::MAX as u64 {
        mask = u64::MAX;
    } else if dram_start > mask {
        mask = u32::MAX as u64;
    }
    mask.min(dram_end - 1) + 1
}

/// Bits needed for `addr` (Linux's fls64).
fn fls64(addr: u64) -> u32 {
    64 - addr.leading_zeros()
}

/// Compute the zone limits (zone_sizes_init + the movable zone).
pub fn compute(mb: &Memblock, dma_max_cpu_addr: Option<u64>, params: &Params) -> ZoneLimits {
    let (start, end) = (mb.start_of_dram().as_u64(), mb.end_of_dram().as_u64());
    let dt_bits = dma_max_cpu_addr.map_or(64, fls64);
    let zone_dma_bits = 32.min(dt_bits);
    let dma = max_zone_phys(zone_dma_bits, start, end) >> PAGE_SHIFT;
    let dma32 = max_zone_phys(32, start, end) >> PAGE_SHIFT;
    let max_pfn = end >> PAGE_SHIFT;
    let max_zone_pfn = [dma, dma32, max_pfn];
    // arch_zone_lowest/highest_possible_pfn: each zone starts where the
    // previous one ended; the first at the lowest PFN with memory.
    let mut zone_range = [(0, 0); 3];
    let mut lo = start >> PAGE_SHIFT;
    for (i, &hi) in max_zone_pfn.iter().enumerate() {
        let hi = hi.max(lo);
        zone_range[i] = (lo, hi);
        lo = hi;
    }
    let movable_zone = (0..3).rev().find(|&z| zone_range[z].0 < zone_range[z].1).unwrap_or(0);
    let mut limits = ZoneLimits { max_zone_pfn, zone_range, zone_movable_pfn: [0; MAX_NUMNODES], movable_zone };
    find_zone_movable_pfns(mb, params, &mut limits);
    limits
}

/// Linux's find_zone_movable_pfns_for_nodes, for kernelcore=/movablecore=
/// given as a size or a percentage: the kernel's share is spread evenly
/// over the nodes, counted from the bottom of each node; the rest of the
/// movable zone's range is ZONE_MOVABLE.
fn find_zone_movable_pfns(mb: &Memblock, params: &Params, limits: &mut ZoneLimits) {
    let total_pages = mb.phys_mem_size() >> PAGE_SHIFT;
    let pages = |c: CoreSize| match c {
        CoreSize::Bytes(b) => b >> PAGE_SHIFT,
        CoreSize::Percent(p) => total_pages * p as u64 / 100,
    };
    let kernelcore = match (params.kernelcore, params.movablecore) {
        (Some(k), _) => pages(k),
        (None, Some(m)) => total_pages.saturating_sub(pages(m)),
        (None, None) => return,
    };
    if kernelcore >= total_pages {
        return;
    }
    let usable_start = limits.zone_range[limits.movable_zone].0;
    let mut nodes = [false; MAX_NUMNODES];
    for r in mb.memory().regions() {
        nodes[(r.nid.0.max(0) as usize).min(MAX_NUMNODES - 1)] = true;
    }
    let nr_nodes = nodes.iter().filter(|&&n| n).count().max(1) as u64;
    let per_node = kernelcore.div_ceil(nr_nodes);
    for (nid, _) in nodes.iter().enumerate().filter(|(_, on)| **on) {
        let mut kept = 0u64;
        let mut movable_start = 0u64;
        for (s, e, _) in mb.for_each_mem_pfn_range(mm::memblock::NodeId(nid as i32)) {
            let (s, e) = (s.0, e.0);
            if kept >= per_node {
                movable_start = s;
                break;
            }
            // Pages below the movable zone's range are kernel memory anyway.
            let need = per_node - kept;
            if e - s <= need || e <= usable_start {
                kept += e - s;
                continue;
            }
            movable_start = (s + need).max(usable_start.min(e));
            break;
        }
        if movable_start != 0 {
            limits.zone_movable_pfn[nid] = movable_start.next_multiple_of(MAX_ORDER_NR_PAGES);
        }
    }
}

/// Print Linux's free_area_init lines.
pub fn print(mb: &Memblock, limits: &ZoneLimits) {
    pr_info!("Zone ranges:");
    for (i, &(lo, hi)) in limits.zone_range.iter().enumerate() {
        if lo == hi {
            pr_info!("  {:<8} empty", ZONE_NAMES[i]);
        } else {
            pr_info!("  {:<8} [mem {:#018x}-{:#018x}]", ZONE_NAMES[i], lo << PAGE_SHIFT, (hi << PAGE_SHIFT) - 1);
        }
    }
    pr_info!("Movable zone start for each node");
    for (nid, &pfn) in limits.zone_movable_pfn.iter().enumerate() {
        if pfn != 0 {
            pr_info!("  Node {}: {:#018x}", nid, pfn << PAGE_SHIFT);
        }
    }
    pr_info!("Early memory node ranges");
    for (s, e, nid) in mb.for_each_mem_pfn_range(mm::memblock::NUMA_NO_NODE) {
        pr_info!("  node {:>3}: [mem {:#018x}-{:#018x}]", nid.0, s.0 << PAGE_SHIFT, (e.0 << PAGE_SHIFT) - 1);
    }
    for nid in 0..MAX_NUMNODES {
        if let Some((s, e)) = node_span(mb, nid) {
            pr_info!("Initmem setup node {} [mem {:#018x}-{:#018x}]", nid, s.0 << PAGE_SHIFT, (e.0 << PAGE_SHIFT) - 1);
        }
    }
}

/// The PFN span [start, end) of node `nid`'s memory.
pub fn node_span(mb: &Memblock, nid: usize) -> Option<(Pfn, Pfn)> {
    let mut span: Option<(Pfn, Pfn)> = None;
    for (s, e, _) in mb.for_each_mem_pfn_range(mm::memblock::NodeId(nid as i32)) {
        span = Some(match span {
            None => (s, e),
            Some((a, b)) => (a.min(s), b.max(e)),
        });
    }
    span
}
