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
//!   63      58 57 56 55   51  50 48 47           24 23              0
//!   [ node   ][zone][ 0  ][ pb mt ][      0      ][ PG_* flags      ]
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
//!   pageblock* hold that pageblock's [`MigrateType`] (Linux keeps a separate
//!   `pageblock_flags` bitmap per section; keeping it in the descriptor
//!   array costs no memory and no extra pointer for the kernel to provide).
//!   Those bits are written only under the zone lock (or at memmap init) with
//!   a compare-exchange, and never by the page's owner.
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

use core::fmt;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

use bitflags::bitflags;

use crate::addr::{PAGE_SHIFT, Pfn};
use crate::error::Error;
use crate::memblock::{MAX_NUMNODES, NodeId};
use crate::zone::{MAX_PAGE_ORDER, MigrateType, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, ZoneType};

/// log2 of a memory section's size in bytes (Linux arm64).
pub const SECTION_SIZE_BITS: u32 = 27;
/// log2 of the frames per section.
pub const PFN_SECTION_SHIFT: u32 = SECTION_SIZE_BITS - PAGE_SHIFT;
/// Frames per section.
pub const PAGES_PER_SECTION: u64 = 1 << PFN_SECTION_SHIFT;
/// Sections the presence bitmap can describe, from the first present one (1 TiB).
pub const MAX_PRESENT_SECTIONS: usize = 8192;
/// The "no page" value of a list link.
pub const NONE_PFN: u64 = u64::MAX;
/// `mapping` of a compound tail page (Linux's TAIL_MAPPING without the poison delta).
pub const TAIL_MAPPING: u64 = 0x400;

/// Mask of the PFN bits that name the section.
const PFN_SECTION_MASK: u64 = !(PAGES_PER_SECTION - 1);

const _: () = assert!(MAX_PAGE_ORDER < PFN_SECTION_SHIFT && PAGEBLOCK_ORDER <= MAX_PAGE_ORDER);

bitflags! {
    /// The PG_* bits of [`Page`]'s flags word (Linux's enum pageflags).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct PageFlags: u64 {
        /// Locked for I/O or another exclusive use.
        const LOCKED = 1 << 0;
        /// Under writeback.
        const WRITEBACK = 1 << 1;
        /// Recently referenced.
        const REFERENCED = 1 << 2;
        /// Contents valid.
        const UPTODATE = 1 << 3;
        /// Contents must be written back.
        const DIRTY = 1 << 4;
        /// On an LRU list.
        const LRU = 1 << 5;
        /// First page of a compound page.
        const HEAD = 1 << 6;
        /// Someone waits on the page lock.
        const WAITERS = 1 << 7;
        /// On the active LRU.
        const ACTIVE = 1 << 8;
        /// Part of the working set.
        const WORKINGSET = 1 << 9;
        /// Owner's use.
        const OWNER_PRIV_1 = 1 << 10;
        /// Owner's use.
        const OWNER_2 = 1 << 11;
        /// Architecture's use.
        const ARCH_1 = 1 << 12;
        /// Never given to the page allocator (memblock-reserved, holes).
        const RESERVED = 1 << 13;
        /// `private` holds owner data.
        const PRIVATE = 1 << 14;
        /// Owner's second private bit.
        const PRIVATE_2 = 1 << 15;
        /// To be reclaimed as soon as possible.
        const RECLAIM = 1 << 16;
        /// Backed by swap.
        const SWAPBACKED = 1 << 17;
        /// Not evictable.
        const UNEVICTABLE = 1 << 18;
        /// Drop after I/O.
        const DROPBEHIND = 1 << 19;
        /// mlocked by a VMA.
        const MLOCKED = 1 << 20;
        /// Hardware-corrupted: never hand out.
        const HWPOISON = 1 << 21;
        /// Owned by the slab allocator (Linux: page_type).
        const SLAB = 1 << 22;
        /// Head of a free block in the buddy allocator; `private` is its order (Linux: page_type).
        const BUDDY = 1 << 23;
    }
}

/// Number of PG_* bits.
pub const NR_PAGEFLAGS: u32 = 24;
/// All PG_* bits.
pub const PAGEFLAGS_MASK: u64 = (1 << NR_PAGEFLAGS) - 1;

impl PageFlags {
    /// Flags that must be clear when a page is freed (Linux's PAGE_FLAGS_CHECK_AT_FREE).
    pub const CHECK_AT_FREE: PageFlags = PageFlags::LRU
        .union(PageFlags::LOCKED)
        .union(PageFlags::PRIVATE)
        .union(PageFlags::PRIVATE_2)
        .union(PageFlags::WRITEBACK)
        .union(PageFlags::RESERVED)
        .union(PageFlags::ACTIVE)
        .union(PageFlags::UNEVICTABLE)
        .union(PageFlags::MLOCKED)
        .union(PageFlags::SLAB)
        .union(PageFlags::BUDDY);
    /// Flags that must be clear when a page is handed out (Linux's PAGE_FLAGS_CHECK_AT_PREP).
    pub const CHECK_AT_PREP: PageFlags = PageFlags::all().difference(PageFlags::HWPOISON);
    /// Flags only the allocator may change; [`Page::set_flags`] refuses them.
    pub const ALLOCATOR_OWNED: PageFlags = PageFlags::BUDDY.union(PageFlags::HEAD).union(PageFlags::RESERVED);
}

