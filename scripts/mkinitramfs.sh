#!/usr/bin/env bash
# Pack files into an initramfs: a cpio archive in the "newc" format,
# gzip-compressed, as Linux's (and our kernel's) -initrd takes it.
#
#   scripts/mkinitramfs.sh [--no-gzip] OUT FILE[=/PATH]...
#
# Each FILE goes into the archive at /PATH (default: /its base name), mode
# 0755 for executables and 0644 for the rest, owned by root, with every
# directory on the way created (0755). Timestamps are fixed (the epoch) and
# names sorted, so the same inputs give the same archive byte for byte.
#
#   scripts/mkinitramfs.sh target/initramfs.cpio.gz target/user/fault=/init target/user/hello
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
gzip_it=1
case ${1:-} in
    -h | --help) usage; exit 0 ;;
    --no-gzip) gzip_it=0; shift ;;
esac
[ $# -ge 2 ] || { usage >&2; exit 64; }
command -v cpio >/dev/null 2>&1 || { echo "mkinitramfs: cpio not found (scripts/setup.sh installs it)" >&2; exit 1; }

out=$1
shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for spec in "$@"; do
    src=${spec%%=*}
    if [ "$src" = "$spec" ]; then dst=/$(basename "$src"); else dst=${spec#*=}; fi
    case $dst in /*) ;; *) dst=/$dst ;; esac
    [ -f "$src" ] || { echo "mkinitramfs: '$src' is not a file" >&2; exit 1; }
    mkdir -p "$stage$(dirname "$dst")"
    cp "$src" "$stage$dst"
    if [ -x "$src" ]; then chmod 0755 "$stage$dst"; else chmod 0644 "$stage$dst"; fi
done
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -exec touch -h -d @0 {} +

mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$(dirname "$out")/.initramfs.XXXXXX")
if ! (cd "$stage" && find . -mindepth 1 | LC_ALL=C sort |
    cpio --quiet -o -H newc --owner=0:0 --reproducible |
    if [ $gzip_it = 1 ]; then gzip -9 -n; else cat; fi) >"$tmp"; then
    rm -f "$tmp"
    exit 1
fi
chmod 0644 "$tmp"
mv -f "$tmp" "$out"
