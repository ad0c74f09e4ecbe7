//! /proc/slabinfo.

use core::fmt;

use crate::hal::Hal;

use super::allocator::Slub;
use super::cache::KmemCache;
use super::raw;

impl<H: Hal> Slub<H> {
    // ----- statistics ---------------------------------------------------

    /// Objects handed out and not freed: the per-CPU and per-node counts
    /// summed, each read under its lock (exact when the cache is quiet;
    /// sheaves hold freed objects, which do not count).
    pub(super) fn active_objs(&self, cache: &KmemCache) -> usize {
        let cpus: isize = cache.cpu_slab().iter().map(|s| s.lock().nr_active).sum();
        let nodes: isize = cache.node.iter().map(|n| n.lock().nr_active).sum();
        (cpus + nodes).max(0) as usize
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
