//! Page migration (Linux's mm/migrate.c): move the contents and every
//! mapping of an in-use page to another page, so that the first becomes
//! free. CMA (`alloc_contig_range`) and compaction are its two users.
//!
//! # Who does what
//!
//! `mm` is architecture-free and knows no page tables of processes, so the
//! move of one page is the kernel's: a [`Migrator`] finds every PTE that
//! maps the page (its reverse map), replaces each by a migration entry,
//! copies the page, points the entries at the copy and gives the source
//! back to the caller. This module holds the contract and the driver that
//! Linux's `migrate_pages` is: isolate-and-retry over a list of pages with
//! targets from a caller's allocation callback, counting
//! `pgmigrate_success` and `pgmigrate_fail`. Like Linux's
//! migrate_pages_batch it hands the migrator a batch of pages with their
//! targets at once, so that one TLB flush covers the unmapping of all of
//! them ([`Migrator::migrate_batch`]).
//!
//! # References
//!
//! ```text
//!   isolate:   get_page_unless_zero(src) and Migrator::is_movable(src)
//!   target:    get_new(src) -> dst, a fresh order-0 page, refcount 1
//!   migrate_page(src, dst):
//!      Ok       every mapping of src now maps dst (dst's references are
//!               the mappings', the allocation's one consumed); src is left
//!               unmapped with only the caller's isolation reference
//!      Again    nothing changed (a lock was contended): try again later
//!      Busy     nothing changed, and retrying will not help now (pinned,
//!               not a page the migrator can move)
//!   afterwards the driver drops the isolation reference of src (the page
//!   is freed with the last one) and gives unused targets to put_new
//! ```
//!
//! # Differences from Linux
//!
//! Batches of [`MIGRATE_BATCH`] pages (Linux: up to 512 folios), order-0
//! pages only (no THP, no hugetlb), and no movable_ops pages (zsmalloc,
//! balloon). The mode is not passed: the migrator never sleeps on a lock
//! (contention is `Again`), and a caller that may sleep, as Linux's
//! `MIGRATE_SYNC` callers do, waits between its tries with
//! [`Migrator::backoff`] instead (alloc_contig_range does; compaction,
//! which runs under the allocating caller's locks, does not).

mod contract;

use crate::addr::Pfn;
use crate::hal::Hal;
use crate::page_alloc::PageAllocator;
use crate::vmstat::{VmEvent, count_vm_events};

pub use contract::{MigrateError, Migrator};

/// Pages handed to [`Migrator::migrate_batch`] at once (both callers
/// isolate this many: COMPACT_CLUSTER_MAX; Linux's NR_MAX_BATCHED_MIGRATION
/// is 512, for the longer lists of its other callers).
pub const MIGRATE_BATCH: usize = 32;

/// Passes over the list before a page that keeps answering `Again` counts
/// as failed (Linux's NR_MAX_MIGRATE_PAGES_RETRY).
pub const NR_MAX_MIGRATE_PAGES_RETRY: u32 = 10;

/// What [`migrate_pages`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct MigrateResult {
    /// Pages moved.
    pub succeeded: u64,
    /// Pages that stayed where they were (Busy, Again every pass, or no
    /// target page).
    pub failed: u64,
    /// Whether some page failed for want of a target.
    pub no_target: bool,
}

/// Take a reference to the in-use page `pfn` found by a scan, if it is one
/// the migrator can move (isolate_migratepages_block's folio_try_get and
/// LRU test). The caller gives the reference to [`migrate_pages`] or drops
/// it with `put_page`.
pub fn isolate_movable_page<H: Hal>(pa: &PageAllocator<H>, cpu: usize, pfn: Pfn, migrator: &dyn Migrator) -> bool {
    let Some(page) = pa.memmap().pfn_to_page(pfn) else { return false };
    if page.page_ref_count() <= 0 || !migrator.is_movable(page) {
        return false;
    }
    if !page.get_page_unless_zero() {
        return false;
    }
    // The page may have been freed and reused between the test and the
    // reference: test again with the reference held.
    if migrator.is_movable(page) {
        return true;
    }
    if !page.put_ref_nonzero() {
        // Its owner let go meanwhile: ours was the last reference.
        // SAFETY: the reference taken above, given up here; nothing else
        // uses the page through it.
        unsafe { pa.put_page(cpu, pfn) };
    }
    false
}

