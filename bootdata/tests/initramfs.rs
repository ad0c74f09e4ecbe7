//! The initramfs unpacker on the host: cpio newc/crc archives built here
//! and by GNU cpio, gzip members made by the host's gzip (stored, fixed and
//! dynamic blocks), hand-built DEFLATE streams for the corner cases, every
//! error with its offset, and path resolution.

#[path = "common/archive.rs"]
mod archive;

use archive::*;
use bootdata::initramfs::cpio::{CpioError, Entries};
use bootdata::initramfs::gzip::{self, GzipError, crc32};
use bootdata::initramfs::inflate::{InflateError, inflate};
use bootdata::initramfs::{Error, LookupError, Rootfs, normalise, unpack};

const LIMIT: usize = 64 << 20;

fn ok(initrd: &[u8]) -> Rootfs {
    unpack(initrd, LIMIT).unwrap_or_else(|e| panic!("unpack failed: {e}"))
}

fn data_of<'a>(fs: &'a Rootfs, path: &str) -> &'a [u8] {
    fs.lookup(path).unwrap_or_else(|| panic!("{path} missing")).data
}

// ----- cpio ------------------------------------------------------------------

#[test]
fn newc_round_trip_keeps_names_modes_and_data() {
    let init = b"\x7fELF not really".to_vec();
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let a = newc(&[
        dir("bin"),
        Item { mode: S_IFREG | 0o755, ..file("init", &init) },
        file("bin/big", &big),
        file("empty", b""),
        symlink("bin/sh", "../init"),
        Item { name: "dev-null", mode: S_IFCHR | 0o666, data: b"", ino: 9, nlink: 1 },
    ]);
    let fs = ok(&a);
    assert_eq!(fs.len(), 6);
    assert_eq!((fs.nr_entries, fs.nr_archives, fs.nr_gzip_members), (6, 1, 0));
    let f = fs.lookup("/init").unwrap();
    assert_eq!((f.path, f.mode, f.data), (&b"/init"[..], S_IFREG | 0o755, &init[..]));
    assert!(f.is_regular());
    assert_eq!(data_of(&fs, "/bin/big"), &big[..]);
    assert_eq!(data_of(&fs, "/empty"), b"");
    assert_eq!(fs.lookup("/bin").unwrap().file_type(), S_IFDIR);
    assert_eq!(fs.lookup("/bin/sh").unwrap().data, b"../init");
    assert_eq!(fs.lookup("/dev-null").unwrap().file_type(), S_IFCHR);
    // Paths in the index are normalised; lookups too.
    for p in ["init", "./init", "//init", "/bin/../init", "/./init"] {
        assert_eq!(fs.lookup(p).unwrap().path, b"/init", "{p}");
    }
    let names: Vec<&[u8]> = fs.iter().map(|f| f.path).collect();
    assert_eq!(names, [&b"/bin"[..], b"/bin/big", b"/bin/sh", b"/dev-null", b"/empty", b"/init"]);
    assert!(fs.lookup("/nope").is_none());
}

#[test]
fn every_name_and_data_length_pads_to_four() {
    for name_len in 1..=9 {
        for data_len in 0..=9 {
            let name = "n".repeat(name_len);
            let data: Vec<u8> = (0..data_len as u8).map(|b| b + 1).collect();
            let a = newc(&[file(&name, &data), file("after", b"x")]);
            let fs = ok(&a);
            assert_eq!(data_of(&fs, &name), &data[..], "{name_len} {data_len}");
            assert_eq!(data_of(&fs, "after"), b"x");
        }
    }
}

#[test]
fn the_entries_reader_reports_offsets_and_stops_at_the_trailer() {
    let a = newc(&[file("a", b"12345"), file("bb", b"")]);
    let mut it = Entries::new(&a, 0);
    let e = it.next().unwrap().unwrap();
    assert_eq!((e.offset, e.name, e.data, e.data_offset), (0, &b"a"[..], &b"12345"[..], 112));
    let e = it.next().unwrap().unwrap();
    assert_eq!((e.offset, e.name), (120, &b"bb"[..]));
    assert!(it.next().is_none());
    assert!(it.saw_trailer());
    assert_eq!(it.end(), a.len());
    assert!(it.next().is_none(), "stays finished");
}

