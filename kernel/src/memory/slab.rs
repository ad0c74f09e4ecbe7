//! SLUB, wired: `mm::slub` over the page allocator and Linux's kmalloc API
//! for the kernel, and mempools over both.
//! Once up, it is also the Rust heap (`heap::switch_to_kmalloc`, which
//! `main.rs` calls right after [`init`]).
//!
//! The core reaches the platform through `super::hal::KernelHal`: the linear
//! map both ways, the log (KERN_ERR: its lines are bug reports), a random
//! source for the free-pointer obfuscation and freelist shuffling seeded here
//! from the device tree's rng-seed and kaslr-seed (else the timer), and the
//! timer for owner tracking.
//!
//! Callers run with interrupts masked (always, for now), which is what the
//! per-CPU sheaves and slabs need (with each CPU slot's own lock for the
//! remote flushes of kmem_cache_shrink, see mm::slub); the CPU number comes
//! from TPIDR_EL1. `slub_debug=F` turns on the exact double-free check
//! (every free looks for the object on its slab's freelists); without it,
//! only a free of the object freed last is caught, as in Linux.

use super::hal::{KernelHal, Slub};
use super::linear_map::page_address as linear_address;
use super::{page_alloc, pages};
use crate::{pr_err, pr_info};
use bootdata::cmdline::{Params, SlubDebugArg};
use bootdata::devicetree::DtInfo;
use core::ptr::NonNull;
use mm::gfp::Gfp;
use mm::memblock::NodeId;
use mm::slub::{SlubDebug, SlubFlags};
use mm::{Error, VirtAddr};

static SLUB: spin::Once<Slub> = spin::Once::new();

/// The slab allocator (None before `init`).
pub fn slub() -> Option<&'static Slub> {
    SLUB.get()
}

fn seed_from_boot(dt: &DtInfo) -> (u64, &'static str) {
    let mut seed = 0u64;
    for (i, &b) in dt.rng_seed.iter().enumerate() {
        seed ^= (b as u64) << ((i % 8) * 8);
        seed = seed.rotate_left(7);
    }
    let source = match (dt.rng_seed.is_empty(), dt.kaslr_seed) {
        (false, _) => "rng-seed",
        (true, Some(k)) => {
            seed ^= k;
            "kaslr-seed"
        }
        (true, None) => {
            seed = arch::timer::counter() ^ (arch::timer::counter() << 17);
            "the timer"
        }
    };
    (if seed == 0 { 0x9e37_79b9_7f4a_7c15 } else { seed }, source)
}

/// Bring SLUB up with the boot's `slub_debug=` and `init_on_*=`, its
/// freelist hardening seeded from the device tree's seeds.
#[inline(never)]
pub fn init(params: &Params, dt: &DtInfo) -> Result<(), Error> {
    let (seed, source) = seed_from_boot(dt);
    super::hal::seed_random(seed);
    let mut s = Slub::new(page_alloc::allocator());
    let mut flags = SlubFlags::empty();
    if params.init_on_alloc {
        flags |= SlubFlags::INIT_ON_ALLOC;
    }
    if params.init_on_free {
        flags |= SlubFlags::INIT_ON_FREE;
    }
    s.set_flags(flags);
    let debug = match &params.slub_debug {
        SlubDebugArg::Unset => SlubDebug::OFF,
        SlubDebugArg::Bare => SlubDebug::parse::<KernelHal>(None),
        SlubDebugArg::Value(v) => SlubDebug::parse::<KernelHal>(Some(v)),
    };
    s.set_debug(debug);
    let s = SLUB.call_once(|| s);
    s.kmalloc_init(arch::percpu::smp_processor_id())?;
    pr_info!(
        "SLUB: kmalloc caches up, the Rust heap on kmalloc; freelist hardening seeded from {source}; slub_debug: {}",
        if debug.flags().is_empty() { "off" } else { "on" }
    );
    Ok(())
}

fn cpu() -> usize {
    arch::percpu::smp_processor_id()
}

/// Linux's kmalloc.
#[track_caller]
pub fn kmalloc(size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
    slub().ok_or(Error::NotFound)?.kmalloc(cpu(), size, gfp)
}

/// Linux's kzalloc.
#[track_caller]
pub fn kzalloc(size: usize, gfp: Gfp) -> Result<NonNull<u8>, Error> {
    slub().ok_or(Error::NotFound)?.kzalloc(cpu(), size, gfp)
}

