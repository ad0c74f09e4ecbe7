//! The boot matrix on `virt`: CPU model x CPU count x RAM size x entry level
//! x slub_debug, one test each (`cargo test -p boot-tests cortex_a53::smp4`;
//! by default a pairwise covering set of 6 of the 48, all of them with
//! `-- --include-ignored`), plus NUMA, the Raspberry Pi 4 and a boot with
//! the self-tests off.

use boot_tests::Qemu;

/// Boots `-kernel Image` on `virt` and expects every self-test to pass.
fn boot_virt(cpu: &str, smp: u32, mem: &str, el2: bool) {
    boot_virt_with(cpu, smp, mem, el2, "");
}

/// The same with a kernel command line.
fn boot_virt_with(cpu: &str, smp: u32, mem: &str, el2: bool, append: &str) {
    let mut qemu = Qemu::virt().cpu(cpu).smp(smp).mem(mem);
    if el2 {
        qemu = qemu.el2();
    }
    if !append.is_empty() {
        qemu = qemu.append(append);
    }
    qemu.run().assert_passed();
}

/// One boot of the matrix: `run` boots in every `cargo test`, `full` only
/// in the full matrix (`-- --include-ignored`).
macro_rules! matrix_boot {
    (run, $name:ident, $body:expr) => {
        #[test]
        fn $name() {
            $body
        }
    };
    (full, $name:ident, $body:expr) => {
        #[test]
        #[ignore = "full boot matrix only: cargo test -p boot-tests --test boot -- --include-ignored"]
        fn $name() {
            $body
        }
    };
}

/// The four boots of one CPU model, count and RAM size: EL1 and EL2 entry,
/// each without and with every SLUB debugging option; `$a`..`$d` say which
/// run by default.
macro_rules! entry_levels {
    ($cpu:literal, $smp:literal, $mem:literal, $a:ident, $b:ident, $c:ident, $d:ident) => {
        matrix_boot!($a, el1, crate::boot_virt($cpu, $smp, $mem, false));
        matrix_boot!($b, el2, crate::boot_virt($cpu, $smp, $mem, true));
        matrix_boot!($c, el1_slub_debug_fzpu, crate::boot_virt_with($cpu, $smp, $mem, false, "slub_debug=FZPU"));
        matrix_boot!($d, el2_slub_debug_fzpu, crate::boot_virt_with($cpu, $smp, $mem, true, "slub_debug=FZPU"));
    };
}

// The full matrix is 3 x 2 x 2 x 2 x 2 = 48 boots, 7 to 8 minutes of a
// 2-core machine. By default 6 of them run: a pairwise covering set, in
// which every value of every factor meets every value of every other
// factor at least once (each CPU model's two boots are complements in the
// four two-valued factors, and the three models' first rows 0000, 0011 and
// 0101 give every pair of those factors both an equal and an unequal
// pair). `-- --include-ignored` runs all 48.
//
//   model        smp  RAM   entry  slub_debug
//   cortex-a72   1    128M  EL1    -
//   cortex-a72   4    4G    EL2    FZPU
//   cortex-a53   1    128M  EL2    FZPU
//   cortex-a53   4    4G    EL1    -
//   max          1    4G    EL1    FZPU
//   max          4    128M  EL2    -

mod cortex_a53 {
    mod smp1 {
        mod mem_128m {
            entry_levels!("cortex-a53", 1, "128M", full, full, full, run);
        }
        mod mem_4g {
            entry_levels!("cortex-a53", 1, "4G", full, full, full, full);
        }
    }
    mod smp4 {
        mod mem_128m {
            entry_levels!("cortex-a53", 4, "128M", full, full, full, full);
        }
        mod mem_4g {
            entry_levels!("cortex-a53", 4, "4G", run, full, full, full);
        }
    }
}

mod cortex_a72 {
    mod smp1 {
        mod mem_128m {
            entry_levels!("cortex-a72", 1, "128M", run, full, full, full);
        }
        mod mem_4g {
            entry_levels!("cortex-a72", 1, "4G", full, full, full, full);
        }
    }
    mod smp4 {
        mod mem_128m {
            entry_levels!("cortex-a72", 4, "128M", full, full, full, full);
        }
        mod mem_4g {
            entry_levels!("cortex-a72", 4, "4G", full, full, full, run);
        }
    }
}

mod max {
    mod smp1 {
        mod mem_128m {
            entry_levels!("max", 1, "128M", full, full, full, full);
        }
        mod mem_4g {
            entry_levels!("max", 1, "4G", full, full, run, full);
        }
    }
    mod smp4 {
        mod mem_128m {
            entry_levels!("max", 4, "128M", full, run, full, full);
        }
        mod mem_4g {
            entry_levels!("max", 4, "4G", full, full, full, full);
        }
    }
}

/// Two nodes of 1 GiB and two CPUs each: two /memory nodes with
/// numa-node-id, CPUs with numa-node-id, a distance map.
#[test]
fn numa_two_nodes() {
    Qemu::virt().smp(4).mem("2G").numa(2).run().assert_passed();
}

