//! The machine-wide allocator object: its state, its construction-time
//! settings, and the lookups every other part uses.

use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use bitflags::bitflags;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE, Pfn};
use crate::config::{MAX_NUMNODES, MAX_PAGE_ORDER, NR_CPUS, NodeId};
use crate::error::Error;
use crate::hal::{Hal, LogLevel};
use crate::mmzone::{MigrateType, ZoneType};
use crate::page::{MemMap, Page};
use crate::zone::{AllocFlags, DEFAULT_WATERMARK_SCALE_FACTOR, Zone};

use super::cpu_pages::{CpuPages, ZoneSlot};
use super::node::{PgData, ZoneRef, Zonelist};

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
pub(super) const BAD_PAGE_REPORTS: u64 = 60;
pub(super) const PENALTY_FOR_NODE_WITH_CPUS: i64 = 1;

bitflags! {
    /// Allocator-wide options.
    #[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
    pub struct AllocatorFlags: u32 {
        /// Zero every page at allocation (init_on_alloc=1).
        const INIT_ON_ALLOC = 1 << 0;
        /// Zero every page at free (init_on_free=1); then allocation never zeroes.
        const INIT_ON_FREE = 1 << 1;
        /// Unmap every free page from the kernel's linear map
        /// (debug_pagealloc=on): [`Hal::kernel_map_pages`](crate::hal::Hal::kernel_map_pages)
        /// at every free and allocation. Set before the first free.
        const DEBUG_PAGEALLOC = 1 << 2;
        /// The per-page checks at allocation and free
        /// (`page_alloc.check_pages=1`; see the fastpath module).
        const CHECK_PAGES = 1 << 3;
    }
}

/// What an allocation is looking for (struct alloc_context).
impl AllocatorFlags {
    /// Settings that turn the per-page checks on, as Linux's
    /// want_check_pages: debug_pagealloc, init_on_alloc, init_on_free.
    pub const IMPLY_CHECK_PAGES: AllocatorFlags = AllocatorFlags::INIT_ON_ALLOC
        .union(AllocatorFlags::INIT_ON_FREE)
        .union(AllocatorFlags::DEBUG_PAGEALLOC)
        .union(AllocatorFlags::CHECK_PAGES);
}

pub(super) struct AllocContext<'a> {
    pub(super) zonelist: &'a Zonelist,
    pub(super) preferred: Option<ZoneRef>,
    pub(super) highest_zoneidx: ZoneType,
    pub(super) migratetype: MigrateType,
}

/// The machine's page allocator. See the module documentation.
pub struct PageAllocator<H> {
    pub(super) map: MemMap,
    pub(super) nodes: [Option<&'static mut PgData>; MAX_NUMNODES],
    pub(super) node_distance: [[u8; MAX_NUMNODES]; MAX_NUMNODES],
    pub(super) cpu_to_node: [NodeId; NR_CPUS],
    pub(super) numa_mem: [u8; NR_CPUS],
    pub(super) nr_cpus: usize,
    pub(super) nr_online_nodes: usize,
    pub(super) flags: AllocatorFlags,
    /// Whether the per-page checks run (Linux's check_pages_enabled
    /// static key): set by [`AllocatorFlags::IMPLY_CHECK_PAGES`] or at run
    /// time by `set_check_pages`.
    pub(super) check_pages: AtomicBool,
    /// Whether setup_pcp has sized the pcps (the fast paths wait for it).
    pub(super) pcp_ready: AtomicBool,
    /// Each CPU's fast-path state (see the fastpath module).
    pub(super) cpu_pages: [CpuPages; NR_CPUS],
    /// Every zone by the node and zone bits of a flags word (the zone id),
    /// for the fast free; filled by build_all_zonelists.
    pub(super) zone_table: [ZoneSlot; 1 << (64 - crate::page::ZONEID_PGSHIFT)],
    pub(super) page_group_by_mobility_disabled: bool,
    pub(super) memmap_ready: bool,
    pub(super) min_free_kbytes: AtomicU64,
    pub(super) user_min_free_kbytes: AtomicU64,
    pub(super) watermark_scale_factor: AtomicU64,
    pub(super) totalreserve_pages: AtomicU64,
    pub(super) nr_bad_pages: AtomicU64,
    pub(super) nr_bad_page_reports: AtomicU64,
    pub(super) setup_lock: spin::Mutex<()>,
    /// The kernel's page mover, once it has one (direct compaction uses it).
    pub(super) migrator: spin::Once<&'static dyn crate::migrate::Migrator>,
    pub(super) _hal: PhantomData<fn() -> H>,
}

/// ALLOC_CMA for Movable requests (gfp_to_alloc_flags_cma).
#[inline]
pub(super) fn alloc_flags_cma(mt: MigrateType) -> AllocFlags {
    if mt == MigrateType::Movable { AllocFlags::CMA } else { AllocFlags::empty() }
}

/// Smallest order whose block holds `size_bytes` (get_order).
pub const fn get_order(size_bytes: u64) -> u32 {
    if size_bytes <= PAGE_SIZE {
        return 0;
    }
    64 - ((size_bytes - 1) >> PAGE_SHIFT).leading_zeros()
}

impl<H: Hal> PageAllocator<H> {
    /// An allocator over `map` with no nodes yet; it reaches the platform
    /// (logging, page zeroing) through `H`.
    pub fn new(map: MemMap) -> Self {
        let mut slot = core::mem::MaybeUninit::uninit();
        Self::new_in_place(&mut slot, map);
        // SAFETY: new_in_place wrote every field.
        unsafe { slot.assume_init() }
    }

