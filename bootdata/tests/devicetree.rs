//! The device-tree validator, compactor and parser on the host: blobs dumped
//! from QEMU and compiled from the repository's sources must pass and yield
//! what the machines have; blobs corrupted or built wrong in every way the
//! validator knows must be refused with the right error, never a panic.

mod common;

use bootdata::devicetree::{
    ConsoleInfo, ConsoleNode, CpuNode, DtError, DtInfo, EnableMethod, MAX_CPUS, MAX_FDT_SIZE, MAX_MEM_RANGES,
    MAX_RESERVED_NODES, MemRange, PsciMethod, RegProblem, check_full, check_no_nops, compact, header_total_size, parse,
    parse_uarts,
};
use common::*;

fn compacted(b: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; b.len() + 64];
    let c = compact(b, &mut out).unwrap_or_else(|e| panic!("compact: {e}"));
    c.to_vec()
}

fn uarts(name: &str) -> ConsoleInfo {
    parse_uarts(&compacted(&data(name))).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn parsed(name: &str) -> DtInfo {
    let b = data(name);
    parse(&compacted(&b)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn structural(r: Result<(), DtError>) -> &'static str {
    match r {
        Err(DtError::BadStructure(what, _)) => what,
        other => panic!("expected a BadStructure error, got {other:?}"),
    }
}

// ----- real blobs -----------------------------------------------------------

#[test]
fn real_blobs_pass_check_and_compact_and_parse_alike() {
    for name in REAL_DTBS {
        let b = data(name);
        assert_eq!(check_full(&b), Ok(()), "{name}");
        assert_eq!(header_total_size(&b), Ok(b.len()), "{name}");
        let c = compacted(&b);
        assert_eq!(check_full(&c), Ok(()), "{name}: compacted");
        assert!(c.len() <= b.len(), "{name}: compaction grew the blob");
        let (raw, comp) = (parse(&b).unwrap(), parse(&c).unwrap());
        assert_eq!(format!("{raw:?}"), format!("{comp:?}"), "{name}: parse differs after compaction");
        assert!(raw.warnings.is_empty(), "{name}: {:?}", raw.warnings);
    }
}

#[test]
fn qemu_virt_yields_its_machine() {
    let dt = parsed("virt.dtb");
    assert_eq!(dt.model.as_str(), "linux,dummy-virt");
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 0x4000_0000, size: 1 << 30, nid: None }]);
    assert_eq!(dt.cpus.len(), 4);
    for (i, c) in dt.cpus.iter().enumerate() {
        assert_eq!(*c, CpuNode { mpidr: i as u64, enable: EnableMethod::Psci, nid: None });
    }
    assert_eq!(dt.psci, Some(PsciMethod::Hvc));
    assert_eq!(
        uarts("virt.dtb").console(),
        Some(ConsoleNode { path: "/pl011@9000000".try_into().unwrap(), pa: 0x0900_0000 })
    );
    assert_eq!(dt.stdout_path.as_str(), "/pl011@9000000");
    assert!(dt.kaslr_seed.is_some());
    assert_eq!(dt.rng_seed.len(), 32);
    assert!(dt.memreserve.is_empty() && dt.reserved.is_empty() && dt.distances.is_empty());
    assert_eq!(dt.initrd, None);
    assert_eq!(dt.dma_max_cpu_addr, None);
    assert_eq!(dt.bootargs.as_str(), "");
}

#[test]
fn qemu_virt_el2_smp8_4g_yields_its_machine() {
    let dt = parsed("virt-el2-smp8-4g.dtb");
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 0x4000_0000, size: 4 << 30, nid: None }]);
    assert_eq!(dt.cpus.len(), 8);
    assert!(dt.cpus.iter().all(|c| c.enable == EnableMethod::Psci));
    // With virtualization=on QEMU's PSCI sits at EL3: smc.
    assert_eq!(dt.psci, Some(PsciMethod::Smc));
    assert_eq!(uarts("virt-el2-smp8-4g.dtb").console().map(|c| c.pa), Some(0x0900_0000));
}

#[test]
fn qemu_virt_numa_yields_nodes_and_distances() {
    let dt = parsed("virt-numa2.dtb");
    let mut mem: Vec<_> = dt.memory.iter().copied().collect();
    mem.sort_by_key(|m| m.base);
    assert_eq!(
        mem,
        [
            MemRange { base: 0x4000_0000, size: 1 << 30, nid: Some(0) },
            MemRange { base: 0x8000_0000, size: 1 << 30, nid: Some(1) }
        ]
    );
    let nids: Vec<_> = dt.cpus.iter().map(|c| c.nid).collect();
    assert_eq!(nids, [Some(0), Some(0), Some(1), Some(1)]);
    let mut d: Vec<_> = dt.distances.to_vec();
    d.sort();
    assert_eq!(d, [(0, 0, 10), (0, 1, 30), (1, 0, 30), (1, 1, 10)]);
}

