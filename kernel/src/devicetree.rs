//! The flattened device tree: validation, then what the kernel needs from it.
//!
//! A blob from outside is checked in full before anything trusts it, the way
//! libfdt's fdt_check_full does: header fields, block bounds and alignment,
//! the memory reservation map's terminator, and one pass over the structure
//! block (token sequence, node nesting, property lengths, string offsets).
//! Only a blob that passes is handed to the `fdt` crate, so a corrupt or
//! truncated tree gives a one-line diagnosis instead of a fault.
//!
//! The blob is first compacted into a kernel buffer ([`compact`]): padding
//! and FDT_NOP tokens are dropped. NOPs are legal (libfdt leaves them when it
//! edits a tree, and QEMU edits /memory and /chosen), but `fdt` 0.1.5 stops
//! skipping a node at the first NOP after a property, so without this it
//! misses every node that follows.
//!
//! [`DtInfo`] then collects, with fixed capacities (no heap yet):
//! every /memory node's `reg` ranges and `numa-node-id`; /memreserve/;
//! /reserved-memory children (static `reg` or dynamic `size`, `alignment`,
//! `alloc-ranges`; `no-map`, `reusable`); /chosen (`bootargs`,
//! `stdout-path`, `kaslr-seed`, `rng-seed`, `linux,initrd-start`/`-end`);
//! /cpus (`reg`, `enable-method`, `cpu-release-addr`, `numa-node-id`);
//! /distance-map; /psci; and the console UART, translated to a CPU physical
//! address through every parent bus's `ranges`.

use crate::fixedstr::truncated;
use core::fmt;
use fdt::Fdt;
use fdt::node::FdtNode;
use heapless::{String, Vec};

/// Linux's MAX_FDT_SIZE: the fixmap window is this large.
pub const MAX_FDT_SIZE: usize = 2 * 1024 * 1024;
const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const MAX_DEPTH: usize = 64;

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
        }
    }
}

fn be32(b: &[u8], off: usize) -> Option<u32> {
    b.get(off..off + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be64(b: &[u8], off: usize) -> Option<u64> {
    Some(((be32(b, off)? as u64) << 32) | be32(b, off + 4)? as u64)
}

/// The header's `totalsize`, after checking the magic (for sizing the mapping).
pub fn header_total_size(header: &[u8]) -> Result<usize, DtError> {
    let magic = be32(header, 0).ok_or(DtError::BadMagic(0))?;
    if magic != FDT_MAGIC {
        return Err(DtError::BadMagic(magic));
    }
    let total = be32(header, 4).ok_or(DtError::BadTotalSize(0))?;
    if (total as usize) < 40 || total as usize > MAX_FDT_SIZE {
        return Err(DtError::BadTotalSize(total));
    }
    Ok(total as usize)
}

/// Check a whole blob (libfdt's fdt_check_full, written anew).
pub fn check_full(blob: &[u8]) -> Result<(), DtError> {
    let total = header_total_size(blob)?;
    if total > blob.len() {
        return Err(DtError::BadTotalSize(total as u32));
    }
    let b = &blob[..total];
    let hdr = |i: usize| be32(b, i * 4).unwrap_or(0);
    let (off_struct, off_strings, off_rsvmap) = (hdr(2) as usize, hdr(3) as usize, hdr(4) as usize);
    let (version, last_comp) = (hdr(5), hdr(6));
    let (size_strings, size_struct) = (hdr(8) as usize, hdr(9) as usize);
    if version < 16 || last_comp > 17 {
        return Err(DtError::BadVersion(version));
    }
    let in_bounds = |off: usize, size: usize| off.checked_add(size).is_some_and(|e| e <= total);
    if off_struct % 4 != 0 || !in_bounds(off_struct, size_struct) || size_struct < 8 {
        return Err(DtError::BadLayout("structure block"));
    }
    if !in_bounds(off_strings, size_strings) {
        return Err(DtError::BadLayout("strings block"));
    }
    if off_rsvmap % 8 != 0 || off_rsvmap < 40 || off_rsvmap >= total {
        return Err(DtError::BadLayout("memory reservation map"));
    }
    // The reservation map ends with an all-zero entry.
    let mut off = off_rsvmap;
    loop {
        let (addr, size) = match (be64(b, off), be64(b, off + 8)) {
            (Some(a), Some(s)) => (a, s),
            _ => return Err(DtError::BadReservationMap),
        };
        off += 16;
        if addr == 0 && size == 0 {
            break;
        }
    }
    // One pass over the structure block.
    let s = &b[off_struct..off_struct + size_struct];
    let strings = &b[off_strings..off_strings + size_strings];
    let mut off = 0usize;
    let mut depth = 0usize;
    let mut first = true;
    loop {
        let tok = be32(s, off).ok_or(DtError::BadStructure("missing FDT_END", off as u32))?;
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
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DtError::BadStructure("nodes nested too deep", at));
                }
            }
            FDT_END_NODE => {
                depth = depth.checked_sub(1).ok_or(DtError::BadStructure("unbalanced end of node", at))?;
            }
            FDT_PROP => {
                if depth == 0 {
                    return Err(DtError::BadStructure("property outside a node", at));
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
                    _ => return Err(DtError::BadStructure("data after the root node", off as u32)),
                }
            }
        }
    }
}

