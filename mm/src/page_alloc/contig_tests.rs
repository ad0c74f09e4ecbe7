//! Host tests of page isolation (isolation.rs) and contiguous ranges
//! (contig.rs), over the fake migrator's user pages.

use std::collections::{BTreeMap, BTreeSet};

use crate::addr::Pfn;
use crate::config::{MAX_PAGE_ORDER, NodeId, PAGEBLOCK_NR_PAGES as PB};
use crate::error::Error;
use crate::gfp::Gfp;
use crate::migrate::NR_MAX_MIGRATE_PAGES_RETRY;
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::PageFlags;
use crate::test_support::*;
use crate::zone::Zone;

use super::{AllocatorFlags, CONTIG_MIGRATE_TRIES, IsolateFlags};

const N: u64 = 0x40000;
const SIZE: u64 = 4096;

fn machine() -> PageAllocator {
    build(&[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (N, N + SIZE), (0, 0)] }], &[(N, N + SIZE)], &[0])
}

fn normal(pa: &PageAllocator) -> &Zone {
    pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal)
}

/// NR_FREE_PAGES of every zone, with the pcp lists drained first.
fn free_pages(pa: &PageAllocator) -> u64 {
    pa.drain_all_pages();
    pa.nr_free_pages()
}

/// The type of every pageblock of `[start, end)`.
fn types(pa: &PageAllocator, start: u64, end: u64) -> Vec<MigrateType> {
    (start..end).step_by(PB as usize).map(|p| pa.pageblock_migratetype(Pfn(p)).unwrap()).collect()
}

/// Every user page as (pfn, tag).
fn user_tags(m: &FakeMigrator<'_>, start: u64, end: u64) -> BTreeMap<u64, u64> {
    (start..end).filter_map(|p| m.tag(Pfn(p)).map(|t| (p, t))).collect()
}

/// The tags alone, sorted: what must survive any migration.
fn tag_multiset(tags: &BTreeMap<u64, u64>) -> Vec<u64> {
    let mut v: Vec<u64> = tags.values().copied().collect();
    v.sort();
    v
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Role {
    Free,
    User(u64),
    Kernel,
}

/// Allocate every page of the machine (ignoring watermarks), then make
/// each what `role` says: a user page with a tag, a page kept as it is
/// (in use, not movable: a kernel page), or free again. Returns the kept
/// kernel pages.
fn place(pa: &PageAllocator, m: &FakeMigrator<'_>, role: impl Fn(u64) -> Role) -> Vec<Pfn> {
    let mut all = Vec::new();
    while let Ok(p) = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE | Gfp::MEMALLOC | Gfp::NOWARN, 0) {
        all.push(p);
    }
    let total: u64 = pa.all_zones().map(Zone::managed_pages).sum();
    assert_eq!(all.len() as u64, total, "place: not every page could be allocated");
    let mut kernel = Vec::new();
    for p in all {
        match role(p.0) {
            Role::Free => pa.test_free_pages(0, p, 0),
            Role::User(tag) => m.adopt(p, tag),
            Role::Kernel => kernel.push(p),
        }
    }
    pa.drain_all_pages();
    check(pa);
    kernel
}

/// Release every user page and kernel page: back to an empty machine.
fn release_all(pa: &PageAllocator, m: &FakeMigrator<'_>, kernel: &[Pfn]) {
    for p in user_tags(m, N, N + SIZE).keys() {
        m.release(pa, Pfn(*p));
    }
    for &k in kernel {
        pa.test_free_pages(0, k, 0);
    }
    pa.drain_all_pages();
}

/// Every page of `[s, e)` is an allocated order-0 page with one reference.
fn assert_allocated(pa: &PageAllocator, m: &FakeMigrator<'_>, s: u64, e: u64) {
    for p in s..e {
        let page = pa.memmap().pfn_to_page(Pfn(p)).unwrap();
        assert_eq!(page.page_ref_count(), 1, "{p:#x} refcount");
        assert!(m.tag(Pfn(p)).is_none(), "{p:#x} still a user page");
        assert!(!page.is_head() && !page.is_tail());
    }
}

fn free_range(pa: &PageAllocator, s: u64, e: u64) {
    // SAFETY: the caller's alloc_contig_range gave us these pages, which
    // nothing else uses.
    unsafe { pa.free_contig_range(0, Pfn(s), e - s) };
}

#[test]
fn free_only_range_is_handed_out_page_by_page_and_comes_back_whole() {
    let pa = machine();
    let f = free_pages(&pa);
    let (s, e) = (N + PB, N + 3 * PB);
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, None).unwrap();
    let m = FakeMigrator::new(&pa);
    assert_allocated(&pa, &m, s, e);
    assert_eq!(free_pages(&pa), f - (e - s));
    assert_eq!(types(&pa, N, N + SIZE), vec![MigrateType::Movable; (SIZE / PB) as usize]);
    check(&pa);
    free_range(&pa, s, e);
    assert_eq!(free_pages(&pa), f);
    let (blocks, _) = check(&pa);
    assert_eq!(blocks.iter().filter(|b| b.order == MAX_PAGE_ORDER).count() as u64, SIZE >> MAX_PAGE_ORDER);
}

