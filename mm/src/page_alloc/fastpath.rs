//! The order-0 fast paths: allocation from and free to the calling CPU's
//! pcp array, reached through the CPU's [`CpuPages`].
//!
//! # What a CPU keeps
//!
//! ```text
//!   CpuPages (one per CPU, own cache line; the kernel keeps a pointer to
//!   its CPU's in its per-CPU area and finds it through TPIDR_EL1)
//!     cpu            the CPU number, < NR_CPUS by construction
//!     preferred[z]   the first zone of the CPU's nearest memory node's
//!                    fallback zonelist at or below zone z (what the zonelist
//!                    walk would try first), or none
//!     mt_mask        3, or 0 with mobility grouping off (everything Unmovable)
//!   zone.pageset[cpu] (PcpSlot, own cache line, behind the pcp lock)
//!     hot[mt][..hot_nr[mt]]   up to PCP_HOT order-0 pages per pcp type, in
//!                             front of the lists; most recently freed last
//!     lists, count, high, batch as in the pcp module
//! ```
//!
//! build_all_zonelists fills `CpuPages` and the allocator's zone table
//! (zone by the node and zone bits of a page's flags word); they change
//! only with the zonelists.
//!
//! # Allocation, order 0
//!
//! ```text
//!   no __GFP_THISNODE or __GFP_ZERO, no debug setting (check_pages),
//!   zone = preferred[gfp_zone(gfp)], its cached LOW-watermark decision holds,
//!   trylock this CPU's pcp of that zone, pop hot[gfp's type], unlock
//!   page: private 0, refcount 1
//! ```
//!
//! Anything else (an empty array, orders 1-3, a busy lock) takes the
//! out-of-line path (the pcp lists, refilled from the buddy lists, then the
//! zonelist walk), which decides everything again from scratch. The cached
//! decision is exact for allocations that may not use CMA and conservative
//! for those that may (see `Zone::pcp_wmark_ok`), so the fast path changes
//! no decision the zonelist walk would make.
//!
//! Orders 1-3 take the same path with their order's pcp list. With
//! `__GFP_COMP` (SLUB's slabs of order 1-3) they go out of line
//! (`alloc_compound`): the same pop, then the block made compound
//! (prep_compound_page). Such a block, its head carrying no flag but
//! PG_head, is freed the same way out of line (`free_compound`) once its
//! tails are checked and reset (free_tail_pages_prepare, which Linux's
//! free_pages_prepare runs on every compound page too).
//!
//! Orders above 3 take `alloc_high`, out of line: the pageblock order (9)
//! pops this CPU's pcp list of it (Linux's THP lists; the cold path
//! refills an empty one), the others go straight to the buddy lists, both
//! only while the zone's cached slack clearly passes the LOW watermark.
//! Their frees mirror that (`free_high`).
//!
//! # Free, order 0
//!
//! ```text
//!   no debug setting, no PG_* flag set, no anon/movable bits in mapping,
//!   drop the reference: not the last -> done; a double free -> reported;
//!   zone from the flags word, trylock this CPU's pcp,
//!   the pageblock's type is a pcp type and hot[type] has room: push, unlock
//! ```
//!
//! A page with flags or mapping bits, a busy lock, an ISOLATE/CMA/HIGHATOMIC
//! pageblock or a full array goes out of line (free_pages_prepare, the pcp
//! lists with their high/batch drain, ISOLATE to the buddy lists). The
//! pageblock is read under the pcp lock, which orders it against isolation:
//! isolation retypes the pageblock under the zone lock, then drains every
//! pcp under its lock.
//!
//! The arrays are part of the pcp: reports count their pages, full drains
//! (drain_pages_zone, drain_all_pages) empty them first, and a change of
//! high/batch spills them onto the lists. `count`, `high` and `batch` govern
//! the lists only, so a pcp holds at most `3 * PCP_HOT` pages beyond `high`;
//! with `high` 0 (the boot pageset, pcp disabled) the arrays hold nothing.
//!
//! # What guards the per-CPU state
//!
//! The pcp lock, as Linux's pcp_spin_trylock: callers run with interrupts
//! masked on their own CPU, so the lock is uncontended except against a
//! remote drain or a reader, which take it as Linux's drain_pages_zone does.
//! The fast paths only try it and go out of line when it is busy.
//!
//! # Checks
//!
//! As Linux does without CONFIG_DEBUG_VM, the per-page checks
//! (check_new_pages at allocation, free_page_is_bad at free, for every page
//! of the block) run only with `check_pages` on: with `debug_pagealloc`,
//! `init_on_alloc`, `init_on_free`, `page_alloc.check_pages=1`, or
//! [`PageAllocator::set_check_pages`]; the fast paths are then off. Always
//! on: the refcount (a double free is reported), PFN and order validation
//! of PFN frees, HWPOISON on order 0, the compound checks of compound pages.
//!
//! Linux also clears PAGE_FLAGS_CHECK_AT_PREP on every tail page of a freed
//! block; here tails of a block that is not compound need no work:
//! [`Page::set_flags`](crate::page::Page::set_flags) refuses a page without
//! references, and a tail has none (only the head is counted), so nothing
//! can set a flag on it while it is allocated. With `check_pages` on, every
//! tail is still checked.

