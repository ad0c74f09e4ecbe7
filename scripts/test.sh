#!/usr/bin/env bash
# Everything CI checks, in order, stopping at the first failure: tools,
# formatting, import cycles, the build, clippy (host and kernel target,
# warnings denied), the host tests (mm; bootdata's parsers and their bounded
# fuzz run) and the QEMU boot tests. Prints one line per step, one per boot
# test as it finishes, and a total; a failing step's output is shown in full
# (all of it is kept in target/test-logs/), and a failing boot-test run ends
# with each failing test's exit code, what it means and the self-tests that
# failed with their reasons.
#
#   scripts/test.sh                       the whole run
#   SKIP_CYCLES=1 scripts/test.sh         without the import-cycle check
#   scripts/test.sh --boot-summary LOG    the failing-boot summary of a
#                                         `cargo test -p boot-tests` log
set -euo pipefail
cd "$(dirname "$0")/.."

# The summary of a boot-test log: for every failing test, the lines the
# harness wrote for it (tests/src/progress.rs: "boot-tests: NAME ..."), and
# for a test that failed without such lines, its name. NAME is
# <test binary>::<test path>.
boot_summary() {
    awk '
        function rerun(bin, test) {
            if (bin == "lib") return "cargo test -p boot-tests --lib -- --exact " test " --include-ignored"
            return "cargo test -p boot-tests --test " bin " -- --exact " test " --include-ignored"
        }
        /^ *Running / {
            bin = $2; sub(/^.*\//, "", bin); sub(/\.rs$/, "", bin)
            if ($2 ~ /^unittests/) bin = "lib"
        }
        # libtest: "test PATH ... FAILED"; run on one thread, the harness
        # lines may come between "test PATH ... " and its verdict.
        /^test [^ ]+ \.\.\. / {
            rest = $0; sub(/^test [^ ]+ \.\.\. /, "", rest)
            if (rest == "FAILED") failed[bin "::" $2] = 1
            else if (rest ~ /^boot-tests: /) pending = bin "::" $2
        }
        pending != "" && $0 == "FAILED" { failed[pending] = 1; pending = "" }
        pending != "" && ($0 == "ok" || $0 == "ignored") { pending = "" }
        {
            at = index($0, "boot-tests: ")
            if (!at) next
            line = substr($0, at + 12)
            name = line; sub(/( \.\.\. |: ).*$/, "", name)
            if (!(name in seen)) { seen[name] = 1; order[++n] = name }
            if (line ~ /^[^ ]+ \.\.\. FAILED \(/) bad[name] = 1
            text[name] = text[name] "test: boot " line "\n"
        }
        END {
            for (i = 1; i <= n; i++) if (order[i] in bad) { printf "%s", text[order[i]]; shown[order[i]] = 1 }
            for (t in failed) if (!(t in shown)) {
                split(t, part, "::"); test = substr(t, length(part[1]) + 3)
                print "test: boot " t ": FAILED before or after its boots (see the log above)"
                print "test: boot " t ": rerun: " rerun(part[1], test)
            }
        }' "$1"
}

case ${1:-} in
    --boot-summary) [ "$#" -eq 2 ] || { echo "usage: scripts/test.sh --boot-summary LOG" >&2; exit 64; }
        boot_summary "$2"; exit 0 ;;
    -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    "") ;;
    *) echo "test: unknown argument '$1' (see --help)" >&2; exit 64 ;;
esac

TARGET=aarch64-unknown-none-softfloat
LOG_DIR=target/test-logs
mkdir -p "$LOG_DIR"
start=$SECONDS
test_logs=()    # logs of cargo test runs, for the closing count

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

