//! The page allocator, wired: `mm::page_alloc` brought up from memblock and
//! given Linux's kernel-facing API.
//!
//! Bring-up (Linux: free_area_init, build_all_zonelists, memblock_free_all,
//! init_per_zone_wmark_min, setup_per_cpu_pageset):
//!
//! ```text
//!   present sections (memblock.memory)  ─► MemMap over the vmemmap
//!   per node: zone spans from zones::ZoneLimits, present ranges  ─► add_node
//!   memmap_init        every descriptor: reserved, refcount 1, node and zone
//!   build_all_zonelists, "Fallback order for Node N: ..."
//!   memblock_free_all  memblock's free ranges to the buddy lists in the
//!                      largest aligned blocks; memblock is retired
//!   watermarks, pcp    min_free_kbytes by Linux's formula; pcp batch/high
//! ```
//!
//! The memmap initialisation and the hand-over are measured (PMU
//! instructions and timer) and reported per GiB beside the cost of a memset
//! over the same descriptors, the floor they are compared with.
//!
//! Callers run with interrupts masked (the kernel never unmasks them yet),
//! which is what the per-CPU lists need: the CPU number passed down is the
//! calling CPU's, from TPIDR_EL1.

use crate::cmdline::Params;
use crate::hal::PageAllocator;
use crate::zones::ZoneLimits;
use crate::{paging, pr_info, pr_warn};
use alloc::boxed::Box;
use core::fmt::Write;
use mm::config::MAX_NUMNODES;
use mm::gfp::Gfp;
use mm::memblock::NodeId;
use mm::page::{MemMap, Page, PresentSections};
use mm::page_alloc::{AllocatorFlags, PgData};
use mm::{Error, PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr, VirtAddr};

static ALLOCATOR: spin::Once<PageAllocator> = spin::Once::new();

/// The page allocator (panics before `init`: a wiring bug).
pub fn allocator() -> &'static PageAllocator {
    ALLOCATOR.get().expect("page allocator used before page_alloc::init")
}

/// Whether the page allocator is up.
pub fn is_up() -> bool {
    ALLOCATOR.get().is_some()
}

fn this_cpu() -> usize {
    arch::percpu::smp_processor_id()
}

/// What the bring-up measured.
#[derive(Clone, Copy, Debug, Default)]
pub struct InitCost {
    /// Descriptors initialised.
    pub descriptors: u64,
    /// (instructions, ns) of memmap_init.
    pub memmap_init: (u64, u64),
    /// (instructions, ns) of the hand-over.
    pub handover: (u64, u64),
    /// (instructions, ns) of a memset over one section's descriptors (2 MiB).
    pub memset_2m: (u64, u64),
    /// Pages handed to the buddy lists.
    pub freed_pages: u64,
}

/// (instructions, ns) of `f`. Instructions are 0 where the PMU does not
/// count INST_RETIRED (QEMU counts it only under -icount).
fn measured<T>(f: impl FnOnce() -> T) -> (T, (u64, u64)) {
    let (_, i0) = arch::pmu::read();
    let t0 = arch::timer::uptime_ns();
    let r = f();
    let (_, i1) = arch::pmu::read();
    let t1 = arch::timer::uptime_ns();
    (r, (i1.wrapping_sub(i0), t1 - t0))
}

/// Nodes of the CPUs in logical order (the boot CPU first, then /cpus order
/// without it: the numbering `smp::smp_init` gives).
fn cpu_nodes(params: &Params) -> heapless::Vec<NodeId, { arch::percpu::NR_CPUS }> {
    let dt = &crate::state::get().dt;
    let me = arch::cpu::mpidr();
    let nid = |n: Option<u32>| {
        if params.numa_off { NodeId(0) } else { NodeId(n.unwrap_or(0).min(MAX_NUMNODES as u32 - 1) as i32) }
    };
    let mut v = heapless::Vec::new();
    let boot = dt.cpus.iter().find(|c| c.mpidr == me).and_then(|c| c.nid);
    let _ = v.push(nid(boot));
    for c in dt.cpus.iter().filter(|c| c.mpidr != me) {
        if v.push(nid(c.nid)).is_err() {
            break;
        }
    }
    v
}

