//! The `extfrag` suite (named only: `selftest=extfrag`): memory fragmented
//! step by step and mended again, with
//! `/sys/kernel/debug/extfrag/unusable_index` printed after every step, so
//! one boot's log holds a series of the index over time
//! (`scripts/mmplot`'s fragmentation picture).
//!
//! The steps: the boot's state; memory held (free memory beyond what the
//! test fills taken in unmovable blocks by `hog`, the rest faulted in as
//! user pages of an address space that does not run); a quarter, a half
//! and three quarters of those pages unmapped, spread over the frames by a
//! hash of the frame number, so the freed pages seldom merge; compaction of
//! every zone (`compact_memory`); and everything given back. Each step
//! starts with a line naming it, the detail in parentheses:
//!
//! ```text
//! extfrag: step 4/7: 2/4 unmapped (16388 of 32768 user pages, spread over the frames)
//! /sys/kernel/debug/extfrag/unusable_index:
//! Node 0, zone      DMA 0.000 0.612 0.861 ...
//! ```
//!
//! The test checks what the series should show: at pageblock order the
//! unusable index of all free memory rises as pages are unmapped, falls
//! when compaction rebuilds whole blocks, and every page comes back.

use super::compaction::filled_mm;
use super::harness::{PageCounts, Test, TestResult};
use super::hog::{Hog, free_pages};
use crate::memory::page_alloc::allocator;
use crate::memory::report;
use crate::{check, pr_info};
use mm::compaction::{ContigPageInfo, unusable_free_index};
use mm::config::NR_PAGE_ORDERS;
use mm::zone::PAGEBLOCK_ORDER;
use mm::{PAGE_SIZE, VirtAddr};

pub const TESTS: &[Test] = &[Test { suite: "extfrag", name: "unusable_index_series", run: unusable_index_series }];

/// The most pages the test fills (128 MiB), as the compaction suite.
const MAX_FILL_PAGES: u64 = 1 << 15;
/// Steps in the series (the boot's state counts as the first).
const STEPS: usize = 7;

/// Which quarter of the filled pages the page at frame `pfn` is unmapped
/// with (0, 1, 2; 3 stays mapped): a hash, not the frame's low bits, so
/// that neighbouring frames go at different steps.
fn quarter(pfn: u64) -> u64 {
    pfn.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 62
}

/// The unusable index of all free memory (every zone's free blocks added
/// up) at `order`, in thousandths.
fn unusable_at(order: u32) -> u64 {
    let pa = allocator();
    pa.drain_all_pages();
    let mut nr_free = [0u64; NR_PAGE_ORDERS];
    for z in pa.all_zones() {
        for (o, n) in nr_free.iter_mut().enumerate() {
            *n += z.nr_free(o as u32);
        }
    }
    unusable_free_index(order, &ContigPageInfo::from_nr_free(&nr_free, order))
}

/// Print the step's line and the index; returns the index at pageblock
/// order after it.
fn step(n: usize, what: core::fmt::Arguments<'_>) -> u64 {
    pr_info!("extfrag: step {n}/{STEPS}: {what}");
    let at = unusable_at(PAGEBLOCK_ORDER);
    report::unusable_index();
    at
}

fn unusable_index_series() -> TestResult {
    let before_all = PageCounts::now();
    let boot = step(1, format_args!("boot (the state the test starts from)"));
    let (held, peak, compacted) = {
        let pa = allocator();
        let reserve = (pa.nr_free_pages() / 16).clamp(2048, 8192);
        let _hog = Hog::leaving(MAX_FILL_PAGES + reserve, free_pages);
        pa.drain_all_pages();
        let pages = pa.nr_free_pages().saturating_sub(reserve).min(MAX_FILL_PAGES);
        check!(pages >= 4 << PAGEBLOCK_ORDER, "only {pages} pages to fill: too few to fragment");
        let (mm, base, filled) = filled_mm(pages)?;
        check!(filled >= 4 << PAGEBLOCK_ORDER, "only {filled} pages could be faulted in");
        let held = step(
            2,
            format_args!("filled ({filled} user pages faulted in, other free memory held but {reserve} pages)"),
        );
        let mut unmapped = 0;
        let mut peak = held;
        for q in 0..3 {
            {
                let mut inner = mm.inner.lock();
                let asid = mm.asid();
                for i in 0..filled {
                    let va = VirtAddr(base + i * PAGE_SIZE);
                    if inner.pgtable.lookup(va).is_some_and(|p| quarter(p.pfn().0) == q) {
                        inner.pgtable.zap_range(asid, va, VirtAddr(va.0 + PAGE_SIZE));
                        unmapped += 1;
                    }
                }
                mm.recount_rss(&mut inner);
            }
            let at = step(
                3 + q as usize,
                format_args!("{}/4 unmapped ({unmapped} of {filled} user pages, spread over the frames)", q + 1),
            );
            peak = peak.max(at);
        }
        crate::memory::compaction::compact_memory();
        let compacted = step(6, format_args!("compacted (compact_memory)"));
        drop(mm);
        (held, peak, compacted)
    };
    let released = step(7, format_args!("released (every page given back)"));
    pr_info!(
        "extfrag: unusable index at order {PAGEBLOCK_ORDER}: boot {boot}, held {held}, peak {peak}, compacted {compacted}, released {released} (thousandths)"
    );
    check!(
        peak > held,
        "unmapping scattered pages did not raise the order-{PAGEBLOCK_ORDER} unusable index ({held} -> {peak})"
    );
    check!(
        compacted < peak,
        "compact_memory did not lower the order-{PAGEBLOCK_ORDER} unusable index ({peak} -> {compacted})"
    );
    PageCounts::now().check_back_to(&before_all)
}
