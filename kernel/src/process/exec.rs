//! Starting a program (Linux's fs/binfmt_elf.c load_elf_binary and
//! fs/exec.c setup_arg_pages / create_elf_tables, for static executables).
//!
//! ```text
//!   parse the ELF (bootdata::elf: static AArch64 ET_EXEC, checked)
//!   new Mm: the layout (mmap_base below the stack gap, brk after the data)
//!   each PT_LOAD: a private VMA with the segment's R/W/X; the pages that
//!     hold file bytes are allocated and filled now (the rest of .bss is
//!     demand-zero), as if the file had been read in (no page cache here)
//!   the stack: a VM_GROWSDOWN VMA below STACK_TOP, 128 KiB to start, with
//!     argc, argv, envp and the auxiliary vector as Linux lays them out
//!   a task whose first return to user space starts at e_entry
//! ```
//!
//! No interpreter (PT_INTERP is refused by the parser), no ASLR (Linux
//! with `norandmaps`), no execve of a running process yet: programs start
//! as new processes (the first program, the built-in tests).

use super::pid::Process;
use crate::memory::user::anon;
use crate::memory::user::commit;
use crate::memory::user::mm::Mm;
use crate::memory::user::pgtable::user_prot;
use crate::memory::user::uaccess::TASK_SIZE;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::exception::TrapFrame;
use bootdata::elf;
use core::fmt;
use mm::mmap::flags::{MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE};
use mm::mmap::{AddressSpace, Errno, MmLayout};
use mm::{PAGE_SIZE, VirtAddr};

/// The top of the user stack (Linux arm64's STACK_TOP without
/// randomisation: the end of the 48-bit user range).
pub const STACK_TOP: u64 = TASK_SIZE;

/// The stack VMA's first size (Linux's setup_arg_pages stack_expand).
const STACK_INITIAL: u64 = 128 * 1024;

/// Auxiliary vector keys (include/uapi/linux/auxvec.h).
mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const EXECFN: u64 = 31;
}

/// Why a program could not be started.
#[derive(Debug)]
pub enum ExecError {
    /// The file is not an executable this kernel runs.
    Format(elf::ExecError),
    /// Its layout does not fit (overlapping segments, above TASK_SIZE).
    Layout(&'static str),
    /// A segment or the stack could not be mapped.
    Map(Errno),
    /// No memory for what is named: its pages, tables, mm or task.
    NoMemory(&'static str),
    /// Its task could not be started for a reason other than memory.
    Task(Errno),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Format(e) => write!(f, "{e}"),
            ExecError::Layout(why) => write!(f, "bad layout: {why}"),
            ExecError::Map(e) => write!(f, "cannot map a segment or the stack: {e}"),
            ExecError::NoMemory(what) => write!(f, "out of memory for {what}"),
            ExecError::Task(e) => write!(f, "cannot start its task: {e}"),
        }
    }
}

impl ExecError {
    /// The errno exec(2) would return (Linux's: ENOEXEC for a file it does
    /// not run, ENOMEM, EINVAL for a layout the loader refuses; a mapping's
    /// or the task's own errno otherwise).
    pub fn errno(&self) -> Errno {
        match self {
            ExecError::Format(_) => Errno::ENOEXEC,
            ExecError::Layout(_) => Errno::EINVAL,
            ExecError::Map(e) => *e,
            ExecError::NoMemory(_) => Errno::ENOMEM,
            ExecError::Task(e) => *e,
        }
    }
}

impl From<Errno> for ExecError {
    fn from(e: Errno) -> Self {
        match e {
            Errno::ENOMEM => ExecError::NoMemory("a mapping (or its commit charge)"),
            e => ExecError::Map(e),
        }
    }
}

/// What a new process starts with.
pub struct Loaded {
    /// The address space, filled.
    pub mm: Arc<Mm>,
    /// The registers of its first return to EL0.
    pub frame: TrapFrame,
}

