//! The mm console (`shell` on the command line): a script typed on QEMU's
//! stdin, a line at each prompt, and every command's output and every
//! error line checked, on `virt`'s PL011 and on `raspi4b`'s mini UART and
//! PL011; the same script piped in at once; line editing (backspace,
//! Ctrl-C, the history's arrows); `poweroff`'s exit code; and an idle
//! prompt after the input ends, which must leave QEMU nearly idle.

use boot_tests::{Outcome, Qemu, repo_root};
use std::time::Duration;

const PROMPT: &str = "mm# ";

/// One line typed at a prompt, the line the console then shows (after
/// its editing keys), and what its output must hold: each entry a
/// substring, `=TEXT` the whole output, `!TEXT` a substring it must not
/// hold, `~raw` no line with a log timestamp (the file printed raw).
struct Step {
    line: &'static str,
    shows: &'static str,
    expect: &'static [&'static str],
}

/// A line typed as it is shown.
const fn step(line: &'static str, expect: &'static [&'static str]) -> Step {
    Step { line, shows: line, expect }
}

/// A line with editing keys in it, and the line they leave.
const fn edited(line: &'static str, shows: &'static str, expect: &'static [&'static str]) -> Step {
    Step { line, shows, expect }
}

/// `q` with `steps` typed, each at the prompt after the one before; a line
/// ends with Enter unless it ends with Ctrl-C.
fn typed(q: Qemu, steps: &[Step]) -> Qemu {
    steps.iter().fold(q, |q, s| {
        let end = if s.line.ends_with('\x03') { "" } else { "\r" };
        q.expect_send(PROMPT, &format!("{}{end}", s.line))
    })
}

/// A line as the terminal shows it: each backspace takes back the byte
/// before it; bells go.
fn visible(echo: &str) -> String {
    let mut out = String::new();
    for c in echo.chars() {
        match c {
            '\x08' => {
                out.pop();
            }
            '\x07' => {}
            c => out.push(c),
        }
    }
    out
}

/// The session after the shell's banner: each command as shown, with the
/// output up to the next prompt (or the end of the log).
fn transcript(out: &Outcome) -> Vec<(String, String)> {
    let Some(start) = out.log.find("mm console: ") else { out.fail("the shell did not start") };
    let mut parts = out.log[start..].split(PROMPT);
    parts.next();
    parts
        .map(|p| {
            let (cmd, output) = p.split_once('\n').unwrap_or((p, ""));
            (visible(cmd), output.to_string())
        })
        .collect()
}

/// Every step ran, in order, and its output holds what it should.
#[track_caller]
fn check_steps(out: &Outcome, steps: &[Step]) -> Vec<(String, String)> {
    let t = transcript(out);
    if t.len() < steps.len() {
        out.fail(&format!("{} commands shown, {} typed", t.len(), steps.len()));
    }
    for (i, (s, (cmd, output))) in steps.iter().zip(&t).enumerate() {
        let want = s.shows;
        let shown = cmd.trim_end_matches("^C");
        if shown != want {
            out.fail(&format!("step {i}: the console shows {cmd:?}, {want:?} was typed"));
        }
        for e in s.expect {
            let ok = if *e == "~raw" {
                !output.lines().any(is_log_line)
            } else if let Some(whole) = e.strip_prefix('=') {
                output.trim_end() == whole
            } else if let Some(not) = e.strip_prefix('!') {
                !output.contains(not)
            } else {
                output.contains(e)
            };
            if !ok {
                out.fail(&format!("step {i} ({}): output {output:?} fails {e:?}", s.line));
            }
        }
    }
    t
}

/// Whether `line` starts with printk's timestamp, `[    1.234567] `.
fn is_log_line(line: &str) -> bool {
    line.strip_prefix('[').and_then(|r| r.split_once("] ")).is_some_and(|(t, _)| {
        t.trim_start().split_once('.').is_some_and(|(s, us)| {
            s.bytes().all(|b| b.is_ascii_digit()) && us.len() == 6 && us.bytes().all(|b| b.is_ascii_digit())
        })
    })
}

