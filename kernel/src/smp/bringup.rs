//! Bringing up the secondary CPUs (Linux's smp_init and __cpu_up).
//!
//! Each secondary gets a logical number in /cpus order (the boot CPU is 0),
//! a kernel stack from `stack::alloc_kernel_stack` (vmalloc'd: the boot
//! stack's size and alignment, so the vectors' overflow check works, with
//! unmapped guards around it), an overflow stack, and its per-CPU offset
//! in TPIDR_EL1 with its `CpuArea` in SP_EL0 (its copy of the per-CPU
//! variables, that area among them,
//! was made by `memory::percpu` in the memblock era; [`smp_init_cpus`]
//! counts the possible CPUs for it). Bring-up runs after SLUB and vmalloc
//! are up, as Linux's smp_init runs after mm_core_init.
//!
//! Bring-up is one CPU at a time: the boot CPU fills `__secondary_data`
//! (MMU registers, stack, per-CPU offset, entry), cleans it to the PoC because the
//! secondary reads it with the MMU off, then starts the CPU with PSCI
//! CPU_ON (hvc or smc, from /psci) or by writing `secondary_entry`'s
//! physical address to its spin-table `cpu-release-addr` (cleaned to the
//! PoC) and `sev`. It waits up to a second for the CPU to mark itself
//! online; a CPU that does not is reported and left alone.
//!
//! A CPU that comes up late must not run on the next CPU's stack and area
//! (Linux's `__secondary_too_slow`). Each attempt carries a token in
//! `__secondary_data`: a nonzero sequence number and the target's MPIDR
//! affinity. The secondary, MMU off, parks unless the affinity is its own
//! and the attempt is open (a CPU woken by a release address it shares
//! with another, or one that arrives while the next CPU is being started,
//! sees someone else's token). With the MMU on, before it touches the
//! stack, it claims the attempt with an exclusive compare-and-swap
//! (token -> token | taken). The boot CPU, on timeout, swaps the token for
//! 0 first; whoever swaps first wins, so a late CPU's claim fails and it
//! parks; if the CPU won, the boot CPU waits for it once more.
//!
//! Every CPU folds its D-cache line size into the system-wide minimum
//! (`arch::cache::note_cpu_dcache_line`) as soon as it runs with the MMU
//! on. A zero CNTFRQ_EL0 is reported; the timeouts here count delay steps,
//! which stay bounded when the frequency is unknown.

use super::call::serve_mailbox;
use super::cpumask::{cpu_online, note_failed, num_online_cpus, set_online, set_possible};
use super::stack::{alloc_kernel_stack, boot_stack, paint_boot_stack};
use crate::init::platform::psci_conduit;
use crate::memory::layout::FIX_SPIN_TABLE;
use crate::memory::linear_map::{linear_map_covers, phys_to_virt};
use crate::memory::memblock::MEMBLOCK;
use crate::memory::{numa, pgtable};
use crate::{pr_err, pr_info, pr_warn};
use arch::percpu::{NR_CPUS, OVERFLOW_STACK_SIZE, cpu_area, per_cpu_offset};
use boot::BootInfo;
use bootdata::devicetree::{CpuSkip, DtInfo, EnableMethod, logical_cpus};
use core::sync::atomic::{AtomicU64, Ordering};
use mm::pgtable::PageProt;
use mm::{PAGE_SIZE, PhysAddr, VirtAddr};

// The device tree parser keeps every CPU the kernel could bring up.
const _: () = assert!(bootdata::devicetree::MAX_CPUS >= NR_CPUS, "bootdata's MAX_CPUS drops CPUs NR_CPUS allows");

/// The layout head.S reads (`SD_*` offsets there).
#[repr(C)]
struct SecondaryData {
    mair: u64,
    tcr: u64,
    ttbr0: u64,
    ttbr1: u64,
    stack_top: u64,
    percpu_offset: u64,
    entry: u64,
    reserved_pg_dir_pa: u64,
    /// This attempt ([`attempt_token`]); claimed with a compare-and-swap.
    token: u64,
}

/// MPIDR affinity fields: Aff3 (39..32) and Aff2..Aff0 (23..0).
const MPIDR_AFF_MASK: u64 = 0xff_00ff_ffff;
/// Token bits above the affinity: the attempt's sequence number.
const TOKEN_SEQ_SHIFT: u32 = 40;
/// Set by the secondary that claimed the attempt (head.S TOKEN_TAKEN_BIT).
const TOKEN_TAKEN: u64 = 1 << 63;

