//! The translation is real: hardware and software walks agree, permissions
//! hold, the identity map is gone, the stack guard is unmapped.

use super::harness::{Test, TestResult};
use crate::init::state;
use crate::memory::layout::{FIX_EARLYCON, FIX_FDT};
use crate::memory::{linear_map, pgtable};
use crate::{check, check_eq, fail};
use arch::exception::{ec, esr_ec};
use arch::mmu::at_s1e1r;
use boot::sym;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use mm::pgtable::PageProt;
use mm::{PAGE_SIZE, VirtAddr};

pub const TESTS: &[Test] = &[
    Test { suite: "mmu", name: "hw_walk_matches_sw_walk", run: hw_walk_matches_sw_walk },
    Test { suite: "mmu", name: "section_permissions", run: section_permissions },
    Test { suite: "mmu", name: "rodata_write_faults", run: rodata_write_faults },
    Test { suite: "mmu", name: "data_exec_faults", run: data_exec_faults },
    Test { suite: "mmu", name: "identity_map_removed", run: identity_map_removed },
    Test { suite: "mmu", name: "stack_guard_unmapped", run: stack_guard_unmapped },
    Test { suite: "mmu", name: "linear_map_covers_memory", run: linear_map_covers_memory },
    Test { suite: "mmu", name: "layout_regions_ordered", run: layout_regions_ordered },
    Test { suite: "mmu", name: "live_remap_seen_by_every_cpu", run: live_remap_seen_by_every_cpu },
    Test { suite: "mmu", name: "split_keeps_attributes", run: split_keeps_attributes },
    Test { suite: "mmu", name: "linear_map_blocks_not_split", run: linear_map_blocks_not_split },
    Test { suite: "mmu", name: "wx_check_counts_offending_pages", run: wx_check_counts_offending_pages },
];

/// The W^X check on real descriptors: a kernel page mapped writable and
/// executable and a user-executable page are counted and named, and the
/// tree is clean again once they are unmapped.
fn wx_check_counts_offending_pages() -> TestResult {
    use crate::memory::ptdump::count_wx;
    use mm::pgtable::MapFlags;
    use mm::ptdump::WxWarning;
    let count = || count_wx().map_err(|e| alloc::format!("count_wx: {e}"));
    let before = count()?;
    check_eq!((before.wx_pages, before.user_exec_pages), (0, 0));
    let page = crate::memory::pages::alloc_pages(mm::gfp::Gfp::KERNEL, 0).map_err(|e| alloc::format!("{e}"))?;
    let pa = page.pfn().phys();
    let area = crate::memory::vmalloc::get_vm_area(2 * PAGE_SIZE, mm::vmalloc::VmFlags::empty())
        .map_err(|e| alloc::format!("get_vm_area: {e}"))?;
    let wx = area.addr();
    let ux = area.addr() + PAGE_SIZE;
    let r = (|| -> TestResult {
        let (wx_prot, ux_prot) =
            (PageProt::KERNEL_RW | PageProt::EXEC, PageProt::READ | PageProt::USER | PageProt::EXEC);
        for (va, prot) in [(wx, wx_prot), (ux, ux_prot)] {
            pgtable::map_kernel_range(va, pa, PAGE_SIZE, prot, MapFlags::NO_BLOCKS)
                .map_err(|e| alloc::format!("map {va:?}: {e}"))?;
        }
        let found = count()?;
        check_eq!((found.wx_pages, found.user_exec_pages), (1, 1));
        check_eq!(found.warnings[..], [WxWarning::Wx(wx.as_u64()), WxWarning::UserExec(ux.as_u64())]);
        Ok(())
    })();
    let _ = pgtable::unmap_kernel_range(wx, PAGE_SIZE);
    let _ = pgtable::unmap_kernel_range(ux, PAGE_SIZE);
    drop(page);
    r?;
    let after = count()?;
    check_eq!((after.wx_pages, after.user_exec_pages), (0, 0));
    Ok(())
}

