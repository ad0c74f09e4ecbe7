//! Per-CPU page lists (Linux's struct per_cpu_pages, the pcp half of
//! mm/page_alloc.c).
//!
//! Taking the zone lock for every page would make it the most contended
//! lock in the kernel. Instead each CPU keeps, per zone, a small cache of
//! free pages: allocations of order <= PAGE_ALLOC_COSTLY_ORDER (3) take from
//! it and frees of those orders go to it; the zone lock is taken only to
//! move a batch of pages in or out.
//!
//! # Data structures
//!
//! ```text
//!   zone.pageset[cpu]: PcpSlot (cache-line aligned)
//!     spin::Mutex<PerCpuPages>
//!       count        pages on all lists
//!       high         above this, free a batch back to the buddy lists
//!       batch        pages moved per refill / drain
//!       free_factor  doubles the drain size while a CPU only frees
//!       lists[12]    pindex = order * 3 + migratetype, for orders 0..=3 and the
//!                    three pcp types Unmovable, Movable, Reclaimable
//! ```
//!
//! Pages on a pcp list are "allocated" as far as the buddy allocator and
//! `NR_FREE_PAGES` are concerned: not `PG_buddy`, refcount 0. They are
//! linked through the same `lru` words as the buddy lists (a page is on at
//! most one list), which the pcp lock protects.
//!
//! Each CPU's lists have their own lock (Linux's `pcp->lock`). The CPU that
//! owns them (the caller passes its CPU number and runs with interrupts
//! masked) takes it uncontended; `drain_all_pages` and the `/proc` readers
//! take it from other CPUs.
//!
//! # Sizes
//!
//! With `managed` the zone's managed pages and `low` its low watermark:
//!
//! ```text
//!   zone_batchsize: batch = min(managed / 1024, 1 MiB / PAGE_SIZE) / 4, at least 1,
//!                   then rounded to 2^n - 1: rounddown_pow_of_two(batch * 3/2) - 1
//!                   (63 for any zone of 1 GiB or more)
//!   zone_highsize:  high = max(low / nr_cpus_on_the_zone's_node, 4 * batch)
//!                   (all online CPUs when the node has none)
//! ```
//!
//! Before [`crate::page_alloc::PageAllocator::setup_pcp`] runs, every list has Linux's boot
//! pageset values, `high` 0 and `batch` 1: each free goes straight back to
//! the buddy lists, and each allocation moves a single page.
//!
//! # Fast path
//!
//! ```text
//!   alloc: lock; free_factor >>= 1; list empty? rmqueue_bulk (zone lock, batch pages,
//!          batch >> order for order > 0, at least 2) ; pop front; count -= 2^order; unlock
//!   free:  lock; push front; count += 2^order;
//!          count >= high? free_pcppages_bulk (zone lock) ; unlock
//! ```
//!
//! A free drains `nr_pcp_free` pages: `batch << free_factor` clamped to
//! `[batch, high - batch]`, the factor growing by one each time a drain
//! happens without an allocation in between (all of them if high < batch).
//! When a CPU frees higher-order pages while `free_factor` is up, `high`
//! reads as 0 and the whole pcp is drained (Linux's `free_high`), so that
//! high-order pages do not sit idle on one CPU. `free_pcppages_bulk` takes
//! pages from the lists round-robin starting with the list just freed to,
//! from the cold tail, and gives each to `__free_one_page` with its
//! pageblock's current migratetype.
//!
//! Lock order: pcp lock -> zone lock.

use crate::page::{MemMap, PfnList, ValidPfn};
use crate::zone::{AllocFlags, Fpi, MIGRATE_PCPTYPES, MigrateType, PAGE_ALLOC_COSTLY_ORDER, RmqueueMode, Zone};

/// CPUs the allocator has per-CPU lists for.
pub const NR_CPUS: usize = 16;
/// Lists per pcp: the three pcp types for each order up to the costly order.
pub const NR_PCP_LISTS: usize = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);

/// One CPU's cache of free pages for one zone (struct per_cpu_pages).
///
/// # Invariants
///
/// `count` is the number of pages (not blocks) on `lists`; list `pindex`
/// holds free blocks of order `pindex / 3` in this zone.
#[derive(Debug)]
pub struct PerCpuPages {
    pub(crate) count: u32,
    pub(crate) high: u32,
    pub(crate) batch: u32,
    pub(crate) free_factor: u8,
    pub(crate) lists: [PfnList; NR_PCP_LISTS],
}

/// count, high and batch of one pcp, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcpStats {
    /// Pages on the lists.
    pub count: u32,
    /// Drain threshold.
    pub high: u32,
    /// Refill and drain size.
    pub batch: u32,
}

/// A pcp on its own cache line.
#[repr(align(64))]
pub struct PcpSlot {
    pub(crate) pcp: spin::Mutex<PerCpuPages>,
}

impl PcpSlot {
    /// The boot pageset: high 0, batch 1.
    pub(crate) const fn new() -> Self {
        Self {
            pcp: spin::Mutex::new(PerCpuPages {
                count: 0,
                high: 0,
                batch: 1,
                free_factor: 0,
                lists: [PfnList::EMPTY; NR_PCP_LISTS],
            }),
        }
    }
}

