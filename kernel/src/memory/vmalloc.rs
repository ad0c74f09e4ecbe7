//! vmalloc, vmap, vm_map_ram and ioremap: the vmalloc area wired to the
//! page allocator and the kernel page table (Linux's mm/vmalloc.c and
//! arch/arm64/mm/ioremap.c). The area bookkeeping is `mm::vmalloc`'s,
//! host-tested; this file owns the locks, the pages and the mappings.
//!
//! ```text
//!   __vmalloc_node_range(size, align, start, end, gfp, prot, flags, node)
//!     area    VMAP: VmapSpace::alloc (size + guard page); no room: purge, retry
//!     pages   one order-0 page at a time from the buddy allocator (node)
//!     map     pgtable::map_kernel_pages, KERNEL_PT held once for them all
//!     publish the pages go into the area's VmStruct; VmallocUsed grows
//!   vfree(addr)
//!     unmap   without a TLB flush (pgtable::unmap_kernel_range_noflush)
//!     lazy    VMAP: the range goes on the purge list; the pages are freed
//!     purge   past lazy_max_pages: one flush_tlb_kernel_range for the span
//!             of every lazy range, then they merge into the free tree
//! ```
//!
//! A failure part-way unwinds everything: pages taken so far are freed
//! (they are `Pages` handles), what was mapped is unmapped, and the area
//! goes back (through the purge list if anything was ever mapped in it).
//!
//! # Handles
//!
//! Rust callers get owning handles: [`VmallocBuf`] (vfree on drop),
//! [`Vmap`] and [`VmMapRam`] (borrowing the caller's pages, unmapped on
//! drop), [`IoMem`] (iounmap on drop). `vfree` of a raw address exists for
//! the Linux-shaped API and is `unsafe`.
//!
//! # Locks
//!
//! `VMAP` (the area trees), taken alone: never held while calling the page
//! allocator, the page table or a TLB flush. `PURGE` serialises purges and
//! is taken before `VMAP`. Each CPU's vmap-block list (`VMAP_BLOCKS[cpu]`)
//! is taken before both. `KERNEL_PT` (the page table) is taken with none of
//! them held.
//!
//! # Kernel stacks
//!
//! [`alloc_kernel_stack`] gives a `THREAD_SIZE` stack aligned to twice its
//! size (the vectors' overflow test of bit `STACK_SHIFT`), in an area with
//! an unmapped guard page below the stack and the usual one above it: so
//! running off either end faults, and an overflow is reported as one.

extern crate alloc;

use super::layout::{VMALLOC_END, VMALLOC_START};
use super::memblock::MEMBLOCK;
use super::page_alloc::allocator;
use super::pages::{Pages, alloc_pages_node, pfn_to_page};
use super::pgtable;
use crate::{pr_err, pr_info, pr_warn};
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::config::NR_CPUS;
use mm::gfp::{Gfp, GfpMode};
use mm::memblock::NodeId;
use mm::pgtable::PageProt;
use mm::vmalloc::{
    BlockState, VMAP_BLOCK_SIZE, VMAP_MAX_ALLOC, VmFlags, VmapBlock, VmapError, VmapSpace, VmapStats, lazy_max_pages,
};
use mm::{Error, PAGE_SIZE, Pfn, PhysAddr, VirtAddr};
use spin::Mutex;

/// What a busy vmap area is.
pub enum VmapArea {
    /// A vm area: vmalloc, vmap or ioremap.
    Vm(VmStruct),
    /// A vm_map_ram of more than `VMAP_MAX_ALLOC` pages.
    Ram,
    /// A vmap block, carved up by `VMAP_BLOCKS`.
    Block,
}

/// A vm area (Linux's vm_struct).
pub struct VmStruct {
    /// What it is.
    pub flags: VmFlags,
    /// Unmapped guard bytes below the mapping (kernel stacks).
    pub lead: u64,
    /// Mapped bytes (without the guard pages).
    pub mapped: u64,
    /// The pages of a leaked area (`VmallocBuf::leak`); a live handle
    /// keeps its pages itself.
    pages: Vec<Pages>,
    /// Pages mapped (owned or not).
    pub nr_pages: u64,
    /// Physical address of an ioremap.
    pub phys_addr: u64,
    /// Who asked (a return address, printed `%pS`-style).
    pub caller: u64,
    /// Pages per node, for `N<node>=<pages>`.
    nodes: Vec<(i32, u32)>,
}

impl VmStruct {
    /// An area's description; `flags` include `UNINITIALIZED` when the
    /// caller fills it in (maps it) after inserting it.
    fn new(flags: VmFlags, lead: u64, mapped: u64, caller: u64) -> Self {
        VmStruct { flags, lead, mapped, pages: Vec::new(), nr_pages: 0, phys_addr: 0, caller, nodes: Vec::new() }
    }
}

static VMAP: Mutex<Option<VmapSpace<VmapArea>>> = Mutex::new(None);
static PURGE: Mutex<()> = Mutex::new(());
static VMAP_BLOCKS: [Mutex<Vec<VmapBlock>>; NR_CPUS] = [const { Mutex::new(Vec::new()) }; NR_CPUS];
/// Pages vmalloc took from the buddy allocator (Linux's vmalloc_nr_pages).
static NR_VMALLOC_PAGES: AtomicU64 = AtomicU64::new(0);

