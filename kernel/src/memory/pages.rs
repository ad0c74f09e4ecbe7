//! The page allocator's kernel-facing API, in Linux's words: the owning
//! [`Pages`] handle and `alloc_pages` and friends, the address-based
//! `__get_free_pages` family, and the descriptor look-ups.
//!
//! Safe code frees only what it owns: dropping (or `__free_pages` of) a
//! [`Pages`], or dropping the [`PagesExact`] that `alloc_pages_exact`
//! returns. The frees by address or PFN (`free_pages`, `free_pages_exact`,
//! [`free_pages_pfn`]) are `unsafe fn`s whose callers promise ownership;
//! every kernel call of the core's `PageAllocator::free_pages` goes through
//! `free_pages_pfn`.

use super::linear_map::{page_address, virt_to_pfn};
use super::page_alloc::{allocator, this_cpu_page_alloc};
use mm::gfp::Gfp;
use mm::memblock::NodeId;
use mm::page::Page;
use mm::{Error, Pfn, VirtAddr};

fn this_cpu() -> usize {
    arch::percpu::smp_processor_id()
}

/// 2^order contiguous pages, given back to the buddy allocator on drop.
///
/// # Invariants
/// `pfn` was returned by the allocator for `order` and not freed since.
pub struct Pages {
    pfn: Pfn,
    order: u32,
}

impl Pages {
    /// The first frame.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }
    /// The order.
    pub fn order(&self) -> u32 {
        self.order
    }
    /// The linear-map address of the first page (Linux's page_address).
    pub fn address(&self) -> VirtAddr {
        page_address(self.pfn)
    }
    /// Give up ownership without freeing (Linux's raw pfn/address use).
    pub fn into_raw(self) -> (Pfn, u32) {
        let r = (self.pfn, self.order);
        core::mem::forget(self);
        r
    }
    /// Free the pages now (what dropping does), inlined at the call.
    #[inline(always)]
    pub fn free(self) {
        let (pfn, order) = self.into_raw();
        // SAFETY: 1. and 2. are the type's invariant: the handle owned the
        // block, and it is gone.
        unsafe { free_owned(pfn, order) };
    }

    /// Take back ownership of pages from `into_raw`.
    ///
    /// # Safety
    /// 1. `(pfn, order)` came from `into_raw` (or the raw API) and is owned by the caller.
    pub unsafe fn from_raw(pfn: Pfn, order: u32) -> Self {
        Pages { pfn, order }
    }
}

impl Drop for Pages {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: 1. and 2. are the type's invariant: the handle owns the
        // block, and nothing can use it once the handle is gone.
        unsafe { free_owned(self.pfn, self.order) };
    }
}

/// Free a block an owning handle held, on this CPU.
///
/// # Safety
/// 1. `(pfn, order)` is a block the allocator handed out, owned by the
///    caller and unused after this call.
#[inline(always)]
unsafe fn free_owned(pfn: Pfn, order: u32) {
    match this_cpu_page_alloc() {
        // SAFETY: obligation 1 is free_pages_owned's.
        Some((pa, cp)) => unsafe { pa.free_pages_owned(cp, pfn, order) },
        // SAFETY: as above (free_pages_pfn's 1 and 2).
        None => unsafe { free_pages_pfn(this_cpu(), pfn, order) },
    }
}

/// 2^order pages freed by PFN, as CPU `cpu` (past NR_CPUS: straight to the
/// buddy lists): the one kernel call of the core's `free_pages`.
///
/// # Safety
/// 1. `(pfn, order)` is a block the page allocator handed out for `order`
///    (or the part of one its owner may free alone), owned by the caller.
/// 2. Nothing uses the block after this call.
pub unsafe fn free_pages_pfn(cpu: usize, pfn: Pfn, order: u32) {
    // SAFETY: obligations 1 and 2 are PageAllocator::free_pages' 1-3: the
    // block and its order, owned by the caller, unused afterwards.
    unsafe { allocator().free_pages(cpu, pfn, order) };
}

/// Linux's alloc_pages: 2^order pages, or `NoMemory`.
#[inline(always)]
pub fn alloc_pages(gfp: Gfp, order: u32) -> Result<Pages, Error> {
    let pfn = match this_cpu_page_alloc() {
        Some((pa, cp)) => pa.alloc_pages_on(cp, gfp, order)?,
        None => allocator().alloc_pages(this_cpu(), gfp, order)?,
    };
    Ok(Pages { pfn, order })
}

