//! How fragmented a zone's free memory is (Linux's fill_contig_page_info,
//! __fragmentation_index and unusable_free_index in mm/vmstat.c), and the
//! two debugfs files that print it per zone:
//!
//! ```text
//!   /sys/kernel/debug/extfrag/unusable_index   "Node 0, zone   Normal 0.000 0.012 ..."
//!   /sys/kernel/debug/extfrag/extfrag_index    "Node 0, zone   Normal -1.000 -1.000  0.931 ..."
//! ```
//!
//! Both are in thousandths. The unusable index of an order is the share of
//! free memory in blocks too small for it. The fragmentation index of an
//! order for which no block is free says why an allocation of it fails:
//! towards 0, for want of memory; towards 1000, because the free memory
//! is in too many small pieces; -1000 when a block is free after all.

use core::fmt::{self, Write};

use crate::config::{MAX_PAGE_ORDER, NR_PAGE_ORDERS};
use crate::hal::Hal;
use crate::page_alloc::PageAllocator;
use crate::zone::Zone;

/// A zone's free blocks, seen from one order (struct contig_page_info).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct ContigPageInfo {
    /// Free pages.
    pub free_pages: u64,
    /// Free blocks of any order.
    pub free_blocks_total: u64,
    /// Blocks of the order asked about that the free blocks hold.
    pub free_blocks_suitable: u64,
}

impl ContigPageInfo {
    /// The counts from the free blocks per order `nr_free`, seen from
    /// `suitable_order` (fill_contig_page_info).
    pub fn from_nr_free(nr_free: &[u64; NR_PAGE_ORDERS], suitable_order: u32) -> Self {
        let mut info = ContigPageInfo::default();
        for (order, &blocks) in nr_free.iter().enumerate() {
            let order = order as u32;
            info.free_blocks_total += blocks;
            info.free_pages += blocks << order;
            if order >= suitable_order {
                info.free_blocks_suitable += blocks << (order - suitable_order);
            }
        }
        info
    }

    /// The counts of `zone` now (read without the zone lock, as the
    /// allocator's decisions do).
    pub fn of_zone(zone: &Zone, suitable_order: u32) -> Self {
        let nr_free = core::array::from_fn(|o| zone.nr_free(o as u32));
        Self::from_nr_free(&nr_free, suitable_order)
    }
}

/// The fragmentation index of `order` for `info`, in thousandths
/// (__fragmentation_index): 0 when there are no free blocks, -1000 when a
/// suitable block is free, otherwise `1000 - (1000 + 1000 * free_pages /
/// 2^order) / free_blocks_total`.
pub const fn fragmentation_index_of(order: u32, info: &ContigPageInfo) -> i32 {
    if order > MAX_PAGE_ORDER || info.free_blocks_total == 0 {
        return 0;
    }
    if info.free_blocks_suitable != 0 {
        return -1000;
    }
    let requested = 1u64 << order;
    1000 - ((1000 + info.free_pages * 1000 / requested) / info.free_blocks_total) as i32
}

/// The fragmentation index of `order` in `zone` (fragmentation_index).
pub fn fragmentation_index(zone: &Zone, order: u32) -> i32 {
    fragmentation_index_of(order, &ContigPageInfo::of_zone(zone, order))
}

/// The share of free memory, in thousandths, that cannot serve an
/// allocation of `order` (unusable_free_index); 0 with no free memory.
pub const fn unusable_free_index(order: u32, info: &ContigPageInfo) -> u64 {
    if info.free_pages == 0 {
        return 0;
    }
    (info.free_pages - (info.free_blocks_suitable << order)) * 1000 / info.free_pages
}

/// Every populated zone with its node id, and a consistent copy of its
/// free block counts (walk_zones_in_node with the zone lock).
fn for_each_populated_zone<H: Hal>(
    pa: &PageAllocator<H>,
    mut f: impl FnMut(i32, &Zone, &[u64; NR_PAGE_ORDERS]) -> fmt::Result,
) -> fmt::Result {
    for pgdat in pa.online_nodes() {
        for zone in pgdat.zones().iter().filter(|z| z.is_populated()) {
            let snap = zone.free_snapshot();
            f(pgdat.node_id().0, zone, &snap.nr_free)?;
        }
    }
    Ok(())
}

/// `/sys/kernel/debug/extfrag/unusable_index`.
pub fn unusable_index_show<H: Hal>(pa: &PageAllocator<H>, out: &mut impl Write) -> fmt::Result {
    for_each_populated_zone(pa, |nid, zone, nr_free| {
        write!(out, "Node {nid}, zone {:>8} ", zone.name())?;
        for order in 0..NR_PAGE_ORDERS as u32 {
            let index = unusable_free_index(order, &ContigPageInfo::from_nr_free(nr_free, order));
            write!(out, "{}.{:03} ", index / 1000, index % 1000)?;
        }
        out.write_char('\n')
    })
}

/// `/sys/kernel/debug/extfrag/extfrag_index`.
pub fn extfrag_index_show<H: Hal>(pa: &PageAllocator<H>, out: &mut impl Write) -> fmt::Result {
    for_each_populated_zone(pa, |nid, zone, nr_free| {
        write!(out, "Node {nid}, zone {:>8} ", zone.name())?;
        for order in 0..NR_PAGE_ORDERS as u32 {
            let index = fragmentation_index_of(order, &ContigPageInfo::from_nr_free(nr_free, order));
            // C's truncating division: -1000 prints as "-1.000".
            write!(out, "{:2}.{:03} ", index / 1000, index % 1000)?;
        }
        out.write_char('\n')
    })
}
