//! Shared by the bootdata test files: the committed blobs and a small
//! flattened-device-tree writer for blobs built in the tests.
#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;

/// `tests/data/<name>`.
pub fn data(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Blobs dumped from QEMU (`-M virt,dumpdtb=...`, trimmed to their
/// totalsize) and compiled from `dts/raspi4b.dts` and `tests/data/features.dts`.
pub const REAL_DTBS: [&str; 6] =
    ["virt.dtb", "virt-el2-smp8-4g.dtb", "virt-numa2.dtb", "raspi4b.dtb", "features.dtb", "bcm2711-rpi-4-b.dtb"];

pub const FDT_BEGIN_NODE: u32 = 1;
pub const FDT_END_NODE: u32 = 2;
pub const FDT_PROP: u32 = 3;
pub const FDT_NOP: u32 = 4;
pub const FDT_END: u32 = 9;

pub fn get32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

pub fn put32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_be_bytes());
}

/// Header word `i` (0 magic, 1 totalsize, 2 off_dt_struct, 3 off_dt_strings,
/// 4 off_mem_rsvmap, 5 version, 6 last_comp_version, 7 boot_cpuid_phys,
/// 8 size_dt_strings, 9 size_dt_struct).
pub fn hdr(b: &[u8], i: usize) -> usize {
    get32(b, i * 4) as usize
}

/// Big-endian cells of a property value.
pub fn cells(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_be_bytes()).collect()
}

/// A NUL-terminated string value.
pub fn string(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// Writes a blob token by token, the way dtc lays it out: header,
/// reservation map, structure block, strings block, no padding.
#[derive(Default)]
pub struct Builder {
    rsv: Vec<(u64, u64)>,
    structure: Vec<u8>,
    strings: Vec<u8>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn memreserve(mut self, base: u64, size: u64) -> Self {
        self.rsv.push((base, size));
        self
    }

    pub fn token(mut self, t: u32) -> Self {
        self.structure.extend_from_slice(&t.to_be_bytes());
        self
    }

    pub fn begin(mut self, name: &str) -> Self {
        self = self.token(FDT_BEGIN_NODE);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        self.pad()
    }

    pub fn end(self) -> Self {
        self.token(FDT_END_NODE)
    }

    pub fn nop(self) -> Self {
        self.token(FDT_NOP)
    }

    fn pad(mut self) -> Self {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
        self
    }

    /// Offset of `name` in the strings block, added if new.
    fn name_off(&mut self, name: &str) -> u32 {
        let mut at = 0;
        for s in self.strings.split(|&c| c == 0) {
            if s == name.as_bytes() && at < self.strings.len() {
                return at as u32;
            }
            at += s.len() + 1;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        off
    }

    pub fn prop(mut self, name: &str, value: &[u8]) -> Self {
        let off = self.name_off(name);
        self = self.token(FDT_PROP);
        self.structure.extend_from_slice(&(value.len() as u32).to_be_bytes());
        self.structure.extend_from_slice(&off.to_be_bytes());
        self.structure.extend_from_slice(value);
        self.pad()
    }

    pub fn prop_u32(self, name: &str, v: &[u32]) -> Self {
        self.prop(name, &cells(v))
    }

    pub fn prop_str(self, name: &str, s: &str) -> Self {
        self.prop(name, &string(s))
    }

    /// The blob, with FDT_END appended.
    pub fn finish(self) -> Vec<u8> {
        let b = self.token(FDT_END);
        let off_rsv = 40;
        let rsv_len = 16 * (b.rsv.len() + 1);
        let off_struct = off_rsv + rsv_len;
        let off_strings = off_struct + b.structure.len();
        let total = off_strings + b.strings.len();
        let mut out = vec![0u8; total];
        for (i, v) in
            [0xd00d_feed, total, off_struct, off_strings, off_rsv, 17, 16, 0, b.strings.len(), b.structure.len()]
                .into_iter()
                .enumerate()
        {
            put32(&mut out, i * 4, v as u32);
        }
        for (i, &(base, size)) in b.rsv.iter().enumerate() {
            out[off_rsv + 16 * i..off_rsv + 16 * i + 8].copy_from_slice(&base.to_be_bytes());
            out[off_rsv + 16 * i + 8..off_rsv + 16 * i + 16].copy_from_slice(&size.to_be_bytes());
        }
        out[off_struct..off_strings].copy_from_slice(&b.structure);
        out[off_strings..].copy_from_slice(&b.strings);
        out
    }
}

/// A minimal valid machine: root cells 2/2, one memory node, one PSCI CPU.
pub fn minimal() -> Builder {
    Builder::new()
        .begin("")
        .prop_u32("#address-cells", &[2])
        .prop_u32("#size-cells", &[2])
        .begin("memory@40000000")
        .prop_str("device_type", "memory")
        .prop_u32("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .end()
}

/// Walk the structure block of a valid blob: (offset, token, length) of
/// every token, offsets relative to the blob.
pub fn tokens(b: &[u8]) -> Vec<(usize, u32, usize)> {
    let (off_struct, size_struct) = (hdr(b, 2), hdr(b, 9));
    let mut out = Vec::new();
    let mut i = off_struct;
    while i < off_struct + size_struct {
        let t = get32(b, i);
        let len = match t {
            FDT_BEGIN_NODE => 4 + (b[i + 4..].iter().position(|&c| c == 0).unwrap() + 1).next_multiple_of(4),
            FDT_PROP => 12 + (get32(b, i + 4) as usize).next_multiple_of(4),
            _ => 4,
        };
        out.push((i, t, len));
        i += len;
        if t == FDT_END {
            break;
        }
    }
    out
}

/// `b` with a NOP token inserted before every token at the given offsets
/// (from [`tokens`]), header fields adjusted. The strings block must follow
/// the structure block directly, as dtc and the builder lay it out.
pub fn with_nops_before(b: &[u8], at: &[usize]) -> Vec<u8> {
    let (off_struct, off_strings, size_struct) = (hdr(b, 2), hdr(b, 3), hdr(b, 9));
    assert_eq!(off_strings, off_struct + size_struct, "strings must follow the structure block");
    let mut out = b[..off_struct].to_vec();
    let mut added = 0;
    for (off, _, len) in tokens(b) {
        if at.contains(&off) {
            out.extend_from_slice(&FDT_NOP.to_be_bytes());
            added += 4;
        }
        out.extend_from_slice(&b[off..off + len]);
    }
    out.extend_from_slice(&b[off_strings..hdr(b, 1)]);
    let total = out.len();
    put32(&mut out, 4, total as u32);
    put32(&mut out, 12, (off_strings + added) as u32);
    put32(&mut out, 36, (size_struct + added) as u32);
    out
}
