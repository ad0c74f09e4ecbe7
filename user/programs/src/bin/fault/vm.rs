//! The address-space calls: demand-zero memory, brk, mmap's fixed forms,
//! munmap and mprotect splitting areas, madvise, mincore, the errno values
//! of bad arguments, overcommit accounting and MAP_GROWSDOWN.
use crate::util::{OrFail, TestResult, check_pattern, check_zero, expect_errno, expect_segv, pattern};
use crate::{ensure, fail};
use ulib::Errno;
use ulib::mem::{Mapping, probe_read};
use ulib::sys::{self, PAGE_SIZE, madv, map, prot};

const MIB: usize = 1024 * 1024;

/// 64 MiB of fresh anonymous memory: every page reads zero (every word of
/// it), takes a write and reads it back.
pub fn demand_zero_64m() -> TestResult {
    let m = Mapping::new(64 * MIB, prot::RW, map::ANON).or_fail("mmap(64 MiB)")?;
    for page in 0..m.nr_pages() {
        check_zero(&m, page * PAGE_SIZE, PAGE_SIZE, "fresh 64 MiB mapping")?;
    }
    m.fill_pages(pattern(20));
    check_pattern(&m, 20, "64 MiB mapping, read back")?;
    for page in 0..m.nr_pages() {
        check_zero(&m, page * PAGE_SIZE + 8, PAGE_SIZE - 16, "64 MiB mapping, the words not written")?;
    }
    Ok(())
}

/// brk grows the heap with zero-filled memory, shrinking it unmaps the
/// top (a later access faults, a later regrowth reads zeros), and a
/// request below the start is refused (the old break comes back).
pub fn brk() -> TestResult {
    let start = sys::brk(0);
    ensure!(start != 0, "brk(0) returned 0");
    let base = start.next_multiple_of(PAGE_SIZE);
    let grown = sys::brk(base + MIB);
    ensure!(grown == base + MIB, "brk(+1 MiB) returned {:#x}, expected {:#x}", grown, base + MIB);
    // SAFETY: [base, base + 1 MiB) lies between the old and the new break:
    // heap no Rust object uses (ulib has no allocator). The handle is
    // forgotten below, not dropped: the heap is brk's to give back.
    let heap = unsafe { Mapping::from_raw(base, MIB) };
    check_zero(&heap, 0, MIB, "new heap")?;
    heap.fill_pages(pattern(21));
    check_pattern(&heap, 21, "heap, read back")?;
    let shrunk = sys::brk(base + 64 * 1024);
    ensure!(shrunk == base + 64 * 1024, "brk(shrink) returned {:#x}", shrunk);
    expect_segv("load above a shrunk break", || {
        // SAFETY: the page lies above the break: unmapped, no Rust object.
        core::hint::black_box(unsafe { probe_read(base + 512 * 1024) });
    })?;
    let regrown = sys::brk(base + MIB);
    ensure!(regrown == base + MIB, "brk(regrow) returned {:#x}", regrown);
    check_zero(&heap, 64 * 1024, MIB - 64 * 1024, "heap regrown after a shrink")?;
    for page in 0..16 {
        ensure!(
            heap.read_u64(page * PAGE_SIZE) == pattern(21)(page),
            "heap page {} below the shrink lost its data",
            page
        );
    }
    heap.forget();
    let refused = sys::brk(0x1000);
    ensure!(refused == base + MIB, "brk(0x1000) returned {:#x}, expected the old break {:#x}", refused, base + MIB);
    let back = sys::brk(start);
    ensure!(back == start, "brk(start) returned {:#x}, expected {:#x}", back, start);
    Ok(())
}

