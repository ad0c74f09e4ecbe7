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
//!   CPU n >= 1 (a vmalloc area: vmalloc::alloc_kernel_stack)
//!     [guard 16 KiB][stack 16 KiB][guard 4 KiB]  bottom 32 KiB aligned
//! ```
//!
//! The secondaries' stacks come from [`alloc_kernel_stack`], the one place
//! that decides where a stack lives: vmalloc, on the CPU's node, through
//! `vmalloc::alloc_kernel_stack`, whose area has the unmapped guard below
//! the stack and the vmap area's guard page above it.
//!
//! Each stack is painted (`arch::stack`) before it is used: a secondary's
//! whole stack before the CPU is started, the boot CPU's from just below
//! the stack pointer of [`paint_boot_stack`] down to its bottom. The
//! [`high_water`] mark of a CPU is then how deep its stack has ever been
//! since.

use crate::memory::vmalloc;
use arch::exception::STACK_SIZE;
use arch::percpu::cpu_area;
use core::sync::atomic::Ordering;

/// One CPU's stack, `[lo, hi)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelStack {
    /// The lowest address (the stack's bottom), a multiple of `2 * STACK_SIZE`.
    pub lo: u64,
    /// One past the highest address (the initial stack pointer).
    pub hi: u64,
}

/// Allocate and paint a secondary CPU's kernel stack (vmalloc, pages on
/// node `nid`). The stack is kept for good: a CPU that came up late may
/// still be running on it.
#[inline(never)] // named as the caller in /proc/vmallocinfo
pub fn alloc_kernel_stack(nid: i32) -> Result<KernelStack, mm::Error> {
    let buf = vmalloc::alloc_kernel_stack(mm::memblock::NodeId(nid))?;
    let lo = buf.leak().as_u64();
    let stack = KernelStack { lo, hi: lo + STACK_SIZE };
    // SAFETY: [lo, hi) is the fresh vmalloc area's mapping, read-write and
    // page aligned; no CPU runs on it yet.
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
