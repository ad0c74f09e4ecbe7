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

/// The first access to a PL011 mapped at `base`: its flag register, read
/// through the fault probe, so an address with nothing behind it (an
/// external abort) is an error, not an oops.
///
/// # Safety
/// 1. `base` is mapped as device memory (or not at all), and reading the
///    word at `base + 0x18` has no side effect the caller does not want.
pub unsafe fn probe_pl011(base: u64) -> Result<u32, crate::exception::ProbeFault> {
    // SAFETY: obligation 1; FR has no read side effect on a PL011.
    unsafe { crate::exception::probe_read32(base + pl011::FR_OFFSET) }
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

    /// Send bytes (`\n` as `\r\n`), each waiting a bounded time for room.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<(), UartError> {
        match self {
            Uart::Pl011(u) => u.write_bytes(bytes),
            Uart::Mini(u) => u.write_bytes(bytes),
        }
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
