//! The console: the UARTs the device tree and the command line name, tried
//! in order (`bootdata::devicetree::console_candidates`), the first that
//! answers registered with printk, which replays what was logged before it.
//!
//! Each candidate is checked before it is touched: an address of 0, inside
//! RAM (the tree's /memory: mapping RAM as a device would alias it), beyond
//! the CPU's physical address size, or that the fixmap cannot map is refused. It is then mapped (the fixmap:
//! `FIX_EARLYCON`, and `FIX_EARLYCON_AUX` for a mini UART's AUX block on
//! another page), and its first access is a status-register read through
//! `arch::exception::probe_read32`, so an address with nothing behind it
//! (an external abort) is reported, not an oops. Then it is initialised with
//! the tree's clock and the named baud rate, and registered. A candidate
//! that fails any step is reported by name with the reason and the next
//! one is tried. A UART that answers but whose clock is unknown and which
//! the firmware left disabled cannot be programmed (`UartError::BadClock`).
//!
//! A candidate that failed after its mapping leaves its `Uart` value in
//! `UARTS` unused: the fixmap slots are unmapped and mapped again for the
//! next candidate, and only a registered UART (after which no candidate is
//! tried) is ever used.

use crate::console::printk;
use crate::memory::layout::{FIX_EARLYCON, FIX_EARLYCON_AUX};
use crate::memory::{pgtable, vmalloc};
use crate::{pr_info, pr_warn};
use arch::exception::ProbeFault;
use arch::uart::{MiniSetup, MiniUart, Pl011, Pl011Setup, Uart, UartError, UartSetup};
use bootdata::cmdline::Params;
use bootdata::devicetree::{
    Candidate, ClockSource, ConsoleInfo, DtInfo, MAX_CANDIDATES, RefError, Target, UartKind, console_candidates,
    parse_uarts_into,
};
use core::fmt;
use core::sync::atomic::{AtomicBool, Ordering};
use mm::pgtable::PageProt;
use mm::{PAGE_SIZE, VirtAddr};

static UARTS: [spin::Once<Uart>; MAX_CANDIDATES] = [const { spin::Once::new() }; MAX_CANDIDATES];
/// The registered console: its kind and physical addresses (UART, AUX).
static REGISTERED: spin::Once<(UartKind, u64, Option<u64>)> = spin::Once::new();
/// The console once it moved to ioremap, and its registers' address.
static IOREMAPPED: spin::Once<(Uart, u64)> = spin::Once::new();
static MAPPED: AtomicBool = AtomicBool::new(false);
static AUX_MAPPED: AtomicBool = AtomicBool::new(false);

/// Unmap what an earlier candidate left in the slots (the fixmap maps a
/// slot afresh only when it is empty).
fn clear_slots() {
    for (slot, flag) in [(FIX_EARLYCON, &MAPPED), (FIX_EARLYCON_AUX, &AUX_MAPPED)] {
        if flag.swap(false, Ordering::Relaxed) {
            let _ = pgtable::unmap_kernel_range(VirtAddr(slot), PAGE_SIZE);
        }
    }
}

/// Why a candidate was not used.
enum Why<'a> {
    Refused(&'a RefError),
    NoAddress,
    Zero,
    InRam { pa: u64, base: u64, end: u64 },
    BeyondPa { pa: u64, bits: u32 },
    CannotMap(u64, mm::Error),
    Abort(u64, ProbeFault),
    NotPl011(u64, u32, u32),
    Init(u64, UartError),
    Replay,
}

