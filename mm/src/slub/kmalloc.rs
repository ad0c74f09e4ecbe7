//! kmalloc: the size-class caches, large allocations straight from the
//! page allocator, ksize, kfree and krealloc.

use core::ptr::NonNull;
use core::sync::atomic::Ordering::Relaxed;

use crate::addr::{PAGE_SIZE, Pfn};
use crate::config::{NUMA_NO_NODE, NodeId};
use crate::error::Error;
use crate::gfp::Gfp;
use crate::hal::Hal;
use crate::page::PageFlags;
use crate::page_alloc::get_order;

use super::allocator::{Caller, Slub};
use super::cache::{
    KMALLOC_MAX_CACHE_SIZE, KMALLOC_MIN_SIZE, KMALLOC_SHIFT_HIGH, KmemCache, SIZE_INDEX, SLUB_RED_ACTIVE, SlabFlags,
    SlubFlags, ZERO_SIZE_PTR,
};
use super::raw;

/// kmalloc_index: the kmalloc cache for `size` bytes (1 = 96, 2 = 192,
/// n = 2^n); 0 for size 0, `None` above 8 KiB.
#[inline]
pub const fn kmalloc_index(size: usize) -> Option<usize> {
    match size {
        0 => Some(0),
        1..=KMALLOC_MAX_CACHE_SIZE => Some(SIZE_INDEX[(size - 1) / 8] as usize),
        _ => None,
    }
}

/// The object size of kmalloc cache `index`.
pub const fn kmalloc_size(index: usize) -> usize {
    match index {
        1 => 96,
        2 => 192,
        _ => 1 << index,
    }
}

pub(super) const KMALLOC_NAMES: [&str; KMALLOC_SHIFT_HIGH + 1] = [
    "",
    "kmalloc-96",
    "kmalloc-192",
    "kmalloc-8",
    "kmalloc-16",
    "kmalloc-32",
    "kmalloc-64",
    "kmalloc-128",
    "kmalloc-256",
    "kmalloc-512",
    "kmalloc-1k",
    "kmalloc-2k",
    "kmalloc-4k",
    "kmalloc-8k",
];
pub(super) const DMA_KMALLOC_NAMES: [&str; KMALLOC_SHIFT_HIGH + 1] = [
    "",
    "dma-kmalloc-96",
    "dma-kmalloc-192",
    "dma-kmalloc-8",
    "dma-kmalloc-16",
    "dma-kmalloc-32",
    "dma-kmalloc-64",
    "dma-kmalloc-128",
    "dma-kmalloc-256",
    "dma-kmalloc-512",
    "dma-kmalloc-1k",
    "dma-kmalloc-2k",
    "dma-kmalloc-4k",
    "dma-kmalloc-8k",
];

impl<H: Hal> Slub<H> {
    // ----- kmalloc ------------------------------------------------------

    /// Create the kmalloc caches (create_kmalloc_caches).
    pub fn kmalloc_init(&self, cpu: usize) -> Result<(), Error> {
        for (kind, names) in [(0, KMALLOC_NAMES), (1, DMA_KMALLOC_NAMES)] {
            for (i, name) in names.iter().enumerate().skip(1) {
                let size = kmalloc_size(i);
                let align = if size.is_power_of_two() { size } else { KMALLOC_MIN_SIZE };
                let mut flags = SlabFlags::KMALLOC;
                if kind == 1 {
                    flags |= SlabFlags::CACHE_DMA;
                }
                let c = self.kmem_cache_create(cpu, name, size, align, flags, None)?;
                self.kmalloc_caches[kind][i].store(c as *const KmemCache as *mut KmemCache, Relaxed);
            }
        }
        Ok(())
    }

