//! Builders for the initramfs and ELF tests: cpio newc/crc archives, a
//! DEFLATE bit writer, host tools (gzip, cpio) run on scratch data.
#![allow(dead_code)] // each test file uses a different part

use std::process::{Command, Stdio};

pub const S_IFREG: u32 = 0o100000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFCHR: u32 = 0o020000;

/// One entry to write.
#[derive(Clone)]
pub struct Item<'a> {
    pub name: &'a str,
    pub mode: u32,
    pub data: &'a [u8],
    pub ino: u32,
    pub nlink: u32,
}

pub fn file<'a>(name: &'a str, data: &'a [u8]) -> Item<'a> {
    Item { name, mode: S_IFREG | 0o644, data, ino: 0, nlink: 1 }
}

pub fn dir(name: &str) -> Item<'_> {
    Item { name, mode: S_IFDIR | 0o755, data: b"", ino: 0, nlink: 2 }
}

pub fn symlink<'a>(name: &'a str, target: &'a str) -> Item<'a> {
    Item { name, mode: S_IFLNK | 0o777, data: target.as_bytes(), ino: 0, nlink: 1 }
}

fn pad4(out: &mut Vec<u8>, base: usize) {
    while !(out.len() - base).is_multiple_of(4) {
        out.push(0);
    }
}

/// Append one entry with `magic` ("070701" or "070702") to `out`, whose
/// byte `base` is the archive stream's offset 0 (for the padding).
pub fn put_entry(out: &mut Vec<u8>, base: usize, magic: &str, it: &Item<'_>) {
    let check = if magic == "070702" { it.data.iter().map(|&b| b as u32).fold(0u32, u32::wrapping_add) } else { 0 };
    let fields = [
        it.ino,
        it.mode,
        0,
        0,
        it.nlink,
        0x5f00_0000,
        it.data.len() as u32,
        0,
        0,
        0,
        0,
        it.name.len() as u32 + 1,
        check,
    ];
    out.extend_from_slice(magic.as_bytes());
    for f in fields {
        out.extend_from_slice(format!("{f:08X}").as_bytes());
    }
    out.extend_from_slice(it.name.as_bytes());
    out.push(0);
    pad4(out, base);
    out.extend_from_slice(it.data);
    pad4(out, base);
}

/// A whole newc archive of `items`, with its trailer.
pub fn newc(items: &[Item<'_>]) -> Vec<u8> {
    archive_with(items, "070701")
}

pub fn archive_with(items: &[Item<'_>], magic: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for it in items {
        put_entry(&mut out, 0, magic, it);
    }
    put_entry(&mut out, 0, magic, &Item { name: "TRAILER!!!", mode: 0, data: b"", ino: 0, nlink: 1 });
    out
}

/// Run `cmd args` with `input` on stdin; its stdout.
pub fn pipe(cmd: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd} (needed by this test): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{cmd} {args:?} failed");
    out.stdout
}

/// `gzip -n` (no name or time in the header) at `level` (1..=9).
pub fn gzip(data: &[u8], level: u32) -> Vec<u8> {
    pipe("gzip", &["-nc", &format!("-{level}")], data)
}

/// The type of a gzip member's first DEFLATE block (0 stored, 1 fixed,
/// 2 dynamic), for members with the plain 10-byte header `gzip -n` writes.
pub fn first_block_type(gz: &[u8]) -> u8 {
    assert_eq!(gz[3], 0, "header with optional fields");
    (gz[10] >> 1) & 3
}

/// xorshift64*, as in fuzz.rs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Text-like bytes: words from a small vocabulary, so DEFLATE finds matches.
    pub fn text(&mut self, n: usize) -> Vec<u8> {
        const W: [&str; 8] = ["the ", "page ", "fault ", "zone ", "buddy ", "slab\n", "0x1000 ", "mm "];
        let mut v = Vec::new();
        while v.len() < n {
            v.extend_from_slice(W[self.below(W.len())].as_bytes());
        }
        v.truncate(n);
        v
    }
}

/// DEFLATE bits, LSB first; Huffman codes MSB first as RFC 1951 3.1.1 says.
#[derive(Default)]
pub struct BitWriter {
    pub out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    pub fn put(&mut self, value: u32, nbits: u32) {
        self.acc |= (value as u64) << self.n;
        self.n += nbits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    /// A Huffman code of `len` bits, most significant bit first.
    pub fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }
    pub fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
    /// A literal in the fixed code.
    pub fn fixed_literal(&mut self, sym: u32) {
        match sym {
            0..=143 => self.code(0x30 + sym, 8),
            144..=255 => self.code(0x190 + sym - 144, 9),
            256..=279 => self.code(sym - 256, 7),
            _ => self.code(0xc0 + sym - 280, 8),
        }
    }
}
