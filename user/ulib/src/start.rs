//! `_start`: from the initial stack the kernel lays out to the program's
//! `main`, and from its return value to `exit_group`.
//!
//! The entry conditions are Linux's for a static executable (the ELF
//! entry point, no dynamic linker): `sp` 16-byte aligned and pointing at
//! `argc`, every general register but `sp` undefined (Linux zeroes them,
//! and x0 is no atexit pointer for a static binary), FP/SIMD state zero.
//! The frame pointer and link register are cleared so that a backtrace
//! stops here.
use core::ffi::{CStr, c_char};

core::arch::global_asm!(
    ".section .text._start, \"ax\"",
    ".global _start",
    ".type _start, %function",
    "_start:",
    "    mov x29, #0",
    "    mov x30, #0",
    "    mov x0, sp",
    "    bl {start}",
    "    brk #0",
    ".size _start, . - _start",
    start = sym ulib_start,
);

/// Auxiliary vector entry types (include/uapi/linux/auxvec.h).
pub mod at {
    pub const NULL: usize = 0;
    pub const PHDR: usize = 3;
    pub const PHENT: usize = 4;
    pub const PHNUM: usize = 5;
    pub const PAGESZ: usize = 6;
    pub const ENTRY: usize = 9;
    pub const HWCAP: usize = 16;
    pub const RANDOM: usize = 25;
}

/// The program's arguments, environment and auxiliary vector, as the kernel
/// left them on the initial stack.
///
/// # Invariants
/// `argv` points at `argc` pointers to NUL-terminated strings followed by a
/// NULL; `envp` at such pointers up to a NULL; `auxv` at (type, value)
/// pairs up to an `AT_NULL` entry. All of it lies above the initial `sp`,
/// which no frame ever goes above, so it lives as long as the process.
pub struct Args {
    argc: usize,
    argv: *const *const c_char,
    envp: *const *const c_char,
    auxv: *const [usize; 2],
}

impl Args {
    /// The number of arguments, `argv[0]` included.
    pub fn argc(&self) -> usize {
        self.argc
    }

    /// `argv[i]` without its NUL, or `None` past the end.
    pub fn arg(&self, i: usize) -> Option<&'static [u8]> {
        if i >= self.argc {
            return None;
        }
        // SAFETY: i < argc, so argv[i] is one of the argc string pointers of
        // the invariant; the string lives as long as the process.
        Some(unsafe { CStr::from_ptr(*self.argv.add(i)) }.to_bytes())
    }

    /// `argv[i]` as text, or `None` past the end or if it is not UTF-8.
    pub fn arg_str(&self, i: usize) -> Option<&'static str> {
        self.arg(i).and_then(|b| core::str::from_utf8(b).ok())
    }

    /// The environment strings (`NAME=value`), in order.
    pub fn env(&self) -> impl Iterator<Item = &'static [u8]> {
        let mut p = self.envp;
        core::iter::from_fn(move || {
            // SAFETY: by the invariant, p points at an envp slot at or
            // before its terminating NULL (we stop there and never pass it).
            let s = unsafe { *p };
            if s.is_null() {
                return None;
            }
            // SAFETY: s is not the NULL terminator, so it is the next slot
            // and a valid string; the next slot exists (at worst the NULL).
            p = unsafe { p.add(1) };
            // SAFETY: s points at a NUL-terminated string (the invariant).
            Some(unsafe { CStr::from_ptr(s) }.to_bytes())
        })
    }

    /// The value of auxiliary vector entry `ty` (see [`at`]), if present.
    pub fn auxv(&self, ty: usize) -> Option<usize> {
        let mut p = self.auxv;
        loop {
            // SAFETY: p points at an auxv pair at or before AT_NULL (the
            // invariant; the loop stops there).
            let [t, v] = unsafe { *p };
            if t == at::NULL {
                return None;
            }
            if t == ty {
                return Some(v);
            }
            // SAFETY: this pair is not AT_NULL, so another one follows.
            p = unsafe { p.add(1) };
        }
    }
}

unsafe extern "Rust" {
    /// The program's `main`, defined by [`crate::entry!`].
    safe fn __ulib_main(args: &Args) -> i32;
}

/// Reads the initial stack at `sp` and runs the program.
extern "C" fn ulib_start(sp: *const usize) -> ! {
    // SAFETY: the kernel enters _start with sp at argc followed by the
    // vectors described on `Args`; _start passes that sp unchanged.
    let args = unsafe {
        let argc = *sp;
        let argv = sp.add(1) as *const *const c_char;
        let envp = argv.add(argc + 1);
        let mut e = envp;
        while !(*e).is_null() {
            e = e.add(1);
        }
        let auxv = e.add(1) as *const [usize; 2];
        Args { argc, argv, envp, auxv }
    };
    let status = __ulib_main(&args);
    crate::sys::exit_group(status)
}
