//! memblock: the boot-time physical memory map and allocator.
//!
//! Before there are struct pages, zones or a buddy allocator the kernel still
//! has to know which physical memory exists, and it has to hand out memory for
//! page tables, the struct-page array and per-cpu areas. Linux answers both
//! with memblock (mm/memblock.c); this module is an architecture-free port of
//! it, with Linux's names in Rust casing so that a reader of one can check the
//! other.
//!
//! # The two region arrays
//!
//! A [`Memblock`] holds two [`MemblockType`]s, each an array of
//! [`MemblockRegion`]s `{ base, size, flags, nid }`:
//!
//! ```text
//!   memory    [=================================]   [=========]  RAM that exists
//!   reserved     [kern]      [dtb]  [pgtables]          [arr]     taken from it
//!   free      [=]      [====]     [=]         [=]   [==]     [==] memory - reserved
//! ```
//!
//! * `memory` is what the firmware (device tree, UEFI) says is RAM, possibly
//!   cut down by `mem=`. Regions carry a NUMA node and flags: `NOMAP` memory is
//!   kept out of the linear map, `HOTPLUG`/`MIRROR`/`DRIVER_MANAGED` describe
//!   the kind of RAM.
//! * `reserved` is what is already in use: the kernel image, the device tree,
//!   the initrd, every memblock allocation, and memblock's own grown arrays.
//!
//! Both arrays keep the same invariants (see [`MemblockType`]): regions are
//! sorted by base, never overlap, never have size 0, and two regions that
//! touch and have the same flags and node are always merged into one
//! (memblock_merge_regions). No region reaches past `u64::MAX`: a range that
//! would overflow is clipped first, as memblock_cap_size does, so the very last
//! byte of the address space can never be described.
//!
//! # Adding, removing, marking
//!
//! [`Memblock::add`] and [`Memblock::reserve`] follow memblock_add_range: a new
//! range may overlap existing regions, and only the holes between them are
//! inserted (with the new range's node and flags); existing regions keep their
//! attributes. A first pass counts the holes, the array grows if they do not
//! fit, a second pass inserts them, and a final pass merges neighbours.
//!
//! Removing, freeing, setting flags and setting the node all start with
//! memblock_isolate_range: regions that cross the range's ends are split
//! there (at most two new regions), so that the range is covered by whole
//! regions which can then be dropped or changed one by one, after which
//! neighbours are merged again.
//!
//! # Growth
//!
//! Each array starts as an inline array of [`INIT_MEMBLOCK_REGIONS`] slots, so
//! `Memblock::new()` is a `const fn` and the whole thing can live in a static.
//! When an insertion needs more slots, memblock_double_array runs: memblock
//! allocates a doubled array from its own free memory (page aligned, below
//! `current_limit`, never overlapping the range being inserted or removed),
//! asks the kernel's [`ArrayMapper`] for a `&'static mut` view of it, copies
//! the regions over, switches to it, frees the previous array if it was itself
//! a grown one, and reserves the new array's own range. If `memory` grows while
//! `reserved` is too full to record that, both grow in the same step.
//!
//! Everything that can fail (finding space, mapping it) is done before the
//! first write, so a failed growth returns [`Error::NoMemory`] and leaves both
//! arrays exactly as they were: nothing lost, nothing half inserted. Without a
//! mapper (early boot, before the linear map) the arrays simply cannot grow;
//! installing the mapper is this port's memblock_allow_resize. Any mutating
//! call that needs a slot it cannot get returns `NoMemory` the same way. As
//! in Linux, the need is counted before merging (an add that fills the hole
//! between two regions still needs a slot) and isolating a range always
//! wants two spare slots.
//!
//! # Allocation
//!
//! Allocation (memblock_alloc_range_nid) searches the free ranges, memory
//! minus reserved, walking both sorted arrays in lockstep (__next_mem_range)
//! so that nothing is ever materialised. `NOMAP` and `DRIVER_MANAGED` memory
//! is skipped, and once some memory is marked `MIRROR` mirrored memory is tried
//! first. The search is top-down by default (highest fitting address, which
//! keeps low memory free for devices with small DMA masks) or bottom-up after
//! `set_direction(AllocDirection::BottomUp)`. It stays below `current_limit`
//! when the caller asks for [`MEMBLOCK_ALLOC_ACCESSIBLE`], tries the requested
//! node first and then any node (unless the exact-node variant is used), and
//! reserves what it found. A block can never straddle two memory regions. Like
//! Linux it never hands out the first page: memblock_find_in_range_node raises
//! the lower bound to `PAGE_SIZE`, so physical address 0 is never returned.
//!
//! # Locking
//!
//! There is no lock inside. Every mutating method takes `&mut self`, so the
//! kernel keeps the one instance behind a lock and the guard is the proof:
//!
//! ```ignore
//! static MEMBLOCK: spin::Mutex<Memblock> = spin::Mutex::new(Memblock::new());
//! MEMBLOCK.lock().reserve(kernel_start, kernel_size)?;
//! ```
//!
//! The hooks are plain `fn` pointers, so they must not take that lock again.
//!
//! # Debugging
//!
//! With `memblock=debug` the kernel installs a [`DebugLog`] hook. Every public
//! mutating call then logs one line in Linux's memblock_dbg format, the range
//! printed with an inclusive end and the caller (from `#[track_caller]`) in
//! place of Linux's `%pS`:
//!
//! ```text
//! memblock_reserve: [0x0000000040000000-0x00000000401fffff] kernel/src/memory.rs:42
//! ```
//!
//! [`Memblock::dump`] prints __memblock_dump_all's table.
//!
//! # Differences from Linux
//!
//! * Failures are `Err`, not 0 or -1; growth without a mapper is `NoMemory`
//!   instead of a panic, and a failed growth changes nothing at all.
//! * The `alloc_*` calls return physical addresses and do not zero: there is
//!   no linear map at this layer. Allocations are reserved with
//!   [`NUMA_NO_NODE`] and no flags, as before Linux 6.13 (no `RSRV_KERN`).
//! * Allocation rejects size 0 and an alignment that is not a power of two
//!   (`InvalidArgument`); alignment 0 still means `SMP_CACHE_BYTES`.
//! * A grown array avoids the range being inserted or removed for both arrays
//!   (Linux only for `reserved`) and also avoids the arrays in use.
//! * trim_memory keeps `total_size` exact (Linux's leaves it stale).
//! * Free-range iteration never yields empty ranges.
//! * No `physmem` type, no kmemleak, no KHO scratch, no movable_node: the
//!   `HOTPLUG` flag is recorded but never makes a region skipped.

use core::fmt;
use core::panic::Location;

use bitflags::bitflags;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::error::Error;

pub use crate::config::{MAX_NUMNODES, NUMA_NO_NODE, NodeId};

/// Slots in each inline region array, before any growth.
pub const INIT_MEMBLOCK_REGIONS: usize = 128;
/// Alignment used when an allocation asks for alignment 0.
pub const SMP_CACHE_BYTES: u64 = 64;
/// Upper bound meaning "anywhere", ignoring `current_limit`.
pub const MEMBLOCK_ALLOC_ANYWHERE: PhysAddr = PhysAddr(u64::MAX);
/// Upper bound meaning "up to `current_limit`".
pub const MEMBLOCK_ALLOC_ACCESSIBLE: PhysAddr = PhysAddr(0);

const PHYS_ADDR_MAX: u64 = u64::MAX;

/// Headroom the `reserved` array keeps after it grows, so that recording the
/// new array and dropping the old one never needs another growth.
const RESERVED_GROWTH_HEADROOM: usize = 4;

bitflags! {
    /// Attributes of a memblock region (enum memblock_flags).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct MemblockFlags: u32 {
        /// Hotpluggable memory.
        const HOTPLUG = 0x1;
        /// Mirrored memory.
        const MIRROR = 0x2;
        /// Memory that must stay out of the kernel's linear map.
        const NOMAP = 0x4;
        /// Memory added by a driver; never used for boot allocations.
        const DRIVER_MANAGED = 0x8;
        /// Reserved memory whose struct pages are not initialised.
        const RSRV_NOINIT = 0x10;
    }
}

impl MemblockFlags {
    /// No attributes (MEMBLOCK_NONE).
    pub const NONE: Self = Self::empty();
}

/// One contiguous range of a memblock array (struct memblock_region).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MemblockRegion {
    /// First byte.
    pub base: PhysAddr,
    /// Length in bytes.
    pub size: u64,
    /// Attributes.
    pub flags: MemblockFlags,
    /// NUMA node.
    pub nid: NodeId,
}

impl MemblockRegion {
    /// An unused slot. A mapper may fill new arrays with it.
    pub const EMPTY: Self = Self { base: PhysAddr(0), size: 0, flags: MemblockFlags::NONE, nid: NodeId(0) };

    /// One past the last byte.
    pub const fn end(&self) -> PhysAddr {
        PhysAddr(self.end_u64())
    }

    const fn end_u64(&self) -> u64 {
        self.base.0 + self.size
    }

    fn mergeable_with(&self, other: &Self) -> bool {
        self.flags == other.flags && self.nid == other.nid
    }
}

/// Which way allocations search free memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum AllocDirection {
    /// Highest fitting address first (Linux's default).
    #[default]
    TopDown,
    /// Lowest fitting address first (memblock_set_bottom_up(true)).
    BottomUp,
}

/// The `memblock=debug` sink: receives one log line per call, without a
/// trailing newline.
pub type DebugLog = fn(fmt::Arguments<'_>);

/// Makes memblock's own memory usable for a grown region array.
///
/// Called with the physical address and length in bytes of a page-aligned
/// range that memblock found free and is about to reserve. It returns a
/// slice of at least `bytes / size_of::<MemblockRegion>()` entries (any
/// initialised values, for example [`MemblockRegion::EMPTY`]) through which
/// that memory is reached, or `None` if it cannot map it yet. The slice must
/// stay valid and unaliased for as long as the `Memblock` uses it.
pub type ArrayMapper = fn(PhysAddr, usize) -> Option<&'static mut [MemblockRegion]>;

/// A region array that memblock allocated for itself.
struct GrownArray {
    regions: &'static mut [MemblockRegion],
    phys: PhysAddr,
    alloc_bytes: u64,
}

/// One memblock array, `memory` or `reserved` (struct memblock_type).
///
/// # Invariants
///
/// * `regions()` is sorted by base; each region has size > 0 and ends before
///   or at the next one's base (no overlap); `base + size` never overflows.
/// * Two regions that touch differ in flags or node (they are merged).
/// * `total_size` is the sum of the sizes; `cnt <= max()`.
/// * After growth the regions live in `grown`, whose range memblock
///   reserved when it switched to it.
pub struct MemblockType {
    init_regions: [MemblockRegion; INIT_MEMBLOCK_REGIONS],
    grown: Option<GrownArray>,
    cnt: usize,
    total_size: u64,
    name: &'static str,
}

impl MemblockType {
    const fn new(name: &'static str) -> Self {
        Self { init_regions: [MemblockRegion::EMPTY; INIT_MEMBLOCK_REGIONS], grown: None, cnt: 0, total_size: 0, name }
    }

    /// The regions in address order.
    pub fn regions(&self) -> &[MemblockRegion] {
        &self.slots()[..self.cnt]
    }

    /// Number of regions.
    pub fn cnt(&self) -> usize {
        self.cnt
    }

    /// Number of slots in the current array.
    pub fn max(&self) -> usize {
        self.slots().len()
    }

    /// Sum of the region sizes in bytes.
    pub fn total_size(&self) -> u64 {
        self.total_size
    }

    /// "memory" or "reserved".
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Physical range `(base, bytes)` of the array memblock allocated for
    /// itself, or `None` while the inline array is in use.
    pub fn array_range(&self) -> Option<(PhysAddr, u64)> {
        self.grown.as_ref().map(|g| (g.phys, g.alloc_bytes))
    }

    fn slots(&self) -> &[MemblockRegion] {
        match &self.grown {
            Some(g) => g.regions,
            None => &self.init_regions,
        }
    }

    fn slots_mut(&mut self) -> &mut [MemblockRegion] {
        match &mut self.grown {
            Some(g) => &mut g.regions[..],
            None => &mut self.init_regions,
        }
    }

    /// Index of the region containing `addr` (memblock_search).
    fn search(&self, addr: u64) -> Option<usize> {
        self.regions()
            .binary_search_by(|r| {
                if addr < r.base.0 {
                    core::cmp::Ordering::Greater
                } else if addr >= r.end_u64() {
                    core::cmp::Ordering::Less
                } else {
                    core::cmp::Ordering::Equal
                }
            })
            .ok()
    }

    /// memblock_overlaps_region.
    fn overlaps(&self, base: u64, size: u64) -> bool {
        let end = base + cap_size(base, size);
        self.regions().iter().any(|r| base < r.end_u64() && r.base.0 < end)
    }

    /// First pass of memblock_add_range: how many holes `[base, end)` has.
    fn count_holes(&self, base: u64, end: u64) -> usize {
        let mut nr_new = 0;
        let mut base = base;
        for r in self.regions() {
            if r.base.0 >= end {
                break;
            }
            if r.end_u64() <= base {
                continue;
            }
            if r.base.0 > base {
                nr_new += 1;
            }
            base = r.end_u64().min(end);
        }
        if base < end {
            nr_new += 1;
        }
        nr_new
    }

    /// Second pass of memblock_add_range: insert the holes of `[base, end)`
    /// and merge. The caller made room for `count_holes` more regions.
    fn insert_holes(&mut self, base: u64, end: u64, nid: NodeId, flags: MemblockFlags) {
        let mut base = base;
        let mut idx = 0;
        let mut touched: Option<(usize, usize)> = None;
        let mut note = |idx: usize| {
            touched = Some(match touched {
                Some((start, _)) => (start, idx + 1),
                None => (idx, idx + 1),
            });
        };
        while idx < self.cnt {
            let r = self.slots()[idx];
            if r.base.0 >= end {
                break;
            }
            if r.end_u64() <= base {
                idx += 1;
                continue;
            }
            if r.base.0 > base {
                // `r` cuts the range: the part below it is a hole.
                self.insert_region(idx, base, r.base.0 - base, nid, flags);
                note(idx);
                idx += 1;
            }
            base = r.end_u64().min(end);
            idx += 1;
        }
        if base < end {
            self.insert_region(idx, base, end - base, nid, flags);
            note(idx);
        }
        if let Some((start, end_rgn)) = touched {
            self.merge_regions(start, end_rgn);
        }
    }

    /// memblock_isolate_range: split regions crossing the ends of
    /// `[base, end)` and return the index range of the regions inside it.
    /// The caller made room for two more regions.
    fn isolate(&mut self, base: u64, end: u64) -> (usize, usize) {
        let (mut start_rgn, mut end_rgn) = (0, 0);
        let mut idx = 0;
        while idx < self.cnt {
            let r = self.slots()[idx];
            let (rbase, rend) = (r.base.0, r.end_u64());
            if rbase >= end {
                break;
            }
            if rend <= base {
                idx += 1;
                continue;
            }
            if rbase < base {
                // Crosses the lower end: split off the part below and look
                // at the upper part (now at idx + 1) again.
                self.shrink_front(idx, base);
                self.insert_region(idx, rbase, base - rbase, r.nid, r.flags);
                idx += 1;
            } else if rend > end {
                // Crosses the upper end: split off the part below `end` and
                // look at it (now at idx) again.
                self.shrink_front(idx, end);
                self.insert_region(idx, rbase, end - rbase, r.nid, r.flags);
            } else {
                if end_rgn == 0 {
                    start_rgn = idx;
                }
                end_rgn = idx + 1;
                idx += 1;
            }
        }
        (start_rgn, end_rgn)
    }

    /// Move the start of region `idx` up to `new_base` (inside it).
    fn shrink_front(&mut self, idx: usize, new_base: u64) {
        let r = &mut self.slots_mut()[idx];
        let cut = new_base - r.base.0;
        r.base = PhysAddr(new_base);
        r.size -= cut;
        self.total_size -= cut;
    }

    /// memblock_insert_region.
    fn insert_region(&mut self, idx: usize, base: u64, size: u64, nid: NodeId, flags: MemblockFlags) {
        let cnt = self.cnt;
        assert!(cnt < self.max(), "memblock: no room left in the {} array", self.name);
        let slots = self.slots_mut();
        slots.copy_within(idx..cnt, idx + 1);
        slots[idx] = MemblockRegion { base: PhysAddr(base), size, flags, nid };
        self.cnt += 1;
        self.total_size += size;
    }

    /// memblock_remove_region.
    fn remove_region(&mut self, idx: usize) {
        let cnt = self.cnt;
        let slots = self.slots_mut();
        let size = slots[idx].size;
        slots.copy_within(idx + 1..cnt, idx);
        slots[cnt - 1] = MemblockRegion::EMPTY;
        self.cnt -= 1;
        self.total_size -= size;
    }

    /// memblock_merge_regions: merge compatible neighbours among the pairs
    /// `(start_rgn - 1, start_rgn) ..= (end_rgn - 1, end_rgn)`.
    fn merge_regions(&mut self, start_rgn: usize, end_rgn: usize) {
        let mut cnt = self.cnt;
        let mut i = start_rgn.saturating_sub(1);
        let mut last = end_rgn.min(cnt.saturating_sub(1));
        let slots = self.slots_mut();
        while i < last {
            let (this, next) = (slots[i], slots[i + 1]);
            if this.end_u64() != next.base.0 || !this.mergeable_with(&next) {
                debug_assert!(this.end_u64() <= next.base.0, "memblock: overlapping regions");
                i += 1;
                continue;
            }
            slots[i].size += next.size;
            slots.copy_within(i + 2..cnt, i + 1);
            cnt -= 1;
            slots[cnt] = MemblockRegion::EMPTY;
            last -= 1;
        }
        self.cnt = cnt;
    }

    /// Copy the regions into `regions` and use it from now on. Returns the
    /// range of the previous array if that was a grown one.
    fn install(&mut self, regions: &'static mut [MemblockRegion], phys: u64, alloc_bytes: u64) -> Option<(u64, u64)> {
        let cnt = self.cnt;
        regions[..cnt].copy_from_slice(self.regions());
        regions[cnt..].fill(MemblockRegion::EMPTY);
        let old = self.grown.replace(GrownArray { regions, phys: PhysAddr(phys), alloc_bytes });
        old.map(|g| (g.phys.0, g.alloc_bytes))
    }
}

impl fmt::Debug for MemblockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemblockType")
            .field("name", &self.name)
            .field("cnt", &self.cnt)
            .field("max", &self.max())
            .field("total_size", &self.total_size)
            .field("regions", &self.regions())
            .finish()
    }
}

