//! The Arm PrimeCell PL011 UART (Arm DDI 0183), polled.

use core::fmt;
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::{ReadOnly, ReadWrite, WriteOnly};

register_bitfields! {u32,
    FR [
        /// Transmit FIFO full.
        TXFF OFFSET(5) NUMBITS(1) [],
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
        (0x2c => lcr_h: ReadWrite<u32, LCR_H::Register>),
        (0x30 => cr: ReadWrite<u32, CR::Register>),
        (0x34 => _reserved2),
        (0x44 => icr: WriteOnly<u32>),
        (0x48 => @END),
    }
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

    /// Enable the UART for 8-bit words with FIFOs if firmware left it off.
    /// The baud rate divisor is left as firmware set it (QEMU ignores it).
    pub fn init(&self) {
        let r = self.regs();
        if !r.cr.is_set(CR::UARTEN) {
            r.icr.set(0x7ff);
            r.lcr_h.write(LCR_H::WLEN::EightBit + LCR_H::FEN::SET);
            r.cr.write(CR::UARTEN::SET + CR::TXE::SET + CR::RXE::SET);
        }
    }

    /// Send one byte, waiting for room in the FIFO.
    pub fn putc(&self, c: u8) {
        let r = self.regs();
        while r.fr.is_set(FR::TXFF) {
            core::hint::spin_loop();
        }
        r.dr.set(c as u32);
    }

    /// Send bytes, turning `\n` into `\r\n`.
    pub fn write_bytes(&self, bytes: &[u8]) {
        for &b in bytes {
            if b == b'\n' {
                self.putc(b'\r');
            }
            self.putc(b);
        }
    }

    /// Wait until everything queued has left the UART.
    pub fn flush(&self) {
        let r = self.regs();
        while r.fr.is_set(FR::BUSY) {
            core::hint::spin_loop();
        }
    }
}

impl fmt::Write for &Pl011 {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}
