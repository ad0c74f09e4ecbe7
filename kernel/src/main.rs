//! The kernel: wiring from the head's hand-over to the self-tests' verdict.
//!
//! ```text
//!   kernel_main(&BootInfo)                       [upper half, TTBR0 empty]
//!     exception handler, semihosting probe
//!     pgtable::init         adopt the head's TTBR1 tree
//!     device tree           fixmap the blob, check_full, compact, parse
//!     command line          /chosen/bootargs, parsed (console=, earlycon=)
//!     console               the candidates in order (command line, stdout-
//!                           path, the first okay UART): checked, fixmapped,
//!                           probed, initialised; replay the log
//!     reboot                PSCI or the PM watchdog, for the end of a run
//!                           without semihosting; a command-line name that
//!                           does not exist stops here (exit 5)
//!     memblock_init         memblock from the tree, linear map, early heap
//!     zones, vmemmap        zone boundaries; page descriptors mapped
//!     report                reservations by source, memblock arrays
//!     setup_per_cpu_areas   possible CPUs counted; one unit each, the
//!                           boot CPU moves onto its own
//!     page allocator        from memblock, which retires
//!     SLUB                  kmalloc; the Rust heap moves onto it
//!     vmalloc               the vmap area trees; the console and the PM
//!                           watchdog move from the fixmap to ioremap
//!     initramfs             the loader's initrd unpacked and indexed
//!                           (`Trying to unpack rootfs image as initramfs...`)
//!     irq::init             the GIC (ioremap), the boot CPU's timer tick
//!                           at HZ and IPIs; IRQs unmasked
//!     sched                 kernel_main becomes swapper/0, the boot CPU's
//!                           idle task (it can sleep and be switched away)
//!     smp_init              the other CPUs, one at a time, on vmalloc'd
//!                           stacks; each brings up its own GIC interface
//!                           and tick, then unmasks IRQs, and becomes its
//!                           idle task swapper/N
//!     ASIDs                 the allocator's width; TCR_EL1.AS on every CPU
//!     W^X check             `Checked W+X mappings: ...` (ptdump_check_wx)
//!     selftest              per subsystem; `selftest: N passed, M failed`
//!     ptdump                the kernel page tables, if asked for
//!     bench, lkdtm          if asked for
//!     shell                 with `shell`: the mm console on the console
//!                           UART until its `poweroff` (shell/)
//!     exit                  semihosting exit code (console::exit::ExitCode:
//!                           0 pass, 1 fail, 2 fatal, 3 panic, 4 oops,
//!                           5 the command line names what does not exist);
//!                           without a host: power off, reset or park
//!                           (reboot=, panic=)
//! ```
//!
//! Nothing here trusts its input: a missing or corrupt device tree or a tree
//! without memory ends the run with a one-line diagnosis and exit code 2; a
//! malformed command line is reported and the boot goes on with defaults.
//!
//! # Layout
//!
//! Folders by subsystem, each opening with its own essay; files import only
//! downwards, never in a cycle:
//!
//! ```text
//!   main.rs      this file: the init order
//!   shell/       the mm console (`shell`): procfs-style files, allocator
//!                handles, programs, self-tests and benchmarks on demand
//!   selftest/    in-kernel self-tests and lkdtm      bench/   benchmarks
//!   process/     user processes: exec, fork, the EL0 trap handler,
//!                system calls, wait4, kill, the OOM killer
//!   sched/       tasks, run queues, context switch, wait queues, FP/SIMD
//!   smp/         secondary CPUs, on_each_cpu
//!   irq/         the GIC, the IRQ entry, the tick (jiffies), IPIs
//!   init/        boot-time facts: device tree, command line, BootState
//!   memory/      the mm crate wired up: page tables ... zones, page
//!                allocator, SLUB, the heap, the reports
//!   console/     printk, oops and panic, kallsyms, exit codes
//! ```
//!
//! # Unsafe code
//!
//! The crate denies `unsafe_code`; only these modules allow it (the
//! `#[allow]` sits on their `mod` line, with the same reason), and every
//! `unsafe` block in them carries a `// SAFETY:` comment:
//!
//! - `kernel_main` (this file, the item alone): `no_mangle`, the head
//!   branches to it by name.
//! - `console::printk`: breaks the log lock for the oops path.
//! - `console::kallsyms`: reads the symbol table between two linker symbols.
//! - `console::oops`: walks the frame records of a failed CPU's stacks.
//! - `init::fdt`: reads the blob through the fixmap; the kernel's buffer.
//! - `init::earlycon`: the console UARTs' registers through the fixmap.
//! - `init::reboot`: the PM watchdog's registers through the fixmap.
//! - `init::initramfs`: the initrd's bytes through the linear map.
//! - `memory::pgtable`: table memory for the page-table walker (`PgtableMem`).
//! - `memory::memblock`: memblock's grown arrays, through the linear map.
//! - `memory::probe`: one page of physical memory through the fixmap, read
//!   with the fault probe (is there RAM behind a /memory range?).
//! - `memory::hal`: mm's `unsafe trait Hal` for this kernel; zeroing frames.
//! - `memory::page_alloc`: the vmemmap as `MemMap`.
//! - `memory::percpu`: the per-CPU units (template copies, zeroed objects,
//!   `PerCpu<T>`).
//! - `memory::pages`: the `Pages` handle and the frees by address or PFN.
//! - `memory::slab`: `kfree` of a raw pointer; mempool callbacks.
//! - `memory::kbox`: the owning kmalloc handles, `KBox` and `KmallocBuf`.
//! - `memory::heap`: the `#[global_allocator]`.
//! - `memory::context`: TTBR0 and TCR_EL1.AS writes (the reserved table,
//!   a user table with its ASID).
//! - `irq::mmio`: the GIC's ioremapped windows handed to arch as `Mmio`;
//!   `irq::stack`: the switch to the per-CPU IRQ stack.
//! - `smp::bringup`: `__secondary_data`, the spin table, PSCI CPU_ON.
//! - `sched::{task, switch, fpsimd}`: the task's saved-register cell, the
//!   register switch, the raw `Arc` pointers of `current`, a new stack's
//!   paint.
//! - `selftest::{heap, mmu, pages, percpu, slub}`: tests that reach memory through
//!   raw pointers on purpose (the heap's GlobalAlloc, faulting probes, block
//!   contents, red zones and freed objects); `selftest::lkdtm`: a NULL
//!   dereference on purpose.
//! - `bench::pages`, `bench::slab`: the raw-pointer APIs of the allocators
//!   compared (PFNs, the peer heaps).
//! - `shell::objects`: `kmem_cache_free` and `kmem_cache_destroy` of the
//!   console's own slab objects and caches.
//!
//! Everything else is safe code over arch's and mm's safe APIs and the
//! owning handles above (`Pages`, `PagesExact`, `KBox`, `KmallocBuf`,
//! `EarlyHeapRegion`).
#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]

