//! A memblock region and its attributes, and the constants of the API.

use bitflags::bitflags;

use crate::addr::PhysAddr;
use crate::config::NodeId;

/// Slots in each inline region array, before any growth.
pub const INIT_MEMBLOCK_REGIONS: usize = 128;
/// Alignment used when an allocation asks for alignment 0.
pub const SMP_CACHE_BYTES: u64 = 64;
/// Upper bound meaning "anywhere", ignoring `current_limit`.
pub const MEMBLOCK_ALLOC_ANYWHERE: PhysAddr = PhysAddr(u64::MAX);
/// Upper bound meaning "up to `current_limit`".
pub const MEMBLOCK_ALLOC_ACCESSIBLE: PhysAddr = PhysAddr(0);

pub(super) const PHYS_ADDR_MAX: u64 = u64::MAX;

/// Headroom the `reserved` array keeps after it grows, so that recording the
/// new array and dropping the old one never needs another growth.
pub(super) const RESERVED_GROWTH_HEADROOM: usize = 4;

bitflags! {
    /// Attributes of a memblock region (enum memblock_flags).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
    pub struct MemblockFlags: u32 {
        /// Hotpluggable memory.
        const HOTPLUG = 0x1;
        /// Mirrored memory.
        const MIRROR = 0x2;
        /// Memory that must stay out of the kernel's linear map.
        const NOMAP = 0x4;
        /// Memory added by a driver; never used for boot allocations.
        const DRIVER_MANAGED = 0x8;
        /// Reserved memory whose struct pages are not initialised.
        const RSRV_NOINIT = 0x10;
    }
}

impl MemblockFlags {
    /// No attributes (MEMBLOCK_NONE).
    pub const NONE: Self = Self::empty();
}

/// One contiguous range of a memblock array (struct memblock_region).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct MemblockRegion {
    /// First byte.
    pub base: PhysAddr,
    /// Length in bytes.
    pub size: u64,
    /// Attributes.
    pub flags: MemblockFlags,
    /// NUMA node.
    pub nid: NodeId,
}

impl MemblockRegion {
    /// An unused slot. A mapper may fill new arrays with it.
    pub const EMPTY: Self = Self { base: PhysAddr(0), size: 0, flags: MemblockFlags::NONE, nid: NodeId(0) };

    /// One past the last byte.
    pub const fn end(&self) -> PhysAddr {
        PhysAddr(self.end_u64())
    }

    pub(super) const fn end_u64(&self) -> u64 {
        self.base.0 + self.size
    }

    pub(super) fn mergeable_with(&self, other: &Self) -> bool {
        self.flags == other.flags && self.nid == other.nid
    }
}

/// Which way allocations search free memory.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum AllocDirection {
    /// Highest fitting address first (Linux's default).
    #[default]
    TopDown,
    /// Lowest fitting address first (memblock_set_bottom_up(true)).
    BottomUp,
}

/// Adjust `size` so that `base + size` does not overflow (memblock_cap_size).
pub(super) const fn cap_size(base: u64, size: u64) -> u64 {
    let room = PHYS_ADDR_MAX - base;
    if size < room { size } else { room }
}
