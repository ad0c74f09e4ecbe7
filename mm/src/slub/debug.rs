//! slub_debug: the option, the red zone / poison / padding checks, owner
//! tracking and the reports in Linux's format, and cache validation.

use core::fmt;
use core::sync::atomic::Ordering::Relaxed;

use crate::addr::{PAGE_SIZE, Pfn};
use crate::config::MAX_NUMNODES;
use crate::hal::Hal;
use crate::page::{PageFlags, PfnList};

use super::allocator::{Caller, Slub};
use super::cache::{
    KmemCache, KmemCacheNode, POISON_END, POISON_FREE, POISON_INUSE, SLUB_RED_ACTIVE, SLUB_RED_INACTIVE, SlabFlags,
    TRACK_ALLOC, TRACK_BYTES, TRACK_FREE, Track,
};
use super::raw;
use super::slab::{Slab, SlabState};

impl<H: Hal> Slub<H> {
    // ----- debugging ----------------------------------------------------

    /// Record who allocated or freed `obj` (set_track).
    ///
    /// # Safety
    ///
    /// 1. `obj` is an object of a slab of `cache`, which has `STORE_USER`.
    /// 2. The caller holds that slab's list_lock.
    pub(super) unsafe fn set_track(&self, cache: &KmemCache, obj: usize, which: usize, cpu: usize, caller: Caller) {
        let t = Track { addr: caller as *const _ as u64, when: H::now(), cpu: cpu as u32, _pad: 0 };
        let p = obj + cache.info_end() + which * TRACK_BYTES;
        // SAFETY: STORE_USER caches reserve two tracks at info_end inside the
        // slot (calculate_sizes; obligation 1), ordered by the list_lock (2).
        unsafe { raw::write_track(p, t) }
    }

    /// # Safety
    ///
    /// 1. As [`Self::set_track`].
    pub(super) unsafe fn get_track(&self, cache: &KmemCache, obj: usize, which: usize) -> Track {
        let p = obj + cache.info_end() + which * TRACK_BYTES;
        // SAFETY: as in set_track (obligation 1).
        unsafe { raw::read_track(p) }
    }

    /// Record the size a kmalloc caller asked for.
    ///
    /// # Safety
    ///
    /// 1. `obj` is an object of a slab of `cache`, which has an orig_size
    ///    slot (`has_orig_size`).
    /// 2. The caller owns the object, or holds its slab's list_lock.
    pub(super) unsafe fn set_orig_size(&self, cache: &KmemCache, obj: usize, size: usize) {
        let p = obj + cache.orig_size_offset();
        // SAFETY: caches with orig_size reserve 4 bytes there (calculate_sizes;
        // obligation 1), which the caller may write (2).
        unsafe { raw::write_orig_size(p, size as u32) }
    }

    /// The size a kmalloc caller asked for (the object size without a slot).
    ///
    /// # Safety
    ///
    /// 1. `obj` is an object of a slab of `cache`.
    /// 2. The caller owns the object, or holds its slab's list_lock.
    pub(super) unsafe fn get_orig_size(&self, cache: &KmemCache, obj: usize) -> usize {
        if !cache.has_orig_size() {
            return cache.object_size;
        }
        let p = obj + cache.orig_size_offset();
        // SAFETY: the cache has the slot (checked above), inside the object's
        // slot (obligation 1), readable by the caller (2).
        (unsafe { raw::read_orig_size(p) } as usize).min(cache.object_size)
    }

    /// init_object: red zones to `val`, poison when free.
    ///
    /// # Safety
    ///
    /// 1. `obj` is an object of a slab of `cache` whose bytes the caller may
    ///    write: in a new slab nobody sees yet, or free, being freed or being
    ///    allocated with the slab's list_lock held.
    pub(super) unsafe fn init_object(&self, cache: &KmemCache, obj: usize, val: u8) {
        // SAFETY: (every fill below) the left red zone, the object, the right
        // red zone lie in `obj`'s slot (calculate_sizes), which obligation 1
        // lets us write; get_orig_size's obligations are the same.
        unsafe {
            if cache.flags.contains(SlabFlags::RED_ZONE) {
                raw::fill(obj - cache.red_left_pad, cache.red_left_pad, val);
                if cache.has_orig_size() && val == SLUB_RED_ACTIVE {
                    let orig = self.get_orig_size(cache, obj);
                    raw::fill(obj + orig, cache.object_size - orig, val);
                }
            }
            if cache.object_poison() && val == SLUB_RED_INACTIVE {
                raw::fill(obj, cache.object_size - 1, POISON_FREE);
                raw::fill(obj + cache.object_size - 1, 1, POISON_END);
            }
            if cache.flags.contains(SlabFlags::RED_ZONE) {
                raw::fill(obj + cache.object_size, cache.inuse - cache.object_size, val);
            }
        }
    }

