//! debug_pagealloc (`debug_pagealloc=on`): freed pages leave the linear map
//! and come back when allocated. The tests assert the state either way:
//! with the option on, a freed page no longer translates (software walk and
//! AT) and a load from it faults on every CPU; with it off, the same page
//! stays mapped and readable. Either way an allocated page is mapped.

use super::harness::{Test, TestResult};
use crate::memory::layout::PCI_IO_START;
use crate::memory::pages::alloc_pages;
use crate::memory::pgtable;
use crate::{check, check_eq};
use core::sync::atomic::{AtomicU64, Ordering};
use mm::gfp::Gfp;
use mm::pgtable::{LAST_LEVEL, MapFlags, PageProt};
use mm::{PAGE_SIZE, VirtAddr};

pub const TESTS: &[Test] = &[
    Test { suite: "debug_pagealloc", name: "linear_map_granularity", run: linear_map_granularity },
    Test { suite: "debug_pagealloc", name: "freed_pages_fault_on_every_cpu", run: freed_pages_fault_on_every_cpu },
    Test { suite: "debug_pagealloc", name: "table_page_allocated_under_kernel_pt", run: table_page_under_kernel_pt },
];

fn online_cpus() -> u64 {
    (0..arch::percpu::NR_CPUS).filter(|&c| crate::smp::cpumask::cpu_online(c)).count() as u64
}

/// The option took effect exactly when asked for; when it is on, an
/// allocated block is mapped with pages and the locked page-table calls
/// refuse the linear map.
fn linear_map_granularity() -> TestResult {
    let on = pgtable::debug_pagealloc_enabled();
    check_eq!(on, crate::init::state::get().params.debug_pagealloc);
    let block = alloc_pages(Gfp::KERNEL, 9).map_err(|e| alloc::format!("order-9 block: {e}"))?;
    for i in [0, 1, 255, 511] {
        let va = block.address() + i * PAGE_SIZE;
        let t = pgtable::translate(va).ok_or_else(|| alloc::format!("allocated page {va:?} does not translate"))?;
        check_eq!(t.pa, block.pfn().phys() + i * PAGE_SIZE);
        if on {
            check_eq!(t.level, LAST_LEVEL);
        }
    }
    if on {
        // The locked walker keeps off the leaves the hook owns.
        let va = block.address();
        let pa = block.pfn().phys();
        check_eq!(pgtable::unmap_kernel_range(va, PAGE_SIZE), Err(mm::Error::Busy));
        check_eq!(pgtable::change_kernel_prot(va, PAGE_SIZE, PageProt::KERNEL_RO), Err(mm::Error::Busy));
        check_eq!(
            pgtable::map_kernel_range(va, pa, PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS),
            Err(mm::Error::Busy)
        );
        check_eq!(pgtable::translate(va).map(|t| (t.pa, t.prot)), Some((pa, PageProt::KERNEL_RW)));
    }
    check_eq!(pgtable::kernel_map_misses(), 0);
    Ok(())
}

static PROBE_VA: AtomicU64 = AtomicU64::new(0);
static PROBE_PAGES: AtomicU64 = AtomicU64::new(0);
static FAULTS: AtomicU64 = AtomicU64::new(0);

/// On each CPU: load the first word of every probed page; count the faults.
fn probe_pages(_cpu: usize) {
    let va = PROBE_VA.load(Ordering::Acquire);
    for i in 0..PROBE_PAGES.load(Ordering::Acquire) {
        // SAFETY: aligned; the pages are this test's (allocated, or freed by
        // it and left on a free list nobody allocates from meanwhile), so a
        // load that succeeds reads RAM harmlessly.
        if unsafe { arch::exception::probe_read32(va + i * PAGE_SIZE) }.is_err() {
            FAULTS.fetch_add(1, Ordering::AcqRel);
        }
    }
}

/// Faults on every online CPU when each loads each page at `va`.
fn faults_everywhere(va: VirtAddr, nr_pages: u64) -> u64 {
    PROBE_VA.store(va.as_u64(), Ordering::Release);
    PROBE_PAGES.store(nr_pages, Ordering::Release);
    FAULTS.store(0, Ordering::Release);
    crate::smp::call::on_each_cpu(probe_pages);
    FAULTS.load(Ordering::Acquire)
}

