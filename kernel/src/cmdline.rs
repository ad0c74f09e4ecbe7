//! The kernel command line (/chosen/bootargs), parsed like Linux's early params.
//!
//! Words are separated by spaces; a value may be double-quoted to hold spaces
//! (`param="a b"`). A word is `name` or `name=value`; in names `-` and `_` are
//! the same (Linux's parameqn). Each known parameter has a parser; a value it
//! cannot parse is reported with the parameter's name and the default is
//! kept. Unknown words are collected and listed once, as Linux does. Nothing
//! here can fail the boot.

use crate::fixedstr::truncated;
use core::fmt::Write;
use heapless::{String, Vec};

/// Which self-test suites to run (`selftest=`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelftestSel {
    /// Every suite (the default; `selftest=all` or `selftest=on`).
    All,
    /// None (`selftest=off`).
    Off,
    /// Only the named suites (`selftest=mmu,memblock`): bit i is `SUITES[i]`.
    Only(u32),
}

impl SelftestSel {
    /// Whether `suite` is selected.
    pub fn wants(&self, suite: &str) -> bool {
        match self {
            SelftestSel::All => true,
            SelftestSel::Off => false,
            SelftestSel::Only(mask) => SUITES.iter().position(|&s| s == suite).is_some_and(|i| mask & (1 << i) != 0),
        }
    }
}

/// `cma=nn[KMG][@start[-end]]`: the size and placement of the default CMA area.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmaSpec {
    /// Size of the area in bytes.
    pub size_bytes: u64,
    /// Fixed base (`@start`), if given.
    pub base: Option<u64>,
    /// Upper limit (`-end`, exclusive), if given.
    pub limit: Option<u64>,
}

/// Deliberate crashes for testing the oops and panic paths (Linux's lkdtm).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lkdtm {
    /// `panic!()`.
    Panic,
    /// Unbounded recursion until the stack guard.
    ExhaustStack,
    /// An undefined instruction.
    Undef,
    /// A load from address 0.
    AccessNull,
}

/// Parsed parameters, with Linux's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `mem=`: cap on usable RAM in bytes.
    pub mem_limit: Option<u64>,
    /// `memblock=debug`.
    pub memblock_debug: bool,
    /// `selftest=`.
    pub selftest: SelftestSel,
    /// `loglevel=` (also `quiet` = 4, `debug` = 10).
    pub loglevel: u8,
    /// `mminfo`: print the memory reports.
    pub mminfo: bool,
    /// `cma=`.
    pub cma: Option<CmaSpec>,
    /// `lkdtm=`.
    pub lkdtm: Option<Lkdtm>,
    /// `numa=off`: fold every node into node 0.
    pub numa_off: bool,
    /// `movablecore=`: memory for ZONE_MOVABLE.
    pub movablecore: Option<CoreSize>,
    /// `kernelcore=`: memory that stays out of ZONE_MOVABLE.
    pub kernelcore: Option<CoreSize>,
    /// `init_on_alloc=0/1`: zero pages when allocated.
    pub init_on_alloc: bool,
    /// `init_on_free=0/1`: zero pages when freed.
    pub init_on_free: bool,
    /// `bench=`: benchmark suites to run (bit i is `BENCH_SUITES[i]`).
    pub bench: u32,
    /// `slub_debug` / `slub_debug=...`.
    pub slub_debug: SlubDebugArg,
}

/// `slub_debug` as given: absent, bare (all checks), or with Linux's value
/// syntax (`FZPU`, `FZ,kmalloc-64`, `-`), which SLUB itself parses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlubDebugArg {
    /// Not on the command line.
    Unset,
    /// `slub_debug` alone.
    Bare,
    /// `slub_debug=VALUE`.
    Value(String<64>),
}

/// `kernelcore=` / `movablecore=`: bytes or a percentage of memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreSize {
    /// An absolute size in bytes.
    Bytes(u64),
    /// A percentage of all memory (`nn%`).
    Percent(u8),
}

/// The benchmark suites `bench=` may name.
pub const BENCH_SUITES: &[&str] = &["pages", "slab"];

impl Default for Params {
    fn default() -> Self {
        Self {
            mem_limit: None,
            memblock_debug: false,
            selftest: SelftestSel::All,
            loglevel: 7,
            mminfo: false,
            cma: None,
            lkdtm: None,
            numa_off: false,
            movablecore: None,
            kernelcore: None,
            init_on_alloc: false,
            init_on_free: false,
            bench: 0,
            slub_debug: SlubDebugArg::Unset,
        }
    }
}

