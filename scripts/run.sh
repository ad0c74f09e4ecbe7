#!/usr/bin/env bash
# Build the kernel and boot it in QEMU, the console on this terminal.
# Ctrl-A X quits QEMU, Ctrl-A C switches to its monitor and back.
# The exit codes are listed in --help (and in README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# Exit codes. 0-5 are the kernel's own, through semihosting; run.sh's are
# from 64 up, where no kernel code will go.
readonly EXIT_USAGE=64       # a bad run.sh option
readonly EXIT_BUILD=65       # scripts/setup.sh or scripts/build.sh failed
readonly EXIT_QEMU_START=66  # QEMU did not start: missing, bad arguments, gdb port taken
readonly EXIT_NO_VERDICT=67  # QEMU ended without the kernel's verdict
readonly EXIT_GDB=68         # gdb ended the run (its `kill`)

usage() {
    cat <<'EOF'
usage: scripts/run.sh [options] [-- extra QEMU arguments]

  --machine virt|raspi4b   board (default virt); raspi4b fixes CPU, CPUs and
                           RAM (Cortex-A72 x 4, 2 GiB) and boots with
                           -dtb target/dtb/raspi4b.dtb
  --cpu NAME               CPU model: cortex-a53, cortex-a72, max, ... (default cortex-a72)
  --smp N                  CPUs (default 4)
  --mem SIZE               RAM: 512M, 4G, ... (default 1G)
  --numa N                 N equal NUMA nodes sharing the CPUs and the RAM
  --el2                    enter the kernel at EL2 (-M virt,virtualization=on)
  --append "ARGS"          kernel command line, e.g. "selftest=off loglevel=8";
                           with the word "shell" (the mm console), Ctrl-C goes
                           to the console instead of stopping QEMU (Ctrl-A X
                           still quits)
  --gdb[=PORT]             wait for gdb on localhost:PORT (default 1234) before
                           the first instruction; attach with scripts/gdb.sh
  --debug                  boot the debug build (scripts/build.sh --debug:
                           debug assertions, overflow checks, opt-level 1)
  --dry-run                build, then print the QEMU command instead of running it
  -h, --help               this text

Exit code:
   0  the kernel's: all self-tests passed (or none ran: selftest=off)
   1  the kernel's: some self-test failed
   2  the kernel's: fatal boot error (no or corrupt device tree, no usable memory)
   3  the kernel's: Rust panic
   4  the kernel's: oops (unexpected exception, kernel stack overflow)
   5  the kernel's: the command line asked for a self-test, benchmark or
      crash that does not exist
  64  bad run.sh option
  65  scripts/setup.sh or scripts/build.sh failed
  66  QEMU did not start (not installed, bad QEMU arguments, gdb port in use)
  67  QEMU ended without the kernel's verdict: interrupted (Ctrl-C, a
      signal), quit (Ctrl-A X, the monitor's quit), or QEMU crashed
  68  gdb ended the run (gdb's kill)
EOF
}

die() {
    echo "run: $*" >&2
    echo "run: see scripts/run.sh --help" >&2
    exit "$EXIT_USAGE"
}

TARGET=aarch64-unknown-none-softfloat

machine=virt
cpu="" smp="" mem="" numa="" el2=0 append="" gdb_port="" dry_run=0 profile=release
extra=()

# need_value "$@": the option in $1 has its value in $2.
need_value() { [ "$#" -ge 2 ] || die "$1 needs a value"; }

while [ "$#" -gt 0 ]; do
    opt=$1
    case $opt in
        --machine=* | --cpu=* | --smp=* | --mem=* | --numa=* | --append=*)
            set -- "${opt%%=*}" "${opt#*=}" "${@:2}"
            continue
            ;;
        --gdb=*)
            gdb_port=${opt#*=}
            [[ $gdb_port =~ ^[1-9][0-9]*$ ]] && [ "$gdb_port" -le 65535 ] ||
                die "--gdb=$gdb_port: expected a TCP port, 1-65535"
            shift
            continue
            ;;
        --el2=* | --debug=* | --dry-run=* | --help=*) die "${opt%%=*} takes no value" ;;
    esac
    case $opt in
        --machine) need_value "$@"; machine=$2; shift 2 ;;
        --cpu) need_value "$@"; cpu=$2; shift 2 ;;
        --smp) need_value "$@"; smp=$2; shift 2 ;;
        --mem) need_value "$@"; mem=$2; shift 2 ;;
        --numa) need_value "$@"; numa=$2; shift 2 ;;
        --append) need_value "$@"; append=$2; shift 2 ;;
        --el2) el2=1; shift ;;
        --gdb) gdb_port=1234; shift ;;
        --debug) profile=dev; shift ;;
        --dry-run) dry_run=1; shift ;;
        -h | --help) usage; exit 0 ;;
        --) shift; extra=("$@"); break ;;
        *) die "unknown option '$opt'" ;;
    esac
done