/// Fill page `va` of `mm` with `bytes` at `offset` in the page (a fresh
/// zeroed page, installed with `prot`).
fn fill_page(mm: &Mm, va: u64, offset: usize, bytes: &[u8], write: bool, exec: bool) -> Result<(), ExecError> {
    let pfn = anon::alloc_anon_page(None, mm.anon_rmap(va))
        .map_err(|_| ExecError::NoMemory("a page of the image or stack"))?;
    anon::write_page(pfn, offset, bytes);
    let mut inner = mm.inner.lock();
    match inner.pgtable.install(VirtAddr(va), pfn, user_prot(write, exec)) {
        Ok(()) => {
            mm.inc_rss(false);
            Ok(())
        }
        Err(_) => {
            // SAFETY: the page was never mapped.
            unsafe { anon::put_anon_page(pfn) };
            Err(ExecError::NoMemory("a page table"))
        }
    }
}

/// Load `image` into a new address space, with `argv` and `envp`.
pub fn load(image: &[u8], argv: &[&str], envp: &[&str]) -> Result<Loaded, ExecError> {
    let exe = elf::parse(image).map_err(ExecError::Format)?;
    if exe.kind != elf::ElfKind::Exec {
        return Err(ExecError::Layout("a static PIE (ET_DYN) is not loaded: link with -no-pie"));
    }
    let mut aspace = AddressSpace::new(MmLayout::arm64(TASK_SIZE, 0));
    let mut brk = 0u64;
    // The VMAs first (the layout is checked before any page is filled).
    for seg in &exe.segments {
        let start = seg.vaddr & !(PAGE_SIZE - 1);
        let end = (seg.vaddr + seg.memsz).next_multiple_of(PAGE_SIZE);
        if end > STACK_TOP - STACK_INITIAL - (1 << 30) {
            return Err(ExecError::Layout("a segment lies too close to the stack"));
        }
        if aspace.vmas().find_vma_intersection(start, end).is_some() {
            return Err(ExecError::Layout("two PT_LOAD segments share a page"));
        }
        let mut prot = 0;
        if seg.flags.contains(elf::SegmentFlags::R) {
            prot |= PROT_READ;
        }
        if seg.flags.contains(elf::SegmentFlags::W) {
            prot |= PROT_WRITE;
        }
        if seg.flags.contains(elf::SegmentFlags::X) {
            prot |= PROT_EXEC;
        }
        aspace.mmap(
            start,
            end - start,
            prot,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
            start / PAGE_SIZE,
            commit(),
            &mut || crate::memory::user::mm::new_shmem_id(),
        )?;
        brk = brk.max(end);
    }
    aspace.set_brk_base(brk);
    aspace.setup_stack(STACK_TOP, STACK_INITIAL, commit())?;
    let mm = Mm::new(aspace).map_err(|_| ExecError::NoMemory("the mm (its top-level table)"))?;
    // The pages that hold file bytes.
    for seg in &exe.segments {
        if seg.filesz == 0 {
            // All .bss: demand-zero (its p_offset may name any place).
            continue;
        }
        let file = image
            .get(seg.offset as usize..(seg.offset + seg.filesz) as usize)
            .ok_or(ExecError::Layout("segment past the file"))?;
        let mut va = seg.vaddr;
        let mut rest = file;
        while !rest.is_empty() {
            let page = va & !(PAGE_SIZE - 1);
            let off = (va - page) as usize;
            let n = rest.len().min(PAGE_SIZE as usize - off);
            fill_page(
                &mm,
                page,
                off,
                &rest[..n],
                seg.flags.contains(elf::SegmentFlags::W),
                seg.flags.contains(elf::SegmentFlags::X),
            )?;
            rest = &rest[n..];
            va = page + PAGE_SIZE;
        }
    }
    let sp = build_stack(&mm, &exe, argv, envp)?;
    mm.inner.lock().aspace.set_start_stack(sp);
    let mut frame = TrapFrame { x: [0; 31], sp, elr: exe.entry, spsr: 0, esr: 0, far: 0 };
    frame.x[0] = 0;
    Ok(Loaded { mm, frame })
}

