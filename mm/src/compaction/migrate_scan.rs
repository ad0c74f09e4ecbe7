//! The migrate scanner (isolate_migratepages, isolate_migratepages_block):
//! from the zone's start upwards, pageblock by pageblock, it takes a
//! reference to in-use movable pages, [`COMPACT_CLUSTER_MAX`] at a time.

use crate::addr::Pfn;
use crate::config::MAX_PAGE_ORDER;
use crate::hal::Hal;
use crate::migrate::{Migrator, isolate_movable_page};
use crate::mmzone::MigrateType;
use crate::page::{MemMap, PageFlags, ValidPfn};
use crate::page_alloc::PageAllocator;
use crate::vmstat::{VmEvent, count_vm_events};
use crate::zone::Zone;

use super::control::{
    COMPACT_CLUSTER_MAX, CompactControl, CompactFlags, MigrateMode, pageblock_end_pfn, pageblock_start_pfn,
};

/// What the migrate scanner makes of one page.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum ScanStep {
    /// An order-0 page in use: try to isolate it.
    Candidate,
    /// Skip this many pages (a free buddy block or a compound page, by its
    /// order; one for a tail page).
    Skip(u64),
}

/// Look at the page at `v` without any lock. The order of a free block
/// may be stale (the block may merge or be allocated meanwhile), so only
/// orders in range are trusted; the worst a stale one does is skip pages
/// that could have been isolated.
pub(super) fn migrate_scan_step(map: &MemMap, v: ValidPfn) -> ScanStep {
    let page = map.page(v);
    if page.test_flags(PageFlags::BUDDY) {
        let order = page.buddy_order();
        return ScanStep::Skip(if order > 0 && order <= MAX_PAGE_ORDER { 1 << order } else { 1 });
    }
    if page.is_head() {
        // The order sits in the first tail (prep_compound_page); the head
        // is aligned to it, so the tail lies in the same section.
        let order = map.page(v.same_section(v.get() | 1)).private();
        return ScanStep::Skip(if order > 0 && order <= MAX_PAGE_ORDER as u64 { 1 << order } else { 1 });
    }
    if page.is_tail() {
        return ScanStep::Skip(1);
    }
    ScanStep::Candidate
}

/// The first page of the pageblock piece `[start, end)` if every page of it
/// has a descriptor and belongs to `zone` (pageblock_pfn_to_page). A
/// pageblock never crosses a section, so the ends decide.
pub(super) fn pageblock_in_zone(map: &MemMap, zone: &Zone, start: u64, end: u64) -> Option<ValidPfn> {
    if start >= end || !zone.spans(start) || !zone.spans(end - 1) {
        return None;
    }
    let first = map.valid(start)?;
    let last = map.valid(end - 1)?;
    let (a, b) = (map.page(first), map.page(last));
    let in_zone = |p: &crate::page::Page| p.node() == zone.node() && p.zone_type() == zone.zone_type();
    (in_zone(a) && in_zone(b)).then_some(first)
}

/// Whether the pageblock at `first` may give pages to migrate
/// (suitable_migration_source): everything for sync or on-demand runs; an
/// async direct run keeps to pageblocks of the allocation's own kind, so
/// that it does not scatter other kinds' pages.
fn suitable_migration_source(cc: &CompactControl<'_>, map: &MemMap, first: ValidPfn) -> bool {
    if cc.mode != MigrateMode::Async || !cc.flags.contains(CompactFlags::DIRECT) {
        return true;
    }
    let mt = map.get_pageblock_migratetype(first);
    if cc.migratetype == MigrateType::Movable {
        matches!(mt, MigrateType::Movable | MigrateType::Cma)
    } else {
        mt == cc.migratetype
    }
}

/// Whether the last isolation call found pages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Isolated {
    /// Nothing isolated: the scanner reached the free scanner.
    None,
    /// `cc.migratepages` holds pages to migrate.
    Some,
}

/// Find the next pageblock to take pages from and isolate from it
/// (isolate_migratepages). The scanner never goes past the free
/// scanner's pageblock, nor outside the zone.
pub(super) fn isolate_migratepages<H: Hal>(
    pa: &PageAllocator<H>,
    cpu: usize,
    migrator: &dyn Migrator,
    cc: &mut CompactControl<'_>,
) -> Isolated {
    let map = pa.memmap();
    let zone = cc.zone;
    let mut low_pfn = cc.migrate_pfn;
    let mut block_start = pageblock_start_pfn(low_pfn).max(zone.zone_start_pfn());
    let mut block_end = pageblock_end_pfn(low_pfn);
    while block_end <= cc.free.free_pfn {
        let end = block_end.min(zone.zone_end_pfn());
        if let Some(first) = pageblock_in_zone(map, zone, block_start, end)
            && suitable_migration_source(cc, map, first)
        {
            isolate_migratepages_block(pa, cpu, migrator, cc, first, low_pfn, end);
            break;
        }
        low_pfn = block_end;
        cc.migrate_pfn = low_pfn;
        block_start = block_end;
        block_end += 1 << crate::config::PAGEBLOCK_ORDER;
    }
    if cc.nr_migratepages > 0 { Isolated::Some } else { Isolated::None }
}

/// Isolate movable pages of `[low_pfn, end_pfn)`, a piece of the pageblock
/// whose first page in the zone is `first`, until the batch is full
/// (isolate_migratepages_block). Leaves `cc.migrate_pfn` where it stopped.
fn isolate_migratepages_block<H: Hal>(
    pa: &PageAllocator<H>,
    cpu: usize,
    migrator: &dyn Migrator,
    cc: &mut CompactControl<'_>,
    first: ValidPfn,
    low_pfn: u64,
    end_pfn: u64,
) {
    let map = pa.memmap();
    let mut pfn = low_pfn;
    let mut nr_scanned = 0u64;
    let mut nr_isolated = 0u64;
    while pfn < end_pfn {
        match migrate_scan_step(map, first.same_section(pfn)) {
            ScanStep::Skip(n) => {
                nr_scanned += n;
                pfn += n;
            }
            ScanStep::Candidate => {
                nr_scanned += 1;
                let isolated = isolate_movable_page(pa, cpu, Pfn(pfn), migrator);
                pfn += 1;
                if isolated {
                    cc.migratepages[cc.nr_migratepages] = Pfn(pfn - 1);
                    cc.nr_migratepages += 1;
                    nr_isolated += 1;
                    if cc.nr_migratepages == COMPACT_CLUSTER_MAX {
                        break;
                    }
                }
            }
        }
    }
    // A skipped free block may reach past the piece.
    cc.migrate_pfn = pfn.min(end_pfn);
    cc.total_migrate_scanned += nr_scanned;
    cc.nr_migrate_isolated += nr_isolated;
    count_vm_events(VmEvent::CompactIsolated, nr_isolated);
}
