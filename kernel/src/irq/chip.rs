//! The machine's interrupt controller, once brought up, and the priority
//! the kernel gives its interrupts.

use arch::gic::{DEFAULT_PRIORITY, Gic};

pub(super) static GIC: spin::Once<Gic> = spin::Once::new();

/// The GIC, once `irq::init` brought it up.
pub fn gic() -> Option<&'static Gic> {
    GIC.get()
}

/// The priority every interrupt the kernel enables gets.
pub(crate) const PRIORITY: u8 = DEFAULT_PRIORITY;
