//! Interrupts: the GIC wired up, the IRQ entry, the tick and IPIs.
//!
//! ```text
//!   boot CPU:  vmalloc up ─► irq::init(dt)   ioremap the GIC's windows
//!                              │             (leaked: they live for ever),
//!                              │             distributor once, then
//!                              └► init_cpu(0)
//!   each CPU:  init_cpu(cpu)   its GIC CPU interface (v3: redistributor),
//!                              its SGIs (ipi), its timer PPI (timer), then
//!                              PSTATE.I cleared: from here IRQs arrive.
//!
//!   IRQ vector ─► console::oops::handle_trap ─► handle_irq (registered)
//!                   loop: ack → INTID
//!                     0..16   ipi::handle     (SGIs)
//!                     timer   timer::handle   (reprogram, jiffies, hook)
//!                     1020+   spurious: stop (1023 counted)
//!                     other   "irq N: nobody cared", disabled, once
//!                   end of interrupt (EOImode 0)
//! ```
//!
//! The handler runs with IRQs masked (the exception entry masks them; the
//! kernel never unmasks inside a handler), on the CPU's IRQ stack (`stack`:
//! a kernel stack's size from vmalloc; the trap frame itself stays on the
//! interrupted stack, as the vectors saved it), and returns to the
//! interrupted instruction. The secondaries' idle `wfe` in smp::call wakes for an IRQ
//! and, once it is handled, goes round its loop again (mailbox, `wfe`).
//!
//! # Locks and IRQ context
//!
//! An IRQ handler must never spin on a lock the interrupted code may hold
//! on the same CPU. The rule kept here: the handlers in this module take
//! no lock at all (atomics only) with one exception, printk's log lock
//! (a "nobody cared" report, and whatever a hook prints), and printk takes
//! that lock with IRQs masked (console::printk), so no CPU holds it where
//! an IRQ can arrive. The allocators' locks (zone, pcp, SLUB, vmalloc,
//! memblock) are never taken in IRQ context: nothing here allocates. Hooks
//! (`timer::set_tick_hook`, `ipi::set_reschedule_hook`, ...) run in IRQ
//! context and inherit the rule: whatever lock they take must be taken
//! with IRQs masked everywhere else.
//!
//! Differences from Linux: no irq domains or descriptors; the three
//! interrupt sources the kernel uses (SGIs, the timer PPI, nothing else)
//! are dispatched by number. No priority masking as NMI.

mod chip;
mod hook;
pub mod ipi;
#[allow(unsafe_code)] // the GIC's ioremapped windows handed to arch as `Mmio`
mod mmio;
#[allow(unsafe_code)] // switching to the IRQ stack
mod stack;
pub mod timer;

use mmio::map;

use crate::{pr_err, pr_info, pr_warn};
use arch::exception::{TrapFrame, Vector};
use arch::gic::{Gic, GicV2, GicV3, Mmio};
use arch::percpu::NR_CPUS;
use bootdata::devicetree::{DtInfo, GicVersion};
use core::sync::atomic::{AtomicU64, Ordering};

use chip::GIC;
pub use chip::gic;

/// IRQs taken per CPU (every acknowledged interrupt, spurious ones aside).
static NR_IRQS_TAKEN: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];
/// INTIDs already reported as unexpected (1024 bits).
static REPORTED: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];

/// Interrupts nobody handles, taken so far (each is then disabled).
static NR_UNEXPECTED: AtomicU64 = AtomicU64::new(0);

/// Unexpected interrupts taken so far.
pub fn unexpected_count() -> u64 {
    NR_UNEXPECTED.load(Ordering::Relaxed)
}

/// Whether `intid` was reported as unexpected ("nobody cared").
pub fn was_reported(intid: u32) -> bool {
    REPORTED.get((intid / 64) as usize).is_some_and(|w| w.load(Ordering::Relaxed) & (1 << (intid % 64)) != 0)
}

/// Interrupts handled on `cpu` so far.
pub fn irqs_taken(cpu: usize) -> u64 {
    NR_IRQS_TAKEN.get(cpu).map_or(0, |c| c.load(Ordering::Relaxed))
}

