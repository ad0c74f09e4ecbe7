//! The `vmalloc` suite: the cases of Linux's lib/test_vmalloc.c, each run
//! on every online CPU at once (test_vmalloc's nr_threads), plus checks
//! that need this kernel's tables: data written through a vmalloc address
//! reads back through `vmalloc_to_page` and the linear map, guard pages
//! fault, ioremap maps device memory, lazily freed ranges are not reused
//! before their purge, and /proc/vmallocinfo's format.
//!
//! Every test is measured: before and after, the vmap blocks and lazy
//! ranges are purged (`vm_unmap_aliases`), the pcp lists drained and empty
//! kmalloc slabs shrunk, and then every page must be accounted for: the
//! buddy allocator's free pages plus the page tables the mappings created
//! (kept, as Linux keeps vmalloc's page tables) plus the change in slab
//! pages (the trees' node arenas, which keep their size, live in kmalloc)
//! equal the free pages before; and the free tree and busy count are
//! exactly as before.
//!
//! Loop counts are smaller than test_vmalloc's defaults (which run a
//! million iterations per thread) so the suite fits the boot's time;
//! `long_busy_list_alloc` keeps up to 2,000 areas live per CPU (Linux:
//! 15,000), fewer on a small machine. Not run: the kvfree_rcu cases (this
//! kernel has no RCU).

use crate::memory::linear_map::page_address;
use crate::memory::pages::{Pages, alloc_pages};
use crate::memory::vmalloc::{self, VmallocBuf};
use crate::memory::{page_alloc, pgtable};
use crate::selftest::harness::{PageCounts, Test, TestResult};
use crate::smp::call::on_each_cpu;
use crate::{check, check_eq, fail};
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::gfp::Gfp;
use mm::pgtable::PageProt;
use mm::vmalloc::VmFlags;
use mm::{PAGE_SIZE, VirtAddr};
use spin::Mutex;

pub const TESTS: &[Test] = &[
    Test { suite: "vmalloc", name: "fix_size_alloc", run: || every_cpu(0) },
    Test { suite: "vmalloc", name: "full_fit_alloc", run: || every_cpu(1) },
    Test { suite: "vmalloc", name: "long_busy_list_alloc", run: || every_cpu(2) },
    Test { suite: "vmalloc", name: "random_size_alloc", run: || every_cpu(3) },
    Test { suite: "vmalloc", name: "fix_align_alloc", run: || every_cpu(4) },
    Test { suite: "vmalloc", name: "random_size_align_alloc", run: || every_cpu(5) },
    Test { suite: "vmalloc", name: "align_shift_alloc", run: || every_cpu(6) },
    Test { suite: "vmalloc", name: "vm_map_ram", run: || every_cpu(7) },
    Test { suite: "vmalloc", name: "pcpu_alloc", run: || every_cpu(8) },
    Test { suite: "vmalloc", name: "data_reads_back_through_linear_map", run: || measured(data_reads_back) },
    Test { suite: "vmalloc", name: "guard_pages_unmapped", run: || measured(guard_pages_unmapped) },
    Test { suite: "vmalloc", name: "lazy_range_not_reused_before_purge", run: || measured(lazy_not_reused) },
    Test { suite: "vmalloc", name: "ioremap_maps_device_memory", run: || measured(ioremap_device) },
    Test { suite: "vmalloc", name: "bad_frees_refused", run: || measured(bad_frees_refused) },
    Test { suite: "vmalloc", name: "vmallocinfo_format", run: || measured(vmallocinfo_format) },
    Test { suite: "vmalloc", name: "cpu_stacks_in_vmalloc", run: cpu_stacks_in_vmalloc },
];

/// One seeded xorshift per CPU.
struct Rng(u64);

