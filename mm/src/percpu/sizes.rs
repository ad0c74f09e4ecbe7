//! The per-CPU allocator's sizes, shared by the chunk map and the chunk list.

use crate::PAGE_SIZE;

/// The step of the allocation map: sizes round up to it, offsets are multiples.
pub const PCPU_MIN_ALLOC_SIZE: usize = 4;
/// Space the first chunk keeps for `alloc_percpu` beyond the static
/// variables (Linux's PERCPU_DYNAMIC_RESERVE on 64-bit: 28 KiB).
pub const PCPU_DYNAMIC_RESERVE: usize = 28 << 10;
/// Smallest unit (Linux's PCPU_MIN_UNIT_SIZE).
pub const PCPU_MIN_UNIT_SIZE: usize = 32 << 10;
/// Largest unit a chunk map can describe (this implementation's limit).
pub const PCPU_MAX_UNIT_SIZE: usize = 64 << 10;
/// Chunks the allocator holds at once, the first one included.
pub const PCPU_MAX_CHUNKS: usize = 8;
/// Largest alignment `alloc_percpu` accepts (Linux: PAGE_SIZE).
pub const PCPU_MAX_ALIGN: usize = PAGE_SIZE as usize;
