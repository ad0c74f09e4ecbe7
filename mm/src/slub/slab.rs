//! A slab (struct slab over struct page): its counters, where it is, and
//! how slabs are made, given back, and moved between lists.

use core::sync::atomic::Ordering::Relaxed;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::config::{MAX_NUMNODES, NodeId};
use crate::error::Error;
use crate::gfp::Gfp;
use crate::hal::Hal;
use crate::page::{NONE_PFN, Page, PageFlags};

use super::allocator::{Deferred, Slub};
use super::cache::{KmemCache, KmemCacheCpu, KmemCacheNode, POISON_INUSE, SLUB_RED_INACTIVE, SlabFlags, TRACK_BYTES};
use super::raw;

/// Where a slab is (the `state` field of its counters).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum SlabState {
    /// The active slab of a CPU (frozen).
    Cpu(usize),
    /// On a CPU's partial list.
    CpuPartial(usize),
    /// On its node's partial list.
    NodePartial,
    /// On its node's full list.
    Full,
    /// Nowhere (being set up or torn down).
    Detached,
}

/// The counters word of a slab (Linux's `counters`: inuse, objects, frozen).
#[derive(Clone, Copy, Debug)]
pub(super) struct Counters {
    pub(super) inuse: u32,
    pub(super) objects: u32,
    pub(super) state: SlabState,
}

/// The packed word: `inuse` in bits 0-15, `objects` 16-31, the state's
/// kind 32-39 and its CPU 40-55.
pub(super) mod word {
    pub(in crate::slub) const INUSE_MASK: u64 = 0xffff;
    pub(in crate::slub) const DETACHED: u64 = 0;
    pub(in crate::slub) const CPU: u64 = 1;
    pub(in crate::slub) const CPU_PARTIAL: u64 = 2;
    pub(in crate::slub) const NODE_PARTIAL: u64 = 3;
    pub(in crate::slub) const FULL: u64 = 4;

    /// The kind of state a packed word holds.
    #[inline(always)]
    pub(in crate::slub) const fn kind(word: u64) -> u64 {
        word >> 32 & 0xff
    }
}

impl Counters {
    #[inline]
    pub(super) fn pack(self) -> u64 {
        let (kind, cpu) = match self.state {
            SlabState::Detached => (word::DETACHED, 0u64),
            SlabState::Cpu(c) => (word::CPU, c as u64),
            SlabState::CpuPartial(c) => (word::CPU_PARTIAL, c as u64),
            SlabState::NodePartial => (word::NODE_PARTIAL, 0),
            SlabState::Full => (word::FULL, 0),
        };
        self.inuse as u64 | (self.objects as u64) << 16 | kind << 32 | cpu << 40
    }

    #[inline]
    pub(super) fn unpack(w: u64) -> Counters {
        let cpu = (w >> 40 & 0xffff) as usize;
        let state = match word::kind(w) {
            word::CPU => SlabState::Cpu(cpu),
            word::CPU_PARTIAL => SlabState::CpuPartial(cpu),
            word::NODE_PARTIAL => SlabState::NodePartial,
            word::FULL => SlabState::Full,
            _ => SlabState::Detached,
        };
        Counters { inuse: (w & word::INUSE_MASK) as u32, objects: (w >> 16 & 0xffff) as u32, state }
    }
}

/// A slab: the head page of its block (Linux's struct slab).
#[derive(Clone, Copy)]
pub(super) struct Slab<'a> {
    pub(super) page: &'a Page,
    pub(super) pfn: Pfn,
}

impl Slab<'_> {
    #[inline]
    pub(super) fn counters(&self) -> Counters {
        Counters::unpack(self.page.index())
    }
    #[inline]
    pub(super) fn set_counters(&self, c: Counters) {
        self.page.set_index(c.pack());
    }
    #[inline]
    pub(super) fn freelist(&self) -> usize {
        self.page.mapping() as usize
    }
    #[inline]
    pub(super) fn set_freelist(&self, p: usize) {
        self.page.set_mapping(p as u64);
    }
}

impl<H: Hal> Slub<H> {
    // ----- slab pages ---------------------------------------------------

