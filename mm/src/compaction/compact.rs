//! Running compaction: whether a zone is worth it (compaction_suitable),
//! when a run is done (compact_finished), the run itself (compact_zone),
//! direct compaction over a zonelist (try_to_compact_pages) and compaction
//! on demand (compact_node, compact_memory).

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::config::{MAX_PAGE_ORDER, NodeId, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_NR_PAGES};
use crate::error::Error;
use crate::gfp::{Gfp, gfp_migratetype};
use crate::hal::Hal;
use crate::migrate::{Migrator, migrate_pages};
use crate::mmzone::{MIGRATE_PCPTYPES, MigrateType, ZoneType};
use crate::page_alloc::{PageAllocator, Zonelist};
use crate::vmstat::{VmEvent, count_vm_events};
use crate::zone::{AllocFlags, Zone};

use super::control::{COMPACT_ORDER_WHOLE_ZONE, CompactControl, CompactFlags, CompactResult, MigrateMode};
use super::defer::{compaction_deferred, defer_compaction};
use super::fragmentation::fragmentation_index;
use super::free_scan::{compaction_alloc, compaction_free, release_free_list};
use super::migrate_scan::{Isolated, isolate_migratepages};

/// vm.extfrag_threshold's default.
pub const EXTFRAG_THRESHOLD_DEFAULT: u32 = 500;
/// vm.extfrag_threshold's largest value.
pub const EXTFRAG_THRESHOLD_MAX: u32 = 1000;

static EXTFRAG_THRESHOLD: AtomicU32 = AtomicU32::new(EXTFRAG_THRESHOLD_DEFAULT);

/// vm.extfrag_threshold (sysctl_extfrag_threshold): for costly orders, a
/// fragmentation index at or below it means an allocation fails for want
/// of memory, which compaction cannot help.
pub fn extfrag_threshold() -> u32 {
    EXTFRAG_THRESHOLD.load(Relaxed)
}

/// Set vm.extfrag_threshold (0..=1000).
pub fn set_extfrag_threshold(value: u32) -> Result<(), Error> {
    if value > EXTFRAG_THRESHOLD_MAX {
        return Err(Error::InvalidArgument);
    }
    EXTFRAG_THRESHOLD.store(value, Relaxed);
    Ok(())
}

/// The free pages compaction wants beyond the watermark for `order`: room
/// for the migrated copies while the sources are not yet free (compact_gap).
#[inline]
pub const fn compact_gap(order: u32) -> u64 {
    2 << order
}

/// The order-0 watermark check with the compaction gap
/// (__compaction_suitable).
fn compaction_suitable_free(zone: &Zone, order: u32, watermark: u64, highest: ZoneType, free_pages: u64) -> bool {
    zone.zone_watermark_ok_free(0, watermark + compact_gap(order), highest, AllocFlags::CMA, free_pages as i64)
}

/// Whether compacting `zone` could make an allocation of `order` succeed
/// (compaction_suitable): enough free memory above `watermark` for the
/// copies, and, for costly orders, a fragmentation index above
/// [`extfrag_threshold`] (a failure for want of contiguity rather than of
/// memory).
pub fn compaction_suitable(zone: &Zone, order: u32, watermark: u64, highest_zoneidx: ZoneType) -> bool {
    suitable_with_free(zone, order, watermark, highest_zoneidx, zone.free_pages())
}

fn suitable_with_free(zone: &Zone, order: u32, watermark: u64, highest: ZoneType, free_pages: u64) -> bool {
    if !compaction_suitable_free(zone, order, watermark, highest, free_pages) {
        return false;
    }
    if order > PAGE_ALLOC_COSTLY_ORDER {
        let index = fragmentation_index(zone, order);
        if index >= 0 && index as u32 <= extfrag_threshold() {
            return false;
        }
    }
    true
}

/// Whether an allocation of `order` with `alloc_flags` already succeeds
/// in `zone` (Success), compaction could help (Continue) or not (Skipped)
/// (compaction_suit_allocation_order).
pub fn compaction_suit_allocation_order(
    zone: &Zone,
    order: u32,
    highest_zoneidx: ZoneType,
    alloc_flags: AllocFlags,
) -> CompactResult {
    let watermark = zone.wmark_pages(alloc_flags.wmark());
    if zone.zone_watermark_ok(order, watermark, highest_zoneidx, alloc_flags) {
        return CompactResult::Success;
    }
    // Without CMA access, the block has to form outside CMA pageblocks:
    // count only the free memory there.
    let mut free_pages = zone.free_pages();
    if !alloc_flags.contains(AllocFlags::CMA) {
        free_pages = free_pages.saturating_sub(zone.free_cma_pages());
    }
    if !suitable_with_free(zone, order, watermark, highest_zoneidx, free_pages) {
        return CompactResult::Skipped;
    }
    CompactResult::Continue
}

