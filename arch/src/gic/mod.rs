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

mod v2;
mod v3;

pub use v2::GicV2;
pub use v3::{GicV3, MAX_REGIONS as MAX_REDIST_REGIONS};

use crate::percpu::NR_CPUS;

/// Spurious: the CPU interface had nothing to give (1020..1023 are special).
pub const INTID_SPURIOUS: u32 = 1023;
/// The first special INTID: values at or above this are not interrupts.
pub const INTID_SPECIAL_FIRST: u32 = 1020;
/// SGIs are INTIDs 0..16.
pub const NR_SGIS: u32 = 16;
/// The first SPI (0..16 SGIs, 16..32 PPIs).
pub const FIRST_SPI: u32 = 32;
/// The priority every interrupt gets (Linux's GICD_INT_DEF_PRI).
pub const DEFAULT_PRIORITY: u8 = 0xa0;
/// The CPU interface's priority mask: everything above 0xf0 is signalled
/// (Linux's DEFAULT_PMR_VALUE).
pub const DEFAULT_PMR: u8 = 0xf0;

/// Why the GIC cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicError {
    /// A register window is smaller than the registers the driver uses.
    WindowTooSmall,
    /// v3: no redistributor in the regions has this CPU's affinity.
    NoRedistributor(u64),
    /// v3: the redistributor did not wake (GICR_WAKER.ChildrenAsleep stayed set).
    RedistributorAsleep,
    /// v3: ICC_SRE_EL1.SRE does not stick (EL2/EL3 did not enable the
    /// system-register interface).
    NoSysregInterface,
    /// The GIC's ID registers do not say the version the tree said.
    WrongVersion(u32),
    /// More CPUs than NR_CPUS, or a logical number out of range.
    BadCpu(usize),
}

impl core::fmt::Display for GicError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::WindowTooSmall => f.write_str("a register window is too small"),
            Self::NoRedistributor(aff) => write!(f, "no redistributor for affinity {aff:#x}"),
            Self::RedistributorAsleep => f.write_str("the redistributor does not wake (GICR_WAKER)"),
            Self::NoSysregInterface => f.write_str("ICC_SRE_EL1.SRE does not stick: no system-register access"),
            Self::WrongVersion(rev) => write!(f, "the ID registers say architecture revision {rev}"),
            Self::BadCpu(c) => write!(f, "CPU {c} is beyond NR_CPUS"),
        }
    }
}

/// A window of device registers mapped by the kernel.
///
/// # Invariants
/// `base..base + size` is mapped as device memory and belongs to the
/// device the window was made for, for as long as the window lives.
#[derive(Clone, Copy, Debug)]
pub struct Mmio {
    base: u64,
    size: u64,
}

