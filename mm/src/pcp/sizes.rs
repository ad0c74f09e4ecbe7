//! The pcp sizes: list indices, batch and high, and how much a drain frees.

use crate::config::{PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_ORDER};
use crate::mmzone::{MIGRATE_PCPTYPES, MigrateType};
use crate::zone::{NR_LOWORDER_PCP_LISTS, PerCpuPages};

/// The list for blocks of `order` of type `mt` (order_to_pindex): order *
/// 3 + type up to the costly order; past it (only the pageblock order has
/// lists) the Movable list or the one the other two types share.
#[inline]
pub const fn order_to_pindex(mt: MigrateType, order: u32) -> usize {
    pindex(mt as usize, order)
}

/// [`order_to_pindex`] of a pcp type by its index (< MIGRATE_PCPTYPES).
#[inline(always)]
pub(crate) const fn pindex(mt: usize, order: u32) -> usize {
    if order > PAGE_ALLOC_COSTLY_ORDER {
        NR_LOWORDER_PCP_LISTS + (mt == MigrateType::Movable as usize) as usize
    } else {
        order as usize * MIGRATE_PCPTYPES + mt
    }
}

/// The order of list `pindex` (pindex_to_order).
#[inline]
pub const fn pindex_to_order(pindex: usize) -> u32 {
    if pindex >= NR_LOWORDER_PCP_LISTS { PAGEBLOCK_ORDER } else { (pindex / MIGRATE_PCPTYPES) as u32 }
}

/// Whether blocks of `order` go through the pcp lists (pcp_allowed_order):
/// up to the costly order, and the pageblock order (Linux's with
/// CONFIG_TRANSPARENT_HUGEPAGE, HPAGE_PMD_ORDER).
#[inline]
pub const fn pcp_allowed_order(order: u32) -> bool {
    order <= PAGE_ALLOC_COSTLY_ORDER || order == PAGEBLOCK_ORDER
}

/// Pages per refill and drain for a zone of `managed_pages` (zone_batchsize).
pub const fn zone_batchsize(managed_pages: u64) -> u32 {
    let one_mib_pages = (1 << 20) >> crate::PAGE_SHIFT;
    let mut batch = managed_pages >> 10;
    if batch > one_mib_pages {
        batch = one_mib_pages;
    }
    batch /= 4;
    if batch < 1 {
        batch = 1;
    }
    // 2^n - 1: powers of two alias badly in the cache when two tasks
    // allocate alternately.
    let x = batch + batch / 2;
    ((1u64 << (63 - x.leading_zeros())) - 1) as u32
}

/// The drain threshold for a zone with low watermark `low_wmark_pages`,
/// split over `nr_split_cpus` CPUs (zone_highsize).
pub const fn zone_highsize(low_wmark_pages: u64, batch: u32, nr_split_cpus: usize) -> u32 {
    let cpus = if nr_split_cpus == 0 { 1 } else { nr_split_cpus as u64 };
    let high = low_wmark_pages / cpus;
    let floor = (batch as u64) << 2;
    (if high > floor { high } else { floor }) as u32
}

/// The effective high mark (nr_pcp_high): 0 while freeing high-order pages
/// with no allocations in between.
#[inline]
pub(super) fn nr_pcp_high(pcp: &PerCpuPages, free_high: bool) -> u32 {
    if free_high { 0 } else { pcp.high }
}

/// How many pages one drain frees (nr_pcp_free).
pub(super) fn nr_pcp_free(pcp: &mut PerCpuPages, high: u32, batch: u32, free_high: bool) -> u32 {
    if free_high {
        return pcp.count;
    }
    // PCP disabled or the boot pageset.
    if high < batch {
        return 1;
    }
    let min_nr_free = batch;
    let max_nr_free = high - batch;
    let scaled = batch.checked_shl(pcp.free_factor as u32).unwrap_or(u32::MAX);
    if scaled < max_nr_free {
        pcp.free_factor += 1;
    }
    scaled.min(max_nr_free).max(min_nr_free)
}
