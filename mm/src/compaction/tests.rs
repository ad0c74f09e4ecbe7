//! Host tests of compaction: the indices against hand-computed values, the
//! reports' format, deferral, the scanners' bounds, and whole runs over
//! fragmented zones of FakeMigrator user pages.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use super::control::FreeList;
use super::free_scan::suitable_migration_target;
use super::migrate_scan::{ScanStep, migrate_scan_step};
use super::*;
use crate::addr::Pfn;
use crate::config::{NR_PAGE_ORDERS, NodeId, PAGEBLOCK_NR_PAGES};
use crate::gfp::Gfp;
use crate::migrate::{MigrateError, Migrator};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::Page;
use crate::page_alloc::AllocatorFlags;
use crate::test_support::*;
use crate::vmstat::{VmEvent, vm_event};
use crate::zone::{AllocFlags, Zone};

const BASE: u64 = 0x40000;
const MOVABLE_NOWARN: Gfp = Gfp::HIGHUSER_MOVABLE.union(Gfp::NOWARN);

/// One node, one ZONE_NORMAL of `nr` pages at BASE.
fn machine(nr: u64) -> PageAllocator {
    build(&[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (BASE, BASE + nr), (0, 0)] }], &[(BASE, BASE + nr)], &[0])
}

fn normal(pa: &PageAllocator) -> &Zone {
    pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal)
}

/// Fill the machine with user pages (tags 1, 2, ...), then release every
/// other one in PFN order. Returns the kept pages and their tags.
fn fragment(pa: &PageAllocator, m: &FakeMigrator<'_>) -> BTreeMap<u64, u64> {
    let mut pages = Vec::new();
    while let Ok(pfn) = pa.alloc_pages(0, MOVABLE_NOWARN, 0) {
        m.adopt(pfn, pages.len() as u64 + 1);
        pages.push(pfn);
    }
    pages.sort();
    let mut kept = BTreeMap::new();
    for (i, &pfn) in pages.iter().enumerate() {
        if i % 2 == 0 {
            m.release(pa, pfn);
        } else {
            kept.insert(pfn.0, m.tag(pfn).unwrap());
        }
    }
    pa.drain_all_pages();
    kept
}

/// Every user page in `zone`: pfn -> tag.
fn user_pages(m: &FakeMigrator<'_>, zone: &Zone) -> BTreeMap<u64, u64> {
    (zone.zone_start_pfn()..zone.zone_end_pfn()).filter_map(|p| Some((p, m.tag(Pfn(p))?))).collect()
}

/// The same tags, each exactly once, wherever they now live.
fn assert_same_tags(before: &BTreeMap<u64, u64>, after: &BTreeMap<u64, u64>) {
    let mut a: Vec<u64> = before.values().copied().collect();
    let mut b: Vec<u64> = after.values().copied().collect();
    a.sort();
    b.sort();
    assert_eq!(a, b, "a user page's contents were lost or duplicated");
}

fn release_all(pa: &PageAllocator, m: &FakeMigrator<'_>, pages: &BTreeMap<u64, u64>) {
    for &p in pages.keys() {
        m.release(pa, Pfn(p));
    }
    pa.drain_all_pages();
}

fn direct_cc(zone: &Zone, order: i32, mode: MigrateMode) -> CompactControl<'_> {
    CompactControl::new(
        zone,
        order,
        mode,
        CompactFlags::WHOLE_ZONE | CompactFlags::DIRECT,
        MigrateType::Movable,
        ZoneType::Normal,
        AllocFlags::WMARK_MIN | AllocFlags::CMA,
    )
}

// ----- indices and reports ---------------------------------------------

fn info(nr_free: &[(usize, u64)], order: u32) -> ContigPageInfo {
    let mut a = [0u64; NR_PAGE_ORDERS];
    for &(o, n) in nr_free {
        a[o] = n;
    }
    ContigPageInfo::from_nr_free(&a, order)
}

