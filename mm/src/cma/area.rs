//! One CMA area: its bitmap, cma_alloc's search-and-try loop, cma_release,
//! and what its debugfs files print.

use core::fmt::{self, Write};

use spin::Mutex;

use super::bitmap;
use crate::addr::{PAGE_SHIFT, Pfn};
use crate::error::Error;
use crate::vmstat::{VmEvent, count_vm_event};

/// Longest area name kept (longer names are cut, at a character boundary).
pub const CMA_MAX_NAME: usize = 64;

/// A contiguous memory area (Linux's struct cma).
///
/// # Invariants
/// `base_pfn` and `count` are multiples of [`super::CMA_MIN_ALIGNMENT_PAGES`]
/// (checked by [`super::CmaAreas::init_reserved_mem`], the only
/// constructor), and `count` is a multiple of `1 << order_per_bit`. Once
/// activated, the bitmap has at least `count >> order_per_bit` bits, and a
/// bit is set exactly while its `1 << order_per_bit` pages belong to a
/// caller of [`Cma::alloc`] (or are being tried for one).
pub struct Cma {
    name: [u8; CMA_MAX_NAME],
    name_len: usize,
    base_pfn: Pfn,
    count: u64,
    order_per_bit: u32,
    /// The allocation bitmap; empty until [`Cma::activate`]. Its lock is
    /// Linux's cma->lock: held only while bits are searched and changed,
    /// never while a range is tried or freed.
    bitmap: Mutex<&'static mut [u64]>,
    /// Held around each try of a range (cma_mutex): see the module essay.
    range_lock: Mutex<()>,
}

/// The files of `/sys/kernel/debug/cma/<name>/` that read something (the
/// write-only `alloc` and `free` are not kept).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CmaDebugfsFile {
    /// First PFN of the area.
    BasePfn,
    /// Pages in the area.
    Count,
    /// Pages allocated.
    Used,
    /// The largest free run, in pages.
    Maxchunk,
    /// log2 of the pages per bitmap bit.
    OrderPerBit,
    /// The bitmap as a u32 array (debugfs_create_u32_array).
    Bitmap,
}

impl CmaDebugfsFile {
    /// Every file, in the order the report prints them.
    pub const ALL: [CmaDebugfsFile; 6] = [
        CmaDebugfsFile::BasePfn,
        CmaDebugfsFile::Count,
        CmaDebugfsFile::Used,
        CmaDebugfsFile::Maxchunk,
        CmaDebugfsFile::OrderPerBit,
        CmaDebugfsFile::Bitmap,
    ];

    /// The file's name.
    pub const fn name(self) -> &'static str {
        match self {
            CmaDebugfsFile::BasePfn => "base_pfn",
            CmaDebugfsFile::Count => "count",
            CmaDebugfsFile::Used => "used",
            CmaDebugfsFile::Maxchunk => "maxchunk",
            CmaDebugfsFile::OrderPerBit => "order_per_bit",
            CmaDebugfsFile::Bitmap => "bitmap",
        }
    }
}

impl Cma {
    /// A declared, not yet activated area. Only `CmaAreas` calls this,
    /// after its checks.
    pub(super) fn new(name: &str, base_pfn: Pfn, count: u64, order_per_bit: u32) -> Cma {
        let mut buf = [0u8; CMA_MAX_NAME];
        let mut len = name.len().min(CMA_MAX_NAME);
        while !name.is_char_boundary(len) {
            len -= 1;
        }
        buf[..len].copy_from_slice(&name.as_bytes()[..len]);
        Cma {
            name: buf,
            name_len: len,
            base_pfn,
            count,
            order_per_bit,
            bitmap: Mutex::new(&mut []),
            range_lock: Mutex::new(()),
        }
    }

    /// The area's name (`reserved` for the command line's, the node name
    /// for a device tree's, as in Linux).
    pub fn name(&self) -> &str {
        // The bytes are a prefix of a &str cut at a character boundary.
        core::str::from_utf8(&self.name[..self.name_len]).unwrap_or("cma")
    }

    /// First PFN.
    pub fn base_pfn(&self) -> Pfn {
        self.base_pfn
    }

    /// Pages in the area (cma_get_size in pages).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Size in bytes (cma_get_size).
    pub fn size_bytes(&self) -> u64 {
        self.count << PAGE_SHIFT
    }

    /// log2 of the pages each bitmap bit stands for.
    pub fn order_per_bit(&self) -> u32 {
        self.order_per_bit
    }

    /// Bits in the bitmap (cma_bitmap_maxno).
    pub fn bitmap_maxno(&self) -> u64 {
        self.count >> self.order_per_bit
    }

