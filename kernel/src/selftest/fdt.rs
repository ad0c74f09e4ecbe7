//! The device tree this boot runs on: the kernel's compacted copy of the
//! loader's blob still passes the validator and parses to what the boot
//! used, with memory and a console. (Corrupt and edited blobs are the host
//! tests' business: bootdata's devicetree tests and fuzz run.)

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::{check, check_eq, fail};
use bootdata::devicetree::{DtInfo, check_full, parse_into};

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
    // Saturating: a tree may list ranges whose sizes add past 2^64 (the
    // fuzz campaign's, which overflowed this sum in the debug build).
    let total: u64 = dt.memory.iter().fold(0u64, |t, m| t.saturating_add(m.size));
    check!(total >= 16 << 20, "only {total} bytes of memory");
    // The console choice: any machine may have no usable UART, but then
    // every candidate was refused with its reason; a registered console is
    // never at 0 or inside RAM (those are refused).
    let Some(o) = crate::init::earlycon::outcome() else { fail!("the console was never chosen") };
    match o.console_pa {
        Some(pa) => {
            check!(pa != 0, "console at PA 0");
            let in_ram = dt.memory.iter().any(|m| pa >= m.base && pa - m.base < m.size);
            check!(!in_ram, "console at {pa:#x}, inside RAM");
            check!(o.refused < o.candidates, "{} of {} candidates refused, yet a console", o.refused, o.candidates);
        }
        None => check_eq!(o.refused, o.candidates),
    }
    // Parsed again into the heap: a DtInfo is 9 KiB, too much for the stack.
    let mut again = alloc::boxed::Box::write(alloc::boxed::Box::new_uninit(), DtInfo::new());
    check_eq!(parse_into(state::get().dtb, &mut again).map(|()| again.memory.len()), Ok(dt.memory.len()));
    Ok(())
}
