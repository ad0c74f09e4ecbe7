//! GICv3 (Arm IHI 0069): a memory-mapped distributor for SPIs, one
//! redistributor per CPU for its SGIs and PPIs (two 64 KiB frames: RD_base
//! for control, SGI_base for the SGI/PPI registers at the distributor's
//! offsets), and the CPU interface as system registers (ICC_*_EL1).
//!
//! A CPU finds its redistributor by walking the regions the tree gives,
//! frame pair by frame pair (plus the VLPI frames when GICR_TYPER.VLPIS
//! says so, or `redistributor-stride`), until GICR_TYPER's affinity is its
//! MPIDR's; GICR_TYPER.Last ends a region. It then wakes it: clear
//! GICR_WAKER.ProcessorSleep and wait, bounded, for ChildrenAsleep to
//! clear (Linux's gic_enable_redist). Distributor and redistributor
//! writes that change enables or groups are waited out through the RWP
//! bits (GICD_CTLR bit 31, GICR_CTLR bit 3), also bounded.
//!
//! SGIs go through ICC_SGI1R_EL1, one write per target CPU naming its
//! affinity (Aff3.Aff2.Aff1 and a one-bit target list for Aff0, with the
//! range selector for Aff0 above 15).

use super::common::{DEFAULT_PMR, GicError, Iar, Mmio, cpu_config, dist_config_spis, gicd, nr_irqs};
use crate::percpu::NR_CPUS;
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

/// Most redistributor regions a [`GicV3`] takes.
pub const MAX_REGIONS: usize = 4;

/// GICD_CTLR: affinity routing (non-secure), group 1 enables.
const GICD_CTLR_ARE_NS: u32 = 1 << 4;
const GICD_CTLR_ENABLE_G1A: u32 = 1 << 1;
const GICD_CTLR_ENABLE_G1: u32 = 1 << 0;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// Peripheral ID2: ArchRev in bits 7:4 (both the GICD and each GICR frame).
const PIDR2: u64 = 0xffe8;

/// Redistributor RD_base frame.
mod gicr {
    pub const CTLR: u64 = 0x0000;
    pub const TYPER: u64 = 0x0008;
    pub const WAKER: u64 = 0x0014;
    pub const CTLR_RWP: u32 = 1 << 3;
    pub const WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
    pub const WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
    pub const TYPER_VLPIS: u64 = 1 << 1;
    pub const TYPER_LAST: u64 = 1 << 4;
    /// One 64 KiB frame.
    pub const FRAME: u64 = 0x1_0000;
}

/// How long a wait on RWP or the waker may take (Linux waits 1 s for each).
const WAIT_US: u64 = 1_000_000;

/// Wait until `done`, at most about [`WAIT_US`] (a bounded spin if the
/// counter frequency is unknown); whether it happened.
fn wait_until(done: impl Fn() -> bool) -> bool {
    let f = crate::timer::frequency_hz();
    let limit = if f == 0 { 10_000_000 } else { (WAIT_US as u128 * f as u128 / 1_000_000) as u64 };
    let t0 = crate::timer::counter();
    let mut n = 0u64;
    while !done() {
        n += 1;
        let elapsed = if f == 0 { n } else { crate::timer::counter().wrapping_sub(t0) };
        if elapsed > limit {
            return done();
        }
        core::hint::spin_loop();
    }
    true
}

/// Unset slot in the per-CPU tables.
const NONE: u64 = u64::MAX;

/// A GICv3.
pub struct GicV3 {
    dist: Mmio,
    regions: [Option<Mmio>; MAX_REGIONS],
    stride: Option<u64>,
    nr: u32,
    /// Each logical CPU's redistributor: region index << 48 | offset, or NONE.
    rd: [AtomicU64; NR_CPUS],
    /// Each logical CPU's MPIDR affinity (Aff3..Aff0), or NONE.
    aff: [AtomicU64; NR_CPUS],
}

/// The ICC registers by encoding (the assembler need not know their names).
macro_rules! icc_write {
    ($enc:literal, $v:expr) => {
        // SAFETY: the caller is the GICv3 driver programming its own CPU
        // interface; these writes have no memory-safety effect.
        unsafe { asm!(concat!("msr ", $enc, ", {}"), in(reg) $v as u64, options(nostack, preserves_flags)) }
    };
}
macro_rules! icc_read {
    ($enc:literal) => {{
        let v: u64;
        // SAFETY: as for icc_write (an IAR read acknowledges, which is its purpose).
        unsafe { asm!(concat!("mrs {}, ", $enc), out(reg) v, options(nostack, preserves_flags)) };
        v
    }};
}

