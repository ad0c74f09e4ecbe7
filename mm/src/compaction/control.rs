//! The state of one compaction run (Linux's struct compact_control), what
//! a run can end with, and the list of free pages the free scanner has
//! taken for targets.

use bitflags::bitflags;

use crate::addr::Pfn;
use crate::config::PAGEBLOCK_ORDER;
use crate::mmzone::{MigrateType, ZoneType};
use crate::zone::{AllocFlags, Zone};

/// Pages the migrate scanner isolates before they are migrated as one
/// batch (COMPACT_CLUSTER_MAX, Linux's SWAP_CLUSTER_MAX).
pub const COMPACT_CLUSTER_MAX: usize = 32;

/// The order of a run that compacts the whole zone, as writing
/// `/proc/sys/vm/compact_memory` asks (is_via_compact_memory).
pub const COMPACT_ORDER_WHOLE_ZONE: i32 = -1;

/// How hard a run tries (enum migrate_mode; the migrator itself never
/// sleeps, so the mode only steers the scanners).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MigrateMode {
    /// Direct compaction's first, cheap pass: the migrate scanner takes
    /// only pageblocks of the allocation's kind, the free scanner samples
    /// pageblocks with a growing stride until it finds free pages.
    Async,
    /// Every pageblock, every page.
    Sync,
}

/// What a compaction run or a check found (enum compact_result), in
/// Linux's order: later is "more done", and callers take the maximum.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum CompactResult {
    /// Compacting would not help: the failure is for want of memory.
    NotSuitableZone,
    /// Not even tried (too little free memory, or not allowed).
    Skipped,
    /// Not tried: recent failures at this order put it off.
    Deferred,
    /// Internal: no suitable block yet (turned into `Continue`).
    NoSuitablePage,
    /// Keep going.
    Continue,
    /// The scanners met across the whole zone.
    Complete,
    /// The scanners met over part of the zone.
    PartialSkipped,
    /// Stopped early: no target pages although the scanners had not met.
    Contended,
    /// A block of the wanted order is free (or the watermark already passed).
    Success,
}

bitflags! {
    /// What kind of run this is.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct CompactFlags: u32 {
        /// Scan the zone from both ends (cc->whole_zone).
        const WHOLE_ZONE = 1 << 0;
        /// Run by an allocation's slow path (cc->direct_compaction).
        const DIRECT = 1 << 1;
    }
}

/// Room for target runs: the free scanner adds at most
/// [`COMPACT_CLUSTER_MAX`] runs per refill (each at least a page, and it
/// stops at as many pages as there are sources), and unused targets come
/// back as runs of one.
const FREE_RUNS: usize = 2 * COMPACT_CLUSTER_MAX;

/// A run of consecutive order-0 target pages, each with refcount 1.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct FreeRun {
    pub(super) pfn: u64,
    pub(super) nr: u64,
}

/// The free pages isolated for migration targets (cc->freepages).
///
/// # Invariants
///
/// Every page of `runs[..len]` was taken off the buddy lists by the free
/// scanner (or given back unused by migration), is in the zone being
/// compacted, has refcount 1 and no other owner; `nr_pages` is their number.
pub(super) struct FreeList {
    runs: [FreeRun; FREE_RUNS],
    len: usize,
    nr_pages: u64,
}

impl FreeList {
    /// An empty list, for tests of the list alone.
    #[cfg(test)]
    pub(super) const fn new_for_tests() -> Self {
        Self::new()
    }

    const fn new() -> Self {
        Self { runs: [FreeRun { pfn: 0, nr: 0 }; FREE_RUNS], len: 0, nr_pages: 0 }
    }

    /// Pages on the list (cc->nr_freepages).
    #[inline]
    pub(super) fn nr_pages(&self) -> u64 {
        self.nr_pages
    }

    /// Runs on the list.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The runs added since the list had `from` runs.
    pub(super) fn runs_since(&self, from: usize) -> &[FreeRun] {
        &self.runs[from..self.len]
    }

    /// Whether another run fits.
    #[inline]
    pub(super) fn has_room(&self) -> bool {
        self.len < FREE_RUNS
    }

    /// Add a run; false (and nothing added) if the list is full.
    pub(super) fn push(&mut self, pfn: u64, nr: u64) -> bool {
        if self.len == FREE_RUNS {
            return false;
        }
        self.runs[self.len] = FreeRun { pfn, nr };
        self.len += 1;
        self.nr_pages += nr;
        true
    }

    /// Take one page: the lowest of the newest run.
    pub(super) fn pop(&mut self) -> Option<Pfn> {
        let run = self.runs[..self.len].last_mut()?;
        let pfn = run.pfn;
        run.pfn += 1;
        run.nr -= 1;
        if run.nr == 0 {
            self.len -= 1;
        }
        self.nr_pages -= 1;
        Some(Pfn(pfn))
    }