    /// Bits for `pages` pages, rounded up (cma_bitmap_pages_to_bits).
    pub fn pages_to_bits(&self, pages: u64) -> u64 {
        pages.div_ceil(1 << self.order_per_bit)
    }

    /// Words of bitmap [`activate`](Self::activate) needs.
    pub fn bitmap_words(&self) -> usize {
        bitmap::words_for(self.bitmap_maxno())
    }

    /// Whether `[pfn, pfn + nr_pages)` lies inside the area.
    pub fn contains(&self, pfn: Pfn, nr_pages: u64) -> bool {
        pfn.0 >= self.base_pfn.0 && pfn.0.checked_add(nr_pages).is_some_and(|end| end <= self.base_pfn.0 + self.count)
    }

    /// Whether the area has its bitmap (cma_activate_area ran and worked).
    pub fn is_active(&self) -> bool {
        !self.bitmap.lock().is_empty()
    }

    /// Give the area its bitmap (the bitmap_zalloc of cma_activate_area),
    /// once its pages are the page allocator's. `words` must be zero and at
    /// least [`bitmap_words`](Self::bitmap_words) long.
    pub fn activate(&self, words: &'static mut [u64]) -> Result<(), Error> {
        if words.len() < self.bitmap_words() || words.iter().any(|&w| w != 0) || self.bitmap_maxno() == 0 {
            return Err(Error::InvalidArgument);
        }
        let mut map = self.bitmap.lock();
        if !map.is_empty() {
            return Err(Error::Busy);
        }
        *map = words;
        Ok(())
    }

    /// The mask an `align_order` request puts on bitmap indices
    /// (cma_bitmap_aligned_mask).
    fn aligned_mask(&self, align_order: u32) -> u64 {
        if align_order <= self.order_per_bit { 0 } else { (1 << (align_order - self.order_per_bit)) - 1 }
    }

    /// How far bit 0 is from an `align_order` boundary, in bits
    /// (cma_bitmap_aligned_offset): the base need not be that aligned.
    fn aligned_offset(&self, align_order: u32) -> u64 {
        (self.base_pfn.0 & ((1 << align_order) - 1)) >> self.order_per_bit
    }

    /// cma_alloc: find `count` free pages whose first PFN is a multiple of
    /// `1 << align_order`, mark them, and let `try_range(pfn, count)` make
    /// them the caller's (in the kernel, alloc_contig_range). When the try
    /// says [`Error::Busy`] the bits are cleared and the search goes on from
    /// the next aligned index; any other error ends it. Returns the first
    /// PFN, or the last error (`Busy` if every fitting range was busy,
    /// `NoMemory` if none fitted). Counts `cma_alloc_success` or
    /// `cma_alloc_fail`.
    pub fn alloc(
        &self,
        count: u64,
        align_order: u32,
        try_range: &mut dyn FnMut(Pfn, u64) -> Result<(), Error>,
    ) -> Result<Pfn, Error> {
        let result = self.alloc_uncounted(count, align_order, try_range);
        count_vm_event(if result.is_ok() { VmEvent::CmaAllocSuccess } else { VmEvent::CmaAllocFail });
        result
    }

    fn alloc_uncounted(
        &self,
        count: u64,
        align_order: u32,
        try_range: &mut dyn FnMut(Pfn, u64) -> Result<(), Error>,
    ) -> Result<Pfn, Error> {
        if count == 0 || align_order >= u64::BITS - PAGE_SHIFT {
            return Err(Error::InvalidArgument);
        }
        let maxno = self.bitmap_maxno();
        let nbits = self.pages_to_bits(count);
        if !self.is_active() || nbits > maxno {
            return Err(Error::NoMemory);
        }
        let (mask, offset) = (self.aligned_mask(align_order), self.aligned_offset(align_order));
        let mut start = 0;
        let mut last = Error::NoMemory;
        loop {
            let bitmap_no = {
                let mut map = self.bitmap.lock();
                let no = bitmap::find_next_zero_area_off(&map, maxno, start, nbits, mask, offset);
                if no >= maxno {
                    return Err(last);
                }
                bitmap::set_range(&mut map, no, nbits);
                no
            };
            let pfn = Pfn(self.base_pfn.0 + (bitmap_no << self.order_per_bit));
            let tried = {
                let _range = self.range_lock.lock();
                try_range(pfn, count)
            };
            match tried {
                Ok(()) => return Ok(pfn),
                Err(e) => {
                    bitmap::clear_range(&mut self.bitmap.lock(), bitmap_no, nbits);
                    if e != Error::Busy {
                        return Err(e);
                    }
                    last = e;
                    // Next time, a range one alignment step further on.
                    start = bitmap_no + mask + 1;
                }
            }
        }
    }