/// The self-test suites `selftest=` may name.
pub const SUITES: &[&str] =
    &["cmdline", "fdt", "memblock", "mmu", "exceptions", "timer", "smp", "zones", "pages", "slub", "heap"];

/// Something the parser wants said: printed by the caller once the console is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Diag {
    /// A known parameter with a value its parser rejects.
    Malformed { name: String<32>, value: String<64> },
    /// A parameter given more than once; the last one wins, as in Linux.
    Repeated(String<32>),
}

impl core::fmt::Display for Diag {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Diag::Malformed { name, value } => {
                write!(f, "cmdline: malformed value for '{name}': \"{value}\" (default kept)")
            }
            Diag::Repeated(name) => write!(f, "cmdline: '{name}' given more than once, the last one wins"),
        }
    }
}

/// Linux's memparse: a number (decimal, 0x hex, 0 octal) with an optional
/// K/M/G/T/P/E suffix. Unlike Linux, trailing garbage is an error.
pub fn memparse(s: &str) -> Option<u64> {
    let (num, rest) = parse_number(s)?;
    let shift = match rest {
        "" => 0,
        "k" | "K" => 10,
        "m" | "M" => 20,
        "g" | "G" => 30,
        "t" | "T" => 40,
        "p" | "P" => 50,
        "e" | "E" => 60,
        _ => return None,
    };
    num.checked_mul(1u64 << shift)
}

/// A leading unsigned number (base 0 like simple_strtoull) and what follows it.
fn parse_number(s: &str) -> Option<(u64, &str)> {
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, h)
    } else if s.len() > 1 && s.starts_with('0') && s.as_bytes()[1].is_ascii_digit() {
        (8, &s[1..])
    } else {
        (10, s)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let n = u64::from_str_radix(&digits[..end], radix).ok()?;
    Some((n, &digits[end..]))
}

/// `nn[KMG][@start[-end]]`.
fn parse_cma(v: &str) -> Option<CmaSpec> {
    let (size, place) = match v.split_once('@') {
        Some((s, p)) => (s, Some(p)),
        None => (v, None),
    };
    let size_bytes = memparse(size)?;
    let (base, limit) = match place {
        None => (None, None),
        Some(p) => match p.split_once('-') {
            Some((b, e)) => (Some(memparse(b)?), Some(memparse(e)?)),
            None => (Some(memparse(p)?), None),
        },
    };
    if let (Some(b), Some(l)) = (base, limit)
        && l <= b
    {
        return None;
    }
    Some(CmaSpec { size_bytes, base, limit })
}

fn parse_selftest(v: &str) -> Option<SelftestSel> {
    match v {
        "off" | "0" | "none" => return Some(SelftestSel::Off),
        "all" | "on" | "1" => return Some(SelftestSel::All),
        _ => {}
    }
    let mut mask = 0u32;
    for name in v.split(',') {
        mask |= 1 << SUITES.iter().position(|&s| s == name)?;
    }
    Some(SelftestSel::Only(mask))
}

fn parse_core_size(v: &str) -> Option<CoreSize> {
    match v.strip_suffix('%') {
        Some(p) => p.parse::<u8>().ok().filter(|&p| p <= 100).map(CoreSize::Percent),
        None => memparse(v).map(CoreSize::Bytes),
    }
}

fn parse_bool01(v: &str) -> Option<bool> {
    match v {
        "0" | "off" | "n" => Some(false),
        "1" | "on" | "y" => Some(true),
        _ => None,
    }
}

fn parse_bench(v: &str) -> Option<u32> {
    let mut mask = 0u32;
    for name in v.split(',') {
        mask |= 1 << BENCH_SUITES.iter().position(|&s| s == name)?;
    }
    Some(mask)
}

fn parse_lkdtm(v: &str) -> Option<Lkdtm> {
    Some(match v {
        "PANIC" => Lkdtm::Panic,
        "EXHAUST_STACK" => Lkdtm::ExhaustStack,
        "UNDEF" => Lkdtm::Undef,
        "ACCESS_NULL" => Lkdtm::AccessNull,
        _ => return None,
    })
}

/// Split into words, honouring double quotes (Linux's next_arg).
fn words(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    core::iter::from_fn(move || {
        rest = rest.trim_start_matches([' ', '\t', '\n']);
        if rest.is_empty() {
            return None;
        }
        let mut in_quote = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if c == '"' {
                in_quote = !in_quote;
            } else if (c == ' ' || c == '\t' || c == '\n') && !in_quote {
                end = i;
                break;
            }
        }
        let w = &rest[..end];
        rest = &rest[end..];
        Some(w)
    })
}

