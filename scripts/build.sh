#!/usr/bin/env bash
# Build the kernel: the ELF (with symbols, for gdb) and the flat arm64 Image
# that every loader takes, plus the device trees we ship. First the user
# programs the kernel embeds (user/programs, for aarch64-unknown-none:
# static ELF executables at 0x400000, linked with user/user.ld).
#
#   scripts/build.sh [--debug]        (or BUILD_PROFILE=release|dev)
#
#   target/user/<name>                                      user programs (stripped ELF)
#   target/user/programs.txt                                their names: what kernel/build.rs embeds
#   target/user/c/hello                                     the C example (when aarch64-linux-gnu-gcc exists)
#   target/user/initramfs.cpio[.gz]                         all of them at /<name> (/hello-c: the C one),
#                                                           newc, plain and gzip (when cpio exists)
#   target/aarch64-unknown-none-softfloat/release/kernel   ELF
#   target/aarch64-unknown-none-softfloat/release/Image    arm64 Image (Linux header)
#   target/dtb/*.dtb                                        compiled from dts/
#
# --debug (BUILD_PROFILE=dev) builds cargo's dev profile into .../debug/
# instead: debug assertions and overflow checks on, full debug info, and
# opt-level 1, not 0. Unoptimised, the kernel overflows its 64 KiB boot
# stack early in kernel_main (large by-value temporaries are not elided)
# and its symbol table outgrows the .kallsyms section linker.ld reserves;
# opt-level 1 keeps both in bounds while leaving most locals visible to gdb.
#
# Two builds at once in one tree (two scripts/run.sh, run.sh beside
# cargo test) take turns on target/.build.lock (flock), so cargo's link,
# the kallsyms fill-in and the Image never interleave; every file is
# written under a temporary name and renamed into place, so a reader
# (QEMU, gdb) sees the old file or the new one, never half of either.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-none-softfloat
profile=${BUILD_PROFILE:-release}
for arg in "$@"; do
    case $arg in
        --debug) profile=dev ;;
        --release) profile=release ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "build: unknown option '$arg' (--debug, --release)" >&2; exit 64 ;;
    esac
done
case $profile in
    release) dir=release cargo_args=(--release) ;;
    dev | debug) dir=debug cargo_args=(--config 'profile.dev.opt-level=1') ;;
    *) echo "build: BUILD_PROFILE='$profile': expected release or dev" >&2; exit 64 ;;
esac
OUT=target/$TARGET/$dir

