//! `Mm`: a user address space (Linux's mm_struct): the VMAs (mm's
//! architecture-free `AddressSpace`), the page tables in TTBR0, the ASID
//! context, the RSS counters and the shared-anonymous objects it maps.
//!
//! # Locking
//! One lock, `Mm::inner`, stands for Linux's mmap_lock and page-table lock
//! together: every VMA change, every PTE change and every fault of this mm
//! runs under it. Processes here are single-threaded, so the only
//! contention is between a task and whoever reads its mm from outside (the
//! reports, the OOM killer's choice). Lock order: `Mm::inner`, then the
//! page allocator's locks (pages and table pages are allocated under it),
//! then a shmem object's page lock.

use super::anon;
use super::pgtable::UserPageTable;
use super::rmap::AnonVma;
use crate::memory::context::MmContext;
use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::asid::Asid;
use mm::mmap::commit::Commit;
use mm::mmap::{AddressSpace, AnonKind, ShmemId, Vma};
use mm::{Error, Pfn, VirtAddr};
use spin::Mutex;

/// The page cache of one shared anonymous object (Linux's shmem inode
/// behind `MAP_SHARED | MAP_ANONYMOUS`): page index to frame. The object
/// holds one reference to each of its pages; every PTE mapping one holds
/// another. The pages go back when the last mm that maps the object lets
/// it go.
pub struct ShmemObject {
    pages: Mutex<BTreeMap<u64, Pfn>>,
    /// Pages charged to the commit for it, given back when it dies.
    charged: u64,
}

impl ShmemObject {
    fn new(charged: u64) -> Self {
        Self { pages: Mutex::new(BTreeMap::new()), charged }
    }

    /// The page at `index`, allocated zeroed on first use; the caller gets
    /// a new reference for its PTE.
    pub fn get_page(&self, index: u64) -> Result<Pfn, Error> {
        let mut pages = self.pages.lock();
        let pfn = match pages.get(&index) {
            Some(&pfn) => pfn,
            None => {
                let pfn = anon::alloc_page_unmapped()?;
                pages.insert(index, pfn);
                pfn
            }
        };
        anon::dup_anon_page(pfn);
        Ok(pfn)
    }
}

impl Drop for ShmemObject {
    fn drop(&mut self) {
        for (_, pfn) in core::mem::take(&mut *self.pages.lock()) {
            // SAFETY: the object's own reference (not a mapping); no mm maps
            // the object any more (this is its last Arc).
            unsafe { anon::put_page_ref(pfn) };
        }
        if self.charged > 0 {
            super::commit().vm_unacct_memory(self.charged);
        }
    }
}

static NEXT_SHMEM: AtomicU64 = AtomicU64::new(1);

/// A new shared-object id (for mm's mmap).
pub fn new_shmem_id() -> ShmemId {
    ShmemId(NEXT_SHMEM.fetch_add(1, Ordering::Relaxed))
}

/// Everything under the mm's lock.
pub struct MmInner {
    /// The VMAs and the layout (brk, stack, mmap base, commit charge).
    pub aspace: AddressSpace,
    /// The page tables.
    pub pgtable: UserPageTable,
    /// The shared anonymous objects some VMA of this mm maps.
    pub shmem: BTreeMap<ShmemId, Arc<ShmemObject>>,
}

impl MmInner {
    /// The object `id` a shared mmap just created (empty), known to this mm.
    pub fn add_shmem(&mut self, id: ShmemId, charged_pages: u64) {
        self.shmem.insert(id, Arc::new(ShmemObject::new(charged_pages)));
    }

    /// Let go of the objects no VMA of this mm maps any more (after an
    /// unmap or a MAP_FIXED replacement removed `removed`).
    pub fn release_shmem(&mut self, removed: &[Vma]) {
        for v in removed {
            if let AnonKind::Shared(id) = v.anon
                && !self.aspace.vmas().iter().any(|w| w.anon == AnonKind::Shared(id))
            {
                self.shmem.remove(&id);
            }
        }
    }
}

/// A user address space.
pub struct Mm {
    /// The L0 table's physical address (what TTBR0 holds while the mm
    /// runs): fixed for the mm's life, so the switch path reads it without
    /// the lock.
    pub pgd: mm::PhysAddr,
    /// VMAs and page tables.
    pub inner: Mutex<MmInner>,
    /// The ASID context (arch's allocator).
    pub context: MmContext,
    /// MM_ANONPAGES: anonymous pages mapped (shared anonymous pages count
    /// as MM_SHMEMPAGES in Linux; here both are counted in `rss_shmem`).
    pub rss_anon: AtomicU64,
    /// MM_SHMEMPAGES.
    pub rss_shmem: AtomicU64,
    /// The reverse-map family its private pages belong to (shared with
    /// the mms it forked and was forked from).
    pub anon_vma: Arc<AnonVma<Mm>>,
}

impl Mm {
    /// An empty address space with a fresh page-table root, heading a new
    /// reverse-map family (exec).
    pub fn new(aspace: AddressSpace) -> Result<Arc<Self>, Error> {
        Self::new_in(aspace, AnonVma::new())
    }

    /// An empty address space in `parent`'s reverse-map family (fork's
    /// child, registered before any PTE is copied into it).
    pub fn new_child(aspace: AddressSpace, parent: &Mm) -> Result<Arc<Self>, Error> {
        Self::new_in(aspace, parent.anon_vma.clone())
    }

