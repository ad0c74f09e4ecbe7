//! The zone descriptor (Linux's struct zone): identity, counters, the
//! lock-protected free areas and the per-CPU pagesets.

use core::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::config::{
    MAX_NR_ZONES, NR_CPUS, NR_PAGE_ORDERS, NodeId, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER,
};
use crate::mmzone::{MIGRATE_PCPTYPES, MIGRATE_TYPES, MigrateType, ZoneType};
use crate::page::{MemMap, PfnList, ValidPfn};

use super::alloc_flags::{AllocFlags, NR_WMARK, Wmark};
use super::pageset::PcpSlot;

/// One order's free lists (struct free_area).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FreeArea {
    pub(crate) free_list: [PfnList; MIGRATE_TYPES],
}

/// Everything the zone lock protects.
pub(crate) struct FreeAreas {
    pub(crate) area: [FreeArea; NR_PAGE_ORDERS],
    /// A free count changed during this lock hold (set by every account):
    /// the guard then recomputes the fast path's watermark cache.
    pub(crate) changed: bool,
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
    pub(super) nr_free_pages: AtomicU64,
    pub(super) nr_free_cma_pages: AtomicU64,
    pub(super) nr_free_highatomic: AtomicU64,
    pub(super) nr_free_blocks: [[AtomicU64; MIGRATE_TYPES]; NR_PAGE_ORDERS],
}

