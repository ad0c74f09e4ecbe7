//! The kernel's page tables after the head: the TTBR1 tree, the fixmap and
//! the linear map.
//!
//! The head leaves the image mapped and `BootInfo::pgtable_pool_used` pages
//! of the image's page-table pool in use. [`KernelTables`] hands out the rest
//! of the pool; every table page in it is reached through the image mapping
//! (`pa + kimage_voffset`). Once the pool is empty, table pages come from
//! the allocator registered with [`set_table_alloc`]: memblock's once the
//! linear map exists (`memblock::enable_table_pages`), the page allocator's
//! once memblock is retired; they are reached through the linear map. The
//! allocators register themselves, so this file looks down only, at
//! `layout` and `linear_map`.
//!
//! Lock order: `KERNEL_PT`, then the registered allocator's lock (`MEMBLOCK`
//! or the zone locks). So memblock tables are only enabled after
//! `memblock::memblock_init`, which maps the linear map while holding
//! `MEMBLOCK` and so must take its tables from the pool.
//!
//! Mapping makes only invalid-to-valid changes, so publishing it needs a
//! `dsb ishst; isb` and no TLB invalidation. Unmapping and permission
//! changes of live entries invalidate every CPU's TLB entry (the walker's
//! rules: in place for permissions, break-before-make otherwise).
//!
//! Which blocks may be split. Blocks exist only in the linear map (the
//! image, the fixmap, the CPU stacks and everything else here are mapped
//! with pages, `MapFlags::NO_BLOCKS`), and the linear map's blocks are never
//! split ([`KernelTables::may_split`] says no for `PAGE_OFFSET..PAGE_END`):
//! splitting is break-before-make, and while a linear-map block is invalid
//! every CPU loses that 2 MiB or 1 GiB of RAM, which may hold table pages
//! taken from memblock or the page allocator (reached through the linear
//! map, possibly the very table being split), kmalloc objects and the page
//! structures other CPUs are using, and a secondary's per-CPU data. The
//! other choice, mapping the linear map with pages, costs 2 MiB of tables
//! per GiB and TLB reach for no user yet. This is Linux's choice too when
//! `can_set_direct_map()` is false: the linear map keeps its blocks and
//! `change_memory_common` refuses to change it. Code and stacks are never
//! at risk: the image (text, the boot stack, the table pool) runs from its
//! own page-mapped alias at KIMAGE_VADDR and the secondaries' stacks are
//! page-mapped in the CPU-stack window.

use super::layout::{MEMSTART_ALIGN, PAGE_END, PAGE_OFFSET};
use super::linear_map::{self, linear_map_covers, phys_to_virt};
use arch::pte::Arm64;
use boot::{BootInfo, sym};
use core::ops::ControlFlow;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::pgtable::{MapFlags, PageProt, PageTable, PgtableMem, PtEntry, Translation};
use mm::{Error, PAGE_SIZE, PhysAddr, VirtAddr};
use spin::Mutex;

/// A source of zeroed-or-not table pages beyond the pool (their physical
/// address; `alloc_table` zeroes them through the linear map).
pub type TableAlloc = fn() -> Result<PhysAddr, Error>;

/// Table memory for the kernel's tree.
pub struct KernelTables {
    /// Where pages come from once the pool is empty (None: nowhere yet).
    table_alloc: Option<TableAlloc>,
    pool_next: u64,
    pool_end: u64,
    image_pa: (u64, u64),
    kimage_voffset: u64,
}

