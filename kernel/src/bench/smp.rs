//! `bench=smp`: the allocators' throughput on several CPUs at once, as a
//! multiple of one CPU's in the same boot.
//!
//! Workloads (each CPU taking part runs [`OPS`] operations):
//!
//! ```text
//!   spin                  a register-only loop of the same count: the
//!                         control, how far the machine itself scales
//!   order0-pair           alloc_pages(order 0) + free, the CPU's pcp lists
//!   kmalloc64-pair        kmalloc(64) + kfree
//!   kmalloc64-cross-free  kmalloc(64) on one CPU, kfree on the next: CPU r
//!                         pushes into ring r and frees what CPU r-1 pushed
//!                         into ring r-1 (on one CPU, its own ring)
//! ```
//!
//! Each runs on the first 1, 2 and 4 online CPUs (as many of those as are
//! online), started together by [`on_each_cpu`]: the CPUs taking part meet
//! at a start barrier, read the generic timer (CNTVCT), run their
//! operations, and read it again. Aggregate throughput is all the
//! operations over the span from the first start to the last end, in wall
//! clock time: -icount would make the vCPUs take turns, so this suite runs
//! without it. Each configuration runs [`RUNS`] times and the best run
//! counts (the host is shared; a slow run is the host's, not ours). Output:
//!
//! ```text
//! bench smp: order0-pair on 1 CPU: 1234567 ops/s
//! bench smp/order0-pair-2cpu ours: 1.93x
//! ```
//!
//! The bench itself shares nothing in the measured loop: each CPU's
//! results are in its own cache line ([`Slot`]), the barrier counter is
//! written only before the loop, and a ring's head and tail (each written
//! by one CPU) sit in separate cache lines.

use crate::memory::{pages, slab};
use crate::smp::{call::on_each_cpu, cpumask::cpu_online};
use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use mm::gfp::Gfp;

/// Operations per CPU per run.
const OPS: u64 = 400_000;
/// Runs per configuration; the fastest counts.
const RUNS: usize = 3;
/// CPU counts measured (those not online are skipped).
const CPU_COUNTS: [usize; 3] = [1, 2, 4];
/// Objects a cross-free ring holds.
const RING: usize = 64;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Spin,
    Order0Pair,
    Kmalloc64Pair,
    Kmalloc64CrossFree,
}

impl Workload {
    const ALL: [Workload; 4] =
        [Workload::Spin, Workload::Order0Pair, Workload::Kmalloc64Pair, Workload::Kmalloc64CrossFree];

    fn name(self) -> &'static str {
        match self {
            Workload::Spin => "spin",
            Workload::Order0Pair => "order0-pair",
            Workload::Kmalloc64Pair => "kmalloc64-pair",
            Workload::Kmalloc64CrossFree => "kmalloc64-cross-free",
        }
    }
}

/// One CPU's results of a run, alone in its cache line.
#[repr(align(64))]
struct Slot {
    start: AtomicU64,
    end: AtomicU64,
    failed: AtomicU64,
}

static SLOTS: [Slot; NR_CPUS] =
    [const { Slot { start: AtomicU64::new(0), end: AtomicU64::new(0), failed: AtomicU64::new(0) } }; NR_CPUS];

/// A counter alone in its cache line.
#[repr(align(64))]
struct Padded(AtomicUsize);

/// A single-producer single-consumer ring of kmalloc objects: `tail` is
/// written by the producer only, `head` by the consumer only.
struct Ring {
    head: Padded,
    tail: Padded,
    slots: [AtomicPtr<u8>; RING],
}

static RINGS: [Ring; NR_CPUS] = [const {
    Ring {
        head: Padded(AtomicUsize::new(0)),
        tail: Padded(AtomicUsize::new(0)),
        slots: [const { AtomicPtr::new(core::ptr::null_mut()) }; RING],
    }
}; NR_CPUS];

impl Ring {
    /// Producer only: whether a push would find no room (once false, it
    /// stays false until this producer pushes).
    fn is_full(&self) -> bool {
        self.tail.0.load(Ordering::Relaxed) - self.head.0.load(Ordering::Acquire) == RING
    }

