//! The architecture-free half of `mm_struct` and the VMA operations of
//! mm/mmap.c, mm/vma.c, mm/mprotect.c and mm/madvise.c.

extern crate alloc;

use super::commit::Commit;
use super::errno::Errno;
use super::flags::*;
use super::vma::{AnonKind, ShmemId, Vma, VmaName, VmaTree, VmaTreeError};
use crate::PAGE_SIZE;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// Linux's default RLIMIT_STACK soft limit (8 MiB).
pub const DEFAULT_STACK_RLIMIT: u64 = 8 << 20;
/// Linux's default stack_guard_gap: 256 pages.
pub const DEFAULT_STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// Linux's DEFAULT_MAX_MAP_COUNT (vm.max_map_count).
pub const DEFAULT_MAX_MAP_COUNT: usize = 65530;
/// Linux's default CONFIG_DEFAULT_MMAP_MIN_ADDR (vm.mmap_min_addr).
pub const DEFAULT_MMAP_MIN_ADDR: u64 = 4096;
/// The initial stack is grown by this much at exec (setup_arg_pages).
pub const STACK_EXPAND: u64 = 128 << 10;

const fn page_align(x: u64) -> Option<u64> {
    match x.checked_add(PAGE_SIZE - 1) {
        Some(v) => Some(v & !(PAGE_SIZE - 1)),
        None => None,
    }
}

const fn offset_in_page(x: u64) -> u64 {
    x & (PAGE_SIZE - 1)
}

/// The fixed shape of a user address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmLayout {
    /// TASK_SIZE: user addresses are below this.
    pub task_size: u64,
    /// STACK_TOP: where exec puts the stack.
    pub stack_top: u64,
    /// mm->mmap_base: the top-down allocator searches below this.
    pub mmap_base: u64,
    /// vm.mmap_min_addr: nothing is mapped below this.
    pub mmap_min_addr: u64,
    /// stack_guard_gap in bytes.
    pub stack_guard_gap: u64,
    /// RLIMIT_STACK in bytes.
    pub stack_rlimit: u64,
    /// vm.max_map_count.
    pub max_map_count: usize,
}

impl MmLayout {
    /// Linux's arm64 layout for a `task_size` address space (1 << 48 for
    /// 48-bit VAs): the stack at the top, mmap_base below the stack's
    /// rlimit plus the guard gap (mm/util.c mmap_base, clamped to
    /// [128 MiB, 5/6 of the space]), `rnd_bytes` of randomisation below it.
    pub const fn arm64(task_size: u64, rnd_bytes: u64) -> Self {
        let stack_top = task_size;
        let min_gap = 128 << 20;
        let max_gap = stack_top / 6 * 5;
        let mut gap = DEFAULT_STACK_RLIMIT + DEFAULT_STACK_GUARD_GAP;
        if gap < min_gap && min_gap < max_gap {
            gap = min_gap;
        } else if gap > max_gap {
            gap = max_gap;
        }
        let base = (stack_top - gap - rnd_bytes) & !(PAGE_SIZE - 1);
        Self {
            task_size,
            stack_top,
            mmap_base: base,
            mmap_min_addr: DEFAULT_MMAP_MIN_ADDR,
            stack_guard_gap: DEFAULT_STACK_GUARD_GAP,
            stack_rlimit: DEFAULT_STACK_RLIMIT,
            max_map_count: DEFAULT_MAX_MAP_COUNT,
        }
    }

    /// TASK_UNMAPPED_BASE: where the bottom-up fallback search starts.
    pub const fn unmapped_base(&self) -> u64 {
        (self.task_size / 4) & !(PAGE_SIZE - 1)
    }
}

/// What [`AddressSpace::mmap`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MmapResult {
    /// The start of the new mapping (the syscall's return value).
    pub addr: u64,
    /// Its length in bytes (page-aligned).
    pub len: u64,
    /// What MAP_FIXED replaced: the kernel zaps these PTEs (and drops
    /// their pages, and their shmem bytes) before returning to the user.
    pub unmapped: Vec<Vma>,
    /// MAP_POPULATE (without MAP_NONBLOCK) or MAP_LOCKED: fault the whole
    /// range in now (mm_populate), as a write fault if writable.
    pub populate: bool,
    /// A new shmem object for MAP_SHARED: the kernel creates it (empty),
    /// sized `len`.
    pub shmem: Option<NewShmem>,
}

/// A shmem object created by a shared anonymous mmap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewShmem {
    /// Its id (from the caller's allocator).
    pub id: ShmemId,
    /// Its size in pages.
    pub nr_pages: u64,
    /// Pages charged to the commit for it (0 with MAP_NORESERVE): the
    /// kernel gives them back with `vm_unacct_memory` when the object dies.
    pub charged_pages: u64,
}

/// What [`AddressSpace::munmap`] (or a brk shrink) removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnmapResult {
    /// The removed pieces with the flags and backing they had, in order:
    /// zap their PTEs, drop their pages, flush the TLB.
    pub removed: Vec<Vma>,
    /// free_pgtables' floor and ceiling: page tables entirely inside
    /// `[pgtable_floor, pgtable_ceiling)` may be freed (the end of the VMA
    /// below, or 0; the start of the VMA above, or task_size).
    pub pgtable_floor: u64,
    /// See `pgtable_floor`.
    pub pgtable_ceiling: u64,
}

/// One piece whose flags mprotect (or madvise) changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtChange {
    /// Start of the piece.
    pub start: u64,
    /// End of the piece.
    pub end: u64,
    /// The flags before.
    pub old: VmFlags,
    /// The flags after.
    pub new: VmFlags,
    /// The backing (so the kernel knows private from shared).
    pub anon: AnonKind,
}

