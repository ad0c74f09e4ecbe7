//! Benchmarks (`bench=pages`): the page allocator beside a peer, in
//! instructions per operation.
//!
//! Each workload runs a warm-up, then N operations between two reads of the
//! PMU (cycle counter and INST_RETIRED). The cost of the measuring loop
//! itself, measured the same way with an empty body, is subtracted. Under
//! `qemu -icount shift=0` the counters count guest instructions exactly, so
//! the figures repeat to the instruction; the runner notices that (cycles
//! equal instructions) and prints cycles only when they carry other
//! information.
//!
//! Output, one line per result:
//!
//! ```text
//! bench pages/order0-pcp ours: 87 insn/op
//! bench pages/order0-pcp buddy_system_allocator: 412 insn/op
//! ```

use crate::printk::log_bare;
use buddy_system_allocator::FrameAllocator;

/// An allocator of page frames, as the workloads see it.
pub trait FrameAlloc {
    /// Name printed in the result line.
    fn name(&self) -> &'static str;
    /// 2^order contiguous frames; their first frame number.
    fn alloc(&mut self, order: u32) -> Option<u64>;
    /// Give back what `alloc(order)` returned.
    fn free(&mut self, frame: u64, order: u32);
}

/// `buddy_system_allocator`'s FrameAllocator over `nr_frames` frame numbers
/// (it never touches the memory: frames are numbers to it).
pub struct Peer(FrameAllocator<33>);

impl Peer {
    /// A peer managing as many frames as the allocator it is compared with.
    pub fn new(first_frame: u64, nr_frames: u64) -> Self {
        let mut f = FrameAllocator::<33>::new();
        f.add_frame(first_frame as usize, (first_frame + nr_frames) as usize);
        Peer(f)
    }
}

impl FrameAlloc for Peer {
    fn name(&self) -> &'static str {
        "buddy_system_allocator"
    }
    fn alloc(&mut self, order: u32) -> Option<u64> {
        self.0.alloc(1 << order).map(|f| f as u64)
    }
    fn free(&mut self, frame: u64, order: u32) {
        self.0.dealloc(frame as usize, 1 << order);
    }
}

/// This kernel's allocator: through the calling CPU's per-CPU lists, or (with
/// `cpu` past NR_CPUS) straight from the buddy lists under the zone lock.
pub struct Ours {
    cpu: usize,
}

impl FrameAlloc for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn alloc(&mut self, order: u32) -> Option<u64> {
        crate::page_alloc::allocator()
            .alloc_pages(self.cpu, mm::gfp::Gfp::KERNEL | mm::gfp::Gfp::NOWARN, order)
            .ok()
            .map(|p| p.0)
    }
    fn free(&mut self, frame: u64, order: u32) {
        crate::page_alloc::allocator().free_pages(self.cpu, mm::Pfn(frame), order);
    }
}

/// Run the suites `bench=` selected (bit 0: pages).
pub fn run(mask: u32) {
    if mask & 1 == 0 {
        return;
    }
    let Some(icount) = prepare() else { return };
    if !icount {
        crate::pr_warn!("bench: not under qemu -icount: instruction counts are 0 and cycles follow host time");
    }
    let cpu = arch::percpu::smp_processor_id();
    let all = ["order0-pcp", "order1", "order3", "order9", "batch1000"];
    run_pages(&mut Ours { cpu }, &all, icount);
    run_pages(&mut Ours { cpu: arch::percpu::NR_CPUS }, &["order0-nopcp"], icount);
    let pa = crate::page_alloc::allocator();
    let mut peer = Peer::new(0x10_0000, pa.totalram_pages());
    run_pages(&mut peer, &["order0-pcp", "order0-nopcp", "order1", "order3", "order9", "batch1000"], icount);
}

/// (instructions, cycles) per operation of `op`, run `iters` times.
fn measure(iters: u64, mut op: impl FnMut()) -> (u64, u64) {
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

fn report(workload: &str, who: &str, (insns, cycles): (u64, u64), icount: bool) {
    log_bare(format_args!("bench pages/{workload} {who}: {insns} insn/op"));
    if !icount {
        log_bare(format_args!("bench pages/{workload} {who}: {cycles} cycles/op"));
    }
}

/// The page workloads on one allocator. `pcp` says whether its order-0 path
/// goes through per-CPU lists (the `order0-pcp` workload) or not (`order0-nopcp`).
pub fn run_pages(a: &mut dyn FrameAlloc, workloads: &[&str], icount: bool) {
    const ITERS: u64 = 2000;
    let who = a.name();
    for &w in workloads {
        FAILED.store(0, core::sync::atomic::Ordering::Relaxed);
        let result = match w {
            "order0-pcp" | "order0-nopcp" => measure(ITERS, || pair(a, 0)),
            "order1" => measure(ITERS, || pair(a, 1)),
            "order3" => measure(ITERS, || pair(a, 3)),
            "order9" => measure(ITERS / 4, || pair(a, 9)),
            "batch1000" => {
                let (insns, cycles) = measure(4, || batch(a, 1000));
                (insns / 1000, cycles / 1000)
            }
            _ => continue,
        };
        let failed = FAILED.load(core::sync::atomic::Ordering::Relaxed);
        if failed != 0 {
            crate::pr_err!("bench pages/{w} {who}: {failed} allocations failed; result discarded");
            continue;
        }
        report(w, who, result, icount);
    }
}

/// Allocations that failed during the current workload: a benchmark of
/// failures measures nothing, so any makes the result invalid.
static FAILED: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

fn pair(a: &mut dyn FrameAlloc, order: u32) {
    match a.alloc(order) {
        Some(f) => a.free(core::hint::black_box(f), order),
        None => {
            FAILED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    }
}

fn batch(a: &mut dyn FrameAlloc, n: usize) {
    let mut frames = alloc::vec::Vec::with_capacity(n);
    for _ in 0..n {
        match a.alloc(0) {
            Some(f) => frames.push(f),
            None => {
                FAILED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                break;
            }
        }
    }
    for f in frames {
        a.free(f, 0);
    }
}

/// PMU ready and whether the figures are exact.
pub fn prepare() -> Option<bool> {
    if !arch::pmu::enable() {
        crate::pr_warn!("bench: no PMU on this CPU; benchmarks skipped");
        return None;
    }
    Some(under_icount())
}
