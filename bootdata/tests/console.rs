//! The UARTs, aliases and stdout-path the parser reads, and the console
//! choice (`console_candidates`), on real trees (QEMU's, the project's, and
//! Debian's upstream bcm2711-rpi-4-b.dtb as a Pi 4 gets it) and built ones:
//! alias loops, nodes that are not UARTs, command lines that name consoles.

mod common;

use bootdata::cmdline::{self, Params};
use bootdata::devicetree::{
    AliasError, Candidate, ClockSource, ConsoleInfo, DtInfo, PI_FIRMWARE_UART_CLOCK_HZ, RefError, Target, UartKind,
    Via, compact, console_candidates, parse, parse_uarts,
};
use common::*;

/// The tree's facts and its UARTs.
struct Parsed {
    dt: DtInfo,
    uarts: ConsoleInfo,
}

impl Parsed {
    fn of(blob: &[u8]) -> Self {
        Parsed { dt: parse(blob).unwrap(), uarts: parse_uarts(blob).unwrap() }
    }

    fn console(&self) -> Option<bootdata::devicetree::ConsoleNode> {
        self.uarts.console()
    }
}

impl std::ops::Deref for Parsed {
    type Target = DtInfo;
    fn deref(&self) -> &DtInfo {
        &self.dt
    }
}

fn parsed(name: &str) -> Parsed {
    let b = data(name);
    let mut out = vec![0u8; b.len() + 64];
    let c = compact(&b, &mut out).unwrap_or_else(|e| panic!("compact: {e}"));
    Parsed::of(c)
}

fn params(cmdline: &str) -> Params {
    let (p, d) = cmdline::parse(cmdline);
    assert!(d.is_empty(), "{cmdline}: {d:?}");
    p
}

fn cands(con: &ConsoleInfo, cmdline: &str) -> Vec<Candidate> {
    console_candidates(con, &params(cmdline)).to_vec()
}

/// The path of a candidate's UART, or what refused it.
fn path_of<'a>(con: &'a ConsoleInfo, c: &'a Candidate) -> Result<&'a str, &'a RefError> {
    match &c.target {
        Target::Uart(i) => Ok(con.uarts[*i].path.as_str()),
        Target::Refused(e) => Err(e),
        Target::Address { .. } => panic!("an address candidate: {c:?}"),
    }
}

const DEB_PL011: &str = "/soc/serial@7e201000";
const DEB_MINI: &str = "/soc/serial@7e215040";

#[test]
fn debian_pi4_tree_has_both_uarts_and_stdout_on_the_mini_uart() {
    let dt = parsed("bcm2711-rpi-4-b.dtb");
    let con = &dt.uarts;
    let pl011 = con.uarts.iter().find(|u| u.path == DEB_PL011).expect("the PL011");
    assert_eq!((pl011.kind, pl011.okay, pl011.pa), (UartKind::Pl011, true, Some(0xfe20_1000)));
    assert_eq!(pl011.compatible.as_str(), "arm,pl011");
    // Its clock is the clock manager's, which the firmware set to 48 MHz.
    assert_eq!((pl011.clock_hz, pl011.clock), (Some(PI_FIRMWARE_UART_CLOCK_HZ), ClockSource::PiFirmware));
    let mini = con.uarts.iter().find(|u| u.path == DEB_MINI).expect("the mini UART");
    assert_eq!((mini.kind, mini.okay, mini.pa), (UartKind::Mini, true, Some(0xfe21_5040)));
    assert_eq!(mini.aux_pa, Some(0xfe21_5000), "the brcm,bcm2835-aux node, translated");
    assert_eq!(mini.clock, ClockSource::Unknown, "the VPU clock is the firmware's");
    // The other PL011s of the BCM2711 are there, disabled.
    assert!(con.uarts.iter().filter(|u| u.kind == UartKind::Pl011 && !u.okay).count() >= 4, "{:?}", con.uarts);
    let sp = con.stdout.as_ref().expect("stdout-path");
    assert_eq!((sp.name.as_str(), sp.baud), ("serial1", Some(115_200)));
    assert_eq!(sp.uart.as_ref().map(|&i| con.uarts[i].path.as_str()), Ok(DEB_MINI));
    // No command line: the mini UART, then the PL011 as the fallback.
    let c = cands(con, "");
    let order: Vec<_> = c.iter().map(|c| (c.via, path_of(con, c).unwrap())).collect();
    assert_eq!(order, [(Via::StdoutPath, DEB_MINI), (Via::FirstOkay, DEB_PL011)]);
    assert_eq!(c[0].baud, 115_200);
    assert_eq!(c[0].describe(con).to_string(), format!("serial1 ({DEB_MINI}, brcm,bcm2835-aux-uart)"));
    assert_eq!(dt.console().map(|c| c.pa), Some(0xfe21_5040));
    // The PM watchdog that resets and powers off the board without PSCI.
    assert_eq!(dt.pm_watchdog, Some(0xfe10_0000));
    assert_eq!(dt.psci, None);
}