/// MADV_DONTNEED zeroes the range (private anonymous memory is simply
/// dropped); the rest keeps its data; MADV_WILLNEED is accepted.
pub fn madv_dontneed() -> TestResult {
    let m = Mapping::anon(16).or_fail("mmap")?;
    m.fill_pages(pattern(22));
    sys::madvise(m.addr() + 4 * PAGE_SIZE, 8 * PAGE_SIZE, madv::DONTNEED).or_fail("madvise(MADV_DONTNEED)")?;
    for page in 0..16 {
        if (4..12).contains(&page) {
            check_zero(&m, page * PAGE_SIZE, PAGE_SIZE, "after MADV_DONTNEED")?;
        } else {
            ensure!(
                m.read_u64(page * PAGE_SIZE) == pattern(22)(page),
                "page {} outside the MADV_DONTNEED range lost its data",
                page
            );
        }
    }
    m.write_u64(5 * PAGE_SIZE, 99);
    ensure!(m.read_u64(5 * PAGE_SIZE) == 99, "a page dropped by MADV_DONTNEED does not take a write");
    sys::madvise(m.addr(), m.len(), madv::WILLNEED).or_fail("madvise(MADV_WILLNEED)")?;
    ensure!(m.read_u64(5 * PAGE_SIZE) == 99, "MADV_WILLNEED changed the data");
    Ok(())
}

/// MAP_FIXED replaces the pages it covers with fresh ones, with its own
/// protection, and leaves the rest of the old mapping alone.
pub fn map_fixed() -> TestResult {
    let m = Mapping::anon(8).or_fail("mmap")?;
    m.fill_pages(pattern(23));
    let at = m.addr() + 2 * PAGE_SIZE;
    let got = sys::mmap(at, 3 * PAGE_SIZE, prot::RW, map::ANON | map::FIXED).or_fail("mmap(MAP_FIXED)")?;
    ensure!(got == at, "mmap(MAP_FIXED) returned {:#x}, asked for {:#x}", got, at);
    for page in 0..8 {
        if (2..5).contains(&page) {
            check_zero(&m, page * PAGE_SIZE, PAGE_SIZE, "the MAP_FIXED replacement")?;
        } else {
            ensure!(m.read_u64(page * PAGE_SIZE) == pattern(23)(page), "page {} outside MAP_FIXED lost its data", page);
        }
    }
    let ro = m.addr() + 6 * PAGE_SIZE;
    sys::mmap(ro, PAGE_SIZE, prot::READ, map::ANON | map::FIXED).or_fail("mmap(MAP_FIXED, PROT_READ)")?;
    check_zero(&m, 6 * PAGE_SIZE, PAGE_SIZE, "the PROT_READ MAP_FIXED page")?;
    expect_segv("store to a PROT_READ MAP_FIXED page", || m.write_u64(6 * PAGE_SIZE, 1))?;
    m.write_u64(7 * PAGE_SIZE, 5);
    ensure!(m.read_u64(7 * PAGE_SIZE) == 5, "the page after the MAP_FIXED one does not take a write");
    Ok(())
}

/// MAP_FIXED_NOREPLACE: EEXIST over any existing page, the exact address
/// over a free range.
pub fn map_fixed_noreplace() -> TestResult {
    let m = Mapping::anon(4).or_fail("mmap")?;
    let flags = map::ANON | map::FIXED_NOREPLACE;
    expect_errno(sys::mmap(m.addr(), PAGE_SIZE, prot::RW, flags), Errno::EEXIST, "MAP_FIXED_NOREPLACE over a mapping")?;
    expect_errno(
        sys::mmap(m.addr() + 3 * PAGE_SIZE, 4 * PAGE_SIZE, prot::RW, flags),
        Errno::EEXIST,
        "MAP_FIXED_NOREPLACE overlapping a mapping's end",
    )?;
    sys::munmap(m.addr() + PAGE_SIZE, 2 * PAGE_SIZE).or_fail("munmap")?;
    let at = m.addr() + PAGE_SIZE;
    let got = sys::mmap(at, 2 * PAGE_SIZE, prot::RW, flags).or_fail("MAP_FIXED_NOREPLACE over a hole")?;
    ensure!(got == at, "MAP_FIXED_NOREPLACE returned {:#x}, asked for {:#x}", got, at);
    check_zero(&m, PAGE_SIZE, 2 * PAGE_SIZE, "the MAP_FIXED_NOREPLACE pages")?;
    Ok(())
}

