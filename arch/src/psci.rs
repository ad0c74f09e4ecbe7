//! PSCI (Arm DEN 0022) over the conduit the device tree names.
//!
//! Each conduit is one out-of-line instruction (`__psci_hvc` / `__psci_smc`)
//! called as an ordinary function, so the compiler treats x0-x18 as
//! clobbered: SMCCC 1.0 firmware may corrupt x4-x17, which inline `asm!`
//! would have had to list. An HVC or SMC that no exception level implements
//! is an undefined instruction at EL1; the exception fixup recognises it at
//! exactly those addresses, returns [`NOT_SUPPORTED`] and marks the conduit
//! absent, so probing a conduit the machine lacks is safe. An HVC taken to
//! our own EL2 (the kernel entered at EL2 and is the hypervisor) lands in the
//! head's EL2 stub vectors, which also return NOT_SUPPORTED.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU8, Ordering};

/// How PSCI calls reach firmware (/psci `method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0`: firmware at EL2 (or QEMU emulating it).
    Hvc,
    /// `smc #0`: firmware at EL3.
    Smc,
}

/// PSCI_VERSION.
pub const PSCI_VERSION: u32 = 0x8400_0000;
/// CPU_ON (SMC64).
pub const PSCI_CPU_ON: u32 = 0xc400_0003;
/// SYSTEM_OFF.
pub const PSCI_SYSTEM_OFF: u32 = 0x8400_0008;
/// SYSTEM_RESET.
pub const PSCI_SYSTEM_RESET: u32 = 0x8400_0009;
/// PSCI's NOT_SUPPORTED return value.
pub const NOT_SUPPORTED: i64 = -1;

global_asm!(
    ".section .text.psci, \"ax\"",
    ".balign 4",
    ".global __psci_hvc",
    ".global __psci_hvc_insn",
    "__psci_hvc:",
    "__psci_hvc_insn:",
    "    hvc #0",
    "    ret",
    ".global __psci_smc",
    ".global __psci_smc_insn",
    "__psci_smc:",
    "__psci_smc_insn:",
    "    smc #0",
    "    ret",
);

unsafe extern "C" {
    fn __psci_hvc(func: u64, a1: u64, a2: u64, a3: u64) -> u64;
    fn __psci_smc(func: u64, a1: u64, a2: u64, a3: u64) -> u64;
    static __psci_hvc_insn: u8;
    static __psci_smc_insn: u8;
}

/// Bit per conduit found to be an undefined instruction.
static ABSENT: AtomicU8 = AtomicU8::new(0);

fn bit(c: Conduit) -> u8 {
    match c {
        Conduit::Hvc => 1,
        Conduit::Smc => 2,
    }
}

/// Called by the exception fixup: an undefined-instruction fault at `elr`.
/// If it is a conduit's instruction, marks that conduit absent and returns true.
pub(crate) fn undefined_conduit(elr: u64) -> bool {
    let c = if elr == core::ptr::addr_of!(__psci_hvc_insn) as u64 {
        Conduit::Hvc
    } else if elr == core::ptr::addr_of!(__psci_smc_insn) as u64 {
        Conduit::Smc
    } else {
        return false;
    };
    ABSENT.fetch_or(bit(c), Ordering::Relaxed);
    true
}

/// Whether a call through `conduit` was found to be an undefined instruction.
pub fn conduit_absent(conduit: Conduit) -> bool {
    ABSENT.load(Ordering::Relaxed) & bit(conduit) != 0
}

/// Make a PSCI call. Returns PSCI's result, or [`NOT_SUPPORTED`] when the
/// conduit does not exist on this machine.
///
/// # Safety
/// 1. The call's effect is acceptable to the caller (CPU_ON starts a CPU at
///    `a1`; SYSTEM_OFF does not return).
/// 2. The exception vectors are installed (`exception::install`), so that a
///    conduit the machine lacks is caught.
pub unsafe fn call(conduit: Conduit, func: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    if conduit_absent(conduit) {
        return NOT_SUPPORTED;
    }
    // SAFETY: obligation 2: the instruction either reaches firmware (or the
    // head's EL2 stub) or faults as undefined and is skipped by the fixup with
    // x0 = NOT_SUPPORTED; obligation 1 covers the call's effect. Both
    // functions follow the AAPCS, so every register SMCCC 1.0 may corrupt is
    // caller-saved.
    let r = unsafe {
        match conduit {
            Conduit::Hvc => __psci_hvc(func as u64, a1, a2, a3),
            Conduit::Smc => __psci_smc(func as u64, a1, a2, a3),
        }
    };
    r as i64
}

/// PSCI_VERSION: `(major << 16) | minor`, or a negative PSCI error
/// ([`NOT_SUPPORTED`] when nothing implements the conduit).
///
/// Safe where [`call`] is not: PSCI_VERSION has no effect (obligation 1),
/// and an HVC or SMC that no exception level implements is UNDEFINED at EL1
/// (Arm ARM C6.2, HVC and SMC), caught by the fixup once the vectors are
/// installed; before that, the head's early vectors end the run: a stop,
/// never a memory error.
pub fn version(conduit: Conduit) -> i64 {
    // SAFETY: obligation 1: PSCI_VERSION changes nothing; obligation 2, see
    // above: without the vectors an undefined conduit stops the machine.
    unsafe { call(conduit, PSCI_VERSION, 0, 0, 0) }
}

/// Power the machine off through PSCI. Returns only if the firmware did not
/// (the result: [`NOT_SUPPORTED`] when nothing implements the conduit).
pub fn system_off(conduit: Conduit) -> i64 {
    // SAFETY: obligation 1: powering off is what the caller asks for;
    // obligation 2: `version` documents the undefined-conduit case, and the
    // callers run long after the vectors are installed.
    unsafe { call(conduit, PSCI_SYSTEM_OFF, 0, 0, 0) }
}

/// Reset the machine through PSCI. Returns only if the firmware did not.
pub fn system_reset(conduit: Conduit) -> i64 {
    // SAFETY: as for `system_off`: a reset is what the caller asks for.
    unsafe { call(conduit, PSCI_SYSTEM_RESET, 0, 0, 0) }
}