impl ProtChange {
    /// Whether some access allowed before is not any more: the PTEs must
    /// lose it and the TLB be flushed on every CPU the mm ran on before
    /// mprotect returns. (An upgrade needs no flush on arm64: a stale
    /// entry faults and the fault is spurious.)
    pub fn is_downgrade(&self) -> bool {
        !(self.old & VmFlags::ACCESS).difference(self.new).is_empty()
    }
}

/// What [`AddressSpace::mprotect`] did. Like Linux, mprotect is not
/// atomic: the VMAs before a hole or a refused VMA are changed even when
/// the call fails, so the kernel applies `changes` whatever `result` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MprotectResult {
    /// The pieces changed, in address order.
    pub changes: Vec<ProtChange>,
    /// The syscall's result.
    pub result: Result<(), Errno>,
}

/// What [`AddressSpace::madvise`] found. Like Linux, the advice is
/// applied to the mapped parts even when the range has holes (ENOMEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadviseResult {
    /// MADV_DONTNEED: the pieces whose PTEs to zap (private pages are
    /// freed and read back as zeros; shared pages stay in their object).
    /// MADV_WILLNEED: the pieces the kernel may prefault (or ignore).
    /// Other advice: empty.
    pub pieces: Vec<Vma>,
    /// The syscall's result.
    pub result: Result<(), Errno>,
}

/// What [`AddressSpace::brk`] did. The syscall returns `brk` whatever
/// happened (the old value when it refused).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrkResult {
    /// The program break now.
    pub brk: u64,
    /// A shrink's removed range (empty otherwise).
    pub unmapped: UnmapResult,
}

/// A counter that disagrees with the VMAs, found by
/// [`AddressSpace::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MmValidateError {
    /// The tree itself is broken.
    Tree(VmaTreeError),
    /// A VMA lies above task_size.
    AboveTaskSize(u64),
    /// total_vm, locked_vm, data_vm, exec_vm, stack_vm or the accounted
    /// pages disagree with the VMAs (the name of the counter).
    Counter(&'static str),
}

/// The architecture-free half of an `mm_struct`: the VMAs, the layout,
/// brk and the stack, the VM counters and the per-mm commit charge.
/// Page tables, the ASID and the rss counters live with the kernel,
/// which applies what these operations return.
///
/// # Invariants
/// Every counter equals what the VMAs add up to (see [`Self::validate`]);
/// every VMA lies below `layout.task_size`. Not `Clone`: a copy must be
/// charged, which [`Self::dup_mmap`] does.
#[derive(Debug)]
pub struct AddressSpace {
    vmas: VmaTree,
    layout: MmLayout,
    start_brk: u64,
    brk: u64,
    start_stack: u64,
    total_vm: u64,
    locked_vm: u64,
    data_vm: u64,
    exec_vm: u64,
    stack_vm: u64,
    accounted_pages: u64,
}

/// A visitor of [`AddressSpace::walk_range`]: the space, the VMA's start,
/// and the part `[start, end)` of the range inside it.
type RangeVisit<'a> = dyn FnMut(&mut AddressSpace, u64, u64, u64) -> Result<(), Errno> + 'a;

/// Counter deltas of vm_stat_account (in pages).
fn stat_kind(flags: VmFlags) -> Option<usize> {
    // 0: exec_vm, 1: stack_vm, 2: data_vm
    if flags & (VmFlags::EXEC | VmFlags::WRITE | VmFlags::STACK) == VmFlags::EXEC {
        Some(0)
    } else if flags.contains(VmFlags::STACK) {
        Some(1)
    } else if flags & (VmFlags::WRITE | VmFlags::SHARED | VmFlags::STACK) == VmFlags::WRITE {
        Some(2)
    } else {
        None
    }
}

impl AddressSpace {
    /// An empty address space with `layout`; brk and the stack start at 0
    /// until exec sets them.
    pub fn new(layout: MmLayout) -> Self {
        Self {
            vmas: VmaTree::new(),
            layout,
            start_brk: 0,
            brk: 0,
            start_stack: 0,
            total_vm: 0,
            locked_vm: 0,
            data_vm: 0,
            exec_vm: 0,
            stack_vm: 0,
            accounted_pages: 0,
        }
    }

    /// The layout.
    pub fn layout(&self) -> &MmLayout {
        &self.layout
    }
    /// The VMAs.
    pub fn vmas(&self) -> &VmaTree {
        &self.vmas
    }
    /// mm->start_brk.
    pub fn start_brk(&self) -> u64 {
        self.start_brk
    }
    /// mm->brk (not page-aligned: what the program asked for).
    pub fn brk_value(&self) -> u64 {
        self.brk
    }
    /// mm->start_stack.
    pub fn start_stack(&self) -> u64 {
        self.start_stack
    }
    /// total_vm in pages.
    pub fn total_vm(&self) -> u64 {
        self.total_vm
    }
    /// locked_vm in pages.
    pub fn locked_vm(&self) -> u64 {
        self.locked_vm
    }
    /// data_vm in pages (private writable, not stack).
    pub fn data_vm(&self) -> u64 {
        self.data_vm
    }
    /// exec_vm in pages (executable, not writable, not stack).
    pub fn exec_vm(&self) -> u64 {
        self.exec_vm
    }
    /// stack_vm in pages.
    pub fn stack_vm(&self) -> u64 {
        self.stack_vm
    }
    /// Pages of VM_ACCOUNT VMAs: this mm's part of vm_committed_as.
    pub fn accounted_pages(&self) -> u64 {
        self.accounted_pages
    }
    /// map_count.
    pub fn map_count(&self) -> usize {
        self.vmas.len()
    }

    /// Exec: the heap starts (empty) at `addr` rounded up to a page.
    pub fn set_brk_base(&mut self, addr: u64) {
        let a = page_align(addr).unwrap_or(addr);
        self.start_brk = a;
        self.brk = a;
    }

