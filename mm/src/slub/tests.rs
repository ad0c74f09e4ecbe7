//! Host tests of SLUB over the test fixture: a page allocator whose
//! memory is a real arena, reached through the fake linear map.

use super::*;
use crate::addr::Pfn;
use crate::config::NodeId;
use crate::error::Error;
use crate::gfp::Gfp;
use crate::hal::Hal;
use crate::mmzone::ZoneType;
use crate::page::PageFlags;
use crate::test_support::{Arena, NodeSpec, PageAllocator, Slub, TestFree, TestHal, build, take_log};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

const NR_PAGES: u64 = 2048;
const DMA_PAGES: u64 = 512;

fn page_address(pfn: Pfn) -> *mut u8 {
    TestHal::page_address(pfn)
}

fn virt_to_pfn(p: *const u8) -> Option<Pfn> {
    TestHal::virt_to_pfn(p)
}

struct Env {
    pa: &'static PageAllocator,
    slub: &'static Slub,
    base: u64,
}

impl Env {
    fn new(nr_cpus: usize, debug: SlubDebug, flags: SlubFlags) -> Env {
        let base = Arena::new(NR_PAGES).base_pfn;
        let b = base;
        let cpus = vec![0; nr_cpus];
        let pa = build(
            &[NodeSpec {
                nid: 0,
                zones: [(b, b + DMA_PAGES), (b + DMA_PAGES, b + DMA_PAGES), (b + DMA_PAGES, b + NR_PAGES), (0, 0)],
            }],
            &[(b, b + NR_PAGES)],
            &cpus,
        );
        let pa: &'static PageAllocator = Box::leak(Box::new(pa));
        let mut slub = Slub::new(pa);
        slub.set_debug(debug);
        slub.set_flags(flags);
        let slub: &'static Slub = Box::leak(Box::new(slub));
        take_log();
        Env { pa, slub, base }
    }

    fn plain() -> Env {
        Env::new(1, SlubDebug::OFF, SlubFlags::empty())
    }

    fn free_pages(&self) -> u64 {
        self.pa.drain_all_pages();
        self.pa.nr_free_pages()
    }

    fn cache(&self, name: &'static str, size: usize, flags: SlabFlags) -> &'static KmemCache {
        self.slub.kmem_cache_create(0, name, size, 8, flags, None).unwrap()
    }
}

fn write(p: NonNull<u8>, off: usize, val: u8) {
    // SAFETY: tests write into objects they own or deliberately into their
    // red zones / freed objects, all inside slab memory of the arena.
    unsafe { p.as_ptr().add(off).write(val) }
}

fn read(p: NonNull<u8>, off: usize) -> u8 {
    // SAFETY: as in `write`.
    unsafe { p.as_ptr().add(off).read() }
}

fn logged(log: &[String], what: &str) -> bool {
    log.iter().any(|l| l.contains(what))
}

#[test]
fn layout_matches_linux() {
    let l = calculate_sizes(64, 8, SlabFlags::empty(), false, 1).unwrap();
    assert_eq!((l.size, l.offset, l.inuse, l.red_left_pad, l.order, l.objects), (64, 32, 64, 0, 0, 64));
    assert_eq!(calculate_sizes(96, 8, SlabFlags::KMALLOC, false, 1).unwrap().objects, 42);
    assert_eq!(calculate_sizes(192, 8, SlabFlags::KMALLOC, false, 1).unwrap().objects, 21);
    let l = calculate_sizes(8192, 8192, SlabFlags::KMALLOC, false, 1).unwrap();
    assert_eq!((l.order, l.objects), (3, 4));
    let l = calculate_sizes(4096, 4096, SlabFlags::KMALLOC, false, 1).unwrap();
    assert_eq!((l.order, l.objects), (3, 8));
    let l = calculate_sizes(1024, 1024, SlabFlags::KMALLOC, false, 1).unwrap();
    assert_eq!((l.order, l.objects), (1, 8));
    // More CPUs, more objects per slab (min_objects = 4 * (fls(nr_cpus) + 1)).
    let l = calculate_sizes(1024, 1024, SlabFlags::KMALLOC, false, 64).unwrap();
    assert_eq!((l.order, l.objects), (3, 32));
    // slub_debug=FZPU on a 64-byte cache: left pad, red zone, free pointer, two tracks.
    let l = calculate_sizes(64, 8, SlabFlags::DEBUG_FLAGS, false, 1).unwrap();
    assert_eq!((l.inuse, l.offset, l.red_left_pad, l.size), (72, 72, 8, 144));
    assert_eq!((l.order, l.objects), (0, 28));
    // Z alone: the free pointer stays in the middle of the object.
    let l = calculate_sizes(64, 8, SlabFlags::RED_ZONE, false, 1).unwrap();
    assert_eq!((l.inuse, l.offset, l.size), (72, 32, 88));
    // A constructor moves the free pointer out of the object.
    assert_eq!(calculate_sizes(64, 8, SlabFlags::empty(), true, 1).unwrap().offset, 64);
    // HWCACHE_ALIGN halves the line while the object fits twice.
    assert_eq!(calculate_sizes(20, 8, SlabFlags::HWCACHE_ALIGN, false, 1).unwrap().size, 32);
    assert_eq!(calculate_sizes(40, 8, SlabFlags::HWCACHE_ALIGN, false, 1).unwrap().size, 64);
    assert_eq!(calculate_sizes(0, 8, SlabFlags::empty(), false, 1), Err(Error::InvalidArgument));
    assert_eq!(calculate_sizes(8, 3, SlabFlags::empty(), false, 1), Err(Error::InvalidArgument));
}

#[test]
fn min_partial_follows_ilog2() {
    let env = Env::plain();
    assert_eq!(env.cache("t8", 8, SlabFlags::empty()).min_partial(), 5);
    assert_eq!(env.cache("t8k", 8192, SlabFlags::empty()).min_partial(), 6);
    assert_eq!(env.cache("t256k", 256 * 1024, SlabFlags::empty()).min_partial(), 9);
}

#[test]
fn freelist_encoding_round_trips_and_randomises() {
    let r = 0x1234_5678_9abc_def0;
    let enc = freelist_ptr_encode(r, 0xffff_0000_1234_5000, 0xffff_0000_1234_5020);
    assert_ne!(enc, 0xffff_0000_1234_5000);
    assert_eq!(freelist_ptr_encode(r, enc as usize, 0xffff_0000_1234_5020), 0xffff_0000_1234_5000);
    let mut a = [0u16; 200];
    let mut b = [0u16; 200];
    init_random_seq(&mut a, 1);
    init_random_seq(&mut b, 2);
    let mut sorted = a;
    sorted.sort();
    assert!(sorted.iter().enumerate().all(|(i, &x)| x as usize == i), "a permutation");
    assert_ne!(a, b, "seeds differ");
    assert_ne!(a.to_vec(), (0..200).collect::<Vec<u16>>(), "shuffled");

    // Objects of a new slab come out in a shuffled order.
    let env = Env::plain();
    let c = env.cache("shuffle", 64, SlabFlags::empty());
    let ptrs: Vec<usize> =
        (0..64).map(|_| env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap().as_ptr() as usize).collect();
    assert!(ptrs.windows(2).any(|w| w[1] != w[0] + 64));
}

#[test]
fn alloc_free_shrink_returns_every_page() {
    let env = Env::plain();
    let baseline = env.free_pages();
    let c = env.cache("test_cache", 100, SlabFlags::empty());
    let mut ptrs = Vec::new();
    for i in 0..1000 {
        let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        assert_eq!(p.as_ptr() as usize % 8, 0);
        write(p, 0, i as u8);
        ptrs.push(p);
    }
    let mut sorted: Vec<usize> = ptrs.iter().map(|p| p.as_ptr() as usize).collect();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 1000, "distinct objects");
    for (i, p) in ptrs.iter().enumerate() {
        assert_eq!(read(*p, 0), i as u8);
    }
    let info = env.slub.cache_info(c);
    assert_eq!(info.active_objs, 1000);
    assert!(info.num_objs >= 1000);
    let (_, unreclaimable) = env.slub.nr_slab_pages();
    assert_eq!(unreclaimable, (info.num_slabs * info.pagesperslab) as u64);
    for p in ptrs {
        // SAFETY: p is a live object of c.
        unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    }
    assert_eq!(env.slub.cache_info(c).active_objs, 0);
    env.slub.kmem_cache_shrink(0, c);
    let info = env.slub.cache_info(c);
    assert_eq!((info.num_slabs, info.num_objs), (0, 0));
    assert_eq!(env.slub.nr_slab_pages(), (0, 0));
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    // SAFETY: c is not used afterwards.
    unsafe { env.slub.kmem_cache_destroy(0, c).unwrap() };
    assert_eq!(env.free_pages(), baseline);
    assert!(take_log().is_empty());
}

