//! The PMU's cycle counter and one event counter counting INST_RETIRED
//! (Arm ARM D12). Under `qemu -icount shift=0` both count guest
//! instructions exactly; otherwise QEMU's cycle counter follows host time.

use core::arch::asm;

/// Event number of INST_RETIRED (architectural).
const INST_RETIRED: u64 = 0x08;

/// Whether the CPU implements a PMU (ID_AA64DFR0_EL1.PMUVer).
pub fn present() -> bool {
    let dfr0: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe { asm!("mrs {}, id_aa64dfr0_el1", out(reg) dfr0, options(nomem, nostack, preserves_flags)) };
    let ver = (dfr0 >> 8) & 0xf;
    ver != 0 && ver != 0xf
}

/// Start the cycle counter and counter 0 on INST_RETIRED, counting at EL1.
/// Returns false if there is no PMU.
pub fn enable() -> bool {
    if !present() {
        return false;
    }
    // SAFETY: PMU configuration registers; the head let EL1 use all counters
    // (MDCR_EL2.HPMN) when it came from EL2. Field by field:
    //   PMEVTYPER0_EL0 = INST_RETIRED, filters 0: count EL1 and EL0;
    //   PMCCFILTR_EL0  = 0: the cycle counter counts EL1 and EL0;
    //   PMCNTENSET_EL0 = C (bit 31) | P0 (bit 0);
    //   PMCR_EL0       = E (enable) | P (reset event counters) | C (reset cycles) | LC (64-bit cycles).
    unsafe {
        asm!(
            "msr pmevtyper0_el0, {ev}",
            "msr pmccfiltr_el0, xzr",
            "msr pmcntenset_el0, {en}",
            "msr pmcr_el0, {cr}",
            "isb",
            ev = in(reg) INST_RETIRED,
            en = in(reg) (1u64 << 31) | 1,
            cr = in(reg) (1u64 << 0) | (1 << 1) | (1 << 2) | (1 << 6),
            options(nostack, preserves_flags)
        )
    };
    true
}

/// (cycles, instructions retired) now.
#[inline(always)]
pub fn read() -> (u64, u64) {
    let (c, i): (u64, u64);
    // SAFETY: reading PMU counters has no side effect; the isb keeps the
    // reads from moving across the measured code.
    unsafe {
        asm!(
            "isb",
            "mrs {c}, pmccntr_el0",
            "mrs {i}, pmevcntr0_el0",
            c = out(reg) c,
            i = out(reg) i,
            options(nomem, nostack, preserves_flags)
        )
    };
    (c, i)
}
