//! What the boot loader hands the kernel, parsed: the flattened device tree
//! and the kernel command line.
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
//!
//! The crate is `no_std` and allocates nothing: the kernel parses the tree
//! and the command line before it has a heap, so every list has a fixed
//! capacity (heapless), and running past one is reported, not fatal. It
//! knows no architecture: the kernel maps the blob, logs what it is told and
//! turns the PSCI method into a conduit. Errors are values (`DtError`,
//! `Diag`); nothing here panics on any input (the fuzz run checks that).
#![no_std]
#![deny(unsafe_code)]

pub mod cmdline;
pub mod devicetree;
pub mod fixedstr;