/// Linux's THREAD_SIZE: kernel stacks are 16 KiB.
pub const THREAD_SIZE: u64 = arch::exception::STACK_SIZE;
/// Linux's THREAD_ALIGN with VMAP_STACK: twice the size.
pub const THREAD_ALIGN: u64 = 2 * THREAD_SIZE;

/// Bring up the vmap area allocator over `[VMALLOC_START, VMALLOC_END)`
/// (Linux's vmalloc_init). After SLUB: the trees' nodes are kmalloc'd.
pub fn init() -> Result<(), Error> {
    let space = VmapSpace::new(VMALLOC_START, VMALLOC_END, lazy_max_pages(1))?;
    *VMAP.lock() = Some(space);
    crate::console::oops::register_fault_note(oops_note);
    if let Err(e) = super::percpu::register_chunk_mem(Some(&PCPU_CHUNKS)) {
        pr_warn!("percpu: cannot take chunks from vmalloc ({e}); the first chunk is all there is");
    }
    pr_info!(
        "vmalloc: {} GiB at 0x{:016x}-0x{:016x}, lazy_max_pages {}",
        (VMALLOC_END - VMALLOC_START) >> 30,
        VMALLOC_START,
        VMALLOC_END,
        lazy_max_pages(1)
    );
    Ok(())
}

/// The number of online CPUs changed: recompute lazy_max_pages.
pub fn set_online_cpus(n: usize) {
    if let Some(s) = VMAP.lock().as_mut() {
        s.set_lazy_max(lazy_max_pages(n.max(1)));
    }
}

/// Linux's is_vmalloc_addr.
pub fn is_vmalloc_addr(addr: VirtAddr) -> bool {
    (VMALLOC_START..VMALLOC_END).contains(&addr.as_u64())
}

fn with_space<R>(f: impl FnOnce(&mut VmapSpace<VmapArea>) -> R) -> Result<R, Error> {
    Ok(f(VMAP.lock().as_mut().ok_or(Error::NotFound)?))
}

fn this_cpu() -> usize {
    arch::percpu::smp_processor_id()
}

