//! The page-fault handler for user addresses (Linux's
//! arch/arm64/mm/fault.c do_page_fault over mm/memory.c handle_mm_fault).
//!
//! ```text
//!   abort from EL0, or from a uaccess routine at EL1, on a user address
//!     classify ESR (fault_info): translation / access flag / permission
//!       -> handle_user_fault; alignment -> SIGBUS; the rest -> SIGSEGV/BUS
//!     Mm::inner locked (mmap_lock)
//!     find_vma: none, or above with no VM_GROWSDOWN -> SEGV_MAPERR
//!               below a grows-down VMA -> expand_stack (guard gap, rlimit)
//!     access_error (the VMA lacks what the access needs) -> SEGV_ACCERR
//!     handle_pte_fault (mm::mmap::fault::decide on the PTE found):
//!       none, read, private       -> the zero page, read-only
//!       none, write or shared     -> a zeroed page (or the shmem page)
//!       present, write, read-only -> shared: make writable
//!                                    zero page: new zeroed page (COW)
//!                                    exclusive: reuse in place
//!                                    otherwise: copy (COW)
//!       present and allowed       -> spurious: a stale TLB entry, retry
//! ```
//!
//! Out of memory while handling the fault ends in the OOM killer, as
//! Linux's pagefault_out_of_memory does.

use super::anon;
use super::commit;
use super::mm::{Mm, MmInner};
use super::pgtable::vma_pte_prot;
use super::uaccess::TASK_SIZE;
pub use mm::mmap::fault::SegvCode;
use mm::mmap::fault::{Epan, FaultAction, FaultKind, PteBits, PteState, decide};
use mm::mmap::{Errno, Vma};
use mm::{PAGE_SIZE, VirtAddr};

/// What became of a fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultResult {
    /// Mapped (or already was): retry the access.
    Handled,
    /// A bad access.
    Segv(SegvCode),
    /// No memory for the page or its tables.
    Oom,
}

/// The access an abort's ESR describes (Linux's is_el0_instruction_abort,
/// is_write_abort: WnR set and not a cache maintenance operation).
pub fn fault_kind(esr: u64, instruction: bool) -> FaultKind {
    const WNR: u64 = 1 << 6;
    const CM: u64 = 1 << 8;
    if instruction {
        FaultKind::Exec
    } else if esr & WNR != 0 && esr & CM == 0 {
        FaultKind::Write
    } else {
        FaultKind::Read
    }
}

/// FEAT_PAN3 is not used (no CPU here has it): exec implies read.
const EPAN: Epan = Epan::Absent;

/// Handle a fault at `addr` in `mm` (do_page_fault from
/// `lock_mm_and_find_vma` on).
pub fn handle_user_fault(mm: &Mm, addr: u64, kind: FaultKind) -> FaultResult {
    if addr >= TASK_SIZE {
        return FaultResult::Segv(SegvCode::MapErr);
    }
    let mut inner = mm.inner.lock();
    let vma = match inner.aspace.find_fault_vma(addr, commit()) {
        Some(v) => v.clone(),
        None => return FaultResult::Segv(SegvCode::MapErr),
    };
    handle_pte_fault(mm, &mut inner, &vma, addr & !(PAGE_SIZE - 1), kind)
}

