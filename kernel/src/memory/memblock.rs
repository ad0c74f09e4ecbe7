//! Early memory setup: memblock from the device tree, the linear map, and the
//! early heap (Linux: setup_arch -> arm64_memblock_init, paging_init); then
//! memblock as the page tables' allocator until the page allocator takes
//! over and memblock retires.
//!
//! Order, each step logged with where its ranges came from:
//!
//! ```text
//!   /memory reg ranges            page aligned, cut at the CPU's PA size, probed (what
//!                                 aborts is dropped), then memblock_add
//!   kernel image not in memory    added (the loader ran us there)
//!   mem=                          memblock_enforce_memory_limit, then the image re-added
//!   kernel image                  reserve [_text, _end) (text, data, bss, page tables, stack)
//!   device tree blob              reserve [dtb, dtb + totalsize)
//!   /memreserve/                  reserve
//!   initrd                        reserve
//!   /reserved-memory              static: reserve, or mark NOMAP for no-map;
//!                                 dynamic: allocate in alloc-ranges (then NOMAP if no-map)
//!   linear map                    every memory range not NOMAP, at PAGE_OFFSET
//!   early heap                    memblock allocation, reached through the linear map
//! ```

use super::cma::{rmem_cma_setup, rmem_flags};
use super::hal::Memblock;
use super::linear_map::phys_to_virt;
use super::pgtable;
use super::probe;
use crate::console::printk;
use crate::{pr_info, pr_warn};
use boot::{BootInfo, sym};
use bootdata::cmdline::Params;
use bootdata::devicetree::DtInfo;
use bootdata::fixedstr::truncated;
use heapless::{String, Vec};
use mm::config::MAX_NUMNODES;
use mm::memblock::{MemblockFlags, NodeId};
use mm::{Error, PAGE_SIZE, PhysAddr};
use spin::Mutex;

/// The one memblock instance.
pub static MEMBLOCK: Mutex<Memblock> = Mutex::new(Memblock::new());

/// A reservation and where it came from, for the boot log and the self-tests.
#[derive(Clone, Debug)]
pub struct Reservation {
    /// First byte.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// Who asked for it.
    pub source: String<64>,
    /// NOMAP rather than reserved.
    pub nomap: bool,
}

/// Every reservation made during setup.
pub static RESERVATIONS: Mutex<Vec<Reservation, 96>> = Mutex::new(Vec::new());

fn note(base: u64, size: u64, source: &str, nomap: bool) {
    let source = truncated(source);
    let _ = RESERVATIONS.lock().push(Reservation { base, size, source, nomap });
}

/// The early heap's memory, as memblock set it aside: handed to
/// `heap::init`, which takes it by value.
///
/// # Invariants
/// `[start, start + size)` (virtual) is RAM that memblock reserved for the
/// heap alone, mapped read-write by the linear map for the kernel's life,
/// and no other `EarlyHeapRegion` covers it (one is made per boot).
pub struct EarlyHeapRegion {
    start: u64,
    size: usize,
}

impl EarlyHeapRegion {
    /// First byte (a linear-map address).
    pub fn start(&self) -> u64 {
        self.start
    }
    /// Size in bytes.
    pub fn size(&self) -> usize {
        self.size
    }
}

/// What the setup produced.
pub struct MemoryLayout {
    /// The early heap.
    pub heap: EarlyHeapRegion,
}

/// Why memory setup cannot go on.
#[derive(Clone, Copy, Debug)]
pub enum SetupError {
    /// No /memory range survived.
    NoMemory,
    /// The linear map could not be built.
    LinearMap(Error),
    /// The early heap could not be allocated.
    Heap,
}

impl core::fmt::Display for SetupError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SetupError::NoMemory => f.write_str(
                "no usable memory: the device tree has no /memory range the CPU can address and a probe can read",
            ),
            SetupError::LinearMap(e) => write!(f, "cannot build the linear map: {e}"),
            SetupError::Heap => f.write_str("cannot allocate the early heap from memblock"),
        }
    }
}

#[track_caller] // memblock=debug names the line that asked, not this wrapper
fn reserve(mb: &mut Memblock, base: u64, size: u64, source: &str) {
    if size == 0 {
        return;
    }
    match mb.reserve(PhysAddr(base), size) {
        Ok(()) => note(base, size, source, false),
        Err(e) => {
            pr_warn!("memblock: cannot reserve [mem {:#018x}-{:#018x}] for {}: {}", base, base + size - 1, source, e)
        }
    }
}

