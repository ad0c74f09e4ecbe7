//! The page allocator on this machine's memory, as the boot handed it over:
//! every order splits and merges back through the kernel's address API,
//! free blocks stay aligned and inside the zones and nodes the device tree
//! gave, the gfp zone modifiers and node placement hold on the real zones
//! and nodes, the fallback zonelists follow the device tree's NUMA
//! distances, memory can be exhausted and recovered exactly, bad pages are
//! caught, memory is zeroed when `init_on_*=` or __GFP_ZERO ask, exact and
//! compound allocations free whole, every CPU can allocate and free at once,
//! and the reports agree with the counters.
//!
//! The watermark formulas and their enforcement are tested on the host
//! (mm's page_alloc tests), not again here.
//!
//! # Leaving the allocator as it was found
//!
//! Each test that allocates drains the pcp lists and takes a [`Snapshot`]
//! first (per zone: free blocks per order as in /proc/buddyinfo,
//! NR_FREE_PAGES, the CMA and HIGHATOMIC counts, managed pages;
//! nr_free_pages and nr_bad_pages), gives back everything it took, drains
//! again and requires the same snapshot: with nothing else allocating (the
//! other CPUs wait for work), the buddy allocator must merge every block
//! back, and counts taken in between are exact. Free blocks per
//! *migratetype* are not compared, because taking memory may change a pageblock's type for good (claiming, as in Linux).
//! The exception is `bad_page_detected`, which leaks the pages it frees in a
//! bad state, as Linux does (and prints `BUG: Bad page state` for them).
//!
//! Tests that hold many blocks chain them through the blocks' descriptors
//! ([`Chain`]), so that holding all of memory takes no array, and give them
//! back on drop, also when a check fails halfway.
//!
//! High-order atomic allocations are avoided: they reserve HIGHATOMIC
//! pageblocks, which outlive the test and keep their neighbours from merging.

use super::harness::{Test, TestResult, expect_bug};
use crate::init::state;
use crate::memory::hal::PageAllocator;
use crate::memory::linear_map::{page_address, virt_to_pfn};
use crate::memory::page_alloc::{allocator, is_up};
use crate::memory::pages::{
    __free_pages, __get_free_pages, Pages, alloc_pages, alloc_pages_exact, alloc_pages_node, free_pages,
    free_pages_exact, free_pages_pfn, get_zeroed_page, page_to_pfn, pfn_to_page, virt_to_page,
};
use crate::smp::{call, cpumask};
use crate::{check, check_eq, fail};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use arch::percpu::NR_CPUS;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::gfp::{Gfp, gfp_zone};
use mm::memblock::{MAX_NUMNODES, NUMA_NO_NODE, NodeId};
use mm::page::{Page, PageFlags, TAIL_MAPPING};
use mm::page_alloc::{
    AllocatorFlags, LOCAL_DISTANCE, REMOTE_DISTANCE, ZONELIST_FALLBACK, ZONELIST_NOFALLBACK, ZoneRef,
};
use mm::pcp::{pcp_allowed_order, zone_batchsize, zone_highsize};
use mm::zone::{MAX_PAGE_ORDER, MigrateType, NR_PAGE_ORDERS, PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_ORDER, Zone, ZoneType};
use mm::{Error, PAGE_SHIFT, PAGE_SIZE, Pfn};

pub const TESTS: &[Test] = &[
    Test { suite: "pages", name: "split_merge_every_order", run: split_merge_every_order },
    Test {
        suite: "pages",
        name: "blocks_aligned_and_never_merge_across_zones_or_nodes",
        run: blocks_aligned_and_never_merge_across_zones_or_nodes,
    },
    Test { suite: "pages", name: "gfp_zone_modifiers", run: gfp_zone_modifiers },
    Test { suite: "pages", name: "node_placement", run: node_placement },
    Test { suite: "pages", name: "fallback_order_by_distance", run: fallback_order_by_distance },
    Test { suite: "pages", name: "exhaust_and_recover", run: exhaust_and_recover },
    Test { suite: "pages", name: "bad_page_detected", run: bad_page_detected },
    Test { suite: "pages", name: "zeroing", run: zeroing },
    Test { suite: "pages", name: "alloc_pages_exact_frees_tail", run: alloc_pages_exact_frees_tail },
    Test { suite: "pages", name: "compound_page_frees_as_one", run: compound_page_frees_as_one },
    Test { suite: "pages", name: "every_cpu_at_once", run: every_cpu_at_once },
    Test { suite: "pages", name: "reports_agree", run: reports_agree },
];

/// The lists an allocation can take from or claim (not HIGHATOMIC, CMA, ISOLATE).
const PCP_TYPES: [MigrateType; 3] = [MigrateType::Unmovable, MigrateType::Movable, MigrateType::Reclaimable];

/// A word no allocator writes: what `zeroing` dirties blocks with.
const DIRTY: u64 = 0x5a5a_5a5a_5a5a_5a5a;

fn pa() -> &'static PageAllocator {
    allocator()
}

fn this_cpu() -> usize {
    arch::percpu::smp_processor_id()
}

fn order_pages(order: u32) -> u64 {
    1 << order
}

/// The descriptor of a frame that must have one.
fn page(pfn: u64) -> Result<&'static Page, String> {
    pfn_to_page(Pfn(pfn)).ok_or_else(|| format!("pfn {pfn:#x} has no descriptor"))
}

/// The zone a frame belongs to (page_zone).
fn zone_of(pfn: u64) -> Result<&'static Zone, String> {
    let p = page(pfn)?;
    pa().page_zone(p).ok_or_else(|| format!("pfn {pfn:#x}: its node {} does not exist", p.node()))
}

/// The zone a zonelist entry names.
fn zone_at(zref: ZoneRef) -> Option<&'static Zone> {
    pa().node_data(NodeId(zref.nid as i32)).map(|n| n.zone(zref.zone))
}

/// "Node 0 DMA", for messages.
fn zname(zone: &Zone) -> String {
    format!("Node {} {}", zone.node(), zone.name())
}

/// Free pages an allocation without reserves or CMA cannot count (the
/// watermark check's unusable part, order 0).
fn unusable(zone: &Zone) -> u64 {
    zone.free_cma_pages() + zone.free_highatomic_pages()
}

/// Whether `zone` obviously serves an order-`order` request for zones up
/// to `highest`: well above its high watermark, and holding a free block of
/// at least a pageblock on a list it may claim, so that even
/// ALLOC_NOFRAGMENT finds one there.
fn has_plenty(zone: &Zone, order: u32, highest: ZoneType) -> bool {
    let need = zone.high_wmark_pages() + zone.lowmem_reserve(highest) + order_pages(order) + unusable(zone);
    zone.free_pages() > need
        && (order.max(PAGEBLOCK_ORDER)..=MAX_PAGE_ORDER)
            .any(|o| PCP_TYPES.iter().any(|&mt| zone.nr_free_blocks(o, mt) != 0))
}

/// Check a block just allocated for zones up to `highest`: aligned to its
/// size, inside one zone of an allowed type, held with one reference and not
/// on a free list. Returns its zone.
fn check_block(pages: &Pages, highest: ZoneType) -> Result<&'static Zone, String> {
    let (pfn, order) = (pages.pfn().0, pages.order());
    check!(pfn.is_multiple_of(order_pages(order)), "order-{order} block at pfn {pfn:#x} is not aligned");
    let zone = zone_of(pfn)?;
    let last = pfn + order_pages(order) - 1;
    let tail = page(last)?;
    check!(
        zone.spans(pfn) && zone.spans(last) && tail.node() == zone.node() && tail.zone_type() == zone.zone_type(),
        "order-{order} block at pfn {pfn:#x} is not inside one zone ({})",
        zname(zone)
    );
    check!(zone.zone_type() <= highest, "pfn {pfn:#x} is in {}, above {:?}", zname(zone), highest);
    let head = page(pfn)?;
    check!(
        head.page_ref_count() == 1 && !head.test_flags(PageFlags::BUDDY),
        "pfn {pfn:#x} handed out with refcount {} and flags {:?}",
        head.page_ref_count(),
        head.flags()
    );
    Ok(zone)
}

