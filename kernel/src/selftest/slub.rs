//! SLUB on the real page allocator, on every CPU: kmalloc size classes,
//! large kmalloc, objects freed by other CPUs, shrinking back to the page
//! allocator's exact free count, and misuse (double and invalid free)
//! reported without damage.
//!
//! These tests allocate their own bookkeeping before taking a baseline and
//! compare page counts only after shrinking every kmalloc cache and draining
//! the per-CPU page lists.

use super::{Test, TestResult};
use crate::slab::{KMALLOC_SIZES, kfree, kmalloc, ksize, shrink_kmalloc_caches, slub};
use crate::{check, check_eq, fail, smp};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use mm::gfp::Gfp;

pub const TESTS: &[Test] = &[
    Test { suite: "slub", name: "kmalloc_size_classes_and_ksize", run: kmalloc_size_classes_and_ksize },
    Test { suite: "slub", name: "large_kmalloc_uses_pages", run: large_kmalloc_uses_pages },
    Test { suite: "slub", name: "every_cpu_frees_others_objects", run: every_cpu_frees_others_objects },
    Test { suite: "slub", name: "double_and_invalid_free_reported", run: double_and_invalid_free_reported },
];

/// Free pages after returning every empty slab and draining the pcp lists.
fn settled_free_pages() -> u64 {
    shrink_kmalloc_caches();
    let pa = crate::page_alloc::allocator();
    pa.drain_all_pages();
    pa.nr_free_pages()
}

fn kmalloc_size_classes_and_ksize() -> TestResult {
    let base = settled_free_pages();
    for size in (1..=8192usize).step_by(37).chain(KMALLOC_SIZES) {
        let p = kmalloc(size, Gfp::KERNEL).map_err(|e| alloc::format!("kmalloc({size}): {e}"))?;
        let got = ksize(p.as_ptr());
        // The class is the smallest kmalloc size that holds the request.
        let class = KMALLOC_SIZES.iter().copied().find(|&c| c >= size).unwrap_or(0);
        if got != class {
            // SAFETY: p is a live kmalloc object, not used after this.
            unsafe { kfree(p.as_ptr()) };
            fail!("ksize(kmalloc({size})) = {got}, expected the {class}-byte class");
        }
        if class.is_power_of_two() {
            check!(
                (p.as_ptr() as usize).is_multiple_of(class),
                "kmalloc({size}) at {:p} not aligned to {class}",
                p.as_ptr()
            );
        }
        // SAFETY: `got` bytes are the object's, writable while it lives.
        unsafe { core::ptr::write_bytes(p.as_ptr(), 0xa5, got) };
        // SAFETY: live object, not used after this.
        unsafe { kfree(p.as_ptr()) };
    }
    // SAFETY: kfree(NULL) is defined to do nothing.
    unsafe { kfree(core::ptr::null()) };
    // kzalloc zeroes even an object that was just dirtied and freed.
    let d = kmalloc(100, Gfp::KERNEL).map_err(|e| alloc::format!("{e}"))?;
    // SAFETY: 100 bytes of a live object; freed once, not used after.
    unsafe {
        core::ptr::write_bytes(d.as_ptr(), 0xee, 100);
        kfree(d.as_ptr());
    }
    let z = crate::slab::kzalloc(100, Gfp::KERNEL).map_err(|e| alloc::format!("{e}"))?;
    // SAFETY: 100 readable bytes of a live object.
    let zeroed = unsafe { core::slice::from_raw_parts(z.as_ptr(), 100) }.iter().all(|&b| b == 0);
    // SAFETY: live object, freed once.
    unsafe { kfree(z.as_ptr()) };
    check!(zeroed, "kzalloc(100) returned non-zero bytes");
    check_eq!(settled_free_pages(), base);
    Ok(())
}

fn large_kmalloc_uses_pages() -> TestResult {
    let base = settled_free_pages();
    let p = kmalloc(64 << 10, Gfp::KERNEL).map_err(|e| alloc::format!("kmalloc(64K): {e}"))?;
    check!((p.as_ptr() as usize).is_multiple_of(4096), "large kmalloc not page aligned");
    let during = settled_free_pages();
    // SAFETY: live object, not used after this.
    unsafe { kfree(p.as_ptr()) };
    check_eq!(base - during, 16);
    check_eq!(settled_free_pages(), base);
    Ok(())
}

