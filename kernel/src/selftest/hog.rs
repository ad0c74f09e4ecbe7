//! Holding free memory out of a test's way: unmovable blocks taken until
//! only a given amount is left free, given back on drop. The compaction
//! and CMA tests use it to measure the memory they fragment or fill (and
//! to steer movable allocations into CMA), `bench=cma` to fill its area.

use crate::memory::page_alloc::allocator;
use crate::memory::pages::{Pages, alloc_pages};
use alloc::vec::Vec;
use mm::gfp::Gfp;
use mm::zone::{MigrateType, ZoneType};

/// Blocks held; freed on drop.
pub struct Hog {
    _held: Vec<Pages>,
}

/// Free pages outside CMA (after draining the pcp lists).
pub fn free_non_cma() -> u64 {
    let pa = allocator();
    pa.drain_all_pages();
    let cma: u64 = pa.all_zones().map(|z| z.free_cma_pages()).sum();
    pa.nr_free_pages().saturating_sub(cma)
}

/// Free pages (after draining the pcp lists).
pub fn free_pages() -> u64 {
    allocator().drain_all_pages();
    allocator().nr_free_pages()
}

/// Free pages the kernel's own (unmovable) allocations can use: outside
/// ZONE_MOVABLE and outside CMA.
fn free_kernel_zones() -> u64 {
    let pa = allocator();
    pa.all_zones()
        .filter(|z| z.zone_type() != ZoneType::Movable)
        .map(|z| z.free_pages().saturating_sub(z.free_cma_pages()))
        .sum()
}

/// What must stay free there for the kernel to go on: the zones' high
/// watermarks and 8 MiB.
fn kernel_floor() -> u64 {
    let pa = allocator();
    pa.all_zones().filter(|z| z.zone_type() != ZoneType::Movable).map(|z| z.high_wmark_pages()).sum::<u64>() + 2048
}

impl Hog {
    /// Take blocks until `free()` is down to about `keep` pages: first
    /// unmovable ones (never CMA), leaving the kernel's zones at least
    /// their watermarks and 8 MiB, then movable ones for what only movable
    /// allocations reach (ZONE_MOVABLE), never a CMA page; none of it
    /// compacts. Largest blocks first.
    pub fn leaving(keep: u64, free: fn() -> u64) -> Hog {
        let pa = allocator();
        let mut held = Vec::new();
        let floor = kernel_floor();
        let kernel = (Gfp::KERNEL | Gfp::NOWARN | Gfp::NORETRY).difference(Gfp::DIRECT_RECLAIM);
        let movable = (Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::NORETRY).difference(Gfp::DIRECT_RECLAIM);
        for (gfp, is_kernel) in [(kernel, true), (movable, false)] {
            let mut order = 10u32;
            loop {
                let left = free();
                let room = if is_kernel { free_kernel_zones().saturating_sub(floor) } else { u64::MAX };
                if left <= keep || room == 0 {
                    break;
                }
                let want = (left - keep).min(room);
                while order > 0 && (1u64 << order) > want {
                    order -= 1;
                }
                match alloc_pages(gfp, order) {
                    Ok(p) if pa.pageblock_migratetype(p.pfn()) == Some(MigrateType::Cma) => break,
                    Ok(p) => held.push(p),
                    Err(_) if order > 0 => order -= 1,
                    Err(_) => break,
                }
            }
        }
        Hog { _held: held }
    }
}
