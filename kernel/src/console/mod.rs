//! The console: the kernel log, and how a run ends.
//!
//! ```text
//!   pr_info!() ... ──► printk ──► LOG_BUF (before the UART is known)
//!                        │   └──► the console UART (PL011 or mini UART), once
//!                        │        init::earlycon registers it; dropped if it sticks
//!                        └─────► semihosting, if no console ever comes
//!   exception, panic ──► oops ──► emergency_write (never waits for LOG)
//!                        │   └──► kallsyms (names for the backtrace)
//!                        └─────► exit: the verdict over semihosting, else
//!                                power off / reset / park (exit.rs)
//! ```
//!
//! The bottom layer of the kernel crate: these files import only `arch`,
//! `boot` and each other (oops -> kallsyms, printk, exit; exit -> printk),
//! so every other file may log. The `pr_*!` macros are exported at the
//! crate root.
//!
//! Lock order: `printk::LOG` is the only lock, taken by every log line; the
//! oops and panic paths, which may run while it is held, do not take it.

pub mod exit;
#[allow(unsafe_code)] // reads the symbol table between two linker symbols
pub mod kallsyms;
#[allow(unsafe_code)] // walks the frame records of a failed CPU's stacks
pub mod oops;
#[allow(unsafe_code)] // breaks the log lock for the oops path
pub mod printk;
