//! The allocation commands and their handles: what `alloc_pages`,
//! `kmalloc`, `kmem_cache_alloc`, `vmalloc`, `cma_alloc` and `fragment`
//! took, each kept under a number (from 1, never reused) in the kernel's
//! own owning handle (`Pages`, `KmallocBuf`, `CacheObject`, `VmallocBuf`,
//! `CmaPages`), so `free` is dropping it and nothing can be freed twice.
//! The caches `kmem_cache_create` makes are kept here too.
//!
//! A failed allocation has already said why in the allocator's own words
//! (warn_alloc's `page allocation failure: order:N, mode:...` and the
//! memory summary, vmalloc's and cma_alloc's error lines) unless the GFP
//! flags asked for `__GFP_NOWARN`; the shell adds one line, and the
//! prompt comes back.

use super::objects::{CacheObject, ShellCache};
use super::out::{mm_strerror, say};
use crate::memory::cma::{self, CmaPages};
use crate::memory::kbox::KmallocBuf;
use crate::memory::page_alloc::allocator;
use crate::memory::pages::{Pages, alloc_pages, alloc_pages_node};
use crate::memory::slab::{KMALLOC_SIZES, slub};
use crate::memory::vmalloc::{VmallocBuf, vmalloc};
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use bootdata::shell::FreeWhat;
use mm::config::NodeId;
use mm::gfp::Gfp;
use mm::slub::KmemCache;
use mm::zone::ZoneType;
use mm::{PAGE_SIZE, Pfn};

/// What one handle holds.
enum Held {
    /// `alloc_pages`.
    Pages { pages: Pages, gfp: Gfp },
    /// `kmalloc`.
    Kmalloc { buf: KmallocBuf, gfp: Gfp },
    /// `kmem_cache_alloc`.
    Object(CacheObject),
    /// `vmalloc`.
    Vmalloc(VmallocBuf),
    /// `cma_alloc`.
    Cma(CmaPages),
    /// `fragment`: every other page of a zone, in chunks.
    Fragment { zone: &'static str, node: i32, chunks: Vec<Vec<Pages>> },
}

/// The handles and the caches made.
pub struct Handles {
    next: u32,
    held: BTreeMap<u32, Held>,
    caches: Vec<ShellCache>,
}

/// Where a block is: `Node 0 DMA, Unmovable pageblock`.
fn place(pfn: Pfn) -> String {
    let pa = allocator();
    let zone = pa.memmap().pfn_to_page(pfn).and_then(|p| pa.page_zone(p));
    let mt = pa.pageblock_migratetype(pfn);
    match (zone, mt) {
        (Some(z), Some(mt)) => alloc::format!("Node {} {}, {} pageblock", z.node().0, z.name(), mt.name()),
        (Some(z), None) => alloc::format!("Node {} {}", z.node().0, z.name()),
        _ => String::from("no zone"),
    }
}

/// `1 page`, `8 pages`.
fn nr_pages(n: u64) -> String {
    alloc::format!("{n} page{}", if n == 1 { "" } else { "s" })
}

/// The GFP flags `arg` names (`GFP_KERNEL|__GFP_ZERO`), `default` without
/// one; on a bad name, the error line is printed and `None` returned.
fn parse_gfp(cmd: &str, arg: Option<&str>, default: Gfp) -> Option<Gfp> {
    let Some(arg) = arg else { return Some(default) };
    if let Some(g) = Gfp::parse_names(arg) {
        return Some(g);
    }
    let bad = arg.split('|').find(|w| Gfp::parse_name(w).is_none()).unwrap_or(arg);
    say!(
        "shell: {cmd}: '{bad}': not a GFP flag (GFP_KERNEL, GFP_ATOMIC, GFP_NOWAIT, GFP_DMA, GFP_DMA32, GFP_USER, \
         GFP_HIGHUSER_MOVABLE, __GFP_ZERO, __GFP_MOVABLE, __GFP_NOWARN, ..., or 0xMASK; joined by |)"
    );
    None
}

/// The zone `name` names (`DMA`, `DMA32`, `Normal`, `Movable`; any case).
fn zone_type(name: &str) -> Option<ZoneType> {
    ZoneType::ALL.into_iter().find(|z| z.name().eq_ignore_ascii_case(name))
}

/// Node `nid` if it is online; else the error line is printed.
fn online_node(cmd: &str, nid: u32) -> Option<NodeId> {
    let node = NodeId(i32::try_from(nid).ok()?);
    if allocator().node_data(node).is_some() {
        return Some(node);
    }
    say!("shell: {cmd}: node {nid} is not online");
    None
}

impl Held {
    /// One line: what it is and where.
    fn describe(&self) -> String {
        match self {
            Held::Pages { pages, gfp } if gfp.is_empty() => alloc::format!(
                "alloc_pages order {} 0x0: pfn {:#x} ({}, {})",
                pages.order(),
                pages.pfn().0,
                nr_pages(1 << pages.order()),
                place(pages.pfn())
            ),
            Held::Pages { pages, gfp } => alloc::format!(
                "alloc_pages order {} {}: pfn {:#x} ({}, {})",
                pages.order(),
                gfp,
                pages.pfn().0,
                nr_pages(1 << pages.order()),
                place(pages.pfn())
            ),
            Held::Kmalloc { buf, gfp } => {
                let cache = slub().and_then(|s| s.kmalloc_slab(buf.len(), *gfp)).map_or("kmalloc_large", |c| c.name());
                alloc::format!(
                    "kmalloc {} {}: {:#x} (ksize {}, {})",
                    buf.len(),
                    gfp,
                    buf.as_ptr() as u64,
                    buf.ksize(),
                    cache
                )
            }
            Held::Object(o) => alloc::format!("kmem_cache_alloc {}: {:#x}", o.cache().name(), o.addr().0),
            Held::Vmalloc(v) => alloc::format!(
                "vmalloc {}: {:#x}-{:#x} ({})",
                v.len(),
                v.addr().0,
                v.addr().0 + (v.len() as u64).next_multiple_of(PAGE_SIZE),
                nr_pages((v.len() as u64).div_ceil(PAGE_SIZE))
            ),
            Held::Cma(c) => alloc::format!(
                "cma_alloc {} from {}: pfn {:#x} ({} at {:#x})",
                c.nr_pages(),
                c.area().name(),
                c.pfn().0,
                nr_pages(c.nr_pages()),
                c.phys().0
            ),
            Held::Fragment { zone, node, chunks } => {
                let nr: usize = chunks.iter().map(Vec::len).sum();
                alloc::format!("fragment {zone} node {node}: {nr} pages held (every other page of the zone)")
            }
        }
    }
}

impl Handles {
    /// None yet.
    pub const fn new() -> Self {
        Self { next: 1, held: BTreeMap::new(), caches: Vec::new() }
    }