fn probe(dt: &DtInfo) -> Option<Gic> {
    let Some(node) = dt.gic.gic.as_ref() else {
        match dt.gic.issue {
            Some(why) => pr_err!("GIC: {why}; running without interrupts"),
            None => pr_warn!("GIC: no interrupt controller in the device tree; running without interrupts"),
        }
        return None;
    };
    let made = match node.version {
        GicVersion::V2 => {
            let dist = map("distributor", node.dist)?;
            let cpu = map("CPU interface", node.cpu_if?)?;
            pr_info!(
                "GICv2: {} ({}) distributor at {:#x}, CPU interface at {:#x}",
                node.name,
                node.compatible,
                node.dist.base,
                node.cpu_if?.base
            );
            GicV2::new(dist, cpu).map(Gic::V2)
        }
        GicVersion::V3 => {
            let dist = map("distributor", node.dist)?;
            let mut regions: heapless::Vec<Mmio, { arch::gic::MAX_REDIST_REGIONS }> = heapless::Vec::new();
            for r in &node.redist {
                let _ = regions.push(map("redistributor region", *r)?);
            }
            pr_info!(
                "GICv3: {} distributor at {:#x}, {} redistributor region(s) from {:#x}",
                node.name,
                node.dist.base,
                node.redist.len(),
                node.redist.first().map_or(0, |r| r.base)
            );
            GicV3::new(dist, &regions, node.redist_stride).map(Gic::V3)
        }
    };
    match made {
        Ok(g) => Some(g),
        Err(e) => {
            pr_err!("GIC: {e}; running without interrupts");
            None
        }
    }
}

/// Bring up the GIC (distributor once), the boot CPU's interface, the
/// tick and IPIs, and unmask IRQs on the boot CPU. After vmalloc (ioremap),
/// before the secondaries start. Without a usable GIC the kernel runs on
/// with IRQs masked, as before.
pub fn init(dt: &DtInfo, nr_possible_cpus: usize) {
    let Some(g) = probe(dt) else { return };
    stack::alloc(nr_possible_cpus);
    if let Err(e) = g.dist_init() {
        pr_err!("GIC: distributor: {e}; running without interrupts");
        return;
    }
    let g = GIC.call_once(|| g);
    pr_info!("GICv{}: {} SPIs implemented", g.version(), g.nr_irqs().saturating_sub(arch::gic::FIRST_SPI));
    crate::console::oops::register_irq_handler(handle_irq);
    timer::init(dt);
    init_cpu(0);
}

/// The calling CPU's half (logical `cpu`): its GIC interface, SGIs, timer,
/// then IRQs unmasked. Every CPU calls it once, the boot CPU from [`init`],
/// each secondary on its way online. Without a GIC, nothing.
pub fn init_cpu(cpu: usize) {
    let Some(g) = gic() else { return };
    if let Err(e) = g.cpu_init(cpu) {
        pr_err!("GIC: CPU{cpu}: {e}; IRQs stay masked on this CPU");
        return;
    }
    ipi::init_cpu(g);
    timer::init_cpu(g, cpu);
    arch::irqflags::local_irq_enable();
}

#[cold]
#[inline(never)] // its formatting stays out of the handler's frame
fn nobody_cared(g: &Gic, intid: u32) {
    g.disable(intid);
    NR_UNEXPECTED.fetch_add(1, Ordering::Relaxed);
    let (word, bit) = ((intid / 64) as usize, 1u64 << (intid % 64));
    if let Some(w) = REPORTED.get(word)
        && w.fetch_or(bit, Ordering::Relaxed) & bit == 0
    {
        pr_err!("irq {intid}: nobody cared (CPU{}); disabled", arch::percpu::smp_processor_id());
    }
}

/// Most interrupts handled in one entry before returning (others stay pending).
const MAX_PER_ENTRY: usize = 16;

/// The IRQ entry: acknowledge, dispatch and end every pending interrupt,
/// on this CPU's IRQ stack. The interrupted context's registers stay in
/// the trap frame on its own stack; no handler needs them.
pub fn handle_irq(_frame: &mut TrapFrame, _vector: Vector) {
    let cpu = arch::percpu::smp_processor_id();
    stack::run_on_irq_stack(cpu, do_irq, cpu as u64);
}

extern "C" fn do_irq(cpu: u64) {
    let Some(g) = gic() else { return };
    let cpu = cpu as usize;
    for _ in 0..MAX_PER_ENTRY {
        let iar = g.ack();
        if iar.is_special() {
            // 1023: nothing pending (another CPU took it, or it went
            // away); not acknowledged, so nothing to end.
            return;
        }
        if let Some(c) = NR_IRQS_TAKEN.get(cpu) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let intid = iar.intid();
        if intid < arch::gic::NR_SGIS {
            ipi::handle(cpu, intid);
        } else if Some(intid) == timer::intid() {
            timer::handle(cpu);
        } else {
            nobody_cared(g, intid);
        }
        g.eoi(iar);
    }
}