    /// cma_release: give back `count` pages from `pfn`, which an
    /// [`alloc`](Self::alloc) of this area returned. `free_range(pfn, count)`
    /// hands the pages back (free_contig_range) before the bits are cleared,
    /// so the range is not offered again while it is being freed.
    ///
    /// Refused with nothing changed: a range not inside the area, or not
    /// starting on a bitmap bit (`InvalidArgument`); a range some of whose
    /// bits are clear, i.e. not allocated (`NotFound`).
    pub fn release(&self, pfn: Pfn, count: u64, free_range: &mut dyn FnMut(Pfn, u64)) -> Result<(), Error> {
        if count == 0 || !self.contains(pfn, count) {
            return Err(Error::InvalidArgument);
        }
        let offset = pfn.0 - self.base_pfn.0;
        if !offset.is_multiple_of(1 << self.order_per_bit) {
            return Err(Error::InvalidArgument);
        }
        let (bitmap_no, nbits) = (offset >> self.order_per_bit, self.pages_to_bits(count));
        if bitmap_no + nbits > self.bitmap_maxno() {
            return Err(Error::InvalidArgument);
        }
        {
            let map = self.bitmap.lock();
            if map.is_empty() || !bitmap::all_set(&map, bitmap_no, nbits) {
                return Err(Error::NotFound);
            }
        }
        free_range(pfn, count);
        bitmap::clear_range(&mut self.bitmap.lock(), bitmap_no, nbits);
        Ok(())
    }

    /// Pages allocated (cma_used_get).
    pub fn used_pages(&self) -> u64 {
        let map = self.bitmap.lock();
        if map.is_empty() {
            return 0;
        }
        bitmap::weight(&map, self.bitmap_maxno()) << self.order_per_bit
    }

    /// The largest free run, in pages (cma_maxchunk_get).
    pub fn maxchunk_pages(&self) -> u64 {
        let map = self.bitmap.lock();
        if map.is_empty() {
            return 0;
        }
        bitmap::longest_zero_run(&map, self.bitmap_maxno()) << self.order_per_bit
    }

    /// The free runs of the area, as cma_debug_show_areas prints them after
    /// a failed allocation: `number of available pages: 3@0+12@20=> 15 free of 32 total pages`
    /// (each `pages@first_bit`).
    pub fn show_areas(&self, out: &mut impl Write) -> fmt::Result {
        let map = self.bitmap.lock();
        out.write_str("number of available pages: ")?;
        let mut total = 0;
        if !map.is_empty() {
            for (first, len) in bitmap::zero_runs(&map, self.bitmap_maxno()) {
                let pages = len << self.order_per_bit;
                write!(out, "{}{}@{}", if total != 0 { "+" } else { "" }, pages, first)?;
                total += pages;
            }
        }
        write!(out, "=> {} free of {} total pages", total, self.count)
    }

    /// What reading `/sys/kernel/debug/cma/<name>/<file>` gives: one
    /// number and a newline (`%llu\n`), or for `bitmap` the words as
    /// unsigned 32-bit numbers separated by spaces with a newline after the
    /// last (debugfs's u32 array format; the bitmap's low word first, as a
    /// little-endian machine lays the unsigned longs out).
    pub fn debugfs_read(&self, file: CmaDebugfsFile, out: &mut impl Write) -> fmt::Result {
        match file {
            CmaDebugfsFile::BasePfn => writeln!(out, "{}", self.base_pfn.0),
            CmaDebugfsFile::Count => writeln!(out, "{}", self.count),
            CmaDebugfsFile::Used => writeln!(out, "{}", self.used_pages()),
            CmaDebugfsFile::Maxchunk => writeln!(out, "{}", self.maxchunk_pages()),
            CmaDebugfsFile::OrderPerBit => writeln!(out, "{}", self.order_per_bit),
            CmaDebugfsFile::Bitmap => {
                let map = self.bitmap.lock();
                let n_elements = self.bitmap_maxno().div_ceil(32) as usize;
                if map.is_empty() {
                    return Ok(());
                }
                for i in 0..n_elements {
                    let word = (map[i / 2] >> ((i % 2) * 32)) as u32;
                    write!(out, "{}{}", word, if i + 1 == n_elements { '\n' } else { ' ' })?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Debug for Cma {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cma")
            .field("name", &self.name())
            .field("base_pfn", &self.base_pfn)
            .field("count", &self.count)
            .field("order_per_bit", &self.order_per_bit)
            .finish()
    }
}