    fn add(&mut self, h: Held) {
        let n = self.next;
        self.next += 1;
        say!("handle {n}: {}", h.describe());
        self.held.insert(n, h);
    }

    /// `handles`.
    #[inline(never)]
    pub fn list(&self) {
        if self.held.is_empty() && self.caches.is_empty() {
            say!("no handles");
            return;
        }
        for (n, h) in &self.held {
            say!("{n:6}  {}", h.describe());
        }
        for c in &self.caches {
            let k = c.cache();
            say!("cache   {} ({} bytes, made by kmem_cache_create)", k.name(), k.object_size());
        }
    }

    /// kmem_cache_shrink of each cache made here; how many there are.
    #[inline(never)]
    pub fn shrink_caches(&self) -> usize {
        if let Some(s) = slub() {
            for c in &self.caches {
                s.kmem_cache_shrink(arch::percpu::smp_processor_id(), c.cache());
            }
        }
        self.caches.len()
    }

    /// `free HANDLE...` / `free all`.
    #[inline(never)]
    pub fn free(&mut self, what: &FreeWhat) {
        let list: Vec<u32> = match what {
            FreeWhat::All => self.held.keys().copied().collect(),
            FreeWhat::Handles(h) => h.iter().copied().collect(),
        };
        if list.is_empty() {
            say!("no handles");
        }
        for n in list {
            match self.held.remove(&n) {
                Some(h) => {
                    let what = h.describe();
                    drop(h);
                    say!("freed {n}: {what}");
                }
                None => say!("shell: free: no handle {n}"),
            }
        }
    }

    /// `alloc_pages ORDER [GFP [NODE]]`.
    #[inline(never)]
    pub fn alloc_pages(&mut self, order: u32, gfp: Option<&str>, node: Option<u32>) {
        let Some(gfp) = parse_gfp("alloc_pages", gfp, Gfp::KERNEL) else { return };
        let r = match node {
            Some(n) => {
                let Some(nid) = online_node("alloc_pages", n) else { return };
                alloc_pages_node(nid, gfp, order)
            }
            None => alloc_pages(gfp, order),
        };
        match r {
            Ok(pages) => self.add(Held::Pages { pages, gfp }),
            Err(e) => say!("shell: alloc_pages: order {order} {gfp}: {}", mm_strerror(e)),
        }
    }