impl fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Refused(RefError::NotDriven { .. }) => f.write_str("is not a UART this kernel drives"),
            Why::Refused(e) => write!(f, "cannot be used: {e}"),
            Why::NoAddress => f.write_str("has no translatable reg"),
            Why::Zero => f.write_str("is at address 0: refused"),
            Why::InRam { pa, base, end } => {
                write!(f, "is at {pa:#x}, inside RAM [{base:#x}-{:#x}]: refused", end - 1)
            }
            Why::BeyondPa { pa, bits } => {
                write!(f, "is at {pa:#x}, beyond the CPU's {bits}-bit physical address space: refused")
            }
            Why::CannotMap(pa, e) => write!(f, "at {pa:#x} cannot be mapped: {e}"),
            Why::Abort(pa, p) => write!(
                f,
                "at {pa:#x} does not answer (external abort on its first read, ESR {:#x}, FAR {:#x})",
                p.esr, p.far
            ),
            Why::NotPl011(pa, cid, pid) => write!(
                f,
                "at {pa:#x} is not a PL011 (PrimeCell IDs {cid:#010x}/{pid:#010x}, not {:#010x}/{:#010x}): refused",
                arch::uart::PRIMECELL_CID,
                arch::uart::PL011_PERIPHIDS[0].0
            ),
            Why::Init(pa, UartError::BadClock) => write!(
                f,
                "at {pa:#x} is disabled and its clock is unknown (or too slow for the baud rate): cannot be programmed"
            ),
            Why::Init(pa, UartError::Stuck) => write!(f, "at {pa:#x} does not drain: stuck"),
            Why::Replay => f.write_str("stopped draining while the early log was replayed: dropped"),
        }
    }
}

/// Move the registered console from the fixmap to ioremap, as Linux's
/// drivers take over from earlycon once the kernel's allocators are up:
/// map the same registers with `ioremap`, switch printk to a `Uart` at the
/// new address (same hardware, no re-initialisation), then unmap the
/// fixmap slots. The fixmap `Uart` stays in `UARTS`, unused. A failure
/// keeps the fixmap console and says why.
pub fn move_to_ioremap() {
    let Some(&(kind, pa, aux_pa)) = REGISTERED.get() else { return };
    let moved = IOREMAPPED.try_call_once(|| ioremap_console(pa, aux_pa));
    let _ = kind;
    match moved {
        Ok((uart, va)) => {
            printk::replace_console(uart);
            clear_slots();
            pr_info!("console: registers at {pa:#x} moved from the fixmap to ioremap (0x{va:016x})");
        }
        Err(e) => pr_warn!("console: cannot ioremap the UART at {pa:#x} ({e}); it stays in the fixmap"),
    }
}

/// The console's registers (and a mini UART's AUX block) through ioremap,
/// kept for good; named in /proc/vmallocinfo as the caller.
#[inline(never)]
fn ioremap_console(pa: u64, aux_pa: Option<u64>) -> Result<(Uart, u64), mm::Error> {
    {
        let va = vmalloc::ioremap(pa, 0x40)?.leak().as_u64();
        let uart = match aux_pa {
            None => {
                // SAFETY: the registered PL011's registers, mapped as
                // device memory by ioremap for good (leaked).
                Uart::Pl011(unsafe { Pl011::new(va) })
            }
            Some(aux) => {
                let aux_va = if aux & !0xfff == pa & !0xfff {
                    va - (pa - aux)
                } else {
                    vmalloc::ioremap(aux, 8)?.leak().as_u64()
                };
                // SAFETY: the registered mini UART and its AUX block, both
                // mapped as device memory by ioremap for good.
                Uart::Mini(unsafe { MiniUart::new(va, aux_va) })
            }
        };
        Ok((uart, va))
    }
}

/// The console's registers' ioremap address, once moved.
pub fn ioremapped_va() -> Option<u64> {
    IOREMAPPED.get().map(|u| u.1)
}

/// Whether a console's registers are mapped in the fixmap (for the mmu
/// self-test).
pub fn mapped() -> bool {
    MAPPED.load(Ordering::Relaxed)
}

/// The tree's UARTs, aliases and stdout-path, read once by [`start`] into
/// a static (3 KiB: neither in `DtInfo` nor on the 16 KiB boot stack).
fn console_info(blob: &[u8]) -> &'static ConsoleInfo {
    static INFO: spin::Once<&'static ConsoleInfo> = spin::Once::new();
    INFO.call_once(|| {
        static mut CONSOLE_INFO: ConsoleInfo = ConsoleInfo::new();
        // SAFETY: this closure runs once (the Once above), so this is the
        // only reference ever made to CONSOLE_INFO that can write; it ends
        // before the shared one is handed out.
        let con = unsafe { &mut *core::ptr::addr_of_mut!(CONSOLE_INFO) };
        if let Err(e) = parse_uarts_into(blob, con) {
            pr_warn!("console: cannot read the UARTs of the device tree: {e}");
            *con = ConsoleInfo::new();
        }
        con
    })
}

