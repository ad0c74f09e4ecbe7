//! TLB invalidation (Arm ARM D8.14; Linux arch/arm64/include/asm/tlbflush.h).
//!
//! The `dsb ishst` before each invalidation makes the preceding descriptor
//! writes visible to every walker before the stale entries are dropped; the
//! `dsb ish` after waits for the invalidation to complete on every CPU; the
//! `isb` makes this CPU's next instructions use the new translations.

use core::arch::asm;
use mm::VirtAddr;

/// Invalidate every EL1 translation on this CPU only.
pub fn local_flush_tlb_all() {
    // SAFETY: TLB maintenance and barriers have no memory-safety effect.
    unsafe { asm!("dsb nshst", "tlbi vmalle1", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}

/// Invalidate every EL1 translation on all CPUs in the inner-shareable domain.
pub fn flush_tlb_all() {
    // SAFETY: as above.
    unsafe { asm!("dsb ishst", "tlbi vmalle1is", "dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Invalidate the kernel (global) translation of one page on all CPUs.
pub fn flush_tlb_kernel_page(va: VirtAddr) {
    let arg = (va.as_u64() >> 12) & ((1 << 44) - 1);
    // SAFETY: as above.
    unsafe {
        asm!("dsb ishst", "tlbi vaale1is, {a}", "dsb ish", "isb", a = in(reg) arg, options(nostack, preserves_flags))
    };
}

/// Pages above which [`flush_tlb_kernel_range`] drops every translation
/// instead of one page at a time (Linux's MAX_DVM_OPS, PTRS_PER_PTE).
pub const FLUSH_RANGE_MAX_PAGES: u64 = 512;

/// Invalidate the kernel (global) translations of `nr_pages` pages from `va`
/// on all CPUs: one `tlbi vaale1is` per page between a single pair of
/// barriers, or `tlbi vmalle1is` for a range longer than
/// [`FLUSH_RANGE_MAX_PAGES`] (Linux's flush_tlb_kernel_range).
pub fn flush_tlb_kernel_range(va: VirtAddr, nr_pages: u64) {
    if nr_pages > FLUSH_RANGE_MAX_PAGES {
        return flush_tlb_all();
    }
    let first = (va.as_u64() >> 12) & ((1 << 44) - 1);
    // SAFETY: TLB maintenance and barriers have no memory-safety effect.
    unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
    for arg in first..first + nr_pages {
        // SAFETY: as above.
        unsafe { asm!("tlbi vaale1is, {a}", a = in(reg) arg, options(nostack, preserves_flags)) };
    }
    // SAFETY: as above.
    unsafe { asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Make new (previously invalid) kernel descriptors visible to the walker:
/// no invalidation is needed for an invalid-to-valid change.
pub fn publish_new_entries() {
    // SAFETY: barriers have no memory-safety effect.
    unsafe { asm!("dsb ishst", "isb", options(nostack, preserves_flags)) };
}

/// Order the writes that filled a new page-table page before the write that
/// links it into the tree, for every walker in the inner-shareable domain
/// (Linux: the barrier between zeroing a table and `__pmd_populate`).
pub fn order_new_table() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
}
