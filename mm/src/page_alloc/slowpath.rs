//! The slow path: what is left of __alloc_pages_slowpath without reclaim,
//! direct compaction, and the failure report (warn_alloc).

use crate::addr::Pfn;
use crate::compaction::{
    CompactResult, MigrateMode, compaction_defer_reset, gfp_compaction_allowed, try_to_compact_pages,
};
use crate::config::PAGE_ALLOC_COSTLY_ORDER;
use crate::error::Error;
use crate::gfp::{Gfp, GfpMode, gfp_zone};
use crate::hal::{Comm, Hal, LogLevel};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::ValidPfn;
use crate::vmstat::{VmEvent, count_vm_event};
use crate::zone::AllocFlags;

use super::allocator::{AllocContext, NOFAIL_RETRIES, PageAllocator, alloc_flags_cma};

impl<H: Hal> PageAllocator<H> {
    /// gfp_to_alloc_flags: what the slow path lets this caller dig into.
    pub(super) fn gfp_to_alloc_flags(&self, gfp: Gfp, order: u32, ac: &AllocContext<'_>) -> AllocFlags {
        let mut flags = AllocFlags::WMARK_MIN | AllocFlags::CPUSET;
        // __GFP_HIGH is ALLOC_MIN_RESERVE and __GFP_KSWAPD_RECLAIM is ALLOC_KSWAPD.
        flags |= AllocFlags::from_bits_truncate(gfp.bits() & (Gfp::HIGH | Gfp::KSWAPD_RECLAIM).bits());
        if !gfp.contains(Gfp::DIRECT_RECLAIM) {
            if !gfp.contains(Gfp::NOMEMALLOC) {
                flags |= AllocFlags::NON_BLOCK;
                if order > 0 {
                    flags |= AllocFlags::HIGHATOMIC;
                }
            }
            if flags.contains(AllocFlags::MIN_RESERVE) {
                flags.remove(AllocFlags::CPUSET);
            }
        }
        flags | alloc_flags_cma(ac.migratetype)
    }

    /// What is left of __alloc_pages_slowpath without reclaim (see the
    /// module documentation).
    #[cold]
    #[inline(never)]
    pub(super) fn alloc_pages_slowpath(
        &self,
        cpu: usize,
        gfp: Gfp,
        order: u32,
        ac: &AllocContext<'_>,
    ) -> Result<Pfn, Error> {
        if ac.preferred.is_some() {
            let alloc_flags = self.gfp_to_alloc_flags(gfp, order, ac);
            let attempt = |flags: AllocFlags| self.get_page_from_freelist(cpu, gfp, order, flags, ac);
            if let Some(v) = attempt(alloc_flags) {
                return Ok(Pfn(v.get()));
            }
            let costly = order > PAGE_ALLOC_COSTLY_ORDER;
            let pfmemalloc = gfp.contains(Gfp::MEMALLOC) && !gfp.contains(Gfp::NOMEMALLOC);
            // Costly orders (and non-movable high orders, which compaction
            // keeps from fragmenting other pageblocks) compact before
            // anything else: there are likely enough order-0 pages. Not for
            // callers that may ignore watermarks: that attempt comes first.
            let mut compact_mode = MigrateMode::Sync;
            if self.may_compact(gfp) && (costly || (order > 0 && ac.migratetype != MigrateType::Movable)) && !pfmemalloc
            {
                let (page, result) =
                    self.alloc_pages_direct_compact(cpu, gfp, order, alloc_flags, ac, MigrateMode::Async);
                if let Some(v) = page {
                    return Ok(Pfn(v.get()));
                }
                if costly && gfp.contains(Gfp::NORETRY) {
                    // Compaction would not help or was put off: a caller
                    // that asked not to try hard fails now.
                    if matches!(result, CompactResult::Skipped | CompactResult::Deferred) {
                        self.warn_alloc(cpu, gfp, order);
                        return Err(Error::NoMemory);
                    }
                    // Worth trying again, but keep it cheap.
                    compact_mode = MigrateMode::Async;
                }
            }
            // __GFP_MEMALLOC: all reserves (__gfp_pfmemalloc_flags).
            if pfmemalloc {
                let flags =
                    AllocFlags::NO_WATERMARKS | alloc_flags_cma(ac.migratetype) | (alloc_flags & AllocFlags::KSWAPD);
                if let Some(v) = attempt(flags) {
                    return Ok(Pfn(v.get()));
                }
            }
            // What a failed direct reclaim is followed by.
            self.unreserve_highatomic_pageblock(ac, false);
            self.drain_all_pages();
            if let Some(v) = attempt(alloc_flags) {
                return Ok(Pfn(v.get()));
            }
            // Direct compaction after "reclaim", as Linux orders them.
            if self.may_compact(gfp) {
                let (page, _) = self.alloc_pages_direct_compact(cpu, gfp, order, alloc_flags, ac, compact_mode);
                if let Some(v) = page {
                    return Ok(Pfn(v.get()));
                }
            }
            // should_reclaim_retry with nothing to reclaim: each retry
            // gives one more HIGHATOMIC pageblock back, the last one too,
            // until the allocation succeeds or no reserved block has free
            // pages (each round takes one block off the HIGHATOMIC lists,
            // so this ends). Only for callers that could have reclaimed:
            // Linux sends the others to nopage before the retry loop.
            let give_up = gfp.contains(Gfp::NORETRY)
                || (costly && !gfp.contains(Gfp::RETRY_MAYFAIL))
                || !gfp.contains(Gfp::DIRECT_RECLAIM);
            while !give_up && self.unreserve_highatomic_pageblock(ac, true) {
                if let Some(v) = attempt(alloc_flags) {
                    return Ok(Pfn(v.get()));
                }
            }
            if gfp.contains(Gfp::NOFAIL) {
                let nofail_flags = AllocFlags::MIN_RESERVE | alloc_flags_cma(ac.migratetype);
                for _ in 0..NOFAIL_RETRIES {
                    self.drain_all_pages();
                    self.unreserve_highatomic_pageblock(ac, true);
                    if let Some(v) = attempt(nofail_flags) {
                        return Ok(Pfn(v.get()));
                    }
                }
                H::log(
                    LogLevel::Warning,
                    format_args!(
                        "{}: __GFP_NOFAIL allocation of order:{order} failed after {NOFAIL_RETRIES} retries: \
                     NOFAIL cannot be honoured without reclaim",
                        Comm::<H>::on(cpu)
                    ),
                );
            }
        }
        self.warn_alloc(cpu, gfp, order);
        Err(Error::NoMemory)
    }

