//! Every CPU the device tree lists is up, runs work, and sees the same
//! kernel page tables.

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::smp::{call, cpumask};
use crate::{check, check_eq};
use arch::percpu::{NR_CPUS, cpu_area, this_cpu_area};
use core::sync::atomic::{AtomicU64, Ordering};
use mm::VirtAddr;

pub const TESTS: &[Test] = &[
    Test { suite: "smp", name: "all_cpus_online", run: all_cpus_online },
    Test { suite: "smp", name: "on_each_cpu_runs_everywhere", run: on_each_cpu_runs_everywhere },
    Test { suite: "smp", name: "same_translation_on_every_cpu", run: same_translation_on_every_cpu },
];

/// Every CPU the kernel numbered is online, or was reported as failed; it
/// numbers no more than /cpus lists (duplicates and, without the boot CPU
/// in /cpus, every secondary are left out: fewer may be online than listed).
fn all_cpus_online() -> TestResult {
    let dt = &state::get().dt;
    let cpus = bootdata::devicetree::logical_cpus(dt, arch::cpu::mpidr());
    let possible = (1 + cpus.secondaries.len()).min(NR_CPUS);
    check_eq!(cpumask::num_possible_cpus(), possible);
    check!(possible <= dt.cpus.len().max(1), "{possible} CPUs numbered, {} listed", dt.cpus.len());
    check_eq!(cpumask::num_online_cpus() + cpumask::nr_failed_cpus(), possible);
    let online = (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c)).count();
    check_eq!(online, cpumask::num_online_cpus());
    Ok(())
}

static RAN: AtomicU64 = AtomicU64::new(0);
static BAD: AtomicU64 = AtomicU64::new(0);

fn whoami(cpu: usize) {
    let area = this_cpu_area();
    let sp = arch::cpu::stack_pointer();
    let on_stack = sp >= area.stack_lo.load(Ordering::Relaxed) && sp < area.stack_hi.load(Ordering::Relaxed);
    let right_cpu = arch::percpu::smp_processor_id() == cpu && area.mpidr.load(Ordering::Relaxed) == arch::cpu::mpidr();
    // SP_EL0's view of the area and TPIDR_EL1's are the same copy.
    let same_area =
        core::ptr::eq(area, arch::percpu::this_cpu_ptr(&arch::percpu::CPU_AREA)) && core::ptr::eq(area, cpu_area(cpu));
    if !(on_stack && right_cpu && same_area) {
        BAD.fetch_or(1 << cpu, Ordering::Relaxed);
    }
    RAN.fetch_or(1 << cpu, Ordering::Relaxed);
}

fn on_each_cpu_runs_everywhere() -> TestResult {
    RAN.store(0, Ordering::Relaxed);
    BAD.store(0, Ordering::Relaxed);
    call::on_each_cpu(whoami);
    let want = (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c)).fold(0u64, |m, c| m | 1 << c);
    check_eq!(RAN.load(Ordering::Relaxed), want);
    check_eq!(BAD.load(Ordering::Relaxed), 0);
    // Stacks are distinct and each has its guard below.
    for cpu in 1..NR_CPUS {
        if cpumask::cpu_online(cpu) {
            let lo = cpu_area(cpu).stack_lo.load(Ordering::Relaxed);
            let hi = cpu_area(cpu).stack_hi.load(Ordering::Relaxed);
            check!(arch::mmu::at_s1e1r(VirtAddr(lo - 4096)).is_err(), "CPU{cpu}: no guard below its stack");
            check!(arch::mmu::at_s1e1r(VirtAddr(hi)).is_err(), "CPU{cpu}: no guard above its stack");
            check!(lo & arch::exception::STACK_SIZE == 0, "CPU{cpu}: stack breaks the overflow check's alignment");
            check_eq!(hi - lo, arch::exception::STACK_SIZE);
        }
    }
    Ok(())
}

static PA_SEEN: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

fn translate_sample(cpu: usize) {
    let va = VirtAddr(boot::sym!(_text));
    PA_SEEN[cpu].store(arch::mmu::at_s1e1r(va).map(|p| p.as_u64()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

fn same_translation_on_every_cpu() -> TestResult {
    call::on_each_cpu(translate_sample);
    let want = state::get().info.phys_base;
    for (cpu, pa) in PA_SEEN.iter().enumerate() {
        if cpumask::cpu_online(cpu) {
            check_eq!(pa.load(Ordering::Relaxed), want);
        }
    }
    Ok(())
}
