//! Consoles the tree names badly, on `virt` through the boot stub with a
//! mutated copy of QEMU's own tree: a UART inside RAM, at the flash, with
//! nothing behind it, or behind an alias loop is refused by name and the
//! next UART is used; a fatal error with `loglevel=0` still prints its
//! diagnosis.

use boot_tests::{Outcome, Qemu, fdt_without_memory};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

const IMAGE_BASE: u64 = 0x4020_0000;
const DTB_ADDR: u64 = 0x4800_0000;

fn dtc(from: &str, to: &str, input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("dtc")
        // -f: keep trees dtc's checks dislike (an alias that is not a path).
        .args(["-q", "-f", "-I", from, "-O", to])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run dtc (scripts/setup.sh installs device-tree-compiler)");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "dtc failed: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// QEMU virt's tree as source, edited by `edit`, compiled back.
fn virt_dtb_edited(edit: impl FnOnce(String) -> String) -> Vec<u8> {
    let dts = String::from_utf8(dtc("dtb", "dts", &Qemu::virt().dump_dtb())).unwrap();
    let edited = edit(dts.clone());
    assert_ne!(edited, dts, "the edit changed nothing");
    dtc("dts", "dtb", edited.as_bytes())
}

/// A PL011 node at `addr` that stdout-path names, beside QEMU's own.
fn with_console_at(addr: u64) -> Vec<u8> {
    virt_dtb_edited(|dts| {
        let node = format!(
            "\tserial@{addr:x} {{\n\t\tcompatible = \"arm,pl011\", \"arm,primecell\";\n\t\treg = <0x{:x} 0x{:x} 0x00 0x1000>;\n\t}};\n",
            addr >> 32,
            addr & 0xffff_ffff
        );
        let dts = dts.replace("stdout-path = \"/pl011@9000000\";", &format!("stdout-path = \"/serial@{addr:x}\";"));
        // Before the root's closing brace.
        let end = dts.rfind("};").unwrap();
        format!("{}{node}{}", &dts[..end], &dts[end..])
    })
}

fn boot(dtb: Vec<u8>) -> Outcome {
    Qemu::virt().stub_with_dtb(IMAGE_BASE, dtb, DTB_ADDR).run()
}

#[test]
fn console_inside_ram_falls_back_to_the_next_uart() {
    let out = boot(with_console_at(0x4010_0000));
    out.assert_line_contains(
        "console: /serial@40100000 (arm,pl011) is at 0x40100000, inside RAM",
        &["refused", "trying /pl011@9000000 (arm,pl011)"],
    );
    out.assert_contains("printk: console [/pl011@9000000] enabled");
    out.assert_passed();
}

#[test]
fn console_with_nothing_behind_it_falls_back_to_the_next_uart() {
    let out = boot(with_console_at(0x0c00_0000));
    out.assert_line_contains(
        "console: /serial@c000000 (arm,pl011) at 0xc000000 does not answer (external abort",
        &["trying /pl011@9000000 (arm,pl011)"],
    );
    out.assert_contains("printk: console [/pl011@9000000] enabled");
    out.assert_passed();
}

/// A real device that is not a PL011: virt's GIC distributor answers every
/// read, and is itself a PrimeCell. Its peripheral ID gives it away (found by
/// the fuzz campaign, seed 495: the console was "enabled" on the GIC and a
/// fatal diagnosis went nowhere).
#[test]
fn console_at_another_device_is_refused_by_its_ids() {
    let out = boot(with_console_at(0x0800_0000));
    out.assert_line_contains(
        "console: /serial@8000000 (arm,pl011) at 0x8000000 is not a PL011 (PrimeCell IDs",
        &["refused", "trying /pl011@9000000 (arm,pl011)"],
    );
    out.assert_contains("printk: console [/pl011@9000000] enabled");
    out.assert_passed();
}

/// A console on a bus whose `#address-cells` is 0: its `reg` decodes to
/// address 0 (the cells give no address), which is refused, and the next UART
/// is used.
#[test]
fn console_whose_reg_decodes_to_0_is_refused() {
    let dtb = virt_dtb_edited(|dts| {
        let bus = "\tbus {\n\t\t#address-cells = <0x00>;\n\t\t#size-cells = <0x01>;\n\t\tranges;\n\t\t\
                   serial {\n\t\t\tcompatible = \"arm,pl011\", \"arm,primecell\";\n\t\t\treg = <0x1000>;\n\t\t};\n\t};\n";
        let dts = dts.replace("stdout-path = \"/pl011@9000000\";", "stdout-path = \"/bus/serial\";");
        let end = dts.rfind("};").unwrap();
        format!("{}{bus}{}", &dts[..end], &dts[end..])
    });
    let out = boot(dtb);
    let Some(line) = out.line_with("console: /bus/serial (arm,pl011)") else {
        out.fail("the console on the odd bus is not named");
    };
    if !(line.contains("is at address 0: refused") || line.contains("has no translatable reg")) {
        out.fail(&format!("refused for another reason: {line:?}"));
    }
    if !line.contains("trying /pl011@9000000 (arm,pl011)") {
        out.fail(&format!("no fallback named: {line:?}"));
    }
    out.assert_contains("printk: console [/pl011@9000000] enabled");
    out.assert_passed();
}

#[test]
fn console_beyond_the_physical_address_space_is_refused() {
    let out = boot(with_console_at(1 << 48));
    out.assert_line_contains(
        "console: /serial@1000000000000 (arm,pl011) is at 0x1000000000000, beyond the CPU's",
        &["physical address space: refused", "trying /pl011@9000000 (arm,pl011)"],
    );
    out.assert_passed();
}

#[test]
fn console_alias_loop_is_named_and_skipped() {
    let dtb = virt_dtb_edited(|dts| {
        let dts = dts.replace("stdout-path = \"/pl011@9000000\";", "stdout-path = \"serial0:115200n8\";");
        // QEMU's own /aliases has serial0 = the PL011: make it a loop.
        dts.replace("serial0 = \"/pl011@9000000\";", "serial0 = \"loop\";\n\t\tloop = \"serial0\";")
    });
    let out = boot(dtb);
    out.assert_line_contains(
        "console: serial0 cannot be used: alias loop: serial0 -> loop -> serial0",
        &["trying /pl011@9000000 (arm,pl011)"],
    );
    out.assert_passed();
}

#[test]
fn loglevel_0_still_prints_a_fatal_diagnosis() {
    let dtb = virt_dtb_edited(|dts| dts.replacen("chosen {\n", "chosen {\n\t\tbootargs = \"loglevel=0\";\n", 1));
    let out = Qemu::virt()
        .stub_with_dtb(IMAGE_BASE, fdt_without_memory(&dtb), DTB_ADDR)
        .timeout(Duration::from_secs(20))
        .run();
    out.assert_exit(2);
    out.assert_contains("Kernel panic - not syncing:");
    out.assert_not_contains("Machine model");
}

#[test]
fn console_at_flash_is_refused_without_a_write() {
    // virt's second flash bank (0x4000000) reads as zeros: its ID registers
    // are not a PL011's, so it is refused before anything is written to it
    // (before the PL011 ID check it looked like a disabled PL011 without a
    // clock and was refused for that, also without a write); the next UART
    // is used.
    let out = boot(with_console_at(0x0400_0000));
    out.assert_line_contains(
        "console: /serial@4000000 (arm,pl011) at 0x4000000 is not a PL011 (PrimeCell IDs 0x00000000/0x00000000",
        &["refused", "trying /pl011@9000000 (arm,pl011)"],
    );
    out.assert_contains("printk: console [/pl011@9000000] enabled");
    out.assert_passed();
}
