#!/usr/bin/env bash
# Run the kernel's benchmarks under `qemu -icount shift=0` (the PMU then
# counts guest instructions exactly and repeatably) and print them as a
# table: one row per workload, one column per allocator, in instructions per
# operation, each cell "gross/net": net of the `null` allocator's row (the
# harness alone) where the suite has one.
# Usage: scripts/bench.sh [SUITES] [-- extra run.sh options]
#   SUITES: comma list for bench= (default: pages,slab)
#
# `smp` is different: it measures wall-clock throughput on several CPUs at
# once, which -icount (one vCPU at a time, instructions as time) cannot
# show. With SUITES=smp the kernel boots with 4 CPUs (a later --smp N in the
# run.sh options overrides it) and without -icount, and the table shows
# each workload's throughput on N CPUs as a multiple of one CPU's:
#   scripts/bench.sh smp                  (4 vCPUs: ratios for 1, 2, 4 CPUs)
#   scripts/bench.sh smp -- --smp 2
# smp cannot share a boot with the instruction-count suites.
set -euo pipefail
cd "$(dirname "$0")/.."

suites=${1:-pages,slab}
[ "$#" -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift

smp=0
case ",$suites," in
    ,smp,) smp=1 ;;
    *,smp,*)
        echo "bench: smp runs without -icount; give it alone (scripts/bench.sh smp)" >&2
        exit 64
        ;;
esac

log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# "row column value" lines on stdin -> a table: rows and columns in the
# order first seen, "-" where a pair has no value. $1: the corner label,
# $2: the column width.
tabulate() {
    awk -v corner="$1" -v width="$2" '
        {
            if (!($1 in seen)) { seen[$1] = 1; rows[++nr] = $1 }
            if (!($2 in col)) { col[$2] = 1; cols[++nc] = $2 }
            v[$1, $2] = $3
        }
        END {
            printf "%-22s", corner
            for (c = 1; c <= nc; c++) printf " %*s", width, cols[c]
            printf "\n"
            for (r = 1; r <= nr; r++) {
                printf "%-22s", rows[r]
                for (c = 1; c <= nc; c++) printf " %*s", width, ((rows[r], cols[c]) in v) ? v[rows[r], cols[c]] : "-"
                printf "\n"
            }
        }'
}

if [ "$smp" = 1 ]; then
    scripts/run.sh --smp 4 --mem 1G --append "selftest=off bench=$suites" "$@" 2>&1 | tr -d '\r' >"$log"
else
    scripts/run.sh --smp 1 --mem 1G --append "selftest=off bench=$suites" "$@" -- -icount shift=0 2>&1 | tr -d '\r' >"$log"
fi
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

if [ "$smp" = 1 ]; then
    grep '^bench smp: ' "$log" || true
    # "bench smp/<workload>-<N>cpu ours: <r>x" -> rows workload, columns N
    grep -E '^bench smp/.*-[0-9]+cpu [^ ]+: [0-9.]+x$' "$log" |
        awk '{ w = $2; sub(/^smp\//, "", w); n = w; sub(/-[0-9]+cpu$/, "", w); sub(/^.*-/, "", n); print w, n, $4 }' |
        tabulate "workload (x 1 CPU)" 10
    exit 0
fi

# "bench <suite>/<workload> <allocator>: <n> insn/op [(net <m>)]" -> table
# of "n/m" cells (just "n" where there is no net figure).
grep -E '^bench .* insn/op( \(net -?[0-9]+\))?$' "$log" |
    awk '{
        a = $3; sub(/:$/, "", a); n = $4
        if ($6 == "(net") { m = $7; sub(/\)$/, "", m); n = n "/" m }
        print $2, a, n
    }' |
    tabulate "insn/op gross/net" 24
