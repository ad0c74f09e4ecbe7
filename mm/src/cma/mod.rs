//! The contiguous memory allocator, page isolation, migration and
//! compaction (Linux's mm/cma.c, mm/page_isolation.c, mm/migrate.c and
//! mm/compaction.c). **Not built yet**: this essay is the plan the code will
//! follow; the page allocator already has its hooks (CMA pageblocks,
//! ISOLATE lists).
//!
//! # CMA areas
//!
//! ```text
//!   Cma { base_pfn, count, order_per_bit, bitmap, lock, name }
//!
//!   memblock reserves the area at boot -> init_cma_reserved_pageblock gives
//!   each pageblock to the buddy allocator as MIGRATE_CMA
//! ```
//!
//! A CMA area is reserved from memblock at boot (`cma=` or the device tree's
//! shared-dma-pool), then handed to the buddy allocator pageblock by
//! pageblock as `MigrateType::Cma` (already done by
//! `PageAllocator::init_cma_reserved_pageblock`). While nobody needs it, its
//! pages serve *movable* allocations only, so no memory is wasted. The
//! area's bitmap records which parts are allocated as contiguous blocks.
//!
//! # cma_alloc: making a range free
//!
//! ```text
//!   find a clear run in the bitmap; mark it
//!   alloc_contig_range(start, end):
//!     start_isolate_page_range   every pageblock -> MIGRATE_ISOLATE
//!                                (its free pages leave the allocatable lists,
//!                                pages freed into it stay out; pcp drained)
//!     migrate every page still in use out of the range (they are movable:
//!       that is the CMA contract), retrying a bounded number of times
//!     test_pages_isolated        every page of the range is now free
//!     take the free pages off the ISOLATE lists as one block
//!     undo_isolate_page_range    the pageblocks back to MIGRATE_CMA
//!   on failure: unmark the bitmap, undo the isolation, try the next run
//! ```
//!
//! Isolation is `PageAllocator::isolate_pageblock` and
//! `unisolate_pageblock` today (set_migratetype_isolate without the scan for
//! unmovable pages); the scan (`has_unmovable_pages`) comes with this module.
//!
//! # Migration (migrate_pages)
//!
//! Moving a page: allocate a destination (outside the range being
//! cleared), lock the source, unmap it from every page table that maps it
//! (its `_mapcount` says how many; reverse mapping comes with the `vm` module),
//! copy the contents and the flags, point every mapping at the destination,
//! drop the source. A page that cannot move now (locked, under I/O, pinned)
//! is retried, then reported as a failure for this range.
//!
//! # Compaction
//!
//! The same migration, driven by fragmentation instead of a request: two
//! scanners walk a zone from opposite ends, the migration scanner collecting
//! movable pages from the bottom and the free scanner collecting free pages
//! from the top, until they meet; the result is free memory gathered in
//! large blocks at the bottom. The page allocator's slow path will call it
//! (direct compaction) before it gives up on a costly order, and the
//! pageblock skip bits (PB_migrate_skip) return with it.
//!
//! # Locks
//!
//! The CMA area's lock (bitmap only) -> the zone lock (isolation) -> the pcp
//! locks (drains). Migration takes page locks one page at a time and never
//! holds a zone lock while copying.
//!
//! # Planned differences from Linux
//!
//! No hugetlb or THP migration, no deferred compaction heuristics at first,
//! and compaction runs only directly (no kcompactd thread until there is a
//! scheduler).
