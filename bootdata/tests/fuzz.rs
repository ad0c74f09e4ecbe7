//! A bounded, seeded fuzz run of the two parsers of untrusted input.
//!
//! Device trees: every committed blob is mutated in the ways real damage
//! takes (bit flips, byte overwrites, truncation, header fields set to edge
//! values, tokens overwritten, property lengths changed, token runs spliced
//! in or cut out, string terminators removed), a few at a time. For each
//! result: validation refuses it; or compaction succeeds (or finds it too
//! big for the kernel's buffer), the copy passes validation again, and
//! parsing either refuses it with an error (the `fdt` crate finds no root,
//! say) or gives sane results (every list within its capacity, no empty
//! memory range, a console path that is a path, ...). Nothing may panic.
//!
//! Command lines: random words from the parser's own vocabulary and hostile
//! characters, and mutations of good lines. Parsing must give parameters in
//! their ranges and bounded diagnostics, and the parameters, written back
//! as a canonical command line, must parse to themselves with nothing to say.
//!
//! Fixed seeds, fixed case counts: the run is the same every time and takes
//! a few seconds. Run alone with `cargo test -p bootdata fuzz` (the test
//! profile keeps overflow checks on, which a fuzz run wants; `--release`
//! works too and is faster).

mod common;

use bootdata::cmdline::{
    BENCH_SUITES, CoreSize, LKDTM_TYPES, Params, RebootMode, SelftestSel, SlubDebugArg, TestName, parse,
};
use bootdata::devicetree::{
    ConsoleInfo, DtInfo, MAX_CPUS, MAX_MEM_RANGES, MAX_RESERVED_NODES, Target, check_full, compact, console_candidates,
    parse as dt_parse, parse_uarts,
};
use common::*;

/// Device-tree cases per committed blob.
const DT_CASES_PER_BLOB: usize = 2000;
/// Command-line cases (half random, half mutated).
const CMDLINE_CASES: usize = 10000;

/// xorshift64*: small, fast and the same on every host.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

// ----- device trees ----------------------------------------------------------

const EDGE_WORDS: [u32; 14] = [0, 1, 2, 3, 4, 9, 7, 8, 16, 17, 39, 40, 0x7fff_ffff, u32::MAX];

fn edge_word(rng: &mut Rng, b: &[u8]) -> u32 {
    match rng.below(4) {
        0 => *rng.pick(&EDGE_WORDS),
        1 => rng.next() as u32,
        2 => (b.len() as u32).wrapping_add(rng.below(17) as u32).wrapping_sub(8),
        _ if b.len() >= 40 => hdr(b, rng.below(10)) as u32 ^ (1 << rng.below(32)),
        _ => 1 << rng.below(32),
    }
}

