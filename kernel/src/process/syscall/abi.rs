//! The system call ABI's pieces shared by the handlers: Linux arm64's
//! numbers (include/uapi/asm-generic/unistd.h) and the result type.

use mm::mmap::Errno;

/// Linux arm64 system call numbers used here.
pub mod nr {
    pub const WRITE: u64 = 64;
    pub const WRITEV: u64 = 66;
    pub const EXIT: u64 = 93;
    pub const EXIT_GROUP: u64 = 94;
    pub const SET_TID_ADDRESS: u64 = 96;
    pub const NANOSLEEP: u64 = 101;
    pub const CLOCK_GETTIME: u64 = 113;
    pub const SCHED_YIELD: u64 = 124;
    pub const KILL: u64 = 129;
    pub const REBOOT: u64 = 142;
    pub const GETPID: u64 = 172;
    pub const GETPPID: u64 = 173;
    pub const GETUID: u64 = 174;
    pub const GETEUID: u64 = 175;
    pub const GETGID: u64 = 176;
    pub const GETEGID: u64 = 177;
    pub const GETTID: u64 = 178;
    pub const BRK: u64 = 214;
    pub const MUNMAP: u64 = 215;
    pub const CLONE: u64 = 220;
    pub const MMAP: u64 = 222;
    pub const MPROTECT: u64 = 226;
    pub const MINCORE: u64 = 232;
    pub const MADVISE: u64 = 233;
    pub const WAIT4: u64 = 260;
}

/// The result of a system call: a value for x0 or an errno.
pub type SysResult = Result<u64, Errno>;
