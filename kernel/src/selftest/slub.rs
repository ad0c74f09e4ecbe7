//! SLUB wired into this kernel, on the real page allocator and every CPU:
//! objects freed by other CPUs, a corrupted free pointer isolated at the
//! cost of at most one slab, `slub_debug=` reaching the kmalloc caches,
//! slabinfo and meminfo agreeing with the buddy allocator, and the kernel's
//! mempools carrying a caller through exhaustion.
//!
//! The SLUB algorithms themselves (size classes, large kmalloc, red zones,
//! poisoning, double and invalid frees, destroying a busy cache, krealloc)
//! are tested on the host, in `mm`'s slub tests, and not again here.
//!
//! These tests allocate their own bookkeeping before taking a baseline and
//! compare page counts only after shrinking every kmalloc cache and draining
//! the per-CPU page lists.

use super::harness::{Test, TestResult, expect_bug};
use crate::memory::slab::{KMALLOC_SIZES, kfree, kmalloc, shrink_kmalloc_caches, slub};
use crate::smp::{call, cpumask};
use crate::{check, check_eq, fail};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use mm::gfp::Gfp;

pub const TESTS: &[Test] = &[
    Test { suite: "slub", name: "every_cpu_frees_others_objects", run: every_cpu_frees_others_objects },
    Test { suite: "slub", name: "corrupted_free_pointer_detected", run: corrupted_free_pointer },
    Test { suite: "slub", name: "kmalloc_red_zone_from_requested_size", run: kmalloc_red_zone },
    Test { suite: "slub", name: "slabinfo_and_meminfo_agree_with_buddy", run: slabinfo_agrees_with_buddy },
    Test { suite: "slub", name: "mempool_reserve_carries_through_exhaustion", run: mempool_reserve },
    Test { suite: "slub", name: "kbox_and_kmalloc_buf_free_on_drop", run: kbox_and_kmalloc_buf },
    Test { suite: "slub", name: "kfree_of_a_stray_pointer_is_reported_and_ignored", run: kfree_stray_pointer },
];

/// Seed 001's critical path on the real allocator: with every free page
/// taken, mempool_alloc still gets its min_nr reserved elements, then fails
/// cleanly; frees refill the reserve; all memory comes back.
fn mempool_reserve() -> TestResult {
    let base = settled_free_pages();
    let kpool =
        crate::memory::slab::mempool_create_kmalloc_pool(2, 128).map_err(|e| alloc::format!("kmalloc pool: {e}"))?;
    let pool = crate::memory::slab::mempool_create_page_pool(4).map_err(|e| alloc::format!("page pool: {e}"))?;
    // Take every free page: highest orders first, chained through the
    // blocks' descriptors' index field (no heap, no arrays).
    let pa = crate::memory::page_alloc::allocator();
    let cpu = arch::percpu::smp_processor_id();
    let mut chain: Option<(mm::Pfn, u32)> = None;
    let mut held = 0u64;
    for order in (0..=10u32).rev() {
        let gfp = Gfp::KERNEL | Gfp::NOWARN | Gfp::HIGH | Gfp::MEMALLOC;
        while let Ok(pfn) = pa.alloc_pages(cpu, gfp, order) {
            let Some(page) = pa.memmap().pfn_to_page(pfn) else { fail!("no descriptor for {pfn:?}") };
            let link = chain.map_or(u64::MAX, |(p, o)| (p.0 << 4) | o as u64);
            page.set_index(link);
            chain = Some((pfn, order));
            held += 1 << order;
        }
    }
    // Now the allocator fails, and the pool's reserve carries the caller.
    let mut got = alloc::vec::Vec::new();
    let r = (|| -> TestResult {
        check!(pa.alloc_pages(cpu, Gfp::KERNEL | Gfp::NOWARN, 0).is_err(), "memory not exhausted");
        for _ in 0..4 {
            got.push(pool.alloc(Gfp::KERNEL).map_err(|e| alloc::format!("reserve element: {e}"))?);
        }
        check_eq!(pool.curr_nr(), 0);
        check_eq!(pool.alloc(Gfp::ATOMIC).err(), Some(mm::Error::NoMemory));
        let k = kpool.alloc(Gfp::KERNEL).map_err(|e| alloc::format!("kmalloc pool: {e}"))?;
        // SAFETY: k came from kpool and is not used again.
        unsafe { kpool.free(k) };
        Ok(())
    })();
    for e in got.drain(..) {
        // SAFETY: each element came from `pool` and is not used again.
        unsafe { pool.free(e) };
    }
    check_eq!(pool.curr_nr(), 4);
    // Give everything back.
    while let Some((pfn, order)) = chain {
        let page = pa.memmap().pfn_to_page(pfn);
        let link = page.map_or(u64::MAX, |p| p.index());
        if let Some(p) = page {
            p.set_index(0);
        }
        // SAFETY: 1. a block this test allocated and chained; 2. with its own
        // order; 3. its link was read above and nothing uses it again.
        unsafe { pa.free_pages(cpu, pfn, order) };
        held -= 1 << order;
        chain = (link != u64::MAX).then_some((mm::Pfn(link >> 4), (link & 0xf) as u32));
    }
    r?;
    check_eq!(held, 0);
    drop(pool);
    drop(kpool);
    check_eq!(settled_free_pages(), base);
    Ok(())
}