#[test]
fn fragmentation_index_matches_hand_computed_values() {
    // No free memory at all: 0 (not a fragmentation problem).
    assert_eq!(fragmentation_index_of(9, &info(&[], 9)), 0);
    // A suitable block is free: -1000.
    assert_eq!(fragmentation_index_of(3, &info(&[(0, 5), (4, 1)], 3)), -1000);
    // 1000 single pages, order 9: 1000 - (1000 + 1000000/512) / 1000 = 998.
    assert_eq!(fragmentation_index_of(9, &info(&[(0, 1000)], 9)), 998);
    // Ten order-3 blocks, order 4: 1000 - (1000 + 80000/16) / 10 = 400.
    assert_eq!(fragmentation_index_of(4, &info(&[(3, 10)], 4)), 400);
    // Beyond MAX_PAGE_ORDER: 0, as Linux's WARN path answers.
    assert_eq!(fragmentation_index_of(11, &info(&[(0, 1)], 11)), 0);
}

#[test]
fn unusable_index_matches_hand_computed_values() {
    // 4 order-0, 2 order-1, 1 order-3: 16 free pages.
    let f = [(0, 4), (1, 2), (3, 1)];
    let expect = [0, 250, 500, 500, 1000, 1000, 1000, 1000, 1000, 1000, 1000];
    for (order, &want) in expect.iter().enumerate() {
        assert_eq!(unusable_free_index(order as u32, &info(&f, order as u32)), want, "order {order}");
    }
    assert_eq!(unusable_free_index(0, &info(&[], 0)), 0);
}

#[test]
fn debugfs_reports_in_linux_format() {
    // Watermarks off (raw), so that every page can be allocated.
    let n = 2048;
    let pa = build_with(
        &[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (BASE, BASE + n), (0, 0)] }],
        &[(BASE, BASE + n)],
        &[(BASE, BASE + n)],
        &[0],
        AllocatorFlags::empty(),
        true,
    );
    let mut s = String::new();
    extfrag_index_show(&pa, &mut s).unwrap();
    assert_eq!(s, format!("Node 0, zone   Normal {}\n", "-1.000 ".repeat(NR_PAGE_ORDERS)));
    s.clear();
    unusable_index_show(&pa, &mut s).unwrap();
    assert_eq!(s, format!("Node 0, zone   Normal {}\n", "0.000 ".repeat(NR_PAGE_ORDERS)));

    let mut all = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
        all.push(p);
    }
    assert_eq!(pa.nr_free_pages(), 0);
    // Free 4 lone pages, two aligned pairs and one aligned octet.
    let free: Vec<u64> = [0, 2, 4, 6, 16, 17, 20, 21].into_iter().chain(32..40).collect();
    for &off in &free {
        // SAFETY: allocated above, ours, unused.
        unsafe { pa.free_pages(0, Pfn(BASE + off), 0) };
    }
    pa.drain_all_pages();
    let z = normal(&pa);
    assert_eq!((0..4).map(|o| z.nr_free(o)).collect::<Vec<_>>(), [4, 2, 0, 1]);
    s.clear();
    unusable_index_show(&pa, &mut s).unwrap();
    assert_eq!(s, "Node 0, zone   Normal 0.000 0.250 0.500 0.500 1.000 1.000 1.000 1.000 1.000 1.000 1.000 \n");
    s.clear();
    extfrag_index_show(&pa, &mut s).unwrap();
    // Orders 4..10: 1000 - (1000 + 16000 / 2^order) / 7.
    assert_eq!(
        s,
        "Node 0, zone   Normal -1.000 -1.000 -1.000 -1.000  0.715  0.786  0.822  0.840  0.849  0.853  0.855 \n"
    );
    assert_eq!(fragmentation_index(normal(&pa), 4), 715);
}

#[test]
fn extfrag_threshold_range() {
    assert_eq!(EXTFRAG_THRESHOLD_DEFAULT, 500);
    assert_eq!(set_extfrag_threshold(1001), Err(crate::Error::InvalidArgument));
    assert_eq!(extfrag_threshold(), EXTFRAG_THRESHOLD_DEFAULT);
}

// ----- deferral ----------------------------------------------------------

