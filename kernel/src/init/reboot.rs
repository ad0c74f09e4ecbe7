//! How the run ends on a machine without a semihosting host: PSCI when
//! /psci answers, else the BCM2835/BCM2711 PM watchdog the tree names
//! (mapped now, in `FIX_POWEROFF`, so the end of a run maps nothing; moved
//! to ioremap once vmalloc is up, as Linux's drivers map their registers);
//! `reboot=` and `panic=` from the command line. The policy itself is in
//! `console::exit`.

use crate::console::exit::{Shutdown, set_shutdown};
use crate::init::platform;
use crate::memory::layout::FIX_POWEROFF;
use crate::memory::pgtable;
use crate::{pr_info, pr_warn};
use arch::bcm2835_pm::Bcm2835Pm;
use bootdata::cmdline::Params;
use bootdata::devicetree::DtInfo;
use mm::pgtable::PageProt;

/// Offset of PM_RSTC, read once to check something answers at the address.
const PM_RSTC: u64 = 0x1c;

/// Find and record the power-off and reset paths.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn init(dt: &DtInfo, params: &Params) {
    let psci = platform::psci_conduit(dt).filter(|&c| arch::psci::version(c) >= 0);
    let pm = dt.pm_watchdog.and_then(|pa| map_pm(dt, pa));
    match (psci, pm.is_some()) {
        (Some(c), _) => pr_info!("reboot: power off and reset through PSCI ({c:?})"),
        (None, true) => pr_info!(
            "reboot: power off and reset through the BCM2835 PM watchdog at {:#x}",
            dt.pm_watchdog.unwrap_or(0)
        ),
        (None, false) => pr_info!("reboot: no PSCI and no PM watchdog: a run without semihosting ends parked"),
    }
    set_shutdown(Shutdown { psci, pm, mode: params.reboot, panic_timeout: params.panic_timeout });
}

/// The PM watchdog's physical address, once mapped in the fixmap.
static PM_PA: spin::Once<u64> = spin::Once::new();

/// Map the PM watchdog with ioremap and use that mapping from now on; the
/// fixmap slot is unmapped. A failure keeps the fixmap mapping, said so.
pub fn move_to_ioremap() {
    static PM: spin::Once<Bcm2835Pm> = spin::Once::new();
    let Some(&pa) = PM_PA.get() else { return };
    let va = match ioremap_pm(pa) {
        Ok(va) => va,
        Err(e) => {
            pr_warn!("reboot: cannot ioremap the PM watchdog at {pa:#x} ({e}); it stays in the fixmap");
            return;
        }
    };
    // SAFETY: the PM block's registers (checked to answer when first
    // mapped), mapped as device memory by ioremap for good (leaked).
    let pm = PM.call_once(|| unsafe { Bcm2835Pm::new(va) });
    crate::console::exit::replace_pm(pm);
    let _ = pgtable::unmap_kernel_range(mm::VirtAddr(FIX_POWEROFF), mm::PAGE_SIZE);
    pr_info!("reboot: PM watchdog registers at {pa:#x} moved from the fixmap to ioremap (0x{va:016x})");
}

/// The PM block through ioremap, kept for good; named in
/// /proc/vmallocinfo as the caller.
#[inline(never)]
fn ioremap_pm(pa: u64) -> Result<u64, mm::Error> {
    Ok(crate::memory::vmalloc::ioremap(pa, 0x28)?.leak().as_u64())
}

fn map_pm(dt: &DtInfo, pa: u64) -> Option<&'static Bcm2835Pm> {
    static PM: spin::Once<Bcm2835Pm> = spin::Once::new();
    let in_ram = dt.memory.iter().any(|m| pa >= m.base && pa - m.base < m.size);
    let bits = arch::mmu::pa_bits();
    if pa == 0 || in_ram || (bits < 64 && pa >> bits != 0) {
        pr_warn!(
            "reboot: the PM watchdog's address {pa:#x} is 0, inside RAM or beyond the physical address space: not used"
        );
        return None;
    }
    let va = match pgtable::fixmap_remap(FIX_POWEROFF, pa, 0x28, PageProt::KERNEL_DEVICE) {
        Ok(va) => va.as_u64(),
        Err(e) => {
            pr_warn!("reboot: cannot map the PM watchdog at {pa:#x}: {e}");
            return None;
        }
    };
    // SAFETY: `va` maps the PM block's page as device memory (or nothing,
    // which the probe catches); reading PM_RSTC has no side effect.
    if let Err(f) = unsafe { arch::exception::probe_read32(va + PM_RSTC) } {
        pr_warn!("reboot: the PM watchdog at {pa:#x} does not answer (ESR {:#x}): not used", f.esr);
        return None;
    }
    PM_PA.call_once(|| pa);
    // SAFETY: the PM block, mapped as device memory in FIX_POWEROFF, which
    // nothing else uses; it is unmapped only by `move_to_ioremap`, after
    // the shutdown path has switched to the ioremap'd copy.
    Some(PM.call_once(|| unsafe { Bcm2835Pm::new(va) }))
}