/// One new slab moves the buddy allocator's free count, the slab page count
/// behind meminfo's Slab line, and the cache's slabinfo columns by exactly
/// one slab; destroying the cache moves them all back.
fn slabinfo_agrees_with_buddy() -> TestResult {
    use mm::slub::SlabFlags;
    let Some(s) = slub() else { fail!("SLUB is not up") };
    let cpu = arch::percpu::smp_processor_id();
    let free0 = settled_free_pages();
    let (r0, u0) = s.nr_slab_pages();
    let flags = SlabFlags::NO_USER_FLAGS;
    let c = s.kmem_cache_create(cpu, "TestSlub_agree", 200, 8, flags, None).map_err(|e| alloc::format!("{e}"))?;
    // The cache's own structures come from the page allocator too: count
    // the slab from here.
    let free_created = settled_free_pages();
    let p = alloc_obj(s, c)?;
    let info = s.cache_info(c);
    let per_slab = info.pagesperslab as u64;
    let (r1, u1) = s.nr_slab_pages();
    let free1 = settled_free_pages();
    // Read before the destroy frees the cache (a use after free that
    // debug_pagealloc=on caught: the cache's page left the linear map).
    let order = c.order();
    // SAFETY: p is live, freed once; the cache is destroyed right after.
    unsafe { free_obj(s, c, p) };
    // SAFETY: nothing of the cache is used after this.
    let d = unsafe { s.kmem_cache_destroy(cpu, c) };
    check_eq!((info.active_objs, info.num_slabs, info.active_slabs), (1, 1, 1));
    check_eq!(info.num_objs, info.objperslab);
    check_eq!(per_slab, 1u64 << order);
    check_eq!(r1, r0);
    check_eq!(u1 - u0, per_slab);
    check_eq!(free_created - free1, per_slab);
    check!(free0 >= free_created, "creating a cache freed pages");
    check_eq!(d, Ok(()));
    check_eq!(s.nr_slab_pages(), (r0, u0));
    check_eq!(settled_free_pages(), free0);
    // meminfo's Slab line is those pages in kB.
    let mut text = alloc::string::String::new();
    crate::memory::page_alloc::allocator()
        .meminfo(&mut text, &crate::memory::report::counters())
        .map_err(|_| alloc::string::String::from("meminfo"))?;
    let want = alloc::format!("{:<16}{:>8} kB", "Slab:", (r0 + u0) * 4);
    check!(text.lines().any(|l| l == want), "meminfo says {text:?}, expected a line {want:?}");
    Ok(())
}

