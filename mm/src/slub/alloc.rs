//! Allocation: the per-CPU fast path, the slow path over the partial
//! lists and new slabs, and the debug path.

use core::ptr::NonNull;

use crate::addr::Pfn;
use crate::config::{MAX_NUMNODES, NUMA_NO_NODE, NodeId};
use crate::error::Error;
use crate::gfp::Gfp;
use crate::hal::Hal;
use crate::page::{NONE_PFN, PfnList};

use super::allocator::{Caller, Slub};
use super::cache::{
    KmemCache, KmemCacheCpu, SHEAF_CAPACITY, SLUB_RED_ACTIVE, SLUB_RED_INACTIVE, SlabFlags, SlubFlags, TRACK_ALLOC,
};
use super::raw;
use super::slab::SlabState;

/// An object, or an error as its code: objects are linear-map addresses,
/// never in the first page, so every value below [`ERR_LIMIT`] is free to
/// name an error.
const ERR_LIMIT: usize = 4096;

#[inline(always)]
pub(super) fn encode_slow(r: Result<NonNull<u8>, Error>) -> usize {
    match r {
        Ok(p) => {
            debug_assert!(p.as_ptr() as usize >= ERR_LIMIT, "an object in the first page");
            p.as_ptr() as usize
        }
        Err(e) => e as usize,
    }
}

#[inline(always)]
pub(super) fn decode_slow(r: usize) -> Result<NonNull<u8>, Error> {
    if r >= ERR_LIMIT {
        // SAFETY: r >= ERR_LIMIT > 0.
        return Ok(unsafe { NonNull::new_unchecked(r as *mut u8) });
    }
    Err(match r {
        x if x == Error::NoMemory as usize => Error::NoMemory,
        x if x == Error::Busy as usize => Error::Busy,
        x if x == Error::NotFound as usize => Error::NotFound,
        _ => Error::InvalidArgument,
    })
}

impl<H: Hal> Slub<H> {
    // ----- allocation ---------------------------------------------------

    /// Allocate an object (kmem_cache_alloc).
    #[track_caller]
    pub fn kmem_cache_alloc(&self, cpu: usize, cache: &KmemCache, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        self.slab_alloc(cpu, cache, gfp, NUMA_NO_NODE, cache.object_size, core::panic::Location::caller())
    }

    /// Allocate an object from node `nid` if it can (kmem_cache_alloc_node).
    #[track_caller]
    pub fn kmem_cache_alloc_node(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
    ) -> Result<NonNull<u8>, Error> {
        self.slab_alloc(cpu, cache, gfp, nid, cache.object_size, core::panic::Location::caller())
    }

    #[inline]
    pub(super) fn slab_alloc(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        orig_size: usize,
        caller: Caller,
    ) -> Result<NonNull<u8>, Error> {
        match self.alloc_fast(cpu, cache, gfp, nid) {
            Some(obj) => Ok(obj),
            None => decode_slow(self.slab_alloc_slow_raw(cpu, cache, gfp, nid, orig_size, caller)),
        }
    }

    /// [`Self::slab_alloc_slow`] with its result in one register (see
    /// [`encode_slow`]): a `Result<NonNull<u8>, Error>` would come back
    /// through memory, and the inline caller would pay for that on the fast
    /// path too (its result merges with this one's).
    #[cold]
    #[inline(never)]
    fn slab_alloc_slow_raw(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        orig_size: usize,
        caller: Caller,
    ) -> usize {
        encode_slow(self.slab_alloc_slow(cpu, cache, gfp, nid, orig_size, caller))
    }

