//! The line editor: bytes from a serial console in, the echo out, a whole
//! line (or an interrupt) when the user presses Enter (or Ctrl-C).
//!
//! The cursor stays at the end of the line, which is all a terminal needs
//! to be told to erase: a backspace, a space, a backspace. So the editor
//! needs to know nothing about the terminal beyond that, nor about the
//! prompt in front of the line.
//!
//! ```text
//!   byte                   what happens                  echo
//!   0x20..=0x7e            appended (bell when full)     the byte
//!   BS 0x08, DEL 0x7f      last byte erased              BS SP BS
//!   CR, LF, CR LF          the line handed over          "\n"
//!   ETX 0x03 (Ctrl-C)      the line dropped              "^C\n"
//!   NAK 0x15 (Ctrl-U)      the line erased               BS SP BS per byte
//!   ESC [ A, ESC O A       one line back in the history  the line redrawn
//!   ESC [ B, ESC O B       one line forward (last: the   the line redrawn
//!                          line being typed before)
//!   other ESC sequences    read to their end, ignored    -
//!   other bytes            ignored                       -
//! ```
//!
//! The history keeps the last [`HISTORY_LEN`] distinct non-blank lines,
//! oldest first; a line equal to the one before it is not kept twice.
//! Everything has a fixed size (no heap): a line of [`LINE_MAX`] bytes and
//! the history's lines.

use core::fmt::Write;
use heapless::{Deque, String};

/// Longest line kept, in bytes (ASCII only).
pub const LINE_MAX: usize = 256;
/// Lines the history keeps.
pub const HISTORY_LEN: usize = 16;

/// What a byte fed to the editor finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Enter: the line as typed (possibly blank) is [`LineEditor::submitted`].
    Line,
    /// Ctrl-C: the line was dropped; the caller prompts again.
    Interrupt,
}

/// Where an escape sequence is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Esc {
    /// Not in one.
    None,
    /// After ESC.
    Start,
    /// After ESC [ or ESC O: parameter bytes until a final byte.
    Body,
}

/// The line being typed, the history, and the state of an escape sequence.
pub struct LineEditor {
    line: String<LINE_MAX>,
    /// The line Enter handed over last.
    submitted: String<LINE_MAX>,
    history: Deque<String<LINE_MAX>, HISTORY_LEN>,
    /// The history entry shown (0 = oldest), if the user went back.
    shown: Option<usize>,
    /// The line being typed when the user first went back.
    draft: String<LINE_MAX>,
    esc: Esc,
    /// The last byte was CR (so an LF right after it ends nothing).
    after_cr: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

const ERASE: &str = "\x08 \x08";
const BELL: &str = "\x07";

impl LineEditor {
    /// An empty line and history.
    pub const fn new() -> Self {
        Self {
            line: String::new(),
            submitted: String::new(),
            history: Deque::new(),
            shown: None,
            draft: String::new(),
            esc: Esc::None,
            after_cr: false,
        }
    }

    /// The line typed so far.
    pub fn line(&self) -> &str {
        &self.line
    }

    /// The line the last Enter handed over (until the next one).
    pub fn submitted(&self) -> &str {
        &self.submitted
    }

    /// The history, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &str> {
        self.history.iter().map(|s| s.as_str())
    }

    /// Take one byte; echo goes to `echo`. Returns what the byte finished,
    /// if anything. Echo failures are ignored (the line is kept either way).
    pub fn feed(&mut self, byte: u8, echo: &mut impl Write) -> Option<Input> {
        let after_cr = core::mem::replace(&mut self.after_cr, false);
        match self.esc {
            Esc::Start => {
                self.esc = if byte == b'[' || byte == b'O' { Esc::Body } else { Esc::None };
                return None;
            }
            Esc::Body => {
                // Parameter and intermediate bytes (0x20..=0x3f) go on; a
                // final byte (0x40..=0x7e) ends the sequence; anything else
                // breaks it off.
                if (0x20..=0x3f).contains(&byte) {
                    return None;
                }
                self.esc = Esc::None;
                match byte {
                    b'A' => self.history_back(echo),
                    b'B' => self.history_forward(echo),
                    _ => {}
                }
                return None;
            }
            Esc::None => {}
        }
        match byte {
            0x1b => self.esc = Esc::Start,
            b'\r' => {
                self.after_cr = true;
                return Some(self.submit(echo));
            }
            b'\n' if after_cr => {}
            b'\n' => return Some(self.submit(echo)),
            0x03 => {
                let _ = echo.write_str("^C\n");
                self.line.clear();
                self.shown = None;
                self.draft.clear();
                return Some(Input::Interrupt);
            }
            0x08 | 0x7f if self.line.pop().is_some() => {
                let _ = echo.write_str(ERASE);
            }
            0x15 => self.replace_line("", echo),
            0x20..=0x7e => {
                if self.line.push(byte as char).is_ok() {
                    let _ = echo.write_char(byte as char);
                } else {
                    let _ = echo.write_str(BELL);
                }
            }
            _ => {}
        }
        None
    }

    /// Enter: hand the line over and keep it in the history.
    fn submit(&mut self, echo: &mut impl Write) -> Input {
        let _ = echo.write_str("\n");
        core::mem::swap(&mut self.submitted, &mut self.line);
        self.line.clear();
        self.shown = None;
        self.draft.clear();
        let line = &self.submitted;
        let blank = line.trim().is_empty();
        if !blank && self.history.back().is_none_or(|last| last != line) {
            if self.history.is_full() {
                self.history.pop_front();
            }
            let _ = self.history.push_back(line.clone());
        }
        Input::Line
    }

    /// Erase what is shown and show `text` instead.
    fn replace_line(&mut self, text: &str, echo: &mut impl Write) {
        for _ in 0..self.line.len() {
            let _ = echo.write_str(ERASE);
        }
        self.line.clear();
        // Fits: every text shown came from a line of the same capacity.
        let _ = self.line.push_str(text);
        let _ = echo.write_str(&self.line);
    }

    fn history_back(&mut self, echo: &mut impl Write) {
        let at = match self.shown {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.line.clone();
                self.history.len() - 1
            }
            Some(0) => {
                let _ = echo.write_str(BELL);
                return;
            }
            Some(i) => i - 1,
        };
        self.shown = Some(at);
        let entry = self.history.iter().nth(at).cloned().unwrap_or_default();
        self.replace_line(&entry, echo);
    }

    fn history_forward(&mut self, echo: &mut impl Write) {
        let Some(i) = self.shown else { return };
        if i + 1 < self.history.len() {
            self.shown = Some(i + 1);
            let entry = self.history.iter().nth(i + 1).cloned().unwrap_or_default();
            self.replace_line(&entry, echo);
        } else {
            self.shown = None;
            let draft = core::mem::take(&mut self.draft);
            self.replace_line(&draft, echo);
        }
    }
}
