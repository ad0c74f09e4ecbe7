//! Per-CPU memory: the first chunk made at boot, and `alloc_percpu` /
//! `free_percpu` over `mm::percpu` (Linux's setup_per_cpu_areas with
//! pcpu_embed_first_chunk, and mm/percpu.c's pcpu_alloc / free_percpu).
//!
//! # The first chunk
//!
//! [`setup_per_cpu_areas`] runs in the memblock era, after the possible
//! CPUs are counted and before any secondary starts. It takes ONE
//! contiguous, page-aligned memblock block of `nr_possible * unit_size`
//! bytes, where `unit_size` is the static per-CPU variables
//! (`__per_cpu_start..__per_cpu_end`) plus `PCPU_DYNAMIC_RESERVE` (28 KiB)
//! rounded up to a page, at least 32 KiB (`mm::percpu::pcpu_unit_size`).
//! Each unit gets a copy of the template and zeros after it; CPU `n`'s
//! per-CPU offset becomes `unit_base(n) - __per_cpu_start`, and the boot
//! CPU moves its TPIDR_EL1 from 0 (the template) onto unit 0. The line
//! `percpu: Embedded P pages/cpu sS r0 dD uU` reports it as Linux does.
//!
//! # alloc_percpu
//!
//! The rest of each first-chunk unit is `alloc_percpu`'s first space. When
//! it is full, further chunks come from the one [`PcpuChunkMem`]
//! registered with [`register_chunk_mem`] (vmalloc's
//! implementation: `nr_possible * unit_size` virtually contiguous bytes,
//! units with the first chunk's stride, so the per-CPU pointer arithmetic
//! of `mm::percpu` holds). Until one is registered, an allocation that
//! does not fit the first chunk fails with `NoMemory`. Every new object is
//! zeroed in every unit.
//!
//! Rust code holds a [`PerCpu<T>`] (freed on drop) for a `T` that is valid
//! all-zero ([`Zeroable`]) and `Sync` (each copy may be read from any CPU);
//! [`__alloc_percpu`] and the `unsafe` [`free_percpu`] are the raw
//! Linux-style pair. Lock order: `PCPU`, then `CHUNK_MEM` (read under it,
//! so a chunk is always freed to the memory it came from), then what the
//! chunk memory takes.

use super::linear_map::phys_to_virt;
use super::memblock::MEMBLOCK;
use crate::pr_info;
use arch::percpu::{PerCpuAtomic, my_cpu_offset, per_cpu_offset, per_cpu_start, per_cpu_static_size};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU32, AtomicU64, AtomicUsize};
use mm::config::NUMA_NO_NODE;
use mm::percpu::{PcpuAllocator, PcpuChunkMem, PcpuPtr, pcpu_unit_size};
use mm::{Error, PAGE_SIZE, PhysAddr, VirtAddr};
use spin::Mutex;

/// The allocator of every chunk (Linux's pcpu_lock and chunk slots).
static PCPU: Mutex<PcpuAllocator> = Mutex::new(PcpuAllocator::new());

/// Where chunks after the first come from; none until vmalloc registers
/// its implementation.
static CHUNK_MEM: Mutex<Option<&'static (dyn PcpuChunkMem + Sync)>> = Mutex::new(None);

/// What the first chunk looks like, for the log and the self-tests.
#[derive(Clone, Copy, Debug)]
pub struct FirstChunk {
    /// Linear-map address of unit 0.
    pub base: VirtAddr,
    /// Bytes of static per-CPU variables.
    pub static_size: usize,
    /// Bytes per unit.
    pub unit_size: usize,
    /// Units: the possible CPUs.
    pub nr_units: usize,
}

static FIRST_CHUNK: Mutex<Option<FirstChunk>> = Mutex::new(None);

/// Bytes of per-CPU memory, every unit of the first chunk (meminfo's
/// Percpu; later chunks are not counted).
pub fn percpu_bytes() -> u64 {
    FIRST_CHUNK.lock().as_ref().map_or(0, |fc| (fc.unit_size * fc.nr_units) as u64)
}

