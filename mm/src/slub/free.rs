//! Freeing: onto the CPU freelist, into a slab another CPU holds, and
//! moving the slab between lists; the debug path.

use crate::addr::PAGE_SIZE;
use crate::hal::Hal;

use super::allocator::{Caller, Deferred, Slub};
use super::cache::{
    KmemCache, KmemCacheCpu, SHEAF_CAPACITY, SLUB_RED_ACTIVE, SLUB_RED_INACTIVE, SlabFlags, SlubFlags, TRACK_FREE,
};
use super::raw;
use super::slab::{Counters, Slab, SlabState, word};

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
        match self.virt_to_slab_off(ptr as usize) {
            Some((slab, c, off)) if core::ptr::eq(c, cache) => {
                self.slab_free(cpu, cache, slab, ptr as usize, off, core::panic::Location::caller())
            }
            Some((_, c, _)) => self
                .log(format_args!("kmem_cache_free: Wrong slab cache. {} but object is from {}", cache.name, c.name)),
            None => self.log(format_args!("kmem_cache_free: object {ptr:p} is not in a slab of {}", cache.name)),
        }
    }

    #[inline]
    pub(super) fn slab_free(
        &self,
        cpu: usize,
        cache: &KmemCache,
        slab: Slab<'static>,
        obj: usize,
        off: usize,
        caller: Caller,
    ) {
        if !self.free_fast(cpu, cache, off, obj) {
            self.slab_free_slow(cpu, cache, slab, obj, caller)
        }
    }

    /// The fast path: push onto the CPU's sheaf. `false` sends the caller
    /// to the slow path: a bad pointer, a debug cache, init_on_free, the
    /// naive double-free check firing (or, on an empty sheaf, the stale
    /// last slot happening to hold the object), a full sheaf, or the CPU's
    /// slot busy (a remote flush holds it). A leaf: no call, no stack frame.
    /// `off` is `obj`'s offset from the start of its slab.
    #[inline(always)]
    pub(super) fn free_fast(&self, cpu: usize, cache: &KmemCache, off: usize, obj: usize) -> bool {
        // check_valid_pointer for a cache without red zones (no debug flag:
        // red_left_pad is 0), from precomputed words.
        // `|`, not `||`: both words load together (adjacent fields) and
        // one branch takes both tests.
        if (cpu >= cache.fast_free_cpus) | (off >= cache.span) || off % cache.size_nz != 0 {
            return false;
        }
        // SAFETY: cpu < fast_free_cpus, just checked (fast_slot 1).
        let Some(mut cs) = (unsafe { cache.fast_slot(cpu) }).try_lock() else { return false };
        let n = cs.nr_sheaf;
        // The naive double-free check against the top of the sheaf (on an
        // empty sheaf, the guard entry: 0, never an object).
        if n >= SHEAF_CAPACITY || cs.sheaf[n] == obj {
            return false;
        }
        cs.sheaf[n + 1] = obj;
        cs.nr_sheaf = n + 1;
        true
    }

    /// Everything the fast path does not do.
    #[cold]
    #[inline(never)]
    fn slab_free_slow(&self, cpu: usize, cache: &KmemCache, slab: Slab<'static>, obj: usize, caller: Caller) {
        let Some(slot) = cache.cpu_slab().get(cpu) else { return };
        if !self.check_valid_pointer(cache, &slab, obj) {
            return self.invalid_free(cache, &slab, obj);
        }
        if cache.debug() {
            return self.free_debug(cpu, cache, slab, obj, caller);
        }
        // SAFETY: `obj` is an object of `slab` (checked above) that the
        // caller gives up (free_hook 1).
        unsafe { self.free_hook(cache, obj) };
        let mut cs = slot.lock();
        let n = cs.nr_sheaf;
        if n > 0 && cs.sheaf[n] == obj {
            drop(cs);
            return self.naive_double_free(cache, obj, "the head of the CPU's sheaf");
        }
        if n == SHEAF_CAPACITY {
            self.flush_sheaf(cpu, cpu, cache, &mut cs, SHEAF_CAPACITY);
        }
        // The fast path: the object joins the sheaf.
        let n = cs.nr_sheaf;
        cs.sheaf[n + 1] = obj;
        cs.nr_sheaf = n + 1;
    }

    #[cold]
    #[inline(never)]
    fn invalid_free(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize) {
        self.slab_bug(cache, format_args!("Invalid object pointer 0x{obj:x}"));
        self.print_slab_info(slab);
    }

    /// SLAB_FREELIST_HARDENED's check: an object freed twice in a row is
    /// still where the first free put it.
    #[cold]
    #[inline(never)]
    fn naive_double_free(&self, cache: &KmemCache, obj: usize, head: &str) {
        self.slab_bug(cache, format_args!("Object already free"));
        self.log(format_args!("INFO: double free of 0x{obj:x} ({head})"));
    }

    /// Give the `nr` oldest objects of CPU `owner`'s sheaf (whose state `cs`
    /// is, its lock held) back to their slabs; `cpu` is the calling CPU.
    /// Neighbours in the sheaf from the same slab go back as one run: one
    /// slab lookup, one list_lock, one list move (Linux's free_to_pcs_bulk
    /// and the bulk __slab_free).
    #[cold]
    #[inline(never)]
    pub(super) fn flush_sheaf(&self, cpu: usize, owner: usize, cache: &KmemCache, cs: &mut KmemCacheCpu, nr: usize) {
        let nr = nr.min(cs.nr_sheaf).min(SHEAF_CAPACITY);
        // The oldest objects are sheaf[1..=nr] (sheaf[0] is the guard).
        let mut i = 1;
        while i <= nr {
            let Some((slab, _)) = self.virt_to_slab(cs.sheaf[i]) else {
                debug_assert!(false, "a sheaf object outside a slab");
                i += 1;
                continue;
            };
            i = self.free_to_slab(cpu, owner, cache, cs, slab, i, nr + 1);
        }
        debug_assert_eq!(cs.sheaf[0], 0, "the sheaf's guard entry was overwritten");
        let top = cs.nr_sheaf.min(SHEAF_CAPACITY);
        cs.sheaf.copy_within(nr + 1..top + 1, 1);
        cs.nr_sheaf -= nr;
    }

    /// Free the run of objects of `slab` that starts at `cs.sheaf[start]`
    /// (and ends before `end`, or at the first object of another slab) into
    /// it for CPU `owner`, whose state `cs` is (Linux's __slab_free): onto
    /// the CPU freelist when the slab is the CPU's active slab, otherwise
    /// onto the slab's own freelist under its list_lock. The node lists
    /// change only when the slab was full (it goes to the CPU partial list,
    /// or the node's) or becomes empty on the node partial list (kept there
    /// up to `min_partial`, else freed). Each object meets the naive
    /// double-free check (it must not be the head of the freelist it
    /// joins); one that fails is reported and kept counted as allocated.
    /// Returns where the run ended.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn free_to_slab(
        &self,
        cpu: usize,
        owner: usize,
        cache: &KmemCache,
        cs: &mut KmemCacheCpu,
        slab: Slab<'static>,
        start: usize,
        end: usize,
    ) -> usize {
        let base = self.slab_addr(&slab);
        let slab_bytes = (PAGE_SIZE as usize) << cache.order;
        if cs.slab == slab.pfn.0 {
            // SAFETY: the objects of the run are of this CPU's frozen slab,
            // given up by their owners, and the cpu_slab lock the caller
            // holds orders the CPU freelist they join
            // (raw::push_freelist_run 1).
            let (head, taken, _) = unsafe {
                raw::push_freelist_run(cache, &cs.sheaf[start..end], cs.freelist, base, slab_bytes, |obj| {
                    self.naive_double_free(cache, obj, "the head of the CPU freelist")
                })
            };
            cs.freelist = head;
            return start + taken;
        }
        let map = self.pa.memmap();
        let mut node = cache.node[self.node_of(&slab)].lock();
        // SAFETY: the objects of the run are of `slab`, given up by their
        // owners; the list_lock we hold orders the slab's freelist they
        // join (raw::push_freelist_run 1).
        let (head, taken, refused) = unsafe {
            raw::push_freelist_run(cache, &cs.sheaf[start..end], slab.freelist(), base, slab_bytes, |obj| {
                self.naive_double_free(cache, obj, "the head of the slab's freelist")
            })
        };
        slab.set_freelist(head);
        // The common case first, on the packed word: the slab stays where
        // it is (frozen by another CPU, on a CPU partial list, or on its
        // node's partial list with objects still in use), so only `inuse`
        // (the low bits) goes down.
        let freed = (taken - refused) as u64;
        let w = slab.page.index();
        let kind = word::kind(w);
        if freed == 0
            || kind == word::CPU
            || kind == word::CPU_PARTIAL
            || (kind == word::NODE_PARTIAL && w & word::INUSE_MASK != freed)
        {
            debug_assert!(w & word::INUSE_MASK >= freed, "more objects freed than in use");
            slab.page.set_index(w - freed);
            drop(node);
            return start + taken;
        }
        let mut c = Counters::unpack(w);
        c.inuse -= freed as u32;
        let mut d = Deferred::Nothing;
        let mut overflow = false;
        match c.state {
            SlabState::Full if cache.has_cpu_partial() => {
                node.full.remove(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                c.state = SlabState::CpuPartial(owner);
                slab.set_counters(c);
                cs.partial.push_back(map, map.valid(slab.pfn.0).expect("slab pfn valid"));
                cs.nr_partial += 1;
                overflow = cs.nr_partial > cache.cpu_partial_slabs;
            }
            SlabState::Full => {
                self.remove_from_list(&mut node, &slab);
                d = self.place_slab(cache, &mut node, &slab, c);
            }
            SlabState::NodePartial if c.inuse == 0 => {
                self.remove_from_list(&mut node, &slab);
                d = self.place_slab(cache, &mut node, &slab, c);
            }
            _ => slab.set_counters(c),
        }
        drop(node);
        self.finish(cpu, cache, d);
        if overflow {
            self.unfreeze_partials(cpu, cache, cs);
        }
        start + taken
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

    #[cold]
    #[inline(never)]
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
        self.remove_from_list(&mut node, &slab);
        let d = self.place_slab(cache, &mut node, &slab, c);
        drop(node);
        self.finish(cpu, cache, d);
    }
}