/// Parse a command line. Never fails: problems come back as diagnostics.
pub fn parse(cmdline: &str) -> (Params, Diags) {
    let mut p = Params::default();
    let mut diags = Diags::default();
    let mut seen: Vec<&str, 32> = Vec::new();

    for word in words(cmdline) {
        let (raw_name, value) = match word.split_once('=') {
            Some((n, v)) => (n, Some(v.trim_matches('"'))),
            None => (word, None),
        };
        let mut name_buf: String<32> = String::new();
        for c in raw_name.chars() {
            let _ = name_buf.push(if c == '-' { '_' } else { c });
        }
        let name = name_buf.as_str();
        let ok = match (name, value) {
            ("mem", Some(v)) => memparse(v).filter(|&n| n > 0).map(|n| p.mem_limit = Some(n)).is_some(),
            ("memblock", Some(v)) => (v == "debug").then(|| p.memblock_debug = true).is_some(),
            ("selftest", Some(v)) => parse_selftest(v).map(|s| p.selftest = s).is_some(),
            ("loglevel", Some(v)) => v.parse::<u8>().ok().filter(|&l| l <= 15).map(|l| p.loglevel = l).is_some(),
            ("quiet", None) => {
                p.loglevel = 4;
                true
            }
            ("debug", None) => {
                p.loglevel = 10;
                true
            }
            ("mminfo", None) => {
                p.mminfo = true;
                true
            }
            ("cma", Some(v)) => parse_cma(v).map(|c| p.cma = Some(c)).is_some(),
            ("lkdtm", Some(v)) => parse_lkdtm(v).map(|l| p.lkdtm = Some(l)).is_some(),
            ("numa", Some(v)) => (v == "off").then(|| p.numa_off = true).is_some(),
            ("movablecore", Some(v)) => parse_core_size(v).map(|c| p.movablecore = Some(c)).is_some(),
            ("kernelcore", Some(v)) => parse_core_size(v).map(|c| p.kernelcore = Some(c)).is_some(),
            ("init_on_alloc", Some(v)) => parse_bool01(v).map(|b| p.init_on_alloc = b).is_some(),
            ("init_on_free", Some(v)) => parse_bool01(v).map(|b| p.init_on_free = b).is_some(),
            ("bench", Some(v)) => parse_bench(v).map(|b| p.bench = b).is_some(),
            ("slub_debug", None) => {
                p.slub_debug = SlubDebugArg::Bare;
                true
            }
            ("slub_debug", Some(v)) => {
                let fits = v.len() <= 64;
                if fits {
                    p.slub_debug = SlubDebugArg::Value(truncated(v));
                }
                fits
            }
            (
                "mem" | "memblock" | "selftest" | "loglevel" | "cma" | "lkdtm" | "numa" | "movablecore" | "kernelcore"
                | "init_on_alloc" | "init_on_free" | "bench",
                None,
            ) => false,
            ("quiet" | "debug" | "mminfo", Some(_)) => false,
            _ => {
                if !diags.unknown.is_empty() {
                    let _ = diags.unknown.push(' ');
                }
                for c in word.chars() {
                    let _ = diags.unknown.push(c);
                }
                continue;
            }
        };
        if !ok {
            let _ =
                diags.list.push(Diag::Malformed { name: truncated(raw_name), value: truncated(value.unwrap_or("")) });
        }
        if seen.contains(&raw_name) {
            let _ = diags.list.push(Diag::Repeated(truncated(raw_name)));
        } else {
            let _ = seen.push(raw_name);
        }
    }
    (p, diags)
}

/// What parsing found worth saying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diags {
    /// Malformed and repeated parameters.
    pub list: Vec<Diag, 16>,
    /// Words no parameter claims, space-separated (empty if none).
    pub unknown: String<256>,
}

impl Diags {
    /// Whether there is nothing to say.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.unknown.is_empty()
    }
}

/// Linux's line for unknown parameters.
pub struct UnknownLine<'a>(pub &'a str);

impl core::fmt::Display for UnknownLine<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Unknown kernel command line parameters \"{}\", will be ignored.", self.0)
    }
}

/// Render a diagnostic into a fixed buffer (for tests).
pub fn render(d: &Diag) -> String<384> {
    let mut s = String::new();
    let _ = write!(s, "{d}");
    s
}
