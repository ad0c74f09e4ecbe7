//! NUMA nodes as the device tree describes them (`numa-node-id` on /memory
//! and /cpus, /distance-map), or one node with `numa=off` or no NUMA
//! information (Linux's of_numa_init and its dummy fallback).

use core::sync::atomic::{AtomicU64, Ordering};

/// Bit n set: node n has memory or CPUs.
static ONLINE_NODES: AtomicU64 = AtomicU64::new(1);

/// Mark the nodes that appear in memblock.memory online.
pub fn init_from_memblock() {
    let mb = super::memblock::MEMBLOCK.lock();
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