fn resident(m: &Mapping, vec: &mut [u8]) -> Result<(), crate::util::Failed> {
    sys::mincore(m.addr(), m.len(), vec).or_fail("mincore")
}

/// MAP_POPULATE faults every page in at mmap: mincore reports them all.
pub fn map_populate_mincore() -> TestResult {
    let m = Mapping::new(8 * PAGE_SIZE, prot::RW, map::ANON | map::POPULATE).or_fail("mmap(MAP_POPULATE)")?;
    let mut vec = [0u8; 8];
    resident(&m, &mut vec)?;
    ensure!(vec.iter().all(|&b| b & 1 == 1), "MAP_POPULATE pages not all resident: {:?}", vec);
    check_zero(&m, 0, m.len(), "MAP_POPULATE pages")
}

/// mincore: written pages are resident, untouched ones are not; errors.
pub fn mincore() -> TestResult {
    let m = Mapping::anon(8).or_fail("mmap")?;
    let mut vec = [0xffu8; 8];
    resident(&m, &mut vec)?;
    ensure!(vec.iter().all(|&b| b & 1 == 0), "untouched pages reported resident: {:?}", vec);
    for page in [1, 3, 6] {
        m.write_u64(page * PAGE_SIZE, 1);
    }
    resident(&m, &mut vec)?;
    for (page, &b) in vec.iter().enumerate() {
        let want = [1, 3, 6].contains(&page);
        ensure!((b & 1 == 1) == want, "page {}: mincore says {}, expected {}", page, b, want as u8);
    }
    sys::madvise(m.addr() + 3 * PAGE_SIZE, PAGE_SIZE, madv::DONTNEED).or_fail("madvise")?;
    resident(&m, &mut vec)?;
    ensure!(vec[3] & 1 == 0, "page 3 still resident after MADV_DONTNEED");
    ensure!(vec[1] & 1 == 1 && vec[6] & 1 == 1, "MADV_DONTNEED of page 3 dropped others: {:?}", vec);
    let mut one = [0u8; 1];
    expect_errno(sys::mincore(m.addr() + 1, 1, &mut one), Errno::EINVAL, "mincore(unaligned)")?;
    let gone = m.addr() + 4 * PAGE_SIZE;
    sys::munmap(gone, PAGE_SIZE).or_fail("munmap")?;
    expect_errno(sys::mincore(gone, PAGE_SIZE, &mut one), Errno::ENOMEM, "mincore(<unmapped page>)")?;
    Ok(())
}

/// munmap in the middle leaves a hole that faults and two working halves;
/// unmapping a hole again is not an error.
pub fn munmap_holes() -> TestResult {
    let m = Mapping::anon(8).or_fail("mmap")?;
    m.fill_pages(pattern(24));
    let hole = m.addr() + 3 * PAGE_SIZE;
    sys::munmap(hole, 2 * PAGE_SIZE).or_fail("munmap(middle)")?;
    for page in [0, 1, 2, 5, 6, 7] {
        ensure!(m.read_u64(page * PAGE_SIZE) == pattern(24)(page), "page {} beside the hole lost its data", page);
    }
    expect_segv("load from the first page of a munmap hole", || {
        // SAFETY: unmapped just above: no Rust object lives there.
        core::hint::black_box(unsafe { probe_read(hole) });
    })?;
    expect_segv("load from the last byte of a munmap hole", || {
        // SAFETY: as above.
        core::hint::black_box(unsafe { probe_read(hole + 2 * PAGE_SIZE - 1) });
    })?;
    sys::munmap(hole, 2 * PAGE_SIZE).or_fail("munmap(the hole again)")?;
    sys::munmap(m.addr() + 7 * PAGE_SIZE, PAGE_SIZE).or_fail("munmap(last page)")?;
    m.write_u64(6 * PAGE_SIZE + 8, 3);
    ensure!(m.read_u64(6 * PAGE_SIZE + 8) == 3, "the page before the unmapped end does not take a write");
    expect_segv("load from an unmapped last page", || {
        core::hint::black_box(m.read_u64(7 * PAGE_SIZE));
    })
}

