//! What the boot loader hands the kernel, parsed: the flattened device tree
//! and the kernel command line; and what the console's user types (the
//! shell's line editor and command parser).
//!
//! Both come from outside the kernel and are trusted with nothing until
//! checked. This crate holds the parsers so that they build and run on the
//! host, where they are unit-tested against good and malformed input (blobs
//! dumped from QEMU and compiled from `dts/`, blobs built in the tests) and
//! fuzzed with a bounded, seeded run (`cargo test -p bootdata --release fuzz`).
//!
//! | module       | what                                                        |
//! |--------------|-------------------------------------------------------------|
//! | `devicetree` | `check_full` (the validator), `compact`, `parse` -> `DtInfo` |
//! | `cmdline`    | `parse` -> `Params` and `Diags` (Linux's early-param rules)  |
//! | `fixedstr`   | fixed-capacity string copies                                |
//! | `initramfs`  | `unpack` -> `Rootfs` (cpio newc/crc, gzip, DEFLATE)         |
//! | `elf`        | `parse` -> `ElfImage` (static AArch64 executables)          |
//! | `shell`      | `LineEditor`, `parse` -> `Command` (the console's input)    |
//!
//! The device-tree and command-line parsers allocate nothing: the kernel
//! runs them before it has a heap, so every list has a fixed capacity
//! (heapless), and running past one is reported, not fatal. The initramfs
//! and ELF parsers run once kmalloc is up and use `alloc`: the large
//! buffers (decoded archives) grow with `try_reserve` under a caller's
//! limit, so a hostile size is an error value, not an allocation panic. It
//! knows no architecture: the kernel maps the blob, logs what it is told and
//! turns the PSCI method into a conduit. Errors are values (`DtError`,
//! `Diag`, `initramfs::Error`, `elf::ExecError`); nothing here panics on
//! any input (the fuzz runs, `fuzz.rs` and `fuzz_initramfs.rs`, check that).
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod cmdline;
pub mod devicetree;
pub mod elf;
pub mod fixedstr;
pub mod initramfs;
pub mod shell;