#[test]
fn deferral_doubles_up_to_64_and_resets_on_success() {
    let pa = machine(1024);
    let z = normal(&pa);
    assert!(!compaction_deferred(z, 9));
    for k in 1..=8u32 {
        defer_compaction(z, 9);
        let limit = 1u32 << k.min(COMPACT_MAX_DEFER_SHIFT);
        assert_eq!(z.compact_defer_shift(), k.min(COMPACT_MAX_DEFER_SHIFT));
        let mut skipped = 0;
        while compaction_deferred(z, 9) {
            skipped += 1;
            assert!(skipped < 1000);
        }
        assert_eq!(skipped, limit - 1, "after {k} failures");
        assert_eq!(z.compact_considered(), limit);
    }
    assert!(compaction_restarting(z, 9));
    compaction_defer_reset(z, 9, true);
    assert_eq!((z.compact_considered(), z.compact_defer_shift(), z.compact_order_failed()), (0, 0, 10));
    // Orders below the lowest failure are never deferred, nor counted.
    assert!(!compaction_deferred(z, 9), "below compact_order_failed");
    assert_eq!(z.compact_considered(), 0, "not counted below the failed order");
    defer_compaction(z, 5);
    assert_eq!((z.compact_defer_shift(), z.compact_order_failed()), (1, 5));
    assert!(!compaction_deferred(z, 4));
    assert!(compaction_deferred(z, 9));
    // A success that is only expected keeps the shift.
    compaction_defer_reset(z, 9, false);
    assert_eq!((z.compact_defer_shift(), z.compact_order_failed()), (1, 10));
}

// ----- scanners ------------------------------------------------------------

#[test]
fn migrate_scan_step_skips_buddies_and_compound_pages() {
    let pa = machine(4096);
    let map = pa.memmap();
    let comp = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 3).unwrap();
    let plain = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    let (blocks, _) = check(&pa);
    for b in blocks.iter().filter(|b| b.order > 0).take(8) {
        let v = map.valid(b.pfn).unwrap();
        assert_eq!(migrate_scan_step(map, v), ScanStep::Skip(1 << b.order), "buddy of order {}", b.order);
    }
    assert_eq!(migrate_scan_step(map, map.valid(comp.0).unwrap()), ScanStep::Skip(8));
    assert_eq!(migrate_scan_step(map, map.valid(comp.0 + 3).unwrap()), ScanStep::Skip(1));
    assert_eq!(migrate_scan_step(map, map.valid(plain.0).unwrap()), ScanStep::Candidate);
    // A wholly free pageblock is no target; an ISOLATE one neither.
    let free_block = blocks.iter().find(|b| b.order >= crate::config::PAGEBLOCK_ORDER).unwrap();
    assert!(!suitable_migration_target(map, map.valid(free_block.pfn).unwrap()));
    // SAFETY: ours.
    unsafe {
        pa.free_pages(0, comp, 3);
        pa.free_pages(0, plain, 0);
    }
}

#[test]
fn free_list_hands_out_and_takes_back_pages() {
    let mut l = FreeList::new_for_tests();
    assert!(l.push(100, 4));
    assert!(l.push(200, 1));
    assert_eq!(l.nr_pages(), 5);
    assert_eq!(l.pop(), Some(Pfn(200)));
    assert_eq!(l.pop(), Some(Pfn(100)));
    assert_eq!(l.nr_pages(), 3);
    let mut rest = Vec::new();
    l.drain(|p| rest.push(p.0));
    assert_eq!(rest, [101, 102, 103]);
    assert_eq!((l.nr_pages(), l.pop()), (0, None));
}

/// FakeMigrator, recording every move.
struct Recording<'a> {
    inner: FakeMigrator<'a>,
    moves: Mutex<Vec<(u64, u64)>>,
}

// SAFETY: every call is FakeMigrator's, whose promises hold; recording
// takes only this wrapper's own mutex.
unsafe impl Migrator for Recording<'_> {
    fn is_movable(&self, page: &Page) -> bool {
        self.inner.is_movable(page)
    }
    fn migrate_page(&self, src: Pfn, dst: Pfn) -> Result<(), MigrateError> {
        let r = self.inner.migrate_page(src, dst);
        if r.is_ok() {
            self.moves.lock().unwrap().push((src.0, dst.0));
        }
        r
    }
}

