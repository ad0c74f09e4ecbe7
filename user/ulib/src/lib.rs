//! ulib: the smallest runtime a static Linux arm64 program needs, for the
//! kernel's own user programs (user/programs) and for anyone who wants to
//! write one in Rust without libc.
//!
//! - `start`: the `_start` entry point. The kernel (ours, or Linux's
//!   binfmt_elf) enters EL0 with `sp` pointing at the initial stack laid
//!   out as the System V / Linux ABI says:
//!
//!   ```text
//!     sp ->  argc
//!            argv[0] .. argv[argc-1], NULL
//!            envp[0] .. envp[n-1],    NULL
//!            auxv: (type, value) pairs, ending with (AT_NULL, 0)
//!            ... the strings they point at, higher up ...
//!   ```
//!
//!   `_start` passes that `sp` to Rust, which reads the three vectors into
//!   an [`Args`] and calls the program's `main` (named with [`entry!`]); its
//!   return value goes to `exit_group`.
//! - `sys`: one wrapper per system call of the Linux arm64 ABI that the
//!   kernel implements (`svc #0`, number in x8, arguments in x0-x5, result
//!   in x0, `-errno` on failure), with the numbers of
//!   include/uapi/asm-generic/unistd.h, returning `Result<_, Errno>`.
//! - `print`: `print!`/`println!`/`eprintln!` into a line buffer written
//!   with one `write` per line, so the lines of concurrent processes do not
//!   interleave mid-line.
//! - `mem`: [`mem::Mapping`], an owning handle on an anonymous mapping whose
//!   memory is reached only by volatile loads and stores at offsets, so a
//!   program can touch memory whose protection it changes under itself
//!   (which is the point of a page-fault test) without Rust references.
//! - A panic prints `panicked at FILE:LINE: MESSAGE` on stderr and ends the
//!   process with `exit_group(101)`, as Rust's std does.
//!
//! It allocates nothing (no global allocator) and uses FP/SIMD freely: the
//! target is `aarch64-unknown-none` (hard-float), as every Linux binary is.
#![no_std]

pub mod errno;
pub mod mem;
pub mod print;
pub mod start;
pub mod sys;

pub use errno::Errno;
pub use start::Args;

/// Names the program's entry function: `fn main(args: &ulib::Args) -> i32`.
/// Its return value is the process's exit status.
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[unsafe(no_mangle)]
        extern "Rust" fn __ulib_main(args: &$crate::Args) -> i32 {
            let main: fn(&$crate::Args) -> i32 = $main;
            main(args)
        }
    };
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut w = print::LineWriter::new(sys::STDERR);
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("panicked at "));
    if let Some(loc) = info.location() {
        let _ = core::fmt::Write::write_fmt(&mut w, format_args!("{}:{}: ", loc.file(), loc.line()));
    }
    let _ = core::fmt::Write::write_fmt(&mut w, format_args!("{}\n", info.message()));
    drop(w);
    sys::exit_group(101)
}
