//! Page isolation (Linux's mm/page_isolation.c): taking a range of
//! pageblocks out of the allocator's reach so that a caller can empty them
//! and then own every page of the range.
//!
//! # The idea
//!
//! A pageblock whose type is ISOLATE is invisible to allocation: its free
//! pages sit on the ISOLATE lists, which no allocation reads, and
//! `NR_FREE_PAGES` does not count them. Pages freed into it go straight to
//! those lists (the pcp lists are bypassed, see free.rs), so once the
//! in-use pages of the range have been migrated out or released, the whole
//! range is free and stays free until the isolation is undone.
//!
//! ```text
//!   start_isolate_page_range(start, end)      pageblock-aligned cover of [start, end)
//!     for each pageblock of the cover:
//!       has_unmovable_pages?  (the part inside [start, end); CMA blocks for
//!                              CMA_ALLOCATION are not scanned)   -> Busy, undo
//!       already ISOLATE?                                         -> Busy, undo
//!       not wholly in one zone?                                  -> Busy, undo
//!       remember the old type in the pageblock, type := ISOLATE,
//!       its free pages (splitting a larger free block) -> ISOLATE lists
//!     drain every pcp list: pages already there land on ISOLATE lists
//!   ... the caller migrates or frees what is in use ...
//!   test_pages_isolated(start, end)            every page free on an ISOLATE list?
//!   undo_isolate_page_range(start, end, mt)    back to the remembered type
//! ```
//!
//! # Original types
//!
//! An isolated pageblock keeps the type it had (Unmovable, Movable, CMA,
//! ...) in spare bits of its first descriptor's flags, beside the ISOLATE
//! type itself; undoing restores it, and a failed isolation undoes the
//! pageblocks it had isolated the same way. This is what Linux 6.16 does
//! with its separate PB_migrate_isolate bit; older Linux set every
//! pageblock to the caller's `migratetype` on undo. The `mt` argument of
//! [`PageAllocator::undo_isolate_page_range`] is only used for a pageblock
//! with no remembered type (isolated by hand with
//! [`PageAllocator::isolate_pageblock`] before a type was recorded).
//!
//! A pageblock that is wholly free when its isolation ends is freed again
//! so that it can merge with a free neighbour pageblock (isolated, it could
//! not); if the neighbour's type differs (both mergeable), the merged block
//! takes one type, as every merge in `__free_one_page` does, in Linux too.
//!
//! # Unmovable pages
//!
//! `has_unmovable_pages` looks at every page of the pageblock that lies in
//! the requested range: free pages (refcount 0, the buddy blocks skipped
//! whole) and, with `MEMORY_OFFLINE`, hardware-poisoned pages are fine;
//! PG_reserved pages (holes, boot allocations) never are; in ZONE_MOVABLE
//! everything else is assumed movable (as in Linux: an unmovable page
//! there is found when it fails to migrate); elsewhere an in-use page is
//! fine only if the migrator says it can move it. The test takes a
//! reference to the page first ([`isolate_movable_page`]), so that a page
//! freed and reused meanwhile is not misjudged; it runs before the zone
//! lock is taken, so dropping that reference may free the page.
//!
//! # Lock order
//!
//! No allocator lock is held while scanning or while logging; each
//! pageblock's type change and free-list move happen under its zone lock.
//! Nothing here sleeps, and every loop is bounded by the range.
//!
//! # Differences from Linux
//!
//! No memory-isolation notifier, no PageOffline or unaccepted pages, no
//! hugetlb; compound pages straddling the range's ends are not migrated
//! out of the way (isolate_single_pageblock): free blocks larger than a
//! pageblock are split, in-use ones are either movable order-0 pages or
//! not movable at all. `REPORT_FAILURE` dumps the unmovable page as
//! Linux's dump_page does, at info level.

use bitflags::bitflags;

use crate::addr::Pfn;
use crate::config::PAGEBLOCK_NR_PAGES;
use crate::error::Error;
use crate::hal::{Hal, LogLevel};
use crate::migrate::{Migrator, isolate_movable_page};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::{PageFlags, PageFlagsDisplay, ValidPfn};
use crate::zone::Zone;

use super::allocator::PageAllocator;

bitflags! {
    /// How a range is isolated (Linux's isolate flags and pb_isolate_mode).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct IsolateFlags: u32 {
        /// Isolating to take memory offline: hardware-poisoned pages count
        /// as free (MEMORY_OFFLINE).
        const MEMORY_OFFLINE = 1 << 0;
        /// Log the page that made a pageblock unmovable (REPORT_FAILURE).
        const REPORT_FAILURE = 1 << 1;
        /// A CMA allocation: CMA pageblocks may be isolated without the
        /// unmovable-page scan, and only then (MIGRATE_CMA / PB_ISOLATE_MODE_CMA_ALLOC).
        const CMA_ALLOCATION = 1 << 2;
    }
}

