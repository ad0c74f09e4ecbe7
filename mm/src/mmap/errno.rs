//! Linux's errno values (include/uapi/asm-generic/errno-base.h and
//! errno.h, which arm64 uses unchanged). A system call returns
//! `-errno` in x0 on failure; [`Errno::as_neg`] gives that value.

use core::fmt;

/// An error number as a Linux system call reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Errno {
    /// Operation not permitted.
    EPERM = 1,
    /// No such file or directory.
    ENOENT = 2,
    /// No such process.
    ESRCH = 3,
    /// Interrupted system call.
    EINTR = 4,
    /// I/O error.
    EIO = 5,
    /// No such device or address.
    ENXIO = 6,
    /// Argument list too long.
    E2BIG = 7,
    /// Exec format error.
    ENOEXEC = 8,
    /// Bad file number.
    EBADF = 9,
    /// No child processes.
    ECHILD = 10,
    /// Try again.
    EAGAIN = 11,
    /// Out of memory.
    ENOMEM = 12,
    /// Permission denied.
    EACCES = 13,
    /// Bad address.
    EFAULT = 14,
    /// Device or resource busy.
    EBUSY = 16,
    /// File exists.
    EEXIST = 17,
    /// No such device.
    ENODEV = 19,
    /// Not a directory.
    ENOTDIR = 20,
    /// Is a directory.
    EISDIR = 21,
    /// Invalid argument.
    EINVAL = 22,
    /// Too many open files.
    EMFILE = 24,
    /// Not a typewriter.
    ENOTTY = 25,
    /// No space left on device.
    ENOSPC = 28,
    /// Illegal seek.
    ESPIPE = 29,
    /// Broken pipe.
    EPIPE = 32,
    /// Math result not representable.
    ERANGE = 34,
    /// File name too long.
    ENAMETOOLONG = 36,
    /// Invalid system call number.
    ENOSYS = 38,
    /// Value too large for the defined data type.
    EOVERFLOW = 75,
    /// Connection timed out.
    ETIMEDOUT = 110,
}

impl Errno {
    /// The positive error number.
    pub const fn as_i32(self) -> i32 {
        self as i32
    }

    /// The system call return value: `-errno`.
    pub const fn as_neg(self) -> i64 {
        -(self as i32 as i64)
    }

    /// The symbolic name, as in `<errno.h>`.
    pub const fn name(self) -> &'static str {
        match self {
            Errno::EPERM => "EPERM",
            Errno::ENOENT => "ENOENT",
            Errno::ESRCH => "ESRCH",
            Errno::EINTR => "EINTR",
            Errno::EIO => "EIO",
            Errno::ENXIO => "ENXIO",
            Errno::E2BIG => "E2BIG",
            Errno::ENOEXEC => "ENOEXEC",
            Errno::EBADF => "EBADF",
            Errno::ECHILD => "ECHILD",
            Errno::EAGAIN => "EAGAIN",
            Errno::ENOMEM => "ENOMEM",
            Errno::EACCES => "EACCES",
            Errno::EFAULT => "EFAULT",
            Errno::EBUSY => "EBUSY",
            Errno::EEXIST => "EEXIST",
            Errno::ENODEV => "ENODEV",
            Errno::ENOTDIR => "ENOTDIR",
            Errno::EISDIR => "EISDIR",
            Errno::EINVAL => "EINVAL",
            Errno::EMFILE => "EMFILE",
            Errno::ENOTTY => "ENOTTY",
            Errno::ENOSPC => "ENOSPC",
            Errno::ESPIPE => "ESPIPE",
            Errno::EPIPE => "EPIPE",
            Errno::ERANGE => "ERANGE",
            Errno::ENAMETOOLONG => "ENAMETOOLONG",
            Errno::ENOSYS => "ENOSYS",
            Errno::EOVERFLOW => "EOVERFLOW",
            Errno::ETIMEDOUT => "ETIMEDOUT",
        }
    }
}

/// What a system call reports when an mm operation underneath fails.
impl From<crate::Error> for Errno {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::NoMemory => Errno::ENOMEM,
            crate::Error::InvalidArgument => Errno::EINVAL,
            crate::Error::Busy => Errno::EBUSY,
            crate::Error::NotFound => Errno::ENOENT,
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn values_are_linux_arm64() {
        let table = [
            (Errno::EPERM, 1),
            (Errno::ENOENT, 2),
            (Errno::ESRCH, 3),
            (Errno::EINTR, 4),
            (Errno::EIO, 5),
            (Errno::E2BIG, 7),
            (Errno::ENOEXEC, 8),
            (Errno::EBADF, 9),
            (Errno::ECHILD, 10),
            (Errno::EAGAIN, 11),
            (Errno::ENOMEM, 12),
            (Errno::EACCES, 13),
            (Errno::EFAULT, 14),
            (Errno::EBUSY, 16),
            (Errno::EEXIST, 17),
            (Errno::EINVAL, 22),
            (Errno::ENOSYS, 38),
            (Errno::EOVERFLOW, 75),
        ];
        assert_eq!(Errno::from(crate::Error::NoMemory), Errno::ENOMEM);
        for (e, v) in table {
            assert_eq!(e.as_i32(), v, "{e}");
            assert_eq!(e.as_neg(), -(v as i64), "{e}");
        }
    }
}