    /// Exec: the initial stack pointer (for `[stack]` in /proc maps).
    pub fn set_start_stack(&mut self, sp: u64) {
        self.start_stack = sp;
    }

    fn account(&mut self, vma_flags: VmFlags, pages: u64, add: bool) {
        let apply = |c: &mut u64| {
            if add { *c += pages } else { *c -= pages }
        };
        apply(&mut self.total_vm);
        match stat_kind(vma_flags) {
            Some(0) => apply(&mut self.exec_vm),
            Some(1) => apply(&mut self.stack_vm),
            Some(_) => apply(&mut self.data_vm),
            None => {}
        }
        if vma_flags.contains(VmFlags::LOCKED) {
            apply(&mut self.locked_vm);
        }
        if vma_flags.contains(VmFlags::ACCOUNT) {
            apply(&mut self.accounted_pages);
        }
    }

    /// Insert `vma` and count it (the commit charge, if any, was taken).
    fn link(&mut self, vma: Vma) {
        self.account(vma.flags, vma.nr_pages(), true);
        self.vmas.insert(vma);
    }

    /// Remove the VMA starting at `start` and uncount it.
    fn unlink(&mut self, start: u64) -> Vma {
        let v = self.vmas.remove(start).expect("unlink of a missing vma");
        self.account(v.flags, v.nr_pages(), false);
        v
    }

    /// Split the VMA containing `addr` strictly inside it into two
    /// (counters unchanged).
    fn split_at(&mut self, addr: u64) {
        let Some(v) = self.vmas.vma_lookup(addr) else {
            return;
        };
        if v.start == addr {
            return;
        }
        let start = v.start;
        let tail = v.clip(addr, v.end);
        self.vmas.get_mut(start).expect("vma vanished").end = addr;
        self.vmas.insert(tail);
    }

    /// Merge the VMA starting at `start` with its neighbours where they
    /// are compatible; returns the start of the result.
    fn merge_around(&mut self, start: u64) -> u64 {
        let mut start = start;
        if let Some(prev) = self.vmas.prev_of(start) {
            let cur = self.vmas.vma_lookup(start).expect("merge of a missing vma");
            if prev.can_merge_with_next(cur) {
                let (ps, cend) = (prev.start, cur.end);
                self.vmas.remove(start);
                self.vmas.get_mut(ps).expect("prev vanished").end = cend;
                start = ps;
            }
        }
        let cur = self.vmas.vma_lookup(start).expect("merge of a missing vma");
        if let Some(next) = self.vmas.next_from(cur.end)
            && cur.can_merge_with_next(next)
        {
            let (ns, nend) = (next.start, next.end);
            self.vmas.remove(ns);
            self.vmas.get_mut(start).expect("vma vanished").end = nend;
        }
        start
    }