/// Lay out the initial stack below STACK_TOP (create_elf_tables): strings
/// at the top, then 16 random bytes, then (16-byte aligned) argc, argv,
/// NULL, envp, NULL, the auxiliary vector. Returns the initial sp.
fn build_stack(mm: &Mm, exe: &elf::ElfImage, argv: &[&str], envp: &[&str]) -> Result<u64, ExecError> {
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets: Vec<usize> = Vec::new();
    for s in argv.iter().chain(envp.iter()) {
        offsets.push(strings.len());
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
    }
    let random: [u8; 16] = random_bytes();
    // Addresses, top down.
    let strings_at = STACK_TOP - 16 - strings.len() as u64;
    let random_at = (strings_at - 16) & !15;
    let mut words: Vec<u64> = Vec::new();
    words.push(argv.len() as u64);
    for &o in &offsets[..argv.len()] {
        words.push(strings_at + o as u64);
    }
    words.push(0);
    for &o in &offsets[argv.len()..] {
        words.push(strings_at + o as u64);
    }
    words.push(0);
    let mut auxv = alloc::vec![
        (at::PAGESZ, PAGE_SIZE),
        (at::CLKTCK, 100),
        (at::ENTRY, exe.entry),
        (at::UID, 0),
        (at::EUID, 0),
        (at::GID, 0),
        (at::EGID, 0),
        (at::SECURE, 0),
        (at::RANDOM, random_at),
        (at::HWCAP, arch::cpu::elf_hwcap()),
    ];
    if let Some(phdr) = exe.phdr_vaddr {
        auxv.push((at::PHDR, phdr));
        auxv.push((at::PHENT, exe.phentsize as u64));
        auxv.push((at::PHNUM, exe.phnum as u64));
    }
    if !argv.is_empty() {
        auxv.push((at::EXECFN, strings_at));
    }
    auxv.push((at::NULL, 0));
    for (k, v) in auxv {
        words.push(k);
        words.push(v);
    }
    let table_bytes = words.len() as u64 * 8;
    let sp = (random_at - table_bytes) & !15;
    if STACK_TOP - sp > STACK_INITIAL / 2 {
        return Err(ExecError::Layout("arguments too long for the initial stack"));
    }
    // The image of [sp, STACK_TOP).
    let mut img = alloc::vec![0u8; (STACK_TOP - sp) as usize];
    let at_off = |va: u64| (va - sp) as usize;
    for (i, w) in words.iter().enumerate() {
        let o = at_off(sp) + i * 8;
        img[o..o + 8].copy_from_slice(&w.to_le_bytes());
    }
    img[at_off(random_at)..at_off(random_at) + 16].copy_from_slice(&random);
    img[at_off(strings_at)..at_off(strings_at) + strings.len()].copy_from_slice(&strings);
    let first_page = sp & !(PAGE_SIZE - 1);
    let mut va = first_page;
    while va < STACK_TOP {
        let lo = va.max(sp);
        let hi = (va + PAGE_SIZE).min(STACK_TOP);
        fill_page(mm, va, (lo - va) as usize, &img[at_off(lo)..at_off(hi)], true, false)?;
        va += PAGE_SIZE;
    }
    Ok(sp)
}

/// 16 bytes for AT_RANDOM: the counter mixed (no entropy source here; a
/// program must not rely on them for secrets).
fn random_bytes() -> [u8; 16] {
    let mut x = arch::timer::counter() ^ 0x9e37_79b9_7f4a_7c15;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    out
}

/// Start `image` as a new process named after `argv[0]`, child of `ppid`.
pub fn spawn_program(
    image: &[u8],
    argv: &[&str],
    envp: &[&str],
    ppid: i32,
    is_init: bool,
) -> Result<Arc<Process>, ExecError> {
    let loaded = load(image, argv, envp)?;
    let name: String = argv.first().copied().unwrap_or("init").into();
    let p = Process::new(&name, ppid, loaded.mm.clone(), is_init);
    super::spawn::start_user_task(&p, loaded.mm, loaded.frame, None).map_err(|e| {
        super::pid::unhash(p.pid);
        match e {
            mm::Error::NoMemory => ExecError::NoMemory("the task (its kernel stack)"),
            e => ExecError::Task(Errno::from(e)),
        }
    })?;
    Ok(p)
}
