//! printk: the kernel log, dmesg-style, on the console.
//!
//! Every line carries a timestamp from the generic timer and a level
//! (Linux's KERN_EMERG 0 .. KERN_DEBUG 7). A line is printed when its level
//! is below the console log level (`loglevel=`, default 7, as in Linux, so
//! debug lines need `loglevel=8`).
//!
//! Before the console is found in the device tree, lines go to a static
//! buffer (`LOG_BUF`, 32 KiB) and are replayed when the console comes up. If
//! it never does (no device tree, no UART), the buffer is written to the
//! semihosting console instead, so an early failure is still readable.
//!
//! A console UART that stops draining (its bounded wait ends in
//! `UartError::Stuck`) is dropped: the line it was writing and the rest go
//! to the log buffer again, and the drop is said on semihosting (if a host
//! listens) and in the buffer, which is flushed to semihosting at the end.
//!
//! The console log level never drops below 1 (as in Linux), so emergency
//! lines (level 0: fatal errors, `Kernel panic`) are always printed.
//!
//! Lock order: `LOG` is the only lock. It is taken with IRQs masked on the
//! CPU ([`with_log`]): IRQ handlers print, and one landing on a CPU that
//! holds the lock would spin on it for ever. The oops and panic paths, which may run
//! while it is held, print through [`emergency_write`], which does not take it.

use arch::uart::{Uart, UartError};
use core::fmt::{self, Write};
use spin::Mutex;

/// Log levels (Linux's KERN_*).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
#[allow(dead_code)] // the full set of Linux's levels, not all used yet
pub enum Level {
    /// System is unusable.
    Emerg = 0,
    /// Action must be taken immediately.
    Alert = 1,
    /// Critical conditions.
    Crit = 2,
    /// Error conditions.
    Err = 3,
    /// Warning conditions.
    Warning = 4,
    /// Normal but significant.
    Notice = 5,
    /// Informational.
    Info = 6,
    /// Debug-level messages.
    Debug = 7,
}

const LOG_BUF_SIZE: usize = 32 * 1024;

struct Log {
    console: Option<&'static Uart>,
    console_loglevel: u8,
    /// Bytes logged before the console came up.
    buf: [u8; LOG_BUF_SIZE],
    len: usize,
    dropped: usize,
    at_line_start: bool,
}

static LOG: Mutex<Log> = Mutex::new(Log {
    console: None,
    console_loglevel: 7,
    buf: [0; LOG_BUF_SIZE],
    len: 0,
    dropped: 0,
    at_line_start: true,
});

impl Log {
    fn emit(&mut self, bytes: &[u8]) {
        match self.console {
            Some(uart) => {
                if uart.write_bytes(bytes).is_err() {
                    self.drop_console(bytes);
                }
            }
            None => self.buffer(bytes),
        }
    }

    fn buffer(&mut self, bytes: &[u8]) {
        let room = LOG_BUF_SIZE - self.len;
        let n = room.min(bytes.len());
        self.buf[self.len..self.len + n].copy_from_slice(&bytes[..n]);
        self.len += n;
        self.dropped += bytes.len() - n;
    }

    /// The console stopped draining while writing `bytes`: drop it, keep
    /// `bytes` in the buffer, and say so where it can still be heard.
    fn drop_console(&mut self, bytes: &[u8]) {
        self.console = None;
        const MSG: &[u8] = b"\nprintk: console UART stuck (no room in its FIFO within the timeout): dropped as console; the log goes on in the log buffer and on semihosting\n";
        arch::semihosting::write_bytes(MSG);
        self.buffer(MSG);
        self.buffer(bytes);
    }
}

impl Write for Log {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.emit(s.as_bytes());
        Ok(())
    }
}

/// Write `[    s.uuuuuu] ` for the current time.
fn timestamp(w: &mut impl Write) {
    let ns = arch::timer::uptime_ns();
    let _ = write!(w, "[{:5}.{:06}] ", ns / 1_000_000_000, (ns / 1000) % 1_000_000);
}