/// Which of the two arrays an internal operation works on.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Memory,
    Reserved,
}

/// Whether an internal insertion may grow the array.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Growth {
    Allow,
    /// Used while growing: room was made beforehand, running out is a bug.
    Forbid,
}

/// Whether an allocation may leave the requested node (`exact_nid`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum NodeFallback {
    AnyNode,
    ExactNode,
}

#[derive(Clone, Copy)]
enum FlagChange {
    Set,
    Clear,
}

/// The call site shown in debug lines, Linux's `%pS` of `_RET_IP_`.
struct Caller(&'static Location<'static>);

impl Caller {
    #[track_caller]
    fn here() -> Self {
        Self(Location::caller())
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.file(), self.0.line())
    }
}

/// Up to four `[start, end)` ranges a grown array must not use.
struct Exclusions {
    ranges: [(u64, u64); 4],
    len: usize,
}

impl Exclusions {
    const NONE: Self = Self { ranges: [(0, 0); 4], len: 0 };

    fn push(&mut self, start: u64, end: u64) {
        if start < end {
            self.ranges[self.len] = (start, end);
            self.len += 1;
        }
    }

    /// Split `[start, end)` around the exclusions; pieces in address order.
    fn pieces(&self, start: u64, end: u64) -> ([(u64, u64); 5], usize) {
        let mut pieces = [(0, 0); 5];
        pieces[0] = (start, end);
        let mut n = 1;
        for &(a, b) in &self.ranges[..self.len] {
            let mut out = [(0, 0); 5];
            let mut m = 0;
            for &(ps, pe) in &pieces[..n] {
                if b <= ps || a >= pe {
                    out[m] = (ps, pe);
                    m += 1;
                    continue;
                }
                if ps < a {
                    out[m] = (ps, a);
                    m += 1;
                }
                if b < pe {
                    out[m] = (b, pe);
                    m += 1;
                }
            }
            pieces = out;
            n = m;
        }
        (pieces, n)
    }
}

/// Adjust `size` so that `base + size` does not overflow (memblock_cap_size).
const fn cap_size(base: u64, size: u64) -> u64 {
    let room = PHYS_ADDR_MAX - base;
    if size < room { size } else { room }
}

/// Slots after growing `max` by doubling until `needed` fit.
fn grown_capacity(max: usize, needed: usize) -> usize {
    let mut n = max.max(1);
    while n < needed {
        n *= 2;
    }
    n
}

/// Page-aligned bytes for an array of `slots` regions.
fn array_bytes(slots: usize) -> u64 {
    let bytes = (slots * size_of::<MemblockRegion>()) as u64;
    bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

/// Lowest `align`ed start of `size` bytes in `[start, end)`.
fn fit_bottom_up(start: u64, end: u64, size: u64, align: u64) -> Option<u64> {
    let cand = start.checked_add(align - 1)? & !(align - 1);
    (cand < end && end - cand >= size).then_some(cand)
}

/// Highest `align`ed start of `size` bytes in `[start, end)`.
fn fit_top_down(start: u64, end: u64, size: u64, align: u64) -> Option<u64> {
    if end < size {
        return None;
    }
    let cand = (end - size) & !(align - 1);
    (cand >= start).then_some(cand)
}

/// The boot memory map and allocator (struct memblock).
///
/// # Invariants
///
/// `memory` and `reserved` keep [`MemblockType`]'s invariants between calls;
/// every grown array's range is inside `reserved` unless a caller freed it.
pub struct Memblock {
    memory: MemblockType,
    reserved: MemblockType,
    direction: AllocDirection,
    current_limit: PhysAddr,
    has_mirror: bool,
    debug: Option<DebugLog>,
    array_mapper: Option<ArrayMapper>,
    retired: bool,
}

impl Default for Memblock {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Memblock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memblock")
            .field("memory", &self.memory)
            .field("reserved", &self.reserved)
            .field("direction", &self.direction)
            .field("current_limit", &self.current_limit)
            .finish_non_exhaustive()
    }
}

impl Memblock {
    /// An empty memblock: no memory, nothing reserved, top-down, no limit,
    /// no debug log, no mapper (so the arrays cannot grow yet).
    pub const fn new() -> Self {
        Self {
            memory: MemblockType::new("memory"),
            reserved: MemblockType::new("reserved"),
            direction: AllocDirection::TopDown,
            current_limit: MEMBLOCK_ALLOC_ANYWHERE,
            has_mirror: false,
            debug: None,
            array_mapper: None,
            retired: false,
        }
    }

    /// The page allocator owns the free memory now (memblock_free_all ran):
    /// every later allocation fails with `Busy`, and the arrays no longer
    /// grow. The arrays stay for queries (Linux's ARCH_KEEP_MEMBLOCK).
    pub fn retire(&mut self) {
        self.retired = true;
        self.array_mapper = None;
    }

    /// Whether [`Memblock::retire`] was called.
    pub fn is_retired(&self) -> bool {
        self.retired
    }

    // ----- configuration -------------------------------------------------

    /// The `memory` array.
    pub fn memory(&self) -> &MemblockType {
        &self.memory
    }

    /// The `reserved` array.
    pub fn reserved(&self) -> &MemblockType {
        &self.reserved
    }

    /// Turn `memblock=debug` logging on (`Some`) or off (`None`).
    pub fn set_debug(&mut self, log: Option<DebugLog>) {
        self.debug = log;
    }

    /// Let the arrays grow (memblock_allow_resize), reaching new arrays
    /// through `mapper`; `None` forbids growth again.
    pub fn set_array_mapper(&mut self, mapper: Option<ArrayMapper>) {
        self.array_mapper = mapper;
    }

    /// Choose the search direction of allocations (memblock_set_bottom_up).
    pub fn set_direction(&mut self, direction: AllocDirection) {
        self.direction = direction;
    }

    /// The search direction of allocations.
    pub fn direction(&self) -> AllocDirection {
        self.direction
    }

    /// memblock_bottom_up.
    pub fn bottom_up(&self) -> bool {
        self.direction == AllocDirection::BottomUp
    }

    /// Limit for [`MEMBLOCK_ALLOC_ACCESSIBLE`] allocations and grown arrays
    /// (memblock_set_current_limit), typically the end of what is mapped.
    pub fn set_current_limit(&mut self, limit: PhysAddr) {
        self.current_limit = limit;
    }

    /// memblock_get_current_limit.
    pub fn current_limit(&self) -> PhysAddr {
        self.current_limit
    }

    /// Whether some memory was marked mirrored (memblock_has_mirror).
    pub fn has_mirror(&self) -> bool {
        self.has_mirror
    }

    // ----- memory ----------------------------------------------------------

    /// Add RAM of unknown node (memblock_add). Overlaps with known memory are
    /// not duplicated.
    #[track_caller]
    pub fn add(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_add", base, size_bytes, Caller::here());
        self.add_range(Which::Memory, base.0, size_bytes, NodeId::UNSET, MemblockFlags::NONE, Growth::Allow)
    }

    /// Add RAM of node `nid` with `flags` (memblock_add_node).
    #[track_caller]
    pub fn add_node(
        &mut self,
        base: PhysAddr,
        size_bytes: u64,
        nid: NodeId,
        flags: MemblockFlags,
    ) -> Result<(), Error> {
        if self.debug.is_some() {
            let end = incl_end(base, size_bytes);
            self.dbg(format_args!(
                "memblock_add_node: [{:#018x}-{:#018x}] nid={} flags={:x} {}",
                base.0,
                end,
                nid,
                flags.bits(),
                Caller::here()
            ));
        }
        self.add_range(Which::Memory, base.0, size_bytes, nid, flags, Growth::Allow)
    }

    /// Forget RAM (memblock_remove); regions are split at the range's ends.
    #[track_caller]
    pub fn remove(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_remove", base, size_bytes, Caller::here());
        self.remove_range(Which::Memory, base.0, size_bytes, Growth::Allow)
    }

    /// Keep `[base, base + size)` out of the linear map (memblock_mark_nomap).
    #[track_caller]
    pub fn mark_nomap(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_mark_nomap", base, size_bytes, Caller::here());
        self.setclr_flag(Which::Memory, base.0, size_bytes, FlagChange::Set, MemblockFlags::NOMAP)
    }

    /// memblock_clear_nomap.
    #[track_caller]
    pub fn clear_nomap(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_clear_nomap", base, size_bytes, Caller::here());
        self.setclr_flag(Which::Memory, base.0, size_bytes, FlagChange::Clear, MemblockFlags::NOMAP)
    }

    /// memblock_mark_hotplug.
    #[track_caller]
    pub fn mark_hotplug(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_mark_hotplug", base, size_bytes, Caller::here());
        self.setclr_flag(Which::Memory, base.0, size_bytes, FlagChange::Set, MemblockFlags::HOTPLUG)
    }

    /// memblock_clear_hotplug.
    #[track_caller]
    pub fn clear_hotplug(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_clear_hotplug", base, size_bytes, Caller::here());
        self.setclr_flag(Which::Memory, base.0, size_bytes, FlagChange::Clear, MemblockFlags::HOTPLUG)
    }

    /// Mark mirrored memory (memblock_mark_mirror). From then on allocations
    /// try mirrored memory first. (Linux only does this with
    /// `kernelcore=mirror`; the caller decides here.)
    #[track_caller]
    pub fn mark_mirror(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_mark_mirror", base, size_bytes, Caller::here());
        self.setclr_flag(Which::Memory, base.0, size_bytes, FlagChange::Set, MemblockFlags::MIRROR)?;
        self.has_mirror = true;
        Ok(())
    }

    /// Give the memory in `[base, base + size)` to node `nid`
    /// (memblock_set_node on `memory`).
    #[track_caller]
    pub fn set_node(&mut self, base: PhysAddr, size_bytes: u64, nid: NodeId) -> Result<(), Error> {
        if self.debug.is_some() {
            let end = incl_end(base, size_bytes);
            self.dbg(format_args!(
                "memblock_set_node: [{:#018x}-{:#018x}] nid={} {}",
                base.0,
                end,
                nid,
                Caller::here()
            ));
        }
        let (start_rgn, end_rgn) = self.isolate_range(Which::Memory, base.0, size_bytes, Growth::Allow)?;
        let slots = self.memory.slots_mut();
        for r in &mut slots[start_rgn..end_rgn] {
            r.nid = nid;
        }
        self.memory.merge_regions(start_rgn, end_rgn);
        Ok(())
    }

    /// Shrink every memory region to whole `align_bytes` blocks and drop the
    /// ones that vanish (memblock_trim_memory). `align_bytes` must be a power
    /// of two.
    pub fn trim_memory(&mut self, align_bytes: u64) -> Result<(), Error> {
        if !align_bytes.is_power_of_two() {
            return Err(Error::InvalidArgument);
        }
        let mask = align_bytes - 1;
        let mut i = 0;
        while i < self.memory.cnt {
            let r = self.memory.slots()[i];
            let start = r.base.0.checked_add(mask).map(|s| s & !mask);
            let end = r.end_u64() & !mask;
            match start {
                Some(start) if start == r.base.0 && end == r.end_u64() => i += 1,
                Some(start) if start < end => {
                    let new_size = end - start;
                    self.memory.total_size -= r.size - new_size;
                    let slot = &mut self.memory.slots_mut()[i];
                    slot.base = PhysAddr(start);
                    slot.size = new_size;
                    i += 1;
                }
                _ => self.memory.remove_region(i),
            }
        }
        Ok(())
    }

    /// Apply `mem=limit_bytes` (memblock_enforce_memory_limit): keep the
    /// lowest `limit_bytes` of memory, counted over all memory regions as
    /// Linux's __find_max_addr does (NOMAP ones included), and drop memory and
    /// reservations above that address. 0, or a limit at least the memory
    /// size, changes nothing. On error nothing is removed.
    pub fn enforce_memory_limit(&mut self, limit_bytes: u64) -> Result<(), Error> {
        if limit_bytes == 0 {
            return Ok(());
        }
        let Some(max_addr) = self.find_max_addr(limit_bytes) else {
            return Ok(());
        };
        let size = PHYS_ADDR_MAX - max_addr;
        self.make_room(Which::Memory, 2, max_addr, size)?;
        self.make_room(Which::Reserved, 2, max_addr, size)?;
        self.remove_range(Which::Memory, max_addr, size, Growth::Forbid)?;
        self.remove_range(Which::Reserved, max_addr, size, Growth::Forbid)
    }

    /// Keep only `[base, base + size)` of memory, except NOMAP regions, and
    /// drop reservations outside it (memblock_cap_memory_range). On error
    /// nothing is removed.
    pub fn cap_memory_range(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        let size = cap_size(base.0, size_bytes);
        if size == 0 {
            return Ok(());
        }
        if self.memory.total_size == 0 {
            self.dbg(format_args!("memblock_cap_memory_range: No memory registered yet"));
            return Ok(());
        }
        let end = base.0 + size;
        self.make_room(Which::Memory, 2, base.0, size)?;
        self.make_room(Which::Reserved, 3, base.0, size)?;
        let (start_rgn, end_rgn) = self.isolate_range(Which::Memory, base.0, size, Growth::Forbid)?;
        for i in (end_rgn..self.memory.cnt).rev() {
            if !self.memory.slots()[i].flags.contains(MemblockFlags::NOMAP) {
                self.memory.remove_region(i);
            }
        }
        for i in (0..start_rgn).rev() {
            if !self.memory.slots()[i].flags.contains(MemblockFlags::NOMAP) {
                self.memory.remove_region(i);
            }
        }
        self.remove_range(Which::Reserved, 0, base.0, Growth::Forbid)?;
        self.remove_range(Which::Reserved, end, PHYS_ADDR_MAX - end, Growth::Forbid)
    }

    /// arm64's `mem=` (memblock_mem_limit_remove_map): like
    /// [`enforce_memory_limit`](Self::enforce_memory_limit) but NOMAP regions
    /// above the limit stay, so that firmware tables in them remain known.
    pub fn mem_limit_remove_map(&mut self, limit_bytes: u64) -> Result<(), Error> {
        if limit_bytes == 0 {
            return Ok(());
        }
        match self.find_max_addr(limit_bytes) {
            Some(max_addr) => self.cap_memory_range(PhysAddr(0), max_addr),
            None => Ok(()),
        }
    }

    // ----- reserved --------------------------------------------------------

