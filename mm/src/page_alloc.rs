//! The page allocator: nodes, zonelists and the allocation API
//! (mm/page_alloc.c, mm/mm_init.c).
//!
//! [`PageAllocator`] hands out and takes back blocks of `2^order`
//! physically contiguous page frames, `order <= MAX_PAGE_ORDER` (4 MiB),
//! named by PFN. It is the machine-wide object: one [`PgData`] per NUMA
//! node, four [`Zone`]s per node (each a buddy allocator with per-CPU
//! lists, see zone.rs and pcp.rs), the node distance table, and the hooks
//! through which it reaches what only the kernel can: the console and the
//! memory itself.
//!
//! # What the kernel provides
//!
//! The allocator depends on nothing but this interface:
//!
//! * **The memmap.** The kernel maps one 64-byte [`crate::page::Page`]
//!   descriptor per frame of every 128 MiB section that contains memory, as a
//!   virtual array indexed by PFN, and wraps it with
//!   [`MemMap::new`]`(base, sections)` (unsafe: it vouches for the mapping).
//! * **Hooks.** `zero(pfn, nr_pages)` clears memory for `__GFP_ZERO`,
//!   `init_on_alloc` and `init_on_free` (only the kernel can reach the
//!   memory); `log(args)` prints one line (warnings, bad pages, the failure
//!   report); `comm(cpu, out)` names the running task for messages (default
//!   `swapper/<cpu>`). Hooks are called with no allocator lock held; the
//!   log hook runs in allocation and free paths, so it should not itself
//!   allocate pages.
//! * **CPUs and nodes.** [`PageAllocator::set_cpus`] gives each online CPU's
//!   node, [`PageAllocator::set_node_distance`] the distance table (default
//!   10 local, 20 remote). [`PageAllocator::add_node`] creates a node from
//!   storage the kernel supplies (a `&'static mut MaybeUninit<PgData>`, as
//!   Linux allocates `pg_data_t` from memblock on the node), the PFN span
//!   `[start, end)` of each of its zones (empty when `start == end`; zones
//!   in order, not overlapping each other or other nodes' zones) and the
//!   present memory ranges, from which each zone's present pages are counted.
//!   Memoryless nodes (with CPUs) are added with empty spans.
//! * **Memory.** After [`PageAllocator::memmap_init`], every range
//!   memblock leaves free is handed over with
//!   [`PageAllocator::free_bootmem_range`] (memblock_free_all).
//!
//! # Boot order
//!
//! ```text
//!   PageAllocator::new(memmap, zero)       set_log, set_comm, set_flags(INIT_ON_*),
//!   set_cpus, set_node_distance            set_min_free_kbytes if the user chose one
//!   add_node (each node)                   free_area_init_node
//!   memmap_init                            every present section, holes as reserved
//!   build_all_zonelists                    zonelists, numa_mem_id of each CPU
//!   free_bootmem_range (each free range)   memblock_free_all: allocations work from here
//!   init_per_zone_wmark_min                min_free_kbytes, watermarks, lowmem_reserve
//!   setup_pcp                              pcp batch and high (until then: boot pageset)
//! ```
//!
//! Construction calls take `&mut self`; everything after `build_all_zonelists`
//! takes `&self`, so the kernel can publish the allocator in a static and
//! finish from there.
//!
//! # Zonelists
//!
//! Each node has two zonelists. ZONELIST_FALLBACK lists every populated zone
//! of every node with memory, nodes in order of preference and, within a
//! node, zones from the highest down (Normal, DMA32, DMA): an allocation
//! whose highest allowed zone is `gfp_zone(gfp)` walks it from the first zone
//! at or below that. The node order is Linux's `find_next_best_node`: the
//! local node first, then by distance, penalising nodes below the local one
//! (+1), nodes with CPUs (+1), and, among nodes at the same distance, the one
//! that was first in its distance group for an earlier node's list
//! (`node_load`), so that equal nodes are used round-robin; ties go to the
//! lower node id. ZONELIST_NOFALLBACK holds the node's own zones only and is
//! used for `__GFP_THISNODE`.
//!
//! # Allocation: fast path
//!
//! `alloc_pages(cpu, gfp, order)` starts from the CPU's nearest node with
//! memory; `alloc_pages_node` from a given one.
//!
//! ```text
//!   highest_zoneidx = gfp_zone(gfp); migratetype = gfp_migratetype(gfp)
//!   alloc_flags = WMARK_LOW (+CMA if Movable, +NOFRAGMENT if the preferred zone is Normal)
//!   order <= 3: the preferred zone (cached per zonelist and highest_zoneidx):
//!       free pages (minus what the caller may not use) > low + lowmem_reserve[highest]?
//!       pop this CPU's pcp list (refilled with a batch under the zone lock if empty)
//!       check the page (check_new_pages), refcount 1, zero if asked, compound if asked
//!   otherwise, out of line, get_page_from_freelist:
//!       for each zone <= highest_zoneidx in the zonelist: the same watermark check,
//!       then the pcp lists (order <= 3) or the buddy lists under the zone lock;
//!       with NOFRAGMENT, a zone on another node first means retrying without it
//!       (fragment locally rather than allocate remotely), and so does reaching the end
//! ```
//!
//! The first step is exactly the first iteration of the walk, so taking it
//! inline changes no decision. On arm64 (release build) the inline part of
//! an order-0 allocation that hits the pcp list is about 110 instructions and
//! the matching free about 100, including the bad-page checks, the PFN
//! validity check of the free, and the lock and refcount atomics.
//!
//! # Allocation: slow path
//!
//! This kernel has no reclaim, compaction or OOM killer yet; the slow path
//! does what remains of __alloc_pages_slowpath:
//!
//! 1. Retry against the MIN watermark with gfp_to_alloc_flags:
//!    `__GFP_HIGH` may use half of min (ALLOC_MIN_RESERVE); callers without
//!    `__GFP_DIRECT_RECLAIM` are ALLOC_NON_BLOCK (and, with `__GFP_HIGH`, may
//!    use 62.5% of min; for order > 0 also HIGHATOMIC reserves).
//!    `__GFP_MEMALLOC` (without `__GFP_NOMEMALLOC`) then retries ignoring
//!    the watermarks altogether.
//! 2. What follows a failed direct reclaim: give back one HIGHATOMIC
//!    pageblock (keeping the last), drain every CPU's pcp lists, retry.
//!    Linux drains only for callers that may sleep; here draining is taking
//!    spinlocks, so every caller gets it.
//! 3. `__GFP_NORETRY`, or a costly order without `__GFP_RETRY_MAYFAIL`: fail.
//!    Otherwise, as should_reclaim_retry does once retries run out, release
//!    even the last HIGHATOMIC pageblock and retry once more.
//! 4. `__GFP_NOFAIL`: up to 16 more rounds of drain + retry with
//!    ALLOC_MIN_RESERVE, then fail with a message that NOFAIL cannot be
//!    honoured without reclaim. Never an endless loop, never a panic.
//! 5. Unless `__GFP_NOWARN`: warn_alloc's
//!    `<comm>: page allocation failure: order:N, mode:0x...(...), nodemask=(null)`
//!    followed by a show_mem report, through the log hook.
//!
//! Running out is an ordinary `Err(Error::NoMemory)`.
//!
//! # Freeing
//!
//! `free_pages(cpu, pfn, order)` is __free_pages: drop a reference; at zero,
//! check the pages (free_pages_prepare), clear their flags, zero them for
//! `init_on_free`, and give them to this CPU's pcp list (order <= 3) or the
//! buddy lists. If references remain and the block is not compound, its
//! pages past the first are freed (the first stays with whoever holds it).
//! Compound pages are freed whole through their head.
//!
//! # Bad pages
//!
//! A page freed with references, a mapcount, a mapping, or owner flags set
//! (PAGE_FLAGS_CHECK_AT_FREE), or found at allocation with any of those
//! (PAGE_FLAGS_CHECK_AT_PREP), is reported as Linux's bad_page does
//! (`BUG: Bad page state in process <comm>  pfn:<pfn>` and a dump of the
//! descriptor), kept off the free lists for good, and counted in
//! [`PageAllocator::nr_bad_pages`]; the allocator carries on. Reports stop
//! after 60 (Linux allows 60 a minute; there is no clock here).
//!
//! # Differences from Linux
//!
//! * No reclaim, compaction, OOM killer, kswapd or watermark boosting; no
//!   cpusets, memcg, page owner, KASAN, page reporting, shuffling, guard
//!   pages, deferred struct page init, memory hotplug, dynamic pcp high
//!   (high_min/high_max) or `percpu_pagelist_high_fraction`.
//! * Drains happen for every caller in the slow path (see above).
//! * Node-local: `numa_mem_id` comes from the CPU number the caller passes.
//! * `warn_alloc` and bad_page are not rate-limited by time (no clock); the
//!   log hook may rate-limit.
//! * A double free (refcount already 0) is reported as a bad page instead of
//!   VM_BUG_ON; the page is left as it was.
//! * `free_bootmem_range` frees only pages still marked reserved and splits
//!   at zone boundaries, so a range given twice, or one that straddles zones,
//!   does no harm.
//! * Merging a larger-than-pageblock buddy of another mergeable type retypes
//!   all its pageblocks (Linux retypes the first).
//! * The free and allocation checks always run (Linux runs check_new_pages
//!   only with CONFIG_DEBUG_VM or debug_pagealloc-style options).
//! * `__GFP_NOFAIL` is retried for non-blocking callers too (Linux gives up
//!   at once for them), since the retries here never sleep.
//! * Pageblock migratetypes live in the first descriptor of each pageblock,
//!   not in a separate bitmap; there is no PB_migrate_skip (no compaction).

use core::fmt;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use bitflags::bitflags;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::error::Error;
use crate::gfp::{Gfp, GfpMode, gfp_migratetype, gfp_zone};
use crate::memblock::{MAX_NUMNODES, NUMA_NO_NODE, NodeId};
use crate::page::{MemMap, Page, PageFlags, PageFlagsDisplay, PutResult, TAIL_MAPPING, ValidPfn};
use crate::pcp::{NR_CPUS, pcp_allowed_order, zone_batchsize, zone_highsize};
use crate::zone::{
    AllocFlags, Fpi, LOWMEM_RESERVE_RATIO, MAX_NR_ZONES, MAX_PAGE_ORDER, MIGRATE_PCPTYPES, MIGRATE_TYPES, MigrateType,
    PAGE_ALLOC_COSTLY_ORDER, PAGEBLOCK_NR_PAGES, SWAP_CLUSTER_MAX, Wmark, Zone, ZoneType, int_sqrt, mult_frac,
};

pub use crate::zone::DEFAULT_WATERMARK_SCALE_FACTOR;

/// Zones in one zonelist at most.
pub const MAX_ZONES_PER_ZONELIST: usize = MAX_NUMNODES * MAX_NR_ZONES;
/// Index of the zonelist with fallback to other nodes.
pub const ZONELIST_FALLBACK: usize = 0;
/// Index of the node-local zonelist (`__GFP_THISNODE`).
pub const ZONELIST_NOFALLBACK: usize = 1;
/// Zonelists per node.
pub const MAX_ZONELISTS: usize = 2;
/// Distance of a node to itself.
pub const LOCAL_DISTANCE: u8 = 10;
/// Default distance between two nodes.
pub const REMOTE_DISTANCE: u8 = 20;
/// min_free_kbytes before init_per_zone_wmark_min computes it.
pub const DEFAULT_MIN_FREE_KBYTES: u64 = 1024;
/// Bounds of the computed min_free_kbytes.
pub const MIN_FREE_KBYTES_RANGE: (u64, u64) = (128, 262_144);
/// Extra rounds a `__GFP_NOFAIL` allocation gets before it fails.
pub const NOFAIL_RETRIES: u32 = 16;
/// Bad pages reported before the reports stop.
const BAD_PAGE_REPORTS: u64 = 60;
const PENALTY_FOR_NODE_WITH_CPUS: i64 = 1;

bitflags! {
    /// Allocator-wide options.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct AllocatorFlags: u32 {
        /// Zero every page at allocation (init_on_alloc=1).
        const INIT_ON_ALLOC = 1 << 0;
        /// Zero every page at free (init_on_free=1); then allocation never zeroes.
        const INIT_ON_FREE = 1 << 1;
    }
}

/// Prints one line (no trailing newline).
pub type LogHook = fn(fmt::Arguments<'_>);
/// Zeroes `nr_pages` pages starting at a PFN.
pub type ZeroHook = fn(Pfn, u64);
/// Writes the name of the task running on a CPU.
pub type CommHook = fn(usize, &mut dyn fmt::Write) -> fmt::Result;

fn no_log(_: fmt::Arguments<'_>) {}

fn swapper_comm(cpu: usize, out: &mut dyn fmt::Write) -> fmt::Result {
    write!(out, "swapper/{cpu}")
}

/// One zone of one node, as a zonelist names it (struct zoneref).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ZoneRef {
    /// The node.
    pub nid: u8,
    /// The zone type.
    pub zone: ZoneType,
}

/// Zones to try in order (struct zonelist).
///
/// Besides the zones, it caches for each `highest_zoneidx` the first zone an
/// allocation may use (Linux's `first_zones_zonelist`, the preferred zone)
/// and whether that makes it ALLOC_NOFRAGMENT, so that the fast path does
/// not walk the list.
pub struct Zonelist {
    refs: [ZoneRef; MAX_ZONES_PER_ZONELIST],
    nr: usize,
    preferred: [Option<ZoneRef>; MAX_NR_ZONES],
    fast_flags: [AllocFlags; MAX_NR_ZONES],
}

impl Zonelist {
    const EMPTY: Zonelist = Zonelist {
        refs: [ZoneRef { nid: 0, zone: ZoneType::Dma }; MAX_ZONES_PER_ZONELIST],
        nr: 0,
        preferred: [None; MAX_NR_ZONES],
        fast_flags: [AllocFlags::empty(); MAX_NR_ZONES],
    };

    /// The first zone an allocation limited to `highest` zones may use.
    #[inline]
    pub fn preferred_zone(&self, highest: ZoneType) -> Option<ZoneRef> {
        self.preferred[highest.idx()]
    }

    /// The zones, in order.
    #[inline]
    pub fn zones(&self) -> &[ZoneRef] {
        &self.refs[..self.nr]
    }

    fn push(&mut self, zref: ZoneRef) {
        if self.nr < MAX_ZONES_PER_ZONELIST {
            self.refs[self.nr] = zref;
            self.nr += 1;
        }
    }
}

/// A NUMA node (pg_data_t).
pub struct PgData {
    node_id: NodeId,
    pub(crate) node_zones: [Zone; MAX_NR_ZONES],
    node_zonelists: [Zonelist; MAX_ZONELISTS],
    node_start_pfn: u64,
    node_spanned_pages: u64,
    node_present_pages: u64,
    totalreserve_pages: AtomicU64,
}

impl PgData {
    /// The node's id.
    #[inline]
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// One of the node's zones.
    #[inline]
    pub fn zone(&self, zone: ZoneType) -> &Zone {
        &self.node_zones[zone.idx()]
    }

    /// All four zones.
    #[inline]
    pub fn zones(&self) -> &[Zone; MAX_NR_ZONES] {
        &self.node_zones
    }

    /// First PFN of the node.
    #[inline]
    pub fn node_start_pfn(&self) -> u64 {
        self.node_start_pfn
    }

    /// Pages spanned, holes included.
    #[inline]
    pub fn node_spanned_pages(&self) -> u64 {
        self.node_spanned_pages
    }

    /// Pages of memory.
    #[inline]
    pub fn node_present_pages(&self) -> u64 {
        self.node_present_pages
    }

    /// A zonelist ([`ZONELIST_FALLBACK`] or [`ZONELIST_NOFALLBACK`]).
    #[inline]
    pub fn zonelist(&self, which: usize) -> &Zonelist {
        &self.node_zonelists[which.min(MAX_ZONELISTS - 1)]
    }

    /// Pages held back on this node (high watermarks and lowmem reserves).
    #[inline]
    pub fn totalreserve_pages(&self) -> u64 {
        self.totalreserve_pages.load(Relaxed)
    }

    /// Initialise a node in the storage the kernel gave.
    fn init(
        storage: &'static mut MaybeUninit<PgData>,
        nid: NodeId,
        spans: &[(u64, u64); MAX_NR_ZONES],
        present: &[u64; MAX_NR_ZONES],
    ) -> &'static mut PgData {
        let nonempty = || spans.iter().filter(|s| s.0 < s.1);
        let start = nonempty().map(|s| s.0).min().unwrap_or(0);
        let end = nonempty().map(|s| s.1).max().unwrap_or(start);
        let p = storage.as_mut_ptr();
        // SAFETY: `p` comes from an exclusive `&mut MaybeUninit<PgData>`, so
        // it is valid for writes, aligned, and seen by nobody else. Every
        // field is written exactly once below (the zones through
        // Zone::init_in_place, whose obligations the same facts meet), after
        // which the whole PgData is initialised and `assume_init_mut` is sound.
        unsafe {
            (&raw mut (*p).node_id).write(nid);
            let zones = (&raw mut (*p).node_zones).cast::<Zone>();
            for (i, zt) in ZoneType::ALL.into_iter().enumerate() {
                Zone::init_in_place(zones.add(i), nid, zt, spans[i], present[i]);
            }
            let lists = (&raw mut (*p).node_zonelists).cast::<Zonelist>();
            for i in 0..MAX_ZONELISTS {
                lists.add(i).write(Zonelist::EMPTY);
            }
            (&raw mut (*p).node_start_pfn).write(start);
            (&raw mut (*p).node_spanned_pages).write(end - start);
            (&raw mut (*p).node_present_pages).write(present.iter().sum());
            (&raw mut (*p).totalreserve_pages).write(AtomicU64::new(0));
            storage.assume_init_mut()
        }
    }
}

