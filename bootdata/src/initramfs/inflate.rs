//! DEFLATE (RFC 1951): stored, fixed-Huffman and dynamic-Huffman blocks.
//!
//! The decoder reads a whole compressed stream from a slice and appends what
//! it decodes to a caller's `Vec<u8>`, which is also its window: a match
//! copies bytes already in the vector, from this stream's part of it only
//! (the bytes before `out.len()` at entry belong to someone else and a
//! distance reaching them is an error). The vector never grows past the
//! caller's `limit_bytes` ([`InflateError::LimitExceeded`]); it grows by
//! `try_reserve`, so running out of memory is an error value too.
//!
//! Huffman codes are decoded canonically, one bit at a time: for each code
//! length the number of codes of that length is known, and a code of length
//! `n` is the index of its symbol among the symbols of length `n`, counted
//! from the first code of that length (RFC 1951 3.2.2). That needs no
//! tables beyond the per-length counts and the symbols sorted by code, both
//! built in fixed arrays per block; it is slower than a lookup table but has
//! nothing to get wrong at table boundaries, and an initramfs is decoded
//! once per boot.
//!
//! Code sets are checked as zlib checks them: an over-subscribed set is an
//! error; an incomplete set is allowed for the literal/length and distance
//! codes only when it is a single code of length one (what a compressor
//! emits for a block with one distance), and never for the code-length code.
//! Every slice access is `get`, every count is bounded before use, so no
//! input can make the decoder panic or overflow.

use alloc::vec::Vec;
use core::fmt;

/// Why a DEFLATE stream could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// The input ended inside the stream.
    Truncated,
    /// Block type 3 (reserved).
    BadBlockType,
    /// A stored block whose LEN and NLEN are not complements.
    StoredLength,
    /// A dynamic block's header: more than 286 literal/length or 30
    /// distance codes, or a repeat with nothing to repeat or running past
    /// the end of the lengths.
    BadCodeLengths,
    /// A set of code lengths that is over-subscribed, or incomplete where a
    /// complete one is required.
    BadCode,
    /// A literal/length block without an end-of-block code.
    NoEndOfBlock,
    /// A bit pattern that is no code of the set, or a length or distance
    /// symbol that RFC 1951 reserves (286, 287, 30, 31).
    BadSymbol,
    /// A match that reaches back before the start of this stream's output.
    DistanceTooFar,
    /// The output would exceed the caller's limit.
    LimitExceeded,
    /// The output vector could not grow.
    NoMemory,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::Truncated => "compressed data truncated",
            InflateError::BadBlockType => "invalid block type 3",
            InflateError::StoredLength => "stored block length does not match its complement",
            InflateError::BadCodeLengths => "invalid code lengths in a dynamic block header",
            InflateError::BadCode => "over-subscribed or incomplete Huffman code",
            InflateError::NoEndOfBlock => "literal/length code without an end-of-block code",
            InflateError::BadSymbol => "invalid Huffman code or reserved symbol",
            InflateError::DistanceTooFar => "match distance too far back",
            InflateError::LimitExceeded => "output exceeds the size limit",
            InflateError::NoMemory => "out of memory for the output",
        })
    }
}

/// Longest code (RFC 1951 3.2.2).
const MAX_BITS: usize = 15;
/// Literal/length symbols a block may use (0..=285), plus the two the
/// fixed code reserves.
const MAX_LITLEN: usize = 288;
/// Distance symbols (0..=29), plus the two the fixed code reserves.
const MAX_DIST: usize = 32;

