//! `bench=cma`: what taking memory back costs. A 16 MiB `cma_alloc` from
//! the empty default area (isolation, the free-page hand-over) and from a
//! full one (every page in the range migrated out of a user address
//! space), per page, beside a 4 KiB memcpy measured in the same boot; and
//! compaction's effect, order-9 blocks obtainable before and after
//! `compact_memory` on a fragmented machine (the compaction self-test's
//! fragmentation).
//!
//! The full area is filled by an address space that does not run (its
//! pages are faulted in by the handler directly), so the figures do not
//! depend on what other CPUs do.

use super::harness::report_suite;
use crate::console::printk::log_bare;
use crate::memory::cma;
use crate::selftest::{cma_user, compaction, hog};
use mm::Pfn;
use mm::gfp::Gfp;
use mm::vmstat::{VmEvent, vm_event};

/// 16 MiB.
const PAGES: u64 = 4096;

/// Instructions of one `cma_alloc` of [`PAGES`] and its release; `None` if
/// it failed.
fn take(a: &'static mm::cma::Cma) -> Option<(u64, u64)> {
    let (_, i0) = arch::pmu::read();
    let got = cma::cma_alloc(a, PAGES, 0, Gfp::KERNEL);
    let (_, i1) = arch::pmu::read();
    let got = got.ok()?;
    let (_, i2) = arch::pmu::read();
    drop(got);
    let (_, i3) = arch::pmu::read();
    Some((i1 - i0, i3 - i2))
}

/// Run the suite.
pub fn run(icount: bool) {
    super::fault::baselines("cma", icount);
    let Some(a) = cma_user::area().filter(|a| a.count() >= 2 * PAGES) else {
        crate::pr_warn!("bench: cma: no default CMA area of at least {} MiB; cma workloads skipped", (2 * PAGES) >> 8);
        return compaction_rates();
    };
    if let Some((alloc, release)) = take(a) {
        report_suite("cma", "alloc-16m-empty-per-page", "ours", (alloc / PAGES, 0), true);
        report_suite("cma", "release-16m-per-page", "ours", (release / PAGES, 0), true);
    }
    // Fill the area with user pages: hold the other free memory, so that
    // movable allocations go to CMA first, fault the pages in, let go.
    let keep = cma_user::non_cma_keep();
    let fill = (a.count() * 7 / 8).min(a.count().saturating_sub(keep + 512));
    let held = hog::Hog::leaving(keep, hog::free_non_cma);
    let mm = compaction::filled_mm(fill).ok().filter(|m| m.2 == fill).map(|m| m.0);
    drop(held);
    let Some(mm) = mm else {
        crate::pr_warn!("bench: cma: could not fill the area; full-area workload skipped");
        return compaction_rates();
    };
    let end = Pfn(a.base_pfn().0 + a.count());
    let mut pfns = alloc::vec::Vec::new();
    mm.mapped_pfns(&mut pfns);
    let inside = pfns.iter().filter(|p| (a.base_pfn().0..end.0).contains(&p.0)).count();
    let migrated0 = vm_event(VmEvent::PgmigrateSuccess);
    if let Some((alloc, _)) = take(a) {
        let migrated = vm_event(VmEvent::PgmigrateSuccess) - migrated0;
        log_bare(format_args!(
            "bench cma/alloc-16m-full: {migrated} pages migrated ({inside} user pages were in the {}-page area)",
            a.count()
        ));
        report_suite("cma", "alloc-16m-full-per-page", "ours", (alloc / PAGES, 0), true);
        if let Some(per) = alloc.checked_div(migrated) {
            report_suite("cma", "alloc-16m-full-per-migrated-page", "ours", (per, 0), true);
        }
    }
    drop(mm);
    compaction_rates();
}

/// Order-9 blocks obtainable before and after compact_memory.
fn compaction_rates() {
    let Ok(f) = compaction::fragment() else {
        crate::pr_warn!("bench: cma: could not fragment memory; compaction workload skipped");
        return;
    };
    let possible = f.freed >> 9;
    let before = compaction::order9_obtainable();
    let (_, i0) = arch::pmu::read();
    crate::memory::compaction::compact_memory();
    let (_, i1) = arch::pmu::read();
    let after = compaction::order9_obtainable();
    log_bare(format_args!(
        "bench compaction/order9 ours: {before} blocks before, {after} after compact_memory, of {possible} the freed pages could make ({} pages filled, {} freed)",
        f.pages, f.freed
    ));
    log_bare(format_args!("bench compaction/compact-memory ours: {} insn", i1 - i0));
}
