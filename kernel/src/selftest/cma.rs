//! CMA on free memory: the areas the boot declared are MIGRATE_CMA
//! pageblocks, cma_alloc takes the whole area (in maxchunk pieces, then in
//! random ones) and cma_release gives every page back, with exact counts;
//! atomic callers are refused; dma_alloc_coherent draws large buffers from
//! the default area. Runs before any user task, so nothing movable lives in
//! the areas and no migration is needed (the suite with user pages and the
//! kernel's migrator is the integrator's).

use super::harness::{Test, TestResult, expect_bug};
use crate::init::state;
use crate::memory::cma::{
    self, CMA_ALIGNMENT, CmaPages, DmaBuffer, cma_alloc, cma_release, dma_alloc_coherent, dma_free_coherent,
};
use crate::memory::page_alloc::allocator;
use crate::{check, check_eq, fail};
use alloc::vec::Vec;
use mm::cma::Cma;
use mm::gfp::Gfp;
use mm::mmzone::MigrateType;
use mm::vmstat::{VmEvent, vm_event};
use mm::{Error, PAGE_SIZE, Pfn};

pub const TESTS: &[Test] = &[
    Test { suite: "cma", name: "areas_are_cma_pageblocks", run: areas_are_cma_pageblocks },
    Test { suite: "cma", name: "whole_area_in_maxchunk_pieces", run: whole_area_in_maxchunk_pieces },
    Test { suite: "cma", name: "whole_area_in_random_pieces", run: whole_area_in_random_pieces },
    Test { suite: "cma", name: "atomic_context_is_refused", run: atomic_context_is_refused },
    Test { suite: "cma", name: "dma_alloc_coherent_draws_on_the_default_area", run: dma_coherent },
];

/// The area the boot should have made the default, by the command line
/// and the device tree: (name, base, size in bytes), or None. A `cma=`
/// area exists if memblock noted its reservation (it may have been refused,
/// which the boot log says).
fn expected_default() -> Option<(&'static str, Option<u64>, u64)> {
    let st = state::get();
    // The area memblock reserved for `cma=` or for the built-in default
    // size (none if that reservation failed).
    let reserved = || {
        crate::memory::memblock::RESERVATIONS
            .lock()
            .iter()
            .find(|r| r.source.starts_with("cma="))
            .map(|r| (mm::cma::CMDLINE_AREA_NAME, Some(r.base), r.size))
    };
    match st.params.cma {
        Some(c) if c.size_bytes == 0 => None,
        Some(_) => reserved(),
        None => st
            .dt
            .reserved
            .iter()
            .find(|n| n.cma_default && n.reusable && n.shared_dma_pool && !n.no_map)
            .and_then(|n| n.size.or(n.reg.map(|r| r.1)))
            .map(|s| ("", None, s))
            .or_else(reserved),
    }
}

fn areas_are_cma_pageblocks() -> TestResult {
    let pa = allocator();
    match (expected_default(), cma::default_area()) {
        (None, None) => {}
        (Some((name, base, size)), Some(a)) => {
            check_eq!(a.size_bytes(), size);
            check!(base.is_none_or(|b| b == a.base_pfn().phys().as_u64()), "default area not where memblock put it");
            check!(name.is_empty() || a.name() == name, "default area is {:?}, expected {:?}", a.name(), name);
        }
        (e, a) => fail!("default area {:?}, expected {:?}", a.map(Cma::name), e.map(|e| e.0)),
    }
    let mut total = 0;
    // An area the boot could not activate (it spans two zones: the boot
    // log says so) gave its pages back as ordinary memory.
    for a in cma::areas().filter(|a| a.is_active()) {
        for pb in (0..a.count()).step_by(mm::cma::CMA_MIN_ALIGNMENT_PAGES as usize) {
            let pfn = Pfn(a.base_pfn().0 + pb);
            check_eq!(pa.pageblock_migratetype(pfn), Some(MigrateType::Cma));
        }
        total += a.count();
    }
    check_eq!(cma::totalcma_pages(), total);
    check_eq!(pa.all_zones().map(|z| z.cma_pages()).sum::<u64>(), total);
    Ok(())
}

/// The default area, if the boot activated it.
fn active_default() -> Option<&'static Cma> {
    cma::default_area().filter(|a| a.is_active())
}

/// Every area with its pages all free (the suite runs before user tasks).
fn free_areas() -> Result<Vec<&'static Cma>, alloc::string::String> {
    let pa = allocator();
    pa.drain_all_pages();
    let free: u64 = pa.all_zones().map(|z| z.free_cma_pages()).sum();
    let total: u64 = pa.all_zones().map(|z| z.cma_pages()).sum();
    check_eq!(free, total);
    Ok(cma::areas().filter(|a| a.is_active()).collect())
}

