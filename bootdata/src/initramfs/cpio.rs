//! The cpio `newc` format (and `crc`, its twin with a data checksum), as
//! Linux's initramfs reads it (Documentation/driver-api/early-userspace/
//! buffer-format.rst, init/initramfs.c).
//!
//! ```text
//!   offset 0   c_magic     "070701" (newc) or "070702" (crc)
//!          6   13 fields of 8 ASCII hex digits each:
//!              ino mode uid gid nlink mtime filesize
//!              devmajor devminor rdevmajor rdevminor namesize check
//!        110   name: namesize bytes, the last one NUL
//!              padding to a multiple of 4 (from the header's start)
//!              data: filesize bytes (a symlink's target for S_IFLNK)
//!              padding to a multiple of 4
//!   ...        the next header; the archive ends with the name "TRAILER!!!"
//! ```
//!
//! Offsets are counted from the start of the buffer the reader is given,
//! which is where Linux counts its padding from too (the start of the
//! initrd, or of one decompressed member), so a header must sit at a
//! multiple of 4. [`Entries`] yields the entries of one archive and stops
//! after its trailer; [`Entries::end`] says where the trailer's padding
//! ends, for the caller that looks for a following archive.
//!
//! Stricter than Linux on purpose, since the input is hostile: a field
//! that is not 8 hex digits, a name of length 0 or above PATH_MAX, a name
//! without its NUL and an entry running past the buffer are errors here
//! (Linux's simple_strtoul stops at the first bad digit and its state
//! machine waits for bytes that never come). Odc archives (`070707`) get
//! Linux's message naming the right `cpio -H newc` option.

use core::fmt;

/// Length of a newc header.
pub const HEADER_LEN: usize = 110;
/// Linux's PATH_MAX: the longest name (with its NUL) and symlink target.
pub const PATH_MAX: usize = 4096;
/// The name of the entry that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";

/// The file type bits of `mode` (S_IFMT) and the types.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;

/// The header fields, in order, for error messages.
const FIELDS: [&str; 13] = [
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
];

/// Why an archive could not be read; `offset` is that of the entry's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpioError {
    /// Neither `070701` nor `070702` where a header must start.
    BadMagic { offset: usize },
    /// An odc (`070707`) archive.
    OldFormat { offset: usize },
    /// A header field that is not 8 hex digits.
    BadField { offset: usize, field: &'static str },
    /// The buffer ends inside a header.
    TruncatedHeader { offset: usize },
    /// The buffer ends inside a name.
    TruncatedName { offset: usize },
    /// The buffer ends inside an entry's data.
    TruncatedData { offset: usize },
    /// namesize 0 or above PATH_MAX.
    NameLength { offset: usize, namesize: u32 },
    /// The name's last byte is not NUL.
    NameNotTerminated { offset: usize },
    /// A symlink target longer than PATH_MAX.
    SymlinkLength { offset: usize, size: u32 },
    /// A `070702` entry whose data does not add up to its check field.
    BadChecksum { offset: usize, stored: u32, computed: u32 },
    /// A header at an offset that is not a multiple of 4.
    BrokenPadding { offset: usize },
}

impl fmt::Display for CpioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CpioError::BadMagic { offset } => write!(f, "no cpio magic at offset {offset}"),
            CpioError::OldFormat { offset } => {
                write!(f, "incorrect cpio method used at offset {offset}: use -H newc option")
            }
            CpioError::BadField { offset, field } => {
                write!(f, "bad cpio header at offset {offset}: {field} is not 8 hex digits")
            }
            CpioError::TruncatedHeader { offset } => write!(f, "truncated cpio header at offset {offset}"),
            CpioError::TruncatedName { offset } => write!(f, "truncated cpio name at offset {offset}"),
            CpioError::TruncatedData { offset } => write!(f, "truncated cpio data at offset {offset}"),
            CpioError::NameLength { offset, namesize } => {
                write!(f, "bad cpio name length {namesize} at offset {offset}")
            }
            CpioError::NameNotTerminated { offset } => {
                write!(f, "cpio name without its NUL at offset {offset}")
            }
            CpioError::SymlinkLength { offset, size } => {
                write!(f, "symlink target of {size} bytes at offset {offset} is longer than PATH_MAX")
            }
            CpioError::BadChecksum { offset, stored, computed } => {
                write!(f, "bad data checksum at offset {offset} (stored {stored:#x}, computed {computed:#x})")
            }
            CpioError::BrokenPadding { offset } => write!(f, "broken padding: cpio header at offset {offset}"),
        }
    }
}

/// One entry of an archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Offset of the header in the reader's buffer.
    pub offset: usize,
    pub ino: u32,
    /// Type (S_IFMT bits) and permissions.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// The name without its NUL (as stored: `init`, `./bin/sh`, ...).
    pub name: &'a [u8],
    /// The data (a symlink's target for S_IFLNK).
    pub data: &'a [u8],
    /// Offset of the data in the reader's buffer.
    pub data_offset: usize,
}

