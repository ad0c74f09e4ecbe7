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
//!   └─ pageset[NR_CPUS]: spin::Mutex<PerCpuPages>                        (see pcp.rs)
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
//! see page.rs). Free pages sit on the list of their pageblock's type, and
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
//! page_alloc.rs, because they need all zones.
//!
//! # Lock order
//!
//! pcp lock -> zone lock. The zone lock is never held while calling a hook.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bitflags::bitflags;

use crate::memblock::NodeId;
use crate::page::{MemMap, PageFlags, PfnList, ValidPfn};
use crate::pcp::{NR_CPUS, PcpSlot};

/// Largest order the buddy allocator handles (2^10 pages = 4 MiB).
pub const MAX_PAGE_ORDER: u32 = 10;
/// Number of orders, 0 through MAX_PAGE_ORDER.
pub const NR_PAGE_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
/// Pages in a largest block.
pub const MAX_ORDER_NR_PAGES: u64 = 1 << MAX_PAGE_ORDER;
/// Order of a pageblock (2 MiB).
pub const PAGEBLOCK_ORDER: u32 = 9;
/// Pages per pageblock.
pub const PAGEBLOCK_NR_PAGES: u64 = 1 << PAGEBLOCK_ORDER;
/// Orders above this are "costly" and not kept on pcp lists.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;
/// Number of zone types.
pub const MAX_NR_ZONES: usize = 4;
/// Migratetypes kept on pcp lists and used as fallbacks.
pub const MIGRATE_PCPTYPES: usize = 3;
/// Number of migratetypes.
pub const MIGRATE_TYPES: usize = 6;
/// Number of watermarks (min, low, high).
pub const NR_WMARK: usize = 3;
/// Lower bound of the min watermark of ZONE_MOVABLE.
pub const SWAP_CLUSTER_MAX: u64 = 32;
/// sysctl_lowmem_reserve_ratio: DMA, DMA32, Normal, Movable.
pub const LOWMEM_RESERVE_RATIO: [u64; MAX_NR_ZONES] = [256, 256, 32, 0];
/// vm.watermark_scale_factor's default (in 1/10000 of managed pages).
pub const DEFAULT_WATERMARK_SCALE_FACTOR: u64 = 10;

/// The zone types (enum zone_type).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum ZoneType {
    /// ZONE_DMA: below the narrowest device DMA limit.
    Dma = 0,
    /// ZONE_DMA32: below 4 GiB.
    Dma32 = 1,
    /// ZONE_NORMAL: everything else the kernel uses.
    Normal = 2,
    /// ZONE_MOVABLE: only movable allocations.
    Movable = 3,
}

impl ZoneType {
    /// All zone types in order.
    pub const ALL: [ZoneType; MAX_NR_ZONES] = [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];

    /// Linux's zone name.
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::Movable => "Movable",
        }
    }

    /// The zone type with index `idx & 3`.
    #[inline]
    pub const fn from_index(idx: usize) -> ZoneType {
        match idx & 3 {
            0 => ZoneType::Dma,
            1 => ZoneType::Dma32,
            2 => ZoneType::Normal,
            _ => ZoneType::Movable,
        }
    }

    /// The index (zone_idx).
    #[inline]
    pub const fn idx(self) -> usize {
        self as usize
    }
}

/// Pageblock and free-list types (enum migratetype).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum MigrateType {
    /// Kernel memory that cannot move.
    Unmovable = 0,
    /// Memory that can be migrated (user pages).
    Movable = 1,
    /// Memory freed by shrinkers (reclaimable slab).
    Reclaimable = 2,
    /// Reserved for high-order atomic allocations.
    HighAtomic = 3,
    /// Contiguous memory allocator area: movable allocations only.
    Cma = 4,
    /// Being isolated (offlined, CMA-allocated): never allocated from.
    Isolate = 5,
}

impl MigrateType {
    /// All types in order.
    pub const ALL: [MigrateType; MIGRATE_TYPES] = [
        MigrateType::Unmovable,
        MigrateType::Movable,
        MigrateType::Reclaimable,
        MigrateType::HighAtomic,
        MigrateType::Cma,
        MigrateType::Isolate,
    ];

    /// Linux's name (migratetype_names).
    pub const fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Movable => "Movable",
            MigrateType::Reclaimable => "Reclaimable",
            MigrateType::HighAtomic => "HighAtomic",
            MigrateType::Cma => "CMA",
            MigrateType::Isolate => "Isolate",
        }
    }

    /// show_migration_types' letter.
    pub const fn letter(self) -> char {
        match self {
            MigrateType::Unmovable => 'U',
            MigrateType::Movable => 'M',
            MigrateType::Reclaimable => 'E',
            MigrateType::HighAtomic => 'H',
            MigrateType::Cma => 'C',
            MigrateType::Isolate => 'I',
        }
    }

    /// The type with index `idx`; out-of-range values read as Unmovable.
    #[inline]
    pub const fn from_index(idx: usize) -> MigrateType {
        match idx {
            1 => MigrateType::Movable,
            2 => MigrateType::Reclaimable,
            3 => MigrateType::HighAtomic,
            4 => MigrateType::Cma,
            5 => MigrateType::Isolate,
            _ => MigrateType::Unmovable,
        }
    }

    /// Whether pageblocks of this type may merge with other types' (migratetype_is_mergeable).
    #[inline]
    pub const fn is_mergeable(self) -> bool {
        (self as usize) < MIGRATE_PCPTYPES
    }
}

/// Fallback order when a type's own lists are empty.
const FALLBACKS: [[MigrateType; MIGRATE_PCPTYPES - 1]; MIGRATE_PCPTYPES] = [
    [MigrateType::Reclaimable, MigrateType::Movable],
    [MigrateType::Reclaimable, MigrateType::Unmovable],
    [MigrateType::Unmovable, MigrateType::Movable],
];

/// The three watermarks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Wmark {
    /// WMARK_MIN.
    Min = 0,
    /// WMARK_LOW.
    Low = 1,
    /// WMARK_HIGH.
    High = 2,
}

