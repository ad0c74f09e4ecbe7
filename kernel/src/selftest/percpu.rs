//! Per-CPU variables, alloc_percpu and kmap on the real CPUs: copies are
//! distinct per CPU and reached through TPIDR_EL1, concurrent this_cpu_inc
//! from every CPU loses nothing, get_cpu balances, every byte alloc_percpu
//! hands out comes back, the chunk hook grows and shrinks the allocator,
//! and kmap is the linear map.

use super::harness::{Test, TestResult};
use crate::memory::highmem::{kmap, kmap_local_page, kmap_local_pfn, kunmap, kunmap_local};
use crate::memory::pages::{alloc_pages, alloc_pages_exact, free_pages_exact, pfn_to_page};
use crate::memory::percpu::{
    __alloc_percpu, PerCpu, alloc_percpu, first_chunk, free_percpu, nr_chunks, nr_free_bytes, per_cpu_ptr_raw,
    register_chunk_mem, this_cpu_ptr_raw,
};
use crate::smp::{call, cpumask};
use crate::{check, check_eq, fail};
use alloc::format;
use alloc::vec::Vec;
use arch::define_per_cpu;
use arch::percpu::{
    CPU_AREA, NR_CPUS, get_cpu, get_cpu_var, my_cpu_offset, per_cpu, per_cpu_offset, per_cpu_start, preempt_count,
    put_cpu, put_cpu_var, this_cpu_inc, this_cpu_ptr, this_cpu_read, this_cpu_write,
};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use mm::gfp::Gfp;
use mm::percpu::{PcpuChunkMem, PcpuPtr};
use mm::{Error, PAGE_SIZE, VirtAddr};
use spin::RwLock;

pub const TESTS: &[Test] = &[
    Test { suite: "percpu", name: "static_vars_distinct_per_cpu", run: static_vars_distinct_per_cpu },
    Test { suite: "percpu", name: "this_cpu_inc_concurrent_sum", run: this_cpu_inc_concurrent_sum },
    Test { suite: "percpu", name: "get_cpu_pins_and_balances", run: get_cpu_pins_and_balances },
    Test { suite: "percpu", name: "alloc_percpu_returns_every_byte", run: alloc_percpu_returns_every_byte },
    Test { suite: "percpu", name: "chunk_hook_grows_and_shrinks", run: chunk_hook_grows_and_shrinks },
    Test { suite: "percpu", name: "kmap_round_trip", run: kmap_round_trip },
];

define_per_cpu! {
    /// Written by each CPU with a value naming it.
    static WHO: AtomicU64 = AtomicU64::new(0);
    /// Incremented by every CPU at once.
    static HITS: AtomicU64 = AtomicU64::new(0);
}

const WHO_MAGIC: u64 = 0x5eed_0000;
/// Per CPU: the address of its copy of WHO, and its TPIDR_EL1.
static SEEN_ADDR: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
static SEEN_TPIDR: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
/// Bit n: CPU n saw something wrong.
static BAD: AtomicU64 = AtomicU64::new(0);

fn online() -> impl Iterator<Item = usize> {
    (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c))
}

fn record_who(cpu: usize) {
    this_cpu_write(&WHO, WHO_MAGIC + cpu as u64);
    SEEN_ADDR[cpu].store(this_cpu_ptr(&WHO) as *const AtomicU64 as u64, Ordering::Relaxed);
    SEEN_TPIDR[cpu].store(my_cpu_offset(), Ordering::Relaxed);
    if this_cpu_read(&WHO) != WHO_MAGIC + cpu as u64 || arch::percpu::smp_processor_id() != cpu {
        BAD.fetch_or(1 << cpu, Ordering::Relaxed);
    }
}

