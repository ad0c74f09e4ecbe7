//! mempool: a reserve of pre-allocated elements for paths that must make
//! progress when the allocator cannot (Linux's mm/mempool.c).
//!
//! `mempool_create(min_nr, alloc, free)` allocates `min_nr` elements up
//! front and keeps them in a reserve. `mempool_alloc` first asks the
//! underlying allocator (with `__GFP_NOWARN | __GFP_NORETRY`, since a
//! failure is expected and handled), and only when that fails takes an
//! element from the reserve. `mempool_free` refills the reserve before it
//! gives anything back to the allocator, so the reserve is whole again as
//! soon as enough elements come back.
//!
//! Linux's mempool_alloc sleeps when the reserve is empty and the caller may
//! block, until some element is freed. This kernel has no scheduler yet, so
//! an empty reserve is a `NoMemory` result for every caller.
//!
//! Lock order: the reserve's spin lock is a leaf; the allocator's callbacks
//! are never called with it held.

extern crate alloc;

use crate::Error;
use crate::gfp::Gfp;
use alloc::vec::Vec;
use core::ptr::NonNull;
use spin::Mutex;

/// Allocates one element (Linux's mempool_alloc_t); `data` is the pool's.
pub type MempoolAllocFn = fn(Gfp, usize) -> Option<NonNull<u8>>;
/// Frees one element (Linux's mempool_free_t).
pub type MempoolFreeFn = fn(NonNull<u8>, usize);

/// A pool with a reserve of `min_nr` elements.
///
/// # Invariants
/// Every element in `reserve` came from `alloc_fn` and is owned by the pool;
/// `reserve.len() <= min_nr`.
pub struct Mempool {
    min_nr: usize,
    reserve: Mutex<Vec<NonNull<u8>>>,
    alloc_fn: MempoolAllocFn,
    free_fn: MempoolFreeFn,
    data: usize,
}

// SAFETY: the elements are owned memory handed between CPUs under the lock;
// the pool holds no CPU-local state.
unsafe impl Send for Mempool {}
// SAFETY: as above; all shared mutation goes through the Mutex.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Linux's mempool_create: fill the reserve with `min_nr` elements.
    /// Fails with `NoMemory` (freeing what it got) if they cannot be had.
    pub fn create(min_nr: usize, alloc_fn: MempoolAllocFn, free_fn: MempoolFreeFn, data: usize) -> Result<Self, Error> {
        let mut reserve = Vec::new();
        reserve.try_reserve_exact(min_nr).map_err(|_| Error::NoMemory)?;
        for _ in 0..min_nr {
            match alloc_fn(Gfp::KERNEL, data) {
                Some(e) => reserve.push(e),
                None => {
                    for e in reserve {
                        free_fn(e, data);
                    }
                    return Err(Error::NoMemory);
                }
            }
        }
        Ok(Self { min_nr, reserve: Mutex::new(reserve), alloc_fn, free_fn, data })
    }

    /// Linux's mempool_alloc: the allocator first, then the reserve.
    pub fn alloc(&self, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        if let Some(e) = (self.alloc_fn)(gfp | Gfp::NOWARN | Gfp::NORETRY, self.data) {
            return Ok(e);
        }
        self.reserve.lock().pop().ok_or(Error::NoMemory)
    }

    /// Linux's mempool_free: refill the reserve, else give back.
    ///
    /// # Safety
    /// 1. `element` came from this pool's `alloc` (or its callback's memory)
    ///    and is not used after this call.
    pub unsafe fn free(&self, element: NonNull<u8>) {
        {
            let mut r = self.reserve.lock();
            if r.len() < self.min_nr {
                r.push(element);
                return;
            }
        }
        (self.free_fn)(element, self.data);
    }

    /// Elements in the reserve now (Linux's pool->curr_nr).
    pub fn curr_nr(&self) -> usize {
        self.reserve.lock().len()
    }

    /// The reserve's size (Linux's pool->min_nr).
    pub fn min_nr(&self) -> usize {
        self.min_nr
    }
}

impl Drop for Mempool {
    /// Linux's mempool_destroy: the reserve goes back to the allocator.
    /// Elements still out with callers are theirs to free through `free_fn`.
    fn drop(&mut self) {
        for e in self.reserve.get_mut().drain(..) {
            (self.free_fn)(e, self.data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    static FAIL: AtomicBool = AtomicBool::new(false);
    static LIVE: AtomicUsize = AtomicUsize::new(0);

    fn alloc_box(_: Gfp, size: usize) -> Option<NonNull<u8>> {
        if FAIL.load(Ordering::SeqCst) {
            return None;
        }
        LIVE.fetch_add(1, Ordering::SeqCst);
        NonNull::new(Box::into_raw(vec![0u8; size].into_boxed_slice()) as *mut u8)
    }

    fn free_box(p: NonNull<u8>, size: usize) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
        // SAFETY: p came from alloc_box with the same size.
        drop(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(p.as_ptr(), size)) });
    }

    // One test, so the globals above are not shared between parallel tests.
    #[test]
    fn reserve_carries_the_pool_through_allocator_failure() {
        LIVE.store(0, Ordering::SeqCst);
        let pool = Mempool::create(4, alloc_box, free_box, 64).unwrap();
        assert_eq!((pool.curr_nr(), pool.min_nr(), LIVE.load(Ordering::SeqCst)), (4, 4, 4));

        // Allocator fine: the reserve is not touched.
        let a = pool.alloc(Gfp::KERNEL).unwrap();
        assert_eq!(pool.curr_nr(), 4);
        // Freed with the reserve full: back to the allocator.
        // SAFETY: `a` came from the pool and is not used again.
        unsafe { pool.free(a) };
        assert_eq!(LIVE.load(Ordering::SeqCst), 4);

        // Allocator failing: the reserve carries exactly min_nr, then NoMemory.
        FAIL.store(true, Ordering::SeqCst);
        let got: Vec<_> = (0..4).map(|_| pool.alloc(Gfp::ATOMIC).unwrap()).collect();
        assert_eq!(pool.curr_nr(), 0);
        assert_eq!(pool.alloc(Gfp::ATOMIC), Err(Error::NoMemory));
        // Frees refill the reserve first.
        for e in got {
            // SAFETY: each came from the pool and is not used again.
            unsafe { pool.free(e) };
        }
        assert_eq!(pool.curr_nr(), 4);
        FAIL.store(false, Ordering::SeqCst);

        // create fails cleanly when the allocator cannot fill the reserve.
        FAIL.store(true, Ordering::SeqCst);
        assert!(Mempool::create(2, alloc_box, free_box, 64).is_err());
        FAIL.store(false, Ordering::SeqCst);

        drop(pool);
        assert_eq!(LIVE.load(Ordering::SeqCst), 0, "destroy leaked reserve elements");
    }
}
