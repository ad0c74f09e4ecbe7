//! ASID allocation with generations, after Linux's arch/arm64/mm/context.c.
//!
//! An address-space identifier tags every non-global TLB entry, so a CPU
//! may switch between user address spaces without invalidating its TLB:
//! the entries of the mm it left stay cached under that mm's ASID and are
//! simply not used by the next one. The hardware offers 8 or 16 bits of
//! ASID; there may be many more address spaces than that, so ASIDs are
//! recycled in *generations*.
//!
//! # The data structures
//!
//! ```text
//!   generation (atomic)     a multiple of 2^bits, starting at 2^bits;
//!                           bumped by 2^bits at every rollover
//!   MmContextId (per mm)    generation | asid  (0: never had one)
//!   active[cpu] (atomic)    the id the CPU runs now; 0 after a rollover
//!                           until the CPU next takes the slow path
//!   under the lock:
//!     map                   one bit per ASID handed out in this generation
//!     reserved[cpu]         the id each CPU was running at the last rollover
//!     flush_pending         CPUs that must flush their TLB before they use
//!                           an ASID of the new generation
//!     cur_idx               where the search for a free ASID resumes
//! ```
//!
//! ASID 0 is never handed out: every CPU runs with ASID 0 before its first
//! user mm (its `active` and `reserved` are 0, so the rollover marks bit 0
//! too) and the search starts at 1. A kernel thread and the switch itself
//! run on the empty reserved table with ASID 0.
//!
//! # The fast path
//!
//! [`AsidAllocator::check_and_switch`] reads the mm's id. If its generation
//! is the current one and the CPU's `active` slot is not 0, one
//! compare-and-swap of `active` from its old value to the mm's id is the
//! whole switch: no lock, no flush. The compare-and-swap races with a
//! rollover on another CPU, which exchanges every `active` for 0; exactly
//! one of the two wins. If the rollover won, the CPU goes the slow way; if
//! the switch won, the rollover sees the new id and reserves it.
//!
//! # The slow path (under the lock)
//!
//! The mm's id is read again (another CPU may have renewed it). If it is
//! stale, `new_context` gives it one of the current generation: its old
//! ASID if a CPU had it reserved (the mm was running somewhere at the
//! rollover: its entries on that CPU are its own, so it keeps the number)
//! or if the number is still free in this generation; otherwise the next
//! free number after `cur_idx`. When the numbers run out, the generation
//! is bumped and `flush_context` starts over: the map is cleared, every
//! CPU's running id (its `active`, or its `reserved` if it has not switched
//! since the last rollover) is reserved and marked in the map, and every
//! CPU is marked as needing a local TLB flush. Then, still under the lock,
//! if this CPU's flush is pending the switch reports `flush_local_tlb`, and
//! the CPU's `active` is set to the new id.
//!
//! Why a local flush is enough: an ASID of the new generation may have
//! belonged to a different mm in the last one, and any CPU may still hold
//! that mm's entries. Each CPU drops them the first time it switches in
//! the new generation, before it uses any new-generation ASID; until then
//! it runs its reserved id, whose entries are its own mm's.
//!
//! # Lock order
//!
//! One spin lock, taken with interrupts off by the kernel (it is taken on
//! the context-switch path), and nothing taken under it.
//!
//! # Differences from Linux
//!
//! * No pinned ASIDs (Linux pins some for SVA devices) and no KPTI pairs
//!   (Linux halves the space to give each mm a kernel ASID too).
//! * The width is a constructor argument, so tests and the kernel's debug
//!   parameter may make it tiny; Linux's is fixed by the CPU.
//! * ASIDs are never freed one by one, exactly as in Linux: a dead mm's
//!   number stays marked until the next rollover clears the map. There is
//!   therefore no `release`; dropping an [`MmContextId`] is enough.
//! * [`Switch`] reports the flush instead of doing it: `mm` names no
//!   instruction. The caller flushes before it writes the new TTBR0.

use crate::config::NR_CPUS;
use crate::error::Error;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use spin::Mutex;

