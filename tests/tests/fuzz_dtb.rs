//! Device-tree fuzzing under QEMU: boot the kernel with mutated trees and
//! check that every boot ends in one of the outcomes bad input may have:
//! a pass (0), failed self-tests (1, counted and named), or a fatal boot
//! error with its one-line diagnosis (2, `Kernel panic - not syncing: ...`
//! in the log; a silent exit 2 is a finding too). A hang, a panic (3), an oops (4) or any other
//! end is a finding, and fails the campaign with the case's seed so it can
//! be replayed alone.
//!
//! Mutations work on the tree's structure (parsed, changed, serialised again
//! with a consistent header), so most cases get past the validator into the
//! parsers and the boot: property values bit-flipped, words replaced by
//! interesting values, values cut or grown, cell sizes changed, nodes cloned
//! (up to 150 memory nodes) or deleted, strings pointed at aliases that loop
//! or at paths that do not exist. A few cases also flip raw bytes of the
//! final blob.
//!
//! `cargo test -p boot-tests --test fuzz_dtb` runs `FUZZ_DTB_CASES` cases
//! (default 24) from seed `FUZZ_DTB_SEED` (default 1); the long campaign is
//! `FUZZ_DTB_CASES=500 cargo test -p boot-tests --release --test fuzz_dtb`.
//! `FUZZ_DTB_ONLY=<seed>` replays one case and prints its log.

use std::time::Duration;

use boot_tests::{Outcome, Qemu};

const IMAGE_BASE: u64 = 0x4020_0000;
const DTB_ADDR: u64 = 0x4800_0000;
/// A boot with self-tests takes a few seconds on 1 CPU; a hang is anything
/// much longer.
const CASE_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------------------
// A small FDT model: parse, edit, serialise.

#[derive(Clone, Debug)]
struct Node {
    name: String,
    props: Vec<(String, Vec<u8>)>,
    children: Vec<Node>,
}

struct Fdt {
    boot_cpuid: u32,
    rsvmap: Vec<(u64, u64)>,
    root: Node,
}

fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

fn cstr(b: &[u8], off: usize) -> String {
    let end = b[off..].iter().position(|&c| c == 0).map(|p| off + p).unwrap_or(b.len());
    String::from_utf8_lossy(&b[off..end]).into_owned()
}

impl Fdt {
    fn parse(b: &[u8]) -> Fdt {
        let off_struct = be32(b, 8) as usize;
        let off_strings = be32(b, 12) as usize;
        let off_rsv = be32(b, 16) as usize;
        let boot_cpuid = be32(b, 28);
        let mut rsvmap = Vec::new();
        let mut p = off_rsv;
        loop {
            let a = u64::from_be_bytes(b[p..p + 8].try_into().unwrap());
            let s = u64::from_be_bytes(b[p + 8..p + 16].try_into().unwrap());
            p += 16;
            if a == 0 && s == 0 {
                break;
            }
            rsvmap.push((a, s));
        }
        let mut p = off_struct;
        let mut stack: Vec<Node> = Vec::new();
        let mut root = None;
        loop {
            let tok = be32(b, p);
            p += 4;
            match tok {
                1 => {
                    let name = cstr(b, p);
                    p += (name.len() + 1).div_ceil(4) * 4;
                    stack.push(Node { name, props: Vec::new(), children: Vec::new() });
                }
                2 => {
                    let n = stack.pop().expect("balanced tree");
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(n),
                        None => root = Some(n),
                    }
                }
                3 => {
                    let len = be32(b, p) as usize;
                    let nameoff = be32(b, p + 4) as usize;
                    let val = b[p + 8..p + 8 + len].to_vec();
                    p += 8 + len.div_ceil(4) * 4;
                    stack.last_mut().expect("prop in a node").props.push((cstr(b, off_strings + nameoff), val));
                }
                4 => {}
                9 => break,
                t => panic!("bad token {t:#x} in the source tree"),
            }
        }
        Fdt { boot_cpuid, rsvmap, root: root.expect("a root node") }
    }

    fn serialise(&self) -> Vec<u8> {
        fn walk(n: &Node, st: &mut Vec<u8>, strings: &mut Vec<u8>) {
            st.extend(1u32.to_be_bytes());
            st.extend(n.name.as_bytes());
            st.push(0);
            while !st.len().is_multiple_of(4) {
                st.push(0);
            }
            for (name, val) in &n.props {
                let off = find_or_add(strings, name);
                st.extend(3u32.to_be_bytes());
                st.extend((val.len() as u32).to_be_bytes());
                st.extend(off.to_be_bytes());
                st.extend(val);
                while !st.len().is_multiple_of(4) {
                    st.push(0);
                }
            }
            for c in &n.children {
                walk(c, st, strings);
            }
            st.extend(2u32.to_be_bytes());
        }
        fn find_or_add(strings: &mut Vec<u8>, name: &str) -> u32 {
            let mut i = 0;
            while i < strings.len() {
                let end = i + strings[i..].iter().position(|&c| c == 0).unwrap();
                if &strings[i..end] == name.as_bytes() {
                    return i as u32;
                }
                i = end + 1;
            }
            let off = strings.len() as u32;
            strings.extend(name.as_bytes());
            strings.push(0);
            off
        }
        let mut st = Vec::new();
        let mut strings = Vec::new();
        walk(&self.root, &mut st, &mut strings);
        st.extend(9u32.to_be_bytes());
        let mut rsv = Vec::new();
        for &(a, s) in &self.rsvmap {
            rsv.extend(a.to_be_bytes());
            rsv.extend(s.to_be_bytes());
        }
        rsv.extend([0u8; 16]);
        let off_rsv = 40usize;
        let off_struct = off_rsv + rsv.len();
        let off_strings = off_struct + st.len();
        let total = off_strings + strings.len();
        let mut out = Vec::with_capacity(total);
        for w in [
            0xd00d_feedu32,
            total as u32,
            off_struct as u32,
            off_strings as u32,
            off_rsv as u32,
            17,
            16,
            self.boot_cpuid,
            strings.len() as u32,
            st.len() as u32,
        ] {
            out.extend(w.to_be_bytes());
        }
        out.extend(rsv);
        out.extend(st);
        out.extend(strings);
        out
    }
}

