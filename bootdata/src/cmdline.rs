//! The kernel command line (/chosen/bootargs), parsed like Linux's early params.
//!
//! Words are separated by spaces, tabs or newlines; a value may be
//! double-quoted to hold spaces (`param="a b"`; an unterminated quote runs
//! to the end of the line). A word is `name` or `name=value`; in names `-`
//! and `_` are the same (Linux's parameqn). Each known parameter has a
//! parser; a value it cannot parse is reported with the parameter's name
//! ([`Diag::Malformed`]) and the default is kept. A well-formed value that
//! names something that does not exist (a benchmark suite, an lkdtm crash
//! type) is reported by name ([`Diag::NoSuch`]): the kernel refuses to boot
//! on it (exit code 5) rather than run something else. `selftest=` names are
//! checked for form here and resolved by the kernel, which alone knows its
//! tests. Unknown words are collected and listed once, as Linux does.
//! Parsing itself never fails.

use crate::fixedstr::truncated;
use core::fmt;
use heapless::{String, Vec};

/// Which self-tests to run (`selftest=`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one instance per boot, parsed before there is a heap
pub enum SelftestSel {
    /// Every suite (the default; `selftest=all` or `selftest=on`).
    All,
    /// None (`selftest=off`).
    Off,
    /// Only the named suites and tests, as given (`selftest=mmu,pages.zeroing`):
    /// a comma list of well-formed [`TestName`]s, read back with [`SelftestSel::names`].
    Only(String<SELFTEST_LIST_LEN>),
}

/// Longest `selftest=` list kept.
pub const SELFTEST_LIST_LEN: usize = 512;

/// One entry of a `selftest=` list: a whole suite, or one test of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestName<'a> {
    /// The suite (`pages` in `pages.zeroing`).
    pub suite: &'a str,
    /// The test, if one is named (`zeroing`).
    pub test: Option<&'a str>,
}

impl<'a> TestName<'a> {
    /// `suite` or `suite.test`, if both parts are non-empty words of ASCII
    /// letters, digits and `_`.
    pub fn parse(s: &'a str) -> Option<Self> {
        let word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let (suite, test) = match s.split_once('.') {
            Some((suite, test)) => (suite, Some(test)),
            None => (s, None),
        };
        (word(suite) && test.is_none_or(word)).then_some(TestName { suite, test })
    }

    /// Whether this entry selects `suite.test`.
    pub fn selects(&self, suite: &str, test: &str) -> bool {
        self.suite == suite && self.test.is_none_or(|t| t == test)
    }
}

impl fmt::Display for TestName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.test {
            Some(t) => write!(f, "{}.{}", self.suite, t),
            None => f.write_str(self.suite),
        }
    }
}