    /// Producer only, after `is_full` said false.
    fn push(&self, p: *mut u8) {
        let t = self.tail.0.load(Ordering::Relaxed);
        self.slots[t % RING].store(p, Ordering::Relaxed);
        self.tail.0.store(t + 1, Ordering::Release);
    }

    fn pop(&self) -> Option<*mut u8> {
        let h = self.head.0.load(Ordering::Relaxed);
        if h == self.tail.0.load(Ordering::Acquire) {
            return None;
        }
        let p = self.slots[h % RING].load(Ordering::Relaxed);
        self.head.0.store(h + 1, Ordering::Release);
        Some(p)
    }
}

/// The run being set up: workload index, CPUs taking part, arrivals at
/// the start barrier. Written by the boot CPU before `on_each_cpu`.
static WORKLOAD: AtomicUsize = AtomicUsize::new(0);
static NR_TAKING_PART: AtomicUsize = AtomicUsize::new(0);
static ARRIVED: AtomicUsize = AtomicUsize::new(0);
/// CPUs taking part that have finished the run.
static FINISHED: AtomicUsize = AtomicUsize::new(0);

/// `cpu`'s rank among the online CPUs.
fn rank_of(cpu: usize) -> usize {
    (0..cpu).filter(|&c| cpu_online(c)).count()
}

fn online_cpus() -> usize {
    (0..NR_CPUS).filter(|&c| cpu_online(c)).count()
}

/// What every CPU runs: the CPUs ranked below `NR_TAKING_PART` meet at the
/// barrier and run the workload; the others return at once.
fn bench_cpu(cpu: usize) {
    let n = NR_TAKING_PART.load(Ordering::Acquire);
    let rank = rank_of(cpu);
    if rank >= n {
        // Sit the run out in wfi, not in the idle loop: QEMU's TCG runs a
        // wfe as a busy yield, so an idle vCPU would take a host core from
        // the CPUs measured. The last CPU to finish sends the wake-up IPI.
        while FINISHED.load(Ordering::Acquire) < n {
            arch::irqflags::wait_for_interrupt();
        }
        return;
    }
    let w = Workload::ALL[WORKLOAD.load(Ordering::Acquire)];
    ARRIVED.fetch_add(1, Ordering::AcqRel);
    while ARRIVED.load(Ordering::Acquire) < n {
        core::hint::spin_loop();
    }
    let slot = &SLOTS[rank];
    let start = arch::timer::counter();
    let failed = match w {
        Workload::Spin => spin(),
        Workload::Order0Pair => order0_pairs(),
        Workload::Kmalloc64Pair => kmalloc_pairs(cpu),
        Workload::Kmalloc64CrossFree => cross_free(cpu, &RINGS[rank], &RINGS[(rank + n - 1) % n]),
    };
    let end = arch::timer::counter();
    slot.start.store(start, Ordering::Relaxed);
    slot.end.store(end, Ordering::Relaxed);
    slot.failed.store(failed, Ordering::Release);
    if FINISHED.fetch_add(1, Ordering::AcqRel) + 1 == n {
        for c in (0..NR_CPUS).filter(|&c| cpu_online(c) && rank_of(c) >= n) {
            // A CPU whose IPI cannot be sent wakes at its next interrupt.
            let _ = crate::irq::ipi::send(c, crate::irq::ipi::Ipi::Reschedule);
        }
    }
}

/// The control: about as many instructions per operation as a pair, in
/// registers only.
fn spin() -> u64 {
    let mut x = 0u64;
    for i in 0..OPS * 64 {
        x = core::hint::black_box(x.wrapping_add(i));
    }
    core::hint::black_box(x);
    0
}

/// Through the kernel's own API, as `bench=pages`'s `ours` row (the
/// calling CPU's lists, found through its per-CPU area).
fn order0_pairs() -> u64 {
    let mut failed = 0;
    for _ in 0..OPS {
        match pages::alloc_pages(Gfp::KERNEL | Gfp::NOWARN, 0) {
            Ok(p) => core::hint::black_box(p).free(),
            Err(_) => failed += 1,
        }
    }
    failed
}