#[test]
fn scanners_stay_in_the_zone_never_cross_and_take_only_suitable_targets() {
    // DMA32 below, Normal above, the boundary inside a pageblock.
    let (lo, mid, hi) = (BASE, BASE + 4096 + 100, BASE + 12288);
    let pa = build(&[NodeSpec { nid: 0, zones: [(0, 0), (lo, mid), (mid, hi), (0, 0)] }], &[(lo, hi)], &[0]);
    let m = Recording { inner: FakeMigrator::new(&pa), moves: Mutex::new(Vec::new()) };
    let kept = fragment(&pa, &m.inner);
    let zone = normal(&pa);
    // The top pageblock becomes UNMOVABLE (its free pages with it), the
    // next one down ISOLATE: neither may give targets.
    let top = hi - PAGEBLOCK_NR_PAGES;
    let map = pa.memmap();
    zone.lock(map).move_freepages_block(map.valid(top).unwrap(), MigrateType::Movable, MigrateType::Unmovable);
    let isolated = top - PAGEBLOCK_NR_PAGES;
    pa.isolate_pageblock(Pfn(isolated)).unwrap();
    let free0 = pa.nr_free_pages();

    let mut cc = direct_cc(zone, COMPACT_ORDER_WHOLE_ZONE, MigrateMode::Sync);
    assert_eq!(compact_zone(&pa, 0, &m, &mut cc), CompactResult::Complete);
    assert!(cc.scanners_met());
    let moves = m.moves.lock().unwrap().clone();
    assert!(!moves.is_empty());
    assert_eq!(moves.len() as u64, cc.nr_migrated);
    let max_src = moves.iter().map(|m| m.0).max().unwrap();
    let min_dst = moves.iter().map(|m| m.1).min().unwrap();
    assert!(max_src / PAGEBLOCK_NR_PAGES < min_dst / PAGEBLOCK_NR_PAGES, "scanners crossed");
    for &(s, d) in &moves {
        assert!(zone.spans(s) && zone.spans(d), "left the zone: {s:#x} -> {d:#x}");
        assert!(d < isolated, "target {d:#x} in an unsuitable pageblock");
    }
    // The partial pageblock at the zone's start gives no targets either.
    assert!(moves.iter().all(|m| m.1 >= mid.next_multiple_of(PAGEBLOCK_NR_PAGES)));
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), free0, "free pages lost or gained");
    let mut after = user_pages(&m.inner, zone);
    after.extend(user_pages(&m.inner, pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Dma32)));
    assert_same_tags(&kept, &after);
    check(&pa);
    pa.unisolate_pageblock(Pfn(isolated), MigrateType::Movable).unwrap();
    release_all(&pa, &m.inner, &after);
}

// ----- whole runs --------------------------------------------------------

#[test]
fn fragmented_zone_gives_an_order_9_block_after_compaction() {
    let pa = machine(8192);
    let m = FakeMigrator::new(&pa);
    let zone = normal(&pa);
    let free_initial = pa.nr_free_pages();
    let kept = fragment(&pa, &m);
    let free0 = pa.nr_free_pages();
    assert!(free0 > 3000, "half the zone is free");
    assert!(pa.alloc_pages(0, MOVABLE_NOWARN, 9).is_err(), "no order-9 block before compaction");
    assert!(compaction_suitable(zone, 9, zone.min_wmark_pages(), ZoneType::Normal));
    assert!(fragmentation_index(zone, 9) > 900);

    let mut cc = direct_cc(zone, 9, MigrateMode::Sync);
    assert_eq!(compact_zone(&pa, 0, &m, &mut cc), CompactResult::Success);
    assert!(cc.nr_migrated > 0 && cc.nr_migrate_failed == 0);
    assert_eq!(m.moves(), cc.nr_migrated);
    assert_eq!(cc.nr_migrate_isolated, cc.nr_migrated);
    assert!(cc.total_migrate_scanned >= cc.nr_migrated && cc.total_free_scanned() >= cc.nr_migrated);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), free0);
    let after = user_pages(&m, zone);
    assert_same_tags(&kept, &after);
    check(&pa);

    let block = pa.alloc_pages(0, MOVABLE_NOWARN, 9).expect("order 9 after compaction");
    // SAFETY: ours.
    unsafe { pa.free_pages(0, block, 9) };
    release_all(&pa, &m, &after);
    assert_eq!(pa.nr_free_pages(), free_initial);
    check(&pa);
}

