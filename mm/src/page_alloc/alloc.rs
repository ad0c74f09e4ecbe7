//! Allocation: the API, the fast path through the preferred zone's pcp
//! list, the zonelist walk (get_page_from_freelist), and preparing a block
//! for its new owner.

use crate::addr::{PAGE_SIZE, Pfn};
use crate::config::{MAX_PAGE_ORDER, NR_CPUS, NUMA_NO_NODE, NodeId};
use crate::error::Error;
use crate::gfp::{Gfp, GfpMode, gfp_migratetype, gfp_zone};
use crate::hal::{Comm, Hal, LinearMapping, LogLevel};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::{PageFlags, TAIL_MAPPING, ValidPfn};
use crate::pcp::pcp_allowed_order;
use crate::zone::{AllocFlags, Fpi, Zone};

use super::allocator::{AllocContext, AllocatorFlags, PageAllocator, alloc_flags_cma, get_order};
use super::cpu_pages::PageChecks;
use super::node::Zonelist;

impl<H: Hal> PageAllocator<H> {
    // ----- allocation ---------------------------------------------------

    /// Allocate `2^order` pages near `cpu`'s node (alloc_pages). The CPU is
    /// the caller's, with interrupts masked.
    /// A `cpu` past NR_CPUS takes no pcp list (the buddy lists directly).
    #[inline]
    pub fn alloc_pages(&self, cpu: usize, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        match self.cpu_pages.get(cpu) {
            Some(cp) => self.alloc_pages_on(cp, gfp, order),
            None => self.alloc_pages_cold(cpu, gfp, order),
        }
    }

    /// Allocate `2^order` pages, preferring node `nid` ([`NUMA_NO_NODE`]:
    /// the CPU's), only from it with `__GFP_THISNODE` (alloc_pages_node).
    /// The CPU's own node takes the fast paths, as with [`Self::alloc_pages`]
    /// (their preferred zones are that node's).
    pub fn alloc_pages_node(&self, cpu: usize, nid: NodeId, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        let local = self.numa_mem[cpu.min(NR_CPUS - 1)] as usize;
        let nid = if nid == NUMA_NO_NODE {
            local
        } else if nid.is_valid() && self.nodes[nid.0 as usize].is_some() {
            nid.0 as usize
        } else {
            return Err(Error::InvalidArgument);
        };
        if nid == local
            && let Some(cp) = self.cpu_pages.get(cpu)
        {
            return self.alloc_pages_on(cp, gfp, order);
        }
        self.alloc_pages_nid(cpu, gfp, order, nid)
    }

    /// `__get_free_pages`: allocate without HIGHMEM; the kernel maps the PFN.
    pub fn get_free_pages(&self, cpu: usize, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        self.alloc_pages(cpu, gfp.difference(Gfp::HIGHMEM), order)
    }

    /// `get_zeroed_page`: one zeroed page.
    pub fn get_zeroed_page(&self, cpu: usize, gfp: Gfp) -> Result<Pfn, Error> {
        self.get_free_pages(cpu, gfp | Gfp::ZERO, 0)
    }

    /// `alloc_pages_exact`: the smallest block holding `size_bytes`, with the
    /// pages past `size_bytes` freed again (make_alloc_exact). The pages kept
    /// each hold one reference; free them with [`Self::free_pages_exact`].
    pub fn alloc_pages_exact(&self, cpu: usize, size_bytes: u64, gfp: Gfp) -> Result<Pfn, Error> {
        if size_bytes == 0 {
            return Err(Error::InvalidArgument);
        }
        let order = get_order(size_bytes);
        let pfn = self.get_free_pages(cpu, gfp.difference(Gfp::COMP), order)?;
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let nr = size_bytes.div_ceil(PAGE_SIZE);
        for i in 1..nr {
            self.map.page(v.add(i)).set_page_count(1);
        }
        for i in nr..1 << order {
            self.free_pages_ok(cpu, v.add(i), 0, Fpi::TO_TAIL);
        }
        Ok(pfn)
    }