/// The widest ASID the architecture has (ID_AA64MMFR0_EL1.ASIDBits = 0b0010).
pub const MAX_ASID_BITS: u32 = 16;
/// The narrowest width accepted (the debug parameter's lower bound).
pub const MIN_ASID_BITS: u32 = 2;
const MAP_WORDS: usize = (1 << MAX_ASID_BITS) / 64;

const _: () = assert!(NR_CPUS <= 64, "flush_pending is one u64");

/// An address-space identifier as the hardware sees it (TTBR0_EL1[63:48]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Asid(pub u16);

/// The per-mm context id (Linux's `mm->context.id`): generation | ASID, 0
/// until the mm first runs.
#[derive(Debug, Default)]
pub struct MmContextId(AtomicU64);

impl MmContextId {
    /// An id that has never had an ASID.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// The raw generation | ASID value (0: none yet).
    pub fn raw(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What a CPU must do to run an mm (the result of
/// [`AsidAllocator::check_and_switch`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The ASID to put in TTBR0 with the mm's table.
    pub asid: Asid,
    /// The generation the ASID belongs to (a multiple of 2^bits).
    pub generation: u64,
    /// The CPU must invalidate its whole local TLB before it uses `asid`:
    /// there was a rollover since it last switched.
    pub flush_local_tlb: bool,
}

/// One CPU's running id, alone on its cache line (every CPU writes its own
/// on each switch).
#[repr(align(64))]
struct ActiveAsid(AtomicU64);

struct AsidState {
    map: [u64; MAP_WORDS],
    reserved: [u64; NR_CPUS],
    flush_pending: u64,
    cur_idx: usize,
    nr_cpus: usize,
}

/// The ASID allocator of one machine (Linux's globals in context.c).
///
/// # Invariants
/// * `generation` is a non-zero multiple of `2^bits`.
/// * Within one generation no two mm ids carry the same ASID.
/// * `2^bits - 1 > nr_cpus`: after a rollover has reserved one ASID per
///   CPU, a free one is left.
pub struct AsidAllocator {
    bits: AtomicU32,
    generation: AtomicU64,
    rollovers: AtomicU64,
    active: [ActiveAsid; NR_CPUS],
    state: Mutex<AsidState>,
}

/// Whether `(bits, nr_cpus)` leaves a free ASID after a rollover.
pub const fn width_fits(bits: u32, nr_cpus: usize) -> bool {
    bits >= MIN_ASID_BITS
        && bits <= MAX_ASID_BITS
        && nr_cpus >= 1
        && nr_cpus <= NR_CPUS
        && (1usize << bits) - 1 > nr_cpus
}

/// Why [`pick_width`] did not take the width asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WidthAdjust {
    /// Wider than the CPU's ASIDs: the CPU's width instead.
    WiderThanCpu,
    /// Too few ASIDs for the CPUs (a rollover must leave more than two
    /// free): widened until there are enough.
    TooFewForCpus,
}

/// The width to run with: the CPU's `hw_bits`, or `asked` (a debug
/// parameter) when narrower, widened until more ASIDs than `nr_cpus` + 2
/// exist (never past the CPU's). Says what it changed.
pub fn pick_width(hw_bits: u32, asked: Option<u32>, nr_cpus: usize) -> (u32, Option<WidthAdjust>) {
    let mut adjust = None;
    let mut bits = match asked {
        Some(a) if a > hw_bits => {
            adjust = Some(WidthAdjust::WiderThanCpu);
            hw_bits
        }
        Some(a) => a.max(MIN_ASID_BITS),
        None => hw_bits,
    };
    while bits < hw_bits && (1usize << bits) <= nr_cpus + 2 {
        bits += 1;
        adjust = Some(WidthAdjust::TooFewForCpus);
    }
    (bits, adjust)
}

impl AsidAllocator {
    /// An allocator of `bits`-wide ASIDs for `nr_cpus` CPUs (numbered
    /// `0..nr_cpus`).
    ///
    /// Panics (at compile time in a `static`) unless [`width_fits`]; the
    /// kernel checks its parameter first and uses [`Self::reset`].
    pub const fn new(bits: u32, nr_cpus: usize) -> Self {
        assert!(width_fits(bits, nr_cpus), "ASID width leaves no free ASID after a rollover");
        Self {
            bits: AtomicU32::new(bits),
            generation: AtomicU64::new(1 << bits),
            rollovers: AtomicU64::new(0),
            active: [const { ActiveAsid(AtomicU64::new(0)) }; NR_CPUS],
            state: Mutex::new(AsidState {
                map: [0; MAP_WORDS],
                reserved: [0; NR_CPUS],
                flush_pending: 0,
                cur_idx: 1,
                nr_cpus,
            }),
        }
    }

