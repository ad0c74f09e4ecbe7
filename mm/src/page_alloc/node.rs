//! Nodes and zonelists: pg_data_t, struct zonelist and struct zoneref.

use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::config::{MAX_NR_ZONES, MAX_NUMNODES, NodeId};
use crate::mmzone::ZoneType;
use crate::zone::{AllocFlags, Zone};

/// Zones in one zonelist at most.
pub const MAX_ZONES_PER_ZONELIST: usize = MAX_NUMNODES * MAX_NR_ZONES;
/// Index of the zonelist with fallback to other nodes.
pub const ZONELIST_FALLBACK: usize = 0;
/// Index of the node-local zonelist (`__GFP_THISNODE`).
pub const ZONELIST_NOFALLBACK: usize = 1;
/// Zonelists per node.
pub const MAX_ZONELISTS: usize = 2;

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
    pub(super) refs: [ZoneRef; MAX_ZONES_PER_ZONELIST],
    pub(super) nr: usize,
    pub(super) preferred: [Option<ZoneRef>; MAX_NR_ZONES],
    pub(super) fast_flags: [AllocFlags; MAX_NR_ZONES],
}

impl Zonelist {
    pub(super) const EMPTY: Zonelist = Zonelist {
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

    pub(super) fn push(&mut self, zref: ZoneRef) {
        if self.nr < MAX_ZONES_PER_ZONELIST {
            self.refs[self.nr] = zref;
            self.nr += 1;
        }
    }
}

/// A NUMA node (pg_data_t).
pub struct PgData {
    pub(super) node_id: NodeId,
    pub(crate) node_zones: [Zone; MAX_NR_ZONES],
    pub(super) node_zonelists: [Zonelist; MAX_ZONELISTS],
    pub(super) node_start_pfn: u64,
    pub(super) node_spanned_pages: u64,
    pub(super) node_present_pages: u64,
    pub(super) totalreserve_pages: AtomicU64,
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
    pub(super) fn init(
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