/// Write a different word into each page of `p`, then check them all.
fn scribble(p: &CmaPages) -> TestResult {
    let base = p.address().as_u64();
    for i in 0..p.nr_pages() {
        let word = (base + i * PAGE_SIZE) as *mut u64;
        // SAFETY: the page is one of the range `p` owns, mapped by the
        // linear map read-write; nothing else uses it.
        unsafe { word.write_volatile(p.pfn().0 + i) };
    }
    for i in 0..p.nr_pages() {
        let word = (base + i * PAGE_SIZE) as *const u64;
        // SAFETY: as above.
        let v = unsafe { word.read_volatile() };
        check_eq!(v, p.pfn().0 + i);
    }
    Ok(())
}

fn whole_area_in_maxchunk_pieces() -> TestResult {
    let pa = allocator();
    for a in free_areas()? {
        let (ok0, fail0) = (vm_event(VmEvent::CmaAllocSuccess), vm_event(VmEvent::CmaAllocFail));
        let free0: u64 = pa.all_zones().map(|z| z.free_cma_pages()).sum();
        check_eq!((a.used_pages(), a.maxchunk_pages()), (0, a.count()));
        let mut held = Vec::new();
        while a.maxchunk_pages() > 0 {
            let n = a.maxchunk_pages();
            match cma_alloc(a, n, 0, Gfp::KERNEL) {
                Ok(p) => {
                    check!(a.contains(p.pfn(), p.nr_pages()), "piece outside the area");
                    check!(core::ptr::eq(p.area(), a), "piece of another area");
                    held.push(p);
                }
                Err(e) => fail!("{}: cma_alloc of the {} page maxchunk: {}", a.name(), n, e),
            }
        }
        check_eq!(a.used_pages(), a.count());
        check_eq!(held.iter().map(CmaPages::nr_pages).sum::<u64>(), a.count());
        let free_now: u64 = pa.all_zones().map(|z| z.free_cma_pages()).sum();
        check_eq!(free0 - free_now, a.count());
        for p in &held {
            scribble(p)?;
        }
        // A full area fails cleanly.
        check_eq!(cma_alloc(a, 1, 0, Gfp::KERNEL | Gfp::NOWARN).err(), Some(Error::NoMemory));
        let nr = held.len() as u64;
        for p in held {
            cma_release(p);
        }
        pa.drain_all_pages();
        check_eq!((a.used_pages(), a.maxchunk_pages()), (0, a.count()));
        check_eq!(pa.all_zones().map(|z| z.free_cma_pages()).sum::<u64>(), free0);
        check_eq!(vm_event(VmEvent::CmaAllocSuccess) - ok0, nr);
        check_eq!(vm_event(VmEvent::CmaAllocFail) - fail0, 1);
    }
    Ok(())
}

fn whole_area_in_random_pieces() -> TestResult {
    let pa = allocator();
    let mut seed = arch::timer::uptime_ns() | 1;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for a in free_areas()? {
        let (ok0, fail0) = (vm_event(VmEvent::CmaAllocSuccess), vm_event(VmEvent::CmaAllocFail));
        let free0: u64 = pa.all_zones().map(|z| z.free_cma_pages()).sum();
        let mut held: Vec<CmaPages> = Vec::new();
        let (mut ok, mut failed) = (0u64, 0u64);
        // Random pieces until the area is full: each failure is followed by
        // a smaller try, down to what maxchunk says still fits.
        while a.maxchunk_pages() > 0 {
            let n = 1 + rand((a.count() / 8).max(1));
            let align = rand(5) as u32;
            match cma_alloc(a, n, align, Gfp::KERNEL | Gfp::NOWARN) {
                Ok(p) => {
                    check!(p.pfn().0.is_multiple_of(1 << align), "pfn {:#x} not aligned to order {}", p.pfn().0, align);
                    check!(a.contains(p.pfn(), n), "piece outside the area");
                    for q in &held {
                        let disjoint = p.pfn().0 + n <= q.pfn().0 || q.pfn().0 + q.nr_pages() <= p.pfn().0;
                        check!(disjoint, "pieces at {:#x} and {:#x} overlap", p.pfn().0, q.pfn().0);
                    }
                    ok += 1;
                    held.push(p);
                }
                Err(Error::NoMemory) => {
                    failed += 1;
                    // Fill what is left with the largest piece that fits.
                    let m = a.maxchunk_pages();
                    if m > 0 {
                        match cma_alloc(a, m, 0, Gfp::KERNEL) {
                            Ok(p) => {
                                ok += 1;
                                held.push(p);
                            }
                            Err(e) => fail!("{}: maxchunk {} did not fit: {}", a.name(), m, e),
                        }
                    }
                }
                Err(e) => fail!("{}: cma_alloc({}, order {}): {}", a.name(), n, align, e),
            }
            check_eq!(a.used_pages(), held.iter().map(CmaPages::nr_pages).sum::<u64>());
        }
        check_eq!(a.used_pages(), a.count());
        for p in &held {
            scribble(p)?;
        }
        // Release in random order.
        while !held.is_empty() {
            let i = rand(held.len() as u64) as usize;
            cma_release(held.swap_remove(i));
            check_eq!(a.used_pages(), held.iter().map(CmaPages::nr_pages).sum::<u64>());
        }
        pa.drain_all_pages();
        check_eq!((a.used_pages(), a.maxchunk_pages()), (0, a.count()));
        check_eq!(pa.all_zones().map(|z| z.free_cma_pages()).sum::<u64>(), free0);
        check_eq!(vm_event(VmEvent::CmaAllocSuccess) - ok0, ok);
        check_eq!(vm_event(VmEvent::CmaAllocFail) - fail0, failed);
    }
    Ok(())
}

