//! Host tests of memblock.

use super::grow::array_bytes;
use super::*;
use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::error::Error;
use crate::test_support::{LinearMap, Memblock, Rng, set_linear_map, take_log, take_maps};
use core::fmt;

const G: u64 = 0x4000_0000;
const M: u64 = 0x10_0000;

fn pa(addr: u64) -> PhysAddr {
    PhysAddr(addr)
}

fn ranges(t: &MemblockType) -> Vec<(u64, u64)> {
    t.regions().iter().map(|r| (r.base.0, r.size)).collect()
}

fn snapshot(mb: &Memblock) -> (Vec<MemblockRegion>, Vec<MemblockRegion>) {
    (mb.memory().regions().to_vec(), mb.reserved().regions().to_vec())
}

fn free_ranges(mb: &Memblock, nid: NodeId, flags: MemblockFlags) -> Vec<(u64, u64)> {
    mb.for_each_free_mem_range(nid, flags).map(|(s, e, _)| (s.0, e.0)).collect()
}

/// Sorted, non-overlapping, non-empty, merged, sizes add up.
fn check_invariants(mb: &Memblock) {
    for t in [mb.memory(), mb.reserved()] {
        assert!(t.cnt() <= t.max());
        let rs = t.regions();
        let mut sum = 0u64;
        for (i, r) in rs.iter().enumerate() {
            assert!(r.size > 0, "{}[{i}] is empty", t.name());
            assert!(r.base.0.checked_add(r.size).is_some(), "{}[{i}] overflows", t.name());
            sum += r.size;
            if let Some(next) = rs.get(i + 1) {
                assert!(r.end() <= next.base, "{}[{i}] overlaps or is unsorted", t.name());
                assert!(
                    r.end() != next.base || !r.mergeable_with(next),
                    "{}[{i}] is not merged with its neighbour",
                    t.name()
                );
            }
        }
        assert_eq!(sum, t.total_size(), "{} total_size", t.name());
    }
}

/// `n` one-page regions one page apart from `base`, so none merge.
fn add_scattered(mb: &mut Memblock, base: u64, n: u64) {
    for i in 0..n {
        mb.add(pa(base + i * 0x2000), 0x1000).unwrap();
    }
}

fn reserve_scattered(mb: &mut Memblock, base: u64, n: u64) {
    for i in 0..n {
        mb.reserve(pa(base + i * 0x2000), 0x1000).unwrap();
    }
}

static STATIC_MEMBLOCK: Memblock = Memblock::new();

#[test]
fn new_memblock_is_empty() {
    let mb = &STATIC_MEMBLOCK;
    assert_eq!(mb.memory().cnt(), 0);
    assert_eq!(mb.memory().max(), INIT_MEMBLOCK_REGIONS);
    assert_eq!(mb.memory().name(), "memory");
    assert_eq!(mb.reserved().name(), "reserved");
    assert_eq!(mb.phys_mem_size(), 0);
    assert_eq!(mb.reserved_size(), 0);
    assert_eq!(mb.start_of_dram(), pa(0));
    assert_eq!(mb.end_of_dram(), pa(0));
    assert_eq!(mb.direction(), AllocDirection::TopDown);
    assert_eq!(mb.current_limit(), MEMBLOCK_ALLOC_ANYWHERE);
    assert!(mb.memory().array_range().is_none());
    assert!(!mb.is_memory(pa(0)));
    assert_eq!(mb.for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::NONE).count(), 0);
    assert_eq!(mb.for_each_free_mem_range_reverse(NUMA_NO_NODE, MemblockFlags::NONE).count(), 0);
}

#[test]
fn add_disjoint_regions_stay_sorted() {
    let mut mb = Memblock::new();
    mb.add(pa(0x3000), 0x1000).unwrap();
    mb.add(pa(0x8000), 0x1000).unwrap();
    mb.add(pa(0x1000), 0x1000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0x1000, 0x1000), (0x3000, 0x1000), (0x8000, 0x1000)]);
    assert_eq!(mb.phys_mem_size(), 0x3000);
    assert_eq!(mb.memory().regions()[0].nid, NodeId::UNSET);
    check_invariants(&mb);
}

#[test]
fn add_adjacent_regions_merge() {
    let mut mb = Memblock::new();
    mb.add(pa(0x1000), 0x1000).unwrap();
    mb.add(pa(0x3000), 0x1000).unwrap();
    mb.add(pa(0x2000), 0x1000).unwrap();
    mb.add(pa(0x0), 0x1000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0, 0x4000)]);
    assert_eq!(mb.phys_mem_size(), 0x4000);
    check_invariants(&mb);
}

#[test]
fn add_overlapping_regions_merge_without_double_counting() {
    let mut mb = Memblock::new();
    mb.add(pa(0x1000), 0x2000).unwrap();
    mb.add(pa(0x2000), 0x2000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0x1000, 0x3000)]);
    mb.add(pa(0x0), 0x8000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0, 0x8000)]);
    assert_eq!(mb.phys_mem_size(), 0x8000);
    check_invariants(&mb);
}

#[test]
fn add_inside_existing_region_keeps_its_attributes() {
    let mut mb = Memblock::new();
    mb.add_node(pa(0x1000), 0x4000, NodeId(1), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x2000), 0x1000, NodeId(2), MemblockFlags::NOMAP).unwrap();
    assert_eq!(
        mb.memory().regions(),
        [MemblockRegion { base: pa(0x1000), size: 0x4000, flags: MemblockFlags::NONE, nid: NodeId(1) }]
    );
}

#[test]
fn add_across_several_regions_inserts_only_the_holes() {
    let mut mb = Memblock::new();
    for base in [0x1000, 0x3000, 0x5000] {
        mb.add_node(pa(base), 0x1000, NodeId(0), MemblockFlags::NONE).unwrap();
    }
    mb.add_node(pa(0), 0x8000, NodeId(1), MemblockFlags::NONE).unwrap();
    let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid.0)).collect();
    assert_eq!(
        got,
        [
            (0x0, 0x1000, 1),
            (0x1000, 0x1000, 0),
            (0x2000, 0x1000, 1),
            (0x3000, 0x1000, 0),
            (0x4000, 0x1000, 1),
            (0x5000, 0x1000, 0),
            (0x6000, 0x2000, 1),
        ]
    );
    assert_eq!(mb.phys_mem_size(), 0x8000);
    check_invariants(&mb);

    // Same attributes: the holes fill and everything becomes one region.
    let mut mb = Memblock::new();
    add_scattered(&mut mb, 0x1000, 3);
    mb.add(pa(0), 0x8000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0, 0x8000)]);
    check_invariants(&mb);
}

#[test]
fn different_flags_or_nodes_do_not_merge() {
    let mut mb = Memblock::new();
    mb.add_node(pa(0x0), 0x1000, NodeId(0), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x1000), 0x1000, NodeId(1), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x2000), 0x1000, NodeId(1), MemblockFlags::HOTPLUG).unwrap();
    mb.add_node(pa(0x3000), 0x1000, NodeId(1), MemblockFlags::HOTPLUG).unwrap();
    mb.add(pa(0x4000), 0x1000).unwrap();
    mb.add_node(pa(0x5000), 0x1000, NUMA_NO_NODE, MemblockFlags::NONE).unwrap();
    assert_eq!(
        ranges(mb.memory()),
        [(0, 0x1000), (0x1000, 0x1000), (0x2000, 0x2000), (0x4000, 0x1000), (0x5000, 0x1000)]
    );
    check_invariants(&mb);
}

#[test]
fn zero_size_requests_change_nothing() {
    let mut mb = Memblock::new();
    mb.add(pa(0x1000), 0).unwrap();
    mb.reserve(pa(0x1000), 0).unwrap();
    assert_eq!(mb.memory().cnt() + mb.reserved().cnt(), 0);
    mb.add(pa(0x1000), 0x3000).unwrap();
    mb.reserve(pa(0x2000), 0x1000).unwrap();
    let before = snapshot(&mb);
    mb.remove(pa(0x2000), 0).unwrap();
    mb.free(pa(0x2000), 0).unwrap();
    mb.mark_nomap(pa(0x2000), 0).unwrap();
    mb.set_node(pa(0x2000), 0, NodeId(3)).unwrap();
    mb.cap_memory_range(pa(0x2000), 0).unwrap();
    assert_eq!(snapshot(&mb), before);
}

