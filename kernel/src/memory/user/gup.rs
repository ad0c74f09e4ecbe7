//! Pinning a user page (a minimal Linux mm/gup.c pin_user_pages for one
//! page, with FOLL_WRITE | FOLL_LONGTERM semantics).
//!
//! ```text
//!   pin_user_page(mm, va)
//!     loop (bounded):
//!       Mm::inner locked: the PTE for va present, writable, not the
//!         zero page -> get_page on its frame -> PinnedPage   (fast path)
//!       else, unlocked: handle_user_fault(mm, va, write)    (slow path:
//!         demand zero, COW break; a bad address is an error)
//!   drop(PinnedPage) -> put_page through the allocator
//! ```
//!
//! The pin is taken for write: a private page shared copy-on-write is
//! broken first, so the frame pinned is the one the process goes on using
//! (what a device writing into the buffer needs). The extra reference is
//! what makes the page unmovable: it is one more than the PTEs' mappings,
//! so a migrator comparing `page_ref_count` with `page_mapcount` (plus its
//! own isolation reference) sees a holder it cannot redirect and leaves
//! the page alone (Linux counts pins apart, with GUP_PIN_COUNTING_BIAS, to
//! tell them from transient references; here every extra reference counts
//! as a pin). The reference also keeps the frame allocated after the
//! process unmaps it or exits: it returns to the allocator when the
//! [`PinnedPage`] drops.
//!
//! Locking: the reference is taken under `Mm::inner`, the lock every PTE
//! change holds, so the frame cannot be unmapped and freed between the
//! lookup and `get_page`. The fault runs without it (it takes it itself).

use super::anon;
use super::fault::{FaultResult, SegvCode, handle_user_fault};
use super::mm::Mm;
use crate::memory::linear_map::page_address;
use crate::memory::page_alloc::allocator;
use crate::memory::pages::pfn_to_page;
use mm::mmap::fault::FaultKind;
use mm::{Error, PAGE_SIZE, Pfn, VirtAddr};

/// Faults taken before giving up on a page that keeps going away (another
/// task of the mm unmapping it as fast as it is faulted in).
const MAX_FAULTS: usize = 4;

/// One reference to a user page, taken by [`pin_user_page`]; dropped
/// (put_page) when the handle drops.
///
/// # Invariants
/// The handle owns one reference to the order-0 page at `pfn`, so the
/// frame stays allocated (and in the linear map) while the handle lives.
pub struct PinnedPage {
    pfn: Pfn,
}

impl PinnedPage {
    /// The pinned frame.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }

    /// Word `index` (0..512) of the page, read through the linear map
    /// (volatile: the process may still be writing it).
    pub fn read_u64(&self, index: usize) -> u64 {
        assert!(index < (PAGE_SIZE / 8) as usize, "PinnedPage::read_u64: word {index} is past the page");
        let p = page_address(self.pfn).0 as *const u64;
        // SAFETY: the handle's reference keeps the frame allocated (the
        // invariant), and all RAM the allocator hands out is in the linear
        // map; the word lies inside the page (checked above) and is 8-byte
        // aligned; a concurrent user store to it is single-copy atomic.
        unsafe { p.add(index).read_volatile() }
    }
}

impl Drop for PinnedPage {
    fn drop(&mut self) {
        // SAFETY: the handle owns one reference to the page (the invariant)
        // and gives it up here; nothing reads the page through it after.
        unsafe { allocator().put_page(arch::percpu::smp_processor_id(), self.pfn) };
    }
}

impl core::fmt::Debug for PinnedPage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "PinnedPage(pfn {:#x})", self.pfn.0)
    }
}

/// Pin the page at `va` (any address inside it) of `mm` for write,
/// faulting it in if needed.
///
/// Errors: `NotFound` when no VMA maps `va` (Linux's -EFAULT),
/// `InvalidArgument` when the VMA forbids writing, `NoMemory` when the
/// fault finds no memory, `Busy` when the page kept disappearing.
pub fn pin_user_page(mm: &Mm, va: VirtAddr) -> Result<PinnedPage, Error> {
    let page_va = va.0 & !(PAGE_SIZE - 1);
    for _ in 0..MAX_FAULTS {
        {
            let inner = mm.inner.lock();
            if let Some(pte) = inner.pgtable.lookup(VirtAddr(page_va))
                && pte.writable()
                && !anon::is_zero_pfn(pte.pfn())
            {
                let pfn = pte.pfn();
                let page = pfn_to_page(pfn).ok_or(Error::InvalidArgument)?;
                // The PTE's own reference is held (and cannot go: its
                // changes need the lock held here), so this is not the
                // first reference.
                page.get_page();
                return Ok(PinnedPage { pfn });
            }
        }
        match handle_user_fault(mm, page_va, FaultKind::Write) {
            FaultResult::Handled => {}
            FaultResult::Segv(SegvCode::AccErr) => return Err(Error::InvalidArgument),
            FaultResult::Segv(_) => return Err(Error::NotFound),
            FaultResult::Oom => return Err(Error::NoMemory),
        }
    }
    Err(Error::Busy)
}
