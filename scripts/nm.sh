#!/usr/bin/env bash
# List the kernel ELF's symbols by address, with sizes, names demangled (the
# Raspberry Pi OS tutorials' `make nm`). Builds it first.
#
#   scripts/nm.sh [options] [PATTERN...] [-- llvm-nm options]
#
#   PATTERN       only symbols whose line contains it (e.g. kernel_main, slub)
#   --size        largest first instead of by address
#   --debug       the debug build (scripts/build.sh --debug)
#   --no-build    list what target/ holds
#
# Columns: address, size, type (t/T text, r/R rodata, d/D data, b/B bss), name.
# The tools are the toolchain's llvm-nm (rustup component llvm-tools, in
# rust-toolchain.toml), else binutils' aarch64-linux-gnu-nm.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/elf-tools.sh

by_size=0
elf_tools_options nm "$@"
set -- "${elf_rest[@]}"
pats=()
while [ "$#" -gt 0 ]; do
    case $1 in
        --size) by_size=1; shift ;;
        --) shift; break ;;
        -*) echo "nm: unknown option '$1' (see --help)" >&2; exit 64 ;;
        *) pats+=("$1"); shift ;;
    esac
done

elf_prepare nm
tool=$(elf_tool nm)
args=(-C -S --defined-only)
if [ "$by_size" = 1 ]; then args+=(--size-sort -r); else args+=(-n); fi

# Names lose the legacy mangling hash (::h0123456789abcdef), as in backtraces.
"$tool" "${args[@]}" "$@" "$ELF" | sed -E 's/::h[0-9a-f]{16}$//' | if [ ${#pats[@]} -eq 0 ]; then cat; else
    grep -F "${pats[@]/#/-e}" || true
fi
