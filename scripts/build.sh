#!/usr/bin/env bash
# Build the kernel: the ELF (with symbols, for gdb) and the flat arm64 Image
# that every loader takes, plus the device trees we ship.
#
#   target/aarch64-unknown-none-softfloat/release/kernel   ELF
#   target/aarch64-unknown-none-softfloat/release/Image    arm64 Image (Linux header)
#   target/dtb/*.dtb                                        compiled from dts/
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-none-softfloat
OUT=target/$TARGET/release

cargo build --quiet --release -p kernel --target "$TARGET"

sysroot=$(rustc --print sysroot)
objcopy=$(ls "$sysroot"/lib/rustlib/*/bin/llvm-objcopy 2>/dev/null | head -n1)
if [ -z "$objcopy" ]; then
    echo "build: llvm-objcopy not found: run scripts/setup.sh (rustup component llvm-tools)" >&2
    exit 1
fi
nm=$(dirname "$objcopy")/llvm-nm
"$objcopy" -O binary "$OUT/kernel" "$OUT/Image.tmp"
# Symbol names for backtraces, written into the reserved .kallsyms section
# of both files (no address moves).
python3 scripts/kallsyms.py "$nm" "$OUT/kernel" "$OUT/Image.tmp"
mv "$OUT/Image.tmp" "$OUT/Image"

# Check the header a loader will look at: magic "ARM\x64" at offset 56.
magic=$(od -An -tx1 -j56 -N4 "$OUT/Image" | tr -d ' \n')
if [ "$magic" != "41524d64" ]; then
    echo "build: $OUT/Image has no arm64 Image magic at offset 56 (got $magic)" >&2
    exit 1
fi

mkdir -p target/dtb
for dts in dts/*.dts; do
    [ -e "$dts" ] || continue
    dtb=target/dtb/$(basename "${dts%.dts}").dtb
    if [ ! -f "$dtb" ] || [ "$dts" -nt "$dtb" ]; then
        dtc -q -I dts -O dtb -o "$dtb" "$dts"
    fi
done
