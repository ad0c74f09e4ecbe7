//! The buddy allocator proper: putting blocks on and taking them off the
//! free lists, merging on free (__free_one_page) and splitting on
//! allocation (expand, __rmqueue_smallest).

use crate::config::{MAX_PAGE_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
use crate::mmzone::MigrateType;
use crate::page::{MemMap, PageFlags, ValidPfn};

use super::alloc_flags::Fpi;
use super::struct_zone::{Zone, ZoneGuard, mod_locked};

impl Zone {
    /// Free `2^order` pages at `pfn` (free_one_page), pageblock by pageblock.
    pub(crate) fn free_one_page(&self, map: &MemMap, pfn: ValidPfn, order: u32, fpi: Fpi) {
        self.lock(map).free_one_page(pfn, order, fpi);
    }
}

impl ZoneGuard<'_> {
    /// Update the counters for one block of `order` joining (`add`) or
    /// leaving `mt`'s list (account_freepages; free_area.nr_free is the sum of the per-type counts).
    #[inline]
    pub(super) fn account(&mut self, order: u32, mt: MigrateType, add: bool) {
        let sign: i64 = if add { 1 } else { -1 };
        let stat = &self.zone.vm_stat;
        self.fa.changed = true;
        mod_locked(&stat.nr_free_blocks[order as usize][mt as usize], sign);
        let pages = sign << order;
        match mt {
            MigrateType::Isolate => {}
            MigrateType::Cma => {
                mod_locked(&stat.nr_free_pages, pages);
                mod_locked(&stat.nr_free_cma_pages, pages);
            }
            MigrateType::HighAtomic => {
                mod_locked(&stat.nr_free_pages, pages);
                mod_locked(&stat.nr_free_highatomic, pages);
            }
            _ => mod_locked(&stat.nr_free_pages, pages),
        }
    }

    /// Put a free block on a list (__add_to_free_list + set_buddy_order).
    #[inline]
    pub(super) fn add_to_free_list(&mut self, pfn: ValidPfn, order: u32, mt: MigrateType, tail: bool) {
        let page = self.map.page(pfn);
        page.set_private_internal(order as u64);
        page.set_buddy_locked();
        let list = &mut self.fa.area[order as usize].free_list[mt as usize];
        if tail {
            list.push_back(self.map, pfn);
        } else {
            list.push_front(self.map, pfn);
        }
        self.account(order, mt, true);
    }

    /// Take a free block off its list (del_page_from_free_list).
    #[inline]
    pub(super) fn del_page_from_free_list(&mut self, pfn: ValidPfn, order: u32, mt: MigrateType) {
        self.fa.area[order as usize].free_list[mt as usize].remove(self.map, pfn);
        let page = self.map.page(pfn);
        page.clear_buddy_locked();
        page.set_private_internal(0);
        self.account(order, mt, false);
    }

    /// Move a free block to another type's list, at the tail (move_to_free_list).
    pub(super) fn move_to_free_list(&mut self, pfn: ValidPfn, order: u32, old: MigrateType, new: MigrateType) {
        self.fa.area[order as usize].free_list[old as usize].remove(self.map, pfn);
        self.account(order, old, false);
        self.fa.area[order as usize].free_list[new as usize].push_back(self.map, pfn);
        self.account(order, new, true);
    }

    /// Whether `buddy` is a free block of `order` in the zone with id `zone_id` (page_is_buddy).
    #[inline]
    pub(super) fn page_is_buddy(&self, buddy: ValidPfn, order: u32, zone_id: u64) -> bool {
        let page = self.map.page(buddy);
        page.test_flags(PageFlags::BUDDY) && page.private() == order as u64 && page.zone_id() == zone_id
    }

    /// Whether the block just merged is likely to merge further soon:
    /// its buddy one order up is free (buddy_merge_likely).
    #[inline(always)]
    pub(super) fn buddy_merge_likely(&self, pfn: ValidPfn, order: u32, zone_id: u64) -> bool {
        if order >= MAX_PAGE_ORDER - 1 {
            return false;
        }
        let higher = pfn.block_start(order + 1);
        self.page_is_buddy(higher.buddy(order + 1), order + 1, zone_id)
    }

    /// Free a block and merge it with its buddies (__free_one_page).
    #[inline(always)]
    pub(crate) fn free_one(&mut self, pfn: ValidPfn, order: u32, mt: MigrateType, fpi: Fpi) {
        let zone_id = self.map.page(pfn).zone_id();
        let mut pfn = pfn;
        let mut order = order;
        while order < MAX_PAGE_ORDER {
            let buddy = pfn.buddy(order);
            if !self.page_is_buddy(buddy, order, zone_id) {
                break;
            }
            let mut buddy_mt = mt;
            if order >= PAGEBLOCK_ORDER {
                // Different pageblocks: keep HIGHATOMIC, CMA and ISOLATE
                // blocks apart from the others.
                buddy_mt = self.map.get_pageblock_migratetype(buddy);
                if mt != buddy_mt && (!mt.is_mergeable() || !buddy_mt.is_mergeable()) {
                    break;
                }
            }
            self.del_page_from_free_list(buddy, order, buddy_mt);
            if buddy_mt != mt {
                // The merged block is all of our type, so that expand()
                // later puts the pieces on the right lists.
                self.change_pageblock_range(buddy, order, mt);
            }
            pfn = pfn.block_start(order + 1);
            order += 1;
        }
        let to_tail = fpi.contains(Fpi::TO_TAIL) || self.buddy_merge_likely(pfn, order, zone_id);
        self.add_to_free_list(pfn, order, mt, to_tail);
    }

    /// Free `2^order` pages at `pfn`, each pageblock with its own type
    /// (split_large_buddy + __free_one_page).
    pub(crate) fn free_one_page(&mut self, pfn: ValidPfn, order: u32, fpi: Fpi) {
        if order <= PAGEBLOCK_ORDER {
            let mt = self.map.get_pageblock_migratetype(pfn);
            return self.free_one(pfn, order, mt, fpi);
        }
        let step = order.min(PAGEBLOCK_ORDER);
        let pieces = 1u64 << (order - step);
        for i in 0..pieces {
            let piece = pfn.add(i << step);
            let mt = self.map.get_pageblock_migratetype(piece);
            self.free_one(piece, step, mt, fpi);
        }
    }

    /// Split a block of order `high` at `pfn` down to `low`, putting the
    /// upper halves on the lists (expand). Returns the pages put back.
    #[inline(always)]
    pub(super) fn expand(&mut self, pfn: ValidPfn, low: u32, high: u32, mt: MigrateType) -> u64 {
        let mut high = high;
        let mut size = 1u64 << high;
        let mut added = 0;
        while high > low {
            high -= 1;
            size >>= 1;
            self.add_to_free_list(pfn.add(size), high, mt, false);
            added += size;
        }
        added
    }

    /// page_del_and_expand.
    #[inline(always)]
    pub(super) fn page_del_and_expand(&mut self, pfn: ValidPfn, low: u32, high: u32, mt: MigrateType) {
        self.del_page_from_free_list(pfn, high, mt);
        self.expand(pfn, low, high, mt);
    }

    /// The smallest block of at least `order` on `mt`'s lists (__rmqueue_smallest).
    #[inline(always)]
    pub(crate) fn rmqueue_smallest(&mut self, order: u32, mt: MigrateType) -> Option<ValidPfn> {
        for current in order..=MAX_PAGE_ORDER {
            if let Some(pfn) = self.fa.area[current as usize].free_list[mt as usize].first() {
                self.page_del_and_expand(pfn, order, current, mt);
                return Some(pfn);
            }
        }
        None
    }

    /// Set the type of every pageblock in the `2^order` block at `pfn`
    /// (change_pageblock_range).
    pub(crate) fn change_pageblock_range(&self, pfn: ValidPfn, order: u32, mt: MigrateType) {
        let nr_blocks = 1u64 << order.saturating_sub(PAGEBLOCK_ORDER);
        let start = pfn.pageblock_start();
        for i in 0..nr_blocks {
            self.map.set_pageblock_migratetype(start.add(i * PAGEBLOCK_NR_PAGES), mt);
        }
    }
}
