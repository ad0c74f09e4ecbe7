//! The Raspberry Pi 4 SD card image (`scripts/sdcard.sh`): its partition
//! table, the files on its FAT partition and their content, checked from the
//! image itself (nothing is trusted from the script's own output); and QEMU
//! `raspi4b` booted with exactly the `kernel8.img`, DTB and `cmdline.txt`
//! taken back out of it, the console on the mini UART (as the card's
//! `enable_uart=1` makes it on a board) and on the PL011.

use std::path::{Path, PathBuf};
use std::process::Command;

use boot_tests::{Outcome, Qemu, repo_root};

const SECTOR: u64 = 512;

struct Card {
    path: PathBuf,
    /// Byte offset of the FAT partition.
    fat_offset: u64,
}

/// Build the card once per test process (the script rebuilds the kernel
/// unless the boot tests were told not to build).
fn card() -> &'static Card {
    static CARD: std::sync::OnceLock<Card> = std::sync::OnceLock::new();
    CARD.get_or_init(|| {
        let root = repo_root();
        let path = root.join("target/sdcard/test-card.img");
        let mut cmd = Command::new("bash");
        cmd.arg(root.join("scripts/sdcard.sh")).arg("-o").arg(&path).current_dir(&root);
        if std::env::var_os("BOOT_TESTS_NO_BUILD").is_some() {
            cmd.arg("--no-build");
        }
        let out = cmd.output().expect("cannot run scripts/sdcard.sh");
        assert!(
            out.status.success(),
            "scripts/sdcard.sh failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mbr = read_range(&path, 0, SECTOR);
        assert_eq!(&mbr[510..512], &[0x55, 0xaa], "no MBR boot signature");
        let p = &mbr[446..462];
        let start = u32::from_le_bytes(p[8..12].try_into().unwrap()) as u64;
        Card { path, fat_offset: start * SECTOR }
    })
}

fn read_range(path: &Path, offset: u64, len: u64) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len as usize];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// One file of the FAT partition, read back with mtools.
fn card_file(name: &str) -> Vec<u8> {
    let c = card();
    let dir = tempdir();
    let dst = dir.join(name);
    let st = Command::new("mcopy")
        .arg("-n")
        .arg("-i")
        .arg(format!("{}@@{}", c.path.display(), c.fat_offset))
        .arg(format!("::{name}"))
        .arg(&dst)
        .status()
        .expect("cannot run mcopy");
    assert!(st.success(), "mcopy of {name} out of the card failed");
    let bytes = std::fs::read(&dst).unwrap();
    let _ = std::fs::remove_dir_all(dir);
    bytes
}