// ----- the memory of owned blocks -------------------------------------------

fn nr_words(pages: &Pages) -> usize {
    ((PAGE_SIZE << pages.order()) / 8) as usize
}

/// Word `i` of an owned block, through the linear map.
fn read_word(pages: &Pages, i: usize) -> u64 {
    assert!(i < nr_words(pages));
    let p = pages.address().as_u64() as *const u64;
    // SAFETY: `pages` owns its 2^order frames (Pages' invariant), RAM that the
    // linear map covers read-write; i is inside the block (asserted above).
    unsafe { p.add(i).read_volatile() }
}

/// Set word `i` of an owned block.
fn write_word(pages: &mut Pages, i: usize, value: u64) {
    assert!(i < nr_words(pages));
    let p = pages.address().as_u64() as *mut u64;
    // SAFETY: as in read_word; `&mut` keeps other users of the handle away.
    unsafe { p.add(i).write_volatile(value) }
}

/// Fill a block with `value`.
fn fill(pages: &mut Pages, value: u64) {
    for i in 0..nr_words(pages) {
        write_word(pages, i, value);
    }
}

/// The first word of a block that is not `value`.
fn first_not(pages: &Pages, value: u64) -> Option<usize> {
    (0..nr_words(pages)).find(|&i| read_word(pages, i) != value)
}

/// Blocks a test holds, a stack linked through the `index` word of each
/// block's first descriptor (an owner's field; Linux owners link their pages
/// through `page->lru` the same way), so that holding all of memory takes no
/// array and touches none of it (under TCG, first touches of fresh guest
/// memory cost host page faults). Freed on drop.
struct Chain {
    /// `pfn << 8 | order` of the newest block, or `NIL`.
    head: u64,
    nr_pages: u64,
    /// Pages the allocator manages: holding more means blocks were handed
    /// out twice (and a loop that allocates until failure would not end).
    limit: u64,
}

impl Chain {
    const NIL: u64 = u64::MAX;

    fn new() -> Self {
        Chain { head: Self::NIL, nr_pages: 0, limit: pa().totalram_pages() }
    }

    fn push(&mut self, pages: Pages) -> TestResult {
        let Some(first) = pfn_to_page(pages.pfn()) else {
            fail!("block {:#x} has no descriptor", pages.pfn().0);
        };
        check!(
            self.nr_pages + order_pages(pages.order()) <= self.limit,
            "more than the {} managed pages handed out: blocks given twice",
            self.limit
        );
        first.set_index(self.head);
        self.nr_pages += order_pages(pages.order());
        let (pfn, order) = pages.into_raw();
        self.head = (pfn.0 << 8) | order as u64;
        Ok(())
    }

    fn pop(&mut self) -> Option<Pages> {
        if self.head == Self::NIL {
            return None;
        }
        let (pfn, order) = (Pfn(self.head >> 8), (self.head & 0xff) as u32);
        // SAFETY: 1. (pfn, order) came from `into_raw` in `push`, and only
        // this chain has held it since.
        let pages = unsafe { Pages::from_raw(pfn, order) };
        // `push` found the descriptor.
        let first = pfn_to_page(pfn)?;
        self.head = first.index();
        first.set_index(0);
        self.nr_pages -= order_pages(order);
        Some(pages)
    }
}

impl Drop for Chain {
    fn drop(&mut self) {
        while let Some(pages) = self.pop() {
            __free_pages(pages);
        }
    }
}

// ----- snapshots ------------------------------------------------------------

/// One zone's free counts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ZoneCounts {
    nid: NodeId,
    zone: ZoneType,
    nr_free: [u64; NR_PAGE_ORDERS],
    free_pages: u64,
    free_cma: u64,
    free_highatomic: u64,
    reserved_highatomic: u64,
    managed: u64,
}

/// The allocator's free counts at one moment, pcp lists drained.
struct Snapshot {
    zones: Vec<ZoneCounts>,
    nr_free_pages: u64,
    nr_bad_pages: u64,
}

/// Drain every pcp list and take a snapshot.
fn snapshot() -> Snapshot {
    let pa = pa();
    pa.drain_all_pages();
    let zones = pa
        .all_zones()
        .map(|z| ZoneCounts {
            nid: z.node(),
            zone: z.zone_type(),
            nr_free: core::array::from_fn(|o| z.nr_free(o as u32)),
            free_pages: z.free_pages(),
            free_cma: z.free_cma_pages(),
            free_highatomic: z.free_highatomic_pages(),
            reserved_highatomic: z.nr_reserved_highatomic(),
            managed: z.managed_pages(),
        })
        .collect();
    Snapshot { zones, nr_free_pages: pa.nr_free_pages(), nr_bad_pages: pa.nr_bad_pages() }
}

/// Drain, and fail with the first difference from `before`.
fn check_restored(before: &Snapshot) -> TestResult {
    let after = snapshot();
    check_eq!(after.zones.len(), before.zones.len());
    for (a, b) in after.zones.iter().zip(&before.zones) {
        if a.nr_free != b.nr_free {
            fail!("Node {} {}: free blocks per order {:?}, expected {:?}", b.nid, b.zone.name(), a.nr_free, b.nr_free);
        }
        check!(a == b, "Node {} {} not restored: {a:?}, expected {b:?}", b.nid, b.zone.name());
    }
    check_eq!(after.nr_free_pages, before.nr_free_pages);
    check_eq!(after.nr_bad_pages, before.nr_bad_pages);
    Ok(())
}

// ----- 1. split and merge ---------------------------------------------------

