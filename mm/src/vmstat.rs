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

// ----- the names of /proc/vmstat and /proc/zoneinfo --------------------
//
// Linux's counter names in its order, as Debian's arm64 6.12 kernel prints
// them (tests/linux-ref/). A counter this kernel does not keep (no LRU,
// page cache, swap, THP, NUMA hit accounting) prints 0, as a Linux machine
// that never used the feature would; the ones it keeps print their value.

/// Linux 6.12's zone counters (enum zone_stat_item), in the file's order.
pub const ZONE_STAT_NAMES: [&str; 11] = [
    "nr_free_pages",
    "nr_zone_inactive_anon",
    "nr_zone_active_anon",
    "nr_zone_inactive_file",
    "nr_zone_active_file",
    "nr_zone_unevictable",
    "nr_zone_write_pending",
    "nr_mlock",
    "nr_bounce",
    "nr_zspages",
    "nr_free_cma",
];

/// Its NUMA events (enum numa_stat_item): not counted here, printed 0.
pub const NUMA_EVENT_NAMES: [&str; 6] =
    ["numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local", "numa_other"];

/// Its node counters (enum node_stat_item), in the file's order.
pub const NODE_STAT_NAMES: [&str; 47] = [
    "nr_inactive_anon",
    "nr_active_anon",
    "nr_inactive_file",
    "nr_active_file",
    "nr_unevictable",
    "nr_slab_reclaimable",
    "nr_slab_unreclaimable",
    "nr_isolated_anon",
    "nr_isolated_file",
    "workingset_nodes",
    "workingset_refault_anon",
    "workingset_refault_file",
    "workingset_activate_anon",
    "workingset_activate_file",
    "workingset_restore_anon",
    "workingset_restore_file",
    "workingset_nodereclaim",
    "nr_anon_pages",
    "nr_mapped",
    "nr_file_pages",
    "nr_dirty",
    "nr_writeback",
    "nr_writeback_temp",
    "nr_shmem",
    "nr_shmem_hugepages",
    "nr_shmem_pmdmapped",
    "nr_file_hugepages",
    "nr_file_pmdmapped",
    "nr_anon_transparent_hugepages",
    "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim",
    "nr_dirtied",
    "nr_written",
    "nr_throttled_written",
    "nr_kernel_misc_reclaimable",
    "nr_foll_pin_acquired",
    "nr_foll_pin_released",
    "nr_kernel_stack",
    "nr_page_table_pages",
    "nr_sec_page_table_pages",
    "nr_iommu_pages",
    "nr_swapcached",
    "pgpromote_success",
    "pgpromote_candidate",
    "pgdemote_kswapd",
    "pgdemote_direct",
    "pgdemote_khugepaged",
];

/// Its writeback and memmap counters (enum vm_stat_item).
pub const VM_STAT_NAMES: [&str; 4] =
    ["nr_dirty_threshold", "nr_dirty_background_threshold", "nr_memmap_pages", "nr_memmap_boot_pages"];

