//! The contiguous memory allocator (Linux's mm/cma.c with the arithmetic of
//! kernel/dma/contiguous.c and mm/cma_debug.c): areas of memory, reserved
//! at boot, that serve movable pages while no driver needs them and give
//! physically contiguous runs to drivers that ask.
//!
//! # An area's life
//!
//! ```text
//!   boot, memblock         cma= (cmdline_request -> cma_declare_contiguous
//!                          -> memblock reserves) or a /reserved-memory
//!                          shared-dma-pool (rmem_cma_check) ->
//!                          CmaAreas::init_reserved_mem: a Cma, no bitmap
//!   after the buddy        every pageblock -> init_cma_reserved_pageblock:
//!   allocator is up        MIGRATE_CMA and free (movable allocations only);
//!                          Cma::activate gives the area its bitmap
//!   cma_alloc              Cma::alloc: bitmap search, mark, try the range
//!   cma_release            Cma::release: free the range, clear the bits
//! ```
//!
//! # The bitmap
//!
//! ```text
//!   base_pfn                                              base_pfn + count
//!   |<-- 1 << order_per_bit pages per bit -->|
//!   [ 1 1 1 0 0 0 0 1 1 0 0 0 0 0 0 0 ... ]    1: allocated (or being tried)
//! ```
//!
//! A request for `count` pages aligned to `1 << align_order` wants a run of
//! clear bits whose first index `i` has `base_pfn + (i << order_per_bit)`
//! aligned: the base itself need only be pageblock aligned, so the search
//! aligns `i + offset` where `offset` is the base's distance from the
//! boundary in bits (bitmap_find_next_zero_area_off, cma_bitmap_aligned_*).
//!
//! # cma_alloc (the slow path, the only path)
//!
//! Under the area's lock: find a run, set its bits. Without it: ask the
//! caller's `try_range` to make the pages its own; in the kernel that is
//! `alloc_contig_range(.., MigrateType::Cma, ..)`, which isolates the
//! pageblocks, migrates the movable pages living there and takes the free
//! pages out of the buddy lists. Busy (a page would not move) clears the
//! bits and tries the run that starts one alignment step later; any other
//! error gives up. The loop ends when no run is left, so it never hangs.
//! Since the pages of a busy run may move, cma_alloc may sleep and so is
//! not for atomic context (the kernel asserts that).
//!
//! # Locks
//!
//! The area's bitmap lock covers the bitmap only and is never held while a
//! range is tried or freed. Its range lock (Linux's cma_mutex, here one per
//! area since areas share no pageblock) is held around each try: two runs
//! in one pageblock would otherwise make each other's isolation fail. Order:
//! range lock -> (the try: zone and pcp locks, page migration); the bitmap
//! lock is taken alone, inside or outside the range lock.
//!
//! # Differences from Linux
//!
//! * One range per area (Linux 6.14 lets an area span several).
//! * The range lock spins (there is no sleeping mutex in `mm`); a waiter
//!   on it waits for one migration, as a waiter on cma_mutex would sleep.
//! * `Cma::release` refuses a range whose bits are not all set
//!   (`NotFound`), instead of trusting the caller; the kernel's owning
//!   handle makes that case unreachable from safe code.
//! * No sysfs statistics per area (`/sys/kernel/mm/cma/`), no hugetlb CMA,
//!   no per-NUMA-node areas (numa_cma=).

mod area;
mod bitmap;
mod declare;
#[cfg(test)]
mod tests;

pub use area::{CMA_MAX_NAME, Cma, CmaDebugfsFile};
pub use declare::{
    CMA_MIN_ALIGNMENT_BYTES, CMA_MIN_ALIGNMENT_PAGES, CMDLINE_AREA_NAME, CmaAreas, CmaFixed, CmaPlacement, CmaRequest,
    DeclareRefusal, MAX_CMA_AREAS, RmemFlags, RmemRefusal, cma_declare_contiguous, cmdline_request, rmem_cma_check,
};