    /// Start over with another width or CPU count (the kernel's boot-time
    /// configuration; the self-tests' private allocators). No CPU may be
    /// switching concurrently. Ids handed out before stay safe to use: the
    /// new generation lies above all of them, so each gets a fresh ASID at
    /// its next switch, and every CPU is told to flush its TLB first.
    pub fn reset(&self, bits: u32, nr_cpus: usize) -> Result<(), Error> {
        if !width_fits(bits, nr_cpus) {
            return Err(Error::InvalidArgument);
        }
        let mut st = self.state.lock();
        let old_bits = self.bits.load(Ordering::Relaxed);
        let above = self.generation.load(Ordering::Relaxed) + (1 << old_bits);
        let generation = above.next_multiple_of(1 << bits);
        self.bits.store(bits, Ordering::Relaxed);
        self.generation.store(generation, Ordering::Relaxed);
        for a in &self.active {
            a.0.store(0, Ordering::Relaxed);
        }
        st.map.fill(0);
        st.reserved.fill(0);
        st.flush_pending = (1u64 << nr_cpus) - 1;
        st.cur_idx = 1;
        st.nr_cpus = nr_cpus;
        Ok(())
    }

    /// The ASID width in bits.
    pub fn bits(&self) -> u32 {
        self.bits.load(Ordering::Relaxed)
    }

    /// ASIDs in the space, ASID 0 included (Linux's NUM_USER_ASIDS).
    pub fn nr_asids(&self) -> usize {
        1 << self.bits()
    }

    /// The current generation (a multiple of 2^bits).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Rollovers since boot (or since the allocator was made).
    pub fn rollovers(&self) -> u64 {
        self.rollovers.load(Ordering::Relaxed)
    }

    /// The id `cpu` runs now (0: none, or not switched since a rollover).
    pub fn active_id(&self, cpu: usize) -> u64 {
        self.active[cpu].0.load(Ordering::Relaxed)
    }

    fn asid_mask(&self) -> u64 {
        (1 << self.bits()) - 1
    }

    fn gen_matches(&self, id: u64) -> bool {
        (id ^ self.generation.load(Ordering::Relaxed)) >> self.bits() == 0
    }

    fn split(&self, id: u64) -> (Asid, u64) {
        let mask = self.asid_mask();
        (Asid((id & mask) as u16), id & !mask)
    }

    /// Give `ctx` an ASID of the current generation for `cpu` and make it
    /// that CPU's running id (Linux's check_and_switch_context, less the
    /// TTBR write). The caller must stay on `cpu` until it has acted on
    /// the result (flushed if told, written TTBR0).
    pub fn check_and_switch(&self, ctx: &MmContextId, cpu: usize) -> Switch {
        let id = ctx.0.load(Ordering::Relaxed);
        let old_active = self.active[cpu].0.load(Ordering::Relaxed);
        // Fast path: the CAS fails if a rollover zeroed `active` meanwhile.
        if old_active != 0
            && self.gen_matches(id)
            && self.active[cpu].0.compare_exchange(old_active, id, Ordering::AcqRel, Ordering::Relaxed).is_ok()
        {
            let (asid, generation) = self.split(id);
            return Switch { asid, generation, flush_local_tlb: false };
        }

        let mut st = self.state.lock();
        debug_assert!(cpu < st.nr_cpus, "CPU{cpu} beyond the allocator's {} CPUs", st.nr_cpus);
        let mut id = ctx.0.load(Ordering::Relaxed);
        if !self.gen_matches(id) {
            id = self.new_context(&mut st, id);
            ctx.0.store(id, Ordering::Relaxed);
        }
        let bit = 1u64 << cpu;
        let flush_local_tlb = st.flush_pending & bit != 0;
        st.flush_pending &= !bit;
        self.active[cpu].0.store(id, Ordering::Release);
        drop(st);
        let (asid, generation) = self.split(id);
        Switch { asid, generation, flush_local_tlb }
    }

