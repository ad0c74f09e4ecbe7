//! The command-line parser on the host: every parameter with good,
//! malformed and missing values, quoting, dashes, repeats, unknown words,
//! and the diagnostics' wording.

use bootdata::cmdline::{
    BENCH_SUITES, CmaSpec, CoreSize, DEFAULT_RDINIT, Diag, Diags, LKDTM_TYPES, Lkdtm, PATH_PARAM_LEN, Params,
    SELFTEST_LIST_LEN, SelftestSel, SlubDebugArg, TestName, UnknownLine, memparse, parse,
};

/// Parse `line`, expecting no diagnostics.
fn clean(line: &str) -> Params {
    let (p, d) = parse(line);
    assert!(d.is_empty(), "{line:?}: unexpected diagnostics {d:?}");
    p
}

/// Parse `line`, expecting exactly one Malformed diagnostic for `name` and
/// the defaults everywhere.
fn malformed(line: &str, name: &str) {
    let (p, d) = parse(line);
    assert_eq!(p, Params::default(), "{line:?}: default not kept");
    assert_eq!(d.list.len(), 1, "{line:?}: {d:?}");
    match &d.list[0] {
        Diag::Malformed { name: n, .. } => assert_eq!(n.as_str(), name, "{line:?}"),
        other => panic!("{line:?}: expected Malformed, got {other:?}"),
    }
    assert!(d.unknown.is_empty(), "{line:?}: {d:?}");
}