/// Copy a blob that passed [`check_full`] into `out` without padding or NOP
/// tokens: header, reservation map, structure block, strings block. Returns
/// the compacted blob.
pub fn compact<'o>(blob: &[u8], out: &'o mut [u8]) -> Result<&'o [u8], DtError> {
    check_full(blob)?;
    let hdr = |i: usize| be32(blob, i * 4).unwrap_or(0) as usize;
    let (off_struct, off_strings, off_rsvmap) = (hdr(2), hdr(3), hdr(4));
    let (size_strings, size_struct) = (hdr(8), hdr(9));
    // The reservation map, with its terminator.
    let mut rsv_len = 0;
    while be64(blob, off_rsvmap + rsv_len).unwrap_or(0) != 0 || be64(blob, off_rsvmap + rsv_len + 8).unwrap_or(0) != 0 {
        rsv_len += 16;
    }
    rsv_len += 16;
    let new_rsv = 40usize.next_multiple_of(8);
    let new_struct = new_rsv + rsv_len;
    let too_big = DtError::BadLayout("the blob (larger than the kernel's device-tree buffer)");
    if new_struct + size_struct + size_strings > out.len() {
        return Err(too_big);
    }
    out[..40].copy_from_slice(&blob[..40]);
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
    put(out, 1, total);
    put(out, 2, new_struct);
    put(out, 3, new_strings);
    put(out, 4, new_rsv);
    put(out, 9, new_size_struct);
    let c = &out[..total];
    check_full(c)?;
    Ok(c)
}

/// Most memory ranges, reserved-memory nodes, CPUs we keep.
pub const MAX_MEM_RANGES: usize = 32;
/// Most /reserved-memory children kept.
pub const MAX_RESERVED_NODES: usize = 16;
/// Most CPUs kept.
pub const MAX_CPUS: usize = 16;

/// A /memory `reg` range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemRange {
    /// Base physical address.
    pub base: u64,
    /// Size in bytes.
    pub size: u64,
    /// `numa-node-id`, if the node has one.
    pub nid: Option<u32>,
}

/// A /reserved-memory child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReservedNode {
    /// Node name (e.g. `linux,cma`).
    pub name: String<48>,
    /// Static placement (`reg`), if any.
    pub reg: Option<(u64, u64)>,
    /// Dynamic size (`size`), if no `reg`.
    pub size: Option<u64>,
    /// `alignment` for a dynamic region.
    pub alignment: Option<u64>,
    /// `alloc-ranges` for a dynamic region (up to two).
    pub alloc_ranges: Vec<(u64, u64), 2>,
    /// `no-map`.
    pub no_map: bool,
    /// `reusable` (CMA).
    pub reusable: bool,
    /// `linux,cma-default`.
    pub cma_default: bool,
}

