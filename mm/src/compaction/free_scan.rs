//! The free scanner (isolate_freepages, isolate_freepages_block) and the
//! migration target callbacks (compaction_alloc, compaction_free,
//! release_free_list): from the zone's end downwards, it takes free buddy
//! blocks off the lists under the zone lock and turns them into order-0
//! pages, prepared as allocated pages, for migration to copy into.

use crate::addr::Pfn;
use crate::config::{PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER};
use crate::hal::{Hal, LinearMapping};
use crate::mmzone::MigrateType;
use crate::page::{MemMap, PageFlags, ValidPfn};
use crate::page_alloc::{AllocatorFlags, PageAllocator};
use crate::vmstat::{VmEvent, count_vm_events};
use crate::zone::Zone;

use super::control::{COMPACT_CLUSTER_MAX, FreeScanner, MigrateMode, pageblock_end_pfn, pageblock_start_pfn};
use super::migrate_scan::pageblock_in_zone;

/// Whether free pages of the pageblock at `first` may become targets
/// (suitable_migration_target): a MOVABLE or CMA pageblock (never an
/// ISOLATE one, nor one of another kind, which the moved pages would
/// pollute), and not one that is a free block of pageblock order or more:
/// breaking that up would undo what compaction is for.
pub(super) fn suitable_migration_target(map: &MemMap, first: ValidPfn) -> bool {
    let page = map.page(first);
    if page.test_flags(PageFlags::BUDDY) && page.buddy_order() >= PAGEBLOCK_ORDER {
        return false;
    }
    matches!(map.get_pageblock_migratetype(first), MigrateType::Movable | MigrateType::Cma)
}

/// Refill the target list for `nr_wanted` sources, scanning down from
/// `fs.free_pfn` to the pageblock above the migrate scanner's
/// (isolate_freepages). Leaves `fs.free_pfn` where the next refill starts.
pub(super) fn isolate_freepages<H: Hal>(
    pa: &PageAllocator<H>,
    zone: &Zone,
    mode: MigrateMode,
    fs: &mut FreeScanner,
    migrate_pfn: u64,
    nr_wanted: u64,
) {
    let map = pa.memmap();
    let mut isolate_start = fs.free_pfn;
    let mut block_start = pageblock_start_pfn(isolate_start);
    let mut block_end = (block_start + PAGEBLOCK_NR_PAGES).min(zone.zone_end_pfn());
    let low_pfn = pageblock_end_pfn(migrate_pfn);
    let mut stride = if mode == MigrateMode::Async { COMPACT_CLUSTER_MAX as u64 } else { 1 };
    while block_start >= low_pfn {
        if let Some(first) = pageblock_in_zone(map, zone, block_start, block_end)
            && suitable_migration_target(map, first)
        {
            let nr_isolated =
                isolate_freepages_block(pa, zone, fs, first, &mut isolate_start, block_end, stride, nr_wanted);
            if fs.freepages.nr_pages() >= nr_wanted {
                if isolate_start >= block_end {
                    // The whole pageblock was scanned: next time, start
                    // below it.
                    isolate_start = block_start.saturating_sub(PAGEBLOCK_NR_PAGES);
                }
                break;
            } else if isolate_start < block_end {
                // Stopped early (the watermark): do not go on needlessly.
                break;
            }
            stride = if nr_isolated > 0 { 1 } else { (stride * 2).min(COMPACT_CLUSTER_MAX as u64) };
        }
        if block_start < PAGEBLOCK_NR_PAGES {
            isolate_start = 0;
            break;
        }
        block_end = block_start;
        block_start -= PAGEBLOCK_NR_PAGES;
        isolate_start = block_start;
    }
    fs.free_pfn = isolate_start;
}