    /// Whether this caller may compact: it may block (`__GFP_DIRECT_RECLAIM`),
    /// compaction is allowed for it (`__GFP_IO`), and the kernel has
    /// registered a migrator to move pages with.
    fn may_compact(&self, gfp: Gfp) -> bool {
        gfp.contains(Gfp::DIRECT_RECLAIM) && gfp_compaction_allowed(gfp) && self.migrator().is_some()
    }

    /// Compact, then try the free lists again (__alloc_pages_direct_compact).
    /// Counts compact_stall for a run that was not skipped, then
    /// compact_success (and relaxes the zone's deferral) or compact_fail.
    fn alloc_pages_direct_compact(
        &self,
        cpu: usize,
        gfp: Gfp,
        order: u32,
        alloc_flags: AllocFlags,
        ac: &AllocContext<'_>,
        mode: MigrateMode,
    ) -> (Option<ValidPfn>, CompactResult) {
        let Some(migrator) = self.migrator() else { return (None, CompactResult::Skipped) };
        if order == 0 {
            return (None, CompactResult::Skipped);
        }
        let result =
            try_to_compact_pages(self, cpu, migrator, gfp, order, alloc_flags, ac.zonelist, ac.highest_zoneidx, mode);
        if result == CompactResult::Skipped {
            return (None, result);
        }
        count_vm_event(VmEvent::CompactStall);
        let page = self.get_page_from_freelist(cpu, gfp, order, alloc_flags, ac);
        match page {
            Some(v) => {
                if let Some(zone) = self.page_zone(self.map.page(v)) {
                    compaction_defer_reset(zone, order, true);
                }
                count_vm_event(VmEvent::CompactSuccess);
            }
            None => count_vm_event(VmEvent::CompactFail),
        }
        (page, result)
    }

    /// Give back a HIGHATOMIC pageblock in the zones this allocation may
    /// use (unreserve_highatomic_pageblock).
    pub(super) fn unreserve_highatomic_pageblock(&self, ac: &AllocContext<'_>, force: bool) -> bool {
        for &zref in ac.zonelist.zones().iter().filter(|z| z.zone <= ac.highest_zoneidx) {
            let Some(zone) = self.zone(zref) else { continue };
            if zone.unreserve_highatomic(&self.map, force, ac.migratetype) {
                return true;
            }
        }
        false
    }

    /// Report an allocation failure (warn_alloc).
    pub(super) fn warn_alloc(&self, cpu: usize, gfp: Gfp, order: u32) {
        if gfp.contains(Gfp::NOWARN) {
            return;
        }
        // No complaint about GFP_DMA when there is no DMA memory at all.
        if gfp.contains(Gfp::DMA) && !self.online_nodes().any(|p| p.zone(ZoneType::Dma).is_managed()) {
            return;
        }
        H::log(
            LogLevel::Warning,
            format_args!(
                "{}: page allocation failure: order:{order}, {}, nodemask=(null)",
                Comm::<H>::on(cpu),
                GfpMode(gfp)
            ),
        );
        self.show_mem_log(cpu, gfp_zone(gfp));
    }
}
