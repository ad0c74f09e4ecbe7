//! Symbol names for oops and panic backtraces (Linux's kallsyms, simplified).
//!
//! The linker script reserves a fixed-size table at the end of rodata
//! (`KALLSYMS_SIZE` bytes between `__kallsyms_start` and `__kallsyms_end`);
//! after linking, `scripts/kallsyms.py` writes the function symbols into it,
//! in both the ELF and the Image. The table's size does not change, so no
//! address moves. Layout (little endian):
//!
//! ```text
//!   "KSYM" | u32 count | count x { u32 offset from _text, u32 size, u32 name offset } | names, NUL-terminated
//! ```
//! An unfilled table (all zeros) just means addresses print without names.

use boot::sym;

fn table() -> &'static [u8] {
    let start = sym!(__kallsyms_start);
    let end = sym!(__kallsyms_end);
    // SAFETY: the linker symbols bound the table the linker script reserves
    // in rodata, mapped read-only for the life of the kernel.
    unsafe { core::slice::from_raw_parts(start as *const u8, (end - start) as usize) }
}

fn rd32(t: &[u8], off: usize) -> Option<u32> {
    t.get(off..off + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The function containing `addr`: (name, offset into it, its size).
pub fn lookup(addr: u64) -> Option<(&'static str, u64, u64)> {
    let t = table();
    if t.get(0..4)? != b"KSYM" {
        return None;
    }
    let count = rd32(t, 4)? as usize;
    let text = sym!(_text);
    let rel = addr.checked_sub(text)?;
    if rel > u32::MAX as u64 {
        return None;
    }
    let entry = |i: usize| -> Option<(u64, u64, usize)> {
        let o = 8 + i * 12;
        Some((rd32(t, o)? as u64, rd32(t, o + 4)? as u64, rd32(t, o + 8)? as usize))
    };
    // Last entry with offset <= rel.
    let (mut lo, mut hi) = (0usize, count);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if entry(mid)?.0 <= rel {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let (off, size, name_off) = entry(lo.checked_sub(1)?)?;
    if size != 0 && rel >= off + size {
        return None;
    }
    let names = 8 + count * 12;
    let bytes = t.get(names + name_off..)?;
    let len = bytes.iter().position(|&b| b == 0)?;
    let name = core::str::from_utf8(&bytes[..len]).ok()?;
    Some((name, rel - off, size))
}

/// `name+0xoff/0xsize` or the bare address, like Linux's %pS.
pub struct Sym(pub u64);

impl core::fmt::Display for Sym {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match lookup(self.0) {
            Some((name, off, size)) => write!(f, "{name}+{off:#x}/{size:#x}"),
            None => write!(f, "{:#018x}", self.0),
        }
    }
}
