//! Validation of a whole blob before anything trusts it (libfdt's
//! fdt_check_full, written anew).
//!
//! The checks, in order: the magic; `totalsize` between the header's size
//! and MAX_FDT_SIZE and within the bytes given; version 16 or later with a
//! compatible `last_comp_version`; the structure block 4-byte aligned and
//! inside the blob, the strings block inside the blob, the reservation map
//! 8-byte aligned after the header; the reservation map terminated by an
//! all-zero entry inside the blob; then one pass over the structure block:
//! it starts with the root's FDT_BEGIN_NODE, node names are NUL-terminated
//! UTF-8, nesting stays under MAX_DEPTH and balances, every property lies
//! inside a node, before the node's children (devicetree specification
//! 5.4.2; the `fdt` crate asserts it), with its value inside the block and
//! its name a NUL-terminated UTF-8 string inside the strings block, only
//! known tokens appear, and after the root closes only FDT_NOP and FDT_END
//! follow.
//!
//! [`check_no_nops`] is the extra condition [`parse`](super::parse) sets:
//! the `fdt` crate loses nodes, or asserts, when NOP tokens sit between a
//! node's properties and children, so it is only given compacted blobs.

use super::raw::{
    DtError, FDT_BEGIN_NODE, FDT_END, FDT_END_NODE, FDT_MAGIC, FDT_NOP, FDT_PROP, HEADER_SIZE, MAX_DEPTH, MAX_FDT_SIZE,
    be32, be64, header, header_word,
};

/// The header's `totalsize`, after checking the magic (for sizing the mapping).
pub fn header_total_size(header: &[u8]) -> Result<usize, DtError> {
    let magic = be32(header, 0).ok_or(DtError::BadMagic(0))?;
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic(magic));
    }
    let total = be32(header, 4).ok_or(DtError::BadTotalSize(0))?;
    if total as usize > MAX_FDT_SIZE {
        return Err(DtError::TooLarge { size: total as usize, limit: MAX_FDT_SIZE });
    }
    if (total as usize) < HEADER_SIZE {
        return Err(DtError::BadTotalSize(total));
    }
    Ok(total as usize)
}

/// Check a whole blob. `Ok` means every offset and length in it can be
/// followed without leaving the blob, and the structure block is well formed.
pub fn check_full(blob: &[u8]) -> Result<(), DtError> {
    let total = header_total_size(blob)?;
    if total > blob.len() {
        return Err(DtError::BadTotalSize(total as u32));
    }
    let b = &blob[..total];
    let hdr = |i: usize| header_word(b, i);
    let (off_struct, off_strings, off_rsvmap) = (
        hdr(header::OFF_DT_STRUCT) as usize,
        hdr(header::OFF_DT_STRINGS) as usize,
        hdr(header::OFF_MEM_RSVMAP) as usize,
    );
    let (version, last_comp) = (hdr(header::VERSION), hdr(header::LAST_COMP_VERSION));
    let (size_strings, size_struct) = (hdr(header::SIZE_DT_STRINGS) as usize, hdr(header::SIZE_DT_STRUCT) as usize);
    if version < 16 || last_comp > 17 {
        return Err(DtError::BadVersion(version));
    }
    let in_bounds = |off: usize, size: usize| off.checked_add(size).is_some_and(|e| e <= total);
    if !off_struct.is_multiple_of(4) || !in_bounds(off_struct, size_struct) || size_struct < 8 {
        return Err(DtError::BadLayout("structure block"));
    }
    if !in_bounds(off_strings, size_strings) {
        return Err(DtError::BadLayout("strings block"));
    }
    if !off_rsvmap.is_multiple_of(8) || off_rsvmap < HEADER_SIZE || off_rsvmap >= total {
        return Err(DtError::BadLayout("memory reservation map"));
    }
    check_reservation_map(b, off_rsvmap)?;
    check_structure(&b[off_struct..off_struct + size_struct], &b[off_strings..off_strings + size_strings])
}

/// The reservation map ends with an all-zero entry inside the blob.
fn check_reservation_map(b: &[u8], mut off: usize) -> Result<(), DtError> {
    loop {
        let (addr, size) = match (be64(b, off), be64(b, off + 8)) {
            (Some(a), Some(s)) => (a, s),
            _ => return Err(DtError::BadReservationMap),
        };
        off += 16;
        if addr == 0 && size == 0 {
            return Ok(());
        }
    }
}

