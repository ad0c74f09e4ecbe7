//! The `fault` suite: user programs at EL0 on real translation. Each test
//! runs one scenario of the built-in `fault` program (user/programs: COW
//! after fork, the zero page, demand paging, stack growth, protections,
//! the memory system calls' errno rules, fork chains, OOM, preemption,
//! FP/SIMD) as its own process, started by the kernel with
//! `argv = ["fault", <name>]`. A test passes when the process exits with
//! status 0 and every page it used (its pages, its page tables, its kernel
//! stack, what the kernel allocated for it) is back with the allocator.

use super::harness::{PageCounts, Test, TestResult};
use crate::process::{exec, exit, pid};
use crate::{check, fail};

/// Run `fault <name>` and check its exit status and the page count.
fn run_fault(name: &str) -> TestResult {
    let Some(elf) = crate::process::programs::find("fault") else {
        fail!("the fault program is not built into the kernel");
    };
    // A first run settles what stays allocated once (slab caches of the
    // process structures, the zero page, vmalloc's per-CPU blocks).
    static WARM: spin::Once<()> = spin::Once::new();
    WARM.call_once(|| {
        if let Ok(p) = exec::spawn_program(elf, &["fault", "getpid"], &[], 0, false) {
            let _ = exit::wait_detached(&p);
        }
    });
    let before = PageCounts::now();
    let p = match exec::spawn_program(elf, &["fault", name], &[], 0, false) {
        Ok(p) => p,
        Err(e) => fail!("cannot start fault {name}: {e}"),
    };
    let wstatus = exit::wait_detached(&p);
    let pid = p.pid;
    drop(p);
    check!(pid::find_process(pid).is_none(), "fault {name}: pid {pid} still in the table after it was reaped");
    check!(
        wstatus == 0,
        "fault {name}: {}",
        if wstatus & 0x7f != 0 {
            alloc::format!("killed by signal {}", wstatus & 0x7f)
        } else {
            alloc::format!("exit status {}", (wstatus >> 8) & 0xff)
        }
    );
    PageCounts::now().check_back_to(&before)
}

macro_rules! fault_tests {
    ($($name:ident),* $(,)?) => {
        $(fn $name() -> TestResult { run_fault(stringify!($name)) })*
        pub const TESTS: &[Test] = &[$(Test { suite: "fault", name: stringify!($name), run: $name }),*];
    };
}

fault_tests!(
    getpid,
    cow_child_writes,
    cow_parent_writes,
    cow_mprotect_ro_before_fork,
    cow_parent_mprotect_after_fork,
    cow_zero_page,
    cow_child_exits_early,
    cow_nested_fork_chain,
    cow_madv_dontneed_child,
    shared_anon_across_fork,
    demand_zero_64m,
    write_readonly,
    prot_none,
    exec_nonexec,
    exec_after_mprotect,
    write_text,
    null_deref,
    stack_growth_2m,
    stack_limit,
    growsdown,
    brk,
    madv_dontneed,
    map_fixed,
    map_fixed_noreplace,
    map_populate_mincore,
    munmap_holes,
    mprotect_split,
    mincore,
    errno,
    efault,
    overcommit,
    fork_64_sequential,
    many_processes,
    kill_probe,
    kill_infinite_loop,
    fpsimd_registers,
    fpsimd_loops,
    clock_nanosleep,
    panic_exit_status,
    oom_runaway_child,
);
