//! Exception plumbing: the vectors, the FP/SIMD trap, semihosting detection.

use super::harness::{Test, TestResult};
use crate::{check, check_eq, fail};
use arch::exception::esr_ec;

pub const TESTS: &[Test] = &[
    Test { suite: "exceptions", name: "vectors_installed", run: vectors_installed },
    Test { suite: "exceptions", name: "fp_simd_traps", run: fp_simd_traps },
    Test { suite: "exceptions", name: "semihosting_call_is_safe", run: semihosting_call_is_safe },
];

fn vectors_installed() -> TestResult {
    let vbar = arch::exception::vbar();
    check_eq!(vbar, arch::exception::vectors_address());
    check!(vbar.is_multiple_of(2048), "VBAR {vbar:#x} not 2 KiB aligned");
    Ok(())
}

/// The kernel never uses FP/SIMD (softfloat target) and leaves CPACR_EL1.FPEN
/// trapping, so an accidental use is an oops rather than silent corruption.
fn fp_simd_traps() -> TestResult {
    match arch::exception::probe_fp() {
        Ok(()) => fail!("an FP instruction ran at EL1: CPACR_EL1.FPEN does not trap"),
        Err(f) => check_eq!(esr_ec(f.esr), arch::exception::ec::FP_ASIMD),
    }
    Ok(())
}

/// A semihosting call never faults the kernel, host or no host.
fn semihosting_call_is_safe() -> TestResult {
    let before = arch::semihosting::available();
    arch::semihosting::write_bytes(b"");
    check_eq!(arch::semihosting::available(), before);
    Ok(())
}
