//! Running the pcp lists: refill from and drain to the buddy lists under
//! the zone lock, the fast paths' halves, and draining on demand.

use crate::config::NR_CPUS;
use crate::mmzone::{MIGRATE_PCPTYPES, MigrateType};
use crate::page::{MemMap, Page, PfnList, ValidPfn};
use crate::zone::{AllocFlags, Fpi, PCP_HOT, PcpSlot, PerCpuPages, RmqueueMode, Zone};

/// Pages a pcp holds: on its lists and in the array in front of them.
#[inline]
fn pcp_pages(pcp: &PerCpuPages) -> u32 {
    pcp.count + pcp.hot_nr.iter().map(|&n| n as u32).sum::<u32>()
}

use super::sizes::{nr_pcp_free, nr_pcp_high, order_to_pindex, pindex, pindex_to_order};

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
        if order == 0 && (mt as usize) < MIGRATE_PCPTYPES && pcp.hot_nr[mt as usize] != 0 {
            let n = pcp.hot_nr[mt as usize] - 1;
            pcp.hot_nr[mt as usize] = n;
            return map.valid(pcp.hot[mt as usize][n as usize]);
        }
        let pindex = order_to_pindex(mt, order);
        if pcp.lists[pindex].is_empty() {
            self.pcp_refill(map, &mut pcp, pindex, order, mt, alloc_flags);
        }
        let pfn = pcp.lists[pindex].pop_front(map)?;
        pcp.count -= 1 << order;
        Some(pfn)
    }

    /// A CPU's pcp slot by its byte offset in the pageset, unchecked.
    ///
    /// # Safety
    ///
    /// 1. `offset` is `cpu * size_of::<PcpSlot>()` for a `cpu < NR_CPUS`
    ///    (a [`CpuPages`](crate::page_alloc::CpuPages) holds only such).
    #[inline(always)]
    pub(crate) unsafe fn pcp_slot_at(&self, offset: usize) -> &PcpSlot {
        // SAFETY: by obligation 1 the offset names an element of the array.
        unsafe { &*self.pageset.as_ptr().byte_add(offset) }
    }

    /// The fast path's pop: a block of `order` (<= 3, or 9) and pcp type `mt`
    /// (< 3) from `slot`, an order-0 page from the array in front of the
    /// lists first; `None` when there is none or the lock is held elsewhere
    /// (Linux's pcp_spin_trylock: the cold path then refills the list from
    /// the buddy lists, or takes them directly).
    #[inline(always)]
    pub(crate) fn pcp_take(map: &MemMap, slot: &PcpSlot, order: u32, mt: usize) -> Option<ValidPfn> {
        let mut pcp = slot.pcp.try_lock()?;
        // An allocation: the next drain starts small again.
        if pcp.free_factor != 0 {
            pcp.free_factor >>= 1;
        }
        if order == 0 {
            let n = pcp.hot_nr[mt] as usize;
            if n != 0 {
                pcp.hot_nr[mt] = (n - 1) as u8;
                // SAFETY: n <= PCP_HOT (the array's invariant), so n - 1 is
                // in bounds; the array holds PFNs of ValidPfns of `map`.
                return Some(unsafe { ValidPfn::new_unchecked(*pcp.hot[mt].get_unchecked(n - 1)) });
            }
        }
        let v = pcp.lists[pindex(mt, order)].pop_front(map)?;
        pcp.count -= 1 << order;
        Some(v)
    }

    /// The fast path's free of a prepared block (order <= 3 or 9, refcount 0,
    /// no flags; `page` its first descriptor): onto the array (order 0, if it has room) or the list of
    /// its pageblock's pcp type, draining a batch over `high` as
    /// free_unref_page_commit does. The pageblock is read under the pcp
    /// lock: isolation changes the type under the zone lock and then drains
    /// every pcp under its lock, so a free after that drain sees ISOLATE,
    /// and one before it is drained. Returns false, having done nothing,
    /// when the lock is busy or the type has no pcp list (ISOLATE, CMA,
    /// HIGHATOMIC): the cold path decides.
    #[inline(always)]
    pub(crate) fn pcp_put(&self, map: &MemMap, slot: &PcpSlot, page: &Page, pfn: ValidPfn, order: u32) -> bool {
        let Some(mut pcp) = slot.pcp.try_lock() else { return false };
        let mt = map.pageblock_migratetype_index(page, pfn);
        if mt >= MIGRATE_PCPTYPES {
            return false;
        }
        if order == 0 {
            let n = pcp.hot_nr[mt] as usize;
            if n < PCP_HOT {
                // SAFETY: n < PCP_HOT is in bounds.
                unsafe { *pcp.hot[mt].get_unchecked_mut(n) = pfn.get() };
                pcp.hot_nr[mt] = (n + 1) as u8;
                return true;
            }
        }
        self.pcp_put_list(map, pcp, pfn, order, mt);
        true
    }

    /// The list half of [`Zone::pcp_put`], out of line so that the array
    /// half stays a leaf (the drain below calls into the buddy allocator).
    #[inline(never)]
    fn pcp_put_list(
        &self,
        map: &MemMap,
        mut pcp: spin::MutexGuard<'_, PerCpuPages>,
        pfn: ValidPfn,
        order: u32,
        mt: usize,
    ) {
        let pindex = pindex(mt, order);
        pcp.lists[pindex].push_front(map, pfn);
        pcp.count += 1 << order;
        let free_high = pcp.free_factor != 0 && order != 0;
        let high = nr_pcp_high(&pcp, free_high);
        if pcp.count >= high {
            self.pcp_drain_over_high(map, &mut pcp, high, free_high, pindex);
        }
    }

    /// Move the array's pages onto the fronts of their lists (before a full
    /// drain, or when high and batch change).
    pub(crate) fn pcp_spill_hot(map: &MemMap, pcp: &mut PerCpuPages) {
        for mt in 0..MIGRATE_PCPTYPES {
            for i in 0..pcp.hot_nr[mt] as usize {
                if let Some(v) = map.valid(pcp.hot[mt][i]) {
                    pcp.lists[mt].push_front(map, v);
                    pcp.count += 1;
                }
            }
            pcp.hot_nr[mt] = 0;
        }
    }

    /// Put a freed block on `cpu`'s pcp list, draining a batch if the list
    /// went over `high` (free_unref_page_commit).
    #[inline]
    pub(crate) fn free_unref_page_commit(&self, map: &MemMap, cpu: usize, pfn: ValidPfn, mt: MigrateType, order: u32) {
        let pcp = self.pageset[cpu].pcp.lock();
        self.pcp_put_list(map, pcp, pfn, order, mt as usize);
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
        Self::pcp_spill_hot(map, &mut pcp);
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

    /// count, high and batch of `cpu`'s pcp (count includes the array in
    /// front of the lists).
    pub fn pcp_stats(&self, cpu: usize) -> PcpStats {
        let pcp = self.pageset[cpu.min(NR_CPUS - 1)].pcp.lock();
        PcpStats { count: pcp_pages(&pcp), high: pcp.high, batch: pcp.batch }
    }

    /// Pages on all CPUs' pcp lists and arrays of this zone.
    #[inline]
    pub fn pcp_count(&self) -> u64 {
        self.pageset.iter().map(|slot| pcp_pages(&slot.pcp.lock()) as u64).sum()
    }

    /// Set every CPU's high and batch (__zone_set_pageset_high_and_batch).
    pub(crate) fn set_pageset_high_and_batch(&self, map: &MemMap, high: u32, batch: u32) {
        for slot in &self.pageset {
            let mut pcp = slot.pcp.lock();
            pcp.high = high;
            pcp.batch = batch;
            // The arrays restart empty, their pages under the new sizes.
            Self::pcp_spill_hot(map, &mut pcp);
        }
    }

    /// Walk `cpu`'s pcp lists (tests).
    #[cfg(test)]
    pub(crate) fn pcp_blocks(&self, map: &MemMap, cpu: usize) -> Vec<(u64, u32)> {
        let pcp = self.pageset[cpu].pcp.lock();
        let mut blocks = Vec::new();
        for mt in 0..MIGRATE_PCPTYPES {
            for &pfn in &pcp.hot[mt][..pcp.hot_nr[mt] as usize] {
                blocks.push((pfn, 0));
            }
        }
        for (pindex, list) in pcp.lists.iter().enumerate() {
            for pfn in list.iter(map) {
                blocks.push((pfn.get(), pindex_to_order(pindex)));
            }
        }
        blocks
    }
}
