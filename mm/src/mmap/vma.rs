//! One mapped range (`vm_area_struct`) and the ordered set of them
//! (`mm->mm_mt`, Linux's maple tree), here a `BTreeMap` keyed by start.

extern crate alloc;

use super::flags::VmFlags;
use crate::PAGE_SIZE;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::ops::Bound;

/// The object behind a shared anonymous mapping. Linux backs
/// `MAP_SHARED | MAP_ANONYMOUS` with a shmem file ("/dev/zero (deleted)");
/// here it is a number the kernel hands out, naming its page cache (index
/// -> page) that every mapping of the object, across fork, shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShmemId(pub u64);

/// What backs a VMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AnonKind {
    /// Private anonymous memory: zero-filled on demand, copy-on-write
    /// after fork. `pgoff` is `vm_start >> PAGE_SHIFT` at creation, as
    /// Linux sets it for the anon_vma's linear index.
    Private,
    /// Shared anonymous memory: page `pgoff + (addr - start) / PAGE_SIZE`
    /// of the object.
    Shared(ShmemId),
}

/// A VMA's name as `prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME)` sets it.
/// `[heap]` and `[stack]` are not stored: /proc derives them from
/// `brk` and `start_stack`, as Linux does (see [`super::maps`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum VmaName {
    /// No name.
    #[default]
    None,
    /// `[anon:<name>]` (refcounted and shared by split pieces, as Linux's
    /// anon_vma_name).
    Custom(Arc<str>),
}

/// One mapped range `[start, end)`.
///
/// # Invariants
/// `start < end`, both page-aligned (kept by [`VmaTree`]'s users and
/// checked by [`VmaTree::validate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    /// First byte (vm_start).
    pub start: u64,
    /// One past the last byte (vm_end).
    pub end: u64,
    /// vm_flags.
    pub flags: VmFlags,
    /// vm_pgoff: the page index of `start` in the backing.
    pub pgoff: u64,
    /// What backs it.
    pub anon: AnonKind,
    /// The anon name, if any.
    pub name: VmaName,
}

impl Vma {
    /// Length in bytes.
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    /// Whether the range is empty (never true of a VMA in a tree).
    pub const fn is_empty(&self) -> bool {
        self.end == self.start
    }

    /// vma_pages: length in pages.
    pub const fn nr_pages(&self) -> u64 {
        (self.end - self.start) / PAGE_SIZE
    }

    /// Whether `addr` lies inside.
    pub const fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// The backing page index of `addr` (linear_page_index).
    pub const fn page_index(&self, addr: u64) -> u64 {
        self.pgoff + (addr - self.start) / PAGE_SIZE
    }

    /// vm_start_gap: the start minus the stack guard gap for a grows-down
    /// VMA (saturating at 0).
    pub const fn start_gap(&self, stack_guard_gap: u64) -> u64 {
        if self.flags.contains(VmFlags::GROWSDOWN) { self.start.saturating_sub(stack_guard_gap) } else { self.start }
    }

    /// vm_end_gap: arm64 has no grows-up VMAs, so the end itself.
    pub const fn end_gap(&self) -> u64 {
        self.end
    }

    /// The part of this VMA inside `[start, end)` (which must intersect
    /// it), with `pgoff` moved along.
    pub fn clip(&self, start: u64, end: u64) -> Vma {
        let s = self.start.max(start);
        let e = self.end.min(end);
        debug_assert!(s < e);
        Vma { start: s, end: e, pgoff: self.page_index(s), ..self.clone() }
    }

    /// is_mergeable_vma plus the pgoff check of can_vma_merge_after:
    /// whether `next`, starting where `self` ends, could be one VMA with it.
    pub fn can_merge_with_next(&self, next: &Vma) -> bool {
        self.end == next.start
            && self.flags == next.flags
            && self.anon == next.anon
            && self.name == next.name
            && self.pgoff + self.nr_pages() == next.pgoff
    }
}

