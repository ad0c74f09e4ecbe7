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

/// CNTKCTL_EL1.EVNTEN: the event stream is on.
const CNTKCTL_EVNTEN: u64 = 1 << 2;
/// CNTKCTL_EL1.EVNTI: which counter bit's 0 -> 1 transition is an event.
const CNTKCTL_EVNTI_SHIFT: u64 = 4;
/// The event stream's rate (Linux's ARCH_TIMER_EVT_STREAM_FREQ).
pub const EVT_STREAM_FREQ_HZ: u64 = 10_000;

/// Turn on this CPU's event stream (Linux's arch_timer_evtstrm_enable): a
/// `wfe` then returns at least every ~100 us (the counter bit nearest
/// [`EVT_STREAM_FREQ_HZ`]), so a CPU waiting for a deadline rather than
/// for another CPU's `sev` (a timed sleep before there is a timer
/// interrupt) wakes to look. No-op if the counter frequency is unknown.
pub fn enable_event_stream() {
    let f = frequency_hz();
    if f == 0 {
        return;
    }
    // Period 2^(EVNTI+1) counter ticks; pick it nearest f / EVT_STREAM_FREQ_HZ.
    let div = (f / EVT_STREAM_FREQ_HZ).max(2);
    let mut bit = 63 - div.leading_zeros() as u64; // floor(log2(div))
    if bit > 0 && div & (1 << (bit - 1)) != 0 {
        bit += 1; // round to the nearer power of two
    }
    let evnti = bit.saturating_sub(1).min(15);
    let mut v: u64;
    // SAFETY: reading CNTKCTL_EL1 has no side effect.
    unsafe { asm!("mrs {}, cntkctl_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v = (v & !(0xf << CNTKCTL_EVNTI_SHIFT | 1 << 3)) | evnti << CNTKCTL_EVNTI_SHIFT | CNTKCTL_EVNTEN;
    // SAFETY: only the event stream fields change (EL0 access bits are kept);
    // events only end waits early, which every `wfe` caller tolerates.
    unsafe { asm!("msr cntkctl_el1, {}", "isb", in(reg) v, options(nomem, nostack, preserves_flags)) };
}
