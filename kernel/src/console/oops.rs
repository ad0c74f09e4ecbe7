//! Oops, panic and the end of a run.
//!
//! An exception nothing expected, a kernel stack overflow, or a Rust panic
//! ends the run: the report goes out through `printk::emergency_write`
//! (which never blocks on the log lock), then the exit code leaves through
//! semihosting ([`exit`]): 3 for a panic, 4 for an oops. Without
//! semihosting the CPU parks after printing, so no path is a silent hang.
//!
//! Every report ends with a call trace ([`backtrace`]), a stack overflow's
//! too: one line per frame, `[<address>] function+offset/size`, the
//! faulting PC first and then each caller by its call instruction, read
//! from the frame records (the stack that overflowed, for an overflow).
//!
//! A kernel stack overflow (the vectors found the new frame below the
//! stack, or a data abort hit the guard below it) is reported as Linux
//! arm64's handle_bad_stack / panic_bad_stack does: `Insufficient stack
//! space to handle exception!`, the ESR and FAR, the bounds of the task
//! stack and of this CPU's overflow stack, the registers, and the panic
//! `kernel stack overflow`. The "task" is the CPU's idle context
//! (`swapper/N`: the boot CPU's init stack or a secondary's). There is no
//! IRQ stack yet, so Linux's `IRQ stack:` line is left out. A fault in the
//! guard page above a stack is an ordinary oops that also names the stack.
//!
//! The register dump is Linux's `__show_regs`: `pstate:` decoded, `pc`,
//! `lr`, `sp`, then x29 down to x0, three to a line.

use super::exit::{ExitCode, exit};
use super::kallsyms::Sym;
use arch::exception::{TrapFrame, Vector, ec, ec_name, esr_ec, fsc_name};
use boot::sym;
use core::sync::atomic::{AtomicBool, Ordering};

/// What a subsystem can say about a faulting address, for the oops report
/// (vmalloc names the area and its caller). Registered by the subsystem,
/// so this file looks down only; it must not block or allocate.
pub type FaultNote = fn(u64);

static FAULT_NOTE: spin::Once<FaultNote> = spin::Once::new();

/// Have `note` describe every faulting address of a kernel oops.
pub fn register_fault_note(note: FaultNote) {
    FAULT_NOTE.call_once(|| note);
}

/// The IRQ entry (`irq::handle_irq`), registered by the interrupt code once
/// the GIC is up, so this file looks down only. Before that, an IRQ is
/// unexpected and ends the run like any other.
static IRQ_HANDLER: spin::Once<arch::exception::TrapHandler> = spin::Once::new();

/// Send the IRQ vectors to `h`.
pub fn register_irq_handler(h: arch::exception::TrapHandler) {
    IRQ_HANDLER.call_once(|| h);
}

/// An IRQ entry (current EL with SP_EL0 or SP_ELx, lower EL AArch64 or AArch32).
fn is_irq(vector: Vector) -> bool {
    vector.index() % 4 == 1
}

macro_rules! emerg {
    ($($arg:tt)*) => { $crate::console::printk::emergency_write(format_args!($($arg)*)) };
}

static IN_OOPS: AtomicBool = AtomicBool::new(false);

/// This CPU's kernel stack.
fn this_stack() -> (u64, u64) {
    let a = arch::percpu::this_cpu_area();
    let (lo, hi) = (a.stack_lo.load(Ordering::Relaxed), a.stack_hi.load(Ordering::Relaxed));
    if lo == 0 { (sym!(__boot_stack_bottom), sym!(__boot_stack_top)) } else { (lo, hi) }
}

/// Most frames a call trace prints (an overflowed stack holds thousands).
const MAX_FRAMES: usize = 32;

/// One frame of a call trace: the address and, beside it, the symbol
/// (Linux's `[<address>] function+offset/size`), so that `addr2line -e
/// kernel <address>` names the line without arithmetic.
struct Frame(u64);

impl core::fmt::Display for Frame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "[<{:016x}>] {}", self.0, Sym(self.0))
    }
}