bitflags! {
    /// How hard an allocation may dig (mm/internal.h ALLOC_*). The low two
    /// bits select the watermark: 0 = min, `WMARK_LOW`, `WMARK_HIGH`.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct AllocFlags: u32 {
        /// Check against the low watermark.
        const WMARK_LOW = 0x01;
        /// Check against the high watermark.
        const WMARK_HIGH = 0x02;
        /// Do not check watermarks at all.
        const NO_WATERMARKS = 0x04;
        /// An OOM victim: may use more reserves.
        const OOM = 0x08;
        /// Cannot block: may use 25% of min more (with MIN_RESERVE).
        const NON_BLOCK = 0x10;
        /// __GFP_HIGH: may use 50% of min.
        const MIN_RESERVE = 0x20;
        /// Respect cpusets (no cpusets here; kept for Linux's values).
        const CPUSET = 0x40;
        /// May use CMA pageblocks.
        const CMA = 0x80;
        /// Avoid fragmenting: only claim whole pageblocks when falling back.
        const NOFRAGMENT = 0x100;
        /// May use HIGHATOMIC reserves (high-order atomic).
        const HIGHATOMIC = 0x200;
        /// May wake kswapd (there is none yet).
        const KSWAPD = 0x800;
    }
}

impl AllocFlags {
    /// Check against the min watermark.
    pub const WMARK_MIN: AllocFlags = AllocFlags::empty();
    /// The watermark selector bits.
    pub const WMARK_MASK: AllocFlags = AllocFlags::WMARK_LOW.union(AllocFlags::WMARK_HIGH);
    /// Any access to reserves below min (ALLOC_RESERVES).
    pub const RESERVES: AllocFlags =
        AllocFlags::NON_BLOCK.union(AllocFlags::MIN_RESERVE).union(AllocFlags::HIGHATOMIC).union(AllocFlags::OOM);

    /// The watermark these flags select.
    #[inline]
    pub const fn wmark(self) -> Wmark {
        match self.bits() & 3 {
            0 => Wmark::Min,
            1 => Wmark::Low,
            _ => Wmark::High,
        }
    }
}

bitflags! {
    /// Free page internal flags (fpi_t).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub(crate) struct Fpi: u32 {
        /// Put the (possibly merged) block at the tail of its list.
        const TO_TAIL = 0x2;
    }
}

/// One order's free lists (struct free_area).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FreeArea {
    pub(crate) free_list: [PfnList; MIGRATE_TYPES],
    pub(crate) nr_free: u64,
}

/// Everything the zone lock protects.
pub(crate) struct FreeAreas {
    pub(crate) area: [FreeArea; NR_PAGE_ORDERS],
}

/// Zone statistics readable without the lock (vm_stat).
///
/// # Invariants
///
/// Written only with the zone lock held. `nr_free_blocks[o][mt]` is the
/// length of `free_area[o].free_list[mt]`; `nr_free_pages` is the sum of
/// `2^o * nr_free_blocks[o][mt]` over all types but ISOLATE,
/// `nr_free_cma_pages` and `nr_free_highatomic` the same for CMA and HIGHATOMIC.
pub struct ZoneStat {
    nr_free_pages: AtomicU64,
    nr_free_cma_pages: AtomicU64,
    nr_free_highatomic: AtomicU64,
    nr_free_blocks: [[AtomicU64; MIGRATE_TYPES]; NR_PAGE_ORDERS],
}

/// Add `delta` to a counter that only lock holders write.
#[inline]
fn mod_locked(counter: &AtomicU64, delta: i64) {
    counter.store(counter.load(Relaxed).wrapping_add(delta as u64), Relaxed);
}

/// A zone (struct zone). See the module documentation.
pub struct Zone {
    node: NodeId,
    zone_type: ZoneType,
    zone_start_pfn: u64,
    spanned_pages: u64,
    present_pages: u64,
    pub(crate) page_group_by_mobility_disabled: bool,
    pub(crate) managed_pages: AtomicU64,
    pub(crate) cma_pages: AtomicU64,
    pub(crate) watermark: [AtomicU64; NR_WMARK],
    pub(crate) watermark_boost: AtomicU64,
    pub(crate) lowmem_reserve: [AtomicU64; MAX_NR_ZONES],
    pub(crate) nr_reserved_highatomic: AtomicU64,
    vm_stat: ZoneStat,
    lock: spin::Mutex<FreeAreas>,
    pub(crate) pageset: [PcpSlot; NR_CPUS],
}

/// Outcome of find_suitable_fallback.
enum Fallback {
    /// A free block of this type.
    Found(MigrateType),
    /// No suitable block at this order.
    None,
    /// Orders this low are not worth claiming from (Linux's -2).
    TooLow,
}

/// Where the last __rmqueue call found pages (enum rmqueue_mode), so that
/// rmqueue_bulk need not repeat searches that failed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum RmqueueMode {
    Normal,
    Cma,
    Claim,
    Steal,
}