/// The arm64 descriptor rules the walker relies on: a split piece keeps
/// every attribute of its block; only permission bits change in place.
fn split_keeps_attributes() -> TestResult {
    use arch::pte::*;
    use mm::PhysAddr;
    use mm::pgtable::PteFormat;
    let block = Arm64::mk_leaf(PhysAddr(0x4000_0000), PageProt::KERNEL_RW | PageProt::NONCACHED, 2) | PTE_NG | PTE_CONT;
    let keep = !(PTE_ADDR_MASK | PTE_TABLE | PTE_CONT);
    for (i, level) in [(0u64, 3usize), (511, 3)] {
        let pa = PhysAddr(0x4000_0000 + i * PAGE_SIZE);
        let piece = Arm64::split_leaf(block, pa, level);
        check_eq!(piece & keep, block & keep);
        check_eq!(Arm64::output_addr(piece), pa);
        check!(piece & PTE_PAGE != 0 && piece & PTE_CONT == 0, "piece {piece:#x} is not a plain page");
        check_eq!(Arm64::leaf_prot(piece), Arm64::leaf_prot(block));
    }
    let rw = Arm64::mk_leaf(PhysAddr(0x4000_0000), PageProt::KERNEL_RW, 3);
    let ro = Arm64::mk_leaf(PhysAddr(0x4000_0000), PageProt::KERNEL_RO, 3);
    let rox = Arm64::mk_leaf(PhysAddr(0x4000_0000), PageProt::KERNEL_ROX, 3);
    let dev = Arm64::mk_leaf(PhysAddr(0x4000_0000), PageProt::KERNEL_DEVICE, 3);
    let moved = Arm64::mk_leaf(PhysAddr(0x4000_1000), PageProt::KERNEL_RW, 3);
    check!(!Arm64::needs_break(rw, ro) && !Arm64::needs_break(ro, rox), "a permission change needs a break");
    check!(Arm64::needs_break(rw, dev), "a memory-type change is allowed in place");
    check!(Arm64::needs_break(rw, moved), "an output-address change is allowed in place");
    check!(Arm64::needs_break(rw, rw | PTE_NG), "an nG change is allowed in place");
    Ok(())
}

/// A change inside a linear-map block is refused, and the block still maps.
fn linear_map_blocks_not_split() -> TestResult {
    let s = linear_map::phys_to_virt(crate::memory::memblock::MEMBLOCK.lock().start_of_dram());
    let mut checked = 0;
    for i in 0..64u64 {
        let va = VirtAddr(s.as_u64() + i * (2 << 20));
        let Some(t) = pgtable::translate(va) else { continue };
        if t.level == 3 {
            continue;
        }
        let target = VirtAddr(va.as_u64() + PAGE_SIZE);
        check_eq!(pgtable::change_kernel_prot(target, PAGE_SIZE, PageProt::KERNEL_RO), Err(mm::Error::Busy));
        check_eq!(pgtable::unmap_kernel_range(target, PAGE_SIZE), Err(mm::Error::Busy));
        check_eq!(pgtable::translate(va), Some(t));
        check!(at_s1e1r(target).is_ok(), "the block stopped translating");
        checked += 1;
        break;
    }
    if checked == 0 {
        crate::pr_info!("selftest: mmu: no linear-map block in the first 128 MiB of RAM; nothing to split");
    }
    Ok(())
}

static PROBE_VA: AtomicU64 = AtomicU64::new(0);
static WRITE_FAULTED: AtomicU64 = AtomicU64::new(0);

/// On each CPU: try to write the scratch page; record a fault in a bit.
fn try_write_scratch(cpu: usize) {
    let va = PROBE_VA.load(Ordering::Acquire);
    // SAFETY: the scratch page is this test's own; writing it when mapped RW is harmless.
    if unsafe { arch::exception::probe_write(va, cpu as u64) }.is_err() {
        WRITE_FAULTED.fetch_or(1 << cpu, Ordering::AcqRel);
    }
}

