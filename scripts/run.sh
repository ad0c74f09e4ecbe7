#!/usr/bin/env bash
# Build the kernel and boot it in QEMU, the console on this terminal.
# Exit code: the kernel's, through semihosting (0 self-tests passed,
# 1 self-test failures, 2 fatal boot error, 3 panic, 4 oops); 64 for a bad
# option. Ctrl-A X quits QEMU, Ctrl-A C switches to its monitor and back.
set -euo pipefail
cd "$(dirname "$0")/.."

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
  --append "ARGS"          kernel command line, e.g. "selftest=off loglevel=8"
  --gdb                    wait for gdb on :1234 before the first instruction
                           (attach with scripts/gdb.sh)
  --dry-run                build, then print the QEMU command instead of running it
  -h, --help               this text
EOF
}

die() {
    echo "run: $*" >&2
    echo "run: see scripts/run.sh --help" >&2
    exit 64
}

TARGET=aarch64-unknown-none-softfloat
OUT=target/$TARGET/release

machine=virt
cpu="" smp="" mem="" numa="" el2=0 append="" gdb=0 dry_run=0
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
        --el2=* | --gdb=* | --dry-run=* | --help=*) die "${opt%%=*} takes no value" ;;
    esac
    case $opt in
        --machine) need_value "$@"; machine=$2; shift 2 ;;
        --cpu) need_value "$@"; cpu=$2; shift 2 ;;
        --smp) need_value "$@"; smp=$2; shift 2 ;;
        --mem) need_value "$@"; mem=$2; shift 2 ;;
        --numa) need_value "$@"; numa=$2; shift 2 ;;
        --append) need_value "$@"; append=$2; shift 2 ;;
        --el2) el2=1; shift ;;
        --gdb) gdb=1; shift ;;
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
bash scripts/setup.sh
bash scripts/build.sh

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
        [ -f "$dtb" ] || { echo "run: $dtb is missing (dts/raspi4b.dts?)" >&2; exit 1; }
        qemu+=(-M raspi4b -dtb "$dtb")
        ;;
esac
qemu+=(-kernel "$OUT/Image")
[ -n "$append" ] && qemu+=(-append "$append")
[ "$gdb" = 1 ] && qemu+=(-s -S)
qemu+=("${extra[@]}")

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
if [ "$gdb" = 1 ]; then
    echo "run: QEMU waits for gdb on :1234; in another terminal: scripts/gdb.sh" >&2
fi
exec "${qemu[@]}"
