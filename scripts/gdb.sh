#!/usr/bin/env bash
# Attach gdb to a kernel that `scripts/run.sh --gdb` started and holds at its
# first instruction (QEMU's gdbstub on :1234). Symbols come from the ELF.
#
#   terminal 1: scripts/run.sh --gdb [run options]
#   terminal 2: scripts/gdb.sh [gdb arguments]
#
# Until the MMU is on, the CPU runs at physical addresses; if the ELF is
# linked elsewhere, break there with `hbreak *ADDRESS`.
set -euo pipefail
cd "$(dirname "$0")/.."

ELF=target/aarch64-unknown-none-softfloat/release/kernel

if ! command -v gdb-multiarch >/dev/null 2>&1; then
    echo "gdb: gdb-multiarch not found: run scripts/setup.sh" >&2
    exit 1
fi
if [ ! -f "$ELF" ]; then
    echo "gdb: $ELF is missing: run scripts/build.sh (scripts/run.sh --gdb builds it)" >&2
    exit 1
fi

exec gdb-multiarch -q "$ELF" \
    -ex "set architecture aarch64" \
    -ex "target remote :1234" \
    "$@"
