//! The user programs built into the kernel image: the static AArch64 ELF
//! executables of user/programs (the `fault` suite and the small examples),
//! which scripts/build.sh builds for `aarch64-unknown-none` before the
//! kernel and copies, stripped of debug info, to target/user/<name>, listing
//! them in target/user/programs.txt. kernel/build.rs turns that list into
//! one `include_bytes!` per program, each in a `#[repr(align(16))]` static
//! so that ELF headers (8-byte fields) can be read in place, and the table
//! below. An initramfs brings further programs at run time; these need no
//! loader support.

include!(concat!(env!("OUT_DIR"), "/user_programs.rs"));

/// The alignment every program's bytes start at.
pub const ALIGN_BYTES: usize = 16;

/// The embedded program called `name` (`fault`, `hello`, ...; a leading
/// `/` is ignored, so `rdinit=/fault` finds it too).
pub fn find(name: &str) -> Option<&'static [u8]> {
    let name = name.strip_prefix('/').unwrap_or(name);
    PROGRAMS.iter().find(|(n, _)| *n == name).map(|(_, elf)| *elf)
}
