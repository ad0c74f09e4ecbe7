//! The command-line parser, against Linux's rules.

use super::{Test, TestResult};
use crate::cmdline::{CmaSpec, Diag, Lkdtm, SelftestSel, UnknownLine, memparse, parse, render};
use crate::{check, check_eq};

pub const TESTS: &[Test] = &[
    Test { suite: "cmdline", name: "memparse_suffixes_and_bases", run: memparse_suffixes_and_bases },
    Test { suite: "cmdline", name: "known_params", run: known_params },
    Test { suite: "cmdline", name: "cma_syntax", run: cma_syntax },
    Test { suite: "cmdline", name: "malformed_keeps_default", run: malformed_keeps_default },
    Test { suite: "cmdline", name: "unknown_listed_by_name", run: unknown_listed_by_name },
    Test { suite: "cmdline", name: "quotes_and_dashes", run: quotes_and_dashes },
    Test { suite: "cmdline", name: "memory_zone_params", run: memory_zone_params },
];

fn memory_zone_params() -> TestResult {
    use crate::cmdline::CoreSize;
    let (p, d) = parse("numa=off movablecore=25% kernelcore=1G init_on_alloc=1 init_on_free=0 bench=pages");
    check!(d.is_empty(), "unexpected diagnostics {:?}", d);
    check!(p.numa_off && p.init_on_alloc && !p.init_on_free, "flags wrong: {:?}", p);
    check_eq!(p.movablecore, Some(CoreSize::Percent(25)));
    check_eq!(p.kernelcore, Some(CoreSize::Bytes(1 << 30)));
    check_eq!(p.bench, 1);
    let (p, d) = parse("numa=on movablecore=101% init_on_alloc=2 bench=nope");
    check!(!p.numa_off && p.movablecore.is_none() && !p.init_on_alloc && p.bench == 0, "defaults not kept: {:?}", p);
    check_eq!(d.list.len(), 4);
    Ok(())
}

fn memparse_suffixes_and_bases() -> TestResult {
    check_eq!(memparse("512M"), Some(512 << 20));
    check_eq!(memparse("4g"), Some(4 << 30));
    check_eq!(memparse("64K"), Some(64 << 10));
    check_eq!(memparse("0x1000"), Some(0x1000));
    check_eq!(memparse("010"), Some(8));
    check_eq!(memparse("12Q"), None);
    check_eq!(memparse(""), None);
    check_eq!(memparse("M"), None);
    check_eq!(memparse("99999999999999999999"), None);
    check_eq!(memparse("16E"), None); // overflows u64
    Ok(())
}

fn known_params() -> TestResult {
    let (p, d) = parse("mem=512M memblock=debug selftest=mmu,fdt loglevel=8 mminfo lkdtm=PANIC");
    check!(d.is_empty(), "unexpected diagnostics {:?}", d);
    check_eq!(p.mem_limit, Some(512 << 20));
    check!(p.memblock_debug, "memblock=debug not set");
    check!(p.selftest.wants("mmu") && p.selftest.wants("fdt") && !p.selftest.wants("cmdline"), "selftest list wrong");
    check_eq!(p.loglevel, 8);
    check!(p.mminfo, "mminfo not set");
    check_eq!(p.lkdtm, Some(Lkdtm::Panic));
    check_eq!(parse("selftest=off").0.selftest, SelftestSel::Off);
    check_eq!(parse("quiet").0.loglevel, 4);
    Ok(())
}

fn cma_syntax() -> TestResult {
    let cma = |s: &str| parse(s).0.cma;
    check_eq!(cma("cma=64M"), Some(CmaSpec { size_bytes: 64 << 20, base: None, limit: None }));
    check_eq!(cma("cma=16M@0x40000000"), Some(CmaSpec { size_bytes: 16 << 20, base: Some(0x4000_0000), limit: None }));
    check_eq!(cma("cma=32M@1G-2G"), Some(CmaSpec { size_bytes: 32 << 20, base: Some(1 << 30), limit: Some(2 << 30) }));
    check_eq!(cma("cma=@@"), None);
    check_eq!(cma("cma=32M@2G-1G"), None);
    Ok(())
}

fn malformed_keeps_default() -> TestResult {
    let (p, d) = parse("mem=12Q loglevel=x selftest=bogus");
    check_eq!(p.mem_limit, None);
    check_eq!(p.loglevel, 7);
    check_eq!(p.selftest, SelftestSel::All);
    check_eq!(d.list.len(), 3);
    let first = render(&d.list[0]);
    check!(first.contains("malformed value for 'mem'") && first.contains("12Q"), "diagnostic: {}", first);
    Ok(())
}

fn unknown_listed_by_name() -> TestResult {
    let (p, d) = parse("foo=bar mem=1G junk");
    check_eq!(d.unknown.as_str(), "foo=bar junk");
    check!(d.list.is_empty(), "unexpected diagnostics {:?}", d.list);
    check_eq!(p.mem_limit, Some(1 << 30));
    let line = alloc::format!("{}", UnknownLine(&d.unknown));
    check!(line.starts_with("Unknown kernel command line parameters \"foo=bar junk\""), "line: {}", line);
    Ok(())
}

fn quotes_and_dashes() -> TestResult {
    let (p, d) = parse("  lkdtm=\"UNDEF\"   mem=1G mem=2G  ");
    check_eq!(p.lkdtm, Some(Lkdtm::Undef));
    check_eq!(p.mem_limit, Some(2 << 30));
    check!(d.list.iter().any(|x| matches!(x, Diag::Repeated(_))), "repeat not reported: {:?}", d);
    check!(parse("").1.is_empty(), "empty command line has diagnostics");
    Ok(())
}
