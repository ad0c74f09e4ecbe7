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
//! calling CPU's, from TPIDR_EL1. The kernel-facing API (`Pages`,
//! `alloc_pages`, ...) is in `pages`, above this file.

use super::hal::PageAllocator;
use super::linear_map::phys_to_virt;
use super::memblock::{self, MEMBLOCK};
use super::pgtable;
use crate::memory::zones::ZoneLimits;
use crate::{pr_info, pr_warn};
use alloc::boxed::Box;
use bootdata::cmdline::Params;
use bootdata::devicetree::DtInfo;
use core::sync::atomic::Ordering;
use mm::config::MAX_NUMNODES;
use mm::gfp::Gfp;
use mm::memblock::NodeId;
use mm::page::{MemMap, Page, PresentSections};
use mm::page_alloc::{AllocatorFlags, CpuPages, PgData};
use mm::{Error, PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr};

/// The allocator itself lives in the early heap: at 6 KiB it is kept off
/// the 16 KiB boot stack, where a `Once` of it by value would be built.
static ALLOCATOR: spin::Once<&'static PageAllocator> = spin::Once::new();
/// The zone boundaries and the vmemmap base the allocator was built with.
static ZONES: spin::Once<(ZoneLimits, u64)> = spin::Once::new();

/// The allocator and the calling CPU's [`CpuPages`], from the two hot
/// words of the CPU's area (`arch::percpu::CpuArea::hot`: one `mrs` of
/// SP_EL0 and one load pair; Linux reaches `zone->per_cpu_pageset` through
/// this_cpu_ptr); `None` before `init`.
#[inline(always)]
pub fn this_cpu_page_alloc() -> Option<(&'static PageAllocator, &'static CpuPages)> {
    let (pa, cp) = arch::percpu::this_cpu_hot();
    if pa.is_null() {
        return None;
    }
    // SAFETY: `init` stored, for every CPU, a pointer to the allocator,
    // which is leaked ('static) and never moves, in word 0 and one to that
    // CPU's CpuPages inside it in word 1, word 1 first (on the CPU that
    // runs init, before any other CPU uses its own); nothing else writes
    // the hot words.
    Some(unsafe { (&*pa.cast::<PageAllocator>(), &*cp.cast::<CpuPages>()) })
}

/// The page allocator (panics before `init`: a wiring bug).
pub fn allocator() -> &'static PageAllocator {
    ALLOCATOR.get().expect("page allocator used before page_alloc::init")
}

/// Whether the page allocator is up.
pub fn is_up() -> bool {
    ALLOCATOR.get().is_some()
}

/// The zone limits and vmemmap base `init` was given (None before it).
pub fn zone_limits() -> Option<&'static (ZoneLimits, u64)> {
    ZONES.get()
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
    /// Bytes of the memset baseline: the descriptors' own size (64 bytes
    /// each), or the largest power-of-two share of it memblock could lend.
    pub memset_bytes: u64,
    /// (instructions, ns) of that memset.
    pub memset: (u64, u64),
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

/// Nodes of the CPUs in logical order (the boot CPU first, then the others
/// as `bootdata::devicetree::logical_cpus` numbers them, as `smp_init` does).
fn cpu_nodes(dt: &DtInfo, params: &Params) -> heapless::Vec<NodeId, { arch::percpu::NR_CPUS }> {
    let me = arch::cpu::mpidr();
    let nid = |n: Option<u32>| {
        if params.numa_off { NodeId(0) } else { NodeId(n.unwrap_or(0).min(MAX_NUMNODES as u32 - 1) as i32) }
    };
    let mut v = heapless::Vec::new();
    let cpus = bootdata::devicetree::logical_cpus(dt, me);
    let _ = v.push(nid(cpus.boot.and_then(|c| c.nid)));
    for c in cpus.secondaries.iter() {
        if v.push(nid(c.nid)).is_err() {
            break;
        }
    }
    v
}