#[test]
fn pcp_pages_of_an_isolated_pageblock_drain_to_the_isolate_lists() {
    let pa = machine();
    let zone = normal(&pa);
    // Twenty pages onto CPU 0's pcp list.
    let pages: Vec<Pfn> = (0..20).map(|_| pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()).collect();
    for &p in &pages {
        pa.test_free_pages(0, p, 0);
    }
    let pcp: Vec<u64> = zone.pcp_blocks(pa.memmap(), 0).iter().map(|&(p, _)| p).collect();
    assert!(pages.iter().all(|p| pcp.contains(&p.0)));
    let pb = pages[0].0 & !(PB - 1);
    let in_block = |p: u64| (pb..pb + PB).contains(&p);
    let on_pcp_in_block = pcp.iter().filter(|&&p| in_block(p)).count() as u64;
    assert!(on_pcp_in_block > 0);
    let (blocks, _) = check(&pa);
    let buddy_in_block: u64 = blocks.iter().filter(|b| in_block(b.pfn)).map(|b| 1u64 << b.order).sum();
    let before = zone.free_pages();
    // Isolate without draining, as a racing CPU would see it.
    let v = pa.memmap().valid(pb).unwrap();
    zone.set_pageblock_isolate(pa.memmap(), v).unwrap();
    assert_eq!(zone.free_pages(), before - buddy_in_block);
    assert_eq!(zone.pcp_blocks(pa.memmap(), 0).len(), pcp.len(), "isolation itself leaves the pcp lists alone");
    pa.drain_all_pages();
    let (blocks, pcp_after) = check(&pa);
    assert!(pcp_after.is_empty());
    // Every page of the pageblock is free on an ISOLATE list now, and none
    // of them counts as free.
    let isolated: u64 = blocks
        .iter()
        .filter(|b| b.mt == MigrateType::Isolate)
        .inspect(|b| assert!(in_block(b.pfn)))
        .map(|b| 1 << b.order)
        .sum();
    assert_eq!(isolated, buddy_in_block + on_pcp_in_block);
    assert_eq!(isolated, PB);
    pa.test_pages_isolated(Pfn(pb), Pfn(pb + PB), IsolateFlags::empty()).unwrap();
    assert_eq!(zone.free_pages(), before - buddy_in_block + (pcp.len() as u64 - on_pcp_in_block));
    pa.undo_isolate_page_range(Pfn(pb), Pfn(pb + PB), MigrateType::Movable);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn pages_on_pcp_lists_in_the_range_are_allocated_too() {
    let pa = machine();
    let pages: Vec<Pfn> = (0..40).map(|_| pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).unwrap()).collect();
    for &p in &pages {
        pa.test_free_pages(0, p, 0);
    }
    let (_, pcp) = check(&pa);
    let pb = pages[0].0 & !(PB - 1);
    assert!(pcp.iter().any(|&(p, _)| (pb..pb + PB).contains(&p)));
    pa.alloc_contig_range(0, Pfn(pb), Pfn(pb + PB), MigrateType::Movable, Gfp::KERNEL, None).unwrap();
    let m = FakeMigrator::new(&pa);
    assert_allocated(&pa, &m, pb, pb + PB);
    assert_eq!(free_pages(&pa), SIZE - PB);
    check(&pa);
    free_range(&pa, pb, pb + PB);
    assert_eq!(free_pages(&pa), SIZE);
}

/// Users at every third page of pageblocks 1 and 2 and at every fifth
/// page elsewhere, the rest free.
fn users_everywhere(p: u64) -> Role {
    let i = p - N;
    if (PB..3 * PB).contains(&i) && i.is_multiple_of(3) || i.is_multiple_of(5) { Role::User(i + 1) } else { Role::Free }
}

#[test]
fn movable_user_pages_are_migrated_out_with_their_tags() {
    let pa = machine();
    let m = FakeMigrator::new(&pa);
    let kernel = place(&pa, &m, users_everywhere);
    let (s, e) = (N + PB, N + 3 * PB);
    let f = free_pages(&pa);
    let tags = user_tags(&m, N, N + SIZE);
    let in_range = tags.keys().filter(|&&p| (s..e).contains(&p)).count() as u64;
    assert!(in_range > 300);
    let types_before = types(&pa, N, N + SIZE);
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)).unwrap();
    assert_eq!(m.moves(), in_range);
    let after = user_tags(&m, N, N + SIZE);
    assert_eq!(tag_multiset(&after), tag_multiset(&tags));
    assert!(after.keys().all(|p| !(s..e).contains(p)));
    // Users outside the range did not move.
    for (p, t) in tags.iter().filter(|(p, _)| !(s..e).contains(*p)) {
        assert_eq!(after.get(p), Some(t));
    }
    assert_allocated(&pa, &m, s, e);
    assert_eq!(free_pages(&pa), f - (e - s));
    assert_eq!(types(&pa, s, e), types_before[1..3]);
    check(&pa);
    free_range(&pa, s, e);
    assert_eq!(free_pages(&pa), f);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn contended_pages_are_retried_and_give_up_after_the_tries() {
    let pa = machine();
    let m = FakeMigrator::new(&pa);
    let kernel = place(&pa, &m, users_everywhere);
    let (s, e) = (N + PB, N + 2 * PB);
    let tags = user_tags(&m, N, N + SIZE);
    let victim = *tags.keys().find(|&&p| (s..e).contains(&p)).unwrap();
    // One more Again than a migrate_pages call absorbs: the second try moves it.
    m.contend(Pfn(victim), NR_MAX_MIGRATE_PAGES_RETRY + 1);
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)).unwrap();
    assert!(m.tag(Pfn(victim)).is_none());
    free_range(&pa, s, e);
    // Contended for longer than all the tries: Busy, and nothing lost.
    let (s, e) = (N + 2 * PB, N + 3 * PB);
    let tags = user_tags(&m, N, N + SIZE);
    let victim = *tags.keys().find(|&&p| (s..e).contains(&p)).unwrap();
    m.contend(Pfn(victim), NR_MAX_MIGRATE_PAGES_RETRY * CONTIG_MIGRATE_TRIES);
    let f = free_pages(&pa);
    let before = types(&pa, N, N + SIZE);
    assert_eq!(pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)), Err(Error::Busy));
    assert_eq!(m.tag(Pfn(victim)), tags.get(&victim).copied());
    assert_eq!(tag_multiset(&user_tags(&m, N, N + SIZE)), tag_multiset(&tags));
    assert_eq!(free_pages(&pa), f);
    assert_eq!(types(&pa, N, N + SIZE), before);
    check(&pa);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
}