fn kmalloc_pairs(cpu: usize) -> u64 {
    let Some(slub) = slab::slub() else { return OPS };
    let mut failed = 0;
    for _ in 0..OPS {
        match slub.kmalloc(cpu, 64, Gfp::KERNEL) {
            // SAFETY: p is a live kmalloc object, freed once, not used after.
            Ok(p) => unsafe { slub.kfree(cpu, core::hint::black_box(p).as_ptr()) },
            Err(_) => failed += 1,
        }
    }
    failed
}

/// OPS objects allocated into `out` (freed by the next CPU) and OPS
/// objects from `inp` (allocated by the previous one) freed.
fn cross_free(cpu: usize, out: &Ring, inp: &Ring) -> u64 {
    let Some(slub) = slab::slub() else { return OPS };
    let (mut allocated, mut freed, mut failed) = (0u64, 0u64, 0u64);
    while allocated < OPS || freed < OPS {
        if freed < OPS
            && let Some(p) = inp.pop()
        {
            if !p.is_null() {
                // SAFETY: the previous CPU pushed a live kmalloc object and
                // forgot it; it is freed once here.
                unsafe { slub.kfree(cpu, p) };
            }
            freed += 1;
        }
        if allocated < OPS && !out.is_full() {
            allocated += 1;
            // A failed allocation still hands the consumer an entry (null)
            // so the counts match; the run is void anyway.
            let p = match slub.kmalloc(cpu, 64, Gfp::KERNEL) {
                Ok(p) => p.as_ptr(),
                Err(_) => {
                    failed += 1;
                    core::ptr::null_mut()
                }
            };
            out.push(p);
        }
    }
    failed
}

/// One run of `w` on the first `n` online CPUs: aggregate operations per
/// second, or None if an allocation failed.
fn run_once(w: Workload, n: usize) -> Option<u64> {
    for r in &RINGS[..n] {
        r.head.0.store(0, Ordering::Relaxed);
        r.tail.0.store(0, Ordering::Relaxed);
    }
    WORKLOAD.store(Workload::ALL.iter().position(|&x| x == w).unwrap_or(0), Ordering::Relaxed);
    NR_TAKING_PART.store(n, Ordering::Relaxed);
    ARRIVED.store(0, Ordering::Relaxed);
    FINISHED.store(0, Ordering::Release);
    on_each_cpu(bench_cpu);
    let slots = &SLOTS[..n];
    if slots.iter().any(|s| s.failed.load(Ordering::Acquire) != 0) {
        return None;
    }
    let first = slots.iter().map(|s| s.start.load(Ordering::Relaxed)).min()?;
    let last = slots.iter().map(|s| s.end.load(Ordering::Relaxed)).max()?;
    let span = last.saturating_sub(first).max(1);
    let ops = OPS * n as u64;
    Some((ops as u128 * arch::timer::frequency_hz() as u128 / span as u128) as u64)
}

fn best_of(w: Workload, n: usize) -> Option<u64> {
    let mut best = None;
    for _ in 0..RUNS {
        let t = run_once(w, n)?;
        best = Some(best.map_or(t, |b: u64| b.max(t)));
    }
    best
}

pub fn run() {
    let online = online_cpus();
    if online < 2 {
        crate::pr_warn!("bench smp: one CPU online; boot with more (scripts/bench.sh smp) for the ratios");
    }
    if arch::timer::frequency_hz() == 0 {
        crate::pr_warn!("bench smp: the generic timer's frequency is unknown; smp benchmarks skipped");
        return;
    }
    for w in Workload::ALL {
        let Some(one) = best_of(w, 1) else {
            crate::pr_err!("bench smp/{} on 1 CPU: allocations failed; results discarded", w.name());
            continue;
        };
        crate::console::printk::log_bare(format_args!("bench smp: {} on 1 CPU: {one} ops/s", w.name()));
        for n in CPU_COUNTS.into_iter().filter(|&n| n <= online) {
            let Some(t) = (if n == 1 { Some(one) } else { best_of(w, n) }) else {
                crate::pr_err!("bench smp/{}-{n}cpu: allocations failed; result discarded", w.name());
                continue;
            };
            let centi = (t as u128 * 100 + one as u128 / 2) / one.max(1) as u128;
            crate::console::printk::log_bare(format_args!(
                "bench smp/{}-{n}cpu ours: {}.{:02}x",
                w.name(),
                centi / 100,
                centi % 100
            ));
        }
    }
}
