//! The sizes the whole kernel agrees on, defined once.
//!
//! These are Linux's compile-time configuration values (`CONFIG_NR_CPUS`,
//! `CONFIG_NODES_SHIFT`, `MAX_PAGE_ORDER`, `pageblock_order`,
//! `SECTION_SIZE_BITS`) for this kernel's one configuration: arm64 with the
//! 4 KiB granule. Every layer of `mm` sizes its arrays with them, and `arch`
//! and `kernel` use them from here (per-CPU areas, the vmemmap, the zone
//! placement, the self-tests) instead of keeping copies that could drift.
//!
//! Nothing here depends on anything but the page size, so every other
//! module may import this one and this one imports none of them.
//!
//! ```text
//!   CPUs     NR_CPUS = 32                   per-CPU pagesets, kmem_cache_cpu, cpu areas
//!   nodes    MAX_NUMNODES = 1 << 6          NodeId 0..64, NUMA_NO_NODE = -1
//!   zones    MAX_NR_ZONES = 4               DMA, DMA32, Normal, Movable
//!   orders   0 ..= MAX_PAGE_ORDER = 10      4 KiB .. 4 MiB buddy blocks
//!            PAGEBLOCK_ORDER = 9            2 MiB pageblocks (mobility grouping)
//!            PAGE_ALLOC_COSTLY_ORDER = 3    above it: no pcp lists, fewer retries
//!   sections SECTION_SIZE_BITS = 27         128 MiB of memory per memmap section
//! ```

use core::fmt;

use crate::addr::PAGE_SHIFT;

/// CPUs the kernel brings up and `mm` keeps per-CPU state for (CONFIG_NR_CPUS).
pub const NR_CPUS: usize = 32;

/// log2 of the number of NUMA nodes (CONFIG_NODES_SHIFT); also the width of
/// the node field in a page's flags word.
pub const NODES_SHIFT: u32 = 6;
/// Number of NUMA nodes a node id may name.
pub const MAX_NUMNODES: usize = 1 << NODES_SHIFT;

/// Number of zone types: DMA, DMA32, Normal, Movable (MAX_NR_ZONES).
pub const MAX_NR_ZONES: usize = 4;

/// Largest order the buddy allocator handles (2^10 pages = 4 MiB).
pub const MAX_PAGE_ORDER: u32 = 10;
/// Number of orders, 0 through MAX_PAGE_ORDER.
pub const NR_PAGE_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
/// Pages in a largest block.
pub const MAX_ORDER_NR_PAGES: u64 = 1 << MAX_PAGE_ORDER;
/// Order of a pageblock (2 MiB), the unit of mobility grouping (pageblock_order).
pub const PAGEBLOCK_ORDER: u32 = 9;
/// Pages per pageblock.
pub const PAGEBLOCK_NR_PAGES: u64 = 1 << PAGEBLOCK_ORDER;
/// Orders above this are "costly": not kept on pcp lists, not retried hard.
pub const PAGE_ALLOC_COSTLY_ORDER: u32 = 3;

/// log2 of a memory section's size in bytes (Linux arm64's SECTION_SIZE_BITS).
pub const SECTION_SIZE_BITS: u32 = 27;
/// log2 of the frames per section.
pub const PFN_SECTION_SHIFT: u32 = SECTION_SIZE_BITS - PAGE_SHIFT;
/// Frames per section.
pub const PAGES_PER_SECTION: u64 = 1 << PFN_SECTION_SHIFT;

const _: () = assert!(MAX_PAGE_ORDER < PFN_SECTION_SHIFT && PAGEBLOCK_ORDER <= MAX_PAGE_ORDER);

/// A NUMA node id, Linux's `int nid`.
///
/// Valid ids are `0..MAX_NUMNODES`. Two values outside that range carry
/// meaning: [`NUMA_NO_NODE`] (-1) and [`NodeId::UNSET`] (`MAX_NUMNODES`), the
/// id memblock gives memory whose node is not known yet.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct NodeId(pub i32);

/// "Any node" in a request; "no node" in a reserved region.
pub const NUMA_NO_NODE: NodeId = NodeId(-1);

impl NodeId {
    /// Node of memory added without one (memblock_add passes MAX_NUMNODES).
    pub const UNSET: NodeId = NodeId(MAX_NUMNODES as i32);

    /// Whether this names a real node (numa_valid_node).
    pub const fn is_valid(self) -> bool {
        self.0 >= 0 && (self.0 as usize) < MAX_NUMNODES
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
