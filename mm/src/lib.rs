//! Architecture-free memory management for the kernel.
//!
//! Layers only look down:
//!
//! ```text
//!   memblock  ->  page tables (generic walker over arch's descriptors)
//!             ->  page (struct page, the vmemmap) -> gfp -> zone (buddy) -> pcp
//!             ->  page_alloc (nodes, zonelists, the allocation API) -> report (/proc formats)
//!             ->  (later issues) slub, vmalloc, fault, cma
//! ```
//!
//! Everything here builds and is unit-tested on the host (`cargo test -p mm`);
//! the hardware is reached only through small traits that `arch` implements.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod addr;
pub mod config;
pub mod error;
pub mod gfp;
pub mod hal;
pub mod memblock;
pub mod mempool;
pub mod mmzone;
pub mod page;
pub mod page_alloc;
pub mod pcp;
pub mod pgtable;
pub mod report;
pub mod slub;
#[cfg(test)]
mod test_support;
pub mod zone;

pub use addr::{PAGE_SHIFT, PAGE_SIZE, Pfn, PhysAddr, VirtAddr};
pub use error::Error;