#[test]
fn crc_format_is_accepted_and_its_checksum_checked() {
    let data = b"checksummed contents \xff\xfe";
    let a = archive_with(&[file("f", data)], "070702");
    assert_eq!(data_of(&ok(&a), "/f"), data);
    let mut bad = a.clone();
    let at = bad.windows(data.len()).position(|w| w == data).unwrap();
    bad[at] ^= 1;
    let sum = data.iter().map(|&b| b as u32).sum::<u32>();
    let got = sum - (data[0] as u32) + ((data[0] ^ 1) as u32);
    assert_eq!(
        unpack(&bad, LIMIT).unwrap_err(),
        Error::Cpio(CpioError::BadChecksum { offset: 0, stored: sum, computed: got })
    );
    // The same corruption in newc (no checksum) goes unnoticed.
    let mut plain = newc(&[file("f", data)]);
    let at = plain.windows(data.len()).position(|w| w == data).unwrap();
    plain[at] ^= 1;
    assert_eq!(data_of(&ok(&plain), "/f")[0], data[0] ^ 1);
}

#[test]
fn concatenated_archives_with_zero_padding_and_later_names_win() {
    let a = newc(&[file("x", b"first"), file("only-a", b"a")]);
    let b = newc(&[file("x", b"second"), file("only-b", b"b")]);
    for zeros in [0usize, 4, 8, 512, 4096] {
        let mut initrd = a.clone();
        initrd.extend(std::iter::repeat_n(0, zeros));
        initrd.extend_from_slice(&b);
        initrd.extend(std::iter::repeat_n(0, zeros));
        let fs = ok(&initrd);
        assert_eq!(fs.nr_archives, 2);
        assert_eq!(data_of(&fs, "x"), b"second", "{zeros}");
        assert_eq!((data_of(&fs, "only-a"), data_of(&fs, "only-b")), (&b"a"[..], &b"b"[..]));
    }
    // A header after an odd number of zeros is at a bad offset.
    let mut initrd = a.clone();
    initrd.extend([0, 0, 0]);
    let at = initrd.len();
    initrd.extend_from_slice(&b);
    assert_eq!(unpack(&initrd, LIMIT).unwrap_err(), Error::Cpio(CpioError::BrokenPadding { offset: at }));
}

#[test]
fn an_uncompressed_archive_may_end_without_a_trailer_as_in_linux() {
    let mut a = Vec::new();
    put_entry(&mut a, 0, "070701", &file("init", b"go"));
    assert_eq!(data_of(&ok(&a), "init"), b"go");
    assert!(ok(b"").is_empty());
    assert!(ok(&[0u8; 64]).is_empty());
}

#[test]
fn bad_magic_and_odc_are_reported_at_their_offsets() {
    let mut a = newc(&[file("a", b"1"), file("b", b"2")]);
    // The second header starts at 116 (110 + "a\0" padded, 1 data byte padded).
    assert_eq!(&a[116..122], b"070701");
    a[117] = b'9';
    let e = unpack(&a, LIMIT).unwrap_err();
    assert_eq!(e, Error::Cpio(CpioError::BadMagic { offset: 116 }));
    assert_eq!(e.to_string(), "no cpio magic at offset 116");
    let mut odc = newc(&[file("a", b"1")]);
    odc[..6].copy_from_slice(b"070707");
    let e = unpack(&odc, LIMIT).unwrap_err();
    assert_eq!(e, Error::Cpio(CpioError::OldFormat { offset: 0 }));
    assert!(e.to_string().contains("use -H newc option"), "{e}");
}

#[test]
fn header_fields_must_be_hex() {
    let mut a = newc(&[file("a", b"1")]);
    a[6 + 8 * 6 + 3] = b'g'; // filesize
    let e = unpack(&a, LIMIT).unwrap_err();
    assert_eq!(e, Error::Cpio(CpioError::BadField { offset: 0, field: "filesize" }));
    assert_eq!(e.to_string(), "bad cpio header at offset 0: filesize is not 8 hex digits");
}

