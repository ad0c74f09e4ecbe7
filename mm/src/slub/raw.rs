//! Every raw memory access SLUB makes, as `unsafe fn`s.
//!
//! Slab memory is reached by address: objects, their free pointers, red
//! zones, poison, owner tracks, the tail of a slab, and the pages a cache's
//! own `KmemCache` lives in. Nothing else in SLUB dereferences a raw
//! pointer; it calls these, and each call says in a `SAFETY` comment which
//! check or lock meets the obligations. The module is the audit surface.
//!
//! The common obligation, called *slab memory* below: the range lies inside
//! a slab of the cache in question (an object's slot, or the slab's unused
//! tail), a slab is memory the page allocator handed to SLUB, mapped through
//! `Hal::page_address` (Hal obligation 1), and the caller has the right to
//! the bytes: it holds the lock that orders the access (the CPU's
//! `cpu_slab` lock for objects on that CPU's freelist, the node's list_lock
//! for the slab's own freelist and for debug checks), or owns the object.

use core::panic::Location;

use super::cache::{CpuSlot, KmemCache, Track};
use super::freelist::freelist_ptr_encode;

/// The free pointer of `obj`, decoded (get_freepointer).
///
/// # Safety
///
/// 1. `obj` is an object boundary of a slab of `cache` (checked with
///    `check_valid_pointer`, or taken from a freelist of that slab), so the
///    word at `obj + cache.offset()` is slab memory, aligned to 8.
/// 2. Nobody writes that word concurrently (the caller holds the lock that
///    orders the freelist the object is on, or owns the object).
#[inline]
pub(super) unsafe fn get_freepointer(cache: &KmemCache, obj: usize) -> usize {
    let slot = obj + cache.offset();
    // SAFETY: obligations 1 and 2.
    let raw = unsafe { (slot as *const u64).read() };
    freelist_ptr_encode(cache.random(), raw as usize, slot) as usize
}

/// The number of objects on the freelist headed by `head`, at most a
/// slab's worth (`cache.objects`: a longer walk is a corrupt list, and
/// stops there).
///
/// # Safety
///
/// 1. `head` is 0 or heads a freelist of one slab of `cache` whose lock
///    the caller holds (each object is as [`get_freepointer`] asks).
pub(super) unsafe fn freelist_len(cache: &KmemCache, mut head: usize) -> usize {
    let mut n = 0;
    while head != 0 && n < cache.objects as usize {
        n += 1;
        // SAFETY: obligation 1.
        head = unsafe { get_freepointer(cache, head) };
    }
    n
}

/// Set the free pointer of `obj` to `next`, encoded (set_freepointer).
///
/// # Safety
///
/// 1. As [`get_freepointer`] 1.
/// 2. The object is free (or being freed) and the caller holds the lock of
///    the freelist it goes on: nobody else reads or writes its bytes.
#[inline]
pub(super) unsafe fn set_freepointer(cache: &KmemCache, obj: usize, next: usize) {
    let slot = obj + cache.offset();
    // SAFETY: obligations 1 and 2.
    unsafe { (slot as *mut u64).write(freelist_ptr_encode(cache.random(), next, slot)) }
}

/// Pop objects off the freelist headed by `head` into `out`, from its
/// start, until the list ends or `out` is full, scrubbing each one's free
/// pointer ([`clear_freepointer`]) as it leaves. Returns the new head and
/// the number taken. The cache's offset and random word are read once.
///
/// # Safety
///
/// 1. `head` heads a freelist of a slab of `cache` whose lock the caller
///    holds (every object on it is as [`get_freepointer`] 1 and 2 ask), and
///    the objects taken leave it for the caller.
#[inline(always)]
pub(super) unsafe fn pop_freelist(cache: &KmemCache, mut head: usize, out: &mut [usize]) -> (usize, usize) {
    let offset = cache.offset();
    let random = cache.random();
    let mut n = 0;
    for o in out.iter_mut() {
        if head == 0 {
            break;
        }
        let slot = head + offset;
        // SAFETY: obligation 1 (get_freepointer's 1 and 2, clear_freepointer's 1).
        let raw = unsafe { (slot as *const u64).read() };
        // SAFETY: as above.
        unsafe { (slot as *mut u64).write(0) };
        *o = head;
        n += 1;
        head = freelist_ptr_encode(random, raw as usize, slot) as usize;
    }
    (head, n)
}

