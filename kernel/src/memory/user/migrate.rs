//! Moving a private anonymous page to another frame (Linux's
//! migrate_folio_unmap / migrate_folio_move in mm/migrate.c, over the
//! reverse map of `rmap`): the kernel's [`Migrator`], which mm's
//! `migrate_pages`, `alloc_contig_range` (CMA) and compaction drive.
//!
//! ```text
//!   migrate_page(src, dst)              src isolated (the caller's reference)
//!     trylock_page(src)                 PG_locked: one mover per page
//!     family = page_anon_vma(src.mapping); va = src.index << PAGE_SHIFT
//!     try_lock every live mm of the family (the mm lock is Linux's mmap
//!       lock and PTL in one here)
//!     for each: PTE at va maps src -> migration entry, TLB flushed by ASID
//!     mappings found == page_mapcount and references == found + 1 ?
//!       no  -> put the old leaves back: Again (a mapper not found) or
//!              Busy (an extra reference: pinned)
//!     copy src -> dst; dst takes src's rmap words, mappings, references
//!     each migration entry -> a leaf for dst with the old attributes
//!     src: no mapping, only the caller's reference (freed by the caller)
//! ```
//!
//! # Waiting on a migration entry
//!
//! The mover holds the mm lock of every mapper from the first migration
//! entry to the last leaf it writes back, so no walker of those page
//! tables (faults, fork, munmap, mprotect, exit, the reports) ever meets a
//! migration entry: only the MMU does. A task that touches the page in
//! that window faults on the migration entry, and its fault handler waits
//! for the mm lock, that is, until the migration ends, then finds the new
//! leaf and returns (a spurious fault). Linux drops the page-table lock
//! after unmapping and makes such a fault sleep on the folio lock
//! (migration_entry_wait); holding the lock across one page's copy is the
//! simpler protocol, and its cost is one 4 KiB copy of waiting.
//!
//! # Never waiting on a lock
//!
//! Every lock here is taken with a trylock (the page lock, the family
//! list; each mm with a short bounded spin of trylocks): the mover may run
//! in an allocation's slow path (direct compaction) under the allocating
//! task's own mm lock, or under a lock an allocation is made with. Contention is `Again`, which
//! `migrate_pages` retries a bounded number of times. Nothing is allocated
//! either (fixed arrays of at most [`MAX_MAPPERS`] mms). Callers that may
//! sleep (alloc_contig_range, for CMA) back off between their tries with
//! [`Migrator::backoff`]: a short sleep, so that a task holding its mm lock
//! (in a fault on a page just moved) can finish; compaction never calls it.
//!
//! # Differences from Linux
//!
//! Private anonymous order-0 pages only (shared anonymous pages are
//! allocated unmovable, see `anon`); one page per call, so one TLB flush
//! per mapping rather than one per batch.

use super::anon;
use super::mm::{Mm, MmInner};
use super::pgtable::Pte;
use super::rmap;
use crate::memory::pages::pfn_to_page;
use alloc::sync::Arc;
use mm::migrate::{MigrateError, Migrator};
use mm::page::Page;
use mm::{Pfn, VirtAddr};
use spin::MutexGuard;

/// The most address spaces one page may be mapped in for it to be moved
/// (a fork tree wider than this keeps its shared pages where they are).
pub const MAX_MAPPERS: usize = 16;

/// The kernel's page mover; registered with the page allocator at boot.
pub struct UserMigrator;

/// The one instance.
pub static USER_MIGRATOR: UserMigrator = UserMigrator;

/// How a mover that may sleep waits for contended locks to clear (the
/// scheduler's msleep, registered by `process::init`: this folder sits
/// below the scheduler). On QEMU a sleeping vCPU also gives its host
/// thread up, so the vCPU holding the lock gets to run.
static SLEEP: spin::Once<fn(u64)> = spin::Once::new();

/// Register the sleep [`UserMigrator`]'s backoff uses.
pub fn set_sleep_hook(sleep: fn(u64)) {
    SLEEP.call_once(|| sleep);
}

// SAFETY: 1. `migrate_page` returns Ok only after every mapping of `src`
// (all `page_mapcount` of them, found through the reverse map and checked
// against the count) was replaced by a migration entry and flushed from
// every TLB, the contents were copied, each entry became a leaf for `dst`,
// and the references moved: `dst` holds one per mapping (its allocation's
// reference is the first), `src` only the caller's; 2. every refusal puts
// the old leaves back unchanged before returning; 3. every lock is a
// trylock (see the module documentation).
unsafe impl Migrator for UserMigrator {
    fn backoff(&self, retry: u32) {
        let atomic = arch::percpu::preempt_count() != 0 || arch::irqflags::irqs_disabled();
        match SLEEP.get() {
            Some(sleep) if !atomic => sleep(1 << retry.min(4)),
            _ => arch::timer::delay_us(100 << retry.min(4)),
        }
    }

