//! vmap blocks: small `vm_map_ram` mappings carved out of per-CPU blocks
//! of address space (Linux's vmap_block, vb_alloc and vb_free).
//!
//! A block is one vmap area of [`VMAP_BBMAP_BITS`] pages, taken from the
//! tree once. Requests of up to [`VMAP_MAX_ALLOC`] pages are rounded up to
//! a power of two and handed out from the block's free end, bump-style;
//! the order of each live allocation is recorded at its first page, so a
//! bad or double `vm_unmap_ram` (wrong address or size) is refused. Freed pages become *dirty*: unmapped but
//! possibly still in a TLB, so they are not reused inside the block. When
//! every page of a block is dirty the whole block goes back to the tree
//! through the lazy-free path, and so is flushed before its range is
//! reused. (Linux can also flush a fragmented block and reuse its dirty
//! pages; this version waits until the block is wholly dirty.)

use crate::{Error, PAGE_SIZE};

/// Most pages one `vm_map_ram` takes from a block (Linux: BITS_PER_LONG);
/// larger requests get an area of their own.
pub const VMAP_MAX_ALLOC: usize = 64;

/// Pages per block: Linux's VMAP_BBMAP_BITS, `min(1024, max(2 *
/// VMAP_MAX_ALLOC, vmalloc_pages / roundup_pow_of_two(nr_cpus) / 16))`.
/// With a vmalloc area of terabytes this is always the 1024 maximum.
pub const fn vmap_bbmap_bits(vmalloc_pages: u64, nr_cpus: usize) -> usize {
    let per_cpu = vmalloc_pages / (nr_cpus.next_power_of_two() as u64) / 16;
    let min = 2 * VMAP_MAX_ALLOC as u64;
    let v = if per_cpu > min { per_cpu } else { min };
    if v > 1024 { 1024 } else { v as usize }
}

/// Pages per block in this kernel (its vmalloc area is far larger than
/// 16 * 1024 pages per CPU).
pub const VMAP_BBMAP_BITS: usize = 1024;
/// Bytes of address space per block.
pub const VMAP_BLOCK_SIZE: u64 = VMAP_BBMAP_BITS as u64 * PAGE_SIZE;

/// What a free left the block as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// Some pages still in use or never handed out.
    InUse,
    /// Every page is dirty: the block's area can be freed.
    AllDirty,
}

/// One block's bookkeeping.
#[derive(Clone, Debug)]
pub struct VmapBlock {
    va_start: u64,
    /// Pages not yet handed out (at the top of the block).
    free: usize,
    /// Pages handed out and freed again.
    dirty: usize,
    /// `order + 1` at the first page of each live allocation, else 0.
    live: [u8; VMAP_BBMAP_BITS],
}

impl VmapBlock {
    /// A block whose area starts at `va_start`.
    pub const fn new(va_start: u64) -> Self {
        Self { va_start, free: VMAP_BBMAP_BITS, dirty: 0, live: [0; VMAP_BBMAP_BITS] }
    }

    /// Start of the block's area.
    pub fn va_start(&self) -> u64 {
        self.va_start
    }

    /// Whether `addr` is inside the block.
    pub fn contains(&self, addr: u64) -> bool {
        addr.wrapping_sub(self.va_start) < VMAP_BLOCK_SIZE
    }

    /// Pages still to be handed out.
    pub fn free_pages(&self) -> usize {
        self.free
    }

    /// Pages freed and waiting for the block's end.
    pub fn dirty_pages(&self) -> usize {
        self.dirty
    }

    /// No live allocation is left in the block (every page handed out was
    /// freed): Linux's purge_fragmented_blocks frees such a block, its
    /// unused rest included.
    pub fn is_unused(&self) -> bool {
        self.free + self.dirty == VMAP_BBMAP_BITS
    }

    /// The order (log2 pages) a request of `count` pages uses.
    pub fn order_for(count: usize) -> Option<u32> {
        (count > 0 && count <= VMAP_MAX_ALLOC).then(|| count.next_power_of_two().trailing_zeros())
    }

