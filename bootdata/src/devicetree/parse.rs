//! What the kernel takes from a checked blob: [`DtInfo`], collected with
//! fixed capacities (the kernel parses before it has a heap).
//!
//! Every /memory node's `reg` ranges and `numa-node-id`; /memreserve/;
//! /reserved-memory children (static `reg` or dynamic `size`, `alignment`,
//! `alloc-ranges`; `no-map`, `reusable`); /chosen (`bootargs`,
//! `stdout-path`, `kaslr-seed`, `rng-seed`, `linux,initrd-start`/`-end`);
//! /cpus (`reg`, `enable-method`, `cpu-release-addr`, `numa-node-id`);
//! /distance-map; /psci; the interrupt controller and the timer's
//! interrupts (`gic`); the UARTs, aliases and stdout-path (`console`); and the lowest DMA limit of
//! any bus's `dma-ranges`. A list longer than its capacity is cut, with a
//! warning in [`DtInfo::warnings`]; an odd property is skipped.

use super::check::{check_full, check_no_nops};
use super::console::{
    AliasError, ClockSource, ConsoleInfo, MAX_ALIAS_HOPS, PI_FIRMWARE_UART_CLOCK_HZ, RefError, StdoutPath, UartKind,
    UartNode, baud_of,
};
use super::gic::{GicInfo, parse_gic};
use super::props::{cells, child_cells, decode_pairs, prop_str, prop_u32, prop_u32_or_u64, translate_chain};
use super::raw::{DtError, be32};
use crate::fixedstr::truncated;
use fdt::Fdt;
use fdt::node::FdtNode;
use heapless::{String, Vec};

/// Most /memory ranges kept: as many as memblock's initial arrays hold
/// (Linux's INIT_MEMBLOCK_REGIONS; Linux grows them, we cut with a warning).
pub const MAX_MEM_RANGES: usize = 128;
/// Most /reserved-memory children kept.
pub const MAX_RESERVED_NODES: usize = 16;
/// Most CPUs kept (at least the kernel's NR_CPUS, which it checks).
pub const MAX_CPUS: usize = 32;

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
    /// `compatible` lists `shared-dma-pool`.
    pub shared_dma_pool: bool,
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
    /// The BCM2835/BCM2711 PM block (`brcm,bcm2835-pm-wdt`,
    /// `brcm,bcm2711-pm`): its first `reg`, as a CPU physical address.
    pub pm_watchdog: Option<u64>,
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
    /// The interrupt controller and the timer's interrupts (`gic`).
    pub gic: GicInfo,
}

impl DtInfo {
    /// Nothing read yet (a `const`, so a static can hold one).
    pub const fn new() -> Self {
        Self {
            model: String::new(),
            memory: Vec::new(),
            memreserve: Vec::new(),
            reserved: Vec::new(),
            bootargs: String::new(),
            stdout_path: String::new(),
            kaslr_seed: None,
            rng_seed: Vec::new(),
            initrd: None,
            cpus: Vec::new(),
            psci: None,
            distances: Vec::new(),
            pm_watchdog: None,
            dma_max_cpu_addr: None,
            warnings: Vec::new(),
            memory_issues: Vec::new(),
            distance_map_error: None,
            gic: GicInfo::new(),
        }
    }
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

fn is_okay(node: FdtNode<'_, '_>) -> bool {
    matches!(prop_str(node, "status"), None | Some("okay") | Some("ok"))
}

/// Read everything the kernel needs from a blob. It must pass [`check_full`]
/// and hold no FDT_NOP tokens (a blob from [`compact`](super::compact) does).
pub fn parse(blob: &[u8]) -> Result<DtInfo, DtError> {
    let mut info = DtInfo::new();
    parse_into(blob, &mut info)?;
    Ok(info)
}

/// [`parse`] into `info`, which is emptied first. A `DtInfo` is 9 KiB: the
/// kernel parses into a static, so that no 16 KiB kernel stack holds one.
/// On error `info` holds what was read before the error.
pub fn parse_into(blob: &[u8], info: &mut DtInfo) -> Result<(), DtError> {
    *info = DtInfo::new();
    check_full(blob)?;
    check_no_nops(blob)?;
    let fdt = Fdt::new(blob).map_err(|_| DtError::BadLayout("header"))?;
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
                shared_dma_pool: child.compatible().is_some_and(|c| c.all().any(|s| s == "shared-dma-pool")),
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
            _ => {
                let _ = info
                    .warnings
                    .push("/psci: invalid \"method\" property (neither \"hvc\" nor \"smc\"); PSCI unavailable");
                None
            }
        };
    }

    if let Some(dm) = fdt.find_node("/distance-map") {
        parse_distance_map(dm.property("distance-matrix").map(|p| p.value), info);
    }

    if let Some(chosen) = fdt.find_node("/chosen")
        && let Some(sp) = prop_str(chosen, "stdout-path").or_else(|| prop_str(chosen, "linux,stdout-path"))
    {
        info.stdout_path = truncated(sp.split_once(':').map_or(sp, |(n, _)| n));
    }
    info.pm_watchdog = find_pm_watchdog(root, &mut Vec::new());
    info.dma_max_cpu_addr = dma_max_cpu_address(root, &mut Vec::new());
    info.gic = parse_gic(root);
    Ok(())
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

