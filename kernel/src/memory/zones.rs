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
//!
//! The arithmetic is `mm::zone::ZoneLimits` (host-tested); this file gives it
//! memblock's memory and the command line, and prints the result.

use crate::memory::hal::Memblock;
use crate::pr_info;
use bootdata::cmdline::{CoreSize, Params};
pub use mm::config::MAX_NUMNODES;
pub use mm::zone::ZoneLimits;
use mm::zone::ZoneType;
use mm::{PAGE_SHIFT, Pfn};

/// Compute the zone limits (zone_sizes_init + the movable zone).
pub fn compute(mb: &Memblock, dma_max_cpu_addr: Option<u64>, params: &Params) -> ZoneLimits {
    let core = |c: Option<CoreSize>| {
        c.map(|c| match c {
            CoreSize::Bytes(b) => mm::zone::CoreSize::Bytes(b),
            CoreSize::Percent(p) => mm::zone::CoreSize::Percent(p),
        })
    };
    ZoneLimits::compute(mb.memory().regions(), dma_max_cpu_addr, core(params.kernelcore), core(params.movablecore))
}

/// Print Linux's free_area_init lines.
pub fn print(mb: &Memblock, limits: &ZoneLimits) {
    pr_info!("Zone ranges:");
    for (i, &(lo, hi)) in limits.zone_range.iter().enumerate() {
        if lo == hi {
            pr_info!("  {:<8} empty", ZoneType::from_index(i).name());
        } else {
            pr_info!(
                "  {:<8} [mem {:#018x}-{:#018x}]",
                ZoneType::from_index(i).name(),
                lo << PAGE_SHIFT,
                (hi << PAGE_SHIFT) - 1
            );
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
