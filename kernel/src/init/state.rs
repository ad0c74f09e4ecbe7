//! What the boot learned, kept for the self-tests and the reports.

use boot::BootInfo;
use bootdata::cmdline::Params;
use bootdata::devicetree::DtInfo;

/// The boot's facts, set once after memory setup.
pub struct BootState {
    /// The head's hand-over.
    pub info: BootInfo,
    /// The device tree blob, compacted (no padding, no NOPs).
    pub dtb: &'static [u8],
    /// Its size as the loader placed it (what memblock reserves).
    pub dtb_size_bytes: u64,
    /// What was parsed from it (a static of `init::fdt`).
    pub dt: &'static DtInfo,
    /// The command line.
    pub params: Params,
}

static STATE: spin::Once<BootState> = spin::Once::new();

/// Record the boot state.
pub fn init(info: BootInfo, dtb: &'static [u8], dtb_size_bytes: u64, dt: &'static DtInfo, params: Params) {
    STATE.call_once(|| BootState { info, dtb, dtb_size_bytes, dt, params });
}

/// The boot state. Panics before `init` (a wiring bug).
pub fn get() -> &'static BootState {
    STATE.get().expect("boot state used before state::init")
}