/// Linux's kmalloc_node: an object on node `nid` if it can be.
#[track_caller]
pub fn kmalloc_node(size: usize, gfp: Gfp, nid: NodeId) -> Result<NonNull<u8>, Error> {
    slub().ok_or(Error::NotFound)?.kmalloc_node(cpu(), size, gfp, nid)
}

/// Linux's kzalloc_node.
#[track_caller]
pub fn kzalloc_node(size: usize, gfp: Gfp, nid: NodeId) -> Result<NonNull<u8>, Error> {
    kmalloc_node(size, gfp | Gfp::ZERO, nid)
}

/// Linux's kfree (null is fine).
///
/// # Safety
/// 1. `ptr` is null or a live kmalloc object, not used after this call.
#[track_caller]
pub unsafe fn kfree(ptr: *const u8) {
    if let Some(s) = slub() {
        // SAFETY: obligation 1 is the core's.
        unsafe { s.kfree(cpu(), ptr) };
    } else if !ptr.is_null() {
        pr_err!("kfree({ptr:p}) before SLUB is up; ignored");
    }
}

/// Linux's ksize.
pub fn ksize(ptr: *const u8) -> usize {
    slub().map_or(0, |s| s.ksize(ptr))
}

/// Every kmalloc object size (kmalloc-8 .. kmalloc-8k, with 96 and 192).
pub const KMALLOC_SIZES: [usize; 13] = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192];

/// Return every empty slab of the kmalloc caches to the page allocator
/// (kmem_cache_shrink on each, normal and DMA): what a test calls before it
/// compares page counts, since its own heap use may have created slabs.
pub fn shrink_kmalloc_caches() {
    let Some(s) = slub() else { return };
    for gfp in [Gfp::KERNEL, Gfp::DMA] {
        for size in KMALLOC_SIZES {
            if let Some(c) = s.kmalloc_slab(size, gfp) {
                s.kmem_cache_shrink(cpu(), c);
            }
        }
    }
}

/// A second SLUB over the same page allocator with `slub_debug=OPTIONS` on
/// its own kmalloc caches (the `ours-debug` benchmark). Made once, kept.
pub fn debug_instance(options: &str) -> Option<&'static Slub> {
    static DEBUG: spin::Once<Option<&'static Slub>> = spin::Once::new();
    *DEBUG.call_once(|| {
        let mut s = Slub::new(page_alloc::allocator());
        s.set_debug(SlubDebug::parse::<KernelHal>(Some(options)));
        let s: &'static Slub = alloc::boxed::Box::leak(alloc::boxed::Box::new(s));
        s.kmalloc_init(cpu()).ok().map(|_| s)
    })
}

/// Linux's mempool_alloc_pages for order-0 pages: the linear-map address.
fn mempool_alloc_page(gfp: Gfp, _: usize) -> Option<NonNull<u8>> {
    let (pfn, _) = pages::alloc_pages(gfp, 0).ok()?.into_raw();
    NonNull::new(linear_address(pfn).as_u64() as *mut u8)
}

fn mempool_free_page(p: NonNull<u8>, _: usize) {
    // SAFETY: 1. the pool frees only elements mempool_alloc_page made: order-0
    // blocks whose Pages handle gave them up; 2. the pool forgets them here.
    unsafe { pages::free_pages(VirtAddr(p.as_ptr() as u64), 0) };
}

fn mempool_kmalloc(gfp: Gfp, size: usize) -> Option<NonNull<u8>> {
    kmalloc(size, gfp).ok()
}

fn mempool_kfree(p: NonNull<u8>, _: usize) {
    // SAFETY: the pool frees only elements its kmalloc callback made.
    unsafe { kfree(p.as_ptr()) };
}

/// Linux's mempool_create_page_pool (order 0): a reserve of `min_nr` pages.
pub fn mempool_create_page_pool(min_nr: usize) -> Result<mm::mempool::Mempool, Error> {
    mm::mempool::Mempool::create(min_nr, mempool_alloc_page, mempool_free_page, 0)
}

/// Linux's mempool_create_kmalloc_pool: a reserve of `min_nr` objects of `size`.
pub fn mempool_create_kmalloc_pool(min_nr: usize, size: usize) -> Result<mm::mempool::Mempool, Error> {
    mm::mempool::Mempool::create(min_nr, mempool_kmalloc, mempool_kfree, size)
}
