//! memblock: the boot-time physical memory map and allocator.
//!
//! Before there are struct pages, zones or a buddy allocator the kernel still
//! has to know which physical memory exists, and it has to hand out memory for
//! page tables, the struct-page array and per-cpu areas. Linux answers both
//! with memblock (mm/memblock.c); this module is an architecture-free port of
//! it, with Linux's names in Rust casing so that a reader of one can check the
//! other.
//!
//! # The two region arrays
//!
//! A [`Memblock`] holds two [`MemblockType`]s, each an array of
//! [`MemblockRegion`]s `{ base, size, flags, nid }`:
//!
//! ```text
//!   memory    [=================================]   [=========]  RAM that exists
//!   reserved     [kern]      [dtb]  [pgtables]          [arr]     taken from it
//!   free      [=]      [====]     [=]         [=]   [==]     [==] memory - reserved
//! ```
//!
//! * `memory` is what the firmware (device tree, UEFI) says is RAM, possibly
//!   cut down by `mem=`. Regions carry a NUMA node and flags: `NOMAP` memory is
//!   kept out of the linear map, `HOTPLUG`/`MIRROR`/`DRIVER_MANAGED` describe
//!   the kind of RAM.
//! * `reserved` is what is already in use: the kernel image, the device tree,
//!   the initrd, every memblock allocation, and memblock's own grown arrays.
//!
//! Both arrays keep the same invariants (see [`MemblockType`]): regions are
//! sorted by base, never overlap, never have size 0, and two regions that
//! touch and have the same flags and node are always merged into one
//! (memblock_merge_regions). No region reaches past `u64::MAX`: a range that
//! would overflow is clipped first, as memblock_cap_size does, so the very last
//! byte of the address space can never be described.
//!
//! # Adding, removing, marking
//!
//! [`Memblock::add`] and [`Memblock::reserve`] follow memblock_add_range: a new
//! range may overlap existing regions, and only the holes between them are
//! inserted (with the new range's node and flags); existing regions keep their
//! attributes. A first pass counts the holes, the array grows if they do not
//! fit, a second pass inserts them, and a final pass merges neighbours.
//!
//! Removing, freeing, setting flags and setting the node all start with
//! memblock_isolate_range: regions that cross the range's ends are split
//! there (at most two new regions), so that the range is covered by whole
//! regions which can then be dropped or changed one by one, after which
//! neighbours are merged again.
//!
//! # Growth
//!
//! Each array starts as an inline array of [`INIT_MEMBLOCK_REGIONS`] slots, so
//! `Memblock::new()` is a `const fn` and the whole thing can live in a static.
//! When an insertion needs more slots, memblock_double_array runs: memblock
//! allocates a doubled array from its own free memory (page aligned, below
//! `current_limit`, never overlapping the range being inserted or removed),
//! reaches it through the platform's linear map (`Hal::phys_to_virt`), copies
//! the regions over, switches to it, frees the previous array if it was itself
//! a grown one, and reserves the new array's own range. If `memory` grows while
//! `reserved` is too full to record that, both grow in the same step.
//!
//! Everything that can fail (finding space, mapping it) is done before the
//! first write, so a failed growth returns [`Error::NoMemory`](crate::Error::NoMemory) and leaves both
//! arrays exactly as they were: nothing lost, nothing half inserted. Without a
//! linear map (early boot, before [`Memblock::allow_resize`], Linux's
//! memblock_allow_resize) the arrays simply cannot grow. Any mutating
//! call that needs a slot it cannot get returns `NoMemory` the same way. As
//! in Linux, the need is counted before merging (an add that fills the hole
//! between two regions still needs a slot) and isolating a range always
//! wants two spare slots.
//!
//! # Allocation
//!
//! Allocation (memblock_alloc_range_nid) searches the free ranges, memory
//! minus reserved, walking both sorted arrays in lockstep (__next_mem_range)
//! so that nothing is ever materialised. `NOMAP` and `DRIVER_MANAGED` memory
//! is skipped, and once some memory is marked `MIRROR` mirrored memory is tried
//! first. The search is top-down by default (highest fitting address, which
//! keeps low memory free for devices with small DMA masks) or bottom-up after
//! `set_direction(AllocDirection::BottomUp)`. It stays below `current_limit`
//! when the caller asks for [`MEMBLOCK_ALLOC_ACCESSIBLE`], tries the requested
//! node first and then any node (unless the exact-node variant is used), and
//! reserves what it found. A block can never straddle two memory regions. Like
//! Linux it never hands out the first page: memblock_find_in_range_node raises
//! the lower bound to `PAGE_SIZE`, so physical address 0 is never returned.
//!
//! # Locking
//!
//! There is no lock inside. Every mutating method takes `&mut self`, so the
//! kernel keeps the one instance behind a lock and the guard is the proof:
//!
//! ```ignore
//! static MEMBLOCK: spin::Mutex<Memblock<KernelHal>> = spin::Mutex::new(Memblock::new());
//! MEMBLOCK.lock().reserve(kernel_start, kernel_size)?;
//! ```
//!
//! The platform functions memblock calls (logging, the linear map) must not
//! take that lock again.
//!
//! # Debugging
//!
//! With `memblock=debug` the kernel calls `set_debug(true)`. Every public
//! mutating call then logs one line in Linux's memblock_dbg format, the range
//! printed with an inclusive end and the caller (from `#[track_caller]`) in
//! place of Linux's `%pS`:
//!
//! ```text
//! memblock_reserve: [0x0000000040000000-0x00000000401fffff] kernel/src/memory.rs:42
//! ```
//!
//! An allocation's request line is followed, as in Linux, by the
//! `memblock_reserve` line of the block it got, whose caller is
//! `memblock_alloc_range_nid`: the pair says who took which range
//! (`scripts/mmplot` draws the reservations from them).
//!
//! [`Memblock::dump`] prints __memblock_dump_all's table.
//!
//! # Differences from Linux
//!
//! * Failures are `Err`, not 0 or -1; growth before `allow_resize` is `NoMemory`
//!   instead of a panic, and a failed growth changes nothing at all.
//! * The `alloc_*` calls return physical addresses and do not zero: there is
//!   no linear map at this layer. Allocations are reserved with
//!   [`NUMA_NO_NODE`] and no flags, as before Linux 6.13 (no `RSRV_KERN`).
//! * Allocation rejects size 0 and an alignment that is not a power of two
//!   (`InvalidArgument`); alignment 0 still means `SMP_CACHE_BYTES`.
//! * A grown array avoids the range being inserted or removed for both arrays
//!   (Linux only for `reserved`) and also avoids the arrays in use.
//! * trim_memory keeps `total_size` exact (Linux's leaves it stale).
//! * Free-range iteration never yields empty ranges.
//! * No `physmem` type, no kmemleak, no KHO scratch, no movable_node: the
//!   `HOTPLUG` flag is recorded but never makes a region skipped.
//!
//! # Files
//!
//! ```text
//!   region.rs         struct memblock_region, flags, constants
//!   memblock_type.rs  struct memblock_type: one sorted, merged array
//!   state.rs          struct memblock: both arrays and the settings
//!   modify.rs         add, remove, mark, set_node, limits, reserve, free
//!   grow.rs           memblock_double_array
//!   alloc.rs          memblock_alloc_range_nid and the allocation API
//!   iter.rs           __next_mem_range, for_each_*, queries
//!   debug.rs          memblock=debug lines and the dump
//! ```

mod alloc;
mod debug;
mod grow;
mod iter;
mod memblock_type;
mod modify;
mod region;
mod state;
#[cfg(test)]
mod tests;

pub use crate::config::{MAX_NUMNODES, NUMA_NO_NODE, NodeId};
pub use iter::MemRangeIter;
pub use memblock_type::MemblockType;
pub use region::{
    AllocDirection, INIT_MEMBLOCK_REGIONS, MEMBLOCK_ALLOC_ACCESSIBLE, MEMBLOCK_ALLOC_ANYWHERE, MemblockFlags,
    MemblockRegion, SMP_CACHE_BYTES,
};
pub use state::Memblock;
