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

/// SCTLR_EL1 bits that let EL0 do what Linux lets it do.
mod sctlr {
    /// DC ZVA at EL0.
    pub const DZE: u64 = 1 << 14;
    /// CTR_EL0 readable at EL0.
    pub const UCT: u64 = 1 << 15;
    /// WFE at EL0 not trapped.
    pub const NTWE: u64 = 1 << 18;
    /// PSTATE.PAN left unchanged on exception entry to EL1 (cleared: set).
    pub const SPAN: u64 = 1 << 23;
    /// Cache maintenance to the PoU (DC CVAU, DC CIVAC, DC CVAC, IC IVAU) at EL0.
    pub const UCI: u64 = 1 << 26;
}

/// CNTKCTL_EL1.EL0VCTEN: CNTVCT_EL0 (and CNTFRQ_EL0) readable at EL0.
const CNTKCTL_EL0VCTEN: u64 = 1 << 1;

/// What [`setup_el0_access`] found and enabled on this CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct El0Features {
    /// The CPU implements PAN (FEAT_PAN, ID_AA64MMFR1_EL1.PAN != 0) and it
    /// is now on: privileged loads and stores to EL0-accessible pages fault,
    /// and every exception entry to EL1 sets PSTATE.PAN again.
    pub pan: bool,
}

/// Whether the CPU implements PAN (ID_AA64MMFR1_EL1 bits 23:20).
pub fn has_pan() -> bool {
    let mmfr1: u64;
    // SAFETY: reading an ID register has no side effect.
    unsafe { asm!("mrs {}, id_aa64mmfr1_el1", out(reg) mmfr1, options(nomem, nostack, preserves_flags)) };
    (mmfr1 >> 20) & 0xf != 0
}

/// Configure this CPU for running user tasks, as Linux's boot and
/// cpufeature code leaves every CPU: EL0 may use DC ZVA, read CTR_EL0, do
/// the cache maintenance a JIT needs and read the virtual counter; WFE at
/// EL0 does not trap (WFI does: Linux leaves nTWI clear). Where the CPU has
/// PAN it is turned on, with SPAN cleared so that every exception entry to
/// EL1 sets it again (Linux's cpu_enable_pan); the kernel then reaches user
/// memory only with unprivileged loads and stores (`crate::uaccess`).
/// Call once per CPU, before its first user task.
pub fn setup_el0_access() -> El0Features {
    let pan = has_pan();
    let mut sctlr: u64;
    // SAFETY: reading SCTLR_EL1 has no side effect.
    unsafe { asm!("mrs {}, sctlr_el1", out(reg) sctlr, options(nomem, nostack, preserves_flags)) };
    sctlr |= sctlr::DZE | sctlr::UCT | sctlr::NTWE | sctlr::UCI;
    if pan {
        sctlr &= !sctlr::SPAN;
    }
    // SAFETY: the bits changed only widen what EL0 may do (no task runs at
    // EL0 on this CPU yet) and, with PAN, make exception entry set PAN; the
    // MMU, cache and alignment bits are written back as they were. The isb
    // makes the new value take effect before what follows.
    unsafe { asm!("msr sctlr_el1, {}", "isb", in(reg) sctlr, options(nostack, preserves_flags)) };
    let mut cntkctl: u64;
    // SAFETY: reading CNTKCTL_EL1 has no side effect.
    unsafe { asm!("mrs {}, cntkctl_el1", out(reg) cntkctl, options(nomem, nostack, preserves_flags)) };
    // Linux's arch_timer: the virtual counter only, no EL0 timers and no
    // physical counter (EL0PCTEN bit 0, EL0VTEN 8, EL0PTEN 9 clear); the
    // event stream bits are the timer code's and stay as they are.
    cntkctl = (cntkctl & !((1 << 0) | (1 << 8) | (1 << 9))) | CNTKCTL_EL0VCTEN;
    // SAFETY: CNTKCTL_EL1 controls EL0's access to the timer registers
    // only; the kernel's own timer use is unaffected.
    unsafe { asm!("msr cntkctl_el1, {}", "isb", in(reg) cntkctl, options(nostack, preserves_flags)) };
    if pan {
        // SAFETY: PSTATE.PAN = 1 (MSR PAN, #1; encoded, the assembler's
        // baseline is Armv8.0). The kernel touches EL0 pages only through
        // unprivileged accesses, which PAN does not affect.
        unsafe { asm!(".inst 0xd500419f", options(nomem, nostack, preserves_flags)) };
    }
    El0Features { pan }
}

/// PSTATE.PAN now (0 when the CPU has no PAN).
pub fn pan_enabled() -> bool {
    if !has_pan() {
        return false;
    }
    let v: u64;
    // SAFETY: MRS x, PAN (encoded: s3_0_c4_c2_3) reads PSTATE.PAN; only on
    // CPUs that implement it (checked above).
    unsafe { asm!("mrs {}, s3_0_c4_c2_3", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v & (1 << 22) != 0
}

/// AT_HWCAP for user programs (Linux's arch/arm64/include/uapi/asm/hwcap.h
/// bits, from the ID registers): FP, ASIMD, AES, PMULL, SHA1, SHA2, CRC32,
/// ATOMICS.
pub fn elf_hwcap() -> u64 {
    let (pfr0, isar0): (u64, u64);
    // SAFETY: reading ID registers has no side effect.
    unsafe {
        asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack, preserves_flags));
        asm!("mrs {}, id_aa64isar0_el1", out(reg) isar0, options(nomem, nostack, preserves_flags));
    }
    let field = |r: u64, shift: u32| (r >> shift) & 0xf;
    let mut hw = 0;
    // FP and AdvSIMD: 0xf means not implemented.
    if field(pfr0, 16) != 0xf {
        hw |= 1 << 0;
    }
    if field(pfr0, 20) != 0xf {
        hw |= 1 << 1;
    }
    let aes = field(isar0, 4);
    if aes >= 1 {
        hw |= 1 << 3;
    }
    if aes >= 2 {
        hw |= 1 << 4;
    }
    if field(isar0, 8) >= 1 {
        hw |= 1 << 5;
    }
    if field(isar0, 12) >= 1 {
        hw |= 1 << 6;
    }
    if field(isar0, 16) >= 1 {
        hw |= 1 << 7;
    }
    if field(isar0, 20) >= 2 {
        hw |= 1 << 8;
    }
    hw
}