    pub(super) fn slab_at(&self, pfn: Pfn) -> Slab<'static> {
        let page = self.pa.memmap().pfn_to_page(pfn).expect("slab pfn valid");
        Slab { page, pfn }
    }

    pub(super) fn slab_addr(&self, slab: &Slab<'_>) -> usize {
        H::page_address(slab.pfn) as usize
    }

    /// The slab an address lies in (virt_to_slab), if any, and its cache.
    #[inline]
    pub(super) fn virt_to_slab(&self, addr: usize) -> Option<(Slab<'static>, &'static KmemCache)> {
        self.virt_to_slab_off(addr).map(|(slab, cache, _)| (slab, cache))
    }

    /// [`Slub::virt_to_slab`] with the address's offset from the start of
    /// the slab, which the translation has at hand (the physical address
    /// less the head frame's) where the fast free would otherwise compute
    /// the slab's address again.
    #[inline(always)]
    pub(super) fn virt_to_slab_off(&self, addr: usize) -> Option<(Slab<'static>, &'static KmemCache, usize)> {
        let map = self.pa.memmap();
        // Unchecked: a page with PG_slab below is a slab, linearly mapped,
        // and only an address inside it names its frame (see the Hal
        // method), so no range check is needed first; anything else goes
        // to the caller's slow path, which checks everything.
        let phys = H::virt_to_phys_unchecked(addr as *const u8);
        let v = map.valid(phys >> PAGE_SHIFT)?;
        let mut slab = Slab { page: map.page(v), pfn: Pfn(v.get()) };
        if let Some(head) = slab.page.compound_head() {
            // A tail page of a slab of order > 0: its head is in the same
            // memmap section (a compound block is aligned to its size,
            // which is below a section's), so no second lookup. Laid out
            // of line: a test and a branch on a head page, where the two
            // selects of a branch-free lookup cost every free.
            core::hint::cold_path();
            let h = v.same_section(head.0);
            debug_assert_eq!(h.get(), head.0, "a compound block across memmap sections");
            slab = Slab { page: map.page(h), pfn: Pfn(h.get()) };
        }
        if !slab.page.test_flags(PageFlags::SLAB) {
            return None;
        }
        let cache = slab.page.private();
        if cache == 0 {
            return None;
        }
        // The head frame is at most the address's own (a tail's head is
        // below it), so this does not wrap for an address in the slab.
        let off = phys.wrapping_sub(slab.pfn.phys().as_u64()) as usize;
        debug_assert_eq!(off, addr.wrapping_sub(self.slab_addr(&slab)), "the linear map is not one translation");
        // SAFETY: PG_slab pages have `private` set to their cache by
        // allocate_slab, and a cache outlives its slabs (destroy refuses
        // while slabs with objects exist and frees all slabs first), so the
        // word is a placed, live cache (raw::cache_at 1).
        Some((slab, unsafe { raw::cache_at(cache as usize) }, off))
    }

    /// allocate_slab: a new slab with its freelist, on the node's lists
    /// nowhere. The first objects in freelist order, as many as `out` has
    /// room for, are written to `out` instead of being linked (their free
    /// pointers zeroed, as for objects taken off a freelist); returns the
    /// slab and how many went to `out`.
    pub(super) fn allocate_slab(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        out: &mut [usize],
    ) -> Result<(Slab<'static>, usize), Error> {
        let gfp = (gfp & !(Gfp::ZONEMASK | Gfp::MOVABLE_MASK | Gfp::ZERO)) | cache.allocflags;
        let pfn = self.pa.alloc_pages_node(cpu, nid, gfp, cache.order)?;
        let slab = self.slab_at(pfn);
        slab.page.set_flags(PageFlags::SLAB);
        slab.page.set_private(cache as *const KmemCache as u64);
        slab.set_counters(Counters { inuse: 0, objects: cache.objects, state: SlabState::Detached });
        let nr_pages = 1u64 << cache.order;
        if cache.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            self.nr_slab_reclaimable.fetch_add(nr_pages, Relaxed);
        } else {
            self.nr_slab_unreclaimable.fetch_add(nr_pages, Relaxed);
        }
        let base = self.slab_addr(&slab);
        if cache.flags.contains(SlabFlags::POISON) {
            // SAFETY: the whole slab was just allocated for us and is on no
            // list, so every byte is ours (raw::fill 1, 2).
            unsafe { raw::fill(base, (PAGE_SIZE as usize) << cache.order, POISON_INUSE) };
        }
        let n = cache.objects as usize;
        if cache.debug() || cache.ctor.is_some() {
            for i in 0..n {
                let obj = self.object_at(cache, &slab, i);
                if cache.debug() {
                    // SAFETY: an object of the new slab, which nobody sees yet
                    // (init_object 1).
                    unsafe { self.init_object(cache, obj, SLUB_RED_INACTIVE) };
                    if cache.flags.contains(SlabFlags::STORE_USER) {
                        // SAFETY: the two tracks of a STORE_USER slot, inside
                        // the new slab, which nobody else sees yet.
                        unsafe { raw::fill(obj + cache.info_end(), 2 * TRACK_BYTES, 0) };
                    }
                }
                if let Some(ctor) = cache.ctor {
                    ctor(obj as *mut u8);
                }
            }
        }
        // shuffle_freelist: the freelist order is random_seq rotated to a
        // random start, seq[start..] then seq[..start]. Its first `k`
        // objects go to `out`; the rest are linked from the end backwards,
        // each object pointing at the one linked before it.
        // SAFETY: `cache` is live (we are allocating a slab for it), made by
        // create_cache (raw::random_seq 1).
        let seq = unsafe { raw::random_seq(cache) };
        let start = (H::random() % n as u64) as usize;
        let first = self.object_at(cache, &slab, 0);
        let size = cache.size;
        let k = out.len().min(n);
        // The parts of seq in freelist order: [start, n), then [0, start).
        let (head_part, tail_part) = (&seq[start..], &seq[..start]);
        let (taken_head, taken_tail) =
            if k <= head_part.len() { (k, 0) } else { (head_part.len(), k - head_part.len()) };
        let (out_head, out_tail) = out[..k].split_at_mut(taken_head);
        // SAFETY: every index of the parts is below the slab's object count
        // (random_seq's invariant), so each `first + idx * size` is an object
        // of the new slab (object_at), which nobody else sees yet
        // (raw::take_objects 1).
        unsafe {
            raw::take_objects(cache, first, size, &head_part[..taken_head], out_head);
            raw::take_objects(cache, first, size, &tail_part[..taken_tail], out_tail);
        }
        let mut head = 0;
        // Linked backwards: the tail part first, then the rest of the head
        // part, so the head of the list is the first object not taken. The
        // parts apart: one chained iterator costs a test per object.
        for part in [&tail_part[taken_tail..], &head_part[taken_head..]] {
            // SAFETY: every index of `part` is below the slab's object count
            // (random_seq's invariant), so each `first + idx * size` is an
            // object of the new slab (object_at), which nobody else sees yet
            // (raw::link_objects 1).
            head = unsafe { raw::link_objects(cache, first, size, part, head) };
        }
        slab.set_freelist(head);
        Ok((slab, k))
    }

    /// free_slab: hand a slab that is on no list back to the page allocator.
    pub(super) fn discard_slab(&self, cpu: usize, cache: &KmemCache, pfn: Pfn) {
        let slab = self.slab_at(pfn);
        if cache.flags.contains(SlabFlags::POISON) {
            // SAFETY: a slab of `cache` on no list (slab_pad_check 1).
            unsafe { self.slab_pad_check(cache, &slab) };
        }
        slab.page.clear_flags(PageFlags::SLAB);
        slab.page.set_private(0);
        slab.page.set_mapping(0);
        slab.page.set_index(0);
        let nr_pages = 1u64 << cache.order;
        if cache.flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            self.nr_slab_reclaimable.fetch_sub(nr_pages, Relaxed);
        } else {
            self.nr_slab_unreclaimable.fetch_sub(nr_pages, Relaxed);
        }
        // SAFETY: allocate_slab took this block of `cache.order` from the page
        // allocator and SLUB kept its one reference (free_pages 1, 2); the slab
        // is on no list and holds no live object, so nothing uses its memory
        // any more (3).
        unsafe { self.pa.free_pages(cpu, pfn, cache.order) };
    }

    // ----- list moves (list_lock held: `node` is the guard's &mut) -------

    pub(super) fn node_of(&self, slab: &Slab<'_>) -> usize {
        slab.page.node().0.clamp(0, MAX_NUMNODES as i32 - 1) as usize
    }

    pub(super) fn remove_from_list(&self, node: &mut KmemCacheNode, slab: &Slab<'_>) {
        let map = self.pa.memmap();
        let v = map.valid(slab.pfn.0).expect("slab pfn valid");
        match slab.counters().state {
            SlabState::NodePartial => {
                node.partial.remove(map, v);
                node.nr_partial -= 1;
            }
            SlabState::Full => node.full.remove(map, v),
            _ => {}
        }
    }

    /// Put an unfrozen slab where its counters say (or decide to discard it).
    pub(super) fn place_slab(
        &self,
        cache: &KmemCache,
        node: &mut KmemCacheNode,
        slab: &Slab<'_>,
        mut c: Counters,
    ) -> Deferred {
        let map = self.pa.memmap();
        let v = map.valid(slab.pfn.0).expect("slab pfn valid");
        if c.inuse == 0 && node.nr_partial >= cache.min_partial {
            node.nr_slabs -= 1;
            node.total_objects -= c.objects as usize;
            c.state = SlabState::Detached;
            slab.set_counters(c);
            return Deferred::Discard(slab.pfn);
        }
        if c.inuse < c.objects {
            c.state = SlabState::NodePartial;
            node.partial.push_back(map, v);
            node.nr_partial += 1;
        } else {
            c.state = SlabState::Full;
            node.full.push_back(map, v);
        }
        slab.set_counters(c);
        Deferred::Nothing
    }

    pub(super) fn finish(&self, cpu: usize, cache: &KmemCache, d: Deferred) {
        if let Deferred::Discard(pfn) = d {
            self.discard_slab(cpu, cache, pfn);
        }
    }

    /// deactivate_slab: give the CPU slab and its freelist back to the node.
    pub(super) fn deactivate_slab(&self, cpu: usize, cache: &KmemCache, cs: &mut KmemCacheCpu) {
        if cs.slab == NONE_PFN {
            return;
        }
        let slab = self.slab_at(Pfn(cs.slab));
        let mut node = cache.node[self.node_of(&slab)].lock();
        let mut c = slab.counters();
        let mut obj = cs.freelist;
        while obj != 0 {
            // SAFETY: `obj` came off this CPU's freelist of this slab, which
            // we hold the cpu_slab lock for, and the list_lock orders the
            // slab's own freelist it joins (raw::get/set_freepointer 1, 2).
            let next = unsafe { raw::get_freepointer(cache, obj) };
            // SAFETY: as above.
            unsafe { raw::set_freepointer(cache, obj, slab.freelist()) };
            slab.set_freelist(obj);
            c.inuse -= 1;
            obj = next;
        }
        cs.slab = NONE_PFN;
        cs.freelist = 0;
        let d = self.place_slab(cache, &mut node, &slab, c);
        drop(node);
        self.finish(cpu, cache, d);
    }

    /// __put_partials: move the CPU's partial slabs to their nodes.
    pub(super) fn unfreeze_partials(&self, cpu: usize, cache: &KmemCache, cs: &mut KmemCacheCpu) {
        let map = self.pa.memmap();
        while let Some(v) = cs.partial.pop_front(map) {
            cs.nr_partial -= 1;
            let slab = self.slab_at(Pfn(v.get()));
            let mut node = cache.node[self.node_of(&slab)].lock();
            let d = self.place_slab(cache, &mut node, &slab, slab.counters());
            drop(node);
            self.finish(cpu, cache, d);
        }
    }

    /// Make `slab` (on no list) the CPU's active slab, taking its freelist.
    pub(super) fn freeze(&self, cpu: usize, cs: &mut KmemCacheCpu, slab: &Slab<'_>) {
        let mut c = slab.counters();
        c.inuse = c.objects;
        c.state = SlabState::Cpu(cpu);
        slab.set_counters(c);
        cs.freelist = slab.freelist();
        slab.set_freelist(0);
        cs.slab = slab.pfn.0;
    }
}

