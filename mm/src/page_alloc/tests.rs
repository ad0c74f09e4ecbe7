//! Host tests of the page allocator.

use super::*;
use crate::addr::{PAGE_SIZE, Pfn};
use crate::config::{MAX_PAGE_ORDER, NUMA_NO_NODE, NodeId, PAGEBLOCK_NR_PAGES};
use crate::error::Error;
use crate::gfp::{Gfp, gfp_zone};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::{MemMap, PageFlags, TAIL_MAPPING};
use crate::test_support::PageAllocator;
use crate::test_support::*;
use crate::zone::PAGEBLOCK_ORDER;
use crate::zone::{AllocFlags, Zone};
use std::collections::BTreeMap;

const SEC: u64 = crate::page::PAGES_PER_SECTION;
/// Base PFN of the test memory: 1 GiB, as on QEMU virt.
const B: u64 = 0x40000;

fn one_zone(pages: u64) -> PageAllocator {
    build(
        &[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + pages), (B + pages, B + pages)] }],
        &[(B, B + pages)],
        &[0, 0],
    )
}

#[test]
fn boot_frees_in_max_order_blocks_and_counts_managed() {
    let pa = one_zone(8192 + 512 + 3);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    assert_eq!(zone.managed_pages(), 8192 + 512 + 3);
    assert_eq!(zone.present_pages(), 8192 + 512 + 3);
    assert_eq!(zone.free_pages(), 8192 + 512 + 3);
    let snap = zone.free_snapshot();
    assert_eq!(snap.nr_free[10], 8);
    assert_eq!(snap.nr_free[9], 1);
    assert_eq!(snap.nr_free[1], 1);
    assert_eq!(snap.nr_free[0], 1);
    check(&pa);
    let page = pa.memmap().pfn_to_page(Pfn(B + 5)).unwrap();
    assert!(!page.test_flags(PageFlags::RESERVED));
    // Outside the memory: still reserved.
    let hole = pa.memmap().pfn_to_page(Pfn(B + 8192 + 512 + 3)).unwrap();
    assert!(hole.test_flags(PageFlags::RESERVED));
}

#[test]
fn free_bootmem_twice_is_harmless() {
    let pa = one_zone(4096);
    assert_eq!(pa.free_bootmem_range(Pfn(B), Pfn(B + 4096)), 0);
    assert!(take_log().iter().any(|l| l.contains("is not reserved")));
    assert_eq!(pa.nr_free_pages(), 4096);
    check(&pa);
}

#[test]
fn split_and_merge_at_every_order() {
    let pa = one_zone(4096);
    let start = buddy_counts(&pa);
    for order in 0..=MAX_PAGE_ORDER {
        let pfn = pa.alloc_pages(0, Gfp::KERNEL, order).unwrap();
        assert_eq!(pfn.0 % (1 << order), 0, "order {order} block misaligned");
        let page = pa.memmap().pfn_to_page(pfn).unwrap();
        assert_eq!(page.page_ref_count(), 1);
        check(&pa);
        pa.test_free_pages(0, pfn, order);
        pa.drain_all_pages();
        check(&pa);
        assert_eq!(buddy_counts(&pa), start, "order {order}");
    }
}

#[test]
fn every_block_is_aligned_and_merging_stops_at_max_order() {
    let pa = one_zone(4 * 1024);
    let mut got = Vec::new();
    while let Ok(pfn) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 2) {
        assert_eq!(pfn.0 % 4, 0);
        got.push(pfn);
    }
    assert!(got.len() > 900);
    for pfn in got {
        pa.test_free_pages(1, pfn, 2);
    }
    pa.drain_all_pages();
    let (blocks, _) = check(&pa);
    assert!(blocks.iter().all(|b| b.order == MAX_PAGE_ORDER));
    assert_eq!(blocks.len(), 4);
}

#[test]
fn merging_never_crosses_zones_or_nodes() {
    // DMA | DMA32 | Normal (node 0) | Normal (node 1), all adjacent, the
    // boundaries inside MAX_ORDER blocks.
    let nodes = [
        NodeSpec { nid: 0, zones: [(B, B + 1100), (B + 1100, B + 2600), (B + 2600, B + 4700), (0, 0)] },
        NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 4700, B + 8192), (0, 0)] },
    ];
    let pa = build(&nodes, &[(B, B + 8192)], &[0, 1]);
    let (blocks, _) = check(&pa);
    for b in &blocks {
        let zone = pa.node_data(NodeId(b.nid)).unwrap().zone(b.zone);
        assert!(zone.spans(b.pfn) && zone.spans(b.pfn + (1 << b.order) - 1));
    }
    // Exhaust everything, free everything: still no block crosses.
    let mut got = Vec::new();
    for cpu in [0, 1] {
        for gfp in [Gfp::KERNEL | Gfp::DMA, Gfp::KERNEL | Gfp::DMA32, Gfp::KERNEL] {
            while let Ok(p) = pa.alloc_pages(cpu, gfp | Gfp::NOWARN | Gfp::HIGH, 0) {
                got.push(p);
            }
        }
    }
    for p in got {
        pa.test_free_pages(0, p, 0);
    }
    pa.drain_all_pages();
    let (after, _) = check(&pa);
    let shape = |b: &[FreeBlock]| {
        let mut v: Vec<_> = b.iter().map(|b| (b.pfn, b.order, b.nid, b.zone)).collect();
        v.sort();
        v
    };
    assert_eq!(shape(&after), shape(&blocks));
}

#[test]
fn gfp_zone_modifiers_are_honoured() {
    let nodes = [NodeSpec { nid: 0, zones: [(B, B + 2048), (B + 2048, B + 4096), (B + 4096, B + 8192), (0, 0)] }];
    let pa = build(&nodes, &[(B, B + 8192)], &[0]);
    let zone_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().zone_type();
    assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()), ZoneType::Normal);
    assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA32, 0).unwrap()), ZoneType::Dma32);
    assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA, 0).unwrap()), ZoneType::Dma);
    assert_eq!(zone_of(pa.alloc_pages(0, Gfp::DMA | Gfp::DMA32, 3).unwrap()), ZoneType::Dma);
    // With Normal gone, GFP_KERNEL falls back to DMA32 then DMA, never the other way.
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
        if zone_of(p) != ZoneType::Normal {
            assert_eq!(zone_of(p), ZoneType::Dma32);
            break;
        }
    }
    // DMA32 requests never see Normal.
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA32 | Gfp::NOWARN, 0) {
        assert!(zone_of(p) <= ZoneType::Dma32);
    }
    check(&pa);
}

#[test]
fn highuser_movable_prefers_zone_movable() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (B + 4096, B + 8192)] }];
    let pa = build(&nodes, &[(B, B + 8192)], &[0]);
    let zone_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().zone_type();
    assert_eq!(zone_of(pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).unwrap()), ZoneType::Movable);
    assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL | Gfp::MOVABLE, 0).unwrap()), ZoneType::Normal);
    assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()), ZoneType::Normal);
    // Movable's min watermark is capped: clamp(4096 / 1024, 32, 128).
    let movable = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Movable);
    assert_eq!(movable.min_wmark_pages(), 32);
}

fn numa4() -> PageAllocator {
    // Four nodes of 2048 pages; CPUs on nodes 0 and 2 only.
    let nodes: Vec<NodeSpec> = (0..4)
        .map(|n| NodeSpec { nid: n, zones: [(0, 0), (0, 0), (B + n as u64 * 2048, B + (n as u64 + 1) * 2048), (0, 0)] })
        .collect();
    let map = MemMap::new_arena(&[(B, B + 8192)]);
    let mut pa = PageAllocator::new(map);
    pa.set_cpus(&[NodeId(0), NodeId(2)]).unwrap();
    // 0-1 and 2-3 are close pairs; across pairs 30, except 0-3 at 25.
    let d = [[10, 15, 30, 25], [15, 10, 30, 30], [30, 30, 10, 15], [25, 30, 15, 10]];
    for i in 0..4 {
        for j in 0..4 {
            pa.set_node_distance(NodeId(i), NodeId(j), d[i as usize][j as usize]).unwrap();
        }
    }
    for n in &nodes {
        let zones = n.zones.map(|(s, e)| (Pfn(s), Pfn(e)));
        pa.add_node(NodeId(n.nid), storage(), &zones, &[(Pfn(B), Pfn(B + 8192))]).unwrap();
    }
    pa.memmap_init();
    pa.build_all_zonelists();
    pa.free_bootmem_range(Pfn(B), Pfn(B + 8192));
    pa.init_per_zone_wmark_min();
    pa.setup_pcp();
    take_log();
    pa
}

#[test]
fn zonelists_follow_node_distance() {
    let pa = numa4();
    let order = |nid: i32| -> Vec<u8> {
        pa.node_data(NodeId(nid)).unwrap().zonelist(ZONELIST_FALLBACK).zones().iter().map(|z| z.nid).collect()
    };
    assert_eq!(order(0), [0, 1, 3, 2]);
    // Node 1: 3 (30, headless) beats 2 (30 + 1 for its CPU).
    assert_eq!(order(1), [1, 0, 3, 2]);
    // Node 2: 1 (30 + 1 below) beats 0 (30 + 1 below + 1 CPU).
    assert_eq!(order(2), [2, 3, 1, 0]);
    assert_eq!(order(3), [3, 2, 0, 1]);
    let thisnode = pa.node_data(NodeId(2)).unwrap().zonelist(ZONELIST_NOFALLBACK).zones().to_vec();
    assert_eq!(thisnode, [ZoneRef { nid: 2, zone: ZoneType::Normal }]);
    assert_eq!(pa.numa_mem_id(1), NodeId(2));
}

