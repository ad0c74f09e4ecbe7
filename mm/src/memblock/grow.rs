//! Growing a region array (memblock_double_array).

use crate::addr::{PAGE_SIZE, PhysAddr};
use crate::config::NUMA_NO_NODE;
use crate::error::Error;
use crate::hal::Hal;

use super::region::{MemblockFlags, MemblockRegion, RESERVED_GROWTH_HEADROOM};
use super::state::{Growth, Memblock, Which};

/// Up to four `[start, end)` ranges a grown array must not use.
pub(super) struct Exclusions {
    pub(super) ranges: [(u64, u64); 4],
    pub(super) len: usize,
}

impl Exclusions {
    pub(super) const NONE: Self = Self { ranges: [(0, 0); 4], len: 0 };

    pub(super) fn push(&mut self, start: u64, end: u64) {
        if start < end {
            self.ranges[self.len] = (start, end);
            self.len += 1;
        }
    }

    /// Split `[start, end)` around the exclusions; pieces in address order.
    pub(super) fn pieces(&self, start: u64, end: u64) -> ([(u64, u64); 5], usize) {
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

/// Slots after growing `max` by doubling until `needed` fit.
pub(super) fn grown_capacity(max: usize, needed: usize) -> usize {
    let mut n = max.max(1);
    while n < needed {
        n *= 2;
    }
    n
}

/// Page-aligned bytes for an array of `slots` regions.
pub(super) fn array_bytes(slots: usize) -> u64 {
    let bytes = (slots * size_of::<MemblockRegion>()) as u64;
    bytes.div_ceil(PAGE_SIZE) * PAGE_SIZE
}

impl<H: Hal> Memblock<H> {
    // ----- internals: growth -------------------------------------------------

    /// memblock_double_array: give `which` at least `needed` slots, never
    /// placing a new array in `[avoid_base, avoid_base + avoid_size)`.
    ///
    /// Everything that can fail happens before the first change, so on error
    /// both arrays are exactly as they were.
    pub(super) fn grow(
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
        if !self.resize_allowed {
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

        let Some(regions) = Self::map_array(addr, bytes, new_max) else {
            return Err(self.grow_failed(name, old_max, new_max));
        };
        let reserved_regions = match reserved_plan {
            Some((r_addr, r_bytes, r_old, r_max)) => match Self::map_array(r_addr, r_bytes, r_max) {
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

    pub(super) fn grow_failed(&self, name: &str, old_max: usize, new_max: usize) -> Error {
        self.dbg(format_args!("memblock: Failed to double {name} array from {old_max} to {new_max} entries !"));
        Error::NoMemory
    }

    pub(super) fn dbg_doubled(&self, name: &str, new_max: usize, addr: u64) {
        let new_end = addr + (new_max * size_of::<MemblockRegion>()) as u64 - 1;
        self.dbg(format_args!("memblock: {name} is doubled to {new_max} at [{addr:#018x}-{new_end:#018x}]"));
    }

    /// Where a new array of `bytes` may go: above the avoided range first,
    /// then below it, always below `current_limit`.
    pub(super) fn find_array_space(
        &self,
        bytes: u64,
        avoid_base: u64,
        avoid_size: u64,
        exclude: &Exclusions,
    ) -> Option<u64> {
        let limit = self.current_limit.0;
        self.find_in_range(avoid_base + avoid_size, limit, bytes, PAGE_SIZE, exclude).or_else(|| {
            (avoid_size != 0).then(|| self.find_in_range(0, avoid_base.min(limit), bytes, PAGE_SIZE, exclude)).flatten()
        })
    }

    /// A region array of `slots` entries in the `bytes` at `phys`, which
    /// memblock found free and is about to reserve, reached through the
    /// linear map; `None` if it is not mapped (yet) or not usable.
    pub(super) fn map_array(phys: u64, bytes: u64, slots: usize) -> Option<&'static mut [MemblockRegion]> {
        if (slots * size_of::<MemblockRegion>()) as u64 > bytes {
            return None;
        }
        let p = H::phys_to_virt(PhysAddr(phys), bytes)?.cast::<MemblockRegion>();
        if !p.as_ptr().is_aligned() {
            return None;
        }
        for i in 0..slots {
            // SAFETY: Hal obligation 3: `p` is valid for writes of `bytes`,
            // which hold `slots` regions (checked above), and is aligned
            // (checked); nothing else reaches the memory while memblock keeps
            // it reserved, which it does from now on.
            unsafe { p.as_ptr().add(i).write(MemblockRegion::EMPTY) };
        }
        // SAFETY: as above; every entry was just initialised, and the memory
        // stays valid and unaliased for as long as the array is in use (it is
        // reserved until memblock itself frees it after switching away).
        Some(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), slots) })
    }
}
