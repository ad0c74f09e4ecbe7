//! Page tables: a generic four-level walker.
//!
//! The kernel translates with the 4 KiB granule and 48-bit virtual addresses,
//! so a walk has four levels, named as Linux names them:
//!
//! ```text
//!   VA bits  47..39   38..30   29..21   20..12   11..0
//!   level    L0 pgd   L1 pud   L2 pmd   L3 pte   offset
//!   leaf     -        1 GiB    2 MiB    4 KiB
//! ```
//!
//! Each table is one 4 KiB page of 512 eight-byte descriptors. This module
//! knows the shape of the tree but not a single descriptor bit: encoding and
//! decoding belong to `arch`, which implements [`PteFormat`]. Where tables live
//! and how they are reached belongs to the caller, which implements
//! [`PgtableMem`]: before the MMU is on the head reaches a table by its
//! physical address; afterwards the kernel reaches it through a virtual alias.
//! The same code therefore builds the first page tables in the head, the
//! fixmap, and (from the next issue on) the linear map.
//!
//! A table is linked into the tree only after the writes that fill it (the
//! zeroes of a fresh table, the leaves of a split block) are ordered before
//! the linking write for the table walker: [`PteFormat::new_table_barrier`]
//! runs between the two (Linux: the `smp_wmb()` in `pmd_install` and
//! `__pte_alloc`, a `dmb ishst` on arm64, and the `dsb(ishst)` after a table
//! is allocated for `__create_pgd_mapping`).
//!
//! Mapping walks down from the root, allocating missing tables, and writes a
//! block descriptor at L1 or L2 when the virtual address, the physical address
//! and the remaining length are all aligned to the block size and the caller
//! allows blocks; otherwise it goes down to L3 pages. An entry that is already
//! valid is never silently replaced: mapping over the same translation is a
//! no-op, anything else is [`Error::Busy`] (unmap first).
//!
//! Unmapping and changing protection work on live entries. The Arm ARM's
//! break-before-make rules ("Using break-before-make when updating
//! translation table entries", D8.16.1 in DDI 0487K) require the sequence
//! for a change of output address, block size, memory type or
//! shareability: the old descriptor is replaced by an invalid one, the TLB
//! entry is invalidated ([`PgtableMem::flush_tlb`], inner-shareable on arm64
//! so every CPU drops it), and only then is the new descriptor written. A
//! change of permissions or of the access flag alone needs no break
//! ([`PteFormat::needs_break`] says which is which, as Linux's
//! `pgattr_change_is_safe` does): the descriptor is rewritten in place and
//! the TLB entry invalidated, so the page never stops translating. A block
//! that the range covers only in part is first split into a table of
//! next-level leaves with every attribute of the block
//! ([`PteFormat::split_leaf`]: memory type, shareability and nG too), linked
//! break-before-make; a tree that cannot afford the moment when the whole
//! block translates nothing refuses the split ([`PgtableMem::may_split`]).
//! Tables emptied by an unmap are kept (as Linux keeps kernel page tables).
//! [`lookup_address`] finds the slot of the descriptor that translates an
//! address (a page slot even when the page is unmapped) without allocating
//! or writing, for a caller that changes one leaf in place on its own
//! terms (the kernel's debug_pagealloc flips linear-map pages' valid bits).
//!
//! Reading the tree for a report ([`PageTable::walk_range`], the walk under
//! Linux's ptdump) hands each valid leaf and each invalid entry to a
//! visitor, with its level and raw descriptor, in address order; it writes
//! nothing, and a visitor that stops it can resume at the entry it stopped on.
//!
//! Locking is the caller's: a `PageTable` is used through `&mut self`, so the
//! kernel keeps it behind a lock and the type system carries the precondition.

use crate::{Error, PAGE_SIZE, PhysAddr, VirtAddr};
use bitflags::bitflags;
use core::marker::PhantomData;
use core::ops::ControlFlow;

/// Descriptors per table.
pub const PTRS_PER_TABLE: usize = 512;
/// Number of translation levels (L0..L3).
pub const LEVELS: usize = 4;
/// The level of the last table (pages).
pub const LAST_LEVEL: usize = LEVELS - 1;

/// log2 of the span of one entry at `level` (39, 30, 21, 12).
#[inline]
pub const fn level_shift(level: usize) -> u32 {
    12 + 9 * (LAST_LEVEL - level) as u32
}

/// Bytes covered by one entry at `level`.
#[inline]
pub const fn level_size(level: usize) -> u64 {
    1 << level_shift(level)
}

/// Index of `va` in the table at `level`.
#[inline]
pub const fn level_index(va: VirtAddr, level: usize) -> usize {
    ((va.0 >> level_shift(level)) as usize) & (PTRS_PER_TABLE - 1)
}

bitflags! {
    /// Architecture-neutral protection of a mapping (Linux's pgprot).
    ///
    /// `arch` turns it into descriptor attributes. Normal cacheable memory is
    /// the default; `DEVICE` and `NONCACHED` pick the other memory types.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct PageProt: u32 {
        /// Readable (every valid mapping is; kept for clarity in callers).
        const READ = 1 << 0;
        /// Writable.
        const WRITE = 1 << 1;
        /// Executable at the privilege level that owns the mapping.
        const EXEC = 1 << 2;
        /// Accessible from user space (EL0).
        const USER = 1 << 3;
        /// Device memory (nGnRE): MMIO registers.
        const DEVICE = 1 << 4;
        /// Normal, non-cacheable memory.
        const NONCACHED = 1 << 5;
        /// A user page that user space may not touch at all (a PROT_NONE
        /// VMA's page, Linux's PAGE_NONE): still a per-ASID translation, so
        /// the page stays mapped for a later mprotect, but no EL0 access
        /// and no execution.
        const USER_NONE = 1 << 6;
    }
}

impl PageProt {
    /// Kernel text: read-only, executable.
    pub const KERNEL_ROX: Self = Self::READ.union(Self::EXEC);
    /// Kernel read-only data.
    pub const KERNEL_RO: Self = Self::READ;
    /// Kernel data: read-write, never executable.
    pub const KERNEL_RW: Self = Self::READ.union(Self::WRITE);
    /// MMIO registers.
    pub const KERNEL_DEVICE: Self = Self::READ.union(Self::WRITE).union(Self::DEVICE);
}

bitflags! {
    /// How a range may be mapped.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct MapFlags: u32 {
        /// Only 4 KiB pages: no L1/L2 block descriptors (per-page permissions,
        /// or ranges whose edges must stay exact).
        const NO_BLOCKS = 1 << 0;
    }
}

/// The descriptor format, implemented by `arch`.
pub trait PteFormat {
    /// The descriptor is valid (a table, block or page).
    fn is_valid(raw: u64) -> bool;
    /// The valid descriptor at `level` points to a next-level table.
    fn is_table(raw: u64, level: usize) -> bool;
    /// The output address of a table, block or page descriptor.
    fn output_addr(raw: u64) -> PhysAddr;
    /// A descriptor pointing to the next-level table at `table`.
    fn mk_table(table: PhysAddr) -> u64;
    /// A leaf at `level` (a page at L3, a block at L1/L2) mapping `pa` with `prot`.
    fn mk_leaf(pa: PhysAddr, prot: PageProt, level: usize) -> u64;
    /// The protection a leaf descriptor grants.
    fn leaf_prot(raw: u64) -> PageProt;
    /// Whether replacing the live leaf `old` by `new` (both valid, same
    /// level) needs break-before-make: true unless the two differ only in
    /// permission or access-flag bits, which may be rewritten in place.
    fn needs_break(old: u64, new: u64) -> bool;
    /// The leaf at `level` mapping `pa` that one piece of the split block
    /// `block` becomes: every attribute of the block (memory type,
    /// shareability, nG, permissions) kept, only the output address and the
    /// block/page encoding changed.
    fn split_leaf(block: u64, pa: PhysAddr, level: usize) -> u64;
    /// Order the writes that filled a new table (zeroes, or a split block's
    /// leaves) before the write of the descriptor that links it, as the
    /// table walker sees them: without it a walker on another CPU (or this
    /// one, speculatively) may follow the new link and read the table's old
    /// contents (on arm64: `dsb ishst`). The walker calls it between
    /// [`PgtableMem::alloc_table`] (or filling a split table) and linking.
    fn new_table_barrier();
}

/// Where page tables live and how to reach them.
///
/// # Safety
/// Implementors promise:
/// 1. for every table address returned by `alloc_table`, and for the root
///    the `PageTable` was created with, `table_ptr` returns a pointer valid
///    for volatile reads and writes of `PTRS_PER_TABLE` `u64`s, for as long as
///    the `PageTable` lives;
/// 2. `alloc_table` returns a page-aligned, zero-filled page that nothing
///    else uses.
pub unsafe trait PgtableMem {
    /// A fresh zeroed table page.
    fn alloc_table(&mut self) -> Result<PhysAddr, Error>;
    /// How the walker reaches the table at `pa`.
    fn table_ptr(&self, pa: PhysAddr) -> *mut u64;
    /// Make the descriptor writes so far visible to the table walker before
    /// the new translations are used (on arm64: `dsb ishst; isb`).
    fn publish(&mut self) {}
    /// Drop every CPU's cached translation of `va` after its descriptor was
    /// invalidated or its permissions changed (on arm64: `dsb ishst; tlbi
    /// vaale1is; dsb ish; isb`).
    fn flush_tlb(&mut self, va: VirtAddr) {
        let _ = va;
    }
    /// Whether the live block at `level` covering `va` may be split. A split
    /// is break-before-make: for a moment the whole block translates
    /// nothing, on every CPU. A tree whose blocks may hold what the
    /// splitting CPU or another CPU needs meanwhile (its tables, code,
    /// stack) says no here, and the walker refuses the change with `Busy`.
    fn may_split(&self, va: VirtAddr, level: usize) -> bool {
        let _ = (va, level);
        true
    }
    /// Give back a table page that [`PageTable::free_tables`] unlinked
    /// (trees that are torn down, the user page tables, implement it; the
    /// kernel's tables are never freed and keep this default).
    fn free_table(&mut self, pa: PhysAddr) {
        let _ = pa;
    }
}