#[test]
fn equal_distances_round_robin_like_linux() {
    // Three equidistant nodes, no CPUs on 1 and 2: node 0 prefers the
    // headless higher node 1; node 1's list then prefers 2 over 0 (below
    // it), and node 2's goes 0 then 1 by node_load.
    let nodes: Vec<NodeSpec> = (0..3)
        .map(|n| NodeSpec { nid: n, zones: [(0, 0), (0, 0), (B + n as u64 * 1024, B + (n as u64 + 1) * 1024), (0, 0)] })
        .collect();
    let pa = build(&nodes, &[(B, B + 3072)], &[0]);
    let order = |nid: i32| -> Vec<u8> {
        pa.node_data(NodeId(nid)).unwrap().zonelist(ZONELIST_FALLBACK).zones().iter().map(|z| z.nid).collect()
    };
    assert_eq!(order(0), [0, 1, 2]);
    assert_eq!(order(1), [1, 2, 0]);
    assert_eq!(order(2), [2, 1, 0]);
}

#[test]
fn alloc_pages_node_and_thisnode_placement() {
    let pa = numa4();
    let node_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().node();
    assert_eq!(node_of(pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()), NodeId(0));
    assert_eq!(node_of(pa.alloc_pages(1, Gfp::KERNEL, 0).unwrap()), NodeId(2));
    for nid in 0..4 {
        let p = pa.alloc_pages_node(0, NodeId(nid), Gfp::KERNEL | Gfp::THISNODE, 1).unwrap();
        assert_eq!(node_of(p), NodeId(nid));
    }
    assert_eq!(node_of(pa.alloc_pages_node(1, NUMA_NO_NODE, Gfp::KERNEL, 0).unwrap()), NodeId(2));
    assert_eq!(pa.alloc_pages_node(0, NodeId(7), Gfp::KERNEL, 0), Err(Error::InvalidArgument));
    // Exhaust node 3 with THISNODE: no fallback, a clean NoMemory.
    let mut n3 = 0;
    while let Ok(p) = pa.alloc_pages_node(0, NodeId(3), Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN, 0) {
        assert_eq!(node_of(p), NodeId(3));
        n3 += 1;
    }
    assert!(n3 > 1900, "{n3}");
    // Without THISNODE, node 3's requests now land on 2 (distance 15).
    assert_eq!(node_of(pa.alloc_pages_node(0, NodeId(3), Gfp::KERNEL, 0).unwrap()), NodeId(2));
    check(&pa);
}

#[test]
fn fallback_order_by_distance_when_nodes_fill() {
    let pa = numa4();
    let node_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().node().0;
    let mut seen = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
        let n = node_of(p);
        if seen.last() != Some(&n) {
            seen.push(n);
        }
    }
    // Each node down to its low watermark first, then again down to min.
    assert_eq!(seen, [0, 1, 3, 2, 0, 1, 3, 2]);
    check(&pa);
}

#[test]
fn migratetype_fallback_claims_whole_pageblocks() {
    // 16 MiB: 8 pageblocks, all Movable after boot.
    let pa = one_zone(4096);
    let blocks =
        |pa: &PageAllocator, mt| (0..8).filter(|i| pa.pageblock_migratetype(Pfn(B + i * 512)) == Some(mt)).count();
    assert_eq!(blocks(&pa, MigrateType::Movable), 8);
    // An unmovable order-0 allocation (ALLOC_NOFRAGMENT: whole
    // pageblocks only) takes a free MAX_ORDER block and with it both its
    // pageblocks.
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    assert_eq!(blocks(&pa, MigrateType::Unmovable), 2);
    assert_eq!(pa.pageblock_migratetype(p), Some(MigrateType::Unmovable));
    // Further unmovable allocations stay in that pageblock.
    let more: Vec<Pfn> = (0..100).map(|_| pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()).collect();
    assert!(more.iter().all(|&q| pa.pageblock_migratetype(q) == Some(MigrateType::Unmovable)));
    assert_eq!(blocks(&pa, MigrateType::Unmovable), 2);
    // Reclaimable falls back to Unmovable first (the fallback table) but
    // claims its own pageblock from the largest free block: Movable's.
    let r = pa.alloc_pages(0, Gfp::KERNEL | Gfp::RECLAIMABLE, 0).unwrap();
    assert_eq!(pa.pageblock_migratetype(r), Some(MigrateType::Reclaimable));
    check(&pa);
}

#[test]
fn movable_steals_without_claiming_a_mostly_used_block() {
    // One pageblock zone (512 pages) is too small for grouping; use 8 of them.
    let pa = one_zone(4096);
    // Make every pageblock Unmovable by exhausting with unmovable pages.
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::ATOMIC, 0) {
        got.push(p);
    }
    assert!((0..8).all(|i| pa.pageblock_migratetype(Pfn(B + i * 512)) == Some(MigrateType::Unmovable)));
    // Free 10 pages scattered in the first block, then ask for a movable page:
    // below half a pageblock free, so the page is stolen, the block stays Unmovable.
    pa.drain_all_pages();
    let first_block: Vec<Pfn> = got.iter().copied().filter(|p| p.0 < B + 512).take(20).step_by(2).collect();
    for &p in &first_block {
        pa.test_free_pages(0, p, 0);
    }
    pa.drain_all_pages();
    let m = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::HIGH, 0).unwrap();
    assert!(m.0 < B + 512);
    assert_eq!(pa.pageblock_migratetype(m), Some(MigrateType::Unmovable));
    check(&pa);
}

#[test]
fn order_above_half_a_pageblock_claims_even_for_movable() {
    let pa = one_zone(4096);
    // No reserves, so that all eight pageblocks can be taken.
    pa.set_min_free_kbytes(0);
    // Turn all pageblocks Unmovable with high-order unmovable allocations, then free one block.
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, PAGEBLOCK_ORDER) {
        got.push(p);
    }
    assert_eq!(got.len(), 8);
    pa.test_free_pages(0, got[3], PAGEBLOCK_ORDER);
    assert_eq!(pa.pageblock_migratetype(got[3]), Some(MigrateType::Unmovable));
    let p = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 5).unwrap();
    assert_eq!(p.0 & !511, got[3].0);
    assert_eq!(pa.pageblock_migratetype(p), Some(MigrateType::Movable));
    check(&pa);
}

#[test]
fn watermark_formulas_match_hand_computed_linux_values() {
    // One node: DMA 16 MiB (4096 pages), DMA32 240 MiB (61440 pages), Normal 768 MiB (196608 pages).
    let nodes = [NodeSpec { nid: 0, zones: [(B, B + 4096), (B + 4096, B + 65536), (B + 65536, B + 262_144), (0, 0)] }];
    let pa = build(&nodes, &[(B, B + 262_144)], &[0, 0, 0, 0]);
    // lowmem = 262144 pages = 1048576 kB; int_sqrt(16777216) = 4096.
    assert_eq!(pa.min_free_kbytes(), 4096);
    let pgdat = pa.node_data(NodeId(0)).unwrap();
    let wm = |zt| {
        let z = pgdat.zone(zt);
        (z.min_wmark_pages(), z.low_wmark_pages(), z.high_wmark_pages())
    };
    // pages_min = 1024. DMA: 1024 * 4096 / 262144 = 16; step = max(4, 4096*10/10000 = 4) = 4.
    assert_eq!(wm(ZoneType::Dma), (16, 20, 24));
    // DMA32: 1024 * 61440 / 262144 = 240; step = max(60, 61) = 61.
    assert_eq!(wm(ZoneType::Dma32), (240, 301, 362));
    // Normal: 768; step = max(192, 196) = 196.
    assert_eq!(wm(ZoneType::Normal), (768, 964, 1160));
    // lowmem_reserve: DMA: (61440 / 256, 258048 / 256, same) = 240, 1008, 1008.
    let dma = pgdat.zone(ZoneType::Dma);
    let r = |z: &Zone| ZoneType::ALL.map(|t| z.lowmem_reserve(t));
    assert_eq!(r(dma), [0, 240, 1008, 1008]);
    assert_eq!(r(pgdat.zone(ZoneType::Dma32)), [0, 0, 768, 768]);
    assert_eq!(r(pgdat.zone(ZoneType::Normal)), [0, 0, 0, 0]);
    // totalreserve = (1008 + 24) + (768 + 362) + (0 + 1160).
    assert_eq!(pa.totalreserve_pages(), 1032 + 1130 + 1160);
    // The 4:5:6 relation when min/4 dominates the scale factor.
    pa.set_min_free_kbytes(65_536);
    let (min, low, high) = wm(ZoneType::Normal);
    assert_eq!((min, low, high), (12_288, 15_360, 18_432));
    assert_eq!((min / 4 * 5, min / 4 * 6), (low, high));
    // pcp: batch 63 for a 768 MiB zone; high = low / 4 CPUs.
    let normal = pgdat.zone(ZoneType::Normal);
    // high = max(low / 4 CPUs, 4 * batch) = max(241, 252).
    assert_eq!(normal.pcp_stats(0), crate::pcp::PcpStats { count: 0, high: 252, batch: 63 });
    // DMA: 4096 managed -> batch max(1, 0) = 1, high max(20 / 4, 4) = 5.
    assert_eq!(dma.pcp_stats(3), crate::pcp::PcpStats { count: 0, high: 5, batch: 1 });
}

#[test]
fn min_free_kbytes_is_clamped_and_user_value_wins() {
    let pa = one_zone(4096);
    // 16 MiB: int_sqrt(16384 * 16) = 512.
    assert_eq!(pa.min_free_kbytes(), 512);
    pa.set_min_free_kbytes(2000);
    pa.calculate_min_free_kbytes();
    assert_eq!(pa.min_free_kbytes(), 2000);
    assert!(take_log().iter().any(|l| l.contains("user defined value 2000 is preferred")));
    let tiny = one_zone(512);
    // int_sqrt(2048 * 16) = 181, above the 128 floor.
    assert_eq!(tiny.min_free_kbytes(), 181);
    assert!(tiny.page_group_by_mobility_disabled());
}

