//! Deliberate crashes (`lkdtm=`, after the self-tests): each must be reported
//! as what it is and end the run with its own exit code, not hang.

use boot_tests::{Outcome, Qemu};

fn crash(kind: &str) -> Outcome {
    let out = Qemu::virt().append(&format!("lkdtm={kind}")).run();
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
