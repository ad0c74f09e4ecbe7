//! Bad accesses end the process with SIGSEGV (the parent sees WIFSIGNALED
//! and WTERMSIG 11 in wait4), bad buffers passed to the kernel are EFAULT,
//! and the stack grows on demand up to its limit.
use crate::util::{OrFail, TestResult, expect_errno, expect_segv, spawn_status};
use crate::{ensure, fail};
use core::hint::black_box;
use ulib::mem::{Mapping, probe_read, probe_write};
use ulib::sys::{self, PAGE_SIZE, map, prot};
use ulib::{Errno, println};

/// A store to a PROT_READ page, fresh or made read-only after writing.
pub fn write_readonly() -> TestResult {
    let ro = Mapping::new(PAGE_SIZE, prot::READ, map::ANON).or_fail("mmap(PROT_READ)")?;
    ensure!(ro.read_u64(0) == 0, "a fresh PROT_READ page does not read zero");
    expect_segv("store to a fresh PROT_READ page", || ro.write_u64(0, 1))?;
    let m = Mapping::anon(1).or_fail("mmap")?;
    m.write_u64(0, 0x1234);
    sys::mprotect(m.addr(), m.len(), prot::READ).or_fail("mprotect(PROT_READ)")?;
    ensure!(m.read_u64(0) == 0x1234, "the page lost its data at mprotect(PROT_READ)");
    expect_segv("store to a page made PROT_READ", || m.write_u64(8, 1))?;
    ensure!(m.read_u64(8) == 0, "the child's failed store is visible in the parent");
    Ok(())
}

/// Loads and stores to PROT_NONE, fresh and after mprotect.
pub fn prot_none() -> TestResult {
    let m = Mapping::new(2 * PAGE_SIZE, prot::NONE, map::ANON).or_fail("mmap(PROT_NONE)")?;
    expect_segv("load from PROT_NONE", || {
        black_box(m.read_u8(0));
    })?;
    expect_segv("store to PROT_NONE", || m.write_u8(PAGE_SIZE, 1))?;
    let w = Mapping::anon(1).or_fail("mmap")?;
    w.write_u64(0, 77);
    sys::mprotect(w.addr(), w.len(), prot::NONE).or_fail("mprotect(PROT_NONE)")?;
    expect_segv("load from a page made PROT_NONE", || {
        black_box(w.read_u64(0));
    })?;
    sys::mprotect(w.addr(), w.len(), prot::READ).or_fail("mprotect(PROT_READ)")?;
    ensure!(w.read_u64(0) == 77, "data lost across PROT_NONE and back");
    Ok(())
}

/// `mov w0, #42; ret`.
const RET_42: [u32; 2] = [0x5280_0540, 0xd65f_03c0];

fn write_code(m: &Mapping) {
    m.write_u64(0, RET_42[0] as u64 | (RET_42[1] as u64) << 32);
}

/// Makes freshly written code at `addr` visible to instruction fetch, as
/// a JIT does (EL0 may use these: SCTLR_EL1.UCI).
fn sync_icache(addr: usize) {
    // SAFETY: cache maintenance by address on a mapped line of our own
    // changes no memory contents and no register but none named.
    unsafe {
        core::arch::asm!(
            "dc cvau, {a}",
            "dsb ish",
            "ic ivau, {a}",
            "dsb ish",
            "isb",
            a = in(reg) addr,
            options(nostack, preserves_flags),
        );
    }
}

fn call(addr: usize) -> u32 {
    // SAFETY: the callers put RET_42 at addr, a complete AAPCS64 function
    // taking nothing and returning in w0; where the page is not executable
    // the call faults, which is what the test wants to see.
    let f: extern "C" fn() -> u32 = unsafe { core::mem::transmute::<usize, extern "C" fn() -> u32>(addr) };
    f()
}

/// Jumping into a PROT_READ|PROT_WRITE page is an instruction abort.
pub fn exec_nonexec() -> TestResult {
    let m = Mapping::anon(1).or_fail("mmap")?;
    write_code(&m);
    sync_icache(m.addr());
    expect_segv("call into a non-executable page", || {
        black_box(call(m.addr()));
    })
}

/// The same code runs once mprotect made the page PROT_READ|PROT_EXEC.
pub fn exec_after_mprotect() -> TestResult {
    let m = Mapping::anon(1).or_fail("mmap")?;
    write_code(&m);
    sync_icache(m.addr());
    sys::mprotect(m.addr(), m.len(), prot::READ | prot::EXEC).or_fail("mprotect(PROT_READ|PROT_EXEC)")?;
    let got = call(m.addr());
    ensure!(got == 42, "the JIT-style code returned {}, expected 42", got);
    Ok(())
}

/// Stores to the program's own text fault; loads from it work.
pub fn write_text() -> TestResult {
    let text = write_text as fn() -> TestResult as usize;
    // SAFETY: a load from our own text: no Rust object is written.
    let first = unsafe { probe_read(text) };
    black_box(first);
    expect_segv("store to the program's text", || {
        // SAFETY: expected to fault: text is mapped read+execute only. If it
        // did not fault, the child returns and the check fails.
        unsafe { probe_write(text, 0) };
    })
}

