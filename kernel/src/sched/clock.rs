//! Time for the scheduler: jiffies at HZ = 250 (Linux arm64's default
//! CONFIG_HZ), derived from the generic timer's virtual counter rather
//! than counted by the tick, so timed sleeps end on time whether or not a
//! tick interrupt runs: a CPU that polls (its idle loop, schedule())
//! compares the counter with each sleeper's deadline.

/// Ticks per second (Linux's HZ).
pub const HZ: u64 = 250;

/// The generic counter now (the unit of `Task::wake_at`).
pub fn now() -> u64 {
    arch::timer::counter()
}

/// Jiffies since the counter started (0 when CNTFRQ_EL0 is unknown).
pub fn jiffies() -> u64 {
    let f = arch::timer::frequency_hz();
    if f == 0 {
        return 0;
    }
    (now() as u128 * HZ as u128 / f as u128) as u64
}

/// The counter value at jiffy `j` (rounded up); None if the frequency is
/// unknown.
pub fn jiffies_to_counter(j: u64) -> Option<u64> {
    let f = arch::timer::frequency_hz();
    (f != 0).then(|| (j as u128 * f as u128).div_ceil(HZ as u128).min(u64::MAX as u128) as u64)
}

/// Milliseconds to jiffies, rounded up (Linux's msecs_to_jiffies).
pub fn msecs_to_jiffies(ms: u64) -> u64 {
    ms.saturating_mul(HZ).div_ceil(1000)
}

/// Counter ticks in `ms` milliseconds, rounded up; None if the frequency
/// is unknown.
pub fn msecs_to_counter(ms: u64) -> Option<u64> {
    let f = arch::timer::frequency_hz();
    (f != 0).then(|| (ms as u128 * f as u128).div_ceil(1000).min(u64::MAX as u128) as u64)
}