    fn new_in(aspace: AddressSpace, anon_vma: Arc<AnonVma<Mm>>) -> Result<Arc<Self>, Error> {
        let pgtable = UserPageTable::new()?;
        let mm = Arc::new(Self {
            pgd: pgtable.root(),
            inner: Mutex::new(MmInner { aspace, pgtable, shmem: BTreeMap::new() }),
            context: MmContext::new(),
            rss_anon: AtomicU64::new(0),
            rss_shmem: AtomicU64::new(0),
            anon_vma,
        });
        mm.anon_vma.register(&mm);
        Ok(mm)
    }

    /// Where a private page mapped at `va` goes in the reverse map.
    pub fn anon_rmap(&self, va: u64) -> anon::AnonRmap {
        anon::AnonRmap { mapping: self.anon_vma.mapping(), index: super::rmap::page_index(va) }
    }

    /// The ASID to flush by, if this mm has one (an mm that never ran has
    /// no TLB entries anywhere).
    pub fn asid(&self) -> Option<Asid> {
        self.context.asid()
    }

    /// Pages mapped.
    pub fn rss(&self) -> u64 {
        self.rss_anon.load(Ordering::Relaxed) + self.rss_shmem.load(Ordering::Relaxed)
    }

    /// Count a newly mapped page.
    pub fn inc_rss(&self, shared: bool) {
        let c = if shared { &self.rss_shmem } else { &self.rss_anon };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Unmap the pages of the removed VMAs (munmap, MAP_FIXED, brk shrink):
    /// zap their PTEs, flush, drop the pages, recount RSS, and let go of
    /// shared objects no longer mapped.
    pub fn zap_vmas(&self, inner: &mut MmInner, removed: &[Vma]) {
        let asid = self.asid();
        for v in removed {
            inner.pgtable.zap_range(asid, VirtAddr(v.start), VirtAddr(v.end));
        }
        self.recount_rss(inner);
        inner.release_shmem(removed);
    }

    /// RSS from the page tables (after a zap: exact, and cheap enough for
    /// the sizes here; Linux keeps the counters incrementally).
    pub fn recount_rss(&self, inner: &mut MmInner) {
        let (mut anon_pages, mut shmem_pages) = (0, 0);
        let MmInner { aspace, pgtable, .. } = inner;
        for v in aspace.vmas().iter() {
            let shared = matches!(v.anon, AnonKind::Shared(_));
            pgtable.for_each(VirtAddr(v.start), VirtAddr(v.end), &mut |_, pte| {
                if !anon::is_zero_pfn(pte.pfn()) {
                    if shared {
                        shmem_pages += 1;
                    } else {
                        anon_pages += 1;
                    }
                }
                None
            });
        }
        self.rss_anon.store(anon_pages, Ordering::Relaxed);
        self.rss_shmem.store(shmem_pages, Ordering::Relaxed);
    }

    /// Append every frame this mm's page tables map (each VMA; the zero
    /// page left out) to `out`, in address order; nothing after exit_mmap.
    pub fn mapped_pfns(&self, out: &mut alloc::vec::Vec<Pfn>) {
        let mut inner = self.inner.lock();
        if inner.pgtable.is_destroyed() {
            return;
        }
        let MmInner { aspace, pgtable, .. } = &mut *inner;
        for v in aspace.vmas().iter() {
            pgtable.for_each(VirtAddr(v.start), VirtAddr(v.end), &mut |_, pte| {
                if !anon::is_zero_pfn(pte.pfn()) {
                    out.push(pte.pfn());
                }
                None
            });
        }
    }

    /// Tear down every mapping and the page tables (exit_mmap). The caller
    /// made sure no CPU runs on this mm (TTBR0 switched away). Idempotent;
    /// dropping the last reference to an mm does it too.
    pub fn exit_mmap(&self) {
        let mut inner = self.inner.lock();
        if inner.pgtable.is_destroyed() {
            return;
        }
        let asid = self.asid();
        {
            let MmInner { aspace, pgtable, .. } = &mut *inner;
            for v in aspace.vmas().iter() {
                pgtable.zap_range(asid, VirtAddr(v.start), VirtAddr(v.end));
            }
        }
        let _ = inner.aspace.exit_mmap(super::commit());
        inner.shmem.clear();
        self.rss_anon.store(0, Ordering::Relaxed);
        self.rss_shmem.store(0, Ordering::Relaxed);
        if let Some(asid) = asid {
            arch::tlb::flush_tlb_asid(asid);
        }
        inner.pgtable.destroy();
    }

    /// Run this mm on this CPU: its ASID (a new one after a rollover) and
    /// its tables in TTBR0 (Linux's switch_mm).
    pub fn switch_to(&self) {
        // SAFETY: `pgd` is this mm's L0 table, used with no other context;
        // it is freed only by exit_mmap, after its tasks switched away and
        // the ASID was flushed; the caller is about to run the mm's task.
        unsafe { crate::memory::context::switch_mm(&self.context, self.pgd) };
    }
}

impl Drop for Mm {
    fn drop(&mut self) {
        self.exit_mmap();
        self.anon_vma.prune();
    }
}