/// The PTE level of handle_mm_fault, with the VMA found.
fn handle_pte_fault(mm: &Mm, inner: &mut MmInner, vma: &Vma, va: u64, kind: FaultKind) -> FaultResult {
    let asid = mm.asid();
    let pte = inner.pgtable.lookup(VirtAddr(va));
    if pte.is_none() && inner.pgtable.migration_entry(VirtAddr(va)).is_some() {
        // The mover holds the lock of every mm it unmaps from until the
        // entry is gone (see `migrate`), so this cannot be seen under the
        // lock; were it seen, mapping a new page over it would lose data:
        // retry the access instead.
        return FaultResult::Handled;
    }
    let state = match pte {
        None => PteState::None,
        Some(p) => {
            let pfn = p.pfn();
            let zero = anon::is_zero_pfn(pfn);
            let (mapcount, refcount) = if zero { (1, 1) } else { anon::anon_counts(pfn) };
            // Every PTE here is made young and (when writable) dirty.
            let mut bits = PteBits::YOUNG | PteBits::DIRTY;
            if p.writable() {
                bits |= PteBits::WRITE;
            }
            if zero {
                bits |= PteBits::ZERO_PAGE;
            }
            PteState::Present { bits, mapcount: mapcount.max(0) as u32, refcount: refcount.max(0) as u32 }
        }
    };
    match decide(vma, va, kind, state, EPAN) {
        FaultAction::MapZeroPage => {
            match inner.pgtable.install(VirtAddr(va), anon::zero_pfn(), vma_pte_prot(vma.flags, false)) {
                Ok(()) => FaultResult::Handled,
                Err(_) => FaultResult::Oom,
            }
        }
        FaultAction::AllocZeroed { writable } => {
            let Ok(pfn) = anon::alloc_anon_page(None, mm.anon_rmap(va)) else {
                return FaultResult::Oom;
            };
            install_new(mm, inner, va, pfn, vma_pte_prot(vma.flags, writable), false)
        }
        FaultAction::MapShared { object, index, writable } => {
            let pfn = match inner.shmem.get(&object).map(|o| o.get_page(index)) {
                Some(Ok(pfn)) => pfn,
                Some(Err(_)) => return FaultResult::Oom,
                None => return FaultResult::Segv(SegvCode::MapErr),
            };
            install_new(mm, inner, va, pfn, vma_pte_prot(vma.flags, writable), true)
        }
        FaultAction::Reuse => {
            let Some(p) = pte else { return FaultResult::Handled };
            inner.pgtable.protect(asid, VirtAddr(va), p, vma_pte_prot(vma.flags, true));
            FaultResult::Handled
        }
        FaultAction::Cow { from_zero_page } => {
            let Some(p) = pte else { return FaultResult::Handled };
            let old = p.pfn();
            let Ok(new) = anon::alloc_anon_page(if from_zero_page { None } else { Some(old) }, mm.anon_rmap(va)) else {
                return FaultResult::Oom;
            };
            inner.pgtable.replace(asid, VirtAddr(va), p, new, vma_pte_prot(vma.flags, true));
            if from_zero_page {
                mm.inc_rss(false);
            } else {
                // SAFETY: the PTE that held this reference now maps `new`,
                // and `replace` flushed every CPU's TLB entry for it.
                unsafe { anon::put_anon_page(old) };
            }
            FaultResult::Handled
        }
        FaultAction::SetYoung { .. } | FaultAction::Spurious => {
            // Every PTE here is young already: a stale TLB entry (a
            // permission upgrade this CPU saw late) goes with a flush.
            if let Some(asid) = asid {
                arch::tlb::flush_tlb_page_asid(asid, VirtAddr(va));
            }
            FaultResult::Handled
        }
        FaultAction::Segv(code) => FaultResult::Segv(code),
    }
}

/// Put a fresh page (one reference, one mapping) into the PTE for `va`.
fn install_new(
    mm: &Mm,
    inner: &mut MmInner,
    va: u64,
    pfn: mm::Pfn,
    prot: mm::pgtable::PageProt,
    shared: bool,
) -> FaultResult {
    match inner.pgtable.install(VirtAddr(va), pfn, prot) {
        Ok(()) => {
            mm.inc_rss(shared);
            FaultResult::Handled
        }
        Err(_) => {
            // SAFETY: the reference was never installed in a PTE.
            unsafe { anon::put_anon_page(pfn) };
            FaultResult::Oom
        }
    }
}

/// Fault in every page of `[start, end)` (MADV_WILLNEED; Linux's
/// populate_vma_page_range / faultin_page).
pub fn populate(mm: &Mm, start: u64, end: u64, write: bool) -> Result<(), Errno> {
    let kind = if write { FaultKind::Write } else { FaultKind::Read };
    let mut va = start;
    while va < end {
        match handle_user_fault(mm, va, kind) {
            FaultResult::Handled => {}
            FaultResult::Segv(_) => return Err(Errno::EFAULT),
            FaultResult::Oom => return Err(Errno::ENOMEM),
        }
        va += PAGE_SIZE;
    }
    Ok(())
}