/// The number after `label` in `text` (`compact_stall 3`).
fn counter(text: &str, label: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(label)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {text:?}"))
}

/// The console on virt's PL011: every command, then poweroff.
const VIRT_SCRIPT: &[Step] = &[
    step("help", &["alloc_pages ORDER [GFP [NODE]]", "poweroff", "kmem_cache_create NAME SIZE"]),
    step("help free", &["=usage: free HANDLE...|all"]),
    step("# a comment does nothing", &["="]),
    step("", &["="]),
    step("foo", &["=shell: foo: command not found"]),
    // procfs: the report writers, raw (no log timestamps).
    step("cat /proc/buddyinfo", &["Node 0, zone      DMA ", "~raw"]),
    step("cat /proc/pagetypeinfo", &["Page block order: 9", "Pages per block:  512", "type    Unmovable", "~raw"]),
    step("cat /proc/zoneinfo", &["Node 0, zone      DMA", "  pages free ", "        managed ", "~raw"]),
    step(
        "cat /proc/meminfo",
        &["MemTotal:", "MemFree:", "CmaTotal:          65536 kB", "Slab:", "VmallocTotal:", "~raw"],
    ),
    step(
        "cat /proc/vmstat",
        &["nr_free_pages ", "pgmigrate_success ", "compact_stall ", "cma_alloc_success ", "nr_unstable 0", "~raw"],
    ),
    step("cat /proc/slabinfo", &["slabinfo - version: 2.1", "kmalloc-64 ", "~raw"]),
    step("cat /proc/vmallocinfo", &["ioremap", "alloc_kernel_stack", "~raw"]),
    step("cat /proc/iomem", &[" : System RAM", " : Kernel code", " : Kernel data", "~raw"]),
    step("cat /proc/cpuinfo", &["=cat: /proc/cpuinfo: No such file or directory"]),
    step("cat /proc", &["=cat: /proc: Is a directory"]),
    step("cat /proc/sys/vm/compact_memory", &["=cat: /proc/sys/vm/compact_memory: Permission denied"]),
    step("ls /proc/sys/vm", &["compact_memory", "drop_caches", "extfrag_threshold", "min_free_kbytes"]),
    step("ls /nowhere", &["=ls: cannot access '/nowhere': No such file or directory"]),
    // debugfs.
    step(
        "cat /sys/kernel/debug/kernel_page_tables",
        &["---[ Linear Mapping start ]---", "---[ vmalloc() area ]---", "---[ vmemmap end ]---", "MEM/NORMAL", "~raw"],
    ),
    step("cat /sys/kernel/debug/extfrag/unusable_index", &["Node 0, zone      DMA 0.000 "]),
    step("cat /sys/kernel/debug/extfrag/extfrag_index", &["Node 0, zone      DMA "]),
    step("ls /sys/kernel/debug/cma", &["=reserved/"]),
    step("cat /sys/kernel/debug/cma/reserved/count", &["=16384"]),
    step("cat /sys/kernel/debug/cma/reserved/used", &["=0"]),
    // The allocators, with handles.
    step(
        "alloc_pages 3",
        &["handle 1: alloc_pages order 3 GFP_KERNEL: pfn 0x", "(8 pages, Node 0 DMA, Unmovable pageblock)"],
    ),
    step("alloc_pages 0 GFP_DMA|__GFP_ZERO", &["handle 2: alloc_pages order 0 GFP_DMA|__GFP_ZERO: pfn 0x"]),
    step(
        "alloc_pages 2 __GFP_MOVABLE|GFP_KERNEL 0",
        &["handle 3: alloc_pages order 2 GFP_KERNEL|__GFP_MOVABLE:", "Movable pageblock"],
    ),
    step("alloc_pages 12", &["=shell: alloc_pages: order 12 out of range (0-10)"]),
    step("alloc_pages x", &["=shell: alloc_pages: 'x': not a number"]),
    step("alloc_pages 1 GFP_BOGUS", &["shell: alloc_pages: 'GFP_BOGUS': not a GFP flag ("]),
    step("alloc_pages 1 GFP_KERNEL 5", &["=shell: alloc_pages: node 5 is not online"]),
    step("alloc_pages", &["=shell: alloc_pages: usage: alloc_pages ORDER [GFP [NODE]]"]),
    step("kmalloc 100", &["handle 4: kmalloc 100 GFP_KERNEL: 0x", "(ksize 128, kmalloc-128)"]),
    step("kmalloc 64K", &["handle 5: kmalloc 65536 GFP_KERNEL: 0x", "kmalloc_large"]),
    step("kmalloc 0", &["=shell: kmalloc: size 0 out of range (1-1099511627776)"]),
    step(
        "kmem_cache_create shell_test 200",
        &["=kmem_cache_create: shell_test: object size 200, stride 200, 20 objects per slab of order 0"],
    ),
    step("kmem_cache_create shell_test 64", &["=shell: kmem_cache_create: cache \"shell_test\" exists"]),
    step("kmem_cache_alloc shell_test", &["handle 6: kmem_cache_alloc shell_test: 0x"]),
    step(
        "kmem_cache_alloc nosuch",
        &["=shell: kmem_cache_alloc: no such cache \"nosuch\" (kmem_cache_create makes one)"],
    ),
    step("cat /proc/slabinfo", &["shell_test             1     20    200   20    1 : tunables"]),
    step(
        "kmem_cache_destroy shell_test",
        &["=shell: kmem_cache_destroy: shell_test: handles [6] hold its objects: free them first"],
    ),
    step("vmalloc 64K", &["handle 7: vmalloc 65536: 0xffff8000c", "(16 pages)"]),
    step("cat /proc/vmallocinfo", &["pages=16 vmalloc"]),
    step("cma_alloc 16", &["handle 8: cma_alloc 16 from reserved: pfn 0x", "(16 pages at 0x"]),
    step("cma_alloc 16 nosuch", &["=shell: cma_alloc: no such CMA area \"nosuch\""]),
    step("cat /sys/kernel/debug/cma/reserved/used", &["=16"]),
    step(
        "handles",
        &[
            "     1  alloc_pages order 3",
            "     6  kmem_cache_alloc shell_test",
            "     8  cma_alloc 16",
            "cache   shell_test (200 bytes",
        ],
    ),
    step("free 99", &["=shell: free: no handle 99"]),
    step("free 6", &["freed 6: kmem_cache_alloc shell_test"]),
    step("kmem_cache_destroy shell_test", &["=kmem_cache_destroy: shell_test: destroyed"]),
    step("cat /proc/slabinfo", &["!shell_test"]),
    step("free all", &["freed 1: ", "freed 8: cma_alloc", "!no handle"]),
    step("handles", &["=no handles"]),
    step("cat /sys/kernel/debug/cma/reserved/used", &["=0"]),
    // A fragmented zone: an order-10 request fails with warn_alloc's report.
    step("fragment DMA", &["fragment: Node 0 DMA: took ", "handle 9: fragment DMA node 0: "]),
    step(
        "alloc_pages 10",
        &[
            "swapper/0: page allocation failure: order:10, mode:0xcc0(GFP_KERNEL), nodemask=(null)",
            "Mem-Info:",
            "shell: alloc_pages: order 10 GFP_KERNEL: Cannot allocate memory",
        ],
    ),
    step(
        "alloc_pages 10 GFP_KERNEL|__GFP_NOWARN",
        &["=shell: alloc_pages: order 10 GFP_KERNEL|__GFP_NOWARN: Cannot allocate memory"],
    ),
    step("free 9", &["freed 9: fragment DMA node 0"]),
    step("alloc_pages 10", &["handle 10: alloc_pages order 10 GFP_KERNEL"]),
    step("free 10", &["freed 10"]),
    // The sysctls.
    step("cat /proc/vmstat", &["compact_migrate_scanned "]),
    step("echo 1 > /proc/sys/vm/compact_memory", &["="]),
    step("cat /proc/vmstat", &["compact_migrate_scanned "]),
    step("echo 4096 > /proc/sys/vm/min_free_kbytes", &["="]),
    step("cat /proc/sys/vm/min_free_kbytes", &["=4096"]),
    step("cat /proc/zoneinfo", &["        min      1024\n"]),
    step("echo x > /proc/sys/vm/min_free_kbytes", &["=shell: echo: write error: Invalid argument"]),
    step("echo 2 > /proc/sys/vm/compact_memory", &["=shell: echo: write error: Invalid argument"]),
    step(
        "echo 3 > /proc/sys/vm/drop_caches",
        &["drop_caches: 3", "drop_caches: page cache: none", "drop_caches: slab: kmem_cache_shrink", "pages free"],
    ),
    step("echo 1 > /proc/buddyinfo", &["=shell: /proc/buddyinfo: Permission denied"]),
    step("echo 1 > /proc/sys/vm/nosuch", &["=shell: /proc/sys/vm/nosuch: No such file or directory"]),
    step("echo hello   world", &["=hello world"]),
    // Programs.
    step("run hello a b", &["hello from user space: pid 1", "argv[2] = b", "[pid 1] hello: exit status 0"]),
    step("run exit-status 7", &["=[pid 2] exit-status: exit status 7"]),
    step("run nosuch", &["shell: run: nosuch: no such program (built in: fault hello"]),
    step("run memtouch 32 &", &["=[1] 3"]),
    step("sleep 0.5", &["="]),
    step("ps", &["  PID  PPID S   RSS COMMAND", "    3     0 R ", " memtouch 32"]),
    step("cat /proc/3/maps", &["00400000-", "r-xp", "1000000000-1000021000 rw-p 00000000 00:00 0", "[stack]"]),
    step("cat /proc/3/smaps_rollup", &["[rollup]", "Rss:", "Anonymous:"]),
    // The job's end is reported before a prompt, once it has ended: the
    // one after `kill` if the process died by then (it runs on another
    // CPU), else the one after the sleep; the test checks it comes once.
    step("kill -9 3", &["!shell:"]),
    step("sleep 0.2", &["!shell:"]),
    step("kill 999", &["=shell: kill: (999) - No such process"]),
    step("kill -BOGUS 3", &["=shell: kill: '-BOGUS': not a valid signal"]),
    step("ps", &["=  PID  PPID S   RSS COMMAND"]),
    // The self-tests and benchmarks.
    step("selftest timer", &["timer: counter_runs ... ok", "selftest: 1 passed, 0 failed"]),
    step("selftest nosuch", &["=shell: selftest: no such suite \"nosuch\""]),
    step("selftest timer.nosuch", &["=shell: selftest: no such test \"timer.nosuch\""]),
    step("bench vmalloc", &["bench vmalloc/pages-1 ours:", "bench vmalloc/vm_map_ram-16 ours:"]),
    step("bench nosuch", &["=shell: bench: no such suite \"nosuch\""]),
    // Line editing: backspace and DEL, Ctrl-C, the history's arrows.
    edited("cat /proc/buddyinfx\x7fo", "cat /proc/buddyinfo", &["Node 0, zone      DMA "]),
    edited("cat /proc/cpuinfoXY\x08\x08", "cat /proc/cpuinfo", &["=cat: /proc/cpuinfo: No such file or directory"]),
    edited("alloc_pages 3\x03", "alloc_pages 3", &["="]),
    step("handles", &["=no handles"]),
    // Up, Up (the line before), Down: "handles" again.
    edited("\x1b[A\x1b[A\x1b[B", "handles", &["=no handles"]),
    // Other sequences (Shift-Tab, Right, Left) are read and ignored.
    edited("\x1b[Z\x1b[C\x1b[Dps", "ps", &["=  PID  PPID S   RSS COMMAND"]),
    step("poweroff", &["selftest: 2 passed, 0 failed"]),
];