    /// Mark `[base, base + size)` as in use (memblock_reserve).
    #[track_caller]
    pub fn reserve(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_reserve", base, size_bytes, Caller::here());
        self.add_range(Which::Reserved, base.0, size_bytes, NUMA_NO_NODE, MemblockFlags::NONE, Growth::Allow)
    }

    /// Reserve with a node and flags (__memblock_reserve).
    #[track_caller]
    pub fn reserve_flags(
        &mut self,
        base: PhysAddr,
        size_bytes: u64,
        nid: NodeId,
        flags: MemblockFlags,
    ) -> Result<(), Error> {
        if self.debug.is_some() {
            let end = incl_end(base, size_bytes);
            self.dbg(format_args!(
                "__memblock_reserve: [{:#018x}-{:#018x}] nid={} flags={:x} {}",
                base.0,
                end,
                nid,
                flags.bits(),
                Caller::here()
            ));
        }
        self.add_range(Which::Reserved, base.0, size_bytes, nid, flags, Growth::Allow)
    }

    /// Give back a reservation or allocation (memblock_phys_free).
    #[track_caller]
    pub fn free(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_phys_free", base, size_bytes, Caller::here());
        self.remove_range(Which::Reserved, base.0, size_bytes, Growth::Allow)
    }

    /// memblock_reserved_mark_noinit.
    #[track_caller]
    pub fn reserved_mark_noinit(&mut self, base: PhysAddr, size_bytes: u64) -> Result<(), Error> {
        self.dbg_range("memblock_reserved_mark_noinit", base, size_bytes, Caller::here());
        self.setclr_flag(Which::Reserved, base.0, size_bytes, FlagChange::Set, MemblockFlags::RSRV_NOINIT)
    }

    // ----- allocation ------------------------------------------------------

    /// Allocate below `current_limit` from any node (memblock_phys_alloc).
    #[track_caller]
    pub fn phys_alloc(&mut self, size_bytes: u64, align_bytes: u64) -> Result<PhysAddr, Error> {
        self.phys_alloc_range(size_bytes, align_bytes, PhysAddr(0), MEMBLOCK_ALLOC_ACCESSIBLE)
    }

    /// Allocate in `[start, end)` (memblock_phys_alloc_range). `end` may be
    /// [`MEMBLOCK_ALLOC_ACCESSIBLE`] (up to `current_limit`) or
    /// [`MEMBLOCK_ALLOC_ANYWHERE`]; an explicit `end` is not clipped to
    /// `current_limit`.
    #[track_caller]
    pub fn phys_alloc_range(
        &mut self,
        size_bytes: u64,
        align_bytes: u64,
        start: PhysAddr,
        end: PhysAddr,
    ) -> Result<PhysAddr, Error> {
        if self.debug.is_some() {
            self.dbg(format_args!(
                "memblock_phys_alloc_range: {} bytes align={:#x} from={:#018x} max_addr={:#018x} {}",
                size_bytes,
                align_bytes,
                start.0,
                end.0,
                Caller::here()
            ));
        }
        let align = check_alloc_args(size_bytes, align_bytes)?;
        self.alloc_range_nid(size_bytes, align, start.0, end.0, NUMA_NO_NODE, NodeFallback::AnyNode)
    }

    /// Allocate below `current_limit`, preferably on `nid`
    /// (memblock_phys_alloc_try_nid).
    #[track_caller]
    pub fn phys_alloc_try_nid(&mut self, size_bytes: u64, align_bytes: u64, nid: NodeId) -> Result<PhysAddr, Error> {
        if self.debug.is_some() {
            self.dbg(format_args!(
                "memblock_phys_alloc_try_nid: {} bytes align={:#x} nid={} {}",
                size_bytes,
                align_bytes,
                nid,
                Caller::here()
            ));
        }
        let align = check_alloc_args(size_bytes, align_bytes)?;
        self.alloc_range_nid(size_bytes, align, 0, MEMBLOCK_ALLOC_ACCESSIBLE.0, nid, NodeFallback::AnyNode)
    }

    /// memblock_alloc_try_nid, returning the physical address: allocate in
    /// `[min_addr, max_addr)` (clipped to `current_limit`), on `nid` if it can
    /// and else on any node; if that fails and `min_addr` is not 0, retry
    /// from 0.
    #[track_caller]
    pub fn alloc_try_nid(
        &mut self,
        size_bytes: u64,
        align_bytes: u64,
        min_addr: PhysAddr,
        max_addr: PhysAddr,
        nid: NodeId,
    ) -> Result<PhysAddr, Error> {
        self.dbg_alloc("memblock_alloc_try_nid", size_bytes, align_bytes, nid, min_addr, max_addr, Caller::here());
        let align = check_alloc_args(size_bytes, align_bytes)?;
        self.alloc_internal(size_bytes, align, min_addr.0, max_addr.0, nid, NodeFallback::AnyNode)
    }

    /// Like [`alloc_try_nid`](Self::alloc_try_nid) but never from another
    /// node (memblock_alloc_exact_nid_raw).
    #[track_caller]
    pub fn alloc_exact_nid(
        &mut self,
        size_bytes: u64,
        align_bytes: u64,
        min_addr: PhysAddr,
        max_addr: PhysAddr,
        nid: NodeId,
    ) -> Result<PhysAddr, Error> {
        self.dbg_alloc(
            "memblock_alloc_exact_nid_raw",
            size_bytes,
            align_bytes,
            nid,
            min_addr,
            max_addr,
            Caller::here(),
        );
        let align = check_alloc_args(size_bytes, align_bytes)?;
        self.alloc_internal(size_bytes, align, min_addr.0, max_addr.0, nid, NodeFallback::ExactNode)
    }

    // ----- iteration -------------------------------------------------------

    /// Free ranges (memory minus reserved) in ascending order, as
    /// `(start, end, nid)` (for_each_free_mem_range). `nid` filters unless it
    /// is not a valid node; `flags` admits NOMAP / DRIVER_MANAGED memory or
    /// asks for MIRROR memory only, as in Linux's should_skip_region.
    pub fn for_each_free_mem_range(&self, nid: NodeId, flags: MemblockFlags) -> MemRangeIter<'_> {
        MemRangeIter::new(&self.memory, Some(&self.reserved), nid, flags, AllocDirection::BottomUp)
    }

    /// [`for_each_free_mem_range`](Self::for_each_free_mem_range) in
    /// descending order (for_each_free_mem_range_reverse).
    pub fn for_each_free_mem_range_reverse(&self, nid: NodeId, flags: MemblockFlags) -> MemRangeIter<'_> {
        MemRangeIter::new(&self.memory, Some(&self.reserved), nid, flags, AllocDirection::TopDown)
    }

    /// Memory regions that belong in the linear map: all but NOMAP
    /// (for_each_mem_range).
    pub fn for_each_mem_range(&self) -> MemRangeIter<'_> {
        let flags = MemblockFlags::HOTPLUG | MemblockFlags::DRIVER_MANAGED;
        MemRangeIter::new(&self.memory, None, NUMA_NO_NODE, flags, AllocDirection::BottomUp)
    }

    /// [`for_each_mem_range`](Self::for_each_mem_range), descending.
    pub fn for_each_mem_range_rev(&self) -> MemRangeIter<'_> {
        let flags = MemblockFlags::HOTPLUG | MemblockFlags::DRIVER_MANAGED;
        MemRangeIter::new(&self.memory, None, NUMA_NO_NODE, flags, AllocDirection::TopDown)
    }

    /// Whole pages of each memory region, as `(start_pfn, end_pfn, nid)`
    /// (for_each_mem_pfn_range); regions without a whole page are skipped.
    pub fn for_each_mem_pfn_range(&self, nid: NodeId) -> impl Iterator<Item = (Pfn, Pfn, NodeId)> + '_ {
        self.memory.regions().iter().filter_map(move |r| {
            let start = r.base.0.div_ceil(PAGE_SIZE);
            let end = r.end_u64() >> PAGE_SHIFT;
            let wanted = !nid.is_valid() || nid == r.nid;
            (start < end && wanted).then_some((Pfn(start), Pfn(end), r.nid))
        })
    }

    // ----- queries ---------------------------------------------------------

    /// Bytes of memory (memblock_phys_mem_size).
    pub fn phys_mem_size(&self) -> u64 {
        self.memory.total_size
    }

    /// Bytes reserved (memblock_reserved_size).
    pub fn reserved_size(&self) -> u64 {
        self.reserved.total_size
    }

    /// Lowest memory address, 0 without memory (memblock_start_of_DRAM).
    pub fn start_of_dram(&self) -> PhysAddr {
        self.memory.regions().first().map_or(PhysAddr(0), |r| r.base)
    }

    /// End of the highest memory region, 0 without memory
    /// (memblock_end_of_DRAM).
    pub fn end_of_dram(&self) -> PhysAddr {
        self.memory.regions().last().map_or(PhysAddr(0), |r| r.end())
    }

    /// memblock_is_memory.
    pub fn is_memory(&self, addr: PhysAddr) -> bool {
        self.memory.search(addr.0).is_some()
    }

    /// memblock_is_reserved.
    pub fn is_reserved(&self, addr: PhysAddr) -> bool {
        self.reserved.search(addr.0).is_some()
    }

    /// Memory that is not NOMAP (memblock_is_map_memory).
    pub fn is_map_memory(&self, addr: PhysAddr) -> bool {
        self.memory.search(addr.0).is_some_and(|i| !self.memory.slots()[i].flags.contains(MemblockFlags::NOMAP))
    }

    /// Whether the range lies inside one memory region
    /// (memblock_is_region_memory).
    pub fn is_region_memory(&self, base: PhysAddr, size_bytes: u64) -> bool {
        let end = base.0 + cap_size(base.0, size_bytes);
        self.memory.search(base.0).is_some_and(|i| self.memory.slots()[i].end_u64() >= end)
    }

    /// Whether the range intersects a reservation
    /// (memblock_is_region_reserved).
    pub fn is_region_reserved(&self, base: PhysAddr, size_bytes: u64) -> bool {
        self.reserved.overlaps(base.0, size_bytes)
    }

    /// Print the arrays as Linux's __memblock_dump_all does.
    pub fn dump(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.dump_lines(|line| {
            out.write_fmt(line)?;
            out.write_char('\n')
        })
    }

    /// Send the dump to the debug log if it is on (memblock_dump_all).
    pub fn dump_all(&self) {
        if let Some(log) = self.debug {
            // The log sink cannot fail.
            let _ = self.dump_lines(|line| {
                log(line);
                Ok(())
            });
        }
    }

    fn dump_lines(&self, mut emit: impl FnMut(fmt::Arguments<'_>) -> fmt::Result) -> fmt::Result {
        emit(format_args!("MEMBLOCK configuration:"))?;
        emit(format_args!(
            " memory size = {:#018x} reserved size = {:#018x}",
            self.memory.total_size, self.reserved.total_size
        ))?;
        for t in [&self.memory, &self.reserved] {
            emit(format_args!(" {}.cnt  = {:#x}", t.name, t.cnt))?;
            for (idx, r) in t.regions().iter().enumerate() {
                let end = r.end_u64() - 1;
                if r.nid.is_valid() {
                    emit(format_args!(
                        " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes on node {} flags: {:#x}",
                        t.name,
                        idx,
                        r.base.0,
                        end,
                        r.size,
                        r.nid,
                        r.flags.bits()
                    ))?;
                } else {
                    emit(format_args!(
                        " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes flags: {:#x}",
                        t.name,
                        idx,
                        r.base.0,
                        end,
                        r.size,
                        r.flags.bits()
                    ))?;
                }
            }
        }
        Ok(())
    }

    // ----- internals: debug ------------------------------------------------

    fn dbg(&self, args: fmt::Arguments<'_>) {
        if let Some(log) = self.debug {
            log(args);
        }
    }

    fn dbg_range(&self, func: &str, base: PhysAddr, size: u64, caller: Caller) {
        if self.debug.is_some() {
            let end = incl_end(base, size);
            self.dbg(format_args!("{func}: [{:#018x}-{:#018x}] {caller}", base.0, end));
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one line of Linux's memblock_dbg format")]
    fn dbg_alloc(
        &self,
        func: &str,
        size: u64,
        align: u64,
        nid: NodeId,
        min_addr: PhysAddr,
        max_addr: PhysAddr,
        caller: Caller,
    ) {
        if self.debug.is_some() {
            self.dbg(format_args!(
                "{func}: {size} bytes align={align:#x} nid={nid} from={:#018x} max_addr={:#018x} {caller}",
                min_addr.0, max_addr.0
            ));
        }
    }

    // ----- internals: arrays -----------------------------------------------

    fn ty(&self, which: Which) -> &MemblockType {
        match which {
            Which::Memory => &self.memory,
            Which::Reserved => &self.reserved,
        }
    }

    fn ty_mut(&mut self, which: Which) -> &mut MemblockType {
        match which {
            Which::Memory => &mut self.memory,
            Which::Reserved => &mut self.reserved,
        }
    }

    /// memblock_add_range.
    fn add_range(
        &mut self,
        which: Which,
        base: u64,
        size: u64,
        nid: NodeId,
        flags: MemblockFlags,
        growth: Growth,
    ) -> Result<(), Error> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok(());
        }
        let end = base + size;
        loop {
            let t = self.ty(which);
            let nr_new = t.count_holes(base, end);
            if nr_new == 0 {
                return Ok(());
            }
            let needed = t.cnt + nr_new;
            if needed <= t.max() {
                break;
            }
            self.grow(which, needed, base, size, growth)?;
        }
        self.ty_mut(which).insert_holes(base, end, nid, flags);
        Ok(())
    }

    /// Make sure `which` has `extra` free slots.
    fn make_room(&mut self, which: Which, extra: usize, base: u64, size: u64) -> Result<(), Error> {
        loop {
            let t = self.ty(which);
            let needed = t.cnt + extra;
            if needed <= t.max() {
                return Ok(());
            }
            self.grow(which, needed, base, size, Growth::Allow)?;
        }
    }

    /// memblock_isolate_range on `which`, growing it first if need be.
    fn isolate_range(&mut self, which: Which, base: u64, size: u64, growth: Growth) -> Result<(usize, usize), Error> {
        let size = cap_size(base, size);
        if size == 0 {
            return Ok((0, 0));
        }
        match growth {
            Growth::Allow => self.make_room(which, 2, base, size)?,
            Growth::Forbid => {
                let t = self.ty(which);
                assert!(t.cnt + 2 <= t.max(), "memblock: no room left in the {} array", t.name);
            }
        }
        Ok(self.ty_mut(which).isolate(base, base + size))
    }

    /// memblock_remove_range.
    fn remove_range(&mut self, which: Which, base: u64, size: u64, growth: Growth) -> Result<(), Error> {
        let (start_rgn, end_rgn) = self.isolate_range(which, base, size, growth)?;
        let t = self.ty_mut(which);
        for i in (start_rgn..end_rgn).rev() {
            t.remove_region(i);
        }
        Ok(())
    }

    /// memblock_setclr_flag.
    fn setclr_flag(
        &mut self,
        which: Which,
        base: u64,
        size: u64,
        change: FlagChange,
        flag: MemblockFlags,
    ) -> Result<(), Error> {
        let (start_rgn, end_rgn) = self.isolate_range(which, base, size, Growth::Allow)?;
        let t = self.ty_mut(which);
        for r in &mut t.slots_mut()[start_rgn..end_rgn] {
            match change {
                FlagChange::Set => r.flags.insert(flag),
                FlagChange::Clear => r.flags.remove(flag),
            }
        }
        t.merge_regions(start_rgn, end_rgn);
        Ok(())
    }

    /// __find_max_addr: the address below which `limit` bytes of memory lie.
    fn find_max_addr(&self, limit: u64) -> Option<u64> {
        let mut limit = limit;
        for r in self.memory.regions() {
            if limit <= r.size {
                return Some(r.base.0 + limit);
            }
            limit -= r.size;
        }
        None
    }

    // ----- internals: growth -------------------------------------------------

    /// memblock_double_array: give `which` at least `needed` slots, never
    /// placing a new array in `[avoid_base, avoid_base + avoid_size)`.
    ///
    /// Everything that can fail happens before the first change, so on error
    /// both arrays are exactly as they were.
    fn grow(
        &mut self,
        which: Which,
        needed: usize,
        avoid_base: u64,
        avoid_size: u64,
        growth: Growth,
    ) -> Result<(), Error> {
        let t = self.ty(which);
        let (name, old_max) = (t.name, t.max());
        if growth == Growth::Forbid {
            panic!("memblock: {name} array ran out of room while growing");
        }
        // `reserved` must also hold its new array and drop the old one.
        let headroom = if which == Which::Reserved { RESERVED_GROWTH_HEADROOM } else { 0 };
        let new_max = grown_capacity(old_max, needed + headroom);
        let bytes = array_bytes(new_max);

        let mut exclude = Exclusions::NONE;
        exclude.push(avoid_base, avoid_base + avoid_size);
        for t in [&self.memory, &self.reserved] {
            if let Some((phys, len)) = t.array_range() {
                exclude.push(phys.0, phys.0 + len);
            }
        }
        let Some(mapper) = self.array_mapper else {
            return Err(self.grow_failed(name, old_max, new_max));
        };
        let Some(addr) = self.find_array_space(bytes, avoid_base, avoid_size, &exclude) else {
            return Err(self.grow_failed(name, old_max, new_max));
        };

        // Recording the new `memory` array and dropping its old one takes up
        // to two `reserved` slots; if they are not there, grow both at once.
        let mut reserved_plan = None;
        if which == Which::Memory && self.reserved.cnt + 2 > self.reserved.max() {
            let r_old = self.reserved.max();
            let r_max = grown_capacity(r_old, self.reserved.cnt + RESERVED_GROWTH_HEADROOM);
            let r_bytes = array_bytes(r_max);
            exclude.push(addr, addr + bytes);
            let Some(r_addr) = self.find_array_space(r_bytes, avoid_base, avoid_size, &exclude) else {
                return Err(self.grow_failed(self.reserved.name, r_old, r_max));
            };
            reserved_plan = Some((r_addr, r_bytes, r_old, r_max));
        }

        let Some(regions) = map_array(mapper, addr, bytes, new_max) else {
            return Err(self.grow_failed(name, old_max, new_max));
        };
        let reserved_regions = match reserved_plan {
            Some((r_addr, r_bytes, r_old, r_max)) => match map_array(mapper, r_addr, r_bytes, r_max) {
                Some(r_regions) => Some((r_regions, r_addr, r_bytes, r_max)),
                None => return Err(self.grow_failed(self.reserved.name, r_old, r_max)),
            },
            None => None,
        };

        // Commit: nothing below can fail.
        let old = self.ty_mut(which).install(regions, addr, bytes);
        self.dbg_doubled(name, new_max, addr);
        let mut old_reserved = None;
        let mut new_reserved = None;
        if let Some((r_regions, r_addr, r_bytes, r_max)) = reserved_regions {
            old_reserved = self.reserved.install(r_regions, r_addr, r_bytes);
            self.dbg_doubled(self.reserved.name, r_max, r_addr);
            new_reserved = Some((r_addr, r_bytes));
        }
        for (phys, len) in [old, old_reserved].into_iter().flatten() {
            self.remove_range(Which::Reserved, phys, len, Growth::Forbid)?;
        }
        for (phys, len) in [new_reserved, Some((addr, bytes))].into_iter().flatten() {
            self.add_range(Which::Reserved, phys, len, NUMA_NO_NODE, MemblockFlags::NONE, Growth::Forbid)?;
        }
        Ok(())
    }

    fn grow_failed(&self, name: &str, old_max: usize, new_max: usize) -> Error {
        self.dbg(format_args!("memblock: Failed to double {name} array from {old_max} to {new_max} entries !"));
        Error::NoMemory
    }

    fn dbg_doubled(&self, name: &str, new_max: usize, addr: u64) {
        let new_end = addr + (new_max * size_of::<MemblockRegion>()) as u64 - 1;
        self.dbg(format_args!("memblock: {name} is doubled to {new_max} at [{addr:#018x}-{new_end:#018x}]"));
    }

    /// Where a new array of `bytes` may go: above the avoided range first,
    /// then below it, always below `current_limit`.
    fn find_array_space(&self, bytes: u64, avoid_base: u64, avoid_size: u64, exclude: &Exclusions) -> Option<u64> {
        let limit = self.current_limit.0;
        self.find_in_range(avoid_base + avoid_size, limit, bytes, PAGE_SIZE, exclude).or_else(|| {
            (avoid_size != 0).then(|| self.find_in_range(0, avoid_base.min(limit), bytes, PAGE_SIZE, exclude)).flatten()
        })
    }

    // ----- internals: allocation ---------------------------------------------

    /// choose_memblock_flags.
    fn choose_flags(&self) -> MemblockFlags {
        if self.has_mirror { MemblockFlags::MIRROR } else { MemblockFlags::NONE }
    }

    /// memblock_find_in_range: any node, mirrored memory first if any.
    fn find_in_range(&self, start: u64, end: u64, size: u64, align: u64, exclude: &Exclusions) -> Option<u64> {
        let flags = self.choose_flags();
        self.find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags, exclude).or_else(|| {
            flags.contains(MemblockFlags::MIRROR).then(|| {
                let flags = flags - MemblockFlags::MIRROR;
                self.find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags, exclude)
            })?
        })
    }

    /// memblock_find_in_range_node: a free, `align`ed block of `size` bytes in
    /// `[start, end)`, outside `exclude`.
    #[expect(clippy::too_many_arguments, reason = "memblock_find_in_range_node plus the exclusions")]
    fn find_in_range_node(
        &self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: NodeId,
        flags: MemblockFlags,
        exclude: &Exclusions,
    ) -> Option<u64> {
        let end = if end == MEMBLOCK_ALLOC_ACCESSIBLE.0 { self.current_limit.0 } else { end };
        // Never hand out the first page: Linux keeps 0 as its failure value
        // and so raises the lower bound, whatever the direction.
        let start = start.max(PAGE_SIZE);
        let end = end.max(start);
        let ranges = MemRangeIter::new(&self.memory, Some(&self.reserved), nid, flags, self.direction);
        for (this_start, this_end, _) in ranges {
            let this_start = this_start.0.clamp(start, end);
            let this_end = this_end.0.clamp(start, end);
            let (pieces, n) = exclude.pieces(this_start, this_end);
            let found = match self.direction {
                AllocDirection::BottomUp => pieces[..n].iter().find_map(|&(s, e)| fit_bottom_up(s, e, size, align)),
                AllocDirection::TopDown => pieces[..n].iter().rev().find_map(|&(s, e)| fit_top_down(s, e, size, align)),
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// memblock_alloc_range_nid.
    fn alloc_range_nid(
        &mut self,
        size: u64,
        align: u64,
        start: u64,
        end: u64,
        nid: NodeId,
        fallback: NodeFallback,
    ) -> Result<PhysAddr, Error> {
        if self.retired {
            return Err(Error::Busy);
        }
        let mut flags = self.choose_flags();
        loop {
            if let Some(found) = self.find_in_range_node(size, align, start, end, nid, flags, &Exclusions::NONE)
                && self.reserve_found(found, size)
            {
                return Ok(PhysAddr(found));
            }
            if nid.is_valid()
                && fallback == NodeFallback::AnyNode
                && let Some(found) =
                    self.find_in_range_node(size, align, start, end, NUMA_NO_NODE, flags, &Exclusions::NONE)
                && self.reserve_found(found, size)
            {
                return Ok(PhysAddr(found));
            }
            if !flags.contains(MemblockFlags::MIRROR) {
                return Err(Error::NoMemory);
            }
            flags.remove(MemblockFlags::MIRROR);
        }
    }

    fn reserve_found(&mut self, found: u64, size: u64) -> bool {
        self.add_range(Which::Reserved, found, size, NUMA_NO_NODE, MemblockFlags::NONE, Growth::Allow).is_ok()
    }

    /// memblock_alloc_internal.
    fn alloc_internal(
        &mut self,
        size: u64,
        align: u64,
        min_addr: u64,
        max_addr: u64,
        nid: NodeId,
        fallback: NodeFallback,
    ) -> Result<PhysAddr, Error> {
        let max_addr = max_addr.min(self.current_limit.0);
        match self.alloc_range_nid(size, align, min_addr, max_addr, nid, fallback) {
            Err(_) if min_addr != 0 => self.alloc_range_nid(size, align, 0, max_addr, nid, fallback),
            result => result,
        }
    }
}

/// Linux prints ranges with an inclusive end: `base + size - 1`.
fn incl_end(base: PhysAddr, size: u64) -> u64 {
    base.0.wrapping_add(size).wrapping_sub(1)
}

/// Size 0 is refused; alignment 0 means `SMP_CACHE_BYTES`; any other
/// alignment must be a power of two.
fn check_alloc_args(size: u64, align: u64) -> Result<u64, Error> {
    let align = if align == 0 { SMP_CACHE_BYTES } else { align };
    if size == 0 || !align.is_power_of_two() {
        return Err(Error::InvalidArgument);
    }
    Ok(align)
}

fn map_array(mapper: ArrayMapper, phys: u64, bytes: u64, slots: usize) -> Option<&'static mut [MemblockRegion]> {
    let regions = mapper(PhysAddr(phys), usize::try_from(bytes).ok()?)?;
    if regions.len() < slots {
        return None;
    }
    Some(&mut regions[..slots])
}

/// Walks `memory` (`a`), optionally minus `reserved` (`b`), in either
/// direction (__next_mem_range and __next_mem_range_rev), skipping memory
/// regions as should_skip_region does.
///
/// With an exclusion array `b`, `idx_b` numbers the gaps of `b`: gap `i` runs
/// from the end of `b[i - 1]` (or 0) to the base of `b[i]` (or the top of the
/// address space). Both arrays are sorted, so the two indices advance in
/// lockstep and every intersection of a region of `a` with a gap of `b` comes
/// out once. Yields `(start, end, nid)`.
pub struct MemRangeIter<'a> {
    a: &'a [MemblockRegion],
    b: Option<&'a [MemblockRegion]>,
    nid: NodeId,
    flags: MemblockFlags,
    direction: AllocDirection,
    idx_a: isize,
    idx_b: isize,
}

