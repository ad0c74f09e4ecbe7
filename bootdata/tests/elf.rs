//! The ELF checks on the host: binaries from a real AArch64 toolchain
//! (committed, and rebuilt here when the cross compiler is installed), and
//! hand-built files for every refusal.

#[path = "common/archive.rs"]
mod archive;

use bootdata::elf::{ELF_MIN_ALIGN, ElfImage, ElfKind, ExecError, LoadSegment, SegmentFlags, TASK_SIZE, parse};
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/elf").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const RX: SegmentFlags = SegmentFlags::from_bits(5);
const RW: SegmentFlags = SegmentFlags::from_bits(6);

/// A program header: (type, flags, offset, vaddr, filesz, memsz, align).
type Ph = (u32, u32, u64, u64, u64, u64, u64);

/// An ELF64 AArch64 file with `phdrs` right after the header, padded to
/// `len` bytes.
fn build(e_type: u16, entry: u64, phdrs: &[Ph], len: usize) -> Vec<u8> {
    let mut f = vec![0u8; 64];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16..18].copy_from_slice(&e_type.to_le_bytes());
    f[18..20].copy_from_slice(&183u16.to_le_bytes());
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[24..32].copy_from_slice(&entry.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for &(t, fl, off, va, fsz, msz, al) in phdrs {
        f.extend_from_slice(&t.to_le_bytes());
        f.extend_from_slice(&fl.to_le_bytes());
        for v in [off, va, va, fsz, msz, al] {
            f.extend_from_slice(&v.to_le_bytes());
        }
    }
    f.resize(len.max(f.len()), 0);
    f
}

const TEXT: Ph = (1, 5, 0, 0x40_0000, 0x800, 0x800, 0x1000);
const DATA: Ph = (1, 6, 0x1000, 0x41_1000, 0x100, 0x3000, 0x1000);

fn good() -> Vec<u8> {
    build(2, 0x40_0100, &[TEXT, DATA], 0x2000)
}

#[test]
fn gcc_static_binary_parses() {
    let img = parse(&fixture("hello-static.elf")).unwrap();
    assert_eq!(img.kind, ElfKind::Exec);
    assert_eq!(img.segments.len(), 2);
    let (text, bss) = (img.segments[0], img.segments[1]);
    assert_eq!(text.flags, RX);
    assert!(bss.flags.contains(SegmentFlags::R | SegmentFlags::W) && !bss.flags.contains(SegmentFlags::X));
    assert_eq!(bss.filesz, 0, "the data segment is all bss");
    assert!(img.entry >= text.vaddr && img.entry < text.vaddr + text.memsz);
    assert_eq!(img.stack_flags, RW, "PT_GNU_STACK RW");
    // No PT_PHDR: AT_PHDR is e_phoff inside the first segment.
    assert_eq!(img.phdr_vaddr, Some(text.vaddr + 64));
    assert_eq!((img.phnum, img.phentsize), (3, 56), "LOAD, LOAD, GNU_STACK");
    assert_eq!(img.span(), (0x40_0000, bss.vaddr + bss.memsz));
}

#[test]
fn gcc_static_binary_with_separate_code_has_four_ordered_segments() {
    let img = parse(&fixture("hello-static-4k.elf")).unwrap();
    let flags: Vec<String> = img.segments.iter().map(|s| s.flags.to_string()).collect();
    assert_eq!(flags, ["r--", "r-x", "r--", "rw-"]);
    assert!(img.segments.windows(2).all(|w| w[0].vaddr + w[0].memsz <= w[1].vaddr));
    for s in &img.segments {
        assert_eq!(s.vaddr % ELF_MIN_ALIGN, s.offset % ELF_MIN_ALIGN);
    }
}

