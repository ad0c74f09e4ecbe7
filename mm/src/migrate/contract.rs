//! The migration contract: what the kernel's page mover promises. In a file
//! of its own, below the page allocator, which holds the kernel's migrator
//! (the driver in `mod.rs` sits above the allocator).

use crate::addr::Pfn;
use crate::page::Page;

/// Why one page did not move.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum MigrateError {
    /// Contended (a lock was held): nothing changed; a later pass may work.
    Again,
    /// Cannot move now (pinned by an extra reference, not movable, no
    /// longer mapped the way it was isolated): nothing changed.
    Busy,
}

/// The kernel's side of migration: it knows the reverse map.
///
/// # Safety
///
/// Implementors promise:
/// 1. `migrate_page(src, dst)` returning `Ok`, or `migrate_batch` setting
///    a pair's result to `Ok`, has made every mapping of `src` a mapping
///    of `dst` with identical contents, left `src` with no mapping and no
///    reference other than the caller's, and given `dst` one reference per
///    mapping (the allocation's reference is consumed); nothing reaches
///    `src`'s memory through a mapping after it returns.
/// 2. An `Err` (returned or set) changed neither page's contents,
///    references or mappings.
/// 3. No function sleeps on a lock the caller may hold (they are called
///    from an allocation's slow path, under the caller's locks):
///    contention is reported as [`MigrateError::Again`].
pub unsafe trait Migrator: Sync {
    /// Whether the in-use `page` (a reference held) is one this migrator
    /// can move (Linux: on an LRU list, or a movable_ops page).
    fn is_movable(&self, page: &Page) -> bool;

    /// Move `src` to `dst`; see the trait documentation.
    fn migrate_page(&self, src: Pfn, dst: Pfn) -> Result<(), MigrateError>;

    /// Move each `pairs[i].0` to `pairs[i].1`, `out[i]` saying how it went
    /// (`out` is as long as `pairs`); every pair on its own as
    /// [`migrate_page`](Self::migrate_page) promises. A migrator that can
    /// share work between the pages of a batch does so here (the kernel's
    /// unmaps a batch, flushes each address space's TLB once, then copies:
    /// Linux's migrate_pages_batch with its deferred TLB flush); the
    /// default moves one page at a time.
    fn migrate_batch(&self, pairs: &[(Pfn, Pfn)], out: &mut [Result<(), MigrateError>]) {
        for (o, &(src, dst)) in out.iter_mut().zip(pairs) {
            *o = self.migrate_page(src, dst);
        }
    }

    /// Wait a little before try `retry` (1, 2, ...) of pages that answered
    /// `Again`: called only by callers that may sleep (alloc_contig_range,
    /// as Linux's MIGRATE_SYNC callers wait on the locks that `Again`
    /// reports), never by compaction, which runs in the allocation slow
    /// path under the caller's locks. The default does not wait.
    fn backoff(&self, _retry: u32) {}
}