// ---------------------------------------------------------------------------
// Mutations

/// xorshift64*: small, seedable, the same sequence everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Paths of every node, in tree order (index paths into the tree).
fn node_paths(n: &Node, at: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
    out.push(at.clone());
    for (i, c) in n.children.iter().enumerate() {
        at.push(i);
        node_paths(c, at, out);
        at.pop();
    }
}

fn node_at<'a>(root: &'a mut Node, path: &[usize]) -> &'a mut Node {
    let mut n = root;
    for &i in path {
        n = &mut n.children[i];
    }
    n
}

fn find_child<'a>(n: &'a mut Node, prefix: &str) -> Option<&'a mut Node> {
    n.children.iter_mut().find(|c| c.name == prefix || c.name.starts_with(&format!("{prefix}@")))
}

const INTERESTING: [u32; 10] =
    [0, 1, 2, 0xffff_ffff, 0x8000_0000, 0x4000_0000, 0x3fff_ffff, 0x7fff_ffff, 0x1000, 0xffff_f000];

fn set_prop(n: &mut Node, name: &str, val: Vec<u8>) {
    match n.props.iter_mut().find(|(p, _)| p == name) {
        Some((_, v)) => *v = val,
        None => n.props.push((name.to_string(), val)),
    }
}

fn string_val(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Apply one random mutation; returns a short description.
fn mutate_once(fdt: &mut Fdt, rng: &mut Rng) -> String {
    let mut paths = Vec::new();
    node_paths(&fdt.root, &mut Vec::new(), &mut paths);
    match rng.below(12) {
        0 | 1 => {
            // Flip bits in a property value.
            let p = paths[rng.below(paths.len())].clone();
            let n = node_at(&mut fdt.root, &p);
            if n.props.is_empty() {
                return "nothing (no props)".into();
            }
            let i = rng.below(n.props.len());
            let (name, v) = &mut n.props[i];
            if v.is_empty() {
                return format!("nothing ({name} empty)");
            }
            let at = rng.below(v.len());
            v[at] ^= 1 << rng.below(8);
            format!("bitflip {}/{name}[{at}]", n.name)
        }
        2 | 3 => {
            // A word of a property becomes an interesting value.
            let p = paths[rng.below(paths.len())].clone();
            let n = node_at(&mut fdt.root, &p);
            let cands: Vec<usize> = (0..n.props.len()).filter(|&i| n.props[i].1.len() >= 4).collect();
            if cands.is_empty() {
                return "nothing (no word props)".into();
            }
            let i = cands[rng.below(cands.len())];
            let (name, v) = &mut n.props[i];
            let w = rng.below(v.len() / 4) * 4;
            let val = INTERESTING[rng.below(INTERESTING.len())];
            v[w..w + 4].copy_from_slice(&val.to_be_bytes());
            format!("word {}/{name}[{w}] = {val:#x}", n.name)
        }
        4 => {
            // Cut or grow a value.
            let p = paths[rng.below(paths.len())].clone();
            let n = node_at(&mut fdt.root, &p);
            if n.props.is_empty() {
                return "nothing (no props)".into();
            }
            let i = rng.below(n.props.len());
            let (name, v) = &mut n.props[i];
            if rng.chance(50) {
                let keep = rng.below(v.len() + 1);
                v.truncate(keep);
                format!("cut {}/{name} to {keep}", n.name)
            } else {
                let extra = 1 + rng.below(16);
                for _ in 0..extra {
                    v.push(rng.next() as u8);
                }
                format!("grow {}/{name} by {extra}", n.name)
            }
        }
        5 => {
            // Odd cell sizes on a node.
            let p = paths[rng.below(paths.len())].clone();
            let n = node_at(&mut fdt.root, &p);
            let which = if rng.chance(50) { "#address-cells" } else { "#size-cells" };
            let val = [0u32, 1, 2, 3, 4, 0xffff_ffff][rng.below(6)];
            set_prop(n, which, val.to_be_bytes().to_vec());
            format!("{}/{which} = {val:#x}", n.name)
        }
        6 => {
            // Clone nodes: many memory nodes, or a duplicate CPU.
            if rng.chance(50) {
                let Some(mem) = find_child(&mut fdt.root, "memory").cloned() else {
                    return "nothing (no memory)".into();
                };
                let copies = [1usize, 2, 10, 149][rng.below(4)];
                for k in 0..copies {
                    let mut m = mem.clone();
                    m.name = format!("memory@{:x}", 0x1_0000_0000u64 + k as u64 * 0x100_0000);
                    if rng.chance(50) {
                        // Overlapping or unaligned copies of the original.
                        if let Some((_, v)) = m.props.iter_mut().find(|(p, _)| p == "reg")
                            && v.len() >= 8
                        {
                            let l = v.len();
                            v[l - 1] ^= rng.next() as u8;
                        }
                    }
                    fdt.root.children.push(m);
                }
                format!("{copies} more memory nodes")
            } else {
                let Some(cpus) = find_child(&mut fdt.root, "cpus") else { return "nothing (no cpus)".into() };
                if cpus.children.is_empty() {
                    return "nothing (no cpu)".into();
                }
                let c = cpus.children[rng.below(cpus.children.len())].clone();
                cpus.children.push(c);
                "duplicate cpu".into()
            }
        }
        7 => {
            // Delete a node (never the root) or a property.
            if paths.len() > 1 && rng.chance(50) {
                let p = paths[1 + rng.below(paths.len() - 1)].clone();
                let (last, parent) = p.split_last().unwrap();
                let parent = node_at(&mut fdt.root, parent);
                let gone = parent.children.remove(*last);
                format!("delete node {}", gone.name)
            } else {
                let p = paths[rng.below(paths.len())].clone();
                let n = node_at(&mut fdt.root, &p);
                if n.props.is_empty() {
                    return "nothing (no props)".into();
                }
                let (name, _) = n.props.remove(rng.below(n.props.len()));
                format!("delete {}/{name}", n.name)
            }
        }
        8 => {
            // The console path: stdout-path and aliases that loop or lead nowhere.
            let targets =
                ["serial0", "serial1", "/nonexistent", "serial0:115200n8", "/", "/chosen", "", "a", "/pl011@9000000"];
            let t = targets[rng.below(targets.len())];
            if let Some(chosen) = find_child(&mut fdt.root, "chosen") {
                set_prop(chosen, "stdout-path", string_val(t));
            }
            if find_child(&mut fdt.root, "aliases").is_none() {
                fdt.root.children.push(Node { name: "aliases".into(), props: Vec::new(), children: Vec::new() });
            }
            let aliases = find_child(&mut fdt.root, "aliases").unwrap();
            match rng.below(3) {
                0 => set_prop(aliases, "serial0", string_val("serial0")),
                1 => {
                    set_prop(aliases, "a", string_val("b"));
                    set_prop(aliases, "b", string_val("a"));
                    set_prop(aliases, "serial0", string_val("a"));
                }
                _ => set_prop(aliases, "serial0", string_val("/chosen")),
            }
            format!("stdout-path = {t:?} with looping aliases")
        }
        9 => {
            // Memory that is not there, or huge.
            let Some(mem) = find_child(&mut fdt.root, "memory") else { return "nothing (no memory)".into() };
            let (base, size): (u64, u64) = match rng.below(4) {
                0 => (0x4000_0000, 0x8000_0000),
                1 => (0x1_0000_0000, 0x4000_0000),
                2 => (0x4000_0000, u64::MAX),
                _ => (0x4000_1234, 0x1000_0000),
            };
            let mut v = base.to_be_bytes().to_vec();
            v.extend(size.to_be_bytes());
            set_prop(mem, "reg", v);
            format!("memory reg = {base:#x}+{size:#x}")
        }
        10 => {
            // A UART pointing somewhere odd.
            let Some(uart) = fdt.root.children.iter_mut().find(|c| c.name.starts_with("pl011@")) else {
                return "nothing (no pl011)".into();
            };
            let addr: u64 = [0x4000_0000u64, 0x0, 0x1000_0000, 0xffff_ffff_f000, 0x0800_0000][rng.below(5)];
            let mut v = addr.to_be_bytes().to_vec();
            v.extend(0x1000u64.to_be_bytes());
            set_prop(uart, "reg", v);
            format!("pl011 reg = {addr:#x}")
        }
        _ => {
            // PSCI conduit and enable methods the machine may not have.
            if let Some(psci) = find_child(&mut fdt.root, "psci") {
                let m = ["smc", "hvc", "bogus", ""][rng.below(4)];
                set_prop(psci, "method", string_val(m));
                format!("psci method = {m:?}")
            } else {
                "nothing (no psci)".into()
            }
        }
    }
}

fn mutate(base: &[u8], seed: u64) -> (Vec<u8>, Vec<String>) {
    let mut rng = Rng::new(seed);
    let mut fdt = Fdt::parse(base);
    let mut what = Vec::new();
    for _ in 0..1 + rng.below(3) {
        what.push(mutate_once(&mut fdt, &mut rng));
    }
    let mut blob = fdt.serialise();
    if rng.chance(10) {
        let at = rng.below(blob.len());
        blob[at] ^= 1 << rng.below(8);
        what.push(format!("raw bitflip at {at}"));
    }
    (blob, what)
}

// ---------------------------------------------------------------------------
// The campaign

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn boot(dtb: Vec<u8>) -> Outcome {
    Qemu::virt().smp(2).mem("512M").stub_with_dtb(IMAGE_BASE, dtb, DTB_ADDR).timeout(CASE_TIMEOUT).run()
}

#[test]
fn model_round_trips_the_virt_tree() {
    let base = Qemu::virt().smp(2).mem("512M").dump_dtb();
    let again = Fdt::parse(&base).serialise();
    let twice = Fdt::parse(&again).serialise();
    assert_eq!(again, twice, "serialise(parse(x)) is not stable");
    // The unmutated, re-serialised tree must boot and pass.
    boot(again).assert_passed();
}

#[test]
fn mutated_trees_end_in_a_pass_or_a_diagnosis() {
    let base = Qemu::virt().smp(2).mem("512M").dump_dtb();
    let cases = env_u64("FUZZ_DTB_CASES", 24);
    let first = env_u64("FUZZ_DTB_SEED", 1);
    let only = std::env::var("FUZZ_DTB_ONLY").ok().and_then(|v| v.parse::<u64>().ok());
    let seeds: Vec<u64> = match only {
        Some(s) => vec![s],
        None => (first..first + cases).collect(),
    };
    let results: Vec<(u64, Vec<String>, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = seeds
            .iter()
            .map(|&seed| {
                let base = &base;
                s.spawn(move || {
                    let (blob, what) = mutate(base, seed);
                    if only.is_some() {
                        // Kept for replaying by hand (QEMU's -device loader, or dtc -I dtb).
                        let keep = boot_tests::repo_root().join(format!("target/fuzz_dtb-{seed}.dtb"));
                        let _ = std::fs::write(keep, &blob);
                    }
                    (seed, what, boot(blob))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("case thread")).collect()
    });

    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    let mut findings = Vec::new();
    for (seed, what, out) in &results {
        let diagnosed = out.log.lines().any(|l| l.contains("Kernel panic - not syncing"));
        let class = match (out.timed_out, out.exit_code) {
            (true, _) => "hang".to_string(),
            // A fatal boot error must say why: one line, whatever the console.
            (false, Some(2)) if !diagnosed => "exit 2 without a diagnosis".to_string(),
            (false, Some(c @ 0..=2)) => format!("exit {c}"),
            (false, Some(3)) => "panic".to_string(),
            (false, Some(4)) => "oops".to_string(),
            (false, c) => format!("other ({c:?})"),
        };
        *counts.entry(class.clone()).or_default() += 1;
        if only.is_some() {
            println!("seed {seed}: {what:?}\n{}", out.log);
        }
        if out.exit_code == Some(2) {
            let why =
                out.log.lines().find(|l| l.contains("Kernel panic - not syncing")).unwrap_or("(no diagnosis line)");
            println!("fuzz_dtb: seed {seed} ({}): fatal: {why}", what.join("; "));
        }
        if out.exit_code == Some(1) {
            let failed: Vec<&str> = out.log.lines().filter(|l| l.contains(" ... FAILED")).collect();
            println!("fuzz_dtb: seed {seed} ({}): self-tests failed: {failed:?}", what.join("; "));
        }
        if !matches!(class.as_str(), "exit 0" | "exit 1" | "exit 2") {
            findings.push(format!("seed {seed} ({}): {class}\n{}", what.join("; "), out.report()));
        }
    }
    println!("fuzz_dtb: {} cases from seed {}: {counts:?}", results.len(), seeds[0]);
    assert!(findings.is_empty(), "{} finding(s):\n{}", findings.len(), findings.join("\n"));
}