    /// Take `[start, end)` out of the tree (splitting at its ends),
    /// uncounting it; returns the removed pieces.
    fn detach_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        self.split_at(start);
        self.split_at(end);
        let starts: Vec<u64> = self.vmas.iter_range(start, end).map(|v| v.start).collect();
        starts.into_iter().map(|s| self.unlink(s)).collect()
    }

    fn unmap_result(&self, start: u64, end: u64, removed: Vec<Vma>) -> UnmapResult {
        UnmapResult {
            removed,
            pgtable_floor: self.vmas.prev_of(start).map_or(0, |v| v.end),
            pgtable_ceiling: self.vmas.next_from(end).map_or(self.layout.task_size, |v| v.start),
        }
    }

    /// Whether `[addr, addr + len)` is free with the stack guard gaps
    /// (the hint test of generic_get_unmapped_area_topdown).
    fn range_fits(&self, addr: u64, len: u64) -> bool {
        let (vma, prev) = self.vmas.find_vma_prev(addr);
        vma.is_none_or(|v| addr + len <= v.start_gap(self.layout.stack_guard_gap))
            && prev.is_none_or(|p| addr >= p.end_gap())
    }

    /// vm_unmapped_area: the highest (`topdown`) or lowest fit of `len`
    /// bytes in a gap inside `[low, high)`.
    fn unmapped_area(&self, len: u64, low: u64, high: u64, topdown: bool) -> Option<u64> {
        let gap = self.layout.stack_guard_gap;
        let fit = |lo: u64, hi: u64| -> Option<u64> {
            let lo = lo.max(low);
            let hi = hi.min(high);
            (hi > lo && hi - lo >= len).then(|| if topdown { hi - len } else { lo })
        };
        if topdown {
            let mut hi = u64::MAX;
            for v in self.vmas.iter().rev() {
                if let Some(a) = fit(v.end_gap(), hi) {
                    return Some(a);
                }
                hi = v.start_gap(gap);
                if hi <= low {
                    return None;
                }
            }
            fit(0, hi)
        } else {
            let mut lo = 0;
            for v in self.vmas.iter() {
                if let Some(a) = fit(lo, v.start_gap(gap)) {
                    return Some(a);
                }
                lo = v.end_gap();
                if lo >= high {
                    return None;
                }
            }
            fit(lo, u64::MAX)
        }
    }

    /// __get_unmapped_area for an anonymous mapping with arm64's default
    /// (top-down) layout: `addr` itself for MAP_FIXED, the hint when it is
    /// free (with the guard gaps), else the highest fit below mmap_base,
    /// else the lowest above TASK_UNMAPPED_BASE. `len` is page-aligned.
    ///
    /// Errors: ENOMEM when `len` or the result do not fit below
    /// task_size or nothing fits, EINVAL for an unaligned MAP_FIXED
    /// address, EPERM below mmap_min_addr.
    pub fn get_unmapped_area(&self, addr: u64, len: u64, flags: u32) -> Result<u64, Errno> {
        let l = &self.layout;
        if len > l.task_size {
            return Err(Errno::ENOMEM);
        }
        let addr = if flags & MAP_FIXED != 0 {
            addr
        } else if len > l.task_size - l.mmap_min_addr {
            return Err(Errno::ENOMEM);
        } else {
            let hint = page_align(addr).unwrap_or(0);
            if hint != 0 && l.task_size - len >= hint && hint >= l.mmap_min_addr && self.range_fits(hint, len) {
                hint
            } else {
                let low = PAGE_SIZE.max(l.mmap_min_addr);
                self.unmapped_area(len, low, l.mmap_base, true)
                    .or_else(|| self.unmapped_area(len, l.unmapped_base(), l.task_size, false))
                    .ok_or(Errno::ENOMEM)?
            }
        };
        if addr > l.task_size - len {
            return Err(Errno::ENOMEM);
        }
        if offset_in_page(addr) != 0 {
            return Err(Errno::EINVAL);
        }
        if addr < l.mmap_min_addr {
            return Err(Errno::EPERM);
        }
        Ok(addr)
    }

    /// mmap(2) of anonymous memory (do_mmap + mmap_region).
    ///
    /// `pgoff` is the offset argument in pages (ignored for anonymous
    /// memory, but checked for overflow as Linux does); `new_shmem` names
    /// the object of a MAP_SHARED mapping. The checks, in Linux's order:
    /// not MAP_ANONYMOUS: EBADF (no files here); MAP_HUGETLB: EINVAL;
    /// len 0: EINVAL; len rounding past the top: ENOMEM; pgoff overflow:
    /// EOVERFLOW; too many VMAs: ENOMEM; then [`Self::get_unmapped_area`];
    /// MAP_FIXED_NOREPLACE over a mapping: EEXIST; neither MAP_SHARED nor
    /// MAP_PRIVATE: EINVAL; MAP_SHARED | MAP_GROWSDOWN: EINVAL; the commit
    /// refusing a private writable mapping (or the shmem object): ENOMEM.
    /// On failure nothing changed.
    // The syscall's five arguments (fd aside) plus the two providers.
    #[allow(clippy::too_many_arguments)]
    pub fn mmap(
        &mut self,
        addr: u64,
        len: u64,
        prot: u32,
        flags: u32,
        pgoff: u64,
        commit: &dyn Commit,
        new_shmem: &mut dyn FnMut() -> ShmemId,
    ) -> Result<MmapResult, Errno> {
        if flags & MAP_ANONYMOUS == 0 {
            return Err(Errno::EBADF);
        }
        if flags & MAP_HUGETLB != 0 {
            return Err(Errno::EINVAL);
        }
        let mut flags = flags;
        if flags & MAP_FIXED_NOREPLACE != 0 {
            flags |= MAP_FIXED;
        }
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut addr = addr;
        if flags & MAP_FIXED == 0 {
            // round_hint_to_min
            addr &= !(PAGE_SIZE - 1);
            if addr != 0 && addr < self.layout.mmap_min_addr {
                addr = page_align(self.layout.mmap_min_addr).unwrap_or(0);
            }
        }
        let len = match page_align(len) {
            Some(l) if l != 0 => l,
            _ => return Err(Errno::ENOMEM),
        };
        let pages = len / PAGE_SIZE;
        if pgoff.checked_add(pages).is_none() {
            return Err(Errno::EOVERFLOW);
        }
        if self.map_count() > self.layout.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let addr = self.get_unmapped_area(addr, len, flags)?;
        if flags & MAP_FIXED_NOREPLACE != 0 && self.vmas.find_vma_intersection(addr, addr + len).is_some() {
            return Err(Errno::EEXIST);
        }
        let mut vm_flags = VmFlags::from_prot(prot) | VmFlags::MAYREAD | VmFlags::MAYWRITE | VmFlags::MAYEXEC;
        if flags & MAP_GROWSDOWN != 0 {
            vm_flags |= VmFlags::GROWSDOWN;
        }
        if flags & MAP_LOCKED != 0 {
            vm_flags |= VmFlags::LOCKED;
        }
        let shared = match flags & MAP_TYPE {
            MAP_SHARED => {
                if vm_flags.contains(VmFlags::GROWSDOWN) {
                    return Err(Errno::EINVAL);
                }
                vm_flags |= VmFlags::SHARED | VmFlags::MAYSHARE;
                true
            }
            MAP_PRIVATE => false,
            _ => return Err(Errno::EINVAL),
        };
        if flags & MAP_NORESERVE != 0 && commit.honours_noreserve() {
            vm_flags |= VmFlags::NORESERVE;
        }
        let populate = vm_flags.contains(VmFlags::LOCKED) || flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE;
        let r = self.mmap_region(addr, len, vm_flags, shared, commit, new_shmem)?;
        Ok(MmapResult { populate, ..r })
    }

    /// mmap_region: map `[addr, addr + len)` with `vm_flags`, replacing
    /// what is there, charging, merging.
    fn mmap_region(
        &mut self,
        addr: u64,
        len: u64,
        mut vm_flags: VmFlags,
        shared: bool,
        commit: &dyn Commit,
        new_shmem: &mut dyn FnMut() -> ShmemId,
    ) -> Result<MmapResult, Errno> {
        let end = addr + len;
        let pages = len / PAGE_SIZE;
        let old_accounted: u64 = self
            .vmas
            .iter_range(addr, end)
            .filter(|v| v.flags.contains(VmFlags::ACCOUNT))
            .map(|v| v.clip(addr, end).nr_pages())
            .sum();
        // accountable_mapping: private writable without NORESERVE. The
        // pages it replaces that were charged carry their charge over.
        let mut charged = 0;
        let accountable = vm_flags & (VmFlags::NORESERVE | VmFlags::SHARED | VmFlags::WRITE) == VmFlags::WRITE;
        if accountable {
            charged = pages - old_accounted;
            if charged != 0 {
                commit.vm_enough_memory(charged)?;
            }
            vm_flags |= VmFlags::ACCOUNT;
        }
        let shmem = if shared {
            let charged_pages = if vm_flags.contains(VmFlags::NORESERVE) {
                0
            } else {
                if let Err(e) = commit.vm_enough_memory(pages) {
                    if charged != 0 {
                        commit.vm_unacct_memory(charged);
                    }
                    return Err(e);
                }
                pages
            };
            Some(NewShmem { id: new_shmem(), nr_pages: pages, charged_pages })
        } else {
            None
        };
        let unmapped = self.detach_range(addr, end);
        if !accountable && old_accounted != 0 {
            commit.vm_unacct_memory(old_accounted);
        }
        let vma = Vma {
            start: addr,
            end,
            flags: vm_flags,
            pgoff: if shared { 0 } else { addr / PAGE_SIZE },
            anon: shmem.map_or(AnonKind::Private, |s| AnonKind::Shared(s.id)),
            name: VmaName::None,
        };
        self.link(vma);
        self.merge_around(addr);
        Ok(MmapResult { addr, len, unmapped, populate: false, shmem })
    }

    /// insert_vm_struct: add a VMA the kernel built (exec's stack, ELF
    /// segments), charging it if it has VM_ACCOUNT. EINVAL for an empty
    /// or unaligned VMA, ENOMEM when it overlaps another, lies above
    /// task_size or the commit refuses. Not merged with neighbours.
    pub fn insert_vm_struct(&mut self, vma: Vma, commit: &dyn Commit) -> Result<(), Errno> {
        if vma.start >= vma.end || offset_in_page(vma.start | vma.end) != 0 {
            return Err(Errno::EINVAL);
        }
        if vma.end > self.layout.task_size || self.vmas.find_vma_intersection(vma.start, vma.end).is_some() {
            return Err(Errno::ENOMEM);
        }
        if vma.flags.contains(VmFlags::ACCOUNT) {
            commit.vm_enough_memory(vma.nr_pages())?;
        }
        self.link(vma);
        Ok(())
    }

    /// Exec's stack (__bprm_mm_init + setup_arg_pages): a VM_STACK_FLAGS
    /// VMA `[stack_top - size, stack_top)`, charged; start_stack is set
    /// to `stack_top` until [`Self::set_start_stack`] says better.
    pub fn setup_stack(&mut self, stack_top: u64, size: u64, commit: &dyn Commit) -> Result<Vma, Errno> {
        let size = page_align(size).ok_or(Errno::ENOMEM)?;
        let start = stack_top.checked_sub(size).ok_or(Errno::ENOMEM)?;
        let vma = Vma {
            start,
            end: stack_top,
            flags: VmFlags::STACK_DEFAULT,
            pgoff: start / PAGE_SIZE,
            anon: AnonKind::Private,
            name: VmaName::None,
        };
        self.insert_vm_struct(vma.clone(), commit)?;
        self.start_stack = stack_top;
        Ok(vma)
    }

    /// munmap(2) (__vm_munmap / do_vmi_munmap): remove `[addr, addr +
    /// len)`, splitting VMAs at its ends. EINVAL for an unaligned `addr`,
    /// a zero `len` or a range past task_size; ENOMEM when a split in the
    /// middle of a VMA would pass max_map_count. Nothing mapped there is
    /// success with nothing removed. Charges of removed VM_ACCOUNT pieces
    /// are given back.
    pub fn munmap(&mut self, addr: u64, len: u64, commit: &dyn Commit) -> Result<UnmapResult, Errno> {
        let ts = self.layout.task_size;
        if offset_in_page(addr) != 0 || addr > ts || len > ts - addr {
            return Err(Errno::EINVAL);
        }
        let end = addr + page_align(len).ok_or(Errno::EINVAL)?;
        if end == addr {
            return Err(Errno::EINVAL);
        }
        self.do_munmap(addr, end, commit)
    }

    fn do_munmap(&mut self, start: u64, end: u64, commit: &dyn Commit) -> Result<UnmapResult, Errno> {
        let Some(first) = self.vmas.find_vma_intersection(start, end) else {
            return Ok(self.unmap_result(start, end, Vec::new()));
        };
        if start > first.start && end < first.end && self.map_count() >= self.layout.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let removed = self.detach_range(start, end);
        let uncharge: u64 = removed.iter().filter(|v| v.flags.contains(VmFlags::ACCOUNT)).map(Vma::nr_pages).sum();
        if uncharge != 0 {
            commit.vm_unacct_memory(uncharge);
        }
        Ok(self.unmap_result(start, end, removed))
    }

    /// Change `[start, end)` (inside the VMA starting at `vma_start`) to
    /// `new_flags` / `new_name`, splitting and merging as vma_modify does.
    /// ENOMEM when a split would pass max_map_count. Counters other than
    /// the accounted pages are kept; the caller charged.
    fn modify_piece(
        &mut self,
        vma_start: u64,
        start: u64,
        end: u64,
        new_flags: VmFlags,
        new_name: &VmaName,
    ) -> Result<(), Errno> {
        let v = self.vmas.vma_lookup(vma_start).expect("modify of a missing vma");
        let mut piece = v.clip(start, end);
        piece.flags = new_flags;
        piece.name = new_name.clone();
        let splits = usize::from(start > v.start) + usize::from(end < v.end);
        let merges =
            usize::from(start == v.start && self.vmas.prev_of(start).is_some_and(|p| p.can_merge_with_next(&piece)))
                + usize::from(end == v.end && self.vmas.next_from(end).is_some_and(|n| piece.can_merge_with_next(n)));
        if splits > 0 && merges == 0 && self.map_count() + splits > self.layout.max_map_count {
            return Err(Errno::ENOMEM);
        }
        let old = self.detach_range(start, end);
        debug_assert_eq!(old.len(), 1);
        self.link(piece);
        self.merge_around(start);
        Ok(())
    }

    /// mprotect(2) (do_mprotect_pkey + mprotect_fixup).
    ///
    /// Checks first (nothing changed): PROT_GROWSDOWN with PROT_GROWSUP,
    /// an unaligned start or unknown prot bits (PROT_BTI and PROT_MTE
    /// included, unsupported here): EINVAL; `len` 0: success; the range
    /// wrapping: ENOMEM; no VMA at `start`: ENOMEM; PROT_GROWSDOWN on a
    /// VMA that does not grow down, or PROT_GROWSUP: EINVAL. Then VMA by
    /// VMA: a hole: ENOMEM; asking for an access whose VM_MAY bit is
    /// clear: EACCES; a private mapping becoming writable is charged
    /// (ENOMEM when refused), the charge stays when write is removed.
    pub fn mprotect(&mut self, start: u64, len: u64, prot: u32, commit: &dyn Commit) -> MprotectResult {
        let mut changes = Vec::new();
        let result = self.do_mprotect(start, len, prot, commit, &mut changes);
        MprotectResult { changes, result }
    }

    fn do_mprotect(
        &mut self,
        start: u64,
        len: u64,
        prot: u32,
        commit: &dyn Commit,
        changes: &mut Vec<ProtChange>,
    ) -> Result<(), Errno> {
        let grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP);
        let prot = prot & !grows;
        if grows == PROT_GROWSDOWN | PROT_GROWSUP {
            return Err(Errno::EINVAL);
        }
        if offset_in_page(start) != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Ok(());
        }
        let len = page_align(len).ok_or(Errno::ENOMEM)?;
        let end = start.checked_add(len).ok_or(Errno::ENOMEM)?;
        if end <= start {
            return Err(Errno::ENOMEM);
        }
        if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM) != 0 {
            return Err(Errno::EINVAL);
        }
        let first = self.vmas.find_vma_intersection(start, end).ok_or(Errno::ENOMEM)?;
        let mut start = start;
        if grows & PROT_GROWSDOWN != 0 {
            start = first.start;
            if !first.flags.contains(VmFlags::GROWSDOWN) {
                return Err(Errno::EINVAL);
            }
        } else {
            if first.start > start {
                return Err(Errno::ENOMEM);
            }
            if grows & PROT_GROWSUP != 0 {
                // No VM_GROWSUP VMAs on arm64.
                return Err(Errno::EINVAL);
            }
        }
        let want = VmFlags::from_prot(prot);
        let mut tmp = first.start;
        let mut nstart = start;
        while nstart < end {
            let Some(v) = self.vmas.find_vma_intersection(nstart, end) else {
                break;
            };
            if v.start != tmp {
                return Err(Errno::ENOMEM);
            }
            let old = v.flags;
            let mut new = want | (old - VmFlags::ACCESS);
            // newflags >> 4 puts the VM_MAY bits over the VM_ bits.
            let may = VmFlags::from_bits_retain(new.bits() >> 4);
            if !((new - may) & VmFlags::ACCESS).is_empty() {
                return Err(Errno::EACCES);
            }
            let vs = v.start;
            let anon = v.anon;
            let name = v.name.clone();
            tmp = v.end.min(end);
            if new != old {
                let pages = (tmp - nstart) / PAGE_SIZE;
                let mut charged = 0;
                if new.contains(VmFlags::WRITE)
                    && !old.intersects(
                        VmFlags::ACCOUNT | VmFlags::WRITE | VmFlags::HUGETLB | VmFlags::SHARED | VmFlags::NORESERVE,
                    )
                {
                    commit.vm_enough_memory(pages)?;
                    charged = pages;
                    new |= VmFlags::ACCOUNT;
                }
                if let Err(e) = self.modify_piece(vs, nstart, tmp, new, &name) {
                    if charged != 0 {
                        commit.vm_unacct_memory(charged);
                    }
                    return Err(e);
                }
                changes.push(ProtChange { start: nstart, end: tmp, old, new, anon });
                // The piece may have merged with the VMA after it (which
                // then had the new flags already): go on after the result.
                let merged = self.vmas.vma_lookup(nstart).expect("changed vma vanished");
                tmp = merged.end.min(end);
            }
            nstart = tmp;
        }
        if tmp < end {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Walk the VMAs of `[start, end)` as madvise_walk_vmas does: `visit`
    /// sees each VMA and the part of the range inside it; holes make the
    /// result ENOMEM after the walk; an error from `visit` stops it.
    fn walk_range(&mut self, start: u64, end: u64, visit: &mut RangeVisit<'_>) -> Result<(), Errno> {
        let mut start = start;
        let mut unmapped = Ok(());
        loop {
            let Some(v) = self.vmas.find_vma(start) else {
                return Err(Errno::ENOMEM);
            };
            let (vs, ve) = (v.start, v.end);
            if start < vs {
                unmapped = Err(Errno::ENOMEM);
                start = vs;
                if start >= end {
                    break;
                }
            }
            let tmp = ve.min(end);
            visit(self, vs, start, tmp)?;
            start = tmp;
            if start >= end {
                break;
            }
        }
        unmapped
    }

    /// madvise(2) for MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL,
    /// MADV_WILLNEED and MADV_DONTNEED. EINVAL for other advice, an
    /// unaligned start, a length rounding to 0 or a wrapping range;
    /// `len` 0: success. Holes: ENOMEM after the advice was applied to the
    /// mapped parts. MADV_DONTNEED on a VM_LOCKED (or PFNMAP, HUGETLB)
    /// VMA: EINVAL, stopping there.
    pub fn madvise(&mut self, start: u64, len_in: u64, advice: i32) -> MadviseResult {
        let mut pieces = Vec::new();
        let result = self.do_madvise(start, len_in, advice, &mut pieces);
        MadviseResult { pieces, result }
    }

    fn do_madvise(&mut self, start: u64, len_in: u64, advice: i32, pieces: &mut Vec<Vma>) -> Result<(), Errno> {
        if !matches!(advice, MADV_NORMAL | MADV_RANDOM | MADV_SEQUENTIAL | MADV_WILLNEED | MADV_DONTNEED) {
            return Err(Errno::EINVAL);
        }
        if offset_in_page(start) != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len_in).unwrap_or(0);
        if len_in != 0 && len == 0 {
            return Err(Errno::EINVAL);
        }
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if end == start {
            return Ok(());
        }
        self.walk_range(start, end, &mut |mm, vs, s, e| {
            let v = mm.vmas.vma_lookup(vs).expect("walked vma vanished");
            match advice {
                MADV_DONTNEED => {
                    if v.flags.intersects(VmFlags::LOCKED | VmFlags::PFNMAP | VmFlags::HUGETLB) {
                        return Err(Errno::EINVAL);
                    }
                    pieces.push(v.clip(s, e));
                    Ok(())
                }
                MADV_WILLNEED => {
                    pieces.push(v.clip(s, e));
                    Ok(())
                }
                _ => {
                    let hints = VmFlags::RAND_READ | VmFlags::SEQ_READ;
                    let new = (v.flags - hints)
                        | match advice {
                            MADV_RANDOM => VmFlags::RAND_READ,
                            MADV_SEQUENTIAL => VmFlags::SEQ_READ,
                            _ => VmFlags::empty(),
                        };
                    if new == v.flags {
                        return Ok(());
                    }
                    let name = v.name.clone();
                    mm.modify_piece(vs, s, e, new, &name)
                }
            }
        })
    }

    /// prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME): name (or, with `None`,
    /// unname) the VMAs of `[start, start + len)`, splitting and merging.
    /// EINVAL for an unaligned start or a wrapping range; holes: ENOMEM
    /// after naming the mapped parts.
    pub fn set_anon_name(&mut self, start: u64, len: u64, name: Option<&str>) -> Result<(), Errno> {
        if offset_in_page(start) != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_align(len).ok_or(Errno::EINVAL)?;
        let end = start.checked_add(len).ok_or(Errno::EINVAL)?;
        if end == start {
            return Ok(());
        }
        let name = name.map_or(VmaName::None, |n| VmaName::Custom(Arc::from(n)));
        self.walk_range(start, end, &mut |mm, vs, s, e| {
            let v = mm.vmas.vma_lookup(vs).expect("walked vma vanished");
            if v.name == name {
                return Ok(());
            }
            let flags = v.flags;
            mm.modify_piece(vs, s, e, flags, &name)
        })
    }

    /// mincore(2)'s range check: the VMA pieces covering `[start, start +
    /// len)`, for the kernel to report which pages are resident. EINVAL
    /// for an unaligned start; ENOMEM for a range past task_size or with
    /// any unmapped page. `len` 0: no pieces.
    pub fn mincore(&self, start: u64, len: u64) -> Result<Vec<Vma>, Errno> {
        if offset_in_page(start) != 0 {
            return Err(Errno::EINVAL);
        }
        if start.checked_add(len).is_none_or(|e| e > self.layout.task_size) {
            return Err(Errno::ENOMEM);
        }
        let end = page_align(start + len).ok_or(Errno::ENOMEM)?;
        let mut pieces = Vec::new();
        let mut at = start;
        while at < end {
            let v = self.vmas.vma_lookup(at).ok_or(Errno::ENOMEM)?;
            let piece = v.clip(at, end);
            at = piece.end;
            pieces.push(piece);
        }
        Ok(pieces)
    }

    /// brk(2): move the program break to `new_brk`.
    ///
    /// Below start_brk: refused. Same page: only the value changes.
    /// Shrinking unmaps `[PAGE_ALIGN(new), PAGE_ALIGN(old))` (refused if
    /// nothing is mapped there). Growing maps `rw-` private memory,
    /// charged, refused when the commit refuses or when the new end plus
    /// one page would reach the next VMA (or its stack guard gap). A
    /// refusal returns the old break and changes nothing.
    pub fn brk(&mut self, new_brk: u64, commit: &dyn Commit) -> BrkResult {
        let old = self.brk;
        let refuse = |mm: &Self| BrkResult { brk: mm.brk, unmapped: UnmapResult::default() };
        if new_brk < self.start_brk || new_brk > self.layout.task_size {
            return refuse(self);
        }
        let (Some(newbrk), Some(oldbrk)) = (page_align(new_brk), page_align(old)) else {
            return refuse(self);
        };
        if newbrk == oldbrk {
            self.brk = new_brk;
            return BrkResult { brk: new_brk, unmapped: UnmapResult::default() };
        }
        if new_brk <= old {
            if self.vmas.find_vma_intersection(newbrk, oldbrk).is_none() {
                return refuse(self);
            }
            return match self.do_munmap(newbrk, oldbrk, commit) {
                Ok(unmapped) => {
                    self.brk = new_brk;
                    BrkResult { brk: new_brk, unmapped }
                }
                Err(_) => refuse(self),
            };
        }
        let gap = self.layout.stack_guard_gap;
        let limit = newbrk.saturating_add(PAGE_SIZE).saturating_add(gap);
        if let Some(next) = self.vmas.find_vma_intersection(oldbrk, limit)
            && newbrk + PAGE_SIZE > next.start_gap(gap)
        {
            return refuse(self);
        }
        if self.map_count() > self.layout.max_map_count {
            return refuse(self);
        }
        let pages = (newbrk - oldbrk) / PAGE_SIZE;
        if commit.vm_enough_memory(pages).is_err() {
            return refuse(self);
        }
        let vma = Vma {
            start: oldbrk,
            end: newbrk,
            flags: VmFlags::DATA_DEFAULT | VmFlags::ACCOUNT,
            pgoff: oldbrk / PAGE_SIZE,
            anon: AnonKind::Private,
            name: VmaName::None,
        };
        self.link(vma);
        self.merge_around(oldbrk);
        self.brk = new_brk;
        BrkResult { brk: new_brk, unmapped: UnmapResult::default() }
    }

    /// expand_stack (expand_downwards + acct_stack_growth): grow the
    /// VM_GROWSDOWN VMA just above `addr` down to cover it. Returns the
    /// new start. EFAULT when no grows-down VMA is above `addr`; EPERM
    /// below mmap_min_addr; ENOMEM within the guard gap of an accessible
    /// VMA below (one that does not itself grow down), past RLIMIT_STACK
    /// or when the commit refuses the new pages (charged even if the VMA
    /// lacks VM_ACCOUNT, as Linux does).
    pub fn expand_stack(&mut self, addr: u64, commit: &dyn Commit) -> Result<u64, Errno> {
        let vma = self.vmas.find_vma(addr).ok_or(Errno::EFAULT)?;
        if vma.start <= addr {
            return Ok(vma.start);
        }
        if !vma.flags.contains(VmFlags::GROWSDOWN) {
            return Err(Errno::EFAULT);
        }
        let address = addr & !(PAGE_SIZE - 1);
        if address < self.layout.mmap_min_addr {
            return Err(Errno::EPERM);
        }
        if let Some(prev) = self.vmas.prev_of(vma.start)
            && !prev.flags.contains(VmFlags::GROWSDOWN)
            && prev.flags.is_accessible()
            && address - prev.end < self.layout.stack_guard_gap
        {
            return Err(Errno::ENOMEM);
        }
        let size = vma.end - address;
        let grow = (vma.start - address) / PAGE_SIZE;
        if grow > vma.pgoff || size > self.layout.stack_rlimit {
            return Err(Errno::ENOMEM);
        }
        commit.vm_enough_memory(grow)?;
        let mut v = self.unlink(vma.start);
        v.start = address;
        v.pgoff -= grow;
        self.link(v);
        Ok(address)
    }

    /// The fault path's VMA lookup (lock_mm_and_find_vma): the VMA
    /// containing `addr`, growing a stack down to it when `addr` is just
    /// below a VM_GROWSDOWN VMA. `None` is a bad access with SEGV_MAPERR.
    pub fn find_fault_vma(&mut self, addr: u64, commit: &dyn Commit) -> Option<&Vma> {
        let vma = self.vmas.find_vma(addr)?;
        if vma.start > addr {
            if !vma.flags.contains(VmFlags::GROWSDOWN) {
                return None;
            }
            self.expand_stack(addr, commit).ok()?;
        }
        self.vmas.vma_lookup(addr)
    }

    /// fork's dup_mmap: the child's address space, every VMA copied except
    /// VM_DONTCOPY ones, VM_ACCOUNT VMAs charged again (ENOMEM, with
    /// nothing charged, when the commit refuses). The kernel then copies
    /// the page tables: private pages write-protected in both (COW),
    /// shared pages shared (and their objects' mapped bytes counted
    /// again), VM_WIPEONFORK VMAs left empty in the child.
    pub fn dup_mmap(&self, commit: &dyn Commit) -> Result<AddressSpace, Errno> {
        let mut child = AddressSpace::new(self.layout);
        child.start_brk = self.start_brk;
        child.brk = self.brk;
        child.start_stack = self.start_stack;
        let charge: u64 = self
            .vmas
            .iter()
            .filter(|v| v.flags.contains(VmFlags::ACCOUNT) && !v.flags.contains(VmFlags::DONTCOPY))
            .map(Vma::nr_pages)
            .sum();
        if charge != 0 {
            commit.vm_enough_memory(charge)?;
        }
        for v in self.vmas.iter().filter(|v| !v.flags.contains(VmFlags::DONTCOPY)) {
            child.link(v.clone());
        }
        Ok(child)
    }

    /// exit_mmap: remove every VMA, give back this mm's charge; the kernel
    /// zaps the returned VMAs and frees every page table.
    pub fn exit_mmap(&mut self, commit: &dyn Commit) -> Vec<Vma> {
        if self.accounted_pages != 0 {
            commit.vm_unacct_memory(self.accounted_pages);
        }
        let all: Vec<Vma> = self.vmas.clear().collect();
        self.total_vm = 0;
        self.locked_vm = 0;
        self.data_vm = 0;
        self.exec_vm = 0;
        self.stack_vm = 0;
        self.accounted_pages = 0;
        all
    }

    /// Check the tree and that every counter matches the VMAs.
    pub fn validate(&self) -> Result<(), MmValidateError> {
        self.vmas.validate().map_err(MmValidateError::Tree)?;
        let mut c = [0u64; 6];
        for v in self.vmas.iter() {
            if v.end > self.layout.task_size {
                return Err(MmValidateError::AboveTaskSize(v.start));
            }
            let n = v.nr_pages();
            c[0] += n;
            if let Some(k) = stat_kind(v.flags) {
                c[1 + k] += n;
            }
            if v.flags.contains(VmFlags::LOCKED) {
                c[4] += n;
            }
            if v.flags.contains(VmFlags::ACCOUNT) {
                c[5] += n;
            }
        }
        let have = [
            (self.total_vm, "total_vm"),
            (self.exec_vm, "exec_vm"),
            (self.stack_vm, "stack_vm"),
            (self.data_vm, "data_vm"),
            (self.locked_vm, "locked_vm"),
            (self.accounted_pages, "accounted_pages"),
        ];
        for (i, (v, name)) in have.into_iter().enumerate() {
            if v != c[i] {
                return Err(MmValidateError::Counter(name));
            }
        }
        Ok(())
    }
}