/// Whether `zone` has a free block of `order` or more that an allocation
/// of `mt` may take: its own type, CMA for movable, or a type it falls
/// back to (any of the three pcp types: at costly orders every fallback
/// claims, see the zone module).
fn suitable_block_free(zone: &Zone, order: u32, mt: MigrateType) -> bool {
    (order..=MAX_PAGE_ORDER).any(|o| {
        let pcp_types = [MigrateType::Unmovable, MigrateType::Movable, MigrateType::Reclaimable];
        debug_assert_eq!(pcp_types.len(), MIGRATE_PCPTYPES);
        let own_or_fallback = if (mt as usize) < MIGRATE_PCPTYPES {
            pcp_types.iter().any(|&t| zone.nr_free_blocks(o, t) != 0)
        } else {
            zone.nr_free_blocks(o, mt) != 0
        };
        own_or_fallback || (mt == MigrateType::Movable && zone.nr_free_blocks(o, MigrateType::Cma) != 0)
    })
}

/// Whether the run is done (compact_finished): the scanners met
/// (Complete over the whole zone), or, for an order, a suitable block is
/// free once the migrate scanner has finished its pageblock (Success).
/// A whole-zone run goes on until the scanners meet.
pub fn compact_finished(cc: &CompactControl<'_>) -> CompactResult {
    if cc.scanners_met() {
        return if cc.flags.contains(CompactFlags::WHOLE_ZONE) {
            CompactResult::Complete
        } else {
            CompactResult::PartialSkipped
        };
    }
    if cc.is_via_compact_memory() {
        return CompactResult::Continue;
    }
    // Finish the pageblock begun, so that fewer fallbacks pollute it later.
    if !cc.migrate_pfn.is_multiple_of(PAGEBLOCK_NR_PAGES) {
        return CompactResult::Continue;
    }
    if suitable_block_free(cc.zone, cc.order as u32, cc.migratetype) {
        return CompactResult::Success;
    }
    CompactResult::Continue
}

/// Compact `cc.zone` (compact_zone): migrate movable pages from the
/// bottom into free pages at the top until [`compact_finished`] says stop.
/// The zone lock is taken only by the free scanner while it takes free
/// blocks; migration runs with no allocator lock held.
pub fn compact_zone<H: Hal>(
    pa: &PageAllocator<H>,
    cpu: usize,
    migrator: &dyn Migrator,
    cc: &mut CompactControl<'_>,
) -> CompactResult {
    if !cc.is_via_compact_memory() {
        let order = cc.order.clamp(0, MAX_PAGE_ORDER as i32) as u32;
        let ret = compaction_suit_allocation_order(cc.zone, order, cc.highest_zoneidx, cc.alloc_flags);
        if ret != CompactResult::Continue {
            return ret;
        }
    }
    cc.reset_scanners();
    let zone = cc.zone;
    let mode = cc.mode;
    let mut last_migrated_pfn = 0u64;
    let mut ret;
    loop {
        ret = compact_finished(cc);
        if ret != CompactResult::Continue {
            break;
        }
        if isolate_migratepages(pa, cpu, migrator, cc) == Isolated::Some {
            last_migrated_pfn = zone.zone_start_pfn().max(super::control::pageblock_start_pfn(cc.migrate_pfn - 1));
            let migrate_pfn = cc.migrate_pfn;
            let nr = cc.nr_migratepages;
            let free = RefCell::new(&mut cc.free);
            let result = migrate_pages(
                pa,
                cpu,
                migrator,
                &mut cc.migratepages[..nr],
                &mut |_src| compaction_alloc(pa, zone, mode, &mut free.borrow_mut(), migrate_pfn, nr as u64),
                &mut |dst| compaction_free(pa, cpu, &mut free.borrow_mut(), dst),
            );
            // Every isolation reference is gone, moved or not.
            cc.nr_migratepages = 0;
            cc.nr_migrated += result.succeeded;
            cc.nr_migrate_failed += result.failed;
            if result.no_target && !cc.scanners_met() {
                ret = CompactResult::Contended;
                break;
            }
        }
        // Once the migrate scanner leaves the order-aligned block it
        // emptied, flush this CPU's freed sources to the buddy lists so
        // they merge and compact_finished can see the block.
        if cc.order > 0 && last_migrated_pfn != 0 {
            let current_block_start = cc.migrate_pfn & !((1u64 << cc.order) - 1);
            if last_migrated_pfn < current_block_start {
                pa.drain_local_pages(cpu);
                last_migrated_pfn = 0;
            }
        }
    }
    release_free_list(pa, cpu, &mut cc.free);
    if cc.nr_migrated > 0 || cc.nr_free_isolated() > 0 {
        // The sources and unused targets went to this CPU's pcp lists.
        pa.drain_local_pages(cpu);
    }
    count_vm_events(VmEvent::CompactMigrateScanned, cc.total_migrate_scanned);
    count_vm_events(VmEvent::CompactFreeScanned, cc.total_free_scanned());
    ret
}