/// Bring the page allocator up and retire memblock. Not inlined: its locals
/// would otherwise sit in kernel_main's frame for the whole boot (a bug fixed:
/// that overflowed the 64 KiB boot stack at kernel_main's first instruction).
#[inline(never)]
pub fn init(limits: &ZoneLimits, vmemmap_base: u64, params: &Params) -> Result<InitCost, Error> {
    arch::pmu::enable();
    let mut cost = InitCost::default();
    let mut sections = PresentSections::new();
    let mut per_node: alloc::vec::Vec<alloc::vec::Vec<(Pfn, Pfn)>> =
        (0..crate::zones::MAX_NUMNODES).map(|_| alloc::vec::Vec::new()).collect();
    {
        let mb = crate::setup::MEMBLOCK.lock();
        for (s, e, nid) in mb.for_each_mem_pfn_range(mm::memblock::NUMA_NO_NODE) {
            sections.add_range(s, e)?;
            let n = (nid.0.max(0) as usize).min(crate::zones::MAX_NUMNODES - 1);
            per_node[n].push((s, e));
        }
    }
    // SAFETY: vmemmap::populate mapped read-write descriptors for every frame
    // of every section that `sections` marks present, at base + pfn * 64,
    // for the life of the kernel, and nothing else uses them.
    let map = unsafe { MemMap::new(vmemmap_base as *mut Page, sections) };
    let mut pa = PageAllocator::new(map);
    let mut flags = AllocatorFlags::empty();
    if params.init_on_alloc {
        flags |= AllocatorFlags::INIT_ON_ALLOC;
    }
    if params.init_on_free {
        flags |= AllocatorFlags::INIT_ON_FREE;
    }
    pa.set_flags(flags);
    pa.set_cpus(&cpu_nodes(params))?;
    if !params.numa_off {
        // Linux's of_numa_parse_distance_map: an entry (a, b, d) also sets
        // (b, a) when b > a, so a tree may list one direction only; a later
        // explicit (b, a) still wins. Entries Linux rejects are reported.
        for &(a, b, d) in &crate::state::get().dt.distances {
            let valid = a < MAX_NUMNODES as u32
                && b < MAX_NUMNODES as u32
                && d <= u8::MAX as u32
                && ((a == b && d == 10) || (a != b && d > 10));
            if !valid {
                pr_warn!("NUMA: invalid distance-map entry ({a}, {b}, {d}); ignored");
                continue;
            }
            pa.set_node_distance(NodeId(a as i32), NodeId(b as i32), d as u8)?;
            if b > a {
                pa.set_node_distance(NodeId(b as i32), NodeId(a as i32), d as u8)?;
            }
        }
    }

    for (nid, present) in per_node.iter().enumerate() {
        let (Some(first), Some(last)) = (present.first(), present.last()) else { continue };
        let spans = limits.node_zone_spans(nid, first.0.0, last.1.0);
        let storage = Box::leak(Box::<PgData>::new_uninit());
        pa.add_node(NodeId(nid as i32), storage, &spans, present)?;
    }

    let (descriptors, c) = measured(|| pa.memmap_init());
    cost.descriptors = descriptors;
    cost.memmap_init = c;
    cost.memset_2m = memset_floor();
    pa.build_all_zonelists();
    for pgdat in pa.online_nodes() {
        let mut line: heapless::String<256> = heapless::String::new();
        let _ = write!(line, "Fallback order for Node {}: ", pgdat.node_id().0);
        let mut last = -1;
        for z in pgdat.zonelist(mm::page_alloc::ZONELIST_FALLBACK).zones() {
            if i32::from(z.nid) != last {
                let _ = write!(line, "{} ", z.nid);
                last = i32::from(z.nid);
            }
        }
        pr_info!("{}", line);
    }
    let pa = ALLOCATOR.call_once(|| pa);

    // memblock_free_all: every free range, then memblock is done.
    let (freed, c) = measured(|| {
        let mb = crate::setup::MEMBLOCK.lock();
        let mut freed = 0;
        for (s, e, _) in mb.for_each_free_mem_range(mm::memblock::NUMA_NO_NODE, mm::memblock::MemblockFlags::NONE) {
            let (s, e) = (s.as_u64().div_ceil(PAGE_SIZE), e.as_u64() >> PAGE_SHIFT);
            if s < e {
                freed += pa.free_bootmem_range(Pfn(s), Pfn(e));
            }
        }
        freed
    });
    cost.freed_pages = freed;
    cost.handover = c;
    crate::setup::retire_memblock();
    paging::switch_tables_to_page_allocator();
    pa.init_per_zone_wmark_min();
    pa.setup_pcp();
    pa.report_meminit();
    Ok(cost)
}

