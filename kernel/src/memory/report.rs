//! The memory reports, under their /proc names, in Linux's formats:
//! `/proc/buddyinfo` and `/proc/meminfo` after the self-tests, and with
//! `mminfo` every report (pagetypeinfo, zoneinfo, slabinfo, vmallocinfo, iomem,
//! /proc/vmstat, the extfrag indices, the cma debugfs files) plus memblock, the
//! early heap and the page-table pool; and one of this kernel's own,
//! `/sys/kernel/debug/pageblock_map` (`mm::pageblock_map`: each pageblock's
//! migratetype, one letter each), which Linux does not have.

use super::{cma, heap, memblock, page_alloc, pgtable, slab, vmalloc};
use crate::console::printk;
use crate::{pr_info, pr_warn};
use mm::vmstat::{MemCounters, NodeCounters};

/// Print a report under its /proc name: the title as a log line, the text
/// as the file holds it (no timestamps, blank lines kept), so it can be cut
/// from the log and fed to what reads the /proc file.
fn print_report(title: &str, f: impl FnOnce(&mut alloc::string::String) -> core::fmt::Result) {
    pr_info!("{title}:");
    if printk::log_file(f).is_err() {
        pr_warn!("{title}: report failed");
    }
}

/// The counters the reports need from outside the page allocator: slab,
/// user memory, page tables, kernel stacks, vmalloc, per-CPU and memmap
/// sizes. They are kept machine-wide, so a machine of one node has them
/// per node too, and one of several nodes has them in the totals only.
pub fn counters() -> MemCounters {
    let (slab_reclaimable, slab_unreclaimable) = slab::slub().map_or((0, 0), |s| s.nr_slab_pages());
    let (anon_pages, shmem) = super::user::anon::nr_anon_shmem();
    let total = NodeCounters {
        slab_reclaimable,
        slab_unreclaimable,
        anon_pages,
        shmem,
        kernel_stack_kb: vmalloc::nr_kernel_stack_kb() + (arch::exception::STACK_SIZE >> 10),
        page_table_pages: super::user::pgtable::nr_pagetable_pages(),
    };
    let one_node = super::numa::nr_online_nodes() == 1;
    MemCounters {
        totals_node: one_node
            .then(|| page_alloc::allocator().online_nodes().next().map_or(0, |p| p.node_id().0 as usize)),
        total,
        memmap_boot_pages: super::vmemmap::memmap_pages(),
        vmalloc_pages: vmalloc::nr_vmalloc_pages(),
        vmalloc_total: super::layout::VMALLOC_END - super::layout::VMALLOC_START,
        percpu_bytes: super::percpu::percpu_bytes(),
        committed_pages: super::user::commit().committed_pages(),
    }
}

/// /proc/buddyinfo and /proc/meminfo, printed after the self-tests.
pub fn short_reports() {
    let pa = page_alloc::allocator();
    print_report("/proc/buddyinfo", |s| pa.buddyinfo(s));
    print_report("/proc/meminfo", meminfo);
}

/// `mminfo`: every memory report, in Linux's formats.
pub fn mminfo() {
    let pa = page_alloc::allocator();
    print_report("/proc/buddyinfo", |s| pa.buddyinfo(s));
    print_report("/proc/pagetypeinfo", |s| pa.pagetypeinfo(s));
    print_report("/sys/kernel/debug/pageblock_map", |s| pa.pageblock_map(s));
    print_report("/proc/zoneinfo", zoneinfo);
    print_report("/proc/meminfo", meminfo);
    if let Some(slub) = slab::slub() {
        print_report("/proc/slabinfo", |s| slub.slabinfo(s));
    }
    print_report("/proc/vmallocinfo", vmalloc::vmallocinfo);
    print_report("/proc/iomem", memblock::iomem);
    print_report("/proc/vmstat", vmstat);
    print_report("/sys/kernel/debug/extfrag/unusable_index", |s| mm::compaction::unusable_index_show(pa, s));
    print_report("/sys/kernel/debug/extfrag/extfrag_index", |s| mm::compaction::extfrag_index_show(pa, s));
    if cma::areas().next().is_some() {
        print_report("/sys/kernel/debug/cma", cma::debugfs);
    }
    memblock_and_heap_info();
}

/// /proc/meminfo now (each file reads the counters when it is read, as
/// Linux's do).
pub fn meminfo(s: &mut alloc::string::String) -> core::fmt::Result {
    page_alloc::allocator().meminfo(s, &counters())
}

/// /proc/zoneinfo now.
pub fn zoneinfo(s: &mut alloc::string::String) -> core::fmt::Result {
    page_alloc::allocator().zoneinfo(s, &counters())
}

/// /proc/vmstat now.
pub fn vmstat(s: &mut alloc::string::String) -> core::fmt::Result {
    let pa = page_alloc::allocator();
    mm::vmstat::vmstat_show(s, |n| pa.global_zone_stat(n), &counters())
}

/// `/sys/kernel/debug/extfrag/unusable_index` alone (the `extfrag` self-test
/// prints it at each step of its series).
pub fn unusable_index() {
    let pa = page_alloc::allocator();
    print_report("/sys/kernel/debug/extfrag/unusable_index", |s| mm::compaction::unusable_index_show(pa, s));
}

fn memblock_and_heap_info() {
    let mb = memblock::MEMBLOCK.lock();
    let total = mb.phys_mem_size();
    let reserved = mb.reserved_size();
    drop(mb);
    let (used, free) = heap::usage();
    pr_info!("mminfo: memblock memory {} KiB, reserved {} KiB", total >> 10, reserved >> 10);
    pr_info!("mminfo: early heap {} KiB used, {} KiB free", used >> 10, free >> 10);
    pr_info!("mminfo: page-table pool: {} pages free", pgtable::pool_pages_free());
}