// SAFETY: pool pages are inside the image, mapped RW at pa + kimage_voffset
// (the head maps the pool section), handed out once and zeroed here; a page
// from the registered allocator is that allocator's gift to this table alone
// (`set_table_alloc`'s contract) and is covered by the linear map (checked
// before use), through which it is zeroed and reached.
unsafe impl PgtableMem for KernelTables {
    fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
        let (pa, va) = if self.pool_next < self.pool_end {
            let pa = self.pool_next;
            self.pool_next += PAGE_SIZE;
            (pa, (pa + self.kimage_voffset) as *mut u8)
        } else {
            let pa = match self.table_alloc {
                None => return Err(Error::NoMemory),
                Some(alloc) => alloc()?,
            };
            TABLES_ALLOCATED.fetch_add(1, Ordering::Relaxed);
            if !linear_map_covers(pa, PAGE_SIZE) {
                return Err(Error::NoMemory);
            }
            (pa.as_u64(), phys_to_virt(pa).as_u64() as *mut u8)
        };
        // SAFETY: a whole, unused pool page mapped RW (see the impl's comment).
        unsafe { core::ptr::write_bytes(va, 0, PAGE_SIZE as usize) };
        Ok(PhysAddr(pa))
    }
    fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
        let pa = pa.as_u64();
        if pa >= self.image_pa.0 && pa < self.image_pa.1 {
            (pa + self.kimage_voffset) as *mut u64
        } else {
            phys_to_virt(PhysAddr(pa)).as_u64() as *mut u64
        }
    }
    fn publish(&mut self) {
        arch::tlb::publish_new_entries();
    }
    fn flush_tlb(&mut self, va: VirtAddr) {
        // Inner shareable: every CPU drops the translation (tlbi vaale1is).
        arch::tlb::flush_tlb_kernel_page(va);
    }
    fn may_split(&self, va: VirtAddr, _level: usize) -> bool {
        // Never the linear map's blocks (see the module's essay).
        !(PAGE_OFFSET..PAGE_END).contains(&va.as_u64())
    }
}

type KernelPageTable = PageTable<Arm64, KernelTables>;

static KERNEL_PT: Mutex<Option<KernelPageTable>> = Mutex::new(None);
static KIMAGE_VOFFSET: AtomicU64 = AtomicU64::new(0);
/// Table pages taken from the registered allocator so far (kept for good).
static TABLES_ALLOCATED: AtomicU64 = AtomicU64::new(0);

/// Table pages the tree took from memblock or the page allocator so far:
/// a test that compares free-page counts adds what its mappings cost.
pub fn nr_table_pages_allocated() -> u64 {
    TABLES_ALLOCATED.load(Ordering::Relaxed)
}
static PHYS_BASE: AtomicU64 = AtomicU64::new(0);

/// Adopt the head's TTBR1 tree.
pub fn init(info: &BootInfo) {
    let voff = info.kimage_voffset();
    KIMAGE_VOFFSET.store(voff, Ordering::Relaxed);
    PHYS_BASE.store(info.phys_base, Ordering::Relaxed);
    let pool_start = sym!(__pgtable_pool_start) - voff;
    let pool_end = sym!(__pgtable_pool_end) - voff;
    let mem = KernelTables {
        table_alloc: None,
        pool_next: pool_start + info.pgtable_pool_used * PAGE_SIZE,
        pool_end,
        image_pa: (info.phys_base, sym!(_end) - voff),
        kimage_voffset: voff,
    };
    // SAFETY: the root is the head's TTBR1 table inside the pool, reachable
    // through `mem`; from now on only this PageTable writes the tree.
    let pt = unsafe { PageTable::from_root(PhysAddr(info.kernel_root), mem) };
    *KERNEL_PT.lock() = Some(pt);
}

/// `virt - phys` for the image.
pub fn kimage_voffset() -> u64 {
    KIMAGE_VOFFSET.load(Ordering::Relaxed)
}

/// Physical address of an image symbol (Linux's __pa_symbol).
pub fn pa_symbol(va: u64) -> PhysAddr {
    PhysAddr(va - kimage_voffset())
}

/// Map `[pa, pa + size)` at `va` in the kernel's tree (fixmap slots, the linear map).
pub fn map_kernel_range(va: VirtAddr, pa: PhysAddr, size: u64, prot: PageProt, flags: MapFlags) -> Result<(), Error> {
    let mut guard = KERNEL_PT.lock();
    let pt = guard.as_mut().ok_or(Error::NotFound)?;
    pt.map_range(va, pa, size, prot, flags)
}

/// Unmap `[va, va + size)` from the kernel's tree, break-before-make, with
/// every CPU's TLB entries invalidated. Returns the leaves removed.
pub fn unmap_kernel_range(va: VirtAddr, size: u64) -> Result<usize, Error> {
    KERNEL_PT.lock().as_mut().ok_or(Error::NotFound)?.unmap_range(va, size)
}

/// Map `pages` (each one page, in order) at `va, va + PAGE_SIZE, ...`
/// with pages only, holding the lock once for them all (vmalloc's
/// vmap_pages_range). On failure the pages mapped so far stay mapped and
/// their count is returned with the error, for the caller to unmap.
pub fn map_kernel_pages(
    va: VirtAddr,
    pages: impl Iterator<Item = PhysAddr>,
    prot: PageProt,
) -> Result<u64, (u64, Error)> {
    let mut guard = KERNEL_PT.lock();
    let pt = guard.as_mut().ok_or((0, Error::NotFound))?;
    let mut n = 0;
    for pa in pages {
        pt.map_range(va + n * PAGE_SIZE, pa, PAGE_SIZE, prot, MapFlags::NO_BLOCKS).map_err(|e| (n, e))?;
        n += 1;
    }
    Ok(n)
}

