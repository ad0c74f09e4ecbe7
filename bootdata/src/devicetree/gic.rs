//! The interrupt controller and the architected timer's interrupts.
//!
//! The GIC is the first okay node marked `interrupt-controller` whose
//! `compatible` names a GIC this kernel drives (the one the root's
//! `interrupt-parent` points at, if several match):
//!
//! | compatible                                                     | version | `reg`                                  |
//! |----------------------------------------------------------------|---------|----------------------------------------|
//! | `arm,gic-400`, `arm,cortex-a15-gic`, `arm,cortex-a7-gic`, `arm,cortex-a9-gic` | v2 | distributor, CPU interface (, GICH, GICV) |
//! | `arm,gic-v3`                                                   | v3      | distributor, `#redistributor-regions` redistributor regions (, GICC, GICH, GICV) |
//!
//! Every `reg` is translated to a CPU physical address through the
//! ancestors' `ranges`, as the other nodes' registers are
//! (`props::translate_chain`). A node that does not decode (too few
//! entries, cells the parser cannot read, an untranslatable address) is
//! reported in [`GicInfo::issue`] and no GIC is recorded: the kernel then
//! runs without interrupts, as Linux does without an irqchip.
//!
//! The timer (`arm,armv8-timer`, `arm,armv7-timer`) lists its interrupts
//! in a fixed order (Linux's arm_arch_timer bindings): secure physical,
//! non-secure physical, virtual, hypervisor physical. Each is decoded with
//! the GIC's `#interrupt-cells` (type, number, flags: type 1 is a PPI,
//! INTID = 16 + number; type 0 an SPI, INTID = 32 + number). A timer node
//! that is missing or lists fewer interrupts keeps the architecture's
//! recommended PPIs for the rest (Arm BSA: 29, 30, 27, 26), which every
//! board this kernel knows uses.

use super::props::{child_cells, decode_pairs, prop_str, translate_chain};
use super::raw::be32;
use crate::fixedstr::truncated;
use fdt::node::FdtNode;
use heapless::{String, Vec};

/// Most redistributor regions kept.
pub const MAX_REDIST_REGIONS: usize = 4;
/// Deepest nesting searched for the interrupt controller.
const MAX_DEPTH: usize = 12;

/// Which GIC architecture a node describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicVersion {
    /// GICv2 (GIC-400 and its predecessors): memory-mapped CPU interface.
    V2,
    /// GICv3: system-register CPU interface, redistributors.
    V3,
}

impl GicVersion {
    /// The version a `compatible` string names, if this kernel drives it.
    pub fn of_compatible(s: &str) -> Option<Self> {
        match s {
            "arm,gic-400" | "arm,cortex-a15-gic" | "arm,cortex-a7-gic" | "arm,cortex-a9-gic" => Some(Self::V2),
            "arm,gic-v3" => Some(Self::V3),
            _ => None,
        }
    }
}

/// A register block: CPU physical address and size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegBlock {
    /// Base, translated to a CPU physical address.
    pub base: u64,
    /// Size in bytes, as the node gives it.
    pub size: u64,
}

/// The interrupt controller the kernel drives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GicNode {
    /// v2 or v3.
    pub version: GicVersion,
    /// The compatible string that matched.
    pub compatible: String<32>,
    /// The node's name (`intc@8000000`).
    pub name: String<48>,
    /// The distributor (GICD).
    pub dist: RegBlock,
    /// v2: the CPU interface (GICC); None for v3.
    pub cpu_if: Option<RegBlock>,
    /// v3: the redistributor regions, in order; empty for v2.
    pub redist: Vec<RegBlock, MAX_REDIST_REGIONS>,
    /// v3: `redistributor-stride`, if given (else each redistributor's
    /// size follows from GICR_TYPER).
    pub redist_stride: Option<u64>,
    /// `#interrupt-cells` (3 when absent).
    pub interrupt_cells: u32,
}

/// The architected timer's interrupts, as INTIDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerIrqs {
    /// Secure EL1 physical timer.
    pub sec_phys: u32,
    /// Non-secure EL1 physical timer (CNTP).
    pub phys: u32,
    /// Virtual timer (CNTV): the one an EL1 kernel uses.
    pub virt: u32,
    /// EL2 physical timer.
    pub hyp_phys: u32,
    /// How many of the four came from the tree (the rest are defaults).
    pub from_tree: u8,
    /// The timer node has `always-on`.
    pub always_on: bool,
}

