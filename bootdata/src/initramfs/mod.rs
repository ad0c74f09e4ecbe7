//! The initramfs: what the boot loader's initrd holds, unpacked into an
//! index of paths.
//!
//! Linux's `unpack_to_rootfs` walks the initrd as a sequence of pieces, and
//! [`unpack`] walks it the same way:
//!
//! ```text
//!   initrd:  [cpio archive][00 padding][gzip member][gzip member][00 ...]
//!              |                          |
//!              |  "0" at a multiple of 4: an uncompressed archive, read to
//!              |  its TRAILER!!! (or to the end of the initrd)
//!              |                          1f 8b: one gzip member; what it
//!              |                          decodes to is one or more archives
//!              |                          (zero padding between them), and
//!              |                          it must end just after a trailer
//!              v                          v
//!   image:   one Vec<u8>: each archive's bytes, each starting at a multiple
//!            of 4, so the cpio padding rules hold in the copy
//!   index:   BTreeMap<normalised path, Node { mode, ..., data range }>
//! ```
//!
//! Zero bytes between pieces are skipped. Any other first byte is an error:
//! a known compressor's magic names it (xz, lzma, bzip2, lzo, lz4, zstd:
//! Linux's `compression method X not configured`), anything else is junk.
//! Errors carry the offset in the initrd (or, inside a gzip member, the
//! member's offset and the offset in what it decoded to).
//!
//! The index keeps the last entry of a name, as Linux's unpacker replaces
//! an existing file. Names are normalised to absolute paths (`./bin/sh`,
//! `bin//sh` and `/bin/sh` are one path; `..` stops at the root). Hard
//! links (newc repeats the inode and puts the data on the last name of the
//! set) are resolved per archive as Linux's `maybe_link` does: every name of
//! a set of regular files with the same (dev, ino) and nlink >= 2 ends up
//! with the data of the last one. Entries Linux skips are skipped here too:
//! a directory, device, fifo or socket with data.
//!
//! Memory: the decompressed image is one vector grown with `try_reserve`,
//! capped by the caller's `limit_bytes`; the index holds ranges into it, no
//! second copy of file data. Allocation failure is [`Error::NoMemory`],
//! never a panic.

pub mod cpio;
pub mod gzip;
pub mod inflate;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use cpio::{CpioError, Entries, S_IFLNK, S_IFMT, S_IFREG};
use gzip::{GZIP_MAGIC, GzipError};

/// Why the initrd could not be unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// A bad uncompressed archive; offsets are in the initrd.
    Cpio(CpioError),
    /// A bad gzip member at `offset` in the initrd.
    Gzip { offset: usize, err: GzipError },
    /// A bad archive inside the gzip member at `member`; offsets in `err`
    /// are in the member's decoded data.
    CpioInGzip { member: usize, err: CpioError },
    /// The gzip member at `member` decodes to data that does not end just
    /// after a trailer (and zero padding): at `offset` of the decoded data.
    JunkInGzip { member: usize, offset: usize },
    /// A compressor this kernel does not decode, named by its magic.
    NotConfigured { offset: usize, method: &'static str },
    /// Neither a cpio header, nor zero padding, nor a known magic.
    Junk { offset: usize },
    /// The decoded archives would exceed the caller's limit.
    LimitExceeded { limit_bytes: usize },
    /// An allocation failed.
    NoMemory,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cpio(e) => write!(f, "{e}"),
            Error::Gzip { offset, err } => write!(f, "gzip member at offset {offset}: {err}"),
            Error::CpioInGzip { member, err } => write!(f, "in the gzip member at offset {member}: {err}"),
            Error::JunkInGzip { member, offset } => {
                write!(f, "junk in compressed archive (member at offset {member}, at offset {offset} of its data)")
            }
            Error::NotConfigured { offset, method } => write!(
                f,
                "compression method {method} not configured (at offset {offset}; only uncompressed and gzip archives are supported)"
            ),
            Error::Junk { offset } => write!(f, "junk in compressed archive at offset {offset}"),
            Error::LimitExceeded { limit_bytes } => {
                write!(f, "the unpacked archive exceeds the limit of {limit_bytes} bytes")
            }
            Error::NoMemory => f.write_str("out of memory"),
        }
    }
}

/// Compressors Linux knows, by magic (lib/decompress.c), that this kernel
/// refuses by name.
const REFUSED: &[(&[u8], &str)] = &[
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz"),
    (&[0x5d, 0x00, 0x00], "lzma"),
    (b"BZh", "bzip2"),
    (&[0x89, b'L', b'Z', b'O'], "lzo"),
    (&[0x02, 0x21, 0x4c, 0x18], "lz4"),
    (&[0x28, 0xb5, 0x2f, 0xfd], "zstd"),
    (&[0x1f, 0x9e], "gzip (old, unsupported)"),
];

