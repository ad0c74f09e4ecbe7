//! User processes on real translation: the `fault` self-test suite (every
//! scenario of the built-in `fault` program run as its own process, with
//! its exit status and the free page count checked) on the boards, on one
//! and four CPUs, with a forced small ASID width so the allocator rolls
//! over, and with GICv3; the first program's exit status as the run's
//! exit code; the fault report's format.

use boot_tests::Qemu;

/// Tests the fault suite has (as the kernel lists them).
const MIN_TESTS: u32 = 40;

fn passed(q: Qemu) {
    let out = q.run();
    let n = out.assert_passed();
    assert!(n >= MIN_TESTS, "the fault suite ran {n} tests:\n{}", out.report());
}

// The OOM test fills all of RAM: 512 MiB keeps it to a few seconds.

#[test]
fn suite_passes_on_one_cpu() {
    passed(Qemu::virt().smp(1).mem("512M").append("selftest=fault"));
}

#[test]
fn suite_passes_on_four_cpus() {
    passed(Qemu::virt().smp(4).mem("512M").append("selftest=fault"));
}

#[test]
fn suite_passes_at_el2() {
    passed(Qemu::virt().smp(2).mem("512M").el2().append("selftest=fault"));
}

#[test]
fn suite_passes_with_four_bit_asids() {
    let out = Qemu::virt().smp(4).mem("512M").append("selftest=fault asid_bits=4").run();
    let n = out.assert_passed();
    assert!(n >= MIN_TESTS, "{}", out.report());
    out.assert_contains("ASID allocator initialised with 16 entries");
}

#[test]
fn suite_passes_with_debug_pagealloc() {
    passed(Qemu::virt().smp(2).mem("512M").append("selftest=fault debug_pagealloc=on"));
}

#[test]
fn suite_passes_on_raspi4b() {
    passed(Qemu::raspi4b().append("selftest=fault"));
}

#[test]
fn suite_passes_with_gicv3_and_numa() {
    passed(Qemu::virt().smp(2).numa(2).mem("1G").args(["-machine", "gic-version=3"]).append("selftest=fault"));
}

#[test]
fn first_program_exit_status_is_the_exit_code() {
    let out = Qemu::virt().smp(2).append("rdinit=/exit-status").run();
    out.assert_exit(42);
    out.assert_contains("Run /exit-status as init process");
}

#[test]
fn reboot_power_off_ends_the_run_with_0() {
    let out = Qemu::virt().append("rdinit=/poweroff").run();
    out.assert_exit(0);
    out.assert_contains("reboot: system call from user space: power down");
}

/// A first program found nowhere: Linux would mount the root file system
/// next; there is none here, so the boot goes on (the self-tests' verdict).
#[test]
fn a_missing_init_is_reported_and_the_boot_goes_on() {
    let out = Qemu::virt().append("rdinit=/no/such/program selftest=off").run();
    out.assert_exit(0);
    out.assert_contains("rdinit=/no/such/program: not in the initramfs nor among the built-in programs");
    out.assert_contains("selftest: skipped");
}