/// Memory a `mem=` limit must leave above the kernel image's end (heap,
/// page tables, page descriptors); a smaller limit is refused.
const MEM_LIMIT_HEADROOM: u64 = 32 << 20;

/// The smallest early heap the boot tries before it gives up.
const EARLY_HEAP_MIN_BYTES: u64 = 256 << 10;

/// Every /memory range memblock accepted (after alignment, the PA limit and
/// the probe), plus the kernel image if the tree left it out: what the
/// self-tests compare memblock with.
pub static ACCEPTED_MEMORY: Mutex<Vec<(u64, u64), { bootdata::devicetree::MAX_MEM_RANGES + 1 }>> =
    Mutex::new(Vec::new());

fn add_memory(mb: &mut Memblock, base: u64, size: u64, nid: NodeId) {
    match mb.add_node(PhysAddr(base), size, nid, MemblockFlags::NONE) {
        Ok(()) => {
            let _ = ACCEPTED_MEMORY.lock().push((base, size));
        }
        Err(e) => pr_warn!("memblock: cannot add [mem {:#018x}-{:#018x}]: {}", base, base + size - 1, e),
    }
}

/// A /memory range made safe to add (Linux's early_init_dt_add_memory_arch,
/// plus a probe): page aligned, cut at the CPU's physical address size,
/// and cut where nothing answers. Each change is a warning naming the range.
fn checked_memory_range(base: u64, size: u64, pa_limit: u64) -> Option<(u64, u64)> {
    let claimed_end = base.saturating_add(size);
    if base.checked_add(size).is_none() {
        pr_warn!("memory: [mem {:#018x}-...] of size {:#x} runs past the end of the address space; cut", base, size);
    }
    if base >= pa_limit {
        pr_warn!("Ignoring memory block {:#x} - {:#x} (beyond the CPU's physical address size)", base, claimed_end);
        return None;
    }
    if claimed_end > pa_limit {
        pr_warn!(
            "memory: [mem {:#018x}-{:#018x}] is beyond the CPU's physical address size; cut at {:#x}",
            pa_limit,
            claimed_end - 1,
            pa_limit
        );
    }
    let (start, end) = (base.next_multiple_of(PAGE_SIZE), claimed_end.min(pa_limit) & !(PAGE_SIZE - 1));
    if start >= end {
        pr_warn!("Ignoring memory block {:#x} - {:#x} (less than a page once page aligned)", base, claimed_end);
        return None;
    }
    if start != base {
        pr_warn!(
            "memory: [mem {:#018x}-{:#018x}] is not page aligned; using [mem {:#018x}-{:#018x}]",
            base,
            claimed_end - 1,
            start,
            end - 1
        );
    }
    let (present, why) = probe::present_end(start, end);
    if let Some(why) = why {
        pr_warn!("memblock: dropping [mem {:#018x}-{:#018x}]: {}", present, end - 1, why);
    }
    (start < present).then_some((start, present))
}