impl Zone {
    /// Initialise a zone in place.
    ///
    /// # Safety
    ///
    /// 1. `this` is valid for writes of a `Zone` and suitably aligned.
    /// 2. Nothing else accesses `*this` until this returns; whatever was
    ///    there before is overwritten without being dropped.
    pub(crate) unsafe fn init_in_place(
        this: *mut Zone,
        node: NodeId,
        zone_type: ZoneType,
        span: (u64, u64),
        present_pages: u64,
    ) {
        // SAFETY: obligation 1 makes every field place valid for writes;
        // obligation 2 means no one observes the partly written zone. Each
        // field is written exactly once, the large arrays element by element
        // so that no zone-sized temporary is built on the stack.
        unsafe {
            (&raw mut (*this).node).write(node);
            (&raw mut (*this).zone_type).write(zone_type);
            (&raw mut (*this).zone_start_pfn).write(span.0);
            (&raw mut (*this).spanned_pages).write(span.1 - span.0);
            (&raw mut (*this).present_pages).write(present_pages);
            (&raw mut (*this).page_group_by_mobility_disabled).write(false);
            (&raw mut (*this).managed_pages).write(AtomicU64::new(0));
            (&raw mut (*this).cma_pages).write(AtomicU64::new(0));
            (&raw mut (*this).watermark).write([const { AtomicU64::new(0) }; NR_WMARK]);
            (&raw mut (*this).watermark_boost).write(AtomicU64::new(0));
            (&raw mut (*this).lowmem_reserve).write([const { AtomicU64::new(0) }; MAX_NR_ZONES]);
            (&raw mut (*this).nr_reserved_highatomic).write(AtomicU64::new(0));
            (&raw mut (*this).vm_stat).write(ZoneStat {
                nr_free_pages: AtomicU64::new(0),
                nr_free_cma_pages: AtomicU64::new(0),
                nr_free_highatomic: AtomicU64::new(0),
                nr_free_blocks: [const { [const { AtomicU64::new(0) }; MIGRATE_TYPES] }; NR_PAGE_ORDERS],
            });
            (&raw mut (*this).lock).write(spin::Mutex::new(FreeAreas {
                area: [FreeArea { free_list: [PfnList::EMPTY; MIGRATE_TYPES], nr_free: 0 }; NR_PAGE_ORDERS],
            }));
            let pageset = (&raw mut (*this).pageset).cast::<PcpSlot>();
            for cpu in 0..NR_CPUS {
                pageset.add(cpu).write(PcpSlot::new());
            }
        }
    }

    /// The node this zone belongs to.
    #[inline]
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The zone's type.
    #[inline]
    pub fn zone_type(&self) -> ZoneType {
        self.zone_type
    }

