//! A process's page tables (TTBR0): the generic walker over table pages
//! from the buddy allocator, and the PTE protocol of user mappings.
//!
//! Every leaf is a 4 KiB page descriptor; user page tables never hold
//! blocks (no THP). A PTE is written only under the owning mm's lock, in
//! one of three ways, as Linux's arm64 helpers do:
//! - invalid to valid ([`UserPageTable::install`]): no TLB maintenance, a
//!   `dsb ishst` so the walker sees the page's contents (zeroes, a copy)
//!   before the entry, as the `smp_wmb()` before `set_pte_at` in
//!   do_anonymous_page orders them;
//! - valid to valid with another output address (a COW break,
//!   [`UserPageTable::replace`]): break-before-make (Arm ARM D8.16.1):
//!   invalid, TLB invalidate by ASID on every CPU, then the new entry;
//! - permission or access-flag changes of the same page
//!   ([`UserPageTable::protect`]): in place, then the TLB entry invalidated
//!   by ASID on every CPU (a write-protect must be seen everywhere before
//!   fork copies the page; an upgrade is flushed too so no CPU keeps taking
//!   spurious faults on a stale read-only entry).
//!
//! Clearing a range ([`UserPageTable::zap_range`]) clears every PTE, then
//! flushes the range by ASID, and only then drops the pages' references,
//! so no CPU can still reach a page through its TLB when the page returns
//! to the allocator (Linux's mmu_gather order).
//!
//! Table pages are counted (`PageTables` in /proc/meminfo); all of them go
//! back to the allocator when the mm is torn down.

use super::anon;
use crate::memory::linear_map::phys_to_virt;
use crate::memory::pages::alloc_pages;
use arch::pte::Arm64;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::asid::Asid;
use mm::gfp::Gfp;
use mm::pgtable::{LAST_LEVEL, PageProt, PageTable, PgtableMem, PteFormat, PteSlot};
use mm::{Error, Pfn, PhysAddr, VirtAddr};

/// Page-table pages of every user address space (meminfo's PageTables).
static NR_PAGETABLE: AtomicU64 = AtomicU64::new(0);

/// Pages of user page tables now allocated.
pub fn nr_pagetable_pages() -> u64 {
    NR_PAGETABLE.load(Ordering::Relaxed)
}

/// Table pages for one user tree.
pub struct UserTables {
    pages: u64,
}

// SAFETY: every table comes zeroed from the buddy allocator (obligation 2)
// and is reached through the linear map, which covers all RAM the
// allocator hands out (obligation 1); a table is freed only by
// `free_table`, which the walker calls once it has unlinked it.
unsafe impl PgtableMem for UserTables {
    fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
        let page = alloc_pages(Gfp::KERNEL | Gfp::ZERO | Gfp::NOWARN, 0)?;
        let (pfn, _) = page.into_raw();
        self.pages += 1;
        NR_PAGETABLE.fetch_add(1, Ordering::Relaxed);
        Ok(pfn.phys())
    }
    fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
        phys_to_virt(pa).0 as *mut u64
    }
    fn publish(&mut self) {
        arch::tlb::publish_new_entries();
    }
    fn free_table(&mut self, pa: PhysAddr) {
        self.pages -= 1;
        NR_PAGETABLE.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: the walker unlinked the table and nothing reaches it any
        // more; the page came from `alloc_table`'s `into_raw`.
        drop(unsafe { crate::memory::pages::Pages::from_raw(pa.pfn(), 0) });
    }
}

/// The protection of the PTEs of a VMA with `flags` (vm_get_page_prot):
/// no access at all for a PROT_NONE VMA; else readable, executable if
/// VM_EXEC, writable if VM_WRITE and `write` (false for a page shared
/// copy-on-write, or the zero page).
pub fn vma_pte_prot(flags: mm::mmap::VmFlags, write: bool) -> PageProt {
    use mm::mmap::VmFlags;
    if !flags.intersects(VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC) {
        return PageProt::USER_NONE | PageProt::READ;
    }
    user_prot(write && flags.contains(VmFlags::WRITE), flags.contains(VmFlags::EXEC))
}

/// The protection of a user page: readable always, writable and executable
/// as asked.
pub fn user_prot(write: bool, exec: bool) -> PageProt {
    let mut p = PageProt::READ | PageProt::USER;
    if write {
        p |= PageProt::WRITE;
    }
    if exec {
        p |= PageProt::EXEC;
    }
    p
}

/// Invalidate every TLB entry of the address space `asid` on all CPUs
/// (flush_tlb_mm); an address space without an ASID never ran, so no TLB
/// holds its entries and the publish barrier is enough.
pub fn flush_tlb_mm(asid: Option<Asid>) {
    match asid {
        Some(asid) => arch::tlb::flush_tlb_asid(asid),
        None => arch::tlb::publish_new_entries(),
    }
}

/// A present PTE, decoded.
#[derive(Clone, Copy, Debug)]
pub struct Pte {
    /// Where it sits.
    pub slot: PteSlot,
    /// The descriptor.
    pub raw: u64,
}

