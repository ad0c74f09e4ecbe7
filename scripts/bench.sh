#!/usr/bin/env bash
# Run the kernel's benchmarks under `qemu -icount shift=0` (the PMU then
# counts guest instructions exactly and repeatably) and print them as a
# table: one row per workload, one column per allocator, in instructions per
# operation. Usage: scripts/bench.sh [SUITES] [-- extra run.sh options]
#   SUITES: comma list for bench= (default: pages,slab)
set -euo pipefail
cd "$(dirname "$0")/.."

suites=${1:-pages,slab}
[ "$#" -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
scripts/run.sh --smp 1 --mem 1G --append "selftest=off bench=$suites" "$@" -- -icount shift=0 2>&1 | tr -d '\r' >"$log"
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
    echo "bench: the kernel exited with $rc; its log:" >&2
    cat "$log" >&2
    exit "$rc"
fi
if ! grep -q '^bench ' "$log"; then
    echo "bench: no results in the log (bench=$suites)" >&2
    tail -20 "$log" >&2
    exit 1
fi

# "bench <suite>/<workload> <allocator>: <n> insn/op" -> table
grep '^bench .* insn/op$' "$log" | awk '
    {
        w = $2; a = $3; sub(/:$/, "", a); n = $4
        if (!(w in seen)) { seen[w] = 1; rows[++nr] = w }
        if (!(a in acol)) { acol[a] = 1; cols[++nc] = a }
        v[w, a] = n
    }
    END {
        printf "%-22s", "workload (insn/op)"
        for (c = 1; c <= nc; c++) printf " %24s", cols[c]
        printf "\n"
        for (r = 1; r <= nr; r++) {
            printf "%-22s", rows[r]
            for (c = 1; c <= nc; c++) printf " %24s", ((rows[r], cols[c]) in v) ? v[rows[r], cols[c]] : "-"
            printf "\n"
        }
    }'
