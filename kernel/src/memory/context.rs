//! User address-space switching: the machine's ASID allocator and
//! `switch_mm` (Linux's arch/arm64/mm/context.c with
//! arch/arm64/include/asm/mmu_context.h's cpu_switch_mm).
//!
//! ```text
//!   init(asid_bits=)     the width: the CPU's (ID_AA64MMFR0_EL1.ASIDBits),
//!                        or the debug parameter's, clamped; the allocator
//!                        reset; "ASID allocator initialised with N entries"
//!   cpu_init()           on every CPU: TCR_EL1.AS = 1 where 16 bits exist
//!   MmContext            one per user mm (Linux's mm_context_t): the
//!                        generation | ASID id
//!   switch_mm(ctx, pgd)  reserved TTBR0; check_and_switch (mm::asid);
//!                        local TLB flush if the allocator says so; TTBR0 =
//!                        pgd | ASID << 48; isb
//!   flush_tlb_mm/page/range   invalidation by the mm's ASID, on every CPU
//! ```
//!
//! # The switch
//!
//! The CPU first points TTBR0 at the empty reserved table (ASID 0), so
//! that nothing is walked through the old table with the new ASID or the
//! other way round while the allocator decides; then it asks
//! `mm::asid::AsidAllocator::check_and_switch` for the mm's ASID. If a
//! rollover happened since the CPU last switched, every entry in its TLB
//! may be tagged with a recycled ASID, and it invalidates its whole local
//! TLB (`tlbi vmalle1`) before it writes the new TTBR0. One write sets
//! table and ASID together (TCR_EL1.A1 = 0: the ASID comes from TTBR0), an
//! `isb` makes the next instruction use it. With A1 = 0 the single write
//! would suffice; the reserved table in between is Linux's order and
//! keeps a speculative walk from running on a half-decided switch.
//!
//! # The width
//!
//! 16 bits where the CPU has them, else 8, unless `asid_bits=N` (4-16)
//! asks for fewer, to make rollovers frequent for the tests; a width above
//! the CPU's is refused with a warning. Each rollover reserves one ASID per
//! CPU, and ASID 0 is never used, so the width must leave more ASIDs than
//! CPUs + 2; a smaller one is widened with a warning. Only the low bits are
//! handed out; the hardware still compares all 16 (or 8) bits.
//!
//! # After a PTE change
//!
//! Entries of a user mm are non-global (nG) and tagged with its ASID, so
//! a change to a live user PTE is followed by [`flush_tlb_page`] or
//! [`flush_tlb_range`] (break-before-make where the Arm ARM requires it:
//! invalid, flush, new), and a freed page-table page by [`flush_tlb_mm`]
//! (or a `vae1is` per page, which drops walk-cache entries too). An mm
//! that never ran has no ASID and nothing to flush.
//!
//! # Differences from Linux
//!
//! No CnP, no KPTI (so no TTBR1 ASID), no TTBR0 PAN emulation, no pinned
//! ASIDs; ASIDs are never freed one by one (as in Linux: a dead mm's ASID
//! is reclaimed by the next rollover).

use super::pgtable::pa_symbol;
use crate::{pr_info, pr_warn};
use arch::percpu::get_cpu;
use mm::asid::{Asid, AsidAllocator, MAX_ASID_BITS, MmContextId, Switch, WidthAdjust, pick_width, width_fits};
use mm::{PhysAddr, VirtAddr};

/// The machine's allocator; [`init`] gives it its width.
static ASIDS: AsidAllocator = AsidAllocator::new(MAX_ASID_BITS, 1);

/// The ASID state of one user mm (Linux's `mm_context_t`): embed one in
/// each mm and pass it to [`switch_mm`] with the mm's L0 table.
#[derive(Debug, Default)]
pub struct MmContext {
    id: MmContextId,
}

impl MmContext {
    /// A context that has never run (no ASID yet).
    pub const fn new() -> Self {
        Self { id: MmContextId::new() }
    }

    /// The allocator's id (generation | ASID; 0 before the first switch).
    pub fn id(&self) -> &MmContextId {
        &self.id
    }

    /// The ASID the mm last ran with, if it ever ran (it may be of an old
    /// generation: still the one to invalidate by, see [`flush_tlb_mm`]).
    pub fn asid(&self) -> Option<Asid> {
        let raw = self.id.raw();
        (raw != 0).then(|| Asid((raw & (ASIDS.nr_asids() as u64 - 1)) as u16))
    }
}