/// Its event counters (enum vm_event_item, with Debian arm64's configuration):
/// the [`VmEvent`]s are counted, the rest print 0.
pub const VM_EVENT_NAMES: [&str; 114] = [
    "pgpgin",
    "pgpgout",
    "pswpin",
    "pswpout",
    "pgalloc_dma",
    "pgalloc_dma32",
    "pgalloc_normal",
    "pgalloc_movable",
    "pgalloc_device",
    "allocstall_dma",
    "allocstall_dma32",
    "allocstall_normal",
    "allocstall_movable",
    "allocstall_device",
    "pgskip_dma",
    "pgskip_dma32",
    "pgskip_normal",
    "pgskip_movable",
    "pgskip_device",
    "pgfree",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pgfault",
    "pgmajfault",
    "pglazyfreed",
    "pgrefill",
    "pgreuse",
    "pgsteal_kswapd",
    "pgsteal_direct",
    "pgsteal_khugepaged",
    "pgscan_kswapd",
    "pgscan_direct",
    "pgscan_khugepaged",
    "pgscan_direct_throttle",
    "pgscan_anon",
    "pgscan_file",
    "pgsteal_anon",
    "pgsteal_file",
    "zone_reclaim_success",
    "zone_reclaim_failed",
    "pginodesteal",
    "slabs_scanned",
    "kswapd_inodesteal",
    "kswapd_low_wmark_hit_quickly",
    "kswapd_high_wmark_hit_quickly",
    "pageoutrun",
    "pgrotated",
    "drop_pagecache",
    "drop_slab",
    "oom_kill",
    "numa_pte_updates",
    "numa_huge_pte_updates",
    "numa_hint_faults",
    "numa_hint_faults_local",
    "numa_pages_migrated",
    "pgmigrate_success",
    "pgmigrate_fail",
    "thp_migration_success",
    "thp_migration_fail",
    "thp_migration_split",
    "compact_migrate_scanned",
    "compact_free_scanned",
    "compact_isolated",
    "compact_stall",
    "compact_fail",
    "compact_success",
    "compact_daemon_wake",
    "compact_daemon_migrate_scanned",
    "compact_daemon_free_scanned",
    "htlb_buddy_alloc_success",
    "htlb_buddy_alloc_fail",
    "cma_alloc_success",
    "cma_alloc_fail",
    "unevictable_pgs_culled",
    "unevictable_pgs_scanned",
    "unevictable_pgs_rescued",
    "unevictable_pgs_mlocked",
    "unevictable_pgs_munlocked",
    "unevictable_pgs_cleared",
    "unevictable_pgs_stranded",
    "thp_fault_alloc",
    "thp_fault_fallback",
    "thp_fault_fallback_charge",
    "thp_collapse_alloc",
    "thp_collapse_alloc_failed",
    "thp_file_alloc",
    "thp_file_fallback",
    "thp_file_fallback_charge",
    "thp_file_mapped",
    "thp_split_page",
    "thp_split_page_failed",
    "thp_deferred_split_page",
    "thp_underused_split_page",
    "thp_split_pmd",
    "thp_scan_exceed_none_pte",
    "thp_scan_exceed_swap_pte",
    "thp_scan_exceed_share_pte",
    "thp_zero_page_alloc",
    "thp_zero_page_alloc_failed",
    "thp_swpout",
    "thp_swpout_fallback",
    "balloon_inflate",
    "balloon_deflate",
    "balloon_migrate",
    "swap_ra",
    "swap_ra_hit",
    "swpin_zero",
    "swpout_zero",
    "ksm_swpin_copy",
    "cow_ksm",
    "zswpin",
    "zswpout",
    "zswpwb",
];
/// The value of an event counter by its /proc/vmstat name: the counted
/// [`VmEvent`]s, 0 for the others.
pub fn vm_event_by_name(name: &str) -> u64 {
    VmEvent::ALL.iter().find(|e| e.name() == name).map_or(0, |&e| vm_event(e))
}

/// Counters the page allocator does not keep, from the rest of the kernel
/// (slab, user memory, page tables, kernel stacks), for one node or for
/// the whole machine; in pages unless the name says otherwise.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeCounters {
    /// Slab pages of SLAB_RECLAIM_ACCOUNT caches.
    pub slab_reclaimable: u64,
    /// All other slab pages (and large kmalloc pages).
    pub slab_unreclaimable: u64,
    /// Anonymous pages of user address spaces.
    pub anon_pages: u64,
    /// Shared anonymous pages (MAP_SHARED|MAP_ANONYMOUS).
    pub shmem: u64,
    /// Kernel stacks, in KiB (Linux counts NR_KERNEL_STACK_KB in KiB).
    pub kernel_stack_kb: u64,
    /// Pages of user page tables.
    pub page_table_pages: u64,
}

