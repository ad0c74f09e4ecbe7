//! The per-CPU state of the page allocator's fast paths (the types; the
//! paths themselves and their design are in the fastpath module).

use core::sync::atomic::{AtomicPtr, Ordering::Relaxed};

use crate::config::MAX_NR_ZONES;
use crate::zone::{AllocFlags, PcpSlot, Zone};

/// One CPU's view of the page allocator: its number and its preferred
/// zones. See the module documentation.
#[repr(align(64))]
pub struct CpuPages {
    pub(super) cpu: usize,
    /// `cpu * size_of::<PcpSlot>()`: this CPU's slot in a zone's pageset.
    pub(super) pcp_offset: usize,
    /// Empty while the fast paths are off (see [`ZoneSlot`]).
    pub(super) preferred: [ZoneSlot; MAX_NR_ZONES],
    pub(super) mt_mask: u32,
    /// ALLOC_NOFRAGMENT for each highest zone, as the zonelist decides
    /// (the fast path of orders above 3 passes it to rmqueue_buddy).
    pub(super) fast_flags: [AllocFlags; MAX_NR_ZONES],
}

/// A slot of the fast-path tables: a zone, or null while the fast paths
/// are off (the per-page checks are on, or the pcps are not sized yet) or
/// there is no such zone.
///
/// # Invariants
///
/// A non-null pointer was taken by `update_fast_off` from a zone inside
/// the PgData the kernel handed to add_node as `&'static mut`, which lives
/// for ever, through a shared reference; the allocator reaches PgData only
/// through shared references from build_all_zonelists on, so the reference
/// [`ZoneSlot::get`] makes aliases no unique one.
pub(super) struct ZoneSlot(AtomicPtr<Zone>);

impl ZoneSlot {
    pub(super) const fn empty() -> ZoneSlot {
        ZoneSlot(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// Point the slot at `zone` (`None`: empty it).
    pub(super) fn set(&self, zone: Option<&Zone>) {
        let p = zone.map_or(core::ptr::null_mut(), |z| core::ptr::from_ref(z).cast_mut());
        self.0.store(p, Relaxed);
    }

    #[inline(always)]
    pub(super) fn get<'a>(&self) -> Option<&'a Zone> {
        let p = self.0.load(Relaxed);
        // SAFETY: the type's invariant: null or a zone that lives for ever,
        // only ever shared.
        if p.is_null() { None } else { Some(unsafe { &*p }) }
    }
}

impl CpuPages {
    pub(super) const fn new(cpu: usize) -> Self {
        Self {
            cpu,
            pcp_offset: cpu * core::mem::size_of::<PcpSlot>(),
            preferred: [const { ZoneSlot::empty() }; MAX_NR_ZONES],
            mt_mask: 3,
            fast_flags: [AllocFlags::empty(); MAX_NR_ZONES],
        }
    }

    /// The CPU these belong to.
    #[inline]
    pub fn cpu(&self) -> usize {
        self.cpu
    }

    /// The first zone at or below `zi` of the CPU's zonelist.
    #[inline(always)]
    pub(super) fn preferred_zone(&self, zi: usize) -> Option<&Zone> {
        self.preferred[zi].get()
    }

    /// This CPU's pcp slot of `zone`.
    #[inline(always)]
    pub(super) fn pcp_slot<'z>(&self, zone: &'z Zone) -> &'z PcpSlot {
        // SAFETY: a CpuPages is built only by PageAllocator::new_in_place,
        // with cpu < NR_CPUS and pcp_offset its slot's offset, neither ever
        // changed.
        unsafe { zone.pcp_slot_at(self.pcp_offset) }
    }
}

/// Whether the per-page checks run (`check_pages`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PageChecks {
    /// Linux's default without CONFIG_DEBUG_VM.
    Off,
    /// check_new_pages and free_page_is_bad on every page of every block.
    On,
}