#[test]
fn a_pinned_page_stays_put() {
    let pa = machine(4096);
    let m = FakeMigrator::new(&pa);
    let zone = normal(&pa);
    let kept = fragment(&pa, &m);
    let (&pinned, &tag) = kept.iter().next().unwrap();
    m.pin(Pfn(pinned));
    let fail0 = vm_event(VmEvent::PgmigrateFail);
    let mut cc = direct_cc(zone, COMPACT_ORDER_WHOLE_ZONE, MigrateMode::Sync);
    assert_eq!(compact_zone(&pa, 0, &m, &mut cc), CompactResult::Complete);
    assert_eq!(m.tag(Pfn(pinned)), Some(tag), "the pinned page moved");
    // The pinned page failed; so may the last batch, for want of targets
    // once the scanners met.
    assert!(cc.nr_migrate_failed >= 1);
    assert!(vm_event(VmEvent::PgmigrateFail) > fail0);
    assert!(cc.nr_migrated > 0);
    let after = user_pages(&m, zone);
    assert_same_tags(&kept, &after);
    m.unpin(Pfn(pinned));
    check(&pa);
    release_all(&pa, &m, &after);
}

#[test]
fn compact_memory_meets_the_compaction_test_bar() {
    let pa = machine(16384);
    let m = FakeMigrator::new(&pa);
    let zone = normal(&pa);
    let kept = fragment(&pa, &m);
    let free = pa.nr_free_pages();
    compact_memory(&pa, 0, &m);
    assert_same_tags(&kept, &user_pages(&m, zone));
    // Linux's compaction_test: at least a third of 80% of free memory
    // must come back as huge pages.
    let mut blocks = Vec::new();
    while let Ok(b) = pa.alloc_pages(0, MOVABLE_NOWARN, 9) {
        blocks.push(b);
    }
    let got = blocks.len() as u64 * 512;
    assert!(got * 30 >= free * 8, "{got} pages as order-9 blocks of {free} free");
    for b in blocks {
        // SAFETY: ours.
        unsafe { pa.free_pages(0, b, 9) };
    }
    let after = user_pages(&m, zone);
    check(&pa);
    release_all(&pa, &m, &after);
}

#[test]
fn zone_without_room_for_copies_is_not_suitable() {
    let pa = machine(4096);
    let zone = normal(&pa);
    let mut all = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, MOVABLE_NOWARN, 0) {
        all.push(p);
    }
    assert!(!compaction_suitable(zone, 9, zone.min_wmark_pages(), ZoneType::Normal));
    assert_eq!(
        compaction_suit_allocation_order(zone, 9, ZoneType::Normal, AllocFlags::WMARK_MIN | AllocFlags::CMA),
        CompactResult::Skipped
    );
    let mut cc = direct_cc(zone, 9, MigrateMode::Sync);
    let m = FakeMigrator::new(&pa);
    assert_eq!(compact_zone(&pa, 0, &m, &mut cc), CompactResult::Skipped);
    assert_eq!(m.moves(), 0);
    for p in all {
        // SAFETY: ours.
        unsafe { pa.free_pages(0, p, 0) };
    }
}

// ----- the slow path -------------------------------------------------------

#[test]
fn slow_path_compacts_directly_for_a_costly_order() {
    let pa: &'static PageAllocator = Box::leak(Box::new(machine(8192)));
    let m: &'static FakeMigrator<'static> = Box::leak(Box::new(FakeMigrator::new(pa)));
    let kept = fragment(pa, m);
    let zone = normal(pa);
    // Without a migrator there is no compaction.
    assert!(pa.alloc_pages(0, MOVABLE_NOWARN, 9).is_err());
    assert_eq!(m.moves(), 0);
    pa.set_migrator(m);
    // Callers that cannot block never compact.
    assert!(pa.alloc_pages(0, Gfp::ATOMIC | Gfp::NOWARN, 9).is_err());
    assert_eq!(m.moves(), 0);
    defer_compaction(zone, 9);
    let (stall0, success0) = (vm_event(VmEvent::CompactStall), vm_event(VmEvent::CompactSuccess));
    // The first attempt is deferred (shift 1: one skipped), the sync pass
    // after the drain compacts.
    let block = pa.alloc_pages(0, MOVABLE_NOWARN, 9).expect("direct compaction gives an order-9 block");
    assert!(m.moves() > 0);
    assert!(vm_event(VmEvent::CompactStall) >= stall0 + 2, "both passes stalled");
    assert!(vm_event(VmEvent::CompactSuccess) > success0);
    assert_eq!((zone.compact_defer_shift(), zone.compact_considered()), (0, 0), "deferral reset");
    assert!(zone.compact_order_failed() > 9);
    // SAFETY: ours.
    unsafe { pa.free_pages(0, block, 9) };
    let after = user_pages(m, zone);
    assert_same_tags(&kept, &after);
    check(pa);
    release_all(pa, m, &after);
}