#[test]
fn a_pinned_page_makes_the_range_busy_and_changes_nothing() {
    let pa = machine();
    let m = FakeMigrator::new(&pa);
    let kernel = place(&pa, &m, users_everywhere);
    let (s, e) = (N + PB, N + 3 * PB);
    let tags = user_tags(&m, N, N + SIZE);
    let pinned = *tags.keys().filter(|&&p| (s..e).contains(&p)).nth(100).unwrap();
    m.pin(Pfn(pinned));
    let f = free_pages(&pa);
    let before = types(&pa, N, N + SIZE);
    let buddy_before = buddy_counts(&pa);
    take_log();
    assert_eq!(pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)), Err(Error::Busy));
    let busy = format!("alloc_contig_range: [{s:x}, {e:x}) PFNs busy");
    assert!(take_log().contains(&busy));
    assert_eq!(types(&pa, N, N + SIZE), before);
    assert_eq!(free_pages(&pa), f);
    assert_eq!(m.tag(Pfn(pinned)), tags.get(&pinned).copied());
    assert_eq!(tag_multiset(&user_tags(&m, N, N + SIZE)), tag_multiset(&tags));
    check(&pa);
    // Quietly with __GFP_NOWARN; the free lists hold as much as before.
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL | Gfp::NOWARN, Some(&m)),
        Err(Error::Busy)
    );
    assert!(!take_log().contains(&busy));
    assert_eq!(free_pages(&pa), f);
    let pages = |c: &Vec<[u64; 11]>| -> u64 { c.iter().map(|z| (0..11).map(|o| z[o] << o).sum::<u64>()).sum() };
    assert_eq!(pages(&buddy_counts(&pa)), pages(&buddy_before));
    // Unpinned, it moves.
    m.unpin(Pfn(pinned));
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)).unwrap();
    assert_allocated(&pa, &m, s, e);
    free_range(&pa, s, e);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn unmovable_kernel_pages_refuse_isolation() {
    let pa = machine();
    let m = FakeMigrator::new(&pa);
    let k = N + PB + 7;
    let kernel = place(&pa, &m, |p| if p == k { Role::Kernel } else { users_everywhere(p) });
    let (s, e) = (N + PB, N + 3 * PB);
    let f = free_pages(&pa);
    let before = types(&pa, N, N + SIZE);
    let tags = user_tags(&m, N, N + SIZE);
    assert_eq!(pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)), Err(Error::Busy));
    // Refused at isolation: nothing was migrated.
    assert_eq!(m.moves(), 0);
    assert_eq!(user_tags(&m, N, N + SIZE), tags);
    assert_eq!(types(&pa, N, N + SIZE), before);
    assert_eq!(free_pages(&pa), f);
    check(&pa);
    // REPORT_FAILURE names the page.
    take_log();
    assert_eq!(pa.start_isolate_page_range(0, Pfn(k), Pfn(k + 1), IsolateFlags::REPORT_FAILURE), Err(Error::Busy));
    let log = take_log();
    assert!(log.iter().any(|l| l.contains(&format!("pfn:{k:#x}"))), "{log:?}");
    assert!(log.iter().any(|l| l == "page dumped because: unmovable page"));
    assert_eq!(types(&pa, N, N + SIZE), before);
    // The second pageblock alone has no kernel page, but without a migrator
    // its user pages are not movable either.
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(s + PB), Pfn(e), MigrateType::Movable, Gfp::KERNEL | Gfp::NOWARN, None),
        Err(Error::Busy)
    );
    assert_eq!(types(&pa, N, N + SIZE), before);
    pa.alloc_contig_range(0, Pfn(s + PB), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)).unwrap();
    free_range(&pa, s + PB, e);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn a_range_off_pageblock_boundaries_takes_only_its_pages() {
    let pa = machine();
    let m = FakeMigrator::new(&pa);
    let (s, e) = (N + PB + 100, N + 2 * PB + 300);
    // A user page in the cover but outside the range, and one inside.
    let (outside, inside) = (N + PB + 50, N + PB + 150);
    let kernel = place(&pa, &m, |p| if p == outside || p == inside { Role::User(p) } else { Role::Free });
    let f = free_pages(&pa);
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)).unwrap();
    assert_eq!(m.tag(Pfn(outside)), Some(outside));
    assert!(m.tag(Pfn(inside)).is_none());
    assert_eq!(tag_multiset(&user_tags(&m, N, N + SIZE)), vec![outside, inside]);
    assert_allocated(&pa, &m, s, e);
    for p in [s - 1, e] {
        assert_eq!(pa.memmap().pfn_to_page(Pfn(p)).unwrap().page_ref_count(), 0, "{p:#x} was taken");
    }
    assert_eq!(free_pages(&pa), f - (e - s));
    assert_eq!(types(&pa, N, N + SIZE), vec![MigrateType::Movable; (SIZE / PB) as usize]);
    check(&pa);
    free_range(&pa, s, e);
    assert_eq!(free_pages(&pa), f);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
    let (blocks, _) = check(&pa);
    assert_eq!(blocks.iter().filter(|b| b.order == MAX_PAGE_ORDER).count() as u64, SIZE >> MAX_PAGE_ORDER);
}