/// mprotect on the middle page splits the area: only that page refuses
/// stores; making it writable again restores the whole range.
pub fn mprotect_split() -> TestResult {
    let m = Mapping::anon(4).or_fail("mmap")?;
    m.fill_pages(pattern(25));
    sys::mprotect(m.addr() + PAGE_SIZE, PAGE_SIZE, prot::READ).or_fail("mprotect(page 1, PROT_READ)")?;
    expect_segv("store to the read-only middle page", || m.write_u64(PAGE_SIZE + 8, 1))?;
    for page in [0, 2, 3] {
        m.write_u64(page * PAGE_SIZE + 8, page as u64);
    }
    sys::mprotect(m.addr() + 2 * PAGE_SIZE, PAGE_SIZE, prot::NONE).or_fail("mprotect(page 2, PROT_NONE)")?;
    expect_segv("load from the PROT_NONE page", || {
        core::hint::black_box(m.read_u64(2 * PAGE_SIZE));
    })?;
    ensure!(m.read_u64(3 * PAGE_SIZE + 8) == 3, "page 3 changed");
    sys::mprotect(m.addr(), m.len(), prot::RW).or_fail("mprotect(all, PROT_READ|PROT_WRITE)")?;
    for page in 0..4 {
        ensure!(m.read_u64(page * PAGE_SIZE) == pattern(25)(page), "page {} lost its data across mprotect", page);
        m.write_u64(page * PAGE_SIZE + 16, 7);
    }
    Ok(())
}

/// Linux's errno values for bad arguments.
pub fn errno() -> TestResult {
    let m = Mapping::anon(4).or_fail("mmap")?;
    let a = m.addr();
    expect_errno(sys::mmap(0, 0, prot::RW, map::ANON), Errno::EINVAL, "mmap(len 0)")?;
    expect_errno(
        sys::mmap(a + 1, PAGE_SIZE, prot::RW, map::ANON | map::FIXED),
        Errno::EINVAL,
        "mmap(MAP_FIXED, unaligned)",
    )?;
    expect_errno(
        sys::mmap(0, PAGE_SIZE, prot::RW, map::ANONYMOUS),
        Errno::EINVAL,
        "mmap(neither MAP_PRIVATE nor MAP_SHARED)",
    )?;
    expect_errno(sys::mmap(0, 1 << 62, prot::READ, map::ANON | map::NORESERVE), Errno::ENOMEM, "mmap(2^62 bytes)")?;
    expect_errno(sys::munmap(a + 1, PAGE_SIZE), Errno::EINVAL, "munmap(unaligned)")?;
    expect_errno(sys::munmap(a, 0), Errno::EINVAL, "munmap(len 0)")?;
    expect_errno(sys::mprotect(a + 1, PAGE_SIZE, prot::READ), Errno::EINVAL, "mprotect(unaligned)")?;
    expect_errno(sys::madvise(a + 1, PAGE_SIZE, madv::DONTNEED), Errno::EINVAL, "madvise(unaligned)")?;
    sys::munmap(a + 2 * PAGE_SIZE, PAGE_SIZE).or_fail("munmap")?;
    expect_errno(sys::mprotect(a, 4 * PAGE_SIZE, prot::READ), Errno::ENOMEM, "mprotect(over a hole)")?;
    expect_errno(sys::mprotect(a + 2 * PAGE_SIZE, PAGE_SIZE, prot::READ), Errno::ENOMEM, "mprotect(<unmapped>)")?;
    expect_errno(sys::madvise(a + 2 * PAGE_SIZE, PAGE_SIZE, madv::DONTNEED), Errno::ENOMEM, "madvise(<unmapped>)")?;
    expect_errno(sys::wait4(-1, 0), Errno::ECHILD, "wait4(-1) without children")?;
    expect_errno(sys::kill(sys::getpid(), 100), Errno::EINVAL, "kill(self, 100)")?;
    let r = sys::check(sys::syscall6(0x7ff, 0, 0, 0, 0, 0, 0));
    expect_errno(r, Errno::ENOSYS, "system call 0x7ff")?;
    Ok(())
}

