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
use crate::{pr_info, pr_warn};
use bootdata::cmdline::{CoreSize, Params};
pub use mm::config::MAX_NUMNODES;
pub use mm::zone::ZoneLimits;
use mm::zone::ZoneType;
use mm::{PAGE_SHIFT, Pfn};

/// The least memory the kernel keeps outside ZONE_MOVABLE (or half of RAM
/// on a smaller machine): a `kernelcore=` or `movablecore=` that would leave
/// less is clamped to it, by name.
const KERNELCORE_MIN_BYTES: u64 = 64 << 20;

/// A `kernelcore=`/`movablecore=` value as the command line spelt it.
struct Shown(CoreSize);

impl core::fmt::Display for Shown {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            CoreSize::Percent(p) => write!(f, "{p}%"),
            CoreSize::Bytes(b) if b != 0 && b.is_multiple_of(1 << 30) => write!(f, "{}G", b >> 30),
            CoreSize::Bytes(b) if b != 0 && b.is_multiple_of(1 << 20) => write!(f, "{}M", b >> 20),
            CoreSize::Bytes(b) if b.is_multiple_of(1 << 10) => write!(f, "{}K", b >> 10),
            CoreSize::Bytes(b) => write!(f, "{b}"),
        }
    }
}

/// `kernelcore=` / `movablecore=` checked against the memory there is:
/// a kernel share of nothing or of everything means no ZONE_MOVABLE (as in
/// Linux's find_zone_movable_pfns_for_nodes), said by name; a kernel share
/// below [`KERNELCORE_MIN_BYTES`] is raised to it, said by name. Returns the
/// (kernelcore, movablecore) to hand to the placement.
type CorePair = (Option<mm::zone::CoreSize>, Option<mm::zone::CoreSize>);
fn checked_kernelcore(params: &Params, total_bytes: u64) -> CorePair {
    let conv = |c: CoreSize| match c {
        CoreSize::Bytes(b) => mm::zone::CoreSize::Bytes(b),
        CoreSize::Percent(p) => mm::zone::CoreSize::Percent(p),
    };
    let bytes = |c: CoreSize| match c {
        CoreSize::Bytes(b) => b.min(total_bytes),
        CoreSize::Percent(p) => (total_bytes as u128 * p.min(100) as u128 / 100) as u64,
    };
    let (name, value, kernel_bytes) = match (params.kernelcore, params.movablecore) {
        (Some(k), _) => ("kernelcore", k, bytes(k)),
        (None, Some(m)) => ("movablecore", m, total_bytes - bytes(m)),
        (None, None) => return (None, None),
    };
    let floor = KERNELCORE_MIN_BYTES.min(total_bytes / 2);
    if name == "kernelcore" && (kernel_bytes == 0 || kernel_bytes >= total_bytes) {
        pr_warn!("{}={}: the kernel keeps all memory; no ZONE_MOVABLE", name, Shown(value));
        return (None, None);
    }
    if kernel_bytes < floor {
        if name == "movablecore" && kernel_bytes == 0 {
            pr_warn!("{}={} leaves the kernel no memory; ignored (no ZONE_MOVABLE)", name, Shown(value));
            return (None, None);
        }
        pr_warn!(
            "{}={} leaves the kernel {} KiB outside ZONE_MOVABLE; raised to {} MiB",
            name,
            Shown(value),
            kernel_bytes >> 10,
            floor >> 20
        );
        return (Some(mm::zone::CoreSize::Bytes(floor)), None);
    }
    (params.kernelcore.map(conv), params.movablecore.map(conv))
}

/// Compute the zone limits (zone_sizes_init + the movable zone).
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn compute(mb: &Memblock, dma_max_cpu_addr: Option<u64>, params: &Params) -> ZoneLimits {
    let (kernelcore, movablecore) = checked_kernelcore(params, mb.phys_mem_size());
    ZoneLimits::compute(mb.memory().regions(), dma_max_cpu_addr, kernelcore, movablecore)
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
    // Linux's arm64 configuration has ZONE_DEVICE, which RAM never
    // populates; this kernel has no such zone and prints it as Linux does.
    pr_info!("  {:<8} empty", "Device");
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