    /// The kmalloc cache for `size` bytes and `gfp` (kmalloc_slab).
    pub fn kmalloc_slab(&self, size: usize, gfp: Gfp) -> Option<&'static KmemCache> {
        let i = kmalloc_index(size)?;
        let kind = usize::from(gfp.contains(Gfp::DMA));
        let p = self.kmalloc_caches[kind][i].load(Relaxed);
        // SAFETY: non-null entries were stored by kmalloc_init from caches it
        // created, which are never destroyed (raw::cache_at 1).
        (!p.is_null()).then(|| unsafe { raw::cache_at(p as usize) })
    }

    /// kmalloc.
    #[track_caller]
    #[inline]
    pub fn kmalloc(&self, cpu: usize, size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        self.kmalloc_caller(cpu, size, gfp, NUMA_NO_NODE, core::panic::Location::caller())
    }

    /// kmalloc_node.
    #[track_caller]
    pub fn kmalloc_node(&self, cpu: usize, size: usize, gfp: Gfp, nid: NodeId) -> Result<NonNull<u8>, Error> {
        self.kmalloc_caller(cpu, size, gfp, nid, core::panic::Location::caller())
    }

    /// kzalloc.
    #[track_caller]
    pub fn kzalloc(&self, cpu: usize, size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        self.kmalloc_caller(cpu, size, gfp | Gfp::ZERO, NUMA_NO_NODE, core::panic::Location::caller())
    }

    /// kcalloc: `n * size` zeroed bytes; overflow is `InvalidArgument`.
    #[track_caller]
    pub fn kcalloc(&self, cpu: usize, n: usize, size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        let bytes = n.checked_mul(size).ok_or(Error::InvalidArgument)?;
        self.kmalloc_caller(cpu, bytes, gfp | Gfp::ZERO, NUMA_NO_NODE, core::panic::Location::caller())
    }

    #[inline]
    pub(super) fn kmalloc_caller(
        &self,
        cpu: usize,
        size: usize,
        gfp: Gfp,
        nid: NodeId,
        caller: Caller,
    ) -> Result<NonNull<u8>, Error> {
        // One compare sends both 0 and sizes above the caches aside.
        if size.wrapping_sub(1) >= KMALLOC_MAX_CACHE_SIZE {
            if size == 0 {
                return NonNull::new(ZERO_SIZE_PTR as *mut u8).ok_or(Error::InvalidArgument);
            }
            return super::alloc::decode_slow(self.kmalloc_large_raw(cpu, size, gfp, nid));
        }
        let kind = usize::from(gfp.contains(Gfp::DMA));
        let i = self.size_index[(size - 1) / 8] as usize;
        // SAFETY: `size_index` is SIZE_INDEX, copied by `Slub::new` and never
        // written after, and every SIZE_INDEX entry is a kmalloc index, at
        // most KMALLOC_SHIFT_HIGH (the const assertion after SIZE_INDEX in cache.rs).
        unsafe { core::hint::assert_unchecked(i <= KMALLOC_SHIFT_HIGH) };
        let p = self.kmalloc_caches[kind][i].load(Relaxed);
        if p.is_null() {
            return Err(Error::InvalidArgument);
        }
        // SAFETY: non-null entries were stored by kmalloc_init from caches it
        // created, which are never destroyed (raw::cache_at 1).
        let cache = unsafe { raw::cache_at(p as usize) };
        self.slab_alloc(cpu, cache, gfp, nid, size, caller)
    }

    /// [`Self::kmalloc_large`] with its result in one register, as
    /// `slab_alloc_slow_raw` (so kmalloc's fast path returns in registers).
    #[cold]
    #[inline(never)]
    fn kmalloc_large_raw(&self, cpu: usize, size: usize, gfp: Gfp, nid: NodeId) -> usize {
        super::alloc::encode_slow(self.kmalloc_large(cpu, size, gfp, nid))
    }

    /// __kmalloc_large_node: compound pages straight from the page allocator.
    #[inline(always)]
    fn kmalloc_large(&self, cpu: usize, size: usize, gfp: Gfp, nid: NodeId) -> Result<NonNull<u8>, Error> {
        let order = get_order(size as u64);
        if order > crate::zone::MAX_PAGE_ORDER {
            return Err(Error::InvalidArgument);
        }
        let pfn = self.pa.alloc_pages_node(cpu, nid, gfp | Gfp::COMP, order)?;
        self.nr_slab_unreclaimable.fetch_add(1 << order, Relaxed);
        NonNull::new(H::page_address(pfn)).ok_or(Error::NoMemory)
    }

    /// The usable size of a kmalloc'ed object (ksize); 0 for what kmalloc
    /// never returned.
    pub fn ksize(&self, ptr: *const u8) -> usize {
        let addr = ptr as usize;
        if addr <= ZERO_SIZE_PTR {
            return 0;
        }
        if let Some((slab, cache)) = self.virt_to_slab(addr) {
            if !self.check_valid_pointer(cache, &slab, addr) {
                return 0;
            }
            if cache.has_orig_size() {
                // ksize() users may use the whole object.
                let _node = cache.node[self.node_of(&slab)].lock();
                // SAFETY: `addr` is an object of `slab` (checked above) of a
                // cache with an orig_size slot, and we hold its list_lock,
                // which orders every other write of the slot (set_orig_size 1, 2).
                unsafe { self.set_orig_size(cache, addr, cache.object_size) };
            }
            return cache.object_size;
        }
        match self.large_kmalloc_head(addr) {
            Some(pfn) => (PAGE_SIZE as usize) << self.pa.compound_order(pfn),
            None => 0,
        }
    }

    pub(super) fn large_kmalloc_head(&self, addr: usize) -> Option<Pfn> {
        let pfn = H::virt_to_pfn(addr as *const u8)?;
        let page = self.pa.memmap().pfn_to_page(pfn)?;
        (page.is_head() && !page.test_flags(PageFlags::SLAB) && H::page_address(pfn) as usize == addr).then_some(pfn)
    }

    /// kfree: null and ZERO_SIZE_PTR are fine; pointers kmalloc never
    /// returned, and objects already free, are reported and left alone.
    ///
    /// Always inline, as kmalloc: the fast path is a leaf of about sixty
    /// instructions, and the platform's one `kfree` function (the kernel's
    /// wrapper) is where it lands, without a second call layer.
    ///
    /// # Safety
    ///
    /// 1. If `ptr` is a live object, nobody uses it after this call.
    #[track_caller]
    #[inline(always)]
    pub unsafe fn kfree(&self, cpu: usize, ptr: *const u8) {
        let addr = ptr as usize;
        if addr <= ZERO_SIZE_PTR {
            return;
        }
        if let Some((slab, cache, off)) = self.virt_to_slab_off(addr) {
            return self.slab_free(cpu, cache, slab, addr, off, core::panic::Location::caller());
        }
        // SAFETY: obligation 1 (kfree_large 1).
        unsafe { self.kfree_large(cpu, addr) }
    }

    /// kfree of what is not a slab object: a large kmalloc, or a bug.
    ///
    /// # Safety
    ///
    /// 1. As [`Self::kfree`] 1.
    #[cold]
    #[inline(never)]
    unsafe fn kfree_large(&self, cpu: usize, addr: usize) {
        match self.large_kmalloc_head(addr) {
            Some(pfn) => {
                let order = self.pa.compound_order(pfn);
                self.nr_slab_unreclaimable.fetch_sub(1 << order, Relaxed);
                // SAFETY: a large kmalloc object is a compound block of
                // `order` from kmalloc_large whose one reference the caller
                // gives up (obligation 1: nobody uses it afterwards), so
                // free_pages' obligations 1-3 hold.
                unsafe { self.pa.free_pages(cpu, pfn, order) };
            }
            None => self.log(format_args!("kfree: invalid pointer 0x{addr:x}: not a kmalloc object")),
        }
    }

    /// krealloc: the same object when it is big enough (shrinking or growing
    /// within ksize), otherwise a new one with the contents copied.
    ///
    /// # Safety
    ///
    /// 1. `ptr` is null, ZERO_SIZE_PTR or a live kmalloc object of at least
    ///    its requested size, not used after a successful return unless the
    ///    same pointer comes back.
    #[track_caller]
    pub unsafe fn krealloc(&self, cpu: usize, ptr: *mut u8, new_size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
        let caller = core::panic::Location::caller();
        let addr = ptr as usize;
        if new_size == 0 {
            // SAFETY: obligation 1 (the caller gives the object up).
            unsafe { self.kfree(cpu, ptr) };
            return NonNull::new(ZERO_SIZE_PTR as *mut u8).ok_or(Error::InvalidArgument);
        }
        let (ks, old) = if addr <= ZERO_SIZE_PTR {
            (0, 0)
        } else if let Some((slab, cache)) = self.virt_to_slab(addr) {
            if !self.check_valid_pointer(cache, &slab, addr) {
                return Err(Error::InvalidArgument);
            }
            // SAFETY: `addr` is an object of `slab` (checked above) that the
            // caller owns (obligation 1) (get_orig_size 1, 2).
            let old = unsafe { self.get_orig_size(cache, addr) };
            if cache.object_size >= new_size {
                let ks = cache.object_size;
                // Linux's __do_krealloc: zero the spare memory for a zeroing
                // request (the grown part, or everything past the new end),
                // then lay the kmalloc red zone over [new_size, ksize).
                // SAFETY: the ranges lie in the object (`old` and `new_size`
                // are at most `ks`, its object size), which the caller owns
                // (obligation 1) (raw::fill 1, 2; set_orig_size 1, 2).
                unsafe {
                    if gfp.contains(Gfp::ZERO) || self.flags.contains(SlubFlags::INIT_ON_ALLOC) {
                        if old != 0 && old < new_size {
                            raw::fill(addr + old, new_size - old, 0);
                        } else {
                            raw::fill(addr + new_size, ks - new_size, 0);
                        }
                    }
                    if cache.has_orig_size() {
                        self.set_orig_size(cache, addr, new_size);
                        if cache.flags.contains(SlabFlags::RED_ZONE) && new_size < ks {
                            raw::fill(addr + new_size, ks - new_size, SLUB_RED_ACTIVE);
                        }
                    }
                }
                return NonNull::new(ptr).ok_or(Error::InvalidArgument);
            }
            (cache.object_size, old)
        } else {
            let ks = self.ksize(ptr);
            if ks == 0 {
                return Err(Error::InvalidArgument);
            }
            if ks >= new_size {
                return NonNull::new(ptr).ok_or(Error::InvalidArgument);
            }
            (ks, ks)
        };
        let new = self.kmalloc_caller(cpu, new_size, gfp, NUMA_NO_NODE, caller)?;
        if ks > 0 {
            let n = old.min(new_size);
            // SAFETY: `ptr` holds at least `old` bytes (obligation 1), the new
            // object at least `new_size`; they are distinct allocations.
            unsafe { raw::copy(ptr, new.as_ptr(), n) };
            // SAFETY: obligation 1: the old object is given up.
            unsafe { self.kfree(cpu, ptr) };
        }
        Ok(new)
    }
}