/// Which compressor's magic `buf` starts with (`None`: no known one).
pub fn compression_method(buf: &[u8]) -> Option<&'static str> {
    if buf.starts_with(&GZIP_MAGIC) {
        return Some("gzip");
    }
    REFUSED.iter().find(|(magic, _)| buf.starts_with(magic)).map(|&(_, name)| name)
}

/// One name of the unpacked tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// Type (S_IFMT bits) and permissions.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    /// `rdevmajor`, `rdevminor` (device nodes).
    pub rdev: (u32, u32),
    /// The bytes in the image (a symlink's target for S_IFLNK).
    data: Range<usize>,
}

/// A view of one name of the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRef<'a> {
    /// The normalised absolute path (bytes, as names in Linux are).
    pub path: &'a [u8],
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: u32,
    pub rdev: (u32, u32),
    /// The contents (regular file) or the target (symlink); empty otherwise.
    pub data: &'a [u8],
}

impl FileRef<'_> {
    /// The type bits of the mode.
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// Whether this is a regular file.
    pub fn is_regular(&self) -> bool {
        self.file_type() == S_IFREG
    }
}

/// Why a path could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// No such name (ENOENT).
    NotFound,
    /// More than [`MAX_SYMLINKS`] symlinks (ELOOP).
    Loop,
    /// A path component that is not a directory (ENOTDIR).
    NotDir,
}

/// How many symlinks a resolution follows (Linux's MAXSYMLINKS).
pub const MAX_SYMLINKS: usize = 40;

/// The unpacked initramfs: the decoded archives and an index of their names.
#[derive(Debug, Default)]
pub struct Rootfs {
    image: Vec<u8>,
    index: BTreeMap<Vec<u8>, Node>,
    /// Entries read (before later names replaced earlier ones).
    pub nr_entries: usize,
    /// Archives read.
    pub nr_archives: usize,
    /// gzip members decoded.
    pub nr_gzip_members: usize,
}

/// `path` as an absolute path with no `.`, `..` or empty components
/// (`..` at the root stays there, as the kernel's path walk does). Names
/// are bytes, as in Linux: nothing requires UTF-8.
pub fn normalise(path: &[u8]) -> Result<Vec<u8>, Error> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => {
                parts.try_reserve(1).map_err(|_| Error::NoMemory)?;
                parts.push(c);
            }
        }
    }
    let len = parts.iter().map(|p| p.len() + 1).sum::<usize>().max(1);
    let mut s = Vec::new();
    s.try_reserve_exact(len).map_err(|_| Error::NoMemory)?;
    if parts.is_empty() {
        s.push(b'/');
    }
    for p in parts {
        s.push(b'/');
        s.extend_from_slice(p);
    }
    Ok(s)
}

impl Rootfs {
    /// How many names the index holds.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Bytes of decoded archives held.
    pub fn image_bytes(&self) -> usize {
        self.image.len()
    }

