//! The SLUB slab allocator (mm/slub.c, mm/slab_common.c).
//!
//! A [`KmemCache`] hands out objects of one size carved from *slabs*: blocks
//! of `2^order` pages taken from the [`PageAllocator`]. `kmalloc` is a set of
//! such caches, one per size class, plus the page allocator itself for
//! requests above 8 KiB.
//!
//! # What the kernel provides
//!
//! [`Slub::new`]`(page_allocator, hooks)` with a [`SlubHooks`]:
//!
//! * `page_address(pfn) -> *mut u8`: the linear-map address of a frame;
//! * `virt_to_pfn(addr) -> Option<Pfn>`: the frame of an address, `None`
//!   when it is not in the linear map (kfree of a stray pointer);
//! * `log(args)`: one report line (BUG/INFO/FIX, slabinfo warnings);
//! * `random() -> u64`: the hardening seed (cache random, freelist order);
//! * `now() -> u64`: a timestamp for owner tracking (jiffies).
//!
//! Every entry point takes the calling CPU number; callers run with
//! interrupts masked, as for the page allocator. The kernel publishes the
//! `Slub` in a static, calls [`Slub::kmalloc_init`] once, and may give the
//! `slub_debug=` option to [`SlubDebug::parse`] before that.
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
//! 64-byte [`Page`] are reused: `private` holds the owning cache, `mapping`
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

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::Relaxed};

use bitflags::bitflags;

use crate::gfp::Gfp;
use crate::memblock::{MAX_NUMNODES, NUMA_NO_NODE, NodeId};
use crate::page::{NONE_PFN, Page, PageFlags, PfnList};
use crate::page_alloc::{PageAllocator, get_order};
use crate::pcp::NR_CPUS;
use crate::zone::PAGE_ALLOC_COSTLY_ORDER;
use crate::{Error, PAGE_SIZE, Pfn};

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
/// What kmalloc(0) returns (ZERO_SIZE_PTR); kfree and ksize accept it.
pub const ZERO_SIZE_PTR: usize = 16;
/// Most caches the cache list holds.
pub const MAX_CACHES: usize = 128;
/// min_partial bounds (MIN_PARTIAL, MAX_PARTIAL).
pub const MIN_PARTIAL: usize = 5;
/// See [`MIN_PARTIAL`].
pub const MAX_PARTIAL: usize = 10;
const CACHE_LINE_BYTES: usize = 64;
const PTR: usize = core::mem::size_of::<u64>();
const TRACK_BYTES: usize = 24;

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

/// What the kernel provides; see the module documentation.
#[derive(Clone, Copy)]
pub struct SlubHooks {
    /// Linear-map address of a frame (page_address).
    pub page_address: fn(Pfn) -> *mut u8,
    /// Frame of a linear-map address (virt_to_pfn), `None` outside it.
    pub virt_to_pfn: fn(*const u8) -> Option<Pfn>,
    /// One report line.
    pub log: fn(fmt::Arguments<'_>),
    /// Random bits for hardening.
    pub random: fn() -> u64,
    /// A timestamp for owner tracking.
    pub now: fn() -> u64,
}

/// The parsed `slub_debug=` option.
#[derive(Clone, Copy, Debug)]
pub struct SlubDebug {
    flags: SlabFlags,
    names: [u8; 128],
    names_len: usize,
}

impl SlubDebug {
    /// slub_debug off.
    pub const OFF: SlubDebug = SlubDebug { flags: SlabFlags::empty(), names: [0; 128], names_len: 0 };

    /// Parse the value of `slub_debug` (`None`: the bare option): `None` or
    /// an empty option list means F, Z, P and U; `-` means off; otherwise
    /// option letters, then optionally `,name,name*,...` limiting the flags
    /// to those caches. Unknown letters are reported and skipped.
    pub fn parse(value: Option<&str>, log: fn(fmt::Arguments<'_>)) -> SlubDebug {
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
                _ => log(format_args!("slub_debug option '{c}' unknown. skipped")),
            }
        }
        let n = names.len().min(d.names.len());
        d.names[..n].copy_from_slice(&names.as_bytes()[..n]);
        d.names_len = n;
        d
    }

    /// The debug flags.
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

/// Where a slab is (the `state` field of its counters).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum SlabState {
    /// The active slab of a CPU (frozen).
    Cpu(usize),
    /// On a CPU's partial list.
    CpuPartial(usize),
    /// On its node's partial list.
    NodePartial,
    /// On its node's full list.
    Full,
    /// Nowhere (being set up or torn down).
    Detached,
}

/// The counters word of a slab (Linux's `counters`: inuse, objects, frozen).
#[derive(Clone, Copy, Debug)]
struct Counters {
    inuse: u32,
    objects: u32,
    state: SlabState,
}

impl Counters {
    fn pack(self) -> u64 {
        let (kind, cpu) = match self.state {
            SlabState::Detached => (0u64, 0u64),
            SlabState::Cpu(c) => (1, c as u64),
            SlabState::CpuPartial(c) => (2, c as u64),
            SlabState::NodePartial => (3, 0),
            SlabState::Full => (4, 0),
        };
        self.inuse as u64 | (self.objects as u64) << 16 | kind << 32 | cpu << 40
    }

    fn unpack(word: u64) -> Counters {
        let cpu = (word >> 40 & 0xffff) as usize;
        let state = match word >> 32 & 0xff {
            1 => SlabState::Cpu(cpu),
            2 => SlabState::CpuPartial(cpu),
            3 => SlabState::NodePartial,
            4 => SlabState::Full,
            _ => SlabState::Detached,
        };
        Counters { inuse: (word & 0xffff) as u32, objects: (word >> 16 & 0xffff) as u32, state }
    }
}

/// A slab: the head page of its block (Linux's struct slab).
#[derive(Clone, Copy)]
struct Slab<'a> {
    page: &'a Page,
    pfn: Pfn,
}

impl Slab<'_> {
    fn counters(&self) -> Counters {
        Counters::unpack(self.page.index())
    }
    fn set_counters(&self, c: Counters) {
        self.page.set_index(c.pack());
    }
    fn freelist(&self) -> usize {
        self.page.mapping() as usize
    }
    fn set_freelist(&self, p: usize) {
        self.page.set_mapping(p as u64);
    }
}

/// Per-CPU state of a cache (struct kmem_cache_cpu).
struct KmemCacheCpu {
    /// The active slab's PFN or [`NONE_PFN`].
    slab: u64,
    /// The lockless freelist: free objects of `slab` only this CPU may take.
    freelist: usize,
    /// Slabs on this CPU's partial list.
    partial: PfnList,
    nr_partial: usize,
}

impl KmemCacheCpu {
    const EMPTY: KmemCacheCpu = KmemCacheCpu { slab: NONE_PFN, freelist: 0, partial: PfnList::EMPTY, nr_partial: 0 };
}

/// Per-node state of a cache (struct kmem_cache_node); the mutex is list_lock.
struct KmemCacheNode {
    partial: PfnList,
    nr_partial: usize,
    full: PfnList,
    nr_slabs: usize,
    total_objects: usize,
}

impl KmemCacheNode {
    const EMPTY: KmemCacheNode =
        KmemCacheNode { partial: PfnList::EMPTY, nr_partial: 0, full: PfnList::EMPTY, nr_slabs: 0, total_objects: 0 };
}

/// An owner record (struct track).
#[repr(C)]
#[derive(Clone, Copy)]
struct Track {
    addr: u64,
    when: u64,
    cpu: u32,
    _pad: u32,
}

const TRACK_ALLOC: usize = 0;
const TRACK_FREE: usize = 1;

/// A slab cache (struct kmem_cache). Created by [`Slub::kmem_cache_create`],
/// lives in pages of its own until [`Slub::kmem_cache_destroy`].
///
/// # Invariants
///
/// The layout fields satisfy `object_size <= inuse <= size`, `offset + 8 <=
/// size - red_left_pad`, `size % align == 0`, `objects * size <= PAGE_SIZE <<
/// order`, and `random_seq` addresses `objects` u16 entries inside the
/// cache's own storage, a permutation of `0..objects`.
pub struct KmemCache {
    name: &'static str,
    flags: SlabFlags,
    object_size: usize,
    size: usize,
    align: usize,
    offset: usize,
    inuse: usize,
    red_left_pad: usize,
    order: u32,
    objects: u32,
    min_partial: usize,
    cpu_partial_slabs: usize,
    allocflags: Gfp,
    ctor: Option<fn(*mut u8)>,
    random: u64,
    random_seq: usize,
    storage: (Pfn, u32),
    cpu_slab: [spin::Mutex<KmemCacheCpu>; NR_CPUS],
    node: [spin::Mutex<KmemCacheNode>; MAX_NUMNODES],
    active_objs: AtomicUsize,
    errors: AtomicUsize,
}