/// Every order can be allocated, aligned, from the zone a GFP_KERNEL
/// request prefers, and merges back on free: buddyinfo is as before.
fn split_merge_every_order() -> TestResult {
    check!(is_up(), "the page allocator is not up");
    let pa = pa();
    let before = snapshot();
    let gfp = Gfp::KERNEL | Gfp::NOWARN;
    let highest = gfp_zone(gfp);
    let node = pa.node_data(pa.numa_mem_id(this_cpu())).ok_or("this CPU's memory node does not exist")?;
    let preferred = node.zonelist(ZONELIST_FALLBACK).preferred_zone(highest).and_then(zone_at);
    // The largest order free in a zone this gfp may use: a machine whose
    // memory comes in small pieces has no larger block, and asking for one
    // must fail cleanly instead.
    let largest = (0..=MAX_PAGE_ORDER)
        .rev()
        .find(|&o| before.zones.iter().any(|z| z.zone <= highest && z.nr_free[o as usize] > 0))
        .unwrap_or(0);
    for order in 0..=MAX_PAGE_ORDER {
        let free_before = pa.nr_free_pages();
        if order > largest {
            check!(alloc_pages(gfp, order).is_err(), "order {order}: allocated although no zone had a free block");
            continue;
        }
        let plenty = preferred.filter(|z| has_plenty(z, order, highest));
        let pages = alloc_pages(gfp, order).map_err(|e| format!("order {order}: {e}"))?;
        check_eq!(pages.order(), order);
        let zone = check_block(&pages, highest)?;
        if let Some(want) = plenty {
            check!(
                core::ptr::eq(zone, want),
                "order {order}: from {} although the preferred {} has plenty",
                zname(zone),
                zname(want)
            );
        }
        let head = page(pages.pfn().0)?;
        check_eq!(page_to_pfn(head), pages.pfn());
        // Above the costly order only the pageblock order has pcp lists
        // (Linux's THP lists): for the others the counters move by exactly
        // the block, both ways.
        let no_pcp = !pcp_allowed_order(order);
        if no_pcp {
            check_eq!(pa.nr_free_pages(), free_before - order_pages(order));
        }
        __free_pages(pages);
        if no_pcp {
            check_eq!(pa.nr_free_pages(), free_before);
        }
    }
    // One order past the largest is refused, not split from two blocks.
    check_eq!(alloc_pages(gfp, MAX_PAGE_ORDER + 1).err(), Some(Error::InvalidArgument));
    // The address-based API: same blocks, named by their linear-map address.
    let addr = __get_free_pages(gfp, 5).map_err(|e| format!("__get_free_pages(order 5): {e}"))?;
    let pfn = virt_to_pfn(addr);
    check!(pfn.0.is_multiple_of(32), "__get_free_pages(order 5) gave pfn {:#x}", pfn.0);
    check_eq!(page_address(pfn), addr);
    let by_addr = virt_to_page(addr).ok_or("virt_to_page found no descriptor")?;
    check!(pfn_to_page(pfn).is_some_and(|p| core::ptr::eq(p, by_addr)), "virt_to_page != pfn_to_page(virt_to_pfn)");
    // SAFETY: 1. __get_free_pages just gave this order-5 block to us; 2. unused below.
    unsafe { free_pages(addr, 5) };
    check_restored(&before)
}

// ----- 2. free blocks -------------------------------------------------------

/// If the free block of `order` or more that would contain `boundary - 1`
/// and `boundary` exists, its start and order.
fn block_across(boundary: u64) -> Option<(u64, u64)> {
    (1..=MAX_PAGE_ORDER).find_map(|order| {
        let start = boundary & !(order_pages(order) - 1);
        let p = pfn_to_page(Pfn(start))?;
        (start != boundary && p.test_flags(PageFlags::BUDDY) && p.private() >= order as u64)
            .then_some((start, p.private()))
    })
}

/// Walk every zone's descriptors: each free block (PG_buddy head) is
/// aligned to its order, wholly inside its zone, free, and the walk counts
/// exactly what the zone's counters say. Where two zones (of one node or
/// of two) meet, no free block crosses the boundary.
fn blocks_aligned_and_never_merge_across_zones_or_nodes() -> TestResult {
    let pa = pa();
    pa.drain_all_pages();
    for zone in pa.all_zones().filter(|z| z.is_populated()) {
        let mut counted = [0u64; NR_PAGE_ORDERS];
        let mut pfn = zone.zone_start_pfn();
        while pfn < zone.zone_end_pfn() {
            let Some(p) = pfn_to_page(Pfn(pfn)) else {
                // No descriptors: the section has no memory.
                pfn = (pfn | (mm::page::PAGES_PER_SECTION - 1)) + 1;
                continue;
            };
            if !p.test_flags(PageFlags::BUDDY) {
                pfn += 1;
                continue;
            }
            let order = p.private();
            check!(order <= MAX_PAGE_ORDER as u64, "free block at {pfn:#x} has order {order}");
            let last = pfn + (1 << order) - 1;
            check!(pfn.is_multiple_of(1 << order), "free order-{order} block at {pfn:#x} is not aligned");
            check!(
                p.node() == zone.node() && p.zone_type() == zone.zone_type(),
                "free block at {pfn:#x} inside {} belongs to Node {} {:?}",
                zname(zone),
                p.node(),
                p.zone_type()
            );
            let tail = page(last)?;
            check!(
                zone.spans(last) && tail.node() == zone.node() && tail.zone_type() == zone.zone_type(),
                "free order-{order} block at {pfn:#x} runs out of {} (ends at {:#x})",
                zname(zone),
                zone.zone_end_pfn()
            );
            check!(p.page_ref_count() == 0, "free block at {pfn:#x} has refcount {}", p.page_ref_count());
            counted[order as usize] += 1;
            pfn = last + 1;
        }
        let want: [u64; NR_PAGE_ORDERS] = core::array::from_fn(|o| zone.nr_free(o as u32));
        check!(
            counted == want,
            "{}: the walk finds {counted:?} free blocks per order, the counters {want:?}",
            zname(zone)
        );
    }
    // Boundaries between populated zones, within a node and between nodes.
    for a in pa.all_zones().filter(|z| z.is_populated()) {
        for b in pa.all_zones().filter(|z| z.is_populated() && z.zone_start_pfn() == a.zone_end_pfn()) {
            let boundary = b.zone_start_pfn();
            if let Some((start, order)) = block_across(boundary) {
                fail!("free order-{order} block at {start:#x} straddles {} | {} at {boundary:#x}", zname(a), zname(b));
            }
        }
    }
    Ok(())
}

// ----- 3. zone modifiers ----------------------------------------------------

/// GFP_DMA pages come from ZONE_DMA, GFP_DMA32 from DMA32 or below,
/// GFP_KERNEL from Normal or below, GFP_HIGHUSER_MOVABLE may come from
/// Movable; each from the preferred zone when that zone has plenty, each
/// inside its zone's span. A request no zone can serve fails cleanly.
fn gfp_zone_modifiers() -> TestResult {
    let pa = pa();
    let before = snapshot();
    let node = pa.node_data(pa.numa_mem_id(this_cpu())).ok_or("this CPU's memory node does not exist")?;
    let cases = [
        (Gfp::KERNEL | Gfp::DMA, ZoneType::Dma),
        (Gfp::KERNEL | Gfp::DMA32, ZoneType::Dma32),
        (Gfp::KERNEL, ZoneType::Normal),
        (Gfp::HIGHUSER, ZoneType::Normal),
        (Gfp::HIGHUSER_MOVABLE, ZoneType::Movable),
    ];
    for (gfp, highest) in cases {
        check_eq!(gfp_zone(gfp), highest);
        let managed = pa.all_zones().any(|z| z.zone_type() <= highest && z.is_managed());
        for order in [0, 4] {
            let preferred = node.zonelist(ZONELIST_FALLBACK).preferred_zone(highest).and_then(zone_at);
            let plenty = preferred.filter(|z| has_plenty(z, order, highest));
            match alloc_pages(gfp | Gfp::NOWARN, order) {
                Ok(pages) => {
                    check!(managed, "{gfp} order {order}: got pfn {:#x} with no such zone", pages.pfn().0);
                    let zone = check_block(&pages, highest)?;
                    if let Some(want) = plenty {
                        check!(
                            core::ptr::eq(zone, want),
                            "{gfp} order {order}: from {} although the preferred {} has plenty",
                            zname(zone),
                            zname(want)
                        );
                    }
                }
                Err(e) => {
                    check!(plenty.is_none(), "{gfp} order {order}: {e}, with plenty in the preferred zone");
                    check_eq!(e, Error::NoMemory);
                }
            }
        }
    }
    check_restored(&before)
}

// ----- 4. nodes -------------------------------------------------------------

