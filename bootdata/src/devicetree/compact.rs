//! Compaction: a checked blob copied without padding or FDT_NOP tokens.
//!
//! NOPs are legal (libfdt leaves them when it edits a tree, and QEMU edits
//! /memory and /chosen), but `fdt` 0.1.5 stops skipping a node at the first
//! NOP after a property, so without this it misses every node that follows.
//! The copy is laid out header, reservation map, structure block, strings
//! block, with no gaps, and is checked again before it is returned.

use super::check::check_full;
use super::raw::{DtError, FDT_BEGIN_NODE, FDT_END, FDT_NOP, FDT_PROP, HEADER_SIZE, be32, be64, header, header_word};

/// Copy a blob that passes [`check_full`] into `out` without padding or NOP
/// tokens. Returns the compacted blob, a prefix of `out`.
pub fn compact<'o>(blob: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], DtError> {
    check_full(blob)?;
    let hdr = |i: usize| header_word(blob, i) as usize;
    let (off_struct, off_strings, off_rsvmap) =
        (hdr(header::OFF_DT_STRUCT), hdr(header::OFF_DT_STRINGS), hdr(header::OFF_MEM_RSVMAP));
    let (size_strings, size_struct) = (hdr(header::SIZE_DT_STRINGS), hdr(header::SIZE_DT_STRUCT));
    // The reservation map, with its terminator.
    let mut rsv_len = 0;
    while be64(blob, off_rsvmap + rsv_len).unwrap_or(0) != 0 || be64(blob, off_rsvmap + rsv_len + 8).unwrap_or(0) != 0 {
        rsv_len += 16;
    }
    rsv_len += 16;
    let new_rsv = HEADER_SIZE.next_multiple_of(8);
    let new_struct = new_rsv + rsv_len;
    let too_big = DtError::TooLarge { size: blob.len(), limit: out.len() };
    if new_struct + size_struct + size_strings > out.len() {
        return Err(too_big);
    }
    out[..HEADER_SIZE].copy_from_slice(&blob[..HEADER_SIZE]);
    out[new_rsv..new_struct].copy_from_slice(&blob[off_rsvmap..off_rsvmap + rsv_len]);
    // Structure block: copy token by token, leaving out NOPs.
    let src = &blob[off_struct..off_struct + size_struct];
    let (mut i, mut o) = (0usize, new_struct);
    loop {
        let tok = be32(src, i).ok_or(DtError::BadStructure("missing FDT_END", i as u32))?;
        let len = match tok {
            FDT_BEGIN_NODE => {
                let n = src[i + 4..].iter().position(|&c| c == 0).unwrap_or(0);
                4 + (n + 1).next_multiple_of(4)
            }
            FDT_PROP => 12 + (be32(src, i + 4).unwrap_or(0) as usize).next_multiple_of(4),
            _ => 4,
        };
        if tok != FDT_NOP {
            out[o..o + len].copy_from_slice(&src[i..i + len]);
            o += len;
        }
        i += len;
        if tok == FDT_END {
            break;
        }
    }
    let new_size_struct = o - new_struct;
    let new_strings = o;
    out[new_strings..new_strings + size_strings].copy_from_slice(&blob[off_strings..off_strings + size_strings]);
    let total = new_strings + size_strings;
    let put = |out: &mut [u8], i: usize, v: usize| out[i * 4..i * 4 + 4].copy_from_slice(&(v as u32).to_be_bytes());
    put(out, header::TOTALSIZE, total);
    put(out, header::OFF_DT_STRUCT, new_struct);
    put(out, header::OFF_DT_STRINGS, new_strings);
    put(out, header::OFF_MEM_RSVMAP, new_rsv);
    put(out, header::SIZE_DT_STRUCT, new_size_struct);
    let c = &out[..total];
    check_full(c)?;
    Ok(c)
}
