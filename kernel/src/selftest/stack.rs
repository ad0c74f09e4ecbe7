//! Kernel stacks: every online CPU's stack is where its area says, has its
//! guards, and has stayed within its 16 KiB with room to spare. Runs last,
//! so the high-water marks it prints cover every suite before it.

use super::harness::{Test, TestResult};
use crate::smp::{cpumask, stack};
use crate::{check, pr_info};
use arch::exception::STACK_SIZE;
use arch::percpu::NR_CPUS;

pub const TESTS: &[Test] = &[Test { suite: "stack", name: "high_water_marks", run: high_water_marks }];

/// Bytes each stack must still have free after the self-tests: room for an
/// oops report on top of the deepest path the boot and the tests took (the
/// trap frame, arch_trap, the handler, printk and the call trace take
/// about 2 KiB).
const MIN_FREE_BYTES: u64 = 2048;

/// Print each online CPU's deepest stack use since its stack was painted
/// (Linux's CONFIG_DEBUG_STACK_USAGE words it "greatest stack depth"), and
/// check it used some of the paint (the paint is there) but not so much
/// that the free margin is gone.
fn high_water_marks() -> TestResult {
    for cpu in (0..NR_CPUS).filter(|&c| cpumask::cpu_online(c)) {
        let Some(s) = stack::cpu_stack(cpu) else { crate::fail!("CPU{cpu}: no stack recorded") };
        let Some(used) = stack::high_water(cpu) else { crate::fail!("CPU{cpu}: no stack recorded") };
        pr_info!(
            "CPU{cpu}: stack [{:#018x}..{:#018x}] greatest stack depth: {used} bytes used, {} bytes left",
            s.lo,
            s.hi,
            STACK_SIZE - used
        );
        check!(used > 0, "CPU{cpu}: its stack holds the paint everywhere: it was never painted or never used");
        check!(
            used + MIN_FREE_BYTES <= STACK_SIZE,
            "CPU{cpu}: {used} of {STACK_SIZE} bytes of stack used, less than {MIN_FREE_BYTES} left"
        );
    }
    Ok(())
}