    pub(super) fn slab_bug(&self, cache: &KmemCache, what: fmt::Arguments<'_>) {
        cache.errors.fetch_add(1, Relaxed);
        self.log(format_args!("============================================================================="));
        self.log(format_args!("BUG {} (Not tainted): {}", cache.name, what));
        self.log(format_args!("-----------------------------------------------------------------------------"));
    }

    pub(super) fn slab_fix(&self, cache: &KmemCache, what: fmt::Arguments<'_>) {
        self.log(format_args!("FIX {}: {}", cache.name, what));
    }

    pub(super) fn print_slab_info(&self, slab: &Slab<'_>) {
        let c = slab.counters();
        self.log(format_args!(
            "Slab pfn {:#x} objects={} used={} fp=0x{:x} flags={}",
            slab.pfn.0,
            c.objects,
            c.inuse,
            slab.freelist(),
            crate::page::PageFlagsDisplay(slab.page.raw_flags())
        ));
    }

    /// Hex-dump `len` bytes at `addr` (print_section).
    ///
    /// # Safety
    ///
    /// 1. `[addr, addr + len)` is slab memory that the caller may read: it
    ///    holds the slab's list_lock (or the slab is on no list).
    pub(super) unsafe fn print_section(&self, text: &str, addr: usize, len: usize) {
        // SAFETY: obligation 1; nothing writes the range while we read it.
        let b = unsafe { raw::bytes(addr, len) };
        for (i, chunk) in b.chunks(16).enumerate() {
            let mut hex = [0u8; 48];
            let mut ascii = [b' '; 16];
            for (j, &x) in chunk.iter().enumerate() {
                const H: &[u8; 16] = b"0123456789abcdef";
                hex[j * 3] = H[(x >> 4) as usize];
                hex[j * 3 + 1] = H[(x & 15) as usize];
                hex[j * 3 + 2] = b' ';
                ascii[j] = if x.is_ascii_graphic() || x == b' ' { x } else { b'.' };
            }
            let hex = core::str::from_utf8(&hex[..chunk.len() * 3]).unwrap_or("");
            let ascii = core::str::from_utf8(&ascii[..chunk.len()]).unwrap_or("");
            self.log(format_args!("{text}{:016x}: {hex} {ascii}", addr + i * 16));
        }
    }

    /// The object's owner tracks, free pointer and bytes (print_trailer).
    /// An `obj` that is not an object of `slab` gets only the slab line.
    ///
    /// # Safety
    ///
    /// 1. The caller holds `slab`'s list_lock.
    pub(super) unsafe fn print_trailer(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize) {
        if obj == 0 || !self.check_valid_pointer(cache, slab, obj) {
            self.print_slab_info(slab);
            self.log(format_args!("Object 0x{obj:x} is not an object of this slab"));
            return;
        }
        if cache.flags.contains(SlabFlags::STORE_USER) {
            let now = H::now();
            for (which, what) in [(TRACK_ALLOC, "Allocated"), (TRACK_FREE, "Freed")] {
                // SAFETY: `obj` is an object of `slab` (checked above) of a
                // STORE_USER cache, and obligation 1 is get_track's 2.
                let t = unsafe { self.get_track(cache, obj, which) };
                if t.addr != 0 {
                    // SAFETY: only set_track writes a track's `addr`, with the
                    // address of a `&'static Location` (raw::track_location 1).
                    let loc = unsafe { raw::track_location(t.addr) };
                    self.log(format_args!(
                        "{what} in {}:{} age={} cpu={}",
                        loc.file(),
                        loc.line(),
                        now.wrapping_sub(t.when),
                        t.cpu
                    ));
                }
            }
        }
        self.print_slab_info(slab);
        let base = self.slab_addr(slab);
        // SAFETY: `obj` is an object of `slab` (checked above), so
        // its free pointer, red zones, object bytes and padding lie in its
        // slot, and obligation 1 orders our reads (raw::get_freepointer 1, 2;
        // print_section 1).
        unsafe {
            let fp = raw::get_freepointer(cache, obj);
            self.log(format_args!("Object 0x{obj:x} @offset={} fp=0x{fp:x}", obj - base));
            if cache.flags.contains(SlabFlags::RED_ZONE) {
                self.print_section("Redzone  ", obj - cache.red_left_pad, cache.red_left_pad);
            }
            self.print_section("Object   ", obj, cache.object_size.min(PAGE_SIZE as usize));
            if cache.flags.contains(SlabFlags::RED_ZONE) {
                self.print_section("Redzone  ", obj + cache.object_size, cache.inuse - cache.object_size);
            }
            let off = cache.info_end();
            let end = cache.size - cache.red_left_pad;
            if end > off {
                self.print_section("Padding  ", obj + off, end - off);
            }
        }
    }

