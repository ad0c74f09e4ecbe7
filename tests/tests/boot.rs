//! The boot matrix on `virt`: CPU model x CPU count x RAM size x entry level,
//! one test each (`cargo test -p boot-tests cortex_a53::smp4`), plus NUMA,
//! the Raspberry Pi 4 and a boot with the self-tests off.

use boot_tests::Qemu;

/// Boots `-kernel Image` on `virt` and expects every self-test to pass.
fn boot_virt(cpu: &str, smp: u32, mem: &str, el2: bool) {
    let mut qemu = Qemu::virt().cpu(cpu).smp(smp).mem(mem);
    if el2 {
        qemu = qemu.el2();
    }
    qemu.run().assert_passed();
}

macro_rules! entry_levels {
    ($cpu:literal, $smp:literal, $mem:literal) => {
        #[test]
        fn el1() {
            crate::boot_virt($cpu, $smp, $mem, false);
        }

        #[test]
        fn el2() {
            crate::boot_virt($cpu, $smp, $mem, true);
        }
    };
}

macro_rules! mem_sizes {
    ($cpu:literal, $smp:literal) => {
        mod mem_128m {
            entry_levels!($cpu, $smp, "128M");
        }

        mod mem_4g {
            entry_levels!($cpu, $smp, "4G");
        }
    };
}

macro_rules! cpu_counts {
    ($cpu:literal) => {
        mod smp1 {
            mem_sizes!($cpu, 1);
        }

        mod smp4 {
            mem_sizes!($cpu, 4);
        }
    };
}

mod cortex_a53 {
    cpu_counts!("cortex-a53");
}

mod cortex_a72 {
    cpu_counts!("cortex-a72");
}

mod max {
    cpu_counts!("max");
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