#[test]
fn raspi4b_yields_spin_tables_translated_console_and_dma_limit() {
    let dt = parsed("raspi4b.dtb");
    assert_eq!(dt.model.as_str(), "Raspberry Pi 4 Model B");
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 0, size: 0x3c00_0000, nid: None }]);
    assert_eq!(dt.memreserve.as_slice(), &[(0, 0x1000)]);
    let release: Vec<_> = dt.cpus.iter().map(|c| c.enable).collect();
    assert_eq!(
        release,
        [0xd8, 0xe0, 0xe8, 0xf0].map(EnableMethod::SpinTable),
        "spin-table CPUs with their release addresses"
    );
    assert_eq!(dt.psci, None);
    // serial0 -> /soc/serial@7e201000, bus address 0x7e201000 -> CPU 0xfe201000.
    let con = uarts("raspi4b.dtb").console().expect("a console");
    assert_eq!(con.pa, 0xfe20_1000);
    assert!(con.path.starts_with("/soc/serial@7e201000"), "{}", con.path);
    assert_eq!(dt.stdout_path.as_str(), "serial0");
    // dma-ranges: the low GiB at bus 0xc0000000: a 30-bit limit.
    assert_eq!(dt.dma_max_cpu_addr, Some(0x3fff_ffff));
    assert_eq!(dt.reserved.len(), 1);
    let cma = &dt.reserved[0];
    assert_eq!(cma.name.as_str(), "linux,cma");
    assert_eq!((cma.reg, cma.size), (None, Some(0x400_0000)));
    assert_eq!(cma.alloc_ranges.as_slice(), &[(0, 0x3000_0000)]);
    assert!(cma.reusable && cma.cma_default && !cma.no_map && cma.shared_dma_pool);
}

#[test]
fn every_property_the_kernel_reads() {
    let dt = parsed("features.dtb");
    assert_eq!(dt.model.as_str(), "bootdata test machine");
    // Zero-sized and disabled memory is skipped.
    assert_eq!(
        dt.memory.as_slice(),
        &[
            MemRange { base: 0x4000_0000, size: 0x2000_0000, nid: Some(0) },
            MemRange { base: 0x1_0000_0000, size: 0x1000_0000, nid: Some(0) },
            MemRange { base: 0x2_0000_0000, size: 0x1000_0000, nid: Some(1) },
        ]
    );
    assert_eq!(dt.memreserve.as_slice(), &[(0, 0x1000), (0x8000_0000, 0x1_0000)]);
    assert_eq!(dt.reserved.len(), 2, "the disabled child is skipped");
    let (fw, cma) = (&dt.reserved[0], &dt.reserved[1]);
    assert_eq!(fw.name.as_str(), "fw@50000000");
    assert_eq!(fw.reg, Some((0x5000_0000, 0x10_0000)));
    assert!(fw.no_map && !fw.reusable && !fw.cma_default && !fw.shared_dma_pool);
    assert_eq!((cma.size, cma.alignment), (Some(0x200_0000), Some(0x40_0000)));
    assert_eq!(cma.alloc_ranges.as_slice(), &[(0x4000_0000, 0x1000_0000), (0x1_0000_0000, 0x1000_0000)], "two kept");
    assert!(cma.reusable && cma.cma_default && cma.reg.is_none() && cma.shared_dma_pool);
    assert_eq!(dt.bootargs.as_str(), "mem=512M loglevel=8 selftest=pages.zeroing");
    assert_eq!(dt.kaslr_seed, Some(0x0123_4567_89ab_cdef));
    assert_eq!(dt.rng_seed.as_slice(), &(0..12).collect::<Vec<u8>>()[..]);
    assert_eq!(dt.initrd, Some((0x4800_0000, 0x4810_0000)), "a u32 start and a u64 end");
    assert_eq!(
        dt.cpus.as_slice(),
        &[
            CpuNode { mpidr: 0, enable: EnableMethod::Psci, nid: Some(0) },
            CpuNode { mpidr: 0x100, enable: EnableMethod::SpinTable(0x8000_fff8), nid: Some(1) },
            CpuNode { mpidr: 0x200, enable: EnableMethod::SpinTable(0xe0), nid: None },
            CpuNode { mpidr: 0x300, enable: EnableMethod::Unknown, nid: None },
        ],
        "disabled CPUs and non-CPU children are skipped"
    );
    assert_eq!(dt.psci, Some(PsciMethod::Smc));
    assert_eq!(dt.distances.as_slice(), &[(0, 0, 10), (0, 1, 20), (1, 1, 10)]);
    // serial1 is an alias to a UART two buses down: 0x2000 -> 0x12000 -> 0x1012000.
    assert_eq!(dt.stdout_path.as_str(), "serial1");
    assert_eq!(
        uarts("features.dtb").console(),
        Some(ConsoleNode { path: "/bus@1000000/inner@0/serial@2000".try_into().unwrap(), pa: 0x101_2000 })
    );
    // The inner bus's window (256 MiB at CPU 0x1000000) is the lowest limit.
    assert_eq!(dt.dma_max_cpu_addr, Some(0x10ff_ffff));
    assert!(dt.warnings.is_empty(), "{:?}", dt.warnings);
}