#[test]
fn virt_script_runs_every_command_on_the_pl011() {
    let q = Qemu::virt().append("selftest=timer shell");
    let out = typed(q, VIRT_SCRIPT).timeout(Duration::from_secs(120)).run();
    let t = check_steps(&out, VIRT_SCRIPT);
    let i = t.iter().position(|(c, _)| c == "kill -9 3").unwrap_or_else(|| out.fail("no kill step"));
    let notice = format!("{}{}", t[i].1, t[i + 1].1);
    if notice.trim_end() != "[1]+ Killed (signal 9) memtouch 32" {
        out.fail(&format!("kill -9 3, sleep 0.2: {notice:?}, expected the job's end reported once"));
    }
    // The boot ran no compaction (selftest=timer); compact_memory scanned.
    let vmstat: Vec<&str> = t.iter().filter(|(c, _)| c == "cat /proc/vmstat").map(|(_, o)| o.as_str()).collect();
    let scanned: Vec<u64> = vmstat.iter().map(|v| counter(v, "compact_migrate_scanned")).collect();
    if scanned[0] != 0 || scanned[2] <= scanned[1] {
        out.fail(&format!("compact_migrate_scanned at boot, before and after compact_memory: {scanned:?}"));
    }
    out.assert_not_contains("panicked");
    out.assert_exit(0);
}