/// Names in Linux's `%pGp` order.
const PAGEFLAG_NAMES: &[(PageFlags, &str)] = &[
    (PageFlags::LOCKED, "locked"),
    (PageFlags::WAITERS, "waiters"),
    (PageFlags::REFERENCED, "referenced"),
    (PageFlags::UPTODATE, "uptodate"),
    (PageFlags::DIRTY, "dirty"),
    (PageFlags::LRU, "lru"),
    (PageFlags::ACTIVE, "active"),
    (PageFlags::WORKINGSET, "workingset"),
    (PageFlags::OWNER_PRIV_1, "owner_priv_1"),
    (PageFlags::OWNER_2, "owner_2"),
    (PageFlags::ARCH_1, "arch_1"),
    (PageFlags::RESERVED, "reserved"),
    (PageFlags::PRIVATE, "private"),
    (PageFlags::PRIVATE_2, "private_2"),
    (PageFlags::WRITEBACK, "writeback"),
    (PageFlags::HEAD, "head"),
    (PageFlags::RECLAIM, "reclaim"),
    (PageFlags::SWAPBACKED, "swapbacked"),
    (PageFlags::UNEVICTABLE, "unevictable"),
    (PageFlags::DROPBEHIND, "dropbehind"),
    (PageFlags::MLOCKED, "mlocked"),
    (PageFlags::HWPOISON, "hwpoison"),
    (PageFlags::SLAB, "slab"),
    (PageFlags::BUDDY, "buddy"),
];

/// Bits of the node id in the flags word.
pub const NODES_SHIFT: u32 = 6;
/// Bits of the zone number in the flags word.
pub const ZONES_SHIFT: u32 = 2;
/// Where the node id starts.
pub const NODES_PGSHIFT: u32 = 64 - NODES_SHIFT;
/// Where the zone number starts.
pub const ZONES_PGSHIFT: u32 = NODES_PGSHIFT - ZONES_SHIFT;
/// Where node and zone together (the zone id) start.
pub const ZONEID_PGSHIFT: u32 = ZONES_PGSHIFT;
/// Where a pageblock's migratetype starts (first page of the pageblock only).
pub const PB_MIGRATETYPE_SHIFT: u32 = 48;
const PB_MIGRATETYPE_MASK: u64 = 0x7 << PB_MIGRATETYPE_SHIFT;
const LINKS_MASK: u64 = !0 << ZONES_PGSHIFT;

const _: () = assert!(1 << NODES_SHIFT == MAX_NUMNODES && PB_MIGRATETYPE_SHIFT + 3 <= ZONES_PGSHIFT);

/// The node and zone bits of a flags word.
const fn page_links(zone: ZoneType, nid: NodeId) -> u64 {
    ((nid.0 as u64 & ((1 << NODES_SHIFT) - 1)) << NODES_PGSHIFT) | ((zone as u64) << ZONES_PGSHIFT)
}

/// A page descriptor (Linux's struct page).
///
/// See the module documentation for the layout. `&Page` is `Sync`; the
/// fields the allocator depends on (links, buddy state) are private to the
/// `mm` crate, the owner's fields have accessors.
#[repr(C, align(64))]
pub struct Page {
    flags: AtomicU64,
    refcount: AtomicI32,
    mapcount: AtomicI32,
    private: AtomicU64,
    lru_next: AtomicU64,
    lru_prev: AtomicU64,
    mapping: AtomicU64,
    index: AtomicU64,
    compound_head: AtomicU64,
}

const _: () = assert!(core::mem::size_of::<Page>() == 64 && core::mem::align_of::<Page>() == 64);

/// What [`Page::put_page_testzero`] found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PutResult {
    /// The last reference went away: free the page.
    Zero,
    /// References remain.
    Held,
    /// The count was already zero or below (a double free); it is left as it was.
    Underflow,
}

impl Page {
    /// The descriptor __init_single_page leaves: reserved, one reference, unmapped.
    const fn initial(links: u64) -> Page {
        Page {
            flags: AtomicU64::new(links | PageFlags::RESERVED.bits()),
            refcount: AtomicI32::new(1),
            mapcount: AtomicI32::new(-1),
            private: AtomicU64::new(0),
            lru_next: AtomicU64::new(NONE_PFN),
            lru_prev: AtomicU64::new(NONE_PFN),
            mapping: AtomicU64::new(0),
            index: AtomicU64::new(0),
            compound_head: AtomicU64::new(0),
        }
    }

    /// The raw flags word (PG bits, pageblock bits, zone and node).
    #[inline]
    pub fn raw_flags(&self) -> u64 {
        self.flags.load(Relaxed)
    }

    /// The PG_* bits.
    #[inline]
    pub fn flags(&self) -> PageFlags {
        PageFlags::from_bits_truncate(self.raw_flags())
    }

    /// Whether all of `flags` are set.
    #[inline]
    pub fn test_flags(&self, flags: PageFlags) -> bool {
        self.raw_flags() & flags.bits() == flags.bits()
    }

    /// Set owner flags (SetPageFoo). The allocator's own flags
    /// ([`PageFlags::ALLOCATOR_OWNED`]) are not settable this way and are
    /// ignored.
    pub fn set_flags(&self, flags: PageFlags) {
        self.flags.fetch_or(flags.difference(PageFlags::ALLOCATOR_OWNED).bits(), Relaxed);
    }