/// A broken invariant found by [`VmaTree::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaTreeError {
    /// A key differs from its VMA's start.
    KeyMismatch(u64),
    /// A VMA is empty or inverted.
    Empty(u64),
    /// A VMA's bounds are not page-aligned.
    Unaligned(u64),
    /// A VMA overlaps the one before it.
    Overlap(u64),
}

/// The VMAs of an address space, ordered and non-overlapping.
///
/// Linux keeps them in a maple tree (a B-tree of ranges with gap
/// tracking in the internal nodes, RCU-readable for per-VMA locks). This is
/// a plain `BTreeMap` keyed by `start`: lookups and updates are O(log n),
/// but the free-gap search walks the VMAs (O(n)) instead of descending on
/// the stored maximum gaps, and readers need the owner's lock.
///
/// # Invariants
/// Every entry's key is its VMA's `start`; VMAs are non-empty,
/// page-aligned and do not overlap.
#[derive(Clone, Debug, Default)]
pub struct VmaTree {
    map: BTreeMap<u64, Vma>,
}

impl VmaTree {
    /// An empty tree.
    pub const fn new() -> Self {
        Self { map: BTreeMap::new() }
    }

    /// map_count.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no VMA.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// find_vma: the first VMA with `end > addr` (it may start above `addr`).
    pub fn find_vma(&self, addr: u64) -> Option<&Vma> {
        if let Some((_, v)) = self.map.range(..=addr).next_back()
            && v.end > addr
        {
            return Some(v);
        }
        self.map.range((Bound::Excluded(addr), Bound::Unbounded)).next().map(|(_, v)| v)
    }

    /// find_vma_prev: `find_vma(addr)` and the VMA before it (the last
    /// one entirely below `addr` when `find_vma` finds none above).
    pub fn find_vma_prev(&self, addr: u64) -> (Option<&Vma>, Option<&Vma>) {
        let vma = self.find_vma(addr);
        let prev = match vma {
            Some(v) => self.map.range(..v.start).next_back().map(|(_, p)| p),
            None => self.map.values().next_back(),
        };
        (vma, prev)
    }

    /// vma_lookup: the VMA containing `addr`.
    pub fn vma_lookup(&self, addr: u64) -> Option<&Vma> {
        self.find_vma(addr).filter(|v| v.start <= addr)
    }

    /// find_vma_intersection: the first VMA overlapping `[start, end)`.
    pub fn find_vma_intersection(&self, start: u64, end: u64) -> Option<&Vma> {
        self.find_vma(start).filter(|v| v.start < end)
    }

    /// The VMA just before the one starting at or containing `addr`.
    pub fn prev_of(&self, start: u64) -> Option<&Vma> {
        self.map.range(..start).next_back().map(|(_, v)| v)
    }

    /// The first VMA starting at or above `addr`.
    pub fn next_from(&self, addr: u64) -> Option<&Vma> {
        self.map.range(addr..).next().map(|(_, v)| v)
    }