/// Add `delta` to a counter that only lock holders write.
#[inline]
pub(super) fn mod_locked(counter: &AtomicU64, delta: i64) {
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
    pub(super) vm_stat: ZoneStat,
    lock: spin::Mutex<FreeAreas>,
    /// The cached watermark decision of the pcp fast path: bit
    /// `order * 4 + z` set when an allocation of `order` (<= 3) whose
    /// highest zone is `z` passes the LOW watermark without CMA pages or
    /// reserves (see [`Zone::pcp_wmark_ok`]).
    /// Written under the zone lock, whenever a lock holder changed the free
    /// counts, and after the watermarks or lowmem reserves change.
    fast_wmark: AtomicU32,
    /// The largest `low + lowmem_reserve[z]` over all `z`, set with the
    /// watermarks: far above it, every bit of `fast_wmark` is set.
    fast_wmark_floor: AtomicU64,
    /// For the fast path of orders above 3, with `fast_wmark`: the free
    /// pages less CMA and HIGHATOMIC ones less `fast_wmark_floor` (the
    /// slack above every mark), and the largest order with a free block on
    /// an Unmovable, Movable or Reclaimable list (-1: none).
    fast_slack: AtomicI64,
    fast_largest: AtomicI64,
    /// Pageblocks of this zone that are ISOLATE (nr_isolate_pageblock),
    /// written under the zone lock. While it is nonzero a freed page's
    /// pageblock is looked up before it may go to a pcp list.
    pub(crate) nr_isolate_pageblock: AtomicU32,
    pub(crate) pageset: [PcpSlot; NR_CPUS],
    /// Compaction's deferral state (see the compaction module): attempts
    /// skipped since the last failure, log2 of how many to skip, and the
    /// lowest order that failed. Written without a lock, as Linux does: a
    /// lost update only changes how soon compaction is tried again.
    pub(crate) compact_considered: AtomicU32,
    pub(crate) compact_defer_shift: AtomicU32,
    pub(crate) compact_order_failed: AtomicU32,
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
                area: [FreeArea { free_list: [PfnList::EMPTY; MIGRATE_TYPES] }; NR_PAGE_ORDERS],
                changed: false,
            }));
            (&raw mut (*this).fast_wmark).write(AtomicU32::new(0));
            (&raw mut (*this).fast_wmark_floor).write(AtomicU64::new(0));
            (&raw mut (*this).fast_slack).write(AtomicI64::new(0));
            (&raw mut (*this).fast_largest).write(AtomicI64::new(-1));
            (&raw mut (*this).nr_isolate_pageblock).write(AtomicU32::new(0));
            (&raw mut (*this).compact_considered).write(AtomicU32::new(0));
            (&raw mut (*this).compact_defer_shift).write(AtomicU32::new(0));
            (&raw mut (*this).compact_order_failed).write(AtomicU32::new(0));
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

    /// Compaction attempts considered since the last deferral (compact_considered).
    #[inline]
    pub fn compact_considered(&self) -> u32 {
        self.compact_considered.load(Relaxed)
    }

    /// log2 of the attempts skipped after a failure (compact_defer_shift).
    #[inline]
    pub fn compact_defer_shift(&self) -> u32 {
        self.compact_defer_shift.load(Relaxed)
    }

    /// The lowest order compaction failed for since it last succeeded
    /// (compact_order_failed).
    #[inline]
    pub fn compact_order_failed(&self) -> u32 {
        self.compact_order_failed.load(Relaxed)
    }

    /// Take the zone lock.
    #[inline]
    pub(crate) fn lock<'a>(&'a self, map: &'a MemMap) -> ZoneGuard<'a> {
        ZoneGuard { zone: self, map, fa: self.lock.lock() }
    }

    /// What the cached watermark decision depends on besides the marks:
    /// free pages less CMA and HIGHATOMIC ones.
    #[inline(always)]
    fn wmark_usable(&self) -> u64 {
        let stat = &self.vm_stat;
        stat.nr_free_pages
            .load(Relaxed)
            .wrapping_sub(stat.nr_free_cma_pages.load(Relaxed))
            .wrapping_sub(stat.nr_free_highatomic.load(Relaxed))
    }

    /// The pcp fast path's watermark decision for an allocation of `order`
    /// (<= 3) whose highest zone is `highest_zoneidx`: true only if
    /// `zone_watermark_ok(order, low, highest_zoneidx, ALLOC_WMARK_LOW)`
    /// holds now. It is exact for allocations that may not use CMA pages
    /// and conservative for those that may (a false answer sends them to
    /// the full check): the inputs, the free counts, change only under the
    /// zone lock, and the cache is recomputed before that lock is released
    /// and whenever the watermarks or reserves are set.
    #[inline(always)]
    pub(crate) fn pcp_wmark_ok(&self, order: u32, highest_zoneidx: usize) -> bool {
        self.fast_wmark.load(Relaxed) & (1 << (order as usize * MAX_NR_ZONES + highest_zoneidx)) != 0
    }

    /// Recompute [`Zone::pcp_wmark_ok`]'s cache; the caller holds the zone
    /// lock.
    pub(super) fn compute_wmark_cache(&self) {
        // __zone_watermark_ok without ALLOC_CMA or reserves: the free pages
        // less CMA and HIGHATOMIC ones, less 2^order - 1, must exceed the
        // mark plus the lowmem reserve against the allocation's highest
        // zone, and for order > 0 a free block of at least that order must
        // be on an Unmovable, Movable or Reclaimable list.
        let usable = self.wmark_usable() as i64;
        let mut largest_block = -1i64;
        for o in (1..NR_PAGE_ORDERS).rev() {
            if self.vm_stat.nr_free_blocks[o][..MIGRATE_PCPTYPES].iter().any(|c| c.load(Relaxed) != 0) {
                largest_block = o as i64;
                break;
            }
        }
        let slack = usable - self.fast_wmark_floor.load(Relaxed) as i64;
        self.fast_slack.store(slack, Relaxed);
        self.fast_largest.store(largest_block, Relaxed);
        const ALL: u32 = (1 << (MAX_NR_ZONES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1))) - 1;
        // The common case, one comparison: far enough above every mark for
        // any order up to 3, with a free block of order 3 or more.
        if slack > (1 << PAGE_ALLOC_COSTLY_ORDER) && largest_block >= PAGE_ALLOC_COSTLY_ORDER as i64 {
            self.fast_wmark.store(ALL, Relaxed);
            return;
        }
        let low = self.wmark_pages(Wmark::Low) as i64;
        let mut bits = 0;
        for order in 0..=PAGE_ALLOC_COSTLY_ORDER as i64 {
            if order > 0 && largest_block < order {
                break;
            }
            for z in 0..MAX_NR_ZONES {
                let reserve = self.lowmem_reserve[z].load(Relaxed) as i64;
                let ok = usable - ((1 << order) - 1) > low + reserve;
                bits |= (ok as u32) << (order as usize * MAX_NR_ZONES + z);
            }
        }
        self.fast_wmark.store(bits, Relaxed);
    }

    /// The fast path's watermark decision for an allocation of `order`
    /// above 3: true only if the LOW watermark check holds for every
    /// highest zone (conservative: near the marks the full check decides).
    #[inline(always)]
    pub(crate) fn high_wmark_ok(&self, order: u32) -> bool {
        self.fast_slack.load(Relaxed) > (1i64 << order) - 1 && self.fast_largest.load(Relaxed) >= order as i64
    }

    /// Recompute the cached watermark decision under the zone lock (after
    /// the watermarks or lowmem reserves changed).
    pub(crate) fn refresh_wmark_cache(&self) {
        let _fa = self.lock.lock();
        let low = self.wmark_pages(Wmark::Low);
        let floor = self.lowmem_reserve.iter().map(|r| low + r.load(Relaxed)).max().unwrap_or(low);
        self.fast_wmark_floor.store(floor, Relaxed);
        self.compute_wmark_cache();
    }

    /// A consistent copy of the free counts, taken under the zone lock.
    pub(crate) fn free_snapshot(&self) -> FreeSnapshot {
        // Under the lock: the counts are all of one instant.
        let _fa = self.lock.lock();
        let mut snap = FreeSnapshot {
            nr_free: [0; NR_PAGE_ORDERS],
            by_type: [[0; MIGRATE_TYPES]; NR_PAGE_ORDERS],
            nr_free_pages: self.free_pages(),
        };
        for o in 0..NR_PAGE_ORDERS {
            // free_area.nr_free: the sum of the per-type counts (kept once,
            // per type, so that a list change updates one counter less).
            snap.nr_free[o] = self.nr_free(o as u32);
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
    pub(super) fa: spin::MutexGuard<'a, FreeAreas>,
}

impl Drop for ZoneGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // Still under the lock: `fa` is released after this body.
        // Recomputed only if this holder changed a free count (the
        // watermarks themselves change only with a refresh).
        if self.fa.changed {
            self.fa.changed = false;
            self.zone.compute_wmark_cache();
        }
    }
}

