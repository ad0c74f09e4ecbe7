//! The dynamic per-CPU allocator (Linux's mm/percpu.c): `alloc_percpu`
//! hands out an object of which every CPU has its own copy.
//!
//! # Units, chunks and the per-CPU address space
//!
//! A *chunk* is `nr_units` equal *units* of `unit_size` bytes, one per
//! possible CPU, laid out contiguously: unit `cpu` is at
//! `base + cpu * unit_size`. An allocation is an offset `off` into the unit
//! and exists in every unit at once. The first chunk is the block the
//! kernel allocated at boot for its static per-CPU variables
//! (`.data..percpu`, copied into each unit); the static part sits at the
//! start of each unit and the rest, at least [`PCPU_DYNAMIC_RESERVE`], is
//! this allocator's first space:
//!
//! ```text
//!   first chunk (memblock)                  a later chunk (vmalloc space)
//!   unit 0              unit 1              unit 0          unit 1
//!   [static|dynamic...] [static|dynamic...] [dynamic......] [dynamic......]
//!   ^first_base         ^+unit_size         ^base           ^base+unit_size
//! ```
//!
//! The kernel sets `per_cpu_offset(cpu) = first_base + cpu * unit_size -
//! __per_cpu_start`, so a static variable's link address plus that offset
//! is the CPU's copy. A [`PcpuPtr`] uses the same rule: for offset `off` of
//! a chunk at `base` it is `base + off - per_cpu_offset(0)`, and then
//!
//! ```text
//!   ptr + per_cpu_offset(cpu) = base + off - offset(0) + offset(0) + cpu * unit_size
//!                             = base + cpu * unit_size + off
//! ```
//!
//! which is CPU `cpu`'s copy in any chunk whose units have the first
//! chunk's stride. The sums are done with wrapping arithmetic, and only
//! the result needs to be an address: the first chunk (in the linear map)
//! lies below the template (in the image), so `offset(0)` is "negative",
//! and for a chunk in vmalloc space, above the image, `base - offset(0)`
//! passes 2^64 and wraps; modulo 2^64 the sum is still exactly the copy. Like a
//! Linux `__percpu` pointer, a `PcpuPtr` itself is not an address of
//! anything and is never dereferenced.
//!
//! # Data structures and lock
//!
//! [`PcpuAllocator`] holds up to [`PCPU_MAX_CHUNKS`] chunks, each a base
//! address and a [`PcpuChunkMap`] (the bitmap of one unit's bytes, see
//! `chunk`). The kernel keeps it behind one lock (Linux's `pcpu_lock`).
//!
//! # Fast path and slow path
//!
//! `alloc` tries each chunk in order, the first chunk first, skipping a
//! chunk whose free count is too small, and takes the lowest fitting run.
//! When none fits it asks the [`PcpuChunkMem`] the kernel passes (vmalloc
//! space) for a new chunk; without one, or with every slot used, the
//! answer is `NoMemory`. `free` finds the chunk holding the pointer, frees
//! the run, and gives an emptied dynamic chunk back to the `PcpuChunkMem`
//! (Linux keeps one spare empty chunk and frees the rest from a work item;
//! here there is no deferred work yet). Zeroing the new object in every
//! unit is the kernel's job, which owns the memory.
//!
//! Lock order: the per-CPU allocator's lock, then whatever the chunk memory
//! takes (vmap areas, the page allocator), which never allocate per-CPU
//! memory themselves.

mod chunk;
mod sizes;
#[cfg(test)]
mod tests;

pub use chunk::PcpuChunkMap;
pub use sizes::{
    PCPU_DYNAMIC_RESERVE, PCPU_MAX_ALIGN, PCPU_MAX_CHUNKS, PCPU_MAX_UNIT_SIZE, PCPU_MIN_ALLOC_SIZE, PCPU_MIN_UNIT_SIZE,
};

use crate::{Error, PAGE_SIZE, VirtAddr};

/// The unit size for `static_size` bytes of static per-CPU variables:
/// static part plus [`PCPU_DYNAMIC_RESERVE`], rounded up to a page, at
/// least [`PCPU_MIN_UNIT_SIZE`] (Linux's pcpu_embed_first_chunk sizing,
/// without the module reserve: no modules). `NoMemory` if that exceeds
/// [`PCPU_MAX_UNIT_SIZE`].
pub fn pcpu_unit_size(static_size: usize) -> Result<usize, Error> {
    let size = (static_size + PCPU_DYNAMIC_RESERVE).next_multiple_of(PAGE_SIZE as usize).max(PCPU_MIN_UNIT_SIZE);
    if size > PCPU_MAX_UNIT_SIZE { Err(Error::NoMemory) } else { Ok(size) }
}