impl Pte {
    /// The frame it maps.
    pub fn pfn(&self) -> Pfn {
        Arm64::output_addr(self.raw).pfn()
    }
    /// Writable at EL0.
    pub fn writable(&self) -> bool {
        Arm64::leaf_prot(self.raw).contains(PageProt::WRITE)
    }
}

/// A user address space's tree.
///
/// After [`destroy`](Self::destroy) (exit_mmap) the tree is gone and any
/// further use is a kernel bug, reported as such.
pub struct UserPageTable {
    tree: Option<PageTable<Arm64, UserTables>>,
}

impl UserPageTable {
    /// An empty tree (one zeroed root table).
    pub fn new() -> Result<Self, Error> {
        Ok(Self { tree: Some(PageTable::new(UserTables { pages: 0 })?) })
    }

    fn pt(&mut self) -> &mut PageTable<Arm64, UserTables> {
        self.tree.as_mut().expect("user page tables used after exit_mmap")
    }

    fn pt_ref(&self) -> &PageTable<Arm64, UserTables> {
        self.tree.as_ref().expect("user page tables used after exit_mmap")
    }

    /// What TTBR0 points at.
    pub fn root(&self) -> PhysAddr {
        self.pt_ref().root()
    }

    /// Table pages this tree uses.
    pub fn table_pages(&self) -> u64 {
        self.tree.as_ref().map_or(0, |t| t.mem().pages)
    }

    /// The present PTE for `va`.
    pub fn lookup(&self, va: VirtAddr) -> Option<Pte> {
        let pt = self.tree.as_ref()?;
        let slot = pt.pte_lookup(va)?;
        let raw = pt.pte_read(slot);
        Arm64::is_valid(raw).then_some(Pte { slot, raw })
    }

    /// Map `pfn` at `va` where nothing is mapped (the PTE takes over the
    /// caller's reference to the page).
    pub fn install(&mut self, va: VirtAddr, pfn: Pfn, prot: PageProt) -> Result<(), Error> {
        let slot = self.pt().pte_alloc(va)?;
        // Not over a present page, nor over a migration entry.
        if self.pt().pte_read(slot) != 0 {
            return Err(Error::Busy);
        }
        self.pt().pte_write(slot, Arm64::mk_leaf(pfn.phys(), prot, LAST_LEVEL));
        arch::tlb::publish_new_entries();
        Ok(())
    }

    /// Replace the present `old` (mapping `va`) by `pfn` with `prot`,
    /// break-before-make. The old page's reference is the caller's again.
    pub fn replace(&mut self, asid: Option<Asid>, va: VirtAddr, old: Pte, pfn: Pfn, prot: PageProt) {
        self.pt().pte_write(old.slot, 0);
        if let Some(asid) = asid {
            arch::tlb::flush_tlb_page_asid(asid, va);
        }
        self.pt().pte_write(old.slot, Arm64::mk_leaf(pfn.phys(), prot, LAST_LEVEL));
        arch::tlb::publish_new_entries();
    }

    /// The frame a migration entry at `va` names, if one is there.
    pub fn migration_entry(&self, va: VirtAddr) -> Option<Pfn> {
        let pt = self.tree.as_ref()?;
        let slot = pt.pte_lookup(va)?;
        arch::pte::migration_entry(pt.pte_read(slot)).map(|(pa, _)| pa.pfn())
    }

    /// Unmap the present `old` for migration (try_to_migrate_one): a
    /// migration entry naming its page takes its place. The TLB is not
    /// flushed: CPUs may write the page through their cached entry until
    /// the caller's [`flush_tlb_mm`] for this address space returns, so
    /// nothing may copy the page before that (Linux's TTU_BATCH_FLUSH and
    /// try_to_unmap_flush; one flush covers a batch of pages).
    pub fn set_migration_entry(&mut self, old: Pte) {
        self.pt().pte_write(old.slot, arch::pte::mk_migration_entry(old.pfn().phys(), old.writable()));
    }

    /// Turn the migration entry that replaced `old` back into a leaf, for
    /// frame `pfn` with `old`'s attributes (remove_migration_pte; `pfn` is
    /// the new page, or the old one when the move is abandoned). Invalid
    /// to valid: only the publish barrier.
    pub fn remove_migration_entry(&mut self, old: Pte, pfn: Pfn) {
        debug_assert!(arch::pte::migration_entry(self.pt().pte_read(old.slot)).is_some());
        self.pt().pte_write(old.slot, arch::pte::pte_with_output_addr(old.raw, pfn.phys()));
        arch::tlb::publish_new_entries();
    }

    /// Change the permissions of the present `old` at `va` in place.
    pub fn protect(&mut self, asid: Option<Asid>, va: VirtAddr, old: Pte, prot: PageProt) {
        let new = Arm64::mk_leaf(old.pfn().phys(), prot, LAST_LEVEL);
        debug_assert!(!Arm64::needs_break(old.raw, new));
        if new == old.raw {
            return;
        }
        self.pt().pte_write(old.slot, new);
        match asid {
            Some(asid) => arch::tlb::flush_tlb_page_asid(asid, va),
            None => arch::tlb::publish_new_entries(),
        }
    }

