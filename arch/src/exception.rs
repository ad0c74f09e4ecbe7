//! Exception vectors, the trap frame, and fixups for expected faults.
//!
//! # The vector table
//! Sixteen entries of 128 bytes (Arm ARM D1.10.2): {current EL with SP_EL0,
//! current EL with SP_ELx, lower EL AArch64, lower EL AArch32} x {synchronous,
//! IRQ, FIQ, SError}. Every entry saves the general registers, ELR, SPSR, ESR
//! and FAR in a [`TrapFrame`] on the stack and calls [`arch_trap`].
//!
//! # Stack overflow
//! Kernel stacks are `STACK_SIZE` bytes (16 KiB, Linux arm64's THREAD_SIZE),
//! aligned to twice that (THREAD_ALIGN with VMAP_STACK), with an unmapped
//! guard below. So bit `STACK_SHIFT` of any address inside a stack is 0 and
//! of any address in the 16 KiB below it is 1. Each vector entry
//! tests that bit of the new frame's address before storing anything (Linux's
//! kernel_ventry does the same with no spare register: it juggles x0 and sp).
//! On overflow it switches to the CPU's overflow stack (its top is word 0 of
//! the CPU's `CpuArea`, a per-CPU variable: `__cpu_area` plus TPIDR_EL1) and reports; a fault on
//! the guard page that the entry did not catch (a store far below sp) is
//! recognised from FAR by the kernel's handler.
//!
//! # Fixups
//! Some faults are expected and recovered here, before the kernel's handler
//! sees them:
//! - the semihosting `HLT` when no host is attached (undefined instruction at
//!   exactly that address): skipped, the call returns -1;
//! - a probe armed with [`probe_write`] / [`probe_exec`] / [`probe_fp`] by a
//!   self-test: the fault is recorded and execution resumes after the probe.
//!
//! Anything else goes to the handler the kernel installed with
//! [`set_handler`], which prints an oops and ends the run.

use crate::semihosting;
use core::arch::global_asm;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// log2 of the kernel stack size (Linux arm64's THREAD_SHIFT): 16 KiB; in
/// the debug build, whose less optimised frames do not fit 16 KiB, twice
/// that (as Linux adds KASAN_THREAD_SHIFT). linker.ld follows (kernel/build.rs).
pub const STACK_SHIFT: u32 = if cfg!(debug_assertions) { 15 } else { 14 };
/// Kernel stack size in bytes (16 KiB, Linux arm64's THREAD_SIZE). Stacks
/// start at a multiple of `2 * STACK_SIZE` (THREAD_ALIGN).
pub const STACK_SIZE: u64 = 1 << STACK_SHIFT;
/// Size of [`TrapFrame`] in bytes.
pub const FRAME_SIZE: usize = 288;
/// Bit set in the vector argument when the entry found the stack overflowed.
pub const VECTOR_OVERFLOW: u64 = 1 << 8;

/// The registers saved on exception entry.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TrapFrame {
    /// x0..x30 (x29 = frame pointer, x30 = link register).
    pub x: [u64; 31],
    /// The stack pointer at the time of the exception.
    pub sp: u64,
    /// ELR_EL1: where the exception was taken (and where `eret` resumes).
    pub elr: u64,
    /// SPSR_EL1: the saved PSTATE.
    pub spsr: u64,
    /// ESR_EL1: the syndrome.
    pub esr: u64,
    /// FAR_EL1: the faulting virtual address (aborts only).
    pub far: u64,
}

const _: () = assert!(core::mem::size_of::<TrapFrame>() == FRAME_SIZE);

/// Which of the sixteen vector entries was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vector(pub u64);

impl Vector {
    /// The entry index 0..16.
    pub fn index(self) -> u64 {
        self.0 & 0xf
    }
    /// The entry found the kernel stack overflowed.
    pub fn stack_overflowed(self) -> bool {
        self.0 & VECTOR_OVERFLOW != 0
    }
    /// Linux's name for the entry (el1h_64_sync, el0t_64_irq, ...).
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 16] = [
            "el1t_64_sync",
            "el1t_64_irq",
            "el1t_64_fiq",
            "el1t_64_error",
            "el1h_64_sync",
            "el1h_64_irq",
            "el1h_64_fiq",
            "el1h_64_error",
            "el0t_64_sync",
            "el0t_64_irq",
            "el0t_64_fiq",
            "el0t_64_error",
            "el0t_32_sync",
            "el0t_32_irq",
            "el0t_32_fiq",
            "el0t_32_error",
        ];
        NAMES[self.index() as usize]
    }
    /// A synchronous exception (as opposed to IRQ, FIQ, SError).
    pub fn is_sync(self) -> bool {
        self.index().is_multiple_of(4)
    }
}

