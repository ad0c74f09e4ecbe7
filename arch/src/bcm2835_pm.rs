//! The BCM2835/BCM2711 power-management block's watchdog: how a Raspberry
//! Pi resets or powers off without PSCI (Linux's drivers/watchdog/
//! bcm2835_wdt.c, `brcm,bcm2835-pm-wdt` / `brcm,bcm2711-pm`).
//!
//! A reset arms the watchdog with a few ticks and selects a full reset in
//! PM_RSTC. A power off is the same reset with the "boot partition" field
//! of PM_RSTS set to 63, which the Pi firmware takes as "halt": it stops in
//! its low-power state instead of booting again. Every write carries the
//! block's password in its top byte, or the hardware ignores it.

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_structs! {
    PmRegs {
        (0x00 => _reserved0),
        (0x1c => rstc: ReadWrite<u32>),
        (0x20 => rsts: ReadWrite<u32>),
        (0x24 => wdog: ReadWrite<u32>),
        (0x28 => @END),
    }
}

const PM_PASSWORD: u32 = 0x5a00_0000;
const PM_RSTC_WRCFG_CLR: u32 = 0xffff_ffcf;
const PM_RSTC_WRCFG_FULL_RESET: u32 = 0x0000_0020;
/// PM_RSTS partition bits for partition 63 (every other bit of 0xaaa's
/// complement): the firmware's "halt".
const PM_RSTS_RASPBERRYPI_HALT: u32 = 0x555;
/// Watchdog ticks (about 16 us each) before the reset fires.
const RESET_TICKS: u32 = 10;

/// The power-management block's watchdog registers.
///
/// # Invariants
/// `regs` points to the block's first 0x28 bytes, mapped as device memory
/// for the life of the program.
pub struct Bcm2835Pm {
    regs: *const PmRegs,
}

// SAFETY: MMIO only, used on the shutdown path by one CPU at a time.
unsafe impl Send for Bcm2835Pm {}
// SAFETY: as above.
unsafe impl Sync for Bcm2835Pm {}

impl Bcm2835Pm {
    /// # Safety
    /// 1. `base` is the virtual address of the PM block (`reg` of the
    ///    `brcm,bcm2835-pm-wdt` node), mapped as device memory for the rest
    ///    of the program.
    pub const unsafe fn new(base: u64) -> Self {
        Self { regs: base as *const PmRegs }
    }

    fn regs(&self) -> &PmRegs {
        // SAFETY: the invariant: the mapping is valid for the program's life.
        unsafe { &*self.regs }
    }

    /// Arm the watchdog for a full reset in [`RESET_TICKS`] ticks.
    fn arm_full_reset(&self) {
        let r = self.regs();
        r.wdog.set(PM_PASSWORD | RESET_TICKS);
        let rstc = r.rstc.get() & PM_RSTC_WRCFG_CLR;
        r.rstc.set(PM_PASSWORD | rstc | PM_RSTC_WRCFG_FULL_RESET);
    }

    /// Reset the board (Linux's `__bcm2835_restart`). Returns if the
    /// hardware did not act within a short wait, so the caller can park.
    pub fn restart(&self) {
        self.arm_full_reset();
        crate::timer::delay_us(20_000);
    }

    /// Power off: reset into partition 63, which the firmware halts in
    /// (Linux's `bcm2835_power_off`). Returns if nothing happened.
    pub fn power_off(&self) {
        let r = self.regs();
        let rsts = r.rsts.get();
        r.rsts.set(PM_PASSWORD | (rsts & 0x00ff_ffff) | PM_RSTS_RASPBERRYPI_HALT);
        self.restart();
    }
}
