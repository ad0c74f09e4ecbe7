//! The bit searches CMA's allocation bitmap needs (Linux's find_next_bit,
//! find_next_zero_bit and bitmap_find_next_zero_area_off), over a slice of
//! `u64` words, bit `i` in word `i / 64` at position `i % 64`.
//!
//! Every function takes the number of valid bits `nbits`; bits at or above
//! it are never read as set or clear, so the tail of the last word does not
//! matter.

const BITS: u64 = u64::BITS as u64;

/// Words needed for `nbits` bits (BITS_TO_LONGS).
pub const fn words_for(nbits: u64) -> usize {
    nbits.div_ceil(BITS) as usize
}

/// The first bit at or after `start` whose value is `set`, below `nbits`;
/// `nbits` if there is none.
fn find_next(map: &[u64], nbits: u64, start: u64, set: bool) -> u64 {
    let mut bit = start;
    while bit < nbits {
        let word = map[(bit / BITS) as usize];
        let word = if set { word } else { !word };
        // The bits of this word from `bit` on.
        let rest = word >> (bit % BITS);
        if rest != 0 {
            return (bit + rest.trailing_zeros() as u64).min(nbits);
        }
        bit = (bit / BITS + 1) * BITS;
    }
    nbits
}

/// find_next_bit: the first set bit at or after `start` (`nbits` if none).
pub fn find_next_bit(map: &[u64], nbits: u64, start: u64) -> u64 {
    find_next(map, nbits, start, true)
}

/// find_next_zero_bit: the first clear bit at or after `start` (`nbits` if none).
pub fn find_next_zero_bit(map: &[u64], nbits: u64, start: u64) -> u64 {
    find_next(map, nbits, start, false)
}

/// bitmap_find_next_zero_area_off: the first index `i >= start` such that
/// bits `[i, i + nr)` are clear, `i + nr <= nbits` and `(i + align_offset)`
/// is a multiple of `align_mask + 1` (`align_mask` is a power of two minus
/// one). Returns a value `> nbits - nr` (possibly above `nbits`) when there
/// is none, as Linux does; the caller compares with `nbits`.
pub fn find_next_zero_area_off(
    map: &[u64],
    nbits: u64,
    start: u64,
    nr: u64,
    align_mask: u64,
    align_offset: u64,
) -> u64 {
    debug_assert!((align_mask.wrapping_add(1)).is_power_of_two() || align_mask == u64::MAX);
    let mut start = start;
    loop {
        let first_zero = find_next_zero_bit(map, nbits, start);
        // Round up so that index + offset is aligned.
        let index = ((first_zero + align_offset + align_mask) & !align_mask) - align_offset;
        let end = index + nr;
        if end > nbits {
            return end;
        }
        let busy = find_next_bit(map, end, index);
        if busy >= end {
            return index;
        }
        start = busy + 1;
    }
}

/// Set bits `[start, start + nr)` (bitmap_set).
pub fn set_range(map: &mut [u64], start: u64, nr: u64) {
    for bit in start..start + nr {
        map[(bit / BITS) as usize] |= 1 << (bit % BITS);
    }
}

/// Clear bits `[start, start + nr)` (bitmap_clear).
pub fn clear_range(map: &mut [u64], start: u64, nr: u64) {
    for bit in start..start + nr {
        map[(bit / BITS) as usize] &= !(1 << (bit % BITS));
    }
}

/// Whether every bit of `[start, start + nr)` is set.
pub fn all_set(map: &[u64], start: u64, nr: u64) -> bool {
    find_next_zero_bit(map, start + nr, start) >= start + nr
}

/// Set bits below `nbits` (bitmap_weight).
pub fn weight(map: &[u64], nbits: u64) -> u64 {
    let full = (nbits / BITS) as usize;
    let whole: u64 = map[..full].iter().map(|w| w.count_ones() as u64).sum();
    let tail = nbits % BITS;
    whole + if tail == 0 { 0 } else { (map[full] & ((1 << tail) - 1)).count_ones() as u64 }
}

/// The longest run of clear bits below `nbits` (what cma_maxchunk_get
/// measures).
pub fn longest_zero_run(map: &[u64], nbits: u64) -> u64 {
    let (mut best, mut end) = (0, 0);
    loop {
        let start = find_next_zero_bit(map, nbits, end);
        if start >= nbits {
            return best;
        }
        end = find_next_bit(map, nbits, start);
        best = best.max(end - start);
    }
}

/// The runs of clear bits below `nbits`, as (first bit, length), lowest first.
pub fn zero_runs(map: &[u64], nbits: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
    let mut end = 0;
    core::iter::from_fn(move || {
        let start = find_next_zero_bit(map, nbits, end);
        if start >= nbits {
            return None;
        }
        end = find_next_bit(map, nbits, start);
        Some((start, end - start))
    })
}
