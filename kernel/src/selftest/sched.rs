//! The scheduler on real CPUs: kernel threads on every CPU yielding,
//! sleeping, waiting on wait queues, exiting and being reaped with every
//! page back, the thread registers and FP/SIMD state kept per task, and
//! on_each_cpu still reaching CPUs that are busy with tasks.

use crate::memory::{page_alloc, pgtable, vmalloc};
use crate::sched::{self, Task, TaskState, WaitQueue};
use crate::smp::call::on_each_cpu;
use crate::smp::cpumask::{cpu_online, num_online_cpus};
use crate::{check, check_eq, fail};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use arch::percpu::{NR_CPUS, smp_processor_id};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

use super::harness::{Test, TestResult};

pub const TESTS: &[Test] = &[
    Test { suite: "sched", name: "spawn_runs_on_every_cpu_and_exits", run: spawn_runs_on_every_cpu_and_exits },
    Test { suite: "sched", name: "yields_interleave_on_every_cpu", run: yields_interleave_on_every_cpu },
    Test { suite: "sched", name: "spawn_balances_load", run: spawn_balances_load },
    Test { suite: "sched", name: "tick_ends_the_slice", run: tick_ends_the_slice },
    Test { suite: "sched", name: "waitqueue_producer_consumer", run: waitqueue_producer_consumer },
    Test { suite: "sched", name: "wake_up_crosses_cpus", run: wake_up_crosses_cpus },
    Test { suite: "sched", name: "msleep_is_accurate", run: msleep_is_accurate },
    Test { suite: "sched", name: "on_each_cpu_reaches_busy_cpus", run: on_each_cpu_reaches_busy_cpus },
    Test { suite: "sched", name: "tls_registers_are_per_task", run: tls_registers_are_per_task },
    Test { suite: "sched", name: "fpsimd_state_is_per_task", run: fpsimd_state_is_per_task },
    Test { suite: "sched", name: "exit_frees_every_page", run: exit_frees_every_page },
];

fn online_cpus() -> Vec<usize> {
    (0..NR_CPUS).filter(|&c| cpu_online(c) && sched::schedule::sched_up(c)).collect()
}

/// The CPUs the heavier tests load: all of them up to four, else the
/// first, the last and two between (on a large `-smp`, QEMU's vCPUs
/// outnumber the host's cores and every extra CPU slows all the others).
fn test_cpus() -> Vec<usize> {
    let all = online_cpus();
    if all.len() <= 4 {
        return all;
    }
    let n = all.len();
    let mut v: Vec<usize> = [0, n / 3, 2 * n / 3, n - 1].iter().map(|&i| all[i]).collect();
    v.dedup();
    v
}

/// Failures reported by threads, checked by the test once they are reaped.
type Failures = Arc<Mutex<Vec<String>>>;

fn spawn_on(name: &str, cpu: Option<usize>, f: impl FnOnce() + Send + 'static) -> Result<Arc<Task>, String> {
    sched::spawn(name, cpu, Box::new(f)).map_err(|e| alloc::format!("spawn {name}: {e}"))
}

fn first_failure(f: &Failures) -> TestResult {
    let f = f.lock();
    if let Some(e) = f.first() {
        fail!("{e} ({} failures)", f.len());
    }
    Ok(())
}

fn spawn_runs_on_every_cpu_and_exits() -> TestResult {
    let mut tasks = Vec::new();
    let seen: Arc<[AtomicU64; NR_CPUS]> = Arc::new([const { AtomicU64::new(u64::MAX) }; NR_CPUS]);
    for cpu in online_cpus() {
        let seen = seen.clone();
        let t = spawn_on("sched-exit", Some(cpu), move || {
            let me = sched::current();
            seen[cpu].store(smp_processor_id() as u64, Ordering::Release);
            let code = 100 + me.cpu() as i32;
            drop(me);
            sched::exit(code);
        })?;
        check_eq!(t.comm(), "sched-exit");
        check!(t.tid > 0, "tid {} of a kernel thread", t.tid);
        tasks.push((cpu, t));
    }
    for (cpu, t) in tasks {
        let code = sched::reap(t);
        check_eq!(code, 100 + cpu as i32);
        check_eq!(seen[cpu].load(Ordering::Acquire), cpu as u64);
    }
    // A thread whose function returns exits with 0.
    let t = spawn_on("sched-ret", None, || {})?;
    check_eq!(sched::wait_task_exit(&t), 0);
    check_eq!(t.state(), TaskState::Zombie);
    sched::reap(t);
    let me = sched::current();
    check_eq!(me.comm(), "swapper/0");
    check!(me.is_idle(), "kernel_main is not the boot CPU's idle task");
    Ok(())
}