// ----- UARTs, aliases, stdout-path (the types and the choice: `console`) -----

/// Deepest node nesting searched for UARTs.
const MAX_DEPTH: usize = 12;

/// Follow `name` through /aliases to a path.
#[allow(clippy::result_large_err)] // no heap: the error holds the names it reports
fn resolve_alias<'a>(aliases: Option<FdtNode<'_, 'a>>, name: &'a str) -> Result<&'a str, AliasError> {
    let mut chain: Vec<&str, MAX_ALIAS_HOPS> = Vec::new();
    let mut cur = name;
    loop {
        if cur.starts_with('/') {
            return Ok(cur);
        }
        if chain.contains(&cur) {
            let mut s: String<96> = String::new();
            for c in chain.iter().chain(core::iter::once(&cur)) {
                if !s.is_empty() {
                    let _ = s.push_str(" -> ");
                }
                let _ = s.push_str(c);
            }
            return Err(AliasError::Loop(s));
        }
        if chain.push(cur).is_err() {
            return Err(AliasError::TooDeep(truncated(name)));
        }
        cur = aliases.and_then(|a| prop_str(a, cur)).ok_or_else(|| AliasError::NoSuchAlias(truncated(cur)))?;
    }
}

/// The UART at `path`, or why it is not one.
#[allow(clippy::result_large_err)] // no heap: the error holds the names it reports
fn uart_at(fdt: &Fdt<'_>, uarts: &[UartNode], path: &str) -> Result<usize, RefError> {
    if let Some(i) = uarts.iter().position(|u| u.path == path) {
        return Ok(i);
    }
    // Not recorded as a UART: say what it is, if it exists.
    let node = fdt.find_node(path).ok_or_else(|| RefError::NoSuchNode(truncated(path)))?;
    let compatible = node.compatible().and_then(|c| c.all().next()).unwrap_or("");
    Err(RefError::NotDriven { path: truncated(path), compatible: truncated(compatible) })
}

/// A name (alias or path) to a UART index.
#[allow(clippy::result_large_err)] // no heap: the error holds the names it reports
fn lookup(fdt: &Fdt<'_>, aliases: Option<FdtNode<'_, '_>>, uarts: &[UartNode], name: &str) -> Result<usize, RefError> {
    let path = resolve_alias(aliases, name).map_err(RefError::Alias)?;
    uart_at(fdt, uarts, path)
}

fn phandle_of(node: FdtNode<'_, '_>) -> Option<u32> {
    node.property("phandle").or_else(|| node.property("linux,phandle")).and_then(|p| be32(p.value, 0))
}

