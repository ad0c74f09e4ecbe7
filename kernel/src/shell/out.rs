//! The shell's output: text written raw to the console (no timestamp, no
//! log level), a line at a time, in order with the kernel's log lines; and
//! the words its error lines use for errno values.

use crate::console::printk;
use core::fmt;
use mm::mmap::Errno;

/// The console, as a `fmt::Write` (the line editor's echo goes here).
pub struct Console;

impl fmt::Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        printk::write_raw(s.as_bytes());
        Ok(())
    }
}

/// Print `text` raw, a line per write: a long report does not hold the
/// log lock (and this CPU's interrupts) for all of its lines at once.
pub fn text(text: &str) {
    for line in text.split_inclusive('\n') {
        printk::write_raw(line.as_bytes());
    }
    if !text.is_empty() && !text.ends_with('\n') {
        printk::write_raw(b"\n");
    }
}

/// Print one formatted line raw (formatted first, written at once).
pub fn line(args: fmt::Arguments<'_>) {
    let mut s = alloc::string::String::new();
    let _ = fmt::write(&mut s, args);
    s.push('\n');
    printk::write_raw(s.as_bytes());
}

/// Print a line on the console, raw: `say!("handle {h}: ...")`.
macro_rules! say {
    ($($arg:tt)*) => { $crate::shell::out::line(format_args!($($arg)*)) };
}
pub(crate) use say;

/// strerror: the C library's words for an errno, as error lines print them.
pub fn strerror(e: Errno) -> &'static str {
    match e {
        Errno::EPERM => "Operation not permitted",
        Errno::ENOENT => "No such file or directory",
        Errno::ESRCH => "No such process",
        Errno::EINTR => "Interrupted system call",
        Errno::ENOEXEC => "Exec format error",
        Errno::ENOMEM => "Cannot allocate memory",
        Errno::EACCES => "Permission denied",
        Errno::EFAULT => "Bad address",
        Errno::EBUSY => "Device or resource busy",
        Errno::EEXIST => "File exists",
        Errno::ENOTDIR => "Not a directory",
        Errno::EISDIR => "Is a directory",
        Errno::EINVAL => "Invalid argument",
        Errno::E2BIG => "Argument list too long",
        Errno::ENAMETOOLONG => "File name too long",
        Errno::ENOSYS => "Function not implemented",
        other => other.name(),
    }
}

/// strerror of an `mm::Error`, through its errno.
pub fn mm_strerror(e: mm::Error) -> &'static str {
    strerror(Errno::from(e))
}