impl<'a> MemRangeIter<'a> {
    fn new(
        a: &'a MemblockType,
        b: Option<&'a MemblockType>,
        nid: NodeId,
        flags: MemblockFlags,
        direction: AllocDirection,
    ) -> Self {
        let a = a.regions();
        let b = b.map(MemblockType::regions);
        let (idx_a, idx_b) = match direction {
            AllocDirection::BottomUp => (0, 0),
            AllocDirection::TopDown => (a.len() as isize - 1, b.map_or(0, |b| b.len() as isize)),
        };
        Self { a, b, nid, flags, direction, idx_a, idx_b }
    }

    /// should_skip_region.
    fn should_skip_region(&self, m: &MemblockRegion) -> bool {
        if self.nid.is_valid() && self.nid != m.nid {
            return true;
        }
        if self.flags.contains(MemblockFlags::MIRROR) && !m.flags.contains(MemblockFlags::MIRROR) {
            return true;
        }
        if !self.flags.contains(MemblockFlags::NOMAP) && m.flags.contains(MemblockFlags::NOMAP) {
            return true;
        }
        !self.flags.contains(MemblockFlags::DRIVER_MANAGED) && m.flags.contains(MemblockFlags::DRIVER_MANAGED)
    }

    /// Gap `i` of `b`.
    fn gap(b: &[MemblockRegion], i: isize) -> (u64, u64) {
        let i = i as usize;
        let start = if i > 0 { b[i - 1].end_u64() } else { 0 };
        let end = if i < b.len() { b[i].base.0 } else { PHYS_ADDR_MAX };
        (start, end)
    }

    fn next_up(&mut self) -> Option<(u64, u64, NodeId)> {
        while (self.idx_a as usize) < self.a.len() {
            let m = self.a[self.idx_a as usize];
            let (m_start, m_end) = (m.base.0, m.end_u64());
            if self.should_skip_region(&m) {
                self.idx_a += 1;
                continue;
            }
            let Some(b) = self.b else {
                self.idx_a += 1;
                return Some((m_start, m_end, m.nid));
            };
            while self.idx_b as usize <= b.len() {
                let (r_start, r_end) = Self::gap(b, self.idx_b);
                if r_start >= m_end {
                    break;
                }
                if m_start < r_end {
                    // Advance whichever ends first.
                    if m_end <= r_end {
                        self.idx_a += 1;
                    } else {
                        self.idx_b += 1;
                    }
                    return Some((m_start.max(r_start), m_end.min(r_end), m.nid));
                }
                self.idx_b += 1;
            }
            self.idx_a += 1;
        }
        None
    }

    fn next_down(&mut self) -> Option<(u64, u64, NodeId)> {
        while self.idx_a >= 0 {
            let m = self.a[self.idx_a as usize];
            let (m_start, m_end) = (m.base.0, m.end_u64());
            if self.should_skip_region(&m) {
                self.idx_a -= 1;
                continue;
            }
            let Some(b) = self.b else {
                self.idx_a -= 1;
                return Some((m_start, m_end, m.nid));
            };
            while self.idx_b >= 0 {
                let (r_start, r_end) = Self::gap(b, self.idx_b);
                if r_end <= m_start {
                    break;
                }
                if m_end > r_start {
                    // Step back whichever starts last.
                    if m_start >= r_start {
                        self.idx_a -= 1;
                    } else {
                        self.idx_b -= 1;
                    }
                    return Some((m_start.max(r_start), m_end.min(r_end), m.nid));
                }
                self.idx_b -= 1;
            }
            self.idx_a -= 1;
        }
        None
    }
}

impl Iterator for MemRangeIter<'_> {
    type Item = (PhysAddr, PhysAddr, NodeId);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (start, end, nid) = match self.direction {
                AllocDirection::BottomUp => self.next_up()?,
                AllocDirection::TopDown => self.next_down()?,
            };
            // Two touching reservations leave an empty gap between them;
            // Linux yields it, nobody wants it.
            if start < end {
                return Some((PhysAddr(start), PhysAddr(end), nid));
            }
        }
    }
}