/// Change a live kernel mapping RW -> RO -> RW -> unmapped, break-before-make,
/// and check that every CPU's TLB follows (inner-shareable invalidation).
fn live_remap_seen_by_every_cpu() -> TestResult {
    use mm::pgtable::MapFlags;
    let area = crate::memory::vmalloc::get_vm_area(PAGE_SIZE, mm::vmalloc::VmFlags::empty())
        .map_err(|e| alloc::format!("get_vm_area: {e}"))?;
    let va = area.addr();
    let page = crate::memory::pages::alloc_pages(mm::gfp::Gfp::KERNEL, 0).map_err(|e| alloc::format!("{e}"))?;
    let pa = page.pfn().phys();
    let online =
        (0..arch::percpu::NR_CPUS).filter(|&c| crate::smp::cpumask::cpu_online(c)).fold(0u64, |m, c| m | 1 << c);
    let rw = PageProt::KERNEL_RW;
    let r = (|| -> TestResult {
        pgtable::map_kernel_range(va, pa, PAGE_SIZE, rw, MapFlags::NO_BLOCKS)
            .map_err(|e| alloc::format!("map: {e}"))?;
        PROBE_VA.store(va.as_u64(), Ordering::Release);
        for (prot, want_faults) in [(rw, 0), (PageProt::KERNEL_RO, online), (rw, 0)] {
            pgtable::change_kernel_prot(va, PAGE_SIZE, prot).map_err(|e| alloc::format!("change_prot: {e}"))?;
            WRITE_FAULTED.store(0, Ordering::Release);
            crate::smp::call::on_each_cpu(try_write_scratch);
            let got = WRITE_FAULTED.load(Ordering::Acquire);
            check!(
                got == want_faults,
                "after change to {prot:?}: CPUs that faulted {got:#x}, expected {want_faults:#x}"
            );
        }
        check_eq!(pgtable::unmap_kernel_range(va, PAGE_SIZE), Ok(1));
        check!(at_s1e1r(va).is_err(), "still mapped after unmap");
        WRITE_FAULTED.store(0, Ordering::Release);
        crate::smp::call::on_each_cpu(try_write_scratch);
        check_eq!(WRITE_FAULTED.load(Ordering::Acquire), online);
        Ok(())
    })();
    let _ = pgtable::unmap_kernel_range(va, PAGE_SIZE);
    drop(page);
    r
}

fn layout_regions_ordered() -> TestResult {
    use crate::memory::layout::*;
    check_eq!(sym!(_text), KIMAGE_VADDR);
    check!(sym!(_end) <= VMALLOC_START, "the image runs into the vmalloc area");
    let bounds = [
        PAGE_OFFSET,
        PAGE_END,
        MODULES_VADDR,
        KIMAGE_VADDR,
        VMALLOC_START,
        VMALLOC_END,
        FIXADDR_START,
        FIXADDR_TOP,
        PCI_IO_START,
        VMEMMAP_START,
        VMEMMAP_END,
    ];
    check!(bounds.windows(2).all(|w| w[0] <= w[1]), "layout bounds out of order: {:x?}", bounds);
    check!(FIX_EARLYCON + PAGE_SIZE <= FIXADDR_TOP && FIX_FDT + (4 << 20) <= FIX_EARLYCON, "fixmap slots overlap");
    check!(FIX_EARLYCON + PAGE_SIZE <= FIX_SPIN_TABLE && FIX_SPIN_TABLE_END <= FIXADDR_TOP, "spin-table slots overlap");
    for cpu in 0..arch::percpu::NR_CPUS as u64 {
        let slot = VirtAddr(FIX_SPIN_TABLE + cpu * PAGE_SIZE);
        check!(pgtable::translate(slot).is_none(), "spin-table slot {cpu} still mapped after bring-up");
    }
    Ok(())
}

/// In rodata: the test writes to it and expects a fault.
static RODATA_WORD: u64 = 0x5a5a_5a5a_1234_5678;
/// In .data (non-zero initialiser), holding a `ret` instruction.
static DATA_RET_INSN: AtomicU32 = AtomicU32::new(0xd65f_03c0);
/// In .bss.
static BSS_WORD: AtomicU64 = AtomicU64::new(0);

