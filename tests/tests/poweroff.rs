//! The end of a run without semihosting on `virt`, whose /psci answers:
//! the verdict, then PSCI SYSTEM_OFF (QEMU exits by itself), or a reset
//! after a panic with `panic=-1`.

use boot_tests::Qemu;

#[test]
fn virt_powers_off_through_psci_without_semihosting() {
    let out = Qemu::virt().append("selftest=fdt").no_semihosting().run();
    out.assert_not_timed_out();
    out.assert_selftests_passed();
    out.assert_contains("reboot: power off and reset through PSCI (Hvc)");
    out.assert_contains("reboot: Power down (exit code 0)");
    out.assert_exit(0);
}

#[test]
fn virt_panic_resets_through_psci_with_panic_minus_1() {
    // -no-reboot makes QEMU exit on the reset request instead of booting again.
    let out = Qemu::virt().append("selftest=off lkdtm=PANIC panic=-1").no_semihosting().args(["-no-reboot"]).run();
    out.assert_not_timed_out();
    out.assert_contains("Kernel panic - not syncing");
    out.assert_contains("reboot: Restarting system (exit code 3)");
    out.assert_not_contains("PSCI SYSTEM_RESET returned");
}
