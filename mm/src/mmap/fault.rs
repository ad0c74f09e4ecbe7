//! The mm side of a user page fault: may this access touch this VMA
//! (arch/arm64/mm/fault.c's vm_flags test), and what must happen to the
//! PTE (mm/memory.c handle_pte_fault, do_anonymous_page, do_wp_page,
//! wp_can_reuse_anon_folio). The kernel decodes ESR into a
//! [`FaultKind`], walks its page table to a [`PteState`], asks
//! [`decide`] and carries the [`FaultAction`] out under the PTE lock
//! (rechecking the PTE after any allocation, since another CPU may have
//! handled the same fault).
//!
//! ```text
//!   find_fault_vma(addr)          none -> Segv(MAPERR)  (grows the stack)
//!   access_error(vma, kind)       yes  -> Segv(ACCERR)
//!   decide(vma, addr, kind, pte):
//!     pte none, private:  read/exec -> MapZeroPage   write -> AllocZeroed
//!     pte none, shared:   MapShared (the object's page at the index)
//!     present, write, pte read-only:
//!         shared VMA                       -> Reuse (make writable)
//!         zero page                        -> Cow (a zeroed copy)
//!         AnonExclusive, or refcount 1     -> Reuse
//!         otherwise                        -> Cow (copy)
//!     present, access allowed: not young (or write and not dirty)
//!                                          -> SetYoung, else Spurious
//! ```

use super::flags::VmFlags;
use super::vma::{AnonKind, ShmemId, Vma};
use crate::pgtable::PageProt;
use bitflags::bitflags;

/// si_code of a SIGSEGV for an address with no mapping.
pub const SEGV_MAPERR: i32 = 1;
/// si_code of a SIGSEGV for a mapping that forbids the access.
pub const SEGV_ACCERR: i32 = 2;

/// Why a fault is a bad access (the SIGSEGV's si_code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum SegvCode {
    /// No VMA there (and no stack to grow): SEGV_MAPERR.
    MapErr = SEGV_MAPERR,
    /// The VMA does not allow the access: SEGV_ACCERR.
    AccErr = SEGV_ACCERR,
}

/// The access that faulted, as the kernel decodes ESR_EL1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// A data read (or a cache maintenance / atomic read side).
    Read,
    /// A data write (ESR WnR, or a CM-less atomic).
    Write,
    /// An EL0 instruction fetch.
    Exec,
}

/// Whether the CPU has FEAT_PAN3 (EPAN): without it, arm64 cannot make
/// an execute-only user mapping, so a read of an exec-only VMA succeeds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epan {
    /// No EPAN: exec implies read.
    Absent,
    /// EPAN: PROT_EXEC alone is execute-only.
    Present,
}

/// do_page_fault's vm_flags test: a fault is allowed when the VMA has one
/// of the flags the access needs: exec needs VM_EXEC, write VM_WRITE,
/// read VM_READ or VM_WRITE (write implies read) or, without EPAN,
/// VM_EXEC. Returns the SEGV code when the access is not allowed.
pub fn access_error(vma_flags: VmFlags, kind: FaultKind, epan: Epan) -> Option<SegvCode> {
    let need = match kind {
        FaultKind::Exec => VmFlags::EXEC,
        FaultKind::Write => VmFlags::WRITE,
        FaultKind::Read => match epan {
            Epan::Absent => VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC,
            Epan::Present => VmFlags::READ | VmFlags::WRITE,
        },
    };
    (!vma_flags.intersects(need)).then_some(SegvCode::AccErr)
}

