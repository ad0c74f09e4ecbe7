//! The interrupt controller and the timer's interrupts from the device
//! tree: the machines' own blobs yield their GICs at their CPU addresses,
//! and trees that are odd or wrong give a reason or a default, never a panic.

mod common;

use bootdata::devicetree::{DtInfo, GicVersion, RegBlock, TimerIrqs, compact, parse};
use common::*;

fn parsed_blob(b: &[u8]) -> DtInfo {
    let mut out = vec![0u8; b.len() + 64];
    let c = compact(b, &mut out).unwrap_or_else(|e| panic!("compact: {e}"));
    parse(c).unwrap_or_else(|e| panic!("parse: {e}"))
}

fn parsed(name: &str) -> DtInfo {
    parsed_blob(&data(name))
}

const QEMU_TIMER: [u32; 4] = [29, 30, 27, 26];

fn timer_intids(t: &TimerIrqs) -> [u32; 4] {
    [t.sec_phys, t.phys, t.virt, t.hyp_phys]
}

#[test]
fn qemu_virt_has_a_gicv2_at_its_addresses() {
    for name in ["virt.dtb", "virt-el2-smp8-4g.dtb", "virt-numa2.dtb"] {
        let dt = parsed(name);
        let g = dt.gic.gic.as_ref().unwrap_or_else(|| panic!("{name}: no GIC ({:?})", dt.gic.issue));
        assert_eq!(g.version, GicVersion::V2, "{name}");
        assert_eq!(g.compatible.as_str(), "arm,cortex-a15-gic", "{name}");
        assert_eq!(g.dist, RegBlock { base: 0x800_0000, size: 0x1_0000 }, "{name}");
        assert_eq!(g.cpu_if, Some(RegBlock { base: 0x801_0000, size: 0x1_0000 }), "{name}");
        assert!(g.redist.is_empty(), "{name}");
        assert_eq!(timer_intids(&dt.gic.timer), QEMU_TIMER, "{name}");
        assert_eq!(dt.gic.timer.from_tree, 4, "{name}");
        assert!(dt.gic.timer.always_on, "{name}");
    }
}

#[test]
fn qemu_virt_gic_version_3_has_a_distributor_and_one_redistributor_region() {
    let dt = parsed("virt-gicv3.dtb");
    let g = dt.gic.gic.as_ref().unwrap_or_else(|| panic!("no GIC ({:?})", dt.gic.issue));
    assert_eq!(g.version, GicVersion::V3);
    assert_eq!(g.dist, RegBlock { base: 0x800_0000, size: 0x1_0000 });
    assert_eq!(g.cpu_if, None);
    assert_eq!(g.redist.as_slice(), &[RegBlock { base: 0x80a_0000, size: 0xf6_0000 }]);
    assert_eq!(g.redist_stride, None);
    assert_eq!(timer_intids(&dt.gic.timer), QEMU_TIMER);
}

#[test]
fn raspberry_pi_gic_400_is_translated_through_the_soc_ranges() {
    for name in ["raspi4b.dtb", "bcm2711-rpi-4-b.dtb"] {
        let dt = parsed(name);
        let g = dt.gic.gic.as_ref().unwrap_or_else(|| panic!("{name}: no GIC ({:?})", dt.gic.issue));
        assert_eq!(g.version, GicVersion::V2, "{name}");
        assert_eq!(g.compatible.as_str(), "arm,gic-400", "{name}");
        // 0x40041000 on the bus is 0xff841000 for the CPU.
        assert_eq!(g.dist, RegBlock { base: 0xff84_1000, size: 0x1000 }, "{name}");
        assert_eq!(g.cpu_if, Some(RegBlock { base: 0xff84_2000, size: 0x2000 }), "{name}");
        assert_eq!(timer_intids(&dt.gic.timer), QEMU_TIMER, "{name}");
        assert_eq!(dt.gic.timer.from_tree, 4, "{name}");
    }
}

fn with_gic(node: impl FnOnce(Builder) -> Builder) -> Vec<u8> {
    node(minimal().begin("intc@8000000")).end().end().finish()
}

fn gicv2(b: Builder) -> Builder {
    b.prop_str("compatible", "arm,gic-400").prop("interrupt-controller", &[]).prop_u32("#interrupt-cells", &[3])
}