is_count() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
# QEMU's -m syntax, no suffix meaning MiB.
to_mib() {
    [[ $1 =~ ^([1-9][0-9]*)([MmGgTt]?)$ ]] || return 1
    local n=${BASH_REMATCH[1]}
    case ${BASH_REMATCH[2]} in
        G | g) n=$((n * 1024)) ;;
        T | t) n=$((n * 1024 * 1024)) ;;
    esac
    echo "$n"
}

case $machine in
    virt)
        cpu=${cpu:-cortex-a72} smp=${smp:-4} mem=${mem:-1G}
        [[ $cpu =~ ^[a-z0-9][a-z0-9.-]*$ ]] || die "--cpu '$cpu' is not a CPU model name"
        is_count "$smp" || die "--smp '$smp' is not a positive number"
        mem_mib=$(to_mib "$mem") || die "--mem '$mem' is not a size like 512M or 4G"
        if [ -n "$numa" ]; then
            is_count "$numa" || die "--numa '$numa' is not a positive number"
            [ "$mem_mib" -ge "$numa" ] || die "--numa $numa: not even 1 MiB of RAM per node"
        fi
        ;;
    raspi4b)
        for given in "cpu:$cpu" "smp:$smp" "mem:$mem" "numa:$numa"; do
            if [ -n "${given#*:}" ]; then
                echo "run: warning: raspi4b has its own CPUs and RAM; ignoring --${given%%:*}" >&2
            fi
        done
        if [ "$el2" = 1 ]; then
            echo "run: warning: raspi4b always enters at EL2; ignoring --el2" >&2
        fi
        cpu="" smp="" mem="" numa="" el2=0
        ;;
    *) die "--machine '$machine': expected virt or raspi4b" ;;
esac

# Tools first (quiet and quick when nothing is missing), then the build.
bash scripts/setup.sh || { echo "run: scripts/setup.sh failed" >&2; exit "$EXIT_BUILD"; }
BUILD_PROFILE=$profile bash scripts/build.sh || { echo "run: the build failed" >&2; exit "$EXIT_BUILD"; }
if [ "$profile" = dev ]; then OUT=target/$TARGET/debug; else OUT=target/$TARGET/release; fi

# shellcheck disable=SC2054 # the commas are QEMU's
qemu=(
    qemu-system-aarch64 -nodefaults -display none
    # One console for the PL011, semihosting and the monitor (Ctrl-A C).
    -chardev stdio,id=con,mux=on -serial chardev:con -mon chardev=con
    -semihosting-config enable=on,target=native,chardev=con
)
case $machine in
    virt)
        props=""
        [ "$el2" = 1 ] && props=",virtualization=on"
        qemu+=(-M "virt$props" -cpu "$cpu" -m "$mem")
        if [ -z "$numa" ]; then
            qemu+=(-smp "$smp")
        else
            # CPU c goes to node c * numa / smp; the last node takes the RAM
            # that does not divide evenly (as numa_args in tests/src/lib.rs).
            # One socket per CPU, or QEMU warns about clusters split between
            # nodes.
            qemu+=(-smp "$smp,sockets=$smp,cores=1")
            per_node=$((mem_mib / numa))
            for ((i = 0; i < numa; i++)); do
                size=$per_node
                [ "$i" -eq $((numa - 1)) ] && size=$((mem_mib - per_node * (numa - 1)))
                first="" last=""
                for ((c = 0; c < smp; c++)); do
                    if [ $((c * numa / smp)) -eq "$i" ]; then
                        [ -z "$first" ] && first=$c
                        last=$c
                    fi
                done
                node="node,nodeid=$i"
                if [ -n "$first" ]; then
                    if [ "$first" = "$last" ]; then node+=",cpus=$first"; else node+=",cpus=$first-$last"; fi
                fi
                qemu+=(-object "memory-backend-ram,id=m$i,size=${size}M" -numa "$node,memdev=m$i")
            done
        fi
        ;;
    raspi4b)
        dtb=target/dtb/raspi4b.dtb
        [ -f "$dtb" ] || { echo "run: $dtb is missing (dts/raspi4b.dts?)" >&2; exit "$EXIT_BUILD"; }
        qemu+=(-M raspi4b -dtb "$dtb")
        ;;
esac
qemu+=(-kernel "$OUT/Image")
[ -n "$append" ] && qemu+=(-append "$append")
[ -n "$gdb_port" ] && qemu+=(-gdb "tcp:localhost:$gdb_port" -S)
qemu+=("${extra[@]}")
# The mm console (`shell` on the command line) takes Ctrl-C for itself.
shell_console=0
if [[ " $append " =~ [[:space:]]shell[[:space:]] ]]; then
    shell_console=1
    for i in "${!qemu[@]}"; do
        [ "${qemu[$i]}" = stdio,id=con,mux=on ] && qemu[i]+=",signal=off"
    done
fi

if [ "$dry_run" = 1 ]; then
    line=""
    for arg in "${qemu[@]}"; do
        if [[ $arg =~ ^[A-Za-z0-9_.,:/@+=-]+$ ]]; then
            line+=" $arg"
        else
            line+=" '${arg//\'/\'\\\'\'}'"
        fi
    done
    echo "${line# }"
    exit 0
fi