/// Base lengths for symbols 257..=285 (RFC 1951 3.2.5).
const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
/// Extra bits for symbols 257..=285.
const LENGTH_EXTRA: [u8; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
/// Base distances for symbols 0..=29.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
/// Extra bits for distance symbols 0..=29.
const DIST_EXTRA: [u8; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/// The order in which a dynamic header gives the code-length code's lengths.
const CLEN_ORDER: [usize; 19] = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/// Bits in LSB-first order from a byte slice.
struct BitReader<'a> {
    data: &'a [u8],
    /// Next byte to load.
    pos: usize,
    /// Loaded bits not yet consumed, the next one in bit 0.
    buf: u64,
    /// How many bits of `buf` are valid (always below 8 between calls).
    nbits: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0, buf: 0, nbits: 0 }
    }

    /// The next `n` bits (`n <= 16`), first bit in bit 0.
    fn bits(&mut self, n: u32) -> Result<u32, InflateError> {
        while self.nbits < n {
            let b = *self.data.get(self.pos).ok_or(InflateError::Truncated)?;
            self.pos += 1;
            self.buf |= u64::from(b) << self.nbits;
            self.nbits += 8;
        }
        let v = (self.buf & ((1u64 << n) - 1)) as u32;
        self.buf >>= n;
        self.nbits -= n;
        Ok(v)
    }

    /// Drop the rest of the current byte (before a stored block's LEN).
    fn align_to_byte(&mut self) {
        self.buf = 0;
        self.nbits = 0;
    }

    /// The next `n` whole bytes, after `align_to_byte`.
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], InflateError> {
        let end = self.pos.checked_add(n).ok_or(InflateError::Truncated)?;
        let s = self.data.get(self.pos..end).ok_or(InflateError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
}

/// A canonical Huffman code: how many codes of each length, and the
/// symbols in code order.
struct Huffman<const N: usize> {
    count: [u16; MAX_BITS + 1],
    symbol: [u16; N],
}

/// What building a code found.
#[derive(PartialEq, Eq)]
enum Completeness {
    Complete,
    /// Incomplete, with this many codes in all.
    Incomplete(usize),
}

impl<const N: usize> Huffman<N> {
    /// The code for `lengths` (one per symbol, 0 = unused; at most `N`).
    fn new(lengths: &[u8]) -> Result<(Self, Completeness), InflateError> {
        let mut h = Huffman { count: [0; MAX_BITS + 1], symbol: [0; N] };
        if lengths.len() > N {
            return Err(InflateError::BadCode);
        }
        for &l in lengths {
            let c = h.count.get_mut(usize::from(l)).ok_or(InflateError::BadCode)?;
            *c += 1; // at most N <= 288 per length
        }
        // Kraft: codes left to assign at each length; negative is over-subscribed.
        let mut left: i32 = 1;
        for len in 1..=MAX_BITS {
            left <<= 1;
            left -= i32::from(h.count.get(len).copied().unwrap_or(0));
            if left < 0 {
                return Err(InflateError::BadCode);
            }
        }
        // Offsets of each length's first symbol in `symbol`.
        let mut offs = [0u16; MAX_BITS + 2];
        for len in 1..=MAX_BITS {
            let next = offs.get(len).copied().unwrap_or(0) + h.count.get(len).copied().unwrap_or(0);
            if let Some(o) = offs.get_mut(len + 1) {
                *o = next;
            }
        }
        for (sym, &l) in lengths.iter().enumerate() {
            if l == 0 {
                continue;
            }
            let o = offs.get_mut(usize::from(l)).ok_or(InflateError::BadCode)?;
            let slot = h.symbol.get_mut(usize::from(*o)).ok_or(InflateError::BadCode)?;
            *slot = sym as u16; // sym < N <= 288
            *o += 1;
        }
        let used = lengths.len() - usize::from(h.count.first().copied().unwrap_or(0));
        let c = if left == 0 { Completeness::Complete } else { Completeness::Incomplete(used) };
        Ok((h, c))
    }

    /// Decode one symbol.
    fn decode(&self, br: &mut BitReader<'_>) -> Result<u16, InflateError> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..=MAX_BITS {
            code |= br.bits(1)? as i32;
            let count = i32::from(self.count.get(len).copied().unwrap_or(0));
            if code - first < count {
                let i = usize::try_from(index + code - first).map_err(|_| InflateError::BadSymbol)?;
                return self.symbol.get(i).copied().ok_or(InflateError::BadSymbol);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err(InflateError::BadSymbol)
    }
}

/// Appends bytes to the caller's vector within its limit.
struct Output<'o> {
    out: &'o mut Vec<u8>,
    /// Where this stream's output starts (matches may not reach before).
    start: usize,
    limit: usize,
}

impl Output<'_> {
    /// Room for `n` more bytes, or the error that says why not.
    fn reserve(&mut self, n: usize) -> Result<(), InflateError> {
        let want = self.out.len().checked_add(n).ok_or(InflateError::LimitExceeded)?;
        if want > self.limit {
            return Err(InflateError::LimitExceeded);
        }
        if want > self.out.capacity() {
            // Grow geometrically, never past the limit.
            let grow = n.max(self.out.len()).max(4096).min(self.limit - self.out.len());
            self.out.try_reserve(grow).map_err(|_| InflateError::NoMemory)?;
        }
        Ok(())
    }

    fn literal(&mut self, b: u8) -> Result<(), InflateError> {
        self.reserve(1)?;
        self.out.push(b);
        Ok(())
    }

    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), InflateError> {
        if dist > self.out.len() - self.start {
            return Err(InflateError::DistanceTooFar);
        }
        self.reserve(len)?;
        for _ in 0..len {
            // dist <= len - start <= len, and len only grows: in range.
            let b = *self.out.get(self.out.len() - dist).ok_or(InflateError::DistanceTooFar)?;
            self.out.push(b);
        }
        Ok(())
    }
}

/// Decode the DEFLATE stream at the start of `input`, appending to `out`
/// (never past `limit_bytes` in all). Returns how many input bytes the
/// stream took (up to the end of the byte holding its last bit).
pub fn inflate(input: &[u8], out: &mut Vec<u8>, limit_bytes: usize) -> Result<usize, InflateError> {
    let mut br = BitReader::new(input);
    let start = out.len();
    let mut o = Output { out, start, limit: limit_bytes };
    loop {
        let last = br.bits(1)? == 1;
        match br.bits(2)? {
            0 => stored(&mut br, &mut o)?,
            1 => fixed(&mut br, &mut o)?,
            2 => dynamic(&mut br, &mut o)?,
            _ => return Err(InflateError::BadBlockType),
        }
        if last {
            return Ok(br.pos);
        }
    }
}