#[test]
fn isolating_twice_is_busy_and_undo_restores() {
    let pa = machine();
    let (s, e) = (N + PB, N + 2 * PB);
    pa.start_isolate_page_range(0, Pfn(s), Pfn(e), IsolateFlags::empty()).unwrap();
    assert_eq!(types(&pa, s, e), [MigrateType::Isolate]);
    assert_eq!(free_pages(&pa), SIZE - PB);
    // Overlapping: the second pageblock must not stay isolated.
    assert_eq!(pa.start_isolate_page_range(0, Pfn(s + 10), Pfn(e + PB), IsolateFlags::empty()), Err(Error::Busy));
    assert_eq!(pa.start_isolate_page_range(0, Pfn(e - 1), Pfn(e + PB), IsolateFlags::empty()), Err(Error::Busy));
    assert_eq!(types(&pa, s, e + PB), [MigrateType::Isolate, MigrateType::Movable]);
    pa.test_pages_isolated(Pfn(s), Pfn(e), IsolateFlags::empty()).unwrap();
    pa.test_pages_isolated(Pfn(s + 3), Pfn(s + 9), IsolateFlags::empty()).unwrap();
    assert_eq!(pa.test_pages_isolated(Pfn(s), Pfn(e + 1), IsolateFlags::empty()), Err(Error::Busy));
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL | Gfp::NOWARN, None),
        Err(Error::Busy)
    );
    assert_eq!(types(&pa, s, e + PB), [MigrateType::Isolate, MigrateType::Movable]);
    check(&pa);
    pa.undo_isolate_page_range(Pfn(s), Pfn(e), MigrateType::Movable);
    assert_eq!(types(&pa, s, e), [MigrateType::Movable]);
    assert_eq!(pa.test_pages_isolated(Pfn(s), Pfn(e), IsolateFlags::empty()), Err(Error::Busy));
    assert_eq!(free_pages(&pa), SIZE);
    let (blocks, _) = check(&pa);
    assert_eq!(blocks.iter().filter(|b| b.order == MAX_PAGE_ORDER).count() as u64, SIZE >> MAX_PAGE_ORDER);
}

#[test]
fn test_pages_isolated_sees_in_use_pages() {
    let pa = machine();
    let (s, e) = (N, N + PB);
    let p = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).unwrap();
    assert!((s..e).contains(&p.0));
    let m = FakeMigrator::new(&pa);
    m.adopt(p, 5);
    // Isolation with the registered migrator (none): the user page blocks it.
    assert_eq!(pa.start_isolate_page_range(0, Pfn(s), Pfn(e), IsolateFlags::empty()), Err(Error::Busy));
    // Outside the checked part of its pageblock it does not.
    pa.start_isolate_page_range(0, Pfn(p.0 + 1), Pfn(e), IsolateFlags::empty()).unwrap();
    assert_eq!(pa.test_pages_isolated(Pfn(s), Pfn(e), IsolateFlags::empty()), Err(Error::Busy));
    pa.test_pages_isolated(Pfn(p.0 + 1), Pfn(e), IsolateFlags::empty()).unwrap();
    // Freed into the isolated pageblock, it goes to the ISOLATE lists.
    m.release(&pa, p);
    pa.test_pages_isolated(Pfn(s), Pfn(e), IsolateFlags::empty()).unwrap();
    pa.undo_isolate_page_range(Pfn(s), Pfn(e), MigrateType::Movable);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

/// A machine whose last two pageblocks are CMA.
fn cma_machine() -> PageAllocator {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (N, N + SIZE), (0, 0)] }];
    let pa = build_with(&nodes, &[(N, N + SIZE)], &[(N, N + SIZE - 2 * PB)], &[0], AllocatorFlags::empty(), false);
    pa.init_cma_reserved_pageblock(Pfn(N + SIZE - 2 * PB)).unwrap();
    pa.init_cma_reserved_pageblock(Pfn(N + SIZE - PB)).unwrap();
    pa
}

#[test]
fn undo_gives_cma_pageblocks_back_as_cma() {
    let pa = cma_machine();
    let zone = normal(&pa);
    let cma = N + SIZE - 2 * PB;
    let (s, e) = (cma - PB, N + SIZE);
    let expected = [MigrateType::Movable, MigrateType::Cma, MigrateType::Cma];
    assert_eq!(types(&pa, s, e), expected);
    // Not for a Movable allocation, and not without CMA_ALLOCATION.
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(cma), Pfn(e), MigrateType::Movable, Gfp::KERNEL | Gfp::NOWARN, None),
        Err(Error::Busy)
    );
    assert_eq!(pa.start_isolate_page_range(0, Pfn(s), Pfn(e), IsolateFlags::empty()), Err(Error::Busy));
    assert_eq!(types(&pa, s, e), expected);
    pa.start_isolate_page_range(0, Pfn(s), Pfn(e), IsolateFlags::CMA_ALLOCATION).unwrap();
    assert_eq!(types(&pa, s, e), [MigrateType::Isolate; 3]);
    assert_eq!(zone.free_cma_pages(), 0);
    // Whatever the caller says, each pageblock gets its own type back.
    pa.undo_isolate_page_range(Pfn(s), Pfn(e), MigrateType::Movable);
    assert_eq!(types(&pa, s, e), expected);
    assert_eq!(zone.free_cma_pages(), 2 * PB);
    check(&pa);
    // A CMA allocation with user pages on CMA.
    let m = FakeMigrator::new(&pa);
    let kernel = place(&pa, &m, |p| if p >= cma && p % 4 == 0 { Role::User(p) } else { Role::Free });
    assert_eq!(user_tags(&m, cma, e).len() as u64, 2 * PB / 4);
    let f = free_pages(&pa);
    pa.alloc_contig_range(0, Pfn(cma), Pfn(e), MigrateType::Cma, Gfp::KERNEL, Some(&m)).unwrap();
    assert!(user_tags(&m, cma, e).is_empty());
    assert_eq!(user_tags(&m, N, N + SIZE).len() as u64, 2 * PB / 4);
    assert_eq!(types(&pa, s, e), expected);
    assert_eq!(zone.free_cma_pages(), 0);
    assert_eq!(free_pages(&pa), f - 2 * PB);
    check(&pa);
    free_range(&pa, cma, e);
    pa.drain_all_pages();
    assert_eq!(zone.free_cma_pages(), 2 * PB);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
    assert_eq!(zone.free_cma_pages(), 2 * PB);
    check(&pa);
}

