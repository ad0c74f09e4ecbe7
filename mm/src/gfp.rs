//! GFP flags: what a caller of the page allocator may and may not do
//! (include/linux/gfp_types.h, include/linux/gfp.h).
//!
//! # The bits
//!
//! [`Gfp`] is a `u32` with Linux's bit values, so a mask printed here reads
//! the same as one printed by Linux (`mode:0xcc0(GFP_KERNEL)`). The bits fall
//! into five groups:
//!
//! ```text
//!   zone modifiers      DMA HIGHMEM DMA32 MOVABLE       -> gfp_zone(): highest zone allowed
//!   mobility            MOVABLE RECLAIMABLE             -> gfp_migratetype(): which free lists
//!   watermark           HIGH MEMALLOC NOMEMALLOC        -> how deep into the reserves
//!   reclaim             IO FS DIRECT_RECLAIM KSWAPD_RECLAIM NORETRY RETRY_MAYFAIL NOFAIL
//!   action              ZERO COMP NOWARN THISNODE HARDWALL ACCOUNT WRITE ZEROTAGS
//! ```
//!
//! Bit 0x200 is unused, as in Linux since 6.4 removed `__GFP_ATOMIC`: an
//! atomic caller is now recognised by the *absence* of `DIRECT_RECLAIM`.
//! The composites (`Gfp::KERNEL`, `Gfp::ATOMIC`, `Gfp::NOWAIT`, ...) are
//! associated constants with Linux's definitions, `GFP_NOWAIT` including
//! `__GFP_NOWARN` as in current Linux.
//!
//! # gfp_zone
//!
//! The four zone-modifier bits index a 16-entry table of 2-bit zone numbers
//! (Linux's `GFP_ZONE_TABLE`), so [`gfp_zone`] is a shift and a mask:
//!
//! ```text
//!   none, MOVABLE, HIGHMEM   -> Normal        (there is no ZONE_HIGHMEM on arm64)
//!   DMA (with anything)      -> DMA
//!   DMA32 (without DMA)      -> DMA32
//!   MOVABLE | HIGHMEM        -> Movable       (GFP_HIGHUSER_MOVABLE)
//! ```
//!
//! Linux calls the combinations DMA|DMA32, DMA|HIGHMEM and DMA32|HIGHMEM bad
//! (`GFP_ZONE_BAD`, a VM_BUG_ON); here they resolve to the most restrictive
//! zone named, so DMA wins over DMA32 and both win over HIGHMEM.
//!
//! # gfp_migratetype
//!
//! `MOVABLE` and `RECLAIMABLE` (bits 3 and 4) shifted down are the
//! migratetype directly: none is Unmovable, MOVABLE is Movable, RECLAIMABLE
//! is Reclaimable. Both together is a caller bug that Linux warns about (it
//! would yield HighAtomic); here it is treated as Unmovable, the type that
//! does the least harm when guessed wrong.
//!
//! # Printing
//!
//! [`Gfp`]'s `Display` is Linux's `%pGg`: the composite names first, most
//! bits first, then the single `__GFP_*` bits left over, joined by `|`, and
//! any unnamed rest in hex. [`GfpMode`] prints warn_alloc's
//! `mode:%#x(%pGg)`. [`Gfp::parse_names`] reads such a list back (the
//! kernel console's `alloc_pages ORDER GFP_KERNEL|__GFP_ZERO`).

use core::fmt;

use bitflags::bitflags;

use crate::mmzone::{MigrateType, ZoneType};

