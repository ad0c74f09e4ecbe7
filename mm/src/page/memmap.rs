//! The vmemmap: the descriptor array, which sections it covers, and
//! `ValidPfn`, the PFN whose descriptor is known to exist.

use core::sync::atomic::Ordering::Relaxed;

use crate::addr::Pfn;
use crate::config::{NodeId, PAGEBLOCK_NR_PAGES, PAGES_PER_SECTION, PFN_SECTION_SHIFT};
use crate::error::Error;
use crate::mmzone::{MigrateType, ZoneType};

use super::struct_page::{
    PB_MIGRATETYPE_MASK, PB_MIGRATETYPE_SHIFT, PB_SAVED_MIGRATETYPE_MASK, PB_SAVED_MIGRATETYPE_SHIFT, Page, page_links,
};

/// Sections the presence bitmap can describe, from the first present one (1 TiB).
pub const MAX_PRESENT_SECTIONS: usize = 8192;

/// Mask of the PFN bits that name the section.
const PFN_SECTION_MASK: u64 = !(PAGES_PER_SECTION - 1);

/// Which memory sections exist (have descriptors).
///
/// # Invariants
///
/// When `base` is not `u64::MAX`, bit `i` of `bits` set means section
/// `base + i` is present, for `i < MAX_PRESENT_SECTIONS`; no other section
/// is present. Sections `base .. base + dense` are all present (the run of
/// set bits from bit 0; `dense <= MAX_PRESENT_SECTIONS`).
#[derive(Clone)]
pub struct PresentSections {
    base: u64,
    /// The present run from `base`, in sections: a PFN below it needs no
    /// look at the bitmap (for most machines that is all of memory).
    dense: u64,
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
        Self { base: u64::MAX, dense: 0, bits: [0; MAX_PRESENT_SECTIONS / 64] }
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
        let bit = |i: u64| self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0;
        let mut dense = self.dense;
        while dense < MAX_PRESENT_SECTIONS as u64 && bit(dense) {
            dense += 1;
        }
        self.dense = dense;
        Ok(())
    }

    /// Whether section number `section` is present.
    #[inline]
    pub fn section_present(&self, section: u64) -> bool {
        let i = section.wrapping_sub(self.base);
        i < self.dense || (i < MAX_PRESENT_SECTIONS as u64 && self.bits[(i / 64) as usize] & (1 << (i % 64)) != 0)
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
pub(crate) struct ValidPfn(pub(super) u64);

impl ValidPfn {
    /// A PFN some earlier check made valid, stored raw (the pcp arrays).
    ///
    /// # Safety
    ///
    /// 1. `pfn` is [`ValidPfn::get`] of a `ValidPfn` issued by the map it
    ///    will be used with.
    #[inline(always)]
    pub(crate) const unsafe fn new_unchecked(pfn: u64) -> ValidPfn {
        ValidPfn(pfn)
    }

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

    /// The migratetype of the pageblock holding `pfn`, whose descriptor is
    /// `page`, as its index (MigrateType as usize), for the fast paths: the
    /// pageblock's first descriptor is found from `page` directly.
    #[inline(always)]
    pub(crate) fn pageblock_migratetype_index(&self, page: &Page, pfn: ValidPfn) -> usize {
        let back = (pfn.0 & (PAGEBLOCK_NR_PAGES - 1)) as usize;
        // SAFETY: `page` is `pfn`'s descriptor in this map (the caller got
        // it from `self.page(pfn)`); the pageblock's first PFN is `back`
        // frames below and in the same section (sections are whole
        // pageblocks), so its descriptor is `back` elements below in the
        // same array, valid for reads for as long as `self` lives.
        let head = unsafe { &*core::ptr::from_ref(page).sub(back) };
        ((head.raw_flags() & PB_MIGRATETYPE_MASK) >> PB_MIGRATETYPE_SHIFT) as usize
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

    /// Record `saved` as the type the pageblock holding `pfn` had before it
    /// was isolated (`None`: forget it). Callers hold the zone lock.
    pub(crate) fn set_pageblock_saved_migratetype(&self, pfn: ValidPfn, saved: Option<MigrateType>) {
        let page = self.page(pfn.pageblock_start());
        let bits = saved.map_or(0, |mt| (mt as u64 + 1) << PB_SAVED_MIGRATETYPE_SHIFT);
        let _ = page.flags.fetch_update(Relaxed, Relaxed, |f| Some((f & !PB_SAVED_MIGRATETYPE_MASK) | bits));
    }

    /// The type recorded by [`Self::set_pageblock_saved_migratetype`].
    pub(crate) fn pageblock_saved_migratetype(&self, pfn: ValidPfn) -> Option<MigrateType> {
        let flags = self.page(pfn.pageblock_start()).raw_flags();
        match (flags & PB_SAVED_MIGRATETYPE_MASK) >> PB_SAVED_MIGRATETYPE_SHIFT {
            0 => None,
            n => Some(MigrateType::from_index(n as usize - 1)),
        }
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
