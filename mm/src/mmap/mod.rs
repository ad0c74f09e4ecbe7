//! User address spaces without the hardware: the VMAs of an `mm_struct`
//! and the system calls that change them (mmap, munmap, mprotect, brk,
//! madvise, mincore), stack growth, commit accounting, the mm side of the
//! page fault, and the /proc reports. After Linux's mm/mmap.c, mm/vma.c,
//! mm/mprotect.c, mm/madvise.c, mm/util.c, mm/memory.c,
//! arch/arm64/mm/fault.c and fs/proc/task_mmu.c.
//!
//! # Data structures
//!
//! ```text
//!   AddressSpace (the architecture-free half of mm_struct)
//!   ├─ layout: MmLayout        task_size, stack_top, mmap_base, mmap_min_addr,
//!   │                          stack_guard_gap, RLIMIT_STACK, max_map_count
//!   ├─ vmas: VmaTree           BTreeMap start -> Vma, non-overlapping
//!   │    Vma { start, end, flags: VmFlags, pgoff,
//!   │          anon: Private | Shared(ShmemId), name: None | Custom }
//!   ├─ start_brk, brk, start_stack
//!   └─ total_vm, locked_vm, data_vm, exec_vm, stack_vm, accounted_pages
//!
//!   Commit (trait; VmCommit is the kernel's vm_committed_as + policy)
//! ```
//!
//! Everything here is bookkeeping: no operation touches a page or a page
//! table. Each returns what the kernel must do to its page tables, and
//! the kernel (holding the mm's lock for writing) does it before
//! returning to the user:
//!
//! * [`MmapResult`]: the new range (fault it in if `populate`), the
//!   pieces MAP_FIXED replaced (zap), a new shmem object to create.
//! * [`UnmapResult`] (munmap, brk shrink): the removed pieces with their
//!   flags and backing (zap PTEs, free private pages, flush the TLB) and
//!   the floor/ceiling between which page tables may be freed.
//! * [`MprotectResult`]: each changed piece with old and new flags; the
//!   kernel rewrites the PTEs (never making a private page writable: the
//!   next write fault decides between reuse and copy) and flushes the TLB
//!   on every CPU the mm ran on when [`ProtChange::is_downgrade`].
//! * [`MadviseResult`]: the pieces to zap for MADV_DONTNEED.
//! * [`fault::decide`]: one [`fault::FaultAction`] for a PTE;
//!   [`fault::vm_page_prot`]: the protection a VMA's PTEs start with
//!   (private memory read-only until a write fault), and
//!   [`VmFlags::is_cow_mapping`]: which VMAs fork write-protects.
//!
//! Shared anonymous objects live with the kernel (an index -> page
//! table per [`ShmemId`], shared across fork). A workable lifetime rule:
//! count the bytes of the object mapped in all address spaces (add a new
//! mapping's `len` and, at fork, each shared VMA's length; subtract every
//! removed piece's length); at zero free its pages and give back its
//! `charged_pages`.
//!
//! # Commit accounting
//!
//! As Linux: a private writable mapping without MAP_NORESERVE is charged
//! when made and carries VM_ACCOUNT; mprotect making an uncharged private
//! mapping writable charges it then; brk and stack growth charge; a shared
//! anonymous object is charged once at creation; munmap and exit give the
//! VM_ACCOUNT pages back; fork charges the child's copy. In the default
//! heuristic mode one request larger than RAM plus swap is refused, so a
//! program may reserve tens of GiB PROT_NONE or MAP_NORESERVE and make a
//! window writable later.
//!
//! # Locking
//!
//! `AddressSpace` has no lock of its own: every operation takes `&mut
//! self`, so the kernel's mmap_lock (held for writing by the syscalls,
//! and by the fault path only to grow the stack) is the whole story.
//! [`VmCommit`] is atomic and may be shared by all address spaces.
//!
//! # Differences from Linux
//!
//! * The tree is a `BTreeMap`, not a maple tree: no RCU readers, no
//!   per-VMA locks, and the free-area search walks the VMAs in O(n)
//!   instead of descending on cached gap sizes.
//! * No anon_vma: adjacent compatible private VMAs always merge (Linux
//!   keeps two faulted VMAs with different anon_vmas apart), so the
//!   VMA set is always maximally merged; mprotect never drops VM_ACCOUNT
//!   from a VMA that was never faulted (Linux does since 6.x).
//! * Anonymous memory only (a file mmap is EBADF); no hugetlb
//!   (MAP_HUGETLB is EINVAL), no mseal, no pkeys, no mremap, no
//!   RLIMIT_AS / RLIMIT_DATA / RLIMIT_MEMLOCK (treated as unlimited), no
//!   address randomisation unless the caller's [`MmLayout`] adds it.
//! * madvise knows NORMAL, RANDOM, SEQUENTIAL, WILLNEED and DONTNEED;
//!   other advice is EINVAL. mincore reports ENOMEM for a hole anywhere in
//!   the range (Linux may have filled part of the vector first).
//! * Overcommit mode 2 has no admin/user reserves; the counter is exact,
//!   not per-CPU.

pub mod commit;
pub mod errno;
pub mod fault;
pub mod flags;
pub mod maps;
pub mod space;
pub mod vma;

#[cfg(test)]
mod tests;

pub use commit::{Commit, Overcommit, VmCommit};
pub use errno::Errno;
pub use flags::VmFlags;
pub use space::{
    AddressSpace, BrkResult, MadviseResult, MmLayout, MmValidateError, MmapResult, MprotectResult, NewShmem,
    ProtChange, UnmapResult,
};
pub use vma::{AnonKind, ShmemId, Vma, VmaName, VmaTree};