#[test]
fn static_pie_is_reported_and_dynamic_binaries_refused() {
    let img = parse(&fixture("hello-pie.elf")).unwrap();
    assert_eq!(img.kind, ElfKind::StaticPie);
    assert_eq!(img.segments[0].vaddr, 0, "a PIE's addresses are offsets from its base");
    let e = parse(&fixture("hello-dyn.elf")).unwrap_err();
    assert_eq!(e, ExecError::Interpreter);
    assert!(e.to_string().contains("PT_INTERP"), "{e}");
}

#[test]
fn a_freshly_built_binary_parses_like_the_fixture() {
    let cc = "aarch64-linux-gnu-gcc";
    if std::process::Command::new(cc).arg("--version").output().is_err() {
        eprintln!("{cc} not installed: checked against the committed fixtures only");
        return;
    }
    let out = std::env::temp_dir().join(format!("bootdata-elf-{}", std::process::id()));
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/elf/hello.c");
    let st = std::process::Command::new(cc)
        .args(["-static", "-nostdlib", "-O2", "-Wl,--build-id=none", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    let fresh = parse(&std::fs::read(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    let committed = parse(&fixture("hello-static.elf")).unwrap();
    let shape = |i: &ElfImage| i.segments.iter().map(|s| (s.flags, s.memsz > s.filesz)).collect::<Vec<_>>();
    assert_eq!(shape(&fresh), shape(&committed));
    assert_eq!(fresh.kind, ElfKind::Exec);
}

#[test]
fn a_hand_built_file_gives_back_its_segments() {
    let img = parse(&good()).unwrap();
    assert_eq!(
        img.segments,
        [
            LoadSegment { vaddr: 0x40_0000, memsz: 0x800, offset: 0, filesz: 0x800, flags: RX, align: 0x1000 },
            LoadSegment { vaddr: 0x41_1000, memsz: 0x3000, offset: 0x1000, filesz: 0x100, flags: RW, align: 0x1000 },
        ]
    );
    assert_eq!(img.entry, 0x40_0100);
    assert_eq!(img.stack_flags, RW, "no PT_GNU_STACK: not executable");
    let with_stack = build(2, 0x40_0100, &[TEXT, DATA, (0x6474_e551, 7, 0, 0, 0, 0, 16)], 0x2000);
    assert_eq!(parse(&with_stack).unwrap().stack_flags, SegmentFlags::from_bits(7));
    let with_phdr = build(2, 0x40_0100, &[(6, 4, 64, 0x40_0040, 168, 168, 8), TEXT, DATA], 0x2000);
    assert_eq!(parse(&with_phdr).unwrap().phdr_vaddr, Some(0x40_0040));
}

#[test]
fn the_ident_and_header_are_checked() {
    let set = |at: usize, bytes: &[u8]| {
        let mut f = good();
        f[at..at + bytes.len()].copy_from_slice(bytes);
        parse(&f).unwrap_err()
    };
    assert_eq!(parse(b"#!/bin/sh\n").unwrap_err(), ExecError::NotElf);
    assert_eq!(parse(&good()[..63]).unwrap_err(), ExecError::NotElf);
    assert_eq!(ExecError::NotElf.to_string(), "exec: not an ELF file");
    assert_eq!(set(0, b"\x7fELG"), ExecError::NotElf);
    assert_eq!(set(4, &[1]), ExecError::NotElf64(1));
    assert_eq!(set(5, &[2]), ExecError::NotLittleEndian(2));
    assert_eq!(set(6, &[0]), ExecError::BadVersion(0));
    assert_eq!(set(20, &[2]), ExecError::BadVersion(2));
    assert_eq!(set(16, &[1, 0]), ExecError::NotExecutable(1));
    assert_eq!(set(16, &[4, 0]), ExecError::NotExecutable(4));
    let e = set(18, &62u16.to_le_bytes());
    assert_eq!(e, ExecError::NotAarch64(62));
    assert_eq!(e.to_string(), "exec: not AArch64 (e_machine 62)");
    assert_eq!(set(54, &[32, 0]), ExecError::BadPhentsize(32));
    assert_eq!(set(56, &[0, 0]), ExecError::BadPhnum(0));
    assert_eq!(set(56, &[74, 0]), ExecError::BadPhnum(74), "more than a page of headers");
    assert_eq!(set(32, &(0x2000u64 - 100).to_le_bytes()), ExecError::PhdrsOutsideFile);
    assert_eq!(set(32, &u64::MAX.to_le_bytes()), ExecError::PhdrsOutsideFile);
}

#[test]
fn every_segment_rule_has_its_error() {
    let one = |ph: Ph, entry: u64| parse(&build(2, entry, &[ph], 0x3000));
    let e = 0x40_0100;
    assert_eq!(one((1, 5, 0, 0x40_0000, 0x900, 0x800, 0x1000), e), Err(ExecError::FileszOverMemsz { index: 0 }));
    assert_eq!(
        one((1, 5, 0x2800, 0x40_0800, 0x900, 0x900, 0x1000), e),
        Err(ExecError::SegmentOutsideFile { index: 0 })
    );
    assert_eq!(
        one((1, 5, u64::MAX - 10, 0x40_0000 + ((u64::MAX - 10) & 0xfff), 20, 20, 0), e),
        Err(ExecError::SegmentOutsideFile { index: 0 })
    );
    assert_eq!(
        one((1, 5, 0, TASK_SIZE - 0x1000, 0x800, 0x2000, 0), e),
        Err(ExecError::SegmentOutsideUser { index: 0 })
    );
    assert_eq!(one((1, 5, 0, !0xfff, 0x800, 0x2000, 0), e), Err(ExecError::SegmentOutsideUser { index: 0 }));
    assert_eq!(one((1, 5, 0x10, 0x40_0000, 0x800, 0x800, 0x1000), e), Err(ExecError::NotPageCongruent { index: 0 }));
    assert_eq!(one((1, 5, 0, 0x40_0000, 0x800, 0x800, 0x3000), e), Err(ExecError::BadAlign { index: 0 }));
    assert_eq!(one((1, 6, 0, 0x40_0000, 0x800, 0x800, 0x1000), e), Err(ExecError::EntryNotExecutable(e)));
    assert_eq!(
        one((1, 5, 0, 0x40_0000, 0x800, 0x800, 0x1000), 0x40_0800),
        Err(ExecError::EntryNotExecutable(0x40_0800))
    );
    assert_eq!(one((4, 5, 0, 0x40_0000, 0x800, 0x800, 0x1000), e), Err(ExecError::NoLoadSegments));
    assert_eq!(one((3, 4, 0x200, 0, 10, 10, 1), e), Err(ExecError::Interpreter));
    // A segment with no file bytes may name any offset (Linux maps no file for it).
    assert!(one((1, 7, 0x7fff_0000, 0x40_0000, 0, 0x800, 0x1000), e).is_ok());
    // Order and overlap.
    let overlap = (1, 6, 0x17ff, 0x40_07ff, 0x1, 0x10, 0x1000);
    assert_eq!(parse(&build(2, e, &[TEXT, overlap], 0x3000)), Err(ExecError::Overlap { index: 1 }));
    assert_eq!(parse(&build(2, e, &[DATA, TEXT], 0x3000)), Err(ExecError::Overlap { index: 1 }));
    let touching = (1, 6, 0x1800, 0x40_0800, 0x10, 0x10, 0x1000);
    assert!(parse(&build(2, e, &[TEXT, touching], 0x3000)).is_ok(), "adjacent is not overlapping");
}

#[test]
fn every_truncation_is_refused_without_a_panic() {
    let f = fixture("hello-static.elf");
    let full = parse(&f).unwrap();
    for cut in 0..f.len() {
        if let Ok(img) = parse(&f[..cut]) {
            // Only the trailing bytes no segment uses may go.
            let used = img.segments.iter().filter(|s| s.filesz > 0).map(|s| s.offset + s.filesz).max().unwrap();
            assert!(cut as u64 >= used, "cut at {cut}");
            assert_eq!(img, full);
        }
    }
    let _ = archive::S_IFREG;
}
