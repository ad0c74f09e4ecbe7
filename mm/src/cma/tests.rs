//! Host tests: the bit searches against a plain `Vec<bool>`, an area's
//! allocator against a model under random alloc/release, the Busy retry
//! walk, release refusals, the debugfs formats, and the boot-time checks.

use super::bitmap::*;
use super::*;
use crate::addr::{PAGE_SHIFT, Pfn, PhysAddr};
use crate::error::Error;
use crate::test_support::Rng;
use crate::vmstat::{VmEvent, vm_event};

/// The bits of `map` below `nbits`.
fn bools(map: &[u64], nbits: u64) -> Vec<bool> {
    (0..nbits).map(|b| map[(b / 64) as usize] >> (b % 64) & 1 != 0).collect()
}

/// The lowest index >= start of a clear run of `nr` with (i + off) aligned, by brute force.
fn model_find(bits: &[bool], start: u64, nr: u64, mask: u64, off: u64) -> Option<u64> {
    (start..bits.len() as u64)
        .filter(|i| (i + off) & mask == 0)
        .find(|&i| i + nr <= bits.len() as u64 && bits[i as usize..(i + nr) as usize].iter().all(|b| !b))
}

#[test]
fn bit_searches_match_a_plain_model() {
    let mut rng = Rng(Rng::SEED);
    for round in 0..300 {
        let nbits = 1 + rng.below(300);
        let mut map = vec![0u64; words_for(nbits) + 1];
        // Garbage above nbits must not matter.
        *map.last_mut().unwrap() = u64::MAX;
        if !nbits.is_multiple_of(64) {
            map[words_for(nbits) - 1] |= u64::MAX << (nbits % 64);
        }
        let density = rng.below(100);
        for b in 0..nbits {
            if rng.below(100) < density {
                set_range(&mut map, b, 1);
            }
        }
        let bits = bools(&map, nbits);
        let start = rng.below(nbits + 2);
        let next_set = (start..nbits).find(|&b| bits[b as usize]).unwrap_or(nbits);
        let next_clear = (start..nbits).find(|&b| !bits[b as usize]).unwrap_or(nbits);
        assert_eq!(find_next_bit(&map, nbits, start), next_set, "round {round}");
        assert_eq!(find_next_zero_bit(&map, nbits, start), next_clear, "round {round}");
        assert_eq!(weight(&map, nbits), bits.iter().filter(|&&b| b).count() as u64);
        let mut best = 0;
        let mut run = 0;
        for &b in &bits {
            run = if b { 0 } else { run + 1 };
            best = best.max(run);
        }
        assert_eq!(longest_zero_run(&map, nbits), best);
        assert_eq!(zero_runs(&map, nbits).map(|(_, n)| n).sum::<u64>(), bits.iter().filter(|&&b| !b).count() as u64);
        let nr = 1 + rng.below(8);
        let mask = (1u64 << rng.below(4)) - 1;
        let off = rng.below(mask + 1);
        let got = find_next_zero_area_off(&map, nbits, start.min(nbits), nr, mask, off);
        match model_find(&bits, start.min(nbits), nr, mask, off) {
            Some(i) => assert_eq!(got, i, "round {round}: nbits {nbits} nr {nr} mask {mask} off {off}"),
            None => assert!(got + nr > nbits || got >= nbits, "round {round}: found {got} where the model finds none"),
        }
    }
}

/// A fresh, activated area of `count` pages at `base_pfn` in its own registry.
fn area(base_pfn: u64, count: u64, order_per_bit: u32) -> &'static Cma {
    let areas: &'static CmaAreas = Box::leak(Box::new(CmaAreas::new()));
    let cma = areas.init_reserved_mem(Pfn(base_pfn).phys(), count << PAGE_SHIFT, order_per_bit, "test", true).unwrap();
    let words = Box::leak(vec![0u64; cma.bitmap_words()].into_boxed_slice());
    cma.activate(words).unwrap();
    cma
}

fn read(cma: &Cma, f: CmaDebugfsFile) -> String {
    let mut s = String::new();
    cma.debugfs_read(f, &mut s).unwrap();
    s
}