fn isb() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}

impl GicV3 {
    /// A GICv3 with its distributor window and redistributor regions
    /// (at most [`MAX_REGIONS`]; later ones are ignored) and the tree's
    /// `redistributor-stride`, if any.
    pub fn new(dist: Mmio, regions: &[Mmio], stride: Option<u64>) -> Result<Self, GicError> {
        if dist.size() < 0x1_0000 || regions.is_empty() {
            return Err(GicError::WindowTooSmall);
        }
        let rev = (dist.read32(PIDR2) >> 4) & 0xf;
        if rev != 3 && rev != 4 {
            return Err(GicError::WrongVersion(rev));
        }
        let mut r = [None; MAX_REGIONS];
        for (slot, m) in r.iter_mut().zip(regions) {
            *slot = Some(*m);
        }
        let nr = nr_irqs(&dist);
        Ok(Self {
            dist,
            regions: r,
            stride,
            nr,
            rd: [const { AtomicU64::new(NONE) }; NR_CPUS],
            aff: [const { AtomicU64::new(NONE) }; NR_CPUS],
        })
    }

    pub(super) fn nr_irqs(&self) -> u32 {
        self.nr
    }

    fn wait_dist_rwp(&self) -> bool {
        wait_until(|| self.dist.read32(gicd::CTLR) & GICD_CTLR_RWP == 0)
    }

    pub(super) fn dist_init(&self) -> Result<(), GicError> {
        self.dist.write32(gicd::CTLR, 0);
        self.wait_dist_rwp();
        for i in (super::common::FIRST_SPI..self.nr).step_by(32) {
            self.dist.write32(gicd::IGROUPR + (i / 8) as u64, !0);
        }
        dist_config_spis(&self.dist, self.nr);
        self.wait_dist_rwp();
        self.dist.write32(gicd::CTLR, GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A | GICD_CTLR_ENABLE_G1);
        self.wait_dist_rwp();
        // Every SPI to the boot CPU (IRM = 0: this one affinity).
        let route = crate::cpu::mpidr();
        for i in super::common::FIRST_SPI..self.nr {
            self.dist.write64(gicd::IROUTER + 8 * i as u64, route);
        }
        Ok(())
    }

    /// The redistributor whose GICR_TYPER affinity is `aff` (Aff3.Aff2.Aff1.Aff0).
    fn find_rd(&self, aff: u32) -> Option<(usize, u64)> {
        for (idx, region) in self.regions.iter().enumerate() {
            let Some(region) = region else { continue };
            let mut off = 0u64;
            while off.checked_add(2 * gicr::FRAME).is_some_and(|end| end <= region.size()) {
                let rev = (region.read32(off + PIDR2) >> 4) & 0xf;
                if rev != 3 && rev != 4 {
                    break; // no redistributor here: the region ends
                }
                let typer = region.read64(off + gicr::TYPER);
                if (typer >> 32) as u32 == aff {
                    return Some((idx, off));
                }
                if typer & gicr::TYPER_LAST != 0 {
                    break;
                }
                let step = self.stride.unwrap_or(if typer & gicr::TYPER_VLPIS != 0 { 4 } else { 2 } * gicr::FRAME);
                off = match off.checked_add(step) {
                    Some(o) => o,
                    None => break,
                };
            }
        }
        None
    }

    /// Logical CPU `cpu`'s RD_base and SGI_base frames.
    fn frames(&self, cpu: usize) -> Option<(Mmio, Mmio)> {
        let v = self.rd.get(cpu)?.load(Ordering::Acquire);
        if v == NONE {
            return None;
        }
        let region = self.regions.get((v >> 48) as usize)?.as_ref()?;
        let off = v & ((1 << 48) - 1);
        Some((region.sub(off, gicr::FRAME)?, region.sub(off + gicr::FRAME, gicr::FRAME)?))
    }

    fn this_cpu_frames(&self) -> Option<(Mmio, Mmio)> {
        self.frames(crate::percpu::smp_processor_id())
    }

