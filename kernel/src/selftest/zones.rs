//! Zone boundaries follow Linux arm64's rules; the vmemmap covers every
//! present frame.

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::memory::vmemmap::{PAGES_PER_SECTION, STRUCT_PAGE_SIZE};
use crate::{check, check_eq, fail};
use mm::{PAGE_SHIFT, VirtAddr};

pub const TESTS: &[Test] = &[
    Test { suite: "zones", name: "boundaries_follow_linux_rules", run: boundaries_follow_linux_rules },
    Test { suite: "zones", name: "vmemmap_covers_present_frames", run: vmemmap_covers_present_frames },
];

fn boundaries_follow_linux_rules() -> TestResult {
    let Some((z, _)) = crate::memory::page_alloc::zone_limits() else { fail!("zone limits not computed") };
    let mb = crate::memory::memblock::MEMBLOCK.lock();
    let (start, end) = (mb.start_of_dram().as_u64() >> PAGE_SHIFT, mb.end_of_dram().as_u64() >> PAGE_SHIFT);
    // Contiguous, ordered, covering [start of DRAM, end of DRAM).
    check_eq!(z.zone_range[0].0, start);
    for w in z.zone_range.windows(2) {
        check_eq!(w[0].1, w[1].0);
    }
    check_eq!(z.zone_range[2].1, end);
    for (i, &(lo, hi)) in z.zone_range.iter().enumerate() {
        check!(lo <= hi, "zone {i}: {lo:#x} > {hi:#x}");
        check!(hi <= z.max_zone_pfn[i].max(lo), "zone {i} ends past its max_zone_pfn");
    }
    // DMA and DMA32 never reach past 4 GiB when RAM starts below it.
    if start < (1 << (32 - PAGE_SHIFT)) {
        check!(z.max_zone_pfn[1] <= 1 << (32 - PAGE_SHIFT), "DMA32 ends above 4 GiB");
    }
    // The device tree's DMA window bounds ZONE_DMA.
    if let Some(limit) = state::get().dt.dma_max_cpu_addr {
        let bits = 64 - limit.leading_zeros();
        if start >> (bits - PAGE_SHIFT) == 0 {
            check!(z.max_zone_pfn[0] <= 1 << (bits - PAGE_SHIFT), "ZONE_DMA ends past the {bits}-bit DMA window");
        }
    }
    Ok(())
}

fn vmemmap_covers_present_frames() -> TestResult {
    let Some((_, base)) = crate::memory::page_alloc::zone_limits() else { fail!("vmemmap not populated") };
    let mb = crate::memory::memblock::MEMBLOCK.lock();
    let mut checked = 0;
    for (s, e, _) in mb.for_each_mem_pfn_range(mm::memblock::NUMA_NO_NODE) {
        for pfn in [s.0, e.0 - 1, s.0.next_multiple_of(PAGES_PER_SECTION).min(e.0 - 1)] {
            let va = base.wrapping_add(pfn * STRUCT_PAGE_SIZE);
            match arch::mmu::at_s1e1w(VirtAddr(va)) {
                Ok(_) => checked += 1,
                Err(f) => fail!("descriptor of pfn {pfn:#x} at {va:#x} is not mapped writable (FST {:#x})", f.fst),
            }
        }
    }
    check!(checked > 0, "no frame checked");
    Ok(())
}
