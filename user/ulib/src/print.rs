//! Formatted output without an allocator: a 512-byte line buffer flushed
//! with one `write` when it fills, at each newline, and on drop.
use crate::sys;
use core::fmt;

pub struct LineWriter {
    fd: usize,
    len: usize,
    buf: [u8; 512],
}

impl LineWriter {
    pub fn new(fd: usize) -> LineWriter {
        LineWriter { fd, len: 0, buf: [0; 512] }
    }

    fn flush(&mut self) {
        let mut done = 0;
        while done < self.len {
            match sys::write(self.fd, &self.buf[done..self.len]) {
                Ok(0) | Err(_) => break,
                Ok(n) => done += n,
            }
        }
        self.len = 0;
    }
}

impl fmt::Write for LineWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

#[doc(hidden)]
pub fn _print(fd: usize, args: fmt::Arguments<'_>) {
    let mut w = LineWriter::new(fd);
    let _ = fmt::Write::write_fmt(&mut w, args);
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::print::_print($crate::sys::STDOUT, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::print::_print($crate::sys::STDOUT, format_args!("{}\n", format_args!($($arg)*))) };
}

#[macro_export]
macro_rules! eprintln {
    ($($arg:tt)*) => { $crate::print::_print($crate::sys::STDERR, format_args!("{}\n", format_args!($($arg)*))) };
}