/// What [`start`] ended with, for the self-tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Candidates the tree and the command line named.
    pub candidates: usize,
    /// Candidates refused (each reported with its reason).
    pub refused: usize,
    /// The registered console's physical address, if one was registered.
    pub console_pa: Option<u64>,
}

static OUTCOME: spin::Once<Outcome> = spin::Once::new();

/// How the console choice ended (None before [`start`]).
pub fn outcome() -> Option<Outcome> {
    OUTCOME.get().copied()
}

/// Read the UARTs of the (checked, compacted) `blob`, try the candidates in
/// order, and register the first that works.
#[inline(never)] // its locals stay out of kernel_main's frame (16 KiB stack)
pub fn start(blob: &[u8], dt: &DtInfo, params: &Params) {
    let con = console_info(blob);
    if con.truncated {
        pr_warn!("devicetree: more than {} UART nodes; the rest are ignored", bootdata::devicetree::MAX_UARTS);
    }
    let cands = console_candidates(con, params);
    let mut outcome = Outcome { candidates: cands.len(), refused: 0, console_pa: None };
    if cands.is_empty() {
        OUTCOME.call_once(|| outcome);
        pr_warn!(
            "console: no UART in the device tree (arm,pl011 or brcm,bcm2835-aux-uart, okay) or the command line; using semihosting if present"
        );
        return;
    }
    for (i, c) in cands.iter().enumerate() {
        match try_one(dt, con, c, i) {
            Ok(how) => {
                pr_info!("printk: console [{}] enabled ({})", c.name, how);
                outcome.console_pa = Some(how.pa);
                OUTCOME.call_once(|| outcome);
                return;
            }
            Err(why) => {
                outcome.refused += 1;
                match cands.get(i + 1) {
                    Some(next) => pr_warn!("console: {} {}; trying {}", c.describe(con), why, next.describe(con)),
                    None => pr_warn!(
                        "console: {} {}; no other UART to try: using semihosting if present",
                        c.describe(con),
                        why
                    ),
                }
            }
        }
    }
    OUTCOME.call_once(|| outcome);
}

/// What a registered console is, for its "enabled" line.
struct How {
    kind: UartKind,
    path: Option<heapless::String<64>>,
    pa: u64,
    baud: u32,
    setup: UartSetup,
    clock: ClockSource,
}

impl fmt::Display for How {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.kind == UartKind::Pl011 { "pl011" } else { "mini UART" })?;
        if let Some(p) = &self.path {
            write!(f, " {p}")?;
        }
        write!(f, " at MMIO {:#x}, ", self.pa)?;
        match self.setup {
            UartSetup::Pl011(Pl011Setup::KeptFirmware) | UartSetup::Mini(MiniSetup::KeptFirmware) => {
                f.write_str("as the firmware set it up")
            }
            UartSetup::Pl011(Pl011Setup::KeptDivisors) => {
                write!(f, "{} 8N1, baud divisors as the firmware left them", self.baud)
            }
            UartSetup::Pl011(Pl011Setup::Programmed { ibrd, fbrd }) => {
                write!(f, "{} 8N1, IBRD {ibrd} FBRD {fbrd}", self.baud)?;
                if self.clock == ClockSource::PiFirmware {
                    f.write_str(" from the Pi firmware's 48 MHz UART clock")?;
                }
                Ok(())
            }
            UartSetup::Mini(MiniSetup::Programmed { baud_reg }) => {
                write!(f, "{} 8N1, AUX_MU_BAUD {baud_reg}", self.baud)
            }
        }
    }
}

