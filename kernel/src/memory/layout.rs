//! The kernel's virtual address layout (48-bit VAs, 4 KiB pages), following
//! Linux arm64's Documentation/arch/arm64/memory.rst.
//!
//! ```text
//!   0x0000_0000_0000_0000 - 0x0000_ffff_ffff_ffff  256 TiB  user (TTBR0; empty table for now)
//!   0xffff_0000_0000_0000 - 0xffff_7fff_ffff_ffff  128 TiB  linear map of all RAM (PAGE_OFFSET)
//!   0xffff_8000_0000_0000 - 0xffff_8000_7fff_ffff    2 GiB  modules (reserved)
//!   0xffff_8000_8000_0000 - 0xffff_8000_bfff_ffff    1 GiB  kernel image (KIMAGE_VADDR)
//!   0xffff_8000_c000_0000 - 0xffff_fbff_efff_ffff  ~124 TiB vmalloc (a later issue); its first
//!                                                           1 MiB holds the secondary CPUs' stacks
//!   0xffff_fbff_f000_0000 - 0xffff_fbff_fdff_ffff  224 MiB  fixmap
//!   0xffff_fbff_fe80_0000 - 0xffff_fbff_ff7f_ffff   16 MiB  PCI I/O (reserved)
//!   0xffff_fc00_0000_0000 - 0xffff_fdff_ffff_ffff    2 TiB  vmemmap (a later issue)
//!   0xffff_fe00_0000_0000 - 0xffff_ffff_ffff_ffff    2 TiB  guard
//! ```

/// Start of the linear map.
pub const PAGE_OFFSET: u64 = 0xffff_0000_0000_0000;
/// End (exclusive) of the linear map.
pub const PAGE_END: u64 = 0xffff_8000_0000_0000;
/// Modules area (reserved).
pub const MODULES_VADDR: u64 = 0xffff_8000_0000_0000;
/// Where the kernel image is linked (linker.ld).
pub const KIMAGE_VADDR: u64 = 0xffff_8000_8000_0000;
/// Start of the vmalloc area.
pub const VMALLOC_START: u64 = 0xffff_8000_c000_0000;
/// End of the vmalloc area.
pub const VMALLOC_END: u64 = 0xffff_fbff_f000_0000;
/// Start of the fixmap.
pub const FIXADDR_START: u64 = 0xffff_fbff_f000_0000;
/// End of the fixmap.
pub const FIXADDR_TOP: u64 = 0xffff_fbff_fe00_0000;
/// PCI I/O window (reserved).
pub const PCI_IO_START: u64 = 0xffff_fbff_fe80_0000;
/// Start of the vmemmap.
pub const VMEMMAP_START: u64 = 0xffff_fc00_0000_0000;
/// End of the vmemmap.
pub const VMEMMAP_END: u64 = 0xffff_fe00_0000_0000;

/// Fixmap slot for the device tree: MAX_FDT_SIZE plus a page for a blob that
/// does not start on a page boundary.
pub const FIX_FDT: u64 = FIXADDR_START;
/// Fixmap slot for the early console's registers.
pub const FIX_EARLYCON: u64 = FIXADDR_START + 0x40_0000;
/// Fixmap slot for a mini UART's AUX block when it is not on the UART's page.
pub const FIX_EARLYCON_AUX: u64 = FIXADDR_START + 0x50_0000;
/// Fixmap slot for the power-off/reset device (the BCM2835 PM watchdog).
pub const FIX_POWEROFF: u64 = FIXADDR_START + 0x50_1000;
/// Fixmap slot for probing one page of physical memory (`memory::probe`):
/// the last page of the early console's table, so it needs no table page.
pub const FIX_MEM_PROBE: u64 = FIXADDR_START + 0x5f_f000;
/// Fixmap slots for spin-table release addresses outside the linear map
/// (NOMAP memory): one page per logical CPU, `FIX_SPIN_TABLE + cpu *
/// PAGE_SIZE`, mapped for the release write and unmapped after it.
pub const FIX_SPIN_TABLE: u64 = FIXADDR_START + 0x80_0000;
/// End of the spin-table slots.
pub const FIX_SPIN_TABLE_END: u64 = FIX_SPIN_TABLE + mm::config::NR_CPUS as u64 * mm::PAGE_SIZE;

/// Secondary CPUs' stacks: the start of the vmalloc area, one slot of four
/// stack sizes (64 KiB) per CPU, [unmapped][guard][stack][unmapped]
/// (`smp::stack`); NR_CPUS slots take 1 MiB.
pub const CPU_STACKS_START: u64 = VMALLOC_START;
/// Scratch pages for the page-table self-tests, after the CPU stacks.
pub const SELFTEST_SCRATCH: u64 = VMALLOC_START + 0x80_0000;

/// Linear-map alignment of the start of RAM (Linux's ARM64_MEMSTART_ALIGN).
pub const MEMSTART_ALIGN: u64 = 1 << 30;

/// Print the layout at boot, as Linux once did ("Virtual kernel memory layout").
pub fn print() {
    let r = |name: &str, start: u64, end: u64| {
        crate::pr_info!("    {:<9}: 0x{:016x} - 0x{:016x}   ({:>9} MiB)", name, start, end, (end - start) >> 20);
    };
    crate::pr_info!("Virtual kernel memory layout:");
    r("linear", PAGE_OFFSET, PAGE_END);
    r("modules", MODULES_VADDR, KIMAGE_VADDR);
    r("kimage", KIMAGE_VADDR, VMALLOC_START);
    r("vmalloc", VMALLOC_START, VMALLOC_END);
    r("fixmap", FIXADDR_START, FIXADDR_TOP);
    r("PCI I/O", PCI_IO_START, PCI_IO_START + (16 << 20));
    r("vmemmap", VMEMMAP_START, VMEMMAP_END);
}
