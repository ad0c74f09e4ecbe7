#!/usr/bin/env bash
# Attach gdb to a kernel that `scripts/run.sh --gdb` started and holds at its
# first instruction (QEMU's gdbstub, localhost:1234 unless --gdb=PORT).
# Symbols come from the ELF.
#
#   terminal 1: scripts/run.sh --gdb[=PORT] [--debug] [run options]
#   terminal 2: scripts/gdb.sh [--port PORT] [--debug] [gdb arguments]
#
#   --port PORT   the port given to run.sh --gdb=PORT (default 1234)
#   --debug       the debug build's ELF (run.sh --debug), not the release one
#
# Until the MMU is on, the CPU runs at physical addresses; if the ELF is
# linked elsewhere, break there with `hbreak *ADDRESS`. gdb's `kill` ends
# the run (run.sh then exits 68); `detach` or quitting lets it go on.
set -euo pipefail
cd "$(dirname "$0")/.."

port=1234 dir=release
while [ "$#" -gt 0 ]; do
    case $1 in
        --port=*) port=${1#*=}; shift ;;
        --port) [ "$#" -ge 2 ] || { echo "gdb: --port needs a value" >&2; exit 64; }; port=$2; shift 2 ;;
        --debug) dir=debug; shift ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        --) shift; break ;;
        *) break ;;
    esac
done
if ! [[ $port =~ ^[1-9][0-9]*$ ]] || [ "$port" -gt 65535 ]; then
    echo "gdb: --port '$port': expected a TCP port, 1-65535" >&2
    exit 64
fi

ELF=target/aarch64-unknown-none-softfloat/$dir/kernel

if ! command -v gdb-multiarch >/dev/null 2>&1; then
    echo "gdb: gdb-multiarch not found: run scripts/setup.sh" >&2
    exit 1
fi
if [ ! -f "$ELF" ]; then
    build="scripts/build.sh" run="scripts/run.sh --gdb"
    [ "$dir" = debug ] && build+=" --debug" run+=" --debug"
    echo "gdb: $ELF is missing: run $build ($run builds it)" >&2
    exit 1
fi

exec gdb-multiarch -q "$ELF" \
    -ex "set architecture aarch64" \
    -ex "target remote localhost:$port" \
    "$@"