// ----- the parser on built trees ---------------------------------------------

#[test]
fn lists_past_their_capacity_are_cut_with_a_warning() {
    let mut b = Builder::new().begin("").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
    b = b.begin("memory").prop_str("device_type", "memory");
    let reg: Vec<u32> = (0..MAX_MEM_RANGES as u32 + 3).flat_map(|i| [i << 24, 0x1000]).collect();
    b = b.prop_u32("reg", &reg).end();
    b = b.begin("reserved-memory").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
    for i in 0..MAX_RESERVED_NODES + 2 {
        b = b.begin(&format!("r@{i:x}")).prop_u32("reg", &[(i as u32) << 12, 0x1000]).end();
    }
    b = b.end().begin("cpus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[0]);
    for i in 0..MAX_CPUS + 1 {
        b = b.begin(&format!("cpu@{i}")).prop_str("device_type", "cpu").prop_u32("reg", &[i as u32]).end();
    }
    b = b.end().begin("chosen").prop_str("bootargs", &"x".repeat(1500)).end();
    let blob = b.end().finish();
    let dt = parse(&blob).unwrap();
    assert_eq!(dt.memory.len(), MAX_MEM_RANGES);
    assert_eq!(dt.reserved.len(), MAX_RESERVED_NODES);
    assert_eq!(dt.cpus.len(), MAX_CPUS);
    assert_eq!(dt.bootargs.len(), 1024);
    for w in ["/memory ranges", "/reserved-memory nodes", "CPUs in /cpus", "bootargs longer"] {
        assert!(dt.warnings.iter().any(|x| x.contains(w)), "no warning about {w}: {:?}", dt.warnings);
    }
}

#[test]
fn odd_properties_are_skipped_not_trusted() {
    let blob = Builder::new()
        .begin("")
        // Three address cells: decoded as Linux does, the top cell zero.
        .prop_u32("#address-cells", &[3])
        .prop_u32("#size-cells", &[1])
        .begin("memory@0")
        .prop_str("device_type", "memory")
        .prop_u32("reg", &[0, 0, 0, 0x1000])
        .end()
        .begin("chosen")
        .prop("kaslr-seed", &[1, 2, 3]) // neither 4 nor 8 bytes
        .prop_u32("linux,initrd-start", &[0x2000])
        .prop_u32("linux,initrd-end", &[0x1000]) // ends before it starts
        .prop_str("stdout-path", "/nowhere")
        .end()
        .begin("distance-map")
        .prop_u32("distance-matrix", &[0, 0, 10, 0, 1]) // a partial last entry
        .end()
        .begin("psci")
        .prop_str("method", "svc")
        .end()
        .end()
        .finish();
    assert_eq!(check_full(&blob), Ok(()));
    let dt = parse(&blob).unwrap();
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 0, size: 0x1000, nid: None }]);
    assert!(dt.memory_issues.is_empty(), "{:?}", dt.memory_issues);
    assert_eq!((dt.kaslr_seed, dt.initrd, dt.psci), (None, None, None));
    assert_eq!(parse_uarts(&blob).unwrap().console(), None);
    assert_eq!(dt.stdout_path.as_str(), "/nowhere");
    // A partial triple makes the whole map invalid (Linux: "Invalid distance-matrix").
    assert!(dt.distances.is_empty());
    assert!(dt.distance_map_error.is_some_and(|e| e.contains("triples")), "{:?}", dt.distance_map_error);
}

