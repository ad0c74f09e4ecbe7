//! GICv2 (Arm IHI 0048B): distributor and CPU interface, both memory-mapped.
//!
//! The distributor's first 32 INTIDs are banked per CPU: the same
//! addresses reach the calling CPU's SGIs and PPIs. SGIs are sent through
//! GICD_SGIR with a CPU target list of interface numbers, which need not
//! equal logical CPU numbers: each CPU learns its own from the banked
//! GICD_ITARGETSR0..7 in [`GicV2::cpu_init`] (Linux's gic_get_cpumask).

use super::common::{DEFAULT_PMR, GicError, Iar, Mmio, cpu_config, dist_config_spis, gicd, nr_irqs};
use crate::percpu::NR_CPUS;
use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

/// CPU interface registers (GICv2 4.4).
mod gicc {
    pub const CTLR: u64 = 0x00;
    pub const PMR: u64 = 0x04;
    pub const IAR: u64 = 0x0c;
    pub const EOIR: u64 = 0x10;
    /// The bytes the driver touches.
    pub const SIZE: u64 = 0x100;
    /// GICC_CTLR.EnableGrp0 (or, non-secure view, EnableGrp1).
    pub const ENABLE: u32 = 1 << 0;
    /// GICC_CTLR's FIQ/IRQ bypass-disable bits, kept as firmware set them.
    pub const DIS_BYPASS_MASK: u32 = 0x1e0;
}

/// GICD_CTLR.EnableGrp0 (or, non-secure view, EnableGrp1).
const GICD_ENABLE: u32 = 1 << 0;
/// GICD_SGIR.TargetListFilter = 0b10: only the CPU that writes.
const SGIR_TO_SELF: u32 = 0b10 << 24;

/// A GICv2.
pub struct GicV2 {
    dist: Mmio,
    cpu: Mmio,
    nr: u32,
    /// Each logical CPU's interface mask (one bit, from GICD_ITARGETSR),
    /// 0 until its [`GicV2::cpu_init`].
    targets: [AtomicU8; NR_CPUS],
}

impl GicV2 {
    /// A GICv2 with its distributor and CPU interface windows.
    pub fn new(dist: Mmio, cpu: Mmio) -> Result<Self, GicError> {
        if dist.size() < gicd::V2_SIZE || cpu.size() < gicc::SIZE {
            return Err(GicError::WindowTooSmall);
        }
        let nr = nr_irqs(&dist);
        Ok(Self { dist, cpu, nr, targets: [const { AtomicU8::new(0) }; NR_CPUS] })
    }

    pub(super) fn nr_irqs(&self) -> u32 {
        self.nr
    }

    /// The calling CPU's interface mask: the first nonzero byte of the
    /// banked ITARGETSR0..7 (0 on a uniprocessor GIC, where they read as zero).
    fn cpu_mask(&self) -> u8 {
        for i in 0..8 {
            let mut m = self.dist.read32(gicd::ITARGETSR + 4 * i);
            if m != 0 {
                m |= m >> 16;
                m |= m >> 8;
                return m as u8;
            }
        }
        0
    }

    pub(super) fn dist_init(&self) -> Result<(), GicError> {
        self.dist.write32(gicd::CTLR, 0);
        // Every SPI to the boot CPU (all of them, if the GIC has no mask).
        let mask = match self.cpu_mask() {
            0 => 0x01,
            m => m,
        };
        let word = u32::from_ne_bytes([mask; 4]);
        for i in (super::common::FIRST_SPI..self.nr).step_by(4) {
            self.dist.write32(gicd::ITARGETSR + i as u64, word);
        }
        dist_config_spis(&self.dist, self.nr);
        self.dist.write32(gicd::CTLR, GICD_ENABLE);
        Ok(())
    }

    pub(super) fn cpu_init(&self, cpu: usize) -> Result<(), GicError> {
        self.targets[cpu].store(self.cpu_mask(), Ordering::Release);
        cpu_config(&self.dist);
        self.cpu.write32(gicc::PMR, DEFAULT_PMR as u32);
        let bypass = self.cpu.read32(gicc::CTLR) & gicc::DIS_BYPASS_MASK;
        self.cpu.write32(gicc::CTLR, bypass | gicc::ENABLE);
        Ok(())
    }

    /// The distributor, if it implements `intid`.
    pub(super) fn regs_for(&self, intid: u32) -> Option<Mmio> {
        (intid < self.nr).then_some(self.dist)
    }

    pub(super) fn enable(&self, intid: u32, priority: u8) {
        if intid >= self.nr {
            return;
        }
        self.dist.write8(gicd::IPRIORITYR + intid as u64, priority);
        self.dist.write32(gicd::ISENABLER + (intid / 32) as u64 * 4, 1 << (intid % 32));
    }

    pub(super) fn disable(&self, intid: u32) {
        if intid >= self.nr {
            return;
        }
        self.dist.write32(gicd::ICENABLER + (intid / 32) as u64 * 4, 1 << (intid % 32));
    }

    pub(super) fn ack(&self) -> Iar {
        let raw = self.cpu.read32(gicc::IAR);
        // Reads of data the sender of an SGI wrote come after the
        // acknowledge (pairs with the dsb in send_sgi).
        // SAFETY: a barrier has no memory-safety effect.
        unsafe { asm!("dmb ish", options(nostack, preserves_flags)) };
        Iar { raw, intid: raw & 0x3ff }
    }

    pub(super) fn eoi(&self, iar: Iar) {
        self.cpu.write32(gicc::EOIR, iar.raw);
    }

    pub(super) fn send_sgi(&self, sgi: u32, cpus: u64) {
        let me = crate::percpu::smp_processor_id();
        let mut list = 0u32;
        for c in (0..NR_CPUS).filter(|&c| c != me && cpus & (1 << c) != 0) {
            list |= self.targets[c].load(Ordering::Acquire) as u32;
        }
        // Normal-memory stores before the SGI reach the targets first.
        // SAFETY: a barrier has no memory-safety effect.
        unsafe { asm!("dsb ishst", options(nostack, preserves_flags)) };
        if list != 0 {
            self.dist.write32(gicd::SGIR, (list << 16) | sgi);
        }
        if me < NR_CPUS && cpus & (1 << me) != 0 {
            self.dist.write32(gicd::SGIR, SGIR_TO_SELF | sgi);
        }
    }
}
