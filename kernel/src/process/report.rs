//! /proc/<pid>/maps and /proc/<pid>/smaps_rollup for a process, in
//! Linux's formats (mm::mmap::maps formats the lines; the page-table walk
//! that gathers smaps' sums is here, as fs/proc/task_mmu.c's
//! smaps_pte_range is).

use super::pid::Process;
use crate::memory::user::anon;
use crate::memory::user::mm::Mm;
use alloc::string::String;
use mm::mmap::AnonKind;
use mm::mmap::maps::{SmapsRollup, show_maps, show_smaps_rollup};
use mm::{PAGE_SIZE, VirtAddr};

/// The sums of smaps_rollup, from the page tables: every present page
/// counts in Rss; its Pss share is PAGE_SIZE / mapcount; a page mapped
/// once is private, more than once shared; anonymous pages are dirty once
/// written (every anonymous page here but the zero page, which is not
/// counted at all, as Linux skips it through vm_normal_page).
pub fn smaps_rollup(mm: &Mm) -> SmapsRollup {
    let mut s = SmapsRollup::default();
    let mut inner = mm.inner.lock();
    let vmas: alloc::vec::Vec<(u64, u64, bool, bool)> = inner
        .aspace
        .vmas()
        .iter()
        .map(|v| (v.start, v.end, matches!(v.anon, AnonKind::Shared(_)), v.flags.contains(mm::mmap::VmFlags::LOCKED)))
        .collect();
    for (start, end, shared, locked) in vmas {
        inner.pgtable.for_each(VirtAddr(start), VirtAddr(end), &mut |_, pte| {
            let pfn = pte.pfn();
            if anon::is_zero_pfn(pfn) {
                return None;
            }
            let (mapcount, _) = anon::anon_counts(pfn);
            let mapcount = mapcount.max(1) as u64;
            s.rss += PAGE_SIZE;
            let pss = PAGE_SIZE / mapcount;
            s.pss += pss;
            s.pss_dirty += pss;
            s.referenced += PAGE_SIZE;
            if shared {
                s.pss_shmem += pss;
            } else {
                s.pss_anon += pss;
                s.anonymous += PAGE_SIZE;
            }
            if mapcount > 1 {
                s.shared_dirty += PAGE_SIZE;
            } else {
                s.private_dirty += PAGE_SIZE;
            }
            if locked {
                s.locked += pss;
            }
            None
        });
    }
    s
}

/// Print a process's maps and smaps_rollup to the kernel log, raw (the
/// report a `maps_at_exit` run asks for, and the console's cat).
pub fn print_smaps_rollup(p: &Process, mm: &Mm) {
    let sums = smaps_rollup(mm);
    let mut out = String::new();
    {
        let inner = mm.inner.lock();
        let _ = show_maps(&mut out, &inner.aspace);
        let _ = show_smaps_rollup(&mut out, &inner.aspace, &sums);
    }
    crate::console::printk::log_bare(format_args!("/proc/{}/maps and smaps_rollup ({}):", p.pid, p.comm()));
    for line in out.lines() {
        crate::console::printk::log_bare(format_args!("{line}"));
    }
}