#[test]
fn debug_pagealloc_maps_targets_once_and_init_on_alloc_zeroes_them() {
    let n = 4096;
    let pa = build_with(
        &[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (BASE, BASE + n), (0, 0)] }],
        &[(BASE, BASE + n)],
        &[(BASE, BASE + n)],
        &[0],
        AllocatorFlags::DEBUG_PAGEALLOC | AllocatorFlags::INIT_ON_ALLOC,
        false,
    );
    let m = FakeMigrator::new(&pa);
    let kept = fragment(&pa, &m);
    take_zeroed();
    // The fake linear map panics on mapping a mapped frame, unmapping an
    // unmapped one, or zeroing an unmapped one.
    compact_memory(&pa, 0, &m);
    let after = user_pages(&m, normal(&pa));
    assert_same_tags(&kept, &after);
    assert!(m.moves() > 0);
    let zeroed: BTreeSet<u64> = take_zeroed().iter().flat_map(|&(p, nr)| p..p + nr).collect();
    for p in after.keys().filter(|p| !kept.contains_key(p)) {
        assert!(zeroed.contains(p), "target {p:#x} not zeroed for init_on_alloc");
    }
    let (blocks, pcp) = check(&pa);
    let free: BTreeSet<u64> = blocks
        .iter()
        .map(|b| (b.pfn, b.order))
        .chain(pcp.iter().copied())
        .flat_map(|(p, o)| p..p + (1u64 << o))
        .collect();
    let unmapped: BTreeSet<u64> = unmapped_frames().into_iter().collect();
    assert_eq!(free, unmapped, "free pages and unmapped frames differ");
    release_all(&pa, &m, &after);
}

#[test]
fn random_fragmentation_pins_and_contention_lose_nothing() {
    let mut rng = Rng(0x5eed_c0de_2026);
    for round in 0..10 {
        // Pins everywhere keep any large block from forming: only half the
        // rounds have them.
        let pin_odds = if round % 2 == 0 { 40 } else { u64::MAX };
        let n = 4096 + 512 * rng.below(5);
        let pa = machine(n);
        let m = FakeMigrator::new(&pa);
        let zone = normal(&pa);
        let free_initial = pa.nr_free_pages();
        let mut pages = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, MOVABLE_NOWARN, 0) {
            m.adopt(p, pages.len() as u64 + 1);
            pages.push(p);
        }
        let keep_pct = 10 + rng.below(80);
        let mut kept = BTreeMap::new();
        for p in pages {
            if rng.below(100) < keep_pct {
                kept.insert(p.0, m.tag(p).unwrap());
            } else {
                m.release(&pa, p);
            }
        }
        pa.drain_all_pages();
        let mut pinned = Vec::new();
        for &p in kept.keys() {
            match rng.below(pin_odds) {
                0 if pin_odds != u64::MAX => {
                    m.pin(Pfn(p));
                    pinned.push(p);
                }
                1 | 2 => m.contend(Pfn(p), rng.below(15) as u32),
                _ => {}
            }
        }
        let free0 = pa.nr_free_pages();
        let mode = rng.pick(&[MigrateMode::Async, MigrateMode::Sync]);
        let order = rng.pick(&[COMPACT_ORDER_WHOLE_ZONE, 4, 9, 10]);
        let mut cc = direct_cc(zone, order, mode);
        let r = compact_zone(&pa, 0, &m, &mut cc);
        let ctx = format!("round {round}: {n} pages, keep {keep_pct}%, {mode:?}, order {order}: {r:?}");
        if order == COMPACT_ORDER_WHOLE_ZONE {
            assert_eq!(r, CompactResult::Complete, "{ctx}");
        }
        if r == CompactResult::Success {
            assert!((order as u32..=10).any(|o| zone.nr_free(o) > 0), "{ctx}");
        }
        assert_eq!(cc.nr_migrated + cc.nr_migrate_failed, cc.nr_migrate_isolated, "{ctx}");
        assert_eq!(cc.nr_migrated, m.moves(), "{ctx}");
        check(&pa);
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), free0, "{ctx}");
        let after = user_pages(&m, zone);
        assert_same_tags(&kept, &after);
        for p in &pinned {
            assert_eq!(m.tag(Pfn(*p)), Some(kept[p]), "{ctx}: pinned page moved");
            m.unpin(Pfn(*p));
        }
        release_all(&pa, &m, &after);
        assert_eq!(pa.nr_free_pages(), free_initial, "{ctx}");
    }
}

