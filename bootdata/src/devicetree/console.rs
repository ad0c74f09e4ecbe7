//! The UARTs of the tree, /aliases, /chosen/stdout-path (read by `parse`),
//! and the ordered list of consoles to try ([`console_candidates`]).
//!
//! Every node that is a UART (by `compatible`: the PL011, the BCM2835 AUX
//! mini UART, and the 8250 family and others this kernel does not drive) is
//! recorded as a [`UartNode`]: its path, first compatible, status, CPU
//! physical address (its `reg` translated through every parent bus's
//! `ranges`), its reference clock, and for a mini UART its AUX block.
//!
//! Aliases are resolved by hand with loop detection: a value that does not
//! start with `/` is taken as another alias, at most [`MAX_ALIAS_HOPS`]
//! deep, and a name met twice is an [`AliasError::Loop`] naming the chain
//! (`serial0 -> serial0`). Nothing here recurses on input, so no tree can
//! hang the parse or overflow the stack.
//!
//! The console is chosen as Linux chooses it, with the command line first
//! (in Linux a `console=` overrides the tree's stdout-path): each `console=`
//! (`ttyAMA0`, `ttyS1`, `serial0`, a path; `,115200`), then `earlycon=`
//! (`pl011,ADDR`, `uart8250,mmio32,ADDR`, bare = stdout-path), then
//! /chosen/stdout-path (with its `:115200n8`), then every other UART that is
//! `okay` and driven, in tree order. A candidate that names something
//! unusable stays in the list as a [`Target::Refused`], so the kernel can
//! say why and go on to the next one.

use crate::cmdline::Params;
use crate::fixedstr::truncated;
use core::fmt;
use heapless::{String, Vec};

/// Most UART nodes kept.
pub const MAX_UARTS: usize = 10;
/// Most alias-to-alias steps followed before giving up.
pub const MAX_ALIAS_HOPS: usize = 8;
/// Most console candidates.
pub const MAX_CANDIDATES: usize = 12;
/// The baud rate when nothing names one.
pub const DEFAULT_BAUD: u32 = 115_200;
/// What the Raspberry Pi firmware sets the PL011's clock to before the
/// kernel runs (its `init_uart_clock` default), used when the tree's clock
/// is the BCM2711/BCM2835 clock manager, which this kernel does not drive.
pub const PI_FIRMWARE_UART_CLOCK_HZ: u64 = 48_000_000;

/// The kinds of UART the tree may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// `arm,pl011` (ttyAMA).
    Pl011,
    /// `brcm,bcm2835-aux-uart`: the mini UART (an 8250-family ttyS).
    Mini,
    /// Another 8250-family UART (`ns16550a`, `snps,dw-apb-uart`, ...): not driven.
    Ns8250,
    /// Another serial device (`arm,sbsa-uart`, ...): not driven.
    Other,
}

impl UartKind {
    /// Whether this kernel has a driver for it.
    pub fn driven(self) -> bool {
        matches!(self, UartKind::Pl011 | UartKind::Mini)
    }

    /// Whether Linux names it ttyS (the 8250 family, the mini UART included).
    pub fn is_tty_s(self) -> bool {
        matches!(self, UartKind::Mini | UartKind::Ns8250)
    }

    pub(super) fn of_compatible(c: &str) -> Option<UartKind> {
        Some(match c {
            "arm,pl011" => UartKind::Pl011,
            "brcm,bcm2835-aux-uart" => UartKind::Mini,
            "ns16550a"
            | "ns16550"
            | "ns16450"
            | "ns8250"
            | "snps,dw-apb-uart"
            | "intel,xscale-uart"
            | "nvidia,tegra20-uart" => UartKind::Ns8250,
            "arm,sbsa-uart" | "xlnx,xuartps" | "sifive,uart0" | "brcm,bcm6345-uart" => UartKind::Other,
            _ => return None,
        })
    }
}

/// Where a UART's reference clock rate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockSource {
    /// The node's own `clock-frequency`.
    Own,
    /// The `clock-frequency` of the node its first `clocks` entry names.
    Clocks,
    /// The clock is the Pi's clock manager: [`PI_FIRMWARE_UART_CLOCK_HZ`].
    PiFirmware,
    /// Unknown: the UART is usable only as the firmware set it up.
    Unknown,
}