    fn is_movable(&self, page: &Page) -> bool {
        rmap::is_anon_mapping(page.mapping()) && page.page_mapcount() > 0
    }

    fn migrate_page(&self, src: Pfn, dst: Pfn) -> Result<(), MigrateError> {
        let (Some(s), Some(d)) = (pfn_to_page(src), pfn_to_page(dst)) else {
            return Err(MigrateError::Busy);
        };
        if src == dst || !self.is_movable(s) {
            return Err(MigrateError::Busy);
        }
        if !s.trylock_page() {
            return Err(MigrateError::Again);
        }
        let r = move_locked(s, src, d, dst);
        s.unlock_page();
        r
    }
}

/// Try-locks of an mm before giving up with `Again`: a task holds its mm
/// lock for a fault's length (typically one on the page just moved), so a
/// short bounded spin usually outlasts it; bounded, so it cannot deadlock
/// with a holder that waits for this CPU (or with this CPU itself, in
/// direct compaction under its own mm lock).
const MM_TRYLOCK_SPINS: u32 = 2000;

fn try_lock_briefly<T>(m: &spin::Mutex<T>) -> Option<MutexGuard<'_, T>> {
    for _ in 0..MM_TRYLOCK_SPINS {
        if let Some(g) = m.try_lock() {
            return Some(g);
        }
        core::hint::spin_loop();
    }
    None
}

/// The move, with `src`'s page lock held.
fn move_locked(s: &Page, src: Pfn, d: &Page, dst: Pfn) -> Result<(), MigrateError> {
    let mapping = s.mapping();
    let Some(av) = rmap::page_anon_vma::<Mm>(mapping) else {
        return Err(MigrateError::Again);
    };
    let va = VirtAddr(rmap::page_address_in_mm(s.index()));
    let mut mms: [Option<Arc<Mm>>; MAX_MAPPERS] = [const { None }; MAX_MAPPERS];
    let n = match av.snapshot(&mut mms) {
        Ok(Some(n)) => n,
        Ok(None) => return Err(MigrateError::Busy),
        Err(()) => return Err(MigrateError::Again),
    };
    let mut guards: [Option<MutexGuard<'_, MmInner>>; MAX_MAPPERS] = [const { None }; MAX_MAPPERS];
    for (g, mm) in guards.iter_mut().zip(mms.iter()).take(n) {
        let Some(mm) = mm else { continue };
        match try_lock_briefly(&mm.inner) {
            Some(inner) => *g = Some(inner),
            None => return Err(MigrateError::Again),
        }
    }
    // Looked at before the locks: check it still is what it was.
    if s.mapping() != mapping || s.page_mapcount() <= 0 {
        return Err(MigrateError::Busy);
    }

    // Unmap: every PTE of the family at `va` that maps `src`.
    let mut found: [Option<Pte>; MAX_MAPPERS] = [None; MAX_MAPPERS];
    let mut nfound = 0i32;
    for i in 0..n {
        let (Some(g), Some(mm)) = (guards[i].as_mut(), mms[i].as_ref()) else { continue };
        if g.pgtable.is_destroyed() {
            continue;
        }
        if let Some(pte) = g.pgtable.lookup(va)
            && pte.pfn() == src
        {
            g.pgtable.set_migration_entry(mm.asid(), va, pte);
            found[i] = Some(pte);
            nfound += 1;
        }
    }

    // Every mapping and every reference accounted for?
    let (mapcount, refs) = (s.page_mapcount(), s.page_ref_count());
    if nfound == 0 || mapcount != nfound || refs != nfound + 1 {
        for (g, pte) in guards.iter_mut().zip(found.iter()).take(n) {
            if let (Some(g), Some(pte)) = (g.as_mut(), pte) {
                g.pgtable.remove_migration_entry(*pte, src);
            }
        }
        return Err(if mapcount == nfound && refs > nfound + 1 { MigrateError::Busy } else { MigrateError::Again });
    }

    // Move: contents, then the reverse-map words and the counts, then the
    // leaves (the new frame is complete before any PTE names it).
    anon::copy_page(dst, src);
    d.set_index(s.index());
    d.set_mapping(mapping);
    d.set_raw_mapcount(nfound - 1);
    for _ in 1..nfound {
        d.get_page();
    }
    for (g, pte) in guards.iter_mut().zip(found.iter()).take(n) {
        if let (Some(g), Some(pte)) = (g.as_mut(), pte) {
            g.pgtable.remove_migration_entry(*pte, dst);
        }
    }
    s.set_mapping(0);
    s.set_raw_mapcount(-1);
    for _ in 0..nfound {
        // The count was nfound + 1, checked above under every mapper's lock,
        // and no new reference can be taken without a PTE that maps `src`.
        let dropped = s.put_ref_nonzero();
        debug_assert!(dropped);
    }
    Ok(())
}
