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
