#!/usr/bin/env bash
# Fetch Debian's arm64 packages the Pi 4 path needs, without touching the
# machine's own apt state or installing anything:
#
#   firmware  raspi-firmware (non-free-firmware): start4.elf, fixup4.dat
#   kernel    the arm64 Linux kernel package: its Image and the upstream
#             bcm2711-rpi-4-b.dtb a real Pi 4 boots with
#   busybox   busybox-static (arm64), for a Linux initramfs to compare with
#
# usage: scripts/debian-arm64.sh [--backports] [firmware] [kernel] [busybox]
#        (default: firmware kernel)
#
# --backports takes the packages from the release's backports suite instead
# (bookworm-backports: Linux 6.12 rather than 6.1), with a state and root of
# their own under target/debian-arm64/backports/, so the two never mix.
#
# apt runs with a private state directory under target/debian-arm64/ and a
# sources entry derived from the machine's own Debian sources (same mirror,
# same keyring, the machine's own suite, components main and
# non-free-firmware), so no host name is written anywhere. Packages are only
# downloaded and unpacked (dpkg-deb -x) into target/debian-arm64/root/.
# Quiet when everything is already there; prints the unpacked root on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "debian-arm64: $*" >&2; }
die() { log "$*"; exit 1; }

backports=0
if [ "${1:-}" = --backports ]; then
    backports=1
    shift
fi
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(firmware kernel)
for w in "${want[@]}"; do
    case $w in firmware | kernel | busybox) ;; *) die "unknown package set '$w' (firmware, kernel, busybox)" ;; esac
done

top=$PWD/target/debian-arm64
[ $backports = 0 ] || top=$top/backports
root=$top/root
# The files each set must leave, relative to $root.
have() {
    case $1 in
        firmware) [ -f "$root/usr/lib/raspi-firmware/start4.elf" ] && [ -f "$root/usr/lib/raspi-firmware/fixup4.dat" ] ;;
        kernel) compgen -G "$root/usr/lib/linux-image-*-arm64/broadcom/bcm2711-rpi-4-b.dtb" >/dev/null &&
            compgen -G "$root/boot/vmlinuz-*-arm64" >/dev/null ;;
        busybox) [ -x "$root/bin/busybox" ] ;;
    esac
}
missing=()
for w in "${want[@]}"; do have "$w" || missing+=("$w"); done
if [ ${#missing[@]} -eq 0 ]; then
    echo "$root"
    exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this needs a Debian machine"
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb not found"
. /etc/os-release
release=${VERSION_CODENAME:-}
[ -n "$release" ] || die "cannot tell the Debian release from /etc/os-release"
suite=$release
[ $backports = 0 ] || suite=$release-backports

mkdir -p "$top/state/lists/partial" "$top/cache/archives/partial" "$top/sources" "$top/debs" "$root"
: >"$top/state/status"
src=$top/sources/arm64.sources
# The machine's own entry for its release, with our suite and components. deb822 first,
# then the one-line format (as scripts/setup.sh derives backports).
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    awk -v rel="$release" -v suite="$suite" '
        BEGIN { RS = ""; ORS = "" }
        $0 ~ ("Suites:[^\n]*(^|[ \t])" rel "([ \t]|$|\n)") {
            n = split($0, lines, "\n")
            for (i = 1; i <= n; i++) {
                if (lines[i] ~ /^#/) continue
                if (lines[i] ~ /^Suites:/) lines[i] = "Suites: " suite
                if (lines[i] ~ /^Components:/) lines[i] = "Components: main non-free-firmware"
                if (lines[i] ~ /^Architectures:/) continue
                print lines[i] "\n"
            }
            exit
        }' /etc/apt/sources.list.d/debian.sources >"$src"
fi
if [ ! -s "$src" ] && [ -f /etc/apt/sources.list ]; then
    uri=$(awk -v rel="$release" '$1 == "deb" && $3 == rel { print $2; exit }' /etc/apt/sources.list)
    if [ -n "$uri" ]; then
        printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main non-free-firmware\n' "$uri" "$suite" >"$src"
    fi
fi
[ -s "$src" ] || die "could not derive a $suite entry from the machine's Debian sources"

apt_opts=(
    -o "Dir::State=$top/state" -o "Dir::State::status=$top/state/status"
    -o "Dir::Cache=$top/cache" -o "Dir::Etc::SourceList=/dev/null"
    -o "Dir::Etc::SourceParts=$top/sources" -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=/dev/null" -o "APT::Architecture=arm64"
    -o "APT::Architectures=arm64" -o "APT::Sandbox::User=root" -q
)
log "updating the private arm64 package lists ($suite: main non-free-firmware)"
apt-get "${apt_opts[@]}" update >"$top/update.log" 2>&1 || { cat "$top/update.log" >&2; die "apt-get update failed"; }

pkgs=()
for w in "${missing[@]}"; do
    case $w in
        firmware) pkgs+=(raspi-firmware) ;;
        busybox) pkgs+=(busybox-static) ;;
        kernel)
            # The metapackage names the versioned image package.
            k=$(apt-cache "${apt_opts[@]}" depends linux-image-arm64 2>/dev/null |
                sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-arm64\)$/\1/p' | head -n1)
            [ -n "$k" ] || die "cannot resolve linux-image-arm64 to a kernel package"
            pkgs+=("$k")
            ;;
    esac
done
log "downloading ${pkgs[*]}"
(cd "$top/debs" && apt-get "${apt_opts[@]}" download "${pkgs[@]}" >"$top/download.log" 2>&1) ||
    { cat "$top/download.log" >&2; die "apt-get download failed"; }
for p in "${pkgs[@]}"; do
    deb=$(ls -t "$top/debs/${p}_"*_*.deb 2>/dev/null | head -n1)
    [ -n "$deb" ] || die "no .deb for $p after the download"
    dpkg-deb -x "$deb" "$root"
done
for w in "${want[@]}"; do have "$w" || die "package set '$w' unpacked but its files are missing"; done
echo "$root"