/// Walk the tree below `node` (whose ancestors are `chain`), recording UARTs
/// and `brcm,bcm2835-aux` blocks (phandle, CPU address).
fn walk<'b, 'a>(
    fdt: &Fdt<'a>,
    node: FdtNode<'b, 'a>,
    path: &mut String<64>,
    chain: &mut Vec<FdtNode<'b, 'a>, MAX_DEPTH>,
    out: &mut ConsoleInfo,
    aux: &mut Vec<(Option<u32>, u64), 4>,
    pm: &mut Option<u64>,
) {
    if chain.push(node).is_err() {
        return;
    }
    let (ac, sc) = child_cells(node);
    for child in node.children() {
        let len = path.len();
        if (path.as_str() != "/" && path.push('/').is_err()) || path.push_str(child.name).is_err() {
            path.truncate(len);
            continue;
        }
        let reg_pa = || {
            child
                .property("reg")
                .and_then(|r| decode_pairs(r.value, ac, sc).next())
                .and_then(|(a, _)| translate_chain(chain, a))
        };
        let compat = child.compatible();
        let kind = compat.and_then(|c| c.all().find_map(|s| UartKind::of_compatible(s).map(|k| (k, s))));
        if compat.is_some_and(|c| c.all().any(|s| s == "brcm,bcm2835-aux"))
            && let Some(pa) = reg_pa()
        {
            let _ = aux.push((phandle_of(child), pa));
        }
        if pm.is_none()
            && is_okay(child)
            && compat.is_some_and(|c| c.all().any(|s| s == "brcm,bcm2835-pm-wdt" || s == "brcm,bcm2711-pm"))
        {
            *pm = reg_pa();
        }
        if let Some((kind, compatible)) = kind {
            let (clock_hz, clock) = clock_of(fdt, child, kind);
            let node = UartNode {
                path: truncated(path.as_str()),
                compatible: truncated(compatible),
                kind,
                okay: is_okay(child),
                pa: reg_pa(),
                clock_hz,
                clock,
                aux_pa: None,
                primecell_periphid: child
                    .property("arm,primecell-periphid")
                    .and_then(|p| p.value.get(..4))
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
            };
            if out.uarts.push(node).is_err() {
                out.truncated = true;
            }
        }
        walk(fdt, child, path, chain, out, aux, pm);
        path.truncate(len);
    }
    chain.pop();
}

/// The UART's clock: its own `clock-frequency`, else that of the node its
/// first `clocks` phandle names; for a PL011 on the Pi's clock manager, the
/// rate the Pi firmware sets.
fn clock_of(fdt: &Fdt<'_>, node: FdtNode<'_, '_>, kind: UartKind) -> (Option<u64>, ClockSource) {
    if let Some(hz) = prop_u32_or_u64(node, "clock-frequency").filter(|&f| f > 0) {
        return (Some(hz), ClockSource::Own);
    }
    let Some(clk) = node.property("clocks").and_then(|p| be32(p.value, 0)).and_then(|ph| fdt.find_phandle(ph)) else {
        return (None, ClockSource::Unknown);
    };
    if let Some(hz) = prop_u32_or_u64(clk, "clock-frequency").filter(|&f| f > 0) {
        return (Some(hz), ClockSource::Clocks);
    }
    let cprman =
        clk.compatible().is_some_and(|c| c.all().any(|s| s == "brcm,bcm2711-cprman" || s == "brcm,bcm2835-cprman"));
    if cprman && kind == UartKind::Pl011 {
        return (Some(PI_FIRMWARE_UART_CLOCK_HZ), ClockSource::PiFirmware);
    }
    (None, ClockSource::Unknown)
}

/// The UARTs, the serial aliases and stdout-path of a blob, read apart from
/// [`parse`] so that [`DtInfo`] stays small. The blob must pass [`check_full`] and hold no FDT_NOP.
pub fn parse_uarts(blob: &[u8]) -> Result<ConsoleInfo, DtError> {
    let mut out = ConsoleInfo::new();
    parse_uarts_into(blob, &mut out)?;
    Ok(out)
}

