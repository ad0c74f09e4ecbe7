//! A string assembled in a fixed buffer on the stack, for formatting where
//! nothing may be allocated (a CMA area's made-up name at boot) or where a
//! line's length must be known before it is written out (the padding of
//! `/proc/<pid>/maps`). Writes that do not fit fail with `fmt::Error` and
//! leave what was written before.

use core::fmt;

/// Up to `N` bytes of UTF-8.
pub struct StackStr<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackStr<N> {
    /// Empty.
    pub const fn new() -> Self {
        Self { buf: [0; N], len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Append spaces up to column `col` (or the end of the buffer).
    pub fn pad_to(&mut self, col: usize) {
        while self.len < col.min(N) {
            self.buf[self.len] = b' ';
            self.len += 1;
        }
    }

    /// What was written.
    pub fn as_str(&self) -> &str {
        // Only whole `&str`s and ASCII spaces are ever written.
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Default for StackStr<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackStr<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::StackStr;
    use core::fmt::Write;

    #[test]
    fn writes_pads_and_refuses_what_does_not_fit() {
        let mut s = StackStr::<8>::new();
        assert!(s.is_empty());
        write!(s, "ab{}", 1).unwrap();
        s.pad_to(5);
        assert_eq!(s.as_str(), "ab1  ");
        assert!(s.write_str("xyzw").is_err());
        assert_eq!(s.as_str(), "ab1  ");
        s.pad_to(100);
        assert_eq!((s.len(), s.as_str()), (8, "ab1     "));
    }
}