/// The NoSuch diagnostics of `line`, as (param, what, name).
fn no_such(d: &Diags) -> Vec<(String, String, String)> {
    d.list
        .iter()
        .filter_map(|x| match x {
            Diag::NoSuch { param, what, name } => Some((param.to_string(), what.to_string(), name.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn empty_and_blank_lines_give_the_defaults() {
    for line in ["", " ", "\t\n  \t"] {
        assert_eq!(clean(line), Params::default());
    }
    let d = Params::default();
    assert_eq!((d.loglevel, d.selftest, d.bench, d.slub_debug), (7, SelftestSel::All, 0, SlubDebugArg::Unset));
    assert!(d.mem_limit.is_none() && d.cma.is_none() && d.lkdtm.is_none());
    assert!(!d.memblock_debug && !d.mminfo && !d.numa_off && !d.init_on_alloc && !d.init_on_free);
}

#[test]
fn memparse_suffixes_and_bases() {
    assert_eq!(memparse("512M"), Some(512 << 20));
    assert_eq!(memparse("4g"), Some(4 << 30));
    assert_eq!(memparse("64K"), Some(64 << 10));
    assert_eq!(memparse("1T"), Some(1 << 40));
    assert_eq!(memparse("2p"), Some(2 << 50));
    assert_eq!(memparse("1E"), Some(1 << 60));
    assert_eq!(memparse("0x1000"), Some(0x1000));
    assert_eq!(memparse("0X1fK"), Some(0x1f << 10));
    assert_eq!(memparse("010"), Some(8));
    assert_eq!(memparse("0"), Some(0));
    assert_eq!(memparse("12Q"), None);
    assert_eq!(memparse("12MM"), None);
    assert_eq!(memparse(""), None);
    assert_eq!(memparse("M"), None);
    assert_eq!(memparse("0x"), None);
    assert_eq!(memparse("09"), None, "9 is not an octal digit");
    assert_eq!(memparse("-1"), None);
    assert_eq!(memparse("99999999999999999999"), None);
    assert_eq!(memparse("16E"), None); // overflows u64
    assert_eq!(memparse("18446744073709551615"), Some(u64::MAX));
}

#[test]
fn mem_caps_memory() {
    assert_eq!(clean("mem=512M").mem_limit, Some(512 << 20));
    assert_eq!(clean("mem=0x40000000").mem_limit, Some(1 << 30));
    for bad in ["mem=12Q", "mem=0", "mem=", "mem"] {
        malformed(bad, "mem");
    }
}

#[test]
fn memblock_debug() {
    assert!(clean("memblock=debug").memblock_debug);
    malformed("memblock=verbose", "memblock");
    malformed("memblock", "memblock");
}

#[test]
fn selftest_takes_suites_and_tests() {
    assert_eq!(clean("selftest=off").selftest, SelftestSel::Off);
    assert_eq!(clean("selftest=0").selftest, SelftestSel::Off);
    assert_eq!(clean("selftest=none").selftest, SelftestSel::Off);
    for all in ["selftest=all", "selftest=on", "selftest=1"] {
        assert_eq!(clean(all).selftest, SelftestSel::All);
    }
    let sel = clean("selftest=mmu,pages.zeroing,fdt").selftest;
    let names: Vec<String> = sel.names().map(|n| n.to_string()).collect();
    assert_eq!(names, ["mmu", "pages.zeroing", "fdt"]);
    assert!(sel.wants("mmu", "anything") && sel.wants("fdt", "x"));
    assert!(sel.wants("pages", "zeroing") && !sel.wants("pages", "watermarks"));
    assert!(!sel.wants("cmdline", "x") && !sel.wants("zeroing", "pages"));
    // Names the parser does not know are its caller's to refuse: well-formed is enough here.
    assert_eq!(clean("selftest=nosuch").selftest.names().next(), Some(TestName { suite: "nosuch", test: None }));
    assert!(SelftestSel::All.wants("any", "thing") && !SelftestSel::Off.wants("any", "thing"));
    assert_eq!(SelftestSel::All.names().count(), 0);
    for bad in ["", ",", "mmu,", ",mmu", "mmu,,fdt", "pages.", ".zeroing", "a.b.c", "bad-name", "pages.x-y", "ü"] {
        malformed(&format!("selftest={bad}"), "selftest");
    }
    malformed("selftest", "selftest");
    let long = vec!["mmu"; SELFTEST_LIST_LEN / 4 + 1].join(",");
    malformed(&format!("selftest={long}"), "selftest");
    let fits = vec!["mm"; SELFTEST_LIST_LEN / 3].join(",");
    assert!(fits.len() <= SELFTEST_LIST_LEN);
    assert_eq!(clean(&format!("selftest={fits}")).selftest.names().count(), SELFTEST_LIST_LEN / 3);
}

#[test]
fn test_names_parse_and_print() {
    assert_eq!(TestName::parse("pages"), Some(TestName { suite: "pages", test: None }));
    assert_eq!(TestName::parse("pages.zero_ing2"), Some(TestName { suite: "pages", test: Some("zero_ing2") }));
    assert_eq!(TestName::parse("pages.zeroing").unwrap().to_string(), "pages.zeroing");
    for bad in ["", ".", "a.", ".b", "a..b", "a b", "a\"b"] {
        assert_eq!(TestName::parse(bad), None, "{bad:?}");
    }
    let n = TestName::parse("slub").unwrap();
    assert!(n.selects("slub", "anything") && !n.selects("slab", "anything"));
}

#[test]
fn loglevel_quiet_and_debug() {
    assert_eq!(clean("loglevel=8").loglevel, 8);
    assert_eq!(clean("loglevel=0").loglevel, 0);
    assert_eq!(clean("loglevel=15").loglevel, 15);
    assert_eq!(clean("quiet").loglevel, 4);
    assert_eq!(clean("debug").loglevel, 10);
    assert_eq!(clean("quiet loglevel=6").loglevel, 6, "left to right");
    for bad in ["loglevel=16", "loglevel=x", "loglevel=-1", "loglevel=", "loglevel"] {
        malformed(bad, "loglevel");
    }
    malformed("quiet=1", "quiet");
    malformed("debug=yes", "debug");
}

#[test]
fn mminfo_is_a_flag() {
    assert!(clean("mminfo").mminfo);
    malformed("mminfo=1", "mminfo");
}

#[test]
fn shell_is_a_flag() {
    assert!(!Params::default().shell);
    assert!(clean("shell").shell);
    assert!(clean("selftest=off shell mminfo").shell);
    malformed("shell=1", "shell");
}

#[test]
fn ptdump_is_a_flag() {
    assert!(!Params::default().ptdump);
    assert!(clean("ptdump").ptdump);
    assert!(clean("mminfo ptdump quiet").ptdump);
    malformed("ptdump=1", "ptdump");
}

#[test]
fn cma_syntax() {
    let cma = |s: &str| parse(s).0.cma;
    assert_eq!(cma("cma=64M"), Some(CmaSpec { size_bytes: 64 << 20, base: None, limit: None }));
    assert_eq!(cma("cma=16M@0x40000000"), Some(CmaSpec { size_bytes: 16 << 20, base: Some(0x4000_0000), limit: None }));
    assert_eq!(cma("cma=32M@1G-2G"), Some(CmaSpec { size_bytes: 32 << 20, base: Some(1 << 30), limit: Some(2 << 30) }));
    for bad in ["cma=@@", "cma=32M@2G-1G", "cma=32M@1G-1G", "cma=", "cma=x", "cma=1M@", "cma=1M@1G-", "cma"] {
        malformed(bad, "cma");
    }
}

#[test]
fn lkdtm_names_a_crash_type() {
    for &(name, l) in LKDTM_TYPES {
        assert_eq!(clean(&format!("lkdtm={name}")).lkdtm, Some(l));
    }
    assert_eq!(clean("lkdtm=PANIC").lkdtm, Some(Lkdtm::Panic));
    assert_eq!(clean("lkdtm=EXHAUST_STACK").lkdtm, Some(Lkdtm::ExhaustStack));
    assert_eq!(clean("lkdtm=UNDEF").lkdtm, Some(Lkdtm::Undef));
    assert_eq!(clean("lkdtm=ACCESS_NULL").lkdtm, Some(Lkdtm::AccessNull));
    assert_eq!(clean("lkdtm=READ_BUDDY_AFTER_FREE").lkdtm, Some(Lkdtm::ReadBuddyAfterFree));
    assert_eq!(clean("lkdtm=VMALLOC_LINEAR_OVERFLOW").lkdtm, Some(Lkdtm::VmallocLinearOverflow));
    assert_eq!(clean("lkdtm=STACK_GUARD_PAGE_LEADING").lkdtm, Some(Lkdtm::StackGuardPageLeading));
    assert_eq!(clean("lkdtm=STACK_GUARD_PAGE_TRAILING").lkdtm, Some(Lkdtm::StackGuardPageTrailing));
    assert_eq!(clean("lkdtm=WRITE_RO").lkdtm, Some(Lkdtm::WriteRo));
    assert_eq!(clean("lkdtm=EXEC_DATA").lkdtm, Some(Lkdtm::ExecData));
    assert_eq!(clean("lkdtm=EXEC_VMALLOC").lkdtm, Some(Lkdtm::ExecVmalloc));
    // Every name once, every crash type once.
    for (i, &(name, l)) in LKDTM_TYPES.iter().enumerate() {
        for &(other, m) in &LKDTM_TYPES[i + 1..] {
            assert!(name != other && l != m, "{name} and {other}");
        }
    }
    for unknown in ["FOO", "panic", "PANIC2", "write_ro", "STACK_GUARD_PAGE", "EXEC_DATA_"] {
        let (p, d) = parse(&format!("lkdtm={unknown}"));
        assert_eq!(p.lkdtm, None);
        assert_eq!(no_such(&d), [("lkdtm".into(), "crash type".into(), unknown.into())]);
        assert!(d.has_no_such());
        assert_eq!(d.list[0].to_string(), format!("lkdtm: no such crash type \"{unknown}\""));
    }
    for bad in ["lkdtm=", "lkdtm=A-B", "lkdtm=A,B", "lkdtm"] {
        malformed(bad, "lkdtm");
    }
}

#[test]
fn numa_off() {
    assert!(clean("numa=off").numa_off);
    malformed("numa=on", "numa");
    malformed("numa", "numa");
}

#[test]
fn movablecore_and_kernelcore() {
    assert_eq!(clean("movablecore=25%").movablecore, Some(CoreSize::Percent(25)));
    assert_eq!(clean("movablecore=0%").movablecore, Some(CoreSize::Percent(0)));
    assert_eq!(clean("kernelcore=100%").kernelcore, Some(CoreSize::Percent(100)));
    assert_eq!(clean("kernelcore=1G").kernelcore, Some(CoreSize::Bytes(1 << 30)));
    assert_eq!(clean("movablecore=0x100000").movablecore, Some(CoreSize::Bytes(0x10_0000)));
    for name in ["movablecore", "kernelcore"] {
        for bad in ["101%", "x%", "%", "-1%", "12Q", ""] {
            malformed(&format!("{name}={bad}"), name);
        }
        malformed(name, name);
    }
}

#[test]
fn init_on_alloc_and_free() {
    for (v, want) in [("1", true), ("on", true), ("y", true), ("0", false), ("off", false), ("n", false)] {
        assert_eq!(clean(&format!("init_on_alloc={v}")).init_on_alloc, want);
        assert_eq!(clean(&format!("init_on_free={v}")).init_on_free, want);
    }
    for name in ["init_on_alloc", "init_on_free"] {
        for bad in ["2", "yes", ""] {
            malformed(&format!("{name}={bad}"), name);
        }
        malformed(name, name);
    }
}

/// `page_alloc.check_pages=0|1`, off by default; any other value is named
/// and ignored.
#[test]
fn page_alloc_check_pages_takes_0_or_1() {
    assert!(!clean("").check_pages);
    assert!(clean("page_alloc.check_pages=1").check_pages);
    assert!(!clean("page_alloc.check_pages=0").check_pages);
    malformed("page_alloc.check_pages=yes", "page_alloc.check_pages");
}

/// Linux's kstrtobool syntax: the first letter decides (the first two for
/// on/off); a bad or missing value is named and the default (off) kept.
#[test]
fn debug_pagealloc_takes_kstrtobool_values() {
    for (v, want) in [
        ("on", true),
        ("ON", true),
        ("1", true),
        ("y", true),
        ("Yes", true),
        ("true", true),
        ("enable", true),
        ("off", false),
        ("Off", false),
        ("0", false),
        ("n", false),
        ("no", false),
        ("false", false),
        ("disable", false),
    ] {
        assert_eq!(clean(&format!("debug_pagealloc={v}")).debug_pagealloc, want, "debug_pagealloc={v}");
    }
    assert!(clean("debug-pagealloc=on").debug_pagealloc, "dashes are underscores");
    for bad in ["", "2", "o", "ox", "maybe", "\"on\""] {
        let line = format!("debug_pagealloc={bad}");
        if bad == "\"on\"" {
            // Quotes are stripped: a quoted "on" is on.
            assert!(clean(&line).debug_pagealloc);
            continue;
        }
        malformed(&line, "debug_pagealloc");
    }
    malformed("debug_pagealloc", "debug_pagealloc");
    // The last one wins, as for every parameter.
    let (p, d) = parse("debug_pagealloc=on debug_pagealloc=off");
    assert!(!p.debug_pagealloc);
    assert_eq!(d.list.len(), 1, "{d:?}");
    assert!(!Params::default().debug_pagealloc);
}

#[test]
fn bench_names_suites() {
    assert_eq!(BENCH_SUITES, ["pages", "slab", "vmalloc", "fault", "cma", "smp"]);
    assert_eq!(clean("bench=cma").bench, 16);
    assert_eq!(clean("bench=smp").bench, 32);
    assert_eq!(clean("bench=vmalloc").bench, 4);
    assert_eq!(clean("bench=pages").bench, 1);
    assert_eq!(clean("bench=slab").bench, 2);
    assert_eq!(clean("bench=pages,slab").bench, 3);
    assert_eq!(clean("bench=slab,pages,slab").bench, 3);
    let (p, d) = parse("bench=pages,nope");
    assert_eq!(p.bench, 0, "nothing runs when one name is wrong");
    assert_eq!(no_such(&d), [("bench".into(), "suite".into(), "nope".into())]);
    assert_eq!(d.list[0].to_string(), "bench: no such suite \"nope\"");
    for bad in ["bench=", "bench=pages,", "bench=pages.order1", "bench=a-b", "bench"] {
        malformed(bad, "bench");
    }
}

#[test]
fn slub_debug_forms() {
    assert_eq!(clean("slub_debug").slub_debug, SlubDebugArg::Bare);
    assert_eq!(clean("slub_debug=FZPU").slub_debug, SlubDebugArg::Value("FZPU".try_into().unwrap()));
    assert_eq!(clean("slub_debug=FZ,kmalloc-64").slub_debug, SlubDebugArg::Value("FZ,kmalloc-64".try_into().unwrap()));
    assert_eq!(clean("slub_debug=-").slub_debug, SlubDebugArg::Value("-".try_into().unwrap()));
    assert_eq!(clean("slub_debug=").slub_debug, SlubDebugArg::Value("".try_into().unwrap()));
    malformed(&format!("slub_debug={}", "F".repeat(65)), "slub_debug");
    let fits = "Z".repeat(64);
    assert_eq!(clean(&format!("slub_debug={fits}")).slub_debug, SlubDebugArg::Value(fits.as_str().try_into().unwrap()));
}

#[test]
fn known_params_together() {
    let p = clean("mem=512M memblock=debug selftest=mmu,fdt loglevel=8 mminfo lkdtm=PANIC");
    assert_eq!(p.mem_limit, Some(512 << 20));
    assert!(p.memblock_debug, "memblock=debug not set");
    assert!(p.selftest.wants("mmu", "x") && p.selftest.wants("fdt", "x") && !p.selftest.wants("cmdline", "x"));
    assert_eq!(p.loglevel, 8);
    assert!(p.mminfo, "mminfo not set");
    assert_eq!(p.lkdtm, Some(Lkdtm::Panic));
}

#[test]
fn memory_zone_params() {
    let p = clean("numa=off movablecore=25% kernelcore=1G init_on_alloc=1 init_on_free=0 bench=pages");
    assert!(p.numa_off && p.init_on_alloc && !p.init_on_free, "flags wrong: {p:?}");
    assert_eq!(p.movablecore, Some(CoreSize::Percent(25)));
    assert_eq!(p.kernelcore, Some(CoreSize::Bytes(1 << 30)));
    assert_eq!(p.bench, 1);
    let (p, d) = parse("numa=on movablecore=101% init_on_alloc=2 bench=nope");
    assert!(!p.numa_off && p.movablecore.is_none() && !p.init_on_alloc && p.bench == 0, "defaults not kept: {p:?}");
    assert_eq!(d.list.len(), 4);
}

#[test]
fn malformed_keeps_default() {
    let (p, d) = parse("mem=12Q loglevel=x selftest=bo..gus");
    assert_eq!(p.mem_limit, None);
    assert_eq!(p.loglevel, 7);
    assert_eq!(p.selftest, SelftestSel::All);
    assert_eq!(d.list.len(), 3);
    let first = d.list[0].to_string();
    assert!(first.contains("malformed value for 'mem'") && first.contains("12Q"), "diagnostic: {first}");
    assert_eq!(first, "cmdline: malformed value for 'mem': \"12Q\" (default kept)");
    assert!(!d.has_no_such());
}

#[test]
fn unknown_listed_by_name() {
    let (p, d) = parse("foo=bar mem=1G junk");
    assert_eq!(d.unknown.as_str(), "foo=bar junk");
    assert!(d.list.is_empty(), "unexpected diagnostics {:?}", d.list);
    assert_eq!(p.mem_limit, Some(1 << 30));
    let line = UnknownLine(&d.unknown).to_string();
    assert_eq!(line, "Unknown kernel command line parameters \"foo=bar junk\", will be ignored.");
    // Case matters, as in Linux.
    assert_eq!(parse("MEM=1G Quiet").1.unknown.as_str(), "MEM=1G Quiet");
    // The list is cut at its capacity, not overflowed.
    let many = vec!["unknownword"; 100].join(" ");
    let (_, d) = parse(&many);
    assert!(d.unknown.len() <= 256 && d.unknown.starts_with("unknownword unknownword"));
}

#[test]
fn quotes_and_dashes() {
    let (p, d) = parse("  lkdtm=\"UNDEF\"   mem=1G mem=2G  ");
    assert_eq!(p.lkdtm, Some(Lkdtm::Undef));
    assert_eq!(p.mem_limit, Some(2 << 30));
    assert!(d.list.iter().any(|x| matches!(x, Diag::Repeated(_))), "repeat not reported: {d:?}");
    assert_eq!(d.list.len(), 1);
    assert_eq!(d.list[0].to_string(), "cmdline: 'mem' given more than once, the last one wins");
    // `-` and `_` are the same in names, not in values.
    let p = clean("init-on-alloc=1 init_on-free=1 slub-debug=F-Z");
    assert!(p.init_on_alloc && p.init_on_free);
    assert_eq!(p.slub_debug, SlubDebugArg::Value("F-Z".try_into().unwrap()));
    // A quoted value may hold spaces; words split on tabs and newlines too.
    let (p, d) = parse("slub_debug=\"F Z\"\tmminfo\nquiet");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(p.slub_debug, SlubDebugArg::Value("F Z".try_into().unwrap()));
    assert!(p.mminfo && p.loglevel == 4);
    // An unterminated quote runs to the end of the line.
    let (p, d) = parse("slub_debug=\"F mminfo quiet");
    assert!(d.is_empty(), "{d:?}");
    assert_eq!(p.slub_debug, SlubDebugArg::Value("F mminfo quiet".try_into().unwrap()));
    assert!(!p.mminfo);
    // A quote around a whole word is not stripped: the name includes it.
    assert_eq!(parse("\"quiet\"").1.unknown.as_str(), "\"quiet\"");
}

#[test]
fn repeats_are_reported_once_per_extra_word() {
    let (p, d) = parse("loglevel=3 loglevel=4 loglevel=5 init-on-free=1 init_on_free=0");
    assert_eq!(p.loglevel, 5);
    assert!(!p.init_on_free, "the last one wins");
    let repeated: Vec<String> = d.list.iter().map(|x| x.to_string()).collect();
    assert_eq!(repeated.len(), 2, "{repeated:?}");
    assert!(repeated.iter().all(|r| r.contains("given more than once")));
    // A malformed repeat keeps the earlier good value, and is reported twice.
    let (p, d) = parse("mem=1G mem=junk");
    assert_eq!(p.mem_limit, Some(1 << 30));
    assert_eq!(d.list.len(), 2);
}

#[test]
fn diagnostics_are_bounded() {
    let line = (0..40).map(|i| format!("mem=bad{i}")).collect::<Vec<_>>().join(" ");
    let (p, d) = parse(&line);
    assert_eq!(p.mem_limit, None);
    assert_eq!(d.list.len(), d.list.capacity());
    // Long values and names are cut in the diagnostic, whole characters only.
    let (_, d) = parse(&format!("loglevel={}", "é".repeat(100)));
    match &d.list[0] {
        Diag::Malformed { name, value } => {
            assert_eq!(name.as_str(), "loglevel");
            assert_eq!(value.as_str(), "é".repeat(32));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn asid_bits_takes_a_width_from_4_to_16() {
    assert_eq!(Params::default().asid_bits, None);
    assert_eq!(clean("asid_bits=4").asid_bits, Some(4));
    assert_eq!(clean("asid-bits=16").asid_bits, Some(16));
    assert_eq!(parse("asid_bits=8 asid_bits=5").0.asid_bits, Some(5), "the last one wins");
    for bad in ["asid_bits=3", "asid_bits=17", "asid_bits=0", "asid_bits=x", "asid_bits=", "asid_bits"] {
        malformed(bad, "asid_bits");
    }
}

#[test]
fn rdinit_names_the_first_program_and_defaults_to_slash_init() {
    assert_eq!(DEFAULT_RDINIT, "/init");
    assert_eq!(Params::default().rdinit.as_str(), "/init");
    assert_eq!(clean("rdinit=/bin/sh").rdinit.as_str(), "/bin/sh");
    assert_eq!(clean("rdinit=\"/my init\"").rdinit.as_str(), "/my init");
    let (p, d) = parse("rdinit=/a rdinit=/b");
    assert_eq!(p.rdinit.as_str(), "/b", "the last one wins");
    assert_eq!(d.list.as_slice(), [Diag::Repeated("rdinit".try_into().unwrap())]);
    let long = format!("rdinit=/{}", "x".repeat(PATH_PARAM_LEN - 1));
    assert_eq!(clean(&long).rdinit.len(), PATH_PARAM_LEN);
    malformed(&format!("rdinit=/{}", "x".repeat(PATH_PARAM_LEN)), "rdinit");
    malformed("rdinit=", "rdinit");
    malformed("rdinit", "rdinit");
}

#[test]
fn init_is_recorded_and_leaves_rdinit_alone() {
    assert_eq!(Params::default().init, None);
    let p = clean("init=/sbin/init");
    assert_eq!(p.init.as_deref(), Some("/sbin/init"));
    assert_eq!(p.rdinit.as_str(), "/init");
    let p = clean("init=/a rdinit=/b");
    assert_eq!((p.init.as_deref(), p.rdinit.as_str()), (Some("/a"), "/b"));
    malformed("init=", "init");
    malformed("init", "init");
    // `init_on_alloc` is another parameter, not `init` with a suffix.
    assert_eq!(clean("init_on_alloc=1").init, None);
}

#[test]
fn sysctl_vm_compaction_parameters() {
    let d = Params::default();
    assert!(!d.compact_memory);
    assert_eq!(d.extfrag_threshold, None);
    assert!(clean("sysctl.vm.compact_memory=1").compact_memory);
    assert_eq!(clean("sysctl.vm.extfrag_threshold=0").extfrag_threshold, Some(0));
    assert_eq!(clean("sysctl.vm.extfrag-threshold=1000").extfrag_threshold, Some(1000));
    for bad in ["sysctl.vm.compact_memory=0", "sysctl.vm.compact_memory=2", "sysctl.vm.compact_memory"] {
        malformed(bad, "sysctl.vm.compact_memory");
    }
    for bad in ["sysctl.vm.extfrag_threshold=1001", "sysctl.vm.extfrag_threshold=-1", "sysctl.vm.extfrag_threshold"] {
        malformed(bad, "sysctl.vm.extfrag_threshold");
    }
}