/// One random mutation of `b`.
fn mutate(rng: &mut Rng, b: &mut Vec<u8>, toks: &[(usize, u32, usize)]) {
    if b.is_empty() {
        return;
    }
    match rng.below(10) {
        0 => {
            // Bit flips anywhere.
            for _ in 0..1 + rng.below(8) {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
        }
        1 => {
            // Byte overwrites anywhere.
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(b.len());
                let r = rng.next() as u8;
                b[i] = *rng.pick(&[0, 0xff, 1, 2, 3, 4, 9, b'/', b'@', r]);
            }
        }
        2 => {
            // Truncation, totalsize left alone or made to match.
            let cut = rng.below(b.len());
            b.truncate(cut);
            if cut >= 8 && rng.chance(50) {
                put32(b, 4, cut as u32);
            }
        }
        3 => {
            // A header field set to an edge value.
            if b.len() >= 40 {
                let field = rng.below(10);
                let v = edge_word(rng, b);
                put32(b, field * 4, v);
            }
        }
        4 => {
            // A token overwritten with another token or an edge value.
            if let Some(&(off, _, _)) = toks.get(rng.below(toks.len())) {
                let v = if rng.chance(70) { *rng.pick(&[1, 2, 3, 4, 9]) } else { edge_word(rng, b) };
                if off + 4 <= b.len() {
                    put32(b, off, v);
                }
            }
        }
        5 => {
            // A property's length or name offset changed.
            let props: Vec<_> = toks.iter().filter(|t| t.1 == FDT_PROP).collect();
            if let Some(&&(off, _, _)) = props.get(rng.below(props.len())) {
                let field = off + 4 + 4 * rng.below(2);
                if field + 4 <= b.len() {
                    let old = get32(b, field);
                    let v = match rng.below(3) {
                        0 => old.wrapping_add(rng.below(9) as u32).wrapping_sub(4),
                        1 => old ^ (1 << rng.below(32)),
                        _ => edge_word(rng, b),
                    };
                    put32(b, field, v);
                }
            }
        }
        6 => {
            // A run of whole tokens copied elsewhere (inserted), sizes adjusted.
            if toks.len() > 2 {
                let (s, n) = (rng.below(toks.len()), 1 + rng.below(6));
                let e = (s + n).min(toks.len());
                let (from, to) = (toks[s].0, toks[e - 1].0 + toks[e - 1].2);
                let at = toks[rng.below(toks.len())].0;
                if to <= b.len() && at <= b.len() {
                    let run = b[from..to].to_vec();
                    let len = run.len();
                    b.splice(at..at, run);
                    grow_struct(b, at, len as i64);
                }
            }
        }
        7 => {
            // A run of whole tokens cut out, sizes adjusted.
            if toks.len() > 2 {
                let (s, n) = (rng.below(toks.len()), 1 + rng.below(4));
                let e = (s + n).min(toks.len());
                let (from, to) = (toks[s].0, toks[e - 1].0 + toks[e - 1].2);
                if to <= b.len() {
                    b.drain(from..to);
                    grow_struct(b, from, -((to - from) as i64));
                }
            }
        }
        8 => {
            // String terminators in the strings block removed or moved.
            if b.len() >= 40 {
                let (off, size) = (hdr(b, 3), hdr(b, 8));
                for _ in 0..1 + rng.below(3) {
                    if size > 0 && off + size <= b.len() {
                        let i = off + rng.below(size);
                        b[i] = if b[i] == 0 { b'x' } else { 0 };
                    }
                }
            }
        }
        _ => {
            // Node names damaged: a byte of a BEGIN_NODE's name.
            let nodes: Vec<_> = toks.iter().filter(|t| t.1 == FDT_BEGIN_NODE && t.2 > 4).collect();
            if let Some(&&(off, _, len)) = nodes.get(rng.below(nodes.len())) {
                let i = off + 4 + rng.below(len - 4);
                if i < b.len() {
                    let r = rng.next() as u8;
                    b[i] = *rng.pick(&[0, 0xc3, 0xff, b'/', b'@', b':', r]);
                }
            }
        }
    }
}

/// After `delta` bytes were inserted (or removed) at `at`: grow the header
/// fields that describe what lies beyond, as an editor would (or would not:
/// the sizes are sometimes left stale on purpose by the other mutations).
fn grow_struct(b: &mut [u8], at: usize, delta: i64) {
    if b.len() < 40 {
        return;
    }
    let adj = |v: usize| (v as i64 + delta).max(0) as u32;
    let (total, off_struct, off_strings, size_struct) = (hdr(b, 1), hdr(b, 2), hdr(b, 3), hdr(b, 9));
    put32(b, 4, adj(total));
    if off_strings >= at {
        put32(b, 12, adj(off_strings));
    }
    if at >= off_struct && at <= off_struct + size_struct {
        put32(b, 36, adj(size_struct));
    }
}

/// What any parse result must look like.
/// What any UART parse must look like: paths from the root, candidates
/// that index the UARTs, a console that is one of them.
fn assert_uarts_sane(con: &ConsoleInfo, what: &str) {
    assert!(con.uarts.iter().all(|u| u.path.starts_with('/')), "{what}: {:?}", con.uarts);
    for c in &console_candidates(con, &Params::default()) {
        if let Target::Uart(i) = c.target {
            assert!(i < con.uarts.len(), "{what}: candidate {c:?}");
        }
    }
    if let Some(c) = con.console() {
        assert!(con.uarts.iter().any(|u| u.path == c.path && u.pa == Some(c.pa)), "{what}: console {c:?}");
    }
}