    /// Change the permissions of every present page in `[start, end)`
    /// (mprotect's change_protection): `prot_of(pfn)` gives each page's
    /// new protection. One TLB flush for the range at the end.
    pub fn protect_range(
        &mut self,
        asid: Option<Asid>,
        start: VirtAddr,
        end: VirtAddr,
        prot_of: &dyn Fn(Pfn) -> PageProt,
    ) {
        let mut changed = false;
        self.pt().for_each_pte(start, end.0 - start.0, &mut |pt, _va, slot, raw| {
            let pfn = Arm64::output_addr(raw).pfn();
            let new = Arm64::mk_leaf(pfn.phys(), prot_of(pfn), LAST_LEVEL);
            if new != raw {
                pt.pte_write(slot, new);
                changed = true;
            }
        });
        if changed {
            match asid {
                Some(asid) => arch::tlb::flush_tlb_range_asid(asid, start, end),
                None => arch::tlb::publish_new_entries(),
            }
        }
    }

    /// Clear every PTE in `[start, end)` and drop the pages' references
    /// after the TLB flush; free the page tables the range emptied. Returns
    /// the number of pages that were mapped (zero page included).
    ///
    /// Allocates nothing (it runs when memory is gone: an OOM victim's
    /// exit): pages are gathered in a fixed batch, and a full batch is
    /// flushed from the TLBs and given back before the walk goes on
    /// (Linux's mmu_gather with its batch).
    pub fn zap_range(&mut self, asid: Option<Asid>, start: VirtAddr, end: VirtAddr) -> u64 {
        const BATCH: usize = 64;
        let mut batch = [Pfn(0); BATCH];
        let mut n = 0usize;
        let mut mapped = 0;
        let mut batch_start = start;
        // Linux's gather holds thousands of pages and flushes once for the
        // range it unmapped, the whole ASID when that is more than
        // MAX_DVM_OPS pages. This batch is smaller, so each of its flushes
        // takes the form one flush of the range asked for would: a
        // 2,048-page exit costs 32 `tlbi aside1is`, not 2,048 `tlbi vae1is`.
        let whole_asid = (end.0 - start.0) / mm::PAGE_SIZE > arch::tlb::MAX_DVM_OPS;
        let flush = |from: VirtAddr, to: VirtAddr| match asid {
            Some(asid) if whole_asid => arch::tlb::flush_tlb_asid(asid),
            Some(asid) => arch::tlb::flush_tlb_range_asid(asid, from, to),
            None => arch::tlb::publish_new_entries(),
        };
        let release = |pages: &[Pfn]| {
            for &pfn in pages {
                // SAFETY: the PTE that held this reference is cleared and
                // every CPU's TLB entry for it is gone (the flush before).
                unsafe { anon::put_anon_page(pfn) };
            }
        };
        self.pt().for_each_pte(start, end.0 - start.0, &mut |pt, va, slot, raw| {
            pt.pte_write(slot, 0);
            mapped += 1;
            let pfn = Arm64::output_addr(raw).pfn();
            if anon::is_zero_pfn(pfn) {
                return;
            }
            if n == BATCH {
                flush(batch_start, va);
                release(&batch[..n]);
                n = 0;
                batch_start = va;
            }
            batch[n] = pfn;
            n += 1;
        });
        if mapped > 0 {
            flush(batch_start, end);
        }
        release(&batch[..n]);
        let freed = self.pt().free_empty_tables(start, end.0 - start.0);
        if freed > 0 {
            // A walker may cache the table entries just cleared.
            if let Some(asid) = asid {
                arch::tlb::flush_tlb_asid(asid);
            }
        }
        mapped
    }

    /// Visit every present PTE in `[start, end)` (fork's copy, mincore,
    /// the reports): `f` returns the page's new protection to rewrite the
    /// PTE in place (same page, permissions only: the caller flushes), or
    /// `None` to leave it.
    pub fn for_each(&mut self, start: VirtAddr, end: VirtAddr, f: &mut impl FnMut(VirtAddr, Pte) -> Option<PageProt>) {
        self.pt().for_each_pte(start, end.0 - start.0, &mut |pt, va, slot, raw| {
            let pte = Pte { slot, raw };
            if let Some(prot) = f(va, pte) {
                let new = Arm64::mk_leaf(pte.pfn().phys(), prot, LAST_LEVEL);
                debug_assert!(!Arm64::needs_break(raw, new));
                pt.pte_write(slot, new);
            }
        });
    }

    /// Whether [`destroy`](Self::destroy) ran.
    pub fn is_destroyed(&self) -> bool {
        self.tree.is_none()
    }

    /// Free every table page (exit_mmap's free_pgtables). The caller
    /// zapped every mapping first and no CPU translates through this tree
    /// any more (TTBR0 switched away, the ASID flushed). Idempotent.
    pub fn destroy(&mut self) {
        if let Some(pt) = self.tree.take() {
            pt.free_tables();
        }
    }
}