/// vm_get_page_prot (arm64's protection_map): the protection a VMA's
/// PTEs start with, `None` for an inaccessible (PROT_NONE) VMA, whose
/// pages are never mapped. A private VMA is never writable here, even with
/// VM_WRITE: the write fault makes each page writable once it is the
/// mapping's own ([`FaultAction::AllocZeroed`], [`FaultAction::Reuse`],
/// [`FaultAction::Cow`]). Write implies read, and so does exec (arm64 maps
/// exec-only user pages readable unless it has EPAN).
pub fn vm_page_prot(flags: VmFlags) -> Option<PageProt> {
    if !flags.is_accessible() {
        return None;
    }
    let mut prot = PageProt::USER | PageProt::READ;
    if flags.contains(VmFlags::EXEC) {
        prot |= PageProt::EXEC;
    }
    if flags.contains(VmFlags::WRITE | VmFlags::SHARED) {
        prot |= PageProt::WRITE;
    }
    Some(prot)
}

bitflags! {
    /// What the kernel knows of a present PTE and its page.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct PteBits: u32 {
        /// The PTE allows writes.
        const WRITE = 1 << 0;
        /// The access flag is set (pte_young).
        const YOUNG = 1 << 1;
        /// The PTE is dirty.
        const DIRTY = 1 << 2;
        /// It maps the shared zero page.
        const ZERO_PAGE = 1 << 3;
        /// PageAnonExclusive: the page is known to be this mapping's only
        /// (set on a fresh anonymous page, cleared when fork shares it).
        const ANON_EXCLUSIVE = 1 << 4;
        /// The page may be pinned (a DMA or GUP pin).
        const PINNED = 1 << 5;
    }
}

/// The PTE at the faulting address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PteState {
    /// pte_none: nothing mapped yet.
    None,
    /// A valid PTE.
    Present {
        /// Its bits.
        bits: PteBits,
        /// The page's mapcount (number of PTEs mapping it).
        mapcount: u32,
        /// The page's refcount (one per mapping plus other references).
        refcount: u32,
    },
}

/// What the kernel must do to the PTE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultAction {
    /// Map the shared zero page read-only (young).
    MapZeroPage,
    /// Allocate a zeroed page and map it, writable (and dirty) when
    /// `writable`.
    AllocZeroed {
        /// The VMA has VM_WRITE.
        writable: bool,
    },
    /// Map page `index` of shared object `object` (allocating it zeroed
    /// if the object has none there), writable when `writable`.
    MapShared {
        /// The object.
        object: ShmemId,
        /// The page index in it.
        index: u64,
        /// The VMA has VM_WRITE.
        writable: bool,
    },
    /// Copy-on-write: a new page (zeroed when the old one is the zero
    /// page, a copy otherwise), mapped writable and dirty; the old page's
    /// mapcount and refcount drop (break-before-make on the PTE).
    Cow {
        /// The old page is the zero page: zero instead of copying.
        from_zero_page: bool,
    },
    /// Make the present PTE writable, dirty and young in place (the page
    /// is this mapping's alone, or the VMA is shared); mark it
    /// AnonExclusive if private.
    Reuse,
    /// Set the access flag (and dirty, for a write) on the present PTE.
    SetYoung {
        /// Also set dirty.
        dirty: bool,
    },
    /// Nothing to do: another CPU fixed the PTE, or a stale TLB entry.
    Spurious,
    /// A bad access: SIGSEGV with this code.
    Segv(SegvCode),
}