/// Run `f` on the log with its lock held and this CPU's IRQs masked (an
/// IRQ handler that prints must not find the lock held under it).
fn with_log<R>(f: impl FnOnce(&mut Log) -> R) -> R {
    let flags = arch::irqflags::local_irq_save();
    let r = f(&mut LOG.lock());
    arch::irqflags::local_irq_restore(flags);
    r
}

/// Log one formatted message at `level`. Used through the `pr_*!` macros.
pub fn log(level: Level, args: fmt::Arguments<'_>) {
    with_log(|log| {
        if level as u8 >= log.console_loglevel {
            return;
        }
        // Split into lines so that each gets its own timestamp.
        let mut line = LineWriter { log };
        let _ = line.write_fmt(args);
        if !line.log.at_line_start {
            line.log.emit(b"\n");
            line.log.at_line_start = true;
        }
    })
}

struct LineWriter<'a> {
    log: &'a mut Log,
}

impl Write for LineWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.log.at_line_start {
                timestamp(self.log);
                self.log.at_line_start = false;
            }
            self.log.emit(piece.as_bytes());
            if piece.ends_with('\n') {
                self.log.at_line_start = true;
            }
        }
        Ok(())
    }
}

/// Log a multi-line report (anything written through `fmt::Write`) at info
/// level, one log line per line of text. Needs the heap.
pub fn log_report(f: impl FnOnce(&mut alloc::string::String) -> fmt::Result) -> fmt::Result {
    let mut text = alloc::string::String::new();
    f(&mut text)?;
    for line in text.lines() {
        log(Level::Info, format_args!("{line}"));
    }
    Ok(())
}

/// Write a file's text (a /proc or debugfs report) to the log as it is:
/// no timestamps, empty lines kept, and the whole text under one hold of
/// the log lock, so another CPU's messages cannot land inside it. A final
/// newline is added if the text lacks one. Shown at info level. Needs the
/// heap.
pub fn log_file(f: impl FnOnce(&mut alloc::string::String) -> fmt::Result) -> fmt::Result {
    let mut text = alloc::string::String::new();
    f(&mut text)?;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    with_log(|log| {
        // At info level, as the title line before it.
        if Level::Info as u8 >= log.console_loglevel {
            return;
        }
        if !log.at_line_start {
            log.emit(b"\n");
        }
        log.emit(text.as_bytes());
        log.at_line_start = true;
    });
    Ok(())
}

/// Log a line with no timestamp, whatever the log level: for lines other
/// programs read, such as the self-test summary.
pub fn log_bare(args: fmt::Arguments<'_>) {
    with_log(|log| {
        if !log.at_line_start {
            log.emit(b"\n");
            log.at_line_start = true;
        }
        let _ = log.write_fmt(args);
        log.emit(b"\n");
    })
}

/// Write what a user program wrote to fds 1 and 2: its bytes as they are
/// (no timestamp, no level), in order with the kernel's lines.
pub fn write_user_bytes(bytes: &[u8]) {
    write_raw(bytes);
}

/// Write bytes as they are (no timestamp, no level), in order with the
/// kernel's lines: a user program's output, the console shell's.
pub fn write_raw(bytes: &[u8]) {
    with_log(|log| {
        log.emit(bytes);
        if let Some(&last) = bytes.last() {
            log.at_line_start = last == b'\n';
        }
    })
}

/// A byte the console UART received, if one is waiting (None without a
/// console). Polled: the console's receive interrupt is not used.
pub fn console_getc() -> Option<u8> {
    with_log(|log| log.console).and_then(|uart| uart.getc())
}

/// Set the console log level (`loglevel=`), never below 1: as in Linux,
/// emergency lines (level 0) are always printed.
pub fn set_console_loglevel(level: u8) {
    with_log(|log| log.console_loglevel = level.clamp(1, 15));
}