bitflags! {
    /// Allocation flags (Linux's `gfp_t`, the `__GFP_*` bits).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Gfp: u32 {
        /// Allocate from ZONE_DMA.
        const DMA = 0x01;
        /// Allocate from ZONE_HIGHMEM (none on arm64: Normal, or Movable with `MOVABLE`).
        const HIGHMEM = 0x02;
        /// Allocate from ZONE_DMA32 or below.
        const DMA32 = 0x04;
        /// The page can be migrated or reclaimed; with `HIGHMEM`, ZONE_MOVABLE is allowed.
        const MOVABLE = 0x08;
        /// The page is reclaimable through a shrinker (slab).
        const RECLAIMABLE = 0x10;
        /// High priority: may use part of the min watermark reserve.
        const HIGH = 0x20;
        /// May start physical I/O.
        const IO = 0x40;
        /// May call into the filesystem.
        const FS = 0x80;
        /// Return zeroed memory.
        const ZERO = 0x100;
        /// May enter direct reclaim (may sleep).
        const DIRECT_RECLAIM = 0x400;
        /// May wake kswapd.
        const KSWAPD_RECLAIM = 0x800;
        /// The caller intends to dirty the page.
        const WRITE = 0x1000;
        /// Do not report a failure.
        const NOWARN = 0x2000;
        /// Retry harder, but may fail.
        const RETRY_MAYFAIL = 0x4000;
        /// Must not fail (see the page allocator for what that means without reclaim).
        const NOFAIL = 0x8000;
        /// Give up early.
        const NORETRY = 0x10000;
        /// May use all memory reserves.
        const MEMALLOC = 0x20000;
        /// Make a compound page of a higher-order block.
        const COMP = 0x40000;
        /// Never use the emergency reserves.
        const NOMEMALLOC = 0x80000;
        /// Enforce the cpuset memory policy.
        const HARDWALL = 0x100000;
        /// Only the requested node, no fallback.
        const THISNODE = 0x200000;
        /// Account to kmemcg.
        const ACCOUNT = 0x400000;
        /// Zero memory tags along with the memory.
        const ZEROTAGS = 0x800000;
    }
}

impl Gfp {
    /// Both reclaim bits (`__GFP_RECLAIM`).
    pub const RECLAIM: Gfp = Gfp::DIRECT_RECLAIM.union(Gfp::KSWAPD_RECLAIM);
    /// Cannot sleep, must succeed if at all possible (`GFP_ATOMIC`).
    pub const ATOMIC: Gfp = Gfp::HIGH.union(Gfp::KSWAPD_RECLAIM);
    /// Ordinary kernel allocation (`GFP_KERNEL`).
    pub const KERNEL: Gfp = Gfp::RECLAIM.union(Gfp::IO).union(Gfp::FS);
    /// `GFP_KERNEL` charged to kmemcg (`GFP_KERNEL_ACCOUNT`).
    pub const KERNEL_ACCOUNT: Gfp = Gfp::KERNEL.union(Gfp::ACCOUNT);
    /// Cannot sleep, no reserves, no failure report (`GFP_NOWAIT`).
    pub const NOWAIT: Gfp = Gfp::KSWAPD_RECLAIM.union(Gfp::NOWARN);
    /// May reclaim but start no I/O (`GFP_NOIO`).
    pub const NOIO: Gfp = Gfp::RECLAIM;
    /// May reclaim and do I/O but not enter the filesystem (`GFP_NOFS`).
    pub const NOFS: Gfp = Gfp::RECLAIM.union(Gfp::IO);
    /// For memory handed to user space but also used by the kernel (`GFP_USER`).
    pub const USER: Gfp = Gfp::RECLAIM.union(Gfp::IO).union(Gfp::FS).union(Gfp::HARDWALL);
    /// User memory the kernel need not map (`GFP_HIGHUSER`).
    pub const HIGHUSER: Gfp = Gfp::USER.union(Gfp::HIGHMEM);
    /// Movable user memory, may come from ZONE_MOVABLE (`GFP_HIGHUSER_MOVABLE`).
    pub const HIGHUSER_MOVABLE: Gfp = Gfp::HIGHUSER.union(Gfp::MOVABLE);
    /// Transparent huge page without reclaim (`GFP_TRANSHUGE_LIGHT`).
    pub const TRANSHUGE_LIGHT: Gfp =
        Gfp::HIGHUSER_MOVABLE.union(Gfp::COMP).union(Gfp::NOMEMALLOC).union(Gfp::NOWARN).difference(Gfp::RECLAIM);
    /// Transparent huge page with direct reclaim (`GFP_TRANSHUGE`).
    pub const TRANSHUGE: Gfp = Gfp::TRANSHUGE_LIGHT.union(Gfp::DIRECT_RECLAIM);
    /// The zone modifiers (`GFP_ZONEMASK`).
    pub const ZONEMASK: Gfp = Gfp::DMA.union(Gfp::HIGHMEM).union(Gfp::DMA32).union(Gfp::MOVABLE);
    /// The mobility bits (`GFP_MOVABLE_MASK`).
    pub const MOVABLE_MASK: Gfp = Gfp::MOVABLE.union(Gfp::RECLAIMABLE);
}