/// Each online CPU's copy of a static variable is its own: at the
/// template's address plus the CPU's offset, inside its unit of the first
/// chunk, holding what that CPU wrote; TPIDR_EL1 is the CPU's offset.
fn static_vars_distinct_per_cpu() -> TestResult {
    let Some(fc) = first_chunk() else { fail!("no first chunk") };
    check_eq!(fc.nr_units, cpumask::num_possible_cpus());
    BAD.store(0, Ordering::Relaxed);
    call::on_each_cpu(record_who);
    check_eq!(BAD.load(Ordering::Relaxed), 0);
    let template = core::ptr::addr_of!(WHO) as u64;
    check!(
        template >= per_cpu_start() && template < per_cpu_start() + fc.static_size as u64,
        "WHO not in .data..percpu"
    );
    for cpu in online() {
        let addr = SEEN_ADDR[cpu].load(Ordering::Relaxed);
        check_eq!(SEEN_TPIDR[cpu].load(Ordering::Relaxed), per_cpu_offset(cpu));
        check_eq!(addr, template.wrapping_add(per_cpu_offset(cpu)));
        let unit = fc.base.as_u64() + (cpu * fc.unit_size) as u64;
        check!(addr >= unit && addr < unit + fc.static_size as u64, "CPU{cpu}: copy {addr:#x} outside its unit");
        check_eq!(per_cpu(&WHO, cpu).load(Ordering::Relaxed), WHO_MAGIC + cpu as u64);
        check_eq!(per_cpu(&CPU_AREA, cpu).cpu.load(Ordering::Relaxed), cpu as u64);
        for other in online().filter(|&o| o < cpu) {
            check!(SEEN_ADDR[other].load(Ordering::Relaxed) != addr, "CPU{cpu} and CPU{other} share a copy");
        }
    }
    Ok(())
}

const INCS_PER_CPU: u64 = 200_000;
/// The dynamic counter the CPUs increment alongside HITS.
static DYN_HITS: RwLock<Option<PerCpu<AtomicU64>>> = RwLock::new(None);
static STARTED: AtomicUsize = AtomicUsize::new(0);

fn hammer(cpu: usize) {
    // Start together, so the increments really overlap.
    STARTED.fetch_add(1, Ordering::AcqRel);
    while STARTED.load(Ordering::Acquire) < cpumask::num_online_cpus() {
        core::hint::spin_loop();
    }
    let dynamic = DYN_HITS.read();
    let Some(d) = dynamic.as_ref() else {
        BAD.fetch_or(1 << cpu, Ordering::Relaxed);
        return;
    };
    for _ in 0..INCS_PER_CPU {
        this_cpu_inc(&HITS);
        d.this_cpu_inc();
    }
    if preempt_count() != 0 || d.this_cpu_read() != INCS_PER_CPU || this_cpu_read(&HITS) != INCS_PER_CPU {
        BAD.fetch_or(1 << cpu, Ordering::Relaxed);
    }
}

/// Every CPU increments a static and a dynamic per-CPU counter at the same
/// time: each copy ends at exactly its CPU's count, and the sum over CPUs
/// is the total; the preemption counts come back to 0.
fn this_cpu_inc_concurrent_sum() -> TestResult {
    for cpu in 0..cpumask::num_possible_cpus() {
        per_cpu(&HITS, cpu).store(0, Ordering::Relaxed);
    }
    *DYN_HITS.write() = Some(alloc_percpu::<AtomicU64>().map_err(|e| format!("alloc_percpu: {e}"))?);
    BAD.store(0, Ordering::Relaxed);
    STARTED.store(0, Ordering::Release);
    call::on_each_cpu(hammer);
    let d = DYN_HITS.write().take().ok_or("the dynamic counter went away")?;
    check_eq!(BAD.load(Ordering::Relaxed), 0);
    let (mut sum, mut dyn_sum) = (0, 0);
    for cpu in 0..cpumask::num_possible_cpus() {
        let want = if cpumask::cpu_online(cpu) { INCS_PER_CPU } else { 0 };
        check_eq!(per_cpu(&HITS, cpu).load(Ordering::Relaxed), want);
        check_eq!(d.per_cpu_ptr(cpu).load(Ordering::Relaxed), want);
        sum += per_cpu(&HITS, cpu).load(Ordering::Relaxed);
        dyn_sum += d.per_cpu_ptr(cpu).load(Ordering::Relaxed);
    }
    check_eq!(sum, INCS_PER_CPU * cpumask::num_online_cpus() as u64);
    check_eq!(dyn_sum, sum);
    Ok(())
}