/// When the TLB entries of a changed range are invalidated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flush {
    /// Entry by entry, as each changes (break-before-make).
    Now,
    /// By the caller, later (`unmap_range_noflush`).
    Deferred,
}

/// A translation found by a software walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// The physical address `va` translates to.
    pub pa: PhysAddr,
    /// The level of the leaf (1, 2 or 3).
    pub level: usize,
    /// The protection of the leaf.
    pub prot: PageProt,
    /// The raw leaf descriptor.
    pub raw: u64,
}

/// Where the descriptor for a virtual address lives: the slot
/// [`lookup_address`] stops at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeafSlot {
    /// The table holding the descriptor.
    pub table: PhysAddr,
    /// The descriptor's index in that table.
    pub index: usize,
    /// The table's level: [`LAST_LEVEL`] for a page slot (valid or not);
    /// lower for a block, or for an invalid entry where no next-level table
    /// exists.
    pub level: usize,
    /// The descriptor as it was read.
    pub raw: u64,
}

/// Find the slot of the descriptor that translates `va` in the tree at
/// `root`, reading descriptors with `read(table, index)` (Linux's
/// `lookup_address`). The walk follows table descriptors only and stops at
/// the first entry that is not one: a block, a page, or an invalid entry.
/// So an invalid page descriptor inside an existing last-level table is
/// found at [`LAST_LEVEL`], which is what flipping a page's valid bit in
/// place needs. Nothing is allocated and nothing written; whether the walk
/// may run without the tree's lock is the caller's question (the kernel
/// answers it for its linear map, whose tables never change once built).
pub fn lookup_address<F: PteFormat>(root: PhysAddr, va: VirtAddr, read: impl Fn(PhysAddr, usize) -> u64) -> LeafSlot {
    let mut table = root;
    let mut level = 0;
    loop {
        let index = level_index(va, level);
        let raw = read(table, index);
        if level == LAST_LEVEL || !F::is_valid(raw) || !F::is_table(raw, level) {
            return LeafSlot { table, index, level, raw };
        }
        table = F::output_addr(raw);
        level += 1;
    }
}

/// A tree of page tables rooted at one L0 table.
///
/// # Invariants
/// `root` is a table that `mem` can reach (the `PgtableMem` contract).
pub struct PageTable<F: PteFormat, M: PgtableMem> {
    root: PhysAddr,
    mem: M,
    _format: PhantomData<F>,
}

impl<F: PteFormat, M: PgtableMem> PageTable<F, M> {
    /// Adopt the tree rooted at `root` (an existing or zeroed L0 table).
    ///
    /// # Safety
    /// 1. `root` is a page-table page reachable through `mem.table_ptr`.
    /// 2. Nothing else writes the tree while this `PageTable` lives.
    pub unsafe fn from_root(root: PhysAddr, mem: M) -> Self {
        Self { root, mem, _format: PhantomData }
    }

    /// A new tree with a fresh root from `mem`.
    pub fn new(mut mem: M) -> Result<Self, Error> {
        let root = mem.alloc_table()?;
        Ok(Self { root, mem, _format: PhantomData })
    }

    /// Physical address of the L0 table (what goes into a TTBR).
    pub fn root(&self) -> PhysAddr {
        self.root
    }

    /// The table memory (for example to ask how many pages it used).
    pub fn mem(&self) -> &M {
        &self.mem
    }

    /// The table memory, to change where it takes pages from.
    pub fn mem_mut(&mut self) -> &mut M {
        &mut self.mem
    }

    fn read(&self, table: PhysAddr, idx: usize) -> u64 {
        debug_assert!(idx < PTRS_PER_TABLE);
        // SAFETY: `table` is the root or was returned by `alloc_table`
        // (PgtableMem obligation 1), so the pointer is valid for 512 entries
        // and idx < 512.
        unsafe { self.mem.table_ptr(table).add(idx).read_volatile() }
    }

    fn write(&mut self, table: PhysAddr, idx: usize, raw: u64) {
        debug_assert!(idx < PTRS_PER_TABLE);
        // SAFETY: as in `read`; `&mut self` makes this the only writer
        // (from_root obligation 2).
        unsafe { self.mem.table_ptr(table).add(idx).write_volatile(raw) }
    }

