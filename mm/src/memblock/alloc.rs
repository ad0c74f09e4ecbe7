//! Boot-time allocation (memblock_alloc_range_nid and friends).

use crate::addr::{PAGE_SIZE, PhysAddr};
use crate::config::{NUMA_NO_NODE, NodeId};
use crate::error::Error;
use crate::hal::Hal;

use super::debug::{Caller, incl_end};
use super::grow::Exclusions;
use super::iter::MemRangeIter;
use super::region::{AllocDirection, MEMBLOCK_ALLOC_ACCESSIBLE, MemblockFlags, SMP_CACHE_BYTES};
use super::state::{Growth, Memblock, NodeFallback, Which};

/// Lowest `align`ed start of `size` bytes in `[start, end)`.
pub(super) fn fit_bottom_up(start: u64, end: u64, size: u64, align: u64) -> Option<u64> {
    let cand = start.checked_add(align - 1)? & !(align - 1);
    (cand < end && end - cand >= size).then_some(cand)
}

/// Highest `align`ed start of `size` bytes in `[start, end)`.
pub(super) fn fit_top_down(start: u64, end: u64, size: u64, align: u64) -> Option<u64> {
    if end < size {
        return None;
    }
    let cand = (end - size) & !(align - 1);
    (cand >= start).then_some(cand)
}

/// Size 0 is refused; alignment 0 means `SMP_CACHE_BYTES`; any other
/// alignment must be a power of two.
pub(super) fn check_alloc_args(size: u64, align: u64) -> Result<u64, Error> {
    let align = if align == 0 { SMP_CACHE_BYTES } else { align };
    if size == 0 || !align.is_power_of_two() {
        return Err(Error::InvalidArgument);
    }
    Ok(align)
}

impl<H: Hal> Memblock<H> {
    // ----- allocation ------------------------------------------------------

    /// Allocate below `current_limit` from any node (memblock_phys_alloc).
    #[track_caller]
    pub fn phys_alloc(&mut self, size_bytes: u64, align_bytes: u64) -> Result<PhysAddr, Error> {
        self.phys_alloc_range(size_bytes, align_bytes, PhysAddr(0), MEMBLOCK_ALLOC_ACCESSIBLE)
    }

    /// Allocate in `[start, end)` (memblock_phys_alloc_range). `end` may be
    /// [`MEMBLOCK_ALLOC_ACCESSIBLE`] (up to `current_limit`) or
    /// [`MEMBLOCK_ALLOC_ANYWHERE`](super::region::MEMBLOCK_ALLOC_ANYWHERE); an explicit `end` is not clipped to
    /// `current_limit`.
    #[track_caller]
    pub fn phys_alloc_range(
        &mut self,
        size_bytes: u64,
        align_bytes: u64,
        start: PhysAddr,
        end: PhysAddr,
    ) -> Result<PhysAddr, Error> {
        if self.debug {
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
        if self.debug {
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

    // ----- internals: allocation ---------------------------------------------

    /// choose_memblock_flags.
    pub(super) fn choose_flags(&self) -> MemblockFlags {
        if self.has_mirror { MemblockFlags::MIRROR } else { MemblockFlags::NONE }
    }

    /// memblock_find_in_range: any node, mirrored memory first if any.
    pub(super) fn find_in_range(
        &self,
        start: u64,
        end: u64,
        size: u64,
        align: u64,
        exclude: &Exclusions,
    ) -> Option<u64> {
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
    pub(super) fn find_in_range_node(
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
    pub(super) fn alloc_range_nid(
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

    /// Reserve the block an allocation found. With `memblock=debug` it
    /// prints the `memblock_reserve` line Linux's memblock_alloc_range_nid
    /// makes through memblock_reserve, so the log tells where each
    /// allocation landed (the request's line above it names the caller).
    pub(super) fn reserve_found(&mut self, found: u64, size: u64) -> bool {
        let ok = self.add_range(Which::Reserved, found, size, NUMA_NO_NODE, MemblockFlags::NONE, Growth::Allow).is_ok();
        if ok && self.debug {
            let end = incl_end(PhysAddr(found), size);
            self.dbg(format_args!("memblock_reserve: [{found:#018x}-{end:#018x}] memblock_alloc_range_nid"));
        }
        ok
    }

    /// memblock_alloc_internal.
    pub(super) fn alloc_internal(
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
