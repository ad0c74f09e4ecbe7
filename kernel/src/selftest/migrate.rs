//! The `migrate` suite: the kernel's migrator on real page tables. Each
//! test builds user address spaces (not running: their pages are faulted
//! in by the handler directly), fills their pages with a pattern, moves
//! them with mm's `migrate_pages` and checks the PTEs, the contents, the
//! counts and that every page is back afterwards.

use super::harness::{PageCounts, Test, TestResult};
use crate::memory::page_alloc::allocator;
use crate::memory::pages::{alloc_pages, pfn_to_page};
use crate::memory::user::fault::{FaultResult, handle_user_fault};
use crate::memory::user::migrate::USER_MIGRATOR;
use crate::memory::user::mm::{Mm, new_shmem_id};
use crate::memory::user::uaccess::TASK_SIZE;
use crate::memory::user::{anon, commit, rmap};
use crate::{check, check_eq, fail};
use alloc::sync::Arc;
use alloc::vec::Vec;
use mm::gfp::Gfp;
use mm::migrate::{MigrateResult, Migrator, isolate_movable_page, migrate_pages};
use mm::mmap::fault::FaultKind;
use mm::mmap::flags::{MAP_ANONYMOUS, MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE};
use mm::mmap::{AddressSpace, MmLayout};
use mm::vmstat::{VmEvent, vm_event};
use mm::{PAGE_SIZE, Pfn, VirtAddr};

pub const TESTS: &[Test] = &[
    Test { suite: "migrate", name: "migration_entry_encoding", run: migration_entry_encoding },
    Test { suite: "migrate", name: "moves_private_pages", run: moves_private_pages },
    Test { suite: "migrate", name: "moves_page_shared_by_fork", run: moves_page_shared_by_fork },
    Test { suite: "migrate", name: "pinned_page_is_busy", run: pinned_page_is_busy },
    Test { suite: "migrate", name: "locked_mm_is_contended", run: locked_mm_is_contended },
    Test { suite: "migrate", name: "one_batch_moves_each_page_on_its_own", run: one_batch_moves_each_page_on_its_own },
    Test { suite: "migrate", name: "shared_anonymous_is_unmovable", run: shared_anonymous_is_unmovable },
];

const PAGES: u64 = 32;

/// An mm with one anonymous mapping of `pages`, every page written.
fn filled_mm(pages: u64, shared: bool) -> Result<(Arc<Mm>, u64), alloc::string::String> {
    let mut aspace = AddressSpace::new(MmLayout::arm64(TASK_SIZE, 0));
    let kind = if shared { MAP_SHARED } else { MAP_PRIVATE };
    let r = aspace
        .mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, kind | MAP_ANONYMOUS, 0, commit(), &mut new_shmem_id)
        .map_err(|e| alloc::format!("mmap: {e}"))?;
    let mm = Mm::new(aspace).map_err(|e| alloc::format!("Mm::new: {e}"))?;
    if let Some(new) = r.shmem {
        mm.inner.lock().add_shmem(new.id, 0);
    }
    for i in 0..pages {
        let va = r.addr + i * PAGE_SIZE;
        if handle_user_fault(&mm, va, FaultKind::Write) != FaultResult::Handled {
            fail!("fault at {va:#x} not handled");
        }
        let pfn = pfn_at(&mm, va).ok_or("no PTE after the fault")?;
        write_pattern(pfn, va);
    }
    Ok((mm, r.addr))
}

fn pattern(va: u64, word: u64) -> u64 {
    (va + word * 8).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0x5eed
}

fn write_pattern(pfn: Pfn, va: u64) {
    let mut buf = [0u8; PAGE_SIZE as usize];
    for (w, chunk) in buf.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&pattern(va, w as u64).to_le_bytes());
    }
    anon::write_page(pfn, 0, &buf);
}

/// The first word of the page at `va` in `mm` that is not its pattern.
fn check_pattern(mm: &Mm, va: u64) -> TestResult {
    let _g = mm.inner.lock();
    let pfn = _g.pgtable.lookup(VirtAddr(va)).map(|p| p.pfn()).ok_or("page not mapped")?;
    let mut buf = [0u8; PAGE_SIZE as usize];
    anon::read_page(pfn, 0, &mut buf);
    for (w, chunk) in buf.chunks_exact(8).enumerate() {
        let got = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if got != pattern(va, w as u64) {
            fail!("{:#x}: {got:#x}, expected {:#x}", va + w as u64 * 8, pattern(va, w as u64));
        }
    }
    Ok(())
}

fn pfn_at(mm: &Mm, va: u64) -> Option<Pfn> {
    mm.inner.lock().pgtable.lookup(VirtAddr(va)).map(|p| p.pfn())
}

