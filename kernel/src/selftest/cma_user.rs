//! CMA with user pages in the way: the default area is filled with the
//! movable pages of running `memtouch` processes (which check and rewrite
//! every word of their memory without pause, on the other CPUs), then
//! taken whole in maxchunk pieces and in random pieces. Every allocation
//! must succeed, since only movable pages are in the way: cma_alloc
//! migrates them out from under the running processes. The processes'
//! data is checked word by word, by the kernel after each phase and by the
//! processes themselves all along; a pinned page makes the range busy, and
//! the call fails cleanly with -EBUSY.
//!
//! Filling the area: movable allocations go to CMA first while the zone
//! has more free CMA pages than other free pages (Linux's balancing rule),
//! so the test first holds most of the other free memory in unmovable
//! blocks, starts the load, then lets that memory go (it is where the
//! migrated pages land).

use super::harness::{PageCounts, Test, TestResult};
use super::hog::{Hog, free_non_cma};
use super::userload::UserLoad;
use crate::memory::cma::{self, CmaPages};
use crate::memory::page_alloc::allocator;
use crate::{check, check_eq, fail, pr_info};
use alloc::vec::Vec;
use mm::cma::Cma;
use mm::gfp::Gfp;
use mm::vmstat::{VmEvent, vm_event};
use mm::{Error, Pfn};

pub const TESTS: &[Test] = &[
    Test { suite: "cma", name: "whole_area_from_under_running_tasks", run: whole_area_from_under_running_tasks },
    Test { suite: "cma", name: "pinned_page_makes_the_range_busy", run: pinned_page_makes_the_range_busy },
];

/// The area the tests fill: the default one, when the boot made it.
pub(crate) fn area() -> Option<&'static Cma> {
    cma::default_area().filter(|a| a.is_active())
}

/// Why the load cannot run on this boot, if it cannot: user tasks that
/// never sleep need the tick to give the CPU back (a counter frequency of
/// 0 leaves the kernel without one).
fn no_load_reason() -> Option<&'static str> {
    (arch::timer::frequency_hz() == 0).then_some("no counter frequency, so no tick to share the CPUs with a load")
}

/// What the kernel needs free outside CMA while the load runs: the
/// zones' high watermarks and room for the processes' own pages.
pub(crate) fn non_cma_keep() -> u64 {
    let wmarks: u64 = allocator().all_zones().map(|z| z.high_wmark_pages()).sum();
    wmarks + 2048
}

/// Start a load whose pages fill most of `a`; returns it and how many of
/// its pages lie in the area.
fn fill_area(a: &Cma) -> Result<(UserLoad, usize), alloc::string::String> {
    let keep = non_cma_keep();
    // Three quarters of the area, at most 32 MiB (the suite runs on every
    // boot configuration, with four CPUs' worth of memtouch on two host
    // cores in CI).
    let total = (a.count() * 3 / 4).min(a.count().saturating_sub(keep + 1024)).min(8192);
    check!(total >= 256, "a CMA area of {} pages is too small to fill", a.count());
    let cpus = crate::smp::cpumask::num_online_cpus().clamp(2, 4);
    let each = (total as usize) / cpus;
    let hog = Hog::leaving(keep, free_non_cma);
    let load = UserLoad::start(cpus, each)?;
    drop(hog);
    let (start, end) = (a.base_pfn(), Pfn(a.base_pfn().0 + a.count()));
    let inside = load.nr_pages_in(start, end);
    pr_info!("cma: {cpus} memtouch processes of {each} pages: {inside} of their pages in the {}-page area", a.count());
    check!(inside as u64 >= total / 2, "only {inside} of {total} load pages landed in the area");
    Ok((load, inside))
}

/// Take the whole area in pieces chosen by `next(maxchunk)`; every call
/// must succeed. Returns the pieces and the pages of the load that were in
/// the area before.
fn take_whole(
    a: &'static Cma,
    next: &mut dyn FnMut(u64) -> (u64, u32),
) -> Result<Vec<CmaPages>, alloc::string::String> {
    let mut pieces = Vec::new();
    let fail0 = vm_event(VmEvent::CmaAllocFail);
    let mut guard = 0;
    while a.maxchunk_pages() > 0 {
        guard += 1;
        check!(guard <= a.count() + 1, "the area never filled");
        let (count, align) = next(a.maxchunk_pages());
        match cma::cma_alloc(a, count, align, Gfp::KERNEL) {
            Ok(p) => pieces.push(p),
            Err(e) => fail!(
                "cma_alloc of {count} pages (align order {align}) failed: {e} with {} of {} pages used",
                a.used_pages(),
                a.count()
            ),
        }
    }
    check_eq!(a.used_pages(), a.count());
    check_eq!(vm_event(VmEvent::CmaAllocFail), fail0);
    Ok(pieces)
}

/// Every page of every piece is now the caller's: write and read each.
fn pieces_are_ours(pieces: &[CmaPages]) -> TestResult {
    for p in pieces {
        for i in 0..p.nr_pages() {
            let pfn = Pfn(p.pfn().0 + i);
            let page = crate::memory::pages::pfn_to_page(pfn).ok_or("no descriptor")?;
            check!(
                page.page_ref_count() == 1 && page.page_mapcount() == 0 && page.mapping() == 0,
                "pfn {:#x} of a CMA piece: refcount {}, mapcount {}, mapping {:#x}",
                pfn.0,
                page.page_ref_count(),
                page.page_mapcount(),
                page.mapping()
            );
        }
    }
    Ok(())
}

