//! Hostile CPU and PSCI input: /cpus entries that repeat or miss the boot
//! CPU, a /psci conduit the machine does not have, spin-table release
//! addresses that are not RAM, and a CPU released for another CPU's
//! attempt. Each boot passes with the self-tests (which accept fewer CPUs
//! online than listed when CPUs were refused) and a message that names
//! what was wrong.

use std::process::Command;

use boot_tests::{Qemu, ScratchFile, kernel};

/// The Image's base for stub boots (above QEMU's own DTB at 0x4000_0000).
const IMAGE_BASE: u64 = 0x4020_0000;
/// Where the edited DTB goes.
const DTB_ADDR: u64 = 0x4800_0000;

/// `blob` after each `fdtput` argument list in `edits` (the file name is
/// inserted after the options).
fn fdt_edit(blob: &[u8], edits: &[&[&str]]) -> Vec<u8> {
    let file = ScratchFile::with_bytes("cpuinput.dtb", blob);
    let path = file.path().to_str().expect("UTF-8 scratch path");
    for edit in edits {
        let (opts, rest): (Vec<&str>, Vec<&str>) = {
            let n = edit.iter().take_while(|a| a.starts_with('-') || ["s", "x", "u"].contains(a)).count();
            (edit[..n].to_vec(), edit[n..].to_vec())
        };
        let out = Command::new("fdtput").args(&opts).arg(path).args(&rest).output().expect("run fdtput (dtc)");
        assert!(out.status.success(), "fdtput {edit:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    std::fs::read(file.path()).expect("read back the DTB")
}

/// Boot virt (`smp` CPUs, entered at EL2 if `el2`) with QEMU's own tree
/// after `edits`.
fn virt_with(smp: u32, el2: bool, edits: &[&[&str]]) -> boot_tests::Outcome {
    let machine = || if el2 { Qemu::virt().smp(smp).el2() } else { Qemu::virt().smp(smp) };
    let dtb = fdt_edit(&machine().dump_dtb(), edits);
    machine().stub_with_dtb(IMAGE_BASE, dtb, DTB_ADDR).run()
}

/// Boot raspi4b with the project's tree after `edits`.
fn raspi4b_with(edits: &[&[&str]]) -> boot_tests::Outcome {
    let blob = std::fs::read(kernel().dtb("raspi4b")).expect("read raspi4b.dtb");
    let file = ScratchFile::with_bytes("raspi4b-edited.dtb", &fdt_edit(&blob, edits));
    Qemu::raspi4b().dtb(file.path()).run()
}

/// CPU1 and CPU2 swap release addresses: releasing "CPU1" wakes the CPU
/// with MPIDR 2, which finds CPU1's token, parks with its MMU off, and
/// takes nobody's stack; the same for "CPU2". Both are reported, CPU3
/// comes up, and every online CPU runs on its own stack (the smp suite).
#[test]
fn released_cpu_with_another_cpus_token_parks() {
    let out = raspi4b_with(&[
        &["-t", "x", "/cpus/cpu@1", "cpu-release-addr", "0", "e8"],
        &["-t", "x", "/cpus/cpu@2", "cpu-release-addr", "0", "e0"],
    ]);
    out.assert_passed();
    out.assert_contains("CPU1: failed to come online (MPIDR 0x1)");
    out.assert_contains("CPU2: failed to come online (MPIDR 0x2)");
    out.assert_contains("CPU3: Booted secondary processor 0x0000000003");
    out.assert_contains("smp: Brought up 1 node, 2 CPUs");
    out.assert_not_contains("CPU1: Booted secondary processor");
    out.assert_not_contains("CPU2: Booted secondary processor");
}

/// A release address that is not 8-byte aligned (CPU1) and one outside RAM
/// (CPU2) are refused with a message naming the CPU, before anything is
/// written; CPU3 still comes up and the self-tests pass (the mmu suite
/// checks that no spin-table fixmap slot stays mapped).
#[test]
fn bad_release_addresses_are_refused() {
    let out = raspi4b_with(&[
        &["-t", "x", "/cpus/cpu@1", "cpu-release-addr", "0", "dc"],
        &["-t", "x", "/cpus/cpu@2", "cpu-release-addr", "8", "0"],
    ]);
    out.assert_passed();
    out.assert_contains("CPU1: cpu-release-addr 0xdc is not 8-byte aligned; not brought up");
    out.assert_contains("CPU2: cpu-release-addr 0x800000000 is outside RAM; not brought up");
    out.assert_contains("CPU3: Booted secondary processor 0x0000000003");
    out.assert_contains("smp: Brought up 1 node, 2 CPUs");
}

/// A second /cpus entry with CPU1's MPIDR is skipped as Linux skips it;
/// the two real CPUs come up and the smp suite counts the possible CPUs.
#[test]
fn duplicate_cpu_is_skipped() {
    let out = virt_with(
        2,
        false,
        &[
            &["-c", "/cpus/cpu@dup"],
            &["-t", "s", "/cpus/cpu@dup", "device_type", "cpu"],
            &["-t", "s", "/cpus/cpu@dup", "compatible", "arm,cortex-a72"],
            &["-t", "x", "/cpus/cpu@dup", "reg", "1"],
            &["-t", "s", "/cpus/cpu@dup", "enable-method", "psci"],
        ],
    );
    out.assert_passed();
    out.assert_contains("duplicate cpu reg properties in the DT (MPIDR 0x1); skipped");
    out.assert_contains("smp: Brought up 1 node, 2 CPUs");
    out.assert_not_contains("failed to come online");
}

/// /cpus without the CPU we run on: not our machine's tree, so no
/// secondary is started (Linux: "missing boot CPU MPIDR").
#[test]
fn missing_boot_cpu_enables_no_secondaries() {
    let out = virt_with(2, false, &[&["-r", "/cpus/cpu@0"]]);
    out.assert_passed();
    out.assert_contains("missing boot CPU MPIDR 0x0 in /cpus, not enabling secondaries");
    out.assert_contains("smp: Brought up 1 node, 1 CPU");
    out.assert_not_contains("CPU1: Booted secondary processor");
}

/// `method = "smc"` on virt without EL3: the SMC is an undefined
/// instruction, caught; PSCI is unavailable and the secondaries stay off.
#[test]
fn psci_smc_without_el3_leaves_secondaries_off() {
    let out = virt_with(2, false, &[&["-t", "s", "/psci", "method", "smc"]]);
    out.assert_passed();
    out.assert_contains("psci: no PSCI firmware behind the Smc conduit");
    out.assert_contains("psci: no cpu_on method, not booting CPU1");
    out.assert_contains("smp: Brought up 1 node, 1 CPU");
}

/// `method = "hvc"` when the kernel itself was entered at EL2: the HVC
/// lands in the head's EL2 stub, which answers NOT_SUPPORTED.
#[test]
fn psci_hvc_when_entered_at_el2_leaves_secondaries_off() {
    let out = virt_with(2, true, &[&["-t", "s", "/psci", "method", "hvc"]]);
    out.assert_passed();
    out.assert_contains("entered at EL2");
    out.assert_contains("psci: no PSCI firmware behind the Hvc conduit");
    out.assert_contains("psci: no cpu_on method, not booting CPU1");
    out.assert_contains("smp: Brought up 1 node, 1 CPU");
}

/// An unknown method string is a device-tree warning; PSCI is unavailable.
#[test]
fn psci_unknown_method_leaves_secondaries_off() {
    let out = virt_with(2, false, &[&["-t", "s", "/psci", "method", "firmware-please"]]);
    out.assert_passed();
    out.assert_contains("/psci: invalid \"method\" property");
    out.assert_contains("psci: no cpu_on method, not booting CPU1");
    out.assert_contains("smp: Brought up 1 node, 1 CPU");
}

/// Firmware that leaves CNTFRQ_EL0 at 0: a stub, run at EL2 (the highest
/// EL on virt without EL3, where CNTFRQ_EL0 is writable), zeroes it, then
/// enters the Image as `boot_stub` does. The kernel reports the missing
/// frequency, every CPU still comes up (the online wait is bounded without
/// a frequency), and the only self-test that fails is the timer's
/// plausibility check, which names the value.
#[test]
fn zero_timer_frequency_is_reported_and_bring_up_is_bounded() {
    const MSR_CNTFRQ_EL0_XZR: u32 = 0xd51b_e01f;
    const NOP: u32 = 0xd503_201f;
    // Two instructions keep the stub's 64-bit literals 8-byte aligned.
    let mut stub: Vec<u8> = [MSR_CNTFRQ_EL0_XZR, NOP].iter().flat_map(|i| i.to_le_bytes()).collect();
    stub.extend(boot_tests::boot_stub(boot_tests::VIRT_DTB_ADDR, IMAGE_BASE));
    let file = ScratchFile::with_bytes("cntfrq0-stub.bin", &stub);
    let bios = file.path().to_str().expect("UTF-8 scratch path").to_string();
    // The last -bios wins: ours replaces the plain stub.
    let out = Qemu::virt().smp(4).el2().stub(IMAGE_BASE).args(["-bios".to_string(), bios]).run();
    out.assert_not_timed_out();
    out.assert_exit(1);
    out.assert_contains("arch_timer: frequency not available (CNTFRQ_EL0 is 0)");
    out.assert_contains("smp: Brought up 1 node, 4 CPUs");
    let failed: Vec<String> = out.failed_selftests().iter().map(|r| format!("{}.{}", r.suite, r.name)).collect();
    assert_eq!(failed, ["timer.counter_runs"], "{}", out.report());
    out.assert_contains("CNTFRQ_EL0 = 0 Hz is implausible");
}

/// A release address in a `no-map` reserved region (as firmware may
/// describe its spin-table page) is outside the linear map: it is written
/// through CPU3's own fixmap slot, which is unmapped afterwards (the mmu
/// suite checks that no slot stays mapped). QEMU's CPU3 polls its usual
/// slot, so it is not released and is reported; nothing is refused.
#[test]
fn release_address_in_nomap_memory_goes_through_the_fixmap() {
    let out = raspi4b_with(&[
        &["-c", "/reserved-memory/spin-table@3b000000"],
        &["-t", "x", "/reserved-memory/spin-table@3b000000", "reg", "0", "3b000000", "1000"],
        &["/reserved-memory/spin-table@3b000000", "no-map"],
        &["-t", "x", "/cpus/cpu@3", "cpu-release-addr", "0", "3b000000"],
    ]);
    out.assert_passed();
    out.assert_not_contains("not marked no-map");
    out.assert_not_contains("not brought up");
    out.assert_contains("CPU3: failed to come online (MPIDR 0x3)");
    out.assert_contains("smp: Brought up 1 node, 3 CPUs");
}

/// A release address in memory the tree claims but the machine lacks:
/// /memory says 2 GiB on a 1 GiB virt, the missing half marked `no-map`
/// so nothing else touches it, and CPU1 (made a spin-table CPU) has its
/// release address there. The memory probe drops the half with nothing
/// behind it, so the address is refused as outside RAM before any store
/// (were it still in memblock, the store's external abort would be caught
/// and refused the same way: "aborts when written"). Either way CPU1 is
/// refused by name and the boot goes on.
#[test]
fn release_address_in_absent_memory_is_refused() {
    let out = virt_with(
        2,
        false,
        &[
            &["-t", "x", "/memory@40000000", "reg", "0", "40000000", "0", "80000000"],
            &["-c", "/reserved-memory"],
            &["-t", "u", "/reserved-memory", "#address-cells", "2"],
            &["-t", "u", "/reserved-memory", "#size-cells", "2"],
            &["/reserved-memory", "ranges"],
            &["-c", "/reserved-memory/absent@80000000"],
            &["-t", "x", "/reserved-memory/absent@80000000", "reg", "0", "80000000", "0", "40000000"],
            &["/reserved-memory/absent@80000000", "no-map"],
            &["-t", "s", "/cpus/cpu@1", "enable-method", "spin-table"],
            &["-t", "x", "/cpus/cpu@1", "cpu-release-addr", "0", "80000000"],
        ],
    );
    out.assert_passed();
    out.assert_contains("memblock: dropping [mem 0x0000000080000000-0x00000000bfffffff]: nothing behind it");
    let Some(line) = out.line_with("CPU1: cpu-release-addr 0x80000000") else {
        out.fail("CPU1's release address is not refused by name");
    };
    if !line.contains("outside RAM") && !line.contains("aborts when written") {
        out.fail(&format!("CPU1 refused for another reason: {line:?}"));
    }
    out.assert_contains("smp: Brought up 1 node, 1 CPU");
}
