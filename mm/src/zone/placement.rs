//! Where the zones begin and end, by Linux arm64's rules (arch/arm64/mm/init.c
//! zone_sizes_init, mm/mm_init.c free_area_init and
//! find_zone_movable_pfns_for_nodes).
//!
//! ```text
//!   ZONE_DMA     up to max_zone_phys(min(32, bits of the lowest dma-ranges end))
//!                (30 bits on a Pi 4; with no dma-ranges, 32 bits: all RAM
//!                below 4 GiB)
//!   ZONE_DMA32   up to max_zone_phys(32)           (empty when DMA reaches it)
//!   ZONE_NORMAL  up to the end of memory
//!   ZONE_MOVABLE the top of each node's highest zone, when kernelcore= or
//!                movablecore= ask for it
//! ```
//!
//! `max_zone_phys(bits)` is the end of the `bits`-bit window, widened to 4 GiB
//! when RAM starts above the window and to everything when RAM starts above
//! 4 GiB, and capped at the end of RAM.
//!
//! The input is memblock's `memory` array and the two command-line values,
//! all of which come from outside (the device tree, the user): every
//! combination gives sane limits. No memory gives empty zones; a kernelcore
//! of zero or of all memory, a movablecore of nothing or of more than
//! memory, gives no ZONE_MOVABLE (Linux does the same: the kernel must keep
//! memory it can allocate from); sizes near `u64::MAX` do not overflow.
//!
//! Differences from Linux: with both `kernelcore=` and `movablecore=`,
//! `kernelcore=` wins (Linux takes the larger kernel share); `mirror` is not
//! accepted.

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::config::{MAX_NR_ZONES, MAX_NUMNODES, MAX_ORDER_NR_PAGES, NodeId};
use crate::memblock::MemblockRegion;
use crate::mmzone::ZoneType;

/// A `kernelcore=` or `movablecore=` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreSize {
    /// An absolute size in bytes.
    Bytes(u64),
    /// A percentage of all memory (`nn%`); above 100 reads as 100.
    Percent(u8),
}

/// The zone boundaries for the whole machine.
#[derive(Clone, Debug, PartialEq, Eq)]
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

/// Linux's max_zone_phys (`dram_end > 0`).
fn max_zone_phys(bits: u32, dram_start: u64, dram_end: u64) -> u64 {
    let mut mask = if bits >= 64 { u64::MAX } else { (1u64 << bits) - 1 };
    if dram_start > u32::MAX as u64 {
        mask = u64::MAX;
    } else if dram_start > mask {
        mask = u32::MAX as u64;
    }
    mask.min(dram_end - 1).saturating_add(1)
}

/// Bits needed for `addr` (Linux's fls64).
fn fls64(addr: u64) -> u32 {
    64 - addr.leading_zeros()
}

/// Whole pages of the regions of node `nid`, as memblock's
/// for_each_mem_pfn_range(nid) gives them.
fn node_pfn_ranges(memory: &[MemblockRegion], nid: NodeId) -> impl Iterator<Item = (u64, u64)> + '_ {
    memory.iter().filter_map(move |r| {
        let start = r.base.0.div_ceil(PAGE_SIZE);
        let end = r.end().0 >> PAGE_SHIFT;
        (start < end && r.nid == nid).then_some((start, end))
    })
}

impl ZoneLimits {
    /// The limits for memory `memory` (memblock's sorted `memory` array), the
    /// lowest end of the device tree's dma-ranges, and kernelcore=/movablecore=
    /// (zone_sizes_init plus find_zone_movable_pfns_for_nodes).
    pub fn compute(
        memory: &[MemblockRegion],
        dma_max_cpu_addr: Option<u64>,
        kernelcore: Option<CoreSize>,
        movablecore: Option<CoreSize>,
    ) -> ZoneLimits {
        let mut limits = ZoneLimits {
            max_zone_pfn: [0; 3],
            zone_range: [(0, 0); 3],
            zone_movable_pfn: [0; MAX_NUMNODES],
            movable_zone: 0,
        };
        let (Some(first), Some(last)) = (memory.first(), memory.last()) else {
            return limits;
        };
        let (start, end) = (first.base.0, last.end().0);
        if end == 0 {
            return limits;
        }
        let dt_bits = dma_max_cpu_addr.map_or(64, fls64);
        let zone_dma_bits = 32.min(dt_bits);
        let dma = max_zone_phys(zone_dma_bits, start, end) >> PAGE_SHIFT;
        let dma32 = max_zone_phys(32, start, end) >> PAGE_SHIFT;
        let max_pfn = end >> PAGE_SHIFT;
        limits.max_zone_pfn = [dma, dma32, max_pfn];
        // arch_zone_lowest/highest_possible_pfn: each zone starts where the
        // previous one ended; the first at the lowest PFN with memory.
        let mut lo = start >> PAGE_SHIFT;
        for (i, &hi) in limits.max_zone_pfn.iter().enumerate() {
            let hi = hi.max(lo);
            limits.zone_range[i] = (lo, hi);
            lo = hi;
        }
        limits.movable_zone = (0..3).rev().find(|&z| limits.zone_range[z].0 < limits.zone_range[z].1).unwrap_or(0);
        limits.find_zone_movable_pfns(memory, kernelcore, movablecore);
        limits
    }

