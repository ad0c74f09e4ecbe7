//! Interrupts on every board: the `irq` self-test suite (the tick on
//! every CPU, jiffies at HZ, IPIs, masking) with the GICv2 of QEMU `virt`
//! on 1 and 4 CPUs, its GICv3 (`gic-version=3`) entered at EL1 and at EL2,
//! and the Raspberry Pi 4's GIC-400 with the project's and Debian's trees;
//! and a tree without a GIC the kernel knows boots on without interrupts.

use boot_tests::{Outcome, Qemu, ScratchFile, kernel, repo_root};

/// The suite's tests, all of which must run (none skipped).
const NR_TESTS: u32 = 6;

#[track_caller]
fn assert_suite_passed(out: &Outcome, gic: &str) {
    let n = out.assert_passed();
    assert_eq!(n, NR_TESTS, "the irq suite ran {n} tests:\n{}", out.report());
    out.assert_contains(gic);
    out.assert_line_contains("arch_timer: cp15 timer running at", &["(virtual, irq 27)", "tick at HZ=250"]);
    // The suite's own unexpected interrupt (the last SPI), and only it, once.
    let cared: Vec<&str> = out.log.lines().filter(|l| l.contains("nobody cared")).collect();
    assert_eq!(cared.len(), 2, "one expect-BUG line and one report:\n{}", out.report());
    assert!(cared[1].contains("nobody cared (CPU0); disabled"), "{cared:?}\n{}", out.report());
    out.assert_not_contains("IRQs stay masked");
}

#[test]
fn gicv2_on_virt_with_one_and_four_cpus() {
    for smp in [1, 4] {
        let out = Qemu::virt().smp(smp).append("selftest=irq").run();
        assert_suite_passed(
            &out,
            "GICv2: intc@8000000 (arm,cortex-a15-gic) distributor at 0x8000000, CPU interface at 0x8010000",
        );
    }
}

#[test]
fn gicv3_on_virt_with_four_cpus_at_el1_and_el2() {
    let v3 = || Qemu::virt().smp(4).args(["-machine", "gic-version=3"]).append("selftest=irq");
    for out in [v3().run(), v3().el2().run()] {
        assert_suite_passed(
            &out,
            "GICv3: intc@8000000 distributor at 0x8000000, 1 redistributor region(s) from 0x80a0000",
        );
    }
}

#[test]
fn gicv2_on_virt_entered_at_el2() {
    let out = Qemu::virt().smp(2).el2().append("selftest=irq").run();
    assert_suite_passed(&out, "GICv2: intc@8000000");
}

#[test]
fn gic_400_on_raspi4b_with_both_trees() {
    const GIC: &str =
        "GICv2: interrupt-controller@40041000 (arm,gic-400) distributor at 0xff841000, CPU interface at 0xff842000";
    assert_suite_passed(&Qemu::raspi4b().append("selftest=irq").run(), GIC);
    let debian = repo_root().join("bootdata/tests/data/bcm2711-rpi-4-b.dtb");
    let out = Qemu::raspi4b().dtb(debian).append("console=ttyAMA0 selftest=irq").run();
    assert_suite_passed(&out, GIC);
}

/// A tree whose interrupt controller is nothing the kernel drives: the
/// boot says so and goes on with IRQs masked, the other suites pass.
#[test]
fn a_tree_without_a_known_gic_boots_without_interrupts() {
    let blob = std::fs::read(kernel().dtb("raspi4b")).expect("read raspi4b.dtb");
    let edited = boot_tests::fdt_edit(
        &blob,
        &[["-t", "s", "%", "/soc/interrupt-controller@40041000", "compatible", "acme,unknown-intc"]
            .map(String::from)
            .to_vec()],
    );
    let file = ScratchFile::with_bytes("raspi4b-nogic.dtb", &edited);
    let out = Qemu::raspi4b().dtb(file.path()).append("selftest=smp,timer").run();
    out.assert_passed();
    out.assert_contains("GIC: no interrupt controller in the device tree; running without interrupts");
    out.assert_not_contains("arch_timer: cp15 timer running");
}