#[test]
fn names_must_be_terminated_and_of_sane_length() {
    let mut a = newc(&[file("abc", b"1")]);
    a[113] = b'x'; // the NUL after "abc"
    assert_eq!(unpack(&a, LIMIT).unwrap_err(), Error::Cpio(CpioError::NameNotTerminated { offset: 0 }));
    for (namesize, text) in [(0u32, "00000000"), (4097, "00001001")] {
        let mut a = newc(&[file("abc", b"1")]);
        a[6 + 8 * 11..6 + 8 * 12].copy_from_slice(text.as_bytes());
        assert_eq!(unpack(&a, LIMIT).unwrap_err(), Error::Cpio(CpioError::NameLength { offset: 0, namesize }));
    }
    let target = "t".repeat(4097);
    let a = newc(&[symlink("l", &target)]);
    assert_eq!(unpack(&a, LIMIT).unwrap_err(), Error::Cpio(CpioError::SymlinkLength { offset: 0, size: 4097 }));
}

#[test]
fn truncation_anywhere_is_an_error_naming_the_part_or_a_clean_entry_boundary() {
    let a = newc(&[file("init", b"0123456789"), file("second", b"abc")]);
    // (header offset, end of data) of each entry; the trailer's entry is 124 bytes.
    let mut parts: Vec<(usize, usize)> =
        Entries::new(&a, 0).map(|e| e.unwrap()).map(|e| (e.offset, e.data_offset + e.data.len())).collect();
    parts.push((a.len() - 124, a.len()));
    for cut in 1..a.len() {
        let &(header_at, data_end) = parts.iter().rev().find(|p| p.0 <= cut).unwrap();
        let in_header = cut - header_at;
        match unpack(&a[..cut], LIMIT) {
            // At a header, or in the padding after complete data (Linux waits
            // for the padding as for more data, and takes what it has).
            Ok(fs) => assert!(
                cut == header_at || cut >= data_end,
                "cut at {cut} parsed ({} names) though it is inside an entry",
                fs.len()
            ),
            Err(Error::Cpio(CpioError::TruncatedHeader { offset })) => {
                assert_eq!(offset, header_at);
                assert!(in_header < 110, "{cut}");
            }
            Err(Error::Cpio(CpioError::TruncatedName { offset })) => {
                assert_eq!(offset, header_at);
                assert!(in_header >= 110, "{cut}");
            }
            Err(Error::Cpio(CpioError::TruncatedData { offset })) => {
                assert_eq!(offset, header_at, "{cut}");
                assert!(cut < data_end, "{cut}");
            }
            Err(e) => panic!("cut at {cut}: unexpected {e:?}"),
        }
    }
    assert_eq!(
        unpack(&a[..5], LIMIT).unwrap_err().to_string(),
        "truncated cpio header at offset 0",
        "a prefix of the magic is a truncated header"
    );
}