/// The first chunk, once [`setup_per_cpu_areas`] made it.
pub fn first_chunk() -> Option<FirstChunk> {
    *FIRST_CHUNK.lock()
}

/// Make every possible CPU's copy of the static per-CPU variables and move
/// the boot CPU onto its own (Linux's setup_per_cpu_areas). Call once, on
/// the boot CPU, with no secondary up and no per-CPU guard held.
pub fn setup_per_cpu_areas(nr_possible: usize) -> Result<FirstChunk, Error> {
    if nr_possible == 0 || nr_possible > arch::percpu::NR_CPUS || first_chunk().is_some() {
        return Err(Error::InvalidArgument);
    }
    debug_assert_eq!(arch::percpu::preempt_count(), 0, "per-CPU areas set up inside get_cpu");
    let static_size = per_cpu_static_size();
    let unit_size = pcpu_unit_size(static_size)?;
    let total = (unit_size * nr_possible) as u64;
    let pa = MEMBLOCK.lock().alloc_try_nid(total, PAGE_SIZE, PhysAddr(0), PhysAddr(u64::MAX), NUMA_NO_NODE)?;
    let base = phys_to_virt(pa);
    let template = per_cpu_start();
    for cpu in 0..nr_possible {
        let unit = base.as_u64() + (cpu * unit_size) as u64;
        // SAFETY: [unit, unit + unit_size) lies in the block memblock just
        // reserved for us, mapped by the linear map (memblock allocates
        // below its limit, inside the linear map) and used by nothing else;
        // the template is static_size bytes of the image's data. They do
        // not overlap: one is RAM memblock handed out, the other the image,
        // which memblock keeps reserved.
        unsafe {
            let dst = core::ptr::with_exposed_provenance_mut::<u8>(unit as usize);
            let src = core::ptr::with_exposed_provenance::<u8>(template as usize);
            core::ptr::copy_nonoverlapping(src, dst, static_size);
            core::ptr::write_bytes(dst.add(static_size), 0, unit_size - static_size);
        }
        // SAFETY: 1. template + offset = unit, a full copy of the section
        // (made just above) in memory that is never freed; 2. no secondary
        // is up, and the boot CPU moves onto unit 0 below.
        unsafe { arch::percpu::set_per_cpu_offset(cpu, unit.wrapping_sub(template)) };
    }
    // SAFETY: 1. per_cpu_offset(0) was recorded above under the same
    // obligation; 2. unit 0 was copied from the template just now and
    // nothing ran on this CPU in between that writes per-CPU variables; no
    // guard is held (asserted above).
    unsafe { arch::percpu::set_my_cpu_offset(per_cpu_offset(0)) };
    PCPU.lock().init(base, VirtAddr(template), static_size, unit_size, nr_possible)?;
    let fc = FirstChunk { base, static_size, unit_size, nr_units: nr_possible };
    *FIRST_CHUNK.lock() = Some(fc);
    pr_info!(
        "percpu: Embedded {} pages/cpu s{} r0 d{} u{}",
        unit_size / PAGE_SIZE as usize,
        static_size,
        unit_size - static_size,
        unit_size
    );
    Ok(fc)
}

/// Register where chunks after the first come from (the vmalloc-space
/// implementation of [`PcpuChunkMem`]), or with `None` stop adding chunks;
/// the registration it replaces. `Busy` while a chunk from the current
/// registration is alive (it must go back to the memory it came from).
pub fn register_chunk_mem(
    mem: Option<&'static (dyn PcpuChunkMem + Sync)>,
) -> Result<Option<&'static (dyn PcpuChunkMem + Sync)>, Error> {
    let pa = PCPU.lock();
    if pa.nr_chunks() > 1 {
        return Err(Error::Busy);
    }
    let mut cm = CHUNK_MEM.lock();
    let old = *cm;
    *cm = mem;
    drop(pa);
    Ok(old)
}