/// The frame record at `fp` (the caller's frame pointer and the return
/// address), if `fp` is a 16-byte aligned record wholly inside `stack`.
fn frame_record(fp: u64, (lo, hi): (u64, u64)) -> Option<(u64, u64)> {
    if !fp.is_multiple_of(16) || fp < lo || fp.checked_add(16)? > hi {
        return None;
    }
    // SAFETY: [fp, fp + 16) is 16-byte aligned and inside `stack`, a mapped
    // kernel stack of this CPU (the callers pass its bounds, never the
    // guard page below it), so both words are readable.
    Some(unsafe { ((fp as *const u64).read(), ((fp + 8) as *const u64).read()) })
}

/// Where the function containing `addr` starts, if kallsyms knows it.
fn function_start(addr: u64) -> Option<u64> {
    super::kallsyms::lookup(addr).map(|(_, off, _)| addr - off)
}

/// Print a call trace: the exception's `pc` and `lr` (if one was taken),
/// then each caller, by walking the frame records from `fp` up `stack`.
///
/// A return address is the instruction after the call, which for a call
/// that does not return may already be the next function: each caller is
/// named by its call instruction, 4 bytes before (Linux symbolizes return
/// addresses the same way). A function that faults before it stores a frame
/// record (a leaf such as memset) leaves its caller only in `lr`: when `lr`
/// is in another function than `pc` and is not the first record's return
/// address, it is that caller, and is printed second. The walk stops at a
/// record outside `stack`, a zero return address, a frame pointer that does
/// not climb, or after MAX_FRAMES frames.
pub fn backtrace(regs: Option<(u64, u64)>, mut fp: u64, stack: (u64, u64)) {
    emerg!("Call trace:");
    if let Some((pc, lr)) = regs {
        emerg!(" {}", Frame(pc));
        let first = frame_record(fp, stack).map(|(_, ret)| ret);
        let caller = lr.wrapping_sub(4);
        if lr != 0
            && first != Some(lr)
            && function_start(caller).is_some()
            && function_start(caller) != function_start(pc)
        {
            emerg!(" {}", Frame(caller));
        }
    }
    for _ in 0..MAX_FRAMES {
        let Some((next, lr)) = frame_record(fp, stack) else { return };
        if lr == 0 {
            return;
        }
        emerg!(" {}", Frame(lr.wrapping_sub(4)));
        if next <= fp {
            return;
        }
        fp = next;
    }
    if frame_record(fp, stack).is_some_and(|(_, lr)| lr != 0) {
        emerg!(" ... (the trace goes on; {} frames shown)", MAX_FRAMES);
    }
}

/// PSTATE as Linux's print_pstate shows it: the flags in upper case when
/// set (`nZCv`, `DAIF`), then PAN, UAO, TCO, DIT, SSBS and BTYPE.
struct Pstate(u64);

impl core::fmt::Display for Pstate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let p = self.0;
        let flag = |bit: u32, c: char| if p & (1 << bit) != 0 { c.to_ascii_uppercase() } else { c };
        let sign = |bit: u32| if p & (1 << bit) != 0 { '+' } else { '-' };
        let btype = ["--", "j-", "-c", "jc"][((p >> 10) & 3) as usize];
        write!(
            f,
            "{:08x} ({}{}{}{} {}{}{}{} {}PAN {}UAO {}TCO {}DIT {}SSBS BTYPE={})",
            p,
            flag(31, 'n'),
            flag(30, 'z'),
            flag(29, 'c'),
            flag(28, 'v'),
            flag(9, 'd'),
            flag(8, 'a'),
            flag(7, 'i'),
            flag(6, 'f'),
            sign(22),
            sign(23),
            sign(25),
            sign(24),
            sign(12),
            btype
        )
    }
}

/// The CPU and its task: every context here is a CPU's idle context,
/// `swapper/N`, with PID 0 (Linux's show_regs_print_info line).
fn print_cpu_line(vector: Vector, class: u64) {
    let cpu = arch::percpu::smp_processor_id();
    emerg!("CPU: {cpu} PID: 0 Comm: swapper/{cpu} ({}: {})", vector.name(), ec_name(class));
}

