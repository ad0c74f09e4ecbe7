//! Host tests of the descriptors, the memmap and the PFN lists.

use super::struct_page::{Page, PutResult};
use super::*;
use crate::addr::Pfn;
use crate::config::NodeId;
use crate::error::Error;
use crate::mmzone::{MigrateType, ZoneType};

const SEC: u64 = PAGES_PER_SECTION;

#[test]
fn page_is_64_bytes_and_sync() {
    fn sync<T: Sync>() {}
    sync::<Page>();
    sync::<MemMap>();
    assert_eq!(core::mem::size_of::<Page>(), 64);
}

#[test]
fn links_pack_node_and_zone_at_the_top() {
    let map = MemMap::new_arena(&[(0, 16)]);
    let page = map.pfn_to_page(Pfn(3)).unwrap();
    page.set_page_links(ZoneType::Dma32, NodeId(37));
    assert_eq!(page.node(), NodeId(37));
    assert_eq!(page.zone_type(), ZoneType::Dma32);
    page.set_flags(PageFlags::DIRTY | PageFlags::BUDDY);
    assert_eq!(page.flags(), PageFlags::RESERVED | PageFlags::DIRTY, "BUDDY is allocator-owned");
    page.set_page_links(ZoneType::Movable, NodeId(63));
    assert_eq!((page.node(), page.zone_type()), (NodeId(63), ZoneType::Movable));
    assert!(page.test_flags(PageFlags::DIRTY));
    assert_eq!(
        PageFlagsDisplay(page.raw_flags()).to_string(),
        format!("{:#x}(dirty|reserved|node=63|zone=3)", page.raw_flags())
    );
}

#[test]
fn memmap_init_sets_linux_initial_state() {
    let mut map = MemMap::new_arena(&[(SEC, SEC + 1000)]);
    assert_eq!(map.memmap_init_range(Pfn(SEC + 100), Pfn(SEC + 1100), NodeId(1), ZoneType::Normal), 1000);
    let page = map.pfn_to_page(Pfn(SEC + 700)).unwrap();
    assert_eq!(page.page_ref_count(), 1);
    assert_eq!(page.page_mapcount(), 0);
    assert_eq!(page.raw_mapcount(), -1);
    assert_eq!(page.flags(), PageFlags::RESERVED);
    assert_eq!((page.node(), page.zone_type()), (NodeId(1), ZoneType::Normal));
    let v = map.valid(SEC + 700).unwrap();
    assert_eq!(map.get_pageblock_migratetype(v), MigrateType::Movable);
    map.set_pageblock_migratetype(v, MigrateType::Reclaimable);
    assert_eq!(map.get_pageblock_migratetype(map.valid(SEC + 1023).unwrap()), MigrateType::Reclaimable);
    assert_eq!(map.get_pageblock_migratetype(map.valid(SEC + 1024).unwrap()), MigrateType::Movable);
    // The pageblock bits do not disturb flags or links.
    assert_eq!(map.pfn_to_page(Pfn(SEC + 512)).unwrap().flags(), PageFlags::RESERVED);
    assert_eq!(map.pfn_to_page(Pfn(SEC + 512)).unwrap().node(), NodeId(1));
    assert_eq!(map.page_to_pfn(page), Pfn(SEC + 700));
}

#[test]
fn pfn_valid_is_per_section() {
    let map = MemMap::new_arena(&[(SEC * 4 + 10, SEC * 4 + 20), (SEC * 6, SEC * 6 + 1)]);
    assert!(map.pfn_valid(Pfn(SEC * 4)));
    assert!(map.pfn_valid(Pfn(SEC * 5 - 1)));
    assert!(!map.pfn_valid(Pfn(SEC * 5)));
    assert!(map.pfn_valid(Pfn(SEC * 6 + 5000)));
    assert!(!map.pfn_valid(Pfn(SEC * 7)));
    assert!(!map.pfn_valid(Pfn(0)));
    assert!(map.pfn_to_page(Pfn(SEC * 5 + 3)).is_none());
    let ranges: Vec<_> = map.sections().ranges().collect();
    assert_eq!(ranges, [(Pfn(SEC * 4), Pfn(SEC * 5)), (Pfn(SEC * 6), Pfn(SEC * 7))]);
    assert_eq!(map.sections().nr_present(), 2);
}

/// The dense run from the first section answers as the bitmap would: a
/// model of sets of present sections, added in ascending order with gaps,
/// checked for every section around them.
#[test]
fn present_sections_dense_run_matches_the_bitmap() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = |m: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    };
    for _ in 0..200 {
        let mut s = PresentSections::new();
        let mut model = std::collections::BTreeSet::new();
        let mut sec = 3 + next(5);
        for _ in 0..1 + next(6) {
            let len = 1 + next(4);
            s.add_range(Pfn(sec * SEC + next(SEC / 2)), Pfn((sec + len - 1) * SEC + SEC / 2 + 1 + next(SEC / 2 - 1)))
                .unwrap();
            model.extend(sec..sec + len);
            // Sometimes adjacent (the run grows), sometimes a hole.
            sec += len + next(3);
        }
        for q in 0..sec + 4 {
            assert_eq!(s.section_present(q), model.contains(&q), "section {q} of {model:?}");
        }
    }
}

