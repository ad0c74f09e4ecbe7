//! What both GIC generations share: the INTID ranges and priorities, the
//! register window, the distributor's common registers, the acknowledge
//! value, and the errors.

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
pub(super) mod gicd {
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
pub(super) fn nr_irqs(dist: &Mmio) -> u32 {
    (32 * ((dist.read32(gicd::TYPER) & 0x1f) + 1)).min(INTID_SPECIAL_FIRST)
}

/// Reset SPIs 32..nr in the distributor: disabled, inactive, level, default
/// priority (Linux's gic_dist_config).
pub(super) fn dist_config_spis(dist: &Mmio, nr: u32) {
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
pub(super) fn cpu_config(regs: &Mmio) {
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
    pub(super) raw: u32,
    pub(super) intid: u32,
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
