//! The initramfs: the initrd the loader passed (`/chosen/linux,initrd-start`
//! and `-end`), unpacked into an index of files at boot (Linux's
//! populate_rootfs in init/initramfs.c).
//!
//! ```text
//!   dt.initrd [start, end)   reserved in memblock (memory::memblock), so the
//!        |                   page allocator never hands its pages out
//!        v
//!   linear map slice         read-only, for the length of populate_rootfs
//!        v
//!   bootdata::initramfs::unpack   cpio newc/crc, gzip; errors with offsets
//!        v
//!   ROOTFS (spin::Once)      the decoded archives in one kmalloc'd vector and
//!                            a BTreeMap of paths: lookup / resolve / iter
//! ```
//!
//! The log says what Linux's says: `Trying to unpack rootfs image as
//! initramfs...`, then either a summary line or `Initramfs unpacking
//! failed: <reason>` (at KERN_EMERG, as Linux), and the boot goes on
//! either way; with no initrd nothing is printed and there is no rootfs.
//!
//! The parsing lives in `bootdata`, where it is host-tested and fuzzed;
//! this file only reaches the bytes and keeps the result. Its one `unsafe`
//! block makes the slice of the initrd.
//!
//! Differences from Linux: no tmpfs behind it, so the index is read-only
//! and holds names, modes and bytes (owners and times are kept, not used);
//! the decoded archives must fit one kmalloc block ([`UNPACK_LIMIT_BYTES`],
//! 4 MiB: the largest buddy block), where Linux writes file by file into
//! the page cache; and the initrd's pages are not given back afterwards
//! (Linux's free_initrd_mem): the memblock reservation stays, since this
//! kernel has no free_reserved_area yet. Only uncompressed and gzip
//! archives are read; xz, lzma, bzip2, lzo, lz4 and zstd are refused with
//! Linux's `compression method X not configured`.

use crate::memory::linear_map::{linear_map_covers, phys_to_virt};
use crate::{pr_emerg, pr_info};
use bootdata::devicetree::DtInfo;
use bootdata::initramfs::cpio::{S_IFDIR, S_IFLNK, S_IFREG};
use bootdata::initramfs::{FileRef, LookupError, Rootfs, unpack};
use mm::config::MAX_PAGE_ORDER;
use mm::{PAGE_SIZE, PhysAddr};

/// The most the decoded archives may take: one MAX_PAGE_ORDER block, the
/// largest kmalloc (the vector that holds them is one allocation).
pub const UNPACK_LIMIT_BYTES: usize = (PAGE_SIZE as usize) << MAX_PAGE_ORDER;

static ROOTFS: spin::Once<Rootfs> = spin::Once::new();

/// Unpack the initrd, if the loader passed one. Call once, after kmalloc
/// is up; failures are logged and leave no rootfs.
pub fn populate_rootfs(dt: &DtInfo, rdinit: &str) {
    let Some((start, end)) = dt.initrd else { return };
    pr_info!("Trying to unpack rootfs image as initramfs...");
    let len = end - start; // the parser keeps only end > start
    if !linear_map_covers(PhysAddr(start), len) {
        pr_emerg!(
            "Initramfs unpacking failed: initrd [{:#x}-{:#x}] is not in the linear map (outside memory, or above mem=)",
            start,
            end - 1
        );
        return;
    }
    let Ok(len) = usize::try_from(len) else { return };
    let va = phys_to_virt(PhysAddr(start)).as_u64() as usize;
    // SAFETY: [start, end) is covered by the linear map (checked just above),
    // so `len` bytes from `va` are mapped, readable and within one object;
    // memblock reserved the range before the page allocator existed, so no
    // allocator hands out these pages and nothing writes them while this
    // shared borrow lives (it ends with this function).
    let initrd: &[u8] = unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance::<u8>(va), len) };
    match unpack(initrd, UNPACK_LIMIT_BYTES) {
        Ok(fs) => {
            let fs = ROOTFS.call_once(|| fs);
            let count = |t| iter().filter(|f| f.file_type() == t).count();
            pr_info!(
                "initramfs: unpacked {} files, {} directories, {} symlinks ({} entries in {} archives, {} gzip members; {} KiB)",
                count(S_IFREG),
                count(S_IFDIR),
                count(S_IFLNK),
                fs.nr_entries,
                fs.nr_archives,
                fs.nr_gzip_members,
                fs.image_bytes().div_ceil(1024)
            );
            match resolve(rdinit) {
                Ok(f) if f.is_regular() => pr_info!("initramfs: rdinit {}: {} bytes", rdinit, f.data.len()),
                Ok(f) => pr_info!("initramfs: rdinit {}: not a regular file (mode {:o})", rdinit, f.mode),
                Err(e) => pr_info!(
                    "initramfs: rdinit {}: {}",
                    rdinit,
                    match e {
                        LookupError::NotFound => "not in the archive (ENOENT)",
                        LookupError::Loop => "too many symlinks (ELOOP)",
                        LookupError::NotDir => "a path component is not a directory (ENOTDIR)",
                    }
                ),
            }
        }
        Err(e) => pr_emerg!("Initramfs unpacking failed: {}", e),
    }
}

/// The unpacked initramfs, if there is one.
pub fn rootfs() -> Option<&'static Rootfs> {
    ROOTFS.get()
}

/// `path` with its symlinks followed (what exec opens); NotFound without a rootfs.
pub fn resolve(path: impl AsRef<[u8]>) -> Result<FileRef<'static>, LookupError> {
    rootfs().ok_or(LookupError::NotFound)?.resolve(path)
}

/// Every name, in path order (nothing without a rootfs).
pub fn iter() -> impl Iterator<Item = FileRef<'static>> {
    rootfs().into_iter().flat_map(|fs| fs.iter())
}