impl Entry<'_> {
    /// The type bits of the mode.
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }
}

/// 8 ASCII hex digits.
fn hex8(b: &[u8]) -> Option<u32> {
    if b.len() != 8 {
        return None;
    }
    b.iter().try_fold(0u32, |acc, &c| Some((acc << 4) | char::from(c).to_digit(16)?))
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|n| n & !3)
}

/// The entries of the archive starting at `buf[start]`, up to its trailer.
pub struct Entries<'a> {
    buf: &'a [u8],
    pos: usize,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    /// The trailer was read; `pos` is past its padding.
    Done,
    /// An error was returned (or the buffer ended at an entry boundary).
    Stopped,
}

impl<'a> Entries<'a> {
    /// The archive whose first header is at `start` in `buf`.
    pub fn new(buf: &'a [u8], start: usize) -> Self {
        Entries { buf, pos: start, state: State::Reading }
    }

    /// Where the archive ended: past the trailer's padding once the trailer
    /// was read (clamped to the buffer), else the next header's offset.
    pub fn end(&self) -> usize {
        self.pos.min(self.buf.len())
    }

    /// Whether the trailer was read.
    pub fn saw_trailer(&self) -> bool {
        self.state == State::Done
    }

    fn read(&mut self) -> Result<Option<Entry<'a>>, CpioError> {
        let offset = self.pos;
        if !offset.is_multiple_of(4) {
            return Err(CpioError::BrokenPadding { offset });
        }
        let rest = self.buf.get(offset..).unwrap_or(&[]);
        let header = rest.get(..HEADER_LEN);
        let magic = rest.get(..6.min(rest.len())).unwrap_or(&[]);
        if !b"070701".starts_with(magic) && !b"070702".starts_with(magic) {
            return Err(if b"070707".starts_with(magic) && magic.len() == 6 {
                CpioError::OldFormat { offset }
            } else {
                CpioError::BadMagic { offset }
            });
        }
        let header = header.ok_or(CpioError::TruncatedHeader { offset })?;
        let crc_format = header.get(5) == Some(&b'2');
        let mut f = [0u32; 13];
        for (i, v) in f.iter_mut().enumerate() {
            let at = 6 + 8 * i;
            let field = FIELDS.get(i).copied().unwrap_or("field");
            *v = header.get(at..at + 8).and_then(hex8).ok_or(CpioError::BadField { offset, field })?;
        }
        let [
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            filesize,
            dev_major,
            dev_minor,
            rdev_major,
            rdev_minor,
            namesize,
            check,
        ] = f;
        if namesize == 0 || namesize as usize > PATH_MAX {
            return Err(CpioError::NameLength { offset, namesize });
        }
        let name_start = offset + HEADER_LEN; // header fits in buf, so no overflow
        let name_end = name_start + namesize as usize;
        let name = self.buf.get(name_start..name_end).ok_or(CpioError::TruncatedName { offset })?;
        let (name, nul) = match name.split_last() {
            Some((&0, name)) => (name, true),
            _ => (name, false),
        };
        if !nul {
            return Err(CpioError::NameNotTerminated { offset });
        }
        let data_offset = align4(name_end).ok_or(CpioError::TruncatedName { offset })?;
        let data_end = data_offset.checked_add(filesize as usize).ok_or(CpioError::TruncatedData { offset })?;
        let next = align4(data_end).ok_or(CpioError::TruncatedData { offset })?;
        if mode & S_IFMT == S_IFLNK && filesize as usize > PATH_MAX {
            return Err(CpioError::SymlinkLength { offset, size: filesize });
        }
        let data = self.buf.get(data_offset..data_end).ok_or(CpioError::TruncatedData { offset })?;
        if crc_format {
            let computed = data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
            if computed != check {
                return Err(CpioError::BadChecksum { offset, stored: check, computed });
            }
        }
        self.pos = next;
        if name == TRAILER {
            self.state = State::Done;
            return Ok(None);
        }
        Ok(Some(Entry {
            offset,
            ino,
            mode,
            uid,
            gid,
            nlink,
            mtime,
            dev_major,
            dev_minor,
            rdev_major,
            rdev_minor,
            name,
            data,
            data_offset,
        }))
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Entry<'a>, CpioError>;

    /// The next entry; `None` after the trailer, after an error, or when
    /// the buffer ends exactly where a header would start (an archive
    /// without a trailer, which Linux accepts when it is not compressed).
    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Reading {
            return None;
        }
        if self.pos >= self.buf.len() {
            self.state = State::Stopped;
            return None;
        }
        match self.read() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.state = State::Stopped;
                Some(Err(e))
            }
        }
    }
}