impl ZoneGuard<'_> {
    /// Take the free block of `order` at `pfn` off its list for compaction's
    /// free scanner (__isolate_free_page). Unless the pageblock is isolated,
    /// the zone must stay above its min watermark (plus the block) as if the
    /// block were being allocated; otherwise nothing changes and 0 is
    /// returned. Returns the pages taken. A block of half a pageblock or
    /// more turns its mergeable pageblocks MOVABLE, as an allocation that
    /// size would claim them.
    ///
    /// The caller has checked that `pfn` heads a free block of `order` in
    /// this zone (PG_buddy, order in `private`, its zone id) under this lock.
    pub(crate) fn isolate_free_page(&mut self, pfn: ValidPfn, order: u32) -> u64 {
        let mt = self.map.get_pageblock_migratetype(pfn);
        if mt != MigrateType::Isolate {
            let mark = self.zone.watermark[Wmark::Min as usize].load(Relaxed) + (1 << order);
            if !self.zone.zone_watermark_ok(0, mark, ZoneType::Dma, AllocFlags::CMA) {
                return 0;
            }
        }
        self.del_page_from_free_list(pfn, order, mt);
        if order + 1 >= PAGEBLOCK_ORDER {
            let nr_blocks = (1u64 << order).div_ceil(PAGEBLOCK_NR_PAGES);
            for i in 0..nr_blocks {
                let block = pfn.add(i * PAGEBLOCK_NR_PAGES).pageblock_start();
                let block_mt = self.map.get_pageblock_migratetype(block);
                if block_mt.is_mergeable() && block_mt != MigrateType::Movable {
                    self.move_freepages_block(block, block_mt, MigrateType::Movable);
                }
            }
        }
        1 << order
    }

    /// The free areas, for walks (tests and reports).
    #[cfg(test)]
    #[inline]
    pub(crate) fn areas(&self) -> &FreeAreas {
        &self.fa
    }
}
