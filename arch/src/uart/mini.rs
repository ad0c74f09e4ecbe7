//! The BCM2835 AUX mini UART (BCM2711 ARM Peripherals, "Mini UART"): a
//! 16550-like UART with 8-entry FIFOs in the AUX block beside two SPI
//! masters. Its registers are 32-bit words; the block's AUX_ENABLES
//! register gates its clock and register access.
//!
//! Baud rate = system (VPU core) clock / (8 * (AUX_MU_BAUD + 1)). The core
//! clock is the firmware's to choose; `enable_uart=1` makes the firmware
//! enable this UART at 115200 baud and keep the core clock fixed, and then
//! it is left exactly as the firmware set it.

use super::wait::{UartError, wait_until};
use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::register_bitfields;
use tock_registers::register_structs;
use tock_registers::registers::ReadWrite;

register_bitfields! {u32,
    ENABLES [
        /// Mini UART enable: clock and register access.
        MINI_UART OFFSET(0) NUMBITS(1) []
    ],
    LSR [
        /// The transmitter is idle (FIFO empty, last bit sent).
        TX_IDLE OFFSET(6) NUMBITS(1) [],
        /// The transmit FIFO can take at least one byte.
        TX_EMPTY OFFSET(5) NUMBITS(1) [],
        /// The receive FIFO holds at least one byte.
        DATA_READY OFFSET(0) NUMBITS(1) []
    ],
    CNTL [
        /// Transmitter enable.
        TX_ENABLE OFFSET(1) NUMBITS(1) [],
        /// Receiver enable.
        RX_ENABLE OFFSET(0) NUMBITS(1) []
    ]
}

register_structs! {
    AuxRegs {
        (0x00 => _irq),
        (0x04 => enables: ReadWrite<u32, ENABLES::Register>),
        (0x08 => @END),
    },
    MiniRegs {
        (0x00 => io: ReadWrite<u32>),
        (0x04 => ier: ReadWrite<u32>),
        (0x08 => iir: ReadWrite<u32>),
        (0x0c => lcr: ReadWrite<u32>),
        (0x10 => mcr: ReadWrite<u32>),
        (0x14 => lsr: ReadWrite<u32, LSR::Register>),
        (0x18 => _msr),
        (0x20 => cntl: ReadWrite<u32, CNTL::Register>),
        (0x24 => _stat),
        (0x28 => baud: ReadWrite<u32>),
        (0x2c => @END),
    }
}

/// Offset of AUX_ENABLES in the AUX block.
pub(super) const AUX_ENABLES_OFFSET: u64 = 0x04;
/// Offset of AUX_MU_LSR_REG in the mini UART's registers.
pub(super) const LSR_OFFSET: u64 = 0x14;

const _: () = {
    assert!(core::mem::offset_of!(AuxRegs, enables) as u64 == AUX_ENABLES_OFFSET);
    assert!(core::mem::offset_of!(MiniRegs, lsr) as u64 == LSR_OFFSET);
};

/// AUX_MU_BAUD for `baud` from a `clock_hz` core clock, `None` if it does
/// not fit the 16-bit register.
pub const fn mini_uart_divisor(clock_hz: u64, baud: u32) -> Option<u32> {
    if baud == 0 {
        return None;
    }
    let d = clock_hz / (8 * baud as u64);
    if d == 0 || d > 0x1_0000 {
        return None;
    }
    Some((d - 1) as u32)
}

// Checked at build time: the Pi 4's 500 MHz core clock (enable_uart=1) and
// the Pi 3's 250 MHz at 115200 baud, and refusals.
const _: () = {
    assert!(matches!(mini_uart_divisor(500_000_000, 115_200), Some(541)));
    assert!(matches!(mini_uart_divisor(250_000_000, 115_200), Some(270)));
    assert!(mini_uart_divisor(1_000, 115_200).is_none());
    assert!(mini_uart_divisor(250_000_000, 0).is_none());
};