fn chunk_mem() -> Option<&'static (dyn PcpuChunkMem + Sync)> {
    *CHUNK_MEM.lock()
}

fn nr_units() -> usize {
    PCPU.lock().nr_units()
}

/// CPU `cpu`'s copy of the object at `ptr` (Linux's per_cpu_ptr on a
/// dynamic pointer): plain wrapping arithmetic, see `mm::percpu`.
pub fn per_cpu_ptr_raw(ptr: PcpuPtr, cpu: usize) -> VirtAddr {
    ptr.with_offset(per_cpu_offset(cpu))
}

/// The running CPU's copy of the object at `ptr` (Linux's this_cpu_ptr).
pub fn this_cpu_ptr_raw(ptr: PcpuPtr) -> VirtAddr {
    ptr.with_offset(my_cpu_offset())
}

/// `size_bytes` at `align_bytes` for every possible CPU, zeroed (Linux's
/// __alloc_percpu). `InvalidArgument` for a size of 0 or above 32 KiB or an
/// alignment that is not a power of two up to a page; `NoMemory` when the
/// first chunk is full and no chunk memory is registered (or it has none).
pub fn __alloc_percpu(size_bytes: usize, align_bytes: usize) -> Result<PcpuPtr, Error> {
    let mut pa = PCPU.lock();
    let mem = chunk_mem();
    let a = pa.alloc(size_bytes, align_bytes, mem.map(|m| m as &dyn PcpuChunkMem))?;
    for cpu in 0..pa.nr_units() {
        let copy = per_cpu_ptr_raw(a.ptr, cpu);
        // SAFETY: the allocator just handed out [off, off + size_bytes) of
        // every unit of a chunk that is either the first chunk (memblock
        // memory made in setup_per_cpu_areas, linear-mapped, never freed)
        // or one from the registered PcpuChunkMem (mapped read-write and
        // ours, its obligation 1); the address is that range in unit `cpu`
        // (its obligation 2 for the stride). Nobody else has the pointer yet.
        unsafe {
            core::ptr::write_bytes(core::ptr::with_exposed_provenance_mut::<u8>(copy.0 as usize), 0, a.size_bytes)
        };
    }
    Ok(a.ptr)
}

/// Give back what [`__alloc_percpu`] returned (Linux's free_percpu). A
/// pointer that is no live allocation (freed twice, never allocated, into
/// the static variables) is refused with an error and a log line, and
/// nothing changes.
///
/// # Safety
/// 1. Nothing uses any CPU's copy of the object after this call.
pub unsafe fn free_percpu(ptr: PcpuPtr) -> Result<(), Error> {
    let mut pa = PCPU.lock();
    let mem = chunk_mem();
    let r = pa.free(ptr, mem.map(|m| m as &dyn PcpuChunkMem)).map(|_| ());
    drop(pa);
    if let Err(e) = r {
        crate::pr_err!("percpu: free_percpu({:#x}) refused: {e} (not a live allocation)", ptr.0);
    }
    r
}

/// Bytes per unit that `alloc_percpu` could still hand out in the existing
/// chunks (the self-tests' before/after count).
pub fn nr_free_bytes() -> usize {
    PCPU.lock().free_bytes()
}

/// Chunks in use, the first included.
pub fn nr_chunks() -> usize {
    PCPU.lock().nr_chunks()
}

/// Types for which all-zero bytes are a valid value (alloc_percpu zeroes).
///
/// # Safety
/// 1. A value of the type whose bytes are all zero is valid and safe to use.
pub unsafe trait Zeroable {}

macro_rules! zeroable {
    ($($t:ty),+) => {$(
        // SAFETY: 1. zero is a valid value of every integer and atomic integer type.
        unsafe impl Zeroable for $t {}
    )+};
}
zeroable!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);
zeroable!(AtomicU8, AtomicU32, AtomicU64, AtomicUsize, AtomicI32, AtomicI64, AtomicIsize);
// SAFETY: 1. an array of zeroed valid values is a valid array.
unsafe impl<T: Zeroable, const N: usize> Zeroable for [T; N] {}