/// ESR_EL1.EC values the kernel distinguishes.
pub mod ec {
    /// Unknown reason: undefined instruction among others.
    pub const UNKNOWN: u64 = 0x00;
    /// SVE, Advanced SIMD or floating point access trapped by CPACR_EL1.
    pub const FP_ASIMD: u64 = 0x07;
    /// Instruction abort from the current EL.
    pub const IABT_CUR: u64 = 0x21;
    /// Data abort from the current EL.
    pub const DABT_CUR: u64 = 0x25;
    /// BRK instruction (AArch64).
    pub const BRK64: u64 = 0x3c;
}

/// The exception class field of an ESR.
pub fn esr_ec(esr: u64) -> u64 {
    (esr >> 26) & 0x3f
}

/// Linux's name for an exception class (arch/arm64/kernel/traps.c esr_class_str).
pub fn ec_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "Unknown/Uncategorized",
        0x01 => "WFI/WFE",
        0x03 => "CP15 MCR/MRC",
        0x04 => "CP15 MCRR/MRRC",
        0x05 => "CP14 MCR/MRC",
        0x06 => "CP14 LDC/STC",
        0x07 => "ASIMD",
        0x0c => "CP14 MCRR/MRRC",
        0x0d => "BTI",
        0x0e => "PSTATE.IL",
        0x11 => "SVC (AArch32)",
        0x15 => "SVC (AArch64)",
        0x16 => "HVC (AArch64)",
        0x17 => "SMC (AArch64)",
        0x18 => "MSR/MRS (AArch64)",
        0x19 => "SVE",
        0x1c => "FPAC",
        0x20 => "IABT (lower EL)",
        0x21 => "IABT (current EL)",
        0x22 => "PC Alignment",
        0x24 => "DABT (lower EL)",
        0x25 => "DABT (current EL)",
        0x26 => "SP Alignment",
        0x28 => "FP (AArch32)",
        0x2c => "FP (AArch64)",
        0x2f => "SError",
        0x30 => "Breakpoint (lower EL)",
        0x31 => "Breakpoint (current EL)",
        0x32 => "Software Step (lower EL)",
        0x33 => "Software Step (current EL)",
        0x34 => "Watchpoint (lower EL)",
        0x35 => "Watchpoint (current EL)",
        0x38 => "BKPT (AArch32)",
        0x3c => "BRK (AArch64)",
        _ => "UNRECOGNIZED EC",
    }
}

/// Linux's name for an abort's fault status code (arch/arm64/mm/fault.c fault_info).
pub fn fsc_name(fsc: u64) -> &'static str {
    match fsc & 0x3f {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault",
        0x09..=0x0b => "access flag fault",
        0x0d..=0x0f => "permission fault",
        0x10 => "synchronous external abort",
        0x11 => "synchronous tag check fault",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "unknown fault",
    }
}

/// What the kernel's handler is called with.
pub type TrapHandler = fn(&mut TrapFrame, Vector);

static HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Install the kernel's handler for every exception the fixups do not take.
pub fn set_handler(h: TrapHandler) {
    HANDLER.store(h as usize, Ordering::Release);
}