/// Unmap `[va, va + size)` without any TLB invalidation: the caller
/// flushes the range before its addresses are used again (vmalloc's lazy
/// purge). Returns the leaves removed.
pub fn unmap_kernel_range_noflush(va: VirtAddr, size: u64) -> Result<usize, Error> {
    KERNEL_PT.lock().as_mut().ok_or(Error::NotFound)?.unmap_range_noflush(va, size)
}

/// Change the protection of `[va, va + size)`: in place for permissions,
/// break-before-make for a memory type; `Busy` if a linear-map block would
/// have to be split.
pub fn change_kernel_prot(va: VirtAddr, size: u64, prot: PageProt) -> Result<usize, Error> {
    KERNEL_PT.lock().as_mut().ok_or(Error::NotFound)?.change_prot(va, size, prot)
}

/// Software walk of the kernel's tree.
pub fn translate(va: VirtAddr) -> Option<Translation> {
    KERNEL_PT.lock().as_ref()?.translate(va)
}

/// Run `visit` over the leaves and holes of `[va, va + size)` in the
/// kernel's tree, in address order, with `KERNEL_PT` held
/// ([`PageTable::walk_range`]; `size` may reach 2^64). The visitor runs
/// under the lock: it must not take it again (no mapping, unmapping or
/// translating), nor anything that might (allocating, which may come to
/// need a table page), nor print at length; it may stop the walk with
/// `Break` and resume later from an entry's `va`.
pub fn walk_kernel_range<B>(
    va: VirtAddr,
    size: u64,
    visit: &mut impl FnMut(PtEntry) -> ControlFlow<B>,
) -> Result<ControlFlow<B>, Error> {
    KERNEL_PT.lock().as_ref().ok_or(Error::NotFound)?.walk_range(va, size, visit)
}

/// Map the physical page range covering `[pa, pa + len)` at the fixmap slot
/// `slot`; returns the virtual address of `pa`.
pub fn fixmap_remap(slot: u64, pa: u64, len: u64, prot: PageProt) -> Result<VirtAddr, Error> {
    let start = pa & !(PAGE_SIZE - 1);
    let end = pa.checked_add(len).ok_or(Error::InvalidArgument)?.next_multiple_of(PAGE_SIZE);
    map_kernel_range(VirtAddr(slot), PhysAddr(start), end - start, prot, MapFlags::NO_BLOCKS)?;
    Ok(VirtAddr(slot + (pa - start)))
}

/// Map every memblock.memory range that is not NOMAP at PAGE_OFFSET, with
/// blocks where alignment allows (Linux's map_mem).
pub fn create_linear_map(ranges: &[(PhysAddr, PhysAddr)]) -> Result<(), Error> {
    let Some(&(first, _)) = ranges.first() else {
        return Err(Error::InvalidArgument);
    };
    let memstart = first.align_down(MEMSTART_ALIGN).as_u64();
    let last_end = ranges.iter().map(|r| r.1.as_u64()).max().unwrap_or(0);
    if last_end - memstart > PAGE_END - PAGE_OFFSET {
        return Err(Error::InvalidArgument);
    }
    linear_map::set_memstart(memstart);
    for &(start, end) in ranges {
        let va = phys_to_virt(start);
        map_kernel_range(va, start, end - start, PageProt::KERNEL_RW, MapFlags::empty())?;
    }
    linear_map::set_end(last_end);
    Ok(())
}

/// From now on take table pages from `alloc` when the pool is empty.
///
/// `alloc` must hand out each page it returns to the caller alone (it is
/// an allocator's allocation, kept by the table for good). Call without
/// holding the lock `alloc` takes (lock order: `KERNEL_PT` first), after
/// the linear map exists.
pub fn set_table_alloc(alloc: TableAlloc) {
    if let Some(pt) = KERNEL_PT.lock().as_mut() {
        pt.mem_mut().table_alloc = Some(alloc);
    }
}

/// Pages left in the page-table pool.
pub fn pool_pages_free() -> u64 {
    KERNEL_PT.lock().as_ref().map(|pt| (pt.mem().pool_end - pt.mem().pool_next) / PAGE_SIZE).unwrap_or(0)
}