/// Fill `a` with a running load, take the whole area in pieces from
/// `next`, check the pieces and the load's data, give everything back;
/// returns the number of allocations.
fn take_from_under_a_load(
    a: &'static Cma,
    what: &str,
    next: &mut dyn FnMut(u64) -> (u64, u32),
) -> Result<u64, alloc::string::String> {
    let (load, inside) = fill_area(a)?;
    let pieces = take_whole(a, next)?;
    check!(load.nr_pages_in(a.base_pfn(), Pfn(a.base_pfn().0 + a.count())) == 0, "load pages left in the area");
    pieces_are_ours(&pieces)?;
    let stats = load.verify()?;
    pr_info!(
        "cma: {what}: {} allocations took all {} pages, {inside} load pages moved out; {} load pages checked",
        pieces.len(),
        a.count(),
        stats.pages_checked
    );
    let n = pieces.len() as u64;
    drop(pieces);
    check_eq!(a.used_pages(), 0);
    load.stop()?;
    Ok(n)
}

fn whole_area_from_under_running_tasks() -> TestResult {
    let Some(a) = area() else {
        pr_info!("cma: no default CMA area on this boot (cma=0, or its reservation failed): nothing to take");
        return Ok(());
    };
    if let Some(why) = no_load_reason() {
        pr_info!("cma: {why}: not run");
        return Ok(());
    }
    let before = PageCounts::now();
    let success0 = vm_event(VmEvent::CmaAllocSuccess);
    let migrated0 = vm_event(VmEvent::PgmigrateSuccess);
    // Maxchunk pieces (the first is the whole area), then random pieces
    // with the area filled again.
    let mut allocs = take_from_under_a_load(a, "maxchunk pieces", &mut |max| (max, 0))?;
    let mut rng = 0x2545_f491_4f6c_dd1d ^ a.base_pfn().0;
    allocs += take_from_under_a_load(a, "random pieces", &mut |max| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let align = (rng % 5) as u32;
        let count = (1 + (rng >> 8) % 1024).min(max);
        // Aligned, it still fits the largest free run wherever that starts.
        let align = if count + (1u64 << align) - 1 <= max { align } else { 0 };
        (count, align)
    })?;
    check_eq!(vm_event(VmEvent::CmaAllocSuccess) - success0, allocs);
    pr_info!("cma: {} pages migrated in all", vm_event(VmEvent::PgmigrateSuccess) - migrated0);
    PageCounts::now().check_back_to(&before)
}

fn pinned_page_makes_the_range_busy() -> TestResult {
    let Some(a) = area() else {
        pr_info!("cma: no default CMA area on this boot: nothing to pin in");
        return Ok(());
    };
    if let Some(why) = no_load_reason() {
        pr_info!("cma: {why}: not run");
        return Ok(());
    }
    let before = PageCounts::now();
    {
        let (load, _) = fill_area(a)?;
        let (start, end) = (a.base_pfn(), Pfn(a.base_pfn().0 + a.count()));
        let Some(pin) = load.pin_page_in(start, end)? else {
            fail!("no load page in the area to pin");
        };
        let fail0 = vm_event(VmEvent::CmaAllocFail);
        let free0 = allocator().nr_free_pages();
        match cma::cma_alloc(a, a.count(), 0, Gfp::KERNEL | Gfp::NOWARN) {
            Err(Error::Busy) => {}
            Err(e) => fail!("cma_alloc over a pinned page failed with {e}, expected Busy (-EBUSY)"),
            Ok(_) => fail!("cma_alloc took a range holding a pinned page ({:#x})", pin.pfn().0),
        }
        check_eq!(vm_event(VmEvent::CmaAllocFail), fail0 + 1);
        check_eq!(a.used_pages(), 0);
        // Nothing isolated is left behind, and the pinned page is where it was.
        for pb in (0..a.count()).step_by(mm::cma::CMA_MIN_ALIGNMENT_PAGES as usize) {
            check_eq!(allocator().pageblock_migratetype(Pfn(start.0 + pb)), Some(mm::zone::MigrateType::Cma));
        }
        let pinned = crate::memory::pages::pfn_to_page(pin.pfn()).ok_or("no descriptor")?;
        check!(pinned.page_mapcount() == 1, "the pinned page was unmapped");
        load.verify()?;
        allocator().drain_all_pages();
        pr_info!(
            "cma: pinned pfn {:#x}: cma_alloc of the whole area refused with -EBUSY; free pages {} before, {} after",
            pin.pfn().0,
            free0,
            allocator().nr_free_pages()
        );
        // Without the pin the same call succeeds.
        drop(pin);
        let whole = cma::cma_alloc(a, a.count(), 0, Gfp::KERNEL).map_err(|e| alloc::format!("after unpinning: {e}"))?;
        check_eq!(a.used_pages(), a.count());
        drop(whole);
        load.verify()?;
        load.stop()?;
    }
    PageCounts::now().check_back_to(&before)
}
