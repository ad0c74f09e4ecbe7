//! Anonymous user pages: the references page tables hold.
//!
//! A user page is an order-0 page from the buddy allocator (`GFP_HIGHUSER
//! _MOVABLE`, as Linux's anonymous faults ask). Each present PTE that maps
//! it holds one reference (`page_ref_count`) and one mapping
//! (`page_mapcount`, the -1-biased `_mapcount`), as Linux counts them for
//! anonymous pages; a PTE stores only the frame number, so this module is
//! where those raw references are taken and dropped, and where the frames'
//! contents are reached through the linear map.
//!
//! The shared zero page (Linux's `ZERO_PAGE`, `empty_zero_page`) is one
//! page allocated at boot, mapped read-only wherever an anonymous page was
//! read before it was written; it is never counted and never freed.

use crate::memory::linear_map::page_address;
use crate::memory::page_alloc::allocator;
use crate::memory::pages::{alloc_pages, pfn_to_page};
use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use mm::gfp::Gfp;
use mm::{Error, PAGE_SIZE, Pfn};

static ZERO_PFN: AtomicU64 = AtomicU64::new(u64::MAX);

/// Anonymous pages mapped by some PTE (meminfo's AnonPages,
/// NR_ANON_MAPPED) and pages of shared anonymous objects (Shmem).
static NR_ANON: AtomicI64 = AtomicI64::new(0);
static NR_SHMEM: AtomicI64 = AtomicI64::new(0);

/// The `mapping` word of a shared object's page (Linux: the shmem inode's
/// address_space; here a marker telling it from a private page).
const SHMEM_MAPPING: u64 = 2;

/// (AnonPages, Shmem) in pages.
pub fn nr_anon_shmem() -> (u64, u64) {
    (NR_ANON.load(Ordering::Relaxed).max(0) as u64, NR_SHMEM.load(Ordering::Relaxed).max(0) as u64)
}

/// Allocate the shared zero page (once, at boot).
pub fn init_zero_page() -> Result<(), Error> {
    if ZERO_PFN.load(Ordering::Acquire) != u64::MAX {
        return Ok(());
    }
    let page = alloc_pages(Gfp::KERNEL | Gfp::ZERO, 0)?;
    let (pfn, _) = page.into_raw();
    ZERO_PFN.store(pfn.0, Ordering::Release);
    Ok(())
}

/// The zero page's frame (Linux's my_zero_pfn).
pub fn zero_pfn() -> Pfn {
    Pfn(ZERO_PFN.load(Ordering::Acquire))
}

/// Whether `pfn` is the zero page (Linux's is_zero_pfn).
pub fn is_zero_pfn(pfn: Pfn) -> bool {
    pfn.0 == ZERO_PFN.load(Ordering::Relaxed)
}

/// Where a private anonymous page goes in the reverse map (see `rmap`):
/// its family's `mapping` word and its virtual page number.
#[derive(Clone, Copy, Debug)]
pub struct AnonRmap {
    /// The family's mapping word (`AnonVma::mapping`).
    pub mapping: u64,
    /// `rmap::page_index` of the address it is mapped at.
    pub index: u64,
}

/// A fresh page for a PTE: one reference, one mapping; zeroed, or a copy of
/// `copy_from` (a COW break); entered in the reverse map as `rmap` says.
/// Movable (`GFP_HIGHUSER_MOVABLE`, as Linux's anonymous faults ask): it
/// may come from CMA and be migrated. The caller writes it into a PTE or
/// gives it back with [`put_anon_page`].
pub fn alloc_anon_page(copy_from: Option<Pfn>, rmap: AnonRmap) -> Result<Pfn, Error> {
    let gfp = if copy_from.is_none() { Gfp::HIGHUSER_MOVABLE | Gfp::ZERO } else { Gfp::HIGHUSER_MOVABLE };
    let page = alloc_pages(gfp | Gfp::NOWARN, 0)?;
    let (pfn, _) = page.into_raw();
    if let Some(src) = copy_from {
        copy_page(pfn, src);
    }
    if let Some(p) = pfn_to_page(pfn) {
        p.set_index(rmap.index);
        p.set_mapping(rmap.mapping);
        p.set_raw_mapcount(0);
    }
    NR_ANON.fetch_add(1, Ordering::Relaxed);
    Ok(pfn)
}

