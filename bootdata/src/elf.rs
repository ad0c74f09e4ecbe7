//! ELF64 executables for AArch64: the checks Linux's `load_elf_binary`
//! (fs/binfmt_elf.c) makes before it maps anything, and a plain list of
//! what to map.
//!
//! ```text
//!   Elf64_Ehdr (64 bytes)  ident: 7f 'E' 'L' 'F', ELFCLASS64, ELFDATA2LSB,
//!                          EV_CURRENT; e_type ET_EXEC or ET_DYN;
//!                          e_machine EM_AARCH64; e_phentsize 56
//!   Elf64_Phdr x e_phnum   at e_phoff, inside the file, at most one page
//!                          of them (Linux's load_elf_phdrs)
//!     PT_LOAD              vaddr, memsz, offset, filesz, flags, align
//!     PT_INTERP            refused: there is no dynamic loader
//!     PT_GNU_STACK         whether the stack is executable
//!     PT_PHDR              where the program headers are in memory (AT_PHDR)
//! ```
//!
//! Each PT_LOAD segment is checked as Linux's `elf_map`/`elf_load` would
//! find it: `filesz <= memsz`; the file part (if any) inside the file; the memory
//! part below [`TASK_SIZE`] without wrapping; `vaddr` and `offset` equal
//! modulo the page size, since a file page is mapped at a page boundary;
//! `p_align` zero or a power of two. Beyond Linux: the segments must come in
//! ascending `vaddr` order without overlapping (the ELF spec's rule; Linux
//! maps later segments over earlier ones), there must be at least one, and
//! the entry point must lie in an executable segment (Linux would just
//! fault on the first instruction).
//!
//! An ET_DYN file without PT_INTERP is a static PIE: its addresses are
//! offsets from a load base the loader picks; [`ElfImage::kind`] says so and
//! the checks above apply to the offsets. What a segment's pages hold
//! beyond `filesz` (up to `memsz`) is zero, as in every loader.

use alloc::vec::Vec;
use core::fmt;

/// The top of the user address space the checks use: 48-bit VAs, as
/// Linux's TASK_SIZE_64 with VA_BITS=48.
pub const TASK_SIZE: u64 = 1 << 48;
/// The page size segments must be congruent to (4 KiB: this kernel's).
pub const ELF_MIN_ALIGN: u64 = 4096;

/// e_machine of AArch64.
pub const EM_AARCH64: u16 = 183;
/// e_type values.
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;
/// p_type values.
pub const PT_LOAD: u32 = 1;
pub const PT_INTERP: u32 = 3;
pub const PT_PHDR: u32 = 6;
pub const PT_GNU_STACK: u32 = 0x6474_e551;

const EHDR_LEN: usize = 64;
const PHDR_LEN: usize = 56;

/// Segment permissions (p_flags' PF_X, PF_W, PF_R).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SegmentFlags(u32);

impl SegmentFlags {
    pub const X: SegmentFlags = SegmentFlags(1);
    pub const W: SegmentFlags = SegmentFlags(2);
    pub const R: SegmentFlags = SegmentFlags(4);

    /// The R/W/X bits of a p_flags word (others are dropped).
    pub const fn from_bits(bits: u32) -> Self {
        SegmentFlags(bits & 7)
    }

    /// The bits.
    pub fn bits(self) -> u32 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: SegmentFlags) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for SegmentFlags {
    type Output = SegmentFlags;
    fn bitor(self, rhs: SegmentFlags) -> SegmentFlags {
        SegmentFlags(self.0 | rhs.0)
    }
}

impl fmt::Display for SegmentFlags {
    /// `r-x` style.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = |flag, ch| if self.contains(flag) { ch } else { '-' };
        write!(f, "{}{}{}", c(Self::R, 'r'), c(Self::W, 'w'), c(Self::X, 'x'))
    }
}

/// One PT_LOAD segment, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadSegment {
    /// Where it goes (an offset from the load base for a PIE).
    pub vaddr: u64,
    /// Bytes in memory (`>= filesz`; the rest is zero).
    pub memsz: u64,
    /// Where its file bytes start.
    pub offset: u64,
    /// Bytes taken from the file.
    pub filesz: u64,
    pub flags: SegmentFlags,
    /// p_align (0 or a power of two).
    pub align: u64,
}

/// ET_EXEC or a static PIE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    /// Fixed addresses.
    Exec,
    /// ET_DYN without PT_INTERP: addresses are offsets from a chosen base.
    StaticPie,
}