impl TimerIrqs {
    /// The recommended PPIs (Arm BSA), used for whatever the tree leaves out.
    pub const DEFAULT: Self = Self { sec_phys: 29, phys: 30, virt: 27, hyp_phys: 26, from_tree: 0, always_on: false };
}

impl Default for TimerIrqs {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What the tree says about interrupts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GicInfo {
    /// The GIC, if one was found and decoded.
    pub gic: Option<GicNode>,
    /// Why a GIC node was found but not used.
    pub issue: Option<&'static str>,
    /// The timer's interrupts.
    pub timer: TimerIrqs,
}

impl GicInfo {
    /// Nothing found: no GIC, the default timer PPIs.
    pub const fn new() -> Self {
        Self { gic: None, issue: None, timer: TimerIrqs::DEFAULT }
    }
}

impl Default for GicInfo {
    fn default() -> Self {
        Self::new()
    }
}

fn is_okay(node: FdtNode<'_, '_>) -> bool {
    matches!(prop_str(node, "status"), None | Some("okay") | Some("ok"))
}

fn gic_version<'a>(node: FdtNode<'_, 'a>) -> Option<(GicVersion, &'a str)> {
    if node.property("interrupt-controller").is_none() || !is_okay(node) {
        return None;
    }
    node.compatible()?.all().find_map(|s| GicVersion::of_compatible(s).map(|v| (v, s)))
}

fn phandle_of(node: FdtNode<'_, '_>) -> Option<u32> {
    node.property("phandle").or_else(|| node.property("linux,phandle")).and_then(|p| be32(p.value, 0))
}

/// A matching node, decoded.
type Found = Result<GicNode, &'static str>;

/// A matching node and its ancestors, for [`decode`].
type Match<'b, 'a> = (FdtNode<'b, 'a>, Vec<FdtNode<'b, 'a>, MAX_DEPTH>);

/// Depth-first: the node with phandle `want` (into `wanted`; then stop,
/// returning true) and the first match (into `first`). `chain` holds
/// `node`'s ancestors. Nothing large lives in a level's frame: the walk
/// runs on a 16 KiB kernel stack, as deep as the tree.
fn find<'b, 'a>(
    node: FdtNode<'b, 'a>,
    chain: &mut Vec<FdtNode<'b, 'a>, MAX_DEPTH>,
    want: Option<u32>,
    first: &mut Option<Match<'b, 'a>>,
    wanted: &mut Option<Match<'b, 'a>>,
) -> bool {
    if chain.push(node).is_err() {
        return false;
    }
    let mut stop = false;
    for child in node.children() {
        if gic_version(child).is_some() {
            if want.is_some() && phandle_of(child) == want {
                record(wanted, child, chain);
                stop = true;
                break;
            }
            if first.is_none() {
                record(first, child, chain);
            }
        }
        if find(child, chain, want, first, wanted) {
            stop = true;
            break;
        }
    }
    chain.pop();
    stop
}

/// Keep `node` and a copy of its ancestors. Never inlined: the copy's
/// temporaries would otherwise sit in every level of [`find`]'s recursion.
#[inline(never)]
fn record<'b, 'a>(slot: &mut Option<Match<'b, 'a>>, node: FdtNode<'b, 'a>, chain: &Vec<FdtNode<'b, 'a>, MAX_DEPTH>) {
    *slot = Some((node, chain.clone()));
}

