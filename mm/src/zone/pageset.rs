//! The per-CPU pagesets each zone embeds (the data of Linux's struct
//! per_cpu_pages). The lists are run by the pcp module, which also explains
//! them; they are declared here because the zone descriptor holds one per
//! CPU, as Linux's mmzone.h declares what page_alloc.c runs.

use crate::config::PAGE_ALLOC_COSTLY_ORDER;
use crate::mmzone::MIGRATE_PCPTYPES;
use crate::page::PfnList;

/// Lists for the three pcp types of each order up to the costly order
/// (Linux's NR_LOWORDER_PCP_LISTS).
pub const NR_LOWORDER_PCP_LISTS: usize = MIGRATE_PCPTYPES * (PAGE_ALLOC_COSTLY_ORDER as usize + 1);
/// Lists for pageblock-order blocks (Linux's NR_PCP_THP): one for Movable,
/// one for Unmovable and Reclaimable together.
pub const NR_PCP_THP: usize = 2;
/// Lists per pcp.
pub const NR_PCP_LISTS: usize = NR_LOWORDER_PCP_LISTS + NR_PCP_THP;

/// Order-0 pages per pcp type kept in the array in front of the lists.
pub const PCP_HOT: usize = 8;

/// One CPU's cache of free pages for one zone (struct per_cpu_pages).
///
/// # Invariants
///
/// `count` is the number of pages (not blocks) on `lists`; list `pindex`
/// holds free blocks of order `pindex_to_order(pindex)` in this zone. `hot[mt][..hot_nr[mt]]`
/// are free order-0 pages of pcp type `mt` of this zone, on no list, most
/// recently freed last, `hot_nr[mt] <= PCP_HOT`. Only the fast free path
/// (page_alloc's fastpath) fills them, and it runs only once the pcp sizes
/// are set up (the boot pageset, high 0, stores nothing).
#[derive(Debug)]
pub struct PerCpuPages {
    pub(crate) count: u32,
    pub(crate) high: u32,
    pub(crate) batch: u32,
    pub(crate) free_factor: u8,
    pub(crate) hot_nr: [u8; MIGRATE_PCPTYPES],
    pub(crate) hot: [[u64; PCP_HOT]; MIGRATE_PCPTYPES],
    pub(crate) lists: [PfnList; NR_PCP_LISTS],
}

/// A pcp on its own cache line.
#[repr(align(64))]
pub struct PcpSlot {
    pub(crate) pcp: spin::Mutex<PerCpuPages>,
}

impl PcpSlot {
    /// The boot pageset: high 0, batch 1.
    pub(crate) const fn new() -> Self {
        Self {
            pcp: spin::Mutex::new(PerCpuPages {
                count: 0,
                high: 0,
                batch: 1,
                free_factor: 0,
                hot_nr: [0; MIGRATE_PCPTYPES],
                hot: [[0; PCP_HOT]; MIGRATE_PCPTYPES],
                lists: [PfnList::EMPTY; NR_PCP_LISTS],
            }),
        }
    }
}
