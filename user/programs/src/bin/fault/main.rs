//! fault: the page-fault and process self-test suite, one binary.
//!
//! ```text
//!   fault            run every test (also what `rdinit=/fault` does)
//!   fault all        the same
//!   fault NAME...    run the named tests
//!   fault list       print the test names
//! ```
//!
//! Every test runs in a child process of its own (fork, then wait4), so a
//! test that crashes or is killed is one failure, not the end of the run; a
//! watchdog child kills a test that has no verdict after 120 s (reported
//! as a timeout).
//! Each prints `fault: NAME ... ok` or `fault: NAME ... FAILED (why)`, a
//! failing one also the reason it found on stderr, and the run closes with
//! `fault: N passed, M failed`. The exit status is 0 when every test passed,
//! 1 when one failed and 2 for an unknown test name.
//!
//! The tests are written against the Linux arm64 ABI and nothing else, so
//! the same binary checks our kernel and real Linux (scripts/linux-check.sh).
//! They assume 4 KiB pages, no swap and Linux's default overcommit
//! heuristic (`vm.overcommit_memory=0`).
#![no_std]
#![no_main]

mod access;
mod cow;
mod procs;
mod util;
mod vm;

use ulib::{eprintln, println, sys};
use util::TestResult;

ulib::entry!(main);

/// A test: its name and the function that runs it (in a child).
type Test = (&'static str, fn() -> TestResult);

/// Every test, in the order `all` runs them.
const TESTS: &[Test] = &[
    ("getpid", procs::getpid),
    ("cow_child_writes", cow::child_writes),
    ("cow_parent_writes", cow::parent_writes),
    ("cow_mprotect_ro_before_fork", cow::mprotect_ro_before_fork),
    ("cow_parent_mprotect_after_fork", cow::parent_mprotect_after_fork),
    ("cow_zero_page", cow::zero_page),
    ("cow_child_exits_early", cow::child_exits_early),
    ("cow_nested_fork_chain", cow::nested_fork_chain),
    ("cow_madv_dontneed_child", cow::madv_dontneed_child),
    ("shared_anon_across_fork", cow::shared_anon_across_fork),
    ("demand_zero_64m", vm::demand_zero_64m),
    ("write_readonly", access::write_readonly),
    ("prot_none", access::prot_none),
    ("exec_nonexec", access::exec_nonexec),
    ("exec_after_mprotect", access::exec_after_mprotect),
    ("write_text", access::write_text),
    ("null_deref", access::null_deref),
    ("stack_growth_2m", access::stack_growth_2m),
    ("stack_limit", access::stack_limit),
    ("growsdown", vm::growsdown),
    ("brk", vm::brk),
    ("madv_dontneed", vm::madv_dontneed),
    ("map_fixed", vm::map_fixed),
    ("map_fixed_noreplace", vm::map_fixed_noreplace),
    ("map_populate_mincore", vm::map_populate_mincore),
    ("munmap_holes", vm::munmap_holes),
    ("mprotect_split", vm::mprotect_split),
    ("mincore", vm::mincore),
    ("errno", vm::errno),
    ("efault", access::efault),
    ("overcommit", vm::overcommit),
    ("fork_64_sequential", procs::fork_64_sequential),
    ("many_processes", procs::many_processes),
    ("kill_probe", procs::kill_probe),
    ("kill_infinite_loop", procs::kill_infinite_loop),
    ("fpsimd_registers", procs::fpsimd_registers),
    ("fpsimd_loops", procs::fpsimd_loops),
    ("clock_nanosleep", procs::clock_nanosleep),
    ("panic_exit_status", procs::panic_exit_status),
    ("oom_runaway_child", procs::oom_runaway_child),
];

fn main(args: &ulib::Args) -> i32 {
    let mut names: [&str; 64] = [""; 64];
    let mut nr_names = 0;
    for i in 1..args.argc() {
        let Some(name) = args.arg_str(i) else { continue };
        match name {
            "all" => {}
            "list" => {
                for (name, _) in TESTS {
                    println!("{}", name);
                }
                return 0;
            }
            _ if nr_names < names.len() => {
                names[nr_names] = name;
                nr_names += 1;
            }
            _ => {}
        }
    }
    for name in &names[..nr_names] {
        if !TESTS.iter().any(|(n, _)| n == name) {
            eprintln!("fault: no test named '{}' (try `fault list`)", name);
            return 2;
        }
    }
    println!("fault: pid {}, {} tests", sys::getpid(), if nr_names == 0 { TESTS.len() } else { nr_names });
    let (mut passed, mut failed) = (0, 0);
    for (name, test) in TESTS {
        if nr_names != 0 && !names[..nr_names].contains(name) {
            continue;
        }
        let t0 = sys::now_ns();
        let verdict = util::run_in_child(*test);
        let ms = (sys::now_ns() - t0) / 1_000_000;
        match verdict {
            Ok(()) => {
                passed += 1;
                println!("fault: {} ... ok ({} ms)", name, ms);
            }
            Err(why) => {
                failed += 1;
                println!("fault: {} ... FAILED ({:?})", name, why);
            }
        }
    }
    println!("fault: {} passed, {} failed", passed, failed);
    if failed == 0 { 0 } else { 1 }
}