/// Direct compaction of one zone for an allocation (compact_zone_order).
#[allow(clippy::too_many_arguments)]
fn compact_zone_order<H: Hal>(
    pa: &PageAllocator<H>,
    cpu: usize,
    migrator: &dyn Migrator,
    zone: &Zone,
    order: u32,
    gfp: Gfp,
    mode: MigrateMode,
    alloc_flags: AllocFlags,
    highest_zoneidx: ZoneType,
) -> CompactResult {
    let mut cc = CompactControl::new(
        zone,
        order as i32,
        mode,
        CompactFlags::WHOLE_ZONE | CompactFlags::DIRECT,
        gfp_migratetype(gfp),
        highest_zoneidx,
        alloc_flags,
    );
    compact_zone(pa, cpu, migrator, &mut cc)
}

/// Whether `gfp` lets the allocation compact (gfp_compaction_allowed):
/// it may do I/O-free blocking work, which moving pages is.
#[inline]
pub fn gfp_compaction_allowed(gfp: Gfp) -> bool {
    gfp.contains(Gfp::IO)
}

/// Direct compaction for an allocation of `order` over the zones of
/// `zonelist` up to `highest_zoneidx` (try_to_compact_pages): zones where
/// compaction is deferred are skipped; the walk stops at the first zone
/// where a block formed, whose deferral is then relaxed; a sync run that
/// ends without one defers that zone. Returns the best result seen.
#[allow(clippy::too_many_arguments)]
pub fn try_to_compact_pages<H: Hal>(
    pa: &PageAllocator<H>,
    cpu: usize,
    migrator: &dyn Migrator,
    gfp: Gfp,
    order: u32,
    alloc_flags: AllocFlags,
    zonelist: &Zonelist,
    highest_zoneidx: ZoneType,
    mode: MigrateMode,
) -> CompactResult {
    let mut rc = CompactResult::Skipped;
    if !gfp_compaction_allowed(gfp) || order == 0 || order > MAX_PAGE_ORDER {
        return rc;
    }
    for zref in zonelist.zones().iter().filter(|z| z.zone <= highest_zoneidx) {
        let Some(pgdat) = pa.node_data(NodeId(zref.nid as i32)) else { continue };
        let zone = pgdat.zone(zref.zone);
        if !zone.is_managed() {
            continue;
        }
        if compaction_deferred(zone, order) {
            rc = rc.max(CompactResult::Deferred);
            continue;
        }
        let status = compact_zone_order(pa, cpu, migrator, zone, order, gfp, mode, alloc_flags, highest_zoneidx);
        rc = rc.max(status);
        if status == CompactResult::Success {
            // Only likely to succeed: the caller resets fully once the
            // allocation did.
            super::defer::compaction_defer_reset(zone, order, false);
            break;
        }
        if mode != MigrateMode::Async && matches!(status, CompactResult::Complete | CompactResult::PartialSkipped) {
            defer_compaction(zone, order);
        }
    }
    rc
}

/// Compact every populated zone of node `nid` whole, in sync mode
/// (compact_node, what `/sys/devices/system/node/nodeN/compact` does).
pub fn compact_node<H: Hal>(
    pa: &PageAllocator<H>,
    cpu: usize,
    migrator: &dyn Migrator,
    nid: NodeId,
) -> Result<(), Error> {
    let pgdat = pa.node_data(nid).ok_or(Error::InvalidArgument)?;
    for zone in pgdat.zones().iter().filter(|z| z.is_populated()) {
        let mut cc = CompactControl::new(
            zone,
            COMPACT_ORDER_WHOLE_ZONE,
            MigrateMode::Sync,
            CompactFlags::WHOLE_ZONE,
            gfp_migratetype(Gfp::KERNEL),
            zone.zone_type(),
            AllocFlags::WMARK_MIN,
        );
        compact_zone(pa, cpu, migrator, &mut cc);
    }
    Ok(())
}

/// Compact all memory: every node, whole zones, sync (compact_nodes, what
/// writing 1 to `/proc/sys/vm/compact_memory` does). Every CPU's pcp
/// lists are drained first, so that free pages sitting there count.
pub fn compact_memory<H: Hal>(pa: &PageAllocator<H>, cpu: usize, migrator: &dyn Migrator) {
    pa.drain_all_pages();
    for pgdat in pa.online_nodes() {
        // The node exists: compact_node cannot fail here.
        let _ = compact_node(pa, cpu, migrator, pgdat.node_id());
    }
}
