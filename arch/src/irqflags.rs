//! Masking interrupts on this CPU (Linux's arch/arm64/include/asm/irqflags.h).
//!
//! [`local_irq_save`] masks IRQ and FIQ (DAIF.I and DAIF.F) and returns the
//! previous DAIF value, which [`local_irq_restore`] puts back, so saves nest.
//! Debug (D) and SError (A) masking is left as it was.

use core::arch::asm;

/// A saved DAIF value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct IrqFlags(u64);

/// DAIF.I: IRQs masked.
const DAIF_I: u64 = 1 << 7;

/// Mask IRQ and FIQ; the previous state.
#[inline(always)]
pub fn local_irq_save() -> IrqFlags {
    let daif: u64;
    // SAFETY: reading DAIF and masking interrupts touch no memory. The
    // asm is a compiler barrier (no `nomem`), so no access of a
    // critical section is moved before the mask.
    unsafe { asm!("mrs {}, daif", "msr daifset, #3", out(reg) daif, options(nostack, preserves_flags)) };
    IrqFlags(daif)
}

/// Put back the state `local_irq_save` returned.
#[inline(always)]
pub fn local_irq_restore(flags: IrqFlags) {
    // SAFETY: restoring a DAIF value saved on this CPU; a compiler barrier
    // (no `nomem`), so the critical section's accesses stay before it.
    unsafe { asm!("msr daif, {}", in(reg) flags.0, options(nostack, preserves_flags)) };
}

/// Unmask IRQ and FIQ.
#[inline(always)]
pub fn local_irq_enable() {
    // SAFETY: as in local_irq_restore.
    unsafe { asm!("msr daifclr, #3", options(nostack, preserves_flags)) };
}

/// Mask IRQ and FIQ.
#[inline(always)]
pub fn local_irq_disable() {
    // SAFETY: as in local_irq_save.
    unsafe { asm!("msr daifset, #3", options(nostack, preserves_flags)) };
}

/// Whether IRQs are masked on this CPU.
#[inline(always)]
pub fn irqs_disabled() -> bool {
    let daif: u64;
    // SAFETY: reading DAIF has no side effect.
    unsafe { asm!("mrs {}, daif", out(reg) daif, options(nomem, nostack, preserves_flags)) };
    daif & DAIF_I != 0
}

impl IrqFlags {
    /// Whether these flags have IRQs masked.
    pub fn irqs_disabled(&self) -> bool {
        self.0 & DAIF_I != 0
    }
}

impl IrqFlags {
    /// The raw DAIF value, to keep in an atomic slot.
    pub fn bits(&self) -> u64 {
        self.0
    }

    /// Flags from [`IrqFlags::bits`] of a value saved on some CPU.
    pub fn from_bits(bits: u64) -> Self {
        IrqFlags(bits)
    }
}
