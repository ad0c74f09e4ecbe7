//! Zones and the buddy allocator (include/linux/mmzone.h, the buddy half of
//! mm/page_alloc.c).
//!
//! A node's memory is divided into zones by what devices can address:
//! ZONE_DMA (below the narrowest DMA limit), ZONE_DMA32 (below 4 GiB),
//! ZONE_NORMAL (the rest) and ZONE_MOVABLE (memory only movable allocations
//! may use, carved out with `kernelcore=`/`movablecore=`). Each [`Zone`]
//! keeps its free memory in a buddy allocator.
//!
//! # Data structures
//!
//! ```text
//!   Zone
//!   ├─ identity   node, zone type, zone_start_pfn, spanned/present pages   (fixed)
//!   ├─ managed_pages, cma_pages, watermark[min,low,high], watermark_boost,
//!   │  lowmem_reserve[MAX_NR_ZONES], nr_reserved_highatomic               (atomics)
//!   ├─ vm_stat   NR_FREE_PAGES, NR_FREE_CMA_PAGES, free highatomic pages,
//!   │            free blocks per (order, migratetype)                     (atomics)
//!   ├─ lock: spin::Mutex<FreeAreas>
//!   │     free_area[0..=10]: free_list[migratetype] (PfnList), nr_free
//!   └─ pageset[NR_CPUS]: spin::Mutex<PerCpuPages>                   (see the pcp module)
//! ```
//!
//! A free block of `2^order` pages, aligned to its size, is represented by
//! its first page: `PG_buddy` set, `private` = order, linked into
//! `free_area[order].free_list[mt]` through the descriptors' `lru` words.
//! The other pages of the block are untouched. The statistics are atomics
//! written only under the zone lock (a load and a store, no read-modify-write)
//! and read by anyone without it: the watermark check and `/proc` readers.
//! `NR_FREE_PAGES` counts the pages on all lists except ISOLATE (as in
//! Linux, isolated free pages are not free for the allocator); the counters
//! always agree with a walk of the lists, which the tests check.
//!
//! # Pageblocks and migratetypes
//!
//! Memory is also divided into pageblocks of `2^PAGEBLOCK_ORDER` pages
//! (2 MiB), each with a [`MigrateType`] (stored in the first page's flags,
//! see `crate::page`). Free pages sit on the list of their pageblock's type, and
//! an allocation takes from its own type's list first, so that unmovable
//! allocations cluster in few pageblocks instead of pinning every 2 MiB of
//! memory (grouping by mobility). The invariant kept throughout: a free block
//! is on the list of the migratetype of every pageblock it covers; whoever
//! changes a pageblock's type moves its free pages with it
//! (`move_freepages_block`).
//!
//! # Freeing: __free_one_page
//!
//! ```text
//!   while order < MAX_PAGE_ORDER:
//!       buddy = pfn ^ (1 << order)              O(1), the descriptor is right there
//!       stop unless buddy is PG_buddy, of this order, in this zone (same node+zone id)
//!       at order >= pageblock_order: stop if the two pageblocks' types differ and
//!           either is not mergeable (HIGHATOMIC, CMA, ISOLATE); else the buddy's
//!           pageblocks take our type
//!       take the buddy off its list; pfn &= buddy; order += 1
//!   put the merged block on a list, at the tail if its own buddy one order up is
//!   free (it is likely to merge again soon: buddy_merge_likely) or if asked to
//! ```
//!
//! The zone check also keeps blocks from merging across a node boundary,
//! even where two nodes are adjacent in PFN space: node and zone together
//! form the zone id compared. Blocks larger than a pageblock are freed one
//! pageblock at a time, each with its own pageblock's type (Linux's
//! split_large_buddy), and merge back as the types allow.
//!
//! # Allocating: __rmqueue
//!
//! 1. CMA balancing: a Movable request takes from the CMA lists first when
//!    more than half of the zone's free memory is CMA.
//! 2. `__rmqueue_smallest`: the smallest order with a block on the wanted
//!    type's list; `expand` splits it, putting the upper halves back on the
//!    lists of the orders below.
//! 3. CMA, for Movable requests only.
//! 4. `__rmqueue_claim`: from the *largest* order down, the first fallback
//!    type with a free block (the fallback table below). A block of
//!    pageblock order or more is taken whole and its pageblocks change type.
//!    Below that, the pageblock is claimed (all its free pages move to the
//!    requested type and the pageblock changes type) when the free and
//!    compatible pages make up at least half of it; whether to try at all is
//!    decided by `should_try_claim_block`: orders >= pageblock_order / 2,
//!    and any Unmovable or Reclaimable request, try.
//! 5. `__rmqueue_steal`: take the smallest suitable fallback block without
//!    claiming anything (only for Movable requests below half a pageblock).
//!    Skipped with ALLOC_NOFRAGMENT.
//!
//! ```text
//!   fallbacks: Unmovable   -> Reclaimable, Movable
//!              Movable     -> Reclaimable, Unmovable
//!              Reclaimable -> Unmovable,   Movable
//! ```
//!
//! HIGHATOMIC, CMA and ISOLATE are never fallback sources. ISOLATE lists are
//! never allocated from at all. High-order atomic allocations (no direct
//! reclaim) reserve the pageblock they got a page from as HIGHATOMIC, up to
//! about 1% of the zone; those blocks are used only by such allocations and,
//! as a last resort, by order-0 atomic ones, and are given back under
//! pressure (`unreserve_highatomic`).
//!
//! # Watermarks
//!
//! ```text
//!   free pages ─────────────────────────────────────────────────────── managed
//!        │  high  ── kswapd would stop here
//!        │  low   ── fast-path allocations need free > low + lowmem_reserve
//!        │  min   ── slow path; __GFP_HIGH may use half of it,
//!        │           GFP_ATOMIC (also non-blocking) 62.5%
//!        0
//! ```
//!
//! `__zone_watermark_ok` first removes what the caller may not use (free
//! HIGHATOMIC pages unless it may use reserves, free CMA pages unless it is
//! Movable, and `2^order - 1`), then requires `free > min + lowmem_reserve`;
//! for order > 0 it also requires a free block of at least that order on a
//! list the caller may use. The formulas that set the watermarks live in
//! the page allocator, because they need all zones.
//!
//! # Lock order
//!
//! pcp lock -> zone lock. The zone lock is never held while calling into the
//! platform (the hal module).
//!
//! # Files
//!
//! ```text
//!   struct_zone.rs  struct zone, its counters, the lock guard, snapshots
//!   alloc_flags.rs  ALLOC_*, watermark selectors, fpi_t
//!   buddy.rs        free lists, __free_one_page, expand, __rmqueue_smallest
//!   pageblock.rs    move_freepages_block, HIGHATOMIC, isolation
//!   rmqueue.rs      __rmqueue: CMA, claim and steal fallbacks
//!   watermark.rs    __zone_watermark_ok and the watermark arithmetic
//!   pageset.rs      the per-CPU pagesets' data (run by the pcp module)
//!   placement.rs    where the zones go (arm64 rules, kernelcore=, movablecore=)
//! ```

mod alloc_flags;
mod buddy;
mod pageblock;
mod pageset;
mod placement;
mod rmqueue;
mod struct_zone;
#[cfg(test)]
mod tests;
mod watermark;

pub use crate::config::{
    MAX_NR_ZONES, MAX_ORDER_NR_PAGES, MAX_PAGE_ORDER, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_NR_PAGES,
    PAGEBLOCK_ORDER,
};
pub use crate::mmzone::{MIGRATE_PCPTYPES, MIGRATE_TYPES, MigrateType, ZoneType};
pub use alloc_flags::{AllocFlags, NR_WMARK, Wmark};
pub(crate) use alloc_flags::{Fpi, RmqueueMode};
pub use pageset::{NR_LOWORDER_PCP_LISTS, NR_PCP_LISTS, NR_PCP_THP, PCP_HOT, PcpSlot, PerCpuPages};
pub use placement::{CoreSize, ZoneLimits};
pub use struct_zone::{FreeSnapshot, Zone, ZoneStat};

pub use watermark::{DEFAULT_WATERMARK_SCALE_FACTOR, LOWMEM_RESERVE_RATIO, SWAP_CLUSTER_MAX, int_sqrt, mult_frac};