#[test]
fn costly_noretry_allocation_gives_up_when_compaction_is_deferred() {
    let pa: &'static PageAllocator = Box::leak(Box::new(machine(8192)));
    let m: &'static FakeMigrator<'static> = Box::leak(Box::new(FakeMigrator::new(pa)));
    let kept = fragment(pa, m);
    let zone = normal(pa);
    pa.set_migrator(m);
    // Shift 1: the first attempt is put off, the next one would run.
    defer_compaction(zone, 9);
    assert!(pa.alloc_pages(0, MOVABLE_NOWARN | Gfp::NORETRY, 9).is_err());
    assert_eq!(m.moves(), 0, "a NORETRY costly request compacted after a deferral");
    // Without NORETRY the second pass runs and succeeds.
    let block = pa.alloc_pages(0, MOVABLE_NOWARN, 9).expect("compaction after the deferral");
    assert!(m.moves() > 0);
    // SAFETY: ours.
    unsafe { pa.free_pages(0, block, 9) };
    let after = user_pages(m, zone);
    assert_same_tags(&kept, &after);
    release_all(pa, m, &after);
}

/// FakeMigrator, noting the zone's free pages at every move (each target
/// has been taken off the free lists by then).
struct WatermarkWatch<'a> {
    inner: FakeMigrator<'a>,
    zone: &'a Zone,
    lowest_free: Mutex<u64>,
}

// SAFETY: every call is FakeMigrator's, whose promises hold; the watch
// reads an atomic counter and takes only its own mutex.
unsafe impl Migrator for WatermarkWatch<'_> {
    fn is_movable(&self, page: &Page) -> bool {
        self.inner.is_movable(page)
    }
    fn migrate_page(&self, src: Pfn, dst: Pfn) -> Result<(), MigrateError> {
        let mut low = self.lowest_free.lock().unwrap();
        *low = (*low).min(self.zone.free_pages());
        self.inner.migrate_page(src, dst)
    }
}

#[test]
fn free_scanner_keeps_the_zone_above_its_min_watermark() {
    let pa = machine(8192);
    let zone = normal(&pa);
    let m = WatermarkWatch { inner: FakeMigrator::new(&pa), zone, lowest_free: Mutex::new(u64::MAX) };
    let mut kept = fragment(&pa, &m.inner);
    let min = zone.min_wmark_pages();
    // Use up the free memory down to just above min.
    let mut tag = 1 << 40;
    while zone.free_pages() > min + 40 {
        let Ok(p) = pa.alloc_pages(0, MOVABLE_NOWARN, 0) else { break };
        m.inner.adopt(p, tag);
        kept.insert(p.0, tag);
        tag += 1;
    }
    pa.drain_all_pages();
    let free0 = pa.nr_free_pages();
    assert!(free0 > min && free0 < min + 200, "free {free0}, min {min}");
    let mut cc = direct_cc(zone, COMPACT_ORDER_WHOLE_ZONE, MigrateMode::Sync);
    let r = compact_zone(&pa, 0, &m, &mut cc);
    let lowest = *m.lowest_free.lock().unwrap();
    assert!(m.inner.moves() > 0, "{r:?}");
    assert!(lowest > min, "the free scanner took the zone to {lowest}, min {min}");
    // It stopped for the watermark, with the scanners apart.
    assert_eq!(r, CompactResult::Contended);
    assert!(cc.nr_free_isolated() < free0 - min);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), free0);
    let after = user_pages(&m.inner, zone);
    assert_same_tags(&kept, &after);
    check(&pa);
    release_all(&pa, &m.inner, &after);
}