    /// Clear owner flags (ClearPageFoo); allocator-owned flags are ignored.
    pub fn clear_flags(&self, flags: PageFlags) {
        self.flags.fetch_and(!flags.difference(PageFlags::ALLOCATOR_OWNED).bits(), Relaxed);
    }

    #[inline]
    pub(crate) fn set_flags_internal(&self, flags: PageFlags) {
        self.flags.fetch_or(flags.bits(), Relaxed);
    }

    #[inline]
    pub(crate) fn clear_flags_internal(&self, flags: PageFlags) {
        self.flags.fetch_and(!flags.bits(), Relaxed);
    }

    /// The node the page belongs to (page_to_nid).
    #[inline]
    pub fn node(&self) -> NodeId {
        NodeId((self.raw_flags() >> NODES_PGSHIFT) as i32)
    }

    /// The zone the page belongs to (page_zonenum).
    #[inline]
    pub fn zone_type(&self) -> ZoneType {
        ZoneType::from_index(((self.raw_flags() >> ZONES_PGSHIFT) & ((1 << ZONES_SHIFT) - 1)) as usize)
    }

    /// Node and zone as one number (page_zone_id): equal ids, same zone.
    #[inline]
    pub(crate) fn zone_id(&self) -> u64 {
        self.raw_flags() >> ZONEID_PGSHIFT
    }

    /// Record the page's zone and node (set_page_links).
    pub fn set_page_links(&self, zone: ZoneType, nid: NodeId) {
        let links = page_links(zone, nid);
        let _ = self.flags.fetch_update(Relaxed, Relaxed, |f| Some((f & !LINKS_MASK) | links));
    }

    /// References held (page_ref_count).
    #[inline]
    pub fn page_ref_count(&self) -> i32 {
        self.refcount.load(Relaxed)
    }

    /// Take a reference (get_page). The caller must already hold one.
    pub fn get_page(&self) {
        self.refcount.fetch_add(1, Relaxed);
    }

    #[inline]
    pub(crate) fn set_page_count(&self, count: i32) {
        self.refcount.store(count, Relaxed);
    }

    /// Drop a reference (put_page_testzero). Release ordering so that the
    /// owner's last writes happen before whoever reuses the page.
    #[inline]
    pub(crate) fn put_page_testzero(&self) -> PutResult {
        match self.refcount.fetch_sub(1, core::sync::atomic::Ordering::Release) {
            1 => {
                core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
                PutResult::Zero
            }
            n if n > 1 => PutResult::Held,
            _ => {
                self.refcount.fetch_add(1, Relaxed);
                PutResult::Underflow
            }
        }
    }

    /// Page-table mappings (page_mapcount): the stored count plus one.
    #[inline]
    pub fn page_mapcount(&self) -> i32 {
        self.mapcount.load(Relaxed) + 1
    }

    /// The raw, -1-biased `_mapcount`.
    #[inline]
    pub fn raw_mapcount(&self) -> i32 {
        self.mapcount.load(Relaxed)
    }

    /// Set the raw, -1-biased `_mapcount` (for the mapping code of later issues).
    pub fn set_raw_mapcount(&self, value: i32) {
        self.mapcount.store(value, Relaxed);
    }

    /// The owner's `mapping` word (0 = NULL).
    #[inline]
    pub fn mapping(&self) -> u64 {
        self.mapping.load(Relaxed)
    }

    /// Set the `mapping` word.
    pub fn set_mapping(&self, mapping: u64) {
        self.mapping.store(mapping, Relaxed);
    }

    /// The owner's `index` word.
    #[inline]
    pub fn index(&self) -> u64 {
        self.index.load(Relaxed)
    }

    /// Set the `index` word.
    pub fn set_index(&self, index: u64) {
        self.index.store(index, Relaxed);
    }

    /// The `private` word (the buddy order while [`PageFlags::BUDDY`] is set).
    #[inline]
    pub fn private(&self) -> u64 {
        self.private.load(Relaxed)
    }

    /// Set the `private` word. Ignored while the page is a free buddy block.
    pub fn set_private(&self, private: u64) {
        if !self.test_flags(PageFlags::BUDDY) {
            self.private.store(private, Relaxed);
        }
    }

    #[inline]
    pub(crate) fn set_private_internal(&self, private: u64) {
        self.private.store(private, Relaxed);
    }

    /// Order of the free block this page heads (buddy_order); only
    /// meaningful with [`PageFlags::BUDDY`]. Never above `MAX_PAGE_ORDER`.
    #[inline]
    pub(crate) fn buddy_order(&self) -> u32 {
        self.private().min(MAX_PAGE_ORDER as u64) as u32
    }

    /// First page of a compound page (PageHead).
    #[inline]
    pub fn is_head(&self) -> bool {
        self.test_flags(PageFlags::HEAD)
    }

    /// Tail page of a compound page (PageTail).
    #[inline]
    pub fn is_tail(&self) -> bool {
        self.compound_head.load(Relaxed) & 1 != 0
    }

    /// For a tail page, the head's PFN (compound_head).
    #[inline]
    pub fn compound_head(&self) -> Option<Pfn> {
        let word = self.compound_head.load(Relaxed);
        (word & 1 != 0).then_some(Pfn(word >> 1))
    }

