//! The kernel-side register switch between two tasks (Linux's
//! cpu_switch_to in arch/arm64/kernel/entry.S) and the per-task thread
//! registers (TPIDR_EL0, TPIDRRO_EL0: Linux's tls_thread_switch).
//!
//! A switch happens inside a function call (the scheduler's), so only what
//! the AAPCS64 says a callee must preserve is saved: x19-x28, the frame
//! pointer x29, the stack pointer and the return address x30. The caller-
//! saved registers are dead across the call by the ABI, and the softfloat
//! kernel keeps nothing in V registers (FP/SIMD state is `fpsimd`'s).
//!
//! ```text
//!   CpuContext   x19 x20 ... x28 | fp | sp | pc (x30 of the switch)
//!   offset        0   8      72    80   88   96
//! ```
//!
//! Linux keeps `current` in SP_EL0; here SP_EL0 names the CPU's area and
//! TPIDR_EL1 is the per-CPU offset (`percpu`), both the CPU's and not the
//! task's, and the scheduler keeps `current` in a per-CPU slot, so this
//! switch touches no other register.
//!
//! A task that has never run starts at `__ret_from_fork`: its context holds
//! the entry function in x19 and its argument in x20; the trampoline calls
//! `x19(x20)` on the new stack with a zero frame record below it, so a
//! backtrace ends there. The entry function must never return.

use core::arch::{asm, global_asm};

/// The callee-saved registers of a task switched away (Linux's
/// `struct cpu_context`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuContext {
    /// x19..x28.
    pub x19_x28: [u64; 10],
    /// x29, the frame pointer.
    pub fp: u64,
    /// The stack pointer.
    pub sp: u64,
    /// Where the task resumes (x30 when it called the switch).
    pub pc: u64,
}

const _: () = assert!(core::mem::size_of::<CpuContext>() == 13 * 8);

impl CpuContext {
    /// The context of a task that has never run: it will begin in
    /// `__ret_from_fork`, calling `entry(arg)` on the stack whose top (one
    /// past the highest byte, 16-byte aligned) is `stack_top`.
    pub fn new_task(stack_top: u64, entry: extern "C" fn(u64) -> !, arg: u64) -> Self {
        debug_assert!(stack_top.is_multiple_of(16));
        let mut x19_x28 = [0; 10];
        x19_x28[0] = entry as *const () as u64;
        x19_x28[1] = arg;
        CpuContext { x19_x28, fp: 0, sp: stack_top, pc: __ret_from_fork as *const () as u64 }
    }
}

global_asm!(
    r#"
.pushsection .text.cpu_switch_to, "ax"
.balign 4
// x0: &mut CpuContext of the task switched away, x1: &CpuContext to resume.
.global __cpu_switch_to
__cpu_switch_to:
    stp     x19, x20, [x0, #0]
    stp     x21, x22, [x0, #16]
    stp     x23, x24, [x0, #32]
    stp     x25, x26, [x0, #48]
    stp     x27, x28, [x0, #64]
    mov     x9, sp
    stp     x29, x9, [x0, #80]
    str     x30, [x0, #96]
    ldp     x19, x20, [x1, #0]
    ldp     x21, x22, [x1, #16]
    ldp     x23, x24, [x1, #32]
    ldp     x25, x26, [x1, #48]
    ldp     x27, x28, [x1, #64]
    ldp     x29, x9, [x1, #80]
    ldr     x30, [x1, #96]
    mov     sp, x9
    ret

// A new task's first instructions: x19 = entry, x20 = its argument.
.global __ret_from_fork
__ret_from_fork:
    mov     x29, xzr
    mov     x30, xzr
    stp     xzr, xzr, [sp, #-16]!
    mov     x29, sp
    mov     x0, x20
    blr     x19
    udf     #0
.popsection
"#
);

unsafe extern "C" {
    fn __cpu_switch_to(prev: *mut CpuContext, next: *const CpuContext);
    /// Never called from Rust: only its address is taken.
    fn __ret_from_fork();
}

/// Save the running task's callee-saved registers in `*prev` and resume
/// the task whose registers are in `*next`. Returns when some later switch
/// names `prev` as the task to resume.
///
/// # Safety
/// 1. `prev` is valid for writes and `next` for reads until the switch is
///    done, and neither is written by anyone else meanwhile.
/// 2. `*next` was saved by an earlier switch away from a task that is not
///    running anywhere now, or built by [`CpuContext::new_task`] for a task
///    that never ran; its stack is mapped and stays so while it runs.
/// 3. Interrupts are masked, and the caller holds no lock the next task
///    may need (the next task, not this one, runs now).
pub unsafe fn cpu_switch_to(prev: *mut CpuContext, next: *const CpuContext) {
    // SAFETY: obligations 1 and 2 make both contexts valid and the target
    // stack runnable; the routine saves exactly the callee-saved state
    // the ABI requires this call to preserve, so when `prev` is resumed
    // the call returns as an ordinary function call would.
    unsafe { __cpu_switch_to(prev, next) }
}

/// The thread registers a task owns at EL0 (Linux's `thread.uw.tp_value`
/// and `tp2_value`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadRegs {
    /// TPIDR_EL0: the user thread pointer (TLS), read-write at EL0.
    pub tpidr_el0: u64,
    /// TPIDRRO_EL0: read-only at EL0.
    pub tpidrro_el0: u64,
}

impl ThreadRegs {
    /// This CPU's current values.
    pub fn read() -> Self {
        let (a, b): (u64, u64);
        // SAFETY: reading the EL0 thread registers has no side effect.
        unsafe {
            asm!("mrs {}, tpidr_el0", "mrs {}, tpidrro_el0", out(reg) a, out(reg) b,
                options(nomem, nostack, preserves_flags))
        };
        ThreadRegs { tpidr_el0: a, tpidrro_el0: b }
    }

    /// Load them into this CPU (the kernel itself never reads them: its
    /// per-CPU offset is in TPIDR_EL1).
    pub fn write(&self) {
        // SAFETY: the EL0 thread registers hold nothing the kernel relies on.
        unsafe {
            asm!("msr tpidr_el0, {}", "msr tpidrro_el0, {}", in(reg) self.tpidr_el0, in(reg) self.tpidrro_el0,
                options(nomem, nostack, preserves_flags))
        };
    }
}