    /// Linux's name of the zone.
    #[inline]
    pub fn name(&self) -> &'static str {
        self.zone_type.name()
    }

    /// First PFN of the span.
    #[inline]
    pub fn zone_start_pfn(&self) -> u64 {
        self.zone_start_pfn
    }

    /// PFN after the span (zone_end_pfn).
    #[inline]
    pub fn zone_end_pfn(&self) -> u64 {
        self.zone_start_pfn + self.spanned_pages
    }

    /// Pages spanned, holes included.
    #[inline]
    pub fn spanned_pages(&self) -> u64 {
        self.spanned_pages
    }

    /// Pages of memory in the span.
    #[inline]
    pub fn present_pages(&self) -> u64 {
        self.present_pages
    }

    /// Pages given to the buddy allocator (zone_managed_pages).
    #[inline]
    pub fn managed_pages(&self) -> u64 {
        self.managed_pages.load(Relaxed)
    }

    /// Pages in CMA pageblocks.
    #[inline]
    pub fn cma_pages(&self) -> u64 {
        self.cma_pages.load(Relaxed)
    }

    /// Whether the zone has memory (populated_zone).
    #[inline]
    pub fn is_populated(&self) -> bool {
        self.present_pages != 0
    }

    /// Whether the allocator manages any of its pages (managed_zone).
    #[inline]
    pub fn is_managed(&self) -> bool {
        self.managed_pages() != 0
    }

    /// Whether `pfn` is in the span (zone_spans_pfn).
    #[inline]
    pub fn spans(&self, pfn: u64) -> bool {
        pfn >= self.zone_start_pfn && pfn < self.zone_end_pfn()
    }

    /// NR_FREE_PAGES.
    #[inline]
    pub fn free_pages(&self) -> u64 {
        self.vm_stat.nr_free_pages.load(Relaxed)
    }

    /// NR_FREE_CMA_PAGES.
    #[inline]
    pub fn free_cma_pages(&self) -> u64 {
        self.vm_stat.nr_free_cma_pages.load(Relaxed)
    }

    /// Free pages on HIGHATOMIC lists (nr_free_highatomic).
    #[inline]
    pub fn free_highatomic_pages(&self) -> u64 {
        self.vm_stat.nr_free_highatomic.load(Relaxed)
    }

    /// Pages reserved as HIGHATOMIC (nr_reserved_highatomic).
    #[inline]
    pub fn nr_reserved_highatomic(&self) -> u64 {
        self.nr_reserved_highatomic.load(Relaxed)
    }

    /// Free blocks of `order` on `mt`'s list.
    #[inline]
    pub fn nr_free_blocks(&self, order: u32, mt: MigrateType) -> u64 {
        self.vm_stat.nr_free_blocks[order as usize][mt as usize].load(Relaxed)
    }

    /// Free blocks of `order` on all lists (`free_area[order].nr_free`).
    #[inline]
    pub fn nr_free(&self, order: u32) -> u64 {
        self.vm_stat.nr_free_blocks[order as usize].iter().map(|c| c.load(Relaxed)).sum()
    }

    /// A watermark plus the boost (wmark_pages).
    #[inline]
    pub fn wmark_pages(&self, w: Wmark) -> u64 {
        self.watermark[w as usize].load(Relaxed) + self.watermark_boost.load(Relaxed)
    }

    /// min_wmark_pages.
    #[inline]
    pub fn min_wmark_pages(&self) -> u64 {
        self.wmark_pages(Wmark::Min)
    }

    /// low_wmark_pages.
    #[inline]
    pub fn low_wmark_pages(&self) -> u64 {
        self.wmark_pages(Wmark::Low)
    }

    /// high_wmark_pages.
    #[inline]
    pub fn high_wmark_pages(&self) -> u64 {
        self.wmark_pages(Wmark::High)
    }

    /// The watermark boost (always 0: there is no kswapd to boost for yet).
    #[inline]
    pub fn watermark_boost(&self) -> u64 {
        self.watermark_boost.load(Relaxed)
    }

    /// Pages this zone keeps back from allocations that could use `zone`.
    #[inline]
    pub fn lowmem_reserve(&self, zone: ZoneType) -> u64 {
        self.lowmem_reserve[zone.idx()].load(Relaxed)
    }

    /// Take the zone lock.
    #[inline]
    pub(crate) fn lock<'a>(&'a self, map: &'a MemMap) -> ZoneGuard<'a> {
        ZoneGuard { zone: self, map, fa: self.lock.lock() }
    }

    /// Pages the caller may not use (__zone_watermark_unusable_free).
    #[inline]
    fn watermark_unusable_free(&self, order: u32, alloc_flags: AllocFlags) -> i64 {
        let mut unusable = (1i64 << order) - 1;
        if !alloc_flags.intersects(AllocFlags::RESERVES) {
            unusable += self.vm_stat.nr_free_highatomic.load(Relaxed) as i64;
        }
        if !alloc_flags.contains(AllocFlags::CMA) {
            unusable += self.vm_stat.nr_free_cma_pages.load(Relaxed) as i64;
        }
        unusable
    }

    /// __zone_watermark_ok with the free page count given.
    pub fn zone_watermark_ok_free(
        &self,
        order: u32,
        mark: u64,
        highest_zoneidx: ZoneType,
        alloc_flags: AllocFlags,
        free_pages: i64,
    ) -> bool {
        let mut min = mark as i64;
        let free_pages = free_pages - self.watermark_unusable_free(order, alloc_flags);
        if alloc_flags.intersects(AllocFlags::RESERVES) {
            if alloc_flags.contains(AllocFlags::MIN_RESERVE) {
                min -= min / 2;
                if alloc_flags.contains(AllocFlags::NON_BLOCK) {
                    min -= min / 4;
                }
            }
            if alloc_flags.contains(AllocFlags::OOM) {
                min -= min / 2;
            }
        }
        if free_pages <= min + self.lowmem_reserve(highest_zoneidx) as i64 {
            return false;
        }
        if order == 0 {
            return true;
        }
        // A high-order request also needs a free block of at least its
        // order on a list it may use.
        for o in order..=MAX_PAGE_ORDER {
            let blocks = &self.vm_stat.nr_free_blocks[o as usize];
            if blocks[..MIGRATE_PCPTYPES].iter().any(|c| c.load(Relaxed) != 0) {
                return true;
            }
            if alloc_flags.contains(AllocFlags::CMA) && blocks[MigrateType::Cma as usize].load(Relaxed) != 0 {
                return true;
            }
            if alloc_flags.intersects(AllocFlags::HIGHATOMIC | AllocFlags::OOM)
                && blocks[MigrateType::HighAtomic as usize].load(Relaxed) != 0
            {
                return true;
            }
        }
        false
    }

    /// zone_watermark_ok: may an allocation of `order` with `alloc_flags`
    /// for zones up to `highest_zoneidx` come from this zone, `mark` being
    /// the watermark it must stay above?
    #[inline]
    pub fn zone_watermark_ok(&self, order: u32, mark: u64, highest_zoneidx: ZoneType, alloc_flags: AllocFlags) -> bool {
        self.zone_watermark_ok_free(order, mark, highest_zoneidx, alloc_flags, self.free_pages() as i64)
    }

    /// zone_watermark_fast: the order-0 check inline, the rest out of line.
    #[inline]
    pub(crate) fn zone_watermark_fast(
        &self,
        order: u32,
        mark: u64,
        highest_zoneidx: ZoneType,
        alloc_flags: AllocFlags,
    ) -> bool {
        let free_pages = self.free_pages() as i64;
        if order == 0 {
            let reserved = self.watermark_unusable_free(0, alloc_flags);
            let usable = free_pages - reserved.min(free_pages);
            if usable > (mark + self.lowmem_reserve(highest_zoneidx)) as i64 {
                return true;
            }
        }
        self.zone_watermark_ok_free(order, mark, highest_zoneidx, alloc_flags, free_pages)
    }

    /// Free `2^order` pages at `pfn` (free_one_page), pageblock by pageblock.
    pub(crate) fn free_one_page(&self, map: &MemMap, pfn: ValidPfn, order: u32, fpi: Fpi) {
        self.lock(map).free_one_page(pfn, order, fpi);
    }

    /// Take a block off the buddy lists for an allocation that bypasses
    /// the pcp lists (rmqueue_buddy), HIGHATOMIC rules included.
    pub(crate) fn rmqueue_buddy(
        &self,
        map: &MemMap,
        order: u32,
        mt: MigrateType,
        alloc_flags: AllocFlags,
    ) -> Option<ValidPfn> {
        let mut zone = self.lock(map);
        let mut page = None;
        if alloc_flags.contains(AllocFlags::HIGHATOMIC) {
            page = zone.rmqueue_smallest(order, MigrateType::HighAtomic);
        }
        if page.is_none() {
            let mut mode = RmqueueMode::Normal;
            page = zone.rmqueue(order, mt, alloc_flags, &mut mode);
            // Failing now is worse than failing a future high-order atomic
            // request: let non-blocking order-0 callers have the reserve.
            if page.is_none() && alloc_flags.intersects(AllocFlags::OOM | AllocFlags::NON_BLOCK) {
                page = zone.rmqueue_smallest(order, MigrateType::HighAtomic);
            }
        }
        page
    }

    /// Reserve the pageblock of a page just given to a high-order atomic
    /// allocation as HIGHATOMIC, up to about 1% of the zone
    /// (reserve_highatomic_pageblock).
    pub(crate) fn reserve_highatomic_pageblock(&self, map: &MemMap, pfn: ValidPfn, order: u32) {
        let managed = self.managed_pages();
        if managed / 100 < PAGEBLOCK_NR_PAGES {
            return;
        }
        let max_managed = (managed / 100).next_multiple_of(PAGEBLOCK_NR_PAGES);
        if self.nr_reserved_highatomic() >= max_managed {
            return;
        }
        let mut zone = self.lock(map);
        if self.nr_reserved_highatomic() >= max_managed {
            return;
        }
        let mt = map.get_pageblock_migratetype(pfn);
        if !mt.is_mergeable() {
            return;
        }
        if order < PAGEBLOCK_ORDER {
            if zone.move_freepages_block(pfn, mt, MigrateType::HighAtomic).is_none() {
                return;
            }
            mod_locked(&self.nr_reserved_highatomic, PAGEBLOCK_NR_PAGES as i64);
        } else {
            zone.change_pageblock_range(pfn, order, MigrateType::HighAtomic);
            mod_locked(&self.nr_reserved_highatomic, 1 << order);
        }
    }

    /// Give one HIGHATOMIC pageblock of this zone back to `mt`
    /// (the per-zone half of unreserve_highatomic_pageblock). Unless
    /// `force`, the last reserved pageblock is kept.
    pub(crate) fn unreserve_highatomic(&self, map: &MemMap, force: bool, mt: MigrateType) -> bool {
        if !force && self.nr_reserved_highatomic() <= PAGEBLOCK_NR_PAGES {
            return false;
        }
        let mut zone = self.lock(map);
        for order in 0..=MAX_PAGE_ORDER {
            let Some(pfn) = zone.fa.area[order as usize].free_list[MigrateType::HighAtomic as usize].first() else {
                continue;
            };
            let size = PAGEBLOCK_NR_PAGES.max(1 << order).min(self.nr_reserved_highatomic());
            mod_locked(&self.nr_reserved_highatomic, -(size as i64));
            let moved = if order < PAGEBLOCK_ORDER {
                zone.move_freepages_block(pfn, MigrateType::HighAtomic, mt).unwrap_or(0)
            } else {
                zone.move_to_free_list(pfn, order, MigrateType::HighAtomic, mt);
                zone.change_pageblock_range(pfn, order, mt);
                1
            };
            if moved > 0 {
                return true;
            }
        }
        false
    }

    /// Make `pfn`'s pageblock ISOLATE, moving its free pages to the ISOLATE
    /// lists (set_migratetype_isolate without the unmovable-page scan).
    /// Fails with `InvalidArgument` if the pageblock is not wholly in this
    /// zone, `Busy` if it is already isolated. Pages on pcp lists are not
    /// moved here: drain them afterwards.
    pub(crate) fn set_pageblock_isolate(&self, map: &MemMap, pfn: ValidPfn) -> Result<(), crate::Error> {
        let mut zone = self.lock(map);
        if map.get_pageblock_migratetype(pfn) == MigrateType::Isolate {
            return Err(crate::Error::Busy);
        }
        if zone.move_freepages_block_isolate(pfn, MigrateType::Isolate) {
            Ok(())
        } else {
            Err(crate::Error::InvalidArgument)
        }
    }

    /// Undo [`Zone::set_pageblock_isolate`], giving the pageblock type `mt`
    /// (unset_migratetype_isolate).
    pub(crate) fn unset_pageblock_isolate(
        &self,
        map: &MemMap,
        pfn: ValidPfn,
        mt: MigrateType,
    ) -> Result<(), crate::Error> {
        let mut zone = self.lock(map);
        if map.get_pageblock_migratetype(pfn) != MigrateType::Isolate || mt == MigrateType::Isolate {
            return Err(crate::Error::InvalidArgument);
        }
        if zone.move_freepages_block_isolate(pfn, mt) { Ok(()) } else { Err(crate::Error::InvalidArgument) }
    }

    /// A consistent copy of the free counts, taken under the zone lock.
    pub(crate) fn free_snapshot(&self) -> FreeSnapshot {
        let fa = self.lock.lock();
        let mut snap = FreeSnapshot {
            nr_free: [0; NR_PAGE_ORDERS],
            by_type: [[0; MIGRATE_TYPES]; NR_PAGE_ORDERS],
            nr_free_pages: self.free_pages(),
        };
        for (o, area) in fa.area.iter().enumerate() {
            snap.nr_free[o] = area.nr_free;
            for mt in 0..MIGRATE_TYPES {
                snap.by_type[o][mt] = self.vm_stat.nr_free_blocks[o][mt].load(Relaxed);
            }
        }
        snap
    }
}