/// handle_pte_fault for an anonymous VMA that passed [`access_error`]
/// (re-checked here, so a caller cannot skip it).
pub fn decide(vma: &Vma, addr: u64, kind: FaultKind, pte: PteState, epan: Epan) -> FaultAction {
    if let Some(code) = access_error(vma.flags, kind, epan) {
        return FaultAction::Segv(code);
    }
    debug_assert!(vma.contains(addr));
    let write = kind == FaultKind::Write;
    let shared = vma.flags.intersects(VmFlags::SHARED | VmFlags::MAYSHARE);
    match pte {
        PteState::None => match vma.anon {
            AnonKind::Shared(object) => FaultAction::MapShared {
                object,
                index: vma.page_index(addr),
                writable: vma.flags.contains(VmFlags::WRITE),
            },
            AnonKind::Private if !write => FaultAction::MapZeroPage,
            AnonKind::Private => FaultAction::AllocZeroed { writable: vma.flags.contains(VmFlags::WRITE) },
        },
        PteState::Present { bits, mapcount, refcount } => {
            if write && !bits.contains(PteBits::WRITE) {
                // do_wp_page
                if shared {
                    return FaultAction::Reuse;
                }
                if bits.contains(PteBits::ZERO_PAGE) {
                    return FaultAction::Cow { from_zero_page: true };
                }
                if can_reuse_anon(bits, mapcount, refcount) {
                    return FaultAction::Reuse;
                }
                return FaultAction::Cow { from_zero_page: false };
            }
            let dirty = write && !bits.contains(PteBits::DIRTY);
            if !bits.contains(PteBits::YOUNG) || dirty {
                FaultAction::SetYoung { dirty: write }
            } else {
                FaultAction::Spurious
            }
        }
    }
}

