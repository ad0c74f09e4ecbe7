//! The words every layer uses for kinds of memory: zone types and
//! migratetypes (the enums of Linux's include/linux/mmzone.h).
//!
//! A page's descriptor records both (its zone in the flags word, its
//! pageblock's migratetype in the first descriptor of the pageblock), the
//! GFP flags select both (`gfp_zone`, `gfp_migratetype`), and the buddy
//! allocator keeps one free list per migratetype in each zone. They live
//! here, below all of those, so that none of them has to import another to
//! name a zone or a list.
//!
//! ```text
//!   ZoneType      Dma < Dma32 < Normal < Movable          (zone_idx order)
//!   MigrateType   Unmovable Movable Reclaimable | HighAtomic Cma Isolate
//!                 \____ pcp types, fallbacks ___/ \__ never fallback sources _/
//! ```

use crate::config::MAX_NR_ZONES;

/// Migratetypes kept on pcp lists and used as fallbacks.
pub const MIGRATE_PCPTYPES: usize = 3;
/// Number of migratetypes.
pub const MIGRATE_TYPES: usize = 6;

/// The zone types (enum zone_type).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum ZoneType {
    /// ZONE_DMA: below the narrowest device DMA limit.
    Dma = 0,
    /// ZONE_DMA32: below 4 GiB.
    Dma32 = 1,
    /// ZONE_NORMAL: everything else the kernel uses.
    Normal = 2,
    /// ZONE_MOVABLE: only movable allocations.
    Movable = 3,
}

impl ZoneType {
    /// All zone types in order.
    pub const ALL: [ZoneType; MAX_NR_ZONES] = [ZoneType::Dma, ZoneType::Dma32, ZoneType::Normal, ZoneType::Movable];

    /// Linux's zone name.
    pub const fn name(self) -> &'static str {
        match self {
            ZoneType::Dma => "DMA",
            ZoneType::Dma32 => "DMA32",
            ZoneType::Normal => "Normal",
            ZoneType::Movable => "Movable",
        }
    }

    /// The zone type with index `idx & 3`.
    #[inline]
    pub const fn from_index(idx: usize) -> ZoneType {
        match idx & 3 {
            0 => ZoneType::Dma,
            1 => ZoneType::Dma32,
            2 => ZoneType::Normal,
            _ => ZoneType::Movable,
        }
    }

    /// The index (zone_idx).
    #[inline]
    pub const fn idx(self) -> usize {
        self as usize
    }
}

/// Pageblock and free-list types (enum migratetype).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[repr(u8)]
pub enum MigrateType {
    /// Kernel memory that cannot move.
    Unmovable = 0,
    /// Memory that can be migrated (user pages).
    Movable = 1,
    /// Memory freed by shrinkers (reclaimable slab).
    Reclaimable = 2,
    /// Reserved for high-order atomic allocations.
    HighAtomic = 3,
    /// Contiguous memory allocator area: movable allocations only.
    Cma = 4,
    /// Being isolated (offlined, CMA-allocated): never allocated from.
    Isolate = 5,
}

impl MigrateType {
    /// All types in order.
    pub const ALL: [MigrateType; MIGRATE_TYPES] = [
        MigrateType::Unmovable,
        MigrateType::Movable,
        MigrateType::Reclaimable,
        MigrateType::HighAtomic,
        MigrateType::Cma,
        MigrateType::Isolate,
    ];

    /// Linux's name (migratetype_names).
    pub const fn name(self) -> &'static str {
        match self {
            MigrateType::Unmovable => "Unmovable",
            MigrateType::Movable => "Movable",
            MigrateType::Reclaimable => "Reclaimable",
            MigrateType::HighAtomic => "HighAtomic",
            MigrateType::Cma => "CMA",
            MigrateType::Isolate => "Isolate",
        }
    }

    /// show_migration_types' letter.
    pub const fn letter(self) -> char {
        match self {
            MigrateType::Unmovable => 'U',
            MigrateType::Movable => 'M',
            MigrateType::Reclaimable => 'E',
            MigrateType::HighAtomic => 'H',
            MigrateType::Cma => 'C',
            MigrateType::Isolate => 'I',
        }
    }

    /// The type with index `idx`; out-of-range values read as Unmovable.
    #[inline]
    pub const fn from_index(idx: usize) -> MigrateType {
        match idx {
            1 => MigrateType::Movable,
            2 => MigrateType::Reclaimable,
            3 => MigrateType::HighAtomic,
            4 => MigrateType::Cma,
            5 => MigrateType::Isolate,
            _ => MigrateType::Unmovable,
        }
    }

    /// Whether pageblocks of this type may merge with other types' (migratetype_is_mergeable).
    #[inline]
    pub const fn is_mergeable(self) -> bool {
        (self as usize) < MIGRATE_PCPTYPES
    }
}
