//! Taking a block off the buddy lists for an allocation (__rmqueue): the
//! wanted type first, then CMA, then the fallback types, claiming their
//! pageblocks when that keeps memory grouped by mobility.

use crate::config::{MAX_PAGE_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
use crate::mmzone::{MIGRATE_PCPTYPES, MigrateType};
use crate::page::{MemMap, ValidPfn};

use super::alloc_flags::{AllocFlags, RmqueueMode};
use super::struct_zone::{Zone, ZoneGuard};

/// Fallback order when a type's own lists are empty.
const FALLBACKS: [[MigrateType; MIGRATE_PCPTYPES - 1]; MIGRATE_PCPTYPES] = [
    [MigrateType::Reclaimable, MigrateType::Movable],
    [MigrateType::Reclaimable, MigrateType::Unmovable],
    [MigrateType::Unmovable, MigrateType::Movable],
];

/// Outcome of find_suitable_fallback.
enum Fallback {
    /// A free block of this type.
    Found(MigrateType),
    /// No suitable block at this order.
    None,
    /// Orders this low are not worth claiming from (Linux's -2).
    TooLow,
}

impl Zone {
    /// Take a block off the buddy lists for an allocation that bypasses
    /// the pcp lists (rmqueue_buddy), HIGHATOMIC rules included.
    pub(crate) fn rmqueue_buddy(
        &self,
        map: &MemMap,
        order: u32,
        mt: MigrateType,
        alloc_flags: AllocFlags,
    ) -> Option<ValidPfn> {
        let mut zone = self.lock(map);
        // The common case first, inline: the wanted type's own lists, when
        // neither HIGHATOMIC nor the CMA balance (rmqueue's first step)
        // would look elsewhere first.
        let cma_first = alloc_flags.contains(AllocFlags::CMA) && self.free_cma_pages() > self.free_pages() / 2;
        if !alloc_flags.contains(AllocFlags::HIGHATOMIC)
            && !cma_first
            && let Some(page) = zone.rmqueue_smallest(order, mt)
        {
            return Some(page);
        }
        let mut page = None;
        if alloc_flags.contains(AllocFlags::HIGHATOMIC) {
            page = zone.rmqueue_smallest(order, MigrateType::HighAtomic);
        }
        if page.is_none() {
            let mut mode = RmqueueMode::Normal;
            page = zone.rmqueue(order, mt, alloc_flags, &mut mode);
            // Failing now is worse than failing a future high-order atomic
            // request: let non-blocking order-0 callers have the reserve.
            if page.is_none() && alloc_flags.intersects(AllocFlags::OOM | AllocFlags::NON_BLOCK) {
                page = zone.rmqueue_smallest(order, MigrateType::HighAtomic);
            }
        }
        page
    }
}

impl ZoneGuard<'_> {
    /// Whether falling back at `order` should try to claim the pageblock
    /// (should_try_claim_block).
    fn should_try_claim_block(&self, order: u32, start_mt: MigrateType) -> bool {
        order >= PAGEBLOCK_ORDER / 2
            || matches!(start_mt, MigrateType::Reclaimable | MigrateType::Unmovable)
            || self.zone.page_group_by_mobility_disabled
    }

    /// The first fallback type with a free block at `order` (find_suitable_fallback).
    fn find_suitable_fallback(&self, order: u32, mt: MigrateType, claimable: bool) -> Fallback {
        if claimable && !self.should_try_claim_block(order, mt) {
            return Fallback::TooLow;
        }
        let area = &self.fa.area[order as usize];
        for &fallback in &FALLBACKS[mt as usize % MIGRATE_PCPTYPES] {
            if !area.free_list[fallback as usize].is_empty() {
                return Fallback::Found(fallback);
            }
        }
        Fallback::None
    }

    /// Take a fallback block and maybe claim its pageblock for `start_mt`
    /// (try_to_claim_block).
    fn try_to_claim_block(
        &mut self,
        pfn: ValidPfn,
        current_order: u32,
        order: u32,
        start_mt: MigrateType,
        block_mt: MigrateType,
    ) -> Option<ValidPfn> {
        if current_order >= PAGEBLOCK_ORDER {
            // Whole pageblocks: take them over.
            self.del_page_from_free_list(pfn, current_order, block_mt);
            self.change_pageblock_range(pfn, current_order, start_mt);
            self.expand(pfn, order, current_order, start_mt);
            return Some(pfn);
        }
        let (start, free_pages, movable_pages) = self.prep_move_freepages_block(pfn)?;
        // Pages compatible with the request: movable ones for a movable
        // request; for an unmovable or reclaimable request falling back to a
        // movable block, everything not movable; otherwise none can be told.
        let alike_pages = if start_mt == MigrateType::Movable {
            movable_pages
        } else if block_mt == MigrateType::Movable {
            PAGEBLOCK_NR_PAGES - (free_pages + movable_pages)
        } else {
            0
        };
        if free_pages + alike_pages >= 1 << (PAGEBLOCK_ORDER - 1) || self.zone.page_group_by_mobility_disabled {
            self.move_freepages(start, block_mt, start_mt);
            self.map.set_pageblock_migratetype(start, start_mt);
            return self.rmqueue_smallest(order, start_mt);
        }
        None
    }

    /// Fall back to another type and try to claim (__rmqueue_claim):
    /// largest blocks first, a rough stand-in for "the pageblock with most free pages".
    fn rmqueue_claim(&mut self, order: u32, start_mt: MigrateType, alloc_flags: AllocFlags) -> Option<ValidPfn> {
        let min_order = if order < PAGEBLOCK_ORDER && alloc_flags.contains(AllocFlags::NOFRAGMENT) {
            PAGEBLOCK_ORDER
        } else {
            order
        };
        for current in (min_order..=MAX_PAGE_ORDER).rev() {
            match self.find_suitable_fallback(current, start_mt, true) {
                Fallback::None => continue,
                Fallback::TooLow => break,
                Fallback::Found(block_mt) => {
                    let pfn = self.fa.area[current as usize].free_list[block_mt as usize].first()?;
                    if let Some(page) = self.try_to_claim_block(pfn, current, order, start_mt, block_mt) {
                        return Some(page);
                    }
                }
            }
        }
        None
    }

    /// Fall back without claiming, smallest block first (__rmqueue_steal).
    fn rmqueue_steal(&mut self, order: u32, start_mt: MigrateType) -> Option<ValidPfn> {
        for current in order..=MAX_PAGE_ORDER {
            if let Fallback::Found(block_mt) = self.find_suitable_fallback(current, start_mt, false) {
                let pfn = self.fa.area[current as usize].free_list[block_mt as usize].first()?;
                self.page_del_and_expand(pfn, order, current, block_mt);
                return Some(pfn);
            }
        }
        None
    }

    /// Take a block of `order` for type `mt` (__rmqueue).
    pub(crate) fn rmqueue(
        &mut self,
        order: u32,
        mt: MigrateType,
        alloc_flags: AllocFlags,
        mode: &mut RmqueueMode,
    ) -> Option<ValidPfn> {
        let cma = alloc_flags.contains(AllocFlags::CMA);
        // Keep movable allocations balanced between CMA and the rest.
        if cma
            && self.zone.free_cma_pages() > self.zone.free_pages() / 2
            && let Some(page) = self.rmqueue_smallest(order, MigrateType::Cma)
        {
            return Some(page);
        }
        if *mode <= RmqueueMode::Normal
            && let Some(page) = self.rmqueue_smallest(order, mt)
        {
            return Some(page);
        }
        if *mode <= RmqueueMode::Cma
            && cma
            && let Some(page) = self.rmqueue_smallest(order, MigrateType::Cma)
        {
            *mode = RmqueueMode::Cma;
            return Some(page);
        }
        if *mode <= RmqueueMode::Claim
            && let Some(page) = self.rmqueue_claim(order, mt, alloc_flags)
        {
            *mode = RmqueueMode::Normal;
            return Some(page);
        }
        if !alloc_flags.contains(AllocFlags::NOFRAGMENT)
            && let Some(page) = self.rmqueue_steal(order, mt)
        {
            *mode = RmqueueMode::Steal;
            return Some(page);
        }
        None
    }
}
