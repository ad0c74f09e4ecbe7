//! Deliberate crashes (`lkdtm=`), to test that each failure path reports and
//! ends the run (Linux's drivers/misc/lkdtm).
//!
//! Each crash type does what Linux's test of the same name does and says
//! what Linux's says (`lkdtm: attempting bad ...`), then ends in the oops
//! that names what was hit; a crash that does not happen is reported as
//! `lkdtm: FAIL: ...` and ends the run as a panic, so a test sees it.
//!
//! | type | does | ends in |
//! |------|------|---------|
//! | `PANIC` | `panic!` | `Kernel panic`, exit 3 |
//! | `EXHAUST_STACK` | recursion with 1 KiB frames | `kernel stack overflow` (the vectors' check), exit 4 |
//! | `UNDEF` | an undefined instruction | `Oops - undefined instruction`, exit 4 |
//! | `ACCESS_NULL` | a load from address 8 | `NULL pointer dereference`, exit 4 |
//! | `STACK_GUARD_PAGE_LEADING` | a load of the byte below the stack | `kernel stack overflow` with the stack's bounds, exit 4 |
//! | `STACK_GUARD_PAGE_TRAILING` | a load of the byte above the stack | a paging-request oops naming the stack, exit 4 |
//! | `WRITE_RO` | a store to a constant in .rodata | `write to read-only memory`, exit 4 |
//! | `EXEC_DATA` | a call into code copied to .bss | `execute from non-executable memory`, exit 4 |
//! | `VMALLOC_LINEAR_OVERFLOW` | a memset one byte past a one-page vzalloc | a paging-request oops naming the vmalloc area, its guard page and caller, exit 4 |
//! | `EXEC_VMALLOC` | a call into code copied to a vmalloc area | `execute from non-executable memory`, exit 4 |
//! | `ACCESS_USERSPACE` | a plain load from a mapped user page | with PAN: `access to user memory outside uaccess routines`, exit 4; without PAN the load works: `FAIL: survived bad read`, exit 3 |
//! | `READ_BUDDY_AFTER_FREE` | a load from a page just freed | an oops with `debug_pagealloc=on`, else a panic naming what it read |

use crate::{pr_emerg, pr_err, pr_info};
use bootdata::cmdline::{LKDTM_TYPES, Lkdtm};
use core::sync::atomic::{AtomicU32, Ordering};

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

/// Linux's name for a crash type (`STACK_GUARD_PAGE_LEADING`).
fn name(l: Lkdtm) -> &'static str {
    LKDTM_TYPES.iter().find(|(_, t)| *t == l).map_or("?", |(n, _)| n)
}

/// The current CPU's kernel stack, `[lo, hi)`.
fn current_stack() -> (u64, u64) {
    let cpu = arch::percpu::smp_processor_id();
    match crate::smp::stack::cpu_stack(cpu) {
        Some(s) => (s.lo, s.hi),
        None => panic!("lkdtm: CPU{cpu} has no recorded stack"),
    }
}

/// A load of one byte at `addr`, which the caller expects to fault.
fn read_byte(addr: u64) -> u8 {
    // SAFETY: deliberately faulting (the address is a guard page); the oops
    // handler ends the run. A load has no side effect if it does not fault.
    unsafe { core::ptr::read_volatile(core::hint::black_box(addr) as *const u8) }
}

/// Linux's lkdtm_STACK_GUARD_PAGE_LEADING: read the byte just below the
/// bottom of the current stack.
fn stack_guard_page_leading() {
    let (lo, _) = current_stack();
    pr_info!("lkdtm: attempting bad read from page below current stack");
    let byte = read_byte(lo - 1);
    pr_err!("lkdtm: FAIL: accessed page before stack! (byte: {byte:x})");
}

/// Linux's lkdtm_STACK_GUARD_PAGE_TRAILING: read the byte just above the
/// top of the current stack.
fn stack_guard_page_trailing() {
    let (_, hi) = current_stack();
    pr_info!("lkdtm: attempting bad read from page above current stack");
    let byte = read_byte(hi);
    pr_err!("lkdtm: FAIL: accessed page after stack! (byte: {byte:x})");
}

/// A constant the linker places in .rodata (mapped read-only).
static RODATA: u64 = 0xaa55_aa55;

/// Linux's lkdtm_WRITE_RO: flip bits of a constant in .rodata.
fn write_ro() {
    let ptr = core::hint::black_box(core::ptr::addr_of!(RODATA) as u64) as *mut u64;
    pr_info!("lkdtm: attempting bad rodata write at {:016x}", ptr as u64);
    // SAFETY: deliberately faulting: .rodata is mapped read-only, so the
    // store takes a permission fault and the oops handler ends the run.
    unsafe { ptr.write_volatile(ptr.read_volatile() ^ 0xabcd_1234) };
    pr_err!("lkdtm: FAIL: survived bad write");
}

/// Bytes of code copied for EXEC_DATA (Linux's EXEC_SIZE).
const EXEC_SIZE: usize = 64;

/// The data buffer code is copied into: zero-initialised, so in .bss,
/// which is mapped read-write and never executable.
static DATA_AREA: [AtomicU32; EXEC_SIZE / 4] = [const { AtomicU32::new(0) }; EXEC_SIZE / 4];

/// A function that returns: what EXEC_DATA copies and calls.
#[inline(never)]
extern "C" fn do_nothing() {
    core::hint::black_box(());
}

