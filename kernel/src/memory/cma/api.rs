//! The CMA areas once the page allocator is up: activation, cma_alloc and
//! cma_release with their owning handle, dma_alloc_coherent, the debugfs
//! report.

use super::reserve::{areas, default_area, registry};
use crate::memory::linear_map::page_address;
use crate::memory::page_alloc::allocator;
use crate::memory::pages::{self, Pages};
use crate::{pr_err, pr_info};
use alloc::vec;
use mm::cma::{Cma, CmaDebugfsFile};
use mm::gfp::Gfp;
use mm::mmzone::MigrateType;
use mm::page_alloc::get_order;
use mm::vmstat::{VmEvent, count_vm_event};
use mm::{Error, PAGE_SIZE, Pfn, PhysAddr, VirtAddr};

/// Largest alignment order dma_alloc_coherent asks of CMA (CONFIG_CMA_ALIGNMENT).
pub const CMA_ALIGNMENT: u32 = 8;

fn this_cpu() -> usize {
    arch::percpu::smp_processor_id()
}

/// Linux's negative errno for an `mm::Error`, for messages in its format.
fn errno(e: Error) -> i32 {
    match e {
        Error::NoMemory => -12,
        Error::Busy => -16,
        Error::InvalidArgument => -22,
        Error::NotFound => -2,
    }
}

/// cma_init_reserved_areas: once the page allocator and kmalloc are up,
/// give every area's pageblocks to the buddy allocator as MIGRATE_CMA and
/// the area its bitmap. An area that cannot be activated (it spans two
/// zones, or a pageblock is refused) gives its pages to the allocator as
/// ordinary memory, and says so.
pub fn cma_init_reserved_areas() {
    let pa = allocator();
    for cma in areas() {
        let (base, end) = (cma.base_pfn().0, cma.base_pfn().0 + cma.count());
        let zone_of = |pfn: u64| pa.memmap().pfn_to_page(Pfn(pfn)).and_then(|p| pa.page_zone(p)).map(|z| z as *const _);
        let first = zone_of(base);
        let one_zone = first.is_some() && (base..end).all(|pfn| zone_of(pfn) == first);
        let mut done = 0;
        if one_zone {
            while done < cma.count() && pa.init_cma_reserved_pageblock(Pfn(base + done)).is_ok() {
                done += mm::cma::CMA_MIN_ALIGNMENT_PAGES;
            }
        }
        let activated = done == cma.count()
            && cma.activate(alloc::boxed::Box::leak(vec![0u64; cma.bitmap_words()].into_boxed_slice())).is_ok();
        if !activated {
            // The pageblocks already converted stay CMA (movable use only,
            // still counted); the rest become ordinary memory.
            pa.free_bootmem_range(Pfn(base + done), Pfn(end));
            registry().activation_failed(cma.count() - done);
            pr_err!("CMA area {} could not be activated", cma.name());
        }
    }
}

// ----- cma_alloc and cma_release --------------------------------------------

/// `count` contiguous pages of a CMA area, each with one reference:
/// released to the area (free_contig_range, then the bitmap) on drop.
///
/// # Invariants
/// `[pfn, pfn + count)` was returned by `cma.alloc` for `count` pages and
/// not released since; this handle is its only owner.
pub struct CmaPages {
    cma: &'static Cma,
    pfn: Pfn,
    count: u64,
}

impl CmaPages {
    /// The first frame.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }
    /// Pages in the range.
    pub fn nr_pages(&self) -> u64 {
        self.count
    }
    /// The area it came from.
    pub fn area(&self) -> &'static Cma {
        self.cma
    }
    /// The physical address of the first byte.
    pub fn phys(&self) -> PhysAddr {
        self.pfn.phys()
    }
    /// The linear-map address of the first byte.
    pub fn address(&self) -> VirtAddr {
        page_address(self.pfn)
    }
}

impl Drop for CmaPages {
    fn drop(&mut self) {
        let (cma, pfn, count) = (self.cma, self.pfn, self.count);
        let r = cma.release(pfn, count, &mut |p, n| {
            // SAFETY: 1. the invariant: the handle holds the one reference of
            // each page alloc_contig_range gave this range, and gives them up
            // here; 2. the handle is going away, so nothing uses the pages.
            unsafe { allocator().free_contig_range(this_cpu(), p, n) }
        });
        if let Err(e) = r {
            // Unreachable while the invariant holds; the pages stay put.
            pr_err!("cma: {}: release of pfn {:#x} + {} pages refused: {}", cma.name(), pfn.0, count, e);
        }
    }
}

/// Why the caller may not sleep now, if it may not.
fn atomic_context() -> Option<(u32, bool)> {
    let (count, irqs_off) = (arch::percpu::preempt_count(), arch::irqflags::irqs_disabled());
    (count != 0 || irqs_off).then_some((count, irqs_off))
}

