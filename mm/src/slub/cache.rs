//! A slab cache (struct kmem_cache), its per-CPU and per-node state, and
//! the constants and flags of its layout.

use bitflags::bitflags;

use core::ops::Deref;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use crate::addr::Pfn;
use crate::config::MAX_NUMNODES;
use crate::gfp::Gfp;
use crate::hal::{Hal, LogLevel};
use crate::page::{NONE_PFN, PfnList};

/// Red zone byte of a free object (SLUB_RED_INACTIVE).
pub const SLUB_RED_INACTIVE: u8 = 0xbb;
/// Red zone byte of an allocated object (SLUB_RED_ACTIVE).
pub const SLUB_RED_ACTIVE: u8 = 0xcc;
/// Poison of a free object (POISON_FREE).
pub const POISON_FREE: u8 = 0x6b;
/// Last byte of a poisoned free object (POISON_END).
pub const POISON_END: u8 = 0xa5;
/// Padding poison (POISON_INUSE).
pub const POISON_INUSE: u8 = 0x5a;
/// Most objects a slab may hold (MAX_OBJS_PER_PAGE).
pub const MAX_OBJS_PER_PAGE: u32 = 32767;
/// Smallest kmalloc size class (KMALLOC_MIN_SIZE).
pub const KMALLOC_MIN_SIZE: usize = 8;
/// Index of the largest kmalloc cache (KMALLOC_SHIFT_HIGH): 8 KiB.
pub const KMALLOC_SHIFT_HIGH: usize = 13;
/// Largest request served by a kmalloc cache (KMALLOC_MAX_CACHE_SIZE).
pub const KMALLOC_MAX_CACHE_SIZE: usize = 1 << KMALLOC_SHIFT_HIGH;
/// kmalloc_index of 1..=8192 bytes, by `(size - 1) / 8`. Linux's
/// size_index covers only up to 192 bytes and takes `fls` above; one
/// 1 KiB table for every class spares the fast path that branch.
pub(super) const SIZE_INDEX: [u8; KMALLOC_MAX_CACHE_SIZE / 8] = {
    let mut t = [0u8; KMALLOC_MAX_CACHE_SIZE / 8];
    let mut i = 0;
    while i < t.len() {
        let size = (i + 1) * 8;
        t[i] = match size {
            8 => 3,
            65..=96 => 1,
            129..=192 => 2,
            _ => (usize::BITS - (size - 1).leading_zeros()) as u8,
        };
        i += 1;
    }
    t
};

const _: () = {
    let mut i = 0;
    while i < SIZE_INDEX.len() {
        assert!(SIZE_INDEX[i] as usize <= KMALLOC_SHIFT_HIGH);
        i += 1;
    }
};

/// What kmalloc(0) returns (ZERO_SIZE_PTR); kfree and ksize accept it.
pub const ZERO_SIZE_PTR: usize = 16;
/// Most caches the cache list holds.
pub const MAX_CACHES: usize = 128;
/// min_partial bounds (MIN_PARTIAL, MAX_PARTIAL).
pub const MIN_PARTIAL: usize = 5;
/// See [`MIN_PARTIAL`].
pub const MAX_PARTIAL: usize = 10;
pub(super) const CACHE_LINE_BYTES: usize = 64;
pub(super) const PTR: usize = core::mem::size_of::<u64>();
pub(super) const TRACK_BYTES: usize = 24;

bitflags! {
    /// Cache creation flags (SLAB_*), Linux's values.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct SlabFlags: u32 {
        /// F: check objects and slabs on alloc and free.
        const CONSISTENCY_CHECKS = 0x0000_0100;
        /// Z: red zones around objects.
        const RED_ZONE = 0x0000_0400;
        /// P: poison free objects.
        const POISON = 0x0000_0800;
        /// Align objects to the cache line.
        const HWCACHE_ALIGN = 0x0000_2000;
        /// Slabs from ZONE_DMA.
        const CACHE_DMA = 0x0000_4000;
        /// Slabs from ZONE_DMA32.
        const CACHE_DMA32 = 0x0000_8000;
        /// U: track the last allocation and free of each object.
        const STORE_USER = 0x0001_0000;
        /// Slabs are reclaimable (from the reclaimable migratetype).
        const RECLAIM_ACCOUNT = 0x0002_0000;
        /// Panic if the cache cannot be created.
        const PANIC = 0x0004_0000;
        /// A kmalloc cache (orig_size tracking with red zones).
        const KMALLOC = 0x1000_0000;
        /// Ignore the debugging flags of `slub_debug=` (Linux's
        /// SLAB_NO_USER_FLAGS): for caches whose flags a test must control.
        const NO_USER_FLAGS = 0x2000_0000;
    }
}

