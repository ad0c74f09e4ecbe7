//! Inter-processor interrupts: SGIs with Linux arm64's numbers
//! (arch/arm64/kernel/smp.c `enum ipi_msg_type`), sent with [`send`] or
//! [`send_mask`], received in IRQ context by [`handle`].
//!
//! | SGI | [`Ipi`]          | on receipt                                        |
//! |-----|------------------|---------------------------------------------------|
//! | 0   | `Reschedule`     | the reschedule hook (the scheduler's), if set     |
//! | 1   | `CallFunction`   | the call-function hook, if set; the IRQ also ends a `wfe`, so smp::call's idle loop looks at its mailbox again |
//! | 2   | `Stop`           | the stop hook, if set; then IRQs masked and the CPU parked for good (Linux's local_cpu_stop) |
//!
//! Every receipt is counted per CPU and kind ([`received`]) before its
//! hook runs. smp::call's mailbox keeps its own `sev`/`wfe` wake-up; an
//! IPI is an extra, not a replacement. Other SGIs are reported once and
//! otherwise ignored. Hooks run in IRQ context (see `irq`'s essay).

use super::chip::{PRIORITY, gic};
use super::hook::{HookSlot, run_hook, store_hook};
use crate::pr_err;
use arch::gic::Gic;
use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The IPIs, by SGI number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Ipi {
    /// IPI_RESCHEDULE: the target should reschedule.
    Reschedule = 0,
    /// IPI_CALL_FUNC: the target has a function to run.
    CallFunction = 1,
    /// IPI_CPU_STOP: the target stops for good.
    Stop = 2,
}

/// How many kinds.
pub const NR_IPI: usize = 3;

impl Ipi {
    /// Every kind, by number.
    pub const ALL: [Ipi; NR_IPI] = [Ipi::Reschedule, Ipi::CallFunction, Ipi::Stop];
}

/// Why an IPI was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpiError {
    /// No interrupt controller: the kernel runs without interrupts.
    NoGic,
    /// The CPU number is beyond NR_CPUS.
    BadCpu(usize),
}

static RECEIVED: [[AtomicU64; NR_IPI]; NR_CPUS] = [const { [const { AtomicU64::new(0) }; NR_IPI] }; NR_CPUS];
static HOOKS: [HookSlot; NR_IPI] = [const { spin::RwLock::new(None) }; NR_IPI];
static UNKNOWN_REPORTED: AtomicBool = AtomicBool::new(false);

/// Send `ipi` to logical CPU `cpu` (the caller itself included).
pub fn send(cpu: usize, ipi: Ipi) -> Result<(), IpiError> {
    if cpu >= NR_CPUS {
        return Err(IpiError::BadCpu(cpu));
    }
    send_mask(1 << cpu, ipi)
}

/// Send `ipi` to every logical CPU whose bit is set in `cpus`.
pub fn send_mask(cpus: u64, ipi: Ipi) -> Result<(), IpiError> {
    let g = gic().ok_or(IpiError::NoGic)?;
    g.send_sgi(ipi as u32, cpus);
    Ok(())
}

/// How many `ipi`s `cpu` has received.
pub fn received(cpu: usize, ipi: Ipi) -> u64 {
    RECEIVED.get(cpu).map_or(0, |r| r[ipi as usize].load(Ordering::Relaxed))
}

/// Run `f` on every [`Ipi::Reschedule`] received (IRQ context).
#[allow(dead_code)] // no user: the sender sets NEED_RESCHED, the IRQ's return to EL0 (or the idle loop) acts on it
pub fn set_reschedule_hook(f: fn()) {
    store_hook(&HOOKS[Ipi::Reschedule as usize], f);
}

/// Run `f` on every [`Ipi::CallFunction`] received (IRQ context).
#[allow(dead_code)] // no user yet: on_each_cpu still posts to mailboxes and wakes with sev
pub fn set_call_function_hook(f: fn()) {
    store_hook(&HOOKS[Ipi::CallFunction as usize], f);
}

/// Run `f` when an [`Ipi::Stop`] arrives, before the CPU parks.
#[allow(dead_code)] // no user yet: a panic does not stop the other CPUs
pub fn set_stop_hook(f: fn()) {
    store_hook(&HOOKS[Ipi::Stop as usize], f);
}

/// Enable the SGIs the kernel uses on the calling CPU, at the kernel's priority.
pub(super) fn init_cpu(g: &Gic) {
    for ipi in Ipi::ALL {
        g.enable(ipi as u32, PRIORITY);
    }
}

/// SGI `sgi` arrived on `cpu` (IRQs masked).
pub(super) fn handle(cpu: usize, sgi: u32) {
    let Some(&ipi) = Ipi::ALL.get(sgi as usize) else {
        unknown(cpu, sgi);
        return;
    };
    if let Some(r) = RECEIVED.get(cpu) {
        r[ipi as usize].fetch_add(1, Ordering::Relaxed);
    }
    run_hook(&HOOKS[ipi as usize]);
    if ipi == Ipi::Stop {
        arch::cpu::park();
    }
}

#[cold]
#[inline(never)] // its formatting stays out of the handler's frame
fn unknown(cpu: usize, sgi: u32) {
    if !UNKNOWN_REPORTED.swap(true, Ordering::Relaxed) {
        pr_err!("CPU{cpu}: unknown IPI {sgi} (SGI); ignored");
    }
}
