//! hal: how `mm` reaches the platform.
//!
//! `mm` is architecture-free and runs on the host in its tests, so it never
//! names a register, a linear-map offset or a console. Everything it needs
//! from the machine comes through two kinds of trait:
//!
//! ```text
//!   Hal (associated functions, one type per platform)
//!     log(level, args)        one report line      warnings, BUG reports, memblock=debug
//!     random()                random bits          SLUB freelist hardening and shuffling
//!     now()                   a timestamp          SLUB owner tracking (age=)
//!     page_address(pfn)       frame -> address     SLUB objects, kmalloc_large
//!     virt_to_pfn(addr)       address -> frame     kfree / ksize of a pointer
//!     phys_to_virt(pa, len)   range -> address     memblock's grown region arrays
//!     zero_pages(pfn, n)      clear frames         __GFP_ZERO, init_on_alloc/free
//!     kernel_map_pages(pfn,   map / unmap frames   debug_pagealloc: free pages leave
//!       n, LinearMapping)     in the linear map    the linear map (default: nothing)
//!     comm(cpu, out)          the running task     "BUG: Bad page state in process <comm>"
//!
//!   PteFormat (associated functions)   descriptor bits, implemented by `arch`
//!   PgtableMem (a value, &mut self)    where page-table pages live and how
//!                                      they are reached; a TLB flush
//! ```
//!
//! The page-table pair is defined with the walker in `crate::pgtable` and
//! re-exported here: it stays a value-level trait because the same walker
//! runs with different memory (the MMU-off head reaches tables by physical
//! address, the kernel through the linear map, tests through a Vec), and an
//! implementor carries state (a pool, a table source).
//!
//! # Why a trait with associated functions
//!
//! The allocators are generic over their platform: `PageAllocator<H>`,
//! `Slub<H>`, `Memblock<H>`, with `H: Hal` a zero-sized type. A call such as
//! `H::page_address(pfn)` is then a direct call that the compiler sees
//! through and usually inlines (on arm64 `page_address` is an add of the
//! linear-map offset), where the structs of `fn` pointers this replaced were
//! an indirect call on every use, some of them on the slab free fast path.
//! The next issue removes every indirect call from the allocation fast
//! paths; with static dispatch there is nothing left to remove here. The
//! price is a type parameter on the three allocator types, which a kernel
//! names once with a type alias (`type PageAllocator =
//! mm::page_alloc::PageAllocator<KernelHal>`). A trait object was the other
//! candidate and was rejected for the same reason as the function pointers;
//! link-time symbols (`extern "Rust"` functions defined by the kernel) would
//! be direct calls too but cannot be inlined without LTO, need `unsafe` at
//! every call, and would allow only one fake per host test binary.
//!
//! The host tests implement `Hal` once, in the test fixture: a Vec-backed
//! "linear map", a log captured per test thread, a seeded random generator
//! and a counter for a clock.
//!
//! # Calling context
//!
//! Hal functions are called with interrupts masked (the allocators' callers
//! run so) and possibly with `mm`'s own locks held: a SLUB report is written
//! under the node's list_lock, page zeroing under no lock. An implementation
//! must therefore not call back into the allocator that called it and must
//! not take a lock that an allocation path may hold. Logging may drop lines
//! (rate limiting) but must not fail.

use core::fmt;
use core::ptr::NonNull;

use crate::addr::{Pfn, PhysAddr};

pub use crate::pgtable::{PgtableMem, PteFormat};

/// The severity of a log line (Linux's KERN_ERR, KERN_WARNING, KERN_INFO).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LogLevel {
    /// A bug report (SLUB's BUG/INFO/FIX lines).
    Err,
    /// Something the administrator should know (page allocator warnings,
    /// allocation failures, bad pages).
    Warning,
    /// Information (memblock=debug).
    Info,
}

/// What [`Hal::kernel_map_pages`] does to frames' linear-map translations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinearMapping {
    /// Make the frames reachable again (a block leaves the free lists).
    Map,
    /// Make every access to the frames fault (a block joins the free lists).
    Unmap,
}