#[test]
fn free_contig_range_returns_every_page_and_warns_about_extra_references() {
    let pa = machine();
    let (s, e) = (N + 3 * PB + 17, N + 5 * PB + 3);
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, None).unwrap();
    assert_eq!(free_pages(&pa), SIZE - (e - s));
    let held = s + 40;
    pa.memmap().pfn_to_page(Pfn(held)).unwrap().get_page();
    take_log();
    free_range(&pa, s, e);
    assert_eq!(take_log(), ["WARNING: free_contig_range: 1 pages are still in use!"]);
    assert_eq!(free_pages(&pa), SIZE - 1);
    pa.test_put_page(0, Pfn(held));
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn zeroing_and_debug_pagealloc_as_for_any_allocation() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (N, N + SIZE), (0, 0)] }];
    reset_linear_map();
    let pa = build_with(&nodes, &[(N, N + SIZE)], &[(N, N + SIZE)], &[0], AllocatorFlags::DEBUG_PAGEALLOC, false);
    assert_eq!(unmapped_frames().len() as u64, SIZE);
    take_page_events();
    let (s, e) = (N + PB + 5, N + 2 * PB);
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL | Gfp::ZERO, None).unwrap();
    assert_eq!(take_page_events(), [PageEvent::Mapped(s, e - s), PageEvent::Zeroed(s, e - s)]);
    let unmapped: BTreeSet<u64> = unmapped_frames().into_iter().collect();
    assert!((s..e).all(|p| !unmapped.contains(&p)));
    assert_eq!(unmapped.len() as u64, SIZE - (e - s));
    free_range(&pa, s, e);
    assert_eq!(unmapped_frames().len() as u64, SIZE);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
    reset_linear_map();
}

#[test]
fn bad_arguments_are_refused() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (N, N + 2048), (N + 2048, N + SIZE), (0, 0)] }];
    let pa = build(&nodes, &[(N, N + SIZE)], &[0]);
    let mv = MigrateType::Movable;
    let g = Gfp::KERNEL;
    assert_eq!(pa.alloc_contig_range(0, Pfn(N + 10), Pfn(N + 10), mv, g, None), Err(Error::InvalidArgument));
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(N), Pfn(N + 1), MigrateType::Unmovable, g, None),
        Err(Error::InvalidArgument)
    );
    assert_eq!(pa.alloc_contig_range(0, Pfn(N), Pfn(N + 1), mv, g | Gfp::COMP, None), Err(Error::InvalidArgument));
    // Across the DMA32/Normal boundary, and past the end of memory.
    assert_eq!(pa.alloc_contig_range(0, Pfn(N + 2000), Pfn(N + 2100), mv, g, None), Err(Error::InvalidArgument));
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(N + SIZE - 1), Pfn(N + SIZE + 1), mv, g, None),
        Err(Error::InvalidArgument)
    );
    assert_eq!(
        pa.start_isolate_page_range(0, Pfn(N + 5), Pfn(N + 5), IsolateFlags::empty()),
        Err(Error::InvalidArgument)
    );
    assert_eq!(pa.alloc_contig_pages(0, 0, g, None, None), Err(Error::InvalidArgument));
    assert_eq!(pa.alloc_contig_pages(0, 1, g, Some(NodeId(1)), None), Err(Error::InvalidArgument));
    assert_eq!(free_pages(&pa), SIZE);
    assert!(types(&pa, N, N + SIZE).iter().all(|&t| t == mv));
    check(&pa);
}