    /// A current-generation id for an mm whose id is `id` (stale or 0).
    fn new_context(&self, st: &mut AsidState, id: u64) -> u64 {
        let mask = self.asid_mask();
        let mut generation = self.generation.load(Ordering::Relaxed);
        if id != 0 {
            let asid = (id & mask) as usize;
            let new_id = generation | asid as u64;
            // Running somewhere at the last rollover: it keeps its number.
            if Self::update_reserved(st, id, new_id) {
                return new_id;
            }
            // Otherwise its old number, if nobody took it this generation.
            if !test_and_set(&mut st.map, asid) {
                return new_id;
            }
        }
        let nr = self.nr_asids();
        let asid = match find_next_zero(&st.map, st.cur_idx.max(1), nr) {
            Some(a) => a,
            None => {
                generation = self.generation.fetch_add(1 << self.bits(), Ordering::Relaxed) + (1 << self.bits());
                self.flush_context(st);
                // The width check leaves one free after the reservations.
                find_next_zero(&st.map, 1, nr).expect("no free ASID after a rollover")
            }
        };
        set_bit(&mut st.map, asid);
        st.cur_idx = asid;
        generation | asid as u64
    }

    /// Rename `id` to `new_id` in every CPU's reservation; whether any had it
    /// (Linux's check_update_reserved_asid: all of them are updated, since
    /// several CPUs may have been running the same mm).
    fn update_reserved(st: &mut AsidState, id: u64, new_id: u64) -> bool {
        let mut hit = false;
        let nr = st.nr_cpus;
        for r in &mut st.reserved[..nr] {
            if *r == id {
                *r = new_id;
                hit = true;
            }
        }
        hit
    }

