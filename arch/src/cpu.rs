//! CPU identification, exception level and parking.

use aarch64_cpu::registers::{CurrentEL, MIDR_EL1, MPIDR_EL1};
use core::arch::asm;
use tock_registers::interfaces::Readable;

/// The current exception level (0-3).
pub fn current_el() -> u64 {
    (CurrentEL.get() >> 2) & 3
}

/// MPIDR_EL1 with the affinity fields only.
pub fn mpidr() -> u64 {
    MPIDR_EL1.get() & 0xff_00ff_ffff
}

/// MIDR_EL1: implementer, part number, revision.
pub fn midr() -> u64 {
    MIDR_EL1.get()
}

/// A short name for the CPU model, from MIDR_EL1.
pub fn model_name() -> &'static str {
    let midr = midr();
    let implementer = (midr >> 24) & 0xff;
    let part = (midr >> 4) & 0xfff;
    match (implementer, part) {
        (0x41, 0xd03) => "Cortex-A53",
        (0x41, 0xd07) => "Cortex-A57",
        (0x41, 0xd08) => "Cortex-A72",
        (0x41, 0xd0b) => "Cortex-A76",
        (0x41, 0xd0c) => "Neoverse-N1",
        (0x41, 0xd40) => "Neoverse-V1",
        (0x41, 0xd49) => "Neoverse-N2",
        (0x41, _) => "Arm",
        _ => "unknown",
    }
}

/// The frame pointer (x29) of the caller's frame.
#[inline(always)]
pub fn frame_pointer() -> u64 {
    let fp: u64;
    // SAFETY: reading a register has no side effect.
    unsafe { asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags)) };
    fp
}

/// The return address of the function this is inlined into (GCC's
/// `__builtin_return_address(0)`): the link register saved in its frame
/// record. Every function has one (the kernel is built with
/// `force-frame-pointers`), so use it in an `#[inline(never)]` function to
/// name that function's caller.
#[inline(always)]
pub fn return_address() -> u64 {
    let lr: u64;
    // SAFETY: x29 points at the current frame record {fp, lr} on this
    // CPU's stack (frame pointers are forced), so the load reads that
    // stack's memory; nothing is written.
    unsafe { asm!("ldr {}, [x29, #8]", out(reg) lr, options(readonly, nostack, preserves_flags)) };
    lr
}

/// The stack pointer of the caller's frame.
#[inline(always)]
pub fn stack_pointer() -> u64 {
    let sp: u64;
    // SAFETY: reading a register has no side effect.
    unsafe { asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags)) };
    sp
}

/// Wait for an event (`wfe`): returns at the next [`send_event`] from any
/// CPU, or at once if one arrived since the last wait (the event register
/// keeps it), or spuriously. Callers re-check what they wait for.
#[inline(always)]
pub fn wait_for_event() {
    // SAFETY: waiting for an event has no memory effect.
    unsafe { asm!("wfe", options(nomem, nostack, preserves_flags)) };
}

/// Make this CPU's earlier stores visible to the other CPUs of the inner
/// shareable domain (`dsb ish`), then wake every CPU in [`wait_for_event`]
/// (`sev`): the order a CPU that wakes and reads what was posted needs.
#[inline(always)]
pub fn send_event() {
    // SAFETY: a barrier and an event: no memory is written.
    unsafe { asm!("dsb ish", "sev", options(nostack, preserves_flags)) };
}

/// As [`send_event`], with a full-system barrier (`dsb sy`): for a CPU that
/// still runs with its MMU and caches off and reads memory at the point of
/// coherency (a secondary in a spin table), after the stores were cleaned
/// to the PoC.
#[inline(always)]
pub fn send_event_system() {
    // SAFETY: as in send_event.
    unsafe { asm!("dsb sy", "sev", options(nostack, preserves_flags)) };
}

/// Execute an undefined instruction (`udf #0`): an Undefined Instruction
/// exception, which the kernel's handler reports as an oops. For lkdtm.
#[inline(never)]
pub fn undefined_instruction() {
    // SAFETY: the instruction traps before it could touch anything; what
    // follows is the exception handler's business.
    unsafe { asm!("udf #0", options(nomem, nostack)) };
}

/// Mask all interrupts and stop this CPU for good.
pub fn park() -> ! {
    loop {
        // SAFETY: masking interrupts and waiting for an event touch no memory.
        unsafe { asm!("msr daifset, #0xf", "wfe", options(nomem, nostack, preserves_flags)) };
    }
}
