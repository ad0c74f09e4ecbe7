# shellcheck shell=bash
# Shared by scripts/objdump.sh and scripts/nm.sh (sourced from the repo root).

# elf_tools_options NAME "$@": takes --debug, --no-build and --help, and
# leaves the other arguments in elf_rest; then elf_prepare.
elf_tools_options() {
    local name=$1
    profile=release build=1
    shift
    elf_rest=()
    while [ "$#" -gt 0 ]; do
        case $1 in
            --debug) profile=dev ;;
            --no-build) build=0 ;;
            -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "scripts/$name.sh"; exit 0 ;;
            --) elf_rest+=("$@"); break ;;
            *) elf_rest+=("$1") ;;
        esac
        shift
    done
}

# elf_prepare NAME: builds unless --no-build; sets ELF.
elf_prepare() {
    local name=$1
    if [ "$build" = 1 ]; then
        BUILD_PROFILE=$profile bash scripts/build.sh || { echo "$name: the build failed" >&2; exit 65; }
    fi
    local dir=release
    [ "$profile" = dev ] && dir=debug
    ELF=target/aarch64-unknown-none-softfloat/$dir/kernel
    [ -f "$ELF" ] || { echo "$name: $ELF is missing: run scripts/build.sh" >&2; exit 1; }
}

# elf_tool objdump|nm: the path of the tool to use.
elf_tool() {
    local t
    t=$(ls "$(rustc --print sysroot)"/lib/rustlib/*/bin/llvm-"$1" 2>/dev/null | head -n1)
    if [ -z "$t" ]; then
        t=$(command -v "aarch64-linux-gnu-$1" || true)
    fi
    if [ -z "$t" ]; then
        echo "$1: neither llvm-$1 (rustup component llvm-tools: scripts/setup.sh) nor aarch64-linux-gnu-$1 found" >&2
        exit 1
    fi
    echo "$t"
}
