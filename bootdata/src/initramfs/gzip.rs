//! gzip members (RFC 1952) around a DEFLATE stream, and CRC-32.
//!
//! ```text
//!   1f 8b 08 FLG MTIME(4) XFL OS
//!   [FEXTRA: XLEN(2) and XLEN bytes] [FNAME: ...\0] [FCOMMENT: ...\0]
//!   [FHCRC: the low 16 bits of the CRC-32 of the header so far]
//!   DEFLATE stream
//!   CRC32(4) ISIZE(4)      of the uncompressed data, little-endian
//! ```
//!
//! FTEXT is a hint and ignored; the reserved flag bits must be clear (RFC
//! 1952 2.3.1.2: a decoder must refuse them). The trailer is checked: the
//! CRC-32 of what was decoded, and its length modulo 2^32. One call decodes
//! one member; a file of several members (`cat a.gz b.gz`) is several calls,
//! which is how the initramfs walker treats it, as Linux does.

use super::inflate::{InflateError, inflate};
use alloc::vec::Vec;
use core::fmt;

/// The two bytes every gzip member starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FRESERVED: u8 = 0xe0;

/// Why a gzip member could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GzipError {
    /// No `1f 8b` at the start.
    NotGzip,
    /// A compression method other than 8 (deflate).
    Method(u8),
    /// Reserved flag bits set.
    ReservedFlags(u8),
    /// The input ended in the header (or an optional field of it).
    TruncatedHeader,
    /// The FHCRC field does not match the header.
    HeaderCrc,
    /// The input ended before the 8-byte trailer.
    TruncatedTrailer,
    /// The DEFLATE stream is bad.
    Inflate(InflateError),
    /// The trailer's CRC-32 is not that of the decoded data.
    DataCrc { stored: u32, computed: u32 },
    /// The trailer's ISIZE is not the decoded length (mod 2^32).
    Size { stored: u32, computed: u32 },
}

impl fmt::Display for GzipError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GzipError::NotGzip => f.write_str("not gzip data"),
            GzipError::Method(m) => write!(f, "unknown compression method {m}"),
            GzipError::ReservedFlags(fl) => write!(f, "reserved header flags set ({fl:#04x})"),
            GzipError::TruncatedHeader => f.write_str("header truncated"),
            GzipError::HeaderCrc => f.write_str("header CRC mismatch"),
            GzipError::TruncatedTrailer => f.write_str("trailer truncated"),
            GzipError::Inflate(e) => write!(f, "{e}"),
            GzipError::DataCrc { stored, computed } => {
                write!(f, "crc error (stored {stored:#010x}, computed {computed:#010x})")
            }
            GzipError::Size { stored, computed } => {
                write!(f, "length error (stored {stored}, decoded {computed})")
            }
        }
    }
}

impl From<InflateError> for GzipError {
    fn from(e: InflateError) -> Self {
        GzipError::Inflate(e)
    }
}

/// CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320), one table.
const CRC_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { 0xedb8_8320 ^ (c >> 1) } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

/// Continue a CRC-32 over `data` (start with `crc32(0, ..)`).
pub fn crc32(crc: u32, data: &[u8]) -> u32 {
    let mut c = !crc;
    for &b in data {
        c = CRC_TABLE[usize::from((c as u8) ^ b)] ^ (c >> 8);
    }
    !c
}

/// A cursor over the header bytes.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], GzipError> {
        let end = self.pos.checked_add(n).ok_or(GzipError::TruncatedHeader)?;
        let s = self.data.get(self.pos..end).ok_or(GzipError::TruncatedHeader)?;
        self.pos = end;
        Ok(s)
    }

    fn byte(&mut self) -> Result<u8, GzipError> {
        self.take(1)?.first().copied().ok_or(GzipError::TruncatedHeader)
    }

    fn le16(&mut self) -> Result<u16, GzipError> {
        match *self.take(2)? {
            [a, b] => Ok(u16::from_le_bytes([a, b])),
            _ => Err(GzipError::TruncatedHeader),
        }
    }

    /// Up to and including the next NUL.
    fn skip_cstr(&mut self) -> Result<(), GzipError> {
        let rest = self.data.get(self.pos..).ok_or(GzipError::TruncatedHeader)?;
        let nul = rest.iter().position(|&b| b == 0).ok_or(GzipError::TruncatedHeader)?;
        self.take(nul + 1).map(|_| ())
    }
}

/// Decode the gzip member at the start of `input`, appending the data to
/// `out` (which never grows past `limit_bytes` in all). Returns the number
/// of input bytes the member took, trailer included.
pub fn decompress(input: &[u8], out: &mut Vec<u8>, limit_bytes: usize) -> Result<usize, GzipError> {
    let mut c = Cursor { data: input, pos: 0 };
    if input.get(..2) != Some(&GZIP_MAGIC[..]) {
        return Err(GzipError::NotGzip);
    }
    c.take(2)?;
    let method = c.byte()?;
    if method != 8 {
        return Err(GzipError::Method(method));
    }
    let flags = c.byte()?;
    if flags & FRESERVED != 0 {
        return Err(GzipError::ReservedFlags(flags));
    }
    c.take(6)?; // MTIME, XFL, OS
    if flags & FEXTRA != 0 {
        let xlen = c.le16()?;
        c.take(usize::from(xlen))?;
    }
    if flags & FNAME != 0 {
        c.skip_cstr()?;
    }
    if flags & FCOMMENT != 0 {
        c.skip_cstr()?;
    }
    if flags & FHCRC != 0 {
        let header = input.get(..c.pos).ok_or(GzipError::TruncatedHeader)?;
        let want = crc32(0, header) as u16;
        if c.le16()? != want {
            return Err(GzipError::HeaderCrc);
        }
    }
    let body = input.get(c.pos..).ok_or(GzipError::TruncatedHeader)?;
    let start = out.len();
    let used = inflate(body, out, limit_bytes)?;
    let trailer_at = c.pos.checked_add(used).ok_or(GzipError::TruncatedTrailer)?;
    let trailer = input.get(trailer_at..).and_then(|t| t.get(..8)).ok_or(GzipError::TruncatedTrailer)?;
    let (stored_crc, stored_size) = match *trailer {
        [a, b, c, d, e, f, g, h] => (u32::from_le_bytes([a, b, c, d]), u32::from_le_bytes([e, f, g, h])),
        _ => return Err(GzipError::TruncatedTrailer),
    };
    let data = out.get(start..).unwrap_or(&[]);
    let computed = crc32(0, data);
    if computed != stored_crc {
        return Err(GzipError::DataCrc { stored: stored_crc, computed });
    }
    let size = data.len() as u32; // ISIZE is the length modulo 2^32
    if size != stored_size {
        return Err(GzipError::Size { stored: stored_size, computed: size });
    }
    Ok(trailer_at + 8)
}