/// How a secondary CPU is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnableMethod {
    /// PSCI CPU_ON.
    Psci,
    /// Spin table: write the entry point to `cpu-release-addr` and `sev`.
    SpinTable(u64),
    /// Missing or unknown.
    Unknown,
}

/// A /cpus/cpu node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuNode {
    /// `reg`: the MPIDR affinity bits.
    pub mpidr: u64,
    /// `enable-method`.
    pub enable: EnableMethod,
    /// `numa-node-id`.
    pub nid: Option<u32>,
}

/// /psci: the conduit.
pub use arch::psci::Conduit;

/// The console UART found from /chosen/stdout-path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleNode {
    /// Path of the node.
    pub path: String<64>,
    /// CPU physical address of its registers.
    pub pa: u64,
}

/// What the kernel takes from the tree.
#[derive(Clone, Debug, Default)]
pub struct DtInfo {
    /// `model`.
    pub model: String<64>,
    /// All /memory ranges, in tree order.
    pub memory: Vec<MemRange, MAX_MEM_RANGES>,
    /// /memreserve/ entries.
    pub memreserve: Vec<(u64, u64), 16>,
    /// /reserved-memory children.
    pub reserved: Vec<ReservedNode, MAX_RESERVED_NODES>,
    /// /chosen/bootargs.
    pub bootargs: String<1024>,
    /// /chosen/stdout-path (without options).
    pub stdout_path: String<64>,
    /// /chosen/kaslr-seed.
    pub kaslr_seed: Option<u64>,
    /// /chosen/rng-seed (first 64 bytes).
    pub rng_seed: Vec<u8, 64>,
    /// /chosen/linux,initrd-start and -end.
    pub initrd: Option<(u64, u64)>,
    /// /cpus.
    pub cpus: Vec<CpuNode, MAX_CPUS>,
    /// /psci method.
    pub psci: Option<Conduit>,
    /// /distance-map distance-matrix entries (from, to, distance).
    pub distances: Vec<(u32, u32, u32), 64>,
    /// The console, if found.
    pub console: Option<ConsoleNode>,
    /// The lowest end (inclusive) of any bus's `dma-ranges`, as a CPU
    /// address (Linux's of_dma_get_max_cpu_address); None if no bus limits DMA.
    pub dma_max_cpu_addr: Option<u64>,
    /// Things worth a warning (truncated lists, odd properties).
    pub warnings: Vec<&'static str, 8>,
}

fn cells(data: &[u8], ncells: usize, idx: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for _ in 0..ncells {
        v = (v << 32) | be32(data, *idx)? as u64;
        *idx += 4;
    }
    Some(v)
}

fn prop_u32(node: FdtNode<'_, '_>, name: &str) -> Option<u32> {
    be32(node.property(name)?.value, 0)
}

/// A u32 or u64 property, by its length.
fn prop_u32_or_u64(node: FdtNode<'_, '_>, name: &str) -> Option<u64> {
    let v = node.property(name)?.value;
    match v.len() {
        4 => be32(v, 0).map(u64::from),
        8 => be64(v, 0),
        _ => None,
    }
}

fn prop_str<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let v = node.property(name)?.value;
    let end = v.iter().position(|&c| c == 0).unwrap_or(v.len());
    core::str::from_utf8(&v[..end]).ok()
}

/// `#address-cells` and `#size-cells` a node gives its children (defaults 2, 1).
fn child_cells(node: FdtNode<'_, '_>) -> (usize, usize) {
    let ac = prop_u32(node, "#address-cells").unwrap_or(2) as usize;
    let sc = prop_u32(node, "#size-cells").unwrap_or(1) as usize;
    (ac, sc)
}