const PER_CPU: usize = 64;
static POOL: [AtomicU64; arch::percpu::NR_CPUS * PER_CPU] =
    [const { AtomicU64::new(0) }; arch::percpu::NR_CPUS * PER_CPU];
static BAD: AtomicUsize = AtomicUsize::new(0);

fn alloc_into_pool(cpu: usize) {
    for i in 0..PER_CPU {
        let size = KMALLOC_SIZES[(cpu * 7 + i) % KMALLOC_SIZES.len()];
        match kmalloc(size, Gfp::KERNEL) {
            Ok(p) => {
                // Tag the object with its owner, to check nobody else wrote it.
                // SAFETY: at least 8 bytes, live, ours.
                unsafe { (p.as_ptr() as *mut u64).write(cpu as u64 * 1000 + i as u64) };
                POOL[cpu * PER_CPU + i].store(p.as_ptr() as u64, Ordering::Release);
            }
            Err(_) => {
                BAD.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn free_neighbours(cpu: usize) {
    let online: alloc::vec::Vec<usize> = (0..arch::percpu::NR_CPUS).filter(|&c| smp::cpu_online(c)).collect();
    let me = online.iter().position(|&c| c == cpu).unwrap_or(0);
    let victim = online[(me + 1) % online.len()];
    for i in 0..PER_CPU {
        let p = POOL[victim * PER_CPU + i].swap(0, Ordering::AcqRel) as *mut u8;
        if p.is_null() {
            continue;
        }
        // SAFETY: the object was allocated by `victim` and published in POOL;
        // the swap above made it ours alone.
        let tag = unsafe { (p as *const u64).read() };
        if tag != victim as u64 * 1000 + i as u64 {
            BAD.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as above; not used after this.
        unsafe { kfree(p) };
    }
}

fn every_cpu_frees_others_objects() -> TestResult {
    let base = settled_free_pages();
    BAD.store(0, Ordering::Relaxed);
    smp::on_each_cpu(alloc_into_pool);
    smp::on_each_cpu(free_neighbours);
    check_eq!(BAD.load(Ordering::Relaxed), 0);
    check!(POOL.iter().all(|p| p.load(Ordering::Relaxed) == 0), "objects left in the pool");
    check_eq!(settled_free_pages(), base);
    Ok(())
}

fn double_and_invalid_free_reported() -> TestResult {
    let Some(s) = slub() else { fail!("SLUB is not up") };
    let Some(cache) = s.kmalloc_slab(64, Gfp::KERNEL) else { fail!("no kmalloc-64") };
    let errors_before = cache.errors();
    let a = kmalloc(64, Gfp::KERNEL).map_err(|e| alloc::format!("{e}"))?;
    let b = kmalloc(64, Gfp::KERNEL).map_err(|e| alloc::format!("{e}"))?;
    // SAFETY: a is live; freed once here.
    unsafe { kfree(a.as_ptr()) };
    // SAFETY: deliberately freeing `a` again: the naive double-free check
    // (it is at the head of the freelist) must catch it and refuse.
    unsafe { kfree(a.as_ptr()) };
    check!(cache.errors() > errors_before, "double free of {:p} not detected", a.as_ptr());
    // An address inside `b`, not at an object boundary.
    let errors_mid = cache.errors();
    // SAFETY: deliberately invalid: must be reported and refused, not freed.
    unsafe { kfree(b.as_ptr().add(8)) };
    check!(cache.errors() > errors_mid, "invalid free of {:p} not detected", b.as_ptr().wrapping_add(8));
    // The allocator is healthy afterwards: b frees, a new pair comes and goes.
    // SAFETY: b is live; freed once.
    unsafe { kfree(b.as_ptr()) };
    let c = kmalloc(64, Gfp::KERNEL).map_err(|e| alloc::format!("{e}"))?;
    let d = kmalloc(64, Gfp::KERNEL).map_err(|e| alloc::format!("{e}"))?;
    check!(c != d, "the same object handed out twice");
    // SAFETY: live objects, freed once each.
    unsafe {
        kfree(c.as_ptr());
        kfree(d.as_ptr());
    }
    Ok(())
}
