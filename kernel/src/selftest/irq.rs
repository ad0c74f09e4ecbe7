//! Interrupts on this machine: the GIC is up on every CPU, the tick runs
//! at HZ everywhere, jiffies keeps time with the counter, IPIs arrive, and
//! masking IRQs holds them off.

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::irq::ipi::{self, Ipi};
use crate::irq::{self as irqs, timer};
use crate::smp::{call, cpumask};
use crate::{check, check_eq, fail};
use arch::irqflags;
use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicU64, Ordering};

pub const TESTS: &[Test] = &[
    Test { suite: "irq", name: "gic_up_and_irqs_unmasked_on_every_cpu", run: gic_up_and_irqs_unmasked_on_every_cpu },
    Test { suite: "irq", name: "masking_holds_the_tick_off", run: masking_holds_the_tick_off },
    Test { suite: "irq", name: "ticks_advance_on_every_cpu", run: ticks_advance_on_every_cpu },
    Test { suite: "irq", name: "jiffies_advance_at_hz", run: jiffies_advance_at_hz },
    Test { suite: "irq", name: "sgi_reaches_every_cpu", run: sgi_reaches_every_cpu },
    Test {
        suite: "irq",
        name: "unexpected_irq_reported_once_and_disabled",
        run: unexpected_irq_reported_once_and_disabled,
    },
];

/// Online CPUs as a mask.
fn online_mask() -> u64 {
    (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c)).fold(0, |m, c| m | 1 << c)
}

/// How long a test waits for an interrupt before it gives up: long, as a
/// loaded host may not run a vCPU (or QEMU's timer thread) for a while;
/// a passing wait ends as soon as the interrupt arrives.
const WAIT_MS: u64 = 5000;

/// Counter ticks in `ms` milliseconds.
fn ms_ticks(ms: u64) -> u64 {
    arch::timer::frequency_hz() * ms / 1000
}

/// The tree has a GIC, so the kernel must run with it: a caller that
/// finds none fails rather than passing vacuously.
fn need_gic() -> TestResult {
    let dt = &state::get().dt;
    check!(dt.gic.gic.is_some(), "no GIC in the device tree ({:?})", dt.gic.issue);
    check!(irqs::gic().is_some(), "the tree has a GIC but the kernel did not bring it up (see the GIC: lines)");
    Ok(())
}

/// The GIC and, unless firmware left CNTFRQ_EL0 at 0 (no tick then, as
/// Linux's arch_timer has no rate: `timer.counter_runs` fails on that
/// machine and names it), the tick. Ok(false): no tick to test.
fn need_tick() -> Result<bool, alloc::string::String> {
    need_gic()?;
    if arch::timer::frequency_hz() == 0 {
        check!(!timer::is_running(), "a tick runs without a counter frequency");
        crate::pr_info!("irq: CNTFRQ_EL0 is 0: no tick to test");
        return Ok(false);
    }
    check!(timer::is_running(), "the tick does not run");
    Ok(true)
}

static UNMASKED: AtomicU64 = AtomicU64::new(0);
static VISITED: AtomicU64 = AtomicU64::new(0);

fn note_unmasked(cpu: usize) {
    if !irqflags::irqs_disabled() {
        UNMASKED.fetch_or(1 << cpu, Ordering::Relaxed);
    }
    VISITED.fetch_or(1 << cpu, Ordering::Relaxed);
}

fn gic_up_and_irqs_unmasked_on_every_cpu() -> TestResult {
    need_gic()?;
    UNMASKED.store(0, Ordering::Relaxed);
    VISITED.store(0, Ordering::Relaxed);
    call::on_each_cpu(note_unmasked);
    let online = online_mask();
    check_eq!(VISITED.load(Ordering::Relaxed), online);
    check_eq!(UNMASKED.load(Ordering::Relaxed), online);
    Ok(())
}