/// Decode `reg`-shaped (address, size) pairs.
fn decode_pairs<'a>(data: &'a [u8], ac: usize, sc: usize) -> impl Iterator<Item = (u64, u64)> + 'a {
    let stride = 4 * (ac + sc);
    let n = if stride == 0 || ac > 2 || sc > 2 { 0 } else { data.len() / stride };
    (0..n).filter_map(move |i| {
        let mut idx = i * stride;
        let a = cells(data, ac, &mut idx)?;
        let s = cells(data, sc, &mut idx)?;
        Some((a, s))
    })
}

/// The prefixes of a path: "/a/b/c" -> "/", "/a", "/a/b".
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    let mut ends: Vec<usize, 16> = Vec::new();
    let _ = ends.push(1);
    for (i, c) in path.char_indices().skip(1) {
        if c == '/' {
            let _ = ends.push(i);
        }
    }
    ends.into_iter().map(move |e| &path[..e])
}

/// Translate a bus address of the node at `path` to a CPU physical address,
/// through the `ranges` of each parent bus (Linux's of_translate_address).
fn translate(fdt: &Fdt<'_>, path: &str, addr: u64) -> Option<u64> {
    let mut chain: Vec<FdtNode<'_, '_>, 16> = Vec::new();
    for prefix in ancestors(path) {
        chain.push(fdt.find_node(prefix)?).ok()?;
    }
    translate_chain(&chain, addr)
}

/// `chain` is [root, ..., the node's parent]: translate an address the node
/// uses (a `reg`) through each bus's `ranges`, innermost first.
fn translate_chain(chain: &[FdtNode<'_, '_>], mut addr: u64) -> Option<u64> {
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
            if addr >= child && addr - child < size {
                found = Some(parent_addr + (addr - child));
                break;
            }
        }
        addr = found?;
    }
    Some(addr)
}

/// The path of a node, through /aliases if `name` does not start with '/'.
fn resolve_path<'a>(fdt: &Fdt<'a>, name: &'a str) -> Option<&'a str> {
    if name.starts_with('/') { Some(name) } else { fdt.aliases()?.resolve(name) }
}

fn is_okay(node: FdtNode<'_, '_>) -> bool {
    matches!(prop_str(node, "status"), None | Some("okay") | Some("ok"))
}

fn find_console(fdt: &Fdt<'_>, info: &mut DtInfo) {
    let stdout =
        fdt.find_node("/chosen").and_then(|c| prop_str(c, "stdout-path").or_else(|| prop_str(c, "linux,stdout-path")));
    let mut candidate: Option<&str> = None;
    if let Some(sp) = stdout {
        let name = sp.split(':').next().unwrap_or(sp);
        info.stdout_path = truncated(name);
        candidate = resolve_path(fdt, name);
    }
    // Fall back to the first PL011 (by its path, which we need for `ranges`).
    let mut fallback: String<64> = String::new();
    if candidate.is_none() {
        find_pl011_path(fdt, "/", &mut fallback, 0);
    }
    let path: &str = match candidate {
        Some(p) => p,
        None if !fallback.is_empty() => fallback.as_str(),
        None => return,
    };
    let Some(node) = fdt.find_node(path) else { return };
    if !node.compatible().is_some_and(|c| c.all().any(|s| s == "arm,pl011")) {
        return;
    }
    let parent_path = path.rsplit_once('/').map(|(p, _)| if p.is_empty() { "/" } else { p }).unwrap_or("/");
    let Some(parent) = fdt.find_node(parent_path) else {
        return;
    };
    let (ac, sc) = child_cells(parent);
    let Some((bus_addr, _)) = node.property("reg").and_then(|r| decode_pairs(r.value, ac, sc).next()) else {
        return;
    };
    if let Some(pa) = translate(fdt, path, bus_addr) {
        info.console = Some(ConsoleNode { path: truncated(path), pa });
    }
}

