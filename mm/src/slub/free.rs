//! Freeing: onto the CPU freelist, into a slab another CPU holds, and
//! moving the slab between lists; the debug path.

use core::sync::atomic::Ordering::Relaxed;

use crate::config::NR_CPUS;
use crate::hal::Hal;

use super::allocator::{Caller, Deferred, Slub};
use super::cache::{KmemCache, SLUB_RED_ACTIVE, SLUB_RED_INACTIVE, SlabFlags, SlubFlags, TRACK_FREE};
use super::raw;
use super::slab::{Slab, SlabState};

impl<H: Hal> Slub<H> {
    // ----- free ---------------------------------------------------------

    /// Free an object of `cache` (kmem_cache_free). A pointer that is not
    /// an object of `cache`, or an object already free, is reported and
    /// left alone.
    ///
    /// # Safety
    ///
    /// 1. If `ptr` is a live object, nobody uses it after this call.
    #[track_caller]
    pub unsafe fn kmem_cache_free(&self, cpu: usize, cache: &KmemCache, ptr: *mut u8) {
        match self.virt_to_slab(ptr as usize) {
            Some((slab, c)) if core::ptr::eq(c, cache) => {
                self.slab_free(cpu, cache, slab, ptr as usize, core::panic::Location::caller())
            }
            Some((_, c)) => self
                .log(format_args!("kmem_cache_free: Wrong slab cache. {} but object is from {}", cache.name, c.name)),
            None => self.log(format_args!("kmem_cache_free: object {ptr:p} is not in a slab of {}", cache.name)),
        }
    }

