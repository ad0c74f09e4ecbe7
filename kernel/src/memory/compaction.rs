//! Compaction on this machine: mm's compaction (`mm::compaction`) driven
//! with the kernel's migrator (`user::migrate`), the two sysctls the
//! command line can set (`sysctl.vm.compact_memory=1`,
//! `sysctl.vm.extfrag_threshold=N`); `report` prints the debugfs files.
//!
//! Direct compaction needs no wiring here: once `process::init` registers
//! the migrator with the page allocator, its slow path compacts before it
//! fails a costly allocation.

use super::page_alloc::allocator;
use super::user::migrate::USER_MIGRATOR;
use crate::pr_warn;

/// Compact every zone of every node (writing 1 to
/// /proc/sys/vm/compact_memory).
pub fn compact_memory() {
    mm::compaction::compact_memory(allocator(), arch::percpu::smp_processor_id(), &USER_MIGRATOR);
}

/// Apply `sysctl.vm.extfrag_threshold=` (before anything allocates much:
/// Linux applies sysctl boot parameters before init runs).
pub fn set_extfrag_threshold(threshold: Option<u16>) {
    if let Some(t) = threshold
        && mm::compaction::set_extfrag_threshold(u32::from(t)).is_err()
    {
        pr_warn!("sysctl: vm.extfrag_threshold={t} refused (0-1000)");
    }
}