#[test]
fn a_free_into_an_empty_sheaf_takes_the_fast_path() {
    // A whole-sheaf flush leaves the sheaf empty; the fast path once
    // refused every free into an empty sheaf (its double-free check read
    // the top), which cost slab/pair-8 52 instructions a pair.
    let env = Env::plain();
    let c = env.cache("empty_sheaf", 64, SlabFlags::empty());
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap().as_ptr() as usize;
    env.slub.flush_all(0, c);
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, 0);
    let (_, _, off) = env.slub.virt_to_slab_off(p).unwrap();
    assert!(env.slub.free_fast(0, c, off, p), "refused a free into the empty sheaf");
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, 1);
    // The naive double-free check still fires on the top.
    assert!(!env.slub.free_fast(0, c, off, p));
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, 1);
    let q = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap().as_ptr() as usize;
    assert_eq!(q, p);
    // SAFETY: a live object of c, freed once.
    unsafe { env.slub.kmem_cache_free(0, c, q as *mut u8) };
}

#[test]
fn partial_lists_keep_min_partial_empty_slabs() {
    // A debug cache has no CPU slab or CPU partials: lists are exact.
    let env = Env::plain();
    let c = env.cache("partial_u", 256, SlabFlags::STORE_USER);
    let per = c.objects_per_slab() as usize;
    let ptrs: Vec<_> = (0..per * 10).map(|_| env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap()).collect();
    assert_eq!(env.slub.cache_info(c).num_slabs, 10);
    {
        let n = c.node[0].lock();
        assert_eq!(n.nr_partial, 0, "all full");
    }
    // One free moves a full slab to the partial list.
    // SAFETY: live object of c.
    unsafe { env.slub.kmem_cache_free(0, c, ptrs[0].as_ptr()) };
    assert_eq!(c.node[0].lock().nr_partial, 1);
    for p in &ptrs[1..] {
        // SAFETY: live objects of c.
        unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    }
    // Empty slabs beyond min_partial went back.
    assert_eq!(env.slub.cache_info(c).num_slabs, c.min_partial());
    assert_eq!(c.node[0].lock().nr_partial, c.min_partial());
    env.slub.kmem_cache_shrink(0, c);
    assert_eq!(env.slub.cache_info(c).num_slabs, 0);

    // The per-CPU path: full slabs freed into go to the CPU partial list.
    let c = env.cache("partial_cpu", 256, SlabFlags::empty());
    let per = c.objects_per_slab() as usize;
    let ptrs: Vec<_> = (0..per * 20).map(|_| env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap()).collect();
    assert_eq!(env.slub.cache_info(c).num_slabs, 20);
    // Frees fill the sheaf first; the slabs do not see them.
    for p in &ptrs[..SHEAF_CAPACITY] {
        // SAFETY: live objects of c, in full slabs (not the CPU slab).
        unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    }
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, SHEAF_CAPACITY);
    assert_eq!(c.cpu_slab()[0].lock().nr_partial, 0);
    assert_eq!(env.slub.cache_info(c).active_objs, per * 20 - SHEAF_CAPACITY);
    // A full sheaf goes back whole to the (full) slabs of its objects, as
    // Linux's sheaf_flush_main; they move to the CPU partial list.
    // SAFETY: live object of c.
    unsafe { env.slub.kmem_cache_free(0, c, ptrs[SHEAF_CAPACITY].as_ptr()) };
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, 1);
    assert_eq!(c.cpu_slab()[0].lock().nr_partial, SHEAF_CAPACITY.div_ceil(per));
    assert!(SHEAF_CAPACITY.div_ceil(per) <= c.cpu_partial_slabs, "the flush overflowed the CPU partial list");
    for p in &ptrs[SHEAF_CAPACITY + 1..] {
        // SAFETY: live objects of c.
        unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    }
    let info = env.slub.cache_info(c);
    assert!(info.num_slabs <= c.min_partial() + c.cpu_partial_slabs + 1, "{info:?}");
    env.slub.kmem_cache_shrink(0, c);
    assert_eq!(env.slub.cache_info(c).num_slabs, 0);
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
}

