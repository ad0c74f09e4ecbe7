//! struct page and the vmemmap: one 64-byte descriptor per page frame.
//!
//! Every page frame the allocator manages has a [`Page`] descriptor, and
//! the descriptors form one virtual array indexed by PFN (Linux's
//! CONFIG_SPARSEMEM_VMEMMAP): `pfn_to_page(pfn)` is `base + pfn`, and
//! `page_to_pfn(page)` the difference, both without a lookup. The kernel
//! maps that array; this module only ever sees its base pointer.
//!
//! # The descriptor
//!
//! ```text
//!   offset  field          meaning
//!   0       flags          PG_* bits low, pageblock migratetype, zone and node high
//!   8       _refcount      references; 0 = free (in the buddy or a pcp list)
//!   12      _mapcount      page-table mappings, biased by -1 (-1 = unmapped)
//!   16      private        buddy order while PG_buddy; owner's word otherwise
//!   24      lru.next  }    free-list and pcp-list links, as PFNs (u64::MAX = none)
//!   32      lru.prev  }
//!   40      mapping        owner's (address_space, anon_vma; TAIL_MAPPING in tails)
//!   48      index          owner's (page offset)
//!   56      compound_head  tail pages: head PFN << 1 | 1; 0 otherwise
//! ```
//!
//! Every field is an atomic, so `&Page` is `Sync` and a descriptor can be
//! read by one CPU while another owns the page. Where a lock already orders
//! the accesses (the zone lock for the buddy fields, a pcp lock for pcp
//! links) the accesses are `Relaxed`, which on arm64 are plain loads and
//! stores. Flags are only ever changed with read-modify-write atomics
//! (`fetch_or`, `fetch_and`, compare-exchange), because the owner of a page
//! and the allocator (setting a pageblock's migratetype under the zone
//! lock) may update different bits of the same word at the same time.
//!
//! # The flags word
//!
//! ```text
//!   63      58 57 56 55 54   52 51 50 48 47           24 23              0
//!   [ node   ][zone][ 0 ][ saved ][0][ pb mt ][      0      ][ PG_* flags      ]
//! ```
//!
//! * The low bits are [`PageFlags`], Linux's `enum pageflags` in its current
//!   order, plus `SLAB` and `BUDDY`. Linux now keeps "slab" and "buddy" in
//!   `page_type`, a word we do not have; as flags they behave the same for
//!   the allocator (set and cleared only by their owner) and are checked at
//!   free time like the other owner flags.
//! * node (6 bits, `MAX_NUMNODES` = 64) and zone (2 bits) sit at the top as
//!   in Linux's `set_page_links`, so `page_zonenum` and "same node and zone"
//!   (the buddy check) are a shift and a compare.
//! * Pageblock migratetype: the 3 bits at 48 of the *first page of each
//!   pageblock* hold that pageblock's [`MigrateType`](crate::mmzone::MigrateType) (Linux keeps a separate
//!   `pageblock_flags` bitmap per section; keeping it in the descriptor
//!   array costs no memory and no extra pointer for the kernel to provide).
//!   Those bits are written only under the zone lock (or at memmap init) with
//!   a compare-exchange, and never by the page's owner.
//! * Saved migratetype: while a pageblock is ISOLATE, the 3 bits at 52 of
//!   its first page hold the type it had before plus one (0: none), so that
//!   undoing the isolation gives it back (Linux 6.16 keeps a separate
//!   PB_migrate_isolate bit instead, leaving the type bits alone). Written
//!   under the zone lock like the type.
//!
//! # The vmemmap and pfn_valid
//!
//! Memory is divided into sections of 2^27 bytes (Linux arm64's
//! `SECTION_SIZE_BITS`). The kernel maps descriptors for *every frame of every
//! section that contains memory* (32768 descriptors, 2 MiB, per section) and
//! nothing for sections without memory. [`PresentSections`] records which
//! sections are present (a bitmap over a window of [`MAX_PRESENT_SECTIONS`]
//! sections, 1 TiB, starting at the first present one), and
//! [`MemMap::pfn_valid`] is one bit test.
//!
//! Because presence is per section and a section (2^15 pages) is larger than
//! the largest buddy block (2^10) and a pageblock (2^9), every PFN computed
//! *inside* a block from a valid PFN, the buddy `pfn ^ (1 << order)`, the
//! pageblock start, a tail page, lies in the same section and is therefore
//! valid. `ValidPfn` captures this: it can only be made by a checked lookup
//! or by bit operations below the section shift of another `ValidPfn`, so
//! descriptor access through it needs no check on the hot paths.
//!
//! # Free lists
//!
//! `PfnList` is an intrusive doubly linked list threaded through the
//! descriptors' `lru` words, as PFNs. The buddy free lists and the pcp lists
//! are `PfnList`s. The `lru` words are private to this module and only ever
//! hold a valid PFN or [`NONE_PFN`]: memmap init writes `NONE_PFN`, and only
//! `PfnList` writes them afterwards, always from a `ValidPfn`. That is what
//! makes following a link safe.
//!
//! # Initialisation
//!
//! [`MemMap::memmap_init_range`] is Linux's `__init_single_page` over a PFN
//! range: each descriptor is overwritten with a whole new value (reserved,
//! `_refcount` 1, `_mapcount` -1, node and zone links, lists empty, and the
//! pageblock migratetype Movable at each pageblock start, as
//! `memmap_init_range` does), one 64-byte store per page with no other work,
//! so its cost is a small multiple of a memset over the descriptors.

mod list;
mod memmap;
mod struct_page;
#[cfg(test)]
mod tests;

pub use crate::config::{NODES_SHIFT, PAGES_PER_SECTION, PFN_SECTION_SHIFT, SECTION_SIZE_BITS};
pub(crate) use list::PfnList;
pub(crate) use memmap::ValidPfn;
pub use memmap::{MAX_PRESENT_SECTIONS, MemMap, PresentSections};
pub(crate) use struct_page::PutResult;
pub use struct_page::{
    NODES_PGSHIFT, NONE_PFN, NR_PAGEFLAGS, PAGEFLAGS_MASK, PB_MIGRATETYPE_SHIFT, Page, PageFlags, PageFlagsDisplay,
    TAIL_MAPPING, ZONEID_PGSHIFT, ZONES_PGSHIFT, ZONES_SHIFT,
};