#[test]
fn low_watermark_fails_fast_path_min_serves_atomic() {
    let pa = one_zone(4096);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    let (min, low) = (zone.min_wmark_pages(), zone.low_wmark_pages());
    // 512 kB -> pages_min 128; step = max(32, 4) = 32.
    assert_eq!((min, low), (128, 160));
    let mut got = Vec::new();
    // GFP_KERNEL: fast path stops at low, the slow path at min.
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
        got.push(p);
    }
    pa.drain_all_pages();
    assert_eq!(zone.free_pages(), min, "stops once free <= min");
    // __GFP_HIGH may use half of min.
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::HIGH | Gfp::NOWARN, 0) {
        got.push(p);
    }
    pa.drain_all_pages();
    assert_eq!(zone.free_pages(), min / 2);
    // GFP_ATOMIC (HIGH and non-blocking): 62.5% of min, so min/2 - min/8 remains.
    while let Ok(p) = pa.alloc_pages(0, Gfp::ATOMIC | Gfp::NOWARN, 0) {
        got.push(p);
    }
    pa.drain_all_pages();
    assert_eq!(zone.free_pages(), min - min / 2 - (min - min / 2) / 4);
    // GFP_NOWAIT gets no reserves: nothing more.
    assert_eq!(pa.alloc_pages(0, Gfp::NOWAIT, 0), Err(Error::NoMemory));
    assert!(take_log().is_empty(), "GFP_NOWAIT does not warn");
    // __GFP_MEMALLOC ignores the watermarks, unless __GFP_NOMEMALLOC.
    assert_eq!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::MEMALLOC | Gfp::NOMEMALLOC | Gfp::NOWARN, 0), Err(Error::NoMemory));
    got.push(pa.alloc_pages(0, Gfp::KERNEL | Gfp::MEMALLOC, 0).unwrap());
    for p in got {
        pa.test_free_pages(0, p, 0);
    }
    pa.drain_all_pages();
    assert_eq!(zone.free_pages(), 4096);
    check(&pa);
}

#[test]
fn fast_path_uses_low_watermark_exactly() {
    let pa = one_zone(4096);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    let low = zone.low_wmark_pages();
    assert!(zone.zone_watermark_ok(0, low, ZoneType::Normal, AllocFlags::WMARK_LOW));
    assert!(!zone.zone_watermark_ok_free(0, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64));
    assert!(zone.zone_watermark_ok_free(0, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64 + 1));
    // order 3 discounts 7 pages.
    assert!(!zone.zone_watermark_ok_free(3, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64 + 7));
    assert!(zone.zone_watermark_ok_free(3, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64 + 8));
    // ALLOC_MIN_RESERVE halves, with NON_BLOCK a further quarter off.
    let flags = AllocFlags::MIN_RESERVE | AllocFlags::NON_BLOCK;
    // 100 - 50 = 50, 50 - 12 = 38: needs more than 38 free.
    assert!(zone.zone_watermark_ok_free(0, 100, ZoneType::Normal, flags, 39));
    assert!(!zone.zone_watermark_ok_free(0, 100, ZoneType::Normal, flags, 38));
}

#[test]
fn lowmem_reserve_protects_dma_from_normal_requests() {
    let nodes = [NodeSpec { nid: 0, zones: [(B, B + 4096), (0, 0), (B + 4096, B + 8192 + 4096), (0, 0)] }];
    let pa = build(&nodes, &[(B, B + 12_288)], &[0]);
    let dma = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Dma);
    assert_eq!(dma.lowmem_reserve(ZoneType::Normal), 8192 / 256);
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
        got.push(p);
    }
    pa.drain_all_pages();
    // Normal requests leave DMA's min plus the reserve alone.
    assert_eq!(dma.free_pages(), dma.min_wmark_pages() + dma.lowmem_reserve(ZoneType::Normal));
    // DMA requests may go further.
    assert!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA, 0).is_ok());
}

#[test]
fn failure_warns_with_linux_format_and_show_mem() {
    let pa = one_zone(4096);
    assert_eq!(pa.alloc_pages(2, Gfp::KERNEL, MAX_PAGE_ORDER + 1), Err(Error::InvalidArgument));
    take_log();
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, MAX_PAGE_ORDER) {
        got.push(p);
    }
    assert!(take_log().is_empty());
    assert_eq!(pa.alloc_pages(1, Gfp::KERNEL, MAX_PAGE_ORDER), Err(Error::NoMemory));
    let log = take_log();
    assert_eq!(log[0], "swapper/1: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null)");
    assert_eq!(log[1], "Mem-Info:");
    assert!(log.iter().any(|l| l.starts_with("Node 0 Normal free:") && l.contains(" min:512kB low:640kB")));
    assert!(log.iter().any(|l| l.starts_with("Node 0 Normal: ") && l.ends_with(" = 4096kB")), "{log:#?}");
    assert!(log.iter().any(|l| l == "4096 pages RAM"));
}

#[test]
fn nofail_fails_cleanly_after_bounded_retries() {
    let pa = one_zone(4096);
    while pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, MAX_PAGE_ORDER).is_ok() {}
    take_log();
    assert_eq!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOFAIL, MAX_PAGE_ORDER), Err(Error::NoMemory));
    let log = take_log();
    assert!(log[0].contains("__GFP_NOFAIL allocation of order:10 failed after 16 retries"));
    assert!(log[1].contains("page allocation failure: order:10, mode:0x8cc0(GFP_KERNEL|__GFP_NOFAIL)"));
    // NOFAIL digs into half of min, which a plain request may not.
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    let before = zone.free_pages() + zone.pcp_count();
    assert!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOFAIL, 0).is_ok() || before <= zone.min_wmark_pages() / 2);
}

#[test]
fn bad_page_at_free_is_reported_and_leaked() {
    let pa = one_zone(4096);
    pa.set_check_pages(PageChecks::On);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    let page = pa.memmap().pfn_to_page(p).unwrap();
    page.set_mapping(0xdead_0000);
    page.set_flags(PageFlags::DIRTY);
    pa.test_free_pages(0, p, 0);
    let log = take_log();
    assert_eq!(log[0], format!("BUG: Bad page state in process swapper/0  pfn:{:05x}", p.0));
    assert_eq!(log[1], format!("page: refcount:0 mapcount:0 mapping:00000000dead0000 index:0x0 pfn:{:#x}", p.0));
    assert!(log[2].starts_with("flags: 0x") && log[2].contains("(dirty|node=0|zone=2)"), "{}", log[2]);
    assert_eq!(log[3], "page dumped because: non-NULL mapping");
    assert_eq!(pa.nr_bad_pages(), 1);
    // A locked page: flag check.
    let q = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    pa.memmap().pfn_to_page(q).unwrap().set_flags(PageFlags::LOCKED);
    pa.test_free_pages(0, q, 0);
    assert_eq!(take_log()[3], "page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag set");
    // Still healthy: everything else can be allocated and freed.
    pa.drain_all_pages();
    let (blocks, _) = check(&pa);
    assert!(blocks.iter().all(|b| b.pfn != p.0 && b.pfn != q.0));
    assert_eq!(pa.nr_free_pages(), 4096 - 2);
    assert_eq!(pa.nr_bad_pages(), 2);
}

#[test]
fn bad_page_at_alloc_is_reported_and_skipped() {
    let pa = one_zone(4096);
    pa.set_check_pages(PageChecks::On);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    pa.test_free_pages(0, p, 0);
    // Scribble on the free page sitting on the pcp list.
    pa.memmap().pfn_to_page(p).unwrap().get_page();
    let q = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    assert_ne!(p, q);
    let log = take_log();
    assert_eq!(log[0], format!("BUG: Bad page state in process swapper/0  pfn:{:05x}", p.0));
    assert_eq!(log[3], "page dumped because: nonzero _refcount");
    assert_eq!(pa.nr_bad_pages(), 1);
    // A corrupt page in the buddy lists: skipped the same way.
    pa.drain_all_pages();
    let (blocks, _) = check(&pa);
    let victim = blocks.iter().find(|b| b.order == 10).unwrap().pfn;
    pa.memmap().pfn_to_page(Pfn(victim + 7)).unwrap().set_raw_mapcount(3);
    let mut got = Vec::new();
    while let Ok(r) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, MAX_PAGE_ORDER) {
        got.push(r);
    }
    assert!(take_log().iter().any(|l| l == "page dumped because: nonzero mapcount"));
    assert!(!got.contains(&Pfn(victim)));
    assert_eq!(pa.nr_bad_pages(), 1 + 1024);
    for r in got {
        pa.test_free_pages(0, r, MAX_PAGE_ORDER);
    }
    check(&pa);
}

#[test]
fn double_free_is_reported_not_corrupting() {
    let pa = one_zone(4096);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 1).unwrap();
    pa.test_free_pages(0, p, 1);
    pa.test_free_pages(0, p, 1);
    assert!(take_log().iter().any(|l| l == "page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)"));
    pa.drain_all_pages();
    check(&pa);
    assert_eq!(pa.nr_free_pages(), 4096);
    pa.test_free_pages(0, Pfn(0x1234_5678), 0);
    pa.test_free_pages(0, Pfn(B + 1), 1);
    assert_eq!(take_log().len(), 2);
}

