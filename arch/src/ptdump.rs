//! The descriptor bits as the page-table dump names them: the columns of
//! Linux's arm64 `kernel_page_tables` (arch/arm64/mm/ptdump.c, `pte_bits`),
//! in its order, and the W^X check's two questions.
//!
//! One column per bit or field, printed as its `set` text when the field
//! has the column's value and its `clear` text otherwise:
//!
//! ```text
//!   V     USER  AP[2]  PXN  SH    AF  nG  Cont  bit 1      UXN  GP  AttrIndx
//!   " "   USR   ro     NX   SHD   AF  NG  CON   (page)     UXN  GP  MEM/NORMAL, ...
//!   F     ...   RW     x    ...   ..  ..  ...   BLK        ...  ..  (none if no match)
//! ```
//!
//! The bit-1 column reads "BLK" for an L1/L2 block and blanks for an L3
//! page (whose bit 1 is set), as in Linux. Memory types use Linux's MAIR
//! slot numbers, which `pte` shares.

use crate::pte::{
    Arm64, MT_DEVICE_NGNRE, MT_DEVICE_NGNRNE, MT_NORMAL, MT_NORMAL_NC, MT_NORMAL_TAGGED, PTE_AF, PTE_ATTRINDX_MASK,
    PTE_CONT, PTE_GP, PTE_NG, PTE_PXN, PTE_RDONLY, PTE_SHARED, PTE_TABLE, PTE_USER, PTE_UXN, PTE_VALID, pte_attrindx,
};
use mm::ptdump::{ProtBits, PtdumpArch};

/// A two-way column: `set` when `bit` is set, `clear` when not.
const fn bit(bit: u64, set: &'static str, clear: &'static str) -> ProtBits {
    ProtBits { mask: bit, val: bit, set: Some(set), clear: Some(clear) }
}

/// A memory-type column: its name when AttrIndx is `mt`, nothing otherwise.
const fn memory_type(mt: u64, name: &'static str) -> ProtBits {
    ProtBits { mask: PTE_ATTRINDX_MASK, val: pte_attrindx(mt), set: Some(name), clear: None }
}

/// The columns, in Linux's order and spelling.
pub const PTE_BITS: &[ProtBits] = &[
    bit(PTE_VALID, " ", "F"),
    bit(PTE_USER, "USR", "   "),
    bit(PTE_RDONLY, "ro", "RW"),
    bit(PTE_PXN, "NX", "x "),
    bit(PTE_SHARED, "SHD", "   "),
    bit(PTE_AF, "AF", "  "),
    bit(PTE_NG, "NG", "  "),
    bit(PTE_CONT, "CON", "   "),
    bit(PTE_TABLE, "   ", "BLK"),
    bit(PTE_UXN, "UXN", "   "),
    bit(PTE_GP, "GP", "  "),
    memory_type(MT_DEVICE_NGNRNE, "DEVICE/nGnRnE"),
    memory_type(MT_DEVICE_NGNRE, "DEVICE/nGnRE"),
    memory_type(MT_NORMAL_NC, "MEM/NORMAL-NC"),
    memory_type(MT_NORMAL, "MEM/NORMAL"),
    memory_type(MT_NORMAL_TAGGED, "MEM/NORMAL-TAGGED"),
];

impl PtdumpArch for Arm64 {
    const PROT_BITS: &'static [ProtBits] = PTE_BITS;

    /// Writable (AP[2] clear) and executable at EL1 (PXN clear): Linux's
    /// note_prot_wx.
    fn is_wx(prot: u64) -> bool {
        prot & PTE_RDONLY == 0 && prot & PTE_PXN == 0
    }

    /// Executable at EL0 (UXN clear): Linux's note_prot_uxn.
    fn is_user_exec(prot: u64) -> bool {
        prot & PTE_UXN == 0
    }
}
