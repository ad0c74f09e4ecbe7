//! A user-space memory load for the self-tests that move user pages under
//! running processes (the `cma` and `compaction` suites), and the
//! `userload` suite that tests the load itself and [`pin_user_page`].
//!
//! ```text
//!   UserLoad::start(n, pages)   n memtouch processes (user/programs), each
//!                               on the CPU the scheduler picks (the least
//!                               loaded: they spread over the machine),
//!                               argv = [memtouch, pages, seed]; waits,
//!                               bounded, until each published its control
//!                               page (its data is filled)
//!   .pfns() / .nr_pages_in()    the frames their page tables map now
//!   .verify()                   every word of every data page checked
//!                               from the kernel, through the page tables
//!   .pin_data_page() /          one data page pinned (memory/user/gup.rs:
//!   .pin_page_in()              an extra reference, so it cannot move)
//!   .stop()                     SIGKILL, reap; a process that ended on its
//!                               own (status 3: it saw corrupted data) is
//!                               an error; Drop stops them too
//! ```
//!
//! # The protocol with memtouch
//!
//! memtouch maps one region at [`REGION_BASE`]: a control page, then its
//! data pages (the layout is described in user/programs/src/bin/memtouch.rs,
//! and [`word_value`] is the same function as its own: keep the two in
//! step). Readiness is the control page's word 0 turning to
//! [`READY_MAGIC`], stored after the first fill behind a release fence; the
//! kernel looks the control page up in the process's page tables under
//! its mm lock and reads it through the linear map, so no system call and
//! no console output is part of the handshake, and a process that dies
//! before it is ready is seen as dead (its wait status is reported).
//! Every data word carries the generation it was written in, so the
//! kernel's check, which races with the program's rewrites, checks each
//! word on its own: the hash of its address, the generation it names and
//! the process's seed must match, and the generation must not be older
//! than the one the control page says every page has reached. Each
//! process has its own seed (they all use the same addresses), so a frame
//! of one found in another's page tables does not pass.
//!
//! # Locking
//!
//! A frame is read only while the mm's lock (`Mm::inner`) is held and a
//! present PTE of that mm maps it ([`LockedFrame`] borrows the guard): every
//! PTE change holds that lock, so the PTE's reference keeps the frame
//! allocated meanwhile. The kernel's check takes the lock once per page,
//! so a fault or a migration of the same mm waits for one page's check at
//! most. Pages whose PTE is not present (a migration entry, say) are
//! skipped and counted as such.

use super::harness::{PageCounts, Test, TestResult};
use crate::memory::linear_map::page_address;
use crate::memory::pages::pfn_to_page;
use crate::memory::user::gup::{PinnedPage, pin_user_page};
use crate::memory::user::mm::{Mm, MmInner};
use crate::process::pid::{ProcState, Process, SIGKILL};
use crate::process::{exec, exit, signal};
use crate::sched::{Pid, msleep};
use crate::{check, check_eq, fail, pr_err};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicU64, Ordering, fence};
use mm::mmap::VmFlags;
use mm::{Error, PAGE_SIZE, Pfn, VirtAddr};

/// The name of the program (user/programs/src/bin/memtouch.rs).
pub const PROGRAM: &str = "memtouch";
/// Where memtouch maps its region: the control page, then the data pages.
pub const REGION_BASE: u64 = 0x10_0000_0000;
/// The control page's word 0 once the data pages are filled.
pub const READY_MAGIC: u64 = 0x6d65_6d74_6f75_6368;
const WORDS_PER_PAGE: usize = (PAGE_SIZE / 8) as usize;
/// The control page's words.
const CTL_MAGIC: usize = 0;
const CTL_GENERATION: usize = 1;
const CTL_NR_PAGES: usize = 2;
const CTL_SEED: usize = 3;
/// Bits of the generation a data word carries (its top bits).
const GEN_BITS: u32 = 24;
const GEN_MASK: u64 = (1 << GEN_BITS) - 1;
const HASH_MASK: u64 = (1 << (64 - GEN_BITS)) - 1;
/// How often the waits below look.
const POLL_MS: u64 = 5;
/// How long a killed process may take to be gone.
const KILL_TIMEOUT_MS: u64 = 10_000;

