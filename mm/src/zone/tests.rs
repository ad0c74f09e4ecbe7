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