#[test]
fn alloc_contig_pages_finds_an_aligned_movable_range() {
    let pa = machine();
    let m = FakeMigrator::new(&pa);
    // Kernel pages in the first and third 1024-page stretches, users elsewhere.
    let kernel_at = [N + 5, N + 2048 + 1000];
    let kernel = place(&pa, &m, |p| {
        if kernel_at.contains(&p) {
            Role::Kernel
        } else if p % 7 == 0 {
            Role::User(p)
        } else {
            Role::Free
        }
    });
    let nr = 600;
    let align = 1024;
    let expected = (N..N + SIZE)
        .step_by(align as usize)
        .find(|&p| p + nr <= N + SIZE && !kernel_at.iter().any(|k| (p..p + nr).contains(k)))
        .unwrap();
    let f = free_pages(&pa);
    let got = pa.alloc_contig_pages(0, nr, Gfp::KERNEL, None, Some(&m)).unwrap();
    assert_eq!(got.0, expected);
    assert_allocated(&pa, &m, got.0, got.0 + nr);
    assert_eq!(free_pages(&pa), f - nr);
    check(&pa);
    // The same on the node given.
    let got2 = pa.alloc_contig_pages(0, nr, Gfp::KERNEL, Some(NodeId(0)), Some(&m)).unwrap();
    assert!(got2.0.is_multiple_of(align) && (got2.0 >= got.0 + nr || got2.0 + nr <= got.0));
    assert!(!kernel_at.iter().any(|k| (got2.0..got2.0 + nr).contains(k)));
    free_range(&pa, got2.0, got2.0 + nr);
    // Nothing that large without moving the kernel pages.
    assert_eq!(pa.alloc_contig_pages(0, 2048, Gfp::KERNEL | Gfp::NOWARN, None, Some(&m)), Err(Error::NoMemory));
    free_range(&pa, got.0, got.0 + nr);
    assert_eq!(free_pages(&pa), f);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn alloc_contig_pages_in_zone_movable() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (N, N + 2048), (N + 2048, N + SIZE)] }];
    let pa = build(&nodes, &[(N, N + SIZE)], &[0]);
    let m = FakeMigrator::new(&pa);
    let kernel = place(&pa, &m, |p| if p % 3 == 0 { Role::User(p) } else { Role::Free });
    let tags = user_tags(&m, N, N + SIZE);
    let movable = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Movable);
    let f = free_pages(&pa);
    // A pinned user page in each candidate of ZONE_MOVABLE: has_unmovable_pages
    // does not look there (as in Linux), the migration finds it.
    let pins: Vec<u64> =
        [N + 2048, N + 3072].iter().map(|&c| *user_tags(&m, c, c + 1024).keys().next().unwrap()).collect();
    for &p in &pins {
        m.pin(Pfn(p));
    }
    let normal_range = pa.alloc_contig_pages(0, 1024, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN, None, Some(&m)).unwrap();
    assert!(normal_range.0 + 1024 <= N + 2048, "{normal_range:?} has a pinned page");
    assert_eq!(tag_multiset(&user_tags(&m, N, N + SIZE)), tag_multiset(&tags));
    for &p in &pins {
        assert_eq!(user_tags(&m, p, p + 1).get(&p), tags.get(&p));
        m.unpin(Pfn(p));
    }
    free_range(&pa, normal_range.0, normal_range.0 + 1024);
    assert_eq!(free_pages(&pa), f);
    // A gigantic buffer in ZONE_MOVABLE for a movable request ...
    let got = pa.alloc_contig_pages(0, 1024, Gfp::HIGHUSER_MOVABLE, None, Some(&m)).unwrap();
    assert!(movable.spans(got.0) && movable.spans(got.0 + 1023));
    assert_allocated(&pa, &m, got.0, got.0 + 1024);
    assert_eq!(tag_multiset(&user_tags(&m, N, N + SIZE)), tag_multiset(&tags));
    assert_eq!(free_pages(&pa), f - 1024);
    // ... and never there for a kernel one.
    let k = pa.alloc_contig_pages(0, 512, Gfp::KERNEL, None, Some(&m)).unwrap();
    assert!(k.0 + 512 <= N + 2048);
    check(&pa);
    free_range(&pa, got.0, got.0 + 1024);
    free_range(&pa, k.0, k.0 + 512);
    assert_eq!(free_pages(&pa), f);
    assert_eq!(free_pages(&pa), f);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn no_page_to_migrate_to_is_no_memory_and_loses_nothing() {
    let pa = machine();
    let m = FakeMigrator::new(&pa);
    // Every page a user page: no target anywhere.
    let kernel = place(&pa, &m, |p| Role::User(p - N + 1));
    assert_eq!(free_pages(&pa), 0);
    let tags = user_tags(&m, N, N + SIZE);
    let (s, e) = (N + PB, N + 2 * PB);
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)),
        Err(Error::NoMemory)
    );
    assert_eq!(user_tags(&m, N, N + SIZE), tags);
    assert_eq!(free_pages(&pa), 0);
    assert_eq!(types(&pa, N, N + SIZE), vec![MigrateType::Movable; (SIZE / PB) as usize]);
    check(&pa);
    release_all(&pa, &m, &kernel);
    assert_eq!(free_pages(&pa), SIZE);
}

/// Every pageblock from `start` has the type of `before`, except one that
/// is now part of a free block larger than a pageblock: undoing the
/// isolation of a wholly free pageblock lets it merge with a free
/// neighbour, and a merge gives both pageblocks one type (as any free
/// does, in Linux too).
fn assert_types_restored(pa: &PageAllocator, start: u64, before: &[MigrateType], step: u32) {
    pa.drain_all_pages();
    let (blocks, _) = check(pa);
    for (i, &was) in before.iter().enumerate() {
        let pb = start + i as u64 * PB;
        let now = pa.pageblock_migratetype(Pfn(pb)).unwrap();
        if now != was {
            let merged = blocks
                .iter()
                .any(|b| b.order > PB.trailing_zeros() && (b.pfn..b.pfn + (1 << b.order)).contains(&pb) && b.mt == now);
            assert!(merged, "step {step}: pageblock {pb:#x} was {was:?}, is {now:?}");
        }
    }
}

/// Random user, pinned, kernel and free pages, random ranges: the range is
/// had exactly when nothing unmovable (a kernel or pinned page) lies in it,
/// and after every step the allocator is consistent, the free counts add
/// up, the pageblock types of the range are as before (but for merges, see
/// [`assert_types_restored`]) and no user page's contents were lost.
#[test]
fn random_ranges_against_a_model() {
    for seed in [0x5eed_c0de_1234_5678, 0x0dd_ba11_2468_ace0, Rng::SEED] {
        model_run(seed, false);
    }
}