#[test]
fn init_on_alloc_and_free_use_the_zero_hook() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (0, 0)] }];
    let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::empty(), false);
    take_zeroed();
    let p = pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap();
    assert!(take_zeroed().is_empty());
    let z = pa.alloc_pages(0, Gfp::KERNEL | Gfp::ZERO, 3).unwrap();
    assert_eq!(take_zeroed(), [(z.0, 8)]);
    let g = pa.get_zeroed_page(0, Gfp::KERNEL).unwrap();
    assert_eq!(take_zeroed(), [(g.0, 1)]);
    pa.test_free_pages(0, p, 2);
    assert!(take_zeroed().is_empty());

    let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::INIT_ON_ALLOC, false);
    take_zeroed();
    let p = pa.alloc_pages(0, Gfp::KERNEL, 1).unwrap();
    assert_eq!(take_zeroed(), [(p.0, 2)]);

    let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::INIT_ON_FREE, false);
    // Boot memory was zeroed as it was freed: 4 blocks of 1024.
    assert_eq!(take_zeroed().iter().map(|z| z.1).sum::<u64>(), 4096);
    let p = pa.alloc_pages(0, Gfp::KERNEL | Gfp::ZERO, 0).unwrap();
    assert!(take_zeroed().is_empty(), "init_on_free pages are already zero");
    pa.test_free_pages(0, p, 0);
    assert_eq!(take_zeroed(), [(p.0, 1)]);
}

#[test]
fn compound_pages_point_to_their_head_and_free_whole() {
    let pa = one_zone(4096);
    let start = buddy_counts(&pa);
    let p = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 4).unwrap();
    let map = pa.memmap();
    assert!(map.pfn_to_page(p).unwrap().is_head());
    assert_eq!(pa.compound_order(p), 4);
    for i in 1..16 {
        let tail = map.pfn_to_page(Pfn(p.0 + i)).unwrap();
        assert!(tail.is_tail());
        assert_eq!(tail.compound_head(), Some(p));
        assert_eq!(tail.mapping(), TAIL_MAPPING);
    }
    // put_page through a tail frees the whole compound page.
    pa.test_put_page(0, Pfn(p.0 + 5));
    pa.drain_all_pages();
    assert_eq!(buddy_counts(&pa), start);
    check(&pa);
    // A corrupted tail is caught at free.
    let q = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 2).unwrap();
    map.pfn_to_page(Pfn(q.0 + 2)).unwrap().set_mapping(0);
    pa.test_free_pages(0, q, 2);
    assert!(take_log().iter().any(|l| l == "page dumped because: corrupted mapping in tail page"));
    assert_eq!(pa.nr_bad_pages(), 4);
    // Freeing with the wrong order is caught too.
    let r = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 3).unwrap();
    pa.test_free_pages(0, r, 2);
    assert!(take_log().iter().any(|l| l.contains("compound_order(page) != order")));
}

/// Slabs of order 1-3: compound blocks take the fast paths both ways (an
/// allocation for the CPU's own node included), and come back to the pcp
/// lists with every descriptor clean; a second reference keeps the whole
/// block; a bad tail is still caught.
#[test]
fn compound_blocks_of_orders_1_to_3_take_the_fast_paths_clean() {
    let pa = one_zone(4096);
    let map = pa.memmap();
    for order in 1..=3u32 {
        let p = pa.alloc_pages_node(0, NUMA_NO_NODE, Gfp::KERNEL | Gfp::COMP, order).unwrap();
        assert_eq!(pa.compound_order(p), order);
        for i in 1..1u64 << order {
            let tail = map.pfn_to_page(Pfn(p.0 + i)).unwrap();
            assert_eq!((tail.compound_head(), tail.mapping()), (Some(p), TAIL_MAPPING));
        }
        let head = map.pfn_to_page(p).unwrap();
        head.get_page();
        pa.test_free_pages(0, p, order);
        assert!(head.is_head() && head.page_ref_count() == 1, "the other reference keeps the block");
        pa.test_free_pages(0, p, order);
        for i in 0..1u64 << order {
            let page = map.pfn_to_page(Pfn(p.0 + i)).unwrap();
            assert_eq!(page.raw_flags() & crate::page::PAGEFLAGS_MASK, 0, "page {i} of order {order}");
            assert_eq!((page.compound_head(), page.mapping(), page.page_ref_count()), (None, 0, 0));
        }
        // The block went to this CPU's pcp list: with the per-page checks
        // on, the next allocation of the order is the same block, clean.
        pa.set_check_pages(PageChecks::On);
        let q = pa.alloc_pages(0, Gfp::KERNEL, order).unwrap();
        pa.set_check_pages(PageChecks::Off);
        assert_eq!(q, p);
        pa.test_free_pages(0, q, order);
    }
    assert_eq!(pa.nr_bad_pages(), 0);
    let q = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 3).unwrap();
    map.pfn_to_page(Pfn(q.0 + 7)).unwrap().clear_compound_head();
    pa.test_free_pages(0, q, 3);
    assert!(take_log().iter().any(|l| l == "page dumped because: PageTail not set"));
    assert_eq!(pa.nr_bad_pages(), 8);
    let r = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 2).unwrap();
    map.pfn_to_page(Pfn(r.0 + 3)).unwrap().set_compound_head(r.0 + 1);
    pa.test_free_pages(0, r, 2);
    assert!(take_log().iter().any(|l| l == "page dumped because: compound_head not consistent"));
    assert_eq!(pa.nr_bad_pages(), 12);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), 4096 - 12, "the bad blocks are leaked whole");
    check(&pa);
}

/// SLUB asks for `__GFP_COMP` on every slab, order 0 included, where it
/// means nothing; the fast path now ignores it there (it had sent every
/// order-0 slab page to the cold path; scripts/bench.sh shows the cost, a
/// host test cannot tell the two paths apart). Either way the page must be
/// plain, not a compound head, and come back to the CPU's array.
#[test]
fn order0_comp_is_a_plain_page_from_the_fast_path() {
    let pa = one_zone(4096);
    let map = pa.memmap();
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    pa.test_free_pages(0, p, 0);
    let q = pa.alloc_pages_node(0, NUMA_NO_NODE, Gfp::KERNEL | Gfp::COMP, 0).unwrap();
    assert_eq!(q, p, "the page just freed, from the CPU's array");
    let page = map.pfn_to_page(q).unwrap();
    assert!(!page.is_head());
    assert_eq!((page.compound_head(), page.page_ref_count()), (None, 1));
    pa.test_free_pages(0, q, 0);
    assert_eq!(page.page_ref_count(), 0);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), 4096);
    assert!(take_log().is_empty());
    check(&pa);
}

#[test]
fn alloc_pages_exact_frees_the_tail() {
    let pa = one_zone(4096);
    let before = pa.nr_free_pages();
    let p = pa.alloc_pages_exact(0, 5 * PAGE_SIZE - 100, Gfp::KERNEL).unwrap();
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), before - 5);
    for i in 0..5 {
        assert_eq!(pa.memmap().pfn_to_page(Pfn(p.0 + i)).unwrap().page_ref_count(), 1);
    }
    check(&pa);
    pa.test_free_pages_exact(0, p, 5 * PAGE_SIZE - 100);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), before);
    let (blocks, _) = check(&pa);
    assert!(blocks.iter().all(|b| b.order == MAX_PAGE_ORDER));
    assert_eq!(pa.alloc_pages_exact(0, 0, Gfp::KERNEL), Err(Error::InvalidArgument));
    assert_eq!(get_order(1), 0);
    assert_eq!(get_order(4096), 0);
    assert_eq!(get_order(4097), 1);
    assert_eq!(get_order(4 << 20), 10);
}

#[test]
fn split_page_gives_each_page_a_reference() {
    let pa = one_zone(4096);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 3).unwrap();
    pa.split_page(p, 3).unwrap();
    for i in 0..8 {
        pa.test_free_pages(0, Pfn(p.0 + i), 0);
    }
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), 4096);
    let c = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 3).unwrap();
    assert_eq!(pa.split_page(c, 3), Err(Error::InvalidArgument));
}

#[test]
fn freeing_with_references_frees_the_rest() {
    let pa = one_zone(4096);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap();
    pa.memmap().pfn_to_page(p).unwrap().get_page();
    pa.test_free_pages(0, p, 2);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), 4096 - 1);
    pa.test_free_pages(0, p, 0);
    pa.drain_all_pages();
    assert_eq!(pa.nr_free_pages(), 4096);
    check(&pa);
}

#[test]
fn pcp_batch_high_and_draining() {
    // 256 MiB: batch 15, high max(low / 2 CPUs, 60).
    let pa = one_zone(65_536);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    let stats = zone.pcp_stats(0);
    assert_eq!(stats.batch, 15);
    assert_eq!(stats.high, (zone.low_wmark_pages() as u32 / 2).max(60));
    // The first allocation pulls a batch onto the pcp.
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    assert_eq!(zone.pcp_stats(0).count, 14);
    assert_eq!(zone.free_pages(), 65_536 - 15);
    // Order 2: batch >> 2 = 3 blocks.
    let q = pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap();
    assert_eq!(zone.pcp_stats(0).count, 14 + 2 * 4);
    // Frees pile up on the pcp until high, then a batch goes back. The
    // array in front of the lists holds PCP_HOT more (one pcp type here).
    let many: Vec<Pfn> = (0..400).map(|_| pa.alloc_pages(1, Gfp::KERNEL, 0).unwrap()).collect();
    for &m in &many {
        pa.test_free_pages(1, m, 0);
        assert!(zone.pcp_stats(1).count < stats.high + crate::zone::PCP_HOT as u32);
    }
    check(&pa);
    pa.drain_local_pages(1);
    assert_eq!(zone.pcp_stats(1).count, 0);
    assert_eq!(zone.pcp_stats(0).count, 22);
    pa.drain_zone_pages(0);
    // 15 pages asked: 14 order-0 pages, then a whole order-2 block.
    assert_eq!(zone.pcp_stats(0).count, 4);
    pa.test_free_pages(0, p, 0);
    pa.test_free_pages(0, q, 2);
    pa.drain_all_pages();
    assert_eq!(zone.free_pages(), 65_536);
    check(&pa);
}

