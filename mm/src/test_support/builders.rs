//! Building page allocators over a Vec-backed memmap, and checking them.

use core::mem::MaybeUninit;
use std::collections::BTreeMap;

use crate::addr::Pfn;
use crate::config::{
    MAX_NR_ZONES, MAX_PAGE_ORDER, NR_CPUS, NR_PAGE_ORDERS, NodeId, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER,
};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::{MemMap, PageFlags};
use crate::page_alloc::{AllocatorFlags, PgData};

use super::hal::{PageAllocator, take_log};

/// One node: its id and zone spans (start, end) in zone order.
pub struct NodeSpec {
    pub nid: i32,
    pub zones: [(u64, u64); MAX_NR_ZONES],
}

pub fn storage() -> &'static mut MaybeUninit<PgData> {
    Box::leak(Box::new(MaybeUninit::uninit()))
}

/// An allocator with `nodes`, present memory `present`, `cpus[cpu]` = node,
/// memory `free` handed over; watermarks and pcp set up unless `raw`.
pub fn build_with(
    nodes: &[NodeSpec],
    present: &[(u64, u64)],
    free: &[(u64, u64)],
    cpus: &[i32],
    flags: AllocatorFlags,
    raw: bool,
) -> PageAllocator {
    let map = MemMap::new_arena(present);
    let mut pa = PageAllocator::new(map);
    pa.set_flags(flags);
    let cpu_nodes: Vec<NodeId> = cpus.iter().map(|&n| NodeId(n)).collect();
    pa.set_cpus(&cpu_nodes).unwrap();
    let present_pfns: Vec<(Pfn, Pfn)> = present.iter().map(|&(s, e)| (Pfn(s), Pfn(e))).collect();
    for n in nodes {
        let zones = n.zones.map(|(s, e)| (Pfn(s), Pfn(e)));
        pa.add_node(NodeId(n.nid), storage(), &zones, &present_pfns).unwrap();
    }
    pa.memmap_init();
    pa.build_all_zonelists();
    for &(s, e) in free {
        pa.free_bootmem_range(Pfn(s), Pfn(e));
    }
    if !raw {
        pa.init_per_zone_wmark_min();
        pa.setup_pcp();
    }
    take_log();
    pa
}

/// The reports' machine: node 0 with DMA and Normal of 4096 pages each at
/// PFN 0x40000, node 1 with a Normal zone of 4096 pages after them; one CPU
/// on each node.
pub fn two_node_machine() -> PageAllocator {
    const B: u64 = 0x40000;
    let nodes = [
        NodeSpec { nid: 0, zones: [(B, B + 4096), (0, 0), (B + 4096, B + 8192), (0, 0)] },
        NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 8192, B + 12_288), (0, 0)] },
    ];
    build(&nodes, &[(B, B + 12_288)], &[0, 1])
}

pub fn build(nodes: &[NodeSpec], present: &[(u64, u64)], cpus: &[i32]) -> PageAllocator {
    build_with(nodes, present, present, cpus, AllocatorFlags::empty(), false)
}

/// A free block seen by [`check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeBlock {
    pub pfn: u64,
    pub order: u32,
    pub mt: MigrateType,
    pub nid: i32,
    pub zone: ZoneType,
}

