//! Benchmarks (`bench=pages`, `bench=slab`, `bench=vmalloc`, `bench=fault`,
//! `bench=cma`): the
//! allocators beside peers, in instructions per operation; and `bench=smp`,
//! their throughput on several CPUs at once against one CPU's, in wall
//! clock time.
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
//!
//! Files: `harness` (measuring, reporting), `pages` (the page allocator and
//! buddy_system_allocator), `slab` (kmalloc and three heaps), `vmalloc`
//! (vmalloc with and without 10,000 live areas, vm_map_ram), `fault` (the
//! user fault paths, fork and munmap, beside memset and memcpy), `cma`
//! (cma_alloc from an empty and a full area, compaction's order-9 rate), `smp`
//! (order-0 and kmalloc-64 pairs and a cross-CPU kfree on 1, 2 and 4 CPUs
//! at once, through on_each_cpu). The suites
//! import `harness` (`cma` also the fault suite's baselines and the
//! self-tests' fill and fragmentation helpers); this file picks them.

mod cma;
#[allow(unsafe_code)] // memset and memcpy baselines on raw page addresses
mod fault;
mod harness;
#[allow(unsafe_code)] // frees raw PFNs, as the peer's API does
mod pages;
#[allow(unsafe_code)] // the peer heaps' raw-pointer APIs
mod slab;
#[allow(unsafe_code)] // kfree of the objects it allocated
mod smp;
mod vmalloc;

use crate::memory::heap;

/// Run the suites `bench=` selected (bit 0: pages, bit 1: slab, bit 2:
/// vmalloc, bit 3: fault, bit 4: cma, bit 5: smp; the bits are
/// `bootdata::cmdline::BENCH_SUITES`' positions). Each suite is announced
/// before it starts (`bench: 2/3 slab ...`) and its time printed after it
/// (`bench: slab took 1234 ms`); neither line starts with `bench ` (a
/// space), the start of a result line that `scripts/bench.sh` reads.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn run(mask: u32) {
    let n = mask.count_ones();
    let mut i = 0;
    let mut timed = |bit: u32, suite: fn(bool), icount: bool| {
        if mask & (1 << bit) == 0 {
            return;
        }
        i += 1;
        let name = bootdata::cmdline::BENCH_SUITES.get(bit as usize).copied().unwrap_or("?");
        crate::pr_info!("bench: {i}/{n} {name} ...");
        let t0 = arch::timer::uptime_ns();
        suite(icount);
        crate::pr_info!("bench: {name} took {} ms", arch::timer::uptime_ns().saturating_sub(t0) / 1_000_000);
    };
    // smp measures wall-clock time, not the PMU.
    timed(5, |_| smp::run(), false);
    if mask & !32 == 0 {
        return;
    }
    let Some(icount) = harness::prepare() else { return };
    timed(0, pages::run, icount);
    timed(1, |icount| heap::with_early_heap(|| slab::run(icount)), icount);
    timed(2, vmalloc::run, icount);
    timed(3, fault::run, icount);
    timed(4, cma::run, icount);
}