#[test]
fn pageblock_order_blocks_ride_the_pcp_lists() {
    // 4 GiB: batch 63, so a refill of order 9 takes max(63 >> 9, 2) = 2
    // blocks; high, over two CPUs, is above their 1024 pages.
    const N: u64 = 1 << 20;
    let pa = one_zone(N);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    let high = zone.pcp_stats(0).high;
    assert!(high > 1024, "high {high}");
    let nr9 = |pa: &PageAllocator| pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal).nr_free(PAGEBLOCK_ORDER);
    let free9 = nr9(&pa);
    let p = pa.alloc_pages(0, Gfp::KERNEL, PAGEBLOCK_ORDER).unwrap();
    assert_eq!(p.0 % PAGEBLOCK_NR_PAGES, 0);
    assert_eq!(zone.pcp_stats(0).count, 512, "the second block of the refill waits on the pcp");
    assert_eq!(zone.free_pages(), N - 1024);
    // Freed, it joins the other on CPU 0's list; the buddy lists see neither.
    pa.test_free_pages(0, p, PAGEBLOCK_ORDER);
    assert_eq!(zone.pcp_stats(0).count, 1024);
    assert_eq!(zone.free_pages(), N - 1024);
    // Allocated again (any pcp type but Movable shares the list), then a
    // movable one refills the other list.
    let q = pa.alloc_pages(0, Gfp::KERNEL | Gfp::RECLAIMABLE, PAGEBLOCK_ORDER).unwrap();
    assert_eq!(q, p, "the most recently freed block comes back first");
    let m = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, PAGEBLOCK_ORDER).unwrap();
    assert_eq!(zone.pcp_stats(0).count, 1024);
    // A compound block (THP) takes and gives back the same lists.
    let c = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, PAGEBLOCK_ORDER).unwrap();
    assert_eq!(zone.pcp_stats(0).count, 512);
    pa.test_free_pages(0, c, PAGEBLOCK_ORDER);
    pa.test_free_pages(0, q, PAGEBLOCK_ORDER);
    pa.test_free_pages(0, m, PAGEBLOCK_ORDER);
    check(&pa);
    // Over high, a free drains; a full drain gives every block back whole.
    pa.drain_all_pages();
    assert_eq!(zone.pcp_stats(0).count, 0);
    assert_eq!(zone.free_pages(), N);
    assert_eq!(nr9(&pa), free9);
    check(&pa);
}

#[test]
fn boot_pageset_passes_pages_straight_through() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (0, 0)] }];
    let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::empty(), true);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    assert_eq!(zone.pcp_stats(0).count, 0);
    pa.test_free_pages(0, p, 0);
    assert_eq!(zone.pcp_stats(0).count, 0);
    assert_eq!(zone.free_pages(), 4096);
    check(&pa);
}

#[test]
fn cpu_numbers_beyond_nr_cpus_bypass_the_pcp() {
    let pa = one_zone(4096);
    let p = pa.alloc_pages(99, Gfp::KERNEL, 0).unwrap();
    assert_eq!(pa.nr_free_pages(), 4095);
    pa.test_free_pages(99, p, 0);
    assert_eq!(pa.nr_free_pages(), 4096);
    check(&pa);
}

#[test]
fn exhaust_then_free_restores_every_counter() {
    let nodes = [
        NodeSpec { nid: 0, zones: [(B, B + 2048), (B + 2048, B + 4096), (B + 4096, B + 6000), (0, 0)] },
        NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 6000, B + 9000), (B + 9000, B + 10_240)] },
    ];
    let pa = build(&nodes, &[(B, B + 10_240)], &[0, 1, 0, 1]);
    let start_counts = buddy_counts(&pa);
    let start_free: Vec<u64> = pa.all_zones().map(Zone::free_pages).collect();
    let mut info = String::new();
    pa.buddyinfo(&mut info).unwrap();
    let mut got = Vec::new();
    for (i, gfp) in
        [Gfp::HIGHUSER_MOVABLE, Gfp::KERNEL, Gfp::KERNEL | Gfp::DMA32, Gfp::KERNEL | Gfp::DMA].into_iter().enumerate()
    {
        for order in (0..=MAX_PAGE_ORDER).rev() {
            while let Ok(p) = pa.alloc_pages(i % 4, gfp | Gfp::NOWARN | Gfp::HIGH, order) {
                got.push((p, order));
            }
        }
    }
    check(&pa);
    for (i, &(p, order)) in got.iter().enumerate() {
        pa.test_free_pages(i % 3, p, order);
    }
    pa.drain_all_pages();
    check(&pa);
    assert_eq!(buddy_counts(&pa), start_counts);
    assert_eq!(pa.all_zones().map(Zone::free_pages).collect::<Vec<_>>(), start_free);
    let mut after = String::new();
    pa.buddyinfo(&mut after).unwrap();
    assert_eq!(after, info);
    assert_eq!(pa.nr_free_pages(), pa.totalram_pages());
    assert_eq!(pa.nr_bad_pages(), 0);
}

#[test]
fn highatomic_reserve_and_release() {
    // 256 MiB, so that 1% of the zone is at least a pageblock.
    let pa = one_zone(65_536);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    // Only the slow path reserves: bring free memory below low.
    let mut got = Vec::new();
    while let Ok(q) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
        got.push(q);
    }
    pa.drain_all_pages();
    got.sort();
    // Give back the first 64 pages of a pageblock that is wholly allocated.
    let held: std::collections::BTreeSet<u64> = got.iter().map(|p| p.0).collect();
    let blk = (0..128).map(|i| B + i * 512).find(|&b| (b..b + 64).all(|p| held.contains(&p))).unwrap();
    for p in blk..blk + 64 {
        pa.test_free_pages(0, Pfn(p), 0);
    }
    pa.drain_all_pages();
    got.retain(|p| p.0 < blk || p.0 >= blk + 64);
    assert!(zone.free_pages() < zone.low_wmark_pages());
    // A high-order atomic allocation in the slow path reserves its pageblock.
    let a = pa.alloc_pages(0, Gfp::ATOMIC, 2).unwrap();
    assert_eq!(a.0 & !511, blk);
    assert_eq!(pa.pageblock_migratetype(a), Some(MigrateType::HighAtomic));
    assert_eq!(zone.nr_reserved_highatomic(), PAGEBLOCK_NR_PAGES);
    // 64 freed, less the pcp refill of batch >> 2 = 3 order-2 blocks.
    assert_eq!(zone.free_highatomic_pages(), 64 - 3 * 4);
    // Drained, the refill's other blocks join the reserve's list.
    pa.drain_all_pages();
    assert_eq!(zone.free_highatomic_pages(), 60);
    check(&pa);
    // Ordinary allocations stay out of it (NORETRY: no last-resort unreserve).
    for _ in 0..4 {
        if let Ok(k) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NORETRY | Gfp::NOWARN, 2) {
            assert_ne!(k.0 & !511, blk);
            pa.split_page(k, 2).unwrap();
            got.extend((0..4).map(|i| Pfn(k.0 + i)));
        }
    }
    assert_eq!(zone.nr_reserved_highatomic(), PAGEBLOCK_NR_PAGES);
    // The next high-order atomic allocation is served from the pcp
    // lists like any other, and reserves a second pageblock: 1% of the
    // zone is 655 pages, rounded up to two pageblocks.
    let b = pa.alloc_pages(0, Gfp::ATOMIC, 3).unwrap();
    assert_eq!(pa.pageblock_migratetype(b), Some(MigrateType::HighAtomic));
    assert_eq!(zone.nr_reserved_highatomic(), 2 * PAGEBLOCK_NR_PAGES);
    let c = pa.alloc_pages(0, Gfp::ATOMIC, 3).unwrap();
    assert_eq!(zone.nr_reserved_highatomic(), 2 * PAGEBLOCK_NR_PAGES, "the 1% cap");
    check(&pa);
    // Failing GFP_KERNEL requests give the reserves back, the last one too.
    for _ in 0..4 {
        // (Not a costly order: those give up before the last resort.)
        if let Ok(k) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 3) {
            pa.split_page(k, 3).unwrap();
            got.extend((0..8).map(|i| Pfn(k.0 + i)));
        }
    }
    // Every reserved pageblock with free pages went back (one whose
    // pages are all in use cannot be found through the free lists, as in Linux).
    pa.drain_all_pages();
    assert_eq!(zone.free_highatomic_pages(), 0);
    assert!(zone.nr_reserved_highatomic() < 2 * PAGEBLOCK_NR_PAGES);
    assert_eq!(pa.pageblock_migratetype(a), Some(MigrateType::Unmovable));
    check(&pa);
    for q in got {
        pa.test_free_pages(0, q, 0);
    }
    pa.test_free_pages(0, a, 2);
    pa.test_free_pages(0, b, 3);
    pa.test_free_pages(0, c, 3);
    pa.drain_all_pages();
    assert_eq!(zone.free_pages(), 65_536);
    check(&pa);
}