global_asm!(
    r#"
.set FRAME_SIZE, {frame}
.set STACK_SHIFT, {shift}
.set VECTOR_OVERFLOW, {overflow}

// x2-x30 into the frame at sp (the entry stored x0 and x1 already).
.macro save_x2_x30
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    str     x30, [sp, #240]
.endm

// The interrupted sp (in x20), ELR, SPSR, ESR and FAR into the frame at sp.
.macro save_sp_x20_and_sysregs
    mrs     x21, elr_el1
    mrs     x22, spsr_el1
    mrs     x23, esr_el1
    mrs     x24, far_el1
    stp     x20, x21, [sp, #248]
    stp     x22, x23, [sp, #264]
    str     x24, [sp, #280]
.endm

// x0-x30 back from the frame at sp.
.macro restore_x0_x30
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
.endm

.macro kernel_ventry idx
    .balign 0x80
    // Test bit STACK_SHIFT of (sp - FRAME_SIZE) without a free register.
    sub     sp, sp, #FRAME_SIZE
    add     sp, sp, x0              // sp = frame + x0
    sub     x0, sp, x0              // x0 = frame
    tbnz    x0, #STACK_SHIFT, 1f
    sub     x0, sp, x0              // x0 = original x0
    sub     sp, sp, x0              // sp = frame
    stp     x0, x1, [sp, #0]
    mov     x0, #\idx
    b       __trap_common
1:  msr     tpidr_el0, x0           // stash the overflowing frame address
    sub     x0, sp, x0              // original x0
    msr     tpidrro_el0, x0
    adrp    x0, __cpu_area          // this CPU's area: __cpu_area + TPIDR_EL1
    add     x0, x0, :lo12:__cpu_area
    mov     sp, x0                  // sp is scratch until it is switched below
    mrs     x0, tpidr_el1           // the per-CPU offset
    add     x0, sp, x0
    ldr     x0, [x0]                // word 0: the overflow stack top
    mov     sp, x0
    sub     sp, sp, #FRAME_SIZE
    mrs     x0, tpidrro_el0
    stp     x0, x1, [sp, #0]
    mov     x0, #(\idx | VECTOR_OVERFLOW)
    b       __trap_common
.endm

// From EL0 the frame goes at the top of the task's kernel stack (SP_EL1 is
// what ret_to_user left: the frame's own end), so there is nothing to check
// and TPIDR_EL0 (the task's TLS) must not be touched.
.macro el0_ventry idx
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x0, #\idx
    b       __trap_el0
.endm

.section .text.vectors, "ax"
.balign 0x800
.global __vectors
__vectors:
    kernel_ventry 0
    kernel_ventry 1
    kernel_ventry 2
    kernel_ventry 3
    kernel_ventry 4
    kernel_ventry 5
    kernel_ventry 6
    kernel_ventry 7
    el0_ventry 8
    el0_ventry 9
    el0_ventry 10
    el0_ventry 11
    // Lower EL, AArch32: unreachable (every return to EL0 is to AArch64,
    // ret_to_user's obligation 2). Should AArch32 EL0 ever be allowed,
    // these need el0_ventry: kernel_ventry leaves the user's SP_EL0 where
    // the kernel expects its CPU area (arch/src/percpu.rs).
    kernel_ventry 12
    kernel_ventry 13
    kernel_ventry 14
    kernel_ventry 15

__trap_common:
    save_x2_x30
    add     x20, sp, #FRAME_SIZE    // sp before the exception...
    tbz     x0, #8, 2f
    mrs     x20, tpidr_el0          // ...or, on overflow, the stashed one
    add     x20, x20, #FRAME_SIZE
2:  save_sp_x20_and_sysregs
    mov     x1, x0
    mov     x0, sp
    // A frame record linking to the interrupted code, so backtraces pass through.
    stp     x29, x21, [sp, #-16]!
    mov     x29, sp
    bl      arch_trap
    add     sp, sp, #16
    ldp     x21, x22, [sp, #256]
    msr     elr_el1, x21
    msr     spsr_el1, x22
    restore_x0_x30
    add     sp, sp, #FRAME_SIZE
    eret

__trap_el0:
    save_x2_x30
    mrs     x20, sp_el0
    save_sp_x20_and_sysregs
    // SP_EL0 = this CPU's area while the kernel runs (arch/src/percpu.rs);
    // the user's is in the frame, and __ret_to_user puts it back.
    mrs     x21, tpidr_el1
    adrp    x22, __cpu_area
    add     x22, x22, :lo12:__cpu_area
    add     x21, x21, x22
    msr     sp_el0, x21
    mov     x1, x0
    mov     x0, sp
    // A zero frame record: backtraces end here, at the user boundary.
    stp     xzr, xzr, [sp, #-16]!
    mov     x29, sp
    bl      arch_trap_user
    add     sp, sp, #16
.global __ret_to_user
__ret_to_user:                      // sp = the frame, at the top of the stack
    ldp     x20, x21, [sp, #248]
    ldr     x22, [sp, #264]
    msr     sp_el0, x20
    msr     elr_el1, x21
    msr     spsr_el1, x22
    restore_x0_x30
    add     sp, sp, #FRAME_SIZE
    eret
    // No speculation past the eret (Linux's `sb` after kernel_exit).
    dsb     nsh
    isb

// Probes for self-tests: a single faulting instruction at a known address.
.section .text.probes, "ax"
.global __probe_write
.global __probe_write_insn
__probe_write:                      // x0 = address, x1 = value
__probe_write_insn:
    str     x1, [x0]
    ret

.global __probe_read32
.global __probe_read32_insn
__probe_read32:                     // x0 = address; returns the word
__probe_read32_insn:
    ldr     w0, [x0]
    ret

.global __probe_exec
__probe_exec:                       // x0 = address to branch to
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    blr     x0
    ldp     x29, x30, [sp], #16
    ret

.global __probe_fp
.global __probe_fp_insn
__probe_fp:
__probe_fp_insn:
    .inst   0x1e2703e0              // fmov s0, wzr: traps while CPACR_EL1.FPEN = 0
    ret

.section .bss.overflow_stack, "aw", @nobits
.balign 16
.global __overflow_stacks
__overflow_stacks:
    .space {overflow_all}
"#,
    frame = const FRAME_SIZE,
    shift = const STACK_SHIFT,
    overflow = const VECTOR_OVERFLOW,
    overflow_all = const crate::percpu::OVERFLOW_STACK_SIZE * crate::percpu::NR_CPUS,
);

unsafe extern "C" {
    static __vectors: u8;
    static __probe_write_insn: u8;
    static __probe_fp_insn: u8;
    static __probe_read32_insn: u8;
    fn __probe_write(addr: u64, val: u64);
    fn __probe_read32(addr: u64) -> u32;
    fn __probe_exec(addr: u64);
    fn __probe_fp();
}

/// Point VBAR_EL1 at the vector table.
pub fn install() {
    let v = core::ptr::addr_of!(__vectors) as u64;
    // SAFETY: `__vectors` is a complete, 2 KiB-aligned table in kernel text;
    // the isb makes later exceptions use it.
    unsafe { core::arch::asm!("msr vbar_el1, {v}", "isb", v = in(reg) v, options(nostack, preserves_flags)) };
}

/// The address of the kernel's vector table (what [`install`] writes to VBAR_EL1).
pub fn vectors_address() -> u64 {
    core::ptr::addr_of!(__vectors) as u64
}

/// VBAR_EL1 as the CPU has it now.
pub fn vbar() -> u64 {
    let v: u64;
    // SAFETY: reading VBAR_EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {}, vbar_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// A fault recorded by a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeFault {
    /// ESR_EL1 of the fault.
    pub esr: u64,
    /// FAR_EL1 of the fault.
    pub far: u64,
}

const PROBE_NONE: u64 = 0;
const PROBE_WRITE: u64 = 1;
const PROBE_EXEC: u64 = 2;
const PROBE_FP: u64 = 3;
const PROBE_READ: u64 = 4;

/// One CPU's armed probe and what it caught. Per CPU, because self-tests
/// probe on every CPU at once (a bug fixed: a global record let one CPU
/// disarm another's probe in flight).
struct ProbeState {
    kind: AtomicU64,
    target: AtomicU64,
    hit: AtomicBool,
    esr: AtomicU64,
    far: AtomicU64,
}

static PROBES: [ProbeState; crate::percpu::NR_CPUS] = [const {
    ProbeState {
        kind: AtomicU64::new(PROBE_NONE),
        target: AtomicU64::new(0),
        hit: AtomicBool::new(false),
        esr: AtomicU64::new(0),
        far: AtomicU64::new(0),
    }
}; crate::percpu::NR_CPUS];

fn probe_state() -> &'static ProbeState {
    &PROBES[crate::percpu::smp_processor_id()]
}

fn arm(kind: u64, target: u64) {
    let p = probe_state();
    p.hit.store(false, Ordering::Relaxed);
    p.target.store(target, Ordering::Relaxed);
    p.kind.store(kind, Ordering::SeqCst);
}

fn disarm() -> Result<(), ProbeFault> {
    let p = probe_state();
    p.kind.store(PROBE_NONE, Ordering::SeqCst);
    if p.hit.load(Ordering::Relaxed) {
        Err(ProbeFault { esr: p.esr.load(Ordering::Relaxed), far: p.far.load(Ordering::Relaxed) })
    } else {
        Ok(())
    }
}

/// Store `val` at `addr`, recovering from a data abort.
///
/// # Safety
/// 1. If the store succeeds, writing 8 bytes at `addr` must be harmless to the
///    program (the caller is testing that it faults, or owns the memory).
pub unsafe fn probe_write(addr: u64, val: u64) -> Result<(), ProbeFault> {
    arm(PROBE_WRITE, addr);
    // SAFETY: obligation 1; a fault at the store is fixed up by arch_trap.
    unsafe { __probe_write(addr, val) };
    disarm()
}

/// Load the 32-bit word at `addr`, recovering from a data abort (an
/// address with no device or memory behind it: a synchronous external
/// abort; or an unmapped one: a translation fault).
///
/// # Safety
/// 1. `addr` is 4-byte aligned, and if the load succeeds, reading it must be
///    harmless (no read side effect the caller does not want: a UART's
///    status register, not its data register).
pub unsafe fn probe_read32(addr: u64) -> Result<u32, ProbeFault> {
    arm(PROBE_READ, addr);
    // SAFETY: obligation 1; a fault at the load is fixed up by arch_trap.
    let v = unsafe { __probe_read32(addr) };
    disarm().map(|()| v)
}

/// Branch to `addr`, recovering from an instruction abort there.
///
/// # Safety
/// 1. If `addr` is executable, the code there must be a function that returns
///    and is harmless to run (the caller is testing that it faults).
pub unsafe fn probe_exec(addr: u64) -> Result<(), ProbeFault> {
    arm(PROBE_EXEC, addr);
    // SAFETY: obligation 1; an instruction abort at `addr` is fixed up by
    // returning to the probe's caller.
    unsafe { __probe_exec(addr) };
    disarm()
}

/// Execute one floating-point instruction, recovering from the trap.
pub fn probe_fp() -> Result<(), ProbeFault> {
    arm(PROBE_FP, 0);
    // SAFETY: the instruction writes only s0, which the kernel never uses
    // (softfloat ABI); if it traps, arch_trap skips it.
    unsafe { __probe_fp() };
    disarm()
}

/// Take the expected faults; return true if `frame` was fixed up.
fn fixup(frame: &mut TrapFrame, vector: Vector) -> bool {
    if !vector.is_sync() || vector.stack_overflowed() {
        return false;
    }
    let ec = esr_ec(frame.esr);
    if ec == ec::UNKNOWN && frame.elr == semihosting::hlt_address() {
        semihosting::mark_absent();
        frame.x[0] = u64::MAX;
        frame.elr += 4;
        return true;
    }
    if ec == ec::UNKNOWN && crate::psci::undefined_conduit(frame.elr) {
        frame.x[0] = crate::psci::NOT_SUPPORTED as u64;
        frame.elr += 4;
        return true;
    }
    let p = probe_state();
    let kind = p.kind.load(Ordering::SeqCst);
    let hit = match kind {
        PROBE_WRITE => ec == ec::DABT_CUR && frame.elr == core::ptr::addr_of!(__probe_write_insn) as u64,
        PROBE_EXEC => ec == ec::IABT_CUR && frame.elr == p.target.load(Ordering::Relaxed),
        PROBE_FP => ec == ec::FP_ASIMD && frame.elr == core::ptr::addr_of!(__probe_fp_insn) as u64,
        PROBE_READ => ec == ec::DABT_CUR && frame.elr == core::ptr::addr_of!(__probe_read32_insn) as u64,
        _ => false,
    };
    if !hit {
        return false;
    }
    p.esr.store(frame.esr, Ordering::Relaxed);
    p.far.store(frame.far, Ordering::Relaxed);
    p.hit.store(true, Ordering::Relaxed);
    p.kind.store(PROBE_NONE, Ordering::SeqCst);
    if kind == PROBE_EXEC {
        // Return to the instruction after the `blr` in __probe_exec.
        frame.elr = frame.x[30];
    } else {
        frame.elr += 4;
    }
    true
}

/// A few lines about an exception taken before the kernel installed its
/// handler, formatted on the stack (no heap, no console). Never inlined:
/// its buffer would otherwise sit in every exception's frame, an IRQ's
/// on top of whatever stack it interrupted.
#[inline(never)]
fn early_report(frame: &TrapFrame, vector: Vector) {
    struct Buf {
        b: [u8; 256],
        n: usize,
    }
    impl core::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            for &c in s.as_bytes() {
                if self.n < self.b.len() {
                    self.b[self.n] = c;
                    self.n += 1;
                }
            }
            Ok(())
        }
    }
    let mut buf = Buf { b: [0; 256], n: 0 };
    let _ = core::fmt::write(
        &mut buf,
        format_args!(
            "early exception {} ({}{}): ESR {:#x} ELR {:#x} FAR {:#x}\n",
            vector.name(),
            ec_name(esr_ec(frame.esr)),
            if vector.stack_overflowed() { ", kernel stack overflow" } else { "" },
            frame.esr,
            frame.elr,
            frame.far
        ),
    );
    semihosting::write_bytes(&buf.b[..buf.n]);
}

/// What the kernel's handler for exceptions from EL0 is called with. It
/// returns when the frame (possibly changed: a system call's result, a
/// signal's new pc) is to be resumed at EL0.
pub type UserTrapHandler = fn(&mut TrapFrame, Vector);

static USER_HANDLER: AtomicUsize = AtomicUsize::new(0);

/// Install the kernel's handler for exceptions taken from EL0 (system
/// calls, user faults, IRQs while a task runs at EL0).
pub fn set_user_handler(h: UserTrapHandler) {
    USER_HANDLER.store(h as usize, Ordering::Release);
}

/// Called by the EL0 vector code with the frame at the top of the task's
/// kernel stack.
#[unsafe(no_mangle)]
extern "C" fn arch_trap_user(frame: &mut TrapFrame, vector: u64) {
    let h = USER_HANDLER.load(Ordering::Acquire);
    if h == 0 {
        // Nothing runs at EL0 before the kernel installs its handler; if it
        // does, it is the kernel's bug, reported as any other exception.
        arch_trap(frame, vector);
        return;
    }
    // SAFETY: USER_HANDLER only ever holds a `UserTrapHandler` stored by
    // set_user_handler.
    let h: UserTrapHandler = unsafe { core::mem::transmute::<usize, UserTrapHandler>(h) };
    h(frame, Vector(vector));
}

unsafe extern "C" {
    fn __ret_to_user() -> !;
}

/// Return to EL0 with `frame`'s registers: the first entry of a new task
/// into user space (Linux's ret_to_user after start_thread).
///
/// The frame is copied to the top of the kernel stack that `stack_top`
/// ends, the stack pointer moves there (everything the caller had on this
/// stack is abandoned), and `eret` resumes at `frame.elr` with `frame.sp`
/// as SP_EL0 and `frame.spsr` as PSTATE. The next exception from EL0 saves
/// its frame at the same place.
///
/// # Safety
/// 1. `stack_top` is the top (one past the end, 16-byte aligned) of the
///    kernel stack the caller is running on; its top `FRAME_SIZE` bytes
///    are reserved for the user frame (the task started below them, as
///    Linux's tasks start below their pt_regs) and `frame` is not in them;
///    nothing else on that stack is needed again (no borrow, no guard, no
///    value whose drop matters outlives this call: it never returns).
/// 2. `frame.spsr` selects EL0t (M[3:0] = 0) with AArch64 state, so the
///    `eret` cannot enter a higher or an AArch32 state, and TTBR0 holds the
///    address space `frame.elr` and `frame.sp` belong to.
pub unsafe fn ret_to_user(frame: &TrapFrame, stack_top: u64) -> ! {
    debug_assert!(frame.spsr & 0x1f == 0, "ret_to_user: SPSR {:#x} is not EL0t", frame.spsr);
    let dst = stack_top - FRAME_SIZE as u64;
    // SAFETY: the caller guarantees (1) that [dst, stack_top) is this
    // stack's reserved top, ours to overwrite, not overlapping `frame`; the
    // copy is of plain integers. Then sp moves onto the copy and
    // __ret_to_user restores it and erets to EL0t as (2) allows.
    unsafe {
        core::ptr::write(dst as *mut TrapFrame, *frame);
        core::arch::asm!(
            "mov sp, {0}",
            "b {1}",
            in(reg) dst,
            sym __ret_to_user,
            options(noreturn)
        )
    }
}

/// Called by the vector code with the saved frame.
#[unsafe(no_mangle)]
extern "C" fn arch_trap(frame: &mut TrapFrame, vector: u64) {
    let vector = Vector(vector);
    if fixup(frame, vector) {
        return;
    }
    let h = HANDLER.load(Ordering::Acquire);
    if h == 0 {
        // No kernel handler yet (no console either): report what we can
        // through semihosting, end the run if a host listens, else stop.
        early_report(frame, vector);
        semihosting::exit(4);
        crate::cpu::park();
    }
    // SAFETY: HANDLER only ever holds a `TrapHandler` stored by set_handler.
    let h: TrapHandler = unsafe { core::mem::transmute::<usize, TrapHandler>(h) };
    h(frame, vector);
}
