#!/usr/bin/env bash
# Everything CI checks, in order, stopping at the first failure: tools,
# formatting, the build, clippy (host and kernel target, warnings denied), the
# mm unit tests and the QEMU boot tests. Prints one line per step and a
# total; a failing step's output is shown in full (all of it is kept in
# target/test-logs/).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-none-softfloat
LOG_DIR=target/test-logs
mkdir -p "$LOG_DIR"
start=$SECONDS

# step NAME COMMAND...: runs COMMAND, its output to $LOG_DIR/NAME.log.
step() {
    local name=$1 log="$LOG_DIR/$1.log" t0=$SECONDS
    shift
    printf 'test: %-14s' "$name"
    if "$@" </dev/null >"$log" 2>&1; then
        printf ' ok (%ss)\n' $((SECONDS - t0))
    else
        local rc=$?
        printf ' FAILED (exit %s, %ss)\n' "$rc" $((SECONDS - t0))
        echo "---- $* ----" >&2
        cat "$log" >&2
        echo "---- end of $log ----" >&2
        echo "test: FAILED at '$name' after $((SECONDS - start))s" >&2
        exit 1
    fi
}

step setup bash scripts/setup.sh
step fmt cargo fmt --all -- --check
step build bash scripts/build.sh
step clippy-host cargo clippy -p mm -p boot-tests --all-targets -- -D warnings
step clippy-kernel cargo clippy --release -p kernel -p arch -p boot -p mm \
    --target "$TARGET" -- -D warnings
step test-mm cargo test -p mm
# Built just above; --no-fail-fast reports every failing boot, not the first.
step test-boot env BOOT_TESTS_NO_BUILD=1 cargo test -p boot-tests --no-fail-fast

# The closing line, in the plain form CI reads: "test: N passed, M failed, K skipped".
# Every test binary that ran must have left its result line (-a: a kernel log
# quoted in a failure may hold any byte).
ran=$(grep -ac '^     Running ' "$LOG_DIR/test-mm.log" "$LOG_DIR/test-boot.log" | awk -F: '{ n += $2 } END { print n }')
results=$(grep -ahc '^test result:' "$LOG_DIR/test-mm.log" "$LOG_DIR/test-boot.log" | awk '{ n += $1 } END { print n }')
if [ "$ran" -gt "$results" ]; then
    echo "test: $ran test binaries ran but only $results reported a result (see $LOG_DIR)" >&2
    exit 1
fi
grep -ah '^test result:' "$LOG_DIR/test-mm.log" "$LOG_DIR/test-boot.log" |
    awk -v s=$((SECONDS - start)) '{ p += $4; f += $6; i += $8 }
        END { printf "test: all steps passed in %ss\ntest: %d passed, %d failed, %d skipped\n", s, p, f, i }'
