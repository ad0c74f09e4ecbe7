//! Per-CPU IRQ stacks (Linux arm64's irq_stack_ptr): a kernel stack's size
//! and alignment, from vmalloc with its guards, one per possible CPU,
//! allocated on the boot CPU before the secondaries start. The handler
//! switches to it unless it is already on it.

use crate::memory::vmalloc;
use crate::pr_err;
use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicU64, Ordering};

static IRQ_STACK_LO: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

/// Allocate the IRQ stacks of CPUs `0..nr_cpus` (kept for ever).
pub(super) fn alloc(nr_cpus: usize) {
    for (cpu, slot) in IRQ_STACK_LO.iter().enumerate().take(nr_cpus) {
        let nid = crate::memory::page_alloc::allocator().numa_mem_id(cpu);
        match vmalloc::alloc_kernel_stack(nid) {
            Ok(buf) => slot.store(buf.leak().as_u64(), Ordering::Relaxed),
            Err(e) => pr_err!("CPU{cpu}: no IRQ stack ({e}); its IRQs run on the interrupted stack"),
        }
    }
}

/// Run `f(arg)` on this CPU's IRQ stack (IRQs masked), or where it is if
/// the CPU has none or is on it already.
pub(super) fn run_on_irq_stack(cpu: usize, f: extern "C" fn(u64), arg: u64) {
    let lo = IRQ_STACK_LO.get(cpu).map_or(0, |s| s.load(Ordering::Relaxed));
    let hi = lo + vmalloc::THREAD_SIZE;
    let sp = arch::cpu::stack_pointer();
    if lo == 0 || (lo..hi).contains(&sp) {
        f(arg);
        return;
    }
    // SAFETY: 1. [lo, hi) is this CPU's IRQ stack, a mapped kernel stack
    // from vmalloc used by nothing else; IRQs are masked in the handler
    // (no nesting), and the check above keeps a handler already on it
    // from starting over at its top; hi is page aligned.
    unsafe { arch::irq_stack::call_on_irq_stack(hi, f, arg) };
}
