//! The device tree, from the physical address in x0 to a parsed [`DtInfo`]
//! (Linux's fixmap_remap_fdt and unflatten_device_tree).
//!
//! The blob is mapped read-only through the fixmap: 64 bytes first, to read
//! `totalsize` from the header, then all of it, and checked in full
//! (`bootdata::devicetree::check_full`) before anything else reads it. It
//! is then compacted into a kernel buffer ([`FDT_BUF_SIZE`], in .bss) and
//! parsed from there; the mapping stays, so memblock can reserve the blob
//! where the loader put it.

use crate::memory::layout::FIX_FDT;
use crate::memory::pgtable;
use bootdata::devicetree::{self, DtError, DtInfo};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use mm::pgtable::PageProt;

/// The kernel's copy of the device tree (see `bootdata::devicetree::compact`):
/// as large as any blob the kernel accepts (Linux's MAX_FDT_SIZE).
const FDT_BUF_SIZE: usize = devicetree::MAX_FDT_SIZE;

/// Why the boot cannot use the device tree.
#[derive(Clone, Copy, Debug)]
pub enum FdtError {
    /// x0 was 0.
    NoBlob,
    /// The blob at `pa` is unusable.
    Bad { pa: u64, why: Why },
}

/// What is wrong with a blob.
#[derive(Clone, Copy, Debug)]
pub enum Why {
    /// Not 8-byte aligned.
    Misaligned,
    /// Beyond the CPU's physical address size (`pa_bits`), or the blob
    /// would run past it.
    BeyondPaRange(u32),
    /// A load from it aborts: nothing is there.
    Absent(crate::memory::probe::Absent),
    /// The fixmap could not map the header.
    CannotMap(mm::Error),
    /// The fixmap could not map `totalsize` bytes.
    CannotMapAll(usize, mm::Error),
    /// The validator, the compactor or the parser refused it.
    Blob(DtError),
}

impl fmt::Display for FdtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdtError::NoBlob => f.write_str(
                "no device tree: x0 was 0 at entry. Boot the arm64 Image (QEMU passes the DTB in x0 only to an Image, not to an ELF)",
            ),
            FdtError::Bad { pa, why } => {
                write!(f, "invalid device tree blob at PA {pa:#x}: ")?;
                match why {
                    Why::Misaligned => f.write_str("not 8-byte aligned"),
                    Why::BeyondPaRange(bits) => {
                        write!(f, "beyond the CPU's {bits}-bit physical address space (x0 at entry is garbage?)")
                    }
                    Why::Absent(why) => write!(f, "{why} (x0 at entry points at no memory)"),
                    Why::CannotMap(e) => write!(f, "cannot map it: {e}"),
                    Why::CannotMapAll(total, e) => write!(f, "cannot map {total} bytes: {e}"),
                    Why::Blob(e) => write!(f, "{e}"),
                }
            }
        }
    }
}

/// Map the device tree at `dtb_pa` through the fixmap and check it.
pub fn map(dtb_pa: u64) -> Result<&'static [u8], FdtError> {
    let bad = |why| FdtError::Bad { pa: dtb_pa, why };
    if dtb_pa == 0 {
        return Err(FdtError::NoBlob);
    }
    if !dtb_pa.is_multiple_of(8) {
        return Err(bad(Why::Misaligned));
    }
    let pa_bits = arch::mmu::pa_bits().min(48);
    let pa_end = 1u64 << pa_bits;
    if dtb_pa >= pa_end - 64 {
        return Err(bad(Why::BeyondPaRange(pa_bits)));
    }
    // Both ends of the header must answer before anything dereferences it.
    crate::memory::probe::probe_phys(dtb_pa).map_err(|e| bad(Why::Absent(e)))?;
    crate::memory::probe::probe_phys(dtb_pa + 60).map_err(|e| bad(Why::Absent(e)))?;
    let head = pgtable::fixmap_remap(FIX_FDT, dtb_pa, 64, PageProt::KERNEL_RO).map_err(|e| bad(Why::CannotMap(e)))?;
    // SAFETY: the fixmap maps at least the 64 bytes from `head` read-only.
    let header = unsafe { core::slice::from_raw_parts(head.as_u64() as *const u8, 64) };
    let total = devicetree::header_total_size(header).map_err(|e| bad(Why::Blob(e)))?;
    if dtb_pa + total as u64 > pa_end {
        return Err(bad(Why::BeyondPaRange(pa_bits)));
    }
    // Its last word too: a totalsize larger than the memory behind it is a
    // refusal, not an external abort in check_full.
    crate::memory::probe::probe_phys((dtb_pa + total as u64 - 4) & !3).map_err(|e| bad(Why::Absent(e)))?;
    let va = pgtable::fixmap_remap(FIX_FDT, dtb_pa, total as u64, PageProt::KERNEL_RO)
        .map_err(|e| bad(Why::CannotMapAll(total, e)))?;
    // SAFETY: the fixmap now maps all `total` bytes read-only, for good.
    let blob = unsafe { core::slice::from_raw_parts(va.as_u64() as *const u8, total) };
    devicetree::check_full(blob).map_err(|e| bad(Why::Blob(e)))?;
    Ok(blob)
}

/// Compact the mapped blob (from `dtb_pa`) into the kernel's buffer and
/// parse it into the kernel's `DtInfo`, a static: at 9 KiB it has no place
/// on a 16 KiB kernel stack. Runs once.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn unflatten(raw: &[u8], dtb_pa: u64) -> Result<(&'static [u8], &'static DtInfo), FdtError> {
    let bad = |e| FdtError::Bad { pa: dtb_pa, why: Why::Blob(e) };
    let blob = devicetree::compact(raw, fdt_buffer()).map_err(bad)?;
    let dt = dt_info();
    devicetree::parse_into(blob, dt).map_err(bad)?;
    Ok((blob, dt))
}

fn dt_info() -> &'static mut DtInfo {
    static mut DT_INFO: DtInfo = DtInfo::new();
    static TAKEN: AtomicBool = AtomicBool::new(false);
    assert!(!TAKEN.swap(true, Ordering::SeqCst), "dt_info taken twice");
    // SAFETY: the flag above lets this run once, so the returned reference is
    // the only one ever made to DT_INFO.
    unsafe { &mut *core::ptr::addr_of_mut!(DT_INFO) }
}

fn fdt_buffer() -> &'static mut [u8] {
    static mut FDT_BUF: [u8; FDT_BUF_SIZE] = [0; FDT_BUF_SIZE];
    static TAKEN: AtomicBool = AtomicBool::new(false);
    assert!(!TAKEN.swap(true, Ordering::SeqCst), "fdt_buffer taken twice");
    // SAFETY: the flag above lets this run once, so the returned reference is
    // the only one ever made to FDT_BUF.
    unsafe { &mut *core::ptr::addr_of_mut!(FDT_BUF) }
}