/// Isolate `pfns` and migrate them to fresh pages.
fn migrate(pfns: &[Pfn]) -> Result<MigrateResult, alloc::string::String> {
    let pa = allocator();
    let cpu = arch::percpu::smp_processor_id();
    let mut list = Vec::new();
    for &pfn in pfns {
        check!(isolate_movable_page(pa, cpu, pfn, &USER_MIGRATOR), "pfn {:#x} not isolated", pfn.0);
        list.push(pfn);
    }
    let r = migrate_pages(
        pa,
        cpu,
        &USER_MIGRATOR,
        &mut list,
        &mut |_| alloc_pages(Gfp::HIGHUSER_MOVABLE, 0).ok().map(|p| p.into_raw().0),
        &mut |dst| {
            // SAFETY: an unused target from the closure above; nothing maps it.
            drop(unsafe { crate::memory::pages::Pages::from_raw(dst, 0) })
        },
    );
    Ok(r)
}

fn counts(pfn: Pfn) -> (i32, i32) {
    pfn_to_page(pfn).map_or((0, 0), |p| (p.page_mapcount(), p.page_ref_count()))
}

fn migration_entry_encoding() -> TestResult {
    for (pa, w) in [(0x4000_0000u64, true), (0xff_ffff_f000, false), (0x1000, true)] {
        let e = arch::pte::mk_migration_entry(mm::PhysAddr(pa), w);
        check!(e != 0, "a migration entry must not read as pte_none");
        check_eq!(e & 1, 0);
        check_eq!(arch::pte::migration_entry(e), Some((mm::PhysAddr(pa), w)));
        check_eq!(arch::pte::migration_entry(e | 1), None);
    }
    check_eq!(arch::pte::migration_entry(0), None);
    Ok(())
}

fn moves_private_pages() -> TestResult {
    let before = PageCounts::now();
    let families = rmap::nr_families();
    let success = vm_event(VmEvent::PgmigrateSuccess);
    {
        let (mm, base) = filled_mm(PAGES, false)?;
        let old: Vec<Pfn> = (0..PAGES).filter_map(|i| pfn_at(&mm, base + i * PAGE_SIZE)).collect();
        check_eq!(old.len() as u64, PAGES);
        let r = migrate(&old)?;
        check_eq!(r, MigrateResult { succeeded: PAGES, failed: 0, no_target: false });
        for i in 0..PAGES {
            let va = base + i * PAGE_SIZE;
            let new = pfn_at(&mm, va).ok_or("page lost its PTE")?;
            check!(new != old[i as usize], "{va:#x} still maps its old frame {:#x}", new.0);
            check_eq!(counts(new), (1, 1));
            check_pattern(&mm, va)?;
        }
        check!(vm_event(VmEvent::PgmigrateSuccess) >= success + PAGES, "pgmigrate_success not counted");
        // The moved pages keep working: a write fault reuses them in place.
        check_eq!(handle_user_fault(&mm, base, FaultKind::Write), FaultResult::Handled);
    }
    check_eq!(rmap::nr_families(), families);
    PageCounts::now().check_back_to(&before)
}

fn moves_page_shared_by_fork() -> TestResult {
    let before = PageCounts::now();
    {
        let (parent, base) = filled_mm(4, false)?;
        let child = crate::process::fork::dup_mm(&parent).map_err(|e| alloc::format!("dup_mm: {e:?}"))?;
        let old = pfn_at(&parent, base).ok_or("no page")?;
        check_eq!(pfn_at(&child, base), Some(old));
        check_eq!(counts(old), (2, 2));
        let r = migrate(&[old])?;
        check_eq!(r.succeeded, 1);
        let new = pfn_at(&parent, base).ok_or("parent lost the page")?;
        check!(new != old, "not moved");
        check_eq!(pfn_at(&child, base), Some(new));
        check_eq!(counts(new), (2, 2));
        check_pattern(&parent, base)?;
        check_pattern(&child, base)?;
        // COW still breaks: the child's write gets its own copy.
        check_eq!(handle_user_fault(&child, base, FaultKind::Write), FaultResult::Handled);
        let copy = pfn_at(&child, base).ok_or("child lost the page")?;
        check!(copy != new, "the child's write did not copy");
        check_eq!(counts(new), (1, 1));
        check_pattern(&child, base)?;
        check_pattern(&parent, base)?;
    }
    PageCounts::now().check_back_to(&before)
}

fn pinned_page_is_busy() -> TestResult {
    let before = PageCounts::now();
    let fail0 = vm_event(VmEvent::PgmigrateFail);
    {
        let (mm, base) = filled_mm(2, false)?;
        let pfn = pfn_at(&mm, base).ok_or("no page")?;
        let page = pfn_to_page(pfn).ok_or("no descriptor")?;
        page.get_page(); // a pin, as get_user_pages takes
        let r = migrate(&[pfn])?;
        check_eq!(r, MigrateResult { succeeded: 0, failed: 1, no_target: false });
        check_eq!(pfn_at(&mm, base), Some(pfn));
        check_eq!(counts(pfn), (1, 2));
        check_pattern(&mm, base)?;
        check!(vm_event(VmEvent::PgmigrateFail) > fail0, "pgmigrate_fail not counted");
        check!(page.put_ref_nonzero(), "the pin was the last reference");
        check_eq!(migrate(&[pfn])?.succeeded, 1);
        check_pattern(&mm, base)?;
    }
    PageCounts::now().check_back_to(&before)
}