/// Fill memblock from the tree, build the linear map, carve the early heap.
/// Runs once per boot (a second call is a wiring bug, and panics: it would
/// make a second `EarlyHeapRegion`).
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn memblock_init(
    info: &BootInfo,
    dt: &DtInfo,
    dtb: (u64, u64),
    params: &Params,
) -> Result<MemoryLayout, SetupError> {
    static RAN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert!(!RAN.swap(true, core::sync::atomic::Ordering::SeqCst), "memblock_init called twice");
    let mut mb = MEMBLOCK.lock();
    if params.memblock_debug {
        mb.set_debug(true);
    }
    let pa_limit = 1u64 << arch::mmu::pa_bits().min(48);
    let voff = info.kimage_voffset();
    let image = (info.phys_base, sym!(_end) - voff);
    // The ranges holding the image first: if memblock's arrays fill up, it
    // is the others that are cut.
    let holds_image = |r: &&bootdata::devicetree::MemRange| r.base <= image.0 && image.0 - r.base < r.size;
    for r in dt.memory.iter().filter(holds_image).chain(dt.memory.iter().filter(|r| !holds_image(r))) {
        let nid =
            if params.numa_off { NodeId(0) } else { NodeId(r.nid.unwrap_or(0).min(MAX_NUMNODES as u32 - 1) as i32) };
        if let Some((base, end)) = checked_memory_range(r.base, r.size, pa_limit) {
            add_memory(&mut mb, base, end - base, nid);
        }
    }
    if mb.phys_mem_size() == 0 {
        return Err(SetupError::NoMemory);
    }
    if !mb.is_region_memory(PhysAddr(image.0), image.1 - image.0) {
        // The loader put us somewhere the tree does not call RAM; it ran us,
        // so it is RAM. (Linux would leave its own image out of the linear map.)
        pr_warn!(
            "memblock: the kernel image [mem {:#018x}-{:#018x}] is not in any /memory range; adding it",
            image.0,
            image.1 - 1
        );
        add_memory(&mut mb, image.0, image.1 - image.0, NodeId(0));
    }

    if let Some(limit) = params.mem_limit {
        // What the boot itself needs from memblock beyond the image: the
        // early heap, the linear map's and vmemmap's tables, the descriptors.
        let floor = (image.1 - mb.start_of_dram().as_u64()).saturating_add(MEM_LIMIT_HEADROOM);
        if limit < floor {
            pr_warn!(
                "mem={}K leaves the kernel no memory (the image ends {} MiB into RAM, the boot needs {} MiB); ignored",
                limit >> 10,
                (image.1 - mb.start_of_dram().as_u64()) >> 20,
                floor.next_multiple_of(1 << 20) >> 20
            );
        } else if mb.enforce_memory_limit(limit).is_ok() {
            // The kernel must stay covered whatever the limit (Linux re-adds it too).
            let _ = mb.add(PhysAddr(image.0), image.1 - image.0);
            pr_info!("mem={}M: usable memory capped at {} MiB", limit >> 20, mb.phys_mem_size() >> 20);
        }
    }

    let bss_end = (sym!(__bss_end) - voff).next_multiple_of(PAGE_SIZE);
    reserve(&mut mb, image.0, bss_end - image.0, "kernel image (text, rodata, data, bss)");
    reserve(&mut mb, bss_end, sym!(__pgtable_pool_end) - voff - bss_end, "initial page tables");
    reserve(
        &mut mb,
        sym!(__pgtable_pool_end) - voff,
        image.1 - (sym!(__pgtable_pool_end) - voff),
        "boot stack and guard",
    );
    reserve(&mut mb, dtb.0, dtb.1, "device tree blob");
    for &(base, size) in &dt.memreserve {
        reserve(&mut mb, base, size, "/memreserve/");
    }
    if let Some((s, e)) = dt.initrd {
        reserve(&mut mb, s & !(PAGE_SIZE - 1), (e - (s & !(PAGE_SIZE - 1))).next_multiple_of(PAGE_SIZE), "initrd");
    }
    reserved_mem_init(&mut mb, dt, params);
    // The early reservations belong to the node of the memory they are in
    // (Linux's numa_register_meminfo); later ones name no node.
    let nodes: Vec<(u64, u64, NodeId), 128> =
        mb.memory().regions().iter().map(|r| (r.base.0, r.size, r.nid)).take(128).collect();
    for (base, size, nid) in nodes {
        if nid.is_valid() {
            let _ = mb.set_reserved_node(PhysAddr(base), size, nid);
        }
    }

    // The linear map: memory that is not NOMAP.
    let mut ranges: Vec<(PhysAddr, PhysAddr), 128> = Vec::new();
    for (s, e, _) in mb.for_each_mem_range() {
        let (s, e) = (s.align_up(PAGE_SIZE), e.align_down(PAGE_SIZE));
        if s < e && ranges.push((s, e)).is_err() {
            pr_warn!("linear map: too many memory ranges; RAM above {:#x} is not mapped", s.as_u64());
            break;
        }
    }
    let tables = if params.debug_pagealloc { linear_map_tables(&mut mb, &ranges) } else { None };
    let used = pgtable::create_linear_map(&ranges, tables).map_err(SetupError::LinearMap)?;
    if let Some(t) = tables {
        // What the bound over-counted goes back.
        let (pa, size) = (t.pa.as_u64(), t.nr_pages * PAGE_SIZE);
        if used < t.nr_pages {
            let _ = mb.free(PhysAddr(pa + used * PAGE_SIZE), size - used * PAGE_SIZE);
        }
        note(pa, used * PAGE_SIZE, "linear map page tables (debug_pagealloc)", false);
        pr_info!(
            "debug_pagealloc: enabled; linear map mapped with 4K pages ({} table pages, {} KiB)",
            used,
            used * (PAGE_SIZE >> 10)
        );
    }
    mb.allow_resize();

    // The early heap: 1/64 of RAM, between 256 KiB and 4 MiB.
    // Halved while no free range is that large (memory in small pieces).
    let mut heap_size = (mb.phys_mem_size() / 64).clamp(256 << 10, 4 << 20) & !(PAGE_SIZE - 1);
    let heap_pa = loop {
        match mb.phys_alloc(heap_size, PAGE_SIZE) {
            Ok(pa) => break pa,
            Err(_) if heap_size > EARLY_HEAP_MIN_BYTES => {
                pr_warn!("memblock: no free range of {} KiB for the early heap; trying half", heap_size >> 10);
                heap_size = (heap_size / 2).max(EARLY_HEAP_MIN_BYTES);
            }
            Err(_) => return Err(SetupError::Heap),
        }
    };
    note(heap_pa.as_u64(), heap_size, "early heap (linked_list_allocator)", false);
    let heap = EarlyHeapRegion { start: phys_to_virt(heap_pa).as_u64(), size: heap_size as usize };
    Ok(MemoryLayout { heap })
}