#[test]
fn ranges_past_u64_max_are_clipped() {
    let mut mb = Memblock::new();
    let top = u64::MAX - 0xfff;
    mb.add(pa(top), 0x10000).unwrap();
    assert_eq!(ranges(mb.memory()), [(top, 0xfff)]);
    assert_eq!(mb.end_of_dram(), pa(u64::MAX));
    // Starting at the last byte leaves nothing.
    mb.add(pa(u64::MAX), 5).unwrap();
    assert_eq!(mb.memory().cnt(), 1);
    mb.reserve(pa(u64::MAX - 0x7ff), u64::MAX).unwrap();
    assert_eq!(ranges(mb.reserved()), [(u64::MAX - 0x7ff, 0x7ff)]);
    mb.remove(pa(u64::MAX - 0x800), u64::MAX).unwrap();
    assert_eq!(ranges(mb.memory()), [(top, 0x7ff)]);
    assert!(mb.is_region_memory(pa(top), 0x7ff));
    assert!(!mb.is_region_memory(pa(top), u64::MAX));
    assert!(mb.is_region_reserved(pa(u64::MAX - 0x10), u64::MAX));
    mb.set_node(pa(0), u64::MAX, NodeId(0)).unwrap();
    assert_eq!(mb.memory().regions()[0].nid, NodeId(0));
    check_invariants(&mb);
}

#[test]
fn remove_in_the_middle_splits_the_region() {
    let mut mb = Memblock::new();
    mb.add_node(pa(0x10000), 0x10000, NodeId(2), MemblockFlags::HOTPLUG).unwrap();
    mb.remove(pa(0x14000), 0x4000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0x10000, 0x4000), (0x18000, 0x8000)]);
    assert!(mb.memory().regions().iter().all(|r| r.nid == NodeId(2) && r.flags == MemblockFlags::HOTPLUG));
    assert_eq!(mb.phys_mem_size(), 0xc000);
    check_invariants(&mb);
}

#[test]
fn remove_at_the_edges_shrinks_the_region() {
    let mut mb = Memblock::new();
    mb.add(pa(0x10000), 0x10000).unwrap();
    mb.remove(pa(0x8000), 0x9000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0x11000, 0xf000)]);
    mb.remove(pa(0x1f000), 0x8000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0x11000, 0xe000)]);
    mb.remove(pa(0x11000), 0xe000).unwrap();
    assert_eq!(mb.memory().cnt(), 0);
    assert_eq!(mb.phys_mem_size(), 0);
    check_invariants(&mb);
}

#[test]
fn remove_spanning_several_regions() {
    let mut mb = Memblock::new();
    mb.add_node(pa(0x1000), 0x1000, NodeId(0), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x3000), 0x1000, NodeId(1), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x4000), 0x1000, NodeId(2), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x5000), 0x1000, NodeId(3), MemblockFlags::NONE).unwrap();
    mb.remove(pa(0x1800), 0x4000).unwrap();
    let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid.0)).collect();
    assert_eq!(got, [(0x1000, 0x800, 0), (0x5800, 0x800, 3)]);
    check_invariants(&mb);
}

#[test]
fn remove_of_a_hole_changes_nothing() {
    let mut mb = Memblock::new();
    mb.add(pa(0x1000), 0x1000).unwrap();
    mb.add(pa(0x4000), 0x1000).unwrap();
    mb.remove(pa(0x2000), 0x2000).unwrap();
    mb.remove(pa(0x100000), 0x1000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0x1000, 0x1000), (0x4000, 0x1000)]);
}

#[test]
fn reserve_and_free() {
    let mut mb = Memblock::new();
    mb.add(pa(G), G).unwrap();
    mb.reserve(pa(G), 0x20_0000).unwrap();
    mb.reserve(pa(G + 0x10_0000), 0x20_0000).unwrap();
    mb.reserve(pa(G + 0x100_0000), 0x1000).unwrap();
    assert_eq!(ranges(mb.reserved()), [(G, 0x30_0000), (G + 0x100_0000, 0x1000)]);
    assert_eq!(mb.reserved().regions()[0].nid, NUMA_NO_NODE);
    assert_eq!(mb.reserved_size(), 0x30_1000);
    assert!(mb.is_reserved(pa(G + 0x2f_ffff)));
    assert!(!mb.is_reserved(pa(G + 0x30_0000)));

    mb.free(pa(G + 0x10_0000), 0x1000).unwrap();
    assert_eq!(ranges(mb.reserved()), [(G, 0x10_0000), (G + 0x10_1000, 0x1f_f000), (G + 0x100_0000, 0x1000)]);
    mb.free(pa(G), 0x200_0000).unwrap();
    assert_eq!(mb.reserved().cnt(), 0);
    assert_eq!(mb.reserved_size(), 0);
    // Memory is untouched by reservations.
    assert_eq!(ranges(mb.memory()), [(G, G)]);
    check_invariants(&mb);
}

#[test]
fn reserve_flags_records_node_and_flags() {
    let mut mb = Memblock::new();
    mb.reserve(pa(0x1000), 0x1000).unwrap();
    mb.reserve_flags(pa(0x2000), 0x1000, NodeId(1), MemblockFlags::RSRV_NOINIT).unwrap();
    mb.reserve(pa(0x3000), 0x1000).unwrap();
    assert_eq!(mb.reserved().cnt(), 3);
    assert_eq!(mb.reserved().regions()[1].nid, NodeId(1));
    assert_eq!(mb.reserved().regions()[1].flags, MemblockFlags::RSRV_NOINIT);
    mb.reserved_mark_noinit(pa(0x1000), 0x1000).unwrap();
    assert_eq!(mb.reserved().regions()[0].flags, MemblockFlags::RSRV_NOINIT);
    check_invariants(&mb);
}

#[test]
fn set_node_splits_and_merges() {
    let mut mb = Memblock::new();
    mb.add(pa(0), 0x10000).unwrap();
    mb.set_node(pa(0x4000), 0x4000, NodeId(1)).unwrap();
    let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid)).collect();
    assert_eq!(got, [(0, 0x4000, NodeId::UNSET), (0x4000, 0x4000, NodeId(1)), (0x8000, 0x8000, NodeId::UNSET)]);
    mb.set_node(pa(0), 0x4000, NodeId(1)).unwrap();
    let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid)).collect();
    assert_eq!(got, [(0, 0x8000, NodeId(1)), (0x8000, 0x8000, NodeId::UNSET)]);
    mb.set_node(pa(0), u64::MAX, NodeId(0)).unwrap();
    assert_eq!(ranges(mb.memory()), [(0, 0x10000)]);
    assert_eq!(mb.memory().regions()[0].nid, NodeId(0));
    check_invariants(&mb);
}

#[test]
fn mark_nomap_splits_and_clear_nomap_merges_back() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 0x10_0000).unwrap();
    mb.mark_nomap(pa(G + 0x1000), 0x2000).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, 0x1000), (G + 0x1000, 0x2000), (G + 0x3000, 0xf_d000)]);
    assert_eq!(mb.memory().regions()[1].flags, MemblockFlags::NOMAP);
    assert!(mb.is_memory(pa(G + 0x1000)));
    assert!(!mb.is_map_memory(pa(G + 0x1000)));
    assert!(mb.is_map_memory(pa(G + 0x3000)));
    // A range spanning both kinds is not inside one region.
    assert!(!mb.is_region_memory(pa(G), 0x2000));
    mb.clear_nomap(pa(G), 0x10_0000).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, 0x10_0000)]);
    assert_eq!(mb.memory().regions()[0].flags, MemblockFlags::NONE);
    mb.mark_hotplug(pa(G), 0x1000).unwrap();
    mb.clear_hotplug(pa(G), 0x1000).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, 0x10_0000)]);
    check_invariants(&mb);
}

#[test]
fn free_ranges_skip_reserved_and_nomap() {
    let mut mb = Memblock::new();
    mb.add(pa(0x10000), 0x10000).unwrap();
    mb.reserve(pa(0x12000), 0x1000).unwrap();
    mb.mark_nomap(pa(0x18000), 0x1000).unwrap();
    let fwd = free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::NONE);
    assert_eq!(fwd, [(0x10000, 0x12000), (0x13000, 0x18000), (0x19000, 0x20000)]);
    let mut rev: Vec<_> =
        mb.for_each_free_mem_range_reverse(NUMA_NO_NODE, MemblockFlags::NONE).map(|(s, e, _)| (s.0, e.0)).collect();
    rev.reverse();
    assert_eq!(rev, fwd);
    // Asking for NOMAP memory explicitly includes it.
    assert_eq!(
        free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::NOMAP),
        [(0x10000, 0x12000), (0x13000, 0x18000), (0x18000, 0x19000), (0x19000, 0x20000)]
    );
    let mapped: Vec<_> = mb.for_each_mem_range().map(|(s, e, _)| (s.0, e.0)).collect();
    assert_eq!(mapped, [(0x10000, 0x18000), (0x19000, 0x20000)]);
    let mut mapped_rev: Vec<_> = mb.for_each_mem_range_rev().map(|(s, e, _)| (s.0, e.0)).collect();
    mapped_rev.reverse();
    assert_eq!(mapped_rev, mapped);
}

