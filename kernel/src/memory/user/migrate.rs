//! Moving a private anonymous page to another frame (Linux's
//! migrate_folio_unmap / migrate_folio_move in mm/migrate.c, over the
//! reverse map of `rmap`): the kernel's [`Migrator`], which mm's
//! `migrate_pages`, `alloc_contig_range` (CMA) and compaction drive.
//!
//! ```text
//!   migrate_batch([(src, dst)...])     each src isolated (the caller's
//!                                       reference); BATCH pages at a time
//!     each src: trylock_page            PG_locked: one mover per page
//!       family = page_anon_vma(src.mapping); va = src.index << PAGE_SHIFT
//!       its live mms join the batch's set (each mm once)
//!     try_lock every mm of the set (the mm lock is Linux's mmap lock and
//!       PTL in one here); a page with an mm not locked: Again
//!     each src: every PTE at va that maps src -> migration entry
//!       mappings found == page_mapcount and references == found + 1 ?
//!       no  -> put its old leaves back: Again (a mapper not found) or
//!              Busy (an extra reference: pinned)
//!     one TLB flush per mm that got a migration entry (flush_tlb_mm)
//!     each src left: copy src -> dst; dst takes src's rmap words,
//!       mappings, references; each migration entry -> a leaf for dst
//!       with the old attributes; src: no mapping, only the caller's
//!       reference (freed by the caller)
//! ```
//!
//! # One flush per batch
//!
//! Linux unmaps a batch of folios with TTU_BATCH_FLUSH and flushes once
//! (try_to_unmap_flush) before it copies any of them: on arm64 each page's
//! `tlbi` is issued at unmap and one `dsb` waits for all. Here the flush
//! is `tlbi aside1is` once per address space of the batch, after the last
//! unmap and before the first copy, so no CPU writes a source page through
//! a stale entry once its copy starts. The price is the other entries of
//! those ASIDs, which their tasks refill by table walks; the gain is one
//! broadcast operation per batch instead of one per page, which is what a
//! broadcast costs most on (under QEMU's multi-threaded TCG each one stops
//! every vCPU: a page at a time, moving the memory of four running tasks
//! on eight vCPUs cost about 1 ms a page, almost all of it in the flush).
//!
//! # Waiting on a migration entry
//!
//! The mover holds the mm lock of every mapper of a batch from the first
//! migration entry to the last leaf it writes back, so no walker of those page
//! tables (faults, fork, munmap, mprotect, exit, the reports) ever meets a
//! migration entry: only the MMU does. A task that touches the page in
//! that window faults on the migration entry, and its fault handler waits
//! for the mm lock, that is, until the migration ends, then finds the new
//! leaf and returns (a spurious fault). Linux drops the page-table lock
//! after unmapping and makes such a fault sleep on the folio lock
//! (migration_entry_wait); holding the lock across one page's copy is the
//! simpler protocol, and its cost is at most a batch of 4 KiB copies of
//! waiting.
//!
//! # Never waiting on a lock
//!
//! Every lock here is taken with a trylock (the page lock, the family
//! list; each mm with a short bounded spin of trylocks): the mover may run
//! in an allocation's slow path (direct compaction) under the allocating
//! task's own mm lock, or under a lock an allocation is made with. Contention is `Again`, which
//! `migrate_pages` retries a bounded number of times. Nothing is allocated
//! either (fixed arrays: [`BATCH`] pages, [`MAX_MAPPERS`] mms,
//! [`BATCH_PTES`] mappings, about 3 KiB of stack). Callers that may
//! sleep (alloc_contig_range, for CMA) back off between their tries with
//! [`Migrator::backoff`]: a short sleep, so that a task holding its mm lock
//! (in a fault on a page just moved) can finish; compaction never calls it.
//!
//! # Differences from Linux
//!
//! Private anonymous order-0 pages only (shared anonymous pages are
//! allocated unmovable, see `anon`); batches of [`BATCH`] pages over at
//! most [`MAX_MAPPERS`] address spaces (Linux: 512 folios, any number).

use super::anon;
use super::mm::{Mm, MmInner};
use super::pgtable::{self, Pte};
use super::rmap;
use crate::memory::pages::pfn_to_page;
use alloc::sync::Arc;
use mm::migrate::{MigrateError, Migrator};
use mm::page::Page;
use mm::{Pfn, VirtAddr};
use spin::MutexGuard;

/// The most address spaces one page may be mapped in for it to be moved
/// (a fork tree wider than this keeps its shared pages where they are),
/// and the most one batch locks.
pub const MAX_MAPPERS: usize = 16;

/// Pages unmapped before one flush: as many as migrate_pages hands over
/// at once.
pub const BATCH: usize = mm::migrate::MIGRATE_BATCH;

/// Mappings one batch may replace by migration entries. Every page of a
/// batch counts the size of its family, so a batch of pages mapped in one
/// mm each always fits; pages shared after fork end a batch early.
pub const BATCH_PTES: usize = BATCH + BATCH / 2;