#[test]
fn console_falls_back_to_the_first_enabled_pl011() {
    let pl011 = |b: Builder, name: &str, addr: u32, status: &str| {
        b.begin(name)
            .prop("compatible", b"arm,pl011\0arm,primecell\0")
            .prop_u32("reg", &[0, addr, 0, 0x1000])
            .prop_str("status", status)
            .end()
    };
    let b = minimal();
    let b = pl011(b, "serial@1000", 0x1000, "disabled");
    let b = pl011(b, "serial@2000", 0x2000, "okay");
    let con = parse_uarts(&b.end().finish()).unwrap();
    assert_eq!(con.console(), Some(ConsoleNode { path: "/serial@2000".try_into().unwrap(), pa: 0x2000 }));
    // A stdout-path naming something that is not a PL011 gives no console.
    let b = minimal().begin("chosen").prop_str("stdout-path", "/uart@3000").end();
    let b = b.begin("uart@3000").prop_str("compatible", "ns16550a").prop_u32("reg", &[0, 0x3000, 0, 8]).end();
    assert_eq!(parse_uarts(&b.end().finish()).unwrap().console(), None);
    // A UART behind a bus without `ranges` cannot be translated.
    let b = minimal().begin("bus").prop_u32("#address-cells", &[1]).prop_u32("#size-cells", &[1]);
    let b = b.begin("serial@10").prop_str("compatible", "arm,pl011").prop_u32("reg", &[0x10, 0x1000]).end().end();
    assert_eq!(parse_uarts(&b.end().finish()).unwrap().console(), None);
}

// ----- the validator ----------------------------------------------------------

#[test]
fn header_total_size_checks_magic_and_bounds() {
    let b = minimal().end().finish();
    assert_eq!(header_total_size(&b), Ok(b.len()));
    assert_eq!(header_total_size(&b[..3]), Err(DtError::BadMagic(0)));
    assert_eq!(header_total_size(&b[..6]), Err(DtError::BadTotalSize(0)));
    let mut x = b.clone();
    x[0] ^= 0xff;
    assert_eq!(header_total_size(&x), Err(DtError::BadMagic(0x2f0d_feed)));
    for total in [0u32, 39] {
        put32(&mut x, 0, 0xd00d_feed);
        put32(&mut x, 4, total);
        assert_eq!(header_total_size(&x), Err(DtError::BadTotalSize(total)), "totalsize {total}");
    }
    // Larger than Linux's 2 MiB limit: said with both sizes.
    for total in [MAX_FDT_SIZE as u32 + 1, u32::MAX] {
        put32(&mut x, 4, total);
        let e = header_total_size(&x).unwrap_err();
        assert_eq!(e, DtError::TooLarge { size: total as usize, limit: MAX_FDT_SIZE }, "totalsize {total}");
        let msg = e.to_string();
        assert!(msg.contains(&total.to_string()) && msg.contains(&MAX_FDT_SIZE.to_string()), "{msg}");
    }
    put32(&mut x, 4, MAX_FDT_SIZE as u32);
    assert_eq!(header_total_size(&x), Ok(MAX_FDT_SIZE));
}

#[test]
fn header_fields_are_checked() {
    let good = minimal().memreserve(0x1000, 0x1000).end().finish();
    let set = |i: usize, v: u32| {
        let mut b = good.clone();
        put32(&mut b, i * 4, v);
        check_full(&b)
    };
    let total = good.len() as u32;
    assert_eq!(set(1, total + 4), Err(DtError::BadTotalSize(total + 4)), "totalsize past the bytes given");
    assert_eq!(set(5, 15), Err(DtError::BadVersion(15)));
    assert_eq!(set(6, 18), Err(DtError::BadVersion(17)));
    assert_eq!(set(2, hdr(&good, 2) as u32 + 2), Err(DtError::BadLayout("structure block")), "misaligned");
    assert_eq!(set(2, total), Err(DtError::BadLayout("structure block")), "past the end");
    assert_eq!(set(9, 4), Err(DtError::BadLayout("structure block")), "smaller than two tokens");
    assert_eq!(set(9, u32::MAX), Err(DtError::BadLayout("structure block")), "size overflows");
    assert_eq!(set(3, total), Err(DtError::BadLayout("strings block")));
    assert_eq!(set(8, total), Err(DtError::BadLayout("strings block")));
    assert_eq!(set(4, 44), Err(DtError::BadLayout("memory reservation map")), "misaligned");
    assert_eq!(set(4, 32), Err(DtError::BadLayout("memory reservation map")), "inside the header");
    // Aligned and inside the blob, but too close to its end for a terminator.
    assert_eq!(set(4, (total - 8) & !7), Err(DtError::BadReservationMap));
    // The reservation map's terminator overwritten: it runs into the structure block, which has no zero entry.
    let mut b = good.clone();
    b[56..72].fill(0xff);
    assert_eq!(check_full(&b), Err(DtError::BadReservationMap));
    // A version 16 blob is fine.
    assert_eq!(set(5, 16), Ok(()));
}