/// The splitmix64 finaliser, as memtouch's `mix`.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The word memtouch stores at user address `va` in `generation` (only
/// its low GEN_BITS count), as its `word_value`.
pub fn word_value(va: u64, generation: u64, seed: u64) -> u64 {
    let g = generation & GEN_MASK;
    (g << (64 - GEN_BITS)) | (mix(va ^ seed.rotate_left(17) ^ g.wrapping_mul(0x9e37_79b9_7f4a_7c15)) & HASH_MASK)
}

/// The user address of word `word` of data page `page`.
pub fn data_va(page: usize, word: usize) -> u64 {
    REGION_BASE + (1 + page as u64) * PAGE_SIZE + word as u64 * 8
}

/// Whether generation `g` (GEN_BITS of it) is older than `floor`.
fn generation_behind(g: u64, floor: u64) -> bool {
    let d = floor.wrapping_sub(g) & GEN_MASK;
    d != 0 && d < 1 << (GEN_BITS - 1)
}

/// A user frame that a present PTE of a locked mm maps.
///
/// # Invariants
/// `base` is the linear-map address of a frame that a present PTE of the
/// mm whose `MmInner` is borrowed for `'a` maps; that borrow (of the
/// lock's guard) keeps every PTE of the mm, and so the PTE's reference to
/// the frame, in place for `'a`.
struct LockedFrame<'a> {
    base: *mut u64,
    pfn: Pfn,
    _lock: PhantomData<&'a MmInner>,
}

impl<'a> LockedFrame<'a> {
    /// The frame mapped at `va` in the locked mm, if a PTE maps one.
    fn at(inner: &'a MmInner, va: u64) -> Option<Self> {
        let pte = inner.pgtable.lookup(VirtAddr(va))?;
        let pfn = pte.pfn();
        Some(LockedFrame { base: page_address(pfn).0 as *mut u64, pfn, _lock: PhantomData })
    }

    fn read(&self, word: usize) -> u64 {
        assert!(word < WORDS_PER_PAGE);
        // SAFETY: the frame stays allocated while `'a` lasts (the
        // invariant) and all RAM the allocator hands out is in the linear
        // map; the word is inside the page (checked) and 8-byte aligned;
        // the process's concurrent stores to it are single-copy atomic,
        // and the load is volatile so it is made exactly once.
        unsafe { self.base.add(word).read_volatile() }
    }

    fn write(&self, word: usize, value: u64) {
        assert!(word < WORDS_PER_PAGE);
        // SAFETY: as in `read`; the frame is a user page, which no kernel
        // object lives in.
        unsafe { self.base.add(word).write_volatile(value) }
    }
}

/// What memtouch does after its first fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadMode {
    /// Check every page, rewrite every page with the next generation,
    /// forever (the load the migration tests want).
    Rewrite,
    /// Keep generation 1 and only check it (a word corrupted on purpose
    /// stays corrupted until the program sees it).
    Hold,
}