#[test]
fn present_sections_reject_out_of_window_and_descending() {
    let mut s = PresentSections::new();
    s.add_range(Pfn(SEC * 10), Pfn(SEC * 11)).unwrap();
    assert_eq!(s.add_range(Pfn(SEC * 9), Pfn(SEC * 9 + 1)), Err(Error::InvalidArgument));
    let far = SEC * (10 + MAX_PRESENT_SECTIONS as u64);
    assert_eq!(s.add_range(Pfn(far), Pfn(far + 1)), Err(Error::InvalidArgument));
    assert_eq!(s.nr_present(), 1);
}

#[test]
fn valid_pfn_arithmetic_stays_in_the_section() {
    let v = ValidPfn(SEC * 3 + 0x600);
    assert_eq!(v.buddy(9).get(), SEC * 3 + 0x400);
    assert_eq!(v.buddy(10).get(), SEC * 3 + 0x200);
    assert_eq!(v.pageblock_start().get(), SEC * 3 + 0x600);
    assert_eq!(ValidPfn(SEC * 3 + 0x7ff).pageblock_start().get(), SEC * 3 + 0x600);
    assert_eq!(v.block_start(10).get(), SEC * 3 + 0x400);
    assert_eq!(v.add(5).get(), SEC * 3 + 0x605);
    assert_eq!(v.same_section(7).get(), SEC * 3 + 7);
}

#[test]
fn pfn_list_links_by_pfn() {
    let mut map = MemMap::new_arena(&[(0, 64)]);
    map.memmap_init_range(Pfn(0), Pfn(64), NodeId(0), ZoneType::Normal);
    let v = |p| map.valid(p).unwrap();
    let mut list = PfnList::EMPTY;
    assert!(list.is_empty());
    list.push_front(&map, v(5));
    list.push_back(&map, v(9));
    list.push_front(&map, v(1));
    list.push_back(&map, v(33));
    let got: Vec<u64> = list.iter(&map).map(ValidPfn::get).collect();
    assert_eq!(got, [1, 5, 9, 33]);
    list.remove(&map, v(9));
    assert_eq!(list.iter(&map).map(ValidPfn::get).collect::<Vec<_>>(), [1, 5, 33]);
    assert_eq!(list.pop_back(&map).map(ValidPfn::get), Some(33));
    assert_eq!(list.pop_front(&map).map(ValidPfn::get), Some(1));
    assert_eq!(list.first().map(ValidPfn::get), Some(5));
    assert_eq!(list.last().map(ValidPfn::get), Some(5));
    list.remove(&map, v(5));
    assert!(list.is_empty() && list.last().is_none());
    assert_eq!(list.pop_front(&map), None);
}

#[test]
fn put_page_testzero_detects_underflow() {
    let mut map = MemMap::new_arena(&[(0, 8)]);
    map.memmap_init_range(Pfn(0), Pfn(8), NodeId(0), ZoneType::Normal);
    let page = map.pfn_to_page(Pfn(2)).unwrap();
    page.get_page();
    assert_eq!(page.put_page_testzero(), PutResult::Held);
    assert_eq!(page.put_page_testzero(), PutResult::Zero);
    assert_eq!(page.put_page_testzero(), PutResult::Underflow);
    assert_eq!(page.page_ref_count(), 0);
}

#[test]
fn bad_reason_last_check_wins() {
    let mut map = MemMap::new_arena(&[(0, 8)]);
    map.memmap_init_range(Pfn(0), Pfn(8), NodeId(0), ZoneType::Normal);
    let page = map.pfn_to_page(Pfn(1)).unwrap();
    // Reserved with a reference: refcount is checked before the flags.
    assert!(!page.expected_state(PageFlags::CHECK_AT_FREE));
    assert_eq!(page.bad_reason(PageFlags::CHECK_AT_FREE, false), "PAGE_FLAGS_CHECK_AT_FREE flag set");
    page.clear_flags_internal(PageFlags::RESERVED);
    assert_eq!(page.bad_reason(PageFlags::CHECK_AT_FREE, false), "nonzero _refcount");
    page.set_page_count(0);
    assert!(page.expected_state(PageFlags::CHECK_AT_FREE));
    page.set_raw_mapcount(0);
    assert_eq!(page.bad_reason(PageFlags::CHECK_AT_PREP, true), "nonzero mapcount");
}
