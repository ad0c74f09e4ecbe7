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

/// Linux's lkdtm READ_BUDDY_AFTER_FREE: write a page, give it back to the
/// buddy allocator, read it. With debug_pagealloc the page has left the
/// linear map and the load oopses at the address printed first.
fn read_buddy_after_free() -> ! {
    let page = match crate::memory::pages::alloc_pages(mm::gfp::Gfp::KERNEL, 0) {
        Ok(p) => p,
        Err(e) => panic!("lkdtm: READ_BUDDY_AFTER_FREE: no page: {e}"),
    };
    let va = page.address().as_u64() as *mut u32;
    // SAFETY: the page is ours and mapped read-write.
    unsafe { va.write_volatile(0x1234_5678) };
    drop(page);
    pr_emerg!("lkdtm: Attempting bad read from freed page at {:016x}", va as u64);
    // SAFETY: none: a use after free on purpose; the page is on this CPU's
    // free list and nothing else runs, so without debug_pagealloc the load
    // reads stale RAM, and with it the oops handler ends the run.
    let v = unsafe { core::ptr::read_volatile(core::hint::black_box(va)) };
    panic!("lkdtm: READ_BUDDY_AFTER_FREE read {v:#x} from a freed page: it was still mapped");
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
        Lkdtm::ReadBuddyAfterFree => read_buddy_after_free(),
        Lkdtm::AccessNull => {
            // SAFETY: deliberately faulting; the oops handler ends the run.
            let v = unsafe { core::ptr::read_volatile(core::hint::black_box(8usize) as *const u64) };
            panic!("lkdtm: NULL access returned {v}");
        }
    }
}
