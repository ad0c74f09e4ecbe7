//! How a benchmark measures: the PMU's cycle and instruction counters
//! around N operations, minus the cost of the measuring loop itself; the
//! result lines; the `null` allocator's row, which every other row is also
//! printed net of; and the count of failed allocations that voids a result.
//!
//! The `null` row: each suite first runs its workloads on an allocator that
//! does nothing (alloc returns a fixed non-null value, free returns), called
//! through the same `&mut dyn` trait object, the same closures and the same
//! bookkeeping (the batch and random workloads' vectors) as every real
//! allocator. Its figure is the harness's own cost per operation; the
//! others' lines carry it subtracted beside the gross figure:
//!
//! ```text
//! bench slab/pair-64 null: 18 insn/op
//! bench slab/pair-64 ours: 368 insn/op (net 350)
//! ```

use crate::console::printk::log_bare;
use core::fmt::Write;
use core::sync::atomic::AtomicU64;

/// Name of the do-nothing allocator's row.
pub const NULL: &str = "null";

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

/// Key of a row in [`NULL_ROWS`]: "suite/workload".
type RowKey = heapless::String<40>;

/// The null allocator's (instructions, cycles) per workload, in this boot.
static NULL_ROWS: spin::Mutex<heapless::Vec<(RowKey, (u64, u64)), 48>> = spin::Mutex::new(heapless::Vec::new());

fn row_key(suite: &str, workload: &str) -> RowKey {
    let mut k = RowKey::new();
    // A key too long for the buffer is cut short; the keys are this
    // module's callers' fixed workload names, all well inside it.
    let _ = write!(k, "{suite}/{workload}");
    k
}

fn null_row(suite: &str, workload: &str) -> Option<(u64, u64)> {
    let key = row_key(suite, workload);
    NULL_ROWS.lock().iter().find(|(k, _)| *k == key).map(|&(_, r)| r)
}

/// Print a result line (and the cycles line when the figures are not
/// exact instruction counts). The null allocator's results are remembered;
/// every other allocator's are printed net of them as well.
pub fn report_suite(suite: &str, workload: &str, who: &str, (insns, cycles): (u64, u64), icount: bool) {
    if who == NULL {
        let key = row_key(suite, workload);
        let mut rows = NULL_ROWS.lock();
        match rows.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = (insns, cycles),
            None => {
                if rows.push((key, (insns, cycles))).is_err() {
                    crate::pr_warn!("bench: no room for the null row of {suite}/{workload}; no net figure");
                }
            }
        }
        drop(rows);
        log_bare(format_args!("bench {suite}/{workload} {who}: {insns} insn/op"));
        if !icount {
            log_bare(format_args!("bench {suite}/{workload} {who}: {cycles} cycles/op"));
        }
        return;
    }
    let net = |gross: u64, null: u64| gross as i64 - null as i64;
    match null_row(suite, workload) {
        Some((ni, nc)) => {
            log_bare(format_args!("bench {suite}/{workload} {who}: {insns} insn/op (net {})", net(insns, ni)));
            if !icount {
                log_bare(format_args!("bench {suite}/{workload} {who}: {cycles} cycles/op (net {})", net(cycles, nc)));
            }
        }
        None => {
            log_bare(format_args!("bench {suite}/{workload} {who}: {insns} insn/op"));
            if !icount {
                log_bare(format_args!("bench {suite}/{workload} {who}: {cycles} cycles/op"));
            }
        }
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
