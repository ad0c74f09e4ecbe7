//! Host tests of the zone constants, flags and arithmetic.

use super::*;

#[test]
fn names_and_order_match_linux() {
    let names: Vec<_> = ZoneType::ALL.iter().map(|z| z.name()).collect();
    assert_eq!(names, ["DMA", "DMA32", "Normal", "Movable"]);
    let names: Vec<_> = MigrateType::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"]);
    assert_eq!(MigrateType::HighAtomic as usize, MIGRATE_PCPTYPES);
    assert!(MigrateType::Reclaimable.is_mergeable() && !MigrateType::HighAtomic.is_mergeable());
    assert_eq!(NR_PAGE_ORDERS, 11);
    assert_eq!(PAGEBLOCK_NR_PAGES << crate::PAGE_SHIFT, 2 << 20);
    assert_eq!(MAX_ORDER_NR_PAGES << crate::PAGE_SHIFT, 4 << 20);
}

#[test]
fn alloc_flag_values_match_linux() {
    // gfp_to_alloc_flags relies on these equalities.
    assert_eq!(AllocFlags::MIN_RESERVE.bits(), crate::gfp::Gfp::HIGH.bits());
    assert_eq!(AllocFlags::KSWAPD.bits(), crate::gfp::Gfp::KSWAPD_RECLAIM.bits());
    assert_eq!(AllocFlags::WMARK_MIN.wmark(), Wmark::Min);
    assert_eq!(AllocFlags::WMARK_LOW.wmark(), Wmark::Low);
    assert_eq!((AllocFlags::WMARK_HIGH | AllocFlags::CMA).wmark(), Wmark::High);
}

#[test]
fn int_sqrt_and_mult_frac() {
    for x in [0u64, 1, 2, 3, 4, 15, 16, 17, 99, 100, 1 << 40, u64::MAX] {
        let r = int_sqrt(x);
        assert!(r as u128 * r as u128 <= x as u128 && (r as u128 + 1) * (r as u128 + 1) > x as u128, "{x}");
    }
    assert_eq!(int_sqrt(16 * 1024 * 1024), 4096);
    assert_eq!(mult_frac(262_144, 10, 10_000), 262);
    assert_eq!(mult_frac(u64::MAX / 2, 10, 10_000), (u64::MAX as u128 / 2 * 10 / 10_000) as u64);
}

// ----- zone placement ---------------------------------------------------------

mod placement {
    use crate::addr::{PAGE_SHIFT, Pfn, PhysAddr};
    use crate::config::NodeId;
    use crate::memblock::{MemblockFlags, MemblockRegion};
    use crate::zone::{CoreSize, ZoneLimits};

    const G: u64 = 1 << 30;
    const M: u64 = 1 << 20;

    fn region(base: u64, size: u64, nid: i32) -> MemblockRegion {
        MemblockRegion { base: PhysAddr(base), size, flags: MemblockFlags::NONE, nid: NodeId(nid) }
    }

    fn pfn(addr: u64) -> u64 {
        addr >> PAGE_SHIFT
    }

    fn one_gig_at_1g() -> Vec<MemblockRegion> {
        vec![region(G, G, 0)]
    }

    #[test]
    fn virt_without_dma_ranges_puts_all_low_ram_in_dma() {
        let l = ZoneLimits::compute(&one_gig_at_1g(), None, None, None);
        // 32 DMA bits, RAM ends at 2 GiB: DMA and DMA32 both end there.
        assert_eq!(l.max_zone_pfn, [pfn(2 * G), pfn(2 * G), pfn(2 * G)]);
        assert_eq!(l.zone_range, [(pfn(G), pfn(2 * G)), (pfn(2 * G), pfn(2 * G)), (pfn(2 * G), pfn(2 * G))]);
        assert_eq!(l.movable_zone, 0);
        assert!(l.zone_movable_pfn.iter().all(|&p| p == 0));
    }

    #[test]
    fn pi4_dma_ranges_narrow_zone_dma_to_30_bits() {
        // RAM 0..4 GiB, the lowest dma-ranges end at 1 GiB - 1 (30 bits).
        let l = ZoneLimits::compute(&[region(0, 4 * G, 0)], Some(G - 1), None, None);
        assert_eq!(l.max_zone_pfn, [pfn(G), pfn(4 * G), pfn(4 * G)]);
        assert_eq!(l.zone_range, [(0, pfn(G)), (pfn(G), pfn(4 * G)), (pfn(4 * G), pfn(4 * G))]);
        assert_eq!(l.movable_zone, 1);
    }

