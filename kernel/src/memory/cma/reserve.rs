//! Declaring the CMA areas at boot, while memblock allocates: `cma=`
//! (dma_contiguous_reserve) and the device tree's pools (rmem_cma_setup).
//! Nothing here touches the page allocator.

use crate::memory::hal::Memblock;
use crate::{pr_err, pr_info};
use bootdata::cmdline::{CmaSpec, Params};
use bootdata::devicetree::ReservedNode;
use mm::cma::{
    CMDLINE_AREA_NAME, Cma, CmaAreas, CmaPlacement, DeclareRefusal, RmemFlags, RmemRefusal, cma_declare_contiguous,
    cmdline_request, rmem_cma_check,
};
use mm::memblock::AllocDirection;
use mm::{Error, PAGE_SHIFT, PhysAddr};

/// Every CMA area of the kernel.
static CMA_AREAS: CmaAreas = CmaAreas::new();

/// The registry itself, for activation.
pub(super) fn registry() -> &'static CmaAreas {
    &CMA_AREAS
}

/// Every declared area.
pub fn areas() -> impl Iterator<Item = &'static Cma> {
    CMA_AREAS.areas()
}

/// The default area (dma_contiguous_default_area).
pub fn default_area() -> Option<&'static Cma> {
    CMA_AREAS.default_area()
}

/// Pages in every area (totalcma_pages): the `Memory:` line's cma-reserved.
pub fn totalcma_pages() -> u64 {
    CMA_AREAS.totalcma_pages()
}

/// The properties rmem_cma_setup looks at.
pub fn rmem_flags(node: &ReservedNode) -> RmemFlags {
    let mut f = RmemFlags::empty();
    f.set(RmemFlags::SHARED_DMA_POOL, node.shared_dma_pool);
    f.set(RmemFlags::REUSABLE, node.reusable);
    f.set(RmemFlags::NO_MAP, node.no_map);
    f.set(RmemFlags::CMA_DEFAULT, node.cma_default);
    f
}

/// rmem_cma_setup for a `shared-dma-pool` + `reusable` node that memblock
/// already holds at `[base, base + size_bytes)`. Err: the caller gives the
/// memory back and prints Linux's `compatible matching fail`.
pub fn rmem_cma_setup(
    mb: &Memblock,
    node: &ReservedNode,
    base: u64,
    size_bytes: u64,
    params: &Params,
) -> Result<(), Error> {
    let flags = rmem_flags(node);
    match rmem_cma_check(flags, params.cma.is_some(), base, size_bytes) {
        Ok(()) => {}
        Err(RmemRefusal::BypassedByCmdline) => {
            pr_info!("Reserved memory: bypass {} node, using cmdline CMA params instead", node.name);
            return Err(Error::Busy);
        }
        Err(RmemRefusal::NoMapOrNotReusable) => return Err(Error::InvalidArgument),
        Err(RmemRefusal::Misaligned) => {
            pr_err!("Reserved memory: incorrect alignment of CMA region");
            return Err(Error::InvalidArgument);
        }
    }
    let reserved = mb.is_region_reserved(PhysAddr(base), size_bytes);
    let cma = CMA_AREAS.init_reserved_mem(PhysAddr(base), size_bytes, 0, &node.name, reserved).map_err(|e| {
        pr_err!("Reserved memory: unable to setup CMA region ({})", e);
        e.error()
    })?;
    if flags.contains(RmemFlags::CMA_DEFAULT) {
        CMA_AREAS.set_default(cma);
    }
    pr_info!("Reserved memory: created CMA memory pool at {:#018x}, size {} MiB", base, size_bytes >> 20);
    pr_info!("OF: reserved mem: initialized node {}, compatible id shared-dma-pool", node.name);
    Ok(())
}

/// The arm64 DMA limit (arm64_dma_phys_limit): the end of ZONE_DMA, else
/// of ZONE_DMA32, else 0 (no limit).
pub fn dma_phys_limit(limits: &mm::zone::ZoneLimits) -> u64 {
    let [dma, dma32, _] = limits.zone_range;
    let end = if dma.1 > dma.0 {
        dma.1
    } else if dma32.1 > dma32.0 {
        dma32.1
    } else {
        0
    };
    end << PAGE_SHIFT
}