/// Migrate every page of `pages` (each isolated: a reference held, given
/// up by this call), retrying contended ones up to
/// [`NR_MAX_MIGRATE_PAGES_RETRY`] passes. `get_new(src)` gives a target
/// page (refcount 1) or `None`; `put_new(dst)` takes back a target that was
/// not used. On return every isolation reference has been dropped.
pub fn migrate_pages<H: Hal>(
    pa: &PageAllocator<H>,
    cpu: usize,
    migrator: &dyn Migrator,
    pages: &mut [Pfn],
    get_new: &mut dyn FnMut(Pfn) -> Option<Pfn>,
    put_new: &mut dyn FnMut(Pfn),
) -> MigrateResult {
    let mut result = MigrateResult::default();
    // `pending` is the prefix of `pages` still to try; a pass takes it a
    // batch at a time and packs the pages to retry at its front.
    let mut pending = pages.len();
    for pass in 0..NR_MAX_MIGRATE_PAGES_RETRY {
        let mut again = 0;
        let mut next = 0;
        while next < pending {
            let n = (pending - next).min(MIGRATE_BATCH);
            // Targets first (a page without one fails as Busy at once),
            // then the pages that have one move together.
            let mut pairs = [(Pfn(0), Pfn(0)); MIGRATE_BATCH];
            let mut k = 0;
            for &src in &pages[next..next + n] {
                match get_new(src) {
                    Some(dst) => {
                        pairs[k] = (src, dst);
                        k += 1;
                    }
                    None => {
                        result.no_target = true;
                        result.failed += 1;
                        // SAFETY: the isolation reference the caller gave
                        // us; nothing was changed.
                        unsafe { pa.put_page(cpu, src) };
                    }
                }
            }
            next += n;
            let mut moved = [Err(MigrateError::Busy); MIGRATE_BATCH];
            migrator.migrate_batch(&pairs[..k], &mut moved[..k]);
            for (&(src, dst), &r) in pairs[..k].iter().zip(&moved[..k]) {
                if r.is_err() {
                    put_new(dst);
                }
                match r {
                    Err(MigrateError::Again) if pass + 1 < NR_MAX_MIGRATE_PAGES_RETRY && !result.no_target => {
                        // `again` <= the index `src` was read from (the
                        // batch was copied into `pairs`).
                        pages[again] = src;
                        again += 1;
                        continue;
                    }
                    Ok(()) => result.succeeded += 1,
                    Err(_) => result.failed += 1,
                }
                // SAFETY: the isolation reference the caller gave us; after
                // success nothing maps `src` (the migrator's promise 1),
                // after failure its mappings hold their own references.
                unsafe { pa.put_page(cpu, src) };
            }
        }
        pending = again;
        if pending == 0 {
            break;
        }
    }
    count_vm_events(VmEvent::PgmigrateSuccess, result.succeeded);
    count_vm_events(VmEvent::PgmigrateFail, result.failed);
    result
}

#[cfg(test)]
mod tests {
    use super::{MIGRATE_BATCH, MigrateResult, NR_MAX_MIGRATE_PAGES_RETRY, isolate_movable_page, migrate_pages};
    use crate::addr::Pfn;
    use crate::gfp::Gfp;
    use crate::migrate::{MigrateError, Migrator};
    use crate::page::Page;
    use crate::test_support::*;
    use std::sync::Mutex;