    #[inline]
    pub(crate) fn set_compound_head(&self, head: u64) {
        self.compound_head.store(head << 1 | 1, Relaxed);
    }

    #[inline]
    pub(crate) fn clear_compound_head(&self) {
        self.compound_head.store(0, Relaxed);
    }

    /// Whether the page is exactly as the allocator expects a free page
    /// (page_expected_state): unmapped, no mapping, no references, none of
    /// `check` set.
    #[inline]
    pub(crate) fn expected_state(&self, check: PageFlags) -> bool {
        self.mapcount.load(Relaxed) == -1
            && (self.mapping.load(Relaxed) | self.refcount.load(Relaxed) as u64 | (self.raw_flags() & check.bits()))
                == 0
    }

    /// Why the page is not in the expected state (page_bad_reason); the
    /// last matching check wins, as in Linux.
    pub(crate) fn bad_reason(&self, check: PageFlags, at_prep: bool) -> &'static str {
        let mut reason = "unknown";
        if self.mapcount.load(Relaxed) != -1 {
            reason = "nonzero mapcount";
        }
        if self.mapping.load(Relaxed) != 0 {
            reason = "non-NULL mapping";
        }
        if self.refcount.load(Relaxed) != 0 {
            reason = "nonzero _refcount";
        }
        if self.raw_flags() & check.bits() != 0 {
            reason = if at_prep { "PAGE_FLAGS_CHECK_AT_PREP flag(s) set" } else { "PAGE_FLAGS_CHECK_AT_FREE flag set" };
        }
        reason
    }
}

/// Prints Linux's `%pGp` of a flags word: `0x...(referenced|reserved|node=0|zone=2)`.
pub struct PageFlagsDisplay(pub u64);

impl fmt::Display for PageFlagsDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}(", self.0)?;
        let pg = PageFlags::from_bits_truncate(self.0);
        for &(flag, name) in PAGEFLAG_NAMES {
            if pg.contains(flag) {
                write!(f, "{name}|")?;
            }
        }
        write!(f, "node={}|zone={})", self.0 >> NODES_PGSHIFT, (self.0 >> ZONES_PGSHIFT) & ((1 << ZONES_SHIFT) - 1))
    }
}

/// Which memory sections exist (have descriptors).
///
/// # Invariants
///
/// When `base` is not `u64::MAX`, bit `i` of `bits` set means section
/// `base + i` is present, for `i < MAX_PRESENT_SECTIONS`; no other section
/// is present.
#[derive(Clone)]
pub struct PresentSections {
    base: u64,
    bits: [u64; MAX_PRESENT_SECTIONS / 64],
}

impl Default for PresentSections {
    fn default() -> Self {
        Self::new()
    }
}

impl PresentSections {
    /// No sections.
    pub const fn new() -> Self {
        Self { base: u64::MAX, bits: [0; MAX_PRESENT_SECTIONS / 64] }
    }

    /// Mark every section that `[start, end)` touches present. Ranges must
    /// come in ascending order of their first section (memblock's order) and
    /// all lie within [`MAX_PRESENT_SECTIONS`] sections of the first one;
    /// otherwise nothing changes and `InvalidArgument` is returned.
    pub fn add_range(&mut self, start: Pfn, end: Pfn) -> Result<(), Error> {
        if start.0 >= end.0 {
            return Ok(());
        }
        let first = start.0 >> PFN_SECTION_SHIFT;
        let last = (end.0 - 1) >> PFN_SECTION_SHIFT;
        let base = if self.base == u64::MAX { first } else { self.base };
        if first < base || last - base >= MAX_PRESENT_SECTIONS as u64 {
            return Err(Error::InvalidArgument);
        }
        self.base = base;
        for s in first..=last {
            let i = (s - base) as usize;
            self.bits[i / 64] |= 1 << (i % 64);
        }
        Ok(())
    }

    /// Whether section number `section` is present.
    #[inline]
    pub fn section_present(&self, section: u64) -> bool {
        let i = section.wrapping_sub(self.base);
        i < MAX_PRESENT_SECTIONS as u64 && self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    /// Whether the section holding `pfn` is present.
    #[inline]
    pub fn pfn_present(&self, pfn: u64) -> bool {
        self.section_present(pfn >> PFN_SECTION_SHIFT)
    }

    /// Number of present sections.
    #[inline]
    pub fn nr_present(&self) -> usize {
        self.bits.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// Maximal runs of present sections, as PFN ranges, in ascending order.
    pub fn ranges(&self) -> impl Iterator<Item = (Pfn, Pfn)> + '_ {
        let mut i = 0usize;
        core::iter::from_fn(move || {
            if self.base == u64::MAX {
                return None;
            }
            let present = |i: usize| self.bits[i / 64] & (1 << (i % 64)) != 0;
            while i < MAX_PRESENT_SECTIONS && !present(i) {
                i += 1;
            }
            if i == MAX_PRESENT_SECTIONS {
                return None;
            }
            let start = i;
            while i < MAX_PRESENT_SECTIONS && present(i) {
                i += 1;
            }
            let s = (self.base + start as u64) << PFN_SECTION_SHIFT;
            let e = (self.base + i as u64) << PFN_SECTION_SHIFT;
            Some((Pfn(s), Pfn(e)))
        })
    }
}

/// A PFN whose descriptor is known to exist.
///
/// # Invariants
///
/// The PFN lies in a section present in the [`MemMap`] that issued it (or
/// that issued the `ValidPfn` it was derived from). Derivation only changes
/// bits below [`PFN_SECTION_SHIFT`], so it cannot leave the section.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) struct ValidPfn(u64);

impl ValidPfn {
    /// The raw PFN.
    #[inline]
    pub(crate) const fn get(self) -> u64 {
        self.0
    }

