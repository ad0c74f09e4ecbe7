//! The Rust heap: linked_list_allocator over an early memblock region, until
//! the slab allocator of a later issue replaces it.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// Hand `[start, start + size)` to the heap.
///
/// # Safety
/// 1. The range is mapped read-write, owned by the heap from now on, and
///    never used for anything else.
/// 2. Called once.
pub unsafe fn init(start: u64, size: usize) {
    // SAFETY: obligations 1 and 2 are exactly what Heap::init requires.
    unsafe { HEAP.lock().init(start as *mut u8, size) };
}

/// Bytes in use and free.
pub fn usage() -> (usize, usize) {
    let h = HEAP.lock();
    (h.used(), h.free())
}
