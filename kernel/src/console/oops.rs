//! Oops, panic and the end of a run.
//!
//! An exception nothing expected, a kernel stack overflow, or a Rust panic
//! ends the run: the report goes out through `printk::emergency_write`
//! (which never blocks on the log lock), then the exit code leaves through
//! semihosting ([`exit`]): 3 for a panic, 4 for an oops. Without
//! semihosting the CPU parks after printing, so no path is a silent hang.

use super::exit::{ExitCode, exit};
use super::kallsyms::Sym;
use arch::exception::{TrapFrame, Vector, ec, ec_name, esr_ec, fsc_name};
use boot::sym;
use core::sync::atomic::{AtomicBool, Ordering};

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

fn on_known_stack(addr: u64) -> bool {
    let (lo, hi) = this_stack();
    addr >= lo && addr < hi
}

/// Print a backtrace by walking frame records from `fp`.
pub fn backtrace(pc: Option<u64>, mut fp: u64) {
    emerg!("Call trace:");
    if let Some(pc) = pc {
        emerg!(" {}", Sym(pc));
    }
    for _ in 0..32 {
        if fp == 0 || !fp.is_multiple_of(16) || !on_known_stack(fp) || !on_known_stack(fp + 8) {
            break;
        }
        // SAFETY: fp is 16-byte aligned and inside a mapped kernel stack
        // (checked above), so both words are readable.
        let (next, lr) = unsafe { ((fp as *const u64).read(), ((fp + 8) as *const u64).read()) };
        if lr == 0 {
            break;
        }
        emerg!(" {}", Sym(lr));
        if next <= fp {
            break;
        }
        fp = next;
    }
}

fn dump_regs(f: &TrapFrame) {
    emerg!("pc : {}", Sym(f.elr));
    emerg!("lr : {}", Sym(f.x[30]));
    emerg!("sp : {:016x}  pstate: {:08x}", f.sp, f.spsr);
    let mut i = 29i32;
    while i >= 0 {
        if i >= 1 {
            emerg!("x{:<2}: {:016x} x{:<2}: {:016x}", i, f.x[i as usize], i - 1, f.x[i as usize - 1]);
        } else {
            emerg!("x{:<2}: {:016x}", i, f.x[i as usize]);
        }
        i -= 2;
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
    if IN_OOPS.swap(true, Ordering::SeqCst) {
        // A fault while reporting a fault: give up quietly but definitely.
        arch::semihosting::exit(ExitCode::Oops as u32);
        arch::cpu::park();
    }
    let class = esr_ec(f.esr);
    let (stack_lo, stack_hi) = this_stack();
    let guard = (stack_lo - arch::exception::STACK_SIZE, stack_lo);
    let guard_hit = vector.is_sync() && (class == ec::DABT_CUR) && f.far >= guard.0 && f.far < guard.1;
    if vector.stack_overflowed() || guard_hit {
        emerg!("Insufficient stack space to handle exception!");
        emerg!("ESR: {:#018x} -- {}", f.esr, ec_name(class));
        emerg!("FAR: {:#018x}", f.far);
        emerg!("Task stack:     [{:#018x}..{:#018x}]", stack_lo, stack_hi);
        emerg!("Guard page:     [{:#018x}..{:#018x}]", guard.0, guard.1);
        dump_regs(f);
        emerg!("Kernel panic - not syncing: kernel stack overflow");
        exit(ExitCode::Oops);
    }
    if !vector.is_sync() {
        emerg!("Unexpected {} exception at {} (ESR {:#018x})", vector.name(), Sym(f.elr), f.esr);
        dump_regs(f);
        emerg!("Kernel panic - not syncing: Unexpected {}", vector.name());
        exit(ExitCode::Oops);
    }
    let what = match class {
        ec::DABT_CUR | ec::IABT_CUR | 0x20 | 0x24 => {
            let kind = if f.far < 0x1_0000 { "NULL pointer dereference" } else { "paging request" };
            emerg!("Unable to handle kernel {} at virtual address {:016x}", kind, f.far);
            mem_abort_info(f);
            "Oops"
        }
        ec::UNKNOWN => "Oops - undefined instruction",
        ec::FP_ASIMD => "Oops - FP/SIMD access trapped (the kernel is built not to use FP/SIMD)",
        ec::BRK64 => "Oops - BUG",
        _ => "Oops - unexpected exception",
    };
    emerg!("Internal error: {}: {:016x} [#1] SMP", what, f.esr);
    let cpu = arch::percpu::smp_processor_id();
    emerg!("CPU: {cpu} PID: 0 Comm: swapper/{cpu} ({}: {})", vector.name(), ec_name(class));
    dump_regs(f);
    backtrace(Some(f.elr), f.x[29]);
    emerg!("Kernel panic - not syncing: Oops: Fatal exception");
    exit(ExitCode::Oops);
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    if IN_OOPS.swap(true, Ordering::SeqCst) {
        arch::semihosting::exit(ExitCode::Panic as u32);
        arch::cpu::park();
    }
    match info.location() {
        Some(l) => emerg!("Kernel panic - not syncing: {} (at {}:{})", info.message(), l.file(), l.line()),
        None => emerg!("Kernel panic - not syncing: {}", info.message()),
    }
    backtrace(None, arch::cpu::frame_pointer());
    exit(ExitCode::Panic)
}