fn assert_sane(info: &DtInfo, what: &str) {
    assert!(info.memory.len() <= MAX_MEM_RANGES, "{what}");
    assert!(info.memory.iter().all(|m| m.size > 0), "{what}: an empty memory range: {:?}", info.memory);
    assert!(info.reserved.len() <= MAX_RESERVED_NODES && info.cpus.len() <= MAX_CPUS, "{what}");
    assert!(info.reserved.iter().all(|r| r.alloc_ranges.len() <= 2), "{what}");
    assert!(info.rng_seed.len() <= 64 && info.distances.len() <= 64 && info.warnings.len() <= 8, "{what}");
    assert!(info.bootargs.len() <= 1024 && info.model.len() <= 64, "{what}");
    assert!(info.initrd.is_none_or(|(s, e)| s < e), "{what}: initrd {:?}", info.initrd);
}

#[test]
fn fuzz_devicetree() {
    let mut out = vec![0u8; 256 * 1024]; // the kernel's buffer size
    let (mut accepted, mut refused, mut too_big, mut parse_refused) = (0usize, 0usize, 0usize, 0usize);
    for (n, name) in REAL_DTBS.iter().enumerate() {
        let base = data(name);
        let toks = tokens(&base);
        let mut rng = Rng::new(0x5eed_0000 + n as u64);
        for case in 0..DT_CASES_PER_BLOB {
            let mut b = base.clone();
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut b, &toks);
            }
            let what = format!("{name} case {case}");
            let _ = bootdata::devicetree::header_total_size(&b);
            match check_full(&b) {
                Err(_) => {
                    refused += 1;
                    // Compaction and parsing refuse too, with the same check.
                    assert!(compact(&b, &mut out).is_err(), "{what}: compact took a refused blob");
                    assert!(dt_parse(&b).is_err(), "{what}: parse took a refused blob");
                }
                Ok(()) => {
                    accepted += 1;
                    if let Ok(raw) = dt_parse(&b) {
                        assert_sane(&raw, &what);
                    }
                    match compact(&b, &mut out) {
                        Ok(c) => {
                            assert_eq!(check_full(c), Ok(()), "{what}: compacted blob fails the check");
                            match dt_parse(c) {
                                Ok(info) => assert_sane(&info, &what),
                                Err(_) => parse_refused += 1,
                            }
                            if let Ok(con) = parse_uarts(c) {
                                assert_uarts_sane(&con, &what);
                            }
                        }
                        Err(_) => too_big += 1,
                    }
                }
            }
        }
    }
    let total = DT_CASES_PER_BLOB * REAL_DTBS.len();
    println!(
        "fuzz_devicetree: {total} cases: {refused} refused by check_full; {accepted} passed it, of which \
         {too_big} were too big to compact and {parse_refused} were refused by parse"
    );
    assert_eq!(accepted + refused, total);
    // Both outcomes are exercised, or the mutations are not doing their job;
    // and parse refuses little of what the validator lets through.
    assert!(accepted > total / 20 && refused > total / 5, "{accepted} accepted, {refused} refused");
    assert!(parse_refused < accepted / 10, "parse refused {parse_refused} of {accepted} checked blobs");
}

// ----- command lines -----------------------------------------------------------