/// The token of bring-up attempt `seq` (nonzero) for the CPU `mpidr`. The
/// secondary, MMU off, parks unless the affinity is its own, the sequence
/// is nonzero and the attempt is not taken; MMU on, it claims the attempt
/// (token -> token | TOKEN_TAKEN) before touching the stack or CPU area.
fn attempt_token(seq: u64, mpidr: u64) -> u64 {
    (((seq & ((1 << 23) - 1)).max(1)) << TOKEN_SEQ_SHIFT) | (mpidr & MPIDR_AFF_MASK)
}

/// The token word of `__secondary_data`, for the compare-and-swap.
fn token_word() -> &'static AtomicU64 {
    // SAFETY: the field is 8-byte aligned inside a static that lives for
    // ever; every access to it after it is written (the secondaries' claim,
    // the boot CPU's give-up) is atomic.
    unsafe { &*(core::ptr::addr_of!(__secondary_data.token) as *const AtomicU64) }
}

unsafe extern "C" {
    static mut __secondary_data: SecondaryData;
    static secondary_entry: u8;
    static __overflow_stacks: u8;
}

fn overflow_stack_top(cpu: usize) -> u64 {
    core::ptr::addr_of!(__overflow_stacks) as u64 + ((cpu + 1) * OVERFLOW_STACK_SIZE) as u64
}

/// Record the boot CPU's area (the head set TPIDR_EL1 and its overflow stack).
pub fn init_boot_cpu() {
    let a = cpu_area(0);
    a.cpu.store(0, Ordering::Relaxed);
    a.mpidr.store(arch::cpu::mpidr(), Ordering::Relaxed);
    let stack = boot_stack();
    a.stack_lo.store(stack.lo, Ordering::Relaxed);
    a.stack_hi.store(stack.hi, Ordering::Relaxed);
    paint_boot_stack();
    arch::cache::note_cpu_dcache_line();
}

/// Where the secondaries begin in Rust, on their own stack, MMU on, with
/// TPIDR_EL1 = `_percpu_offset` (the head passes it on) and SP_EL0 its
/// area at that offset.
extern "C" fn secondary_start_kernel(_percpu_offset: u64) -> ! {
    arch::exception::install();
    arch::cache::note_cpu_dcache_line();
    let cpu = arch::percpu::smp_processor_id();
    pr_info!("CPU{}: Booted secondary processor {:#012x} [{:#010x}]", cpu, arch::cpu::mpidr(), arch::cpu::midr());
    let area = arch::percpu::this_cpu_area();
    let (lo, hi) = (area.stack_lo.load(Ordering::Relaxed), area.stack_hi.load(Ordering::Relaxed));
    if let Err(e) = crate::sched::init_idle(cpu, lo, hi) {
        // The CPU still serves on_each_cpu; it runs no tasks.
        pr_err!("CPU{cpu}: no idle task ({e}); it runs no tasks");
    }
    // Its GIC interface and tick; IRQs unmasked from here.
    crate::irq::init_cpu(cpu);
    set_online(cpu);
    serve_mailbox(cpu)
}

/// Why a spin-table release address was refused.
#[derive(Debug)]
enum ReleaseAddrError {
    Unaligned,
    NotRam,
    NoMapping(mm::Error),
    Abort(arch::exception::ProbeFault),
}

impl core::fmt::Display for ReleaseAddrError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unaligned => f.write_str("is not 8-byte aligned"),
            Self::NotRam => f.write_str("is outside RAM"),
            Self::NoMapping(e) => write!(f, "cannot be mapped ({e})"),
            Self::Abort(p) => write!(f, "aborts when written (ESR {:#x})", p.esr),
        }
    }
}

/// Write `value` to CPU `cpu`'s spin-table release address `pa` and clean
/// it to the PoC, for a CPU that reads it with its MMU off. The address
/// must be 8-byte aligned RAM (Documentation/arch/arm64/booting.rst: a
/// 64-bit location in reserved memory); it is reached through the linear
/// map, or (NOMAP memory) through this CPU's own fixmap slot, unmapped
/// again afterwards; a write that aborts is caught and refused.
fn write_release_addr(cpu: usize, pa: u64, value: u64) -> Result<(), ReleaseAddrError> {
    if !pa.is_multiple_of(8) {
        return Err(ReleaseAddrError::Unaligned);
    }
    let mapped = {
        let mb = MEMBLOCK.lock();
        if !mb.is_region_memory(PhysAddr(pa), 8) {
            return Err(ReleaseAddrError::NotRam);
        }
        // NOMAP memory lies inside the linear map's span but is not mapped.
        mb.is_map_memory(PhysAddr(pa)) && linear_map_covers(PhysAddr(pa), 8)
    };
    let slot = FIX_SPIN_TABLE + cpu as u64 * PAGE_SIZE;
    let (va, fixmapped) = if mapped {
        (phys_to_virt(PhysAddr(pa)).as_u64(), false)
    } else {
        let va = pgtable::fixmap_remap(slot, pa, 8, PageProt::KERNEL_RW).map_err(ReleaseAddrError::NoMapping)?;
        (va.as_u64(), true)
    };
    // SAFETY: `va` maps the 8-byte, aligned release address the device tree
    // gives for this CPU, in RAM; firmware reserves it (/memreserve/) for
    // exactly this store; an abort is caught and reported.
    let res = unsafe { arch::exception::probe_write(va, value) }.map_err(ReleaseAddrError::Abort);
    if res.is_ok() {
        // SAFETY: va is mapped (just above) and the store did not abort.
        unsafe { arch::cache::dcache_clean_inval_poc(va, va + 8) };
    }
    if fixmapped {
        let _ = pgtable::unmap_kernel_range(VirtAddr(slot), PAGE_SIZE);
    }
    res
}