/// A UART node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UartNode {
    /// Path of the node.
    pub path: String<64>,
    /// Its first `compatible` string that names a UART kind.
    pub compatible: String<40>,
    /// Its kind.
    pub kind: UartKind,
    /// `status` is `okay` (or absent).
    pub okay: bool,
    /// CPU physical address of its registers (`None`: `reg` missing or not
    /// translatable through the buses' `ranges`).
    pub pa: Option<u64>,
    /// Reference clock in Hz, if known.
    pub clock_hz: Option<u64>,
    /// Where `clock_hz` came from.
    pub clock: ClockSource,
    /// A mini UART's AUX block (the `brcm,bcm2835-aux` node, else `pa - 0x40`).
    pub aux_pa: Option<u64>,
    /// `arm,primecell-periphid`: the tree vouches for a PrimeCell whose ID
    /// registers are not to be trusted (Linux's AMBA bus then reads none).
    pub primecell_periphid: Option<u32>,
}

/// Why an alias does not lead to a node path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AliasError {
    /// The tree has no /aliases, or no alias of this name.
    NoSuchAlias(String<64>),
    /// The chain came back to a name it had passed: the whole chain.
    Loop(String<96>),
    /// More than [`MAX_ALIAS_HOPS`] aliases in a row.
    TooDeep(String<64>),
}

impl fmt::Display for AliasError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AliasError::NoSuchAlias(n) => write!(f, "no alias \"{n}\" in /aliases"),
            AliasError::Loop(chain) => write!(f, "alias loop: {chain}"),
            AliasError::TooDeep(n) => {
                write!(f, "alias \"{n}\" leads through more than {MAX_ALIAS_HOPS} aliases")
            }
        }
    }
}

/// Why a console reference does not name a UART this kernel can use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefError {
    /// An alias that does not resolve.
    Alias(AliasError),
    /// A path with no node.
    NoSuchNode(String<64>),
    /// A node that is not a UART this kernel drives (its compatible, or
    /// empty if it has none).
    NotDriven { path: String<64>, compatible: String<40> },
    /// A UART whose status is not okay.
    Disabled(String<64>),
    /// A UART whose `reg` is missing or cannot be translated.
    NoAddress(String<64>),
    /// `ttyAMAn` / `ttySn` with no such UART.
    NoSuchTty,
    /// A value of `console=` or `earlycon=` this kernel cannot read.
    Malformed,
}

impl fmt::Display for RefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RefError::Alias(e) => write!(f, "{e}"),
            RefError::NoSuchNode(p) => write!(f, "no node {p}"),
            RefError::NotDriven { path, compatible } if compatible.is_empty() => {
                write!(f, "{path} is not a UART this kernel drives (no compatible)")
            }
            RefError::NotDriven { compatible, .. } => write!(f, "{compatible} is not a UART this kernel drives"),
            RefError::Disabled(p) => write!(f, "{p} is disabled (status not okay)"),
            RefError::NoAddress(p) => write!(f, "{p} has no translatable reg"),
            RefError::NoSuchTty => f.write_str("no such UART in the device tree"),
            RefError::Malformed => f.write_str("value not understood"),
        }
    }
}

/// /chosen/stdout-path, resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StdoutPath {
    /// The name as given, without its options (`serial1`).
    pub name: String<64>,
    /// The baud rate of its options (`:115200n8`), if any.
    pub baud: Option<u32>,
    /// The UART (an index into [`ConsoleInfo::uarts`]) or why not.
    pub uart: Result<usize, RefError>,
}

/// Everything the console choice needs from the tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsoleInfo {
    /// Every UART node, in tree order.
    pub uarts: Vec<UartNode, MAX_UARTS>,
    /// `serialN` aliases: N and what they resolve to.
    pub serial_aliases: Vec<(u8, Result<usize, RefError>), 6>,
    /// /chosen/stdout-path (or linux,stdout-path), if present.
    pub stdout: Option<StdoutPath>,
    /// Whether there were more UARTs than [`MAX_UARTS`].
    pub truncated: bool,
}

/// The console the tree chooses without a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleNode {
    /// Path of the node.
    pub path: String<64>,
    /// CPU physical address of its registers.
    pub pa: u64,
}

impl ConsoleInfo {
    /// No UART (a `const`, so a static can hold one).
    pub const fn new() -> Self {
        Self { uarts: Vec::new(), serial_aliases: Vec::new(), stdout: None, truncated: false }
    }

