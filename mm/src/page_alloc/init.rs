//! Bringing the allocator up: nodes and zones (free_area_init_node), the
//! memmap (memmap_init), and the hand-over of memblock's free memory
//! (memblock_free_all, __free_pages_core).

use core::mem::MaybeUninit;
use core::sync::atomic::Ordering::Relaxed;

use crate::addr::Pfn;
use crate::config::{MAX_NR_ZONES, MAX_PAGE_ORDER, NodeId, PAGEBLOCK_NR_PAGES};
use crate::error::Error;
use crate::hal::{Hal, LogLevel};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::{PageFlags, ValidPfn};
use crate::zone::{Fpi, Zone};

use super::allocator::PageAllocator;
use super::node::{MAX_ZONES_PER_ZONELIST, PgData};

impl<H: Hal> PageAllocator<H> {
    /// Create node `nid` (free_area_init_node) in `storage`, with zone spans
    /// `zones[zone type] = (start, end)` and the present memory ranges
    /// `present` (disjoint; they may include other nodes' memory, only the
    /// parts inside this node's zones count).
    ///
    /// Fails with `InvalidArgument` for a bad node id, a reversed or
    /// misordered span, a span overlapping another node's, or present memory
    /// without descriptors; with `Busy` if the node exists or the memmap is
    /// already initialised.
    pub fn add_node(
        &mut self,
        nid: NodeId,
        storage: &'static mut MaybeUninit<PgData>,
        zones: &[(Pfn, Pfn); MAX_NR_ZONES],
        present: &[(Pfn, Pfn)],
    ) -> Result<(), Error> {
        if !nid.is_valid() {
            return Err(Error::InvalidArgument);
        }
        if self.nodes[nid.0 as usize].is_some() || self.memmap_ready {
            return Err(Error::Busy);
        }
        let spans: [(u64, u64); MAX_NR_ZONES] = core::array::from_fn(|i| (zones[i].0.0, zones[i].1.0));
        let mut last_end = 0;
        for &(s, e) in &spans {
            if s > e {
                return Err(Error::InvalidArgument);
            }
            if s < e {
                if s < last_end {
                    return Err(Error::InvalidArgument);
                }
                last_end = e;
            }
        }
        for pgdat in self.nodes.iter().flatten() {
            for other in pgdat.node_zones.iter().filter(|z| z.spanned_pages() != 0) {
                let overlaps = spans.iter().any(|&(s, e)| s < other.zone_end_pfn() && other.zone_start_pfn() < e);
                if overlaps {
                    return Err(Error::InvalidArgument);
                }
            }
        }
        let mut present_pages = [0u64; MAX_NR_ZONES];
        for (i, &(zs, ze)) in spans.iter().enumerate() {
            for &(ps, pe) in present {
                let (s, e) = (ps.0.max(zs), pe.0.min(ze));
                if s >= e {
                    continue;
                }
                let mut sec = s >> crate::page::PFN_SECTION_SHIFT;
                while sec << crate::page::PFN_SECTION_SHIFT < e {
                    if !self.map.sections().section_present(sec) {
                        return Err(Error::InvalidArgument);
                    }
                    sec += 1;
                }
                present_pages[i] += e - s;
            }
        }
        self.nodes[nid.0 as usize] = Some(PgData::init(storage, nid, &spans, &present_pages));
        self.nr_online_nodes += 1;
        Ok(())
    }

    /// Initialise every descriptor: each zone's span with its zone and node
    /// (memmap_init_range), and every other page of a present section as
    /// reserved, linked to the nearest zone (init_unavailable_range).
    /// Returns the descriptors written. Call once, after all `add_node`s.
    pub fn memmap_init(&mut self) -> u64 {
        // Non-empty zone spans, sorted by start.
        let mut spans: [(u64, u64, NodeId, ZoneType); MAX_ZONES_PER_ZONELIST] =
            [(0, 0, NodeId(0), ZoneType::Normal); MAX_ZONES_PER_ZONELIST];
        let mut nr = 0;
        for pgdat in self.nodes.iter().flatten() {
            for z in pgdat.node_zones.iter().filter(|z| z.spanned_pages() != 0) {
                spans[nr] = (z.zone_start_pfn(), z.zone_end_pfn(), z.node(), z.zone_type());
                nr += 1;
            }
        }
        let spans = &mut spans[..nr];
        spans.sort_unstable_by_key(|s| s.0);
        let mut done = 0;
        for &(s, e, nid, zt) in spans.iter() {
            done += self.map.memmap_init_range(Pfn(s), Pfn(e), nid, zt);
        }
        // Every present section's pages outside the zones: reserved holes,
        // linked to the zone before them (or after, at the start).
        let mut from = 0;
        loop {
            let next = self.map.sections().ranges().find(|r| r.0.0 >= from);
            let Some((rs, re)) = next else { break };
            let mut cursor = rs.0;
            let mut links = spans.first().map_or((NodeId(0), ZoneType::Normal), |s| (s.2, s.3));
            for &(s, e, nid, zt) in spans.iter() {
                if e <= cursor {
                    links = (nid, zt);
                    continue;
                }
                if s >= re.0 {
                    break;
                }
                if s > cursor {
                    done += self.map.memmap_init_range(Pfn(cursor), Pfn(s), nid, zt);
                }
                cursor = e;
                links = (nid, zt);
            }
            if cursor < re.0 {
                done += self.map.memmap_init_range(Pfn(cursor), re, links.0, links.1);
            }
            from = re.0;
        }
        self.memmap_ready = true;
        done
    }

