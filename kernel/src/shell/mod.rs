//! The mm console: with `shell` on the command line, after the self-tests
//! the boot CPU reads commands from the console UART (either kind, PL011
//! or mini UART) and runs them, in the manner of a root shell on a Linux
//! machine poking at procfs and debugfs, until `poweroff`.
//!
//! # Pieces
//!
//! ```text
//!   input     the UART's receive side, polled; asleep (wfi) between looks
//!      │ bytes
//!      ▼
//!   bootdata::shell::LineEditor   echo, erase, Ctrl-C, history (host-tested)
//!      │ a line
//!      ▼
//!   bootdata::shell::parse        -> Command, or "shell: CMD: why" (host-tested)
//!      │
//!      ▼
//!   this file: dispatch ──► files    cat / ls / echo >: the report writers
//!                       ├─► handles  alloc_pages, kmalloc, vmalloc, cma_alloc,
//!                       │            fragment, free; kmem_cache_* (objects)
//!                       ├─► procs    run, ps, kill, background jobs
//!                       ├─► exit_verdict (poweroff)
//!                       └─► Deferred ──► the loop: selftest::run, bench::run
//!   out       every line raw on the console (no timestamp), a line at a time
//! ```
//!
//! Everything the shell holds it holds through the kernel's owning handles
//! (`Pages`, `KmallocBuf`, `VmallocBuf`, `CmaPages`, and `objects`' two),
//! so a handle freed is a handle dropped, and the only unsafe code is the
//! small `objects` module around SLUB's `kmem_cache_free` and
//! `kmem_cache_destroy`.
//!
//! # Where it runs
//!
//! In kernel_main, which is the boot CPU's idle task (swapper/0, pid 0):
//! it may sleep, and does so whenever the console is quiet (`input`), so an
//! idle prompt costs a tick's wake-up now and then, not a spinning CPU.
//! Commands run one at a time on that CPU; the only concurrency is the
//! programs `run` starts, on whichever CPU is least loaded. What the
//! kernel logs meanwhile (a `page allocation failure` warning, a BUG line)
//! comes out in the log's format, with its timestamp, between the shell's
//! raw lines.
//!
//! The stack is kernel_main's: 16 KiB, a quarter of it kernel_main's own
//! frame, and the self-test suites reach within 3 KiB of its end from
//! there. So the shell keeps its frames small (its state, the editor and
//! the line off the stack, each handler `#[inline(never)]`), and runs
//! `selftest` and `bench` from its loop, after the frames that parsed the
//! line are gone: the suites then run no deeper than at boot (the `stack`
//! suite's high-water mark is the same).
//!
//! # Ending
//!
//! `poweroff` ends the run as the boot would have without `shell`: exit
//! code 0 if no self-test failed (the boot's and those `selftest` ran
//! here), 1 otherwise (console::exit::exit_verdict). A script fed to
//! QEMU's stdin ends with `poweroff`; after the input ends the shell just
//! waits at its prompt. No console UART (semihosting only): the shell
//! does not start and the run ends as without it.
//!
//! Bad input is a one-line error and the prompt again; no input makes the
//! shell panic.

mod files;
mod handles;
mod input;
#[allow(unsafe_code)] // kmem_cache_free and kmem_cache_destroy of the shell's own objects and caches
mod objects;
mod out;
mod procs;

use crate::console::exit::exit_verdict;
use crate::console::printk;
use crate::selftest;
use bootdata::cmdline::{SelftestSel, TestName};
use bootdata::fixedstr::truncated;
use bootdata::shell::{COMMANDS, Command, Input, Limits, LineEditor, parse, usage};
use handles::Handles;
use input::ConsoleInput;
use out::{Console, say};
use procs::Jobs;

/// The prompt.
const PROMPT: &str = "mm# ";

/// The line editor and its history (4 KiB: kept off the boot stack).
static EDITOR: spin::Mutex<LineEditor> = spin::Mutex::new(LineEditor::new());

/// The shell's state between commands.
struct Shell {
    handles: Handles,
    jobs: Jobs,
    input: ConsoleInput,
    /// Self-tests passed and failed so far: the boot's and the shell's.
    passed: usize,
    failed: usize,
    /// Whether `selftest` ran here (then `poweroff` says the totals).
    ran_selftests: bool,
}

/// Run the console until `poweroff`. `passed` and `failed` are the boot's
/// self-test counts, the verdict so far.
///
/// The boot CPU's stack is 16 KiB and kernel_main's frame takes a quarter
/// of it. So the state and the line are on the heap, each command's
/// handler is a frame of its own (`#[inline(never)]`), and `selftest` and
/// `bench`, whose suites go deep, run from this loop once the frames that
/// parsed and dispatched the line are gone ([`Deferred`]).
#[inline(never)]
pub fn run(passed: usize, failed: usize) -> ! {
    if !printk::have_console() {
        crate::pr_warn!("shell: no console UART to read commands from; not started");
        exit_verdict(passed, failed)
    }
    let mut sh = alloc::boxed::Box::new(Shell {
        handles: Handles::new(),
        jobs: Jobs::new(),
        input: ConsoleInput::new(),
        passed,
        failed,
        ran_selftests: false,
    });
    say!("mm console: 'help' lists the commands, 'poweroff' ends the run");
    loop {
        match sh.read_and_run() {
            Some(Deferred::Selftest(sel)) => sh.run_selftests(&sel),
            Some(Deferred::Bench(mask)) => crate::bench::run(mask),
            None => {}
        }
    }
}