const YIELD_THREADS: usize = 3;
const YIELDS: u64 = 200;

fn yields_interleave_on_every_cpu() -> TestResult {
    let cpus = test_cpus();
    let failures: Failures = Arc::default();
    let last: Arc<[AtomicU64; NR_CPUS]> = Arc::new([const { AtomicU64::new(0) }; NR_CPUS]);
    let go = Arc::new(AtomicBool::new(false));
    let switches0: Vec<u64> = cpus.iter().map(|&c| sched::schedule::nr_switches(c)).collect();
    let mut tasks = Vec::new();
    for &cpu in &cpus {
        for _ in 0..YIELD_THREADS {
            let (failures, last, go) = (failures.clone(), last.clone(), go.clone());
            let t = spawn_on("sched-yield", Some(cpu), move || {
                let tid = sched::current().tid as u64;
                // All three queued before anyone counts.
                while !go.load(Ordering::Acquire) {
                    sched::yield_now();
                }
                let mut alternations = 0;
                for _ in 0..YIELDS {
                    if last[cpu].swap(tid, Ordering::AcqRel) != tid {
                        alternations += 1;
                    }
                    if smp_processor_id() != cpu {
                        failures.lock().push(alloc::format!("task {tid} moved from CPU{cpu}"));
                        return;
                    }
                    sched::yield_now();
                }
                // Round robin between three: nearly every turn is another's.
                if alternations < YIELDS / 2 {
                    failures.lock().push(alloc::format!(
                        "task {tid} on CPU{cpu}: {alternations} of {YIELDS} turns followed another task"
                    ));
                }
            })?;
            tasks.push(t);
        }
    }
    go.store(true, Ordering::Release);
    for t in tasks {
        check_eq!(sched::reap(t), 0);
    }
    first_failure(&failures)?;
    for (i, &c) in cpus.iter().enumerate() {
        let n = sched::schedule::nr_switches(c) - switches0[i];
        check!(
            n >= YIELD_THREADS as u64 * YIELDS,
            "CPU{c}: {n} switches for {YIELD_THREADS} threads of {YIELDS} yields"
        );
    }
    Ok(())
}

fn spawn_balances_load() -> TestResult {
    let cpus = online_cpus();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..cpus.len() {
        let stop = stop.clone();
        tasks.push(spawn_on("sched-spread", None, move || {
            while !stop.load(Ordering::Acquire) {
                sched::yield_now();
            }
        })?);
    }
    let mut per_cpu = [0usize; NR_CPUS];
    for t in &tasks {
        per_cpu[t.cpu()] += 1;
    }
    stop.store(true, Ordering::Release);
    for t in tasks {
        sched::reap(t);
    }
    for &c in &cpus {
        check_eq!(per_cpu[c], 1);
    }
    Ok(())
}

/// The tick (called here by hand, as the timer interrupt will) uses up
/// the slice and asks for a reschedule only when another task waits.
fn tick_ends_the_slice() -> TestResult {
    let result: Arc<Mutex<Option<TestResult>>> = Arc::default();
    let cpu = *online_cpus().last().expect("a CPU");
    let r = result.clone();
    let t = spawn_on("sched-tick", Some(cpu), move || {
        let ticks = |n: u32| {
            for _ in 0..n {
                let f = arch::irqflags::local_irq_save();
                sched::scheduler_tick();
                arch::irqflags::local_irq_restore(f);
            }
        };
        let run = || -> TestResult {
            sched::yield_now();
            check!(!sched::need_resched(), "need_resched right after a switch");
            ticks(sched::task::SLICE_TICKS + 1);
            check!(!sched::need_resched(), "need_resched with nothing else to run");
            let other = spawn_on("sched-tick2", Some(cpu), || {})?;
            check!(sched::need_resched(), "a wake-up on this CPU does not ask for a reschedule");
            sched::yield_now();
            check!(!sched::need_resched(), "need_resched survives schedule()");
            ticks(sched::task::SLICE_TICKS - 1);
            check!(!sched::need_resched(), "need_resched before the slice is over");
            let other2 = spawn_on("sched-tick3", Some(cpu), || {})?;
            sched::current().clear_flags(sched::TaskFlags::NEED_RESCHED);
            ticks(1);
            check!(sched::need_resched(), "no need_resched when the slice is over and a task waits");
            sched::reap(other);
            sched::reap(other2);
            Ok(())
        };
        // The real tick is held off this CPU meanwhile, so that the slice
        // counts only the ticks the test makes (schedule() keeps the mask:
        // it restores what its caller had).
        let f = arch::irqflags::local_irq_save();
        let verdict = run();
        arch::irqflags::local_irq_restore(f);
        *r.lock() = Some(verdict);
    })?;
    sched::reap(t);
    result.lock().take().unwrap_or_else(|| Err(String::from("the tick thread did not report")))
}