    /// Map `[va, va + size)` to `[pa, pa + size)` with `prot`.
    ///
    /// All three must be page-aligned. Fails with `Busy` if any page of the
    /// range is already mapped differently; on failure the pages mapped
    /// before the conflict stay mapped.
    pub fn map_range(
        &mut self,
        va: VirtAddr,
        pa: PhysAddr,
        size: u64,
        prot: PageProt,
        flags: MapFlags,
    ) -> Result<(), Error> {
        if !va.is_aligned(PAGE_SIZE) || !pa.is_aligned(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        if size == 0 {
            return Ok(());
        }
        va.checked_add(size - 1).ok_or(Error::InvalidArgument)?;
        pa.checked_add(size - 1).ok_or(Error::InvalidArgument)?;
        let root = self.root;
        let res = self.map_level(root, 0, va, pa, size, prot, flags);
        self.mem.publish();
        res
    }

    #[allow(clippy::too_many_arguments)]
    fn map_level(
        &mut self,
        table: PhysAddr,
        level: usize,
        mut va: VirtAddr,
        mut pa: PhysAddr,
        mut size: u64,
        prot: PageProt,
        flags: MapFlags,
    ) -> Result<(), Error> {
        let span = level_size(level);
        while size > 0 {
            let idx = level_index(va, level);
            // Bytes from va to the end of this entry's span.
            let in_entry = span - (va.0 & (span - 1));
            let chunk = in_entry.min(size);
            let old = self.read(table, idx);
            let block_ok = level == LAST_LEVEL
                || (level >= 1 && !flags.contains(MapFlags::NO_BLOCKS) && chunk == span && pa.is_aligned(span));
            if block_ok {
                let new = F::mk_leaf(pa, prot, level);
                if F::is_valid(old) && old != new {
                    return Err(Error::Busy);
                }
                if old != new {
                    self.write(table, idx, new);
                }
            } else {
                let next = if F::is_valid(old) {
                    if !F::is_table(old, level) {
                        return Err(Error::Busy);
                    }
                    F::output_addr(old)
                } else {
                    let t = self.mem.alloc_table()?;
                    // The zeroes must reach the walker before the link does.
                    F::new_table_barrier();
                    self.write(table, idx, F::mk_table(t));
                    t
                };
                self.map_level(next, level + 1, va, pa, chunk, prot, flags)?;
            }
            va = VirtAddr(va.0.wrapping_add(chunk));
            pa = PhysAddr(pa.0.wrapping_add(chunk));
            size -= chunk;
        }
        Ok(())
    }

    /// Replace the live entry at `table[idx]` (mapping `va`) by `new`,
    /// break-before-make.
    fn replace_live(&mut self, table: PhysAddr, idx: usize, va: VirtAddr, new: u64) {
        self.write(table, idx, 0);
        self.mem.flush_tlb(va);
        if new != 0 {
            self.write(table, idx, new);
        }
    }

    /// Split the block at `table[idx]` (level `level`, covering `block_va`)
    /// into a next-level table of leaves with the same attributes.
    fn split_block(
        &mut self,
        table: PhysAddr,
        idx: usize,
        level: usize,
        block_va: VirtAddr,
    ) -> Result<PhysAddr, Error> {
        if !self.mem.may_split(block_va, level) {
            return Err(Error::Busy);
        }
        let old = self.read(table, idx);
        let pa = F::output_addr(old);
        let next = self.mem.alloc_table()?;
        let step = level_size(level + 1);
        for i in 0..PTRS_PER_TABLE {
            self.write(next, i, F::split_leaf(old, pa + i as u64 * step, level + 1));
        }
        // The new leaves must reach the walker before the link does.
        F::new_table_barrier();
        self.replace_live(table, idx, block_va, F::mk_table(next));
        Ok(next)
    }

    /// Unmap `[va, va + size)`. Pages not mapped are skipped; a block the
    /// range covers in part is split first. Returns the number of leaf
    /// entries removed.
    pub fn unmap_range(&mut self, va: VirtAddr, size: u64) -> Result<usize, Error> {
        self.update_range(va, size, None, Flush::Now)
    }

    /// Unmap `[va, va + size)` without invalidating any TLB entry (Linux's
    /// `vunmap_range_noflush`): the descriptors become invalid, but a CPU
    /// may keep using a cached translation until the caller flushes the
    /// range. Only for ranges whose virtual addresses are not reused before
    /// that flush (vmalloc's lazy purge guarantees it). Blocks are never
    /// split here: a block the range covers in part is `Busy`.
    pub fn unmap_range_noflush(&mut self, va: VirtAddr, size: u64) -> Result<usize, Error> {
        self.update_range(va, size, None, Flush::Deferred)
    }

    /// Change the protection of every mapped page in `[va, va + size)`: in
    /// place when only permissions change, break-before-make when the memory
    /// type (or any other attribute) does. Returns the number of leaf
    /// entries changed.
    pub fn change_prot(&mut self, va: VirtAddr, size: u64, prot: PageProt) -> Result<usize, Error> {
        self.update_range(va, size, Some(prot), Flush::Now)
    }

    fn update_range(&mut self, va: VirtAddr, size: u64, prot: Option<PageProt>, flush: Flush) -> Result<usize, Error> {
        if !va.is_aligned(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        if size == 0 {
            return Ok(0);
        }
        va.checked_add(size - 1).ok_or(Error::InvalidArgument)?;
        let root = self.root;
        let res = self.update_level(root, 0, va, size, prot, flush);
        self.mem.publish();
        res
    }

    fn update_level(
        &mut self,
        table: PhysAddr,
        level: usize,
        mut va: VirtAddr,
        mut size: u64,
        prot: Option<PageProt>,
        flush: Flush,
    ) -> Result<usize, Error> {
        let span = level_size(level);
        let mut changed = 0;
        while size > 0 {
            let idx = level_index(va, level);
            let in_entry = span - (va.0 & (span - 1));
            let chunk = in_entry.min(size);
            let entry_va = va.align_down(span);
            let raw = self.read(table, idx);
            if F::is_valid(raw) {
                if level < LAST_LEVEL && F::is_table(raw, level) {
                    changed += self.update_level(F::output_addr(raw), level + 1, va, chunk, prot, flush)?;
                } else if chunk == span && flush == Flush::Deferred {
                    // Unmap only (prot is None): clear, flush later.
                    self.write(table, idx, 0);
                    changed += 1;
                } else if chunk == span {
                    let new = match prot {
                        None => 0,
                        Some(p) => F::mk_leaf(F::output_addr(raw), p, level),
                    };
                    if new != raw {
                        if new != 0 && !F::needs_break(raw, new) {
                            // Permissions only: rewrite in place, then drop
                            // the stale (more or less permissive) TLB entry.
                            self.write(table, idx, new);
                            self.mem.flush_tlb(entry_va);
                        } else {
                            self.replace_live(table, idx, entry_va, new);
                        }
                        changed += 1;
                    }
                } else if flush == Flush::Deferred {
                    return Err(Error::Busy);
                } else {
                    let next = self.split_block(table, idx, level, entry_va)?;
                    changed += self.update_level(next, level + 1, va, chunk, prot, flush)?;
                }
            }
            va = VirtAddr(va.0.wrapping_add(chunk));
            size -= chunk;
        }
        Ok(changed)
    }

    /// The slot of the descriptor translating `va` ([`lookup_address`] on
    /// this tree).
    pub fn lookup(&self, va: VirtAddr) -> LeafSlot {
        lookup_address::<F>(self.root, va, |table, idx| self.read(table, idx))
    }

    /// Walk the tables in software, as the hardware would for `va`.
    pub fn translate(&self, va: VirtAddr) -> Option<Translation> {
        let mut table = self.root;
        for level in 0..LEVELS {
            let raw = self.read(table, level_index(va, level));
            if !F::is_valid(raw) {
                return None;
            }
            if level < LAST_LEVEL && F::is_table(raw, level) {
                table = F::output_addr(raw);
                continue;
            }
            let offset = va.0 & (level_size(level) - 1);
            return Some(Translation { pa: F::output_addr(raw) + offset, level, prot: F::leaf_prot(raw), raw });
        }
        None
    }
}

/// The slot of one last-level descriptor (a page table entry), found by
/// [`PageTable::pte_alloc`] or [`PageTable::pte_lookup`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PteSlot {
    /// The last-level table holding it.
    pub table: PhysAddr,
    /// Its index in that table.
    pub index: usize,
}

/// Page-granular access for trees whose every leaf is a page (user
/// address spaces: Linux's pte_offset_map / pte_alloc / set_pte_at). The
/// caller owns the descriptor protocol: what it writes, and the
/// break-before-make and TLB maintenance a change needs.
impl<F: PteFormat, M: PgtableMem> PageTable<F, M> {
    /// The page slot for `va`, allocating the missing tables on the way
    /// down (Linux's `__pte_alloc` under `handle_mm_fault`). A block in the
    /// way is `Busy`; out of table memory is `NoMemory`, with the tables
    /// allocated so far left linked (empty, reused by the next walk).
    pub fn pte_alloc(&mut self, va: VirtAddr) -> Result<PteSlot, Error> {
        let mut table = self.root;
        for level in 0..LAST_LEVEL {
            let idx = level_index(va, level);
            let raw = self.read(table, idx);
            table = if !F::is_valid(raw) {
                let t = self.mem.alloc_table()?;
                F::new_table_barrier();
                self.write(table, idx, F::mk_table(t));
                t
            } else if F::is_table(raw, level) {
                F::output_addr(raw)
            } else {
                return Err(Error::Busy);
            };
        }
        Ok(PteSlot { table, index: level_index(va, LAST_LEVEL) })
    }

    /// The page slot for `va` if its last-level table exists.
    pub fn pte_lookup(&self, va: VirtAddr) -> Option<PteSlot> {
        let mut table = self.root;
        for level in 0..LAST_LEVEL {
            let raw = self.read(table, level_index(va, level));
            if !F::is_valid(raw) || !F::is_table(raw, level) {
                return None;
            }
            table = F::output_addr(raw);
        }
        Some(PteSlot { table, index: level_index(va, LAST_LEVEL) })
    }

    /// The descriptor in `slot`.
    pub fn pte_read(&self, slot: PteSlot) -> u64 {
        self.read(slot.table, slot.index)
    }

    /// Write `raw` into `slot`. The caller did what the change needs first
    /// (an invalid entry in between and a TLB flush, for break-before-make)
    /// and publishes afterwards.
    pub fn pte_write(&mut self, slot: PteSlot, raw: u64) {
        self.write(slot.table, slot.index, raw);
    }

    /// Call `f(va, slot, raw)` for every valid page descriptor in
    /// `[va, va + size)`, in address order, skipping missing tables
    /// (Linux's `zap_pte_range` / `copy_pte_range` loops). `f` may rewrite
    /// the slot it is given through the `&mut Self` it receives.
    pub fn for_each_pte(&mut self, va: VirtAddr, size: u64, f: &mut impl FnMut(&mut Self, VirtAddr, PteSlot, u64)) {
        let end = va.0.saturating_add(size);
        let mut at = va.0 & !(PAGE_SIZE - 1);
        while at < end {
            // Skip a whole missing table at the highest level it is missing.
            let mut table = self.root;
            let mut missing = None;
            for level in 0..LAST_LEVEL {
                let raw = self.read(table, level_index(VirtAddr(at), level));
                if !F::is_valid(raw) || !F::is_table(raw, level) {
                    missing = Some(level);
                    break;
                }
                table = F::output_addr(raw);
            }
            if let Some(level) = missing {
                let span = level_size(level);
                at = match (at & !(span - 1)).checked_add(span) {
                    Some(n) => n,
                    None => return,
                };
                continue;
            }
            let first = level_index(VirtAddr(at), LAST_LEVEL);
            for index in first..PTRS_PER_TABLE {
                if at >= end {
                    return;
                }
                let slot = PteSlot { table, index };
                let raw = self.read(table, index);
                if F::is_valid(raw) {
                    f(self, VirtAddr(at), slot, raw);
                }
                at += PAGE_SIZE;
            }
        }
    }

    /// Unlink and free every table below the root whose span lies wholly
    /// in `[va, va + size)` and holds no valid page any more (Linux's
    /// `free_pgtables` after an unmap). The caller flushed the TLB for the
    /// range (a walker may cache table entries too: it flushes again, by
    /// ASID, when this returns non-zero). Returns the number freed.
    pub fn free_empty_tables(&mut self, va: VirtAddr, size: u64) -> usize {
        let root = self.root;
        let end = va.0.saturating_add(size);
        self.free_empty_level(root, 0, 0, va.0, end).1
    }