impl Rng {
    fn new(cpu: usize) -> Self {
        Rng(0x9e37_79b9_7f4a_7c15 ^ ((cpu as u64 + 1) << 32) ^ arch::timer::uptime_ns())
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

type Case = fn(&mut Rng) -> TestResult;

static CASE: AtomicU64 = AtomicU64::new(0);
static FAILURES: Mutex<Vec<(usize, String)>> = Mutex::new(Vec::new());

fn run_on(cpu: usize) {
    let i = CASE.load(Ordering::Acquire) as usize;
    let case = CASES[i];
    let mut rng = Rng::new(cpu);
    if let Err(e) = case(&mut rng) {
        FAILURES.lock().push((cpu, e));
    }
}

const CASES: [Case; 9] = [
    fix_size_alloc,
    full_fit_alloc,
    long_busy_list_alloc,
    random_size_alloc,
    fix_align_alloc,
    random_size_align_alloc,
    align_shift_alloc,
    vm_map_ram_test,
    pcpu_alloc,
];

/// Run `CASES[i]` on every online CPU at once, measured.
fn every_cpu(i: usize) -> TestResult {
    measured(|| {
        CASE.store(i as u64, Ordering::Release);
        FAILURES.lock().clear();
        on_each_cpu(run_on);
        let f = core::mem::take(&mut *FAILURES.lock());
        if let Some((cpu, e)) = f.first() {
            fail!("CPU{cpu}: {e} ({} CPUs failed)", f.len());
        }
        Ok(())
    })
}

struct Counts {
    pages: PageCounts,
    free_ranges: Vec<(u64, u64)>,
    busy: usize,
}

fn counts() -> Counts {
    let pages = PageCounts::now();
    Counts { pages, free_ranges: vmalloc::free_ranges(), busy: vmalloc::stats().map(|s| s.busy).unwrap_or(0) }
}

/// Run `f`; then every page and every range must be back.
fn measured(f: impl FnOnce() -> TestResult) -> TestResult {
    let before = counts();
    f()?;
    let after = counts();
    after.pages.check_back_to(&before.pages)?;
    check_eq!(after.busy, before.busy);
    check!(
        after.free_ranges == before.free_ranges,
        "the free tree differs: {} ranges after, {} before",
        after.free_ranges.len(),
        before.free_ranges.len()
    );
    Ok(())
}

fn err(what: &str, e: mm::Error) -> String {
    alloc::format!("{what}: {e}")
}

/// Write a pattern through the vmalloc address, read it back through
/// vmalloc_to_page and the linear map.
fn fill_and_check(buf: &mut VmallocBuf, seed: u64) -> TestResult {
    let words = buf.len() / 8;
    for (i, chunk) in buf.as_mut_slice().chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&(seed ^ (i as u64).wrapping_mul(0x9e37_79b9)).to_le_bytes());
    }
    for page in 0..buf.len() as u64 / PAGE_SIZE {
        let va = buf.addr() + page * PAGE_SIZE;
        let Some(pfn) = vmalloc::vmalloc_to_page(va) else {
            fail!("vmalloc_to_page({:#x}) found nothing", va.as_u64())
        };
        let lin = page_address(pfn).as_u64() as *const u64;
        for w in [0u64, 1, 511] {
            let i = page * 512 + w;
            if i as usize >= words {
                break;
            }
            // SAFETY: the frame is one of `buf`'s own pages, alive while
            // `buf` is, and the linear map covers every page of RAM.
            let got = unsafe { lin.add(w as usize).read_volatile() };
            let want = seed ^ i.wrapping_mul(0x9e37_79b9);
            check!(got == want, "page {page} word {w}: linear map reads {got:#x}, wrote {want:#x}");
        }
    }
    Ok(())
}

fn fix_size_alloc(_: &mut Rng) -> TestResult {
    for i in 0..300 {
        let mut b = vmalloc::vmalloc(3 * PAGE_SIZE).map_err(|e| err("vmalloc(3 pages)", e))?;
        check!(!b.is_empty() && b.len() == 3 * PAGE_SIZE as usize, "vmalloc(3 pages) gave {} bytes", b.len());
        b.as_mut_slice()[0] = i as u8;
        check_eq!(b.as_slice()[0], i as u8);
    }
    Ok(())
}

