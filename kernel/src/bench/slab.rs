//! `bench=slab`: kmalloc/kfree against three peer heaps (linked_list_allocator,
//! talc, buddy_system_allocator) and a second SLUB with slub_debug=FZP, in
//! the same boot: size-class pairs, a batch of 10,000 objects, and random
//! sizes freed in random order (fixed seed). The `null` allocator runs the
//! same workloads first: its row is the harness's own cost.
use super::harness::{FAILED, NULL, measure, report_suite};
use crate::memory::{linear_map, pages, slab};
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ptr::NonNull;
use core::sync::atomic::Ordering;
use mm::gfp::Gfp;

/// Bytes of each peer's arena: one order-10 block (4 MiB).
const ARENA_ORDER: u32 = 10;

/// An object allocator, as the workloads see it.
trait ObjAlloc {
    fn name(&self) -> &'static str;
    fn alloc(&mut self, size: usize) -> Option<NonNull<u8>>;
    /// # Safety
    /// `p` came from `alloc(size)` and is not used afterwards.
    unsafe fn free(&mut self, p: NonNull<u8>, size: usize);
}

fn layout(size: usize) -> Layout {
    // kmalloc's guarantee: 8-byte alignment.
    Layout::from_size_align(size.max(1), 8).unwrap_or(Layout::new::<u64>())
}

/// The allocator that does nothing: every allocation is the same made-up
/// address (never dereferenced), and a free forgets it.
struct Null;
impl ObjAlloc for Null {
    fn name(&self) -> &'static str {
        NULL
    }
    fn alloc(&mut self, _size: usize) -> Option<NonNull<u8>> {
        Some(NonNull::dangling())
    }
    unsafe fn free(&mut self, _p: NonNull<u8>, _size: usize) {}
}

/// This kernel's kmalloc, or a second SLUB with slub_debug=FZP.
struct Ours {
    slub: &'static crate::memory::hal::Slub,
    name: &'static str,
}
impl ObjAlloc for Ours {
    fn name(&self) -> &'static str {
        self.name
    }
    fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        self.slub.kmalloc(arch::percpu::smp_processor_id(), size, Gfp::KERNEL).ok()
    }
    unsafe fn free(&mut self, p: NonNull<u8>, _size: usize) {
        // SAFETY: the caller's obligation: p is a live kmalloc object.
        unsafe { self.slub.kfree(arch::percpu::smp_processor_id(), p.as_ptr()) };
    }
}

struct LinkedList(linked_list_allocator::Heap);
impl ObjAlloc for LinkedList {
    fn name(&self) -> &'static str {
        "linked_list_allocator"
    }
    fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        self.0.allocate_first_fit(layout(size)).ok()
    }
    unsafe fn free(&mut self, p: NonNull<u8>, size: usize) {
        // SAFETY: p came from this heap with this layout.
        unsafe { self.0.deallocate(p, layout(size)) };
    }
}

struct Talc(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>);
impl ObjAlloc for Talc {
    fn name(&self) -> &'static str {
        "talc"
    }
    fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        // SAFETY: the layout is valid and non-zero-sized.
        unsafe { self.0.allocate(layout(size)) }
    }
    unsafe fn free(&mut self, p: NonNull<u8>, size: usize) {
        // SAFETY: p came from this heap with this layout.
        unsafe { self.0.deallocate(p.as_ptr(), layout(size)) };
    }
}

struct Buddy(buddy_system_allocator::Heap<32>);
impl ObjAlloc for Buddy {
    fn name(&self) -> &'static str {
        "buddy_system_allocator"
    }
    fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
        self.0.alloc(layout(size)).ok()
    }
    unsafe fn free(&mut self, p: NonNull<u8>, size: usize) {
        // SAFETY: p came from this heap with this layout.
        unsafe { self.0.dealloc(p, layout(size)) };
    }
}

/// A 4 MiB arena from the page allocator, in the linear map; kept for the
/// boot's remaining life (the peers own it).
fn arena() -> Option<(*mut u8, usize)> {
    let pages = pages::alloc_pages(Gfp::KERNEL, ARENA_ORDER).ok()?;
    let (pfn, order) = pages.into_raw();
    Some((linear_map::page_address(pfn).as_u64() as *mut u8, (4096usize) << order))
}