/// Bring the page allocator up over the zones `limits` describes and the
/// descriptors at `vmemmap_base`, and retire memblock. Not inlined: its
/// locals would otherwise sit in kernel_main's frame for the whole boot (a
/// bug fixed: that overflowed the 64 KiB boot stack at kernel_main's first
/// instruction).
#[inline(never)]
pub fn init(limits: ZoneLimits, vmemmap_base: u64, params: &Params, dt: &DtInfo) -> Result<InitCost, Error> {
    let (limits, vmemmap_base) = {
        let z = ZONES.call_once(|| (limits, vmemmap_base));
        (&z.0, z.1)
    };
    arch::pmu::enable();
    let mut cost = InitCost::default();
    let mut pa = build(vmemmap_base, limits, params, dt)?;
    let (descriptors, c) = measured(|| memmap_init(&mut pa));
    cost.descriptors = descriptors;
    cost.memmap_init = c;
    (cost.memset_bytes, cost.memset) = memset_floor(descriptors * core::mem::size_of::<Page>() as u64);
    build_all_zonelists(&mut pa);
    let pa: &'static PageAllocator = ALLOCATOR.call_once(|| Box::leak(pa));

    // memblock_free_all: every free range, then memblock is done.
    let (freed, c) = measured(|| {
        let mb = MEMBLOCK.lock();
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
    memblock::retire();
    pgtable::set_table_alloc(alloc_table_page);
    pa.init_per_zone_wmark_min();
    pa.setup_pcp();
    for cpu in 0..arch::percpu::NR_CPUS {
        if let Some(cp) = pa.cpu_pages(cpu) {
            let hot = &arch::percpu::cpu_area(cpu).hot;
            hot[1].store(core::ptr::from_ref(cp).cast_mut().cast(), Ordering::Relaxed);
            hot[0].store(core::ptr::from_ref(pa).cast_mut().cast(), Ordering::Relaxed);
        }
    }
    pa.report_meminit();
    Ok(cost)
}

/// The allocator over the vmemmap, with its CPUs, distances and nodes: the
/// first part of [`init`], apart so that its locals (the present-section
/// bitmap, the allocator while it is built) are off the stack by the time
/// the later parts run (16 KiB kernel stacks).
#[inline(never)]
fn build(vmemmap_base: u64, limits: &ZoneLimits, params: &Params, dt: &DtInfo) -> Result<Box<PageAllocator>, Error> {
    let mut sections = PresentSections::new();
    let mut per_node: alloc::vec::Vec<alloc::vec::Vec<(Pfn, Pfn)>> =
        (0..MAX_NUMNODES).map(|_| alloc::vec::Vec::new()).collect();
    {
        let mb = MEMBLOCK.lock();
        for (s, e, nid) in mb.for_each_mem_pfn_range(mm::memblock::NUMA_NO_NODE) {
            sections.add_range(s, e)?;
            let n = (nid.0.max(0) as usize).min(MAX_NUMNODES - 1);
            per_node[n].push((s, e));
        }
    }
    // SAFETY: vmemmap::populate mapped read-write descriptors for every frame
    // of every section that `sections` marks present, at base + pfn * 64,
    // for the life of the kernel, and nothing else uses them.
    let map = unsafe { MemMap::new(vmemmap_base as *mut Page, sections) };
    // Allocated first and built in place (Box::new would build it on the
    // stack while it allocates).
    let mut slot = Box::<PageAllocator>::new_uninit();
    PageAllocator::new_in_place(&mut slot, map);
    // SAFETY: new_in_place initialised the whole allocator in the box.
    let mut pa = unsafe { slot.assume_init() };
    let mut flags = AllocatorFlags::empty();
    if params.init_on_alloc {
        flags |= AllocatorFlags::INIT_ON_ALLOC;
    }
    if params.init_on_free {
        flags |= AllocatorFlags::INIT_ON_FREE;
    }
    // Only if the linear map came out page-mapped (the option asked for it
    // and its tables could be had): then free pages leave it.
    if pgtable::debug_pagealloc_enabled() {
        flags |= AllocatorFlags::DEBUG_PAGEALLOC;
    }
    if params.check_pages {
        flags |= AllocatorFlags::CHECK_PAGES;
    }
    pa.set_flags(flags);
    pa.set_cpus(&cpu_nodes(dt, params))?;
    if !params.numa_off {
        // Linux's of_numa_parse_distance_map: an entry (a, b, d) also sets
        // (b, a) when b > a, so a tree may list one direction only; a later
        // explicit (b, a) still wins. Entries Linux rejects are reported.
        for &(a, b, d) in &dt.distances {
            if !distance_entry_valid(a, b, d) {
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

    Ok(pa)
}

/// `memmap_init` and `build_all_zonelists`, each in a frame of its own (their
/// zone tables are a few KiB each; see [`build`]).
#[inline(never)]
fn memmap_init(pa: &mut PageAllocator) -> u64 {
    pa.memmap_init()
}

#[inline(never)]
fn build_all_zonelists(pa: &mut PageAllocator) {
    pa.build_all_zonelists()
}

/// The baseline: a memset over as many bytes as the descriptors take
/// (`want`), in a scratch block taken from memblock and given back; if
/// memblock cannot lend that much in one piece, over the largest
/// power-of-two share of it it can (at least 2 MiB), which the report
/// scales (a memset's instructions are linear in its size). Returns the
/// bytes set and their (instructions, ns).
fn memset_floor(want: u64) -> (u64, (u64, u64)) {
    let mut bytes = want.next_multiple_of(PAGE_SIZE);
    let pa = loop {
        match MEMBLOCK.lock().phys_alloc(bytes, PAGE_SIZE) {
            Ok(p) => break p,
            Err(_) if bytes > 2 << 20 => bytes = (bytes / 2).next_multiple_of(PAGE_SIZE),
            Err(_) => return (0, (0, 0)),
        }
    };
    let va = phys_to_virt(pa).as_u64() as *mut u8;
    // SAFETY: a block of `bytes` memblock just reserved for this
    // measurement, covered by the linear map; freed right after.
    let (_, c) = measured(|| unsafe { core::ptr::write_bytes(core::hint::black_box(va), 0, bytes as usize) });
    let _ = MEMBLOCK.lock().free(pa, bytes);
    (bytes, c)
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

/// Whether a /distance-map entry is used (Linux's numa_set_distance: a
/// node that does not exist, a distance that does not fit a byte, or a
/// self-distance other than 10 / a remote one of 10 or less is ignored).
pub fn distance_entry_valid(a: u32, b: u32, d: u32) -> bool {
    a < MAX_NUMNODES as u32
        && b < MAX_NUMNODES as u32
        && d <= u8::MAX as u32
        && ((a == b && d == 10) || (a != b && d > 10))
}

/// Print the boot's memmap and hand-over cost per GiB of RAM (of the
/// descriptors walked), as a multiple of a memset over the same
/// descriptors, and that memset's own cost per GiB; the hand-over also per
/// page freed. In instructions when the PMU counts them (under -icount),
/// else in time. `scripts/meminit-cost.sh` tabulates it at 1, 4 and 16 GiB.
pub fn print_init_cost(c: &InitCost) {
    if c.descriptors == 0 {
        return;
    }
    let insns = c.memmap_init.0 != 0 && c.memset.0 != 0;
    let pick = |m: (u64, u64)| if insns { m.0 } else { m.1 };
    let unit = if insns { "insn" } else { "ns" };
    let gib_descriptors = 1u128 << (30 - PAGE_SHIFT);
    let per_gib = |x: u64| (x as u128 * gib_descriptors / c.descriptors as u128) as u64;
    // The memset of one GiB's descriptors, from the bytes actually set.
    let gib_bytes = gib_descriptors * core::mem::size_of::<Page>() as u128;
    let memset_gib = (pick(c.memset) as u128 * gib_bytes).checked_div(c.memset_bytes as u128).unwrap_or(0) as u64;
    let tenths = |x: u64| (per_gib(x) * 10).checked_div(memset_gib).unwrap_or(0);
    let (m, h) = (tenths(pick(c.memmap_init)), tenths(pick(c.handover)));
    pr_info!(
        "mm: memmap_init {} {}/GiB ({}.{}x a memset of the descriptors); hand-over of {} pages {} {}/GiB ({}.{}x), {} {} per page freed; memset of the descriptors {} {}/GiB",
        per_gib(pick(c.memmap_init)),
        unit,
        m / 10,
        m % 10,
        c.freed_pages,
        per_gib(pick(c.handover)),
        unit,
        h / 10,
        h % 10,
        pick(c.handover).checked_div(c.freed_pages).unwrap_or(0),
        unit,
        memset_gib,
        unit
    );
}

/// A zeroed page for a page table, from the page allocator (see
/// `pgtable::set_table_alloc`); the table keeps it for good.
fn alloc_table_page() -> Result<PhysAddr, Error> {
    allocator().alloc_pages(this_cpu(), Gfp::KERNEL | Gfp::ZERO, 0).map(|pfn| pfn.phys())
}