    /// For the table at `level` whose span starts at `base`: (it holds no
    /// valid entry any more, tables freed below it). Only a table whose
    /// whole span lies in `[start, end)` can be freed, so only such a table
    /// is scanned whole (its emptiness decides); of any other, only the
    /// entries that overlap the range are looked at, and a last-level one
    /// not at all. Unmapping one page thus reads one entry per level, not
    /// every entry of four tables.
    fn free_empty_level(&mut self, table: PhysAddr, level: usize, base: u64, start: u64, end: u64) -> (bool, usize) {
        let span = level_size(level);
        let table_last = base + (span * PTRS_PER_TABLE as u64 - 1);
        let lo = start.max(base);
        let hi = end.saturating_sub(1).min(table_last);
        if start >= end || lo > hi {
            return (false, 0);
        }
        let whole = base >= start && table_last < end;
        if !whole && level == LAST_LEVEL {
            return (false, 0);
        }
        let first = ((lo - base) / span) as usize;
        let last = ((hi - base) / span) as usize;
        let mut freed = 0;
        let mut empty = true;
        for idx in first..=last {
            let raw = self.read(table, idx);
            if !F::is_valid(raw) {
                continue;
            }
            let entry_start = base + idx as u64 * span;
            let entry_last = entry_start + (span - 1);
            if level < LAST_LEVEL && F::is_table(raw, level) {
                let (child_empty, n) = self.free_empty_level(F::output_addr(raw), level + 1, entry_start, start, end);
                freed += n;
                if child_empty && entry_start >= start && entry_last < end {
                    self.write(table, idx, 0);
                    self.mem.free_table(F::output_addr(raw));
                    freed += 1;
                    continue;
                }
            }
            empty = false;
        }
        (whole && empty, freed)
    }

    /// Tear the tree down: free every table, the root last (an exiting
    /// process's page tables). Leaves are not looked at: the caller has
    /// released what they mapped and made sure no CPU walks this tree any
    /// more (TTBR0 switched away, the ASID's entries flushed or retired).
    pub fn free_tables(mut self) -> usize {
        let root = self.root;
        let n = self.free_level(root, 0);
        self.mem.free_table(root);
        n + 1
    }

    fn free_level(&mut self, table: PhysAddr, level: usize) -> usize {
        let mut n = 0;
        if level == LAST_LEVEL {
            return 0;
        }
        for idx in 0..PTRS_PER_TABLE {
            let raw = self.read(table, idx);
            if F::is_valid(raw) && F::is_table(raw, level) {
                let child = F::output_addr(raw);
                n += self.free_level(child, level + 1);
                self.mem.free_table(child);
                n += 1;
            }
        }
        n
    }
}

/// One entry met by [`PageTable::walk_range`]: what decides the
/// translation of the span starting at `va`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PtEntry {
    /// A valid leaf at `level`: a block at L1/L2, a page at L3.
    Leaf {
        /// Start of the entry's span, or of the walked range if that is later.
        va: VirtAddr,
        /// The level of the entry (0..=3).
        level: usize,
        /// The raw descriptor, for the caller's `arch` to decode.
        raw: u64,
    },
    /// An invalid entry at `level`: nothing is mapped in its span.
    Hole {
        /// Start of the entry's span, or of the walked range if that is later.
        va: VirtAddr,
        /// The level of the entry (0..=3).
        level: usize,
    },
}

impl PtEntry {
    /// Where the entry's part of the walked range starts.
    pub fn va(&self) -> VirtAddr {
        match *self {
            PtEntry::Leaf { va, .. } | PtEntry::Hole { va, .. } => va,
        }
    }

    /// The entry's level.
    pub fn level(&self) -> usize {
        match *self {
            PtEntry::Leaf { level, .. } | PtEntry::Hole { level, .. } => level,
        }
    }
}

/// The read-only walk (Linux's walk_page_range_novma as ptdump uses it).
impl<F: PteFormat, M: PgtableMem> PageTable<F, M> {
    /// Visit, in address order, every entry that decides the translation of
    /// some part of `[va, va + size)`: each valid leaf and each invalid
    /// entry (a hole, reported once at the level where the walk met it, as
    /// Linux's `pte_hole` is), never a table descriptor. The walk writes
    /// nothing and allocates nothing. `size` may run to the top of the
    /// address space (`va + size == 2^64`).
    ///
    /// The visitor may stop the walk by returning `Break`; the walk then
    /// returns that `Break` at once. An entry's `va` is the start of its
    /// span (or `va`, for the first one), so a caller that stops before
    /// consuming an entry resumes by walking again from that entry's `va`.
    pub fn walk_range<B>(
        &self,
        va: VirtAddr,
        size: u64,
        visit: &mut impl FnMut(PtEntry) -> ControlFlow<B>,
    ) -> Result<ControlFlow<B>, Error> {
        if !va.is_aligned(PAGE_SIZE) || !size.is_multiple_of(PAGE_SIZE) {
            return Err(Error::InvalidArgument);
        }
        if size == 0 {
            return Ok(ControlFlow::Continue(()));
        }
        va.checked_add(size - 1).ok_or(Error::InvalidArgument)?;
        Ok(self.walk_level(self.root, 0, va, size, visit))
    }

    fn walk_level<B>(
        &self,
        table: PhysAddr,
        level: usize,
        mut va: VirtAddr,
        mut size: u64,
        visit: &mut impl FnMut(PtEntry) -> ControlFlow<B>,
    ) -> ControlFlow<B> {
        let span = level_size(level);
        while size > 0 {
            let in_entry = span - (va.0 & (span - 1));
            let chunk = in_entry.min(size);
            let raw = self.read(table, level_index(va, level));
            if !F::is_valid(raw) {
                visit(PtEntry::Hole { va, level })?;
            } else if level < LAST_LEVEL && F::is_table(raw, level) {
                self.walk_level(F::output_addr(raw), level + 1, va, chunk, visit)?;
            } else {
                visit(PtEntry::Leaf { va, level, raw })?;
            }
            va = VirtAddr(va.0.wrapping_add(chunk));
            size -= chunk;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// A toy descriptor format: bit 0 valid, bit 1 table (or page at L3),
    /// bits 2..8 the protection, the address in 12..48.
    struct Toy;
    impl PteFormat for Toy {
        fn is_valid(raw: u64) -> bool {
            raw & 1 != 0
        }
        fn is_table(raw: u64, level: usize) -> bool {
            level < LAST_LEVEL && raw & 2 != 0
        }
        fn output_addr(raw: u64) -> PhysAddr {
            PhysAddr(raw & 0x0000_ffff_ffff_f000)
        }
        fn mk_table(t: PhysAddr) -> u64 {
            t.0 | 3
        }
        fn mk_leaf(pa: PhysAddr, prot: PageProt, level: usize) -> u64 {
            pa.0 | 1 | if level == LAST_LEVEL { 2 } else { 0 } | ((prot.bits() as u64) << 2)
        }
        fn leaf_prot(raw: u64) -> PageProt {
            PageProt::from_bits_truncate(((raw >> 2) & 0x3f) as u32)
        }
        fn new_table_barrier() {
            BARRIERS.with(|b| b.set(b.get() + 1));
        }
        /// Bits 2..6 (READ, WRITE, EXEC, USER) are permissions; DEVICE and
        /// NONCACHED (bits 6, 7) and the extra attributes (bits 8..12, which
        /// stand for shareability and nG) are not.
        fn needs_break(old: u64, new: u64) -> bool {
            (old ^ new) & !(0xf << 2) != 0
        }
        fn split_leaf(block: u64, pa: PhysAddr, level: usize) -> u64 {
            (block & !(0x0000_ffff_ffff_f000 | 2)) | pa.0 | if level == LAST_LEVEL { 2 } else { 0 }
        }
    }

    /// Toy attribute bits outside the protection (shareability, nG).
    const TOY_EXTRA: u64 = 0b1011 << 8;

    std::thread_local! {
        /// How many times this thread's walker called `new_table_barrier`.
        static BARRIERS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }

    fn barriers() -> u64 {
        BARRIERS.with(|b| b.get())
    }

    /// Tables in a Vec; "physical" address = 0x1000 * (index + 1).
    struct Arena {
        pages: RefCell<Vec<Box<[u64; 512]>>>,
        limit: usize,
        flushes: RefCell<Vec<VirtAddr>>,
        freed: RefCell<Vec<PhysAddr>>,
    }
    impl Arena {
        fn new(limit: usize) -> Self {
            Self {
                pages: RefCell::new(Vec::new()),
                limit,
                flushes: RefCell::new(Vec::new()),
                freed: RefCell::new(Vec::new()),
            }
        }
    }
    // SAFETY: every address handed out indexes a live boxed page of 512 u64;
    // boxes never move while the Vec grows; pages are zeroed and unique.
    unsafe impl PgtableMem for &Arena {
        fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
            let mut p = self.pages.borrow_mut();
            if p.len() >= self.limit {
                return Err(Error::NoMemory);
            }
            p.push(Box::new([0; 512]));
            Ok(PhysAddr(0x1000 * p.len() as u64))
        }
        fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
            let idx = (pa.0 / 0x1000 - 1) as usize;
            self.pages.borrow_mut()[idx].as_mut_ptr()
        }
        fn flush_tlb(&mut self, va: VirtAddr) {
            self.flushes.borrow_mut().push(va);
        }
        fn free_table(&mut self, pa: PhysAddr) {
            let mut f = self.freed.borrow_mut();
            assert!(!f.contains(&pa), "table {pa:?} freed twice");
            f.push(pa);
        }
    }

    /// Records every flush and checks, at the moment of the flush, that the
    /// flushed address no longer translates: the "break" came before the
    /// TLB invalidation, and the "make" has not happened yet.
    struct Recorder {
        inner: Arena,
        root: std::cell::Cell<PhysAddr>,
        events: RefCell<Vec<(u64, u64, u64)>>, // flush = (u64::MAX, va, 1 if va still translated)
    }

    impl Recorder {
        /// A 64-page arena, no root yet, nothing recorded.
        fn new() -> Self {
            Recorder {
                inner: Arena::new(64),
                root: std::cell::Cell::new(PhysAddr(0)),
                events: RefCell::new(Vec::new()),
            }
        }
    }

