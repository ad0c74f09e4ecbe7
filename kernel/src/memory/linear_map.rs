//! The linear map's arithmetic: every byte of RAM at PAGE_OFFSET plus its
//! distance from the start of RAM (Linux's __va, __pa and memstart_addr).
//!
//! `pgtable::create_linear_map` builds the mapping and records its range
//! here; before that no physical address is covered. The conversions are
//! plain arithmetic on two words set once, so every layer may use them,
//! the page tables included (their own pages beyond the image's pool are
//! reached through the linear map).

use super::layout::{PAGE_END, PAGE_OFFSET};
use core::sync::atomic::{AtomicU64, Ordering};
use mm::{Pfn, PhysAddr, VirtAddr};

/// Physical address that PAGE_OFFSET maps (Linux's memstart_addr); u64::MAX until set.
static MEMSTART: AtomicU64 = AtomicU64::new(u64::MAX);
/// `MEMSTART - PAGE_OFFSET`, wrapping: what a linear-map address adds to
/// become its physical address, so that `__pa` is one add of a loaded word
/// (`va - PAGE_OFFSET + MEMSTART` needs the 64-bit constant built first).
static VA_TO_PA: AtomicU64 = AtomicU64::new(u64::MAX.wrapping_sub(PAGE_OFFSET));
/// End of the physical range the linear map covers; 0 until it is mapped.
static LINEAR_END: AtomicU64 = AtomicU64::new(0);
/// `LINEAR_END - MEMSTART` (0 until both are set), so that
/// [`virt_to_pfn_checked`] is one unsigned compare.
static LINEAR_SIZE: AtomicU64 = AtomicU64::new(0);

/// The linear-map address of `pa` (Linux's __va / phys_to_virt).
pub fn phys_to_virt(pa: PhysAddr) -> VirtAddr {
    debug_assert!(pa.as_u64() >= MEMSTART.load(Ordering::Relaxed), "phys_to_virt({pa:?}) below memstart");
    VirtAddr(pa.as_u64().wrapping_sub(VA_TO_PA.load(Ordering::Relaxed)))
}

/// The physical address of a linear-map address (Linux's __pa for linear addresses).
pub fn virt_to_phys(va: VirtAddr) -> PhysAddr {
    debug_assert!(va.as_u64() >= PAGE_OFFSET && va.as_u64() < PAGE_END);
    PhysAddr(virt_to_phys_wrapping(va.as_u64()))
}

/// Whether `[pa, pa + len)` is covered by the linear map.
pub fn linear_map_covers(pa: PhysAddr, len: u64) -> bool {
    let start = MEMSTART.load(Ordering::Relaxed);
    start != u64::MAX && pa.as_u64() >= start && pa.as_u64().saturating_add(len) <= LINEAR_END.load(Ordering::Relaxed)
}

/// The physical start of the linear map (Linux's memstart_addr / PHYS_OFFSET).
pub fn memstart() -> PhysAddr {
    PhysAddr(MEMSTART.load(Ordering::Relaxed))
}

/// Linux's page_address for a frame in the linear map.
pub fn page_address(pfn: Pfn) -> VirtAddr {
    phys_to_virt(pfn.phys())
}

/// The frame of a linear-map address.
pub fn virt_to_pfn(va: VirtAddr) -> Pfn {
    virt_to_phys(va).pfn()
}

/// The frame of `va` if the linear map covers it, else `None`: `va` in
/// `[PAGE_OFFSET, PAGE_END)` with its physical address in `[memstart,
/// end)`, tested as one unsigned compare of `va - PAGE_OFFSET` (wrapping,
/// so an address below PAGE_OFFSET is huge) against the covered size.
#[inline(always)]
pub fn virt_to_pfn_checked(va: u64) -> Option<Pfn> {
    let off = va.wrapping_sub(PAGE_OFFSET);
    if off >= LINEAR_SIZE.load(Ordering::Relaxed) {
        return None;
    }
    Some(Pfn(virt_to_phys_wrapping(va) >> mm::PAGE_SHIFT))
}

/// The physical address the linear map would give `va`, without the range
/// check (`Hal::virt_to_phys_unchecked`): `va - PAGE_OFFSET + memstart`
/// wrapping, a translation of the whole address space, so only an address
/// in the linear map yields an address in a frame the linear map covers
/// (every page the allocator hands out is one: memory the linear map does
/// not cover is never given to it).
#[inline(always)]
pub fn virt_to_phys_wrapping(va: u64) -> u64 {
    va.wrapping_add(VA_TO_PA.load(Ordering::Relaxed))
}

/// Recompute [`LINEAR_SIZE`] from the two words it caches.
fn update_size() {
    let start = MEMSTART.load(Ordering::Relaxed);
    let end = LINEAR_END.load(Ordering::Relaxed);
    let size = if start == u64::MAX { 0 } else { end.saturating_sub(start).min(PAGE_END - PAGE_OFFSET) };
    LINEAR_SIZE.store(size, Ordering::Relaxed);
}

/// Fix where PAGE_OFFSET points, before the linear map is built.
pub(super) fn set_memstart(pa: u64) {
    MEMSTART.store(pa, Ordering::Relaxed);
    VA_TO_PA.store(pa.wrapping_sub(PAGE_OFFSET), Ordering::Relaxed);
    update_size();
}

/// The linear map now covers RAM up to `end`.
pub(super) fn set_end(end: u64) {
    LINEAR_END.store(end, Ordering::Relaxed);
    update_size();
}