/// With IRQs masked for several periods this CPU takes no tick; unmasked,
/// the pending one arrives at once.
fn masking_holds_the_tick_off() -> TestResult {
    if !need_tick()? {
        return Ok(());
    }
    let cpu = arch::percpu::smp_processor_id();
    let outer = irqflags::local_irq_save();
    check!(!outer.irqs_disabled(), "the test runs with IRQs masked");
    check!(irqflags::irqs_disabled(), "local_irq_save did not mask");
    let inner = irqflags::local_irq_save();
    check!(inner.irqs_disabled(), "a nested save did not see IRQs masked");
    irqflags::local_irq_restore(inner);
    check!(irqflags::irqs_disabled(), "restoring the nested save unmasked");
    let before = timer::tick_count(cpu);
    arch::timer::delay_us(4 * 1_000_000 / timer::HZ);
    let masked = timer::tick_count(cpu) - before;
    irqflags::local_irq_restore(outer);
    check!(!irqflags::irqs_disabled(), "restore did not unmask");
    // The tick pending since the first period is taken now.
    wait_ms(WAIT_MS, || timer::tick_count(cpu) > before);
    check_eq!(masked, 0);
    check!(timer::tick_count(cpu) > before, "no tick within {WAIT_MS} ms of unmasking");
    Ok(())
}

/// Per CPU: its tick count and the counter, read together on that CPU.
static BEFORE: [[AtomicU64; 2]; NR_CPUS] = [const { [const { AtomicU64::new(0) }; 2] }; NR_CPUS];
static AFTER: [[AtomicU64; 2]; NR_CPUS] = [const { [const { AtomicU64::new(0) }; 2] }; NR_CPUS];
/// How far ahead each CPU's timer is armed, in counter ticks (signed).
static AHEAD: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

fn read_into(slot: &[AtomicU64; 2], cpu: usize) {
    slot[0].store(timer::tick_count(cpu), Ordering::Relaxed);
    slot[1].store(arch::timer::counter(), Ordering::Relaxed);
}

fn read_before(cpu: usize) {
    read_into(&BEFORE[cpu], cpu);
    AHEAD[cpu].store(timer::next_expiry(cpu).wrapping_sub(arch::timer::counter()), Ordering::Relaxed);
}

fn read_after(cpu: usize) {
    read_into(&AFTER[cpu], cpu);
}

fn ticks_advance_on_every_cpu() -> TestResult {
    if !need_tick()? {
        return Ok(());
    }
    const MS: u64 = 200;
    call::on_each_cpu(read_before);
    arch::timer::delay_us(MS * 1000);
    // A host that starves a vCPU delays its ticks (QEMU raises the timer
    // interrupt from its own thread): give every CPU time to show one.
    let online = online_mask();
    wait_ms(WAIT_MS, || {
        (0..NR_CPUS)
            .filter(|&c| online & (1 << c) != 0)
            .all(|c| timer::tick_count(c) > BEFORE[c][0].load(Ordering::Relaxed))
    });
    call::on_each_cpu(read_after);
    let period = timer::period_ticks();
    for cpu in (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c)) {
        let (b, a) = (&BEFORE[cpu], &AFTER[cpu]);
        let n = a[0].load(Ordering::Relaxed) - b[0].load(Ordering::Relaxed);
        // The periods this CPU's own two readings span.
        let spanned = (a[1].load(Ordering::Relaxed) - b[1].load(Ordering::Relaxed)) / period;
        // A vCPU the host did not run for a while (QEMU on a loaded host)
        // takes one tick for all the periods it missed: so at least one,
        // never more than the boundaries crossed (plus one delivered late
        // from before the first reading).
        if n == 0 || n > spanned + 2 {
            fail!("CPU{cpu}: {n} ticks while the counter spanned {spanned} periods (HZ={})", timer::HZ);
        }
        // The rate: the timer is armed at most one period ahead (behind,
        // by any amount, when it has fired and the host has not yet
        // delivered the interrupt).
        let ahead = AHEAD[cpu].load(Ordering::Relaxed) as i64;
        check!(ahead <= period as i64, "CPU{cpu}: timer armed {ahead} counter ticks ahead, the period is {period}");
    }
    Ok(())
}

/// jiffies right after CPU 0's next tick, bracketed by the counter before
/// that tick and after the read: (counter before, jiffies, counter after).
fn jiffies_at_tick() -> Result<(u64, u64, u64), alloc::string::String> {
    let before = arch::timer::counter();
    let t = timer::tick_count(0);
    while timer::tick_count(0) == t {
        if arch::timer::counter() - before > ms_ticks(WAIT_MS) {
            fail!("CPU0 took no tick in {WAIT_MS} ms");
        }
        core::hint::spin_loop();
    }
    let j = timer::jiffies();
    Ok((before, j, arch::timer::counter()))
}