#[test]
fn random_alloc_and_release_match_the_model() {
    let mut rng = Rng(Rng::SEED ^ 0xc3a);
    for &(base, opb) in &[(0x40000u64, 0u32), (0x40200, 1), (0x80000 + 512, 3)] {
        let count = 1024;
        let cma = area(base, count, opb);
        let per_bit = 1u64 << opb;
        let mut model = vec![false; (count / per_bit) as usize];
        let mut live: Vec<(Pfn, u64)> = Vec::new();
        for step in 0..2000 {
            if live.is_empty() || rng.below(3) != 0 {
                let span = if rng.below(4) == 0 { 200 } else { 16 };
                let n = 1 + rng.below(span);
                let align = rng.below(6) as u32;
                let nbits = n.div_ceil(per_bit);
                let mask = if align <= opb { 0 } else { (1 << (align - opb)) - 1 };
                let off = (base & ((1 << align) - 1)) >> opb;
                let expect = model_find(&model, 0, nbits, mask, off);
                let mut tried = Vec::new();
                let got = cma.alloc(n, align, &mut |pfn, c| {
                    tried.push((pfn, c));
                    Ok(())
                });
                match expect {
                    Some(i) => {
                        let pfn = got.unwrap_or_else(|e| panic!("step {step}: model fits at bit {i}, alloc says {e}"));
                        assert_eq!(pfn, Pfn(base + (i << opb)), "step {step}");
                        assert_eq!(pfn.0 % (1 << align), 0);
                        assert_eq!(tried, vec![(pfn, n)]);
                        model[i as usize..(i + nbits) as usize].iter_mut().for_each(|b| *b = true);
                        live.push((pfn, n));
                    }
                    None => {
                        assert_eq!(got, Err(Error::NoMemory), "step {step}");
                        assert!(tried.is_empty());
                    }
                }
            } else {
                let (pfn, n) = live.swap_remove(rng.below(live.len() as u64) as usize);
                let mut freed = None;
                cma.release(pfn, n, &mut |p, c| freed = Some((p, c))).unwrap();
                assert_eq!(freed, Some((pfn, n)));
                let i = ((pfn.0 - base) >> opb) as usize;
                model[i..i + n.div_ceil(per_bit) as usize].iter_mut().for_each(|b| *b = false);
            }
            let used = model.iter().filter(|&&b| b).count() as u64 * per_bit;
            assert_eq!(cma.used_pages(), used, "step {step}");
            let mut best = 0;
            let mut run = 0;
            for &b in &model {
                run = if b { 0 } else { run + 1 };
                best = best.max(run);
            }
            assert_eq!(cma.maxchunk_pages(), best * per_bit, "step {step}");
            assert_eq!(read(cma, CmaDebugfsFile::Used), format!("{used}\n"));
        }
        for (pfn, n) in live.drain(..) {
            cma.release(pfn, n, &mut |_, _| {}).unwrap();
        }
        assert_eq!((cma.used_pages(), cma.maxchunk_pages()), (0, count));
    }
}

#[test]
fn busy_ranges_are_skipped_one_alignment_step_at_a_time() {
    let cma = area(0x100000, 512, 0);
    // Ranges starting below page 40 are busy; align 8 pages (mask 7).
    let mut tried = Vec::new();
    let got = cma.alloc(4, 3, &mut |pfn, _| {
        tried.push(pfn.0 - 0x100000);
        if pfn.0 - 0x100000 < 40 { Err(Error::Busy) } else { Ok(()) }
    });
    assert_eq!(got, Ok(Pfn(0x100000 + 40)));
    assert_eq!(tried, vec![0, 8, 16, 24, 32, 40]);
    // The busy tries left no bits behind.
    assert_eq!(cma.used_pages(), 4);
    assert_eq!(read(cma, CmaDebugfsFile::Bitmap).split(' ').next(), Some("0"));
    // Everything busy: Busy, nothing marked, every aligned run tried once.
    let fails = vm_event(VmEvent::CmaAllocFail);
    let mut n = 0;
    let got = cma.alloc(64, 6, &mut |_, _| {
        n += 1;
        Err(Error::Busy)
    });
    assert_eq!(got, Err(Error::Busy));
    assert_eq!(n, 7, "runs at 64, 128, ..., 448 (0 holds the earlier allocation)");
    assert_eq!(cma.used_pages(), 4);
    assert!(vm_event(VmEvent::CmaAllocFail) > fails);
    // Another error ends the search at once.
    let mut n = 0;
    let got = cma.alloc(1, 0, &mut |_, _| {
        n += 1;
        Err(Error::NoMemory)
    });
    assert_eq!((got, n, cma.used_pages()), (Err(Error::NoMemory), 1, 4));
}

