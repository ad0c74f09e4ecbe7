//! Stage-1 translation table descriptors, 4 KiB granule (Arm ARM D8.3).
//!
//! ```text
//!  63      59 58  55 54  53  52   51..48 47........12 11  10  9..8 7..6  5  4..2  1  0
//!  table attrs  sw   UXN PXN Cont  res0    output addr  nG  AF   SH   AP   NS AttrIdx T  V
//! ```
//! Bit 1 distinguishes a table (L0-L2) or page (L3) from a block (L1/L2).

use mm::PhysAddr;
use mm::pgtable::{LAST_LEVEL, PageProt, PteFormat};

/// Descriptor is valid.
pub const PTE_VALID: u64 = 1 << 0;
/// Table descriptor at L0-L2, page descriptor at L3.
pub const PTE_TABLE: u64 = 1 << 1;
/// Page descriptor at L3 (same bit as `PTE_TABLE`).
pub const PTE_PAGE: u64 = 1 << 1;
/// AttrIndx: index into MAIR_EL1.
pub const fn pte_attrindx(idx: u64) -> u64 {
    (idx & 7) << 2
}
/// AP[1]: accessible from EL0.
pub const PTE_USER: u64 = 1 << 6;
/// AP[2]: read-only.
pub const PTE_RDONLY: u64 = 1 << 7;
/// SH = inner shareable.
pub const PTE_SHARED: u64 = 3 << 8;
/// Access flag (set, so the first access does not fault).
pub const PTE_AF: u64 = 1 << 10;
/// Not global (per-ASID).
pub const PTE_NG: u64 = 1 << 11;
/// Privileged execute-never.
pub const PTE_PXN: u64 = 1 << 53;
/// Unprivileged execute-never.
pub const PTE_UXN: u64 = 1 << 54;
/// Dirty bit modifier (hardware dirty-state management; never set here).
pub const PTE_DBM: u64 = 1 << 51;
/// Contiguous hint: one of 16 adjacent entries with the same attributes.
pub const PTE_CONT: u64 = 1 << 52;
/// Guarded page (BTI; never set here).
pub const PTE_GP: u64 = 1 << 50;
/// AttrIndx, the whole field.
pub const PTE_ATTRINDX_MASK: u64 = 7 << 2;
/// Software bits 58..55, ignored by the walker.
pub const PTE_SW_MASK: u64 = 0xf << 55;
/// Bits a live leaf may change without break-before-make: permissions
/// (AP[2:1], PXN, UXN), the access flag, DBM and the software bits (Arm ARM
/// D8.16.1 lists what needs the break: output address, size, memory type,
/// shareability, nG, contiguous; Linux's pgattr_change_is_safe).
pub const PTE_NO_BREAK_MASK: u64 = PTE_USER | PTE_RDONLY | PTE_AF | PTE_DBM | PTE_PXN | PTE_UXN | PTE_SW_MASK;
/// Output address bits [47:12].
pub const PTE_ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// `raw` made valid again, every other bit kept: what debug_pagealloc
/// writes over a page descriptor it invalidated with [`pte_mkinvalid`]
/// (Linux's set_memory_valid). An invalid-to-valid change needs no TLB
/// invalidation, only the publish barrier.
pub const fn pte_mkvalid(raw: u64) -> u64 {
    raw | PTE_VALID
}

/// `raw` with the valid bit cleared and every other bit kept, so that
/// [`pte_mkvalid`] restores exactly the old translation (the walker
/// ignores the rest of an invalid descriptor). A valid-to-invalid change
/// must be followed by a TLB invalidation on every CPU.
pub const fn pte_mkinvalid(raw: u64) -> u64 {
    raw & !PTE_VALID
}

/// Where a non-present PTE keeps its entry type (Linux's __SWP_TYPE_SHIFT
/// for arm64: bits [7:3], bit 0 clear so the walker faults).
const SWP_TYPE_SHIFT: u32 = 3;
const SWP_TYPE_MASK: u64 = 0x1f << SWP_TYPE_SHIFT;
/// The entry types of migration entries (Linux's SWP_MIGRATION_READ and
/// SWP_MIGRATION_WRITE; any nonzero tag would do, these are this kernel's).
const SWP_MIGRATION_READ: u64 = 0x1e;
const SWP_MIGRATION_WRITE: u64 = 0x1f;

/// A migration entry (Linux's make_readable/writable_migration_entry): a
/// non-present user PTE naming the frame at `pa` that is being moved, and
/// whether the PTE it replaced was writable. The MMU faults on it; the
/// frame sits where a leaf keeps its output address.
pub const fn mk_migration_entry(pa: PhysAddr, writable: bool) -> u64 {
    let ty = if writable { SWP_MIGRATION_WRITE } else { SWP_MIGRATION_READ };
    (pa.as_u64() & PTE_ADDR_MASK) | (ty << SWP_TYPE_SHIFT)
}