fn tempdir() -> PathBuf {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("sdcard-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn debian_root() -> PathBuf {
    let out = Command::new("bash")
        .arg(repo_root().join("scripts/debian-arm64.sh"))
        .args(["firmware", "kernel"])
        .output()
        .expect("cannot run scripts/debian-arm64.sh");
    assert!(out.status.success(), "debian-arm64.sh failed: {}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[test]
fn card_has_one_fat32_partition_from_1_mib() {
    let c = card();
    let size = std::fs::metadata(&c.path).unwrap().len();
    let mbr = read_range(&c.path, 0, SECTOR);
    let entry = |i: usize| &mbr[446 + 16 * i..462 + 16 * i];
    let p = entry(0);
    assert_eq!(p[4], 0x0c, "partition 1 is not FAT32 (LBA)");
    let start = u32::from_le_bytes(p[8..12].try_into().unwrap()) as u64;
    let count = u32::from_le_bytes(p[12..16].try_into().unwrap()) as u64;
    assert_eq!(start, 2048, "partition 1 does not start at 1 MiB");
    assert_eq!((start + count) * SECTOR, size, "partition 1 does not end at the end of the image");
    for i in 1..4 {
        assert!(entry(i).iter().all(|&b| b == 0), "partition entry {} is not empty", i + 1);
    }
    // The partition holds a FAT32 file system: boot sector signature and type.
    let bs = read_range(&c.path, c.fat_offset, SECTOR);
    assert_eq!(&bs[510..512], &[0x55, 0xaa], "FAT boot sector signature");
    assert_eq!(&bs[82..90], b"FAT32   ", "file system type");
}

#[test]
fn card_holds_the_firmware_the_dtb_and_the_image() {
    let c = card();
    let out = Command::new("mdir")
        .args(["-b", "-i"])
        .arg(format!("{}@@{}", c.path.display(), c.fat_offset))
        .output()
        .expect("cannot run mdir");
    assert!(out.status.success());
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_start_matches("::/").to_string())
        .filter(|l| !l.is_empty())
        .collect();
    names.sort();
    assert_eq!(names, ["bcm2711-rpi-4-b.dtb", "cmdline.txt", "config.txt", "fixup4.dat", "kernel8.img", "start4.elf"]);

    let root = debian_root();
    let fw = root.join("usr/lib/raspi-firmware");
    for f in ["start4.elf", "fixup4.dat"] {
        let want = std::fs::read(fw.join(f)).unwrap();
        let got = card_file(f);
        assert_eq!(got.len(), want.len(), "{f}: size");
        assert!(got == want, "{f}: content differs from Debian's raspi-firmware");
    }
    let dtb = card_file("bcm2711-rpi-4-b.dtb");
    assert_eq!(&dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed], "the DTB has no FDT magic");
    let debian_dtb = std::fs::read_dir(root.join("usr/lib"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("broadcom/bcm2711-rpi-4-b.dtb"))
        .find(|p| p.exists())
        .expect("Debian's kernel package has no bcm2711-rpi-4-b.dtb");
    assert!(dtb == std::fs::read(debian_dtb).unwrap(), "the DTB is not Debian's bcm2711-rpi-4-b.dtb");
    let image = std::fs::read(repo_root().join("target/aarch64-unknown-none-softfloat/release/Image")).unwrap();
    let k = card_file("kernel8.img");
    assert_eq!(k.len(), image.len(), "kernel8.img size");
    assert!(k == image, "kernel8.img is not the Image");
    assert_eq!(&k[56..60], b"ARM\x64", "kernel8.img has no arm64 Image magic");
}

#[test]
fn config_txt_boots_the_image_in_64_bit_mode_with_the_uart() {
    let cfg = String::from_utf8(card_file("config.txt")).unwrap();
    let settings: Vec<&str> = cfg.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    for want in ["arm_64bit=1", "kernel=kernel8.img", "enable_uart=1", "device_tree=bcm2711-rpi-4-b.dtb"] {
        assert!(settings.contains(&want), "config.txt lacks {want}:\n{cfg}");
    }
    let cmdline = String::from_utf8(card_file("cmdline.txt")).unwrap();
    assert_eq!(cmdline.lines().count(), 1, "cmdline.txt must be one line: {cmdline:?}");
}

/// Boot raspi4b with the card's kernel8.img and DTB, the card's cmdline.txt
/// plus `extra`, as configured by `setup`.
fn boot_card(name: &str, extra: &str, setup: impl FnOnce(Qemu) -> Qemu) -> Outcome {
    let dir = repo_root().join("target/sdcard");
    std::fs::create_dir_all(&dir).unwrap();
    let kernel = dir.join(format!("test-{name}-kernel8.img"));
    let dtb = dir.join(format!("test-{name}-bcm2711-rpi-4-b.dtb"));
    std::fs::write(&kernel, card_file("kernel8.img")).unwrap();
    std::fs::write(&dtb, card_file("bcm2711-rpi-4-b.dtb")).unwrap();
    let cmdline = String::from_utf8(card_file("cmdline.txt")).unwrap();
    let cmdline = format!("{} {extra}", cmdline.trim());
    setup(Qemu::raspi4b().image_file(&kernel).dtb(&dtb).append(cmdline.trim())).run()
}

#[test]
fn card_boots_raspi4b_on_the_mini_uart_and_powers_off() {
    let out = boot_card("mini", "", |q| q.second_serial().no_semihosting());
    out.assert_contains("printk: console [serial1] enabled (mini UART /soc/serial@7e215040");
    out.assert_not_timed_out();
    out.assert_selftests_passed();
    out.assert_contains("reboot: Power down (exit code 0)");
    out.assert_exit(0);
}

#[test]
fn card_boots_raspi4b_on_the_pl011() {
    let out = boot_card("pl011", "console=ttyAMA0,115200", |q| q);
    out.assert_contains("printk: console [ttyAMA0,115200] enabled (pl011 /soc/serial@7e201000");
    out.assert_passed();
}