#[test]
fn structure_errors_are_named() {
    // What the structure pass finds, each in a blob built to have it.
    let first_not_root = Builder::new().token(FDT_NOP).begin("").end().finish();
    assert_eq!(structural(check_full(&first_not_root)), "does not start with the root node");
    let unbalanced = Builder::new().begin("").end().end().finish();
    assert_eq!(structural(check_full(&unbalanced)), "data after the root node");
    let end_inside = Builder::new().begin("").begin("a").finish();
    assert_eq!(structural(check_full(&end_inside)), "FDT_END inside a node");
    let unknown = Builder::new().begin("").token(7).end().finish();
    assert_eq!(structural(check_full(&unknown)), "unknown token");
    let after_root = Builder::new().begin("").end().begin("x").end().finish();
    assert_eq!(structural(check_full(&after_root)), "data after the root node");
    let mut deep = Builder::new().begin("");
    for i in 0..64 {
        deep = deep.begin(&format!("n{i}"));
    }
    assert_eq!(structural(check_full(&deep.finish())), "nodes nested too deep");
    let mut ok_deep = Builder::new().begin("");
    for i in 0..63 {
        ok_deep = ok_deep.begin(&format!("n{i}"));
    }
    for _ in 0..64 {
        ok_deep = ok_deep.end();
    }
    assert_eq!(check_full(&ok_deep.finish()), Ok(()), "64 levels are allowed");
    // A node name that is not UTF-8.
    let mut b = minimal().end().finish();
    let (off, _, _) = tokens(&b).into_iter().filter(|t| t.1 == FDT_BEGIN_NODE).nth(1).unwrap(); // memory@40000000
    b[off + 4] = 0xff;
    assert_eq!(structural(check_full(&b)), "node name is not UTF-8");
    // A node name without its NUL, running to the end of the block.
    let b = Builder::new().begin("").end().finish();
    let mut x = b.clone();
    let size = hdr(&b, 9);
    // The block is BEGIN_NODE, name "" (4 bytes), END_NODE, END: make the name's bytes non-zero.
    let off = hdr(&b, 2) + 4;
    x[off..off + 4].copy_from_slice(b"abcd");
    x[off + 4..off + 12].copy_from_slice(b"efghijkl");
    assert_eq!(size, 16);
    assert_eq!(structural(check_full(&x)), "unterminated node name");
}

#[test]
fn property_errors_are_named() {
    let b = minimal().end().finish();
    let props: Vec<usize> = tokens(&b).iter().filter(|t| t.1 == FDT_PROP).map(|t| t.0).collect();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut x = b.clone();
        f(&mut x);
        structural(check_full(&x))
    };
    assert_eq!(edit(&|x| put32(x, props[0] + 4, 0x7fff_0000)), "property value past the block");
    assert_eq!(edit(&|x| put32(x, props[0] + 4, u32::MAX)), "property value past the block");
    assert_eq!(edit(&|x| put32(x, props[0] + 8, 0x10_0000)), "property name outside the strings block");
    let strings = hdr(&b, 3);
    assert_eq!(edit(&|x| x[strings] = 0xfe), "property name is not UTF-8");
    // The last name without its NUL: it runs off the strings block.
    let end = hdr(&b, 3) + hdr(&b, 8);
    assert_eq!(edit(&|x| x[end - 1] = b'x'), "property name outside the strings block");
    let outside = Builder::new().begin("").end().finish();
    let mut x = outside.clone();
    // Turn the END_NODE into a property whose header runs past the block.
    let (off, _, _) = tokens(&outside)[1];
    put32(&mut x, off, FDT_PROP);
    assert_eq!(structural(check_full(&x)), "truncated property");
}

#[test]
fn corrupt_real_blobs_are_refused() {
    for name in REAL_DTBS {
        let b = data(name);
        let mut x = b.clone();
        x[0] ^= 0xff;
        assert!(matches!(check_full(&x), Err(DtError::BadMagic(_))), "{name}: bad magic accepted");
        for cut in [b.len() - 1, b.len() / 2, 40, 8, 0] {
            assert!(check_full(&b[..cut]).is_err(), "{name}: cut to {cut} bytes accepted");
        }
        // The first token made unknown.
        let mut x = b.clone();
        x[hdr(&b, 2) + 3] = 0x77;
        assert!(matches!(check_full(&x), Err(DtError::BadStructure(..))), "{name}: unknown first token accepted");
        // The root's first property made to run past the block.
        let (off, t, _) = tokens(&b)[1];
        assert_eq!(t, FDT_PROP, "{name}: the root does not start with a property");
        let mut x = b.clone();
        put32(&mut x, off + 4, 0x7fff_0000);
        assert!(matches!(check_full(&x), Err(DtError::BadStructure(..))), "{name}: oversized property accepted");
        assert!(parse(&x).is_err(), "{name}: parse accepted an oversized property");
    }
}