    /// Every VMA in address order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &Vma> + '_ {
        self.map.values()
    }

    /// The VMAs overlapping `[start, end)`, in order.
    pub fn iter_range(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> + '_ {
        let first = self.find_vma(start).map_or(end, |v| v.start);
        self.map.range(first..).map(|(_, v)| v).take_while(move |v| v.start < end)
    }

    /// Insert a VMA, which must not overlap any other (debug-checked).
    pub fn insert(&mut self, vma: Vma) {
        debug_assert!(vma.start < vma.end);
        debug_assert!(self.find_vma_intersection(vma.start, vma.end).is_none());
        self.map.insert(vma.start, vma);
    }

    /// Remove the VMA starting at `start`.
    pub fn remove(&mut self, start: u64) -> Option<Vma> {
        self.map.remove(&start)
    }

    /// The VMA starting at `start`, to change in place. The caller keeps
    /// the invariants (a changed `start` must go through remove + insert).
    pub(crate) fn get_mut(&mut self, start: u64) -> Option<&mut Vma> {
        self.map.get_mut(&start)
    }

    /// Remove every VMA.
    pub fn clear(&mut self) -> impl Iterator<Item = Vma> {
        core::mem::take(&mut self.map).into_values()
    }

    /// Check the invariants: keys, sorted, non-overlapping, aligned,
    /// non-empty.
    pub fn validate(&self) -> Result<(), VmaTreeError> {
        let mut last_end = 0;
        for (&k, v) in &self.map {
            if k != v.start {
                return Err(VmaTreeError::KeyMismatch(k));
            }
            if v.start >= v.end {
                return Err(VmaTreeError::Empty(k));
            }
            if v.start % PAGE_SIZE != 0 || v.end % PAGE_SIZE != 0 {
                return Err(VmaTreeError::Unaligned(k));
            }
            if v.start < last_end {
                return Err(VmaTreeError::Overlap(k));
            }
            last_end = v.end;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vma(s: u64, e: u64) -> Vma {
        Vma {
            start: s * PAGE_SIZE,
            end: e * PAGE_SIZE,
            flags: VmFlags::READ,
            pgoff: s,
            anon: AnonKind::Private,
            name: VmaName::None,
        }
    }

    #[test]
    fn lookups() {
        let mut t = VmaTree::new();
        t.insert(vma(10, 20));
        t.insert(vma(30, 40));
        let p = PAGE_SIZE;
        assert_eq!(t.find_vma(0).unwrap().start, 10 * p);
        assert_eq!(t.find_vma(15 * p).unwrap().start, 10 * p);
        assert_eq!(t.find_vma(20 * p).unwrap().start, 30 * p);
        assert!(t.find_vma(40 * p).is_none());
        let (v, prev) = t.find_vma_prev(25 * p);
        assert_eq!((v.unwrap().start, prev.unwrap().start), (30 * p, 10 * p));
        let (v, prev) = t.find_vma_prev(45 * p);
        assert!(v.is_none());
        assert_eq!(prev.unwrap().start, 30 * p);
        let (v, prev) = t.find_vma_prev(5 * p);
        assert_eq!(v.unwrap().start, 10 * p);
        assert!(prev.is_none());
        assert!(t.vma_lookup(25 * p).is_none());
        assert!(t.find_vma_intersection(20 * p, 30 * p).is_none());
        assert_eq!(t.find_vma_intersection(20 * p, 31 * p).unwrap().start, 30 * p);
        let r: Vec<u64> = t.iter_range(15 * p, 35 * p).map(|v| v.start).collect();
        assert_eq!(r, vec![10 * p, 30 * p]);
        assert_eq!(t.iter_range(20 * p, 30 * p).count(), 0);
        t.validate().unwrap();
        assert_eq!(t.remove(10 * p).unwrap().end, 20 * p);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn validate_finds_broken_trees() {
        let mut t = VmaTree::new();
        t.map.insert(0, vma(1, 2));
        assert_eq!(t.validate(), Err(VmaTreeError::KeyMismatch(0)));
        let mut t = VmaTree::new();
        t.map.insert(PAGE_SIZE, vma(1, 1));
        assert_eq!(t.validate(), Err(VmaTreeError::Empty(PAGE_SIZE)));
        let mut t = VmaTree::new();
        let mut v = vma(1, 3);
        v.end -= 1;
        t.map.insert(PAGE_SIZE, v);
        assert_eq!(t.validate(), Err(VmaTreeError::Unaligned(PAGE_SIZE)));
        let mut t = VmaTree::new();
        t.map.insert(PAGE_SIZE, vma(1, 3));
        t.map.insert(2 * PAGE_SIZE, vma(2, 4));
        assert_eq!(t.validate(), Err(VmaTreeError::Overlap(2 * PAGE_SIZE)));
    }
}
