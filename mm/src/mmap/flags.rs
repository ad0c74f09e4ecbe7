//! The flag words of a mapping: `vm_flags` (include/linux/mm.h) and the
//! `prot` / `flags` / `advice` arguments of mmap, mprotect and madvise
//! (include/uapi/asm-generic/mman-common.h and mman.h, which arm64 uses,
//! plus arm64's PROT_BTI / PROT_MTE).

use bitflags::bitflags;

bitflags! {
    /// A VMA's `vm_flags`, with Linux's bit values so a debugger or a
    /// reader of smaps sees the same numbers.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct VmFlags: u64 {
        /// Pages may be read.
        const READ = 0x1;
        /// Pages may be written.
        const WRITE = 0x2;
        /// Pages may be executed.
        const EXEC = 0x4;
        /// Writes are seen by every mapping of the object.
        const SHARED = 0x8;
        /// `READ` may be set by mprotect.
        const MAYREAD = 0x10;
        /// `WRITE` may be set by mprotect.
        const MAYWRITE = 0x20;
        /// `EXEC` may be set by mprotect.
        const MAYEXEC = 0x40;
        /// `SHARED` may be set (the mapping was created shared).
        const MAYSHARE = 0x80;
        /// A stack: grows down on a fault just below it.
        const GROWSDOWN = 0x100;
        /// Page-ranges managed without struct page.
        const PFNMAP = 0x400;
        /// Pages are mlocked.
        const LOCKED = 0x2000;
        /// Memory-mapped I/O.
        const IO = 0x4000;
        /// madvise(MADV_SEQUENTIAL).
        const SEQ_READ = 0x8000;
        /// madvise(MADV_RANDOM).
        const RAND_READ = 0x10000;
        /// Not copied on fork.
        const DONTCOPY = 0x20000;
        /// Cannot be expanded by mremap.
        const DONTEXPAND = 0x40000;
        /// Lock pages covered when they are faulted in.
        const LOCKONFAULT = 0x80000;
        /// The pages are charged to the commit (vm_committed_as).
        const ACCOUNT = 0x100000;
        /// Not charged (MAP_NORESERVE).
        const NORESERVE = 0x200000;
        /// A hugetlb mapping.
        const HUGETLB = 0x400000;
        /// Wiped (zeroed) in the child on fork.
        const WIPEONFORK = 0x2000000;
        /// Left out of core dumps.
        const DONTDUMP = 0x4000000;
    }
}

impl VmFlags {
    /// Linux's VM_ACCESS_FLAGS: some access is allowed.
    pub const ACCESS: VmFlags = VmFlags::READ.union(VmFlags::WRITE).union(VmFlags::EXEC);
    /// Linux's VM_STACK (arm64 has no VM_GROWSUP).
    pub const STACK: VmFlags = VmFlags::GROWSDOWN;
    /// arm64's VM_DATA_DEFAULT_FLAGS without READ_IMPLIES_EXEC: brk and
    /// the stack are `rw-` with every MAY bit.
    pub const DATA_DEFAULT: VmFlags =
        VmFlags::READ.union(VmFlags::WRITE).union(VmFlags::MAYREAD).union(VmFlags::MAYWRITE).union(VmFlags::MAYEXEC);
    /// Linux's VM_STACK_FLAGS for the initial stack of exec.
    pub const STACK_DEFAULT: VmFlags = VmFlags::DATA_DEFAULT.union(VmFlags::GROWSDOWN).union(VmFlags::ACCOUNT);

    /// calc_vm_prot_bits: the access bits a `prot` asks for.
    pub const fn from_prot(prot: u32) -> VmFlags {
        let mut bits = 0;
        if prot & PROT_READ != 0 {
            bits |= VmFlags::READ.bits();
        }
        if prot & PROT_WRITE != 0 {
            bits |= VmFlags::WRITE.bits();
        }
        if prot & PROT_EXEC != 0 {
            bits |= VmFlags::EXEC.bits();
        }
        VmFlags::from_bits_retain(bits)
    }

    /// is_cow_mapping: private and possibly writable, so fork must
    /// write-protect its pages in both address spaces.
    pub const fn is_cow_mapping(self) -> bool {
        self.bits() & (VmFlags::SHARED.bits() | VmFlags::MAYWRITE.bits()) == VmFlags::MAYWRITE.bits()
    }

    /// Whether any access is allowed (vma_is_accessible).
    pub const fn is_accessible(self) -> bool {
        self.intersects(VmFlags::ACCESS)
    }
}

/// Page may not be accessed.
pub const PROT_NONE: u32 = 0x0;
/// Page may be read.
pub const PROT_READ: u32 = 0x1;
/// Page may be written.
pub const PROT_WRITE: u32 = 0x2;
/// Page may be executed.
pub const PROT_EXEC: u32 = 0x4;
/// Page may be used for atomic operations (ignored, as on arm64).
pub const PROT_SEM: u32 = 0x8;
/// arm64: branch target identification (not supported here: EINVAL).
pub const PROT_BTI: u32 = 0x10;
/// arm64: memory tagging (not supported here: EINVAL).
pub const PROT_MTE: u32 = 0x20;
/// mprotect: extend the change down to the start of a grows-down VMA.
pub const PROT_GROWSDOWN: u32 = 0x0100_0000;
/// mprotect: extend up (no grows-up VMAs on arm64: EINVAL with GROWSDOWN).
pub const PROT_GROWSUP: u32 = 0x0200_0000;

/// Share changes.
pub const MAP_SHARED: u32 = 0x01;
/// Changes are private (copy-on-write).
pub const MAP_PRIVATE: u32 = 0x02;
/// MAP_SHARED that rejects unknown flags (file mappings only here).
pub const MAP_SHARED_VALIDATE: u32 = 0x03;
/// The mapping-type bits.
pub const MAP_TYPE: u32 = 0x0f;
/// Place exactly at `addr`, replacing what is there.
pub const MAP_FIXED: u32 = 0x10;
/// No file behind the mapping.
pub const MAP_ANONYMOUS: u32 = 0x20;
/// A stack-like segment that grows down.
pub const MAP_GROWSDOWN: u32 = 0x0100;
/// Ignored.
pub const MAP_DENYWRITE: u32 = 0x0800;
/// Ignored.
pub const MAP_EXECUTABLE: u32 = 0x1000;
/// Lock the pages (VM_LOCKED) and populate them.
pub const MAP_LOCKED: u32 = 0x2000;
/// Do not charge the commit.
pub const MAP_NORESERVE: u32 = 0x4000;
/// Fault the pages in now.
pub const MAP_POPULATE: u32 = 0x8000;
/// With MAP_POPULATE: do not block (so: do not populate).
pub const MAP_NONBLOCK: u32 = 0x10000;
/// A hint for a thread stack (ignored, as Linux does).
pub const MAP_STACK: u32 = 0x20000;
/// Huge pages (not supported here: EINVAL).
pub const MAP_HUGETLB: u32 = 0x40000;
/// Like MAP_FIXED, but EEXIST instead of replacing a mapping.
pub const MAP_FIXED_NOREPLACE: u32 = 0x100000;

/// No special treatment.
pub const MADV_NORMAL: i32 = 0;
/// Expect random page references.
pub const MADV_RANDOM: i32 = 1;
/// Expect sequential page references.
pub const MADV_SEQUENTIAL: i32 = 2;
/// Will need these pages.
pub const MADV_WILLNEED: i32 = 3;
/// Do not need these pages: drop them (private anon reads back zeros).
pub const MADV_DONTNEED: i32 = 4;