    #[test]
    fn normal_starts_at_4g_and_windows_widen_like_max_zone_phys() {
        // RAM 1..6 GiB: DMA32 (and DMA) stop at 4 GiB, Normal has the rest.
        let l = ZoneLimits::compute(&[region(G, 5 * G, 0)], None, None, None);
        assert_eq!(l.zone_range, [(pfn(G), pfn(4 * G)), (pfn(4 * G), pfn(4 * G)), (pfn(4 * G), pfn(6 * G))]);
        assert_eq!(l.movable_zone, 2);
        // RAM starting above the 30-bit window: DMA widens to 4 GiB.
        let l = ZoneLimits::compute(&[region(G, 2 * G, 0)], Some(G - 1), None, None);
        assert_eq!(l.max_zone_pfn[0], pfn(3 * G));
        // RAM starting above 4 GiB: DMA covers everything.
        let l = ZoneLimits::compute(&[region(32 * G, 2 * G, 0)], Some(G - 1), None, None);
        assert_eq!(l.zone_range[0], (pfn(32 * G), pfn(34 * G)));
        assert_eq!(l.movable_zone, 0);
    }

    #[test]
    fn kernelcore_and_movablecore_sizes_and_percentages_agree() {
        let mem = one_gig_at_1g();
        // 256 MiB of kernel memory from the bottom of the node.
        let want = pfn(G) + pfn(256 * M);
        for (k, m) in [
            (Some(CoreSize::Bytes(256 * M)), None),
            (Some(CoreSize::Percent(25)), None),
            (None, Some(CoreSize::Percent(75))),
            (None, Some(CoreSize::Bytes(768 * M))),
            // kernelcore= wins over movablecore=.
            (Some(CoreSize::Bytes(256 * M)), Some(CoreSize::Percent(10))),
        ] {
            let l = ZoneLimits::compute(&mem, None, k, m);
            assert_eq!(l.zone_movable_pfn[0], want, "{k:?} {m:?}");
            assert!(l.zone_movable_pfn[1..].iter().all(|&p| p == 0));
        }
    }

    #[test]
    fn movable_start_is_rounded_up_to_max_order_blocks() {
        let l = ZoneLimits::compute(&one_gig_at_1g(), None, Some(CoreSize::Bytes(M + 4096)), None);
        // 257 pages of kernel memory, rounded up to a 1024-page boundary.
        assert_eq!(l.zone_movable_pfn[0], pfn(G) + 1024);
    }

    #[test]
    fn kernelcore_is_spread_over_the_nodes() {
        let mem = [region(G, G, 0), region(2 * G, G, 1)];
        let l = ZoneLimits::compute(&mem, None, Some(CoreSize::Bytes(512 * M)), None);
        // 256 MiB on each node, counted from its bottom.
        assert_eq!(l.zone_movable_pfn[0], pfn(G + 256 * M));
        assert_eq!(l.zone_movable_pfn[1], pfn(2 * G + 256 * M));
        assert!(l.zone_movable_pfn[2..].iter().all(|&p| p == 0));
    }

    #[test]
    fn kernelcore_counts_whole_ranges_and_memory_below_the_movable_zone() {
        // Node 0 has a 32 MiB range, a hole, then the rest.
        let mem = [region(G, 32 * M, 0), region(G + 256 * M, 768 * M, 0)];
        let l = ZoneLimits::compute(&mem, None, Some(CoreSize::Bytes(64 * M)), None);
        assert_eq!(l.zone_movable_pfn[0], pfn(G + 256 * M + 32 * M));
        // Exactly the first range: ZONE_MOVABLE starts at the second.
        let l = ZoneLimits::compute(&mem, None, Some(CoreSize::Bytes(32 * M)), None);
        assert_eq!(l.zone_movable_pfn[0], pfn(G + 256 * M));
        // Pi 4: ZONE_MOVABLE comes from DMA32, so ZONE_DMA is kernel memory
        // anyway and the movable zone starts no lower than DMA32.
        let l = ZoneLimits::compute(&[region(0, 4 * G, 0)], Some(G - 1), Some(CoreSize::Bytes(512 * M)), None);
        assert_eq!(l.zone_movable_pfn[0], pfn(G));
    }