# The run. QEMU's console also goes to a log and its stderr through tee to
# a second one (both private: mktemp), so that afterwards we can tell the
# kernel's verdict from QEMU ending for another reason: with semihosting,
# QEMU's exit code is the kernel's, but QEMU also exits 0 when it is
# interrupted or quit and 1 when it cannot start.
console_log=$(mktemp "${TMPDIR:-/tmp}/run-console.XXXXXX")
qemu_err=$(mktemp "${TMPDIR:-/tmp}/run-qemu-err.XXXXXX")
trap 'rm -f "$console_log" "$qemu_err"' EXIT
for i in "${!qemu[@]}"; do
    [[ ${qemu[$i]} == stdio,id=con,mux=on* ]] && qemu[i]+=",logfile=$console_log"
done
[ "$shell_console" = 1 ] && echo "run: shell: Ctrl-C goes to the console; Ctrl-A X quits QEMU, 'poweroff' ends the run" >&2

if [ -n "$gdb_port" ]; then
    gdb_hint="scripts/gdb.sh"
    [ "$gdb_port" != 1234 ] && gdb_hint+=" --port $gdb_port"
    [ "$profile" = dev ] && gdb_hint+=" --debug"
    echo "run: QEMU waits for gdb on localhost:$gdb_port; in another terminal: $gdb_hint" >&2
fi

exec 3> >(tee -i "$qemu_err" >&2)
tee_pid=$!
# QEMU runs in the background so that a signal to run.sh reaches it (it
# shares the terminal's Ctrl-C anyway); its stdin stays the terminal.
signalled="" qemu_pid=""
for sig in INT TERM HUP; do
    # shellcheck disable=SC2064 # the signal's name now, the pid when it comes
    trap "signalled=$sig; [ -n \"\$qemu_pid\" ] && kill -$sig \"\$qemu_pid\" 2>/dev/null || true" "$sig"
done
"${qemu[@]}" <&0 2>&3 &
qemu_pid=$!
while :; do
    before=$signalled
    set +e
    wait "$qemu_pid"
    rc=$?
    set -e
    # A trapped signal interrupts `wait` (status > 128) before QEMU is gone:
    # wait again for QEMU's own status.
    if [ "$rc" -gt 128 ] && [ "$signalled" != "$before" ] && kill -0 "$qemu_pid" 2>/dev/null; then
        continue
    fi
    break
done
trap - INT TERM HUP
exec 3>&-
wait "$tee_pid" 2>/dev/null || true

# verdict_line PATTERN: the console holds the kernel's closing line.
verdict_line() { tr -d '\r' <"$console_log" | grep -Eq "^(\[[ 0-9.]+\] )?selftest: $1( \(.*\))?$"; }
said_anything() { [ -s "$console_log" ]; }

why=""
if [ "$rc" -eq 127 ] || [ "$rc" -eq 126 ]; then
    code=$EXIT_QEMU_START why="cannot run qemu-system-aarch64 (scripts/setup.sh installs it)"
elif grep -q "Terminated via GDBstub" "$qemu_err"; then
    code=$EXIT_GDB why="gdb ended the run"
elif [ -n "$signalled" ] || grep -q "terminating on signal" "$qemu_err"; then
    code=$EXIT_NO_VERDICT why="interrupted${signalled:+ (SIG$signalled)} before the kernel's verdict"
elif tr -d '\r' <"$console_log" | grep -q "^QEMU: Terminated$"; then
    code=$EXIT_NO_VERDICT why="QEMU was quit (Ctrl-A X) before the kernel's verdict"
elif [ "$rc" -gt 128 ]; then
    code=$EXIT_NO_VERDICT why="QEMU died of signal $((rc - 128))"
elif [ "$rc" -eq 0 ]; then
    if verdict_line '([0-9]+ passed, 0 failed|skipped)'; then
        code=0 why="the self-tests passed (or none ran)"
    else
        code=$EXIT_NO_VERDICT why="QEMU exited 0 without the kernel's verdict (the monitor's quit?)"
    fi
elif [ "$rc" -eq 1 ]; then
    if verdict_line '[0-9]+ passed, [1-9][0-9]* failed'; then
        code=1 why="some self-test failed"
    elif ! said_anything; then
        code=$EXIT_QEMU_START why="QEMU exited 1 before the kernel printed anything"
    else
        code=$EXIT_NO_VERDICT why="QEMU exited 1 without the kernel's verdict"
    fi
elif [ "$rc" -lt "$EXIT_USAGE" ] && said_anything; then
    # QEMU itself only exits 0 or 1: 2 and up came from the kernel.
    code=$rc
    case $rc in
        2) why="fatal boot error" ;;
        3) why="kernel panic" ;;
        4) why="oops" ;;
        5) why="the command line named a self-test, benchmark or crash that does not exist" ;;
        *) why="the kernel's exit code" ;;
    esac
elif ! said_anything; then
    code=$EXIT_QEMU_START why="QEMU exited $rc before the kernel printed anything"
else
    code=$EXIT_NO_VERDICT why="QEMU exited $rc"
fi
echo "run: exit code $code: $why" >&2
exit "$code"