extern crate alloc;

mod bench;
mod console;
mod init;
mod irq;
mod memory;
mod process;
mod sched;
mod selftest;
mod shell;
mod smp;

use boot::BootInfo;
use console::exit::{exit_verdict, fatal};
use init::{cmdline, earlycon, fdt, platform, reboot, state};
use memory::{heap, memblock, numa, page_alloc, pgtable, report, slab, vmalloc, vmemmap};

#[allow(unsafe_code)] // no_mangle: the head branches to kernel_main by name
#[unsafe(no_mangle)]
extern "C" fn kernel_main(info: &BootInfo) -> ! {
    let info = *info;
    arch::exception::set_handler(console::oops::handle_trap);
    arch::exception::install();
    let semihosting = arch::semihosting::probe();
    pgtable::init(&info);
    smp::bringup::init_boot_cpu();
    platform::print_banner(&info);

    let raw = fdt::map(info.dtb_pa).unwrap_or_else(|e| fatal(format_args!("{e}")));
    let (blob, dt) = fdt::unflatten(raw, info.dtb_pa).unwrap_or_else(|e| fatal(format_args!("{e}")));
    let (mut params, names_exist) = cmdline::setup(&dt.bootargs);
    // Linux's arm64_numa_init: a tree whose NUMA description is invalid
    // falls back to one dummy node.
    params.numa_off |= dt.distance_map_error.is_some();
    earlycon::start(blob, dt, &params);
    reboot::init(dt, &params);
    platform::print_machine(dt, &info, semihosting);
    if !(names_exist & selftest::names_exist(&params.selftest)) {
        cmdline::refuse();
    }

    let dtb = (info.dtb_pa, raw.len() as u64);
    let layout = memblock::memblock_init(&info, dt, dtb, &params).unwrap_or_else(|e| fatal(format_args!("{e}")));
    heap::init(layout.heap);
    memblock::enable_table_pages();
    state::init(info, blob, raw.len() as u64, dt, params);
    let (dt, params) = (&state::get().dt, &state::get().params);
    numa::init_from_memblock(params.numa_off || dt.memory.iter().all(|r| r.nid.is_none()));
    let zone_limits = {
        let mb = memblock::MEMBLOCK.lock();
        let z = memory::zones::compute(&mb, dt.dma_max_cpu_addr, params);
        memory::zones::print(&mb, &z);
        z
    };
    memblock::dma_contiguous_reserve(params, memory::cma::dma_phys_limit(&zone_limits));
    let memmap = vmemmap::populate().unwrap_or_else(|e| fatal(format_args!("cannot map the vmemmap: {e}")));
    vmemmap::print(&memmap);

    memblock::report();
    memory::layout::print();
    platform::log_platform(dt);
    let nr_possible = smp::bringup::smp_init_cpus(dt);
    if let Err(e) = memory::percpu::setup_per_cpu_areas(nr_possible) {
        fatal(format_args!("cannot allocate the per-CPU areas: {e}"));
    }
    match page_alloc::init(zone_limits, memmap.base, params, dt) {
        Ok(cost) => {
            page_alloc::print_memory_line(memory::cma::totalcma_pages());
            page_alloc::print_init_cost(&cost);
        }
        Err(e) => fatal(format_args!("cannot bring up the page allocator: {e}")),
    }
    if let Err(e) = slab::init(params, dt) {
        fatal(format_args!("cannot bring up SLUB: {e}"));
    }
    heap::switch_to_kmalloc();
    // Linux's cma_init_reserved_areas (a core_initcall): after the buddy
    // allocator and kmalloc, the areas' pageblocks become MIGRATE_CMA.
    memory::cma::cma_init_reserved_areas();
    if let Err(e) = vmalloc::init() {
        fatal(format_args!("cannot bring up vmalloc: {e}"));
    }
    init::initramfs::populate_rootfs(dt, &params.rdinit);
    earlycon::move_to_ioremap();
    reboot::move_to_ioremap();
    irq::init(dt, nr_possible);
    // kernel_main becomes the boot CPU's idle task, swapper/0.
    let boot_stack = smp::stack::boot_stack();
    if let Err(e) = sched::init_idle(0, boot_stack.lo, boot_stack.hi) {
        fatal(format_args!("cannot start the scheduler: {e}"));
    }
    // The tick preempts user tasks; a wake-up for another CPU's task
    // interrupts that CPU (and wakes it from wfi).
    irq::timer::set_tick_hook(sched::scheduler_tick);
    sched::set_resched_ipi_hook(|cpu| {
        let _ = irq::ipi::send(cpu, irq::ipi::Ipi::Reschedule);
    });
    smp::bringup::smp_init(dt, &info);
    vmalloc::set_online_cpus(smp::cpumask::num_online_cpus());
    memory::context::init(params.asid_bits, smp::cpumask::num_possible_cpus());
    smp::call::on_each_cpu(|_| memory::context::cpu_init());
    if let Err(e) = process::init(params.maps_at_exit) {
        fatal(format_args!("cannot set up user processes: {e}"));
    }
    // The kernel's own mappings are final: Linux checks W^X in mark_rodata_ro.
    if let Err(e) = memory::ptdump::ptdump_check_wx() {
        pr_warn!("ptdump: cannot check W+X mappings: {e}");
    }

    // The sysctl boot parameters (Linux's do_sysctl_args, before init).
    memory::compaction::set_extfrag_threshold(params.extfrag_threshold);
    if params.compact_memory {
        memory::compaction::compact_memory();
    }

    // With `shell`, the console's `run` starts programs: no first program.
    let first_program = if params.shell {
        None
    } else {
        process::find_first_program(params.rdinit.as_str(), dt.bootargs.contains("rdinit="))
    };
    let (passed, failed) = run_selftests(first_program.is_some(), params, dt);
    if params.ptdump {
        memory::ptdump::dump_kernel_page_tables();
    }
    bench::run(params.bench);
    if let Some(l) = params.lkdtm {
        selftest::lkdtm::trigger(l);
    }
    if params.mminfo {
        report::mminfo();
    } else if passed + failed > 0 {
        report::short_reports();
    }
    if params.shell {
        shell::run(passed, failed);
    }
    if let Some(first) = first_program
        && failed == 0
    {
        process::start_init(first);
        // The boot CPU only idles from here; the run ends when the program does.
        sched::idle_forever();
    }
    exit_verdict(passed, failed)
}

/// The self-tests the command line selects. With a first program to run,
/// Linux's kernel_init runs no self-tests: here they run first only when
/// `selftest=` asks for them.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
fn run_selftests(
    first_program: bool,
    params: &bootdata::cmdline::Params,
    dt: &bootdata::devicetree::DtInfo,
) -> (usize, usize) {
    if first_program && !dt.bootargs.contains("selftest=") {
        return selftest::run(&bootdata::cmdline::SelftestSel::Off);
    }
    selftest::run(&params.selftest)
}