const ITEMS: u64 = 200;
const RING: usize = 8;

fn waitqueue_producer_consumer() -> TestResult {
    struct Shared {
        ring: Mutex<alloc::collections::VecDeque<u64>>,
        not_empty: WaitQueue,
        not_full: WaitQueue,
    }
    let cpus = online_cpus();
    let (pc, cc) = (cpus[cpus.len() - 1], cpus[0]);
    let s = Arc::new(Shared {
        ring: Mutex::new(alloc::collections::VecDeque::new()),
        not_empty: WaitQueue::new(),
        not_full: WaitQueue::new(),
    });
    let failures: Failures = Arc::default();
    let sp = s.clone();
    let producer = spawn_on("sched-prod", Some(pc), move || {
        for i in 0..ITEMS {
            sp.not_full.wait_event(|| sp.ring.lock().len() < RING);
            sp.ring.lock().push_back(i);
            sp.not_empty.wake_up_all();
        }
    })?;
    let (sc, f) = (s.clone(), failures.clone());
    let consumer = spawn_on("sched-cons", Some(cc), move || {
        for i in 0..ITEMS {
            sc.not_empty.wait_event(|| !sc.ring.lock().is_empty());
            let v = sc.ring.lock().pop_front();
            sc.not_full.wake_up_all();
            if v != Some(i) {
                f.lock().push(alloc::format!("item {i}: got {v:?}"));
                return;
            }
        }
    })?;
    check_eq!(sched::reap(producer), 0);
    check_eq!(sched::reap(consumer), 0);
    first_failure(&failures)?;
    check!(s.ring.lock().is_empty(), "items left in the ring");
    check!(s.not_empty.is_empty() && s.not_full.is_empty(), "waiters left on a wait queue");
    Ok(())
}

const ROUNDS: u64 = 50;

fn wake_up_crosses_cpus() -> TestResult {
    struct PingPong {
        ball: AtomicU64,
        to_thread: WaitQueue,
        to_main: WaitQueue,
    }
    let cpus = online_cpus();
    let cpu = cpus[cpus.len() - 1];
    let p = Arc::new(PingPong { ball: AtomicU64::new(0), to_thread: WaitQueue::new(), to_main: WaitQueue::new() });
    let q = p.clone();
    let t = spawn_on("sched-pong", Some(cpu), move || {
        for r in 0..ROUNDS {
            q.to_thread.wait_event(|| q.ball.load(Ordering::Acquire) == 2 * r + 1);
            q.ball.store(2 * r + 2, Ordering::Release);
            q.to_main.wake_up_all();
        }
    })?;
    for r in 0..ROUNDS {
        p.ball.store(2 * r + 1, Ordering::Release);
        p.to_thread.wake_up_all();
        p.to_main.wait_event(|| p.ball.load(Ordering::Acquire) == 2 * r + 2);
    }
    check_eq!(sched::reap(t), 0);
    check_eq!(p.ball.load(Ordering::Acquire), 2 * ROUNDS);
    Ok(())
}

/// A sleep never ends early, and ends within this much of its deadline:
/// a loose bound (a sleep that never ends is what it catches), since the
/// CPUs are QEMU threads on a shared host, often descheduled for tenths
/// of a second.
const SLEEP_SLACK_MS: u64 = 2000;

fn check_sleep(ms: u64, f: impl FnOnce()) -> Result<(), String> {
    let t0 = arch::timer::uptime_ns();
    f();
    let took_us = (arch::timer::uptime_ns() - t0) / 1000;
    if took_us < ms * 1000 {
        return Err(alloc::format!("a {ms} ms sleep ended after {took_us} us"));
    }
    if took_us > (ms + SLEEP_SLACK_MS) * 1000 {
        return Err(alloc::format!("a {ms} ms sleep took {took_us} us"));
    }
    Ok(())
}

