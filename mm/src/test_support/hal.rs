//! The fake platform, the arenas, the seeded generator and the captures.

use core::cell::{Cell, RefCell};
use core::fmt;
use core::ptr::NonNull;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::addr::{PAGE_SIZE, Pfn, PhysAddr};
use crate::config::PAGES_PER_SECTION;
use crate::hal::{Hal, LinearMapping, LogLevel};

/// The page allocator over the fake platform.
pub type PageAllocator = crate::page_alloc::PageAllocator<TestHal>;
/// SLUB over the fake platform.
pub type Slub = crate::slub::Slub<TestHal>;
/// memblock over the fake platform.
pub type Memblock = crate::memblock::Memblock<TestHal>;

/// xorshift64 with a fixed seed: small, deterministic, good enough to pick
/// operations and to stand in for the kernel's random source.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    /// The seed every test thread's fake random source starts from.
    pub const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// How the fake linear map answers memblock's `phys_to_virt`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LinearMap {
    /// Fresh, zeroed, page-aligned memory for every request (recorded).
    Fresh,
    /// `None`: the range is not mapped.
    Refuse,
    /// A pointer that is not aligned for a region array.
    Misaligned,
}

/// What the fake linear map saw, in order: the debug_pagealloc tests check
/// both the ranges and that zeroing happens only while frames are mapped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PageEvent {
    /// `zero_pages(pfn, nr_pages)`.
    Zeroed(u64, u64),
    /// `kernel_map_pages(pfn, nr_pages, Map)`.
    Mapped(u64, u64),
    /// `kernel_map_pages(pfn, nr_pages, Unmap)`.
    Unmapped(u64, u64),
}

thread_local! {
    static PAGE_EVENTS: RefCell<Vec<PageEvent>> = const { RefCell::new(Vec::new()) };
    /// Frames the fake's linear map has unmapped (debug_pagealloc).
    static UNMAPPED: RefCell<std::collections::BTreeSet<u64>> = const { RefCell::new(std::collections::BTreeSet::new()) };
    static LOG: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static ZEROED: RefCell<Vec<(u64, u64)>> = const { RefCell::new(Vec::new()) };
    static MAPS: RefCell<Vec<(u64, usize)>> = const { RefCell::new(Vec::new()) };
    static LINEAR: Cell<LinearMap> = const { Cell::new(LinearMap::Fresh) };
    static RNG: RefCell<Rng> = const { RefCell::new(Rng(Rng::SEED)) };
}

/// (first pfn, nr pages, address) of every arena.
static ARENAS: Mutex<Vec<(u64, u64, usize)>> = Mutex::new(Vec::new());
/// The next section number an arena may start at (far above test memory).
static NEXT_SECTION: AtomicU64 = AtomicU64::new(1 << 12);
static NOW: AtomicU64 = AtomicU64::new(0);

/// The lines logged on this thread since the last call.
pub fn take_log() -> Vec<String> {
    LOG.with(|l| core::mem::take(&mut *l.borrow_mut()))
}

/// The `(pfn, nr_pages)` zeroed on this thread since the last call.
pub fn take_zeroed() -> Vec<(u64, u64)> {
    ZEROED.with(|z| core::mem::take(&mut *z.borrow_mut()))
}

/// The `(pa, bytes)` memblock mapped on this thread since the last call.
pub fn take_maps() -> Vec<(u64, usize)> {
    MAPS.with(|m| core::mem::take(&mut *m.borrow_mut()))
}

/// The zeroing and map/unmap calls made on this thread since the last call.
pub fn take_page_events() -> Vec<PageEvent> {
    PAGE_EVENTS.with(|e| core::mem::take(&mut *e.borrow_mut()))
}

/// Forget this thread's page events and map every frame again: for a test
/// that builds a second allocator over the same frames.
pub fn reset_linear_map() {
    PAGE_EVENTS.with(|e| e.borrow_mut().clear());
    UNMAPPED.with(|u| u.borrow_mut().clear());
}

/// The frames the fake's linear map holds unmapped on this thread, in order.
pub fn unmapped_frames() -> Vec<u64> {
    UNMAPPED.with(|u| u.borrow().iter().copied().collect())
}

/// Choose how `phys_to_virt` answers on this thread.
pub fn set_linear_map(mode: LinearMap) {
    LINEAR.with(|l| l.set(mode));
}

/// Real memory for `nr_pages` frames at a PFN range of its own, aligned
/// like the linear map (a block of 2^order frames is 2^order pages aligned,
/// up to 4 MiB). Leaked: tests keep pointers into it in `'static` allocators.
pub struct Arena {
    /// The first frame.
    pub base_pfn: u64,
}

