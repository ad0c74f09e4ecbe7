//! memblock=debug: the per-call lines with the caller, and the dump.

use core::fmt;
use core::panic::Location;

use crate::addr::PhysAddr;
use crate::config::NodeId;
use crate::hal::{Hal, LogLevel};

use super::region::MemblockFlags;
use super::state::Memblock;

/// The call site shown in debug lines, Linux's `%pS` of `_RET_IP_`.
pub(super) struct Caller(&'static Location<'static>);

impl Caller {
    #[track_caller]
    pub(super) fn here() -> Self {
        Self(Location::caller())
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.0.file(), self.0.line())
    }
}

/// Linux prints ranges with an inclusive end: `base + size - 1`.
pub(super) fn incl_end(base: PhysAddr, size: u64) -> u64 {
    base.0.wrapping_add(size).wrapping_sub(1)
}

impl<H: Hal> Memblock<H> {
    /// Print the arrays as Linux's __memblock_dump_all does.
    pub fn dump(&self, out: &mut impl fmt::Write) -> fmt::Result {
        self.dump_lines(|line| {
            out.write_fmt(line)?;
            out.write_char('\n')
        })
    }

    /// Send the dump to the debug log if it is on (memblock_dump_all).
    pub fn dump_all(&self) {
        if self.debug {
            // The log sink cannot fail.
            let _ = self.dump_lines(|line| {
                H::log(LogLevel::Info, line);
                Ok(())
            });
        }
    }

    pub(super) fn dump_lines(&self, mut emit: impl FnMut(fmt::Arguments<'_>) -> fmt::Result) -> fmt::Result {
        emit(format_args!("MEMBLOCK configuration:"))?;
        emit(format_args!(
            " memory size = {:#018x} reserved size = {:#018x}",
            self.memory.total_size, self.reserved.total_size
        ))?;
        for t in [&self.memory, &self.reserved] {
            emit(format_args!(" {}.cnt  = {:#x}", t.name, t.cnt))?;
            for (idx, r) in t.regions().iter().enumerate() {
                let end = r.end_u64() - 1;
                if r.nid.is_valid() {
                    emit(format_args!(
                        " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes on node {} flags: {:#x}",
                        t.name,
                        idx,
                        r.base.0,
                        end,
                        r.size,
                        r.nid,
                        r.flags.bits()
                    ))?;
                } else {
                    emit(format_args!(
                        " {}[{:#x}]\t[{:#018x}-{:#018x}], {:#018x} bytes flags: {:#x}",
                        t.name,
                        idx,
                        r.base.0,
                        end,
                        r.size,
                        r.flags.bits()
                    ))?;
                }
            }
        }
        Ok(())
    }

    // ----- internals: debug ------------------------------------------------

    pub(super) fn dbg(&self, args: fmt::Arguments<'_>) {
        if self.debug {
            H::log(LogLevel::Info, args);
        }
    }

    pub(super) fn dbg_range(&self, func: &str, base: PhysAddr, size: u64, caller: Caller) {
        if self.debug {
            let end = incl_end(base, size);
            self.dbg(format_args!("{func}: [{:#018x}-{:#018x}] {caller}", base.0, end));
        }
    }

    /// `func: [start-end] nid=N flags=F caller` (memblock_add_node and
    /// __memblock_reserve's line).
    pub(super) fn dbg_range_nid(
        &self,
        func: &str,
        base: PhysAddr,
        size: u64,
        nid: NodeId,
        flags: MemblockFlags,
        caller: Caller,
    ) {
        if self.debug {
            let end = incl_end(base, size);
            self.dbg(format_args!(
                "{func}: [{:#018x}-{end:#018x}] nid={nid} flags={:x} {caller}",
                base.0,
                flags.bits()
            ));
        }
    }

    #[expect(clippy::too_many_arguments, reason = "one line of Linux's memblock_dbg format")]
    pub(super) fn dbg_alloc(
        &self,
        func: &str,
        size: u64,
        align: u64,
        nid: NodeId,
        min_addr: PhysAddr,
        max_addr: PhysAddr,
        caller: Caller,
    ) {
        if self.debug {
            self.dbg(format_args!(
                "{func}: {size} bytes align={align:#x} nid={nid} from={:#018x} max_addr={:#018x} {caller}",
                min_addr.0, max_addr.0
            ));
        }
    }
}
