//! MMU configuration: MAIR_EL1, TCR_EL1, TTBRs, and address translation.

use aarch64_cpu::registers::{ID_AA64MMFR0_EL1, MAIR_EL1, PAR_EL1, TCR_EL1, TTBR0_EL1, TTBR1_EL1};
use core::arch::asm;
use mm::asid::Asid;
use mm::{PhysAddr, VirtAddr};
use tock_registers::interfaces::{ReadWriteable, Readable, Writeable};

/// Virtual address bits in both halves (T0SZ = T1SZ = 64 - 48).
pub const VA_BITS: u32 = 48;

/// MAIR_EL1: one attribute byte per `pte::MT_*` slot.
///   0 Normal WB RA WA, 1 Normal WB (tagged slot, no MTE), 2 Normal NC,
///   3 Device-nGnRnE, 4 Device-nGnRE.
pub const MAIR_VALUE: u64 =
    mair_attr(0, 0xff) | mair_attr(1, 0xff) | mair_attr(2, 0x44) | mair_attr(3, 0x00) | mair_attr(4, 0x04);

const fn mair_attr(slot: u64, attr: u64) -> u64 {
    attr << (8 * slot)
}

/// TCR_EL1 for 48-bit VAs and the 4 KiB granule in both halves, table walks
/// inner/outer write-back write-allocate and inner shareable, and the
/// intermediate physical address size the CPU reports (capped at 48 bits).
pub fn tcr_value() -> u64 {
    let parange = ID_AA64MMFR0_EL1.get() & 0xf;
    let ips = parange.min(0b101); // 0b101 = 48 bits
    let txsz = (64 - VA_BITS) as u64;
    const WBWA: u64 = 0b01;
    const INNER_SHAREABLE: u64 = 0b11;
    const TG0_4K: u64 = 0b00;
    const TG1_4K: u64 = 0b10;
    let fields: [(u64, u32); 11] = [
        (txsz, 0),             // T0SZ
        (WBWA, 8),             // IRGN0
        (WBWA, 10),            // ORGN0
        (INNER_SHAREABLE, 12), // SH0
        (TG0_4K, 14),          // TG0
        (txsz, 16),            // T1SZ
        (WBWA, 24),            // IRGN1
        (WBWA, 26),            // ORGN1
        (INNER_SHAREABLE, 28), // SH1
        (TG1_4K, 30),          // TG1
        (ips, 32),             // IPS
    ];
    fields.iter().fold(0, |tcr, &(v, shift)| tcr | (v << shift))
}

/// Physical address bits the CPU implements (ID_AA64MMFR0_EL1.PARange).
pub fn pa_bits() -> u32 {
    match ID_AA64MMFR0_EL1.get() & 0xf {
        0 => 32,
        1 => 36,
        2 => 40,
        3 => 42,
        4 => 44,
        5 => 48,
        _ => 52,
    }
}