impl Arena {
    /// A zeroed arena starting at a section boundary.
    pub fn new(nr_pages: u64) -> Arena {
        let sections = nr_pages.div_ceil(PAGES_PER_SECTION);
        let base_pfn = NEXT_SECTION.fetch_add(sections, Ordering::Relaxed) * PAGES_PER_SECTION;
        let layout = std::alloc::Layout::from_size_align((nr_pages * PAGE_SIZE) as usize, 4 << 20).unwrap();
        // SAFETY: the layout has a non-zero size.
        let mem = unsafe { std::alloc::alloc_zeroed(layout) };
        assert!(!mem.is_null());
        ARENAS.lock().unwrap().push((base_pfn, nr_pages, mem as usize));
        Arena { base_pfn }
    }
}

fn arena_address(pfn: u64) -> Option<*mut u8> {
    let arenas = ARENAS.lock().unwrap();
    arenas.iter().find_map(|&(start, nr, addr)| {
        (start..start + nr).contains(&pfn).then(|| (addr + ((pfn - start) * PAGE_SIZE) as usize) as *mut u8)
    })
}

/// The fake platform.
pub struct TestHal;

// SAFETY: 1. page_address translates only through the arenas (leaked,
// page-aligned, contiguous per arena, never freed) and panics for any other
// frame, so it never returns an address that is not the frame's. 2.
// virt_to_pfn inverts exactly that. 3. phys_to_virt returns fresh leaked
// memory of the requested size, page-aligned (or a deliberately misaligned
// pointer into such memory, which memblock must refuse, or None). 4.
// zero_pages writes only inside the arena frames named. 5. Nothing here
// calls into an allocator.
unsafe impl Hal for TestHal {
    fn log(_level: LogLevel, args: fmt::Arguments<'_>) {
        LOG.with(|l| l.borrow_mut().push(args.to_string()));
    }

    fn random() -> u64 {
        RNG.with(|r| r.borrow_mut().next())
    }

    fn now() -> u64 {
        NOW.fetch_add(1, Ordering::Relaxed)
    }

    fn page_address(pfn: Pfn) -> *mut u8 {
        arena_address(pfn.0).unwrap_or_else(|| panic!("pfn {pfn:?} not in an arena"))
    }

    fn virt_to_pfn(p: *const u8) -> Option<Pfn> {
        let a = p as usize;
        let arenas = ARENAS.lock().unwrap();
        arenas.iter().find_map(|&(start, nr, addr)| {
            (a >= addr && a < addr + (nr * PAGE_SIZE) as usize).then(|| Pfn(start + ((a - addr) as u64 / PAGE_SIZE)))
        })
    }

    fn phys_to_virt(pa: PhysAddr, size_bytes: u64) -> Option<NonNull<u8>> {
        let mode = LINEAR.with(Cell::get);
        if mode == LinearMap::Refuse {
            return None;
        }
        MAPS.with(|m| m.borrow_mut().push((pa.0, size_bytes as usize)));
        let layout = std::alloc::Layout::from_size_align(size_bytes as usize + 8, PAGE_SIZE as usize).ok()?;
        // SAFETY: the layout has a non-zero size.
        let mem = NonNull::new(unsafe { std::alloc::alloc_zeroed(layout) })?;
        match mode {
            LinearMap::Misaligned => NonNull::new(mem.as_ptr().wrapping_add(1)),
            _ => Some(mem),
        }
    }

    fn zero_pages(pfn: Pfn, nr_pages: u64) {
        ZEROED.with(|z| z.borrow_mut().push((pfn.0, nr_pages)));
        PAGE_EVENTS.with(|e| e.borrow_mut().push(PageEvent::Zeroed(pfn.0, nr_pages)));
        UNMAPPED.with(|u| {
            let u = u.borrow();
            if let Some(f) = u.range(pfn.0..pfn.0 + nr_pages).next() {
                panic!("zero_pages({:#x}, {nr_pages}) writes frame {f:#x}, which is unmapped", pfn.0);
            }
        });
        for i in 0..nr_pages {
            if let Some(p) = arena_address(pfn.0 + i) {
                // SAFETY: `p` is the start of an arena frame: PAGE_SIZE bytes
                // of leaked memory that only the allocator's owner uses.
                unsafe { p.write_bytes(0, PAGE_SIZE as usize) };
            }
        }
    }

    /// Keeps the set of unmapped frames and refuses what the kernel's
    /// linear map would turn into a silent bug: unmapping a frame twice
    /// (a double free got past the checks) or mapping a frame that is
    /// mapped (a block handed out that was never free).
    fn kernel_map_pages(pfn: Pfn, nr_pages: u64, how: LinearMapping) {
        let range = pfn.0..pfn.0 + nr_pages;
        UNMAPPED.with(|u| {
            let mut u = u.borrow_mut();
            for f in range.clone() {
                let changed = match how {
                    LinearMapping::Unmap => u.insert(f),
                    LinearMapping::Map => u.remove(&f),
                };
                assert!(changed, "{how:?} of frame {f:#x} ({:#x}+{nr_pages}), which already was", pfn.0);
            }
        });
        let event = match how {
            LinearMapping::Map => PageEvent::Mapped(pfn.0, nr_pages),
            LinearMapping::Unmap => PageEvent::Unmapped(pfn.0, nr_pages),
        };
        PAGE_EVENTS.with(|e| e.borrow_mut().push(event));
    }
}
