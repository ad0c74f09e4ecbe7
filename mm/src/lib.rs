//! Architecture-free memory management, after Linux's mm/: memblock, struct
//! page and the vmemmap, zones with the buddy allocator and per-CPU lists,
//! the page allocator, SLUB and kmalloc, mempools, generic page tables and
//! the /proc reports. Everything builds and is unit-tested on the host
//! (`cargo test -p mm`); the machine is reached only through the traits of
//! [`hal`], which a kernel implements (this repository's `arch` and `kernel`
//! crates do) and the host tests fake.
//!
//! # Layers
//!
//! Each module imports only the ones below it; no file imports a file that
//! imports it back.
//!
//! ```text
//!   report          /proc/buddyinfo, pagetypeinfo, zoneinfo, meminfo
//!   pageblock_map   every pageblock's migratetype, one letter each (ours)
//!   cma             CMA areas: declaration checks and placement, the bitmap,
//!                   cma_alloc's search-and-try loop, debugfs formats
//!   compaction      the two scanners, compact_zone, direct compaction,
//!                   compact_memory, fragmentation indices (over migrate)
//!   migrate         migrate_pages and the Migrator contract the kernel implements
//!   mmap            user VMAs, mmap/munmap/mprotect/brk, commit, fault decisions, /proc maps
//!   vmalloc         vmap area trees (augmented AVL), lazy purge, vmap blocks
//!   mempool         reserves for paths that must make progress
//!   slub            kmem_cache, kmalloc (over the page allocator)
//!   percpu          alloc_percpu's chunk maps (chunk memory from the kernel)
//!   page_alloc      nodes, zonelists, alloc_pages / free_pages, Pages,
//!                   page isolation, alloc_contig_range (over migrate's driver)
//!   pcp             per-CPU page lists          | zone   buddy, pageblocks,
//!                                               |        watermarks, placement
//!   page            struct page, the vmemmap, PFN lists
//!   memblock        the boot-time memory map and allocator
//!   gfp, mmzone     GFP flags; zone types and migratetypes
//!   pgtable         the four-level walker (over hal's PteFormat / PgtableMem)
//!   asid            ASID generations and rollover (arm64 context.c's allocator)
//!   ptdump          the page-table dump's merged lines and the W^X check
//!   hal, config, addr, error    the platform traits, the shared sizes,
//!                               PhysAddr / VirtAddr / Pfn, mm::Error
//!   fmtbuf                      StackStr: formatting into a stack buffer
//! ```
//!
//! # The main types
//!
//! * [`memblock::Memblock`]: the physical memory map at boot and its
//!   allocator, until the page allocator takes over.
//! * [`page::MemMap`] over [`page::Page`]s: the descriptor array the kernel
//!   maps (unsafe to construct: the kernel vouches for the mapping).
//! * [`page_alloc::PageAllocator`]: the buddy allocator of every node and
//!   zone, with [`page_alloc::Pages`], the owning handle of a block.
//! * [`slub::Slub`] and [`slub::KmemCache`]: object caches and kmalloc.
//! * [`pgtable::PageTable`]: map, unmap and protect over any descriptor
//!   format and table memory.
//! * [`hal::Hal`]: the platform (logging, randomness, time, the linear map,
//!   page zeroing, task names), a type parameter of the allocators.
//!
//! # Boot order
//!
//! ```text
//!   Memblock::new; add memory; reserve the kernel, the device tree, ...
//!   (linear map) Memblock::allow_resize
//!   zone::ZoneLimits::compute                where the zones go
//!   CMA areas: cma::cmdline_request / cma_declare_contiguous -> memblock
//!     reserves -> CmaAreas::init_reserved_mem (also for device-tree pools)
//!   PresentSections + map the descriptors -> MemMap::new
//!   PageAllocator::new; set_cpus; add_node (each node); memmap_init
//!   build_all_zonelists; free_bootmem_range (memblock's free ranges); retire memblock
//!   init_per_zone_wmark_min; setup_pcp
//!   Slub::new; kmalloc_init
//!   each CMA pageblock: init_cma_reserved_pageblock; Cma::activate
//! ```
//!
//! # Bringing the page allocator up on the host
//!
//! 8 MiB of pretend RAM at 1 GiB, one node, one CPU; the descriptors are a
//! heap buffer standing in for the kernel's vmemmap.
//!
//! ```
//! use core::mem::MaybeUninit;
//! use core::ptr::NonNull;
//! use mm::config::{NodeId, PAGES_PER_SECTION};
//! use mm::gfp::Gfp;
//! use mm::hal::{Hal, LogLevel};
//! use mm::page::{MemMap, Page, PresentSections};
//! use mm::page_alloc::{PageAllocator, Pages, PgData};
//! use mm::{Pfn, PhysAddr};
//!
//! /// A platform whose frames have no memory behind them: nothing here asks
//! /// for zeroed pages or for slab objects, so those functions never run.
//! struct Host;
//!
//! // SAFETY: page_address and zero_pages never return or write anything
//! // (they panic), virt_to_pfn and phys_to_virt always answer None, and
//! // nothing calls back into an allocator.
//! unsafe impl Hal for Host {
//!     fn log(_: LogLevel, args: core::fmt::Arguments<'_>) {
//!         println!("{args}");
//!     }
//!     fn random() -> u64 {
//!         0x2545_f491
//!     }
//!     fn now() -> u64 {
//!         0
//!     }
//!     fn page_address(_: Pfn) -> *mut u8 {
//!         unreachable!("no slab here")
//!     }
//!     fn virt_to_pfn(_: *const u8) -> Option<Pfn> {
//!         None
//!     }
//!     fn phys_to_virt(_: PhysAddr, _: u64) -> Option<NonNull<u8>> {
//!         None
//!     }
//!     fn zero_pages(_: Pfn, _: u64) {
//!         unreachable!("nothing asks for zeroed pages")
//!     }
//! }
//!
//! let (start, end) = (Pfn(0x40000), Pfn(0x40000 + 2048));
//! let mut sections = PresentSections::new();
//! sections.add_range(start, end).unwrap();
//! // One section of descriptors, leaked: the memmap lives as long as the program.
//! let layout = std::alloc::Layout::array::<Page>(PAGES_PER_SECTION as usize).unwrap();
//! // SAFETY: the layout is not empty.
//! let descriptors = unsafe { std::alloc::alloc(layout) }.cast::<Page>();
//! assert!(!descriptors.is_null());
//! // PFN `p` of the section starting at `start` is descriptor `p - start`.
//! let base = descriptors.wrapping_sub(start.0 as usize);
//! // SAFETY: 1. every PFN of the one present section lands in the leaked,
//! // 64-byte aligned buffer; 2. nothing else uses it; 3. memmap_init writes
//! // every descriptor before any is used.
//! let map = unsafe { MemMap::new(base, sections) };
//!
//! let mut pa = PageAllocator::<Host>::new(map);
//! pa.set_cpus(&[NodeId(0)]).unwrap();
//! let empty = (Pfn(0), Pfn(0));
//! let zones = [empty, empty, (start, end), empty]; // all of it ZONE_NORMAL
//! let node: &'static mut MaybeUninit<PgData> = Box::leak(Box::new_uninit());
//! pa.add_node(NodeId(0), node, &zones, &[(start, end)]).unwrap();
//! pa.memmap_init();
//! pa.build_all_zonelists();
//! assert_eq!(pa.free_bootmem_range(start, end), 2048);
//! pa.init_per_zone_wmark_min();
//! pa.setup_pcp();
//!
//! let pages = Pages::alloc(&pa, 0, Gfp::KERNEL, 2).unwrap();
//! assert_eq!((pages.nr_pages(), pages.pfn().0 % 4), (4, 0));
//! assert_eq!(pa.nr_free_pages(), 2048 - 4);
//! drop(pages); // back to CPU 0's pcp list
//! pa.drain_all_pages();
//! assert_eq!(pa.nr_free_pages(), 2048);
//! ```
//!
//! # Public paths
//!
//! Shared names are re-exported where users found them before the crate was
//! split into folders: `mm::zone::ZoneType` (defined in [`mmzone`]),
//! `mm::memblock::NodeId` and `mm::pcp::NR_CPUS` (defined in [`config`]),
//! `mm::pgtable::PteFormat` (also `mm::hal::PteFormat`).
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod addr;
pub mod asid;
pub mod cma;
pub mod compaction;
pub mod config;
pub mod error;
pub mod fmtbuf;
pub mod gfp;
pub mod hal;
pub mod iomem;
pub mod memblock;
pub mod mempool;
pub mod migrate;
pub mod mmap;
pub mod mmzone;
pub mod page;
pub mod page_alloc;
pub mod pageblock_map;
pub mod pcp;
pub mod percpu;
pub mod pgtable;
pub mod ptdump;
pub mod report;
pub mod slub;
#[cfg(test)]
mod test_support;
pub mod vmalloc;
pub mod vmstat;
pub mod zone;

pub use addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr, VirtAddr};
pub use error::Error;
