//! User address spaces: `mm_struct`, the VMA tree and the page-fault handler
//! (Linux's mm/mmap.c, mm/memory.c and arch/arm64/mm/fault.c). **Not built
//! yet**: this essay is the plan the code will follow.
//!
//! # Data structures
//!
//! ```text
//!   MmStruct (one per address space)
//!   ├─ pgd: PageTable<F, M>           the user page table (TTBR0)
//!   ├─ mmap_lock: RwLock              readers: faults; writers: mmap, munmap, mprotect
//!   ├─ vmas: ordered map of ranges    Linux's maple tree, here an augmented
//!   │    [vm_start, vm_end) -> Vma     interval tree like vmalloc's
//!   └─ counters                       rss, total_vm, locked_vm
//!
//!   Vma { vm_start, vm_end, vm_flags (READ WRITE EXEC SHARED GROWSDOWN ...),
//!         vm_page_prot, backing: anonymous | file (later) , anon_vma }
//! ```
//!
//! VMAs never overlap; adjacent VMAs with identical flags and backing are
//! merged (vma_merge), and `munmap` or `mprotect` of part of a VMA splits it,
//! as memblock splits regions at a range's ends before changing them.
//! Finding a free range for `mmap` is the same lowest-fit search as vmalloc's,
//! over the gaps between VMAs.
//!
//! # The fault path (handle_mm_fault)
//!
//! ```text
//!   arm64 fault (arch: ESR_EL1, FAR_EL1)
//!     -> do_page_fault: user or kernel address? permission or translation fault?
//!     -> take mmap_lock for read; find_vma(addr); check vm_flags against the access
//!     -> handle_mm_fault: walk the page table, allocating missing tables
//!          pte none, anonymous:   do_anonymous_page: a zeroed page (or the
//!                                 shared zero page for a read), map it
//!          pte present, write to
//!          a read-only COW page:  do_wp_page: copy to a new page unless this
//!                                 is the page's only mapping, then map writable
//!     -> success: return to the faulting instruction; no VMA or no permission:
//!        SIGSEGV for a user task, an oops for the kernel
//! ```
//!
//! Copy-on-write: `fork` (later) maps every private writable page read-only
//! in both address spaces and takes a reference; the first write in either
//! faults into `do_wp_page`. The page's `_mapcount` (in `page`)
//! says whether the copy can be skipped.
//!
//! # Locks
//!
//! `mmap_lock` (read for faults, write for changes of the VMA tree), then
//! the page-table lock of the table being changed (split per table page,
//! as Linux's split PTE locks), then the page allocator's. The fault path
//! never sleeps while holding the page-table lock; allocation happens before
//! taking it and the entry is rechecked after (another CPU may have handled
//! the same fault).
//!
//! # The interface below
//!
//! Pages from the page allocator (`Gfp::HIGHUSER_MOVABLE`, so they may come
//! from ZONE_MOVABLE and be migrated by the `cma` module), page tables from
//! `pgtable` with a user `PgtableMem`, and the descriptor format from
//! `arch` through `PteFormat`. The arm64 decoding of the fault (ESR fields)
//! stays in `arch`; `mm` gets a neutral fault description (address, access,
//! user or kernel).
//!
//! # Planned differences from Linux
//!
//! Anonymous memory first; no file mappings, swap, THP, userfaultfd or
//! per-VMA locks at first. The VMA tree is an augmented interval tree, not
//! a maple tree.