impl Mmio {
    /// A window of `size` bytes at virtual address `base`.
    ///
    /// # Safety
    /// 1. `base..base + size` is mapped as device memory for ever (the
    ///    kernel leaks the ioremap) and holds the registers of the device
    ///    it is given to, and nothing else uses them behind its back.
    pub const unsafe fn new(base: u64, size: u64) -> Self {
        Self { base, size }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// A sub-window `off..off + size` of this one, if it fits.
    pub fn sub(&self, off: u64, size: u64) -> Option<Mmio> {
        (off.checked_add(size)? <= self.size).then(|| Mmio { base: self.base + off, size })
    }

    fn at(&self, off: u64, width: u64) -> u64 {
        // A broken invariant of the drivers (their offsets are constants
        // checked against the window's size at construction), not input.
        assert!(
            off.checked_add(width).is_some_and(|end| end <= self.size),
            "GIC register offset {off:#x} outside the window"
        );
        self.base + off
    }

    /// The 32-bit register at `off`.
    pub fn read32(&self, off: u64) -> u32 {
        let a = self.at(off, 4);
        // SAFETY: inside the window (checked), mapped device memory (the invariant).
        unsafe { core::ptr::read_volatile(a as *const u32) }
    }

    /// The 64-bit register at `off`.
    pub fn read64(&self, off: u64) -> u64 {
        let a = self.at(off, 8);
        // SAFETY: as in read32.
        unsafe { core::ptr::read_volatile(a as *const u64) }
    }

    /// Write the 32-bit register at `off`.
    pub fn write32(&self, off: u64, v: u32) {
        let a = self.at(off, 4);
        // SAFETY: as in read32.
        unsafe { core::ptr::write_volatile(a as *mut u32, v) }
    }

    /// Write the 64-bit register at `off`.
    pub fn write64(&self, off: u64, v: u64) {
        let a = self.at(off, 8);
        // SAFETY: as in read32.
        unsafe { core::ptr::write_volatile(a as *mut u64, v) }
    }

    /// Write the byte register at `off` (GICD_IPRIORITYR, GICD_ITARGETSR:
    /// byte-accessible in both architectures).
    pub fn write8(&self, off: u64, v: u8) {
        let a = self.at(off, 1);
        // SAFETY: as in read32.
        unsafe { core::ptr::write_volatile(a as *mut u8, v) }
    }
}

/// The distributor registers both versions share (GICv2 4.3, GICv3 12.9).
mod gicd {
    pub const CTLR: u64 = 0x000;
    pub const TYPER: u64 = 0x004;
    pub const IGROUPR: u64 = 0x080;
    pub const ISENABLER: u64 = 0x100;
    pub const ICENABLER: u64 = 0x180;
    pub const ISPENDR: u64 = 0x200;
    pub const ICPENDR: u64 = 0x280;
    pub const ICACTIVER: u64 = 0x380;
    pub const IPRIORITYR: u64 = 0x400;
    pub const ITARGETSR: u64 = 0x800;
    pub const ICFGR: u64 = 0xc00;
    pub const SGIR: u64 = 0xf00;
    pub const IROUTER: u64 = 0x6000;
    /// The bytes the drivers touch (v2; v3 adds IROUTER).
    pub const V2_SIZE: u64 = 0x1000;
}

/// INTIDs the distributor implements (GICD_TYPER.ITLinesNumber), at most 1020.
fn nr_irqs(dist: &Mmio) -> u32 {
    (32 * ((dist.read32(gicd::TYPER) & 0x1f) + 1)).min(INTID_SPECIAL_FIRST)
}

/// Reset SPIs 32..nr in the distributor: disabled, inactive, level, default
/// priority (Linux's gic_dist_config).
fn dist_config_spis(dist: &Mmio, nr: u32) {
    for i in (FIRST_SPI..nr).step_by(16) {
        dist.write32(gicd::ICFGR + (i / 16) as u64 * 4, 0);
    }
    let pri = u32::from_ne_bytes([DEFAULT_PRIORITY; 4]);
    for i in (FIRST_SPI..nr).step_by(4) {
        dist.write32(gicd::IPRIORITYR + i as u64, pri);
    }
    for i in (FIRST_SPI..nr).step_by(32) {
        dist.write32(gicd::ICACTIVER + (i / 8) as u64, !0);
        dist.write32(gicd::ICENABLER + (i / 8) as u64, !0);
    }
}

/// The banked SGI/PPI registers (a v2 distributor's first words or a v3
/// redistributor's SGI frame, same offsets): PPIs disabled, SGIs enabled,
/// all inactive at the default priority (Linux's gic_cpu_config).
fn cpu_config(regs: &Mmio) {
    regs.write32(gicd::ICACTIVER, !0);
    regs.write32(gicd::ICENABLER, 0xffff_0000);
    regs.write32(gicd::ISENABLER, 0x0000_ffff);
    let pri = u32::from_ne_bytes([DEFAULT_PRIORITY; 4]);
    for i in (0..FIRST_SPI).step_by(4) {
        regs.write32(gicd::IPRIORITYR + i as u64, pri);
    }
}

/// The interrupt an acknowledge returned: the raw IAR value, which goes
/// back unchanged to [`Gic::eoi`] (on v2 it also names an SGI's source
/// CPU), and the INTID in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Iar {
    raw: u32,
    intid: u32,
}

impl Iar {
    /// The INTID.
    pub fn intid(self) -> u32 {
        self.intid
    }
    /// Not an interrupt (1020..1023): nothing to handle or end.
    pub fn is_special(self) -> bool {
        (INTID_SPECIAL_FIRST..=INTID_SPURIOUS).contains(&self.intid)
    }
}

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
