//! Watermarks: the free-page checks an allocation must pass
//! (__zone_watermark_ok and its fast order-0 form), and the arithmetic the
//! page allocator sets them with.

use core::sync::atomic::Ordering::Relaxed;

use crate::config::{MAX_NR_ZONES, MAX_PAGE_ORDER};
use crate::mmzone::{MIGRATE_PCPTYPES, MigrateType, ZoneType};

use super::alloc_flags::AllocFlags;
use super::struct_zone::Zone;

/// Lower bound of the min watermark of ZONE_MOVABLE.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// sysctl_lowmem_reserve_ratio: DMA, DMA32, Normal, Movable.
pub const LOWMEM_RESERVE_RATIO: [u64; MAX_NR_ZONES] = [256, 256, 32, 0];
/// vm.watermark_scale_factor's default (in 1/10000 of managed pages).
pub const DEFAULT_WATERMARK_SCALE_FACTOR: u64 = 10;

impl Zone {
    /// Pages the caller may not use (__zone_watermark_unusable_free).
    #[inline]
    pub(super) fn watermark_unusable_free(&self, order: u32, alloc_flags: AllocFlags) -> i64 {
        let mut unusable = (1i64 << order) - 1;
        if !alloc_flags.intersects(AllocFlags::RESERVES) {
            unusable += self.vm_stat.nr_free_highatomic.load(Relaxed) as i64;
        }
        if !alloc_flags.contains(AllocFlags::CMA) {
            unusable += self.vm_stat.nr_free_cma_pages.load(Relaxed) as i64;
        }
        unusable
    }

    /// __zone_watermark_ok with the free page count given.
    pub fn zone_watermark_ok_free(
        &self,
        order: u32,
        mark: u64,
        highest_zoneidx: ZoneType,
        alloc_flags: AllocFlags,
        free_pages: i64,
    ) -> bool {
        let mut min = mark as i64;
        let free_pages = free_pages - self.watermark_unusable_free(order, alloc_flags);
        if alloc_flags.intersects(AllocFlags::RESERVES) {
            if alloc_flags.contains(AllocFlags::MIN_RESERVE) {
                min -= min / 2;
                if alloc_flags.contains(AllocFlags::NON_BLOCK) {
                    min -= min / 4;
                }
            }
            if alloc_flags.contains(AllocFlags::OOM) {
                min -= min / 2;
            }
        }
        if free_pages <= min + self.lowmem_reserve(highest_zoneidx) as i64 {
            return false;
        }
        if order == 0 {
            return true;
        }
        // A high-order request also needs a free block of at least its
        // order on a list it may use.
        for o in order..=MAX_PAGE_ORDER {
            let blocks = &self.vm_stat.nr_free_blocks[o as usize];
            if blocks[..MIGRATE_PCPTYPES].iter().any(|c| c.load(Relaxed) != 0) {
                return true;
            }
            if alloc_flags.contains(AllocFlags::CMA) && blocks[MigrateType::Cma as usize].load(Relaxed) != 0 {
                return true;
            }
            if alloc_flags.intersects(AllocFlags::HIGHATOMIC | AllocFlags::OOM)
                && blocks[MigrateType::HighAtomic as usize].load(Relaxed) != 0
            {
                return true;
            }
        }
        false
    }

    /// zone_watermark_ok: may an allocation of `order` with `alloc_flags`
    /// for zones up to `highest_zoneidx` come from this zone, `mark` being
    /// the watermark it must stay above?
    #[inline]
    pub fn zone_watermark_ok(&self, order: u32, mark: u64, highest_zoneidx: ZoneType, alloc_flags: AllocFlags) -> bool {
        self.zone_watermark_ok_free(order, mark, highest_zoneidx, alloc_flags, self.free_pages() as i64)
    }

    /// zone_watermark_fast: the order-0 check inline, the rest out of line.
    #[inline]
    pub(crate) fn zone_watermark_fast(
        &self,
        order: u32,
        mark: u64,
        highest_zoneidx: ZoneType,
        alloc_flags: AllocFlags,
    ) -> bool {
        let free_pages = self.free_pages() as i64;
        if order == 0 {
            let reserved = self.watermark_unusable_free(0, alloc_flags);
            let usable = free_pages - reserved.min(free_pages);
            if usable > (mark + self.lowmem_reserve(highest_zoneidx)) as i64 {
                return true;
            }
        }
        self.zone_watermark_ok_free(order, mark, highest_zoneidx, alloc_flags, free_pages)
    }
}

/// Integer square root, rounded down (int_sqrt).
pub const fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Newton's method from an upper bound.
    let mut r = 1u64 << (64 - x.leading_zeros()).div_ceil(2);
    loop {
        let next = (r + x / r) / 2;
        if next >= r {
            return r;
        }
        r = next;
    }
}

/// `x * numer / denom` without overflowing the intermediate (mult_frac).
pub const fn mult_frac(x: u64, numer: u64, denom: u64) -> u64 {
    let quot = x / denom;
    let rem = x % denom;
    quot * numer + rem * numer / denom
}
