//! The chunk map and the allocator against a byte-array model.

use super::*;
use crate::test_support::Rng;
use std::cell::RefCell;
use std::collections::BTreeMap;

/// The model: one flag per step, lowest aligned fit.
struct Model {
    used: Vec<bool>,
    live: BTreeMap<usize, usize>, // offset -> steps
}

impl Model {
    fn new(unit_size: usize, reserved: usize) -> Self {
        let n = unit_size / PCPU_MIN_ALLOC_SIZE;
        let r = reserved.div_ceil(PCPU_MIN_ALLOC_SIZE);
        let mut used = vec![false; n];
        used[..r].fill(true);
        Model { used, live: BTreeMap::new() }
    }
    fn alloc(&mut self, size: usize, align: usize) -> Option<usize> {
        let n = size.div_ceil(PCPU_MIN_ALLOC_SIZE);
        let a = (align / PCPU_MIN_ALLOC_SIZE).max(1);
        let mut s = 0;
        while s + n <= self.used.len() {
            if self.used[s..s + n].iter().all(|u| !u) {
                self.used[s..s + n].fill(true);
                self.live.insert(s * PCPU_MIN_ALLOC_SIZE, n);
                return Some(s * PCPU_MIN_ALLOC_SIZE);
            }
            s += a;
        }
        None
    }
    fn free(&mut self, off: usize) -> Option<usize> {
        let n = self.live.remove(&off)?;
        let s = off / PCPU_MIN_ALLOC_SIZE;
        self.used[s..s + n].fill(false);
        Some(n * PCPU_MIN_ALLOC_SIZE)
    }
    fn free_bytes(&self) -> usize {
        self.used.iter().filter(|u| !**u).count() * PCPU_MIN_ALLOC_SIZE
    }
}

fn map(unit_size: usize, reserved: usize) -> Box<PcpuChunkMap> {
    let mut m = Box::new(PcpuChunkMap::empty());
    m.init(unit_size, reserved).unwrap();
    m
}

#[test]
fn unit_size_follows_linux_first_chunk_sizing() {
    assert_eq!(pcpu_unit_size(0), Ok(PCPU_MIN_UNIT_SIZE));
    assert_eq!(pcpu_unit_size(4096), Ok(PCPU_MIN_UNIT_SIZE));
    assert_eq!(pcpu_unit_size(4097), Ok(PCPU_MIN_UNIT_SIZE + 4096));
    assert_eq!(pcpu_unit_size(20_000), Ok((20_000 + PCPU_DYNAMIC_RESERVE).next_multiple_of(4096)));
    assert_eq!(pcpu_unit_size(PCPU_MAX_UNIT_SIZE), Err(Error::NoMemory));
}

#[test]
fn random_alloc_free_matches_the_model() {
    let mut rng = Rng(Rng::SEED);
    for (unit, reserved) in [(32 << 10, 0), (32 << 10, 1234), (64 << 10, 4096), (PAGE_SIZE as usize, 8)] {
        let mut m = map(unit, reserved);
        let mut model = Model::new(unit, reserved);
        for step in 0..6000 {
            if rng.below(100) < 55 {
                let size = match rng.below(4) {
                    0 => 1 + rng.below(8) as usize,
                    1 => 1 + rng.below(64) as usize,
                    2 => 1 + rng.below(512) as usize,
                    _ => 1 + rng.below(4096) as usize,
                };
                let align = 1usize << rng.below(10);
                let got = m.alloc(size, align).ok();
                let want = model.alloc(size, align);
                assert_eq!(got, want, "step {step}: alloc({size}, {align}) in a {unit}-byte unit");
                if let Some(off) = got {
                    assert!(off.is_multiple_of(align.max(PCPU_MIN_ALLOC_SIZE)));
                    assert!(off >= reserved && off + size <= unit);
                }
            } else if let Some(&off) = model.live.keys().nth(rng.below(model.live.len().max(1) as u64) as usize) {
                assert_eq!(m.free(off).ok(), model.free(off), "step {step}: free({off})");
            }
            assert_eq!(m.free_bytes(), model.free_bytes(), "step {step}");
        }
        for off in model.live.keys().copied().collect::<Vec<_>>() {
            assert_eq!(m.free(off).ok(), model.free(off));
        }
        assert!(m.is_empty());
        assert_eq!(m.free_bytes(), unit - reserved.next_multiple_of(PCPU_MIN_ALLOC_SIZE));
    }
}

#[test]
fn exhaustion_fails_cleanly_and_frees_make_room_again() {
    let mut m = map(PAGE_SIZE as usize, 0);
    let offs: Vec<usize> = (0..PAGE_SIZE as usize / 64).map(|_| m.alloc(64, 64).unwrap()).collect();
    assert_eq!(m.free_bytes(), 0);
    assert_eq!(m.alloc(1, 1), Err(Error::NoMemory));
    assert_eq!(m.free(offs[10]), Ok(64));
    assert_eq!(m.alloc(65, 4), Err(Error::NoMemory));
    assert_eq!(m.alloc(64, 4), Ok(offs[10]));
}

