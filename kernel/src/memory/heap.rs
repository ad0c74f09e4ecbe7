//! The Rust heap (`#[global_allocator]`).
//!
//! Before SLUB is up it is linked_list_allocator over an early memblock
//! region; from `switch_to_kmalloc` on, allocations are kmalloc. An object
//! allocated early and freed later goes back to the early heap: the address
//! tells which allocator it came from.
//!
//! Out of memory: when kmalloc fails, the early region serves as an
//! emergency reserve before the allocation fails (and Rust's allocation
//! error handler panics). Self-tests that measure the page allocator's exact
//! counts, and that exhaust memory on purpose, run inside
//! [`with_early_heap`], so their own bookkeeping neither perturbs the counts
//! nor competes for the memory they take.
//!
//! Alignment: kmalloc objects of a power-of-two size are aligned to that
//! size (the kmalloc caches are created so), and larger requests are
//! naturally aligned buddy blocks. So a Layout whose alignment exceeds the
//! 8 bytes every kmalloc object has is served by rounding the request up to
//! the next power of two of max(size, align).

use super::memblock::EarlyHeapRegion;
use core::alloc::{GlobalAlloc, Layout};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use linked_list_allocator::LockedHeap;
use mm::gfp::Gfp;

static EARLY: LockedHeap = LockedHeap::empty();
static EARLY_START: AtomicU64 = AtomicU64::new(0);
static EARLY_END: AtomicU64 = AtomicU64::new(0);
static USE_KMALLOC: AtomicBool = AtomicBool::new(false);
/// Non-zero while some code wants the early heap only (see `with_early_heap`).
static FORCE_EARLY: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn kmalloc_now() -> bool {
    USE_KMALLOC.load(Ordering::Acquire) && FORCE_EARLY.load(Ordering::Acquire) == 0
}

/// The kernel's heap: early allocator, then kmalloc.
pub struct KernelHeap;

#[global_allocator]
static HEAP: KernelHeap = KernelHeap;

/// The global allocator, for code that needs an explicit Layout.
pub static HEAP_HANDLE: &KernelHeap = &HEAP;

/// Alignment every kmalloc object has (Linux's ARCH_KMALLOC_MINALIGN).
const KMALLOC_MIN_ALIGN: usize = 8;

fn kmalloc_request(layout: Layout) -> usize {
    let size = layout.size().max(1);
    if layout.align() <= KMALLOC_MIN_ALIGN { size } else { size.max(layout.align()).next_power_of_two() }
}

fn in_early_heap(p: *mut u8) -> bool {
    let a = p as u64;
    a >= EARLY_START.load(Ordering::Relaxed) && a < EARLY_END.load(Ordering::Relaxed)
}

// SAFETY: alloc returns null or a block of at least `layout.size()` bytes
// aligned to `layout.align()` (kmalloc_request above, or the early heap),
// owned by the caller until dealloc; dealloc sends each block back to the
// allocator that produced it (by address range).
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if kmalloc_now()
            && let Ok(p) = super::slab::kmalloc(kmalloc_request(layout), Gfp::KERNEL | Gfp::NOWARN)
        {
            debug_assert!((p.as_ptr() as usize).is_multiple_of(layout.align()));
            return p.as_ptr();
        }
        // Before SLUB, inside with_early_heap, or kmalloc out of memory.
        // SAFETY: the caller's GlobalAlloc obligations pass through.
        unsafe { EARLY.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if kmalloc_now()
            && let Ok(p) = super::slab::kzalloc(kmalloc_request(layout), Gfp::KERNEL | Gfp::NOWARN)
        {
            return p.as_ptr();
        }
        // SAFETY: as in alloc.
        unsafe { EARLY.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_early_heap(ptr) {
            // SAFETY: the block came from the early heap (its address range).
            unsafe { EARLY.dealloc(ptr, layout) }
        } else {
            // SAFETY: not from the early heap, so from kmalloc; the caller
            // does not use it after dealloc.
            unsafe { super::slab::kfree(ptr) }
        }
    }
}

/// Hand memblock's early-heap region to the early heap (once; the region
/// is consumed).
pub fn init(region: EarlyHeapRegion) {
    let (start, size) = (region.start(), region.size());
    EARLY_START.store(start, Ordering::Relaxed);
    EARLY_END.store(start + size as u64, Ordering::Relaxed);
    // SAFETY: EarlyHeapRegion's invariant: the range is mapped read-write,
    // reserved for the heap alone, and this is the only region there will
    // be, so Heap::init runs once over memory nothing else uses.
    unsafe { EARLY.lock().init(start as *mut u8, size) };
}

/// From now on the heap is kmalloc (SLUB is up).
pub fn switch_to_kmalloc() {
    USE_KMALLOC.store(true, Ordering::Release);
}

/// Run `f` with every CPU's heap allocations on the early region (frees go
/// wherever their memory came from). For self-tests that measure the page
/// allocator exactly or exhaust it on purpose.
pub fn with_early_heap<R>(f: impl FnOnce() -> R) -> R {
    FORCE_EARLY.fetch_add(1, Ordering::AcqRel);
    let r = f();
    FORCE_EARLY.fetch_sub(1, Ordering::AcqRel);
    r
}

/// Whether `p` is in the early heap.
pub fn is_early(p: *const u8) -> bool {
    in_early_heap(p as *mut u8)
}

/// The early heap's bytes in use and free.
pub fn usage() -> (usize, usize) {
    let h = EARLY.lock();
    (h.used(), h.free())
}