/// A command that runs after its line's frames are gone (see [`run`]).
enum Deferred {
    /// `selftest`: what it selects.
    Selftest(alloc::boxed::Box<SelftestSel>),
    /// `bench`: the suites (bit i is `BENCH_SUITES[i]`).
    Bench(u32),
}

/// Feed the line editor one byte (its frame holds a line or two).
#[inline(never)]
fn feed_editor(b: u8) -> Option<Input> {
    EDITOR.lock().feed(b, &mut Console)
}

impl Shell {
    /// Prompt, read a line (echoing it), run it, or hand back what is to
    /// run once this frame is gone.
    #[inline(never)]
    fn read_and_run(&mut self) -> Option<Deferred> {
        self.jobs.reap();
        printk::write_raw(PROMPT.as_bytes());
        loop {
            let b = self.input.read_byte();
            match feed_editor(b) {
                None => {}
                Some(Input::Interrupt) => return None,
                Some(Input::Line) => break,
            }
        }
        let line = alloc::string::String::from(EDITOR.lock().submitted());
        self.execute(&line)
    }

    #[inline(never)]
    fn execute(&mut self, line: &str) -> Option<Deferred> {
        let limits = Limits { max_order: mm::config::MAX_PAGE_ORDER };
        let cmd = match parse(line, &limits) {
            Ok(c) => c,
            Err(e) => {
                say!("{e}");
                return None;
            }
        };
        match cmd {
            Command::Empty => {}
            Command::Help(topic) => help(topic),
            Command::Cat(paths) => files::cat(&paths),
            Command::Ls(path) => files::ls(path),
            Command::Echo { text, to: None } => echo(text),
            Command::Echo { text, to: Some(path) } => files::write(path, text, &self.handles),
            Command::AllocPages { order, gfp, node } => self.handles.alloc_pages(order, gfp, node),
            Command::Free(what) => self.handles.free(&what),
            Command::Kmalloc { size_bytes, gfp } => self.handles.kmalloc(size_bytes, gfp),
            Command::KmemCacheCreate { name, size_bytes } => self.handles.kmem_cache_create(name, size_bytes),
            Command::KmemCacheAlloc { name } => self.handles.kmem_cache_alloc(name),
            Command::KmemCacheDestroy { name } => self.handles.kmem_cache_destroy(name),
            Command::Vmalloc { size_bytes } => self.handles.vmalloc(size_bytes),
            Command::CmaAlloc { nr_pages, area } => self.handles.cma_alloc(nr_pages, area),
            Command::Fragment { zone, node } => self.handles.fragment(zone, node),
            Command::Handles => self.handles.list(),
            Command::Run { argv, background } => self.jobs.run(&argv, background, &mut self.input),
            Command::Ps => self.jobs.ps(),
            Command::Kill { sig, pid } => procs::kill(sig, pid),
            Command::Selftest(name) => return selection(name).map(Deferred::Selftest),
            Command::Bench(mask) => return Some(Deferred::Bench(mask)),
            Command::Sleep(ms) => crate::sched::msleep(ms),
            Command::Poweroff => self.poweroff(),
        }
        None
    }

    /// `selftest [SUITE[.TEST]]`: the runner's own lines, and its
    /// `selftest: N passed, M failed` for this run; counted in the verdict.
    #[inline(never)]
    fn run_selftests(&mut self, sel: &SelftestSel) {
        let (p, f) = selftest::run(sel);
        if p + f == 0 {
            say!("selftest: nothing to run (the fault and userload suites run only when named)");
        }
        self.passed += p;
        self.failed += f;
        self.ran_selftests = true;
    }

    /// `poweroff`: the verdict so far, as the run's exit code.
    fn poweroff(&self) -> ! {
        if self.ran_selftests && self.passed + self.failed > 0 {
            printk::log_bare(format_args!("selftest: {} passed, {} failed", self.passed, self.failed));
        }
        exit_verdict(self.passed, self.failed)
    }
}

/// The self-tests `name` selects, on the heap (a selection is 520 bytes);
/// `None` after the error line for a name that is not registered.
#[inline(never)]
fn selection(name: Option<TestName<'_>>) -> Option<alloc::boxed::Box<SelftestSel>> {
    Some(alloc::boxed::Box::new(match name {
        None => SelftestSel::All,
        Some(n) => {
            if let Err(u) = selftest::lookup(&n) {
                say!("shell: selftest: no such {} \"{n}\"", u.what());
                return None;
            }
            let mut list = alloc::string::String::new();
            let _ = core::fmt::write(&mut list, format_args!("{n}"));
            SelftestSel::Only(truncated(&list))
        }
    }))
}

/// `echo TEXT`: its words joined by one blank, as a shell's echo gets them.
#[inline(never)]
fn echo(text: &str) {
    let words: alloc::vec::Vec<&str> = text.split_ascii_whitespace().collect();
    say!("{}", words.join(" "));
}

/// `help [COMMAND]`.
#[inline(never)]
fn help(topic: Option<&str>) {
    match topic {
        Some(cmd) => match usage(cmd) {
            Some(u) => say!("usage: {u}"),
            None => say!("shell: help: no help for \"{cmd}\" (no such command)"),
        },
        None => {
            say!("commands (one a line; # starts a comment; Up/Down: history, Ctrl-C: drop the line):");
            for (_, u, what) in COMMANDS {
                say!("  {u:<34} {what}");
            }
            say!("files: ls /proc, ls /proc/sys/vm, ls /sys/kernel/debug (cat prints them)");
        }
    }
}
