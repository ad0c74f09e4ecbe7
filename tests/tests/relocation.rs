//! The same Image at other physical bases, entered the way a boot loader
//! would: through our `-bios` stub (x0 = QEMU's DTB at the start of RAM) and
//! through U-Boot's `booti`.

use boot_tests::{Boot, GIB, IMAGE_ALIGN, Qemu, UBOOT_KERNEL_ADDR, VIRT_RAM_BASE, kernel};

fn boot_at(qemu: Qemu, base: u64) {
    assert_eq!(base % IMAGE_ALIGN, 0, "{base:#x} is not 2 MiB aligned");
    qemu.stub(base).run().assert_passed();
}

/// The first 2 MiB-aligned base above QEMU's 1 MiB DTB.
#[test]
fn stub_base_0x4020_0000() {
    boot_at(Qemu::virt().mem("1G"), 0x4020_0000);
}

#[test]
fn stub_base_0x4800_0000() {
    boot_at(Qemu::virt().mem("1G"), 0x4800_0000);
}

/// As high in 1 GiB as the Image's `image_size` allows (0x7fe0_0000 for a
/// kernel under 2 MiB).
#[test]
fn stub_top_of_1g() {
    let ram_end = VIRT_RAM_BASE + GIB;
    let base = (ram_end - kernel().image_size()) & !(IMAGE_ALIGN - 1);
    boot_at(Qemu::virt().mem("1G"), base);
}

/// Above 4 GiB: the kernel's physical addresses need more than 32 bits.
#[test]
fn stub_base_0x1_8000_0000_in_8g() {
    boot_at(Qemu::virt().mem("8G"), 0x1_8000_0000);
}

#[test]
fn stub_base_0x6000_0000_at_el2() {
    boot_at(Qemu::virt().mem("1G").el2(), 0x6000_0000);
}

/// Only 4 KiB-aligned (2 MiB + 0x80000, where older Pi firmware puts
/// kernel8.img relative to RAM): booting.rst asks for 2 MiB, but the head maps
/// the image with pages, so it runs from any page-aligned base.
#[test]
fn stub_base_0x4028_0000_not_2m_aligned() {
    Qemu::virt().mem("1G").stub(0x4028_0000).run().assert_passed();
}

/// U-Boot (Debian's qemu_arm64 build) as `-bios`, the Image placed at its
/// `$kernel_addr_r`; the harness stops autoboot and types `booti` on the
/// console. U-Boot moves QEMU's DTB near the top of RAM and adds /chosen.
#[test]
fn uboot_booti() {
    Qemu::virt().mem("1G").boot(Boot::UBoot { base: UBOOT_KERNEL_ADDR }).run().assert_passed();
}