#[test]
fn neighbours_merge_on_free() {
    let mut m = map(PAGE_SIZE as usize, 0);
    let a = m.alloc(1000, 8).unwrap();
    let b = m.alloc(1000, 8).unwrap();
    let c = m.alloc(1000, 8).unwrap();
    let _d = m.alloc(1000, 8).unwrap();
    assert_eq!(m.alloc(2000, 8), Err(Error::NoMemory));
    m.free(a).unwrap();
    m.free(c).unwrap();
    assert_eq!(m.alloc(2000, 8), Err(Error::NoMemory), "a and c are not adjacent");
    m.free(b).unwrap();
    assert_eq!(m.alloc(3000, 8), Ok(a), "a, b and c merged into one run");
}

#[test]
fn adjacent_allocations_keep_their_own_sizes() {
    let mut m = map(PAGE_SIZE as usize, 0);
    let a = m.alloc(12, 4).unwrap();
    let b = m.alloc(8, 4).unwrap();
    assert_eq!(b, a + 12);
    assert_eq!(m.free(b), Ok(8));
    assert_eq!(m.free(a), Ok(12));
}

#[test]
fn double_free_and_bad_free_are_refused_without_change() {
    let mut m = map(PAGE_SIZE as usize, 100);
    let a = m.alloc(16, 16).unwrap();
    let before = m.free_bytes();
    assert_eq!(m.free(a + 4), Err(Error::NotFound), "inside an allocation");
    assert_eq!(m.free(a + 2), Err(Error::InvalidArgument), "not on a step");
    assert_eq!(m.free(0), Err(Error::InvalidArgument), "the reserved part");
    assert_eq!(m.free(PAGE_SIZE as usize), Err(Error::InvalidArgument), "outside the unit");
    assert_eq!(m.free(a + 64), Err(Error::NotFound), "free space");
    assert_eq!(m.free_bytes(), before);
    assert_eq!(m.free(a), Ok(16));
    assert_eq!(m.free(a), Err(Error::NotFound), "double free");
    assert_eq!(m.free_bytes(), before + 16);
}

#[test]
fn bad_sizes_and_alignments_are_refused() {
    let mut m = map(PAGE_SIZE as usize, 0);
    assert_eq!(m.alloc(0, 4), Err(Error::InvalidArgument));
    assert_eq!(m.alloc(4, 3), Err(Error::InvalidArgument));
    let mut pa = PcpuAllocator::new();
    assert_eq!(pa.alloc(8, 8, None), Err(Error::NoMemory), "before init");
    pa.init(VirtAddr(0x10_0000), VirtAddr(0x1000), 64, PCPU_MIN_UNIT_SIZE, 2).unwrap();
    assert_eq!(pa.alloc(PCPU_MIN_UNIT_SIZE + 1, 8, None), Err(Error::InvalidArgument));
    assert_eq!(pa.alloc(8, 2 * PCPU_MAX_ALIGN, None), Err(Error::InvalidArgument));
}

/// Chunk memory from a pretend address range, recording every call.
struct FakeChunks {
    next: RefCell<u64>,
    live: RefCell<Vec<u64>>,
    freed: RefCell<Vec<u64>>,
}

// SAFETY: test only: the addresses are never dereferenced; each range is
// handed out once and is contiguous with the asked stride.
unsafe impl PcpuChunkMem for FakeChunks {
    fn alloc_chunk(&self, unit_size: usize, nr_units: usize) -> Result<VirtAddr, Error> {
        let base = *self.next.borrow();
        *self.next.borrow_mut() += (unit_size * nr_units) as u64 + 0x10_0000;
        self.live.borrow_mut().push(base);
        Ok(VirtAddr(base))
    }
    fn free_chunk(&self, base: VirtAddr, _: usize, _: usize) {
        let mut live = self.live.borrow_mut();
        let i = live.iter().position(|&b| b == base.0).expect("free_chunk of an unknown chunk");
        live.remove(i);
        self.freed.borrow_mut().push(base.0);
    }
}

const TEMPLATE: u64 = 0xffff_8000_8123_4000;
const FIRST: u64 = 0xffff_0000_4000_0000;

fn first_chunk(nr_units: usize) -> PcpuAllocator {
    let mut pa = PcpuAllocator::new();
    pa.init(VirtAddr(FIRST), VirtAddr(TEMPLATE), 300, PCPU_MIN_UNIT_SIZE, nr_units).unwrap();
    pa
}