    /// The PFN with `self`'s section bits and `pfn`'s bits below them.
    #[inline]
    pub(crate) const fn same_section(self, pfn: u64) -> ValidPfn {
        ValidPfn((self.0 & PFN_SECTION_MASK) | (pfn & !PFN_SECTION_MASK))
    }

    /// The buddy at `order` (`pfn ^ (1 << order)`, __find_buddy_pfn).
    #[inline]
    pub(crate) const fn buddy(self, order: u32) -> ValidPfn {
        self.same_section(self.0 ^ (1 << (order & 15)))
    }

    /// The first PFN of the enclosing `2^order` block.
    #[inline]
    pub(crate) const fn block_start(self, order: u32) -> ValidPfn {
        self.same_section(self.0 & !((1 << (order & 15)) - 1))
    }

    /// The first PFN of the enclosing pageblock.
    #[inline]
    pub(crate) const fn pageblock_start(self) -> ValidPfn {
        self.same_section(self.0 & !(PAGEBLOCK_NR_PAGES - 1))
    }

    /// `self + nr`, which the caller knows stays inside the section (a page
    /// of the same aligned block).
    #[inline]
    pub(crate) fn add(self, nr: u64) -> ValidPfn {
        debug_assert_eq!((self.0 + nr) & PFN_SECTION_MASK, self.0 & PFN_SECTION_MASK);
        self.same_section(self.0.wrapping_add(nr))
    }
}

/// The vmemmap: the descriptor array, as the kernel mapped it.
///
/// # Invariants
///
/// For every PFN in a section present in `sections`, `base.wrapping_add(pfn)`
/// points to a `Page` that is valid for reads and writes for as long as this
/// `MemMap` lives and is accessed by nobody except through this `MemMap`.
pub struct MemMap {
    base: *mut Page,
    sections: PresentSections,
    #[cfg(test)]
    _arena: Vec<Page>,
}

// SAFETY: a MemMap only hands out `&Page`, whose fields are all atomics, and
// writes whole descriptors only through `&mut self`; the raw pointer is just
// the array's address.
unsafe impl Send for MemMap {}
// SAFETY: as above; shared access yields `&Page` only, and `Page` is `Sync`.
unsafe impl Sync for MemMap {}

impl MemMap {
    /// Wrap the kernel's vmemmap.
    ///
    /// `base` is the address where PFN 0's descriptor would be (it need not
    /// be mapped); `sections` says which sections have descriptors.
    ///
    /// # Safety
    ///
    /// 1. For every PFN in a section present in `sections`, the 64 bytes at
    ///    `base.wrapping_add(pfn)` are mapped, readable, writable and 64-byte
    ///    aligned, for the rest of the kernel's life.
    /// 2. Nothing else reads or writes those descriptors except through the
    ///    returned `MemMap` (and references it hands out).
    /// 3. The descriptors' contents may be anything until
    ///    [`MemMap::memmap_init_range`] (or the page allocator's `memmap_init`)
    ///    has covered them; nothing may use them as pages before that.
    pub unsafe fn new(base: *mut Page, sections: PresentSections) -> Self {
        Self {
            base,
            sections,
            #[cfg(test)]
            _arena: Vec::new(),
        }
    }

    /// A host-test vmemmap: a `Vec<Page>` with descriptors for every section
    /// touched by `ranges` (PFN ranges, ascending), set up as memmap init
    /// would leave unowned memory (reserved, no zone).
    #[cfg(test)]
    pub(crate) fn new_arena(ranges: &[(u64, u64)]) -> Self {
        let mut sections = PresentSections::new();
        for &(s, e) in ranges {
            sections.add_range(Pfn(s), Pfn(e)).unwrap();
        }
        let first = ranges.iter().map(|r| r.0).min().unwrap() & PFN_SECTION_MASK;
        let last = ranges.iter().map(|r| r.1).max().unwrap().next_multiple_of(PAGES_PER_SECTION);
        let mut arena: Vec<Page> = (first..last).map(|_| Page::initial(0)).collect();
        let base = arena.as_mut_ptr().wrapping_sub(first as usize);
        Self { base, sections, _arena: arena }
    }

    /// The present sections.
    #[inline]
    pub fn sections(&self) -> &PresentSections {
        &self.sections
    }

    /// Whether `pfn` has a descriptor (pfn_valid).
    #[inline]
    pub fn pfn_valid(&self, pfn: Pfn) -> bool {
        self.sections.pfn_present(pfn.0)
    }

    #[inline]
    pub(crate) fn valid(&self, pfn: u64) -> Option<ValidPfn> {
        self.sections.pfn_present(pfn).then_some(ValidPfn(pfn))
    }

