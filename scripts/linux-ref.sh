#!/usr/bin/env bash
# Capture Linux's memory reports on the QEMU machines our kernel boots on,
# as reference output for ours (issue 13: reports that match Linux's byte for
# byte). A maintenance command, not part of scripts/test.sh: it downloads
# Debian's arm64 kernel (from the backports suite: Linux 6.12) and
# busybox-static through scripts/debian-arm64.sh (a private apt state under
# target/; nothing is installed).
#
#   scripts/linux-ref.sh [--out DIR] [MACHINE...]
#
# MACHINE (default: all four):
#   virt-1node   -M virt, cortex-a72, 2 CPUs, 1 GiB, no -numa (one node):
#                as scripts/run.sh --smp 2 --mem 1G
#   virt-2node   the same with two NUMA nodes of 512 MiB, CPU 0 on node 0 and
#                CPU 1 on node 1: as scripts/run.sh --smp 2 --mem 1G --numa 2
#   virt-1node-memblock
#                virt-1node with memblock=debug (and log_buf_len=4M), for
#                Linux's MEMBLOCK configuration dump and memblock_* lines;
#                the first ~130 messages are still lost: the early-page-table
#                lines overrun the static 128 KiB log before log_buf_len
#                takes effect
#   raspi4b      -M raspi4b (4 CPUs, 2 GiB, of which QEMU describes 960 MiB)
#                with Debian's bcm2711-rpi-4-b.dtb, console on the PL011, three
#                drivers kept off (raspi4b_cmdline below says why)
#
# Each boot is a direct -kernel boot with a device tree (no firmware, so no
# ACPI) and nokaslr, with a busybox initramfs whose /init mounts proc, sysfs
# and debugfs, prints each report between marker lines, then dmesg -r, and
# powers off. Each report goes to DIR/<machine>/<name> (the names are the
# dump lines of the /init below: buddyinfo, zoneinfo, ..., dmesg) and the rest
# of the console log (the boot messages, the power off) to
# DIR/<machine>/console. DIR defaults to target/linux-ref; `--out
# tests/linux-ref` refreshes the committed copy (tests/linux-ref/README.md
# says what is there and how it was made).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
log() { echo "linux-ref: $*" >&2; }
die() { log "$*"; exit 1; }

out=target/linux-ref
machines=()
while [ $# -gt 0 ]; do
    case $1 in
        --out) [ $# -ge 2 ] || die "--out needs a directory"; out=$2; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        virt-1node | virt-1node-memblock | virt-2node | raspi4b) machines+=("$1"); shift ;;
        *) usage >&2; exit 64 ;;
    esac
