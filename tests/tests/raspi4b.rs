//! QEMU `raspi4b` as a Raspberry Pi 4 user meets it: Debian's upstream
//! bcm2711-rpi-4-b.dtb (`bootdata/tests/data/`, from Debian's arm64 kernel
//! package), whose stdout-path is the mini UART (QEMU's second serial port),
//! and the PL011 with `console=ttyAMA0`; the project's own tree. Without
//! semihosting, as on hardware, the run must end by itself: the verdict
//! line, then a power off through the PM watchdog (QEMU exits).

use boot_tests::{Qemu, repo_root};
use std::path::PathBuf;

fn debian_dtb() -> PathBuf {
    repo_root().join("bootdata/tests/data/bcm2711-rpi-4-b.dtb")
}

/// The end of a run without semihosting: the verdict, then the power off.
#[track_caller]
fn assert_passed_and_powered_off(out: &boot_tests::Outcome) {
    out.assert_not_timed_out();
    out.assert_selftests_passed();
    out.assert_contains("reboot: power off and reset through the BCM2835 PM watchdog at 0xfe100000");
    // The power off goes through the watchdog's ioremap, the fixmap slot gone.
    out.assert_contains("reboot: PM watchdog registers at 0xfe100000 moved from the fixmap to ioremap");
    out.assert_contains("reboot: Power down (exit code 0)");
    out.assert_exit(0);
}

#[test]
fn debian_dtb_console_on_the_mini_uart() {
    let out = Qemu::raspi4b().dtb(debian_dtb()).second_serial().no_semihosting().run();
    out.assert_contains("printk: console [serial1] enabled (mini UART /soc/serial@7e215040 at MMIO 0xfe215040");
    out.assert_contains("Machine model: Raspberry Pi 4 Model B");
    assert_passed_and_powered_off(&out);
}

#[test]
fn debian_dtb_console_on_the_pl011() {
    let out = Qemu::raspi4b().dtb(debian_dtb()).append("console=ttyAMA0,115200").run();
    out.assert_line_contains(
        "printk: console [ttyAMA0,115200] enabled",
        &["pl011 /soc/serial@7e201000", "0xfe201000", "IBRD 26 FBRD 3"],
    );
    out.assert_passed();
}

#[test]
fn debian_dtb_console_on_the_pl011_without_semihosting() {
    let out = Qemu::raspi4b().dtb(debian_dtb()).append("console=ttyAMA0").no_semihosting().run();
    out.assert_contains("printk: console [ttyAMA0] enabled");
    assert_passed_and_powered_off(&out);
}

#[test]
fn debian_dtb_reboot_park_parks_after_the_verdict() {
    let out = Qemu::raspi4b()
        .dtb(debian_dtb())
        .append("console=ttyAMA0 selftest=off reboot=park")
        .no_semihosting()
        .timeout(std::time::Duration::from_secs(15))
        .run();
    assert!(out.timed_out, "a parked run does not end by itself:\n{}", out.tail(10));
    out.assert_contains("reboot: System halted (exit code 0; reboot=park)");
}

#[test]
fn debian_dtb_panic_n_resets_after_a_crash() {
    // lkdtm=PANIC with panic=-1: reset at once; QEMU's raspi4b takes the
    // watchdog's reset as a reset request and, with -no-reboot, exits.
    let out = Qemu::raspi4b()
        .dtb(debian_dtb())
        .append("console=ttyAMA0 selftest=off lkdtm=PANIC panic=-1")
        .no_semihosting()
        .args(["-no-reboot"])
        .run();
    out.assert_not_timed_out();
    out.assert_contains("Kernel panic - not syncing");
    out.assert_contains("reboot: Restarting system (exit code 3)");
}

#[test]
fn project_dts_powers_off_without_semihosting() {
    let out = Qemu::raspi4b().no_semihosting().run();
    out.assert_contains("printk: console [serial0] enabled (pl011 /soc/serial@7e201000");
    assert_passed_and_powered_off(&out);
}
