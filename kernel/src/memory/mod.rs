//! The memory wiring: the architecture-free `mm` crate brought up on this
//! machine, in boot order, each step on the one before it.
//!
//! ```text
//!   layout        the virtual address map (constants; fixmap slots)
//!   linear_map    __va / __pa: RAM at PAGE_OFFSET (arithmetic only)
//!   hal           mm's platform for this kernel (KernelHal) and the
//!                 allocator types over it
//!   pgtable       the TTBR1 tree: fixmap, map/unmap, the linear map's
//!                 mappings; table pages from the pool, then from whoever
//!                 registered (memblock, then the page allocator)
//!   memblock      memblock from the device tree, reservations, the early
//!                 heap's region; the tables' allocator until it retires
//!   numa          nodes online, from memblock
//!   zones         where the zones go (mm::zone::ZoneLimits over memblock
//!                 and the command line), and Linux's `Zone ranges:` lines
//!   vmemmap       page descriptors for every present section
//!   page_alloc    the buddy allocator from memblock (memblock_free_all)
//!   cma           CMA areas: declared during memblock (cma=, shared-dma-pool),
//!                 activated after the buddy allocator; cma_alloc,
//!                 dma_alloc_coherent
//!   percpu        the per-CPU areas (first chunk, from memblock) and
//!                 alloc_percpu / PerCpu<T> over mm::percpu
//!   pages         Linux's page API over it: Pages, alloc_pages, ...
//!   highmem       kmap / kmap_local_page: the linear map (no highmem)
//!   slab          SLUB over the page allocator: kmalloc, mempools
//!   kbox          owning kmalloc handles for Rust callers: KBox, KmallocBuf
//!   heap          #[global_allocator]: early heap, then kmalloc
//!   vmalloc       the vmalloc area: vmalloc, vmap, vm_map_ram, ioremap,
//!                 kernel stacks (mm::vmalloc's trees over pages + pgtable)
//!   report        /proc/buddyinfo, meminfo, zoneinfo, slabinfo, vmallocinfo
//!   ptdump        the kernel page-table dump (Linux's kernel_page_tables)
//!                 and the boot-time W^X check, over pgtable's walk
//!   context       user address spaces on a CPU: the ASID allocator,
//!                 switch_mm (TTBR0 with an ASID), TLB flushes by ASID
//!   compaction    compact_memory with the kernel's migrator (from user/),
//!                 the compaction sysctls
//! ```
//!
//! Each file imports only files above it in this list (and `console`);
//! where a lower layer needs a higher one (page tables need pages from
//! memblock, later from the page allocator) the higher one registers a
//! function with it. Boot facts (the
//! device tree, the command line) come in as arguments, not from
//! `init::state`, so this folder sits below `init`.
//!
//! Lock order: `pgtable`'s `KERNEL_PT`, then `memblock::MEMBLOCK` or the
//! page allocator's zone locks (a table page being allocated); never the
//! other way round, which is why memblock only becomes the tables'
//! allocator after the linear map is built.
//! debug_pagealloc's map/unmap of a page (`pgtable::kernel_map_pages`,
//! called by the page allocator through `hal`) takes no lock at all, so it
//! may run inside a table allocation under `KERNEL_PT` (see `pgtable`).
//!
//! `user/` is the top of this folder: user address spaces (mm_struct, their
//! page tables, the fault handler, uaccess), used by `crate::process`.

pub mod cma;
pub mod compaction;
#[allow(unsafe_code)] // TTBR0 and TCR_EL1.AS writes: the reserved table, a user table with its ASID
pub mod context;
#[allow(unsafe_code)] // zeroing frames through the linear map; the unsafe Hal impl
pub mod hal;
#[allow(unsafe_code)] // the #[global_allocator]
pub mod heap;
pub mod highmem;
#[allow(unsafe_code)] // the owning kmalloc handles
pub mod kbox;
pub mod layout;
pub mod linear_map;
#[allow(unsafe_code)] // memblock's grown arrays, through the linear map
pub mod memblock;
pub mod numa;
#[allow(unsafe_code)] // the vmemmap as MemMap; zeroing frames
pub mod page_alloc;
#[allow(unsafe_code)] // the Pages handle; frees by address or PFN
pub mod pages;
#[allow(unsafe_code)] // per-CPU units: the template copied, objects zeroed and reached
pub mod percpu;
#[allow(unsafe_code)] // table memory for the walker (PgtableMem)
pub mod pgtable;
#[allow(unsafe_code)] // loads that recover from an external abort, through the fixmap
pub mod probe;
pub mod ptdump;
pub mod report;
#[allow(unsafe_code)] // kfree of a raw pointer; mempool callbacks
pub mod slab;
pub mod user;
#[allow(unsafe_code)] // the mapped memory of a VmallocBuf as a slice; vfree of a raw address
pub mod vmalloc;
pub mod vmemmap;
pub mod zones;
