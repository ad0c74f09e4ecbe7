//! How hard an allocation may dig (ALLOC_*), which watermark it is held
//! to, and the internal flags of the free and rmqueue paths.

use bitflags::bitflags;

/// Number of watermarks (min, low, high).
pub const NR_WMARK: usize = 3;

/// The three watermarks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Wmark {
    /// WMARK_MIN.
    Min = 0,
    /// WMARK_LOW.
    Low = 1,
    /// WMARK_HIGH.
    High = 2,
}

bitflags! {
    /// How hard an allocation may dig (mm/internal.h ALLOC_*). The low two
    /// bits select the watermark: 0 = min, `WMARK_LOW`, `WMARK_HIGH`.
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct AllocFlags: u32 {
        /// Check against the low watermark.
        const WMARK_LOW = 0x01;
        /// Check against the high watermark.
        const WMARK_HIGH = 0x02;
        /// Do not check watermarks at all.
        const NO_WATERMARKS = 0x04;
        /// An OOM victim: may use more reserves.
        const OOM = 0x08;
        /// Cannot block: may use 25% of min more (with MIN_RESERVE).
        const NON_BLOCK = 0x10;
        /// __GFP_HIGH: may use 50% of min.
        const MIN_RESERVE = 0x20;
        /// Respect cpusets (no cpusets here; kept for Linux's values).
        const CPUSET = 0x40;
        /// May use CMA pageblocks.
        const CMA = 0x80;
        /// Avoid fragmenting: only claim whole pageblocks when falling back.
        const NOFRAGMENT = 0x100;
        /// May use HIGHATOMIC reserves (high-order atomic).
        const HIGHATOMIC = 0x200;
        /// May wake kswapd (there is none yet).
        const KSWAPD = 0x800;
    }
}

impl AllocFlags {
    /// Check against the min watermark.
    pub const WMARK_MIN: AllocFlags = AllocFlags::empty();
    /// The watermark selector bits.
    pub const WMARK_MASK: AllocFlags = AllocFlags::WMARK_LOW.union(AllocFlags::WMARK_HIGH);
    /// Any access to reserves below min (ALLOC_RESERVES).
    pub const RESERVES: AllocFlags =
        AllocFlags::NON_BLOCK.union(AllocFlags::MIN_RESERVE).union(AllocFlags::HIGHATOMIC).union(AllocFlags::OOM);

    /// The watermark these flags select.
    #[inline]
    pub const fn wmark(self) -> Wmark {
        match self.bits() & 3 {
            0 => Wmark::Min,
            1 => Wmark::Low,
            _ => Wmark::High,
        }
    }
}

bitflags! {
    /// Free page internal flags (fpi_t).
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub(crate) struct Fpi: u32 {
        /// Put the (possibly merged) block at the tail of its list.
        const TO_TAIL = 0x2;
    }
}

/// Where the last __rmqueue call found pages (enum rmqueue_mode), so that
/// rmqueue_bulk need not repeat searches that failed.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum RmqueueMode {
    Normal,
    Cma,
    Claim,
    Steal,
}
