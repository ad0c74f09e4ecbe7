//! The memory system calls: mm's AddressSpace decides (VMAs, errno rules,
//! commit charge), this file does what the decision says to the page
//! tables (zap, protect, populate) with the TLB maintenance it needs.

use super::abi::SysResult;
use crate::memory::user::fault::{self, FaultResult};
use crate::memory::user::mm::Mm;
use crate::memory::user::pgtable::vma_pte_prot;
use crate::memory::user::uaccess::{UserPtr, copy_to_user};
use crate::memory::user::{anon, commit};
use crate::process::pid::Process;
use alloc::sync::Arc;
use alloc::vec::Vec;
use mm::mmap::fault::FaultKind;
use mm::mmap::flags::{MADV_DONTNEED, MADV_WILLNEED};
use mm::mmap::{AnonKind, Errno, VmFlags};
use mm::{PAGE_SIZE, VirtAddr};

fn mm_of(me: &Process) -> Result<Arc<Mm>, Errno> {
    me.mm().ok_or(Errno::EINVAL)
}

/// Fault in `[start, end)` (mm_populate): write faults where writable,
/// so COW is broken and pages are private now, as FOLL_WRITE does.
fn populate(mm: &Mm, start: u64, end: u64) -> Result<(), Errno> {
    let mut va = start;
    while va < end {
        let writable = {
            let inner = mm.inner.lock();
            match inner.aspace.vmas().find_vma(va) {
                Some(v) if v.start <= va => {
                    if !v.flags.intersects(VmFlags::READ | VmFlags::WRITE | VmFlags::EXEC) {
                        // PROT_NONE: nothing to populate.
                        va = v.end;
                        continue;
                    }
                    v.flags.contains(VmFlags::WRITE)
                }
                _ => return Ok(()),
            }
        };
        let kind = if writable { FaultKind::Write } else { FaultKind::Read };
        match crate::process::fault::user_fault(va, kind) {
            FaultResult::Handled => {}
            FaultResult::Segv(_) => return Err(Errno::EFAULT),
            FaultResult::Oom => return Err(Errno::ENOMEM),
        }
        va += PAGE_SIZE;
    }
    Ok(())
}

/// brk(addr): the new break, or the old one if it cannot move.
pub fn sys_brk(me: &Process, addr: u64) -> SysResult {
    let mm = mm_of(me)?;
    let mut inner = mm.inner.lock();
    let r = inner.aspace.brk(addr, commit());
    if !r.unmapped.removed.is_empty() {
        mm.zap_vmas(&mut inner, &r.unmapped.removed);
    }
    Ok(r.brk)
}

/// mmap(addr, len, prot, flags, fd, off): anonymous mappings only (a file
/// descriptor other than -1 with MAP_ANONYMOUS unset is EBADF: there are
/// no files).
pub fn sys_mmap(me: &Process, addr: u64, len: u64, prot: u32, flags: u32, fd: i32, off: u64) -> SysResult {
    const MAP_ANONYMOUS: u32 = 0x20;
    if flags & MAP_ANONYMOUS == 0 {
        return Err(if fd < 0 { Errno::EBADF } else { Errno::ENODEV });
    }
    if off & (PAGE_SIZE - 1) != 0 {
        return Err(Errno::EINVAL);
    }
    let mm = mm_of(me)?;
    let r = {
        let mut inner = mm.inner.lock();
        let mut ids = Vec::new();
        let r = inner.aspace.mmap(addr, len, prot, flags, off / PAGE_SIZE, commit(), &mut || {
            let id = crate::memory::user::mm::new_shmem_id();
            ids.push(id);
            id
        })?;
        if let Some(new) = r.shmem {
            inner.add_shmem(new.id, new.charged_pages);
        }
        if !r.unmapped.is_empty() {
            mm.zap_vmas(&mut inner, &r.unmapped);
        }
        r
    };
    if r.populate {
        // Linux ignores a populate failure: the mapping stays.
        let _ = populate(&mm, r.addr, r.addr + r.len);
    }
    Ok(r.addr)
}

/// munmap(addr, len).
pub fn sys_munmap(me: &Process, addr: u64, len: u64) -> SysResult {
    let mm = mm_of(me)?;
    let mut inner = mm.inner.lock();
    let r = inner.aspace.munmap(addr, len, commit())?;
    mm.zap_vmas(&mut inner, &r.removed);
    Ok(0)
}

/// mprotect(addr, len, prot): the VMAs change (split and merged by mm),
/// then every present PTE of a changed piece gets the new permissions;
/// a private page keeps its COW protection (read-only until the fault
/// decides), and a downgrade is flushed from every CPU by ASID.
pub fn sys_mprotect(me: &Process, addr: u64, len: u64, prot: u32) -> SysResult {
    let mm = mm_of(me)?;
    let mut inner = mm.inner.lock();
    let r = inner.aspace.mprotect(addr, len, prot, commit());
    let asid = mm.asid();
    for c in &r.changes {
        let shared = matches!(c.anon, AnonKind::Shared(_));
        // A private page mapped by more than this PTE stays read-only
        // (COW); a page this mm alone maps may be writable at once, as
        // Linux's change_pte_range with MM_CP_TRY_CHANGE_WRITABLE does. A
        // PROT_NONE piece keeps its pages, inaccessible.
        let flags = c.new;
        inner.pgtable.protect_range(asid, VirtAddr(c.start), VirtAddr(c.end), &|pfn| {
            let exclusive = shared || (!anon::is_zero_pfn(pfn) && anon::anon_counts(pfn) == (1, 1));
            vma_pte_prot(flags, exclusive)
        });
    }
    r.result.map(|_| 0)
}

/// madvise(addr, len, advice): MADV_DONTNEED zaps (the next access sees
/// zeroes, or the shared object's page), MADV_WILLNEED faults in; the
/// other advice Linux accepts is validated and has no effect here.
pub fn sys_madvise(me: &Process, addr: u64, len: u64, advice: i32) -> SysResult {
    let mm = mm_of(me)?;
    let r = {
        let mut inner = mm.inner.lock();
        inner.aspace.madvise(addr, len, advice)
    };
    match advice {
        MADV_DONTNEED => {
            let mut inner = mm.inner.lock();
            let asid = mm.asid();
            for p in &r.pieces {
                inner.pgtable.zap_range(asid, VirtAddr(p.start), VirtAddr(p.end));
            }
            mm.recount_rss(&mut inner);
        }
        MADV_WILLNEED => {
            for p in &r.pieces {
                let _ = fault::populate(&mm, p.start, p.end, false);
            }
        }
        _ => {}
    }
    r.result.map(|_| 0)
}

/// mincore(addr, len, vec): one byte per page, 1 if a page is mapped.
pub fn sys_mincore(me: &Process, addr: u64, len: u64, vec: UserPtr) -> SysResult {
    let mm = mm_of(me)?;
    let pieces = {
        let inner = mm.inner.lock();
        inner.aspace.mincore(addr, len)?
    };
    let pages = len.div_ceil(PAGE_SIZE);
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(pages as usize).map_err(|_| Errno::ENOMEM)?;
    out.resize(pages as usize, 0);
    {
        let mut inner = mm.inner.lock();
        for p in &pieces {
            inner.pgtable.for_each(VirtAddr(p.start), VirtAddr(p.end), &mut |va, _| {
                let i = ((va.0 - addr) / PAGE_SIZE) as usize;
                if let Some(b) = out.get_mut(i) {
                    *b = 1;
                }
                None
            });
        }
    }
    copy_to_user(vec, &out)?;
    Ok(0)
}
