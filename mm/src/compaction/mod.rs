//! Memory compaction (Linux's mm/compaction.c): make high-order blocks
//! free by moving movable pages out of the way.
//!
//! A zone whose free memory is all in small pieces fails an order-9
//! allocation although half of it may be free. Compaction runs two
//! scanners over the zone, towards each other:
//!
//! ```text
//!   zone_start_pfn                                             zone_end_pfn
//!   |  migrate scanner ->                        <- free scanner          |
//!   | U.U.UU.U  U.U..U.U  UU.U.U.U | ... | .U.U.U.U  U..U.UU.  U.U.U..U |
//!        in-use movable pages       met     free pages taken as targets
//!   afterwards:
//!   | ........  ........  ........ | ... | UUUUUUUU  UUUUUUUU  UUUUUUUU |
//! ```
//!
//! The migrate scanner (migrate_scan.rs) walks up from the zone's start a
//! pageblock at a time, skipping free buddy blocks and compound pages by
//! their order, and isolates in-use movable pages (a reference taken with
//! `migrate::isolate_movable_page`) in batches of [`COMPACT_CLUSTER_MAX`].
//! The free scanner (free_scan.rs) walks down from the zone's last
//! pageblock, only through MOVABLE or CMA pageblocks that are not
//! themselves one large free block, and takes free buddy blocks off the
//! lists, as many pages as the batch needs, turning them into order-0
//! pages with one reference each, prepared as allocated pages. The batch
//! is moved with `migrate::migrate_pages`, whose target callback
//! (`compaction_alloc`) hands out those pages, refilling from the free
//! scanner, and whose put-back callback (`compaction_free`) takes unused
//! ones back; at the end of the run the rest go back to the allocator
//! (`release_free_list`). The sources, freed by migration, merge into
//! larger blocks. The free scanner never scans at or below the migrate
//! scanner's pageblock and the migrate scanner never passes the free
//! scanner's: when they meet, the run is over.
//!
//! # Data structures
//!
//! ```text
//!   CompactControl (one run, on the caller's stack)
//!   ├─ zone, order (-1: the whole zone), migratetype, alloc_flags,
//!   │  mode (Async | Sync), flags (WHOLE_ZONE, DIRECT)
//!   ├─ migrate_pfn, migratepages[32]            the migrate scanner
//!   ├─ FreeScanner: free_pfn, FreeList           the free scanner; the list
//!   │               (runs of order-0 pages, refcount 1, at most 64 runs)
//!   └─ counts: scanned, isolated, migrated, failed
//!   Zone (zone/struct_zone.rs)
//!   └─ compact_considered, compact_defer_shift, compact_order_failed
//! ```
//!
//! # When it runs
//!
//! * Direct compaction ([`try_to_compact_pages`], called by the page
//!   allocator's slow path for an order above 0 when the caller may block
//!   (`__GFP_DIRECT_RECLAIM`), may do I/O-free work (`__GFP_IO`) and the
//!   kernel registered a [`Migrator`](crate::migrate::Migrator)): first an
//!   async pass right after the first min-watermark attempt, for costly
//!   orders and for non-movable orders above 0; then, after the drain that
//!   stands in for reclaim, a sync pass. The slow path counts
//!   `compact_stall` for every pass that ran, then `compact_success` if
//!   the allocation then succeeded, `compact_fail` if not.
//! * On demand: [`compact_node`] and [`compact_memory`] (writing
//!   `/proc/sys/vm/compact_memory`) compact every populated zone whole, in
//!   sync mode, until the scanners meet.
//!
//! A zone is worth compacting ([`compaction_suitable`]) when it has free
//! pages above the watermark plus twice the block (room for the copies)
//! and, for costly orders, when its fragmentation index
//! ([`fragmentation_index`], thousandths) is above [`extfrag_threshold`]
//! (500 by default): at or below it the failure is for want of memory.
//! A run stops ([`compact_finished`]) when the scanners meet, or for an
//! order, at a pageblock boundary once a free block of that order is on a
//! list the allocation may use.
//!
//! # Deferral
//!
//! A sync run that ends with the scanners met and no block defers the zone
//! ([`defer_compaction`]): the next `2^compact_defer_shift` attempts at
//! that order or above are skipped ([`compaction_deferred`]), the shift
//! growing by one per failure up to [`COMPACT_MAX_DEFER_SHIFT`] (64).
//! An allocation that succeeds after compaction resets both
//! ([`compaction_defer_reset`]).
//!
//! # Lock order and recursion
//!
//! The zone lock is held only while the free scanner takes blocks off the
//! lists (per pageblock, from the first free block it finds to the end of
//! the pageblock), never while pages are prepared, never across migration,
//! and never with a pcp lock taken after it. Migration calls the kernel's
//! migrator with no allocator lock held. Targets come from the free
//! scanner, not from the allocator, so direct compaction never allocates
//! and cannot recurse into itself; the migrator promises not to allocate
//! or sleep either. Freed sources go to the running CPU's pcp lists and
//! are drained to the buddy lists whenever the migrate scanner leaves the
//! order-aligned block it emptied, and at the end of the run.
//!
//! # Reports
//!
//! [`extfrag_index_show`] and [`unusable_index_show`] print debugfs's
//! `extfrag/extfrag_index` and `extfrag/unusable_index` as Linux does;
//! the scanners and the slow path count `compact_migrate_scanned`,
//! `compact_free_scanned`, `compact_isolated`, `compact_stall`,
//! `compact_fail` and `compact_success` in [`crate::vmstat`].
//!
//! # Differences from Linux
//!
//! * No kcompactd, no proactive compaction, no compaction on wakeup of
//!   kswapd (there is none); no `compact_unevictable_allowed`.
//! * No pageblock skip bits and no cached scanner positions: every run
//!   starts at both ends of the zone (Linux's whole-zone run), so results
//!   are Complete rather than PartialSkipped.
//! * No fast searches of the free lists (fast_isolate_freepages,
//!   fast_find_migrateblock) and no capture of the freed block for the
//!   compacting allocation (capture_control): the slow path retries the
//!   free lists after the run.
//! * Order-0 movable pages only (the migrator moves no THP or hugetlb);
//!   no too_many_isolated throttling, no contention aborts (the migrator
//!   reports contention as Again and migrate_pages retries), no
//!   finish_pageblock rescans after an async failure.
//! * Async and sync differ only in the scanners' policies: the migrator
//!   never sleeps in either.
//! * The targets are split into order-0 pages when taken (Linux's
//!   split_map_pages before 6.9), not kept as higher-order blocks.
//!
//! # Files
//!
//! ```text
//!   control.rs        CompactControl, CompactResult, MigrateMode, the target list
//!   defer.rs          defer_compaction, compaction_deferred, compaction_defer_reset
//!   fragmentation.rs  fragmentation and unusable indices, the debugfs reports
//!   migrate_scan.rs   the migrate scanner
//!   free_scan.rs      the free scanner, compaction_alloc / compaction_free
//!   compact.rs        compaction_suitable, compact_finished, compact_zone,
//!                     try_to_compact_pages, compact_node, compact_memory
//! ```

mod compact;
mod control;
mod defer;
mod fragmentation;
mod free_scan;
mod migrate_scan;
#[cfg(test)]
mod tests;

pub use compact::{
    EXTFRAG_THRESHOLD_DEFAULT, EXTFRAG_THRESHOLD_MAX, compact_finished, compact_gap, compact_memory, compact_node,
    compact_zone, compaction_suit_allocation_order, compaction_suitable, extfrag_threshold, gfp_compaction_allowed,
    set_extfrag_threshold, try_to_compact_pages,
};
pub use control::{
    COMPACT_CLUSTER_MAX, COMPACT_ORDER_WHOLE_ZONE, CompactControl, CompactFlags, CompactResult, MigrateMode,
};
pub use defer::{
    COMPACT_MAX_DEFER_SHIFT, compaction_defer_reset, compaction_deferred, compaction_restarting, defer_compaction,
};
pub use fragmentation::{
    ContigPageInfo, extfrag_index_show, fragmentation_index, fragmentation_index_of, unusable_free_index,
    unusable_index_show,
};
