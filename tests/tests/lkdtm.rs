//! Deliberate crashes (`lkdtm=`, after the self-tests: the quick suites,
//! [`QUICK_SUITES`]): each must be reported as what it is and end the run
//! with its own exit code, not hang.

use boot_tests::{Outcome, QUICK_SUITES, Qemu};

fn crash(kind: &str) -> Outcome {
    let out = Qemu::virt().append(&format!("selftest={QUICK_SUITES} lkdtm={kind}")).run();
    out.assert_not_timed_out();
    out.assert_selftests_passed();
    out
}

#[test]
fn panic_exits_3() {
    let out = crash("PANIC");
    out.assert_exit(3);
    out.assert_contains("Kernel panic");
}

#[test]
fn stack_overflow_is_caught_and_exits_4() {
    let out = crash("EXHAUST_STACK");
    out.assert_exit(4);
    out.assert_contains("kernel stack overflow");
}

/// An undefined instruction: ESR_ELx.EC 0x00, "Unknown reason".
#[test]
fn undefined_instruction_oopses_and_exits_4() {
    let out = crash("UNDEF");
    out.assert_exit(4);
    let log = out.log.to_lowercase();
    if !log.contains("oops") || !log.contains("unknown") {
        out.fail("no oops naming the exception class (EC 0x00, Unknown)");
    }
}

/// Kernel stacks: 16 KiB (Linux arm64's THREAD_SIZE); the debug build's
/// (`BOOT_TESTS_PROFILE=dev`) are 32 KiB (arch::exception::STACK_SHIFT).
fn stack_size() -> u64 {
    match std::env::var("BOOT_TESTS_PROFILE").as_deref() {
        Ok("dev" | "debug") => 32 << 10,
        _ => 16 << 10,
    }
}

/// The hex number after `prefix` on the first line holding `prefix`
/// (`0x` optional), or the test fails naming the line it wanted.
fn hex_after(out: &Outcome, prefix: &str) -> u64 {
    let Some(line) = out.line_with(prefix) else { out.fail(&format!("no line with {prefix:?}")) };
    let rest = &line[line.find(prefix).unwrap() + prefix.len()..];
    let rest = rest.trim_start().trim_start_matches("0x");
    let digits: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
    u64::from_str_radix(&digits, 16).unwrap_or_else(|_| out.fail(&format!("no number after {prefix:?} in {line:?}")))
}

/// The bounds on the `Task stack:     [0x...-..0x...]` line.
fn task_stack(out: &Outcome) -> (u64, u64) {
    let lo = hex_after(out, "Task stack:     [");
    let hi = hex_after(out, &format!("Task stack:     [{lo:#018x}.."));
    (lo, hi)
}

/// An overflow report in Linux's format: the lines of panic_bad_stack,
/// the register dump, the panic, with 16 KiB task stack bounds.
fn assert_overflow_report(out: &Outcome) -> (u64, u64) {
    for line in [
        "Insufficient stack space to handle exception!",
        "ESR: 0x",
        "FAR: 0x",
        "Overflow stack: [0x",
        "CPU: 0 PID: 0 Comm: swapper/0",
        "pstate: ",
        "pc : ",
        "x29: ",
        "Call trace:",
        "Kernel panic - not syncing: kernel stack overflow",
    ] {
        out.assert_contains(line);
    }
    let (lo, hi) = task_stack(out);
    let size = stack_size();
    if hi - lo != size || lo % (2 * size) != 0 {
        out.fail(&format!("task stack [{lo:#x}, {hi:#x}) is not {size:#x} bytes at a multiple of twice that"));
    }
    (lo, hi)
}

#[test]
fn stack_overflow_report_has_linux_format() {
    let out = crash("EXHAUST_STACK");
    out.assert_exit(4);
    let (lo, _) = assert_overflow_report(&out);
    let far = hex_after(&out, "FAR: ");
    if far >= lo || lo - far > stack_size() {
        out.fail(&format!("FAR {far:#x} is not in the guard below the stack at {lo:#x}"));
    }
}

/// Linux's STACK_GUARD_PAGE_LEADING: the byte below the stack is its guard.
#[test]
fn stack_guard_page_leading_is_a_stack_overflow() {
    let out = crash("STACK_GUARD_PAGE_LEADING");
    out.assert_exit(4);
    out.assert_contains("lkdtm: attempting bad read from page below current stack");
    let (lo, _) = assert_overflow_report(&out);
    let far = hex_after(&out, "FAR: ");
    if far != lo - 1 {
        out.fail(&format!("FAR {far:#x}, expected the byte below the stack, {:#x}", lo - 1));
    }
    if out.contains("FAIL:") {
        out.fail("lkdtm read the page below the stack");
    }
}

