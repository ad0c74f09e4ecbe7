//! System calls: Linux's arm64 ABI (arch/arm64/kernel/syscall.c over
//! include/uapi/asm-generic/unistd.h).
//!
//! `svc #0` with the number in x8 and up to six arguments in x0-x5; the
//! result goes back in x0, `-errno` on failure. Unknown numbers return
//! `-ENOSYS` and are logged once per number, as a kernel engineer wants to
//! see what a program expected.
//!
//! ```text
//!   abi.rs   the numbers, the result type
//!   mman.rs  brk mmap munmap mprotect madvise mincore
//!   this     write exit exit_group getpid getppid gettid sched_yield
//!            clone(fork) wait4 kill reboot clock_gettime nanosleep
//! ```

mod abi;
mod mman;

use abi::{SysResult, nr};

use super::pid::{self, Process};
use super::{exit, signal};
use crate::memory::user::uaccess::{UserPtr, copy_from_user, copy_to_user, put_user_i32};
use crate::sched;
use alloc::sync::Arc;
use arch::exception::TrapFrame;
use core::sync::atomic::{AtomicU64, Ordering};
use mm::mmap::Errno;

/// Run the system call in `frame` and put its result in x0.
pub fn dispatch(frame: &mut TrapFrame) {
    let a = [frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4], frame.x[5]];
    let number = frame.x[8];
    let Some(me) = pid::current_process() else {
        frame.x[0] = Errno::ENOSYS.as_neg() as u64;
        return;
    };
    let r = match number {
        nr::WRITE => sys_write(a[0], UserPtr(a[1]), a[2]),
        nr::WRITEV => sys_writev(a[0], UserPtr(a[1]), a[2]),
        nr::EXIT | nr::EXIT_GROUP => {
            signal::request_exit(a[0] as i32);
            Ok(0)
        }
        nr::SET_TID_ADDRESS => Ok(me.pid as u64),
        nr::GETPID | nr::GETTID => Ok(me.pid as u64),
        nr::GETPPID => Ok(me.ppid.load(Ordering::Relaxed) as u64),
        nr::GETUID | nr::GETEUID | nr::GETGID | nr::GETEGID => Ok(0),
        nr::SCHED_YIELD => {
            sched::yield_now();
            Ok(0)
        }
        nr::CLONE => super::fork::sys_clone(&me, frame, a[0], a[1], a[3]),
        nr::WAIT4 => sys_wait4(&me, a[0] as i32, UserPtr(a[1]), a[2], UserPtr(a[3])),
        nr::KILL => signal::kill(a[0] as i32, a[1] as u32).map(|_| 0),
        nr::REBOOT => sys_reboot(a[0] as u32, a[1] as u32, a[2] as u32),
        nr::CLOCK_GETTIME => sys_clock_gettime(a[0] as i32, UserPtr(a[1])),
        nr::NANOSLEEP => sys_nanosleep(UserPtr(a[0]), UserPtr(a[1])),
        nr::BRK => mman::sys_brk(&me, a[0]),
        nr::MMAP => mman::sys_mmap(&me, a[0], a[1], a[2] as u32, a[3] as u32, a[4] as i32, a[5]),
        nr::MUNMAP => mman::sys_munmap(&me, a[0], a[1]),
        nr::MPROTECT => mman::sys_mprotect(&me, a[0], a[1], a[2] as u32),
        nr::MADVISE => mman::sys_madvise(&me, a[0], a[1], a[2] as i32),
        nr::MINCORE => mman::sys_mincore(&me, a[0], a[1], UserPtr(a[2])),
        n => Err(unknown(&me, n)),
    };
    drop(me);
    frame.x[0] = match r {
        Ok(v) => v,
        Err(e) => e.as_neg() as u64,
    };
}

/// Numbers below this already logged once (a bitmap of 512).
static LOGGED: [AtomicU64; 8] = [const { AtomicU64::new(0) }; 8];

fn unknown(me: &Process, n: u64) -> Errno {
    let first = match LOGGED.get((n / 64) as usize) {
        Some(w) => w.fetch_or(1 << (n % 64), Ordering::Relaxed) & (1 << (n % 64)) == 0,
        None => true,
    };
    if first {
        crate::pr_warn!("{}[{}]: unimplemented system call {n}, returning -ENOSYS", me.comm(), me.pid);
    }
    Errno::ENOSYS
}

/// Bytes copied from user space per chunk by write.
const WRITE_CHUNK: usize = 256;