impl SelftestSel {
    /// The entries of an `Only` list (none for `All` and `Off`).
    pub fn names(&self) -> impl Iterator<Item = TestName<'_>> {
        let list = match self {
            SelftestSel::Only(list) => list.as_str(),
            _ => "",
        };
        list.split(',').filter_map(TestName::parse)
    }

    /// Whether test `test` of suite `suite` is selected.
    pub fn wants(&self, suite: &str, test: &str) -> bool {
        match self {
            SelftestSel::All => true,
            SelftestSel::Off => false,
            SelftestSel::Only(_) => self.names().any(|n| n.selects(suite, test)),
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
    /// A load from a page just given back to the buddy allocator: an oops
    /// with `debug_pagealloc=on`, a read of stale memory without.
    ReadBuddyAfterFree,
    /// A write past the end of a vmalloc area, into its guard page.
    VmallocLinearOverflow,
    /// A read of the byte just below the current kernel stack (its guard).
    StackGuardPageLeading,
    /// A read of the byte just above the current kernel stack (its guard).
    StackGuardPageTrailing,
    /// A write to a constant in .rodata.
    WriteRo,
    /// A call to code copied into a .data/.bss buffer.
    ExecData,
    /// A call to code copied into a vmalloc area.
    ExecVmalloc,
    /// A plain kernel load from a mapped user page (not through uaccess):
    /// an oops where the CPU has PAN.
    AccessUserspace,
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
    /// `debug_pagealloc=on/off`: unmap pages from the linear map while
    /// they are free, so a use after free of a whole page faults.
    pub debug_pagealloc: bool,
    /// `page_alloc.check_pages=0/1`: the page allocator's per-page checks
    /// at every allocation and free (Linux's check_pages_enabled, which
    /// CONFIG_DEBUG_VM, debug_pagealloc and init_on_* turn on).
    pub check_pages: bool,
    /// `bench=`: benchmark suites to run (bit i is `BENCH_SUITES[i]`).
    pub bench: u32,
    /// `slub_debug` / `slub_debug=...`.
    pub slub_debug: SlubDebugArg,
    /// `console=` values in command-line order (`ttyAMA0,115200`, `serial1`).
    pub console: Vec<String<48>, 4>,
    /// `earlycon` (`Some("")`) or `earlycon=VALUE` (`pl011,0x9000000`).
    pub earlycon: Option<String<64>>,
    /// `panic=N`: seconds before a reset after a panic; 0 = stay, negative
    /// = at once (Linux's panic_timeout).
    pub panic_timeout: i32,
    /// `reboot=`: how a run ends without semihosting.
    pub reboot: RebootMode,
    /// `maps_at_exit` (not Linux's): every user process prints its
    /// /proc/<pid>/maps and smaps_rollup when it exits.
    pub maps_at_exit: bool,
    /// `ptdump`: print the kernel page tables after the self-tests
    /// (Linux's /sys/kernel/debug/kernel_page_tables).
    pub ptdump: bool,
    /// `shell` (not Linux's): after the self-tests (and the reports and
    /// benchmarks asked for), an interactive console on the console UART
    /// instead of the end of the run; its `poweroff` ends the run.
    pub shell: bool,
    /// `asid_bits=N` (4-16; a debug parameter Linux does not have): use
    /// only N bits of ASID, so that ASID generations roll over after a few
    /// address spaces. `None`: the width the CPU reports.
    pub asid_bits: Option<u8>,
    /// `rdinit=`: the path of the first program in the initramfs (Linux's
    /// ramdisk_execute_command; default [`DEFAULT_RDINIT`]).
    pub rdinit: String<PATH_PARAM_LEN>,
    /// `sysctl.vm.compact_memory=1`: compact every zone of every node once
    /// the kernel is up (writing 1 to /proc/sys/vm/compact_memory; Linux
    /// takes `sysctl.` parameters on the command line since 5.8).
    pub compact_memory: bool,
    /// `sysctl.vm.extfrag_threshold=N` (0-1000): the fragmentation index
    /// above which compaction is worth trying (Linux's default 500).
    pub extfrag_threshold: Option<u16>,
    /// `init=`: Linux's first program on a root file system other than the
    /// initramfs (execute_command). There is no such root file system
    /// here, so it is only recorded; Linux too ignores it when the
    /// initramfs has the rdinit program.
    pub init: Option<String<PATH_PARAM_LEN>>,
}

/// The range `asid_bits=` accepts.
pub const ASID_BITS_RANGE: core::ops::RangeInclusive<u8> = 4..=16;

/// Longest `rdinit=` / `init=` path kept; a longer one is malformed.
pub const PATH_PARAM_LEN: usize = 128;
/// The initramfs program Linux runs when `rdinit=` is absent.
pub const DEFAULT_RDINIT: &str = "/init";

/// `reboot=`: what the end of a run does on a machine with no semihosting host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RebootMode {
    /// Power off (PSCI SYSTEM_OFF, else the Pi's PM watchdog): the default.
    PowerOff,
    /// `reboot=park`: print the verdict and park the CPU.
    Park,
    /// `reboot=reset`: reset the board instead of powering it off.
    Reset,
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
pub const BENCH_SUITES: &[&str] = &["pages", "slab", "vmalloc", "fault", "cma", "smp"];

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
            check_pages: false,
            init_on_free: false,
            debug_pagealloc: false,
            bench: 0,
            slub_debug: SlubDebugArg::Unset,
            console: Vec::new(),
            earlycon: None,
            panic_timeout: 0,
            reboot: RebootMode::PowerOff,
            ptdump: false,
            shell: false,
            maps_at_exit: false,
            compact_memory: false,
            extfrag_threshold: None,
            asid_bits: None,
            rdinit: truncated(DEFAULT_RDINIT),
            init: None,
        }
    }
}

