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
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
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
