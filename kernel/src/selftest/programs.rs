//! The user programs embedded by the build: present, aligned, and static
//! AArch64 executables (the ELF header fields a loader checks first).

use super::harness::{Test, TestResult};
use crate::process::programs::{ALIGN_BYTES, PROGRAMS, find};
use crate::{check, check_eq};

pub const TESTS: &[Test] = &[Test { suite: "programs", name: "embedded_elf", run: embedded_elf }];

/// The programs user/programs builds; the `fault` and `userload` suites
/// need them.
const EXPECTED: &[&str] = &["fault", "hello", "exit-status", "poweroff", "memtouch"];

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn embedded_elf() -> TestResult {
    for name in EXPECTED {
        check!(find(name).is_some(), "program {name} is not embedded (was scripts/build.sh run?)");
    }
    check!(find("/fault").is_some(), "find(\"/fault\") does not find fault");
    check!(find("no-such-program").is_none(), "find() found a program that does not exist");
    for (name, elf) in PROGRAMS {
        check!(
            elf.as_ptr().addr().is_multiple_of(ALIGN_BYTES),
            "{name}: bytes at {:p}, not {ALIGN_BYTES}-aligned",
            elf.as_ptr()
        );
        check!(elf.len() >= 64, "{name}: {} bytes, shorter than an ELF header", elf.len());
        check_eq!(elf[..4], *b"\x7fELF");
        check_eq!((elf[4], elf[5]), (2, 1)); // ELFCLASS64, ELFDATA2LSB
        check_eq!(u16_at(elf, 16), 2); // ET_EXEC: static, not PIE
        check_eq!(u16_at(elf, 18), 183); // EM_AARCH64
        check!(u16_at(elf, 56) > 0, "{name}: no program headers");
    }
    Ok(())
}