/// Why a load could not be started, checked or stopped.
#[derive(Debug)]
pub enum LoadError {
    /// No process, no page, or more pages than memtouch takes.
    InvalidArgument(&'static str),
    /// memtouch is not built into the kernel (scripts/build.sh).
    NoProgram,
    /// Process `index` could not be started.
    Spawn { index: usize, why: String },
    /// A process did not publish its control page in time.
    NotReady { pid: Pid, waited_ms: u64, what: &'static str },
    /// A process ended on its own (wait status `wstatus`).
    Died { pid: Pid, cpu: Option<usize>, wstatus: i32 },
    /// The kernel's check found a bad word.
    Corrupt { pid: Pid, va: u64, pfn: Pfn, expected: u64, found: u64, what: &'static str },
    /// pin_user_page failed on a page of the load.
    Pin { pid: Pid, error: Error },
    /// A process was still alive `KILL_TIMEOUT_MS` after SIGKILL (it is
    /// left in the table, unreaped).
    Unkillable { pid: Pid },
    /// The loads' processes that did not end as stop() ends them.
    Stop(Vec<LoadError>),
}

fn describe_wstatus(wstatus: i32) -> String {
    let sig = wstatus & 0x7f;
    let code = (wstatus >> 8) & 0xff;
    match (sig, code) {
        (0, 3) => "exited with status 3: it found corrupted data (its message is in the log above)".to_string(),
        (0, 1) => "exited with status 1: it could not map its region".to_string(),
        (0, 64) => "exited with status 64: bad arguments".to_string(),
        (0, c) => format!("exited with status {c}"),
        (s, _) => format!("was killed by signal {s}"),
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::InvalidArgument(why) => write!(f, "user load: {why}"),
            LoadError::NoProgram => write!(f, "user load: {PROGRAM} is not built into the kernel"),
            LoadError::Spawn { index, why } => write!(f, "user load: cannot start {PROGRAM} #{index}: {why}"),
            LoadError::NotReady { pid, waited_ms, what } => {
                write!(f, "user load: {PROGRAM}[{pid}] not ready after {waited_ms} ms: {what}")
            }
            LoadError::Died { pid, cpu, wstatus } => {
                write!(f, "user load: {PROGRAM}[{pid}]")?;
                if let Some(cpu) = cpu {
                    write!(f, " (CPU {cpu})")?;
                }
                write!(f, " {}", describe_wstatus(*wstatus))
            }
            LoadError::Corrupt { pid, va, pfn, expected, found, what } => write!(
                f,
                "user load: {PROGRAM}[{pid}]: word at {va:#x} (pfn {:#x}) {what}: expected {expected:#018x}, found {found:#018x}",
                pfn.0
            ),
            LoadError::Pin { pid, error } => write!(f, "user load: cannot pin a page of {PROGRAM}[{pid}]: {error}"),
            LoadError::Unkillable { pid } => {
                write!(f, "user load: {PROGRAM}[{pid}] still alive {KILL_TIMEOUT_MS} ms after SIGKILL")
            }
            LoadError::Stop(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

/// So that a self-test (`TestResult`) can use `?` on the load's calls.
impl From<LoadError> for String {
    fn from(e: LoadError) -> String {
        e.to_string()
    }
}

/// What [`UserLoad::verify`] looked at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifyStats {
    /// Data pages whose every word was checked.
    pub pages_checked: usize,
    /// Data pages without a present PTE at the time (being migrated).
    pub pages_absent: usize,
}

struct LoadProc {
    process: Arc<Process>,
    seed: u64,
    /// Reaped (by stop).
    reaped: bool,
}

impl LoadProc {
    fn pid(&self) -> Pid {
        self.process.pid
    }

    /// Poll `done` every [`POLL_MS`] until it holds; an error if the
    /// process ended, or if `timeout_ms` have passed since `t0` (`what`
    /// says what it failed to do).
    fn poll(
        &self,
        t0: u64,
        timeout_ms: u64,
        what: &'static str,
        done: &mut dyn FnMut(&LoadProc) -> Result<bool, LoadError>,
    ) -> Result<(), LoadError> {
        loop {
            if let Some(w) = self.zombie() {
                return Err(self.died(w));
            }
            if done(self)? {
                return Ok(());
            }
            let waited_ms = uptime_ms() - t0;
            if waited_ms > timeout_ms {
                return Err(LoadError::NotReady { pid: self.pid(), waited_ms, what });
            }
            msleep(POLL_MS);
        }
    }

    fn cpu(&self) -> Option<usize> {
        self.process.task.lock().as_ref().map(|t| t.cpu())
    }

    /// The wait status, once it is a zombie.
    fn zombie(&self) -> Option<i32> {
        match *self.process.state.lock() {
            ProcState::Zombie(w) => Some(w),
            ProcState::Running => None,
        }
    }

    fn died(&self, wstatus: i32) -> LoadError {
        LoadError::Died { pid: self.pid(), cpu: self.cpu(), wstatus }
    }

    /// Run `f` on the locked mm, or say why there is none.
    fn with_mm<R>(&self, f: impl FnOnce(&Mm, &MmInner) -> R) -> Result<R, LoadError> {
        let Some(mm) = self.process.mm() else {
            return Err(self.died(self.zombie().unwrap_or(0)));
        };
        let inner = mm.inner.lock();
        Ok(f(&mm, &inner))
    }

    /// The control page's word `word`, if the page is mapped.
    fn control_word(&self, word: usize) -> Result<Option<u64>, LoadError> {
        self.with_mm(|_, inner| LockedFrame::at(inner, REGION_BASE).map(|c| c.read(word)))
    }
}

/// Started loads get distinct seeds, this run and the next.
static NEXT_SEED: AtomicU64 = AtomicU64::new(1);

fn uptime_ms() -> u64 {
    arch::timer::uptime_ns() / 1_000_000
}

/// A set of running memtouch processes.
///
/// # Invariants
/// Every process in `procs` is a memtouch started by this load, detached
/// (no parent), and reaped at most once (by stop).
pub struct UserLoad {
    procs: Vec<LoadProc>,
    pages_each: usize,
}

impl UserLoad {
    /// `nr_procs` memtouch processes of `pages_each` data pages each, in
    /// [`LoadMode::Rewrite`]; see [`UserLoad::start_with`].
    pub fn start(nr_procs: usize, pages_each: usize) -> Result<UserLoad, LoadError> {
        Self::start_with(nr_procs, pages_each, LoadMode::Rewrite)
    }

    /// Start `nr_procs` memtouch processes, placed by the scheduler (each
    /// on the least loaded CPU when it starts), and wait until each has
    /// filled its `pages_each` data pages: at most 10 s plus 1 ms per 2
    /// pages of the whole load. On an error every process started is
    /// stopped again.
    pub fn start_with(nr_procs: usize, pages_each: usize, mode: LoadMode) -> Result<UserLoad, LoadError> {
        if nr_procs == 0 {
            return Err(LoadError::InvalidArgument("no process asked for"));
        }
        if pages_each == 0 || pages_each > 1 << 24 {
            return Err(LoadError::InvalidArgument("pages per process must be 1 to 2^24"));
        }
        let elf = crate::process::programs::find(PROGRAM).ok_or(LoadError::NoProgram)?;
        let mut load = UserLoad { procs: Vec::new(), pages_each };
        let pages = format!("{pages_each}");
        for index in 0..nr_procs {
            let seed = mix(NEXT_SEED.fetch_add(1, Ordering::Relaxed));
            let seed_arg = format!("{seed:#x}");
            let mut argv = alloc::vec![PROGRAM, pages.as_str(), seed_arg.as_str()];
            if mode == LoadMode::Hold {
                argv.push("hold");
            }
            let process = exec::spawn_program(elf, &argv, &[], 0, false)
                .map_err(|e| LoadError::Spawn { index, why: e.to_string() })?;
            load.procs.push(LoadProc { process, seed, reaped: false });
        }
        let timeout_ms = 10_000 + (nr_procs * pages_each / 2) as u64;
        load.wait_ready(timeout_ms)?;
        Ok(load)
    }

    fn wait_ready(&self, timeout_ms: u64) -> Result<(), LoadError> {
        let t0 = uptime_ms();
        for lp in &self.procs {
            lp.poll(t0, timeout_ms, "its control page never showed the ready mark", &mut |lp| {
                if lp.control_word(CTL_MAGIC)? != Some(READY_MAGIC) {
                    return Ok(false);
                }
                fence(Ordering::Acquire);
                let pages = lp.control_word(CTL_NR_PAGES)?;
                let seed = lp.control_word(CTL_SEED)?;
                if pages != Some(self.pages_each as u64) || seed != Some(lp.seed) {
                    return Err(LoadError::NotReady {
                        pid: lp.pid(),
                        waited_ms: uptime_ms() - t0,
                        what: "its control page names other pages or another seed",
                    });
                }
                Ok(true)
            })?;
        }
        Ok(())
    }

    /// How many processes.
    pub fn nr_procs(&self) -> usize {
        self.procs.len()
    }

    /// Data pages per process.
    pub fn pages_each(&self) -> usize {
        self.pages_each
    }

    /// The processes' pids.
    pub fn pids(&self) -> Vec<Pid> {
        self.procs.iter().map(LoadProc::pid).collect()
    }

    /// The CPU each process runs on (None once its task is reaped).
    pub fn cpus(&self) -> Vec<Option<usize>> {
        self.procs.iter().map(LoadProc::cpu).collect()
    }

    /// Process `index`'s address space, while it has one (for pinning
    /// one of its pages; drop it before [`stop`](Self::stop), or the
    /// process's memory outlives it until then).
    pub fn mm(&self, index: usize) -> Option<Arc<Mm>> {
        self.procs.get(index)?.process.mm()
    }

    /// Process `index`'s seed (what its data words are a function of).
    pub fn seed(&self, index: usize) -> Option<u64> {
        self.procs.get(index).map(|lp| lp.seed)
    }

    /// The generation every data page of each process has reached (None:
    /// its control page is not mapped now, or it has no mm any more).
    pub fn generations(&self) -> Vec<Option<u64>> {
        self.procs.iter().map(|lp| lp.control_word(CTL_GENERATION).ok().flatten()).collect()
    }

    /// Wait until every process has rewritten all its pages `advance` more
    /// times than now, at most `timeout_ms` (a load in
    /// [`LoadMode::Hold`] never advances).
    pub fn wait_generations(&self, advance: u64, timeout_ms: u64) -> Result<(), LoadError> {
        let t0 = uptime_ms();
        let start = self.generations();
        for (lp, g0) in self.procs.iter().zip(start) {
            let target = g0.unwrap_or(0) + advance;
            lp.poll(t0, timeout_ms, "it did not rewrite its pages as often as asked", &mut |lp| {
                Ok(lp.control_word(CTL_GENERATION)?.is_some_and(|g| g >= target))
            })?;
        }
        Ok(())
    }

    /// The first process that ended on its own within `timeout_ms`, with
    /// its wait status (None: all still run).
    pub fn first_exit(&self, timeout_ms: u64) -> Option<(Pid, i32)> {
        let t0 = uptime_ms();
        loop {
            if let Some((lp, w)) = self.procs.iter().find_map(|lp| lp.zombie().map(|w| (lp, w))) {
                return Some((lp.pid(), w));
            }
            if uptime_ms() - t0 > timeout_ms {
                return None;
            }
            msleep(POLL_MS);
        }
    }

    /// Every frame the processes' page tables map now (each VMA: text,
    /// data, stack and the memtouch region; the zero page left out), in no
    /// particular order. A frame mapped twice is listed twice.
    pub fn pfns(&self) -> Vec<Pfn> {
        let mut out = Vec::new();
        for lp in &self.procs {
            if let Some(mm) = lp.process.mm() {
                mm.mapped_pfns(&mut out);
            }
        }
        out
    }

    /// Pin data page `page` of process `index` (one extra reference: the
    /// page cannot move while the handle lives, and outlives the process).
    pub fn pin_data_page(&self, index: usize, page: usize) -> Result<PinnedPage, LoadError> {
        let lp = self.procs.get(index).ok_or(LoadError::InvalidArgument("no such process in the load"))?;
        if page >= self.pages_each {
            return Err(LoadError::InvalidArgument("no such page in the load"));
        }
        let Some(mm) = lp.process.mm() else {
            return Err(lp.died(lp.zombie().unwrap_or(0)));
        };
        pin_user_page(&mm, VirtAddr(data_va(page, 0))).map_err(|e| LoadError::Pin { pid: lp.pid(), error: e })
    }

    /// Pin a data page of the load whose frame lies in `[start, end)` (to
    /// put an unmovable page into a range on purpose); None if no data
    /// page is there.
    pub fn pin_page_in(&self, start: Pfn, end: Pfn) -> Result<Option<PinnedPage>, LoadError> {
        for (index, lp) in self.procs.iter().enumerate() {
            for page in 0..self.pages_each {
                let pfn = lp.with_mm(|_, inner| LockedFrame::at(inner, data_va(page, 0)).map(|f| f.pfn))?;
                if !pfn.is_some_and(|p| (start.0..end.0).contains(&p.0)) {
                    continue;
                }
                let pin = self.pin_data_page(index, page)?;
                // It may have moved between the look and the pin.
                if (start.0..end.0).contains(&pin.pfn().0) {
                    return Ok(Some(pin));
                }
            }
        }
        Ok(None)
    }

    /// How many of [`pfns`](Self::pfns) lie in `[start, end)`.
    pub fn nr_pages_in(&self, start: Pfn, end: Pfn) -> usize {
        self.pfns().iter().filter(|p| (start.0..end.0).contains(&p.0)).count()
    }

    /// Check every word of every data page of every process from the
    /// kernel, through its page tables, while the processes keep
    /// rewriting them: each word must hold [`word_value`] of its address,
    /// the generation it names and the process's seed, and that
    /// generation must not be older than the one its control page showed
    /// before. The first bad word is the error; a process that is gone is
    /// one too.
    pub fn verify(&self) -> Result<VerifyStats, LoadError> {
        let mut stats = VerifyStats::default();
        for lp in &self.procs {
            if let Some(w) = lp.zombie() {
                return Err(lp.died(w));
            }
            let floor = lp.control_word(CTL_GENERATION)?;
            fence(Ordering::Acquire);
            for page in 0..self.pages_each {
                let va = data_va(page, 0);
                let bad = lp.with_mm(|_, inner| {
                    let frame = LockedFrame::at(inner, va)?;
                    for word in 0..WORDS_PER_PAGE {
                        let found = frame.read(word);
                        let g = found >> (64 - GEN_BITS);
                        let wva = va + 8 * word as u64;
                        let expected = word_value(wva, g, lp.seed);
                        let bad = |expected, what| LoadError::Corrupt {
                            pid: lp.pid(),
                            va: wva,
                            pfn: frame.pfn,
                            expected,
                            found,
                            what,
                        };
                        if found != expected {
                            return Some(Err(bad(expected, "does not hold the pattern of the generation it names")));
                        }
                        if let Some(f) = floor
                            && generation_behind(g, f)
                        {
                            return Some(Err(bad(word_value(wva, f, lp.seed), "holds an older generation")));
                        }
                    }
                    Some(Ok(()))
                })?;
                match bad {
                    None => stats.pages_absent += 1,
                    Some(Ok(())) => stats.pages_checked += 1,
                    Some(Err(e)) => return Err(e),
                }
            }
        }
        Ok(stats)
    }

    /// Overwrite word `word` of data page `page` of process `index` with a
    /// value it cannot hold (the self-test of the checks). Returns the
    /// word's address.
    pub fn corrupt_word(&self, index: usize, page: usize, word: usize) -> Result<u64, LoadError> {
        let lp = self.procs.get(index).ok_or(LoadError::InvalidArgument("no such process in the load"))?;
        if page >= self.pages_each || word >= WORDS_PER_PAGE {
            return Err(LoadError::InvalidArgument("no such word in the load"));
        }
        let va = data_va(page, word);
        let done = lp.with_mm(|_, inner| {
            LockedFrame::at(inner, data_va(page, 0)).map(|frame| frame.write(word, !frame.read(word)))
        })?;
        done.ok_or(LoadError::InvalidArgument("the page is not mapped"))?;
        Ok(va)
    }

    /// Kill every process with SIGKILL and reap it; an error names each
    /// one that had ended on its own (and why) or would not die.
    pub fn stop(mut self) -> Result<(), LoadError> {
        self.stop_all()
    }

    fn stop_all(&mut self) -> Result<(), LoadError> {
        for lp in self.procs.iter().filter(|lp| !lp.reaped) {
            if lp.zombie().is_none() {
                let _ = signal::kill(lp.pid(), SIGKILL);
            }
        }
        let t0 = uptime_ms();
        while self.procs.iter().any(|lp| !lp.reaped && lp.zombie().is_none()) && uptime_ms() - t0 < KILL_TIMEOUT_MS {
            msleep(POLL_MS);
        }
        let mut errors = Vec::new();
        for lp in self.procs.iter_mut().filter(|lp| !lp.reaped) {
            if lp.zombie().is_none() {
                errors.push(LoadError::Unkillable { pid: lp.pid() });
                continue;
            }
            let cpu = lp.cpu();
            // A zombie: this returns at once, with its task reaped.
            let wstatus = exit::wait_detached(&lp.process);
            lp.reaped = true;
            if wstatus != SIGKILL as i32 {
                errors.push(LoadError::Died { pid: lp.pid(), cpu, wstatus });
            }
        }
        if errors.is_empty() { Ok(()) } else { Err(LoadError::Stop(errors)) }
    }
}

impl Drop for UserLoad {
    fn drop(&mut self) {
        if let Err(e) = self.stop_all() {
            pr_err!("{e}");
        }
    }
}

// ---------------------------------------------------------------------
// The `userload` suite.

pub const TESTS: &[Test] = &[
    Test { suite: "userload", name: "runs_verifies_and_stops", run: runs_verifies_and_stops },
    Test { suite: "userload", name: "corrupted_word_is_reported", run: corrupted_word_is_reported },
    Test { suite: "userload", name: "pin_takes_and_drops_a_reference", run: pin_takes_and_drops_a_reference },
    Test { suite: "userload", name: "pin_outlives_the_process", run: pin_outlives_the_process },
];

/// A first load settles what stays allocated once (the slab caches of
/// the process structures, vmalloc's per-CPU blocks), so that the page
/// counts of the tests compare like with like.
fn warm_up() {
    static WARM: spin::Once<()> = spin::Once::new();
    WARM.call_once(|| {
        if let Ok(load) = UserLoad::start(1, 1) {
            let _ = load.stop();
        }
    });
}

fn runs_verifies_and_stops() -> TestResult {
    const PAGES: usize = 64;
    warm_up();
    let before = PageCounts::now();
    let online = crate::smp::cpumask::num_online_cpus();
    let nr = online.clamp(2, 4);
    let load = UserLoad::start(nr, PAGES)?;
    check_eq!((load.nr_procs(), load.pages_each()), (nr, PAGES));
    let cpus: Vec<usize> = load.cpus().into_iter().flatten().collect();
    check_eq!(cpus.len(), nr);
    let mut distinct = cpus.clone();
    distinct.sort_unstable();
    distinct.dedup();
    check!(
        distinct.len() >= online.min(nr).min(2),
        "{nr} loads on {online} CPUs all went to CPU(s) {distinct:?}: the scheduler did not spread them"
    );
    // A few hundred ms of running, and at least two full rewrites each.
    msleep(300);
    load.wait_generations(2, 30_000)?;
    let stats = load.verify()?;
    check_eq!(stats, VerifyStats { pages_checked: nr * PAGES, pages_absent: 0 });
    // The frames: one per mapped page, none shared, all counted in RSS.
    let pfns = load.pfns();
    let rss: u64 = (0..nr).filter_map(|i| load.mm(i)).map(|mm| mm.rss()).sum();
    check_eq!(pfns.len() as u64, rss);
    check!(pfns.len() >= nr * (PAGES + 1), "{} frames mapped, fewer than the {nr} regions", pfns.len());
    let mut sorted = pfns.clone();
    sorted.sort_unstable_by_key(|p| p.0);
    sorted.dedup_by_key(|p| p.0);
    check_eq!(sorted.len(), pfns.len());
    check_eq!(load.nr_pages_in(Pfn(0), Pfn(u64::MAX)), pfns.len());
    let (lo, hi) = (sorted[0], sorted[sorted.len() - 1]);
    check_eq!(load.nr_pages_in(lo, Pfn(lo.0 + 1)), 1);
    check_eq!(load.nr_pages_in(lo, hi), pfns.len() - 1);
    check_eq!(load.nr_pages_in(hi, hi), 0);
    load.stop()?;
    PageCounts::now().check_back_to(&before)
}

fn corrupted_word_is_reported() -> TestResult {
    const PAGES: usize = 16;
    warm_up();
    let before = PageCounts::now();
    let load = UserLoad::start_with(1, PAGES, LoadMode::Hold)?;
    let pid = load.pids()[0];
    load.verify()?;
    let va = load.corrupt_word(0, 5, 7)?;
    check_eq!(va, data_va(5, 7));
    match load.verify() {
        Err(LoadError::Corrupt { pid: p, va: at, .. }) if p == pid && at == va => {}
        Err(e) => fail!("the kernel's check reported another error: {e}"),
        Ok(stats) => fail!("the kernel's check missed the word corrupted at {va:#x} ({stats:?})"),
    }
    // memtouch sees it on its next pass and ends with status 3.
    match load.first_exit(30_000) {
        Some((p, w)) => check!(p == pid && w == 3 << 8, "{PROGRAM}[{p}] {}", describe_wstatus(w)),
        None => fail!("{PROGRAM}[{pid}] did not notice the word corrupted at {va:#x} within 30 s"),
    }
    match load.stop() {
        Err(LoadError::Stop(errors)) => {
            check!(
                matches!(errors[..], [LoadError::Died { pid: p, wstatus, .. }] if p == pid && wstatus == 3 << 8),
                "stop() reported {errors:?}"
            );
        }
        r => fail!("stop() of a load that found corrupted data returned {r:?}"),
    }
    PageCounts::now().check_back_to(&before)
}

/// The frame mapped at `va` and its (refcount, mapcount).
fn pte_counts(mm: &Mm, va: u64) -> Option<(Pfn, i32, i32)> {
    let inner = mm.inner.lock();
    let pfn = inner.pgtable.lookup(VirtAddr(va))?.pfn();
    let page = pfn_to_page(pfn)?;
    Some((pfn, page.page_ref_count(), page.page_mapcount()))
}

/// pin_user_page, its error made a test's reason.
fn pin_for_test(mm: &Mm, va: u64) -> Result<PinnedPage, String> {
    pin_user_page(mm, VirtAddr(va)).map_err(|e| format!("pin_user_page({va:#x}): {e}"))
}

fn pin_takes_and_drops_a_reference() -> TestResult {
    warm_up();
    let before = PageCounts::now();
    let load = UserLoad::start(1, 8)?;
    let Some(mm) = load.mm(0) else { fail!("the load has no mm") };
    // A present page: one reference more, then back.
    let va = data_va(3, 0);
    let Some((pfn, refs, maps)) = pte_counts(&mm, va) else { fail!("data page 3 is not mapped") };
    check_eq!((refs, maps), (1, 1));
    let pin = pin_for_test(&mm, va + 100)?;
    check_eq!(pin.pfn(), pfn);
    check_eq!(pte_counts(&mm, va), Some((pfn, 2, 1)));
    let pin2 = pin_for_test(&mm, va)?;
    check_eq!(pte_counts(&mm, va), Some((pfn, 3, 1)));
    drop(pin2);
    drop(pin);
    check_eq!(pte_counts(&mm, va), Some((pfn, 1, 1)));
    // A page of the stack VMA never touched: faulted in by the pin.
    let stack_va = {
        let inner = mm.inner.lock();
        let Some(v) = inner.aspace.vmas().iter().find(|v| v.end == exec::STACK_TOP) else { fail!("no stack VMA") };
        v.start
    };
    check!(pte_counts(&mm, stack_va).is_none(), "the stack's lowest page {stack_va:#x} is mapped already");
    let rss = mm.rss();
    let pin = pin_for_test(&mm, stack_va)?;
    check_eq!(pte_counts(&mm, stack_va), Some((pin.pfn(), 2, 1)));
    check_eq!(mm.rss(), rss + 1);
    drop(pin);
    check_eq!(pte_counts(&mm, stack_va).map(|(_, r, m)| (r, m)), Some((1, 1)));
    // Addresses that cannot be pinned for write.
    check_eq!(pin_user_page(&mm, VirtAddr(REGION_BASE - PAGE_SIZE)).map(|p| p.pfn()), Err(Error::NotFound));
    let text = {
        let inner = mm.inner.lock();
        let Some(v) = inner.aspace.vmas().iter().find(|v| !v.flags.contains(VmFlags::WRITE)) else {
            fail!("no read-only VMA")
        };
        v.start
    };
    check_eq!(pin_user_page(&mm, VirtAddr(text)).map(|p| p.pfn()), Err(Error::InvalidArgument));
    drop(mm);
    load.stop()?;
    PageCounts::now().check_back_to(&before)
}

fn pin_outlives_the_process() -> TestResult {
    warm_up();
    let before = PageCounts::now();
    let load = UserLoad::start_with(1, 8, LoadMode::Hold)?;
    let seed = load.seed(0).unwrap_or(0);
    let va = data_va(2, 0);
    let pin = load.pin_data_page(0, 2)?;
    let Some(page) = pfn_to_page(pin.pfn()) else { fail!("pfn {:#x} has no page", pin.pfn().0) };
    check_eq!((page.page_ref_count(), page.page_mapcount()), (2, 1));
    // The same frame again, found by its range.
    let again = load.pin_page_in(pin.pfn(), Pfn(pin.pfn().0 + 1))?;
    check_eq!(again.as_ref().map(PinnedPage::pfn), Some(pin.pfn()));
    check_eq!(load.pin_page_in(Pfn(0), Pfn(0))?.map(|p| p.pfn()), None);
    drop(again);
    load.stop()?;
    // The process and its mm are gone; the page is held by the pin alone.
    check_eq!((page.page_ref_count(), page.page_mapcount()), (1, 0));
    for word in 0..WORDS_PER_PAGE {
        let expected = word_value(va + 8 * word as u64, 1, seed);
        let found = pin.read_u64(word);
        check!(found == expected, "word {word} of the pinned page: {found:#x}, expected {expected:#x}");
    }
    drop(pin);
    check_eq!(page.page_ref_count(), 0);
    PageCounts::now().check_back_to(&before)
}
