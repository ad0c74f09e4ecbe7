//! The Linux arm64 system call ABI: `svc #0` with the number in x8, up to
//! six arguments in x0-x5, the result in x0 (`-4095..=-1` is `-errno`);
//! every other register is preserved by the kernel. Numbers are those of
//! include/uapi/asm-generic/unistd.h, which arm64 uses.
//!
//! The memory-management calls take addresses as integers. They create no
//! Rust reference, and the programs use them only on memory reached
//! through [`crate::mem::Mapping`] or probed at raw addresses, never on the
//! stack, statics or anything a reference points at; that discipline, the
//! one C programs keep too, is what keeps them sound to call.
use crate::errno::Errno;
use core::arch::asm;

/// System call numbers (include/uapi/asm-generic/unistd.h).
pub mod nr {
    pub const WRITE: usize = 64;
    pub const EXIT: usize = 93;
    pub const EXIT_GROUP: usize = 94;
    pub const NANOSLEEP: usize = 101;
    pub const CLOCK_GETTIME: usize = 113;
    pub const SCHED_YIELD: usize = 124;
    pub const KILL: usize = 129;
    pub const REBOOT: usize = 142;
    pub const GETPID: usize = 172;
    pub const GETTID: usize = 178;
    pub const BRK: usize = 214;
    pub const MUNMAP: usize = 215;
    pub const CLONE: usize = 220;
    pub const MMAP: usize = 222;
    pub const MPROTECT: usize = 226;
    pub const MINCORE: usize = 232;
    pub const MADVISE: usize = 233;
    pub const WAIT4: usize = 260;
}

/// `PROT_*` (include/uapi/asm-generic/mman-common.h).
pub mod prot {
    pub const NONE: usize = 0;
    pub const READ: usize = 1;
    pub const WRITE: usize = 2;
    pub const EXEC: usize = 4;
    pub const RW: usize = READ | WRITE;
}

/// `MAP_*` (include/uapi/linux/mman.h, asm-generic/mman-common.h and mman.h).
pub mod map {
    pub const SHARED: usize = 0x01;
    pub const PRIVATE: usize = 0x02;
    pub const FIXED: usize = 0x10;
    pub const ANONYMOUS: usize = 0x20;
    pub const GROWSDOWN: usize = 0x0100;
    pub const NORESERVE: usize = 0x4000;
    pub const POPULATE: usize = 0x8000;
    pub const FIXED_NOREPLACE: usize = 0x10_0000;
    /// The usual private anonymous mapping.
    pub const ANON: usize = PRIVATE | ANONYMOUS;
}

/// `MADV_*` (include/uapi/asm-generic/mman-common.h).
pub mod madv {
    pub const WILLNEED: usize = 3;
    pub const DONTNEED: usize = 4;
}

/// Signal numbers (include/uapi/asm-generic/signal.h).
pub mod sig {
    pub const SIGKILL: i32 = 9;
    pub const SIGSEGV: i32 = 11;
    pub const SIGCHLD: i32 = 17;
}

/// Clock ids (include/uapi/linux/time.h).
pub mod clock {
    pub const REALTIME: usize = 0;
    pub const MONOTONIC: usize = 1;
}

/// `reboot(2)` magic numbers and commands (include/uapi/linux/reboot.h).
pub mod reboot_cmd {
    pub const MAGIC1: usize = 0xfee1_dead;
    pub const MAGIC2: usize = 672_274_793;
    pub const POWER_OFF: usize = 0x4321_fedc;
}

pub const STDIN: usize = 0;
pub const STDOUT: usize = 1;
pub const STDERR: usize = 2;

/// The page size every program here assumes (4 KiB: our kernel, and
/// Debian's arm64 kernel).
pub const PAGE_SIZE: usize = 4096;

