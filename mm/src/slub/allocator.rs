//! The slab allocator object, and creating, shrinking and destroying caches.

use core::fmt;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::addr::{PAGE_SIZE, Pfn};
use crate::config::MAX_NUMNODES;
use crate::error::Error;
use crate::gfp::Gfp;
use crate::hal::{Hal, LogLevel};
use crate::page::PfnList;
use crate::page_alloc::{PageAllocator, get_order};

use super::cache::{
    CacheList, CpuSlot, KMALLOC_MAX_CACHE_SIZE, KMALLOC_SHIFT_HIGH, KmemCache, KmemCacheNode, MAX_CACHES, MAX_PARTIAL,
    MIN_PARTIAL, SIZE_INDEX, SlabFlags, SlubDebug, SlubFlags,
};
use super::freelist::init_random_seq;
use super::layout::calculate_sizes;
use super::raw;

/// Who asked (a caller address for owner tracking).
pub(super) type Caller = &'static core::panic::Location<'static>;

/// The slab allocator. See the module documentation.
///
/// `repr(C)` with `size_index` first: kmalloc's fast path reads its class
/// at `self + (size - 1) / 8`, one load from a register it already holds,
/// where the global table took two more instructions to address.
#[repr(C)]
pub struct Slub<H: Hal> {
    /// kmalloc's size classes by `(size - 1) / 8`: a copy of
    /// [`SIZE_INDEX`].
    pub(super) size_index: [u8; KMALLOC_MAX_CACHE_SIZE / 8],
    pub(super) pa: &'static PageAllocator<H>,
    pub(super) flags: SlubFlags,
    pub(super) debug: SlubDebug,
    pub(super) caches: spin::Mutex<CacheList>,
    pub(super) kmalloc_caches: [[AtomicPtr<KmemCache>; KMALLOC_SHIFT_HIGH + 1]; 2],
    pub(super) nr_slab_reclaimable: AtomicU64,
    pub(super) nr_slab_unreclaimable: AtomicU64,
}

/// What to do with a slab after its list_lock is dropped.
pub(super) enum Deferred {
    Nothing,
    Discard(Pfn),
}

impl<H: Hal> Slub<H> {
    /// A slab allocator over `pa`, reaching the platform through `H`.
    pub const fn new(pa: &'static PageAllocator<H>) -> Slub<H> {
        Slub {
            size_index: SIZE_INDEX,
            pa,
            flags: SlubFlags::empty(),
            debug: SlubDebug::OFF,
            caches: spin::Mutex::new(CacheList { caches: [0; MAX_CACHES], nr: 0 }),
            kmalloc_caches: [const { [const { AtomicPtr::new(core::ptr::null_mut()) }; KMALLOC_SHIFT_HIGH + 1] }; 2],
            nr_slab_reclaimable: AtomicU64::new(0),
            nr_slab_unreclaimable: AtomicU64::new(0),
        }
    }

    /// Set init_on_alloc / init_on_free (before any cache exists: each
    /// cache decides its fast paths when it is created).
    pub fn set_flags(&mut self, flags: SlubFlags) {
        self.flags = flags;
    }

    /// Set the slub_debug option (before any cache exists).
    pub fn set_debug(&mut self, debug: SlubDebug) {
        self.debug = debug;
    }

    /// Slab pages (reclaimable, unreclaimable) for meminfo; large kmalloc
    /// pages count as unreclaimable, as in Linux.
    pub fn nr_slab_pages(&self) -> (u64, u64) {
        (self.nr_slab_reclaimable.load(Relaxed), self.nr_slab_unreclaimable.load(Relaxed))
    }

    pub(super) fn log(&self, args: fmt::Arguments<'_>) {
        H::log(LogLevel::Err, args)
    }

    // ----- cache creation and destruction ------------------------------