/// Walk every free list and pcp list and check every invariant; returns
/// the buddy blocks and the pcp blocks.
pub fn check(pa: &PageAllocator) -> (Vec<FreeBlock>, Vec<(u64, u32)>) {
    let map = pa.memmap();
    let mut blocks = Vec::new();
    let mut pcp_blocks = Vec::new();
    for pgdat in pa.online_nodes() {
        for zone in pgdat.zones() {
            let guard = zone.lock(map);
            let mut nr_free_pages = 0;
            let mut cma = 0;
            let mut highatomic = 0;
            for (o, area) in guard.areas().area.iter().enumerate() {
                let mut area_blocks = 0;
                for mt in MigrateType::ALL {
                    let mut n = 0;
                    for v in area.free_list[mt as usize].iter(map) {
                        let pfn = v.get();
                        let page = map.page(v);
                        assert_eq!(pfn % (1 << o), 0, "block {pfn:#x} of order {o} misaligned");
                        assert!(page.test_flags(PageFlags::BUDDY), "{pfn:#x} on a free list without PG_buddy");
                        assert_eq!(page.private(), o as u64, "{pfn:#x} order");
                        assert_eq!((page.node(), page.zone_type()), (zone.node(), zone.zone_type()));
                        assert!(zone.spans(pfn) && zone.spans(pfn + (1 << o) - 1), "{pfn:#x} outside its zone");
                        assert_eq!(page.page_ref_count(), 0, "{pfn:#x} free with references");
                        let blocks_covered = 1u64.max((1 << o) / PAGEBLOCK_NR_PAGES);
                        for b in 0..blocks_covered {
                            let bv = map.valid(pfn + b * PAGEBLOCK_NR_PAGES).unwrap();
                            assert_eq!(map.get_pageblock_migratetype(bv), mt, "{pfn:#x} list type != pageblock type");
                        }
                        for i in 1..1u64 << o {
                            assert!(!map.page(v.add(i)).test_flags(PageFlags::BUDDY), "PG_buddy inside a free block");
                        }
                        blocks.push(FreeBlock { pfn, order: o as u32, mt, nid: zone.node().0, zone: zone.zone_type() });
                        n += 1;
                        if mt != MigrateType::Isolate {
                            nr_free_pages += 1 << o;
                        }
                        if mt == MigrateType::Cma {
                            cma += 1 << o;
                        }
                        if mt == MigrateType::HighAtomic {
                            highatomic += 1 << o;
                        }
                    }
                    assert_eq!(zone.nr_free_blocks(o as u32, mt), n, "nr_free_blocks[{o}][{mt:?}]");
                    area_blocks += n;
                }
                assert_eq!(zone.nr_free(o as u32), area_blocks, "nr_free[{o}]");
            }
            assert_eq!(zone.free_pages(), nr_free_pages, "NR_FREE_PAGES of {}", zone.name());
            assert_eq!(zone.free_cma_pages(), cma);
            assert_eq!(zone.free_highatomic_pages(), highatomic);
            drop(guard);
            for cpu in 0..NR_CPUS {
                let stats = zone.pcp_stats(cpu);
                let list = zone.pcp_blocks(map, cpu);
                let pages: u64 = list.iter().map(|&(_, o)| 1u64 << o).sum();
                assert_eq!(stats.count as u64, pages, "pcp count cpu {cpu}");
                for &(pfn, o) in &list {
                    let page = map.pfn_to_page(Pfn(pfn)).unwrap();
                    assert!(!page.test_flags(PageFlags::BUDDY));
                    assert!(zone.spans(pfn));
                    assert_eq!(pfn % (1 << o), 0);
                }
                pcp_blocks.extend(list);
            }
        }
    }
    // No two free blocks overlap, and no two free buddies were left unmerged.
    let mut sorted: Vec<(u64, u64)> = blocks.iter().map(|b| (b.pfn, 1u64 << b.order)).collect();
    sorted.extend(pcp_blocks.iter().map(|&(p, o)| (p, 1u64 << o)));
    sorted.sort();
    for w in sorted.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "free blocks overlap: {:#x?} {:#x?}", w[0], w[1]);
    }
    let by_pfn: BTreeMap<u64, FreeBlock> = blocks.iter().map(|b| (b.pfn, *b)).collect();
    for b in &blocks {
        if b.order >= MAX_PAGE_ORDER {
            continue;
        }
        if let Some(other) = by_pfn.get(&(b.pfn ^ (1 << b.order))) {
            let same_zone = other.nid == b.nid && other.zone == b.zone && other.order == b.order;
            let blocked =
                b.order >= PAGEBLOCK_ORDER && other.mt != b.mt && (!other.mt.is_mergeable() || !b.mt.is_mergeable());
            assert!(!same_zone || blocked, "unmerged buddies {b:?} {other:?}");
        }
    }
    (blocks, pcp_blocks)
}

/// buddyinfo counts of every zone.
pub fn buddy_counts(pa: &PageAllocator) -> Vec<[u64; NR_PAGE_ORDERS]> {
    pa.all_zones().map(|z| z.free_snapshot().nr_free).collect()
}

/// Safe spellings of the page allocator's unsafe frees, for tests.
///
/// The frees are `unsafe` because the allocator cannot tell a block the
/// caller owns from a live block of someone else's. Tests either give back
/// blocks they allocated, or hand the allocator bad, repeated or foreign
/// frees on purpose, because the checks that catch those are what they
/// test; and the frames of a test memmap have no memory behind them (an
/// `Arena`'s do, but nothing keeps a pointer into a freed frame).
pub trait TestFree {
    /// [`crate::page_alloc::PageAllocator::free_pages`].
    fn test_free_pages(&self, cpu: usize, pfn: Pfn, order: u32);
    /// [`crate::page_alloc::PageAllocator::put_page`].
    fn test_put_page(&self, cpu: usize, pfn: Pfn);
    /// [`crate::page_alloc::PageAllocator::free_pages_exact`].
    fn test_free_pages_exact(&self, cpu: usize, pfn: Pfn, size_bytes: u64);
}

impl TestFree for PageAllocator {
    fn test_free_pages(&self, cpu: usize, pfn: Pfn, order: u32) {
        // SAFETY: see the trait: no test keeps using a block it frees, and the
        // deliberate misuses are what the allocator's checks are tested on.
        unsafe { self.free_pages(cpu, pfn, order) }
    }

    fn test_put_page(&self, cpu: usize, pfn: Pfn) {
        // SAFETY: as in test_free_pages.
        unsafe { self.put_page(cpu, pfn) }
    }

    fn test_free_pages_exact(&self, cpu: usize, pfn: Pfn, size_bytes: u64) {
        // SAFETY: as in test_free_pages.
        unsafe { self.free_pages_exact(cpu, pfn, size_bytes) }
    }
}
