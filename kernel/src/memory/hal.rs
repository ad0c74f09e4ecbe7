//! `mm`'s platform, implemented for this kernel: the console, the linear
//! map, the timer and a hardening seed. `mm` is generic over it; the type
//! aliases below are the allocators this kernel runs.
//!
//! Log levels keep what each subsystem printed before: the page allocator
//! warns (KERN_WARNING), SLUB reports bugs (KERN_ERR), memblock=debug is
//! information (KERN_INFO).

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use mm::hal::{Hal, LinearMapping, LogLevel};
use mm::{PAGE_SIZE, Pfn, PhysAddr};

use crate::memory::linear_map::{linear_map_covers, phys_to_virt, virt_to_pfn_checked, virt_to_phys_wrapping};
use crate::{pr_err, pr_info, pr_warn};

/// The page allocator over this kernel's platform.
pub type PageAllocator = mm::page_alloc::PageAllocator<KernelHal>;
/// SLUB over this kernel's platform.
pub type Slub = mm::slub::Slub<KernelHal>;
/// memblock over this kernel's platform.
pub type Memblock = mm::memblock::Memblock<KernelHal>;

/// This kernel, as `mm` sees it.
pub struct KernelHal;

/// debug_pagealloc's map/unmap of linear-map pages: registered by
/// `pgtable` once it has mapped the linear map with pages (this file sits
/// below it and cannot call it). Lock-free to read.
static KERNEL_MAP_PAGES: spin::Once<fn(Pfn, u64, LinearMapping)> = spin::Once::new();

/// Route [`Hal::kernel_map_pages`] to `f` (once; later calls are ignored).
pub fn set_kernel_map_pages(f: fn(Pfn, u64, LinearMapping)) {
    KERNEL_MAP_PAGES.call_once(|| f);
}

/// xorshift64* state for [`Hal::random`], seeded once by [`seed_random`].
static RNG: AtomicU64 = AtomicU64::new(0x9e37_79b9_7f4a_7c15);

/// Seed the hardening random source (SLUB init, from the device tree's
/// rng-seed or kaslr-seed, else the timer).
pub fn seed_random(seed: u64) {
    RNG.store(seed, Ordering::Relaxed);
}

// SAFETY: 1. page_address is the linear map, which maps all RAM the page
// allocator manages read-write at PAGE_OFFSET + (pa - memstart), linearly
// (so aligned blocks are contiguous), for the kernel's life. 2. virt_to_pfn
// inverts it and answers None outside the linear map's virtual range or
// above what it covers. 3. phys_to_virt answers only for ranges the linear
// map covers (checked), page-aligned as pa is; memblock owns what it asks
// for. 4. zero_pages writes exactly the frames named, through the same map.
// 5. printk, the timer and the atomic RNG never call into an allocator. 6.
// kernel_map_pages is pgtable's, which writes only the valid bits of the
// named frames' linear-map page descriptors, publishing a map before it
// returns.
unsafe impl Hal for KernelHal {
    fn log(level: LogLevel, args: core::fmt::Arguments<'_>) {
        match level {
            LogLevel::Err => pr_err!("{}", args),
            LogLevel::Warning => pr_warn!("{}", args),
            LogLevel::Info => pr_info!("{}", args),
        }
    }

    fn random() -> u64 {
        // Races between CPUs only mix the stream further; no value is trusted
        // for anything but obfuscation and shuffling.
        let mut x = RNG.load(Ordering::Relaxed);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        RNG.store(x, Ordering::Relaxed);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn now() -> u64 {
        arch::timer::counter()
    }

    #[inline]
    fn page_address(pfn: Pfn) -> *mut u8 {
        phys_to_virt(pfn.phys()).as_u64() as *mut u8
    }

    #[inline(always)]
    fn virt_to_pfn(p: *const u8) -> Option<Pfn> {
        virt_to_pfn_checked(p as u64)
    }

    #[inline(always)]
    fn virt_to_phys_unchecked(p: *const u8) -> u64 {
        virt_to_phys_wrapping(p as u64)
    }

    fn phys_to_virt(pa: PhysAddr, size_bytes: u64) -> Option<NonNull<u8>> {
        if !linear_map_covers(pa, size_bytes) {
            return None;
        }
        NonNull::new(phys_to_virt(pa).as_u64() as *mut u8)
    }

    fn kernel_map_pages(pfn: Pfn, nr_pages: u64, how: LinearMapping) {
        if let Some(f) = KERNEL_MAP_PAGES.get() {
            f(pfn, nr_pages, how);
        }
    }

    fn zero_pages(pfn: Pfn, nr_pages: u64) {
        let va = phys_to_virt(pfn.phys()).as_u64() as *mut u8;
        // SAFETY: the allocator zeroes only frames it owns (being allocated or
        // freed), which are RAM covered by the linear map read-write.
        unsafe { core::ptr::write_bytes(va, 0, (nr_pages * PAGE_SIZE) as usize) };
    }
}
