//! The shell's input: the console UART's receive side, polled.
//!
//! The UART's receive interrupt is not wired up; instead the shell looks
//! at the UART and, when nothing came, sleeps (`sched::msleep`), so the
//! CPU waits in `wfi` until its next tick (HZ=250) rather than spinning.
//! While bytes keep coming (a pasted script, QEMU's stdin) the sleeps are
//! 1 ms, which the tick rounds up to 4 ms, so a receive FIFO of 16 bytes
//! (the PL011's; the mini UART's holds 8) is read at a few KiB/s; after
//! [`QUIET_POLLS`] empty looks the shell sleeps [`IDLE_SLEEP_MS`] at a
//! time. QEMU holds what the guest has not read (it reads its stdin only
//! as fast as the UART's FIFO empties), so nothing is lost: a script
//! piped in all at once runs line by line. When the input ends (QEMU's
//! stdin at EOF) the shell waits at its prompt for ever, the CPU idle; a
//! script ends with `poweroff`.

use crate::console::printk;
use crate::sched;
use alloc::collections::VecDeque;

/// Empty looks (at the tick's 4 ms each) before the shell sleeps longer.
const QUIET_POLLS: u32 = 50;
/// The sleep between looks once the console has been quiet a while.
const IDLE_SLEEP_MS: u64 = 20;

/// The receive side, with bytes read ahead (while a program ran) kept.
pub struct ConsoleInput {
    read_ahead: VecDeque<u8>,
    quiet: u32,
}

/// ETX, which Ctrl-C sends.
pub const CTRL_C: u8 = 0x03;

impl ConsoleInput {
    /// Nothing read yet.
    pub const fn new() -> Self {
        Self { read_ahead: VecDeque::new(), quiet: 0 }
    }

    /// The next byte, waiting (asleep) until one comes.
    pub fn read_byte(&mut self) -> u8 {
        loop {
            if let Some(b) = self.read_ahead.pop_front() {
                return b;
            }
            if let Some(b) = printk::console_getc() {
                self.quiet = 0;
                return b;
            }
            self.idle();
        }
    }

    /// Sleep once, as long as the console's quiet time calls for.
    pub fn idle(&mut self) {
        self.quiet = self.quiet.saturating_add(1);
        sched::msleep(if self.quiet < QUIET_POLLS { 1 } else { IDLE_SLEEP_MS });
    }

    /// While something else runs (a program in the foreground): read what
    /// has come, keep it for later, and say whether a Ctrl-C was among it
    /// (which is not kept).
    pub fn take_interrupt(&mut self) -> bool {
        let mut interrupted = false;
        while let Some(b) = printk::console_getc() {
            self.quiet = 0;
            if b == CTRL_C {
                interrupted = true;
            } else {
                self.read_ahead.push_back(b);
            }
        }
        interrupted
    }
}