use core::sync::atomic::Ordering::Relaxed;

use crate::addr::Pfn;
use crate::config::{MAX_PAGE_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_ORDER};
use crate::error::Error;
use crate::gfp::{Gfp, gfp_zone};
use crate::hal::Hal;
use crate::mmzone::{MIGRATE_PCPTYPES, MigrateType};
use crate::page::{PAGEFLAGS_MASK, Page, PageFlags, PutResult, ValidPfn, ZONEID_PGSHIFT};
use crate::zone::{AllocFlags, Zone};

use super::allocator::{AllocatorFlags, PageAllocator};
use super::cpu_pages::{CpuPages, PageChecks};
use super::node::ZONELIST_FALLBACK;

/// The `mapping` bits that mark an anonymous or movable page
/// (PAGE_MAPPING_FLAGS): cleared at free, as Linux does.
pub(super) const PAGE_MAPPING_FLAGS: u64 = 0x3;

impl<H: Hal> PageAllocator<H> {
    /// The CPU state for `cpu`, `None` past NR_CPUS.
    #[inline]
    pub fn cpu_pages(&self, cpu: usize) -> Option<&CpuPages> {
        self.cpu_pages.get(cpu)
    }

    /// Turn the per-page checks on or off at run time (the self-tests of
    /// bad-page detection turn them on). The boot settings that imply them
    /// ([`AllocatorFlags::IMPLY_CHECK_PAGES`]) keep them on.
    pub fn set_check_pages(&self, checks: PageChecks) {
        let implied = self.flags.intersects(AllocatorFlags::IMPLY_CHECK_PAGES);
        self.store_check_pages(implied || checks == PageChecks::On);
    }

    /// `check_pages`, and every CPU's `fast_off` with it.
    pub(super) fn store_check_pages(&self, on: bool) {
        self.check_pages.store(on, Relaxed);
        self.update_fast_off();
    }

    /// Fill or empty the fast-path tables: the fast paths run once
    /// build_all_zonelists and setup_pcp are done and while the per-page
    /// checks are off. Filled, each CPU's `preferred[z]` is the first zone
    /// at or below `z` of its nearest memory node's fallback zonelist, and
    /// the zone table holds every zone by its zone id.
    pub(super) fn update_fast_off(&self) {
        let on = !self.check_pages.load(Relaxed) && self.pcp_ready.load(Relaxed);
        for cp in &self.cpu_pages {
            let pgdat = self.node(self.numa_mem[cp.cpu] as usize);
            for (zi, slot) in cp.preferred.iter().enumerate() {
                let zref = pgdat.and_then(|p| p.node_zonelists[ZONELIST_FALLBACK].preferred[zi]);
                slot.set(zref.and_then(|z| self.zone(z)).filter(|_| on));
            }
        }
        for slot in &self.zone_table {
            slot.set(None);
        }
        if on {
            for pgdat in self.online_nodes() {
                for zone in pgdat.node_zones.iter() {
                    let id = ((zone.node().0 as usize) << crate::page::ZONES_SHIFT) | zone.zone_type().idx();
                    self.zone_table[id].set(Some(zone));
                }
            }
        }
    }

