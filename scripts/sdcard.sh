#!/usr/bin/env bash
# Build a bootable Raspberry Pi 4 SD card image, without root:
#
#   an MBR with one FAT32 partition (type 0x0c, from 1 MiB), holding
#     start4.elf, fixup4.dat    the Pi 4 firmware (Debian's raspi-firmware)
#     bcm2711-rpi-4-b.dtb       the upstream device tree (Debian's arm64 kernel package)
#     kernel8.img               the kernel's arm64 Image, byte for byte
#     config.txt, cmdline.txt   what the firmware reads (see below)
#
# usage: scripts/sdcard.sh [-o IMAGE] [--cmdline "ARGS"] [--no-build]
#   -o IMAGE        where to write it (default target/sdcard/mm-kernel-rpi4.img)
#   --cmdline ARGS  the kernel command line (cmdline.txt; default "selftest=all")
#   --no-build      use the Image already built
#
# Write it to a card with `dd if=IMAGE of=/dev/sdX bs=4M conv=fsync` (the
# card's device, named by you: check with lsblk first). The firmware and the
# DTB come from Debian's packages through scripts/debian-arm64.sh (a private
# apt state under target/, nothing installed); mtools and dosfstools make the
# file system in a plain file.
set -euo pipefail
cd "$(dirname "$0")/.."

die() { echo "sdcard: $*" >&2; exit 1; }

out=target/sdcard/mm-kernel-rpi4.img
cmdline="selftest=all"
build=1
while [ "$#" -gt 0 ]; do
    case $1 in
        -o) [ "$#" -ge 2 ] || die "-o needs a path"; out=$2; shift 2 ;;
        --cmdline) [ "$#" -ge 2 ] || die "--cmdline needs a value"; cmdline=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done

bash scripts/setup.sh
for t in mkfs.vfat mcopy mdir python3; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (scripts/setup.sh installs mtools and dosfstools)"
done
[ "$build" = 0 ] || bash scripts/build.sh
image=target/aarch64-unknown-none-softfloat/release/Image
[ -f "$image" ] || die "$image is missing: build first (scripts/build.sh)"

root=$(bash scripts/debian-arm64.sh firmware kernel)
fw=$root/usr/lib/raspi-firmware
dtb=$(ls "$root"/usr/lib/linux-image-*-arm64/broadcom/bcm2711-rpi-4-b.dtb | sort -V | tail -n1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What the firmware reads. The Pi 4 firmware loads kernel8.img (arm_64bit=1)
# and enters it at EL2 with the DTB in x0; enable_uart=1 turns on the mini
# UART on GPIO 14/15 (serial0 there; the upstream tree's stdout-path names it
# serial1) at 115200 baud with the core clock fixed so the baud stays put.
cat >"$work/config.txt" <<'EOF'
# mm-kernel on a Raspberry Pi 4 (written by scripts/sdcard.sh)
arm_64bit=1
kernel=kernel8.img
device_tree=bcm2711-rpi-4-b.dtb
enable_uart=1
EOF
printf '%s\n' "$cmdline" >"$work/cmdline.txt"
cp "$fw/start4.elf" "$fw/fixup4.dat" "$work/"
cp "$dtb" "$work/bcm2711-rpi-4-b.dtb"
cp "$image" "$work/kernel8.img"

# Geometry: 512-byte sectors, the partition from sector 2048 (1 MiB, the
# alignment SD cards want) to the end of a 64 MiB image.
sectors=$((64 * 2048))
first=2048
count=$((sectors - first))
mkfs.vfat -C -F 32 -n MMKERNEL -i 6d6d6b31 -S 512 "$work/part.img" $((count / 2)) >/dev/null
for f in start4.elf fixup4.dat bcm2711-rpi-4-b.dtb kernel8.img config.txt cmdline.txt; do
    mcopy -i "$work/part.img" "$work/$f" "::$f"
done

mkdir -p "$(dirname "$out")"
tmp_out="$out.tmp.$$"
python3 - "$tmp_out" "$sectors" "$first" "$count" "$work/part.img" <<'EOF'
import struct, sys
out, sectors, first, count, part = sys.argv[1], *map(int, sys.argv[2:5]), sys.argv[5]
mbr = bytearray(512)
# One primary partition: not active, CHS fields saturated (LBA only), type 0x0c.
mbr[446:462] = struct.pack("<B3sB3sII", 0x00, b"\xfe\xff\xff", 0x0c, b"\xfe\xff\xff", first, count)
mbr[440:444] = struct.pack("<I", 0x6d6d6b31)  # disk signature "1kmm"
mbr[510:512] = b"\x55\xaa"
with open(out, "wb") as f:
    f.truncate(sectors * 512)
    f.write(mbr)
    f.seek(first * 512)
    with open(part, "rb") as p:
        f.write(p.read())
EOF
mv "$tmp_out" "$out"
echo "sdcard: $out ($((sectors / 2048)) MiB): $(mdir -i "$out@@$((first * 512))" -b | sed 's|.*/||' | tr '\n' ' ')" >&2
echo "$out"