fn msleep_is_accurate() -> TestResult {
    if arch::timer::frequency_hz() == 0 {
        return Ok(()); // sleeps are yields without a counter frequency
    }
    let failures: Failures = Arc::default();
    let mut tasks = Vec::new();
    for cpu in test_cpus() {
        for (k, ms) in [7u64, 20].into_iter().enumerate() {
            let f = failures.clone();
            tasks.push(spawn_on("sched-sleep", Some(cpu), move || {
                for _ in 0..2 {
                    if let Err(e) = check_sleep(ms + k as u64, || sched::msleep(ms + k as u64)) {
                        f.lock().push(alloc::format!("CPU{cpu}: {e}"));
                    }
                }
            })?);
        }
    }
    // The boot task sleeps too, while the threads sleep and wake around it.
    check_sleep(30, || sched::msleep(30))?;
    for t in tasks {
        sched::reap(t);
    }
    first_failure(&failures)?;
    // sleep_until: the jiffy count has reached the target on return.
    let target = sched::jiffies() + 5;
    sched::sleep_until(target);
    let now = sched::jiffies();
    check!(now >= target, "sleep_until({target}) returned at jiffy {now}");
    check!(now <= target + sched::clock::msecs_to_jiffies(SLEEP_SLACK_MS), "sleep_until({target}): jiffy {now}");
    Ok(())
}

const EACH_CPU_CALLS: usize = 4;

static EACH_CPU_HITS: [AtomicUsize; NR_CPUS] = [const { AtomicUsize::new(0) }; NR_CPUS];

fn count_hit(cpu: usize) {
    EACH_CPU_HITS[cpu].fetch_add(1, Ordering::AcqRel);
}

fn on_each_cpu_reaches_busy_cpus() -> TestResult {
    let cpus = test_cpus();
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for &cpu in &cpus {
        {
            let stop = stop.clone();
            tasks.push(spawn_on("sched-busy", Some(cpu), move || {
                while !stop.load(Ordering::Acquire) {
                    sched::yield_now();
                }
            })?);
        }
    }
    let before: Vec<usize> = (0..NR_CPUS).map(|c| EACH_CPU_HITS[c].load(Ordering::Acquire)).collect();
    for _ in 0..EACH_CPU_CALLS {
        on_each_cpu(count_hit);
    }
    stop.store(true, Ordering::Release);
    for t in tasks {
        sched::reap(t);
    }
    for c in 0..NR_CPUS {
        let n = EACH_CPU_HITS[c].load(Ordering::Acquire) - before[c];
        check_eq!(n, if cpu_online(c) { EACH_CPU_CALLS } else { 0 });
    }
    Ok(())
}

fn tls_registers_are_per_task() -> TestResult {
    let failures: Failures = Arc::default();
    let mut tasks = Vec::new();
    let mine = arch::context::ThreadRegs::read();
    for cpu in test_cpus() {
        for k in 0..2u64 {
            let f = failures.clone();
            tasks.push(spawn_on("sched-tls", Some(cpu), move || {
                let tid = sched::current().tid as u64;
                let want = arch::context::ThreadRegs { tpidr_el0: tid << 8 | k, tpidrro_el0: !(tid << 8 | k) };
                want.write();
                for _ in 0..100 {
                    sched::yield_now();
                    let got = arch::context::ThreadRegs::read();
                    if got != want {
                        f.lock().push(alloc::format!("task {tid}: {got:x?}, expected {want:x?}"));
                        return;
                    }
                }
            })?);
        }
    }
    for t in tasks {
        sched::reap(t);
    }
    first_failure(&failures)?;
    check_eq!(arch::context::ThreadRegs::read(), mine);
    Ok(())
}

/// A distinct FP/SIMD state for `seed`, with the FPSR/FPCR bits that exist.
fn fp_pattern(seed: u64) -> arch::fpsimd::FpState {
    let mut s = arch::fpsimd::FpState::ZERO;
    for (i, v) in s.vregs.iter_mut().enumerate() {
        let lo = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64) << 56;
        *v = (lo as u128) << 64 | (!lo ^ seed) as u128;
    }
    s.fpsr = [0x1, 0x2 | (1 << 27), 0x4 | 0x80, 0x18][(seed % 4) as usize] & arch::fpsimd::FPSR_MASK;
    s.fpcr = (((seed % 4) as u32) << 22) | if seed & 4 != 0 { 1 << 25 } else { 0 };
    s
}

const FP_ROUNDS: usize = 100;

