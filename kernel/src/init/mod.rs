//! Boot-time facts: what the loader and firmware told the kernel, and the
//! glue that gets it into the kernel's hands.
//!
//! ```text
//!   x0 = DTB PA ──► fdt::map (fixmap, header, check_full) ──► fdt::unflatten
//!                    (compact into a kernel buffer, parse)  ──► DtInfo
//!   /chosen/bootargs ──► cmdline::setup (parse, log, refuse) ──► Params
//!   DtInfo + Params ──► earlycon (the console candidates, tried in order),
//!                       reboot (how a run ends), platform (log it)
//!   dt.initrd ──► initramfs (once kmalloc is up: unpack, index, keep)
//!   everything ──► state: BootState, set once, read by the self-tests
//! ```
//!
//! The parsers themselves live in the `bootdata` crate, where they are
//! unit-tested and fuzzed on the host; these files only map, log and keep.
//! Below this folder: `console` and `memory::pgtable` (the fixmap). Above it:
//! `smp`, the self-tests, the benchmarks and `main.rs`. `state` imports
//! nothing of the kernel's, so any file above may read the boot's facts;
//! the memory wiring is handed what it needs as arguments instead.

pub mod cmdline;
#[allow(unsafe_code)] // the console UARTs' registers through the fixmap
pub mod earlycon;
#[allow(unsafe_code)] // reads the blob through the fixmap; the kernel's buffer
pub mod fdt;
#[allow(unsafe_code)] // the initrd's bytes through the linear map
pub mod initramfs;
pub mod platform;
#[allow(unsafe_code)] // the PM watchdog's registers through the fixmap
pub mod reboot;
pub mod state;
