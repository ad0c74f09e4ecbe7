//! The reverse map of private anonymous pages: from a page to every PTE
//! that maps it (Linux's anon_vma, mm/rmap.c), for migration.
//!
//! # The structure, and why it is enough
//!
//! ```text
//!   AnonVma { id, mms: [Weak<Mm>] }     one per fork tree ("family"):
//!                                       exec makes a new one, fork's
//!                                       child joins its parent's
//!   FAMILIES: id -> Weak<AnonVma>       how a page's id finds its family
//!
//!   page.mapping = id << 2 | PAGE_MAPPING_ANON   (set when the page is made)
//!   page.index   = the virtual page number it is mapped at
//! ```
//!
//! A private anonymous page is created by a fault (or exec) at one address
//! and is only ever shared by fork, which keeps addresses; there is no
//! mremap. So every PTE that maps the page sits at `page.index`, in an mm
//! of the family that created it, and `rmap_walk` is: for each live mm of
//! the family, look up the PTE at that address and see whether it maps the
//! page. Linux needs the anon_vma chain and interval trees because mremap
//! moves VMAs and because it must not visit every mm of a large fork tree;
//! here a family is a handful of processes.
//!
//! Completeness is not trusted, it is checked: the migrator counts the
//! PTEs it found against `page_mapcount` and the references against
//! `page_ref_count`, and refuses the move if any mapping or reference is
//! unaccounted for (a child being forked that is not registered yet, a
//! pinned page).
//!
//! Shared anonymous pages (shmem objects) are not in this map: they are
//! allocated unmovable (see `anon`), so nothing tries to migrate them.
//!
//! # Locks
//!
//! `FAMILIES` and each family's list are leaf locks, held only to register,
//! prune or take a snapshot; never while an mm lock is taken. Registering
//! allocates under them, and that allocation may compact and so migrate:
//! the mover only ever try-locks them.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::PAGE_SHIFT;
use spin::Mutex;

/// Linux's PAGE_MAPPING_ANON: the low bit of `mapping` says "anonymous".
pub const PAGE_MAPPING_ANON: u64 = 1;
/// The low bits of `mapping` that are tags, not the family id.
const MAPPING_TAG_BITS: u32 = 2;

/// One fork tree's address spaces (`M` is the kernel's `Mm`; generic so
/// that this file sits below the one that defines it).
pub struct AnonVma<M: Send + Sync + 'static> {
    id: u64,
    mms: Mutex<Vec<Weak<M>>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Every live family by id, type-erased (one `M` is ever used).
static FAMILIES: Mutex<BTreeMap<u64, Weak<dyn Any + Send + Sync>>> = Mutex::new(BTreeMap::new());

impl<M: Send + Sync + 'static> AnonVma<M> {
    /// A new, empty family (exec's new mm).
    pub fn new() -> Arc<Self> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let av = Arc::new(Self { id, mms: Mutex::new(Vec::new()) });
        let erased: Weak<dyn Any + Send + Sync> = Arc::downgrade(&av) as Weak<dyn Any + Send + Sync>;
        FAMILIES.lock().insert(id, erased);
        av
    }

    /// The `mapping` word of this family's pages.
    pub fn mapping(&self) -> u64 {
        (self.id << MAPPING_TAG_BITS) | PAGE_MAPPING_ANON
    }

    /// `mm` may map this family's pages from now on (exec's mm, or a fork
    /// child before its first PTE is copied).
    pub fn register(&self, mm: &Arc<M>) {
        let mut mms = self.mms.lock();
        mms.retain(|w| w.strong_count() > 0);
        mms.push(Arc::downgrade(mm));
    }

    /// Forget members that are gone (an mm's drop calls it).
    pub fn prune(&self) {
        self.mms.lock().retain(|w| w.strong_count() > 0);
    }

    /// The live members, at most `N` of them, into `out`: `Ok(None)` if
    /// there are more (the caller gives up on the page rather than
    /// allocating), `Err` if the list is locked (the caller may run in an
    /// allocation's slow path under this very lock: it never waits).
    pub fn snapshot<const N: usize>(&self, out: &mut [Option<Arc<M>>; N]) -> Result<Option<usize>, ()> {
        let mms = self.mms.try_lock().ok_or(())?;
        let mut n = 0;
        for w in mms.iter() {
            if let Some(mm) = w.upgrade() {
                if n == N {
                    return Ok(None);
                }
                out[n] = Some(mm);
                n += 1;
            }
        }
        Ok(Some(n))
    }
}

impl<M: Send + Sync + 'static> Drop for AnonVma<M> {
    fn drop(&mut self) {
        FAMILIES.lock().remove(&self.id);
    }
}

/// The family a page's `mapping` word names, if it is a private anonymous
/// page whose family still lives (page_get_anon_vma). `None` also when
/// the table is locked: a mover never waits (see `migrate`).
pub fn page_anon_vma<M: Send + Sync + 'static>(mapping: u64) -> Option<Arc<AnonVma<M>>> {
    if !is_anon_mapping(mapping) {
        return None;
    }
    let any = FAMILIES.try_lock()?.get(&(mapping >> MAPPING_TAG_BITS))?.upgrade()?;
    any.downcast::<AnonVma<M>>().ok()
}

/// Whether `mapping` marks a private anonymous page (PageAnon).
pub fn is_anon_mapping(mapping: u64) -> bool {
    mapping & ((1 << MAPPING_TAG_BITS) - 1) == PAGE_MAPPING_ANON
}

/// The `index` word of a page mapped at `va` (linear_page_index).
pub fn page_index(va: u64) -> u64 {
    va >> PAGE_SHIFT
}

/// The address a page with `index` is mapped at (vma_address).
pub fn page_address_in_mm(index: u64) -> u64 {
    index << PAGE_SHIFT
}

/// Families alive (for the self-tests: none may leak).
pub fn nr_families() -> usize {
    FAMILIES.lock().len()
}