#[test]
fn gnu_cpio_archives_with_hard_links_and_dot_entries() {
    let dir = std::env::temp_dir().join(format!("bootdata-cpio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("init"), b"#!/bin/sh\necho hi\n").unwrap();
    std::fs::write(dir.join("bin/tool"), vec![0xa5u8; 3000]).unwrap();
    std::fs::hard_link(dir.join("bin/tool"), dir.join("bin/tool2")).unwrap();
    std::os::unix::fs::symlink("tool", dir.join("bin/link")).unwrap();
    let list = b"init\nbin\nbin/tool\nbin/tool2\nbin/link\n.\n";
    let out = std::process::Command::new("cpio")
        .args(["-o", "-H", "newc", "--quiet"])
        .current_dir(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(list).unwrap();
            c.wait_with_output().unwrap()
        })
        .expect("GNU cpio is needed by this test");
    assert!(out.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
    let fs = ok(&out.stdout);
    assert_eq!(data_of(&fs, "/init"), b"#!/bin/sh\necho hi\n");
    // GNU cpio stores the data once, on the last name of the set.
    assert_eq!(data_of(&fs, "/bin/tool"), &[0xa5u8; 3000][..]);
    assert_eq!(data_of(&fs, "/bin/tool2"), &[0xa5u8; 3000][..]);
    assert_eq!(fs.resolve("/bin/link").unwrap().path, b"/bin/tool");
    assert_eq!(fs.lookup("/").unwrap().file_type(), S_IFDIR);
    // And the gzip of it unpacks to the same tree.
    let gz = ok(&gzip(&out.stdout, 9));
    let a: Vec<_> = fs.iter().collect();
    let b: Vec<_> = gz.iter().collect();
    assert_eq!(a, b);
}

// ----- gzip and compressed archives ------------------------------------------

#[test]
fn host_gzip_round_trips_with_stored_fixed_and_dynamic_blocks() {
    let mut rng = Rng(0x5eed);
    let mut seen = [0usize; 3];
    let mut inputs: Vec<Vec<u8>> = vec![Vec::new(), b"a".to_vec(), b"abcabcabcabcabc".to_vec(), vec![0; 200_000]];
    for n in [10, 100, 1000, 40_000, 70_000, 300_000] {
        inputs.push(rng.bytes(n));
        inputs.push(rng.text(n));
    }
    for data in &inputs {
        for level in [1, 6, 9] {
            let gz = gzip(data, level);
            seen[first_block_type(&gz) as usize] += 1;
            let mut out = vec![0xee; 3]; // output is appended after what is there
            let used = gzip::decompress(&gz, &mut out, LIMIT).unwrap_or_else(|e| panic!("{} bytes: {e}", data.len()));
            assert_eq!(used, gz.len());
            assert_eq!(&out[..3], &[0xee; 3]);
            assert!(out[3..] == data[..], "{} bytes at level {level} decoded differently", data.len());
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "block types (stored, fixed, dynamic) seen {seen:?}");
}

#[test]
fn crc32_matches_the_check_value() {
    // The CRC-32 check value of "123456789" (the catalogue's).
    assert_eq!(crc32(0, b"123456789"), 0xcbf4_3926);
    assert_eq!(crc32(crc32(0, b"1234"), b"56789"), 0xcbf4_3926);
    assert_eq!(crc32(0, b""), 0);
}

/// A member with optional header fields around `gzip -n`'s DEFLATE stream.
fn member_with(flags: u8, data: &[u8], fix_hcrc: bool) -> Vec<u8> {
    let plain = gzip(data, 6);
    let deflate_and_trailer = &plain[10..];
    let mut m = vec![0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 3];
    if flags & 4 != 0 {
        m.extend_from_slice(&5u16.to_le_bytes());
        m.extend_from_slice(b"extra");
    }
    if flags & 8 != 0 {
        m.extend_from_slice(b"name.cpio\0");
    }
    if flags & 16 != 0 {
        m.extend_from_slice(b"a comment\0");
    }
    if flags & 2 != 0 {
        let c = crc32(0, &m) as u16 ^ if fix_hcrc { 0 } else { 1 };
        m.extend_from_slice(&c.to_le_bytes());
    }
    m.extend_from_slice(deflate_and_trailer);
    m
}

#[test]
fn gzip_header_fields_are_skipped_and_the_header_crc_checked() {
    let data = b"optional header fields".repeat(20);
    for flags in 0..32u8 {
        let m = member_with(flags, &data, true);
        let mut out = Vec::new();
        assert_eq!(gzip::decompress(&m, &mut out, LIMIT), Ok(m.len()), "flags {flags:#x}");
        assert_eq!(out, data);
    }
    let m = member_with(2 | 8, &data, false);
    assert_eq!(gzip::decompress(&m, &mut Vec::new(), LIMIT), Err(GzipError::HeaderCrc));
    for reserved in [0x20u8, 0x40, 0x80] {
        let mut m = member_with(0, &data, true);
        m[3] = reserved;
        assert_eq!(gzip::decompress(&m, &mut Vec::new(), LIMIT), Err(GzipError::ReservedFlags(reserved)));
    }
    let mut m = member_with(0, &data, true);
    m[2] = 7;
    assert_eq!(gzip::decompress(&m, &mut Vec::new(), LIMIT), Err(GzipError::Method(7)));
    assert_eq!(gzip::decompress(b"PK\x03\x04", &mut Vec::new(), LIMIT), Err(GzipError::NotGzip));
}

#[test]
fn gzip_trailer_crc_and_size_are_checked() {
    let data = b"trailer check ".repeat(50);
    let gz = gzip(&data, 9);
    let n = gz.len();
    let mut bad = gz.clone();
    bad[n - 8] ^= 0x10;
    let e = gzip::decompress(&bad, &mut Vec::new(), LIMIT).unwrap_err();
    assert!(matches!(e, GzipError::DataCrc { .. }), "{e:?}");
    assert!(e.to_string().starts_with("crc error"), "{e}");
    let mut bad = gz.clone();
    bad[n - 4] ^= 1;
    let e = gzip::decompress(&bad, &mut Vec::new(), LIMIT).unwrap_err();
    assert_eq!(e, GzipError::Size { stored: data.len() as u32 ^ 1, computed: data.len() as u32 });
    // Every truncation fails, none panics.
    for cut in 0..n {
        assert!(gzip::decompress(&gz[..cut], &mut Vec::new(), LIMIT).is_err(), "cut at {cut}");
    }
    let e = gzip::decompress(&gz[..n - 3], &mut Vec::new(), LIMIT).unwrap_err();
    assert_eq!(e, GzipError::TruncatedTrailer);
}

#[test]
fn the_output_limit_is_enforced() {
    let data = vec![7u8; 100_000];
    let gz = gzip(&data, 9);
    let mut out = Vec::new();
    assert_eq!(gzip::decompress(&gz, &mut out, 99_999), Err(GzipError::Inflate(InflateError::LimitExceeded)));
    assert!(out.len() <= 99_999);
    let mut out = Vec::new();
    assert_eq!(gzip::decompress(&gz, &mut out, 100_000), Ok(gz.len()));
    let cpio = newc(&[file("f", &data)]);
    let e = unpack(&gzip(&cpio, 6), cpio.len() - 1).unwrap_err();
    assert_eq!(e, Error::LimitExceeded { limit_bytes: cpio.len() - 1 });
    assert_eq!(unpack(&cpio, 1000).unwrap_err(), Error::LimitExceeded { limit_bytes: 1000 });
    assert_eq!(data_of(&unpack(&gzip(&cpio, 6), cpio.len()).unwrap(), "f"), &data[..]);
}

#[test]
fn gzip_members_and_plain_archives_mix_as_in_linux() {
    let a = newc(&[file("a", b"plain"), file("x", b"1")]);
    let b = newc(&[file("b", b"in gzip"), file("x", b"2")]);
    let c = newc(&[file("c", b"second archive in the member"), file("x", b"3")]);
    // One member holding two archives with zero padding between them.
    let mut bc = b.clone();
    bc.extend([0u8; 12]);
    bc.extend_from_slice(&c);
    bc.extend([0u8; 4]);
    let mut initrd = a.clone();
    initrd.extend_from_slice(&gzip(&bc, 6));
    initrd.extend([0u8; 3]); // zeros between pieces need no alignment before a member
    initrd.extend_from_slice(&gzip(&newc(&[file("d", b"last")]), 1));
    let fs = ok(&initrd);
    assert_eq!((fs.nr_archives, fs.nr_gzip_members), (4, 2));
    assert_eq!(data_of(&fs, "a"), b"plain");
    assert_eq!(data_of(&fs, "b"), b"in gzip");
    assert_eq!(data_of(&fs, "c"), b"second archive in the member");
    assert_eq!(data_of(&fs, "d"), b"last");
    assert_eq!(data_of(&fs, "x"), b"3");
}

#[test]
fn a_member_must_end_just_after_a_trailer() {
    let mut body = newc(&[file("a", b"1")]);
    let trailer_end = body.len();
    body.extend_from_slice(b"JUNK");
    let gz = gzip(&body, 6);
    let e = unpack(&gz, LIMIT).unwrap_err();
    assert_eq!(e, Error::JunkInGzip { member: 0, offset: trailer_end });
    assert!(e.to_string().starts_with("junk in compressed archive"), "{e}");
    // An archive cut off inside a member.
    let mut no_trailer = Vec::new();
    put_entry(&mut no_trailer, 0, "070701", &file("a", b"1"));
    let mut initrd = vec![0u8; 8];
    initrd.extend_from_slice(&gzip(&no_trailer, 6));
    assert_eq!(unpack(&initrd, LIMIT).unwrap_err(), Error::JunkInGzip { member: 8, offset: no_trailer.len() });
    // A bad header inside the member: offsets in the decoded data.
    let mut bad = newc(&[file("a", b"1"), file("b", b"2")]);
    bad[116] = b'X';
    let e = unpack(&gzip(&bad, 6), LIMIT).unwrap_err();
    assert_eq!(e, Error::CpioInGzip { member: 0, err: CpioError::BadMagic { offset: 116 } });
    assert_eq!(e.to_string(), "in the gzip member at offset 0: no cpio magic at offset 116");
    // A damaged member.
    let mut gz = gzip(&newc(&[file("a", &[1u8; 1000])]), 6);
    let n = gz.len();
    gz[n - 6] ^= 0xff;
    assert!(matches!(unpack(&gz, LIMIT).unwrap_err(), Error::Gzip { offset: 0, err: GzipError::DataCrc { .. } }));
}

#[test]
fn other_compressors_are_refused_by_name_and_junk_is_junk() {
    let a = newc(&[file("init", b"x")]);
    for (tool, args, name) in [
        ("xz", &["-c", "--format=xz"][..], "xz"),
        ("xz", &["-c", "--format=lzma"][..], "lzma"),
        ("zstd", &["-c", "-q"][..], "zstd"),
        ("lz4", &["-c", "-l", "-q"][..], "lz4"),
        ("bzip2", &["-c"][..], "bzip2"),
    ] {
        if std::process::Command::new(tool).arg("--help").output().is_err() {
            eprintln!("{tool} not installed: its magic is checked with a hand-made prefix only");
            continue;
        }
        let mut initrd = a.clone();
        initrd.extend_from_slice(&pipe(tool, args, &a));
        let e = unpack(&initrd, LIMIT).unwrap_err();
        assert_eq!(e, Error::NotConfigured { offset: a.len(), method: name }, "{tool} {args:?}");
        assert!(e.to_string().starts_with(&format!("compression method {name} not configured")), "{e}");
    }
    for (magic, name) in [
        (&b"\xfd7zXZ\x00"[..], "xz"),
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"\x02\x21\x4c\x18", "lz4"),
        (b"BZh9", "bzip2"),
        (b"\x89LZO", "lzo"),
    ] {
        assert_eq!(unpack(magic, LIMIT).unwrap_err(), Error::NotConfigured { offset: 0, method: name });
    }
    let e = unpack(b"\0\0\0\0\0hello", LIMIT).unwrap_err();
    assert_eq!(e, Error::Junk { offset: 5 });
    assert_eq!(e.to_string(), "junk in compressed archive at offset 5");
}

// ----- raw DEFLATE -----------------------------------------------------------

fn raw(stream: &[u8]) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    inflate(stream, &mut out, LIMIT).map(|_| out)
}

#[test]
fn stored_blocks_and_their_length_check() {
    let mut s = vec![0u8, 3, 0, !3, !0];
    s.extend_from_slice(b"abc");
    s.extend_from_slice(&[1, 2, 0, !2, !0]);
    s.extend_from_slice(b"de");
    assert_eq!(raw(&s), Ok(b"abcde".to_vec()));
    assert_eq!(inflate(&s, &mut Vec::new(), LIMIT), Ok(s.len()));
    let empty = [1u8, 0, 0, 0xff, 0xff];
    assert_eq!(raw(&empty), Ok(Vec::new()));
    let bad = [1u8, 1, 0, 0xfe, 0xfe, b'x'];
    assert_eq!(raw(&bad), Err(InflateError::StoredLength));
    assert_eq!(raw(&[1u8, 5, 0, !5, !0, b'x']), Err(InflateError::Truncated));
    assert_eq!(raw(&[]), Err(InflateError::Truncated));
}

#[test]
fn fixed_blocks_literals_matches_and_reserved_symbols() {
    // 'a', then length 3 at distance 1 (a run), then 'b', then end of block.
    let mut w = BitWriter::default();
    w.put(1, 1);
    w.put(1, 2);
    w.fixed_literal(b'a' as u32);
    w.fixed_literal(257);
    w.code(0, 5);
    w.fixed_literal(b'b' as u32);
    w.fixed_literal(256);
    assert_eq!(raw(&w.finish()), Ok(b"aaaab".to_vec()));

    // A match before any output.
    let mut w = BitWriter::default();
    w.put(1, 1);
    w.put(1, 2);
    w.fixed_literal(257);
    w.code(0, 5);
    assert_eq!(raw(&w.finish()), Err(InflateError::DistanceTooFar));

    // Length symbol 286 and distance symbol 30 are reserved.
    for (len_sym, dist_sym) in [(286u32, 0u32), (257, 30)] {
        let mut w = BitWriter::default();
        w.put(1, 1);
        w.put(1, 2);
        w.fixed_literal(b'z' as u32);
        w.fixed_literal(len_sym);
        w.code(dist_sym, 5);
        w.fixed_literal(256);
        assert_eq!(raw(&w.finish()), Err(InflateError::BadSymbol), "{len_sym} {dist_sym}");
    }
    // Block type 3.
    assert_eq!(raw(&[0b111]), Err(InflateError::BadBlockType));
    // A match may not reach into what the vector held before this stream.
    let mut w = BitWriter::default();
    w.put(1, 1);
    w.put(1, 2);
    w.fixed_literal(257);
    w.code(0, 5);
    w.fixed_literal(256);
    let mut out = b"before".to_vec();
    assert_eq!(inflate(&w.finish(), &mut out, LIMIT), Err(InflateError::DistanceTooFar));
}

#[test]
fn dynamic_headers_with_bad_codes_are_refused() {
    // Every code-length code of length 1: over-subscribed.
    let mut w = BitWriter::default();
    w.put(1, 1);
    w.put(2, 2);
    w.put(0, 5);
    w.put(0, 5);
    w.put(15, 4);
    for _ in 0..19 {
        w.put(1, 3);
    }
    assert_eq!(raw(&w.finish()), Err(InflateError::BadCode));
    // HLIT 30 (287 codes) is too many.
    let mut w = BitWriter::default();
    w.put(1, 1);
    w.put(2, 2);
    w.put(30, 5);
    w.put(0, 5);
    w.put(0, 4);
    assert_eq!(raw(&w.finish()), Err(InflateError::BadCodeLengths));
    // A repeat (16) with nothing before it: code lengths 16 and 0 get 1 bit each.
    let mut w = BitWriter::default();
    w.put(1, 1);
    w.put(2, 2);
    w.put(0, 5);
    w.put(0, 5);
    w.put(0, 4); // 4 code-length lengths: for 16, 17, 18, 0
    for l in [1, 0, 0, 1] {
        w.put(l, 3);
    }
    w.code(1, 1); // the code of symbol 16 (symbols 0 -> "0", 16 -> "1")
    w.put(0, 2);
    assert_eq!(raw(&w.finish()), Err(InflateError::BadCodeLengths));
}

// ----- paths -----------------------------------------------------------------

#[test]
fn normalise_makes_absolute_paths() {
    for (i, o) in [
        ("init", "/init"),
        ("./init", "/init"),
        ("/", "/"),
        (".", "/"),
        ("", "/"),
        ("a//b/./c/", "/a/b/c"),
        ("../../x", "/x"),
        ("a/b/../../c", "/c"),
    ] {
        assert_eq!(normalise(i.as_bytes()).unwrap(), o.as_bytes(), "{i}");
    }
}

#[test]
fn resolve_follows_symlinks_like_a_path_walk() {
    let fs = ok(&newc(&[
        dir("bin"),
        dir("usr"),
        dir("usr/bin"),
        file("usr/bin/busybox", b"BB"),
        symlink("bin/sh", "../usr/bin/busybox"),
        symlink("init", "/bin/sh"),
        symlink("lib", "usr/bin"),
        symlink("loop1", "loop2"),
        symlink("loop2", "loop1"),
        symlink("dangling", "nowhere"),
        file("plain", b"p"),
    ]));
    assert_eq!(fs.resolve("/init").unwrap().data, b"BB");
    assert_eq!(fs.resolve("/init").unwrap().path, b"/usr/bin/busybox");
    assert_eq!(fs.resolve("/lib/busybox").unwrap().data, b"BB", "a symlinked directory");
    assert_eq!(fs.lookup("/init").unwrap().data, b"/bin/sh", "lookup does not follow");
    assert_eq!(fs.resolve("/loop1").unwrap_err(), LookupError::Loop);
    assert_eq!(fs.resolve("/dangling").unwrap_err(), LookupError::NotFound);
    assert_eq!(fs.resolve("/plain/x").unwrap_err(), LookupError::NotDir);
    assert_eq!(fs.resolve("/nothing").unwrap_err(), LookupError::NotFound);
}

#[test]
fn entries_linux_skips_are_skipped() {
    // A directory with data is skipped by Linux's do_header.
    let fs = ok(&newc(&[Item { data: b"junk", ..dir("d") }, file("f", b"1")]));
    assert!(fs.lookup("d").is_none());
    assert_eq!(data_of(&fs, "f"), b"1");
    assert_eq!(fs.nr_entries, 2);
}
