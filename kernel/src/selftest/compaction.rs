//! The `compaction` suite: fragment memory with movable user pages, then
//! show that compaction turns it back into order-9 blocks, with the moved
//! pages' data intact.
//!
//! Free memory beyond [`MAX_FILL_PAGES`] is first held by the test in
//! unmovable blocks (`hog`) (so that large machines stay quick, and so that
//! what is measured is the memory the test fragments). An address space
//! (not running: its pages are faulted in by the handler directly) then
//! maps nearly all the rest, and half of its pages, spread over the frames,
//! are unmapped, so no large free block is left where the pages were.
//! Order-9 allocations that may not compact are counted before and after
//! `compact_memory`; Linux's compaction_test bar is that at least a third
//! of 80% of the free memory comes back as order-9 blocks.

use super::harness::{PageCounts, Test, TestResult};
use super::hog::{Hog, free_pages};
use crate::memory::page_alloc::allocator;
use crate::memory::pages::{Pages, alloc_pages};
use crate::memory::user::fault::{FaultResult, handle_user_fault};
use crate::memory::user::mm::{Mm, new_shmem_id};
use crate::memory::user::uaccess::TASK_SIZE;
use crate::memory::user::{anon, commit};
use crate::{check, fail, pr_info};
use alloc::sync::Arc;
use alloc::vec::Vec;
use mm::gfp::Gfp;
use mm::mmap::fault::FaultKind;
use mm::mmap::flags::{MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use mm::mmap::{AddressSpace, MmLayout};
use mm::vmstat::{VmEvent, vm_event};
use mm::{PAGE_SIZE, VirtAddr};

pub const TESTS: &[Test] = &[
    Test { suite: "compaction", name: "order9_after_compact_memory", run: order9_after_compact_memory },
    Test { suite: "compaction", name: "direct_compaction_for_costly_order", run: direct_compaction },
];

/// The most pages the test fills (128 MiB).
const MAX_FILL_PAGES: u64 = 1 << 15;
/// Order of the blocks counted (a huge page's, pageblock order).
const ORDER: u32 = 9;
/// Words written and checked per page.
const WORDS: usize = 8;

fn word(va: u64, i: usize) -> u64 {
    va.rotate_left(17) ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xc0ffee
}

fn offset(i: usize) -> usize {
    i * (PAGE_SIZE as usize / WORDS) + 8 * i
}

/// A fragmented address space: its mm, base, page count mapped, pages
/// unmapped to fragment.
pub(crate) struct Fragmented {
    mm: Arc<Mm>,
    base: u64,
    /// Pages the fill mapped.
    pub pages: u64,
    /// Pages it then unmapped.
    pub freed: u64,
    _hog: Hog,
}

/// Whether the fill gives back the page at frame `pfn`: half of the
/// frames, picked by a hash rather than by parity, since the free
/// scanner samples pageblocks with an even stride once it finds nothing
/// (Linux's isolate_freepages does the same) and would never see a page
/// at an odd frame.
fn freed_frame(pfn: u64) -> bool {
    (pfn.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 63) == 1
}

/// An address space (not running) with one private mapping of `pages`,
/// faulted in one by one until memory runs out, each page's pattern
/// words written: the mm, the mapping's start and the pages faulted in.
pub(crate) fn filled_mm(pages: u64) -> Result<(Arc<Mm>, u64, u64), alloc::string::String> {
    let mut aspace = AddressSpace::new(MmLayout::arm64(TASK_SIZE, 0));
    let r = aspace
        .mmap(
            0,
            pages * PAGE_SIZE,
            PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
            0,
            commit(),
            &mut new_shmem_id,
        )
        .map_err(|e| alloc::format!("mmap of {pages} pages: {e}"))?;
    let mm = Mm::new(aspace).map_err(|e| alloc::format!("Mm::new: {e}"))?;
    let mut filled = 0;
    for i in 0..pages {
        let va = r.addr + i * PAGE_SIZE;
        if handle_user_fault(&mm, va, FaultKind::Write) != FaultResult::Handled {
            break; // memory ran out a little early: fine, it is full
        }
        let pfn = mm.inner.lock().pgtable.lookup(VirtAddr(va)).map(|p| p.pfn()).ok_or("no PTE after a fault")?;
        for w in 0..WORDS {
            anon::write_page(pfn, offset(w), &word(va, w).to_le_bytes());
        }
        filled += 1;
    }
    Ok((mm, r.addr, filled))
}

/// Fill most of free memory with user pages, then unmap half of them,
/// spread over the frames (see [`freed_frame`]).
pub(crate) fn fragment() -> Result<Fragmented, alloc::string::String> {
    let pa = allocator();
    let reserve = (pa.nr_free_pages() / 16).clamp(2048, 8192);
    let hog = Hog::leaving(MAX_FILL_PAGES + reserve, free_pages);
    pa.drain_all_pages();
    let free = pa.nr_free_pages();
    let pages = free.saturating_sub(reserve).min(MAX_FILL_PAGES);
    check!(pages >= 4 << ORDER, "only {free} free pages: too few to fragment");
    let (mm, base, filled) = filled_mm(pages)?;
    check!(filled >= 4 << ORDER, "only {filled} pages could be faulted in");
    let mut freed = 0;
    {
        let mut inner = mm.inner.lock();
        let asid = mm.asid();
        for i in 0..filled {
            let va = VirtAddr(base + i * PAGE_SIZE);
            if inner.pgtable.lookup(va).is_some_and(|p| freed_frame(p.pfn().0)) {
                inner.pgtable.zap_range(asid, va, VirtAddr(va.0 + PAGE_SIZE));
                freed += 1;
            }
        }
        mm.recount_rss(&mut inner);
    }
    pa.drain_all_pages();
    Ok(Fragmented { mm, base, pages: filled, freed, _hog: hog })
}

/// Every page still mapped holds what was written.
pub(crate) fn verify(f: &Fragmented) -> TestResult {
    let inner = f.mm.inner.lock();
    for i in 0..f.pages {
        let va = f.base + i * PAGE_SIZE;
        let Some(pte) = inner.pgtable.lookup(VirtAddr(va)) else { continue };
        for w in 0..WORDS {
            let mut b = [0u8; 8];
            anon::read_page(pte.pfn(), offset(w), &mut b);
            let got = u64::from_le_bytes(b);
            if got != word(va, w) {
                fail!("{:#x}: {got:#x}, expected {:#x} (frame {:#x})", va + offset(w) as u64, word(va, w), pte.pfn().0);
            }
        }
    }
    Ok(())
}

/// How many order-9 blocks can be had without compacting (each taken, then
/// all given back).
pub(crate) fn order9_obtainable() -> u64 {
    let gfp = (Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::NORETRY).difference(Gfp::DIRECT_RECLAIM);
    let mut got: Vec<Pages> = Vec::new();
    while let Ok(p) = alloc_pages(gfp, ORDER) {
        got.push(p);
    }
    let n = got.len() as u64;
    drop(got);
    allocator().drain_all_pages();
    n
}

fn order9_after_compact_memory() -> TestResult {
    let before_all = PageCounts::now();
    {
        let f = fragment()?;
        let free = allocator().nr_free_pages();
        let before = order9_obtainable();
        // Before: only memory the test did not fragment (the margin it
        // leaves free, and what the kernel keeps) gives order-9 blocks.
        check!(
            before << ORDER <= free - f.freed,
            "fragmenting left {before} order-{ORDER} blocks: more than the {} pages not fragmented hold",
            free - f.freed
        );
        let migrated0 = vm_event(VmEvent::PgmigrateSuccess);
        compact_all();
        let after = order9_obtainable();
        let migrated = vm_event(VmEvent::PgmigrateSuccess) - migrated0;
        pr_info!(
            "compaction: {} pages filled, {} freed, spread over the frames; order-{ORDER} blocks {before} before, {after} after compact_memory ({migrated} pages migrated)",
            f.pages,
            f.freed,
        );
        // compaction_test's bar: a third of 80% of free memory as order-9
        // blocks; and the blocks gained come from the fragmented memory.
        let bar = free * 8 / 10 / 3;
        check!(
            after << ORDER >= bar,
            "{after} order-{ORDER} blocks after compaction ({before} before): fewer than {bar} pages' worth of {free} free"
        );
        let gain_bar = f.freed * 8 / 10 / 3;
        check!(
            (after - before.min(after)) << ORDER >= gain_bar,
            "compaction gained {} order-{ORDER} blocks: fewer than {gain_bar} pages' worth of the {} freed",
            after.saturating_sub(before),
            f.freed
        );
        verify(&f)?;
    }
    PageCounts::now().check_back_to(&before_all)
}

fn direct_compaction() -> TestResult {
    let before_all = PageCounts::now();
    {
        let f = fragment()?;
        // Whatever order-9 blocks are free without compacting: taken first.
        let nowait = (Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::NORETRY).difference(Gfp::DIRECT_RECLAIM);
        let mut free_blocks: Vec<Pages> = Vec::new();
        while let Ok(p) = alloc_pages(nowait, ORDER) {
            free_blocks.push(p);
        }
        let stall0 = vm_event(VmEvent::CompactStall);
        let success0 = vm_event(VmEvent::CompactSuccess);
        // May compact: direct reclaim allowed, a costly order.
        let gfp = Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::RETRY_MAYFAIL;
        let mut got: Vec<Pages> = Vec::new();
        let want = ((f.freed >> ORDER) / 4).max(1);
        // Filling memory made smaller allocations fail to compact, which
        // defers compaction for this order too (Linux's deferral keeps the
        // lowest failed order): up to 64 attempts may be skipped before
        // compaction is tried again.
        let mut attempts = 0;
        while (got.len() as u64) < want && attempts < want + 2 * 64 {
            attempts += 1;
            if let Ok(p) = alloc_pages(gfp, ORDER) {
                got.push(p);
            }
        }
        let stalls = vm_event(VmEvent::CompactStall) - stall0;
        let successes = vm_event(VmEvent::CompactSuccess) - success0;
        pr_info!(
            "compaction: direct compaction: {} of {want} order-{ORDER} allocations in {attempts} attempts, {stalls} stalls, {successes} successes",
            got.len(),
        );
        check!(stalls > 0, "no compact_stall: the slow path did not compact");
        check!(successes > 0, "no compact_success");
        check!(got.len() as u64 >= want, "only {} of {want} costly allocations succeeded", got.len());
        drop(got);
        drop(free_blocks);
        verify(&f)?;
    }
    PageCounts::now().check_back_to(&before_all)
}

/// What writing 1 to /proc/sys/vm/compact_memory does.
fn compact_all() {
    crate::memory::compaction::compact_memory();
}
