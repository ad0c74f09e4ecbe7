//! The generic timer's virtual counter: timestamps and delays.

use aarch64_cpu::registers::{CNTFRQ_EL0, CNTVCT_EL0};
use core::arch::asm;
use tock_registers::interfaces::Readable;

/// Counter frequency in Hz, as firmware set CNTFRQ_EL0.
pub fn frequency_hz() -> u64 {
    CNTFRQ_EL0.get()
}

/// The current counter value. The `isb` stops it being read early.
pub fn counter() -> u64 {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
    CNTVCT_EL0.get()
}

/// Nanoseconds since the counter started (0 if the frequency is unknown).
pub fn uptime_ns() -> u64 {
    let f = frequency_hz();
    if f == 0 {
        return 0;
    }
    ((counter() as u128 * 1_000_000_000) / f as u128) as u64
}

/// Wait about `us` microseconds (at least that long if the counter runs; a
/// bounded spin if firmware left CNTFRQ_EL0 at 0).
pub fn delay_us(us: u64) {
    let f = frequency_hz();
    if f == 0 {
        for _ in 0..us.saturating_mul(1000) {
            core::hint::spin_loop();
        }
        return;
    }
    let ticks = (us as u128 * f as u128).div_ceil(1_000_000) as u64;
    let start = counter();
    while counter().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}