/// The block the page-granular linear map's tables come from
/// (debug_pagealloc=on): 2 MiB aligned if memblock has such a block (then
/// its 2 MiB pieces are whole L3 slots), else anywhere. None, with a
/// warning, if memblock has no block that large: then the linear map keeps
/// its blocks and debug_pagealloc stays off.
fn linear_map_tables(mb: &mut Memblock, ranges: &[(PhysAddr, PhysAddr)]) -> Option<pgtable::LinearMapTables> {
    let nr_pages = pgtable::linear_map_table_pages(ranges);
    let size = nr_pages * PAGE_SIZE;
    match mb.phys_alloc(size, 2 << 20).or_else(|_| mb.phys_alloc(size, PAGE_SIZE)) {
        Ok(pa) => Some(pgtable::LinearMapTables { pa, nr_pages }),
        Err(e) => {
            pr_warn!(
                "debug_pagealloc: no {} KiB for the linear map's page tables ({}); staying off",
                nr_pages * (PAGE_SIZE >> 10),
                e
            );
            None
        }
    }
}

/// /reserved-memory (Linux's fdt_scan_reserved_mem + fdt_init_reserved_mem).
/// A `shared-dma-pool` + `reusable` node becomes a CMA area
/// (`cma::rmem_cma_setup`); one it refuses (`no-map`, misaligned, or the
/// default pool when `cma=` is given) is given back to memblock, as Linux
/// gives back a node whose compatible fails to initialise.
fn reserved_mem_init(mb: &mut Memblock, dt: &DtInfo, params: &Params) {
    for node in &dt.reserved {
        let mut src: String<64> = String::new();
        let _ = src.push_str("/reserved-memory/");
        for c in node.name.chars().take(40) {
            let _ = src.push(c);
        }
        let flags = rmem_flags(node);
        let mut held = true;
        let placed = if let Some((base, size)) = node.reg {
            if size == 0 {
                continue;
            }
            if node.no_map {
                if mb.is_region_memory(PhysAddr(base), size) && mb.is_region_reserved(PhysAddr(base), size) {
                    pr_warn!("OF: reserved mem: {}: overlaps a reservation; not marked no-map", node.name);
                    continue;
                }
                if mb.is_map_memory(PhysAddr(base)) {
                    let _ = mb.mark_nomap(PhysAddr(base), size);
                }
            } else if let Err(e) = mb.reserve(PhysAddr(base), size) {
                pr_warn!("memblock: cannot reserve [mem {:#018x}-{:#018x}] for {}: {}", base, base + size - 1, src, e);
                held = false;
            }
            (base, size)
        } else {
            let Some(size) = node.size.filter(|&s| s > 0) else {
                pr_warn!("OF: reserved mem: {}: neither reg nor size; ignored", node.name);
                continue;
            };
            let align = node.alignment.filter(|a| a.is_power_of_two()).unwrap_or(PAGE_SIZE).max(PAGE_SIZE);
            let align = flags.alloc_alignment(align);
            let size = size.next_multiple_of(PAGE_SIZE);
            let mut got = None;
            if node.alloc_ranges.is_empty() {
                got = mb.phys_alloc_range(size, align, PhysAddr(0), PhysAddr(u64::MAX)).ok();
            } else {
                for &(start, len) in &node.alloc_ranges {
                    if let Ok(pa) =
                        mb.phys_alloc_range(size, align, PhysAddr(start), PhysAddr(start.saturating_add(len)))
                    {
                        got = Some(pa);
                        break;
                    }
                }
            }
            let Some(pa) = got else {
                pr_warn!(
                    "OF: reserved mem: failed to allocate memory for node '{}': size {} MiB",
                    node.name,
                    size >> 20
                );
                continue;
            };
            if node.no_map {
                let _ = mb.mark_nomap(pa, size);
            }
            (pa.as_u64(), size)
        };
        let (base, size) = placed;
        if flags.is_cma() && rmem_cma_setup(mb, node, base, size, params).is_err() {
            pr_info!("OF: reserved mem: node {} compatible matching fail", node.name);
            let _ = if node.no_map { mb.clear_nomap(PhysAddr(base), size) } else { mb.free(PhysAddr(base), size) };
            continue;
        }
        if held {
            note(base, size, &src, node.no_map);
        }
        pr_info!(
            "OF: reserved mem: {:#018x}..{:#018x} ({} KiB) {} {} {}",
            base,
            base + size - 1,
            size >> 10,
            if node.no_map { "nomap" } else { "map" },
            if node.reusable { "reusable" } else { "non-reusable" },
            node.name
        );
    }
}

