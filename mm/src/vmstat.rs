//! Event counters of `/proc/vmstat` (Linux's enum vm_event_item and
//! count_vm_event): how often compaction, migration and CMA did what.
//!
//! One global array of relaxed atomic counters, incremented where the
//! event happens and summed by nobody (there is one copy). Linux keeps
//! them per CPU and sums them when the file is read; the per-CPU split
//! belongs to the fast-path work of a later issue, and these events are
//! all on slow paths.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The events counted, in `/proc/vmstat`'s order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(usize)]
pub enum VmEvent {
    /// Pages migrated (pgmigrate_success).
    PgmigrateSuccess,
    /// Pages that could not be migrated (pgmigrate_fail).
    PgmigrateFail,
    /// Pages the compaction migrate scanner looked at.
    CompactMigrateScanned,
    /// Pages the compaction free scanner looked at.
    CompactFreeScanned,
    /// Pages compaction isolated (for migration and as free targets).
    CompactIsolated,
    /// Direct compactions (an allocation stalled to compact).
    CompactStall,
    /// Direct compactions after which the allocation still failed.
    CompactFail,
    /// Direct compactions after which the allocation succeeded.
    CompactSuccess,
    /// cma_alloc calls that got their pages.
    CmaAllocSuccess,
    /// cma_alloc calls that failed.
    CmaAllocFail,
}

impl VmEvent {
    /// Every event, in the file's order.
    pub const ALL: [VmEvent; NR_VM_EVENTS] = [
        VmEvent::PgmigrateSuccess,
        VmEvent::PgmigrateFail,
        VmEvent::CompactMigrateScanned,
        VmEvent::CompactFreeScanned,
        VmEvent::CompactIsolated,
        VmEvent::CompactStall,
        VmEvent::CompactFail,
        VmEvent::CompactSuccess,
        VmEvent::CmaAllocSuccess,
        VmEvent::CmaAllocFail,
    ];

    /// The name `/proc/vmstat` prints.
    pub const fn name(self) -> &'static str {
        match self {
            VmEvent::PgmigrateSuccess => "pgmigrate_success",
            VmEvent::PgmigrateFail => "pgmigrate_fail",
            VmEvent::CompactMigrateScanned => "compact_migrate_scanned",
            VmEvent::CompactFreeScanned => "compact_free_scanned",
            VmEvent::CompactIsolated => "compact_isolated",
            VmEvent::CompactStall => "compact_stall",
            VmEvent::CompactFail => "compact_fail",
            VmEvent::CompactSuccess => "compact_success",
            VmEvent::CmaAllocSuccess => "cma_alloc_success",
            VmEvent::CmaAllocFail => "cma_alloc_fail",
        }
    }
}

/// Number of [`VmEvent`]s.
pub const NR_VM_EVENTS: usize = 10;

static EVENTS: [AtomicU64; NR_VM_EVENTS] = [const { AtomicU64::new(0) }; NR_VM_EVENTS];

/// count_vm_event.
#[inline]
pub fn count_vm_event(ev: VmEvent) {
    count_vm_events(ev, 1);
}

/// count_vm_events.
#[inline]
pub fn count_vm_events(ev: VmEvent, n: u64) {
    EVENTS[ev as usize].fetch_add(n, Relaxed);
}

/// The current value of one counter.
pub fn vm_event(ev: VmEvent) -> u64 {
    EVENTS[ev as usize].load(Relaxed)
}

/// Every counter at once (for before/after differences in tests).
pub fn snapshot() -> [u64; NR_VM_EVENTS] {
    core::array::from_fn(|i| EVENTS[i].load(Relaxed))
}

/// The event lines of `/proc/vmstat` (`name value`, one per line).
pub fn vmstat_events(out: &mut impl Write) -> fmt::Result {
    for ev in VmEvent::ALL {
        writeln!(out, "{} {}", ev.name(), vm_event(ev))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_order_and_counting() {
        for (i, ev) in VmEvent::ALL.iter().enumerate() {
            assert_eq!(*ev as usize, i);
        }
        let before = vm_event(VmEvent::CmaAllocFail);
        count_vm_events(VmEvent::CmaAllocFail, 3);
        assert!(vm_event(VmEvent::CmaAllocFail) >= before + 3);
        let mut s = String::new();
        vmstat_events(&mut s).unwrap();
        assert!(s.lines().any(|l| l.starts_with("compact_stall ")));
        assert_eq!(s.lines().count(), NR_VM_EVENTS);
    }
}
