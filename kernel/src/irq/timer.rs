//! The periodic tick: each CPU's EL1 timer at HZ, `jiffies`, per-CPU
//! tick counts, and the hook the scheduler hangs on it.
//!
//! Each CPU programs its own timer (CNTV, the virtual timer, as Linux at
//! EL1; CNTP only when the tree lists no virtual timer interrupt) by
//! compare value, one period (counter frequency / [`HZ`]) after the last
//! expiry, so ticks do not drift with handler latency. A CPU that was held
//! off for several periods (IRQs masked for long) takes one tick and
//! re-arms for the next period boundary; it does not replay the missed ones.
//!
//! `jiffies` is kept by CPU 0 alone (Linux's tick_do_timer_cpu, fixed
//! here): on each of its ticks it becomes the number of whole periods
//! since [`init`], from the counter, so missed ticks are caught up
//! (Linux's tick_do_update_jiffies64). It starts at 0, not at Linux's
//! INITIAL_JIFFIES.
//!
//! All state is atomics; the handler takes no lock. The tick hook runs in
//! IRQ context on every CPU's tick, after the counts are updated (see
//! `irq`'s essay for what it may do).

use super::chip::PRIORITY;
use super::hook::{HookSlot, run_hook, store_hook};
use crate::{pr_info, pr_warn};
use arch::gic::Gic;
use arch::percpu::NR_CPUS;
use arch::timer::{CTL_ENABLE, TimerKind};
use bootdata::devicetree::DtInfo;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

/// Ticks per second (Debian arm64's CONFIG_HZ).
pub const HZ: u64 = 250;

static JIFFIES: AtomicU64 = AtomicU64::new(0);
static TICKS: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
/// Each CPU's next compare value.
static NEXT: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
/// Counter ticks per jiffy; 0 = no tick (unknown frequency, no GIC).
static PERIOD: AtomicU64 = AtomicU64::new(0);
/// The counter when jiffies was 0.
static BASE: AtomicU64 = AtomicU64::new(0);
/// The timer's INTID, 0 = none.
static INTID: AtomicU32 = AtomicU32::new(0);
/// The physical timer rather than the virtual one.
static USE_PHYS: AtomicBool = AtomicBool::new(false);

/// The tick hook.
static TICK_HOOK: HookSlot = spin::RwLock::new(None);

/// Ticks since the tick started (CPU 0 keeps it; 64 bits, never wraps).
pub fn jiffies() -> u64 {
    JIFFIES.load(Ordering::Relaxed)
}

/// Ticks `cpu` has taken.
pub fn tick_count(cpu: usize) -> u64 {
    TICKS.get(cpu).map_or(0, |t| t.load(Ordering::Relaxed))
}

/// The counter value `cpu`'s timer is armed for (0 before its first tick
/// is set up).
pub fn next_expiry(cpu: usize) -> u64 {
    NEXT.get(cpu).map_or(0, |n| n.load(Ordering::Relaxed))
}

/// Counter ticks per jiffy (0 if the tick does not run).
pub fn period_ticks() -> u64 {
    PERIOD.load(Ordering::Relaxed)
}

/// Whether the tick runs (a GIC, a known counter frequency).
pub fn is_running() -> bool {
    PERIOD.load(Ordering::Relaxed) != 0 && INTID.load(Ordering::Relaxed) != 0
}

/// Have `f` called on every CPU's tick, in IRQ context (the scheduler's
/// scheduler_tick). Replaces any hook set before.
pub fn set_tick_hook(f: fn()) {
    store_hook(&TICK_HOOK, f);
}

/// The timer's INTID, if the tick is set up.
pub(super) fn intid() -> Option<u32> {
    match INTID.load(Ordering::Relaxed) {
        0 => None,
        i => Some(i),
    }
}

fn kind() -> TimerKind {
    if USE_PHYS.load(Ordering::Relaxed) { TimerKind::Phys } else { TimerKind::Virt }
}

/// Choose the timer and its INTID from the tree, once, on the boot CPU.
pub(super) fn init(dt: &DtInfo) {
    let t = &dt.gic.timer;
    // The virtual timer is the third interrupt; a tree listing only one or
    // two names no virtual timer, and the physical one is used.
    let phys = matches!(t.from_tree, 1 | 2);
    let (intid, name) = if phys { (t.phys, "physical") } else { (t.virt, "virtual") };
    let f = arch::timer::frequency_hz();
    if f < HZ {
        pr_warn!("arch_timer: counter frequency {f} Hz: no tick");
        return;
    }
    USE_PHYS.store(phys, Ordering::Relaxed);
    INTID.store(intid, Ordering::Relaxed);
    PERIOD.store(f / HZ, Ordering::Relaxed);
    BASE.store(arch::timer::counter_of(kind()), Ordering::Relaxed);
    pr_info!(
        "arch_timer: cp15 timer running at {}.{:02}MHz ({name}, irq {intid}); tick at HZ={HZ}",
        f / 1_000_000,
        (f / 10_000) % 100
    );
}

/// Start the calling CPU's tick.
pub(super) fn init_cpu(g: &Gic, cpu: usize) {
    let period = PERIOD.load(Ordering::Relaxed);
    let Some(intid) = intid() else { return };
    if period == 0 || cpu >= NR_CPUS {
        return;
    }
    let k = kind();
    let next = arch::timer::counter_of(k) + period;
    NEXT[cpu].store(next, Ordering::Relaxed);
    arch::timer::set_cval(k, next);
    arch::timer::set_ctl(k, CTL_ENABLE);
    g.enable(intid, PRIORITY);
}

/// The timer fired on `cpu` (IRQs masked): count, re-arm, run the hook.
pub(super) fn handle(cpu: usize) {
    let (k, period) = (kind(), PERIOD.load(Ordering::Relaxed));
    let Some(next) = NEXT.get(cpu) else { return };
    let now = arch::timer::counter_of(k);
    if period == 0 {
        arch::timer::set_ctl(k, arch::timer::CTL_IMASK);
        return;
    }
    let armed = next.load(Ordering::Relaxed);
    if now < armed {
        // Not expired: a stale interrupt (a level the GIC latched before
        // the last re-arm took effect). Counting it would move the compare
        // value a period further each time (Linux's arch_timer_handler
        // checks ISTATUS for the same reason).
        arch::timer::set_cval(k, armed);
        return;
    }
    // The next period boundary after now (the level-triggered interrupt
    // drops as soon as the compare value is in the future).
    let mut n = armed.wrapping_add(period);
    if n <= now {
        n = now + period - (now - n) % period;
    }
    next.store(n, Ordering::Relaxed);
    arch::timer::set_cval(k, n);
    TICKS[cpu].fetch_add(1, Ordering::Relaxed);
    if cpu == 0 {
        let j = now.wrapping_sub(BASE.load(Ordering::Relaxed)) / period;
        JIFFIES.fetch_max(j, Ordering::Relaxed);
    }
    run_hook(&TICK_HOOK);
}
