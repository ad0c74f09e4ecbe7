//! `/proc/<pid>/maps` and `/proc/<pid>/smaps_rollup` in Linux's formats
//! (fs/proc/task_mmu.c show_map_vma, show_vma_header_prefix, __show_smap).
//!
//! A maps line is `start-end perms offset major:minor inode`, each number
//! in Linux's width (`%08lx`, `%08llx`, `%02x`, `%lu`), a space, then, when
//! the VMA has a name, spaces up to column 73 and the name. Private
//! anonymous memory shows offset, device and inode 0; shared anonymous
//! memory shows, as on Linux, its shmem file `/dev/zero (deleted)` on
//! device 00:01 with the object id as inode and the byte offset into it.

use super::flags::VmFlags;
use super::space::AddressSpace;
use super::vma::{AnonKind, Vma, VmaName};
use crate::PAGE_SIZE;
use crate::fmtbuf::StackStr;
use core::fmt::{self, Write};

/// seq_setwidth's `25 + sizeof(void *) * 6 - 1` on a 64-bit kernel: the
/// header is padded to this many characters before the name's space.
pub const MAPS_NAME_PAD: usize = 25 + 8 * 6 - 1;

/// The device of the shmem mount behind shared anonymous memory.
const SHMEM_DEV: (u32, u32) = (0, 1);

/// A line assembled on the stack, so its length is known for padding.
type LineBuf = StackStr<160>;

/// show_vma_header_prefix.
fn header(
    line: &mut LineBuf,
    start: u64,
    end: u64,
    flags: VmFlags,
    offset: u64,
    dev: (u32, u32),
    ino: u64,
) -> fmt::Result {
    let bit = |f: VmFlags, c: char| if flags.contains(f) { c } else { '-' };
    write!(
        line,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        start,
        end,
        bit(VmFlags::READ, 'r'),
        bit(VmFlags::WRITE, 'w'),
        bit(VmFlags::EXEC, 'x'),
        if flags.contains(VmFlags::MAYSHARE) { 's' } else { 'p' },
        offset,
        dev.0,
        dev.1,
        ino
    )
}

/// The name /proc shows for a VMA (get_vma_name's order: the shmem file
/// or its anon name, then `[heap]` when the VMA overlaps
/// `[start_brk, brk)`, `[stack]` when it holds start_stack, then the anon
/// name).
pub fn vma_name<'a>(mm: &AddressSpace, vma: &'a Vma) -> MapsName<'a> {
    if let AnonKind::Shared(_) = vma.anon {
        return match &vma.name {
            VmaName::Custom(n) => MapsName::AnonShmem(n),
            VmaName::None => MapsName::DevZero,
        };
    }
    // vma_is_initial_heap, strict since Linux stopped naming the VMA below
    // an empty heap `[heap]`.
    if vma.start < mm.brk_value() && vma.end > mm.start_brk() {
        return MapsName::Heap;
    }
    if vma.start <= mm.start_stack() && vma.end >= mm.start_stack() {
        return MapsName::Stack;
    }
    match &vma.name {
        VmaName::Custom(n) => MapsName::Anon(n),
        VmaName::None => MapsName::None,
    }
}