    /// `kmalloc SIZE [GFP]` (zeroed: kzalloc, so the handle's bytes are
    /// initialised).
    #[inline(never)]
    pub fn kmalloc(&mut self, size_bytes: u64, gfp: Option<&str>) {
        let Some(gfp) = parse_gfp("kmalloc", gfp, Gfp::KERNEL) else { return };
        match KmallocBuf::zalloc(size_bytes as usize, gfp) {
            Ok(buf) => self.add(Held::Kmalloc { buf, gfp }),
            Err(e) => say!("shell: kmalloc: {size_bytes} bytes {gfp}: {}", mm_strerror(e)),
        }
    }

    /// The cache called `name`: one made here, else a kmalloc cache.
    fn find_cache(&self, name: &str) -> Option<&'static KmemCache> {
        if let Some(c) = self.caches.iter().find(|c| c.cache().name() == name) {
            return Some(c.cache());
        }
        let s = slub()?;
        [Gfp::KERNEL, Gfp::DMA]
            .into_iter()
            .flat_map(|gfp| KMALLOC_SIZES.iter().filter_map(move |&size| s.kmalloc_slab(size, gfp)))
            .find(|c| c.name() == name)
    }

    /// `kmem_cache_create NAME SIZE`.
    #[inline(never)]
    pub fn kmem_cache_create(&mut self, name: &str, size_bytes: u64) {
        if self.find_cache(name).is_some() {
            say!("shell: kmem_cache_create: cache \"{name}\" exists");
            return;
        }
        match ShellCache::create(name, size_bytes as usize) {
            Ok(c) => {
                let k = c.cache();
                say!(
                    "kmem_cache_create: {}: object size {}, stride {}, {} objects per slab of order {}",
                    k.name(),
                    k.object_size(),
                    k.size(),
                    k.objects_per_slab(),
                    k.order()
                );
                self.caches.push(c);
            }
            Err(e) => say!("shell: kmem_cache_create: {name}: {}", mm_strerror(e)),
        }
    }

    /// `kmem_cache_alloc NAME`.
    #[inline(never)]
    pub fn kmem_cache_alloc(&mut self, name: &str) {
        let Some(cache) = self.find_cache(name) else {
            say!("shell: kmem_cache_alloc: no such cache \"{name}\" (kmem_cache_create makes one)");
            return;
        };
        match CacheObject::alloc(cache, Gfp::KERNEL) {
            Ok(o) => self.add(Held::Object(o)),
            Err(e) => say!("shell: kmem_cache_alloc: {name}: {}", mm_strerror(e)),
        }
    }

    /// `kmem_cache_destroy NAME`: only a cache made here, with no object held.
    #[inline(never)]
    pub fn kmem_cache_destroy(&mut self, name: &str) {
        let Some(i) = self.caches.iter().position(|c| c.cache().name() == name) else {
            match self.find_cache(name) {
                Some(_) => say!("shell: kmem_cache_destroy: {name} was not made by kmem_cache_create here"),
                None => say!("shell: kmem_cache_destroy: no such cache \"{name}\""),
            }
            return;
        };
        let cache = self.caches[i].cache();
        let holding: Vec<u32> = self
            .held
            .iter()
            .filter(|(_, h)| matches!(h, Held::Object(o) if core::ptr::eq(o.cache(), cache)))
            .map(|(&n, _)| n)
            .collect();
        if !holding.is_empty() {
            say!("shell: kmem_cache_destroy: {name}: handles {holding:?} hold its objects: free them first");
            return;
        }
        match self.caches.swap_remove(i).destroy() {
            Ok(()) => say!("kmem_cache_destroy: {name}: destroyed"),
            Err((e, c)) => {
                say!("shell: kmem_cache_destroy: {name}: {}", mm_strerror(e));
                self.caches.push(c);
            }
        }
    }

    /// `vmalloc SIZE`.
    #[inline(never)]
    pub fn vmalloc(&mut self, size_bytes: u64) {
        match vmalloc(size_bytes) {
            Ok(v) => self.add(Held::Vmalloc(v)),
            Err(e) => say!("shell: vmalloc: {size_bytes} bytes: {}", mm_strerror(e)),
        }
    }

