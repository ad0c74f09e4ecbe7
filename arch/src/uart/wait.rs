//! The bounded wait every UART driver polls its status registers with.

/// How long one byte may take to find room in a UART's FIFO, or the FIFO to
/// drain: at 9600 baud a 64-byte FIFO empties in 67 ms, so 200 ms means the
/// UART is not moving.
pub const TX_TIMEOUT_NS: u64 = 200_000_000;
/// Polls of a status register per wait when the counter does not run.
const MAX_POLLS: u64 = 50_000_000;

/// Why a UART cannot be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartError {
    /// A status register never showed room or an empty FIFO in time.
    Stuck,
    /// The reference clock is unknown or too slow for the asked baud rate.
    BadClock,
}

/// Spin until `ready()` holds, at most [`TX_TIMEOUT_NS`].
pub(super) fn wait_until(mut ready: impl FnMut() -> bool) -> Result<(), UartError> {
    if ready() {
        return Ok(());
    }
    let f = crate::timer::frequency_hz();
    let start = crate::timer::counter();
    let ticks = if f == 0 { u64::MAX } else { (TX_TIMEOUT_NS as u128 * f as u128 / 1_000_000_000) as u64 };
    for _ in 0..MAX_POLLS {
        if ready() {
            return Ok(());
        }
        if crate::timer::counter().wrapping_sub(start) > ticks {
            return if ready() { Ok(()) } else { Err(UartError::Stuck) };
        }
        core::hint::spin_loop();
    }
    Err(UartError::Stuck)
}