/// alloc_pages_node(nid) returns pages on nid when nid has memory to
/// spare; with __GFP_THISNODE never from another node, even once nid is
/// exhausted (it fails instead), while a request without it falls back to
/// the nearest other node.
fn node_placement() -> TestResult {
    let pa = pa();
    let before = snapshot();
    let cpu = this_cpu();
    for pgdat in pa.online_nodes() {
        let nid = pgdat.node_id();
        for gfp in [Gfp::KERNEL | Gfp::NOWARN, Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN] {
            for order in [0, 4] {
                let plenty = pgdat
                    .zones()
                    .iter()
                    .any(|z| z.zone_type() <= ZoneType::Normal && has_plenty(z, order, ZoneType::Normal));
                match alloc_pages_node(nid, gfp, order) {
                    Ok(pages) => {
                        check_block(&pages, ZoneType::Normal)?;
                        let got = page(pages.pfn().0)?.node();
                        if plenty || gfp.contains(Gfp::THISNODE) {
                            check!(got == nid, "alloc_pages_node({nid}, {gfp}, {order}) gave a page on node {got}");
                        }
                    }
                    Err(e) => {
                        check!(!plenty, "alloc_pages_node({nid}, {gfp}, {order}): {e}, with memory to spare");
                        check_eq!(e, Error::NoMemory);
                    }
                }
            }
        }
    }
    // NUMA_NO_NODE is this CPU's nearest node with memory.
    let local = pa.numa_mem_id(cpu);
    let local_plenty = |n: &mm::page_alloc::PgData| {
        n.zones().iter().any(|z| z.zone_type() <= ZoneType::Normal && has_plenty(z, 0, ZoneType::Normal))
    };
    if pa.node_data(local).is_some_and(local_plenty) {
        let pages = alloc_pages_node(NUMA_NO_NODE, Gfp::KERNEL, 0).map_err(|e| format!("NUMA_NO_NODE: {e}"))?;
        check_eq!(page(pages.pfn().0)?.node(), local);
    }
    // Nodes that do not exist are refused.
    if let Some(absent) = (0..MAX_NUMNODES as i32).map(NodeId).find(|&n| pa.node_data(n).is_none()) {
        check_eq!(alloc_pages_node(absent, Gfp::KERNEL | Gfp::NOWARN, 0).err(), Some(Error::InvalidArgument));
    }
    check_eq!(alloc_pages_node(NodeId(-7), Gfp::KERNEL | Gfp::NOWARN, 0).err(), Some(Error::InvalidArgument));

    // Exhaust one node with __GFP_THISNODE (largest blocks first).
    let with_memory: Vec<NodeId> =
        pa.online_nodes().filter(|n| n.node_present_pages() != 0).map(|n| n.node_id()).collect();
    if with_memory.len() >= 2 {
        let victim = with_memory[with_memory.len() - 1];
        let pgdat = pa.node_data(victim).ok_or("node vanished")?;
        let thisnode = Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN;
        let mut held = Chain::new();
        for order in (0..=MAX_PAGE_ORDER).rev() {
            loop {
                match alloc_pages_node(victim, thisnode, order) {
                    Ok(pages) => {
                        let got = page(pages.pfn().0)?.node();
                        check!(got == victim, "__GFP_THISNODE for node {victim} gave a page on node {got}");
                        held.push(pages)?;
                    }
                    Err(Error::NoMemory) => break,
                    Err(e) => fail!("THISNODE order {order}: {e}"),
                }
            }
        }
        check!(held.nr_pages > 0, "node {victim} gave nothing");
        check_eq!(alloc_pages_node(victim, thisnode, 0).err(), Some(Error::NoMemory));
        // It stopped at its watermarks, not earlier: what is left is the reserve.
        for z in pgdat.zones().iter().filter(|z| z.is_managed() && z.zone_type() <= ZoneType::Normal) {
            let limit = z.min_wmark_pages() + z.lowmem_reserve(ZoneType::Normal) + unusable(z);
            check!(z.free_pages() <= limit, "{}: {} pages left free, above {limit}", zname(z), z.free_pages());
        }
        // Without __GFP_THISNODE the request goes to the first zone of the
        // fallback list that passes the low watermark: another node's.
        let expected = pgdat
            .zonelist(ZONELIST_FALLBACK)
            .zones()
            .iter()
            .filter(|r| r.zone <= ZoneType::Normal)
            .filter_map(|&r| zone_at(r))
            .find(|z| {
                z.free_pages().saturating_sub(unusable(z)) > z.low_wmark_pages() + z.lowmem_reserve(ZoneType::Normal)
            });
        let pages = alloc_pages_node(victim, Gfp::KERNEL | Gfp::NOWARN, 0)
            .map_err(|e| format!("node {victim} exhausted: no fallback ({e})"))?;
        let zone = check_block(&pages, ZoneType::Normal)?;
        check!(zone.node() != victim, "fell back to node {victim} itself");
        if let Some(want) = expected {
            check!(core::ptr::eq(zone, want), "fell back to {}, not the nearest {}", zname(zone), zname(want));
        }
        drop(pages);
        drop(held);
    }
    check_restored(&before)
}

// ----- 5. zonelists ---------------------------------------------------------

/// The distance Linux gives `a -> b`: 10 to itself, 20 to others, unless the
/// device tree's distance-map says otherwise; an entry from a lower to a
/// higher node also sets the reverse direction (of_numa_parse_distance_map).
fn expected_distance(a: usize, b: usize) -> u8 {
    let s = state::get();
    let mut d = if a == b { LOCAL_DISTANCE } else { REMOTE_DISTANCE };
    if s.params.numa_off {
        return d;
    }
    for &(x, y, v) in &s.dt.distances {
        let (x, y) = (x as usize, y as usize);
        if !crate::memory::page_alloc::distance_entry_valid(x as u32, y as u32, v) {
            continue;
        }
        if (x, y) == (a, b) || (y > x && (y, x) == (a, b)) {
            d = v as u8;
        }
    }
    d
}