fn find_pl011_path(fdt: &Fdt<'_>, path: &str, out: &mut String<64>, depth: usize) -> bool {
    let Some(node) = fdt.find_node(path) else { return false };
    for child in node.children() {
        let mut p: String<64> = String::new();
        let _ = p.push_str(if path == "/" { "" } else { path });
        let _ = p.push('/');
        if p.push_str(child.name).is_err() {
            continue;
        }
        if is_okay(child) && child.compatible().is_some_and(|c| c.all().any(|s| s == "arm,pl011")) {
            *out = p;
            return true;
        }
        if depth < 4 && find_pl011_path(fdt, &p, out, depth + 1) {
            return true;
        }
    }
    false
}

/// Read everything the kernel needs from a blob that passed [`check_full`].
pub fn parse(blob: &[u8]) -> Result<DtInfo, DtError> {
    check_full(blob)?;
    let fdt = Fdt::new(blob).map_err(|_| DtError::BadLayout("header"))?;
    let mut info = DtInfo::default();
    let root = fdt.find_node("/").ok_or(DtError::BadStructure("no root node", 0))?;
    let (rac, rsc) = child_cells(root);
    if let Some(m) = prop_str(root, "model") {
        info.model = truncated(m);
    }

    for child in root.children() {
        let is_memory = prop_str(child, "device_type") == Some("memory");
        if !is_memory || !is_okay(child) {
            continue;
        }
        let nid = prop_u32(child, "numa-node-id");
        if let Some(reg) = child.property("reg") {
            for (base, size) in decode_pairs(reg.value, rac, rsc) {
                if size == 0 {
                    continue;
                }
                if info.memory.push(MemRange { base, size, nid }).is_err() {
                    let _ = info.warnings.push("too many /memory ranges; the rest are ignored");
                    break;
                }
            }
        }
    }

    for r in fdt.memory_reservations() {
        let (a, s) = (r.address() as u64, r.size() as u64);
        if s != 0 && info.memreserve.push((a, s)).is_err() {
            let _ = info.warnings.push("too many /memreserve/ entries; the rest are ignored");
            break;
        }
    }

    if let Some(rm) = fdt.find_node("/reserved-memory") {
        let (ac, sc) = child_cells(rm);
        for child in rm.children() {
            if !is_okay(child) {
                continue;
            }
            let reg = child.property("reg").and_then(|r| decode_pairs(r.value, ac, sc).next());
            let size = child.property("size").and_then(|p| {
                let mut i = 0;
                cells(p.value, sc, &mut i)
            });
            let alignment = child.property("alignment").and_then(|p| {
                let mut i = 0;
                cells(p.value, sc, &mut i)
            });
            let mut alloc_ranges = Vec::new();
            if let Some(p) = child.property("alloc-ranges") {
                for pair in decode_pairs(p.value, ac, sc).take(2) {
                    let _ = alloc_ranges.push(pair);
                }
            }
            let node = ReservedNode {
                name: truncated(child.name),
                reg,
                size,
                alignment,
                alloc_ranges,
                no_map: child.property("no-map").is_some(),
                reusable: child.property("reusable").is_some(),
                cma_default: child.property("linux,cma-default").is_some(),
            };
            if info.reserved.push(node).is_err() {
                let _ = info.warnings.push("too many /reserved-memory nodes; the rest are ignored");
                break;
            }
        }
    }

    if let Some(chosen) = fdt.find_node("/chosen") {
        if let Some(args) = prop_str(chosen, "bootargs") {
            info.bootargs = truncated(args);
            if args.len() > info.bootargs.capacity() {
                let _ = info.warnings.push("bootargs longer than 1024 bytes; truncated");
            }
        }
        info.kaslr_seed = prop_u32_or_u64(chosen, "kaslr-seed");
        if let Some(seed) = chosen.property("rng-seed") {
            for &b in seed.value.iter().take(64) {
                let _ = info.rng_seed.push(b);
            }
        }
        if let (Some(s), Some(e)) =
            (prop_u32_or_u64(chosen, "linux,initrd-start"), prop_u32_or_u64(chosen, "linux,initrd-end"))
            && e > s
        {
            info.initrd = Some((s, e));
        }
    }

    if let Some(cpus) = fdt.find_node("/cpus") {
        let (ac, _) = child_cells(cpus);
        for cpu in cpus.children() {
            if prop_str(cpu, "device_type") != Some("cpu") || !is_okay(cpu) {
                continue;
            }
            let Some(reg) = cpu.property("reg") else { continue };
            let mut i = 0;
            let Some(mpidr) = cells(reg.value, ac.min(2), &mut i) else {
                continue;
            };
            let enable = match prop_str(cpu, "enable-method") {
                Some("psci") => EnableMethod::Psci,
                Some("spin-table") => match prop_u32_or_u64(cpu, "cpu-release-addr") {
                    Some(a) => EnableMethod::SpinTable(a),
                    None => EnableMethod::Unknown,
                },
                _ => EnableMethod::Unknown,
            };
            let node = CpuNode { mpidr, enable, nid: prop_u32(cpu, "numa-node-id") };
            if info.cpus.push(node).is_err() {
                let _ = info.warnings.push("too many CPUs in /cpus; the rest are ignored");
                break;
            }
        }
    }

    if let Some(psci) = fdt.find_node("/psci") {
        info.psci = match prop_str(psci, "method") {
            Some("hvc") => Some(Conduit::Hvc),
            Some("smc") => Some(Conduit::Smc),
            _ => None,
        };
    }

    if let Some(dm) = fdt.find_node("/distance-map")
        && let Some(m) = dm.property("distance-matrix")
    {
        for t in m.value.chunks_exact(12) {
            let (a, b, d) = (be32(t, 0).unwrap_or(0), be32(t, 4).unwrap_or(0), be32(t, 8).unwrap_or(0));
            if info.distances.push((a, b, d)).is_err() {
                break;
            }
        }
    }

    find_console(&fdt, &mut info);
    info.dma_max_cpu_addr = dma_max_cpu_address(root, &mut Vec::new());
    Ok(info)
}

