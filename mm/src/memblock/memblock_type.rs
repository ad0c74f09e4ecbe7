//! One region array, `memory` or `reserved` (struct memblock_type), with
//! the sorted-and-merged invariants every operation keeps.

use core::fmt;

use crate::addr::PhysAddr;
use crate::config::NodeId;

use super::region::{INIT_MEMBLOCK_REGIONS, MemblockFlags, MemblockRegion, cap_size};

/// A region array that memblock allocated for itself.
pub(super) struct GrownArray {
    pub(super) regions: &'static mut [MemblockRegion],
    pub(super) phys: PhysAddr,
    pub(super) alloc_bytes: u64,
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
    pub(super) init_regions: [MemblockRegion; INIT_MEMBLOCK_REGIONS],
    pub(super) grown: Option<GrownArray>,
    pub(super) cnt: usize,
    pub(super) total_size: u64,
    pub(super) name: &'static str,
}

impl MemblockType {
    pub(super) const fn new(name: &'static str) -> Self {
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

    pub(super) fn slots(&self) -> &[MemblockRegion] {
        match &self.grown {
            Some(g) => g.regions,
            None => &self.init_regions,
        }
    }

    pub(super) fn slots_mut(&mut self) -> &mut [MemblockRegion] {
        match &mut self.grown {
            Some(g) => &mut g.regions[..],
            None => &mut self.init_regions,
        }
    }

    /// Index of the region containing `addr` (memblock_search).
    pub(super) fn search(&self, addr: u64) -> Option<usize> {
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
    pub(super) fn overlaps(&self, base: u64, size: u64) -> bool {
        let end = base + cap_size(base, size);
        self.regions().iter().any(|r| base < r.end_u64() && r.base.0 < end)
    }

    /// First pass of memblock_add_range: how many holes `[base, end)` has.
    pub(super) fn count_holes(&self, base: u64, end: u64) -> usize {
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
    pub(super) fn insert_holes(&mut self, base: u64, end: u64, nid: NodeId, flags: MemblockFlags) {
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
    pub(super) fn isolate(&mut self, base: u64, end: u64) -> (usize, usize) {
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
    pub(super) fn shrink_front(&mut self, idx: usize, new_base: u64) {
        let r = &mut self.slots_mut()[idx];
        let cut = new_base - r.base.0;
        r.base = PhysAddr(new_base);
        r.size -= cut;
        self.total_size -= cut;
    }

    /// memblock_insert_region.
    pub(super) fn insert_region(&mut self, idx: usize, base: u64, size: u64, nid: NodeId, flags: MemblockFlags) {
        let cnt = self.cnt;
        assert!(cnt < self.max(), "memblock: no room left in the {} array", self.name);
        let slots = self.slots_mut();
        slots.copy_within(idx..cnt, idx + 1);
        slots[idx] = MemblockRegion { base: PhysAddr(base), size, flags, nid };
        self.cnt += 1;
        self.total_size += size;
    }

    /// memblock_remove_region.
    pub(super) fn remove_region(&mut self, idx: usize) {
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
    pub(super) fn merge_regions(&mut self, start_rgn: usize, end_rgn: usize) {
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
    pub(super) fn install(
        &mut self,
        regions: &'static mut [MemblockRegion],
        phys: u64,
        alloc_bytes: u64,
    ) -> Option<(u64, u64)> {
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
