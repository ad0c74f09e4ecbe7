//! Is there anything behind a physical address? A device tree is an
//! allegation: `/memory` may claim RAM the machine does not have (2 GiB on a
//! 1 GiB board, a node at 4 GiB, a size of `u64::MAX`), and x0 may point at
//! nothing. On hardware (and on QEMU) a load from such an address is a
//! synchronous external abort; through `arch::exception::probe_read32` it
//! is a `ProbeFault` instead of an oops.
//!
//! Each probe maps one page at [`FIX_MEM_PROBE`] as Device memory (no
//! speculative access, read-only), loads one word, and unmaps the slot. Linux has no counterpart: it trusts the
//! firmware's memory map; we check it before memblock allocates from it
//! (memblock allocates top-down, so an absent top is what it would hit
//! first).
//!
//! [`present_end`] probes a range with a bounded number of loads: its first
//! page; its last page; up to [`MAX_SAMPLES`] 128 MiB section starts between
//! them; and, where a present point is followed by an absent one, a binary
//! search for the boundary at page granularity. RAM is taken to be
//! contiguous between two present points that were probed.

use super::layout::FIX_MEM_PROBE;
use super::pgtable;
use mm::PAGE_SIZE;
use mm::pgtable::PageProt;

/// Distance between the section starts probed (Linux's arm64 SECTION_SIZE).
const SECTION_SIZE: u64 = 128 << 20;
/// Most section starts probed evenly across one range.
const MAX_SAMPLES: u64 = 64;

/// Why a probe read nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Absent {
    /// The load took a data abort (ESR_EL1 given).
    Abort(u64),
    /// The page could not be mapped for the probe.
    Unmappable(mm::Error),
}

impl core::fmt::Display for Absent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Absent::Abort(esr) => write!(f, "nothing behind it (external abort, ESR {esr:#x})"),
            Absent::Unmappable(e) => write!(f, "it cannot be mapped for a probe: {e}"),
        }
    }
}

/// Load the word at `pa` (4-byte aligned), catching an abort.
pub fn probe_phys(pa: u64) -> Result<u32, Absent> {
    let pa = pa & !3;
    let va =
        pgtable::fixmap_remap(FIX_MEM_PROBE, pa, 4, PageProt::READ | PageProt::DEVICE).map_err(Absent::Unmappable)?;
    // SAFETY: 1. `va` is 4-byte aligned (pa is, the slot is page aligned) and
    // maps `pa` as Device memory read-only; the callers probe RAM claimed by
    // the device tree or the blob's header, where a load has no side effect
    // the kernel minds.
    let got = unsafe { arch::exception::probe_read32(va.as_u64()) }.map_err(|f| Absent::Abort(f.esr));
    // The slot is remapped for the next probe: break, then make.
    let _ = pgtable::unmap_kernel_range(mm::VirtAddr(FIX_MEM_PROBE), PAGE_SIZE);
    got
}

/// The end of the present part of `[base, end)` (page aligned, base < end):
/// `base` if its first page is absent (with why), else the first absent
/// boundary found, else `end`.
pub fn present_end(base: u64, end: u64) -> (u64, Option<Absent>) {
    if let Err(why) = probe_phys(base) {
        return (base, Some(why));
    }
    let last = end - PAGE_SIZE;
    // The points to probe, ascending: section starts inside the range,
    // sampled evenly if there are many, then the last page.
    let first_section = (base + 1).next_multiple_of(SECTION_SIZE);
    let nr_sections = if first_section < last { (last - first_section).div_ceil(SECTION_SIZE) } else { 0 };
    let step = nr_sections.div_ceil(MAX_SAMPLES).max(1);
    let mut good = base;
    let mut i = 0;
    loop {
        let p = if i < nr_sections { first_section + i * SECTION_SIZE } else { last };
        match probe_phys(p) {
            Ok(_) => good = p,
            Err(why) => return (boundary(good, p), Some(why)),
        }
        if p == last {
            return (end, None);
        }
        i += step;
    }
}

/// `good` is present and `bad` absent (page aligned, good < bad): the first
/// absent page between them, by binary search.
fn boundary(mut good: u64, mut bad: u64) -> u64 {
    while bad - good > PAGE_SIZE {
        let mid = (good + (bad - good) / 2) & !(PAGE_SIZE - 1);
        if probe_phys(mid).is_ok() {
            good = mid;
        } else {
            bad = mid;
        }
    }
    bad
}