/// Linux's of_dma_get_max_cpu_address: for each node with `dma-ranges`, the
/// highest CPU address its ranges reach; the minimum of those over the tree.
/// `chain` holds the node's ancestors (root first); nodes are visited through
/// `children()` only, because fdt 0.1.5's find_node recurses once per sibling.
fn dma_max_cpu_address<'b, 'a>(node: FdtNode<'b, 'a>, chain: &mut Vec<FdtNode<'b, 'a>, 12>) -> Option<u64> {
    let mut best: Option<u64> = None;
    if let Some(&parent) = chain.last()
        && let Some(dr) = node.property("dma-ranges")
        && !dr.value.is_empty()
    {
        let (cac, csc) = child_cells(node);
        let pac = child_cells(parent).0;
        let stride = 4 * (cac + pac + csc);
        if stride > 0 && cac <= 2 && pac <= 2 && csc <= 2 {
            for j in 0..dr.value.len() / stride {
                let mut idx = j * stride + 4 * cac;
                let (Some(parent_addr), Some(size)) = (cells(dr.value, pac, &mut idx), cells(dr.value, csc, &mut idx))
                else {
                    continue;
                };
                // The parent address is in the parent's bus space, like a `reg`.
                if let Some(cpu) = translate_chain(chain, parent_addr)
                    && size > 0
                {
                    let end = cpu.saturating_add(size - 1);
                    best = Some(best.map_or(end, |e: u64| e.max(end)));
                }
            }
        }
    }
    if chain.push(node).is_ok() {
        for child in node.children() {
            if !is_okay(child) {
                continue;
            }
            if let Some(sub) = dma_max_cpu_address(child, chain) {
                best = Some(best.map_or(sub, |b| b.min(sub)));
            }
        }
        chain.pop();
    }
    best
}