    /// The fake, moving whole batches and recording their sizes.
    struct Batching<'a> {
        inner: FakeMigrator<'a>,
        batches: Mutex<Vec<usize>>,
    }

    // SAFETY: every move is FakeMigrator's, whose promises hold.
    unsafe impl Migrator for Batching<'_> {
        fn is_movable(&self, page: &Page) -> bool {
            self.inner.is_movable(page)
        }
        fn migrate_page(&self, src: Pfn, dst: Pfn) -> Result<(), MigrateError> {
            self.inner.migrate_page(src, dst)
        }
        fn migrate_batch(&self, pairs: &[(Pfn, Pfn)], out: &mut [Result<(), MigrateError>]) {
            assert_eq!(pairs.len(), out.len());
            self.batches.lock().unwrap().push(pairs.len());
            for (o, &(s, d)) in out.iter_mut().zip(pairs) {
                *o = self.inner.migrate_page(s, d);
            }
        }
    }

    fn machine() -> PageAllocator {
        let n = 0x40000;
        build(&[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (n, n + 4096), (0, 0)] }], &[(n, n + 4096)], &[0])
    }

    fn user_page(pa: &PageAllocator, m: &FakeMigrator<'_>, tag: u64) -> Pfn {
        let pfn = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).unwrap();
        m.adopt(pfn, tag);
        pfn
    }

    #[test]
    fn moves_pages_retries_contended_and_refuses_pinned() {
        let pa = machine();
        let m = FakeMigrator::new(&pa);
        let free0 = pa.nr_free_pages();
        let srcs: Vec<Pfn> = (1..=6).map(|t| user_page(&pa, &m, t)).collect();
        m.contend(srcs[1], 3);
        m.contend(srcs[2], NR_MAX_MIGRATE_PAGES_RETRY + 1);
        m.pin(srcs[3]);
        let mut list = Vec::new();
        for &s in &srcs {
            assert!(isolate_movable_page(&pa, 0, s, &m));
            list.push(s);
        }
        let mut targets = Vec::new();
        let mut unused = Vec::new();
        let r = migrate_pages(
            &pa,
            0,
            &m,
            &mut list,
            &mut |_| {
                let d = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).ok()?;
                targets.push(d);
                Some(d)
            },
            &mut |d| unused.push(d),
        );
        assert_eq!(r, MigrateResult { succeeded: 4, failed: 2, no_target: false });
        assert_eq!(m.moves(), 4);
        // The moved sources went back to the allocator; the tags live on.
        let mut tags: Vec<u64> = targets.iter().filter(|d| !unused.contains(d)).filter_map(|&d| m.tag(d)).collect();
        tags.sort();
        assert_eq!(tags, [1, 2, 5, 6]);
        assert_eq!(m.tag(srcs[2]), Some(3));
        assert_eq!(m.tag(srcs[3]), Some(4));
        for d in unused {
            // SAFETY: an unused target, ours.
            unsafe { pa.put_page(0, d) };
        }
        m.unpin(srcs[3]);
        for &d in targets.iter().filter(|&&d| m.tag(d).is_some()) {
            m.release(&pa, d);
        }
        m.release(&pa, srcs[2]);
        m.release(&pa, srcs[3]);
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), free0);
        check(&pa);
    }

    #[test]
    fn pages_go_to_the_migrator_a_batch_at_a_time_and_retries_in_later_passes() {
        let pa = machine();
        let m = Batching { inner: FakeMigrator::new(&pa), batches: Mutex::new(Vec::new()) };
        let free0 = pa.nr_free_pages();
        let n = MIGRATE_BATCH + 8;
        let srcs: Vec<Pfn> = (1..=n as u64).map(|t| user_page(&pa, &m.inner, t)).collect();
        // Two pages of the first batch answer Again once, one of the last
        // batch twice: the second pass retries three pages together, the
        // third one.
        m.inner.contend(srcs[0], 1);
        m.inner.contend(srcs[MIGRATE_BATCH - 1], 1);
        m.inner.contend(srcs[n - 1], 2);
        let mut list = srcs.clone();
        for &s in &list {
            assert!(isolate_movable_page(&pa, 0, s, &m));
        }
        let mut targets = Vec::new();
        let r = migrate_pages(
            &pa,
            0,
            &m,
            &mut list,
            &mut |_| {
                let d = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).ok()?;
                targets.push(d);
                Some(d)
            },
            // SAFETY: an unused target, ours.
            &mut |d| unsafe { pa.put_page(0, d) },
        );
        assert_eq!(r, MigrateResult { succeeded: n as u64, failed: 0, no_target: false });
        assert_eq!(*m.batches.lock().unwrap(), [MIGRATE_BATCH, 8, 3, 1]);
        // An unused target went back and may have come out again.
        targets.sort();
        targets.dedup();
        let mut tags: Vec<u64> = targets.iter().filter_map(|&d| m.inner.tag(d)).collect();
        tags.sort();
        assert_eq!(tags, (1..=n as u64).collect::<Vec<_>>());
        for &d in targets.iter().filter(|&&d| m.inner.tag(d).is_some()) {
            m.inner.release(&pa, d);
        }
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), free0);
        check(&pa);
    }

    #[test]
    fn isolation_skips_free_and_unmovable_pages() {
        let pa = machine();
        let m = FakeMigrator::new(&pa);
        let k = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        assert!(!isolate_movable_page(&pa, 0, k, &m));
        let u = user_page(&pa, &m, 9);
        m.release(&pa, u);
        assert!(!isolate_movable_page(&pa, 0, u, &m));
        // SAFETY: ours.
        unsafe { pa.put_page(0, k) };
    }
}