#[test]
fn alloc_counts_success_and_failure() {
    let cma = area(0x140000, 512, 0);
    let (ok, fail) = (vm_event(VmEvent::CmaAllocSuccess), vm_event(VmEvent::CmaAllocFail));
    cma.alloc(512, 0, &mut |_, _| Ok(())).unwrap();
    assert!(vm_event(VmEvent::CmaAllocSuccess) > ok);
    assert_eq!(cma.alloc(1, 0, &mut |_, _| Ok(())), Err(Error::NoMemory));
    assert_eq!(cma.alloc(0, 0, &mut |_, _| Ok(())), Err(Error::InvalidArgument));
    assert!(vm_event(VmEvent::CmaAllocFail) >= fail + 2);
}

#[test]
fn an_alignment_larger_than_the_base_alignment_uses_the_offset() {
    // Base 512 pages past a 1024-page boundary: a 1024-aligned request
    // must start at bit 512, not 0.
    let cma = area(0x200000 + 512, 2048, 0);
    let pfn = cma.alloc(1, 10, &mut |_, _| Ok(())).unwrap();
    assert_eq!(pfn, Pfn(0x200000 + 1024));
    let pfn = cma.alloc(1, 10, &mut |_, _| Ok(())).unwrap();
    assert_eq!(pfn, Pfn(0x200000 + 2048));
    assert_eq!(cma.alloc(1, 10, &mut |_, _| Ok(())), Err(Error::NoMemory), "0x200c00 + 1 ends past the area");
}

#[test]
fn release_refuses_what_the_area_did_not_hand_out() {
    let cma = area(0x300000, 512, 1);
    let pfn = cma.alloc(8, 0, &mut |_, _| Ok(())).unwrap();
    let before = read(cma, CmaDebugfsFile::Bitmap);
    let mut calls = 0;
    let mut free = |_: Pfn, _: u64| calls += 1;
    assert_eq!(cma.release(Pfn(0x300000 - 2), 4, &mut free), Err(Error::InvalidArgument), "below the area");
    assert_eq!(cma.release(Pfn(0x300000 + 510), 4, &mut free), Err(Error::InvalidArgument), "past its end");
    assert_eq!(cma.release(Pfn(0x300000 + 1), 2, &mut free), Err(Error::InvalidArgument), "not on a bit");
    assert_eq!(cma.release(pfn, 0, &mut free), Err(Error::InvalidArgument));
    assert_eq!(cma.release(Pfn(0x300000 + 16), 2, &mut free), Err(Error::NotFound), "never allocated");
    assert_eq!(cma.release(pfn, 10, &mut free), Err(Error::NotFound), "runs into free bits");
    assert_eq!(calls, 0);
    assert_eq!(read(cma, CmaDebugfsFile::Bitmap), before);
    cma.release(pfn, 8, &mut |_, _| {}).unwrap();
    assert_eq!(cma.release(pfn, 8, &mut |_, _| {}), Err(Error::NotFound), "twice");
}

#[test]
fn debugfs_files_print_as_linux_does() {
    let cma = area(0x400000, 1024, 0);
    assert_eq!(read(cma, CmaDebugfsFile::BasePfn), format!("{}\n", 0x400000));
    assert_eq!(read(cma, CmaDebugfsFile::Count), "1024\n");
    assert_eq!(read(cma, CmaDebugfsFile::OrderPerBit), "0\n");
    assert_eq!(read(cma, CmaDebugfsFile::Maxchunk), "1024\n");
    let a = cma.alloc(3, 0, &mut |_, _| Ok(())).unwrap();
    let b = cma.alloc(40, 5, &mut |_, _| Ok(())).unwrap(); // bits 32..72
    assert_eq!((a.0 - 0x400000, b.0 - 0x400000), (0, 32));
    let bitmap = read(cma, CmaDebugfsFile::Bitmap);
    assert!(bitmap.ends_with('\n') && !bitmap.ends_with(" \n"));
    let words: Vec<u32> = bitmap.trim_end().split(' ').map(|w| w.parse().unwrap()).collect();
    assert_eq!(words.len(), 1024 / 32);
    // Bits 0..3, then 32..72: word 0 = 0b111, word 1 all ones, word 2 the low 8 bits.
    assert_eq!(&words[..4], &[7, u32::MAX, 0xff, 0]);
    assert!(words[4..].iter().all(|&w| w == 0));
    assert_eq!(read(cma, CmaDebugfsFile::Used), "43\n");
    assert_eq!(read(cma, CmaDebugfsFile::Maxchunk), "952\n");
    let mut s = String::new();
    cma.show_areas(&mut s).unwrap();
    assert_eq!(s, "number of available pages: 29@3+952@72=> 981 free of 1024 total pages");
}