    /// Start the new generation's map with every CPU's running id reserved,
    /// and mark every CPU's TLB for a flush (Linux's flush_context).
    fn flush_context(&self, st: &mut AsidState) {
        let mask = self.asid_mask();
        st.map.fill(0);
        for cpu in 0..st.nr_cpus {
            let mut id = self.active[cpu].0.swap(0, Ordering::AcqRel);
            // 0: the CPU has not switched since the last rollover; it still
            // runs what was reserved for it then.
            if id == 0 {
                id = st.reserved[cpu];
            }
            set_bit(&mut st.map, (id & mask) as usize);
            st.reserved[cpu] = id;
        }
        st.flush_pending = (1u64 << st.nr_cpus) - 1;
        self.rollovers.fetch_add(1, Ordering::Relaxed);
    }
}

fn set_bit(map: &mut [u64], n: usize) {
    map[n / 64] |= 1 << (n % 64);
}

fn test_and_set(map: &mut [u64], n: usize) -> bool {
    let was = map[n / 64] & (1 << (n % 64)) != 0;
    set_bit(map, n);
    was
}

/// The first clear bit in `[from, end)`.
fn find_next_zero(map: &[u64], from: usize, end: usize) -> Option<usize> {
    let mut n = from;
    while n < end {
        let word = !map[n / 64] >> (n % 64);
        if word != 0 {
            let found = n + word.trailing_zeros() as usize;
            return (found < end).then_some(found);
        }
        n = (n / 64 + 1) * 64;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};
    use std::sync::{Arc, Barrier};

    /// A tiny deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// A CPU's TLB as far as ASIDs go: which mm each cached ASID's entries
    /// belong to, since the CPU's last full flush.
    #[derive(Default)]
    struct TlbModel(HashMap<u16, usize>);

    impl TlbModel {
        /// Apply a switch of this CPU to mm `ctx`; a stale entry (the ASID's
        /// cached entries are another mm's) is an error.
        fn switch(&mut self, sw: Switch, ctx: usize) -> Result<(), String> {
            if sw.flush_local_tlb {
                self.0.clear();
            }
            match self.0.insert(sw.asid.0, ctx) {
                Some(other) if other != ctx => {
                    Err(format!("ASID {} reused for mm {ctx} with mm {other}'s entries cached", sw.asid.0))
                }
                _ => Ok(()),
            }
        }
    }

    /// Who owns each (generation, ASID) seen: no two mms may.
    #[derive(Default)]
    struct Owners(HashMap<(u64, u16), usize>);

    impl Owners {
        fn record(&mut self, sw: Switch, ctx: usize) -> Result<(), String> {
            match self.0.insert((sw.generation, sw.asid.0), ctx) {
                Some(other) if other != ctx => Err(format!(
                    "ASID {} of generation {:#x} held by mm {other} and mm {ctx}",
                    sw.asid.0, sw.generation
                )),
                _ => Ok(()),
            }
        }
    }

    #[test]
    fn first_asid_is_one_and_zero_is_never_handed_out() {
        let a = AsidAllocator::new(4, 2);
        let ctxs: Vec<MmContextId> = (0..200).map(|_| MmContextId::new()).collect();
        let first = a.check_and_switch(&ctxs[0], 0);
        assert_eq!(first.asid, Asid(1));
        assert_eq!(first.generation, 16);
        for (i, c) in ctxs.iter().enumerate() {
            let sw = a.check_and_switch(c, i % 2);
            assert_ne!(sw.asid, Asid(0), "switch {i}");
            assert!(sw.asid.0 < 16);
        }
        assert!(a.rollovers() > 5, "{} rollovers", a.rollovers());
    }

    #[test]
    fn fast_path_keeps_the_asid_and_does_not_flush() {
        let a = AsidAllocator::new(8, 1);
        let (x, y) = (MmContextId::new(), MmContextId::new());
        let sx = a.check_and_switch(&x, 0);
        let sy = a.check_and_switch(&y, 0);
        assert_ne!(sx.asid, sy.asid);
        for _ in 0..10 {
            assert_eq!(a.check_and_switch(&x, 0), Switch { flush_local_tlb: false, ..sx });
            assert_eq!(a.check_and_switch(&y, 0), Switch { flush_local_tlb: false, ..sy });
        }
        assert_eq!(a.rollovers(), 0);
        assert_eq!(a.active_id(0), y.raw());
    }

    #[test]
    fn running_context_keeps_its_asid_across_a_rollover() {
        let a = AsidAllocator::new(4, 2);
        let running = MmContextId::new();
        let before = a.check_and_switch(&running, 0);
        // CPU1 churns through more mms than there are ASIDs.
        let churn: Vec<MmContextId> = (0..40).map(|_| MmContextId::new()).collect();
        let mut flushes = 0;
        for c in &churn {
            let sw = a.check_and_switch(c, 1);
            assert_ne!(sw.asid, before.asid, "CPU0's running ASID handed to another mm");
            flushes += sw.flush_local_tlb as u32;
        }
        assert!(a.rollovers() >= 2, "{} rollovers", a.rollovers());
        assert_eq!(flushes as u64, a.rollovers(), "CPU1 flushes once per rollover it causes");
        // CPU0 switches again: the same number, the new generation, and a
        // flush, since the ASIDs around it were recycled.
        let after = a.check_and_switch(&running, 0);
        assert_eq!(after.asid, before.asid);
        assert_eq!(after.generation, a.generation());
        assert!(after.generation > before.generation);
        assert!(after.flush_local_tlb);
        // Only once.
        assert!(!a.check_and_switch(&running, 0).flush_local_tlb);
    }

    #[test]
    fn a_cpu_switching_after_a_rollover_is_told_to_flush() {
        let a = AsidAllocator::new(3, 2); // 7 usable ASIDs
        let ctxs: Vec<MmContextId> = (0..8).map(|_| MmContextId::new()).collect();
        let s0 = a.check_and_switch(&ctxs[0], 0);
        assert!(!s0.flush_local_tlb, "nothing to flush before the first rollover");
        for c in &ctxs[1..] {
            a.check_and_switch(c, 1);
        }
        assert_eq!(a.rollovers(), 1);
        // CPU0 switches to an mm it never ran whose id is of the old
        // generation; it must flush whatever it goes to.
        let sw = a.check_and_switch(&ctxs[3], 0);
        assert!(sw.flush_local_tlb);
        assert_eq!(sw.generation, a.generation());
    }

    #[test]
    fn reset_changes_width_and_old_ids_never_match() {
        let a = AsidAllocator::new(16, 1);
        let c = MmContextId::new();
        let s = a.check_and_switch(&c, 0);
        assert_eq!(s.asid, Asid(1));
        a.reset(4, 2).unwrap();
        assert_eq!(a.nr_asids(), 16);
        let s = a.check_and_switch(&c, 0);
        assert!(s.flush_local_tlb, "a reset flushes every CPU");
        assert_eq!(s.generation, a.generation());
        assert_eq!(s.generation % 16, 0);
        assert_eq!(a.reset(2, 3), Err(Error::InvalidArgument), "3 usable ASIDs are too few for 3 CPUs");
        assert_eq!(a.reset(17, 1), Err(Error::InvalidArgument));
        assert!(width_fits(2, 2));
        assert!(!width_fits(4, 15));
        assert!(width_fits(5, 16));
    }

    /// Random switches on a tiny width, against the model: within a
    /// generation no two mms share an ASID, no CPU uses an ASID whose
    /// cached entries are another mm's, and every CPU's running mm keeps
    /// its ASID across each rollover.
    #[test]
    fn random_switches_against_the_model() {
        for (bits, cpus, nr_ctx, seed) in [(4, 4, 40, 1), (3, 2, 10, 2), (2, 2, 6, 3), (5, 16, 100, 4), (4, 1, 16, 5)] {
            let a = AsidAllocator::new(bits, cpus);
            let ctxs: Vec<MmContextId> = (0..nr_ctx).map(|_| MmContextId::new()).collect();
            let mut tlbs: Vec<TlbModel> = (0..cpus).map(|_| TlbModel::default()).collect();
            let mut running: Vec<Option<(usize, Asid)>> = vec![None; cpus];
            let mut owners = Owners::default();
            let mut rng = Rng(seed);
            for step in 0..20_000 {
                let (cpu, ctx) = (rng.below(cpus), rng.below(nr_ctx));
                let rollovers = a.rollovers();
                let sw = a.check_and_switch(&ctxs[ctx], cpu);
                let ctx_err = |e: String| format!("bits {bits} cpus {cpus} step {step}: {e}");
                owners.record(sw, ctx).map_err(ctx_err).unwrap();
                tlbs[cpu].switch(sw, ctx).map_err(ctx_err).unwrap();
                assert!(sw.asid.0 != 0 && (sw.asid.0 as usize) < (1 << bits));
                if a.rollovers() != rollovers {
                    // Every other CPU's running mm keeps its ASID: its next
                    // switch back to it must give the same number.
                    for (c, r) in running.iter().enumerate() {
                        if let Some((rc, ra)) = *r
                            && c != cpu
                        {
                            let id = ctxs[rc].raw();
                            assert_eq!((id as u16) & ((1 << bits) - 1) as u16, ra.0, "running mm of CPU{c}");
                        }
                    }
                }
                running[cpu] = Some((ctx, sw.asid));
                // No two CPUs run different mms under one ASID.
                let mut seen: HashMap<u16, usize> = HashMap::new();
                for (rc, ra) in running.iter().flatten() {
                    if let Some(&o) = seen.get(&ra.0) {
                        assert_eq!(o, *rc, "two running mms share ASID {}", ra.0);
                    }
                    seen.insert(ra.0, *rc);
                }
            }
            assert!(a.rollovers() > 10, "bits {bits}: only {} rollovers", a.rollovers());
        }
    }

    /// Real threads as CPUs hammering a 4-bit allocator; each checks its own
    /// TLB model, and all share the owner table.
    #[test]
    fn threads_hammering_a_tiny_width() {
        for cpus in [2usize, 4] {
            let a = Arc::new(AsidAllocator::new(4, cpus));
            let ctxs: Arc<Vec<MmContextId>> = Arc::new((0..24).map(|_| MmContextId::new()).collect());
            let owners = Arc::new(std::sync::Mutex::new(Owners::default()));
            let start = Arc::new(Barrier::new(cpus));
            let handles: Vec<_> = (0..cpus)
                .map(|cpu| {
                    let (a, ctxs, owners, start) = (a.clone(), ctxs.clone(), owners.clone(), start.clone());
                    std::thread::spawn(move || {
                        let mut tlb = TlbModel::default();
                        let mut rng = Rng(0x9e37_79b9 + cpu as u64);
                        let mut log = Vec::with_capacity(30_000);
                        start.wait();
                        for _ in 0..30_000 {
                            let ctx = rng.below(ctxs.len());
                            let sw = a.check_and_switch(&ctxs[ctx], cpu);
                            tlb.switch(sw, ctx).unwrap_or_else(|e| panic!("CPU{cpu}: {e}"));
                            log.push((sw, ctx));
                        }
                        let mut o = owners.lock().unwrap();
                        for (sw, ctx) in log {
                            o.record(sw, ctx).unwrap_or_else(|e| panic!("CPU{cpu}: {e}"));
                        }
                    })
                })
                .collect();
            for h in handles {
                h.join().unwrap();
            }
            assert!(a.rollovers() > 10, "{cpus} CPUs: only {} rollovers", a.rollovers());
            let gens: HashSet<u64> = owners.lock().unwrap().0.keys().map(|k| k.0).collect();
            assert!(gens.len() > 10);
        }
    }

    #[test]
    fn pick_width_clamps_to_the_cpu_and_the_cpu_count() {
        assert_eq!(pick_width(16, None, 4), (16, None));
        assert_eq!(pick_width(8, None, 16), (8, None));
        assert_eq!(pick_width(16, Some(4), 4), (4, None));
        assert_eq!(pick_width(16, Some(4), 13), (4, None), "16 ASIDs > 13 + 2");
        assert_eq!(pick_width(16, Some(4), 14), (5, Some(WidthAdjust::TooFewForCpus)));
        assert_eq!(pick_width(16, Some(4), 16), (5, Some(WidthAdjust::TooFewForCpus)));
        assert_eq!(pick_width(8, Some(16), 2), (8, Some(WidthAdjust::WiderThanCpu)));
        for nr in 1..=NR_CPUS {
            for asked in 4..=16 {
                let (bits, _) = pick_width(16, Some(asked), nr);
                assert!(width_fits(bits, nr) && (1usize << bits) > nr + 2, "{asked} bits, {nr} CPUs: {bits}");
                assert!(bits >= asked);
            }
        }
    }

    #[test]
    fn find_next_zero_bounds() {
        let mut map = [0u64; 4];
        assert_eq!(find_next_zero(&map, 1, 16), Some(1));
        map[0] = u64::MAX;
        assert_eq!(find_next_zero(&map, 1, 64), None);
        assert_eq!(find_next_zero(&map, 1, 65), Some(64));
        map[0] = 0xffff;
        assert_eq!(find_next_zero(&map, 3, 16), None);
        assert_eq!(find_next_zero(&map, 3, 17), Some(16));
        assert!(!test_and_set(&mut map, 17));
        assert!(test_and_set(&mut map, 17));
    }
}