/// A pointer into the per-CPU address space (Linux's `void __percpu *`):
/// add `per_cpu_offset(cpu)` (wrapping) to reach CPU `cpu`'s copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PcpuPtr(pub u64);

impl PcpuPtr {
    /// The address of the copy whose CPU has per-CPU offset `cpu_offset`.
    pub fn with_offset(self, cpu_offset: u64) -> VirtAddr {
        VirtAddr(self.0.wrapping_add(cpu_offset))
    }
}

/// Where chunks after the first come from (the kernel implements it over
/// vmalloc space, Linux's pcpu_create_chunk / pcpu_mem_alloc path).
///
/// # Safety
/// An implementation promises that
/// 1. an `Ok(base)` of `alloc_chunk(unit_size, nr_units)` is the start of
///    `unit_size * nr_units` bytes of kernel virtual memory, mapped
///    read-write for every CPU, used by nothing else, and staying so until
///    `free_chunk(base, ..)`;
/// 2. `base + cpu * unit_size` is unit `cpu` (the units are contiguous
///    with the first chunk's stride: the per-CPU pointer arithmetic above
///    depends on it);
/// 3. neither function allocates or frees per-CPU memory (lock order).
pub unsafe trait PcpuChunkMem {
    /// Memory for a new chunk; its content need not be zero.
    fn alloc_chunk(&self, unit_size: usize, nr_units: usize) -> Result<VirtAddr, Error>;
    /// Give back a chunk from `alloc_chunk` once nothing in it is allocated.
    fn free_chunk(&self, base: VirtAddr, unit_size: usize, nr_units: usize);
}

/// A chunk: its base (unit 0) and map.
struct PcpuChunk {
    base: VirtAddr,
    map: PcpuChunkMap,
}

/// One allocation: where it is and its size rounded to the step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcpuAlloc {
    /// The per-CPU pointer.
    pub ptr: PcpuPtr,
    /// Bytes taken in each unit.
    pub size_bytes: usize,
}

/// Every chunk and the arithmetic between them.
///
/// # Invariants
/// * After [`init`](Self::init), slot 0 is the first chunk and never empty;
///   every chunk has `unit_size` and `nr_units`.
/// * `offset0 = first_base - template_start` (wrapping): per_cpu_offset(0).
pub struct PcpuAllocator {
    unit_size: usize,
    nr_units: usize,
    offset0: u64,
    chunks: [Option<PcpuChunk>; PCPU_MAX_CHUNKS],
}

impl Default for PcpuAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl PcpuAllocator {
    /// No chunk: every allocation fails until [`init`](Self::init).
    pub const fn new() -> Self {
        PcpuAllocator { unit_size: 0, nr_units: 0, offset0: 0, chunks: [const { None }; PCPU_MAX_CHUNKS] }
    }

    /// Adopt the first chunk (Linux's pcpu_setup_first_chunk): `nr_units`
    /// units of `unit_size` at `first_base`, whose first `static_size` bytes
    /// hold the copies of the static variables linked at `template_start`.
    pub fn init(
        &mut self,
        first_base: VirtAddr,
        template_start: VirtAddr,
        static_size: usize,
        unit_size: usize,
        nr_units: usize,
    ) -> Result<(), Error> {
        if nr_units == 0 || !unit_size.is_multiple_of(PAGE_SIZE as usize) || static_size >= unit_size {
            return Err(Error::InvalidArgument);
        }
        // Everything in place: the chunk maps are kilobytes each, too big
        // for temporaries on a kernel stack.
        for c in self.chunks.iter_mut() {
            *c = None;
        }
        self.unit_size = 0;
        self.nr_units = 0;
        let first = self.chunks[0].insert(PcpuChunk { base: first_base, map: PcpuChunkMap::empty() });
        if let Err(e) = first.map.init(unit_size, static_size) {
            self.chunks[0] = None;
            return Err(e);
        }
        self.unit_size = unit_size;
        self.nr_units = nr_units;
        self.offset0 = first_base.0.wrapping_sub(template_start.0);
        Ok(())
    }

    /// Bytes per unit.
    pub fn unit_size(&self) -> usize {
        self.unit_size
    }

    /// Units per chunk (possible CPUs).
    pub fn nr_units(&self) -> usize {
        self.nr_units
    }

    /// Chunks in use, the first included.
    pub fn nr_chunks(&self) -> usize {
        self.chunks.iter().filter(|c| c.is_some()).count()
    }

