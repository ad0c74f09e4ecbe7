//! What the kernel takes from a checked blob: [`DtInfo`], collected with
//! fixed capacities (the kernel parses before it has a heap).
//!
//! Every /memory node's `reg` ranges and `numa-node-id`; /memreserve/;
//! /reserved-memory children (static `reg` or dynamic `size`, `alignment`,
//! `alloc-ranges`; `no-map`, `reusable`); /chosen (`bootargs`,
//! `stdout-path`, `kaslr-seed`, `rng-seed`, `linux,initrd-start`/`-end`);
//! /cpus (`reg`, `enable-method`, `cpu-release-addr`, `numa-node-id`);
//! /distance-map; /psci; the console UART, translated to a CPU physical
//! address through every parent bus's `ranges`; and the lowest DMA limit of
//! any bus's `dma-ranges`. A list longer than its capacity is cut, with a
//! warning in [`DtInfo::warnings`]; an odd property is skipped.

use super::check::{check_full, check_no_nops};
use super::raw::{DtError, be32, be64};
use crate::fixedstr::truncated;
use fdt::Fdt;
use fdt::node::FdtNode;
use heapless::{String, Vec};

/// Most /memory ranges kept: as many as memblock's initial arrays hold
/// (Linux's INIT_MEMBLOCK_REGIONS; Linux grows them, we cut with a warning).
pub const MAX_MEM_RANGES: usize = 128;
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

/// /psci `method`: how the kernel calls the firmware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    /// `hvc`: the firmware runs at EL2.
    Hvc,
    /// `smc`: the firmware runs at EL3.
    Smc,
}

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
    pub psci: Option<PsciMethod>,
    /// /distance-map distance-matrix entries (from, to, distance).
    pub distances: Vec<(u32, u32, u32), 64>,
    /// The console, if found.
    pub console: Option<ConsoleNode>,
    /// The lowest end (inclusive) of any bus's `dma-ranges`, as a CPU
    /// address (Linux's of_dma_get_max_cpu_address); None if no bus limits DMA.
    pub dma_max_cpu_addr: Option<u64>,
    /// Things worth a warning (truncated lists, odd properties).
    pub warnings: Vec<&'static str, 8>,
    /// /memory nodes whose `reg` could not be (fully) decoded.
    pub memory_issues: Vec<RegIssue, 8>,
    /// Why /distance-map is unusable as a whole (Linux then gives up on the
    /// tree's NUMA description and runs with one node).
    pub distance_map_error: Option<&'static str>,
}

/// Why (part of) a node's `reg` could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegIssue {
    /// The node's name.
    pub node: String<48>,
    /// The parent's `#address-cells` and `#size-cells`.
    pub cells: (u32, u32),
    /// What is wrong.
    pub what: RegProblem,
}

/// What is wrong with a `reg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegProblem {
    /// `#address-cells` or `#size-cells` is 0 or more than 4 (Linux's
    /// OF_MAX_ADDR_CELLS): nothing can be decoded.
    BadCells,
    /// The length is not a multiple of one (address, size) pair; the tail is ignored.
    Length(usize),
    /// An address or size does not fit 64 bits; that pair is ignored.
    Beyond64Bits,
}

impl core::fmt::Display for RegIssue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let (ac, sc) = self.cells;
        write!(f, "{}: ", self.node)?;
        match self.what {
            RegProblem::BadCells => {
                write!(f, "cannot decode reg with #address-cells = {ac}, #size-cells = {sc}; node ignored")
            }
            RegProblem::Length(len) => write!(
                f,
                "reg is {len} bytes, not a multiple of {} (#address-cells = {ac}, #size-cells = {sc}); the tail is ignored",
                4 * (ac + sc)
            ),
            RegProblem::Beyond64Bits => {
                write!(f, "a reg entry does not fit 64 bits (#address-cells = {ac}, #size-cells = {sc}); ignored")
            }
        }
    }
}

/// Linux's OF_MAX_ADDR_CELLS.
const MAX_ADDR_CELLS: usize = 4;

/// Up to 4 cells as a number, or None if it does not fit 64 bits.
fn cells_u64(data: &[u8], ncells: usize, idx: &mut usize) -> Option<Option<u64>> {
    let mut v: u64 = 0;
    let mut fits = true;
    for _ in 0..ncells {
        if v >> 32 != 0 {
            fits = false;
        }
        v = (v << 32) | be32(data, *idx)? as u64;
        *idx += 4;
    }
    Some(fits.then_some(v))
}