#[test]
fn header_bit_flips_are_refused_or_parse() {
    // Whatever the header says, checking never faults, and a blob that passes
    // also parses. One low-bit and one high-bit flip in each header word.
    for name in REAL_DTBS {
        let mut b = data(name);
        let mut refused = 0;
        for word in 0..10 {
            for (byte, flip) in [(3usize, 0x01u8), (0, 0x80)] {
                let i = word * 4 + byte;
                b[i] ^= flip;
                match check_full(&b) {
                    Ok(()) => assert!(parse(&b).is_ok(), "{name}: word {word} flipped passes check but not parse"),
                    Err(_) => refused += 1,
                }
                b[i] ^= flip;
            }
        }
        // magic, totalsize, the offsets and sizes, version: most flips are fatal.
        assert!(refused >= 12, "{name}: only {refused} of 20 header flips refused");
    }
}

// ----- the compactor ----------------------------------------------------------

#[test]
fn nops_everywhere_are_dropped_and_hide_nothing() {
    for name in REAL_DTBS {
        let orig = compacted(&data(name));
        // A NOP before every token after the root's BEGIN_NODE, FDT_END included.
        let at: Vec<usize> = tokens(&orig).iter().skip(1).map(|t| t.0).collect();
        let nopped = with_nops_before(&orig, &at);
        assert_eq!(check_full(&nopped), Ok(()), "{name}: NOPs are legal");
        assert!(tokens(&nopped).iter().filter(|t| t.1 == FDT_NOP).count() >= at.len());
        let c = compacted(&nopped);
        assert_eq!(c, orig, "{name}: compacting the NOPs away gives back the original");
        assert!(tokens(&c).iter().all(|t| t.1 != FDT_NOP));
        assert_eq!(format!("{:?}", parse(&c).unwrap()), format!("{:?}", parse(&orig).unwrap()));
    }
}

/// `fdt` 0.1.5 loses the nodes after a NOP that follows a property, and
/// asserts (a panic) when a NOP sits before a node's end: `parse` refuses a
/// blob that still has NOPs, and the compacted copy parses whole.
#[test]
fn parse_refuses_nops_and_takes_the_compacted_copy() {
    let orig = compacted(&data("virt.dtb"));
    let at: Vec<usize> = tokens(&orig).iter().skip(1).filter(|t| t.1 == FDT_PROP).map(|t| t.0 + t.2).collect();
    let nopped = with_nops_before(&orig, &at);
    assert_eq!(check_full(&nopped), Ok(()));
    assert_eq!(check_no_nops(&nopped).map_err(|e| e.to_string()), Err(structural_text(&nopped)));
    assert!(matches!(parse(&nopped), Err(DtError::BadStructure("FDT_NOP token (the blob is not compacted)", _))));
    let fixed = parse(&compacted(&nopped)).unwrap();
    assert_eq!(fixed.cpus.len(), 4);
    assert_eq!(fixed.memory.len(), 1);
    assert_eq!(check_no_nops(&orig), Ok(()));
}

/// The error `check_no_nops` must give for `b`: the first NOP's offset.
fn structural_text(b: &[u8]) -> String {
    let first = tokens(b).iter().find(|t| t.1 == FDT_NOP).unwrap().0 - hdr(b, 2);
    DtError::BadStructure("FDT_NOP token (the blob is not compacted)", first as u32).to_string()
}

#[test]
fn properties_after_a_child_node_are_refused() {
    // The specification puts a node's properties before its children; the
    // `fdt` crate asserts it.
    let b = Builder::new().begin("").begin("child").end().prop_u32("late", &[1]).end().finish();
    assert_eq!(structural(check_full(&b)), "property after a child node");
    let b = Builder::new().begin("").prop_u32("a", &[1]).begin("c").prop_u32("b", &[2]).end().end().finish();
    assert_eq!(check_full(&b), Ok(()));
}