    /// The first usable candidate of [`console_candidates`] with no
    /// command line: what the tree alone makes the console.
    pub fn console(&self) -> Option<ConsoleNode> {
        console_candidates(self, &Params::default()).iter().find_map(|c| match c.target {
            Target::Uart(i) => {
                let u = &self.uarts[i];
                Some(ConsoleNode { path: u.path.clone(), pa: u.pa? })
            }
            _ => None,
        })
    }
}

/// How a candidate was named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `console=` on the command line.
    Console,
    /// `earlycon=` on the command line.
    Earlycon,
    /// /chosen/stdout-path.
    StdoutPath,
    /// The first UART that is okay and driven.
    FirstOkay,
}

/// What a candidate names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A UART node (index into [`ConsoleInfo::uarts`]).
    Uart(usize),
    /// `earlycon=` at an address no node describes: the firmware's set-up
    /// is used as it is (no clock known).
    Address {
        /// PL011 or mini UART register layout.
        kind: UartKind,
        /// Its registers.
        pa: u64,
    },
    /// Named but unusable.
    Refused(RefError),
}

/// One console to try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Who named it.
    pub via: Via,
    /// The name as given (`serial1`, `ttyAMA0`, `pl011,0x9000000`, the path).
    pub name: String<64>,
    /// Baud rate.
    pub baud: u32,
    /// What it is.
    pub target: Target,
}

impl Candidate {
    /// `serial1 (/soc/serial@7e215040, brcm,bcm2835-aux-uart)`.
    pub fn describe<'a>(&'a self, con: &'a ConsoleInfo) -> impl fmt::Display + 'a {
        struct D<'a>(&'a Candidate, &'a ConsoleInfo);
        impl fmt::Display for D<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let c = self.0;
                match &c.target {
                    Target::Uart(i) => {
                        let u = &self.1.uarts[*i];
                        if c.name == u.path {
                            write!(f, "{} ({})", u.path, u.compatible)
                        } else {
                            write!(f, "{} ({}, {})", c.name, u.path, u.compatible)
                        }
                    }
                    Target::Address { pa, .. } => write!(f, "earlycon={} (MMIO {pa:#x})", c.name),
                    Target::Refused(RefError::NotDriven { compatible, .. }) if !compatible.is_empty() => {
                        write!(f, "{} ({})", c.name, compatible)
                    }
                    Target::Refused(_) => write!(f, "{}", c.name),
                }
            }
        }
        D(self, con)
    }
}

/// The list of candidates, best first.
pub type Candidates = Vec<Candidate, MAX_CANDIDATES>;

/// `115200n8` -> 115200.
pub(super) fn baud_of(options: &str) -> Option<u32> {
    let end = options.find(|c: char| !c.is_ascii_digit()).unwrap_or(options.len());
    options[..end].parse().ok().filter(|&b| b > 0)
}

/// A UART that can be a console: okay, driven, with an address.
fn usable(con: &ConsoleInfo, i: usize) -> Target {
    let u = &con.uarts[i];
    if !u.kind.driven() {
        Target::Refused(RefError::NotDriven { path: u.path.clone(), compatible: u.compatible.clone() })
    } else if !u.okay {
        Target::Refused(RefError::Disabled(u.path.clone()))
    } else if u.pa.is_none() {
        Target::Refused(RefError::NoAddress(u.path.clone()))
    } else {
        Target::Uart(i)
    }
}

fn from_ref(con: &ConsoleInfo, r: &Result<usize, RefError>) -> Target {
    match r {
        Ok(i) => usable(con, *i),
        Err(e) => Target::Refused(e.clone()),
    }
}

/// `ttyAMA<n>` / `ttyS<n>`: the UART of that family whose alias is
/// `serial<n>`, else the n-th of that family in tree order.
fn tty(con: &ConsoleInfo, family: fn(UartKind) -> bool, n: u8) -> Target {
    let by_alias = con.serial_aliases.iter().find_map(|(a, r)| match r {
        Ok(i) if *a == n && family(con.uarts[*i].kind) => Some(*i),
        _ => None,
    });
    let nth = || con.uarts.iter().enumerate().filter(|(_, u)| family(u.kind)).nth(n as usize).map(|(i, _)| i);
    match by_alias.or_else(nth) {
        Some(i) => usable(con, i),
        None => Target::Refused(RefError::NoSuchTty),
    }
}