#[test]
fn kmalloc_size_classes() {
    let env = Env::plain();
    env.slub.kmalloc_init(0).unwrap();
    for size in 1..=KMALLOC_MAX_CACHE_SIZE {
        let idx = kmalloc_index(size).unwrap();
        let class = kmalloc_size(idx);
        assert!(class >= size && (idx < 3 || class / 2 < size || class == 8 || (size <= 192 && class <= 192)));
        let expect = match size {
            1..=8 => 8,
            65..=96 => 96,
            129..=192 => 192,
            _ => size.next_power_of_two(),
        };
        assert_eq!(class, expect, "size {size}");
        let p = env.slub.kmalloc(0, size, Gfp::KERNEL).unwrap();
        assert_eq!(env.slub.ksize(p.as_ptr()), class);
        assert_eq!(env.slub.kmalloc_slab(size, Gfp::KERNEL).unwrap().object_size(), class);
        if class.is_power_of_two() {
            assert_eq!(p.as_ptr() as usize % class, 0, "natural alignment of {class}");
        }
        // SAFETY: live kmalloc object.
        unsafe { env.slub.kfree(0, p.as_ptr()) };
    }
    assert_eq!(env.slub.kmalloc_slab(100, Gfp::KERNEL).unwrap().name(), "kmalloc-128");
    assert_eq!(env.slub.kmalloc_slab(1000, Gfp::KERNEL | Gfp::DMA).unwrap().name(), "dma-kmalloc-1k");
    assert_eq!(kmalloc_index(8193), None);
    assert!(take_log().is_empty());
}

#[test]
fn large_kmalloc_uses_compound_pages() {
    let env = Env::plain();
    env.slub.kmalloc_init(0).unwrap();
    let baseline = env.free_pages();
    let p = env.slub.kmalloc(0, 8193, Gfp::KERNEL).unwrap();
    assert_eq!(env.slub.ksize(p.as_ptr()), 16384);
    let pfn = virt_to_pfn(p.as_ptr()).unwrap();
    let page = env.pa.memmap().pfn_to_page(pfn).unwrap();
    assert!(page.is_head() && !page.test_flags(PageFlags::SLAB));
    assert_eq!(env.slub.nr_slab_pages().1, 4);
    let q = env.slub.kmalloc(0, 20000, Gfp::KERNEL).unwrap();
    assert_eq!(env.slub.ksize(q.as_ptr()), 32768);
    // SAFETY: live kmalloc objects.
    unsafe {
        env.slub.kfree(0, p.as_ptr());
        env.slub.kfree(0, q.as_ptr());
    }
    assert_eq!(env.slub.nr_slab_pages().1, 0);
    assert_eq!(env.free_pages(), baseline);
}

#[test]
fn kcalloc_kzalloc_krealloc() {
    let env = Env::new(1, SlubDebug::OFF, SlubFlags::INIT_ON_FREE);
    env.slub.kmalloc_init(0).unwrap();
    assert_eq!(env.slub.kcalloc(0, usize::MAX / 2, 4, Gfp::KERNEL), Err(Error::InvalidArgument));
    let p = env.slub.kmalloc(0, 64, Gfp::KERNEL).unwrap();
    for i in 0..64 {
        write(p, i, 0xee);
    }
    // SAFETY: live object.
    unsafe { env.slub.kfree(0, p.as_ptr()) };
    let z = env.slub.kcalloc(0, 16, 4, Gfp::KERNEL).unwrap();
    assert!((0..64).all(|i| read(z, i) == 0));
    let z2 = env.slub.kzalloc(0, 50, Gfp::KERNEL).unwrap();
    assert!((0..50).all(|i| read(z2, i) == 0));

    let p = env.slub.kmalloc(0, 40, Gfp::KERNEL).unwrap();
    for i in 0..40 {
        write(p, i, i as u8);
    }
    // SAFETY: p is a live kmalloc object of 40 bytes.
    let same = unsafe { env.slub.krealloc(0, p.as_ptr(), 20, Gfp::KERNEL).unwrap() };
    assert_eq!(same, p, "shrinking keeps the object");
    // SAFETY: same is live.
    let same = unsafe { env.slub.krealloc(0, same.as_ptr(), 64, Gfp::KERNEL).unwrap() };
    assert_eq!(same, p, "growing within ksize keeps the object");
    // SAFETY: same is live.
    let big = unsafe { env.slub.krealloc(0, same.as_ptr(), 3000, Gfp::KERNEL).unwrap() };
    assert_ne!(big, p);
    assert!((0..20).all(|i| read(big, i) == i as u8));
    assert!(env.slub.ksize(big.as_ptr()) >= 3000);
    // SAFETY: big is live.
    let huge = unsafe { env.slub.krealloc(0, big.as_ptr(), 10000, Gfp::KERNEL).unwrap() };
    assert!((0..20).all(|i| read(huge, i) == i as u8));
    // SAFETY: huge is live (a large kmalloc).
    let back = unsafe { env.slub.krealloc(0, huge.as_ptr(), 100, Gfp::KERNEL).unwrap() };
    assert_eq!(back, huge, "large kmalloc shrinks in place");
    // kmalloc(0) and kfree(null).
    let zero = env.slub.kmalloc(0, 0, Gfp::KERNEL).unwrap();
    assert_eq!(zero.as_ptr() as usize, ZERO_SIZE_PTR);
    assert_eq!(env.slub.ksize(zero.as_ptr()), 0);
    // SAFETY: null, ZERO_SIZE_PTR and live objects.
    unsafe {
        env.slub.kfree(0, core::ptr::null());
        env.slub.kfree(0, zero.as_ptr());
        env.slub.kfree(0, back.as_ptr());
        env.slub.kfree(0, z.as_ptr());
        env.slub.kfree(0, z2.as_ptr());
    }
    assert!(take_log().is_empty());
}

static CTOR_CALLS: AtomicUsize = AtomicUsize::new(0);

fn ctor(p: *mut u8) {
    CTOR_CALLS.fetch_add(1, Relaxed);
    // SAFETY: SLUB passes a free object of the cache (at least 32 bytes).
    unsafe { p.write_bytes(0x42, 32) };
}

#[test]
fn constructor_runs_on_every_object_of_a_new_slab() {
    let env = Env::plain();
    let c = env.slub.kmem_cache_create(0, "ctor", 32, 8, SlabFlags::empty(), Some(ctor)).unwrap();
    let before = CTOR_CALLS.load(Relaxed);
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    assert_eq!(CTOR_CALLS.load(Relaxed) - before, c.objects_per_slab() as usize);
    assert!((0..32).all(|i| read(p, i) == 0x42), "the free pointer lives outside the object");
    // SAFETY: live object.
    unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
}