#[inline(never)] // its buffers stay out of the walk's frames
fn decode(node: FdtNode<'_, '_>, chain: &[FdtNode<'_, '_>]) -> Found {
    let (version, compatible) = gic_version(node).ok_or("not a GIC")?;
    let parent = *chain.last().ok_or("the interrupt controller has no parent")?;
    let (ac, sc) = child_cells(parent);
    let reg = node.property("reg").ok_or("the interrupt controller has no reg")?;
    let mut blocks: Vec<RegBlock, 8> = Vec::new();
    for (a, s) in decode_pairs(reg.value, ac, sc) {
        let base =
            translate_chain(chain, a).ok_or("an interrupt controller reg does not translate to a CPU address")?;
        if s == 0 || base.checked_add(s - 1).is_none() {
            return Err("an interrupt controller reg is empty or wraps past 2^64");
        }
        if blocks.push(RegBlock { base, size: s }).is_err() {
            break;
        }
    }
    let dist = *blocks.first().ok_or("the interrupt controller's reg cannot be decoded")?;
    let interrupt_cells = node.property("#interrupt-cells").and_then(|p| be32(p.value, 0)).unwrap_or(3);
    let mut out = GicNode {
        version,
        compatible: truncated(compatible),
        name: truncated(node.name),
        dist,
        cpu_if: None,
        redist: Vec::new(),
        redist_stride: None,
        interrupt_cells,
    };
    match version {
        GicVersion::V2 => {
            out.cpu_if = Some(*blocks.get(1).ok_or("a GICv2 node without its CPU interface reg")?);
        }
        GicVersion::V3 => {
            let n = node.property("#redistributor-regions").and_then(|p| be32(p.value, 0)).unwrap_or(1) as usize;
            if n == 0 {
                return Err("#redistributor-regions is 0");
            }
            if blocks.len() < 1 + n.min(MAX_REDIST_REGIONS) {
                return Err("a GICv3 node with fewer reg entries than its redistributor regions");
            }
            for b in blocks.iter().skip(1).take(n.min(MAX_REDIST_REGIONS)) {
                let _ = out.redist.push(*b);
            }
            out.redist_stride = match node.property("redistributor-stride") {
                None => None,
                Some(p) => {
                    let v = match p.value.len() {
                        4 => be32(p.value, 0).map(u64::from),
                        8 => super::raw::be64(p.value, 0),
                        _ => None,
                    };
                    // Linux accepts only multiples of 64 KiB (one frame).
                    match v {
                        Some(s) if s != 0 && s.is_multiple_of(0x1_0000) => Some(s),
                        _ => return Err("redistributor-stride is not a nonzero multiple of 64 KiB"),
                    }
                }
            };
        }
    }
    Ok(out)
}

/// One interrupt specifier (`cells` cells from `data` at entry `i`) as an
/// INTID: GIC type 0 = SPI, 1 = PPI.
fn intid(data: &[u8], cells: usize, i: usize) -> Option<u32> {
    if cells < 2 {
        return None;
    }
    let at = i.checked_mul(cells * 4)?;
    let (kind, num) = (be32(data, at)?, be32(data, at + 4)?);
    match kind {
        0 if num < 988 => Some(32 + num),
        1 if num < 16 => Some(16 + num),
        _ => None,
    }
}

fn find_timer<'b, 'a>(node: FdtNode<'b, 'a>, depth: usize) -> Option<FdtNode<'b, 'a>> {
    for child in node.children() {
        let timer =
            child.compatible().is_some_and(|c| c.all().any(|s| s == "arm,armv8-timer" || s == "arm,armv7-timer"));
        if timer && is_okay(child) {
            return Some(child);
        }
        if depth < MAX_DEPTH
            && let Some(t) = find_timer(child, depth + 1)
        {
            return Some(t);
        }
    }
    None
}

/// The GIC and the timer's interrupts under `root`. Never panics: what does
/// not decode is reported in [`GicInfo::issue`] or left at its default.
pub fn parse_gic(root: FdtNode<'_, '_>) -> GicInfo {
    let mut info = GicInfo::new();
    let want = root.property("interrupt-parent").and_then(|p| be32(p.value, 0));
    let (mut first, mut wanted) = (None, None);
    find(root, &mut Vec::new(), want, &mut first, &mut wanted);
    let found = wanted.or(first).map(|(node, chain)| decode(node, &chain));
    match found {
        Some(Ok(g)) => info.gic = Some(g),
        Some(Err(why)) => info.issue = Some(why),
        None => {}
    }
    let cells = info.gic.as_ref().map_or(3, |g| g.interrupt_cells) as usize;
    if let Some(t) = find_timer(root, 0) {
        info.timer.always_on = t.property("always-on").is_some();
        if let Some(p) = t.property("interrupts") {
            let slots =
                [&mut info.timer.sec_phys, &mut info.timer.phys, &mut info.timer.virt, &mut info.timer.hyp_phys];
            let mut n = 0;
            for (i, slot) in slots.into_iter().enumerate() {
                match intid(p.value, cells, i) {
                    Some(id) => {
                        *slot = id;
                        n += 1;
                    }
                    None => break,
                }
            }
            info.timer.from_tree = n;
        }
    }
    info
}
