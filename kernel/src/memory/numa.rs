//! NUMA nodes as the device tree describes them (`numa-node-id` on /memory
//! and /cpus, /distance-map), or one node with `numa=off` or no NUMA
//! information (Linux's of_numa_init and its dummy fallback).

use core::sync::atomic::{AtomicU64, Ordering};

/// Bit n set: node n has memory or CPUs.
static ONLINE_NODES: AtomicU64 = AtomicU64::new(1);

/// Mark the nodes that appear in memblock.memory online. `faked`: the
/// tree had no NUMA information (or `numa=off`), so all memory went to one
/// dummy node, which Linux's dummy_numa_init announces.
pub fn init_from_memblock(faked: bool) {
    let mb = super::memblock::MEMBLOCK.lock();
    if faked && mb.phys_mem_size() != 0 {
        crate::pr_info!(
            "NUMA: Faking a node at [mem {:#018x}-{:#018x}]",
            mb.start_of_dram().as_u64(),
            mb.end_of_dram().as_u64() - 1
        );
    }
    let mut mask = 0u64;
    for r in mb.memory().regions() {
        if r.nid.is_valid() {
            mask |= 1 << r.nid.0;
        }
    }
    ONLINE_NODES.store(mask.max(1), Ordering::Release);
}

/// How many nodes are online.
pub fn nr_online_nodes() -> u32 {
    ONLINE_NODES.load(Ordering::Acquire).count_ones()
}
