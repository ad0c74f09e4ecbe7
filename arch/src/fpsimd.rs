//! FP/SIMD register state: save, restore, and the EL1 access trap
//! (CPACR_EL1.FPEN), for the scheduler's per-task FP/SIMD state (Linux's
//! arch/arm64/kernel/fpsimd.c over fpsimd_save_state/fpsimd_load_state in
//! entry-fpsimd.S).
//!
//! The kernel is built for the softfloat target: the compiler never uses
//! a V register, and the head leaves CPACR_EL1.FPEN = 0b00, so any FP/SIMD
//! instruction at EL0 or EL1 traps (ESR class 0x07). Only the asm here
//! touches the registers; the assembler is told `.arch_extension fp, simd`
//! for these routines alone, so nothing else can use them by accident.
//!
//! [`FpState`] is the architectural state a task owns: V0-V31 (128 bits
//! each), FPSR and FPCR, laid out as Linux's `struct user_fpsimd_state`
//! (16-byte aligned: the `stp q` pairs need no more than 16).

use core::arch::{asm, global_asm};

/// One task's FP/SIMD registers (Linux's `struct user_fpsimd_state`).
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FpState {
    /// V0..V31.
    pub vregs: [u128; 32],
    /// FPSR: the cumulative exception flags and QC.
    pub fpsr: u32,
    /// FPCR: rounding mode, flush-to-zero, default NaN, ...
    pub fpcr: u32,
}

/// Offsets the asm uses.
const FPSR_OFFSET: usize = core::mem::offset_of!(FpState, fpsr);
const FPCR_OFFSET: usize = core::mem::offset_of!(FpState, fpcr);
const _: () = assert!(FPSR_OFFSET == 512 && FPCR_OFFSET == 516);
const _: () = assert!(core::mem::size_of::<FpState>() == 528);

impl FpState {
    /// All registers zero, FPCR = 0 (round to nearest, no flush, IEEE NaNs):
    /// the state a task starts with (Linux's fpsimd_flush_task_state then a
    /// fresh load).
    pub const ZERO: FpState = FpState { vregs: [0; 32], fpsr: 0, fpcr: 0 };
}

impl Default for FpState {
    fn default() -> Self {
        Self::ZERO
    }
}

/// FPSR bits that hold state in AArch64 (IOC..IXC, IDC, QC); the rest are
/// RES0 and read back as zero.
pub const FPSR_MASK: u32 = 0x1f | (1 << 7) | (1 << 27);
/// FPCR bits every ARMv8.0 CPU implements (AHP, DN, FZ, RMode); others may
/// be RES0 or optional features.
pub const FPCR_MASK: u32 = (1 << 26) | (1 << 25) | (1 << 24) | (3 << 22);

global_asm!(
    r#"
.pushsection .text.fpsimd, "ax"
.arch_extension fp
.arch_extension simd
.balign 4
// x0: &mut FpState
.global __fpsimd_save_state
__fpsimd_save_state:
    stp     q0, q1, [x0, #0]
    stp     q2, q3, [x0, #32]
    stp     q4, q5, [x0, #64]
    stp     q6, q7, [x0, #96]
    stp     q8, q9, [x0, #128]
    stp     q10, q11, [x0, #160]
    stp     q12, q13, [x0, #192]
    stp     q14, q15, [x0, #224]
    stp     q16, q17, [x0, #256]
    stp     q18, q19, [x0, #288]
    stp     q20, q21, [x0, #320]
    stp     q22, q23, [x0, #352]
    stp     q24, q25, [x0, #384]
    stp     q26, q27, [x0, #416]
    stp     q28, q29, [x0, #448]
    stp     q30, q31, [x0, #480]
    mrs     x1, fpsr
    str     w1, [x0, #{fpsr}]
    mrs     x1, fpcr
    str     w1, [x0, #{fpcr}]
    ret

// x0: &FpState
.global __fpsimd_load_state
__fpsimd_load_state:
    ldp     q0, q1, [x0, #0]
    ldp     q2, q3, [x0, #32]
    ldp     q4, q5, [x0, #64]
    ldp     q6, q7, [x0, #96]
    ldp     q8, q9, [x0, #128]
    ldp     q10, q11, [x0, #160]
    ldp     q12, q13, [x0, #192]
    ldp     q14, q15, [x0, #224]
    ldp     q16, q17, [x0, #256]
    ldp     q18, q19, [x0, #288]
    ldp     q20, q21, [x0, #320]
    ldp     q22, q23, [x0, #352]
    ldp     q24, q25, [x0, #384]
    ldp     q26, q27, [x0, #416]
    ldp     q28, q29, [x0, #448]
    ldp     q30, q31, [x0, #480]
    ldr     w1, [x0, #{fpsr}]
    msr     fpsr, x1
    ldr     w1, [x0, #{fpcr}]
    msr     fpcr, x1
    ret
.popsection
"#,
    fpsr = const FPSR_OFFSET,
    fpcr = const FPCR_OFFSET,
);

unsafe extern "C" {
    fn __fpsimd_save_state(state: *mut FpState);
    fn __fpsimd_load_state(state: *const FpState);
}

/// CPACR_EL1.FPEN (bits 21:20).
const CPACR_FPEN_MASK: u64 = 3 << 20;

fn cpacr() -> u64 {
    let v: u64;
    // SAFETY: reading CPACR_EL1 has no side effect.
    unsafe { asm!("mrs {}, cpacr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

fn set_cpacr(v: u64) {
    // SAFETY: CPACR_EL1 controls only FP/SIMD (and SVE/SME) access traps;
    // the softfloat kernel never executes such an instruction outside this
    // module, so changing the trap changes nothing the compiler relies on.
    // The isb makes the new trap setting apply to the next instruction.
    unsafe { asm!("msr cpacr_el1, {}", "isb", in(reg) v, options(nostack, preserves_flags)) };
}

/// Let EL0 and EL1 use FP/SIMD (FPEN = 0b11).
pub fn enable() {
    set_cpacr(cpacr() | CPACR_FPEN_MASK);
}

/// Trap FP/SIMD at EL0 and EL1 again (FPEN = 0b00), as the head left it.
pub fn disable() {
    set_cpacr(cpacr() & !CPACR_FPEN_MASK);
}

/// Whether FP/SIMD is enabled at EL1 (FPEN = 0b11).
pub fn is_enabled() -> bool {
    cpacr() & CPACR_FPEN_MASK == CPACR_FPEN_MASK
}

/// Store this CPU's FP/SIMD registers into `state`; FP/SIMD must be
/// enabled ([`enable`]), or the first store traps.
pub fn save(state: &mut FpState) {
    debug_assert!(is_enabled(), "fpsimd::save with FP/SIMD trapped");
    // SAFETY: `state` is a valid, exclusive, 16-byte aligned FpState; the
    // routine writes exactly its 528 bytes and clobbers only x1 (a
    // caller-saved register of the C ABI it is called with).
    unsafe { __fpsimd_save_state(state) };
}

/// Load `state` into this CPU's FP/SIMD registers; FP/SIMD must be enabled.
/// RES0 bits of FPSR/FPCR are ignored by the CPU.
pub fn restore(state: &FpState) {
    debug_assert!(is_enabled(), "fpsimd::restore with FP/SIMD trapped");
    // SAFETY: `state` is a valid, 16-byte aligned FpState, only read; the
    // routine writes V0-V31, FPSR and FPCR, which no compiled code of this
    // softfloat kernel keeps values in, and clobbers only x1.
    unsafe { __fpsimd_load_state(state) };
}