/// Run `f` with a fresh cache named `name`, then destroy it; the page
/// allocator's free count must come back to where it was, less at most
/// `leaked_slabs` slabs isolated by design (Linux, too, leaks what it
/// cannot trust after a corrupted freelist).
fn with_cache_leaking(
    name: &'static str,
    size: usize,
    flags: mm::slub::SlabFlags,
    leaked_slabs: u64,
    f: impl FnOnce(&'static crate::memory::hal::Slub, &'static mm::slub::KmemCache) -> TestResult,
) -> TestResult {
    let Some(s) = slub() else { fail!("SLUB is not up") };
    let base = settled_free_pages();
    let cpu = arch::percpu::smp_processor_id();
    // Like Linux's kunit tests: the cache's debugging flags are the test's,
    // whatever slub_debug= says.
    let flags = flags | mm::slub::SlabFlags::NO_USER_FLAGS;
    let c = s.kmem_cache_create(cpu, name, size, 8, flags, None).map_err(|e| alloc::format!("create {name}: {e}"))?;
    let r = f(s, c);
    let slab_pages = 1u64 << c.order();
    // SAFETY: the test is done with `c` and every object in it.
    let d = unsafe { s.kmem_cache_destroy(cpu, c) };
    r?;
    check_eq!(d, Ok(()));
    let now = settled_free_pages();
    check!(
        now <= base && base - now <= leaked_slabs * slab_pages,
        "free pages {now}, baseline {base}: more than {leaked_slabs} slab(s) of {slab_pages} page(s) lost"
    );
    Ok(())
}

fn alloc_obj(s: &crate::memory::hal::Slub, c: &mm::slub::KmemCache) -> Result<*mut u8, alloc::string::String> {
    s.kmem_cache_alloc(arch::percpu::smp_processor_id(), c, Gfp::KERNEL)
        .map(|p| p.as_ptr())
        .map_err(|e| alloc::format!("alloc: {e}"))
}

/// # Safety
/// `p` is a live object of `c`, not used afterwards.
unsafe fn free_obj(s: &crate::memory::hal::Slub, c: &mm::slub::KmemCache, p: *mut u8) {
    // SAFETY: the caller's obligation.
    unsafe { s.kmem_cache_free(arch::percpu::smp_processor_id(), c, p) };
}

fn validate(s: &crate::memory::hal::Slub, c: &mm::slub::KmemCache) -> usize {
    s.validate_slab_cache(arch::percpu::smp_processor_id(), c)
}

fn corrupted_free_pointer() -> TestResult {
    use mm::slub::SlabFlags;
    with_cache_leaking("TestSlub_next_ptr_free", 64, SlabFlags::POISON, 1, |s, c| {
        let p = alloc_obj(s, c)?;
        // SAFETY: p is live, freed once.
        unsafe { free_obj(s, c, p) };
        let slot = p as usize + c.offset();
        // SAFETY: the free pointer of a free object, inside the slab: the corruption under test.
        unsafe { (slot as *mut u64).write((slot as *const u64).read() ^ 0x7f) };
        let what = format_args!("(twice) in TestSlub_next_ptr_free: Freepointer corrupt, then Wrong object count");
        check_eq!(expect_bug(what, || validate(s, c)), 2);
        check_eq!(validate(s, c), 0);
        // Allocation carries on past the isolated remainder.
        let q = alloc_obj(s, c)?;
        let r = alloc_obj(s, c)?;
        check!(q != r, "the same object twice");
        // SAFETY: live objects, freed once each.
        unsafe {
            free_obj(s, c, q);
            free_obj(s, c, r);
        }
        Ok(())
    })
}

/// kmalloc(18) from kmalloc-32: with red zones on kmalloc-32 (slub_debug=Z
/// or FZPU), the red zone starts at byte 18. Without slub_debug, kmalloc-32
/// must carry no debug flags at all.
fn kmalloc_red_zone() -> TestResult {
    use mm::slub::{SLUB_RED_ACTIVE, SlabFlags};
    let Some(s) = slub() else { fail!("SLUB is not up") };
    let Some(c) = s.kmalloc_slab(18, Gfp::KERNEL) else { fail!("no cache for 18 bytes") };
    check_eq!(c.name(), "kmalloc-32");
    if !c.flags().contains(SlabFlags::RED_ZONE) {
        check!(
            crate::init::state::get().params.slub_debug == bootdata::cmdline::SlubDebugArg::Unset,
            "slub_debug given but kmalloc-32 has no red zone"
        );
        check!(!c.flags().intersects(SlabFlags::POISON | SlabFlags::STORE_USER), "debug flags without slub_debug");
        return Ok(());
    }
    let before = c.errors();
    let p = kmalloc(18, Gfp::KERNEL).map_err(|e| alloc::format!("{e}"))?.as_ptr();
    // SAFETY: bytes 18 and 19 are in kmalloc-32's object: the kmalloc red zone.
    unsafe {
        check_eq!(p.add(18).read(), SLUB_RED_ACTIVE);
        p.add(18).write(0xab);
        p.add(19).write(0xab);
    }
    check_eq!(expect_bug(format_args!("in kmalloc-32: kmalloc Redzone overwritten"), || validate(s, c)), 1);
    check_eq!(validate(s, c), 0);
    // SAFETY: p is live, freed once.
    unsafe { kfree(p) };
    check_eq!(c.errors(), before + 1);
    Ok(())
}