fn sample_addresses() -> [(&'static str, u64); 13] {
    let s = state::get();
    let sp = arch::cpu::stack_pointer();
    let dram = linear_map::phys_to_virt(linear_map::memstart()).as_u64();
    let first_mem = crate::memory::memblock::MEMBLOCK.lock().start_of_dram();
    [
        ("image header", sym!(_text)),
        ("text (this function)", sample_addresses as *const () as u64),
        ("text end", sym!(_etext) - 8),
        ("rodata", &RODATA_WORD as *const u64 as u64),
        ("rodata end", sym!(__end_rodata) - 8),
        ("data", DATA_RET_INSN.as_ptr() as u64),
        ("bss", BSS_WORD.as_ptr() as u64),
        ("page-table pool", sym!(__pgtable_pool_start)),
        ("stack", sp),
        ("fixmap fdt", FIX_FDT + (s.info.dtb_pa & (PAGE_SIZE - 1))),
        ("fixmap uart", if crate::init::earlycon::mapped() { FIX_EARLYCON } else { FIX_FDT }),
        ("ioremap uart", crate::init::earlycon::ioremapped_va().unwrap_or(FIX_FDT)),
        ("linear map", linear_sample(dram.max(linear_map::phys_to_virt(first_mem).as_u64()))),
    ]
}

/// `va`, or with debug_pagealloc on (where the start of RAM may be a free
/// page, unmapped) the linear alias of the image, which is never free.
fn linear_sample(va: u64) -> u64 {
    if pgtable::debug_pagealloc_enabled() {
        return linear_map::phys_to_virt(pgtable::pa_symbol(sym!(_text))).as_u64();
    }
    va
}

/// Whether `pa` may be missing from the linear map: with debug_pagealloc on,
/// a free page (no references) is unmapped on purpose.
fn unmapped_as_free(pa: mm::PhysAddr) -> bool {
    pgtable::debug_pagealloc_enabled()
        && crate::memory::pages::pfn_to_page(pa.pfn()).is_some_and(|p| p.page_ref_count() == 0)
}

fn hw_walk_matches_sw_walk() -> TestResult {
    for (what, va) in sample_addresses() {
        let sw = match pgtable::translate(VirtAddr(va)) {
            Some(t) => t.pa,
            None => fail!("{what} at {va:#x}: software walk finds no mapping"),
        };
        let hw = match at_s1e1r(VirtAddr(va)) {
            Ok(pa) => pa,
            Err(f) => fail!("{what} at {va:#x}: AT S1E1R faults (FST {:#x}) but the tables map it", f.fst),
        };
        check!(hw == sw, "{what} at {va:#x}: hardware walk {:#x} != software walk {:#x}", hw.as_u64(), sw.as_u64());
        // Image addresses must also equal pa = va - kimage_voffset.
        if va >= sym!(_text) && va < sym!(_end) {
            check_eq!(hw, pgtable::pa_symbol(va));
        }
    }
    Ok(())
}

fn section_permissions() -> TestResult {
    let prot = |va: u64| pgtable::translate(VirtAddr(va)).map(|t| t.prot);
    check_eq!(prot(sym!(_text)), Some(PageProt::KERNEL_ROX));
    check_eq!(prot(sample_addresses as *const () as u64), Some(PageProt::KERNEL_ROX));
    check_eq!(prot(&RODATA_WORD as *const u64 as u64), Some(PageProt::KERNEL_RO));
    check_eq!(prot(DATA_RET_INSN.as_ptr() as u64), Some(PageProt::KERNEL_RW));
    check_eq!(prot(BSS_WORD.as_ptr() as u64), Some(PageProt::KERNEL_RW));
    // The hardware agrees: a write translation of rodata and text is refused.
    for (what, va) in [("rodata", &RODATA_WORD as *const u64 as u64), ("text", sym!(_text))] {
        match arch::mmu::at_s1e1w(VirtAddr(va)) {
            Ok(_) => fail!("AT S1E1W of {what} at {va:#x} succeeds"),
            Err(f) => check!(f.fst & 0x3c == 0x0c, "AT S1E1W of {what}: FST {:#x} is not a permission fault", f.fst),
        }
    }
    Ok(())
}

fn rodata_write_faults() -> TestResult {
    let va = &RODATA_WORD as *const u64 as u64;
    // SAFETY: the store targets rodata, which must fault; if the mapping were
    // wrongly writable, the value written equals the one there.
    let r = unsafe { arch::exception::probe_write(va, RODATA_WORD) };
    let f = match r {
        Ok(()) => fail!("a store to rodata at {va:#x} did not fault"),
        Err(f) => f,
    };
    check_eq!(esr_ec(f.esr), ec::DABT_CUR);
    check!(f.esr & 0x3c == 0x0c, "DFSC {:#x} is not a permission fault", f.esr & 0x3f);
    check!(f.esr & (1 << 6) != 0, "WnR is not set");
    check_eq!(f.far, va);
    // SAFETY: a volatile read of a static, through a reference to it.
    let now = unsafe { core::ptr::read_volatile(&RODATA_WORD) };
    check_eq!(now, 0x5a5a_5a5a_1234_5678u64);
    Ok(())
}

fn data_exec_faults() -> TestResult {
    let va = DATA_RET_INSN.as_ptr() as u64;
    check_eq!(DATA_RET_INSN.load(Ordering::Relaxed), 0xd65f_03c0u32);
    // SAFETY: the word at `va` is `ret`, harmless even if it ran.
    let r = unsafe { arch::exception::probe_exec(va) };
    let f = match r {
        Ok(()) => fail!("executing .data at {va:#x} did not fault"),
        Err(f) => f,
    };
    check_eq!(esr_ec(f.esr), ec::IABT_CUR);
    check!(f.esr & 0x3c == 0x0c, "IFSC {:#x} is not a permission fault", f.esr & 0x3f);
    check_eq!(f.far, va);
    Ok(())
}

fn identity_map_removed() -> TestResult {
    let idmap_pa = pgtable::pa_symbol(sym!(__idmap_text_start)).as_u64();
    check!(at_s1e1r(VirtAddr(idmap_pa)).is_err(), "the identity map still translates {idmap_pa:#x}");
    check_eq!(arch::mmu::ttbr0(), pgtable::pa_symbol(sym!(reserved_pg_dir)));
    Ok(())
}

fn stack_guard_unmapped() -> TestResult {
    let (lo, hi) = (sym!(__stack_guard_start), sym!(__stack_guard_end));
    check!(hi - lo >= PAGE_SIZE, "guard is {} bytes", hi - lo);
    for va in [lo, hi - PAGE_SIZE] {
        check!(at_s1e1r(VirtAddr(va)).is_err(), "guard page {va:#x} is mapped");
        check!(pgtable::translate(VirtAddr(va)).is_none(), "tables map guard page {va:#x}");
    }
    let (bottom, top) = (sym!(__boot_stack_bottom), sym!(__boot_stack_top));
    check!(bottom & arch::exception::STACK_SIZE == 0, "stack bottom {bottom:#x} breaks the overflow check's alignment");
    // The whole STACK_SIZE below the bottom is unmapped (the overflow check
    // tests bit STACK_SHIFT: any sp there is an overflow).
    for va in [bottom - arch::exception::STACK_SIZE, bottom - PAGE_SIZE] {
        check!(at_s1e1r(VirtAddr(va)).is_err(), "{va:#x}, below the stack's bottom, is mapped");
    }
    check_eq!(top - bottom, arch::exception::STACK_SIZE);
    // The page above the top is a guard too (lkdtm STACK_GUARD_PAGE_TRAILING).
    check!(at_s1e1r(VirtAddr(top)).is_err(), "the page above the stack's top {top:#x} is mapped");
    check!(pgtable::translate(VirtAddr(top)).is_none(), "tables map the page above the stack's top {top:#x}");
    Ok(())
}

fn linear_map_covers_memory() -> TestResult {
    let mb = crate::memory::memblock::MEMBLOCK.lock();
    let mut n = 0;
    for (s, e, _) in mb.for_each_mem_range() {
        let (s, e) = (s.align_up(PAGE_SIZE), e.align_down(PAGE_SIZE));
        if s >= e {
            continue;
        }
        for pa in [s, e - PAGE_SIZE, s + (((e - s) / 2) & !(PAGE_SIZE - 1))] {
            check_eq!(linear_map::virt_to_phys(linear_map::phys_to_virt(pa)), pa);
            let va = linear_map::phys_to_virt(pa);
            match at_s1e1r(va) {
                Ok(got) => {
                    check!(got == pa, "linear {:#x} -> {:#x}, expected {:#x}", va.as_u64(), got.as_u64(), pa.as_u64())
                }
                Err(_) if unmapped_as_free(pa) => {}
                Err(f) => fail!("linear map misses {:#x} (va {:#x}, FST {:#x})", pa.as_u64(), va.as_u64(), f.fst),
            }
            n += 1;
        }
        let t = pgtable::translate(linear_map::phys_to_virt(s));
        check!(
            t.is_some_and(|t| t.prot == PageProt::KERNEL_RW) || (t.is_none() && unmapped_as_free(s)),
            "linear map of {:#x} is not RW/NX",
            s.as_u64()
        );
    }
    check!(n > 0, "no memory range checked");
    Ok(())
}