/// The same with the last two pageblocks CMA and CMA requests among the
/// Movable ones: a Movable request whose pageblocks include a CMA one is
/// refused too.
#[test]
fn random_ranges_with_cma_against_a_model() {
    for seed in [0x0c4a_0000_1111_2222, 0x7777_5555_3333_1111] {
        model_run(seed, true);
    }
}

fn model_run(seed: u64, cma: bool) {
    let pa = if cma { cma_machine() } else { machine() };
    let m = FakeMigrator::new(&pa);
    let mut rng = Rng(seed);
    let mut kernel: BTreeSet<u64> = BTreeSet::new();
    let mut pinned: BTreeSet<u64> = BTreeSet::new();
    let mut next_tag = 1;
    let (mut ok, mut busy) = (0, 0);
    for step in 0..120u32 {
        match rng.below(4) {
            0 => {
                // Allocate some pages: users (movable) and kernel pages,
                // keeping half the memory free for migration targets.
                let in_use = user_tags(&m, N, N + SIZE).len() + kernel.len();
                for _ in 0..rng.below(300).min((SIZE / 2).saturating_sub(in_use as u64)) {
                    if rng.below(8) == 0 {
                        if let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
                            kernel.insert(p.0);
                        }
                    } else if let Ok(p) = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN, 0) {
                        m.adopt(p, next_tag);
                        next_tag += 1;
                    }
                }
            }
            1 => {
                // Release some, pin or unpin some.
                let users: Vec<u64> = user_tags(&m, N, N + SIZE).into_keys().collect();
                for &u in &users {
                    match rng.below(10) {
                        0 | 1 if !pinned.contains(&u) => m.release(&pa, Pfn(u)),
                        2 if pinned.len() < 3 && !pinned.contains(&u) && rng.below(20) == 0 => {
                            m.pin(Pfn(u));
                            pinned.insert(u);
                        }
                        3 if pinned.remove(&u) => m.unpin(Pfn(u)),
                        _ => {}
                    }
                }
                let ks: Vec<u64> = kernel.iter().copied().collect();
                for k in ks {
                    if rng.below(3) == 0 {
                        kernel.remove(&k);
                        pa.test_free_pages(0, Pfn(k), 0);
                    }
                }
            }
            _ => {
                let s = N + rng.below(SIZE - 1);
                let e = (s + 1 + rng.below(1200)).min(N + SIZE);
                let tags = user_tags(&m, N, N + SIZE);
                let cover = (s & !(PB - 1), (e).next_multiple_of(PB));
                let types_before = types(&pa, cover.0, cover.1);
                let mt = if cma && rng.below(2) == 0 { MigrateType::Cma } else { MigrateType::Movable };
                let unmovable = kernel.range(s..e).next().is_some()
                    || pinned.range(s..e).next().is_some()
                    || mt == MigrateType::Movable && types_before.contains(&MigrateType::Cma);
                let f = free_pages(&pa);
                let r = pa.alloc_contig_range(0, Pfn(s), Pfn(e), mt, Gfp::KERNEL | Gfp::NOWARN, Some(&m));
                let after = user_tags(&m, N, N + SIZE);
                assert_eq!(tag_multiset(&after), tag_multiset(&tags), "step {step}: contents lost");
                for &p in &pinned {
                    assert_eq!(after.get(&p), tags.get(&p), "step {step}: a pinned page moved");
                }
                assert_types_restored(&pa, cover.0, &types_before, step);
                if unmovable {
                    assert_eq!(r, Err(Error::Busy), "step {step}: [{s:#x}, {e:#x}) has an unmovable page");
                    assert_eq!(free_pages(&pa), f, "step {step}");
                    busy += 1;
                } else {
                    assert_eq!(r, Ok(()), "step {step}: [{s:#x}, {e:#x}) is all free or movable");
                    assert_allocated(&pa, &m, s, e);
                    assert_eq!(free_pages(&pa), f - (e - s), "step {step}");
                    check(&pa);
                    free_range(&pa, s, e);
                    assert_eq!(free_pages(&pa), f, "step {step}");
                    ok += 1;
                }
            }
        }
        check(&pa);
        let users = user_tags(&m, N, N + SIZE).len() as u64;
        assert_eq!(free_pages(&pa) + users + kernel.len() as u64, SIZE, "step {step}: pages unaccounted for");
    }
    assert!(ok >= 10 && busy >= 5, "seed {seed:#x}: model too one-sided: {ok} ok, {busy} busy");
    for &p in &pinned {
        m.unpin(Pfn(p));
    }
    let ks: Vec<Pfn> = kernel.iter().map(|&k| Pfn(k)).collect();
    release_all(&pa, &m, &ks);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn memory_offline_passes_over_hwpoisoned_pages() {
    let pa = machine();
    let (s, e) = (N, N + PB);
    let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
    assert!((s..e).contains(&p.0));
    let page = pa.memmap().pfn_to_page(p).unwrap();
    page.set_flags(PageFlags::HWPOISON);
    // (The kernel allocation claimed the pageblock for Unmovable.)
    let before = types(&pa, s, e);
    assert_eq!(pa.start_isolate_page_range(0, Pfn(s), Pfn(e), IsolateFlags::empty()), Err(Error::Busy));
    pa.start_isolate_page_range(0, Pfn(s), Pfn(e), IsolateFlags::MEMORY_OFFLINE).unwrap();
    assert_eq!(pa.test_pages_isolated(Pfn(s), Pfn(e), IsolateFlags::empty()), Err(Error::Busy));
    pa.test_pages_isolated(Pfn(s), Pfn(e), IsolateFlags::MEMORY_OFFLINE).unwrap();
    pa.undo_isolate_page_range(Pfn(s), Pfn(e), MigrateType::Movable);
    assert_eq!(types(&pa, s, e), before);
    page.clear_flags(PageFlags::HWPOISON);
    pa.test_free_pages(0, p, 0);
    assert_eq!(free_pages(&pa), SIZE);
    check(&pa);
}

