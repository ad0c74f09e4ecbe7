//! Reading properties: cells, numbers and strings, `reg`-shaped pairs,
//! and translating an address through the buses' `ranges`. Shared by the
//! tree's parsers (`parse`, `gic`).

use super::raw::{be32, be64};
use fdt::node::FdtNode;

pub(super) fn cells(data: &[u8], ncells: usize, idx: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for _ in 0..ncells {
        v = (v << 32) | be32(data, *idx)? as u64;
        *idx += 4;
    }
    Some(v)
}

pub(super) fn prop_u32(node: FdtNode<'_, '_>, name: &str) -> Option<u32> {
    be32(node.property(name)?.value, 0)
}

/// A u32 or u64 property, by its length.
pub(super) fn prop_u32_or_u64(node: FdtNode<'_, '_>, name: &str) -> Option<u64> {
    let v = node.property(name)?.value;
    match v.len() {
        4 => be32(v, 0).map(u64::from),
        8 => be64(v, 0),
        _ => None,
    }
}

pub(super) fn prop_str<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let v = node.property(name)?.value;
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    core::str::from_utf8(&v[..end]).ok()
}

/// `#address-cells` and `#size-cells` a node gives its children (defaults 2, 1).
pub(super) fn child_cells(node: FdtNode<'_, '_>) -> (usize, usize) {
    let ac = prop_u32(node, "#address-cells").unwrap_or(2) as usize;
    let sc = prop_u32(node, "#size-cells").unwrap_or(1) as usize;
    (ac, sc)
}

/// Decode `reg`-shaped (address, size) pairs.
pub(super) fn decode_pairs<'a>(data: &'a [u8], ac: usize, sc: usize) -> impl Iterator<Item = (u64, u64)> + 'a {
    let stride = 4 * (ac + sc);
    let n = if stride == 0 || ac > 2 || sc > 2 { 0 } else { data.len() / stride };
    (0..n).filter_map(move |i| {
        let mut idx = i * stride;
        let a = cells(data, ac, &mut idx)?;
        let s = cells(data, sc, &mut idx)?;
        Some((a, s))
    })
}

/// `chain` is [root, ..., the node's parent]: translate an address the node
/// uses (a `reg`) through each bus's `ranges`, innermost first.
pub(super) fn translate_chain(chain: &[FdtNode<'_, '_>], mut addr: u64) -> Option<u64> {
    for i in (1..chain.len()).rev() {
        let (bus, parent) = (chain[i], chain[i - 1]);
        let ranges = bus.property("ranges")?; // no `ranges`: not translatable
        if ranges.value.is_empty() {
            continue; // identity
        }
        let (cac, csc) = child_cells(bus);
        let (pac, _) = child_cells(parent);
        let stride = 4 * (cac + pac + csc);
        if stride == 0 || cac > 2 || pac > 2 || csc > 2 {
            return None;
        }
        let mut found = None;
        for j in 0..ranges.value.len() / stride {
            let mut idx = j * stride;
            let child = cells(ranges.value, cac, &mut idx)?;
            let parent_addr = cells(ranges.value, pac, &mut idx)?;
            let size = cells(ranges.value, csc, &mut idx)?;
            // A range whose parent side wraps past 2^64 translates nothing.
            if addr >= child && addr - child < size {
                found = parent_addr.checked_add(addr - child).filter(|_| parent_addr.checked_add(size - 1).is_some());
                break;
            }
        }
        addr = found?;
    }
    Some(addr)
}