#[test]
fn zones_and_reclaim_accounting() {
    let env = Env::plain();
    env.slub.kmalloc_init(0).unwrap();
    let p = env.slub.kmalloc(0, 100, Gfp::KERNEL | Gfp::DMA).unwrap();
    let pfn = virt_to_pfn(p.as_ptr()).unwrap();
    assert!(pfn.0 < env.base + DMA_PAGES);
    assert_eq!(env.pa.memmap().pfn_to_page(pfn).unwrap().zone_type(), ZoneType::Dma);
    let c = env.cache("reclaimable", 128, SlabFlags::RECLAIM_ACCOUNT);
    let q = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    assert_eq!(env.slub.nr_slab_pages().0, 1);
    assert!(c.allocflags.contains(Gfp::RECLAIMABLE));
    // SAFETY: live objects.
    unsafe {
        env.slub.kfree(0, p.as_ptr());
        env.slub.kfree(0, q.as_ptr());
    }
    let mut s = String::new();
    env.slub.slabinfo(&mut s).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "slabinfo - version: 2.1");
    assert!(lines[1].starts_with("# name            <active_objs> <num_objs> <objsize>"));
    assert!(lines.iter().any(|l| l.starts_with("kmalloc-64 ")));
    assert!(lines.iter().any(|l| l.starts_with("dma-kmalloc-128 ")));
    assert!(lines.iter().any(|l| l.starts_with("reclaimable ")));
}

#[test]
fn no_user_flags_keeps_slub_debug_off_a_cache() {
    let env = Env::new(1, SlubDebug::parse::<TestHal>(None), SlubFlags::empty());
    let with = env.cache("TestSlub_user", 64, SlabFlags::empty());
    let without = env.cache("TestSlub_nouser", 64, SlabFlags::NO_USER_FLAGS);
    assert!(with.flags().contains(SlabFlags::RED_ZONE | SlabFlags::POISON));
    assert!(!without.flags().intersects(SlabFlags::RED_ZONE | SlabFlags::POISON | SlabFlags::STORE_USER));
}

#[test]
fn slub_debug_parser() {
    let all = SlubDebug::parse::<TestHal>(None);
    assert_eq!(all.flags(), SlabFlags::DEBUG_FLAGS);
    assert_eq!(all.flags_for("anything"), SlabFlags::DEBUG_FLAGS);
    let fz = SlubDebug::parse::<TestHal>(Some("FZ"));
    assert_eq!(fz.flags(), SlabFlags::CONSISTENCY_CHECKS | SlabFlags::RED_ZONE);
    let some = SlubDebug::parse::<TestHal>(Some("FZ,kmalloc-64,dentry*"));
    assert_eq!(some.flags_for("kmalloc-64"), SlabFlags::CONSISTENCY_CHECKS | SlabFlags::RED_ZONE);
    assert_eq!(some.flags_for("kmalloc-128"), SlabFlags::empty());
    assert_eq!(some.flags_for("dentry_cache"), SlabFlags::CONSISTENCY_CHECKS | SlabFlags::RED_ZONE);
    assert_eq!(SlubDebug::parse::<TestHal>(Some("-")).flags(), SlabFlags::empty());
    assert_eq!(SlubDebug::parse::<TestHal>(Some(",kmalloc-8")).flags_for("kmalloc-8"), SlabFlags::DEBUG_FLAGS);
    take_log();
    assert_eq!(SlubDebug::parse::<TestHal>(Some("Fq")).flags(), SlabFlags::CONSISTENCY_CHECKS);
    assert!(logged(&take_log(), "slub_debug option 'q' unknown"));
    // Applied at cache creation.
    let env = Env::new(1, SlubDebug::parse::<TestHal>(Some("P,poisoned")), SlubFlags::empty());
    assert_eq!(env.cache("poisoned", 64, SlabFlags::empty()).flags(), SlabFlags::POISON);
    assert_eq!(env.cache("clean", 64, SlabFlags::empty()).flags(), SlabFlags::empty());
}

#[test]
fn clobbered_red_zone_is_reported_and_repaired() {
    let env = Env::plain();
    let c = env.cache("TestSlub_RZ_alloc", 64, SlabFlags::RED_ZONE);
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    write(p, 64, 0x12);
    assert_eq!(env.slub.validate_slab_cache(0, c), 1);
    let log = take_log();
    assert!(logged(&log, "BUG TestSlub_RZ_alloc (Not tainted): Right Redzone overwritten"), "{log:#?}");
    assert!(logged(&log, "First byte 0x12 instead of 0xcc"));
    assert!(logged(&log, "FIX TestSlub_RZ_alloc: Restoring Right Redzone"));
    assert!(logged(&log, "Object   "));
    assert_eq!(read(p, 64), SLUB_RED_ACTIVE);
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    // Left red zone, caught at free with F.
    let c2 = env.cache("TestSlub_RZ_free", 64, SlabFlags::RED_ZONE | SlabFlags::CONSISTENCY_CHECKS);
    let q = env.slub.kmem_cache_alloc(0, c2, Gfp::KERNEL).unwrap();
    // SAFETY: one byte before the object is its left red zone, in the slab.
    unsafe { q.as_ptr().sub(1).write(0x34) };
    // SAFETY: q is live.
    unsafe { env.slub.kmem_cache_free(0, c2, q.as_ptr()) };
    assert_eq!(c2.errors(), 1);
    assert!(logged(&take_log(), "Left Redzone overwritten"));
    assert_eq!(env.slub.cache_info(c2).active_objs, 1, "the damaged object is not freed");
    // SAFETY: p is live.
    unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    assert_eq!(c.errors(), 1);
}

#[test]
fn writes_into_freed_poisoned_object() {
    for (name, off, val) in [("TestSlub_1th_word_free", 0usize, 0x78u8), ("TestSlub_50th_word_free", 50, 0x9a)] {
        let env = Env::plain();
        let c = env.cache(name, 64, SlabFlags::POISON);
        let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        // SAFETY: p is live.
        unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
        write(p, off, val);
        assert_eq!(env.slub.validate_slab_cache(0, c), 1);
        let log = take_log();
        assert!(logged(&log, &format!("BUG {name} (Not tainted): Poison overwritten")), "{log:#?}");
        assert!(logged(&log, &format!("First byte 0x{val:x} instead of 0x6b")));
        assert!(logged(&log, &format!("FIX {name}: Restoring Poison")));
        assert_eq!(read(p, off), POISON_FREE);
        assert_eq!(env.slub.validate_slab_cache(0, c), 0);
        // Caught at allocation too, and the object is repaired and handed out.
        write(p, off, val);
        let q = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        assert_eq!(c.errors(), 2);
        // SAFETY: q is live.
        unsafe { env.slub.kmem_cache_free(0, c, q.as_ptr()) };
        assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    }
}

