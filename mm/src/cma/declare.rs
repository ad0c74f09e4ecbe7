//! Declaring CMA areas at boot: the registry of areas (Linux's cma_areas[]
//! and totalcma_pages), cma_init_reserved_mem's checks, the placement
//! arithmetic of cma_declare_contiguous and dma_contiguous_reserve
//! (`cma=`), and rmem_cma_setup's checks of a device-tree pool. The kernel
//! does the memblock calls these answers ask for; everything here is pure.

use core::fmt;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use spin::{Mutex, Once};

use super::area::Cma;
use crate::addr::{PAGE_SHIFT, PAGE_SIZE, PhysAddr};
use crate::config::PAGEBLOCK_NR_PAGES;
use crate::error::Error;
use crate::fmtbuf::StackStr;

/// The smallest alignment (and size granule) of an area, in pages: one
/// pageblock, because the page allocator changes migratetypes a pageblock
/// at a time (CMA_MIN_ALIGNMENT_PAGES).
pub const CMA_MIN_ALIGNMENT_PAGES: u64 = PAGEBLOCK_NR_PAGES;
/// The same in bytes (CMA_MIN_ALIGNMENT_BYTES).
pub const CMA_MIN_ALIGNMENT_BYTES: u64 = CMA_MIN_ALIGNMENT_PAGES * PAGE_SIZE;
/// Areas the registry holds (CONFIG_CMA_AREAS).
pub const MAX_CMA_AREAS: usize = 8;
/// What Linux calls the command line's area.
pub const CMDLINE_AREA_NAME: &str = "reserved";
/// 4 GiB, above which cma_declare_contiguous first tries bottom-up.
const SZ_4G: u64 = 1 << 32;

/// Why an area was not declared; `Display` gives Linux's message (without
/// the `cma: ` prefix).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DeclareRefusal {
    /// Size zero.
    ZeroSize,
    /// The range is not reserved in memblock (cma_init_reserved_mem).
    NotReserved,
    /// An `alignment` that is not a power of two.
    AlignmentNotPowerOfTwo(u64),
    /// A fixed base not aligned to the (raised) alignment.
    BaseMisaligned {
        /// The base asked for.
        base: u64,
        /// The alignment it must have.
        alignment: u64,
    },
    /// Base or size of a reserved range not pageblock aligned.
    Misaligned,
    /// The size is not a whole number of bitmap bits.
    SizeNotBitAligned,
    /// The area would end above the limit.
    ExceedsLimit {
        /// Size in bytes.
        size: u64,
        /// Base asked for (0: anywhere).
        base: u64,
        /// The limit.
        limit: u64,
    },
    /// Every slot of the registry is taken (-ENOSPC).
    TooManyAreas,
}

impl DeclareRefusal {
    /// The errno the kernel function returns.
    pub fn error(self) -> Error {
        match self {
            DeclareRefusal::TooManyAreas => Error::NoMemory,
            _ => Error::InvalidArgument,
        }
    }
}

impl fmt::Display for DeclareRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeclareRefusal::ZeroSize => f.write_str("size is zero"),
            DeclareRefusal::NotReserved => f.write_str("the range is not reserved in memblock"),
            DeclareRefusal::AlignmentNotPowerOfTwo(a) => write!(f, "alignment {a:#x} is not a power of two"),
            DeclareRefusal::BaseMisaligned { base, alignment } => {
                write!(f, "Region at {base:#018x} must be aligned to {alignment:#018x} bytes")
            }
            DeclareRefusal::Misaligned => {
                write!(f, "base and size must be {} KiB aligned", CMA_MIN_ALIGNMENT_BYTES >> 10)
            }
            DeclareRefusal::SizeNotBitAligned => f.write_str("size is not a whole number of bitmap bits"),
            DeclareRefusal::ExceedsLimit { size, base, limit } => {
                write!(f, "Size ({size:#018x}) of region at {base:#018x} exceeds limit ({limit:#018x})")
            }
            DeclareRefusal::TooManyAreas => write!(f, "no free slot (at most {MAX_CMA_AREAS} areas)"),
        }
    }
}

