//! `bench=fault`: the user fault paths, in instructions, beside what they
//! cannot avoid doing (a 4 KiB memset for a demand-zero fault, a 4 KiB
//! memcpy for a COW fault), measured in the same boot.
//!
//! The faults are taken through the kernel's own entry to the handler
//! (`memory::user::fault::handle_user_fault`) on an address space that no
//! CPU runs, so the figures are the fault handling proper (VMA lookup,
//! PTE walk, allocation, zeroing or copying, PTE update) without the
//! exception entry and return (about 80 instructions on this kernel) and
//! without TLB maintenance (an mm that never ran has no ASID, hence
//! nothing to invalidate). fork and munmap are timed whole and divided by
//! the pages they handled.

use super::harness::{measure, report_suite};
use crate::memory::pages::alloc_pages;
use crate::memory::user::fault::{FaultResult, handle_user_fault};
use crate::memory::user::mm::Mm;
use crate::memory::user::{commit, uaccess::TASK_SIZE};
use crate::process::fork::dup_mm;
use alloc::sync::Arc;
use mm::PAGE_SIZE;
use mm::gfp::Gfp;
use mm::mmap::fault::FaultKind;
use mm::mmap::flags::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use mm::mmap::{AddressSpace, MmLayout};

/// Pages per fault workload.
const PAGES: u64 = 2048;
/// The fork workload's populated size (64 MiB).
const FORK_BYTES: u64 = 64 << 20;

/// An address space with one private read-write mapping of `bytes`.
fn mm_with_mapping(bytes: u64) -> Option<(Arc<Mm>, u64)> {
    let mut aspace = AddressSpace::new(MmLayout::arm64(TASK_SIZE, 0));
    let r = aspace
        .mmap(0, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0, commit(), &mut || {
            crate::memory::user::mm::new_shmem_id()
        })
        .ok()?;
    let mm = Mm::new(aspace).ok()?;
    Some((mm, r.addr))
}

fn fault_all(mm: &Mm, start: u64, pages: u64) -> bool {
    (0..pages).all(|i| handle_user_fault(mm, start + i * PAGE_SIZE, FaultKind::Write) == FaultResult::Handled)
}

/// memset and memcpy of one page, reported under `suite` (the costs the
/// fault and migration paths are compared with, measured in the same boot).
pub fn baselines(suite: &str, icount: bool) {
    let Ok(buf) = alloc_pages(Gfp::KERNEL, 1) else { return };
    let (dst, src) = (buf.address().as_u64() as *mut u8, (buf.address().as_u64() + PAGE_SIZE) as *const u8);
    let r = measure(PAGES, || {
        // SAFETY: `buf` is two pages this function owns; the first is
        // written, the second read, both within the block.
        unsafe { core::ptr::write_bytes(core::hint::black_box(dst), 0, PAGE_SIZE as usize) };
    });
    report_suite(suite, "memset-4k", "baseline", r, icount);
    let r = measure(PAGES, || {
        // SAFETY: as above; the two pages do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(core::hint::black_box(src), dst, PAGE_SIZE as usize) };
    });
    report_suite(suite, "memcpy-4k", "baseline", r, icount);
}

/// Run the suite.
pub fn run(icount: bool) {
    baselines("fault", icount);
    // Demand-zero faults: one write fault per page of a fresh mapping.
    if let Some((mm, start)) = mm_with_mapping((PAGES + 64) * PAGE_SIZE) {
        let mut next = 0u64;
        let mut ok = true;
        let r = measure(PAGES, || {
            ok &= handle_user_fault(&mm, start + next * PAGE_SIZE, FaultKind::Write) == FaultResult::Handled;
            next += 1;
        });
        if ok {
            report_suite("fault", "demand-zero", "ours", r, icount);
        }
        // COW faults: the pages shared with a fork child, written by it.
        if let Ok(child) = dup_mm(&mm) {
            let mut next = 0u64;
            let mut ok = true;
            let r = measure(PAGES, || {
                ok &= handle_user_fault(&child, start + next * PAGE_SIZE, FaultKind::Write) == FaultResult::Handled;
                next += 1;
            });
            if ok {
                report_suite("fault", "cow", "ours", r, icount);
            }
        }
    }
    // fork of 64 MiB, per PTE; munmap of the child's copy, per page.
    let pages = FORK_BYTES / PAGE_SIZE;
    if let Some((mm, start)) = mm_with_mapping(FORK_BYTES)
        && fault_all(&mm, start, pages)
    {
        let (_, i0) = arch::pmu::read();
        let child = dup_mm(&mm);
        let (_, i1) = arch::pmu::read();
        if let Ok(child) = child {
            report_suite("fault", "fork-64m-per-pte", "ours", ((i1 - i0) / pages, 0), true);
            let (_, i2) = arch::pmu::read();
            let removed = {
                let mut inner = child.inner.lock();
                let r = inner.aspace.munmap(start, FORK_BYTES, commit());
                if let Ok(r) = &r {
                    child.zap_vmas(&mut inner, &r.removed);
                }
                r.is_ok()
            };
            let (_, i3) = arch::pmu::read();
            if removed {
                report_suite("fault", "munmap-per-page", "ours", ((i3 - i2) / pages, 0), true);
            }
        }
    }
}