impl KmemCache {
    /// The cache's name.
    pub fn name(&self) -> &'static str {
        self.name
    }
    /// The flags in effect (with slub_debug's).
    pub fn flags(&self) -> SlabFlags {
        self.flags
    }
    /// The size callers asked for (object_size).
    pub fn object_size(&self) -> usize {
        self.object_size
    }
    /// Bytes per object slot with metadata (size).
    pub fn size(&self) -> usize {
        self.size
    }
    /// Object alignment.
    pub fn align(&self) -> usize {
        self.align
    }
    /// Offset of the free pointer from the object.
    pub fn offset(&self) -> usize {
        self.offset
    }
    /// End of object plus right red zone (inuse).
    pub fn inuse(&self) -> usize {
        self.inuse
    }
    /// Bytes of left red zone.
    pub fn red_left_pad(&self) -> usize {
        self.red_left_pad
    }
    /// Slab order.
    pub fn order(&self) -> u32 {
        self.order
    }
    /// Objects per slab.
    pub fn objects_per_slab(&self) -> u32 {
        self.objects
    }
    /// min_partial.
    pub fn min_partial(&self) -> usize {
        self.min_partial
    }
    /// BUG reports made about this cache so far.
    pub fn errors(&self) -> usize {
        self.errors.load(Relaxed)
    }
    /// Offset of the owner tracks from the object (get_info_end).
    fn info_end(&self) -> usize {
        if self.freeptr_outside_object() { self.inuse + PTR } else { self.inuse }
    }
    fn freeptr_outside_object(&self) -> bool {
        self.offset >= self.inuse
    }
    fn has_orig_size(&self) -> bool {
        self.flags.contains(SlabFlags::KMALLOC | SlabFlags::RED_ZONE)
    }
    fn orig_size_offset(&self) -> usize {
        self.info_end() + if self.flags.contains(SlabFlags::STORE_USER) { 2 * TRACK_BYTES } else { 0 }
    }
    fn debug(&self) -> bool {
        self.flags.intersects(SlabFlags::DEBUG_FLAGS)
    }
    fn object_poison(&self) -> bool {
        self.flags.contains(SlabFlags::POISON) && self.ctor.is_none()
    }
    fn has_cpu_partial(&self) -> bool {
        self.cpu_partial_slabs > 0
    }
}

/// The slab layout of an object (calculate_sizes, calculate_order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabLayout {
    /// Requested size.
    pub object_size: usize,
    /// Slot size.
    pub size: usize,
    /// Alignment.
    pub align: usize,
    /// Free pointer offset.
    pub offset: usize,
    /// object_size plus right red zone.
    pub inuse: usize,
    /// Left red zone.
    pub red_left_pad: usize,
    /// Slab order.
    pub order: u32,
    /// Objects per slab.
    pub objects: u32,
}

/// calculate_alignment.
fn calculate_alignment(flags: SlabFlags, align: usize, size: usize) -> usize {
    let mut align = align.max(1);
    if flags.contains(SlabFlags::HWCACHE_ALIGN) {
        let mut ralign = CACHE_LINE_BYTES;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    align.next_multiple_of(PTR)
}

/// Objects of `size` bytes in a slab of `order` (order_objects).
fn order_objects(order: u32, size: usize) -> u32 {
    ((PAGE_SIZE as usize) << order).checked_div(size).unwrap_or(0) as u32
}

/// calc_slab_order: the lowest order in `min_order..=max_order` leaving at
/// most `1/fract_leftover` of the slab unused.
fn calc_slab_order(size: usize, min_order: u32, max_order: u32, fract_leftover: usize) -> u32 {
    let mut order = min_order;
    while order <= max_order {
        let slab_size = (PAGE_SIZE as usize) << order;
        if slab_size % size <= slab_size / fract_leftover {
            break;
        }
        order += 1;
    }
    order
}

/// calculate_order for `nr_cpus` CPUs.
pub fn calculate_order(size: usize, nr_cpus: usize) -> Result<u32, Error> {
    let max_order = PAGE_ALLOC_COSTLY_ORDER;
    let fls = usize::BITS - nr_cpus.max(1).leading_zeros();
    let mut min_objects = 4 * (fls as usize + 1);
    let max_objects = (order_objects(max_order, size) as usize).max(1);
    min_objects = min_objects.min(max_objects);
    let min_order = get_order((min_objects * size) as u64);
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE {
        return Ok(get_order((size * MAX_OBJS_PER_PAGE as usize) as u64) - 1);
    }
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, max_order, fraction);
        if order <= max_order {
            return Ok(order);
        }
        fraction /= 2;
    }
    let order = get_order(size as u64);
    if order <= crate::zone::MAX_PAGE_ORDER { Ok(order) } else { Err(Error::InvalidArgument) }
}

/// calculate_sizes: the layout of a cache of `object_size` bytes.
pub fn calculate_sizes(
    object_size: usize,
    align: usize,
    flags: SlabFlags,
    has_ctor: bool,
    nr_cpus: usize,
) -> Result<SlabLayout, Error> {
    if object_size == 0 || object_size > (PAGE_SIZE as usize) << crate::zone::MAX_PAGE_ORDER || !align.is_power_of_two()
    {
        return Err(Error::InvalidArgument);
    }
    let align = calculate_alignment(flags, align, object_size);
    let mut size = object_size.next_multiple_of(PTR);
    if flags.contains(SlabFlags::RED_ZONE) && size == object_size {
        size += PTR;
    }
    let inuse = size;
    let orig = flags.contains(SlabFlags::KMALLOC | SlabFlags::RED_ZONE);
    let offset;
    if flags.contains(SlabFlags::POISON)
        || has_ctor
        || (flags.contains(SlabFlags::RED_ZONE) && (object_size < PTR || orig))
    {
        offset = size;
        size += PTR;
    } else {
        offset = (object_size / 2) / PTR * PTR;
    }
    if flags.contains(SlabFlags::STORE_USER) {
        size += 2 * TRACK_BYTES;
    }
    if orig {
        size += 4;
    }
    let mut red_left_pad = 0;
    if flags.contains(SlabFlags::RED_ZONE) {
        size += PTR;
        red_left_pad = PTR.next_multiple_of(align);
        size += red_left_pad;
    }
    let size = size.next_multiple_of(align);
    let order = calculate_order(size, nr_cpus)?;
    let objects = order_objects(order, size);
    if objects == 0 {
        return Err(Error::InvalidArgument);
    }
    Ok(SlabLayout { object_size, size, align, offset, inuse, red_left_pad, order, objects })
}

/// Linux's freelist_ptr_encode / decode (symmetric).
#[inline]
pub fn freelist_ptr_encode(random: u64, ptr: usize, ptr_addr: usize) -> u64 {
    ptr as u64 ^ random ^ (ptr_addr as u64).swap_bytes()
}

/// A small xorshift generator for the shuffles.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Fisher-Yates shuffle of `0..seq.len()` with `seed` (init_cache_random_seq).
pub fn init_random_seq(seq: &mut [u16], seed: u64) {
    for (i, s) in seq.iter_mut().enumerate() {
        *s = i as u16;
    }
    let mut rng = Rng(seed);
    for i in (1..seq.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        seq.swap(i, j);
    }
}

/// kmalloc_index: the kmalloc cache for `size` bytes (1 = 96, 2 = 192,
/// n = 2^n); 0 for size 0, `None` above 8 KiB.
pub const fn kmalloc_index(size: usize) -> Option<usize> {
    Some(match size {
        0 => 0,
        1..=8 => 3,
        65..=96 => 1,
        129..=192 => 2,
        9..=KMALLOC_MAX_CACHE_SIZE => (usize::BITS - (size - 1).leading_zeros()) as usize,
        _ => return None,
    })
}

/// The object size of kmalloc cache `index`.
pub const fn kmalloc_size(index: usize) -> usize {
    match index {
        1 => 96,
        2 => 192,
        _ => 1 << index,
    }
}

const KMALLOC_NAMES: [&str; KMALLOC_SHIFT_HIGH + 1] = [
    "",
    "kmalloc-96",
    "kmalloc-192",
    "kmalloc-8",
    "kmalloc-16",
    "kmalloc-32",
    "kmalloc-64",
    "kmalloc-128",
    "kmalloc-256",
    "kmalloc-512",
    "kmalloc-1k",
    "kmalloc-2k",
    "kmalloc-4k",
    "kmalloc-8k",
];
const DMA_KMALLOC_NAMES: [&str; KMALLOC_SHIFT_HIGH + 1] = [
    "",
    "dma-kmalloc-96",
    "dma-kmalloc-192",
    "dma-kmalloc-8",
    "dma-kmalloc-16",
    "dma-kmalloc-32",
    "dma-kmalloc-64",
    "dma-kmalloc-128",
    "dma-kmalloc-256",
    "dma-kmalloc-512",
    "dma-kmalloc-1k",
    "dma-kmalloc-2k",
    "dma-kmalloc-4k",
    "dma-kmalloc-8k",
];

/// The cache list (slab_caches, under slab_mutex).
struct CacheList {
    caches: [usize; MAX_CACHES],
    nr: usize,
}

/// Who asked (a caller address for owner tracking).
type Caller = &'static core::panic::Location<'static>;

/// The slab allocator. See the module documentation.
pub struct Slub {
    pa: &'static PageAllocator,
    hooks: SlubHooks,
    flags: SlubFlags,
    debug: SlubDebug,
    caches: spin::Mutex<CacheList>,
    kmalloc_caches: [[AtomicPtr<KmemCache>; KMALLOC_SHIFT_HIGH + 1]; 2],
    nr_slab_reclaimable: AtomicU64,
    nr_slab_unreclaimable: AtomicU64,
}

/// What to do with a slab after its list_lock is dropped.
enum Deferred {
    Nothing,
    Discard(Pfn),
}

impl Slub {
    /// A slab allocator over `pa` with `hooks`.
    pub const fn new(pa: &'static PageAllocator, hooks: SlubHooks) -> Slub {
        Slub {
            pa,
            hooks,
            flags: SlubFlags::empty(),
            debug: SlubDebug::OFF,
            caches: spin::Mutex::new(CacheList { caches: [0; MAX_CACHES], nr: 0 }),
            kmalloc_caches: [const { [const { AtomicPtr::new(core::ptr::null_mut()) }; KMALLOC_SHIFT_HIGH + 1] }; 2],
            nr_slab_reclaimable: AtomicU64::new(0),
            nr_slab_unreclaimable: AtomicU64::new(0),
        }
    }

    /// Set init_on_alloc / init_on_free (before any cache exists).
    pub fn set_flags(&mut self, flags: SlubFlags) {
        self.flags = flags;
    }