impl<H: Hal> Slub<H> {
    pub(super) fn object_at(&self, cache: &KmemCache, slab: &Slab<'_>, idx: usize) -> usize {
        self.slab_addr(slab) + idx * cache.size + cache.red_left_pad
    }

    /// check_valid_pointer: `p` is null or an object boundary of `slab`.
    pub(super) fn check_valid_pointer(&self, cache: &KmemCache, slab: &Slab<'_>, p: usize) -> bool {
        if p == 0 {
            return true;
        }
        let base = self.slab_addr(slab);
        let Some(off) = p.checked_sub(base + cache.red_left_pad) else { return false };
        off < cache.objects as usize * cache.size && off % cache.size == 0
    }

    /// Whether `obj` is on `slab`'s freelist or `cs`'s (on_freelist). The
    /// caller holds the slab's list_lock.
    pub(super) fn on_freelist(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize, cpu_fl: usize) -> bool {
        for head in [slab.freelist(), cpu_fl] {
            let mut p = head;
            let mut n = 0;
            while p != 0 && n <= cache.objects {
                if p == obj {
                    return true;
                }
                if !self.check_valid_pointer(cache, slab, p) {
                    break;
                }
                // SAFETY: `p` passed check_valid_pointer just above, and the
                // caller holds the list_lock (and, for a CPU freelist, that
                // CPU's lock or its slab frozen there) (raw::get_freepointer 1, 2).
                p = unsafe { raw::get_freepointer(cache, p) };
                n += 1;
            }
        }
        false
    }
}