fn fpsimd_state_is_per_task() -> TestResult {
    let failures: Failures = Arc::default();
    let mut tasks = Vec::new();
    for cpu in test_cpus() {
        for k in 0..2 {
            let f = failures.clone();
            tasks.push(spawn_on("sched-fp", Some(cpu), move || {
                let me = sched::current();
                let seed = me.tid as u64 * 8 + k;
                sched::fpsimd::first_use(&me);
                let mut got = arch::fpsimd::FpState::ZERO;
                arch::fpsimd::save(&mut got);
                if got != arch::fpsimd::FpState::ZERO {
                    f.lock().push(alloc::format!("task {}: first use found nonzero state", me.tid));
                }
                drop(me);
                let want = fp_pattern(seed);
                arch::fpsimd::restore(&want);
                for round in 0..FP_ROUNDS {
                    sched::yield_now();
                    arch::fpsimd::save(&mut got);
                    let masked = |s: &arch::fpsimd::FpState| {
                        (s.vregs, s.fpsr & arch::fpsimd::FPSR_MASK, s.fpcr & arch::fpsimd::FPCR_MASK)
                    };
                    if masked(&got) != masked(&want) {
                        let bad = (0..32).find(|&i| got.vregs[i] != want.vregs[i]);
                        f.lock().push(alloc::format!(
                            "CPU{cpu} seed {seed} round {round}: v{bad:?} fpsr {:#x}/{:#x} fpcr {:#x}/{:#x}",
                            got.fpsr,
                            want.fpsr,
                            got.fpcr,
                            want.fpcr
                        ));
                        return;
                    }
                }
            })?);
        }
        // A task that never uses FP/SIMD, interleaved with them: it runs
        // with FP/SIMD trapped every time.
        let f = failures.clone();
        tasks.push(spawn_on("sched-nofp", Some(cpu), move || {
            for _ in 0..FP_ROUNDS {
                sched::yield_now();
                if arch::fpsimd::is_enabled() {
                    f.lock().push(alloc::format!("CPU{cpu}: FP/SIMD enabled in a task that never used it"));
                    return;
                }
            }
        })?);
    }
    for t in tasks {
        sched::reap(t);
    }
    first_failure(&failures)?;
    // The boot task never used FP/SIMD: it still traps at EL1.
    check!(!arch::fpsimd::is_enabled(), "FP/SIMD left enabled for kernel_main");
    match arch::exception::probe_fp() {
        Ok(()) => fail!("an FP instruction ran at EL1 after the FP tasks"),
        Err(f) => check_eq!((f.esr >> 26) & 0x3f, arch::exception::ec::FP_ASIMD),
    }
    Ok(())
}

struct Counts {
    free_pages: u64,
    tables: u64,
    slab_pages: u64,
    busy: usize,
}

fn counts() -> Counts {
    vmalloc::vm_unmap_aliases();
    crate::memory::slab::shrink_kmalloc_caches();
    let pa = page_alloc::allocator();
    pa.drain_all_pages();
    let (rec, unrec) = crate::memory::slab::slub().map(|s| s.nr_slab_pages()).unwrap_or((0, 0));
    Counts {
        free_pages: pa.nr_free_pages(),
        tables: pgtable::nr_table_pages_allocated(),
        slab_pages: rec + unrec,
        busy: vmalloc::stats().map(|s| s.busy).unwrap_or(0),
    }
}

const REAPED: usize = 8;

fn spawn_and_reap(n: usize) -> TestResult {
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(spawn_on("sched-reap", None, move || {
            for _ in 0..i % 4 {
                sched::yield_now();
            }
            sched::exit(i as i32)
        })?);
    }
    for (i, t) in tasks.into_iter().enumerate() {
        check_eq!(sched::reap(t), i as i32);
    }
    Ok(())
}

fn exit_frees_every_page() -> TestResult {
    // Warm up: the run queues' arrays and the kmalloc caches reach their size.
    spawn_and_reap(REAPED)?;
    let before = counts();
    let stack_pages = (arch::exception::STACK_SIZE / mm::PAGE_SIZE) as usize;
    let mid = {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let stop = stop.clone();
            tasks.push(spawn_on("sched-live", None, move || {
                while !stop.load(Ordering::Acquire) {
                    sched::yield_now();
                }
            })?);
        }
        let mid = page_alloc::allocator().nr_free_pages();
        stop.store(true, Ordering::Release);
        for t in tasks {
            sched::reap(t);
        }
        mid
    };
    check!(
        mid + (4 * stack_pages) as u64 <= before.free_pages,
        "4 live tasks' stacks ({} pages) do not show in the free count ({mid} vs {})",
        4 * stack_pages,
        before.free_pages
    );
    spawn_and_reap(REAPED)?;
    let after = counts();
    let tables = after.tables - before.tables;
    let slab = after.slab_pages as i64 - before.slab_pages as i64;
    check!(
        after.free_pages as i64 + tables as i64 + slab == before.free_pages as i64,
        "free pages {} + {} new page tables + {} slab pages != {} before: a task's pages leaked",
        after.free_pages,
        tables,
        slab,
        before.free_pages
    );
    check_eq!(after.busy, before.busy);
    check!(num_online_cpus() >= 1, "no CPU online");
    Ok(())
}