/// `-M raspi4b -dtb target/dtb/raspi4b.dtb`: spin-table CPUs, PL011 behind
/// /soc ranges, EL2 entry, RAM at 0.
#[test]
fn raspi4b() {
    Qemu::raspi4b().run().assert_passed();
}

#[test]
fn selftest_off_skips_the_tests() {
    let out = Qemu::virt().append("selftest=off").run();
    out.assert_exit(0);
    out.assert_contains("selftest: skipped");
    if let Some((passed, failed)) = out.selftest() {
        out.fail(&format!("self-tests ran anyway: {passed} passed, {failed} failed"));
    }
}

/// `-numa dist` arguments: every pair of distinct nodes at `far`, as a ring
/// would be simpler but Linux's fallback order is easiest to read this way.
fn numa_dist(nodes: u32, far: u32) -> Vec<String> {
    let mut a = Vec::new();
    for s in 0..nodes {
        for d in 0..nodes {
            if s != d {
                a.extend(["-numa".to_string(), format!("dist,src={s},dst={d},val={}", far + 10 * s.abs_diff(d))]);
            }
        }
    }
    a
}

/// NUMA machines: N nodes of equal RAM and CPUs, with and without a distance map.
macro_rules! numa_boot {
    ($name:ident, $nodes:literal, $smp:literal, $mem:literal, $dist:literal) => {
        #[test]
        fn $name() {
            let mut q = Qemu::virt().smp($smp).mem($mem).numa($nodes);
            if $dist {
                q = q.args(numa_dist($nodes, 20));
            }
            let out = q.clone().append("slub_debug=FZPU").run();
            out.assert_passed();
            let out = q.run();
            out.assert_passed();
            let plural = |n: u32| if n == 1 { "" } else { "s" };
            out.assert_contains(&format!(
                "smp: Brought up {} node{}, {} CPU{}",
                $nodes,
                plural($nodes),
                $smp,
                plural($smp)
            ));
            for n in 0..$nodes {
                out.assert_contains(&format!("Initmem setup node {n} "));
            }
            if $dist {
                out.assert_contains("NUMA: distance-map");
            }
        }
    };
}

numa_boot!(numa_2_nodes_no_dist, 2, 4, "2G", false);
numa_boot!(numa_2_nodes_dist, 2, 4, "2G", true);
numa_boot!(numa_4_nodes_no_dist, 4, 4, "4G", false);
numa_boot!(numa_4_nodes_dist, 4, 8, "4G", true);

/// `numa=off` folds a two-node machine into node 0.
#[test]
fn numa_off_folds_nodes() {
    let out = Qemu::virt().smp(4).mem("2G").numa(2).append("numa=off").run();
    out.assert_passed();
    out.assert_contains("smp: Brought up 1 node, 4 CPUs");
    out.assert_contains("  node   0: [mem 0x0000000040000000-0x00000000bfffffff]");
    out.assert_not_contains("Initmem setup node 1");
}

/// How long the eight-CPU boots may take: every suite with eight vCPUs
/// on what may be a two-core host, where each broadcast TLB invalidate
/// stops every vCPU and a preempted lock holder stalls the spinners
/// (about 15-20 s here; CI hosts have been twice as slow).
const SMP8_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Eight CPUs, every one online.
#[test]
fn smp8() {
    let out = Qemu::virt().smp(8).mem("1G").timeout(SMP8_TIMEOUT).run();
    out.assert_passed();
    out.assert_contains("smp: Brought up 1 node, 8 CPUs");
}

/// The self-test suites the scale boots run: all but `cma` (below) and,
/// at 32 CPUs, `vmalloc` (its stress workloads take minutes with 32 vCPUs
/// under TCG on a small host; the 8-node boot runs it).
const SCALE_SUITES: &str = "fdt,memblock,mmu,exceptions,timer,smp,irq,zones,pages,slub,heap,percpu,asid,\
                            debug_pagealloc,sched,uaccess,migrate,compaction,programs,stack";

/// 32 CPUs (GICv3: GICv2 stops at 8), every one brought up through PSCI
/// and finding its own redistributor.
#[test]
fn smp32_gicv3() {
    let out = Qemu::virt()
        .smp(32)
        .mem("1G")
        .args(["-machine", "gic-version=3"])
        .append(&format!("selftest={SCALE_SUITES}"))
        .timeout(std::time::Duration::from_secs(180))
        .run();
    out.assert_passed();
    out.assert_contains("smp: Brought up 1 node, 32 CPUs");
    // virt puts 16 CPUs in a cluster (Aff1): CPU31 is MPIDR 0x10f.
    out.assert_contains("CPU31: Booted secondary processor 0x000000010f");
    out.assert_not_contains("more CPUs than NR_CPUS");
}

/// 8 NUMA nodes over 16 GiB with a distance map, a CPU on each, and every
/// suite but `cma`: its load processes on the CPUs of nodes 1-7 take their
/// pages from their own nodes, so too few land in the area on node 0 for
/// its check (it fails so on this machine without the scale changes too).
#[test]
fn numa_8_nodes_16g() {
    let suites = format!("{SCALE_SUITES},vmalloc");
    let out = Qemu::virt()
        .smp(8)
        .mem("16G")
        .numa(8)
        .args(numa_dist(8, 20))
        .append(&format!("selftest={suites}"))
        .timeout(std::time::Duration::from_secs(180))
        .run();
    out.assert_passed();
    out.assert_contains("smp: Brought up 8 nodes, 8 CPUs");
    for n in 0..8 {
        out.assert_contains(&format!("Initmem setup node {n} "));
    }
    out.assert_contains("NUMA: distance-map");
}