    /// Give `[start, end)` to the buddy allocator (memblock_free_all's
    /// __free_pages_memory and __free_pages_core): in the largest naturally
    /// aligned blocks up to MAX_PAGE_ORDER, split at zone boundaries, PG_reserved
    /// cleared, counted in managed_pages. Pages outside every zone, without
    /// descriptors, or not reserved (already freed) are skipped. Returns the
    /// pages freed.
    pub fn free_bootmem_range(&self, start: Pfn, end: Pfn) -> u64 {
        if !self.memmap_ready {
            H::log(LogLevel::Warning, format_args!("free_bootmem_range: memmap_init has not run, range ignored"));
            return 0;
        }
        let mut freed = 0;
        for pgdat in self.nodes.iter().flatten() {
            for zone in pgdat.node_zones.iter() {
                let s = start.0.max(zone.zone_start_pfn());
                let e = end.0.min(zone.zone_end_pfn());
                if s < e {
                    freed += self.free_pages_memory(zone, s, e);
                }
            }
        }
        freed
    }

    /// __free_pages_memory over one zone's part of a range.
    pub(super) fn free_pages_memory(&self, zone: &Zone, start: u64, end: u64) -> u64 {
        let mut freed = 0;
        let mut pfn = start;
        while pfn < end {
            let Some(v) = self.map.valid(pfn) else {
                // No descriptors: skip to the next section.
                pfn = (pfn | (crate::page::PAGES_PER_SECTION - 1)) + 1;
                continue;
            };
            let mut order = if pfn == 0 { MAX_PAGE_ORDER } else { pfn.trailing_zeros().min(MAX_PAGE_ORDER) };
            while pfn + (1 << order) > end {
                order -= 1;
            }
            freed += self.free_pages_core(zone, v, order);
            pfn += 1 << order;
        }
        freed
    }

    /// __free_pages_core: hand a reserved block to the buddy lists.
    pub(super) fn free_pages_core(&self, zone: &Zone, v: ValidPfn, order: u32) -> u64 {
        let nr = 1u64 << order;
        let all_reserved = (0..nr).all(|i| self.map.page(v.add(i)).test_flags(PageFlags::RESERVED));
        if !all_reserved {
            if order == 0 {
                H::log(
                    LogLevel::Warning,
                    format_args!("free_bootmem_range: pfn {:#x} is not reserved (freed twice?), skipped", v.get()),
                );
                return 0;
            }
            return (0..nr).map(|i| self.free_pages_core(zone, v.add(i), 0)).sum();
        }
        for i in 0..nr {
            let page = self.map.page(v.add(i));
            page.clear_flags_internal(PageFlags::RESERVED);
            page.set_page_count(0);
        }
        zone.managed_pages.fetch_add(nr, Relaxed);
        // Fresh pages go to the tail and bypass the pcp lists.
        self.free_pages_ok(0, v, order, Fpi::TO_TAIL);
        nr
    }

    /// Turn a reserved pageblock into CMA memory and free it
    /// (init_cma_reserved_pageblock). `pfn` must start a pageblock of reserved
    /// pages inside one zone.
    pub fn init_cma_reserved_pageblock(&self, pfn: Pfn) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        if !pfn.0.is_multiple_of(PAGEBLOCK_NR_PAGES) || !self.memmap_ready {
            return Err(Error::InvalidArgument);
        }
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::InvalidArgument)?;
        let end = pfn.0 + PAGEBLOCK_NR_PAGES;
        if !zone.spans(pfn.0) || !zone.spans(end - 1) {
            return Err(Error::InvalidArgument);
        }
        if !(0..PAGEBLOCK_NR_PAGES).all(|i| self.map.page(v.add(i)).test_flags(PageFlags::RESERVED)) {
            return Err(Error::Busy);
        }
        for i in 0..PAGEBLOCK_NR_PAGES {
            let page = self.map.page(v.add(i));
            page.clear_flags_internal(PageFlags::RESERVED);
            page.set_page_count(0);
        }
        {
            let zone_locked = zone.lock(&self.map);
            zone_locked.change_pageblock_range(v, 0, MigrateType::Cma);
        }
        zone.managed_pages.fetch_add(PAGEBLOCK_NR_PAGES, Relaxed);
        zone.cma_pages.fetch_add(PAGEBLOCK_NR_PAGES, Relaxed);
        self.free_pages_ok(0, v, crate::zone::PAGEBLOCK_ORDER, Fpi::empty());
        Ok(())
    }
}