/// A self-test that fails when run from the shell makes poweroff's exit
/// code 1, the totals its last line. The test used can pass once per boot
/// only (the spurious IRQ it provokes is reported once): the boot's run
/// passes, the shell's fails.
#[test]
fn poweroff_exit_code_is_the_verdict_so_far() {
    const ONCE: &str = "irq.unexpected_irq_reported_once_and_disabled";
    let steps = [
        step(
            "selftest irq.unexpected_irq_reported_once_and_disabled",
            &["... FAILED: ", "selftest: 0 passed, 1 failed"],
        ),
        step("poweroff", &["=selftest: 1 passed, 1 failed"]),
    ];
    let out = typed(Qemu::virt().smp(2).append(&format!("selftest={ONCE} shell")), &steps).run();
    out.assert_contains(&format!("irq: {} ... ok", &ONCE[4..]));
    check_steps(&out, &steps);
    out.assert_exit(1);
}

/// The whole script at once, as `cat script | qemu ...` would send it:
/// QEMU holds what the UART's FIFO cannot take, the shell reads a line at
/// a time, and each command's output follows its line.
#[test]
fn a_script_piped_in_at_once_runs_line_by_line() {
    let script = "alloc_pages 1\nkmalloc 32\r\nhandles\nfree 1 2\nhandles\nbogus\nrun exit-status 9\npoweroff\n";
    let out = Qemu::virt().smp(2).append("selftest=off shell").expect_send(PROMPT, script).eof_after_script().run();
    let steps = [
        step("alloc_pages 1", &["handle 1: alloc_pages order 1"]),
        step("kmalloc 32", &["handle 2: kmalloc 32"]),
        step("handles", &["     1  alloc_pages", "     2  kmalloc 32"]),
        step("free 1 2", &["freed 1", "freed 2"]),
        step("handles", &["=no handles"]),
        step("bogus", &["=shell: bogus: command not found"]),
        step("run exit-status 9", &["=[pid 1] exit-status: exit status 9"]),
        step("poweroff", &["selftest: skipped"]),
    ];
    check_steps(&out, &steps);
    out.assert_exit(0);
}

