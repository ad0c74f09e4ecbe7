//! Kernel stack usage: painting a stack with a known pattern and finding
//! its high-water mark later (the idea of Linux's CONFIG_DEBUG_STACK_USAGE,
//! which counts the zero words left at the far end of a task's stack).
//!
//! A stack grows down from its top. Painted before use, the words between
//! its bottom and the deepest point it ever reached still hold the pattern;
//! [`high_water`] counts them from the bottom up and returns the bytes that
//! were used. The count can only err low by a word that happened to be
//! written with the pattern itself, which the pattern's value makes
//! unlikely.
//!
//! The boot CPU's stack is already in use when the kernel can paint it, so
//! [`paint_below_sp`] paints from a little below the caller's stack pointer
//! down to the bottom: what lies above is counted as used, which it was.

/// The word a painted, never-used stack slot holds.
pub const STACK_PAINT: u64 = 0x57ac_c0de_57ac_c0de;

/// Bytes below the caller's stack pointer that [`paint_below_sp`] leaves
/// alone: room for its own frame and for an exception taken meanwhile,
/// whose trap frame lands below sp.
const PAINT_MARGIN: u64 = 1024;

/// Fill `[lo, hi)` with [`STACK_PAINT`].
///
/// # Safety
/// 1. `[lo, hi)` is mapped, writable, 8-byte aligned at both ends, and no
///    live data is in it (a stack not yet handed to its CPU).
pub unsafe fn paint(lo: u64, hi: u64) {
    let mut p = lo;
    while p < hi {
        // SAFETY: obligation 1: p is an aligned word inside [lo, hi).
        unsafe { (p as *mut u64).write_volatile(STACK_PAINT) };
        p += 8;
    }
}

/// Paint the caller's own stack from [`PAINT_MARGIN`] bytes below its stack
/// pointer down to `lo`, the stack's bottom.
///
/// # Safety
/// 1. `lo` is the 8-byte aligned bottom of the stack the caller runs on,
///    and everything from `lo` up to the stack pointer is mapped.
#[inline(never)]
pub unsafe fn paint_below_sp(lo: u64) {
    let hi = (crate::cpu::stack_pointer() - PAINT_MARGIN) & !7;
    if hi > lo {
        // SAFETY: obligation 1 maps [lo, hi). Nothing below the stack
        // pointer is live: the ABI has no red zone, and `paint`, a leaf,
        // stays inside the margin. An exception taken meanwhile runs on this
        // CPU, below the sp of that moment, and is over before painting
        // resumes.
        unsafe { paint(lo, hi) };
    }
}

/// Bytes of `[lo, hi)` that have been used since it was painted: `hi`
/// minus the lowest address whose word no longer holds the pattern.
///
/// # Safety
/// 1. `[lo, hi)` is mapped, readable and 8-byte aligned at both ends.
pub unsafe fn high_water(lo: u64, hi: u64) -> u64 {
    let mut p = lo;
    // SAFETY: obligation 1: p is an aligned word inside [lo, hi). A stack
    // another CPU runs on may change meanwhile; a volatile read of a word
    // gives one of its values, which is all a high-water mark needs.
    while p < hi && unsafe { (p as *const u64).read_volatile() } == STACK_PAINT {
        p += 8;
    }
    hi - p
}
