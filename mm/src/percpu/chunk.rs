//! One chunk's allocation map: which bytes of a unit are handed out.
//!
//! Every unit of a chunk has the same layout, so one map describes all of
//! them: an allocation at offset `off` is `size` bytes at `off` in every
//! CPU's unit. The map counts in steps of [`PCPU_MIN_ALLOC_SIZE`] bytes
//! ("bits" below), as Linux's `pcpu_chunk` does since 4.14:
//!
//! ```text
//!   alloc_map  1 = the step is in use          0 = free
//!   bound_map  1 = an allocation starts here
//!
//!   steps      0      s      s+3        s+7
//!   alloc_map  1 ... 1 1 1 1 0 0 0 0 1 1 1 0 ...
//!   bound_map  1 ... 0 1 0 0 0 0 0 0 1 0 0 0 ...
//!              static  [  a  ]         [ b ]
//! ```
//!
//! An allocation is a run of used steps that begins at a bound bit and
//! ends at the first step that is free or begins another allocation, so
//! freeing needs only the start offset, and a free clears exactly the
//! steps of that run: free neighbours are merged simply because the map has
//! no boundary between free steps. The first chunk's static variables are
//! a used run at offset 0 that may not be freed (`start_bits`).
//!
//! Differences from Linux: no per-block hints (`pcpu_block_md`): a search
//! is a first-fit scan of the map a word at a time, at most
//! [`PCPU_MAX_UNIT_SIZE`] / 4 / 64 = 256 words, skipped entirely when the
//! chunk's free count is too small. Allocation is rare next to use.

use super::sizes::{PCPU_MAX_UNIT_SIZE, PCPU_MIN_ALLOC_SIZE};
use crate::Error;

/// Steps in the largest unit the map can describe.
const MAP_BITS: usize = PCPU_MAX_UNIT_SIZE / PCPU_MIN_ALLOC_SIZE;
const MAP_WORDS: usize = MAP_BITS / 64;

/// The allocation map of one chunk.
///
/// # Invariants
/// * `nr_bits <= MAP_BITS`; no bit at or above `nr_bits` is set in either map.
/// * Every bound bit is a used step; `[0, start_bits)` is used and bound at 0
///   when `start_bits > 0`.
/// * `nr_free_bits` is the number of clear `alloc_map` bits below `nr_bits`.
pub struct PcpuChunkMap {
    nr_bits: usize,
    start_bits: usize,
    nr_free_bits: usize,
    alloc_map: [u64; MAP_WORDS],
    bound_map: [u64; MAP_WORDS],
}

impl PcpuChunkMap {
    /// A map of no bytes (every allocation fails); [`init`](Self::init) sizes it.
    pub const fn empty() -> Self {
        PcpuChunkMap {
            nr_bits: 0,
            start_bits: 0,
            nr_free_bits: 0,
            alloc_map: [0; MAP_WORDS],
            bound_map: [0; MAP_WORDS],
        }
    }

    /// Describe a unit of `unit_size` bytes whose first `reserved_bytes`
    /// (the first chunk's static variables; 0 otherwise) are in use for good.
    /// `InvalidArgument` if the unit is larger than [`PCPU_MAX_UNIT_SIZE`],
    /// not a multiple of the step, or smaller than the reserved part.
    pub fn init(&mut self, unit_size: usize, reserved_bytes: usize) -> Result<(), Error> {
        if unit_size > PCPU_MAX_UNIT_SIZE
            || !unit_size.is_multiple_of(PCPU_MIN_ALLOC_SIZE)
            || reserved_bytes > unit_size
        {
            return Err(Error::InvalidArgument);
        }
        // In place: the map is 4 KiB, too big for a temporary on a kernel stack.
        self.alloc_map.fill(0);
        self.bound_map.fill(0);
        self.nr_bits = unit_size / PCPU_MIN_ALLOC_SIZE;
        self.start_bits = reserved_bytes.div_ceil(PCPU_MIN_ALLOC_SIZE);
        self.nr_free_bits = self.nr_bits - self.start_bits;
        if self.start_bits > 0 {
            self.set_range(0, self.start_bits);
            set_bit(&mut self.bound_map, 0);
        }
        Ok(())
    }

    /// Bytes per unit the map describes.
    pub fn unit_size(&self) -> usize {
        self.nr_bits * PCPU_MIN_ALLOC_SIZE
    }

    /// Free bytes per unit.
    pub fn free_bytes(&self) -> usize {
        self.nr_free_bits * PCPU_MIN_ALLOC_SIZE
    }

