//! The `asid` suite: ASIDs and TTBR0 on real translation.
//!
//! Each test builds small user address spaces of its own: an L0 table
//! (with its L1-L3 tables) per mm, mapping one test page at [`TEST_VA`]
//! with user permissions (non-global, so tagged with the ASID) to a data
//! page of that mm alone, which holds a marker word. Switching to an mm
//! must then leave TTBR0 holding the mm's table and the ASID the allocator
//! gave it, the hardware walk (`AT S1E1R`) must reach the mm's data page,
//! and a real load through TTBR0 must read the mm's marker: a stale TLB
//! entry of another mm under a recycled ASID would read another marker.
//! On every CPU at once, each (generation, ASID) must belong to one mm.
//!
//! What QEMU can show: its TLB does not keep entries of two ASIDs apart
//! (a TTBR0 write that changes the ASID drops its whole TLB), so the
//! stale-entry checks of the switch tests can fail only on hardware (or a
//! model that tags entries); the TTBR0 contents, the uniqueness of ASIDs
//! and the rollover accounting are checked everywhere. The flush test
//! keeps one ASID live, where QEMU does keep entries, so an invalidation
//! that misses its page is caught there too.
//!
//! Loads go through the uaccess routines (unprivileged, so PAN allows them;
//! a fault is EFAULT), so a broken switch fails the test instead of
//! crashing the kernel.

use crate::memory::context::{self, MmContext};
use crate::memory::linear_map::phys_to_virt;
use crate::memory::pages::{Pages, alloc_pages};
use crate::selftest::harness::{Test, TestResult};
use crate::smp::{call, cpumask};
use crate::{check, check_eq, fail};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::percpu::NR_CPUS;
use arch::pte::Arm64;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::asid::{AsidAllocator, MAX_ASID_BITS, Switch};
use mm::gfp::Gfp;
use mm::pgtable::{MapFlags, PageProt, PageTable, PgtableMem};
use mm::{Error, PAGE_SIZE, PhysAddr, VirtAddr};
use spin::Mutex;

pub const TESTS: &[Test] = &[
    Test { suite: "asid", name: "width_and_tcr_on_every_cpu", run: width_and_tcr_on_every_cpu },
    Test { suite: "asid", name: "switch_many_mms_on_every_cpu", run: switch_many_mms_on_every_cpu },
    Test { suite: "asid", name: "rollover_on_a_narrow_allocator", run: rollover_on_a_narrow_allocator },
    Test { suite: "asid", name: "flush_by_asid_drops_the_entries", run: flush_by_asid_drops_the_entries },
];

/// Where each test mm maps its page (a user address, L0 index 1).
const TEST_VA: u64 = 0x0000_0080_0000_0000;
/// User address spaces per switch test (more than a narrow width's ASIDs).
const NR_MMS: usize = 300;
/// Times each CPU goes through all of them: twice on one or two CPUs,
/// once on more (every switch costs QEMU a full TLB refill, and more CPUs
/// switch as often in total).
fn rounds() -> usize {
    if cpumask::num_online_cpus() <= 2 { 2 } else { 1 }
}

/// Table memory for a test mm: pages from the page allocator, freed with it.
struct UserTables {
    pages: Vec<Pages>,
}

// SAFETY: each table page is a whole page the page allocator gave this
// object alone, zeroed by it (Gfp::ZERO), reached through the linear map
// (which covers every page of the allocator), and kept until the object
// drops.
unsafe impl PgtableMem for UserTables {
    fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
        let page = alloc_pages(Gfp::KERNEL | Gfp::ZERO, 0)?;
        let pa = page.pfn().phys();
        self.pages.push(page);
        Ok(pa)
    }
    fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
        phys_to_virt(pa).as_u64() as *mut u64
    }
    fn publish(&mut self) {
        arch::tlb::publish_new_entries();
    }
    // flush_tlb: the tables are filled before they are switched to; the
    // one test that unmaps from a live table flushes by ASID itself.
}

/// One test mm: its tables, its data page and what a load must read.
struct TestMm {
    pt: PageTable<Arm64, UserTables>,
    data: Pages,
    marker: u32,
}