fn stored(br: &mut BitReader<'_>, o: &mut Output<'_>) -> Result<(), InflateError> {
    br.align_to_byte();
    let h = br.bytes(4)?;
    let (len, nlen) = match *h {
        [a, b, c, d] => (u16::from_le_bytes([a, b]), u16::from_le_bytes([c, d])),
        _ => return Err(InflateError::Truncated),
    };
    if len != !nlen {
        return Err(InflateError::StoredLength);
    }
    let data = br.bytes(usize::from(len))?;
    o.reserve(data.len())?;
    o.out.extend_from_slice(data);
    Ok(())
}

fn fixed(br: &mut BitReader<'_>, o: &mut Output<'_>) -> Result<(), InflateError> {
    let mut lengths = [0u8; MAX_LITLEN];
    for (i, l) in lengths.iter_mut().enumerate() {
        *l = match i {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    let (lit, _) = Huffman::<MAX_LITLEN>::new(&lengths)?;
    let (dist, _) = Huffman::<MAX_DIST>::new(&[5u8; MAX_DIST])?;
    codes(br, o, &lit, &dist)
}

fn dynamic(br: &mut BitReader<'_>, o: &mut Output<'_>) -> Result<(), InflateError> {
    let nlen = br.bits(5)? as usize + 257;
    let ndist = br.bits(5)? as usize + 1;
    let ncode = br.bits(4)? as usize + 4;
    if nlen > 286 || ndist > 30 {
        return Err(InflateError::BadCodeLengths);
    }
    let mut clens = [0u8; 19];
    for &i in CLEN_ORDER.iter().take(ncode) {
        if let Some(l) = clens.get_mut(i) {
            *l = br.bits(3)? as u8;
        }
    }
    let (clen, c) = Huffman::<19>::new(&clens)?;
    if c != Completeness::Complete {
        return Err(InflateError::BadCode);
    }
    // Literal/length then distance lengths, as one run (repeats may cross).
    let mut lengths = [0u8; 286 + 30];
    let total = nlen + ndist;
    let mut i = 0;
    while i < total {
        let sym = clen.decode(br)?;
        let (value, repeat) = match sym {
            0..=15 => (sym as u8, 1),
            16 => {
                let prev = i.checked_sub(1).and_then(|p| lengths.get(p)).ok_or(InflateError::BadCodeLengths)?;
                (*prev, 3 + br.bits(2)? as usize)
            }
            17 => (0, 3 + br.bits(3)? as usize),
            _ => (0, 11 + br.bits(7)? as usize),
        };
        if i + repeat > total {
            return Err(InflateError::BadCodeLengths);
        }
        for l in lengths.get_mut(i..i + repeat).ok_or(InflateError::BadCodeLengths)? {
            *l = value;
        }
        i += repeat;
    }
    let lit_lengths = lengths.get(..nlen).ok_or(InflateError::BadCodeLengths)?;
    let dist_lengths = lengths.get(nlen..total).ok_or(InflateError::BadCodeLengths)?;
    if lit_lengths.get(256).copied().unwrap_or(0) == 0 {
        return Err(InflateError::NoEndOfBlock);
    }
    let (lit, c) = Huffman::<MAX_LITLEN>::new(lit_lengths)?;
    if let Completeness::Incomplete(n) = c
        && n != 1
    {
        return Err(InflateError::BadCode);
    }
    let (dist, c) = Huffman::<MAX_DIST>::new(dist_lengths)?;
    if let Completeness::Incomplete(n) = c
        && n != 1
    {
        return Err(InflateError::BadCode);
    }
    codes(br, o, &lit, &dist)
}

/// The symbols of one Huffman block, up to its end-of-block code.
fn codes(
    br: &mut BitReader<'_>,
    o: &mut Output<'_>,
    lit: &Huffman<MAX_LITLEN>,
    dist: &Huffman<MAX_DIST>,
) -> Result<(), InflateError> {
    loop {
        let sym = lit.decode(br)?;
        match sym {
            0..=255 => o.literal(sym as u8)?,
            256 => return Ok(()),
            _ => {
                let i = usize::from(sym - 257);
                let base = *LENGTH_BASE.get(i).ok_or(InflateError::BadSymbol)?;
                let extra = *LENGTH_EXTRA.get(i).ok_or(InflateError::BadSymbol)?;
                let len = usize::from(base) + br.bits(u32::from(extra))? as usize;
                let d = usize::from(dist.decode(br)?);
                let base = *DIST_BASE.get(d).ok_or(InflateError::BadSymbol)?;
                let extra = *DIST_EXTRA.get(d).ok_or(InflateError::BadSymbol)?;
                let distance = usize::from(base) + br.bits(u32::from(extra))? as usize;
                o.copy_match(distance, len)?;
            }
        }
    }
}
