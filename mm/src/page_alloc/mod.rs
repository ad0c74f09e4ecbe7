//! The page allocator: nodes, zonelists and the allocation API
//! (mm/page_alloc.c, mm/mm_init.c).
//!
//! [`PageAllocator`] hands out and takes back blocks of `2^order`
//! physically contiguous page frames, `order <= MAX_PAGE_ORDER` (4 MiB),
//! named by PFN. It is the machine-wide object: one [`PgData`] per NUMA
//! node, four [`Zone`](crate::zone::Zone)s per node (each a buddy allocator with per-CPU
//! lists, see the zone and pcp modules), and the node distance table.
//! It is generic over its platform `H: Hal`, through which it reaches what
//! only the kernel can: the console and the memory itself.
//!
//! # What the kernel provides
//!
//! The allocator depends on nothing but this interface:
//!
//! * **The memmap.** The kernel maps one 64-byte [`crate::page::Page`]
//!   descriptor per frame of every 128 MiB section that contains memory, as a
//!   virtual array indexed by PFN, and wraps it with
//!   [`MemMap::new`](crate::page::MemMap::new)`(base, sections)` (unsafe: it vouches for the mapping).
//! * **The platform** ([`Hal`](crate::hal::Hal)). `zero_pages(pfn, nr_pages)`
//!   clears memory for `__GFP_ZERO`, `init_on_alloc` and `init_on_free` (only
//!   the kernel can reach the memory); `log(Warning, args)` prints one line
//!   (warnings, bad pages, the failure report); `comm(cpu, out)` names the
//!   running task for messages (default `swapper/<cpu>`). They are called
//!   with no allocator lock held; logging runs in allocation and free paths,
//!   so it must not itself allocate pages.
//! * **CPUs and nodes.** [`PageAllocator::set_cpus`] gives each online CPU's
//!   node, [`PageAllocator::set_node_distance`] the distance table (default
//!   10 local, 20 remote). [`PageAllocator::add_node`] creates a node from
//!   storage the kernel supplies (a `&'static mut MaybeUninit<PgData>`, as
//!   Linux allocates `pg_data_t` from memblock on the node), the PFN span
//!   `[start, end)` of each of its zones (empty when `start == end`; zones
//!   in order, not overlapping each other or other nodes' zones) and the
//!   present memory ranges, from which each zone's present pages are counted.
//!   Memoryless nodes (with CPUs) are added with empty spans.
//! * **Memory.** After [`PageAllocator::memmap_init`], every range
//!   memblock leaves free is handed over with
//!   [`PageAllocator::free_bootmem_range`] (memblock_free_all).
//!
//! # Boot order
//!
//! ```text
//!   PageAllocator::<H>::new(memmap)        set_flags(INIT_ON_*),
//!   set_cpus, set_node_distance            set_min_free_kbytes if the user chose one
//!   add_node (each node)                   free_area_init_node
//!   memmap_init                            every present section, holes as reserved
//!   build_all_zonelists                    zonelists, numa_mem_id of each CPU
//!   free_bootmem_range (each free range)   memblock_free_all: allocations work from here
//!   init_per_zone_wmark_min                min_free_kbytes, watermarks, lowmem_reserve
//!   setup_pcp                              pcp batch and high (until then: boot pageset)
//! ```
//!
//! Construction calls take `&mut self`; everything after `build_all_zonelists`
//! takes `&self`, so the kernel can publish the allocator in a static and
//! finish from there.
//!
//! # Zonelists
//!
//! Each node has two zonelists. ZONELIST_FALLBACK lists every populated zone
//! of every node with memory, nodes in order of preference and, within a
//! node, zones from the highest down (Normal, DMA32, DMA): an allocation
//! whose highest allowed zone is `gfp_zone(gfp)` walks it from the first zone
//! at or below that. The node order is Linux's `find_next_best_node`: the
//! local node first, then by distance, penalising nodes below the local one
//! (+1), nodes with CPUs (+1), and, among nodes at the same distance, the one
//! that was first in its distance group for an earlier node's list
//! (`node_load`), so that equal nodes are used round-robin; ties go to the
//! lower node id. ZONELIST_NOFALLBACK holds the node's own zones only and is
//! used for `__GFP_THISNODE`.
//!
//! # Allocation: fast path
//!
//! The kernel calls [`PageAllocator::alloc_pages_on`] /
//! [`PageAllocator::free_pages_owned`] with its CPU's
//! [`CpuPages`](fastpath::CpuPages), which it finds through its per-CPU area
//! (the kernel keeps it in the CPU area that SP_EL0 names); `alloc_pages(cpu, ...)` takes the same path through the
//! CPU's entry in the allocator. The fastpath module has the details:
//!
//! ```text
//!   order <= 3, no THISNODE/ZERO (COMP ignored at order 0), fast paths on (no check_pages):
//!     zone = CpuPages.preferred[gfp_zone] (the walk's first zone),
//!     the zone's cached LOW-watermark decision (exact without CMA),
//!     trylock the CPU's pcp, pop (order 0: the array in front of the lists), unlock,
//!     refcount 1, private 0; COMP at orders 1-3: prep_compound_page
//!   order > 3, if the preferred zone's cached slack is clearly above every
//!     mark: order 9 from the CPU's pcp list of it (Linux's THP lists), other
//!     orders from the buddy lists; then prep_new_page
//!   otherwise, out of line, get_page_from_freelist:
//!       for each zone <= highest_zoneidx in the zonelist: the watermark check,
//!       then the pcp lists (order <= 3 or 9) or the buddy lists under the zone lock;
//!       with NOFRAGMENT, a zone on another node first means retrying without it
//!       (fragment locally rather than allocate remotely), and so does reaching the end
//! ```
//!
//! The fast step is exactly the first step of the walk, with the same
//! decisions (the cached watermark answers are exact or conservative), so
//! taking it changes nothing. Under `qemu -icount` (bench=pages) an order-0
//! alloc+free through the kernel's API costs 100 instructions including
//! the benchmark's dyn calls (79 net of the null row).