    /// Whether the per-page checks run now.
    #[inline(always)]
    pub fn page_checks(&self) -> PageChecks {
        if self.check_pages.load(Relaxed) { PageChecks::On } else { PageChecks::Off }
    }

    /// The zone whose node and zone bits a page's flags word carries.
    #[inline(always)]
    pub(super) fn zone_of_flags(&self, flags: u64) -> Option<&Zone> {
        self.zone_table[(flags >> ZONEID_PGSHIFT) as usize].get()
    }

    /// alloc_pages on the CPU `cp` describes (the caller's own, with
    /// interrupts masked).
    #[inline(always)]
    pub fn alloc_pages_on(&self, cp: &CpuPages, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        // Order 0 apart, with its order a constant: the commonest
        // allocation by far, and its path then tests no order.
        if order == 0 {
            // __GFP_COMP means nothing for one page (prep_new_page makes
            // compound pages only of order > 0); SLUB asks for it on every
            // slab, its order-0 ones too, which the test in rmqueue_fast sent
            // to the cold path (slab/batch10k-64 lost 5 instructions per
            // object to it). With the order constant, the mask folds into
            // that test: it costs nothing.
            if let Some(v) = self.rmqueue_fast(cp, gfp.difference(Gfp::COMP), 0) {
                return Ok(Pfn(v.get()));
            }
        } else if order <= PAGE_ALLOC_COSTLY_ORDER {
            if gfp.contains(Gfp::COMP) {
                return decode_cold(self.alloc_compound(cp, gfp, order));
            }
            if let Some(v) = self.rmqueue_fast(cp, gfp, order) {
                return Ok(Pfn(v.get()));
            }
        } else if order <= MAX_PAGE_ORDER {
            return decode_cold(self.alloc_high(cp, gfp, order));
        }
        decode_cold(self.alloc_pages_cold_raw(cp.cpu, gfp, order))
    }

    /// Orders above 3, when the preferred zone's cached watermark slack
    /// clearly allows them (the first step of the zonelist walk, taken
    /// without the walk): the pageblock order from this CPU's pcp list
    /// (the cold path refills an empty one), the others straight from the
    /// zone's buddy lists; else the cold path.
    #[inline(never)]
    fn alloc_high(&self, cp: &CpuPages, gfp: Gfp, order: u32) -> u64 {
        let zi = gfp_zone(gfp).idx();
        if !gfp.contains(Gfp::THISNODE)
            && let Some(zone) = cp.preferred_zone(zi)
            && zone.high_wmark_ok(order)
        {
            let mti = fast_migratetype(gfp, cp.mt_mask);
            if order == PAGEBLOCK_ORDER {
                if let Some(v) = Zone::pcp_take(&self.map, cp.pcp_slot(zone), order, mti) {
                    self.prep_new_page(v, order, gfp);
                    return v.get();
                }
                return self.alloc_pages_cold_raw(cp.cpu, gfp, order);
            }
            let mt = MigrateType::from_index(mti);
            let alloc_flags = AllocFlags::WMARK_LOW
                | super::allocator::alloc_flags_cma(mt)
                | cp.fast_flags[zi]
                | AllocFlags::from_bits_truncate(gfp.bits() & Gfp::KSWAPD_RECLAIM.bits());
            if let Some(v) = zone.rmqueue_buddy(&self.map, order, mt, alloc_flags) {
                self.prep_new_page(v, order, gfp);
                return v.get();
            }
        }
        self.alloc_pages_cold_raw(cp.cpu, gfp, order)
    }

