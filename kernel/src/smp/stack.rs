//! Kernel stacks: where each CPU's comes from, and how deep each has been.
//!
//! Every kernel stack is `STACK_SIZE` (16 KiB, Linux arm64's THREAD_SIZE;
//! 32 KiB in the debug build) at an address aligned to twice that
//! (THREAD_ALIGN), so that the vectors'
//! overflow check (bit `STACK_SHIFT` of the new frame's address) tells a
//! stack from the 16 KiB below it, which is never mapped; the page above the
//! top is never mapped either. A fault in either guard is reported by the
//! oops code with the stack's bounds (`kernel stack overflow` below).
//!
//! ```text
//!   (release build sizes)
//!   boot CPU   (the image's .stack, linker.ld; Linux's init stack)
//!     [guard 16 KiB][stack 16 KiB][guard 4 KiB]  bottom 32 KiB aligned
//!   CPU n >= 1 (a 64 KiB slot per CPU at CPU_STACKS_START)
//!     [unmapped 16 KiB][guard 16 KiB][stack 16 KiB][unmapped 16 KiB]
//! ```
//!
//! The secondaries' stacks come from [`alloc_kernel_stack`], the one place
//! that decides where a stack lives (today: memblock pages mapped in the
//! CPU-stack window; later: vmalloc, with the vmap area's guard).
//!
//! Each stack is painted (`arch::stack`) before it is used: a secondary's
//! whole stack before the CPU is started, the boot CPU's from just below
//! the stack pointer of [`paint_boot_stack`] down to its bottom. The
//! [`high_water`] mark of a CPU is then how deep its stack has ever been
//! since.

use crate::memory::layout::CPU_STACKS_START;
use crate::memory::memblock::MEMBLOCK;
use crate::memory::pgtable;
use arch::exception::STACK_SIZE;
use arch::percpu::cpu_area;
use core::sync::atomic::Ordering;
use mm::pgtable::{MapFlags, PageProt};
use mm::{PAGE_SIZE, PhysAddr, VirtAddr};

/// One CPU's stack, `[lo, hi)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelStack {
    /// The lowest address (the stack's bottom), a multiple of `2 * STACK_SIZE`.
    pub lo: u64,
    /// One past the highest address (the initial stack pointer).
    pub hi: u64,
}

/// Virtual address of the bottom of logical CPU `cpu`'s stack (cpu >= 1):
/// a slot of four stack sizes, [unmapped][guard][stack][unmapped], the
/// stack at 2 * STACK_SIZE into the slot, so aligned to 2 * STACK_SIZE.
fn stack_bottom_va(cpu: usize) -> u64 {
    CPU_STACKS_START + (cpu as u64) * 4 * STACK_SIZE + 2 * STACK_SIZE
}

/// Allocate, map and paint logical CPU `cpu`'s kernel stack (cpu >= 1),
/// with its pages on node `nid`.
pub fn alloc_kernel_stack(cpu: usize, nid: i32) -> Result<KernelStack, mm::Error> {
    let pa = {
        let mut mb = MEMBLOCK.lock();
        mb.alloc_try_nid(STACK_SIZE, PAGE_SIZE, PhysAddr(0), PhysAddr(u64::MAX), mm::memblock::NodeId(nid))?
    };
    let lo = stack_bottom_va(cpu);
    pgtable::map_kernel_range(VirtAddr(lo), pa, STACK_SIZE, PageProt::KERNEL_RW, MapFlags::NO_BLOCKS)?;
    let stack = KernelStack { lo, hi: lo + STACK_SIZE };
    // SAFETY: [lo, hi) was just mapped read-write, is page aligned, and no
    // CPU runs on it yet.
    unsafe { arch::stack::paint(stack.lo, stack.hi) };
    Ok(stack)
}

/// The boot CPU's stack, in the image.
pub fn boot_stack() -> KernelStack {
    KernelStack { lo: boot::sym!(__boot_stack_bottom), hi: boot::sym!(__boot_stack_top) }
}

/// Paint the unused part of the boot CPU's stack. Called on the boot CPU,
/// early in `kernel_main`.
pub fn paint_boot_stack() {
    let s = boot_stack();
    let sp = arch::cpu::stack_pointer();
    if sp <= s.lo || sp > s.hi {
        return;
    }
    // SAFETY: the boot CPU runs on the image's stack (just checked), whose
    // bottom is page aligned and mapped read-write up to its top.
    unsafe { arch::stack::paint_below_sp(s.lo) };
}

/// Logical CPU `cpu`'s stack, as its per-CPU area records it (set at
/// bring-up, never changed), if it has one.
pub fn cpu_stack(cpu: usize) -> Option<KernelStack> {
    let a = cpu_area(cpu);
    let (lo, hi) = (a.stack_lo.load(Ordering::Relaxed), a.stack_hi.load(Ordering::Relaxed));
    (lo != 0 && hi == lo + STACK_SIZE).then_some(KernelStack { lo, hi })
}

/// The most bytes CPU `cpu`'s stack has held since it was painted, if it
/// has a stack.
pub fn high_water(cpu: usize) -> Option<u64> {
    let s = cpu_stack(cpu)?;
    // SAFETY: a recorded stack is mapped for as long as the kernel runs
    // (bring-up maps it and nothing unmaps it), page aligned at both ends.
    Some(unsafe { arch::stack::high_water(s.lo, s.hi) })
}
