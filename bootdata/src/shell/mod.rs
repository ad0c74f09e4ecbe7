//! The console shell's pure half: the line editor and the command parser,
//! which need no hardware and so are tested on the host. The kernel's
//! `shell` module feeds the editor the bytes its console UART receives,
//! writes the echo back, and runs what [`parse`] makes of each line.
//!
//! ```text
//!   UART byte ──► LineEditor::feed ──► echo (BS SP BS, "^C", redrawn lines)
//!                      │ Enter
//!                      ▼
//!                 parse(line, limits) ──► Command ──► the kernel runs it
//!                      └──► ShellError: "shell: alloc_pages: order 12 out of range (0-10)"
//! ```
//!
//! | module    | what                                                         |
//! |-----------|--------------------------------------------------------------|
//! | `editor`  | [`LineEditor`]: echo, backspace, Ctrl-C, Ctrl-U, the history  |
//! | `command` | [`parse`] -> [`Command`] or [`ShellError`]; [`COMMANDS`]       |
//!
//! Like the command-line parser, neither allocates (fixed-capacity lines,
//! history and argument lists), and no input makes either panic.

mod command;
mod editor;

pub use command::{Args, COMMANDS, Command, ErrorKind, FreeWhat, Limits, MAX_ARGS, ShellError, number, parse, usage};
pub use editor::{HISTORY_LEN, Input, LINE_MAX, LineEditor};