/// Size the allocator for `nr_cpus` possible CPUs and say so (Linux's
/// asids_init). Runs once, on the boot CPU, before any user mm runs.
pub fn init(asid_bits_param: Option<u8>, nr_cpus: usize) {
    let hw = arch::mmu::asid_bits_supported();
    let (bits, adjust) = pick_width(hw, asid_bits_param.map(u32::from), nr_cpus);
    match adjust {
        Some(WidthAdjust::WiderThanCpu) => pr_warn!("ASID: asid_bits= is wider than the CPU's {hw} bits; using {bits}"),
        Some(WidthAdjust::TooFewForCpus) => {
            pr_warn!("ASID: asid_bits= leaves too few ASIDs for {nr_cpus} CPUs; widened to {bits} bits")
        }
        None => {}
    }
    if ASIDS.reset(bits, nr_cpus).is_err() {
        // Only with more CPUs than even the CPU's width can serve (8 bits,
        // 254+ CPUs): impossible with NR_CPUS, kept as a clear report.
        pr_warn!("ASID: {} bits cannot serve {} CPUs; ASIDs stay at the boot default", bits, nr_cpus);
        return;
    }
    debug_assert!(width_fits(bits, nr_cpus));
    pr_info!("ASID allocator initialised with {} entries", ASIDS.nr_asids());
}

/// This CPU's part (Linux's __cpu_setup for TCR_EL1.AS): 16-bit ASIDs where
/// the CPU has them. Call on every CPU, before its first [`switch_mm`],
/// while it runs kernel threads only.
pub fn cpu_init() {
    cpu_set_reserved_ttbr0();
    // SAFETY: TTBR0 now holds the reserved table with ASID 0, which nothing
    // needs (cpu_enable_16bit_asids' obligation 1).
    unsafe { arch::mmu::cpu_enable_16bit_asids() };
}

/// The machine's allocator (for reports and the self-tests).
pub fn allocator() -> &'static AsidAllocator {
    &ASIDS
}

/// Point TTBR0 at the empty reserved table, ASID 0 (Linux's
/// cpu_set_reserved_ttbr0): for kernel threads (Linux's enter_lazy_tlb
/// leaves the old mm, this drops it) and before a table is freed.
pub fn cpu_set_reserved_ttbr0() {
    // SAFETY: reserved_pg_dir is the head's all-zero, read-only, page-
    // aligned table (obligation 1); kernel code never runs through TTBR0
    // (obligation 2).
    unsafe { arch::mmu::cpu_set_reserved_ttbr0(pa_symbol(boot::sym!(reserved_pg_dir))) };
}

/// Make this CPU run the user mm of `ctx` whose L0 table is at `pgd`
/// (Linux's check_and_switch_context + cpu_switch_mm). Returns what the
/// allocator decided, for tests and tracing.
///
/// # Safety
/// 1. `pgd` is the physical address of a valid L0 table, the only table
///    ever used with `ctx`, and stays valid while any CPU runs it: it is
///    freed only after every CPU switched away and its entries were
///    invalidated by [`flush_tlb_mm`].
/// 2. The caller runs kernel code only until it returns to the user task
///    (nothing of the old TTBR0 is needed).
pub unsafe fn switch_mm(ctx: &MmContext, pgd: PhysAddr) -> Switch {
    // SAFETY: forwarded obligations 1 and 2.
    unsafe { switch_mm_with(&ASIDS, &ctx.id, pgd) }
}

/// [`switch_mm`] over another allocator (the self-tests' narrow ones).
///
/// # Safety
/// As [`switch_mm`], and 3. every CPU that used another allocator's ASIDs
/// since its last full local flush flushes before using this one's (the
/// allocators do not know each other's ASIDs).
pub unsafe fn switch_mm_with(asids: &AsidAllocator, id: &MmContextId, pgd: PhysAddr) -> Switch {
    // Pinned: the decision and the TTBR write concern one CPU.
    let cpu = get_cpu();
    cpu_set_reserved_ttbr0();
    let sw = asids.check_and_switch(id, cpu.cpu());
    if sw.flush_local_tlb {
        arch::tlb::local_flush_tlb_all();
    }
    // SAFETY: 1. `pgd` is valid (the caller's obligation 1); 2. the
    // allocator's rule: no other mm's entry with this ASID survives on
    // this CPU (a rollover's pending flush was just done; within a
    // generation the ASID is this mm's alone; obligation 3 for other
    // allocators); 3. the caller's obligation 2.
    unsafe { arch::mmu::set_ttbr0_asid(pgd, sw.asid) };
    drop(cpu);
    sw
}

/// Invalidate every TLB entry of the mm on every CPU (Linux's
/// flush_tlb_mm: `tlbi aside1is`).
pub fn flush_tlb_mm(ctx: &MmContext) {
    if let Some(asid) = ctx.asid() {
        arch::tlb::flush_tlb_asid(asid);
    }
}

/// Invalidate the mm's translation of the page at `va` on every CPU
/// (Linux's flush_tlb_page), after its PTE changed.
pub fn flush_tlb_page(ctx: &MmContext, va: VirtAddr) {
    if let Some(asid) = ctx.asid() {
        arch::tlb::flush_tlb_page_asid(asid, va);
    }
}

/// Invalidate the mm's translations of `[start, end)` on every CPU
/// (Linux's flush_tlb_range; the whole ASID past 512 pages).
pub fn flush_tlb_range(ctx: &MmContext, start: VirtAddr, end: VirtAddr) {
    if let Some(asid) = ctx.asid() {
        arch::tlb::flush_tlb_range_asid(asid, start, end);
    }
}