/// Free counts of a zone at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeSnapshot {
    /// Blocks per order (buddyinfo).
    pub nr_free: [u64; NR_PAGE_ORDERS],
    /// Blocks per order and migratetype (pagetypeinfo).
    pub by_type: [[u64; MIGRATE_TYPES]; NR_PAGE_ORDERS],
    /// NR_FREE_PAGES.
    pub nr_free_pages: u64,
}

/// A locked zone: the buddy operations that need the zone lock.
pub(crate) struct ZoneGuard<'a> {
    pub(crate) zone: &'a Zone,
    pub(crate) map: &'a MemMap,
    fa: spin::MutexGuard<'a, FreeAreas>,
}

impl ZoneGuard<'_> {
    /// The free areas, for walks (tests and reports).
    #[cfg(test)]
    #[inline]
    pub(crate) fn areas(&self) -> &FreeAreas {
        &self.fa
    }

    /// Update the counters for one block of `order` joining (`add`) or
    /// leaving `mt`'s list (account_freepages and free_area.nr_free).
    #[inline]
    fn account(&mut self, order: u32, mt: MigrateType, add: bool) {
        let sign: i64 = if add { 1 } else { -1 };
        let stat = &self.zone.vm_stat;
        let area = &mut self.fa.area[order as usize];
        area.nr_free = area.nr_free.wrapping_add(sign as u64);
        mod_locked(&stat.nr_free_blocks[order as usize][mt as usize], sign);
        let pages = sign << order;
        match mt {
            MigrateType::Isolate => {}
            MigrateType::Cma => {
                mod_locked(&stat.nr_free_pages, pages);
                mod_locked(&stat.nr_free_cma_pages, pages);
            }
            MigrateType::HighAtomic => {
                mod_locked(&stat.nr_free_pages, pages);
                mod_locked(&stat.nr_free_highatomic, pages);
            }
            _ => mod_locked(&stat.nr_free_pages, pages),
        }
    }

    /// Put a free block on a list (__add_to_free_list + set_buddy_order).
    #[inline]
    fn add_to_free_list(&mut self, pfn: ValidPfn, order: u32, mt: MigrateType, tail: bool) {
        let page = self.map.page(pfn);
        page.set_private_internal(order as u64);
        page.set_flags_internal(PageFlags::BUDDY);
        let list = &mut self.fa.area[order as usize].free_list[mt as usize];
        if tail {
            list.push_back(self.map, pfn);
        } else {
            list.push_front(self.map, pfn);
        }
        self.account(order, mt, true);
    }

    /// Take a free block off its list (del_page_from_free_list).
    #[inline]
    fn del_page_from_free_list(&mut self, pfn: ValidPfn, order: u32, mt: MigrateType) {
        self.fa.area[order as usize].free_list[mt as usize].remove(self.map, pfn);
        let page = self.map.page(pfn);
        page.clear_flags_internal(PageFlags::BUDDY);
        page.set_private_internal(0);
        self.account(order, mt, false);
    }

    /// Move a free block to another type's list, at the tail (move_to_free_list).
    fn move_to_free_list(&mut self, pfn: ValidPfn, order: u32, old: MigrateType, new: MigrateType) {
        self.fa.area[order as usize].free_list[old as usize].remove(self.map, pfn);
        self.account(order, old, false);
        self.fa.area[order as usize].free_list[new as usize].push_back(self.map, pfn);
        self.account(order, new, true);
    }

    /// Whether `buddy` is a free block of `order` in the zone with id `zone_id` (page_is_buddy).
    #[inline]
    fn page_is_buddy(&self, buddy: ValidPfn, order: u32, zone_id: u64) -> bool {
        let page = self.map.page(buddy);
        page.test_flags(PageFlags::BUDDY) && page.private() == order as u64 && page.zone_id() == zone_id
    }

    /// Whether the block just merged is likely to merge further soon:
    /// its buddy one order up is free (buddy_merge_likely).
    fn buddy_merge_likely(&self, pfn: ValidPfn, order: u32, zone_id: u64) -> bool {
        if order >= MAX_PAGE_ORDER - 1 {
            return false;
        }
        let higher = pfn.block_start(order + 1);
        self.page_is_buddy(higher.buddy(order + 1), order + 1, zone_id)
    }

    /// Free a block and merge it with its buddies (__free_one_page).
    pub(crate) fn free_one(&mut self, pfn: ValidPfn, order: u32, mt: MigrateType, fpi: Fpi) {
        let zone_id = self.map.page(pfn).zone_id();
        let mut pfn = pfn;
        let mut order = order;
        while order < MAX_PAGE_ORDER {
            let buddy = pfn.buddy(order);
            if !self.page_is_buddy(buddy, order, zone_id) {
                break;
            }
            let mut buddy_mt = mt;
            if order >= PAGEBLOCK_ORDER {
                // Different pageblocks: keep HIGHATOMIC, CMA and ISOLATE
                // blocks apart from the others.
                buddy_mt = self.map.get_pageblock_migratetype(buddy);
                if mt != buddy_mt && (!mt.is_mergeable() || !buddy_mt.is_mergeable()) {
                    break;
                }
            }
            self.del_page_from_free_list(buddy, order, buddy_mt);
            if buddy_mt != mt {
                // The merged block is all of our type, so that expand()
                // later puts the pieces on the right lists.
                self.change_pageblock_range(buddy, order, mt);
            }
            pfn = pfn.block_start(order + 1);
            order += 1;
        }
        let to_tail = fpi.contains(Fpi::TO_TAIL) || self.buddy_merge_likely(pfn, order, zone_id);
        self.add_to_free_list(pfn, order, mt, to_tail);
    }

    /// Free `2^order` pages at `pfn`, each pageblock with its own type
    /// (split_large_buddy + __free_one_page).
    pub(crate) fn free_one_page(&mut self, pfn: ValidPfn, order: u32, fpi: Fpi) {
        let step = order.min(PAGEBLOCK_ORDER);
        let pieces = 1u64 << (order - step);
        for i in 0..pieces {
            let piece = pfn.add(i << step);
            let mt = self.map.get_pageblock_migratetype(piece);
            self.free_one(piece, step, mt, fpi);
        }
    }

    /// Split a block of order `high` at `pfn` down to `low`, putting the
    /// upper halves on the lists (expand). Returns the pages put back.
    fn expand(&mut self, pfn: ValidPfn, low: u32, high: u32, mt: MigrateType) -> u64 {
        let mut high = high;
        let mut size = 1u64 << high;
        let mut added = 0;
        while high > low {
            high -= 1;
            size >>= 1;
            self.add_to_free_list(pfn.add(size), high, mt, false);
            added += size;
        }
        added
    }

    /// page_del_and_expand.
    fn page_del_and_expand(&mut self, pfn: ValidPfn, low: u32, high: u32, mt: MigrateType) {
        self.del_page_from_free_list(pfn, high, mt);
        self.expand(pfn, low, high, mt);
    }

    /// The smallest block of at least `order` on `mt`'s lists (__rmqueue_smallest).
    pub(crate) fn rmqueue_smallest(&mut self, order: u32, mt: MigrateType) -> Option<ValidPfn> {
        for current in order..=MAX_PAGE_ORDER {
            if let Some(pfn) = self.fa.area[current as usize].free_list[mt as usize].first() {
                self.page_del_and_expand(pfn, order, current, mt);
                return Some(pfn);
            }
        }
        None
    }

    /// Whether falling back at `order` should try to claim the pageblock
    /// (should_try_claim_block).
    fn should_try_claim_block(&self, order: u32, start_mt: MigrateType) -> bool {
        order >= PAGEBLOCK_ORDER / 2
            || matches!(start_mt, MigrateType::Reclaimable | MigrateType::Unmovable)
            || self.zone.page_group_by_mobility_disabled
    }

    /// The first fallback type with a free block at `order` (find_suitable_fallback).
    fn find_suitable_fallback(&self, order: u32, mt: MigrateType, claimable: bool) -> Fallback {
        if claimable && !self.should_try_claim_block(order, mt) {
            return Fallback::TooLow;
        }
        let area = &self.fa.area[order as usize];
        if area.nr_free == 0 {
            return Fallback::None;
        }
        for &fallback in &FALLBACKS[mt as usize % MIGRATE_PCPTYPES] {
            if !area.free_list[fallback as usize].is_empty() {
                return Fallback::Found(fallback);
            }
        }
        Fallback::None
    }

    /// Count the free and movable pages of `pfn`'s pageblock, if it lies
    /// wholly in this zone (prep_move_freepages_block).
    fn prep_move_freepages_block(&self, pfn: ValidPfn) -> Option<(ValidPfn, u64, u64)> {
        let start = pfn.pageblock_start();
        let end = start.get() + PAGEBLOCK_NR_PAGES;
        if !self.zone.spans(start.get()) || !self.zone.spans(end - 1) {
            return None;
        }
        let (mut free, mut movable) = (0, 0);
        let mut p = start.get();
        while p < end {
            let page = self.map.page(start.same_section(p));
            if page.test_flags(PageFlags::BUDDY) {
                let nr = 1 << page.buddy_order();
                free += nr;
                p += nr;
                continue;
            }
            // Pages that could be isolated for migration count as movable.
            if page.test_flags(PageFlags::LRU) {
                movable += 1;
            }
            p += 1;
        }
        Some((start, free, movable))
    }

    /// Move the free pages of the pageblock at `start` from `old`'s lists to
    /// `new`'s (__move_freepages_block). Returns the pages moved.
    fn move_freepages(&mut self, start: ValidPfn, old: MigrateType, new: MigrateType) -> u64 {
        let end = start.get() + PAGEBLOCK_NR_PAGES;
        let mut moved = 0;
        let mut p = start.get();
        while p < end {
            let pfn = start.same_section(p);
            let page = self.map.page(pfn);
            if !page.test_flags(PageFlags::BUDDY) {
                p += 1;
                continue;
            }
            let order = page.buddy_order();
            self.move_to_free_list(pfn, order, old, new);
            p += 1 << order;
            moved += 1 << order;
        }
        moved
    }

    /// Give `pfn`'s pageblock type `new`, moving its free pages along
    /// (move_freepages_block). `None` if the pageblock straddles the zone.
    pub(crate) fn move_freepages_block(&mut self, pfn: ValidPfn, old: MigrateType, new: MigrateType) -> Option<u64> {
        let (start, _, _) = self.prep_move_freepages_block(pfn)?;
        let moved = self.move_freepages(start, old, new);
        self.map.set_pageblock_migratetype(start, new);
        Some(moved)
    }

    /// Set the type of every pageblock in the `2^order` block at `pfn`
    /// (change_pageblock_range).
    pub(crate) fn change_pageblock_range(&self, pfn: ValidPfn, order: u32, mt: MigrateType) {
        let nr_blocks = 1u64 << order.saturating_sub(PAGEBLOCK_ORDER);
        let start = pfn.pageblock_start();
        for i in 0..nr_blocks {
            self.map.set_pageblock_migratetype(start.add(i * PAGEBLOCK_NR_PAGES), mt);
        }
    }

    /// Change a pageblock to or from ISOLATE, splitting a larger free
    /// block that covers it first (move_freepages_block_isolate).
    fn move_freepages_block_isolate(&mut self, pfn: ValidPfn, new: MigrateType) -> bool {
        let start = pfn.pageblock_start();
        if !self.zone.spans(start.get()) || !self.zone.spans(start.get() + PAGEBLOCK_NR_PAGES - 1) {
            return false;
        }
        // A free block larger than a pageblock that starts at or before us.
        for order in PAGEBLOCK_ORDER + 1..=MAX_PAGE_ORDER {
            let head = start.block_start(order);
            let page = self.map.page(head);
            if page.test_flags(PageFlags::BUDDY) && page.buddy_order() >= order {
                let order = page.buddy_order();
                let old = self.map.get_pageblock_migratetype(head);
                self.del_page_from_free_list(head, order, old);
                self.map.set_pageblock_migratetype(start, new);
                self.free_one_page(head, order, Fpi::empty());
                return true;
            }
        }
        let old = self.map.get_pageblock_migratetype(start);
        self.move_freepages(start, old, new);
        self.map.set_pageblock_migratetype(start, new);
        // A wholly free pageblock could not merge with its neighbour while
        // isolated: free it again so that it can now.
        let page = self.map.page(start);
        if new != MigrateType::Isolate && page.test_flags(PageFlags::BUDDY) && page.buddy_order() == PAGEBLOCK_ORDER {
            self.del_page_from_free_list(start, PAGEBLOCK_ORDER, new);
            self.free_one(start, PAGEBLOCK_ORDER, new, Fpi::empty());
        }
        true
    }

    /// Take a fallback block and maybe claim its pageblock for `start_mt`
    /// (try_to_claim_block).
    fn try_to_claim_block(
        &mut self,
        pfn: ValidPfn,
        current_order: u32,
        order: u32,
        start_mt: MigrateType,
        block_mt: MigrateType,
    ) -> Option<ValidPfn> {
        if current_order >= PAGEBLOCK_ORDER {
            // Whole pageblocks: take them over.
            self.del_page_from_free_list(pfn, current_order, block_mt);
            self.change_pageblock_range(pfn, current_order, start_mt);
            self.expand(pfn, order, current_order, start_mt);
            return Some(pfn);
        }
        let (start, free_pages, movable_pages) = self.prep_move_freepages_block(pfn)?;
        // Pages compatible with the request: movable ones for a movable
        // request; for an unmovable or reclaimable request falling back to a
        // movable block, everything not movable; otherwise none can be told.
        let alike_pages = if start_mt == MigrateType::Movable {
            movable_pages
        } else if block_mt == MigrateType::Movable {
            PAGEBLOCK_NR_PAGES - (free_pages + movable_pages)
        } else {
            0
        };
        if free_pages + alike_pages >= 1 << (PAGEBLOCK_ORDER - 1) || self.zone.page_group_by_mobility_disabled {
            self.move_freepages(start, block_mt, start_mt);
            self.map.set_pageblock_migratetype(start, start_mt);
            return self.rmqueue_smallest(order, start_mt);
        }
        None
    }

    /// Fall back to another type and try to claim (__rmqueue_claim):
    /// largest blocks first, a rough stand-in for "the pageblock with most free pages".
    fn rmqueue_claim(&mut self, order: u32, start_mt: MigrateType, alloc_flags: AllocFlags) -> Option<ValidPfn> {
        let min_order = if order < PAGEBLOCK_ORDER && alloc_flags.contains(AllocFlags::NOFRAGMENT) {
            PAGEBLOCK_ORDER
        } else {
            order
        };
        for current in (min_order..=MAX_PAGE_ORDER).rev() {
            match self.find_suitable_fallback(current, start_mt, true) {
                Fallback::None => continue,
                Fallback::TooLow => break,
                Fallback::Found(block_mt) => {
                    let pfn = self.fa.area[current as usize].free_list[block_mt as usize].first()?;
                    if let Some(page) = self.try_to_claim_block(pfn, current, order, start_mt, block_mt) {
                        return Some(page);
                    }
                }
            }
        }
        None
    }

    /// Fall back without claiming, smallest block first (__rmqueue_steal).
    fn rmqueue_steal(&mut self, order: u32, start_mt: MigrateType) -> Option<ValidPfn> {
        for current in order..=MAX_PAGE_ORDER {
            if let Fallback::Found(block_mt) = self.find_suitable_fallback(current, start_mt, false) {
                let pfn = self.fa.area[current as usize].free_list[block_mt as usize].first()?;
                self.page_del_and_expand(pfn, order, current, block_mt);
                return Some(pfn);
            }
        }
        None
    }

    /// Take a block of `order` for type `mt` (__rmqueue).
    pub(crate) fn rmqueue(
        &mut self,
        order: u32,
        mt: MigrateType,
        alloc_flags: AllocFlags,
        mode: &mut RmqueueMode,
    ) -> Option<ValidPfn> {
        let cma = alloc_flags.contains(AllocFlags::CMA);
        // Keep movable allocations balanced between CMA and the rest.
        if cma
            && self.zone.free_cma_pages() > self.zone.free_pages() / 2
            && let Some(page) = self.rmqueue_smallest(order, MigrateType::Cma)
        {
            return Some(page);
        }
        if *mode <= RmqueueMode::Normal
            && let Some(page) = self.rmqueue_smallest(order, mt)
        {
            return Some(page);
        }
        if *mode <= RmqueueMode::Cma
            && cma
            && let Some(page) = self.rmqueue_smallest(order, MigrateType::Cma)
        {
            *mode = RmqueueMode::Cma;
            return Some(page);
        }
        if *mode <= RmqueueMode::Claim
            && let Some(page) = self.rmqueue_claim(order, mt, alloc_flags)
        {
            *mode = RmqueueMode::Normal;
            return Some(page);
        }
        if !alloc_flags.contains(AllocFlags::NOFRAGMENT)
            && let Some(page) = self.rmqueue_steal(order, mt)
        {
            *mode = RmqueueMode::Steal;
            return Some(page);
        }
        None
    }
}