/// Whether a request names its exact place.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CmaFixed {
    /// Exactly `[base, base + size)` (`cma=S@B` or `S@B-(B+S)`).
    Fixed,
    /// Anywhere in `[base, limit)`, the highest fit first.
    Anywhere,
}

/// An area to place (cma_declare_contiguous's arguments).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CmaRequest {
    /// Size in bytes.
    pub size_bytes: u64,
    /// Fixed base, or the lowest acceptable address (0: any).
    pub base: u64,
    /// Exclusive upper limit (0: the end of memory).
    pub limit: u64,
    /// Alignment in bytes (0: the minimum).
    pub alignment_bytes: u64,
    /// log2 of pages per bitmap bit.
    pub order_per_bit: u32,
    /// Whether `base` is exact.
    pub fixed: CmaFixed,
}

/// Where memblock must find an area (cma_declare_contiguous after its
/// checks).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CmaPlacement {
    /// Reserve exactly this range; -EBUSY if any of it is reserved already.
    Fixed {
        /// First byte.
        base: u64,
        /// Size in bytes.
        size_bytes: u64,
    },
    /// Allocate from memblock in `[start, end)`, aligned.
    Search {
        /// Size in bytes (rounded up to the alignment).
        size_bytes: u64,
        /// Alignment in bytes.
        align_bytes: u64,
        /// Lowest address.
        start: u64,
        /// Exclusive highest address.
        end: u64,
        /// Try `[4 GiB, end)` bottom-up first (memory reaches past 4 GiB +
        /// size: keep the low 4 GiB for what needs it), then `[start, end)`
        /// top-down.
        above_4g_first: bool,
    },
}

/// cma_declare_contiguous's arithmetic: align base, size and limit, default
/// the limit to the end of memory, refuse what cannot fit. `memblock_end`
/// is memblock_end_of_DRAM.
pub fn cma_declare_contiguous(req: &CmaRequest, memblock_end: u64) -> Result<CmaPlacement, DeclareRefusal> {
    if req.size_bytes == 0 {
        return Err(DeclareRefusal::ZeroSize);
    }
    if req.alignment_bytes != 0 && !req.alignment_bytes.is_power_of_two() {
        return Err(DeclareRefusal::AlignmentNotPowerOfTwo(req.alignment_bytes));
    }
    if req.order_per_bit >= u64::BITS - PAGE_SHIFT {
        return Err(DeclareRefusal::SizeNotBitAligned);
    }
    let alignment = req.alignment_bytes.max(CMA_MIN_ALIGNMENT_BYTES);
    let mut fixed = req.fixed;
    if fixed == CmaFixed::Fixed && req.base & (alignment - 1) != 0 {
        return Err(DeclareRefusal::BaseMisaligned { base: req.base, alignment });
    }
    let too_big = DeclareRefusal::ExceedsLimit { size: req.size_bytes, base: req.base, limit: req.limit };
    let base = req.base.checked_next_multiple_of(alignment).ok_or(too_big)?;
    let size = req.size_bytes.checked_next_multiple_of(alignment).ok_or(too_big)?;
    let mut limit = req.limit & !(alignment - 1);
    if base == 0 {
        fixed = CmaFixed::Anywhere;
    }
    if !(size >> PAGE_SHIFT).is_multiple_of(1 << req.order_per_bit) {
        return Err(DeclareRefusal::SizeNotBitAligned);
    }
    if limit == 0 || limit > memblock_end {
        limit = memblock_end;
    }
    if base.checked_add(size).is_none_or(|end| end > limit) {
        return Err(DeclareRefusal::ExceedsLimit { size, base, limit });
    }
    Ok(match fixed {
        CmaFixed::Fixed => CmaPlacement::Fixed { base, size_bytes: size },
        CmaFixed::Anywhere => CmaPlacement::Search {
            size_bytes: size,
            align_bytes: alignment,
            start: base,
            end: limit,
            above_4g_first: memblock_end >= SZ_4G.saturating_add(size),
        },
    })
}

