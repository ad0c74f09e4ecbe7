//! The memory reports, under their /proc names, in Linux's formats:
//! `/proc/buddyinfo` and `/proc/meminfo` after the self-tests, and with
//! `mminfo` every report (pagetypeinfo, zoneinfo, slabinfo, vmallocinfo,
//! /proc/vmstat's event lines, the extfrag indices, the cma debugfs files) plus memblock, the
//! early heap and the page-table pool; and one of this kernel's own,
//! `/sys/kernel/debug/pageblock_map` (`mm::pageblock_map`: each pageblock's
//! migratetype, one letter each), which Linux does not have.

use super::{cma, heap, memblock, page_alloc, pgtable, slab, vmalloc};
use crate::console::printk;
use crate::{pr_info, pr_warn};

/// Print a report under its /proc name.
fn print_report(title: &str, f: impl FnOnce(&mut alloc::string::String) -> core::fmt::Result) {
    pr_info!("{title}:");
    if printk::log_report(f).is_err() {
        pr_warn!("{title}: report failed");
    }
}

/// /proc/buddyinfo and /proc/meminfo, printed after the self-tests.
pub fn short_reports() {
    let pa = page_alloc::allocator();
    print_report("/proc/buddyinfo", |s| pa.buddyinfo(s));
    print_report("/proc/meminfo", |s| pa.meminfo(s));
}

/// `mminfo`: every memory report, in Linux's formats.
pub fn mminfo() {
    let pa = page_alloc::allocator();
    print_report("/proc/buddyinfo", |s| pa.buddyinfo(s));
    print_report("/proc/pagetypeinfo", |s| pa.pagetypeinfo(s));
    print_report("/sys/kernel/debug/pageblock_map", |s| pa.pageblock_map(s));
    print_report("/proc/zoneinfo", |s| pa.zoneinfo(s));
    print_report("/proc/meminfo", |s| {
        pa.meminfo(s)?;
        super::user::meminfo_lines(s)?;
        slab::meminfo_lines(s)?;
        vmalloc::meminfo_lines(s)
    });
    if let Some(slub) = slab::slub() {
        print_report("/proc/slabinfo", |s| slub.slabinfo(s));
    }
    print_report("/proc/vmallocinfo", vmalloc::vmallocinfo);
    print_report("/proc/vmstat (events)", mm::vmstat::vmstat_events);
    print_report("/sys/kernel/debug/extfrag/unusable_index", |s| mm::compaction::unusable_index_show(pa, s));
    print_report("/sys/kernel/debug/extfrag/extfrag_index", |s| mm::compaction::extfrag_index_show(pa, s));
    if cma::areas().next().is_some() {
        print_report("/sys/kernel/debug/cma", cma::debugfs);
    }
    memblock_and_heap_info();
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