fn pin_here(cpu: usize) {
    let base = preempt_count();
    let g = get_cpu();
    let v = get_cpu_var(&WHO);
    let ok =
        base == 0 && preempt_count() == 2 && g.cpu() == cpu && v.cpu() == cpu && core::ptr::eq(&*v, this_cpu_ptr(&WHO));
    put_cpu_var(v);
    let one = preempt_count() == 1;
    put_cpu(g);
    if !(ok && one && preempt_count() == 0) {
        BAD.fetch_or(1 << cpu, Ordering::Relaxed);
    }
}

/// get_cpu / get_cpu_var raise the CPU's own preemption count, name the
/// CPU, nest, and put_cpu / put_cpu_var bring it back to 0, on every CPU.
fn get_cpu_pins_and_balances() -> TestResult {
    BAD.store(0, Ordering::Relaxed);
    call::on_each_cpu(pin_here);
    check_eq!(BAD.load(Ordering::Relaxed), 0);
    Ok(())
}

/// Fill in `len` bytes of every CPU's copy of `p` with a byte naming the
/// object and the CPU; `check` instead compares.
fn pattern(p: PcpuPtr, len: usize, id: usize, check: bool) -> bool {
    for cpu in 0..cpumask::num_possible_cpus() {
        let a = per_cpu_ptr_raw(p, cpu).as_u64() as usize;
        let byte = (id * 31 + cpu * 7 + 1) as u8;
        // SAFETY: [a, a + len) is CPU `cpu`'s copy of a live allocation of
        // at least `len` bytes that only this test uses.
        let copy = unsafe { core::slice::from_raw_parts_mut(core::ptr::with_exposed_provenance_mut::<u8>(a), len) };
        if check {
            if copy.iter().any(|&b| b != byte) {
                return false;
            }
        } else {
            copy.fill(byte);
        }
    }
    true
}

fn all_zero(p: PcpuPtr, len: usize) -> bool {
    (0..cpumask::num_possible_cpus()).all(|cpu| {
        let a = per_cpu_ptr_raw(p, cpu).as_u64() as usize;
        // SAFETY: [a, a + len) is CPU `cpu`'s copy of a live allocation of
        // at least `len` bytes that only this test uses.
        let copy = unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance::<u8>(a), len) };
        copy.iter().all(|&b| b == 0)
    })
}

/// Objects of assorted sizes and alignments until the first chunk is full
/// (no chunk memory is registered): each is aligned and zeroed in every
/// CPU's unit, none overlaps another (patterns survive), a full chunk says
/// NoMemory, a double free is refused, and after freeing everything the
/// free count is exactly what it was.
fn alloc_percpu_returns_every_byte() -> TestResult {
    let prev = register_chunk_mem(None).map_err(|e| format!("register_chunk_mem: {e}"))?;
    let r = fill_first_chunk();
    register_chunk_mem(prev).map_err(|e| format!("register_chunk_mem: {e}"))?;
    r
}