    fn view<'a>(&'a self, path: &'a [u8], n: &'a Node) -> FileRef<'a> {
        FileRef {
            path,
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
            mtime: n.mtime,
            rdev: n.rdev,
            data: self.image.get(n.data.clone()).unwrap_or(&[]),
        }
    }

    /// The name `path` itself (a symlink is not followed).
    pub fn lookup(&self, path: impl AsRef<[u8]>) -> Option<FileRef<'_>> {
        let key = normalise(path.as_ref()).ok()?;
        self.index.get_key_value(key.as_slice()).map(|(k, n)| self.view(k, n))
    }

    /// `path` with every symlink followed, in the last component and in the
    /// directories on the way (a relative target is relative to the link's
    /// directory), as an exec path walk does.
    pub fn resolve(&self, path: impl AsRef<[u8]>) -> Result<FileRef<'_>, LookupError> {
        let mut cur = normalise(path.as_ref()).map_err(|_| LookupError::NotFound)?;
        let mut links = 0;
        'walk: loop {
            // Each proper prefix must be a directory (after following links).
            let mut prefix_end = 0;
            while let Some(i) = cur.get(prefix_end + 1..).and_then(|r| r.iter().position(|&b| b == b'/')) {
                let end = prefix_end + 1 + i;
                let prefix = cur.get(..end).unwrap_or(b"/");
                match self.index.get(prefix) {
                    Some(n) if n.mode & S_IFMT == S_IFLNK => {
                        links += 1;
                        if links > MAX_SYMLINKS {
                            return Err(LookupError::Loop);
                        }
                        let rest = cur.get(end..).unwrap_or(b"");
                        cur = self.follow(prefix, n, rest)?;
                        continue 'walk;
                    }
                    Some(n) if n.mode & S_IFMT != cpio::S_IFDIR => return Err(LookupError::NotDir),
                    // A directory, or one the archive implies without an entry.
                    _ => prefix_end = end,
                }
            }
            let (k, n) = self.index.get_key_value(cur.as_slice()).ok_or(LookupError::NotFound)?;
            if n.mode & S_IFMT != S_IFLNK {
                return Ok(self.view(k, n));
            }
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(LookupError::Loop);
            }
            cur = self.follow(k, n, b"")?;
        }
    }

    /// The path a symlink at `link` points to, with `rest` appended.
    fn follow(&self, link: &[u8], n: &Node, rest: &[u8]) -> Result<Vec<u8>, LookupError> {
        let target = self.image.get(n.data.clone()).unwrap_or(&[]);
        let mut p: Vec<u8> = Vec::new();
        if !target.starts_with(b"/") {
            let dir = link.iter().rposition(|&b| b == b'/').and_then(|i| link.get(..i)).unwrap_or(b"");
            p.extend_from_slice(dir);
            p.push(b'/');
        }
        p.extend_from_slice(target);
        p.extend_from_slice(rest);
        normalise(&p).map_err(|_| LookupError::NotFound)
    }

    /// Every name, in path order.
    pub fn iter(&self) -> impl Iterator<Item = FileRef<'_>> {
        self.index.iter().map(|(k, n)| self.view(k, n))
    }

    /// Append `bytes` at a multiple of 4 in the image; the start offset.
    fn append_aligned(&mut self, bytes: &[u8], limit: usize) -> Result<usize, Error> {
        let start = self.pad_image(limit)?;
        let end = start.checked_add(bytes.len()).ok_or(Error::LimitExceeded { limit_bytes: limit })?;
        if end > limit {
            return Err(Error::LimitExceeded { limit_bytes: limit });
        }
        self.image.try_reserve(bytes.len()).map_err(|_| Error::NoMemory)?;
        self.image.extend_from_slice(bytes);
        Ok(start)
    }

    /// Zero-pad the image to a multiple of 4; its new length.
    fn pad_image(&mut self, limit: usize) -> Result<usize, Error> {
        let start = self.image.len().next_multiple_of(4);
        if start > limit {
            return Err(Error::LimitExceeded { limit_bytes: limit });
        }
        self.image.try_reserve(start - self.image.len()).map_err(|_| Error::NoMemory)?;
        self.image.resize(start, 0);
        Ok(start)
    }

    /// Index the archives in `image[start..]` (one uncompressed archive, or
    /// a member's decoded data: several archives with zero padding between).
    /// Offsets in errors are relative to `start`. Returns the offset (from
    /// `start`) where the last archive ended and whether it had a trailer.
    fn index_archives(&mut self, start: usize, several: bool) -> Result<(usize, bool), IndexError> {
        let image = core::mem::take(&mut self.image);
        let r = self.index_archives_in(&image, start, several);
        self.image = image;
        r
    }

    fn index_archives_in(&mut self, image: &[u8], start: usize, several: bool) -> Result<(usize, bool), IndexError> {
        let buf = image.get(start..).unwrap_or(&[]);
        let mut pos = 0;
        loop {
            let mut entries = Entries::new(buf, pos);
            let mut links: Vec<LinkSet> = Vec::new();
            for e in entries.by_ref() {
                let e = e.map_err(IndexError::Cpio)?;
                self.nr_entries += 1;
                self.insert(&e, start, &mut links).map_err(IndexError::Other)?;
            }
            self.nr_archives += 1;
            let (end, trailer) = (entries.end(), entries.saw_trailer());
            if !several || !trailer {
                return Ok((end, trailer));
            }
            // Zero padding, then another archive or the end.
            let zeros = buf.get(end..).unwrap_or(&[]).iter().take_while(|&&b| b == 0).count();
            pos = end + zeros;
            match buf.get(pos) {
                None => return Ok((pos, true)),
                Some(b'0') if pos.is_multiple_of(4) => {}
                Some(b'0') => return Err(IndexError::Cpio(CpioError::BrokenPadding { offset: pos })),
                Some(_) => return Err(IndexError::Junk(pos)),
            }
        }
    }

    fn insert(&mut self, e: &cpio::Entry<'_>, start: usize, links: &mut Vec<LinkSet>) -> Result<(), Error> {
        let ty = e.file_type();
        if ty != S_IFREG && ty != S_IFLNK && !e.data.is_empty() {
            return Ok(()); // Linux skips these
        }
        let path = normalise(e.name)?;
        let data = start + e.data_offset..start + e.data_offset + e.data.len();
        let node = Node {
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
            rdev: (e.rdev_major, e.rdev_minor),
            data: data.clone(),
        };
        if ty == S_IFREG && e.nlink >= 2 {
            let key = (e.dev_major, e.dev_minor, e.ino);
            let set = match links.iter().position(|(k, _)| *k == key) {
                Some(i) => links.get_mut(i),
                None => {
                    links.try_reserve(1).map_err(|_| Error::NoMemory)?;
                    links.push((key, Vec::new()));
                    links.last_mut()
                }
            };
            if let Some((_, names)) = set {
                // The inode's contents are this entry's now, for every name.
                for n in names.iter() {
                    if let Some(old) = self.index.get_mut(n.as_slice()) {
                        old.data = data.clone();
                    }
                }
                names.try_reserve(1).map_err(|_| Error::NoMemory)?;
                names.push(path.clone());
            }
        }
        self.index.insert(path, node);
        Ok(())
    }
}

