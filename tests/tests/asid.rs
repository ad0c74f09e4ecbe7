//! ASIDs on real translation: the `asid` self-test suite on one and four
//! CPUs of `virt`, with the debug width `asid_bits=4` (many rollovers of
//! the machine's allocator), and on the Pi 4; the boot line with the
//! allocator's size.

use boot_tests::Qemu;

/// The `asid` suite's tests, all passed.
fn suite_passes(q: Qemu, extra: &str) -> boot_tests::Outcome {
    let out = q.append(&format!("selftest=asid {extra}")).run();
    let n = out.assert_passed();
    assert!(n >= 4, "the asid suite ran {n} tests:\n{}", out.report());
    out
}

#[test]
fn suite_passes_on_one_and_four_cpus() {
    for cpus in [1, 4] {
        let out = suite_passes(Qemu::virt().smp(cpus), "");
        // Cortex-A72: 16-bit ASIDs.
        out.assert_contains("ASID allocator initialised with 65536 entries");
    }
}

#[test]
fn suite_passes_with_four_bit_asids() {
    for cpus in [1, 4] {
        let out = suite_passes(Qemu::virt().smp(cpus), "asid_bits=4");
        out.assert_contains("ASID allocator initialised with 16 entries");
    }
}

/// Below the parameter's range: reported, and the CPU's width is kept.
/// (Widening a width too narrow for the CPUs is host-tested in mm::asid:
/// it needs more than 13 CPUs, more than `virt` has with GICv2.)
#[test]
fn a_width_below_the_range_is_refused() {
    let out = Qemu::virt().smp(4).append("selftest=asid.width_and_tcr_on_every_cpu asid_bits=3").run();
    out.assert_passed();
    out.assert_contains("cmdline: malformed value for 'asid_bits': \"3\" (default kept)");
    out.assert_contains("ASID allocator initialised with 65536 entries");
}

#[test]
fn suite_passes_on_raspi4b() {
    let out = suite_passes(Qemu::raspi4b(), "");
    out.assert_contains("ASID allocator initialised with 65536 entries");
}
