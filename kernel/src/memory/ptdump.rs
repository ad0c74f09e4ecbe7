//! The kernel page-table dump and the boot-time W^X check (Linux's
//! arch/arm64/mm/ptdump.c: `/sys/kernel/debug/kernel_page_tables` and
//! `ptdump_check_wx`).
//!
//! Both walk the TTBR1 tree from PAGE_OFFSET to the top of the address
//! space through [`pgtable::walk_kernel_range`] and feed every leaf and
//! hole to `mm::ptdump::PgState`, which merges neighbours with equal
//! attributes and level and cuts at the address markers below; the columns
//! come from `arch::ptdump`.
//!
//! The walk runs under `KERNEL_PT`, and nothing that might take that lock
//! again (an allocation that needs a table page, a console reached through
//! a mapping being changed) may run inside it. So the visitor only merges,
//! into a fixed batch on the stack ([`Batch`], no heap): when the batch has
//! less room than one entry can fill (`MAX_OUT_PER_NOTE`), the visitor
//! stops the walk before that entry, the lock is dropped, the batch is
//! printed, and the walk resumes at the entry it stopped on. `PgState`
//! lives across the pieces, so the output is what one walk would print.
//!
//! ```text
//!   loop { lock; walk from `resume`, merging into Batch until nearly full;
//!          unlock; print Batch }                        then finish + print
//! ```
//!
//! The dump is printed with `ptdump` on the command line, after the
//! self-tests, as the report `/sys/kernel/debug/kernel_page_tables:`; each
//! line after its timestamp is Linux's. The check runs once at boot, after
//! SLUB, when the kernel's own mappings are final (Linux runs it from
//! mark_rodata_ro), and prints Linux's verdict.
//!
//! Differences from Linux: the markers follow this kernel's layout, which
//! gives the kernel image an area of its own between the modules and
//! vmalloc (Linux's image sits inside vmalloc space, with no marker); the
//! kernel has no WARN machinery yet, so a W^X or non-UXN finding prints
//! WARN_ONCE's message line only (no `WARNING: CPU:` line, registers or
//! backtrace), and addresses are printed in full, as with Linux's
//! `no_hash_pointers`.

use super::layout::{
    FIXADDR_START, FIXADDR_TOP, KIMAGE_VADDR, MODULES_VADDR, PAGE_END, PAGE_OFFSET, PCI_IO_END, PCI_IO_START,
    VMALLOC_END, VMALLOC_START, VMEMMAP_END, VMEMMAP_START,
};
use super::pgtable;
use crate::console::kallsyms;
use crate::{pr_info, pr_warn};
use arch::pte::Arm64;
use core::fmt;
use core::ops::ControlFlow;
use heapless::Vec;
use mm::ptdump::{AddrMarker, MAX_OUT_PER_NOTE, MarkerLine, PgState, PtRange, PtdumpOut, WxWarning};
use mm::{Error, VirtAddr};

/// The address markers, in address order (Linux's `address_markers`, with
/// Linux's names where the area exists there).
pub static ADDRESS_MARKERS: [AddrMarker; 14] = [
    AddrMarker { start_address: PAGE_OFFSET, name: "Linear Mapping start" },
    AddrMarker { start_address: PAGE_END, name: "Linear Mapping end" },
    AddrMarker { start_address: MODULES_VADDR, name: "Modules start" },
    AddrMarker { start_address: KIMAGE_VADDR, name: "Modules end" },
    AddrMarker { start_address: KIMAGE_VADDR, name: "Kernel image start" },
    AddrMarker { start_address: VMALLOC_START, name: "Kernel image end" },
    AddrMarker { start_address: VMALLOC_START, name: "vmalloc() area" },
    AddrMarker { start_address: VMALLOC_END, name: "vmalloc() end" },
    AddrMarker { start_address: FIXADDR_START, name: "Fixmap start" },
    AddrMarker { start_address: FIXADDR_TOP, name: "Fixmap end" },
    AddrMarker { start_address: PCI_IO_START, name: "PCI I/O start" },
    AddrMarker { start_address: PCI_IO_END, name: "PCI I/O end" },
    AddrMarker { start_address: VMEMMAP_START, name: "vmemmap start" },
    AddrMarker { start_address: VMEMMAP_END, name: "vmemmap end" },
];

/// Where the walk starts (Linux's `kernel_ptdump_info.base_addr`).
const BASE_ADDR: u64 = PAGE_OFFSET;

/// One piece of output, kept until the lock is dropped.
#[derive(Clone, Copy)]
enum Out {
    Marker(&'static str),
    Range(PtRange),
    Warn(WxWarning),
}

/// Output collected under the lock.
const BATCH: usize = 64;

/// A fixed batch of output, filled under `KERNEL_PT` and printed after it.
struct Batch(Vec<Out, BATCH>);

impl Batch {
    fn room(&self) -> usize {
        BATCH - self.0.len()
    }