/// The names of one hard-link set so far: (devmajor, devminor, ino) and paths.
type LinkSet = ((u32, u32, u32), Vec<Vec<u8>>);

/// What indexing one piece found (offsets relative to the piece).
enum IndexError {
    Cpio(CpioError),
    Junk(usize),
    Other(Error),
}

/// Unpack `initrd`: every archive, uncompressed or in gzip members, into
/// one [`Rootfs`] whose decoded data stays within `limit_bytes`.
pub fn unpack(initrd: &[u8], limit_bytes: usize) -> Result<Rootfs, Error> {
    let mut fs = Rootfs::default();
    let mut pos = 0;
    while let Some(&b) = initrd.get(pos) {
        if b == 0 {
            pos += 1;
            continue;
        }
        let rest = initrd.get(pos..).unwrap_or(&[]);
        if b == b'0' && !pos.is_multiple_of(4) {
            return Err(Error::Cpio(CpioError::BrokenPadding { offset: pos }));
        }
        if b == b'0' {
            // Find the archive's end without copying, then copy it whole.
            let mut entries = Entries::new(initrd, pos);
            for e in entries.by_ref() {
                e.map_err(Error::Cpio)?;
            }
            let end = entries.end();
            let bytes = initrd.get(pos..end).unwrap_or(&[]);
            let start = fs.append_aligned(bytes, limit_bytes)?;
            fs.index_archives(start, false).map_err(|e| match e {
                IndexError::Cpio(err) => Error::Cpio(shift(err, pos)),
                IndexError::Junk(o) => Error::Junk { offset: o + pos },
                IndexError::Other(err) => err,
            })?;
            pos = end;
            continue;
        }
        match compression_method(rest) {
            Some("gzip") => {
                let start = fs.pad_image(limit_bytes)?;
                let used = gzip::decompress(rest, &mut fs.image, limit_bytes).map_err(|err| match err {
                    GzipError::Inflate(inflate::InflateError::LimitExceeded) => Error::LimitExceeded { limit_bytes },
                    GzipError::Inflate(inflate::InflateError::NoMemory) => Error::NoMemory,
                    err => Error::Gzip { offset: pos, err },
                })?;
                fs.nr_gzip_members += 1;
                let (end, trailer) = fs.index_archives(start, true).map_err(|e| match e {
                    IndexError::Cpio(err) => Error::CpioInGzip { member: pos, err },
                    IndexError::Junk(o) => Error::JunkInGzip { member: pos, offset: o },
                    IndexError::Other(err) => err,
                })?;
                if !trailer {
                    return Err(Error::JunkInGzip { member: pos, offset: end });
                }
                pos += used;
            }
            Some(method) => return Err(Error::NotConfigured { offset: pos, method }),
            None => return Err(Error::Junk { offset: pos }),
        }
    }
    Ok(fs)
}

/// `err` with its offset moved by `by` (from a copy's offsets to the initrd's).
fn shift(err: CpioError, by: usize) -> CpioError {
    use CpioError::*;
    let s = |o: usize| o.saturating_add(by);
    match err {
        BadMagic { offset } => BadMagic { offset: s(offset) },
        OldFormat { offset } => OldFormat { offset: s(offset) },
        BadField { offset, field } => BadField { offset: s(offset), field },
        TruncatedHeader { offset } => TruncatedHeader { offset: s(offset) },
        TruncatedName { offset } => TruncatedName { offset: s(offset) },
        TruncatedData { offset } => TruncatedData { offset: s(offset) },
        NameLength { offset, namesize } => NameLength { offset: s(offset), namesize },
        NameNotTerminated { offset } => NameNotTerminated { offset: s(offset) },
        SymlinkLength { offset, size } => SymlinkLength { offset: s(offset), size },
        BadChecksum { offset, stored, computed } => BadChecksum { offset: s(offset), stored, computed },
        BrokenPadding { offset } => BrokenPadding { offset: s(offset) },
    }
}
