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
        // SAFETY: the benchmark frees only frames `alloc` returned, each once,
        // with its order, and never touches their memory.
        unsafe { crate::page_alloc::allocator().free_pages(self.cpu, mm::Pfn(frame), order) };
    }
}

/// Run the suites `bench=` selected (bit 0: pages, bit 1: slab).
pub fn run(mask: u32) {
    if mask == 0 {
        return;
    }
    let Some(icount) = prepare() else { return };
    if mask & 1 != 0 {
        run_pages_suite(icount);
    }
    if mask & 2 != 0 {
        crate::heap::with_early_heap(|| slab::run(icount));
    }
}

fn run_pages_suite(icount: bool) {
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

fn report(workload: &str, who: &str, result: (u64, u64), icount: bool) {
    report_suite("pages", workload, who, result, icount);
}

fn report_suite(suite: &str, workload: &str, who: &str, (insns, cycles): (u64, u64), icount: bool) {
    log_bare(format_args!("bench {suite}/{workload} {who}: {insns} insn/op"));
    if !icount {
        log_bare(format_args!("bench {suite}/{workload} {who}: {cycles} cycles/op"));
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
    let icount = under_icount();
    if !icount {
        crate::pr_warn!("bench: not under qemu -icount: instruction counts are 0 and cycles follow host time");
    }
    Some(icount)
}

/// `bench=slab`: kmalloc/kfree against three peer heaps, in the same boot.
mod slab {
    use super::{FAILED, measure, report_suite};
    use alloc::vec::Vec;
    use core::alloc::Layout;
    use core::ptr::NonNull;
    use core::sync::atomic::Ordering;
    use mm::gfp::Gfp;

    /// Bytes of each peer's arena: one order-10 block (4 MiB).
    const ARENA_ORDER: u32 = 10;

    /// An object allocator, as the workloads see it.
    trait ObjAlloc {
        fn name(&self) -> &'static str;
        fn alloc(&mut self, size: usize) -> Option<NonNull<u8>>;
        /// # Safety
        /// `p` came from `alloc(size)` and is not used afterwards.
        unsafe fn free(&mut self, p: NonNull<u8>, size: usize);
    }

    fn layout(size: usize) -> Layout {
        // kmalloc's guarantee: 8-byte alignment.
        Layout::from_size_align(size.max(1), 8).unwrap_or(Layout::new::<u64>())
    }

    /// This kernel's kmalloc, or a second SLUB with slub_debug=FZP.
    struct Ours {
        slub: &'static crate::hal::Slub,
        name: &'static str,
    }
    impl ObjAlloc for Ours {
        fn name(&self) -> &'static str {
            self.name
        }
        fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
            self.slub.kmalloc(arch::percpu::smp_processor_id(), size, Gfp::KERNEL).ok()
        }
        unsafe fn free(&mut self, p: NonNull<u8>, _size: usize) {
            // SAFETY: the caller's obligation: p is a live kmalloc object.
            unsafe { self.slub.kfree(arch::percpu::smp_processor_id(), p.as_ptr()) };
        }
    }

    struct LinkedList(linked_list_allocator::Heap);
    impl ObjAlloc for LinkedList {
        fn name(&self) -> &'static str {
            "linked_list_allocator"
        }
        fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
            self.0.allocate_first_fit(layout(size)).ok()
        }
        unsafe fn free(&mut self, p: NonNull<u8>, size: usize) {
            // SAFETY: p came from this heap with this layout.
            unsafe { self.0.deallocate(p, layout(size)) };
        }
    }

    struct Talc(talc::base::Talc<talc::source::Manual, talc::DefaultBinning>);
    impl ObjAlloc for Talc {
        fn name(&self) -> &'static str {
            "talc"
        }
        fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
            // SAFETY: the layout is valid and non-zero-sized.
            unsafe { self.0.allocate(layout(size)) }
        }
        unsafe fn free(&mut self, p: NonNull<u8>, size: usize) {
            // SAFETY: p came from this heap with this layout.
            unsafe { self.0.deallocate(p.as_ptr(), layout(size)) };
        }
    }

    struct Buddy(buddy_system_allocator::Heap<32>);
    impl ObjAlloc for Buddy {
        fn name(&self) -> &'static str {
            "buddy_system_allocator"
        }
        fn alloc(&mut self, size: usize) -> Option<NonNull<u8>> {
            self.0.alloc(layout(size)).ok()
        }
        unsafe fn free(&mut self, p: NonNull<u8>, size: usize) {
            // SAFETY: p came from this heap with this layout.
            unsafe { self.0.dealloc(p, layout(size)) };
        }
    }

    /// A 4 MiB arena from the page allocator, in the linear map; kept for the
    /// boot's remaining life (the peers own it).
    fn arena() -> Option<(*mut u8, usize)> {
        let pages = crate::page_alloc::alloc_pages(Gfp::KERNEL, ARENA_ORDER).ok()?;
        let (pfn, order) = pages.into_raw();
        Some((crate::page_alloc::page_address(pfn).as_u64() as *mut u8, (4096usize) << order))
    }

    const PAIR_SIZES: [usize; 10] = [8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    fn run_one(a: &mut dyn ObjAlloc, icount: bool) {
        let who = a.name();
        for size in PAIR_SIZES {
            FAILED.store(0, Ordering::Relaxed);
            let r = measure(2000, || match a.alloc(size) {
                // SAFETY: p was just allocated with `size`; freed once.
                Some(p) => unsafe { a.free(core::hint::black_box(p), size) },
                None => {
                    FAILED.fetch_add(1, Ordering::Relaxed);
                }
            });
            emit(&alloc::format!("pair-{size}"), who, r, icount);
        }
        // 10,000 allocations of 64 bytes, then their frees, per object.
        let mut held: Vec<(NonNull<u8>, usize)> = Vec::with_capacity(10_000);
        FAILED.store(0, Ordering::Relaxed);
        let (i, c) = measure(1, || {
            for _ in 0..10_000 {
                match a.alloc(64) {
                    Some(p) => held.push((p, 64)),
                    None => {
                        FAILED.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            for (p, s) in held.drain(..) {
                // SAFETY: allocated above with `s`; freed once.
                unsafe { a.free(p, s) };
            }
        });
        emit("batch10k-64", who, (i / 10_000, c / 10_000), icount);
        // Random sizes 8..=4096, freed in random order (fixed seed).
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let sizes: Vec<usize> = (0..2000).map(|_| 8 + (xorshift(&mut seed) % 4089) as usize).collect();
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        for k in (1..order.len()).rev() {
            let j = (xorshift(&mut seed) % (k as u64 + 1)) as usize;
            order.swap(k, j);
        }
        let mut slots: Vec<Option<NonNull<u8>>> = alloc::vec![None; sizes.len()];
        FAILED.store(0, Ordering::Relaxed);
        let (i, c) = measure(1, || {
            for (k, &s) in sizes.iter().enumerate() {
                slots[k] = a.alloc(s);
                if slots[k].is_none() {
                    FAILED.fetch_add(1, Ordering::Relaxed);
                }
            }
            for &k in &order {
                if let Some(p) = slots[k].take() {
                    // SAFETY: allocated above with sizes[k]; freed once.
                    unsafe { a.free(p, sizes[k]) };
                }
            }
        });
        let n = sizes.len() as u64;
        emit("random", who, (i / n, c / n), icount);
    }

    fn emit(workload: &str, who: &str, r: (u64, u64), icount: bool) {
        let failed = FAILED.load(Ordering::Relaxed);
        if failed != 0 {
            crate::pr_err!("bench slab/{workload} {who}: {failed} allocations failed; result discarded");
            return;
        }
        report_suite("slab", workload, who, r, icount);
    }

    pub(super) fn run(icount: bool) {
        let Some(slub) = crate::slab::slub() else {
            crate::pr_warn!("bench: SLUB is not up; slab benchmarks skipped");
            return;
        };
        run_one(&mut Ours { slub, name: "ours" }, icount);
        if let Some(debug) = crate::slab::debug_instance("FZP") {
            run_one(&mut Ours { slub: debug, name: "ours-debug" }, icount);
        }
        let (Some((a1, n1)), Some((a2, n2)), Some((a3, n3))) = (arena(), arena(), arena()) else {
            crate::pr_warn!("bench: no memory for the peers' arenas");
            return;
        };
        // SAFETY: each arena is 4 MiB of RAM taken from the page allocator
        // above and never given back, used by one heap only.
        let mut ll = LinkedList(unsafe { linked_list_allocator::Heap::new(a1, n1) });
        run_one(&mut ll, icount);
        let mut t = Talc(talc::base::Talc::new(talc::source::Manual));
        // SAFETY: as above.
        if unsafe { t.0.claim(a2, n2) }.is_some() {
            run_one(&mut t, icount);
        }
        let mut b = Buddy(buddy_system_allocator::Heap::<32>::new());
        // SAFETY: as above.
        unsafe { b.0.init(a3 as usize, n3) };
        run_one(&mut b, icount);
    }
}
