//! The page descriptor (Linux's struct page) and its flags word.

use core::fmt;
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

use bitflags::bitflags;

use crate::addr::Pfn;
use crate::config::{MAX_NUMNODES, MAX_PAGE_ORDER, NODES_SHIFT, NodeId};
use crate::mmzone::ZoneType;

/// The "no page" value of a list link.
pub const NONE_PFN: u64 = u64::MAX;
/// `mapping` of a compound tail page (Linux's TAIL_MAPPING without the poison delta).
pub const TAIL_MAPPING: u64 = 0x400;

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
pub(super) const PB_MIGRATETYPE_MASK: u64 = 0x7 << PB_MIGRATETYPE_SHIFT;
/// Where an ISOLATE pageblock keeps the migratetype it had before it was
/// isolated, plus one (0: none recorded), so that undoing the isolation
/// restores it (Linux 6.16 keeps a separate PB_migrate_isolate bit for the
/// same purpose). First page of the pageblock only.
pub const PB_SAVED_MIGRATETYPE_SHIFT: u32 = 52;
pub(super) const PB_SAVED_MIGRATETYPE_MASK: u64 = 0x7 << PB_SAVED_MIGRATETYPE_SHIFT;
const LINKS_MASK: u64 = !0 << ZONES_PGSHIFT;

const _: () = assert!(1 << NODES_SHIFT == MAX_NUMNODES && PB_MIGRATETYPE_SHIFT + 3 <= ZONES_PGSHIFT);
const _: () = assert!(
    PB_MIGRATETYPE_SHIFT + 3 <= PB_SAVED_MIGRATETYPE_SHIFT
        && PB_SAVED_MIGRATETYPE_SHIFT + 3 <= ZONES_PGSHIFT
        && crate::mmzone::MIGRATE_TYPES < 7
);

/// The node and zone bits of a flags word.
pub(super) const fn page_links(zone: ZoneType, nid: NodeId) -> u64 {
    ((nid.0 as u64 & ((1 << NODES_SHIFT) - 1)) << NODES_PGSHIFT) | ((zone as u64) << ZONES_PGSHIFT)
}

