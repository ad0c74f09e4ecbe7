//! The one error type of the `mm` crate.

use core::fmt;

/// Why a memory-management operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// Not enough free memory (or no free table slot) to satisfy the request.
    NoMemory,
    /// An argument is out of range, misaligned or overflows the address space.
    InvalidArgument,
    /// The target is in use (for example a live mapping that would be replaced).
    Busy,
    /// The object does not exist (for example an unmapped address).
    NotFound,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Error::NoMemory => "out of memory",
            Error::InvalidArgument => "invalid argument",
            Error::Busy => "busy",
            Error::NotFound => "not found",
        })
    }
}