#[test]
fn an_inactive_area_allocates_nothing_and_reads_empty() {
    let areas = CmaAreas::new();
    let cma = areas.init_reserved_mem(PhysAddr(0x4000_0000), 2 << 20, 0, "", true).unwrap();
    assert_eq!(cma.name(), "cma0");
    assert!(!cma.is_active());
    assert_eq!(cma.alloc(1, 0, &mut |_, _| Ok(())), Err(Error::NoMemory));
    assert_eq!((cma.used_pages(), read(cma, CmaDebugfsFile::Bitmap)), (0, String::new()));
    assert_eq!(cma.activate(Box::leak(vec![1u64; 8].into_boxed_slice())), Err(Error::InvalidArgument), "dirty");
    assert_eq!(cma.activate(Box::leak(vec![0u64; 7].into_boxed_slice())), Err(Error::InvalidArgument), "short");
    cma.activate(Box::leak(vec![0u64; 8].into_boxed_slice())).unwrap();
    assert_eq!(cma.activate(Box::leak(vec![0u64; 8].into_boxed_slice())), Err(Error::Busy));
}

#[test]
fn init_reserved_mem_checks_and_counts() {
    let areas = CmaAreas::new();
    let mb2 = CMA_MIN_ALIGNMENT_BYTES;
    assert_eq!(areas.init_reserved_mem(PhysAddr(0), 0, 0, "a", true).err(), Some(DeclareRefusal::ZeroSize));
    assert_eq!(areas.init_reserved_mem(PhysAddr(mb2), mb2, 0, "a", false).err(), Some(DeclareRefusal::NotReserved));
    assert_eq!(areas.init_reserved_mem(PhysAddr(mb2 / 2), mb2, 0, "a", true).err(), Some(DeclareRefusal::Misaligned));
    assert_eq!(
        areas.init_reserved_mem(PhysAddr(mb2), mb2 + 4096, 0, "a", true).err(),
        Some(DeclareRefusal::Misaligned)
    );
    assert_eq!(
        areas.init_reserved_mem(PhysAddr(mb2), mb2, 10, "a", true).err(),
        Some(DeclareRefusal::SizeNotBitAligned)
    );
    assert_eq!(areas.totalcma_pages(), 0);
    for i in 0..MAX_CMA_AREAS as u64 {
        let c = areas.init_reserved_mem(PhysAddr(mb2 * (i + 1)), mb2, 0, "", true).unwrap();
        assert_eq!((c.base_pfn(), c.count()), (PhysAddr(mb2 * (i + 1)).pfn(), mb2 >> PAGE_SHIFT));
    }
    assert!(!areas.has_room());
    assert_eq!(
        areas.init_reserved_mem(PhysAddr(mb2 * 20), mb2, 0, "x", true).err(),
        Some(DeclareRefusal::TooManyAreas)
    );
    assert_eq!(areas.totalcma_pages(), MAX_CMA_AREAS as u64 * (mb2 >> PAGE_SHIFT));
    let names: Vec<&str> = areas.areas().map(Cma::name).collect();
    assert_eq!(names[..3], ["cma0", "cma1", "cma2"]);
    assert!(areas.default_area().is_none());
    let third = areas.areas().nth(2).unwrap();
    areas.set_default(third);
    assert!(core::ptr::eq(areas.default_area().unwrap(), third));
    areas.activation_failed(third.count());
    assert_eq!(areas.totalcma_pages(), (MAX_CMA_AREAS as u64 - 1) * (mb2 >> PAGE_SHIFT));
}

