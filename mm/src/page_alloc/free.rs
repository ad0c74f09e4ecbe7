//! Freeing: __free_pages and its relatives, draining the pcp lists, and
//! isolating pageblocks.

use crate::addr::{PAGE_SIZE, Pfn};
use crate::config::{MAX_PAGE_ORDER, NR_CPUS};
use crate::error::Error;
use crate::hal::{Hal, LogLevel};
use crate::mmzone::{MIGRATE_PCPTYPES, MigrateType};
use crate::page::{Page, PutResult, ValidPfn};
use crate::pcp::pcp_allowed_order;
use crate::zone::Fpi;

use super::allocator::PageAllocator;

impl<H: Hal> PageAllocator<H> {
    // ----- freeing ------------------------------------------------------

    /// Drop a reference to a block of `2^order` pages and free it when it was
    /// the last (__free_pages). Bad input (no descriptor, misaligned, order
    /// too large) is reported and ignored, and so is a block whose count is
    /// already zero (a double free).
    ///
    /// Safe code frees through the owning [`Pages`](super::Pages) handle.
    ///
    /// # Safety
    ///
    /// The checks above cannot tell a block the caller owns from a live block
    /// someone else owns, so the caller promises:
    ///
    /// 1. it holds a reference to the block at `pfn` (the one
    ///    [`alloc_pages`](Self::alloc_pages) returned, or one taken with
    ///    `get_page`), and gives it up with this call;
    /// 2. `order` is the order the block was allocated with (for a block that
    ///    is not compound, pages past the first are freed when references to
    ///    the first remain: they must be the caller's too);
    /// 3. nothing reads or writes the pages through that reference after the
    ///    call (the allocator may hand them out again at once).
    #[inline]
    pub unsafe fn free_pages(&self, cpu: usize, pfn: Pfn, order: u32) {
        match self.cpu_pages.get(cpu) {
            // SAFETY: obligations 1-3 are free_pages_on's 1.
            Some(cp) => unsafe { self.free_pages_on(cp, pfn, order) },
            // SAFETY: as above.
            None => unsafe { self.free_pages_slow(cpu, pfn, order) },
        }
    }

    /// Everything [`Self::free_pages_on`] does not take: invalid input,
    /// compound blocks with flags beyond PG_head or above order 3,
    /// high-order blocks it cannot place, debug settings, shared blocks.
    ///
    /// # Safety
    ///
    /// 1. As [`Self::free_pages`].
    #[inline(never)]
    pub(super) unsafe fn free_pages_slow(&self, cpu: usize, pfn: Pfn, order: u32) {
        let Some(v) = self.map.valid(pfn.0) else {
            return self.free_pages_invalid(pfn, order);
        };
        if order > MAX_PAGE_ORDER || pfn.0 & ((1 << order) - 1) != 0 {
            return self.free_pages_invalid(pfn, order);
        }
        let page = self.map.page(v);
        let head = page.is_head();
        match page.put_page_testzero() {
            PutResult::Zero => self.free_frozen_pages(cpu, v, order),
            PutResult::Held => self.free_pages_held(cpu, v, order, head),
            PutResult::Underflow => self.free_pages_underflow(cpu, v),
        }
    }

    /// References to the first page remain: unless the block is compound,
    /// its pages past the first are freed (the first stays with whoever
    /// holds it).
    #[cold]
    #[inline(never)]
    pub(super) fn free_pages_held(&self, cpu: usize, v: ValidPfn, order: u32, head: bool) {
        if !head {
            let mut o = order;
            while o > 0 {
                o -= 1;
                self.free_frozen_pages(cpu, v.add(1 << o), o);
            }
        }
    }

    /// `free_page`: one page.
    ///
    /// # Safety
    ///
    /// 1. As [`free_pages`](Self::free_pages) with order 0: the caller owns
    ///    a reference to the page, gives it up, and does not use the page
    ///    after the call.
    pub unsafe fn free_page(&self, cpu: usize, pfn: Pfn) {
        // SAFETY: obligation 1 is free_pages' obligations 1-3 for order 0.
        unsafe { self.free_pages(cpu, pfn, 0) };
    }

    /// `put_page`: drop a reference to a page or, for a compound page's head
    /// or tail, to the whole compound page.
    ///
    /// # Safety
    ///
    /// 1. The caller holds a reference to the page (or, for a compound page,
    ///    to the compound page) and gives it up with this call.
    /// 2. Nothing uses the page through that reference after the call.
    pub unsafe fn put_page(&self, cpu: usize, pfn: Pfn) {
        let head = match self.map.pfn_to_page(pfn).and_then(Page::compound_head) {
            Some(head) => head,
            None => pfn,
        };
        // SAFETY: obligations 1 and 2 are free_pages' 1 and 3 for the head;
        // the order is the compound page's own (free_pages' 2), or 0 for a
        // page that is not compound, which frees only the page given.
        unsafe { self.free_pages(cpu, head, self.compound_order(head)) };
    }

