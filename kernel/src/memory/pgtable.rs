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
//!
//! debug_pagealloc. With `debug_pagealloc=on` the linear map is mapped with
//! pages instead ([`create_linear_map`] given [`LinearMapTables`]), so that
//! every free page can be unmapped from it and mapped again when allocated
//! without splitting anything. Its tables (2 MiB per GiB of RAM) come from
//! the image's pool and then from a block memblock sets aside: the block's
//! first pages are mapped with tables from the pool, the rest of the block
//! with tables from those, so that every page of it is reached and zeroed
//! through the linear map before it is used as a table; what is left over
//! goes back to memblock. The flip itself
//! ([`kernel_map_pages`], registered with `hal` for the page allocator)
//! takes no lock: table pages are allocated under `KERNEL_PT` from the page
//! allocator, whose hook runs inside that allocation, so taking `KERNEL_PT`
//! there would deadlock. It needs none, because once the linear map is
//! page-mapped its tables never change (no block to split, tables are never
//! freed, and [`map_kernel_range`], [`unmap_kernel_range`] and
//! [`change_kernel_prot`] refuse linear-map addresses from then on), and a
//! page's descriptor is written only on behalf of the page's owner (see
//! [`kernel_map_pages`]).

use super::layout::{MEMSTART_ALIGN, PAGE_END, PAGE_OFFSET};
use super::linear_map::{self, linear_map_covers, phys_to_virt};
use arch::pte::Arm64;
use boot::{BootInfo, sym};
use core::ops::ControlFlow;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use mm::hal::LinearMapping;
use mm::pgtable::{
    LAST_LEVEL, LEVELS, LeafSlot, MapFlags, PTRS_PER_TABLE, PageProt, PageTable, PgtableMem, PtEntry, PteFormat,
    Translation, level_shift, lookup_address,
};
use mm::{Error, PAGE_SIZE, Pfn, PhysAddr, VirtAddr};
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
    /// The linear map's own tables while it is built page by page
    /// (debug_pagealloc): next and end physical address; empty otherwise.
    reserve: (u64, u64),
    image_pa: (u64, u64),
    kimage_voffset: u64,
}