/// The console is up: replay what was logged before it. A UART that does
/// not take the replay ([`UartError::Stuck`]) is not registered, and the
/// buffer is kept for the next one.
pub fn register_console(uart: &'static Uart) -> Result<(), UartError> {
    with_log(|log| {
        let len = log.len;
        uart.write_bytes(&log.buf[..len])?;
        if log.dropped > 0 {
            let dropped = log.dropped;
            log.console = Some(uart);
            let _ = writeln!(log, "printk: {dropped} early bytes dropped (log buffer full)");
        }
        log.console = Some(uart);
        log.len = 0;
        log.dropped = 0;
        Ok(())
    })
}

/// Switch the registered console to `uart` (the same device at another
/// mapping), under the log lock so no line is half-written through the old
/// one. Does nothing when no console is registered.
pub fn replace_console(uart: &'static Uart) {
    with_log(|log| {
        if log.console.is_some() {
            log.console = Some(uart);
        }
    })
}

/// Whether a console UART is registered.
pub fn have_console() -> bool {
    with_log(|log| log.console.is_some())
}

/// No console will come: send what was logged to the semihosting console.
pub fn flush_early_to_semihosting() {
    with_log(|log| {
        if log.console.is_none() {
            arch::semihosting::write_bytes(&log.buf[..log.len]);
        }
    })
}

/// Print without taking the log lock: for oops and panic, which may run while
/// it is held. Goes to the console if there is one, else to semihosting.
pub fn emergency_write(args: fmt::Arguments<'_>) {
    struct Emergency;
    impl Write for Emergency {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            // A stuck UART's bounded wait fails: semihosting instead.
            if console_unlocked().is_none_or(|uart| uart.write_bytes(s.as_bytes()).is_err()) {
                arch::semihosting::write_bytes(s.as_bytes());
            }
            Ok(())
        }
    }
    let mut e = Emergency;
    timestamp(&mut e);
    let _ = e.write_fmt(args);
    let _ = e.write_str("\n");
}

fn console_unlocked() -> Option<&'static Uart> {
    if let Some(log) = LOG.try_lock() {
        return log.console;
    }
    // The lock is held by the code we interrupted. Only one CPU runs and it is
    // stuck in the oops path, so break the lock rather than deadlock.
    // SAFETY: the holder will never run again (this path ends the run).
    unsafe { LOG.force_unlock() };
    LOG.try_lock().and_then(|l| l.console)
}

/// Log at a level: `printk!(Level::Info, "...")`.
#[macro_export]
macro_rules! printk {
    ($lvl:expr, $($arg:tt)*) => { $crate::console::printk::log($lvl, format_args!($($arg)*)) };
}
/// KERN_EMERG.
#[macro_export]
macro_rules! pr_emerg { ($($arg:tt)*) => { $crate::printk!($crate::console::printk::Level::Emerg, $($arg)*) }; }
/// KERN_ERR.
#[macro_export]
macro_rules! pr_err { ($($arg:tt)*) => { $crate::printk!($crate::console::printk::Level::Err, $($arg)*) }; }
/// KERN_WARNING.
#[macro_export]
macro_rules! pr_warn { ($($arg:tt)*) => { $crate::printk!($crate::console::printk::Level::Warning, $($arg)*) }; }
/// KERN_NOTICE.
#[macro_export]
macro_rules! pr_notice { ($($arg:tt)*) => { $crate::printk!($crate::console::printk::Level::Notice, $($arg)*) }; }
/// KERN_INFO.
#[macro_export]
macro_rules! pr_info { ($($arg:tt)*) => { $crate::printk!($crate::console::printk::Level::Info, $($arg)*) }; }
/// KERN_DEBUG.
#[macro_export]
macro_rules! pr_debug { ($($arg:tt)*) => { $crate::printk!($crate::console::printk::Level::Debug, $($arg)*) }; }