    /// Take `1 << order` pages; their start address, or `None` if the
    /// block has too few left.
    pub fn alloc(&mut self, order: u32) -> Option<u64> {
        let n = 1usize << order;
        if self.free < n {
            return None;
        }
        let off = VMAP_BBMAP_BITS - self.free;
        self.free -= n;
        self.live[off] = order as u8 + 1;
        Some(self.va_start + off as u64 * PAGE_SIZE)
    }

    /// Give back the `1 << order` pages at `addr` (unmapped by the
    /// caller). `InvalidArgument` if they are not exactly a live
    /// allocation's pages (a bad or double free).
    pub fn free(&mut self, addr: u64, order: u32) -> Result<BlockState, Error> {
        let n = 1usize << order;
        if !self.contains(addr) || !(addr - self.va_start).is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        let off = ((addr - self.va_start) / PAGE_SIZE) as usize;
        if self.live[off] != order as u8 + 1 {
            return Err(Error::InvalidArgument);
        }
        self.live[off] = 0;
        self.dirty += n;
        Ok(if self.dirty == VMAP_BBMAP_BITS { BlockState::AllDirty } else { BlockState::InUse })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbmap_bits_as_linux() {
        assert_eq!(vmap_bbmap_bits(1 << 35, 2), 1024);
        assert_eq!(vmap_bbmap_bits(16 * 1024, 1), 1024);
        assert_eq!(vmap_bbmap_bits(16 * 1000, 1), 1000);
        assert_eq!(vmap_bbmap_bits(1024, 4), 128, "never below 2 * VMAP_MAX_ALLOC");
        assert_eq!(VMAP_BBMAP_BITS, vmap_bbmap_bits((0xffff_fbff_f000_0000u64 - 0xffff_8000_c000_0000) / PAGE_SIZE, 8));
    }

    #[test]
    fn bump_allocation_and_dirty_accounting() {
        let mut b = VmapBlock::new(0x4000_0000);
        assert_eq!(VmapBlock::order_for(3), Some(2));
        assert_eq!(VmapBlock::order_for(65), None);
        let a = b.alloc(2).unwrap();
        let c = b.alloc(0).unwrap();
        assert_eq!((a, c), (0x4000_0000, 0x4000_0000 + 4 * PAGE_SIZE));
        assert_eq!(b.free(a + PAGE_SIZE, 2), Err(Error::InvalidArgument), "not the allocation's start");
        assert_eq!(b.free(a, 2), Ok(BlockState::InUse));
        assert_eq!(b.free(a, 2), Err(Error::InvalidArgument), "double free refused");
        assert_eq!(b.free(c + PAGE_SIZE, 0), Err(Error::InvalidArgument), "never handed out");
        assert_eq!(b.free(c, 1), Err(Error::InvalidArgument), "wrong size");
        assert_eq!(b.alloc(0).unwrap(), 0x4000_0000 + 5 * PAGE_SIZE, "dirty pages are not reused");
        assert_eq!(b.dirty_pages(), 4);
        assert!(!b.is_unused());
        b.free(c, 0).unwrap();
        assert!(!b.is_unused(), "the page after c is live");
        b.free(0x4000_0000 + 5 * PAGE_SIZE, 0).unwrap();
        assert!(b.is_unused());
    }

    #[test]
    fn wholly_dirty_block_reports_it() {
        let mut b = VmapBlock::new(0);
        let mut got = Vec::new();
        while let Some(a) = b.alloc(6) {
            got.push(a);
        }
        assert_eq!(got.len(), VMAP_BBMAP_BITS / 64);
        let last = got.pop().unwrap();
        for a in got {
            assert_eq!(b.free(a, 6), Ok(BlockState::InUse));
        }
        assert_eq!(b.free(last, 6), Ok(BlockState::AllDirty));
    }
}