/// Program MAIR, TCR and both TTBRs, then invalidate this CPU's TLB.
///
/// # Safety
/// 1. The MMU of this CPU is off (SCTLR_EL1.M == 0).
/// 2. `ttbr0` and `ttbr1` are the physical addresses of valid L0 tables.
pub unsafe fn configure(ttbr0: PhysAddr, ttbr1: PhysAddr) {
    MAIR_EL1.set(MAIR_VALUE);
    TCR_EL1.set(tcr_value());
    TTBR0_EL1.set(ttbr0.as_u64());
    TTBR1_EL1.set(ttbr1.as_u64());
    // The register writes must take effect before the TLB maintenance and
    // before the MMU is switched on.
    // SAFETY: barriers and TLB invalidation have no memory-safety effect.
    unsafe { asm!("isb", "tlbi vmalle1", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}

/// The L0 table currently in TTBR1_EL1.
pub fn ttbr1() -> PhysAddr {
    PhysAddr(TTBR1_EL1.get() & 0x0000_ffff_ffff_fffe)
}

/// The L0 table currently in TTBR0_EL1.
pub fn ttbr0() -> PhysAddr {
    PhysAddr(TTBR0_EL1.get() & 0x0000_ffff_ffff_fffe)
}

/// The result of a failed hardware walk: PAR_EL1 with F = 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TranslationFault {
    /// PAR_EL1.FST: the fault status code (same encoding as a DFSC).
    pub fst: u8,
    /// Stage of the fault (PAR_EL1.S).
    pub stage2: bool,
}

/// Ask the hardware to translate `va` as an EL1 read (AT S1E1R).
pub fn at_s1e1r(va: VirtAddr) -> Result<PhysAddr, TranslationFault> {
    // SAFETY: AT only writes PAR_EL1; the isb orders it before the read below.
    unsafe { asm!("at s1e1r, {va}", "isb", va = in(reg) va.as_u64(), options(nostack, preserves_flags)) };
    decode_par(PAR_EL1.get(), va)
}

/// Ask the hardware to translate `va` as an EL1 write (AT S1E1W).
pub fn at_s1e1w(va: VirtAddr) -> Result<PhysAddr, TranslationFault> {
    // SAFETY: as in `at_s1e1r`.
    unsafe { asm!("at s1e1w, {va}", "isb", va = in(reg) va.as_u64(), options(nostack, preserves_flags)) };
    decode_par(PAR_EL1.get(), va)
}

fn decode_par(par: u64, va: VirtAddr) -> Result<PhysAddr, TranslationFault> {
    if par & 1 != 0 {
        Err(TranslationFault { fst: ((par >> 1) & 0x3f) as u8, stage2: par & (1 << 9) != 0 })
    } else {
        Ok(PhysAddr((par & 0x0000_ffff_ffff_f000) | (va.as_u64() & 0xfff)))
    }
}

/// Point TTBR0_EL1 at `table` (for example the empty reserved table, which
/// retires the identity map) and drop this CPU's stale TTBR0 translations.
///
/// # Safety
/// 1. `table` is a valid L0 table (or an all-zero page).
/// 2. Nothing running needs translations through the old TTBR0 any more.
pub unsafe fn set_ttbr0(table: PhysAddr) {
    TTBR0_EL1.set(table.as_u64());
    // SAFETY: obligations 1 and 2; barriers order the write, the invalidate
    // and subsequent instruction fetches.
    unsafe { asm!("isb", "tlbi vmalle1", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}

// ---------------------------------------------------------------------------
// User address spaces: TTBR0 with an ASID (Linux's cpu_switch_mm,
// cpu_set_reserved_ttbr0, arch/arm64/include/asm/mmu_context.h).
//
// TCR_EL1 as `tcr_value` programs it already suits user translation: T0SZ
// = 16 (a 48-bit user half), EPD0 = 0 (walks through TTBR0 allowed), TG0 =
// 4 KiB, IRGN0/ORGN0/SH0 as for TTBR1, and A1 = 0, so the ASID comes from
// TTBR0_EL1[63:48]. The one field left is AS (16-bit ASIDs), set per CPU
// by `cpu_enable_16bit_asids`.
// ---------------------------------------------------------------------------

/// Where the ASID sits in TTBR0_EL1 (and in a TLBI operand).
pub const TTBR_ASID_SHIFT: u32 = 48;
/// TTBR0_EL1.BADDR for a 4 KiB-aligned L0 table with 48-bit PAs.
const TTBR_BADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// The ASID width the CPU implements (ID_AA64MMFR0_EL1.ASIDBits: 0b0000 is
/// 8 bits, 0b0010 16; other encodings are reserved and read as 8).
pub fn asid_bits_supported() -> u32 {
    match ID_AA64MMFR0_EL1.read_as_enum(ID_AA64MMFR0_EL1::ASIDBits) {
        Some(ID_AA64MMFR0_EL1::ASIDBits::Value::Bits_16) => 16,
        _ => 8,
    }
}

/// Whether this CPU's TCR_EL1.AS selects 16-bit ASIDs.
pub fn asid16_enabled() -> bool {
    TCR_EL1.matches_all(TCR_EL1::AS::ASID16Bits)
}

/// Make this CPU match TLB entries on all 16 bits of the ASID (TCR_EL1.AS
/// = 1; Linux sets it in __cpu_setup when ID_AA64MMFR0_EL1.ASIDBits says
/// 16). Does nothing on a CPU with 8-bit ASIDs (the field is RES0 there).
///
/// TCR_EL1 fields may be held in TLB entries (Arm ARM D8.13, "TLB
/// maintenance requirements"), so the change is followed by a local
/// invalidation of every entry; the kernel's own entries are global and
/// are refilled from TTBR1, which the change does not touch.
///
/// # Safety
/// 1. TTBR0_EL1 holds ASID 0 and a table nothing running needs (the
///    empty reserved table): the ASID field's meaning changes here.
pub unsafe fn cpu_enable_16bit_asids() {
    if asid_bits_supported() != 16 || asid16_enabled() {
        return;
    }
    TCR_EL1.modify(TCR_EL1::AS::ASID16Bits);
    // The TCR write must take effect before the invalidation, and the
    // invalidation complete before the next instruction (and walk).
    // SAFETY: obligation 1: no live translation depends on the TTBR0 ASID;
    // barriers and a local TLB invalidation have no memory-safety effect.
    unsafe { asm!("isb", "tlbi vmalle1", "dsb nsh", "isb", options(nostack, preserves_flags)) };
}

/// The value of TTBR0_EL1 for the table at `root` tagged `asid`.
pub fn ttbr0_value(root: PhysAddr, asid: Asid) -> u64 {
    (root.as_u64() & TTBR_BADDR_MASK) | (u64::from(asid.0) << TTBR_ASID_SHIFT)
}

/// Point TTBR0_EL1 at the user table `root` with `asid` in one register
/// write (Linux's cpu_do_switch_mm with TCR_EL1.A1 = 0), then `isb` so
/// that the next instruction translates through it. No TLB maintenance:
/// the ASID keeps other address spaces' entries apart.
///
/// # Safety
/// 1. `root` is the physical address of a valid L0 table that stays a
///    valid table while this CPU runs with it.
/// 2. This CPU's TLB holds no entry tagged `asid` from any other table
///    (the ASID allocator's rule: flush when it says so).
/// 3. Nothing running needs the translations of the old TTBR0.
pub unsafe fn set_ttbr0_asid(root: PhysAddr, asid: Asid) {
    TTBR0_EL1.set(ttbr0_value(root, asid));
    // SAFETY: obligations 1-3; an isb has no memory-safety effect.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}

/// Point TTBR0_EL1 at the empty reserved table with ASID 0 (Linux's
/// cpu_set_reserved_ttbr0), for kernel threads and for the moment of a
/// switch: no walk through TTBR0 finds anything, so nothing is cached.
///
/// # Safety
/// 1. `reserved_pg_dir` is the physical address of an all-zero, page-
///    aligned table that is never written.
/// 2. Nothing running needs the translations of the old TTBR0.
pub unsafe fn cpu_set_reserved_ttbr0(reserved_pg_dir: PhysAddr) {
    TTBR0_EL1.set(ttbr0_value(reserved_pg_dir, Asid(0)));
    // SAFETY: obligations 1 and 2; an isb has no memory-safety effect.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}

/// The ASID in TTBR0_EL1 now (all 16 bits as written; with TCR_EL1.AS = 0
/// the hardware matches only the low 8).
pub fn ttbr0_asid() -> Asid {
    Asid((TTBR0_EL1.get() >> TTBR_ASID_SHIFT) as u16)
}

/// Ask the hardware to translate `va` as an EL0 read (AT S1E0R): what a
/// user load would reach, with user permissions.
pub fn at_s1e0r(va: VirtAddr) -> Result<PhysAddr, TranslationFault> {
    // SAFETY: as in `at_s1e1r`.
    unsafe { asm!("at s1e0r, {va}", "isb", va = in(reg) va.as_u64(), options(nostack, preserves_flags)) };
    decode_par(PAR_EL1.get(), va)
}