#[test]
fn no_interrupt_controller_means_no_gic_and_the_default_timer_ppis() {
    let dt = parsed_blob(&minimal().end().finish());
    assert_eq!(dt.gic.gic, None);
    assert_eq!(dt.gic.issue, None);
    assert_eq!(dt.gic.timer, TimerIrqs::DEFAULT);
    assert_eq!(timer_intids(&dt.gic.timer), QEMU_TIMER);
}

#[test]
fn a_gic_without_the_interrupt_controller_property_or_disabled_is_not_used() {
    let dt = parsed_blob(&with_gic(|b| {
        b.prop_str("compatible", "arm,gic-400").prop_u32("reg", &[0, 1 << 20, 0, 0x1000, 0, 2 << 20, 0, 0x2000])
    }));
    assert_eq!(dt.gic.gic, None);
    let dt = parsed_blob(&with_gic(|b| {
        gicv2(b).prop_str("status", "disabled").prop_u32("reg", &[0, 1 << 20, 0, 0x1000, 0, 2 << 20, 0, 0x2000])
    }));
    assert_eq!(dt.gic.gic, None);
}

#[test]
fn a_gicv2_without_its_cpu_interface_is_reported_not_used() {
    let dt = parsed_blob(&with_gic(|b| gicv2(b).prop_u32("reg", &[0, 1 << 20, 0, 0x1000])));
    assert_eq!(dt.gic.gic, None);
    assert_eq!(dt.gic.issue, Some("a GICv2 node without its CPU interface reg"));
}

#[test]
fn a_gic_reg_that_is_empty_wraps_or_does_not_decode_is_reported() {
    let dt = parsed_blob(&with_gic(|b| gicv2(b).prop_u32("reg", &[0, 1 << 20, 0, 0, 0, 2 << 20, 0, 0x2000])));
    assert_eq!(dt.gic.issue, Some("an interrupt controller reg is empty or wraps past 2^64"));
    let dt = parsed_blob(&with_gic(|b| {
        gicv2(b).prop_u32("reg", &[0xffff_ffff, 0xffff_f000, 0, 0x2000, 0, 2 << 20, 0, 0x2000])
    }));
    assert_eq!(dt.gic.issue, Some("an interrupt controller reg is empty or wraps past 2^64"));
    let dt = parsed_blob(&with_gic(|b| gicv2(b).prop_u32("reg", &[0, 1 << 20])));
    assert_eq!(dt.gic.issue, Some("the interrupt controller's reg cannot be decoded"));
    let dt = parsed_blob(&with_gic(gicv2));
    assert_eq!(dt.gic.issue, Some("the interrupt controller has no reg"));
    assert_eq!(dt.gic.timer, TimerIrqs::DEFAULT);
}

#[test]
fn gicv3_redistributor_regions_and_stride_follow_the_binding() {
    let v3 = |b: Builder| b.prop_str("compatible", "arm,gic-v3").prop("interrupt-controller", &[]);
    let regs = [0, 0x800_0000, 0, 0x1_0000, 0, 0x80a_0000, 0, 0x4_0000, 0, 0x900_0000, 0, 0x8_0000];
    let dt = parsed_blob(&with_gic(|b| v3(b).prop_u32("#redistributor-regions", &[2]).prop_u32("reg", &regs)));
    let g = dt.gic.gic.unwrap();
    assert_eq!(
        g.redist.as_slice(),
        &[RegBlock { base: 0x80a_0000, size: 0x4_0000 }, RegBlock { base: 0x900_0000, size: 0x8_0000 }]
    );
    // Three regions claimed, two given.
    let dt = parsed_blob(&with_gic(|b| v3(b).prop_u32("#redistributor-regions", &[3]).prop_u32("reg", &regs)));
    assert_eq!(dt.gic.issue, Some("a GICv3 node with fewer reg entries than its redistributor regions"));
    let dt = parsed_blob(&with_gic(|b| v3(b).prop_u32("#redistributor-regions", &[0]).prop_u32("reg", &regs)));
    assert_eq!(dt.gic.issue, Some("#redistributor-regions is 0"));
    let dt =
        parsed_blob(&with_gic(|b| v3(b).prop_u32("redistributor-stride", &[0, 0x4_0000]).prop_u32("reg", &regs[..8])));
    assert_eq!(dt.gic.gic.unwrap().redist_stride, Some(0x4_0000));
    let dt = parsed_blob(&with_gic(|b| v3(b).prop_u32("redistributor-stride", &[0x1000]).prop_u32("reg", &regs[..8])));
    assert_eq!(dt.gic.issue, Some("redistributor-stride is not a nonzero multiple of 64 KiB"));
}