    /// The descriptor of `pfn`, if it has one (pfn_to_page).
    #[inline]
    pub fn pfn_to_page(&self, pfn: Pfn) -> Option<&Page> {
        self.valid(pfn.0).map(|v| self.page(v))
    }

    /// The PFN of a descriptor obtained from this map (page_to_pfn).
    #[inline]
    pub fn page_to_pfn(&self, page: &Page) -> Pfn {
        let offset = (page as *const Page as usize).wrapping_sub(self.base as usize);
        Pfn((offset / core::mem::size_of::<Page>()) as u64)
    }

    /// The descriptor of a known-valid PFN.
    #[inline]
    pub(crate) fn page(&self, pfn: ValidPfn) -> &Page {
        // SAFETY: ValidPfn's invariant puts `pfn` in a present section of this
        // map, and the MemMap invariant makes that descriptor valid for reads
        // for as long as `self` lives; `Page` is all atomics, so a shared
        // reference is fine whatever else holds one.
        unsafe { &*self.base.wrapping_add(pfn.0 as usize) }
    }

    /// The migratetype of the pageblock holding `pfn` (get_pageblock_migratetype).
    #[inline]
    pub(crate) fn get_pageblock_migratetype(&self, pfn: ValidPfn) -> MigrateType {
        let flags = self.page(pfn.pageblock_start()).raw_flags();
        MigrateType::from_index(((flags & PB_MIGRATETYPE_MASK) >> PB_MIGRATETYPE_SHIFT) as usize)
    }

    /// Set the migratetype of the pageblock holding `pfn`
    /// (set_pageblock_migratetype). Callers hold the zone lock.
    pub(crate) fn set_pageblock_migratetype(&self, pfn: ValidPfn, mt: MigrateType) {
        let page = self.page(pfn.pageblock_start());
        let bits = (mt as u64) << PB_MIGRATETYPE_SHIFT;
        let _ = page.flags.fetch_update(Relaxed, Relaxed, |f| Some((f & !PB_MIGRATETYPE_MASK) | bits));
    }

    /// Initialise the descriptors of `[start, end)` for zone `zone` of node
    /// `nid` (memmap_init_range and __init_single_page): reserved, one
    /// reference, unmapped, no list links, and each pageblock Movable. PFNs
    /// without descriptors are skipped. Returns the number initialised.
    pub fn memmap_init_range(&mut self, start: Pfn, end: Pfn, nid: NodeId, zone: ZoneType) -> u64 {
        let links = page_links(zone, nid);
        let block_start = links | ((MigrateType::Movable as u64) << PB_MIGRATETYPE_SHIFT);
        let mut done = 0;
        let mut pfn = start.0;
        while pfn < end.0 {
            let section_end = ((pfn >> PFN_SECTION_SHIFT) + 1) << PFN_SECTION_SHIFT;
            let chunk_end = section_end.min(end.0);
            if self.sections.pfn_present(pfn) {
                for p in pfn..chunk_end {
                    let value = if p % PAGEBLOCK_NR_PAGES == 0 { block_start } else { links };
                    // SAFETY: `p` is in a present section (checked for this
                    // chunk, which does not leave the section), so by the
                    // MemMap invariant the descriptor is valid for writes;
                    // `&mut self` means no reference handed out by this map
                    // is alive, and `Page` is all atomics, so overwriting it
                    // whole is a plain store.
                    unsafe { self.base.wrapping_add(p as usize).write(Page::initial(value)) };
                }
                done += chunk_end - pfn;
            }
            pfn = chunk_end;
        }
        done
    }
}

/// An intrusive doubly linked list of pages, linked by PFN through the
/// descriptors' `lru` words (Linux's `struct list_head` of a free list).
///
/// # Invariants
///
/// `head`, `tail` and every `lru` word of every descriptor hold either
/// [`NONE_PFN`] or a PFN that is valid in the page allocator's (only)
/// [`MemMap`]; only this type writes `lru` words after memmap init.
/// A page is on at most one list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PfnList {
    head: u64,
    tail: u64,
}

impl PfnList {
    /// An empty list.
    pub(crate) const EMPTY: PfnList = PfnList { head: NONE_PFN, tail: NONE_PFN };

