//! Contiguous ranges on demand (alloc_contig_range, free_contig_range and
//! alloc_contig_pages of Linux's mm/page_alloc.c): any number of
//! physically contiguous pages, not just a power of two up to
//! MAX_PAGE_ORDER, taken from memory that holds movable pages until then.
//! CMA is the main user; a gigantic buffer in ZONE_MOVABLE is another.
//!
//! # alloc_contig_range
//!
//! ```text
//!   [start, end) in one zone, mt Movable or CMA
//!   start_isolate_page_range(cover of [start, end))   Busy: an unmovable page
//!   migrate the range out, a batch of up to 32 pages at a time:
//!       scan: free pages skipped, movable ones isolated (a reference each),
//!             any other in-use page -> Busy
//!       migrate_pages(batch) to targets alloc_pages(HIGHUSER_MOVABLE) on the
//!             page's node (never in the range: its pageblocks are ISOLATE)
//!       pages that did not move: scan the same stretch again, 5 tries
//!       in all (__alloc_contig_migrate_range), then Busy; no target: NoMemory
//!   the sources were freed into isolated pageblocks: they are on the
//!       ISOLATE lists, so the whole range is free now (test_pages_isolated)
//!   take the free blocks off the ISOLATE lists; a block that sticks out of
//!       the range is split and its outside part goes back (outer_start,
//!       outer_end and the split of Linux)
//!   every page of [start, end): the allocation checks, refcount 1; then
//!       debug_pagealloc's map and __GFP_ZERO (init_on_alloc) for the range
//!   undo the isolation: every pageblock back to its old type      (always)
//! ```
//!
//! The caller then owns `end - start` order-0 pages, one reference each,
//! and gives them back with [`PageAllocator::free_contig_range`]. Every
//! error path undoes the isolation and returns whatever it took: a failed
//! call leaves the pageblock types as they were and loses no page (the
//! pages migrated before the failure stay migrated: their contents moved,
//! the free count is the same). One exception to "types as they were",
//! shared with every free: a pageblock that migration left wholly free
//! merges with a wholly free neighbour when its isolation ends, and the
//! merged block has one type.
//!
//! # alloc_contig_pages
//!
//! Walks the allowed zones (gfp_zone and below, of one node or, through
//! the CPU's fallback zonelist, of all) for a range of `nr_pages` aligned
//! to the next power of two whose every page is free or movable
//! (pfn_range_valid_contig) and tries alloc_contig_range on each, in order.
//!
//! # Not in atomic context
//!
//! Migration may take long and allocates, so these calls are for callers
//! that may sleep (cma_alloc asserts it). They take no lock across the
//! work; every loop is bounded by the range or by the retry counts.
//!
//! # Differences from Linux
//!
//! `__GFP_COMP` is refused (the pages come back order-0; Linux can make
//! one compound page of an aligned range). Only `__GFP_ZERO` and
//! `__GFP_NOWARN` change what happens; the reclaim bits are accepted and
//! ignored (there is no reclaim). There is no lru_cache_disable (no LRU
//! caches) and no page reclaim before migration (reclaim_clean_pages_from_list).
//! The busy message is not rate-limited. `pfn_range_valid_contig` also
//! rejects ranges with an in-use page the migrator cannot move and ranges
//! with CMA or isolated pageblocks, which alloc_contig_range would refuse.

use crate::addr::Pfn;
use crate::config::{NodeId, PAGEBLOCK_NR_PAGES};
use crate::error::Error;
use crate::gfp::{Gfp, gfp_zone};
use crate::hal::{Hal, LinearMapping, LogLevel};
use crate::migrate::{Migrator, isolate_movable_page, migrate_pages};
use crate::mmzone::MigrateType;
use crate::page::{PageFlags, ValidPfn};
use crate::zone::{Fpi, Zone};

use super::allocator::{AllocatorFlags, PageAllocator};
use super::isolation::{IsolateFlags, pageblock_align, pageblock_start_pfn};
use super::node::{ZONELIST_FALLBACK, ZONELIST_NOFALLBACK};

/// Pages isolated for one migrate_pages call (COMPACT_CLUSTER_MAX).
pub const CONTIG_MIGRATE_BATCH: usize = 32;

/// Passes over a batch whose pages would not all move before the range
/// counts as busy (the five tries of __alloc_contig_migrate_range).
pub const CONTIG_MIGRATE_TRIES: u32 = 5;