#[test]
fn free_ranges_filter_by_node_and_mirror() {
    let mut mb = Memblock::new();
    mb.add_node(pa(0x10000), 0x10000, NodeId(0), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x20000), 0x10000, NodeId(1), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x30000), 0x10000, NodeId(1), MemblockFlags::DRIVER_MANAGED).unwrap();
    mb.reserve(pa(0x1f000), 0x2000).unwrap();
    let node1: Vec<_> = mb.for_each_free_mem_range(NodeId(1), MemblockFlags::NONE).collect();
    assert_eq!(node1, [(pa(0x21000), pa(0x30000), NodeId(1))]);
    assert_eq!(free_ranges(&mb, NodeId::UNSET, MemblockFlags::NONE), [(0x10000, 0x1f000), (0x21000, 0x30000)]);
    assert_eq!(free_ranges(&mb, NodeId(1), MemblockFlags::DRIVER_MANAGED), [(0x21000, 0x30000), (0x30000, 0x40000)]);
    mb.mark_mirror(pa(0x10000), 0x1000).unwrap();
    assert_eq!(free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::MIRROR), [(0x10000, 0x11000)]);
}

#[test]
fn free_ranges_never_yield_the_empty_gap_between_touching_reservations() {
    let mut mb = Memblock::new();
    mb.add(pa(0x10000), 0x10000).unwrap();
    mb.reserve(pa(0x12000), 0x1000).unwrap();
    mb.reserve_flags(pa(0x13000), 0x1000, NUMA_NO_NODE, MemblockFlags::RSRV_NOINIT).unwrap();
    assert_eq!(mb.reserved().cnt(), 2);
    let fwd = free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::NONE);
    assert_eq!(fwd, [(0x10000, 0x12000), (0x14000, 0x20000)]);
    assert_eq!(mb.for_each_free_mem_range_reverse(NUMA_NO_NODE, MemblockFlags::NONE).count(), 2);
}

#[test]
fn mem_pfn_ranges_round_inwards() {
    let mut mb = Memblock::new();
    mb.add_node(pa(0x800), 0x2000, NodeId(0), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x10800), 0x400, NodeId(0), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(0x20000), 0x3000, NodeId(1), MemblockFlags::NONE).unwrap();
    let all: Vec<_> = mb.for_each_mem_pfn_range(NUMA_NO_NODE).collect();
    assert_eq!(all, [(Pfn(1), Pfn(2), NodeId(0)), (Pfn(0x20), Pfn(0x23), NodeId(1))]);
    let node1: Vec<_> = mb.for_each_mem_pfn_range(NodeId(1)).collect();
    assert_eq!(node1, [(Pfn(0x20), Pfn(0x23), NodeId(1))]);
}

#[test]
fn trim_memory_shrinks_regions_and_drops_vanished_ones() {
    let mut mb = Memblock::new();
    mb.add(pa(0x1800), 0x3000).unwrap(); // -> [0x2000, 0x4000)
    mb.add(pa(0x6100), 0x800).unwrap(); // vanishes
    mb.add(pa(0x8000), 0x2000).unwrap(); // already aligned
    mb.add(pa(u64::MAX - 0x7ff), 0x800).unwrap(); // cannot round up
    mb.trim_memory(0x1000).unwrap();
    assert_eq!(ranges(mb.memory()), [(0x2000, 0x2000), (0x8000, 0x2000)]);
    assert_eq!(mb.phys_mem_size(), 0x4000);
    check_invariants(&mb);
    assert_eq!(mb.trim_memory(0), Err(Error::InvalidArgument));
    assert_eq!(mb.trim_memory(0x1800), Err(Error::InvalidArgument));
}

#[test]
fn enforce_memory_limit_in_one_region() {
    let mut mb = Memblock::new();
    mb.add(pa(G), G).unwrap();
    mb.reserve(pa(G + 0x800_0000), 0x1000).unwrap();
    mb.enforce_memory_limit(0x400_0000).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, 0x400_0000)]);
    assert_eq!(mb.reserved().cnt(), 0);
    check_invariants(&mb);
}

#[test]
fn enforce_memory_limit_across_regions_truncates_reservations() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 256 * M).unwrap();
    mb.add(pa(2 * G), 512 * M).unwrap();
    mb.add(pa(3 * G), 512 * M).unwrap();
    mb.reserve(pa(G), M).unwrap();
    mb.reserve(pa(2 * G + 100 * M), M).unwrap();
    mb.reserve(pa(2 * G + 199 * M), 3 * M).unwrap();
    mb.reserve(pa(2 * G + 300 * M), M).unwrap();
    mb.reserve(pa(3 * G), M).unwrap();
    mb.enforce_memory_limit(456 * M).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, 256 * M), (2 * G, 200 * M)]);
    assert_eq!(ranges(mb.reserved()), [(G, M), (2 * G + 100 * M, M), (2 * G + 199 * M, M)]);
    assert_eq!(mb.phys_mem_size(), 456 * M);
    check_invariants(&mb);
}

#[test]
fn enforce_memory_limit_of_zero_or_more_than_memory_does_nothing() {
    let mut mb = Memblock::new();
    mb.add(pa(G), G).unwrap();
    mb.reserve(pa(2 * G + M), M).unwrap();
    let before = snapshot(&mb);
    mb.enforce_memory_limit(0).unwrap();
    mb.enforce_memory_limit(G + 1).unwrap();
    mb.enforce_memory_limit(u64::MAX).unwrap();
    mb.mem_limit_remove_map(0).unwrap();
    mb.mem_limit_remove_map(2 * G).unwrap();
    assert_eq!(snapshot(&mb), before);
    // A limit of exactly the memory size still drops reservations past
    // the end of memory, as Linux's does.
    mb.enforce_memory_limit(G).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, G)]);
    assert_eq!(mb.reserved().cnt(), 0);
}

#[test]
fn enforce_memory_limit_counts_nomap_memory_like_linux() {
    // __find_max_addr walks every memory region, NOMAP ones included.
    let mut mb = Memblock::new();
    mb.add(pa(G), 16 * M).unwrap();
    mb.mark_nomap(pa(G), 4 * M).unwrap();
    mb.enforce_memory_limit(8 * M).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, 4 * M), (G + 4 * M, 4 * M)]);
}

#[test]
fn mem_limit_remove_map_keeps_nomap_regions_above_the_limit() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 16 * M).unwrap();
    mb.mark_nomap(pa(G + 12 * M), M).unwrap();
    mb.reserve(pa(G + 14 * M), M).unwrap();
    mb.mem_limit_remove_map(8 * M).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, 8 * M), (G + 12 * M, M)]);
    assert_eq!(mb.memory().regions()[1].flags, MemblockFlags::NOMAP);
    assert_eq!(mb.reserved().cnt(), 0);
    check_invariants(&mb);
}

#[test]
fn cap_memory_range_keeps_only_the_window() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 16 * M).unwrap();
    mb.add(pa(2 * G), 16 * M).unwrap();
    mb.mark_nomap(pa(G), M).unwrap();
    mb.reserve(pa(G + 2 * M), 4 * M).unwrap();
    mb.reserve(pa(2 * G), M).unwrap();
    mb.cap_memory_range(pa(G + 4 * M), 4 * M).unwrap();
    assert_eq!(ranges(mb.memory()), [(G, M), (G + 4 * M, 4 * M)]);
    assert_eq!(ranges(mb.reserved()), [(G + 4 * M, 2 * M)]);
    check_invariants(&mb);
    // Without memory it only warns.
    let mut empty = Memblock::new();
    empty.reserve(pa(G), M).unwrap();
    empty.cap_memory_range(pa(2 * G), M).unwrap();
    assert_eq!(ranges(empty.reserved()), [(G, M)]);
}

