//! The UARTs a console can use, polled: the Arm PL011 (`arm,pl011`, QEMU
//! `virt` and the Pi 4's UART0) and the BCM2835 AUX mini UART
//! (`brcm,bcm2835-aux-uart`, the Pi 4's UART1, its console when the firmware
//! runs with `enable_uart=1`).
//!
//! Every wait on a status register is bounded by [`TX_TIMEOUT_NS`] of the
//! generic timer (and by an iteration count, should the counter not run): a
//! UART that does not take or drain a byte in that time reports
//! [`UartError::Stuck`], and the kernel drops it as a console instead of
//! hanging the boot on it.

mod mini;
mod pl011;
mod wait;

pub use mini::{AuxEnables, MiniSetup, MiniUart, mini_uart_divisor};
pub use pl011::{Pl011, Pl011Setup, pl011_divisors};
pub use wait::{TX_TIMEOUT_NS, UartError};

/// What [`Uart::init`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartSetup {
    /// A PL011's set-up.
    Pl011(Pl011Setup),
    /// A mini UART's set-up.
    Mini(MiniSetup),
}

/// The PrimeCell component ID every Arm PrimeCell (the PL011 among them)
/// reads back from its last four ID registers (PL011 TRM, "UARTPCellID0-3").
pub const PRIMECELL_CID: u32 = 0xb105_f00d;
/// Peripheral IDs (UARTPeriphID0-3, revision bits masked) of the PL011s
/// Linux's amba-pl011 binds: Arm's (part 0x011, designer 0x41) and ST's
/// derivative. Other PrimeCells (a GIC, an RTC) share the component ID.
pub const PL011_PERIPHIDS: [(u32, u32); 2] = [(0x0004_1011, 0x000f_ffff), (0x0038_0802, 0x00ff_ffff)];

/// Why [`probe_pl011`] refused an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pl011Probe {
    /// A read took an abort: nothing (or nothing mapped) behind it.
    Abort(crate::exception::ProbeFault),
    /// It answered, but its IDs are not a PL011's: some other device (on
    /// QEMU `virt`, the GIC at 0x8000000 answers every read and is itself a
    /// PrimeCell). The (component ID, peripheral ID) read.
    NotPl011(u32, u32),
}

/// The first access to a PL011 mapped at `base`: its flag register, then,
/// if `check_id`, the peripheral and PrimeCell component IDs in the last 32
/// bytes of its 4 KiB frame (Linux's AMBA bus reads the same registers and
/// matches them against the driver's ID table before it binds it). All through the fault probe, so an address with nothing
/// behind it (an external abort) is an error, not an oops.
///
/// # Safety
/// 1. `base` is mapped as device memory (or not at all) together with the
///    rest of its 4 KiB frame, and reading the words at `base + 0x18` and
///    `base + 0xfe0..0x1000` has no side effect the caller does not want.
pub unsafe fn probe_pl011(base: u64, check_id: bool) -> Result<u32, Pl011Probe> {
    // SAFETY: obligation 1; FR has no read side effect on a PL011.
    let fr = unsafe { crate::exception::probe_read32(base + pl011::FR_OFFSET) }.map_err(Pl011Probe::Abort)?;
    if check_id {
        // Four 8-bit values in the low bytes of four words, little end first.
        let id = |at: u64| -> Result<u32, Pl011Probe> {
            let mut v = 0u32;
            for i in 0..4 {
                // SAFETY: obligation 1: the ID registers are read-only, no side effect.
                let b = unsafe { crate::exception::probe_read32(base + at + 4 * i) }.map_err(Pl011Probe::Abort)?;
                v |= (b & 0xff) << (8 * i);
            }
            Ok(v)
        };
        let (pid, cid) = (id(0xfe0)?, id(0xff0)?);
        if cid != PRIMECELL_CID || !PL011_PERIPHIDS.iter().any(|&(want, mask)| pid & mask == want) {
            return Err(Pl011Probe::NotPl011(cid, pid));
        }
    }
    Ok(fr)
}

/// The first access to a mini UART at `base` with its AUX block at
/// `aux_base`: AUX_ENABLES, then the line status register, both through the
/// fault probe.
///
/// # Safety
/// 1. Both addresses are mapped as device memory (or not at all), and
///    reading `aux_base + 0x04` and `base + 0x14` has no unwanted side effect.
pub unsafe fn probe_mini(base: u64, aux_base: u64) -> Result<u32, crate::exception::ProbeFault> {
    // SAFETY: obligation 1; AUX_ENABLES and AUX_MU_LSR have no read side
    // effect (the LSR's overrun bit clears on read, which polled output ignores).
    unsafe {
        crate::exception::probe_read32(aux_base + mini::AUX_ENABLES_OFFSET)?;
        crate::exception::probe_read32(base + mini::LSR_OFFSET)
    }
}

/// A console UART of either kind.
pub enum Uart {
    /// An Arm PL011.
    Pl011(Pl011),
    /// A BCM2835 AUX mini UART.
    Mini(MiniUart),
}

impl Uart {
    /// Make it usable at `baud`, 8N1, from a `clock_hz` reference clock
    /// (see [`Pl011::init`], [`MiniUart::init`]).
    pub fn init(&self, clock_hz: Option<u64>, baud: u32) -> Result<UartSetup, UartError> {
        match self {
            Uart::Pl011(u) => u.init(clock_hz, baud).map(UartSetup::Pl011),
            Uart::Mini(u) => u.init(clock_hz, baud).map(UartSetup::Mini),
        }
    }

    /// Send one byte, waiting a bounded time for room.
    pub fn putc(&self, c: u8) -> Result<(), UartError> {
        match self {
            Uart::Pl011(u) => u.putc(c),
            Uart::Mini(u) => u.putc(c),
        }
    }

    /// Send bytes (`\n` as `\r\n`), each waiting a bounded time for room.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<(), UartError> {
        for &b in bytes {
            if b == b'\n' {
                self.putc(b'\r')?;
            }
            self.putc(b)?;
        }
        Ok(())
    }

    /// Wait, a bounded time, until everything sent has left the UART.
    pub fn flush(&self) -> Result<(), UartError> {
        match self {
            Uart::Pl011(u) => u.flush(),
            Uart::Mini(u) => u.flush(),
        }
    }

    /// A byte received, if one is waiting.
    pub fn getc(&self) -> Option<u8> {
        match self {
            Uart::Pl011(u) => u.getc(),
            Uart::Mini(u) => u.getc(),
        }
    }
}