/// 8 GiB: RAM above 4 GiB is ZONE_NORMAL, below it ZONE_DMA (Linux on virt).
#[test]
fn mem_8g_has_normal_zone() {
    let out = Qemu::virt().smp(2).mem("8G").run();
    out.assert_passed();
    out.assert_contains("  DMA      [mem 0x0000000040000000-0x00000000ffffffff]");
    out.assert_contains("  DMA32    empty");
    out.assert_contains("  Normal   [mem 0x0000000100000000-0x000000023fffffff]");
}

/// mem=512M caps usable memory.
#[test]
fn mem_limit_512m() {
    let out = Qemu::virt().smp(2).mem("2G").append("mem=512M").run();
    out.assert_passed();
    out.assert_contains("  node   0: [mem 0x0000000040000000-0x000000005fffffff]");
}

/// raspi4b: the 30-bit DMA limit from /soc dma-ranges puts all of QEMU's
/// 960 MiB in ZONE_DMA.
#[test]
fn raspi4b_zones() {
    let out = Qemu::raspi4b().run();
    out.assert_passed();
    out.assert_contains("  DMA      [mem 0x0000000000000000-0x000000003bffffff]");
    out.assert_contains("  DMA32    empty");
}

/// A CPU the device tree lists but the machine lacks: PSCI CPU_ON fails, the
/// kernel says so, and the boot goes on with the CPUs that came up.
#[test]
fn cpu_that_does_not_come_up_is_reported() {
    let dtb = boot_tests::fdt_with_extra_cpu(&Qemu::virt().smp(2).dump_dtb(), 7);
    let out = Qemu::virt().smp(2).stub_with_dtb(0x4020_0000, dtb, 0x4800_0000).run();
    out.assert_passed();
    out.assert_contains("psci: failed to boot CPU");
    out.assert_contains("smp: Brought up 1 node, 2 CPUs");
}

/// A distance map that lists each pair in one direction only: Linux's
/// of_numa_parse_distance_map also sets the reverse, so node 1 sees node 0
/// at 30 too (the self-tests check the zonelists follow that).
#[test]
fn numa_one_way_distance_map_is_symmetric() {
    let base = Qemu::virt().smp(4).mem("2G").numa(2);
    let dtb = boot_tests::fdt_with_distance_map(&base.dump_dtb(), &[(0, 0, 10), (0, 1, 30), (1, 1, 10)]);
    let out = Qemu::virt().smp(4).mem("2G").numa(2).stub_with_dtb(0x4020_0000, dtb, 0x4800_0000).run();
    out.assert_passed();
    out.assert_contains("node 0 -> node 1: 30");
    out.assert_contains("Fallback order for Node 1: 1 0");
}

/// slub_debug=FZPU: every kmalloc cache gets sanity checks, red zones,
/// poisoning and owner tracking; the SLUB self-tests pass, and the kmalloc
/// red-zone test (kmalloc(18) from kmalloc-32, bytes 18 and 19 written) is
/// caught in Linux's words.
#[test]
fn slub_debug_fzpu() {
    let out = Qemu::virt().smp(4).append("slub_debug=FZPU").run();
    out.assert_passed();
    out.assert_contains("slub_debug: on");
    out.assert_contains("BUG kmalloc-32 (Not tainted): kmalloc Redzone overwritten");
}

/// The same on the Raspberry Pi 4 machine.
#[test]
fn slub_debug_fzpu_raspi4b() {
    let out = Qemu::raspi4b().append("slub_debug=FZPU").run();
    out.assert_passed();
    out.assert_contains("BUG kmalloc-32 (Not tainted): kmalloc Redzone overwritten");
}

/// `numa_off_folds_nodes` with every SLUB debugging option on.
#[test]
fn numa_off_folds_nodes_slub_debug_fzpu() {
    Qemu::virt().smp(4).mem("2G").numa(2).append("numa=off slub_debug=FZPU").run().assert_passed();
}

/// `smp8` with every SLUB debugging option on.
#[test]
fn smp8_slub_debug_fzpu() {
    Qemu::virt().smp(8).mem("1G").append("slub_debug=FZPU").timeout(SMP8_TIMEOUT).run().assert_passed();
}

/// `mem_8g_has_normal_zone` with every SLUB debugging option on.
#[test]
fn mem_8g_has_normal_zone_slub_debug_fzpu() {
    Qemu::virt().smp(2).mem("8G").append("slub_debug=FZPU").run().assert_passed();
}

/// `mem_limit_512m` with every SLUB debugging option on.
#[test]
fn mem_limit_512m_slub_debug_fzpu() {
    Qemu::virt().smp(2).mem("2G").append("mem=512M slub_debug=FZPU").run().assert_passed();
}
