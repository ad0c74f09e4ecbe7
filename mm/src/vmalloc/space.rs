//! The vmap area allocator: which virtual ranges of the vmalloc area are
//! free, busy, or waiting for a TLB flush (Linux's alloc_vmap_area,
//! free_vmap_area_noflush and __purge_vmap_area_lazy).
//!
//! ```text
//!   free tree   [free )      [free     )            [free  )
//!   busy tree          [busy)           [busy )[busy)
//!   purge list                                         (lazily freed:
//!                                                       neither free nor busy)
//! ```
//!
//! Every address of the managed range is in exactly one of the three.
//! Free ranges are always merged with their free neighbours. The purge
//! list's capacity is reserved when an area is allocated, so freeing
//! allocates nothing and cannot fail for memory. A range on the purge
//! list was unmapped without a TLB flush, so another CPU may
//! still hold a translation for it: it becomes free only through
//! [`VmapSpace::take_purge`] (the caller then flushes the TLB for the
//! returned span) and [`VmapSpace::finish_purge`], which merges it. So a
//! virtual range is never handed out again before its flush.

extern crate alloc;

use super::tree::AreaTree;
use crate::{Error, PAGE_SIZE};
use alloc::vec::Vec;

/// Linux's lazy_max_pages: how many lazily freed pages may wait for a
/// flush, 32 MiB worth per `fls(nr_cpus)` (1 CPU: 32 MiB, 2-3: 64 MiB,
/// 4-7: 96 MiB, ...).
pub const fn lazy_max_pages(nr_cpus: usize) -> u64 {
    let fls = usize::BITS - nr_cpus.leading_zeros();
    fls as u64 * ((32 << 20) / PAGE_SIZE)
}

/// Why an area could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmapError {
    /// No free range fits (even after the caller purged).
    NoSpace,
    /// Size, alignment or bounds are not page multiples, or out of the
    /// managed range.
    Invalid,
    /// The tree could not get memory for a node.
    NoMemory,
}

impl From<VmapError> for Error {
    fn from(e: VmapError) -> Error {
        match e {
            VmapError::NoSpace | VmapError::NoMemory => Error::NoMemory,
            VmapError::Invalid => Error::InvalidArgument,
        }
    }
}

/// A batch of lazily freed ranges taken for one flush.
#[derive(Debug)]
pub struct PurgeBatch {
    /// Lowest start of the batch (flush from here).
    pub start: u64,
    /// Highest end of the batch (flush up to here).
    pub end: u64,
    ranges: Vec<(u64, u64)>,
}

impl PurgeBatch {
    /// Number of ranges in the batch.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    /// The batch has no ranges.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Pages in the batch.
    pub fn pages(&self) -> u64 {
        self.ranges.iter().map(|r| (r.1 - r.0) / PAGE_SIZE).sum()
    }
}

/// Counters of the allocator, for reports and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmapStats {
    /// Ranges in the free tree.
    pub free_ranges: usize,
    /// Bytes in the free tree.
    pub free_bytes: u64,
    /// Busy areas.
    pub busy: usize,
    /// Bytes in busy areas.
    pub busy_bytes: u64,
    /// Ranges on the purge list.
    pub lazy: usize,
    /// Pages on the purge list (Linux's vmap_lazy_nr).
    pub lazy_pages: u64,
    /// Purges done so far.
    pub purges: u64,
}

/// The vmap areas of one virtual range.
pub struct VmapSpace<T> {
    start: u64,
    end: u64,
    free: AreaTree<()>,
    busy: AreaTree<T>,
    /// The purge list. Its capacity always covers every busy area and
    /// every one being unlinked (reserved when the area is allocated), so
    /// freeing never allocates and never fails for memory.
    lazy: Vec<(u64, u64)>,
    /// Areas unlinked by take_busy and not yet on the purge list.
    nr_limbo: usize,
    lazy_pages: u64,
    lazy_max: u64,
    purges: u64,
}