impl NodeCounters {
    /// The value of a node counter by its name ([`NODE_STAT_NAMES`]); 0
    /// for the ones this kernel does not keep. Shared memory is the only
    /// file-backed memory (there is no page cache), so it is also
    /// nr_file_pages.
    pub fn get(&self, name: &str) -> u64 {
        match name {
            "nr_slab_reclaimable" => self.slab_reclaimable,
            "nr_slab_unreclaimable" => self.slab_unreclaimable,
            "nr_anon_pages" => self.anon_pages,
            "nr_shmem" | "nr_file_pages" => self.shmem,
            "nr_kernel_stack" => self.kernel_stack_kb,
            "nr_page_table_pages" => self.page_table_pages,
            _ => 0,
        }
    }
}

/// Machine-wide values for /proc/vmstat and /proc/meminfo beyond the
/// page allocator's: the [`NodeCounters`] summed over the machine, and the
/// memmap and vmalloc figures. Small (the shell builds it on the boot
/// stack).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemCounters {
    /// The node the totals wholly belong to (a machine of one node); on a
    /// machine of several the counters are kept only machine-wide, and a
    /// node's per-node stats show 0 for them.
    pub totals_node: Option<usize>,
    /// The machine-wide sums.
    pub total: NodeCounters,
    /// Pages of page descriptors (the memmap), all allocated at boot.
    pub memmap_boot_pages: u64,
    /// Pages vmalloc areas hold (VmallocUsed).
    pub vmalloc_pages: u64,
    /// Bytes of the vmalloc range (VmallocTotal).
    pub vmalloc_total: u64,
    /// Bytes of the per-CPU areas, all CPUs (Percpu).
    pub percpu_bytes: u64,
    /// Pages user address spaces have committed (Committed_AS).
    pub committed_pages: u64,
}

impl MemCounters {
    /// The counters of node `nid`, as far as they are known per node.
    pub fn node(&self, nid: usize) -> NodeCounters {
        if self.totals_node == Some(nid) { self.total } else { NodeCounters::default() }
    }
}

/// `/proc/vmstat`: every counter in Linux's order, then its deprecated
/// `nr_unstable 0`. `zone(name)` gives the machine-wide zone counters.
pub fn vmstat_show(out: &mut impl Write, zone: impl Fn(&str) -> u64, c: &MemCounters) -> fmt::Result {
    for name in ZONE_STAT_NAMES {
        writeln!(out, "{name} {}", zone(name))?;
    }
    for name in NUMA_EVENT_NAMES {
        writeln!(out, "{name} 0")?;
    }
    for name in NODE_STAT_NAMES {
        writeln!(out, "{name} {}", c.total.get(name))?;
    }
    for name in VM_STAT_NAMES {
        let v = match name {
            "nr_memmap_boot_pages" => c.memmap_boot_pages,
            _ => 0,
        };
        writeln!(out, "{name} {v}")?;
    }
    for name in VM_EVENT_NAMES {
        writeln!(out, "{name} {}", vm_event_by_name(name))?;
    }
    writeln!(out, "nr_unstable 0")
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
        assert_eq!(vm_event_by_name("cma_alloc_fail"), vm_event(VmEvent::CmaAllocFail));
        assert_eq!(vm_event_by_name("pgpgin"), 0, "not counted here");
    }

    #[test]
    fn every_counted_event_has_a_linux_name() {
        for ev in VmEvent::ALL {
            assert!(VM_EVENT_NAMES.contains(&ev.name()), "{} is not in Linux's list", ev.name());
        }
    }

    #[test]
    fn vmstat_file_in_linux_order_with_real_values() {
        let mut c = MemCounters::default();
        c.total.slab_unreclaimable = 7;
        c.memmap_boot_pages = 4096;
        let mut s = String::new();
        vmstat_show(&mut s, |n| if n == "nr_free_pages" { 1234 } else { 0 }, &c).unwrap();
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 11 + 6 + NODE_STAT_NAMES.len() + 4 + VM_EVENT_NAMES.len() + 1);
        assert_eq!(lines[0], "nr_free_pages 1234");
        assert!(lines.contains(&"nr_slab_unreclaimable 7"));
        assert!(lines.contains(&"nr_memmap_boot_pages 4096"));
        assert_eq!(*lines.last().unwrap(), "nr_unstable 0");
    }
}