    /// `cma_alloc PAGES [AREA]`: from the named area, else the default one.
    #[inline(never)]
    pub fn cma_alloc(&mut self, nr_pages: u64, area: Option<&str>) {
        let cma = match area {
            Some(name) => cma::areas().find(|c| c.name() == name),
            None => cma::default_area(),
        };
        let Some(cma) = cma else {
            match area {
                Some(name) => say!("shell: cma_alloc: no such CMA area \"{name}\""),
                None => say!("shell: cma_alloc: no default CMA area (cma=0?)"),
            }
            return;
        };
        match cma::cma_alloc(cma, nr_pages, 0, Gfp::KERNEL) {
            Ok(c) => self.add(Held::Cma(c)),
            Err(e) => say!("shell: cma_alloc: {nr_pages} pages from {}: {}", cma.name(), mm_strerror(e)),
        }
    }

    /// `fragment ZONE [NODE]`: take every page the zone hands out (order 0,
    /// without compaction, no fallback to another zone or node), then give
    /// back those at odd PFNs, so no two free pages of the ones given back
    /// are buddies; the handle holds the even ones. These are kernel pages
    /// no migrator can move, so compaction cannot undo it.
    #[inline(never)]
    pub fn fragment(&mut self, zone_name: &str, node: Option<u32>) {
        let Some(zt) = zone_type(zone_name) else {
            say!("shell: fragment: no such zone \"{zone_name}\" (DMA, DMA32, Normal, Movable)");
            return;
        };
        let Some(nid) = online_node("fragment", node.unwrap_or(0)) else { return };
        let pa = allocator();
        let Some(zone) = pa.node_data(nid).map(|p| p.zone(zt)) else { return };
        if !zone.is_managed() {
            say!("shell: fragment: node {} has no {} zone with memory", nid.0, zt.name());
            return;
        }
        let base = match zt {
            ZoneType::Dma => Gfp::KERNEL | Gfp::DMA,
            ZoneType::Dma32 => Gfp::KERNEL | Gfp::DMA32,
            ZoneType::Normal => Gfp::KERNEL,
            ZoneType::Movable => Gfp::HIGHUSER_MOVABLE,
        };
        let gfp = (base | Gfp::THISNODE | Gfp::NOWARN | Gfp::NORETRY).difference(Gfp::DIRECT_RECLAIM);
        // The bookkeeping first, in chunks the allocator can give while
        // memory is still whole: nothing is allocated during the fill.
        const CHUNK: usize = 32 * 1024;
        pa.drain_all_pages();
        let want = zone.free_pages() as usize + CHUNK;
        let mut chunks: Vec<Vec<Pages>> = Vec::new();
        if chunks.try_reserve_exact(want.div_ceil(CHUNK)).is_err() {
            say!("shell: fragment: no memory for the bookkeeping");
            return;
        }
        for _ in 0..want.div_ceil(CHUNK) {
            let mut c = Vec::new();
            if c.try_reserve_exact(CHUNK).is_err() {
                say!("shell: fragment: no memory for the bookkeeping");
                return;
            }
            chunks.push(c);
        }
        let in_zone = |pfn: Pfn| {
            pa.memmap().pfn_to_page(pfn).and_then(|p| pa.page_zone(p)).is_some_and(|z| core::ptr::eq(z, zone))
        };
        let mut taken = 0u64;
        'fill: for c in chunks.iter_mut() {
            while c.len() < CHUNK {
                match alloc_pages_node(nid, gfp, 0) {
                    Ok(p) if in_zone(p.pfn()) => c.push(p),
                    // Another zone's page: this one is as empty as it gets.
                    Ok(_) | Err(_) => break 'fill,
                }
                taken += 1;
            }
        }
        for c in chunks.iter_mut() {
            c.retain(|p| p.pfn().0 % 2 == 0);
        }
        chunks.retain(|c| !c.is_empty());
        pa.drain_all_pages();
        let kept: u64 = chunks.iter().map(|c| c.len() as u64).sum();
        say!(
            "fragment: Node {} {}: took {taken} pages (all it would give), gave back {} (the odd PFNs)",
            nid.0,
            zt.name(),
            taken - kept
        );
        if kept == 0 {
            say!("fragment: nothing held");
            return;
        }
        self.add(Held::Fragment { zone: zt.name(), node: nid.0, chunks });
    }
}