/// What an allocation is looking for (struct alloc_context).
struct AllocContext<'a> {
    zonelist: &'a Zonelist,
    preferred: Option<ZoneRef>,
    highest_zoneidx: ZoneType,
    migratetype: MigrateType,
}

/// The machine's page allocator. See the module documentation.
pub struct PageAllocator {
    map: MemMap,
    nodes: [Option<&'static mut PgData>; MAX_NUMNODES],
    node_distance: [[u8; MAX_NUMNODES]; MAX_NUMNODES],
    cpu_to_node: [NodeId; NR_CPUS],
    numa_mem: [u8; NR_CPUS],
    nr_cpus: usize,
    nr_online_nodes: usize,
    flags: AllocatorFlags,
    page_group_by_mobility_disabled: bool,
    memmap_ready: bool,
    min_free_kbytes: AtomicU64,
    user_min_free_kbytes: AtomicU64,
    watermark_scale_factor: AtomicU64,
    totalreserve_pages: AtomicU64,
    nr_bad_pages: AtomicU64,
    nr_bad_page_reports: AtomicU64,
    setup_lock: spin::Mutex<()>,
    log: LogHook,
    zero: ZeroHook,
    comm: CommHook,
}

/// Displays the name of the task on a CPU through the comm hook.
pub(crate) struct Comm(pub(crate) CommHook, pub(crate) usize);

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.0)(self.1, f)
    }
}

/// ALLOC_CMA for Movable requests (gfp_to_alloc_flags_cma).
#[inline]
fn alloc_flags_cma(mt: MigrateType) -> AllocFlags {
    if mt == MigrateType::Movable { AllocFlags::CMA } else { AllocFlags::empty() }
}

/// Smallest order whose block holds `size_bytes` (get_order).
pub const fn get_order(size_bytes: u64) -> u32 {
    if size_bytes <= PAGE_SIZE {
        return 0;
    }
    64 - ((size_bytes - 1) >> PAGE_SHIFT).leading_zeros()
}

impl PageAllocator {
    /// An allocator over `map` with no nodes yet; `zero` clears pages.
    pub fn new(map: MemMap, zero: ZeroHook) -> Self {
        let mut node_distance = [[REMOTE_DISTANCE; MAX_NUMNODES]; MAX_NUMNODES];
        for (i, row) in node_distance.iter_mut().enumerate() {
            row[i] = LOCAL_DISTANCE;
        }
        Self {
            map,
            nodes: [const { None }; MAX_NUMNODES],
            node_distance,
            cpu_to_node: [NodeId(0); NR_CPUS],
            numa_mem: [0; NR_CPUS],
            nr_cpus: 1,
            nr_online_nodes: 0,
            flags: AllocatorFlags::empty(),
            page_group_by_mobility_disabled: false,
            memmap_ready: false,
            min_free_kbytes: AtomicU64::new(DEFAULT_MIN_FREE_KBYTES),
            user_min_free_kbytes: AtomicU64::new(0),
            watermark_scale_factor: AtomicU64::new(DEFAULT_WATERMARK_SCALE_FACTOR),
            totalreserve_pages: AtomicU64::new(0),
            nr_bad_pages: AtomicU64::new(0),
            nr_bad_page_reports: AtomicU64::new(0),
            setup_lock: spin::Mutex::new(()),
            log: no_log,
            zero,
            comm: swapper_comm,
        }
    }

    // ----- construction -------------------------------------------------

    /// Set the log hook (one line per call).
    pub fn set_log(&mut self, log: LogHook) {
        self.log = log;
    }

    /// Set the hook that names the task running on a CPU.
    pub fn set_comm(&mut self, comm: CommHook) {
        self.comm = comm;
    }

    /// Set `init_on_alloc` / `init_on_free`. Set before memory is freed, so
    /// that init_on_free covers it.
    pub fn set_flags(&mut self, flags: AllocatorFlags) {
        self.flags = flags;
    }

    /// The allocator options.
    #[inline]
    pub fn flags(&self) -> AllocatorFlags {
        self.flags
    }

    /// Declare the online CPUs: `cpu_nodes[cpu]` is CPU `cpu`'s node. At most
    /// [`NR_CPUS`]; CPU numbers at or above that allocate without pcp lists.
    pub fn set_cpus(&mut self, cpu_nodes: &[NodeId]) -> Result<(), Error> {
        if cpu_nodes.is_empty() || cpu_nodes.len() > NR_CPUS || cpu_nodes.iter().any(|n| !n.is_valid()) {
            return Err(Error::InvalidArgument);
        }
        self.cpu_to_node = [cpu_nodes[0]; NR_CPUS];
        self.cpu_to_node[..cpu_nodes.len()].copy_from_slice(cpu_nodes);
        self.nr_cpus = cpu_nodes.len();
        Ok(())
    }

    /// Set the distance from node `from` to node `to` (node_distance); the
    /// device tree's distance-map gives both directions.
    pub fn set_node_distance(&mut self, from: NodeId, to: NodeId, distance: u8) -> Result<(), Error> {
        if !from.is_valid() || !to.is_valid() || distance == 0 {
            return Err(Error::InvalidArgument);
        }
        self.node_distance[from.0 as usize][to.0 as usize] = distance;
        Ok(())
    }

    /// The distance between two nodes.
    pub fn node_distance(&self, from: NodeId, to: NodeId) -> u8 {
        if !from.is_valid() || !to.is_valid() {
            return REMOTE_DISTANCE;
        }
        self.node_distance[from.0 as usize][to.0 as usize]
    }

    /// Create node `nid` (free_area_init_node) in `storage`, with zone spans
    /// `zones[zone type] = (start, end)` and the present memory ranges
    /// `present` (disjoint; they may include other nodes' memory, only the
    /// parts inside this node's zones count).
    ///
    /// Fails with `InvalidArgument` for a bad node id, a reversed or
    /// misordered span, a span overlapping another node's, or present memory
    /// without descriptors; with `Busy` if the node exists or the memmap is
    /// already initialised.
    pub fn add_node(
        &mut self,
        nid: NodeId,
        storage: &'static mut MaybeUninit<PgData>,
        zones: &[(Pfn, Pfn); MAX_NR_ZONES],
        present: &[(Pfn, Pfn)],
    ) -> Result<(), Error> {
        if !nid.is_valid() {
            return Err(Error::InvalidArgument);
        }
        if self.nodes[nid.0 as usize].is_some() || self.memmap_ready {
            return Err(Error::Busy);
        }
        let spans: [(u64, u64); MAX_NR_ZONES] = core::array::from_fn(|i| (zones[i].0.0, zones[i].1.0));
        let mut last_end = 0;
        for &(s, e) in &spans {
            if s > e {
                return Err(Error::InvalidArgument);
            }
            if s < e {
                if s < last_end {
                    return Err(Error::InvalidArgument);
                }
                last_end = e;
            }
        }
        for pgdat in self.nodes.iter().flatten() {
            for other in pgdat.node_zones.iter().filter(|z| z.spanned_pages() != 0) {
                let overlaps = spans.iter().any(|&(s, e)| s < other.zone_end_pfn() && other.zone_start_pfn() < e);
                if overlaps {
                    return Err(Error::InvalidArgument);
                }
            }
        }
        let mut present_pages = [0u64; MAX_NR_ZONES];
        for (i, &(zs, ze)) in spans.iter().enumerate() {
            for &(ps, pe) in present {
                let (s, e) = (ps.0.max(zs), pe.0.min(ze));
                if s >= e {
                    continue;
                }
                let mut sec = s >> crate::page::PFN_SECTION_SHIFT;
                while sec << crate::page::PFN_SECTION_SHIFT < e {
                    if !self.map.sections().section_present(sec) {
                        return Err(Error::InvalidArgument);
                    }
                    sec += 1;
                }
                present_pages[i] += e - s;
            }
        }
        self.nodes[nid.0 as usize] = Some(PgData::init(storage, nid, &spans, &present_pages));
        self.nr_online_nodes += 1;
        Ok(())
    }

    /// Initialise every descriptor: each zone's span with its zone and node
    /// (memmap_init_range), and every other page of a present section as
    /// reserved, linked to the nearest zone (init_unavailable_range).
    /// Returns the descriptors written. Call once, after all `add_node`s.
    pub fn memmap_init(&mut self) -> u64 {
        // Non-empty zone spans, sorted by start.
        let mut spans: [(u64, u64, NodeId, ZoneType); MAX_ZONES_PER_ZONELIST] =
            [(0, 0, NodeId(0), ZoneType::Normal); MAX_ZONES_PER_ZONELIST];
        let mut nr = 0;
        for pgdat in self.nodes.iter().flatten() {
            for z in pgdat.node_zones.iter().filter(|z| z.spanned_pages() != 0) {
                spans[nr] = (z.zone_start_pfn(), z.zone_end_pfn(), z.node(), z.zone_type());
                nr += 1;
            }
        }
        let spans = &mut spans[..nr];
        spans.sort_unstable_by_key(|s| s.0);
        let mut done = 0;
        for &(s, e, nid, zt) in spans.iter() {
            done += self.map.memmap_init_range(Pfn(s), Pfn(e), nid, zt);
        }
        // Every present section's pages outside the zones: reserved holes,
        // linked to the zone before them (or after, at the start).
        let mut from = 0;
        loop {
            let next = self.map.sections().ranges().find(|r| r.0.0 >= from);
            let Some((rs, re)) = next else { break };
            let mut cursor = rs.0;
            let mut links = spans.first().map_or((NodeId(0), ZoneType::Normal), |s| (s.2, s.3));
            for &(s, e, nid, zt) in spans.iter() {
                if e <= cursor {
                    links = (nid, zt);
                    continue;
                }
                if s >= re.0 {
                    break;
                }
                if s > cursor {
                    done += self.map.memmap_init_range(Pfn(cursor), Pfn(s), nid, zt);
                }
                cursor = e;
                links = (nid, zt);
            }
            if cursor < re.0 {
                done += self.map.memmap_init_range(Pfn(cursor), re, links.0, links.1);
            }
            from = re.0;
        }
        self.memmap_ready = true;
        done
    }

    /// Build every node's zonelists (build_all_zonelists), each CPU's
    /// nearest node with memory, and decide on mobility grouping.
    pub fn build_all_zonelists(&mut self) {
        let mut node_load = [0i64; MAX_NUMNODES];
        for nid in 0..MAX_NUMNODES {
            if self.nodes[nid].is_none() {
                continue;
            }
            let mut order = [0usize; MAX_NUMNODES];
            let mut nr_nodes = 0;
            let mut used = [false; MAX_NUMNODES];
            let mut prev = nid;
            while let Some(node) = self.find_next_best_node(nid, &mut used, &node_load) {
                if self.node_distance[nid][node] != self.node_distance[nid][prev] {
                    node_load[node] += 1;
                }
                order[nr_nodes] = node;
                nr_nodes += 1;
                prev = node;
            }
            let mut fallback = Zonelist::EMPTY;
            for &node in &order[..nr_nodes] {
                self.build_zonerefs_node(node, &mut fallback);
            }
            let mut thisnode = Zonelist::EMPTY;
            self.build_zonerefs_node(nid, &mut thisnode);
            if let Some(pgdat) = self.nodes[nid].as_deref_mut() {
                pgdat.node_zonelists[ZONELIST_FALLBACK] = fallback;
                pgdat.node_zonelists[ZONELIST_NOFALLBACK] = thisnode;
            }
        }
        // The preferred zone and ALLOC_NOFRAGMENT for each highest zone.
        for nid in 0..MAX_NUMNODES {
            for which in 0..MAX_ZONELISTS {
                let mut preferred = [None; MAX_NR_ZONES];
                let mut fast_flags = [AllocFlags::empty(); MAX_NR_ZONES];
                if let Some(pgdat) = self.nodes[nid].as_deref() {
                    for zt in ZoneType::ALL {
                        let first = pgdat.node_zonelists[which].zones().iter().copied().find(|z| z.zone <= zt);
                        preferred[zt.idx()] = first;
                        fast_flags[zt.idx()] = self.alloc_flags_nofragment(first);
                    }
                }
                if let Some(pgdat) = self.nodes[nid].as_deref_mut() {
                    pgdat.node_zonelists[which].preferred = preferred;
                    pgdat.node_zonelists[which].fast_flags = fast_flags;
                }
            }
        }
        for cpu in 0..NR_CPUS {
            let nid = self.cpu_to_node[cpu].0 as usize;
            self.numa_mem[cpu] = self.local_memory_node(nid) as u8;
        }
        let vm_total_pages = self.nr_free_zone_pages(ZoneType::Movable, true);
        self.page_group_by_mobility_disabled = vm_total_pages < PAGEBLOCK_NR_PAGES * MIGRATE_TYPES as u64;
        let disabled = self.page_group_by_mobility_disabled;
        for pgdat in self.nodes.iter_mut().flatten() {
            for zone in pgdat.node_zones.iter_mut() {
                zone.page_group_by_mobility_disabled = disabled;
            }
        }
        (self.log)(format_args!(
            "Built {} zonelists, mobility grouping {}.  Total pages: {}",
            self.nr_online_nodes,
            if disabled { "off" } else { "on" },
            vm_total_pages
        ));
    }

    /// The next node for `node`'s zonelist (find_next_best_node).
    fn find_next_best_node(&self, node: usize, used: &mut [bool; MAX_NUMNODES], node_load: &[i64]) -> Option<usize> {
        let has_memory = |n: usize| self.nodes[n].as_ref().is_some_and(|p| p.node_present_pages != 0);
        if !used[node] && has_memory(node) {
            used[node] = true;
            return Some(node);
        }
        let mut best = None;
        let mut min_val = i64::MAX;
        for n in 0..MAX_NUMNODES {
            if used[n] || !has_memory(n) {
                continue;
            }
            let mut val = self.node_distance[node][n] as i64;
            // Prefer the next node up.
            val += (n < node) as i64;
            // Prefer headless nodes.
            if self.cpu_to_node[..self.nr_cpus].iter().any(|c| c.0 as usize == n) {
                val += PENALTY_FOR_NODE_WITH_CPUS;
            }
            val = val * MAX_NUMNODES as i64 + node_load[n];
            if val < min_val {
                min_val = val;
                best = Some(n);
            }
        }
        if let Some(n) = best {
            used[n] = true;
        }
        best
    }

    /// Append `node`'s populated zones, highest first (build_zonerefs_node).
    fn build_zonerefs_node(&self, node: usize, list: &mut Zonelist) {
        let Some(pgdat) = self.nodes[node].as_deref() else {
            return;
        };
        for zt in ZoneType::ALL.into_iter().rev() {
            if pgdat.zone(zt).is_populated() {
                list.push(ZoneRef { nid: node as u8, zone: zt });
            }
        }
    }

    /// The first node in `nid`'s fallback zonelist with a zone usable by
    /// GFP_KERNEL (local_memory_node).
    fn local_memory_node(&self, nid: usize) -> usize {
        self.nodes
            .get(nid)
            .and_then(|p| p.as_deref())
            .and_then(|p| p.node_zonelists[ZONELIST_FALLBACK].zones().iter().find(|z| z.zone <= ZoneType::Normal))
            .map_or_else(|| self.nodes.iter().position(|n| n.is_some()).unwrap_or(0), |z| z.nid as usize)
    }

    /// Managed pages above the high watermark in the zones up to `highest`
    /// of the boot CPU's zonelist (nr_free_zone_pages). Before any memory
    /// is managed, present pages stand in, as Linux's estimate does.
    fn nr_free_zone_pages(&self, highest: ZoneType, estimate: bool) -> u64 {
        let Some(pgdat) = self.node(self.numa_mem[0] as usize) else {
            return 0;
        };
        let mut sum = 0;
        for zref in pgdat.node_zonelists[ZONELIST_FALLBACK].zones().iter().filter(|z| z.zone <= highest) {
            let Some(zone) = self.zone(*zref) else { continue };
            let managed =
                if estimate && zone.managed_pages() == 0 { zone.present_pages() } else { zone.managed_pages() };
            sum += managed.saturating_sub(zone.high_wmark_pages());
        }
        sum
    }

    /// Give `[start, end)` to the buddy allocator (memblock_free_all's
    /// __free_pages_memory and __free_pages_core): in the largest naturally
    /// aligned blocks up to MAX_PAGE_ORDER, split at zone boundaries, PG_reserved
    /// cleared, counted in managed_pages. Pages outside every zone, without
    /// descriptors, or not reserved (already freed) are skipped. Returns the
    /// pages freed.
    pub fn free_bootmem_range(&self, start: Pfn, end: Pfn) -> u64 {
        if !self.memmap_ready {
            (self.log)(format_args!("free_bootmem_range: memmap_init has not run, range ignored"));
            return 0;
        }
        let mut freed = 0;
        for pgdat in self.nodes.iter().flatten() {
            for zone in pgdat.node_zones.iter() {
                let s = start.0.max(zone.zone_start_pfn());
                let e = end.0.min(zone.zone_end_pfn());
                if s < e {
                    freed += self.free_pages_memory(zone, s, e);
                }
            }
        }
        freed
    }

