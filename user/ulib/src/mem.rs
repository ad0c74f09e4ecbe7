//! [`Mapping`]: an owning handle on an anonymous mapping, reached only by
//! volatile loads and stores at byte offsets. No Rust reference to its
//! memory ever exists, so the program may change its protection, unmap
//! parts of it, discard it with `MADV_DONTNEED` or fork with it, and each
//! access is a real load or store the compiler neither drops nor merges:
//! exactly what a page-fault test must control. An access the protection
//! forbids is a fault the kernel turns into SIGSEGV, which is the outcome
//! such a test wants to see, not undefined behaviour of this program.
use crate::errno::Errno;
use crate::sys::{self, PAGE_SIZE};

/// `len` bytes of address space at `addr`, unmapped on drop.
///
/// # Invariants
/// `[addr, addr + len)` was returned by `mmap` (or handed over with
/// [`Mapping::from_raw`]) and is referenced by no Rust reference.
pub struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    /// `mmap(NULL, len, prot, flags, -1, 0)`.
    pub fn new(len: usize, prot: usize, flags: usize) -> Result<Mapping, Errno> {
        let addr = sys::mmap(0, len, prot, flags)?;
        Ok(Mapping { addr, len })
    }

    /// A private anonymous read-write mapping of `nr_pages` pages.
    pub fn anon(nr_pages: usize) -> Result<Mapping, Errno> {
        Mapping::new(nr_pages * PAGE_SIZE, sys::prot::RW, sys::map::ANON)
    }

    /// Takes ownership of a range of address space the program obtained
    /// itself (e.g. from `brk` or a `MAP_FIXED` mapping).
    ///
    /// # Safety
    /// 1. No Rust reference points into `[addr, addr + len)`, and no other
    ///    `Mapping` owns any of it.
    /// 2. Unmapping it on drop harms nothing else (or the caller
    ///    [`forget`](Mapping::forget)s the handle).
    pub unsafe fn from_raw(addr: usize, len: usize) -> Mapping {
        Mapping { addr, len }
    }

    pub fn addr(&self) -> usize {
        self.addr
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn nr_pages(&self) -> usize {
        self.len.div_ceil(PAGE_SIZE)
    }

    /// Gives the range up without unmapping it.
    pub fn forget(self) {
        core::mem::forget(self);
    }

    fn at<T>(&self, off: usize) -> *mut T {
        let size = core::mem::size_of::<T>();
        assert!(
            off.is_multiple_of(size) && off.checked_add(size).is_some_and(|end| end <= self.len),
            "Mapping: bad offset"
        );
        (self.addr + off) as *mut T
    }

    pub fn read_u8(&self, off: usize) -> u8 {
        let p = self.at::<u8>(off);
        // SAFETY: p lies inside the mapping (checked by `at`), which no Rust
        // reference aliases (the invariant); a load the protection forbids
        // faults and the kernel ends the process.
        unsafe { p.read_volatile() }
    }

    pub fn write_u8(&self, off: usize, v: u8) {
        let p = self.at::<u8>(off);
        // SAFETY: as in read_u8.
        unsafe { p.write_volatile(v) }
    }

    pub fn read_u64(&self, off: usize) -> u64 {
        let p = self.at::<u64>(off);
        // SAFETY: as in read_u8; `at` checked the 8-byte alignment.
        unsafe { p.read_volatile() }
    }

    pub fn write_u64(&self, off: usize, v: u64) {
        let p = self.at::<u64>(off);
        // SAFETY: as in read_u64.
        unsafe { p.write_volatile(v) }
    }

    /// Writes `pattern(page)` into the first word of every page and a
    /// second, different word at the page's end.
    pub fn fill_pages(&self, pattern: impl Fn(usize) -> u64) {
        for page in 0..self.nr_pages() {
            self.write_u64(page * PAGE_SIZE, pattern(page));
            self.write_u64(page * PAGE_SIZE + PAGE_SIZE - 8, !pattern(page));
        }
    }

    /// The first page whose two words do not hold what `fill_pages` with
    /// `pattern` wrote, with the word found.
    pub fn check_pages(&self, pattern: impl Fn(usize) -> u64) -> Result<(), (usize, u64)> {
        for page in 0..self.nr_pages() {
            let first = self.read_u64(page * PAGE_SIZE);
            if first != pattern(page) {
                return Err((page, first));
            }
            let last = self.read_u64(page * PAGE_SIZE + PAGE_SIZE - 8);
            if last != !pattern(page) {
                return Err((page, last));
            }
        }
        Ok(())
    }

    /// The first non-zero word in `[off, off + len)`, if any, checking every
    /// word.
    pub fn find_nonzero(&self, off: usize, len: usize) -> Option<(usize, u64)> {
        (off..off + len).step_by(8).map(|o| (o, self.read_u64(o))).find(|&(_, v)| v != 0)
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.len != 0 {
            let _ = sys::munmap(self.addr, self.len);
        }
    }
}

/// Reads a byte at any address: for probes that are meant to fault (a hole,
/// a `PROT_NONE` page, an unmapped address).
///
/// # Safety
/// 1. `addr` is not part of any Rust object (it is inside address space the
///    program manages through system calls, or unmapped).
pub unsafe fn probe_read(addr: usize) -> u8 {
    // SAFETY: obligation 1: the load cannot observe or disturb a Rust
    // object; if it faults, the kernel ends the process.
    unsafe { (addr as *const u8).read_volatile() }
}

/// Writes a byte at any address; see [`probe_read`].
///
/// # Safety
/// 1. `addr` is not part of any Rust object, or the caller expects the
///    store to fault (writing to its own text, to a read-only mapping) and
///    will not run on if it does not.
pub unsafe fn probe_write(addr: usize, v: u8) {
    // SAFETY: obligation 1.
    unsafe { (addr as *mut u8).write_volatile(v) }
}