/// dma_contiguous_reserve with `cma=size[@base[-limit]]` (early_cma's
/// values): the request for the command line's default area, or None for
/// `cma=0` (no area). `dma_limit` is the architecture's DMA limit (arm64:
/// the top of ZONE_DMA), used when the command line gives no lower one.
/// `cma=S@B` means exactly `[B, B + S)`; `S@B-L` anywhere in `[B, L)`
/// unless `B + S == L`.
pub fn cmdline_request(size_bytes: u64, base: Option<u64>, limit: Option<u64>, dma_limit: u64) -> Option<CmaRequest> {
    if size_bytes == 0 {
        return None;
    }
    let base_cmdline = base.unwrap_or(0);
    let limit_cmdline = match (base, limit) {
        (_, Some(l)) => l,
        (Some(b), None) => b.saturating_add(size_bytes),
        (None, None) => 0,
    };
    // min_not_zero
    let selected_limit = match (limit_cmdline, dma_limit) {
        (0, d) => d,
        (l, 0) => l,
        (l, d) => l.min(d),
    };
    let fixed = if base.is_some() && base_cmdline.checked_add(size_bytes) == Some(limit_cmdline) {
        CmaFixed::Fixed
    } else {
        CmaFixed::Anywhere
    };
    Some(CmaRequest {
        size_bytes,
        base: base_cmdline,
        limit: selected_limit,
        alignment_bytes: 0,
        order_per_bit: 0,
        fixed,
    })
}

bitflags::bitflags! {
    /// The properties of a /reserved-memory node rmem_cma_setup looks at.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct RmemFlags: u8 {
        /// `compatible = "shared-dma-pool"`.
        const SHARED_DMA_POOL = 1 << 0;
        /// `reusable`.
        const REUSABLE = 1 << 1;
        /// `no-map`.
        const NO_MAP = 1 << 2;
        /// `linux,cma-default`.
        const CMA_DEFAULT = 1 << 3;
    }
}

impl RmemFlags {
    /// Whether the node is one rmem_cma_setup is called for (its compatible
    /// matches: `shared-dma-pool` and `reusable`; without `reusable` the
    /// pool is a coherent pool, not CMA, and is simply reserved).
    pub fn is_cma(self) -> bool {
        self.contains(RmemFlags::SHARED_DMA_POOL | RmemFlags::REUSABLE)
    }

    /// The alignment a dynamically placed node gets
    /// (__reserved_mem_alloc_size): at least a pageblock for a CMA pool
    /// that may be mapped.
    pub fn alloc_alignment(self, align_bytes: u64) -> u64 {
        if self.is_cma() && !self.contains(RmemFlags::NO_MAP) {
            align_bytes.max(CMA_MIN_ALIGNMENT_BYTES)
        } else {
            align_bytes
        }
    }
}

/// Why rmem_cma_setup turned a pool down.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RmemRefusal {
    /// The command line has `cma=`, which replaces the default pool.
    BypassedByCmdline,
    /// `no-map` (a CMA pool's pages must be mapped to serve movable
    /// allocations), or not `reusable`: -EINVAL, without a message of its own.
    NoMapOrNotReusable,
    /// Base or size not pageblock aligned.
    Misaligned,
}

/// rmem_cma_setup's checks, in its order. `cmdline_cma` is whether the
/// command line has a `cma=` (even `cma=0`).
pub fn rmem_cma_check(flags: RmemFlags, cmdline_cma: bool, base: u64, size_bytes: u64) -> Result<(), RmemRefusal> {
    if cmdline_cma && flags.contains(RmemFlags::CMA_DEFAULT) {
        return Err(RmemRefusal::BypassedByCmdline);
    }
    if !flags.contains(RmemFlags::REUSABLE) || flags.contains(RmemFlags::NO_MAP) {
        return Err(RmemRefusal::NoMapOrNotReusable);
    }
    if !(base | size_bytes).is_multiple_of(CMA_MIN_ALIGNMENT_BYTES) {
        return Err(RmemRefusal::Misaligned);
    }
    Ok(())
}

/// Every declared area (Linux's cma_areas[], cma_area_count and
/// totalcma_pages). Areas are declared at boot, one CPU running; they live
/// as long as the registry (for the kernel's static one, forever).
pub struct CmaAreas {
    areas: [Once<Cma>; MAX_CMA_AREAS],
    nr: AtomicUsize,
    /// Index + 1 of the default area (dma_contiguous_default_area), 0: none.
    default: AtomicUsize,
    totalcma_pages: AtomicU64,
    declare_lock: Mutex<()>,
}