impl<H: Hal> PageAllocator<H> {
    /// Allocate every page of `[start, end)` (alloc_contig_range): on
    /// success each is an order-0 page with one reference, the caller's.
    /// `mt` is the type of the range's pageblocks the caller expects,
    /// Movable or CMA (CMA pageblocks are isolated only for CMA); in-use
    /// pages are moved out with `migrator`, or the registered one when
    /// `None`. `gfp` may ask for zeroed pages (`__GFP_ZERO`) and silence
    /// the busy message (`__GFP_NOWARN`).
    ///
    /// Errors: `InvalidArgument` (empty range, not all memory of one zone,
    /// `mt` neither Movable nor CMA, `__GFP_COMP`); `Busy` (an in-use page
    /// that cannot move, a pageblock already isolated); `NoMemory` (no
    /// page to migrate to). Never for callers that cannot sleep.
    pub fn alloc_contig_range(
        &self,
        cpu: usize,
        start: Pfn,
        end: Pfn,
        mt: MigrateType,
        gfp: Gfp,
        migrator: Option<&dyn Migrator>,
    ) -> Result<(), Error> {
        let (s, e) = (start.0, end.0);
        if s >= e || !matches!(mt, MigrateType::Movable | MigrateType::Cma) || gfp.contains(Gfp::COMP) {
            return Err(Error::InvalidArgument);
        }
        let zone = self.contig_range_zone(s, e)?;
        let migrator = migrator.or(self.migrator());
        let flags = if mt == MigrateType::Cma { IsolateFlags::CMA_ALLOCATION } else { IsolateFlags::empty() };
        let result = self.start_isolate_range_with(cpu, s, e, flags, migrator).and_then(|()| {
            let r = self.alloc_contig_isolated(cpu, zone, s, e, gfp, migrator);
            self.undo_isolate_range_to_saved(pageblock_start_pfn(s), pageblock_align(e), Some(mt));
            r
        });
        if result == Err(Error::Busy) && !gfp.contains(Gfp::NOWARN) {
            H::log(LogLevel::Info, format_args!("alloc_contig_range: [{s:x}, {e:x}) PFNs busy"));
        }
        result
    }

