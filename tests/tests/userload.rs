//! The `userload` self-test suite: memtouch processes spread over the
//! CPUs, their memory checked by the kernel while they rewrite it, their
//! end by SIGKILL with every page back, a corrupted word noticed by both
//! the kernel's check and the program, and pin_user_page's reference.
//! The `cma` and `compaction` suites migrate pages under this load.

use boot_tests::Qemu;

/// Tests the userload suite has (as the kernel lists them).
const MIN_TESTS: u32 = 4;

fn passed(q: Qemu) {
    let out = q.run();
    let n = out.assert_passed();
    assert!(n >= MIN_TESTS, "the userload suite ran {n} tests:\n{}", out.report());
}

#[test]
fn suite_passes_on_two_cpus() {
    passed(Qemu::virt().smp(2).append("selftest=userload"));
}

#[test]
fn suite_passes_on_four_cpus() {
    passed(Qemu::virt().smp(4).append("selftest=userload"));
}

/// Every load shares the CPU with the self-tests' own task (kernel_main,
/// the boot CPU's idle task), which must get the CPU back when its sleeps
/// end.
#[test]
fn on_one_cpu_kernel_main_gets_its_cpu_back_from_busy_user_tasks() {
    passed(Qemu::virt().smp(1).append("selftest=userload"));
}
