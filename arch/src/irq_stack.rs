//! Running the IRQ handler on a stack of its own (Linux arm64's
//! call_on_irq_stack): an interrupt can land at the deepest point of any
//! kernel path, so its frames go on a separate per-CPU stack instead of
//! on top of the interrupted one. The vector entry has already saved the
//! trap frame on the interrupted stack; only the handler moves.

use core::arch::global_asm;

global_asm!(
    r#"
.section .text.irq_stack, "ax"
.global __call_on_irq_stack
__call_on_irq_stack:                // x0 = stack top, x1 = function, x2 = its argument
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp                 // the frame record links back across stacks
    mov     sp, x0
    mov     x0, x2
    blr     x1
    mov     sp, x29
    ldp     x29, x30, [sp], #16
    ret
"#
);

unsafe extern "C" {
    fn __call_on_irq_stack(top: u64, f: extern "C" fn(u64), arg: u64);
}

/// Call `f(arg)` with the stack pointer at `top`, then come back to the
/// caller's stack.
///
/// # Safety
/// 1. `top` is the 16-byte aligned top of a mapped, writable stack that
///    nothing else uses while `f` runs (this CPU's IRQ stack, with IRQs
///    masked so no second handler starts on it), large enough for `f`.
pub unsafe fn call_on_irq_stack(top: u64, f: extern "C" fn(u64), arg: u64) {
    // SAFETY: obligation 1; the trampoline restores sp and the frame record.
    unsafe { __call_on_irq_stack(top, f, arg) }
}