    /// `split_page`: turn a non-compound block of `order` into `2^order`
    /// pages with one reference each.
    pub fn split_page(&self, pfn: Pfn, order: u32) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let page = self.map.page(v);
        if order > MAX_PAGE_ORDER || page.is_head() || page.page_ref_count() == 0 || !pfn.0.is_multiple_of(1 << order) {
            return Err(Error::InvalidArgument);
        }
        for i in 1..1u64 << order {
            self.map.page(v.add(i)).set_page_count(1);
        }
        Ok(())
    }

    /// __alloc_pages from node `nid`'s zonelist: the walk, then the slow
    /// path (the fast paths in front of it are in the fastpath module).
    #[inline]
    pub(super) fn alloc_pages_nid(&self, cpu: usize, gfp: Gfp, order: u32, nid: usize) -> Result<Pfn, Error> {
        if order > MAX_PAGE_ORDER {
            return self.alloc_order_too_large(cpu, gfp, order);
        }
        let Some(pgdat) = self.node(nid) else {
            return Err(Error::InvalidArgument);
        };
        let zonelist = &pgdat.node_zonelists[gfp.contains(Gfp::THISNODE) as usize];
        let highest_zoneidx = gfp_zone(gfp);
        let migratetype =
            if self.page_group_by_mobility_disabled { MigrateType::Unmovable } else { gfp_migratetype(gfp) };
        let alloc_flags = AllocFlags::WMARK_LOW
            | alloc_flags_cma(migratetype)
            | zonelist.fast_flags[highest_zoneidx.idx()]
            | AllocFlags::from_bits_truncate(gfp.bits() & Gfp::KSWAPD_RECLAIM.bits());
        self.alloc_pages_zonelist(cpu, gfp, order, zonelist, highest_zoneidx, migratetype, alloc_flags)
    }

    /// The zonelist walk and the slow path. Inline: out of line, its
    /// `Result` came back through memory and its frame sat between the
    /// cold entry and the walk, 12 instructions on every allocation that
    /// misses the pcp fast path (pages/order0-nopcp 659 -> 647); the walk
    /// and the slow path stay calls of their own.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn alloc_pages_zonelist(
        &self,
        cpu: usize,
        gfp: Gfp,
        order: u32,
        zonelist: &Zonelist,
        highest_zoneidx: ZoneType,
        migratetype: MigrateType,
        alloc_flags: AllocFlags,
    ) -> Result<Pfn, Error> {
        let preferred = zonelist.preferred[highest_zoneidx.idx()];
        let ac = AllocContext { zonelist, preferred, highest_zoneidx, migratetype };
        if let Some(v) = self.get_page_from_freelist(cpu, gfp, order, alloc_flags, &ac) {
            return Ok(Pfn(v.get()));
        }
        self.alloc_pages_slowpath(cpu, gfp, order, &ac)
    }

    #[cold]
    #[inline(never)]
    pub(super) fn alloc_order_too_large(&self, cpu: usize, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        if !gfp.contains(Gfp::NOWARN) {
            H::log(
                LogLevel::Warning,
                format_args!(
                    "WARNING: {}: page allocation of order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER}), {}",
                    Comm::<H>::on(cpu),
                    GfpMode(gfp)
                ),
            );
        }
        Err(Error::InvalidArgument)
    }

    /// Walk the zonelist for a zone that passes the watermark and has the
    /// pages (get_page_from_freelist).
    #[inline]
    pub(super) fn get_page_from_freelist(
        &self,
        cpu: usize,
        gfp: Gfp,
        order: u32,
        mut alloc_flags: AllocFlags,
        ac: &AllocContext<'_>,
    ) -> Option<ValidPfn> {
        'retry: loop {
            let no_fallback = alloc_flags.contains(AllocFlags::NOFRAGMENT);
            for &zref in ac.zonelist.zones() {
                if zref.zone > ac.highest_zoneidx {
                    continue;
                }
                let Some(zone) = self.zone(zref) else { continue };
                if no_fallback && self.nr_online_nodes > 1 && ac.preferred.is_some_and(|p| p.nid != zref.nid) {
                    // Locality matters more than fragmentation: retry here
                    // allowing fragmenting fallbacks before going remote.
                    alloc_flags.remove(AllocFlags::NOFRAGMENT);
                    continue 'retry;
                }
                if !alloc_flags.contains(AllocFlags::NO_WATERMARKS) {
                    let mark = zone.wmark_pages(alloc_flags.wmark());
                    if !zone.zone_watermark_fast(order, mark, ac.highest_zoneidx, alloc_flags) {
                        continue;
                    }
                }
                if let Some(v) = self.rmqueue(cpu, zone, order, alloc_flags, ac.migratetype) {
                    self.prep_new_page(v, order, gfp);
                    if alloc_flags.contains(AllocFlags::HIGHATOMIC) {
                        zone.reserve_highatomic_pageblock(&self.map, v, order);
                    }
                    return Some(v);
                }
            }
            if no_fallback {
                alloc_flags.remove(AllocFlags::NOFRAGMENT);
                continue 'retry;
            }
            return None;
        }
    }

    /// Take a block from a zone, through the pcp lists when the order allows
    /// (rmqueue), skipping (and leaking) blocks that fail check_new_pages.
    #[inline]
    pub(super) fn rmqueue(
        &self,
        cpu: usize,
        zone: &Zone,
        order: u32,
        alloc_flags: AllocFlags,
        mt: MigrateType,
    ) -> Option<ValidPfn> {
        loop {
            let v = if pcp_allowed_order(order) && cpu < NR_CPUS {
                match zone.rmqueue_pcplist(&self.map, cpu, order, mt, alloc_flags) {
                    Some(v) => v,
                    None => zone.rmqueue_buddy(&self.map, order, mt, alloc_flags)?,
                }
            } else {
                zone.rmqueue_buddy(&self.map, order, mt, alloc_flags)?
            };
            if self.page_checks() == PageChecks::Off || self.check_new_pages(cpu, v, order) {
                return Some(v);
            }
        }
    }

    /// Make a block ready for its new owner (prep_new_page and post_alloc_hook).
    #[inline]
    pub(super) fn prep_new_page(&self, v: ValidPfn, order: u32, gfp: Gfp) {
        let page = self.map.page(v);
        page.set_private_internal(0);
        page.set_page_count(1);
        // First: the zeroing below writes through the linear map.
        if self.flags.contains(AllocatorFlags::DEBUG_PAGEALLOC) {
            self.kernel_map_pages(v, order, LinearMapping::Map);
        }
        if !self.flags.contains(AllocatorFlags::INIT_ON_FREE)
            && (self.flags.contains(AllocatorFlags::INIT_ON_ALLOC) || gfp.contains(Gfp::ZERO))
        {
            self.zero_pages(v, order);
        }
        if order != 0 && gfp.contains(Gfp::COMP) {
            self.prep_compound_page(v, order);
        }
    }

    /// Zero a block through the platform, out of line: inlined, the call
    /// would make every caller of prep_new_page and free_pages_prepare save
    /// registers on their fast paths too.
    #[inline(never)]
    pub(super) fn zero_pages(&self, v: ValidPfn, order: u32) {
        H::zero_pages(Pfn(v.get()), 1 << order);
    }

    /// debug_pagealloc's map or unmap of a block, out of line as
    /// `zero_pages` is. Called with no zone or pcp lock held (Linux calls
    /// it from post_alloc_hook and free_pages_prepare, outside the zone
    /// lock too).
    #[inline(never)]
    pub(super) fn kernel_map_pages(&self, v: ValidPfn, order: u32, how: LinearMapping) {
        H::kernel_map_pages(Pfn(v.get()), 1 << order, how);
    }

    /// Head flag, tails pointing at the head, order in the first tail's
    /// `private` (prep_compound_page). Out of line, as its loop would weigh
    /// on the order-0 fast path.
    #[inline(never)]
    pub(super) fn prep_compound_page(&self, v: ValidPfn, order: u32) {
        self.map.page(v).set_flags_internal(PageFlags::HEAD);
        for i in 1..1u64 << order {
            let tail = self.map.page(v.add(i));
            tail.set_mapping(TAIL_MAPPING);
            tail.set_compound_head(v.get());
            tail.set_private_internal(0);
        }
        self.map.page(v.add(1)).set_private_internal(order as u64);
    }
}