/// [`parse_uarts`] into `out`, which is emptied first (the kernel keeps its
/// `ConsoleInfo`, 3 KiB, in a static rather than on its 16 KiB stack).
pub fn parse_uarts_into(blob: &[u8], out: &mut ConsoleInfo) -> Result<(), DtError> {
    *out = ConsoleInfo::new();
    check_full(blob)?;
    check_no_nops(blob)?;
    let fdt = Fdt::new(blob).map_err(|_| DtError::BadLayout("header"))?;
    let root = fdt.find_node("/").ok_or(DtError::BadStructure("no root node", 0))?;
    parse_console(&fdt, root, &mut None, out);
    Ok(())
}

/// The first okay `brcm,bcm2835-pm-wdt` / `brcm,bcm2711-pm` node's first
/// `reg`, translated; `chain` holds `node`'s ancestors.
fn find_pm_watchdog<'b, 'a>(node: FdtNode<'b, 'a>, chain: &mut Vec<FdtNode<'b, 'a>, MAX_DEPTH>) -> Option<u64> {
    chain.push(node).ok()?;
    let (ac, sc) = child_cells(node);
    let mut found = None;
    for child in node.children() {
        let pm =
            child.compatible().is_some_and(|c| c.all().any(|s| s == "brcm,bcm2835-pm-wdt" || s == "brcm,bcm2711-pm"));
        if pm && is_okay(child) {
            found = child
                .property("reg")
                .and_then(|r| decode_pairs(r.value, ac, sc).next())
                .and_then(|(a, _)| translate_chain(chain, a));
        }
        if found.is_none() {
            found = find_pm_watchdog(child, chain);
        }
        if found.is_some() {
            break;
        }
    }
    chain.pop();
    found
}

/// Read the UARTs, the serial aliases and stdout-path; the BCM2835 PM
/// watchdog's address goes into `pm` if it is met on the walk.
fn parse_console(fdt: &Fdt<'_>, root: FdtNode<'_, '_>, pm: &mut Option<u64>, out: &mut ConsoleInfo) {
    let mut aux: Vec<(Option<u32>, u64), 4> = Vec::new();
    let mut path: String<64> = String::new();
    let _ = path.push('/');
    walk(fdt, root, &mut path, &mut Vec::new(), out, &mut aux, pm);
    for u in out.uarts.iter_mut().filter(|u| u.kind == UartKind::Mini) {
        let Some(pa) = u.pa else { continue };
        let by_clock = fdt
            .find_node(&u.path)
            .and_then(|n| n.property("clocks"))
            .and_then(|p| be32(p.value, 0))
            .and_then(|ph| aux.iter().find(|(p, _)| *p == Some(ph)));
        let by_place = aux.iter().find(|(_, a)| *a <= pa && pa - *a < 0x1000);
        u.aux_pa = by_clock.or(by_place).map(|&(_, a)| a).or(pa.checked_sub(0x40));
    }
    let aliases = fdt.find_node("/aliases");
    if let Some(a) = aliases {
        for p in a.properties() {
            let Some(n) = p.name.strip_prefix("serial").and_then(|n| n.parse::<u8>().ok()) else {
                continue;
            };
            let r = lookup(fdt, aliases, &out.uarts, p.name);
            let _ = out.serial_aliases.push((n, r));
        }
    }
    if let Some(chosen) = fdt.find_node("/chosen")
        && let Some(sp) = prop_str(chosen, "stdout-path").or_else(|| prop_str(chosen, "linux,stdout-path"))
    {
        let (name, options) = sp.split_once(':').unwrap_or((sp, ""));
        out.stdout = Some(StdoutPath {
            name: truncated(name),
            baud: baud_of(options),
            uart: lookup(fdt, aliases, &out.uarts, name),
        });
    }
}