/// A raw system call with six arguments (unused ones are ignored by the
/// kernel). Returns x0 as the kernel left it.
#[inline(always)]
pub fn syscall6(nr: usize, a0: usize, a1: usize, a2: usize, a3: usize, a4: usize, a5: usize) -> isize {
    let ret: isize;
    // SAFETY: `svc #0` enters the kernel, which preserves every register
    // but x0 (the Linux arm64 ABI) and touches only memory the arguments
    // name; the calls this module makes keep to the discipline of the
    // module comment, so no Rust-visible memory changes under the compiler
    // beyond what asm! without `nomem` already allows.
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr,
            inlateout("x0") a0 => ret,
            in("x1") a1,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            in("x5") a5,
            options(nostack),
        );
    }
    ret
}

/// Turns a raw return value into a `Result`.
pub fn check(ret: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&ret) { Err(Errno(-ret as i32)) } else { Ok(ret as usize) }
}

fn sc(nr: usize, a: [usize; 6]) -> Result<usize, Errno> {
    check(syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]))
}

/// `write(fd, buf, len)`.
pub fn write(fd: usize, buf: &[u8]) -> Result<usize, Errno> {
    write_raw(fd, buf.as_ptr() as usize, buf.len())
}

/// `write(fd, addr, len)` with any address, for bad-pointer tests: the
/// kernel reads from it, so no Rust memory is at stake.
pub fn write_raw(fd: usize, addr: usize, len: usize) -> Result<usize, Errno> {
    sc(nr::WRITE, [fd, addr, len, 0, 0, 0])
}

/// `exit(status)`: ends this thread (the whole process, as it has one).
pub fn exit(status: i32) -> ! {
    syscall6(nr::EXIT, status as usize, 0, 0, 0, 0, 0);
    unreachable_after_exit()
}

/// `exit_group(status)`: ends the process.
pub fn exit_group(status: i32) -> ! {
    syscall6(nr::EXIT_GROUP, status as usize, 0, 0, 0, 0, 0);
    unreachable_after_exit()
}

fn unreachable_after_exit() -> ! {
    // exit returned: nothing sensible is left to do but stop here.
    loop {
        // SAFETY: `brk` only raises a debug exception; it touches no memory.
        unsafe { asm!("brk #1", options(nomem, nostack)) };
    }
}

pub fn getpid() -> i32 {
    syscall6(nr::GETPID, 0, 0, 0, 0, 0, 0) as i32
}

pub fn gettid() -> i32 {
    syscall6(nr::GETTID, 0, 0, 0, 0, 0, 0) as i32
}

pub fn sched_yield() -> Result<(), Errno> {
    sc(nr::SCHED_YIELD, [0; 6]).map(drop)
}

/// `brk(addr)`: the new program break (the old one when `addr` is refused,
/// as the raw system call does: it never returns an errno).
pub fn brk(addr: usize) -> usize {
    syscall6(nr::BRK, addr, 0, 0, 0, 0, 0) as usize
}

/// `mmap(addr, len, prot, flags, -1, 0)`: anonymous mappings only.
pub fn mmap(addr: usize, len: usize, prot: usize, flags: usize) -> Result<usize, Errno> {
    sc(nr::MMAP, [addr, len, prot, flags, usize::MAX, 0])
}

pub fn munmap(addr: usize, len: usize) -> Result<(), Errno> {
    sc(nr::MUNMAP, [addr, len, 0, 0, 0, 0]).map(drop)
}

pub fn mprotect(addr: usize, len: usize, prot: usize) -> Result<(), Errno> {
    sc(nr::MPROTECT, [addr, len, prot, 0, 0, 0]).map(drop)
}

pub fn madvise(addr: usize, len: usize, advice: usize) -> Result<(), Errno> {
    sc(nr::MADVISE, [addr, len, advice, 0, 0, 0]).map(drop)
}

/// `mincore(addr, len, vec)`: one byte per page of the range, bit 0 set
/// when resident. `vec` must hold a byte per page.
pub fn mincore(addr: usize, len: usize, vec: &mut [u8]) -> Result<(), Errno> {
    assert!(vec.len() >= len.div_ceil(PAGE_SIZE), "mincore: vec too short");
    sc(nr::MINCORE, [addr, len, vec.as_mut_ptr() as usize, 0, 0, 0]).map(drop)
}