/// Find room for an area: one purge and a retry when there is none
/// (alloc_vmap_area). Returns the area's start.
fn alloc_vmap_area(
    size: u64,
    align: u64,
    offset: u64,
    vstart: u64,
    vend: u64,
    gfp: Gfp,
    mut area: impl FnMut() -> VmapArea,
) -> Result<u64, Error> {
    for attempt in 0..2 {
        match with_space(|s| s.alloc_offset(size, align, offset, vstart, vend, area()))? {
            Ok(a) => return Ok(a),
            Err(VmapError::NoSpace) if attempt == 0 => purge_vmap_area_lazy(),
            Err(VmapError::NoSpace) => {
                if !gfp.contains(Gfp::NOWARN) {
                    pr_warn!("vmap allocation for size {size} failed: use vmalloc=<size> to increase size");
                }
                return Err(Error::NoMemory);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::NoMemory)
}

/// Flush the TLB for every lazily freed range at once and make them free
/// (Linux's purge_vmap_area_lazy). The flush runs with no lock held.
pub fn purge_vmap_area_lazy() {
    let _serial = PURGE.lock();
    let Ok(Some(batch)) = with_space(|s| s.take_purge()) else { return };
    arch::tlb::flush_tlb_kernel_range(VirtAddr(batch.start), VirtAddr(batch.end));
    let _ = with_space(|s| s.finish_purge(batch));
}

/// Linux's vm_unmap_aliases: free every vmap block with no live mapping
/// left (purge_fragmented_blocks), then purge every lazily freed range,
/// so no stale translation of the vmalloc area survives.
pub fn vm_unmap_aliases() {
    for cpu_blocks in VMAP_BLOCKS.iter() {
        loop {
            let mut blocks = cpu_blocks.lock();
            let Some(i) = blocks.iter().position(|b| b.is_unused()) else { break };
            let b = blocks.swap_remove(i);
            drop(blocks);
            if let Err(e) = release_area(b.va_start(), b.va_start(), 0) {
                pr_err!("vm_unmap_aliases: block 0x{:016x}: {e}", b.va_start());
            }
        }
    }
    purge_vmap_area_lazy();
}

/// Unmap `[start, start + size)` of the vmalloc area without a flush, as
/// the lazy purge allows; with `debug_pagealloc=on` flush at once instead
/// (Linux's vm_unmap_ram/vb_free and vm_reset_perms do the same), so a
/// use-after-free through a stale vmalloc translation faults as one
/// through the linear map does.
fn unmap_range(start: u64, size: u64) -> Result<usize, Error> {
    let n = pgtable::unmap_kernel_range_noflush(VirtAddr(start), size)?;
    if pgtable::debug_pagealloc_enabled() {
        arch::tlb::flush_tlb_kernel_range(VirtAddr(start), VirtAddr(start + size));
    }
    Ok(n)
}

/// Unmap `[start, start + size)` (no flush) and put the area starting at
/// `area_start` on the purge list; purge if that passed the threshold.
/// Returns the area's payload.
fn release_area(area_start: u64, map_start: u64, mapped: u64) -> Result<VmapArea, Error> {
    if mapped > 0 {
        unmap_range(map_start, mapped)?;
    }
    let (val, purge) = with_space(|s| s.free_lazy(area_start))??;
    if purge {
        purge_vmap_area_lazy();
    }
    Ok(val)
}

/// Linux's __vmalloc_node_range: `size` bytes of pages from node `node`
/// (`NUMA_NO_NODE`: this CPU's), mapped with `prot` in an area inside
/// `[start, end)` aligned to `align`. `caller` is recorded for
/// vmallocinfo.
#[allow(clippy::too_many_arguments)]
pub fn __vmalloc_node_range(
    size: u64,
    align: u64,
    start: u64,
    end: u64,
    gfp: Gfp,
    prot: PageProt,
    flags: VmFlags,
    node: NodeId,
    caller: u64,
) -> Result<VmallocBuf, Error> {
    vmalloc_area(size, align, 0, start, end, gfp, prot, flags | VmFlags::ALLOC, node, caller)
}

#[allow(clippy::too_many_arguments)]
fn vmalloc_area(
    size: u64,
    align: u64,
    lead: u64,
    start: u64,
    end: u64,
    gfp: Gfp,
    prot: PageProt,
    flags: VmFlags,
    node: NodeId,
    caller: u64,
) -> Result<VmallocBuf, Error> {
    let mapped = size.checked_next_multiple_of(PAGE_SIZE).ok_or(Error::InvalidArgument)?;
    if size == 0 || !align.is_power_of_two() {
        return Err(Error::InvalidArgument);
    }
    let nr = mapped / PAGE_SIZE;
    if nr > allocator().totalram_pages() {
        if !gfp.contains(Gfp::NOWARN) {
            pr_warn!("vmalloc error: size {size}, exceeds total pages, {}, nodemask=(null)", GfpMode(gfp));
        }
        return Err(Error::NoMemory);
    }
    let area_size = flags.area_size(size).ok_or(Error::InvalidArgument)? + lead;
    // The pages first, then the area with a complete VmStruct: one busy
    // tree update per vmalloc (Linux takes the area first; the order only
    // changes which of the two a failure gives back). The pages stay with
    // the handle, which frees them after the unmap.
    let mut pages: Vec<Pages> = Vec::new();
    pages.try_reserve_exact(nr as usize).map_err(|_| Error::NoMemory)?;
    let page_gfp = gfp.difference(Gfp::NOFAIL) | Gfp::NOWARN;
    for _ in 0..nr {
        match alloc_pages_node(node, page_gfp, 0) {
            Ok(p) => pages.push(p),
            Err(e) => {
                if !gfp.contains(Gfp::NOWARN) {
                    pr_warn!(
                        "vmalloc error: size {size}, page order 0, failed to allocate pages, {}, nodemask=(null)",
                        GfpMode(gfp)
                    );
                }
                return Err(e);
            }
        }
    }
    let mut nodes = Some(count_nodes(pages.iter().map(|p| p.pfn())));
    let a = alloc_vmap_area(area_size, align, lead, start, end, gfp, || {
        let mut v = VmStruct::new(flags, lead, mapped, caller);
        v.nr_pages = nr;
        // A retry (after a purge) counts again: the first payload went
        // with the failed attempt.
        v.nodes = nodes.take().unwrap_or_else(|| count_nodes(pages.iter().map(|p| p.pfn())));
        VmapArea::Vm(v)
    })?;
    let va = a + lead;
    if let Err((done, e)) = pgtable::map_kernel_pages(VirtAddr(va), pages.iter().map(|p| p.pfn().phys()), prot) {
        // Mapped pages may be cached in a TLB: the area goes the lazy way,
        // and the pages are freed only after they are unmapped.
        let _ = release_area(a, va, done * PAGE_SIZE);
        drop(pages);
        return Err(e);
    }
    NR_VMALLOC_PAGES.fetch_add(nr, Ordering::Relaxed);
    Ok(VmallocBuf { area: a, addr: va, size: mapped, pages })
}

fn count_nodes(pfns: impl Iterator<Item = Pfn>) -> Vec<(i32, u32)> {
    let mut v: Vec<(i32, u32)> = Vec::new();
    for pfn in pfns {
        let nid = pfn_to_page(pfn).map(|p| p.node().0).unwrap_or(-1);
        match v.iter_mut().find(|e| e.0 == nid) {
            Some(e) => e.1 += 1,
            None => {
                if v.try_reserve(1).is_ok() {
                    v.push((nid, 1));
                }
            }
        }
    }
    v.sort_unstable();
    v
}

/// The caller of the function this is inlined into.
#[inline(always)]
fn caller() -> u64 {
    arch::cpu::return_address()
}

/// Linux's vmalloc: `size` bytes, virtually contiguous.
#[inline(never)]
pub fn vmalloc(size: u64) -> Result<VmallocBuf, Error> {
    __vmalloc_node_range(
        size,
        1,
        VMALLOC_START,
        VMALLOC_END,
        Gfp::KERNEL,
        PageProt::KERNEL_RW,
        VmFlags::empty(),
        mm::config::NUMA_NO_NODE,
        caller(),
    )
}

/// Linux's vzalloc: vmalloc, zeroed.
#[inline(never)]
pub fn vzalloc(size: u64) -> Result<VmallocBuf, Error> {
    __vmalloc_node_range(
        size,
        1,
        VMALLOC_START,
        VMALLOC_END,
        Gfp::KERNEL | Gfp::ZERO,
        PageProt::KERNEL_RW,
        VmFlags::empty(),
        mm::config::NUMA_NO_NODE,
        caller(),
    )
}

/// Linux's vmalloc_node: pages from `node`.
#[inline(never)]
pub fn vmalloc_node(size: u64, node: NodeId) -> Result<VmallocBuf, Error> {
    __vmalloc_node_range(
        size,
        1,
        VMALLOC_START,
        VMALLOC_END,
        Gfp::KERNEL,
        PageProt::KERNEL_RW,
        VmFlags::empty(),
        node,
        caller(),
    )
}

/// A kernel stack: `THREAD_SIZE` bytes aligned to `THREAD_ALIGN`, with
/// `THREAD_SIZE` unmapped below it (all the vectors' overflow test sees
/// as "below the stack", as below the boot stack) and the guard page
/// above (Linux's alloc_thread_stack_node, whose only guard below is the
/// previous area's). Returns the handle; the stack is `[addr, addr +
/// THREAD_SIZE)`.
#[inline(never)]
pub fn alloc_kernel_stack(node: NodeId) -> Result<VmallocBuf, Error> {
    vmalloc_area(
        THREAD_SIZE,
        THREAD_ALIGN,
        THREAD_SIZE,
        VMALLOC_START,
        VMALLOC_END,
        Gfp::KERNEL | Gfp::ZERO,
        PageProt::KERNEL_RW,
        VmFlags::ALLOC | VmFlags::STACK,
        node,
        caller(),
    )
}

/// KiB of kernel stacks in vmalloc areas (meminfo's KernelStack, without
/// the boot CPU's, which is in the image).
pub fn nr_kernel_stack_kb() -> u64 {
    let g = VMAP.lock();
    let Some(s) = g.as_ref() else { return 0 };
    s.busy_iter()
        .filter_map(|(_, _, a)| match a {
            VmapArea::Vm(v) if v.flags.contains(VmFlags::STACK) => Some(v.nr_pages * (PAGE_SIZE >> 10)),
            _ => None,
        })
        .sum()
}

/// Virtually contiguous memory, vfree'd on drop.
///
/// # Invariants
/// `[addr, addr + size)` is mapped RW to `pages`, in order; the busy area
/// starting at `area` is this one's, and nothing else has a reference to
/// its memory.
pub struct VmallocBuf {
    area: u64,
    addr: u64,
    size: u64,
    pages: Vec<Pages>,
}

impl VmallocBuf {
    /// The first byte.
    pub fn addr(&self) -> VirtAddr {
        VirtAddr(self.addr)
    }
    /// Bytes mapped (the request rounded up to pages).
    pub fn len(&self) -> usize {
        self.size as usize
    }
    /// Always false: vmalloc(0) fails.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// The memory, to read.
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the type's invariant: mapped, owned, `size` bytes.
        unsafe { core::slice::from_raw_parts(self.addr as *const u8, self.size as usize) }
    }
    /// The memory, to write.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and `&mut self` makes this the only reference.
        unsafe { core::slice::from_raw_parts_mut(self.addr as *mut u8, self.size as usize) }
    }
    /// Give up the handle, keeping the memory mapped; its address. The
    /// pages move into the area's VmStruct, so a later [`vfree`] of the
    /// address frees them.
    pub fn leak(mut self) -> VirtAddr {
        let a = self.addr;
        let pages = core::mem::take(&mut self.pages);
        let kept = with_space(|s| match s.busy_mut(self.area) {
            Some(VmapArea::Vm(v)) => {
                v.pages = pages;
                true
            }
            _ => false,
        });
        if kept != Ok(true) {
            pr_err!("vmalloc: leaked area 0x{a:016x} has no VmStruct");
        }
        core::mem::forget(self);
        VirtAddr(a)
    }
}