#[test]
fn queries_answer_like_linux() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 16 * M).unwrap();
    mb.add(pa(2 * G), 16 * M).unwrap();
    mb.reserve(pa(G + M), M).unwrap();
    assert_eq!(mb.start_of_dram(), pa(G));
    assert_eq!(mb.end_of_dram(), pa(2 * G + 16 * M));
    assert_eq!(mb.phys_mem_size(), 32 * M);
    assert_eq!(mb.reserved_size(), M);
    assert!(mb.is_memory(pa(G)));
    assert!(mb.is_memory(pa(G + 16 * M - 1)));
    assert!(!mb.is_memory(pa(G + 16 * M)));
    assert!(!mb.is_memory(pa(0)));
    assert!(mb.is_region_memory(pa(G), 16 * M));
    assert!(!mb.is_region_memory(pa(G), 16 * M + 1));
    assert!(!mb.is_region_memory(pa(G - 1), 2));
    assert!(mb.is_region_reserved(pa(G), M + 1));
    assert!(!mb.is_region_reserved(pa(G), M));
    assert!(mb.is_region_reserved(pa(G + 2 * M - 1), 1));
    assert!(!mb.is_region_reserved(pa(G + 2 * M), M));
    assert!(mb.is_map_memory(pa(2 * G)));
    assert!(!mb.is_map_memory(pa(0)));
}

// ----- allocation --------------------------------------------------------

fn one_gig() -> Memblock {
    let mut mb = Memblock::new();
    mb.add(pa(G), G).unwrap();
    mb
}

#[test]
fn alloc_is_top_down_by_default() {
    let mut mb = one_gig();
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(2 * G - 0x1000)));
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(2 * G - 0x2000)));
    assert_eq!(mb.phys_alloc(0x100, 0x10000), Ok(pa(2 * G - 0x10000)));
    assert_eq!(ranges(mb.reserved()), [(2 * G - 0x10000, 0x100), (2 * G - 0x2000, 0x2000)]);
    assert_eq!(mb.reserved().regions()[1].nid, NUMA_NO_NODE);
    check_invariants(&mb);
}

#[test]
fn alloc_bottom_up_on_request() {
    let mut mb = one_gig();
    mb.set_direction(AllocDirection::BottomUp);
    assert!(mb.bottom_up());
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G)));
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + 0x1000)));
    assert_eq!(mb.phys_alloc(0x1000, 0x10000), Ok(pa(G + 0x10000)));
    assert_eq!(mb.phys_alloc(0xe000, 0x1000), Ok(pa(G + 0x2000)));
    assert_eq!(ranges(mb.reserved()), [(G, 0x11000)]);
}

#[test]
fn alloc_alignment_zero_means_cache_line_and_bad_arguments_are_refused() {
    let mut mb = one_gig();
    mb.set_direction(AllocDirection::BottomUp);
    mb.reserve(pa(G), 1).unwrap();
    assert_eq!(mb.phys_alloc(8, 0), Ok(pa(G + SMP_CACHE_BYTES)));
    let before = snapshot(&mb);
    assert_eq!(mb.phys_alloc(8, 3), Err(Error::InvalidArgument));
    assert_eq!(mb.phys_alloc(0, 8), Err(Error::InvalidArgument));
    assert_eq!(mb.alloc_try_nid(8, 0x300, pa(0), pa(0), NUMA_NO_NODE), Err(Error::InvalidArgument));
    assert_eq!(snapshot(&mb), before);
}

#[test]
fn alloc_never_hands_out_the_first_page() {
    let mut mb = Memblock::new();
    mb.add(pa(0), 0x4000).unwrap();
    mb.set_direction(AllocDirection::BottomUp);
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(0x1000)));
    let mut low = Memblock::new();
    low.add(pa(0), 0x1000).unwrap();
    assert_eq!(low.phys_alloc(0x100, 0x100), Err(Error::NoMemory));
    low.set_direction(AllocDirection::BottomUp);
    assert_eq!(low.phys_alloc(0x100, 0x100), Err(Error::NoMemory));
    assert_eq!(low.reserved().cnt(), 0);
}

#[test]
fn alloc_respects_bounds_and_current_limit() {
    let mut mb = one_gig();
    assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, pa(G + M), pa(G + 2 * M)), Ok(pa(G + 2 * M - 0x1000)));
    mb.set_current_limit(pa(G + M));
    assert_eq!(mb.current_limit(), pa(G + M));
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + M - 0x1000)));
    assert_eq!(mb.phys_alloc_try_nid(0x1000, 0x1000, NUMA_NO_NODE), Ok(pa(G + M - 0x2000)));
    // memblock_alloc_try_nid clips max_addr to the limit...
    assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(0), MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE), Ok(pa(G + M - 0x3000)));
    // ...memblock_phys_alloc_range with an explicit end does not.
    assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, pa(0), MEMBLOCK_ALLOC_ANYWHERE), Ok(pa(2 * G - 0x1000)));
    mb.set_direction(AllocDirection::BottomUp);
    assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(G + 0x5000), pa(0), NUMA_NO_NODE), Ok(pa(G + 0x5000)));
    // Nothing left between the bounds.
    let before = snapshot(&mb);
    assert_eq!(mb.phys_alloc_range(0x2000, 0x1000, pa(G + 0x5000), pa(G + 0x6000)), Err(Error::NoMemory));
    assert_eq!(snapshot(&mb), before);
    check_invariants(&mb);
}

#[test]
fn retired_memblock_refuses_allocations() {
    let mut mb = Memblock::new();
    mb.add(PhysAddr(0x4000_0000), 0x100_0000).unwrap();
    let before: Vec<_> = mb.reserved().regions().to_vec();
    mb.retire();
    assert!(mb.is_retired());
    assert_eq!(mb.phys_alloc(4096, 4096), Err(Error::Busy));
    assert_eq!(mb.phys_alloc_range(4096, 4096, PhysAddr(0), PhysAddr(u64::MAX)), Err(Error::Busy));
    assert_eq!(mb.alloc_try_nid(4096, 4096, PhysAddr(0), PhysAddr(u64::MAX), NUMA_NO_NODE), Err(Error::Busy));
    assert_eq!(mb.reserved().regions(), &before[..]);
    // Queries still work.
    assert_eq!(mb.phys_mem_size(), 0x100_0000);
}

#[test]
fn alloc_try_nid_retries_without_min_addr() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 0x10000).unwrap();
    assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, pa(2 * G), MEMBLOCK_ALLOC_ANYWHERE), Err(Error::NoMemory));
    assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(2 * G), MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE), Ok(pa(G + 0xf000)));
}

#[test]
fn alloc_prefers_the_node_then_falls_back() {
    let mut mb = Memblock::new();
    mb.add_node(pa(G), 16 * M, NodeId(0), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(G + 16 * M), 16 * M, NodeId(1), MemblockFlags::NONE).unwrap();
    assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(0)), Ok(pa(G + 16 * M - 0x1000)));
    assert_eq!(mb.phys_alloc_try_nid(0x1000, 0x1000, NodeId(1)), Ok(pa(G + 32 * M - 0x1000)));
    assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(0)), Ok(pa(G + 16 * M - 0x2000)));
    // Fill node 1: the next request for it lands on node 0.
    mb.reserve(pa(G + 16 * M), 16 * M).unwrap();
    assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(1)), Ok(pa(G + 16 * M - 0x3000)));
    let before = snapshot(&mb);
    assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(1)), Err(Error::NoMemory));
    assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(7)), Err(Error::NoMemory));
    assert_eq!(snapshot(&mb), before);
    // An invalid node id means any node.
    assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId::UNSET), Ok(pa(G + 16 * M - 0x4000)));
}

#[test]
fn alloc_never_straddles_two_memory_regions() {
    let mut mb = Memblock::new();
    mb.add_node(pa(G), 0x2000, NodeId(0), MemblockFlags::NONE).unwrap();
    mb.add_node(pa(G + 0x2000), 0x2000, NodeId(1), MemblockFlags::NONE).unwrap();
    assert_eq!(mb.phys_alloc(0x3000, 0x1000), Err(Error::NoMemory));
    assert_eq!(mb.phys_alloc(0x2000, 0x1000), Ok(pa(G + 0x2000)));
}

#[test]
fn alloc_skips_nomap_and_driver_managed_memory() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 0x4000).unwrap();
    mb.add_node(pa(G + 0x4000), 0x4000, NodeId::UNSET, MemblockFlags::DRIVER_MANAGED).unwrap();
    mb.mark_nomap(pa(G + 0x2000), 0x2000).unwrap();
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + 0x1000)));
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G)));
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Err(Error::NoMemory));
}

