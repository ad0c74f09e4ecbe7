//! A fake [`Migrator`] for the CMA, isolation and compaction tests: "user
//! pages" are allocated pages it adopts, each carrying a tag (standing for
//! its contents) in its `mapping` word and one mapping that holds the
//! allocation's reference. Migrating moves the tag, as copying would move
//! the bytes; pins (an extra reference) make a page Busy, and a page can
//! be told to answer Again a number of times.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::addr::Pfn;
use crate::migrate::{MigrateError, Migrator};
use crate::page::{MemMap, Page};

use super::PageAllocator;

/// See the module documentation.
pub struct FakeMigrator<'a> {
    map: &'a MemMap,
    contended: Mutex<HashMap<u64, u32>>,
    moves: AtomicU64,
}

const ANON: u64 = 1;

impl<'a> FakeMigrator<'a> {
    /// A migrator over `pa`'s descriptors.
    pub fn new(pa: &'a PageAllocator) -> Self {
        Self { map: pa.memmap(), contended: Mutex::new(HashMap::new()), moves: AtomicU64::new(0) }
    }

    fn page(&self, pfn: Pfn) -> &Page {
        self.map.pfn_to_page(pfn).expect("fake migrator: pfn outside the memmap")
    }

    /// Make the freshly allocated order-0 page `pfn` (refcount 1) a user
    /// page with contents `tag` (nonzero).
    pub fn adopt(&self, pfn: Pfn, tag: u64) {
        assert!(tag != 0 && tag < 1 << 62);
        let p = self.page(pfn);
        assert_eq!(p.page_ref_count(), 1, "adopt: not a fresh page");
        p.set_mapping((tag << 1) | ANON);
        p.set_raw_mapcount(0);
    }

    /// The contents of the user page `pfn`, if it is one.
    pub fn tag(&self, pfn: Pfn) -> Option<u64> {
        let m = self.page(pfn).mapping();
        (m & ANON != 0).then_some(m >> 1)
    }

    /// Unmap the user page `pfn` and free it.
    pub fn release(&self, pa: &PageAllocator, pfn: Pfn) {
        let p = self.page(pfn);
        assert!(self.tag(pfn).is_some(), "release: not a user page");
        p.set_mapping(0);
        p.set_raw_mapcount(-1);
        // SAFETY: the mapping's reference, given up; the test uses the page
        // no more.
        unsafe { pa.put_page(0, pfn) };
    }

    /// Pin `pfn` (an extra reference, as get_user_pages would take).
    pub fn pin(&self, pfn: Pfn) {
        self.page(pfn).get_page();
    }

    /// Drop a pin taken by [`Self::pin`].
    pub fn unpin(&self, pfn: Pfn) {
        assert!(self.page(pfn).put_ref_nonzero(), "unpin: not pinned");
    }

    /// Make the next `times` migrations of `pfn` answer Again.
    pub fn contend(&self, pfn: Pfn, times: u32) {
        self.contended.lock().unwrap().insert(pfn.0, times);
    }

    /// Pages moved so far.
    pub fn moves(&self) -> u64 {
        self.moves.load(Ordering::Relaxed)
    }
}

// SAFETY: 1. a successful move gives `dst` the tag (the contents) and the
// one mapping with its reference (the allocation's), and leaves `src` with
// no mapping and only the caller's reference (the mapping's reference is
// consumed: the count goes from 2 to 1 by clearing the mapping, as the
// kernel's migrator transfers it); 2. every refusal returns before any
// change; 3. it takes only its own mutex.
unsafe impl Migrator for FakeMigrator<'_> {
    fn is_movable(&self, page: &Page) -> bool {
        page.mapping() & ANON != 0 && page.page_mapcount() > 0
    }

    fn migrate_page(&self, src: Pfn, dst: Pfn) -> Result<(), MigrateError> {
        if let Some(left) = self.contended.lock().unwrap().get_mut(&src.0)
            && *left > 0
        {
            *left -= 1;
            return Err(MigrateError::Again);
        }
        let (s, d) = (self.page(src), self.page(dst));
        if !self.is_movable(s) {
            return Err(MigrateError::Busy);
        }
        // The mapping's reference and the caller's isolation reference.
        if s.page_ref_count() != 2 {
            return Err(MigrateError::Busy);
        }
        assert_eq!(d.page_ref_count(), 1, "migrate_page: target not fresh");
        d.set_mapping(s.mapping());
        d.set_raw_mapcount(0);
        s.set_mapping(0);
        s.set_raw_mapcount(-1);
        assert!(s.put_ref_nonzero());
        self.moves.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}