    /// Report a bad object (object_err).
    ///
    /// # Safety
    ///
    /// 1. The caller holds `slab`'s list_lock.
    pub(super) unsafe fn object_err(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize, reason: &str) {
        self.slab_bug(cache, format_args!("{reason}"));
        // SAFETY: obligation 1.
        unsafe { self.print_trailer(cache, slab, obj) };
    }

    /// check_bytes_and_report: report and restore bytes that are not `value`.
    ///
    /// # Safety
    ///
    /// 1. `[start, start + len)` lies in the slot of `obj`, an object of
    ///    `slab`, and the caller holds `slab`'s list_lock.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn check_bytes_and_report(
        &self,
        cache: &KmemCache,
        slab: &Slab<'_>,
        obj: usize,
        what: &str,
        start: usize,
        value: u8,
        len: usize,
    ) -> bool {
        // SAFETY: obligation 1 (raw::bytes 1, 2: the list_lock orders writers).
        let b = unsafe { raw::bytes(start, len) };
        let Some(first) = b.iter().position(|&x| x != value) else { return true };
        let mut end = len;
        while end > first && b[end - 1] == value {
            end -= 1;
        }
        let fault = b[first];
        self.slab_bug(cache, format_args!("{what} overwritten"));
        self.log(format_args!(
            "0x{:x}-0x{:x} @offset={}. First byte 0x{:x} instead of 0x{:x}",
            start + first,
            start + end - 1,
            start + first - self.slab_addr(slab),
            fault,
            value
        ));
        // SAFETY: obligation 1 is print_trailer's.
        unsafe { self.print_trailer(cache, slab, obj) };
        self.slab_fix(
            cache,
            format_args!("Restoring {what} 0x{:x}-0x{:x}=0x{:x}", start + first, start + end - 1, value),
        );
        // SAFETY: a part of the range of obligation 1; `b` is no longer used.
        unsafe { raw::fill(start + first, end - first, value) };
        false
    }

    /// check_object: red zones, poison, padding and the free pointer.
    ///
    /// # Safety
    ///
    /// 1. `obj` is an object of `slab`, a slab of `cache`.
    /// 2. The caller holds `slab`'s list_lock.
    pub(super) unsafe fn check_object(&self, cache: &KmemCache, slab: &Slab<'_>, obj: usize, val: u8) -> bool {
        // SAFETY: every range checked below lies in `obj`'s slot by the layout
        // of calculate_sizes (obligation 1), and obligation 2 is the list_lock
        // that check_bytes_and_report, get_orig_size, object_err and the free
        // pointer accessors need.
        unsafe {
            let mut ok = true;
            let end = obj + cache.object_size;
            if cache.flags.contains(SlabFlags::RED_ZONE) {
                ok &= self.check_bytes_and_report(
                    cache,
                    slab,
                    obj,
                    "Left Redzone",
                    obj - cache.red_left_pad,
                    val,
                    cache.red_left_pad,
                );
                ok &= self.check_bytes_and_report(
                    cache,
                    slab,
                    obj,
                    "Right Redzone",
                    end,
                    val,
                    cache.inuse - cache.object_size,
                );
                if cache.has_orig_size() && val == SLUB_RED_ACTIVE {
                    let orig = self.get_orig_size(cache, obj);
                    if orig < cache.object_size {
                        ok &= self.check_bytes_and_report(
                            cache,
                            slab,
                            obj,
                            "kmalloc Redzone",
                            obj + orig,
                            val,
                            cache.object_size - orig,
                        );
                    }
                }
            } else if cache.flags.contains(SlabFlags::POISON) && cache.object_size < cache.inuse {
                ok &= self.check_bytes_and_report(
                    cache,
                    slab,
                    obj,
                    "Alignment padding",
                    end,
                    POISON_INUSE,
                    cache.inuse - cache.object_size,
                );
            }
            if cache.flags.contains(SlabFlags::POISON) {
                if val != SLUB_RED_ACTIVE && cache.object_poison() {
                    ok &= self.check_bytes_and_report(
                        cache,
                        slab,
                        obj,
                        "Poison",
                        obj,
                        POISON_FREE,
                        cache.object_size - 1,
                    );
                    ok &= self.check_bytes_and_report(cache, slab, obj, "End Poison", end - 1, POISON_END, 1);
                }
                // check_pad_bytes
                let mut off = cache.info_end();
                if cache.flags.contains(SlabFlags::STORE_USER) {
                    off += 2 * TRACK_BYTES;
                }
                if cache.has_orig_size() {
                    off += 4;
                }
                let size = cache.size - cache.red_left_pad;
                if size > off {
                    ok &= self.check_bytes_and_report(
                        cache,
                        slab,
                        obj,
                        "Object padding",
                        obj + off,
                        POISON_INUSE,
                        size - off,
                    );
                }
            }
            if !cache.freeptr_outside_object() && val == SLUB_RED_ACTIVE {
                return ok;
            }
            if !self.check_valid_pointer(cache, slab, raw::get_freepointer(cache, obj)) {
                self.object_err(cache, slab, obj, "Freepointer corrupt");
                self.slab_fix(cache, format_args!("Isolate the rest of the freelist: free pointer set to NULL"));
                raw::set_freepointer(cache, obj, 0);
                ok = false;
            }
            ok
        }
    }

    /// check_slab: the slab's cache and counters are sane.
    pub(super) fn check_slab(&self, cache: &KmemCache, slab: &Slab<'_>) -> bool {
        let c = slab.counters();
        if !slab.page.test_flags(PageFlags::SLAB) || slab.page.private() != cache as *const KmemCache as u64 {
            self.slab_bug(cache, format_args!("Not a valid slab page"));
            return false;
        }
        if c.objects != cache.objects || c.inuse > c.objects {
            self.slab_bug(cache, format_args!("objects {} inuse {} max {}", c.objects, c.inuse, cache.objects));
            self.print_slab_info(slab);
            return false;
        }
        true
    }

    /// slab_pad_check: the tail after the last object still holds POISON_INUSE.
    ///
    /// # Safety
    ///
    /// 1. `slab` is a slab of `cache`, and the caller holds its list_lock or
    ///    the slab is on no list (being discarded).
    pub(super) unsafe fn slab_pad_check(&self, cache: &KmemCache, slab: &Slab<'_>) -> bool {
        let base = self.slab_addr(slab);
        let used = cache.objects as usize * cache.size;
        let len = ((PAGE_SIZE as usize) << cache.order) - used;
        // SAFETY: the tail of the slab past its last object, never handed out;
        // obligation 1 keeps other accessors away (raw::bytes 1, 2).
        let b = unsafe { raw::bytes(base + used, len) };
        let Some(first) = b.iter().position(|&x| x != POISON_INUSE) else { return true };
        let mut end = len;
        while end > first && b[end - 1] == POISON_INUSE {
            end -= 1;
        }
        self.slab_bug(
            cache,
            format_args!(
                "Padding overwritten. 0x{:x}-0x{:x} @offset={}",
                base + used + first,
                base + used + end - 1,
                used + first
            ),
        );
        // SAFETY: a part of the same tail (print_section 1, raw::fill 1, 2;
        // `b` is no longer used).
        unsafe {
            self.print_section("Padding ", base + used + first, end - first);
            self.slab_fix(cache, format_args!("Restoring Padding"));
            raw::fill(base + used + first, end - first, POISON_INUSE);
        }
        false
    }

    /// Validate one slab; returns errors found.
    ///
    /// # Safety
    ///
    /// 1. `slab` is a slab of `cache`, and the caller holds its list_lock,
    ///    whose node state `node` is.
    pub(super) unsafe fn validate_slab(&self, cache: &KmemCache, node: &mut KmemCacheNode, slab: &Slab<'_>) -> usize {
        let before = cache.errors();
        if !self.check_slab(cache, slab) {
            return 1;
        }
        // on_freelist with repair: walk, cut at a bad pointer, count.
        let mut nr_free = 0;
        let mut p = slab.freelist();
        let mut prev = 0usize;
        while p != 0 && nr_free <= cache.objects {
            if !self.check_valid_pointer(cache, slab, p) {
                if prev == 0 {
                    self.slab_bug(cache, format_args!("Freechain corrupt"));
                    slab.set_freelist(0);
                } else {
                    // SAFETY: `prev` passed check_valid_pointer on the last
                    // round; obligation 1 is the list_lock both need.
                    unsafe {
                        self.object_err(cache, slab, prev, "Freechain corrupt");
                        raw::set_freepointer(cache, prev, 0);
                    }
                }
                self.slab_fix(cache, format_args!("Isolate corrupted freechain"));
                break;
            }
            // SAFETY: `p` passed check_valid_pointer just above, and
            // obligation 1 is the list_lock (check_object 1, 2;
            // raw::get_freepointer 1, 2).
            unsafe {
                if cache.debug() {
                    self.check_object(cache, slab, p, SLUB_RED_INACTIVE);
                }
                nr_free += 1;
                prev = p;
                p = raw::get_freepointer(cache, p);
            }
        }
        let mut c = slab.counters();
        let frozen = matches!(c.state, SlabState::Cpu(_));
        if !frozen && c.inuse != c.objects - nr_free.min(c.objects) {
            self.slab_bug(
                cache,
                format_args!("Wrong object count. Counter is {} but counted were {}", c.inuse, c.objects - nr_free),
            );
            let inuse = c.objects - nr_free.min(c.objects);
            node.isolated += inuse as isize - c.inuse as isize;
            c.inuse = inuse;
            slab.set_counters(c);
            self.slab_fix(cache, format_args!("Object count adjusted"));
        }
        if cache.debug() {
            // Allocated objects: check them as active.
            for i in 0..cache.objects as usize {
                let obj = self.object_at(cache, slab, i);
                if !self.on_freelist(cache, slab, obj, 0) {
                    // SAFETY: `obj` is an object of the slab (object_at), and
                    // obligation 1 is the list_lock.
                    unsafe { self.check_object(cache, slab, obj, SLUB_RED_ACTIVE) };
                }
            }
            if cache.flags.contains(SlabFlags::POISON) {
                // SAFETY: obligation 1.
                unsafe { self.slab_pad_check(cache, slab) };
            }
        }
        cache.errors() - before
    }

    /// validate_slab_cache: flush the CPUs' slabs and check every slab of the
    /// cache; returns the number of errors found.
    pub fn validate_slab_cache(&self, cpu: usize, cache: &KmemCache) -> usize {
        self.flush_all(cpu, cache);
        let map = self.pa.memmap();
        let mut errors = 0;
        for n in 0..MAX_NUMNODES {
            let mut node = cache.node[n].lock();
            let mut count = 0;
            for full in [false, true] {
                let mut tmp = PfnList::EMPTY;
                let mut misplaced = PfnList::EMPTY;
                loop {
                    let list = if full { &mut node.full } else { &mut node.partial };
                    let Some(v) = list.pop_front(map) else { break };
                    let slab = self.slab_at(Pfn(v.get()));
                    // SAFETY: a slab of this cache from its node's list, whose
                    // list_lock (`node`) we hold.
                    errors += unsafe { self.validate_slab(cache, &mut node, &slab) };
                    count += 1;
                    let c = slab.counters();
                    if full && c.inuse < c.objects {
                        misplaced.push_back(map, v);
                    } else {
                        tmp.push_back(map, v);
                    }
                }
                if full {
                    node.full = tmp;
                    while let Some(v) = misplaced.pop_front(map) {
                        let slab = self.slab_at(Pfn(v.get()));
                        let mut c = slab.counters();
                        c.state = SlabState::NodePartial;
                        slab.set_counters(c);
                        node.partial.push_back(map, v);
                        node.nr_partial += 1;
                    }
                } else {
                    node.partial = tmp;
                }
            }
            if count != node.nr_slabs {
                self.slab_bug(cache, format_args!("{} slabs counted but counter={}", count, node.nr_slabs));
                errors += 1;
            }
        }
        errors
    }
}