    /// Orders 1-3 with `__GFP_COMP` (SLUB's slabs): the fast allocation,
    /// then the block made compound (prep_compound_page, as the slow
    /// path's prep_new_page does); else the cold path. Out of line, so that
    /// the call does not make the plain fast paths save registers.
    #[inline(never)]
    fn alloc_compound(&self, cp: &CpuPages, gfp: Gfp, order: u32) -> u64 {
        match self.rmqueue_fast(cp, gfp.difference(Gfp::COMP), order) {
            Some(v) => {
                self.prep_compound_page(v, order);
                v.get()
            }
            None => self.alloc_pages_cold_raw(cp.cpu, gfp, order),
        }
    }

    /// The fast allocation of order <= 3: see the module documentation. A
    /// leaf: no calls, so no registers to save.
    #[inline(always)]
    fn rmqueue_fast(&self, cp: &CpuPages, gfp: Gfp, order: u32) -> Option<ValidPfn> {
        if gfp.intersects(Gfp::THISNODE | Gfp::ZERO | Gfp::COMP) {
            return None;
        }
        let zi = gfp_zone(gfp).idx();
        let zone = cp.preferred_zone(zi)?;
        if !zone.pcp_wmark_ok(order, zi) {
            return None;
        }
        let mt = fast_migratetype(gfp, cp.mt_mask);
        let v = Zone::pcp_take(&self.map, cp.pcp_slot(zone), order, mt)?;
        let page = self.map.page(v);
        page.set_private_internal(0);
        page.set_page_count(1);
        Some(v)
    }

    /// Everything the fast allocation does not take.
    #[inline]
    pub(super) fn alloc_pages_cold(&self, cpu: usize, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        decode_cold(self.alloc_pages_cold_raw(cpu, gfp, order))
    }

    /// The cold allocation, out of line, with its result in one register
    /// (see [`encode_cold`]): a `Result<Pfn, Error>` would be returned
    /// through memory, and the fast path that joins it would then go
    /// through the stack too.
    #[inline(never)]
    fn alloc_pages_cold_raw(&self, cpu: usize, gfp: Gfp, order: u32) -> u64 {
        let nid = self.numa_mem[cpu.min(crate::config::NR_CPUS - 1)] as usize;
        encode_cold(self.alloc_pages_nid(cpu, gfp, order, nid))
    }

    /// __free_pages on the CPU `cp` describes (the caller's own, with
    /// interrupts masked).
    ///
    /// # Safety
    ///
    /// 1. As [`PageAllocator::free_pages`]: the caller holds a reference
    ///    to the block, `order` is its order, and nothing uses the pages
    ///    through that reference after the call.
    #[inline(always)]
    pub unsafe fn free_pages_on(&self, cp: &CpuPages, pfn: Pfn, order: u32) {
        if order <= MAX_PAGE_ORDER && pfn.0 & ((1 << order) - 1) == 0 && self.map.valid(pfn.0).is_some() {
            // SAFETY: obligation 1, and the checks above: a valid PFN
            // aligned to an order the allocator hands out.
            return unsafe { self.free_pages_owned(cp, pfn, order) };
        }
        // SAFETY: obligation 1 is free_pages' 1-3 (the slow path reports
        // the bad PFN or order).
        unsafe { self.free_pages_slow(cp.cpu, pfn, order) }
    }

