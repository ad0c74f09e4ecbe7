//! Per-CPU page lists (Linux's struct per_cpu_pages, the pcp half of
//! mm/page_alloc.c).
//!
//! Taking the zone lock for every page would make it the most contended
//! lock in the kernel. Instead each CPU keeps, per zone, a small cache of
//! free pages: allocations of order <= PAGE_ALLOC_COSTLY_ORDER (3) and of
//! the pageblock order (9, Linux's THP lists) take from it and frees of
//! those orders go to it; the zone lock is taken only to move a batch of
//! pages in or out.
//!
//! # Data structures
//!
//! ```text
//!   zone.pageset[cpu]: PcpSlot (cache-line aligned)
//!     spin::Mutex<PerCpuPages>
//!       count        pages on all lists
//!       high         above this, free a batch back to the buddy lists
//!       batch        pages moved per refill / drain
//!       free_factor  doubles the drain size while a CPU only frees
//!       hot[3][8]    order-0 pages per pcp type in front of the lists (not in
//!                    count; see page_alloc's fastpath module)
//!       lists[14]    pindex = order * 3 + migratetype, for orders 0..=3 and the
//!                    three pcp types Unmovable, Movable, Reclaimable; then
//!                    two for order 9 (Linux's NR_PCP_THP): 12 Unmovable and
//!                    Reclaimable together, 13 Movable
//! ```
//!
//! Pages on a pcp list are "allocated" as far as the buddy allocator and
//! `NR_FREE_PAGES` are concerned: not `PG_buddy`, refcount 0. They are
//! linked through the same `lru` words as the buddy lists (a page is on at
//! most one list), which the pcp lock protects.
//!
//! Each CPU's lists have their own lock (Linux's `pcp->lock`). The CPU that
//! owns them (the caller passes its CPU number and runs with interrupts
//! masked) takes it uncontended; `drain_all_pages` and the `/proc` readers
//! take it from other CPUs.
//!
//! # Sizes
//!
//! With `managed` the zone's managed pages and `low` its low watermark:
//!
//! ```text
//!   zone_batchsize: batch = min(managed / 1024, 1 MiB / PAGE_SIZE) / 4, at least 1,
//!                   then rounded to 2^n - 1: rounddown_pow_of_two(batch * 3/2) - 1
//!                   (63 for any zone of 1 GiB or more)
//!   zone_highsize:  high = max(low / nr_cpus_on_the_zone's_node, 4 * batch)
//!                   (all online CPUs when the node has none)
//! ```
//!
//! Before the page allocator's `setup_pcp` runs, every list has Linux's boot
//! pageset values, `high` 0 and `batch` 1: each free goes straight back to
//! the buddy lists, and each allocation moves a single page.
//!
//! # Fast path
//!
//! (The inline fast paths of page_alloc's fastpath module try the lock,
//! use the order-0 array first, and leave everything else to these.)
//!
//! ```text
//!   alloc: lock; free_factor >>= 1; list empty? rmqueue_bulk (zone lock, batch blocks,
//!          batch >> order for order > 0, at least 2) ; pop front; count -= 2^order; unlock
//!   free:  lock; push front; count += 2^order;
//!          count >= high? free_pcppages_bulk (zone lock) ; unlock
//! ```
//!
//! A free drains `nr_pcp_free` pages: `batch << free_factor` clamped to
//! `[batch, high - batch]`, the factor growing by one each time a drain
//! happens without an allocation in between (all of them if high < batch).
//! When a CPU frees higher-order pages while `free_factor` is up, `high`
//! reads as 0 and the whole pcp is drained (Linux's `free_high`), so that
//! high-order pages do not sit idle on one CPU. `free_pcppages_bulk` takes
//! pages from the lists round-robin starting with the list just freed to,
//! from the cold tail, and gives each to `__free_one_page` with its
//! pageblock's current migratetype.
//!
//! Lock order: pcp lock -> zone lock.

mod lists;
mod sizes;
#[cfg(test)]
mod tests;

pub use crate::config::NR_CPUS;
pub use crate::zone::{NR_PCP_LISTS, PcpSlot, PerCpuPages};
pub use lists::PcpStats;
pub use sizes::{order_to_pindex, pcp_allowed_order, pindex_to_order, zone_batchsize, zone_highsize};
