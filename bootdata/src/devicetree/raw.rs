//! The blob's wire format: big-endian words, structure-block tokens, header
//! offsets, and the one error type of the device-tree code.

use core::fmt;

/// Linux's MAX_FDT_SIZE: the kernel's fixmap window for the blob is this large.
pub const MAX_FDT_SIZE: usize = 2 * 1024 * 1024;
/// The header's first word.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Bytes of a version-17 header (ten words).
pub const HEADER_SIZE: usize = 40;
/// Structure-block tokens (devicetree specification 5.4.1).
pub const FDT_BEGIN_NODE: u32 = 1;
/// End of a node.
pub const FDT_END_NODE: u32 = 2;
/// A property: length, name offset, value.
pub const FDT_PROP: u32 = 3;
/// Padding a tree editor leaves behind.
pub const FDT_NOP: u32 = 4;
/// End of the structure block.
pub const FDT_END: u32 = 9;
/// Deepest node nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// Header words by index (each is a big-endian u32 at `4 * index`).
pub mod header {
    /// `magic`.
    pub const MAGIC: usize = 0;
    /// `totalsize`.
    pub const TOTALSIZE: usize = 1;
    /// `off_dt_struct`.
    pub const OFF_DT_STRUCT: usize = 2;
    /// `off_dt_strings`.
    pub const OFF_DT_STRINGS: usize = 3;
    /// `off_mem_rsvmap`.
    pub const OFF_MEM_RSVMAP: usize = 4;
    /// `version`.
    pub const VERSION: usize = 5;
    /// `last_comp_version`.
    pub const LAST_COMP_VERSION: usize = 6;
    /// `boot_cpuid_phys`.
    pub const BOOT_CPUID_PHYS: usize = 7;
    /// `size_dt_strings`.
    pub const SIZE_DT_STRINGS: usize = 8;
    /// `size_dt_struct`.
    pub const SIZE_DT_STRUCT: usize = 9;
}

/// Why a blob was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)] // each names what is bad, as the messages do
pub enum DtError {
    /// The first word is not 0xd00dfeed.
    BadMagic(u32),
    /// `totalsize` is smaller than the header or larger than MAX_FDT_SIZE.
    BadTotalSize(u32),
    /// The blob is older than version 16 or claims compatibility we lack.
    BadVersion(u32),
    /// A block lies outside `totalsize` or is misaligned.
    BadLayout(&'static str),
    /// The structure block is malformed at this offset.
    BadStructure(&'static str, u32),
    /// The memory reservation map has no terminating entry.
    BadReservationMap,
    /// The blob (`size` bytes) is larger than the `limit` that holds it
    /// (MAX_FDT_SIZE, or the buffer it is copied into).
    TooLarge { size: usize, limit: usize },
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DtError::BadMagic(m) => write!(f, "bad magic {m:#010x} (expected 0xd00dfeed)"),
            DtError::BadTotalSize(s) => write!(f, "bad totalsize {s} (truncated or oversized)"),
            DtError::BadVersion(v) => write!(f, "unsupported version {v}"),
            DtError::BadLayout(what) => write!(f, "{what} lies outside the blob or is misaligned (truncated?)"),
            DtError::BadStructure(what, off) => write!(f, "malformed structure block: {what} at offset {off:#x}"),
            DtError::BadReservationMap => write!(f, "memory reservation map is not terminated"),
            DtError::TooLarge { size, limit } => write!(
                f,
                "the blob is {size} bytes ({} KiB), larger than the kernel's {limit}-byte ({} KiB) device-tree limit",
                size.div_ceil(1024),
                limit / 1024
            ),
        }
    }
}

/// The big-endian u32 at `off`, if the slice holds it.
pub fn be32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The big-endian u64 at `off`, if the slice holds it.
pub fn be64(b: &[u8], off: usize) -> Option<u64> {
    Some(((be32(b, off)? as u64) << 32) | be32(b, off.checked_add(4)?)? as u64)
}

/// Header word `index` (see [`header`]), 0 if the slice is too short.
pub fn header_word(blob: &[u8], index: usize) -> u32 {
    be32(blob, index * 4).unwrap_or(0)
}