#[test]
fn one_gfp_kernel_request_takes_back_as_many_reserves_as_it_needs() {
    // The stop-23 flake of the cma self-tests: a GFP_KERNEL page-table
    // allocation failed while HIGHATOMIC pageblocks held the free memory it
    // needed, because the slow path gave back two of them at most. As
    // should_reclaim_retry does with nothing to reclaim, it now gives them
    // back one by one until the allocation succeeds.
    // 1 GiB: 1% of the zone is six pageblocks.
    let pa = one_zone(262_144);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    let mut got = Vec::new();
    while let Ok(q) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::NORETRY, 0) {
        got.push(q);
    }
    pa.drain_all_pages();
    let held: std::collections::BTreeSet<u64> = got.iter().map(|p| p.0).collect();
    // Six wholly allocated pageblocks get 150 pages back each and are
    // reserved (as a high-order atomic allocation from each would).
    const BACK: u64 = 150;
    let blocks: Vec<u64> =
        (0..512).map(|i| B + i * 512).filter(|&b| (b..b + 512).all(|p| held.contains(&p))).take(6).collect();
    assert_eq!(blocks.len(), 6);
    for &blk in &blocks {
        for p in blk..blk + BACK {
            pa.test_free_pages(0, Pfn(p), 0);
        }
        pa.drain_all_pages();
        zone.reserve_highatomic_pageblock(pa.memmap(), pa.memmap().valid(blk).unwrap(), 0);
    }
    got.retain(|p| !blocks.iter().any(|&b| (b..b + BACK).contains(&p.0)));
    assert_eq!(zone.nr_reserved_highatomic(), 6 * PAGEBLOCK_NR_PAGES);
    assert_eq!(zone.free_highatomic_pages(), 6 * BACK);
    // Atomic allocations (which may dig below min, not into the reserve)
    // take the rest down to 550 pages under the min watermark: three
    // reserves' pages are not enough for a GFP_KERNEL page, four are.
    let usable = |z: &Zone| z.free_pages() as i64 - z.free_highatomic_pages() as i64;
    let target = zone.min_wmark_pages() as i64 - 550;
    while usable(zone) > target {
        got.push(pa.alloc_pages(0, Gfp::ATOMIC | Gfp::NOWARN, 0).unwrap());
        pa.drain_all_pages();
    }
    assert!(usable(zone) <= target && usable(zone) + 3 * BACK as i64 <= zone.min_wmark_pages() as i64);
    // NORETRY gives one back and fails (the last resort is not for it).
    assert!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::NORETRY, 0).is_err());
    assert_eq!(zone.nr_reserved_highatomic(), 5 * PAGEBLOCK_NR_PAGES);
    // One GFP_KERNEL request takes back the three more it needs, and no
    // more (the old slow path gave back two and failed).
    let k = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0).expect("the reserves hold enough free pages");
    assert_eq!(zone.nr_reserved_highatomic(), 2 * PAGEBLOCK_NR_PAGES);
    check(&pa);
    got.push(k);
    for q in got {
        pa.test_free_pages(0, q, 0);
    }
    pa.drain_all_pages();
    assert_eq!(zone.free_pages(), 262_144);
    check(&pa);
}

#[test]
fn cma_only_for_movable_and_isolate_never() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (0, 0)] }];
    // Keep the last pageblock reserved, then make it CMA.
    let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 3584)], &[0], AllocatorFlags::empty(), false);
    pa.init_cma_reserved_pageblock(Pfn(B + 3584)).unwrap();
    assert_eq!(pa.init_cma_reserved_pageblock(Pfn(B + 3584)), Err(Error::Busy));
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    assert_eq!((zone.cma_pages(), zone.free_cma_pages()), (512, 512));
    check(&pa);
    // Unmovable requests never touch CMA, even when everything else is gone.
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::ATOMIC, 0) {
        assert!(p.0 < B + 3584);
        got.push(p);
    }
    assert_eq!(zone.free_cma_pages(), 512);
    // Movable ones use it.
    let m = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).unwrap();
    assert!(m.0 >= B + 3584);
    pa.test_free_pages(0, m, 0);
    for p in got {
        pa.test_free_pages(0, p, 0);
    }
    pa.drain_all_pages();
    check(&pa);
    // Isolate the first pageblock: its pages leave NR_FREE_PAGES and are never handed out.
    let before = zone.free_pages();
    pa.isolate_pageblock(Pfn(B)).unwrap();
    assert_eq!(pa.isolate_pageblock(Pfn(B + 10)), Err(Error::Busy));
    assert_eq!(zone.free_pages(), before - 512);
    check(&pa);
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::ATOMIC, 0) {
        assert!(p.0 >= B + 512);
        got.push(p);
    }
    for p in got {
        pa.test_free_pages(0, p, 0);
    }
    pa.drain_all_pages();
    pa.unisolate_pageblock(Pfn(B), MigrateType::Movable).unwrap();
    assert_eq!(zone.free_pages(), 4096);
    let (blocks, _) = check(&pa);
    assert_eq!(blocks.iter().filter(|b| b.order == MAX_PAGE_ORDER).count(), 3);
}

#[test]
fn add_node_rejects_bad_spans() {
    let map = MemMap::new_arena(&[(B, B + 4096)]);
    let mut pa = PageAllocator::new(map);
    let z = |a: u64, b: u64| (Pfn(a), Pfn(b));
    let empty = z(0, 0);
    let present = [z(B, B + 4096)];
    assert_eq!(
        pa.add_node(NodeId(0), storage(), &[z(B + 10, B), empty, empty, empty], &present),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        pa.add_node(NodeId(0), storage(), &[z(B + 100, B + 200), z(B + 150, B + 300), empty, empty], &present),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        pa.add_node(NodeId(0), storage(), &[empty, empty, z(B, B + 2 * SEC), empty], &[z(B, B + 2 * SEC)]),
        Err(Error::InvalidArgument),
        "present memory without descriptors"
    );
    pa.add_node(NodeId(0), storage(), &[empty, empty, z(B, B + 2048), empty], &present).unwrap();
    assert_eq!(
        pa.add_node(NodeId(0), storage(), &[empty, empty, z(B + 2048, B + 4096), empty], &present),
        Err(Error::Busy)
    );
    assert_eq!(
        pa.add_node(NodeId(1), storage(), &[empty, empty, z(B + 2000, B + 4096), empty], &present),
        Err(Error::InvalidArgument)
    );
    assert_eq!(pa.add_node(NodeId(-1), storage(), &[empty; 4], &present), Err(Error::InvalidArgument));
    pa.add_node(NodeId(1), storage(), &[empty, empty, z(B + 2048, B + 4096), empty], &present).unwrap();
    assert_eq!(pa.free_bootmem_range(Pfn(B), Pfn(B + 4096)), 0, "before memmap_init");
}

#[test]
fn memmap_init_covers_holes_and_sparse_sections() {
    // Memory in sections 8 and 10 (9 absent), node 0 spanning both with a hole.
    let present = [(8 * SEC + 100, 8 * SEC + 5000), (10 * SEC, 10 * SEC + 3000)];
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (8 * SEC + 100, 10 * SEC + 3000), (0, 0)] }];
    let pa = build(&nodes, &present, &[0]);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    assert_eq!(zone.present_pages(), 4900 + 3000);
    assert_eq!(zone.spanned_pages(), 2 * SEC + 2900);
    assert_eq!(zone.managed_pages(), 7900);
    let map = pa.memmap();
    // The section's head, before the zone: initialised, reserved.
    let head = map.pfn_to_page(Pfn(8 * SEC)).unwrap();
    assert!(head.test_flags(PageFlags::RESERVED));
    assert_eq!(head.page_ref_count(), 1);
    let tail = map.pfn_to_page(Pfn(11 * SEC - 1)).unwrap();
    assert!(tail.test_flags(PageFlags::RESERVED));
    assert!(map.pfn_to_page(Pfn(9 * SEC)).is_none());
    let mut got = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::ATOMIC, 0) {
        assert!(present.iter().any(|&(s, e)| p.0 >= s && p.0 < e));
        got.push(p);
    }
    check(&pa);
}

#[test]
fn concurrent_cpus_stay_consistent() {
    let nodes = [
        NodeSpec { nid: 0, zones: [(B, B + 2048), (0, 0), (B + 2048, B + 6144), (0, 0)] },
        NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 6144, B + 10_240), (0, 0)] },
    ];
    let pa = build(&nodes, &[(B, B + 10_240)], &[0, 0, 1, 1]);
    let total = pa.totalram_pages();
    std::thread::scope(|scope| {
        for cpu in 0..4usize {
            let pa = &pa;
            scope.spawn(move || {
                let mut rng = Rng(0x1234_5678 + cpu as u64);
                let mut live: Vec<(Pfn, u32)> = Vec::new();
                for _ in 0..3000 {
                    if rng.below(100) < 55 {
                        let order = [0, 0, 0, 1, 2, 3, 5][rng.below(7) as usize];
                        let gfp = [Gfp::KERNEL, Gfp::ATOMIC, Gfp::HIGHUSER_MOVABLE, Gfp::KERNEL | Gfp::DMA]
                            [rng.below(4) as usize];
                        if let Ok(p) = pa.alloc_pages(cpu, gfp | Gfp::NOWARN, order) {
                            live.push((p, order));
                        }
                    } else if !live.is_empty() {
                        let (p, o) = live.swap_remove(rng.below(live.len() as u64) as usize);
                        pa.test_free_pages(cpu, p, o);
                    }
                    if rng.below(500) == 0 {
                        pa.drain_all_pages();
                    }
                }
                for (p, o) in live {
                    pa.test_free_pages(cpu, p, o);
                }
            });
        }
    });
    pa.drain_all_pages();
    check(&pa);
    assert_eq!(pa.nr_free_pages(), total);
    assert_eq!(pa.nr_bad_pages(), 0);
}