    /// [`PageAllocator::new`] built in `slot`, field by field, so that the
    /// allocator (about 10 KiB) is never a temporary on the kernel stack.
    pub fn new_in_place(slot: &mut core::mem::MaybeUninit<Self>, map: MemMap) -> &mut Self {
        const NODE_DISTANCE: [[u8; MAX_NUMNODES]; MAX_NUMNODES] = {
            let mut d = [[REMOTE_DISTANCE; MAX_NUMNODES]; MAX_NUMNODES];
            let mut i = 0;
            while i < MAX_NUMNODES {
                d[i][i] = LOCAL_DISTANCE;
                i += 1;
            }
            d
        };

        let this = slot.as_mut_ptr();
        // SAFETY: `this` points to `slot`, valid for writes of Self and
        // aligned; each field is written once, in place (the large arrays
        // are copied from constants), and `slot` is initialised when this
        // returns, so the reference made from it is valid.
        unsafe {
            (&raw mut (*this).map).write(map);
            (&raw mut (*this).nodes).write([const { None }; MAX_NUMNODES]);
            (&raw mut (*this).node_distance).write(NODE_DISTANCE);
            (&raw mut (*this).cpu_to_node).write([NodeId(0); NR_CPUS]);
            (&raw mut (*this).numa_mem).write([0; NR_CPUS]);
            (&raw mut (*this).nr_cpus).write(1);
            (&raw mut (*this).nr_online_nodes).write(0);
            (&raw mut (*this).flags).write(AllocatorFlags::empty());
            (&raw mut (*this).check_pages).write(AtomicBool::new(false));
            (&raw mut (*this).pcp_ready).write(AtomicBool::new(false));
            // Inline constants: copied from the image, not built on the stack.
            (&raw mut (*this).zone_table)
                .write(const { [const { ZoneSlot::empty() }; 1 << (64 - crate::page::ZONEID_PGSHIFT)] });
            (&raw mut (*this).cpu_pages).write(
                const {
                    let mut c = [const { CpuPages::new(0) }; NR_CPUS];
                    let mut i = 0;
                    while i < NR_CPUS {
                        c[i] = CpuPages::new(i);
                        i += 1;
                    }
                    c
                },
            );
            (&raw mut (*this).page_group_by_mobility_disabled).write(false);
            (&raw mut (*this).memmap_ready).write(false);
            (&raw mut (*this).min_free_kbytes).write(AtomicU64::new(DEFAULT_MIN_FREE_KBYTES));
            (&raw mut (*this).user_min_free_kbytes).write(AtomicU64::new(0));
            (&raw mut (*this).watermark_scale_factor).write(AtomicU64::new(DEFAULT_WATERMARK_SCALE_FACTOR));
            (&raw mut (*this).totalreserve_pages).write(AtomicU64::new(0));
            (&raw mut (*this).nr_bad_pages).write(AtomicU64::new(0));
            (&raw mut (*this).nr_bad_page_reports).write(AtomicU64::new(0));
            (&raw mut (*this).setup_lock).write(spin::Mutex::new(()));
            (&raw mut (*this).migrator).write(spin::Once::new());
            (&raw mut (*this)._hal).write(PhantomData);
            slot.assume_init_mut()
        }
    }

    /// Set `init_on_alloc` / `init_on_free`. Set before memory is freed, so
    /// that init_on_free covers it.
    pub fn set_flags(&mut self, flags: AllocatorFlags) {
        self.flags = flags;
        self.store_check_pages(flags.intersects(AllocatorFlags::IMPLY_CHECK_PAGES));
    }

    /// Register the kernel's [`Migrator`](crate::migrate::Migrator): from
    /// then on the slow path may compact (move pages) before failing a
    /// costly allocation. The first registration wins.
    pub fn set_migrator(&self, migrator: &'static dyn crate::migrate::Migrator) {
        self.migrator.call_once(|| migrator);
    }

    /// The registered migrator.
    pub fn migrator(&self) -> Option<&'static dyn crate::migrate::Migrator> {
        self.migrator.get().copied()
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

    /// Log Linux's "mem auto-init" line (report_meminit).
    pub fn report_meminit(&self) {
        let on = |f| if self.flags.contains(f) { "on" } else { "off" };
        H::log(
            LogLevel::Warning,
            format_args!(
                "mem auto-init: stack:off, heap alloc:{}, heap free:{}",
                on(AllocatorFlags::INIT_ON_ALLOC),
                on(AllocatorFlags::INIT_ON_FREE)
            ),
        );
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
    pub(super) fn node(&self, nid: usize) -> Option<&PgData> {
        self.nodes.get(nid)?.as_deref()
    }

    #[inline]
    pub(super) fn zone(&self, zref: ZoneRef) -> Option<&Zone> {
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
}