    #[cold]
    #[inline(never)]
    pub(super) fn free_pages_invalid(&self, pfn: Pfn, order: u32) {
        H::log(
            LogLevel::Warning,
            format_args!("WARNING: free_pages: invalid pfn {:#x} or order {order}, ignored", pfn.0),
        );
    }

    #[cold]
    #[inline(never)]
    pub(super) fn free_pages_underflow(&self, cpu: usize, v: ValidPfn) {
        self.bad_page(cpu, v, "VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
    }

    /// Free a block whose references are gone (free_frozen_pages /
    /// free_unref_page): to the pcp list for small orders.
    #[inline]
    pub(super) fn free_frozen_pages(&self, cpu: usize, v: ValidPfn, order: u32) {
        if !pcp_allowed_order(order) || cpu >= NR_CPUS {
            return self.free_pages_ok(cpu, v, order, Fpi::empty());
        }
        if !self.free_pages_prepare(cpu, v, order) {
            return;
        }
        self.free_unref_page(cpu, v, order);
    }

    /// The back half of free_frozen_pages: a prepared block (checked,
    /// cleaned, refcount 0) to this CPU's pcp lists, or to the buddy lists
    /// if its pageblock is isolated.
    #[inline]
    pub(super) fn free_unref_page(&self, cpu: usize, v: ValidPfn, order: u32) {
        let page = self.map.page(v);
        let Some(zone) = self.page_zone(page) else {
            return self.free_pages_invalid(Pfn(v.get()), order);
        };
        // Only the pcp types have pcp lists: ISOLATE goes straight to the
        // buddy lists, HIGHATOMIC and CMA ride on Movable's list and find
        // their own when drained.
        let mut mt = self.map.get_pageblock_migratetype(v);
        if mt as usize >= MIGRATE_PCPTYPES {
            if mt == MigrateType::Isolate {
                return zone.free_one_page(&self.map, v, order, Fpi::empty());
            }
            mt = MigrateType::Movable;
        }
        zone.free_unref_page_commit(&self.map, cpu, v, mt, order);
    }

    /// Free a block straight to the buddy lists (__free_pages_ok).
    pub(super) fn free_pages_ok(&self, cpu: usize, v: ValidPfn, order: u32, fpi: Fpi) {
        if !self.free_pages_prepare(cpu, v, order) {
            return;
        }
        match self.page_zone(self.map.page(v)) {
            Some(zone) => zone.free_one_page(&self.map, v, order, fpi),
            None => self.free_pages_invalid(Pfn(v.get()), order),
        }
    }

    /// `free_pages_exact`: free what [`Self::alloc_pages_exact`] returned.
    ///
    /// # Safety
    ///
    /// 1. `pfn` and `size_bytes` are those of one `alloc_pages_exact` call
    ///    whose pages the caller owns and has not freed.
    /// 2. Nothing uses those pages after the call.
    pub unsafe fn free_pages_exact(&self, cpu: usize, pfn: Pfn, size_bytes: u64) {
        for i in 0..size_bytes.div_ceil(PAGE_SIZE) {
            // SAFETY: alloc_pages_exact left one reference on each page kept
            // (obligation 1: the caller's), each an order-0 block; obligation
            // 2 is free_pages' 3.
            unsafe { self.free_pages(cpu, Pfn(pfn.0 + i), 0) };
        }
    }

    // ----- draining and isolation ----------------------------------------

    /// Give back every CPU's pcp pages in every zone (drain_all_pages).
    pub fn drain_all_pages(&self) {
        for zone in self.all_zones() {
            for cpu in 0..NR_CPUS {
                zone.drain_pages_zone(&self.map, cpu);
            }
        }
    }

    /// Give back `cpu`'s pcp pages in every zone (drain_local_pages).
    pub fn drain_local_pages(&self, cpu: usize) {
        for zone in self.all_zones() {
            zone.drain_pages_zone(&self.map, cpu);
        }
    }

    /// Give back at most a batch of `cpu`'s pcp pages in every zone
    /// (drain_zone_pages, as vmstat's refresh does).
    pub fn drain_zone_pages(&self, cpu: usize) {
        for zone in self.all_zones() {
            zone.drain_zone_pages(&self.map, cpu);
        }
    }

    /// Make the pageblock holding `pfn` ISOLATE: its free pages leave the
    /// allocatable lists and pages freed into it stay out (for CMA and
    /// memory offlining, later). Drains the pcp lists.
    pub fn isolate_pageblock(&self, pfn: Pfn) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::InvalidArgument)?;
        zone.set_pageblock_isolate(&self.map, v)?;
        self.drain_all_pages();
        Ok(())
    }

    /// Undo [`Self::isolate_pageblock`], giving the pageblock type `mt`.
    pub fn unisolate_pageblock(&self, pfn: Pfn, mt: MigrateType) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::InvalidArgument)?;
        zone.unset_pageblock_isolate(&self.map, v, mt)
    }

    /// The migratetype of the pageblock holding `pfn`.
    #[inline]
    pub fn pageblock_migratetype(&self, pfn: Pfn) -> Option<MigrateType> {
        self.map.valid(pfn.0).map(|v| self.map.get_pageblock_migratetype(v))
    }
}