/// Push the leading objects of `objs` that lie in the `slab_bytes` from
/// `base` onto the freelist headed by `head`, in order (the last becomes
/// the head), stopping at the first object outside: the objects of one
/// slab that sit next to each other in a sheaf. Linux's naive double-free
/// check on each: an object equal to the head it would join is not linked
/// but handed to `refuse`. Returns the new head, the number of objects
/// taken (refused ones included) and the number refused. The cache's
/// offset and random word are read once for the whole run.
///
/// # Safety
///
/// 1. Every object of `objs` inside the range is as [`set_freepointer`] 1
///    and 2 ask (an object of a slab of `cache` being freed, the
///    freelist's lock held), and all of them join the one freelist `head`
///    heads.
#[inline(always)]
pub(super) unsafe fn push_freelist_run(
    cache: &KmemCache,
    objs: &[usize],
    mut head: usize,
    base: usize,
    slab_bytes: usize,
    mut refuse: impl FnMut(usize),
) -> (usize, usize, usize) {
    let offset = cache.offset();
    let random = cache.random();
    let mut refused = 0;
    let mut taken = 0;
    for &obj in objs {
        if obj.wrapping_sub(base) >= slab_bytes {
            break;
        }
        taken += 1;
        if obj == head {
            refused += 1;
            refuse(obj);
            continue;
        }
        let slot = obj + offset;
        // SAFETY: obligation 1 (set_freepointer's 1 and 2).
        unsafe { (slot as *mut u64).write(freelist_ptr_encode(random, head, slot)) };
        head = obj;
    }
    (head, taken, refused)
}

/// Link the objects `first + idx * size` for the indices of `idxs`, walked
/// from the last, onto the freelist headed by `head`, each pointing at the
/// one linked before it; returns the new head (the object of `idxs[0]`).
/// The cache's offset and random word are read once (the raw stores would
/// otherwise make the compiler reload them for every object).
///
/// # Safety
///
/// 1. Every such object is as [`set_freepointer`] 1 and 2 ask: an object of
///    a slab of `cache` that nobody else sees (a new slab being set up).
#[inline(always)]
pub(super) unsafe fn link_objects(
    cache: &KmemCache,
    first: usize,
    size: usize,
    idxs: &[u16],
    mut head: usize,
) -> usize {
    let offset = cache.offset();
    let random = cache.random();
    for &idx in idxs.iter().rev() {
        let obj = first + idx as usize * size;
        let slot = obj + offset;
        // SAFETY: obligation 1 (set_freepointer's 1 and 2).
        unsafe { (slot as *mut u64).write(freelist_ptr_encode(random, head, slot)) };
        head = obj;
    }
    head
}

/// Write the objects `first + idx * size` of `idxs` to `out` (as many as
/// both have) with their free pointers zeroed, as [`clear_freepointer`]
/// does: objects of a new slab that go out without ever being linked.
///
/// # Safety
///
/// 1. Every such object is an object of a slab of `cache` that nobody else
///    sees (a new slab being set up).
#[inline(always)]
pub(super) unsafe fn take_objects(cache: &KmemCache, first: usize, size: usize, idxs: &[u16], out: &mut [usize]) {
    let offset = cache.offset();
    for (o, &idx) in out.iter_mut().zip(idxs) {
        let obj = first + idx as usize * size;
        *o = obj;
        // SAFETY: obligation 1: the free pointer word of the object is in
        // the slab, aligned to 8, and nobody else accesses it.
        unsafe { ((obj + offset) as *mut u64).write(0) };
    }
}

/// Scrub the free pointer of an object being handed out, so that a live
/// object never looks free (the raw zero decodes to `random ^ swab(slot)`,
/// not an object of the slab).
///
/// # Safety
///
/// 1. As [`set_freepointer`]: the object was just taken off a freelist by
///    the caller and is not yet handed out.
#[inline]
pub(super) unsafe fn clear_freepointer(cache: &KmemCache, obj: usize) {
    let slot = obj + cache.offset();
    // SAFETY: obligation 1.
    unsafe { (slot as *mut u64).write(0) }
}