    /// Set the slub_debug option (before any cache exists).
    pub fn set_debug(&mut self, debug: SlubDebug) {
        self.debug = debug;
    }

    /// Slab pages (reclaimable, unreclaimable) for meminfo; large kmalloc
    /// pages count as unreclaimable, as in Linux.
    pub fn nr_slab_pages(&self) -> (u64, u64) {
        (self.nr_slab_reclaimable.load(Relaxed), self.nr_slab_unreclaimable.load(Relaxed))
    }

    fn log(&self, args: fmt::Arguments<'_>) {
        (self.hooks.log)(args)
    }

    // ----- cache creation and destruction ------------------------------

    /// Create a cache (kmem_cache_create) and add it to the cache list.
    #[allow(clippy::too_many_arguments)]
    pub fn kmem_cache_create(
        &self,
        cpu: usize,
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
    ) -> Result<&'static KmemCache, Error> {
        let r = self.create_cache(cpu, name, size, align, flags, ctor);
        if r.is_err() && flags.contains(SlabFlags::PANIC) {
            panic!("kmem_cache_create: Failed to create slab '{name}'");
        }
        r
    }

    fn create_cache(
        &self,
        cpu: usize,
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
    ) -> Result<&'static KmemCache, Error> {
        let flags = if flags.contains(SlabFlags::NO_USER_FLAGS) { flags } else { flags | self.debug.flags_for(name) };
        let layout = calculate_sizes(size, align, flags, ctor.is_some(), self.pa.nr_cpus())?;
        let bytes = core::mem::size_of::<KmemCache>() + layout.objects as usize * 2;
        let storage_order = get_order(bytes as u64);
        let mut list = self.caches.lock();
        if list.nr == MAX_CACHES {
            return Err(Error::NoMemory);
        }
        let pfn = self.pa.alloc_pages(cpu, Gfp::KERNEL | Gfp::COMP, storage_order)?;
        let base = (self.hooks.page_address)(pfn);
        let seq_addr = base as usize + core::mem::size_of::<KmemCache>();
        let random = (self.hooks.random)();
        // SAFETY: the pages at `base` were just allocated for us, are mapped
        // by the kernel's linear map (hook contract), `bytes` long and aligned
        // to a page, which exceeds KmemCache's alignment; nobody else sees them.
        let seq = unsafe { core::slice::from_raw_parts_mut(seq_addr as *mut u16, layout.objects as usize) };
        init_random_seq(seq, (self.hooks.random)());
        let min_partial =
            ((usize::BITS - 1 - layout.size.leading_zeros()) as usize / 2).clamp(MIN_PARTIAL, MAX_PARTIAL);
        let debug = flags.intersects(SlabFlags::DEBUG_FLAGS);
        let cpu_partial_slabs = if debug {
            0
        } else {
            let nr_objects = match layout.size {
                s if s >= PAGE_SIZE as usize => 6,
                s if s >= 1024 => 24,
                s if s >= 256 => 52,
                _ => 120,
            };
            (nr_objects * 2usize).div_ceil(layout.objects as usize)
        };
        let mut allocflags = Gfp::COMP;
        if flags.contains(SlabFlags::CACHE_DMA) {
            allocflags |= Gfp::DMA;
        }
        if flags.contains(SlabFlags::CACHE_DMA32) {
            allocflags |= Gfp::DMA32;
        }
        if flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            allocflags |= Gfp::RECLAIMABLE;
        }
        let cache = KmemCache {
            name,
            flags,
            object_size: layout.object_size,
            size: layout.size,
            align: layout.align,
            offset: layout.offset,
            inuse: layout.inuse,
            red_left_pad: layout.red_left_pad,
            order: layout.order,
            objects: layout.objects,
            min_partial,
            cpu_partial_slabs,
            allocflags,
            ctor,
            random,
            random_seq: seq_addr,
            storage: (pfn, storage_order),
            cpu_slab: [const { spin::Mutex::new(KmemCacheCpu::EMPTY) }; NR_CPUS],
            node: [const { spin::Mutex::new(KmemCacheNode::EMPTY) }; MAX_NUMNODES],
            active_objs: AtomicUsize::new(0),
            errors: AtomicUsize::new(0),
        };
        let p = base.cast::<KmemCache>();
        // SAFETY: as above: `p` is valid for writes of a KmemCache, aligned,
        // and exclusively ours until published in the cache list; it stays
        // allocated until kmem_cache_destroy frees it.
        let cache: &'static KmemCache = unsafe {
            p.write(cache);
            &*p
        };
        let nr = list.nr;
        list.caches[nr] = p as usize;
        list.nr += 1;
        Ok(cache)
    }

    /// Destroy a cache (kmem_cache_destroy): flush, free every slab, take it
    /// off the cache list. With live objects the cache is reported, left in
    /// place (nothing in use is freed) and `Err(Busy)` returned.
    ///
    /// # Safety
    ///
    /// 1. No other reference to `cache` is used after a successful return
    ///    (its memory goes back to the page allocator).
    /// 2. No other CPU uses the cache concurrently.
    pub unsafe fn kmem_cache_destroy(&self, cpu: usize, cache: &'static KmemCache) -> Result<(), Error> {
        self.kmem_cache_shrink(cpu, cache);
        if cache.active_objs.load(Relaxed) != 0 {
            self.log(format_args!("kmem_cache_destroy {}: Slab cache still has objects", cache.name));
            return Err(Error::Busy);
        }
        let mut list = self.caches.lock();
        let nr = list.nr;
        if let Some(i) = list.caches[..nr].iter().position(|&c| c == cache as *const KmemCache as usize) {
            list.caches.copy_within(i + 1..nr, i);
            list.nr -= 1;
        }
        drop(list);
        let (pfn, order) = cache.storage;
        self.pa.free_pages(cpu, pfn, order);
        Ok(())
    }

    /// Return every empty slab, including those on per-CPU lists, to the
    /// page allocator (kmem_cache_shrink / __kmem_cache_do_shrink).
    pub fn kmem_cache_shrink(&self, cpu: usize, cache: &KmemCache) {
        self.flush_all(cpu, cache);
        for n in 0..MAX_NUMNODES {
            let mut discard = PfnList::EMPTY;
            let mut node = cache.node[n].lock();
            let map = self.pa.memmap();
            let mut keep = PfnList::EMPTY;
            while let Some(v) = node.partial.pop_front(map) {
                let slab = self.slab_at(Pfn(v.get()));
                if slab.counters().inuse == 0 {
                    node.nr_partial -= 1;
                    node.nr_slabs -= 1;
                    node.total_objects -= cache.objects as usize;
                    discard.push_back(map, v);
                } else {
                    keep.push_back(map, v);
                }
            }
            node.partial = keep;
            drop(node);
            while let Some(v) = discard.pop_front(map) {
                self.discard_slab(cpu, cache, Pfn(v.get()));
            }
        }
    }

    /// Deactivate every CPU's slab and unfreeze its partials (flush_all).
    fn flush_all(&self, cpu: usize, cache: &KmemCache) {
        for c in 0..NR_CPUS {
            let mut cs = cache.cpu_slab[c].lock();
            self.deactivate_slab(cpu, cache, &mut cs);
            self.unfreeze_partials(cpu, cache, &mut cs);
        }
    }

    // ----- slab pages ---------------------------------------------------

    fn slab_at(&self, pfn: Pfn) -> Slab<'static> {
        let page = self.pa.memmap().pfn_to_page(pfn).expect("slab pfn valid");
        Slab { page, pfn }
    }

    fn slab_addr(&self, slab: &Slab<'_>) -> usize {
        (self.hooks.page_address)(slab.pfn) as usize
    }

    /// The slab an address lies in (virt_to_slab), if any, and its cache.
    fn virt_to_slab(&self, addr: usize) -> Option<(Slab<'static>, &'static KmemCache)> {
        let pfn = (self.hooks.virt_to_pfn)(addr as *const u8)?;
        let mut page = self.pa.memmap().pfn_to_page(pfn)?;
        let mut pfn = pfn;
        if let Some(head) = page.compound_head() {
            pfn = head;
            page = self.pa.memmap().pfn_to_page(head)?;
        }
        if !page.test_flags(PageFlags::SLAB) || page.private() == 0 {
            return None;
        }
        // SAFETY: PG_slab pages have `private` set to their cache by
        // allocate_slab, and a cache outlives its slabs (destroy refuses
        // while slabs with objects exist and frees all slabs first).
        let cache = unsafe { &*(page.private() as *const KmemCache) };
        Some((Slab { page: self.pa.memmap().pfn_to_page(pfn)?, pfn }, cache))
    }

    fn object_at(&self, cache: &KmemCache, slab: &Slab<'_>, idx: usize) -> usize {
        self.slab_addr(slab) + idx * cache.size + cache.red_left_pad
    }

    /// check_valid_pointer: `p` is null or an object boundary of `slab`.
    fn check_valid_pointer(&self, cache: &KmemCache, slab: &Slab<'_>, p: usize) -> bool {
        if p == 0 {
            return true;
        }
        let base = self.slab_addr(slab);
        let Some(off) = p.checked_sub(base + cache.red_left_pad) else { return false };
        off < cache.objects as usize * cache.size && off % cache.size == 0
    }

    fn get_freepointer(&self, cache: &KmemCache, obj: usize) -> usize {
        let slot = obj + cache.offset;
        // SAFETY: `obj` is an object of a slab of `cache` (callers check it
        // with check_valid_pointer or took it from a checked freelist), so
        // the aligned word at `offset` lies inside its slot, in memory the
        // slab owns.
        let raw = unsafe { (slot as *const u64).read() };
        freelist_ptr_encode(cache.random, raw as usize, slot) as usize
    }

    fn set_freepointer(&self, cache: &KmemCache, obj: usize, next: usize) {
        let slot = obj + cache.offset;
        // SAFETY: as in get_freepointer; the object is free, so nobody else
        // owns its bytes.
        unsafe { (slot as *mut u64).write(freelist_ptr_encode(cache.random, next, slot)) }
    }

    /// Scrub the free pointer of an object being handed out, so that a live
    /// object never looks free to [`Self::might_be_free`] (the raw zero
    /// decodes to `random ^ swab(slot)`, not an object of the slab).
    fn clear_freepointer(&self, cache: &KmemCache, obj: usize) {
        let slot = obj + cache.offset;
        // SAFETY: as in set_freepointer; the object was just taken off the
        // freelist by its CPU and is not yet handed out.
        unsafe { (slot as *mut u64).write(0) }
    }

    /// A constant-time filter in front of [`Self::on_freelist`]: a free
    /// object's free pointer always decodes to null or an object of its slab,
    /// while a live object's (scrubbed at allocation, or written by its
    /// owner) practically never does, the stored word being mixed with the
    /// cache's random value and the slot's address. A false "maybe" only costs
    /// the walk; there is no false "no", so no double free is missed.
    fn might_be_free(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize) -> bool {
        let fp = self.get_freepointer(cache, obj);
        fp == 0 || self.check_valid_pointer(cache, slab, fp)
    }

    /// Bytes of the slab memory at `addr`, for reading.
    fn bytes(&self, addr: usize, len: usize) -> &[u8] {
        // SAFETY: callers pass ranges inside a slab (an object's slot or the
        // slab's tail) whose memory the slab allocator owns; accesses are
        // serialised by the list_lock or the CPU lock that owns the object.
        unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
    }

    /// Set `len` bytes of slab memory at `addr` to `val`.
    fn fill(&self, addr: usize, len: usize, val: u8) {
        // SAFETY: as in `bytes`; no slice over the range is alive.
        unsafe { core::ptr::write_bytes(addr as *mut u8, val, len) }
    }

    /// allocate_slab: a new slab with its freelist, on the node's lists nowhere.
    fn allocate_slab(&self, cpu: usize, cache: &KmemCache, gfp: Gfp, nid: NodeId) -> Result<Slab<'static>, Error> {
        let gfp = (gfp & !(Gfp::ZONEMASK | Gfp::MOVABLE_MASK | Gfp::ZERO)) | cache.allocflags;
        let pfn = self.pa.alloc_pages_node(cpu, nid, gfp, cache.order)?;
        let slab = self.slab_at(pfn);
        slab.page.set_flags(PageFlags::SLAB);
        slab.page.set_private(cache as *const KmemCache as u64);
        slab.set_counters(Counters { inuse: 0, objects: cache.objects, state: SlabState::Detached });
        let nr_pages = 1u64 << cache.order;
        if cache.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            self.nr_slab_reclaimable.fetch_add(nr_pages, Relaxed);
        } else {
            self.nr_slab_unreclaimable.fetch_add(nr_pages, Relaxed);
        }
        let base = self.slab_addr(&slab);
        if cache.flags.contains(SlabFlags::POISON) {
            self.fill(base, (PAGE_SIZE as usize) << cache.order, POISON_INUSE);
        }
        let n = cache.objects as usize;
        for i in 0..n {
            let obj = self.object_at(cache, &slab, i);
            if cache.debug() {
                self.init_object(cache, obj, SLUB_RED_INACTIVE);
                if cache.flags.contains(SlabFlags::STORE_USER) {
                    self.fill(obj + cache.info_end(), 2 * TRACK_BYTES, 0);
                }
            }
            if let Some(ctor) = cache.ctor {
                ctor(obj as *mut u8);
            }
        }
        // shuffle_freelist: walk random_seq from a random start.
        // SAFETY: random_seq addresses `objects` u16s in the cache's storage
        // (KmemCache invariant), written only at creation.
        let seq = unsafe { core::slice::from_raw_parts(cache.random_seq as *const u16, n) };
        let start = ((self.hooks.random)() % n as u64) as usize;
        let mut head = 0;
        for k in (0..n).rev() {
            let obj = self.object_at(cache, &slab, seq[(start + k) % n] as usize);
            self.set_freepointer(cache, obj, head);
            head = obj;
        }
        slab.set_freelist(head);
        Ok(slab)
    }

    /// free_slab: hand a slab that is on no list back to the page allocator.
    fn discard_slab(&self, cpu: usize, cache: &KmemCache, pfn: Pfn) {
        let slab = self.slab_at(pfn);
        if cache.flags.contains(SlabFlags::POISON) {
            self.slab_pad_check(cache, &slab);
        }
        slab.page.clear_flags(PageFlags::SLAB);
        slab.page.set_private(0);
        slab.page.set_mapping(0);
        slab.page.set_index(0);
        let nr_pages = 1u64 << cache.order;
        if cache.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            self.nr_slab_reclaimable.fetch_sub(nr_pages, Relaxed);
        } else {
            self.nr_slab_unreclaimable.fetch_sub(nr_pages, Relaxed);
        }
        self.pa.free_pages(cpu, pfn, cache.order);
    }

    // ----- list moves (list_lock held: `node` is the guard's &mut) -------

    fn node_of(&self, slab: &Slab<'_>) -> usize {
        slab.page.node().0.clamp(0, MAX_NUMNODES as i32 - 1) as usize
    }

    fn remove_from_list(&self, node: &mut KmemCacheNode, slab: &Slab<'_>) {
        let map = self.pa.memmap();
        let v = map.valid(slab.pfn.0).expect("slab pfn valid");
        match slab.counters().state {
            SlabState::NodePartial => {
                node.partial.remove(map, v);
                node.nr_partial -= 1;
            }
            SlabState::Full => node.full.remove(map, v),
            _ => {}
        }
    }

    /// Put an unfrozen slab where its counters say (or decide to discard it).
    fn place_slab(&self, cache: &KmemCache, node: &mut KmemCacheNode, slab: &Slab<'_>, mut c: Counters) -> Deferred {
        let map = self.pa.memmap();
        let v = map.valid(slab.pfn.0).expect("slab pfn valid");
        if c.inuse == 0 && node.nr_partial >= cache.min_partial {
            node.nr_slabs -= 1;
            node.total_objects -= c.objects as usize;
            c.state = SlabState::Detached;
            slab.set_counters(c);
            return Deferred::Discard(slab.pfn);
        }
        if c.inuse < c.objects {
            c.state = SlabState::NodePartial;
            node.partial.push_back(map, v);
            node.nr_partial += 1;
        } else {
            c.state = SlabState::Full;
            node.full.push_back(map, v);
        }
        slab.set_counters(c);
        Deferred::Nothing
    }

    fn finish(&self, cpu: usize, cache: &KmemCache, d: Deferred) {
        if let Deferred::Discard(pfn) = d {
            self.discard_slab(cpu, cache, pfn);
        }
    }

    /// deactivate_slab: give the CPU slab and its freelist back to the node.
    fn deactivate_slab(&self, cpu: usize, cache: &KmemCache, cs: &mut KmemCacheCpu) {
        if cs.slab == NONE_PFN {
            return;
        }
        let slab = self.slab_at(Pfn(cs.slab));
        let mut node = cache.node[self.node_of(&slab)].lock();
        let mut c = slab.counters();
        let mut obj = cs.freelist;
        while obj != 0 {
            let next = self.get_freepointer(cache, obj);
            self.set_freepointer(cache, obj, slab.freelist());
            slab.set_freelist(obj);
            c.inuse -= 1;
            obj = next;
        }
        cs.slab = NONE_PFN;
        cs.freelist = 0;
        let d = self.place_slab(cache, &mut node, &slab, c);
        drop(node);
        self.finish(cpu, cache, d);
    }

    /// __put_partials: move the CPU's partial slabs to their nodes.
    fn unfreeze_partials(&self, cpu: usize, cache: &KmemCache, cs: &mut KmemCacheCpu) {
        let map = self.pa.memmap();
        while let Some(v) = cs.partial.pop_front(map) {
            cs.nr_partial -= 1;
            let slab = self.slab_at(Pfn(v.get()));
            let mut node = cache.node[self.node_of(&slab)].lock();
            let d = self.place_slab(cache, &mut node, &slab, slab.counters());
            drop(node);
            self.finish(cpu, cache, d);
        }
    }

    /// Make `slab` (on no list) the CPU's active slab, taking its freelist.
    fn freeze(&self, cpu: usize, cs: &mut KmemCacheCpu, slab: &Slab<'_>) {
        let mut c = slab.counters();
        c.inuse = c.objects;
        c.state = SlabState::Cpu(cpu);
        slab.set_counters(c);
        cs.freelist = slab.freelist();
        slab.set_freelist(0);
        cs.slab = slab.pfn.0;
    }

    // ----- allocation ---------------------------------------------------

    /// Allocate an object (kmem_cache_alloc).
    #[track_caller]
    pub fn kmem_cache_alloc(&self, cpu: usize, cache: &KmemCache, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        self.slab_alloc(cpu, cache, gfp, NUMA_NO_NODE, cache.object_size, core::panic::Location::caller())
    }

    /// Allocate an object from node `nid` if it can (kmem_cache_alloc_node).
    #[track_caller]
    pub fn kmem_cache_alloc_node(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
    ) -> Result<NonNull<u8>, Error> {
        self.slab_alloc(cpu, cache, gfp, nid, cache.object_size, core::panic::Location::caller())
    }

    fn slab_alloc(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        orig_size: usize,
        caller: Caller,
    ) -> Result<NonNull<u8>, Error> {
        if cpu >= NR_CPUS {
            return Err(Error::InvalidArgument);
        }
        let obj = if cache.debug() {
            self.alloc_debug(cpu, cache, gfp, nid, orig_size, caller)?
        } else {
            self.alloc_fast(cpu, cache, gfp, nid)?
        };
        cache.active_objs.fetch_add(1, Relaxed);
        let zero = gfp.contains(Gfp::ZERO) || (self.flags.contains(SlubFlags::INIT_ON_ALLOC) && cache.ctor.is_none());
        if zero {
            self.fill(obj, cache.object_size, 0);
            if cache.has_orig_size() && orig_size < cache.object_size {
                self.fill(obj + orig_size, cache.object_size - orig_size, SLUB_RED_ACTIVE);
            }
        }
        NonNull::new(obj as *mut u8).ok_or(Error::NoMemory)
    }

    fn alloc_fast(&self, cpu: usize, cache: &KmemCache, gfp: Gfp, nid: NodeId) -> Result<usize, Error> {
        let map = self.pa.memmap();
        let mut cs = cache.cpu_slab[cpu].lock();
        loop {
            if cs.slab != NONE_PFN {
                let slab = self.slab_at(Pfn(cs.slab));
                if nid == NUMA_NO_NODE || self.node_of(&slab) == nid.0 as usize {
                    if cs.freelist != 0 {
                        let obj = cs.freelist;
                        cs.freelist = self.get_freepointer(cache, obj);
                        self.clear_freepointer(cache, obj);
                        return Ok(obj);
                    }
                    // get_freelist: objects other CPUs freed meanwhile.
                    let node = cache.node[self.node_of(&slab)].lock();
                    let fl = slab.freelist();
                    if fl != 0 {
                        slab.set_freelist(0);
                        let mut c = slab.counters();
                        c.inuse = c.objects;
                        slab.set_counters(c);
                        cs.freelist = fl;
                        continue;
                    }
                    drop(node);
                }
                self.deactivate_slab(cpu, cache, &mut cs);
            }
            // CPU partial list.
            let mut taken = None;
            let mut rest = PfnList::EMPTY;
            while let Some(v) = cs.partial.pop_front(map) {
                let slab = self.slab_at(Pfn(v.get()));
                if taken.is_none() && (nid == NUMA_NO_NODE || self.node_of(&slab) == nid.0 as usize) {
                    taken = Some(slab);
                } else {
                    rest.push_back(map, v);
                }
            }
            cs.partial = rest;
            if let Some(slab) = taken {
                cs.nr_partial -= 1;
                let _node = cache.node[self.node_of(&slab)].lock();
                self.freeze(cpu, &mut cs, &slab);
                continue;
            }
            // Node partial list.
            let n = if nid == NUMA_NO_NODE { self.pa.numa_mem_id(cpu) } else { nid };
            let n = n.0.clamp(0, MAX_NUMNODES as i32 - 1) as usize;
            {
                let mut node = cache.node[n].lock();
                if let Some(v) = node.partial.pop_front(map) {
                    node.nr_partial -= 1;
                    let slab = self.slab_at(Pfn(v.get()));
                    self.freeze(cpu, &mut cs, &slab);
                    while cache.has_cpu_partial() && cs.nr_partial <= cache.cpu_partial_slabs / 2 {
                        let Some(v) = node.partial.pop_front(map) else { break };
                        node.nr_partial -= 1;
                        let s = self.slab_at(Pfn(v.get()));
                        let mut c = s.counters();
                        c.state = SlabState::CpuPartial(cpu);
                        s.set_counters(c);
                        cs.partial.push_back(map, v);
                        cs.nr_partial += 1;
                    }
                    continue;
                }
            }
            // A new slab.
            let slab = self.allocate_slab(cpu, cache, gfp, nid)?;
            let mut node = cache.node[self.node_of(&slab)].lock();
            node.nr_slabs += 1;
            node.total_objects += cache.objects as usize;
            self.freeze(cpu, &mut cs, &slab);
        }
    }

    fn alloc_debug(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        orig_size: usize,
        caller: Caller,
    ) -> Result<usize, Error> {
        let map = self.pa.memmap();
        let n = if nid == NUMA_NO_NODE { self.pa.numa_mem_id(cpu) } else { nid };
        let n = n.0.clamp(0, MAX_NUMNODES as i32 - 1) as usize;
        loop {
            let mut node = cache.node[n].lock();
            let slab = match node.partial.first() {
                Some(v) => self.slab_at(Pfn(v.get())),
                None => {
                    drop(node);
                    let slab = self.allocate_slab(cpu, cache, gfp, nid)?;
                    node = cache.node[self.node_of(&slab)].lock();
                    node.nr_slabs += 1;
                    node.total_objects += cache.objects as usize;
                    let mut c = slab.counters();
                    c.state = SlabState::NodePartial;
                    slab.set_counters(c);
                    node.partial.push_front(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                    node.nr_partial += 1;
                    slab
                }
            };
            let obj = slab.freelist();
            // alloc_consistency_checks
            if !self.check_slab(cache, &slab)
                || !self.check_valid_pointer(cache, &slab, obj)
                || obj == 0
                || !self.check_object(cache, &slab, obj, SLUB_RED_INACTIVE)
            {
                if obj != 0 && !self.check_valid_pointer(cache, &slab, obj) {
                    self.object_err(cache, &slab, obj, "Freelist Pointer check fails");
                }
                // Isolate the slab: mark all objects used.
                self.slab_fix(cache, format_args!("Marking all objects used"));
                self.remove_from_list(&mut node, &slab);
                let mut c = slab.counters();
                c.inuse = c.objects;
                slab.set_freelist(0);
                self.place_slab(cache, &mut node, &slab, c);
                continue;
            }
            let next = self.get_freepointer(cache, obj);
            slab.set_freelist(next);
            let mut c = slab.counters();
            c.inuse += 1;
            if c.inuse == c.objects {
                self.remove_from_list(&mut node, &slab);
                self.place_slab(cache, &mut node, &slab, c);
            } else {
                slab.set_counters(c);
            }
            if cache.flags.contains(SlabFlags::STORE_USER) {
                self.set_track(cache, obj, TRACK_ALLOC, cpu, caller);
            }
            if cache.has_orig_size() {
                self.set_orig_size(cache, obj, orig_size);
            }
            self.init_object(cache, obj, SLUB_RED_ACTIVE);
            return Ok(obj);
        }
    }

    // ----- free ---------------------------------------------------------

    /// Free an object of `cache` (kmem_cache_free). A pointer that is not
    /// an object of `cache`, or an object already free, is reported and
    /// left alone.
    ///
    /// # Safety
    ///
    /// 1. If `ptr` is a live object, nobody uses it after this call.
    #[track_caller]
    pub unsafe fn kmem_cache_free(&self, cpu: usize, cache: &KmemCache, ptr: *mut u8) {
        match self.virt_to_slab(ptr as usize) {
            Some((slab, c)) if core::ptr::eq(c, cache) => {
                self.slab_free(cpu, cache, slab, ptr as usize, core::panic::Location::caller())
            }
            Some((_, c)) => self
                .log(format_args!("kmem_cache_free: Wrong slab cache. {} but object is from {}", cache.name, c.name)),
            None => self.log(format_args!("kmem_cache_free: object {ptr:p} is not in a slab of {}", cache.name)),
        }
    }

    /// Whether `obj` is on `slab`'s freelist or `cs`'s (on_freelist).
    fn on_freelist(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize, cpu_fl: usize) -> bool {
        for head in [slab.freelist(), cpu_fl] {
            let mut p = head;
            let mut n = 0;
            while p != 0 && n <= cache.objects {
                if p == obj {
                    return true;
                }
                if !self.check_valid_pointer(cache, slab, p) {
                    break;
                }
                p = self.get_freepointer(cache, p);
                n += 1;
            }
        }
        false
    }

    fn slab_free(&self, cpu: usize, cache: &KmemCache, slab: Slab<'static>, obj: usize, caller: Caller) {
        if cpu >= NR_CPUS {
            return;
        }
        if !self.check_valid_pointer(cache, &slab, obj) {
            self.slab_bug(cache, format_args!("Invalid object pointer 0x{obj:x}"));
            self.print_slab_info(&slab);
            return;
        }
        if cache.debug() {
            return self.free_debug(cpu, cache, slab, obj, caller);
        }
        'retry: loop {
            let mut cs = cache.cpu_slab[cpu].lock();
            if cs.slab == slab.pfn.0 {
                if obj == cs.freelist {
                    // The naive double-free check of SLAB_FREELIST_HARDENED.
                    self.slab_bug(cache, format_args!("Object already free"));
                    self.log(format_args!("INFO: double free of 0x{obj:x} (head of the CPU freelist)"));
                    return;
                }
                if self.might_be_free(cache, &slab, obj) {
                    let node = cache.node[self.node_of(&slab)].lock();
                    if self.on_freelist(cache, &slab, obj, cs.freelist) {
                        drop(node);
                        self.object_err(cache, &slab, obj, "Object already free");
                        return;
                    }
                    drop(node);
                }
                self.free_hook(cache, obj);
                self.set_freepointer(cache, obj, cs.freelist);
                cs.freelist = obj;
                cache.active_objs.fetch_sub(1, Relaxed);
                return;
            }
            let map = self.pa.memmap();
            {
                let mut node = cache.node[self.node_of(&slab)].lock();
                let mut c = slab.counters();
                let other = match c.state {
                    SlabState::Cpu(j) if j != cpu => match cache.cpu_slab[j].try_lock() {
                        Some(g) => Some(g),
                        None => {
                            // Never wait for another CPU's lock while holding
                            // ours: drop everything and start over.
                            drop(node);
                            drop(cs);
                            core::hint::spin_loop();
                            continue 'retry;
                        }
                    },
                    _ => None,
                };
                let cpu_fl = match (&other, c.state) {
                    (Some(g), _) if g.slab == slab.pfn.0 => g.freelist,
                    _ => 0,
                };
                if slab.freelist() == obj
                    || (self.might_be_free(cache, &slab, obj) && self.on_freelist(cache, &slab, obj, cpu_fl))
                {
                    drop(other);
                    drop(node);
                    self.object_err(cache, &slab, obj, "Object already free");
                    return;
                }
                drop(other);
                self.free_hook(cache, obj);
                self.set_freepointer(cache, obj, slab.freelist());
                slab.set_freelist(obj);
                c.inuse -= 1;
                cache.active_objs.fetch_sub(1, Relaxed);
                let mut d = Deferred::Nothing;
                let mut overflow = false;
                match c.state {
                    SlabState::Full if cache.has_cpu_partial() => {
                        node.full.remove(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                        c.state = SlabState::CpuPartial(cpu);
                        slab.set_counters(c);
                        cs.partial.push_back(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                        cs.nr_partial += 1;
                        overflow = cs.nr_partial > cache.cpu_partial_slabs;
                    }
                    SlabState::Full | SlabState::NodePartial => {
                        self.remove_from_list(&mut node, &slab);
                        d = self.place_slab(cache, &mut node, &slab, c);
                    }
                    _ => slab.set_counters(c),
                }
                drop(node);
                self.finish(cpu, cache, d);
                if overflow {
                    self.unfreeze_partials(cpu, cache, &mut cs);
                }
                return;
            }
        }
    }

    /// Poison or zero a freed object before it goes on a freelist.
    fn free_hook(&self, cache: &KmemCache, obj: usize) {
        if self.flags.contains(SlubFlags::INIT_ON_FREE) {
            self.fill(obj, cache.object_size, 0);
        }
    }

    fn free_debug(&self, cpu: usize, cache: &KmemCache, slab: Slab<'static>, obj: usize, caller: Caller) {
        let mut node = cache.node[self.node_of(&slab)].lock();
        if !self.check_slab(cache, &slab) {
            return;
        }
        if self.on_freelist(cache, &slab, obj, 0) {
            drop(node);
            self.object_err(cache, &slab, obj, "Object already free");
            return;
        }
        if cache.flags.contains(SlabFlags::CONSISTENCY_CHECKS) && !self.check_object(cache, &slab, obj, SLUB_RED_ACTIVE)
        {
            self.slab_fix(cache, format_args!("Object at 0x{obj:x} not freed"));
            return;
        }
        if cache.flags.contains(SlabFlags::STORE_USER) {
            self.set_track(cache, obj, TRACK_FREE, cpu, caller);
        }
        self.free_hook(cache, obj);
        self.init_object(cache, obj, SLUB_RED_INACTIVE);
        self.set_freepointer(cache, obj, slab.freelist());
        slab.set_freelist(obj);
        let mut c = slab.counters();
        c.inuse -= 1;
        cache.active_objs.fetch_sub(1, Relaxed);
        self.remove_from_list(&mut node, &slab);
        let d = self.place_slab(cache, &mut node, &slab, c);
        drop(node);
        self.finish(cpu, cache, d);
    }

    // ----- debugging ----------------------------------------------------

    fn set_track(&self, cache: &KmemCache, obj: usize, which: usize, cpu: usize, caller: Caller) {
        let t = Track { addr: caller as *const _ as u64, when: (self.hooks.now)(), cpu: cpu as u32, _pad: 0 };
        let p = obj + cache.info_end() + which * TRACK_BYTES;
        // SAFETY: STORE_USER caches reserve two tracks at info_end inside the
        // slot (calculate_sizes); the slot is ours under the list_lock.
        unsafe { (p as *mut Track).write_unaligned(t) }
    }

    fn get_track(&self, cache: &KmemCache, obj: usize, which: usize) -> Track {
        let p = obj + cache.info_end() + which * TRACK_BYTES;
        // SAFETY: as in set_track.
        unsafe { (p as *const Track).read_unaligned() }
    }

    fn set_orig_size(&self, cache: &KmemCache, obj: usize, size: usize) {
        let p = obj + cache.orig_size_offset();
        // SAFETY: caches with orig_size reserve 4 bytes there (calculate_sizes).
        unsafe { (p as *mut u32).write_unaligned(size as u32) }
    }

    fn get_orig_size(&self, cache: &KmemCache, obj: usize) -> usize {
        if !cache.has_orig_size() {
            return cache.object_size;
        }
        let p = obj + cache.orig_size_offset();
        // SAFETY: as in set_orig_size.
        (unsafe { (p as *const u32).read_unaligned() } as usize).min(cache.object_size)
    }

    /// init_object: red zones to `val`, poison when free.
    fn init_object(&self, cache: &KmemCache, obj: usize, val: u8) {
        if cache.flags.contains(SlabFlags::RED_ZONE) {
            self.fill(obj - cache.red_left_pad, cache.red_left_pad, val);
            if cache.has_orig_size() && val == SLUB_RED_ACTIVE {
                let orig = self.get_orig_size(cache, obj);
                self.fill(obj + orig, cache.object_size - orig, val);
            }
        }
        if cache.object_poison() && val == SLUB_RED_INACTIVE {
            self.fill(obj, cache.object_size - 1, POISON_FREE);
            self.fill(obj + cache.object_size - 1, 1, POISON_END);
        }
        if cache.flags.contains(SlabFlags::RED_ZONE) {
            self.fill(obj + cache.object_size, cache.inuse - cache.object_size, val);
        }
    }

    fn slab_bug(&self, cache: &KmemCache, what: fmt::Arguments<'_>) {
        cache.errors.fetch_add(1, Relaxed);
        self.log(format_args!("============================================================================="));
        self.log(format_args!("BUG {} (Not tainted): {}", cache.name, what));
        self.log(format_args!("-----------------------------------------------------------------------------"));
    }

    fn slab_fix(&self, cache: &KmemCache, what: fmt::Arguments<'_>) {
        self.log(format_args!("FIX {}: {}", cache.name, what));
    }

    fn print_slab_info(&self, slab: &Slab<'_>) {
        let c = slab.counters();
        self.log(format_args!(
            "Slab pfn {:#x} objects={} used={} fp=0x{:x} flags={}",
            slab.pfn.0,
            c.objects,
            c.inuse,
            slab.freelist(),
            crate::page::PageFlagsDisplay(slab.page.raw_flags())
        ));
    }

    fn print_section(&self, text: &str, addr: usize, len: usize) {
        let b = self.bytes(addr, len);
        for (i, chunk) in b.chunks(16).enumerate() {
            let mut hex = [0u8; 48];
            let mut ascii = [b' '; 16];
            for (j, &x) in chunk.iter().enumerate() {
                const H: &[u8; 16] = b"0123456789abcdef";
                hex[j * 3] = H[(x >> 4) as usize];
                hex[j * 3 + 1] = H[(x & 15) as usize];
                hex[j * 3 + 2] = b' ';
                ascii[j] = if x.is_ascii_graphic() || x == b' ' { x } else { b'.' };
            }
            let hex = core::str::from_utf8(&hex[..chunk.len() * 3]).unwrap_or("");
            let ascii = core::str::from_utf8(&ascii[..chunk.len()]).unwrap_or("");
            self.log(format_args!("{text}{:016x}: {hex} {ascii}", addr + i * 16));
        }
    }

    fn print_trailer(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize) {
        if cache.flags.contains(SlabFlags::STORE_USER) {
            let now = (self.hooks.now)();
            for (which, what) in [(TRACK_ALLOC, "Allocated"), (TRACK_FREE, "Freed")] {
                let t = self.get_track(cache, obj, which);
                if t.addr != 0 {
                    // SAFETY: non-zero track addresses are &'static Locations
                    // written by set_track.
                    let loc = unsafe { &*(t.addr as *const core::panic::Location<'static>) };
                    self.log(format_args!(
                        "{what} in {}:{} age={} cpu={}",
                        loc.file(),
                        loc.line(),
                        now.wrapping_sub(t.when),
                        t.cpu
                    ));
                }
            }
        }
        self.print_slab_info(slab);
        let base = self.slab_addr(slab);
        self.log(format_args!("Object 0x{obj:x} @offset={} fp=0x{:x}", obj - base, self.get_freepointer(cache, obj)));
        if cache.flags.contains(SlabFlags::RED_ZONE) {
            self.print_section("Redzone  ", obj - cache.red_left_pad, cache.red_left_pad);
        }
        self.print_section("Object   ", obj, cache.object_size.min(PAGE_SIZE as usize));
        if cache.flags.contains(SlabFlags::RED_ZONE) {
            self.print_section("Redzone  ", obj + cache.object_size, cache.inuse - cache.object_size);
        }
        let off = cache.info_end();
        let end = cache.size - cache.red_left_pad;
        if end > off {
            self.print_section("Padding  ", obj + off, end - off);
        }
    }

    fn object_err(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize, reason: &str) {
        self.slab_bug(cache, format_args!("{reason}"));
        self.print_trailer(cache, slab, obj);
    }

    /// check_bytes_and_report: report and restore bytes that are not `value`.
    #[allow(clippy::too_many_arguments)]
    fn check_bytes_and_report(
        &self,
        cache: &KmemCache,
        slab: &Slab<'_>,
        obj: usize,
        what: &str,
        start: usize,
        value: u8,
        len: usize,
    ) -> bool {
        let b = self.bytes(start, len);
        let Some(first) = b.iter().position(|&x| x != value) else { return true };
        let mut end = len;
        while end > first && b[end - 1] == value {
            end -= 1;
        }
        let fault = b[first];
        self.slab_bug(cache, format_args!("{what} overwritten"));
        self.log(format_args!(
            "0x{:x}-0x{:x} @offset={}. First byte 0x{:x} instead of 0x{:x}",
            start + first,
            start + end - 1,
            start + first - self.slab_addr(slab),
            fault,
            value
        ));
        self.print_trailer(cache, slab, obj);
        self.slab_fix(
            cache,
            format_args!("Restoring {what} 0x{:x}-0x{:x}=0x{:x}", start + first, start + end - 1, value),
        );
        self.fill(start + first, end - first, value);
        false
    }

    /// check_object: red zones, poison, padding and the free pointer.
    fn check_object(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize, val: u8) -> bool {
        let mut ok = true;
        let end = obj + cache.object_size;
        if cache.flags.contains(SlabFlags::RED_ZONE) {
            ok &= self.check_bytes_and_report(
                cache,
                slab,
                obj,
                "Left Redzone",
                obj - cache.red_left_pad,
                val,
                cache.red_left_pad,
            );
            ok &= self.check_bytes_and_report(
                cache,
                slab,
                obj,
                "Right Redzone",
                end,
                val,
                cache.inuse - cache.object_size,
            );
            if cache.has_orig_size() && val == SLUB_RED_ACTIVE {
                let orig = self.get_orig_size(cache, obj);
                if orig < cache.object_size {
                    ok &= self.check_bytes_and_report(
                        cache,
                        slab,
                        obj,
                        "kmalloc Redzone",
                        obj + orig,
                        val,
                        cache.object_size - orig,
                    );
                }
            }
        } else if cache.flags.contains(SlabFlags::POISON) && cache.object_size < cache.inuse {
            ok &= self.check_bytes_and_report(
                cache,
                slab,
                obj,
                "Alignment padding",
                end,
                POISON_INUSE,
                cache.inuse - cache.object_size,
            );
        }
        if cache.flags.contains(SlabFlags::POISON) {
            if val != SLUB_RED_ACTIVE && cache.object_poison() {
                ok &= self.check_bytes_and_report(cache, slab, obj, "Poison", obj, POISON_FREE, cache.object_size - 1);
                ok &= self.check_bytes_and_report(cache, slab, obj, "End Poison", end - 1, POISON_END, 1);
            }
            // check_pad_bytes
            let mut off = cache.info_end();
            if cache.flags.contains(SlabFlags::STORE_USER) {
                off += 2 * TRACK_BYTES;
            }
            if cache.has_orig_size() {
                off += 4;
            }
            let size = cache.size - cache.red_left_pad;
            if size > off {
                ok &= self.check_bytes_and_report(
                    cache,
                    slab,
                    obj,
                    "Object padding",
                    obj + off,
                    POISON_INUSE,
                    size - off,
                );
            }
        }
        if !cache.freeptr_outside_object() && val == SLUB_RED_ACTIVE {
            return ok;
        }
        if !self.check_valid_pointer(cache, slab, self.get_freepointer(cache, obj)) {
            self.object_err(cache, slab, obj, "Freepointer corrupt");
            self.slab_fix(cache, format_args!("Isolate the rest of the freelist: free pointer set to NULL"));
            self.set_freepointer(cache, obj, 0);
            ok = false;
        }
        ok
    }

    /// check_slab: the slab's cache and counters are sane.
    fn check_slab(&self, cache: &KmemCache, slab: &Slab<'_>) -> bool {
        let c = slab.counters();
        if !slab.page.test_flags(PageFlags::SLAB) || slab.page.private() != cache as *const KmemCache as u64 {
            self.slab_bug(cache, format_args!("Not a valid slab page"));
            return false;
        }
        if c.objects != cache.objects || c.inuse > c.objects {
            self.slab_bug(cache, format_args!("objects {} inuse {} max {}", c.objects, c.inuse, cache.objects));
            self.print_slab_info(slab);
            return false;
        }
        true
    }

    /// slab_pad_check: the tail after the last object still holds POISON_INUSE.
    fn slab_pad_check(&self, cache: &KmemCache, slab: &Slab<'_>) -> bool {
        let base = self.slab_addr(slab);
        let used = cache.objects as usize * cache.size;
        let len = ((PAGE_SIZE as usize) << cache.order) - used;
        let b = self.bytes(base + used, len);
        let Some(first) = b.iter().position(|&x| x != POISON_INUSE) else { return true };
        let mut end = len;
        while end > first && b[end - 1] == POISON_INUSE {
            end -= 1;
        }
        self.slab_bug(
            cache,
            format_args!(
                "Padding overwritten. 0x{:x}-0x{:x} @offset={}",
                base + used + first,
                base + used + end - 1,
                used + first
            ),
        );
        self.print_section("Padding ", base + used + first, end - first);
        self.slab_fix(cache, format_args!("Restoring Padding"));
        self.fill(base + used + first, end - first, POISON_INUSE);
        false
    }

    /// Validate one slab with its list_lock held; returns errors found.
    fn validate_slab(&self, cache: &KmemCache, slab: &Slab<'_>) -> usize {
        let before = cache.errors();
        if !self.check_slab(cache, slab) {
            return 1;
        }
        // on_freelist with repair: walk, cut at a bad pointer, count.
        let mut nr_free = 0;
        let mut p = slab.freelist();
        let mut prev = 0usize;
        while p != 0 && nr_free <= cache.objects {
            if !self.check_valid_pointer(cache, slab, p) {
                if prev == 0 {
                    self.slab_bug(cache, format_args!("Freechain corrupt"));
                    slab.set_freelist(0);
                } else {
                    self.object_err(cache, slab, prev, "Freechain corrupt");
                    self.set_freepointer(cache, prev, 0);
                }
                self.slab_fix(cache, format_args!("Isolate corrupted freechain"));
                break;
            }
            if cache.debug() {
                self.check_object(cache, slab, p, SLUB_RED_INACTIVE);
            }
            nr_free += 1;
            prev = p;
            p = self.get_freepointer(cache, p);
        }
        let mut c = slab.counters();
        let frozen = matches!(c.state, SlabState::Cpu(_));
        if !frozen && c.inuse != c.objects - nr_free.min(c.objects) {
            self.slab_bug(
                cache,
                format_args!("Wrong object count. Counter is {} but counted were {}", c.inuse, c.objects - nr_free),
            );
            c.inuse = c.objects - nr_free.min(c.objects);
            slab.set_counters(c);
            self.slab_fix(cache, format_args!("Object count adjusted"));
        }
        if cache.debug() {
            // Allocated objects: check them as active.
            for i in 0..cache.objects as usize {
                let obj = self.object_at(cache, slab, i);
                if !self.on_freelist(cache, slab, obj, 0) {
                    self.check_object(cache, slab, obj, SLUB_RED_ACTIVE);
                }
            }
            if cache.flags.contains(SlabFlags::POISON) {
                self.slab_pad_check(cache, slab);
            }
        }
        cache.errors() - before
    }

    /// validate_slab_cache: flush the CPUs' slabs and check every slab of the
    /// cache; returns the number of errors found.
    pub fn validate_slab_cache(&self, cpu: usize, cache: &KmemCache) -> usize {
        self.flush_all(cpu, cache);
        let map = self.pa.memmap();
        let mut errors = 0;
        for n in 0..MAX_NUMNODES {
            let mut node = cache.node[n].lock();
            let mut count = 0;
            for full in [false, true] {
                let mut tmp = PfnList::EMPTY;
                let mut misplaced = PfnList::EMPTY;
                loop {
                    let list = if full { &mut node.full } else { &mut node.partial };
                    let Some(v) = list.pop_front(map) else { break };
                    let slab = self.slab_at(Pfn(v.get()));
                    errors += self.validate_slab(cache, &slab);
                    count += 1;
                    let c = slab.counters();
                    if full && c.inuse < c.objects {
                        misplaced.push_back(map, v);
                    } else {
                        tmp.push_back(map, v);
                    }
                }
                if full {
                    node.full = tmp;
                    while let Some(v) = misplaced.pop_front(map) {
                        let slab = self.slab_at(Pfn(v.get()));
                        let mut c = slab.counters();
                        c.state = SlabState::NodePartial;
                        slab.set_counters(c);
                        node.partial.push_back(map, v);
                        node.nr_partial += 1;
                    }
                } else {
                    node.partial = tmp;
                }
            }
            if count != node.nr_slabs {
                self.slab_bug(cache, format_args!("{} slabs counted but counter={}", count, node.nr_slabs));
                errors += 1;
            }
        }
        errors
    }

    // ----- kmalloc ------------------------------------------------------

    /// Create the kmalloc caches (create_kmalloc_caches).
    pub fn kmalloc_init(&self, cpu: usize) -> Result<(), Error> {
        for (kind, names) in [(0, KMALLOC_NAMES), (1, DMA_KMALLOC_NAMES)] {
            for (i, name) in names.iter().enumerate().skip(1) {
                let size = kmalloc_size(i);
                let align = if size.is_power_of_two() { size } else { KMALLOC_MIN_SIZE };
                let mut flags = SlabFlags::KMALLOC;
                if kind == 1 {
                    flags |= SlabFlags::CACHE_DMA;
                }
                let c = self.kmem_cache_create(cpu, name, size, align, flags, None)?;
                self.kmalloc_caches[kind][i].store(c as *const KmemCache as *mut KmemCache, Relaxed);
            }
        }
        Ok(())
    }

    /// The kmalloc cache for `size` bytes and `gfp` (kmalloc_slab).
    pub fn kmalloc_slab(&self, size: usize, gfp: Gfp) -> Option<&'static KmemCache> {
        let i = kmalloc_index(size)?;
        let kind = usize::from(gfp.contains(Gfp::DMA));
        let p = self.kmalloc_caches[kind][i].load(Relaxed);
        // SAFETY: non-null entries were stored by kmalloc_init from caches
        // that are never destroyed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    /// kmalloc.
    #[track_caller]
    pub fn kmalloc(&self, cpu: usize, size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        self.kmalloc_caller(cpu, size, gfp, NUMA_NO_NODE, core::panic::Location::caller())
    }

    /// kmalloc_node.
    #[track_caller]
    pub fn kmalloc_node(&self, cpu: usize, size: usize, gfp: Gfp, nid: NodeId) -> Result<NonNull<u8>, Error> {
        self.kmalloc_caller(cpu, size, gfp, nid, core::panic::Location::caller())
    }

    /// kzalloc.
    #[track_caller]
    pub fn kzalloc(&self, cpu: usize, size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        self.kmalloc_caller(cpu, size, gfp | Gfp::ZERO, NUMA_NO_NODE, core::panic::Location::caller())
    }

    /// kcalloc: `n * size` zeroed bytes; overflow is `InvalidArgument`.
    #[track_caller]
    pub fn kcalloc(&self, cpu: usize, n: usize, size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        let bytes = n.checked_mul(size).ok_or(Error::InvalidArgument)?;
        self.kmalloc_caller(cpu, bytes, gfp | Gfp::ZERO, NUMA_NO_NODE, core::panic::Location::caller())
    }

    fn kmalloc_caller(
        &self,
        cpu: usize,
        size: usize,
        gfp: Gfp,
        nid: NodeId,
        caller: Caller,
    ) -> Result<NonNull<u8>, Error> {
        if size == 0 {
            return NonNull::new(ZERO_SIZE_PTR as *mut u8).ok_or(Error::InvalidArgument);
        }
        if size > KMALLOC_MAX_CACHE_SIZE {
            return self.kmalloc_large(cpu, size, gfp, nid);
        }
        let cache = self.kmalloc_slab(size, gfp).ok_or(Error::InvalidArgument)?;
        self.slab_alloc(cpu, cache, gfp, nid, size, caller)
    }

    /// __kmalloc_large_node: compound pages straight from the page allocator.
    fn kmalloc_large(&self, cpu: usize, size: usize, gfp: Gfp, nid: NodeId) -> Result<NonNull<u8>, Error> {
        let order = get_order(size as u64);
        if order > crate::zone::MAX_PAGE_ORDER {
            return Err(Error::InvalidArgument);
        }
        let pfn = self.pa.alloc_pages_node(cpu, nid, gfp | Gfp::COMP, order)?;
        self.nr_slab_unreclaimable.fetch_add(1 << order, Relaxed);
        NonNull::new((self.hooks.page_address)(pfn)).ok_or(Error::NoMemory)
    }

    /// The usable size of a kmalloc'ed object (ksize); 0 for what kmalloc
    /// never returned.
    pub fn ksize(&self, ptr: *const u8) -> usize {
        let addr = ptr as usize;
        if addr <= ZERO_SIZE_PTR {
            return 0;
        }
        if let Some((slab, cache)) = self.virt_to_slab(addr) {
            if !self.check_valid_pointer(cache, &slab, addr) {
                return 0;
            }
            if cache.has_orig_size() {
                // ksize() users may use the whole object.
                self.set_orig_size(cache, addr, cache.object_size);
            }
            return cache.object_size;
        }
        match self.large_kmalloc_head(addr) {
            Some(pfn) => (PAGE_SIZE as usize) << self.pa.compound_order(pfn),
            None => 0,
        }
    }

    fn large_kmalloc_head(&self, addr: usize) -> Option<Pfn> {
        let pfn = (self.hooks.virt_to_pfn)(addr as *const u8)?;
        let page = self.pa.memmap().pfn_to_page(pfn)?;
        (page.is_head() && !page.test_flags(PageFlags::SLAB) && (self.hooks.page_address)(pfn) as usize == addr)
            .then_some(pfn)
    }

    /// kfree: null and ZERO_SIZE_PTR are fine; pointers kmalloc never
    /// returned, and objects already free, are reported and left alone.
    ///
    /// # Safety
    ///
    /// 1. If `ptr` is a live object, nobody uses it after this call.
    #[track_caller]
    pub unsafe fn kfree(&self, cpu: usize, ptr: *const u8) {
        let addr = ptr as usize;
        if addr <= ZERO_SIZE_PTR {
            return;
        }
        if let Some((slab, cache)) = self.virt_to_slab(addr) {
            return self.slab_free(cpu, cache, slab, addr, core::panic::Location::caller());
        }
        match self.large_kmalloc_head(addr) {
            Some(pfn) => {
                let order = self.pa.compound_order(pfn);
                self.nr_slab_unreclaimable.fetch_sub(1 << order, Relaxed);
                self.pa.free_pages(cpu, pfn, order);
            }
            None => self.log(format_args!("kfree: invalid pointer 0x{addr:x}: not a kmalloc object")),
        }
    }

    /// krealloc: the same object when it is big enough (shrinking or growing
    /// within ksize), otherwise a new one with the contents copied.
    ///
    /// # Safety
    ///
    /// 1. `ptr` is null, ZERO_SIZE_PTR or a live kmalloc object of at least
    ///    its requested size, not used after a successful return unless the
    ///    same pointer comes back.
    #[track_caller]
    pub unsafe fn krealloc(&self, cpu: usize, ptr: *mut u8, new_size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        let caller = core::panic::Location::caller();
        let addr = ptr as usize;
        if new_size == 0 {
            // SAFETY: obligation 1 (the caller gives the object up).
            unsafe { self.kfree(cpu, ptr) };
            return NonNull::new(ZERO_SIZE_PTR as *mut u8).ok_or(Error::InvalidArgument);
        }
        let (ks, old) = if addr <= ZERO_SIZE_PTR {
            (0, 0)
        } else if let Some((slab, cache)) = self.virt_to_slab(addr) {
            if !self.check_valid_pointer(cache, &slab, addr) {
                return Err(Error::InvalidArgument);
            }
            let old = self.get_orig_size(cache, addr);
            if cache.object_size >= new_size {
                let ks = cache.object_size;
                // Linux's __do_krealloc: zero the spare memory for a zeroing
                // request (the grown part, or everything past the new end),
                // then lay the kmalloc red zone over [new_size, ksize).
                if gfp.contains(Gfp::ZERO) || self.flags.contains(SlubFlags::INIT_ON_ALLOC) {
                    if old != 0 && old < new_size {
                        self.fill(addr + old, new_size - old, 0);
                    } else {
                        self.fill(addr + new_size, ks - new_size, 0);
                    }
                }
                if cache.has_orig_size() {
                    self.set_orig_size(cache, addr, new_size);
                    if cache.flags.contains(SlabFlags::RED_ZONE) && new_size < ks {
                        self.fill(addr + new_size, ks - new_size, SLUB_RED_ACTIVE);
                    }
                }
                return NonNull::new(ptr).ok_or(Error::InvalidArgument);
            }
            (cache.object_size, old)
        } else {
            let ks = self.ksize(ptr);
            if ks == 0 {
                return Err(Error::InvalidArgument);
            }
            if ks >= new_size {
                return NonNull::new(ptr).ok_or(Error::InvalidArgument);
            }
            (ks, ks)
        };
        let new = self.kmalloc_caller(cpu, new_size, gfp, NUMA_NO_NODE, caller)?;
        if ks > 0 {
            let n = old.min(new_size);
            // SAFETY: `ptr` holds at least `old` bytes (obligation 1), the new
            // object at least `new_size`; they are distinct allocations.
            unsafe { core::ptr::copy_nonoverlapping(ptr, new.as_ptr(), n) };
            // SAFETY: obligation 1: the old object is given up.
            unsafe { self.kfree(cpu, ptr) };
        }
        Ok(new)
    }

    // ----- statistics ---------------------------------------------------

    /// /proc/slabinfo numbers of a cache.
    pub fn cache_info(&self, cache: &KmemCache) -> SlabInfo {
        let mut num_slabs = 0;
        let mut num_objs = 0;
        for n in &cache.node {
            let n = n.lock();
            num_slabs += n.nr_slabs;
            num_objs += n.total_objects;
        }
        let active_objs = cache.active_objs.load(Relaxed);
        SlabInfo {
            active_objs,
            num_objs,
            objsize: cache.size,
            objperslab: cache.objects as usize,
            pagesperslab: 1 << cache.order,
            active_slabs: num_slabs,
            num_slabs,
        }
    }

    /// Write /proc/slabinfo (version 2.1).
    pub fn slabinfo(&self, out: &mut impl fmt::Write) -> fmt::Result {
        writeln!(out, "slabinfo - version: 2.1")?;
        writeln!(
            out,
            "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
        )?;
        let list = self.caches.lock();
        for &p in list.caches[..list.nr].iter().rev() {
            // SAFETY: entries of the cache list are live caches (destroy
            // removes them under this lock before freeing).
            let cache = unsafe { &*(p as *const KmemCache) };
            let s = self.cache_info(cache);
            writeln!(
                out,
                "{:<17} {:6} {:6} {:6} {:4} {:4} : tunables {:4} {:4} {:4} : slabdata {:6} {:6} {:6}",
                cache.name,
                s.active_objs,
                s.num_objs,
                s.objsize,
                s.objperslab,
                s.pagesperslab,
                0,
                0,
                0,
                s.active_slabs,
                s.num_slabs,
                0
            )?;
        }
        Ok(())
    }
}

/// One cache's /proc/slabinfo columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabInfo {
    /// Objects handed out.
    pub active_objs: usize,
    /// Objects in all slabs.
    pub num_objs: usize,
    /// Slot size.
    pub objsize: usize,
    /// Objects per slab.
    pub objperslab: usize,
    /// Pages per slab.
    pub pagesperslab: usize,
    /// Slabs (SLUB counts all as active).
    pub active_slabs: usize,
    /// Slabs.
    pub num_slabs: usize,
}

#[cfg(test)]
mod tests;
