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
//! `slub_debug=` option to [`SlubDebug::parse`] and init_on_alloc/free to
//! [`Slub::set_flags`] before that (each cache picks its fast paths when it
//! is created).
//!
//! # Files
//!
//! ```text
//!   allocator.rs  struct Slub; kmem_cache_create / destroy / shrink
//!   cache.rs      struct kmem_cache, its per-CPU slots (sheaf, CPU slab) and per-node parts
//!   layout.rs     calculate_sizes, calculate_order
//!   slab.rs       struct slab: counters, allocate/discard, list moves
//!   freelist.rs   hardened free pointers, shuffling, freelist walks
//!   alloc.rs      kmem_cache_alloc: sheaf pop, refill and slow path, debug path
//!   free.rs       kmem_cache_free: sheaf push, flush, __slab_free, debug path
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
//!   | random, random_seq          |      slab_cache <-| private                    |
//!   | fast_{alloc,free}_cpus      |                   | mapping  = freelist        |
//!   | cpu_slab: one CpuSlot per --+--> CpuSlot (64-B  | index    = counters:       |
//!   |   CPU, after the struct     |    aligned, lock) |   inuse | objects | state  |
//!   |                             |    guard+sheaf[56]| lru      = slab_list       |
//!   |                             |    nr_sheaf       +----------------------------+
//!   |                             |    slab, freelist
//!   |                             |    partial list
//!   | node[MAX_NUMNODES] ---------+--> KmemCacheNode (list_lock)
//!   |                             |    partial, full, counts
//!   +-----------------------------+
//! ```
//!
//! The `KmemCache`, its per-CPU slots and its random sequence share the
//! pages `kmem_cache_create` takes for it; there is one slot per CPU the
//! page allocator was told of (`PageAllocator::nr_cpus`, the device tree's
//! CPUs), each alone in its cache lines (eight of them, 512 bytes, with a
//! 56-object sheaf: a power-of-two stride, so a CPU's slot is one shifted
//! add from the array). The sheaf's first entry is a guard that stays 0, so
//! its top is defined when it is empty and the free fast path's naive
//! double-free check has no test for that.
//!
//! Linux's `struct slab` overlays `struct page`; here the same words of the
//! 64-byte [`Page`](crate::page::Page) are reused: `private` holds the owning cache, `mapping`
//! the slab's freelist, `index` the counters (objects in use, objects, which
//! list the slab is on and the CPU that holds it frozen) and the `lru` links
//! chain the slab on its list. Objects in a sheaf count as in use in their
//! slab's counters. A slab is in exactly one place:
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
//! # Per-CPU sheaves, and what guards them
//!
//! In front of the CPU slab sits a *sheaf* (Linux 6.18's
//! `slub_percpu_sheaves`): an array of up to [`SHEAF_CAPACITY`] free
//! objects per CPU and cache. kmalloc pops the last one, kfree pushes onto
//! it; neither touches the object's memory, a slab descriptor or a shared
//! word. An empty sheaf is refilled in one go from the CPU freelist (the
//! slow path below, then the rest of that freelist up to the capacity); a
//! full one goes back whole to the slabs (`flush_sheaf`, as Linux's
//! sheaf_flush_main does when the barn has no room), the objects of one
//! slab that sit next to each other in the sheaf going back as one run
//! under one list_lock. (An earlier version gave back the oldest half and
//! moved the rest down: slab/batch10k-64 cost 208 instructions per
//! object then; 196 with the whole sheaf, 193 once each run was also
//! found while it is pushed.)
//!
//! Linux chose between a transaction id with a double-word compare and
//! swap (cmpxchg_double on `freelist`+`tid`) and, since 6.18, sheaves under
//! `local_trylock`. This kernel takes sheaves: the array needs no 128-bit
//! atomic (mm stays free of architecture code), refills and flushes batch
//! the slow path, and the masked-interrupt calling convention already rules
//! out the one local race (an interrupt handler on the same CPU).
//!
//! What guards a CPU's slot (sheaf, counters, CPU slab, CPU partial list)
//! is its own spin lock, `CpuSlot`'s mutex, in the slot's cache line:
//!
//! * the owner CPU takes it on every operation with interrupts masked, so
//!   nothing else on that CPU can interleave; uncontended, that is one
//!   exclusive load/store pair and one store-release, on a line no other
//!   CPU writes in the normal course, so it never bounces. The fast paths
//!   only `try_lock` it and take the slow path when it is busy;
//! * another CPU takes it only to flush the slot: `kmem_cache_shrink`,
//!   `validate_slab_cache` and `kmem_cache_destroy` (through `flush_all`,
//!   one slot at a time with nothing else held) and slabinfo's summing of
//!   the per-CPU counts. That is Linux's `flush_all` done through the lock
//!   instead of through work queued on the owner (this kernel has no
//!   per-CPU work queue, and an IPI cross-call could not be made with
//!   interrupts masked). A remote flush therefore sees every object a
//!   sheaf holds, and shrink, destroy, validation and slabinfo stay exact.
//!
//! Compared with Linux's non-RT `local_trylock` (a per-CPU flag, no atomic)
//! this costs the one uncontended atomic pair; a Dekker-style flag (store,
//! full barrier, load of a remote-flush request) would cost the same
//! number of instructions, so the plain lock is kept for clarity. Frees
//! never take another CPU's lock: an object of a slab another CPU holds
//! frozen goes to the slab's own freelist under the list_lock.
//!
//! Nothing on a fast path counts. slabinfo's `active_objs` is the objects
//! of the cache's slabs less the free ones, walked when read: the
//! freelists of partial slabs (as Linux's count_partial) and of the CPU
//! slabs, the CPU freelists and the sheaves, each under its own lock, so
//! it is exact when the cache is quiet (Linux's counts objects cached per
//! CPU as active; this one does not). Full slabs are not walked. (An
//! earlier version kept a per-CPU `nr_active`, allocated minus freed,
//! which cost the fast paths a load, an add and a store each: slab/pair
//! 107 -> 103 instructions without it.)
//!
//! # Locks
//!
//! Lock order: the CPU's own slot lock, then a node's `list_lock`, then
//! the page allocator's locks. A CPU holds at most one slot lock (its own,
//! or, in flush_all, one remote slot with nothing else held), so no cycle
//! can form. The slab's freelist and counters in its page descriptor
//! change only under its node's list_lock.
//!
//! # Allocation
//!
//! Fast path (`alloc_fast`, a leaf with no call): a cache with fast
//! allocation allowed (no debug flag, no init_on_alloc), no node asked for,
//! no `__GFP_ZERO`: try_lock the CPU slot, pop the sheaf. Whether the
//! cache allows it and whether the CPU number has a slot are one compare
//! (`cpu < fast_alloc_cpus`, which is the slot count or 0), and kmalloc
//! finds its cache from one 1 KiB table by `(size - 1) / 8`, one compare
//! having sent 0 and sizes above 8 KiB aside. Everything else
//! is `slab_alloc_slow`, reached through an out-of-line call that returns
//! the object or an error code in one register (`encode_slow`; large
//! kmallocs the same way), so that kmalloc's result stays in registers on
//! the fast path too: the debug path, or the slow path under the slot
//! lock (`___slab_alloc`): the frozen slab's own freelist (remote frees)
//! -> deactivate the slab -> a slab from the CPU partial list -> a slab
//! from the node partial list (taking up to half of `cpu_partial_slabs`
//! more onto the CPU partial list) -> a new slab from the page allocator
//! on the requested node, set up with a randomised freelist (the cache's
//! Fisher-Yates `random_seq` walked from a random start, Linux's
//! shuffle_freelist) and the constructor run on every object; without a
//! node asked for, the new slab's first objects in that order go straight
//! into the sheaf and only the rest are linked. Without a node, the rest of
//! the CPU freelist then refills the sheaf.
//!
//! # Where the fast paths stand
//!
//! A kmalloc+kfree pair of a small cache is 83 instructions net of the
//! bench harness (`scripts/bench.sh`, under -icount): the bench's kmalloc
//! call runs 34, its kfree 58, frames included (the null row's two calls
//! run 9). What Linux's fast paths do not pay and this one does:
//! the slot's lock (an exclusive load/store pair, its retry test and a
//! store-release: 6 per call, 12 per pair), where non-RT Linux takes a
//! per-CPU flag; the CPU number checked against the slot count (3 per
//! call; callers pass a plain number); and kfree's refusal of what is not
//! an object, which Linux leaves to slub_debug: the section check on the
//! physical address (6), the offset inside the slab's objects and on an
//! object boundary (a udiv: 7). Dropping the lock needs remote flushes
//! (shrink, destroy, validate, slabinfo) to run on the owning CPU, as
//! Linux's flush_all queues work there; this kernel's cross-calls wait for
//! the target's idle loop and cannot be made with interrupts masked, so
//! the lock stays until they can.
//!
//! # Free
//!
//! The cache comes from the page descriptor (`virt_to_slab`: one
//! unchecked `virt_to_phys`, one `pfn_to_page`, a second only for a tail
//! page of a slab of order > 0; the physical address less the head frame's
//! is the object's offset in the slab, which the boundary check takes); a
//! pointer that is not in a slab or not at an object
//! boundary is reported and refused. Fast path (`free_fast`, a leaf): a
//! cache with fast free allowed (no debug flag, no init_on_free), the
//! naive double-free check (the object is not the one freed last, at the
//! top of the sheaf), room in the sheaf: push. Otherwise the slow path
//! flushes a full sheaf first, or reports the double free.
//!
//! Freeing into a slab (`free_to_slab`, Linux's `__slab_free`): onto the
//! CPU freelist if the slab is the CPU's active slab; otherwise onto the
//! slab's own freelist under the list_lock. The node lists change only on
//! two transitions: a full slab becomes partial (it goes to the CPU's
//! partial list, or its node's when the cache has no CPU partials, and an
//! overflowing CPU partial list is put back to the nodes), and a slab on
//! the node partial list becomes empty (it stays while the node has fewer
//! than `min_partial` partial slabs, else it goes back to the page
//! allocator). Every other free only updates the slab's freelist and
//! counters, so freeing and reallocating reuses slabs instead of churning
//! them through the buddy allocator.
//!
//! # Hardening and double frees
//!
//! As Linux with `SLAB_FREELIST_HARDENED` and `SLAB_FREELIST_RANDOM`:
//! free pointers in slabs are encoded (below), new slabs' freelists are
//! shuffled, and a free of the object at the head of the freelist it would
//! join (the sheaf's top, the CPU freelist's or the slab's head) is
//! reported as `Object already free` and refused. A double free of an
//! object further down goes unnoticed on the fast path, as in Linux. The
//! exact check (the object is looked for on the slab's freelists before
//! every free) is `slub_debug=F` (SLAB_CONSISTENCY_CHECKS, per cache or
//! for all): such caches take the debug path below, whose cost the
//! `ours-debug` bench row (slub_debug=FZP) shows.
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
//! The per-CPU slot is guarded by its own lock rather than `local_trylock`
//! (see above); there is no barn (Linux's per-node store of full and empty
//! sheaves): a sheaf is refilled from and flushed to the slabs directly;
//! remote frees into a frozen slab take the list_lock instead of
//! `cmpxchg_double`; full slabs are always on the full list (so validation
//! and destruction see them); the `kmalloc Redzone` (orig_size) needs only
//! `Z`, not `Z` and `U`; `kmem_cache` structures come from the page
//! allocator, not from a bootstrapped `kmem_cache` cache; there is no cache
//! merging.

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
