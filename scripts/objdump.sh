#!/usr/bin/env bash
# Disassemble the kernel ELF, names demangled (the Raspberry Pi OS
# tutorials' `make objdump`). Builds it first.
#
#   scripts/objdump.sh [options] [FUNCTION...] [-- llvm-objdump options]
#
#   FUNCTION      only functions whose demangled name contains it
#                 (e.g. kernel_main, primary_entry, mm::page_alloc::)
#   --source      interleave the source lines (from the debug info)
#   --debug       the debug build (scripts/build.sh --debug)
#   --no-build    disassemble what target/ holds
#
# The tools are the toolchain's llvm-objdump (rustup component llvm-tools,
# in rust-toolchain.toml), else binutils' aarch64-linux-gnu-objdump.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/elf-tools.sh

source_lines=0
elf_tools_options objdump "$@"
set -- "${elf_rest[@]}"
funcs=()
while [ "$#" -gt 0 ]; do
    case $1 in
        --source) source_lines=1; shift ;;
        --) shift; break ;;
        -*) echo "objdump: unknown option '$1' (see --help)" >&2; exit 64 ;;
        *) funcs+=("$1"); shift ;;
    esac
done

elf_prepare objdump
tool=$(elf_tool objdump)
args=(-d -C)
[ "$source_lines" = 1 ] && args+=(-l -S)
case $tool in
    *llvm-objdump) args+=(--print-imm-hex) ;;
esac

# Without the rust-src component the standard library's sources are not
# here: say so once, not once per file.
filter_warnings() {
    awk '/failed to find source/ { if (!seen++) print "objdump: (the standard library'"'"'s sources are not installed; its lines show as file:line only)"; next } { print }' >&2
}

# Names lose the legacy mangling hash (::h0123456789abcdef), as in backtraces.
# Blocks of a disassembly start with "ADDRESS <name>:" and end at a blank line.
"$tool" "${args[@]}" "$@" "$ELF" 2> >(filter_warnings) | sed -E 's/::h[0-9a-f]{16}>/>/g; s/::h[0-9a-f]{16}(\(\))?:$/\1:/' | if [ ${#funcs[@]} -eq 0 ]; then cat; else
    awk -v pats="$(printf '%s\n' "${funcs[@]}")" '
        BEGIN { n = split(pats, p, "\n") }
        /^[0-9a-f]+ <.*>:$/ {
            keep = 0
            for (i = 1; i <= n; i++) if (p[i] != "" && index($0, p[i])) keep = 1
        }
        keep { print }
        /^$/ { keep = 0 }'
fi
