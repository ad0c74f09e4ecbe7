//! User address spaces: what a process's memory is made of, below the
//! processes themselves (`crate::process`) and above the page allocator.
//!
//! ```text
//!   mm        Mm (mm_struct): VMAs (mm::mmap::AddressSpace), page tables,
//!             ASID context, RSS, shared anonymous objects; exit_mmap
//!   fault     handle_user_fault: find_vma, expand_stack, access_error,
//!             handle_pte_fault (demand zero, zero page, COW, reuse)
//!   pgtable   UserPageTable: TTBR0 trees, the PTE protocol (install,
//!             break-before-make replace, protect, zap with TLB flush by
//!             ASID before the pages go back)
//!   migrate   the kernel's Migrator: unmap with migration entries, copy,
//!             remap, for CMA and compaction
//!   rmap      the reverse map of private pages (a family per fork tree)
//!   gup       pin_user_page: an extra reference that keeps a page in place
//!   anon      the references PTEs hold on anonymous pages; the zero page
//!   uaccess   UserPtr, access_ok, copy_{from,to}_user, clear_user,
//!             strncpy_from_user over arch's LDTR/STTR routines
//! ```
//!
//! Differences from Linux: no swap, no THP, no file mappings (every VMA is
//! anonymous; a program's segments are copied into anonymous pages at
//! exec), a reverse map by fork family rather than anon_vma chains (see rmap), one
//! lock per mm for VMAs and page tables, and RSS recounted from the page
//! tables after an unmap instead of kept per PTE.

#[allow(unsafe_code)] // raw page references held by PTEs; page copies through the linear map
pub mod anon;
#[allow(unsafe_code)] // a replaced page's reference given back after the flush
pub mod fault;
#[allow(unsafe_code)] // a pinned page's reference: put_page, reads through the linear map
pub mod gup;
#[allow(unsafe_code)] // the Migrator contract (an unsafe trait)
pub mod migrate;
#[allow(unsafe_code)] // shared objects' page references; TTBR0 switch
pub mod mm;
#[allow(unsafe_code)] // table pages for the walker (PgtableMem); freeing them
pub mod pgtable;
pub mod rmap;
#[allow(unsafe_code)] // calls of arch's copy routines on checked user ranges
pub mod uaccess;

use ::mm::mmap::commit::{Overcommit, VmCommit};

/// vm_committed_as and the overcommit policy (vm.overcommit_memory = 0,
/// Linux's default heuristic; no swap). `set_totalram` sizes it once the
/// page allocator knows the RAM.
static COMMIT: VmCommit = VmCommit::new(0, 0, Overcommit::Guess);

/// The commit accounting every address space charges.
pub fn commit() -> &'static VmCommit {
    &COMMIT
}

/// Tell the commit accounting how much RAM there is (totalram_pages).
pub fn set_totalram(pages: u64) {
    COMMIT.set_totalram_pages(pages);
}