#[test]
fn corrupted_free_pointer_is_detected_then_repaired() {
    let env = Env::plain();
    let c = env.cache("TestSlub_next_ptr_free", 64, SlabFlags::POISON);
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    // SAFETY: p is live.
    unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    let slot = p.as_ptr() as usize + c.offset();
    // SAFETY: the free pointer slot of a free object, inside the slab.
    unsafe { (slot as *mut u64).write((slot as *const u64).read() ^ 0x7f) };
    // Freepointer corrupt (the chain is cut there), then the object count is wrong.
    assert_eq!(env.slub.validate_slab_cache(0, c), 2);
    let log = take_log();
    assert!(logged(&log, "BUG TestSlub_next_ptr_free (Not tainted): Freepointer corrupt"), "{log:#?}");
    assert!(logged(&log, "Wrong object count"));
    assert!(logged(&log, "FIX TestSlub_next_ptr_free: Object count adjusted"));
    assert_eq!(env.slub.validate_slab_cache(0, c), 0, "repaired");
    // The rest of the slab is isolated; allocation carries on.
    let q = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    assert_eq!(q, p);
    let r = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    assert_ne!(virt_to_pfn(r.as_ptr()), virt_to_pfn(p.as_ptr()));
    assert_eq!(c.errors(), 2);
}

#[test]
fn kmalloc_red_zone_starts_at_requested_size() {
    let env = Env::new(1, SlubDebug::parse::<TestHal>(Some("Z,kmalloc-32")), SlubFlags::empty());
    env.slub.kmalloc_init(0).unwrap();
    let c = env.slub.kmalloc_slab(18, Gfp::KERNEL).unwrap();
    assert_eq!(c.name(), "kmalloc-32");
    let p = env.slub.kmalloc(0, 18, Gfp::KERNEL).unwrap();
    assert_eq!(read(p, 18), SLUB_RED_ACTIVE);
    write(p, 18, 0xab);
    write(p, 19, 0xab);
    assert_eq!(env.slub.validate_slab_cache(0, c), 1);
    let log = take_log();
    assert!(logged(&log, "BUG kmalloc-32 (Not tainted): kmalloc Redzone overwritten"), "{log:#?}");
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    // ksize hands the whole object to the caller: no more kmalloc red zone.
    assert_eq!(env.slub.ksize(p.as_ptr()), 32);
    write(p, 31, 0xab);
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    // SAFETY: p is live.
    unsafe { env.slub.kfree(0, p.as_ptr()) };
    assert_eq!(c.errors(), 1);
}

/// Linux's test_krealloc_redzone_zeroing: shrink and grow within a
/// kmalloc-64 object with __GFP_ZERO keep the red zone from the requested
/// size and zero what is handed back; growing past it copies and zeroes.
#[test]
fn krealloc_red_zone_and_zeroing() {
    let env = Env::new(1, SlubDebug::parse::<TestHal>(Some("FZPU,kmalloc-64")), SlubFlags::empty());
    env.slub.kmalloc_init(0).unwrap();
    let c = env.slub.kmalloc_slab(48, Gfp::KERNEL).unwrap();
    let p = env.slub.kmalloc(0, 48, Gfp::KERNEL).unwrap();
    for i in 0..48 {
        write(p, i, 0xff);
    }
    // SAFETY: p is live; krealloc returns it or a new object.
    let p = unsafe { env.slub.krealloc(0, p.as_ptr(), 40, Gfp::KERNEL | Gfp::ZERO) }.unwrap();
    assert!((40..64).all(|i| read(p, i) == SLUB_RED_ACTIVE), "shrink: red zone from 40");
    // SAFETY: as above.
    let q = unsafe { env.slub.krealloc(0, p.as_ptr(), 56, Gfp::KERNEL | Gfp::ZERO) }.unwrap();
    assert_eq!(q, p, "grow within the object keeps it");
    assert!((40..56).all(|i| read(q, i) == 0), "grow: the new bytes are zero");
    assert!((56..64).all(|i| read(q, i) == SLUB_RED_ACTIVE), "grow: red zone from 56");
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    for i in 0..56 {
        write(q, i, 0xff);
    }
    // SAFETY: as above.
    let r = unsafe { env.slub.krealloc(0, q.as_ptr(), 112, Gfp::KERNEL | Gfp::ZERO) }.unwrap();
    assert!((0..56).all(|i| read(r, i) == 0xff), "contents copied");
    assert!((56..112).all(|i| read(r, i) == 0), "the rest zeroed");
    // Without __GFP_ZERO the red zone still follows the size.
    let s = env.slub.kmalloc(0, 48, Gfp::KERNEL).unwrap();
    // SAFETY: as above.
    let s = unsafe { env.slub.krealloc(0, s.as_ptr(), 60, Gfp::KERNEL) }.unwrap();
    assert!((60..64).all(|i| read(s, i) == SLUB_RED_ACTIVE));
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    assert_eq!(c.errors(), 0);
    // SAFETY: live objects, freed once each.
    unsafe {
        env.slub.kfree(0, r.as_ptr());
        env.slub.kfree(0, s.as_ptr());
    }
}

#[test]
fn destroy_with_live_object_refuses() {
    let env = Env::plain();
    let baseline = env.free_pages();
    let c = env.cache("TestSlub_destroy", 64, SlabFlags::empty());
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    write(p, 0, 7);
    // SAFETY: c stays in use only after the failed destroy, which keeps it.
    assert_eq!(unsafe { env.slub.kmem_cache_destroy(0, c) }, Err(Error::Busy));
    assert!(logged(&take_log(), "kmem_cache_destroy TestSlub_destroy: Slab cache still has objects"));
    assert_eq!(read(p, 0), 7);
    let mut s = String::new();
    env.slub.slabinfo(&mut s).unwrap();
    assert!(s.contains("TestSlub_destroy "));
    // SAFETY: p is live.
    unsafe { env.slub.kfree(0, p.as_ptr()) };
    // SAFETY: c is not used afterwards.
    assert_eq!(unsafe { env.slub.kmem_cache_destroy(0, c) }, Ok(()));
    assert_eq!(env.free_pages(), baseline);
}

