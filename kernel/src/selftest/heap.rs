//! The Rust heap on kmalloc: early objects go back to the early heap, new
//! ones are kmalloc objects, any Layout's alignment is honoured.

use super::harness::{Test, TestResult};
use crate::memory::heap::{is_early, usage, with_early_heap};
use crate::{check, check_eq};
use alloc::boxed::Box;
use core::alloc::{GlobalAlloc, Layout};

pub const TESTS: &[Test] = &[
    Test { suite: "heap", name: "early_objects_return_to_early_heap", run: early_objects_return_to_early_heap },
    Test { suite: "heap", name: "heap_objects_are_kmalloc_objects", run: heap_objects_are_kmalloc_objects },
    Test { suite: "heap", name: "large_alignments_honoured", run: large_alignments_honoured },
];

fn early_objects_return_to_early_heap() -> TestResult {
    let (used_before, _) = usage();
    let e = with_early_heap(|| Box::new([7u8; 100]));
    check!(is_early(e.as_ptr()), "with_early_heap gave {:p}, outside the early heap", e.as_ptr());
    check!(usage().0 > used_before, "early heap usage did not grow");
    drop(e); // freed after the switch: must go back to the early heap
    check_eq!(usage().0, used_before);
    Ok(())
}

fn heap_objects_are_kmalloc_objects() -> TestResult {
    for size in [1usize, 24, 100, 600, 5000, 20000] {
        let v: alloc::vec::Vec<u8> = alloc::vec![0xa5; size];
        check!(!is_early(v.as_ptr()), "a {size}-byte Vec came from the early heap");
        let k = crate::memory::slab::ksize(v.as_ptr());
        check!(k >= size, "ksize of a {size}-byte heap object is {k}");
    }
    Ok(())
}

fn large_alignments_honoured() -> TestResult {
    for (size, align) in [(10usize, 16usize), (10, 64), (100, 4096), (5000, 8192), (100, 65536), (1 << 20, 1 << 21)] {
        let layout = Layout::from_size_align(size, align).map_err(|e| alloc::format!("{e}"))?;
        // SAFETY: a valid non-zero-size layout; the block is freed just below.
        let p = unsafe { crate::memory::heap::HEAP_HANDLE.alloc(layout) };
        check!(!p.is_null(), "allocation of {size} bytes aligned {align} failed");
        let aligned = (p as usize).is_multiple_of(align);
        // SAFETY: `size` bytes of the block are ours.
        unsafe { core::ptr::write_bytes(p, 0x5a, size) };
        // SAFETY: allocated above with this layout.
        unsafe { crate::memory::heap::HEAP_HANDLE.dealloc(p, layout) };
        check!(aligned, "{size} bytes at {p:p}: not aligned to {align}");
    }
    Ok(())
}
