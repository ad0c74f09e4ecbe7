//! Host tests of the pcp sizes.

use super::sizes::nr_pcp_free;
use super::*;
use crate::config::PAGE_ALLOC_COSTLY_ORDER;
use crate::mmzone::MigrateType;

#[test]
fn batchsize_matches_linux() {
    // 1 GiB and more: min(managed >> 10, 256) / 4 = 64 -> 96 -> 64 - 1.
    assert_eq!(zone_batchsize(262_144), 63);
    assert_eq!(zone_batchsize(4 << 20), 63);
    // 16 MiB DMA zone (3977 managed): 3 / 4 = 0 -> 1 -> 1 -> 0 ... Linux: max(1, ..).
    assert_eq!(zone_batchsize(3977), 0);
    // 256 MiB: 64 / 4 = 16 -> 24 -> 16 - 1.
    assert_eq!(zone_batchsize(65_536), 15);
    // 64 MiB: 16 / 4 = 4 -> 6 -> 4 - 1.
    assert_eq!(zone_batchsize(16_384), 3);
    // 8 MiB: 2 / 4 = 0 -> 1 -> 1 -> 0.
    assert_eq!(zone_batchsize(2_048), 0);
}

#[test]
fn highsize_matches_linux() {
    assert_eq!(zone_highsize(5_000, 63, 4), 1_250);
    assert_eq!(zone_highsize(500, 63, 4), 252);
    assert_eq!(zone_highsize(5_000, 63, 0), 5_000);
}

#[test]
fn pindex_round_trips() {
    for order in 0..=PAGE_ALLOC_COSTLY_ORDER {
        for mt in [MigrateType::Unmovable, MigrateType::Movable, MigrateType::Reclaimable] {
            let p = order_to_pindex(mt, order);
            assert!(p < NR_PCP_LISTS);
            assert_eq!(pindex_to_order(p), order);
        }
    }
    assert!(pcp_allowed_order(3) && !pcp_allowed_order(4));
    // The pageblock order has two lists (Linux's NR_PCP_THP): Movable's,
    // and one Unmovable and Reclaimable share; no other order above 3 has any.
    let pb = crate::config::PAGEBLOCK_ORDER;
    assert_eq!(order_to_pindex(MigrateType::Unmovable, pb), NR_PCP_LISTS - 2);
    assert_eq!(order_to_pindex(MigrateType::Reclaimable, pb), NR_PCP_LISTS - 2);
    assert_eq!(order_to_pindex(MigrateType::Movable, pb), NR_PCP_LISTS - 1);
    assert_eq!(pindex_to_order(NR_PCP_LISTS - 2), pb);
    assert_eq!(pindex_to_order(NR_PCP_LISTS - 1), pb);
    assert_eq!(pindex_to_order(NR_PCP_LISTS - 3), PAGE_ALLOC_COSTLY_ORDER);
    for order in 0..=crate::config::MAX_PAGE_ORDER {
        assert_eq!(pcp_allowed_order(order), order <= PAGE_ALLOC_COSTLY_ORDER || order == pb, "order {order}");
    }
}

#[test]
fn nr_pcp_free_doubles_and_clamps() {
    let mut pcp = PcpSlot::new().pcp.into_inner();
    pcp.count = 400;
    assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 63);
    assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 126);
    assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 189);
    assert_eq!(nr_pcp_free(&mut pcp, 252, 63, false), 189);
    assert_eq!(pcp.free_factor, 2);
    assert_eq!(nr_pcp_free(&mut pcp, 0, 1, false), 1);
    assert_eq!(nr_pcp_free(&mut pcp, 252, 63, true), 400);
}