    fn toy_walk(a: &Arena, root: PhysAddr, va: VirtAddr) -> bool {
        let mut table = root;
        for level in 0..LEVELS {
            let raw = arena_read(a, table, level_index(va, level));
            if !Toy::is_valid(raw) {
                return false;
            }
            if level < LAST_LEVEL && Toy::is_table(raw, level) {
                table = Toy::output_addr(raw);
            } else {
                return true;
            }
        }
        false
    }

    fn arena_read(a: &Arena, table: PhysAddr, idx: usize) -> u64 {
        a.pages.borrow()[(table.0 / 0x1000 - 1) as usize][idx]
    }
    // SAFETY: delegates to Arena, which upholds the contract.
    unsafe impl PgtableMem for &Recorder {
        fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
            (&self.inner).alloc_table()
        }
        fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
            (&self.inner).table_ptr(pa)
        }
        fn flush_tlb(&mut self, va: VirtAddr) {
            let still_mapped = toy_walk(&self.inner, self.root.get(), va);
            self.events.borrow_mut().push((u64::MAX, va.0, still_mapped as u64));
        }
    }

    /// Snapshot every table, to diff after an operation.
    fn snapshot(a: &Arena) -> Vec<[u64; 512]> {
        a.pages.borrow().iter().map(|p| **p).collect()
    }

    const KVA: u64 = 0xffff_8000_8000_0000;

    #[test]
    fn level_geometry() {
        assert_eq!(level_shift(0), 39);
        assert_eq!(level_shift(3), 12);
        assert_eq!(level_size(1), 1 << 30);
        let va = VirtAddr(KVA + (3 << 21) + (5 << 12));
        assert_eq!(level_index(va, 0), 256);
        assert_eq!(level_index(va, 1), 2);
        assert_eq!(level_index(va, 2), 3);
        assert_eq!(level_index(va, 3), 5);
    }

    #[test]
    fn pages_translate_and_unmapped_is_none() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        pt.map_range(VirtAddr(KVA), PhysAddr(0x4020_0000), 3 * PAGE_SIZE, PageProt::KERNEL_RO, MapFlags::empty())
            .unwrap();
        let t = pt.translate(VirtAddr(KVA + 0x1234)).unwrap();
        assert_eq!(t.pa, PhysAddr(0x4020_1234));
        assert_eq!(t.level, 3);
        assert_eq!(t.prot, PageProt::KERNEL_RO);
        assert!(pt.translate(VirtAddr(KVA + 3 * PAGE_SIZE)).is_none());
        assert!(pt.translate(VirtAddr(KVA - PAGE_SIZE)).is_none());
        // root + L1 + L2 + L3
        assert_eq!(a.pages.borrow().len(), 4);
    }

    #[test]
    fn blocks_used_when_aligned_and_allowed() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        // 1 GiB + 2 MiB + 4 KiB starting at a 1 GiB-aligned pair.
        let size = (1 << 30) + (2 << 20) + PAGE_SIZE;
        pt.map_range(
            VirtAddr(0xffff_0000_4000_0000),
            PhysAddr(0x4000_0000),
            size,
            PageProt::KERNEL_RW,
            MapFlags::empty(),
        )
        .unwrap();
        assert_eq!(pt.translate(VirtAddr(0xffff_0000_4000_0000)).unwrap().level, 1);
        assert_eq!(pt.translate(VirtAddr(0xffff_0000_8000_0000)).unwrap().level, 2);
        let last = pt.translate(VirtAddr(0xffff_0000_8020_0000)).unwrap();
        assert_eq!((last.level, last.pa), (3, PhysAddr(0x8020_0000)));
        // Misaligned physical address: no blocks possible.
        let b = Arena::new(64);
        let mut pt2 = PageTable::<Toy, _>::new(&b).unwrap();
        pt2.map_range(
            VirtAddr(0xffff_0000_4000_0000),
            PhysAddr(0x4000_1000),
            2 << 20,
            PageProt::KERNEL_RW,
            MapFlags::empty(),
        )
        .unwrap();
        assert_eq!(pt2.translate(VirtAddr(0xffff_0000_4000_0000)).unwrap().level, 3);
        // NO_BLOCKS forces pages even when aligned.
        let c = Arena::new(64);
        let mut pt3 = PageTable::<Toy, _>::new(&c).unwrap();
        pt3.map_range(VirtAddr(KVA), PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS).unwrap();
        assert_eq!(pt3.translate(VirtAddr(KVA + 0x1f_f000)).unwrap().level, 3);
    }

    #[test]
    fn remap_same_is_ok_conflict_is_busy() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        let va = VirtAddr(KVA);
        pt.map_range(va, PhysAddr(0x1000_0000), PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        pt.map_range(va, PhysAddr(0x1000_0000), PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        assert_eq!(
            pt.map_range(va, PhysAddr(0x2000_0000), PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::empty()),
            Err(Error::Busy)
        );
        assert_eq!(
            pt.map_range(va, PhysAddr(0x1000_0000), PAGE_SIZE, PageProt::KERNEL_RO, MapFlags::empty()),
            Err(Error::Busy)
        );
        // A block in the way of a page mapping is Busy too, not split.
        pt.map_range(VirtAddr(KVA + (2 << 20)), PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW, MapFlags::empty())
            .unwrap();
        assert_eq!(
            pt.map_range(
                VirtAddr(KVA + (2 << 20)),
                PhysAddr(0x4000_0000),
                PAGE_SIZE,
                PageProt::KERNEL_RW,
                MapFlags::empty()
            ),
            Err(Error::Busy)
        );
    }

    #[test]
    fn unmap_noflush_clears_without_flushing_and_never_splits() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        pt.map_range(VirtAddr(KVA), PhysAddr(0x4000_0000), 4 * PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS)
            .unwrap();
        assert_eq!(pt.unmap_range_noflush(VirtAddr(KVA), 3 * PAGE_SIZE), Ok(3));
        assert!(a.flushes.borrow().is_empty(), "the caller flushes later");
        assert!(pt.translate(VirtAddr(KVA + 2 * PAGE_SIZE)).is_none());
        assert!(pt.translate(VirtAddr(KVA + 3 * PAGE_SIZE)).is_some());
        // A 2 MiB block cut in part is refused, untouched.
        let blk = KVA + (1 << 30);
        pt.map_range(VirtAddr(blk), PhysAddr(0x8000_0000), 1 << 21, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        assert_eq!(pt.unmap_range_noflush(VirtAddr(blk), PAGE_SIZE), Err(Error::Busy));
        assert_eq!(pt.translate(VirtAddr(blk)).unwrap().level, 2);
        assert_eq!(pt.unmap_range_noflush(VirtAddr(blk), 1 << 21), Ok(1));
        assert!(a.flushes.borrow().is_empty());
    }

    #[test]
    fn unmap_pages_and_skip_holes() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        pt.map_range(VirtAddr(KVA), PhysAddr(0x4000_0000), 4 * PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::empty())
            .unwrap();
        // Unmap pages 1..3 plus two unmapped pages beyond the end.
        assert_eq!(pt.unmap_range(VirtAddr(KVA + PAGE_SIZE), 5 * PAGE_SIZE), Ok(3));
        assert!(pt.translate(VirtAddr(KVA)).is_some());
        for i in 1..4 {
            assert!(pt.translate(VirtAddr(KVA + i * PAGE_SIZE)).is_none());
        }
        // Every removed page was flushed.
        let f = a.flushes.borrow();
        assert_eq!(&f[..], &[VirtAddr(KVA + PAGE_SIZE), VirtAddr(KVA + 2 * PAGE_SIZE), VirtAddr(KVA + 3 * PAGE_SIZE)]);
        drop(f);
        // And can be mapped again differently.
        pt.map_range(
            VirtAddr(KVA + PAGE_SIZE),
            PhysAddr(0x5000_0000),
            PAGE_SIZE,
            PageProt::KERNEL_RO,
            MapFlags::empty(),
        )
        .unwrap();
        assert_eq!(pt.translate(VirtAddr(KVA + PAGE_SIZE)).unwrap().pa, PhysAddr(0x5000_0000));
    }

    /// Flushes recorded by a Recorder: (va, whether va still translated).
    fn recorded_flushes(r: &Recorder) -> Vec<(u64, bool)> {
        r.events.borrow().iter().filter(|e| e.0 == u64::MAX).map(|e| (e.1, e.2 != 0)).collect()
    }

    #[test]
    fn permission_change_is_in_place_with_tlb_flush() {
        let r = Recorder::new();
        let mut pt = PageTable::<Toy, _>::new(&r).unwrap();
        r.root.set(pt.root());
        pt.map_range(VirtAddr(KVA), PhysAddr(0x4000_0000), 2 * PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::empty())
            .unwrap();
        let before = snapshot(&r.inner);
        assert_eq!(pt.change_prot(VirtAddr(KVA), 2 * PAGE_SIZE, PageProt::KERNEL_RO), Ok(2));
        assert_eq!(pt.translate(VirtAddr(KVA + PAGE_SIZE)).unwrap().prot, PageProt::KERNEL_RO);
        // One flush per page, and the page never stopped translating: the
        // descriptor was rewritten in place, not broken.
        assert_eq!(recorded_flushes(&r), vec![(KVA, true), (KVA + PAGE_SIZE, true)]);
        // Same protection again: nothing to do, no flush.
        let n = r.events.borrow().len();
        assert_eq!(pt.change_prot(VirtAddr(KVA), 2 * PAGE_SIZE, PageProt::KERNEL_RO), Ok(0));
        assert_eq!(r.events.borrow().len(), n);
        // The tables changed in exactly two slots.
        let after = snapshot(&r.inner);
        let diffs: usize =
            before.iter().zip(&after).map(|(b, a)| b.iter().zip(a).filter(|(x, y)| x != y).count()).sum();
        assert_eq!(diffs, 2);
    }

    #[test]
    fn memory_type_change_is_break_before_make() {
        let r = Recorder::new();
        let mut pt = PageTable::<Toy, _>::new(&r).unwrap();
        r.root.set(pt.root());
        pt.map_range(VirtAddr(KVA), PhysAddr(0x4000_0000), 2 * PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::empty())
            .unwrap();
        assert_eq!(pt.change_prot(VirtAddr(KVA), 2 * PAGE_SIZE, PageProt::KERNEL_DEVICE), Ok(2));
        assert_eq!(pt.translate(VirtAddr(KVA)).unwrap().prot, PageProt::KERNEL_DEVICE);
        // Each flush ran while its page translated nothing: broken first.
        assert_eq!(recorded_flushes(&r), vec![(KVA, false), (KVA + PAGE_SIZE, false)]);
        // Unmapping is always a break.
        assert_eq!(pt.unmap_range(VirtAddr(KVA), PAGE_SIZE), Ok(1));
        assert_eq!(recorded_flushes(&r).last(), Some(&(KVA, false)));
    }

    #[test]
    fn split_keeps_every_block_attribute() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        let va = VirtAddr(0xffff_0000_4000_0000);
        pt.map_range(va, PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW | PageProt::NONCACHED, MapFlags::empty())
            .unwrap();
        let t = pt.translate(va).unwrap();
        assert_eq!(t.level, 2);
        // Give the block attributes mk_leaf never sets (as nG and
        // shareability are for arm64 kernel mappings).
        let (table, idx) = find_leaf_slot(&a, pt.root(), va);
        a.pages.borrow_mut()[(table.0 / 0x1000 - 1) as usize][idx] = t.raw | TOY_EXTRA;
        assert_eq!(pt.unmap_range(va + 0x3000, PAGE_SIZE), Ok(1));
        for off in [0u64, 0x2000, 0x4000, 0x1f_f000] {
            let p = pt.translate(va + off).unwrap();
            assert_eq!(p.level, 3);
            assert_eq!(p.pa, PhysAddr(0x4000_0000 + off));
            assert_eq!(p.prot, PageProt::KERNEL_RW | PageProt::NONCACHED, "memory type lost at {off:#x}");
            assert_eq!(p.raw & TOY_EXTRA, TOY_EXTRA, "shareability/nG lost at {off:#x}");
        }
    }

    /// The table and index holding the leaf that maps `va`.
    fn find_leaf_slot(a: &Arena, root: PhysAddr, va: VirtAddr) -> (PhysAddr, usize) {
        let mut table = root;
        for level in 0..LEVELS {
            let raw = arena_read(a, table, level_index(va, level));
            if level < LAST_LEVEL && Toy::is_table(raw, level) {
                table = Toy::output_addr(raw);
            } else {
                return (table, level_index(va, level));
            }
        }
        unreachable!()
    }

    #[test]
    fn lookup_address_finds_slots_without_allocating_or_writing() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        let rw = PageProt::KERNEL_RW;
        let block = VirtAddr(0xffff_0000_4000_0000);
        pt.map_range(block, PhysAddr(0x4000_0000), 2 << 20, rw, MapFlags::empty()).unwrap();
        pt.map_range(VirtAddr(KVA), PhysAddr(0x5000_0000), 4 * PAGE_SIZE, rw, MapFlags::NO_BLOCKS).unwrap();
        assert_eq!(pt.unmap_range(VirtAddr(KVA + PAGE_SIZE), PAGE_SIZE), Ok(1));
        let (tables, before) = (a.pages.borrow().len(), snapshot(&a));
        // A page: its L3 slot, the descriptor translate() sees.
        let page = VirtAddr(KVA + 2 * PAGE_SIZE);
        let s = pt.lookup(page);
        assert_eq!((s.level, s.index), (LAST_LEVEL, level_index(page, LAST_LEVEL)));
        assert_eq!(s.raw, pt.translate(page).unwrap().raw);
        assert_eq!((s.table, s.index), find_leaf_slot(&a, pt.root(), page));
        // An unmapped page of an existing L3 table keeps its slot.
        let hole = VirtAddr(KVA + PAGE_SIZE);
        let h = pt.lookup(hole);
        assert_eq!((h.level, h.table, h.index, h.raw), (LAST_LEVEL, s.table, s.index - 1, 0));
        // Inside a block: the block's L2 slot, for every page of it.
        for off in [0, 0x1000, 0x1f_f000] {
            let b = pt.lookup(block + off);
            assert_eq!((b.level, b.raw), (2, pt.translate(block).unwrap().raw));
        }
        // Where no table exists: the invalid entry above the missing table.
        let far = pt.lookup(VirtAddr(KVA + (1 << 30)));
        assert_eq!((far.level, far.raw), (1, 0));
        let none = pt.lookup(VirtAddr(0xffff_ff80_0000_0000));
        assert_eq!((none.level, none.table, none.raw), (0, pt.root(), 0));
        // The free function, over the same reads, agrees.
        let read = |t: PhysAddr, i: usize| arena_read(&a, t, i);
        assert_eq!(lookup_address::<Toy>(pt.root(), page, read), s);
        // Nothing allocated, nothing written.
        assert_eq!(a.pages.borrow().len(), tables);
        assert_eq!(snapshot(&a), before);
    }

    /// Refuses to split any block.
    struct NoSplit(Arena);
    // SAFETY: delegates to Arena, which upholds the contract.
    unsafe impl PgtableMem for &NoSplit {
        fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
            (&self.0).alloc_table()
        }
        fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
            (&self.0).table_ptr(pa)
        }
        fn flush_tlb(&mut self, va: VirtAddr) {
            self.0.flushes.borrow_mut().push(va);
        }
        fn may_split(&self, _va: VirtAddr, _level: usize) -> bool {
            false
        }
    }

    #[test]
    fn a_block_that_may_not_split_is_left_whole() {
        let n = NoSplit(Arena::new(64));
        let mut pt = PageTable::<Toy, _>::new(&n).unwrap();
        let va = VirtAddr(0xffff_0000_4000_0000);
        pt.map_range(va, PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        let tables = n.0.pages.borrow().len();
        let before = snapshot(&n.0);
        assert_eq!(pt.unmap_range(va + 0x1000, PAGE_SIZE), Err(Error::Busy));
        assert_eq!(pt.change_prot(va, PAGE_SIZE, PageProt::KERNEL_RO), Err(Error::Busy));
        // Nothing allocated, nothing written, nothing flushed.
        assert_eq!(n.0.pages.borrow().len(), tables);
        assert_eq!(snapshot(&n.0), before);
        assert!(n.0.flushes.borrow().is_empty());
        // The whole block can still change: no split needed.
        assert_eq!(pt.change_prot(va, 2 << 20, PageProt::KERNEL_RO), Ok(1));
        assert_eq!(pt.translate(va + 0x1000).unwrap().prot, PageProt::KERNEL_RO);
    }

    #[test]
    fn partial_unmap_splits_block_with_same_attributes() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        let va = VirtAddr(0xffff_0000_4000_0000);
        pt.map_range(va, PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        assert_eq!(pt.translate(va).unwrap().level, 2);
        // Unmap one page in the middle of the 2 MiB block.
        assert_eq!(pt.unmap_range(va + 0x10_0000, PAGE_SIZE), Ok(1));
        assert!(pt.translate(va + 0x10_0000).is_none());
        for off in [0u64, 0xf_f000, 0x10_1000, 0x1f_f000] {
            let t = pt.translate(va + off).unwrap();
            assert_eq!((t.level, t.pa, t.prot), (3, PhysAddr(0x4000_0000 + off), PageProt::KERNEL_RW));
        }
        // The block was broken (flushed) before the table went in, then the page flushed.
        assert_eq!(&a.flushes.borrow()[..], &[va, va + 0x10_0000]);
        // The same through the recorder: no flush while the block still maps.
        let r = Recorder::new();
        let mut rpt = PageTable::<Toy, _>::new(&r).unwrap();
        r.root.set(rpt.root());
        rpt.map_range(va, PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        rpt.unmap_range(va + 0x10_0000, PAGE_SIZE).unwrap();
        assert_eq!(r.events.borrow().len(), 2);
        assert!(r.events.borrow().iter().all(|e| e.2 == 0), "a TLB flush ran while the old entry was still live");
        // A 1 GiB block split twice down to a page.
        let b = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&b).unwrap();
        pt.map_range(va, PhysAddr(0x4000_0000), 1 << 30, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        assert_eq!(pt.change_prot(va + (5 << 20), PAGE_SIZE, PageProt::KERNEL_RO), Ok(1));
        assert_eq!(pt.translate(va + (5 << 20)).unwrap().prot, PageProt::KERNEL_RO);
        assert_eq!(pt.translate(va + (5 << 20) + PAGE_SIZE).unwrap().prot, PageProt::KERNEL_RW);
        assert_eq!(pt.translate(va + (7 << 20)).unwrap().level, 2);
        assert_eq!(pt.translate(va + (700 << 20)).unwrap().pa, PhysAddr(0x4000_0000 + (700 << 20)));
    }

    #[test]
    fn bad_arguments_and_exhaustion() {
        let a = Arena::new(3);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        let rw = PageProt::KERNEL_RW;
        assert_eq!(
            pt.map_range(VirtAddr(KVA + 1), PhysAddr(0), PAGE_SIZE, rw, MapFlags::empty()),
            Err(Error::InvalidArgument)
        );
        assert_eq!(pt.map_range(VirtAddr(KVA), PhysAddr(0), 100, rw, MapFlags::empty()), Err(Error::InvalidArgument));
        assert_eq!(
            pt.map_range(VirtAddr(u64::MAX - 0xfff), PhysAddr(0), 2 * PAGE_SIZE, rw, MapFlags::empty()),
            Err(Error::InvalidArgument)
        );
        // root + 2 more tables allowed: the L3 table cannot be had.
        assert_eq!(pt.map_range(VirtAddr(KVA), PhysAddr(0), PAGE_SIZE, rw, MapFlags::empty()), Err(Error::NoMemory));
    }

    /// Checks, at every call the walker makes into it, that no table is
    /// linked into the tree unless a `new_table_barrier` ran after the table
    /// was allocated (or, for a split, filled): the zeroes or leaves were
    /// ordered before the link.
    struct Ordered {
        inner: Arena,
        root: std::cell::Cell<PhysAddr>,
        /// (table, barrier count when it was handed out or split into)
        born: RefCell<Vec<(PhysAddr, u64)>>,
        checks: std::cell::Cell<usize>,
    }

    impl Ordered {
        fn new() -> Self {
            Self {
                inner: Arena::new(64),
                root: std::cell::Cell::new(PhysAddr(0)),
                born: RefCell::new(Vec::new()),
                checks: std::cell::Cell::new(0),
            }
        }
        fn linked_tables(&self, table: PhysAddr, level: usize, out: &mut Vec<PhysAddr>) {
            for i in 0..PTRS_PER_TABLE {
                let raw = arena_read(&self.inner, table, i);
                if Toy::is_valid(raw) && Toy::is_table(raw, level) {
                    out.push(Toy::output_addr(raw));
                    self.linked_tables(Toy::output_addr(raw), level + 1, out);
                }
            }
        }
        fn check(&self) {
            if self.root.get() == PhysAddr(0) {
                return;
            }
            let mut linked = Vec::new();
            self.linked_tables(self.root.get(), 0, &mut linked);
            let now = barriers();
            for t in linked {
                let born = self.born.borrow().iter().rev().find(|b| b.0 == t).map(|b| b.1);
                let born = born.expect("a linked table the fake never handed out");
                assert!(now > born, "table {t:?} linked with no barrier since it was filled");
            }
            self.checks.set(self.checks.get() + 1);
        }
    }

    // SAFETY: delegates to Arena, which upholds the contract.
    unsafe impl PgtableMem for &Ordered {
        fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
            self.check();
            let t = (&self.inner).alloc_table()?;
            self.born.borrow_mut().push((t, barriers()));
            Ok(t)
        }
        fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
            (&self.inner).table_ptr(pa)
        }
        fn publish(&mut self) {
            self.check();
        }
        fn flush_tlb(&mut self, _va: VirtAddr) {
            self.check();
        }
    }

    #[test]
    fn new_tables_are_ordered_before_their_link() {
        let o = Ordered::new();
        let mut pt = PageTable::<Toy, _>::new(&o).unwrap();
        o.root.set(pt.root());
        let b0 = barriers();
        // Four levels of fresh tables, then a second L3 table under the same L2.
        pt.map_range(VirtAddr(KVA), PhysAddr(0x4000_0000), PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        pt.map_range(
            VirtAddr(KVA + (2 << 20)),
            PhysAddr(0x4000_0000),
            PAGE_SIZE,
            PageProt::KERNEL_RW,
            MapFlags::empty(),
        )
        .unwrap();
        // L1, L2, L3, and the second L3: one barrier each.
        assert_eq!(barriers() - b0, 4);
        o.check();
        // A split: the table of leaves is filled, then linked.
        let va = VirtAddr(0xffff_0000_4000_0000);
        pt.map_range(va, PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        let b1 = barriers();
        let tables = o.inner.pages.borrow().len();
        pt.unmap_range(va + 0x1000, PAGE_SIZE).unwrap();
        assert_eq!(o.inner.pages.borrow().len(), tables + 1);
        // One barrier for the split table, checked at the break's flush
        // and at the publish after the link.
        assert_eq!(barriers() - b1, 1);
        o.check();
        assert!(o.checks.get() >= 8, "the fake was hardly consulted ({} checks)", o.checks.get());
    }

    /// Every entry of a walk, in order.
    fn walk_all(pt: &PageTable<Toy, &Arena>, va: u64, size: u64) -> Vec<PtEntry> {
        let mut seen = Vec::new();
        let r = pt.walk_range(VirtAddr(va), size, &mut |e| {
            seen.push(e);
            ControlFlow::<()>::Continue(())
        });
        assert_eq!(r, Ok(ControlFlow::Continue(())));
        seen
    }

    #[test]
    fn walk_reports_leaves_and_holes_in_order() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        let base = 0xffff_0000_4000_0000u64;
        // A 2 MiB block, then (after a 2 MiB hole) two pages.
        pt.map_range(VirtAddr(base), PhysAddr(0x4000_0000), 2 << 20, PageProt::KERNEL_RW, MapFlags::empty()).unwrap();
        let pages = base + (4 << 20);
        pt.map_range(VirtAddr(pages), PhysAddr(0x9000_0000), 2 * PAGE_SIZE, PageProt::KERNEL_ROX, MapFlags::empty())
            .unwrap();
        let seen = walk_all(&pt, base, 6 << 20);
        let block = pt.translate(VirtAddr(base)).unwrap().raw;
        let p0 = pt.translate(VirtAddr(pages)).unwrap().raw;
        let p1 = pt.translate(VirtAddr(pages + PAGE_SIZE)).unwrap().raw;
        let mut want = vec![
            PtEntry::Leaf { va: VirtAddr(base), level: 2, raw: block },
            PtEntry::Hole { va: VirtAddr(base + (2 << 20)), level: 2 },
            PtEntry::Leaf { va: VirtAddr(pages), level: 3, raw: p0 },
            PtEntry::Leaf { va: VirtAddr(pages + PAGE_SIZE), level: 3, raw: p1 },
        ];
        // The rest of the L3 table: one hole per empty page entry.
        for i in 2..512 {
            want.push(PtEntry::Hole { va: VirtAddr(pages + i * PAGE_SIZE), level: 3 });
        }
        assert_eq!(seen, want);
        // The spans tile the range exactly.
        let mut next = base;
        for e in &seen {
            assert_eq!(e.va().0, next);
            next += level_size(e.level());
        }
        assert_eq!(next, base + (6 << 20));
        // Nothing was written or allocated.
        assert_eq!(a.pages.borrow().len(), 4);
    }

    #[test]
    fn walk_of_an_empty_tree_is_holes_at_the_top_level_to_the_end() {
        let a = Arena::new(64);
        let pt = PageTable::<Toy, _>::new(&a).unwrap();
        // The upper half: 256 top-level entries, up to 2^64 exactly.
        let seen = walk_all(&pt, 0xffff_8000_0000_0000, 0x8000_0000_0000);
        assert_eq!(seen.len(), 256);
        assert!(seen.iter().all(|e| matches!(e, PtEntry::Hole { level: 0, .. })));
        assert_eq!(seen.last().unwrap().va(), VirtAddr(0xffff_ff80_0000_0000));
        // A range starting inside an entry reports that entry from the range's start.
        let seen = walk_all(&pt, KVA + PAGE_SIZE, PAGE_SIZE);
        assert_eq!(seen, vec![PtEntry::Hole { va: VirtAddr(KVA + PAGE_SIZE), level: 0 }]);
        // Bad ranges.
        let mut v = |_e: PtEntry| ControlFlow::<()>::Continue(());
        assert_eq!(pt.walk_range(VirtAddr(KVA + 1), PAGE_SIZE, &mut v), Err(Error::InvalidArgument));
        assert_eq!(pt.walk_range(VirtAddr(KVA), 100, &mut v), Err(Error::InvalidArgument));
        assert_eq!(pt.walk_range(VirtAddr(u64::MAX - 0xfff), 2 * PAGE_SIZE, &mut v), Err(Error::InvalidArgument));
        assert_eq!(pt.walk_range(VirtAddr(KVA), 0, &mut v), Ok(ControlFlow::Continue(())));
    }

    #[test]
    fn walk_stops_at_break_and_resumes_from_the_entry() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, _>::new(&a).unwrap();
        pt.map_range(VirtAddr(KVA), PhysAddr(0x4000_0000), 8 * PAGE_SIZE, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS)
            .unwrap();
        let whole = walk_all(&pt, KVA, 4 << 20);
        // Stop before consuming every 5th entry, then resume from it.
        let mut pieces = Vec::new();
        let mut from = KVA;
        let mut n = 0;
        loop {
            let r = pt.walk_range(VirtAddr(from), KVA + (4 << 20) - from, &mut |e| {
                n += 1;
                if n % 5 == 0 {
                    return ControlFlow::Break(e.va());
                }
                pieces.push(e);
                ControlFlow::Continue(())
            });
            match r.unwrap() {
                ControlFlow::Break(va) => from = va.0,
                ControlFlow::Continue(()) => break,
            }
        }
        assert_eq!(pieces, whole);
        assert!(n > whole.len(), "the walk never stopped");
    }
    const UVA: u64 = 0x0000_0040_0000;

    #[test]
    fn pte_alloc_lookup_read_write() {
        let a = Arena::new(16);
        let mut pt = PageTable::<Toy, &Arena>::new(&a).unwrap();
        assert_eq!(pt.pte_lookup(VirtAddr(UVA)), None);
        let slot = pt.pte_alloc(VirtAddr(UVA)).unwrap();
        assert_eq!(a.pages.borrow().len(), 4, "root + three tables");
        assert_eq!(pt.pte_lookup(VirtAddr(UVA)), Some(slot));
        assert_eq!(pt.pte_read(slot), 0);
        let leaf = Toy::mk_leaf(PhysAddr(0x9000), PageProt::READ | PageProt::USER, LAST_LEVEL);
        pt.pte_write(slot, leaf);
        assert_eq!(pt.translate(VirtAddr(UVA + 5)).unwrap().pa, PhysAddr(0x9005));
        // The neighbour shares the tables.
        let next = pt.pte_alloc(VirtAddr(UVA + PAGE_SIZE)).unwrap();
        assert_eq!((next.table, next.index), (slot.table, slot.index + 1));
        assert_eq!(a.pages.borrow().len(), 4);
        // A block in the way is Busy.
        pt.map_range(VirtAddr(0x4000_0000), PhysAddr(0x4000_0000), 1 << 30, PageProt::READ, MapFlags::empty()).unwrap();
        assert_eq!(pt.pte_alloc(VirtAddr(0x4000_1000)), Err(Error::Busy));
    }

    #[test]
    fn for_each_pte_visits_valid_pages_in_order_and_skips_missing_tables() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, &Arena>::new(&a).unwrap();
        let vas = [UVA, UVA + 3 * PAGE_SIZE, UVA + (2 << 20), 0x7f_0000_0000, 0xffff_ffff_f000];
        for (i, &va) in vas.iter().enumerate() {
            let slot = pt.pte_alloc(VirtAddr(va)).unwrap();
            pt.pte_write(slot, Toy::mk_leaf(PhysAddr(0x1000 * (i as u64 + 1)), PageProt::READ, LAST_LEVEL));
        }
        let mut seen = Vec::new();
        pt.for_each_pte(VirtAddr(0), 1 << 48, &mut |_, va, _, raw| seen.push((va.0, Toy::output_addr(raw).0)));
        let want: Vec<(u64, u64)> = vas.iter().enumerate().map(|(i, &v)| (v, 0x1000 * (i as u64 + 1))).collect();
        assert_eq!(seen, want);
        // A sub-range, and rewriting through the callback.
        let mut n = 0;
        pt.for_each_pte(VirtAddr(UVA + PAGE_SIZE), 3 * PAGE_SIZE, &mut |pt, _, slot, _| {
            pt.pte_write(slot, 0);
            n += 1;
        });
        assert_eq!(n, 1);
        assert!(pt.translate(VirtAddr(UVA + 3 * PAGE_SIZE)).is_none());
        assert!(pt.translate(VirtAddr(UVA)).is_some());
    }

    #[test]
    fn free_empty_tables_frees_only_wholly_covered_empty_tables() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, &Arena>::new(&a).unwrap();
        let keep = pt.pte_alloc(VirtAddr(UVA)).unwrap();
        pt.pte_write(keep, Toy::mk_leaf(PhysAddr(0x5000), PageProt::READ, LAST_LEVEL));
        // Another 2 MiB region in the same L2 table, emptied again.
        let gone = pt.pte_alloc(VirtAddr(UVA + (2 << 20))).unwrap();
        assert_eq!(pt.free_empty_tables(VirtAddr(UVA + (2 << 20)), 1 << 20), 0, "half a table is not freed");
        assert_eq!(pt.free_empty_tables(VirtAddr(UVA + (2 << 20)), 2 << 20), 1);
        assert_eq!(a.freed.borrow().as_slice(), &[gone.table]);
        assert_eq!(pt.pte_lookup(VirtAddr(UVA + (2 << 20))), None);
        assert_eq!(pt.pte_lookup(VirtAddr(UVA)), Some(keep));
        // A table still mapping a page stays, whatever the range.
        assert_eq!(pt.free_empty_tables(VirtAddr(0), 1 << 48), 0);
        pt.pte_write(keep, 0);
        assert_eq!(pt.free_empty_tables(VirtAddr(0), 1 << 48), 3, "pte, pmd and pud tables; never the root");
        assert_eq!(pt.free_tables(), 1);
        assert_eq!(a.freed.borrow().len(), 5);
    }

    /// The scan before the fix that bounds it, kept as the model: every
    /// entry of every table that overlaps the range is read.
    fn free_empty_level_model(
        pt: &mut PageTable<Toy, &Arena>,
        table: PhysAddr,
        level: usize,
        base: u64,
        start: u64,
        end: u64,
    ) -> (bool, usize) {
        let span = level_size(level);
        let (mut freed, mut empty) = (0, true);
        for idx in 0..PTRS_PER_TABLE {
            let raw = pt.read(table, idx);
            if !Toy::is_valid(raw) {
                continue;
            }
            let entry_start = base + idx as u64 * span;
            let entry_last = entry_start + (span - 1);
            if level < LAST_LEVEL && Toy::is_table(raw, level) && entry_start < end && entry_last >= start {
                let (child_empty, n) =
                    free_empty_level_model(pt, Toy::output_addr(raw), level + 1, entry_start, start, end);
                freed += n;
                if child_empty && entry_start >= start && entry_last < end {
                    pt.write(table, idx, 0);
                    pt.mem.free_table(Toy::output_addr(raw));
                    freed += 1;
                    continue;
                }
            }
            empty = false;
        }
        (empty, freed)
    }

    #[test]
    fn free_empty_tables_matches_the_full_scan_on_random_trees() {
        let mut rng = crate::test_support::Rng(0x9e37_79b9_7f4a_7c15);
        for _round in 0..200 {
            let (a, b) = (Arena::new(4096), Arena::new(4096));
            let mut pa = PageTable::<Toy, &Arena>::new(&a).unwrap();
            let mut pb = PageTable::<Toy, &Arena>::new(&b).unwrap();
            // Pages clustered in a few 1 GiB regions, some of them unmapped
            // again (their tables stay until a free_empty_tables).
            let regions: Vec<u64> = (0..3).map(|_| (rng.next() % 1024) << 30).collect();
            let mut vas = Vec::new();
            for _ in 0..40 {
                let r = regions[(rng.next() % 3) as usize];
                let va = r + (rng.next() % (1 << 30)) / PAGE_SIZE * PAGE_SIZE;
                let (sa, sb) = (pa.pte_alloc(VirtAddr(va)).unwrap(), pb.pte_alloc(VirtAddr(va)).unwrap());
                let keep = !rng.next().is_multiple_of(3);
                let leaf = if keep { Toy::mk_leaf(PhysAddr(0x10_0000), PageProt::READ, LAST_LEVEL) } else { 0 };
                pa.pte_write(sa, leaf);
                pb.pte_write(sb, leaf);
                vas.push(va);
            }
            for _ in 0..6 {
                let va = vas[(rng.next() % vas.len() as u64) as usize];
                let start = va.saturating_sub(rng.next() % (8 << 30)) / PAGE_SIZE * PAGE_SIZE;
                let size = [PAGE_SIZE, 2 << 20, 1 << 30, rng.next() % (4 << 30), 1 << 48][(rng.next() % 5) as usize];
                let end = start.saturating_add(size).min(1 << 48);
                let got = pa.free_empty_tables(VirtAddr(start), end - start);
                let root = pb.root;
                let (_, want) = free_empty_level_model(&mut pb, root, 0, 0, start, end);
                assert_eq!(got, want, "tables freed in [{start:#x}, {end:#x})");
                assert_eq!(a.freed.borrow().as_slice(), b.freed.borrow().as_slice());
            }
            for &va in &vas {
                assert_eq!(pa.pte_lookup(VirtAddr(va)).is_some(), pb.pte_lookup(VirtAddr(va)).is_some());
            }
        }
    }

    #[test]
    fn free_tables_frees_every_table_once() {
        let a = Arena::new(64);
        let mut pt = PageTable::<Toy, &Arena>::new(&a).unwrap();
        for va in [UVA, UVA + (1 << 30), 0x7fff_ffff_f000, 0x1234_5600_0000] {
            pt.pte_alloc(VirtAddr(va)).unwrap();
        }
        let allocated = a.pages.borrow().len();
        assert_eq!(pt.free_tables(), allocated);
        assert_eq!(a.freed.borrow().len(), allocated);
    }
}
