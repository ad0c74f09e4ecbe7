//! The kernel: wiring from the head's hand-over to the self-tests' verdict.
//!
//! ```text
//!   kernel_main(&BootInfo)                       [upper half, TTBR0 empty]
//!     exception handler, semihosting probe
//!     paging::init          adopt the head's TTBR1 tree
//!     device tree           fixmap the blob, check_full, parse
//!     console               fixmap the PL011 from stdout-path; replay the log
//!     command line          /chosen/bootargs
//!     setup::memblock_init  memblock from the tree, linear map, early heap
//!     report                reservations by source, memblock arrays
//!     selftest              per subsystem; `selftest: N passed, M failed`
//!     exit                  semihosting exit code (0 pass, 1 fail, 2 fatal, 3 panic, 4 oops)
//! ```
//!
//! Nothing here trusts its input: a missing or corrupt device tree or a tree
//! without memory ends the run with a one-line diagnosis and exit code 2; a
//! bad command line is reported and the boot goes on with defaults.
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]

extern crate alloc;

mod bench;
mod cmdline;
mod devicetree;
mod fixedstr;
mod hal;
mod heap;
mod kallsyms;
mod layout;
mod lkdtm;
mod numa;
mod oops;
mod page_alloc;
mod paging;
mod printk;
mod selftest;
mod setup;
mod slab;
mod smp;
mod state;
mod vmemmap;
mod zones;

use boot::BootInfo;
use mm::pgtable::PageProt;
use oops::exit_code;

/// Stop the boot with a diagnosis.
fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    pr_emerg!("Kernel panic - not syncing: {}", args);
    oops::exit(exit_code::FATAL)
}

/// Map the device tree through the fixmap and check it (Linux's fixmap_remap_fdt).
fn map_fdt(dtb_pa: u64) -> &'static [u8] {
    if dtb_pa == 0 {
        fatal(format_args!(
            "no device tree: x0 was 0 at entry. Boot the arm64 Image (QEMU passes the DTB in x0 only to an Image, not to an ELF)"
        ));
    }
    if !dtb_pa.is_multiple_of(8) {
        fatal(format_args!("invalid device tree blob at PA {dtb_pa:#x}: not 8-byte aligned"));
    }
    let head = match paging::fixmap_remap(layout::FIX_FDT, dtb_pa, 64, PageProt::KERNEL_RO) {
        Ok(va) => va,
        Err(e) => fatal(format_args!("invalid device tree blob at PA {dtb_pa:#x}: cannot map it: {e}")),
    };
    // SAFETY: the fixmap maps at least the 64 bytes from `head` read-only.
    let header = unsafe { core::slice::from_raw_parts(head.as_u64() as *const u8, 64) };
    let total = match devicetree::header_total_size(header) {
        Ok(t) => t,
        Err(e) => fatal(format_args!("invalid device tree blob at PA {dtb_pa:#x}: {e}")),
    };
    let va = match paging::fixmap_remap(layout::FIX_FDT, dtb_pa, total as u64, PageProt::KERNEL_RO) {
        Ok(va) => va,
        Err(e) => fatal(format_args!("invalid device tree blob at PA {dtb_pa:#x}: cannot map {total} bytes: {e}")),
    };
    // SAFETY: the fixmap now maps all `total` bytes read-only, for good.
    let blob = unsafe { core::slice::from_raw_parts(va.as_u64() as *const u8, total) };
    if let Err(e) = devicetree::check_full(blob) {
        fatal(format_args!("invalid device tree blob at PA {dtb_pa:#x}: {e}"));
    }
    blob
}

/// The kernel's copy of the device tree (see `devicetree::compact`).
const FDT_BUF_SIZE: usize = 256 * 1024;

fn fdt_buffer() -> &'static mut [u8] {
    static mut FDT_BUF: [u8; FDT_BUF_SIZE] = [0; FDT_BUF_SIZE];
    static TAKEN: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);
    assert!(!TAKEN.swap(true, core::sync::atomic::Ordering::SeqCst), "fdt_buffer taken twice");
    // SAFETY: the flag above lets this run once, so the returned reference is
    // the only one ever made to FDT_BUF.
    unsafe { &mut *core::ptr::addr_of_mut!(FDT_BUF) }
}

fn start_console(dt: &devicetree::DtInfo) {
    let Some(con) = &dt.console else {
        pr_warn!(
            "console: no PL011 found (/chosen/stdout-path or compatible \"arm,pl011\"); using semihosting if present"
        );
        return;
    };
    match paging::fixmap_remap(layout::FIX_EARLYCON, con.pa, 0x1000, PageProt::KERNEL_DEVICE) {
        Ok(va) => {
            static UART: spin::Once<arch::uart::Pl011> = spin::Once::new();
            // SAFETY: `va` maps the PL011's 4 KiB register frame as device
            // memory in the fixmap, which is never unmapped.
            let uart = UART.call_once(|| unsafe { arch::uart::Pl011::new(va.as_u64()) });
            printk::register_console(uart);
            pr_info!("printk: console [{}] enabled (pl011 at MMIO {:#x})", con.path, con.pa);
        }
        Err(e) => pr_warn!("console: cannot map the PL011 at {:#x}: {}", con.pa, e),
    }
}