/// Zone chosen for each value of the four zone-modifier bits.
const fn zone_for_modifiers(bits: u32) -> ZoneType {
    if bits & Gfp::DMA.bits() != 0 {
        ZoneType::Dma
    } else if bits & Gfp::DMA32.bits() != 0 {
        ZoneType::Dma32
    } else if bits & Gfp::MOVABLE.bits() != 0 && bits & Gfp::HIGHMEM.bits() != 0 {
        ZoneType::Movable
    } else {
        ZoneType::Normal
    }
}

/// Bits per entry of [`GFP_ZONE_TABLE`].
const GFP_ZONES_SHIFT: u32 = 2;

/// Linux's GFP_ZONE_TABLE: entry `i` (2 bits at `2 * i`) is the zone for zone-modifier bits `i`.
const GFP_ZONE_TABLE: u32 = {
    let mut table = 0;
    let mut i = 0;
    while i < 16 {
        table |= (zone_for_modifiers(i) as u32) << (i * GFP_ZONES_SHIFT);
        i += 1;
    }
    table
};

/// The highest zone an allocation with `gfp` may use (Linux's gfp_zone).
#[inline]
pub const fn gfp_zone(gfp: Gfp) -> ZoneType {
    let bits = gfp.bits() & Gfp::ZONEMASK.bits();
    ZoneType::from_index(((GFP_ZONE_TABLE >> (bits * GFP_ZONES_SHIFT)) & 3) as usize)
}

/// The free lists an allocation with `gfp` prefers (Linux's gfp_migratetype,
/// with mobility grouping on).
#[inline]
pub const fn gfp_migratetype(gfp: Gfp) -> MigrateType {
    match (gfp.bits() & Gfp::MOVABLE_MASK.bits()) >> 3 {
        1 => MigrateType::Movable,
        2 => MigrateType::Reclaimable,
        _ => MigrateType::Unmovable,
    }
}

