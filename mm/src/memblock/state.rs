//! struct memblock: the two arrays and the settings.

use core::marker::PhantomData;

use core::fmt;

use crate::addr::PhysAddr;
use crate::hal::Hal;

use super::memblock_type::MemblockType;
use super::region::{AllocDirection, MEMBLOCK_ALLOC_ANYWHERE};

/// Which of the two arrays an internal operation works on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Which {
    Memory,
    Reserved,
}

/// Whether an internal insertion may grow the array.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Growth {
    Allow,
    /// Used while growing: room was made beforehand, running out is a bug.
    Forbid,
}

/// Whether an allocation may leave the requested node (`exact_nid`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum NodeFallback {
    AnyNode,
    ExactNode,
}

#[derive(Clone, Copy)]
pub(super) enum FlagChange {
    Set,
    Clear,
}

/// The boot memory map and allocator (struct memblock).
///
/// # Invariants
///
/// `memory` and `reserved` keep [`MemblockType`]'s invariants between calls;
/// every grown array's range is inside `reserved` unless a caller freed it.
pub struct Memblock<H> {
    pub(super) memory: MemblockType,
    pub(super) reserved: MemblockType,
    pub(super) direction: AllocDirection,
    pub(super) current_limit: PhysAddr,
    pub(super) has_mirror: bool,
    pub(super) debug: bool,
    pub(super) resize_allowed: bool,
    pub(super) retired: bool,
    pub(super) _hal: PhantomData<fn() -> H>,
}

impl<H: Hal> Default for Memblock<H> {
    fn default() -> Self {
        Self::new()
    }
}

impl<H> fmt::Debug for Memblock<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Memblock")
            .field("memory", &self.memory)
            .field("reserved", &self.reserved)
            .field("direction", &self.direction)
            .field("current_limit", &self.current_limit)
            .finish_non_exhaustive()
    }
}

impl<H: Hal> Memblock<H> {
    /// An empty memblock: no memory, nothing reserved, top-down, no limit,
    /// no debug log, and no growth until [`Memblock::allow_resize`].
    pub const fn new() -> Self {
        Self {
            memory: MemblockType::new("memory"),
            reserved: MemblockType::new("reserved"),
            direction: AllocDirection::TopDown,
            current_limit: MEMBLOCK_ALLOC_ANYWHERE,
            has_mirror: false,
            debug: false,
            resize_allowed: false,
            retired: false,
            _hal: PhantomData,
        }
    }

    /// The page allocator owns the free memory now (memblock_free_all ran):
    /// every later allocation fails with `Busy`, and the arrays no longer
    /// grow. The arrays stay for queries (Linux's ARCH_KEEP_MEMBLOCK).
    pub fn retire(&mut self) {
        self.retired = true;
        self.resize_allowed = false;
    }

    /// Whether [`Memblock::retire`] was called.
    pub fn is_retired(&self) -> bool {
        self.retired
    }

    // ----- configuration -------------------------------------------------

    /// The `memory` array.
    pub fn memory(&self) -> &MemblockType {
        &self.memory
    }

    /// The `reserved` array.
    pub fn reserved(&self) -> &MemblockType {
        &self.reserved
    }

    /// Whether `memblock=debug` is on.
    pub fn debug(&self) -> bool {
        self.debug
    }

    /// Turn `memblock=debug` logging (through `H::log` at `Info`) on or off.
    pub fn set_debug(&mut self, on: bool) {
        self.debug = on;
    }

    /// Let the arrays grow (memblock_allow_resize): new arrays are reached
    /// through `H::phys_to_virt`, so call this once the linear map covers
    /// memory. [`Memblock::retire`] forbids growth again.
    pub fn allow_resize(&mut self) {
        self.resize_allowed = true;
    }

    /// Whether the arrays may grow.
    pub fn resize_allowed(&self) -> bool {
        self.resize_allowed
    }

    /// Choose the search direction of allocations (memblock_set_bottom_up).
    pub fn set_direction(&mut self, direction: AllocDirection) {
        self.direction = direction;
    }

    /// The search direction of allocations.
    pub fn direction(&self) -> AllocDirection {
        self.direction
    }

    /// memblock_bottom_up.
    pub fn bottom_up(&self) -> bool {
        self.direction == AllocDirection::BottomUp
    }

    /// Limit for [`MEMBLOCK_ALLOC_ACCESSIBLE`](super::region::MEMBLOCK_ALLOC_ACCESSIBLE) allocations and grown arrays
    /// (memblock_set_current_limit), typically the end of what is mapped.
    pub fn set_current_limit(&mut self, limit: PhysAddr) {
        self.current_limit = limit;
    }

    /// memblock_get_current_limit.
    pub fn current_limit(&self) -> PhysAddr {
        self.current_limit
    }

    /// Whether some memory was marked mirrored (memblock_has_mirror).
    pub fn has_mirror(&self) -> bool {
        self.has_mirror
    }
}

// The kernel keeps a `Memblock` in a `static spin::Mutex`.
#[allow(dead_code)]
const fn memblock_is_send<H: Hal>() {
    const fn assert_send<T: Send>() {}
    assert_send::<Memblock<H>>();
}