#[test]
fn alloc_failure_changes_nothing() {
    let mut mb = one_gig();
    mb.reserve(pa(G), G - 0x1000).unwrap();
    let before = snapshot(&mb);
    assert_eq!(mb.phys_alloc(0x2000, 0x1000), Err(Error::NoMemory));
    assert_eq!(mb.alloc_try_nid(0x2000, 0x1000, pa(G), pa(0), NodeId(0)), Err(Error::NoMemory));
    assert_eq!(snapshot(&mb), before);
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(2 * G - 0x1000)));
    assert_eq!(mb.phys_alloc(1, 1), Err(Error::NoMemory));
}

#[test]
fn alloc_prefers_mirrored_memory_once_some_is_marked() {
    let mut mb = one_gig();
    mb.mark_mirror(pa(G), M).unwrap();
    assert!(mb.has_mirror());
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + M - 0x1000)));
    // Too big for what is left of the mirror: any memory will do.
    assert_eq!(mb.phys_alloc(2 * M, 0x1000), Ok(pa(2 * G - 2 * M)));
}

// ----- growth ------------------------------------------------------------

#[test]
fn memory_array_grows_past_128_regions() {
    let _ = take_maps();
    let mut mb = Memblock::new();
    mb.allow_resize();
    mb.add(pa(G), 16 * M).unwrap();
    add_scattered(&mut mb, 2 * G, 199);
    assert_eq!(mb.memory().cnt(), 200);
    assert_eq!(mb.memory().max(), 256);
    let bytes = array_bytes(256);
    assert_eq!(bytes, 0x2000);
    // Top-down: the 8 KiB array goes to the top of the big region, the
    // one-page regions being too small.
    assert_eq!(mb.memory().array_range(), Some((pa(G + 16 * M - bytes), bytes)));
    assert_eq!(take_maps(), [(G + 16 * M - bytes, bytes as usize)]);
    assert_eq!(ranges(mb.reserved()), [(G + 16 * M - bytes, bytes)]);
    assert_eq!(mb.memory().regions()[0].base, pa(G));
    for i in 0..199 {
        assert_eq!(mb.memory().regions()[i as usize + 1].base, pa(2 * G + i * 0x2000));
    }
    check_invariants(&mb);

    // Again past 256: the 256-slot array is freed, the 512-slot one kept.
    add_scattered(&mut mb, 3 * G, 100);
    assert_eq!(mb.memory().cnt(), 300);
    assert_eq!(mb.memory().max(), 512);
    let (phys, len) = mb.memory().array_range().unwrap();
    assert_eq!(len, array_bytes(512));
    assert_eq!(ranges(mb.reserved()), [(phys.0, len)]);
    assert!(phys.0 + len <= G + 16 * M - bytes);
    assert_eq!(mb.phys_mem_size(), 16 * M + 299 * 0x1000);
    check_invariants(&mb);
}

#[test]
fn reserved_array_grows_and_reserves_itself() {
    let mut mb = Memblock::new();
    mb.allow_resize();
    mb.add(pa(G), 16 * M).unwrap();
    reserve_scattered(&mut mb, G, 300);
    assert!(mb.reserved().max() >= 301);
    let (phys, len) = mb.reserved().array_range().unwrap();
    let user: Vec<(u64, u64)> = (0..300).map(|i| (G + i * 0x2000, 0x1000)).collect();
    let mut expected = user.clone();
    expected.push((phys.0, len));
    expected.sort();
    assert_eq!(ranges(mb.reserved()), expected);
    assert_eq!(mb.reserved_size(), 300 * 0x1000 + len);
    check_invariants(&mb);
    // Freeing everything the user reserved leaves only the array.
    mb.free(pa(G), phys.0 - G).unwrap();
    assert_eq!(ranges(mb.reserved()), [(phys.0, len)]);
}

#[test]
fn growing_memory_also_grows_a_full_reserved_array() {
    let mut mb = Memblock::new();
    mb.allow_resize();
    mb.add(pa(G), 16 * M).unwrap();
    reserve_scattered(&mut mb, G, 128);
    assert_eq!(mb.reserved().cnt(), 128);
    add_scattered(&mut mb, 2 * G, 128);
    assert_eq!(mb.memory().cnt(), 129);
    let (mphys, mlen) = mb.memory().array_range().unwrap();
    let (rphys, rlen) = mb.reserved().array_range().unwrap();
    assert!(mphys.0 + mlen <= rphys.0 || rphys.0 + rlen <= mphys.0);
    assert!(mb.is_region_reserved(mphys, mlen) && mb.is_region_reserved(rphys, rlen));
    assert_eq!(mb.reserved().cnt(), 128 + 1);
    assert_eq!(mb.reserved_size(), 128 * 0x1000 + mlen + rlen);
    for i in 0..128 {
        assert!(mb.is_reserved(pa(G + i * 0x2000)));
        assert!(!mb.is_reserved(pa(G + i * 0x2000 + 0x1000)));
    }
    check_invariants(&mb);
}

#[test]
fn grown_array_avoids_the_range_being_inserted_or_removed() {
    // Reserve at the very top of memory, where top-down would put the
    // new reserved array.
    let mut mb = Memblock::new();
    mb.allow_resize();
    mb.add(pa(G), 2 * M).unwrap();
    reserve_scattered(&mut mb, G, 128);
    let top = G + 2 * M - 0x4000;
    mb.reserve(pa(top), 0x4000).unwrap();
    let (phys, len) = mb.reserved().array_range().unwrap();
    assert_eq!((phys.0, len), (top - len, len));
    check_invariants(&mb);

    // Remove the top of memory while the memory array is full.
    let mut mb = Memblock::new();
    mb.allow_resize();
    mb.add(pa(G), M).unwrap();
    add_scattered(&mut mb, 2 * G, 127);
    assert_eq!(mb.memory().cnt(), 128);
    mb.remove(pa(G + M - 0x8000), 0x8000).unwrap();
    let (phys, len) = mb.memory().array_range().unwrap();
    assert_eq!(phys.0, G + M - 0x8000 - len);
    assert!(mb.is_region_memory(phys, len));
    assert_eq!(ranges(mb.reserved()), [(phys.0, len)]);
    check_invariants(&mb);
}

#[test]
fn growth_without_a_mapper_fails_and_changes_nothing() {
    let mut mb = Memblock::new();
    mb.add(pa(G), 16 * M).unwrap();
    add_scattered(&mut mb, 2 * G, 127);
    reserve_scattered(&mut mb, G, 128);
    assert_eq!((mb.memory().cnt(), mb.reserved().cnt()), (128, 128));
    mb.set_debug(true);
    let _ = take_log();
    let before = snapshot(&mb);
    let fail = Err(Error::NoMemory);
    assert_eq!(mb.add(pa(3 * G), 0x1000), fail);
    // Linux counts the hole before merging, so even a filling add fails.
    assert_eq!(mb.add(pa(2 * G + 0x1000), 0x1000), fail);
    assert_eq!(mb.reserve(pa(G + 0x1000), 0x1000), fail);
    assert_eq!(mb.free(pa(G + 0x400), 0x100), fail);
    assert_eq!(mb.mark_nomap(pa(G + 0x1000), 0x1000), fail);
    assert_eq!(mb.set_node(pa(G), M, NodeId(1)), fail);
    // memblock_isolate_range wants two spare slots even for a hole.
    assert_eq!(mb.remove(pa(3 * G), 0x1000), fail);
    assert_eq!(mb.enforce_memory_limit(M), fail);
    assert_eq!(mb.phys_alloc(0x1000, 0x1000).map(|_| ()), fail);
    assert_eq!(snapshot(&mb), before);
    // What needs no new slot still works.
    assert_eq!(mb.add(pa(2 * G), 0x1000), Ok(()));
    assert_eq!(mb.reserve(pa(G), 0x1000), Ok(()));
    assert_eq!(snapshot(&mb), before);
    let log = take_log();
    for name in ["memory", "reserved"] {
        let line = format!("memblock: Failed to double {name} array from 128 to 256 entries !");
        assert!(log.contains(&line), "{log:?}");
    }
    check_invariants(&mb);
}