/// The crash types `lkdtm=` may name, as Linux spells them.
pub const LKDTM_TYPES: &[(&str, Lkdtm)] = &[
    ("PANIC", Lkdtm::Panic),
    ("EXHAUST_STACK", Lkdtm::ExhaustStack),
    ("UNDEF", Lkdtm::Undef),
    ("ACCESS_NULL", Lkdtm::AccessNull),
    ("READ_BUDDY_AFTER_FREE", Lkdtm::ReadBuddyAfterFree),
    ("VMALLOC_LINEAR_OVERFLOW", Lkdtm::VmallocLinearOverflow),
    ("STACK_GUARD_PAGE_LEADING", Lkdtm::StackGuardPageLeading),
    ("STACK_GUARD_PAGE_TRAILING", Lkdtm::StackGuardPageTrailing),
    ("WRITE_RO", Lkdtm::WriteRo),
    ("EXEC_DATA", Lkdtm::ExecData),
    ("EXEC_VMALLOC", Lkdtm::ExecVmalloc),
    ("ACCESS_USERSPACE", Lkdtm::AccessUserspace),
];

/// Something the parser wants said: printed by the caller once the console is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Diag {
    /// A known parameter with a value its parser rejects.
    Malformed { name: String<32>, value: String<64> },
    /// A well-formed value naming something that does not exist: the
    /// parameter, what kind of thing it names, and the name.
    NoSuch { param: &'static str, what: &'static str, name: String<64> },
    /// A parameter given more than once; the last one wins, as in Linux.
    Repeated(String<32>),
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::Malformed { name, value } => {
                write!(f, "cmdline: malformed value for '{name}': \"{value}\" (default kept)")
            }
            Diag::NoSuch { param, what, name } => write!(f, "{param}: no such {what} \"{name}\""),
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
    if v.len() > SELFTEST_LIST_LEN || !v.split(',').all(|n| TestName::parse(n).is_some()) {
        return None;
    }
    Some(SelftestSel::Only(truncated(v)))
}

fn parse_core_size(v: &str) -> Option<CoreSize> {
    match v.strip_suffix('%') {
        Some(p) => p.parse::<u8>().ok().filter(|&p| p <= 100).map(CoreSize::Percent),
        None => memparse(v).map(CoreSize::Bytes),
    }
}

/// `rdinit=` / `init=`: a non-empty path that fits. Linux takes any
/// string and fails at exec; the path is only checked for length here.
fn parse_path(v: &str) -> Option<String<PATH_PARAM_LEN>> {
    (!v.is_empty() && v.len() <= PATH_PARAM_LEN).then(|| truncated(v))
}

/// A decimal number with an optional sign.
fn parse_i32(v: &str) -> Option<i32> {
    v.parse::<i32>().ok()
}

fn parse_bool01(v: &str) -> Option<bool> {
    match v {
        "0" | "off" | "n" => Some(false),
        "1" | "on" | "y" => Some(true),
        _ => None,
    }
}

