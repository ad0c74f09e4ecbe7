//! The Arm Generic Interrupt Controller: GICv2 (memory-mapped CPU
//! interface; QEMU `virt` by default, the Raspberry Pi 4's GIC-400) and
//! GICv3 (system-register CPU interface and per-CPU redistributors; QEMU
//! `virt,gic-version=3`), behind one small interface, [`Gic`].
//!
//! ```text
//!            SPIs (32..1019)            SGIs 0..15, PPIs 16..31
//!   devices ────────────► distributor ◄──── (v2: banked in the GICD;
//!                          (GICD)           v3: each CPU's redistributor)
//!                             │ highest pending above the CPU's PMR
//!                             ▼
//!                    CPU interface ── IRQ ──► PSTATE.I clear? take it:
//!               (v2: GICC MMIO; v3: ICC_*_EL1)  IAR → INTID, ..., EOIR
//! ```
//!
//! Bring-up mirrors Linux's irq-gic.c and irq-gic-v3.c: [`Gic::dist_init`]
//! once on the boot CPU (every SPI disabled, inactive, level-triggered, at
//! the default priority, routed to the boot CPU, group 1 on v3, then the
//! distributor on), [`Gic::cpu_init`] on every CPU (its SGIs and PPIs
//! reset the same way with the SGIs enabled; v3: the redistributor found
//! by its affinity in GICR_TYPER and woken with a bounded wait; then the
//! priority mask and the CPU interface on). The interrupts the kernel takes
//! are all at [`DEFAULT_PRIORITY`] under a mask of [`DEFAULT_PMR`]; nothing
//! uses priority nesting or split EOI/deactivate (EOImode 0: EOIR drops the
//! priority and deactivates).
//!
//! The registers are reached through [`Mmio`] windows the kernel maps
//! (ioremap) and hands over; arch never maps anything itself.
//!
//! Interrupt groups: on v3 every interrupt is non-secure group 1 and the
//! CPU takes group 1 through ICC_IGRPEN1_EL1. On v2, as in Linux, the
//! group registers are left alone: without the Security Extensions (QEMU
//! `virt`) everything is group 0, signalled as IRQ; with them (the Pi's
//! GIC-400, reached non-secure) the firmware made everything group 1 and
//! the non-secure views of GICD_CTLR / GICC_CTLR bit 0 enable exactly that.

mod common;
mod v2;
mod v3;

use common::gicd;
pub use common::{
    DEFAULT_PMR, DEFAULT_PRIORITY, FIRST_SPI, GicError, INTID_SPECIAL_FIRST, INTID_SPURIOUS, Iar, Mmio, NR_SGIS,
};

pub use v2::GicV2;
pub use v3::{GicV3, MAX_REGIONS as MAX_REDIST_REGIONS};

use crate::percpu::NR_CPUS;

/// Either GIC. It lives in one static for the kernel's life, so the
/// variants' different sizes cost nothing worth a box.
#[allow(clippy::large_enum_variant)]
pub enum Gic {
    /// A GICv2.
    V2(GicV2),
    /// A GICv3.
    V3(GicV3),
}

impl Gic {
    /// 2 or 3.
    pub fn version(&self) -> u32 {
        match self {
            Gic::V2(_) => 2,
            Gic::V3(_) => 3,
        }
    }

    /// INTIDs the distributor implements.
    pub fn nr_irqs(&self) -> u32 {
        match self {
            Gic::V2(g) => g.nr_irqs(),
            Gic::V3(g) => g.nr_irqs(),
        }
    }

    /// Set up the distributor, once, on the boot CPU (logical 0): every SPI
    /// off and routed to it.
    pub fn dist_init(&self) -> Result<(), GicError> {
        match self {
            Gic::V2(g) => g.dist_init(),
            Gic::V3(g) => g.dist_init(),
        }
    }

    /// Set up the calling CPU's interface (and v3 redistributor); logical
    /// CPU `cpu` is the caller. SGIs are enabled when this returns Ok.
    pub fn cpu_init(&self, cpu: usize) -> Result<(), GicError> {
        if cpu >= NR_CPUS {
            return Err(GicError::BadCpu(cpu));
        }
        match self {
            Gic::V2(g) => g.cpu_init(cpu),
            Gic::V3(g) => g.cpu_init(cpu),
        }
    }

    /// Enable `intid` at `priority` (an SGI or PPI on the calling CPU only).
    pub fn enable(&self, intid: u32, priority: u8) {
        match self {
            Gic::V2(g) => g.enable(intid, priority),
            Gic::V3(g) => g.enable(intid, priority),
        }
    }

    /// Disable `intid` (an SGI or PPI on the calling CPU only).
    pub fn disable(&self, intid: u32) {
        match self {
            Gic::V2(g) => g.disable(intid),
            Gic::V3(g) => g.disable(intid),
        }
    }

    /// Make `intid` pending by software (GICD_ISPENDR; an SGI or PPI on
    /// the calling CPU only), as a device asserting it would. For tests.
    pub fn set_pending(&self, intid: u32) {
        self.bank_write(intid, gicd::ISPENDR);
    }

    /// Clear `intid`'s pending state (GICD_ICPENDR).
    pub fn clear_pending(&self, intid: u32) {
        self.bank_write(intid, gicd::ICPENDR);
    }

    /// Whether `intid` is enabled (GICD_ISENABLER).
    pub fn is_enabled(&self, intid: u32) -> bool {
        let bit = 1 << (intid % 32);
        self.bank(intid).is_some_and(|r| r.read32(gicd::ISENABLER + (intid / 32) as u64 * 4) & bit != 0)
    }

    /// The registers holding `intid`'s bit in the one-bit-per-INTID banks.
    fn bank(&self, intid: u32) -> Option<Mmio> {
        match self {
            Gic::V2(g) => g.regs_for(intid),
            Gic::V3(g) => g.regs_for(intid).map(|(r, _)| r),
        }
    }

    fn bank_write(&self, intid: u32, reg: u64) {
        if let Some(r) = self.bank(intid) {
            r.write32(reg + (intid / 32) as u64 * 4, 1 << (intid % 32));
        }
    }

    /// Acknowledge the highest-priority pending interrupt (it becomes
    /// active); [`Iar::is_special`] if there is none.
    pub fn ack(&self) -> Iar {
        match self {
            Gic::V2(g) => g.ack(),
            Gic::V3(_) => v3::ack(),
        }
    }

    /// End an interrupt [`Gic::ack`] returned (drop priority, deactivate).
    pub fn eoi(&self, iar: Iar) {
        match self {
            Gic::V2(g) => g.eoi(iar),
            Gic::V3(_) => v3::eoi(iar),
        }
    }

    /// Send SGI `sgi` (0..16) to the logical CPUs in `cpus` (bit n = CPU
    /// n) whose interfaces [`Gic::cpu_init`] has met. Stores made before
    /// the call are visible to the targets' handlers (a `dsb` first).
    pub fn send_sgi(&self, sgi: u32, cpus: u64) {
        debug_assert!(sgi < NR_SGIS);
        match self {
            Gic::V2(g) => g.send_sgi(sgi & 0xf, cpus),
            Gic::V3(g) => g.send_sgi(sgi & 0xf, cpus),
        }
    }
}
const _: () = assert!(NR_CPUS <= 64, "CPU masks are u64");