/// Each node's fallback zonelist holds its own zones first, then every
/// other node with memory once, in order of distance (with Linux's
/// find_next_best_node penalties: +1 for a node below, +1 for a node with
/// CPUs), each node's zones from the highest down (Movable, Normal, DMA32,
/// DMA). The no-fallback list is the node's own zones. Distances are the
/// device tree's or the defaults.
fn fallback_order_by_distance() -> TestResult {
    let pa = pa();
    let has_memory = |n: usize| pa.node_data(NodeId(n as i32)).is_some_and(|p| p.node_present_pages() != 0);
    let has_cpus = |n: usize| (0..pa.nr_cpus()).any(|c| pa.cpu_to_node(c) == NodeId(n as i32));
    let own_zones = |n: usize| -> Vec<ZoneRef> {
        let Some(p) = pa.node_data(NodeId(n as i32)) else { return Vec::new() };
        ZoneType::ALL
            .into_iter()
            .rev()
            .filter(|&zt| p.zone(zt).is_populated())
            .map(|zt| ZoneRef { nid: n as u8, zone: zt })
            .collect()
    };
    let show = |list: &[ZoneRef]| {
        let mut s = String::new();
        for r in list {
            let _ = write!(s, "{}:{} ", r.nid, r.zone.name());
        }
        s
    };
    let nodes: Vec<usize> = pa.online_nodes().map(|p| p.node_id().0 as usize).collect();
    for &a in &nodes {
        for &b in &nodes {
            let (got, want) = (pa.node_distance(NodeId(a as i32), NodeId(b as i32)), expected_distance(a, b));
            check!(got == want, "node_distance({a}, {b}) == {got}, expected {want}");
        }
    }
    for &nid in &nodes {
        let pgdat = pa.node_data(NodeId(nid as i32)).ok_or("node vanished")?;
        let list = pgdat.zonelist(ZONELIST_FALLBACK).zones();
        // Split into runs of one node each.
        let mut groups: Vec<(usize, Vec<ZoneRef>)> = Vec::new();
        for &r in list {
            match groups.last_mut() {
                Some((n, zones)) if *n == r.nid as usize => zones.push(r),
                _ => groups.push((r.nid as usize, alloc::vec![r])),
            }
        }
        let order: Vec<usize> = groups.iter().map(|g| g.0).collect();
        let mut want: Vec<usize> = nodes.iter().copied().filter(|&n| has_memory(n)).collect();
        let mut seen = order.clone();
        seen.sort_unstable();
        want.sort_unstable();
        check!(seen == want, "node {nid}: [{}] names nodes {order:?}, not each of {want:?} once", show(list));
        if has_memory(nid) {
            check!(order[0] == nid, "node {nid}: [{}] does not start with its own zones", show(list));
        }
        for (n, zones) in &groups {
            check!(*zones == own_zones(*n), "node {nid}: node {n}'s zones out of order in [{}]", show(list));
        }
        let rank = |n: usize| expected_distance(nid, n) as u32 + (n < nid) as u32 + has_cpus(n) as u32;
        let remote: Vec<usize> = order.iter().copied().filter(|&n| n != nid).collect();
        for w in remote.windows(2) {
            check!(
                rank(w[0]) <= rank(w[1]),
                "node {nid}: node {} (distance {}, ranked {}) before node {} (distance {}, ranked {}) in [{}]",
                w[0],
                expected_distance(nid, w[0]),
                rank(w[0]),
                w[1],
                expected_distance(nid, w[1]),
                rank(w[1]),
                show(list)
            );
        }
        let local = pgdat.zonelist(ZONELIST_NOFALLBACK).zones();
        check!(local == own_zones(nid).as_slice(), "node {nid}: no-fallback list [{}]", show(local));
        for zt in ZoneType::ALL {
            let first = list.iter().copied().find(|r| r.zone <= zt);
            check_eq!(pgdat.zonelist(ZONELIST_FALLBACK).preferred_zone(zt), first);
        }
    }
    // Each CPU allocates from the first node of its node's list with a
    // zone GFP_KERNEL can use (numa_mem_id).
    for cpu in (0..pa.nr_cpus()).filter(|&c| cpumask::cpu_online(c)) {
        let want = pa
            .node_data(pa.cpu_to_node(cpu))
            .and_then(|p| p.zonelist(ZONELIST_FALLBACK).zones().iter().find(|r| r.zone <= ZoneType::Normal))
            .map(|r| NodeId(r.nid as i32));
        if let Some(want) = want {
            check!(pa.numa_mem_id(cpu) == want, "CPU{cpu}: numa_mem_id {} != {want}", pa.numa_mem_id(cpu));
        }
    }
    Ok(())
}

// ----- 6. exhaustion --------------------------------------------------------

/// Take every free page (GFP_KERNEL down to the min watermarks, GFP_ATOMIC
/// into the reserve, __GFP_MEMALLOC for the rest, then movable requests for
/// ZONE_MOVABLE), largest blocks first: every block is well-formed, the
/// total is exactly what was free, the zones end empty, further requests
/// fail with NoMemory; after freeing, every counter is as before.
fn exhaust_and_recover() -> TestResult {
    let pa = pa();
    let before = snapshot();
    let mut held = Chain::new();
    // Order 0 only for GFP_ATOMIC: a higher-order atomic allocation would
    // reserve a HIGHATOMIC pageblock that outlives the test.
    let passes: [(Gfp, u32); 4] = [
        (Gfp::KERNEL, MAX_PAGE_ORDER),
        (Gfp::ATOMIC, 0),
        (Gfp::KERNEL | Gfp::MEMALLOC, MAX_PAGE_ORDER),
        (Gfp::HIGHUSER_MOVABLE | Gfp::MEMALLOC, MAX_PAGE_ORDER),
    ];
    let mut taken = [0u64; 4];
    for (i, &(gfp, max_order)) in passes.iter().enumerate() {
        let start = held.nr_pages;
        for order in (0..=max_order).rev() {
            loop {
                match alloc_pages(gfp | Gfp::NOWARN, order) {
                    Ok(pages) => {
                        check_block(&pages, gfp_zone(gfp))?;
                        held.push(pages)?;
                    }
                    Err(Error::NoMemory) => break,
                    Err(e) => fail!("{gfp} order {order}: {e}, expected NoMemory at the end"),
                }
            }
        }
        taken[i] = held.nr_pages - start;
    }
    let reserve_left = pa.all_zones().any(|z| z.is_managed() && z.min_wmark_pages() >= 16);
    check!(!reserve_left || taken[1] > 0, "GFP_ATOMIC got nothing below the min watermark ({taken:?})");
    check!(taken[2] > 0, "__GFP_MEMALLOC got nothing below the watermarks ({taken:?})");
    // Nothing left, and asking again fails cleanly at any order.
    for z in pa.all_zones() {
        check!(
            z.free_pages() == z.free_highatomic_pages() && z.pcp_count() == 0,
            "{}: {} pages still free ({} on pcp lists) after exhaustion",
            zname(z),
            z.free_pages(),
            z.pcp_count()
        );
    }
    let highatomic: u64 = pa.all_zones().map(|z| z.free_highatomic_pages()).sum();
    check_eq!(held.nr_pages + highatomic, before.nr_free_pages);
    for (gfp, order) in [(Gfp::KERNEL, 0), (Gfp::ATOMIC | Gfp::MEMALLOC, 0), (Gfp::HIGHUSER_MOVABLE, MAX_PAGE_ORDER)] {
        check_eq!(alloc_pages(gfp | Gfp::NOWARN, order).err(), Some(Error::NoMemory));
    }
    drop(held);
    check_restored(&before)
}

// ----- 7. watermarks --------------------------------------------------------

// ----- 8. bad pages ---------------------------------------------------------

/// The page allocator's per-page checks on while this lives (off again
/// after, unless a boot setting keeps them on).
struct PageChecksOn;

impl PageChecksOn {
    fn new() -> Self {
        pa().set_check_pages(mm::page_alloc::PageChecks::On);
        PageChecksOn
    }
}

impl Drop for PageChecksOn {
    fn drop(&mut self) {
        pa().set_check_pages(mm::page_alloc::PageChecks::Off);
    }
}

/// A page freed with a stray mapcount, and a block freed with a mapping on
/// one of its tail pages, are reported (`BUG: Bad page state` in the log),
/// counted in nr_bad_pages and kept off the free lists; the allocator
/// carries on. The pages are leaked by design, as in Linux: this is the one
/// test that does not restore the free counts (it leaks 5 pages per boot).
/// The per-page checks are off by default, as in Linux without
/// CONFIG_DEBUG_VM; the test turns them on (page_alloc.check_pages) while
/// it runs.
fn bad_page_detected() -> TestResult {
    let pa = pa();
    let _checks = PageChecksOn::new();
    let (bad, reports) = (pa.nr_bad_pages(), pa.nr_bad_page_reports());
    let mapped = alloc_pages(Gfp::KERNEL, 0).map_err(|e| format!("{e}"))?;
    let block = alloc_pages(Gfp::KERNEL, 2).map_err(|e| format!("{e}"))?;
    let (mapped_pfn, block_pfn) = (mapped.pfn().0, block.pfn().0);
    pa.drain_all_pages();
    let free = pa.nr_free_pages();

    let p = page(mapped_pfn)?;
    let tail = page(block_pfn + 2)?;
    let what = format_args!(
        "(twice): Bad page state for pfn {:#x} (nonzero mapcount) and pfn {:#x} (non-NULL mapping)",
        mapped_pfn,
        block_pfn + 2
    );
    expect_bug(what, || {
        // As if still mapped into a page table: _mapcount 0 is one mapping.
        p.set_raw_mapcount(0);
        __free_pages(mapped);
        // As if a tail page were still in a file's page cache.
        tail.set_mapping(0xdead_4000);
        __free_pages(block);
        pa.drain_all_pages();
    });

    check_eq!(pa.nr_bad_pages(), bad + 1 + 4);
    check_eq!(pa.nr_bad_page_reports(), reports + 2);
    check_eq!(pa.nr_free_pages(), free);
    check!(!p.test_flags(PageFlags::BUDDY) && p.page_mapcount() == 1, "the bad page was cleaned or freed");
    check!(!page(block_pfn)?.test_flags(PageFlags::BUDDY), "the rest of the bad block was freed");
    check_eq!(tail.mapping(), 0xdead_4000);

    // Never handed out again, and nothing bad is found on the lists.
    let mut held = Chain::new();
    for order in [0, 0, 0, 1, 2, 3, 5] {
        for _ in 0..64 {
            let pages = alloc_pages(Gfp::KERNEL | Gfp::NOWARN, order).map_err(|e| format!("after a bad page: {e}"))?;
            let (s, e) = (pages.pfn().0, pages.pfn().0 + order_pages(order));
            check!(!(s..e).contains(&mapped_pfn), "the bad page {mapped_pfn:#x} was handed out again");
            check!(!(s..e).contains(&block_pfn), "the bad block {block_pfn:#x} was handed out again");
            held.push(pages)?;
        }
    }
    drop(held);
    pa.drain_all_pages();
    check_eq!(pa.nr_free_pages(), free);
    check_eq!(pa.nr_bad_pages(), bad + 5);
    Ok(())
}