/// What follows the header of a maps line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapsName<'a> {
    /// Nothing.
    None,
    /// `[heap]`.
    Heap,
    /// `[stack]`.
    Stack,
    /// `[anon:<name>]`.
    Anon(&'a str),
    /// `[anon_shmem:<name>]`.
    AnonShmem(&'a str),
    /// `/dev/zero (deleted)`: unnamed shared anonymous memory.
    DevZero,
}

/// One line of `/proc/<pid>/maps` for `vma` of `mm`, with its newline.
pub fn show_map_vma(out: &mut dyn Write, mm: &AddressSpace, vma: &Vma) -> fmt::Result {
    let mut line = LineBuf::new();
    let (offset, dev, ino) = match vma.anon {
        AnonKind::Shared(id) => (vma.pgoff * PAGE_SIZE, SHMEM_DEV, id.0),
        AnonKind::Private => (0, (0, 0), 0),
    };
    header(&mut line, vma.start, vma.end, vma.flags, offset, dev, ino)?;
    let name = vma_name(mm, vma);
    if name != MapsName::None {
        line.pad_to(MAPS_NAME_PAD);
        line.write_char(' ')?;
    }
    out.write_str(line.as_str())?;
    match name {
        MapsName::None => Ok(()),
        MapsName::Heap => out.write_str("[heap]"),
        MapsName::Stack => out.write_str("[stack]"),
        MapsName::Anon(n) => write!(out, "[anon:{n}]"),
        MapsName::AnonShmem(n) => write!(out, "[anon_shmem:{n}]"),
        MapsName::DevZero => out.write_str("/dev/zero (deleted)"),
    }?;
    out.write_char('\n')
}

/// All of `/proc/<pid>/maps`.
pub fn show_maps(out: &mut dyn Write, mm: &AddressSpace) -> fmt::Result {
    mm.vmas().iter().try_for_each(|v| show_map_vma(out, mm, v))
}

/// The sums smaps_rollup prints, in bytes, as the kernel gathers them by
/// walking the page tables (PSS values already divided by the mapcounts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SmapsRollup {
    /// Rss.
    pub rss: u64,
    /// Pss.
    pub pss: u64,
    /// Pss_Dirty.
    pub pss_dirty: u64,
    /// Pss_Anon.
    pub pss_anon: u64,
    /// Pss_File.
    pub pss_file: u64,
    /// Pss_Shmem.
    pub pss_shmem: u64,
    /// Shared_Clean.
    pub shared_clean: u64,
    /// Shared_Dirty.
    pub shared_dirty: u64,
    /// Private_Clean.
    pub private_clean: u64,
    /// Private_Dirty.
    pub private_dirty: u64,
    /// Referenced.
    pub referenced: u64,
    /// Anonymous.
    pub anonymous: u64,
    /// KSM.
    pub ksm: u64,
    /// LazyFree.
    pub lazyfree: u64,
    /// AnonHugePages.
    pub anon_huge_pages: u64,
    /// ShmemPmdMapped.
    pub shmem_pmd_mapped: u64,
    /// FilePmdMapped.
    pub file_pmd_mapped: u64,
    /// Shared_Hugetlb.
    pub shared_hugetlb: u64,
    /// Private_Hugetlb.
    pub private_hugetlb: u64,
    /// Swap.
    pub swap: u64,
    /// SwapPss.
    pub swap_pss: u64,
    /// Locked.
    pub locked: u64,
}

