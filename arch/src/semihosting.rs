//! Arm semihosting (Arm IHI 0056), detected at run time.
//!
//! A semihosting call is `HLT #0xF000` with the operation in x0 and a
//! parameter in x1. A debugger or QEMU's `-semihosting` services it. With
//! nothing attached, as on a Raspberry Pi 4 with no JTAG probe or under QEMU
//! without `-semihosting`, `HLT` is an undefined instruction. Every call goes
//! through the one `HLT` in [`__semihost_call`]; the exception vectors
//! recognise an undefined-instruction fault at exactly that address, mark
//! semihosting absent and return -1 from the call (see `exception.rs`). So a
//! call is always safe once the vectors are installed, and [`probe`] is just
//! the first call.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU8, Ordering};

global_asm!(
    ".section .text.semihost, \"ax\"",
    ".global __semihost_call",
    ".global __semihost_hlt",
    ".balign 4",
    "__semihost_call:",
    "__semihost_hlt:",
    "    hlt #0xf000",
    "    ret",
);

unsafe extern "C" {
    fn __semihost_call(op: u64, arg: u64) -> u64;
    static __semihost_hlt: u8;
}

const SYS_WRITE0: u64 = 0x04;
const SYS_ERRNO: u64 = 0x13;
const SYS_EXIT: u64 = 0x18;
const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;

const UNKNOWN: u8 = 0;
const PRESENT: u8 = 1;
const ABSENT: u8 = 2;
static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

/// Address of the `HLT` instruction, for the exception fixup.
pub fn hlt_address() -> u64 {
    core::ptr::addr_of!(__semihost_hlt) as u64
}

/// Called by the exception code when the `HLT` faulted as undefined.
pub(crate) fn mark_absent() {
    STATE.store(ABSENT, Ordering::Relaxed);
}

fn call(op: u64, arg: u64) -> u64 {
    if STATE.load(Ordering::Relaxed) == ABSENT {
        return u64::MAX;
    }
    // SAFETY: the HLT either is serviced by the host, reading only the
    // parameter block we pass, or faults and is skipped by the vector code
    // (which must be installed: callers run after exception::install).
    unsafe { __semihost_call(op, arg) }
}

/// Detect semihosting: one harmless call (SYS_ERRNO). Requires the exception
/// vectors to be installed.
pub fn probe() -> bool {
    if STATE.load(Ordering::Relaxed) == UNKNOWN {
        call(SYS_ERRNO, 0);
        if STATE.load(Ordering::Relaxed) == UNKNOWN {
            STATE.store(PRESENT, Ordering::Relaxed);
        }
    }
    available()
}

/// Whether semihosting was found by [`probe`].
pub fn available() -> bool {
    STATE.load(Ordering::Relaxed) == PRESENT
}

/// Write bytes to the host's console. Tried unless semihosting is known to
/// be absent: before `probe` the HLT itself is the probe (a bug fixed: an
/// exception before the probe could neither report nor exit).
pub fn write_bytes(bytes: &[u8]) {
    if STATE.load(Ordering::Relaxed) == ABSENT {
        return;
    }
    // SYS_WRITE0 takes a NUL-terminated string: send chunks through a buffer.
    let mut buf = [0u8; 129];
    for chunk in bytes.chunks(128) {
        let mut n = 0;
        for &b in chunk {
            if b != 0 {
                buf[n] = b;
                n += 1;
            }
        }
        buf[n] = 0;
        call(SYS_WRITE0, buf.as_ptr() as u64);
    }
}

/// Ask the host to end the run with `code`. Returns only if semihosting is
/// absent (tried even before `probe`, as `write_bytes`).
pub fn exit(code: u32) {
    if STATE.load(Ordering::Relaxed) == ABSENT {
        return;
    }
    let block: [u64; 2] = [ADP_STOPPED_APPLICATION_EXIT, code as u64];
    call(SYS_EXIT, block.as_ptr() as u64);
}
