//! vmalloc: virtually contiguous kernel memory from scattered pages
//! (Linux's mm/vmalloc.c since 5.2). This crate holds the architecture-free
//! part, host-tested: the vmap area trees with their lazy purge
//! ([`VmapSpace`], on the augmented [`tree::AreaTree`]) and the vmap
//! blocks of `vm_map_ram` ([`VmapBlock`]). The kernel's
//! `memory::vmalloc` wires them to the page allocator and the kernel page
//! table and owns the locks.
//!
//! # What it does
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
//! * The tree is an AVL tree of disjoint ranges keyed by start, in an
//!   arena of fixed-size node chunks ([`tree::AreaTree`]); the busy tree is
//!   the same type with the `vm_struct` as payload. (Linux uses red-black
//!   trees; AVL gives the same O(log n) bounds with a simpler delete.)
//! * Finding a fit follows Linux's rule: the lowest free range of at least
//!   `size + align - PAGE_SIZE` bytes (which fits whatever its alignment);
//!   for page alignment that is exactly the lowest fit. When a larger
//!   alignment is what made the walk fail, a scan looks for a range that
//!   fits by luck of its alignment before giving up ([`VmapSpace::alloc`]).
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
//! The types here are plain data used through `&mut self`; the kernel
//! keeps one `VmapSpace` behind one lock (Linux splits it into the free
//! lock, per-node busy locks and the purge lock), never held while calling
//! the page allocator, the page-table code or the TLB flush: a purge takes
//! its batch under the lock, flushes without it, and merges under it
//! again, the batch's ranges being neither free nor busy meanwhile.
//! Per-CPU vmap blocks have a lock each, taken before the tree's lock.
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
//! # Differences from Linux
//!
//! No huge vmap mappings, no KASAN shadow, no per-node busy lists and
//! pools (one busy tree with its lock until measurements ask for more), no
//! RCU-deferred node frees (lookups take the lock). A vmap block is
//! returned only when wholly dirty (Linux also reuses the dirty part of a
//! fragmented block after a flush).

pub mod block;
pub mod space;
pub mod tree;

pub use block::{BlockState, VMAP_BBMAP_BITS, VMAP_BLOCK_SIZE, VMAP_MAX_ALLOC, VmapBlock};
pub use space::{PurgeBatch, VmapError, VmapSpace, VmapStats, lazy_max_pages};

bitflags::bitflags! {
    /// What a vm area is (Linux's `VM_*` flags, same values).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct VmFlags: u32 {
        /// `ioremap` and friends.
        const IOREMAP = 0x1;
        /// `vmalloc`.
        const ALLOC = 0x2;
        /// `vmap` of caller pages.
        const MAP = 0x4;
        /// Suitable for mapping into user space.
        const USERMAP = 0x8;
        /// A DMA-coherent buffer.
        const DMA_COHERENT = 0x10;
        /// Not fully set up yet (reports skip it).
        const UNINITIALIZED = 0x20;
        /// No guard page after the area.
        const NO_GUARD = 0x40;
        /// A kernel stack (meminfo's KernelStack counts these; vmallocinfo
        /// shows them as plain vmalloc areas, as Linux does).
        const STACK = 0x80;
    }
}

impl VmFlags {
    /// Bytes of address space an area of `size` bytes takes: the size
    /// rounded to pages, plus the guard page unless `NO_GUARD`.
    pub fn area_size(self, size: u64) -> Option<u64> {
        let s = size.checked_next_multiple_of(crate::PAGE_SIZE)?;
        if self.contains(VmFlags::NO_GUARD) { Some(s) } else { s.checked_add(crate::PAGE_SIZE) }
    }
}