/// A `console=` value's device (`ttyAMA0,115200` -> its target and baud).
fn console_arg(con: &ConsoleInfo, value: &str) -> (Target, Option<u32>) {
    let (dev, options) = value.split_once(',').unwrap_or((value, ""));
    let baud = baud_of(options);
    let num = |prefix: &str| dev.strip_prefix(prefix).and_then(|n| n.parse::<u8>().ok());
    let target = if let Some(n) = num("ttyAMA") {
        tty(con, |k| k == UartKind::Pl011, n)
    } else if let Some(n) = num("ttyS") {
        tty(con, UartKind::is_tty_s, n)
    } else if let Some(n) = num("serial") {
        match con.serial_aliases.iter().find(|(a, _)| *a == n) {
            Some((_, r)) => from_ref(con, r),
            None => Target::Refused(RefError::Alias(AliasError::NoSuchAlias(truncated(dev)))),
        }
    } else if dev.starts_with('/') {
        match con.uarts.iter().position(|u| u.path == dev) {
            Some(i) => usable(con, i),
            None => Target::Refused(RefError::NoSuchNode(truncated(dev))),
        }
    } else {
        Target::Refused(RefError::Malformed)
    };
    (target, baud)
}

/// An `earlycon=` value: `pl011,[mmio32,]ADDR` or `uart8250,mmio32,ADDR`
/// (`uart`, `bcm2835aux` too); `None` for bare `earlycon` (= stdout-path).
fn earlycon_arg(con: &ConsoleInfo, value: &str) -> Option<(Target, Option<u32>)> {
    if value.is_empty() {
        return None;
    }
    let mut parts = value.split(',');
    let kind = match parts.next() {
        Some("pl011") => UartKind::Pl011,
        Some("uart8250" | "uart" | "bcm2835aux") => UartKind::Mini,
        _ => return Some((Target::Refused(RefError::Malformed), None)),
    };
    let mut addr = None;
    let mut baud = None;
    for p in parts {
        match p {
            "mmio32" | "mmio32be" | "mmio" => {}
            _ if addr.is_none() => addr = crate::cmdline::memparse(p),
            _ => baud = baud_of(p),
        }
    }
    let Some(pa) = addr.filter(|&a| a != 0) else {
        return Some((Target::Refused(RefError::Malformed), None));
    };
    let target = match con.uarts.iter().position(|u| u.pa == Some(pa) && u.kind.driven()) {
        Some(i) => usable(con, i),
        None => Target::Address { kind, pa },
    };
    Some((target, baud))
}

/// The consoles to try, best first, each UART once: `console=` (the last
/// one first, as Linux makes the last the preferred console), `earlycon=`,
/// /chosen/stdout-path, then every UART in tree order that is okay and
/// driven. Refused entries stay in the list so that the kernel can name
/// them; a refused name is listed once.
pub fn console_candidates(con: &ConsoleInfo, params: &Params) -> Candidates {
    let mut out = Candidates::new();
    let add = |out: &mut Candidates, via, name: &str, target: Target, baud: Option<u32>| {
        let dup = out.iter().any(|c: &Candidate| match (&c.target, &target) {
            (Target::Uart(a), Target::Uart(b)) => a == b,
            (Target::Address { pa: a, .. }, Target::Address { pa: b, .. }) => a == b,
            _ => false,
        });
        if !dup {
            let _ = out.push(Candidate { via, name: truncated(name), baud: baud.unwrap_or(DEFAULT_BAUD), target });
        }
    };
    for c in params.console.iter().rev() {
        let (t, baud) = console_arg(con, c);
        add(&mut out, Via::Console, c, t, baud);
    }
    if let Some(e) = &params.earlycon
        && let Some((t, baud)) = earlycon_arg(con, e)
    {
        add(&mut out, Via::Earlycon, e, t, baud);
    }
    if let Some(sp) = &con.stdout {
        add(&mut out, Via::StdoutPath, &sp.name, from_ref(con, &sp.uart), sp.baud);
    }
    for i in 0..con.uarts.len() {
        if let Target::Uart(i) = usable(con, i) {
            let path = con.uarts[i].path.clone();
            add(&mut out, Via::FirstOkay, &path, Target::Uart(i), None);
        }
    }
    out
}
