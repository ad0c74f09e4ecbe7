//! The vmemmap: one page descriptor per physical page frame, in a virtual
//! array so that `pfn_to_page(pfn)` is `vmemmap + pfn` (Linux's
//! CONFIG_SPARSEMEM_VMEMMAP).
//!
//! Memory is split into sections of 2^27 bytes (Linux arm64's
//! SECTION_SIZE_BITS). A section with any memory in it gets descriptors for
//! all its 32768 frames: 32768 x 64 bytes = 2 MiB, allocated from memblock on
//! the section's node and mapped as one 2 MiB block (Linux's
//! vmemmap_populate with PMD mappings). Sections without memory get nothing,
//! so holes in the physical map cost no descriptors.
//!
//! ```text
//!   VMEMMAP_START ──┬── descriptors of section (memstart >> 27)
//!                   ├── ... one 2 MiB block per present section
//!   vmemmap = VMEMMAP_START - (memstart >> PAGE_SHIFT) * 64   (may point below
//!             the region: only present PFNs are ever dereferenced)
//! ```

use super::hal::Memblock;
use super::layout::{VMEMMAP_END, VMEMMAP_START};
use super::memblock::MEMBLOCK;
use super::{linear_map, pgtable};
use mm::memblock::NodeId;
use mm::pgtable::{MapFlags, PageProt};
use mm::{Error, PAGE_SHIFT, PhysAddr, VirtAddr};

pub use mm::config::{PAGES_PER_SECTION, SECTION_SIZE_BITS};
/// Bytes of one page descriptor (`mm::page::Page`).
pub const STRUCT_PAGE_SIZE: u64 = core::mem::size_of::<mm::page::Page>() as u64;
/// Bytes of descriptors per section: one 2 MiB block.
const SECTION_MEMMAP_BYTES: u64 = PAGES_PER_SECTION * STRUCT_PAGE_SIZE;

/// What `populate` built.
pub struct Vmemmap {
    /// Address of pfn 0's descriptor (wrapping), so `page(pfn) = base + pfn * 64`.
    pub base: u64,
    /// Sections populated.
    pub sections: u64,
}

/// The descriptor address of `pfn`, given memstart's PFN.
pub fn page_va(memstart_pfn: u64, pfn: u64) -> u64 {
    VMEMMAP_START + (pfn - memstart_pfn) * STRUCT_PAGE_SIZE
}

/// Map descriptors for every section that has memory (NOMAP included, as
/// Linux gives those pfn_valid descriptors too). Takes `MEMBLOCK` only around
/// each allocation: mapping may need a table page from memblock (lock order).
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn populate() -> Result<Vmemmap, Error> {
    let memstart_pfn = linear_map::memstart().as_u64() >> PAGE_SHIFT;
    let mut sections = 0;
    let mut last_section = u64::MAX;
    let ranges: heapless::Vec<(u64, u64, NodeId), 128> = {
        let mb: &Memblock = &MEMBLOCK.lock();
        mb.for_each_mem_pfn_range(mm::memblock::NUMA_NO_NODE).map(|(s, e, n)| (s.0, e.0, n)).collect()
    };
    for (start, end, nid) in ranges {
        let first = start / PAGES_PER_SECTION;
        let last = (end - 1) / PAGES_PER_SECTION;
        for sec in first..=last {
            if sec == last_section {
                continue; // shared with the previous range
            }
            last_section = sec;
            let va = page_va(memstart_pfn, sec * PAGES_PER_SECTION);
            if va + SECTION_MEMMAP_BYTES > VMEMMAP_END {
                return Err(Error::InvalidArgument);
            }
            let pa = MEMBLOCK.lock().alloc_try_nid(
                SECTION_MEMMAP_BYTES,
                SECTION_MEMMAP_BYTES,
                PhysAddr(0),
                PhysAddr(u64::MAX),
                nid,
            )?;
            pgtable::map_kernel_range(VirtAddr(va), pa, SECTION_MEMMAP_BYTES, PageProt::KERNEL_RW, MapFlags::empty())?;
            sections += 1;
        }
    }
    let base = VMEMMAP_START.wrapping_sub(memstart_pfn * STRUCT_PAGE_SIZE);
    SECTIONS.store(sections, core::sync::atomic::Ordering::Relaxed);
    Ok(Vmemmap { base, sections })
}

/// Sections `populate` mapped.
static SECTIONS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Pages of page descriptors, all allocated at boot (vmstat's
/// nr_memmap_boot_pages).
pub fn memmap_pages() -> u64 {
    SECTIONS.load(core::sync::atomic::Ordering::Relaxed) * SECTION_MEMMAP_BYTES / mm::PAGE_SIZE
}

/// The boot log's line for what `populate` built.
pub fn print(memmap: &Vmemmap) {
    crate::pr_info!(
        "vmemmap: {} section(s) of {} MiB, {} KiB of page descriptors ({} bytes per {} KiB page)",
        memmap.sections,
        1 << (SECTION_SIZE_BITS - 20),
        (memmap.sections * PAGES_PER_SECTION * STRUCT_PAGE_SIZE) >> 10,
        STRUCT_PAGE_SIZE,
        mm::PAGE_SIZE >> 10
    );
}