/// The platform under `mm`. See the module documentation.
///
/// # Safety
///
/// Implementors promise, for the whole life of the program:
///
/// 1. `page_address(pfn)`, for every frame of RAM that the page allocator
///    manages, returns the address through which that frame's `PAGE_SIZE`
///    bytes are read and written, the same address every time, and the
///    frames of a naturally aligned block of up to `2^MAX_PAGE_ORDER` pages
///    lie at consecutive addresses (`page_address(pfn + i) ==
///    page_address(pfn) + i * PAGE_SIZE`).
/// 2. `virt_to_pfn(addr)` returns `Some(pfn)` only when `addr` lies in the
///    page at `page_address(pfn)`.
/// 3. `phys_to_virt(pa, size_bytes)` returns `Some(p)` only when `p` is valid
///    for reads and writes of `size_bytes` bytes and is aligned as `pa` is to
///    a page; `mm` calls it only for memory it has found free and is about to
///    reserve, and that memory is not reached through any other pointer while
///    it stays reserved.
/// 4. `zero_pages(pfn, nr_pages)` writes zeros to exactly those frames and
///    touches no other memory.
/// 5. None of the functions calls back into the `mm` allocator that called
///    it (see "Calling context" in the module documentation).
/// 6. `kernel_map_pages(pfn, nr_pages, _)` changes nothing but the
///    linear-map translations of exactly those frames, and with `Map` they
///    are read-write again at `page_address` when it returns.
pub unsafe trait Hal: 'static {
    /// Print one line (no trailing newline).
    fn log(level: LogLevel, args: fmt::Arguments<'_>);

    /// Random bits for hardening (freelist pointer obfuscation, shuffling).
    /// Need not be cryptographic.
    fn random() -> u64;

    /// A monotonic timestamp in any unit (owner tracking prints differences).
    fn now() -> u64;

    /// The address of frame `pfn` in the kernel's linear map (page_address).
    fn page_address(pfn: Pfn) -> *mut u8;

    /// The frame of a linear-map address (virt_to_pfn); `None` for an address
    /// outside the linear map (a stray pointer given to kfree).
    fn virt_to_pfn(addr: *const u8) -> Option<Pfn>;

    /// The physical address of a linear-map address without the range check
    /// of [`Hal::virt_to_pfn`], for kfree's fast path: for an address in the
    /// linear map its physical address, and for any other address a number
    /// whose frame (`>> PAGE_SHIFT`) is no linearly mapped frame (the
    /// translation is a bijection of the address space, so only an address
    /// inside a page can name that page's frame). A caller that finds a page
    /// it allocated (a slab, PG_slab) at that frame thus has an address in
    /// that page, and the low bits are its offset there. The default is the
    /// checked translation, with `u64::MAX` (no frame) for an address
    /// outside.
    #[inline(always)]
    fn virt_to_phys_unchecked(addr: *const u8) -> u64 {
        Self::virt_to_pfn(addr).map_or(u64::MAX, |p| p.phys().as_u64() | (addr as u64 & (crate::PAGE_SIZE - 1)))
    }

    /// The linear-map address of `[pa, pa + size_bytes)`, or `None` when the
    /// linear map does not cover it (yet).
    fn phys_to_virt(pa: PhysAddr, size_bytes: u64) -> Option<NonNull<u8>>;

    /// Zero `nr_pages` frames from `pfn`.
    fn zero_pages(pfn: Pfn, nr_pages: u64);

    /// Map or unmap `nr_pages` frames from `pfn` in the kernel's linear map
    /// (Linux's `__kernel_map_pages`), for debug_pagealloc: the page
    /// allocator unmaps a block as the last step of freeing it
    /// (free_pages_prepare, after any zeroing) and maps it as the first
    /// step of handing it out (post_alloc_hook, before any zeroing), so
    /// nothing touches a free page through the linear map and a stray
    /// access faults. Called only when the allocator's
    /// `AllocatorFlags::DEBUG_PAGEALLOC` is set, with no zone or pcp lock
    /// held, but possibly while the caller of the allocation holds its own
    /// locks (the kernel's page-table lock, a table page being allocated):
    /// an implementation must take no lock at all. An unmap returns only
    /// once no CPU can still use the old translations. The default (the
    /// host fixture's platforms without a linear map) does nothing.
    fn kernel_map_pages(pfn: Pfn, nr_pages: u64, how: LinearMapping) {
        let _ = (pfn, nr_pages, how);
    }

    /// Write the name of the task running on `cpu` (for messages); by
    /// default the idle task's, `swapper/<cpu>`.
    fn comm(cpu: usize, out: &mut dyn fmt::Write) -> fmt::Result {
        write!(out, "swapper/{cpu}")
    }
}

/// Displays the name of the task on a CPU through [`Hal::comm`].
pub struct Comm<H: Hal>(pub usize, pub core::marker::PhantomData<fn() -> H>);

impl<H: Hal> Comm<H> {
    /// The task on `cpu`.
    #[inline]
    pub fn on(cpu: usize) -> Self {
        Comm(cpu, core::marker::PhantomData)
    }
}

impl<H: Hal> fmt::Display for Comm<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        H::comm(self.0, f)
    }
}