    /// Linux's find_zone_movable_pfns_for_nodes, for kernelcore=/movablecore=
    /// given as a size or a percentage: the kernel's share is spread evenly
    /// over the nodes, counted from the bottom of each node; the rest of the
    /// movable zone's range is ZONE_MOVABLE.
    fn find_zone_movable_pfns(
        &mut self,
        memory: &[MemblockRegion],
        kernelcore: Option<CoreSize>,
        movablecore: Option<CoreSize>,
    ) {
        let total_bytes = memory.iter().fold(0u64, |sum, r| sum.saturating_add(r.size));
        let total_pages = total_bytes >> PAGE_SHIFT;
        let pages = |c: CoreSize| match c {
            CoreSize::Bytes(b) => b >> PAGE_SHIFT,
            CoreSize::Percent(p) => (total_pages as u128 * p.min(100) as u128 / 100) as u64,
        };
        let kernelcore = match (kernelcore, movablecore) {
            (Some(k), _) => pages(k),
            (None, Some(m)) => total_pages.saturating_sub(pages(m)),
            (None, None) => return,
        };
        if kernelcore == 0 || kernelcore >= total_pages {
            return;
        }
        let usable_start = self.zone_range[self.movable_zone].0;
        let mut nodes = [false; MAX_NUMNODES];
        for r in memory {
            nodes[(r.nid.0.max(0) as usize).min(MAX_NUMNODES - 1)] = true;
        }
        let nr_nodes = nodes.iter().filter(|&&n| n).count().max(1) as u64;
        let per_node = kernelcore.div_ceil(nr_nodes);
        for (nid, _) in nodes.iter().enumerate().filter(|(_, on)| **on) {
            let mut kept = 0u64;
            let mut movable_start = 0u64;
            for (s, e) in node_pfn_ranges(memory, NodeId(nid as i32)) {
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
                self.zone_movable_pfn[nid] = movable_start.next_multiple_of(MAX_ORDER_NR_PAGES);
            }
        }
    }

    /// The zone spans `[start, end)` of node `nid`, whose memory runs from
    /// `node_start` to `node_end` (PFNs): each zone's range clipped to the
    /// node, and, when the node has a ZONE_MOVABLE start, the movable zone's
    /// part above it moved to ZONE_MOVABLE. Empty zones are `(0, 0)`.
    pub fn node_zone_spans(&self, nid: usize, node_start: u64, node_end: u64) -> [(Pfn, Pfn); MAX_NR_ZONES] {
        let mut spans = [(Pfn(0), Pfn(0)); MAX_NR_ZONES];
        for (span, &(lo, hi)) in spans.iter_mut().zip(&self.zone_range) {
            let (s, e) = (lo.max(node_start), hi.min(node_end));
            if s < e {
                *span = (Pfn(s), Pfn(e));
            }
        }
        let mv = self.zone_movable_pfn.get(nid).copied().unwrap_or(0);
        if mv != 0 && mv < node_end {
            let z = self.movable_zone;
            let (s, e) = (spans[z].0.0, spans[z].1.0);
            let start = mv.max(s);
            if start < e {
                spans[z] = if start > s { (Pfn(s), Pfn(start)) } else { (Pfn(0), Pfn(0)) };
                spans[ZoneType::Movable.idx()] = (Pfn(start), Pfn(node_end));
            }
        }
        spans
    }
}
