//! The GIC's register blocks through ioremap, as arch's `Mmio` windows.

use crate::memory::vmalloc;
use crate::pr_err;
use arch::gic::Mmio;
use bootdata::devicetree::RegBlock;

/// Map a register block for ever (the GIC is never torn down).
pub(super) fn map(what: &str, r: RegBlock) -> Option<Mmio> {
    match vmalloc::ioremap(r.base, r.size) {
        // SAFETY: 1. ioremap mapped [base, base + size) as device memory;
        // leaked, it stays mapped for ever; the tree names it as this
        // GIC's block, which nothing else in the kernel drives.
        Ok(m) => Some(unsafe { Mmio::new(m.leak().as_u64(), r.size) }),
        Err(e) => {
            pr_err!("GIC: cannot ioremap the {what} at {:#x} ({e}); running without interrupts", r.base);
            None
        }
    }
}
