//! The SLUB slab allocator (mm/slub.c, mm/slab_common.c).
//!
//! A [`KmemCache`] hands out objects of one size carved from *slabs*: blocks
//! of `2^order` pages taken from the [`PageAllocator`](crate::page_alloc::PageAllocator). `kmalloc` is a set of
//! such caches, one per size class, plus the page allocator itself for
//! requests above 8 KiB.
//!
//! # What the kernel provides
//!
//! [`Slub::new`]`(page_allocator)` over a platform `H:`[`Hal`](crate::hal::Hal),
//! which SLUB uses for:
//!
//! * `page_address(pfn)`: the linear-map address of a slab's frames;
//! * `virt_to_pfn(addr)`: the frame of an address, `None` when it is not in
//!   the linear map (kfree of a stray pointer);
//! * `log(Err, args)`: one report line (BUG/INFO/FIX, slabinfo warnings);
//! * `random()`: the hardening seed (cache random, freelist order);
//! * `now()`: a timestamp for owner tracking (jiffies).
//!
//! Every entry point takes the calling CPU number; callers run with
//! interrupts masked, as for the page allocator. The kernel publishes the
//! `Slub` in a static, calls [`Slub::kmalloc_init`] once, and may give the
//! `slub_debug=` option to [`SlubDebug::parse`] before that.
//!
//! # Files
//!
//! ```text
//!   allocator.rs  struct Slub; kmem_cache_create / destroy / shrink
//!   cache.rs      struct kmem_cache and its per-CPU and per-node parts
//!   layout.rs     calculate_sizes, calculate_order
//!   slab.rs       struct slab: counters, allocate/discard, list moves
//!   freelist.rs   hardened free pointers, shuffling, freelist walks
//!   alloc.rs      kmem_cache_alloc: fast path, slow path, debug path
//!   free.rs       kmem_cache_free: CPU freelist, remote slab, debug path
//!   debug.rs      slub_debug: checks, reports, owner tracking, validation
//!   kmalloc.rs    the kmalloc caches, large kmalloc, kfree, krealloc
//!   slabinfo.rs   /proc/slabinfo
//!   raw.rs        every raw memory access, as unsafe fns
//! ```
//!
//! # Data structures
//!
//! ```text
//!   KmemCache ("kmalloc-64")                          struct page of a slab (head)
//!   +-----------------------------+                   +----------------------------+
//!   | size, offset, inuse, order  |                   | flags: PG_slab (+PG_head)  |
//!   | random, random_seq[]        |      slab_cache <-| private                    |
//!   | cpu_slab[NR_CPUS]  ---------+--> KmemCacheCpu   | mapping  = freelist        |
//!   |   spin::Mutex               |    slab, freelist | index    = counters:       |
//!   |                             |    partial list   |   inuse | objects | state  |
//!   | node[MAX_NUMNODES] ---------+--> KmemCacheNode  | lru      = slab_list       |
//!   |   spin::Mutex (list_lock)   |    partial, full  +----------------------------+
//!   +-----------------------------+
//! ```
//!
//! Linux's `struct slab` overlays `struct page`; here the same words of the
//! 64-byte [`Page`](crate::page::Page) are reused: `private` holds the owning cache, `mapping`
//! the slab's freelist, `index` the counters (objects in use, objects, which
//! list the slab is on and the CPU that holds it frozen) and the `lru` links
//! chain the slab on its list. A slab is in exactly one place:
//!
//! * the active slab of one CPU (*frozen*): its free objects have been moved
//!   to that CPU's private freelist; frees by other CPUs go to the slab's own
//!   freelist and are picked up when the CPU's freelist runs dry;
//! * a CPU's partial list (Linux's `slub_percpu_partial`);
//! * its node's partial list, or its node's full list.
//!
//! Free objects store the next free object's address at `offset`, encoded
//! as Linux's `freelist_ptr_encode`: `ptr ^ cache.random ^ swab(&slot)`.
//!
//! Object layout (Linux's calculate_sizes), `p` the pointer callers see:
//!
//! ```text
//!   | left red zone | object_size | right red zone | free ptr? | track[2] | orig_size | pad |
//!   ^ p - red_left_pad                             ^ p+offset (if outside)                 ^ size
//! ```
//!
//! # Locks
//!
//! Lock order: the CPU's own `cpu_slab` mutex, then a node's `list_lock`,
//! then the page allocator's locks. Each CPU only blocks on its own
//! `cpu_slab` mutex; the mutex rather than a bare cell exists because
//! `kmem_cache_shrink`, `validate_slab_cache` and `kmem_cache_destroy`
//! flush other CPUs' state (taking one at a time, with nothing else held),
//! and because a free into a slab another CPU holds frozen checks that CPU's
//! freelist for a double free with `try_lock` only, dropping the list_lock
//! and retrying when it is busy, so no cycle can form. With interrupts
//! masked the uncontended lock is one atomic, the cost Linux pays for
//! `local_lock` on PREEMPT_RT. The slab's freelist and counters in its page
//! descriptor change only under its node's list_lock.
//!
//! # Allocation
//!
//! Fast path: pop the CPU freelist. Slow path (`___slab_alloc`):
//! the frozen slab's own freelist (remote frees) -> deactivate the slab ->
//! a slab from the CPU partial list -> a slab from the node partial list
//! (taking up to half of `cpu_partial_slabs` more onto the CPU partial list)
//! -> a new slab from the page allocator on the requested node, set up with
//! a randomised freelist (the cache's Fisher-Yates `random_seq` walked from
//! a random start, Linux's shuffle_freelist) and the constructor run on
//! every object.
//!
//! # Free
//!
//! The object is found through its page (`virt_to_slab`); a pointer that is
//! not in a slab, not at an object boundary, or already free is reported
//! and refused. If the slab is the CPU's active slab the object goes onto
//! the CPU freelist; otherwise onto the slab's freelist under the list_lock,
//! and the slab moves: full -> the CPU's partial list (node partial list if
//! the cache has no CPU partials); empty on the node partial list with at
//! least `min_partial` slabs there -> back to the page allocator.
//!
//! # Debugging (slub_debug)
//!
//! Caches with any debug flag take no per-CPU path: every allocation and free
//! runs `alloc_debug_processing` / `free_debug_processing` under the
//! list_lock, and full slabs are kept on the node's full list. Reports use
//! Linux's format (`BUG cache (Not tainted): what`, INFO lines, a hex dump,
//! `FIX cache: ...`); damaged red zones and poison are restored, objects whose
//! checks fail at free are not freed, and slabs whose freelist is broken
//! are isolated (all objects marked used).
//!
//! # Differences from Linux
//!
//! Remote frees into a frozen slab take the list_lock instead of
//! `cmpxchg_double`; full slabs are always on the full list (so validation
//! and destruction see them); "already free" is checked on every free, not
//! only under `slub_debug=F`: a constant-time filter on the object's free
//! pointer (might_be_free) decides whether the slab's freelists must be
//! walked, which they are only when the object may be free; the
//! `kmalloc Redzone` (orig_size) needs only `Z`, not `Z` and `U`;
//! `kmem_cache` structures come from the page allocator, not from a
//! bootstrapped `kmem_cache` cache; there is no cache merging.

mod alloc;
mod allocator;
mod cache;
mod debug;
mod free;
mod freelist;
mod kmalloc;
mod layout;
mod raw;
mod slab;
mod slabinfo;
#[cfg(test)]
mod tests;

pub use allocator::Slub;
pub use cache::{
    KMALLOC_MAX_CACHE_SIZE, KMALLOC_MIN_SIZE, KMALLOC_SHIFT_HIGH, KmemCache, MAX_CACHES, MAX_OBJS_PER_PAGE,
    MAX_PARTIAL, MIN_PARTIAL, POISON_END, POISON_FREE, POISON_INUSE, SHEAF_CAPACITY, SLUB_RED_ACTIVE,
    SLUB_RED_INACTIVE, SlabFlags, SlubDebug, SlubFlags, ZERO_SIZE_PTR,
};

pub use freelist::{freelist_ptr_encode, init_random_seq};
pub use kmalloc::{kmalloc_index, kmalloc_size};
pub use layout::{SlabLayout, calculate_order, calculate_sizes};
pub use slabinfo::SlabInfo;