/// The `len` bytes at `addr`, for reading.
///
/// # Safety
///
/// 1. `[addr, addr + len)` is slab memory (see the module documentation).
/// 2. Nobody writes it while the slice lives.
#[inline]
pub(super) unsafe fn bytes<'a>(addr: usize, len: usize) -> &'a [u8] {
    // SAFETY: obligations 1 and 2.
    unsafe { core::slice::from_raw_parts(addr as *const u8, len) }
}

/// Set the `len` bytes at `addr` to `val` (memset).
///
/// # Safety
///
/// 1. `[addr, addr + len)` is slab memory that the caller may write: the
///    object is free, being freed, or just allocated and not handed out, or
///    is a red zone or padding of such an object, or the slab's tail.
/// 2. No reference to those bytes is alive.
#[inline]
pub(super) unsafe fn fill(addr: usize, len: usize, val: u8) {
    // SAFETY: obligations 1 and 2.
    unsafe { core::ptr::write_bytes(addr as *mut u8, val, len) }
}

/// Copy `len` bytes of an object (krealloc).
///
/// # Safety
///
/// 1. `src` is valid for reads of `len` bytes and `dst` for writes of `len`
///    bytes (a live object the caller owns and a new one it was just given).
/// 2. The two ranges do not overlap.
#[inline]
pub(super) unsafe fn copy(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: obligations 1 and 2.
    unsafe { core::ptr::copy_nonoverlapping(src, dst, len) }
}

/// Read an owner track stored at `addr` (get_track).
///
/// # Safety
///
/// 1. `addr` is the track slot of a `STORE_USER` object: `size_of::<Track>()`
///    bytes of slab memory reserved by the layout, ordered by the list_lock.
#[inline]
pub(super) unsafe fn read_track(addr: usize) -> Track {
    // SAFETY: obligation 1; the slot may be unaligned.
    unsafe { (addr as *const Track).read_unaligned() }
}

/// Write an owner track at `addr` (set_track).
///
/// # Safety
///
/// 1. As [`read_track`] 1, and the caller holds the list_lock.
#[inline]
pub(super) unsafe fn write_track(addr: usize, track: Track) {
    // SAFETY: obligation 1; the slot may be unaligned.
    unsafe { (addr as *mut Track).write_unaligned(track) }
}

/// Read the requested size of a kmalloc object stored at `addr`.
///
/// # Safety
///
/// 1. `addr` is the orig_size slot of an object of a cache that has one:
///    4 bytes of slab memory reserved by the layout, owned by the caller
///    (the object's owner, or the allocator under the list_lock).
#[inline]
pub(super) unsafe fn read_orig_size(addr: usize) -> u32 {
    // SAFETY: obligation 1; the slot may be unaligned.
    unsafe { (addr as *const u32).read_unaligned() }
}

/// Write the requested size of a kmalloc object at `addr`.
///
/// # Safety
///
/// 1. As [`read_orig_size`] 1.
#[inline]
pub(super) unsafe fn write_orig_size(addr: usize, size: u32) {
    // SAFETY: obligation 1; the slot may be unaligned.
    unsafe { (addr as *mut u32).write_unaligned(size) }
}