impl SlabFlags {
    /// The slub_debug flags (SLAB_DEBUG_FLAGS).
    pub const DEBUG_FLAGS: SlabFlags =
        SlabFlags::CONSISTENCY_CHECKS.union(SlabFlags::RED_ZONE).union(SlabFlags::POISON).union(SlabFlags::STORE_USER);
}

bitflags! {
    /// Allocator-wide switches.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct SlubFlags: u32 {
        /// init_on_alloc: zero every object handed out.
        const INIT_ON_ALLOC = 1 << 0;
        /// init_on_free: zero every object freed.
        const INIT_ON_FREE = 1 << 1;
    }
}

/// Objects a CPU's sheaf holds (Linux's `sheaf_capacity`): 56, so that
/// with its guard entry and the rest of the CPU's state a slot is 512
/// bytes, eight cache lines, and the fast paths find a CPU's slot with
/// one shifted add.
pub const SHEAF_CAPACITY: usize = 56;

/// Per-CPU state of a cache (struct kmem_cache_cpu and Linux 6.18's
/// slub_percpu_sheaves in one): the sheaf in front, the active slab and
/// the CPU partial list behind it.
///
/// # Invariants
///
/// `nr_sheaf <= SHEAF_CAPACITY`; `sheaf[0] == 0`; `sheaf[1..=nr_sheaf]` are distinct objects
/// of slabs of this cache that count as allocated in their slabs' counters
/// and that nobody else holds.
pub(super) struct KmemCacheCpu {
    /// Objects in the sheaf.
    pub(super) nr_sheaf: usize,
    /// The sheaf: free objects in `sheaf[1..=nr_sheaf]`, the most recently
    /// freed last. `sheaf[0]` is a guard that stays 0 (never an object), so
    /// the top, `sheaf[nr_sheaf]`, is defined on an empty sheaf too and the
    /// free fast path's naive double-free check needs no test for empty.
    pub(super) sheaf: [usize; SHEAF_CAPACITY + 1],
    /// The active slab's PFN or [`NONE_PFN`].
    pub(super) slab: u64,
    /// The lockless freelist: free objects of `slab` only this CPU may take.
    pub(super) freelist: usize,
    /// Slabs on this CPU's partial list.
    pub(super) partial: PfnList,
    pub(super) nr_partial: usize,
}

impl KmemCacheCpu {
    pub(super) const EMPTY: KmemCacheCpu = KmemCacheCpu {
        nr_sheaf: 0,
        sheaf: [0; SHEAF_CAPACITY + 1],
        slab: NONE_PFN,
        freelist: 0,
        partial: PfnList::EMPTY,
        nr_partial: 0,
    };
}

/// One CPU's [`KmemCacheCpu`] behind its lock, alone in its cache lines so
/// that CPUs working on the same cache never share a line.
#[repr(align(64))]
pub(super) struct CpuSlot(pub(super) spin::Mutex<KmemCacheCpu>);

impl CpuSlot {
    pub(super) const fn empty() -> CpuSlot {
        CpuSlot(spin::Mutex::new(KmemCacheCpu::EMPTY))
    }
}