    pub(super) fn cpu_init(&self, cpu: usize) -> Result<(), GicError> {
        let mpidr = crate::cpu::mpidr();
        let aff = ((((mpidr >> 32) & 0xff) << 24) | (mpidr & 0xff_ffff)) as u32;
        let (idx, off) = self.find_rd(aff).ok_or(GicError::NoRedistributor(mpidr))?;
        self.rd[cpu].store(((idx as u64) << 48) | off, Ordering::Release);
        let (rd, sgi) = self.frames(cpu).ok_or(GicError::WindowTooSmall)?;
        // Wake the redistributor.
        let w = rd.read32(gicr::WAKER);
        rd.write32(gicr::WAKER, w & !gicr::WAKER_PROCESSOR_SLEEP);
        if !wait_until(|| rd.read32(gicr::WAKER) & gicr::WAKER_CHILDREN_ASLEEP == 0) {
            return Err(GicError::RedistributorAsleep);
        }
        // SGIs and PPIs: group 1, reset, SGIs on.
        sgi.write32(gicd::IGROUPR, !0);
        cpu_config(&sgi);
        wait_until(|| rd.read32(gicr::CTLR) & gicr::CTLR_RWP == 0);
        // The CPU interface through system registers.
        let sre = icc_read!("s3_0_c12_c12_5"); // ICC_SRE_EL1
        if sre & 1 == 0 {
            icc_write!("s3_0_c12_c12_5", sre | 1);
            isb();
            if icc_read!("s3_0_c12_c12_5") & 1 == 0 {
                return Err(GicError::NoSysregInterface);
            }
        }
        icc_write!("s3_0_c4_c6_0", DEFAULT_PMR); // ICC_PMR_EL1
        icc_write!("s3_0_c12_c12_3", 0u64); // ICC_BPR1_EL1: no preemption groups to speak of
        icc_write!("s3_0_c12_c12_4", 0u64); // ICC_CTLR_EL1: EOImode 0 (EOI drops and deactivates)
        icc_write!("s3_0_c12_c12_7", 1u64); // ICC_IGRPEN1_EL1: take group 1
        isb();
        self.aff[cpu].store(mpidr, Ordering::Release);
        Ok(())
    }

    /// The registers for `intid`: the caller's SGI frame below 32, else the distributor.
    pub(super) fn regs_for(&self, intid: u32) -> Option<(Mmio, bool)> {
        if intid < super::common::FIRST_SPI {
            self.this_cpu_frames().map(|(_, sgi)| (sgi, true))
        } else if intid < self.nr {
            Some((self.dist, false))
        } else {
            None
        }
    }

    pub(super) fn enable(&self, intid: u32, priority: u8) {
        let Some((regs, _)) = self.regs_for(intid) else { return };
        regs.write8(gicd::IPRIORITYR + intid as u64, priority);
        regs.write32(gicd::ISENABLER + (intid / 32) as u64 * 4, 1 << (intid % 32));
    }

    pub(super) fn disable(&self, intid: u32) {
        let Some((regs, banked)) = self.regs_for(intid) else { return };
        regs.write32(gicd::ICENABLER + (intid / 32) as u64 * 4, 1 << (intid % 32));
        if banked {
            if let Some((rd, _)) = self.this_cpu_frames() {
                wait_until(|| rd.read32(gicr::CTLR) & gicr::CTLR_RWP == 0);
            }
        } else {
            self.wait_dist_rwp();
        }
    }

    pub(super) fn send_sgi(&self, sgi: u32, cpus: u64) {
        // Normal-memory stores before the SGI reach the targets first.
        // SAFETY: a barrier has no memory-safety effect.
        unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
        for c in (0..NR_CPUS).filter(|&c| cpus & (1 << c) != 0) {
            let m = self.aff[c].load(Ordering::Acquire);
            if m == NONE {
                continue;
            }
            let (aff0, aff1, aff2, aff3) = (m & 0xff, (m >> 8) & 0xff, (m >> 16) & 0xff, (m >> 32) & 0xff);
            let v = (aff3 << 48)
                | ((aff0 >> 4) << 44) // RS: which 16 of Aff0
                | (aff2 << 32)
                | ((sgi as u64) << 24)
                | (aff1 << 16)
                | (1 << (aff0 & 0xf));
            icc_write!("s3_0_c12_c11_5", v); // ICC_SGI1R_EL1
        }
        isb();
    }
}

/// Acknowledge (ICC_IAR1_EL1); the `dsb` orders what the handler reads
/// after it (Linux's gic_read_iar).
pub(super) fn ack() -> Iar {
    let raw = icc_read!("s3_0_c12_c12_0") as u32;
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) };
    Iar { raw, intid: raw & 0x00ff_ffff }
}

/// End of interrupt (ICC_EOIR1_EL1), synchronised before the handler returns.
pub(super) fn eoi(iar: Iar) {
    icc_write!("s3_0_c12_c12_1", iar.raw);
    isb();
}