    #[test]
    fn node_zone_spans_clip_and_carve_zone_movable() {
        let l = ZoneLimits::compute(&one_gig_at_1g(), None, Some(CoreSize::Percent(25)), None);
        let spans = l.node_zone_spans(0, pfn(G), pfn(2 * G));
        let mv = pfn(G + 256 * M);
        assert_eq!(spans[0], (Pfn(pfn(G)), Pfn(mv)));
        assert_eq!(spans[1], (Pfn(0), Pfn(0)));
        assert_eq!(spans[2], (Pfn(0), Pfn(0)));
        assert_eq!(spans[3], (Pfn(mv), Pfn(pfn(2 * G))));
        // Without ZONE_MOVABLE: the zone ranges clipped to the node.
        let l = ZoneLimits::compute(&[region(G, 5 * G, 0), region(6 * G, G, 1)], None, None, None);
        let n1 = l.node_zone_spans(1, pfn(6 * G), pfn(7 * G));
        assert_eq!(n1, [(Pfn(0), Pfn(0)), (Pfn(0), Pfn(0)), (Pfn(pfn(6 * G)), Pfn(pfn(7 * G))), (Pfn(0), Pfn(0))]);
        let n0 = l.node_zone_spans(0, pfn(G), pfn(6 * G));
        assert_eq!(n0[0], (Pfn(pfn(G)), Pfn(pfn(4 * G))));
        assert_eq!(n0[2], (Pfn(pfn(4 * G)), Pfn(pfn(6 * G))));
        // A node id past the table has no ZONE_MOVABLE.
        assert_eq!(l.node_zone_spans(usize::MAX, pfn(G), pfn(2 * G))[3], (Pfn(0), Pfn(0)));
    }

    #[test]
    fn hostile_values_give_sane_limits() {
        // No memory at all: every zone empty.
        let l = ZoneLimits::compute(&[], Some(0), Some(CoreSize::Bytes(1)), None);
        assert_eq!((l.max_zone_pfn, l.zone_range, l.movable_zone), ([0; 3], [(0, 0); 3], 0));
        let mem = one_gig_at_1g();
        for (k, m) in [
            // A kernel share of nothing, or of everything or more: no ZONE_MOVABLE.
            (Some(CoreSize::Bytes(0)), None),
            (Some(CoreSize::Percent(0)), None),
            (Some(CoreSize::Bytes(G)), None),
            (Some(CoreSize::Bytes(u64::MAX)), None),
            (Some(CoreSize::Percent(100)), None),
            (Some(CoreSize::Percent(u8::MAX)), None),
            (None, Some(CoreSize::Percent(100))),
            (None, Some(CoreSize::Percent(u8::MAX))),
            (None, Some(CoreSize::Bytes(u64::MAX))),
            (None, Some(CoreSize::Bytes(0))),
        ] {
            let l = ZoneLimits::compute(&mem, None, k, m);
            assert!(l.zone_movable_pfn.iter().all(|&p| p == 0), "{k:?} {m:?}");
        }
        // A dma-ranges end of 0 (fls64 = 0): the narrowest window, widened to
        // 4 GiB because RAM starts above it.
        let l = ZoneLimits::compute(&mem, Some(0), None, None);
        assert_eq!(l.max_zone_pfn[0], pfn(2 * G));
        // Memory reaching the top of the address space does not overflow.
        let top = [region(u64::MAX - 2 * G + 1, 2 * G - 1, 0)];
        let l = ZoneLimits::compute(&top, None, Some(CoreSize::Percent(50)), None);
        assert_eq!(l.zone_range[0], (pfn(u64::MAX - 2 * G + 1), pfn(u64::MAX)));
        assert!(l.zone_movable_pfn[0] > l.zone_range[0].0 && l.zone_movable_pfn[0] <= l.zone_range[0].1);
        // Regions of an unknown or negative node are counted as node 63 / 0.
        let odd = [region(G, G, NodeId::UNSET.0), region(2 * G, G, -1)];
        let l = ZoneLimits::compute(&odd, None, Some(CoreSize::Bytes(512 * M)), None);
        assert!(l.zone_movable_pfn.iter().all(|&p| p == 0 || (pfn(G)..pfn(3 * G)).contains(&p)));
    }
}