const GIB: usize = 1024 * MIB;

/// Heuristic overcommit: PROT_NONE and MAP_NORESERVE reservations of
/// 32 GiB are free (and a window of one made writable works); one private
/// writable mapping of 1 TiB, more than RAM plus swap, is ENOMEM.
pub fn overcommit() -> TestResult {
    let none = Mapping::new(32 * GIB, prot::NONE, map::ANON).or_fail("mmap(32 GiB, PROT_NONE)")?;
    let window = none.addr() + 16 * GIB;
    sys::mprotect(window, MIB, prot::RW).or_fail("mprotect(1 MiB window of the reservation, RW)")?;
    // SAFETY: the window lies inside `none`, which no Rust reference
    // aliases; the view is forgotten (`none` unmaps the whole).
    let w = unsafe { Mapping::from_raw(window, MIB) };
    w.fill_pages(pattern(26));
    let ok = w.check_pages(pattern(26));
    w.forget();
    if ok.is_err() {
        fail!("the writable window of a PROT_NONE reservation lost its data");
    }
    drop(none);
    let nores = Mapping::new(32 * GIB, prot::RW, map::ANON | map::NORESERVE).or_fail("mmap(32 GiB, MAP_NORESERVE)")?;
    nores.write_u64(31 * GIB, 1);
    ensure!(nores.read_u64(31 * GIB) == 1, "MAP_NORESERVE page does not keep a write");
    drop(nores);
    expect_errno(sys::mmap(0, 1024 * GIB, prot::RW, map::ANON), Errno::ENOMEM, "mmap(1 TiB, private writable)")?;
    Ok(())
}

/// A MAP_GROWSDOWN area grows when a page just below it is touched.
pub fn growsdown() -> TestResult {
    // Find 16 MiB of free address space, then map 4 pages at its top.
    let r = Mapping::new(16 * MIB, prot::NONE, map::ANON).or_fail("mmap(16 MiB reservation)")?;
    let base = r.addr();
    drop(r);
    let top = base + 16 * MIB - 4 * PAGE_SIZE;
    let got = sys::mmap(top, 4 * PAGE_SIZE, prot::RW, map::ANON | map::FIXED | map::GROWSDOWN)
        .or_fail("mmap(MAP_GROWSDOWN)")?;
    ensure!(got == top, "mmap(MAP_GROWSDOWN|MAP_FIXED) returned {:#x}, asked for {:#x}", got, top);
    let below = top - 64 * PAGE_SIZE;
    // SAFETY: [below, top + 4 pages) is the grows-down area and the room
    // below it that we just freed: no Rust object lives there.
    let g = unsafe { Mapping::from_raw(below, 68 * PAGE_SIZE) };
    ensure!(g.read_u64(63 * PAGE_SIZE) == 0, "the page just below a MAP_GROWSDOWN area does not read zero");
    g.write_u64(63 * PAGE_SIZE, 11);
    g.write_u64(0, 12);
    let ok = g.read_u64(63 * PAGE_SIZE) == 11 && g.read_u64(0) == 12;
    let mut vec = [0u8; 1];
    let mapped = sys::mincore(below, PAGE_SIZE, &mut vec);
    drop(g);
    ensure!(ok, "the grown pages do not keep their data");
    ensure!(mapped.is_ok(), "mincore on the grown area: {:?}", mapped);
    Ok(())
}