# counts: the closing line, in the plain form CI reads: "test: N passed, M
# failed, K skipped", over every cargo test log of this run. Every test
# binary that ran must have left its result line (-a: a kernel log quoted
# in a failure may hold any byte). Fails if one did not.
counts() {
    local ran results
    ran=$(grep -ac '^     Running ' "${test_logs[@]}" | awk -F: '{ n += $NF } END { print n }')
    results=$(grep -ahc '^test result:' "${test_logs[@]}" | awk '{ n += $1 } END { print n }')
    if [ "$ran" -gt "$results" ]; then
        echo "test: $ran test binaries ran but only $results reported a result (see $LOG_DIR)" >&2
        return 1
    fi
    grep -ah '^test result:' "${test_logs[@]}" |
        awk '{ p += $4; f += $6; i += $8 } END { printf "test: %d passed, %d failed, %d skipped\n", p, f, i }'
}

# The crates' sources, for the cycle check: every workspace folder with a
# Cargo.toml and a src/.
check_cycles() {
    local dirs=()
    for toml in */Cargo.toml; do
        [ -d "$(dirname "$toml")/src" ] && dirs+=("$(dirname "$toml")/src")
    done
    python3 scripts/check-cycles --self-test && python3 scripts/check-cycles "${dirs[@]}"
}

step setup bash scripts/setup.sh
step fmt cargo fmt --all -- --check
if [ "${SKIP_CYCLES:-0}" != 0 ]; then
    printf 'test: %-14s skipped (SKIP_CYCLES=%s)\n' cycles "$SKIP_CYCLES"
else
    step cycles check_cycles
fi
step build bash scripts/build.sh
step clippy-host cargo clippy -p mm -p bootdata -p boot-tests --all-targets -- -D warnings
step clippy-kernel cargo clippy --release -p kernel -p arch -p boot -p mm -p bootdata \
    --target "$TARGET" -- -D warnings
step clippy-user cargo clippy --release -p ulib -p user-programs --target aarch64-unknown-none -- -D warnings
step test-mm cargo test -p mm
test_logs+=("$LOG_DIR/test-mm.log")
# bootdata: the device-tree and command-line parsers, host-tested; then
# the bounded, seeded fuzz run of the validator and the parser (optimised:
# more cases in the same time).
step test-bootdata cargo test -p bootdata -- --skip fuzz
test_logs+=("$LOG_DIR/test-bootdata.log")
step fuzz-bootdata cargo test -p bootdata --release fuzz
test_logs+=("$LOG_DIR/fuzz-bootdata.log")

# The boot tests, built just above; --no-fail-fast reports every failing
# boot, not the first. The harness writes a line per test as it finishes
# (BOOT_TESTS_PROGRESS=1, straight to stderr past cargo's capture), shown
# here as it comes.
boot_log=$LOG_DIR/test-boot.log
test_logs+=("$boot_log")
printf 'test: %-14s (a line per boot test as it finishes)\n' test-boot
t0=$SECONDS
set +e
env BOOT_TESTS_NO_BUILD=1 BOOT_TESTS_PROGRESS=1 cargo test -p boot-tests --no-fail-fast </dev/null 2>&1 |
    tee "$boot_log" |
    awk '{ at = index($0, "boot-tests: ") }
         at && substr($0, at + 12) ~ /^[^ ]+ \.\.\. (ok|FAILED) \(/ { print "test: boot " substr($0, at + 12); fflush() }'
rc=${PIPESTATUS[0]}
set -e
if [ "$rc" -ne 0 ]; then
    printf 'test: %-14s FAILED (exit %s, %ss)\n' test-boot "$rc" $((SECONDS - t0))
    echo "---- env BOOT_TESTS_NO_BUILD=1 BOOT_TESTS_PROGRESS=1 cargo test -p boot-tests --no-fail-fast ----" >&2
    cat "$boot_log" >&2
    echo "---- end of $boot_log ----" >&2
    counts >&2 || true
    echo "test: FAILED at 'test-boot' after $((SECONDS - start))s; the failing boot tests:" >&2
    summary=$(boot_summary "$boot_log")
    if [ -n "$summary" ]; then echo "$summary" >&2; else echo "test: (no test named; see the log above)" >&2; fi
    exit 1
fi
printf 'test: %-14s ok (%ss)\n' test-boot $((SECONDS - t0))

counts_line=$(counts) || exit 1
echo "test: all steps passed in $((SECONDS - start))s"
echo "$counts_line"