/// Write a block, let every CPU read it (their TLBs now hold it), free it:
/// with the option on it stops translating and every CPU faults on it (the
/// unmap's TLB invalidation reached them all); off, it still reads. Then
/// the next allocation is mapped again. Through the pcp lists (orders 0
/// and 3) and the buddy lists (order 5).
fn freed_pages_fault_on_every_cpu() -> TestResult {
    let on = pgtable::debug_pagealloc_enabled();
    let cpus = online_cpus();
    for order in [0u32, 3, 5] {
        let n = 1u64 << order;
        let page = alloc_pages(Gfp::KERNEL, order).map_err(|e| alloc::format!("order {order}: {e}"))?;
        let va = page.address();
        for i in 0..n {
            // SAFETY: page i of the block this test owns, mapped read-write.
            unsafe { ((va + i * PAGE_SIZE).as_u64() as *mut u32).write_volatile(0xdead_0000 | i as u32) };
        }
        check_eq!(faults_everywhere(va, n), 0);
        drop(page);
        for i in 0..n {
            let page_va = va + i * PAGE_SIZE;
            check!(
                pgtable::translate(page_va).is_none() == on,
                "order {order}: freed page {i} translates {:?} (debug_pagealloc {on})",
                pgtable::translate(page_va)
            );
            check!(arch::mmu::at_s1e1r(page_va).is_err() == on, "order {order}: AT disagrees for page {i}");
        }
        let want = if on { n * cpus } else { 0 };
        check_eq!(faults_everywhere(va, n), want);
        let again = alloc_pages(Gfp::KERNEL, order).map_err(|e| alloc::format!("order {order} again: {e}"))?;
        let va2 = again.address();
        check_eq!(faults_everywhere(va2, n), 0);
        for i in 0..n {
            let p = (va2 + i * PAGE_SIZE).as_u64() as *mut u32;
            // SAFETY: page i of the block just allocated, mapped read-write.
            let back = unsafe {
                p.write_volatile(0xbeef_0000 | i as u32);
                p.read_volatile()
            };
            check_eq!(back, 0xbeef_0000 | i as u32);
        }
    }
    check_eq!(pgtable::kernel_map_misses(), 0);
    Ok(())
}

/// A mapping that needs a new table page while the image's pool is empty
/// takes it from the page allocator under `KERNEL_PT`, so the allocation's
/// debug_pagealloc hook runs inside the page-table lock: it must not take
/// it (this would hang), and it must map the table page before the walker
/// zeroes it through the linear map (this would oops). The PCI I/O window
/// is reserved and unmapped, so its first 2 MiB have no L3 table yet (the
/// one allocated here is kept, as kernel tables are).
fn table_page_under_kernel_pt() -> TestResult {
    let on = pgtable::debug_pagealloc_enabled();
    let va = VirtAddr(PCI_IO_START);
    check!(pgtable::translate(va).is_none(), "the PCI I/O window is mapped");
    let pool = pgtable::pool_pages_free();
    if on && pool != 0 {
        // Little RAM: the linear map's tables left some of the pool.
        crate::pr_info!(
            "selftest: debug_pagealloc: {pool} page-table pool pages left; the new table comes from the pool, not the page allocator"
        );
    }
    let page = alloc_pages(Gfp::KERNEL, 0).map_err(|e| alloc::format!("{e}"))?;
    let pa = page.pfn().phys();
    pgtable::map_kernel_range(va, pa, PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS)
        .map_err(|e| alloc::format!("map: {e}"))?;
    let r = (|| -> TestResult {
        check_eq!(pgtable::translate(va).map(|t| t.pa), Some(pa));
        // SAFETY: the page is this test's, mapped read-write at both addresses.
        let back = unsafe {
            (va.as_u64() as *mut u64).write_volatile(0x5a5a_1234);
            (page.address().as_u64() as *const u64).read_volatile()
        };
        check_eq!(back, 0x5a5a_1234);
        Ok(())
    })();
    check_eq!(pgtable::unmap_kernel_range(va, PAGE_SIZE), Ok(1));
    check_eq!(pgtable::kernel_map_misses(), 0);
    r
}