fn fill_first_chunk() -> TestResult {
    const SIZES: [usize; 8] = [1, 4, 8, 24, 100, 256, 1000, 3000];
    const ALIGNS: [usize; 6] = [1, 4, 8, 64, 256, 4096];
    let before = nr_free_bytes();
    check_eq!(nr_chunks(), 1);
    let mut live: Vec<(PcpuPtr, usize)> = Vec::new();
    // Assorted objects until one does not fit, then 4-byte ones until none
    // does: a full first chunk has no byte left.
    let mut i = 0;
    let mut phase_one = true;
    loop {
        let (size, align) = if phase_one { (SIZES[i % SIZES.len()], ALIGNS[(i / 3) % ALIGNS.len()]) } else { (4, 4) };
        match __alloc_percpu(size, align) {
            Ok(p) => {
                for cpu in 0..cpumask::num_possible_cpus() {
                    let a = per_cpu_ptr_raw(p, cpu).as_u64();
                    check!(a.is_multiple_of(align as u64), "alloc({size}, {align}) at {a:#x} on CPU{cpu}");
                }
                check!(all_zero(p, size), "alloc({size}, {align}) is not zeroed");
                pattern(p, size, live.len(), false);
                live.push((p, size));
            }
            Err(Error::NoMemory) if phase_one => phase_one = false,
            Err(Error::NoMemory) => break,
            Err(e) => fail!("alloc({size}, {align}): {e}"),
        }
        i += 1;
        check!(i < 20_000, "the first chunk never filled");
    }
    check!(live.len() > 8, "only {} objects fit the first chunk", live.len());
    check_eq!(nr_free_bytes(), 0);
    check_eq!(nr_chunks(), 1);
    for (id, &(p, size)) in live.iter().enumerate() {
        check!(pattern(p, size, id, true), "object {id} ({size} bytes) was overwritten");
    }
    let (first, _) = live.remove(0);
    // SAFETY: 1. the object is this test's and unused from here on.
    check_eq!(unsafe { free_percpu(first) }, Ok(()));
    crate::pr_info!("selftest: expecting a refused free_percpu (double free)");
    // SAFETY: 1. freed already: the allocator must refuse without touching anything.
    check_eq!(unsafe { free_percpu(first) }, Err(Error::NotFound));
    for (p, _) in live.drain(..) {
        // SAFETY: 1. each object is this test's and unused from here on.
        check_eq!(unsafe { free_percpu(p) }, Ok(()));
    }
    check_eq!(nr_free_bytes(), before);
    Ok(())
}

/// Chunk memory for the test: physically contiguous pages, which the
/// linear map makes virtually contiguous.
struct ExactPagesChunks {
    live: AtomicUsize,
    made: AtomicUsize,
}

// SAFETY: 1. alloc_pages_exact gives `unit_size * nr_units` bytes of RAM,
// linear-mapped read-write for every CPU, owned until free_pages_exact;
// 2. they are contiguous, so unit n is at base + n * unit_size; 3. neither
// the page allocator nor this code allocates per-CPU memory.
unsafe impl PcpuChunkMem for ExactPagesChunks {
    fn alloc_chunk(&self, unit_size: usize, nr_units: usize) -> Result<VirtAddr, Error> {
        let p = alloc_pages_exact((unit_size * nr_units) as u64, Gfp::KERNEL)?;
        self.live.fetch_add(1, Ordering::Relaxed);
        self.made.fetch_add(1, Ordering::Relaxed);
        Ok(p.into_raw())
    }
    fn free_chunk(&self, base: VirtAddr, unit_size: usize, nr_units: usize) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: 1. `base` is what alloc_chunk returned for this size (the
        // allocator frees a chunk with the geometry it was made with);
        // 2. the allocator gives a chunk back only once nothing is in it.
        unsafe { free_pages_exact(base, (unit_size * nr_units) as u64) };
    }
}

static TEST_CHUNKS: ExactPagesChunks = ExactPagesChunks { live: AtomicUsize::new(0), made: AtomicUsize::new(0) };

/// With chunk memory registered, allocations past the first chunk get new
/// chunks whose copies follow the per-CPU offsets (zeroed, writable,
/// distinct per CPU); freeing everything gives every chunk back.
fn chunk_hook_grows_and_shrinks() -> TestResult {
    let prev = register_chunk_mem(Some(&TEST_CHUNKS)).map_err(|e| format!("register_chunk_mem: {e}"))?;
    let r = grow_and_shrink();
    let restored = register_chunk_mem(prev);
    r?;
    restored.map_err(|e| format!("register_chunk_mem: {e}"))?;
    Ok(())
}

