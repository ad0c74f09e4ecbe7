//! AddressSpace against a page-by-page model, and the rules one by one.

use super::commit::{Commit, Overcommit, VmCommit};
use super::errno::Errno;
use super::fault::{self, Epan, FaultAction, FaultKind, PteState};
use super::flags::*;
use super::space::*;
use super::vma::{AnonKind, ShmemId, Vma, VmaName};
use crate::PAGE_SIZE;

const P: u64 = PAGE_SIZE;
const NPAGES: u64 = 1024;
const GAP_PAGES: u64 = 4;

fn small_layout() -> MmLayout {
    MmLayout {
        task_size: NPAGES * P,
        stack_top: NPAGES * P,
        mmap_base: 768 * P,
        mmap_min_addr: P,
        stack_guard_gap: GAP_PAGES * P,
        stack_rlimit: 64 * P,
        max_map_count: 100_000,
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Cell {
    flags: VmFlags,
    anon: AnonKind,
    index: u64,
}

/// The address space as one optional cell per page.
struct Model {
    pages: Vec<Option<Cell>>,
    start_brk: u64,
    brk: u64,
    next_id: u64,
}

impl Model {
    fn cell(&self, page: u64) -> Option<&Cell> {
        self.pages.get(page as usize).and_then(Option::as_ref)
    }

    /// Whether the page is the continuation of the one before (same VMA
    /// after maximal merging).
    fn continues(&self, page: u64) -> bool {
        match (page.checked_sub(1).and_then(|p| self.cell(p)), self.cell(page)) {
            (Some(a), Some(b)) => a.flags == b.flags && a.anon == b.anon && a.index + 1 == b.index,
            _ => false,
        }
    }

    fn run_start(&self, page: u64) -> u64 {
        let mut p = page;
        while self.continues(p) {
            p -= 1;
        }
        p
    }

    /// The maximally merged VMAs.
    fn runs(&self) -> Vec<(u64, u64, VmFlags, AnonKind, u64)> {
        let mut out: Vec<(u64, u64, VmFlags, AnonKind, u64)> = Vec::new();
        for p in 0..NPAGES {
            let Some(c) = self.cell(p) else { continue };
            if self.continues(p) {
                out.last_mut().unwrap().1 = (p + 1) * P;
            } else {
                out.push((p * P, (p + 1) * P, c.flags, c.anon, c.index));
            }
        }
        out
    }

    fn accounted(&self) -> u64 {
        self.pages.iter().flatten().filter(|c| c.flags.contains(VmFlags::ACCOUNT)).count() as u64
    }

    fn free_from(&self) -> Vec<u64> {
        let mut f = vec![0; NPAGES as usize + 1];
        for p in (0..NPAGES as usize).rev() {
            f[p] = if self.pages[p].is_none() { f[p + 1] + 1 } else { 0 };
        }
        f
    }

    /// `len` free pages at `a` and not inside a grows-down VMA's gap.
    fn fits(&self, free: &[u64], a: u64, len: u64) -> bool {
        if a + len > NPAGES || free[a as usize] < len {
            return false;
        }
        let q = a + free[a as usize];
        match self.cell(q) {
            Some(c) if c.flags.contains(VmFlags::GROWSDOWN) => q.saturating_sub(GAP_PAGES) >= a + len,
            _ => true,
        }
    }

    /// get_unmapped_area in pages: Ok(page) or the errno.
    fn unmapped_area(&self, hint: u64, len: u64) -> Option<u64> {
        let free = self.free_from();
        let min = 1;
        if hint != 0 && NPAGES - len >= hint && hint >= min && self.fits(&free, hint, len) {
            return Some(hint);
        }
        let (low, high) = (1, 768);
        if len <= high - low {
            for a in (low..=high - len).rev() {
                if self.fits(&free, a, len) {
                    return Some(a);
                }
            }
        }
        (NPAGES / 4..=NPAGES - len).find(|&a| self.fits(&free, a, len))
    }
}

fn page_cells(removed: &[Vma]) -> Vec<(u64, Cell)> {
    removed
        .iter()
        .flat_map(|v| {
            (v.start / P..v.end / P)
                .map(move |p| (p, Cell { flags: v.flags, anon: v.anon, index: v.page_index(p * P) }))
        })
        .collect()
}

fn old_cells(m: &Model, from: u64, to: u64) -> Vec<(u64, Cell)> {
    (from..to.min(NPAGES)).filter_map(|p| m.cell(p).map(|c| (p, c.clone()))).collect()
}

fn check(mm: &AddressSpace, m: &Model, commit: &VmCommit, shmem_charged: u64, what: &str) {
    mm.validate().unwrap_or_else(|e| panic!("{what}: {e:?}"));
    let have: Vec<(u64, u64, VmFlags, AnonKind, u64)> =
        mm.vmas().iter().map(|v| (v.start, v.end, v.flags, v.anon, v.pgoff)).collect();
    assert_eq!(have, m.runs(), "{what}");
    assert_eq!(mm.accounted_pages(), m.accounted(), "{what}");
    assert_eq!(commit.committed_pages(), mm.accounted_pages() + shmem_charged, "{what}");
    assert_eq!(mm.brk_value(), m.brk, "{what}");
}

fn model_mmap(m: &mut Model, addr: u64, len: u64, prot: u32, flags: u32) -> Result<(u64, Vec<(u64, Cell)>), Errno> {
    let mut flags = flags;
    if flags & MAP_FIXED_NOREPLACE != 0 {
        flags |= MAP_FIXED;
    }
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let fixed = flags & MAP_FIXED != 0;
    let mut addr = addr;
    if !fixed {
        addr &= !(P - 1);
        if addr != 0 && addr < P {
            addr = P;
        }
    }
    let Some(len) = len.checked_add(P - 1).map(|l| l & !(P - 1)) else { return Err(Errno::ENOMEM) };
    let ts = NPAGES * P;
    if len > ts {
        return Err(Errno::ENOMEM);
    }
    let addr = if fixed {
        if addr > ts - len {
            return Err(Errno::ENOMEM);
        }
        if !addr.is_multiple_of(P) {
            return Err(Errno::EINVAL);
        }
        if addr < P {
            return Err(Errno::EPERM);
        }
        addr
    } else {
        if len > ts - P {
            return Err(Errno::ENOMEM);
        }
        let hint = addr.div_ceil(P);
        m.unmapped_area(hint, len / P).ok_or(Errno::ENOMEM)? * P
    };
    let (a, n) = (addr / P, len / P);
    if flags & MAP_FIXED_NOREPLACE != 0 && (a..a + n).any(|p| m.cell(p).is_some()) {
        return Err(Errno::EEXIST);
    }
    let mut vf = VmFlags::from_prot(prot) | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC;
    if flags & MAP_GROWSDOWN != 0 {
        vf |= VmFlags::GROWSDOWN;
    }
    let shared = match flags & MAP_TYPE {
        MAP_SHARED if vf.contains(VmFlags::GROWSDOWN) => return Err(Errno::EINVAL),
        MAP_SHARED => true,
        MAP_PRIVATE => false,
        _ => return Err(Errno::EINVAL),
    };
    if shared {
        vf |= VmFlags::SHARED | VmFlags::MAYSHARE;
    }
    if flags & MAP_NORESERVE != 0 {
        vf |= VmFlags::NORESERVE;
    }
    if vf & (VmFlags::NORESERVE | VmFlags::SHARED | VmFlags::WRITE) == VmFlags::WRITE {
        vf |= VmFlags::ACCOUNT;
    }
    let old = old_cells(m, a, a + n);
    let anon = if shared {
        m.next_id += 1;
        AnonKind::Shared(ShmemId(m.next_id))
    } else {
        AnonKind::Private
    };
    for (i, p) in (a..a + n).enumerate() {
        let index = if shared { i as u64 } else { p };
        m.pages[p as usize] = Some(Cell { flags: vf, anon, index });
    }
    Ok((addr, old))
}

fn model_munmap(m: &mut Model, addr: u64, len: u64) -> Result<Vec<(u64, Cell)>, Errno> {
    let ts = NPAGES * P;
    if !addr.is_multiple_of(P) || addr > ts || len > ts - addr {
        return Err(Errno::EINVAL);
    }
    let end = addr + len.div_ceil(P) * P;
    if end == addr {
        return Err(Errno::EINVAL);
    }
    let old = old_cells(m, addr / P, end / P);
    for p in addr / P..end / P {
        m.pages[p as usize] = None;
    }
    Ok(old)
}

/// Returns the result and the (page, old flags, new flags) changed.
/// (page, old flags, new flags) of each page mprotect changed.
type PageChanges = Vec<(u64, VmFlags, VmFlags)>;

fn model_mprotect(m: &mut Model, start: u64, len: u64, prot: u32) -> (Result<(), Errno>, PageChanges) {
    let mut changed = Vec::new();
    let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
    let prot = prot & !grows;
    if grows == PROT_GROWSDOWN | PROT_GROWSUP || !start.is_multiple_of(P) {
        return (Err(Errno::EINVAL), changed);
    }
    if len == 0 {
        return (Ok(()), changed);
    }
    let Some(end) = len.checked_add(P - 1).and_then(|l| start.checked_add(l & !(P - 1))) else {
        return (Err(Errno::ENOMEM), changed);
    };
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM) != 0 {
        return (Err(Errno::EINVAL), changed);
    }
    let Some(first) = (start / P..(end / P).min(NPAGES)).find(|&p| m.cell(p).is_some()) else {
        return (Err(Errno::ENOMEM), changed);
    };
    let mut s = start / P;
    if grows & PROT_GROWSDOWN != 0 {
        s = m.run_start(first);
        if !m.cell(s).unwrap().flags.contains(VmFlags::GROWSDOWN) {
            return (Err(Errno::EINVAL), changed);
        }
    } else {
        if first > s {
            return (Err(Errno::ENOMEM), changed);
        }
        if grows & PROT_GROWSUP != 0 {
            return (Err(Errno::EINVAL), changed);
        }
    }
    let want = VmFlags::from_prot(prot);
    for p in s..end / P {
        let Some(c) = m.pages.get_mut(p as usize).and_then(Option::as_mut) else {
            return (Err(Errno::ENOMEM), changed);
        };
        let old = c.flags;
        let mut new = want | (old - VmFlags::ACCESS);
        let may = VmFlags::from_bits_retain(new.bits() >> 4);
        if !((new - may) & VmFlags::ACCESS).is_empty() {
            return (Err(Errno::EACCES), changed);
        }
        if new.contains(VmFlags::WRITE)
            && !old.intersects(VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::SHARED | VmFlags::NORESERVE)
        {
            new |= VmFlags::ACCOUNT;
        }
        if new != old {
            c.flags = new;
            changed.push((p, old, new));
        }
    }
    (Ok(()), changed)
}

fn model_brk(m: &mut Model, new: u64) -> (u64, Vec<(u64, Cell)>) {
    let align = |x: u64| x.div_ceil(P) * P;
    if new < m.start_brk || new > NPAGES * P {
        return (m.brk, Vec::new());
    }
    let (newbrk, oldbrk) = (align(new), align(m.brk));
    if newbrk == oldbrk {
        m.brk = new;
        return (new, Vec::new());
    }
    if new <= m.brk {
        if !(newbrk / P..oldbrk / P).any(|p| m.cell(p).is_some()) {
            return (m.brk, Vec::new());
        }
        let old = old_cells(m, newbrk / P, oldbrk / P);
        for p in newbrk / P..oldbrk / P {
            m.pages[p as usize] = None;
        }
        m.brk = new;
        return (new, old);
    }
    let limit = (newbrk + P + GAP_PAGES * P).div_ceil(P);
    if let Some(q) = (oldbrk / P..limit.min(NPAGES)).find(|&p| m.cell(p).is_some()) {
        let s = m.run_start(q);
        let gap_start =
            if m.cell(s).unwrap().flags.contains(VmFlags::GROWSDOWN) { s.saturating_sub(GAP_PAGES) } else { s };
        if newbrk + P > gap_start * P {
            return (m.brk, Vec::new());
        }
    }
    for p in oldbrk / P..newbrk / P {
        m.pages[p as usize] =
            Some(Cell { flags: VmFlags::DATA_DEFAULT | VmFlags::ACCOUNT, anon: AnonKind::Private, index: p });
    }
    m.brk = new;
    (new, Vec::new())
}

fn random_prot(r: &mut Rng) -> u32 {
    let mut prot = r.below(8) as u32;
    if r.chance(3) {
        prot |= PROT_GROWSDOWN;
    }
    if r.chance(1) {
        prot |= PROT_BTI;
    }
    prot
}

fn random_len(r: &mut Rng) -> u64 {
    match r.below(40) {
        0 => 0,
        1 => u64::MAX - r.below(3 * P),
        2 => r.below(4 * P) + 1,
        _ => (r.below(48) + 1) * P,
    }
}

fn random_addr(r: &mut Rng) -> u64 {
    let a = r.below(NPAGES + 8) * P;
    if r.chance(4) { a + r.below(P) } else { a }
}

#[test]
fn random_sequences_match_the_page_model() {
    for seed in 1..=48u64 {
        let commit = VmCommit::new(1 << 40, 0, Overcommit::Guess);
        let mut mm = AddressSpace::new(small_layout());
        mm.set_brk_base(100 * P);
        let mut m = Model { pages: vec![None; NPAGES as usize], start_brk: 100 * P, brk: 100 * P, next_id: 0 };
        let mut next_id = 0;
        let mut shmem_charged = 0;
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        for step in 0..300 {
            let what = format!("seed {seed} step {step}");
            match r.below(10) {
                0..=3 => {
                    let len = random_len(&mut r);
                    let prot = r.below(8) as u32;
                    let mut flags = MAP_ANONYMOUS;
                    flags |= match r.below(20) {
                        0 => 0,
                        1..=4 => MAP_SHARED,
                        _ => MAP_PRIVATE,
                    };
                    let addr = match r.below(4) {
                        0 => 0,
                        1 => random_addr(&mut r),
                        _ => {
                            flags |= if r.chance(20) { MAP_FIXED_NOREPLACE } else { MAP_FIXED };
                            random_addr(&mut r)
                        }
                    };
                    if r.chance(10) {
                        flags |= MAP_GROWSDOWN;
                    }
                    if r.chance(15) {
                        flags |= MAP_NORESERVE;
                    }
                    let want = model_mmap(&mut m, addr, len, prot, flags);
                    let got = mm.mmap(addr, len, prot, flags, 0, &commit, &mut || {
                        next_id += 1;
                        ShmemId(next_id)
                    });
                    let what = format!("{what}: mmap({addr:#x}, {len:#x}, {prot}, {flags:#x})");
                    match (got, want) {
                        (Ok(g), Ok((addr, old))) => {
                            assert_eq!(g.addr, addr, "{what}");
                            assert_eq!(page_cells(&g.unmapped), old, "{what}");
                            if let Some(s) = g.shmem {
                                shmem_charged += s.charged_pages;
                                assert_eq!(s.nr_pages, g.len / P, "{what}");
                            }
                        }
                        (Err(g), Err(w)) => assert_eq!(g, w, "{what}"),
                        (g, w) => panic!("{what}: got {g:?}, model {w:?}"),
                    }
                    check(&mm, &m, &commit, shmem_charged, &what);
                }
                4..=5 => {
                    let (addr, len) = (random_addr(&mut r), random_len(&mut r));
                    let want = model_munmap(&mut m, addr, len);
                    let got = mm.munmap(addr, len, &commit);
                    let what = format!("{what}: munmap({addr:#x}, {len:#x})");
                    match (got, want) {
                        (Ok(g), Ok(old)) => {
                            assert_eq!(page_cells(&g.removed), old, "{what}");
                            assert!(g.pgtable_floor <= addr && g.pgtable_ceiling >= addr, "{what}");
                        }
                        (Err(g), Err(w)) => assert_eq!(g, w, "{what}"),
                        (g, w) => panic!("{what}: got {g:?}, model {w:?}"),
                    }
                    check(&mm, &m, &commit, shmem_charged, &what);
                }
                6..=8 => {
                    let (addr, len, prot) = (random_addr(&mut r), random_len(&mut r), random_prot(&mut r));
                    let (want, want_changed) = model_mprotect(&mut m, addr, len, prot);
                    let got = mm.mprotect(addr, len, prot, &commit);
                    let what = format!("{what}: mprotect({addr:#x}, {len:#x}, {prot:#x})");
                    assert_eq!(got.result, want, "{what}");
                    let got_changed: PageChanges = got
                        .changes
                        .iter()
                        .flat_map(|c| (c.start / P..c.end / P).map(move |p| (p, c.old, c.new)))
                        .collect();
                    assert_eq!(got_changed, want_changed, "{what}");
                    check(&mm, &m, &commit, shmem_charged, &what);
                }
                _ => {
                    let new = (100 * P).saturating_sub(2 * P) + r.below(300 * P);
                    let (want, old) = model_brk(&mut m, new);
                    let got = mm.brk(new, &commit);
                    let what = format!("{what}: brk({new:#x})");
                    assert_eq!(got.brk, want, "{what}");
                    assert_eq!(page_cells(&got.unmapped.removed), old, "{what}");
                    check(&mm, &m, &commit, shmem_charged, &what);
                }
            }
        }
        let all = mm.exit_mmap(&commit);
        assert_eq!(all.len(), m.runs().len());
        assert_eq!(commit.committed_pages(), shmem_charged);
        mm.validate().unwrap();
    }
}

// ---- the rules one by one ------------------------------------------------

fn setup() -> (AddressSpace, VmCommit) {
    (AddressSpace::new(MmLayout::arm64(1 << 48, 0)), VmCommit::new(1 << 18, 0, Overcommit::Guess))
}

fn anon(
    mm: &mut AddressSpace,
    c: &dyn Commit,
    addr: u64,
    len: u64,
    prot: u32,
    flags: u32,
) -> Result<MmapResult, Errno> {
    mm.mmap(addr, len, prot, flags | MAP_ANONYMOUS, 0, c, &mut || ShmemId(77))
}

const RW: u32 = PROT_READ | PROT_WRITE;
const PRIV: u32 = MAP_PRIVATE;
const FIX: u32 = MAP_PRIVATE | MAP_FIXED;

#[test]
fn mmap_errors_are_linux_s() {
    let (mut mm, c) = setup();
    assert_eq!(anon(&mut mm, &c, 0, 0, RW, PRIV), Err(Errno::EINVAL));
    assert_eq!(anon(&mut mm, &c, 0x10001, P, RW, FIX), Err(Errno::EINVAL));
    assert_eq!(anon(&mut mm, &c, 0, u64::MAX - 5, RW, PRIV), Err(Errno::ENOMEM));
    assert_eq!(anon(&mut mm, &c, 0, (1 << 48) + P, RW, PRIV), Err(Errno::ENOMEM));
    assert_eq!(anon(&mut mm, &c, (1 << 48) - P, 2 * P, RW, FIX), Err(Errno::ENOMEM));
    assert_eq!(anon(&mut mm, &c, 0, P, RW, 0), Err(Errno::EINVAL));
    assert_eq!(anon(&mut mm, &c, 0, P, RW, MAP_SHARED | MAP_GROWSDOWN), Err(Errno::EINVAL));
    assert_eq!(anon(&mut mm, &c, 0, P, RW, PRIV | MAP_HUGETLB), Err(Errno::EINVAL));
    assert_eq!(anon(&mut mm, &c, 0, P, RW, FIX), Err(Errno::EPERM));
    assert_eq!(mm.mmap(0, P, RW, PRIV, 0, &c, &mut || ShmemId(1)), Err(Errno::EBADF));
    assert_eq!(mm.mmap(0, P, RW, PRIV | MAP_ANONYMOUS, u64::MAX, &c, &mut || ShmemId(1)), Err(Errno::EOVERFLOW));
    assert!(mm.vmas().is_empty());
    let a = anon(&mut mm, &c, 0x10000, 4 * P, RW, FIX).unwrap();
    assert_eq!(anon(&mut mm, &c, 0x12000, P, RW, MAP_PRIVATE | MAP_FIXED_NOREPLACE), Err(Errno::EEXIST));
    let b = anon(&mut mm, &c, 0x14000, P, RW, MAP_PRIVATE | MAP_FIXED_NOREPLACE).unwrap();
    assert_eq!((a.addr, b.addr), (0x10000, 0x14000));
    // Same flags, contiguous: one VMA.
    assert_eq!(mm.map_count(), 1);
    assert_eq!(mm.vmas().iter().next().unwrap().end, 0x15000);
    mm.validate().unwrap();
}

#[test]
fn mmap_is_top_down_and_honours_free_hints() {
    let (mut mm, c) = setup();
    let base = mm.layout().mmap_base;
    assert_eq!(base, (1 << 48) - (128 << 20));
    let a = anon(&mut mm, &c, 0, 3 * P, RW, PRIV).unwrap().addr;
    assert_eq!(a, base - 3 * P);
    let b = anon(&mut mm, &c, 0, P, PROT_READ, PRIV).unwrap().addr;
    assert_eq!(b, a - P);
    // A free hint is taken (aligned down first), a busy one is not.
    assert_eq!(anon(&mut mm, &c, 0x4000_0123, P, RW, PRIV).unwrap().addr, 0x4000_0000);
    assert_eq!(anon(&mut mm, &c, a, P, RW, PRIV).unwrap().addr, b - P);
    // A hole left by munmap is reused from the top.
    mm.munmap(a, 3 * P, &c).unwrap();
    assert_eq!(anon(&mut mm, &c, 0, 2 * P, RW, PRIV).unwrap().addr, base - 2 * P);
    mm.validate().unwrap();
}

#[test]
fn map_fixed_replaces_and_reports_what_it_removed() {
    let (mut mm, c) = setup();
    anon(&mut mm, &c, 0x100000, 8 * P, RW, FIX).unwrap();
    let r = anon(&mut mm, &c, 0x102000, 2 * P, PROT_READ, FIX).unwrap();
    assert_eq!(r.unmapped.len(), 1);
    let old = &r.unmapped[0];
    assert_eq!((old.start, old.end, old.pgoff), (0x102000, 0x104000, 0x102));
    assert!(old.flags.contains(VmFlags::WRITE | VmFlags::ACCOUNT));
    assert_eq!(mm.map_count(), 3);
    // The accounted pages went from 8 to 6.
    assert_eq!((mm.accounted_pages(), c.committed_pages()), (6, 6));
    // Writable again over it: merges back into one VMA, charge carried.
    anon(&mut mm, &c, 0x102000, 2 * P, RW, FIX).unwrap();
    assert_eq!(mm.map_count(), 1);
    assert_eq!(c.committed_pages(), 8);
    mm.validate().unwrap();
}

#[test]
fn populate_and_noreserve_are_passed_through() {
    let (mut mm, c) = setup();
    assert!(anon(&mut mm, &c, 0, P, RW, PRIV | MAP_POPULATE).unwrap().populate);
    assert!(!anon(&mut mm, &c, 0, P, RW, PRIV | MAP_POPULATE | MAP_NONBLOCK).unwrap().populate);
    assert!(anon(&mut mm, &c, 0, P, RW, PRIV | MAP_LOCKED).unwrap().populate);
    assert_eq!(mm.locked_vm(), 1);
    let r = anon(&mut mm, &c, 0, P, RW, PRIV | MAP_NORESERVE).unwrap();
    assert!(!r.populate);
    let v = mm.vmas().vma_lookup(r.addr).unwrap();
    assert!(v.flags.contains(VmFlags::NORESERVE) && !v.flags.contains(VmFlags::ACCOUNT));
    mm.validate().unwrap();
}

#[test]
fn munmap_splits_and_checks_arguments() {
    let (mut mm, c) = setup();
    assert_eq!(mm.munmap(0x10001, P, &c), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(0x10000, 0, &c), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(1 << 48, P, &c), Err(Errno::EINVAL));
    assert_eq!(mm.munmap(0x10000, u64::MAX, &c), Err(Errno::EINVAL));
    assert!(mm.munmap(0x10000, P, &c).unwrap().removed.is_empty());
    anon(&mut mm, &c, 0x10000, 10 * P, RW, FIX).unwrap();
    let r = mm.munmap(0x13000, 2 * P + 1, &c).unwrap();
    assert_eq!(r.removed.len(), 1);
    assert_eq!((r.removed[0].start, r.removed[0].end, r.removed[0].pgoff), (0x13000, 0x16000, 0x13));
    assert_eq!((r.pgtable_floor, r.pgtable_ceiling), (0x13000, 0x16000));
    let v: Vec<(u64, u64)> = mm.vmas().iter().map(|v| (v.start, v.end)).collect();
    assert_eq!(v, vec![(0x10000, 0x13000), (0x16000, 0x1a000)]);
    assert_eq!(c.committed_pages(), 7);
    mm.validate().unwrap();
}

#[test]
fn max_map_count_limits_splits() {
    let (mut mm, c) = setup();
    let mut layout = *mm.layout();
    layout.max_map_count = 2;
    mm = AddressSpace::new(layout);
    anon(&mut mm, &c, 0x10000, 10 * P, RW, FIX).unwrap();
    anon(&mut mm, &c, 0x40000, P, RW, FIX).unwrap();
    assert_eq!(mm.munmap(0x12000, P, &c), Err(Errno::ENOMEM));
    assert_eq!(mm.mprotect(0x12000, P, PROT_READ, &c).result, Err(Errno::ENOMEM));
    // Trimming an end does not add a VMA.
    mm.munmap(0x10000, P, &c).unwrap();
    assert_eq!(mm.mprotect(0x11000, P, PROT_READ, &c).result, Err(Errno::ENOMEM));
    // Changing a whole VMA needs no split.
    mm.mprotect(0x11000, 9 * P, PROT_READ, &c).result.unwrap();
    mm.validate().unwrap();
}

#[test]
fn mprotect_splits_merges_and_reports_downgrades() {
    let (mut mm, c) = setup();
    anon(&mut mm, &c, 0x10000, 8 * P, RW, FIX).unwrap();
    let r = mm.mprotect(0x12000, 2 * P, PROT_READ, &c);
    r.result.unwrap();
    assert_eq!(r.changes.len(), 1);
    assert!(r.changes[0].is_downgrade());
    assert_eq!(mm.map_count(), 3);
    // ACCOUNT stays on the read-only piece, so it merges back.
    let r = mm.mprotect(0x12000, 2 * P, RW, &c);
    assert!(!r.changes[0].is_downgrade());
    assert_eq!(mm.map_count(), 1);
    assert_eq!(c.committed_pages(), 8);
    // Errors before any change.
    assert_eq!(mm.mprotect(0x10001, P, RW, &c).result, Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(0x10000, P, RW | 0x40, &c).result, Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(0x10000, P, RW | PROT_GROWSDOWN | PROT_GROWSUP, &c).result, Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(0x10000, P, RW | PROT_GROWSDOWN, &c).result, Err(Errno::EINVAL));
    assert_eq!(mm.mprotect(0x10000, u64::MAX - P, RW, &c).result, Err(Errno::ENOMEM));
    assert_eq!(mm.mprotect(0x8000, 0x10000, PROT_READ, &c).result, Err(Errno::ENOMEM));
    assert_eq!(mm.mprotect(0x10000, 0, PROT_NONE, &c), MprotectResult { changes: vec![], result: Ok(()) });
    // A hole: the part before it is changed, then ENOMEM.
    anon(&mut mm, &c, 0x20000, P, RW, FIX).unwrap();
    let r = mm.mprotect(0x17000, 0xa000, PROT_READ, &c);
    assert_eq!(r.result, Err(Errno::ENOMEM));
    assert_eq!((r.changes.len(), r.changes[0].start, r.changes[0].end), (1, 0x17000, 0x18000));
    assert_eq!(mm.vmas().vma_lookup(0x20000).unwrap().flags & VmFlags::ACCESS, VmFlags::READ | VmFlags::WRITE);
    mm.validate().unwrap();
}

#[test]
fn mprotect_needs_the_may_bits() {
    let (mut mm, c) = setup();
    let flags = VmFlags::READ | VmFlags::SHARED | VmFlags::MAYSHARE | VmFlags::MAYREAD;
    let v =
        Vma { start: 0x10000, end: 0x12000, flags, pgoff: 0, anon: AnonKind::Shared(ShmemId(3)), name: VmaName::None };
    mm.insert_vm_struct(v, &c).unwrap();
    assert_eq!(mm.mprotect(0x10000, P, RW, &c).result, Err(Errno::EACCES));
    assert_eq!(mm.mprotect(0x10000, P, PROT_EXEC, &c).result, Err(Errno::EACCES));
    mm.mprotect(0x10000, P, PROT_NONE, &c).result.unwrap();
    mm.validate().unwrap();
}

#[test]
fn overcommit_lets_reservations_through_and_refuses_one_huge_mapping() {
    // 1 GiB of RAM, no swap.
    let c = VmCommit::new((1 << 30) / P, 0, Overcommit::Guess);
    let mut mm = AddressSpace::new(MmLayout::arm64(1 << 48, 0));
    let huge = 40u64 << 30;
    let none = anon(&mut mm, &c, 0, huge, PROT_NONE, PRIV).unwrap().addr;
    let nores = anon(&mut mm, &c, 0, huge, RW, PRIV | MAP_NORESERVE).unwrap().addr;
    assert_eq!(c.committed_pages(), 0);
    assert_eq!(anon(&mut mm, &c, 0, (1 << 30) + P, RW, PRIV), Err(Errno::ENOMEM));
    assert_eq!(mm.map_count(), 2);
    // A shared anonymous object is charged at creation, so too large fails.
    assert_eq!(anon(&mut mm, &c, 0, 2 << 30, PROT_READ, MAP_SHARED), Err(Errno::ENOMEM));
    // Many mappings each below RAM are all allowed (heuristic mode).
    for _ in 0..3 {
        anon(&mut mm, &c, 0, 512 << 20, RW, PRIV).unwrap();
    }
    assert_eq!(c.committed_pages(), 3 * (512 << 20) / P);
    // A window of the PROT_NONE reservation made writable is charged then...
    let r = mm.mprotect(none + (1 << 30), 64 << 20, RW, &c);
    r.result.unwrap();
    assert_eq!(c.committed_pages(), (3 * (512 << 20) + (64 << 20)) / P);
    // ... but more than RAM at once is refused, and nothing changes.
    let r = mm.mprotect(none + (4 << 30), 2 << 30, RW, &c);
    assert_eq!((r.result, r.changes.len()), (Err(Errno::ENOMEM), 0));
    // MAP_NORESERVE stays uncharged when written.
    mm.mprotect(nores, 2 << 30, PROT_READ, &c).result.unwrap();
    mm.mprotect(nores, 2 << 30, RW, &c).result.unwrap();
    assert_eq!(c.committed_pages(), (3 * (512 << 20) + (64 << 20)) / P);
    mm.validate().unwrap();
    mm.exit_mmap(&c);
    assert_eq!(c.committed_pages(), 0);
}

#[test]
fn brk_grows_shrinks_and_stops_before_mappings() {
    let (mut mm, c) = setup();
    mm.set_brk_base(0x40_0123);
    assert_eq!(mm.start_brk(), 0x40_1000);
    assert_eq!(mm.brk(0x40_0000, &c).brk, 0x40_1000);
    assert_eq!(mm.brk(0x40_1800, &c).brk, 0x40_1800);
    assert_eq!(mm.map_count(), 1);
    assert_eq!(mm.brk(0x40_5000, &c).brk, 0x40_5000);
    assert_eq!(mm.map_count(), 1, "grown in place");
    assert_eq!(c.committed_pages(), 4);
    // A mapping at 0x50_0000: the break must stay a page below it.
    anon(&mut mm, &c, 0x50_0000, P, PROT_READ, FIX).unwrap();
    assert_eq!(mm.brk(0x4f_f001, &c).brk, 0x40_5000);
    assert_eq!(mm.brk(0x4f_f000, &c).brk, 0x4f_f000);
    // A grows-down mapping keeps the whole guard gap clear.
    mm.munmap(0x50_0000, P, &c).unwrap();
    anon(&mut mm, &c, 0x60_0000, P, RW, FIX | MAP_GROWSDOWN).unwrap();
    let gap = mm.layout().stack_guard_gap;
    assert_eq!(mm.brk(0x60_0000 - gap, &c).brk, 0x4f_f000);
    assert_eq!(mm.brk(0x60_0000 - gap - P, &c).brk, 0x60_0000 - gap - P);
    // Shrinking returns the range to unmap.
    let r = mm.brk(0x40_2001, &c);
    assert_eq!(r.brk, 0x40_2001);
    let removed = &r.unmapped.removed;
    assert_eq!((removed[0].start, removed.last().unwrap().end), (0x40_3000, 0x60_0000 - gap - P));
    assert_eq!(mm.accounted_pages(), 2 + 1);
    // Too much at once for the commit.
    let small = VmCommit::new(16, 0, Overcommit::Guess);
    assert_eq!(mm.brk(0x40_2001 + 17 * P, &small).brk, 0x40_2001);
    mm.validate().unwrap();
}

#[test]
fn stack_growth_obeys_guard_gap_rlimit_and_commit() {
    let (mut mm, c) = setup();
    let top = 0x7000_0000;
    let stack = mm.setup_stack(top, STACK_EXPAND, &c).unwrap();
    assert_eq!(stack.flags, VmFlags::STACK_DEFAULT);
    assert_eq!(mm.stack_vm(), STACK_EXPAND / P);
    // A fault one page below grows it.
    let v = mm.find_fault_vma(stack.start - 8, &c).unwrap();
    assert_eq!(v.start, stack.start - P);
    assert_eq!(v.pgoff, (stack.start - P) / P);
    // Up to RLIMIT_STACK (8 MiB) in all.
    let limit = top - DEFAULT_STACK_RLIMIT;
    assert_eq!(mm.expand_stack(limit, &c), Ok(limit));
    assert_eq!(mm.expand_stack(limit - 1, &c), Err(Errno::ENOMEM));
    assert!(mm.find_fault_vma(limit - 1, &c).is_none());
    assert_eq!(mm.stack_vm(), DEFAULT_STACK_RLIMIT / P);
    mm.validate().unwrap();
    // A mapping below, within the guard gap of where it would grow.
    let (mut mm, c) = setup();
    let stack = mm.setup_stack(top, STACK_EXPAND, &c).unwrap();
    let gap = mm.layout().stack_guard_gap;
    let below_end = stack.start - 4 * P - gap;
    anon(&mut mm, &c, below_end - P, P, PROT_READ, FIX).unwrap();
    assert_eq!(mm.expand_stack(stack.start - 4 * P, &c), Ok(stack.start - 4 * P));
    assert_eq!(mm.expand_stack(stack.start - 5 * P, &c), Err(Errno::ENOMEM));
    // ... unless it is PROT_NONE (not accessible).
    mm.mprotect(below_end - P, P, PROT_NONE, &c).result.unwrap();
    assert!(mm.expand_stack(stack.start - 5 * P, &c).is_ok());
    // Not a stack: MAPERR; the commit refusing: no growth.
    assert!(mm.find_fault_vma(below_end - 2 * P, &c).is_none());
    let tiny = VmCommit::new(1, 0, Overcommit::Guess);
    let start = mm.vmas().vma_lookup(top - P).unwrap().start;
    assert_eq!(mm.expand_stack(start - 2 * P, &tiny), Err(Errno::ENOMEM));
    mm.validate().unwrap();
}

#[test]
fn get_unmapped_area_keeps_the_stack_guard_gap() {
    let (mut mm, c) = setup();
    let base = mm.layout().mmap_base;
    let gap = mm.layout().stack_guard_gap;
    // A grows-down mapping right at mmap_base's top edge region.
    anon(&mut mm, &c, base - 16 * P, 16 * P, RW, FIX | MAP_GROWSDOWN).unwrap();
    let a = anon(&mut mm, &c, 0, P, RW, PRIV).unwrap().addr;
    assert_eq!(a, base - 16 * P - gap - P);
    // A hint inside the gap is not taken.
    let h = anon(&mut mm, &c, base - 16 * P - P, P, RW, PRIV).unwrap().addr;
    assert_ne!(h, base - 17 * P);
    mm.validate().unwrap();
}

#[test]
fn shared_anonymous_mappings_have_objects() {
    let (mut mm, c) = setup();
    let r = anon(&mut mm, &c, 0, 4 * P, RW, MAP_SHARED).unwrap();
    let s = r.shmem.unwrap();
    assert_eq!((s.id, s.nr_pages, s.charged_pages), (ShmemId(77), 4, 4));
    let v = mm.vmas().vma_lookup(r.addr).unwrap();
    assert_eq!((v.anon, v.pgoff), (AnonKind::Shared(ShmemId(77)), 0));
    assert!(v.flags.contains(VmFlags::SHARED | VmFlags::MAYSHARE) && !v.flags.contains(VmFlags::ACCOUNT));
    // Faults index into the object.
    let f = fault::decide(v, r.addr + 2 * P, FaultKind::Write, PteState::None, Epan::Absent);
    assert_eq!(f, FaultAction::MapShared { object: ShmemId(77), index: 2, writable: true });
    // Two different objects side by side never merge.
    let r2 = mm.mmap(r.addr - 4 * P, 4 * P, RW, MAP_SHARED | MAP_FIXED | MAP_ANONYMOUS, 0, &c, &mut || ShmemId(78));
    assert!(r2.is_ok());
    assert_eq!(mm.map_count(), 2);
    let nores = anon(&mut mm, &c, 0, P, RW, MAP_SHARED | MAP_NORESERVE).unwrap();
    assert_eq!(nores.shmem.unwrap().charged_pages, 0);
    assert_eq!(c.committed_pages(), 8);
    mm.validate().unwrap();
}

#[test]
fn madvise_and_mincore_validate_ranges() {
    let (mut mm, c) = setup();
    anon(&mut mm, &c, 0x10000, 4 * P, RW, FIX).unwrap();
    anon(&mut mm, &c, 0x16000, 2 * P, RW, FIX).unwrap();
    assert_eq!(mm.madvise(0x10000, P, 99).result, Err(Errno::EINVAL));
    assert_eq!(mm.madvise(0x10001, P, MADV_DONTNEED).result, Err(Errno::EINVAL));
    assert_eq!(mm.madvise(0x10000, u64::MAX, MADV_DONTNEED).result, Err(Errno::EINVAL));
    assert_eq!(mm.madvise(0x10000, 0, MADV_DONTNEED).result, Ok(()));
    let r = mm.madvise(0x11000, 0x6000, MADV_DONTNEED);
    assert_eq!(r.result, Err(Errno::ENOMEM));
    let pieces: Vec<(u64, u64)> = r.pieces.iter().map(|v| (v.start, v.end)).collect();
    assert_eq!(pieces, vec![(0x11000, 0x14000), (0x16000, 0x17000)]);
    let r = mm.madvise(0x16000, 2 * P, MADV_WILLNEED);
    assert_eq!((r.result, r.pieces.len()), (Ok(()), 1));
    assert_eq!(mm.madvise(0x30000, P, MADV_DONTNEED).result, Err(Errno::ENOMEM));
    // MADV_RANDOM splits; MADV_NORMAL merges back.
    mm.madvise(0x11000, P, MADV_RANDOM).result.unwrap();
    assert_eq!(mm.map_count(), 4);
    mm.madvise(0x10000, 8 * P, MADV_NORMAL).result.unwrap_err();
    assert_eq!(mm.map_count(), 2);
    // Locked memory cannot be dropped.
    anon(&mut mm, &c, 0x20000, P, RW, FIX | MAP_LOCKED).unwrap();
    assert_eq!(mm.madvise(0x20000, P, MADV_DONTNEED).result, Err(Errno::EINVAL));
    // mincore.
    assert_eq!(mm.mincore(0x10001, P), Err(Errno::EINVAL));
    assert_eq!(mm.mincore(0x10000, 7 * P), Err(Errno::ENOMEM));
    assert_eq!(mm.mincore(!(P - 1), 2 * P), Err(Errno::ENOMEM));
    assert_eq!(mm.mincore(0x10000, 0), Ok(vec![]));
    let p = mm.mincore(0x11000, 2 * P + 1).unwrap();
    assert_eq!((p.len(), p[0].start, p[0].end), (1, 0x11000, 0x14000));
    mm.validate().unwrap();
}

#[test]
fn fork_charges_the_child_and_exit_gives_everything_back() {
    let (mut mm, c) = setup();
    anon(&mut mm, &c, 0x10000, 4 * P, RW, FIX).unwrap();
    anon(&mut mm, &c, 0x20000, 4 * P, PROT_READ, FIX).unwrap();
    anon(&mut mm, &c, 0, 2 * P, RW, MAP_SHARED).unwrap();
    assert_eq!(c.committed_pages(), 4 + 2);
    let mut child = mm.dup_mmap(&c).unwrap();
    assert_eq!(c.committed_pages(), 4 + 4 + 2);
    child.validate().unwrap();
    let a: Vec<&Vma> = mm.vmas().iter().collect();
    let b: Vec<&Vma> = child.vmas().iter().collect();
    assert_eq!(a, b);
    let poor = VmCommit::new(2, 0, Overcommit::Guess);
    assert_eq!(mm.dup_mmap(&poor).err(), Some(Errno::ENOMEM));
    assert_eq!(poor.committed_pages(), 0);
    assert_eq!(child.exit_mmap(&c).len(), 3);
    assert_eq!(mm.exit_mmap(&c).len(), 3);
    assert_eq!(c.committed_pages(), 2, "the shmem object's charge is the kernel's to return");
}

#[test]
fn anon_names_split_and_merge() {
    let (mut mm, c) = setup();
    anon(&mut mm, &c, 0x10000, 4 * P, RW, FIX).unwrap();
    mm.set_anon_name(0x11000, P, Some("buf")).unwrap();
    assert_eq!(mm.map_count(), 3);
    assert_eq!(mm.set_anon_name(0x11000, 8 * P, Some("buf")), Err(Errno::ENOMEM));
    assert_eq!(mm.map_count(), 2);
    mm.set_anon_name(0x10000, 4 * P, None).unwrap();
    assert_eq!(mm.map_count(), 1);
    mm.validate().unwrap();
}

#[test]
fn fault_entry_finds_vmas_or_maperr() {
    let (mut mm, c) = setup();
    anon(&mut mm, &c, 0x10000, 2 * P, RW, FIX).unwrap();
    anon(&mut mm, &c, 0x200000, 2 * P, RW, FIX | MAP_GROWSDOWN).unwrap();
    assert_eq!(mm.find_fault_vma(0x10fff, &c).map(|v| v.start), Some(0x10000));
    // Below a VMA that does not grow down, and above every VMA: MAPERR.
    assert!(mm.find_fault_vma(0xf000, &c).is_none());
    assert!(mm.find_fault_vma(0x300000, &c).is_none());
    // Just below the grows-down VMA: it grows to the faulting page.
    assert_eq!(mm.find_fault_vma(0x1ff008, &c).map(|v| (v.start, v.end)), Some((0x1ff000, 0x202000)));
    let v = mm.vmas().vma_lookup(0x1ff000).unwrap();
    assert_eq!(
        fault::decide(v, 0x1ff008, FaultKind::Write, PteState::None, Epan::Absent),
        FaultAction::AllocZeroed { writable: true }
    );
    // Too far below: inside the guard gap of the VMA at 0x10000.
    assert!(mm.find_fault_vma(0x12000 + DEFAULT_STACK_GUARD_GAP - 1, &c).is_none());
    assert!(mm.find_fault_vma(0x12000 + DEFAULT_STACK_GUARD_GAP, &c).is_some());
    mm.validate().unwrap();
}

#[test]
fn strict_overcommit_charges_noreserve() {
    let c = VmCommit::new(1000, 0, Overcommit::Never { ratio_percent: 50 });
    let mut mm = AddressSpace::new(MmLayout::arm64(1 << 48, 0));
    let r = anon(&mut mm, &c, 0, 400 * P, RW, PRIV | MAP_NORESERVE).unwrap();
    assert!(mm.vmas().vma_lookup(r.addr).unwrap().flags.contains(VmFlags::ACCOUNT));
    assert_eq!(c.committed_pages(), 400);
    assert_eq!(anon(&mut mm, &c, 0, 101 * P, RW, PRIV), Err(Errno::ENOMEM));
    mm.validate().unwrap();
}