// ----- 9. zeroing -----------------------------------------------------------

/// The request whose pcp list a block freed into `pfn`'s pageblock joins
/// (free_frozen_pages files it by its pageblock's type), for zones up to
/// Normal.
fn gfp_for_pageblock(pfn: Pfn) -> Gfp {
    match pa().pageblock_migratetype(pfn) {
        Some(MigrateType::Unmovable) => Gfp::KERNEL,
        Some(MigrateType::Reclaimable) => Gfp::KERNEL | Gfp::RECLAIMABLE,
        _ => Gfp::KERNEL | Gfp::MOVABLE,
    }
}

/// Allocate a block of `order`, dirty it, free it; its pfn.
fn dirtied_and_freed(order: u32) -> Result<Pfn, String> {
    let mut pages = alloc_pages(Gfp::KERNEL, order).map_err(|e| format!("order {order}: {e}"))?;
    fill(&mut pages, DIRTY);
    check!(first_not(&pages, DIRTY).is_none(), "order {order}: a write did not stick");
    let pfn = pages.pfn();
    __free_pages(pages);
    Ok(pfn)
}

/// __GFP_ZERO and get_zeroed_page give zeroed memory, also when the block
/// was just dirtied and freed (up to the costly order, this CPU's pcp list
/// gives it straight back to a request of its pageblock's type). With
/// init_on_alloc=1 or init_on_free=1 every allocation is zeroed; without,
/// a dirtied block comes back dirty, which shows the checks can fail.
fn zeroing() -> TestResult {
    let pa = pa();
    let params = &state::get().params;
    check_eq!(pa.flags().contains(AllocatorFlags::INIT_ON_ALLOC), params.init_on_alloc);
    check_eq!(pa.flags().contains(AllocatorFlags::INIT_ON_FREE), params.init_on_free);
    let before = snapshot();
    for order in [0, 3, 5] {
        let dirty = dirtied_and_freed(order)?;
        let gfp = gfp_for_pageblock(dirty) | Gfp::ZERO;
        let mut held = Chain::new();
        let mut found = false;
        for _ in 0..16 {
            let pages = alloc_pages(gfp, order).map_err(|e| format!("{gfp} order {order}: {e}"))?;
            if let Some(i) = first_not(&pages, 0) {
                fail!("{gfp} order {order}: block {:#x} has {:#x} at word {i}", pages.pfn().0, read_word(&pages, i));
            }
            found = pages.pfn() == dirty;
            held.push(pages)?;
            if found {
                break;
            }
        }
        check!(found || order > PAGE_ALLOC_COSTLY_ORDER, "order {order}: the dirtied block did not come back");
    }
    let dirty = dirtied_and_freed(0)?;
    let addr = get_zeroed_page(Gfp::KERNEL).map_err(|e| format!("get_zeroed_page: {e}"))?;
    // SAFETY: 1. get_zeroed_page handed us this order-0 block; it goes back through free_pages below.
    let pages = unsafe { Pages::from_raw(virt_to_pfn(addr), 0) };
    if gfp_for_pageblock(dirty) == Gfp::KERNEL {
        check_eq!(pages.pfn(), dirty);
    }
    check!(first_not(&pages, 0).is_none(), "get_zeroed_page gave a dirty page");
    let (pfn, _) = pages.into_raw();
    // SAFETY: 1. the order-0 block get_zeroed_page gave, given up by into_raw; 2. unused below.
    unsafe { free_pages(page_address(pfn), 0) };

    let wiped = params.init_on_alloc || params.init_on_free;
    for order in [0, 3] {
        let dirty = dirtied_and_freed(order)?;
        let pages = alloc_pages(gfp_for_pageblock(dirty), order).map_err(|e| format!("{e}"))?;
        check_eq!(pages.pfn(), dirty);
        if wiped {
            check!(first_not(&pages, 0).is_none(), "order {order}: init_on_alloc/init_on_free but not zeroed");
        } else {
            check!(first_not(&pages, DIRTY).is_none(), "order {order}: wiped although init_on_* are off");
        }
    }
    check_restored(&before)
}

// ----- 10. exact and compound -----------------------------------------------

/// alloc_pages_exact keeps exactly the pages asked for (each with one
/// reference) and frees the tail of the block at once; free_pages_exact
/// gives back the rest and everything merges.
fn alloc_pages_exact_frees_tail() -> TestResult {
    let pa = pa();
    let before = snapshot();
    for nr in [1u64, 3, 5, 8, 9] {
        let size_bytes = nr * PAGE_SIZE - 100;
        let block = nr.next_power_of_two();
        let exact = alloc_pages_exact(size_bytes, Gfp::KERNEL).map_err(|e| format!("{nr} pages: {e}"))?;
        check_eq!(exact.size_bytes(), size_bytes);
        let pfn = exact.pfn().0;
        let addr = exact.into_raw();
        check_eq!(virt_to_pfn(addr).0, pfn);
        check!(pfn.is_multiple_of(block), "{nr} pages at {pfn:#x}, not aligned to {block}");
        pa.drain_all_pages();
        check_eq!(pa.nr_free_pages(), before.nr_free_pages - nr);
        for i in 0..block {
            let (refs, want) = (page(pfn + i)?.page_ref_count(), (i < nr) as i32);
            check!(refs == want, "{nr} pages: page {i} of the block has refcount {refs}, expected {want}");
        }
        // SAFETY: 1. the address and size of the PagesExact given up above; 2. unused below.
        unsafe { free_pages_exact(addr, size_bytes) };
        pa.drain_all_pages();
        check_eq!(pa.nr_free_pages(), before.nr_free_pages);
    }
    check_eq!(alloc_pages_exact(0, Gfp::KERNEL).err(), Some(Error::InvalidArgument));
    check_restored(&before)
}