/// Linux's kstrtobool: only the first character counts (`y`, `t`, `e`,
/// `1` true; `n`, `f`, `d`, `0` false, either case), or the first two for
/// `on` / `off` (`o` then `n` or `f`). Anything else, the empty value
/// included, is not a boolean.
fn kstrtobool(v: &str) -> Option<bool> {
    let b = v.as_bytes();
    match b.first()?.to_ascii_lowercase() {
        b'y' | b't' | b'e' | b'1' => Some(true),
        b'n' | b'f' | b'd' | b'0' => Some(false),
        b'o' => match b.get(1)?.to_ascii_lowercase() {
            b'n' => Some(true),
            b'f' => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// What a list-of-names parameter came to: the value, or the first name
/// that is malformed or does not exist.
enum Named<T> {
    Ok(T),
    Malformed,
    NoSuch(String<64>),
}

/// `bench=pages,slab`: a comma list of suite names.
fn parse_bench(v: &str) -> Named<u32> {
    let mut mask = 0u32;
    for name in v.split(',') {
        if TestName::parse(name).is_none_or(|n| n.test.is_some()) {
            return Named::Malformed;
        }
        match BENCH_SUITES.iter().position(|&s| s == name) {
            Some(i) => mask |= 1 << i,
            None => return Named::NoSuch(truncated(name)),
        }
    }
    Named::Ok(mask)
}

/// `lkdtm=TYPE`: one crash type, upper case as in Linux.
fn parse_lkdtm(v: &str) -> Named<Lkdtm> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Named::Malformed;
    }
    match LKDTM_TYPES.iter().find(|(name, _)| *name == v) {
        Some(&(_, l)) => Named::Ok(l),
        None => Named::NoSuch(truncated(v)),
    }
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
            ("maps_at_exit", None) => {
                p.maps_at_exit = true;
                true
            }
            ("ptdump", None) => {
                p.ptdump = true;
                true
            }
            ("shell", None) => {
                p.shell = true;
                true
            }
            ("asid_bits", Some(v)) => {
                v.parse::<u8>().ok().filter(|b| ASID_BITS_RANGE.contains(b)).map(|b| p.asid_bits = Some(b)).is_some()
            }
            ("cma", Some(v)) => parse_cma(v).map(|c| p.cma = Some(c)).is_some(),
            ("sysctl.vm.compact_memory", Some(v)) => (v == "1").then(|| p.compact_memory = true).is_some(),
            ("sysctl.vm.extfrag_threshold", Some(v)) => {
                v.parse::<u16>().ok().filter(|&t| t <= 1000).map(|t| p.extfrag_threshold = Some(t)).is_some()
            }
            ("lkdtm", Some(v)) => match parse_lkdtm(v) {
                Named::Ok(l) => {
                    p.lkdtm = Some(l);
                    true
                }
                Named::Malformed => false,
                Named::NoSuch(name) => {
                    let _ = diags.list.push(Diag::NoSuch { param: "lkdtm", what: "crash type", name });
                    true
                }
            },
            ("numa", Some(v)) => (v == "off").then(|| p.numa_off = true).is_some(),
            ("movablecore", Some(v)) => parse_core_size(v).map(|c| p.movablecore = Some(c)).is_some(),
            ("kernelcore", Some(v)) => parse_core_size(v).map(|c| p.kernelcore = Some(c)).is_some(),
            ("init_on_alloc", Some(v)) => parse_bool01(v).map(|b| p.init_on_alloc = b).is_some(),
            ("init_on_free", Some(v)) => parse_bool01(v).map(|b| p.init_on_free = b).is_some(),
            ("debug_pagealloc", Some(v)) => kstrtobool(v).map(|b| p.debug_pagealloc = b).is_some(),
            ("page_alloc.check_pages", Some(v)) => parse_bool01(v).map(|b| p.check_pages = b).is_some(),
            ("bench", Some(v)) => match parse_bench(v) {
                Named::Ok(mask) => {
                    p.bench = mask;
                    true
                }
                Named::Malformed => false,
                Named::NoSuch(name) => {
                    let _ = diags.list.push(Diag::NoSuch { param: "bench", what: "suite", name });
                    true
                }
            },
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
            ("console", Some(v)) => {
                let fits = v.len() <= 48 && !v.is_empty();
                if fits && p.console.push(truncated(v)).is_err() {
                    let _ = p.console.remove(0);
                    let _ = p.console.push(truncated(v));
                }
                fits
            }
            ("earlycon", None) => {
                p.earlycon = Some(String::new());
                true
            }
            ("earlycon", Some(v)) => {
                let fits = v.len() <= 64;
                if fits {
                    p.earlycon = Some(truncated(v));
                }
                fits
            }
            ("rdinit", Some(v)) => parse_path(v).map(|v| p.rdinit = v).is_some(),
            ("init", Some(v)) => parse_path(v).map(|v| p.init = Some(v)).is_some(),
            ("panic", Some(v)) => parse_i32(v).map(|t| p.panic_timeout = t).is_some(),
            ("reboot", Some(v)) => match v {
                "park" | "p" => Some(RebootMode::Park),
                "poweroff" | "off" => Some(RebootMode::PowerOff),
                "reset" | "cold" | "warm" | "hard" | "soft" => Some(RebootMode::Reset),
                _ => None,
            }
            .map(|m| p.reboot = m)
            .is_some(),
            (
                "console"
                | "panic"
                | "reboot"
                | "mem"
                | "memblock"
                | "selftest"
                | "loglevel"
                | "cma"
                | "lkdtm"
                | "numa"
                | "movablecore"
                | "kernelcore"
                | "init_on_alloc"
                | "init_on_free"
                | "bench"
                | "debug_pagealloc"
                | "page_alloc.check_pages"
                | "asid_bits"
                | "rdinit"
                | "init"
                | "sysctl.vm.compact_memory"
                | "sysctl.vm.extfrag_threshold",
                None,
            ) => false,
            ("quiet" | "debug" | "mminfo" | "ptdump" | "shell" | "maps_at_exit", Some(_)) => false,
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
        if name == "console" {
            continue; // several consoles are normal (Linux uses them all)
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

    /// Whether the command line names something that does not exist (the
    /// kernel stops with exit code 5 on it).
    pub fn has_no_such(&self) -> bool {
        self.list.iter().any(|d| matches!(d, Diag::NoSuch { .. }))
    }
}

/// Linux's line for unknown parameters.
pub struct UnknownLine<'a>(pub &'a str);

impl fmt::Display for UnknownLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Unknown kernel command line parameters \"{}\", will be ignored.", self.0)
    }
}