fn locked_mm_is_contended() -> TestResult {
    let before = PageCounts::now();
    {
        let (mm, base) = filled_mm(1, false)?;
        let pfn = pfn_at(&mm, base).ok_or("no page")?;
        let r = {
            let _held = mm.inner.lock();
            migrate(&[pfn])?
        };
        check_eq!(r, MigrateResult { succeeded: 0, failed: 1, no_target: false });
        check_eq!(pfn_at(&mm, base), Some(pfn));
        check_eq!(counts(pfn), (1, 1));
        check_pattern(&mm, base)?;
    }
    PageCounts::now().check_back_to(&before)
}

/// One batch (fewer pages than MIGRATE_BATCH) over four address spaces:
/// private pages, pages shared by fork, a pinned page and the pages of a
/// locked mm. The pinned and the locked ones stay; the rest move, under
/// one TLB flush per address space.
fn one_batch_moves_each_page_on_its_own() -> TestResult {
    let before = PageCounts::now();
    {
        let (a, abase) = filled_mm(8, false)?;
        let (b, bbase) = filled_mm(4, false)?;
        let child = crate::process::fork::dup_mm(&b).map_err(|e| alloc::format!("dup_mm: {e:?}"))?;
        let (c, cbase) = filled_mm(2, false)?;
        let va = |base: u64, i: u64| base + i * PAGE_SIZE;
        let old_a: Vec<Pfn> = (0..8).filter_map(|i| pfn_at(&a, va(abase, i))).collect();
        let old_b: Vec<Pfn> = (0..4).filter_map(|i| pfn_at(&b, va(bbase, i))).collect();
        let old_c: Vec<Pfn> = (0..2).filter_map(|i| pfn_at(&c, va(cbase, i))).collect();
        check_eq!((old_a.len(), old_b.len(), old_c.len()), (8, 4, 2));
        let pinned = pfn_to_page(old_a[3]).ok_or("no descriptor")?;
        pinned.get_page();
        // Interleaved, so that every kind sits between others.
        let mut list = Vec::new();
        for i in 0..8 {
            list.push(old_a[i]);
            if i < 4 {
                list.push(old_b[i]);
            }
            if i < 2 {
                list.push(old_c[i]);
            }
        }
        check!(list.len() <= mm::migrate::MIGRATE_BATCH, "the list must be one batch");
        let r = {
            let _held = c.inner.lock();
            migrate(&list)?
        };
        check_eq!(r, MigrateResult { succeeded: 7 + 4, failed: 1 + 2, no_target: false });
        for (i, &old) in old_a.iter().enumerate() {
            let v = va(abase, i as u64);
            let now = pfn_at(&a, v).ok_or("a page lost its PTE")?;
            if i == 3 {
                check_eq!(now, old);
                check_eq!(counts(old), (1, 2));
            } else {
                check!(now != old, "{v:#x} was not moved");
                check_eq!(counts(now), (1, 1));
            }
            check_pattern(&a, v)?;
        }
        for (i, &old) in old_b.iter().enumerate() {
            let v = va(bbase, i as u64);
            let now = pfn_at(&b, v).ok_or("a shared page lost its PTE")?;
            check!(now != old, "{v:#x} (shared by fork) was not moved");
            check_eq!(pfn_at(&child, v), Some(now));
            check_eq!(counts(now), (2, 2));
            check_pattern(&b, v)?;
            check_pattern(&child, v)?;
        }
        for (i, &old) in old_c.iter().enumerate() {
            let v = va(cbase, i as u64);
            check_eq!(pfn_at(&c, v), Some(old));
            check_eq!(counts(old), (1, 1));
            check_pattern(&c, v)?;
        }
        check!(pinned.put_ref_nonzero(), "the pin was the last reference");
    }
    PageCounts::now().check_back_to(&before)
}

fn shared_anonymous_is_unmovable() -> TestResult {
    let before = PageCounts::now();
    {
        let (mm, base) = filled_mm(1, true)?;
        let pfn = pfn_at(&mm, base).ok_or("no page")?;
        let page = pfn_to_page(pfn).ok_or("no descriptor")?;
        check!(!USER_MIGRATOR.is_movable(page), "a shmem page claims to be movable");
        let pa = allocator();
        check!(
            pa.pageblock_migratetype(pfn) != Some(mm::zone::MigrateType::Cma),
            "a shmem page landed in a CMA pageblock"
        );
    }
    PageCounts::now().check_back_to(&before)
}
