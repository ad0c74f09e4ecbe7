//! Free lists: the hardened free pointer, the shuffled order of a new
//! slab, and the walks that find objects on them.

/// Linux's freelist_ptr_encode / decode (symmetric).
#[inline]
pub fn freelist_ptr_encode(random: u64, ptr: usize, ptr_addr: usize) -> u64 {
    ptr as u64 ^ random ^ (ptr_addr as u64).swap_bytes()
}

/// A small xorshift generator for the shuffles.
pub(super) struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0 | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Fisher-Yates shuffle of `0..seq.len()` with `seed` (init_cache_random_seq).
pub fn init_random_seq(seq: &mut [u16], seed: u64) {
    for (i, s) in seq.iter_mut().enumerate() {
        *s = i as u16;
    }
    let mut rng = Rng(seed);
    for i in (1..seq.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        seq.swap(i, j);
    }
}