/// dma_contiguous_reserve (`cma=`), once the zones are known: `dma_limit`
/// is the top of ZONE_DMA (arm64_dma_phys_limit), below which the area is
/// placed unless `cma=` fixes it.
pub fn dma_contiguous_reserve(params: &Params, dma_limit: u64) {
    let mut mb = MEMBLOCK.lock();
    if let Some((base, size)) = super::cma::dma_contiguous_reserve(&mut mb, params, dma_limit) {
        note(base, size, "cma= (default CMA area)", false);
    }
}

/// The page allocator owns the free memory now: memblock answers queries but
/// allocates nothing more.
pub fn retire() {
    MEMBLOCK.lock().retire();
    pr_info!("memblock: retired; the page allocator owns free memory");
}

/// A page for a page table, from memblock (see `pgtable::set_table_alloc`).
fn alloc_table_page() -> Result<PhysAddr, Error> {
    MEMBLOCK.lock().phys_alloc(PAGE_SIZE, PAGE_SIZE)
}

/// From now on page tables may take pages from memblock. Call without
/// holding `MEMBLOCK` (lock order), after `memblock_init` built the linear map.
pub fn enable_table_pages() {
    pgtable::set_table_alloc(alloc_table_page);
}

/// Print every reservation with its source (always), then memblock's arrays
/// (with memblock=debug).
pub fn report() {
    pr_info!("Reserved memory by source:");
    for r in RESERVATIONS.lock().iter() {
        pr_info!(
            "  [mem {:#018x}-{:#018x}] {:>8} KiB {}{}",
            r.base,
            r.base + r.size - 1,
            r.size >> 10,
            r.source,
            if r.nomap { " (no-map)" } else { "" }
        );
    }
    let mb = MEMBLOCK.lock();
    // Linux prints its MEMBLOCK configuration only with memblock=debug.
    if mb.debug() && printk::log_report(|w| mb.dump(w)).is_err() {
        pr_warn!("memblock: dump failed");
    }
}

/// `/proc/iomem`: memblock's memory and reservations with the kernel
/// image's code and data ranges, as Linux's resource tree shows them.
pub fn iomem(out: &mut alloc::string::String) -> core::fmt::Result {
    use mm::iomem::{IomemSource, Range, iomem_show};
    let range = |r: &mm::memblock::MemblockRegion| Range { start: r.base.0, end: r.base.0 + r.size };
    let mb = MEMBLOCK.lock();
    let memory: alloc::vec::Vec<(Range, bool)> =
        mb.memory().regions().iter().map(|r| (range(r), r.flags.contains(MemblockFlags::NOMAP))).collect();
    let reserved: alloc::vec::Vec<Range> = mb.reserved().regions().iter().map(range).collect();
    drop(mb);
    let pa = |va: u64| pgtable::pa_symbol(va).0;
    let src = IomemSource {
        memory: &memory,
        // Linux's Kernel code runs from _stext to the end of rodata (its
        // init sections follow rodata; this kernel has none).
        kernel_code: Range { start: pa(sym!(_stext)), end: pa(sym!(__end_rodata)) },
        kernel_data: Range { start: pa(sym!(_sdata)), end: pa(sym!(_end)) },
        reserved: &reserved,
    };
    iomem_show(out, &src)
}
