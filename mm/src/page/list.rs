//! Intrusive lists of pages linked by PFN (the free lists and pcp lists).

use core::sync::atomic::Ordering::Relaxed;

use super::memmap::{MemMap, ValidPfn};
use super::struct_page::NONE_PFN;

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

    /// The pages, front to back (the caller holds the list's lock).
    pub(crate) fn iter<'a>(&self, map: &'a MemMap) -> impl Iterator<Item = ValidPfn> + 'a {
        let mut cur = self.head;
        core::iter::from_fn(move || {
            let pfn = (cur != NONE_PFN).then_some(ValidPfn(cur))?;
            cur = map.page(pfn).lru_next.load(Relaxed);
            Some(pfn)
        })
    }
}