/// write(fd, buf, count): fds 0, 1 and 2 are the console.
fn sys_write(fd: u64, buf: UserPtr, count: u64) -> SysResult {
    if fd > 2 {
        return Err(Errno::EBADF);
    }
    let count = count.min(i32::MAX as u64 & !0xfff);
    let mut done = 0u64;
    let mut chunk = [0u8; WRITE_CHUNK];
    while done < count {
        let n = ((count - done) as usize).min(WRITE_CHUNK);
        let src = buf.add(done).ok_or(Errno::EFAULT)?;
        if let Err(e) = copy_from_user(&mut chunk[..n], src) {
            // Linux returns what was written before the fault, if anything.
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        crate::console::printk::write_user_bytes(&chunk[..n]);
        done += n as u64;
    }
    Ok(done)
}

/// writev(fd, iov, iovcnt).
fn sys_writev(fd: u64, iov: UserPtr, iovcnt: u64) -> SysResult {
    if iovcnt > 1024 {
        return Err(Errno::EINVAL);
    }
    let mut total = 0;
    for i in 0..iovcnt {
        let mut ent = [0u8; 16];
        copy_from_user(&mut ent, iov.add(i * 16).ok_or(Errno::EFAULT)?)?;
        let base = u64::from_le_bytes(ent[..8].try_into().unwrap_or([0; 8]));
        let len = u64::from_le_bytes(ent[8..].try_into().unwrap_or([0; 8]));
        total += sys_write(fd, UserPtr(base), len)?;
    }
    Ok(total)
}

/// wait4(pid, wstatus, options, rusage): WNOHANG (1) honoured; rusage is
/// zeroed when given.
fn sys_wait4(me: &Arc<Process>, pid: i32, wstatus: UserPtr, options: u64, rusage: UserPtr) -> SysResult {
    const WNOHANG: u64 = 1;
    const WUNTRACED: u64 = 2;
    const WCONTINUED: u64 = 8;
    const WALL: u64 = 0x4000_0000;
    const WCLONE: u64 = 0x8000_0000;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL | WCLONE) != 0 {
        return Err(Errno::EINVAL);
    }
    let (child, status) = exit::wait4(me, pid, options & WNOHANG != 0)?;
    if child != 0 {
        if wstatus.0 != 0 {
            put_user_i32(wstatus, status)?;
        }
        if rusage.0 != 0 {
            crate::memory::user::uaccess::clear_user(rusage, 144)?;
        }
    }
    Ok(child as u64)
}

/// reboot(magic1, magic2, cmd, arg): LINUX_REBOOT_CMD_POWER_OFF ends the
/// run with exit code 0, RESTART and HALT likewise end it; others EINVAL.
fn sys_reboot(magic1: u32, magic2: u32, cmd: u32) -> SysResult {
    const MAGIC1: u32 = 0xfee1_dead;
    const MAGIC2: [u32; 4] = [672_274_793, 85_072_278, 369_367_448, 537_993_216];
    const CMD_POWER_OFF: u32 = 0x4321_fedc;
    const CMD_RESTART: u32 = 0x0123_4567;
    const CMD_HALT: u32 = 0xcdef_0123;
    const CMD_CAD_ON: u32 = 0x89ab_cdef;
    const CMD_CAD_OFF: u32 = 0;
    if magic1 != MAGIC1 || !MAGIC2.contains(&magic2) {
        return Err(Errno::EINVAL);
    }
    match cmd {
        CMD_POWER_OFF | CMD_HALT | CMD_RESTART => {
            crate::pr_info!("reboot: system call from user space: power down");
            crate::console::exit::exit_status(0)
        }
        CMD_CAD_ON | CMD_CAD_OFF => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

/// A `struct timespec` from user space, checked as Linux checks it.
fn get_timespec(p: UserPtr) -> Result<(i64, i64), Errno> {
    let mut b = [0u8; 16];
    copy_from_user(&mut b, p)?;
    let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
    let nsec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok((sec, nsec))
}

fn put_timespec(p: UserPtr, ns: u64) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&((ns / 1_000_000_000) as i64).to_le_bytes());
    b[8..].copy_from_slice(&((ns % 1_000_000_000) as i64).to_le_bytes());
    copy_to_user(p, &b)
}

/// clock_gettime(clk, tp): every clock Linux has reads the counter here
/// (REALTIME starts at the epoch: there is no RTC).
fn sys_clock_gettime(clk: i32, tp: UserPtr) -> SysResult {
    // CLOCK_REALTIME 0 ... CLOCK_BOOTTIME_ALARM 9, CLOCK_TAI 11.
    if !(0..=11).contains(&clk) || clk == 10 {
        return Err(Errno::EINVAL);
    }
    put_timespec(tp, arch::timer::uptime_ns())?;
    Ok(0)
}

/// nanosleep(req, rem): sleeps the task; a fatal signal ends it early
/// (EINTR, with the time left in `rem`).
fn sys_nanosleep(req: UserPtr, rem: UserPtr) -> SysResult {
    let (sec, nsec) = get_timespec(req)?;
    let ns = (sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64);
    let end = arch::timer::uptime_ns().saturating_add(ns);
    sched::wait::sleep_ns_interruptible(ns, signal::fatal_signal_pending);
    let now = arch::timer::uptime_ns();
    if now < end {
        if rem.0 != 0 {
            put_timespec(rem, end - now)?;
        }
        return Err(Errno::EINTR);
    }
    Ok(0)
}
