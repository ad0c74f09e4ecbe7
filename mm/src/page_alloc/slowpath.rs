//! The slow path: what is left of __alloc_pages_slowpath without reclaim,
//! and the failure report (warn_alloc).

use crate::addr::Pfn;
use crate::config::PAGE_ALLOC_COSTLY_ORDER;
use crate::error::Error;
use crate::gfp::{Gfp, GfpMode, gfp_zone};
use crate::hal::{Comm, Hal, LogLevel};
use crate::mmzone::ZoneType;
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
            // __GFP_MEMALLOC: all reserves (__gfp_pfmemalloc_flags).
            if gfp.contains(Gfp::MEMALLOC) && !gfp.contains(Gfp::NOMEMALLOC) {
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
            let costly = order > PAGE_ALLOC_COSTLY_ORDER;
            let give_up = gfp.contains(Gfp::NORETRY) || (costly && !gfp.contains(Gfp::RETRY_MAYFAIL));
            if !give_up
                && self.unreserve_highatomic_pageblock(ac, true)
                && let Some(v) = attempt(alloc_flags)
            {
                return Ok(Pfn(v.get()));
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