    /// Create a cache (kmem_cache_create) and add it to the cache list.
    #[allow(clippy::too_many_arguments)]
    pub fn kmem_cache_create(
        &self,
        cpu: usize,
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
    ) -> Result<&'static KmemCache, Error> {
        let r = self.create_cache(cpu, name, size, align, flags, ctor);
        if r.is_err() && flags.contains(SlabFlags::PANIC) {
            panic!("kmem_cache_create: Failed to create slab '{name}'");
        }
        r
    }

    pub(super) fn create_cache(
        &self,
        cpu: usize,
        name: &'static str,
        size: usize,
        align: usize,
        flags: SlabFlags,
        ctor: Option<fn(*mut u8)>,
    ) -> Result<&'static KmemCache, Error> {
        let flags = if flags.contains(SlabFlags::NO_USER_FLAGS) { flags } else { flags | self.debug.flags_for(name) };
        let layout = calculate_sizes(size, align, flags, ctor.is_some(), self.pa.nr_cpus())?;
        let size_nz = core::num::NonZeroUsize::new(layout.size).ok_or(Error::InvalidArgument)?;
        // The storage: the KmemCache, its per-CPU slots (cache-line
        // aligned), then the random sequence.
        let nr_cpus = self.pa.nr_cpus().max(1);
        let slots_off = core::mem::size_of::<KmemCache>().next_multiple_of(core::mem::align_of::<CpuSlot>());
        let seq_off = slots_off + nr_cpus * core::mem::size_of::<CpuSlot>();
        let bytes = seq_off + layout.objects as usize * 2;
        let storage_order = get_order(bytes as u64);
        let mut list = self.caches.lock();
        if list.nr == MAX_CACHES {
            return Err(Error::NoMemory);
        }
        let pfn = self.pa.alloc_pages(cpu, Gfp::KERNEL | Gfp::COMP, storage_order)?;
        let base = H::page_address(pfn);
        let slots_addr = base as usize + slots_off;
        let seq_addr = base as usize + seq_off;
        // SAFETY: the slots lie in the pages just allocated for this cache,
        // after its KmemCache, aligned (base is page-aligned, slots_off a
        // multiple of the slot alignment), seen by nobody else
        // (raw::init_cpu_slots 1).
        unsafe { raw::init_cpu_slots(slots_addr, nr_cpus) };
        let random = H::random();
        // SAFETY: the pages at `base` were just allocated for this cache, are
        // mapped (Hal obligation 1), `bytes` long, and nobody else sees them;
        // the sequence follows the KmemCache, 2-aligned (raw::random_seq_mut 1).
        let seq = unsafe { raw::random_seq_mut(seq_addr, layout.objects as usize) };
        init_random_seq(seq, H::random());
        let min_partial =
            ((usize::BITS - 1 - layout.size.leading_zeros()) as usize / 2).clamp(MIN_PARTIAL, MAX_PARTIAL);
        let debug = flags.intersects(SlabFlags::DEBUG_FLAGS);
        let cpu_partial_slabs = if debug {
            0
        } else {
            let nr_objects = match layout.size {
                s if s >= PAGE_SIZE as usize => 6,
                s if s >= 1024 => 24,
                s if s >= 256 => 52,
                _ => 120,
            };
            (nr_objects * 2usize).div_ceil(layout.objects as usize)
        };
        let mut allocflags = Gfp::COMP;
        if flags.contains(SlabFlags::CACHE_DMA) {
            allocflags |= Gfp::DMA;
        }
        if flags.contains(SlabFlags::CACHE_DMA32) {
            allocflags |= Gfp::DMA32;
        }
        if flags.contains(SlabFlags::RECLAIM_ACCOUNT) {
            allocflags |= Gfp::RECLAIMABLE;
        }
        let fast_alloc = !debug && !self.flags.contains(SlubFlags::INIT_ON_ALLOC);
        let fast_free = !debug && !self.flags.contains(SlubFlags::INIT_ON_FREE);
        let cache = KmemCache {
            name,
            flags,
            object_size: layout.object_size,
            size: layout.size,
            align: layout.align,
            offset: layout.offset,
            inuse: layout.inuse,
            red_left_pad: layout.red_left_pad,
            order: layout.order,
            objects: layout.objects,
            min_partial,
            cpu_partial_slabs,
            allocflags,
            ctor,
            random,
            random_seq: seq_addr,
            storage: (pfn, storage_order),
            cpu_slots: (slots_addr, nr_cpus),
            node: [const { spin::Mutex::new(KmemCacheNode::EMPTY) }; MAX_NUMNODES],
            errors: AtomicUsize::new(0),
            fast_alloc_cpus: if fast_alloc { nr_cpus } else { 0 },
            fast_free_cpus: if fast_free { nr_cpus } else { 0 },
            size_nz,
            span: layout.objects as usize * layout.size,
        };
        // SAFETY: as above, the pages are ours and large enough (1); they stay
        // allocated until kmem_cache_destroy, whose caller promises not to
        // use the cache afterwards (2).
        let cache: &'static KmemCache = unsafe { raw::place_cache(base, cache) };
        let nr = list.nr;
        list.caches[nr] = cache as *const KmemCache as usize;
        list.nr += 1;
        Ok(cache)
    }

    /// Destroy a cache (kmem_cache_destroy): flush, free every slab, take it
    /// off the cache list. With live objects the cache is reported, left in
    /// place (nothing in use is freed) and `Err(Busy)` returned.
    ///
    /// # Safety
    ///
    /// 1. No other reference to `cache` is used after a successful return
    ///    (its memory goes back to the page allocator).
    /// 2. No other CPU uses the cache concurrently.
    pub unsafe fn kmem_cache_destroy(&self, cpu: usize, cache: &'static KmemCache) -> Result<(), Error> {
        self.kmem_cache_shrink(cpu, cache);
        if self.active_objs(cache) != 0 {
            self.log(format_args!("kmem_cache_destroy {}: Slab cache still has objects", cache.name));
            return Err(Error::Busy);
        }
        let mut list = self.caches.lock();
        let nr = list.nr;
        if let Some(i) = list.caches[..nr].iter().position(|&c| c == cache as *const KmemCache as usize) {
            list.caches.copy_within(i + 1..nr, i);
            list.nr -= 1;
        }
        drop(list);
        let (pfn, order) = cache.storage;
        // SAFETY: create_cache allocated the cache's storage with this order
        // and kept its one reference (free_pages 1, 2); the cache is off the
        // list, has no slabs left, and the caller uses it no more
        // (obligations 1 and 2) (free_pages 3).
        unsafe { self.pa.free_pages(cpu, pfn, order) };
        Ok(())
    }

    /// Return every empty slab, including those on per-CPU lists, to the
    /// page allocator (kmem_cache_shrink / __kmem_cache_do_shrink).
    pub fn kmem_cache_shrink(&self, cpu: usize, cache: &KmemCache) {
        self.flush_all(cpu, cache);
        for n in 0..MAX_NUMNODES {
            let mut discard = PfnList::EMPTY;
            let mut node = cache.node[n].lock();
            let map = self.pa.memmap();
            let mut keep = PfnList::EMPTY;
            while let Some(v) = node.partial.pop_front(map) {
                let slab = self.slab_at(Pfn(v.get()));
                if slab.counters().inuse == 0 {
                    node.nr_partial -= 1;
                    node.nr_slabs -= 1;
                    node.total_objects -= cache.objects as usize;
                    discard.push_back(map, v);
                } else {
                    keep.push_back(map, v);
                }
            }
            node.partial = keep;
            drop(node);
            while let Some(v) = discard.pop_front(map) {
                self.discard_slab(cpu, cache, Pfn(v.get()));
            }
        }
    }

    /// Empty every CPU's sheaf, deactivate its slab and unfreeze its
    /// partials (flush_all), one CPU's lock at a time.
    pub(super) fn flush_all(&self, cpu: usize, cache: &KmemCache) {
        for (c, slot) in cache.cpu_slab().iter().enumerate() {
            let mut cs = slot.lock();
            let nr = cs.nr_sheaf;
            if nr > 0 {
                self.flush_sheaf(cpu, c, cache, &mut cs, nr);
            }
            self.deactivate_slab(cpu, cache, &mut cs);
            self.unfreeze_partials(cpu, cache, &mut cs);
        }
    }
}