impl Drop for VmallocBuf {
    fn drop(&mut self) {
        let pages = core::mem::take(&mut self.pages);
        if let Err(e) = vfree_area(self.area, self.addr, Some(pages)) {
            pr_err!("vfree: 0x{:016x}: {e}", self.addr);
        }
    }
}

/// Linux's vfree of a raw address (0 does nothing). A bad address is
/// reported, never followed.
///
/// # Safety
/// 1. `addr` is the start of a vmalloc area the caller owns (from
///    [`VmallocBuf::leak`]), and nothing uses the memory afterwards.
pub unsafe fn vfree(addr: VirtAddr) {
    if addr.as_u64() == 0 {
        return;
    }
    let a = addr.as_u64();
    let area = if is_vmalloc_addr(addr) && a.is_multiple_of(PAGE_SIZE) {
        with_space(|s| s.find_busy(a).map(|r| r.0)).ok().flatten()
    } else {
        None
    };
    match area.map(|area| vfree_area(area, a, None)) {
        Some(Ok(())) => {}
        Some(Err(e)) => pr_err!("Trying to vfree() nonexistent vm area (0x{a:016x}): {e}"),
        None => pr_err!("Trying to vfree() nonexistent vm area (0x{a:016x}): not found"),
    }
}

/// Free the vmalloc area starting at `area`, mapped at `addr`: its pages
/// are `pages` (a handle's) or, with `None`, those a leaked area keeps in
/// its VmStruct. Unlink first (one tree walk), unmap, then queue the range
/// for the purge (Linux's remove_vm_area and free_vmap_area_noflush).
fn vfree_area(area: u64, addr: u64, pages: Option<Vec<Pages>>) -> Result<(), Error> {
    let leaked = pages.is_none();
    let unlinked = with_space(|s| -> Result<(u64, VmStruct), Error> {
        // Check before unlinking: only this vmalloc area's start, and (raw
        // vfree) only an area no live handle owns.
        match s.find_busy(area) {
            Some((a, _, VmapArea::Vm(v)))
                if a == area
                    && a + v.lead == addr
                    && v.flags.contains(VmFlags::ALLOC)
                    && (!leaked || !v.pages.is_empty()) => {}
            _ => return Err(Error::NotFound),
        }
        match s.take_busy(area)? {
            (end, VmapArea::Vm(v)) => Ok((end, v)),
            _ => Err(Error::NotFound), // checked above
        }
    })
    .and_then(|r| r);
    let (end, mut v) = match unlinked {
        Ok(u) => u,
        Err(e) => {
            // Not unlinked, so perhaps still mapped: a handle's pages must
            // not go back to be reused.
            if let Some(p) = pages {
                core::mem::forget(p);
            }
            return Err(e);
        }
    };
    let pages = pages.unwrap_or_else(|| core::mem::take(&mut v.pages));
    let unmapped = unmap_range(addr, v.mapped);
    let purge = with_space(|s| s.put_lazy(area, end))?;
    NR_VMALLOC_PAGES.fetch_sub(v.nr_pages, Ordering::Relaxed);
    match unmapped {
        Ok(_) => drop(pages),
        Err(e) => {
            // Still mapped: never give the pages back to be reused.
            pr_err!("vfree: cannot unmap 0x{addr:016x} ({e}); its {} pages are leaked", v.nr_pages);
            core::mem::forget(pages);
        }
    }
    if purge {
        purge_vmap_area_lazy();
    }
    Ok(())
}

