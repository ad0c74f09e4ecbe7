//! `/proc/iomem`: the physical address map as Linux's resource tree shows
//! it, built from memblock and the kernel image (arm64's
//! request_standard_resources and reserve_memblock_reserved_regions).
//!
//! ```text
//!   40000000-7fffffff : System RAM          a memblock memory region
//!     40200000-40dfffff : Kernel code       _stext .. end of rodata
//!     40e00000-40efffff : Kernel data       _sdata .. _end
//!     48000000-480fffff : reserved          memblock reservations, clipped
//!                                           to their RAM region and split
//!                                           around what is already there
//!   80000000-8fffffff : reserved            a no-map memory region
//! ```
//!
//! Each line is `start-end : name`, both ends inclusive, in hex of at least
//! 8 digits, indented two spaces per level, children in address order.
//! Devices are not listed: in Linux their drivers claim those ranges, and
//! this kernel's drivers do not register resources.

use core::fmt::{self, Write};

/// A memory range, `end` exclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First byte.
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
}

/// What the iomem tree is built from.
pub struct IomemSource<'a> {
    /// memblock's memory regions, in address order, with their no-map flag.
    pub memory: &'a [(Range, bool)],
    /// The kernel's text and read-only data.
    pub kernel_code: Range,
    /// The kernel's data and bss.
    pub kernel_data: Range,
    /// memblock's reserved regions, in address order.
    pub reserved: &'a [Range],
}

fn line(out: &mut impl Write, depth: usize, r: Range, name: &str) -> fmt::Result {
    writeln!(out, "{:indent$}{:08x}-{:08x} : {name}", "", r.start, r.end - 1, indent = 2 * depth)
}

/// Write `/proc/iomem` for `src`.
pub fn iomem_show(out: &mut impl Write, src: &IomemSource<'_>) -> fmt::Result {
    for &(ram, nomap) in src.memory {
        if ram.end <= ram.start {
            continue;
        }
        if nomap {
            line(out, 0, ram, "reserved")?;
            continue;
        }
        line(out, 0, ram, "System RAM")?;
        // The kernel's ranges that lie wholly in this region, in address
        // order; the reservations' pieces come out between them.
        let mut kernel = [(src.kernel_code, "Kernel code"), (src.kernel_data, "Kernel data")];
        kernel.sort_unstable_by_key(|(r, _)| r.start);
        let inside = |r: &Range| r.start >= ram.start && r.end <= ram.end && r.end > r.start;
        let kernel = kernel.map(|(r, name)| inside(&r).then_some((r, name)));
        let mut shown = 0;
        let child = |out: &mut _, r: Range, shown: &mut usize| -> fmt::Result {
            while *shown < kernel.len() {
                match kernel[*shown] {
                    Some((k, name)) if k.start < r.start => line(out, 1, k, name)?,
                    Some(_) => break,
                    None => {}
                }
                *shown += 1;
            }
            line(out, 1, r, "reserved")
        };
        for res in src.reserved {
            let (start, end) = (res.start.max(ram.start), res.end.min(ram.end));
            // reserve_region_with_split: the parts the kernel's ranges do
            // not hold.
            let mut at = start;
            while at < end {
                let blocker = kernel
                    .iter()
                    .flatten()
                    .map(|(k, _)| *k)
                    .filter(|k| k.end > at && k.start < end)
                    .min_by_key(|k| k.start);
                match blocker {
                    Some(k) if k.start <= at => at = k.end,
                    Some(k) => {
                        child(out, Range { start: at, end: k.start }, &mut shown)?;
                        at = k.end;
                    }
                    None => {
                        child(out, Range { start: at, end }, &mut shown)?;
                        at = end;
                    }
                }
            }
        }
        for (k, name) in kernel[shown..].iter().flatten() {
            line(out, 1, *k, name)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> Range {
        Range { start, end }
    }

    #[test]
    fn linux_layout_with_split_reservations() {
        let memory = [(r(0x4000_0000, 0x8000_0000), false), (r(0x8000_0000, 0x8010_0000), true)];
        // The image is reserved whole; the gap between code and data shows
        // as "reserved", as Linux shows its init sections.
        let reserved = [r(0x4000_0000, 0x4000_1000), r(0x4020_0000, 0x4100_0000), r(0x4800_0000, 0x4810_0000)];
        let src = IomemSource {
            memory: &memory,
            kernel_code: r(0x4021_0000, 0x40a0_0000),
            kernel_data: r(0x40b0_0000, 0x4100_0000),
            reserved: &reserved,
        };
        let mut s = crate::fmtbuf::StackStr::<1024>::new();
        iomem_show(&mut s, &src).unwrap();
        assert_eq!(
            s.as_str(),
            "40000000-7fffffff : System RAM\n\
             \x20 40000000-40000fff : reserved\n\
             \x20 40200000-4020ffff : reserved\n\
             \x20 40210000-409fffff : Kernel code\n\
             \x20 40a00000-40afffff : reserved\n\
             \x20 40b00000-40ffffff : Kernel data\n\
             \x20 48000000-480fffff : reserved\n\
             80000000-800fffff : reserved\n"
        );
    }

    #[test]
    fn kernel_ranges_without_reservations_and_wide_addresses() {
        let memory = [(r(0x1_0000_0000, 0x1_4000_0000), false)];
        let src = IomemSource {
            memory: &memory,
            kernel_code: r(0x1_0020_0000, 0x1_0030_0000),
            kernel_data: r(0x1_0030_0000, 0x1_0040_0000),
            reserved: &[],
        };
        let mut s = crate::fmtbuf::StackStr::<512>::new();
        iomem_show(&mut s, &src).unwrap();
        assert_eq!(
            s.as_str(),
            "100000000-13fffffff : System RAM\n  100200000-1002fffff : Kernel code\n  100300000-1003fffff : Kernel data\n"
        );
    }
}