/// cma_alloc: `count` pages of `cma` whose first PFN is a multiple of
/// `1 << align_order`, freeing the range by migrating the movable pages
/// that live there. `gfp` may add `NOWARN` (no failure report) and `ZERO`.
/// Not in atomic context: with IRQs masked or preemption off it reports a
/// BUG line and returns `InvalidArgument`. Fails with `Busy` when every
/// fitting range holds a page that cannot move, `NoMemory` when none fits.
pub fn cma_alloc(cma: &'static Cma, count: u64, align_order: u32, gfp: Gfp) -> Result<CmaPages, Error> {
    if let Some((preempt, irqs_off)) = atomic_context() {
        pr_err!("BUG: sleeping function called from invalid context at cma_alloc");
        pr_err!(
            "in_atomic(): {}, irqs_disabled(): {}, cma: {}",
            u8::from(preempt != 0),
            u8::from(irqs_off),
            cma.name()
        );
        count_vm_event(VmEvent::CmaAllocFail);
        return Err(Error::InvalidArgument);
    }
    let pa = allocator();
    let migrator = pa.migrator();
    let contig_gfp = Gfp::KERNEL | (gfp & (Gfp::NOWARN | Gfp::ZERO));
    let r = cma.alloc(count, align_order, &mut |pfn, n| {
        pa.alloc_contig_range(this_cpu(), pfn, Pfn(pfn.0 + n), MigrateType::Cma, contig_gfp, migrator.map(|m| m as _))
    });
    match r {
        Ok(pfn) => Ok(CmaPages { cma, pfn, count }),
        Err(e) => {
            if !gfp.contains(Gfp::NOWARN) {
                pr_err!("cma_alloc: {}: alloc failed, req-size: {} pages, ret: {}", cma.name(), count, errno(e));
                let mut line = alloc::string::String::new();
                if cma.show_areas(&mut line).is_ok() {
                    pr_info!("cma: {}", line);
                }
            }
            Err(e)
        }
    }
}

/// cma_release: give the pages back (the same as dropping the handle).
pub fn cma_release(pages: CmaPages) {
    drop(pages);
}

// ----- dma_alloc_coherent ----------------------------------------------------

enum DmaBacking {
    Cma(CmaPages),
    Pages(Pages),
}

/// A zeroed, physically contiguous buffer for a device; freed on drop.
pub struct DmaBuffer {
    backing: DmaBacking,
    size_bytes: u64,
}

impl DmaBuffer {
    /// The address the device uses (no IOMMU: the physical address).
    pub fn dma_handle(&self) -> PhysAddr {
        match &self.backing {
            DmaBacking::Cma(c) => c.phys(),
            DmaBacking::Pages(p) => p.pfn().phys(),
        }
    }
    /// The CPU's address of the buffer (the linear map).
    pub fn cpu_addr(&self) -> VirtAddr {
        match &self.backing {
            DmaBacking::Cma(c) => c.address(),
            DmaBacking::Pages(p) => p.address(),
        }
    }
    /// The size asked for.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }
    /// Whether the buffer came from the default CMA area.
    pub fn is_cma(&self) -> bool {
        matches!(self.backing, DmaBacking::Cma(_))
    }
}

/// dma_alloc_coherent for a device with no area of its own and a mask
/// reaching ZONE_DMA: more than a page from the default CMA area when the
/// caller may sleep (`gfp` allows direct reclaim and the context is not
/// atomic: dma_alloc_contiguous's gfpflags_allow_blocking, aligned to the size's order up
/// to [`CMA_ALIGNMENT`]), else, or when CMA fails, `alloc_pages` from
/// ZONE_DMA. Zeroed.
pub fn dma_alloc_coherent(size_bytes: u64, gfp: Gfp) -> Result<DmaBuffer, Error> {
    if size_bytes == 0 || size_bytes > (1 << 40) {
        return Err(Error::InvalidArgument);
    }
    let nr_pages = size_bytes.div_ceil(PAGE_SIZE);
    if let Some(cma) = default_area()
        && size_bytes > PAGE_SIZE
        && gfp.contains(Gfp::DIRECT_RECLAIM)
        && atomic_context().is_none()
        && let Ok(c) = cma_alloc(cma, nr_pages, get_order(size_bytes).min(CMA_ALIGNMENT), gfp | Gfp::NOWARN | Gfp::ZERO)
    {
        return Ok(DmaBuffer { backing: DmaBacking::Cma(c), size_bytes });
    }
    let p = pages::alloc_pages(gfp | Gfp::DMA | Gfp::ZERO, get_order(size_bytes))?;
    Ok(DmaBuffer { backing: DmaBacking::Pages(p), size_bytes })
}

/// dma_free_coherent (the same as dropping the buffer).
pub fn dma_free_coherent(buf: DmaBuffer) {
    drop(buf);
}

// ----- reports -----------------------------------------------------------------

/// `/sys/kernel/debug/cma/<name>/<file>` of every area, one file after the
/// other: a `name:` line, then the file's contents.
pub fn debugfs(out: &mut impl core::fmt::Write) -> core::fmt::Result {
    for cma in areas() {
        for f in CmaDebugfsFile::ALL {
            writeln!(out, "/sys/kernel/debug/cma/{}/{}:", cma.name(), f.name())?;
            cma.debugfs_read(f, out)?;
        }
    }
    Ok(())
}