// The kernel keeps a `Memblock` in a `static spin::Mutex`.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<Memblock>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const G: u64 = 0x4000_0000;
    const M: u64 = 0x10_0000;

    fn pa(addr: u64) -> PhysAddr {
        PhysAddr(addr)
    }

    fn ranges(t: &MemblockType) -> Vec<(u64, u64)> {
        t.regions().iter().map(|r| (r.base.0, r.size)).collect()
    }

    fn snapshot(mb: &Memblock) -> (Vec<MemblockRegion>, Vec<MemblockRegion>) {
        (mb.memory().regions().to_vec(), mb.reserved().regions().to_vec())
    }

    fn free_ranges(mb: &Memblock, nid: NodeId, flags: MemblockFlags) -> Vec<(u64, u64)> {
        mb.for_each_free_mem_range(nid, flags).map(|(s, e, _)| (s.0, e.0)).collect()
    }

    /// Sorted, non-overlapping, non-empty, merged, sizes add up.
    fn check_invariants(mb: &Memblock) {
        for t in [mb.memory(), mb.reserved()] {
            assert!(t.cnt() <= t.max());
            let rs = t.regions();
            let mut sum = 0u64;
            for (i, r) in rs.iter().enumerate() {
                assert!(r.size > 0, "{}[{i}] is empty", t.name());
                assert!(r.base.0.checked_add(r.size).is_some(), "{}[{i}] overflows", t.name());
                sum += r.size;
                if let Some(next) = rs.get(i + 1) {
                    assert!(r.end() <= next.base, "{}[{i}] overlaps or is unsorted", t.name());
                    assert!(
                        r.end() != next.base || !r.mergeable_with(next),
                        "{}[{i}] is not merged with its neighbour",
                        t.name()
                    );
                }
            }
            assert_eq!(sum, t.total_size(), "{} total_size", t.name());
        }
    }

    thread_local! {
        static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        static MAPS: RefCell<Vec<(u64, usize)>> = const { RefCell::new(Vec::new()) };
    }

    fn log_to_vec(args: fmt::Arguments<'_>) {
        LOG.with(|l| l.borrow_mut().push(args.to_string()));
    }

    fn take_log() -> Vec<String> {
        LOG.with(|l| core::mem::take(&mut *l.borrow_mut()))
    }

    fn take_maps() -> Vec<(u64, usize)> {
        MAPS.with(|m| core::mem::take(&mut *m.borrow_mut()))
    }

    /// Stands in for the kernel's linear map: every array gets fresh leaked
    /// memory, and the request is recorded.
    fn arena_mapper(phys: PhysAddr, bytes: usize) -> Option<&'static mut [MemblockRegion]> {
        MAPS.with(|m| m.borrow_mut().push((phys.0, bytes)));
        let slots = bytes / size_of::<MemblockRegion>();
        Some(Box::leak(vec![MemblockRegion::EMPTY; slots].into_boxed_slice()))
    }

    fn refusing_mapper(_: PhysAddr, _: usize) -> Option<&'static mut [MemblockRegion]> {
        None
    }

    fn short_mapper(_: PhysAddr, _: usize) -> Option<&'static mut [MemblockRegion]> {
        Some(Box::leak(vec![MemblockRegion::EMPTY; 4].into_boxed_slice()))
    }

    /// `n` one-page regions one page apart from `base`, so none merge.
    fn add_scattered(mb: &mut Memblock, base: u64, n: u64) {
        for i in 0..n {
            mb.add(pa(base + i * 0x2000), 0x1000).unwrap();
        }
    }

    fn reserve_scattered(mb: &mut Memblock, base: u64, n: u64) {
        for i in 0..n {
            mb.reserve(pa(base + i * 0x2000), 0x1000).unwrap();
        }
    }

    static STATIC_MEMBLOCK: Memblock = Memblock::new();

    #[test]
    fn new_memblock_is_empty() {
        let mb = &STATIC_MEMBLOCK;
        assert_eq!(mb.memory().cnt(), 0);
        assert_eq!(mb.memory().max(), INIT_MEMBLOCK_REGIONS);
        assert_eq!(mb.memory().name(), "memory");
        assert_eq!(mb.reserved().name(), "reserved");
        assert_eq!(mb.phys_mem_size(), 0);
        assert_eq!(mb.reserved_size(), 0);
        assert_eq!(mb.start_of_dram(), pa(0));
        assert_eq!(mb.end_of_dram(), pa(0));
        assert_eq!(mb.direction(), AllocDirection::TopDown);
        assert_eq!(mb.current_limit(), MEMBLOCK_ALLOC_ANYWHERE);
        assert!(mb.memory().array_range().is_none());
        assert!(!mb.is_memory(pa(0)));
        assert_eq!(mb.for_each_free_mem_range(NUMA_NO_NODE, MemblockFlags::NONE).count(), 0);
        assert_eq!(mb.for_each_free_mem_range_reverse(NUMA_NO_NODE, MemblockFlags::NONE).count(), 0);
    }

    #[test]
    fn add_disjoint_regions_stay_sorted() {
        let mut mb = Memblock::new();
        mb.add(pa(0x3000), 0x1000).unwrap();
        mb.add(pa(0x8000), 0x1000).unwrap();
        mb.add(pa(0x1000), 0x1000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0x1000, 0x1000), (0x3000, 0x1000), (0x8000, 0x1000)]);
        assert_eq!(mb.phys_mem_size(), 0x3000);
        assert_eq!(mb.memory().regions()[0].nid, NodeId::UNSET);
        check_invariants(&mb);
    }

    #[test]
    fn add_adjacent_regions_merge() {
        let mut mb = Memblock::new();
        mb.add(pa(0x1000), 0x1000).unwrap();
        mb.add(pa(0x3000), 0x1000).unwrap();
        mb.add(pa(0x2000), 0x1000).unwrap();
        mb.add(pa(0x0), 0x1000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0, 0x4000)]);
        assert_eq!(mb.phys_mem_size(), 0x4000);
        check_invariants(&mb);
    }

    #[test]
    fn add_overlapping_regions_merge_without_double_counting() {
        let mut mb = Memblock::new();
        mb.add(pa(0x1000), 0x2000).unwrap();
        mb.add(pa(0x2000), 0x2000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0x1000, 0x3000)]);
        mb.add(pa(0x0), 0x8000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0, 0x8000)]);
        assert_eq!(mb.phys_mem_size(), 0x8000);
        check_invariants(&mb);
    }

    #[test]
    fn add_inside_existing_region_keeps_its_attributes() {
        let mut mb = Memblock::new();
        mb.add_node(pa(0x1000), 0x4000, NodeId(1), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x2000), 0x1000, NodeId(2), MemblockFlags::NOMAP).unwrap();
        assert_eq!(
            mb.memory().regions(),
            [MemblockRegion { base: pa(0x1000), size: 0x4000, flags: MemblockFlags::NONE, nid: NodeId(1) }]
        );
    }

    #[test]
    fn add_across_several_regions_inserts_only_the_holes() {
        let mut mb = Memblock::new();
        for base in [0x1000, 0x3000, 0x5000] {
            mb.add_node(pa(base), 0x1000, NodeId(0), MemblockFlags::NONE).unwrap();
        }
        mb.add_node(pa(0), 0x8000, NodeId(1), MemblockFlags::NONE).unwrap();
        let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid.0)).collect();
        assert_eq!(
            got,
            [
                (0x0, 0x1000, 1),
                (0x1000, 0x1000, 0),
                (0x2000, 0x1000, 1),
                (0x3000, 0x1000, 0),
                (0x4000, 0x1000, 1),
                (0x5000, 0x1000, 0),
                (0x6000, 0x2000, 1),
            ]
        );
        assert_eq!(mb.phys_mem_size(), 0x8000);
        check_invariants(&mb);

        // Same attributes: the holes fill and everything becomes one region.
        let mut mb = Memblock::new();
        add_scattered(&mut mb, 0x1000, 3);
        mb.add(pa(0), 0x8000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0, 0x8000)]);
        check_invariants(&mb);
    }

    #[test]
    fn different_flags_or_nodes_do_not_merge() {
        let mut mb = Memblock::new();
        mb.add_node(pa(0x0), 0x1000, NodeId(0), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x1000), 0x1000, NodeId(1), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x2000), 0x1000, NodeId(1), MemblockFlags::HOTPLUG).unwrap();
        mb.add_node(pa(0x3000), 0x1000, NodeId(1), MemblockFlags::HOTPLUG).unwrap();
        mb.add(pa(0x4000), 0x1000).unwrap();
        mb.add_node(pa(0x5000), 0x1000, NUMA_NO_NODE, MemblockFlags::NONE).unwrap();
        assert_eq!(
            ranges(mb.memory()),
            [(0, 0x1000), (0x1000, 0x1000), (0x2000, 0x2000), (0x4000, 0x1000), (0x5000, 0x1000)]
        );
        check_invariants(&mb);
    }

    #[test]
    fn zero_size_requests_change_nothing() {
        let mut mb = Memblock::new();
        mb.add(pa(0x1000), 0).unwrap();
        mb.reserve(pa(0x1000), 0).unwrap();
        assert_eq!(mb.memory().cnt() + mb.reserved().cnt(), 0);
        mb.add(pa(0x1000), 0x3000).unwrap();
        mb.reserve(pa(0x2000), 0x1000).unwrap();
        let before = snapshot(&mb);
        mb.remove(pa(0x2000), 0).unwrap();
        mb.free(pa(0x2000), 0).unwrap();
        mb.mark_nomap(pa(0x2000), 0).unwrap();
        mb.set_node(pa(0x2000), 0, NodeId(3)).unwrap();
        mb.cap_memory_range(pa(0x2000), 0).unwrap();
        assert_eq!(snapshot(&mb), before);
    }

    #[test]
    fn ranges_past_u64_max_are_clipped() {
        let mut mb = Memblock::new();
        let top = u64::MAX - 0xfff;
        mb.add(pa(top), 0x10000).unwrap();
        assert_eq!(ranges(mb.memory()), [(top, 0xfff)]);
        assert_eq!(mb.end_of_dram(), pa(u64::MAX));
        // Starting at the last byte leaves nothing.
        mb.add(pa(u64::MAX), 5).unwrap();
        assert_eq!(mb.memory().cnt(), 1);
        mb.reserve(pa(u64::MAX - 0x7ff), u64::MAX).unwrap();
        assert_eq!(ranges(mb.reserved()), [(u64::MAX - 0x7ff, 0x7ff)]);
        mb.remove(pa(u64::MAX - 0x800), u64::MAX).unwrap();
        assert_eq!(ranges(mb.memory()), [(top, 0x7ff)]);
        assert!(mb.is_region_memory(pa(top), 0x7ff));
        assert!(!mb.is_region_memory(pa(top), u64::MAX));
        assert!(mb.is_region_reserved(pa(u64::MAX - 0x10), u64::MAX));
        mb.set_node(pa(0), u64::MAX, NodeId(0)).unwrap();
        assert_eq!(mb.memory().regions()[0].nid, NodeId(0));
        check_invariants(&mb);
    }

    #[test]
    fn remove_in_the_middle_splits_the_region() {
        let mut mb = Memblock::new();
        mb.add_node(pa(0x10000), 0x10000, NodeId(2), MemblockFlags::HOTPLUG).unwrap();
        mb.remove(pa(0x14000), 0x4000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0x10000, 0x4000), (0x18000, 0x8000)]);
        assert!(mb.memory().regions().iter().all(|r| r.nid == NodeId(2) && r.flags == MemblockFlags::HOTPLUG));
        assert_eq!(mb.phys_mem_size(), 0xc000);
        check_invariants(&mb);
    }

    #[test]
    fn remove_at_the_edges_shrinks_the_region() {
        let mut mb = Memblock::new();
        mb.add(pa(0x10000), 0x10000).unwrap();
        mb.remove(pa(0x8000), 0x9000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0x11000, 0xf000)]);
        mb.remove(pa(0x1f000), 0x8000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0x11000, 0xe000)]);
        mb.remove(pa(0x11000), 0xe000).unwrap();
        assert_eq!(mb.memory().cnt(), 0);
        assert_eq!(mb.phys_mem_size(), 0);
        check_invariants(&mb);
    }

    #[test]
    fn remove_spanning_several_regions() {
        let mut mb = Memblock::new();
        mb.add_node(pa(0x1000), 0x1000, NodeId(0), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x3000), 0x1000, NodeId(1), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x4000), 0x1000, NodeId(2), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x5000), 0x1000, NodeId(3), MemblockFlags::NONE).unwrap();
        mb.remove(pa(0x1800), 0x4000).unwrap();
        let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid.0)).collect();
        assert_eq!(got, [(0x1000, 0x800, 0), (0x5800, 0x800, 3)]);
        check_invariants(&mb);
    }

    #[test]
    fn remove_of_a_hole_changes_nothing() {
        let mut mb = Memblock::new();
        mb.add(pa(0x1000), 0x1000).unwrap();
        mb.add(pa(0x4000), 0x1000).unwrap();
        mb.remove(pa(0x2000), 0x2000).unwrap();
        mb.remove(pa(0x100000), 0x1000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0x1000, 0x1000), (0x4000, 0x1000)]);
    }

    #[test]
    fn reserve_and_free() {
        let mut mb = Memblock::new();
        mb.add(pa(G), G).unwrap();
        mb.reserve(pa(G), 0x20_0000).unwrap();
        mb.reserve(pa(G + 0x10_0000), 0x20_0000).unwrap();
        mb.reserve(pa(G + 0x100_0000), 0x1000).unwrap();
        assert_eq!(ranges(mb.reserved()), [(G, 0x30_0000), (G + 0x100_0000, 0x1000)]);
        assert_eq!(mb.reserved().regions()[0].nid, NUMA_NO_NODE);
        assert_eq!(mb.reserved_size(), 0x30_1000);
        assert!(mb.is_reserved(pa(G + 0x2f_ffff)));
        assert!(!mb.is_reserved(pa(G + 0x30_0000)));

        mb.free(pa(G + 0x10_0000), 0x1000).unwrap();
        assert_eq!(ranges(mb.reserved()), [(G, 0x10_0000), (G + 0x10_1000, 0x1f_f000), (G + 0x100_0000, 0x1000)]);
        mb.free(pa(G), 0x200_0000).unwrap();
        assert_eq!(mb.reserved().cnt(), 0);
        assert_eq!(mb.reserved_size(), 0);
        // Memory is untouched by reservations.
        assert_eq!(ranges(mb.memory()), [(G, G)]);
        check_invariants(&mb);
    }

    #[test]
    fn reserve_flags_records_node_and_flags() {
        let mut mb = Memblock::new();
        mb.reserve(pa(0x1000), 0x1000).unwrap();
        mb.reserve_flags(pa(0x2000), 0x1000, NodeId(1), MemblockFlags::RSRV_NOINIT).unwrap();
        mb.reserve(pa(0x3000), 0x1000).unwrap();
        assert_eq!(mb.reserved().cnt(), 3);
        assert_eq!(mb.reserved().regions()[1].nid, NodeId(1));
        assert_eq!(mb.reserved().regions()[1].flags, MemblockFlags::RSRV_NOINIT);
        mb.reserved_mark_noinit(pa(0x1000), 0x1000).unwrap();
        assert_eq!(mb.reserved().regions()[0].flags, MemblockFlags::RSRV_NOINIT);
        check_invariants(&mb);
    }

    #[test]
    fn set_node_splits_and_merges() {
        let mut mb = Memblock::new();
        mb.add(pa(0), 0x10000).unwrap();
        mb.set_node(pa(0x4000), 0x4000, NodeId(1)).unwrap();
        let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid)).collect();
        assert_eq!(got, [(0, 0x4000, NodeId::UNSET), (0x4000, 0x4000, NodeId(1)), (0x8000, 0x8000, NodeId::UNSET)]);
        mb.set_node(pa(0), 0x4000, NodeId(1)).unwrap();
        let got: Vec<_> = mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid)).collect();
        assert_eq!(got, [(0, 0x8000, NodeId(1)), (0x8000, 0x8000, NodeId::UNSET)]);
        mb.set_node(pa(0), u64::MAX, NodeId(0)).unwrap();
        assert_eq!(ranges(mb.memory()), [(0, 0x10000)]);
        assert_eq!(mb.memory().regions()[0].nid, NodeId(0));
        check_invariants(&mb);
    }

    #[test]
    fn mark_nomap_splits_and_clear_nomap_merges_back() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 0x10_0000).unwrap();
        mb.mark_nomap(pa(G + 0x1000), 0x2000).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, 0x1000), (G + 0x1000, 0x2000), (G + 0x3000, 0xf_d000)]);
        assert_eq!(mb.memory().regions()[1].flags, MemblockFlags::NOMAP);
        assert!(mb.is_memory(pa(G + 0x1000)));
        assert!(!mb.is_map_memory(pa(G + 0x1000)));
        assert!(mb.is_map_memory(pa(G + 0x3000)));
        // A range spanning both kinds is not inside one region.
        assert!(!mb.is_region_memory(pa(G), 0x2000));
        mb.clear_nomap(pa(G), 0x10_0000).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, 0x10_0000)]);
        assert_eq!(mb.memory().regions()[0].flags, MemblockFlags::NONE);
        mb.mark_hotplug(pa(G), 0x1000).unwrap();
        mb.clear_hotplug(pa(G), 0x1000).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, 0x10_0000)]);
        check_invariants(&mb);
    }

    #[test]
    fn free_ranges_skip_reserved_and_nomap() {
        let mut mb = Memblock::new();
        mb.add(pa(0x10000), 0x10000).unwrap();
        mb.reserve(pa(0x12000), 0x1000).unwrap();
        mb.mark_nomap(pa(0x18000), 0x1000).unwrap();
        let fwd = free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::NONE);
        assert_eq!(fwd, [(0x10000, 0x12000), (0x13000, 0x18000), (0x19000, 0x20000)]);
        let mut rev: Vec<_> =
            mb.for_each_free_mem_range_reverse(NUMA_NO_NODE, MemblockFlags::NONE).map(|(s, e, _)| (s.0, e.0)).collect();
        rev.reverse();
        assert_eq!(rev, fwd);
        // Asking for NOMAP memory explicitly includes it.
        assert_eq!(
            free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::NOMAP),
            [(0x10000, 0x12000), (0x13000, 0x18000), (0x18000, 0x19000), (0x19000, 0x20000)]
        );
        let mapped: Vec<_> = mb.for_each_mem_range().map(|(s, e, _)| (s.0, e.0)).collect();
        assert_eq!(mapped, [(0x10000, 0x18000), (0x19000, 0x20000)]);
        let mut mapped_rev: Vec<_> = mb.for_each_mem_range_rev().map(|(s, e, _)| (s.0, e.0)).collect();
        mapped_rev.reverse();
        assert_eq!(mapped_rev, mapped);
    }

    #[test]
    fn free_ranges_filter_by_node_and_mirror() {
        let mut mb = Memblock::new();
        mb.add_node(pa(0x10000), 0x10000, NodeId(0), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x20000), 0x10000, NodeId(1), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x30000), 0x10000, NodeId(1), MemblockFlags::DRIVER_MANAGED).unwrap();
        mb.reserve(pa(0x1f000), 0x2000).unwrap();
        let node1: Vec<_> = mb.for_each_free_mem_range(NodeId(1), MemblockFlags::NONE).collect();
        assert_eq!(node1, [(pa(0x21000), pa(0x30000), NodeId(1))]);
        assert_eq!(free_ranges(&mb, NodeId::UNSET, MemblockFlags::NONE), [(0x10000, 0x1f000), (0x21000, 0x30000)]);
        assert_eq!(
            free_ranges(&mb, NodeId(1), MemblockFlags::DRIVER_MANAGED),
            [(0x21000, 0x30000), (0x30000, 0x40000)]
        );
        mb.mark_mirror(pa(0x10000), 0x1000).unwrap();
        assert_eq!(free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::MIRROR), [(0x10000, 0x11000)]);
    }

    #[test]
    fn free_ranges_never_yield_the_empty_gap_between_touching_reservations() {
        let mut mb = Memblock::new();
        mb.add(pa(0x10000), 0x10000).unwrap();
        mb.reserve(pa(0x12000), 0x1000).unwrap();
        mb.reserve_flags(pa(0x13000), 0x1000, NUMA_NO_NODE, MemblockFlags::RSRV_NOINIT).unwrap();
        assert_eq!(mb.reserved().cnt(), 2);
        let fwd = free_ranges(&mb, NUMA_NO_NODE, MemblockFlags::NONE);
        assert_eq!(fwd, [(0x10000, 0x12000), (0x14000, 0x20000)]);
        assert_eq!(mb.for_each_free_mem_range_reverse(NUMA_NO_NODE, MemblockFlags::NONE).count(), 2);
    }

    #[test]
    fn mem_pfn_ranges_round_inwards() {
        let mut mb = Memblock::new();
        mb.add_node(pa(0x800), 0x2000, NodeId(0), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x10800), 0x400, NodeId(0), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(0x20000), 0x3000, NodeId(1), MemblockFlags::NONE).unwrap();
        let all: Vec<_> = mb.for_each_mem_pfn_range(NUMA_NO_NODE).collect();
        assert_eq!(all, [(Pfn(1), Pfn(2), NodeId(0)), (Pfn(0x20), Pfn(0x23), NodeId(1))]);
        let node1: Vec<_> = mb.for_each_mem_pfn_range(NodeId(1)).collect();
        assert_eq!(node1, [(Pfn(0x20), Pfn(0x23), NodeId(1))]);
    }

    #[test]
    fn trim_memory_shrinks_regions_and_drops_vanished_ones() {
        let mut mb = Memblock::new();
        mb.add(pa(0x1800), 0x3000).unwrap(); // -> [0x2000, 0x4000)
        mb.add(pa(0x6100), 0x800).unwrap(); // vanishes
        mb.add(pa(0x8000), 0x2000).unwrap(); // already aligned
        mb.add(pa(u64::MAX - 0x7ff), 0x800).unwrap(); // cannot round up
        mb.trim_memory(0x1000).unwrap();
        assert_eq!(ranges(mb.memory()), [(0x2000, 0x2000), (0x8000, 0x2000)]);
        assert_eq!(mb.phys_mem_size(), 0x4000);
        check_invariants(&mb);
        assert_eq!(mb.trim_memory(0), Err(Error::InvalidArgument));
        assert_eq!(mb.trim_memory(0x1800), Err(Error::InvalidArgument));
    }

    #[test]
    fn enforce_memory_limit_in_one_region() {
        let mut mb = Memblock::new();
        mb.add(pa(G), G).unwrap();
        mb.reserve(pa(G + 0x800_0000), 0x1000).unwrap();
        mb.enforce_memory_limit(0x400_0000).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, 0x400_0000)]);
        assert_eq!(mb.reserved().cnt(), 0);
        check_invariants(&mb);
    }

    #[test]
    fn enforce_memory_limit_across_regions_truncates_reservations() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 256 * M).unwrap();
        mb.add(pa(2 * G), 512 * M).unwrap();
        mb.add(pa(3 * G), 512 * M).unwrap();
        mb.reserve(pa(G), M).unwrap();
        mb.reserve(pa(2 * G + 100 * M), M).unwrap();
        mb.reserve(pa(2 * G + 199 * M), 3 * M).unwrap();
        mb.reserve(pa(2 * G + 300 * M), M).unwrap();
        mb.reserve(pa(3 * G), M).unwrap();
        mb.enforce_memory_limit(456 * M).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, 256 * M), (2 * G, 200 * M)]);
        assert_eq!(ranges(mb.reserved()), [(G, M), (2 * G + 100 * M, M), (2 * G + 199 * M, M)]);
        assert_eq!(mb.phys_mem_size(), 456 * M);
        check_invariants(&mb);
    }

    #[test]
    fn enforce_memory_limit_of_zero_or_more_than_memory_does_nothing() {
        let mut mb = Memblock::new();
        mb.add(pa(G), G).unwrap();
        mb.reserve(pa(2 * G + M), M).unwrap();
        let before = snapshot(&mb);
        mb.enforce_memory_limit(0).unwrap();
        mb.enforce_memory_limit(G + 1).unwrap();
        mb.enforce_memory_limit(u64::MAX).unwrap();
        mb.mem_limit_remove_map(0).unwrap();
        mb.mem_limit_remove_map(2 * G).unwrap();
        assert_eq!(snapshot(&mb), before);
        // A limit of exactly the memory size still drops reservations past
        // the end of memory, as Linux's does.
        mb.enforce_memory_limit(G).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, G)]);
        assert_eq!(mb.reserved().cnt(), 0);
    }

    #[test]
    fn enforce_memory_limit_counts_nomap_memory_like_linux() {
        // __find_max_addr walks every memory region, NOMAP ones included.
        let mut mb = Memblock::new();
        mb.add(pa(G), 16 * M).unwrap();
        mb.mark_nomap(pa(G), 4 * M).unwrap();
        mb.enforce_memory_limit(8 * M).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, 4 * M), (G + 4 * M, 4 * M)]);
    }

    #[test]
    fn mem_limit_remove_map_keeps_nomap_regions_above_the_limit() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 16 * M).unwrap();
        mb.mark_nomap(pa(G + 12 * M), M).unwrap();
        mb.reserve(pa(G + 14 * M), M).unwrap();
        mb.mem_limit_remove_map(8 * M).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, 8 * M), (G + 12 * M, M)]);
        assert_eq!(mb.memory().regions()[1].flags, MemblockFlags::NOMAP);
        assert_eq!(mb.reserved().cnt(), 0);
        check_invariants(&mb);
    }

    #[test]
    fn cap_memory_range_keeps_only_the_window() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 16 * M).unwrap();
        mb.add(pa(2 * G), 16 * M).unwrap();
        mb.mark_nomap(pa(G), M).unwrap();
        mb.reserve(pa(G + 2 * M), 4 * M).unwrap();
        mb.reserve(pa(2 * G), M).unwrap();
        mb.cap_memory_range(pa(G + 4 * M), 4 * M).unwrap();
        assert_eq!(ranges(mb.memory()), [(G, M), (G + 4 * M, 4 * M)]);
        assert_eq!(ranges(mb.reserved()), [(G + 4 * M, 2 * M)]);
        check_invariants(&mb);
        // Without memory it only warns.
        let mut empty = Memblock::new();
        empty.reserve(pa(G), M).unwrap();
        empty.cap_memory_range(pa(2 * G), M).unwrap();
        assert_eq!(ranges(empty.reserved()), [(G, M)]);
    }

    #[test]
    fn queries_answer_like_linux() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 16 * M).unwrap();
        mb.add(pa(2 * G), 16 * M).unwrap();
        mb.reserve(pa(G + M), M).unwrap();
        assert_eq!(mb.start_of_dram(), pa(G));
        assert_eq!(mb.end_of_dram(), pa(2 * G + 16 * M));
        assert_eq!(mb.phys_mem_size(), 32 * M);
        assert_eq!(mb.reserved_size(), M);
        assert!(mb.is_memory(pa(G)));
        assert!(mb.is_memory(pa(G + 16 * M - 1)));
        assert!(!mb.is_memory(pa(G + 16 * M)));
        assert!(!mb.is_memory(pa(0)));
        assert!(mb.is_region_memory(pa(G), 16 * M));
        assert!(!mb.is_region_memory(pa(G), 16 * M + 1));
        assert!(!mb.is_region_memory(pa(G - 1), 2));
        assert!(mb.is_region_reserved(pa(G), M + 1));
        assert!(!mb.is_region_reserved(pa(G), M));
        assert!(mb.is_region_reserved(pa(G + 2 * M - 1), 1));
        assert!(!mb.is_region_reserved(pa(G + 2 * M), M));
        assert!(mb.is_map_memory(pa(2 * G)));
        assert!(!mb.is_map_memory(pa(0)));
    }

    // ----- allocation --------------------------------------------------------

    fn one_gig() -> Memblock {
        let mut mb = Memblock::new();
        mb.add(pa(G), G).unwrap();
        mb
    }

    #[test]
    fn alloc_is_top_down_by_default() {
        let mut mb = one_gig();
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(2 * G - 0x1000)));
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(2 * G - 0x2000)));
        assert_eq!(mb.phys_alloc(0x100, 0x10000), Ok(pa(2 * G - 0x10000)));
        assert_eq!(ranges(mb.reserved()), [(2 * G - 0x10000, 0x100), (2 * G - 0x2000, 0x2000)]);
        assert_eq!(mb.reserved().regions()[1].nid, NUMA_NO_NODE);
        check_invariants(&mb);
    }

    #[test]
    fn alloc_bottom_up_on_request() {
        let mut mb = one_gig();
        mb.set_direction(AllocDirection::BottomUp);
        assert!(mb.bottom_up());
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G)));
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + 0x1000)));
        assert_eq!(mb.phys_alloc(0x1000, 0x10000), Ok(pa(G + 0x10000)));
        assert_eq!(mb.phys_alloc(0xe000, 0x1000), Ok(pa(G + 0x2000)));
        assert_eq!(ranges(mb.reserved()), [(G, 0x11000)]);
    }

    #[test]
    fn alloc_alignment_zero_means_cache_line_and_bad_arguments_are_refused() {
        let mut mb = one_gig();
        mb.set_direction(AllocDirection::BottomUp);
        mb.reserve(pa(G), 1).unwrap();
        assert_eq!(mb.phys_alloc(8, 0), Ok(pa(G + SMP_CACHE_BYTES)));
        let before = snapshot(&mb);
        assert_eq!(mb.phys_alloc(8, 3), Err(Error::InvalidArgument));
        assert_eq!(mb.phys_alloc(0, 8), Err(Error::InvalidArgument));
        assert_eq!(mb.alloc_try_nid(8, 0x300, pa(0), pa(0), NUMA_NO_NODE), Err(Error::InvalidArgument));
        assert_eq!(snapshot(&mb), before);
    }

    #[test]
    fn alloc_never_hands_out_the_first_page() {
        let mut mb = Memblock::new();
        mb.add(pa(0), 0x4000).unwrap();
        mb.set_direction(AllocDirection::BottomUp);
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(0x1000)));
        let mut low = Memblock::new();
        low.add(pa(0), 0x1000).unwrap();
        assert_eq!(low.phys_alloc(0x100, 0x100), Err(Error::NoMemory));
        low.set_direction(AllocDirection::BottomUp);
        assert_eq!(low.phys_alloc(0x100, 0x100), Err(Error::NoMemory));
        assert_eq!(low.reserved().cnt(), 0);
    }

    #[test]
    fn alloc_respects_bounds_and_current_limit() {
        let mut mb = one_gig();
        assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, pa(G + M), pa(G + 2 * M)), Ok(pa(G + 2 * M - 0x1000)));
        mb.set_current_limit(pa(G + M));
        assert_eq!(mb.current_limit(), pa(G + M));
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + M - 0x1000)));
        assert_eq!(mb.phys_alloc_try_nid(0x1000, 0x1000, NUMA_NO_NODE), Ok(pa(G + M - 0x2000)));
        // memblock_alloc_try_nid clips max_addr to the limit...
        assert_eq!(
            mb.alloc_try_nid(0x1000, 0x1000, pa(0), MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE),
            Ok(pa(G + M - 0x3000))
        );
        // ...memblock_phys_alloc_range with an explicit end does not.
        assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, pa(0), MEMBLOCK_ALLOC_ANYWHERE), Ok(pa(2 * G - 0x1000)));
        mb.set_direction(AllocDirection::BottomUp);
        assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(G + 0x5000), pa(0), NUMA_NO_NODE), Ok(pa(G + 0x5000)));
        // Nothing left between the bounds.
        let before = snapshot(&mb);
        assert_eq!(mb.phys_alloc_range(0x2000, 0x1000, pa(G + 0x5000), pa(G + 0x6000)), Err(Error::NoMemory));
        assert_eq!(snapshot(&mb), before);
        check_invariants(&mb);
    }

    #[test]
    fn retired_memblock_refuses_allocations() {
        let mut mb = Memblock::new();
        mb.add(PhysAddr(0x4000_0000), 0x100_0000).unwrap();
        let before: Vec<_> = mb.reserved().regions().to_vec();
        mb.retire();
        assert!(mb.is_retired());
        assert_eq!(mb.phys_alloc(4096, 4096), Err(Error::Busy));
        assert_eq!(mb.phys_alloc_range(4096, 4096, PhysAddr(0), PhysAddr(u64::MAX)), Err(Error::Busy));
        assert_eq!(mb.alloc_try_nid(4096, 4096, PhysAddr(0), PhysAddr(u64::MAX), NUMA_NO_NODE), Err(Error::Busy));
        assert_eq!(mb.reserved().regions(), &before[..]);
        // Queries still work.
        assert_eq!(mb.phys_mem_size(), 0x100_0000);
    }

    #[test]
    fn alloc_try_nid_retries_without_min_addr() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 0x10000).unwrap();
        assert_eq!(mb.phys_alloc_range(0x1000, 0x1000, pa(2 * G), MEMBLOCK_ALLOC_ANYWHERE), Err(Error::NoMemory));
        assert_eq!(
            mb.alloc_try_nid(0x1000, 0x1000, pa(2 * G), MEMBLOCK_ALLOC_ANYWHERE, NUMA_NO_NODE),
            Ok(pa(G + 0xf000))
        );
    }

    #[test]
    fn alloc_prefers_the_node_then_falls_back() {
        let mut mb = Memblock::new();
        mb.add_node(pa(G), 16 * M, NodeId(0), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(G + 16 * M), 16 * M, NodeId(1), MemblockFlags::NONE).unwrap();
        assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(0)), Ok(pa(G + 16 * M - 0x1000)));
        assert_eq!(mb.phys_alloc_try_nid(0x1000, 0x1000, NodeId(1)), Ok(pa(G + 32 * M - 0x1000)));
        assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(0)), Ok(pa(G + 16 * M - 0x2000)));
        // Fill node 1: the next request for it lands on node 0.
        mb.reserve(pa(G + 16 * M), 16 * M).unwrap();
        assert_eq!(mb.alloc_try_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(1)), Ok(pa(G + 16 * M - 0x3000)));
        let before = snapshot(&mb);
        assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(1)), Err(Error::NoMemory));
        assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId(7)), Err(Error::NoMemory));
        assert_eq!(snapshot(&mb), before);
        // An invalid node id means any node.
        assert_eq!(mb.alloc_exact_nid(0x1000, 0x1000, pa(0), pa(0), NodeId::UNSET), Ok(pa(G + 16 * M - 0x4000)));
    }

    #[test]
    fn alloc_never_straddles_two_memory_regions() {
        let mut mb = Memblock::new();
        mb.add_node(pa(G), 0x2000, NodeId(0), MemblockFlags::NONE).unwrap();
        mb.add_node(pa(G + 0x2000), 0x2000, NodeId(1), MemblockFlags::NONE).unwrap();
        assert_eq!(mb.phys_alloc(0x3000, 0x1000), Err(Error::NoMemory));
        assert_eq!(mb.phys_alloc(0x2000, 0x1000), Ok(pa(G + 0x2000)));
    }

    #[test]
    fn alloc_skips_nomap_and_driver_managed_memory() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 0x4000).unwrap();
        mb.add_node(pa(G + 0x4000), 0x4000, NodeId::UNSET, MemblockFlags::DRIVER_MANAGED).unwrap();
        mb.mark_nomap(pa(G + 0x2000), 0x2000).unwrap();
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + 0x1000)));
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G)));
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Err(Error::NoMemory));
    }

    #[test]
    fn alloc_failure_changes_nothing() {
        let mut mb = one_gig();
        mb.reserve(pa(G), G - 0x1000).unwrap();
        let before = snapshot(&mb);
        assert_eq!(mb.phys_alloc(0x2000, 0x1000), Err(Error::NoMemory));
        assert_eq!(mb.alloc_try_nid(0x2000, 0x1000, pa(G), pa(0), NodeId(0)), Err(Error::NoMemory));
        assert_eq!(snapshot(&mb), before);
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(2 * G - 0x1000)));
        assert_eq!(mb.phys_alloc(1, 1), Err(Error::NoMemory));
    }

    #[test]
    fn alloc_prefers_mirrored_memory_once_some_is_marked() {
        let mut mb = one_gig();
        mb.mark_mirror(pa(G), M).unwrap();
        assert!(mb.has_mirror());
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Ok(pa(G + M - 0x1000)));
        // Too big for what is left of the mirror: any memory will do.
        assert_eq!(mb.phys_alloc(2 * M, 0x1000), Ok(pa(2 * G - 2 * M)));
    }

    // ----- growth ------------------------------------------------------------

    #[test]
    fn memory_array_grows_past_128_regions() {
        let _ = take_maps();
        let mut mb = Memblock::new();
        mb.set_array_mapper(Some(arena_mapper));
        mb.add(pa(G), 16 * M).unwrap();
        add_scattered(&mut mb, 2 * G, 199);
        assert_eq!(mb.memory().cnt(), 200);
        assert_eq!(mb.memory().max(), 256);
        let bytes = array_bytes(256);
        assert_eq!(bytes, 0x2000);
        // Top-down: the 8 KiB array goes to the top of the big region, the
        // one-page regions being too small.
        assert_eq!(mb.memory().array_range(), Some((pa(G + 16 * M - bytes), bytes)));
        assert_eq!(take_maps(), [(G + 16 * M - bytes, bytes as usize)]);
        assert_eq!(ranges(mb.reserved()), [(G + 16 * M - bytes, bytes)]);
        assert_eq!(mb.memory().regions()[0].base, pa(G));
        for i in 0..199 {
            assert_eq!(mb.memory().regions()[i as usize + 1].base, pa(2 * G + i * 0x2000));
        }
        check_invariants(&mb);

        // Again past 256: the 256-slot array is freed, the 512-slot one kept.
        add_scattered(&mut mb, 3 * G, 100);
        assert_eq!(mb.memory().cnt(), 300);
        assert_eq!(mb.memory().max(), 512);
        let (phys, len) = mb.memory().array_range().unwrap();
        assert_eq!(len, array_bytes(512));
        assert_eq!(ranges(mb.reserved()), [(phys.0, len)]);
        assert!(phys.0 + len <= G + 16 * M - bytes);
        assert_eq!(mb.phys_mem_size(), 16 * M + 299 * 0x1000);
        check_invariants(&mb);
    }

    #[test]
    fn reserved_array_grows_and_reserves_itself() {
        let mut mb = Memblock::new();
        mb.set_array_mapper(Some(arena_mapper));
        mb.add(pa(G), 16 * M).unwrap();
        reserve_scattered(&mut mb, G, 300);
        assert!(mb.reserved().max() >= 301);
        let (phys, len) = mb.reserved().array_range().unwrap();
        let user: Vec<(u64, u64)> = (0..300).map(|i| (G + i * 0x2000, 0x1000)).collect();
        let mut expected = user.clone();
        expected.push((phys.0, len));
        expected.sort();
        assert_eq!(ranges(mb.reserved()), expected);
        assert_eq!(mb.reserved_size(), 300 * 0x1000 + len);
        check_invariants(&mb);
        // Freeing everything the user reserved leaves only the array.
        mb.free(pa(G), phys.0 - G).unwrap();
        assert_eq!(ranges(mb.reserved()), [(phys.0, len)]);
    }

    #[test]
    fn growing_memory_also_grows_a_full_reserved_array() {
        let mut mb = Memblock::new();
        mb.set_array_mapper(Some(arena_mapper));
        mb.add(pa(G), 16 * M).unwrap();
        reserve_scattered(&mut mb, G, 128);
        assert_eq!(mb.reserved().cnt(), 128);
        add_scattered(&mut mb, 2 * G, 128);
        assert_eq!(mb.memory().cnt(), 129);
        let (mphys, mlen) = mb.memory().array_range().unwrap();
        let (rphys, rlen) = mb.reserved().array_range().unwrap();
        assert!(mphys.0 + mlen <= rphys.0 || rphys.0 + rlen <= mphys.0);
        assert!(mb.is_region_reserved(mphys, mlen) && mb.is_region_reserved(rphys, rlen));
        assert_eq!(mb.reserved().cnt(), 128 + 1);
        assert_eq!(mb.reserved_size(), 128 * 0x1000 + mlen + rlen);
        for i in 0..128 {
            assert!(mb.is_reserved(pa(G + i * 0x2000)));
            assert!(!mb.is_reserved(pa(G + i * 0x2000 + 0x1000)));
        }
        check_invariants(&mb);
    }

    #[test]
    fn grown_array_avoids_the_range_being_inserted_or_removed() {
        // Reserve at the very top of memory, where top-down would put the
        // new reserved array.
        let mut mb = Memblock::new();
        mb.set_array_mapper(Some(arena_mapper));
        mb.add(pa(G), 2 * M).unwrap();
        reserve_scattered(&mut mb, G, 128);
        let top = G + 2 * M - 0x4000;
        mb.reserve(pa(top), 0x4000).unwrap();
        let (phys, len) = mb.reserved().array_range().unwrap();
        assert_eq!((phys.0, len), (top - len, len));
        check_invariants(&mb);

        // Remove the top of memory while the memory array is full.
        let mut mb = Memblock::new();
        mb.set_array_mapper(Some(arena_mapper));
        mb.add(pa(G), M).unwrap();
        add_scattered(&mut mb, 2 * G, 127);
        assert_eq!(mb.memory().cnt(), 128);
        mb.remove(pa(G + M - 0x8000), 0x8000).unwrap();
        let (phys, len) = mb.memory().array_range().unwrap();
        assert_eq!(phys.0, G + M - 0x8000 - len);
        assert!(mb.is_region_memory(phys, len));
        assert_eq!(ranges(mb.reserved()), [(phys.0, len)]);
        check_invariants(&mb);
    }

    #[test]
    fn growth_without_a_mapper_fails_and_changes_nothing() {
        let mut mb = Memblock::new();
        mb.add(pa(G), 16 * M).unwrap();
        add_scattered(&mut mb, 2 * G, 127);
        reserve_scattered(&mut mb, G, 128);
        assert_eq!((mb.memory().cnt(), mb.reserved().cnt()), (128, 128));
        mb.set_debug(Some(log_to_vec));
        let _ = take_log();
        let before = snapshot(&mb);
        let fail = Err(Error::NoMemory);
        assert_eq!(mb.add(pa(3 * G), 0x1000), fail);
        // Linux counts the hole before merging, so even a filling add fails.
        assert_eq!(mb.add(pa(2 * G + 0x1000), 0x1000), fail);
        assert_eq!(mb.reserve(pa(G + 0x1000), 0x1000), fail);
        assert_eq!(mb.free(pa(G + 0x400), 0x100), fail);
        assert_eq!(mb.mark_nomap(pa(G + 0x1000), 0x1000), fail);
        assert_eq!(mb.set_node(pa(G), M, NodeId(1)), fail);
        // memblock_isolate_range wants two spare slots even for a hole.
        assert_eq!(mb.remove(pa(3 * G), 0x1000), fail);
        assert_eq!(mb.enforce_memory_limit(M), fail);
        assert_eq!(mb.phys_alloc(0x1000, 0x1000).map(|_| ()), fail);
        assert_eq!(snapshot(&mb), before);
        // What needs no new slot still works.
        assert_eq!(mb.add(pa(2 * G), 0x1000), Ok(()));
        assert_eq!(mb.reserve(pa(G), 0x1000), Ok(()));
        assert_eq!(snapshot(&mb), before);
        let log = take_log();
        for name in ["memory", "reserved"] {
            let line = format!("memblock: Failed to double {name} array from 128 to 256 entries !");
            assert!(log.contains(&line), "{log:?}");
        }
        check_invariants(&mb);
    }

    #[test]
    fn growth_fails_cleanly_when_the_mapper_or_memory_gives_out() {
        for mapper in [refusing_mapper as ArrayMapper, short_mapper] {
            let mut mb = Memblock::new();
            mb.set_array_mapper(Some(mapper));
            mb.add(pa(G), 16 * M).unwrap();
            reserve_scattered(&mut mb, G, 128);
            let before = snapshot(&mb);
            assert_eq!(mb.reserve(pa(2 * G), 0x1000), Err(Error::NoMemory));
            assert_eq!(snapshot(&mb), before);
            assert!(mb.reserved().array_range().is_none());
        }
        // A mapper, but only single free pages: no room for an 8 KiB array.
        let mut mb = Memblock::new();
        mb.set_array_mapper(Some(arena_mapper));
        mb.add(pa(G), M).unwrap();
        reserve_scattered(&mut mb, G, 128);
        add_scattered(&mut mb, 2 * G, 127);
        let before = snapshot(&mb);
        assert_eq!(mb.reserve(pa(2 * G), 0x1000), Err(Error::NoMemory));
        assert_eq!(mb.phys_alloc(0x1000, 0x1000), Err(Error::NoMemory));
        assert_eq!(mb.add(pa(3 * G), 0x1000), Err(Error::NoMemory));
        assert_eq!(snapshot(&mb), before);
        assert!(mb.memory().array_range().is_none() && mb.reserved().array_range().is_none());
    }

    // ----- debug output --------------------------------------------------------

    #[test]
    fn debug_lines_follow_linux_format_with_the_callers_location() {
        let mut mb = Memblock::new();
        mb.set_debug(Some(log_to_vec));
        let _ = take_log();
        let at = |line: u32| format!("{}:{}", file!(), line);

        let (r, l) = (mb.add(pa(G), G), line!());
        r.unwrap();
        let (r, l2) = (mb.reserve(pa(G), 0x20_0000), line!());
        r.unwrap();
        let (n1, nomap, z, any) = (NodeId(1), MemblockFlags::NOMAP, pa(0), NUMA_NO_NODE);
        let (r, l3) = (mb.add_node(pa(2 * G), G, n1, nomap), line!());
        r.unwrap();
        let (r, l4) = (mb.free(pa(G), 0x1000), line!());
        r.unwrap();
        let (r, l5) = (mb.alloc_try_nid(4096, 0x1000, z, z, any), line!());
        r.unwrap();
        let (r, l6) = (mb.phys_alloc(4096, 0x1000), line!());
        r.unwrap();
        let (r, l7) = (mb.set_node(pa(G), 0x1000, NodeId(0)), line!());
        r.unwrap();
        let (r, l8) = (mb.remove(pa(3 * G), 0), line!());
        r.unwrap();
        assert_eq!(
            take_log(),
            [
                format!("memblock_add: [0x0000000040000000-0x000000007fffffff] {}", at(l)),
                format!("memblock_reserve: [0x0000000040000000-0x00000000401fffff] {}", at(l2)),
                format!("memblock_add_node: [0x0000000080000000-0x00000000bfffffff] nid=1 flags=4 {}", at(l3)),
                format!("memblock_phys_free: [0x0000000040000000-0x0000000040000fff] {}", at(l4)),
                format!(
                    "memblock_alloc_try_nid: 4096 bytes align=0x1000 nid=-1 from=0x0000000000000000 max_addr=0x0000000000000000 {}",
                    at(l5)
                ),
                format!(
                    "memblock_phys_alloc_range: 4096 bytes align=0x1000 from=0x0000000000000000 max_addr=0x0000000000000000 {}",
                    at(l6)
                ),
                format!("memblock_set_node: [0x0000000040000000-0x0000000040000fff] nid=0 {}", at(l7)),
                // Linux prints base + size - 1 even for an empty range.
                format!("memblock_remove: [0x00000000c0000000-0x00000000bfffffff] {}", at(l8)),
            ]
        );
    }

    #[test]
    fn debug_lines_report_growth() {
        let mut mb = Memblock::new();
        mb.set_array_mapper(Some(arena_mapper));
        mb.add(pa(G), 16 * M).unwrap();
        reserve_scattered(&mut mb, G, 128);
        mb.set_debug(Some(log_to_vec));
        let _ = take_log();
        mb.reserve(pa(2 * G), 0x1000).unwrap();
        let log = take_log();
        let (phys, _) = mb.reserved().array_range().unwrap();
        let end = phys.0 + 256 * size_of::<MemblockRegion>() as u64 - 1;
        assert_eq!(log.len(), 2, "{log:?}");
        assert_eq!(log[1], format!("memblock: reserved is doubled to 256 at [{:#018x}-{end:#018x}]", phys.0));
    }

    #[test]
    fn no_debug_hook_means_no_lines() {
        let mut mb = Memblock::new();
        let _ = take_log();
        mb.add(pa(G), G).unwrap();
        mb.reserve(pa(G), M).unwrap();
        mb.phys_alloc(0x1000, 0).unwrap();
        mb.dump_all();
        assert!(take_log().is_empty());
    }

    #[test]
    fn dump_matches_linux_layout() {
        let mut mb = Memblock::new();
        mb.add(pa(G), G).unwrap();
        mb.set_node(pa(0), u64::MAX, NodeId(0)).unwrap();
        mb.reserve(pa(G), 0x1000).unwrap();
        mb.reserve_flags(pa(G + 0x1000_0000), 0x2000, NodeId(1), MemblockFlags::RSRV_NOINIT).unwrap();
        let mut out = String::new();
        mb.dump(&mut out).unwrap();
        let expected = "MEMBLOCK configuration:\n \
            memory size = 0x0000000040000000 reserved size = 0x0000000000003000\n \
            memory.cnt  = 0x1\n \
            memory[0x0]\t[0x0000000040000000-0x000000007fffffff], 0x0000000040000000 bytes on node 0 flags: 0x0\n \
            reserved.cnt  = 0x2\n \
            reserved[0x0]\t[0x0000000040000000-0x0000000040000fff], 0x0000000000001000 bytes flags: 0x0\n \
            reserved[0x1]\t[0x0000000050000000-0x0000000050001fff], 0x0000000000002000 bytes on node 1 flags: 0x10\n";
        assert_eq!(out, expected);
        mb.set_debug(Some(log_to_vec));
        let _ = take_log();
        mb.dump_all();
        let lines: Vec<String> = expected.lines().map(String::from).collect();
        assert_eq!(take_log(), lines);
    }

    // ----- randomized, against a model ---------------------------------------------

    /// xorshift64: small, deterministic, good enough to shuffle operations.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn pick<T: Copy>(&mut self, items: &[T]) -> T {
            items[self.below(items.len() as u64) as usize]
        }
    }

    /// Bytes per model unit; all random ranges are whole units.
    const U: u64 = 0x100;
    /// Untouched memory below them where grown arrays find room (128 KiB).
    const ARENA: usize = 512;

    type Attr = Option<(i32, u32)>;

    /// Per-unit truth: which units are memory / reserved, with (nid, flags).
    struct Model {
        mem: Vec<Attr>,
        res: Vec<Attr>,
    }

    impl Model {
        fn new(units: usize) -> Self {
            Self { mem: vec![None; units], res: vec![None; units] }
        }

        /// The regions memblock must hold: maximal runs of equal attributes.
        fn runs(units: &[Attr]) -> Vec<MemblockRegion> {
            let mut out: Vec<MemblockRegion> = Vec::new();
            for (i, attr) in units.iter().enumerate() {
                let Some((nid, flags)) = *attr else { continue };
                let base = i as u64 * U;
                if let Some(last) = out.last_mut()
                    && last.end().0 == base
                    && last.nid == NodeId(nid)
                    && last.flags.bits() == flags
                {
                    last.size += U;
                    continue;
                }
                out.push(MemblockRegion {
                    base: pa(base),
                    size: U,
                    flags: MemblockFlags::from_bits_retain(flags),
                    nid: NodeId(nid),
                });
            }
            out
        }

        fn fill(units: &mut [Attr], b: usize, e: usize, attr: (i32, u32)) {
            for u in &mut units[b..e] {
                u.get_or_insert(attr);
            }
        }

        fn clear(units: &mut [Attr], b: usize, e: usize) {
            units[b..e].fill(None);
        }

        fn holes(units: &[Attr], b: usize, e: usize) -> usize {
            (b..e).filter(|&u| units[u].is_none() && (u == b || units[u - 1].is_some())).count()
        }

        /// Free ranges as Linux defines them: each memory region minus
        /// reserved, NOMAP and DRIVER_MANAGED regions skipped.
        fn free_ranges(&self, nid: NodeId) -> Vec<(u64, u64)> {
            self.free_ranges_in(&Self::runs(&self.mem), nid)
        }

        /// [`free_ranges`](Self::free_ranges) given the memory runs.
        fn free_ranges_in(&self, mem_runs: &[MemblockRegion], nid: NodeId) -> Vec<(u64, u64)> {
            let mut out = Vec::new();
            for r in mem_runs {
                if (nid.is_valid() && r.nid != nid)
                    || r.flags.intersects(MemblockFlags::NOMAP | MemblockFlags::DRIVER_MANAGED)
                {
                    continue;
                }
                let (mut u, end) = ((r.base.0 / U) as usize, (r.end().0 / U) as usize);
                while u < end {
                    if self.res[u].is_some() {
                        u += 1;
                        continue;
                    }
                    let start = u;
                    while u < end && self.res[u].is_none() {
                        u += 1;
                    }
                    out.push((start as u64 * U, u as u64 * U));
                }
            }
            out
        }

        #[expect(clippy::too_many_arguments, reason = "memblock_find_in_range_node's inputs")]
        fn find(
            &self,
            size: u64,
            align: u64,
            start: u64,
            end: u64,
            nid: NodeId,
            dir: AllocDirection,
            limit: u64,
        ) -> Option<u64> {
            let end = if end == 0 { limit } else { end };
            let start = start.max(PAGE_SIZE);
            let end = end.max(start);
            let ranges = self.free_ranges(nid);
            let clamp = |(s, e): (u64, u64)| (s.clamp(start, end), e.clamp(start, end));
            match dir {
                AllocDirection::BottomUp => ranges.into_iter().map(clamp).find_map(|(s, e)| {
                    let cand = s.checked_next_multiple_of(align)?;
                    (cand < e && e - cand >= size).then_some(cand)
                }),
                AllocDirection::TopDown => ranges.into_iter().rev().map(clamp).find_map(|(s, e)| {
                    let cand = e.checked_sub(size)? / align * align;
                    (cand >= s).then_some(cand)
                }),
            }
        }
    }

    /// Like assert_eq! on two lists, but shows only where they first differ.
    fn assert_same<T: PartialEq + fmt::Debug>(what: &str, got: &[T], want: &[T]) {
        if got != want {
            let i = got.iter().zip(want).position(|(g, w)| g != w).unwrap_or(got.len().min(want.len()));
            panic!(
                "{what}: {} entries, expected {}; first difference at {i}: {:?} != {:?}",
                got.len(),
                want.len(),
                got.get(i),
                want.get(i)
            );
        }
    }

    fn check_against_model(mb: &Memblock, model: &Model) {
        check_invariants(mb);
        let mem_runs = Model::runs(&model.mem);
        assert_same("memory", mb.memory().regions(), &mem_runs);
        assert_same("reserved", mb.reserved().regions(), &Model::runs(&model.res));
        for nid in [NUMA_NO_NODE, NodeId(1)] {
            let want = model.free_ranges_in(&mem_runs, nid);
            let got: Vec<_> =
                mb.for_each_free_mem_range(nid, MemblockFlags::NONE).map(|(s, e, _)| (s.0, e.0)).collect();
            assert_same("free ranges", &got, &want);
            let mut rev: Vec<_> =
                mb.for_each_free_mem_range_reverse(nid, MemblockFlags::NONE).map(|(s, e, _)| (s.0, e.0)).collect();
            rev.reverse();
            assert_same("reverse free ranges", &rev, &want);
        }
    }

    /// Replay on the model what growth did to `reserved`: old arrays freed,
    /// new ones reserved, all before the operation's own effect.
    fn apply_growth(
        model: &mut Model,
        before: [Option<(PhysAddr, u64)>; 2],
        after: [Option<(PhysAddr, u64)>; 2],
    ) -> usize {
        let unit = |(p, len): (PhysAddr, u64)| ((p.0 / U) as usize, ((p.0 + len) / U) as usize);
        let mut grown = 0;
        for (old, new) in before.iter().zip(after) {
            if *old != new
                && let Some(old) = *old
            {
                let (b, e) = unit(old);
                Model::clear(&mut model.res, b, e);
            }
        }
        for (old, new) in before.iter().zip(after) {
            if *old != new
                && let Some(new) = new
            {
                let (b, e) = unit(new);
                assert!(model.res[b..e].iter().all(Option::is_none), "array placed on reserved memory");
                assert!(
                    model.mem[b..e].iter().all(|m| m.is_some_and(|(_, f)| f & MemblockFlags::NOMAP.bits() == 0)),
                    "array placed outside mapped memory"
                );
                Model::fill(&mut model.res, b, e, (NUMA_NO_NODE.0, 0));
                grown += 1;
            }
        }
        grown
    }

    fn with_step_context(step: usize, op: u64, check: impl FnOnce()) {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)).is_err() {
            panic!("model check failed after step {step} (op {op})");
        }
    }

    #[derive(Default, Debug)]
    struct Stats {
        ok: usize,
        no_memory: usize,
        grown: usize,
        allocs: usize,
        max_cnt: usize,
    }

    /// `steps` random operations on units `[arena, arena + units)`, checked
    /// against the model after each. Units `[0, arena)` start as memory of
    /// node 3 that only allocations touch, so that arrays can grow.
    fn random_ops(seed: u64, steps: usize, mapper: Option<ArrayMapper>, arena: usize, units: usize) -> Stats {
        let mut rng = XorShift(seed);
        let mut mb = Memblock::new();
        mb.set_array_mapper(mapper);
        let total = arena + units;
        let mut model = Model::new(total);
        if arena > 0 {
            mb.add_node(pa(0), arena as u64 * U, NodeId(3), MemblockFlags::NONE).unwrap();
            Model::fill(&mut model.mem, 0, arena, (3, 0));
        }
        let floor = arena as u64 * U;
        let mut stats = Stats::default();
        let nids = [0, 1, 2, NodeId::UNSET.0];
        let mem_flags =
            [0, 0, 0, MemblockFlags::NOMAP.bits(), MemblockFlags::HOTPLUG.bits(), MemblockFlags::DRIVER_MANAGED.bits()];
        for step in 0..steps {
            let b = arena + rng.below(units as u64) as usize;
            let len = match rng.below(64) {
                0..=3 => 0,
                4 => rng.below(units as u64) as usize,
                5..=12 => 1 + rng.below(32) as usize,
                _ => 1 + rng.below(4) as usize,
            };
            let e = (b + len).min(total);
            let (base, size) = (pa(b as u64 * U), (e - b) as u64 * U);
            let arrays = |mb: &Memblock| [mb.memory().array_range(), mb.reserved().array_range()];
            let arrays_before = arrays(&mb);
            let before = snapshot(&mb);
            let (mem_cnt, mem_max) = (mb.memory().cnt(), mb.memory().max());
            let (res_cnt, res_max) = (mb.reserved().cnt(), mb.reserved().max());
            // Whether an isolate on memory / reserved would need growth.
            let isolate_grows = |cnt: usize, max: usize| size > 0 && cnt + 2 > max;

            let mut op = rng.below(100);
            if op >= 98 && rng.below(4) != 0 {
                // trim_memory and enforce_memory_limit wipe a lot: keep them rare.
                op = 0;
            }
            let (result, needs_growth): (Result<(), Error>, bool) = match op {
                0..=24 => {
                    let nid = rng.pick(&nids);
                    let flags = rng.pick(&mem_flags);
                    let holes = Model::holes(&model.mem, b, e);
                    let r = if nid == NodeId::UNSET.0 && flags == 0 && rng.below(2) == 0 {
                        mb.add(base, size)
                    } else {
                        mb.add_node(base, size, NodeId(nid), MemblockFlags::from_bits_retain(flags))
                    };
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        Model::fill(&mut model.mem, b, e, (nid, flags));
                    }
                    (r, mem_cnt + holes > mem_max)
                }
                25..=34 => {
                    let r = mb.remove(base, size);
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        Model::clear(&mut model.mem, b, e);
                    }
                    (r, isolate_grows(mem_cnt, mem_max))
                }
                35..=54 => {
                    let holes = Model::holes(&model.res, b, e);
                    let (nid, flags) = match rng.below(4) {
                        0 => (NodeId(1), MemblockFlags::RSRV_NOINIT),
                        1 => (NodeId(0), MemblockFlags::NONE),
                        _ => (NUMA_NO_NODE, MemblockFlags::NONE),
                    };
                    let r = if nid == NUMA_NO_NODE {
                        mb.reserve(base, size)
                    } else {
                        mb.reserve_flags(base, size, nid, flags)
                    };
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        Model::fill(&mut model.res, b, e, (nid.0, flags.bits()));
                    }
                    (r, res_cnt + holes > res_max)
                }
                55..=69 => {
                    let r = mb.free(base, size);
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        Model::clear(&mut model.res, b, e);
                    }
                    (r, isolate_grows(res_cnt, res_max))
                }
                70..=75 => {
                    let set = rng.below(2) == 0;
                    let r = if set { mb.mark_nomap(base, size) } else { mb.clear_nomap(base, size) };
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        for (_, f) in model.mem[b..e].iter_mut().flatten() {
                            if set {
                                *f |= MemblockFlags::NOMAP.bits();
                            } else {
                                *f &= !MemblockFlags::NOMAP.bits();
                            }
                        }
                    }
                    (r, isolate_grows(mem_cnt, mem_max))
                }
                76..=81 => {
                    let nid = rng.pick(&nids);
                    let r = mb.set_node(base, size, NodeId(nid));
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        for (n, _) in model.mem[b..e].iter_mut().flatten() {
                            *n = nid;
                        }
                    }
                    (r, isolate_grows(mem_cnt, mem_max))
                }
                82..=96 => {
                    stats.allocs += 1;
                    let size = (1 + rng.below(8)) * U;
                    let align = rng.pick(&[0, U, 0x1000, 0x2000]);
                    let nid = NodeId(rng.pick(&[-1, 0, 1, 2]));
                    let bound = |rng: &mut XorShift| match rng.below(3) {
                        0 => 0,
                        1 => u64::MAX,
                        _ => floor + rng.below(units as u64 + 1) * U,
                    };
                    // Allocations stay out of the arena unless they retry
                    // without min_addr.
                    let (lo, hi) = (bound(&mut rng).max(floor), bound(&mut rng));
                    let dir = mb.direction();
                    let limit = mb.current_limit().0;
                    let find = |start: u64, end: u64, nid: NodeId| {
                        model.find(size, align.max(64), start, end, nid, dir, limit)
                    };
                    let (r, candidates) = match rng.below(3) {
                        0 => (
                            mb.phys_alloc_range(size, align, pa(lo.min(u64::MAX - 1)), pa(hi)),
                            vec![find(lo, hi, NUMA_NO_NODE)],
                        ),
                        1 => {
                            let max = hi.min(limit);
                            let mut c = vec![find(lo, max, nid)];
                            if nid.is_valid() {
                                c.push(find(lo, max, NUMA_NO_NODE));
                            }
                            if lo != 0 {
                                c.push(find(0, max, nid));
                                if nid.is_valid() {
                                    c.push(find(0, max, NUMA_NO_NODE));
                                }
                            }
                            (mb.alloc_try_nid(size, align, pa(lo), pa(hi), nid), c)
                        }
                        _ => {
                            let max = hi.min(limit);
                            let mut c = vec![find(lo, max, nid)];
                            if lo != 0 {
                                c.push(find(0, max, nid));
                            }
                            (mb.alloc_exact_nid(size, align, pa(lo), pa(hi), nid), c)
                        }
                    };
                    let candidates: Vec<u64> = candidates.into_iter().flatten().collect();
                    let room = res_cnt < res_max;
                    match r {
                        Ok(addr) => {
                            if room {
                                assert_eq!(Some(&addr.0), candidates.first(), "step {step}: allocation address");
                            } else {
                                assert!(candidates.contains(&addr.0), "step {step}: allocation address");
                            }
                            assert_eq!(addr.0 % align.max(64), 0);
                            apply_growth(&mut model, arrays_before, arrays(&mb));
                            let (ub, ue) = ((addr.0 / U) as usize, ((addr.0 + size) / U) as usize);
                            Model::fill(&mut model.res, ub, ue, (NUMA_NO_NODE.0, 0));
                            (Ok(()), false)
                        }
                        Err(err) => {
                            assert_eq!(err, Error::NoMemory);
                            assert!(candidates.is_empty() || !room, "step {step}: allocation failed with room");
                            (Ok(()), false)
                        }
                    }
                }
                97 if arena > 0 && rng.below(2) == 0 => {
                    // Allocations that retried from 0 eat into the arena:
                    // give all of it back, the arrays' own memory included
                    // (a misuse memblock must survive: growth still keeps
                    // clear of the arrays in use).
                    let r = mb.free(pa(0), floor);
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        Model::clear(&mut model.res, 0, arena);
                    }
                    (r, res_cnt + 2 > res_max)
                }
                97 => {
                    mb.set_direction(rng.pick(&[AllocDirection::TopDown, AllocDirection::BottomUp]));
                    let some_limit = pa(floor + rng.below(units as u64) * U);
                    mb.set_current_limit(rng.pick(&[MEMBLOCK_ALLOC_ANYWHERE, some_limit]));
                    (Ok(()), false)
                }
                98 => {
                    let align = rng.pick(&[0x200, 0x400, 0x1000]);
                    mb.trim_memory(align).unwrap();
                    let kept: Vec<_> = Model::runs(&model.mem)
                        .into_iter()
                        .filter_map(|r| {
                            let s = r.base.0.next_multiple_of(align);
                            let e = r.end().0 / align * align;
                            (s < e).then_some(((s / U) as usize, (e / U) as usize, (r.nid.0, r.flags.bits())))
                        })
                        .collect();
                    model.mem.fill(None);
                    for (b, e, attr) in kept {
                        Model::fill(&mut model.mem, b, e, attr);
                    }
                    (Ok(()), false)
                }
                _ => {
                    let limit = floor + rng.below(units as u64) * U;
                    let mem_bytes: u64 = model.mem.iter().flatten().count() as u64 * U;
                    let r = mb.enforce_memory_limit(limit);
                    if r.is_ok() {
                        apply_growth(&mut model, arrays_before, arrays(&mb));
                        if limit != 0 && limit <= mem_bytes {
                            // __find_max_addr: just past the unit where the limit runs out.
                            let mut left = limit;
                            let mut cut = total;
                            for (u, m) in model.mem.iter().enumerate() {
                                if m.is_some() {
                                    left -= U;
                                    if left == 0 {
                                        cut = u + 1;
                                        break;
                                    }
                                }
                            }
                            Model::clear(&mut model.mem, cut, total);
                            Model::clear(&mut model.res, cut, total);
                        }
                    }
                    let grows = limit != 0 && limit <= mem_bytes && (mem_cnt + 2 > mem_max || res_cnt + 2 > res_max);
                    (r, grows)
                }
            };
            match result {
                Ok(()) => stats.ok += 1,
                Err(err) => {
                    assert_eq!(err, Error::NoMemory, "step {step}");
                    assert!(needs_growth, "step {step}: op {op} failed without needing room");
                    assert_eq!(snapshot(&mb), before, "step {step}: failed op changed state");
                    stats.no_memory += 1;
                }
            }
            if mapper.is_none() {
                assert!(result.is_ok() || needs_growth);
                if needs_growth {
                    assert!(result.is_err(), "step {step}: op {op} succeeded without room");
                }
            }
            if arrays(&mb) != arrays_before {
                stats.grown += 1;
            }
            stats.max_cnt = stats.max_cnt.max(mb.memory().cnt()).max(mb.reserved().cnt());
            with_step_context(step, op, || check_against_model(&mb, &model));
        }
        stats
    }

    #[test]
    fn random_operations_match_the_model_without_growth() {
        let stats = random_ops(0x9e37_79b9_7f4a_7c15, 5000, None, 0, 768);
        // Both arrays fill up, and many operations meet a full array.
        assert!(stats.no_memory > 100 && stats.allocs > 500, "{stats:?}");
        assert_eq!(stats.grown, 0);
    }

    #[test]
    fn random_operations_match_the_model_with_growth() {
        let _ = take_maps();
        let stats = random_ops(0x2545_f491_4f6c_dd1d, 5000, Some(arena_mapper), ARENA, 2048);
        // Both arrays grow at least twice, so grown arrays are freed too.
        assert!(stats.grown >= 3 && stats.max_cnt > 2 * INIT_MEMBLOCK_REGIONS, "{stats:?}");
        assert_eq!(stats.no_memory, 0, "{stats:?}");
    }
}
