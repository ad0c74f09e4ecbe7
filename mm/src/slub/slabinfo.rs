//! /proc/slabinfo.

use core::fmt;

use crate::hal::Hal;

use super::allocator::Slub;
use super::cache::KmemCache;
use super::raw;
use crate::addr::Pfn;
use crate::page::NONE_PFN;

impl<H: Hal> Slub<H> {
    // ----- statistics ---------------------------------------------------

    /// Objects handed out and not freed: every object of the cache's slabs
    /// less the free ones (Linux's count_partial walk, made exact): those
    /// on the freelists of partial slabs (node and CPU partial lists) and
    /// of the CPU slabs, the CPU freelists and the sheaves. Each part is
    /// read under the lock that orders it, one lock at a time, so the sum
    /// is exact when the cache is quiet. Full slabs have no free object and
    /// are not walked; nothing on the fast paths counts. Objects a repair
    /// cut off a corrupt freelist (`KmemCacheNode::isolated`) are left out.
    pub(super) fn active_objs(&self, cache: &KmemCache) -> usize {
        let map = self.pa.memmap();
        let slab_free = |pfn: u64| {
            let c = self.slab_at(Pfn(pfn)).counters();
            c.objects.saturating_sub(c.inuse) as usize
        };
        let mut free = 0;
        for slot in cache.cpu_slab() {
            let cs = slot.lock();
            free += cs.nr_sheaf;
            if cs.slab != NONE_PFN {
                free += slab_free(cs.slab);
                // SAFETY: `cs.freelist` heads the CPU freelist of its frozen
                // slab, which the slot lock we hold orders (raw::freelist_len 1).
                free += unsafe { raw::freelist_len(cache, cs.freelist) };
            }
            free += cs.partial.iter(map).map(|v| slab_free(v.get())).sum::<usize>();
        }
        let (mut total, mut isolated) = (0, 0);
        for node in &cache.node {
            let n = node.lock();
            total += n.total_objects;
            isolated += n.isolated;
            free += n.partial.iter(map).map(|v| slab_free(v.get())).sum::<usize>();
        }
        (total.saturating_sub(free) as isize - isolated).max(0) as usize
    }

    /// /proc/slabinfo numbers of a cache.
    pub fn cache_info(&self, cache: &KmemCache) -> SlabInfo {
        let mut num_slabs = 0;
        let mut num_objs = 0;
        for n in &cache.node {
            let n = n.lock();
            num_slabs += n.nr_slabs;
            num_objs += n.total_objects;
        }
        let active_objs = self.active_objs(cache);
        SlabInfo {
            active_objs,
            num_objs,
            objsize: cache.size,
            objperslab: cache.objects as usize,
            pagesperslab: 1 << cache.order,
            active_slabs: num_slabs,
            num_slabs,
        }
    }

    /// Write /proc/slabinfo (version 2.1).
    pub fn slabinfo(&self, out: &mut impl fmt::Write) -> fmt::Result {
        writeln!(out, "slabinfo - version: 2.1")?;
        writeln!(
            out,
            "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab> : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
        )?;
        let list = self.caches.lock();
        for &p in list.caches[..list.nr].iter().rev() {
            // SAFETY: entries of the cache list are live caches placed by
            // create_cache (destroy removes them under this lock before
            // freeing) (raw::cache_at 1).
            let cache = unsafe { raw::cache_at(p) };
            let s = self.cache_info(cache);
            writeln!(
                out,
                "{:<17} {:6} {:6} {:6} {:4} {:4} : tunables {:4} {:4} {:4} : slabdata {:6} {:6} {:6}",
                cache.name,
                s.active_objs,
                s.num_objs,
                s.objsize,
                s.objperslab,
                s.pagesperslab,
                0,
                0,
                0,
                s.active_slabs,
                s.num_slabs,
                0
            )?;
        }
        Ok(())
    }
}

/// One cache's /proc/slabinfo columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabInfo {
    /// Objects handed out.
    pub active_objs: usize,
    /// Objects in all slabs.
    pub num_objs: usize,
    /// Slot size.
    pub objsize: usize,
    /// Objects per slab.
    pub objperslab: usize,
    /// Pages per slab.
    pub pagesperslab: usize,
    /// Slabs (SLUB counts all as active).
    pub active_slabs: usize,
    /// Slabs.
    pub num_slabs: usize,
}