    /// __free_pages_memory over one zone's part of a range.
    fn free_pages_memory(&self, zone: &Zone, start: u64, end: u64) -> u64 {
        let mut freed = 0;
        let mut pfn = start;
        while pfn < end {
            let Some(v) = self.map.valid(pfn) else {
                // No descriptors: skip to the next section.
                pfn = (pfn | (crate::page::PAGES_PER_SECTION - 1)) + 1;
                continue;
            };
            let mut order = if pfn == 0 { MAX_PAGE_ORDER } else { pfn.trailing_zeros().min(MAX_PAGE_ORDER) };
            while pfn + (1 << order) > end {
                order -= 1;
            }
            freed += self.free_pages_core(zone, v, order);
            pfn += 1 << order;
        }
        freed
    }

    /// __free_pages_core: hand a reserved block to the buddy lists.
    fn free_pages_core(&self, zone: &Zone, v: ValidPfn, order: u32) -> u64 {
        let nr = 1u64 << order;
        let all_reserved = (0..nr).all(|i| self.map.page(v.add(i)).test_flags(PageFlags::RESERVED));
        if !all_reserved {
            if order == 0 {
                (self.log)(format_args!(
                    "free_bootmem_range: pfn {:#x} is not reserved (freed twice?), skipped",
                    v.get()
                ));
                return 0;
            }
            return (0..nr).map(|i| self.free_pages_core(zone, v.add(i), 0)).sum();
        }
        for i in 0..nr {
            let page = self.map.page(v.add(i));
            page.clear_flags_internal(PageFlags::RESERVED);
            page.set_page_count(0);
        }
        zone.managed_pages.fetch_add(nr, Relaxed);
        // Fresh pages go to the tail and bypass the pcp lists.
        self.free_pages_ok(0, v, order, Fpi::TO_TAIL);
        nr
    }