/// `/proc/<pid>/smaps_rollup`: the header line spanning the first VMA's
/// start to the last one's end (`---p`, zeros, `[rollup]`), then one
/// `Label:  <kB, 8 wide> kB` line per field in Linux's order.
pub fn show_smaps_rollup(out: &mut dyn Write, mm: &AddressSpace, s: &SmapsRollup) -> fmt::Result {
    let start = mm.vmas().iter().next().map_or(0, |v| v.start);
    let end = mm.vmas().iter().next_back().map_or(0, |v| v.end);
    let mut line = LineBuf::new();
    header(&mut line, start, end, VmFlags::empty(), 0, (0, 0), 0)?;
    line.pad_to(MAPS_NAME_PAD);
    line.write_str(" [rollup]\n")?;
    out.write_str(line.as_str())?;
    let fields: [(&str, u64); 22] = [
        ("Rss:", s.rss),
        ("Pss:", s.pss),
        ("Pss_Dirty:", s.pss_dirty),
        ("Pss_Anon:", s.pss_anon),
        ("Pss_File:", s.pss_file),
        ("Pss_Shmem:", s.pss_shmem),
        ("Shared_Clean:", s.shared_clean),
        ("Shared_Dirty:", s.shared_dirty),
        ("Private_Clean:", s.private_clean),
        ("Private_Dirty:", s.private_dirty),
        ("Referenced:", s.referenced),
        ("Anonymous:", s.anonymous),
        ("KSM:", s.ksm),
        ("LazyFree:", s.lazyfree),
        ("AnonHugePages:", s.anon_huge_pages),
        ("ShmemPmdMapped:", s.shmem_pmd_mapped),
        ("FilePmdMapped:", s.file_pmd_mapped),
        ("Shared_Hugetlb:", s.shared_hugetlb),
        ("Private_Hugetlb:", s.private_hugetlb),
        ("Swap:", s.swap),
        ("SwapPss:", s.swap_pss),
        ("Locked:", s.locked),
    ];
    for (label, bytes) in fields {
        // Labels are padded to 16 and values 8 wide; Private_Hugetlb's
        // 17-character label takes one column from its value.
        let (lw, vw) = if label.len() > 15 { (label.len() + 1, 7) } else { (16, 8) };
        writeln!(out, "{label:<lw$}{:>vw$} kB", bytes >> 10)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mmap::commit::{Overcommit, VmCommit};
    use crate::mmap::flags::*;
    use crate::mmap::space::MmLayout;
    use crate::mmap::vma::ShmemId;
    use std::string::String;

    #[test]
    fn maps_lines_are_byte_exact() {
        let commit = VmCommit::new(1 << 20, 0, Overcommit::Guess);
        let mut mm = AddressSpace::new(MmLayout::arm64(1 << 48, 0));
        mm.set_brk_base(0x0041_2000);
        let mut ids = || ShmemId(4242);
        mm.brk(0x0041_2000 + 3 * 4096, &commit);
        let stack = mm.setup_stack(0xffff_ffff_f000, 12 << 10, &commit).unwrap();
        mm.set_start_stack(0xffff_ffff_e000);
        let a = mm.mmap(0, 8192, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, 0, &commit, &mut ids).unwrap().addr;
        let s = mm
            .mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, 0, &commit, &mut ids)
            .unwrap()
            .addr;
        assert_eq!(s + 3 * 4096, a, "top-down: the later mapping lies below");
        // Split the shared mapping so its second half shows an offset.
        mm.mprotect(s + 4096, 4096, PROT_READ, &commit).result.unwrap();
        mm.set_anon_name(a, 4096, Some("jit")).unwrap();
        let mut out = String::new();
        show_maps(&mut out, &mm).unwrap();
        let pad = |head: &str| format!("{head:<72} ");
        let mut want = String::new();
        want += &pad("00412000-00415000 rw-p 00000000 00:00 0 ");
        want += "[heap]\n";
        want += &pad(&format!("{:08x}-{:08x} rw-s 00000000 00:01 4242 ", s, s + 4096));
        want += "/dev/zero (deleted)\n";
        want += &pad(&format!("{:08x}-{:08x} r--s 00001000 00:01 4242 ", s + 4096, s + 8192));
        want += "/dev/zero (deleted)\n";
        want += &pad(&format!("{:08x}-{:08x} rw-s 00002000 00:01 4242 ", s + 8192, s + 12288));
        want += "/dev/zero (deleted)\n";
        want += &pad(&format!("{:08x}-{:08x} r--p 00000000 00:00 0 ", a, a + 4096));
        want += "[anon:jit]\n";
        want += &format!("{:08x}-{:08x} r--p 00000000 00:00 0 \n", a + 4096, a + 8192);
        want += &pad(&format!("{:08x}-{:08x} rw-p 00000000 00:00 0 ", stack.start, stack.end));
        want += "[stack]\n";
        assert_eq!(out, want);
        // The literal line a reader compares with Linux's:
        assert!(out.starts_with("00412000-00415000 rw-p 00000000 00:00 0                                  [heap]\n"));
        assert!(out.ends_with("ffffffffc000-fffffffff000 rw-p 00000000 00:00 0                          [stack]\n"));
    }

    #[test]
    fn smaps_rollup_is_byte_exact() {
        let commit = VmCommit::new(1 << 20, 0, Overcommit::Guess);
        let mut mm = AddressSpace::new(MmLayout::arm64(1 << 48, 0));
        let mut ids = || ShmemId(1);
        mm.mmap(0x10000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0, &commit, &mut ids).unwrap();
        mm.mmap(0x40000, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, 0, &commit, &mut ids).unwrap();
        let s = SmapsRollup {
            rss: 12 << 10,
            pss: 10 << 10,
            private_dirty: 8 << 10,
            anonymous: 123_456_789 << 10,
            private_hugetlb: 3 << 10,
            ..SmapsRollup::default()
        };
        let mut out = String::new();
        show_smaps_rollup(&mut out, &mm, &s).unwrap();
        let want = "\
00010000-00041000 ---p 00000000 00:00 0                                  [rollup]
Rss:                  12 kB
Pss:                  10 kB
Pss_Dirty:             0 kB
Pss_Anon:              0 kB
Pss_File:              0 kB
Pss_Shmem:             0 kB
Shared_Clean:          0 kB
Shared_Dirty:          0 kB
Private_Clean:         0 kB
Private_Dirty:         8 kB
Referenced:            0 kB
Anonymous:      123456789 kB
KSM:                   0 kB
LazyFree:              0 kB
AnonHugePages:         0 kB
ShmemPmdMapped:        0 kB
FilePmdMapped:         0 kB
Shared_Hugetlb:        0 kB
Private_Hugetlb:       3 kB
Swap:                  0 kB
SwapPss:               0 kB
Locked:                0 kB
";
        assert_eq!(out, want);
    }
}
