//! PSCI (Arm DEN 0022) over the conduit the device tree names.

use core::arch::asm;

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

/// Make a PSCI call.
///
/// # Safety
/// 1. The device tree says PSCI is reachable through `conduit` (an HVC with
///    nothing at EL2, or an SMC with nothing at EL3, is undefined).
/// 2. The call's effect is acceptable to the caller (CPU_ON starts a CPU at
///    `a1`; SYSTEM_OFF does not return).
pub unsafe fn call(conduit: Conduit, func: u32, a1: u64, a2: u64, a3: u64) -> i64 {
    let mut x0 = func as u64;
    // SAFETY: obligation 1: firmware handles the call; SMCCC preserves
    // x4-x17 and clobbers at most x0-x3.
    unsafe {
        match conduit {
            Conduit::Hvc => {
                asm!("hvc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _, options(nostack))
            }
            Conduit::Smc => {
                asm!("smc #0", inout("x0") x0, inout("x1") a1 => _, inout("x2") a2 => _, inout("x3") a3 => _, options(nostack))
            }
        }
    }
    x0 as i64
}

/// PSCI_VERSION: `(major << 16) | minor`, or a negative PSCI error.
///
/// Safe where [`call`] is not: PSCI_VERSION has no effect, and if nothing
/// answers the conduit, HVC and SMC are undefined instructions at EL1 (Arm
/// ARM D1.4 and C6.2: UNDEFINED when EL2 or EL3 is absent or disables them),
/// which trap to the kernel's exception handler: an oops, not a memory error.
pub fn version(conduit: Conduit) -> i64 {
    // SAFETY: obligation 1 is unnecessary for this function (see above);
    // obligation 2: PSCI_VERSION changes nothing.
    unsafe { call(conduit, PSCI_VERSION, 0, 0, 0) }
}