    pub(super) fn slab_free(&self, cpu: usize, cache: &KmemCache, slab: Slab<'static>, obj: usize, caller: Caller) {
        if cpu >= NR_CPUS {
            return;
        }
        if !self.check_valid_pointer(cache, &slab, obj) {
            self.slab_bug(cache, format_args!("Invalid object pointer 0x{obj:x}"));
            self.print_slab_info(&slab);
            return;
        }
        if cache.debug() {
            return self.free_debug(cpu, cache, slab, obj, caller);
        }
        'retry: loop {
            let mut cs = cache.cpu_slab[cpu].lock();
            if cs.slab == slab.pfn.0 {
                if obj == cs.freelist {
                    // The naive double-free check of SLAB_FREELIST_HARDENED.
                    self.slab_bug(cache, format_args!("Object already free"));
                    self.log(format_args!("INFO: double free of 0x{obj:x} (head of the CPU freelist)"));
                    return;
                }
                if self.might_be_free(cache, &slab, obj) {
                    let node = cache.node[self.node_of(&slab)].lock();
                    if self.on_freelist(cache, &slab, obj, cs.freelist) {
                        // SAFETY: we hold the list_lock (object_err 1).
                        unsafe { self.object_err(cache, &slab, obj, "Object already free") };
                        drop(node);
                        return;
                    }
                    drop(node);
                }
                // SAFETY: `obj` is an object of this CPU's frozen slab (checked
                // on entry) that the caller gives up and that is not free (just
                // checked), and the cpu_slab lock we hold orders the CPU
                // freelist it joins (free_hook 1; raw::set_freepointer 1, 2).
                unsafe {
                    self.free_hook(cache, obj);
                    raw::set_freepointer(cache, obj, cs.freelist);
                }
                cs.freelist = obj;
                cache.active_objs.fetch_sub(1, Relaxed);
                return;
            }
            let map = self.pa.memmap();
            {
                let mut node = cache.node[self.node_of(&slab)].lock();
                let mut c = slab.counters();
                let other = match c.state {
                    SlabState::Cpu(j) if j != cpu => match cache.cpu_slab[j].try_lock() {
                        Some(g) => Some(g),
                        None => {
                            // Never wait for another CPU's lock while holding
                            // ours: drop everything and start over.
                            drop(node);
                            drop(cs);
                            core::hint::spin_loop();
                            continue 'retry;
                        }
                    },
                    _ => None,
                };
                let cpu_fl = match (&other, c.state) {
                    (Some(g), _) if g.slab == slab.pfn.0 => g.freelist,
                    _ => 0,
                };
                if slab.freelist() == obj
                    || (self.might_be_free(cache, &slab, obj) && self.on_freelist(cache, &slab, obj, cpu_fl))
                {
                    // SAFETY: we hold the list_lock (object_err 1).
                    unsafe { self.object_err(cache, &slab, obj, "Object already free") };
                    drop(other);
                    drop(node);
                    return;
                }
                drop(other);
                // SAFETY: `obj` is an object of `slab` (checked on entry) that
                // the caller gives up and that is not free (just checked); the
                // list_lock we hold orders the slab's freelist it joins
                // (free_hook 1; raw::set_freepointer 1, 2).
                unsafe {
                    self.free_hook(cache, obj);
                    raw::set_freepointer(cache, obj, slab.freelist());
                }
                slab.set_freelist(obj);
                c.inuse -= 1;
                cache.active_objs.fetch_sub(1, Relaxed);
                let mut d = Deferred::Nothing;
                let mut overflow = false;
                match c.state {
                    SlabState::Full if cache.has_cpu_partial() => {
                        node.full.remove(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                        c.state = SlabState::CpuPartial(cpu);
                        slab.set_counters(c);
                        cs.partial.push_back(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                        cs.nr_partial += 1;
                        overflow = cs.nr_partial > cache.cpu_partial_slabs;
                    }
                    SlabState::Full | SlabState::NodePartial => {
                        self.remove_from_list(&mut node, &slab);
                        d = self.place_slab(cache, &mut node, &slab, c);
                    }
                    _ => slab.set_counters(c),
                }
                drop(node);
                self.finish(cpu, cache, d);
                if overflow {
                    self.unfreeze_partials(cpu, cache, &mut cs);
                }
                return;
            }
        }
    }

    /// Zero a freed object for init_on_free before it goes on a freelist.
    ///
    /// # Safety
    ///
    /// 1. `obj` is an object of a slab of `cache` that the caller is freeing:
    ///    nobody else uses its bytes.
    pub(super) unsafe fn free_hook(&self, cache: &KmemCache, obj: usize) {
        if self.flags.contains(SlubFlags::INIT_ON_FREE) {
            // SAFETY: obligation 1 (raw::fill 1, 2).
            unsafe { raw::fill(obj, cache.object_size, 0) };
        }
    }

    pub(super) fn free_debug(&self, cpu: usize, cache: &KmemCache, slab: Slab<'static>, obj: usize, caller: Caller) {
        let mut node = cache.node[self.node_of(&slab)].lock();
        if !self.check_slab(cache, &slab) {
            return;
        }
        if self.on_freelist(cache, &slab, obj, 0) {
            // SAFETY: we hold the list_lock (object_err 1).
            unsafe { self.object_err(cache, &slab, obj, "Object already free") };
            drop(node);
            return;
        }
        if cache.flags.contains(SlabFlags::CONSISTENCY_CHECKS)
            // SAFETY: `obj` is an object of `slab` (checked on entry), and we
            // hold the list_lock (check_object 1, 2).
            && !unsafe { self.check_object(cache, &slab, obj, SLUB_RED_ACTIVE) }
        {
            self.slab_fix(cache, format_args!("Object at 0x{obj:x} not freed"));
            return;
        }
        // SAFETY: `obj` is an object of `slab` that the caller gives up and
        // that is not free (checked above), and we hold the list_lock, which
        // orders the slab's freelist it joins (set_track 1, 2; free_hook 1;
        // init_object 1; raw::set_freepointer 1, 2).
        unsafe {
            if cache.flags.contains(SlabFlags::STORE_USER) {
                self.set_track(cache, obj, TRACK_FREE, cpu, caller);
            }
            self.free_hook(cache, obj);
            self.init_object(cache, obj, SLUB_RED_INACTIVE);
            raw::set_freepointer(cache, obj, slab.freelist());
        }
        slab.set_freelist(obj);
        let mut c = slab.counters();
        c.inuse -= 1;
        cache.active_objs.fetch_sub(1, Relaxed);
        self.remove_from_list(&mut node, &slab);
        let d = self.place_slab(cache, &mut node, &slab, c);
        drop(node);
        self.finish(cpu, cache, d);
    }
}