/// The per-CPU allocator's chunks after the first, in vmalloc space (Linux's
/// pcpu_create_chunk over pcpu_get_vm_areas): one vmalloc area of
/// `nr_units * unit_size` bytes, unit n at `base + n * unit_size`.
struct PcpuChunks;

static PCPU_CHUNKS: PcpuChunks = PcpuChunks;

// SAFETY: 1. an Ok base is a fresh vmalloc area of exactly the asked size,
// mapped RW on every CPU (the kernel tree is shared), leaked to the
// per-CPU allocator alone until free_chunk vfrees it; 2. the area is one
// contiguous mapping, so unit n is at base + n * unit_size; 3. vmalloc
// takes its own locks, the page allocator's and kmalloc's, never the
// per-CPU allocator's.
unsafe impl mm::percpu::PcpuChunkMem for PcpuChunks {
    fn alloc_chunk(&self, unit_size: usize, nr_units: usize) -> Result<VirtAddr, Error> {
        let size = (unit_size as u64).checked_mul(nr_units as u64).ok_or(Error::InvalidArgument)?;
        Ok(vmalloc(size)?.leak())
    }
    fn free_chunk(&self, base: VirtAddr, _unit_size: usize, _nr_units: usize) {
        // SAFETY: `base` came from alloc_chunk (a leaked vmalloc area) and
        // the per-CPU allocator gives it back once, with nothing in it.
        unsafe { vfree(base) };
    }
}

/// Linux's vmalloc_to_page: the frame behind a vmalloc address.
pub fn vmalloc_to_page(addr: VirtAddr) -> Option<Pfn> {
    if !is_vmalloc_addr(addr) {
        return None;
    }
    pgtable::translate(addr).map(|t| t.pa.pfn())
}

/// The caller's pages mapped contiguously (Linux's vmap), unmapped on drop.
pub struct Vmap<'a> {
    area: u64,
    size: u64,
    _pages: PhantomData<&'a [Pages]>,
}

impl Vmap<'_> {
    /// The first byte.
    pub fn addr(&self) -> VirtAddr {
        VirtAddr(self.area)
    }
    /// Bytes mapped.
    pub fn len(&self) -> usize {
        self.size as usize
    }
    /// Whether nothing is mapped (never: vmap of no pages fails).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

impl Drop for Vmap<'_> {
    fn drop(&mut self) {
        if let Err(e) = release_area(self.area, self.area, self.size) {
            pr_err!("vunmap: 0x{:016x}: {e}", self.area);
        }
    }
}

fn all_pfns(pages: &[Pages]) -> impl Iterator<Item = PhysAddr> + Clone + '_ {
    pages.iter().flat_map(|p| (0..1u64 << p.order()).map(move |i| PhysAddr(p.pfn().phys().as_u64() + i * PAGE_SIZE)))
}