    /// Turn a reserved pageblock into CMA memory and free it
    /// (init_cma_reserved_pageblock). `pfn` must start a pageblock of reserved
    /// pages inside one zone.
    pub fn init_cma_reserved_pageblock(&self, pfn: Pfn) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        if !pfn.0.is_multiple_of(PAGEBLOCK_NR_PAGES) || !self.memmap_ready {
            return Err(Error::InvalidArgument);
        }
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::InvalidArgument)?;
        let end = pfn.0 + PAGEBLOCK_NR_PAGES;
        if !zone.spans(pfn.0) || !zone.spans(end - 1) {
            return Err(Error::InvalidArgument);
        }
        if !(0..PAGEBLOCK_NR_PAGES).all(|i| self.map.page(v.add(i)).test_flags(PageFlags::RESERVED)) {
            return Err(Error::Busy);
        }
        for i in 0..PAGEBLOCK_NR_PAGES {
            let page = self.map.page(v.add(i));
            page.clear_flags_internal(PageFlags::RESERVED);
            page.set_page_count(0);
        }
        {
            let zone_locked = zone.lock(&self.map);
            zone_locked.change_pageblock_range(v, 0, MigrateType::Cma);
        }
        zone.managed_pages.fetch_add(PAGEBLOCK_NR_PAGES, Relaxed);
        zone.cma_pages.fetch_add(PAGEBLOCK_NR_PAGES, Relaxed);
        self.free_pages_ok(0, v, crate::zone::PAGEBLOCK_ORDER, Fpi::empty());
        Ok(())
    }

    // ----- watermarks and pcp sizes --------------------------------------

    /// Compute min_free_kbytes, the watermarks and the lowmem reserves
    /// (init_per_zone_wmark_min). Call after the memory has been freed.
    pub fn init_per_zone_wmark_min(&self) {
        self.calculate_min_free_kbytes();
        self.setup_per_zone_wmarks();
        self.setup_per_zone_lowmem_reserve();
    }

    /// min_free_kbytes = int_sqrt(lowmem_kbytes * 16), clamped to
    /// [128, 262144], unless the user set a larger value
    /// (calculate_min_free_kbytes).
    pub fn calculate_min_free_kbytes(&self) {
        let lowmem_kbytes = self.nr_free_zone_pages(ZoneType::Normal, false) * (PAGE_SIZE >> 10);
        let new = int_sqrt(lowmem_kbytes * 16);
        let user = self.user_min_free_kbytes.load(Relaxed);
        if new > user {
            self.min_free_kbytes.store(new.clamp(MIN_FREE_KBYTES_RANGE.0, MIN_FREE_KBYTES_RANGE.1), Relaxed);
        } else {
            (self.log)(format_args!(
                "min_free_kbytes is not updated to {new} because user defined value {user} is preferred"
            ));
        }
    }

    /// The current min_free_kbytes.
    #[inline]
    pub fn min_free_kbytes(&self) -> u64 {
        self.min_free_kbytes.load(Relaxed)
    }

    /// Set min_free_kbytes as the vm.min_free_kbytes sysctl does, and
    /// recompute the watermarks.
    pub fn set_min_free_kbytes(&self, kbytes: u64) {
        self.min_free_kbytes.store(kbytes, Relaxed);
        self.user_min_free_kbytes.store(kbytes, Relaxed);
        self.setup_per_zone_wmarks();
    }

    /// Set vm.watermark_scale_factor (1..=3000) and recompute the watermarks.
    pub fn set_watermark_scale_factor(&self, factor: u64) -> Result<(), Error> {
        if !(1..=3000).contains(&factor) {
            return Err(Error::InvalidArgument);
        }
        self.watermark_scale_factor.store(factor, Relaxed);
        self.setup_per_zone_wmarks();
        Ok(())
    }

    /// Set every zone's watermarks from min_free_kbytes (__setup_per_zone_wmarks):
    ///
    /// ```text
    ///   share = (min_free_kbytes / 4) * managed / lowmem_managed   (lowmem: all but Movable)
    ///   min   = share, or for Movable clamp(managed / 1024, 32, 128)
    ///   step  = max(share / 4, managed * watermark_scale_factor / 10000)
    ///   low   = min + step;   high = low + step
    /// ```
    pub fn setup_per_zone_wmarks(&self) {
        let _guard = self.setup_lock.lock();
        let pages_min = self.min_free_kbytes() >> (PAGE_SHIFT - 10);
        let scale = self.watermark_scale_factor.load(Relaxed);
        let lowmem_pages: u64 =
            self.all_zones().filter(|z| z.zone_type() != ZoneType::Movable).map(|z| z.managed_pages()).sum();
        for zone in self.all_zones() {
            let managed = zone.managed_pages();
            let share =
                if lowmem_pages == 0 { 0 } else { (pages_min as u128 * managed as u128 / lowmem_pages as u128) as u64 };
            let min = if zone.zone_type() == ZoneType::Movable {
                (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128)
            } else {
                share
            };
            let step = (share >> 2).max(mult_frac(managed, scale, 10_000));
            zone.watermark_boost.store(0, Relaxed);
            zone.watermark[0].store(min, Relaxed);
            zone.watermark[1].store(min + step, Relaxed);
            zone.watermark[2].store(min + 2 * step, Relaxed);
        }
        self.calculate_totalreserve_pages();
    }

    /// Set each zone's reserve against allocations that could have used a
    /// higher zone (setup_per_zone_lowmem_reserve): for zone `i` and each
    /// higher zone `j`, `lowmem_reserve[j]` is the managed pages of zones
    /// `i+1..=j` divided by the ratio of zone `i` (256, 256, 32, 0), or 0 if
    /// the ratio is 0 or zone `i` manages nothing.
    pub fn setup_per_zone_lowmem_reserve(&self) {
        let _guard = self.setup_lock.lock();
        for pgdat in self.nodes.iter().flatten() {
            for (i, &ratio) in LOWMEM_RESERVE_RATIO.iter().enumerate().take(MAX_NR_ZONES - 1) {
                let zone = &pgdat.node_zones[i];
                let clear = ratio == 0 || zone.managed_pages() == 0;
                let mut managed = 0;
                for j in i + 1..MAX_NR_ZONES {
                    managed += pgdat.node_zones[j].managed_pages();
                    zone.lowmem_reserve[j].store(if clear { 0 } else { managed / ratio }, Relaxed);
                }
            }
        }
        self.calculate_totalreserve_pages();
    }

    /// totalreserve_pages: per zone, its largest lowmem reserve plus its high
    /// watermark, at most its managed pages (calculate_totalreserve_pages).
    fn calculate_totalreserve_pages(&self) {
        let mut total = 0;
        for pgdat in self.nodes.iter().flatten() {
            let mut node_total = 0;
            for (i, zone) in pgdat.node_zones.iter().enumerate() {
                let max = (i..MAX_NR_ZONES).map(|j| zone.lowmem_reserve[j].load(Relaxed)).max().unwrap_or(0);
                node_total += (max + zone.high_wmark_pages()).min(zone.managed_pages());
            }
            pgdat.totalreserve_pages.store(node_total, Relaxed);
            total += node_total;
        }
        self.totalreserve_pages.store(total, Relaxed);
    }

    /// Size every zone's pcp lists (zone_pcp_update): batch from
    /// zone_batchsize (at least 1), high from zone_highsize over the CPUs of
    /// the zone's node. Call after the watermarks are set.
    pub fn setup_pcp(&self) {
        let _guard = self.setup_lock.lock();
        for zone in self.all_zones() {
            let batch = zone_batchsize(zone.managed_pages()).max(1);
            let node_cpus = self.cpu_to_node[..self.nr_cpus].iter().filter(|&&n| n == zone.node()).count();
            let split = if node_cpus == 0 { self.nr_cpus } else { node_cpus };
            let high = zone_highsize(zone.low_wmark_pages(), batch, split);
            zone.set_pageset_high_and_batch(high, batch);
        }
    }

    /// Log Linux's "mem auto-init" line (report_meminit).
    pub fn report_meminit(&self) {
        let on = |f| if self.flags.contains(f) { "on" } else { "off" };
        (self.log)(format_args!(
            "mem auto-init: stack:off, heap alloc:{}, heap free:{}",
            on(AllocatorFlags::INIT_ON_ALLOC),
            on(AllocatorFlags::INIT_ON_FREE)
        ));
    }

    // ----- lookups ------------------------------------------------------

    /// The memmap.
    #[inline]
    pub fn memmap(&self) -> &MemMap {
        &self.map
    }

    /// Node `nid`, if it exists (NODE_DATA).
    pub fn node_data(&self, nid: NodeId) -> Option<&PgData> {
        if !nid.is_valid() {
            return None;
        }
        self.node(nid.0 as usize)
    }

    #[inline]
    fn node(&self, nid: usize) -> Option<&PgData> {
        self.nodes.get(nid)?.as_deref()
    }

    #[inline]
    fn zone(&self, zref: ZoneRef) -> Option<&Zone> {
        Some(&self.node(zref.nid as usize)?.node_zones[zref.zone.idx()])
    }

    /// Every node that exists, in id order.
    pub fn online_nodes(&self) -> impl Iterator<Item = &PgData> {
        self.nodes.iter().flatten().map(|p| &**p)
    }

    /// Every zone of every node.
    pub fn all_zones(&self) -> impl Iterator<Item = &Zone> {
        self.online_nodes().flat_map(|p| p.node_zones.iter())
    }

    /// The zone a page belongs to (page_zone).
    #[inline]
    pub fn page_zone(&self, page: &Page) -> Option<&Zone> {
        Some(&self.node(page.node().0 as usize)?.node_zones[page.zone_type().idx()])
    }

    /// Number of online CPUs.
    #[inline]
    pub fn nr_cpus(&self) -> usize {
        self.nr_cpus
    }

    /// The node a CPU belongs to (cpu_to_node).
    #[inline]
    pub fn cpu_to_node(&self, cpu: usize) -> NodeId {
        self.cpu_to_node[cpu.min(NR_CPUS - 1)]
    }

    /// The nearest node with memory for a CPU (numa_mem_id).
    #[inline]
    pub fn numa_mem_id(&self, cpu: usize) -> NodeId {
        NodeId(self.numa_mem[cpu.min(NR_CPUS - 1)] as i32)
    }

    /// Whether mobility grouping is off (too little memory for it).
    #[inline]
    pub fn page_group_by_mobility_disabled(&self) -> bool {
        self.page_group_by_mobility_disabled
    }

    /// Pages leaked as bad (found in a bad state at free or allocation).
    #[inline]
    pub fn nr_bad_pages(&self) -> u64 {
        self.nr_bad_pages.load(Relaxed)
    }

    /// Bad-page reports made (including suppressed ones and double frees).
    #[inline]
    pub fn nr_bad_page_reports(&self) -> u64 {
        self.nr_bad_page_reports.load(Relaxed)
    }

    /// Pages held back for watermarks and lowmem reserves (totalreserve_pages).
    #[inline]
    pub fn totalreserve_pages(&self) -> u64 {
        self.totalreserve_pages.load(Relaxed)
    }

    /// Pages managed by the allocator (totalram_pages).
    #[inline]
    pub fn totalram_pages(&self) -> u64 {
        self.all_zones().map(Zone::managed_pages).sum()
    }

    /// NR_FREE_PAGES over all zones.
    #[inline]
    pub fn nr_free_pages(&self) -> u64 {
        self.all_zones().map(Zone::free_pages).sum()
    }

    /// The order of the compound page headed at `pfn` (0 if not a head).
    pub fn compound_order(&self, pfn: Pfn) -> u32 {
        match self.map.valid(pfn.0) {
            Some(v) if self.map.page(v).is_head() => {
                self.map.page(v.add(1)).private().min(MAX_PAGE_ORDER as u64) as u32
            }
            _ => 0,
        }
    }

    // ----- allocation ---------------------------------------------------

    /// Allocate `2^order` pages near `cpu`'s node (alloc_pages). The CPU is
    /// the caller's, with interrupts masked.
    #[inline]
    pub fn alloc_pages(&self, cpu: usize, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        let nid = self.numa_mem[cpu.min(NR_CPUS - 1)] as usize;
        self.alloc_pages_nid(cpu, gfp, order, nid)
    }

    /// Allocate `2^order` pages, preferring node `nid` ([`NUMA_NO_NODE`]:
    /// the CPU's), only from it with `__GFP_THISNODE` (alloc_pages_node).
    pub fn alloc_pages_node(&self, cpu: usize, nid: NodeId, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        let nid = if nid == NUMA_NO_NODE {
            self.numa_mem[cpu.min(NR_CPUS - 1)] as usize
        } else if nid.is_valid() && self.nodes[nid.0 as usize].is_some() {
            nid.0 as usize
        } else {
            return Err(Error::InvalidArgument);
        };
        self.alloc_pages_nid(cpu, gfp, order, nid)
    }

    /// `__get_free_pages`: allocate without HIGHMEM; the kernel maps the PFN.
    pub fn get_free_pages(&self, cpu: usize, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        self.alloc_pages(cpu, gfp.difference(Gfp::HIGHMEM), order)
    }

    /// `get_zeroed_page`: one zeroed page.
    pub fn get_zeroed_page(&self, cpu: usize, gfp: Gfp) -> Result<Pfn, Error> {
        self.get_free_pages(cpu, gfp | Gfp::ZERO, 0)
    }

    /// `alloc_pages_exact`: the smallest block holding `size_bytes`, with the
    /// pages past `size_bytes` freed again (make_alloc_exact). The pages kept
    /// each hold one reference; free them with [`Self::free_pages_exact`].
    pub fn alloc_pages_exact(&self, cpu: usize, size_bytes: u64, gfp: Gfp) -> Result<Pfn, Error> {
        if size_bytes == 0 {
            return Err(Error::InvalidArgument);
        }
        let order = get_order(size_bytes);
        let pfn = self.get_free_pages(cpu, gfp.difference(Gfp::COMP), order)?;
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let nr = size_bytes.div_ceil(PAGE_SIZE);
        for i in 1..nr {
            self.map.page(v.add(i)).set_page_count(1);
        }
        for i in nr..1 << order {
            self.free_pages_ok(cpu, v.add(i), 0, Fpi::TO_TAIL);
        }
        Ok(pfn)
    }

    /// `free_pages_exact`: free what [`Self::alloc_pages_exact`] returned.
    pub fn free_pages_exact(&self, cpu: usize, pfn: Pfn, size_bytes: u64) {
        for i in 0..size_bytes.div_ceil(PAGE_SIZE) {
            self.free_pages(cpu, Pfn(pfn.0 + i), 0);
        }
    }

    /// `split_page`: turn a non-compound block of `order` into `2^order`
    /// pages with one reference each.
    pub fn split_page(&self, pfn: Pfn, order: u32) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let page = self.map.page(v);
        if order > MAX_PAGE_ORDER || page.is_head() || page.page_ref_count() == 0 || !pfn.0.is_multiple_of(1 << order) {
            return Err(Error::InvalidArgument);
        }
        for i in 1..1u64 << order {
            self.map.page(v.add(i)).set_page_count(1);
        }
        Ok(())
    }

    /// __alloc_pages. The fast path is the preferred zone's pcp list: the
    /// first zone the zonelist walk would try, so taking it directly changes
    /// nothing; anything else goes to the full walk.
    #[inline]
    fn alloc_pages_nid(&self, cpu: usize, gfp: Gfp, order: u32, nid: usize) -> Result<Pfn, Error> {
        if order > MAX_PAGE_ORDER {
            return self.alloc_order_too_large(cpu, gfp, order);
        }
        let Some(pgdat) = self.node(nid) else {
            return Err(Error::InvalidArgument);
        };
        let zonelist = &pgdat.node_zonelists[gfp.contains(Gfp::THISNODE) as usize];
        let highest_zoneidx = gfp_zone(gfp);
        let migratetype =
            if self.page_group_by_mobility_disabled { MigrateType::Unmovable } else { gfp_migratetype(gfp) };
        let alloc_flags = AllocFlags::WMARK_LOW
            | alloc_flags_cma(migratetype)
            | zonelist.fast_flags[highest_zoneidx.idx()]
            | AllocFlags::from_bits_truncate(gfp.bits() & Gfp::KSWAPD_RECLAIM.bits());
        if pcp_allowed_order(order)
            && cpu < NR_CPUS
            && let Some(zref) = zonelist.preferred[highest_zoneidx.idx()]
            && let Some(zone) = self.zone(zref)
            && zone.zone_watermark_fast(order, zone.wmark_pages(Wmark::Low), highest_zoneidx, alloc_flags)
            && let Some(v) = zone.rmqueue_pcplist(&self.map, cpu, order, migratetype, alloc_flags)
            && self.check_new_pages(cpu, v, order)
        {
            self.prep_new_page(v, order, gfp);
            return Ok(Pfn(v.get()));
        }
        self.alloc_pages_zonelist(cpu, gfp, order, zonelist, highest_zoneidx, migratetype, alloc_flags)
    }

    /// The zonelist walk and the slow path, out of line.
    #[allow(clippy::too_many_arguments)]
    #[inline(never)]
    fn alloc_pages_zonelist(
        &self,
        cpu: usize,
        gfp: Gfp,
        order: u32,
        zonelist: &Zonelist,
        highest_zoneidx: ZoneType,
        migratetype: MigrateType,
        alloc_flags: AllocFlags,
    ) -> Result<Pfn, Error> {
        let preferred = zonelist.preferred[highest_zoneidx.idx()];
        let ac = AllocContext { zonelist, preferred, highest_zoneidx, migratetype };
        if let Some(v) = self.get_page_from_freelist(cpu, gfp, order, alloc_flags, &ac) {
            return Ok(Pfn(v.get()));
        }
        self.alloc_pages_slowpath(cpu, gfp, order, &ac)
    }

    #[cold]
    #[inline(never)]
    fn alloc_order_too_large(&self, cpu: usize, gfp: Gfp, order: u32) -> Result<Pfn, Error> {
        if !gfp.contains(Gfp::NOWARN) {
            (self.log)(format_args!(
                "WARNING: {}: page allocation of order {order} > MAX_PAGE_ORDER ({MAX_PAGE_ORDER}), {}",
                Comm(self.comm, cpu),
                GfpMode(gfp)
            ));
        }
        Err(Error::InvalidArgument)
    }

    /// ALLOC_NOFRAGMENT when the preferred zone is Normal and, on NUMA, its
    /// node has a DMA32 zone to fall back to instead (alloc_flags_nofragment;
    /// ALLOC_KSWAPD is added from the gfp by the caller).
    fn alloc_flags_nofragment(&self, preferred: Option<ZoneRef>) -> AllocFlags {
        let Some(preferred) = preferred else { return AllocFlags::empty() };
        if preferred.zone != ZoneType::Normal {
            return AllocFlags::empty();
        }
        if self.nr_online_nodes > 1
            && !self.node(preferred.nid as usize).is_some_and(|p| p.zone(ZoneType::Dma32).is_populated())
        {
            return AllocFlags::empty();
        }
        AllocFlags::NOFRAGMENT
    }

    /// Walk the zonelist for a zone that passes the watermark and has the
    /// pages (get_page_from_freelist).
    #[inline]
    fn get_page_from_freelist(
        &self,
        cpu: usize,
        gfp: Gfp,
        order: u32,
        mut alloc_flags: AllocFlags,
        ac: &AllocContext<'_>,
    ) -> Option<ValidPfn> {
        'retry: loop {
            let no_fallback = alloc_flags.contains(AllocFlags::NOFRAGMENT);
            for &zref in ac.zonelist.zones() {
                if zref.zone > ac.highest_zoneidx {
                    continue;
                }
                let Some(zone) = self.zone(zref) else { continue };
                if no_fallback && self.nr_online_nodes > 1 && ac.preferred.is_some_and(|p| p.nid != zref.nid) {
                    // Locality matters more than fragmentation: retry here
                    // allowing fragmenting fallbacks before going remote.
                    alloc_flags.remove(AllocFlags::NOFRAGMENT);
                    continue 'retry;
                }
                if !alloc_flags.contains(AllocFlags::NO_WATERMARKS) {
                    let mark = zone.wmark_pages(alloc_flags.wmark());
                    if !zone.zone_watermark_fast(order, mark, ac.highest_zoneidx, alloc_flags) {
                        continue;
                    }
                }
                if let Some(v) = self.rmqueue(cpu, zone, order, alloc_flags, ac.migratetype) {
                    self.prep_new_page(v, order, gfp);
                    if alloc_flags.contains(AllocFlags::HIGHATOMIC) {
                        zone.reserve_highatomic_pageblock(&self.map, v, order);
                    }
                    return Some(v);
                }
            }
            if no_fallback {
                alloc_flags.remove(AllocFlags::NOFRAGMENT);
                continue 'retry;
            }
            return None;
        }
    }

    /// Take a block from a zone, through the pcp lists when the order allows
    /// (rmqueue), skipping (and leaking) blocks that fail check_new_pages.
    #[inline]
    fn rmqueue(
        &self,
        cpu: usize,
        zone: &Zone,
        order: u32,
        alloc_flags: AllocFlags,
        mt: MigrateType,
    ) -> Option<ValidPfn> {
        loop {
            let v = if pcp_allowed_order(order) && cpu < NR_CPUS {
                match zone.rmqueue_pcplist(&self.map, cpu, order, mt, alloc_flags) {
                    Some(v) => v,
                    None => zone.rmqueue_buddy(&self.map, order, mt, alloc_flags)?,
                }
            } else {
                zone.rmqueue_buddy(&self.map, order, mt, alloc_flags)?
            };
            if self.check_new_pages(cpu, v, order) {
                return Some(v);
            }
        }
    }

    /// Whether every page of a block about to be handed out is as a free
    /// page should be (check_new_pages); if not, report and count it.
    #[inline(always)]
    fn check_new_pages(&self, cpu: usize, v: ValidPfn, order: u32) -> bool {
        if !self.map.page(v).expected_state(PageFlags::CHECK_AT_PREP) {
            return self.check_new_pages_bad(cpu, v, 0, order);
        }
        if order != 0 {
            return self.check_new_tail_pages(cpu, v, order);
        }
        true
    }

    /// The tail pages of check_new_pages, out of line.
    #[inline(never)]
    fn check_new_tail_pages(&self, cpu: usize, v: ValidPfn, order: u32) -> bool {
        for i in 1..1u64 << order {
            if !self.map.page(v.add(i)).expected_state(PageFlags::CHECK_AT_PREP) {
                return self.check_new_pages_bad(cpu, v, i, order);
            }
        }
        true
    }

    /// Page `i` of the block at `v` is bad: report it and leak the block.
    #[cold]
    #[inline(never)]
    fn check_new_pages_bad(&self, cpu: usize, v: ValidPfn, i: u64, order: u32) -> bool {
        self.check_new_page_bad(cpu, v.add(i));
        self.nr_bad_pages.fetch_add(1 << order, Relaxed);
        false
    }

    #[cold]
    #[inline(never)]
    fn check_new_page_bad(&self, cpu: usize, v: ValidPfn) {
        let page = self.map.page(v);
        if page.test_flags(PageFlags::HWPOISON) {
            // Hardware-poisoned pages are dropped without a report.
            page.clear_flags_internal(PageFlags::BUDDY);
            return;
        }
        self.bad_page(cpu, v, page.bad_reason(PageFlags::CHECK_AT_PREP, true));
    }

    /// Make a block ready for its new owner (prep_new_page and post_alloc_hook).
    #[inline]
    fn prep_new_page(&self, v: ValidPfn, order: u32, gfp: Gfp) {
        let page = self.map.page(v);
        page.set_private_internal(0);
        page.set_page_count(1);
        if !self.flags.contains(AllocatorFlags::INIT_ON_FREE)
            && (self.flags.contains(AllocatorFlags::INIT_ON_ALLOC) || gfp.contains(Gfp::ZERO))
        {
            (self.zero)(Pfn(v.get()), 1 << order);
        }
        if order != 0 && gfp.contains(Gfp::COMP) {
            self.prep_compound_page(v, order);
        }
    }

    /// Head flag, tails pointing at the head, order in the first tail's
    /// `private` (prep_compound_page).
    fn prep_compound_page(&self, v: ValidPfn, order: u32) {
        self.map.page(v).set_flags_internal(PageFlags::HEAD);
        for i in 1..1u64 << order {
            let tail = self.map.page(v.add(i));
            tail.set_mapping(TAIL_MAPPING);
            tail.set_compound_head(v.get());
            tail.set_private_internal(0);
        }
        self.map.page(v.add(1)).set_private_internal(order as u64);
    }

    /// gfp_to_alloc_flags: what the slow path lets this caller dig into.
    fn gfp_to_alloc_flags(&self, gfp: Gfp, order: u32, ac: &AllocContext<'_>) -> AllocFlags {
        let mut flags = AllocFlags::WMARK_MIN | AllocFlags::CPUSET;
        // __GFP_HIGH is ALLOC_MIN_RESERVE and __GFP_KSWAPD_RECLAIM is ALLOC_KSWAPD.
        flags |= AllocFlags::from_bits_truncate(gfp.bits() & (Gfp::HIGH | Gfp::KSWAPD_RECLAIM).bits());
        if !gfp.contains(Gfp::DIRECT_RECLAIM) {
            if !gfp.contains(Gfp::NOMEMALLOC) {
                flags |= AllocFlags::NON_BLOCK;
                if order > 0 {
                    flags |= AllocFlags::HIGHATOMIC;
                }
            }
            if flags.contains(AllocFlags::MIN_RESERVE) {
                flags.remove(AllocFlags::CPUSET);
            }
        }
        flags | alloc_flags_cma(ac.migratetype)
    }

    /// What is left of __alloc_pages_slowpath without reclaim (see the
    /// module documentation).
    #[cold]
    #[inline(never)]
    fn alloc_pages_slowpath(&self, cpu: usize, gfp: Gfp, order: u32, ac: &AllocContext<'_>) -> Result<Pfn, Error> {
        if ac.preferred.is_some() {
            let alloc_flags = self.gfp_to_alloc_flags(gfp, order, ac);
            let attempt = |flags: AllocFlags| self.get_page_from_freelist(cpu, gfp, order, flags, ac);
            if let Some(v) = attempt(alloc_flags) {
                return Ok(Pfn(v.get()));
            }
            // __GFP_MEMALLOC: all reserves (__gfp_pfmemalloc_flags).
            if gfp.contains(Gfp::MEMALLOC) && !gfp.contains(Gfp::NOMEMALLOC) {
                let flags =
                    AllocFlags::NO_WATERMARKS | alloc_flags_cma(ac.migratetype) | (alloc_flags & AllocFlags::KSWAPD);
                if let Some(v) = attempt(flags) {
                    return Ok(Pfn(v.get()));
                }
            }
            // What a failed direct reclaim is followed by.
            self.unreserve_highatomic_pageblock(ac, false);
            self.drain_all_pages();
            if let Some(v) = attempt(alloc_flags) {
                return Ok(Pfn(v.get()));
            }
            let costly = order > PAGE_ALLOC_COSTLY_ORDER;
            let give_up = gfp.contains(Gfp::NORETRY) || (costly && !gfp.contains(Gfp::RETRY_MAYFAIL));
            if !give_up
                && self.unreserve_highatomic_pageblock(ac, true)
                && let Some(v) = attempt(alloc_flags)
            {
                return Ok(Pfn(v.get()));
            }
            if gfp.contains(Gfp::NOFAIL) {
                let nofail_flags = AllocFlags::MIN_RESERVE | alloc_flags_cma(ac.migratetype);
                for _ in 0..NOFAIL_RETRIES {
                    self.drain_all_pages();
                    self.unreserve_highatomic_pageblock(ac, true);
                    if let Some(v) = attempt(nofail_flags) {
                        return Ok(Pfn(v.get()));
                    }
                }
                (self.log)(format_args!(
                    "{}: __GFP_NOFAIL allocation of order:{order} failed after {NOFAIL_RETRIES} retries: \
                     NOFAIL cannot be honoured without reclaim",
                    Comm(self.comm, cpu)
                ));
            }
        }
        self.warn_alloc(cpu, gfp, order);
        Err(Error::NoMemory)
    }

    /// Give back a HIGHATOMIC pageblock in the zones this allocation may
    /// use (unreserve_highatomic_pageblock).
    fn unreserve_highatomic_pageblock(&self, ac: &AllocContext<'_>, force: bool) -> bool {
        for &zref in ac.zonelist.zones().iter().filter(|z| z.zone <= ac.highest_zoneidx) {
            let Some(zone) = self.zone(zref) else { continue };
            if zone.unreserve_highatomic(&self.map, force, ac.migratetype) {
                return true;
            }
        }
        false
    }

    /// Report an allocation failure (warn_alloc).
    fn warn_alloc(&self, cpu: usize, gfp: Gfp, order: u32) {
        if gfp.contains(Gfp::NOWARN) {
            return;
        }
        // No complaint about GFP_DMA when there is no DMA memory at all.
        if gfp.contains(Gfp::DMA) && !self.online_nodes().any(|p| p.zone(ZoneType::Dma).is_managed()) {
            return;
        }
        (self.log)(format_args!(
            "{}: page allocation failure: order:{order}, {}, nodemask=(null)",
            Comm(self.comm, cpu),
            GfpMode(gfp)
        ));
        self.show_mem_log(cpu, gfp_zone(gfp));
    }

    // ----- freeing ------------------------------------------------------

    /// Drop a reference to a block of `2^order` pages and free it when it was
    /// the last (__free_pages). Bad input (no descriptor, misaligned, order
    /// too large) is reported and ignored.
    #[inline]
    pub fn free_pages(&self, cpu: usize, pfn: Pfn, order: u32) {
        let Some(v) = self.map.valid(pfn.0) else {
            return self.free_pages_invalid(pfn, order);
        };
        if order > MAX_PAGE_ORDER || pfn.0 & ((1 << order) - 1) != 0 {
            return self.free_pages_invalid(pfn, order);
        }
        let page = self.map.page(v);
        let head = page.is_head();
        match page.put_page_testzero() {
            PutResult::Zero => self.free_frozen_pages(cpu, v, order),
            PutResult::Held => {
                if !head {
                    // Someone else holds the first page: free the rest.
                    let mut o = order;
                    while o > 0 {
                        o -= 1;
                        self.free_frozen_pages(cpu, v.add(1 << o), o);
                    }
                }
            }
            PutResult::Underflow => self.free_pages_underflow(cpu, v),
        }
    }

    /// `free_page`: one page.
    pub fn free_page(&self, cpu: usize, pfn: Pfn) {
        self.free_pages(cpu, pfn, 0);
    }

    /// `put_page`: drop a reference to a page or, for a compound page's head
    /// or tail, to the whole compound page.
    pub fn put_page(&self, cpu: usize, pfn: Pfn) {
        let head = match self.map.pfn_to_page(pfn).and_then(Page::compound_head) {
            Some(head) => head,
            None => pfn,
        };
        self.free_pages(cpu, head, self.compound_order(head));
    }

    #[cold]
    #[inline(never)]
    fn free_pages_invalid(&self, pfn: Pfn, order: u32) {
        (self.log)(format_args!("WARNING: free_pages: invalid pfn {:#x} or order {order}, ignored", pfn.0));
    }

    #[cold]
    #[inline(never)]
    fn free_pages_underflow(&self, cpu: usize, v: ValidPfn) {
        self.bad_page(cpu, v, "VM_BUG_ON_PAGE(page_ref_count(page) == 0)");
    }

    /// Free a block whose references are gone (free_frozen_pages /
    /// free_unref_page): to the pcp list for small orders.
    #[inline]
    fn free_frozen_pages(&self, cpu: usize, v: ValidPfn, order: u32) {
        if !pcp_allowed_order(order) || cpu >= NR_CPUS {
            return self.free_pages_ok(cpu, v, order, Fpi::empty());
        }
        if !self.free_pages_prepare(cpu, v, order) {
            return;
        }
        let page = self.map.page(v);
        let Some(zone) = self.page_zone(page) else {
            return self.free_pages_invalid(Pfn(v.get()), order);
        };
        // Only the pcp types have pcp lists: ISOLATE goes straight to the
        // buddy lists, HIGHATOMIC and CMA ride on Movable's list and find
        // their own when drained.
        let mut mt = self.map.get_pageblock_migratetype(v);
        if mt as usize >= MIGRATE_PCPTYPES {
            if mt == MigrateType::Isolate {
                return zone.free_one_page(&self.map, v, order, Fpi::empty());
            }
            mt = MigrateType::Movable;
        }
        zone.free_unref_page_commit(&self.map, cpu, v, mt, order);
    }

    /// Free a block straight to the buddy lists (__free_pages_ok).
    fn free_pages_ok(&self, cpu: usize, v: ValidPfn, order: u32, fpi: Fpi) {
        if !self.free_pages_prepare(cpu, v, order) {
            return;
        }
        match self.page_zone(self.map.page(v)) {
            Some(zone) => zone.free_one_page(&self.map, v, order, fpi),
            None => self.free_pages_invalid(Pfn(v.get()), order),
        }
    }

    /// Check and clean a block being freed (free_pages_prepare). A block
    /// with any bad page is leaked whole.
    #[inline]
    fn free_pages_prepare(&self, cpu: usize, v: ValidPfn, order: u32) -> bool {
        let page = self.map.page(v);
        if order == 0 && page.test_flags(PageFlags::HWPOISON) {
            // Never let a poisoned page reach the free lists.
            return false;
        }
        let mut bad = 0;
        if order != 0 {
            bad += self.free_tail_pages_prepare(cpu, v, order);
        }
        if !page.expected_state(PageFlags::CHECK_AT_FREE) {
            self.free_page_bad(cpu, v);
            bad += 1;
        }
        if bad != 0 {
            self.nr_bad_pages.fetch_add(1 << order, Relaxed);
            return false;
        }
        // Most pages come back with no flags at all: skip the atomic then.
        if page.raw_flags() & PageFlags::CHECK_AT_PREP.bits() != 0 {
            page.clear_flags_internal(PageFlags::CHECK_AT_PREP);
        }
        if self.flags.contains(AllocatorFlags::INIT_ON_FREE) {
            (self.zero)(Pfn(v.get()), 1 << order);
        }
        true
    }

    /// The tail half of free_pages_prepare.
    #[cold]
    #[inline(never)]
    fn free_tail_pages_prepare(&self, cpu: usize, v: ValidPfn, order: u32) -> u32 {
        let head = self.map.page(v);
        let compound = head.is_head();
        let mut bad = 0;
        if compound && self.compound_order(Pfn(v.get())) != order {
            self.bad_page(cpu, v, "VM_BUG_ON_PAGE(compound && compound_order(page) != order)");
            bad += 1;
        }
        for i in 1..1u64 << order {
            let tv = v.add(i);
            let tail = self.map.page(tv);
            if compound {
                bad += self.free_tail_page_prepare(cpu, v, tv);
            }
            if !tail.expected_state(PageFlags::CHECK_AT_FREE) {
                self.free_page_bad(cpu, tv);
                bad += 1;
                continue;
            }
            tail.clear_flags_internal(PageFlags::CHECK_AT_PREP);
        }
        bad
    }

    /// Check and clear a compound tail (free_tail_page_prepare).
    fn free_tail_page_prepare(&self, cpu: usize, head: ValidPfn, tv: ValidPfn) -> u32 {
        let tail = self.map.page(tv);
        let reason = if tail.mapping() != TAIL_MAPPING {
            Some("corrupted mapping in tail page")
        } else if !tail.is_tail() {
            Some("PageTail not set")
        } else if tail.compound_head() != Some(Pfn(head.get())) {
            Some("compound_head not consistent")
        } else {
            None
        };
        if let Some(reason) = reason {
            self.bad_page(cpu, tv, reason);
        }
        tail.set_mapping(0);
        tail.clear_compound_head();
        tail.set_private_internal(0);
        reason.is_some() as u32
    }

    #[cold]
    #[inline(never)]
    fn free_page_bad(&self, cpu: usize, v: ValidPfn) {
        let reason = self.map.page(v).bad_reason(PageFlags::CHECK_AT_FREE, false);
        self.bad_page(cpu, v, reason);
    }

    /// Report a page in a bad state (bad_page and dump_page).
    #[cold]
    #[inline(never)]
    fn bad_page(&self, cpu: usize, v: ValidPfn, reason: &str) {
        let page = self.map.page(v);
        let n = self.nr_bad_page_reports.fetch_add(1, Relaxed);
        if n < BAD_PAGE_REPORTS {
            let log = self.log;
            log(format_args!("BUG: Bad page state in process {}  pfn:{:05x}", Comm(self.comm, cpu), v.get()));
            log(format_args!(
                "page: refcount:{} mapcount:{} mapping:{:016x} index:{:#x} pfn:{:#x}",
                page.page_ref_count(),
                page.page_mapcount(),
                page.mapping(),
                page.index(),
                v.get()
            ));
            log(format_args!("flags: {}", PageFlagsDisplay(page.raw_flags())));
            log(format_args!("page dumped because: {reason}"));
            if n + 1 == BAD_PAGE_REPORTS {
                log(format_args!("BUG: Bad page state: further reports suppressed"));
            }
        }
        // Leave the bad fields for debugging, except PG_buddy.
        page.clear_flags_internal(PageFlags::BUDDY);
    }

    // ----- draining and isolation ----------------------------------------

    /// Give back every CPU's pcp pages in every zone (drain_all_pages).
    pub fn drain_all_pages(&self) {
        for zone in self.all_zones() {
            for cpu in 0..NR_CPUS {
                zone.drain_pages_zone(&self.map, cpu);
            }
        }
    }

    /// Give back `cpu`'s pcp pages in every zone (drain_local_pages).
    pub fn drain_local_pages(&self, cpu: usize) {
        for zone in self.all_zones() {
            zone.drain_pages_zone(&self.map, cpu);
        }
    }

    /// Give back at most a batch of `cpu`'s pcp pages in every zone
    /// (drain_zone_pages, as vmstat's refresh does).
    pub fn drain_zone_pages(&self, cpu: usize) {
        for zone in self.all_zones() {
            zone.drain_zone_pages(&self.map, cpu);
        }
    }

    /// Make the pageblock holding `pfn` ISOLATE: its free pages leave the
    /// allocatable lists and pages freed into it stay out (for CMA and
    /// memory offlining, later). Drains the pcp lists.
    pub fn isolate_pageblock(&self, pfn: Pfn) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::InvalidArgument)?;
        zone.set_pageblock_isolate(&self.map, v)?;
        self.drain_all_pages();
        Ok(())
    }

    /// Undo [`Self::isolate_pageblock`], giving the pageblock type `mt`.
    pub fn unisolate_pageblock(&self, pfn: Pfn, mt: MigrateType) -> Result<(), Error> {
        let v = self.map.valid(pfn.0).ok_or(Error::InvalidArgument)?;
        let zone = self.page_zone(self.map.page(v)).ok_or(Error::InvalidArgument)?;
        zone.unset_pageblock_isolate(&self.map, v, mt)
    }

    /// The migratetype of the pageblock holding `pfn`.
    #[inline]
    pub fn pageblock_migratetype(&self, pfn: Pfn) -> Option<MigrateType> {
        self.map.valid(pfn.0).map(|v| self.map.get_pageblock_migratetype(v))
    }

    #[inline]
    pub(crate) fn log_hook(&self) -> LogHook {
        self.log
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Building allocators over a Vec-backed memmap, and checking them.

    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    thread_local! {
        pub static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
        pub static ZEROED: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
    }

    pub fn log_to_vec(args: fmt::Arguments<'_>) {
        LOG.with(|l| l.borrow_mut().push(args.to_string()));
    }

    pub fn take_log() -> Vec<String> {
        LOG.with(|l| core::mem::take(&mut *l.borrow_mut()))
    }

    pub fn zero_to_vec(pfn: Pfn, nr: u64) {
        ZEROED.with(|z| z.borrow_mut().push((pfn.0, nr)));
    }

    pub fn take_zeroed() -> Vec<(u64, u64)> {
        ZEROED.with(|z| core::mem::take(&mut *z.borrow_mut()))
    }

    /// One node: its id and zone spans (start, end) in zone order.
    pub struct NodeSpec {
        pub nid: i32,
        pub zones: [(u64, u64); MAX_NR_ZONES],
    }

    pub fn storage() -> &'static mut MaybeUninit<PgData> {
        Box::leak(Box::new(MaybeUninit::uninit()))
    }

    /// An allocator with `nodes`, present memory `present`, `cpus[cpu]` = node,
    /// memory `free` handed over; watermarks and pcp set up unless `raw`.
    pub fn build_with(
        nodes: &[NodeSpec],
        present: &[(u64, u64)],
        free: &[(u64, u64)],
        cpus: &[i32],
        flags: AllocatorFlags,
        raw: bool,
    ) -> PageAllocator {
        let map = MemMap::new_arena(present);
        let mut pa = PageAllocator::new(map, zero_to_vec);
        pa.set_log(log_to_vec);
        pa.set_flags(flags);
        let cpu_nodes: Vec<NodeId> = cpus.iter().map(|&n| NodeId(n)).collect();
        pa.set_cpus(&cpu_nodes).unwrap();
        let present_pfns: Vec<(Pfn, Pfn)> = present.iter().map(|&(s, e)| (Pfn(s), Pfn(e))).collect();
        for n in nodes {
            let zones = n.zones.map(|(s, e)| (Pfn(s), Pfn(e)));
            pa.add_node(NodeId(n.nid), storage(), &zones, &present_pfns).unwrap();
        }
        pa.memmap_init();
        pa.build_all_zonelists();
        for &(s, e) in free {
            pa.free_bootmem_range(Pfn(s), Pfn(e));
        }
        if !raw {
            pa.init_per_zone_wmark_min();
            pa.setup_pcp();
        }
        take_log();
        pa
    }

    pub fn build(nodes: &[NodeSpec], present: &[(u64, u64)], cpus: &[i32]) -> PageAllocator {
        build_with(nodes, present, present, cpus, AllocatorFlags::empty(), false)
    }

    /// A free block seen by [`check`].
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct FreeBlock {
        pub pfn: u64,
        pub order: u32,
        pub mt: MigrateType,
        pub nid: i32,
        pub zone: ZoneType,
    }

    /// Walk every free list and pcp list and check every invariant; returns
    /// the buddy blocks and the pcp blocks.
    pub fn check(pa: &PageAllocator) -> (Vec<FreeBlock>, Vec<(u64, u32)>) {
        let map = &pa.map;
        let mut blocks = Vec::new();
        let mut pcp_blocks = Vec::new();
        for pgdat in pa.online_nodes() {
            for zone in pgdat.zones() {
                let guard = zone.lock(map);
                let mut nr_free_pages = 0;
                let mut cma = 0;
                let mut highatomic = 0;
                for (o, area) in guard.areas().area.iter().enumerate() {
                    let mut area_blocks = 0;
                    for mt in MigrateType::ALL {
                        let mut n = 0;
                        for v in area.free_list[mt as usize].iter(map) {
                            let pfn = v.get();
                            let page = map.page(v);
                            assert_eq!(pfn % (1 << o), 0, "block {pfn:#x} of order {o} misaligned");
                            assert!(page.test_flags(PageFlags::BUDDY), "{pfn:#x} on a free list without PG_buddy");
                            assert_eq!(page.private(), o as u64, "{pfn:#x} order");
                            assert_eq!((page.node(), page.zone_type()), (zone.node(), zone.zone_type()));
                            assert!(zone.spans(pfn) && zone.spans(pfn + (1 << o) - 1), "{pfn:#x} outside its zone");
                            assert_eq!(page.page_ref_count(), 0, "{pfn:#x} free with references");
                            let blocks_covered = 1u64.max((1 << o) / PAGEBLOCK_NR_PAGES);
                            for b in 0..blocks_covered {
                                let bv = map.valid(pfn + b * PAGEBLOCK_NR_PAGES).unwrap();
                                assert_eq!(
                                    map.get_pageblock_migratetype(bv),
                                    mt,
                                    "{pfn:#x} list type != pageblock type"
                                );
                            }
                            for i in 1..1u64 << o {
                                assert!(
                                    !map.page(v.add(i)).test_flags(PageFlags::BUDDY),
                                    "PG_buddy inside a free block"
                                );
                            }
                            blocks.push(FreeBlock {
                                pfn,
                                order: o as u32,
                                mt,
                                nid: zone.node().0,
                                zone: zone.zone_type(),
                            });
                            n += 1;
                            if mt != MigrateType::Isolate {
                                nr_free_pages += 1 << o;
                            }
                            if mt == MigrateType::Cma {
                                cma += 1 << o;
                            }
                            if mt == MigrateType::HighAtomic {
                                highatomic += 1 << o;
                            }
                        }
                        assert_eq!(zone.nr_free_blocks(o as u32, mt), n, "nr_free_blocks[{o}][{mt:?}]");
                        area_blocks += n;
                    }
                    assert_eq!(area.nr_free, area_blocks, "nr_free[{o}]");
                }
                assert_eq!(zone.free_pages(), nr_free_pages, "NR_FREE_PAGES of {}", zone.name());
                assert_eq!(zone.free_cma_pages(), cma);
                assert_eq!(zone.free_highatomic_pages(), highatomic);
                drop(guard);
                for cpu in 0..NR_CPUS {
                    let stats = zone.pcp_stats(cpu);
                    let list = zone.pcp_blocks(map, cpu);
                    let pages: u64 = list.iter().map(|&(_, o)| 1u64 << o).sum();
                    assert_eq!(stats.count as u64, pages, "pcp count cpu {cpu}");
                    for &(pfn, o) in &list {
                        let page = map.pfn_to_page(Pfn(pfn)).unwrap();
                        assert!(!page.test_flags(PageFlags::BUDDY));
                        assert!(zone.spans(pfn));
                        assert_eq!(pfn % (1 << o), 0);
                    }
                    pcp_blocks.extend(list);
                }
            }
        }
        // No two free blocks overlap, and no two free buddies were left unmerged.
        let mut sorted: Vec<(u64, u64)> = blocks.iter().map(|b| (b.pfn, 1u64 << b.order)).collect();
        sorted.extend(pcp_blocks.iter().map(|&(p, o)| (p, 1u64 << o)));
        sorted.sort();
        for w in sorted.windows(2) {
            assert!(w[0].0 + w[0].1 <= w[1].0, "free blocks overlap: {:#x?} {:#x?}", w[0], w[1]);
        }
        let by_pfn: BTreeMap<u64, FreeBlock> = blocks.iter().map(|b| (b.pfn, *b)).collect();
        for b in &blocks {
            if b.order >= MAX_PAGE_ORDER {
                continue;
            }
            if let Some(other) = by_pfn.get(&(b.pfn ^ (1 << b.order))) {
                let same_zone = other.nid == b.nid && other.zone == b.zone && other.order == b.order;
                let blocked = b.order >= crate::zone::PAGEBLOCK_ORDER
                    && other.mt != b.mt
                    && (!other.mt.is_mergeable() || !b.mt.is_mergeable());
                assert!(!same_zone || blocked, "unmerged buddies {b:?} {other:?}");
            }
        }
        (blocks, pcp_blocks)
    }

    /// buddyinfo counts of every zone.
    pub fn buddy_counts(pa: &PageAllocator) -> Vec<[u64; crate::zone::NR_PAGE_ORDERS]> {
        pa.all_zones().map(|z| z.free_snapshot().nr_free).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use crate::zone::PAGEBLOCK_ORDER;
    use std::collections::BTreeMap;

    const SEC: u64 = crate::page::PAGES_PER_SECTION;
    /// Base PFN of the test memory: 1 GiB, as on QEMU virt.
    const B: u64 = 0x40000;

    fn one_zone(pages: u64) -> PageAllocator {
        build(
            &[NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + pages), (B + pages, B + pages)] }],
            &[(B, B + pages)],
            &[0, 0],
        )
    }

    #[test]
    fn boot_frees_in_max_order_blocks_and_counts_managed() {
        let pa = one_zone(8192 + 512 + 3);
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        assert_eq!(zone.managed_pages(), 8192 + 512 + 3);
        assert_eq!(zone.present_pages(), 8192 + 512 + 3);
        assert_eq!(zone.free_pages(), 8192 + 512 + 3);
        let snap = zone.free_snapshot();
        assert_eq!(snap.nr_free[10], 8);
        assert_eq!(snap.nr_free[9], 1);
        assert_eq!(snap.nr_free[1], 1);
        assert_eq!(snap.nr_free[0], 1);
        check(&pa);
        let page = pa.memmap().pfn_to_page(Pfn(B + 5)).unwrap();
        assert!(!page.test_flags(PageFlags::RESERVED));
        // Outside the memory: still reserved.
        let hole = pa.memmap().pfn_to_page(Pfn(B + 8192 + 512 + 3)).unwrap();
        assert!(hole.test_flags(PageFlags::RESERVED));
    }

    #[test]
    fn free_bootmem_twice_is_harmless() {
        let pa = one_zone(4096);
        assert_eq!(pa.free_bootmem_range(Pfn(B), Pfn(B + 4096)), 0);
        assert!(take_log().iter().any(|l| l.contains("is not reserved")));
        assert_eq!(pa.nr_free_pages(), 4096);
        check(&pa);
    }

    #[test]
    fn split_and_merge_at_every_order() {
        let pa = one_zone(4096);
        let start = buddy_counts(&pa);
        for order in 0..=MAX_PAGE_ORDER {
            let pfn = pa.alloc_pages(0, Gfp::KERNEL, order).unwrap();
            assert_eq!(pfn.0 % (1 << order), 0, "order {order} block misaligned");
            let page = pa.memmap().pfn_to_page(pfn).unwrap();
            assert_eq!(page.page_ref_count(), 1);
            check(&pa);
            pa.free_pages(0, pfn, order);
            pa.drain_all_pages();
            check(&pa);
            assert_eq!(buddy_counts(&pa), start, "order {order}");
        }
    }

    #[test]
    fn every_block_is_aligned_and_merging_stops_at_max_order() {
        let pa = one_zone(4 * 1024);
        let mut got = Vec::new();
        while let Ok(pfn) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 2) {
            assert_eq!(pfn.0 % 4, 0);
            got.push(pfn);
        }
        assert!(got.len() > 900);
        for pfn in got {
            pa.free_pages(1, pfn, 2);
        }
        pa.drain_all_pages();
        let (blocks, _) = check(&pa);
        assert!(blocks.iter().all(|b| b.order == MAX_PAGE_ORDER));
        assert_eq!(blocks.len(), 4);
    }

    #[test]
    fn merging_never_crosses_zones_or_nodes() {
        // DMA | DMA32 | Normal (node 0) | Normal (node 1), all adjacent, the
        // boundaries inside MAX_ORDER blocks.
        let nodes = [
            NodeSpec { nid: 0, zones: [(B, B + 1100), (B + 1100, B + 2600), (B + 2600, B + 4700), (0, 0)] },
            NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 4700, B + 8192), (0, 0)] },
        ];
        let pa = build(&nodes, &[(B, B + 8192)], &[0, 1]);
        let (blocks, _) = check(&pa);
        for b in &blocks {
            let zone = pa.node_data(NodeId(b.nid)).unwrap().zone(b.zone);
            assert!(zone.spans(b.pfn) && zone.spans(b.pfn + (1 << b.order) - 1));
        }
        // Exhaust everything, free everything: still no block crosses.
        let mut got = Vec::new();
        for cpu in [0, 1] {
            for gfp in [Gfp::KERNEL | Gfp::DMA, Gfp::KERNEL | Gfp::DMA32, Gfp::KERNEL] {
                while let Ok(p) = pa.alloc_pages(cpu, gfp | Gfp::NOWARN | Gfp::HIGH, 0) {
                    got.push(p);
                }
            }
        }
        for p in got {
            pa.free_pages(0, p, 0);
        }
        pa.drain_all_pages();
        let (after, _) = check(&pa);
        let shape = |b: &[FreeBlock]| {
            let mut v: Vec<_> = b.iter().map(|b| (b.pfn, b.order, b.nid, b.zone)).collect();
            v.sort();
            v
        };
        assert_eq!(shape(&after), shape(&blocks));
    }

    #[test]
    fn gfp_zone_modifiers_are_honoured() {
        let nodes = [NodeSpec { nid: 0, zones: [(B, B + 2048), (B + 2048, B + 4096), (B + 4096, B + 8192), (0, 0)] }];
        let pa = build(&nodes, &[(B, B + 8192)], &[0]);
        let zone_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().zone_type();
        assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()), ZoneType::Normal);
        assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA32, 0).unwrap()), ZoneType::Dma32);
        assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA, 0).unwrap()), ZoneType::Dma);
        assert_eq!(zone_of(pa.alloc_pages(0, Gfp::DMA | Gfp::DMA32, 3).unwrap()), ZoneType::Dma);
        // With Normal gone, GFP_KERNEL falls back to DMA32 then DMA, never the other way.
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
            if zone_of(p) != ZoneType::Normal {
                assert_eq!(zone_of(p), ZoneType::Dma32);
                break;
            }
        }
        // DMA32 requests never see Normal.
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA32 | Gfp::NOWARN, 0) {
            assert!(zone_of(p) <= ZoneType::Dma32);
        }
        check(&pa);
    }

    #[test]
    fn highuser_movable_prefers_zone_movable() {
        let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (B + 4096, B + 8192)] }];
        let pa = build(&nodes, &[(B, B + 8192)], &[0]);
        let zone_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().zone_type();
        assert_eq!(zone_of(pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).unwrap()), ZoneType::Movable);
        assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL | Gfp::MOVABLE, 0).unwrap()), ZoneType::Normal);
        assert_eq!(zone_of(pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()), ZoneType::Normal);
        // Movable's min watermark is capped: clamp(4096 / 1024, 32, 128).
        let movable = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Movable);
        assert_eq!(movable.min_wmark_pages(), 32);
    }

    fn numa4() -> PageAllocator {
        // Four nodes of 2048 pages; CPUs on nodes 0 and 2 only.
        let nodes: Vec<NodeSpec> = (0..4)
            .map(|n| NodeSpec {
                nid: n,
                zones: [(0, 0), (0, 0), (B + n as u64 * 2048, B + (n as u64 + 1) * 2048), (0, 0)],
            })
            .collect();
        let map = MemMap::new_arena(&[(B, B + 8192)]);
        let mut pa = PageAllocator::new(map, zero_to_vec);
        pa.set_log(log_to_vec);
        pa.set_cpus(&[NodeId(0), NodeId(2)]).unwrap();
        // 0-1 and 2-3 are close pairs; across pairs 30, except 0-3 at 25.
        let d = [[10, 15, 30, 25], [15, 10, 30, 30], [30, 30, 10, 15], [25, 30, 15, 10]];
        for i in 0..4 {
            for j in 0..4 {
                pa.set_node_distance(NodeId(i), NodeId(j), d[i as usize][j as usize]).unwrap();
            }
        }
        for n in &nodes {
            let zones = n.zones.map(|(s, e)| (Pfn(s), Pfn(e)));
            pa.add_node(NodeId(n.nid), storage(), &zones, &[(Pfn(B), Pfn(B + 8192))]).unwrap();
        }
        pa.memmap_init();
        pa.build_all_zonelists();
        pa.free_bootmem_range(Pfn(B), Pfn(B + 8192));
        pa.init_per_zone_wmark_min();
        pa.setup_pcp();
        take_log();
        pa
    }

    #[test]
    fn zonelists_follow_node_distance() {
        let pa = numa4();
        let order = |nid: i32| -> Vec<u8> {
            pa.node_data(NodeId(nid)).unwrap().zonelist(ZONELIST_FALLBACK).zones().iter().map(|z| z.nid).collect()
        };
        assert_eq!(order(0), [0, 1, 3, 2]);
        // Node 1: 3 (30, headless) beats 2 (30 + 1 for its CPU).
        assert_eq!(order(1), [1, 0, 3, 2]);
        // Node 2: 1 (30 + 1 below) beats 0 (30 + 1 below + 1 CPU).
        assert_eq!(order(2), [2, 3, 1, 0]);
        assert_eq!(order(3), [3, 2, 0, 1]);
        let thisnode = pa.node_data(NodeId(2)).unwrap().zonelist(ZONELIST_NOFALLBACK).zones().to_vec();
        assert_eq!(thisnode, [ZoneRef { nid: 2, zone: ZoneType::Normal }]);
        assert_eq!(pa.numa_mem_id(1), NodeId(2));
    }

    #[test]
    fn equal_distances_round_robin_like_linux() {
        // Three equidistant nodes, no CPUs on 1 and 2: node 0 prefers the
        // headless higher node 1; node 1's list then prefers 2 over 0 (below
        // it), and node 2's goes 0 then 1 by node_load.
        let nodes: Vec<NodeSpec> = (0..3)
            .map(|n| NodeSpec {
                nid: n,
                zones: [(0, 0), (0, 0), (B + n as u64 * 1024, B + (n as u64 + 1) * 1024), (0, 0)],
            })
            .collect();
        let pa = build(&nodes, &[(B, B + 3072)], &[0]);
        let order = |nid: i32| -> Vec<u8> {
            pa.node_data(NodeId(nid)).unwrap().zonelist(ZONELIST_FALLBACK).zones().iter().map(|z| z.nid).collect()
        };
        assert_eq!(order(0), [0, 1, 2]);
        assert_eq!(order(1), [1, 2, 0]);
        assert_eq!(order(2), [2, 1, 0]);
    }

    #[test]
    fn alloc_pages_node_and_thisnode_placement() {
        let pa = numa4();
        let node_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().node();
        assert_eq!(node_of(pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()), NodeId(0));
        assert_eq!(node_of(pa.alloc_pages(1, Gfp::KERNEL, 0).unwrap()), NodeId(2));
        for nid in 0..4 {
            let p = pa.alloc_pages_node(0, NodeId(nid), Gfp::KERNEL | Gfp::THISNODE, 1).unwrap();
            assert_eq!(node_of(p), NodeId(nid));
        }
        assert_eq!(node_of(pa.alloc_pages_node(1, NUMA_NO_NODE, Gfp::KERNEL, 0).unwrap()), NodeId(2));
        assert_eq!(pa.alloc_pages_node(0, NodeId(7), Gfp::KERNEL, 0), Err(Error::InvalidArgument));
        // Exhaust node 3 with THISNODE: no fallback, a clean NoMemory.
        let mut n3 = 0;
        while let Ok(p) = pa.alloc_pages_node(0, NodeId(3), Gfp::KERNEL | Gfp::THISNODE | Gfp::NOWARN, 0) {
            assert_eq!(node_of(p), NodeId(3));
            n3 += 1;
        }
        assert!(n3 > 1900, "{n3}");
        // Without THISNODE, node 3's requests now land on 2 (distance 15).
        assert_eq!(node_of(pa.alloc_pages_node(0, NodeId(3), Gfp::KERNEL, 0).unwrap()), NodeId(2));
        check(&pa);
    }

    #[test]
    fn fallback_order_by_distance_when_nodes_fill() {
        let pa = numa4();
        let node_of = |p: Pfn| pa.memmap().pfn_to_page(p).unwrap().node().0;
        let mut seen = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
            let n = node_of(p);
            if seen.last() != Some(&n) {
                seen.push(n);
            }
        }
        // Each node down to its low watermark first, then again down to min.
        assert_eq!(seen, [0, 1, 3, 2, 0, 1, 3, 2]);
        check(&pa);
    }

    #[test]
    fn migratetype_fallback_claims_whole_pageblocks() {
        // 16 MiB: 8 pageblocks, all Movable after boot.
        let pa = one_zone(4096);
        let blocks =
            |pa: &PageAllocator, mt| (0..8).filter(|i| pa.pageblock_migratetype(Pfn(B + i * 512)) == Some(mt)).count();
        assert_eq!(blocks(&pa, MigrateType::Movable), 8);
        // An unmovable order-0 allocation (ALLOC_NOFRAGMENT: whole
        // pageblocks only) takes a free MAX_ORDER block and with it both its
        // pageblocks.
        let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        assert_eq!(blocks(&pa, MigrateType::Unmovable), 2);
        assert_eq!(pa.pageblock_migratetype(p), Some(MigrateType::Unmovable));
        // Further unmovable allocations stay in that pageblock.
        let more: Vec<Pfn> = (0..100).map(|_| pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap()).collect();
        assert!(more.iter().all(|&q| pa.pageblock_migratetype(q) == Some(MigrateType::Unmovable)));
        assert_eq!(blocks(&pa, MigrateType::Unmovable), 2);
        // Reclaimable falls back to Unmovable first (the fallback table) but
        // claims its own pageblock from the largest free block: Movable's.
        let r = pa.alloc_pages(0, Gfp::KERNEL | Gfp::RECLAIMABLE, 0).unwrap();
        assert_eq!(pa.pageblock_migratetype(r), Some(MigrateType::Reclaimable));
        check(&pa);
    }

    #[test]
    fn movable_steals_without_claiming_a_mostly_used_block() {
        // One pageblock zone (512 pages) is too small for grouping; use 8 of them.
        let pa = one_zone(4096);
        // Make every pageblock Unmovable by exhausting with unmovable pages.
        let mut got = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::ATOMIC, 0) {
            got.push(p);
        }
        assert!((0..8).all(|i| pa.pageblock_migratetype(Pfn(B + i * 512)) == Some(MigrateType::Unmovable)));
        // Free 10 pages scattered in the first block, then ask for a movable page:
        // below half a pageblock free, so the page is stolen, the block stays Unmovable.
        pa.drain_all_pages();
        let first_block: Vec<Pfn> = got.iter().copied().filter(|p| p.0 < B + 512).take(20).step_by(2).collect();
        for &p in &first_block {
            pa.free_pages(0, p, 0);
        }
        pa.drain_all_pages();
        let m = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::HIGH, 0).unwrap();
        assert!(m.0 < B + 512);
        assert_eq!(pa.pageblock_migratetype(m), Some(MigrateType::Unmovable));
        check(&pa);
    }

    #[test]
    fn order_above_half_a_pageblock_claims_even_for_movable() {
        let pa = one_zone(4096);
        // No reserves, so that all eight pageblocks can be taken.
        pa.set_min_free_kbytes(0);
        // Turn all pageblocks Unmovable with high-order unmovable allocations, then free one block.
        let mut got = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, PAGEBLOCK_ORDER) {
            got.push(p);
        }
        assert_eq!(got.len(), 8);
        pa.free_pages(0, got[3], PAGEBLOCK_ORDER);
        assert_eq!(pa.pageblock_migratetype(got[3]), Some(MigrateType::Unmovable));
        let p = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 5).unwrap();
        assert_eq!(p.0 & !511, got[3].0);
        assert_eq!(pa.pageblock_migratetype(p), Some(MigrateType::Movable));
        check(&pa);
    }

    #[test]
    fn watermark_formulas_match_hand_computed_linux_values() {
        // One node: DMA 16 MiB (4096 pages), DMA32 240 MiB (61440 pages), Normal 768 MiB (196608 pages).
        let nodes =
            [NodeSpec { nid: 0, zones: [(B, B + 4096), (B + 4096, B + 65536), (B + 65536, B + 262_144), (0, 0)] }];
        let pa = build(&nodes, &[(B, B + 262_144)], &[0, 0, 0, 0]);
        // lowmem = 262144 pages = 1048576 kB; int_sqrt(16777216) = 4096.
        assert_eq!(pa.min_free_kbytes(), 4096);
        let pgdat = pa.node_data(NodeId(0)).unwrap();
        let wm = |zt| {
            let z = pgdat.zone(zt);
            (z.min_wmark_pages(), z.low_wmark_pages(), z.high_wmark_pages())
        };
        // pages_min = 1024. DMA: 1024 * 4096 / 262144 = 16; step = max(4, 4096*10/10000 = 4) = 4.
        assert_eq!(wm(ZoneType::Dma), (16, 20, 24));
        // DMA32: 1024 * 61440 / 262144 = 240; step = max(60, 61) = 61.
        assert_eq!(wm(ZoneType::Dma32), (240, 301, 362));
        // Normal: 768; step = max(192, 196) = 196.
        assert_eq!(wm(ZoneType::Normal), (768, 964, 1160));
        // lowmem_reserve: DMA: (61440 / 256, 258048 / 256, same) = 240, 1008, 1008.
        let dma = pgdat.zone(ZoneType::Dma);
        let r = |z: &Zone| ZoneType::ALL.map(|t| z.lowmem_reserve(t));
        assert_eq!(r(dma), [0, 240, 1008, 1008]);
        assert_eq!(r(pgdat.zone(ZoneType::Dma32)), [0, 0, 768, 768]);
        assert_eq!(r(pgdat.zone(ZoneType::Normal)), [0, 0, 0, 0]);
        // totalreserve = (1008 + 24) + (768 + 362) + (0 + 1160).
        assert_eq!(pa.totalreserve_pages(), 1032 + 1130 + 1160);
        // The 4:5:6 relation when min/4 dominates the scale factor.
        pa.set_min_free_kbytes(65_536);
        let (min, low, high) = wm(ZoneType::Normal);
        assert_eq!((min, low, high), (12_288, 15_360, 18_432));
        assert_eq!((min / 4 * 5, min / 4 * 6), (low, high));
        // pcp: batch 63 for a 768 MiB zone; high = low / 4 CPUs.
        let normal = pgdat.zone(ZoneType::Normal);
        // high = max(low / 4 CPUs, 4 * batch) = max(241, 252).
        assert_eq!(normal.pcp_stats(0), crate::pcp::PcpStats { count: 0, high: 252, batch: 63 });
        // DMA: 4096 managed -> batch max(1, 0) = 1, high max(20 / 4, 4) = 5.
        assert_eq!(dma.pcp_stats(3), crate::pcp::PcpStats { count: 0, high: 5, batch: 1 });
    }

    #[test]
    fn min_free_kbytes_is_clamped_and_user_value_wins() {
        let pa = one_zone(4096);
        // 16 MiB: int_sqrt(16384 * 16) = 512.
        assert_eq!(pa.min_free_kbytes(), 512);
        pa.set_min_free_kbytes(2000);
        pa.calculate_min_free_kbytes();
        assert_eq!(pa.min_free_kbytes(), 2000);
        assert!(take_log().iter().any(|l| l.contains("user defined value 2000 is preferred")));
        let tiny = one_zone(512);
        // int_sqrt(2048 * 16) = 181, above the 128 floor.
        assert_eq!(tiny.min_free_kbytes(), 181);
        assert!(tiny.page_group_by_mobility_disabled());
    }

    #[test]
    fn low_watermark_fails_fast_path_min_serves_atomic() {
        let pa = one_zone(4096);
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        let (min, low) = (zone.min_wmark_pages(), zone.low_wmark_pages());
        // 512 kB -> pages_min 128; step = max(32, 4) = 32.
        assert_eq!((min, low), (128, 160));
        let mut got = Vec::new();
        // GFP_KERNEL: fast path stops at low, the slow path at min.
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
            got.push(p);
        }
        pa.drain_all_pages();
        assert_eq!(zone.free_pages(), min, "stops once free <= min");
        // __GFP_HIGH may use half of min.
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::HIGH | Gfp::NOWARN, 0) {
            got.push(p);
        }
        pa.drain_all_pages();
        assert_eq!(zone.free_pages(), min / 2);
        // GFP_ATOMIC (HIGH and non-blocking): 62.5% of min, so min/2 - min/8 remains.
        while let Ok(p) = pa.alloc_pages(0, Gfp::ATOMIC | Gfp::NOWARN, 0) {
            got.push(p);
        }
        pa.drain_all_pages();
        assert_eq!(zone.free_pages(), min - min / 2 - (min - min / 2) / 4);
        // GFP_NOWAIT gets no reserves: nothing more.
        assert_eq!(pa.alloc_pages(0, Gfp::NOWAIT, 0), Err(Error::NoMemory));
        assert!(take_log().is_empty(), "GFP_NOWAIT does not warn");
        // __GFP_MEMALLOC ignores the watermarks, unless __GFP_NOMEMALLOC.
        assert_eq!(
            pa.alloc_pages(0, Gfp::KERNEL | Gfp::MEMALLOC | Gfp::NOMEMALLOC | Gfp::NOWARN, 0),
            Err(Error::NoMemory)
        );
        got.push(pa.alloc_pages(0, Gfp::KERNEL | Gfp::MEMALLOC, 0).unwrap());
        for p in got {
            pa.free_pages(0, p, 0);
        }
        pa.drain_all_pages();
        assert_eq!(zone.free_pages(), 4096);
        check(&pa);
    }

    #[test]
    fn fast_path_uses_low_watermark_exactly() {
        let pa = one_zone(4096);
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        let low = zone.low_wmark_pages();
        assert!(zone.zone_watermark_ok(0, low, ZoneType::Normal, AllocFlags::WMARK_LOW));
        assert!(!zone.zone_watermark_ok_free(0, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64));
        assert!(zone.zone_watermark_ok_free(0, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64 + 1));
        // order 3 discounts 7 pages.
        assert!(!zone.zone_watermark_ok_free(3, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64 + 7));
        assert!(zone.zone_watermark_ok_free(3, low, ZoneType::Normal, AllocFlags::WMARK_LOW, low as i64 + 8));
        // ALLOC_MIN_RESERVE halves, with NON_BLOCK a further quarter off.
        let flags = AllocFlags::MIN_RESERVE | AllocFlags::NON_BLOCK;
        // 100 - 50 = 50, 50 - 12 = 38: needs more than 38 free.
        assert!(zone.zone_watermark_ok_free(0, 100, ZoneType::Normal, flags, 39));
        assert!(!zone.zone_watermark_ok_free(0, 100, ZoneType::Normal, flags, 38));
    }

    #[test]
    fn lowmem_reserve_protects_dma_from_normal_requests() {
        let nodes = [NodeSpec { nid: 0, zones: [(B, B + 4096), (0, 0), (B + 4096, B + 8192 + 4096), (0, 0)] }];
        let pa = build(&nodes, &[(B, B + 12_288)], &[0]);
        let dma = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Dma);
        assert_eq!(dma.lowmem_reserve(ZoneType::Normal), 8192 / 256);
        let mut got = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
            got.push(p);
        }
        pa.drain_all_pages();
        // Normal requests leave DMA's min plus the reserve alone.
        assert_eq!(dma.free_pages(), dma.min_wmark_pages() + dma.lowmem_reserve(ZoneType::Normal));
        // DMA requests may go further.
        assert!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::DMA, 0).is_ok());
    }

    #[test]
    fn failure_warns_with_linux_format_and_show_mem() {
        let pa = one_zone(4096);
        assert_eq!(pa.alloc_pages(2, Gfp::KERNEL, MAX_PAGE_ORDER + 1), Err(Error::InvalidArgument));
        take_log();
        let mut got = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, MAX_PAGE_ORDER) {
            got.push(p);
        }
        assert!(take_log().is_empty());
        assert_eq!(pa.alloc_pages(1, Gfp::KERNEL, MAX_PAGE_ORDER), Err(Error::NoMemory));
        let log = take_log();
        assert_eq!(log[0], "swapper/1: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null)");
        assert_eq!(log[1], "Mem-Info:");
        assert!(log.iter().any(|l| l.starts_with("Node 0 Normal free:") && l.contains(" min:512kB low:640kB")));
        assert!(log.iter().any(|l| l.starts_with("Node 0 Normal: ") && l.ends_with(" = 4096kB")), "{log:#?}");
        assert!(log.iter().any(|l| l == "4096 pages RAM"));
    }

    #[test]
    fn nofail_fails_cleanly_after_bounded_retries() {
        let pa = one_zone(4096);
        while pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, MAX_PAGE_ORDER).is_ok() {}
        take_log();
        assert_eq!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOFAIL, MAX_PAGE_ORDER), Err(Error::NoMemory));
        let log = take_log();
        assert!(log[0].contains("__GFP_NOFAIL allocation of order:10 failed after 16 retries"));
        assert!(log[1].contains("page allocation failure: order:10, mode:0x8cc0(GFP_KERNEL|__GFP_NOFAIL)"));
        // NOFAIL digs into half of min, which a plain request may not.
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        let before = zone.free_pages() + zone.pcp_count();
        assert!(pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOFAIL, 0).is_ok() || before <= zone.min_wmark_pages() / 2);
    }

    #[test]
    fn bad_page_at_free_is_reported_and_leaked() {
        let pa = one_zone(4096);
        let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        let page = pa.memmap().pfn_to_page(p).unwrap();
        page.set_mapping(0xdead_0000);
        page.set_flags(PageFlags::DIRTY);
        pa.free_pages(0, p, 0);
        let log = take_log();
        assert_eq!(log[0], format!("BUG: Bad page state in process swapper/0  pfn:{:05x}", p.0));
        assert_eq!(log[1], format!("page: refcount:0 mapcount:0 mapping:00000000dead0000 index:0x0 pfn:{:#x}", p.0));
        assert!(log[2].starts_with("flags: 0x") && log[2].contains("(dirty|node=0|zone=2)"), "{}", log[2]);
        assert_eq!(log[3], "page dumped because: non-NULL mapping");
        assert_eq!(pa.nr_bad_pages(), 1);
        // A locked page: flag check.
        let q = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        pa.memmap().pfn_to_page(q).unwrap().set_flags(PageFlags::LOCKED);
        pa.free_pages(0, q, 0);
        assert_eq!(take_log()[3], "page dumped because: PAGE_FLAGS_CHECK_AT_FREE flag set");
        // Still healthy: everything else can be allocated and freed.
        pa.drain_all_pages();
        let (blocks, _) = check(&pa);
        assert!(blocks.iter().all(|b| b.pfn != p.0 && b.pfn != q.0));
        assert_eq!(pa.nr_free_pages(), 4096 - 2);
        assert_eq!(pa.nr_bad_pages(), 2);
    }

    #[test]
    fn bad_page_at_alloc_is_reported_and_skipped() {
        let pa = one_zone(4096);
        let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        pa.free_pages(0, p, 0);
        // Scribble on the free page sitting on the pcp list.
        pa.memmap().pfn_to_page(p).unwrap().get_page();
        let q = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        assert_ne!(p, q);
        let log = take_log();
        assert_eq!(log[0], format!("BUG: Bad page state in process swapper/0  pfn:{:05x}", p.0));
        assert_eq!(log[3], "page dumped because: nonzero _refcount");
        assert_eq!(pa.nr_bad_pages(), 1);
        // A corrupt page in the buddy lists: skipped the same way.
        pa.drain_all_pages();
        let (blocks, _) = check(&pa);
        let victim = blocks.iter().find(|b| b.order == 10).unwrap().pfn;
        pa.memmap().pfn_to_page(Pfn(victim + 7)).unwrap().set_raw_mapcount(3);
        let mut got = Vec::new();
        while let Ok(r) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, MAX_PAGE_ORDER) {
            got.push(r);
        }
        assert!(take_log().iter().any(|l| l == "page dumped because: nonzero mapcount"));
        assert!(!got.contains(&Pfn(victim)));
        assert_eq!(pa.nr_bad_pages(), 1 + 1024);
        for r in got {
            pa.free_pages(0, r, MAX_PAGE_ORDER);
        }
        check(&pa);
    }

    #[test]
    fn double_free_is_reported_not_corrupting() {
        let pa = one_zone(4096);
        let p = pa.alloc_pages(0, Gfp::KERNEL, 1).unwrap();
        pa.free_pages(0, p, 1);
        pa.free_pages(0, p, 1);
        assert!(take_log().iter().any(|l| l == "page dumped because: VM_BUG_ON_PAGE(page_ref_count(page) == 0)"));
        pa.drain_all_pages();
        check(&pa);
        assert_eq!(pa.nr_free_pages(), 4096);
        pa.free_pages(0, Pfn(0x1234_5678), 0);
        pa.free_pages(0, Pfn(B + 1), 1);
        assert_eq!(take_log().len(), 2);
    }

    #[test]
    fn init_on_alloc_and_free_use_the_zero_hook() {
        let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (0, 0)] }];
        let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::empty(), false);
        take_zeroed();
        let p = pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap();
        assert!(take_zeroed().is_empty());
        let z = pa.alloc_pages(0, Gfp::KERNEL | Gfp::ZERO, 3).unwrap();
        assert_eq!(take_zeroed(), [(z.0, 8)]);
        let g = pa.get_zeroed_page(0, Gfp::KERNEL).unwrap();
        assert_eq!(take_zeroed(), [(g.0, 1)]);
        pa.free_pages(0, p, 2);
        assert!(take_zeroed().is_empty());

        let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::INIT_ON_ALLOC, false);
        take_zeroed();
        let p = pa.alloc_pages(0, Gfp::KERNEL, 1).unwrap();
        assert_eq!(take_zeroed(), [(p.0, 2)]);

        let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::INIT_ON_FREE, false);
        // Boot memory was zeroed as it was freed: 4 blocks of 1024.
        assert_eq!(take_zeroed().iter().map(|z| z.1).sum::<u64>(), 4096);
        let p = pa.alloc_pages(0, Gfp::KERNEL | Gfp::ZERO, 0).unwrap();
        assert!(take_zeroed().is_empty(), "init_on_free pages are already zero");
        pa.free_pages(0, p, 0);
        assert_eq!(take_zeroed(), [(p.0, 1)]);
    }

    #[test]
    fn compound_pages_point_to_their_head_and_free_whole() {
        let pa = one_zone(4096);
        let start = buddy_counts(&pa);
        let p = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 4).unwrap();
        let map = pa.memmap();
        assert!(map.pfn_to_page(p).unwrap().is_head());
        assert_eq!(pa.compound_order(p), 4);
        for i in 1..16 {
            let tail = map.pfn_to_page(Pfn(p.0 + i)).unwrap();
            assert!(tail.is_tail());
            assert_eq!(tail.compound_head(), Some(p));
            assert_eq!(tail.mapping(), TAIL_MAPPING);
        }
        // put_page through a tail frees the whole compound page.
        pa.put_page(0, Pfn(p.0 + 5));
        pa.drain_all_pages();
        assert_eq!(buddy_counts(&pa), start);
        check(&pa);
        // A corrupted tail is caught at free.
        let q = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 2).unwrap();
        map.pfn_to_page(Pfn(q.0 + 2)).unwrap().set_mapping(0);
        pa.free_pages(0, q, 2);
        assert!(take_log().iter().any(|l| l == "page dumped because: corrupted mapping in tail page"));
        assert_eq!(pa.nr_bad_pages(), 4);
        // Freeing with the wrong order is caught too.
        let r = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 3).unwrap();
        pa.free_pages(0, r, 2);
        assert!(take_log().iter().any(|l| l.contains("compound_order(page) != order")));
    }

    #[test]
    fn alloc_pages_exact_frees_the_tail() {
        let pa = one_zone(4096);
        let before = pa.nr_free_pages();
        let p = pa.alloc_pages_exact(0, 5 * PAGE_SIZE - 100, Gfp::KERNEL).unwrap();
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), before - 5);
        for i in 0..5 {
            assert_eq!(pa.memmap().pfn_to_page(Pfn(p.0 + i)).unwrap().page_ref_count(), 1);
        }
        check(&pa);
        pa.free_pages_exact(0, p, 5 * PAGE_SIZE - 100);
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), before);
        let (blocks, _) = check(&pa);
        assert!(blocks.iter().all(|b| b.order == MAX_PAGE_ORDER));
        assert_eq!(pa.alloc_pages_exact(0, 0, Gfp::KERNEL), Err(Error::InvalidArgument));
        assert_eq!(get_order(1), 0);
        assert_eq!(get_order(4096), 0);
        assert_eq!(get_order(4097), 1);
        assert_eq!(get_order(4 << 20), 10);
    }

    #[test]
    fn split_page_gives_each_page_a_reference() {
        let pa = one_zone(4096);
        let p = pa.alloc_pages(0, Gfp::KERNEL, 3).unwrap();
        pa.split_page(p, 3).unwrap();
        for i in 0..8 {
            pa.free_pages(0, Pfn(p.0 + i), 0);
        }
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), 4096);
        let c = pa.alloc_pages(0, Gfp::KERNEL | Gfp::COMP, 3).unwrap();
        assert_eq!(pa.split_page(c, 3), Err(Error::InvalidArgument));
    }

    #[test]
    fn freeing_with_references_frees_the_rest() {
        let pa = one_zone(4096);
        let p = pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap();
        pa.memmap().pfn_to_page(p).unwrap().get_page();
        pa.free_pages(0, p, 2);
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), 4096 - 1);
        pa.free_pages(0, p, 0);
        pa.drain_all_pages();
        assert_eq!(pa.nr_free_pages(), 4096);
        check(&pa);
    }

    #[test]
    fn pcp_batch_high_and_draining() {
        // 256 MiB: batch 15, high max(low / 2 CPUs, 60).
        let pa = one_zone(65_536);
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        let stats = zone.pcp_stats(0);
        assert_eq!(stats.batch, 15);
        assert_eq!(stats.high, (zone.low_wmark_pages() as u32 / 2).max(60));
        // The first allocation pulls a batch onto the pcp.
        let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        assert_eq!(zone.pcp_stats(0).count, 14);
        assert_eq!(zone.free_pages(), 65_536 - 15);
        // Order 2: batch >> 2 = 3 blocks.
        let q = pa.alloc_pages(0, Gfp::KERNEL, 2).unwrap();
        assert_eq!(zone.pcp_stats(0).count, 14 + 2 * 4);
        // Frees pile up on the pcp until high, then a batch goes back.
        let many: Vec<Pfn> = (0..400).map(|_| pa.alloc_pages(1, Gfp::KERNEL, 0).unwrap()).collect();
        for &m in &many {
            pa.free_pages(1, m, 0);
            assert!(zone.pcp_stats(1).count < stats.high);
        }
        check(&pa);
        pa.drain_local_pages(1);
        assert_eq!(zone.pcp_stats(1).count, 0);
        assert_eq!(zone.pcp_stats(0).count, 22);
        pa.drain_zone_pages(0);
        // 15 pages asked: 14 order-0 pages, then a whole order-2 block.
        assert_eq!(zone.pcp_stats(0).count, 4);
        pa.free_pages(0, p, 0);
        pa.free_pages(0, q, 2);
        pa.drain_all_pages();
        assert_eq!(zone.free_pages(), 65_536);
        check(&pa);
    }

    #[test]
    fn boot_pageset_passes_pages_straight_through() {
        let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (0, 0)] }];
        let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 4096)], &[0], AllocatorFlags::empty(), true);
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        let p = pa.alloc_pages(0, Gfp::KERNEL, 0).unwrap();
        assert_eq!(zone.pcp_stats(0).count, 0);
        pa.free_pages(0, p, 0);
        assert_eq!(zone.pcp_stats(0).count, 0);
        assert_eq!(zone.free_pages(), 4096);
        check(&pa);
    }

    #[test]
    fn cpu_numbers_beyond_nr_cpus_bypass_the_pcp() {
        let pa = one_zone(4096);
        let p = pa.alloc_pages(99, Gfp::KERNEL, 0).unwrap();
        assert_eq!(pa.nr_free_pages(), 4095);
        pa.free_pages(99, p, 0);
        assert_eq!(pa.nr_free_pages(), 4096);
        check(&pa);
    }

    #[test]
    fn exhaust_then_free_restores_every_counter() {
        let nodes = [
            NodeSpec { nid: 0, zones: [(B, B + 2048), (B + 2048, B + 4096), (B + 4096, B + 6000), (0, 0)] },
            NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 6000, B + 9000), (B + 9000, B + 10_240)] },
        ];
        let pa = build(&nodes, &[(B, B + 10_240)], &[0, 1, 0, 1]);
        let start_counts = buddy_counts(&pa);
        let start_free: Vec<u64> = pa.all_zones().map(Zone::free_pages).collect();
        let mut info = String::new();
        pa.buddyinfo(&mut info).unwrap();
        let mut got = Vec::new();
        for (i, gfp) in [Gfp::HIGHUSER_MOVABLE, Gfp::KERNEL, Gfp::KERNEL | Gfp::DMA32, Gfp::KERNEL | Gfp::DMA]
            .into_iter()
            .enumerate()
        {
            for order in (0..=MAX_PAGE_ORDER).rev() {
                while let Ok(p) = pa.alloc_pages(i % 4, gfp | Gfp::NOWARN | Gfp::HIGH, order) {
                    got.push((p, order));
                }
            }
        }
        check(&pa);
        for (i, &(p, order)) in got.iter().enumerate() {
            pa.free_pages(i % 3, p, order);
        }
        pa.drain_all_pages();
        check(&pa);
        assert_eq!(buddy_counts(&pa), start_counts);
        assert_eq!(pa.all_zones().map(Zone::free_pages).collect::<Vec<_>>(), start_free);
        let mut after = String::new();
        pa.buddyinfo(&mut after).unwrap();
        assert_eq!(after, info);
        assert_eq!(pa.nr_free_pages(), pa.totalram_pages());
        assert_eq!(pa.nr_bad_pages(), 0);
    }

    #[test]
    fn highatomic_reserve_and_release() {
        // 256 MiB, so that 1% of the zone is at least a pageblock.
        let pa = one_zone(65_536);
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        // Only the slow path reserves: bring free memory below low.
        let mut got = Vec::new();
        while let Ok(q) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 0) {
            got.push(q);
        }
        pa.drain_all_pages();
        got.sort();
        // Give back the first 64 pages of a pageblock that is wholly allocated.
        let held: std::collections::BTreeSet<u64> = got.iter().map(|p| p.0).collect();
        let blk = (0..128).map(|i| B + i * 512).find(|&b| (b..b + 64).all(|p| held.contains(&p))).unwrap();
        for p in blk..blk + 64 {
            pa.free_pages(0, Pfn(p), 0);
        }
        pa.drain_all_pages();
        got.retain(|p| p.0 < blk || p.0 >= blk + 64);
        assert!(zone.free_pages() < zone.low_wmark_pages());
        // A high-order atomic allocation in the slow path reserves its pageblock.
        let a = pa.alloc_pages(0, Gfp::ATOMIC, 2).unwrap();
        assert_eq!(a.0 & !511, blk);
        assert_eq!(pa.pageblock_migratetype(a), Some(MigrateType::HighAtomic));
        assert_eq!(zone.nr_reserved_highatomic(), PAGEBLOCK_NR_PAGES);
        // 64 freed, less the pcp refill of batch >> 2 = 3 order-2 blocks.
        assert_eq!(zone.free_highatomic_pages(), 64 - 3 * 4);
        // Drained, the refill's other blocks join the reserve's list.
        pa.drain_all_pages();
        assert_eq!(zone.free_highatomic_pages(), 60);
        check(&pa);
        // Ordinary allocations stay out of it (NORETRY: no last-resort unreserve).
        for _ in 0..4 {
            if let Ok(k) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NORETRY | Gfp::NOWARN, 2) {
                assert_ne!(k.0 & !511, blk);
                pa.split_page(k, 2).unwrap();
                got.extend((0..4).map(|i| Pfn(k.0 + i)));
            }
        }
        assert_eq!(zone.nr_reserved_highatomic(), PAGEBLOCK_NR_PAGES);
        // The next high-order atomic allocation is served from the pcp
        // lists like any other, and reserves a second pageblock: 1% of the
        // zone is 655 pages, rounded up to two pageblocks.
        let b = pa.alloc_pages(0, Gfp::ATOMIC, 3).unwrap();
        assert_eq!(pa.pageblock_migratetype(b), Some(MigrateType::HighAtomic));
        assert_eq!(zone.nr_reserved_highatomic(), 2 * PAGEBLOCK_NR_PAGES);
        let c = pa.alloc_pages(0, Gfp::ATOMIC, 3).unwrap();
        assert_eq!(zone.nr_reserved_highatomic(), 2 * PAGEBLOCK_NR_PAGES, "the 1% cap");
        check(&pa);
        // Failing GFP_KERNEL requests give the reserves back, the last one too.
        for _ in 0..4 {
            // (Not a costly order: those give up before the last resort.)
            if let Ok(k) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN, 3) {
                pa.split_page(k, 3).unwrap();
                got.extend((0..8).map(|i| Pfn(k.0 + i)));
            }
        }
        // Every reserved pageblock with free pages went back (one whose
        // pages are all in use cannot be found through the free lists, as in Linux).
        pa.drain_all_pages();
        assert_eq!(zone.free_highatomic_pages(), 0);
        assert!(zone.nr_reserved_highatomic() < 2 * PAGEBLOCK_NR_PAGES);
        assert_eq!(pa.pageblock_migratetype(a), Some(MigrateType::Unmovable));
        check(&pa);
        for q in got {
            pa.free_pages(0, q, 0);
        }
        pa.free_pages(0, a, 2);
        pa.free_pages(0, b, 3);
        pa.free_pages(0, c, 3);
        pa.drain_all_pages();
        assert_eq!(zone.free_pages(), 65_536);
        check(&pa);
    }

    #[test]
    fn cma_only_for_movable_and_isolate_never() {
        let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (B, B + 4096), (0, 0)] }];
        // Keep the last pageblock reserved, then make it CMA.
        let pa = build_with(&nodes, &[(B, B + 4096)], &[(B, B + 3584)], &[0], AllocatorFlags::empty(), false);
        pa.init_cma_reserved_pageblock(Pfn(B + 3584)).unwrap();
        assert_eq!(pa.init_cma_reserved_pageblock(Pfn(B + 3584)), Err(Error::Busy));
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        assert_eq!((zone.cma_pages(), zone.free_cma_pages()), (512, 512));
        check(&pa);
        // Unmovable requests never touch CMA, even when everything else is gone.
        let mut got = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::ATOMIC, 0) {
            assert!(p.0 < B + 3584);
            got.push(p);
        }
        assert_eq!(zone.free_cma_pages(), 512);
        // Movable ones use it.
        let m = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE, 0).unwrap();
        assert!(m.0 >= B + 3584);
        pa.free_pages(0, m, 0);
        for p in got {
            pa.free_pages(0, p, 0);
        }
        pa.drain_all_pages();
        check(&pa);
        // Isolate the first pageblock: its pages leave NR_FREE_PAGES and are never handed out.
        let before = zone.free_pages();
        pa.isolate_pageblock(Pfn(B)).unwrap();
        assert_eq!(pa.isolate_pageblock(Pfn(B + 10)), Err(Error::Busy));
        assert_eq!(zone.free_pages(), before - 512);
        check(&pa);
        let mut got = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::HIGHUSER_MOVABLE | Gfp::NOWARN | Gfp::ATOMIC, 0) {
            assert!(p.0 >= B + 512);
            got.push(p);
        }
        for p in got {
            pa.free_pages(0, p, 0);
        }
        pa.drain_all_pages();
        pa.unisolate_pageblock(Pfn(B), MigrateType::Movable).unwrap();
        assert_eq!(zone.free_pages(), 4096);
        let (blocks, _) = check(&pa);
        assert_eq!(blocks.iter().filter(|b| b.order == MAX_PAGE_ORDER).count(), 3);
    }

    #[test]
    fn add_node_rejects_bad_spans() {
        let map = MemMap::new_arena(&[(B, B + 4096)]);
        let mut pa = PageAllocator::new(map, zero_to_vec);
        let z = |a: u64, b: u64| (Pfn(a), Pfn(b));
        let empty = z(0, 0);
        let present = [z(B, B + 4096)];
        assert_eq!(
            pa.add_node(NodeId(0), storage(), &[z(B + 10, B), empty, empty, empty], &present),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            pa.add_node(NodeId(0), storage(), &[z(B + 100, B + 200), z(B + 150, B + 300), empty, empty], &present),
            Err(Error::InvalidArgument)
        );
        assert_eq!(
            pa.add_node(NodeId(0), storage(), &[empty, empty, z(B, B + 2 * SEC), empty], &[z(B, B + 2 * SEC)]),
            Err(Error::InvalidArgument),
            "present memory without descriptors"
        );
        pa.add_node(NodeId(0), storage(), &[empty, empty, z(B, B + 2048), empty], &present).unwrap();
        assert_eq!(
            pa.add_node(NodeId(0), storage(), &[empty, empty, z(B + 2048, B + 4096), empty], &present),
            Err(Error::Busy)
        );
        assert_eq!(
            pa.add_node(NodeId(1), storage(), &[empty, empty, z(B + 2000, B + 4096), empty], &present),
            Err(Error::InvalidArgument)
        );
        assert_eq!(pa.add_node(NodeId(-1), storage(), &[empty; 4], &present), Err(Error::InvalidArgument));
        pa.add_node(NodeId(1), storage(), &[empty, empty, z(B + 2048, B + 4096), empty], &present).unwrap();
        assert_eq!(pa.free_bootmem_range(Pfn(B), Pfn(B + 4096)), 0, "before memmap_init");
    }

    #[test]
    fn memmap_init_covers_holes_and_sparse_sections() {
        // Memory in sections 8 and 10 (9 absent), node 0 spanning both with a hole.
        let present = [(8 * SEC + 100, 8 * SEC + 5000), (10 * SEC, 10 * SEC + 3000)];
        let nodes = [NodeSpec { nid: 0, zones: [(0, 0), (0, 0), (8 * SEC + 100, 10 * SEC + 3000), (0, 0)] }];
        let pa = build(&nodes, &present, &[0]);
        let zone = pa.node_data(NodeId(0)).unwrap().zone(ZoneType::Normal);
        assert_eq!(zone.present_pages(), 4900 + 3000);
        assert_eq!(zone.spanned_pages(), 2 * SEC + 2900);
        assert_eq!(zone.managed_pages(), 7900);
        let map = pa.memmap();
        // The section's head, before the zone: initialised, reserved.
        let head = map.pfn_to_page(Pfn(8 * SEC)).unwrap();
        assert!(head.test_flags(PageFlags::RESERVED));
        assert_eq!(head.page_ref_count(), 1);
        let tail = map.pfn_to_page(Pfn(11 * SEC - 1)).unwrap();
        assert!(tail.test_flags(PageFlags::RESERVED));
        assert!(map.pfn_to_page(Pfn(9 * SEC)).is_none());
        let mut got = Vec::new();
        while let Ok(p) = pa.alloc_pages(0, Gfp::KERNEL | Gfp::NOWARN | Gfp::ATOMIC, 0) {
            assert!(present.iter().any(|&(s, e)| p.0 >= s && p.0 < e));
            got.push(p);
        }
        check(&pa);
    }

    #[test]
    fn concurrent_cpus_stay_consistent() {
        let nodes = [
            NodeSpec { nid: 0, zones: [(B, B + 2048), (0, 0), (B + 2048, B + 6144), (0, 0)] },
            NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 6144, B + 10_240), (0, 0)] },
        ];
        let pa = build(&nodes, &[(B, B + 10_240)], &[0, 0, 1, 1]);
        let total = pa.totalram_pages();
        std::thread::scope(|scope| {
            for cpu in 0..4usize {
                let pa = &pa;
                scope.spawn(move || {
                    let mut rng = Rng(0x1234_5678 + cpu as u64);
                    let mut live: Vec<(Pfn, u32)> = Vec::new();
                    for _ in 0..3000 {
                        if rng.below(100) < 55 {
                            let order = [0, 0, 0, 1, 2, 3, 5][rng.below(7) as usize];
                            let gfp = [Gfp::KERNEL, Gfp::ATOMIC, Gfp::HIGHUSER_MOVABLE, Gfp::KERNEL | Gfp::DMA]
                                [rng.below(4) as usize];
                            if let Ok(p) = pa.alloc_pages(cpu, gfp | Gfp::NOWARN, order) {
                                live.push((p, order));
                            }
                        } else if !live.is_empty() {
                            let (p, o) = live.swap_remove(rng.below(live.len() as u64) as usize);
                            pa.free_pages(cpu, p, o);
                        }
                        if rng.below(500) == 0 {
                            pa.drain_all_pages();
                        }
                    }
                    for (p, o) in live {
                        pa.free_pages(cpu, p, o);
                    }
                });
            }
        });
        pa.drain_all_pages();
        check(&pa);
        assert_eq!(pa.nr_free_pages(), total);
        assert_eq!(pa.nr_bad_pages(), 0);
    }

    /// xorshift64*, fixed seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn randomized_against_a_model() {
        let nodes = [
            NodeSpec { nid: 0, zones: [(B, B + 1536), (B + 1536, B + 3000), (B + 3000, B + 6000), (0, 0)] },
            NodeSpec { nid: 1, zones: [(0, 0), (0, 0), (B + 6000, B + 9500), (B + 9500, B + 11_000)] },
        ];
        let pa = build(&nodes, &[(B, B + 11_000)], &[0, 1, 0, 1]);
        let total = pa.totalram_pages();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // pfn -> (order, gfp, nid asked)
        let mut live: BTreeMap<u64, u32> = BTreeMap::new();
        let gfps = [
            Gfp::KERNEL,
            Gfp::ATOMIC,
            Gfp::NOWAIT,
            Gfp::HIGHUSER_MOVABLE,
            Gfp::KERNEL | Gfp::RECLAIMABLE,
            Gfp::KERNEL | Gfp::DMA,
            Gfp::KERNEL | Gfp::DMA32,
            Gfp::KERNEL | Gfp::COMP,
            Gfp::KERNEL | Gfp::NORETRY,
        ];
        let orders = [0, 0, 0, 0, 0, 1, 1, 2, 3, 4, 5, 9, 10];
        let mut allocated = 0u64;
        let mut failures = 0;
        for step in 0..4000 {
            let op = rng.below(100);
            if op < 55 || live.is_empty() {
                let cpu = rng.below(5) as usize;
                let gfp = gfps[rng.below(gfps.len() as u64) as usize] | Gfp::NOWARN;
                let order = orders[rng.below(orders.len() as u64) as usize];
                let node = rng.below(3);
                let thisnode = rng.below(4) == 0;
                let res = if node == 2 {
                    pa.alloc_pages(cpu, gfp, order)
                } else {
                    let g = if thisnode { gfp | Gfp::THISNODE } else { gfp };
                    pa.alloc_pages_node(cpu, NodeId(node as i32), g, order)
                };
                match res {
                    Ok(p) => {
                        assert_eq!(p.0 % (1 << order), 0);
                        let page = pa.memmap().pfn_to_page(p).unwrap();
                        assert!(page.zone_type() <= gfp_zone(gfp), "step {step}: {gfp} got {:?}", page.zone_type());
                        if thisnode && node != 2 {
                            assert_eq!(page.node(), NodeId(node as i32));
                        }
                        let end = p.0 + (1 << order);
                        if let Some((&q, &o)) = live.range(..end).next_back() {
                            assert!(q + (1 << o) <= p.0, "step {step}: {p:?} overlaps {q:#x}");
                        }
                        live.insert(p.0, order);
                        allocated += 1 << order;
                    }
                    Err(e) => {
                        assert_eq!(e, Error::NoMemory);
                        failures += 1;
                    }
                }
            } else if op < 97 {
                let idx = rng.below(live.len() as u64) as usize;
                let (&p, &o) = live.iter().nth(idx).unwrap();
                live.remove(&p);
                pa.free_pages(rng.below(6) as usize, Pfn(p), o);
                allocated -= 1 << o;
            } else if op < 99 {
                pa.drain_local_pages(rng.below(5) as usize);
            } else {
                pa.drain_all_pages();
            }
            let (blocks, pcp) = check(&pa);
            let free: u64 = blocks.iter().map(|b| 1u64 << b.order).sum();
            let in_pcp: u64 = pcp.iter().map(|&(_, o)| 1u64 << o).sum();
            assert_eq!(free + in_pcp + allocated, total, "step {step}");
            assert_eq!(pa.nr_free_pages(), free);
            for &(b, o) in &pcp {
                if let Some((&q, &qo)) = live.range(..b + (1 << o)).next_back() {
                    assert!(q + (1 << qo) <= b, "pcp page {b:#x} is allocated");
                }
            }
        }
        assert!(failures > 0 && failures < 3000, "{failures}");
        for (p, o) in core::mem::take(&mut live) {
            pa.free_pages(0, Pfn(p), o);
        }
        pa.drain_all_pages();
        check(&pa);
        assert_eq!(pa.nr_free_pages(), total);
        assert_eq!(pa.nr_bad_pages(), 0);
    }
}