// A batch's mm set is a u16 mask, and a page of the largest family fits
// an empty batch.
const _: () = assert!(MAX_MAPPERS <= 16 && BATCH_PTES >= MAX_MAPPERS);

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

// SAFETY: 1. a pair's result is Ok only after every mapping of `src` (all
// `page_mapcount` of them, found through the reverse map and checked
// against the count) was replaced by a migration entry, the TLBs of its
// mms were flushed, the contents were copied, each entry became a leaf
// for `dst`, and the references moved: `dst` holds one per mapping (its
// allocation's reference is the first), `src` only the caller's; 2. every
// refusal puts the old leaves back unchanged (the same descriptors, so a
// TLB entry still cached for them is still right); 3. every lock is a
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
        let mut out = [Err(MigrateError::Busy)];
        self.migrate_batch(&[(src, dst)], &mut out);
        out[0]
    }

    fn migrate_batch(&self, pairs: &[(Pfn, Pfn)], out: &mut [Result<(), MigrateError>]) {
        let mut done = 0;
        while done < pairs.len() {
            done += move_batch(&pairs[done..], &mut out[done..]);
        }
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

/// A page of a batch, locked, its family's mms in the batch's set.
struct Candidate {
    src: Pfn,
    dst: Pfn,
    s: &'static Page,
    d: &'static Page,
    /// `src`'s mapping word when it was locked.
    mapping: u64,
    /// Keeps the family (the mapping word's referent) alive.
    _family: Arc<rmap::AnonVma<Mm>>,
    /// Which of the batch's mms are in the family (a bit per index into
    /// its set of at most MAX_MAPPERS).
    mms: u16,
    /// Its migration entries: `ptes[first..first + nfound]`.
    first: usize,
    nfound: usize,
}

/// Move the first pages of `pairs` (at least one, at most [`BATCH`]),
/// setting their results; returns how many it took.
fn move_batch(pairs: &[(Pfn, Pfn)], out: &mut [Result<(), MigrateError>]) -> usize {
    let mut mms: [Option<Arc<Mm>>; MAX_MAPPERS] = [const { None }; MAX_MAPPERS];
    let mut nmms = 0;
    let mut cands: [Option<Candidate>; BATCH] = [const { None }; BATCH];
    let mut budget = BATCH_PTES;
    let mut taken = 0;

    // Lock the pages and gather their address spaces.
    for (j, &(src, dst)) in pairs.iter().enumerate().take(BATCH) {
        match lock_candidate(src, dst, &mut mms, &mut nmms, &mut budget) {
            Gather::Taken(c) => cands[j] = Some(c),
            Gather::Refused(e) => out[j] = Err(e),
            // The batch is full: this page starts the next one.
            Gather::Full if j > 0 => break,
            // Cannot happen (a page of the largest family fits an empty
            // batch); refused rather than looping.
            Gather::Full => out[j] = Err(MigrateError::Busy),
        }
        taken = j + 1;
    }

    // Lock the address spaces (briefly spinning trylocks, each mm once).
    let mut guards: [Option<MutexGuard<'_, MmInner>>; MAX_MAPPERS] = [const { None }; MAX_MAPPERS];
    let mut locked = 0u16;
    for (k, (g, mm)) in guards.iter_mut().zip(mms.iter()).take(nmms).enumerate() {
        if let Some(mm) = mm
            && let Some(inner) = try_lock_briefly(&mm.inner)
        {
            *g = Some(inner);
            locked |= 1 << k;
        }
    }

    // Unmap: every PTE of each page's family that maps it; a page whose
    // count does not add up gets its leaves back at once.
    let mut ptes: [Option<(u8, Pte)>; BATCH_PTES] = [None; BATCH_PTES];
    let mut nptes = 0;
    let mut to_flush = 0u16;
    for (j, slot) in cands.iter_mut().enumerate().take(taken) {
        let Some(c) = slot else { continue };
        let r = unmap_candidate(c, locked, &mut guards, &mut ptes, &mut nptes);
        match r {
            Ok(mask) => to_flush |= mask,
            Err(e) => {
                out[j] = Err(e);
                c.s.unlock_page();
                *slot = None;
            }
        }
    }

    // One flush per address space, before any copy.
    for (k, mm) in mms.iter().enumerate().take(nmms) {
        if to_flush & (1 << k) != 0
            && let Some(mm) = mm
        {
            pgtable::flush_tlb_mm(mm.asid());
        }
    }

    // Move: contents, then the reverse-map words and the counts, then the
    // leaves (the new frame is complete before any PTE names it).
    for (j, slot) in cands.iter_mut().enumerate().take(taken) {
        let Some(c) = slot.take() else { continue };
        let (s, d) = (c.s, c.d);
        anon::copy_page(c.dst, c.src);
        d.set_index(s.index());
        d.set_mapping(c.mapping);
        let nfound = c.nfound as i32;
        d.set_raw_mapcount(nfound - 1);
        for _ in 1..nfound {
            d.get_page();
        }
        for (k, pte) in ptes[c.first..c.first + c.nfound].iter().flatten() {
            if let Some(g) = guards[usize::from(*k)].as_mut() {
                g.pgtable.remove_migration_entry(*pte, c.dst);
            }
        }
        s.set_mapping(0);
        s.set_raw_mapcount(-1);
        for _ in 0..nfound {
            // The count was nfound + 1, checked under every mapper's lock,
            // and no new reference can be taken without a PTE that maps
            // `src`.
            let dropped = s.put_ref_nonzero();
            debug_assert!(dropped);
        }
        s.unlock_page();
        out[j] = Ok(());
    }
    taken
}

/// What [`lock_candidate`] made of a page.
enum Gather {
    Taken(Candidate),
    Refused(MigrateError),
    Full,
}

/// Lock `src` and add its family's mms to the batch's set, if they fit.
fn lock_candidate(
    src: Pfn,
    dst: Pfn,
    mms: &mut [Option<Arc<Mm>>; MAX_MAPPERS],
    nmms: &mut usize,
    budget: &mut usize,
) -> Gather {
    let (Some(s), Some(d)) = (pfn_to_page(src), pfn_to_page(dst)) else {
        return Gather::Refused(MigrateError::Busy);
    };
    if src == dst || !USER_MIGRATOR.is_movable(s) {
        return Gather::Refused(MigrateError::Busy);
    }
    if !s.trylock_page() {
        return Gather::Refused(MigrateError::Again);
    }
    let refuse = |e| {
        s.unlock_page();
        Gather::Refused(e)
    };
    let mapping = s.mapping();
    let Some(family) = rmap::page_anon_vma::<Mm>(mapping) else {
        return refuse(MigrateError::Again);
    };
    let mut fam: [Option<Arc<Mm>>; MAX_MAPPERS] = [const { None }; MAX_MAPPERS];
    let n = match family.snapshot(&mut fam) {
        Ok(Some(n)) => n,
        Ok(None) => return refuse(MigrateError::Busy),
        Err(()) => return refuse(MigrateError::Again),
    };
    let find =
        |mms: &[Option<Arc<Mm>>], mm: &Arc<Mm>| mms.iter().position(|m| m.as_ref().is_some_and(|m| Arc::ptr_eq(m, mm)));
    let new = fam.iter().take(n).flatten().filter(|mm| find(&mms[..*nmms], mm).is_none()).count();
    if *nmms + new > MAX_MAPPERS || n > *budget {
        s.unlock_page();
        return Gather::Full;
    }
    let mut mask = 0u16;
    for mm in fam.into_iter().take(n).flatten() {
        let k = match find(&mms[..*nmms], &mm) {
            Some(k) => k,
            None => {
                mms[*nmms] = Some(mm);
                *nmms += 1;
                *nmms - 1
            }
        };
        mask |= 1 << k;
    }
    *budget -= n;
    Gather::Taken(Candidate { src, dst, s, d, mapping, _family: family, mms: mask, first: 0, nfound: 0 })
}

/// Replace every PTE of `c`'s family that maps it by a migration entry
/// (no flush), if all its mms are locked and the counts add up; returns
/// the mms that got an entry. On `Err` nothing is changed.
fn unmap_candidate(
    c: &mut Candidate,
    locked: u16,
    guards: &mut [Option<MutexGuard<'_, MmInner>>; MAX_MAPPERS],
    ptes: &mut [Option<(u8, Pte)>; BATCH_PTES],
    nptes: &mut usize,
) -> Result<u16, MigrateError> {
    if c.mms & !locked != 0 {
        return Err(MigrateError::Again);
    }
    let s = c.s;
    // Looked at before the locks: check it still is what it was.
    if s.mapping() != c.mapping || s.page_mapcount() <= 0 {
        return Err(MigrateError::Busy);
    }
    let va = VirtAddr(rmap::page_address_in_mm(s.index()));
    let first = *nptes;
    let mut mask = 0u16;
    for (k, g) in guards.iter_mut().enumerate() {
        let Some(g) = g.as_mut().filter(|_| c.mms & (1 << k) != 0) else { continue };
        if g.pgtable.is_destroyed() {
            continue;
        }
        if let Some(pte) = g.pgtable.lookup(va)
            && pte.pfn() == c.src
        {
            g.pgtable.set_migration_entry(pte);
            ptes[*nptes] = Some((k as u8, pte));
            *nptes += 1;
            mask |= 1 << k;
        }
    }
    let nfound = (*nptes - first) as i32;
    // Every mapping and every reference accounted for?
    let (mapcount, refs) = (s.page_mapcount(), s.page_ref_count());
    if nfound == 0 || mapcount != nfound || refs != nfound + 1 {
        for (k, pte) in ptes[first..*nptes].iter().flatten() {
            if let Some(g) = guards[usize::from(*k)].as_mut() {
                g.pgtable.remove_migration_entry(*pte, c.src);
            }
        }
        *nptes = first;
        return Err(if mapcount == nfound && refs > nfound + 1 { MigrateError::Busy } else { MigrateError::Again });
    }
    c.first = first;
    c.nfound = nfound as usize;
    Ok(mask)
}