#[test]
fn randomized_against_a_model() {
    let nodes = [
        NodeSpec { nid: 0, zones: [(B, B + 1536), (B + 1536, B + 3000), (B + 3000, B + 6000), (0, 0)] },
        NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 6000, B + 9500), (B + 9500, B + 11_000)] },
    ];
    let pa = build(&nodes, &[(B, B + 11_000)], &[0, 1, 0, 1]);
    let total = pa.totalram_pages();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // pfn -> (order, gfp, nid asked)
    let mut live: BTreeMap<u64, u32> = BTreeMap::new();
    let gfps = [
        Gfp::KERNEL,
        Gfp::ATOMIC,
        Gfp::NOWAIT,
        Gfp::HIGHUSER_MOVABLE,
        Gfp::KERNEL | Gfp::RECLAIMABLE,
        Gfp::KERNEL | Gfp::DMA,
        Gfp::KERNEL | Gfp::DMA32,
        Gfp::KERNEL | Gfp::COMP,
        Gfp::KERNEL | Gfp::NORETRY,
    ];
    let orders = [0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 9, 10];
    let mut allocated = 0u64;
    let mut failures = 0;
    for step in 0..4000 {
        let op = rng.below(100);
        if op < 55 || live.is_empty() {
            let cpu = rng.below(5) as usize;
            let gfp = gfps[rng.below(gfps.len() as u64) as usize] | Gfp::NOWARN;
            let order = orders[rng.below(orders.len() as u64) as usize];
            let node = rng.below(3);
            let thisnode = rng.below(4) == 0;
            let res = if node == 2 {
                pa.alloc_pages(cpu, gfp, order)
            } else {
                let g = if thisnode { gfp | Gfp::THISNODE } else { gfp };
                pa.alloc_pages_node(cpu, NodeId(node as i32), g, order)
            };
            match res {
                Ok(p) => {
                    assert_eq!(p.0 % (1 << order), 0);
                    let page = pa.memmap().pfn_to_page(p).unwrap();
                    assert!(page.zone_type() <= gfp_zone(gfp), "step {step}: {gfp} got {:?}", page.zone_type());
                    if thisnode && node != 2 {
                        assert_eq!(page.node(), NodeId(node as i32));
                    }
                    let end = p.0 + (1 << order);
                    if let Some((&q, &o)) = live.range(..end).next_back() {
                        assert!(q + (1 << o) <= p.0, "step {step}: {p:?} overlaps {q:#x}");
                    }
                    live.insert(p.0, order);
                    allocated += 1 << order;
                }
                Err(e) => {
                    assert_eq!(e, Error::NoMemory);
                    failures += 1;
                }
            }
        } else if op < 97 {
            let idx = rng.below(live.len() as u64) as usize;
            let (&p, &o) = live.iter().nth(idx).unwrap();
            live.remove(&p);
            pa.test_free_pages(rng.below(6) as usize, Pfn(p), o);
            allocated -= 1 << o;
        } else if op < 99 {
            pa.drain_local_pages(rng.below(5) as usize);
        } else {
            pa.drain_all_pages();
        }
        let (blocks, pcp) = check(&pa);
        let free: u64 = blocks.iter().map(|b| 1u64 << b.order).sum();
        let in_pcp: u64 = pcp.iter().map(|&(_, o)| 1u64 << o).sum();
        assert_eq!(free + in_pcp + allocated, total, "step {step}");
        assert_eq!(pa.nr_free_pages(), free);
        for &(b, o) in &pcp {
            if let Some((&q, &qo)) = live.range(..b + (1 << o)).next_back() {
                assert!(q + (1 << qo) <= b, "pcp page {b:#x} is allocated");
            }
        }
    }
    assert!(failures > 0 && failures < 3000, "{failures}");
    for (p, o) in core::mem::take(&mut live) {
        pa.test_free_pages(0, Pfn(p), o);
    }
    pa.drain_all_pages();
    check(&pa);
    assert_eq!(pa.nr_free_pages(), total);
    assert_eq!(pa.nr_bad_pages(), 0);
}

/// Buddy allocation and freeing against a model, over many seeds: every
/// block handed out is aligned, inside the zone and disjoint from every live
/// block; free + pcp + allocated pages always add up to the zone; the free
/// lists keep every invariant `check` knows; and once everything is freed
/// and drained the zone is whole again, in largest-order blocks.
#[test]
fn buddy_alloc_free_matches_a_model_for_many_seeds() {
    const PAGES: u64 = 8 * 1024;
    for seed in 1..=24u64 {
        let pa = one_zone(PAGES);
        let total = pa.totalram_pages();
        let mut rng = Rng(seed.wrapping_mul(0x2545_f491_4f6c_dd1d));
        let mut live: BTreeMap<u64, u32> = BTreeMap::new();
        let mut allocated = 0u64;
        for step in 0..300 {
            if rng.below(100) < 60 || live.is_empty() {
                let order = rng.below(MAX_PAGE_ORDER as u64 + 1) as u32;
                let gfp = rng.pick(&[Gfp::KERNEL, Gfp::HIGHUSER_MOVABLE, Gfp::KERNEL | Gfp::RECLAIMABLE]);
                if let Ok(p) = pa.alloc_pages(rng.below(3) as usize, gfp | Gfp::NOWARN, order) {
                    let what = format!("seed {seed} step {step}: order {order} at {:#x}", p.0);
                    assert_eq!(p.0 % (1 << order), 0, "{what}: misaligned");
                    assert!(p.0 >= B && p.0 + (1 << order) <= B + PAGES, "{what}: outside the zone");
                    if let Some((&q, &o)) = live.range(..p.0 + (1 << order)).next_back() {
                        assert!(q + (1 << o) <= p.0, "{what}: overlaps the live block at {q:#x}");
                    }
                    live.insert(p.0, order);
                    allocated += 1 << order;
                }
            } else {
                let idx = rng.below(live.len() as u64) as usize;
                let (&p, &o) = live.iter().nth(idx).unwrap();
                live.remove(&p);
                pa.test_free_pages(rng.below(3) as usize, Pfn(p), o);
                allocated -= 1 << o;
            }
            let (blocks, pcp) = check(&pa);
            let free: u64 = blocks.iter().map(|b| 1u64 << b.order).sum();
            let in_pcp: u64 = pcp.iter().map(|&(_, o)| 1u64 << o).sum();
            assert_eq!(free + in_pcp + allocated, total, "seed {seed} step {step}");
        }
        for (p, o) in core::mem::take(&mut live) {
            pa.test_free_pages(0, Pfn(p), o);
        }
        pa.drain_all_pages();
        let (blocks, _) = check(&pa);
        assert_eq!(pa.nr_free_pages(), total, "seed {seed}");
        assert!(blocks.iter().all(|b| b.order == MAX_PAGE_ORDER), "seed {seed}: not merged back: {blocks:?}");
        assert_eq!(pa.nr_bad_pages(), 0);
    }
}

// ----- debug_pagealloc ----------------------------------------------------

/// One Normal zone of `pages` frames with debug_pagealloc and `flags`, on
/// two CPUs, over a fresh fake linear map.
fn debug_pagealloc_zone(pages: u64, flags: AllocatorFlags) -> PageAllocator {
    reset_linear_map();
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + pages), (0, 0)] }];
    build_with(&nodes, &[(B, B + pages)], &[(B, B + pages)], &[0, 0], flags | AllocatorFlags::DEBUG_PAGEALLOC, false)
}

/// Fails, naming the first frame that differs, unless the fake linear map
/// holds exactly the free frames unmapped.
fn assert_unmapped_are_free(pa: &PageAllocator, when: &str) {
    let (unmapped, free) = (unmapped_frames(), free_frames(pa));
    if unmapped != free {
        let first = unmapped.iter().zip(&free).find(|(u, f)| u != f);
        panic!("{when}: {} frames unmapped, {} free; first difference {first:#x?}", unmapped.len(), free.len());
    }
}

/// Every free frame, on the buddy lists or a pcp list, in order.
fn free_frames(pa: &PageAllocator) -> Vec<u64> {
    let (blocks, pcp) = check(pa);
    let mut frames: Vec<u64> = blocks
        .iter()
        .map(|b| (b.pfn, b.order))
        .chain(pcp.iter().copied())
        .flat_map(|(pfn, order)| pfn..pfn + (1 << order))
        .collect();
    frames.sort();
    frames
}

#[test]
fn debug_pagealloc_unmaps_every_free_block_and_maps_it_on_allocation() {
    let pa = debug_pagealloc_zone(4096 + 3, AllocatorFlags::empty());
    // The hand-over unmapped every frame it freed, a block per call.
    let boot = take_page_events();
    assert!(boot.iter().all(|e| matches!(e, PageEvent::Unmapped(..))), "{boot:?}");
    let unmapped: u64 = boot.iter().map(|e| if let PageEvent::Unmapped(_, n) = e { *n } else { 0 }).sum();
    assert_eq!((boot.len(), unmapped), (6, 4096 + 3), "four 1024-page blocks, then 2 and 1: {boot:?}");
    assert_unmapped_are_free(&pa, "1");
    // Through the pcp lists (orders up to 3) and straight from the buddy
    // lists: exactly the block, once, each way.
    for order in [0, 1, 3, 4, MAX_PAGE_ORDER] {
        for cpu in [0, 1] {
            let pfn = pa.alloc_pages(cpu, Gfp::KERNEL, order).unwrap();
            assert_eq!(take_page_events(), [PageEvent::Mapped(pfn.0, 1 << order)], "order {order} alloc");
            assert!(!unmapped_frames().contains(&pfn.0));
            pa.test_free_pages(1 - cpu, pfn, order);
            assert_eq!(take_page_events(), [PageEvent::Unmapped(pfn.0, 1 << order)], "order {order} free");
            assert_unmapped_are_free(&pa, "2");
        }
    }
    // Moving free pages between lists maps nothing.
    pa.drain_all_pages();
    assert!(take_page_events().is_empty());
    assert_unmapped_are_free(&pa, "3");
    // alloc_pages_exact maps the whole block, then gives its tail back.
    let p = pa.alloc_pages_exact(0, 5 * PAGE_SIZE, Gfp::KERNEL).unwrap();
    let mut ev = take_page_events();
    assert_eq!(ev.remove(0), PageEvent::Mapped(p.0, 8));
    ev.sort_by_key(|e| if let PageEvent::Unmapped(f, _) = e { *f } else { 0 });
    assert_eq!(ev, (5..8).map(|i| PageEvent::Unmapped(p.0 + i, 1)).collect::<Vec<_>>());
    assert_unmapped_are_free(&pa, "4");
    pa.test_free_pages_exact(0, p, 5 * PAGE_SIZE);
    assert_eq!(take_page_events(), (0..5).map(|i| PageEvent::Unmapped(p.0 + i, 1)).collect::<Vec<_>>());
    // A double free is caught before anything is unmapped again (the fake
    // would panic on a second unmap of the same frame).
    let pfn = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    pa.test_free_pages(0, pfn, 0);
    take_page_events();
    pa.test_free_pages(0, pfn, 0);
    assert!(take_page_events().is_empty());
    assert!(take_log().iter().any(|l| l.contains("Bad page state")));
    assert_unmapped_are_free(&pa, "5");
}