#[test]
fn growth_fails_cleanly_when_the_mapper_or_memory_gives_out() {
    for mode in [LinearMap::Refuse, LinearMap::Misaligned] {
        set_linear_map(mode);
        let mut mb = Memblock::new();
        mb.allow_resize();
        mb.add(pa(G), 16 * M).unwrap();
        reserve_scattered(&mut mb, G, 128);
        let before = snapshot(&mb);
        assert_eq!(mb.reserve(pa(2 * G), 0x1000), Err(Error::NoMemory));
        assert_eq!(snapshot(&mb), before);
        assert!(mb.reserved().array_range().is_none());
    }
    set_linear_map(LinearMap::Fresh);
    // A linear map, but only single free pages: no room for an 8 KiB array.
    let mut mb = Memblock::new();
    mb.allow_resize();
    mb.add(pa(G), M).unwrap();
    reserve_scattered(&mut mb, G, 128);
    add_scattered(&mut mb, 2 * G, 127);
    let before = snapshot(&mb);
    assert_eq!(mb.reserve(pa(2 * G), 0x1000), Err(Error::NoMemory));
    assert_eq!(mb.phys_alloc(0x1000, 0x1000), Err(Error::NoMemory));
    assert_eq!(mb.add(pa(3 * G), 0x1000), Err(Error::NoMemory));
    assert_eq!(snapshot(&mb), before);
    assert!(mb.memory().array_range().is_none() && mb.reserved().array_range().is_none());
}

// ----- debug output --------------------------------------------------------

#[test]
fn debug_lines_follow_linux_format_with_the_callers_location() {
    let mut mb = Memblock::new();
    mb.set_debug(true);
    let _ = take_log();
    let at = |line: u32| format!("{}:{}", file!(), line);

    let (r, l) = (mb.add(pa(G), G), line!());
    r.unwrap();
    let (r, l2) = (mb.reserve(pa(G), 0x20_0000), line!());
    r.unwrap();
    let (n1, nomap, z, any) = (NodeId(1), MemblockFlags::NOMAP, pa(0), NUMA_NO_NODE);
    let (r, l3) = (mb.add_node(pa(2 * G), G, n1, nomap), line!());
    r.unwrap();
    let (r, l4) = (mb.free(pa(G), 0x1000), line!());
    r.unwrap();
    let (r, l5) = (mb.alloc_try_nid(4096, 0x1000, z, z, any), line!());
    r.unwrap();
    let (r, l6) = (mb.phys_alloc(4096, 0x1000), line!());
    r.unwrap();
    let (r, l7) = (mb.set_node(pa(G), 0x1000, NodeId(0)), line!());
    r.unwrap();
    let (r, l8) = (mb.remove(pa(3 * G), 0), line!());
    r.unwrap();
    assert_eq!(
        take_log(),
        [
            format!("memblock_add: [0x0000000040000000-0x000000007fffffff] {}", at(l)),
            format!("memblock_reserve: [0x0000000040000000-0x00000000401fffff] {}", at(l2)),
            format!("memblock_add_node: [0x0000000080000000-0x00000000bfffffff] nid=1 flags=4 {}", at(l3)),
            format!("memblock_phys_free: [0x0000000040000000-0x0000000040000fff] {}", at(l4)),
            format!(
                "memblock_alloc_try_nid: 4096 bytes align=0x1000 nid=-1 from=0x0000000000000000 max_addr=0x0000000000000000 {}",
                at(l5)
            ),
            // Where it landed, as Linux's memblock_alloc_range_nid reports
            // through memblock_reserve (top-down: the top of the mapped node).
            "memblock_reserve: [0x000000007ffff000-0x000000007fffffff] memblock_alloc_range_nid".to_string(),
            format!(
                "memblock_phys_alloc_range: 4096 bytes align=0x1000 from=0x0000000000000000 max_addr=0x0000000000000000 {}",
                at(l6)
            ),
            "memblock_reserve: [0x000000007fffe000-0x000000007fffefff] memblock_alloc_range_nid".to_string(),
            format!("memblock_set_node: [0x0000000040000000-0x0000000040000fff] nid=0 {}", at(l7)),
            // Linux prints base + size - 1 even for an empty range.
            format!("memblock_remove: [0x00000000c0000000-0x00000000bfffffff] {}", at(l8)),
        ]
    );
}

#[test]
fn debug_lines_report_growth() {
    let mut mb = Memblock::new();
    mb.allow_resize();
    mb.add(pa(G), 16 * M).unwrap();
    reserve_scattered(&mut mb, G, 128);
    mb.set_debug(true);
    let _ = take_log();
    mb.reserve(pa(2 * G), 0x1000).unwrap();
    let log = take_log();
    let (phys, _) = mb.reserved().array_range().unwrap();
    let end = phys.0 + 256 * size_of::<MemblockRegion>() as u64 - 1;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[1], format!("memblock: reserved is doubled to 256 at [{:#018x}-{end:#018x}]", phys.0));
}

#[test]
fn no_debug_hook_means_no_lines() {
    let mut mb = Memblock::new();
    let _ = take_log();
    mb.add(pa(G), G).unwrap();
    mb.reserve(pa(G), M).unwrap();
    mb.phys_alloc(0x1000, 0).unwrap();
    mb.dump_all();
    assert!(take_log().is_empty());
}

#[test]
fn dump_matches_linux_layout() {
    let mut mb = Memblock::new();
    mb.add(pa(G), G).unwrap();
    mb.set_node(pa(0), u64::MAX, NodeId(0)).unwrap();
    mb.reserve(pa(G), 0x1000).unwrap();
    mb.reserve_flags(pa(G + 0x1000_0000), 0x2000, NodeId(1), MemblockFlags::RSRV_NOINIT).unwrap();
    let mut out = String::new();
    mb.dump(&mut out).unwrap();
    let expected = "MEMBLOCK configuration:\n \
        memory size = 0x0000000040000000 reserved size = 0x0000000000003000\n \
        memory.cnt  = 0x1\n \
        memory[0x0]\t[0x0000000040000000-0x000000007fffffff], 0x0000000040000000 bytes on node 0 flags: 0x0\n \
        reserved.cnt  = 0x2\n \
        reserved[0x0]\t[0x0000000040000000-0x0000000040000fff], 0x0000000000001000 bytes flags: 0x0\n \
        reserved[0x1]\t[0x0000000050000000-0x0000000050001fff], 0x0000000000002000 bytes on node 1 flags: 0x10\n";
    assert_eq!(out, expected);
    mb.set_debug(true);
    let _ = take_log();
    mb.dump_all();
    let lines: Vec<String> = expected.lines().map(String::from).collect();
    assert_eq!(take_log(), lines);
}

// ----- randomized, against a model ---------------------------------------------

/// Bytes per model unit; all random ranges are whole units.
const U: u64 = 0x100;
/// Untouched memory below them where grown arrays find room (128 KiB).
const ARENA: usize = 512;

type Attr = Option<(i32, u32)>;

/// Per-unit truth: which units are memory / reserved, with (nid, flags).
struct Model {
    mem: Vec<Attr>,
    res: Vec<Attr>,
}

impl Model {
    fn new(units: usize) -> Self {
        Self { mem: vec![None; units], res: vec![None; units] }
    }

    /// The regions memblock must hold: maximal runs of equal attributes.
    fn runs(units: &[Attr]) -> Vec<MemblockRegion> {
        let mut out: Vec<MemblockRegion> = Vec::new();
        for (i, attr) in units.iter().enumerate() {
            let Some((nid, flags)) = *attr else { continue };
            let base = i as u64 * U;
            if let Some(last) = out.last_mut()
                && last.end().0 == base
                && last.nid == NodeId(nid)
                && last.flags.bits() == flags
            {
                last.size += U;
                continue;
            }
            out.push(MemblockRegion {
                base: pa(base),
                size: U,
                flags: MemblockFlags::from_bits_retain(flags),
                nid: NodeId(nid),
            });
        }
        out
    }

    fn fill(units: &mut [Attr], b: usize, e: usize, attr: (i32, u32)) {
        for u in &mut units[b..e] {
            u.get_or_insert(attr);
        }
    }

    fn clear(units: &mut [Attr], b: usize, e: usize) {
        units[b..e].fill(None);
    }

    fn holes(units: &[Attr], b: usize, e: usize) -> usize {
        (b..e).filter(|&u| units[u].is_none() && (u == b || units[u - 1].is_some())).count()
    }

    /// Free ranges as Linux defines them: each memory region minus
    /// reserved, NOMAP and DRIVER_MANAGED regions skipped.
    fn free_ranges(&self, nid: NodeId) -> Vec<(u64, u64)> {
        self.free_ranges_in(&Self::runs(&self.mem), nid)
    }