    /// Empty the list, giving each page to `f`.
    pub(super) fn drain(&mut self, mut f: impl FnMut(Pfn)) {
        for run in &self.runs[..self.len] {
            for p in run.pfn..run.pfn + run.nr {
                f(Pfn(p));
            }
        }
        self.len = 0;
        self.nr_pages = 0;
    }
}

/// The free scanner's half of a run: where it is, what it holds.
pub(super) struct FreeScanner {
    /// The next PFN the free scanner looks at, going down.
    pub(super) free_pfn: u64,
    pub(super) freepages: FreeList,
    pub(super) total_free_scanned: u64,
    pub(super) nr_free_isolated: u64,
}

/// One compaction run over one zone (struct compact_control).
///
/// # Invariants
///
/// `migratepages[..nr_migratepages]` are isolated pages (a reference held
/// by the run) of `zone`; between batches the list is empty.
pub struct CompactControl<'a> {
    /// The zone compacted.
    pub zone: &'a Zone,
    /// The order wanted, or [`COMPACT_ORDER_WHOLE_ZONE`].
    pub order: i32,
    /// The migratetype of the allocation compacted for.
    pub migratetype: MigrateType,
    /// The highest zone the allocation may use.
    pub highest_zoneidx: ZoneType,
    /// The allocation's ALLOC_* flags (its watermark, CMA access).
    pub alloc_flags: AllocFlags,
    /// Async or sync.
    pub mode: MigrateMode,
    /// Whole zone, direct.
    pub flags: CompactFlags,
    /// The next PFN the migrate scanner looks at, going up.
    pub migrate_pfn: u64,
    /// Pages the migrate scanner looked at.
    pub total_migrate_scanned: u64,
    /// Pages isolated for migration.
    pub nr_migrate_isolated: u64,
    /// Pages migrated.
    pub nr_migrated: u64,
    /// Pages that failed to migrate.
    pub nr_migrate_failed: u64,
    pub(super) nr_migratepages: usize,
    pub(super) migratepages: [Pfn; COMPACT_CLUSTER_MAX],
    pub(super) free: FreeScanner,
}

impl<'a> CompactControl<'a> {
    /// A run over `zone` for an allocation of `order` (or the whole zone).
    /// The scanners start at the zone's two ends.
    pub fn new(
        zone: &'a Zone,
        order: i32,
        mode: MigrateMode,
        flags: CompactFlags,
        migratetype: MigrateType,
        highest_zoneidx: ZoneType,
        alloc_flags: AllocFlags,
    ) -> Self {
        let mut cc = Self {
            zone,
            order,
            migratetype,
            highest_zoneidx,
            alloc_flags,
            mode,
            flags,
            migrate_pfn: 0,
            total_migrate_scanned: 0,
            nr_migrate_isolated: 0,
            nr_migrated: 0,
            nr_migrate_failed: 0,
            nr_migratepages: 0,
            migratepages: [Pfn(0); COMPACT_CLUSTER_MAX],
            free: FreeScanner { free_pfn: 0, freepages: FreeList::new(), total_free_scanned: 0, nr_free_isolated: 0 },
        };
        cc.reset_scanners();
        cc
    }

    /// Put the migrate scanner at the zone's start and the free scanner at
    /// its last pageblock.
    pub(super) fn reset_scanners(&mut self) {
        let start = self.zone.zone_start_pfn();
        let end = self.zone.zone_end_pfn();
        self.migrate_pfn = start;
        self.free.free_pfn = if end > start { pageblock_start_pfn(end - 1) } else { start };
    }

    /// The next PFN the free scanner looks at.
    #[inline]
    pub fn free_pfn(&self) -> u64 {
        self.free.free_pfn
    }

    /// Pages the free scanner looked at.
    #[inline]
    pub fn total_free_scanned(&self) -> u64 {
        self.free.total_free_scanned
    }

    /// Free pages taken for targets.
    #[inline]
    pub fn nr_free_isolated(&self) -> u64 {
        self.free.nr_free_isolated
    }

    /// Whether this run compacts the whole zone regardless of any order.
    #[inline]
    pub fn is_via_compact_memory(&self) -> bool {
        self.order == COMPACT_ORDER_WHOLE_ZONE
    }

    /// Whether the two scanners are in the same pageblock or have passed
    /// each other (compact_scanners_met).
    #[inline]
    pub fn scanners_met(&self) -> bool {
        (self.free.free_pfn >> PAGEBLOCK_ORDER) <= (self.migrate_pfn >> PAGEBLOCK_ORDER)
    }
}

/// The first PFN of `pfn`'s pageblock.
#[inline]
pub(super) const fn pageblock_start_pfn(pfn: u64) -> u64 {
    pfn & !((1 << PAGEBLOCK_ORDER) - 1)
}

/// The first PFN after `pfn`'s pageblock.
#[inline]
pub(super) const fn pageblock_end_pfn(pfn: u64) -> u64 {
    pageblock_start_pfn(pfn) + (1 << PAGEBLOCK_ORDER)
}
