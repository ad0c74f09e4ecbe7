//! The page checks at allocation (check_new_pages) and free
//! (free_pages_prepare), and the bad-page report.

use core::sync::atomic::Ordering::Relaxed;

use crate::addr::Pfn;
use crate::hal::{Comm, Hal, LinearMapping, LogLevel};
use crate::page::{PageFlags, PageFlagsDisplay, TAIL_MAPPING, ValidPfn};

use super::allocator::{AllocatorFlags, BAD_PAGE_REPORTS, PageAllocator};
use super::cpu_pages::PageChecks;
use super::fastpath::PAGE_MAPPING_FLAGS;

impl<H: Hal> PageAllocator<H> {
    /// Whether every page of a block about to be handed out is as a free
    /// page should be (check_new_pages); if not, report and count it.
    #[inline(always)]
    pub(super) fn check_new_pages(&self, cpu: usize, v: ValidPfn, order: u32) -> bool {
        if !self.map.page(v).expected_state(PageFlags::CHECK_AT_PREP) {
            return self.check_new_pages_bad(cpu, v, 0, order);
        }
        if order != 0 {
            return self.check_new_tail_pages(cpu, v, order);
        }
        true
    }

    /// The tail pages of check_new_pages, out of line.
    #[inline(never)]
    pub(super) fn check_new_tail_pages(&self, cpu: usize, v: ValidPfn, order: u32) -> bool {
        for i in 1..1u64 << order {
            if !self.map.page(v.add(i)).expected_state(PageFlags::CHECK_AT_PREP) {
                return self.check_new_pages_bad(cpu, v, i, order);
            }
        }
        true
    }

    /// Page `i` of the block at `v` is bad: report it and leak the block.
    #[cold]
    #[inline(never)]
    pub(super) fn check_new_pages_bad(&self, cpu: usize, v: ValidPfn, i: u64, order: u32) -> bool {
        self.check_new_page_bad(cpu, v.add(i));
        self.nr_bad_pages.fetch_add(1 << order, Relaxed);
        false
    }

    #[cold]
    #[inline(never)]
    pub(super) fn check_new_page_bad(&self, cpu: usize, v: ValidPfn) {
        let page = self.map.page(v);
        if page.test_flags(PageFlags::HWPOISON) {
            // Hardware-poisoned pages are dropped without a report.
            page.clear_flags_internal(PageFlags::BUDDY);
            return;
        }
        self.bad_page(cpu, v, page.bad_reason(PageFlags::CHECK_AT_PREP, true));
    }

    /// Check and clean a block being freed (free_pages_prepare). A block
    /// with any bad page is leaked whole. The per-page checks run only with
    /// `check_pages` on (see the fastpath module); a compound page's tails
    /// are always checked and reset, as Linux does.
    #[inline]
    pub(super) fn free_pages_prepare(&self, cpu: usize, v: ValidPfn, order: u32) -> bool {
        let page = self.map.page(v);
        if order == 0 && page.test_flags(PageFlags::HWPOISON) {
            // Never let a poisoned page reach the free lists.
            return false;
        }
        let checks = self.page_checks() == PageChecks::On;
        let mut bad = 0;
        if order != 0 && (checks || page.is_head()) {
            bad += self.free_tail_pages_prepare(cpu, v, order, checks);
        }
        // Anonymous and movable pages keep flag bits in `mapping`.
        if page.mapping() & PAGE_MAPPING_FLAGS != 0 {
            page.set_mapping(0);
        }
        if checks && !page.expected_state(PageFlags::CHECK_AT_FREE) {
            self.free_page_bad(cpu, v);
            bad += 1;
        }
        if bad != 0 {
            self.nr_bad_pages.fetch_add(1 << order, Relaxed);
            return false;
        }
        // Most pages come back with no flags at all: skip the atomic then.
        if page.raw_flags() & PageFlags::CHECK_AT_PREP.bits() != 0 {
            page.clear_flags_internal(PageFlags::CHECK_AT_PREP);
        }
        if self.flags.contains(AllocatorFlags::INIT_ON_FREE) {
            self.zero_pages(v, order);
        }
        // Last: from here until it is allocated again, nothing touches the
        // block through the linear map (the free lists link descriptors in
        // the vmemmap, not the pages).
        if self.flags.contains(AllocatorFlags::DEBUG_PAGEALLOC) {
            self.kernel_map_pages(v, order, LinearMapping::Unmap);
        }
        true
    }