    /// Bytes per unit that can be handed out at all (the unit less the
    /// reserved part).
    pub fn dynamic_bytes(&self) -> usize {
        (self.nr_bits - self.start_bits) * PCPU_MIN_ALLOC_SIZE
    }

    /// Nothing but the reserved part is in use.
    pub fn is_empty(&self) -> bool {
        self.nr_free_bits == self.nr_bits - self.start_bits
    }

    /// Take the lowest `size_bytes` (rounded up to the step) at a multiple of
    /// `align_bytes` (a power of two; below the step counts as the step);
    /// the offset in the unit, or `NoMemory` when no free run fits.
    pub fn alloc(&mut self, size_bytes: usize, align_bytes: usize) -> Result<usize, Error> {
        if size_bytes == 0 || !align_bytes.is_power_of_two() {
            return Err(Error::InvalidArgument);
        }
        let n = size_bytes.div_ceil(PCPU_MIN_ALLOC_SIZE);
        let align = (align_bytes / PCPU_MIN_ALLOC_SIZE).max(1);
        if n > self.nr_free_bits {
            return Err(Error::NoMemory);
        }
        let mut pos = self.start_bits;
        while pos < self.nr_bits {
            let free_start = find_next_zero(&self.alloc_map, pos, self.nr_bits);
            if free_start >= self.nr_bits {
                break;
            }
            let free_end = find_next_one(&self.alloc_map, free_start, self.nr_bits);
            let start = free_start.next_multiple_of(align);
            if start + n <= free_end {
                self.set_range(start, n);
                set_bit(&mut self.bound_map, start);
                self.nr_free_bits -= n;
                return Ok(start * PCPU_MIN_ALLOC_SIZE);
            }
            pos = free_end;
        }
        Err(Error::NoMemory)
    }

    /// Give back the allocation that starts at `offset`; its size in bytes.
    /// `InvalidArgument` for an offset outside the unit, not on a step, or in
    /// the reserved part; `NotFound` if no live allocation starts there (a
    /// double free, or a pointer into the middle of one). Nothing changes on
    /// an error.
    pub fn free(&mut self, offset: usize) -> Result<usize, Error> {
        if !offset.is_multiple_of(PCPU_MIN_ALLOC_SIZE) {
            return Err(Error::InvalidArgument);
        }
        let start = offset / PCPU_MIN_ALLOC_SIZE;
        if start >= self.nr_bits || start < self.start_bits {
            return Err(Error::InvalidArgument);
        }
        if !test_bit(&self.bound_map, start) {
            return Err(Error::NotFound);
        }
        debug_assert!(test_bit(&self.alloc_map, start), "bound bit on a free step");
        let next_free = find_next_zero(&self.alloc_map, start + 1, self.nr_bits);
        let next_bound = find_next_one(&self.bound_map, start + 1, self.nr_bits);
        let end = next_free.min(next_bound);
        clear_bit(&mut self.bound_map, start);
        for b in start..end {
            clear_bit(&mut self.alloc_map, b);
        }
        self.nr_free_bits += end - start;
        Ok((end - start) * PCPU_MIN_ALLOC_SIZE)
    }

    fn set_range(&mut self, start: usize, n: usize) {
        for b in start..start + n {
            debug_assert!(!test_bit(&self.alloc_map, b), "step {b} handed out twice");
            set_bit(&mut self.alloc_map, b);
        }
    }
}

fn test_bit(map: &[u64], b: usize) -> bool {
    map[b / 64] & (1 << (b % 64)) != 0
}

fn set_bit(map: &mut [u64], b: usize) {
    map[b / 64] |= 1 << (b % 64);
}

fn clear_bit(map: &mut [u64], b: usize) {
    map[b / 64] &= !(1 << (b % 64));
}

/// The first set bit at or after `from`, or `limit`.
fn find_next_one(map: &[u64], from: usize, limit: usize) -> usize {
    find_next(map, from, limit, 0)
}

/// The first clear bit at or after `from`, or `limit`.
fn find_next_zero(map: &[u64], from: usize, limit: usize) -> usize {
    find_next(map, from, limit, u64::MAX)
}

/// The first bit at or after `from` that differs from `skip`'s bits.
fn find_next(map: &[u64], from: usize, limit: usize, skip: u64) -> usize {
    let mut b = from;
    while b < limit {
        let w = (map[b / 64] ^ skip) >> (b % 64);
        if w != 0 {
            return (b + w.trailing_zeros() as usize).min(limit);
        }
        b = (b / 64 + 1) * 64;
    }
    limit
}
