//! The scheduler on the boards: the `sched` self-test suite (kernel
//! threads on every CPU, wait queues, sleeps, exit and reaping with every
//! page back, per-task FP/SIMD and thread registers) on one and four CPUs
//! of `virt` and on the Raspberry Pi 4.

use boot_tests::Qemu;

#[test]
fn suite_passes_on_one_cpu() {
    let out = Qemu::virt().smp(1).append("selftest=sched").run();
    let n = out.assert_passed();
    assert!(n >= 11, "the sched suite ran {n} tests:\n{}", out.report());
}

#[test]
fn suite_passes_on_four_cpus() {
    let out = Qemu::virt().smp(4).append("selftest=sched").run();
    let n = out.assert_passed();
    assert!(n >= 11, "the sched suite ran {n} tests:\n{}", out.report());
}

#[test]
fn suite_passes_on_raspi4b() {
    let out = Qemu::raspi4b().append("selftest=sched").run();
    let n = out.assert_passed();
    assert!(n >= 11, "the sched suite ran {n} tests:\n{}", out.report());
}

/// The FP/SIMD trap still holds for the boot flow after the FP tasks ran,
/// and the other suites that use on_each_cpu still pass beside the
/// scheduler's idle tasks.
#[test]
fn exceptions_and_smp_pass_after_sched() {
    Qemu::virt().smp(4).append("selftest=sched.fpsimd_state_is_per_task,exceptions,smp").run().assert_passed();
}
