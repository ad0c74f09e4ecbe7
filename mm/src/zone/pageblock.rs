//! Pageblocks: moving a pageblock's free pages to another migratetype,
//! the HIGHATOMIC reserve, and isolation (the pageblock half of
//! mm/page_alloc.c and mm/page_isolation.c).

use crate::config::{MAX_PAGE_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
use crate::mmzone::MigrateType;
use crate::page::{MemMap, PageFlags, ValidPfn};

use super::alloc_flags::Fpi;
use super::struct_zone::{Zone, ZoneGuard, mod_locked};

impl Zone {
    /// Reserve the pageblock of a page just given to a high-order atomic
    /// allocation as HIGHATOMIC, up to about 1% of the zone
    /// (reserve_highatomic_pageblock).
    pub(crate) fn reserve_highatomic_pageblock(&self, map: &MemMap, pfn: ValidPfn, order: u32) {
        let managed = self.managed_pages();
        if managed / 100 < PAGEBLOCK_NR_PAGES {
            return;
        }
        let max_managed = (managed / 100).next_multiple_of(PAGEBLOCK_NR_PAGES);
        if self.nr_reserved_highatomic() >= max_managed {
            return;
        }
        let mut zone = self.lock(map);
        if self.nr_reserved_highatomic() >= max_managed {
            return;
        }
        let mt = map.get_pageblock_migratetype(pfn);
        if !mt.is_mergeable() {
            return;
        }
        if order < PAGEBLOCK_ORDER {
            if zone.move_freepages_block(pfn, mt, MigrateType::HighAtomic).is_none() {
                return;
            }
            mod_locked(&self.nr_reserved_highatomic, PAGEBLOCK_NR_PAGES as i64);
        } else {
            zone.change_pageblock_range(pfn, order, MigrateType::HighAtomic);
            mod_locked(&self.nr_reserved_highatomic, 1 << order);
        }
    }

    /// Give one HIGHATOMIC pageblock of this zone back to `mt`
    /// (the per-zone half of unreserve_highatomic_pageblock). Unless
    /// `force`, the last reserved pageblock is kept.
    pub(crate) fn unreserve_highatomic(&self, map: &MemMap, force: bool, mt: MigrateType) -> bool {
        if !force && self.nr_reserved_highatomic() <= PAGEBLOCK_NR_PAGES {
            return false;
        }
        let mut zone = self.lock(map);
        for order in 0..=MAX_PAGE_ORDER {
            let Some(pfn) = zone.fa.area[order as usize].free_list[MigrateType::HighAtomic as usize].first() else {
                continue;
            };
            let size = PAGEBLOCK_NR_PAGES.max(1 << order).min(self.nr_reserved_highatomic());
            mod_locked(&self.nr_reserved_highatomic, -(size as i64));
            let moved = if order < PAGEBLOCK_ORDER {
                zone.move_freepages_block(pfn, MigrateType::HighAtomic, mt).unwrap_or(0)
            } else {
                zone.move_to_free_list(pfn, order, MigrateType::HighAtomic, mt);
                zone.change_pageblock_range(pfn, order, mt);
                1
            };
            if moved > 0 {
                return true;
            }
        }
        false
    }

    /// Make `pfn`'s pageblock ISOLATE, moving its free pages to the ISOLATE
    /// lists (set_migratetype_isolate without the unmovable-page scan).
    /// Fails with `InvalidArgument` if the pageblock is not wholly in this
    /// zone, `Busy` if it is already isolated. Pages on pcp lists are not
    /// moved here: drain them afterwards.
    /// The type the pageblock had before is recorded in the pageblock
    /// (see [`MemMap::pageblock_saved_migratetype`]) for the undo.
    pub(crate) fn set_pageblock_isolate(&self, map: &MemMap, pfn: ValidPfn) -> Result<(), crate::Error> {
        let mut zone = self.lock(map);
        let old = map.get_pageblock_migratetype(pfn);
        if old == MigrateType::Isolate {
            return Err(crate::Error::Busy);
        }
        if zone.move_freepages_block_isolate(pfn, MigrateType::Isolate) {
            map.set_pageblock_saved_migratetype(pfn, Some(old));
            self.nr_isolate_pageblock.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            Ok(())
        } else {
            Err(crate::Error::InvalidArgument)
        }
    }

    /// Undo [`Zone::set_pageblock_isolate`], giving the pageblock type `mt`
    /// (unset_migratetype_isolate).
    pub(crate) fn unset_pageblock_isolate(
        &self,
        map: &MemMap,
        pfn: ValidPfn,
        mt: MigrateType,
    ) -> Result<(), crate::Error> {
        let mut zone = self.lock(map);
        if map.get_pageblock_migratetype(pfn) != MigrateType::Isolate || mt == MigrateType::Isolate {
            return Err(crate::Error::InvalidArgument);
        }
        if !zone.move_freepages_block_isolate(pfn, mt) {
            return Err(crate::Error::InvalidArgument);
        }
        map.set_pageblock_saved_migratetype(pfn, None);
        self.nr_isolate_pageblock.fetch_sub(1, core::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Take every free page of `[start, end)` off the ISOLATE lists for a
    /// contiguous allocation (the free-page half of alloc_contig_range:
    /// find_large_buddy, test_pages_isolated under the lock, then
    /// isolate_freepages_range and the split that gives the excess back).
    ///
    /// Every page of the range must lie in a free block whose pageblock is
    /// ISOLATE; a block that starts before `start` or ends after `end` is
    /// split and the pieces outside the range go back on the ISOLATE
    /// lists. On success the range's pages are off every list, without
    /// PG_buddy and with refcount 0, ready for the post-allocation
    /// preparation; on `Busy` nothing changed.
    pub(crate) fn take_isolated_free_range(&self, map: &MemMap, start: u64, end: u64) -> Result<(), crate::Error> {
        if start >= end || !self.spans(start) || !self.spans(end - 1) {
            return Err(crate::Error::InvalidArgument);
        }
        let mut zone = self.lock(map);
        let outer = zone.free_block_containing(start).map_or(start, |(head, _)| head.get());
        // First check the whole range, so that a failure changes nothing.
        let mut p = outer;
        while p < end {
            let Some(v) = map.valid(p) else { return Err(crate::Error::Busy) };
            let page = map.page(v);
            if !page.test_flags(PageFlags::BUDDY) || map.get_pageblock_migratetype(v) != MigrateType::Isolate {
                return Err(crate::Error::Busy);
            }
            p += 1 << page.buddy_order();
        }
        let mut p = outer;
        while p < end {
            let Some(v) = map.valid(p) else { unreachable!("checked above") };
            let order = map.page(v).buddy_order();
            let block_end = p + (1 << order);
            zone.del_page_from_free_list(v, order, MigrateType::Isolate);
            zone.free_isolated_pieces(v, p, start.max(p));
            zone.free_isolated_pieces(v, end.min(block_end), block_end);
            p = block_end;
        }
        Ok(())
    }
}

impl ZoneGuard<'_> {
    /// The free block (head, order) that contains `pfn`, if any (find_large_buddy).
    pub(crate) fn free_block_containing(&self, pfn: u64) -> Option<(ValidPfn, u32)> {
        let v = self.map.valid(pfn)?;
        for order in 0..=MAX_PAGE_ORDER {
            let head = v.block_start(order);
            let page = self.map.page(head);
            if page.test_flags(PageFlags::BUDDY) {
                let o = page.buddy_order();
                // A free block that starts below `pfn` but ends before it
                // means no free block covers `pfn`.
                return (o >= order).then_some((head, o));
            }
        }
        None
    }

    /// Give `[lo, hi)` (inside the block at `block`, just taken off its
    /// list) back to the ISOLATE lists as aligned pieces.
    fn free_isolated_pieces(&mut self, block: ValidPfn, lo: u64, hi: u64) {
        let mut p = lo;
        while p < hi {
            let order = (p.trailing_zeros().min(MAX_PAGE_ORDER)).min(63 - (hi - p).leading_zeros());
            self.free_one(block.same_section(p), order, MigrateType::Isolate, Fpi::empty());
            p += 1 << order;
        }
    }
}

impl ZoneGuard<'_> {
    /// Count the free and movable pages of `pfn`'s pageblock, if it lies
    /// wholly in this zone (prep_move_freepages_block).
    pub(super) fn prep_move_freepages_block(&self, pfn: ValidPfn) -> Option<(ValidPfn, u64, u64)> {
        let start = pfn.pageblock_start();
        let end = start.get() + PAGEBLOCK_NR_PAGES;
        if !self.zone.spans(start.get()) || !self.zone.spans(end - 1) {
            return None;
        }
        let (mut free, mut movable) = (0, 0);
        let mut p = start.get();
        while p < end {
            let page = self.map.page(start.same_section(p));
            if page.test_flags(PageFlags::BUDDY) {
                let nr = 1 << page.buddy_order();
                free += nr;
                p += nr;
                continue;
            }
            // Pages that could be isolated for migration count as movable.
            if page.test_flags(PageFlags::LRU) {
                movable += 1;
            }
            p += 1;
        }
        Some((start, free, movable))
    }

    /// Move the free pages of the pageblock at `start` from `old`'s lists to
    /// `new`'s (__move_freepages_block). Returns the pages moved.
    pub(super) fn move_freepages(&mut self, start: ValidPfn, old: MigrateType, new: MigrateType) -> u64 {
        let end = start.get() + PAGEBLOCK_NR_PAGES;
        let mut moved = 0;
        let mut p = start.get();
        while p < end {
            let pfn = start.same_section(p);
            let page = self.map.page(pfn);
            if !page.test_flags(PageFlags::BUDDY) {
                p += 1;
                continue;
            }
            let order = page.buddy_order();
            self.move_to_free_list(pfn, order, old, new);
            p += 1 << order;
            moved += 1 << order;
        }
        moved
    }

    /// Give `pfn`'s pageblock type `new`, moving its free pages along
    /// (move_freepages_block). `None` if the pageblock straddles the zone.
    pub(crate) fn move_freepages_block(&mut self, pfn: ValidPfn, old: MigrateType, new: MigrateType) -> Option<u64> {
        let (start, _, _) = self.prep_move_freepages_block(pfn)?;
        let moved = self.move_freepages(start, old, new);
        self.map.set_pageblock_migratetype(start, new);
        Some(moved)
    }

    /// Change a pageblock to or from ISOLATE, splitting a larger free
    /// block that covers it first (move_freepages_block_isolate).
    pub(super) fn move_freepages_block_isolate(&mut self, pfn: ValidPfn, new: MigrateType) -> bool {
        let start = pfn.pageblock_start();
        if !self.zone.spans(start.get()) || !self.zone.spans(start.get() + PAGEBLOCK_NR_PAGES - 1) {
            return false;
        }
        // A free block larger than a pageblock that starts at or before us.
        for order in PAGEBLOCK_ORDER + 1..=MAX_PAGE_ORDER {
            let head = start.block_start(order);
            let page = self.map.page(head);
            if page.test_flags(PageFlags::BUDDY) && page.buddy_order() >= order {
                let order = page.buddy_order();
                let old = self.map.get_pageblock_migratetype(head);
                self.del_page_from_free_list(head, order, old);
                self.map.set_pageblock_migratetype(start, new);
                self.free_one_page(head, order, Fpi::empty());
                return true;
            }
        }
        let old = self.map.get_pageblock_migratetype(start);
        self.move_freepages(start, old, new);
        self.map.set_pageblock_migratetype(start, new);
        // A wholly free pageblock could not merge with its neighbour while
        // isolated: free it again so that it can now.
        let page = self.map.page(start);
        if new != MigrateType::Isolate && page.test_flags(PageFlags::BUDDY) && page.buddy_order() == PAGEBLOCK_ORDER {
            self.del_page_from_free_list(start, PAGEBLOCK_ORDER, new);
            self.free_one(start, PAGEBLOCK_ORDER, new, Fpi::empty());
        }
        true
    }
}
