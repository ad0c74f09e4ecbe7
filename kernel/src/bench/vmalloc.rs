//! `bench=vmalloc`: vmalloc + vfree of 1 to 256 pages, with no other area
//! live and with 10,000 other live areas (the augmented free tree keeps a
//! fit O(log n), so the two must stay close), and vm_map_ram +
//! vm_unmap_ram of 1 to 16 pages through the per-CPU vmap blocks. The
//! lazy purges that the frees trigger are part of the cost, as in Linux:
//! each workload runs two full purge cycles from an empty purge list.

use super::harness::{FAILED, measure, report_suite};
use crate::memory::pages::{Pages, alloc_pages};
use crate::memory::vmalloc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;
use mm::PAGE_SIZE;
use mm::gfp::Gfp;

const SIZES: [u64; 5] = [1, 4, 16, 64, 256];

fn pairs(icount: bool, suffix: &str) {
    for n in SIZES {
        // Two whole lazy-purge cycles (the threshold, lazy_max_pages, is
        // 8192 pages on one CPU), each workload starting with nothing
        // lazy: every figure carries the same share of purges.
        let iters = 2 * mm::vmalloc::lazy_max_pages(1) / (n + 1);
        vmalloc::vm_unmap_aliases();
        FAILED.store(0, Ordering::Relaxed);
        let r = measure(iters, || match vmalloc::vmalloc(n * PAGE_SIZE) {
            Ok(b) => drop(core::hint::black_box(b)),
            Err(_) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
            }
        });
        report(&alloc::format!("pages-{n}{suffix}"), r, icount);
    }
}

fn report(workload: &str, r: (u64, u64), icount: bool) {
    let failed = FAILED.load(Ordering::Relaxed);
    if failed != 0 {
        crate::pr_warn!("bench vmalloc/{workload}: {failed} allocations failed; result void");
        return;
    }
    report_suite("vmalloc", workload, "ours", r, icount);
}

pub fn run(icount: bool) {
    vmalloc::vm_unmap_aliases();
    pairs(icount, "");
    let mut live = Vec::new();
    for _ in 0..10_000 {
        match vmalloc::vmalloc(PAGE_SIZE) {
            Ok(b) => live.push(b),
            Err(e) => {
                crate::pr_warn!("bench vmalloc: only {} of 10000 live areas ({e}); -10k-live skipped", live.len());
                return;
            }
        }
    }
    pairs(icount, "-10k-live");
    drop(live);
    let pages: Vec<Pages> = match (0..16).map(|_| alloc_pages(Gfp::KERNEL, 0)).collect() {
        Ok(p) => p,
        Err(e) => {
            crate::pr_warn!("bench vmalloc: no pages for vm_map_ram ({e})");
            return;
        }
    };
    for n in [1usize, 4, 16] {
        FAILED.store(0, Ordering::Relaxed);
        let r = measure(1024, || match vmalloc::vm_map_ram(&pages[..n], mm::config::NUMA_NO_NODE) {
            Ok(m) => drop(core::hint::black_box(m)),
            Err(_) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
            }
        });
        report(&alloc::format!("vm_map_ram-{n}"), r, icount);
    }
    vmalloc::vm_unmap_aliases();
}
