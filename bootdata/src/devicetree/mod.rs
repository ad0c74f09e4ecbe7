//! The flattened device tree: validation, compaction, then what the kernel
//! needs from it.
//!
//! ```text
//!   blob from the loader ──► check_full ──► compact ──► parse ──► DtInfo
//!        (untrusted)          (refuse)      (no NOPs)   (fdt crate)
//! ```
//!
//! A blob from outside is checked in full before anything trusts it
//! ([`check_full`], in the manner of libfdt's fdt_check_full): header
//! fields, block bounds and alignment, the memory reservation map's
//! terminator, and one pass over the structure block (token sequence, node
//! nesting, property lengths, string offsets). Only a blob that passes is
//! handed to the `fdt` crate, so a corrupt or truncated tree gives a
//! one-line diagnosis ([`DtError`]) instead of a fault.
//!
//! The kernel then copies the blob into its own buffer without padding or
//! FDT_NOP tokens ([`compact`]), which works around `fdt` 0.1.5 losing the
//! nodes after a NOP (or asserting), and reads [`DtInfo`] from the copy
//! ([`parse`], which refuses a blob that still has NOPs).
//!
//! Files: `raw` (wire format, error type), `check` (the validator),
//! `compact`, `parse`, `console` (UARTs, aliases, the console choice), `gic`
//! (the interrupt controller, the timer's interrupts), `props` (cells,
//! strings, `reg` pairs, `ranges` translation, for `parse` and `gic`). Each
//! looks only at `raw` and `props` and, for `compact` and `parse`, at
//! `check`; `parse` also calls `console`, `cpus` and `gic`.

mod check;
mod compact;
mod console;
mod cpus;
mod gic;
mod parse;
mod props;
mod raw;

pub use check::{check_full, check_no_nops, header_total_size};
pub use compact::compact;
pub use console::{
    AliasError, Candidate, Candidates, ClockSource, ConsoleInfo, ConsoleNode, DEFAULT_BAUD, MAX_ALIAS_HOPS,
    MAX_CANDIDATES, MAX_UARTS, PI_FIRMWARE_UART_CLOCK_HZ, RefError, StdoutPath, Target, UartKind, UartNode, Via,
    console_candidates,
};
pub use cpus::{CpuSkip, LogicalCpus, MPIDR_HWID_MASK, logical_cpus};
pub use gic::{GicInfo, GicNode, GicVersion, MAX_REDIST_REGIONS, RegBlock, TimerIrqs, parse_gic};
pub use parse::{
    CpuNode, DtInfo, EnableMethod, MAX_CPUS, MAX_MEM_RANGES, MAX_RESERVED_NODES, MemRange, PsciMethod, RegIssue,
    RegProblem, ReservedNode, parse, parse_into, parse_uarts, parse_uarts_into,
};
pub use raw::{DtError, FDT_MAGIC, HEADER_SIZE, MAX_FDT_SIZE, header};