/// The list for blocks of `order` of type `mt` (order_to_pindex).
#[inline]
pub const fn order_to_pindex(mt: MigrateType, order: u32) -> usize {
    order as usize * MIGRATE_PCPTYPES + mt as usize
}

/// The order of list `pindex` (pindex_to_order).
#[inline]
pub const fn pindex_to_order(pindex: usize) -> u32 {
    (pindex / MIGRATE_PCPTYPES) as u32
}

/// Whether blocks of `order` go through the pcp lists (pcp_allowed_order).
#[inline]
pub const fn pcp_allowed_order(order: u32) -> bool {
    order <= PAGE_ALLOC_COSTLY_ORDER
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
fn nr_pcp_high(pcp: &PerCpuPages, free_high: bool) -> u32 {
    if free_high { 0 } else { pcp.high }
}

/// How many pages one drain frees (nr_pcp_free).
fn nr_pcp_free(pcp: &mut PerCpuPages, high: u32, batch: u32, free_high: bool) -> u32 {
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

impl Zone {
    /// Refill a pcp list with up to `count` blocks of `order` under one
    /// zone-lock hold (rmqueue_bulk). Blocks come in physical order and go
    /// to the tail. Returns the blocks added.
    fn rmqueue_bulk(
        &self,
        map: &MemMap,
        order: u32,
        count: u32,
        list: &mut PfnList,
        mt: MigrateType,
        alloc_flags: AllocFlags,
    ) -> u32 {
        let mut zone = self.lock(map);
        let mut mode = RmqueueMode::Normal;
        let mut added = 0;
        while added < count {
            let Some(pfn) = zone.rmqueue(order, mt, alloc_flags, &mut mode) else {
                break;
            };
            list.push_back(map, pfn);
            added += 1;
        }
        added
    }

    /// Refill path of [`Zone::rmqueue_pcplist`], out of line.
    #[cold]
    #[inline(never)]
    fn pcp_refill(
        &self,
        map: &MemMap,
        pcp: &mut PerCpuPages,
        pindex: usize,
        order: u32,
        mt: MigrateType,
        alloc_flags: AllocFlags,
    ) {
        let mut batch = pcp.batch;
        // Scale the batch by order, unless it says "store nothing" (boot pageset).
        if batch > 1 {
            batch = (batch >> order).max(2);
        }
        let added = self.rmqueue_bulk(map, order, batch, &mut pcp.lists[pindex], mt, alloc_flags);
        pcp.count += added << order;
    }

    /// Take a block of `order` (<= costly) for `cpu` from its pcp list,
    /// refilling it from the buddy lists if empty (rmqueue_pcplist).
    #[inline]
    pub(crate) fn rmqueue_pcplist(
        &self,
        map: &MemMap,
        cpu: usize,
        order: u32,
        mt: MigrateType,
        alloc_flags: AllocFlags,
    ) -> Option<ValidPfn> {
        let mut pcp = self.pageset[cpu].pcp.lock();
        // An allocation: the next drain starts small again.
        pcp.free_factor >>= 1;
        let pindex = order_to_pindex(mt, order);
        if pcp.lists[pindex].is_empty() {
            self.pcp_refill(map, &mut pcp, pindex, order, mt, alloc_flags);
        }
        let pfn = pcp.lists[pindex].pop_front(map)?;
        pcp.count -= 1 << order;
        Some(pfn)
    }

    /// Put a freed block on `cpu`'s pcp list, draining a batch if the list
    /// went over `high` (free_unref_page_commit).
    #[inline]
    pub(crate) fn free_unref_page_commit(&self, map: &MemMap, cpu: usize, pfn: ValidPfn, mt: MigrateType, order: u32) {
        let mut pcp = self.pageset[cpu].pcp.lock();
        let pindex = order_to_pindex(mt, order);
        pcp.lists[pindex].push_front(map, pfn);
        pcp.count += 1 << order;
        let free_high = pcp.free_factor != 0 && order != 0;
        let high = nr_pcp_high(&pcp, free_high);
        if pcp.count >= high {
            self.pcp_drain_over_high(map, &mut pcp, high, free_high, pindex);
        }
    }

    /// Drain path of [`Zone::free_unref_page_commit`], out of line.
    #[cold]
    #[inline(never)]
    fn pcp_drain_over_high(&self, map: &MemMap, pcp: &mut PerCpuPages, high: u32, free_high: bool, pindex: usize) {
        let batch = pcp.batch;
        let nr = nr_pcp_free(pcp, high, batch, free_high);
        self.free_pcppages_bulk(map, pcp, nr, pindex);
    }

    /// Give `count` pages from a pcp back to the buddy lists, round-robin
    /// over the lists starting at `pindex`, cold pages first
    /// (free_pcppages_bulk).
    pub(crate) fn free_pcppages_bulk(&self, map: &MemMap, pcp: &mut PerCpuPages, count: u32, pindex: usize) {
        let mut count = count.min(pcp.count) as i64;
        if count == 0 {
            return;
        }
        let mut zone = self.lock(map);
        let mut pindex = pindex.wrapping_sub(1);
        while count > 0 {
            loop {
                pindex = pindex.wrapping_add(1);
                if pindex >= pcp.lists.len() {
                    pindex = 0;
                }
                if !pcp.lists[pindex].is_empty() {
                    break;
                }
            }
            let order = pindex_to_order(pindex);
            let nr = 1i64 << order;
            while let Some(pfn) = pcp.lists[pindex].pop_back(map) {
                count -= nr;
                pcp.count -= nr as u32;
                let mt = map.get_pageblock_migratetype(pfn);
                zone.free_one(pfn, order, mt, Fpi::empty());
                if count <= 0 {
                    break;
                }
            }
        }
    }

    /// Give all of `cpu`'s pcp pages for this zone back (drain_pages_zone).
    pub fn drain_pages_zone(&self, map: &MemMap, cpu: usize) {
        if cpu >= NR_CPUS {
            return;
        }
        let mut pcp = self.pageset[cpu].pcp.lock();
        let count = pcp.count;
        self.free_pcppages_bulk(map, &mut pcp, count, 0);
    }

    /// Give back at most one batch of `cpu`'s pcp pages (drain_zone_pages,
    /// vmstat's periodic trim).
    pub fn drain_zone_pages(&self, map: &MemMap, cpu: usize) {
        if cpu >= NR_CPUS {
            return;
        }
        let mut pcp = self.pageset[cpu].pcp.lock();
        let to_drain = pcp.count.min(pcp.batch);
        self.free_pcppages_bulk(map, &mut pcp, to_drain, 0);
    }

    /// count, high and batch of `cpu`'s pcp.
    pub fn pcp_stats(&self, cpu: usize) -> PcpStats {
        let pcp = self.pageset[cpu.min(NR_CPUS - 1)].pcp.lock();
        PcpStats { count: pcp.count, high: pcp.high, batch: pcp.batch }
    }

    /// Pages on all CPUs' pcp lists of this zone.
    #[inline]
    pub fn pcp_count(&self) -> u64 {
        self.pageset.iter().map(|slot| slot.pcp.lock().count as u64).sum()
    }

    /// Set every CPU's high and batch (__zone_set_pageset_high_and_batch).
    pub(crate) fn set_pageset_high_and_batch(&self, high: u32, batch: u32) {
        for slot in &self.pageset {
            let mut pcp = slot.pcp.lock();
            pcp.high = high;
            pcp.batch = batch;
        }
    }

    /// Walk `cpu`'s pcp lists (tests).
    #[cfg(test)]
    pub(crate) fn pcp_blocks(&self, map: &MemMap, cpu: usize) -> Vec<(u64, u32)> {
        let pcp = self.pageset[cpu].pcp.lock();
        let mut blocks = Vec::new();
        for (pindex, list) in pcp.lists.iter().enumerate() {
            for pfn in list.iter(map) {
                blocks.push((pfn.get(), pindex_to_order(pindex)));
            }
        }
        blocks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batchsize_matches_linux() {
        // 1 GiB and more: min(managed >> 10, 256) / 4 = 64 -> 96 -> 64 - 1.
        assert_eq!(zone_batchsize(262_144), 63);
        assert_eq!(zone_batchsize(4 << 20), 63);
        // 16 MiB DMA zone (3977 managed): 3 / 4 = 0 -> 1 -> 1 -> 0 ... Linux: max(1, ..).
        assert_eq!(zone_batchsize(3977), 0);
        // 256 MiB: 64 / 4 = 16 -> 24 -> 16 - 1.
        assert_eq!(zone_batchsize(65_536), 15);
        // 64 MiB: 16 / 4 = 4 -> 6 -> 4 - 1.
        assert_eq!(zone_batchsize(16_384), 3);
        // 8 MiB: 2 / 4 = 0 -> 1 -> 1 -> 0.
        assert_eq!(zone_batchsize(2_048), 0);
    }

    #[test]
    fn highsize_matches_linux() {
        assert_eq!(zone_highsize(5_000, 63, 4), 1_250);
        assert_eq!(zone_highsize(500, 63, 4), 252);
        assert_eq!(zone_highsize(5_000, 63, 0), 5_000);
    }

    #[test]
    fn pindex_round_trips() {
        for order in 0..=PAGE_ALLOC_COSTLY_ORDER {
            for mt in [MigrateType::Unmovable, MigrateType::Movable, MigrateType::Reclaimable] {
                let p = order_to_pindex(mt, order);
                assert!(p < NR_PCP_LISTS);
                assert_eq!(pindex_to_order(p), order);
            }
        }
        assert!(pcp_allowed_order(3) && !pcp_allowed_order(4));
    }

    #[test]
    fn nr_pcp_free_doubles_and_clamps() {
        let mut pcp = PcpSlot::new().pcp.into_inner();
        pcp.count = 400;
        assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 63);
        assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 126);
        assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 189);
        assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 189);
        assert_eq!(pcp.free_factor, 2);
        assert_eq!(nr_pcp_free(&mut pcp, 0, 1, false), 1);
        assert_eq!(nr_pcp_free(&mut pcp, 252, 63, true), 400);
    }
}