/// The first PFN of the pageblock holding `pfn` (pageblock_start_pfn).
pub(super) const fn pageblock_start_pfn(pfn: u64) -> u64 {
    pfn & !(PAGEBLOCK_NR_PAGES - 1)
}

/// `pfn` rounded up to a pageblock boundary (pageblock_align).
pub(super) const fn pageblock_align(pfn: u64) -> u64 {
    pfn.next_multiple_of(PAGEBLOCK_NR_PAGES)
}

impl<H: Hal> PageAllocator<H> {
    /// Make every pageblock of the pageblock-aligned cover of
    /// `[start, end)` ISOLATE (start_isolate_page_range), then drain the
    /// pcp lists. In-use pages are judged movable by the registered
    /// migrator ([`Self::set_migrator`]); without one only free pages are.
    ///
    /// `Busy` if a pageblock holds an unmovable page in the range, is
    /// already isolated or straddles a zone boundary; `InvalidArgument`
    /// for an empty range. On error every pageblock this call isolated is
    /// back to its type and nothing else changed.
    pub fn start_isolate_page_range(&self, cpu: usize, start: Pfn, end: Pfn, flags: IsolateFlags) -> Result<(), Error> {
        self.start_isolate_range_with(cpu, start.0, end.0, flags, self.migrator())
    }

    /// [`Self::start_isolate_page_range`] with the migrator given.
    pub(super) fn start_isolate_range_with(
        &self,
        cpu: usize,
        start: u64,
        end: u64,
        flags: IsolateFlags,
        migrator: Option<&dyn Migrator>,
    ) -> Result<(), Error> {
        if start >= end {
            return Err(Error::InvalidArgument);
        }
        let (cover_start, cover_end) = (pageblock_start_pfn(start), pageblock_align(end));
        let mut pb = cover_start;
        while pb < cover_end {
            let check = (start.max(pb), end.min(pb + PAGEBLOCK_NR_PAGES));
            if let Err(e) = self.set_migratetype_isolate(cpu, pb, check, flags, migrator) {
                self.undo_isolate_range_to_saved(cover_start, pb, None);
                return Err(e);
            }
            pb += PAGEBLOCK_NR_PAGES;
        }
        self.drain_all_pages();
        Ok(())
    }

