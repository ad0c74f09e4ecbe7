//! The Arm PrimeCell PL011 UART (Arm DDI 0183), polled.

use super::wait::{UartError, wait_until};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    FR [
        /// Transmit FIFO empty.
        TXFE OFFSET(7) NUMBITS(1) [],
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
        /// Receive FIFO empty.
        RXFE OFFSET(4) NUMBITS(1) [],
        /// UART busy transmitting.
        BUSY OFFSET(3) NUMBITS(1) []
    ],
    LCR_H [
        /// Word length 8 bits.
        WLEN OFFSET(5) NUMBITS(2) [EightBit = 0b11],
        /// FIFOs enabled.
        FEN OFFSET(4) NUMBITS(1) []
    ],
    CR [
        RXE OFFSET(9) NUMBITS(1) [],
        TXE OFFSET(8) NUMBITS(1) [],
        UARTEN OFFSET(0) NUMBITS(1) []
    ]
}

register_structs! {
    Pl011Regs {
        (0x00 => dr: ReadWrite<u32>),
        (0x04 => _reserved0),
        (0x18 => fr: ReadOnly<u32, FR::Register>),
        (0x1c => _reserved1),
        (0x24 => ibrd: ReadWrite<u32>),
        (0x28 => fbrd: ReadWrite<u32>),
        (0x2c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x30 => cr: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x38 => imsc: ReadWrite<u32>),
        (0x3c => _reserved3),
        (0x44 => icr: WriteOnly<u32>),
        (0x48 => @END),
    }
}

const _: () = assert!(core::mem::offset_of!(Pl011Regs, fr) as u64 == FR_OFFSET);

/// Offset of the flag register (UARTFR), the first register read.
pub(super) const FR_OFFSET: u64 = 0x18;

/// What [`Pl011::init`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pl011Setup {
    /// The firmware had the UART enabled: left exactly as it was.
    KeptFirmware,
    /// Programmed from reset: these divisors, 8N1, FIFOs on.
    Programmed {
        /// Integer baud divisor (UARTIBRD).
        ibrd: u32,
        /// Fractional baud divisor in 64ths (UARTFBRD).
        fbrd: u32,
    },
    /// Enabled with the divisors already in the registers (no clock known).
    KeptDivisors,
}

/// UARTIBRD and UARTFBRD for `baud` from a `clock_hz` reference clock:
/// BAUDDIV = clock / (16 * baud), the fraction in 64ths, rounded (the TRM's
/// "Fractional baud rate divider"). `None` if out of the divisor's range.
pub const fn pl011_divisors(clock_hz: u64, baud: u32) -> Option<(u32, u32)> {
    if baud == 0 || clock_hz > u64::MAX / 8 {
        return None;
    }
    // 64 * clock / (16 * baud), rounded to nearest.
    let div64 = (clock_hz * 8 / baud as u64).div_ceil(2);
    let (ibrd, fbrd) = (div64 >> 6, div64 & 63);
    if ibrd == 0 || ibrd > 0xffff || (ibrd == 0xffff && fbrd != 0) {
        return None;
    }
    Some((ibrd as u32, fbrd as u32))
}

/// A PL011 reached through a device mapping.
///
/// # Invariants
/// `regs` points to the registers of a PL011 mapped as device memory for the
/// life of the program.
pub struct Pl011 {
    regs: *const Pl011Regs,
}

// SAFETY: the registers are MMIO; concurrent use is serialised by the
// console lock in the kernel, and the type holds no thread-local state.
unsafe impl Send for Pl011 {}
// SAFETY: as above; `&Pl011` only performs MMIO accesses.
unsafe impl Sync for Pl011 {}

impl Pl011 {
    /// # Safety
    /// 1. `base` is the virtual address of a PL011's registers, mapped as
    ///    device memory for the rest of the program.
    pub const unsafe fn new(base: u64) -> Self {
        Self { regs: base as *const Pl011Regs }
    }

    fn regs(&self) -> &Pl011Regs {
        // SAFETY: the invariant: the mapping is valid for the program's life.
        unsafe { &*self.regs }
    }

    /// Make the UART usable at `baud`, 8N1. A UART the firmware enabled is
    /// left alone (its divisors match its clock, which only it knows for
    /// sure). Otherwise, as the TRM orders it: disable, let the last
    /// character go, flush the FIFO (FEN = 0), mask and clear interrupts,
    /// write IBRD and FBRD, then LCR_H (the write that latches the divisors
    /// into the 30-bit UARTLCR), then enable. `clock_hz` is the reference
    /// clock the device tree gives; without it the divisors in the
    /// registers are kept, and if they are still at reset (0) the UART cannot
    /// work: [`UartError::BadClock`].
    pub fn init(&self, clock_hz: Option<u64>, baud: u32) -> Result<Pl011Setup, UartError> {
        let r = self.regs();
        if r.cr.is_set(CR::UARTEN) && r.cr.is_set(CR::TXE) {
            return Ok(Pl011Setup::KeptFirmware);
        }
        let divisors = match clock_hz {
            Some(c) => Some(pl011_divisors(c, baud).ok_or(UartError::BadClock)?),
            None if r.ibrd.get() & 0xffff != 0 => None,
            None => return Err(UartError::BadClock),
        };
        r.cr.set(0);
        wait_until(|| !r.fr.is_set(FR::BUSY))?;
        r.lcr_h.set(0);
        r.imsc.set(0);
        r.icr.set(0x7ff);
        if let Some((ibrd, fbrd)) = divisors {
            r.ibrd.set(ibrd);
            r.fbrd.set(fbrd);
        }
        r.lcr_h.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
        r.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        Ok(match divisors {
            Some((ibrd, fbrd)) => Pl011Setup::Programmed { ibrd, fbrd },
            None => Pl011Setup::KeptDivisors,
        })
    }

    /// Send one byte, waiting a bounded time for room in the FIFO.
    pub fn putc(&self, c: u8) -> Result<(), UartError> {
        let r = self.regs();
        wait_until(|| !r.fr.is_set(FR::TXFF))?;
        r.dr.set(c as u32);
        Ok(())
    }

    /// Wait, a bounded time, until everything queued has left the UART.
    pub fn flush(&self) -> Result<(), UartError> {
        let r = self.regs();
        wait_until(|| r.fr.is_set(FR::TXFE) && !r.fr.is_set(FR::BUSY))
    }

    /// A received byte, if one is waiting.
    pub fn getc(&self) -> Option<u8> {
        let r = self.regs();
        (!r.fr.is_set(FR::RXFE)).then(|| (r.dr.get() & 0xff) as u8)
    }
}

// The divisor arithmetic, checked at build time (arch has no host tests):
// the TRM's example (4 MHz, 230400 baud -> 1.085: IBRD 1, FBRD 5), the Pi 4's
// 48 MHz UART clock and QEMU virt's 24 MHz apb-pclk at 115200, and refusals.
const _: () = {
    assert!(matches!(pl011_divisors(4_000_000, 230_400), Some((1, 5))));
    assert!(matches!(pl011_divisors(48_000_000, 115_200), Some((26, 3))));
    assert!(matches!(pl011_divisors(24_000_000, 115_200), Some((13, 1))));
    assert!(pl011_divisors(1_000, 115_200).is_none());
    assert!(pl011_divisors(48_000_000, 0).is_none());
};
