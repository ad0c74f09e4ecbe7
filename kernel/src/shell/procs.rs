//! `run`, `ps`, `kill` and the background jobs.
//!
//! A program runs as a process with no parent (the kernel's, like the
//! self-tests' programs): in the foreground the shell polls, every 10 ms,
//! for its end and for a Ctrl-C on the console (which sends SIGINT; bytes
//! typed meanwhile are kept for the prompt). With `&` it runs on while the
//! shell takes commands; each prompt first reports the jobs that ended
//! (`[1]+ Done ...`) and reaps them. A program's `reboot(2)` power off
//! (`run poweroff`) ends the whole run, with exit code 0, as it does when
//! it is the first program.

use super::input::ConsoleInput;
use super::out::{say, strerror};
use crate::process::exec::spawn_program;
use crate::process::pid::{self, ProcState, Process};
use crate::process::{exit, programs, signal};
use crate::sched;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

/// The environment programs start with (Linux's init gets the same).
const ENVP: &[&str] = &["HOME=/", "TERM=linux"];
/// SIGINT, what Ctrl-C sends.
const SIGINT: u32 = 2;

/// A program started with `&`.
struct Job {
    nr: u32,
    process: Arc<Process>,
    command: String,
}

/// The background jobs.
pub struct Jobs {
    next: u32,
    running: Vec<Job>,
}

/// The program `name` names: an initramfs path (`/init`, followed through
/// symlinks), else a built-in program (`hello`, `/memtouch`).
fn find_program(name: &str) -> Option<&'static [u8]> {
    let path = if name.starts_with('/') { String::from(name) } else { alloc::format!("/{name}") };
    if let Ok(f) = crate::init::initramfs::resolve(path.as_bytes())
        && f.is_regular()
    {
        return Some(f.data);
    }
    programs::find(name)
}

/// How a wait status reads: `exit status 0`, `signal 9`.
fn status(wstatus: i32) -> String {
    let sig = wstatus & 0x7f;
    if sig == 0 { alloc::format!("exit status {}", (wstatus >> 8) & 0xff) } else { alloc::format!("signal {sig}") }
}

fn is_zombie(p: &Process) -> bool {
    matches!(*p.state.lock(), ProcState::Zombie(_))
}

impl Jobs {
    /// None yet.
    pub const fn new() -> Self {
        Self { next: 1, running: Vec::new() }
    }

    /// `run PROGRAM [ARGS...] [&]`.
    #[inline(never)]
    pub fn run(&mut self, argv: &[&str], background: bool, input: &mut ConsoleInput) {
        let name = argv[0];
        let Some(image) = find_program(name) else {
            let builtin: Vec<&str> = programs::PROGRAMS.iter().map(|(n, _)| *n).collect();
            say!("shell: run: {name}: no such program (built in: {}; or a path in the initramfs)", builtin.join(" "));
            return;
        };
        let p = match spawn_program(image, argv, ENVP, 0, false) {
            Ok(p) => p,
            Err(e) => {
                say!("shell: run: {name}: {} ({e})", strerror(e.errno()));
                return;
            }
        };
        if background {
            let nr = self.next;
            self.next += 1;
            say!("[{nr}] {}", p.pid);
            self.running.push(Job { nr, process: p, command: argv.join(" ") });
            return;
        }
        let mut interrupted = false;
        while !is_zombie(&p) {
            if !interrupted && input.take_interrupt() {
                interrupted = true;
                let _ = signal::kill(p.pid, SIGINT);
            }
            sched::msleep(10);
        }
        let wstatus = exit::wait_detached(&p);
        let how = if wstatus & 0x7f == 0 { "" } else { "killed by " };
        say!("[pid {}] {name}: {how}{}", p.pid, status(wstatus));
    }

    /// Report and reap the jobs that ended (before a prompt).
    #[inline(never)]
    pub fn reap(&mut self) {
        let (done, running): (Vec<Job>, Vec<Job>) =
            core::mem::take(&mut self.running).into_iter().partition(|j| is_zombie(&j.process));
        self.running = running;
        for j in done {
            let wstatus = exit::wait_detached(&j.process);
            let how = if wstatus & 0x7f == 0 { "Done" } else { "Killed" };
            say!("[{}]+ {how} ({}) {}", j.nr, status(wstatus), j.command);
        }
    }

    /// `ps`: the user processes (kernel threads are not processes here).
    #[inline(never)]
    pub fn ps(&self) {
        say!("  PID  PPID S   RSS COMMAND");
        for p in pid::all_processes() {
            let state = if is_zombie(&p) { 'Z' } else { 'R' };
            let rss_kb = p.mm().map_or(0, |mm| mm.rss() * (mm::PAGE_SIZE >> 10));
            let cmd = self
                .running
                .iter()
                .find(|j| Arc::ptr_eq(&j.process, &p))
                .map_or_else(|| p.comm(), |j| j.command.clone());
            say!("{:5} {:5} {state} {:5} {cmd}", p.pid, p.ppid.load(Ordering::Relaxed), rss_kb);
        }
    }
}

/// `kill [-SIG] PID`.
#[inline(never)]
pub fn kill(sig: u32, pid: i32) {
    if let Err(e) = signal::kill(pid, sig) {
        say!("shell: kill: ({pid}) - {}", strerror(e));
    }
}