    /// [`Self::free_pages_on`] for a block an owning handle held, skipping
    /// the validation of the PFN and order.
    ///
    /// # Safety
    ///
    /// 1. As [`Self::free_pages_on`], and `(pfn, order)` is a block this
    ///    allocator handed out (so `pfn` is valid and aligned to `order`).
    #[inline(always)]
    pub unsafe fn free_pages_owned(&self, cp: &CpuPages, pfn: Pfn, order: u32) {
        // SAFETY: obligation 1: the allocator hands out only valid PFNs.
        let v = unsafe { ValidPfn::new_unchecked(pfn.0) };
        // Order 0 apart, as in alloc_pages_on.
        if order == 0 {
            if self.free_fast(cp, v, 0) {
                return;
            }
        } else if order <= PAGE_ALLOC_COSTLY_ORDER {
            if self.free_fast(cp, v, order) {
                return;
            }
            // A tail call, as below: a call whose result were tested here
            // would make every path through this function save registers.
            // SAFETY: obligation 1.
            return unsafe { self.free_compound_or_slow(cp, v, order) };
        } else if order <= MAX_PAGE_ORDER {
            // A tail call: the order-0 path above keeps no registers to save.
            // SAFETY: obligation 1.
            return unsafe { self.free_high_or_slow(cp, v, order) };
        }
        // SAFETY: obligation 1 is free_pages' 1-3.
        unsafe { self.free_pages_slow(cp.cpu, pfn, order) }
    }

    /// The first descriptor and the zone of a block that free_pages_prepare
    /// would have nothing to do for: no PG_* flag (HEAD of a compound page
    /// included) and no mapping bits; `None` for any other block, and while
    /// the fast paths are off (the zone table is empty then).
    #[inline(always)]
    fn plain_block(&self, v: ValidPfn) -> Option<(&Page, &Zone)> {
        let page = self.map.page(v);
        let flags = page.raw_flags();
        if flags & PAGEFLAGS_MASK != 0 || page.mapping() & PAGE_MAPPING_FLAGS != 0 {
            return None;
        }
        Some((page, self.zone_of_flags(flags)?))
    }

    /// [`Self::free_compound`], else the full path.
    ///
    /// # Safety
    ///
    /// 1. As [`Self::free_pages_owned`] for the block at `v`.
    #[inline(never)]
    unsafe fn free_compound_or_slow(&self, cp: &CpuPages, v: ValidPfn, order: u32) {
        if !self.free_compound(cp, v, order) {
            // SAFETY: obligation 1 is free_pages' 1-3.
            unsafe { self.free_pages_slow(cp.cpu, Pfn(v.get()), order) }
        }
    }

    /// Orders 1-3: a compound block whose head has no flag but PG_head (a
    /// slab SLUB gave back), freed as [`Self::free_fast`] frees a plain
    /// one once its tails are checked and reset (free_pages_prepare's
    /// free_tail_pages_prepare). False, having done nothing, for any other
    /// block.
    #[inline(always)]
    fn free_compound(&self, cp: &CpuPages, v: ValidPfn, order: u32) -> bool {
        let page = self.map.page(v);
        let flags = page.raw_flags();
        if flags & PAGEFLAGS_MASK != PageFlags::HEAD.bits() || page.mapping() & PAGE_MAPPING_FLAGS != 0 {
            return false;
        }
        let Some(zone) = self.zone_of_flags(flags) else { return false };
        match page.put_page_testzero() {
            PutResult::Zero => {}
            // The others' references keep the whole compound block.
            PutResult::Held => return true,
            PutResult::Underflow => {
                self.free_pages_underflow(cp.cpu, v);
                return true;
            }
        }
        if self.free_tail_pages_prepare(cp.cpu, v, order, false) != 0 {
            // Leaked, as the slow path leaks a block with a bad page.
            self.nr_bad_pages.fetch_add(1 << order, Relaxed);
            return true;
        }
        page.clear_flags_internal(PageFlags::HEAD);
        if !zone.pcp_put(&self.map, cp.pcp_slot(zone), page, v, order) {
            self.free_unref_cold(cp.cpu, v, order);
        }
        true
    }

    /// The fast free of order <= 3: see the module documentation. Returns
    /// false when it did nothing (the caller takes the full path); every
    /// other outcome, including a double free, is dealt with here.
    #[inline(always)]
    fn free_fast(&self, cp: &CpuPages, v: ValidPfn, order: u32) -> bool {
        let Some((page, zone)) = self.plain_block(v) else { return false };
        match page.put_page_testzero() {
            PutResult::Zero => {}
            PutResult::Held => {
                if order != 0 {
                    // Someone holds the first page: the rest is freed.
                    self.free_pages_held(cp.cpu, v, order, false);
                }
                return true;
            }
            PutResult::Underflow => {
                self.free_pages_underflow(cp.cpu, v);
                return true;
            }
        }
        if !zone.pcp_put(&self.map, cp.pcp_slot(zone), page, v, order) {
            self.free_unref_cold(cp.cpu, v, order);
        }
        true
    }