#[test]
fn compact_lays_blocks_out_without_gaps() {
    let b = data("virt.dtb");
    let c = compacted(&b);
    let rsv = hdr(&c, 4);
    assert_eq!(rsv, 40);
    assert_eq!(hdr(&c, 2), rsv + 16, "structure right after a reservation map of one terminator");
    assert_eq!(hdr(&c, 3), hdr(&c, 2) + hdr(&c, 9), "strings right after the structure");
    assert_eq!(hdr(&c, 1), hdr(&c, 3) + hdr(&c, 8), "no tail");
    // Reservation entries survive.
    let f = compacted(&data("features.dtb"));
    assert_eq!(hdr(&f, 2), 40 + 3 * 16);
    assert_eq!(parse(&f).unwrap().memreserve.len(), 2);
    // Padding a loader left between blocks goes.
    let mut padded = b[..hdr(&b, 1)].to_vec();
    padded.extend(std::iter::repeat_n(0u8, 4096));
    let total = padded.len() as u32;
    put32(&mut padded, 4, total);
    assert_eq!(compacted(&padded), c);
}

#[test]
fn compact_refuses_what_does_not_fit_or_does_not_check() {
    let b = data("virt.dtb");
    let mut small = vec![0u8; 1024];
    assert_eq!(compact(&b, &mut small), Err(DtError::TooLarge { size: b.len(), limit: 1024 }));
    let mut out = vec![0u8; b.len()];
    let mut x = b.clone();
    x[0] = 0;
    assert!(matches!(compact(&x, &mut out), Err(DtError::BadMagic(_))));
    assert!(compact(&b[..100], &mut out).is_err());
}

#[test]
fn errors_read_as_one_line() {
    let cases = [
        (DtError::BadMagic(0x1234), "bad magic 0x00001234 (expected 0xd00dfeed)"),
        (DtError::BadTotalSize(7), "bad totalsize 7 (truncated or oversized)"),
        (DtError::BadVersion(3), "unsupported version 3"),
        (DtError::BadLayout("strings block"), "strings block lies outside the blob or is misaligned (truncated?)"),
        (DtError::BadStructure("unknown token", 0x40), "malformed structure block: unknown token at offset 0x40"),
        (DtError::BadReservationMap, "memory reservation map is not terminated"),
    ];
    for (e, text) in cases {
        assert_eq!(e.to_string(), text);
    }
}

fn memory_tree(ac: u32, sc: u32, reg: &[u32]) -> DtInfo {
    let blob = Builder::new()
        .begin("")
        .prop_u32("#address-cells", &[ac])
        .prop_u32("#size-cells", &[sc])
        .begin("memory@40000000")
        .prop_str("device_type", "memory")
        .prop_u32("reg", reg)
        .end()
        .end()
        .finish();
    parse(&blob).expect("a well-formed tree parses")
}

#[test]
fn memory_reg_that_cannot_be_decoded_says_why() {
    for (ac, sc) in [(0, 1), (2, 0), (0, 0), (5, 1), (2, 5), (0xffff_ffff, 2)] {
        let dt = memory_tree(ac, sc, &[0, 0x4000_0000, 0, 0x1000_0000]);
        assert!(dt.memory.is_empty(), "cells ({ac}, {sc}): {:?}", dt.memory);
        assert_eq!(dt.memory_issues.len(), 1, "cells ({ac}, {sc})");
        let issue = &dt.memory_issues[0];
        assert_eq!((issue.cells, issue.what), ((ac, sc), RegProblem::BadCells));
        let msg = issue.to_string();
        assert!(
            msg.contains("memory@40000000") && msg.contains("#address-cells") && msg.contains(&ac.to_string()),
            "{msg}"
        );
    }
}

#[test]
fn memory_reg_with_odd_cells_decodes_what_fits() {
    // One address cell, one size cell.
    let dt = memory_tree(1, 1, &[0x4000_0000, 0x1000_0000]);
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 0x4000_0000, size: 0x1000_0000, nid: None }]);
    // Four address cells, the top ones zero: decoded.
    let dt = memory_tree(4, 2, &[0, 0, 1, 0, 0, 0x1000]);
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 1 << 32, size: 0x1000, nid: None }]);
    // An address beyond 64 bits: that pair ignored and said, the next one kept.
    let dt = memory_tree(3, 1, &[1, 0, 0, 0x1000, 0, 0, 0x4000_0000, 0x1000]);
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 0x4000_0000, size: 0x1000, nid: None }]);
    assert_eq!(dt.memory_issues[0].what, RegProblem::Beyond64Bits);
    // A trailing partial pair: the whole pairs kept, the tail said.
    let dt = memory_tree(2, 2, &[0, 0x4000_0000, 0, 0x1000, 0, 0x5000]);
    assert_eq!(dt.memory.len(), 1);
    assert_eq!(dt.memory_issues[0].what, RegProblem::Length(24));
    // size 0xffffffffffffffff is decoded as given (memblock_init cuts it).
    let dt = memory_tree(2, 2, &[0, 0x4000_0000, u32::MAX, u32::MAX]);
    assert_eq!(dt.memory.as_slice(), &[MemRange { base: 0x4000_0000, size: u64::MAX, nid: None }]);
}