/// A page descriptor (Linux's struct page).
///
/// See the module documentation for the layout. `&Page` is `Sync`; the
/// fields the allocator depends on (links, buddy state) are private to the
/// `mm` crate, the owner's fields have accessors.
#[repr(C, align(64))]
pub struct Page {
    pub(super) flags: AtomicU64,
    refcount: AtomicI32,
    mapcount: AtomicI32,
    private: AtomicU64,
    pub(super) lru_next: AtomicU64,
    pub(super) lru_prev: AtomicU64,
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
    pub(super) const fn initial(links: u64) -> Page {
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
    /// ignored. Only a page someone holds a reference to has an owner: on
    /// a page with refcount 0 (free, or a tail of an allocated block, whose
    /// head holds the block's reference) nothing is set and `false` comes
    /// back. The page allocator relies on that: tails of a block that is
    /// not compound come back from their owner as clean as they left, so
    /// freeing the block need not walk them (see page_alloc's fastpath).
    #[inline]
    pub fn set_flags(&self, flags: PageFlags) -> bool {
        if self.refcount.load(Relaxed) <= 0 {
            return false;
        }
        self.flags.fetch_or(flags.difference(PageFlags::ALLOCATOR_OWNED).bits(), Relaxed);
        true
    }

    /// Clear owner flags (ClearPageFoo); allocator-owned flags are ignored.
    #[inline]
    pub fn clear_flags(&self, flags: PageFlags) {
        self.flags.fetch_and(!flags.difference(PageFlags::ALLOCATOR_OWNED).bits(), Relaxed);
    }

    /// Take the page lock if it is free (trylock_page): PG_locked set with
    /// acquire ordering. Returns whether this call took it.
    #[inline]
    pub fn trylock_page(&self) -> bool {
        self.flags.fetch_or(PageFlags::LOCKED.bits(), core::sync::atomic::Ordering::Acquire) & PageFlags::LOCKED.bits()
            == 0
    }

    /// Release the page lock taken by [`Page::trylock_page`] (unlock_page).
    #[inline]
    pub fn unlock_page(&self) {
        self.flags.fetch_and(!PageFlags::LOCKED.bits(), core::sync::atomic::Ordering::Release);
    }

    /// Set PG_buddy with a plain read and write, for the buddy allocator
    /// under the zone lock: the flags of a free page change only under that
    /// lock (owner setters refuse a page without references, and the
    /// pageblock bits of its zone move under the same lock), so no update
    /// can be lost and the atomic read-modify-write is not needed.
    #[inline(always)]
    pub(crate) fn set_buddy_locked(&self) {
        self.flags.store(self.flags.load(Relaxed) | PageFlags::BUDDY.bits(), Relaxed);
    }

    /// Clear PG_buddy likewise (see [`Page::set_buddy_locked`]).
    #[inline(always)]
    pub(crate) fn clear_buddy_locked(&self) {
        self.flags.store(self.flags.load(Relaxed) & !PageFlags::BUDDY.bits(), Relaxed);
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
    #[inline]
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
    #[inline]
    pub fn get_page(&self) {
        self.refcount.fetch_add(1, Relaxed);
    }

    /// Take a reference unless the count is zero (get_page_unless_zero):
    /// how a scan over descriptors takes hold of a page it does not own,
    /// without resurrecting one that is being freed.
    #[inline]
    pub fn get_page_unless_zero(&self) -> bool {
        self.refcount.fetch_update(Relaxed, Relaxed, |c| (c > 0).then_some(c + 1)).is_ok()
    }

    /// Drop a reference the caller knows is not the last (the scan's own,
    /// taken by [`Page::get_page_unless_zero`] while another holder
    /// remained). Returns false, leaving the count alone, if it was the
    /// last: the caller must then free the page through the allocator.
    #[inline]
    pub fn put_ref_nonzero(&self) -> bool {
        self.refcount.fetch_update(core::sync::atomic::Ordering::Release, Relaxed, |c| (c > 1).then_some(c - 1)).is_ok()
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

    /// One more page-table mapping (Linux's atomic_inc of `_mapcount` in
    /// folio_add_anon_rmap / folio_dup_file_rmap): atomic, because the
    /// processes sharing a page after fork run on different CPUs.
    #[inline]
    pub fn inc_mapcount(&self) {
        self.mapcount.fetch_add(1, Relaxed);
    }

    /// One page-table mapping fewer; returns the mappings left
    /// (`page_mapcount` afterwards).
    #[inline]
    pub fn dec_mapcount(&self) -> i32 {
        self.mapcount.fetch_sub(1, Relaxed)
    }

    /// Set the raw, -1-biased `_mapcount` (the user-page code sets it when a
    /// page is first mapped, and migration when it moves the mappings).
    #[inline]
    pub fn set_raw_mapcount(&self, value: i32) {
        self.mapcount.store(value, Relaxed);
    }

    /// The owner's `mapping` word (0 = NULL).
    #[inline]
    pub fn mapping(&self) -> u64 {
        self.mapping.load(Relaxed)
    }

    /// Set the `mapping` word.
    #[inline]
    pub fn set_mapping(&self, mapping: u64) {
        self.mapping.store(mapping, Relaxed);
    }

    /// The owner's `index` word.
    #[inline]
    pub fn index(&self) -> u64 {
        self.index.load(Relaxed)
    }

    /// Set the `index` word.
    #[inline]
    pub fn set_index(&self, index: u64) {
        self.index.store(index, Relaxed);
    }

    /// The `private` word (the buddy order while [`PageFlags::BUDDY`] is set).
    #[inline]
    pub fn private(&self) -> u64 {
        self.private.load(Relaxed)
    }

    /// Set the `private` word. Ignored while the page is a free buddy block.
    #[inline]
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