/// A __GFP_COMP block has PG_head, tails pointing at the head and its
/// order recorded, and frees as one: on drop, and through put_page on any
/// tail. A plain block whose head holds an extra reference frees its tail
/// pages at __free_pages and the head with its last reference.
fn compound_page_frees_as_one() -> TestResult {
    let pa = pa();
    let cpu = this_cpu();
    let before = snapshot();
    let pages = alloc_pages(Gfp::KERNEL | Gfp::COMP, 2).map_err(|e| format!("{e}"))?;
    let head = pages.pfn().0;
    check!(page(head)?.is_head(), "no PG_head");
    check_eq!(pa.compound_order(pages.pfn()), 2);
    for i in 1..4 {
        let t = page(head + i)?;
        check!(t.is_tail() && !t.is_head(), "page {i} is not a tail");
        check_eq!(t.compound_head(), Some(Pfn(head)));
        check_eq!(t.mapping(), TAIL_MAPPING);
        check_eq!(t.page_ref_count(), 0);
    }
    __free_pages(pages);
    pa.drain_all_pages();
    check!(!page(head)?.is_head(), "PG_head survived the free");
    for i in 1..4 {
        let t = page(head + i)?;
        check!(!t.is_tail() && t.mapping() == 0, "page {i} is still a tail after the free");
    }
    check_restored(&before)?;

    // put_page on a tail drops the compound page's one reference.
    let (pfn, order) = alloc_pages(Gfp::KERNEL | Gfp::COMP, 3).map_err(|e| format!("{e}"))?.into_raw();
    check_eq!(order, 3);
    // SAFETY: 1. the compound page's one reference is ours (into_raw above);
    // 2. nothing uses it afterwards.
    unsafe { pa.put_page(cpu, Pfn(pfn.0 + 5)) };
    check_restored(&before)?;

    // Linux's __free_pages: another reference on the head keeps only the head.
    let pages = alloc_pages(Gfp::KERNEL, 2).map_err(|e| format!("{e}"))?;
    let head = pages.pfn();
    page(head.0)?.get_page();
    __free_pages(pages);
    pa.drain_all_pages();
    check_eq!(pa.nr_free_pages(), before.nr_free_pages - 1);
    check_eq!(page(head.0)?.page_ref_count(), 1);
    // SAFETY: 1. the head kept its extra reference, so the order-0 block at
    // `head` is still ours; 2. unused below.
    unsafe { free_pages_pfn(cpu, head, 0) };
    check_restored(&before)
}

// ----- 11. all CPUs ---------------------------------------------------------

/// Blocks each CPU allocates in `trade`.
const TRADE_ROUNDS: usize = 96;
/// Orders by round: pcp orders mostly, some that go to the buddy lists.
const TRADE_ORDERS: [u32; 8] = [0, 0, 1, 0, 2, 3, 0, 4];
const TRADE_GFP: [Gfp; 3] = [Gfp::KERNEL, Gfp::HIGHUSER_MOVABLE, Gfp::KERNEL.union(Gfp::RECLAIMABLE)];

/// A block in the shared pool and the CPU that allocated it.
struct Traded {
    pages: Pages,
    owner: usize,
}

static POOL: spin::Mutex<heapless::Vec<Traded, { NR_CPUS * TRADE_ROUNDS }>> = spin::Mutex::new(heapless::Vec::new());
static TRADE_ERROR: spin::Mutex<Option<String>> = spin::Mutex::new(None);
/// Most pages each CPU saw on its own pcp lists.
static PCP_SEEN: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

fn trade_error(why: String) {
    TRADE_ERROR.lock().get_or_insert(why);
}

/// What `trade` writes in a block: who allocated it, and where it is.
fn trade_tag(pfn: Pfn, owner: usize) -> u64 {
    0x7a6e_0000_0000_0000 ^ (pfn.0 << 8) ^ owner as u64
}

fn note_pcp(cpu: usize) {
    let count: u64 = pa().all_zones().map(|z| z.pcp_stats(cpu).count as u64).sum();
    PCP_SEEN[cpu].fetch_max(count, Ordering::Relaxed);
}

/// Free a traded block after checking that its tag survived.
fn free_traded(cpu: usize, t: Traded) {
    let tag = read_word(&t.pages, 0);
    if tag != trade_tag(t.pages.pfn(), t.owner) {
        trade_error(format!("CPU{cpu}: block {:#x} of CPU{} was overwritten ({tag:#x})", t.pages.pfn().0, t.owner));
    }
    __free_pages(t.pages);
    note_pcp(cpu);
}

/// On each CPU: allocate blocks of mixed orders and migratetypes, publish
/// them, and every other round free one that another CPU allocated.
fn trade(cpu: usize) {
    for round in 0..TRADE_ROUNDS {
        let order = TRADE_ORDERS[round % TRADE_ORDERS.len()];
        let gfp = TRADE_GFP[round % TRADE_GFP.len()] | Gfp::NOWARN;
        match alloc_pages(gfp, order) {
            Ok(mut pages) => {
                let tag = trade_tag(pages.pfn(), cpu);
                write_word(&mut pages, 0, tag);
                note_pcp(cpu);
                if let Err(t) = POOL.lock().push(Traded { pages, owner: cpu }) {
                    __free_pages(t.pages);
                    trade_error(format!("CPU{cpu}: pool full"));
                }
            }
            Err(e) => trade_error(format!("CPU{cpu}: {gfp} order {order}: {e}")),
        }
        if round % 2 == 1 {
            let taken = {
                let mut pool = POOL.lock();
                let i = pool.iter().rposition(|t| t.owner != cpu);
                i.map(|i| pool.swap_remove(i))
            };
            if let Some(t) = taken {
                free_traded(cpu, t);
            }
        }
    }
}

/// The next online CPU after `cpu`, cyclically (itself when alone).
fn next_online(cpu: usize) -> usize {
    (1..=NR_CPUS).map(|d| (cpu + d) % NR_CPUS).find(|&c| cpumask::cpu_online(c)).unwrap_or(cpu)
}

/// On each CPU: free what the next CPU allocated, largest blocks first.
fn free_neighbours(cpu: usize) {
    let owner = next_online(cpu);
    loop {
        let taken = {
            let mut pool = POOL.lock();
            let best = pool.iter().enumerate().filter(|(_, t)| t.owner == owner).max_by_key(|(_, t)| t.pages.order());
            best.map(|(i, _)| i).map(|i| pool.swap_remove(i))
        };
        match taken {
            Some(t) => free_traded(cpu, t),
            None => break,
        }
    }
}