#[test]
fn double_free_is_refused() {
    for flags in [SlabFlags::empty(), SlabFlags::CONSISTENCY_CHECKS | SlabFlags::POISON] {
        let env = Env::plain();
        let c = env.cache("TestSlub_double", 64, flags);
        let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        let q = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        // SAFETY: p is live; the second free is the bug under test.
        unsafe {
            env.slub.kmem_cache_free(0, c, p.as_ptr());
            env.slub.kmem_cache_free(0, c, p.as_ptr());
        }
        assert_eq!(c.errors(), 1);
        assert!(logged(&take_log(), "BUG TestSlub_double (Not tainted): Object already free"));
        // SAFETY: q is live.
        unsafe { env.slub.kmem_cache_free(0, c, q.as_ptr()) };
        if flags.contains(SlabFlags::CONSISTENCY_CHECKS) {
            // Not at the head of the freelist any more: only slub_debug=F's
            // exact check (a freelist walk) sees it.
            // SAFETY: p again is the bug.
            unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
            assert_eq!(c.errors(), 2);
        }
        assert_eq!(env.slub.cache_info(c).active_objs, 0);
        assert_eq!(env.slub.validate_slab_cache(0, c), 0);
        let a = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        let b = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        assert_ne!(a, b, "the freelist is not corrupted");
    }
}

#[test]
fn a_double_free_refused_at_flush_leaves_the_counts_exact() {
    // An object flushed from a full sheaf to the head of the CPU freelist,
    // then freed again into the emptied sheaf: the fast path's check sees
    // only the guard, the next flush's sees the head. The refused object
    // stays free once, and active_objs, walked from the freelists, stays
    // exact.
    let env = Env::plain();
    let c = env.cache("flush_double", 64, SlabFlags::empty());
    let objs: Vec<_> = (0..SHEAF_CAPACITY).map(|_| env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap()).collect();
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    assert_eq!(env.slub.cache_info(c).active_objs, SHEAF_CAPACITY + 1);
    // SAFETY: every object is live and freed once here; the sheaf fills
    // with objs[..last] and p, and the last free flushes it, p last, so p
    // heads the CPU freelist.
    unsafe {
        for o in &objs[..SHEAF_CAPACITY - 1] {
            env.slub.kmem_cache_free(0, c, o.as_ptr());
        }
        env.slub.kmem_cache_free(0, c, p.as_ptr());
        env.slub.kmem_cache_free(0, c, objs[SHEAF_CAPACITY - 1].as_ptr());
    }
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, 1);
    let x = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, 0);
    assert_eq!(env.slub.cache_info(c).active_objs, 1);
    // SAFETY: the second free of p is the bug under test.
    unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    assert_eq!(c.cpu_slab()[0].lock().nr_sheaf, 1, "the fast path took it");
    assert_eq!(c.errors(), 0);
    env.slub.kmem_cache_shrink(0, c);
    assert_eq!(c.errors(), 1);
    assert!(logged(&take_log(), "INFO: double free of"));
    assert_eq!(env.slub.cache_info(c).active_objs, 1);
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
    // SAFETY: x is live.
    unsafe { env.slub.kmem_cache_free(0, c, x.as_ptr()) };
    env.slub.kmem_cache_shrink(0, c);
    assert_eq!(env.slub.cache_info(c).active_objs, 0);
    let mut seen = std::collections::HashSet::new();
    for _ in 0..2 * SHEAF_CAPACITY {
        let o = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        assert!(seen.insert(o), "an object handed out twice: the freelist is corrupt");
    }
    assert_eq!(env.slub.cache_info(c).active_objs, 2 * SHEAF_CAPACITY);
}

#[test]
fn a_new_slab_fills_the_sheaf_directly() {
    // The first allocation from an empty cache takes a new slab: its first
    // objects go straight into the sheaf (their free pointers zeroed), the
    // rest onto the CPU freelist (from which the refill tops the sheaf up
    // for the one handed out), each object in exactly one place.
    for size in [64, 1024] {
        let env = Env::plain();
        let c = env.cache("direct_fill", size, SlabFlags::empty());
        let objects = c.objects as usize;
        let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
        let cs = c.cpu_slab()[0].lock();
        let in_sheaf = (objects - 1).min(SHEAF_CAPACITY);
        assert_eq!(cs.nr_sheaf, in_sheaf, "size {size}");
        let mut seen = std::collections::HashSet::from([p.as_ptr() as usize]);
        for &o in &cs.sheaf[1..=cs.nr_sheaf] {
            assert!(seen.insert(o), "an object twice");
            // SAFETY: a free object in the sheaf, its free pointer word in
            // the slab; nobody else touches it while we hold the slot lock.
            assert_eq!(unsafe { ((o + c.offset()) as *const u64).read() }, 0, "a stale free pointer");
        }
        // SAFETY: the CPU freelist of the frozen slab, under its slot lock.
        assert_eq!(unsafe { raw::freelist_len(c, cs.freelist) }, objects - 1 - in_sheaf);
        drop(cs);
        assert_eq!(env.slub.cache_info(c).active_objs, 1);
        let rest: Vec<_> = (1..objects).map(|_| env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap()).collect();
        for o in &rest {
            seen.insert(o.as_ptr() as usize);
        }
        assert_eq!(seen.len(), objects, "every object of the slab, once");
        assert_eq!(env.slub.cache_info(c).num_slabs, 1);
        assert_eq!(env.slub.validate_slab_cache(0, c), 0);
        assert!(take_log().is_empty());
    }
}

