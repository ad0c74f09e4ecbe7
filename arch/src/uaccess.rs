//! Reaching user memory from the kernel: the copy routines and their
//! exception fixups (Linux's arch/arm64/lib/copy_{from,to}_user.S,
//! clear_user.S, strncpy_from_user and the `__ex_table`).
//!
//! Every load from and store to a user address is an unprivileged
//! `LDTR`/`STTR`: the MMU checks it as if EL0 made it, so a kernel page is
//! never reachable through a user pointer, and PAN (where the CPU has it,
//! `cpu::setup_el0_access`) does not stop it while it does stop every other
//! kernel access to user pages.
//!
//! An access may fault: a page not yet faulted in (the kernel's fault
//! handler maps it and the instruction is retried) or a bad pointer. Each
//! instruction that may fault has an entry in a table of (instruction,
//! fixup) addresses; [`fixup_for`] finds the entry, and the kernel's handler,
//! when it cannot resolve the fault, resumes at the fixup, which ends the
//! routine with the count of bytes not copied (`-1` for
//! `strncpy_from_user`). The wide loops' fixups fall back to the byte loop,
//! so the count is exact to the byte, as Linux's is.
//!
//! Callers pass user addresses already checked to lie below the user
//! address limit (Linux's `access_ok`); the routines themselves trust
//! nothing else about them.

use core::arch::global_asm;

