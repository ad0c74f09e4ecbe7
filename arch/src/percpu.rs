//! Per-CPU areas, reached through TPIDR_EL1 (Linux keeps __per_cpu_offset
//! there; here it holds the address of the CPU's [`CpuArea`]).
//!
//! The vector code reads the first word of the area (the top of the CPU's
//! overflow stack) when the kernel stack is exhausted, so TPIDR_EL1 is set
//! by the head before anything can fault: `__primary_switched` for the boot
//! CPU, `__secondary_switched` for the others.

use core::sync::atomic::{AtomicU64, Ordering};

/// Most CPUs the kernel brings up (Linux's NR_CPUS), defined once in `mm`.
pub use mm::config::NR_CPUS;
/// Bytes of overflow stack per CPU (the vector code's `OVERFLOW_STACK_SIZE`).
pub const OVERFLOW_STACK_SIZE: usize = 8192;

/// What each CPU finds through TPIDR_EL1.
#[repr(C)]
pub struct CpuArea {
    /// Top of this CPU's overflow stack. Offset 0: the vector code reads it.
    pub overflow_stack_top: AtomicU64,
    /// Logical CPU number (smp_processor_id).
    pub cpu: AtomicU64,
    /// MPIDR_EL1 affinity of the CPU.
    pub mpidr: AtomicU64,
    /// Lowest address of the CPU's kernel stack.
    pub stack_lo: AtomicU64,
    /// One past the highest address of the CPU's kernel stack.
    pub stack_hi: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)]
const AREA_INIT: CpuArea = CpuArea {
    overflow_stack_top: AtomicU64::new(0),
    cpu: AtomicU64::new(0),
    mpidr: AtomicU64::new(0),
    stack_lo: AtomicU64::new(0),
    stack_hi: AtomicU64::new(0),
};

/// One area per possible CPU; `__cpu_areas[n]` belongs to logical CPU n.
#[unsafe(no_mangle)]
pub static __cpu_areas: [CpuArea; NR_CPUS] = [AREA_INIT; NR_CPUS];

/// The calling CPU's area.
#[inline(always)]
pub fn this_cpu_area() -> &'static CpuArea {
    let p: u64;
    // SAFETY: reading TPIDR_EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {}, tpidr_el1", out(reg) p, options(nomem, nostack, preserves_flags)) };
    debug_assert!(p != 0, "TPIDR_EL1 not set");
    // SAFETY: the head points TPIDR_EL1 at an element of `__cpu_areas` (a
    // static) before any Rust code runs on the CPU, and nothing changes it.
    unsafe { &*(p as *const CpuArea) }
}

/// The calling CPU's logical number (Linux's smp_processor_id).
#[inline(always)]
pub fn smp_processor_id() -> usize {
    this_cpu_area().cpu.load(Ordering::Relaxed) as usize
}

/// The area of logical CPU `cpu`.
pub fn cpu_area(cpu: usize) -> &'static CpuArea {
    &__cpu_areas[cpu]
}