#[test]
fn invalid_free_is_refused() {
    let env = Env::plain();
    env.slub.kmalloc_init(0).unwrap();
    let p = env.slub.kmalloc(0, 64, Gfp::KERNEL).unwrap();
    let c = env.slub.kmalloc_slab(64, Gfp::KERNEL).unwrap();
    // SAFETY: misaligned pointer into a live object: refused.
    unsafe { env.slub.kfree(0, p.as_ptr().add(1)) };
    assert_eq!(c.errors(), 1);
    assert!(logged(&take_log(), "BUG kmalloc-64 (Not tainted): Invalid object pointer"));
    let local = 5u64;
    // SAFETY: not a kmalloc pointer: refused.
    unsafe { env.slub.kfree(0, (&raw const local).cast()) };
    assert!(logged(&take_log(), "not a kmalloc object"));
    // A page that is neither a slab nor a compound head.
    let pfn = env.pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    // SAFETY: not a kmalloc pointer: refused.
    unsafe { env.slub.kfree(0, page_address(pfn)) };
    assert!(logged(&take_log(), "not a kmalloc object"));
    env.pa.test_free_pages(0, pfn, 0);
    // A cache mismatch.
    let other = env.cache("other", 64, SlabFlags::empty());
    // SAFETY: wrong cache: refused.
    unsafe { env.slub.kmem_cache_free(0, other, p.as_ptr()) };
    assert!(logged(&take_log(), "Wrong slab cache"));
    assert_eq!(env.slub.cache_info(c).active_objs, 1);
    // SAFETY: p is live.
    unsafe { env.slub.kfree(0, p.as_ptr()) };
    assert_eq!(env.slub.validate_slab_cache(0, c), 0);
}

#[test]
fn owner_tracking_names_the_caller() {
    let env = Env::plain();
    let c = env.cache("TestSlub_track", 64, SlabFlags::STORE_USER | SlabFlags::POISON);
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    // SAFETY: p is live.
    unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    write(p, 3, 0);
    assert_eq!(env.slub.validate_slab_cache(0, c), 1);
    let log = take_log();
    assert!(logged(&log, "Allocated in mm/src/slub/tests.rs:"), "{log:#?}");
    assert!(logged(&log, "Freed in mm/src/slub/tests.rs:"));
    assert!(logged(&log, "cpu=0"));
}

#[test]
fn init_on_alloc_and_gfp_zero() {
    let env = Env::new(1, SlubDebug::OFF, SlubFlags::INIT_ON_ALLOC);
    let c = env.cache("init", 64, SlabFlags::empty());
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    for i in 0..64 {
        write(p, i, 0xff);
    }
    // SAFETY: p is live.
    unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    let q = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    assert_eq!(q, p);
    assert!((0..64).all(|i| read(q, i) == 0));
    let env = Env::plain();
    let c = env.cache("zero", 64, SlabFlags::empty());
    let p = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap();
    for i in 0..64 {
        write(p, i, 0xff);
    }
    // SAFETY: p is live.
    unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    let q = env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL | Gfp::ZERO).unwrap();
    assert!((0..64).all(|i| read(q, i) == 0));
}