/// Integer square root, rounded down (int_sqrt).
pub const fn int_sqrt(x: u64) -> u64 {
    if x < 2 {
        return x;
    }
    // Newton's method from an upper bound.
    let mut r = 1u64 << (64 - x.leading_zeros()).div_ceil(2);
    loop {
        let next = (r + x / r) / 2;
        if next >= r {
            return r;
        }
        r = next;
    }
}

/// `x * numer / denom` without overflowing the intermediate (mult_frac).
pub const fn mult_frac(x: u64, numer: u64, denom: u64) -> u64 {
    let quot = x / denom;
    let rem = x % denom;
    quot * numer + rem * numer / denom
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order_match_linux() {
        let names: Vec<_> = ZoneType::ALL.iter().map(|z| z.name()).collect();
        assert_eq!(names, ["DMA", "DMA32", "Normal", "Movable"]);
        let names: Vec<_> = MigrateType::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate"]);
        assert_eq!(MigrateType::HighAtomic as usize, MIGRATE_PCPTYPES);
        assert!(MigrateType::Reclaimable.is_mergeable() && !MigrateType::HighAtomic.is_mergeable());
        assert_eq!(NR_PAGE_ORDERS, 11);
        assert_eq!(PAGEBLOCK_NR_PAGES << crate::PAGE_SHIFT, 2 << 20);
        assert_eq!(MAX_ORDER_NR_PAGES << crate::PAGE_SHIFT, 4 << 20);
    }

    #[test]
    fn alloc_flag_values_match_linux() {
        // gfp_to_alloc_flags relies on these equalities.
        assert_eq!(AllocFlags::MIN_RESERVE.bits(), crate::gfp::Gfp::HIGH.bits());
        assert_eq!(AllocFlags::KSWAPD.bits(), crate::gfp::Gfp::KSWAPD_RECLAIM.bits());
        assert_eq!(AllocFlags::WMARK_MIN.wmark(), Wmark::Min);
        assert_eq!(AllocFlags::WMARK_LOW.wmark(), Wmark::Low);
        assert_eq!((AllocFlags::WMARK_HIGH | AllocFlags::CMA).wmark(), Wmark::High);
    }

    #[test]
    fn int_sqrt_and_mult_frac() {
        for x in [0u64, 1, 2, 3, 4, 15, 16, 17, 99, 100, 1 << 40, u64::MAX] {
            let r = int_sqrt(x);
            assert!(r as u128 * r as u128 <= x as u128 && (r as u128 + 1) * (r as u128 + 1) > x as u128, "{x}");
        }
        assert_eq!(int_sqrt(16 * 1024 * 1024), 4096);
        assert_eq!(mult_frac(262_144, 10, 10_000), 262);
        assert_eq!(mult_frac(u64::MAX / 2, 10, 10_000), (u64::MAX as u128 / 2 * 10 / 10_000) as u64);
    }
}
