//! Walking the arrays (__next_mem_range and the for_each_* iterators),
//! and the queries.

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};
use crate::config::{NUMA_NO_NODE, NodeId};
use crate::hal::Hal;

use super::memblock_type::MemblockType;
use super::region::{AllocDirection, MemblockFlags, MemblockRegion, PHYS_ADDR_MAX, cap_size};
use super::state::Memblock;

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
    pub(super) a: &'a [MemblockRegion],
    pub(super) b: Option<&'a [MemblockRegion]>,
    pub(super) nid: NodeId,
    pub(super) flags: MemblockFlags,
    pub(super) direction: AllocDirection,
    pub(super) idx_a: isize,
    pub(super) idx_b: isize,
}

impl<'a> MemRangeIter<'a> {
    pub(super) fn new(
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
    pub(super) fn should_skip_region(&self, m: &MemblockRegion) -> bool {
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
    pub(super) fn gap(b: &[MemblockRegion], i: isize) -> (u64, u64) {
        let i = i as usize;
        let start = if i > 0 { b[i - 1].end_u64() } else { 0 };
        let end = if i < b.len() { b[i].base.0 } else { PHYS_ADDR_MAX };
        (start, end)
    }

    pub(super) fn next_up(&mut self) -> Option<(u64, u64, NodeId)> {
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

    pub(super) fn next_down(&mut self) -> Option<(u64, u64, NodeId)> {
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

impl<H: Hal> Memblock<H> {
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
}