    /// The fast path: pop the CPU's sheaf. `None` sends the caller to the
    /// slow path: a debug cache, a node asked for, an object to zero, an
    /// empty sheaf, or the CPU's slot busy (a remote flush holds it). A leaf:
    /// no call, no stack frame.
    #[inline(always)]
    fn alloc_fast(&self, cpu: usize, cache: &KmemCache, gfp: Gfp, nid: NodeId) -> Option<NonNull<u8>> {
        if cpu >= cache.fast_alloc_cpus || nid != NUMA_NO_NODE || gfp.contains(Gfp::ZERO) {
            return None;
        }
        // SAFETY: cpu < fast_alloc_cpus, just checked (fast_slot 1).
        let mut cs = unsafe { cache.fast_slot(cpu) }.try_lock()?;
        let n = cs.nr_sheaf;
        // `n - 1` wraps on an empty sheaf: one compare for empty and bounds.
        if n.wrapping_sub(1) >= SHEAF_CAPACITY {
            return None;
        }
        let obj = cs.sheaf[n];
        cs.nr_sheaf = n - 1;
        // SAFETY: sheaf entries are objects, never at address 0 (slabs are
        // linear-map memory, Hal obligation 1).
        Some(unsafe { NonNull::new_unchecked(obj as *mut u8) })
    }

    /// Everything the fast path does not do.
    #[inline(always)]
    fn slab_alloc_slow(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        orig_size: usize,
        caller: Caller,
    ) -> Result<NonNull<u8>, Error> {
        let Some(slot) = cache.cpu_slab().get(cpu) else { return Err(Error::InvalidArgument) };
        let obj = if cache.debug() {
            self.alloc_debug(cpu, cache, gfp, nid, orig_size, caller)?
        } else {
            let mut cs = slot.lock();
            if nid == NUMA_NO_NODE && cs.nr_sheaf > 0 {
                // The fast path: the most recently freed object of the sheaf.
                let obj = cs.sheaf[cs.nr_sheaf];
                cs.nr_sheaf -= 1;
                obj
            } else {
                self.alloc_refill(cpu, cache, &mut cs, gfp, nid)?
            }
        };
        if gfp.contains(Gfp::ZERO) || self.flags.contains(SlubFlags::INIT_ON_ALLOC) {
            self.zero_object(cache, obj, gfp, orig_size);
        }
        // SAFETY: objects are never at address 0: slabs are linear-map
        // memory (Hal obligation 1), and every path above returned one.
        Ok(unsafe { NonNull::new_unchecked(obj as *mut u8) })
    }

    /// Zero a new object for `__GFP_ZERO` or init_on_alloc (not for caches
    /// with a constructor under init_on_alloc alone).
    fn zero_object(&self, cache: &KmemCache, obj: usize, gfp: Gfp, orig_size: usize) {
        if !gfp.contains(Gfp::ZERO) && cache.ctor.is_some() {
            return;
        }
        // SAFETY: `obj` was just allocated and is not handed out yet: its
        // object_size bytes are ours (raw::fill 1, 2).
        unsafe { raw::fill(obj, cache.object_size, 0) };
        if cache.has_orig_size() && orig_size < cache.object_size {
            // SAFETY: as above, the tail of the same object.
            unsafe { raw::fill(obj + orig_size, cache.object_size - orig_size, SLUB_RED_ACTIVE) };
        }
    }

    /// The sheaf is empty (or a node was asked for): return one object and
    /// refill the sheaf, as far as it has room, from the CPU slab, the
    /// partial lists or a new slab (Linux's refill_sheaf / ___slab_alloc);
    /// a new slab's first objects go straight into the sheaf, never linked
    /// (slab/batch10k-64 170 -> 159 instructions per object). An
    /// allocation for a given node bypasses the sheaf, whose objects may be
    /// from any node.
    pub(super) fn alloc_refill(
        &self,
        cpu: usize,
        cache: &KmemCache,
        cs: &mut KmemCacheCpu,
        gfp: Gfp,
        nid: NodeId,
    ) -> Result<usize, Error> {
        let obj = self.alloc_one(cpu, cache, cs, gfp, nid)?;
        if nid == NUMA_NO_NODE {
            // The rest of the CPU freelist, as far as the sheaf has room: no
            // new slab and no lock beyond what the first object needed.
            let n = cs.nr_sheaf.min(SHEAF_CAPACITY);
            // SAFETY: `cs.freelist` heads this CPU's freelist of its frozen
            // slab, which the cpu_slab lock the caller holds orders; the
            // objects taken leave it for the sheaf (raw::pop_freelist 1).
            let (fl, taken) = unsafe { raw::pop_freelist(cache, cs.freelist, &mut cs.sheaf[n + 1..]) };
            cs.freelist = fl;
            cs.nr_sheaf = n + taken;
        }
        Ok(obj)
    }