/// Names in `%pGg` order: composites with the most bits first, then the bits.
const GFP_NAMES: &[(Gfp, &str)] = &[
    (Gfp::TRANSHUGE, "GFP_TRANSHUGE"),
    (Gfp::TRANSHUGE_LIGHT, "GFP_TRANSHUGE_LIGHT"),
    (Gfp::HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (Gfp::HIGHUSER, "GFP_HIGHUSER"),
    (Gfp::USER, "GFP_USER"),
    (Gfp::KERNEL_ACCOUNT, "GFP_KERNEL_ACCOUNT"),
    (Gfp::KERNEL, "GFP_KERNEL"),
    (Gfp::NOFS, "GFP_NOFS"),
    (Gfp::ATOMIC, "GFP_ATOMIC"),
    (Gfp::NOIO, "GFP_NOIO"),
    (Gfp::NOWAIT, "GFP_NOWAIT"),
    (Gfp::DMA, "GFP_DMA"),
    (Gfp::DMA32, "GFP_DMA32"),
    (Gfp::RECLAIM, "__GFP_RECLAIM"),
    (Gfp::DMA, "__GFP_DMA"),
    (Gfp::HIGHMEM, "__GFP_HIGHMEM"),
    (Gfp::DMA32, "__GFP_DMA32"),
    (Gfp::MOVABLE, "__GFP_MOVABLE"),
    (Gfp::RECLAIMABLE, "__GFP_RECLAIMABLE"),
    (Gfp::HIGH, "__GFP_HIGH"),
    (Gfp::IO, "__GFP_IO"),
    (Gfp::FS, "__GFP_FS"),
    (Gfp::ZERO, "__GFP_ZERO"),
    (Gfp::DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"),
    (Gfp::KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"),
    (Gfp::WRITE, "__GFP_WRITE"),
    (Gfp::NOWARN, "__GFP_NOWARN"),
    (Gfp::RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"),
    (Gfp::NOFAIL, "__GFP_NOFAIL"),
    (Gfp::NORETRY, "__GFP_NORETRY"),
    (Gfp::MEMALLOC, "__GFP_MEMALLOC"),
    (Gfp::COMP, "__GFP_COMP"),
    (Gfp::NOMEMALLOC, "__GFP_NOMEMALLOC"),
    (Gfp::HARDWALL, "__GFP_HARDWALL"),
    (Gfp::THISNODE, "__GFP_THISNODE"),
    (Gfp::ACCOUNT, "__GFP_ACCOUNT"),
    (Gfp::ZEROTAGS, "__GFP_ZEROTAGS"),
];

impl Gfp {
    /// The flags one name stands for: a composite (`GFP_KERNEL`), a single
    /// bit (`__GFP_ZERO`), as `%pGg` prints them, or a mask in hex
    /// (`0xcc0`). `None` for anything else.
    pub fn parse_name(name: &str) -> Option<Gfp> {
        if let Some(hex) = name.strip_prefix("0x") {
            return u32::from_str_radix(hex, 16).ok().map(Gfp::from_bits_retain);
        }
        GFP_NAMES.iter().find(|(_, n)| *n == name).map(|&(g, _)| g)
    }

    /// The flags a `|`-separated list of names stands for (what `%pGg`
    /// prints: `GFP_KERNEL|__GFP_ZERO`). `None` if a name is not one of
    /// [`Gfp::parse_name`]'s or the list has an empty entry.
    pub fn parse_names(names: &str) -> Option<Gfp> {
        names.split('|').try_fold(Gfp::empty(), |acc, n| Gfp::parse_name(n).map(|g| acc | g))
    }
}

/// Linux's `%pGg`: `GFP_KERNEL|__GFP_NOWARN`, nothing for an empty mask.
impl fmt::Display for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.bits();
        for &(mask, name) in GFP_NAMES {
            if rest == 0 {
                break;
            }
            if rest & mask.bits() != mask.bits() {
                continue;
            }
            f.write_str(name)?;
            rest &= !mask.bits();
            if rest != 0 {
                f.write_str("|")?;
            }
        }
        if rest != 0 {
            write!(f, "{rest:#x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Gfp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Gfp({:#x}({}))", self.bits(), self)
    }
}

/// warn_alloc's `mode:%#x(%pGg)`: `mode:0xcc0(GFP_KERNEL)`.
#[derive(Clone, Copy, Debug)]
pub struct GfpMode(pub Gfp);

impl fmt::Display for GfpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "mode:{:#x}({})", self.0.bits(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composites_have_linux_values() {
        assert_eq!(Gfp::KERNEL.bits(), 0xcc0);
        assert_eq!(Gfp::ATOMIC.bits(), 0x820);
        assert_eq!(Gfp::NOWAIT.bits(), 0x2800);
        assert_eq!(Gfp::USER.bits(), 0x100cc0);
        assert_eq!(Gfp::HIGHUSER_MOVABLE.bits(), 0x100cca);
        assert_eq!(Gfp::TRANSHUGE_LIGHT.bits(), 0x1c20ca);
        assert_eq!(Gfp::TRANSHUGE.bits(), 0x1c24ca);
        assert_eq!(Gfp::DMA.bits(), 0x1);
        assert_eq!(Gfp::DMA32.bits(), 0x4);
    }

    #[test]
    fn gfp_zone_follows_the_zone_table() {
        assert_eq!(gfp_zone(Gfp::KERNEL), ZoneType::Normal);
        assert_eq!(gfp_zone(Gfp::ATOMIC), ZoneType::Normal);
        assert_eq!(gfp_zone(Gfp::KERNEL | Gfp::DMA), ZoneType::Dma);
        assert_eq!(gfp_zone(Gfp::KERNEL | Gfp::DMA32), ZoneType::Dma32);
        assert_eq!(gfp_zone(Gfp::HIGHUSER), ZoneType::Normal);
        assert_eq!(gfp_zone(Gfp::HIGHUSER_MOVABLE), ZoneType::Movable);
        assert_eq!(gfp_zone(Gfp::KERNEL | Gfp::MOVABLE), ZoneType::Normal);
        assert_eq!(gfp_zone(Gfp::MOVABLE | Gfp::DMA), ZoneType::Dma);
        assert_eq!(gfp_zone(Gfp::MOVABLE | Gfp::DMA32), ZoneType::Dma32);
        // Linux's "bad" combinations: the most restrictive zone wins.
        assert_eq!(gfp_zone(Gfp::DMA | Gfp::DMA32), ZoneType::Dma);
        assert_eq!(gfp_zone(Gfp::DMA | Gfp::HIGHMEM), ZoneType::Dma);
        assert_eq!(gfp_zone(Gfp::DMA32 | Gfp::HIGHMEM | Gfp::MOVABLE), ZoneType::Dma32);
        assert_eq!(gfp_zone(Gfp::ZONEMASK), ZoneType::Dma);
    }

    #[test]
    fn gfp_migratetype_from_mobility_bits() {
        assert_eq!(gfp_migratetype(Gfp::KERNEL), MigrateType::Unmovable);
        assert_eq!(gfp_migratetype(Gfp::HIGHUSER_MOVABLE), MigrateType::Movable);
        assert_eq!(gfp_migratetype(Gfp::KERNEL | Gfp::RECLAIMABLE), MigrateType::Reclaimable);
        assert_eq!(gfp_migratetype(Gfp::MOVABLE | Gfp::RECLAIMABLE), MigrateType::Unmovable);
    }

    #[test]
    fn names_parse_back_to_their_flags() {
        assert_eq!(Gfp::parse_name("GFP_KERNEL"), Some(Gfp::KERNEL));
        assert_eq!(Gfp::parse_name("__GFP_MOVABLE"), Some(Gfp::MOVABLE));
        assert_eq!(Gfp::parse_name("GFP_DMA"), Some(Gfp::DMA));
        assert_eq!(Gfp::parse_name("0xcc0"), Some(Gfp::KERNEL));
        assert_eq!(Gfp::parse_name("gfp_kernel"), None);
        assert_eq!(Gfp::parse_name("0xg"), None);
        assert_eq!(Gfp::parse_names("GFP_KERNEL|__GFP_ZERO"), Some(Gfp::KERNEL | Gfp::ZERO));
        assert_eq!(Gfp::parse_names("GFP_ATOMIC|__GFP_NOWARN|GFP_DMA"), Some(Gfp::ATOMIC | Gfp::NOWARN | Gfp::DMA));
        assert_eq!(Gfp::parse_names("GFP_KERNEL|"), None);
        assert_eq!(Gfp::parse_names(""), None);
        // Every mask %pGg prints reads back as itself.
        for bits in [0xcc0u32, 0x2cc0, 0x100cca, 0x1c24ca, 0x820, 0x2800, 0x8cc0, 0x40dc1, 0x200] {
            let g = Gfp::from_bits_retain(bits);
            assert_eq!(Gfp::parse_names(&g.to_string()), Some(g), "{g}");
        }
    }

    #[test]
    fn pgg_format_matches_linux() {
        assert_eq!(Gfp::KERNEL.to_string(), "GFP_KERNEL");
        assert_eq!((Gfp::KERNEL | Gfp::NOWARN).to_string(), "GFP_KERNEL|__GFP_NOWARN");
        assert_eq!((Gfp::KERNEL | Gfp::ZERO | Gfp::COMP).to_string(), "GFP_KERNEL|__GFP_ZERO|__GFP_COMP");
        assert_eq!(Gfp::ATOMIC.to_string(), "GFP_ATOMIC");
        assert_eq!(Gfp::NOWAIT.to_string(), "GFP_NOWAIT");
        assert_eq!((Gfp::ATOMIC | Gfp::NOWARN).to_string(), "GFP_ATOMIC|__GFP_NOWARN");
        assert_eq!(Gfp::HIGHUSER_MOVABLE.to_string(), "GFP_HIGHUSER_MOVABLE");
        assert_eq!((Gfp::KERNEL | Gfp::DMA).to_string(), "GFP_KERNEL|GFP_DMA");
        assert_eq!((Gfp::KERNEL | Gfp::THISNODE).to_string(), "GFP_KERNEL|__GFP_THISNODE");
        assert_eq!(Gfp::NOFAIL.to_string(), "__GFP_NOFAIL");
        assert_eq!(Gfp::empty().to_string(), "");
        assert_eq!(Gfp::from_bits_retain(0x200).to_string(), "0x200");
        assert_eq!(GfpMode(Gfp::KERNEL).to_string(), "mode:0xcc0(GFP_KERNEL)");
        assert_eq!(GfpMode(Gfp::KERNEL | Gfp::NOWARN).to_string(), "mode:0x2cc0(GFP_KERNEL|__GFP_NOWARN)");
    }
}