/// The caller location an owner track recorded.
///
/// # Safety
///
/// 1. `addr` is a non-zero `addr` field written by `set_track`: the address
///    of a `&'static Location<'static>`.
#[inline]
pub(super) unsafe fn track_location(addr: u64) -> &'static Location<'static> {
    // SAFETY: obligation 1.
    unsafe { &*(addr as *const Location<'static>) }
}

/// The cache at `addr` (a slab page's `private`, a cache-list entry, a
/// kmalloc table entry).
///
/// # Safety
///
/// 1. `addr` is the address of a `KmemCache` placed by [`place_cache`] and
///    not destroyed since, and stays so for `'a`.
#[inline]
pub(super) unsafe fn cache_at<'a>(addr: usize) -> &'a KmemCache {
    // SAFETY: obligation 1.
    unsafe { &*(addr as *const KmemCache) }
}

/// Move `cache` into the pages at `base`, which become its home.
///
/// # Safety
///
/// 1. `base` is the page-aligned start of pages the page allocator just gave
///    SLUB for this cache, at least `size_of::<KmemCache>()` bytes, mapped
///    and seen by nobody else.
/// 2. They stay allocated, and nothing else writes them, until the cache is
///    destroyed; no reference returned here is used after that.
pub(super) unsafe fn place_cache(base: *mut u8, cache: KmemCache) -> &'static KmemCache {
    let p = base.cast::<KmemCache>();
    // SAFETY: obligation 1: valid for writes and aligned (a page exceeds
    // KmemCache's alignment); obligation 2 for the 'static reference.
    unsafe {
        p.write(cache);
        &*p
    }
}

/// Put `n` empty per-CPU slots at `addr` (create_cache).
///
/// # Safety
///
/// 1. `[addr, addr + n * size_of::<CpuSlot>())` lies in the pages just
///    allocated for a new cache, after its `KmemCache`, aligned for
///    `CpuSlot`, seen by nobody else.
// Out of line: the empty slot it writes is built in a frame of its own,
// not in kmem_cache_create's, which is deep in the boot stack already.
#[inline(never)]
pub(super) unsafe fn init_cpu_slots(addr: usize, n: usize) {
    let p = addr as *mut CpuSlot;
    for i in 0..n {
        // SAFETY: obligation 1: slot `i` is inside the range, aligned.
        unsafe { p.add(i).write(CpuSlot::empty()) };
    }
}

/// The per-CPU slots of a cache.
///
/// # Safety
///
/// 1. `addr` and `n` are a cache's `cpu_slots`, placed by
///    [`init_cpu_slots`] and not destroyed since, and stay so for `'a`.
#[inline]
pub(super) unsafe fn cpu_slots<'a>(addr: usize, n: usize) -> &'a [CpuSlot] {
    // SAFETY: obligation 1: `n` initialised slots; they are only reached
    // through `&` (each behind its own lock).
    unsafe { core::slice::from_raw_parts(addr as *const CpuSlot, n) }
}

impl KmemCache {
    /// The per-CPU slots (`s->cpu_slab`), indexed by CPU number. Here,
    /// beside the raw slice it makes, so that cache.rs needs nothing of
    /// this file.
    #[inline]
    pub(super) fn cpu_slab(&self) -> &[CpuSlot] {
        // SAFETY: create_cache placed `cpu_slots.1` initialised slots at
        // `cpu_slots.0`, in the cache's storage, which lives as long as the
        // cache (cpu_slots' obligation 1).
        unsafe { cpu_slots(self.cpu_slots.0, self.cpu_slots.1) }
    }

    /// CPU `cpu`'s slot for a fast path that has compared `cpu` with
    /// `fast_alloc_cpus` or `fast_free_cpus` (so the slice's own bounds
    /// check would repeat that compare).
    ///
    /// # Safety
    ///
    /// 1. `cpu < self.fast_alloc_cpus` or `cpu < self.fast_free_cpus`
    ///    (each is 0 or `cpu_slots.1`, the KmemCache invariant).
    #[inline(always)]
    pub(super) unsafe fn fast_slot(&self, cpu: usize) -> &CpuSlot {
        debug_assert!(cpu < self.cpu_slots.1);
        // SAFETY: by obligation 1 and the invariant, `cpu < cpu_slots.1`,
        // inside the slots cpu_slab's slice covers.
        unsafe { self.cpu_slab().get_unchecked(cpu) }
    }
}

/// The `n` u16s of a cache's random sequence at `addr`, for filling.
///
/// # Safety
///
/// 1. `[addr, addr + 2 * n)` lies in the pages just allocated for a new
///    cache, after its `KmemCache`, aligned to 2, seen by nobody else.
pub(super) unsafe fn random_seq_mut<'a>(addr: usize, n: usize) -> &'a mut [u16] {
    // SAFETY: obligation 1.
    unsafe { core::slice::from_raw_parts_mut(addr as *mut u16, n) }
}

/// The random sequence of `cache`.
///
/// # Safety
///
/// 1. `cache` is a live cache made by `create_cache` (KmemCache invariant:
///    `random_seq` addresses `objects` u16s in its storage, written once at
///    creation).
pub(super) unsafe fn random_seq(cache: &KmemCache) -> &[u16] {
    // SAFETY: obligation 1.
    unsafe { core::slice::from_raw_parts(cache.random_seq_addr() as *const u16, cache.objects_per_slab() as usize) }
}