impl Default for CmaAreas {
    fn default() -> Self {
        Self::new()
    }
}

impl CmaAreas {
    /// No areas.
    pub const fn new() -> CmaAreas {
        CmaAreas {
            areas: [const { Once::new() }; MAX_CMA_AREAS],
            nr: AtomicUsize::new(0),
            default: AtomicUsize::new(0),
            totalcma_pages: AtomicU64::new(0),
            declare_lock: Mutex::new(()),
        }
    }

    /// Whether another area fits.
    pub fn has_room(&self) -> bool {
        self.nr.load(Relaxed) < MAX_CMA_AREAS
    }

    /// cma_init_reserved_mem: make the memblock-reserved `[base, base +
    /// size_bytes)` an area. `region_reserved` is memblock's answer for the
    /// range. An empty `name` becomes `cma<N>`.
    pub fn init_reserved_mem(
        &self,
        base: PhysAddr,
        size_bytes: u64,
        order_per_bit: u32,
        name: &str,
        region_reserved: bool,
    ) -> Result<&Cma, DeclareRefusal> {
        if size_bytes == 0 {
            return Err(DeclareRefusal::ZeroSize);
        }
        if !region_reserved {
            return Err(DeclareRefusal::NotReserved);
        }
        if order_per_bit >= u64::BITS - PAGE_SHIFT || !CMA_MIN_ALIGNMENT_PAGES.is_multiple_of(1 << order_per_bit) {
            return Err(DeclareRefusal::SizeNotBitAligned);
        }
        if !base.0.is_multiple_of(CMA_MIN_ALIGNMENT_BYTES) || !size_bytes.is_multiple_of(CMA_MIN_ALIGNMENT_BYTES) {
            return Err(DeclareRefusal::Misaligned);
        }
        let _guard = self.declare_lock.lock();
        let idx = self.nr.load(Relaxed);
        if idx == MAX_CMA_AREAS {
            return Err(DeclareRefusal::TooManyAreas);
        }
        let mut fallback = NameBuf::default();
        let name = if name.is_empty() {
            let _ = fmt::Write::write_fmt(&mut fallback, format_args!("cma{idx}"));
            fallback.as_str()
        } else {
            name
        };
        let count = size_bytes >> PAGE_SHIFT;
        let cma = self.areas[idx].call_once(|| Cma::new(name, base.pfn(), count, order_per_bit));
        self.nr.store(idx + 1, Relaxed);
        self.totalcma_pages.fetch_add(count, Relaxed);
        Ok(cma)
    }

    /// Make `cma` (one of these areas) the default area.
    pub fn set_default(&self, cma: &Cma) {
        if let Some(i) = self.areas().position(|a| core::ptr::eq(a, cma)) {
            self.default.store(i + 1, Relaxed);
        }
    }

    /// The default area (dma_contiguous_default_area), if any.
    pub fn default_area(&self) -> Option<&Cma> {
        match self.default.load(Relaxed) {
            0 => None,
            i => self.areas[i - 1].get(),
        }
    }

    /// Every declared area, in declaration order.
    pub fn areas(&self) -> impl Iterator<Item = &Cma> {
        self.areas[..self.nr.load(Relaxed)].iter().filter_map(Once::get)
    }

    /// Pages in every area (totalcma_pages): what the `Memory:` line calls
    /// cma-reserved.
    pub fn totalcma_pages(&self) -> u64 {
        self.totalcma_pages.load(Relaxed)
    }

    /// cma_activate_area failed for an area: `nr_pages` of its pages went
    /// to the buddy allocator as ordinary memory and no longer count as CMA
    /// (all of them, unless some pageblocks had become MIGRATE_CMA before
    /// the failure).
    pub fn activation_failed(&self, nr_pages: u64) {
        self.totalcma_pages.fetch_sub(nr_pages.min(self.totalcma_pages()), Relaxed);
    }
}

/// A name made up for an unnamed area.
type NameBuf = StackStr<16>;
