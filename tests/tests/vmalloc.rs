//! vmalloc on real translation: the `vmalloc` self-test suite on the
//! boards, /proc/vmallocinfo and meminfo's Vmalloc lines in Linux's
//! format, and the benchmark's flatness with 10,000 live areas (the
//! augmented tree is what keeps a fit O(log n)).

use boot_tests::Qemu;

#[test]
fn suite_passes_on_raspi4b() {
    let out = Qemu::raspi4b().append("selftest=vmalloc").run();
    let n = out.assert_passed();
    assert!(n >= 15, "the vmalloc suite ran {n} tests:\n{}", out.report());
}

#[test]
fn suite_passes_on_one_cpu_and_with_numa() {
    Qemu::virt().smp(1).append("selftest=vmalloc").run().assert_passed();
    Qemu::virt().smp(2).numa(2).mem("2G").append("selftest=vmalloc").run().assert_passed();
}

/// The text after the timestamp.
fn body(line: &str) -> &str {
    line.find("] ").map_or(line, |i| &line[i + 2..])
}

#[test]
fn vmallocinfo_lists_stacks_and_the_console_as_linux_does() {
    let out = Qemu::virt().smp(2).append("selftest=vmalloc.vmallocinfo_format mminfo").run();
    out.assert_passed();
    let lines: Vec<&str> = out.log.lines().map(body).collect();
    let start = lines.iter().position(|l| *l == "/proc/vmallocinfo:").unwrap_or_else(|| out.fail("no vmallocinfo"));
    let info: Vec<&str> = lines[start + 1..].iter().take_while(|l| l.starts_with("0x")).copied().collect();
    assert!(!info.is_empty(), "empty vmallocinfo:\n{}", out.report());
    for l in &info {
        // 0xSTART-0xEND SIZE ...: 16 hex digits each, the size right-aligned in 7.
        let (range, rest) = l.split_at(37);
        let (a, b) =
            (u64::from_str_radix(&range[2..18], 16).unwrap(), u64::from_str_radix(&range[21..37], 16).unwrap());
        assert_eq!(&range[18..21], "-0x", "{l}");
        let size: u64 = rest[..8].trim().parse().unwrap_or_else(|_| panic!("size column in {l:?}"));
        assert_eq!(size, b - a, "{l}");
        assert!(rest.starts_with(' ') && rest.len() > 8, "{l}");
    }
    // The secondary's stack: 16 KiB (32 KiB in the debug build), as much
    // unmapped below it, a guard page above.
    let size: u64 = match std::env::var("BOOT_TESTS_PROFILE").as_deref() {
        Ok("dev" | "debug") => 32 << 10,
        _ => 16 << 10,
    };
    let stack = info
        .iter()
        .find(|l| l.contains("smp::stack::alloc_kernel_stack"))
        .unwrap_or_else(|| out.fail("no CPU stack area"));
    let pages = size / 4096;
    assert!(stack.contains(&format!(" pages={pages} vmalloc N0={pages}")), "{stack}");
    assert!(stack.contains(&format!(" {:>7} ", 2 * size + 4096)), "{stack}");
    // The console, moved from the fixmap.
    let con = info.iter().find(|l| l.contains(" ioremap")).unwrap_or_else(|| out.fail("no ioremap area"));
    assert!(con.contains("phys=0x0000000009000000 ioremap"), "{con}");
    assert!(con.contains("ioremap_console+0x"), "the caller is named %pS-style: {con}");
    out.assert_contains("console: registers at 0x9000000 moved from the fixmap to ioremap");
    let total = lines.iter().find(|l| l.starts_with("VmallocTotal:")).unwrap_or_else(|| out.fail("no VmallocTotal"));
    assert_eq!(*total, "VmallocTotal:   133140578304 kB");
    assert!(lines.iter().any(|l| l.starts_with("VmallocUsed:") && l.ends_with(" kB")));
}

#[test]
fn bench_is_flat_with_10k_live_areas() {
    let out = Qemu::virt().smp(1).append("selftest=off bench=vmalloc").args(["-icount", "shift=0"]).run();
    out.assert_exit(0);
    let insn = |w: &str| -> u64 {
        let l = out.line_with(&format!("bench vmalloc/{w} ours: ")).unwrap_or_else(|| out.fail(&format!("no {w}")));
        l.rsplit(": ").next().and_then(|t| t.strip_suffix(" insn/op")).and_then(|n| n.parse().ok()).unwrap()
    };
    // What 10,000 live areas may add to one vmalloc + vfree (and its share
    // of the lazy purges): the tree work, O(log n) in the augmented trees
    // (2,260 to 2,475 instructions here, whatever the size), stays below
    // 3,000, under a third of what any step that loaded each live area once
    // would cost. A bound on the difference rather than the ratio: the
    // ratio moves with the cost of everything else (the page allocator's
    // fast path took 175 off both figures of pages-1, and pages-1 went from
    // 1.49x to 1.51x with the same 2,359 added), and it would let pages-256
    // (194,000) grow by half unnoticed. The lower bound: the live figure
    // is not below two thirds of the empty one.
    const MAX_EXTRA: u64 = 3_000;
    for n in [1, 4, 16, 64, 256] {
        let (empty, live) = (insn(&format!("pages-{n}")), insn(&format!("pages-{n}-10k-live")));
        assert!(empty > 0 && live > 0, "pages-{n}: {empty} / {live}");
        assert!(
            live * 3 >= empty * 2 && live <= empty + MAX_EXTRA,
            "pages-{n}: {live} insn/op with 10k live areas vs {empty} (at most {MAX_EXTRA} more)"
        );
    }
    for n in [1, 4, 16] {
        assert!(insn(&format!("vm_map_ram-{n}")) > 0);
    }
}