    /// [`free_ranges`](Self::free_ranges) given the memory runs.
    fn free_ranges_in(&self, mem_runs: &[MemblockRegion], nid: NodeId) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for r in mem_runs {
            if (nid.is_valid() && r.nid != nid)
                || r.flags.intersects(MemblockFlags::NOMAP | MemblockFlags::DRIVER_MANAGED)
            {
                continue;
            }
            let (mut u, end) = ((r.base.0 / U) as usize, (r.end().0 / U) as usize);
            while u < end {
                if self.res[u].is_some() {
                    u += 1;
                    continue;
                }
                let start = u;
                while u < end && self.res[u].is_none() {
                    u += 1;
                }
                out.push((start as u64 * U, u as u64 * U));
            }
        }
        out
    }

    #[expect(clippy::too_many_arguments, reason = "memblock_find_in_range_node's inputs")]
    fn find(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: NodeId,
        dir: AllocDirection,
        limit: u64,
    ) -> Option<u64> {
        let end = if end == 0 { limit } else { end };
        let start = start.max(PAGE_SIZE);
        let end = end.max(start);
        let ranges = self.free_ranges(nid);
        let clamp = |(s, e): (u64, u64)| (s.clamp(start, end), e.clamp(start, end));
        match dir {
            AllocDirection::BottomUp => ranges.into_iter().map(clamp).find_map(|(s, e)| {
                let cand = s.checked_next_multiple_of(align)?;
                (cand < e && e - cand >= size).then_some(cand)
            }),
            AllocDirection::TopDown => ranges.into_iter().rev().map(clamp).find_map(|(s, e)| {
                let cand = e.checked_sub(size)? / align * align;
                (cand >= s).then_some(cand)
            }),
        }
    }
}

/// Like assert_eq! on two lists, but shows only where they first differ.
fn assert_same<T: PartialEq + fmt::Debug>(what: &str, got: &[T], want: &[T]) {
    if got != want {
        let i = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
        panic!(
            "{what}: {} entries, expected {}; first difference at {i}: {:?} != {:?}",
            got.len(),
            want.len(),
            got.get(i),
            want.get(i)
        );
    }
}

fn check_against_model(mb: &Memblock, model: &Model) {
    check_invariants(mb);
    let mem_runs = Model::runs(&model.mem);
    assert_same("memory", mb.memory().regions(), &mem_runs);
    assert_same("reserved", mb.reserved().regions(), &Model::runs(&model.res));
    for nid in [NUMA_NO_NODE, NodeId(1)] {
        let want = model.free_ranges_in(&mem_runs, nid);
        let got: Vec<_> = mb.for_each_free_mem_range(nid, MemblockFlags::NONE).map(|(s, e, _)| (s.0, e.0)).collect();
        assert_same("free ranges", &got, &want);
        let mut rev: Vec<_> =
            mb.for_each_free_mem_range_reverse(nid, MemblockFlags::NONE).map(|(s, e, _)| (s.0, e.0)).collect();
        rev.reverse();
        assert_same("reverse free ranges", &rev, &want);
    }
}

/// Replay on the model what growth did to `reserved`: old arrays freed,
/// new ones reserved, all before the operation's own effect.
fn apply_growth(model: &mut Model, before: [Option<(PhysAddr, u64)>; 2], after: [Option<(PhysAddr, u64)>; 2]) -> usize {
    let unit = |(p, len): (PhysAddr, u64)| ((p.0 / U) as usize, ((p.0 + len) / U) as usize);
    let mut grown = 0;
    for (old, new) in before.iter().zip(after) {
        if *old != new
            && let Some(old) = *old
        {
            let (b, e) = unit(old);
            Model::clear(&mut model.res, b, e);
        }
    }
    for (old, new) in before.iter().zip(after) {
        if *old != new
            && let Some(new) = new
        {
            let (b, e) = unit(new);
            assert!(model.res[b..e].iter().all(Option::is_none), "array placed on reserved memory");
            assert!(
                model.mem[b..e].iter().all(|m| m.is_some_and(|(_, f)| f & MemblockFlags::NOMAP.bits() == 0)),
                "array placed outside mapped memory"
            );
            Model::fill(&mut model.res, b, e, (NUMA_NO_NODE.0, 0));
            grown += 1;
        }
    }
    grown
}

fn with_step_context(step: usize, op: u64, check: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).is_err() {
        panic!("model check failed after step {step} (op {op})");
    }
}

#[derive(Default, Debug)]
struct Stats {
    ok: usize,
    no_memory: usize,
    grown: usize,
    allocs: usize,
    max_cnt: usize,
}

