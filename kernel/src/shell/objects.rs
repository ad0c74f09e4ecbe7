//! The slab caches the shell makes and the objects it takes from caches,
//! as owning handles: a [`CacheObject`] goes back to its cache on drop, a
//! [`ShellCache`] is destroyed only by [`ShellCache::destroy`], which the
//! shell calls once none of its objects is held. The unsafe code of the
//! shell is here: mm's `kmem_cache_free` and `kmem_cache_destroy` are
//! `unsafe fn`s whose callers vouch for the object and the cache.
//!
//! Only the shell (on the boot CPU, one command at a time) uses these
//! caches and objects. A cache's name is leaked (a few bytes per
//! `kmem_cache_create`): SLUB keeps `&'static str` names.

use crate::memory::slab::slub;
use alloc::boxed::Box;
use core::ptr::NonNull;
use mm::gfp::Gfp;
use mm::slub::{KmemCache, SlabFlags};
use mm::{Error, VirtAddr};

fn cpu() -> usize {
    arch::percpu::smp_processor_id()
}

/// A cache the shell made with `kmem_cache_create`.
///
/// # Invariants
/// `cache` is live: made by `kmem_cache_create` and not destroyed; only
/// the shell uses it.
pub struct ShellCache {
    cache: &'static KmemCache,
}

impl ShellCache {
    /// kmem_cache_create(name, size, 8, 0, NULL).
    pub fn create(name: &str, size_bytes: usize) -> Result<Self, Error> {
        let s = slub().ok_or(Error::NotFound)?;
        let name: &'static str = Box::leak(Box::from(name));
        let cache = s.kmem_cache_create(cpu(), name, size_bytes, 8, SlabFlags::empty(), None)?;
        Ok(ShellCache { cache })
    }

    /// The cache.
    pub fn cache(&self) -> &'static KmemCache {
        self.cache
    }

    /// kmem_cache_destroy. With objects left (a [`CacheObject`] of the
    /// cache is one) SLUB reports the cache and refuses (`Busy`), and the
    /// cache is handed back; the shell checks its handles first, so that
    /// refusal is only a second line of defence.
    pub fn destroy(self) -> Result<(), (Error, ShellCache)> {
        let Some(s) = slub() else { return Err((Error::NotFound, self)) };
        // SAFETY: 1. the cache is the shell's alone (the invariant) and
        // `self` is consumed; a CacheObject, the only other reference,
        // is a live object, with which SLUB refuses and nothing is freed.
        // 2. only the shell, on one CPU, uses the cache.
        match unsafe { s.kmem_cache_destroy(cpu(), self.cache) } {
            Ok(()) => Ok(()),
            Err(e) => Err((e, self)),
        }
    }
}

/// An object of a slab cache, freed back to it on drop.
///
/// # Invariants
/// `ptr` is a live object of `cache`, owned by this handle alone.
pub struct CacheObject {
    cache: &'static KmemCache,
    ptr: NonNull<u8>,
}

impl CacheObject {
    /// kmem_cache_alloc(cache, gfp).
    pub fn alloc(cache: &'static KmemCache, gfp: Gfp) -> Result<Self, Error> {
        let s = slub().ok_or(Error::NotFound)?;
        let ptr = s.kmem_cache_alloc(cpu(), cache, gfp)?;
        Ok(CacheObject { cache, ptr })
    }

    /// The cache it came from.
    pub fn cache(&self) -> &'static KmemCache {
        self.cache
    }

    /// The object's address.
    pub fn addr(&self) -> VirtAddr {
        VirtAddr(self.ptr.as_ptr() as u64)
    }
}

impl Drop for CacheObject {
    fn drop(&mut self) {
        if let Some(s) = slub() {
            // SAFETY: 1. a live object of `cache` that this handle alone
            // owns (the invariant); the handle is going, so nothing uses it.
            unsafe { s.kmem_cache_free(cpu(), self.cache, self.ptr.as_ptr()) };
        }
    }
}
