//! The console the device tree names: the PL011 at /chosen/stdout-path (or
//! the first one in the tree), mapped through the fixmap and registered
//! with printk, which replays what was logged before it.

use crate::console::printk;
use crate::memory::layout::FIX_EARLYCON;
use crate::memory::pgtable;
use crate::{pr_info, pr_warn};
use bootdata::devicetree::DtInfo;
use mm::pgtable::PageProt;

/// Map and register the console UART, or say why there is none.
pub fn start(dt: &DtInfo) {
    let Some(con) = &dt.console else {
        pr_warn!(
            "console: no PL011 found (/chosen/stdout-path or compatible \"arm,pl011\"); using semihosting if present"
        );
        return;
    };
    match pgtable::fixmap_remap(FIX_EARLYCON, con.pa, 0x1000, PageProt::KERNEL_DEVICE) {
        Ok(va) => {
            static UART: spin::Once<arch::uart::Pl011> = spin::Once::new();
            // SAFETY: `va` maps the PL011's 4 KiB register frame as device
            // memory in the fixmap, which is never unmapped.
            let uart = UART.call_once(|| unsafe { arch::uart::Pl011::new(va.as_u64()) });
            printk::register_console(uart);
            pr_info!("printk: console [{}] enabled (pl011 at MMIO {:#x})", con.path, con.pa);
        }
        Err(e) => pr_warn!("console: cannot map the PL011 at {:#x}: {}", con.pa, e),
    }
}