fn dump_regs(f: &TrapFrame) {
    emerg!("pstate: {}", Pstate(f.spsr));
    emerg!("pc : {}", Sym(f.elr));
    emerg!("lr : {}", Sym(f.x[30]));
    emerg!("sp : {:016x}", f.sp);
    // Three to a line from x29 down: x29 x28 x27 / ... / x2 x1 x0.
    for hi in (2..30).rev().step_by(3) {
        let r = |i: usize| Reg(i, f.x[i]);
        emerg!("{} {} {}", r(hi), r(hi - 1), r(hi - 2));
    }
}

/// `x9 : 0000000000000000`: one register as Linux's dump prints it.
struct Reg(usize, u64);

impl core::fmt::Display for Reg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "x{:<2}: {:016x}", self.0, self.1)
    }
}

fn mem_abort_info(f: &TrapFrame) {
    let esr = f.esr;
    let iss = esr & 0x1ff_ffff;
    emerg!("Mem abort info:");
    emerg!("  ESR = {:#018x}", esr);
    emerg!(
        "  EC = {:#04x}: {}, IL = {} bits",
        esr_ec(esr),
        ec_name(esr_ec(esr)),
        if esr & (1 << 25) != 0 { 32 } else { 16 }
    );
    emerg!("  SET = {}, FnV = {}", (iss >> 11) & 3, (iss >> 10) & 1);
    emerg!("  EA = {}, S1PTW = {}", (iss >> 9) & 1, (iss >> 7) & 1);
    emerg!("  FSC = {:#04x}: {}", iss & 0x3f, fsc_level_name(iss));
    if esr_ec(esr) == ec::DABT_CUR || esr_ec(esr) == 0x24 {
        emerg!("Data abort info:");
        emerg!("  ISV = {}, ISS = {:#010x}", (iss >> 24) & 1, iss);
        emerg!("  CM = {}, WnR = {}", (iss >> 8) & 1, (iss >> 6) & 1);
    }
}

struct FscLevel(u64);
impl core::fmt::Display for FscLevel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let fsc = self.0 & 0x3f;
        if fsc < 0x10 && fsc & 0x3c != 0x08 {
            write!(f, "level {} {}", fsc & 3, fsc_name(fsc))
        } else {
            f.write_str(fsc_name(fsc))
        }
    }
}
fn fsc_level_name(iss: u64) -> FscLevel {
    FscLevel(iss)
}

/// The kernel's handler for every exception arch's fixups do not take.
pub fn handle_trap(f: &mut TrapFrame, vector: Vector) {
    // An interrupt, unless the entry found the stack overflowed (then it
    // is reported as the overflow it is).
    if is_irq(vector)
        && !vector.stack_overflowed()
        && let Some(h) = IRQ_HANDLER.get()
    {
        h(f, vector);
        return;
    }
    oops(f, vector)
}

/// An exception nothing expected: report it and end the run. Never
/// inlined, so an IRQ's path through [`handle_trap`] does not carry its
/// frame on the interrupted stack.
#[inline(never)]
fn oops(f: &mut TrapFrame, vector: Vector) {
    if IN_OOPS.swap(true, Ordering::SeqCst) {
        // A fault while reporting a fault: give up quietly but definitely.
        arch::semihosting::exit(ExitCode::Oops as u32);
        arch::cpu::park();
    }
    let class = esr_ec(f.esr);
    let (stack_lo, stack_hi) = this_stack();
    let guard_below = (stack_lo - arch::exception::STACK_SIZE, stack_lo);
    let guard_above = (stack_hi, stack_hi + mm::PAGE_SIZE);
    let in_guard = |g: (u64, u64)| vector.is_sync() && class == ec::DABT_CUR && f.far >= g.0 && f.far < g.1;
    if vector.stack_overflowed() || in_guard(guard_below) {
        bad_stack(f, vector, (stack_lo, stack_hi));
    }
    if !vector.is_sync() {
        emerg!("Unexpected {} exception at {} (ESR {:#018x})", vector.name(), Sym(f.elr), f.esr);
        dump_regs(f);
        emerg!("Kernel panic - not syncing: Unexpected {}", vector.name());
        exit(ExitCode::Oops);
    }
    let what = match class {
        ec::DABT_CUR | ec::IABT_CUR | 0x20 | 0x24 => {
            emerg!("Unable to handle kernel {} at virtual address {:016x}", fault_description(f), f.far);
            mem_abort_info(f);
            if let Some(note) = FAULT_NOTE.get() {
                note(f.far);
            }
            if in_guard(guard_above) {
                let cpu = arch::percpu::smp_processor_id();
                emerg!("FAR is in the guard page above the task stack of swapper/{cpu} (CPU {cpu}):");
                emerg!("Task stack:     [{:#018x}..{:#018x}]", stack_lo, stack_hi);
            }
            "Oops"
        }
        ec::UNKNOWN => "Oops - undefined instruction",
        ec::FP_ASIMD => "Oops - FP/SIMD access trapped (the kernel is built not to use FP/SIMD)",
        ec::BRK64 => "Oops - BUG",
        _ => "Oops - unexpected exception",
    };
    emerg!("Internal error: {}: {:016x} [#1] SMP", what, f.esr);
    print_cpu_line(vector, class);
    dump_regs(f);
    backtrace(Some((f.elr, f.x[30])), f.x[29], (stack_lo, stack_hi));
    emerg!("Kernel panic - not syncing: Oops: Fatal exception");
    exit(ExitCode::Oops);
}