    /// Whether the list is empty.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.head == NONE_PFN
    }

    /// The first page.
    #[inline]
    pub(crate) fn first(&self) -> Option<ValidPfn> {
        (self.head != NONE_PFN).then_some(ValidPfn(self.head))
    }

    /// The last page.
    #[inline]
    pub(crate) fn last(&self) -> Option<ValidPfn> {
        (self.tail != NONE_PFN).then_some(ValidPfn(self.tail))
    }

    /// Add `pfn`, which is on no list, at the front (list_add).
    #[inline]
    pub(crate) fn push_front(&mut self, map: &MemMap, pfn: ValidPfn) {
        let page = map.page(pfn);
        page.lru_prev.store(NONE_PFN, Relaxed);
        page.lru_next.store(self.head, Relaxed);
        match self.first() {
            Some(old) => map.page(old).lru_prev.store(pfn.0, Relaxed),
            None => self.tail = pfn.0,
        }
        self.head = pfn.0;
    }

    /// Add `pfn`, which is on no list, at the back (list_add_tail).
    #[inline]
    pub(crate) fn push_back(&mut self, map: &MemMap, pfn: ValidPfn) {
        let page = map.page(pfn);
        page.lru_next.store(NONE_PFN, Relaxed);
        page.lru_prev.store(self.tail, Relaxed);
        match self.last() {
            Some(old) => map.page(old).lru_next.store(pfn.0, Relaxed),
            None => self.head = pfn.0,
        }
        self.tail = pfn.0;
    }

    /// Take `pfn`, which is on this list, off it (list_del).
    #[inline]
    pub(crate) fn remove(&mut self, map: &MemMap, pfn: ValidPfn) {
        let page = map.page(pfn);
        let next = page.lru_next.load(Relaxed);
        let prev = page.lru_prev.load(Relaxed);
        if next == NONE_PFN {
            self.tail = prev;
        } else {
            map.page(ValidPfn(next)).lru_prev.store(prev, Relaxed);
        }
        if prev == NONE_PFN {
            self.head = next;
        } else {
            map.page(ValidPfn(prev)).lru_next.store(next, Relaxed);
        }
        page.lru_next.store(NONE_PFN, Relaxed);
        page.lru_prev.store(NONE_PFN, Relaxed);
    }

    /// Take the first page off.
    #[inline]
    pub(crate) fn pop_front(&mut self, map: &MemMap) -> Option<ValidPfn> {
        let pfn = self.first()?;
        let page = map.page(pfn);
        let next = page.lru_next.load(Relaxed);
        self.head = next;
        if next == NONE_PFN {
            self.tail = NONE_PFN;
        } else {
            map.page(ValidPfn(next)).lru_prev.store(NONE_PFN, Relaxed);
        }
        page.lru_next.store(NONE_PFN, Relaxed);
        Some(pfn)
    }

    /// Take the last page off.
    #[inline]
    pub(crate) fn pop_back(&mut self, map: &MemMap) -> Option<ValidPfn> {
        let pfn = self.last()?;
        self.remove(map, pfn);
        Some(pfn)
    }

    /// The pages, front to back.
    #[cfg(test)]
    pub(crate) fn iter<'a>(&self, map: &'a MemMap) -> impl Iterator<Item = ValidPfn> + 'a {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            let pfn = (cur != NONE_PFN).then_some(ValidPfn(cur))?;
            cur = map.page(pfn).lru_next.load(Relaxed);
            Some(pfn)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = PAGES_PER_SECTION;

    #[test]
    fn page_is_64_bytes_and_sync() {
        fn sync<T: Sync>() {}
        sync::<Page>();
        sync::<MemMap>();
        assert_eq!(core::mem::size_of::<Page>(), 64);
    }

    #[test]
    fn links_pack_node_and_zone_at_the_top() {
        let map = MemMap::new_arena(&[(0, 16)]);
        let page = map.pfn_to_page(Pfn(3)).unwrap();
        page.set_page_links(ZoneType::Dma32, NodeId(37));
        assert_eq!(page.node(), NodeId(37));
        assert_eq!(page.zone_type(), ZoneType::Dma32);
        page.set_flags(PageFlags::DIRTY | PageFlags::BUDDY);
        assert_eq!(page.flags(), PageFlags::RESERVED | PageFlags::DIRTY, "BUDDY is allocator-owned");
        page.set_page_links(ZoneType::Movable, NodeId(63));
        assert_eq!((page.node(), page.zone_type()), (NodeId(63), ZoneType::Movable));
        assert!(page.test_flags(PageFlags::DIRTY));
        assert_eq!(
            PageFlagsDisplay(page.raw_flags()).to_string(),
            format!("{:#x}(dirty|reserved|node=63|zone=3)", page.raw_flags())
        );
    }

    #[test]
    fn memmap_init_sets_linux_initial_state() {
        let mut map = MemMap::new_arena(&[(SEC, SEC + 1000)]);
        assert_eq!(map.memmap_init_range(Pfn(SEC + 100), Pfn(SEC + 1100), NodeId(1), ZoneType::Normal), 1000);
        let page = map.pfn_to_page(Pfn(SEC + 700)).unwrap();
        assert_eq!(page.page_ref_count(), 1);
        assert_eq!(page.page_mapcount(), 0);
        assert_eq!(page.raw_mapcount(), -1);
        assert_eq!(page.flags(), PageFlags::RESERVED);
        assert_eq!((page.node(), page.zone_type()), (NodeId(1), ZoneType::Normal));
        let v = map.valid(SEC + 700).unwrap();
        assert_eq!(map.get_pageblock_migratetype(v), MigrateType::Movable);
        map.set_pageblock_migratetype(v, MigrateType::Reclaimable);
        assert_eq!(map.get_pageblock_migratetype(map.valid(SEC + 1023).unwrap()), MigrateType::Reclaimable);
        assert_eq!(map.get_pageblock_migratetype(map.valid(SEC + 1024).unwrap()), MigrateType::Movable);
        // The pageblock bits do not disturb flags or links.
        assert_eq!(map.pfn_to_page(Pfn(SEC + 512)).unwrap().flags(), PageFlags::RESERVED);
        assert_eq!(map.pfn_to_page(Pfn(SEC + 512)).unwrap().node(), NodeId(1));
        assert_eq!(map.page_to_pfn(page), Pfn(SEC + 700));
    }

    #[test]
    fn pfn_valid_is_per_section() {
        let map = MemMap::new_arena(&[(SEC * 4 + 10, SEC * 4 + 20), (SEC * 6, SEC * 6 + 1)]);
        assert!(map.pfn_valid(Pfn(SEC * 4)));
        assert!(map.pfn_valid(Pfn(SEC * 5 - 1)));
        assert!(!map.pfn_valid(Pfn(SEC * 5)));
        assert!(map.pfn_valid(Pfn(SEC * 6 + 5000)));
        assert!(!map.pfn_valid(Pfn(SEC * 7)));
        assert!(!map.pfn_valid(Pfn(0)));
        assert!(map.pfn_to_page(Pfn(SEC * 5 + 3)).is_none());
        let ranges: Vec<_> = map.sections().ranges().collect();
        assert_eq!(ranges, [(Pfn(SEC * 4), Pfn(SEC * 5)), (Pfn(SEC * 6), Pfn(SEC * 7))]);
        assert_eq!(map.sections().nr_present(), 2);
    }

    #[test]
    fn present_sections_reject_out_of_window_and_descending() {
        let mut s = PresentSections::new();
        s.add_range(Pfn(SEC * 10), Pfn(SEC * 11)).unwrap();
        assert_eq!(s.add_range(Pfn(SEC * 9), Pfn(SEC * 9 + 1)), Err(Error::InvalidArgument));
        let far = SEC * (10 + MAX_PRESENT_SECTIONS as u64);
        assert_eq!(s.add_range(Pfn(far), Pfn(far + 1)), Err(Error::InvalidArgument));
        assert_eq!(s.nr_present(), 1);
    }

    #[test]
    fn valid_pfn_arithmetic_stays_in_the_section() {
        let v = ValidPfn(SEC * 3 + 0x600);
        assert_eq!(v.buddy(9).get(), SEC * 3 + 0x400);
        assert_eq!(v.buddy(10).get(), SEC * 3 + 0x200);
        assert_eq!(v.pageblock_start().get(), SEC * 3 + 0x600);
        assert_eq!(ValidPfn(SEC * 3 + 0x7ff).pageblock_start().get(), SEC * 3 + 0x600);
        assert_eq!(v.block_start(10).get(), SEC * 3 + 0x400);
        assert_eq!(v.add(5).get(), SEC * 3 + 0x605);
        assert_eq!(v.same_section(7).get(), SEC * 3 + 7);
    }

    #[test]
    fn pfn_list_links_by_pfn() {
        let mut map = MemMap::new_arena(&[(0, 64)]);
        map.memmap_init_range(Pfn(0), Pfn(64), NodeId(0), ZoneType::Normal);
        let v = |p| map.valid(p).unwrap();
        let mut list = PfnList::EMPTY;
        assert!(list.is_empty());
        list.push_front(&map, v(5));
        list.push_back(&map, v(9));
        list.push_front(&map, v(1));
        list.push_back(&map, v(33));
        let got: Vec<u64> = list.iter(&map).map(ValidPfn::get).collect();
        assert_eq!(got, [1, 5, 9, 33]);
        list.remove(&map, v(9));
        assert_eq!(list.iter(&map).map(ValidPfn::get).collect::<Vec<_>>(), [1, 5, 33]);
        assert_eq!(list.pop_back(&map).map(ValidPfn::get), Some(33));
        assert_eq!(list.pop_front(&map).map(ValidPfn::get), Some(1));
        assert_eq!(list.first().map(ValidPfn::get), Some(5));
        assert_eq!(list.last().map(ValidPfn::get), Some(5));
        list.remove(&map, v(5));
        assert!(list.is_empty() && list.last().is_none());
        assert_eq!(list.pop_front(&map), None);
    }

    #[test]
    fn put_page_testzero_detects_underflow() {
        let mut map = MemMap::new_arena(&[(0, 8)]);
        map.memmap_init_range(Pfn(0), Pfn(8), NodeId(0), ZoneType::Normal);
        let page = map.pfn_to_page(Pfn(2)).unwrap();
        page.get_page();
        assert_eq!(page.put_page_testzero(), PutResult::Held);
        assert_eq!(page.put_page_testzero(), PutResult::Zero);
        assert_eq!(page.put_page_testzero(), PutResult::Underflow);
        assert_eq!(page.page_ref_count(), 0);
    }

    #[test]
    fn bad_reason_last_check_wins() {
        let mut map = MemMap::new_arena(&[(0, 8)]);
        map.memmap_init_range(Pfn(0), Pfn(8), NodeId(0), ZoneType::Normal);
        let page = map.pfn_to_page(Pfn(1)).unwrap();
        // Reserved with a reference: refcount is checked before the flags.
        assert!(!page.expected_state(PageFlags::CHECK_AT_FREE));
        assert_eq!(page.bad_reason(PageFlags::CHECK_AT_FREE, false), "PAGE_FLAGS_CHECK_AT_FREE flag set");
        page.clear_flags_internal(PageFlags::RESERVED);
        assert_eq!(page.bad_reason(PageFlags::CHECK_AT_FREE, false), "nonzero _refcount");
        page.set_page_count(0);
        assert!(page.expected_state(PageFlags::CHECK_AT_FREE));
        page.set_raw_mapcount(0);
        assert_eq!(page.bad_reason(PageFlags::CHECK_AT_PREP, true), "nonzero mapcount");
    }
}