/// PageAnonExclusive, or wp_can_reuse_anon_folio for a small folio
/// without swap cache or KSM: the only reference is this mapping's
/// (refcount 1; so mapcount at most 1 and no pin).
fn can_reuse_anon(bits: PteBits, mapcount: u32, refcount: u32) -> bool {
    bits.contains(PteBits::ANON_EXCLUSIVE) || (refcount == 1 && mapcount <= 1 && !bits.contains(PteBits::PINNED))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PAGE_SIZE;
    use crate::mmap::vma::VmaName;

    fn vma(flags: VmFlags, anon: AnonKind) -> Vma {
        Vma {
            start: 16 * PAGE_SIZE,
            end: 32 * PAGE_SIZE,
            flags,
            pgoff: if anon == AnonKind::Private { 16 } else { 5 },
            anon,
            name: VmaName::None,
        }
    }

    const RW: VmFlags = VmFlags::READ.union(VmFlags::WRITE);

    fn present(bits: PteBits, mapcount: u32, refcount: u32) -> PteState {
        PteState::Present { bits, mapcount, refcount }
    }

    #[test]
    fn access_error_follows_arm64() {
        use FaultKind::*;
        let n = VmFlags::empty();
        for kind in [Read, Write, Exec] {
            assert_eq!(access_error(n, kind, Epan::Absent), Some(SegvCode::AccErr));
        }
        assert_eq!(access_error(VmFlags::READ, Write, Epan::Absent), Some(SegvCode::AccErr));
        assert_eq!(access_error(VmFlags::READ, Exec, Epan::Absent), Some(SegvCode::AccErr));
        assert_eq!(access_error(VmFlags::WRITE, Read, Epan::Present), None);
        assert_eq!(access_error(VmFlags::EXEC, Read, Epan::Absent), None);
        assert_eq!(access_error(VmFlags::EXEC, Read, Epan::Present), Some(SegvCode::AccErr));
        assert_eq!(access_error(VmFlags::EXEC, Exec, Epan::Present), None);
        assert_eq!(access_error(RW, Exec, Epan::Present), Some(SegvCode::AccErr));
        assert_eq!(SegvCode::MapErr as i32, 1);
        assert_eq!(SegvCode::AccErr as i32, 2);
    }

    #[test]
    fn page_prot_of_vmas() {
        let u = PageProt::USER | PageProt::READ;
        assert_eq!(vm_page_prot(VmFlags::empty()), None);
        assert_eq!(vm_page_prot(VmFlags::READ), Some(u));
        assert_eq!(vm_page_prot(RW), Some(u), "private: write comes from the fault");
        assert_eq!(vm_page_prot(RW | VmFlags::SHARED), Some(u | PageProt::WRITE));
        assert_eq!(vm_page_prot(VmFlags::EXEC), Some(u | PageProt::EXEC));
        assert!((RW | VmFlags::MAYWRITE).is_cow_mapping());
        assert!(!(VmFlags::READ | VmFlags::MAYREAD).is_cow_mapping());
        assert!(!(RW | VmFlags::MAYWRITE | VmFlags::SHARED).is_cow_mapping());
    }

    #[test]
    fn first_touch() {
        let v = vma(RW, AnonKind::Private);
        let a = 20 * PAGE_SIZE + 8;
        let e = Epan::Absent;
        assert_eq!(decide(&v, a, FaultKind::Read, PteState::None, e), FaultAction::MapZeroPage);
        assert_eq!(decide(&v, a, FaultKind::Write, PteState::None, e), FaultAction::AllocZeroed { writable: true });
        let x = vma(VmFlags::READ | VmFlags::EXEC, AnonKind::Private);
        assert_eq!(decide(&x, a, FaultKind::Exec, PteState::None, e), FaultAction::MapZeroPage);
        let s = vma(RW | VmFlags::SHARED | VmFlags::MAYSHARE, AnonKind::Shared(ShmemId(9)));
        assert_eq!(
            decide(&s, a, FaultKind::Read, PteState::None, e),
            FaultAction::MapShared { object: ShmemId(9), index: 5 + 4, writable: true }
        );
        let ro = vma(VmFlags::READ, AnonKind::Private);
        assert_eq!(decide(&ro, a, FaultKind::Write, PteState::None, e), FaultAction::Segv(SegvCode::AccErr));
    }

    #[test]
    fn write_protect_faults() {
        let v = vma(RW, AnonKind::Private);
        let a = 17 * PAGE_SIZE;
        let w = FaultKind::Write;
        let e = Epan::Absent;
        let young = PteBits::YOUNG;
        // Zero page: a zeroed copy.
        assert_eq!(
            decide(&v, a, w, present(young | PteBits::ZERO_PAGE, 0, 1), e),
            FaultAction::Cow { from_zero_page: true }
        );
        // Shared after fork: copy.
        assert_eq!(decide(&v, a, w, present(young, 2, 2), e), FaultAction::Cow { from_zero_page: false });
        // The other side exited: refcount back to 1, reuse.
        assert_eq!(decide(&v, a, w, present(young, 1, 1), e), FaultAction::Reuse);
        // An extra reference (a pin, a GUP): copy.
        assert_eq!(decide(&v, a, w, present(young, 1, 2), e), FaultAction::Cow { from_zero_page: false });
        assert_eq!(
            decide(&v, a, w, present(young | PteBits::PINNED, 1, 1), e),
            FaultAction::Cow { from_zero_page: false }
        );
        // Exclusive pages are reused whatever the count says.
        assert_eq!(decide(&v, a, w, present(young | PteBits::ANON_EXCLUSIVE, 1, 1025), e), FaultAction::Reuse);
        // Shared writable VMA: just make it writable.
        let s = vma(RW | VmFlags::SHARED | VmFlags::MAYSHARE, AnonKind::Shared(ShmemId(1)));
        assert_eq!(decide(&s, a, w, present(young, 2, 3), e), FaultAction::Reuse);
    }

    #[test]
    fn access_flag_and_spurious() {
        let v = vma(RW, AnonKind::Private);
        let a = 17 * PAGE_SIZE;
        let e = Epan::Absent;
        let wr = PteBits::WRITE;
        assert_eq!(decide(&v, a, FaultKind::Read, present(wr, 1, 1), e), FaultAction::SetYoung { dirty: false });
        assert_eq!(
            decide(&v, a, FaultKind::Write, present(wr | PteBits::YOUNG, 1, 1), e),
            FaultAction::SetYoung { dirty: true }
        );
        assert_eq!(
            decide(&v, a, FaultKind::Write, present(wr | PteBits::YOUNG | PteBits::DIRTY, 1, 1), e),
            FaultAction::Spurious
        );
        assert_eq!(decide(&v, a, FaultKind::Read, present(PteBits::YOUNG, 2, 2), e), FaultAction::Spurious);
    }
}