/// What a kernel abort was, as Linux's __do_kernel_fault words it: a
/// permission fault by its access (a write, an instruction fetch, a read),
/// else a NULL pointer dereference or a paging request.
fn fault_description(f: &TrapFrame) -> &'static str {
    let class = esr_ec(f.esr);
    let fsc = f.esr & 0x3f;
    let permission = (0x0c..=0x0f).contains(&fsc);
    let write = class == ec::DABT_CUR && f.esr & (1 << 6) != 0;
    match (permission, class) {
        (true, ec::IABT_CUR) => "execute from non-executable memory",
        (true, ec::DABT_CUR) if write => "write to read-only memory",
        (true, ec::DABT_CUR) => "read from unreadable memory",
        _ if f.far < 0x1_0000 => "NULL pointer dereference",
        _ => "paging request",
    }
}

/// Linux arm64's panic_bad_stack: the kernel stack `stack` overflowed (the
/// vectors moved this handler to the CPU's overflow stack) or a load or
/// store hit the guard below it.
fn bad_stack(f: &TrapFrame, vector: Vector, stack: (u64, u64)) -> ! {
    let class = esr_ec(f.esr);
    let ovf_hi = arch::percpu::this_cpu_area().overflow_stack_top.load(Ordering::Relaxed);
    let ovf_lo = ovf_hi.saturating_sub(arch::percpu::OVERFLOW_STACK_SIZE as u64);
    emerg!("Insufficient stack space to handle exception!");
    emerg!("ESR: {:#018x} -- {}", f.esr, ec_name(class));
    emerg!("FAR: {:#018x}", f.far);
    emerg!("Task stack:     [{:#018x}..{:#018x}]", stack.0, stack.1);
    emerg!("Overflow stack: [{:#018x}..{:#018x}]", ovf_lo, ovf_hi);
    print_cpu_line(vector, class);
    dump_regs(f);
    // The frames of the stack that overflowed (this handler may run on the
    // overflow stack; the walk never leaves the task stack's bounds).
    backtrace(Some((f.elr, f.x[30])), f.x[29], stack);
    emerg!("Kernel panic - not syncing: kernel stack overflow");
    exit(ExitCode::Oops)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // No IRQ handler runs on this CPU from here (an exception's oops runs
    // masked already: the entry masks IRQs).
    arch::irqflags::local_irq_disable();
    if IN_OOPS.swap(true, Ordering::SeqCst) {
        arch::semihosting::exit(ExitCode::Panic as u32);
        arch::cpu::park();
    }
    match info.location() {
        Some(l) => emerg!("Kernel panic - not syncing: {} (at {}:{})", info.message(), l.file(), l.line()),
        None => emerg!("Kernel panic - not syncing: {}", info.message()),
    }
    backtrace(None, arch::cpu::frame_pointer(), this_stack());
    exit(ExitCode::Panic)
}