#[test]
fn one_hundred_fifty_memory_nodes_are_kept_up_to_the_capacity_with_a_warning() {
    let mut b = Builder::new().begin("").prop_u32("#address-cells", &[2]).prop_u32("#size-cells", &[2]);
    for i in 0..150u32 {
        b = b
            .begin(&format!("memory@{:x}", 0x4000_0000 + i * 0x20_0000))
            .prop_str("device_type", "memory")
            .prop_u32("reg", &[0, 0x4000_0000 + i * 0x20_0000, 0, 0x10_0000])
            .end();
    }
    let dt = parse(&b.end().finish()).unwrap();
    assert_eq!(dt.memory.len(), 150.min(MAX_MEM_RANGES));
    assert_eq!(dt.warnings.iter().any(|w| w.contains("too many /memory ranges")), 150 > MAX_MEM_RANGES);
}

fn distance_tree(matrix: &[u32]) -> DtInfo {
    let blob = Builder::new()
        .begin("")
        .begin("distance-map")
        .prop_str("compatible", "numa-distance-map-v1")
        .prop_u32("distance-matrix", matrix)
        .end()
        .end()
        .finish();
    parse(&blob).unwrap()
}

#[test]
fn garbage_distance_map_is_refused_as_a_whole_like_linux() {
    // A self-distance other than 10, a remote distance of 10 or less, a
    // partial triple, an empty matrix: the map is invalid, no entry kept.
    for m in [&[0, 0, 20][..], &[0, 1, 5], &[0, 1, 10], &[0, 0, 10, 1], &[]] {
        let dt = distance_tree(m);
        assert!(dt.distances.is_empty(), "{m:?}: {:?}", dt.distances);
        assert!(dt.distance_map_error.is_some(), "{m:?}");
    }
    // Out-of-range nodes or distances are left to the kernel, entry by entry.
    let dt = distance_tree(&[0, 0, 10, 0, 1, 20, 0, 300, 20, 0, 1, 1000]);
    assert_eq!(dt.distance_map_error, None);
    assert_eq!(dt.distances.as_slice(), &[(0, 0, 10), (0, 1, 20), (0, 300, 20), (0, 1, 1000)]);
}

#[test]
fn structure_block_without_fdt_end_says_so() {
    let mut b = data("virt.dtb");
    let off = fdt_word(&b, 8) as usize;
    let size = fdt_word(&b, 36) as usize;
    let end = off + size - 4;
    assert_eq!(fdt_word(&b, end), 9, "the last token is FDT_END");
    // Replace FDT_END by one more token's worth of nothing: the block ends.
    b[end..end + 4].copy_from_slice(&0u32.to_be_bytes());
    let sz = (size - 4) as u32;
    b[36..40].copy_from_slice(&sz.to_be_bytes());
    let e = check_full(&b).unwrap_err();
    assert!(e.to_string().contains("no FDT_END"), "{e}");
}

fn fdt_word(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes(b[off..off + 4].try_into().unwrap())
}

#[test]
fn bus_ranges_that_wrap_around_translate_nothing() {
    let blob = Builder::new()
        .begin("")
        .prop_u32("#address-cells", &[2])
        .prop_u32("#size-cells", &[2])
        .begin("chosen")
        .prop_str("stdout-path", "/soc/serial@1000")
        .end()
        .begin("soc")
        .prop_u32("#address-cells", &[1])
        .prop_u32("#size-cells", &[1])
        // child 0 -> parent 0xffff_ffff_ffff_f000, 0x10000 bytes: past 2^64.
        .prop_u32("ranges", &[0, 0xffff_ffff, 0xffff_f000, 0x1_0000])
        .begin("serial@1000")
        .prop_str("compatible", "arm,pl011")
        .prop_u32("reg", &[0x1000, 0x1000])
        .end()
        .end()
        .end()
        .finish();
    parse(&blob).unwrap();
    let uarts = parse_uarts(&blob).unwrap();
    assert_eq!(uarts.uarts.len(), 1, "the UART node is still listed");
    assert_eq!(uarts.uarts[0].pa, None, "a wrapped translation must not give an address");
    assert_eq!(uarts.console(), None, "and so it is no console");
}
