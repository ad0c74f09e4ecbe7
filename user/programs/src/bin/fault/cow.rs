//! Copy-on-write after fork, on private anonymous memory: the scenarios of
//! Linux's tools/testing/selftests/mm/cow.c that need no swap, THP, hugetlb
//! or page pinning, plus shared anonymous memory, which must not be copied.
use crate::util::{OrFail, Shared, TestResult, check_pattern, check_zero, expect_exit, pattern, spawn};
use crate::{ensure, fail};
use ulib::mem::Mapping;
use ulib::sys::{self, PAGE_SIZE, prot};

const PAGES: usize = 16;

/// The child writes after fork; the parent must keep its own data.
pub fn child_writes() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    m.fill_pages(pattern(1));
    let pid = spawn(|| {
        check_pattern(&m, 1, "child, before writing")?;
        m.fill_pages(pattern(2));
        check_pattern(&m, 2, "child, after writing")
    })
    .or_fail("fork")?;
    expect_exit(pid, 0, "writing child")?;
    check_pattern(&m, 1, "parent, after the child wrote its copy")
}

/// The parent writes after fork while the child is alive; the child must
/// still see the data as it was at fork.
pub fn parent_writes() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    let flag = Shared::new()?;
    m.fill_pages(pattern(3));
    let pid = spawn(|| {
        flag.wait_for(0, 1)?;
        check_pattern(&m, 3, "child, after the parent wrote its copy")?;
        m.fill_pages(pattern(5));
        check_pattern(&m, 5, "child, after writing")
    })
    .or_fail("fork")?;
    m.fill_pages(pattern(4));
    check_pattern(&m, 4, "parent, after writing")?;
    flag.set(0, 1);
    expect_exit(pid, 0, "child")?;
    check_pattern(&m, 4, "parent, after the child exited")
}

/// cow.c's mprotect case from the other side: the mapping is read-only
/// at fork; each process makes it writable again and writes its own copy.
pub fn mprotect_ro_before_fork() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    m.fill_pages(pattern(6));
    sys::mprotect(m.addr(), m.len(), prot::READ).or_fail("mprotect(PROT_READ)")?;
    let pid = spawn(|| {
        check_pattern(&m, 6, "child, read-only")?;
        sys::mprotect(m.addr(), m.len(), prot::RW).or_fail("child mprotect(PROT_READ|PROT_WRITE)")?;
        m.fill_pages(pattern(7));
        check_pattern(&m, 7, "child, after writing")
    })
    .or_fail("fork")?;
    expect_exit(pid, 0, "child")?;
    check_pattern(&m, 6, "parent, after the child wrote")?;
    sys::mprotect(m.addr(), m.len(), prot::RW).or_fail("mprotect(PROT_READ|PROT_WRITE)")?;
    m.fill_pages(pattern(8));
    check_pattern(&m, 8, "parent, after writing")
}

/// cow.c's "mprotect() optimization" case: after fork the parent makes the
/// range read-only and writable again, then writes. Re-enabling write must
/// not map the pages the child still shares writable.
pub fn parent_mprotect_after_fork() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    let flag = Shared::new()?;
    m.fill_pages(pattern(9));
    let pid = spawn(|| {
        flag.wait_for(0, 1)?;
        check_pattern(&m, 9, "child, after the parent's mprotect and write")
    })
    .or_fail("fork")?;
    sys::mprotect(m.addr(), m.len(), prot::READ).or_fail("mprotect(PROT_READ)")?;
    sys::mprotect(m.addr(), m.len(), prot::RW).or_fail("mprotect(PROT_READ|PROT_WRITE)")?;
    m.fill_pages(pattern(10));
    flag.set(0, 1);
    expect_exit(pid, 0, "child")?;
    check_pattern(&m, 10, "parent, after writing")
}