/// A first program that is not an executable this kernel runs: Linux's
/// "Failed to execute" and its "No working init found" panic.
#[test]
fn an_init_that_is_not_elf_is_refused_as_linux_does() {
    let mut archive = Vec::new();
    for (name, data) in [("init", &b"#!/bin/sh\necho not an ELF\n"[..]), ("TRAILER!!!", &b""[..])] {
        let fields = [1u32, 0o100755, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        archive.extend_from_slice(b"070701");
        for f in fields {
            archive.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        archive.extend_from_slice(name.as_bytes());
        archive.push(0);
        archive.resize(archive.len().next_multiple_of(4), 0);
        archive.extend_from_slice(data);
        archive.resize(archive.len().next_multiple_of(4), 0);
    }
    let out = Qemu::virt().initrd(archive).run();
    out.assert_exit(2);
    out.assert_contains("Failed to execute /init (error -8): exec: not an ELF file");
    out.assert_contains("Kernel panic - not syncing: No working init found.");
}

#[test]
fn unhandled_fault_is_reported_as_linux_does() {
    let out = Qemu::virt().smp(2).append("selftest=fault.null_deref").run();
    out.assert_passed();
    out.assert_line_contains("unhandled page fault (11) at 0x0000000000000000", &["fault[", "esr 0x", "in fault"]);
}

#[test]
fn maps_and_smaps_rollup_at_exit_in_linux_format() {
    let out = Qemu::virt().smp(1).append("rdinit=/hello maps_at_exit").run();
    out.assert_exit(0);
    let log = &out.log;
    let start = log.find("/proc/1/maps and smaps_rollup (hello):").unwrap_or_else(|| out.fail("no maps report"));
    let lines: Vec<&str> = log[start..].lines().skip(1).take_while(|l| !l.starts_with('[')).collect();
    // The text segment at 0x400000 (user/user.ld), private, no file.
    let text = lines.iter().find(|l| l.starts_with("00400000-")).unwrap_or_else(|| out.fail("no 0x400000 mapping"));
    assert!(
        text[17..].starts_with(" r-xp 00000000 00:00 0") || text[17..].starts_with(" r--p 00000000 00:00 0"),
        "{text}"
    );
    assert!(!lines.iter().any(|l| l.ends_with(" [heap]")), "hello never calls brk: no [heap]");
    let stack = lines.iter().find(|l| l.ends_with(" [stack]")).unwrap_or_else(|| out.fail("no [stack]"));
    assert!(stack.contains(" rw-p 00000000 00:00 0 ") && stack.contains("-1000000000000 "), "{stack}");
    // Linux pads the name to column 73 (25 + 6 * 8 - 1 = 72 bytes before it).
    assert_eq!(stack.find('[').unwrap_or(0), 73, "{stack}");
    let rollup = lines.iter().find(|l| l.ends_with(" [rollup]")).unwrap_or_else(|| out.fail("no rollup header"));
    assert!(rollup.contains(" ---p 00000000 00:00 0 "), "{rollup}");
    let rss = lines.iter().find(|l| l.starts_with("Rss:")).unwrap_or_else(|| out.fail("no Rss line"));
    let kb: u64 = rss[4..].trim().trim_end_matches(" kB").trim().parse().unwrap_or(0);
    assert!(kb >= 8 && rss.ends_with(" kB") && rss.len() == "Rss:".len() + 12 + 8 + 3, "{rss}");
    for field in ["Pss:", "Private_Dirty:", "Anonymous:", "Swap:", "Locked:"] {
        assert!(lines.iter().any(|l| l.starts_with(field)), "no {field}:\n{}", lines.join("\n"));
    }
}

/// target/user/initramfs.cpio.gz, which scripts/build.sh packs: every
/// built-in program at /<name>, the C example at /hello-c.
fn built_initramfs() -> Vec<u8> {
    let _ = boot_tests::kernel();
    let path = boot_tests::repo_root().join("target/user/initramfs.cpio.gz");
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!("{}: {e} (scripts/build.sh packs it; it needs cpio, which scripts/setup.sh installs)", path.display())
    })
}

#[test]
fn a_static_c_program_from_the_initramfs_runs_as_init() {
    let archive = built_initramfs();
    let out = Qemu::virt().smp(2).initrd(archive).append("rdinit=/hello-c").run();
    out.assert_exit(0);
    out.assert_contains("Trying to unpack rootfs image as initramfs...");
    out.assert_contains("Run /hello-c as init process");
    out.assert_contains("hello from C: pid 1");
    out.assert_contains("hello: demand-zero page ok");
    out.assert_contains("hello-c[1]: init exited with status 0");
}

#[test]
fn the_initramfs_programs_exit_status_is_the_exit_code() {
    let archive = built_initramfs();
    let out = Qemu::virt().smp(2).initrd(archive).append("rdinit=/exit-status").run();
    out.assert_exit(42);
}

#[test]
fn with_pan_the_suite_and_uaccess_pass() {
    // QEMU's `max` CPU has PAN (Armv8.1): the kernel's own loads and stores
    // to user pages fault; the uaccess routines' unprivileged ones do not.
    let out = Qemu::virt().cpu("max").smp(2).mem("512M").append("selftest=uaccess,fault").run();
    let n = out.assert_passed();
    assert!(n > MIN_TESTS, "{}", out.report());
    out.assert_contains("CPU features: detected: Privileged Access Never");
}

#[test]
fn suite_passes_on_cortex_a53_at_el2_with_slub_debug() {
    passed(Qemu::virt().cpu("cortex-a53").smp(4).mem("512M").el2().append("selftest=fault slub_debug=FZPU"));
}
