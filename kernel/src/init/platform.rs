//! The platform as the boot found it, logged: the banner, the machine, the
//! CPUs and how they start, PSCI, NUMA distances, seeds and the initrd.

use crate::{pr_info, pr_notice, pr_warn};
use arch::psci::Conduit;
use boot::BootInfo;
use bootdata::devicetree::{DtInfo, EnableMethod, PsciMethod};

/// The PSCI conduit the device tree names.
pub fn psci_conduit(dt: &DtInfo) -> Option<Conduit> {
    dt.psci.map(|m| match m {
        PsciMethod::Hvc => Conduit::Hvc,
        PsciMethod::Smc => Conduit::Smc,
    })
}

/// The first two lines of the log: who boots, on what.
pub fn print_banner(info: &BootInfo) {
    pr_info!(
        "Booting mm-kernel on physical CPU {:#012x} [{:#010x}] ({})",
        arch::cpu::mpidr(),
        arch::cpu::midr(),
        arch::cpu::model_name()
    );
    pr_notice!(
        "mm-kernel version {} (rustc, {}-bit VA, 4 KiB pages) entered at EL{}",
        env!("CARGO_PKG_VERSION"),
        arch::mmu::VA_BITS,
        info.boot_el
    );
}

/// The machine, the semihosting probe, the loader's registers and the
/// device tree's warnings, once the console is up.
pub fn print_machine(dt: &DtInfo, info: &BootInfo, semihosting: bool) {
    if !dt.model.is_empty() {
        pr_info!("Machine model: {}", dt.model);
    }
    pr_info!("semihosting: {}", if semihosting { "present (exit code and early output)" } else { "absent" });
    if info.boot_args.iter().any(|&a| a != 0) {
        pr_warn!(
            "WARNING: x1-x3 nonzero in violation of boot protocol: x1: {:016x} x2: {:016x} x3: {:016x}",
            info.boot_args[0],
            info.boot_args[1],
            info.boot_args[2]
        );
    }
    for w in &dt.warnings {
        pr_warn!("devicetree: {}", w);
    }
    for i in &dt.memory_issues {
        pr_warn!("memory: {}", i);
    }
    if let Some(why) = dt.distance_map_error {
        pr_warn!("NUMA: invalid /distance-map: {}; NUMA information ignored (one node)", why);
    }
}

/// Log CPUs, PSCI, NUMA distances and seeds from the tree.
pub fn log_platform(dt: &DtInfo) {
    if let Some(c) = psci_conduit(dt) {
        pr_info!("psci: probing for conduit method from DT: {:?}", c);
        let v = arch::psci::version(c);
        if v >= 0 {
            pr_info!("psci: PSCIv{}.{} detected in firmware.", (v >> 16) & 0xffff, v & 0xffff);
        } else {
            pr_warn!("psci: PSCI_VERSION failed ({v})");
        }
    }
    let me = arch::cpu::mpidr();
    pr_info!("CPU topology: {} CPU(s) in /cpus", dt.cpus.len());
    for (i, c) in dt.cpus.iter().enumerate() {
        let how = match c.enable {
            EnableMethod::Psci => "psci",
            EnableMethod::SpinTable(_) => "spin-table",
            EnableMethod::Unknown => "no enable-method",
        };
        let nid = c.nid.map(|n| n as i64).unwrap_or(-1);
        if c.mpidr == me {
            pr_info!("  /cpus[{}]: MPIDR {:#x} node {} {} (boot CPU)", i, c.mpidr, nid, how);
        } else if let EnableMethod::SpinTable(a) = c.enable {
            pr_info!("  /cpus[{}]: MPIDR {:#x} node {} {} release-addr {:#x}", i, c.mpidr, nid, how, a);
        } else {
            pr_info!("  /cpus[{}]: MPIDR {:#x} node {} {}", i, c.mpidr, nid, how);
        }
    }
    if !dt.distances.is_empty() {
        pr_info!("NUMA: distance-map has {} entries", dt.distances.len());
        for &(a, b, d) in &dt.distances {
            pr_info!("  node {} -> node {}: {}", a, b, d);
        }
    }
    if dt.kaslr_seed.is_some() || !dt.rng_seed.is_empty() {
        pr_info!(
            "random: kaslr-seed {}, rng-seed {} bytes (KASLR is not implemented: the image stays at its link address)",
            if dt.kaslr_seed.is_some() { "present" } else { "absent" },
            dt.rng_seed.len()
        );
    }
    if let Some((s, e)) = dt.initrd {
        pr_info!("Initial ramdisk at: {:#x} ({} bytes) (unpacked by init::initramfs; kept reserved)", s, e - s);
    }
}