/// A dynamic per-CPU object: one zeroed `T` per possible CPU, freed on drop
/// (Linux's `T __percpu *` from alloc_percpu).
///
/// # Invariants
/// `ptr` is a live allocation of at least `size_of::<T>()` bytes at
/// `align_of::<T>()`, owned by this handle, every copy a valid `T`.
pub struct PerCpu<T: Zeroable + Sync> {
    ptr: PcpuPtr,
    nr_units: usize,
    _t: PhantomData<T>,
}

/// Linux's alloc_percpu(type): a zeroed `T` for every possible CPU.
pub fn alloc_percpu<T: Zeroable + Sync>() -> Result<PerCpu<T>, Error> {
    let size = core::mem::size_of::<T>().max(1);
    let ptr = __alloc_percpu(size, core::mem::align_of::<T>())?;
    Ok(PerCpu { ptr, nr_units: nr_units(), _t: PhantomData })
}

impl<T: Zeroable + Sync> PerCpu<T> {
    /// The per-CPU pointer (not an address of anything; see `mm::percpu`).
    pub fn ptr(&self) -> PcpuPtr {
        self.ptr
    }

    /// CPU `cpu`'s copy (Linux's per_cpu_ptr); `cpu` below the possible count.
    pub fn per_cpu_ptr(&self, cpu: usize) -> &T {
        assert!(cpu < self.nr_units, "per_cpu_ptr: CPU{cpu} is not possible");
        // SAFETY: 1. per_cpu_offset of a possible CPU (checked).
        unsafe { self.copy_at(per_cpu_offset(cpu)) }
    }

    /// The running CPU's copy (Linux's this_cpu_ptr): through TPIDR_EL1.
    pub fn this_cpu_ptr(&self) -> &T {
        // SAFETY: 1. TPIDR_EL1 holds the running CPU's per-CPU offset, and
        // only a possible CPU runs; alloc_percpu fails before the per-CPU
        // areas exist, so a handle implies the offsets are set.
        unsafe { self.copy_at(my_cpu_offset()) }
    }

    /// The copy at per-CPU offset `offset`.
    ///
    /// # Safety
    /// 1. `offset` is the per-CPU offset of a CPU below `nr_units`.
    unsafe fn copy_at(&self, offset: u64) -> &T {
        let a = self.ptr.with_offset(offset);
        // SAFETY: by the invariant and obligation 1 the copy in that CPU's
        // unit is a valid, aligned T that lives as long as the handle; it is
        // only reached as `&T`, and T: Sync.
        unsafe { &*core::ptr::with_exposed_provenance::<T>(a.0 as usize) }
    }
}

impl<T: Zeroable + Sync + PerCpuAtomic> PerCpu<T> {
    /// Add `v` to the running CPU's copy as one untearable step (this_cpu_add).
    pub fn this_cpu_add(&self, v: T::Value) -> T::Value {
        let pin = arch::percpu::get_cpu();
        let r = self.this_cpu_ptr().fetch_add_relaxed(v);
        arch::percpu::put_cpu(pin);
        r
    }

    /// Add one to the running CPU's copy (this_cpu_inc).
    pub fn this_cpu_inc(&self) -> T::Value {
        self.this_cpu_add(T::ONE)
    }

    /// The running CPU's value (this_cpu_read).
    pub fn this_cpu_read(&self) -> T::Value {
        self.this_cpu_ptr().load_relaxed()
    }
}

impl<T: Zeroable + Sync> Drop for PerCpu<T> {
    fn drop(&mut self) {
        // SAFETY: 1. the handle owned the object and is going away; every
        // reference it handed out borrowed it, so none is alive.
        let r = unsafe { free_percpu(self.ptr) };
        debug_assert!(r.is_ok(), "a PerCpu handle's object was not live");
    }
}