/// Decode a /memory-style `reg` with the parent's cells, reporting what
/// cannot be decoded (Linux's early_init_dt_scan_memory reads what fits).
pub(crate) fn decode_reg(
    node: &str,
    data: &[u8],
    ac: usize,
    sc: usize,
    issues: &mut Vec<RegIssue, 8>,
    mut each: impl FnMut(u64, u64) -> bool,
) {
    let issue = |issues: &mut Vec<RegIssue, 8>, what| {
        let _ = issues.push(RegIssue { node: truncated(node), cells: (ac as u32, sc as u32), what });
    };
    if ac == 0 || sc == 0 || ac > MAX_ADDR_CELLS || sc > MAX_ADDR_CELLS {
        issue(issues, RegProblem::BadCells);
        return;
    }
    let stride = 4 * (ac + sc);
    if !data.len().is_multiple_of(stride) {
        issue(issues, RegProblem::Length(data.len()));
    }
    let mut wide = false;
    for i in 0..data.len() / stride {
        let mut idx = i * stride;
        let (Some(a), Some(s)) = (cells_u64(data, ac, &mut idx), cells_u64(data, sc, &mut idx)) else { break };
        let (Some(a), Some(s)) = (a, s) else {
            wide = true;
            continue;
        };
        if !each(a, s) {
            break;
        }
    }
    if wide {
        issue(issues, RegProblem::Beyond64Bits);
    }
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

/// Read everything the kernel needs from a blob. It must pass [`check_full`]
/// and hold no FDT_NOP tokens (a blob from [`compact`](super::compact) does).
pub fn parse(blob: &[u8]) -> Result<DtInfo, DtError> {
    check_full(blob)?;
    check_no_nops(blob)?;
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
            let (memory, warnings) = (&mut info.memory, &mut info.warnings);
            decode_reg(child.name, reg.value, rac, rsc, &mut info.memory_issues, |base, size| {
                if size == 0 {
                    return true;
                }
                if memory.push(MemRange { base, size, nid }).is_err() {
                    const TOO_MANY: &str = "too many /memory ranges; the rest are ignored";
                    if !warnings.contains(&TOO_MANY) {
                        let _ = warnings.push(TOO_MANY);
                    }
                    return false;
                }
                true
            });
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
            Some("hvc") => Some(PsciMethod::Hvc),
            Some("smc") => Some(PsciMethod::Smc),
            _ => None,
        };
    }

    if let Some(dm) = fdt.find_node("/distance-map") {
        parse_distance_map(dm.property("distance-matrix").map(|p| p.value), &mut info);
    }

    find_console(&fdt, &mut info);
    info.dma_max_cpu_addr = dma_max_cpu_address(root, &mut Vec::new());
    Ok(info)
}

/// /distance-map's `distance-matrix` (Linux's of_numa_parse_distance_map_v1):
/// triples (from, to, distance). A missing or empty matrix, a length that is
/// not whole triples, a self-distance other than 10 or a distance to another
/// node of 10 or less makes the whole map invalid ([`DtInfo::distance_map_error`]);
/// the kernel then ignores the tree's NUMA description, as Linux does.
/// Node numbers or distances out of range are left to the kernel, which
/// ignores those entries one by one (Linux's numa_set_distance).
fn parse_distance_map(matrix: Option<&[u8]>, info: &mut DtInfo) {
    let Some(m) = matrix else {
        info.distance_map_error = Some("no distance-matrix property in /distance-map");
        return;
    };
    if m.is_empty() || !m.len().is_multiple_of(12) {
        info.distance_map_error = Some("distance-matrix is not a list of (from, to, distance) triples");
        return;
    }
    for t in m.chunks_exact(12) {
        let (a, b, d) = (be32(t, 0).unwrap_or(0), be32(t, 4).unwrap_or(0), be32(t, 8).unwrap_or(0));
        if (a == b && d != 10) || (a != b && d <= 10) {
            info.distance_map_error =
                Some("distance-matrix gives a node a distance other than 10 to itself, or 10 or less to another");
            info.distances.clear();
            return;
        }
        if info.distances.push((a, b, d)).is_err() {
            let _ = info.warnings.push("too many distance-map entries; the rest are ignored");
            break;
        }
    }
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