/// The default area's size when neither `cma=` nor a device-tree default
/// pool gives one (CONFIG_CMA_SIZE_MBYTES, as Debian's arm64 kernel sets
/// it: Linux then prints `cma: Reserved 64 MiB at ...` on every boot).
pub const CMA_SIZE_MBYTES: u64 = 64;

/// dma_contiguous_reserve: the default area, from `cma=` or else
/// [`CMA_SIZE_MBYTES`], unless a device-tree pool took its place (a `cma=`
/// makes the default pool step aside, so `cma=0` leaves no default area at
/// all). Returns the range memblock reserved for it.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn dma_contiguous_reserve(mb: &mut Memblock, params: &Params, dma_limit: u64) -> Option<(u64, u64)> {
    if CMA_AREAS.default_area().is_some() {
        return None;
    }
    let spec = params.cma.unwrap_or(CmaSpec { size_bytes: CMA_SIZE_MBYTES << 20, base: None, limit: None });
    let Some(req) = cmdline_request(spec.size_bytes, spec.base, spec.limit, dma_limit) else {
        pr_info!("cma: cma=0: no default CMA area");
        return None;
    };
    let shown_mib = req.size_bytes.next_multiple_of(mm::cma::CMA_MIN_ALIGNMENT_BYTES) >> 20;
    let failed = |why: &dyn core::fmt::Display| {
        pr_err!("cma: {}", why);
        pr_err!("cma: Failed to reserve {} MiB", shown_mib);
        None
    };
    if !CMA_AREAS.has_room() {
        return failed(&DeclareRefusal::TooManyAreas);
    }
    let memblock_end = mb.end_of_dram().as_u64();
    let (base, size) = match cma_declare_contiguous(&req, memblock_end) {
        Err(e) => return failed(&e),
        Ok(CmaPlacement::Fixed { base, size_bytes }) => {
            if mb.is_region_reserved(PhysAddr(base), size_bytes) || mb.reserve(PhysAddr(base), size_bytes).is_err() {
                return failed(&format_args!(
                    "[mem {:#018x}-{:#018x}] is busy (already reserved)",
                    base,
                    base + size_bytes - 1
                ));
            }
            (base, size_bytes)
        }
        Ok(CmaPlacement::Search { size_bytes, align_bytes, start, end, above_4g_first }) => {
            let mut got = None;
            if above_4g_first && !mb.bottom_up() {
                mb.set_direction(AllocDirection::BottomUp);
                got = mb.phys_alloc_range(size_bytes, align_bytes, PhysAddr(1 << 32), PhysAddr(end)).ok();
                mb.set_direction(AllocDirection::TopDown);
            }
            let got = got.or_else(|| mb.phys_alloc_range(size_bytes, align_bytes, PhysAddr(start), PhysAddr(end)).ok());
            match got {
                Some(pa) => (pa.as_u64(), size_bytes),
                None => {
                    return failed(&format_args!(
                        "no free {} MiB in [mem {:#018x}-{:#018x}]",
                        size_bytes >> 20,
                        start,
                        end - 1
                    ));
                }
            }
        }
    };
    let reserved = mb.is_region_reserved(PhysAddr(base), size);
    match CMA_AREAS.init_reserved_mem(PhysAddr(base), size, req.order_per_bit, CMDLINE_AREA_NAME, reserved) {
        Ok(cma) => {
            CMA_AREAS.set_default(cma);
            // Linux's line names the node asked for: none (NUMA_NO_NODE),
            // as dma_contiguous_reserve asks.
            pr_info!("cma: Reserved {} MiB at {:#018x} on node -1", size >> 20, base);
            Some((base, size))
        }
        Err(e) => {
            let _ = mb.free(PhysAddr(base), size);
            failed(&e)
        }
    }
}