/// Loads and stores at address 0 and in the first page.
pub fn null_deref() -> TestResult {
    expect_segv("load from NULL", || {
        // SAFETY: address 0 is never mapped and belongs to no Rust object.
        black_box(unsafe { probe_read(0) });
    })?;
    expect_segv("store to 0x10", || {
        // SAFETY: as above.
        unsafe { probe_write(0x10, 1) };
    })
}

const FRAME_BYTES: usize = 16 * 1024;

/// Recurses `max - depth` more times with a 16 KiB frame each, and returns
/// how many frames still held what they stored once the deeper calls
/// returned.
#[inline(never)]
fn recurse(depth: usize, max: usize) -> usize {
    let mut frame = [0u8; FRAME_BYTES];
    frame[0] = depth as u8;
    frame[FRAME_BYTES / 2] = (depth >> 8) as u8;
    frame[FRAME_BYTES - 1] = !(depth as u8);
    let frame = black_box(&mut frame);
    let deeper = if depth + 1 < max { recurse(depth + 1, max) } else { 0 };
    let intact = frame[0] == depth as u8
        && frame[FRAME_BYTES / 2] == (depth >> 8) as u8
        && frame[FRAME_BYTES - 1] == !(depth as u8);
    deeper + intact as usize
}

/// The stack grows by 2 MiB on demand (128 frames of 16 KiB).
pub fn stack_growth_2m() -> TestResult {
    let frames = 2 * 1024 * 1024 / FRAME_BYTES;
    let intact = recurse(0, frames);
    ensure!(intact == frames, "{} of {} stack frames kept their contents", intact, frames);
    Ok(())
}

/// Growth past the 8 MiB RLIMIT_STACK default is a SIGSEGV (16 MiB tried).
pub fn stack_limit() -> TestResult {
    expect_segv("stack growth to 16 MiB", || {
        black_box(recurse(0, 16 * 1024 * 1024 / FRAME_BYTES));
    })
}

/// Bad buffers passed to the kernel: -EFAULT, never a crash.
pub fn efault() -> TestResult {
    expect_errno(sys::write_raw(1, 0, 16), Errno::EFAULT, "write(1, NULL, 16)")?;
    expect_errno(sys::write_raw(1, 0x10, 4), Errno::EFAULT, "write(1, 0x10, 4)")?;
    expect_errno(sys::write_raw(2, 0xffff_0000_0000_0000, 8), Errno::EFAULT, "write(2, <kernel address>, 8)")?;
    expect_errno(
        sys::write_raw(1, 0x0001_0000_0000_0000, 8),
        Errno::EFAULT,
        "write(1, <past the 48-bit user range>, 8)",
    )?;
    let none = Mapping::new(PAGE_SIZE, prot::NONE, map::ANON).or_fail("mmap(PROT_NONE)")?;
    expect_errno(sys::write_raw(1, none.addr(), 8), Errno::EFAULT, "write(1, <PROT_NONE page>, 8)")?;
    let hole = Mapping::anon(1).or_fail("mmap")?;
    let hole_addr = hole.addr();
    drop(hole);
    expect_errno(sys::write_raw(1, hole_addr, 8), Errno::EFAULT, "write(1, <unmapped page>, 8)")?;
    // A PROT_READ buffer is fine to write from.
    let ro = Mapping::anon(1).or_fail("mmap")?;
    let msg = b"fault: efault: writing from a PROT_READ buffer works\n";
    for (i, &b) in msg.iter().enumerate() {
        ro.write_u8(i, b);
    }
    sys::mprotect(ro.addr(), ro.len(), prot::READ).or_fail("mprotect(PROT_READ)")?;
    let n = sys::write_raw(1, ro.addr(), msg.len()).or_fail("write from PROT_READ")?;
    ensure!(n == msg.len(), "write from PROT_READ wrote {} of {} bytes", n, msg.len());
    // Pointers the kernel writes to.
    let r = sys::check(sys::syscall6(sys::nr::CLOCK_GETTIME, sys::clock::MONOTONIC, 0x10, 0, 0, 0, 0));
    expect_errno(r, Errno::EFAULT, "clock_gettime(CLOCK_MONOTONIC, 0x10)")?;
    let r = sys::check(sys::syscall6(sys::nr::CLOCK_GETTIME, sys::clock::MONOTONIC, ro.addr(), 0, 0, 0, 0));
    expect_errno(r, Errno::EFAULT, "clock_gettime(CLOCK_MONOTONIC, <PROT_READ page>)")?;
    let r = sys::check(sys::syscall6(sys::nr::NANOSLEEP, 0x10, 0, 0, 0, 0, 0));
    expect_errno(r, Errno::EFAULT, "nanosleep(0x10, NULL)")?;
    let m = Mapping::anon(1).or_fail("mmap")?;
    expect_errno(sys::mincore_raw(m.addr(), PAGE_SIZE, 0x10), Errno::EFAULT, "mincore(.., 0x10)")?;
    // The kernel survived all of it and the process can still print.
    let pid = spawn_status(|| 0).or_fail("fork")?;
    if sys::wait4(pid, 0).is_err() {
        fail!("wait4 after the EFAULT calls");
    }
    println!("fault: efault: the kernel refused every bad buffer");
    Ok(())
}