/// Free pages after returning every empty slab and draining the pcp lists.
fn settled_free_pages() -> u64 {
    shrink_kmalloc_caches();
    let pa = crate::memory::page_alloc::allocator();
    pa.drain_all_pages();
    pa.nr_free_pages()
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
    let online: alloc::vec::Vec<usize> = (0..arch::percpu::NR_CPUS).filter(|&c| cpumask::cpu_online(c)).collect();
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
    call::on_each_cpu(alloc_into_pool);
    call::on_each_cpu(free_neighbours);
    check_eq!(BAD.load(Ordering::Relaxed), 0);
    check!(POOL.iter().all(|p| p.load(Ordering::Relaxed) == 0), "objects left in the pool");
    check_eq!(settled_free_pages(), base);
    Ok(())
}

static KBOX_DROPS: AtomicUsize = AtomicUsize::new(0);

/// A value whose drop is counted.
struct Counted(#[allow(dead_code)] u64);

impl Drop for Counted {
    fn drop(&mut self) {
        KBOX_DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

/// 256-byte aligned: more than kmalloc's 8 bytes.
#[repr(C, align(256))]
struct Aligned([u8; 40]);

/// The kernel's owning kmalloc handles: `KBox` and `KmallocBuf` take the
/// kmalloc class their size asks for, honour an alignment above kmalloc's,
/// zero what `zalloc` promises, place by node, run the value's drop, survive
/// a round trip through the raw pointer, and give every object back.
fn kbox_and_kmalloc_buf() -> TestResult {
    use crate::memory::kbox::{KBox, KmallocBuf};
    use crate::memory::pages::virt_to_page;
    let err = |e: mm::Error| alloc::format!("{e}");
    let base = settled_free_pages();
    KBOX_DROPS.store(0, Ordering::Relaxed);
    {
        let mut b = KBox::new([7u64; 100], Gfp::KERNEL).map_err(err)?;
        check_eq!(KBox::ksize(&b), 1024);
        b[99] = 8;
        check!(b[..99].iter().all(|&x| x == 7) && b[99] == 8, "KBox<[u64; 100]> contents wrong");
        let a = KBox::new(Aligned([1; 40]), Gfp::KERNEL).map_err(err)?;
        let at = &*a as *const Aligned as usize;
        check!(at.is_multiple_of(256), "KBox<Aligned> at {at:#x}, not 256-byte aligned");
        check_eq!(a.0, [1u8; 40]);
        let z = KmallocBuf::zalloc(300, Gfp::KERNEL).map_err(err)?;
        check!(z.len() == 300 && z.ksize() == 512, "zalloc(300): {} bytes, ksize {}", z.len(), z.ksize());
        check!(z.iter().all(|&x| x == 0), "zalloc(300) is not zero");
        let mut c = KmallocBuf::copy_from(b"mm-kernel", Gfp::KERNEL).map_err(err)?;
        c[0] = b'M';
        check_eq!(&c[..], b"Mm-kernel");
        let big = KmallocBuf::zalloc(64 << 10, Gfp::KERNEL).map_err(err)?;
        check!(big.ksize() == 64 << 10 && big.iter().all(|&x| x == 0), "large zalloc: ksize {}", big.ksize());
        let pa = crate::memory::page_alloc::allocator();
        let nid = pa.numa_mem_id(arch::percpu::smp_processor_id());
        let node_of = |p: *const u8| virt_to_page(mm::VirtAddr(p as u64)).map(|p| p.node());
        let n = KmallocBuf::zalloc_node(64, Gfp::KERNEL, nid).map_err(err)?;
        check_eq!(node_of(n.as_ptr()), Some(nid));
        let k = KBox::new_node(3u32, Gfp::KERNEL, nid).map_err(err)?;
        check!(*k == 3, "KBox::new_node lost its value");
        check_eq!(node_of(&*k as *const u32 as *const u8), Some(nid));
        let mut w = KBox::<[u64; 16]>::new_uninit_node(Gfp::KERNEL, nid).map_err(err)?;
        w.write([9; 16]);
        // SAFETY: 1. the value was just written through the MaybeUninit.
        let w = unsafe { w.assume_init() };
        check_eq!(*w, [9u64; 16]);
        // Dirty a 128-byte object, free it, and ask for a zeroed one.
        drop(KBox::new([0xeeu8; 128], Gfp::KERNEL).map_err(err)?);
        let zeroed = KBox::<[u8; 128]>::new_zeroed(Gfp::KERNEL).map_err(err)?;
        // SAFETY: 1. zero bytes are a valid [u8; 128].
        let zeroed = unsafe { zeroed.assume_init() };
        check!(zeroed.iter().all(|&x| x == 0), "KBox::new_zeroed is not zero");
        let (p, len) = c.into_raw();
        // SAFETY: 1. `(p, len)` came from into_raw just above and nothing else owns it.
        let c = unsafe { KmallocBuf::from_raw(p, len) };
        check_eq!(&c[..], b"Mm-kernel");
        drop(KBox::new(Counted(5), Gfp::KERNEL).map_err(err)?);
        check_eq!(KBOX_DROPS.load(Ordering::Relaxed), 1);
        let raw = KBox::into_raw(KBox::new(Counted(6), Gfp::KERNEL).map_err(err)?);
        check_eq!(KBOX_DROPS.load(Ordering::Relaxed), 1);
        // SAFETY: 1. `raw` came from into_raw just above and nothing else owns it.
        drop(unsafe { KBox::from_raw(raw) });
        check_eq!(KBOX_DROPS.load(Ordering::Relaxed), 2);
    }
    check_eq!(settled_free_pages(), base);
    Ok(())
}

/// kfree of what is no kmalloc object is reported and ignored, whatever
/// the address: an EL0 one, a non-canonical one, one just below the linear
/// map, the kernel image, a vmalloc page, and a page (and a byte inside
/// it) of the page allocator. kfree's fast path finds the slab from the
/// address without a range check first (Hal::virt_to_pfn_unchecked), so
/// these are the addresses that must still fall through to the checks.
fn kfree_stray_pointer() -> TestResult {
    use crate::memory::layout::PAGE_OFFSET;
    let Some(s) = slub() else { fail!("SLUB is not up") };
    let pages = crate::memory::pages::alloc_pages(Gfp::KERNEL, 0).map_err(|e| alloc::format!("{e}"))?;
    let page = crate::memory::pages::pfn_to_page(pages.pfn()).ok_or("no descriptor for an allocated page")?;
    let refs = page.page_ref_count();
    let v = crate::memory::vmalloc::vmalloc(4096).map_err(|e| alloc::format!("vmalloc: {e}"))?;
    static IN_IMAGE: u64 = 0;
    let slab_pages = s.nr_slab_pages();
    let stray = [
        0x40_0000,
        0x0001_0000_0000_0000,
        PAGE_OFFSET - 8,
        core::ptr::addr_of!(IN_IMAGE) as u64,
        v.addr().as_u64(),
        pages.address().as_u64(),
        pages.address().as_u64() + 8,
    ];
    for p in stray {
        // SAFETY: none of these is a kmalloc object: kfree must only
        // report it (the property under test), touching nothing.
        expect_bug(format_args!("kfree: invalid pointer {p:#x}"), || unsafe { kfree(p as *const u8) });
    }
    check_eq!(page.page_ref_count(), refs);
    check_eq!(s.nr_slab_pages(), slab_pages);
    drop(v);
    drop(pages);
    Ok(())
}