/// `steps` random operations on units `[arena, arena + units)`, checked
/// against the model after each. Units `[0, arena)` start as memory of
/// node 3 that only allocations touch, so that arrays can grow.
fn random_ops(seed: u64, steps: usize, resize: bool, arena: usize, units: usize) -> Stats {
    let mut rng = Rng(seed);
    let mut mb = Memblock::new();
    if resize {
        mb.allow_resize();
    }
    let total = arena + units;
    let mut model = Model::new(total);
    if arena > 0 {
        mb.add_node(pa(0), arena as u64 * U, NodeId(3), MemblockFlags::NONE).unwrap();
        Model::fill(&mut model.mem, 0, arena, (3, 0));
    }
    let floor = arena as u64 * U;
    let mut stats = Stats::default();
    let nids = [0, 1, 2, NodeId::UNSET.0];
    let mem_flags =
        [0, 0, 0, MemblockFlags::NOMAP.bits(), MemblockFlags::HOTPLUG.bits(), MemblockFlags::DRIVER_MANAGED.bits()];
    for step in 0..steps {
        let b = arena + rng.below(units as u64) as usize;
        let len = match rng.below(64) {
            0..=3 => 0,
            4 => rng.below(units as u64) as usize,
            5..=12 => 1 + rng.below(32) as usize,
            _ => 1 + rng.below(4) as usize,
        };
        let e = (b + len).min(total);
        let (base, size) = (pa(b as u64 * U), (e - b) as u64 * U);
        let arrays = |mb: &Memblock| [mb.memory().array_range(), mb.reserved().array_range()];
        let arrays_before = arrays(&mb);
        let before = snapshot(&mb);
        let (mem_cnt, mem_max) = (mb.memory().cnt(), mb.memory().max());
        let (res_cnt, res_max) = (mb.reserved().cnt(), mb.reserved().max());
        // Whether an isolate on memory / reserved would need growth.
        let isolate_grows = |cnt: usize, max: usize| size > 0 && cnt + 2 > max;

        let mut op = rng.below(100);
        if op >= 98 && rng.below(4) != 0 {
            // trim_memory and enforce_memory_limit wipe a lot: keep them rare.
            op = 0;
        }
        let (result, needs_growth): (Result<(), Error>, bool) = match op {
            0..=24 => {
                let nid = rng.pick(&nids);
                let flags = rng.pick(&mem_flags);
                let holes = Model::holes(&model.mem, b, e);
                let r = if nid == NodeId::UNSET.0 && flags == 0 && rng.below(2) == 0 {
                    mb.add(base, size)
                } else {
                    mb.add_node(base, size, NodeId(nid), MemblockFlags::from_bits_retain(flags))
                };
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    Model::fill(&mut model.mem, b, e, (nid, flags));
                }
                (r, mem_cnt + holes > mem_max)
            }
            25..=34 => {
                let r = mb.remove(base, size);
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    Model::clear(&mut model.mem, b, e);
                }
                (r, isolate_grows(mem_cnt, mem_max))
            }
            35..=54 => {
                let holes = Model::holes(&model.res, b, e);
                let (nid, flags) = match rng.below(4) {
                    0 => (NodeId(1), MemblockFlags::RSRV_NOINIT),
                    1 => (NodeId(0), MemblockFlags::NONE),
                    _ => (NUMA_NO_NODE, MemblockFlags::NONE),
                };
                let r =
                    if nid == NUMA_NO_NODE { mb.reserve(base, size) } else { mb.reserve_flags(base, size, nid, flags) };
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    Model::fill(&mut model.res, b, e, (nid.0, flags.bits()));
                }
                (r, res_cnt + holes > res_max)
            }
            55..=69 => {
                let r = mb.free(base, size);
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    Model::clear(&mut model.res, b, e);
                }
                (r, isolate_grows(res_cnt, res_max))
            }
            70..=75 => {
                let set = rng.below(2) == 0;
                let r = if set { mb.mark_nomap(base, size) } else { mb.clear_nomap(base, size) };
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    for (_, f) in model.mem[b..e].iter_mut().flatten() {
                        if set {
                            *f |= MemblockFlags::NOMAP.bits();
                        } else {
                            *f &= !MemblockFlags::NOMAP.bits();
                        }
                    }
                }
                (r, isolate_grows(mem_cnt, mem_max))
            }
            76..=81 => {
                let nid = rng.pick(&nids);
                let r = mb.set_node(base, size, NodeId(nid));
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    for (n, _) in model.mem[b..e].iter_mut().flatten() {
                        *n = nid;
                    }
                }
                (r, isolate_grows(mem_cnt, mem_max))
            }
            82..=96 => {
                stats.allocs += 1;
                let size = (1 + rng.below(8)) * U;
                let align = rng.pick(&[0, U, 0x1000, 0x2000]);
                let nid = NodeId(rng.pick(&[-1, 0, 1, 2]));
                let bound = |rng: &mut Rng| match rng.below(3) {
                    0 => 0,
                    1 => u64::MAX,
                    _ => floor + rng.below(units as u64 + 1) * U,
                };
                // Allocations stay out of the arena unless they retry
                // without min_addr.
                let (lo, hi) = (bound(&mut rng).max(floor), bound(&mut rng));
                let dir = mb.direction();
                let limit = mb.current_limit().0;
                let find =
                    |start: u64, end: u64, nid: NodeId| model.find(size, align.max(64), start, end, nid, dir, limit);
                let (r, candidates) = match rng.below(3) {
                    0 => (
                        mb.phys_alloc_range(size, align, pa(lo.min(u64::MAX - 1)), pa(hi)),
                        vec![find(lo, hi, NUMA_NO_NODE)],
                    ),
                    1 => {
                        let max = hi.min(limit);
                        let mut c = vec![find(lo, max, nid)];
                        if nid.is_valid() {
                            c.push(find(lo, max, NUMA_NO_NODE));
                        }
                        if lo != 0 {
                            c.push(find(0, max, nid));
                            if nid.is_valid() {
                                c.push(find(0, max, NUMA_NO_NODE));
                            }
                        }
                        (mb.alloc_try_nid(size, align, pa(lo), pa(hi), nid), c)
                    }
                    _ => {
                        let max = hi.min(limit);
                        let mut c = vec![find(lo, max, nid)];
                        if lo != 0 {
                            c.push(find(0, max, nid));
                        }
                        (mb.alloc_exact_nid(size, align, pa(lo), pa(hi), nid), c)
                    }
                };
                let candidates: Vec<u64> = candidates.into_iter().flatten().collect();
                let room = res_cnt < res_max;
                match r {
                    Ok(addr) => {
                        if room {
                            assert_eq!(Some(&addr.0), candidates.first(), "step {step}: allocation address");
                        } else {
                            assert!(candidates.contains(&addr.0), "step {step}: allocation address");
                        }
                        assert_eq!(addr.0 % align.max(64), 0);
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        let (ub, ue) = ((addr.0 / U) as usize, ((addr.0 + size) / U) as usize);
                        Model::fill(&mut model.res, ub, ue, (NUMA_NO_NODE.0, 0));
                        (Ok(()), false)
                    }
                    Err(err) => {
                        assert_eq!(err, Error::NoMemory);
                        assert!(candidates.is_empty() || !room, "step {step}: allocation failed with room");
                        (Ok(()), false)
                    }
                }
            }
            97 if arena > 0 && rng.below(2) == 0 => {
                // Allocations that retried from 0 eat into the arena:
                // give all of it back, the arrays' own memory included
                // (a misuse memblock must survive: growth still keeps
                // clear of the arrays in use).
                let r = mb.free(pa(0), floor);
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    Model::clear(&mut model.res, 0, arena);
                }
                (r, res_cnt + 2 > res_max)
            }
            97 => {
                mb.set_direction(rng.pick(&[AllocDirection::TopDown, AllocDirection::BottomUp]));
                let some_limit = pa(floor + rng.below(units as u64) * U);
                mb.set_current_limit(rng.pick(&[MEMBLOCK_ALLOC_ANYWHERE, some_limit]));
                (Ok(()), false)
            }
            98 => {
                let align = rng.pick(&[0x200, 0x400, 0x1000]);
                mb.trim_memory(align).unwrap();
                let kept: Vec<_> = Model::runs(&model.mem)
                    .into_iter()
                    .filter_map(|r| {
                        let s = r.base.0.next_multiple_of(align);
                        let e = r.end().0 / align * align;
                        (s < e).then_some(((s / U) as usize, (e / U) as usize, (r.nid.0, r.flags.bits())))
                    })
                    .collect();
                model.mem.fill(None);
                for (b, e, attr) in kept {
                    Model::fill(&mut model.mem, b, e, attr);
                }
                (Ok(()), false)
            }
            _ => {
                let limit = floor + rng.below(units as u64) * U;
                let mem_bytes: u64 = model.mem.iter().flatten().count() as u64 * U;
                let r = mb.enforce_memory_limit(limit);
                if r.is_ok() {
                    apply_growth(&mut model, arrays_before, arrays(&mb));
                    if limit != 0 && limit <= mem_bytes {
                        // __find_max_addr: just past the unit where the limit runs out.
                        let mut left = limit;
                        let mut cut = total;
                        for (u, m) in model.mem.iter().enumerate() {
                            if m.is_some() {
                                left -= U;
                                if left == 0 {
                                    cut = u + 1;
                                    break;
                                }
                            }
                        }
                        Model::clear(&mut model.mem, cut, total);
                        Model::clear(&mut model.res, cut, total);
                    }
                }
                let grows = limit != 0 && limit <= mem_bytes && (mem_cnt + 2 > mem_max || res_cnt + 2 > res_max);
                (r, grows)
            }
        };
        match result {
            Ok(()) => stats.ok += 1,
            Err(err) => {
                assert_eq!(err, Error::NoMemory, "step {step}");
                assert!(needs_growth, "step {step}: op {op} failed without needing room");
                assert_eq!(snapshot(&mb), before, "step {step}: failed op changed state");
                stats.no_memory += 1;
            }
        }
        if !resize {
            assert!(result.is_ok() || needs_growth);
            if needs_growth {
                assert!(result.is_err(), "step {step}: op {op} succeeded without room");
            }
        }
        if arrays(&mb) != arrays_before {
            stats.grown += 1;
        }
        stats.max_cnt = stats.max_cnt.max(mb.memory().cnt()).max(mb.reserved().cnt());
        with_step_context(step, op, || check_against_model(&mb, &model));
    }
    stats
}

#[test]
fn random_operations_match_the_model_without_growth() {
    let stats = random_ops(0x9e37_79b9_7f4a_7c15, 5000, false, 0, 768);
    // Both arrays fill up, and many operations meet a full array.
    assert!(stats.no_memory > 100 && stats.allocs > 500, "{stats:?}");
    assert_eq!(stats.grown, 0);
}

#[test]
fn random_operations_match_the_model_with_growth() {
    let _ = take_maps();
    let stats = random_ops(0x2545_f491_4f6c_dd1d, 5000, true, ARENA, 2048);
    // Both arrays grow at least twice, so grown arrays are freed too.
    assert!(stats.grown >= 3 && stats.max_cnt > 2 * INIT_MEMBLOCK_REGIONS, "{stats:?}");
    assert_eq!(stats.no_memory, 0, "{stats:?}");
}

/// The model check over many short random runs: each seed is a different
/// sequence of adds, removes, reserves, frees, marks, limits and
/// allocations, half of them with arrays that may grow.
#[test]
fn random_operations_match_the_model_for_many_seeds() {
    for seed in 1..=24u64 {
        let seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let stats =
            if seed % 2 == 0 { random_ops(seed, 400, false, 0, 512) } else { random_ops(seed, 400, true, ARENA, 1024) };
        assert!(stats.ok > 0, "seed {seed:#x}: {stats:?}");
    }
}

#[test]
fn set_reserved_node_names_the_node_in_the_dump() {
    let mut mb = Memblock::new();
    mb.add_node(PhysAddr(0x4000_0000), 0x4000_0000, NodeId(0), MemblockFlags::empty()).unwrap();
    mb.reserve(PhysAddr(0x4020_0000), 0x1000).unwrap();
    mb.reserve(PhysAddr(0x7000_0000), 0x1000).unwrap();
    mb.set_reserved_node(PhysAddr(0x4000_0000), 0x2000_0000, NodeId(0)).unwrap();
    let mut s = String::new();
    mb.dump(&mut s).unwrap();
    assert!(
        s.contains(
            " reserved[0x0]\t[0x0000000040200000-0x0000000040200fff], 0x0000000000001000 bytes on node 0 flags: 0x0"
        ),
        "{s}"
    );
    assert!(
        s.contains(" reserved[0x1]\t[0x0000000070000000-0x0000000070000fff], 0x0000000000001000 bytes flags: 0x0"),
        "{s}"
    );
}