/// Every online CPU allocates and frees at once, through its own pcp lists,
/// blocks other CPUs allocated among them: no block is handed out twice,
/// the counts add up while they are held, every CPU's pcp lists were used
/// and sized by Linux's formulas, and everything is back afterwards.
fn every_cpu_at_once() -> TestResult {
    let pa = pa();
    // pcp sizes: zone_batchsize and zone_highsize over the node's CPUs.
    for zone in pa.all_zones() {
        let batch = zone_batchsize(zone.managed_pages()).max(1);
        let node_cpus = (0..pa.nr_cpus()).filter(|&c| pa.cpu_to_node(c) == zone.node()).count();
        let split = if node_cpus == 0 { pa.nr_cpus() } else { node_cpus };
        let high = zone_highsize(zone.low_wmark_pages(), batch, split);
        for cpu in 0..pa.nr_cpus() {
            let s = zone.pcp_stats(cpu);
            check!(
                (s.high, s.batch) == (high, batch),
                "{} CPU{cpu}: pcp high {} batch {}, expected {high} {batch}",
                zname(zone),
                s.high,
                s.batch
            );
        }
    }
    let before = snapshot();
    *TRADE_ERROR.lock() = None;
    for seen in &PCP_SEEN {
        seen.store(0, Ordering::Relaxed);
    }
    let r = (|| -> TestResult {
        call::on_each_cpu(trade);
        if let Some(why) = TRADE_ERROR.lock().take() {
            fail!("{why}");
        }
        // While held: disjoint, aligned, and exactly what went missing.
        let mut blocks: Vec<(u64, u64)> =
            POOL.lock().iter().map(|t| (t.pages.pfn().0, order_pages(t.pages.order()))).collect();
        blocks.sort_unstable();
        for w in blocks.windows(2) {
            check!(w[0].0 + w[0].1 <= w[1].0, "blocks {:#x}+{} and {:#x} overlap", w[0].0, w[0].1, w[1].0);
        }
        for &(pfn, nr) in &blocks {
            check!(pfn.is_multiple_of(nr), "block {pfn:#x} of {nr} pages not aligned");
        }
        pa.drain_all_pages();
        let held: u64 = blocks.iter().map(|b| b.1).sum();
        check_eq!(pa.nr_free_pages() + held, before.nr_free_pages);
        call::on_each_cpu(free_neighbours);
        if let Some(why) = TRADE_ERROR.lock().take() {
            fail!("{why}");
        }
        check_eq!(POOL.lock().len(), 0);
        for cpu in (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c)) {
            check!(PCP_SEEN[cpu].load(Ordering::Relaxed) > 0, "CPU{cpu} never had a page on its pcp lists");
        }
        Ok(())
    })();
    // Whatever is left (after a failure) goes back from here.
    loop {
        let t = POOL.lock().pop();
        match t {
            Some(t) => __free_pages(t.pages),
            None => break,
        }
    }
    r?;
    check_restored(&before)
}

// ----- 12. reports ----------------------------------------------------------

/// The number after `label` at the start of a (trimmed) line.
fn field(line: &str, label: &str) -> Option<u64> {
    line.trim_start().strip_prefix(label)?.split_whitespace().next()?.trim_end_matches("kB").parse().ok()
}

/// `Node N, zone NAME ...` or `Node N NAME: ...`: the zone named.
fn zone_named(nid: &str, name: &str) -> Option<&'static Zone> {
    let nid: i32 = nid.trim_end_matches(',').parse().ok()?;
    let zt = ZoneType::ALL.into_iter().find(|zt| zt.name() == name.trim_end_matches(':'))?;
    pa().node_data(NodeId(nid)).map(|p| p.zone(zt))
}

/// Free pages on the zone's lists, ISOLATE included (what buddyinfo sums to).
fn listed_pages(zone: &Zone) -> u64 {
    (0..=MAX_PAGE_ORDER).map(|o| zone.nr_free(o) << o).sum()
}

/// buddyinfo, zoneinfo, meminfo and show_mem, parsed back into numbers,
/// agree with each other and with the counters (pcp lists drained).
fn reports_agree() -> TestResult {
    let pa = pa();
    pa.drain_all_pages();
    let kb = |pages: u64| pages << (PAGE_SHIFT - 10);
    let mut text = String::new();

    // /proc/buddyinfo: one line per populated zone.
    pa.buddyinfo(&mut text).map_err(|_| "buddyinfo failed")?;
    let mut buddy_total = 0;
    let mut lines = 0;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        check!(w.len() == 4 + NR_PAGE_ORDERS && w[0] == "Node" && w[2] == "zone", "buddyinfo line {line:?}");
        let zone = zone_named(w[1], w[3]).ok_or_else(|| format!("buddyinfo names no zone: {line:?}"))?;
        let mut pages = 0;
        for (o, count) in w[4..].iter().enumerate() {
            let count: u64 = count.parse().map_err(|_| format!("buddyinfo count {count:?}"))?;
            check!(count == zone.nr_free(o as u32), "buddyinfo {line:?}: order {o} != {}", zone.nr_free(o as u32));
            pages += count << o;
        }
        check_eq!(pages, listed_pages(zone));
        buddy_total += pages;
        lines += 1;
    }
    check_eq!(lines, pa.all_zones().filter(|z| z.is_populated()).count());
    let isolated: u64 = pa
        .all_zones()
        .flat_map(|z| (0..=MAX_PAGE_ORDER).map(move |o| z.nr_free_blocks(o, MigrateType::Isolate) << o))
        .sum();
    check_eq!(buddy_total - isolated, pa.nr_free_pages());

    // /proc/zoneinfo: every zone.
    text.clear();
    let counters = crate::memory::report::counters();
    pa.zoneinfo(&mut text, &counters).map_err(|_| "zoneinfo failed")?;
    let mut zone: Option<&Zone> = None;
    let mut zoneinfo_total = 0;
    let (mut headers, mut device_headers) = (0, 0);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Node ") {
            let w: Vec<&str> = rest.split_whitespace().collect();
            check!(w.len() == 3 && w[1] == "zone", "zoneinfo header {line:?}");
            if w[2] == "Device" {
                // Linux's ZONE_DEVICE, listed empty (no such zone here).
                zone = None;
                device_headers += 1;
                continue;
            }
            zone = Some(zone_named(w[0], w[2]).ok_or_else(|| format!("zoneinfo names no zone: {line:?}"))?);
            headers += 1;
            continue;
        }
        check!(headers + device_headers > 0, "zoneinfo: a line before the first header: {line:?}");
        let Some(z) = zone else {
            let value = line.split_whitespace().last().unwrap_or("");
            check!(value == "0" || value == "0)", "zoneinfo: the Device zone is not empty: {line:?}");
            continue;
        };
        let want = [
            ("pages free", z.free_pages()),
            ("nr_free_pages", z.free_pages()),
            ("min", z.min_wmark_pages()),
            ("low", z.low_wmark_pages()),
            ("high", z.high_wmark_pages()),
            ("spanned", z.spanned_pages()),
            ("present", z.present_pages()),
            ("managed", z.managed_pages()),
            ("count:", 0),
        ];
        for (label, value) in want {
            if let Some(got) = field(line, label) {
                check!(got == value, "zoneinfo {}: {label} {got}, expected {value}", zname(z));
                if label == "pages free" {
                    zoneinfo_total += got;
                }
            }
        }
    }
    check_eq!(headers, pa.all_zones().count());
    check_eq!(device_headers, pa.online_nodes().count());
    check_eq!(zoneinfo_total, pa.nr_free_pages());

    // /proc/meminfo.
    text.clear();
    pa.meminfo(&mut text, &counters).map_err(|_| "meminfo failed")?;
    check_eq!(text.lines().count(), 53);
    let memfree = text.lines().find_map(|l| field(l, "MemFree:")).ok_or("meminfo has no MemFree")?;
    let memtotal = text.lines().find_map(|l| field(l, "MemTotal:")).ok_or("meminfo has no MemTotal")?;
    check_eq!(memfree, kb(pa.nr_free_pages()));
    check_eq!(memtotal, kb(pa.totalram_pages()));

    // show_mem, as warn_alloc prints it.
    text.clear();
    pa.show_mem(this_cpu(), &mut text, ZoneType::Movable).map_err(|_| "show_mem failed")?;
    let free = text.lines().find_map(|l| field(l, "free:")).ok_or("show_mem has no free: line")?;
    check_eq!(free, pa.nr_free_pages());
    let mut summaries = 0;
    for line in text.lines().filter(|l| l.starts_with("Node ") && l.contains(" = ")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let z = zone_named(w[1], w[2]).ok_or_else(|| format!("show_mem names no zone: {line:?}"))?;
        let total = line.rsplit(" = ").next().and_then(|t| t.trim_end_matches("kB").parse::<u64>().ok());
        check!(total == Some(kb(listed_pages(z))), "show_mem {line:?}: expected {}kB", kb(listed_pages(z)));
        summaries += 1;
    }
    check_eq!(summaries, lines);
    Ok(())
}
