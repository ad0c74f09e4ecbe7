//! fork: clone(SIGCHLD) without CLONE_VM (Linux's kernel/fork.c
//! copy_process, dup_mmap and mm/memory.c copy_page_range).
//!
//! The child gets a copy of the parent's VMAs (and their commit charge),
//! and its page tables map the same pages: a private page is mapped
//! read-only in both and its refcount and mapcount go up, so the first
//! write by either side faults and copies (or reuses the page if the
//! other side let go of it meanwhile); a shared anonymous page stays
//! writable in both; the zero page stays the zero page. The parent's
//! write-protected PTEs are flushed from every CPU's TLB by ASID before
//! the child can run, so no CPU keeps a writable translation of a page
//! the child now shares.
//!
//! Threads (CLONE_VM, CLONE_THREAD) are not supported: such a clone is
//! refused with EINVAL.

use super::pid::Process;
use crate::memory::user::anon;
use crate::memory::user::mm::{Mm, MmInner};
use crate::memory::user::pgtable::vma_pte_prot;
use alloc::sync::Arc;
use arch::exception::TrapFrame;
use mm::VirtAddr;
use mm::mmap::{AnonKind, Errno};

/// The clone flags a fork may carry besides its exit signal, accepted and
/// ignored (they matter only with threads, which are not supported):
/// CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID, CLONE_CHILD_SETTID, as
/// glibc's fork passes them.
const FORK_OK_FLAGS: u64 = 0x0010_0000 | 0x0020_0000 | 0x0100_0000;

/// clone(flags, newsp, parent_tid, tls, child_tid) for fork.
pub fn sys_clone(me: &Arc<Process>, frame: &TrapFrame, flags: u64, newsp: u64, _tls: u64) -> Result<u64, Errno> {
    let exit_signal = flags & 0xff;
    if flags & !0xff & !FORK_OK_FLAGS != 0 {
        return Err(Errno::EINVAL);
    }
    if exit_signal > 64 {
        return Err(Errno::EINVAL);
    }
    let parent_mm = me.mm().ok_or(Errno::EINVAL)?;
    let child_mm = dup_mm(&parent_mm)?;
    let mut child_frame = *frame;
    child_frame.x[0] = 0;
    if newsp != 0 {
        child_frame.sp = newsp;
    }
    let child = Process::new(&me.comm(), me.pid, child_mm.clone(), false);
    let from = me.task.lock().clone();
    if super::spawn::start_user_task(&child, child_mm, child_frame, from.as_deref()).is_err() {
        super::pid::unhash(child.pid);
        return Err(Errno::ENOMEM);
    }
    Ok(child.pid as u64)
}

/// dup_mmap: a new mm with the parent's VMAs and COW-shared pages.
pub fn dup_mm(parent: &Mm) -> Result<Arc<Mm>, Errno> {
    let mut p = parent.inner.lock();
    let aspace = p.aspace.dup_mmap(crate::memory::user::commit())?;
    let child = Mm::new_child(aspace, parent).map_err(|_| Errno::ENOMEM)?;
    {
        let mut c = child.inner.lock();
        c.shmem = p.shmem.clone();
        if let Err(e) = copy_page_range(parent, &mut p, &mut c) {
            drop(c);
            drop(p);
            return Err(e);
        }
    }
    drop(p);
    let mut c = child.inner.lock();
    child.recount_rss(&mut c);
    drop(c);
    Ok(child)
}

fn copy_page_range(parent: &Mm, p: &mut MmInner, c: &mut MmInner) -> Result<(), Errno> {
    let mut wrprotected = false;
    let mut failed = false;
    let MmInner { aspace, pgtable, .. } = p;
    for v in aspace.vmas().iter() {
        let (flags, shared) = (v.flags, matches!(v.anon, AnonKind::Shared(_)));
        pgtable.for_each(VirtAddr(v.start), VirtAddr(v.end), &mut |va, pte| {
            if failed {
                return None;
            }
            let pfn = pte.pfn();
            let writable = pte.writable();
            let (child_write, parent_prot) = if anon::is_zero_pfn(pfn) {
                (false, None)
            } else if shared {
                (writable, None)
            } else if writable {
                (false, Some(vma_pte_prot(flags, false)))
            } else {
                (false, None)
            };
            anon::dup_anon_page(pfn);
            if c.pgtable.install(va, pfn, vma_pte_prot(flags, child_write)).is_err() {
                // SAFETY: the reference just taken was never installed.
                unsafe { anon::put_anon_page(pfn) };
                failed = true;
                return None;
            }
            if parent_prot.is_some() {
                wrprotected = true;
            }
            parent_prot
        });
    }
    if wrprotected && let Some(asid) = parent.asid() {
        arch::tlb::flush_tlb_asid(asid);
    }
    if failed { Err(Errno::ENOMEM) } else { Ok(()) }
}
