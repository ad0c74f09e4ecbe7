//! memblock as the boot left it: consistent arrays, the right reservations.

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::memory::memblock::{ACCEPTED_MEMORY, MEMBLOCK, RESERVATIONS};
use crate::memory::pgtable;
use crate::{check, check_eq};
use boot::sym;
use mm::PhysAddr;

pub const TESTS: &[Test] = &[
    Test { suite: "memblock", name: "arrays_sorted_disjoint", run: arrays_sorted_disjoint },
    Test { suite: "memblock", name: "boot_reservations_present", run: boot_reservations_present },
    Test { suite: "memblock", name: "memory_matches_device_tree", run: memory_matches_device_tree },
    Test { suite: "memblock", name: "retired_refuses_allocations", run: retired_refuses_allocations },
    Test { suite: "memblock", name: "reservations_inside_memory", run: reservations_inside_memory },
];

fn arrays_sorted_disjoint() -> TestResult {
    let mb = MEMBLOCK.lock();
    for t in [mb.memory(), mb.reserved()] {
        let r = t.regions();
        for w in r.windows(2) {
            check!(w[0].end() <= w[1].base, "{}: {:?} overlaps or precedes {:?}", t.name(), w[0], w[1]);
        }
        check!(r.iter().all(|x| x.size > 0), "{}: empty region", t.name());
    }
    Ok(())
}

fn boot_reservations_present() -> TestResult {
    let s = state::get();
    let mb = MEMBLOCK.lock();
    let image = (s.info.phys_base, pgtable::pa_symbol(sym!(_end)).as_u64());
    check!(mb.is_region_reserved(PhysAddr(image.0), image.1 - image.0), "kernel image not reserved");
    for a in (image.0..image.1).step_by(0x1000) {
        check!(mb.is_reserved(PhysAddr(a)), "image page {a:#x} not reserved");
    }
    check!(mb.is_reserved(PhysAddr(s.info.dtb_pa)), "DTB start not reserved");
    check!(mb.is_reserved(PhysAddr(s.info.dtb_pa + s.dtb_size_bytes - 1)), "DTB end not reserved");
    for &(base, _) in &s.dt.memreserve {
        if mb.is_memory(PhysAddr(base)) {
            check!(mb.is_reserved(PhysAddr(base)), "/memreserve/ {base:#x} not reserved");
        }
    }
    let sources = RESERVATIONS.lock();
    for need in ["kernel image", "initial page tables", "device tree blob", "early heap"] {
        check!(sources.iter().any(|r| r.source.starts_with(need)), "no reservation from '{need}'");
    }
    Ok(())
}

/// memblock.memory is exactly what memblock_init accepted from /memory
/// (after alignment, the PA limit and the probe dropped what they must; the
/// image added if the tree left it out), overlaps counted once; with mem=,
/// no more than the limit plus the image.
fn memory_matches_device_tree() -> TestResult {
    let s = state::get();
    let mb = MEMBLOCK.lock();
    let mut accepted: alloc::vec::Vec<(u64, u64)> = ACCEPTED_MEMORY.lock().iter().copied().collect();
    accepted.sort_unstable();
    let (mut union, mut reach) = (0u64, 0u64);
    for (base, size) in accepted {
        let end = base + size;
        if end > reach {
            union += end - base.max(reach);
            reach = end;
        }
    }
    check!(union > 0, "memblock_init accepted no memory");
    match s.params.mem_limit {
        Some(limit) if mb.phys_mem_size() < union => {
            let image = pgtable::pa_symbol(sym!(_end)).as_u64() - s.info.phys_base;
            check!(mb.phys_mem_size() <= limit + image, "mem= not enforced: {} > {}", mb.phys_mem_size(), limit);
        }
        _ => check_eq!(mb.phys_mem_size(), union),
    }
    Ok(())
}

/// After the hand-over memblock's free memory belongs to the page allocator:
/// memblock must refuse to allocate and leave its arrays as they are. (The
/// alloc/free round trip itself is host-tested in mm::memblock.)
fn retired_refuses_allocations() -> TestResult {
    let mut mb = MEMBLOCK.lock();
    check!(mb.is_retired(), "memblock is not retired after the hand-over");
    let before: alloc::vec::Vec<_> = mb.reserved().regions().to_vec();
    check_eq!(mb.phys_alloc(4096, 4096), Err(mm::Error::Busy));
    check_eq!(mb.phys_alloc_range(1 << 20, 4096, PhysAddr(0), PhysAddr(u64::MAX)), Err(mm::Error::Busy));
    check!(mb.reserved().regions() == &before[..], "reserved array changed");
    Ok(())
}

fn reservations_inside_memory() -> TestResult {
    let mb = MEMBLOCK.lock();
    for r in RESERVATIONS.lock().iter() {
        if r.source.starts_with("/memreserve/")
            || r.source.starts_with("/reserved-memory")
            || r.source.starts_with("device tree blob")
        {
            continue; // firmware may describe ranges, and place the blob, outside RAM
        }
        check!(
            mb.is_region_memory(PhysAddr(r.base), r.size),
            "{} [{:#x}+{:#x}] is not in memory",
            r.source,
            r.base,
            r.size
        );
    }
    Ok(())
}
