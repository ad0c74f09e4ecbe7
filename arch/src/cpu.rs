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

/// Mask all interrupts and stop this CPU for good.
pub fn park() -> ! {
    loop {
        // SAFETY: masking interrupts and waiting for an event touch no memory.
        unsafe { asm!("msr daifset, #0xf", "wfe", options(nomem, nostack, preserves_flags)) };
    }
}