fn full_fit_alloc(_: &mut Rng) -> TestResult {
    // Pairs of one-page areas; free every second one to leave holes of
    // exactly one page plus its guard, then allocate into the holes.
    let n = 200;
    let mut keep = Vec::with_capacity(n);
    let mut junk = Vec::with_capacity(n);
    for _ in 0..n {
        keep.push(vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc", e))?);
        junk.push(vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc", e))?);
    }
    drop(junk);
    for _ in 0..400 {
        let mut b = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc into a hole", e))?;
        b.as_mut_slice()[0] = 0xa5;
    }
    drop(keep);
    Ok(())
}

/// How many one-page areas each CPU keeps live in long_busy_list_alloc:
/// 2,000, or fewer on a machine where that would take more than a quarter
/// of the free pages (shared by the CPUs).
fn busy_list_len() -> usize {
    let cpus = crate::smp::cpumask::num_online_cpus().max(1) as u64;
    let pages = page_alloc::allocator().nr_free_pages();
    (pages / 4 / cpus).clamp(64, 2000) as usize
}

fn long_busy_list_alloc(_: &mut Rng) -> TestResult {
    let n = busy_list_len();
    let mut live = Vec::with_capacity(n);
    for _ in 0..n {
        live.push(vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc (filling)", e))?);
    }
    for _ in 0..500 {
        let mut b = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc with a long busy list", e))?;
        b.as_mut_slice()[PAGE_SIZE as usize - 1] = 1;
    }
    drop(live);
    Ok(())
}

fn random_size_alloc(rng: &mut Rng) -> TestResult {
    for _ in 0..100 {
        let n = rng.below(100) + 1;
        let mut b = vmalloc::vmalloc(n * PAGE_SIZE).map_err(|e| err("vmalloc(random)", e))?;
        let seed = rng.next();
        fill_and_check(&mut b, seed)?;
    }
    Ok(())
}

fn vmalloc_aligned(size: u64, align: u64, gfp: Gfp) -> Result<VmallocBuf, mm::Error> {
    vmalloc::__vmalloc_node_range(
        size,
        align,
        crate::memory::layout::VMALLOC_START,
        crate::memory::layout::VMALLOC_END,
        gfp,
        PageProt::KERNEL_RW,
        VmFlags::empty(),
        mm::config::NUMA_NO_NODE,
        arch::cpu::return_address(),
    )
}

fn fix_align_alloc(_: &mut Rng) -> TestResult {
    let align = vmalloc::THREAD_ALIGN << 1;
    for _ in 0..200 {
        let b = vmalloc_aligned(5 * PAGE_SIZE, align, Gfp::KERNEL | Gfp::ZERO).map_err(|e| err("aligned", e))?;
        check!(b.addr().is_aligned(align), "{:#x} is not aligned to {align:#x}", b.addr().as_u64());
        check!(b.as_slice().iter().all(|&x| x == 0), "not zeroed");
    }
    Ok(())
}

fn random_size_align_alloc(rng: &mut Rng) -> TestResult {
    for _ in 0..200 {
        let r = rng.next();
        let align = 1u64 << (r % 20);
        let size = ((r >> 8) % 10 + 1) * PAGE_SIZE;
        let b = vmalloc_aligned(size, align, Gfp::KERNEL | Gfp::ZERO).map_err(|e| err("random align", e))?;
        check!(b.addr().is_aligned(align.max(PAGE_SIZE)), "{:#x} not aligned to {align:#x}", b.addr().as_u64());
    }
    Ok(())
}

/// test_vmalloc's case that must fail: alignments up to 2^63. Those past
/// the vmalloc area's size fail cleanly (an error, nothing taken); the
/// rest succeed.
fn align_shift_alloc(_: &mut Rng) -> TestResult {
    let span = crate::memory::layout::VMALLOC_END - crate::memory::layout::VMALLOC_START;
    let mut failed = 0;
    for shift in 0..64 {
        let align = 1u64 << shift;
        match vmalloc_aligned(PAGE_SIZE, align, Gfp::KERNEL | Gfp::NOWARN) {
            Ok(b) => check!(align < span, "alignment {align:#x} beyond the area succeeded at {:#x}", b.addr().as_u64()),
            Err(mm::Error::NoMemory) => failed += 1,
            Err(e) => fail!("alignment {align:#x}: unexpected error {e}"),
        }
    }
    check!(failed > 0, "no alignment failed");
    Ok(())
}

fn vm_map_ram_test(rng: &mut Rng) -> TestResult {
    let pages: Vec<Pages> =
        (0..16).map(|_| alloc_pages(Gfp::KERNEL, 0)).collect::<Result<_, _>>().map_err(|e| err("alloc_pages", e))?;
    for i in 0..400u64 {
        let n = (rng.below(16) + 1) as usize;
        let m = vmalloc::vm_map_ram(&pages[..n], mm::config::NUMA_NO_NODE).map_err(|e| err("vm_map_ram", e))?;
        check_eq!(m.count(), n);
        let last = m.addr() + (n as u64 - 1) * PAGE_SIZE;
        check_eq!(vmalloc::vmalloc_to_page(last), Some(pages[n - 1].pfn()));
        // SAFETY: the mapping is ours, of our pages, RW, alive until `m` drops.
        unsafe { (last.as_u64() as *mut u64).write_volatile(i) };
        // SAFETY: the page is ours; the linear map covers it.
        let back = unsafe { (pages[n - 1].address().as_u64() as *const u64).read_volatile() };
        check_eq!(back, i);
    }
    // More than VMAP_MAX_ALLOC pages: an area of its own.
    let many: Vec<Pages> =
        (0..80).map(|_| alloc_pages(Gfp::KERNEL, 0)).collect::<Result<_, _>>().map_err(|e| err("alloc_pages", e))?;
    let m = vmalloc::vm_map_ram(&many, mm::config::NUMA_NO_NODE).map_err(|e| err("vm_map_ram(80)", e))?;
    check_eq!(vmalloc::vmalloc_to_page(m.addr() + 79 * PAGE_SIZE), Some(many[79].pfn()));
    Ok(())
}

/// test_vmalloc's pcpu_alloc_test: random sizes and alignments from the
/// dynamic per-CPU allocator, enough of them (on every CPU at once) that
/// it needs chunks beyond the first, which come from vmalloc; every
/// allocation is written in every CPU's unit, then all are freed.
/// One CPU at a time in [`pcpu_alloc`]: 48 KiB per CPU on eight CPUs at
/// once is more than the allocator's eight chunks hold, which the test is
/// not about (a bug fixed: with idle CPUs halted in wfi, all of them ran
/// the test truly at once and some got NoMemory).
static PCPU_ALLOC_TURN: Mutex<()> = Mutex::new(());

fn pcpu_alloc(rng: &mut Rng) -> TestResult {
    use crate::memory::percpu;
    let _turn = PCPU_ALLOC_TURN.lock();
    let mut live = Vec::new();
    let mut bytes = 0;
    let mut result = Ok(());
    while bytes < 48 << 10 && result.is_ok() {
        let r = rng.next();
        let size = (r % 1024 + 1) as usize;
        let align = 1usize << ((r >> 16) % 11 + 1);
        let p = match percpu::__alloc_percpu(size, align) {
            Ok(p) => p,
            Err(e) => {
                result = Err(err("__alloc_percpu", e));
                break;
            }
        };
        live.push(p);
        bytes += size;
        for cpu in 0..crate::smp::cpumask::num_possible_cpus() {
            let va = percpu::per_cpu_ptr_raw(p, cpu);
            if !va.is_aligned(align as u64) {
                result = Err(alloc::format!("{size} bytes aligned {align}: CPU{cpu} copy at {:#x}", va.as_u64()));
                break;
            }
            // SAFETY: CPU `cpu`'s copy of our fresh allocation, `size` bytes.
            unsafe { core::ptr::write_bytes(va.as_u64() as *mut u8, cpu as u8, size) };
        }
    }
    if result.is_ok() && percpu::nr_chunks() <= 1 {
        result = Err(String::from("the test never needed a second chunk"));
    }
    // Everything goes back, on failure too: a leak here would fail the
    // percpu suite's tests after it.
    for p in live {
        // SAFETY: each pointer is our own allocation, freed once.
        if let Err(e) = unsafe { percpu::free_percpu(p) } {
            result = result.and(Err(err("free_percpu", e)));
        }
    }
    result
}

fn data_reads_back() -> TestResult {
    for (i, pages) in [1u64, 7, 64, 300].into_iter().enumerate() {
        let mut b = vmalloc::vmalloc(pages * PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
        fill_and_check(&mut b, 0x5eed_0000 + i as u64)?;
        let z = vmalloc::vzalloc(pages * PAGE_SIZE).map_err(|e| err("vzalloc", e))?;
        check!(z.as_slice().iter().all(|&x| x == 0), "vzalloc({pages} pages) not zeroed");
    }
    let node = vmalloc::vmalloc_node(4 * PAGE_SIZE, mm::memblock::NodeId(0)).map_err(|e| err("vmalloc_node", e))?;
    let pfn = vmalloc::vmalloc_to_page(node.addr()).ok_or("vmalloc_node: no page")?;
    let nid = crate::memory::pages::pfn_to_page(pfn).map(|p| p.node().0);
    check_eq!(nid, Some(0));
    check!(!vmalloc::is_vmalloc_addr(page_address(pfn)), "the linear map is not vmalloc space");
    check!(vmalloc::is_vmalloc_addr(node.addr()), "a vmalloc address is");
    // vmap of caller pages, an order-2 block among them: every page in order.
    let blocks = [alloc_pages(Gfp::KERNEL, 0), alloc_pages(Gfp::KERNEL, 2), alloc_pages(Gfp::KERNEL, 0)];
    let blocks: Vec<Pages> = blocks.into_iter().collect::<Result<_, _>>().map_err(|e| err("alloc_pages", e))?;
    let m = vmalloc::vmap(&blocks, PageProt::KERNEL_RW).map_err(|e| err("vmap", e))?;
    check!(!m.is_empty() && m.len() as u64 == 6 * PAGE_SIZE, "vmap of 6 pages maps {} bytes", m.len());
    let want = [blocks[0].pfn(), blocks[1].pfn(), mm::Pfn(blocks[1].pfn().0 + 3), blocks[2].pfn()];
    let got = [0u64, 1, 4, 5].map(|p| vmalloc::vmalloc_to_page(m.addr() + p * PAGE_SIZE));
    check_eq!(got, want.map(Some));
    drop(m);
    Ok(())
}

fn probe_faults(va: VirtAddr) -> bool {
    // SAFETY: reading a guard page on purpose; the fault is caught.
    unsafe { arch::exception::probe_read32(va.as_u64()) }.is_err()
}

fn guard_pages_unmapped() -> TestResult {
    let a = vmalloc::vmalloc(2 * PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
    let b = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
    let guard = a.addr() + 2 * PAGE_SIZE;
    check!(pgtable::translate(guard).is_none(), "the guard page after an area translates");
    check!(probe_faults(guard), "reading the guard page did not fault");
    let bl = b.addr().as_u64();
    check!(
        bl + PAGE_SIZE <= a.addr().as_u64() || bl >= guard.as_u64() + PAGE_SIZE,
        "the next area at {bl:#x} overlaps the first or its guard page"
    );
    let f = vmalloc::describe_fault(guard.as_u64()).ok_or("the guard page is not attributed to its area")?;
    check_eq!(f.guard, Some("above"));
    check_eq!(f.start, a.addr().as_u64());
    let nog = vmalloc::__vmalloc_node_range(
        PAGE_SIZE,
        1,
        crate::memory::layout::VMALLOC_START,
        crate::memory::layout::VMALLOC_END,
        Gfp::KERNEL,
        PageProt::KERNEL_RW,
        VmFlags::NO_GUARD,
        mm::config::NUMA_NO_NODE,
        0,
    )
    .map_err(|e| err("VM_NO_GUARD", e))?;
    let f = vmalloc::describe_fault(nog.addr().as_u64()).ok_or("VM_NO_GUARD area unknown")?;
    check_eq!(f.end - f.start, PAGE_SIZE);
    let stack = vmalloc::alloc_kernel_stack(mm::config::NUMA_NO_NODE).map_err(|e| err("stack", e))?;
    check!(stack.addr().is_aligned(vmalloc::THREAD_ALIGN), "stack not THREAD_ALIGN-aligned");
    check_eq!(stack.len() as u64, vmalloc::THREAD_SIZE);
    check!(probe_faults(stack.addr() - 8), "the page below a stack is mapped");
    check!(probe_faults(stack.addr() + vmalloc::THREAD_SIZE), "the page above a stack is mapped");
    check_eq!(vmalloc::describe_fault(stack.addr().as_u64() - 8).and_then(|f| f.guard), Some("below"));
    Ok(())
}

fn lazy_not_reused() -> TestResult {
    vmalloc::vm_unmap_aliases();
    let area = vmalloc::get_vm_area(3 * PAGE_SIZE, VmFlags::empty()).map_err(|e| err("get_vm_area", e))?;
    check!(!area.is_empty() && area.len() as u64 == 3 * PAGE_SIZE, "get_vm_area: {} bytes", area.len());
    check!(pgtable::translate(area.addr()).is_none(), "get_vm_area mapped something");
    drop(area);
    vmalloc::purge_vmap_area_lazy();
    let a = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
    let addr = a.addr();
    let purges = vmalloc::stats().map(|s| s.purges).unwrap_or(0);
    drop(a);
    check!(pgtable::translate(addr).is_none(), "vfree left the page mapped");
    let lazy = vmalloc::stats().map(|s| s.lazy).unwrap_or(0);
    check!(lazy >= 1, "the freed range is not on the purge list");
    let b = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
    check!(b.addr() != addr, "a lazily freed range was reused before its flush");
    drop(b);
    vmalloc::purge_vmap_area_lazy();
    let s = vmalloc::stats().ok_or("no vmalloc")?;
    check_eq!(s.lazy, 0);
    check!(s.purges > purges, "no purge counted");
    let c = vmalloc::vmalloc(PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
    check_eq!(c.addr(), addr);
    Ok(())
}

fn ioremap_device() -> TestResult {
    let page = alloc_pages(Gfp::KERNEL, 0).map_err(|e| err("alloc_pages", e))?;
    let ram = page.pfn().phys().as_u64();
    check!(vmalloc::ioremap(ram, PAGE_SIZE).is_err(), "ioremap of RAM at {ram:#x} was allowed");
    drop(page);
    check!(vmalloc::ioremap(0x1000, 0).is_err(), "ioremap of 0 bytes was allowed");
    let Some(pa) = crate::init::earlycon::outcome().and_then(|o| o.console_pa) else {
        return Ok(()); // no UART to map (semihosting-only boot)
    };
    let io = vmalloc::ioremap(pa, 0x40).map_err(|e| err("ioremap", e))?;
    check!(!io.is_empty() && io.len() == 0x40, "ioremap of 0x40 bytes: {}", io.len());
    let p = vmalloc::ioremap_prot(pa, 4, PageProt::KERNEL_DEVICE).map_err(|e| err("ioremap_prot", e))?;
    check_eq!(p.addr().as_u64() & (PAGE_SIZE - 1), pa & (PAGE_SIZE - 1));
    let t = pgtable::translate(io.addr()).ok_or("ioremap'd address does not translate")?;
    check_eq!(t.pa.as_u64(), pa);
    check!(t.prot.contains(PageProt::DEVICE), "ioremap is not device memory: {:?}", t.prot);
    let wc = vmalloc::ioremap_wc(pa, 0x40).map_err(|e| err("ioremap_wc", e))?;
    let t = pgtable::translate(wc.addr()).ok_or("ioremap_wc'd address does not translate")?;
    check!(t.prot.contains(PageProt::NONCACHED) && !t.prot.contains(PageProt::DEVICE), "ioremap_wc: {:?}", t.prot);
    Ok(())
}

fn bad_frees_refused() -> TestResult {
    let a = vmalloc::vmalloc(2 * PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
    let busy = vmalloc::stats().map(|s| s.busy);
    // SAFETY: deliberately wrong addresses: vfree refuses them (not owned
    // areas' starts), so nothing is freed.
    unsafe {
        vmalloc::vfree(a.addr() + PAGE_SIZE);
        vmalloc::vfree(VirtAddr(crate::memory::layout::VMALLOC_END - PAGE_SIZE));
        vmalloc::vfree(VirtAddr(0x1234));
    }
    check_eq!(vmalloc::stats().map(|s| s.busy), busy);
    check!(vmalloc::vmalloc(0).is_err(), "vmalloc(0) succeeded");
    check!(vmalloc::vmalloc(u64::MAX).is_err(), "vmalloc(huge) succeeded");
    check!(vmalloc::vm_map_ram(&[], mm::config::NUMA_NO_NODE).is_err(), "vm_map_ram of nothing succeeded");
    drop(a);
    Ok(())
}

#[inline(never)]
fn vmallocinfo_format() -> TestResult {
    let a = vmalloc::vmalloc(3 * PAGE_SIZE).map_err(|e| err("vmalloc", e))?;
    let mut s = String::new();
    vmalloc::vmallocinfo(&mut s).map_err(|_| "format failed")?;
    let start = a.addr().as_u64();
    let want = alloc::format!("0x{:016x}-0x{:016x}   16384 ", start, start + 4 * PAGE_SIZE);
    let Some(line) = s.lines().find(|l| l.starts_with(&want)) else {
        fail!("no line starting {want:?} in:\n{s}");
    };
    check!(line.contains("vmallocinfo_format+0x"), "caller not named as %pS (name+0xoff/0xsize): {line}");
    check!(line.ends_with(" pages=3 vmalloc N0=3"), "line: {line}");
    let io = s.lines().filter(|l| l.contains(" ioremap")).count();
    check!(io >= 1 || crate::init::earlycon::ioremapped_va().is_none(), "the console's ioremap is not listed");
    let mut m = String::new();
    crate::memory::page_alloc::allocator()
        .meminfo(&mut m, &crate::memory::report::counters())
        .map_err(|_| "format failed")?;
    let total = (crate::memory::layout::VMALLOC_END - crate::memory::layout::VMALLOC_START) >> 10;
    let used = vmalloc::nr_vmalloc_pages() * (PAGE_SIZE >> 10);
    let want =
        alloc::format!("VmallocTotal:   {total} kB\nVmallocUsed:    {used:>8} kB\nVmallocChunk:          0 kB\n");
    check!(m.contains(&want), "meminfo has no {want:?}: {m}");
    Ok(())
}

fn cpu_stacks_in_vmalloc() -> TestResult {
    for cpu in 1..arch::percpu::NR_CPUS {
        if !crate::smp::cpumask::cpu_online(cpu) {
            continue;
        }
        let a = arch::percpu::cpu_area(cpu);
        let lo = a.stack_lo.load(Ordering::Relaxed);
        let hi = a.stack_hi.load(Ordering::Relaxed);
        check!(vmalloc::is_vmalloc_addr(VirtAddr(lo)), "CPU{cpu}'s stack {lo:#x} is not in vmalloc space");
        check_eq!(hi - lo, vmalloc::THREAD_SIZE);
        check!(lo.is_multiple_of(vmalloc::THREAD_ALIGN), "CPU{cpu}'s stack {lo:#x} is not THREAD_ALIGN-aligned");
        check!(probe_faults(VirtAddr(lo - 8)), "CPU{cpu}: no guard below the stack");
        check!(probe_faults(VirtAddr(hi)), "CPU{cpu}: no guard above the stack");
        let f = vmalloc::describe_fault(lo).ok_or("the stack's area is unknown")?;
        check_eq!(f.kind, "vmalloc");
    }
    Ok(())
}