/// Linux's vmap: map `pages` (every page of each block, in order) into one
/// area with `prot`. The mapping borrows the pages.
#[inline(never)]
pub fn vmap<'a>(pages: &'a [Pages], prot: PageProt) -> Result<Vmap<'a>, Error> {
    let count: u64 = pages.iter().map(|p| 1u64 << p.order()).sum();
    if count == 0 {
        return Err(Error::InvalidArgument);
    }
    let size = count * PAGE_SIZE;
    let caller = caller();
    let flags = VmFlags::MAP;
    let a = alloc_vmap_area(size + PAGE_SIZE, 1, 0, VMALLOC_START, VMALLOC_END, Gfp::KERNEL, || {
        VmapArea::Vm(VmStruct::new(flags | VmFlags::UNINITIALIZED, 0, size, caller))
    })?;
    if let Err((done, e)) = pgtable::map_kernel_pages(VirtAddr(a), all_pfns(pages), prot) {
        let _ = release_area(a, a, done * PAGE_SIZE);
        return Err(e);
    }
    let nodes = count_nodes(all_pfns(pages).map(|pa| pa.pfn()));
    with_space(|s| {
        if let Some(VmapArea::Vm(v)) = s.busy_mut(a) {
            v.nr_pages = count;
            v.nodes = nodes;
            v.flags.remove(VmFlags::UNINITIALIZED);
        }
    })?;
    Ok(Vmap { area: a, size, _pages: PhantomData })
}

/// A `vm_map_ram` mapping, unmapped on drop (vm_unmap_ram).
pub struct VmMapRam<'a> {
    addr: u64,
    count: usize,
    _pages: PhantomData<&'a [Pages]>,
}

impl VmMapRam<'_> {
    /// The first byte.
    pub fn addr(&self) -> VirtAddr {
        VirtAddr(self.addr)
    }
    /// Pages mapped.
    pub fn count(&self) -> usize {
        self.count
    }
}

impl Drop for VmMapRam<'_> {
    fn drop(&mut self) {
        if let Err(e) = vm_unmap_ram(self.addr, self.count) {
            pr_err!("vm_unmap_ram: 0x{:016x} ({} pages): {e}", self.addr, self.count);
        }
    }
}

/// Linux's vm_map_ram: map `pages` quickly. Up to `VMAP_MAX_ALLOC` pages
/// come from this CPU's vmap blocks (no tree lock); more get an area of
/// their own. `node` is accepted for Linux's signature (the block's area
/// is address space only).
pub fn vm_map_ram<'a>(pages: &'a [Pages], node: NodeId) -> Result<VmMapRam<'a>, Error> {
    let _ = node;
    let count: usize = pages.iter().map(|p| 1usize << p.order()).sum();
    if count == 0 {
        return Err(Error::InvalidArgument);
    }
    let addr = if count <= VMAP_MAX_ALLOC {
        vb_alloc(count)?
    } else {
        alloc_vmap_area(count as u64 * PAGE_SIZE, 1, 0, VMALLOC_START, VMALLOC_END, Gfp::KERNEL, || VmapArea::Ram)?
    };
    if let Err((done, e)) = pgtable::map_kernel_pages(VirtAddr(addr), all_pfns(pages), PageProt::KERNEL_RW) {
        let _ = unmap_range(addr, done * PAGE_SIZE);
        let _ = vm_unmap_ram(addr, count);
        return Err(e);
    }
    Ok(VmMapRam { addr, count, _pages: PhantomData })
}

/// Take `count` pages (rounded up to a power of two) from this CPU's
/// vmap blocks, making a new block when none has room.
fn vb_alloc(count: usize) -> Result<u64, Error> {
    let order = VmapBlock::order_for(count).ok_or(Error::InvalidArgument)?;
    let cpu = this_cpu().min(NR_CPUS - 1);
    let mut blocks = VMAP_BLOCKS[cpu].lock();
    if let Some(a) = blocks.iter_mut().find_map(|b| b.alloc(order)) {
        return Ok(a);
    }
    blocks.try_reserve(1).map_err(|_| Error::NoMemory)?;
    // A guard page after the block too, so whatever follows never abuts
    // mapped block pages.
    let start = alloc_vmap_area(
        VMAP_BLOCK_SIZE + PAGE_SIZE,
        VMAP_BLOCK_SIZE,
        0,
        VMALLOC_START,
        VMALLOC_END,
        Gfp::KERNEL,
        || VmapArea::Block,
    )?;
    let mut b = VmapBlock::new(start);
    let a = b.alloc(order).ok_or(Error::NoMemory)?;
    blocks.push(b);
    Ok(a)
}

/// Unmap a vm_map_ram mapping and give its address space back.
fn vm_unmap_ram(addr: u64, count: usize) -> Result<(), Error> {
    if count <= VMAP_MAX_ALLOC {
        let order = VmapBlock::order_for(count).ok_or(Error::InvalidArgument)?;
        let block_start = addr & !(VMAP_BLOCK_SIZE - 1);
        for cpu_blocks in VMAP_BLOCKS.iter() {
            let mut blocks = cpu_blocks.lock();
            let Some(i) = blocks.iter().position(|b| b.va_start() == block_start) else { continue };
            let state = blocks[i].free(addr, order)?;
            unmap_range(addr, (1u64 << order) * PAGE_SIZE)?;
            if state == BlockState::AllDirty {
                blocks.swap_remove(i);
                drop(blocks);
                let _ = release_area(block_start, block_start, 0)?;
            }
            return Ok(());
        }
        Err(Error::NotFound)
    } else {
        match with_space(|s| s.find_busy(addr).map(|(a, _, v)| (a, matches!(v, VmapArea::Ram))))? {
            Some((a, true)) if a == addr => release_area(addr, addr, count as u64 * PAGE_SIZE).map(|_| ()),
            _ => Err(Error::NotFound),
        }
    }
}