/// Instructions and ns of a memset over 2 MiB (one section's descriptors),
/// in a scratch block taken from memblock and given back.
fn memset_floor() -> (u64, u64) {
    let pa = match crate::setup::MEMBLOCK.lock().phys_alloc(2 << 20, PAGE_SIZE) {
        Ok(p) => p,
        Err(_) => return (0, 0),
    };
    let va = paging::phys_to_virt(pa).as_u64() as *mut u8;
    // SAFETY: a 2 MiB block memblock just reserved for this measurement,
    // covered by the linear map; freed right after.
    let (_, c) = measured(|| unsafe { core::ptr::write_bytes(core::hint::black_box(va), 0, 2 << 20) });
    let _ = crate::setup::MEMBLOCK.lock().free(pa, 2 << 20);
    c
}

/// Linux's mem_init_print_info line.
pub fn print_memory_line(reserved_cma_pages: u64) {
    use boot::sym;
    let pa = allocator();
    let k = |pages: u64| pages * (PAGE_SIZE >> 10);
    let physpages: u64 = pa.online_nodes().map(|n| n.node_present_pages()).sum();
    let code = (sym!(_etext) - sym!(_text)) >> 10;
    let rodata = (sym!(__end_rodata) - sym!(__start_rodata)) >> 10;
    let rwdata = (sym!(_edata) - sym!(_sdata)) >> 10;
    let bss = (sym!(__bss_end) - sym!(__bss_start)) >> 10;
    pr_info!(
        "Memory: {}K/{}K available ({}K kernel code, {}K rwdata, {}K rodata, 0K init, {}K bss, {}K reserved, {}K cma-reserved)",
        k(pa.nr_free_pages()),
        k(physpages),
        code,
        rwdata,
        rodata,
        bss,
        k(physpages - pa.totalram_pages() - reserved_cma_pages),
        k(reserved_cma_pages)
    );
}

/// Print the boot's memmap and hand-over cost per GiB of RAM, and as a
/// multiple of a memset over the same descriptors. In instructions when the
/// PMU counts them (under -icount), else in time.
pub fn print_init_cost(c: &InitCost) {
    if c.descriptors == 0 {
        return;
    }
    let insns = c.memmap_init.0 != 0 && c.memset_2m.0 != 0;
    let pick = |m: (u64, u64)| if insns { m.0 } else { m.1 };
    let unit = if insns { "insn" } else { "ns" };
    let per_gib = |x: u64| x * (1 << (30 - PAGE_SHIFT)) / c.descriptors;
    // 2 MiB of descriptors describe 128 MiB: a memset of one GiB's is 8 times that.
    let memset_gib = pick(c.memset_2m) * 8;
    let tenths = |x: u64| (per_gib(x) * 10).checked_div(memset_gib).unwrap_or(0);
    let (m, h) = (tenths(pick(c.memmap_init)), tenths(pick(c.handover)));
    pr_info!(
        "mm: memmap_init {} {}/GiB ({}.{}x a memset of the descriptors); hand-over of {} pages {} {}/GiB ({}.{}x)",
        per_gib(pick(c.memmap_init)),
        unit,
        m / 10,
        m % 10,
        c.freed_pages,
        per_gib(pick(c.handover)),
        unit,
        h / 10,
        h % 10
    );
}

// ----- Linux's API --------------------------------------------------------

/// 2^order contiguous pages, given back to the buddy allocator on drop.
///
/// # Invariants
/// `pfn` was returned by the allocator for `order` and not freed since.
pub struct Pages {
    pfn: Pfn,
    order: u32,
}

impl Pages {
    /// The first frame.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }
    /// The order.
    pub fn order(&self) -> u32 {
        self.order
    }
    /// The linear-map address of the first page (Linux's page_address).
    pub fn address(&self) -> VirtAddr {
        page_address(self.pfn)
    }
    /// Give up ownership without freeing (Linux's raw pfn/address use).
    pub fn into_raw(self) -> (Pfn, u32) {
        let r = (self.pfn, self.order);
        core::mem::forget(self);
        r
    }
    /// Take back ownership of pages from `into_raw`.
    ///
    /// # Safety
    /// 1. `(pfn, order)` came from `into_raw` (or the raw API) and is owned by the caller.
    pub unsafe fn from_raw(pfn: Pfn, order: u32) -> Self {
        Pages { pfn, order }
    }
}