    /// One object from the CPU slab, the partial lists or a new slab, for
    /// the CPU whose state `cs` is (the body of ___slab_alloc).
    pub(super) fn alloc_one(
        &self,
        cpu: usize,
        cache: &KmemCache,
        cs: &mut KmemCacheCpu,
        gfp: Gfp,
        nid: NodeId,
    ) -> Result<usize, Error> {
        let map = self.pa.memmap();
        loop {
            if cs.slab != NONE_PFN {
                let slab = self.slab_at(Pfn(cs.slab));
                if nid == NUMA_NO_NODE || self.node_of(&slab) == nid.0 as usize {
                    if cs.freelist != 0 {
                        let obj = cs.freelist;
                        // SAFETY: `obj` heads this CPU's freelist of its
                        // frozen slab, which the cpu_slab lock the caller
                        // holds orders (raw::get_freepointer 1, 2).
                        cs.freelist = unsafe { raw::get_freepointer(cache, obj) };
                        // SAFETY: as above; the object leaves the freelist
                        // and is not handed out yet (raw::clear_freepointer 1).
                        unsafe { raw::clear_freepointer(cache, obj) };
                        return Ok(obj);
                    }
                    // get_freelist: objects other CPUs freed meanwhile.
                    let node = cache.node[self.node_of(&slab)].lock();
                    let fl = slab.freelist();
                    if fl != 0 {
                        slab.set_freelist(0);
                        let mut c = slab.counters();
                        c.inuse = c.objects;
                        slab.set_counters(c);
                        cs.freelist = fl;
                        continue;
                    }
                    drop(node);
                }
                self.deactivate_slab(cpu, cache, cs);
            }
            // CPU partial list.
            let mut taken = None;
            let mut rest = PfnList::EMPTY;
            while let Some(v) = cs.partial.pop_front(map) {
                let slab = self.slab_at(Pfn(v.get()));
                if taken.is_none() && (nid == NUMA_NO_NODE || self.node_of(&slab) == nid.0 as usize) {
                    taken = Some(slab);
                } else {
                    rest.push_back(map, v);
                }
            }
            cs.partial = rest;
            if let Some(slab) = taken {
                cs.nr_partial -= 1;
                let _node = cache.node[self.node_of(&slab)].lock();
                self.freeze(cpu, cs, &slab);
                continue;
            }
            // Node partial list.
            let n = if nid == NUMA_NO_NODE { self.pa.numa_mem_id(cpu) } else { nid };
            let n = n.0.clamp(0, MAX_NUMNODES as i32 - 1) as usize;
            {
                let mut node = cache.node[n].lock();
                if let Some(v) = node.partial.pop_front(map) {
                    node.nr_partial -= 1;
                    let slab = self.slab_at(Pfn(v.get()));
                    self.freeze(cpu, cs, &slab);
                    while cache.has_cpu_partial() && cs.nr_partial <= cache.cpu_partial_slabs / 2 {
                        let Some(v) = node.partial.pop_front(map) else { break };
                        node.nr_partial -= 1;
                        let s = self.slab_at(Pfn(v.get()));
                        let mut c = s.counters();
                        c.state = SlabState::CpuPartial(cpu);
                        s.set_counters(c);
                        cs.partial.push_back(map, v);
                        cs.nr_partial += 1;
                    }
                    continue;
                }
            }
            // A new slab. For the sheaf (no node asked for), its first
            // objects go straight into the sheaf's free room instead of being
            // linked into a freelist only for the refill to unlink them.
            let n = cs.nr_sheaf.min(SHEAF_CAPACITY);
            let room = if nid == NUMA_NO_NODE { &mut cs.sheaf[n + 1..] } else { &mut [][..] };
            let (slab, placed) = self.allocate_slab(cpu, cache, gfp, nid, room)?;
            cs.nr_sheaf = n + placed;
            let mut node = cache.node[self.node_of(&slab)].lock();
            node.nr_slabs += 1;
            node.total_objects += cache.objects as usize;
            drop(node);
            self.freeze(cpu, cs, &slab);
            if placed > 0 {
                let obj = cs.sheaf[cs.nr_sheaf];
                cs.nr_sheaf -= 1;
                return Ok(obj);
            }
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn alloc_debug(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        orig_size: usize,
        caller: Caller,
    ) -> Result<usize, Error> {
        let map = self.pa.memmap();
        let n = if nid == NUMA_NO_NODE { self.pa.numa_mem_id(cpu) } else { nid };
        let n = n.0.clamp(0, MAX_NUMNODES as i32 - 1) as usize;
        loop {
            let mut node = cache.node[n].lock();
            let slab = match node.partial.first() {
                Some(v) => self.slab_at(Pfn(v.get())),
                None => {
                    drop(node);
                    let (slab, _) = self.allocate_slab(cpu, cache, gfp, nid, &mut [])?;
                    node = cache.node[self.node_of(&slab)].lock();
                    node.nr_slabs += 1;
                    node.total_objects += cache.objects as usize;
                    let mut c = slab.counters();
                    c.state = SlabState::NodePartial;
                    slab.set_counters(c);
                    node.partial.push_front(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                    node.nr_partial += 1;
                    slab
                }
            };
            let obj = slab.freelist();
            // alloc_consistency_checks
            if !self.check_slab(cache, &slab)
                || !self.check_valid_pointer(cache, &slab, obj)
                || obj == 0
                // SAFETY: `obj` is an object of `slab` (the two checks just
                // before), and we hold the node's list_lock (check_object 1, 2).
                || !unsafe { self.check_object(cache, &slab, obj, SLUB_RED_INACTIVE) }
            {
                if obj != 0 && !self.check_valid_pointer(cache, &slab, obj) {
                    // SAFETY: we hold the list_lock (object_err 1).
                    unsafe { self.object_err(cache, &slab, obj, "Freelist Pointer check fails") };
                }
                // Isolate the slab: mark all objects used.
                self.slab_fix(cache, format_args!("Marking all objects used"));
                self.remove_from_list(&mut node, &slab);
                let mut c = slab.counters();
                c.inuse = c.objects;
                slab.set_freelist(0);
                self.place_slab(cache, &mut node, &slab, c);
                continue;
            }
            // SAFETY: `obj` passed check_valid_pointer above and heads the
            // slab's freelist, which the list_lock we hold orders
            // (raw::get_freepointer 1, 2).
            let next = unsafe { raw::get_freepointer(cache, obj) };
            slab.set_freelist(next);
            let mut c = slab.counters();
            c.inuse += 1;
            if c.inuse == c.objects {
                self.remove_from_list(&mut node, &slab);
                self.place_slab(cache, &mut node, &slab, c);
            } else {
                slab.set_counters(c);
            }
            // SAFETY: `obj` is an object of `slab` (checked above), taken off
            // its freelist and not handed out yet, with the list_lock held
            // (set_track 1, 2; set_orig_size 1, 2; init_object 1).
            unsafe {
                if cache.flags.contains(SlabFlags::STORE_USER) {
                    self.set_track(cache, obj, TRACK_ALLOC, cpu, caller);
                }
                if cache.has_orig_size() {
                    self.set_orig_size(cache, obj, orig_size);
                }
                self.init_object(cache, obj, SLUB_RED_ACTIVE);
            }
            return Ok(obj);
        }
    }
}
