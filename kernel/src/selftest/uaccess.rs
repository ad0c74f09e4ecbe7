//! The uaccess helpers on a real user address space: the running task
//! (the self-test's) takes an mm with one mapping for the test, so the
//! copies run through TTBR0 with LDTR/STTR, fault pages in through the
//! exception fixup path, and turn bad pointers into -EFAULT instead of an
//! oops; every page is back afterwards.

use super::harness::{PageCounts, Test, TestResult};
use crate::memory::user::mm::{Mm, new_shmem_id};
use crate::memory::user::uaccess::{TASK_SIZE, UserPtr, clear_user, copy_from_user, copy_to_user, strncpy_from_user};
use crate::memory::user::{commit, uaccess};
use crate::{check, check_eq, sched};
use alloc::sync::Arc;
use mm::PAGE_SIZE;
use mm::mmap::flags::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE};
use mm::mmap::{AddressSpace, Errno, MmLayout};

pub const TESTS: &[Test] = &[Test { suite: "uaccess", name: "copies_fault_in_and_efault", run: copies }];

/// Pages of the test mapping.
const PAGES: u64 = 3;

/// Run `f` with this task on a fresh user address space that maps
/// [`PAGES`] private read-write pages at the address `f` gets.
pub(super) fn with_user_mm(f: impl FnOnce(u64) -> TestResult) -> TestResult {
    let mut aspace = AddressSpace::new(MmLayout::arm64(TASK_SIZE, 0));
    let r = aspace
        .mmap(0, PAGES * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, 0, commit(), &mut new_shmem_id)
        .map_err(|e| alloc::format!("mmap: {e}"))?;
    let mm: Arc<Mm> = Mm::new(aspace).map_err(|e| alloc::format!("Mm::new: {e}"))?;
    let me = sched::current();
    me.set_mm(Some(mm.clone()));
    {
        let flags = arch::irqflags::local_irq_save();
        mm.switch_to();
        arch::irqflags::local_irq_restore(flags);
    }
    let result = f(r.addr);
    {
        let flags = arch::irqflags::local_irq_save();
        me.set_mm(None);
        crate::memory::context::cpu_set_reserved_ttbr0();
        arch::irqflags::local_irq_restore(flags);
    }
    drop(me);
    drop(mm);
    result
}

fn copies() -> TestResult {
    let before = PageCounts::now();
    with_user_mm(|base| {
        // A store to a page never touched: the fault handler maps it from
        // inside copy_to_user, and the copy goes on.
        check_eq!(copy_to_user(UserPtr(base + 100), b"hello, user\0"), Ok(()));
        let mut s = [0u8; 32];
        check_eq!(strncpy_from_user(&mut s, UserPtr(base + 100)), Ok(11));
        check!(&s[..12] == b"hello, user\0", "strncpy_from_user read {:?}", &s[..12]);
        // Across a page boundary, into the second page (faulted in too).
        let pattern: alloc::vec::Vec<u8> = (0..64u8).collect();
        let edge = base + PAGE_SIZE - 32;
        check_eq!(copy_to_user(UserPtr(edge), &pattern), Ok(()));
        let mut back = [0u8; 64];
        check_eq!(copy_from_user(&mut back, UserPtr(edge)), Ok(()));
        check!(back[..] == pattern[..], "the copy across the page boundary came back different");
        check_eq!(clear_user(UserPtr(edge + 8), 16), Ok(()));
        check_eq!(copy_from_user(&mut back, UserPtr(edge)), Ok(()));
        check!(
            back[8..24].iter().all(|&b| b == 0) && back[7] == 7 && back[24] == 24,
            "clear_user cleared the wrong bytes"
        );
        // A read of a page never written: the zero page.
        let mut z = [0xffu8; 16];
        check_eq!(copy_from_user(&mut z, UserPtr(base + 2 * PAGE_SIZE)), Ok(()));
        check!(z.iter().all(|&b| b == 0), "an untouched page did not read as zeroes");
        // Bad pointers: NULL, past the mapping, a range running off its
        // end, a kernel address, a string without its NUL in reach.
        check_eq!(copy_from_user(&mut z, UserPtr(0)), Err(Errno::EFAULT));
        check_eq!(copy_to_user(UserPtr(base + PAGES * PAGE_SIZE), b"x"), Err(Errno::EFAULT));
        check_eq!(copy_from_user(&mut back, UserPtr(base + PAGES * PAGE_SIZE - 8)), Err(Errno::EFAULT));
        check_eq!(copy_from_user(&mut z, UserPtr(0xffff_8000_8000_0000)), Err(Errno::EFAULT));
        check!(!uaccess::access_ok(UserPtr(TASK_SIZE - 4), 8), "access_ok let a range cross TASK_SIZE");
        check_eq!(clear_user(UserPtr(base + PAGES * PAGE_SIZE), 1), Err(Errno::EFAULT));
        check_eq!(copy_to_user(UserPtr(base + PAGE_SIZE - 4), b"abcd"), Ok(()));
        check_eq!(strncpy_from_user(&mut s[..4], UserPtr(base + PAGE_SIZE - 4)), Err(Errno::ENAMETOOLONG));
        check_eq!(copy_to_user(UserPtr(base + PAGES * PAGE_SIZE - 3), b"abc"), Ok(()));
        check_eq!(strncpy_from_user(&mut s, UserPtr(base + PAGES * PAGE_SIZE - 3)), Err(Errno::EFAULT));
        Ok(())
    })?;
    PageCounts::now().check_back_to(&before)
}
