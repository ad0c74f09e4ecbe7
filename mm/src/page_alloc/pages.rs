//! `Pages`: the owning handle of an allocated block, the safe way to free.

use crate::addr::Pfn;
use crate::config::NodeId;
use crate::error::Error;
use crate::gfp::Gfp;
use crate::hal::Hal;

use super::allocator::PageAllocator;

/// `2^order` physically contiguous pages from a [`PageAllocator`], given
/// back when dropped (or by [`Pages::free`] on a CPU of the caller's
/// choosing). Not `Clone`: there is one owner.
///
/// # Invariants
///
/// The handle holds the one reference the allocation returned: `pfn` heads a
/// block of `order` that `pa` handed out and that has not been freed since.
#[must_use = "dropping Pages frees them"]
pub struct Pages<'a, H: Hal> {
    pa: &'a PageAllocator<H>,
    pfn: Pfn,
    order: u32,
    cpu: usize,
}

impl<'a, H: Hal> Pages<'a, H> {
    /// Allocate `2^order` pages near `cpu`'s node (alloc_pages). A drop
    /// frees them through `cpu`'s pcp lists.
    pub fn alloc(pa: &'a PageAllocator<H>, cpu: usize, gfp: Gfp, order: u32) -> Result<Self, Error> {
        let pfn = pa.alloc_pages(cpu, gfp, order)?;
        Ok(Pages { pa, pfn, order, cpu })
    }

    /// Allocate on node `nid` (alloc_pages_node).
    pub fn alloc_node(pa: &'a PageAllocator<H>, cpu: usize, nid: NodeId, gfp: Gfp, order: u32) -> Result<Self, Error> {
        let pfn = pa.alloc_pages_node(cpu, nid, gfp, order)?;
        Ok(Pages { pa, pfn, order, cpu })
    }

    /// The first frame.
    #[inline]
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }

    /// The order.
    #[inline]
    pub fn order(&self) -> u32 {
        self.order
    }

    /// Pages in the block.
    #[inline]
    pub fn nr_pages(&self) -> u64 {
        1 << self.order
    }

    /// Free the pages through `cpu`'s pcp lists (the caller's CPU, with
    /// interrupts masked). Any CPU number is sound: each pcp has its own lock.
    pub fn free(self, cpu: usize) {
        let pa = self.pa;
        let (pfn, order) = self.into_raw();
        // SAFETY: the invariant: this handle held the block's one reference
        // (1), with its order (2), and is consumed, so nothing uses the pages
        // through it afterwards (3).
        unsafe { pa.free_pages(cpu, pfn, order) };
    }

    /// Give up ownership without freeing: the raw `(pfn, order)` of Linux's
    /// API, to be freed later with [`PageAllocator::free_pages`] or taken
    /// back with [`Pages::from_raw`].
    pub fn into_raw(self) -> (Pfn, u32) {
        let r = (self.pfn, self.order);
        core::mem::forget(self);
        r
    }

    /// Take ownership of a raw block back.
    ///
    /// # Safety
    ///
    /// 1. `(pfn, order)` is a block `pa` handed out whose reference the
    ///    caller owns (from [`Pages::into_raw`] or the raw API) and has not
    ///    freed; the handle now owns it.
    pub unsafe fn from_raw(pa: &'a PageAllocator<H>, cpu: usize, pfn: Pfn, order: u32) -> Self {
        Pages { pa, pfn, order, cpu }
    }
}

impl<H: Hal> Drop for Pages<'_, H> {
    fn drop(&mut self) {
        // SAFETY: the invariant gives free_pages' obligations 1 and 2; the
        // handle is going away, so nothing uses the pages through it (3).
        unsafe { self.pa.free_pages(self.cpu, self.pfn, self.order) };
    }
}