/// Linux's execute_location: run `do_nothing` where it is linked (fine),
/// copy its first EXEC_SIZE bytes with `store(word_index, insn)` into the
/// buffer at `dst`, make the copy visible to instruction fetch, and call
/// it (an instruction abort: the buffer is mapped execute-never).
fn execute_location(dst: u64, mut store: impl FnMut(usize, u32)) {
    let code = do_nothing as *const () as u64;
    pr_info!("lkdtm: attempting ok execution at {:016x}", code);
    do_nothing();
    for i in 0..EXEC_SIZE / 4 {
        // SAFETY: `code` is kernel text, readable, and EXEC_SIZE bytes from
        // it stay inside the image's text and rodata (both mapped); an
        // aligned 4-byte load.
        let insn = unsafe { ((code + 4 * i as u64) as *const u32).read_volatile() };
        store(i, insn);
    }
    // SAFETY: the caller's buffer is mapped; cleaning and invalidating its
    // lines to the PoC only makes the copy visible to instruction fetch.
    unsafe { arch::cache::dcache_clean_inval_poc(dst, dst + EXEC_SIZE as u64) };
    arch::cache::icache_inval_all_local();
    pr_info!("lkdtm: attempting bad execution at {:016x}", dst);
    // SAFETY: deliberately faulting: the buffer holds a copy of a function
    // that only returns, in memory mapped execute-never, so the call takes
    // an instruction abort at `dst` and the oops handler ends the run.
    let func: extern "C" fn() = unsafe { core::mem::transmute::<u64, extern "C" fn()>(core::hint::black_box(dst)) };
    func();
    pr_err!("lkdtm: FAIL: func returned");
}

/// Linux's lkdtm_EXEC_DATA: the copy in a .bss buffer.
fn exec_data() {
    execute_location(DATA_AREA.as_ptr() as u64, |i, insn| DATA_AREA[i].store(insn, Ordering::Relaxed));
}

/// Linux's lkdtm_VMALLOC_LINEAR_OVERFLOW: two one-page vzalloc areas,
/// then a memset of one page and a byte over the first: the extra byte
/// lands in its guard page, and the oops names the area and its caller.
fn vmalloc_linear_overflow() {
    let one = match crate::memory::vmalloc::vzalloc(mm::PAGE_SIZE) {
        Ok(b) => b,
        Err(e) => panic!("lkdtm: VMALLOC_LINEAR_OVERFLOW: vzalloc failed: {e}"),
    };
    let two = crate::memory::vmalloc::vzalloc(mm::PAGE_SIZE);
    let p = core::hint::black_box(one.addr().as_u64()) as *mut u8;
    pr_info!("lkdtm: Attempting vmalloc linear overflow ...");
    for i in 0..=mm::PAGE_SIZE as usize {
        // SAFETY: none for the last byte, on purpose: the first PAGE_SIZE
        // bytes are `one`'s own mapped page, the last is its guard page,
        // whose fault ends the run.
        unsafe { p.add(i).write_volatile(0xaa) };
    }
    drop(two);
    pr_err!("lkdtm: FAIL: survived a write into the vmalloc guard page");
}

/// Linux's lkdtm_EXEC_VMALLOC: the copy in a vmalloc area (mapped
/// read-write, never executable).
fn exec_vmalloc() {
    let mut buf = match crate::memory::vmalloc::vmalloc(EXEC_SIZE as u64) {
        Ok(b) => b,
        Err(e) => panic!("lkdtm: EXEC_VMALLOC: vmalloc failed: {e}"),
    };
    let dst = buf.addr().as_u64();
    let words = buf.as_mut_slice();
    execute_location(dst, |i, insn| words[4 * i..4 * i + 4].copy_from_slice(&insn.to_le_bytes()));
}

/// Crash the way `l` names. Does not return.
pub fn trigger(l: Lkdtm) -> ! {
    pr_emerg!("lkdtm: Performing direct entry {}", name(l));
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
        Lkdtm::StackGuardPageLeading => stack_guard_page_leading(),
        Lkdtm::StackGuardPageTrailing => stack_guard_page_trailing(),
        Lkdtm::WriteRo => write_ro(),
        Lkdtm::ExecData => exec_data(),
        Lkdtm::VmallocLinearOverflow => vmalloc_linear_overflow(),
        Lkdtm::ExecVmalloc => exec_vmalloc(),
        Lkdtm::AccessUserspace => access_userspace(),
    }
    panic!("lkdtm: {} did not crash", name(l))
}

/// Linux's ACCESS_USERSPACE: this task takes a user address space with one
/// page, faults the page in through uaccess, then loads from it as the
/// kernel would by mistake (a plain load, not LDTR). With PAN that is a
/// permission fault outside the uaccess routines: an oops.
fn access_userspace() {
    let r = super::uaccess::with_user_mm(|base| {
        crate::memory::user::uaccess::copy_to_user(crate::memory::user::uaccess::UserPtr(base), &[0x5a; 8])
            .map_err(|e| alloc::format!("copy_to_user: {e}"))?;
        pr_info!("lkdtm: attempting bad read at {base:#x}");
        // SAFETY: deliberately a plain load from a user page that is mapped
        // (just written through uaccess); with PAN it faults and the oops
        // ends the run, without PAN it reads the byte written above.
        let v = unsafe { core::ptr::read_volatile(core::hint::black_box(base) as *const u8) };
        crate::pr_err!("lkdtm: FAIL: survived bad read ({v:#x})");
        Ok(())
    });
    if let Err(e) = r {
        crate::pr_err!("lkdtm: ACCESS_USERSPACE: {e}");
    }
}
