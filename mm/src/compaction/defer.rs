//! Putting compaction off after it failed (defer_compaction and friends):
//! after a failure at some order, the next `2^compact_defer_shift`
//! attempts at that order or above are skipped, the shift growing with
//! each failure up to [`COMPACT_MAX_DEFER_SHIFT`] (64 attempts).

use core::sync::atomic::Ordering::Relaxed;

use crate::zone::Zone;

/// The largest deferral shift: at most 64 attempts skipped in a row.
pub const COMPACT_MAX_DEFER_SHIFT: u32 = 6;

/// Compaction for `order` failed in `zone`: skip more attempts before the
/// next one (defer_compaction).
pub fn defer_compaction(zone: &Zone, order: u32) {
    zone.compact_considered.store(0, Relaxed);
    let shift = (zone.compact_defer_shift.load(Relaxed) + 1).min(COMPACT_MAX_DEFER_SHIFT);
    zone.compact_defer_shift.store(shift, Relaxed);
    if order < zone.compact_order_failed.load(Relaxed) {
        zone.compact_order_failed.store(order, Relaxed);
    }
}

/// Whether an attempt at `order` should be skipped now; counts the
/// attempt (compaction_deferred).
pub fn compaction_deferred(zone: &Zone, order: u32) -> bool {
    if order < zone.compact_order_failed.load(Relaxed) {
        return false;
    }
    let limit = 1u32 << zone.compact_defer_shift.load(Relaxed);
    let considered = zone.compact_considered.load(Relaxed) + 1;
    if considered >= limit {
        // Saturate: the counter never grows past the limit.
        zone.compact_considered.store(limit, Relaxed);
        return false;
    }
    zone.compact_considered.store(considered, Relaxed);
    true
}

/// Compaction for `order` is believed to have worked (an allocation
/// followed, when `alloc_success`): stop deferring (compaction_defer_reset).
pub fn compaction_defer_reset(zone: &Zone, order: u32, alloc_success: bool) {
    if alloc_success {
        zone.compact_considered.store(0, Relaxed);
        zone.compact_defer_shift.store(0, Relaxed);
    }
    if order >= zone.compact_order_failed.load(Relaxed) {
        zone.compact_order_failed.store(order + 1, Relaxed);
    }
}

/// Whether compaction at `order` is being retried after the longest
/// deferral (compaction_restarting; Linux then clears its skip bits).
pub fn compaction_restarting(zone: &Zone, order: u32) -> bool {
    if order < zone.compact_order_failed.load(Relaxed) {
        return false;
    }
    zone.compact_defer_shift.load(Relaxed) == COMPACT_MAX_DEFER_SHIFT
        && zone.compact_considered.load(Relaxed) >= 1 << COMPACT_MAX_DEFER_SHIFT
}
