//! The initramfs at boot: QEMU's `-initrd` with cpio archives built here
//! (gzip-compressed by the host's gzip, or not), the kernel's Linux-style
//! lines, `rdinit=` resolved through a symlink, and damaged or
//! unsupported archives reported with `Initramfs unpacking failed: ...`
//! while the boot goes on.

use boot_tests::{Qemu, repo_root};
use std::io::Write;
use std::process::{Command, Stdio};

/// A cpio newc entry: (name, mode, data).
type Entry<'a> = (&'a str, u32, &'a [u8]);

fn newc(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer: Entry<'_> = ("TRAILER!!!", 0, b"");
    for (ino, &(name, mode, data)) in entries.iter().chain([&trailer]).enumerate() {
        let fields = [ino as u32 + 1, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(out.len().next_multiple_of(4), 0);
        out.extend_from_slice(data);
        out.resize(out.len().next_multiple_of(4), 0);
    }
    out
}

/// `tool args` over `input`.
fn filter(tool: &str, args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool} is needed by this test: {e}"));
    // Written from a thread: the tool's output pipe fills while it reads.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "{tool} failed");
    out.stdout
}

fn hello_elf() -> Vec<u8> {
    std::fs::read(repo_root().join("bootdata/tests/data/elf/hello-static.elf")).unwrap()
}

const REG: u32 = 0o100755;
const DIR: u32 = 0o040755;
const LNK: u32 = 0o120777;

#[test]
fn a_gzip_archive_is_unpacked_and_rdinit_found() {
    let init = hello_elf();
    let motd = b"welcome\n".repeat(100);
    let archive = newc(&[
        ("init", REG, &init),
        ("bin", DIR, b""),
        ("bin/sh", LNK, b"../init"),
        ("etc", DIR, b""),
        ("etc/motd", 0o100644, &motd),
    ]);
    let out = Qemu::virt().smp(2).append("selftest=off").initrd(filter("gzip", &["-9nc"], &archive)).run();
    out.assert_not_timed_out();
    out.assert_contains("Trying to unpack rootfs image as initramfs...");
    out.assert_contains(&format!(
        "initramfs: unpacked 2 files, 2 directories, 1 symlinks (5 entries in 1 archives, 1 gzip members; {} KiB)",
        archive.len().next_multiple_of(4).div_ceil(1024)
    ));
    out.assert_contains(&format!("initramfs: rdinit /init: {} bytes", init.len()));
    out.assert_not_contains("Initramfs unpacking failed");
    out.assert_exit(0);
}

#[test]
fn plain_and_gzip_archives_concatenate_and_rdinit_follows_symlinks() {
    let init = hello_elf();
    let mut initrd = newc(&[("bin", DIR, b""), ("bin/busybox", REG, &init)]);
    initrd.extend([0u8; 512]);
    initrd.extend(filter("gzip", &["-1nc"], &newc(&[("sbin", LNK, b"bin"), ("init", LNK, b"/sbin/busybox")])));
    let out = Qemu::virt().smp(1).append("selftest=off rdinit=/init").initrd(initrd).run();
    out.assert_not_timed_out();
    out.assert_contains(
        "initramfs: unpacked 1 files, 1 directories, 2 symlinks (4 entries in 2 archives, 1 gzip members;",
    );
    out.assert_contains(&format!("initramfs: rdinit /init: {} bytes", init.len()));
    out.assert_exit(0);
}

#[test]
fn a_missing_rdinit_is_reported() {
    let out = Qemu::virt().smp(1).append("selftest=off rdinit=/nope").initrd(newc(&[("init", REG, b"x")])).run();
    out.assert_contains("initramfs: unpacked 1 files, 0 directories, 0 symlinks");
    out.assert_contains("initramfs: rdinit /nope: not in the archive (ENOENT)");
    out.assert_exit(0);
}

#[test]
fn a_corrupt_archive_fails_like_linux_and_the_boot_goes_on() {
    let mut gz = filter("gzip", &["-nc"], &newc(&[("init", REG, &[7u8; 5000])]));
    let n = gz.len();
    gz[n - 7] ^= 0x40; // the stored CRC-32
    let out = Qemu::virt().smp(1).append("selftest=off").initrd(gz).run();
    out.assert_not_timed_out();
    out.assert_contains("Trying to unpack rootfs image as initramfs...");
    out.assert_contains("Initramfs unpacking failed: gzip member at offset 0: crc error");
    out.assert_not_contains("initramfs: unpacked");
    out.assert_contains("selftest: skipped");
    out.assert_exit(0);
}

#[test]
fn junk_and_other_compressors_are_named() {
    let xz = filter("xz", &["-c", "--format=xz"], &newc(&[("init", REG, b"x")]));
    let out = Qemu::virt().smp(1).append("selftest=off").initrd(xz).run();
    out.assert_contains(
        "Initramfs unpacking failed: compression method xz not configured (at offset 0; only uncompressed and gzip archives are supported)",
    );
    out.assert_exit(0);
    let mut junk = newc(&[("init", REG, b"x")]);
    let at = junk.len();
    junk.extend_from_slice(b"garbage");
    let out = Qemu::virt().smp(1).append("selftest=off").initrd(junk).run();
    out.assert_contains(&format!("Initramfs unpacking failed: junk in compressed archive at offset {at}"));
    out.assert_exit(0);
}

/// Words, so that gzip finds matches and writes dynamic blocks.
fn text(n: usize) -> Vec<u8> {
    let words: [&[u8]; 6] = [b"zone ", b"buddy ", b"slab\n", b"pcp ", b"0x1000 ", b"vma "];
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(words[(x % 6) as usize]);
    }
    v.truncate(n);
    v
}

#[test]
fn megabytes_unpack_and_the_limit_is_a_clear_refusal() {
    let big = text(3 << 20);
    // A real /init: the kernel runs it (a non-ELF one ends the run with
    // Linux's "No working init found").
    let init = hello_elf();
    let archive = newc(&[("init", REG, &init), ("big", 0o100644, &big)]);
    let out = Qemu::virt().smp(1).append("selftest=off").initrd(filter("gzip", &["-6nc"], &archive)).run();
    out.assert_contains(&format!(
        "initramfs: unpacked 2 files, 0 directories, 0 symlinks (2 entries in 1 archives, 1 gzip members; {} KiB)",
        archive.len().div_ceil(1024)
    ));
    out.assert_exit(0);
    // Just over the 4 MiB the decoded archives may take.
    // (header and "big\0" take 116 bytes, the trailer 124, data pads to 4.)
    let too_big = newc(&[("big", 0o100644, &vec![0u8; (4 << 20) - 116 - 124 + 1])]);
    assert_eq!(too_big.len(), (4 << 20) + 4);
    let out = Qemu::virt().smp(1).append("selftest=off").initrd(filter("gzip", &["-1nc"], &too_big)).run();
    out.assert_contains("Initramfs unpacking failed: the unpacked archive exceeds the limit of 4194304 bytes");
    out.assert_exit(0);
}

#[test]
fn an_initrd_outside_the_memory_mem_leaves_is_refused() {
    // QEMU puts the initrd 128 MiB into RAM on virt; mem=96M ends before it.
    let out = Qemu::virt().smp(1).append("selftest=off mem=96M").initrd(newc(&[("init", REG, b"x")])).run();
    out.assert_contains("Trying to unpack rootfs image as initramfs...");
    out.assert_contains("is not in the linear map (outside memory, or above mem=)");
    out.assert_exit(0);
}