#[test]
fn console_names_on_the_command_line_come_first() {
    let dt = parsed("bcm2711-rpi-4-b.dtb");
    let con = &dt.uarts;
    let first = |cmdline: &str| {
        let c = cands(con, cmdline);
        (c[0].via, path_of(con, &c[0]).map(str::to_owned).map_err(Clone::clone), c[0].baud)
    };
    assert_eq!(first("console=ttyAMA0"), (Via::Console, Ok(DEB_PL011.into()), 115_200));
    assert_eq!(first("console=ttyAMA0,9600"), (Via::Console, Ok(DEB_PL011.into()), 9600));
    // ttyS0: no serial0 alias among the 8250 family, so the first of it: the mini UART.
    assert_eq!(first("console=ttyS0,115200"), (Via::Console, Ok(DEB_MINI.into()), 115_200));
    assert_eq!(first("console=ttyS1"), (Via::Console, Ok(DEB_MINI.into()), 115_200), "serial1 is an 8250");
    assert_eq!(first("console=serial0"), (Via::Console, Ok(DEB_PL011.into()), 115_200));
    assert_eq!(first("console=serial1"), (Via::Console, Ok(DEB_MINI.into()), 115_200));
    assert_eq!(first(&format!("console={DEB_PL011}")), (Via::Console, Ok(DEB_PL011.into()), 115_200));
    // The last console= is the preferred one, as in Linux.
    assert_eq!(first("console=ttyS0 console=ttyAMA0").1, Ok(DEB_PL011.into()));
    // A name with nothing behind it is refused and the rest follow.
    let c = cands(con, "console=ttyAMA7");
    assert_eq!(c[0].target, Target::Refused(RefError::NoSuchTty));
    assert_eq!(path_of(con, &c[1]), Ok(DEB_MINI), "then stdout-path");
    let c = cands(con, "console=serial5");
    assert!(matches!(&c[0].target, Target::Refused(RefError::Alias(AliasError::NoSuchAlias(n))) if n == "serial5"));
    // earlycon=: an address of a node is that node; bare earlycon is stdout-path.
    let c = cands(con, "earlycon=uart8250,mmio32,0xfe215040");
    assert_eq!((c[0].via, path_of(con, &c[0])), (Via::Earlycon, Ok(DEB_MINI)));
    let c = cands(con, "earlycon=pl011,0xfe201000");
    assert_eq!((c[0].via, path_of(con, &c[0])), (Via::Earlycon, Ok(DEB_PL011)));
    let c = cands(con, "earlycon");
    assert_eq!((c[0].via, path_of(con, &c[0])), (Via::StdoutPath, Ok(DEB_MINI)));
    assert_eq!(c.len(), 2, "each UART once: {c:?}");
}

#[test]
fn earlycon_at_an_address_no_node_describes() {
    let dt = parsed("virt.dtb");
    let c = cands(&dt.uarts, "earlycon=pl011,mmio32,0x9100000");
    assert_eq!(c[0].target, Target::Address { kind: UartKind::Pl011, pa: 0x910_0000 });
    assert_eq!(c[0].describe(&dt.uarts).to_string(), "earlycon=pl011,mmio32,0x9100000 (MMIO 0x9100000)");
    let c = cands(&dt.uarts, "earlycon=uart8250,mmio32,0x9200000,115200");
    assert_eq!(c[0].target, Target::Address { kind: UartKind::Mini, pa: 0x920_0000 });
    for bad in ["earlycon=pl011", "earlycon=pl011,0", "earlycon=foo,0x1000"] {
        let c = cands(&dt.uarts, bad);
        assert_eq!(c[0].target, Target::Refused(RefError::Malformed), "{bad}");
        assert_eq!(path_of(&dt.uarts, &c[1]), Ok("/pl011@9000000"), "{bad}: the tree's console next");
    }
}

