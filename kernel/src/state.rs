//! What the boot learned, kept for the self-tests and the reports.

use crate::cmdline::Params;
use crate::devicetree::{DtInfo, EnableMethod};
use crate::{pr_info, pr_warn};
use boot::BootInfo;

/// The boot's facts, set once after memory setup.
pub struct BootState {
    /// The head's hand-over.
    pub info: BootInfo,
    /// The device tree blob, compacted (no padding, no NOPs).
    pub dtb: &'static [u8],
    /// Its size as the loader placed it (what memblock reserves).
    pub dtb_size_bytes: u64,
    /// What was parsed from it.
    pub dt: DtInfo,
    /// The command line.
    pub params: Params,
}

static STATE: spin::Once<BootState> = spin::Once::new();

/// Record the boot state.
pub fn init(info: BootInfo, dtb: &'static [u8], dtb_size_bytes: u64, dt: DtInfo, params: Params) {
    STATE.call_once(|| BootState { info, dtb, dtb_size_bytes, dt, params });
}

/// The boot state. Panics before `init` (a wiring bug).
pub fn get() -> &'static BootState {
    STATE.get().expect("boot state used before state::init")
}

/// Log CPUs, PSCI, NUMA distances and seeds from the tree.
pub fn log_platform() {
    let s = get();
    let dt = &s.dt;
    if let Some(c) = dt.psci {
        pr_info!("psci: probing for conduit method from DT: {:?}", c);
        // SAFETY: the device tree names this conduit for PSCI; PSCI_VERSION has no side effect.
        let v = unsafe { arch::psci::call(c, arch::psci::PSCI_VERSION, 0, 0, 0) };
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
        pr_info!("Initial ramdisk at: {:#x} ({} bytes) (kept reserved; nothing unpacks it)", s, e - s);
    }
}

/// Print a report under its /proc name.
fn print_report(title: &str, f: impl FnOnce(&mut alloc::string::String) -> core::fmt::Result) {
    pr_info!("{title}:");
    if crate::printk::log_report(f).is_err() {
        pr_warn!("{title}: report failed");
    }
}

/// /proc/buddyinfo and /proc/meminfo, printed after the self-tests.
pub fn short_reports() {
    let pa = crate::page_alloc::allocator();
    print_report("/proc/buddyinfo", |s| pa.buddyinfo(s));
    print_report("/proc/meminfo", |s| pa.meminfo(s));
}

/// The Slab, SReclaimable and SUnreclaim lines of /proc/meminfo, in its
/// format (`Label:` padded to 16 columns, the value in kB right-aligned).
pub fn slab_meminfo_lines(s: &mut alloc::string::String) -> core::fmt::Result {
    use core::fmt::Write;
    let Some(slub) = crate::slab::slub() else { return Ok(()) };
    let (rec, unrec) = slub.nr_slab_pages();
    let kb = |p: u64| p * (mm::PAGE_SIZE >> 10);
    writeln!(s, "{:<16}{:>8} kB", "Slab:", kb(rec + unrec))?;
    writeln!(s, "{:<16}{:>8} kB", "SReclaimable:", kb(rec))?;
    writeln!(s, "{:<16}{:>8} kB", "SUnreclaim:", kb(unrec))
}

/// `mminfo`: every memory report, in Linux's formats.
pub fn mminfo() {
    let pa = crate::page_alloc::allocator();
    print_report("/proc/buddyinfo", |s| pa.buddyinfo(s));
    print_report("/proc/pagetypeinfo", |s| pa.pagetypeinfo(s));
    print_report("/proc/zoneinfo", |s| pa.zoneinfo(s));
    print_report("/proc/meminfo", |s| {
        pa.meminfo(s)?;
        slab_meminfo_lines(s)
    });
    if let Some(slub) = crate::slab::slub() {
        print_report("/proc/slabinfo", |s| slub.slabinfo(s));
    }
    memblock_and_heap_info();
}

fn memblock_and_heap_info() {
    let mb = crate::setup::MEMBLOCK.lock();
    let total = mb.phys_mem_size();
    let reserved = mb.reserved_size();
    drop(mb);
    let (used, free) = crate::heap::usage();
    pr_info!("mminfo: memblock memory {} KiB, reserved {} KiB", total >> 10, reserved >> 10);
    pr_info!("mminfo: early heap {} KiB used, {} KiB free", used >> 10, free >> 10);
    pr_info!("mminfo: page-table pool: {} pages free", crate::paging::pool_pages_free());
}

/// Zone boundaries and the vmemmap base, once computed.
static ZONES: spin::Once<(crate::zones::ZoneLimits, u64)> = spin::Once::new();

/// Record the zone limits and where pfn 0's descriptor would be.
pub fn set_zone_limits(z: crate::zones::ZoneLimits, vmemmap_base: u64) {
    ZONES.call_once(|| (z, vmemmap_base));
}

/// The zone limits and vmemmap base (None before `set_zone_limits`).
pub fn zone_limits() -> Option<&'static (crate::zones::ZoneLimits, u64)> {
    ZONES.get()
}
