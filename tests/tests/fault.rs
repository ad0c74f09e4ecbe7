//! User processes on real translation: the `fault` self-test suite (every
//! scenario of the built-in `fault` program run as its own process, with
//! its exit status and the free page count checked) on the boards, on one
//! and four CPUs, with a forced small ASID width so the allocator rolls
//! over, and with GICv3; the first program's exit status as the run's
//! exit code; the fault report's format.

use boot_tests::Qemu;

/// Tests the fault suite has (as the kernel lists them).
const MIN_TESTS: u32 = 40;

fn passed(q: Qemu) {
    let out = q.run();
    let n = out.assert_passed();
    assert!(n >= MIN_TESTS, "the fault suite ran {n} tests:\n{}", out.report());
}

#[test]
fn suite_passes_on_one_cpu() {
    passed(Qemu::virt().smp(1).append("selftest=fault"));
}

#[test]
fn suite_passes_on_four_cpus() {
    passed(Qemu::virt().smp(4).append("selftest=fault"));
}

#[test]
fn suite_passes_with_four_bit_asids() {
    let out = Qemu::virt().smp(4).append("selftest=fault asid_bits=4").run();
    let n = out.assert_passed();
    assert!(n >= MIN_TESTS, "{}", out.report());
}

#[test]
fn suite_passes_on_raspi4b() {
    passed(Qemu::raspi4b().append("selftest=fault"));
}

#[test]
fn suite_passes_with_gicv3_and_numa() {
    passed(Qemu::virt().smp(2).numa(2).mem("2G").args(["-machine", "gic-version=3"]).append("selftest=fault"));
}

#[test]
fn first_program_exit_status_is_the_exit_code() {
    let out = Qemu::virt().smp(2).append("rdinit=/exit-status").run();
    out.assert_exit(42);
    out.assert_contains("Run /exit-status as init process");
}

#[test]
fn reboot_power_off_ends_the_run_with_0() {
    let out = Qemu::virt().append("rdinit=/poweroff").run();
    out.assert_exit(0);
    out.assert_contains("reboot: system call from user space: power down");
}

#[test]
fn a_missing_init_is_reported() {
    let out = Qemu::virt().append("rdinit=/no/such/program").run();
    out.assert_exit(2);
    out.assert_contains("Failed to execute /no/such/program (error -2)");
    out.assert_contains("No working init found");
}

#[test]
fn unhandled_fault_is_reported_as_linux_does() {
    let out = Qemu::virt().smp(2).append("selftest=fault.null_deref").run();
    out.assert_passed();
    out.assert_line_contains("unhandled page fault (11) at 0x0000000000000000", &["fault[", "esr 0x", "in fault"]);
}