    fn push(&mut self, out: Out) {
        // The visitor stops the walk while MAX_OUT_PER_NOTE slots are free,
        // and one note never outputs more, so this never drops anything.
        let pushed = self.0.push(out);
        debug_assert!(pushed.is_ok(), "ptdump batch overflow");
    }
}

impl PtdumpOut for Batch {
    fn marker(&mut self, name: &'static str) {
        self.push(Out::Marker(name));
    }
    fn range(&mut self, range: PtRange) {
        self.push(Out::Range(range));
    }
    fn warn(&mut self, warning: WxWarning) {
        self.push(Out::Warn(warning));
    }
}

/// Walk the whole tree from BASE_ADDR through `st`, handing each batch of
/// output to `emit` with the lock dropped.
fn walk(st: &mut PgState<'_, Arm64>, emit: &mut impl FnMut(&Out)) -> Result<(), Error> {
    let mut resume = BASE_ADDR;
    loop {
        let mut batch = Batch(Vec::new());
        let res = pgtable::walk_kernel_range(VirtAddr(resume), 0u64.wrapping_sub(resume), &mut |entry| {
            if batch.room() < MAX_OUT_PER_NOTE {
                return ControlFlow::Break(entry.va());
            }
            st.note_entry(entry, &mut batch);
            ControlFlow::Continue(())
        })?;
        batch.0.iter().for_each(&mut *emit);
        match res {
            ControlFlow::Break(va) => resume = va.as_u64(),
            ControlFlow::Continue(()) => break,
        }
    }
    let mut batch = Batch(Vec::new());
    st.finish(&mut batch);
    batch.0.iter().for_each(emit);
    Ok(())
}

/// `%pS`: `symbol+0xoff/0xsize`, or the bare address outside the image.
struct Symbol(u64);

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match kallsyms::lookup(self.0) {
            Some((name, off, size)) => write!(f, "{name}+0x{off:x}/0x{size:x}"),
            None => write!(f, "0x{:x}", self.0),
        }
    }
}

fn print_warning(w: &WxWarning) {
    match *w {
        WxWarning::UserExec(addr) => {
            pr_warn!("arm64/mm: Found non-UXN mapping at address 0x{addr:016x}/{}", Symbol(addr))
        }
        WxWarning::Wx(addr) => {
            pr_warn!("arm64/mm: Found insecure W+X mapping at address 0x{addr:016x}/{}", Symbol(addr))
        }
    }
}

/// Print the kernel's page tables in the format of Linux's
/// `/sys/kernel/debug/kernel_page_tables` (the `ptdump` parameter), as log
/// lines.
pub fn dump_kernel_page_tables() {
    pr_info!("/sys/kernel/debug/kernel_page_tables:");
    if let Err(e) = kernel_page_tables(&mut |line| pr_info!("{}", line)) {
        pr_warn!("ptdump: cannot walk the kernel page tables: {e}");
    }
}

/// The lines of `/sys/kernel/debug/kernel_page_tables`, each handed to
/// `line` (called with the page-table lock dropped): the same lines as
/// [`dump_kernel_page_tables`] logs, for a caller that prints them raw
/// (the console's `cat`).
pub fn kernel_page_tables(line: &mut dyn FnMut(fmt::Arguments<'_>)) -> Result<(), Error> {
    let mut st = PgState::<Arm64>::new(&ADDRESS_MARKERS);
    walk(&mut st, &mut |out| match out {
        Out::Marker(name) => line(format_args!("{}", MarkerLine(name))),
        Out::Range(r) => line(format_args!("{}", r.line::<Arm64>())),
        Out::Warn(w) => print_warning(w),
    })
}

/// What the W^X check found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WxReport {
    /// Pages writable and executable by the kernel.
    pub wx_pages: u64,
    /// Kernel pages executable at EL0 (no UXN).
    pub user_exec_pages: u64,
    /// The first offending range of each kind, in the order found.
    pub warnings: Vec<WxWarning, 2>,
}

/// Walk the tree as the W^X check does and return what it found, printing
/// nothing.
pub fn count_wx() -> Result<WxReport, Error> {
    let mut st = PgState::<Arm64>::new_check_wx();
    let mut warnings = Vec::new();
    walk(&mut st, &mut |out| {
        if let Out::Warn(w) = out {
            let _ = warnings.push(*w);
        }
    })?;
    Ok(WxReport { wx_pages: st.wx_pages(), user_exec_pages: st.user_exec_pages(), warnings })
}

/// Count the kernel's writable-and-executable pages (and the non-UXN
/// ones) and print Linux's verdict (`ptdump_check_wx`), after a warning
/// for the first offending range of each kind.
pub fn ptdump_check_wx() -> Result<WxReport, Error> {
    let report = count_wx()?;
    report.warnings.iter().for_each(print_warning);
    let (wx, uxn) = (report.wx_pages, report.user_exec_pages);
    if wx != 0 || uxn != 0 {
        pr_warn!("Checked W+X mappings: FAILED, {wx} W+X pages found, {uxn} non-UXN pages found");
    } else {
        pr_info!("Checked W+X mappings: passed, no W+X pages found");
    }
    Ok(report)
}