/// An area of address space with nothing mapped (Linux's get_vm_area),
/// for a caller that maps into it itself through `pgtable`; whatever it
/// left mapped is unmapped, lazily, on drop.
pub struct VmArea {
    area: u64,
    size: u64,
}

impl VmArea {
    /// The first byte.
    pub fn addr(&self) -> VirtAddr {
        VirtAddr(self.area)
    }
    /// Bytes usable (without the guard page).
    pub fn len(&self) -> usize {
        self.size as usize
    }
    /// Never: get_vm_area of 0 bytes fails.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
}

impl Drop for VmArea {
    fn drop(&mut self) {
        if let Err(e) = release_area(self.area, self.area, self.size) {
            pr_err!("free_vm_area: 0x{:016x}: {e}", self.area);
        }
    }
}

/// Linux's get_vm_area: `size` bytes (rounded to pages) of address space
/// plus a guard page, nothing mapped.
#[inline(never)]
pub fn get_vm_area(size: u64, flags: VmFlags) -> Result<VmArea, Error> {
    let mapped = size.checked_next_multiple_of(PAGE_SIZE).ok_or(Error::InvalidArgument)?;
    if mapped == 0 {
        return Err(Error::InvalidArgument);
    }
    let caller = caller();
    let area_size = flags.area_size(size).ok_or(Error::InvalidArgument)?;
    // Nothing to fill in afterwards: the area is complete when inserted.
    let a = alloc_vmap_area(area_size, 1, 0, VMALLOC_START, VMALLOC_END, Gfp::KERNEL, || {
        VmapArea::Vm(VmStruct::new(flags, 0, mapped, caller))
    })?;
    Ok(VmArea { area: a, size: mapped })
}

/// Device memory mapped by ioremap, iounmap'd on drop.
pub struct IoMem {
    area: u64,
    mapped: u64,
    addr: u64,
    size: u64,
}

impl IoMem {
    /// The virtual address of the physical address asked for.
    pub fn addr(&self) -> VirtAddr {
        VirtAddr(self.addr)
    }
    /// Bytes asked for.
    pub fn len(&self) -> usize {
        self.size as usize
    }
    /// Whether nothing was asked for (never: ioremap of 0 bytes fails).
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }
    /// Keep the mapping for good (a console); its address.
    pub fn leak(self) -> VirtAddr {
        let a = self.addr;
        core::mem::forget(self);
        VirtAddr(a)
    }
}

impl Drop for IoMem {
    fn drop(&mut self) {
        if let Err(e) = release_area(self.area, self.area, self.mapped) {
            pr_err!("iounmap: 0x{:016x}: {e}", self.addr);
        }
    }
}

/// Linux's ioremap_prot: map `[phys, phys + size)` with `prot`. RAM is
/// refused (mapping it as a device would alias cacheable memory).
#[inline(never)]
pub fn ioremap_prot(phys: u64, size: u64, prot: PageProt) -> Result<IoMem, Error> {
    ioremap_caller(phys, size, prot, caller())
}

/// Linux's ioremap: device memory, Device-nGnRE.
#[inline(never)]
pub fn ioremap(phys: u64, size: u64) -> Result<IoMem, Error> {
    ioremap_caller(phys, size, PageProt::KERNEL_DEVICE, caller())
}

/// Linux's ioremap_wc: write-combining, Normal non-cacheable.
#[inline(never)]
pub fn ioremap_wc(phys: u64, size: u64) -> Result<IoMem, Error> {
    ioremap_caller(phys, size, PageProt::KERNEL_RW | PageProt::NONCACHED, caller())
}

fn ioremap_caller(phys: u64, size: u64, prot: PageProt, caller: u64) -> Result<IoMem, Error> {
    let last = phys.checked_add(size.checked_sub(1).ok_or(Error::InvalidArgument)?).ok_or(Error::InvalidArgument)?;
    let offset = phys & (PAGE_SIZE - 1);
    let base = phys - offset;
    let mapped = (last + 1).next_multiple_of(PAGE_SIZE) - base;
    {
        let mb = MEMBLOCK.lock();
        if mb.memory().regions().iter().any(|r| r.base.as_u64() <= last && base < r.base.as_u64() + r.size) {
            pr_warn!("ioremap on RAM at 0x{:016x} - 0x{:016x}", base, last);
            return Err(Error::InvalidArgument);
        }
    }
    let flags = VmFlags::IOREMAP;
    let a = alloc_vmap_area(mapped + PAGE_SIZE, 1, 0, VMALLOC_START, VMALLOC_END, Gfp::KERNEL, || {
        VmapArea::Vm(VmStruct::new(flags | VmFlags::UNINITIALIZED, 0, mapped, caller))
    })?;
    let pas = (0..mapped / PAGE_SIZE).map(|i| PhysAddr(base + i * PAGE_SIZE));
    if let Err((done, e)) = pgtable::map_kernel_pages(VirtAddr(a), pas, prot) {
        let _ = release_area(a, a, done * PAGE_SIZE);
        return Err(e);
    }
    with_space(|s| {
        if let Some(VmapArea::Vm(v)) = s.busy_mut(a) {
            v.phys_addr = base;
            v.flags.remove(VmFlags::UNINITIALIZED);
        }
    })?;
    Ok(IoMem { area: a, mapped, addr: a + offset, size })
}

