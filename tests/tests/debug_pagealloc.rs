//! `debug_pagealloc=on`: every page is unmapped from the linear map while it
//! is free. The whole self-test run passes that way (on more than one CPU,
//! so that an unmap's TLB invalidation must reach the others), and a read
//! of a freed page (`lkdtm=READ_BUDDY_AFTER_FREE`) oopses at that page's
//! address; without the option the same read silently finds stale memory.

use boot_tests::{Outcome, Qemu};

const SUITE_TESTS: [&str; 3] =
    ["linear_map_granularity", "freed_pages_fault_on_every_cpu", "table_page_allocated_under_kernel_pt"];

/// How long a boot with every suite under debug_pagealloc may take: each
/// page allocated or freed maps or unmaps it in the linear map with a
/// broadcast TLB invalidate, which under QEMU's multi-threaded TCG stops
/// every vCPU; the cma suite's four memtouch processes make tens of
/// thousands of them (40-70 s at four CPUs here; CI hosts have been twice
/// as slow).
const DEBUG_PAGEALLOC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(180);

fn selftests_pass(smp: u32, mem: &str) {
    let out = Qemu::virt().smp(smp).mem(mem).append("debug_pagealloc=on").timeout(DEBUG_PAGEALLOC_TIMEOUT).run();
    out.assert_passed();
    out.assert_contains("debug_pagealloc: enabled; linear map mapped with 4K pages");
    for t in SUITE_TESTS {
        out.assert_contains(&format!("debug_pagealloc: {t} ... ok"));
    }
}

#[test]
fn selftests_pass_on_two_cpus() {
    selftests_pass(2, "1G");
}

/// Little RAM: the linear map takes few tables beyond the image's pool.
#[test]
fn selftests_pass_on_two_cpus_with_128m() {
    selftests_pass(2, "128M");
}

/// More RAM than the first GiB's tables: the reserve is sized for 4 GiB.
#[test]
fn selftests_pass_on_four_cpus_with_4g() {
    selftests_pass(4, "4G");
}

fn read_after_free(append: &str) -> Outcome {
    let out = Qemu::virt().smp(2).append(&format!("selftest=off lkdtm=READ_BUDDY_AFTER_FREE {append}")).run();
    out.assert_not_timed_out();
    out
}

/// The address lkdtm says it reads, as the oops prints addresses.
fn freed_address(out: &Outcome) -> String {
    let marker = "Attempting bad read from freed page at ";
    let Some(line) = out.line_with(marker) else { out.fail("lkdtm did not say which page it reads") };
    line[line.find(marker).unwrap() + marker.len()..].trim().to_string()
}

#[test]
fn read_after_free_oopses_at_the_freed_page() {
    let out = read_after_free("debug_pagealloc=on");
    out.assert_exit(4);
    let addr = freed_address(&out);
    out.assert_contains(&format!("Unable to handle kernel paging request at virtual address {addr}"));
    out.assert_not_contains("it was still mapped");
}

#[test]
fn read_after_free_without_debug_pagealloc_reads_stale_memory() {
    let out = read_after_free("debug_pagealloc=off");
    out.assert_exit(3);
    freed_address(&out);
    out.assert_contains("read 0x12345678 from a freed page: it was still mapped");
    out.assert_not_contains("debug_pagealloc: enabled");
}
