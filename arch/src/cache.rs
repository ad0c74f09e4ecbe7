//! Cache maintenance by virtual address to the Point of Coherency.
//!
//! Used by the head around page tables written with the MMU (and so the data
//! cache) off: hardware may hold stale lines for the same addresses from the
//! loader, and those must neither be written back over the tables nor hit by
//! the table walker once the MMU is on (Linux: dcache_inval_poc in head.S).

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

/// The smallest CTR_EL0.DminLine of every CPU that has come up (log2 of
/// words), or `DMINLINE_UNSET`. CPUs of one system may differ (big.LITTLE),
/// and maintenance by VA must step by the smallest line of any CPU that may
/// hold the data (Linux sanitises CTR_EL0 the same way). Initialised to a
/// nonzero value so that it lives in .data, readable by the MMU-off head
/// before .bss is cleared; only plain loads happen before the MMU is on.
static SYSTEM_DMINLINE: AtomicU8 = AtomicU8::new(DMINLINE_UNSET);
const DMINLINE_UNSET: u8 = 0xff;

/// This CPU's CTR_EL0.DminLine field.
#[inline(always)]
fn local_dminline() -> u8 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effect (aarch64-cpu does not name it).
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    ((ctr >> 16) & 0xf) as u8
}

/// Fold this CPU's line size into the system-wide minimum. Every CPU calls
/// it once it runs with the MMU on (an atomic read-modify-write needs
/// cacheable memory).
pub fn note_cpu_dcache_line() {
    SYSTEM_DMINLINE.fetch_min(local_dminline(), Ordering::Relaxed);
}

/// Smallest data cache line in bytes: of every CPU noted so far and of this
/// one (before any CPU is noted, as in the head, this CPU's own).
#[inline(always)]
pub fn dcache_line_size() -> u64 {
    let dminline = local_dminline().min(SYSTEM_DMINLINE.load(Ordering::Relaxed));
    4 << dminline
}

/// Invalidate `[start, end)` to the PoC. Lines only partly inside the range are
/// cleaned and invalidated, so bytes outside the range are never lost.
///
/// # Safety
/// 1. `[start, end)` is mapped (or the MMU is off and it is RAM).
/// 2. Data inside the range that is only in the cache may be discarded: the
///    caller does not need it.
#[inline(always)]
pub unsafe fn dcache_inval_poc(start: u64, end: u64) {
    // Stores made with the MMU off are Device/Non-cacheable accesses; order
    // them before the maintenance by VA (Linux's head.S does the same).
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dmb sy", options(nostack, preserves_flags)) };
    let line = dcache_line_size();
    let mut addr = start & !(line - 1);
    while addr < end {
        let partial = addr < start || addr + line > end;
        // SAFETY: obligation 1 makes the address valid for maintenance; obligation 2
        // allows discarding whole lines inside the range; partial lines are cleaned first.
        unsafe {
            if partial {
                asm!("dc civac, {a}", a = in(reg) addr, options(nostack, preserves_flags));
            } else {
                asm!("dc ivac, {a}", a = in(reg) addr, options(nostack, preserves_flags));
            }
        }
        addr += line;
    }
    // SAFETY: a barrier only orders the maintenance above.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Clean and invalidate `[start, end)` to the PoC.
///
/// # Safety
/// `[start, end)` is mapped (or the MMU is off and it is RAM).
pub unsafe fn dcache_clean_inval_poc(start: u64, end: u64) {
    // Earlier stores (possibly made with the MMU off) before the maintenance.
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dmb sy", options(nostack, preserves_flags)) };
    let line = dcache_line_size();
    let mut addr = start & !(line - 1);
    while addr < end {
        // SAFETY: the caller guarantees the range is valid for maintenance.
        unsafe { asm!("dc civac, {a}", a = in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    // SAFETY: a barrier only orders the maintenance above.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
}

/// Invalidate this CPU's instruction cache.
pub fn icache_inval_all_local() {
    // SAFETY: instruction cache invalidation cannot affect memory safety.
    unsafe { asm!("ic iallu", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}