/// Once the input ends the shell waits at its prompt, asleep: QEMU (four
/// vCPUs) uses a small part of one host CPU.
#[test]
fn an_idle_prompt_after_the_input_ends_sleeps() {
    let wall = Duration::from_secs(12);
    let out = Qemu::virt()
        .append("selftest=off shell")
        .expect_send(PROMPT, "handles\r")
        .eof_after_script()
        .timeout(wall)
        .run();
    assert!(out.timed_out, "the shell ended without poweroff:\n{}", out.tail(10));
    let t = transcript(&out);
    assert_eq!(t.len(), 2, "{t:?}");
    assert_eq!(t[0], ("handles".to_string(), "no handles\n".to_string()));
    if let Some(cpu) = out.cpu_time {
        // Booting takes well under a second of CPU; four spinning vCPUs
        // would take several CPU seconds for each second of wall time.
        assert!(cpu < wall / 3, "QEMU used {cpu:?} of CPU in {wall:?} at an idle prompt");
    }
}

fn debian_dtb() -> std::path::PathBuf {
    repo_root().join("bootdata/tests/data/bcm2711-rpi-4-b.dtb")
}

const RASPI_SCRIPT: &[Step] = &[
    step("cat /proc/buddyinfo", &["Node 0, zone      DMA ", "~raw"]),
    step("alloc_pages 2 GFP_DMA", &["handle 1: alloc_pages order 2 GFP_DMA: pfn 0x", "Node 0 DMA,"]),
    step("alloc_pages 4 GFP_KERNEL|__GFP_ZERO", &["handle 2: alloc_pages order 4 GFP_KERNEL|__GFP_ZERO"]),
    step("vmalloc 8K", &["handle 3: vmalloc 8192"]),
    step("free all", &["freed 1", "freed 2", "freed 3"]),
    step("cat /proc/meminfo", &["MemTotal:"]),
    edited("frx\x7fee 4", "free 4", &["=shell: free: no handle 4"]),
    edited("\x1b[A", "free 4", &["=shell: free: no handle 4"]),
    step("run hello pi", &["argv[1] = pi", "[pid 1] hello: exit status 0"]),
    step("alloc_pages 11", &["=shell: alloc_pages: order 11 out of range (0-10)"]),
    step("poweroff", &["selftest: skipped"]),
];

