//! Allocation: the per-CPU fast path, the slow path over the partial
//! lists and new slabs, and the debug path.

use core::ptr::NonNull;
use core::sync::atomic::Ordering::Relaxed;

use crate::addr::Pfn;
use crate::config::{MAX_NUMNODES, NR_CPUS, NUMA_NO_NODE, NodeId};
use crate::error::Error;
use crate::gfp::Gfp;
use crate::hal::Hal;
use crate::page::{NONE_PFN, PfnList};

use super::allocator::{Caller, Slub};
use super::cache::{KmemCache, SLUB_RED_ACTIVE, SLUB_RED_INACTIVE, SlabFlags, SlubFlags, TRACK_ALLOC};
use super::raw;
use super::slab::SlabState;

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

    pub(super) fn slab_alloc(
        &self,
        cpu: usize,
        cache: &KmemCache,
        gfp: Gfp,
        nid: NodeId,
        orig_size: usize,
        caller: Caller,
    ) -> Result<NonNull<u8>, Error> {
        if cpu >= NR_CPUS {
            return Err(Error::InvalidArgument);
        }
        let obj = if cache.debug() {
            self.alloc_debug(cpu, cache, gfp, nid, orig_size, caller)?
        } else {
            self.alloc_fast(cpu, cache, gfp, nid)?
        };
        cache.active_objs.fetch_add(1, Relaxed);
        let zero = gfp.contains(Gfp::ZERO) || (self.flags.contains(SlubFlags::INIT_ON_ALLOC) && cache.ctor.is_none());
        if zero {
            // SAFETY: `obj` was just allocated and is not handed out yet: its
            // object_size bytes are ours (raw::fill 1, 2).
            unsafe { raw::fill(obj, cache.object_size, 0) };
            if cache.has_orig_size() && orig_size < cache.object_size {
                // SAFETY: as above, the tail of the same object.
                unsafe { raw::fill(obj + orig_size, cache.object_size - orig_size, SLUB_RED_ACTIVE) };
            }
        }
        NonNull::new(obj as *mut u8).ok_or(Error::NoMemory)
    }

    pub(super) fn alloc_fast(&self, cpu: usize, cache: &KmemCache, gfp: Gfp, nid: NodeId) -> Result<usize, Error> {
        let map = self.pa.memmap();
        let mut cs = cache.cpu_slab[cpu].lock();
        loop {
            if cs.slab != NONE_PFN {
                let slab = self.slab_at(Pfn(cs.slab));
                if nid == NUMA_NO_NODE || self.node_of(&slab) == nid.0 as usize {
                    if cs.freelist != 0 {
                        let obj = cs.freelist;
                        // SAFETY: `obj` heads this CPU's freelist of its
                        // frozen slab, which the cpu_slab lock we hold
                        // orders (raw::get_freepointer 1, 2).
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
                self.deactivate_slab(cpu, cache, &mut cs);
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
                self.freeze(cpu, &mut cs, &slab);
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
                    self.freeze(cpu, &mut cs, &slab);
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
            // A new slab.
            let slab = self.allocate_slab(cpu, cache, gfp, nid)?;
            let mut node = cache.node[self.node_of(&slab)].lock();
            node.nr_slabs += 1;
            node.total_objects += cache.objects as usize;
            self.freeze(cpu, &mut cs, &slab);
        }
    }

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
                    let slab = self.allocate_slab(cpu, cache, gfp, nid)?;
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