impl Drop for Pages {
    fn drop(&mut self) {
        // SAFETY: the invariant: the handle owns the block's one reference at
        // its order, and is going away, so nothing uses the pages after this.
        unsafe { allocator().free_pages(this_cpu(), self.pfn, self.order) };
    }
}

/// Linux's alloc_pages: 2^order pages, or `NoMemory`.
pub fn alloc_pages(gfp: Gfp, order: u32) -> Result<Pages, Error> {
    let pfn = allocator().alloc_pages(this_cpu(), gfp, order)?;
    Ok(Pages { pfn, order })
}

/// Linux's alloc_pages_node.
pub fn alloc_pages_node(nid: NodeId, gfp: Gfp, order: u32) -> Result<Pages, Error> {
    let pfn = allocator().alloc_pages_node(this_cpu(), nid, gfp, order)?;
    Ok(Pages { pfn, order })
}

/// Linux's __free_pages (the consuming form of dropping `Pages`).
pub fn __free_pages(pages: Pages) {
    drop(pages);
}

/// Linux's __get_free_pages: the linear-map address of 2^order pages.
pub fn __get_free_pages(gfp: Gfp, order: u32) -> Result<VirtAddr, Error> {
    alloc_pages(gfp, order).map(|p| {
        let (pfn, _) = p.into_raw();
        page_address(pfn)
    })
}

/// Linux's get_zeroed_page.
pub fn get_zeroed_page(gfp: Gfp) -> Result<VirtAddr, Error> {
    __get_free_pages(gfp | Gfp::ZERO, 0)
}

/// Linux's free_pages: free what `__get_free_pages(_, order)` returned.
///
/// # Safety
///
/// 1. `addr` and `order` are those of a `__get_free_pages` call whose pages
///    the caller owns and gives up, and nothing uses them after this call.
pub unsafe fn free_pages(addr: VirtAddr, order: u32) {
    // SAFETY: obligation 1 is PageAllocator::free_pages' 1-3.
    unsafe { allocator().free_pages(this_cpu(), virt_to_pfn(addr), order) };
}

/// Linux's alloc_pages_exact: `size_bytes` rounded up to pages, the tail
/// beyond it given back.
pub fn alloc_pages_exact(size_bytes: u64, gfp: Gfp) -> Result<VirtAddr, Error> {
    allocator().alloc_pages_exact(this_cpu(), size_bytes, gfp).map(page_address)
}

/// Linux's free_pages_exact.
///
/// # Safety
///
/// 1. `addr` and `size_bytes` are those of an `alloc_pages_exact` call whose
///    pages the caller owns and gives up, and nothing uses them afterwards.
pub unsafe fn free_pages_exact(addr: VirtAddr, size_bytes: u64) {
    // SAFETY: obligation 1 is PageAllocator::free_pages_exact's 1 and 2.
    unsafe { allocator().free_pages_exact(this_cpu(), virt_to_pfn(addr), size_bytes) };
}

/// Linux's page_address for a frame in the linear map.
pub fn page_address(pfn: Pfn) -> VirtAddr {
    paging::phys_to_virt(pfn.phys())
}

/// The frame of a linear-map address.
pub fn virt_to_pfn(va: VirtAddr) -> Pfn {
    paging::virt_to_phys(va).pfn()
}

/// Linux's pfn_to_page.
pub fn pfn_to_page(pfn: Pfn) -> Option<&'static Page> {
    allocator().memmap().pfn_to_page(pfn)
}

/// Linux's virt_to_page.
pub fn virt_to_page(va: VirtAddr) -> Option<&'static Page> {
    pfn_to_page(virt_to_pfn(va))
}

/// Linux's page_to_pfn.
pub fn page_to_pfn(page: &Page) -> Pfn {
    allocator().memmap().page_to_pfn(page)
}

/// A zeroed page for a page table (used by `paging` once memblock is retired).
pub fn alloc_table_page() -> Result<PhysAddr, Error> {
    alloc_pages(Gfp::KERNEL | Gfp::ZERO, 0).map(|p| p.into_raw().0.phys())
}