impl<T> VmapSpace<T> {
    /// An allocator of `[start, end)`, all free, purging past `lazy_max`
    /// lazily freed pages. `start` and `end` must be page-aligned.
    pub fn new(start: u64, end: u64, lazy_max: u64) -> Result<Self, Error> {
        if start >= end || !start.is_multiple_of(PAGE_SIZE) || !end.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        let mut free = AreaTree::new();
        free.insert(start, end, ())?;
        Ok(Self {
            start,
            end,
            free,
            busy: AreaTree::new(),
            lazy: Vec::new(),
            nr_limbo: 0,
            lazy_pages: 0,
            lazy_max,
            purges: 0,
        })
    }

    /// The managed range.
    pub fn range(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    /// The purge threshold in pages.
    pub fn lazy_max(&self) -> u64 {
        self.lazy_max
    }

    /// Change the purge threshold (Linux recomputes it from the online
    /// CPUs).
    pub fn set_lazy_max(&mut self, pages: u64) {
        self.lazy_max = pages;
    }

    /// Find and take `size` bytes aligned to `align` inside `[vstart,
    /// vend)`, recording `val` as the busy area's payload. Returns the
    /// start. The rule (Linux's, with an exact fallback):
    /// 1. the free range containing `vstart`, if the request fits in it;
    /// 2. else the lowest free range starting at or above `vstart` of at
    ///    least `size + align - PAGE_SIZE` bytes (any such range fits,
    ///    whatever its alignment): one augmented walk;
    /// 3. else, only when alignment is what stopped step 2, the lowest
    ///    fitting range of those left, by a scan.
    ///
    /// With page alignment this is the lowest fit.
    pub fn alloc(&mut self, size: u64, align: u64, vstart: u64, vend: u64, val: T) -> Result<u64, VmapError> {
        self.alloc_offset(size, align, 0, vstart, vend, val)
    }

    /// [`alloc`](Self::alloc), but it is `start + offset` that is aligned
    /// to `align` (a kernel stack with a guard page below it: the stack,
    /// not the area, needs the alignment). `offset` is a page multiple
    /// below `size`.
    pub fn alloc_offset(
        &mut self,
        size: u64,
        align: u64,
        offset: u64,
        vstart: u64,
        vend: u64,
        val: T,
    ) -> Result<u64, VmapError> {
        let align = align.max(PAGE_SIZE);
        if !offset.is_multiple_of(PAGE_SIZE) || offset >= size.max(1) {
            return Err(VmapError::Invalid);
        }
        if size == 0
            || !size.is_multiple_of(PAGE_SIZE)
            || !align.is_power_of_two()
            || !vstart.is_multiple_of(PAGE_SIZE)
            || !vend.is_multiple_of(PAGE_SIZE)
            || vstart < self.start
            || vend > self.end
            || vstart >= vend
        {
            return Err(VmapError::Invalid);
        }
        let (fstart, fend, addr) = self.find(size, align, offset, vstart, vend).ok_or(VmapError::NoSpace)?;
        // The new area's slot on the purge list, for its free.
        let need = self.lazy.len() + self.busy.len() + self.nr_limbo + 1;
        if self.lazy.capacity() < need {
            self.lazy.try_reserve(need - self.lazy.len()).map_err(|_| VmapError::NoMemory)?;
        }
        // Reserve the busy node first: once the free range is cut the
        // operation must not fail half-way.
        self.busy.insert_disjoint(addr, addr + size, val).map_err(|_| VmapError::NoMemory)?;
        if let Err(e) = self.cut_free(fstart, fend, addr, addr + size) {
            self.busy.remove(addr);
            return Err(e);
        }
        Ok(addr)
    }

    fn fit_in(start: u64, end: u64, size: u64, align: u64, offset: u64, vstart: u64, vend: u64) -> Option<u64> {
        let lo = start.max(vstart).checked_add(offset)?.checked_next_multiple_of(align)? - offset;
        let hi = lo.checked_add(size)?;
        (hi <= end.min(vend)).then_some(lo)
    }

    fn find(&self, size: u64, align: u64, offset: u64, vstart: u64, vend: u64) -> Option<(u64, u64, u64)> {
        if let Some((s, e, _)) = self.free.containing(vstart)
            && let Some(a) = Self::fit_in(s, e, size, align, offset, vstart, vend)
        {
            return Some((s, e, a));
        }
        let length = size.checked_add(align - PAGE_SIZE)?;
        if let Some((s, e)) = self.free.lowest_fit(vstart, length) {
            if let Some(a) = Self::fit_in(s, e, size, align, offset, vstart, vend) {
                return Some((s, e, a));
            }
            if s >= vend {
                return None;
            }
        }
        if align == PAGE_SIZE {
            // Step 2 was exact: nothing at or above vstart fits.
            return None;
        }
        let mut from = vstart;
        while let Some((s, e, _)) = self.free.next_from(from) {
            if s >= vend {
                break;
            }
            if let Some(a) = Self::fit_in(s, e, size, align, offset, vstart, vend) {
                return Some((s, e, a));
            }
            from = e;
        }
        None
    }

    /// Take `[a, b)` out of the free range `[s, e)`.
    fn cut_free(&mut self, s: u64, e: u64, a: u64, b: u64) -> Result<(), VmapError> {
        match (a == s, b == e) {
            (true, true) => {
                self.free.remove(s);
            }
            (true, false) => self.free.resize(s, b, e).map_err(|_| VmapError::Invalid)?,
            (false, true) => self.free.resize(s, s, a).map_err(|_| VmapError::Invalid)?,
            (false, false) => {
                // Two pieces: insert the upper one first (it may fail for
                // memory), then shrink the lower one.
                self.free.resize(s, s, a).map_err(|_| VmapError::Invalid)?;
                if self.free.insert(b, e, ()).is_err() {
                    let _ = self.free.resize(s, s, e);
                    return Err(VmapError::NoMemory);
                }
            }
        }
        Ok(())
    }

    /// Give `[s, e)` back to the free tree, merged with its neighbours.
    fn merge_free(&mut self, s: u64, e: u64) -> Result<(), Error> {
        let prev = self.free.prev_before(s).map(|r| (r.0, r.1)).filter(|r| r.1 == s);
        let next = self.free.next_from(e).map(|r| (r.0, r.1)).filter(|r| r.0 == e);
        match (prev, next) {
            (Some((ps, _)), Some((ns, ne))) => {
                self.free.remove(ns);
                self.free.resize(ps, ps, ne)
            }
            (Some((ps, _)), None) => self.free.resize(ps, ps, e),
            (None, Some((ns, ne))) => self.free.resize(ns, s, ne),
            (None, None) => self.free.insert(s, e, ()),
        }
    }

    /// The busy area containing `addr`: `(start, end, &payload)`.
    pub fn find_busy(&self, addr: u64) -> Option<(u64, u64, &T)> {
        self.busy.containing(addr)
    }

    /// The payload of the busy area starting at `start`.
    pub fn busy_mut(&mut self, start: u64) -> Option<&mut T> {
        self.busy.get_mut(start)
    }

    /// Busy areas in address order.
    pub fn busy_iter(&self) -> super::tree::Iter<'_, T> {
        self.busy.iter()
    }

