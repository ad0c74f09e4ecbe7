//! Which logical CPUs are online (Linux's cpu_online_mask, as one word),
//! and how many listed CPUs failed to come up.

use arch::percpu::NR_CPUS;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Bit n set: logical CPU n is online.
static ONLINE: AtomicU64 = AtomicU64::new(1);
/// Number of CPUs brought up (including the boot CPU).
static NR_ONLINE: AtomicUsize = AtomicUsize::new(1);
/// CPUs listed in the device tree that did not come up (reported at boot).
static NR_FAILED: AtomicUsize = AtomicUsize::new(0);
/// CPUs the kernel numbered (the boot CPU and every secondary it tried;
/// Linux's cpu_possible_mask, as a count). Entries skipped as duplicates or
/// invalid, or all secondaries when the boot CPU is missing, are not in it.
static NR_POSSIBLE: AtomicUsize = AtomicUsize::new(1);

/// Number of possible CPUs: online + failed once bring-up is over.
pub fn num_possible_cpus() -> usize {
    NR_POSSIBLE.load(Ordering::Acquire)
}

/// Bring-up numbered `n` CPUs, the boot CPU included.
pub(super) fn set_possible(n: usize) {
    NR_POSSIBLE.store(n, Ordering::Release);
}

/// Number of online CPUs.
pub fn num_online_cpus() -> usize {
    NR_ONLINE.load(Ordering::Acquire)
}

/// Whether logical CPU `cpu` is online.
pub fn cpu_online(cpu: usize) -> bool {
    cpu < NR_CPUS && ONLINE.load(Ordering::Acquire) & (1 << cpu) != 0
}

/// How many listed CPUs failed to come up.
pub fn nr_failed_cpus() -> usize {
    NR_FAILED.load(Ordering::Acquire)
}

/// Logical CPU `cpu` is up (called by the CPU itself).
pub(super) fn set_online(cpu: usize) {
    ONLINE.fetch_or(1 << cpu, Ordering::AcqRel);
    NR_ONLINE.fetch_add(1, Ordering::AcqRel);
}

/// A listed CPU did not come up.
pub(super) fn note_failed() {
    NR_FAILED.fetch_add(1, Ordering::AcqRel);
}