const WORDS: [&str; 45] = [
    "rdinit",
    "init",
    "/bin/sh",
    "mem",
    "memblock",
    "selftest",
    "loglevel",
    "quiet",
    "debug",
    "mminfo",
    "cma",
    "lkdtm",
    "numa",
    "movablecore",
    "kernelcore",
    "init_on_alloc",
    "init-on-free",
    "debug_pagealloc",
    "page_alloc.check_pages",
    "bench",
    "slub_debug",
    "slub-debug",
    "=",
    "=",
    ",",
    ".",
    "\"",
    " ",
    "  ",
    "\t",
    "\n",
    "@",
    "-",
    "%",
    "0x",
    "12",
    "0",
    "512M",
    "4g",
    "pages",
    "slab",
    "off",
    "all",
    "PANIC",
    "é",
];
const CHARS: [char; 24] = [
    'a', 'Z', '0', '9', '=', ',', '.', '"', ' ', '\t', '\n', '-', '_', '%', '@', 'K', 'M', 'G', 'x', 'é', '\u{0}',
    '\u{7f}', '∞', '\'',
];
const GOOD_LINES: [&str; 8] = [
    "mem=512M memblock=debug selftest=mmu,fdt loglevel=8 mminfo lkdtm=PANIC",
    "numa=off movablecore=25% kernelcore=1G init_on_alloc=1 init_on_free=0 bench=pages",
    "cma=32M@1G-2G slub_debug=FZPU quiet",
    "selftest=pages.zeroing,slub loglevel=15 bench=slab,pages",
    "slub_debug=\"F Z\" debug init-on-free=1",
    "foo=bar mem=1G junk",
    "console=ttyAMA0 earlycon root=/dev/vda rw rdinit=/bin/sh init=/sbin/init",
    "lkdtm=\"UNDEF\" mem=1G mem=2G",
];

fn random_line(rng: &mut Rng) -> String {
    let mut s = String::new();
    for _ in 0..rng.below(24) {
        if rng.chance(70) {
            let w: &str = WORDS[rng.below(WORDS.len())];
            s.push_str(w);
        } else {
            s.push(*rng.pick(&CHARS));
        }
    }
    s
}

fn mutated_line(rng: &mut Rng) -> String {
    let mut chars: Vec<char> = rng.pick(&GOOD_LINES).chars().collect();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(chars.len() + 1);
        match rng.below(4) {
            0 if i < chars.len() => {
                chars.remove(i);
            }
            1 if i < chars.len() => chars[i] = *rng.pick(&CHARS),
            2 => {
                let w: Vec<char> = rng.pick(&WORDS).chars().collect();
                chars.splice(i..i, w);
            }
            _ => chars.insert(i, *rng.pick(&CHARS)),
        }
    }
    chars.into_iter().collect()
}

/// The parameters written back as a command line the parser must read as
/// these parameters exactly, with nothing to say.
fn canonical(p: &Params) -> Option<String> {
    let mut w: Vec<String> = Vec::new();
    if let Some(m) = p.mem_limit {
        w.push(format!("mem={m}"));
    }
    if p.memblock_debug {
        w.push("memblock=debug".into());
    }
    match &p.selftest {
        SelftestSel::All => {}
        SelftestSel::Off => w.push("selftest=off".into()),
        SelftestSel::Only(list) => w.push(format!("selftest={list}")),
    }
    w.push(format!("loglevel={}", p.loglevel));
    if p.mminfo {
        w.push("mminfo".into());
    }
    if p.ptdump {
        w.push("ptdump".into());
    }
    if let Some(c) = p.cma {
        let mut s = format!("cma={}", c.size_bytes);
        if let Some(b) = c.base {
            s += &format!("@{b}");
            if let Some(l) = c.limit {
                s += &format!("-{l}");
            }
        }
        w.push(s);
    }
    if let Some(l) = p.lkdtm {
        w.push(format!("lkdtm={}", LKDTM_TYPES.iter().find(|t| t.1 == l)?.0));
    }
    if p.numa_off {
        w.push("numa=off".into());
    }
    let core = |c: CoreSize| match c {
        CoreSize::Bytes(b) => b.to_string(),
        CoreSize::Percent(p) => format!("{p}%"),
    };
    if let Some(c) = p.movablecore {
        w.push(format!("movablecore={}", core(c)));
    }
    if let Some(c) = p.kernelcore {
        w.push(format!("kernelcore={}", core(c)));
    }
    w.push(format!("init_on_alloc={}", p.init_on_alloc as u8));
    w.push(format!("init_on_free={}", p.init_on_free as u8));
    w.push(format!("debug_pagealloc={}", if p.debug_pagealloc { "on" } else { "off" }));
    w.push(format!("page_alloc.check_pages={}", p.check_pages as u8));
    if p.bench != 0 {
        let names: Vec<&str> =
            (0..BENCH_SUITES.len()).filter(|i| p.bench & (1 << i) != 0).map(|i| BENCH_SUITES[i]).collect();
        w.push(format!("bench={}", names.join(",")));
    }
    match &p.slub_debug {
        SlubDebugArg::Unset => {}
        SlubDebugArg::Bare => w.push("slub_debug".into()),
        // Values with quotes or blanks cannot be written back unambiguously.
        SlubDebugArg::Value(v) if v.contains(['"', ' ', '\t', '\n']) => return None,
        SlubDebugArg::Value(v) => w.push(format!("slub_debug={v}")),
    }
    let plain = |v: &str| !v.contains(['"', ' ', '\t', '\n']);
    for c in &p.console {
        if !plain(c) {
            return None;
        }
        w.push(format!("console={c}"));
    }
    match p.earlycon.as_deref() {
        None => {}
        Some("") => w.push("earlycon".into()),
        Some(v) if !plain(v) => return None,
        Some(v) => w.push(format!("earlycon={v}")),
    }
    if p.rdinit.as_str() != "/init" {
        if !plain(&p.rdinit) {
            return None;
        }
        w.push(format!("rdinit={}", p.rdinit));
    }
    match p.init.as_deref() {
        None => {}
        Some(v) if !plain(v) => return None,
        Some(v) => w.push(format!("init={v}")),
    }
    if p.panic_timeout != 0 {
        w.push(format!("panic={}", p.panic_timeout));
    }
    match p.reboot {
        RebootMode::PowerOff => {}
        RebootMode::Park => w.push("reboot=park".into()),
        RebootMode::Reset => w.push("reboot=reset".into()),
    }
    Some(w.join(" "))
}