    /// Free ranges in address order.
    pub fn free_iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.free.iter().map(|r| (r.0, r.1))
    }

    /// Ranges waiting for a flush.
    pub fn lazy_iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.lazy.iter().copied()
    }

    /// Free the busy area starting at `start`, its range going on the
    /// purge list (the caller has unmapped it, without a TLB flush).
    /// Returns the payload and whether the lazy pages now exceed the
    /// threshold (the caller should purge). Never allocates.
    pub fn free_lazy(&mut self, start: u64) -> Result<(T, bool), Error> {
        let (end, val) = self.take_busy(start)?;
        Ok((val, self.put_lazy(start, end)))
    }

    /// Unlink the busy area starting at `start` (Linux's
    /// find_unlink_vmap_area): its range is then neither busy nor free, so
    /// nothing can be given it while the caller unmaps it, after which
    /// [`put_lazy`](Self::put_lazy) ends the limbo. Returns the end and
    /// payload. Never allocates.
    pub fn take_busy(&mut self, start: u64) -> Result<(u64, T), Error> {
        let r = self.busy.remove(start).ok_or(Error::NotFound)?;
        self.nr_limbo += 1;
        Ok(r)
    }

    /// Put a range unlinked by [`take_busy`](Self::take_busy) on the purge
    /// list; whether the lazy pages now exceed the threshold (the caller
    /// should purge). Never allocates: the slot was reserved with the area.
    pub fn put_lazy(&mut self, start: u64, end: u64) -> bool {
        debug_assert!(self.nr_limbo > 0 && self.lazy.len() < self.lazy.capacity());
        self.nr_limbo = self.nr_limbo.saturating_sub(1);
        self.lazy.push((start, end));
        self.lazy_pages += (end - start) / PAGE_SIZE;
        self.lazy_pages > self.lazy_max
    }

    /// Free the busy area starting at `start` with its range free at once:
    /// only for a range that was never mapped (or whose TLB entries are
    /// known flushed), e.g. the unwinding of a failed allocation. Without
    /// memory for a free-tree node the range goes the lazy way instead.
    pub fn free_now(&mut self, start: u64) -> Result<T, Error> {
        let (end, val) = self.take_busy(start)?;
        if self.merge_free(start, end).is_ok() {
            self.nr_limbo -= 1;
        } else {
            self.put_lazy(start, end);
        }
        Ok(val)
    }

    /// Take every lazily freed range for one purge: the caller flushes the
    /// TLB for `[batch.start, batch.end)` on every CPU and then passes the
    /// batch to [`finish_purge`](Self::finish_purge). `None` if nothing
    /// waits (or, out of memory for the batch's own list, the purge must
    /// wait: the ranges stay lazy). The purge list keeps its capacity.
    pub fn take_purge(&mut self) -> Option<PurgeBatch> {
        if self.lazy.is_empty() {
            return None;
        }
        let mut ranges = Vec::new();
        ranges.try_reserve_exact(self.lazy.len()).ok()?;
        ranges.append(&mut self.lazy);
        self.lazy_pages = 0;
        let start = ranges.iter().map(|r| r.0).min()?;
        let end = ranges.iter().map(|r| r.1).max()?;
        Some(PurgeBatch { start, end, ranges })
    }

    /// Merge a flushed batch into the free tree.
    pub fn finish_purge(&mut self, batch: PurgeBatch) {
        self.purges += 1;
        for (s, e) in batch.ranges {
            if self.merge_free(s, e).is_err() {
                // Out of free-tree nodes: the range waits for the next
                // purge (flushed twice, harmless). Its slot is still
                // reserved, so this push does not allocate.
                self.lazy.push((s, e));
                self.lazy_pages += (e - s) / PAGE_SIZE;
            }
        }
    }

    /// Counters.
    pub fn stats(&self) -> VmapStats {
        VmapStats {
            free_ranges: self.free.len(),
            free_bytes: self.free.iter().map(|r| r.1 - r.0).sum(),
            busy: self.busy.len(),
            busy_bytes: self.busy.iter().map(|r| r.1 - r.0).sum(),
            lazy: self.lazy.len(),
            lazy_pages: self.lazy_pages,
            purges: self.purges,
        }
    }

    /// The largest free range, in bytes (what Linux's VmallocChunk meant
    /// before 5.3 stopped computing it and printed 0).
    pub fn largest_free(&self) -> u64 {
        self.free.max_size()
    }

    /// Check that free, busy and lazy ranges tile the managed range
    /// exactly, free ranges are merged, and both trees are sound.
    pub fn validate(&self) -> Result<(), &'static str> {
        self.free.validate()?;
        self.busy.validate()?;
        let mut all: Vec<(u64, u64, u8)> = self.free.iter().map(|r| (r.0, r.1, 0)).collect();
        all.extend(self.busy.iter().map(|r| (r.0, r.1, 1)));
        all.extend(self.lazy.iter().map(|r| (r.0, r.1, 2)));
        all.sort_unstable();
        let mut at = self.start;
        let mut prev_kind = 3;
        for (s, e, k) in all {
            if s != at {
                return Err("ranges do not tile the space");
            }
            if k == 0 && prev_kind == 0 {
                return Err("neighbouring free ranges not merged");
            }
            at = e;
            prev_kind = k;
        }
        if at != self.end {
            return Err("ranges do not reach the end of the space");
        }
        let lazy: u64 = self.lazy.iter().map(|r| (r.1 - r.0) / PAGE_SIZE).sum();
        if lazy != self.lazy_pages {
            return Err("lazy page count is stale");
        }
        if self.nr_limbo != 0 {
            return Err("an area left unlinked");
        }
        if self.lazy.capacity() < self.lazy.len() + self.busy.len() {
            return Err("the purge list's capacity does not cover every busy area");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Rng;

    const P: u64 = PAGE_SIZE;
    const BASE: u64 = 0x1000_0000;

    /// The allocator's rule, on a plain sorted list of free ranges.
    struct Model {
        free: Vec<(u64, u64)>,
    }

    impl Model {
        fn find(&self, size: u64, align: u64, offset: u64, vstart: u64, vend: u64) -> Option<u64> {
            let fit = |&(s, e): &(u64, u64)| VmapSpace::<()>::fit_in(s, e, size, align, offset, vstart, vend);
            if let Some(r) = self.free.iter().find(|r| r.0 <= vstart && vstart < r.1)
                && let Some(a) = fit(r)
            {
                return Some(a);
            }
            let length = size + align - P;
            if let Some(r) = self.free.iter().find(|r| r.0 >= vstart && r.1 - r.0 >= length) {
                if let Some(a) = fit(r) {
                    return Some(a);
                }
                if r.0 >= vend {
                    return None;
                }
            }
            if align == P {
                return None;
            }
            self.free.iter().filter(|r| r.0 >= vstart && r.0 < vend).find_map(fit)
        }
        fn take(&mut self, a: u64, b: u64) {
            let i = self.free.iter().position(|r| r.0 <= a && b <= r.1).unwrap();
            let (s, e) = self.free.remove(i);
            if b < e {
                self.free.insert(i, (b, e));
            }
            if s < a {
                self.free.insert(i, (s, a));
            }
        }
        fn give(&mut self, a: u64, b: u64) {
            self.free.push((a, b));
            self.free.sort_unstable();
            let mut out: Vec<(u64, u64)> = Vec::new();
            for r in self.free.drain(..) {
                match out.last_mut() {
                    Some(l) if l.1 == r.0 => l.1 = r.1,
                    _ => out.push(r),
                }
            }
            self.free = out;
        }
    }

    #[test]
    fn lazy_max_pages_follows_fls() {
        let mib32 = (32 << 20) / P;
        assert_eq!(lazy_max_pages(1), mib32);
        assert_eq!(lazy_max_pages(2), 2 * mib32);
        assert_eq!(lazy_max_pages(3), 2 * mib32);
        assert_eq!(lazy_max_pages(4), 3 * mib32);
        assert_eq!(lazy_max_pages(8), 4 * mib32);
    }

    #[test]
    fn alloc_splits_and_free_merges() {
        let mut s = VmapSpace::new(BASE, BASE + 64 * P, 1 << 20).unwrap();
        let a = s.alloc(4 * P, P, BASE, BASE + 64 * P, 'a').unwrap();
        let b = s.alloc(4 * P, P, BASE, BASE + 64 * P, 'b').unwrap();
        let c = s.alloc(4 * P, P, BASE, BASE + 64 * P, 'c').unwrap();
        assert_eq!((a, b, c), (BASE, BASE + 4 * P, BASE + 8 * P));
        assert_eq!(s.find_busy(b + 3 * P).map(|r| *r.2), Some('b'));
        assert_eq!(s.find_busy(c + 4 * P), None);
        s.validate().unwrap();
        // Freed but not purged: the range is not reused.
        assert_eq!(s.free_lazy(b).unwrap(), ('b', false));
        assert_eq!(s.alloc(4 * P, P, BASE, BASE + 64 * P, 'd').unwrap(), BASE + 12 * P);
        s.validate().unwrap();
        let batch = s.take_purge().unwrap();
        assert_eq!((batch.start, batch.end, batch.pages()), (b, b + 4 * P, 4));
        s.finish_purge(batch);
        s.validate().unwrap();
        assert_eq!(s.alloc(4 * P, P, BASE, BASE + 64 * P, 'e').unwrap(), b, "reused after the purge");
        for x in [a, b, c, BASE + 12 * P] {
            s.free_lazy(x).unwrap();
        }
        let batch = s.take_purge().unwrap();
        s.finish_purge(batch);
        s.validate().unwrap();
        assert_eq!(s.free_iter().collect::<Vec<_>>(), vec![(BASE, BASE + 64 * P)], "all merged back");
        assert_eq!(s.stats().purges, 2);
        assert_eq!(s.largest_free(), 64 * P);
    }

    #[test]
    fn alignment_bounds_and_exhaustion() {
        let mut s = VmapSpace::new(BASE, BASE + 256 * P, 1 << 20).unwrap();
        s.alloc(P, P, BASE, BASE + 256 * P, ()).unwrap();
        let a = s.alloc(16 * P, 16 * P, BASE, BASE + 256 * P, ()).unwrap();
        assert_eq!(a, BASE + 16 * P, "aligned up past the first page");
        assert_eq!(s.alloc(P, P, BASE, BASE + 256 * P, ()).unwrap(), BASE + P, "the hole below is used");
        let hi = s.alloc(P, P, BASE + 200 * P, BASE + 256 * P, ()).unwrap();
        assert_eq!(hi, BASE + 200 * P, "vstart honoured");
        assert_eq!(s.alloc(P, 1 << 40, BASE, BASE + 256 * P, ()), Err(VmapError::NoSpace), "huge alignment fails");
        assert_eq!(s.alloc(P + 1, P, BASE, BASE + 256 * P, ()), Err(VmapError::Invalid));
        assert_eq!(s.alloc(P, 3 * P, BASE, BASE + 256 * P, ()), Err(VmapError::Invalid));
        assert_eq!(s.alloc(P, P, BASE - P, BASE + 256 * P, ()), Err(VmapError::Invalid));
        assert_eq!(s.alloc(300 * P, P, BASE, BASE + 256 * P, ()), Err(VmapError::NoSpace));
        let mut n = 0;
        while s.alloc(P, P, BASE, BASE + 256 * P, ()).is_ok() {
            n += 1;
        }
        assert_eq!(n, 256 - 1 - 16 - 1 - 1);
        assert_eq!(s.stats().free_ranges, 0);
        s.validate().unwrap();
        assert_eq!(s.free_lazy(a), Ok(((), false)));
        assert_eq!(s.alloc(P, P, BASE, BASE + 256 * P, ()), Err(VmapError::NoSpace), "lazy space is not free");
        let b = s.take_purge().unwrap();
        s.finish_purge(b);
        assert_eq!(s.alloc(P, P, BASE, BASE + 256 * P, ()), Ok(a));
        assert_eq!(s.free_lazy(0xdead_0000), Err(Error::NotFound));
    }

    #[test]
    fn offset_aligns_the_inner_start() {
        let mut s = VmapSpace::new(BASE, BASE + 256 * P, 1 << 20).unwrap();
        s.alloc(P, P, BASE, BASE + 256 * P, ()).unwrap();
        // A 16 KiB stack with a guard page on each side, the stack 32 KiB aligned.
        let a = s.alloc_offset(6 * P, 8 * P, P, BASE, BASE + 256 * P, ()).unwrap();
        assert_eq!(a + P, BASE + 8 * P);
        assert_eq!(s.alloc_offset(2 * P, P, 2 * P, BASE, BASE + 256 * P, ()), Err(VmapError::Invalid));
        s.validate().unwrap();
    }

    #[test]
    fn threshold_asks_for_a_purge() {
        let mut s = VmapSpace::new(BASE, BASE + 1024 * P, 8).unwrap();
        let areas: Vec<u64> = (0..5).map(|_| s.alloc(2 * P, P, BASE, BASE + 1024 * P, ()).unwrap()).collect();
        let wants: Vec<bool> = areas.iter().map(|&a| s.free_lazy(a).unwrap().1).collect();
        assert_eq!(wants, vec![false, false, false, false, true], "past 8 pages the fifth free asks");
        assert_eq!(s.stats().lazy_pages, 10);
    }

    /// Random allocations with sizes, alignments and bounds against the
    /// model: the same address each time, and the tiling holds.
    #[test]
    fn random_against_model() {
        for seed in 0..24 {
            let mut rng = Rng(seed + 1);
            let pages = 4096;
            let end = BASE + pages * P;
            let mut s = VmapSpace::new(BASE, end, 64).unwrap();
            let mut m = Model { free: vec![(BASE, end)] };
            let mut live: Vec<(u64, u64)> = Vec::new();
            let mut lazy: Vec<(u64, u64)> = Vec::new();
            for step in 0..3000 {
                let op = rng.below(10);
                if op < 6 {
                    let big = rng.below(8) == 0;
                    let size = (1 + rng.below(if big { 256 } else { 8 })) * P;
                    let wide = rng.below(4) == 0;
                    let align = P << rng.below(if wide { 8 } else { 1 });
                    let (vs, ve) = if rng.below(5) == 0 {
                        let a = BASE + rng.below(pages / 2) * P;
                        (a, a + (1 + rng.below(pages / 2)) * P)
                    } else {
                        (BASE, end)
                    };
                    let offset = if size > P && rng.below(4) == 0 { P } else { 0 };
                    let want = m.find(size, align, offset, vs, ve);
                    let got = s.alloc_offset(size, align, offset, vs, ve, step).ok();
                    if let Some(a) = got {
                        assert!((a + offset).is_multiple_of(align));
                    }
                    assert_eq!(got, want, "seed {seed} step {step}: alloc({size:#x}, {align:#x}, {vs:#x}..{ve:#x})");
                    if let Some(a) = got {
                        m.take(a, a + size);
                        live.push((a, size));
                        assert_eq!(s.find_busy(a + size - 1).map(|r| *r.2), Some(step));
                    }
                } else if op < 9 && !live.is_empty() {
                    let (a, size) = live.swap_remove(rng.below(live.len() as u64) as usize);
                    let (_, want_purge) = s.free_lazy(a).unwrap();
                    lazy.push((a, size));
                    let lazy_pages: u64 = lazy.iter().map(|r| r.1 / P).sum();
                    assert_eq!(want_purge, lazy_pages > 64);
                    if want_purge {
                        let b = s.take_purge().unwrap();
                        assert_eq!(b.pages(), lazy_pages);
                        s.finish_purge(b);
                        for (a, size) in lazy.drain(..) {
                            m.give(a, a + size);
                        }
                    }
                } else if let Some(b) = s.take_purge() {
                    s.finish_purge(b);
                    for (a, size) in lazy.drain(..) {
                        m.give(a, a + size);
                    }
                }
                if step % 97 == 0 {
                    s.validate().unwrap();
                    assert_eq!(s.free_iter().collect::<Vec<_>>(), m.free, "seed {seed} step {step}");
                }
            }
            for (a, _) in live.drain(..) {
                s.free_lazy(a).unwrap();
            }
            if let Some(b) = s.take_purge() {
                s.finish_purge(b);
            }
            s.validate().unwrap();
            assert_eq!(s.free_iter().collect::<Vec<_>>(), vec![(BASE, end)], "seed {seed}: all returned");
        }
    }
}
