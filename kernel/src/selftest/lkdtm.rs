//! Deliberate crashes (`lkdtm=`), to test that each failure path reports and
//! ends the run (Linux's drivers/misc/lkdtm).

use crate::pr_emerg;
use bootdata::cmdline::Lkdtm;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let mut buf = [0u8; 1024];
    buf[(depth % 1024) as usize] = depth as u8;
    core::hint::black_box(&mut buf);
    recurse(depth + 1).wrapping_add(buf[7] as u64)
}

/// Crash the way `l` names. Does not return.
pub fn trigger(l: Lkdtm) -> ! {
    pr_emerg!("lkdtm: Performing direct entry {:?}", l);
    match l {
        Lkdtm::Panic => panic!("dumptest"),
        Lkdtm::ExhaustStack => {
            let r = recurse(0);
            panic!("lkdtm: stack exhaustion returned {r}");
        }
        Lkdtm::Undef => {
            arch::cpu::undefined_instruction();
            panic!("lkdtm: UNDEF returned");
        }
        Lkdtm::AccessNull => {
            // SAFETY: deliberately faulting; the oops handler ends the run.
            let v = unsafe { core::ptr::read_volatile(core::hint::black_box(8usize) as *const u64) };
            panic!("lkdtm: NULL access returned {v}");
        }
    }
}