#[test]
fn qemu_and_project_trees_give_their_pl011_with_its_clock() {
    let dt = parsed("virt.dtb");
    let c = cands(&dt.uarts, "");
    assert_eq!(c.len(), 1);
    assert_eq!((c[0].via, path_of(&dt.uarts, &c[0])), (Via::StdoutPath, Ok("/pl011@9000000")));
    let u = &dt.uarts.uarts[0];
    assert_eq!((u.clock_hz, u.clock), (Some(24_000_000), ClockSource::Clocks), "apb-pclk, a fixed-clock");
    let dt = parsed("raspi4b.dtb");
    let u = dt.uarts.uarts.iter().find(|u| u.kind == UartKind::Pl011).expect("a PL011");
    assert_eq!((u.pa, u.clock_hz, u.clock), (Some(0xfe20_1000), Some(48_000_000), ClockSource::Clocks));
    assert_eq!(cands(&dt.uarts, "")[0].via, Via::StdoutPath);
    assert_eq!(parsed("virt.dtb").pm_watchdog, None);
    assert_eq!(parsed("raspi4b.dtb").pm_watchdog, None, "tests/data/raspi4b.dtb predates the watchdog node");
}

/// A tree with a PL011 `pl` at 0x1000, a mini UART at 0x2040 with its AUX
/// block at 0x2000, an ns16550a at 0x3000, and the given aliases and stdout-path.
fn tree(aliases: &[(&str, &str)], stdout: Option<&str>) -> Parsed {
    let mut b = minimal();
    b = b.begin("aliases");
    for (k, v) in aliases {
        b = b.prop_str(k, v);
    }
    b = b.end();
    if let Some(s) = stdout {
        b = b.begin("chosen").prop_str("stdout-path", s).end();
    }
    b = b.begin("clk").prop_str("compatible", "fixed-clock").prop_u32("clock-frequency", &[3_000_000]);
    b = b.prop_u32("phandle", &[7]).end();
    b = b.begin("serial@1000").prop("compatible", b"arm,pl011\0arm,primecell\0");
    b = b.prop_u32("reg", &[0, 0x1000, 0, 0x1000]).prop_u32("clocks", &[7]).end();
    b = b.begin("aux@2000").prop_str("compatible", "brcm,bcm2835-aux").prop_u32("reg", &[0, 0x2000, 0, 8]);
    b = b.prop_u32("phandle", &[9]).end();
    b = b.begin("serial@2040").prop_str("compatible", "brcm,bcm2835-aux-uart");
    b = b
        .prop_u32("reg", &[0, 0x2040, 0, 0x40])
        .prop_u32("clocks", &[9, 0])
        .prop_u32("clock-frequency", &[250_000_000]);
    b = b.end();
    b = b.begin("serial@3000").prop_str("compatible", "ns16550a").prop_u32("reg", &[0, 0x3000, 0, 8]).end();
    b = b.begin("gpio@4000").prop_str("compatible", "brcm,foo").prop_u32("reg", &[0, 0x4000, 0, 8]).end();
    Parsed::of(&b.end().finish())
}

#[test]
fn alias_loops_end_in_a_clear_error() {
    let refused = |dt: &Parsed| match &dt.uarts.stdout.as_ref().expect("stdout").uart {
        Err(RefError::Alias(e)) => e.to_string(),
        other => panic!("not an alias error: {other:?}"),
    };
    let dt = tree(&[("serial0", "serial0")], Some("serial0"));
    assert_eq!(refused(&dt), "alias loop: serial0 -> serial0");
    let dt = tree(&[("a", "b"), ("b", "a")], Some("a:115200n8"));
    assert_eq!(refused(&dt), "alias loop: a -> b -> a");
    // A long chain: refused as too deep, not followed for ever.
    let names: Vec<String> = (0..20).map(|i| format!("s{i}")).collect();
    let pairs: Vec<(String, String)> = (0..19).map(|i| (names[i].clone(), names[i + 1].clone())).collect();
    let pairs: Vec<(&str, &str)> = pairs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let dt = tree(&pairs, Some("s0"));
    assert!(refused(&dt).contains("more than"), "{}", refused(&dt));
    // A value that looks like a path without its leading '/': not an alias, said so.
    let dt = tree(&[("serial0", "soc/serial@1000")], Some("serial0"));
    assert_eq!(refused(&dt), "no alias \"soc/serial@1000\" in /aliases");
    // An alias named like a node path is never consulted: a name with '/' is a path.
    let dt = tree(&[("serial0", "/serial@1000")], Some("/serial@2040"));
    assert_eq!(dt.uarts.stdout.as_ref().unwrap().uart.as_ref().map(|&i| dt.uarts.uarts[i].kind), Ok(UartKind::Mini));
    // Every loop still leaves the UARTs usable: the first okay one.
    let dt = tree(&[("serial0", "serial0")], Some("serial0"));
    let c = cands(&dt.uarts, "");
    assert!(matches!(c[0].target, Target::Refused(RefError::Alias(_))));
    assert_eq!(path_of(&dt.uarts, &c[1]), Ok("/serial@1000"));
    assert_eq!(dt.console().map(|c| c.pa), Some(0x1000));
}