sysroot=$(rustc --print sysroot)
objcopy=$(ls "$sysroot"/lib/rustlib/*/bin/llvm-objcopy 2>/dev/null | head -n1)
if [ -z "$objcopy" ]; then
    echo "build: llvm-objcopy not found: run scripts/setup.sh (rustup component llvm-tools)" >&2
    exit 1
fi
nm=$(dirname "$objcopy")/llvm-nm
command -v flock >/dev/null 2>&1 || { echo "build: flock (util-linux) not found" >&2; exit 1; }

mkdir -p target
exec 9>>target/.build.lock
if ! flock -n 9; then
    echo "build: waiting for another build in this tree (target/.build.lock)" >&2
    flock 9
fi
export BUILD_LOCK_FD=9    # kallsyms.py: the lock is already held on this descriptor

tmp_files=()
trap 'rm -f "${tmp_files[@]}"' EXIT

# The user programs, then the kernel that embeds them (kernel/build.rs
# reads target/user/programs.txt). The names are the [[bin]] entries of
# user/programs/Cargo.toml.
USER_TARGET=aarch64-unknown-none
cargo build --quiet "${cargo_args[@]}" -p user-programs --target "$USER_TARGET"
user_bins=$(awk '/^\[\[bin\]\]/ { inbin = 1; next } /^\[/ { inbin = 0 } inbin && /^name *=/ { gsub(/[" ]/, "", $0); sub(/^name=/, "", $0); print }' user/programs/Cargo.toml)
[ -n "$user_bins" ] || { echo "build: no [[bin]] in user/programs/Cargo.toml" >&2; exit 1; }
mkdir -p target/user
list_tmp=$(mktemp "target/user/.programs.XXXXXX")
tmp_files+=("$list_tmp")
for name in $user_bins; do
    bin_tmp=$(mktemp "target/user/.$name.XXXXXX")
    tmp_files+=("$bin_tmp")
    "$objcopy" --strip-debug "target/$USER_TARGET/$dir/$name" "$bin_tmp"
    chmod 0755 "$bin_tmp"
    # Unchanged bytes keep the old file (and its mtime: no kernel rebuild).
    if cmp -s "$bin_tmp" "target/user/$name"; then rm -f "$bin_tmp"; else mv -f "$bin_tmp" "target/user/$name"; fi
    echo "$name" >>"$list_tmp"
done
if cmp -s "$list_tmp" target/user/programs.txt; then rm -f "$list_tmp"; else chmod 0644 "$list_tmp"; mv -f "$list_tmp" target/user/programs.txt; fi
# The C example of the README, for an initramfs (not embedded).
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
    mkdir -p target/user/c
    if [ ! -f target/user/c/hello ] || [ user/c/hello.c -nt target/user/c/hello ]; then
        c_tmp=$(mktemp "target/user/c/.hello.XXXXXX")
        tmp_files+=("$c_tmp")
        aarch64-linux-gnu-gcc -static -nostdlib -ffreestanding -fno-stack-protector -O2 -o "$c_tmp" user/c/hello.c
        chmod 0755 "$c_tmp"
        mv -f "$c_tmp" target/user/c/hello
    fi
fi
# An initramfs of them all, for -initrd with rdinit=/<name>.
if command -v cpio >/dev/null 2>&1; then
    initramfs=()
    for name in $user_bins; do initramfs+=("target/user/$name=/$name"); done
    [ -x target/user/c/hello ] && initramfs+=(target/user/c/hello=/hello-c)
    bash scripts/mkinitramfs.sh --no-gzip target/user/initramfs.cpio "${initramfs[@]}"
    bash scripts/mkinitramfs.sh target/user/initramfs.cpio.gz "${initramfs[@]}"
else
    echo "build: cpio not found: no target/user/initramfs.cpio (scripts/setup.sh installs it)" >&2
fi

cargo build --quiet "${cargo_args[@]}" -p kernel --target "$TARGET"

image_tmp=$(mktemp "$OUT/.Image.XXXXXX")
tmp_files+=("$image_tmp")
"$objcopy" -O binary "$OUT/kernel" "$image_tmp"
# Symbol names for backtraces, written into the reserved .kallsyms section
# of both files (no address moves); the ELF is replaced by rename.
python3 scripts/kallsyms.py "$nm" "$OUT/kernel" "$image_tmp"

# Check the header a loader will look at: magic "ARM\x64" at offset 56.
magic=$(od -An -tx1 -j56 -N4 "$image_tmp" | tr -d ' \n')
if [ "$magic" != "41524d64" ]; then
    echo "build: the Image has no arm64 Image magic at offset 56 (got $magic)" >&2
    exit 1
fi
chmod 0644 "$image_tmp"
mv -f "$image_tmp" "$OUT/Image"

mkdir -p target/dtb
for dts in dts/*.dts; do
    [ -e "$dts" ] || continue
    dtb=target/dtb/$(basename "${dts%.dts}").dtb
    if [ ! -f "$dtb" ] || [ "$dts" -nt "$dtb" ]; then
        dtb_tmp=$(mktemp "target/dtb/.dtb.XXXXXX")
        tmp_files+=("$dtb_tmp")
        dtc -q -I dts -O dtb -o "$dtb_tmp" "$dts"
        chmod 0644 "$dtb_tmp"
        mv -f "$dtb_tmp" "$dtb"
    fi
done