#[unsafe(no_mangle)]
extern "C" fn kernel_main(info: &BootInfo) -> ! {
    let info = *info;
    arch::exception::set_handler(oops::handle_trap);
    arch::exception::install();
    let semihosting = arch::semihosting::probe();
    paging::init(&info);
    smp::init_boot_cpu();

    pr_info!(
        "Booting mm-kernel on physical CPU {:#012x} [{:#010x}] ({})",
        arch::cpu::mpidr(),
        arch::cpu::midr(),
        arch::cpu::model_name()
    );
    pr_notice!(
        "mm-kernel version {} (rustc, {}-bit VA, 4 KiB pages) entered at EL{}",
        env!("CARGO_PKG_VERSION"),
        arch::mmu::VA_BITS,
        info.boot_el
    );

    let raw = map_fdt(info.dtb_pa);
    let blob = match devicetree::compact(raw, fdt_buffer()) {
        Ok(b) => b,
        Err(e) => fatal(format_args!("invalid device tree blob at PA {:#x}: {e}", info.dtb_pa)),
    };
    let dt = match devicetree::parse(blob) {
        Ok(dt) => dt,
        Err(e) => fatal(format_args!("invalid device tree blob at PA {:#x}: {e}", info.dtb_pa)),
    };
    start_console(&dt);
    if !dt.model.is_empty() {
        pr_info!("Machine model: {}", dt.model);
    }
    pr_info!("semihosting: {}", if semihosting { "present (exit code and early output)" } else { "absent" });
    if info.boot_args.iter().any(|&a| a != 0) {
        pr_warn!(
            "WARNING: x1-x3 nonzero in violation of boot protocol: x1: {:016x} x2: {:016x} x3: {:016x}",
            info.boot_args[0],
            info.boot_args[1],
            info.boot_args[2]
        );
    }
    for w in &dt.warnings {
        pr_warn!("devicetree: {}", w);
    }

    pr_notice!("Kernel command line: {}", dt.bootargs);
    let (params, diags) = cmdline::parse(&dt.bootargs);
    printk::set_console_loglevel(params.loglevel.min(15));
    for d in &diags.list {
        pr_warn!("{}", d);
    }
    if !diags.unknown.is_empty() {
        pr_warn!("{}", cmdline::UnknownLine(&diags.unknown));
    }
    if let Some(c) = params.cma {
        pr_info!(
            "cma: command line asks for {} MiB{} (recorded; CMA itself arrives in a later issue)",
            c.size_bytes >> 20,
            match (c.base, c.limit) {
                (Some(_), Some(_)) => " at a fixed range",
                (Some(_), None) => " at a fixed base",
                _ => "",
            }
        );
    }

    let dtb = (info.dtb_pa, raw.len() as u64);
    let layout = match setup::memblock_init(&info, &dt, dtb, &params) {
        Ok(l) => l,
        Err(e) => fatal(format_args!("{e}")),
    };
    // SAFETY: memblock reserved the heap range for the heap alone and the
    // linear map covers it read-write; init runs once.
    unsafe { heap::init(layout.heap.0, layout.heap.1) };
    paging::enable_memblock_tables();
    state::init(info, blob, raw.len() as u64, dt, params);
    numa::init_from_memblock();
    let zone_limits = {
        let mb = setup::MEMBLOCK.lock();
        let z = zones::compute(&mb, state::get().dt.dma_max_cpu_addr, &state::get().params);
        zones::print(&mb, &z);
        z
    };
    let memmap = match vmemmap::populate() {
        Ok(m) => m,
        Err(e) => fatal(format_args!("cannot map the vmemmap: {e}")),
    };
    pr_info!(
        "vmemmap: {} section(s) of {} MiB, {} KiB of page descriptors ({} bytes per {} KiB page)",
        memmap.sections,
        1 << (vmemmap::SECTION_SIZE_BITS - 20),
        (memmap.sections * vmemmap::PAGES_PER_SECTION * vmemmap::STRUCT_PAGE_SIZE) >> 10,
        vmemmap::STRUCT_PAGE_SIZE,
        mm::PAGE_SIZE >> 10
    );
    state::set_zone_limits(zone_limits, memmap.base);

    setup::report();
    layout::print();
    state::log_platform();
    smp::smp_init(&state::get().dt);
    let (limits, vmemmap_base) = state::zone_limits().expect("zone limits set above");
    match page_alloc::init(limits, *vmemmap_base, &state::get().params) {
        Ok(cost) => {
            let cma_reserved = setup::cma_reserved_pages();
            page_alloc::print_memory_line(cma_reserved);
            page_alloc::print_init_cost(&cost);
        }
        Err(e) => fatal(format_args!("cannot bring up the page allocator: {e}")),
    }
    if let Err(e) = slab::init(&state::get().params) {
        fatal(format_args!("cannot bring up SLUB: {e}"));
    }

    let (passed, failed) = selftest::run(&state::get().params.selftest);
    bench::run(state::get().params.bench);
    if let Some(l) = state::get().params.lkdtm {
        lkdtm::trigger(l);
    }
    if state::get().params.mminfo {
        state::mminfo();
    } else if passed + failed > 0 {
        state::short_reports();
    }
    match (passed, failed) {
        (0, 0) => {
            printk::log_bare(format_args!("selftest: skipped"));
            oops::exit(exit_code::PASS)
        }
        (_, 0) => oops::exit(exit_code::PASS),
        _ => oops::exit(exit_code::SELFTEST_FAILED),
    }
}