    /// Free bytes per unit over every chunk.
    pub fn free_bytes(&self) -> usize {
        self.chunks.iter().flatten().map(|c| c.map.free_bytes()).sum()
    }

    /// Bytes per unit the first chunk gives to `alloc_percpu` in all.
    pub fn first_chunk_dynamic_bytes(&self) -> usize {
        self.chunks[0].as_ref().map_or(0, |c| c.map.dynamic_bytes())
    }

    /// `size_bytes` at `align_bytes` in every unit (Linux's pcpu_alloc, the
    /// content left to the caller): from the existing chunks, else from a
    /// new chunk out of `mem`. `InvalidArgument` for a size of 0 or above
    /// [`PCPU_MIN_UNIT_SIZE`] or an alignment that is not a power of two up
    /// to [`PCPU_MAX_ALIGN`]; `NoMemory` when nothing fits and no chunk can
    /// be added.
    pub fn alloc(
        &mut self,
        size_bytes: usize,
        align_bytes: usize,
        mem: Option<&dyn PcpuChunkMem>,
    ) -> Result<PcpuAlloc, Error> {
        if size_bytes == 0
            || size_bytes > PCPU_MIN_UNIT_SIZE
            || !align_bytes.is_power_of_two()
            || align_bytes > PCPU_MAX_ALIGN
        {
            return Err(Error::InvalidArgument);
        }
        if self.nr_units == 0 {
            return Err(Error::NoMemory);
        }
        let size_rounded = size_bytes.next_multiple_of(PCPU_MIN_ALLOC_SIZE);
        for c in self.chunks.iter_mut().flatten() {
            if c.map.free_bytes() < size_rounded {
                continue;
            }
            if let Ok(off) = c.map.alloc(size_bytes, align_bytes) {
                return Ok(PcpuAlloc { ptr: pointer(c.base, off, self.offset0), size_bytes: size_rounded });
            }
        }
        let (Some(mem), Some(slot)) = (mem, self.chunks.iter().position(|c| c.is_none())) else {
            return Err(Error::NoMemory);
        };
        let base = mem.alloc_chunk(self.unit_size, self.nr_units)?;
        let c = self.chunks[slot].insert(PcpuChunk { base, map: PcpuChunkMap::empty() });
        let off = match c.map.init(self.unit_size, 0).and_then(|()| c.map.alloc(size_bytes, align_bytes)) {
            Ok(off) => off,
            Err(e) => {
                self.chunks[slot] = None;
                mem.free_chunk(base, self.unit_size, self.nr_units);
                return Err(e);
            }
        };
        Ok(PcpuAlloc { ptr: pointer(base, off, self.offset0), size_bytes: size_rounded })
    }

    /// Free what `alloc` returned as `ptr` (Linux's free_percpu); the size
    /// freed per unit. An emptied chunk other than the first goes back to
    /// `mem`. `NotFound` when `ptr` is in no chunk or starts no live
    /// allocation (double free), `InvalidArgument` for a misaligned pointer
    /// or one into the static variables; nothing changes on an error.
    pub fn free(&mut self, ptr: PcpuPtr, mem: Option<&dyn PcpuChunkMem>) -> Result<usize, Error> {
        let (unit_size, nr_units, offset0) = (self.unit_size, self.nr_units, self.offset0);
        for (i, slot) in self.chunks.iter_mut().enumerate() {
            let Some(c) = slot else { continue };
            let off = ptr.0.wrapping_add(offset0).wrapping_sub(c.base.0);
            if off >= unit_size as u64 {
                continue;
            }
            let size = c.map.free(off as usize)?;
            if i != 0 && c.map.is_empty() {
                let base = c.base;
                *slot = None;
                if let Some(m) = mem {
                    m.free_chunk(base, unit_size, nr_units);
                }
            }
            return Ok(size);
        }
        Err(Error::NotFound)
    }

    /// The chunk base (unit 0) and offset of `ptr`, if it lies in a chunk.
    pub fn locate(&self, ptr: PcpuPtr) -> Option<(VirtAddr, usize)> {
        self.chunks.iter().flatten().find_map(|c| {
            let off = ptr.0.wrapping_add(self.offset0).wrapping_sub(c.base.0);
            (off < self.unit_size as u64).then_some((c.base, off as usize))
        })
    }
}

/// The per-CPU pointer of offset `off` in the chunk at `base`.
fn pointer(base: VirtAddr, off: usize, offset0: u64) -> PcpuPtr {
    PcpuPtr(base.0.wrapping_add(off as u64).wrapping_sub(offset0))
}