impl TestMm {
    fn new(marker: u32) -> Result<Self, String> {
        let mut pt = PageTable::new(UserTables { pages: Vec::new() }).map_err(|e| format!("user table: {e}"))?;
        let data = alloc_pages(Gfp::KERNEL, 0).map_err(|e| format!("data page: {e}"))?;
        // SAFETY: the data page is ours alone, mapped RW in the linear map.
        unsafe { (data.address().as_u64() as *mut u32).write_volatile(marker) };
        let prot = PageProt::READ | PageProt::WRITE | PageProt::USER;
        pt.map_range(VirtAddr(TEST_VA), data.pfn().phys(), PAGE_SIZE, prot, MapFlags::NO_BLOCKS)
            .map_err(|e| format!("map: {e}"))?;
        Ok(Self { pt, data, marker })
    }
}

/// The fixed part of a switch test, shared with every CPU.
struct Run {
    /// None: the machine's allocator through `context::switch_mm`.
    narrow: Option<&'static AsidAllocator>,
    ctxs: Vec<MmContext>,
    roots: Vec<PhysAddr>,
    data_pa: Vec<PhysAddr>,
    markers: Vec<u32>,
    /// Per ASID: (generation >> bits) << 32 | (mm index + 1), the last owner seen.
    owners: Vec<AtomicU64>,
    /// Per CPU: index + 1 of the mm it switched to last.
    last: [AtomicU64; NR_CPUS],
    flushes: AtomicU64,
    errors: Mutex<Vec<String>>,
}

static RUN: Mutex<Option<Arc<Run>>> = Mutex::new(None);

impl Run {
    fn alloc(&self) -> &AsidAllocator {
        self.narrow.unwrap_or(context::allocator())
    }

    fn switch(&self, i: usize) -> Switch {
        match self.narrow {
            // SAFETY: 1. roots[i] is mm i's L0 table, used only with
            // ctxs[i], alive until `cleanup` has flushed every CPU; 2. the
            // test runs kernel code only; 3. (narrow) its reset told every
            // CPU to flush before using its ASIDs, and `cleanup` flushes
            // every CPU before the machine's allocator is used again.
            Some(a) => unsafe { context::switch_mm_with(a, self.ctxs[i].id(), self.roots[i]) },
            // SAFETY: 1. and 2. as above.
            None => unsafe { context::switch_mm(&self.ctxs[i], self.roots[i]) },
        }
    }

