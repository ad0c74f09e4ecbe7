//! The device-tree checks refuse corrupt blobs without faulting, and the live
//! tree yields memory and a console.

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::{check, check_eq, fail};
use alloc::vec::Vec;
use bootdata::devicetree::{DtError, check_full, parse};

pub const TESTS: &[Test] = &[
    Test { suite: "fdt", name: "live_blob_is_valid", run: live_blob_is_valid },
    Test { suite: "fdt", name: "rejects_bad_magic", run: rejects_bad_magic },
    Test { suite: "fdt", name: "rejects_truncation", run: rejects_truncation },
    Test { suite: "fdt", name: "rejects_corrupt_structure", run: rejects_corrupt_structure },
    Test { suite: "fdt", name: "survives_header_bit_flips", run: survives_header_bit_flips },
    Test { suite: "fdt", name: "memory_and_console_found", run: memory_and_console_found },
    Test { suite: "fdt", name: "nop_tokens_tolerated", run: nop_tokens_tolerated },
];

/// FDT_NOP tokens between properties and nodes (as libfdt leaves them) hide
/// nothing once compacted: a regression test for fdt 0.1.5 missing nodes.
fn nop_tokens_tolerated() -> TestResult {
    let orig = copy();
    let be = |b: &[u8], i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    let (off_struct, off_strings, size_struct) = (be(&orig, 8), be(&orig, 12), be(&orig, 36));
    check!(off_strings == off_struct + size_struct, "compacted blob should have strings right after the structure");
    // After the root's name, put a NOP before every token of the root's first level.
    let mut b: Vec<u8> = orig[..off_struct + 8].to_vec();
    let nop = 4u32.to_be_bytes();
    let mut added = 0;
    let mut i = off_struct + 8;
    while i < off_struct + size_struct {
        let tok = be(&orig, i);
        let len = match tok {
            1 => 4 + (orig[i + 4..].iter().position(|&c| c == 0).unwrap_or(0) + 1).next_multiple_of(4),
            3 => 12 + be(&orig, i + 4).next_multiple_of(4),
            _ => 4,
        };
        if tok == 1 || tok == 3 {
            b.extend_from_slice(&nop);
            added += 4;
        }
        b.extend_from_slice(&orig[i..i + len]);
        i += len;
    }
    b.extend_from_slice(&orig[off_strings..]);
    let put = |b: &mut Vec<u8>, i: usize, v: usize| b[i..i + 4].copy_from_slice(&(v as u32).to_be_bytes());
    let total = b.len();
    put(&mut b, 4, total);
    put(&mut b, 12, off_strings + added);
    put(&mut b, 36, size_struct + added);
    check!(check_full(&b).is_ok(), "blob with NOPs rejected: {:?}", check_full(&b));
    let mut out = alloc::vec![0u8; b.len()];
    let c = match bootdata::devicetree::compact(&b, &mut out) {
        Ok(c) => c,
        Err(e) => fail!("compact failed: {e}"),
    };
    let (want, got) = (parse(&orig), parse(c));
    match (want, got) {
        (Ok(w), Ok(g)) => {
            check_eq!(g.cpus.len(), w.cpus.len());
            check_eq!(g.memory, w.memory);
            check_eq!(g.console, w.console);
            check_eq!(g.reserved.len(), w.reserved.len());
        }
        (w, g) => fail!("parse failed: {:?} / {:?}", w.err(), g.err()),
    }
    Ok(())
}

fn copy() -> Vec<u8> {
    state::get().dtb.to_vec()
}

fn live_blob_is_valid() -> TestResult {
    check!(check_full(state::get().dtb).is_ok(), "the live blob fails check_full");
    Ok(())
}

fn rejects_bad_magic() -> TestResult {
    let mut b = copy();
    b[0] ^= 0xff;
    check!(matches!(check_full(&b), Err(DtError::BadMagic(_))), "bad magic accepted");
    Ok(())
}

fn rejects_truncation() -> TestResult {
    let b = copy();
    for cut in [b.len() - 1, b.len() / 2, 40, 8] {
        check!(check_full(&b[..cut]).is_err(), "blob cut to {cut} bytes accepted");
    }
    Ok(())
}

fn rejects_corrupt_structure() -> TestResult {
    let mut b = copy();
    let off_struct = u32::from_be_bytes([b[8], b[9], b[10], b[11]]) as usize;
    // The first token must be FDT_BEGIN_NODE (1): make it an unknown token.
    b[off_struct + 3] = 0x77;
    check!(matches!(check_full(&b), Err(DtError::BadStructure(..))), "unknown first token accepted");
    // A property length running past the block.
    let mut b = copy();
    let size_struct = u32::from_be_bytes([b[36], b[37], b[38], b[39]]) as usize;
    let s = off_struct;
    let mut off = s + 4;
    while off < s + size_struct && b[off] != 0 {
        off += 1;
    }
    off = (off + 1).next_multiple_of(4);
    if u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]) != 3 {
        fail!("the root node does not start with a property; cannot aim the corruption");
    }
    b[off + 4..off + 8].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    check!(matches!(check_full(&b), Err(DtError::BadStructure(..))), "oversized property accepted");
    check!(parse(&b).is_err(), "parse accepted an oversized property");
    Ok(())
}

fn survives_header_bit_flips() -> TestResult {
    // Whatever the header says, checking never faults and never accepts an
    // inconsistent blob as something parse() then chokes on.
    // One low-bit and one high-bit flip in each of the ten header words.
    let mut b = copy();
    for word in 0..10 {
        for (byte, flip) in [(3usize, 0x01u8), (0, 0x80)] {
            let i = word * 4 + byte;
            b[i] ^= flip;
            if check_full(&b).is_ok() {
                let _ = parse(&b);
            }
            b[i] ^= flip;
        }
    }
    Ok(())
}

fn memory_and_console_found() -> TestResult {
    let dt = &state::get().dt;
    check!(!dt.memory.is_empty(), "no memory ranges");
    let total: u64 = dt.memory.iter().map(|m| m.size).sum();
    check!(total >= 16 << 20, "only {total} bytes of memory");
    match &dt.console {
        Some(c) => check!(c.pa != 0, "console at PA 0"),
        None => fail!("no console found in the device tree"),
    }
    check_eq!(parse(state::get().dtb).map(|d| d.memory.len()), Ok(dt.memory.len()));
    Ok(())
}