    /// [`Self::free_high`], else the full path.
    ///
    /// # Safety
    ///
    /// 1. As [`Self::free_pages_owned`] for the block at `v`.
    #[inline(never)]
    unsafe fn free_high_or_slow(&self, cp: &CpuPages, v: ValidPfn, order: u32) {
        if !self.free_high(cp, v, order) {
            // SAFETY: obligation 1 is free_pages' 1-3.
            unsafe { self.free_pages_slow(cp.cpu, Pfn(v.get()), order) }
        }
    }

    /// Orders above 3 without flags (not compound) or mapping bits: the
    /// reference dropped, then the pageblock order to this CPU's pcp list,
    /// the others straight to the buddy lists (what free_frozen_pages and
    /// __free_pages_ok do once free_pages_prepare finds nothing to do).
    /// False, having done nothing, for anything else.
    #[inline(always)]
    fn free_high(&self, cp: &CpuPages, v: ValidPfn, order: u32) -> bool {
        let Some((page, zone)) = self.plain_block(v) else { return false };
        match page.put_page_testzero() {
            PutResult::Zero if order == PAGEBLOCK_ORDER => {
                if !zone.pcp_put(&self.map, cp.pcp_slot(zone), page, v, order) {
                    self.free_unref_cold(cp.cpu, v, order);
                }
            }
            PutResult::Zero => zone.free_one_page(&self.map, v, order, crate::zone::Fpi::empty()),
            PutResult::Held => self.free_pages_held(cp.cpu, v, order, false),
            PutResult::Underflow => self.free_pages_underflow(cp.cpu, v),
        }
        true
    }

    /// The free of a prepared block (checked, clean, refcount 0) that the
    /// fast path could not place: the pcp lists under a blocking lock, or
    /// the buddy lists for an ISOLATE pageblock (the back half of
    /// free_frozen_pages).
    #[cold]
    #[inline(never)]
    pub(super) fn free_unref_cold(&self, cpu: usize, v: ValidPfn, order: u32) {
        self.free_unref_page(cpu, v, order);
    }
}

/// A PFN, or an error as `ERR_BIT | code` (PFNs are below 2^52).
const ERR_BIT: u64 = 1 << 63;

#[inline(always)]
fn encode_cold(r: Result<Pfn, Error>) -> u64 {
    match r {
        Ok(p) => p.0,
        Err(e) => ERR_BIT | e as u64,
    }
}

#[inline(always)]
fn decode_cold(r: u64) -> Result<Pfn, Error> {
    if r & ERR_BIT == 0 {
        return Ok(Pfn(r));
    }
    Err(match r & !ERR_BIT {
        x if x == Error::NoMemory as u64 => Error::NoMemory,
        x if x == Error::Busy as u64 => Error::Busy,
        x if x == Error::NotFound as u64 => Error::NotFound,
        _ => Error::InvalidArgument,
    })
}

/// gfp_migratetype as an index: MOVABLE and RECLAIMABLE select their
/// lists, both or neither Unmovable; `mask` 0 makes everything Unmovable.
#[inline(always)]
fn fast_migratetype(gfp: Gfp, mask: u32) -> usize {
    let m = (gfp.bits() >> 3) & 3 & mask;
    const _: () = assert!(
        MigrateType::Unmovable as usize == 0
            && MigrateType::Movable as usize == 1
            && MigrateType::Reclaimable as usize == 2
            && MIGRATE_PCPTYPES == 3
            && Gfp::MOVABLE.bits() == 1 << 3
            && Gfp::RECLAIMABLE.bits() == 2 << 3
    );
    (if m == 3 { 0 } else { m }) as usize
}