/// The PSCI conduit CPU_ON can go through, if any secondary needs one:
/// /psci must name a method the parser knows, and the firmware must answer
/// PSCI_VERSION on it. A conduit nothing implements (SMC without EL3, HVC
/// when this kernel is the hypervisor) answers NOT_SUPPORTED (the arch
/// fixup, the EL2 stub), and PSCI is then unavailable, as in Linux's
/// psci_probe(): the secondaries stay off and the boot CPU carries on.
fn psci_cpu_on_usable(dt: &DtInfo, secondaries: &[&bootdata::devicetree::CpuNode]) -> Option<arch::psci::Conduit> {
    if !secondaries.iter().any(|c| c.enable == EnableMethod::Psci) {
        return None;
    }
    let Some(c) = psci_conduit(dt) else {
        pr_err!("psci: /psci is missing or names no usable method; CPUs with enable-method psci stay off");
        return None;
    };
    let v = arch::psci::version(c);
    if v < 0 {
        pr_err!(
            "psci: no PSCI firmware behind the {c:?} conduit (PSCI_VERSION: {v}); CPUs with enable-method psci stay off"
        );
        return None;
    }
    Some(c)
}

/// How long a released CPU has to come online.
const ONLINE_TIMEOUT_US: u64 = 1_000_000;

/// Poll `cond` for about `us` microseconds; whether it became true. Bounded
/// even when CNTFRQ_EL0 is 0 (arch's delay then spins a fixed count).
fn wait_until(us: u64, cond: impl Fn() -> bool) -> bool {
    const STEP_US: u64 = 10;
    let f = arch::timer::frequency_hz();
    if f != 0 {
        let ticks = (us as u128 * f as u128 / 1_000_000) as u64;
        let t0 = arch::timer::counter();
        while arch::timer::counter().wrapping_sub(t0) < ticks {
            if cond() {
                return true;
            }
            core::hint::spin_loop();
        }
        return cond();
    }
    for _ in 0..us.div_ceil(STEP_US) {
        if cond() {
            return true;
        }
        arch::timer::delay_us(STEP_US);
    }
    cond()
}

/// Number the CPUs (Linux's smp_init_cpus): the boot CPU and every
/// secondary bring-up will try, at most NR_CPUS; the possible count, which
/// the per-CPU areas are sized for. Reports nothing: [`smp_init`] does.
pub fn smp_init_cpus(dt: &DtInfo) -> usize {
    let cpus = logical_cpus(dt, arch::cpu::mpidr());
    let n = (1 + cpus.secondaries.len()).min(NR_CPUS);
    set_possible(n);
    n
}

