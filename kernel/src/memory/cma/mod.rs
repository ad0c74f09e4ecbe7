//! The kernel's CMA: areas declared at boot from `cma=` and from the device
//! tree's `shared-dma-pool` nodes, handed to the page allocator as
//! MIGRATE_CMA pageblocks once it is up, and the driver-facing API on top
//! (Linux's kernel/dma/contiguous.c, the memblock half of mm/cma.c, and
//! cma_alloc/cma_release with dma_alloc_coherent).
//!
//! # Boot
//!
//! ```text
//!   memblock_init
//!     reserved_mem_init          a shared-dma-pool + reusable node placed
//!       -> rmem_cma_setup         (alignment raised to a pageblock), then
//!                                 checked here: an area, or refused and
//!                                 given back ("compatible matching fail")
//!   zones computed
//!     dma_contiguous_reserve     cma=: placed below the DMA limit (the top
//!                                 of ZONE_DMA: 1 GiB on a Pi 4), reserved
//!   page_alloc::init, Memory: line (cma-reserved = every area's pages)
//!   slab up
//!     cma_init_reserved_areas    every pageblock -> init_cma_reserved_pageblock;
//!                                 the bitmap allocated (Linux: core_initcall)
//! ```
//!
//! `reserve.rs` is the boot half (memblock only, no page allocator);
//! `api.rs` the rest.
//!
//! # The API
//!
//! [`cma_alloc`] returns a [`CmaPages`], the owning handle of the range: it
//! goes back through `cma_release` (or its drop), and nothing else can free
//! it. [`dma_alloc_coherent`] returns a [`DmaBuffer`]: from the default
//! area for more than a page when the caller may sleep (dma_alloc_contiguous),
//! else from `alloc_pages`; zeroed, freed on drop or by
//! [`dma_free_coherent`]. Addresses are the linear map's: QEMU's devices are
//! coherent, so there is no uncached remap.
//!
//! cma_alloc migrates pages and may wait, so it is refused (with a
//! `BUG: sleeping function called from invalid context` report and an
//! error) when IRQs are masked or the preemption count is raised.

#[allow(unsafe_code)] // free_contig_range of the pages a CmaPages owns
mod api;
mod reserve;

pub use api::{
    CMA_ALIGNMENT, CmaPages, DmaBuffer, cma_alloc, cma_init_reserved_areas, cma_release, debugfs, dma_alloc_coherent,
    dma_free_coherent,
};
pub use reserve::{
    areas, default_area, dma_contiguous_reserve, dma_phys_limit, rmem_cma_setup, rmem_flags, totalcma_pages,
};
