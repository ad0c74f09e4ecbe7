//! vmalloc: virtually contiguous kernel memory from scattered pages
//! (Linux's mm/vmalloc.c). **Not built yet**: this essay is the plan the
//! code will follow.
//!
//! # What it will do
//!
//! `vmalloc(size)` finds a free range of kernel virtual addresses in the
//! vmalloc area, takes `size / PAGE_SIZE` order-0 pages from the page
//! allocator (any pages: they need not be contiguous), and maps them there
//! through the kernel page table. `vfree` unmaps and frees them. `vmap`
//! maps pages the caller already has, `ioremap` maps device memory, and the
//! kernel's per-CPU stacks (with a guard page each) come from here too.
//!
//! # Data structures
//!
//! ```text
//!   vmap_area: [va_start, va_end), and subtree_max_size
//!
//!   free_vmap_area_root (rb-tree by address)        busy_vmap_area_root
//!         [  free  ]                                 [ busy ] -> vm_struct
//!        /          \                                 { pages[], nr_pages,
//!   [ free ]     [ free ]     each node also knows      caller, flags }
//!                             the largest free block
//!                             in its subtree
//! ```
//!
//! * Every address in the vmalloc area is in exactly one `vmap_area`: free
//!   ones in the free tree, busy ones in the busy tree. Neighbouring free
//!   areas are always merged, as memblock merges regions.
//! * The free tree is *augmented*: each node stores `subtree_max_size`, the
//!   size of the largest free area in its subtree (Linux since 5.2). Finding
//!   the lowest free area that fits `size` with `align` is then one walk from
//!   the root, going left whenever the left subtree can hold the request,
//!   O(log n) instead of a scan of every hole. Inserting, splitting and
//!   merging update the augmentation on the path back to the root.
//! * The tree will be an ordered map of ranges with cursors (the model is
//!   Asterinas' interval sets), with the augmentation kept in the node; the
//!   same structure serves the VMA tree of the `vm` module.
//! * A busy area points to its `vm_struct`: the pages, for vfree and for
//!   `vmalloc_to_page`.
//!
//! # Allocation and freeing
//!
//! Allocation: take the free-tree lock, find the lowest fit, split it
//! (at most into two free pieces around the allocation), insert the busy
//! area, drop the lock; then allocate pages and map them with the lock not
//! held (page allocation and page-table allocation may take their own
//! locks). A failure unwinds in the opposite order.
//!
//! Freeing is *lazy*: `vfree` unmaps the pages and frees them at once, but
//! the virtual range goes to a purge list instead of straight back to the
//! free tree, because making it reusable needs a TLB flush of the whole
//! range on every CPU. When the lazily freed ranges add up to more than a
//! threshold (Linux's lazy_max_pages, scaled by the number of CPUs), one
//! purge flushes the TLB once for the span of them all and merges them
//! into the free tree together. An allocation that finds no room purges
//! and retries before it fails.
//!
//! Small mappings use *vmap blocks*: a per-CPU block of, say, 64 pages of
//! address space taken from the tree once, and carved into small vmaps
//! with a bitmap, so that the common `vm_map_ram` of a few pages takes no
//! global lock. A block goes back to the tree when all of it is freed.
//!
//! # Locks
//!
//! The free-tree lock, the busy-tree lock and the purge lock, never held
//! while calling the page allocator or the page-table code; the purge lock
//! is taken before either tree's lock. Per-CPU vmap blocks have a lock of
//! their own, taken before the tree locks.
//!
//! # The interface below
//!
//! Pages come from the page allocator (owning `Pages` handles, so an
//! unmapped page is freed exactly once); mappings go through
//! `pgtable::PageTable` over the kernel's `PgtableMem`, with
//! break-before-make for anything live; the TLB flush is the page-table
//! platform's. No Linux API user sees the tree: they get a `VmArea` handle
//! that unmaps and frees on drop.
//!
//! # Planned differences from Linux
//!
//! No huge vmap mappings at first, no KASAN shadow, no per-node busy lists
//! (one busy tree with its lock until measurements ask for more).