/// One pass over the structure block `s`, property names looked up in `strings`.
fn check_structure(s: &[u8], strings: &[u8]) -> Result<(), DtError> {
    let mut off = 0usize;
    let mut depth = 0usize;
    // Bit d set: the open node at depth d already has a child node.
    let mut has_child = 0u128;
    let mut first = true;
    loop {
        let tok = be32(s, off)
            .ok_or(DtError::BadStructure("no FDT_END token at the end of the structure block", off as u32))?;
        let at = off as u32;
        off += 4;
        if first && tok != FDT_BEGIN_NODE {
            return Err(DtError::BadStructure("does not start with the root node", at));
        }
        first = false;
        match tok {
            FDT_BEGIN_NODE => {
                let name_len =
                    s[off..].iter().position(|&c| c == 0).ok_or(DtError::BadStructure("unterminated node name", at))?;
                if core::str::from_utf8(&s[off..off + name_len]).is_err() {
                    return Err(DtError::BadStructure("node name is not UTF-8", at));
                }
                off = (off + name_len + 1).next_multiple_of(4);
                has_child |= 1 << depth;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DtError::BadStructure("nodes nested too deep", at));
                }
                has_child &= !(1 << depth);
            }
            FDT_END_NODE => {
                depth = depth.checked_sub(1).ok_or(DtError::BadStructure("unbalanced end of node", at))?;
            }
            FDT_PROP => {
                if depth == 0 {
                    return Err(DtError::BadStructure("property outside a node", at));
                }
                if has_child & (1 << depth) != 0 {
                    return Err(DtError::BadStructure("property after a child node", at));
                }
                let len = be32(s, off).ok_or(DtError::BadStructure("truncated property", at))? as usize;
                let nameoff = be32(s, off + 4).ok_or(DtError::BadStructure("truncated property", at))? as usize;
                off += 8;
                if off.checked_add(len).is_none_or(|e| e > s.len()) {
                    return Err(DtError::BadStructure("property value past the block", at));
                }
                let name = strings.get(nameoff..).and_then(|t| t.iter().position(|&c| c == 0).map(|n| &t[..n]));
                match name {
                    None => return Err(DtError::BadStructure("property name outside the strings block", at)),
                    // The fdt crate (and every consumer) expects UTF-8 names.
                    Some(n) if core::str::from_utf8(n).is_err() => {
                        return Err(DtError::BadStructure("property name is not UTF-8", at));
                    }
                    Some(_) => {}
                }
                off = (off + len).next_multiple_of(4);
            }
            FDT_NOP => {}
            FDT_END => {
                if depth != 0 {
                    return Err(DtError::BadStructure("FDT_END inside a node", at));
                }
                return Ok(());
            }
            _ => return Err(DtError::BadStructure("unknown token", at)),
        }
        if depth == 0 {
            // After the root node closes only NOPs and FDT_END may follow.
            loop {
                match be32(s, off) {
                    Some(FDT_NOP) => off += 4,
                    Some(FDT_END) => return Ok(()),
                    None => {
                        return Err(DtError::BadStructure(
                            "no FDT_END token at the end of the structure block",
                            off as u32,
                        ));
                    }
                    Some(_) => return Err(DtError::BadStructure("data after the root node", off as u32)),
                }
            }
        }
    }
}

/// Refuse a checked blob that still holds FDT_NOP tokens (see the module
/// docs): `Ok` for a compacted blob.
pub fn check_no_nops(blob: &[u8]) -> Result<(), DtError> {
    let (off_struct, size_struct) =
        (header_word(blob, header::OFF_DT_STRUCT) as usize, header_word(blob, header::SIZE_DT_STRUCT) as usize);
    let s =
        blob.get(off_struct..off_struct.saturating_add(size_struct)).ok_or(DtError::BadLayout("structure block"))?;
    let mut off = 0usize;
    loop {
        let at = off as u32;
        let len = match be32(s, off) {
            Some(FDT_BEGIN_NODE) => {
                let name = s.get(off + 4..).and_then(|n| n.iter().position(|&c| c == 0));
                4 + (name.ok_or(DtError::BadStructure("unterminated node name", at))? + 1).next_multiple_of(4)
            }
            Some(FDT_PROP) => 12 + (be32(s, off + 4).unwrap_or(0) as usize).next_multiple_of(4),
            Some(FDT_NOP) => return Err(DtError::BadStructure("FDT_NOP token (the blob is not compacted)", at)),
            Some(FDT_END) => return Ok(()),
            Some(_) => 4,
            None => return Err(DtError::BadStructure("missing FDT_END", at)),
        };
        off += len;
    }
}
