//! The one host test fixture every `mm` test uses.
//!
//! * [`TestHal`]: the fake platform. Its log is captured per test thread
//!   ([`take_log`]), page zeroing is recorded ([`take_zeroed`]) and done for
//!   real in an [`Arena`], `page_address`/`virt_to_pfn` translate through the
//!   arenas, `phys_to_virt` hands memblock fresh memory (or refuses, see
//!   [`set_linear_map`]), `random` is the seeded [`Rng`] of the thread and
//!   `now` a counter. Its linear map keeps the frames debug_pagealloc
//!   unmapped ([`unmapped_frames`]), records every map, unmap and zeroing
//!   in order ([`take_page_events`]) and panics on zeroing an unmapped
//!   frame, unmapping one twice or mapping one that is mapped.
//! * [`Arena`]: real, page-aligned memory standing for a range of frames, at
//!   a PFN range no other test uses, for tests that touch page contents.
//! * [`Rng`]: the one seeded generator (xorshift64), for the fake's
//!   randomness and for every randomized test.
//! * The page-allocator builders ([`build`], [`build_with`]) and the
//!   invariant walk ([`check`]) shared by the page allocator, report and SLUB
//!   tests.
//!
//! * [`FakeMigrator`]: user pages with tags for contents, for the
//!   migration, CMA and compaction tests.
//!
//! Tests run in parallel threads of one process: state that must not mix
//! between tests is thread-local, and arenas never overlap.

mod builders;
mod hal;
mod migrator;

pub use builders::{FreeBlock, NodeSpec, TestFree, buddy_counts, build, build_with, check, storage, two_node_machine};
pub use hal::{
    Arena, LinearMap, Memblock, PageAllocator, PageEvent, Rng, Slub, TestHal, reset_linear_map, set_linear_map,
    take_log, take_maps, take_page_events, take_zeroed, unmapped_frames,
};
pub use migrator::FakeMigrator;