    /// Record that mm `i` holds `sw`'s ASID in its generation; another mm
    /// holding it in the same generation is an error.
    fn record_owner(&self, sw: Switch, i: usize) -> Result<(), String> {
        let bits = self.alloc().bits();
        let gen_idx = sw.generation >> bits;
        let slot = &self.owners[usize::from(sw.asid.0)];
        let mine = (gen_idx << 32) | (i as u64 + 1);
        let mut cur = slot.load(Ordering::Acquire);
        loop {
            let (g, owner) = (cur >> 32, cur & 0xffff_ffff);
            if cur != 0 && g == gen_idx {
                if owner != i as u64 + 1 {
                    return Err(format!(
                        "ASID {} of generation {gen_idx} given to mm {} and mm {i}",
                        sw.asid.0,
                        owner - 1
                    ));
                }
                return Ok(());
            }
            if cur != 0 && g > gen_idx {
                return Ok(()); // a later generation recorded first
            }
            match slot.compare_exchange(cur, mine, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    /// Switch to mm `i` and check what the CPU now translates.
    fn switch_and_check(&self, cpu: usize, i: usize) -> Result<(), String> {
        let sw = self.switch(i);
        self.last[cpu].store(i as u64 + 1, Ordering::Relaxed);
        if sw.flush_local_tlb {
            self.flushes.fetch_add(1, Ordering::Relaxed);
        }
        let nr = self.alloc().nr_asids();
        if sw.asid.0 == 0 || usize::from(sw.asid.0) >= nr {
            return Err(format!("mm {i}: ASID {} outside 1..{nr}", sw.asid.0));
        }
        let (ttbr_asid, ttbr_root) = (arch::mmu::ttbr0_asid(), arch::mmu::ttbr0());
        if ttbr_asid != sw.asid || ttbr_root != self.roots[i] {
            return Err(format!(
                "mm {i}: TTBR0 holds {:#x} ASID {}, expected {:#x} ASID {}",
                ttbr_root.as_u64(),
                ttbr_asid.0,
                self.roots[i].as_u64(),
                sw.asid.0
            ));
        }
        self.record_owner(sw, i)?;
        match arch::mmu::at_s1e1r(VirtAddr(TEST_VA)) {
            Ok(pa) if pa == self.data_pa[i] => {}
            r => {
                return Err(format!(
                    "mm {i}: AT S1E1R {TEST_VA:#x} gave {r:x?}, expected {:#x}",
                    self.data_pa[i].as_u64()
                ));
            }
        }
        match read_user_u32(TEST_VA) {
            Ok(v) if v == self.markers[i] => Ok(()),
            Ok(v) => Err(format!("mm {i} (ASID {}): read {v:#x}, its marker is {:#x}", sw.asid.0, self.markers[i])),
            Err(e) => Err(format!("mm {i} (ASID {}): the load faulted ({e})", sw.asid.0)),
        }
    }
}

/// Load the user word at `va` as user space would (an unprivileged load,
/// which PAN does not stop; a fault is EFAULT through the uaccess fixup:
/// the task running the test has no mm of its own to fault pages into).
fn read_user_u32(va: u64) -> Result<u32, mm::mmap::Errno> {
    let mut b = [0u8; 4];
    crate::memory::user::uaccess::copy_from_user(&mut b, crate::memory::user::uaccess::UserPtr(va))?;
    Ok(u32::from_le_bytes(b))
}

/// Strides coprime with NR_MMS (300 = 2^2 3 5^2), one per CPU, so that
/// every CPU visits the mms in its own order: 7, 11, 13, 17, 19, 23, 29,
/// 31, 37, ... (the numbers from 7 up that 2, 3 and 5 do not divide).
const STRIDES: [usize; NR_CPUS] = {
    let mut s = [0; NR_CPUS];
    let (mut i, mut k) = (0, 7usize);
    while i < NR_CPUS {
        if !k.is_multiple_of(2) && !k.is_multiple_of(3) && !k.is_multiple_of(5) {
            s[i] = k;
            i += 1;
        }
        k += 1;
    }
    s
};
// The strides are coprime with NR_MMS while 2, 3 and 5 are its only prime factors.
const _: () = {
    let mut n = NR_MMS;
    while n.is_multiple_of(2) {
        n /= 2;
    }
    while n.is_multiple_of(3) {
        n /= 3;
    }
    while n.is_multiple_of(5) {
        n /= 5;
    }
    assert!(n == 1, "NR_MMS has a prime factor a stride may share");
};

fn switch_worker(cpu: usize) {
    let Some(run) = RUN.lock().clone() else { return };
    let n = run.ctxs.len();
    'all: for round in 0..rounds() {
        for j in 0..n {
            let i = (j * STRIDES[cpu] + cpu * 37 + round) % n;
            if let Err(e) = run.switch_and_check(cpu, i) {
                let mut errs = run.errors.lock();
                if errs.len() < 4 {
                    errs.push(format!("CPU{cpu}: {e}"));
                }
                break 'all;
            }
        }
    }
}

/// Back to the reserved table and a clean TLB on every CPU: the test's
/// tables are about to be freed, and their ASIDs (a narrow allocator's
/// above all) must not outlive them in any TLB.
fn cleanup_on_cpu(_cpu: usize) {
    context::cpu_set_reserved_ttbr0();
    arch::tlb::local_flush_tlb_all();
}

fn build_mms(n: usize) -> Result<Vec<TestMm>, String> {
    let salt = (arch::timer::uptime_ns() as u32) | 1;
    (0..n)
        .map(|i| TestMm::new(salt.wrapping_mul(0x9e37_79b9) ^ (i as u32).wrapping_mul(0x0101_0101) ^ 0x5a5a_0000))
        .collect()
}

/// Every online CPU switches through NR_MMS mms `rounds()` times; returns the
/// errors and the local flushes the allocator asked for.
fn run_switches(narrow: Option<&'static AsidAllocator>) -> Result<u64, String> {
    let mms = build_mms(NR_MMS)?;
    let markers: Vec<u32> = mms.iter().map(|m| m.marker).collect();
    let mut unique = markers.clone();
    unique.sort_unstable();
    unique.dedup();
    check_eq!(unique.len(), markers.len());
    let nr_asids = narrow.map_or(context::allocator().nr_asids(), |a| a.nr_asids());
    let run = Arc::new(Run {
        narrow,
        ctxs: (0..NR_MMS).map(|_| MmContext::new()).collect(),
        roots: mms.iter().map(|m| m.pt.root()).collect(),
        data_pa: mms.iter().map(|m| m.data.pfn().phys()).collect(),
        markers,
        owners: (0..nr_asids).map(|_| AtomicU64::new(0)).collect(),
        last: [const { AtomicU64::new(0) }; NR_CPUS],
        flushes: AtomicU64::new(0),
        errors: Mutex::new(Vec::new()),
    });
    *RUN.lock() = Some(run.clone());
    call::on_each_cpu(switch_worker);
    *RUN.lock() = None;
    // Still on their last mm: no two CPUs on different mms share an ASID.
    let mut seen: Vec<(u64, usize)> = Vec::new();
    for cpu in (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c)) {
        let last = run.last[cpu].load(Ordering::Relaxed);
        if last == 0 {
            continue;
        }
        let id = run.alloc().active_id(cpu);
        let mm = last as usize - 1;
        if id != 0 && id != run.ctxs[mm].id().raw() {
            run.errors.lock().push(format!("CPU{cpu}: active id {id:#x} is not its mm {mm}'s"));
        }
        if let Some(&(_, other)) = seen.iter().find(|&&(i, m)| i == id && m != mm)
            && id != 0
        {
            run.errors.lock().push(format!("CPU{cpu}: mm {mm} runs with the id {id:#x} of mm {other}"));
        }
        seen.push((id, mm));
    }
    call::on_each_cpu(cleanup_on_cpu);
    drop(mms);
    let errors = core::mem::take(&mut *run.errors.lock());
    if !errors.is_empty() {
        fail!("{}", errors.join("; "));
    }
    Ok(run.flushes.load(Ordering::Relaxed))
}

static TCR_BAD: AtomicU64 = AtomicU64::new(0);

fn check_tcr(cpu: usize) {
    let want16 = arch::mmu::asid_bits_supported() == 16;
    if arch::mmu::asid16_enabled() != want16 {
        TCR_BAD.fetch_or(1 << cpu, Ordering::Relaxed);
    }
}

/// Every CPU matches on the width it has (TCR_EL1.AS = 1 where 16 bits
/// exist); the allocator's width is the CPU's, or `asid_bits=`'s.
fn width_and_tcr_on_every_cpu() -> TestResult {
    TCR_BAD.store(0, Ordering::Relaxed);
    call::on_each_cpu(check_tcr);
    check_eq!(TCR_BAD.load(Ordering::Relaxed), 0);
    let hw = arch::mmu::asid_bits_supported();
    check!(hw == 8 || hw == 16, "ASIDBits says {hw}");
    let bits = context::allocator().bits();
    let nr_cpus = cpumask::num_possible_cpus();
    let asked = crate::init::state::get().params.asid_bits.map(u32::from);
    check_eq!(bits, mm::asid::pick_width(hw, asked, nr_cpus).0);
    if asked.is_none() {
        check_eq!(bits, hw);
    }
    check!((1usize << bits) > nr_cpus + 2 || bits == hw, "{bits} bits for {nr_cpus} CPUs");
    Ok(())
}

/// The machine's allocator, through `switch_mm`, on every CPU; with
/// `asid_bits=4` it rolls over many times.
fn switch_many_mms_on_every_cpu() -> TestResult {
    let a = context::allocator();
    let before = a.rollovers();
    let flushes = run_switches(None)?;
    let rollovers = a.rollovers() - before;
    if NR_MMS >= a.nr_asids() {
        check!(rollovers > 0, "{NR_MMS} mms on {} ASIDs without a rollover", a.nr_asids());
        check!(flushes >= rollovers, "{rollovers} rollovers but {flushes} local flushes");
    }
    Ok(())
}

/// A private allocator just wide enough for the CPUs (4 bits up to 13
/// CPUs): every round rolls it over many times, whatever `asid_bits=` says.
static NARROW: AsidAllocator = AsidAllocator::new(MAX_ASID_BITS, 1);

fn rollover_on_a_narrow_allocator() -> TestResult {
    let nr_cpus = cpumask::num_possible_cpus();
    let bits = (4..=MAX_ASID_BITS).find(|&b| (1usize << b) > nr_cpus + 2).unwrap_or(MAX_ASID_BITS);
    if let Err(e) = NARROW.reset(bits, nr_cpus) {
        fail!("reset to {bits} bits for {nr_cpus} CPUs: {e}");
    }
    let before = NARROW.rollovers();
    let flushes = run_switches(Some(&NARROW))?;
    let rollovers = NARROW.rollovers() - before;
    let online = cpumask::num_online_cpus() as u64;
    // Every CPU flushes at its first switch after the reset, and the CPU
    // that rolls the generation over flushes at once.
    // Any nr_asids consecutive switches of one CPU go to as many distinct
    // mms, which cannot all hold ASIDs of one generation: each such window
    // of each CPU contains a rollover.
    let switches = NR_MMS * rounds();
    let min_rollovers = (switches / NARROW.nr_asids()) as u64;
    check!(rollovers >= min_rollovers, "{rollovers} rollovers for {switches} switches on {bits} bits");
    check!(flushes >= rollovers.max(online), "{rollovers} rollovers, {online} CPUs, only {flushes} local flushes");
    Ok(())
}

/// Invalidation by ASID: with one mm live, each of flush_tlb_page,
/// flush_tlb_range (by page, and past MAX_DVM_OPS by ASID) and flush_tlb_mm
/// drops the entries of pages unmapped without a flush, so the next load
/// faults.
fn flush_by_asid_drops_the_entries() -> TestResult {
    let mut mm = TestMm::new(0x7e57_a51d).map_err(|e| format!("setup: {e}"))?;
    let ctx = MmContext::new();
    let data = mm.data.pfn().phys();
    let prot = PageProt::READ | PageProt::WRITE | PageProt::USER;
    let many = arch::tlb::MAX_DVM_OPS + 8;
    let result = (|| -> TestResult {
        type Flush = fn(&MmContext, u64, u64);
        let cases: [(&str, u64, Flush); 4] = [
            ("flush_tlb_page", 1, |c, va, _| context::flush_tlb_page(c, VirtAddr(va))),
            ("flush_tlb_range", 4, |c, va, n| context::flush_tlb_range(c, VirtAddr(va), VirtAddr(va + n * PAGE_SIZE))),
            ("flush_tlb_range (by ASID)", many, |c, va, n| {
                context::flush_tlb_range(c, VirtAddr(va), VirtAddr(va + n * PAGE_SIZE))
            }),
            ("flush_tlb_mm", 2, |c, _, _| context::flush_tlb_mm(c)),
        ];
        // SAFETY: 1. mm's root is its L0 table, used only with `ctx`, freed
        // after the cleanup flush below; 2. kernel code only from here.
        let sw = unsafe { context::switch_mm(&ctx, mm.pt.root()) };
        check_eq!(arch::mmu::ttbr0_asid(), sw.asid);
        check_eq!(ctx.asid(), Some(sw.asid));
        for (name, pages, flush) in cases {
            let va = TEST_VA + 16 * PAGE_SIZE;
            for p in 0..pages {
                mm.pt
                    .map_range(VirtAddr(va + p * PAGE_SIZE), data, PAGE_SIZE, prot, MapFlags::NO_BLOCKS)
                    .map_err(|e| format!("{name}: map: {e}"))?;
            }
            let probes = [0, pages / 2, pages - 1];
            for &p in &probes {
                let v = read_user_u32(va + p * PAGE_SIZE);
                check!(v == Ok(mm.marker), "{name}: page {p} before the unmap: {v:x?}");
            }
            let n = mm.pt.unmap_range_noflush(VirtAddr(va), pages * PAGE_SIZE).map_err(|e| format!("{name}: {e}"))?;
            check_eq!(n as u64, pages);
            flush(&ctx, va, pages);
            for &p in &probes {
                let v = read_user_u32(va + p * PAGE_SIZE);
                check!(v.is_err(), "{name}: page {p} still readable ({v:x?}) after the flush");
            }
        }
        // The mm's own page, never unmapped, still reads.
        let v = read_user_u32(TEST_VA);
        check!(v == Ok(mm.marker), "the untouched page: {v:x?}");
        Ok(())
    })();
    // Only this CPU ever ran the mm.
    cleanup_on_cpu(arch::percpu::smp_processor_id());
    drop(mm);
    result
}
