//! The device tree this boot runs on: the kernel's compacted copy of the
//! loader's blob still passes the validator and parses to what the boot
//! used, with memory and a console. (Corrupt and edited blobs are the host
//! tests' business: bootdata's devicetree tests and fuzz run.)

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::{check, check_eq, fail};
use bootdata::devicetree::{check_full, parse};

pub const TESTS: &[Test] = &[
    Test { suite: "fdt", name: "live_blob_is_valid", run: live_blob_is_valid },
    Test { suite: "fdt", name: "memory_and_console_found", run: memory_and_console_found },
];

fn live_blob_is_valid() -> TestResult {
    check!(check_full(state::get().dtb).is_ok(), "the live blob fails check_full");
    Ok(())
}

fn memory_and_console_found() -> TestResult {
    let dt = &state::get().dt;
    check!(!dt.memory.is_empty(), "no memory ranges");
    let total: u64 = dt.memory.iter().map(|m| m.size).sum();
    check!(total >= 16 << 20, "only {total} bytes of memory");
    match crate::init::earlycon::uarts().and_then(|u| u.console()) {
        Some(c) => check!(c.pa != 0, "console at PA 0"),
        None => fail!("no console found in the device tree"),
    }
    check_eq!(parse(state::get().dtb).map(|d| d.memory.len()), Ok(dt.memory.len()));
    Ok(())
}