/// The kmalloc caches' sizes, 8 bytes to kmalloc-8k (Linux's largest with
/// 4 KiB pages: KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1).
const PAIR_SIZES: [usize; 11] = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192];
const _: () = assert!(PAIR_SIZES[PAIR_SIZES.len() - 1] == mm::slub::KMALLOC_MAX_CACHE_SIZE);

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn run_one(a: &mut dyn ObjAlloc, icount: bool) {
    // Every allocator through an opaque trait object: the compiler cannot
    // see which one it is, so none (the null one least) is inlined.
    let a = core::hint::black_box(a);
    let who = a.name();
    for size in PAIR_SIZES {
        FAILED.store(0, Ordering::Relaxed);
        let r = measure(2000, || match a.alloc(size) {
            // SAFETY: p was just allocated with `size`; freed once.
            Some(p) => unsafe { a.free(core::hint::black_box(p), size) },
            None => {
                FAILED.fetch_add(1, Ordering::Relaxed);
            }
        });
        emit(&alloc::format!("pair-{size}"), who, r, icount);
    }
    // 10,000 allocations of 64 bytes, then their frees, per object.
    let mut held: Vec<(NonNull<u8>, usize)> = Vec::with_capacity(10_000);
    FAILED.store(0, Ordering::Relaxed);
    let (i, c) = measure(1, || {
        for _ in 0..10_000 {
            match a.alloc(64) {
                Some(p) => held.push((p, 64)),
                None => {
                    FAILED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        for (p, s) in held.drain(..) {
            // SAFETY: allocated above with `s`; freed once.
            unsafe { a.free(p, s) };
        }
    });
    emit("batch10k-64", who, (i / 10_000, c / 10_000), icount);
    // Random sizes 8..=4096, freed in random order (fixed seed).
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let sizes: Vec<usize> = (0..2000).map(|_| 8 + (xorshift(&mut seed) % 4089) as usize).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    for k in (1..order.len()).rev() {
        let j = (xorshift(&mut seed) % (k as u64 + 1)) as usize;
        order.swap(k, j);
    }
    let mut slots: Vec<Option<NonNull<u8>>> = alloc::vec![None; sizes.len()];
    FAILED.store(0, Ordering::Relaxed);
    let (i, c) = measure(1, || {
        for (k, &s) in sizes.iter().enumerate() {
            slots[k] = a.alloc(s);
            if slots[k].is_none() {
                FAILED.fetch_add(1, Ordering::Relaxed);
            }
        }
        for &k in &order {
            if let Some(p) = slots[k].take() {
                // SAFETY: allocated above with sizes[k]; freed once.
                unsafe { a.free(p, sizes[k]) };
            }
        }
    });
    let n = sizes.len() as u64;
    emit("random", who, (i / n, c / n), icount);
}

fn emit(workload: &str, who: &str, r: (u64, u64), icount: bool) {
    let failed = FAILED.load(Ordering::Relaxed);
    if failed != 0 {
        crate::pr_err!("bench slab/{workload} {who}: {failed} allocations failed; result discarded");
        return;
    }
    report_suite("slab", workload, who, r, icount);
}

pub fn run(icount: bool) {
    let Some(slub) = slab::slub() else {
        crate::pr_warn!("bench: SLUB is not up; slab benchmarks skipped");
        return;
    };
    run_one(&mut Null, icount);
    run_one(&mut Ours { slub, name: "ours" }, icount);
    if let Some(debug) = slab::debug_instance("FZP") {
        run_one(&mut Ours { slub: debug, name: "ours-debug" }, icount);
    }
    let (Some((a1, n1)), Some((a2, n2)), Some((a3, n3))) = (arena(), arena(), arena()) else {
        crate::pr_warn!("bench: no memory for the peers' arenas");
        return;
    };
    // SAFETY: each arena is 4 MiB of RAM taken from the page allocator
    // above and never given back, used by one heap only.
    let mut ll = LinkedList(unsafe { linked_list_allocator::Heap::new(a1, n1) });
    run_one(&mut ll, icount);
    let mut t = Talc(talc::base::Talc::new(talc::source::Manual));
    // SAFETY: as above.
    if unsafe { t.0.claim(a2, n2) }.is_some() {
        run_one(&mut t, icount);
    }
    let mut b = Buddy(buddy_system_allocator::Heap::<32>::new());
    // SAFETY: as above.
    unsafe { b.0.init(a3 as usize, n3) };
    run_one(&mut b, icount);
}