/// The copy for `cpu` (what the kernel computes from per_cpu_offset).
fn copy(ptr: PcpuPtr, cpu: usize) -> u64 {
    let offset = FIRST.wrapping_sub(TEMPLATE).wrapping_add((cpu * PCPU_MIN_UNIT_SIZE) as u64);
    ptr.with_offset(offset).0
}

#[test]
fn first_chunk_pointers_reach_each_units_copy() {
    let mut pa = first_chunk(4);
    assert_eq!(pa.first_chunk_dynamic_bytes(), PCPU_MIN_UNIT_SIZE - 300);
    let a = pa.alloc(24, 8, None).unwrap();
    assert_eq!(a.size_bytes, 24);
    for cpu in 0..4 {
        assert_eq!(copy(a.ptr, cpu), FIRST + (cpu * PCPU_MIN_UNIT_SIZE) as u64 + 304);
    }
    assert_eq!(pa.locate(a.ptr), Some((VirtAddr(FIRST), 304)));
}

#[test]
fn full_first_chunk_without_chunk_memory_is_no_memory() {
    let mut pa = first_chunk(2);
    let free0 = pa.free_bytes();
    let mut live = Vec::new();
    while let Ok(a) = pa.alloc(1024, 4, None) {
        live.push(a.ptr);
    }
    assert_eq!(live.len(), (PCPU_MIN_UNIT_SIZE - 300) / 1024);
    assert_eq!(pa.alloc(1024, 4, None), Err(Error::NoMemory));
    assert_eq!(pa.nr_chunks(), 1);
    for p in live {
        assert_eq!(pa.free(p, None), Ok(1024));
    }
    assert_eq!(pa.free_bytes(), free0);
}

#[test]
fn new_chunks_come_from_the_hook_and_go_back_when_empty() {
    // In vmalloc space, above the image: base - per_cpu_offset(0) wraps past 2^64.
    let vmalloc = 0xffff_fb00_0000_0000;
    let mem = FakeChunks { next: RefCell::new(vmalloc), live: RefCell::default(), freed: RefCell::default() };
    let mut pa = first_chunk(3);
    let free0 = pa.free_bytes();
    let mut rng = Rng(Rng::SEED ^ 0x5a5a);
    let mut live: Vec<PcpuAlloc> = Vec::new();
    let mut max_chunks = 0;
    let mut wrapped = 0;
    for _ in 0..3000 {
        if rng.below(100) < 60 {
            let size = 1 + rng.below(4096) as usize;
            let align = 1usize << rng.below(8);
            match pa.alloc(size, align, Some(&mem)) {
                Ok(a) => {
                    // Every copy lies inside its chunk's unit, aligned, and
                    // no two live objects overlap in unit 0.
                    let (base, off) = pa.locate(a.ptr).unwrap();
                    wrapped += usize::from(base.0 >= vmalloc && a.ptr.0 < base.0);
                    assert!(off % align.max(4) == 0 && off + size <= PCPU_MIN_UNIT_SIZE);
                    for cpu in 0..3 {
                        assert_eq!(copy(a.ptr, cpu), base.0 + (cpu * PCPU_MIN_UNIT_SIZE + off) as u64);
                    }
                    for b in &live {
                        let (x, y) = (copy(a.ptr, 0), copy(b.ptr, 0));
                        assert!(x + a.size_bytes as u64 <= y || y + b.size_bytes as u64 <= x, "overlap");
                    }
                    live.push(a);
                }
                Err(e) => assert_eq!(e, Error::NoMemory, "only when every slot is full"),
            }
        } else if !live.is_empty() {
            let a = live.swap_remove(rng.below(live.len() as u64) as usize);
            assert_eq!(pa.free(a.ptr, Some(&mem)), Ok(a.size_bytes));
            assert_eq!(pa.free(a.ptr, Some(&mem)), Err(Error::NotFound), "double free refused");
        }
        assert_eq!(pa.nr_chunks(), 1 + mem.live.borrow().len());
        max_chunks = max_chunks.max(pa.nr_chunks());
    }
    assert!(max_chunks > 2, "the test never needed more than one dynamic chunk");
    assert!(wrapped > 0, "no pointer of a vmalloc-space chunk wrapped");
    for a in live.drain(..) {
        assert_eq!(pa.free(a.ptr, Some(&mem)), Ok(a.size_bytes));
    }
    assert_eq!(pa.nr_chunks(), 1);
    assert!(mem.live.borrow().is_empty(), "every dynamic chunk went back");
    assert!(mem.freed.borrow().len() >= max_chunks - 1);
    assert_eq!(pa.free_bytes(), free0);
    assert_eq!(pa.free(PcpuPtr(0x1234), Some(&mem)), Err(Error::NotFound), "in no chunk");
}