#[test]
fn debug_pagealloc_maps_before_zeroing_and_zeroes_before_unmapping() {
    // init_on_free: every block is zeroed, then unmapped (the fake panics
    // on a zeroing of an unmapped frame, so the order is checked twice).
    let pa = debug_pagealloc_zone(1024 + 1, AllocatorFlags::INIT_ON_FREE);
    let boot = take_page_events();
    assert_eq!(boot.len(), 4);
    for pair in boot.chunks(2) {
        match pair {
            [PageEvent::Zeroed(a, n), PageEvent::Unmapped(b, m)] if (a, n) == (b, m) => {}
            other => panic!("not zeroed then unmapped: {other:?}"),
        }
    }
    let p = pa.alloc_pages(0, Gfp::KERNEL | Gfp::ZERO, 1).unwrap();
    assert_eq!(take_page_events(), [PageEvent::Mapped(p.0, 2)], "init_on_free pages are already zero");
    pa.test_free_pages(0, p, 1);
    assert_eq!(take_page_events(), [PageEvent::Zeroed(p.0, 2), PageEvent::Unmapped(p.0, 2)]);
    // init_on_alloc and __GFP_ZERO: mapped, then zeroed.
    for (flags, gfp) in
        [(AllocatorFlags::INIT_ON_ALLOC, Gfp::KERNEL), (AllocatorFlags::empty(), Gfp::KERNEL | Gfp::ZERO)]
    {
        let pa = debug_pagealloc_zone(1024, flags);
        take_page_events();
        for order in [0, 2, 5] {
            let p = pa.alloc_pages(0, gfp, order).unwrap();
            assert_eq!(take_page_events(), [PageEvent::Mapped(p.0, 1 << order), PageEvent::Zeroed(p.0, 1 << order)]);
            pa.test_free_pages(0, p, order);
            assert_eq!(take_page_events(), [PageEvent::Unmapped(p.0, 1 << order)]);
        }
    }
}

#[test]
fn debug_pagealloc_keeps_exactly_the_free_frames_unmapped() {
    let pa = debug_pagealloc_zone(8192, AllocatorFlags::empty());
    let mut rng = Rng(0x0005_eed0_fd9a);
    let mut live: Vec<(Pfn, u32)> = Vec::new();
    for step in 0..3000 {
        let cpu = rng.below(2) as usize;
        match rng.below(10) {
            0..=4 => {
                let order = rng.pick(&[0, 0, 0, 1, 2, 3, 4, 6]);
                if let Ok(pfn) = pa.alloc_pages(cpu, Gfp::KERNEL | Gfp::NOWARN, order) {
                    live.push((pfn, order));
                }
            }
            5..=8 if !live.is_empty() => {
                let (pfn, order) = live.swap_remove(rng.below(live.len() as u64) as usize);
                pa.test_free_pages(cpu, pfn, order);
            }
            _ => pa.drain_local_pages(cpu),
        }
        if step % 64 == 0 {
            assert_unmapped_are_free(&pa, &format!("step {step}"));
        }
    }
    for (pfn, order) in live.drain(..) {
        pa.test_free_pages(0, pfn, order);
    }
    assert_unmapped_are_free(&pa, "6");
    assert_eq!(unmapped_frames().len(), 8192);
}

#[test]
fn without_debug_pagealloc_nothing_is_unmapped() {
    reset_linear_map();
    let pa = one_zone(4096);
    let a = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    let b = pa.alloc_pages(1, Gfp::KERNEL | Gfp::ZERO, 5).unwrap();
    pa.test_free_pages(0, a, 0);
    pa.test_free_pages(0, b, 5);
    assert_eq!(take_page_events(), [PageEvent::Zeroed(b.0, 32)]);
    assert!(unmapped_frames().is_empty());
}

// ----- the fast path (fastpath.rs) -----------------------------------------

#[test]
fn without_page_checks_a_bad_free_is_not_looked_for() {
    // Linux without CONFIG_DEBUG_VM: no free_page_is_bad. The anon bits of
    // `mapping` and the owner flags are still cleared, so the next owner
    // gets a clean page.
    let pa = one_zone(4096);
    assert_eq!(pa.page_checks(), PageChecks::Off);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    let page = pa.memmap().pfn_to_page(p).unwrap();
    page.set_mapping(0x1234_0001);
    assert!(page.set_flags(PageFlags::DIRTY));
    pa.test_free_pages(0, p, 0);
    assert!(take_log().is_empty());
    assert_eq!(pa.nr_bad_pages(), 0);
    let q = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    assert_eq!(q, p, "hot page reused from the pcp list");
    let page = pa.memmap().pfn_to_page(q).unwrap();
    assert_eq!(page.mapping(), 0);
    assert_eq!(page.raw_flags() & PageFlags::CHECK_AT_PREP.bits(), 0);
    // A double free is still caught: the refcount is always checked.
    pa.test_free_pages(0, q, 0);
    pa.test_free_pages(0, q, 0);
    assert!(take_log().iter().any(|l| l == "page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)"));
    pa.drain_all_pages();
    check(&pa);
}

#[test]
fn tails_of_a_plain_block_cannot_gain_flags() {
    let pa = one_zone(4096);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 3).unwrap();
    let map = pa.memmap();
    assert!(map.pfn_to_page(p).unwrap().set_flags(PageFlags::DIRTY));
    for i in 1..8 {
        let tail = map.pfn_to_page(Pfn(p.0 + i)).unwrap();
        assert!(!tail.set_flags(PageFlags::DIRTY | PageFlags::LRU), "tail {i} has no reference");
        assert_eq!(tail.raw_flags() & PageFlags::CHECK_AT_PREP.bits(), 0);
    }
    pa.test_free_pages(0, p, 3);
    // With the checks on, every page of every block handed out is verified
    // (and a free block with a dirty tail would be reported).
    pa.set_check_pages(PageChecks::On);
    let mut got = Vec::new();
    while let Ok(b) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 3) {
        got.push(b);
    }
    assert_eq!(pa.nr_bad_pages(), 0);
    for b in got {
        pa.test_free_pages(0, b, 3);
    }
    pa.drain_all_pages();
    check(&pa);
}

#[test]
fn cached_watermark_decision_matches_the_full_check() {
    // Random allocations and frees on two CPUs down to and past the LOW
    // watermark: after every step, each zone's cached decision for orders
    // 0-3 equals zone_watermark_ok for every highest zone (the model), so
    // every allocation the fast path makes is one the full check allows.
    let nodes = [NodeSpec { nid: 0, zones: [(B, B + 4096), (0, 0), (B + 4096, B + 8192), (0, 0)] }];
    let pa = build(&nodes, &[(B, B + 8192)], &[0, 0]);
    pa.set_min_free_kbytes(4096);
    let mut held: Vec<(usize, Pfn, u32)> = Vec::new();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for step in 0..20_000 {
        let r = rnd();
        let cpu = (r & 1) as usize;
        if r % 7 < 4 || held.is_empty() {
            let gfp = if r & 8 != 0 { Gfp::KERNEL | Gfp::NOWARN } else { Gfp::KERNEL | Gfp::DMA | Gfp::NOWARN };
            let order = ((r >> 4) % 4) as u32;
            if let Ok(p) = pa.alloc_pages(cpu, gfp, order) {
                held.push((cpu, p, order));
            }
        } else {
            let i = (r >> 8) as usize % held.len();
            let (_, p, order) = held.swap_remove(i);
            pa.test_free_pages(cpu, p, order);
        }
        for zone in pa.node_data(NodeId(0)).unwrap().zones() {
            for z in ZoneType::ALL {
                for order in 0..=3 {
                    let full = zone.zone_watermark_ok(order, zone.low_wmark_pages(), z, AllocFlags::WMARK_LOW);
                    let cached = zone.pcp_wmark_ok(order, z.idx());
                    assert_eq!(cached, full, "step {step}, {} order {order} for highest {z:?}", zone.name());
                }
            }
        }
    }
    for (cpu, p, order) in held {
        pa.test_free_pages(cpu, p, order);
    }
    pa.drain_all_pages();
    check(&pa);
    assert_eq!(pa.nr_free_pages(), 8192);
}

#[test]
fn a_free_into_an_isolated_pageblock_skips_the_pcp_list() {
    let pa = one_zone(4096);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    let pb = p.0 & !(PAGEBLOCK_NR_PAGES - 1);
    let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
    // Straight through the zone: the page in it is unmovable and in use,
    // which start_isolate_page_range would refuse.
    let v = pa.memmap().valid(pb).unwrap();
    zone.set_pageblock_isolate(pa.memmap(), v).unwrap();
    assert_eq!(zone.nr_isolate_pageblock.load(core::sync::atomic::Ordering::Relaxed), 1);
    let pcp_before = zone.pcp_count();
    pa.test_free_pages(0, p, 0);
    assert_eq!(zone.pcp_count(), pcp_before, "the page went to the buddy lists");
    assert_eq!(pa.pageblock_migratetype(p), Some(MigrateType::Isolate));
    zone.unset_pageblock_isolate(pa.memmap(), v, MigrateType::Unmovable).unwrap();
    assert_eq!(zone.nr_isolate_pageblock.load(core::sync::atomic::Ordering::Relaxed), 0);
    pa.drain_all_pages();
    check(&pa);
    assert_eq!(pa.nr_free_pages(), 4096);
}
