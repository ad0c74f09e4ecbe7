//! Bad input from outside: broken device trees, no device tree, a garbage
//! command line. The kernel must say what is wrong and stop cleanly (exit 2),
//! or carry on where it can; never crash (exit 3, 4) or hang.
//!
//! Broken trees cannot go through `-dtb` (QEMU refuses them), so they are
//! placed in RAM with `-device loader` and handed over in x0 by the boot stub.

use std::time::Duration;

use boot_tests::fdt_header::{OFF_DT_STRUCT, SIZE_DT_STRUCT, TOTALSIZE};
use boot_tests::{Boot, Outcome, Qemu, fdt_get, fdt_set, fdt_without_memory};

/// The Image's base for stub boots (above QEMU's own DTB at 0x4000_0000).
const IMAGE_BASE: u64 = 0x4020_0000;
/// Where our broken DTB goes.
const DTB_ADDR: u64 = 0x4800_0000;
/// A fatal error is reported at once; this only has to catch a hang.
const FATAL_WITHIN: Duration = Duration::from_secs(20);

/// QEMU's own tree for the machine we boot.
fn virt_dtb() -> Vec<u8> {
    Qemu::virt().dump_dtb()
}

fn boot_with_dtb(dtb: Vec<u8>) -> Outcome {
    Qemu::virt().stub_with_dtb(IMAGE_BASE, dtb, DTB_ADDR).timeout(FATAL_WITHIN + Duration::from_secs(10)).run()
}

#[track_caller]
fn assert_fatal(out: &Outcome, message: &str) {
    out.assert_finished_within(FATAL_WITHIN);
    out.assert_exit(2);
    out.assert_contains(message);
}

#[test]
fn dtb_bad_magic() {
    let mut dtb = virt_dtb();
    dtb[0] ^= 0xff;
    assert_fatal(&boot_with_dtb(dtb), "device tree");
}

/// Cut in the middle of the structure block; the header still claims the
/// whole blob, and the RAM after the cut reads as zeros.
#[test]
fn dtb_truncated() {
    let mut dtb = virt_dtb();
    let cut = fdt_get(&dtb, OFF_DT_STRUCT) + fdt_get(&dtb, SIZE_DT_STRUCT) / 2;
    dtb.truncate(cut as usize);
    assert_fatal(&boot_with_dtb(dtb), "device tree");
}

/// totalsize claims almost 4 GiB: more than the 1 GiB of RAM behind it.
#[test]
fn dtb_totalsize_beyond_ram() {
    let mut dtb = virt_dtb();
    fdt_set(&mut dtb, TOTALSIZE, 0xffff_0000);
    assert_fatal(&boot_with_dtb(dtb), "device tree");
}

/// The structure block starts past the end of the blob.
#[test]
fn dtb_struct_block_outside_blob() {
    let mut dtb = virt_dtb();
    let totalsize = fdt_get(&dtb, TOTALSIZE);
    fdt_set(&mut dtb, OFF_DT_STRUCT, totalsize + 0x1000);
    assert_fatal(&boot_with_dtb(dtb), "device tree");
}

#[test]
fn dtb_without_memory_node() {
    let dtb = fdt_without_memory(&virt_dtb());
    assert_fatal(&boot_with_dtb(dtb), "no usable memory");
}

/// `-kernel` with the ELF: QEMU jumps to its entry with x0 = 0.
#[test]
fn elf_without_dtb() {
    let out = Qemu::virt().boot(Boot::Elf).timeout(FATAL_WITHIN + Duration::from_secs(10)).run();
    assert_fatal(&out, "no device tree");
}

/// Unknown words are listed, malformed values of known parameters are
/// reported and their defaults kept (so a malformed `selftest=` still runs
/// the tests), and the boot passes.
#[test]
fn garbage_command_line() {
    let out = Qemu::virt().append("foo=bar mem=12Q loglevel=x cma=@@ junk selftest=bo..gus").run();
    out.assert_passed();
    out.assert_line_contains("Unknown kernel command line parameters", &["foo", "junk"]);
    for param in ["mem", "loglevel", "cma", "selftest"] {
        out.assert_contains(&format!("malformed value for '{param}'"));
    }
}