fn jiffies_advance_at_hz() -> TestResult {
    if !need_tick()? {
        return Ok(());
    }
    check_eq!(arch::percpu::smp_processor_id(), 0);
    // Each read of jiffies follows one of CPU 0's ticks, which sets it
    // from the counter: whole periods since the start, so it lies between
    // the periods counted before that tick and after the read. A host
    // that stops the vCPU for a while delays the tick, not the count.
    let (a0, j0, b0) = jiffies_at_tick()?;
    arch::timer::delay_us(300_000);
    let (a1, j1, b1) = jiffies_at_tick()?;
    let period = timer::period_ticks();
    let (least, most) = ((a1 - b0) / period, (b1 - a0) / period + 1);
    let got = j1 - j0;
    check!(got + 1 >= least && got <= most, "jiffies advanced {got}; the counter says {least}..={most} periods passed");
    Ok(())
}

fn sgi_reaches_every_cpu() -> TestResult {
    need_gic()?;
    let me = arch::percpu::smp_processor_id();
    let online = online_mask();
    let mut before = [0u64; NR_CPUS];
    for (c, b) in before.iter_mut().enumerate() {
        *b = ipi::received(c, Ipi::CallFunction);
    }
    // Every other online CPU at once, then this one.
    if let Err(e) = ipi::send_mask(online & !(1 << me), Ipi::CallFunction) {
        fail!("send_mask: {e:?}");
    }
    if let Err(e) = ipi::send(me, Ipi::CallFunction) {
        fail!("send to self: {e:?}");
    }
    let arrived = |c: usize| ipi::received(c, Ipi::CallFunction) > before[c];
    wait_ms(WAIT_MS, || (0..NR_CPUS).filter(|&c| online & (1 << c) != 0).all(arrived));
    for c in (0..NR_CPUS).filter(|&c| online & (1 << c) != 0) {
        check!(arrived(c), "CPU{c} did not receive the IPI within {WAIT_MS} ms");
    }
    // Nobody else got one.
    for (c, b) in before.iter().enumerate().filter(|&(c, _)| online & (1 << c) == 0) {
        check_eq!(ipi::received(c, Ipi::CallFunction), *b);
    }
    check!(irqs::irqs_taken(me) > 0, "CPU{me} counted no IRQs");
    Ok(())
}

/// Wait up to `ms` milliseconds for `cond`; whether it came true.
fn wait_ms(ms: u64, cond: impl Fn() -> bool) -> bool {
    if arch::timer::frequency_hz() == 0 {
        // No rate to time by: steps of arch's estimated delay.
        for _ in 0..ms * 100 {
            if cond() {
                return true;
            }
            arch::timer::delay_us(10);
        }
        return cond();
    }
    let t0 = arch::timer::counter();
    while !cond() {
        if arch::timer::counter() - t0 > ms_ticks(ms) {
            return cond();
        }
        core::hint::spin_loop();
    }
    true
}

/// The last SPI (nothing in the kernel uses SPIs), enabled and made
/// pending: the handler reports it once and disables it, so a second
/// pending state never reaches the CPU.
fn unexpected_irq_reported_once_and_disabled() -> TestResult {
    need_gic()?;
    check_eq!(arch::percpu::smp_processor_id(), 0); // SPIs are routed to CPU 0
    let Some(g) = irqs::gic() else { fail!("no GIC") };
    let intid = g.nr_irqs() - 1;
    check!(intid >= arch::gic::FIRST_SPI, "the GIC has no SPIs ({} INTIDs)", g.nr_irqs());
    check!(!irqs::was_reported(intid), "irq {intid} was reported before the test");
    let before = irqs::unexpected_count();
    let reported = super::harness::expect_bug(format_args!("irq {intid}: nobody cared"), || {
        g.enable(intid, arch::gic::DEFAULT_PRIORITY);
        g.set_pending(intid);
        wait_ms(WAIT_MS, || irqs::was_reported(intid))
    });
    check!(reported, "irq {intid} pending and enabled, but not reported within {WAIT_MS} ms");
    check_eq!(irqs::unexpected_count(), before + 1);
    check!(!g.is_enabled(intid), "irq {intid} is still enabled after nobody cared");
    // Pending again: disabled, so never taken.
    g.set_pending(intid);
    let taken = wait_ms(50, || irqs::unexpected_count() != before + 1);
    g.clear_pending(intid);
    check!(!taken, "irq {intid} was taken again after it was disabled");
    Ok(())
}
