//! `bench=pages`: the page allocator beside buddy_system_allocator's frame
//! allocator, through the per-CPU lists and straight from the buddy lists:
//! order-0, 1, 3 and 9 pairs and a batch of 1,000 order-0 pages; first the
//! same workloads on the `null` allocator (the harness's own cost).

use super::harness::{FAILED, NULL, measure, report_suite};
use crate::memory::{page_alloc, pages};
use buddy_system_allocator::FrameAllocator;
use core::sync::atomic::Ordering;

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

/// The allocator that does nothing: every frame it hands out is the same
/// made-up number, and a free forgets it. Its row is the workloads' and the
/// dyn call's own cost.
pub struct Null;

impl FrameAlloc for Null {
    fn name(&self) -> &'static str {
        NULL
    }
    fn alloc(&mut self, _order: u32) -> Option<u64> {
        Some(0x4_0000)
    }
    fn free(&mut self, _frame: u64, _order: u32) {}
}

/// This kernel's allocator through the calling CPU's per-CPU lists, with
/// the kernel's own API (`alloc_pages`, and freeing the `Pages`).
pub struct Ours;

impl FrameAlloc for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn alloc(&mut self, order: u32) -> Option<u64> {
        let gfp = mm::gfp::Gfp::KERNEL | mm::gfp::Gfp::NOWARN;
        pages::alloc_pages(gfp, order).ok().map(|p| p.into_raw().0.0)
    }
    fn free(&mut self, frame: u64, order: u32) {
        // SAFETY: 1. the workloads free each frame once, with the order
        // `alloc` gave it for, which took it from a `Pages`.
        unsafe { pages::Pages::from_raw(mm::Pfn(frame), order) }.free();
    }
}

/// This kernel's allocator straight from the buddy lists under the zone
/// lock (a CPU number past NR_CPUS takes no pcp list).
pub struct OursNoPcp;

impl FrameAlloc for OursNoPcp {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn alloc(&mut self, order: u32) -> Option<u64> {
        let gfp = mm::gfp::Gfp::KERNEL | mm::gfp::Gfp::NOWARN;
        page_alloc::allocator().alloc_pages(arch::percpu::NR_CPUS, gfp, order).ok().map(|p| p.0)
    }
    fn free(&mut self, frame: u64, order: u32) {
        // SAFETY: 1. the workloads free each frame once, with the order
        // `alloc` gave it for; 2. they do not touch it afterwards.
        unsafe { pages::free_pages_pfn(arch::percpu::NR_CPUS, mm::Pfn(frame), order) };
    }
}

pub fn run(icount: bool) {
    let all = ["order0-pcp", "order1", "order3", "order9", "batch1000"];
    run_pages(&mut Null, &["order0-pcp", "order0-nopcp", "order1", "order3", "order9", "batch1000"], icount);
    run_pages(&mut Ours, &all, icount);
    run_pages(&mut OursNoPcp, &["order0-nopcp"], icount);
    let pa = page_alloc::allocator();
    let mut peer = Peer::new(0x10_0000, pa.totalram_pages());
    run_pages(&mut peer, &["order0-pcp", "order0-nopcp", "order1", "order3", "order9", "batch1000"], icount);
}

fn report(workload: &str, who: &str, result: (u64, u64), icount: bool) {
    report_suite("pages", workload, who, result, icount);
}

/// The page workloads on one allocator. `pcp` says whether its order-0 path
/// goes through per-CPU lists (the `order0-pcp` workload) or not (`order0-nopcp`).
pub fn run_pages(a: &mut dyn FrameAlloc, workloads: &[&str], icount: bool) {
    const ITERS: u64 = 2000;
    // Every allocator through an opaque trait object: the compiler cannot
    // see which one it is, so none (the null one least) has its calls
    // inlined into the loops.
    let a = core::hint::black_box(a);
    let who = a.name();
    for &w in workloads {
        FAILED.store(0, Ordering::Relaxed);
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
        let failed = FAILED.load(Ordering::Relaxed);
        if failed != 0 {
            crate::pr_err!("bench pages/{w} {who}: {failed} allocations failed; result discarded");
            continue;
        }
        report(w, who, result, icount);
    }
}

fn pair(a: &mut dyn FrameAlloc, order: u32) {
    match a.alloc(order) {
        Some(f) => a.free(core::hint::black_box(f), order),
        None => {
            FAILED.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn batch(a: &mut dyn FrameAlloc, n: usize) {
    let mut frames = alloc::vec::Vec::with_capacity(n);
    for _ in 0..n {
        match a.alloc(0) {
            Some(f) => frames.push(f),
            None => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    for f in frames {
        a.free(f, 0);
    }
}