/// The frame and writability a migration entry names, or `None` if `raw`
/// is not one (is_migration_entry + pfn_swap_entry_to_page).
pub const fn migration_entry(raw: u64) -> Option<(PhysAddr, bool)> {
    if raw & PTE_VALID != 0 {
        return None;
    }
    match (raw & SWP_TYPE_MASK) >> SWP_TYPE_SHIFT {
        SWP_MIGRATION_READ => Some((PhysAddr(raw & PTE_ADDR_MASK), false)),
        SWP_MIGRATION_WRITE => Some((PhysAddr(raw & PTE_ADDR_MASK), true)),
        _ => None,
    }
}

/// `raw` pointing at `pa` instead, every attribute kept: the leaf a
/// migration entry turns back into, for the page's new frame
/// (remove_migration_pte's mk_pte with the old protection).
pub const fn pte_with_output_addr(raw: u64, pa: PhysAddr) -> u64 {
    (raw & !PTE_ADDR_MASK) | (pa.as_u64() & PTE_ADDR_MASK)
}

/// MAIR_EL1 slots, numbered as Linux numbers them (arch/arm64/include/asm/memory.h).
pub const MT_NORMAL: u64 = 0;
/// Normal memory with MTE tags (same attributes here; no MTE).
pub const MT_NORMAL_TAGGED: u64 = 1;
/// Normal non-cacheable.
pub const MT_NORMAL_NC: u64 = 2;
/// Device-nGnRnE.
pub const MT_DEVICE_NGNRNE: u64 = 3;
/// Device-nGnRE: MMIO.
pub const MT_DEVICE_NGNRE: u64 = 4;

/// The arm64 descriptor format.
pub struct Arm64;

impl PteFormat for Arm64 {
    fn is_valid(raw: u64) -> bool {
        raw & PTE_VALID != 0
    }
    fn is_table(raw: u64, level: usize) -> bool {
        level < LAST_LEVEL && raw & (PTE_VALID | PTE_TABLE) == PTE_VALID | PTE_TABLE
    }
    fn output_addr(raw: u64) -> PhysAddr {
        PhysAddr(raw & PTE_ADDR_MASK)
    }
    fn mk_table(table: PhysAddr) -> u64 {
        (table.as_u64() & PTE_ADDR_MASK) | PTE_VALID | PTE_TABLE
    }
    fn mk_leaf(pa: PhysAddr, prot: PageProt, level: usize) -> u64 {
        let mut d = (pa.as_u64() & PTE_ADDR_MASK) | PTE_VALID | PTE_AF;
        if level == LAST_LEVEL {
            d |= PTE_PAGE;
        }
        d |= if prot.contains(PageProt::DEVICE) {
            pte_attrindx(MT_DEVICE_NGNRE)
        } else if prot.contains(PageProt::NONCACHED) {
            pte_attrindx(MT_NORMAL_NC) | PTE_SHARED
        } else {
            pte_attrindx(MT_NORMAL) | PTE_SHARED
        };
        if !prot.contains(PageProt::WRITE) {
            d |= PTE_RDONLY;
        }
        if prot.contains(PageProt::USER_NONE) {
            // AP = 0b10: EL1 read-only, EL0 nothing; per-ASID, never executed.
            return (d & !PTE_USER) | PTE_RDONLY | PTE_NG | PTE_PXN | PTE_UXN;
        }
        if prot.contains(PageProt::USER) {
            // User mappings: never executable by the kernel, per-ASID.
            d |= PTE_USER | PTE_NG | PTE_PXN;
            if !prot.contains(PageProt::EXEC) {
                d |= PTE_UXN;
            }
        } else {
            d |= PTE_UXN;
            if !prot.contains(PageProt::EXEC) || prot.contains(PageProt::DEVICE) {
                d |= PTE_PXN;
            }
        }
        d
    }
    fn leaf_prot(raw: u64) -> PageProt {
        let mut p = PageProt::READ;
        if raw & PTE_RDONLY == 0 {
            p |= PageProt::WRITE;
        }
        let user = raw & PTE_USER != 0;
        if user {
            p |= PageProt::USER;
        } else if raw & PTE_NG != 0 {
            // Only user_none pages are per-ASID without EL0 access.
            return PageProt::USER_NONE | PageProt::READ;
        }
        let xn = if user { raw & PTE_UXN } else { raw & PTE_PXN };
        if xn == 0 {
            p |= PageProt::EXEC;
        }
        match (raw >> 2) & 7 {
            MT_DEVICE_NGNRE | MT_DEVICE_NGNRNE => p |= PageProt::DEVICE,
            MT_NORMAL_NC => p |= PageProt::NONCACHED,
            _ => {}
        }
        p
    }
    fn needs_break(old: u64, new: u64) -> bool {
        (old ^ new) & !PTE_NO_BREAK_MASK != 0
    }
    fn split_leaf(block: u64, pa: PhysAddr, level: usize) -> u64 {
        // Keep AttrIndx, SH, nG, AP, AF, XN and the software bits; a piece is
        // not part of a contiguous run, so drop the hint.
        let attrs = block & !(PTE_ADDR_MASK | PTE_TABLE | PTE_CONT);
        let mut d = attrs | (pa.as_u64() & PTE_ADDR_MASK);
        if level == LAST_LEVEL {
            d |= PTE_PAGE;
        }
        d
    }
    fn new_table_barrier() {
        crate::tlb::order_new_table();
    }
}
