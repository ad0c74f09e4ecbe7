#!/usr/bin/env bash
# The page allocator's bring-up cost per GiB of RAM at several RAM sizes,
# under `qemu -icount shift=0` (the PMU then counts guest instructions
# exactly): memmap_init (every descriptor written), the hand-over of
# memblock's free memory to the buddy lists (memblock_free_all), and the
# baseline they are held to, a memset over as many 64-byte descriptors,
# measured in the same boot. The kernel prints one "mm: memmap_init ..."
# line per boot (kernel/src/memory/page_alloc.rs, print_init_cost); this
# boots once per size with the self-tests off and tabulates those lines.
#
#   scripts/meminit-cost.sh [SIZE...]        (default: 1G 4G 16G)
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ "${#sizes[@]}" -gt 0 ] || sizes=(1G 4G 16G)

printf '%-6s %16s %16s %16s %10s %10s %14s\n' "RAM" "memmap_init/GiB" "hand-over/GiB" "memset/GiB" "memmap" "hand-over" "hand-over/page"
for size in "${sizes[@]}"; do
    set +e
    line=$(scripts/run.sh --smp 1 --mem "$size" --append "selftest=off" -- -icount shift=0 2>&1 | tr -d '\r' | grep 'mm: memmap_init')
    set -e
    if [ -z "$line" ]; then
        echo "meminit-cost: no cost line in the $size boot" >&2
        exit 1
    fi
    # mm: memmap_init A insn/GiB (Mx ...); hand-over of N pages H insn/GiB (Rx), P insn per page freed; memset of the descriptors S insn/GiB
    echo "$line" | sed -E 's/.*memmap_init ([0-9]+) insn\/GiB \(([0-9.]+)x[^;]*; hand-over of [0-9]+ pages ([0-9]+) insn\/GiB \(([0-9.]+)x\), ([0-9]+) insn per page freed; memset of the descriptors ([0-9]+) insn\/GiB.*/\1 \2 \3 \4 \5 \6/' |
        awk -v size="$size" 'NF == 6 { printf "%-6s %16s %16s %16s %9sx %9sx %14s\n", size, $1, $3, $6, $2, $4, $5; next }
                             { print "meminit-cost: cannot read the line (not under -icount?): " $0 > "/dev/stderr"; exit 1 }'
done
echo "(memmap, hand-over: their per-GiB figures as multiples of the memset's; hand-over/page: instructions per page freed)"