/// Bring up every other CPU in the device tree (`info`: the head's
/// hand-over, for the identity map the secondaries turn their MMU on with),
/// after [`smp_init_cpus`] and the per-CPU areas.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn smp_init(dt: &DtInfo, info: &BootInfo) {
    let me = arch::cpu::mpidr();
    if arch::timer::frequency_hz() == 0 {
        pr_err!("arch_timer: frequency not available (CNTFRQ_EL0 is 0): timestamps stay 0, delays are estimates");
    }
    let cpus = logical_cpus(dt, me);
    for &(i, why) in &cpus.skipped {
        let m = dt.cpus[i].mpidr;
        match why {
            CpuSkip::Duplicate => pr_err!("/cpus[{i}]: duplicate cpu reg properties in the DT (MPIDR {m:#x}); skipped"),
            CpuSkip::InvalidReg => pr_err!("/cpus[{i}]: invalid reg property {m:#x}; skipped"),
        }
    }
    if cpus.boot.is_none() {
        pr_err!("missing boot CPU MPIDR {me:#x} in /cpus, not enabling secondaries");
    }
    debug_assert_eq!(super::cpumask::num_possible_cpus(), (1 + cpus.secondaries.len()).min(NR_CPUS));
    let psci_cpu_on = psci_cpu_on_usable(dt, &cpus.secondaries);
    for (cpu, node) in (1usize..).zip(cpus.secondaries.iter().copied()) {
        if cpu >= NR_CPUS {
            pr_warn!("smp: more CPUs than NR_CPUS ({NR_CPUS}); MPIDR {:#x} and later are not brought up", node.mpidr);
            break;
        }
        if per_cpu_offset(cpu) == 0 {
            pr_err!("CPU{cpu}: no per-CPU area; not brought up");
            note_failed();
            continue;
        }
        // The CPU's nearest node with memory as the page allocator sees it
        // (its DT node; node 0 when NUMA is folded), as Linux's
        // alloc_thread_stack_node uses the CPU's node.
        let nid = crate::memory::page_alloc::allocator().numa_mem_id(cpu).0;
        let (lo, top) = match alloc_kernel_stack(nid) {
            Ok(s) => (s.lo, s.hi),
            Err(e) => {
                pr_err!("CPU{cpu}: no stack ({e}); not brought up");
                note_failed();
                continue;
            }
        };
        let area = cpu_area(cpu);
        area.cpu.store(cpu as u64, Ordering::Relaxed);
        area.mpidr.store(node.mpidr, Ordering::Relaxed);
        area.stack_lo.store(lo, Ordering::Relaxed);
        area.stack_hi.store(top, Ordering::Relaxed);
        area.overflow_stack_top.store(overflow_stack_top(cpu), Ordering::Relaxed);

        let sd = SecondaryData {
            mair: arch::mmu::MAIR_VALUE,
            tcr: arch::mmu::tcr_value(),
            ttbr0: info.idmap_root,
            ttbr1: arch::mmu::ttbr1().as_u64(),
            stack_top: top,
            percpu_offset: per_cpu_offset(cpu),
            entry: secondary_start_kernel as *const () as u64,
            reserved_pg_dir_pa: pgtable::pa_symbol(boot::sym!(reserved_pg_dir)).as_u64(),
            token: attempt_token(cpu as u64, node.mpidr),
        };
        let token = sd.token;
        let sd_va = core::ptr::addr_of_mut!(__secondary_data);
        // SAFETY: only this function writes __secondary_data, one CPU at a
        // time, and no secondary is between release and online now.
        unsafe { sd_va.write_volatile(sd) };
        let sd_start = sd_va as u64;
        // SAFETY: the structure is in the image's .data, mapped.
        unsafe {
            arch::cache::dcache_clean_inval_poc(sd_start, sd_start + core::mem::size_of::<SecondaryData>() as u64)
        };

        let entry_pa = pgtable::pa_symbol(core::ptr::addr_of!(secondary_entry) as u64).as_u64();
        let started = match node.enable {
            EnableMethod::Psci => match psci_cpu_on {
                // SAFETY: 1. CPU_ON starts the target at secondary_entry, which
                // expects exactly this; 2. the vectors were installed first
                // thing in kernel_main.
                Some(c) => match unsafe { arch::psci::call(c, arch::psci::PSCI_CPU_ON, node.mpidr, entry_pa, 0) } {
                    0 => true,
                    err => {
                        pr_err!("psci: failed to boot CPU{cpu} ({err})");
                        false
                    }
                },
                None => {
                    pr_err!("psci: no cpu_on method, not booting CPU{cpu}");
                    false
                }
            },
            EnableMethod::SpinTable(release) => match write_release_addr(cpu, release, entry_pa) {
                Ok(()) => {
                    arch::cpu::send_event_system();
                    true
                }
                Err(e) => {
                    pr_err!("CPU{cpu}: cpu-release-addr {release:#x} {e}; not brought up");
                    false
                }
            },
            EnableMethod::Unknown => {
                pr_err!("CPU{cpu}: MPIDR {:#x} has no usable enable-method", node.mpidr);
                false
            }
        };
        if !started {
            note_failed();
            continue;
        }
        let mut online = wait_until(ONLINE_TIMEOUT_US, || cpu_online(cpu));
        if !online {
            // Give up on the attempt before the CPU claims it; if it claimed
            // it meanwhile, it is past the head and about to come online.
            match token_word().compare_exchange(token, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {}
                Err(v) if v == token | TOKEN_TAKEN => online = wait_until(ONLINE_TIMEOUT_US, || cpu_online(cpu)),
                Err(v) => pr_err!("CPU{cpu}: bring-up token changed under us ({v:#x}, expected {token:#x})"),
            }
        }
        if !online {
            note_failed();
            pr_err!("CPU{cpu}: failed to come online (MPIDR {:#x}); carrying on without it", node.mpidr);
        }
    }
    let (nodes, cpus) = (numa::nr_online_nodes(), num_online_cpus());
    // Linux's wording: a plural "s" only for counts other than one.
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    pr_info!("smp: Brought up {nodes} node{}, {cpus} CPU{}", plural(nodes as usize), plural(cpus));
}