    /// The zone holding all of `[s, e)`, every pageblock of which has
    /// descriptors.
    fn contig_range_zone(&self, s: u64, e: u64) -> Result<&Zone, Error> {
        let v = self.map.valid(s).ok_or(Error::InvalidArgument)?;
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::InvalidArgument)?;
        if !zone.spans(e - 1) {
            return Err(Error::InvalidArgument);
        }
        let mut pb = pageblock_start_pfn(s);
        while pb < e {
            if self.map.valid(pb.max(s)).is_none() {
                return Err(Error::InvalidArgument);
            }
            pb += PAGEBLOCK_NR_PAGES;
        }
        Ok(zone)
    }

    /// The part of alloc_contig_range between isolating and undoing.
    fn alloc_contig_isolated(
        &self,
        cpu: usize,
        zone: &Zone,
        s: u64,
        e: u64,
        gfp: Gfp,
        migrator: Option<&dyn Migrator>,
    ) -> Result<(), Error> {
        self.alloc_contig_migrate_range(cpu, s, e, migrator)?;
        zone.take_isolated_free_range(&self.map, s, e)?;
        self.prep_contig_range(cpu, zone, s, e, gfp)
    }

    /// Migrate every in-use page of `[s, e)` out (__alloc_contig_migrate_range).
    fn alloc_contig_migrate_range(
        &self,
        cpu: usize,
        s: u64,
        e: u64,
        migrator: Option<&dyn Migrator>,
    ) -> Result<(), Error> {
        let mut batch = [Pfn(0); CONTIG_MIGRATE_BATCH];
        let mut pfn = s;
        while pfn < e {
            let mut limit = e;
            let mut tries = 0;
            loop {
                let (n, scan_end) = self.isolate_contig_batch(cpu, pfn, limit, migrator, &mut batch)?;
                limit = scan_end;
                let Some(m) = migrator.filter(|_| n > 0) else { break };
                let r = migrate_pages(
                    self,
                    cpu,
                    m,
                    &mut batch[..n],
                    &mut |src| self.alloc_migration_target(cpu, src),
                    // SAFETY: an unused target: the page alloc_migration_target
                    // allocated, with its one reference, mapped by nobody.
                    &mut |dst| unsafe { self.put_page(cpu, dst) },
                );
                if r.no_target {
                    return Err(Error::NoMemory);
                }
                if r.failed == 0 {
                    break;
                }
                tries += 1;
                if tries == CONTIG_MIGRATE_TRIES {
                    return Err(Error::Busy);
                }
                // Contended pages: give their lock holders time (this path
                // may sleep, as Linux's sync migration does).
                m.backoff(tries);
            }
            pfn = limit;
        }
        Ok(())
    }

    /// Isolate up to a batch of movable pages from `[from, limit)`
    /// (isolate_migratepages_range): returns how many, and where the scan
    /// stopped. An in-use page that cannot be isolated makes the range
    /// `Busy`; the references taken so far are dropped first.
    fn isolate_contig_batch(
        &self,
        cpu: usize,
        from: u64,
        limit: u64,
        migrator: Option<&dyn Migrator>,
        batch: &mut [Pfn; CONTIG_MIGRATE_BATCH],
    ) -> Result<(usize, u64), Error> {
        let mut n = 0;
        let mut p = from;
        while p < limit && n < CONTIG_MIGRATE_BATCH {
            let Some(v) = self.map.valid(p) else { return Err(Error::InvalidArgument) };
            let page = self.map.page(v);
            if page.page_ref_count() == 0 {
                p += if page.test_flags(PageFlags::BUDDY) { 1 << page.buddy_order() } else { 1 };
                continue;
            }
            if migrator.is_some_and(|m| isolate_movable_page(self, cpu, Pfn(p), m)) {
                batch[n] = Pfn(p);
                n += 1;
                p += 1;
                continue;
            }
            if page.page_ref_count() == 0 {
                // Freed while we looked: the next round sees a free page.
                continue;
            }
            for &pfn in &batch[..n] {
                // SAFETY: the isolation reference taken above, given back.
                unsafe { self.put_page(cpu, pfn) };
            }
            return Err(Error::Busy);
        }
        Ok((n, p.min(limit)))
    }

    /// A page to migrate `src` to: movable user memory on `src`'s node
    /// (alloc_migration_target). The range's pageblocks are ISOLATE, so
    /// the page is never one of them.
    fn alloc_migration_target(&self, cpu: usize, src: Pfn) -> Option<Pfn> {
        let nid = self.map.pfn_to_page(src)?.node();
        let dst = self.alloc_pages_node(cpu, nid, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN, 0).ok()?;
        debug_assert_ne!(self.pageblock_migratetype(dst), Some(MigrateType::Isolate), "target {dst:?} isolated");
        Some(dst)
    }

    /// Make the pages of `[s, e)`, just taken off the free lists, the
    /// caller's: check_new_pages on each, refcount 1, then what
    /// prep_new_page does for a block (debug_pagealloc's map, then zeroing
    /// for `__GFP_ZERO` or init_on_alloc unless init_on_free), for the whole
    /// range at once. If a page fails its check it is leaked as a bad page
    /// (as every allocation leaks one) and the others go back, unchanged,
    /// to the ISOLATE lists: `Busy`.
    fn prep_contig_range(&self, cpu: usize, zone: &Zone, s: u64, e: u64, gfp: Gfp) -> Result<(), Error> {
        let valid = |p: u64| -> ValidPfn { self.map.valid(p).expect("checked by contig_range_zone") };
        // check_new_pages reports a bad page and keeps it off the lists.
        if let Some(bad) = (s..e).find(|&p| !self.check_new_pages(cpu, valid(p), 0)) {
            for p in (s..e).filter(|&p| p != bad) {
                zone.free_one_page(&self.map, valid(p), 0, Fpi::empty());
            }
            return Err(Error::Busy);
        }
        for p in s..e {
            let page = self.map.page(valid(p));
            page.set_private_internal(0);
            page.set_page_count(1);
        }
        // As prep_new_page: map first, the zeroing writes through the map.
        if self.flags.contains(AllocatorFlags::DEBUG_PAGEALLOC) {
            H::kernel_map_pages(Pfn(s), e - s, LinearMapping::Map);
        }
        if !self.flags.contains(AllocatorFlags::INIT_ON_FREE)
            && (self.flags.contains(AllocatorFlags::INIT_ON_ALLOC) || gfp.contains(Gfp::ZERO))
        {
            H::zero_pages(Pfn(s), e - s);
        }
        Ok(())
    }

    /// Give back `nr_pages` pages from `start`, each dropping one reference
    /// (free_contig_range); warns about pages that had more than one.
    ///
    /// # Safety
    ///
    /// 1. The caller holds one reference to each page of the range (from
    ///    [`Self::alloc_contig_range`] or [`Self::alloc_contig_pages`]) and
    ///    gives it up with this call.
    /// 2. Nothing uses the pages through those references afterwards.
    pub unsafe fn free_contig_range(&self, cpu: usize, start: Pfn, nr_pages: u64) {
        let mut in_use = 0u64;
        for pfn in start.0..start.0 + nr_pages {
            if self.map.pfn_to_page(Pfn(pfn)).is_some_and(|p| p.page_ref_count() != 1) {
                in_use += 1;
            }
            // SAFETY: obligations 1 and 2 are free_page's, page by page.
            unsafe { self.free_page(cpu, Pfn(pfn)) };
        }
        if in_use != 0 {
            H::log(LogLevel::Warning, format_args!("WARNING: free_contig_range: {in_use} pages are still in use!"));
        }
    }

    /// Find and allocate `nr_pages` contiguous pages (alloc_contig_pages):
    /// a range aligned to `nr_pages` rounded up to a power of two, in a
    /// zone `gfp` allows (gfp_zone and below), of node `nid` or, for
    /// `None`, of any node in the CPU's fallback order, whose pages are
    /// all free or movable. Returns the first PFN; the pages are the
    /// caller's as after [`Self::alloc_contig_range`]. `NoMemory` when no
    /// range could be had.
    pub fn alloc_contig_pages(
        &self,
        cpu: usize,
        nr_pages: u64,
        gfp: Gfp,
        nid: Option<NodeId>,
        migrator: Option<&dyn Migrator>,
    ) -> Result<Pfn, Error> {
        if nr_pages == 0 || nr_pages > 1 << 40 || gfp.contains(Gfp::COMP) {
            return Err(Error::InvalidArgument);
        }
        let align = nr_pages.next_power_of_two();
        let migrator = migrator.or(self.migrator());
        let (node, which) = match nid {
            Some(n) => (n, ZONELIST_NOFALLBACK),
            None if gfp.contains(Gfp::THISNODE) => (self.numa_mem_id(cpu), ZONELIST_NOFALLBACK),
            None => (self.numa_mem_id(cpu), ZONELIST_FALLBACK),
        };
        let pgdat = self.node_data(node).ok_or(Error::InvalidArgument)?;
        let highest = gfp_zone(gfp);
        for &zref in pgdat.zonelist(which).zones() {
            if zref.zone > highest {
                continue;
            }
            let Some(zone) = self.zone(zref) else { continue };
            let mut pfn = zone.zone_start_pfn().next_multiple_of(align);
            while pfn + nr_pages <= zone.zone_end_pfn() {
                if self.pfn_range_valid_contig(cpu, zone, pfn, nr_pages, migrator)
                    && self
                        .alloc_contig_range(cpu, Pfn(pfn), Pfn(pfn + nr_pages), MigrateType::Movable, gfp, migrator)
                        .is_ok()
                {
                    return Ok(Pfn(pfn));
                }
                pfn += align;
            }
        }
        Err(Error::NoMemory)
    }

    /// Whether `[start, start + nr_pages)` is worth an alloc_contig_range
    /// (pfn_range_valid_contig): all of it memory of `zone`, no reserved
    /// page, every in-use page movable, no CMA or isolated pageblock.
    fn pfn_range_valid_contig(
        &self,
        cpu: usize,
        zone: &Zone,
        start: u64,
        nr_pages: u64,
        migrator: Option<&dyn Migrator>,
    ) -> bool {
        let end = start + nr_pages;
        let mut p = start;
        while p < end {
            let Some(v) = self.map.valid(p) else { return false };
            if p == start || p.is_multiple_of(PAGEBLOCK_NR_PAGES) {
                let mt = self.map.get_pageblock_migratetype(v);
                if matches!(mt, MigrateType::Cma | MigrateType::Isolate) {
                    return false;
                }
            }
            let page = self.map.page(v);
            if page.node() != zone.node() || page.zone_type() != zone.zone_type() {
                return false;
            }
            if page.test_flags(PageFlags::RESERVED) {
                return false;
            }
            if page.page_ref_count() == 0 {
                if page.test_flags(PageFlags::BUDDY) {
                    // Skip the rest of the free block, but not past a
                    // pageblock boundary, whose type is tested above.
                    let block_end = p + (1 << page.buddy_order());
                    p = block_end.min(pageblock_align(p + 1));
                } else {
                    p += 1;
                }
                continue;
            }
            if !migrator.is_some_and(|m| self.page_is_movable(cpu, Pfn(p), m)) {
                return false;
            }
            p += 1;
        }
        true
    }
}