//! # Allocation: slow path
//!
//! This kernel has no reclaim or OOM killer yet; the slow path does what
//! remains of __alloc_pages_slowpath, with direct compaction
//! (`crate::compaction`) once the kernel has registered a migrator
//! ([`PageAllocator::set_migrator`]):
//!
//! 1. Retry against the MIN watermark with gfp_to_alloc_flags:
//!    `__GFP_HIGH` may use half of min (ALLOC_MIN_RESERVE); callers without
//!    `__GFP_DIRECT_RECLAIM` are ALLOC_NON_BLOCK (and, with `__GFP_HIGH`, may
//!    use 62.5% of min; for order > 0 also HIGHATOMIC reserves).
//! 2. Direct compaction, async, for a costly order or a non-movable order
//!    above 0, when the caller may block (`__GFP_DIRECT_RECLAIM`) and do
//!    I/O (`__GFP_IO`) and is not a `__GFP_MEMALLOC` caller; then the free
//!    lists again. A costly `__GFP_NORETRY` request fails here when
//!    compaction was skipped or deferred.
//! 3. `__GFP_MEMALLOC` (without `__GFP_NOMEMALLOC`) retries ignoring the
//!    watermarks altogether.
//! 4. What follows a failed direct reclaim: give back one HIGHATOMIC
//!    pageblock (keeping the last), drain every CPU's pcp lists, retry.
//!    Linux drains only for callers that may sleep; here draining is taking
//!    spinlocks, so every caller gets it. Then direct compaction again, in
//!    sync mode (async for a costly `__GFP_NORETRY` request), under the
//!    same conditions as step 2 but for any order above 0. Each run that
//!    is not skipped counts `compact_stall`, then `compact_success` or
//!    `compact_fail`.
//! 5. `__GFP_NORETRY`, a costly order without `__GFP_RETRY_MAYFAIL`, or a
//!    caller without `__GFP_DIRECT_RECLAIM` (which Linux never lets reach
//!    its retry loop): fail. Otherwise, as should_reclaim_retry does once
//!    its retries run out (each retry then gives back one block, the last
//!    one too), release HIGHATOMIC pageblocks one at a time, retrying after
//!    each, until the allocation succeeds or no reserved block has free
//!    pages left.
//! 6. `__GFP_NOFAIL`: up to 16 more rounds of drain + retry with
//!    ALLOC_MIN_RESERVE, then fail with a message that NOFAIL cannot be
//!    honoured without reclaim. Never an endless loop, never a panic.
//! 7. Unless `__GFP_NOWARN`: warn_alloc's
//!    `<comm>: page allocation failure: order:N, mode:0x...(...), nodemask=(null)`
//!    followed by a show_mem report, through `Hal::log`.
//!
//! Running out is an ordinary `Err(Error::NoMemory)`.
//!
//! # Freeing
//!
//! `free_pages(cpu, pfn, order)` is __free_pages: drop a reference; at zero,
//! prepare the pages (free_pages_prepare: clear their flags and mapping
//! bits, check them with `check_pages`, zero them for `init_on_free`), and
//! give them to this CPU's pcp array or list (order <= 3 or 9) or the buddy
//! lists. A block with no flags set and no mapping bits needs no
//! preparation: the fast path frees it straight away. If references remain and the block is not compound, its
//! pages past the first are freed (the first stays with whoever holds it).
//! Compound pages are freed whole through their head.
//!
//! # Isolation and contiguous ranges
//!
//! [`PageAllocator::start_isolate_page_range`] makes the pageblocks of a
//! range ISOLATE (free pages out of reach, frees kept out of reach) if
//! nothing unmovable is in it; [`PageAllocator::alloc_contig_range`] then
//! migrates the in-use pages out through a [`Migrator`](crate::migrate::Migrator)
//! and hands back every page of the range, order-0 with one reference each,
//! undoing the isolation. [`PageAllocator::alloc_contig_pages`] finds such
//! a range by itself. isolation.rs and contig.rs have the details; CMA's
//! `cma_alloc` is built on them.
//!
//! # debug_pagealloc
//!
//! With [`AllocatorFlags::DEBUG_PAGEALLOC`] every block is unmapped from the
//! kernel's linear map while it is free, so a use after free of a whole
//! page faults instead of corrupting the next owner (Linux's
//! `debug_pagealloc=on`). The allocator calls
//! [`Hal::kernel_map_pages`](crate::hal::Hal::kernel_map_pages) in exactly
//! two places, both outside every zone and pcp lock, as Linux calls
//! `debug_pagealloc_unmap_pages` / `debug_pagealloc_map_pages`:
//!
//! ```text
//!   free_pages_prepare   checks, flags cleared, init_on_free zeroing, then UNMAP
//!                        (every free goes through it: __free_pages, the pcp
//!                        free, __free_pages_ok, the boot hand-over, CMA)
//!   prep_new_page        MAP first, then init_on_alloc / __GFP_ZERO zeroing
//!                        (every allocation: the pcp fast path, the zonelist walk)
//! ```
//!
//! Pages on the pcp lists are free, so unmapped; draining them to the buddy
//! lists, merging and splitting touch only descriptors (in the vmemmap, a
//! mapping of its own) and map nothing. A block that fails its checks is
//! leaked as it is (mapped if it was being freed, unmapped if it was being
//! allocated). The platform's hook must take no lock (the kernel allocates
//! its page-table pages under its page-table lock).
//!
//! # Bad pages
//!
//! A page freed with references, a mapcount, a mapping, or owner flags set
//! (PAGE_FLAGS_CHECK_AT_FREE), or found at allocation with any of those
//! (PAGE_FLAGS_CHECK_AT_PREP), is reported as Linux's bad_page does
//! (`BUG: Bad page state in process <comm>  pfn:<pfn>` and a dump of the
//! descriptor), kept off the free lists for good, and counted in
//! [`PageAllocator::nr_bad_pages`]; the allocator carries on. Reports stop
//! after 60 (Linux allows 60 a minute; there is no clock here).
//!
//! # Differences from Linux
//!
//! * No reclaim, OOM killer, kswapd, kcompactd or watermark boosting; no
//!   cpusets, memcg, page owner, KASAN, page reporting, shuffling, guard
//!   pages, deferred struct page init, memory hotplug, dynamic pcp high
//!   (high_min/high_max) or `percpu_pagelist_high_fraction`.
//! * Drains happen for every caller in the slow path (see above).
//! * Node-local: `numa_mem_id` comes from the CPU number the caller passes.
//! * `warn_alloc` and bad_page are not rate-limited by time (no clock); the
//!   platform's log may rate-limit.
//! * A double free (refcount already 0) is reported as a bad page instead of
//!   VM_BUG_ON; the page is left as it was.
//! * `free_bootmem_range` frees only pages still marked reserved and splits
//!   at zone boundaries, so a range given twice, or one that straddles zones,
//!   does no harm.
//! * Merging a larger-than-pageblock buddy of another mergeable type retypes
//!   all its pageblocks (Linux retypes the first).
//! * The per-page checks (check_new_pages, free_page_is_bad) run, as in
//!   Linux without CONFIG_DEBUG_VM, only with `check_pages`
//!   (debug_pagealloc, init_on_alloc/free, `page_alloc.check_pages=1`, or
//!   [`PageAllocator::set_check_pages`]). Linux still clears every tail
//!   page's flags at free; here a tail of a block that is not compound
//!   cannot gain flags (`Page::set_flags` refuses pages without references),
//!   so nothing walks it. The migratetype of a freed page is read from its
//!   pageblock (as Linux 6.12 does), under the pcp lock, not remembered
//!   from its allocation: here that would cost the same instructions.
//! * An order-0 array of up to PCP_HOT pages per pcp type sits in front of
//!   the pcp lists (see the fastpath module); `high`/`batch` govern the
//!   lists.
//! * `__GFP_NOFAIL` is retried for non-blocking callers too (Linux gives up
//!   at once for them), since the retries here never sleep.
//! * Pageblock migratetypes live in the first descriptor of each pageblock,
//!   not in a separate bitmap; there is no PB_migrate_skip (compaction
//!   keeps no skip bits). An isolated pageblock keeps its previous type
//!   there too, and undoing the isolation restores it (as Linux 6.16 does,
//!   see isolation.rs).
//!
//! # Freeing safely
//!
//! `free_pages(cpu, pfn, order)` and its relatives (`free_page`, `put_page`,
//! `free_pages_exact`) are `unsafe fn`: the allocator catches frees of frames
//! without descriptors, misaligned blocks and double frees, but it cannot tell
//! the caller's block from a live block someone else owns. Safe code holds a
//! [`Pages`] handle, which frees its block when dropped.
//!
//! # Files
//!
//! ```text
//!   allocator.rs   struct PageAllocator, settings, lookups
//!   node.rs        pg_data_t, zonelists, zonerefs
//!   init.rs        add_node, memmap_init, free_bootmem_range (memblock_free_all)
//!   zonelist.rs    build_all_zonelists, find_next_best_node
//!   watermarks.rs  min_free_kbytes, watermarks, lowmem_reserve, pcp sizes
//!   cpu_pages.rs   CpuPages and the fast paths' zone tables
//!   fastpath.rs    the order-0..3 and high-order fast paths
//!   alloc.rs       the allocation API, get_page_from_freelist
//!   slowpath.rs    __alloc_pages_slowpath without reclaim, direct compaction, warn_alloc
//!   free.rs        __free_pages and friends, draining, one pageblock's isolation
//!   isolation.rs   start/undo_isolate_page_range, has_unmovable_pages,
//!                  test_pages_isolated (mm/page_isolation.c)
//!   contig.rs      alloc_contig_range, free_contig_range, alloc_contig_pages
//!   check.rs       check_new_pages, free_pages_prepare, bad_page
//!   show_mem.rs    show_mem
//!   pages.rs       Pages, the owning handle
//! ```

mod alloc;
mod allocator;
mod check;
mod contig;
#[cfg(test)]
mod contig_tests;
mod cpu_pages;
mod fastpath;
mod free;
mod init;
mod isolation;
mod node;
mod pages;
mod show_mem;
mod slowpath;
#[cfg(test)]
mod tests;
mod watermarks;
mod zonelist;

pub use crate::zone::DEFAULT_WATERMARK_SCALE_FACTOR;
pub use allocator::{
    AllocatorFlags, DEFAULT_MIN_FREE_KBYTES, LOCAL_DISTANCE, MIN_FREE_KBYTES_RANGE, NOFAIL_RETRIES, PageAllocator,
    REMOTE_DISTANCE, get_order,
};
pub use contig::{CONTIG_MIGRATE_BATCH, CONTIG_MIGRATE_TRIES};
pub use cpu_pages::{CpuPages, PageChecks};
pub use isolation::IsolateFlags;
pub use node::{
    MAX_ZONELISTS, MAX_ZONES_PER_ZONELIST, PgData, ZONELIST_FALLBACK, ZONELIST_NOFALLBACK, ZoneRef, Zonelist,
};
pub use pages::Pages;