/// Linux's STACK_GUARD_PAGE_TRAILING: the byte above the stack's top is a
/// guard page too; the oops names the stack.
#[test]
fn stack_guard_page_trailing_oopses_naming_the_stack() {
    let out = crash("STACK_GUARD_PAGE_TRAILING");
    out.assert_exit(4);
    out.assert_contains("lkdtm: attempting bad read from page above current stack");
    out.assert_contains("FAR is in the guard page above the task stack of swapper/0");
    let (_, hi) = task_stack(&out);
    let va = hex_after(&out, "Unable to handle kernel paging request at virtual address ");
    if va != hi {
        out.fail(&format!("fault at {va:#x}, expected the stack's top {hi:#x}"));
    }
    out.assert_contains("translation fault");
    out.assert_contains("Kernel panic - not syncing: Oops: Fatal exception");
    if out.contains("FAIL:") {
        out.fail("lkdtm read the page above the stack");
    }
}

/// Linux's WRITE_RO: a store to .rodata is a permission fault, reported as
/// a write to read-only memory at the address lkdtm named.
#[test]
fn write_ro_oopses_as_write_to_read_only_memory() {
    let out = crash("WRITE_RO");
    out.assert_exit(4);
    let at = hex_after(&out, "lkdtm: attempting bad rodata write at ");
    let va = hex_after(&out, "Unable to handle kernel write to read-only memory at virtual address ");
    if va != at {
        out.fail(&format!("fault at {va:#x}, lkdtm wrote at {at:#x}"));
    }
    out.assert_contains("permission fault");
    out.assert_contains("WnR = 1");
    if out.contains("FAIL:") {
        out.fail("lkdtm survived a write to .rodata");
    }
}

/// Linux's EXEC_DATA: code copied into .bss does not run (an instruction
/// abort at the buffer), after the same code ran where it was linked.
#[test]
fn exec_data_oopses_as_execute_from_non_executable_memory() {
    let out = crash("EXEC_DATA");
    out.assert_exit(4);
    out.assert_contains("lkdtm: attempting ok execution at ");
    let at = hex_after(&out, "lkdtm: attempting bad execution at ");
    let va = hex_after(&out, "Unable to handle kernel execute from non-executable memory at virtual address ");
    if va != at {
        out.fail(&format!("fault at {va:#x}, lkdtm jumped to {at:#x}"));
    }
    out.assert_contains("IABT (current EL)");
    out.assert_contains("permission fault");
    if out.contains("FAIL:") {
        out.fail("code in .bss ran");
    }
}

/// Linux's VMALLOC_LINEAR_OVERFLOW: one byte past a one-page vzalloc area
/// lands in its guard page; the oops says which area, which page of it
/// and who allocated it.
#[test]
fn vmalloc_linear_overflow_oopses_naming_the_area() {
    let out = crash("VMALLOC_LINEAR_OVERFLOW");
    out.assert_exit(4);
    out.assert_contains("lkdtm: Attempting vmalloc linear overflow ...");
    let va = hex_after(&out, "Unable to handle kernel paging request at virtual address ");
    let note = out.line_with("vmalloc: 0x").unwrap_or_else(|| out.fail("no vmalloc area named"));
    assert!(
        note.contains(&format!("0x{va:016x} is in the guard page above the mapping of the vmalloc area")),
        "{note}"
    );
    assert!(note.contains("(8192 bytes) allocated by kernel::selftest::lkdtm::vmalloc_linear_overflow"), "{note}");
    if out.contains("FAIL:") {
        out.fail("the write into the guard page went through");
    }
}

/// Linux's EXEC_VMALLOC: code copied into a vmalloc area does not run.
#[test]
fn exec_vmalloc_oopses_as_execute_from_non_executable_memory() {
    let out = crash("EXEC_VMALLOC");
    out.assert_exit(4);
    let at = hex_after(&out, "lkdtm: attempting bad execution at ");
    let va = hex_after(&out, "Unable to handle kernel execute from non-executable memory at virtual address ");
    if va != at {
        out.fail(&format!("fault at {va:#x}, lkdtm jumped to {at:#x}"));
    }
    let note = out.line_with("vmalloc: 0x").unwrap_or_else(|| out.fail("no vmalloc area named"));
    assert!(note.contains("is in the mapped range of the vmalloc area"), "{note}");
    if out.contains("FAIL:") {
        out.fail("code in a vmalloc area ran");
    }
}

/// Linux's ACCESS_USERSPACE: with PAN (QEMU's `max` CPU) a plain kernel load
/// from a user page is an oops that says so; without PAN (Cortex-A72, no
/// FEAT_PAN) it works, and lkdtm reports the survival.
#[test]
fn access_userspace_oopses_under_pan() {
    let out = Qemu::virt().cpu("max").append(&format!("selftest={QUICK_SUITES} lkdtm=ACCESS_USERSPACE")).run();
    out.assert_exit(4);
    let at = hex_after(&out, "lkdtm: attempting bad read at ");
    let va =
        hex_after(&out, "Unable to handle kernel access to user memory outside uaccess routines at virtual address ");
    assert_eq!(va, at, "{}", out.report());
    let out = Qemu::virt().append(&format!("selftest={QUICK_SUITES} lkdtm=ACCESS_USERSPACE")).run();
    out.assert_exit(3);
    out.assert_contains("lkdtm: FAIL: survived bad read (0x5a)");
}
