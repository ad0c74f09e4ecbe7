//! Adding, removing, marking and reserving ranges (memblock_add_range,
//! memblock_isolate_range and their callers).

use crate::addr::PhysAddr;
use crate::config::{NUMA_NO_NODE, NodeId};
use crate::error::Error;
use crate::hal::Hal;

use super::debug::{Caller, incl_end};
use super::memblock_type::MemblockType;
use super::region::{MemblockFlags, PHYS_ADDR_MAX, cap_size};
use super::state::{FlagChange, Growth, Memblock, Which};

impl<H: Hal> Memblock<H> {
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
        self.dbg_range_nid("memblock_add_node", base, size_bytes, nid, flags, Caller::here());
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
        if self.debug {
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

    /// Give the reservations in `[base, base + size)` to node `nid`
    /// (memblock_set_node on `reserved`, as Linux's NUMA setup does for the
    /// early reservations, so the dump names their node).
    #[track_caller]
    pub fn set_reserved_node(&mut self, base: PhysAddr, size_bytes: u64, nid: NodeId) -> Result<(), Error> {
        let (start_rgn, end_rgn) = self.isolate_range(Which::Reserved, base.0, size_bytes, Growth::Allow)?;
        let slots = self.reserved.slots_mut();
        for r in &mut slots[start_rgn..end_rgn] {
            r.nid = nid;
        }
        self.reserved.merge_regions(start_rgn, end_rgn);
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
        self.dbg_range_nid("__memblock_reserve", base, size_bytes, nid, flags, Caller::here());
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

    // ----- internals: arrays -----------------------------------------------

    pub(super) fn ty(&self, which: Which) -> &MemblockType {
        match which {
            Which::Memory => &self.memory,
            Which::Reserved => &self.reserved,
        }
    }

    pub(super) fn ty_mut(&mut self, which: Which) -> &mut MemblockType {
        match which {
            Which::Memory => &mut self.memory,
            Which::Reserved => &mut self.reserved,
        }
    }

    /// memblock_add_range.
    pub(super) fn add_range(
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
    pub(super) fn make_room(&mut self, which: Which, extra: usize, base: u64, size: u64) -> Result<(), Error> {
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
    pub(super) fn isolate_range(
        &mut self,
        which: Which,
        base: u64,
        size: u64,
        growth: Growth,
    ) -> Result<(usize, usize), Error> {
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
    pub(super) fn remove_range(&mut self, which: Which, base: u64, size: u64, growth: Growth) -> Result<(), Error> {
        let (start_rgn, end_rgn) = self.isolate_range(which, base, size, growth)?;
        let t = self.ty_mut(which);
        for i in (start_rgn..end_rgn).rev() {
            t.remove_region(i);
        }
        Ok(())
    }

    /// memblock_setclr_flag.
    pub(super) fn setclr_flag(
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
    pub(super) fn find_max_addr(&self, limit: u64) -> Option<u64> {
        let mut limit = limit;
        for r in self.memory.regions() {
            if limit <= r.size {
                return Some(r.base.0 + limit);
            }
            limit -= r.size;
        }
        None
    }
}