fn assert_cmdline_sane(line: &str) -> bool {
    let (p, d) = parse(line);
    let what = format!("{line:?}");
    assert!(p.loglevel <= 15, "{what}");
    assert_ne!(p.mem_limit, Some(0), "{what}");
    if let Some(c) = p.cma
        && let (Some(b), Some(l)) = (c.base, c.limit)
    {
        assert!(l > b, "{what}: cma {c:?}");
    }
    for c in [p.movablecore, p.kernelcore].into_iter().flatten() {
        assert!(!matches!(c, CoreSize::Percent(x) if x > 100), "{what}");
    }
    assert!(p.bench < 1 << BENCH_SUITES.len(), "{what}");
    if let SelftestSel::Only(list) = &p.selftest {
        assert!(list.split(',').all(|n| TestName::parse(n).is_some()), "{what}: {list}");
    }
    if let SlubDebugArg::Value(v) = &p.slub_debug {
        assert!(v.len() <= 64, "{what}");
    }
    assert!(d.list.len() <= d.list.capacity() && d.unknown.len() <= 256, "{what}");
    for word in d.unknown.split(' ').filter(|w| !w.is_empty()) {
        assert!(line.contains(word), "{what}: unknown word {word:?} is not in the line");
    }
    assert_eq!(parse(line), (p.clone(), d), "{what}: not deterministic");
    match canonical(&p) {
        Some(c) => {
            let (q, e) = parse(&c);
            assert!(e.is_empty(), "{what}: canonical {c:?} has diagnostics {e:?}");
            assert_eq!(q, p, "{what}: canonical {c:?} parses differently");
            true
        }
        None => false,
    }
}

#[test]
fn fuzz_cmdline() {
    let mut rng = Rng::new(0xc0ff_ee00);
    let mut round_trips = 0;
    for case in 0..CMDLINE_CASES {
        let line = if case % 2 == 0 { random_line(&mut rng) } else { mutated_line(&mut rng) };
        if assert_cmdline_sane(&line) {
            round_trips += 1;
        }
    }
    println!("fuzz_cmdline: {CMDLINE_CASES} cases, {round_trips} written back and re-parsed");
    assert!(round_trips > CMDLINE_CASES / 2, "only {round_trips} round trips");
}