/// A zeroed page no PTE maps yet (a shared object's page in its page
/// cache): one reference, no mapping. Not movable (`GFP_HIGHUSER`): shared
/// objects are not in the reverse map, so their pages must stay out of CMA
/// and movable pageblocks' expectations (see `rmap`).
pub fn alloc_page_unmapped() -> Result<Pfn, Error> {
    let page = alloc_pages(Gfp::HIGHUSER | Gfp::ZERO | Gfp::NOWARN, 0)?;
    let (pfn, _) = page.into_raw();
    NR_SHMEM.fetch_add(1, Ordering::Relaxed);
    if let Some(p) = pfn_to_page(pfn) {
        p.set_mapping(SHMEM_MAPPING);
    }
    Ok(pfn)
}

/// Drop a reference that is not a mapping (a shared object's own).
///
/// # Safety
/// 1. The caller owns the reference and nothing reaches the page through
///    it after this call.
pub unsafe fn put_page_ref(pfn: Pfn) {
    if let Some(p) = pfn_to_page(pfn) {
        p.set_mapping(0);
    }
    NR_SHMEM.fetch_sub(1, Ordering::Relaxed);
    // SAFETY: obligation 1 is put_page's.
    unsafe { allocator().put_page(arch::percpu::smp_processor_id(), pfn) };
}

/// Copy one page's contents (Linux's copy_user_highpage), through the
/// linear map.
pub(super) fn copy_page(dst: Pfn, src: Pfn) {
    let d = page_address(dst).0 as *mut u8;
    let s = page_address(src).0 as *const u8;
    // SAFETY: both frames are RAM covered by the linear map (the allocator
    // handed out `dst`; the caller holds a reference to `src`, through a PTE
    // or migration's isolation, so it is not freed meanwhile); they are
    // distinct pages, so the ranges do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(s, d, PAGE_SIZE as usize) };
}

/// Another PTE maps `pfn` (fork's copy_present_pte): one more reference and
/// one more mapping. The zero page is not counted.
pub fn dup_anon_page(pfn: Pfn) {
    if is_zero_pfn(pfn) {
        return;
    }
    if let Some(p) = pfn_to_page(pfn) {
        p.get_page();
        p.inc_mapcount();
    }
}

/// `page_mapcount` and `page_ref_count` of `pfn`, for the COW decision.
pub fn anon_counts(pfn: Pfn) -> (i32, i32) {
    match pfn_to_page(pfn) {
        Some(p) => (p.page_mapcount(), p.page_ref_count()),
        None => (0, 0),
    }
}

/// A PTE that mapped `pfn` is gone (zap_pte_range): one mapping and one
/// reference fewer; the page goes back to the allocator with the last.
///
/// # Safety
/// 1. The caller held a reference to `pfn` through a PTE (or from
///    [`alloc_anon_page`]) and that PTE no longer maps it, on any CPU's
///    TLB either (cleared and flushed), so nothing reaches the page through
///    it after this call.
pub unsafe fn put_anon_page(pfn: Pfn) {
    if is_zero_pfn(pfn) {
        return;
    }
    if let Some(p) = pfn_to_page(pfn)
        && p.dec_mapcount() == 0
        && p.mapping() != SHMEM_MAPPING
    {
        // The last mapping of a private page: it leaves the reverse map
        // (a pinned page outlives its mappings and must not look movable).
        p.set_mapping(0);
        NR_ANON.fetch_sub(1, Ordering::Relaxed);
    }
    // SAFETY: obligation 1: a reference the caller owns and gives up, and
    // nothing uses the page through it afterwards.
    unsafe { allocator().put_page(arch::percpu::smp_processor_id(), pfn) };
}

/// Copy `bytes` into the page `pfn` at `offset` (loading a program's
/// segments into fresh pages, before any PTE maps them).
pub fn write_page(pfn: Pfn, offset: usize, bytes: &[u8]) {
    assert!(offset + bytes.len() <= PAGE_SIZE as usize, "write_page: past the page");
    let d = page_address(pfn).0 as *mut u8;
    // SAFETY: the page is RAM in the linear map, allocated by the caller and
    // not yet mapped anywhere else; the range is inside it (checked above).
    unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), d.add(offset), bytes.len()) };
}

/// Copy `buf.len()` bytes out of the page `pfn` at `offset` (the
/// self-tests' and reports' look at a user page's contents, under the
/// lock of an mm that maps it).
pub fn read_page(pfn: Pfn, offset: usize, buf: &mut [u8]) {
    assert!(offset + buf.len() <= PAGE_SIZE as usize, "read_page: past the page");
    let s = page_address(pfn).0 as *const u8;
    // SAFETY: the page is RAM in the linear map; the caller holds it mapped
    // (under its mm's lock) or otherwise referenced, so it is not freed
    // meanwhile; the range is inside it (checked above) and `buf` is a
    // distinct kernel buffer.
    unsafe { core::ptr::copy_nonoverlapping(s.add(offset), buf.as_mut_ptr(), buf.len()) };
}