/// Linux's alloc_pages_node.
pub fn alloc_pages_node(nid: NodeId, gfp: Gfp, order: u32) -> Result<Pages, Error> {
    let pfn = allocator().alloc_pages_node(this_cpu(), nid, gfp, order)?;
    Ok(Pages { pfn, order })
}

/// Linux's __free_pages (the consuming form of dropping `Pages`).
pub fn __free_pages(pages: Pages) {
    drop(pages);
}

/// Linux's __get_free_pages: the linear-map address of 2^order pages.
pub fn __get_free_pages(gfp: Gfp, order: u32) -> Result<VirtAddr, Error> {
    alloc_pages(gfp, order).map(|p| {
        let (pfn, _) = p.into_raw();
        page_address(pfn)
    })
}

/// Linux's get_zeroed_page.
pub fn get_zeroed_page(gfp: Gfp) -> Result<VirtAddr, Error> {
    __get_free_pages(gfp | Gfp::ZERO, 0)
}

/// Linux's free_pages: free what `__get_free_pages(_, order)` returned.
///
/// # Safety
/// 1. `addr` is the linear-map address `__get_free_pages` or
///    `get_zeroed_page` returned for this `order` (or `Pages::into_raw`
///    gave up), and the caller owns the block.
/// 2. Nothing uses the block after this call.
pub unsafe fn free_pages(addr: VirtAddr, order: u32) {
    // SAFETY: 1. and 2. are the caller's; the address names the block's first frame.
    unsafe { free_pages_pfn(this_cpu(), virt_to_pfn(addr), order) };
}

/// `size_bytes` rounded up to whole pages, from a block of the next power
/// of two whose tail was given back at once (Linux's alloc_pages_exact);
/// the pages go back on drop.
///
/// # Invariants
/// `pfn` and `size_bytes` are what `alloc_pages_exact` gave and took, not
/// freed since.
pub struct PagesExact {
    pfn: Pfn,
    size_bytes: u64,
}

impl PagesExact {
    /// The first frame.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }
    /// The size asked for.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    /// The linear-map address of the first page.
    pub fn address(&self) -> VirtAddr {
        page_address(self.pfn)
    }
    /// Give up ownership without freeing: the address for `free_pages_exact`.
    pub fn into_raw(self) -> VirtAddr {
        let va = self.address();
        core::mem::forget(self);
        va
    }
}

impl Drop for PagesExact {
    fn drop(&mut self) {
        // SAFETY: 1. and 2. are the type's invariant.
        unsafe { free_pages_exact(self.address(), self.size_bytes) };
    }
}

/// Linux's alloc_pages_exact: `size_bytes` rounded up to pages, the tail
/// beyond it given back.
pub fn alloc_pages_exact(size_bytes: u64, gfp: Gfp) -> Result<PagesExact, Error> {
    let pfn = allocator().alloc_pages_exact(this_cpu(), size_bytes, gfp)?;
    Ok(PagesExact { pfn, size_bytes })
}

/// Linux's free_pages_exact.
///
/// # Safety
/// 1. `addr` and `size_bytes` are a `PagesExact`'s address (from
///    `into_raw`) and size, owned by the caller.
/// 2. Nothing uses the pages after this call.
pub unsafe fn free_pages_exact(addr: VirtAddr, size_bytes: u64) {
    // SAFETY: obligations 1 and 2 are PageAllocator::free_pages_exact's: what
    // alloc_pages_exact returned for this size, owned, unused afterwards.
    unsafe { allocator().free_pages_exact(this_cpu(), virt_to_pfn(addr), size_bytes) };
}

/// Linux's pfn_to_page.
pub fn pfn_to_page(pfn: Pfn) -> Option<&'static Page> {
    allocator().memmap().pfn_to_page(pfn)
}

/// Linux's virt_to_page.
pub fn virt_to_page(va: VirtAddr) -> Option<&'static Page> {
    pfn_to_page(virt_to_pfn(va))
}

/// Linux's page_to_pfn.
pub fn page_to_pfn(page: &Page) -> Pfn {
    allocator().memmap().page_to_pfn(page)
}