done
[ ${#machines[@]} -gt 0 ] || machines=(virt-1node virt-1node-memblock virt-2node raspi4b)

kroot=$(bash scripts/debian-arm64.sh --backports kernel)
broot=$(bash scripts/debian-arm64.sh busybox)
image=$(ls "$kroot"/boot/vmlinuz-*-arm64 | sort -V | tail -n1)
[ -f "$image" ] || die "no Debian arm64 kernel under $kroot/boot"
version=${image##*/vmlinuz-}
dtb=$kroot/usr/lib/linux-image-$version/broadcom/bcm2711-rpi-4-b.dtb
log "kernel: $version"

work=target/linux-ref-work
mkdir -p "$work"
# The /init: busybox's shell, every applet called through /bin/busybox (the
# archive holds no links). Console messages are turned down once proc is up
# so that nothing printk'd lands inside a report; dmesg keeps them all.
cat >"$work/init" <<'EOF'
#!/bin/busybox sh
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t debugfs debugfs /sys/kernel/debug
echo 1 >/proc/sys/kernel/printk
# %pK shows real addresses (vmallocinfo) to a reader with CAP_SYSLOG only
# when kptr_restrict is 1; at 0 it hashes them.
echo 1 >/proc/sys/kernel/kptr_restrict
# dump NAME PATH: PATH's text between two marker lines (errors included).
dump() {
    echo "@@@@ linux-ref begin $1"
    $bb cat "$2" 2>&1
    echo "@@@@ linux-ref end $1"
}
dump version /proc/version
dump cmdline /proc/cmdline
dump buddyinfo /proc/buddyinfo
dump pagetypeinfo /proc/pagetypeinfo
dump zoneinfo /proc/zoneinfo
dump meminfo /proc/meminfo
dump vmstat /proc/vmstat
dump slabinfo /proc/slabinfo
dump vmallocinfo /proc/vmallocinfo
dump iomem /proc/iomem
dump unusable_index /sys/kernel/debug/extfrag/unusable_index
dump extfrag_index /sys/kernel/debug/extfrag/extfrag_index
# The cma debugfs directory (CONFIG_CMA_DEBUGFS): its listing, then every file.
echo "@@@@ linux-ref begin cma-ls"
$bb ls -lR /sys/kernel/debug/cma 2>&1
echo "@@@@ linux-ref end cma-ls"
if [ -d /sys/kernel/debug/cma ]; then
    for f in $($bb find /sys/kernel/debug/cma -type f | $bb sort); do
        dump "cma/${f#/sys/kernel/debug/cma/}" "$f"
    done
fi
echo "@@@@ linux-ref begin dmesg"
$bb dmesg -r 2>&1
echo "@@@@ linux-ref end dmesg"
echo "@@@@ linux-ref done"
$bb poweroff -f
EOF
chmod 0755 "$work/init"
initrd=$work/initramfs.cpio.gz
bash scripts/mkinitramfs.sh "$initrd" "$work/init=/init" "$broot/bin/busybox=/bin/busybox"

cmdline="console=ttyAMA0 nokaslr rdinit=/init panic=-1"
# QEMU's raspi4b has nothing behind the BCM2711's HDMI block at 0xfef00000:
# the first access is a synchronous external abort, and Linux oopses in
# PID 1 (panic). Three built-in drivers touch it before /init: the L2
# interrupt controllers (aon_intr, /soc/interrupt-controller@7ef00100), the
# HDMI DDC I2C buses (/soc/i2c@7ef04500, @7ef09500), and clk_disable_unused
# reading the DVP clock gate (/soc/clock@7ef00000). Keep those off; the
# memory map and the memory reports do not depend on them.
raspi4b_cmdline="$cmdline initcall_blacklist=brcmstb_l2_driver_init,brcmstb_i2c_driver_init clk_ignore_unused"

# qemu_args MACHINE: the machine's QEMU arguments (set in `args`).
qemu_args() {
    # shellcheck disable=SC2054 # the commas are QEMU's
    args=(qemu-system-aarch64 -nodefaults -display none -serial stdio -no-reboot)
    case $1 in
        virt-1node | virt-1node-memblock) args+=(-M virt -cpu cortex-a72 -smp 2 -m 1G) ;;
        virt-2node)
            # shellcheck disable=SC2054
            args+=(-M virt -cpu cortex-a72 -m 1G -smp 2,sockets=2,cores=1
                -object memory-backend-ram,id=m0,size=512M -numa node,nodeid=0,cpus=0,memdev=m0
                -object memory-backend-ram,id=m1,size=512M -numa node,nodeid=1,cpus=1,memdev=m1)
            ;;
        raspi4b) args+=(-M raspi4b -dtb "$dtb") ;;
    esac
    args+=(-kernel "$image" -initrd "$initrd")
    case $1 in
        raspi4b) args+=(-append "$raspi4b_cmdline") ;;
        virt-1node-memblock) args+=(-append "$cmdline memblock=debug log_buf_len=4M") ;;
        *) args+=(-append "$cmdline") ;;
    esac
}

# split LOG DIR: each report between its markers into DIR/<name>, every
# line outside them (the boot log, the power off) into DIR/console.
split() {
    awk -v dir="$2" '
        /^@@@@ linux-ref begin / {
            file = dir "/" substr($0, 22)
            sub_dir = file; sub(/\/[^\/]*$/, "", sub_dir)
            system("mkdir -p \"" sub_dir "\"")
            printf "" >file
            next
        }
        /^@@@@ linux-ref end / { close(file); file = ""; next }
        file != "" { print >>file; next }
        { print >>(dir "/console") }
    ' "$1"
}

# boot_once RAW: one boot, its console (and QEMU's messages) to RAW. QEMU
# runs in the background and is stopped once the dumps are done (raspi4b
# has no power off Linux drives without modules) or after 300 s (a boot
# takes 5 s on virt and 30 s on raspi4b here, several times that when the
# machine is busy). Succeeds when the end marker came.
boot_once() {
    "${args[@]}" </dev/null >"$1" 2>&1 &
    local pid=$! t
    for ((t = 0; t < 300; t++)); do
        kill -0 "$pid" 2>/dev/null || break
        if grep -aq '^@@@@ linux-ref done' "$1"; then
            sleep 2
            break
        fi
        sleep 1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    tr -d '\r' <"$1" >"$1.txt"
    grep -aq '^@@@@ linux-ref done' "$1.txt"
}

failed=0
for m in "${machines[@]}"; do
    qemu_args "$m"
    dir=$out/$m
    rm -rf "$dir"
    mkdir -p "$dir"
    shown=""
    for a in "${args[@]}"; do
        a=${a#"$PWD"/}
        if [[ $a =~ ^[A-Za-z0-9_.,:/@+=-]+$ ]]; then shown+=" $a"; else shown+=" '$a'"; fi
    done
    log "$m:$shown"
    raw=$work/$m.console
    # A boot that did not end in time (seen twice on a loaded machine, once
    # stalled before /init) gets one more try.
    if ! boot_once "$raw" && { cp "$raw.txt" "$raw.first.txt" && log "$m: no end marker (first console in $raw.first.txt); booting once more" && ! boot_once "$raw"; }; then
        cp "$raw.txt" "$dir/console"
        log "$m: FAILED: no end marker (see $dir/console)"
        failed=1
        continue
    fi
    split "$raw.txt" "$dir"
    log "$m: $(ls "$dir" | wc -l) files in $dir"
done
exit $failed