#[test]
fn reserved_pages_are_never_taken() {
    let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (N, N + SIZE), (0, 0)] }];
    // Pages [N + PB + 10, N + PB + 20) stay reserved (a boot allocation).
    let free = [(N, N + PB + 10), (N + PB + 20, N + SIZE)];
    let pa = build_with(&nodes, &[(N, N + SIZE)], &free, &[0], AllocatorFlags::empty(), false);
    let f = free_pages(&pa);
    assert_eq!(f, SIZE - 10);
    assert_eq!(
        pa.alloc_contig_range(0, Pfn(N + PB), Pfn(N + 2 * PB), MigrateType::Movable, Gfp::KERNEL | Gfp::NOWARN, None),
        Err(Error::Busy)
    );
    // The reserved pages are outside this range, though in its pageblock.
    pa.alloc_contig_range(0, Pfn(N + PB + 20), Pfn(N + 2 * PB), MigrateType::Movable, Gfp::KERNEL, None).unwrap();
    free_range(&pa, N + PB + 20, N + 2 * PB);
    // alloc_contig_pages steps over them.
    let got = pa.alloc_contig_pages(0, PB, Gfp::KERNEL, None, None).unwrap();
    assert_eq!(got.0, N);
    let got2 = pa.alloc_contig_pages(0, PB, Gfp::KERNEL, None, None).unwrap();
    assert_eq!(got2.0, N + 2 * PB);
    free_range(&pa, got.0, got.0 + PB);
    free_range(&pa, got2.0, got2.0 + PB);
    assert_eq!(free_pages(&pa), f);
    assert!(types(&pa, N, N + SIZE).iter().all(|&t| t == MigrateType::Movable));
    check(&pa);
}

#[test]
fn alloc_contig_pages_looks_at_other_nodes_only_when_allowed() {
    const M: u64 = N + SIZE;
    let nodes = [
        NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (N, N + SIZE), (0, 0)] },
        NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (M, M + SIZE), (0, 0)] },
    ];
    let pa = build(&nodes, &[(N, N + SIZE), (M, M + SIZE)], &[0, 1]);
    // A kernel page in every pageblock of node 0.
    let mut kernel = Vec::new();
    let mut spare = Vec::new();
    while kernel.len() < (SIZE / PB) as usize {
        let p = pa.alloc_pages_node(0, NodeId(0), Gfp::KERNEL | Gfp::THISNODE, 0).unwrap();
        if kernel.iter().any(|k: &Pfn| k.0 / PB == p.0 / PB) {
            spare.push(p);
        } else {
            kernel.push(p);
        }
    }
    for p in spare {
        pa.test_free_pages(0, p, 0);
    }
    let f = free_pages(&pa);
    assert_eq!(pa.alloc_contig_pages(0, PB, Gfp::KERNEL | Gfp::NOWARN, Some(NodeId(0)), None), Err(Error::NoMemory));
    assert_eq!(
        pa.alloc_contig_pages(0, PB, Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN, None, None),
        Err(Error::NoMemory)
    );
    let got = pa.alloc_contig_pages(0, PB, Gfp::KERNEL, None, None).unwrap();
    assert!((M..M + SIZE).contains(&got.0));
    assert_eq!(pa.memmap().pfn_to_page(got).unwrap().node(), NodeId(1));
    assert_eq!(free_pages(&pa), f - PB);
    free_range(&pa, got.0, got.0 + PB);
    for k in kernel {
        pa.test_free_pages(0, k, 0);
    }
    assert_eq!(free_pages(&pa), 2 * SIZE);
    check(&pa);
}

#[test]
fn a_range_across_a_section_boundary() {
    use crate::config::PAGES_PER_SECTION as SEC;
    let base = 0x80000;
    let end = base + 2 * SEC;
    let pa = build(&[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (base, end), (0, 0)] }], &[(base, end)], &[0]);
    let m = FakeMigrator::new(&pa);
    let (s, e) = (base + SEC - 700, base + SEC + 900);
    let kernel =
        place(&pa, &m, |p| if (s - 2000..e + 2000).contains(&p) && p % 4 == 1 { Role::User(p) } else { Role::Free });
    let tags = user_tags(&m, base, end);
    let f = free_pages(&pa);
    pa.alloc_contig_range(0, Pfn(s), Pfn(e), MigrateType::Movable, Gfp::KERNEL, Some(&m)).unwrap();
    assert_allocated(&pa, &m, s, e);
    assert_eq!(tag_multiset(&user_tags(&m, base, end)), tag_multiset(&tags));
    assert_eq!(free_pages(&pa), f - (e - s));
    check(&pa);
    free_range(&pa, s, e);
    assert_eq!(free_pages(&pa), f);
    for p in user_tags(&m, base, end).keys() {
        m.release(&pa, Pfn(*p));
    }
    for k in kernel {
        pa.test_free_pages(0, k, 0);
    }
    assert_eq!(free_pages(&pa), 2 * SEC);
    check(&pa);
}