    /// Isolate the pageblock at `pb` if `[check.0, check.1)` (its part in
    /// the requested range) holds no unmovable page (set_migratetype_isolate).
    /// A pageblock without descriptors is skipped, as Linux skips one
    /// without a valid page.
    fn set_migratetype_isolate(
        &self,
        cpu: usize,
        pb: u64,
        check: (u64, u64),
        flags: IsolateFlags,
        migrator: Option<&dyn Migrator>,
    ) -> Result<(), Error> {
        let Some(v) = self.map.valid(pb) else { return Ok(()) };
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::Busy)?;
        if self.map.get_pageblock_migratetype(v) == MigrateType::Isolate {
            return Err(Error::Busy);
        }
        if let Some(bad) = self.has_unmovable_pages(cpu, zone, v, check, flags, migrator) {
            if flags.contains(IsolateFlags::REPORT_FAILURE) {
                self.dump_unmovable_page(bad);
            }
            return Err(Error::Busy);
        }
        // Busy too when it straddles a zone or someone isolated it meanwhile.
        zone.set_pageblock_isolate(&self.map, v).map_err(|_| Error::Busy)
    }

    /// The first page of `[check.0, check.1)` (inside the pageblock at
    /// `pb`) that keeps the pageblock from being isolated
    /// (has_unmovable_pages); see the module documentation.
    fn has_unmovable_pages(
        &self,
        cpu: usize,
        zone: &Zone,
        pb: ValidPfn,
        check: (u64, u64),
        flags: IsolateFlags,
        migrator: Option<&dyn Migrator>,
    ) -> Option<u64> {
        if self.map.get_pageblock_migratetype(pb) == MigrateType::Cma {
            // CMA allocations isolate their pageblocks whatever is in them
            // (only movable allocations use CMA); nobody else may.
            return if flags.contains(IsolateFlags::CMA_ALLOCATION) { None } else { Some(check.0) };
        }
        let mut p = check.0;
        while p < check.1 {
            let page = self.map.page(pb.same_section(p));
            if page.test_flags(PageFlags::RESERVED) {
                return Some(p);
            }
            if zone.zone_type() == ZoneType::Movable {
                p += 1;
                continue;
            }
            if page.page_ref_count() == 0 {
                // Free: a buddy block is skipped whole, a page on a pcp
                // list or the tail of a free block one by one.
                p += if page.test_flags(PageFlags::BUDDY) { 1 << page.buddy_order() } else { 1 };
                continue;
            }
            if flags.contains(IsolateFlags::MEMORY_OFFLINE) && page.test_flags(PageFlags::HWPOISON) {
                p += 1;
                continue;
            }
            if !migrator.is_some_and(|m| self.page_is_movable(cpu, Pfn(p), m)) {
                return Some(p);
            }
            p += 1;
        }
        None
    }

    /// Whether the in-use page `pfn` is one `migrator` can move, judged
    /// with a reference held (then dropped, which may free the page).
    pub(super) fn page_is_movable(&self, cpu: usize, pfn: Pfn, migrator: &dyn Migrator) -> bool {
        if !isolate_movable_page(self, cpu, pfn, migrator) {
            return false;
        }
        // SAFETY: the reference isolate_movable_page just took, given up
        // at once; nothing uses the page through it.
        unsafe { self.put_page(cpu, pfn) };
        true
    }

    /// REPORT_FAILURE's dump_page of the page that blocked isolation.
    #[cold]
    fn dump_unmovable_page(&self, pfn: u64) {
        let Some(page) = self.map.pfn_to_page(Pfn(pfn)) else { return };
        H::log(
            LogLevel::Info,
            format_args!(
                "page: refcount:{} mapcount:{} mapping:{:016x} index:{:#x} pfn:{:#x}",
                page.page_ref_count(),
                page.page_mapcount(),
                page.mapping(),
                page.index(),
                pfn
            ),
        );
        H::log(LogLevel::Info, format_args!("flags: {}", PageFlagsDisplay(page.raw_flags())));
        H::log(LogLevel::Info, format_args!("page dumped because: unmovable page"));
    }

    /// Give every ISOLATE pageblock of the pageblock-aligned cover of
    /// `[start, end)` back the type it had before it was isolated
    /// (undo_isolate_page_range); `mt` for one with no type remembered.
    /// Pageblocks that are not isolated are left alone.
    pub fn undo_isolate_page_range(&self, start: Pfn, end: Pfn, mt: MigrateType) {
        let fallback = if mt == MigrateType::Isolate { MigrateType::Movable } else { mt };
        self.undo_isolate_range_to_saved(pageblock_start_pfn(start.0), pageblock_align(end.0), Some(fallback));
    }

    /// Undo the isolation of the pageblocks in `[cover_start, cover_end)`
    /// (pageblock-aligned), each to its remembered type, else `fallback`,
    /// else Movable.
    pub(super) fn undo_isolate_range_to_saved(&self, cover_start: u64, cover_end: u64, fallback: Option<MigrateType>) {
        let mut pb = cover_start;
        while pb < cover_end {
            if let Some(v) = self.map.valid(pb)
                && self.map.get_pageblock_migratetype(v) == MigrateType::Isolate
                && let Some(zone) = self.page_zone(self.map.page(v))
            {
                let mt = self.map.pageblock_saved_migratetype(v).or(fallback).unwrap_or(MigrateType::Movable);
                let undone = zone.unset_pageblock_isolate(&self.map, v, mt);
                debug_assert!(undone.is_ok(), "isolated pageblock {pb:#x} would not go back");
            }
            pb += PAGEBLOCK_NR_PAGES;
        }
    }

    /// Whether every page of `[start, end)` is free on an ISOLATE list
    /// (test_pages_isolated): every pageblock of the cover isolated, every
    /// page in a free block (a block that starts before `start` counts),
    /// or, with `MEMORY_OFFLINE`, hardware-poisoned. The range must lie in
    /// one zone. `Busy` otherwise (`InvalidArgument` for an empty range).
    pub fn test_pages_isolated(&self, start: Pfn, end: Pfn, flags: IsolateFlags) -> Result<(), Error> {
        let (start, end) = (start.0, end.0);
        if start >= end {
            return Err(Error::InvalidArgument);
        }
        let mut pb = pageblock_start_pfn(start);
        while pb < end {
            match self.map.valid(pb) {
                Some(v) if self.map.get_pageblock_migratetype(v) == MigrateType::Isolate => {}
                _ => return Err(Error::Busy),
            }
            pb += PAGEBLOCK_NR_PAGES;
        }
        let v = self.map.valid(start).ok_or(Error::Busy)?;
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::Busy)?;
        if !zone.spans(end - 1) {
            return Err(Error::Busy);
        }
        let guard = zone.lock(&self.map);
        let mut p = guard.free_block_containing(start).map_or(start, |(head, _)| head.get());
        while p < end {
            let Some(v) = self.map.valid(p) else { return Err(Error::Busy) };
            let page = self.map.page(v);
            if page.test_flags(PageFlags::BUDDY) {
                p += 1 << page.buddy_order();
            } else if flags.contains(IsolateFlags::MEMORY_OFFLINE) && page.test_flags(PageFlags::HWPOISON) {
                p += 1;
            } else {
                return Err(Error::Busy);
            }
        }
        Ok(())
    }
}