global_asm!(
    r#"
.section .text.uaccess, "ax"

// x0 = kernel dst, x1 = user src, x2 = n; returns x0 = bytes not copied.
.global __arch_copy_from_user
__arch_copy_from_user:
    cmp     x2, #8
    b.lo    2f
1:
.Lcfu_wide:
    ldtr    x3, [x1]
    str     x3, [x0], #8
    add     x1, x1, #8
    sub     x2, x2, #8
    cmp     x2, #8
    b.hs    1b
2:  cbz     x2, 4f
3:
.Lcfu_byte:
    ldtrb   w3, [x1]
    strb    w3, [x0], #1
    add     x1, x1, #1
    subs    x2, x2, #1
    b.ne    3b
4:  mov     x0, x2
    ret
.Lcfu_fix_wide:
    b       2b
.Lcfu_fix_byte:
    mov     x0, x2
    ret

// x0 = user dst, x1 = kernel src, x2 = n; returns x0 = bytes not copied.
.global __arch_copy_to_user
__arch_copy_to_user:
    cmp     x2, #8
    b.lo    2f
1:  ldr     x3, [x1]
.Lctu_wide:
    sttr    x3, [x0]
    add     x0, x0, #8
    add     x1, x1, #8
    sub     x2, x2, #8
    cmp     x2, #8
    b.hs    1b
2:  cbz     x2, 4f
3:  ldrb    w3, [x1]
.Lctu_byte:
    sttrb   w3, [x0]
    add     x0, x0, #1
    add     x1, x1, #1
    subs    x2, x2, #1
    b.ne    3b
4:  mov     x0, x2
    ret
.Lctu_fix_wide:
    b       2b
.Lctu_fix_byte:
    mov     x0, x2
    ret

// x0 = user dst, x1 = n; returns x0 = bytes not cleared.
.global __arch_clear_user
__arch_clear_user:
    cmp     x1, #8
    b.lo    2f
1:
.Lclr_wide:
    sttr    xzr, [x0]
    add     x0, x0, #8
    sub     x1, x1, #8
    cmp     x1, #8
    b.hs    1b
2:  cbz     x1, 4f
3:
.Lclr_byte:
    sttrb   wzr, [x0]
    add     x0, x0, #1
    subs    x1, x1, #1
    b.ne    3b
4:  mov     x0, x1
    ret
.Lclr_fix_wide:
    b       2b
.Lclr_fix_byte:
    mov     x0, x1
    ret

// x0 = kernel dst, x1 = user src, x2 = n (> 0); returns x0 = the string's
// length if a NUL was copied within n bytes, n if none was, -1 on a fault.
.global __arch_strncpy_from_user
__arch_strncpy_from_user:
    mov     x4, #0
    cbz     x2, 2f
1:
.Lsfu_byte:
    ldtrb   w3, [x1, #0]
    strb    w3, [x0, x4]
    cbz     w3, 2f
    add     x1, x1, #1
    add     x4, x4, #1
    cmp     x4, x2
    b.lo    1b
2:  mov     x0, x4
    ret
.Lsfu_fix:
    mov     x0, #-1
    ret
.global __arch_uaccess_end
__arch_uaccess_end:

.section .rodata.uaccess_fixups, "a"
.balign 8
.global __arch_uaccess_fixups
__arch_uaccess_fixups:
    .quad .Lcfu_wide, .Lcfu_fix_wide
    .quad .Lcfu_byte, .Lcfu_fix_byte
    .quad .Lctu_wide, .Lctu_fix_wide
    .quad .Lctu_byte, .Lctu_fix_byte
    .quad .Lclr_wide, .Lclr_fix_wide
    .quad .Lclr_byte, .Lclr_fix_byte
    .quad .Lsfu_byte, .Lsfu_fix
.global __arch_uaccess_fixups_end
__arch_uaccess_fixups_end:
"#
);

unsafe extern "C" {
    fn __arch_copy_from_user(to: *mut u8, from: u64, n: usize) -> usize;
    fn __arch_copy_to_user(to: u64, from: *const u8, n: usize) -> usize;
    fn __arch_clear_user(to: u64, n: usize) -> usize;
    fn __arch_strncpy_from_user(to: *mut u8, from: u64, n: usize) -> isize;
    static __arch_uaccess_fixups: [[u64; 2]; 0];
    static __arch_uaccess_fixups_end: [[u64; 2]; 0];
}

/// The fixup address for a fault at `pc`, if `pc` is a user access in one
/// of the routines here (Linux's search_exception_tables).
pub fn fixup_for(pc: u64) -> Option<u64> {
    let start = core::ptr::addr_of!(__arch_uaccess_fixups) as *const [u64; 2];
    let end = core::ptr::addr_of!(__arch_uaccess_fixups_end) as *const [u64; 2];
    // SAFETY: the two symbols bound one array of pairs of addresses in
    // read-only data, laid down by the asm above; it is never written.
    let table = unsafe { core::slice::from_raw_parts(start, end.offset_from(start) as usize) };
    table.iter().find(|e| e[0] == pc).map(|e| e[1])
}

/// Copy `dst.len()` bytes from user address `src`; returns the number of
/// bytes not copied (0 on success).
///
/// # Safety
/// 1. `src..src + dst.len()` lies below the user address limit (the caller
///    checked it as Linux's access_ok does), so every access is to a user
///    address the fault handler may resolve or refuse.
/// 2. The kernel's fault handler is installed and resumes faults at
///    [`fixup_for`]'s address when it cannot resolve them.
pub unsafe fn copy_from_user(dst: &mut [u8], src: u64) -> usize {
    // SAFETY: `dst` is a valid kernel buffer of its length; the user side
    // is (1) and (2)'s.
    unsafe { __arch_copy_from_user(dst.as_mut_ptr(), src, dst.len()) }
}

/// Copy `src` to user address `dst`; returns the number of bytes not copied.
///
/// # Safety
/// As [`copy_from_user`], for `dst..dst + src.len()`.
pub unsafe fn copy_to_user(dst: u64, src: &[u8]) -> usize {
    // SAFETY: `src` is a valid kernel buffer; the user side is the caller's.
    unsafe { __arch_copy_to_user(dst, src.as_ptr(), src.len()) }
}

/// Zero `n` bytes at user address `dst`; returns the number not zeroed.
///
/// # Safety
/// As [`copy_from_user`], for `dst..dst + n`.
pub unsafe fn clear_user(dst: u64, n: usize) -> usize {
    // SAFETY: only user memory is written, as the caller guarantees.
    unsafe { __arch_clear_user(dst, n) }
}

/// Copy a NUL-terminated string of at most `dst.len()` bytes from user
/// address `src`: `Some(len)` (the NUL, if found, is copied and not
/// counted; `len == dst.len()` means none was within reach), `None` on a
/// fault.
///
/// # Safety
/// As [`copy_from_user`], for `src..src + dst.len()`.
pub unsafe fn strncpy_from_user(dst: &mut [u8], src: u64) -> Option<usize> {
    if dst.is_empty() {
        return Some(0);
    }
    // SAFETY: `dst` is a valid kernel buffer; the user side is the caller's.
    let r = unsafe { __arch_strncpy_from_user(dst.as_mut_ptr(), src, dst.len()) };
    usize::try_from(r).ok()
}