/// raspi4b with Debian's tree: the console on the mini UART (QEMU's second
/// serial port), the other UART kind.
#[test]
fn raspi4b_shell_on_the_mini_uart() {
    let q = Qemu::raspi4b().dtb(debian_dtb()).second_serial().append("selftest=off shell");
    let out = typed(q, RASPI_SCRIPT).run();
    out.assert_contains("printk: console [serial1] enabled (mini UART");
    check_steps(&out, RASPI_SCRIPT);
    out.assert_exit(0);
}

/// raspi4b's PL011 (`console=ttyAMA0`).
#[test]
fn raspi4b_shell_on_the_pl011() {
    let q = Qemu::raspi4b().dtb(debian_dtb()).append("console=ttyAMA0 selftest=off shell");
    let out = typed(q, RASPI_SCRIPT).run();
    out.assert_contains("printk: console [ttyAMA0] enabled");
    check_steps(&out, RASPI_SCRIPT);
    out.assert_exit(0);
}

/// `run` finds initramfs programs by path (`scripts/mkinitramfs.sh`'s
/// archive); with `shell` the archive's /init is not started on its own.
#[test]
fn run_starts_initramfs_programs_and_no_init_starts_by_itself() {
    boot_tests::kernel();
    let archive = boot_tests::ScratchFile::new("shell-initrd.cpio.gz");
    let root = repo_root();
    let status = std::process::Command::new("bash")
        .arg(root.join("scripts/mkinitramfs.sh"))
        .arg(archive.path())
        .arg(format!("{}=/bin/hi", root.join("target/user/hello").display()))
        .arg(format!("{}=/init", root.join("target/user/exit-status").display()))
        .status()
        .expect("cannot run scripts/mkinitramfs.sh");
    assert!(status.success(), "mkinitramfs.sh failed");
    let initrd = std::fs::read(archive.path()).expect("the archive");
    let steps = [
        step("run /bin/hi x", &["argv[0] = /bin/hi", "argv[1] = x", "[pid 1] /bin/hi: exit status 0"]),
        step("run /init 5", &["=[pid 2] /init: exit status 5"]),
        step("run /bin", &["shell: run: /bin: no such program"]),
        step("poweroff", &["selftest: skipped"]),
    ];
    let out = typed(Qemu::virt().smp(2).append("selftest=off shell").initrd(initrd), &steps).run();
    out.assert_not_contains("Run /init as init process");
    check_steps(&out, &steps);
    out.assert_exit(0);
}
