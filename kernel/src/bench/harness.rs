//! How a benchmark measures: the PMU's cycle and instruction counters
//! around N operations, minus the cost of the measuring loop itself; the
//! result lines; and the count of failed allocations that voids a result.

use crate::console::printk::log_bare;
use core::sync::atomic::AtomicU64;

/// (instructions, cycles) per operation of `op`, run `iters` times.
pub fn measure(iters: u64, mut op: impl FnMut()) -> (u64, u64) {
    for _ in 0..iters.min(64) {
        op();
    }
    let (c0, i0) = arch::pmu::read();
    for _ in 0..iters {
        op();
    }
    let (c1, i1) = arch::pmu::read();
    let (c2, i2) = arch::pmu::read();
    for _ in 0..iters {
        core::hint::black_box(());
    }
    let (c3, i3) = arch::pmu::read();
    let insns = (i1 - i0).saturating_sub(i3 - i2);
    let cycles = (c1 - c0).saturating_sub(c3 - c2);
    (insns.div_ceil(iters), cycles.div_ceil(iters))
}

/// Whether the PMU counts guest instructions exactly (qemu -icount): the
/// cycle counter then advances exactly with INST_RETIRED.
fn under_icount() -> bool {
    let (c0, i0) = arch::pmu::read();
    let mut x = 0u64;
    for i in 0..1000 {
        x = core::hint::black_box(x.wrapping_add(i));
    }
    let (c1, i1) = arch::pmu::read();
    c1 - c0 == i1 - i0
}

pub fn report_suite(suite: &str, workload: &str, who: &str, (insns, cycles): (u64, u64), icount: bool) {
    log_bare(format_args!("bench {suite}/{workload} {who}: {insns} insn/op"));
    if !icount {
        log_bare(format_args!("bench {suite}/{workload} {who}: {cycles} cycles/op"));
    }
}

/// PMU ready and whether the figures are exact.
pub fn prepare() -> Option<bool> {
    if !arch::pmu::enable() {
        crate::pr_warn!("bench: no PMU on this CPU; benchmarks skipped");
        return None;
    }
    let icount = under_icount();
    if !icount {
        crate::pr_warn!("bench: not under qemu -icount: instruction counts are 0 and cycles follow host time");
    }
    Some(icount)
}

/// Allocations that failed during the current workload: a benchmark of
/// failures measures nothing, so any makes the result invalid.
pub static FAILED: AtomicU64 = AtomicU64::new(0);