fn try_one<'a>(dt: &DtInfo, con: &ConsoleInfo, c: &'a Candidate, slot: usize) -> Result<How, Why<'a>> {
    // A tree node is checked for a PrimeCell ID unless the tree vouches for
    // it (`arm,primecell-periphid`, as on the Pi); an `earlycon=` address
    // is the user's word, used as Linux's earlycon uses it.
    let (kind, pa, aux_pa, clock_hz, clock, path, check_id) = match &c.target {
        Target::Refused(e) => return Err(Why::Refused(e)),
        Target::Uart(i) => {
            let u = &con.uarts[*i];
            let pa = u.pa.ok_or(Why::NoAddress)?;
            (u.kind, pa, u.aux_pa, u.clock_hz, u.clock, Some(u.path.clone()), u.primecell_periphid.is_none())
        }
        Target::Address { kind, pa } => (*kind, *pa, pa.checked_sub(0x40), None, ClockSource::Unknown, None, false),
    };
    let aux_pa = if kind == UartKind::Mini { Some(aux_pa.ok_or(Why::Zero)?) } else { None };
    for a in core::iter::once(pa).chain(aux_pa) {
        check_address(dt, a)?;
    }
    clear_slots();
    let va = pgtable::fixmap_remap(FIX_EARLYCON, pa, 0x40, PageProt::KERNEL_DEVICE)
        .map_err(|e| Why::CannotMap(pa, e))?
        .as_u64();
    MAPPED.store(true, Ordering::Relaxed);
    let uart = match aux_pa {
        None => {
            // SAFETY: `va` maps the candidate's page as device memory (or
            // nothing answers there, which the probe catches); FR and the ID
            // registers have no read side effect. The ID registers are in the
            // same page only for a page-aligned PL011; otherwise the probe
            // catches the unmapped read and the candidate is refused.
            unsafe { arch::uart::probe_pl011(va, check_id) }.map_err(|p| match p {
                arch::uart::Pl011Probe::Abort(f) => Why::Abort(pa, f),
                arch::uart::Pl011Probe::NotPl011(cid, pid) => Why::NotPl011(pa, cid, pid),
            })?;
            // SAFETY: a PL011's registers (the tree or earlycon= says so, and
            // it answered) mapped as device memory in the fixmap, which keeps
            // it until another candidate remaps the slot; only a registered
            // UART is used, and a registered one's slot is never remapped.
            Uart::Pl011(unsafe { Pl011::new(va) })
        }
        Some(aux) => {
            let aux_va = if aux & !0xfff == pa & !0xfff {
                va - (pa - aux)
            } else {
                let v = pgtable::fixmap_remap(FIX_EARLYCON_AUX, aux, 8, PageProt::KERNEL_DEVICE)
                    .map_err(|e| Why::CannotMap(aux, e))?
                    .as_u64();
                AUX_MAPPED.store(true, Ordering::Relaxed);
                v
            };
            // SAFETY: as for the PL011: both addresses are mapped device
            // memory or absent (caught); AUX_ENABLES and LSR have no read side
            // effect that polled output cares about.
            unsafe { arch::uart::probe_mini(va, aux_va) }.map_err(|p| Why::Abort(pa, p))?;
            // SAFETY: a mini UART and its AUX block, mapped as above.
            Uart::Mini(unsafe { MiniUart::new(va, aux_va) })
        }
    };
    let setup = uart.init(clock_hz, c.baud).map_err(|e| Why::Init(pa, e))?;
    let uart = UARTS[slot].call_once(|| uart);
    printk::register_console(uart).map_err(|_| Why::Replay)?;
    REGISTERED.call_once(|| (kind, pa, aux_pa));
    Ok(How { kind, path, pa, baud: c.baud, setup, clock })
}

/// Refuse 0, an address inside the tree's RAM, or one past the end of the
/// physical address space (a descriptor cannot hold it).
fn check_address(dt: &DtInfo, pa: u64) -> Result<(), Why<'static>> {
    if pa == 0 {
        return Err(Why::Zero);
    }
    let bits = arch::mmu::pa_bits();
    if bits < 64 && pa >> bits != 0 {
        return Err(Why::BeyondPa { pa, bits });
    }
    let page = pa & !0xfff;
    for m in &dt.memory {
        let end = m.base.saturating_add(m.size);
        if page < end && m.base < page + 0x1000 {
            return Err(Why::InRam { pa, base: m.base, end });
        }
    }
    Ok(())
}