/// `mincore` with a raw vector address, for bad-pointer tests.
pub fn mincore_raw(addr: usize, len: usize, vec: usize) -> Result<(), Errno> {
    sc(nr::MINCORE, [addr, len, vec, 0, 0, 0]).map(drop)
}

/// Which side of a fork this is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fork {
    Child,
    Parent(i32),
}

/// `fork()`: `clone(SIGCHLD, 0, NULL, 0, NULL)`, as glibc's fork on arm64
/// (clone's arm64 argument order: flags, newsp, parent_tid, tls, child_tid).
pub fn fork() -> Result<Fork, Errno> {
    let pid = sc(nr::CLONE, [sig::SIGCHLD as usize, 0, 0, 0, 0, 0])?;
    Ok(if pid == 0 { Fork::Child } else { Fork::Parent(pid as i32) })
}

/// A `wait4` status word, decoded as the W* macros of <sys/wait.h> do.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct WaitStatus(pub i32);

impl WaitStatus {
    pub fn exited(self) -> bool {
        self.0 & 0x7f == 0
    }
    pub fn exit_status(self) -> i32 {
        (self.0 >> 8) & 0xff
    }
    pub fn signaled(self) -> bool {
        let low = self.0 & 0x7f;
        low != 0 && low != 0x7f
    }
    pub fn term_sig(self) -> i32 {
        self.0 & 0x7f
    }
}

impl core::fmt::Debug for WaitStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.exited() {
            write!(f, "exited with status {}", self.exit_status())
        } else if self.signaled() {
            write!(f, "killed by signal {}", self.term_sig())
        } else {
            write!(f, "status {:#x}", self.0)
        }
    }
}

/// `wait4(pid, &status, options, NULL)`: the reaped pid and its status.
pub fn wait4(pid: i32, options: usize) -> Result<(i32, WaitStatus), Errno> {
    let mut status: i32 = 0;
    let r = sc(nr::WAIT4, [pid as usize, &raw mut status as usize, options, 0, 0, 0])?;
    Ok((r as i32, WaitStatus(status)))
}

/// `wait4(pid, NULL, options, NULL)`: reaps without a status word.
pub fn wait4_nostatus(pid: i32, options: usize) -> Result<i32, Errno> {
    sc(nr::WAIT4, [pid as usize, 0, options, 0, 0, 0]).map(|r| r as i32)
}

pub fn kill(pid: i32, sig: i32) -> Result<(), Errno> {
    sc(nr::KILL, [pid as usize, sig as usize, 0, 0, 0, 0]).map(drop)
}

/// `reboot(LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, cmd, NULL)`.
pub fn reboot(cmd: usize) -> Result<(), Errno> {
    sc(nr::REBOOT, [reboot_cmd::MAGIC1, reboot_cmd::MAGIC2, cmd, 0, 0, 0]).map(drop)
}

/// `struct timespec` of the 64-bit ABI.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

impl Timespec {
    pub fn from_nanos(ns: u64) -> Timespec {
        Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
    }
    pub fn as_nanos(self) -> i128 {
        self.tv_sec as i128 * 1_000_000_000 + self.tv_nsec as i128
    }
}

pub fn clock_gettime(clock: usize) -> Result<Timespec, Errno> {
    let mut ts = Timespec::default();
    sc(nr::CLOCK_GETTIME, [clock, &raw mut ts as usize, 0, 0, 0, 0])?;
    Ok(ts)
}

/// `nanosleep(req, NULL)`.
pub fn nanosleep(req: &Timespec) -> Result<(), Errno> {
    sc(nr::NANOSLEEP, [req as *const Timespec as usize, 0, 0, 0, 0, 0]).map(drop)
}

/// Monotonic nanoseconds (panics if the clock is missing).
pub fn now_ns() -> i128 {
    clock_gettime(clock::MONOTONIC).expect("clock_gettime(CLOCK_MONOTONIC)").as_nanos()
}

pub fn sleep_ms(ms: u64) {
    nanosleep(&Timespec::from_nanos(ms * 1_000_000)).expect("nanosleep");
}