#[test]
fn cpus_free_each_others_objects() {
    const CPUS: usize = 4;
    const PER_CPU: usize = 3000;
    for flags in [SlabFlags::empty(), SlabFlags::CONSISTENCY_CHECKS] {
        let env = Env::new(CPUS, SlubDebug::OFF, SlubFlags::empty());
        let baseline = env.free_pages();
        let c = env.cache("smp", 128, flags);
        let shared: &'static Mutex<Vec<usize>> = Box::leak(Box::new(Mutex::new(Vec::new())));
        let slub = env.slub;
        let handles: Vec<_> = (0..CPUS)
            .map(|cpu| {
                std::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..PER_CPU {
                        let p = slub.kmem_cache_alloc(cpu, c, Gfp::KERNEL).unwrap();
                        write(p, 0, cpu as u8);
                        if i % 2 == 0 {
                            shared.lock().unwrap().push(p.as_ptr() as usize);
                        } else {
                            mine.push(p.as_ptr() as usize);
                        }
                        if i % 3 == 0 {
                            let other = shared.lock().unwrap().pop();
                            if let Some(o) = other {
                                // SAFETY: objects in `shared` are live and owned by whoever pops them.
                                unsafe { slub.kmem_cache_free(cpu, c, o as *mut u8) };
                            }
                        }
                    }
                    for p in mine {
                        // SAFETY: our own live objects.
                        unsafe { slub.kmem_cache_free(cpu, c, p as *mut u8) };
                    }
                    assert!(take_log().is_empty());
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        for o in shared.lock().unwrap().drain(..) {
            // SAFETY: live objects left in the queue.
            unsafe { env.slub.kmem_cache_free(1, c, o as *mut u8) };
        }
        assert_eq!(env.slub.cache_info(c).active_objs, 0);
        assert_eq!(env.slub.validate_slab_cache(0, c), 0);
        env.slub.kmem_cache_shrink(2, c);
        let info = env.slub.cache_info(c);
        assert_eq!((info.active_objs, info.num_objs, info.num_slabs), (0, 0, 0));
        // SAFETY: c is not used afterwards.
        unsafe { env.slub.kmem_cache_destroy(3, c).unwrap() };
        assert_eq!(env.free_pages(), baseline);
        assert!(take_log().is_empty());
    }
}

#[test]
fn alloc_node_uses_the_requested_node() {
    let env = Env::plain();
    env.slub.kmalloc_init(0).unwrap();
    let c = env.cache("node", 64, SlabFlags::empty());
    let p = env.slub.kmem_cache_alloc_node(0, c, Gfp::KERNEL, NodeId(0)).unwrap();
    assert_eq!(env.pa.memmap().pfn_to_page(virt_to_pfn(p.as_ptr()).unwrap()).unwrap().node(), NodeId(0));
    assert_eq!(env.slub.kmem_cache_alloc_node(0, c, Gfp::KERNEL, NodeId(5)), Err(Error::InvalidArgument));
    let q = env.slub.kmalloc_node(0, 300, Gfp::KERNEL, NodeId(0)).unwrap();
    assert_eq!(env.slub.ksize(q.as_ptr()), 512);
    let info = env.slub.cache_info(c);
    assert_eq!((info.active_objs, info.num_slabs, info.objperslab, info.objsize), (1, 1, 64, 64));
    // SAFETY: live objects.
    unsafe {
        env.slub.kfree(0, p.as_ptr());
        env.slub.kfree(0, q.as_ptr());
    }
}

/// A small xorshift for the model tests.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn sheaves_against_a_model() {
    // Random allocations and frees on four CPUs (frees by any CPU), with
    // shrinks and validations from any CPU in between, against a model:
    // the set of live objects. No object is handed out twice while live,
    // objects keep their contents, slabinfo's active count is the model's,
    // and at the end every page comes back.
    const CPUS: usize = 4;
    for seed in [1u64, 0x9e37_79b9, 0xdead_beef_f00d] {
        let env = Env::new(CPUS, SlubDebug::OFF, SlubFlags::empty());
        let baseline = env.free_pages();
        let c = env.cache("model", 96, SlabFlags::empty());
        let mut live: Vec<(usize, u8)> = Vec::new();
        let mut set = std::collections::HashSet::new();
        let mut x = seed;
        for step in 0..20_000u32 {
            let cpu = (next(&mut x) % CPUS as u64) as usize;
            let r = next(&mut x) % 100;
            if r < 55 || live.is_empty() {
                let p = env.slub.kmem_cache_alloc(cpu, c, Gfp::KERNEL).unwrap();
                let tag = step as u8;
                assert!(set.insert(p.as_ptr() as usize), "object handed out twice");
                for i in 0..96 {
                    write(p, i, tag);
                }
                live.push((p.as_ptr() as usize, tag));
            } else if r < 99 {
                let k = (next(&mut x) % live.len() as u64) as usize;
                let (p, tag) = live.swap_remove(k);
                let nn = NonNull::new(p as *mut u8).unwrap();
                assert!((0..96).all(|i| read(nn, i) == tag), "a live object was written by someone else");
                set.remove(&p);
                // SAFETY: a live object of c, freed once.
                unsafe { env.slub.kmem_cache_free(cpu, c, p as *mut u8) };
            } else if step % 2 == 0 {
                env.slub.kmem_cache_shrink(cpu, c);
            } else {
                assert_eq!(env.slub.validate_slab_cache(cpu, c), 0);
            }
            if step % 997 == 0 {
                assert_eq!(env.slub.cache_info(c).active_objs, live.len());
            }
            for slot in c.cpu_slab() {
                let cs = slot.lock();
                assert_eq!(cs.sheaf[0], 0, "the sheaf's guard entry was overwritten");
                assert!(cs.nr_sheaf <= SHEAF_CAPACITY);
            }
        }
        for (p, _) in live.drain(..) {
            // SAFETY: live objects of c.
            unsafe { env.slub.kmem_cache_free(3, c, p as *mut u8) };
        }
        assert_eq!(env.slub.cache_info(c).active_objs, 0);
        assert_eq!(env.slub.validate_slab_cache(1, c), 0);
        env.slub.kmem_cache_shrink(2, c);
        assert_eq!(env.slub.cache_info(c).num_slabs, 0);
        // SAFETY: c is not used afterwards.
        unsafe { env.slub.kmem_cache_destroy(0, c).unwrap() };
        assert_eq!(env.free_pages(), baseline);
        assert!(take_log().is_empty());
    }
}

#[test]
fn shrink_from_another_cpu_empties_every_sheaf() {
    let env = Env::new(2, SlubDebug::OFF, SlubFlags::empty());
    let baseline = env.free_pages();
    let c = env.cache("remote_flush", 64, SlabFlags::empty());
    let ptrs: Vec<_> = (0..10).map(|_| env.slub.kmem_cache_alloc(1, c, Gfp::KERNEL).unwrap()).collect();
    // The refill left objects in CPU 1's sheaf; a shrink takes them back.
    assert!(c.cpu_slab()[1].lock().nr_sheaf > 0);
    env.slub.kmem_cache_shrink(1, c);
    assert_eq!(c.cpu_slab()[1].lock().nr_sheaf, 0);
    for p in &ptrs {
        // SAFETY: live objects of c.
        unsafe { env.slub.kmem_cache_free(1, c, p.as_ptr()) };
    }
    assert_eq!(c.cpu_slab()[1].lock().nr_sheaf, 10, "the frees wait in CPU 1's sheaf");
    assert_eq!(env.slub.cache_info(c).num_slabs, 1);
    env.slub.kmem_cache_shrink(0, c);
    assert_eq!(c.cpu_slab()[1].lock().nr_sheaf, 0);
    let info = env.slub.cache_info(c);
    assert_eq!((info.active_objs, info.num_slabs), (0, 0));
    // SAFETY: c is not used afterwards.
    unsafe { env.slub.kmem_cache_destroy(0, c).unwrap() };
    assert_eq!(env.free_pages(), baseline);
}

#[test]
fn freeing_and_reallocating_reuses_slabs() {
    // Three slabs' worth freed and allocated again: the empty slabs stay
    // (up to min_partial), so the second round takes no page.
    let env = Env::plain();
    let c = env.cache("reuse", 256, SlabFlags::empty());
    let n = 3 * c.objects_per_slab() as usize;
    let ptrs: Vec<_> = (0..n).map(|_| env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap()).collect();
    for p in &ptrs {
        // SAFETY: live objects of c.
        unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
    }
    let slabs = env.slub.cache_info(c).num_slabs;
    assert!(slabs >= 3 && slabs <= 3 + c.min_partial(), "{slabs} slabs");
    let free = env.free_pages();
    for _ in 0..3 {
        let ptrs: Vec<_> = (0..n).map(|_| env.slub.kmem_cache_alloc(0, c, Gfp::KERNEL).unwrap()).collect();
        for p in &ptrs {
            // SAFETY: live objects of c.
            unsafe { env.slub.kmem_cache_free(0, c, p.as_ptr()) };
        }
        assert_eq!(env.slub.cache_info(c).num_slabs, slabs);
        assert_eq!(env.free_pages(), free, "slabs went back to the page allocator and came again");
    }
}

#[test]
fn cpu_slots_are_cache_line_aligned_and_small() {
    assert_eq!(core::mem::align_of::<super::cache::CpuSlot>(), 64);
    assert_eq!(core::mem::size_of::<super::cache::CpuSlot>(), 512);
    let env = Env::new(3, SlubDebug::OFF, SlubFlags::empty());
    let c = env.cache("slots", 64, SlabFlags::empty());
    assert_eq!(c.cpu_slab().len(), 3, "one slot per CPU the page allocator knows");
    for s in c.cpu_slab() {
        assert_eq!(s as *const _ as usize % 64, 0);
    }
    // A CPU number without a slot is refused, not served.
    assert_eq!(env.slub.kmem_cache_alloc(3, c, Gfp::KERNEL), Err(Error::InvalidArgument));
}

#[test]
fn slow_path_result_survives_its_one_register_encoding() {
    use super::alloc::{decode_slow, encode_slow};
    for e in [Error::NoMemory, Error::InvalidArgument, Error::Busy, Error::NotFound] {
        assert_eq!(decode_slow(encode_slow(Err(e))), Err(e));
    }
    for a in [4096usize, 0xffff_0000_0000_1040, usize::MAX & !7] {
        let p = NonNull::new(a as *mut u8).unwrap();
        assert_eq!(decode_slow(encode_slow(Ok(p))), Ok(p));
    }
}