#[test]
fn the_root_interrupt_parent_picks_among_several_gics() {
    let node = |b: Builder, name: &str, base: u32, phandle: u32| {
        gicv2(b.begin(name))
            .prop_u32("phandle", &[phandle])
            .prop_u32("reg", &[0, base, 0, 0x1000, 0, base + 0x1000, 0, 0x2000])
            .end()
    };
    let blob = |parent: Option<u32>| {
        // Properties come before the children: the root's first.
        let mut b = Builder::new().begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
        if let Some(p) = parent {
            b = b.prop_u32("interrupt-parent", &[p]);
        }
        b = b
            .begin("memory@40000000")
            .prop_str("device_type", "memory")
            .prop_u32("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
            .end();
        b = node(b, "intc@1000000", 0x100_0000, 7);
        node(b, "intc@2000000", 0x200_0000, 8).end().finish()
    };
    assert_eq!(parsed_blob(&blob(Some(8))).gic.gic.unwrap().dist.base, 0x200_0000);
    assert_eq!(parsed_blob(&blob(Some(7))).gic.gic.unwrap().dist.base, 0x100_0000);
    // No parent, or one that names nothing: the first in tree order.
    assert_eq!(parsed_blob(&blob(None)).gic.gic.unwrap().dist.base, 0x100_0000);
    assert_eq!(parsed_blob(&blob(Some(99))).gic.gic.unwrap().dist.base, 0x100_0000);
}

fn with_timer(interrupts: &[u32]) -> DtInfo {
    let b = minimal()
        .begin("intc@8000000")
        .prop_str("compatible", "arm,cortex-a15-gic")
        .prop("interrupt-controller", &[])
        .prop_u32("#interrupt-cells", &[3])
        .prop_u32("reg", &[0, 0x800_0000, 0, 0x1_0000, 0, 0x801_0000, 0, 0x1_0000])
        .end()
        .begin("timer")
        .prop_str("compatible", "arm,armv8-timer")
        .prop_u32("interrupts", interrupts)
        .end()
        .end()
        .finish();
    parsed_blob(&b)
}

#[test]
fn timer_interrupts_are_read_in_the_binding_order() {
    let dt = with_timer(&[1, 13, 4, 1, 14, 4, 1, 11, 4, 1, 10, 4]);
    assert_eq!(timer_intids(&dt.gic.timer), [29, 30, 27, 26]);
    // A board that routes the virtual timer elsewhere (an SPI, even).
    let dt = with_timer(&[1, 1, 4, 1, 2, 4, 0, 5, 4]);
    assert_eq!(timer_intids(&dt.gic.timer), [17, 18, 37, 26]);
    assert_eq!(dt.gic.timer.from_tree, 3);
    assert!(!dt.gic.timer.always_on);
}

#[test]
fn short_or_bad_timer_interrupts_keep_the_defaults_for_the_rest() {
    let dt = with_timer(&[1, 2, 4, 1, 3, 4]);
    assert_eq!(timer_intids(&dt.gic.timer), [18, 19, 27, 26]);
    assert_eq!(dt.gic.timer.from_tree, 2);
    // A PPI number past 15, an unknown type, a cut-off specifier.
    assert_eq!(timer_intids(&with_timer(&[1, 16, 4, 1, 3, 4]).gic.timer), QEMU_TIMER);
    assert_eq!(timer_intids(&with_timer(&[7, 3, 4]).gic.timer), QEMU_TIMER);
    let dt = with_timer(&[1, 5, 4, 1]);
    assert_eq!(timer_intids(&dt.gic.timer), [21, 30, 27, 26]);
    assert_eq!(dt.gic.timer.from_tree, 1);
    assert_eq!(with_timer(&[]).gic.timer.from_tree, 0);
}