/// Pages read before fork map the shared zero page; a write by either side
/// after fork must give that side its own zeroed page and leave the other
/// reading zeros.
pub fn zero_page() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    check_zero(&m, 0, m.len(), "fresh mapping")?;
    let flag = Shared::new()?;
    let pid = spawn(|| {
        m.fill_pages(pattern(11));
        check_pattern(&m, 11, "child, after writing")?;
        flag.set(0, 1);
        flag.wait_for(1, 1)?;
        check_pattern(&m, 11, "child, after the parent wrote")
    })
    .or_fail("fork")?;
    flag.wait_for(0, 1)?;
    check_zero(&m, 0, m.len(), "parent, after the child wrote")?;
    m.fill_pages(pattern(12));
    check_pattern(&m, 12, "parent, after writing")?;
    flag.set(1, 1);
    expect_exit(pid, 0, "child")?;
    check_pattern(&m, 12, "parent, after the child exited")
}

/// The child exits at once; the parent's pages are then exclusive again and
/// its writes (reusing them in place or copying) must keep its data right.
pub fn child_exits_early() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    m.fill_pages(pattern(13));
    let pid = spawn(|| Ok(())).or_fail("fork")?;
    expect_exit(pid, 0, "child")?;
    check_pattern(&m, 13, "parent, after the child exited")?;
    // Write half a page's worth at a time so reads between writes would see
    // a wrongly reused or copied page.
    for page in 0..PAGES {
        m.write_u64(page * PAGE_SIZE, pattern(14)(page));
        ensure!(m.read_u64(page * PAGE_SIZE + PAGE_SIZE - 8) == !pattern(13)(page), "page {} lost its old tail", page);
        m.write_u64(page * PAGE_SIZE + PAGE_SIZE - 8, !pattern(14)(page));
    }
    check_pattern(&m, 14, "parent, after writing")
}

const CHAIN_DEPTH: u64 = 6;

/// A fork chain: each generation checks the data its parent left, writes
/// its own, forks the next and, once that one exited, checks that its own
/// data is still there.
pub fn nested_fork_chain() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    m.fill_pages(pattern(100));
    generation(&m, 1)
}

fn generation(m: &Mapping, depth: u64) -> TestResult {
    let pid = spawn(|| {
        check_pattern(m, 100 + depth - 1, "child, its parent's data")?;
        m.fill_pages(pattern(100 + depth));
        if depth < CHAIN_DEPTH { generation(m, depth + 1) } else { Ok(()) }
    })
    .or_fail("fork")?;
    expect_exit(pid, 0, "next generation")?;
    check_pattern(m, 100 + depth - 1, "after the next generation exited")
}

/// MADV_DONTNEED in the child drops its view of COW-shared pages (it reads
/// zeros), the parent's stay.
pub fn madv_dontneed_child() -> TestResult {
    let m = Mapping::anon(PAGES).or_fail("mmap")?;
    m.fill_pages(pattern(15));
    let pid = spawn(|| {
        sys::madvise(m.addr(), m.len(), sys::madv::DONTNEED).or_fail("madvise(MADV_DONTNEED)")?;
        check_zero(&m, 0, m.len(), "child, after MADV_DONTNEED")
    })
    .or_fail("fork")?;
    expect_exit(pid, 0, "child")?;
    check_pattern(&m, 15, "parent, after the child's MADV_DONTNEED")
}

/// MAP_SHARED anonymous memory is the same pages in parent and child.
pub fn shared_anon_across_fork() -> TestResult {
    let m = Mapping::new(PAGES * PAGE_SIZE, prot::RW, sys::map::SHARED | sys::map::ANONYMOUS).or_fail("mmap")?;
    m.fill_pages(pattern(16));
    let pid = spawn(|| {
        check_pattern(&m, 16, "child, the parent's data")?;
        m.fill_pages(pattern(17));
        Ok(())
    })
    .or_fail("fork")?;
    expect_exit(pid, 0, "child")?;
    if m.check_pages(pattern(17)).is_err() {
        fail!("parent does not see the child's writes to MAP_SHARED memory");
    }
    Ok(())
}