    /// The tail half of free_pages_prepare.
    #[cold]
    #[inline(never)]
    pub(super) fn free_tail_pages_prepare(&self, cpu: usize, v: ValidPfn, order: u32, checks: bool) -> u32 {
        let head = self.map.page(v);
        let compound = head.is_head();
        let mut bad = 0;
        if compound && self.compound_order(Pfn(v.get())) != order {
            self.bad_page(cpu, v, "VM_BUG_ON_PAGE(compound && compound_order(page) != order)");
            bad += 1;
        }
        for i in 1..1u64 << order {
            let tv = v.add(i);
            let tail = self.map.page(tv);
            if compound {
                bad += self.free_tail_page_prepare(cpu, v, tv);
            }
            if !checks {
                continue;
            }
            if !tail.expected_state(PageFlags::CHECK_AT_FREE) {
                self.free_page_bad(cpu, tv);
                bad += 1;
                continue;
            }
            tail.clear_flags_internal(PageFlags::CHECK_AT_PREP);
        }
        bad
    }

    /// Check and clear a compound tail (free_tail_page_prepare).
    pub(super) fn free_tail_page_prepare(&self, cpu: usize, head: ValidPfn, tv: ValidPfn) -> u32 {
        let tail = self.map.page(tv);
        // The compound_head word read once: PageTail and the head it names.
        let ch = tail.compound_head();
        let bad = tail.mapping() != TAIL_MAPPING || ch != Some(Pfn(head.get()));
        if bad {
            self.bad_tail_page(cpu, head, tv, ch);
        }
        tail.set_mapping(0);
        tail.clear_compound_head();
        tail.set_private_internal(0);
        bad as u32
    }

    /// What is wrong with a tail free_tail_page_prepare refused, reported.
    #[cold]
    #[inline(never)]
    fn bad_tail_page(&self, cpu: usize, head: ValidPfn, tv: ValidPfn, ch: Option<Pfn>) {
        let reason = if self.map.page(tv).mapping() != TAIL_MAPPING {
            "corrupted mapping in tail page"
        } else if ch.is_none() {
            "PageTail not set"
        } else {
            debug_assert_ne!(ch, Some(Pfn(head.get())));
            "compound_head not consistent"
        };
        self.bad_page(cpu, tv, reason);
    }

    #[cold]
    #[inline(never)]
    pub(super) fn free_page_bad(&self, cpu: usize, v: ValidPfn) {
        let reason = self.map.page(v).bad_reason(PageFlags::CHECK_AT_FREE, false);
        self.bad_page(cpu, v, reason);
    }

    /// Report a page in a bad state (bad_page and dump_page).
    #[cold]
    #[inline(never)]
    pub(super) fn bad_page(&self, cpu: usize, v: ValidPfn, reason: &str) {
        let page = self.map.page(v);
        let n = self.nr_bad_page_reports.fetch_add(1, Relaxed);
        if n < BAD_PAGE_REPORTS {
            let log = |args: core::fmt::Arguments<'_>| H::log(LogLevel::Warning, args);
            log(format_args!("BUG: Bad page state in process {}  pfn:{:05x}", Comm::<H>::on(cpu), v.get()));
            log(format_args!(
                "page: refcount:{} mapcount:{} mapping:{:016x} index:{:#x} pfn:{:#x}",
                page.page_ref_count(),
                page.page_mapcount(),
                page.mapping(),
                page.index(),
                v.get()
            ));
            log(format_args!("flags: {}", PageFlagsDisplay(page.raw_flags())));
            log(format_args!("page dumped because: {reason}"));
            if n + 1 == BAD_PAGE_REPORTS {
                log(format_args!("BUG: Bad page state: further reports suppressed"));
            }
        }
        // Leave the bad fields for debugging, except PG_buddy.
        page.clear_flags_internal(PageFlags::BUDDY);
    }
}