fn atomic_context_is_refused() -> TestResult {
    let Some(a) = active_default() else {
        check!(cma::areas().all(|a| !a.is_active()), "active areas but no active default area");
        return Ok(());
    };
    let fail0 = vm_event(VmEvent::CmaAllocFail);
    let r = expect_bug(format_args!("(sleeping function called from invalid context, preemption off)"), || {
        arch::percpu::preempt_disable();
        let r = cma_alloc(a, 1, 0, Gfp::KERNEL);
        arch::percpu::preempt_enable();
        r
    });
    check_eq!(r.as_ref().err(), Some(&Error::InvalidArgument));
    let r2 = expect_bug(format_args!("(sleeping function called from invalid context, IRQs masked)"), || {
        let flags = arch::irqflags::local_irq_save();
        let r = cma_alloc(a, 1, 0, Gfp::KERNEL);
        arch::irqflags::local_irq_restore(flags);
        r
    });
    check_eq!(r2.as_ref().err(), Some(&Error::InvalidArgument));
    check_eq!(vm_event(VmEvent::CmaAllocFail) - fail0, 2);
    check_eq!(a.used_pages(), 0);
    // The same call from a context that may sleep works.
    let p = match cma_alloc(a, 1, 0, Gfp::KERNEL) {
        Ok(p) => p,
        Err(e) => fail!("cma_alloc outside atomic context: {}", e),
    };
    check_eq!(a.used_pages(), 1);
    cma_release(p);
    check_eq!(a.used_pages(), 0);
    Ok(())
}

fn dma_coherent() -> TestResult {
    let area = active_default();
    let big: DmaBuffer = match dma_alloc_coherent(1 << 20, Gfp::KERNEL) {
        Ok(b) => b,
        Err(e) => fail!("dma_alloc_coherent(1 MiB): {}", e),
    };
    check_eq!(big.is_cma(), area.is_some());
    if let Some(a) = area {
        check!(a.contains(big.dma_handle().pfn(), (1 << 20) / PAGE_SIZE), "CMA buffer outside the default area");
        check_eq!(a.used_pages(), (1 << 20) / PAGE_SIZE);
        // Aligned to the size's order (8, 1 MiB), capped at CMA_ALIGNMENT.
        let align = PAGE_SIZE << mm::page_alloc::get_order(1 << 20).min(CMA_ALIGNMENT);
        check!(big.dma_handle().as_u64().is_multiple_of(align), "1 MiB buffer not aligned to its order");
    }
    let base = big.cpu_addr().as_u64();
    for off in (0..big.size_bytes()).step_by(512) {
        // SAFETY: inside the buffer `big` owns, mapped by the linear map.
        let v = unsafe { ((base + off) as *const u64).read_volatile() };
        check_eq!(v, 0);
    }
    // One page never comes from CMA (dma_alloc_contiguous).
    let small = match dma_alloc_coherent(PAGE_SIZE, Gfp::KERNEL) {
        Ok(b) => b,
        Err(e) => fail!("dma_alloc_coherent(4 KiB): {}", e),
    };
    check!(!small.is_cma(), "a one-page buffer came from CMA");
    dma_free_coherent(small);
    // A caller that may not sleep gets pages, never CMA, and no BUG report.
    arch::percpu::preempt_disable();
    let atomic = dma_alloc_coherent(1 << 20, Gfp::ATOMIC);
    arch::percpu::preempt_enable();
    match atomic {
        Ok(b) => {
            check!(!b.is_cma(), "an atomic caller's buffer came from CMA");
            dma_free_coherent(b);
        }
        Err(e) => fail!("dma_alloc_coherent(1 MiB, atomic): {}", e),
    }
    dma_free_coherent(big);
    if let Some(a) = area {
        check_eq!(a.used_pages(), 0);
    }
    Ok(())
}