// SAFETY: pool pages are inside the image, mapped RW at pa + kimage_voffset
// (the head maps the pool section), handed out once and zeroed here; a page
// from the registered allocator is that allocator's gift to this table alone
// (`set_table_alloc`'s contract) and is covered by the linear map (checked
// before use), through which it is zeroed and reached. A reserve page is
// one of the block memblock set aside for the linear map's tables alone,
// whose own linear-map pages `create_linear_map` mapped before handing it
// over, so it too is reached and zeroed through the linear map.
unsafe impl PgtableMem for KernelTables {
    fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
        let (pa, va) = if self.pool_next < self.pool_end {
            let pa = self.pool_next;
            self.pool_next += PAGE_SIZE;
            (pa, (pa + self.kimage_voffset) as *mut u8)
        } else if self.reserve.0 < self.reserve.1 {
            let pa = self.reserve.0;
            self.reserve.0 += PAGE_SIZE;
            (pa, phys_to_virt(PhysAddr(pa)).as_u64() as *mut u8)
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
/// The root of the TTBR1 tree, for the lock-free walk of [`kernel_map_pages`].
static KERNEL_ROOT: AtomicU64 = AtomicU64::new(0);
/// The end of the image's physical range (its tables are reached through it).
static IMAGE_END: AtomicU64 = AtomicU64::new(0);
/// The linear map is mapped with pages and debug_pagealloc is on.
static LINEAR_MAP_PAGES: AtomicBool = AtomicBool::new(false);
/// Linear-map pages [`kernel_map_pages`] was asked to flip but found no page
/// descriptor for (a wiring bug; the self-test checks it stays 0).
static KERNEL_MAP_MISSES: AtomicU64 = AtomicU64::new(0);

/// Adopt the head's TTBR1 tree.
pub fn init(info: &BootInfo) {
    let voff = info.kimage_voffset();
    KIMAGE_VOFFSET.store(voff, Ordering::Relaxed);
    PHYS_BASE.store(info.phys_base, Ordering::Relaxed);
    let pool_start = sym!(__pgtable_pool_start) - voff;
    let pool_end = sym!(__pgtable_pool_end) - voff;
    KERNEL_ROOT.store(info.kernel_root, Ordering::Relaxed);
    IMAGE_END.store(sym!(_end) - voff, Ordering::Relaxed);
    let mem = KernelTables {
        table_alloc: None,
        pool_next: pool_start + info.pgtable_pool_used * PAGE_SIZE,
        pool_end,
        reserve: (0, 0),
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

/// Map `[pa, pa + size)` at `va` in the kernel's tree (fixmap slots, the
/// linear map). `Busy` for the linear map once debug_pagealloc owns it.
pub fn map_kernel_range(va: VirtAddr, pa: PhysAddr, size: u64, prot: PageProt, flags: MapFlags) -> Result<(), Error> {
    if linear_leaves_owned(va, size) {
        return Err(Error::Busy);
    }
    let mut guard = KERNEL_PT.lock();
    let pt = guard.as_mut().ok_or(Error::NotFound)?;
    pt.map_range(va, pa, size, prot, flags)
}

/// Whether `[va, va + size)` touches the linear map while debug_pagealloc
/// owns its leaves: then only [`kernel_map_pages`] may change them (the
/// locked walker would otherwise race it on the same descriptors).
fn linear_leaves_owned(va: VirtAddr, size: u64) -> bool {
    LINEAR_MAP_PAGES.load(Ordering::Acquire) && va.as_u64() < PAGE_END && va.as_u64().saturating_add(size) > PAGE_OFFSET
}

/// Unmap `[va, va + size)` from the kernel's tree, break-before-make, with
/// every CPU's TLB entries invalidated. Returns the leaves removed. `Busy`
/// for the linear map under debug_pagealloc.
pub fn unmap_kernel_range(va: VirtAddr, size: u64) -> Result<usize, Error> {
    if linear_leaves_owned(va, size) {
        return Err(Error::Busy);
    }
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
/// have to be split, and for the linear map under debug_pagealloc.
pub fn change_kernel_prot(va: VirtAddr, size: u64, prot: PageProt) -> Result<usize, Error> {
    if linear_leaves_owned(va, size) {
        return Err(Error::Busy);
    }
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

/// Table pages set aside for a page-granular linear map (debug_pagealloc):
/// `nr_pages` pages from `pa`, reserved in memblock for this alone.
#[derive(Clone, Copy, Debug)]
pub struct LinearMapTables {
    /// First page (physical, page-aligned).
    pub pa: PhysAddr,
    /// Pages in the block.
    pub nr_pages: u64,
}

/// The most table pages mapping `ranges` with pages alone can take: per
/// range, one table per slot it touches at each level below the root (an
/// L3 table per 2 MiB, an L2 per GiB, an L1 per 512 GiB; a slot two ranges
/// share is counted twice, so this is an upper bound).
pub fn linear_map_table_pages(ranges: &[(PhysAddr, PhysAddr)]) -> u64 {
    let Some(&(first, _)) = ranges.first() else { return 0 };
    let memstart = first.align_down(MEMSTART_ALIGN).as_u64();
    let mut pages = 0;
    for &(start, end) in ranges.iter().filter(|r| r.0 < r.1) {
        let (vs, ve) = (PAGE_OFFSET + (start.as_u64() - memstart), PAGE_OFFSET + (end.as_u64() - memstart));
        for level in 1..LEVELS {
            // A table at `level` spans one entry of the level above.
            let shift = level_shift(level - 1);
            pages += ((ve - 1) >> shift) - (vs >> shift) + 1;
        }
    }
    pages
}

/// Map every memblock.memory range that is not NOMAP at PAGE_OFFSET (Linux's
/// map_mem): with blocks where alignment allows, or, given `tables`
/// (debug_pagealloc=on), with pages only, its tables taken from `tables`.
/// Returns how many of the pages of `tables` were used.
pub fn create_linear_map(ranges: &[(PhysAddr, PhysAddr)], tables: Option<LinearMapTables>) -> Result<u64, Error> {
    let Some(&(first, _)) = ranges.first() else {
        return Err(Error::InvalidArgument);
    };
    let memstart = first.align_down(MEMSTART_ALIGN).as_u64();
    let last_end = ranges.iter().map(|r| r.1.as_u64()).max().unwrap_or(0);
    if last_end - memstart > PAGE_END - PAGE_OFFSET {
        return Err(Error::InvalidArgument);
    }
    linear_map::set_memstart(memstart);
    let flags = if tables.is_some() { MapFlags::NO_BLOCKS } else { MapFlags::empty() };
    if let Some(t) = tables {
        // The block's own pages first. Its first pages up to a 2 MiB
        // boundary take one L3 table (and what is above it) from the pool;
        // from then on the walker can reach and zero them through the linear
        // map, and the rest of the block is mapped with tables taken from
        // them (handed out in order: 512 of them map 1 GiB of block, enough
        // for 512 GiB of RAM).
        let (start, end) = (t.pa.as_u64(), t.pa.as_u64() + t.nr_pages * PAGE_SIZE);
        let first_end = end.min((start + 1).next_multiple_of(2 << 20));
        map_kernel_range(phys_to_virt(t.pa), t.pa, first_end - start, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS)?;
        KERNEL_PT.lock().as_mut().ok_or(Error::NotFound)?.mem_mut().reserve = (start, end);
        map_kernel_range(phys_to_virt(t.pa), t.pa, end - start, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS)?;
    }
    for &(start, end) in ranges {
        let va = phys_to_virt(start);
        map_kernel_range(va, start, end - start, PageProt::KERNEL_RW, flags)?;
    }
    linear_map::set_end(last_end);
    let Some(t) = tables else { return Ok(0) };
    let next = core::mem::take(&mut KERNEL_PT.lock().as_mut().ok_or(Error::NotFound)?.mem_mut().reserve).0;
    let used = (next - t.pa.as_u64()) / PAGE_SIZE;
    LINEAR_MAP_PAGES.store(true, Ordering::Release);
    super::hal::set_kernel_map_pages(kernel_map_pages);
    Ok(used)
}

/// Whether debug_pagealloc is on: the linear map is mapped with pages and
/// free pages are unmapped from it.
pub fn debug_pagealloc_enabled() -> bool {
    LINEAR_MAP_PAGES.load(Ordering::Acquire)
}

/// Linear-map pages [`kernel_map_pages`] found no page descriptor for.
pub fn kernel_map_misses() -> u64 {
    KERNEL_MAP_MISSES.load(Ordering::Relaxed)
}

/// How a table is reached without `KernelTables`: the pool through the
/// image mapping, any other table through the linear map.
fn table_va(pa: PhysAddr) -> *mut u64 {
    let pa = pa.as_u64();
    if pa >= PHYS_BASE.load(Ordering::Relaxed) && pa < IMAGE_END.load(Ordering::Relaxed) {
        (pa + kimage_voffset()) as *mut u64
    } else {
        phys_to_virt(PhysAddr(pa)).as_u64() as *mut u64
    }
}

/// One descriptor of a linear-map walk, read without `KERNEL_PT`.
fn read_table_entry(table: PhysAddr, index: usize) -> u64 {
    debug_assert!(index < PTRS_PER_TABLE);
    // SAFETY: `table` is the root or a table a valid table descriptor of the
    // kernel's tree points to; kernel tables are never freed, and each is
    // reachable through `table_va` (the pool in the image, the rest in the
    // linear map, where table pages stay mapped: they are never free).
    // index < 512. An aligned 64-bit volatile load is single-copy atomic, so
    // a concurrent writer (another page's flip, the locked walker adding
    // tables elsewhere) is seen before or after, never torn.
    unsafe { table_va(table).add(index).read_volatile() }
}

/// debug_pagealloc's hook (Linux's `__kernel_map_pages`, registered with
/// `hal` for the page allocator): make the linear-map pages of `nr_pages`
/// frames from `pfn` valid again (`Map`: one publish barrier, as for any
/// invalid-to-valid change) or invalid (`Unmap`: then every CPU's TLB
/// entries for them are invalidated, `tlbi vaale1is` per page or one
/// `vmalle1is` for a long range, before this returns).
///
/// No lock is taken, and none is needed:
/// 1. The tables. It runs only once the linear map is mapped with pages, so
///    every linear-map page of RAM has a slot in an existing L3 table, and
///    that table and the path to it never change: kernel tables are never
///    freed, the linear map has no block to split, and the locked walker no
///    longer changes linear-map entries (`create_linear_map` is done;
///    `map_kernel_range`, `unmap_kernel_range` and `change_kernel_prot`
///    refuse the range). The
///    walk ([`lookup_address`]) only reads.
/// 2. The leaves. The page allocator calls this for a block it is freeing
///    (its owner has given it up) or handing out (nobody has it yet),
///    outside its own locks, so no two CPUs flip the same descriptor at
///    once; a neighbour's descriptor is another aligned 64-bit word.
/// 3. Deadlock. Table pages are allocated from the page allocator while
///    `KERNEL_PT` is held, and that allocation calls this: taking `KERNEL_PT`
///    here would deadlock, as would taking it under a zone lock (lock order:
///    `KERNEL_PT`, then the zone locks). It takes nothing.
///
/// A frame whose linear-map page has no page descriptor mapping it (never
/// the case when the wiring is right) is left alone and counted
/// ([`kernel_map_misses`]).
fn kernel_map_pages(pfn: Pfn, nr_pages: u64, how: LinearMapping) {
    if !LINEAR_MAP_PAGES.load(Ordering::Acquire) || nr_pages == 0 {
        return;
    }
    let root = PhysAddr(KERNEL_ROOT.load(Ordering::Relaxed));
    let va0 = phys_to_virt(pfn.phys());
    let mut prev: Option<LeafSlot> = None;
    for i in 0..nr_pages {
        let va = va0 + i * PAGE_SIZE;
        // Consecutive pages are consecutive slots of one L3 table until its end.
        let slot = match prev {
            Some(p) if p.index + 1 < PTRS_PER_TABLE => {
                LeafSlot { index: p.index + 1, raw: read_table_entry(p.table, p.index + 1), ..p }
            }
            _ => lookup_address::<Arm64>(root, va, read_table_entry),
        };
        prev = Some(slot);
        let pa = pfn.phys() + i * PAGE_SIZE;
        if slot.level != LAST_LEVEL || slot.raw == 0 || Arm64::output_addr(slot.raw) != pa {
            KERNEL_MAP_MISSES.fetch_add(1, Ordering::Relaxed);
            prev = None;
            continue;
        }
        let new = match how {
            LinearMapping::Map => arch::pte::pte_mkvalid(slot.raw),
            LinearMapping::Unmap => arch::pte::pte_mkinvalid(slot.raw),
        };
        if new != slot.raw {
            // SAFETY: the slot is inside an L3 table of the linear map,
            // reached as in `read_table_entry`; this CPU is the only writer
            // of this descriptor (the page's owner, point 2 above), and the
            // write is one aligned 64-bit store.
            unsafe { table_va(slot.table).add(slot.index).write_volatile(new) };
        }
    }
    match how {
        LinearMapping::Map => arch::tlb::publish_new_entries(),
        LinearMapping::Unmap => arch::tlb::flush_tlb_kernel_range(va0, va0 + nr_pages * PAGE_SIZE),
    }
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