/// What the loader needs of a checked executable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElfImage {
    pub kind: ElfKind,
    /// e_entry (an offset from the base for a PIE).
    pub entry: u64,
    /// PT_LOAD segments in ascending, non-overlapping `vaddr` order.
    pub segments: Vec<LoadSegment>,
    /// PT_GNU_STACK's flags; without one, Linux's arm64 default (not executable).
    pub stack_flags: SegmentFlags,
    /// Where the program headers are in memory, for AT_PHDR: PT_PHDR's
    /// vaddr, else the address of e_phoff in a segment that maps it.
    pub phdr_vaddr: Option<u64>,
    /// e_phnum (AT_PHNUM) and e_phentsize (AT_PHENT).
    pub phnum: u16,
    pub phentsize: u16,
}

impl ElfImage {
    /// The lowest and highest (exclusive) addresses the segments cover.
    pub fn span(&self) -> (u64, u64) {
        let lo = self.segments.first().map_or(0, |s| s.vaddr);
        let hi = self.segments.last().map_or(0, |s| s.vaddr + s.memsz);
        (lo, hi)
    }
}

/// Why a file is not an executable this kernel runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// No ELF magic (or shorter than an ELF header).
    NotElf,
    /// EI_CLASS is not ELFCLASS64.
    NotElf64(u8),
    /// EI_DATA is not ELFDATA2LSB.
    NotLittleEndian(u8),
    /// EI_VERSION or e_version is not EV_CURRENT.
    BadVersion(u32),
    /// e_type is neither ET_EXEC nor ET_DYN.
    NotExecutable(u16),
    /// e_machine is not EM_AARCH64.
    NotAarch64(u16),
    /// e_phentsize is not 56.
    BadPhentsize(u16),
    /// No program headers, or more than a page of them.
    BadPhnum(u16),
    /// The program headers run past the end of the file.
    PhdrsOutsideFile,
    /// A PT_INTERP segment: a dynamically linked program.
    Interpreter,
    /// PT_LOAD number `index`: filesz > memsz.
    FileszOverMemsz { index: usize },
    /// PT_LOAD `index`: its file bytes run past the end of the file.
    SegmentOutsideFile { index: usize },
    /// PT_LOAD `index`: its memory wraps or reaches past TASK_SIZE.
    SegmentOutsideUser { index: usize },
    /// PT_LOAD `index`: vaddr and offset differ modulo the page size.
    NotPageCongruent { index: usize },
    /// PT_LOAD `index`: p_align is not a power of two.
    BadAlign { index: usize },
    /// PT_LOAD `index` starts below the end of the one before it.
    Overlap { index: usize },
    /// No PT_LOAD segment.
    NoLoadSegments,
    /// e_entry is not inside an executable PT_LOAD segment.
    EntryNotExecutable(u64),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ExecError::NotElf => f.write_str("exec: not an ELF file"),
            ExecError::NotElf64(c) => write!(f, "exec: not a 64-bit ELF file (EI_CLASS {c})"),
            ExecError::NotLittleEndian(d) => write!(f, "exec: not a little-endian ELF file (EI_DATA {d})"),
            ExecError::BadVersion(v) => write!(f, "exec: unknown ELF version {v}"),
            ExecError::NotExecutable(t) => write!(f, "exec: not an executable (e_type {t})"),
            ExecError::NotAarch64(m) => write!(f, "exec: not AArch64 (e_machine {m})"),
            ExecError::BadPhentsize(s) => write!(f, "exec: bad program header size {s}"),
            ExecError::BadPhnum(n) => write!(f, "exec: bad program header count {n}"),
            ExecError::PhdrsOutsideFile => f.write_str("exec: program headers outside the file"),
            ExecError::Interpreter => {
                f.write_str("exec: dynamically linked (PT_INTERP), no dynamic loader: link with -static")
            }
            ExecError::FileszOverMemsz { index } => write!(f, "exec: segment {index}: p_filesz > p_memsz"),
            ExecError::SegmentOutsideFile { index } => write!(f, "exec: segment {index}: outside the file"),
            ExecError::SegmentOutsideUser { index } => {
                write!(f, "exec: segment {index}: outside the user address space")
            }
            ExecError::NotPageCongruent { index } => {
                write!(f, "exec: segment {index}: p_vaddr and p_offset differ modulo the page size")
            }
            ExecError::BadAlign { index } => write!(f, "exec: segment {index}: p_align is not a power of two"),
            ExecError::Overlap { index } => {
                write!(f, "exec: segment {index}: overlaps or precedes the one before it")
            }
            ExecError::NoLoadSegments => f.write_str("exec: no loadable segments"),
            ExecError::EntryNotExecutable(e) => {
                write!(f, "exec: entry point {e:#x} is not in an executable segment")
            }
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(&[x, y]) => u16::from_le_bytes([x, y]),
        _ => 0,
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(&[a, c, d, e]) => u32::from_le_bytes([a, c, d, e]),
        _ => 0,
    }
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).and_then(|s| s.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Check `file` and list what to map.
pub fn parse(file: &[u8]) -> Result<ElfImage, ExecError> {
    let eh = file.get(..EHDR_LEN).ok_or(ExecError::NotElf)?;
    if eh.get(..4) != Some(b"\x7fELF") {
        return Err(ExecError::NotElf);
    }
    let ident = |i: usize| eh.get(i).copied().unwrap_or(0);
    if ident(4) != 2 {
        return Err(ExecError::NotElf64(ident(4)));
    }
    if ident(5) != 1 {
        return Err(ExecError::NotLittleEndian(ident(5)));
    }
    if ident(6) != 1 {
        return Err(ExecError::BadVersion(u32::from(ident(6))));
    }
    let e_type = le16(eh, 16);
    let kind = match e_type {
        ET_EXEC => ElfKind::Exec,
        ET_DYN => ElfKind::StaticPie,
        t => return Err(ExecError::NotExecutable(t)),
    };
    let machine = le16(eh, 18);
    if machine != EM_AARCH64 {
        return Err(ExecError::NotAarch64(machine));
    }
    let version = le32(eh, 20);
    if version != 1 {
        return Err(ExecError::BadVersion(version));
    }
    let entry = le64(eh, 24);
    let phoff = le64(eh, 32);
    let phentsize = le16(eh, 54);
    let phnum = le16(eh, 56);
    if usize::from(phentsize) != PHDR_LEN {
        return Err(ExecError::BadPhentsize(phentsize));
    }
    let phdrs_len = usize::from(phnum) * PHDR_LEN;
    if phnum == 0 || phdrs_len as u64 > ELF_MIN_ALIGN {
        return Err(ExecError::BadPhnum(phnum));
    }
    let phdrs = usize::try_from(phoff)
        .ok()
        .and_then(|o| Some(o..o.checked_add(phdrs_len)?))
        .and_then(|r| file.get(r))
        .ok_or(ExecError::PhdrsOutsideFile)?;

    let mut segments: Vec<LoadSegment> = Vec::new();
    let mut stack_flags = SegmentFlags::R | SegmentFlags::W;
    let mut pt_phdr = None;
    let file_len = file.len() as u64;
    for ph in phdrs.chunks_exact(PHDR_LEN) {
        let p_type = le32(ph, 0);
        let flags = SegmentFlags::from_bits(le32(ph, 4));
        match p_type {
            PT_INTERP => return Err(ExecError::Interpreter),
            PT_GNU_STACK => stack_flags = flags,
            PT_PHDR => pt_phdr = Some(le64(ph, 16)),
            PT_LOAD => {
                let index = segments.len();
                let seg = LoadSegment {
                    offset: le64(ph, 8),
                    vaddr: le64(ph, 16),
                    filesz: le64(ph, 32),
                    memsz: le64(ph, 40),
                    align: le64(ph, 48),
                    flags,
                };
                if seg.filesz > seg.memsz {
                    return Err(ExecError::FileszOverMemsz { index });
                }
                // A segment with no file bytes (bss only) maps nothing of the file.
                if seg.filesz > 0 && seg.offset.checked_add(seg.filesz).is_none_or(|end| end > file_len) {
                    return Err(ExecError::SegmentOutsideFile { index });
                }
                if seg.vaddr.checked_add(seg.memsz).is_none_or(|end| end > TASK_SIZE) {
                    return Err(ExecError::SegmentOutsideUser { index });
                }
                if seg.vaddr % ELF_MIN_ALIGN != seg.offset % ELF_MIN_ALIGN {
                    return Err(ExecError::NotPageCongruent { index });
                }
                if seg.align != 0 && !seg.align.is_power_of_two() {
                    return Err(ExecError::BadAlign { index });
                }
                if let Some(prev) = segments.last()
                    && seg.vaddr < prev.vaddr + prev.memsz
                {
                    return Err(ExecError::Overlap { index });
                }
                segments.push(seg);
            }
            _ => {}
        }
    }
    if segments.is_empty() {
        return Err(ExecError::NoLoadSegments);
    }
    let in_exec =
        segments.iter().any(|s| s.flags.contains(SegmentFlags::X) && entry >= s.vaddr && entry - s.vaddr < s.memsz);
    if !in_exec {
        return Err(ExecError::EntryNotExecutable(entry));
    }
    // AT_PHDR as Linux computes it: PT_PHDR, else e_phoff inside a mapped file range.
    let phdr_vaddr = pt_phdr.or_else(|| {
        segments.iter().find(|s| phoff >= s.offset && phoff - s.offset < s.filesz).map(|s| s.vaddr + (phoff - s.offset))
    });
    Ok(ElfImage { kind, entry, segments, stack_flags, phdr_vaddr, phnum, phentsize })
}