#[test]
fn uarts_not_driven_are_named_and_skipped() {
    let dt = tree(&[("serial0", "/serial@3000"), ("serial1", "/gpio@4000")], Some("serial0"));
    let con = &dt.uarts;
    let ns = con.uarts.iter().find(|u| u.path == "/serial@3000").unwrap();
    assert_eq!(ns.kind, UartKind::Ns8250);
    assert!(!ns.kind.driven());
    let c = cands(con, "console=serial1");
    assert_eq!(c[0].describe(con).to_string(), "serial1 (brcm,foo)");
    assert!(
        matches!(&c[0].target, Target::Refused(RefError::NotDriven { compatible, .. }) if compatible == "brcm,foo")
    );
    assert_eq!(c[1].describe(con).to_string(), "serial0 (ns16550a)");
    assert_eq!(path_of(con, &c[2]), Ok("/serial@1000"), "then the first driven UART");
    assert_eq!(path_of(con, &c[3]), Ok("/serial@2040"));
    assert_eq!(c.len(), 4);
    // ttyS0 is the 8250 that serial0 names: the ns16550a, not driven.
    let c = cands(con, "console=ttyS0");
    assert!(matches!(&c[0].target, Target::Refused(RefError::NotDriven { .. })), "the ns16550a: {c:?}");
    // Without aliases, ttySn is the n-th of the 8250 family in tree order.
    let dt = tree(&[], None);
    assert_eq!(path_of(&dt.uarts, &cands(&dt.uarts, "console=ttyS0")[0]), Ok("/serial@2040"));
    let c = cands(&dt.uarts, "console=ttyS1");
    assert!(matches!(&c[0].target, Target::Refused(RefError::NotDriven { .. })), "the ns16550a: {c:?}");
}

#[test]
fn clocks_and_aux_blocks_are_followed() {
    let dt = tree(&[], None);
    let by = |p: &str| dt.uarts.uarts.iter().find(|u| u.path == p).unwrap().clone();
    let pl = by("/serial@1000");
    assert_eq!((pl.clock_hz, pl.clock), (Some(3_000_000), ClockSource::Clocks));
    let mini = by("/serial@2040");
    assert_eq!((mini.clock_hz, mini.clock), (Some(250_000_000), ClockSource::Own));
    assert_eq!(mini.aux_pa, Some(0x2000));
    // Without an aux node the AUX block is assumed 0x40 below the UART.
    let b = minimal().begin("serial@5040").prop_str("compatible", "brcm,bcm2835-aux-uart");
    let dt = Parsed::of(&b.prop_u32("reg", &[0, 0x5040, 0, 0x40]).end().end().finish());
    assert_eq!(dt.uarts.uarts[0].aux_pa, Some(0x5000));
    assert_eq!(dt.uarts.uarts[0].clock, ClockSource::Unknown);
    // A disabled UART is not a fallback, but named when asked for.
    let b = minimal().begin("serial@1000").prop_str("compatible", "arm,pl011").prop_str("status", "disabled");
    let dt = Parsed::of(&b.prop_u32("reg", &[0, 0x1000, 0, 0x1000]).end().end().finish());
    assert_eq!(dt.console(), None);
    let c = cands(&dt.uarts, "console=ttyAMA0");
    assert_eq!(c.len(), 1);
    assert!(matches!(&c[0].target, Target::Refused(RefError::Disabled(p)) if p == "/serial@1000"));
}

#[test]
fn console_parameters_parse_as_linux_takes_them() {
    let p = params("console=ttyS0,115200 console=tty1 earlycon panic=-1 reboot=park");
    assert_eq!(p.console.iter().map(|s| s.as_str()).collect::<Vec<_>>(), ["ttyS0,115200", "tty1"]);
    assert_eq!(p.earlycon.as_deref(), Some(""));
    assert_eq!(p.panic_timeout, -1);
    assert_eq!(p.reboot, cmdline::RebootMode::Park);
    let p = params("earlycon=pl011,0x9000000 panic=10 reboot=reset");
    assert_eq!((p.earlycon.as_deref(), p.panic_timeout), (Some("pl011,0x9000000"), 10));
    assert_eq!(p.reboot, cmdline::RebootMode::Reset);
    for bad in ["panic=x", "reboot=sideways", "console=", "panic"] {
        let (p, d) = cmdline::parse(bad);
        assert!(!d.list.is_empty(), "{bad}: no diagnosis");
        assert_eq!(p, Params::default(), "{bad}");
    }
}
