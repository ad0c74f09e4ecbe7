#!/usr/bin/env bash
# Run the user programs on real Linux, for comparison: Debian's arm64
# kernel in QEMU (virt, cortex-a72) with an initramfs of our programs and
# nothing else (no busybox, no C library), each run as /init with rdinit=.
# Not part of scripts/test.sh: it needs Debian's kernel package, which
# scripts/debian-arm64.sh fetches into target/debian-arm64/ (a private apt
# state; nothing is installed).
#
#   scripts/linux-check.sh [--smp N] [--mem SIZE] [TEST...]
#
# Boots:
#   rdinit=/fault [-- TEST...]   the fault suite (all tests by default); passes
#                                when it prints "fault: N passed, 0 failed"
#   rdinit=/hello-c              the C example (user/c/hello.c), when
#                                aarch64-linux-gnu-gcc built it
#   rdinit=/poweroff             reboot(POWER_OFF): Linux prints "reboot: Power down"
#
# Logs: target/linux-check/<name>.log. Exit status 0 when every boot
# passed, 1 otherwise. Defaults: --smp 2 --mem 1G (the suite's OOM test
# assumes a machine of about that size: it must be killed within seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

smp=2 mem=1G tests=()
while [ $# -gt 0 ]; do
    case $1 in
        --smp) smp=$2; shift 2 ;;
        --mem) mem=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        -*) echo "linux-check: unknown option '$1'" >&2; exit 64 ;;
        *) tests+=("$1"); shift ;;
    esac
done

log() { echo "linux-check: $*" >&2; }

bash scripts/build.sh
root=$(bash scripts/debian-arm64.sh kernel)
image=$(ls "$root"/boot/vmlinuz-*-arm64 | sort -V | tail -n1)
[ -f "$image" ] || { log "no Debian arm64 kernel under $root/boot"; exit 1; }
log "kernel: $(basename "$image")"

out=target/linux-check
mkdir -p "$out"
# scripts/build.sh packed every program at /<name> (the C example at /hello-c).
initrd=target/user/initramfs.cpio.gz
[ -f "$initrd" ] || { log "no $initrd (is cpio installed? scripts/setup.sh)"; exit 1; }

# boot NAME TIMEOUT CMDLINE-TAIL: one boot; its console output to NAME.log.
# panic=-1 and -no-reboot: when /init exits, Linux panics ("Attempted to
# kill init! exitcode=...") and QEMU stops at once.
boot() {
    local name=$1 secs=$2 tail=$3
    timeout "$secs" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp "$smp" -m "$mem" -nic none \
        -nographic -no-reboot -kernel "$image" -initrd "$initrd" \
        -append "console=ttyAMA0 panic=-1 quiet $tail" </dev/null >"$out/$name.log" 2>&1 || true
    tr -d '\r' <"$out/$name.log" >"$out/$name.log.tmp" && mv -f "$out/$name.log.tmp" "$out/$name.log"
}

failed=0
fault_tail="rdinit=/fault"
[ ${#tests[@]} -gt 0 ] && fault_tail="$fault_tail -- ${tests[*]}"
log "booting rdinit=/fault (${#tests[@]} tests named; 0 = all) on $smp CPUs, $mem"
boot fault 600 "$fault_tail"
grep -a '^fault: ' "$out/fault.log" | grep -av ' \.\.\. ok ' || true
summary=$(grep -a '^fault: [0-9]* passed, [0-9]* failed$' "$out/fault.log" | tail -n1 || true)
if [ -z "$summary" ]; then
    log "fault: no summary line (see $out/fault.log)"
    failed=1
elif [[ $summary != *" 0 failed" ]]; then
    log "fault: ${summary#fault: }"
    failed=1
else
    log "fault: ${summary#fault: }"
fi

if [ -x target/user/c/hello ]; then
    boot hello-c 120 "rdinit=/hello-c -- from-linux-check"
    if grep -aq '^hello: demand-zero page ok$' "$out/hello-c.log" && grep -aq 'argv\[1\] = from-linux-check' "$out/hello-c.log"; then
        log "hello-c: ok"
    else
        log "hello-c: FAILED (see $out/hello-c.log)"
        failed=1
    fi
fi

boot poweroff 120 "rdinit=/poweroff"
if grep -aq 'reboot: Power down' "$out/poweroff.log"; then
    log "poweroff: ok"
else
    log "poweroff: FAILED (see $out/poweroff.log)"
    failed=1
fi

exit $failed