#[test]
fn cmdline_placement_follows_early_cma_and_dma_contiguous_reserve() {
    const M: u64 = 1 << 20;
    const G: u64 = 1 << 30;
    assert_eq!(cmdline_request(0, None, None, G), None, "cma=0 disables");
    let r = cmdline_request(64 * M, None, None, G).unwrap();
    assert_eq!((r.base, r.limit, r.fixed), (0, G, CmaFixed::Anywhere), "below the DMA limit");
    let r = cmdline_request(64 * M, Some(0x5000_0000), None, 4 * G).unwrap();
    assert_eq!((r.base, r.limit, r.fixed), (0x5000_0000, 0x5400_0000, CmaFixed::Fixed), "S@B is exact");
    // The DMA limit still caps a fixed area: above it, the declaration fails.
    let r = cmdline_request(64 * M, Some(0x5000_0000), None, G).unwrap();
    assert_eq!((r.limit, r.fixed), (G, CmaFixed::Fixed));
    assert_eq!(
        cma_declare_contiguous(&r, 4 * G),
        Err(DeclareRefusal::ExceedsLimit { size: 64 * M, base: 0x5000_0000, limit: G })
    );
    let r = cmdline_request(64 * M, Some(0x4000_0000), Some(0x6000_0000), 4 * G).unwrap();
    assert_eq!((r.base, r.limit, r.fixed), (0x4000_0000, 0x6000_0000, CmaFixed::Anywhere));
    let r = cmdline_request(64 * M, Some(0x4000_0000), Some(8 * G), 4 * G).unwrap();
    assert_eq!(r.limit, 4 * G, "min_not_zero(limit, dma limit)");
    let r = cmdline_request(64 * M, None, None, 0).unwrap();
    assert_eq!(r.limit, 0);

    let end = 0x8000_0000;
    // Top-down below the limit, size rounded up to a pageblock.
    let r = cmdline_request(3 * M, None, None, G).unwrap();
    assert_eq!(
        cma_declare_contiguous(&r, end),
        Ok(CmaPlacement::Search { size_bytes: 4 * M, align_bytes: 2 * M, start: 0, end: G, above_4g_first: false })
    );
    // No limit: the end of memory.
    let r = cmdline_request(64 * M, None, None, 0).unwrap();
    assert!(matches!(cma_declare_contiguous(&r, end), Ok(CmaPlacement::Search { end: 0x8000_0000, .. })));
    // Fixed.
    let r = cmdline_request(64 * M, Some(0x5000_0000), None, 4 * G).unwrap();
    assert_eq!(cma_declare_contiguous(&r, end), Ok(CmaPlacement::Fixed { base: 0x5000_0000, size_bytes: 64 * M }));
    let r = cmdline_request(64 * M, Some(0x5010_0000), None, 4 * G).unwrap();
    assert_eq!(
        cma_declare_contiguous(&r, end),
        Err(DeclareRefusal::BaseMisaligned { base: 0x5010_0000, alignment: 2 * M })
    );
    // Too big for the limit.
    let r = cmdline_request(2 * G, None, None, G).unwrap();
    assert_eq!(cma_declare_contiguous(&r, end), Err(DeclareRefusal::ExceedsLimit { size: 2 * G, base: 0, limit: G }));
    // Memory far above 4 GiB: bottom-up from 4 GiB first.
    let r = cmdline_request(64 * M, None, Some(16 * G), 0).unwrap();
    assert!(matches!(cma_declare_contiguous(&r, 16 * G), Ok(CmaPlacement::Search { above_4g_first: true, .. })));
    let odd = CmaRequest { alignment_bytes: 3 * M, ..r };
    assert_eq!(cma_declare_contiguous(&odd, end), Err(DeclareRefusal::AlignmentNotPowerOfTwo(3 * M)));
    let big_align = CmaRequest { alignment_bytes: 8 * M, size_bytes: 5 * M, ..r };
    assert!(matches!(
        cma_declare_contiguous(&big_align, 16 * G),
        Ok(CmaPlacement::Search { size_bytes: 0x80_0000, align_bytes: 0x80_0000, .. })
    ));
}

#[test]
fn reserved_memory_pools_are_checked_as_rmem_cma_setup_does() {
    const M: u64 = 1 << 20;
    let pool = RmemFlags::SHARED_DMA_POOL | RmemFlags::REUSABLE;
    assert!(pool.is_cma() && !RmemFlags::SHARED_DMA_POOL.is_cma() && !RmemFlags::REUSABLE.is_cma());
    assert_eq!(rmem_cma_check(pool, false, 0x3000_0000, 64 * M), Ok(()));
    assert_eq!(
        rmem_cma_check(pool | RmemFlags::CMA_DEFAULT, true, 0x3000_0000, 64 * M),
        Err(RmemRefusal::BypassedByCmdline)
    );
    assert_eq!(rmem_cma_check(pool, true, 0x3000_0000, 64 * M), Ok(()), "only the default pool gives way");
    assert_eq!(
        rmem_cma_check(pool | RmemFlags::NO_MAP, false, 0x3000_0000, 64 * M),
        Err(RmemRefusal::NoMapOrNotReusable)
    );
    assert_eq!(rmem_cma_check(pool, false, 0x3010_0000, 64 * M), Err(RmemRefusal::Misaligned));
    assert_eq!(rmem_cma_check(pool, false, 0x3000_0000, 3 * M), Err(RmemRefusal::Misaligned));
    assert_eq!(pool.alloc_alignment(4096), CMA_MIN_ALIGNMENT_BYTES);
    assert_eq!(pool.alloc_alignment(8 * M), 8 * M);
    assert_eq!((pool | RmemFlags::NO_MAP).alloc_alignment(4096), 4096);
    assert_eq!(RmemFlags::SHARED_DMA_POOL.alloc_alignment(4096), 4096);
}