fn grow_and_shrink() -> TestResult {
    let Some(fc) = first_chunk() else { fail!("no first chunk") };
    let before = nr_free_bytes();
    let made0 = TEST_CHUNKS.made.load(Ordering::Relaxed);
    let mut live: Vec<PerCpu<[AtomicU64; 64]>> = Vec::new();
    // Enough 512-byte objects to fill the first chunk and most of two more.
    let want = 3 * fc.unit_size / 512;
    for i in 0..want {
        let p = alloc_percpu::<[AtomicU64; 64]>().map_err(|e| format!("object {i}: {e}"))?;
        for cpu in 0..fc.nr_units {
            let copy = p.per_cpu_ptr(cpu);
            check!(copy.iter().all(|w| w.load(Ordering::Relaxed) == 0), "object {i} not zeroed on CPU{cpu}");
            copy[0].store((i * NR_CPUS + cpu) as u64, Ordering::Relaxed);
        }
        live.push(p);
    }
    check!(nr_chunks() >= 3, "{} chunks for {want} objects of 512 bytes", nr_chunks());
    check_eq!(TEST_CHUNKS.live.load(Ordering::Relaxed), nr_chunks() - 1);
    check_eq!(TEST_CHUNKS.made.load(Ordering::Relaxed) - made0, nr_chunks() - 1);
    for (i, p) in live.iter().enumerate() {
        for cpu in 0..fc.nr_units {
            check_eq!(p.per_cpu_ptr(cpu)[0].load(Ordering::Relaxed), (i * NR_CPUS + cpu) as u64);
        }
        check_eq!(
            p.this_cpu_ptr() as *const _ as u64,
            per_cpu_ptr_raw(p.ptr(), arch::percpu::smp_processor_id()).as_u64()
        );
        check_eq!(this_cpu_ptr_raw(p.ptr()).as_u64(), p.this_cpu_ptr() as *const _ as u64);
    }
    live.clear();
    check_eq!(nr_chunks(), 1);
    check_eq!(TEST_CHUNKS.live.load(Ordering::Relaxed), 0);
    check_eq!(nr_free_bytes(), before);
    Ok(())
}

/// kmap / kmap_local_page give the page's linear-map address: what is
/// written through one reads back through the other, and the address
/// translates to the page's frame.
fn kmap_round_trip() -> TestResult {
    let pages = alloc_pages(Gfp::KERNEL, 0).map_err(|e| format!("alloc_pages: {e}"))?;
    let page = pfn_to_page(pages.pfn()).ok_or("no descriptor for an allocated page")?;
    let a = kmap_local_page(page);
    let b = kmap(page);
    check_eq!(a, pages.address());
    check_eq!(kmap_local_pfn(pages.pfn()), a);
    check_eq!(b, pages.address());
    check_eq!(arch::mmu::at_s1e1r(a).map(|p| p.as_u64()).ok(), Some(pages.pfn().phys().as_u64()));
    let n = PAGE_SIZE as usize / 8;
    // SAFETY: `a` is the linear-map address of the page this test owns
    // (`pages`), PAGE_SIZE bytes, aligned, used by nothing else.
    let w = unsafe { core::slice::from_raw_parts_mut(core::ptr::with_exposed_provenance_mut::<u64>(a.0 as usize), n) };
    for (i, x) in w.iter_mut().enumerate() {
        *x = 0xa5a5_0000_0000 + i as u64;
    }
    kunmap_local(a);
    // SAFETY: as above, through the kmap address of the same page.
    let r = unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance::<u64>(b.0 as usize), n) };
    let ok = r.iter().enumerate().all(|(i, &x)| x == 0xa5a5_0000_0000 + i as u64);
    kunmap(page);
    check!(ok, "what kmap_local_page wrote does not read back through kmap");
    Ok(())
}