/// Take the free blocks of `[*start_pfn, end_pfn)` (a piece of the
/// pageblock at `first`), looking at every `stride`-th page, until
/// `nr_wanted` pages are held (isolate_freepages_block). The zone lock is
/// held from the first free block found to the end of the piece, and never
/// while the pages are prepared. Returns the pages taken; `*start_pfn` is
/// left where the scan stopped.
#[allow(clippy::too_many_arguments)]
fn isolate_freepages_block<H: Hal>(
    pa: &PageAllocator<H>,
    zone: &Zone,
    fs: &mut FreeScanner,
    first: ValidPfn,
    start_pfn: &mut u64,
    end_pfn: u64,
    stride: u64,
    nr_wanted: u64,
) -> u64 {
    let map = pa.memmap();
    let runs_before = fs.freepages.len();
    let mut pfn = *start_pfn;
    let mut nr_scanned = 0u64;
    let mut total = 0u64;
    {
        let mut guard = None;
        while pfn < end_pfn {
            nr_scanned += 1;
            let v = first.same_section(pfn);
            let page = map.page(v);
            if !page.test_flags(PageFlags::BUDDY) {
                pfn += stride;
                continue;
            }
            let locked = guard.get_or_insert_with(|| zone.lock(map));
            // Look again under the lock: it may have been allocated or
            // merged since.
            if !page.test_flags(PageFlags::BUDDY) {
                pfn += stride;
                continue;
            }
            // The list has room (a refill starts empty and adds at most
            // `nr_wanted` runs), but a block is never taken without it.
            if !fs.freepages.has_room() {
                break;
            }
            let order = page.buddy_order();
            let isolated = locked.isolate_free_page(v, order);
            if isolated == 0 {
                break;
            }
            fs.freepages.push(pfn, isolated);
            nr_scanned += isolated - 1;
            total += isolated;
            if fs.freepages.nr_pages() >= nr_wanted {
                pfn += isolated;
                break;
            }
            pfn += isolated - 1 + stride;
        }
    }
    *start_pfn = pfn.min(end_pfn);
    // Outside the zone lock: make the pages look freshly allocated, one
    // reference each (split_map_pages and post_alloc_hook).
    for run in fs.freepages.runs_since(runs_before) {
        prep_target_run(pa, first, run.pfn, run.nr);
    }
    fs.total_free_scanned += nr_scanned;
    fs.nr_free_isolated += total;
    count_vm_events(VmEvent::CompactIsolated, total);
    total
}

/// Prepare `nr` pages from `pfn` (in the pageblock of `first`), just taken
/// off the buddy lists, as order-0 allocated pages: refcount 1, private
/// clear, mapped again for debug_pagealloc, zeroed for init_on_alloc.
fn prep_target_run<H: Hal>(pa: &PageAllocator<H>, first: ValidPfn, pfn: u64, nr: u64) {
    let map = pa.memmap();
    for p in pfn..pfn + nr {
        let page = map.page(first.same_section(p));
        page.set_private_internal(0);
        page.set_page_count(1);
    }
    let flags = pa.flags();
    if flags.contains(AllocatorFlags::DEBUG_PAGEALLOC) {
        H::kernel_map_pages(Pfn(pfn), nr, LinearMapping::Map);
    }
    if flags.contains(AllocatorFlags::INIT_ON_ALLOC) && !flags.contains(AllocatorFlags::INIT_ON_FREE) {
        H::zero_pages(Pfn(pfn), nr);
    }
}

/// A target page for one source (compaction_alloc): from the list,
/// refilling it with the free scanner when empty. `None` once the free
/// scanner has nothing left above the migrate scanner.
pub(super) fn compaction_alloc<H: Hal>(
    pa: &PageAllocator<H>,
    zone: &Zone,
    mode: MigrateMode,
    fs: &mut FreeScanner,
    migrate_pfn: u64,
    nr_wanted: u64,
) -> Option<Pfn> {
    if fs.freepages.nr_pages() == 0 {
        isolate_freepages(pa, zone, mode, fs, migrate_pfn, nr_wanted);
    }
    fs.freepages.pop()
}

/// Take back a target that was not used (compaction_free): onto the list,
/// or, if the list is full, back to the allocator.
pub(super) fn compaction_free<H: Hal>(pa: &PageAllocator<H>, cpu: usize, fs: &mut FreeScanner, pfn: Pfn) {
    if !fs.freepages.push(pfn.0, 1) {
        // SAFETY: a target page of this run (refcount 1, set by
        // prep_target_run, untouched by the failed migration: the
        // migrator's promise 2); nobody else knows it.
        unsafe { pa.put_page(cpu, pfn) };
    }
}

/// Give every unused target back to the allocator (release_free_list).
pub(super) fn release_free_list<H: Hal>(pa: &PageAllocator<H>, cpu: usize, fs: &mut FreeScanner) {
    fs.freepages.drain(|pfn| {
        // SAFETY: as in compaction_free: the list's pages are the run's
        // alone (FreeList's invariant), each with the one reference given
        // up here.
        unsafe { pa.put_page(cpu, pfn) }
    });
}
