#!/usr/bin/env bash
# Install what a fresh Debian machine lacks to build, boot and debug the kernel:
#   qemu-system-aarch64 >= 9.0 (raspi4b), dtc, gdb-multiarch, u-boot-qemu,
#   python3 (kallsyms, the cycle check), flock (the build lock), mtools and
#   dosfstools (the Pi 4 SD card image), cpio (initramfs archives),
#   gcc-aarch64-linux-gnu (the C example user program), and the Rust targets
#   pinned in rust-toolchain.toml.
# Quiet and quick when everything is already there.
#
# With --plot, also what scripts/mmplot draws with: matplotlib from PyPI, in
# a virtual environment of its own at target/mmplot-venv (so neither the
# system's Python nor a user's site-packages is touched; python3-venv from
# Debian if the system's Python cannot make one).
#
# Debian bookworm ships QEMU 7.2, which has no raspi4b machine. Its backports
# suite has 10.x. We derive the backports entry from the machine's own Debian
# sources (same mirror, same keyring), so no host name is written anywhere.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup: $*" >&2; }

plot=0
for arg in "$@"; do
    case $arg in
        --plot) plot=1 ;;
        *) log "unknown option '$arg' (only --plot)"; exit 1 ;;
    esac
done

qemu_ok() {
    command -v qemu-system-aarch64 >/dev/null 2>&1 || return 1
    local v
    v=$(qemu-system-aarch64 --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -n1)
    [ -n "$v" ] && [ "$v" -ge 9 ]
}
uboot_ok() { [ -f /usr/lib/u-boot/qemu_arm64/u-boot.bin ]; }

missing=()
qemu_ok || missing+=(qemu-system-arm)
command -v dtc >/dev/null 2>&1 || missing+=(device-tree-compiler)
command -v gdb-multiarch >/dev/null 2>&1 || missing+=(gdb-multiarch)
uboot_ok || missing+=(u-boot-qemu)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
# The Pi 4 SD card image (scripts/sdcard.sh): a FAT file system in a plain file.
command -v mcopy >/dev/null 2>&1 || missing+=(mtools)
command -v mkfs.vfat >/dev/null 2>&1 || [ -x /usr/sbin/mkfs.vfat ] || missing+=(dosfstools)
# Initramfs archives (scripts/mkinitramfs.sh) and the C example user program.
command -v cpio >/dev/null 2>&1 || missing+=(cpio)
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
# mmplot's virtual environment needs ensurepip, which Debian splits off.
MMPLOT_VENV=target/mmplot-venv
mmplot_ok() { "$MMPLOT_VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1; }
if [ "$plot" = 1 ] && ! mmplot_ok && ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

add_backports() {
    # Already configured?
    if grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
        return 0
    fi
    . /etc/os-release
    local codename="${VERSION_CODENAME:-}"
    if [ -z "$codename" ]; then
        log "cannot tell the Debian release from /etc/os-release"; return 1
    fi
    local out="/etc/apt/sources.list.d/${codename}-backports.sources"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        # deb822: copy the stanza whose Suites names the release itself, and
        # change only its Suites line.
        awk -v rel="$codename" -v bp="${codename}-backports" '
            BEGIN { RS=""; ORS="\n\n" }
            $0 ~ ("Suites:[^\n]*(^|[ \t])" rel "([ \t]|$|\n)") || $0 ~ ("Suites: " rel "( |\n|$)") {
                n = split($0, lines, "\n"); out = ""
                for (i = 1; i <= n; i++) {
                    if (lines[i] ~ /^#/) continue
                    if (lines[i] ~ /^Suites:/) lines[i] = "Suites: " bp
                    out = out lines[i] "\n"
                }
                printf "%s", out; exit
            }' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$out" >/dev/null
    elif [ -f /etc/apt/sources.list ]; then
        # one-line format: reuse the first "deb <uri> <codename> ..." line.
        grep -E "^deb[[:space:]].*[[:space:]]${codename}[[:space:]]" /etc/apt/sources.list | head -n1 |
            sed -E "s/[[:space:]]${codename}[[:space:]]/ ${codename}-backports /" |
            $SUDO tee "/etc/apt/sources.list.d/${codename}-backports.list" >/dev/null
        out="/etc/apt/sources.list.d/${codename}-backports.list"
    fi
    if [ ! -s "$out" ]; then
        log "could not derive a ${codename}-backports entry from the Debian sources"; return 1
    fi
    log "added ${codename}-backports ($out)"
}

if [ ${#missing[@]} -gt 0 ]; then
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    qemu_target=()
    if [[ " ${missing[*]} " == *" qemu-system-arm "* ]]; then
        . /etc/os-release
        if [ "${VERSION_CODENAME:-}" = "bookworm" ]; then
            add_backports
            qemu_target=(-t bookworm-backports)
        fi
    fi
    $SUDO apt-get update -qq
    others=()
    for p in "${missing[@]}"; do [ "$p" = qemu-system-arm ] || others+=("$p"); done
    if [ ${#others[@]} -gt 0 ]; then
        $SUDO apt-get install -y -qq --no-install-recommends "${others[@]}" >/dev/null
    fi
    if [[ " ${missing[*]} " == *" qemu-system-arm "* ]]; then
        $SUDO apt-get install -y -qq --no-install-recommends "${qemu_target[@]}" qemu-system-arm >/dev/null
    fi
    qemu_ok || { log "qemu-system-aarch64 >= 9.0 is still missing"; exit 1; }
fi

# Rust: the toolchain, components and bare-metal target pinned in
# rust-toolchain.toml. `rustup toolchain install` with no name reads that file.
if ! command -v rustup >/dev/null 2>&1; then
    log "rustup not found: install Rust with rustup first"; exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-none-softfloat ||
   ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-none ||
   ! ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-objcopy >/dev/null 2>&1; then
    log "installing the Rust toolchain pinned in rust-toolchain.toml"
    rustup toolchain install >/dev/null
fi

# mmplot's matplotlib (--plot): one pip install into a fresh environment,
# skipped when the environment already imports it.
if [ "$plot" = 1 ] && ! mmplot_ok; then
    log "installing matplotlib for scripts/mmplot into $MMPLOT_VENV"
    rm -rf "$MMPLOT_VENV"
    mkdir -p "$(dirname "$MMPLOT_VENV")"
    python3 -m venv "$MMPLOT_VENV"
    "$MMPLOT_VENV/bin/python" -m pip install -q --disable-pip-version-check 'matplotlib>=3.6,<4' >&2
    mmplot_ok || { log "matplotlib is still missing from $MMPLOT_VENV"; exit 1; }
fi