impl Deref for CpuSlot {
    type Target = spin::Mutex<KmemCacheCpu>;
    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Per-node state of a cache (struct kmem_cache_node); the mutex is list_lock.
pub(super) struct KmemCacheNode {
    pub(super) partial: PfnList,
    pub(super) nr_partial: usize,
    pub(super) full: PfnList,
    pub(super) nr_slabs: usize,
    pub(super) total_objects: usize,
    /// Objects a repair moved between free and in use in a slab's counters
    /// (validate_slab cutting a corrupt freelist: the objects cut off count
    /// as in use, though nobody was handed them). `active_objs` leaves them
    /// out, so it counts only what was allocated and not freed.
    pub(super) isolated: isize,
}

impl KmemCacheNode {
    pub(super) const EMPTY: KmemCacheNode = KmemCacheNode {
        partial: PfnList::EMPTY,
        nr_partial: 0,
        full: PfnList::EMPTY,
        nr_slabs: 0,
        total_objects: 0,
        isolated: 0,
    };
}

/// An owner record (struct track).
#[repr(C)]
#[derive(Clone, Copy)]
pub(super) struct Track {
    pub(super) addr: u64,
    pub(super) when: u64,
    pub(super) cpu: u32,
    pub(super) _pad: u32,
}

pub(super) const TRACK_ALLOC: usize = 0;
pub(super) const TRACK_FREE: usize = 1;

/// A slab cache (struct kmem_cache). Created by `Slub::kmem_cache_create`,
/// lives in pages of its own until `Slub::kmem_cache_destroy`.
///
/// # Invariants
///
/// The layout fields satisfy `object_size <= inuse <= size`, `offset + 8 <=
/// size - red_left_pad`, `size % align == 0`, `objects * size <= PAGE_SIZE <<
/// order`, and `random_seq` addresses `objects` u16 entries inside the
/// cache's own storage, a permutation of `0..objects`; `fast_alloc_cpus`
/// and `fast_free_cpus` are each 0 or `cpu_slots.1`.
pub struct KmemCache {
    pub(super) name: &'static str,
    pub(super) flags: SlabFlags,
    pub(super) object_size: usize,
    pub(super) size: usize,
    pub(super) align: usize,
    pub(super) offset: usize,
    pub(super) inuse: usize,
    pub(super) red_left_pad: usize,
    pub(super) order: u32,
    pub(super) objects: u32,
    pub(super) min_partial: usize,
    pub(super) cpu_partial_slabs: usize,
    pub(super) allocflags: Gfp,
    pub(super) ctor: Option<fn(*mut u8)>,
    pub(super) random: u64,
    pub(super) random_seq: usize,
    pub(super) storage: (Pfn, u32),
    /// Address and length of the per-CPU slots, one per CPU the page
    /// allocator was told of, in the cache's own storage after the
    /// `KmemCache` (see [`KmemCache::cpu_slab`]).
    pub(super) cpu_slots: (usize, usize),
    pub(super) node: [spin::Mutex<KmemCacheNode>; MAX_NUMNODES],
    pub(super) errors: AtomicUsize,
    /// The CPUs that may pop their sheaf on allocation: the number of
    /// per-CPU slots (`cpu_slots.1`), or 0 when this cache's allocations
    /// all go slow (debug flags, init_on_alloc). Fixed at creation. One
    /// compare of the CPU number against it is both the fast path's bounds
    /// check and its flag test.
    pub(super) fast_alloc_cpus: usize,
    /// The same for pushing onto the sheaf on free (0 with debug flags or
    /// init_on_free).
    pub(super) fast_free_cpus: usize,
    /// `size`, for the fast free's boundary check (a divisor known non-zero).
    pub(super) size_nz: core::num::NonZeroUsize,
    /// `objects * size`: the bytes of a slab that hold objects.
    pub(super) span: usize,
}

impl KmemCache {
    /// The cache's name.
    #[inline]
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The flags in effect (with slub_debug's).
    #[inline]
    pub fn flags(&self) -> SlabFlags {
        self.flags
    }
    /// The size callers asked for (object_size).
    #[inline]
    pub fn object_size(&self) -> usize {
        self.object_size
    }
    /// Bytes per object slot with metadata (size).
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }
    /// Object alignment.
    #[inline]
    pub fn align(&self) -> usize {
        self.align
    }
    /// Offset of the free pointer from the object.
    #[inline]
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// End of object plus right red zone (inuse).
    #[inline]
    pub fn inuse(&self) -> usize {
        self.inuse
    }
    /// Bytes of left red zone.
    #[inline]
    pub fn red_left_pad(&self) -> usize {
        self.red_left_pad
    }
    /// Slab order.
    #[inline]
    pub fn order(&self) -> u32 {
        self.order
    }
    /// Objects per slab.
    #[inline]
    pub fn objects_per_slab(&self) -> u32 {
        self.objects
    }
    /// min_partial.
    #[inline]
    pub fn min_partial(&self) -> usize {
        self.min_partial
    }
    /// BUG reports made about this cache so far.
    #[inline]
    pub fn errors(&self) -> usize {
        self.errors.load(Relaxed)
    }
    /// The cache's random value (free pointer obfuscation).
    #[inline]
    pub(super) fn random(&self) -> u64 {
        self.random
    }
    /// Address of the cache's random sequence.
    #[inline]
    pub(super) fn random_seq_addr(&self) -> usize {
        self.random_seq
    }
    /// Offset of the owner tracks from the object (get_info_end).
    #[inline]
    pub(super) fn info_end(&self) -> usize {
        if self.freeptr_outside_object() { self.inuse + PTR } else { self.inuse }
    }
    #[inline]
    pub(super) fn freeptr_outside_object(&self) -> bool {
        self.offset >= self.inuse
    }
    #[inline]
    pub(super) fn has_orig_size(&self) -> bool {
        self.flags.contains(SlabFlags::KMALLOC | SlabFlags::RED_ZONE)
    }
    #[inline]
    pub(super) fn orig_size_offset(&self) -> usize {
        self.info_end() + if self.flags.contains(SlabFlags::STORE_USER) { 2 * TRACK_BYTES } else { 0 }
    }
    #[inline]
    pub(super) fn debug(&self) -> bool {
        self.flags.intersects(SlabFlags::DEBUG_FLAGS)
    }
    #[inline]
    pub(super) fn object_poison(&self) -> bool {
        self.flags.contains(SlabFlags::POISON) && self.ctor.is_none()
    }
    #[inline]
    pub(super) fn has_cpu_partial(&self) -> bool {
        self.cpu_partial_slabs > 0
    }
}

/// The cache list (slab_caches, under slab_mutex).
pub(super) struct CacheList {
    pub(super) caches: [usize; MAX_CACHES],
    pub(super) nr: usize,
}

/// The parsed `slub_debug=` option.
#[derive(Clone, Copy, Debug)]
pub struct SlubDebug {
    pub(super) flags: SlabFlags,
    pub(super) names: [u8; 128],
    pub(super) names_len: usize,
}

impl SlubDebug {
    /// slub_debug off.
    pub const OFF: SlubDebug = SlubDebug { flags: SlabFlags::empty(), names: [0; 128], names_len: 0 };

