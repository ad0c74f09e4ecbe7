//! TLB invalidation (Arm ARM D8.14; Linux arch/arm64/include/asm/tlbflush.h).
//!
//! The `dsb ishst` before each invalidation makes the preceding descriptor
//! writes visible to every walker before the stale entries are dropped; the
//! `dsb ish` after waits for the invalidation to complete on every CPU; the
//! `isb` makes this CPU's next instructions use the new translations.

use core::arch::asm;
use mm::VirtAddr;
use mm::asid::Asid;

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

/// Most pages [`flush_tlb_kernel_range`] invalidates one by one before it
/// flushes everything instead (Linux's MAX_DVM_OPS, PTRS_PER_PTE).
pub const MAX_DVM_OPS: u64 = 512;

/// Invalidate every CPU's kernel translations of `[start, end)` (Linux's
/// flush_tlb_kernel_range): one `tlbi vaale1is` per page, inside one pair
/// of barriers, or `tlbi vmalle1is` when the range has more than
/// [`MAX_DVM_OPS`] pages.
pub fn flush_tlb_kernel_range(start: VirtAddr, end: VirtAddr) {
    let (s, e) = (start.as_u64() >> 12, end.as_u64().div_ceil(4096));
    if e <= s {
        return;
    }
    if e - s > MAX_DVM_OPS {
        flush_tlb_all();
        return;
    }
    // SAFETY: TLB maintenance and barriers have no memory-safety effect.
    unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
    for page in s..e {
        let arg = page & ((1 << 44) - 1);
        // SAFETY: as above.
        unsafe { asm!("tlbi vaale1is, {a}", a = in(reg) arg, options(nostack, preserves_flags)) };
    }
    // SAFETY: as above.
    unsafe { asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}

/// Where the ASID goes in a TLBI operand (Linux's __TLBI_VADDR: bits 63:48).
const TLBI_ASID_SHIFT: u32 = 48;

/// The operand of a by-VA-and-ASID TLBI: VA[55:12] in bits 43:0, the ASID
/// in bits 63:48.
fn tlbi_vaddr(va: u64, asid: Asid) -> u64 {
    ((va >> 12) & ((1 << 44) - 1)) | (u64::from(asid.0) << TLBI_ASID_SHIFT)
}

/// Invalidate every non-global translation tagged `asid` on all CPUs
/// (Linux's flush_tlb_mm: `tlbi aside1is`). Global (kernel) entries stay.
pub fn flush_tlb_asid(asid: Asid) {
    let arg = u64::from(asid.0) << TLBI_ASID_SHIFT;
    // SAFETY: TLB maintenance and barriers have no memory-safety effect.
    unsafe {
        asm!("dsb ishst", "tlbi aside1is, {a}", "dsb ish", "isb", a = in(reg) arg, options(nostack, preserves_flags))
    };
}

/// Invalidate the translation of the user page at `va` tagged `asid`, at
/// every level of the walk, on all CPUs (Linux's flush_tlb_page: `tlbi
/// vae1is`). Linux uses the last-level `vale1is` when it knows only a leaf
/// changed; `vae1is` also drops cached table entries, so it is always
/// correct, also after a table was freed.
pub fn flush_tlb_page_asid(asid: Asid, va: VirtAddr) {
    let arg = tlbi_vaddr(va.as_u64(), asid);
    // SAFETY: as above.
    unsafe {
        asm!("dsb ishst", "tlbi vae1is, {a}", "dsb ish", "isb", a = in(reg) arg, options(nostack, preserves_flags))
    };
}

/// Invalidate the translations of `[start, end)` tagged `asid` on all CPUs
/// (Linux's flush_tlb_range): one `tlbi vae1is` per page inside one pair of
/// barriers, or the whole ASID ([`flush_tlb_asid`]) when the range has
/// more than [`MAX_DVM_OPS`] pages.
pub fn flush_tlb_range_asid(asid: Asid, start: VirtAddr, end: VirtAddr) {
    let (s, e) = (start.as_u64() >> 12, end.as_u64().div_ceil(4096));
    if e <= s {
        return;
    }
    if e - s > MAX_DVM_OPS {
        flush_tlb_asid(asid);
        return;
    }
    // SAFETY: TLB maintenance and barriers have no memory-safety effect.
    unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
    for page in s..e {
        let arg = tlbi_vaddr(page << 12, asid);
        // SAFETY: as above.
        unsafe { asm!("tlbi vae1is, {a}", a = in(reg) arg, options(nostack, preserves_flags)) };
    }
    // SAFETY: as above.
    unsafe { asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
}