/// The AUX block's enables register (the mini UART's clock gate).
///
/// # Invariants
/// `regs` points to a BCM2835 AUX block's first 8 bytes, mapped as device
/// memory for the life of the program.
pub struct AuxEnables {
    regs: *const AuxRegs,
}

/// What [`MiniUart::init`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MiniSetup {
    /// The firmware had it enabled: left exactly as it was.
    KeptFirmware,
    /// Enabled through AUX_ENABLES and programmed: 8-bit, this divisor.
    Programmed {
        /// The AUX_MU_BAUD value.
        baud_reg: u32,
    },
}

/// A mini UART reached through a device mapping.
///
/// # Invariants
/// `regs` points to a mini UART's register block (AUX + 0x40) and `aux` to
/// its AUX block, both mapped as device memory for the life of the program.
pub struct MiniUart {
    regs: *const MiniRegs,
    aux: AuxEnables,
}

// SAFETY: MMIO only; the kernel's console lock serialises use.
unsafe impl Send for MiniUart {}
// SAFETY: as above.
unsafe impl Sync for MiniUart {}

impl MiniUart {
    /// # Safety
    /// 1. `base` is the virtual address of a mini UART's registers (the
    ///    AUX block + 0x40) and `aux_base` that of its AUX block, both
    ///    mapped as device memory for the rest of the program.
    pub const unsafe fn new(base: u64, aux_base: u64) -> Self {
        Self { regs: base as *const MiniRegs, aux: AuxEnables { regs: aux_base as *const AuxRegs } }
    }

    fn regs(&self) -> &MiniRegs {
        // SAFETY: the invariant: the mapping is valid for the program's life.
        unsafe { &*self.regs }
    }

    fn aux(&self) -> &AuxRegs {
        // SAFETY: the invariant: the mapping is valid for the program's life.
        unsafe { &*self.aux.regs }
    }

    /// Make the UART usable at `baud`, 8N1. Left alone if the firmware
    /// enabled it (AUX_ENABLES and the transmitter on: `enable_uart=1`).
    /// Otherwise: enable it in AUX_ENABLES (keeping the SPI enables), stop
    /// it, mask its interrupts, 8-bit mode (both LCR bits: the datasheet's
    /// one-bit description is a known erratum), clear both FIFOs, set the
    /// divisor from `clock_hz` (the core clock the device tree gives), then
    /// start both directions. Without a clock it cannot be programmed:
    /// [`UartError::BadClock`].
    pub fn init(&self, clock_hz: Option<u64>, baud: u32) -> Result<MiniSetup, UartError> {
        let (aux, r) = (self.aux(), self.regs());
        if aux.enables.is_set(ENABLES::MINI_UART) && r.cntl.is_set(CNTL::TX_ENABLE) {
            return Ok(MiniSetup::KeptFirmware);
        }
        let baud_reg = clock_hz.and_then(|c| mini_uart_divisor(c, baud)).ok_or(UartError::BadClock)?;
        aux.enables.set(aux.enables.get() | 1);
        r.cntl.set(0);
        r.ier.set(0);
        r.lcr.set(0b11);
        r.mcr.set(0);
        r.iir.set(0xc6);
        r.baud.set(baud_reg);
        r.cntl.write(CNTL::TX_ENABLE::SET + CNTL::RX_ENABLE::SET);
        Ok(MiniSetup::Programmed { baud_reg })
    }

    /// Send one byte, waiting a bounded time for room in the FIFO.
    pub fn putc(&self, c: u8) -> Result<(), UartError> {
        let r = self.regs();
        wait_until(|| r.lsr.is_set(LSR::TX_EMPTY))?;
        r.io.set(c as u32);
        Ok(())
    }

    /// Wait, a bounded time, until the transmitter is idle.
    pub fn flush(&self) -> Result<(), UartError> {
        let r = self.regs();
        wait_until(|| r.lsr.is_set(LSR::TX_IDLE))
    }

    /// A received byte, if one is waiting.
    pub fn getc(&self) -> Option<u8> {
        let r = self.regs();
        r.lsr.is_set(LSR::DATA_READY).then(|| (r.io.get() & 0xff) as u8)
    }
}