    /// Parse the value of `slub_debug` (`None`: the bare option): `None` or
    /// an empty option list means F, Z, P and U; `-` means off; otherwise
    /// option letters, then optionally `,name,name*,...` limiting the flags
    /// to those caches. Unknown letters are reported (through `H`) and skipped.
    pub fn parse<H: Hal>(value: Option<&str>) -> SlubDebug {
        let mut d = SlubDebug::OFF;
        let value = value.unwrap_or("");
        let (opts, names) = match value.split_once(',') {
            Some((o, n)) => (o, n),
            None => (value, ""),
        };
        if opts.is_empty() {
            d.flags = SlabFlags::DEBUG_FLAGS;
        }
        for c in opts.chars() {
            match c.to_ascii_lowercase() {
                '-' => d.flags = SlabFlags::empty(),
                'f' => d.flags |= SlabFlags::CONSISTENCY_CHECKS,
                'z' => d.flags |= SlabFlags::RED_ZONE,
                'p' => d.flags |= SlabFlags::POISON,
                'u' => d.flags |= SlabFlags::STORE_USER,
                _ => H::log(LogLevel::Err, format_args!("slub_debug option '{c}' unknown. skipped")),
            }
        }
        let n = names.len().min(d.names.len());
        d.names[..n].copy_from_slice(&names.as_bytes()[..n]);
        d.names_len = n;
        d
    }

    /// The debug flags.
    #[inline]
    pub fn flags(&self) -> SlabFlags {
        self.flags
    }

    /// The flags slub_debug adds to a cache called `name` (kmem_cache_flags).
    pub fn flags_for(&self, name: &str) -> SlabFlags {
        if self.names_len == 0 {
            return self.flags;
        }
        let list = core::str::from_utf8(&self.names[..self.names_len]).unwrap_or("");
        let hit = list.split(',').any(|pat| match pat.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => pat == name,
        });
        if hit { self.flags } else { SlabFlags::empty() }
    }
}
