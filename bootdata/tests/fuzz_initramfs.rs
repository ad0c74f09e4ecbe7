//! A bounded, seeded fuzz run of the initramfs and ELF parsers, in the
//! manner of fuzz.rs: valid inputs (archives built here, gzip members made
//! by the host's gzip, the committed ELF fixtures and a hand-built one) are
//! damaged a few bytes at a time (bit flips, byte overwrites with edge
//! values, truncation, spliced-in or cut-out runs, hex digits of a cpio
//! header replaced), and random bytes are fed to the DEFLATE decoder. For
//! each result: no panic (the test profile keeps overflow checks on), and
//! whatever is accepted is sane (every file inside the decoded image and
//! its path normalised; every ELF segment obeying the rules parse claims).
//! Fixed seeds and case counts: the same run every time, a few seconds.

#[path = "common/archive.rs"]
mod archive;

use archive::*;
use bootdata::elf::{ELF_MIN_ALIGN, SegmentFlags, TASK_SIZE, parse as elf_parse};
use bootdata::initramfs::{gzip, inflate::inflate, normalise, unpack};

const ARCHIVE_CASES: usize = 3000;
const ELF_CASES: usize = 3000;
const RAW_DEFLATE_CASES: usize = 3000;
const LIMIT: usize = 1 << 20;

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(v.len().max(1));
        match rng.below(7) {
            0 if !v.is_empty() => v[i] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[i] = [0u8, 0xff, 0x7f, 0x80, b'0', b'F', b'g'][rng.below(7)],
            2 => v.truncate(i),
            3 => {
                let n = 1 + rng.below(16);
                let run = rng.bytes(n);
                v.splice(i..i, run);
            }
            4 => {
                let end = (i + 1 + rng.below(32)).min(v.len());
                v.drain(i.min(end)..end);
            }
            5 if v.len() >= 110 => {
                // A hex digit of some header field (cpio headers are at multiples of 4).
                let at = (i & !3) + 6 + rng.below(104);
                if at < v.len() {
                    v[at] = b"0123456789ABCDEFfG"[rng.below(18)];
                }
            }
            _ if v.len() >= 8 => {
                let at = rng.below(v.len() - 7);
                let val = [0u64, u64::MAX, 1 << 63, 0xffff_ffff, TASK_SIZE, 0x1000][rng.below(6)];
                v[at..at + 8].copy_from_slice(&val.to_le_bytes());
            }
            _ => {}
        }
    }
    v
}

fn assert_rootfs_sane(input: &[u8]) -> bool {
    match unpack(input, LIMIT) {
        Ok(fs) => {
            assert!(fs.image_bytes() <= LIMIT);
            for f in fs.iter() {
                assert_eq!(normalise(f.path).unwrap(), f.path, "index path not normalised");
                assert_eq!(fs.lookup(f.path).unwrap(), f);
                assert!(f.data.len() <= fs.image_bytes());
                let _ = fs.resolve(f.path);
            }
            true
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            false
        }
    }
}

#[test]
fn fuzz_initramfs() {
    let mut rng = Rng(0x1417_a3f5);
    let big = rng.text(3000);
    let a = newc(&[dir("bin"), file("init", b"\x7fELF..."), file("bin/text", &big), symlink("bin/sh", "/init")]);
    let crc = archive_with(&[file("c", b"checksummed"), file("d", &big[..100])], "070702");
    let mut mixed = a.clone();
    mixed.extend([0u8; 8]);
    mixed.extend_from_slice(&gzip(&crc, 6));
    let seeds = [a.clone(), crc.clone(), gzip(&a, 1), gzip(&a, 9), mixed];
    for s in &seeds {
        assert!(assert_rootfs_sane(s), "a seed must unpack");
    }
    let mut accepted = 0;
    for case in 0..ARCHIVE_CASES {
        let input = mutate(&mut rng, &seeds[case % seeds.len()]);
        accepted += assert_rootfs_sane(&input) as usize;
    }
    println!("fuzz_initramfs: {ARCHIVE_CASES} cases, {accepted} accepted");
    assert!(accepted > ARCHIVE_CASES / 50 && accepted < ARCHIVE_CASES - ARCHIVE_CASES / 5, "{accepted} accepted");
}

#[test]
fn fuzz_deflate_random_streams() {
    let mut rng = Rng(0xdef1_a7e0);
    let gz = gzip(&rng.text(20_000), 9);
    let deflate = gz[10..gz.len() - 8].to_vec();
    let mut ok = 0;
    for case in 0..RAW_DEFLATE_CASES {
        let n = 1 + rng.below(300);
        let input = if case % 2 == 0 { rng.bytes(n) } else { mutate(&mut rng, &deflate) };
        let mut out = vec![1, 2, 3];
        if let Ok(used) = inflate(&input, &mut out, LIMIT) {
            assert!(used <= input.len());
            ok += 1;
        }
        assert!(out.len() <= LIMIT.max(3) && out[..3] == [1, 2, 3]);
        let _ = gzip::decompress(&input, &mut Vec::new(), LIMIT);
    }
    println!("fuzz_deflate: {RAW_DEFLATE_CASES} cases, {ok} decoded");
}

#[test]
fn fuzz_elf() {
    let mut rng = Rng(0xe1f6_4aa1);
    let seeds: Vec<Vec<u8>> = ["hello-static.elf", "hello-static-4k.elf", "hello-pie.elf"]
        .iter()
        .map(|n| std::fs::read(format!("{}/tests/data/elf/{n}", env!("CARGO_MANIFEST_DIR"))).unwrap())
        .collect();
    let mut accepted = 0;
    for case in 0..ELF_CASES {
        let seed = &seeds[case % seeds.len()];
        // Damage the headers more often than the code.
        let head = seed.len().min(512);
        let mut input = mutate(&mut rng, &seed[..head]);
        input.extend_from_slice(&seed[head..]);
        let Ok(img) = elf_parse(&input) else { continue };
        accepted += 1;
        let mut prev_end = 0;
        for s in &img.segments {
            assert!(s.filesz <= s.memsz);
            assert!(s.filesz == 0 || s.offset + s.filesz <= input.len() as u64);
            assert!(s.vaddr + s.memsz <= TASK_SIZE);
            assert_eq!(s.vaddr % ELF_MIN_ALIGN, s.offset % ELF_MIN_ALIGN);
            assert!(s.vaddr >= prev_end);
            prev_end = s.vaddr + s.memsz;
        }
        assert!(
            img.segments
                .iter()
                .any(|s| s.flags.contains(SegmentFlags::X) && img.entry >= s.vaddr && img.entry < s.vaddr + s.memsz)
        );
    }
    println!("fuzz_elf: {ELF_CASES} cases, {accepted} accepted");
    assert!(accepted > ELF_CASES / 50 && accepted < ELF_CASES - ELF_CASES / 10, "{accepted} accepted");
}