/// The area-allocator counters (tests and reports).
pub fn stats() -> Option<VmapStats> {
    VMAP.lock().as_ref().map(|s| s.stats())
}

/// The free ranges, in order (tests compare them before and after).
pub fn free_ranges() -> Vec<(u64, u64)> {
    VMAP.lock().as_ref().map(|s| s.free_iter().collect()).unwrap_or_default()
}

/// Pages vmalloc holds (VmallocUsed).
pub fn nr_vmalloc_pages() -> u64 {
    NR_VMALLOC_PAGES.load(Ordering::Relaxed)
}

/// What a faulting address in the vmalloc area hit, for the oops report.
pub struct FaultArea {
    /// The area's bounds.
    pub start: u64,
    /// One past its last byte.
    pub end: u64,
    /// The page hit is a guard page: `below` or `above` the mapping.
    pub guard: Option<&'static str>,
    /// Who allocated it.
    pub caller: u64,
    /// What it is.
    pub kind: &'static str,
}

/// The area a faulting address belongs to. Never blocks (the oops path
/// may run with `VMAP` held): `None` when the lock is busy or nothing is
/// there.
pub fn describe_fault(addr: u64) -> Option<FaultArea> {
    if !is_vmalloc_addr(VirtAddr(addr)) {
        return None;
    }
    let g = VMAP.try_lock()?;
    let s = g.as_ref()?;
    let (start, end, v) = s.find_busy(addr)?;
    Some(match v {
        VmapArea::Vm(v) => {
            let map_lo = start + v.lead;
            let guard = if addr < map_lo {
                Some("below")
            } else if addr >= map_lo + v.mapped {
                Some("above")
            } else {
                None
            };
            FaultArea { start, end, guard, caller: v.caller, kind: kind_name(v.flags) }
        }
        VmapArea::Ram | VmapArea::Block => FaultArea { start, end, guard: None, caller: 0, kind: "vm_map_ram" },
    })
}

/// The oops report's line about a fault in the vmalloc area: which area,
/// which of its pages (a guard page or a mapped one), and who allocated it.
fn oops_note(addr: u64) {
    let Some(f) = describe_fault(addr) else { return };
    let (guard, side) = match f.guard {
        Some(side) => ("the guard page ", side),
        None => ("the mapped range", ""),
    };
    let side = if side.is_empty() {
        ""
    } else if side == "below" {
        "below the mapping"
    } else {
        "above the mapping"
    };
    crate::console::printk::emergency_write(format_args!(
        "vmalloc: 0x{addr:016x} is in {guard}{side} of the {} area 0x{:016x}-0x{:016x} ({} bytes) allocated by {}",
        f.kind,
        f.start,
        f.end,
        f.end - f.start,
        crate::console::kallsyms::Sym(f.caller)
    ));
}

fn kind_name(f: VmFlags) -> &'static str {
    if f.contains(VmFlags::IOREMAP) {
        "ioremap"
    } else if f.contains(VmFlags::MAP) {
        "vmap"
    } else {
        "vmalloc"
    }
}

/// Linux's `%pS`: `name+0xoff/0xsize`, or the bare address.
pub fn write_symbol(out: &mut impl Write, addr: u64) -> core::fmt::Result {
    match crate::console::kallsyms::lookup(addr) {
        Some((name, off, size)) => write!(out, "{name}+0x{off:x}/0x{size:x}"),
        None => write!(out, "0x{addr:x}"),
    }
}

/// /proc/vmallocinfo, in Linux's format.
pub fn vmallocinfo(out: &mut String) -> core::fmt::Result {
    let g = VMAP.lock();
    let Some(s) = g.as_ref() else { return Ok(()) };
    for (start, end, area) in s.busy_iter() {
        match area {
            VmapArea::Vm(v) => {
                if v.flags.contains(VmFlags::UNINITIALIZED) {
                    continue;
                }
                write!(out, "0x{start:016x}-0x{end:016x} {:>7}", end - start)?;
                if v.caller != 0 {
                    out.push(' ');
                    write_symbol(out, v.caller)?;
                }
                if v.nr_pages != 0 {
                    write!(out, " pages={}", v.nr_pages)?;
                }
                if v.phys_addr != 0 {
                    write!(out, " phys=0x{:016x}", v.phys_addr)?;
                }
                for (flag, name) in [
                    (VmFlags::IOREMAP, " ioremap"),
                    (VmFlags::ALLOC, " vmalloc"),
                    (VmFlags::MAP, " vmap"),
                    (VmFlags::USERMAP, " user"),
                    (VmFlags::DMA_COHERENT, " dma-coherent"),
                ] {
                    if v.flags.contains(flag) {
                        out.push_str(name);
                    }
                }
                for (nid, n) in &v.nodes {
                    write!(out, " N{nid}={n}")?;
                }
                out.push('\n');
            }
            VmapArea::Ram | VmapArea::Block => {
                writeln!(out, "0x{start:016x}-0x{end:016x} {:>7} vm_map_ram", end - start)?;
            }
        }
    }
    for (start, end) in s.lazy_iter() {
        writeln!(out, "0x{start:016x}-0x{end:016x} {:>7} unpurged vm_area", end - start)?;
    }
    Ok(())
}
