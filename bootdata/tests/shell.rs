//! The console shell's line editor and command parser on the host: echo,
//! erasing, Ctrl-C, line endings, escape sequences and the history walk;
//! every command with good and bad arguments, and the error lines' wording.

use bootdata::cmdline::TestName;
use bootdata::shell::{
    COMMANDS, Command, ErrorKind, FreeWhat, HISTORY_LEN, Input, LINE_MAX, Limits, LineEditor, MAX_ARGS, number, parse,
    usage,
};

/// Feed `bytes`; the echo and every input finished on the way.
fn feed(ed: &mut LineEditor, bytes: &[u8]) -> (String, Vec<Input>) {
    let mut echo = String::new();
    let mut done = Vec::new();
    for &b in bytes {
        if let Some(i) = ed.feed(b, &mut echo) {
            done.push(i);
        }
    }
    (echo, done)
}

/// The lines handed over for `bytes` typed into a fresh editor.
fn lines(bytes: &[u8]) -> Vec<String> {
    let mut ed = LineEditor::new();
    let mut echo = String::new();
    let mut out = Vec::new();
    for &b in bytes {
        match ed.feed(b, &mut echo) {
            Some(Input::Line) => out.push(ed.submitted().to_string()),
            Some(Input::Interrupt) => out.push("^C".to_string()),
            None => {}
        }
    }
    out
}

#[test]
fn printable_bytes_echo_and_enter_hands_the_line_over() {
    let mut ed = LineEditor::new();
    let (echo, done) = feed(&mut ed, b"ps\r");
    assert_eq!(echo, "ps\n");
    assert_eq!(done, vec![Input::Line]);
    assert_eq!(ed.submitted(), "ps");
    assert_eq!(ed.line(), "");
}

#[test]
fn cr_lf_and_lf_each_end_one_line() {
    assert_eq!(lines(b"a\r\nb\nc\r"), ["a", "b", "c"]);
    // Two CRs are two lines; LF LF too.
    assert_eq!(lines(b"\r\r"), ["", ""]);
    assert_eq!(lines(b"x\n\n"), ["x", ""]);
}

#[test]
fn backspace_and_del_erase_one_byte_each() {
    let mut ed = LineEditor::new();
    let (echo, done) = feed(&mut ed, b"lsx\x7f\x08s\r");
    assert_eq!(echo, "lsx\x08 \x08\x08 \x08s\n");
    assert_eq!(done, vec![Input::Line]);
    assert_eq!(ed.submitted(), "ls");
    // Nothing to erase: no echo.
    let (echo, _) = feed(&mut ed, b"\x7f\x7f");
    assert_eq!(echo, "");
}

#[test]
fn ctrl_c_drops_the_line() {
    let mut ed = LineEditor::new();
    let (echo, done) = feed(&mut ed, b"free 1\x03ps\r");
    assert_eq!(echo, "free 1^C\nps\n");
    assert_eq!(done, vec![Input::Interrupt, Input::Line]);
    assert_eq!(ed.submitted(), "ps");
    // A dropped line is not in the history.
    assert_eq!(ed.history().collect::<Vec<_>>(), ["ps"]);
}

#[test]
fn ctrl_u_erases_the_whole_line() {
    let mut ed = LineEditor::new();
    let (echo, _) = feed(&mut ed, b"ab\x15c\r");
    assert_eq!(echo, "ab\x08 \x08\x08 \x08c\n");
    assert_eq!(ed.history().collect::<Vec<_>>(), ["c"]);
}

#[test]
fn other_control_bytes_and_non_ascii_are_ignored() {
    assert_eq!(lines(b"a\tb\x01\x02\x04\xff\xc3\xa9c\r"), ["abc"]);
}

#[test]
fn a_full_line_rings_the_bell_and_keeps_what_fits() {
    let mut ed = LineEditor::new();
    let long = vec![b'x'; LINE_MAX + 3];
    let (echo, _) = feed(&mut ed, &long);
    assert_eq!(ed.line().len(), LINE_MAX);
    assert!(echo.ends_with("\x07\x07\x07"), "{echo:?}");
}

#[test]
fn up_and_down_walk_the_history() {
    let mut ed = LineEditor::new();
    feed(&mut ed, b"one\rtwo\rthree\r");
    // Up shows the last line, erasing nothing (the line is empty).
    let (echo, _) = feed(&mut ed, b"\x1b[A");
    assert_eq!(echo, "three");
    // Up again: "three" erased, "two" shown.
    let (echo, _) = feed(&mut ed, b"\x1b[A");
    assert_eq!(echo, format!("{}two", "\x08 \x08".repeat(5)));
    feed(&mut ed, b"\x1b[A");
    assert_eq!(ed.line(), "one");
    // Past the oldest: the bell, the line stays.
    let (echo, _) = feed(&mut ed, b"\x1b[A");
    assert_eq!(echo, "\x07");
    assert_eq!(ed.line(), "one");
    feed(&mut ed, b"\x1b[B");
    assert_eq!(ed.line(), "two");
    // Enter runs the line shown.
    let (_, done) = feed(&mut ed, b"\r");
    assert_eq!(done, vec![Input::Line]);
    assert_eq!(ed.submitted(), "two");
}

#[test]
fn down_past_the_newest_brings_back_the_line_being_typed() {
    let mut ed = LineEditor::new();
    feed(&mut ed, b"old\r");
    feed(&mut ed, b"new");
    feed(&mut ed, b"\x1b[A");
    assert_eq!(ed.line(), "old");
    let (echo, _) = feed(&mut ed, b"\x1b[B");
    assert_eq!(echo, format!("{}new", "\x08 \x08".repeat(3)));
    assert_eq!(ed.line(), "new");
    // Down with nothing recalled does nothing.
    let (echo, _) = feed(&mut ed, b"\x1b[B");
    assert_eq!(echo, "");
}

#[test]
fn a_recalled_line_can_be_edited() {
    let mut ed = LineEditor::new();
    feed(&mut ed, b"alloc_pages 3\r");
    let (_, done) = feed(&mut ed, b"\x1b[A\x7f4\r");
    assert_eq!(done, vec![Input::Line]);
    assert_eq!(ed.submitted(), "alloc_pages 4");
    assert_eq!(ed.history().collect::<Vec<_>>(), ["alloc_pages 3", "alloc_pages 4"]);
}

#[test]
fn application_mode_arrows_and_other_sequences() {
    let mut ed = LineEditor::new();
    feed(&mut ed, b"ps\r");
    // ESC O A is the up arrow in application cursor mode.
    feed(&mut ed, b"\x1bOA");
    assert_eq!(ed.line(), "ps");
    feed(&mut ed, b"\x15");
    // Right/left arrows, Delete (ESC [ 3 ~), F5 (ESC [ 1 5 ~): read, ignored.
    let (echo, _) = feed(&mut ed, b"\x1b[C\x1b[D\x1b[3~\x1b[15~x");
    assert_eq!(echo, "x");
    assert_eq!(ed.line(), "x");
    // A lone ESC followed by a letter: both swallowed, nothing else.
    let (echo, _) = feed(&mut ed, b"\x1bqy");
    assert_eq!(echo, "y");
    assert_eq!(ed.line(), "xy");
}

#[test]
fn the_history_keeps_the_last_lines_once_each() {
    let mut ed = LineEditor::new();
    for i in 0..HISTORY_LEN + 4 {
        feed(&mut ed, format!("cmd{i}\r").as_bytes());
    }
    let h: Vec<_> = ed.history().collect();
    assert_eq!(h.len(), HISTORY_LEN);
    assert_eq!(h[0], "cmd4");
    assert_eq!(h[HISTORY_LEN - 1], format!("cmd{}", HISTORY_LEN + 3));
    // Repeats and blank lines are not kept.
    let mut ed = LineEditor::new();
    feed(&mut ed, b"ps\rps\r  \r\rps\r");
    assert_eq!(ed.history().collect::<Vec<_>>(), ["ps"]);
}

#[test]
fn the_editor_never_panics_on_any_byte_sequence() {
    let mut ed = LineEditor::new();
    let mut echo = String::new();
    let mut x = 0x1234_5678u32;
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        // Mostly ESC, arrows, CR and printable bytes.
        let b = match x % 8 {
            0 => 0x1b,
            1 => b'[',
            2 => b'A' + (x >> 8) as u8 % 4,
            3 => b'\r',
            4 => 0x7f,
            _ => (x >> 16) as u8,
        };
        let _ = ed.feed(b, &mut echo);
        assert!(ed.line().len() <= LINE_MAX);
        echo.clear();
    }
}

// ---------------------------------------------------------------------------
// The parser

const LIMITS: Limits = Limits { max_order: 10 };

fn ok(line: &str) -> Command<'_> {
    parse(line, &LIMITS).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// The error line for `line`.
fn error(line: &str) -> String {
    match parse(line, &LIMITS) {
        Ok(c) => panic!("{line:?}: parsed as {c:?}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn blank_lines_and_comments_are_empty() {
    assert_eq!(ok(""), Command::Empty);
    assert_eq!(ok("   \t "), Command::Empty);
    assert_eq!(ok("# a comment > with a redirect"), Command::Empty);
    assert_eq!(ok("#alloc_pages 99"), Command::Empty);
}

#[test]
fn unknown_commands_are_not_found() {
    assert_eq!(error("foo"), "shell: foo: command not found");
    assert_eq!(error("  frobnicate 1 2"), "shell: frobnicate: command not found");
}

#[test]
fn alloc_pages_takes_an_order_a_gfp_and_a_node() {
    assert_eq!(ok("alloc_pages 0"), Command::AllocPages { order: 0, gfp: None, node: None });
    assert_eq!(
        ok("alloc_pages 10 GFP_KERNEL|__GFP_ZERO 1"),
        Command::AllocPages { order: 10, gfp: Some("GFP_KERNEL|__GFP_ZERO"), node: Some(1) }
    );
    assert_eq!(ok("alloc_pages 0x3 GFP_DMA"), Command::AllocPages { order: 3, gfp: Some("GFP_DMA"), node: None });
    assert_eq!(error("alloc_pages 12"), "shell: alloc_pages: order 12 out of range (0-10)");
    assert_eq!(error("alloc_pages x"), "shell: alloc_pages: 'x': not a number");
    assert_eq!(error("alloc_pages -1"), "shell: alloc_pages: '-1': not a number");
    assert_eq!(error("alloc_pages"), "shell: alloc_pages: usage: alloc_pages ORDER [GFP [NODE]]");
    assert_eq!(error("alloc_pages 1 GFP_KERNEL 0 9"), "shell: alloc_pages: usage: alloc_pages ORDER [GFP [NODE]]");
    assert_eq!(error("alloc_pages 1 GFP_KERNEL n"), "shell: alloc_pages: 'n': not a number");
    assert_eq!(error("alloc_pages 99999999999999999999"), "shell: alloc_pages: '99999999999999999999': not a number");
}

#[test]
fn free_takes_handles_or_all() {
    assert_eq!(ok("free 7"), Command::Free(FreeWhat::Handles([7].as_slice().try_into().unwrap())));
    assert_eq!(ok("free 1 2 3"), Command::Free(FreeWhat::Handles([1, 2, 3].as_slice().try_into().unwrap())));
    assert_eq!(ok("free all"), Command::Free(FreeWhat::All));
    assert_eq!(error("free"), "shell: free: usage: free HANDLE...|all");
    assert_eq!(error("free seven"), "shell: free: 'seven': not a number");
    assert_eq!(error("free 1 all"), "shell: free: 'all': not a number");
    assert_eq!(error("free 4294967296"), "shell: free: handle 4294967296 out of range (1-4294967295)");
}

#[test]
fn sizes_take_suffixes() {
    assert_eq!(ok("kmalloc 64"), Command::Kmalloc { size_bytes: 64, gfp: None });
    assert_eq!(ok("kmalloc 8K GFP_ATOMIC"), Command::Kmalloc { size_bytes: 8192, gfp: Some("GFP_ATOMIC") });
    assert_eq!(ok("vmalloc 1M"), Command::Vmalloc { size_bytes: 1 << 20 });
    assert_eq!(ok("vmalloc 0x2000"), Command::Vmalloc { size_bytes: 0x2000 });
    assert_eq!(error("kmalloc 0"), "shell: kmalloc: size 0 out of range (1-1099511627776)");
    assert_eq!(error("vmalloc 1Q"), "shell: vmalloc: '1Q': not a number");
    assert_eq!(error("vmalloc"), "shell: vmalloc: usage: vmalloc SIZE");
    assert_eq!(error("vmalloc 2T"), "shell: vmalloc: size 2199023255552 out of range (1-1099511627776)");
}

#[test]
fn kmem_cache_commands_take_a_name() {
    assert_eq!(ok("kmem_cache_create my_cache 200"), Command::KmemCacheCreate { name: "my_cache", size_bytes: 200 });
    assert_eq!(ok("kmem_cache_alloc my_cache"), Command::KmemCacheAlloc { name: "my_cache" });
    assert_eq!(ok("kmem_cache_destroy my_cache"), Command::KmemCacheDestroy { name: "my_cache" });
    assert_eq!(
        error("kmem_cache_create a/b 8"),
        "shell: kmem_cache_create: 'a/b': not a valid cache name (letters, digits, _ - ., 32 at most)"
    );
    assert!(error(&format!("kmem_cache_create {} 8", "x".repeat(33))).contains("not a valid cache name"));
    assert_eq!(error("kmem_cache_create c 2M"), "shell: kmem_cache_create: size 2097152 out of range (1-1048576)");
    assert_eq!(error("kmem_cache_create c"), "shell: kmem_cache_create: usage: kmem_cache_create NAME SIZE");
    assert_eq!(error("kmem_cache_alloc"), "shell: kmem_cache_alloc: usage: kmem_cache_alloc NAME");
}

#[test]
fn cma_alloc_and_fragment() {
    assert_eq!(ok("cma_alloc 16"), Command::CmaAlloc { nr_pages: 16, area: None });
    assert_eq!(ok("cma_alloc 16 reserved"), Command::CmaAlloc { nr_pages: 16, area: Some("reserved") });
    assert_eq!(error("cma_alloc 0"), "shell: cma_alloc: page count 0 out of range (1-268435456)");
    assert_eq!(ok("fragment Normal"), Command::Fragment { zone: "Normal", node: None });
    assert_eq!(ok("fragment DMA 1"), Command::Fragment { zone: "DMA", node: Some(1) });
    assert_eq!(error("fragment"), "shell: fragment: usage: fragment ZONE [NODE]");
}

#[test]
fn cat_ls_and_echo() {
    let cat = ok("cat /proc/buddyinfo /proc/meminfo");
    assert_eq!(cat, Command::Cat(["/proc/buddyinfo", "/proc/meminfo"].as_slice().try_into().unwrap()));
    assert_eq!(error("cat"), "shell: cat: usage: cat FILE...");
    assert_eq!(error("cat /proc/meminfo > /tmp/x"), "shell: cat: output redirection works only with echo");
    assert_eq!(ok("ls"), Command::Ls(None));
    assert_eq!(ok("ls /proc"), Command::Ls(Some("/proc")));
    assert_eq!(ok("echo"), Command::Echo { text: "", to: None });
    assert_eq!(ok("echo  hello   world "), Command::Echo { text: "hello   world", to: None });
    assert_eq!(
        ok("echo 1 > /proc/sys/vm/compact_memory"),
        Command::Echo { text: "1", to: Some("/proc/sys/vm/compact_memory") }
    );
    assert_eq!(
        ok("echo 3>/proc/sys/vm/drop_caches"),
        Command::Echo { text: "3", to: Some("/proc/sys/vm/drop_caches") }
    );
    assert_eq!(
        ok("echo 3 >> /proc/sys/vm/drop_caches"),
        Command::Echo { text: "3", to: Some("/proc/sys/vm/drop_caches") }
    );
    assert_eq!(ok("echo > /proc/sys/vm/x"), Command::Echo { text: "", to: Some("/proc/sys/vm/x") });
    assert_eq!(error("echo 1 >"), "shell: echo: usage: echo [TEXT] [> FILE]");
    assert_eq!(error("echo 1 > a b"), "shell: echo: usage: echo [TEXT] [> FILE]");
    assert_eq!(error("echo 1 > a > b"), "shell: echo: usage: echo [TEXT] [> FILE]");
}

#[test]
fn run_ps_and_kill() {
    assert_eq!(
        ok("run hello a b"),
        Command::Run { argv: ["hello", "a", "b"].as_slice().try_into().unwrap(), background: false }
    );
    assert_eq!(
        ok("run memtouch 64 &"),
        Command::Run { argv: ["memtouch", "64"].as_slice().try_into().unwrap(), background: true }
    );
    assert_eq!(
        ok("run memtouch 64&"),
        Command::Run { argv: ["memtouch", "64"].as_slice().try_into().unwrap(), background: true }
    );
    assert_eq!(error("run"), "shell: run: usage: run PROGRAM [ARGS...] [&]");
    assert_eq!(error("run &"), "shell: run: usage: run PROGRAM [ARGS...] [&]");
    let many = format!("run {}", "a ".repeat(MAX_ARGS + 1));
    assert_eq!(error(&many), format!("shell: run: too many arguments (at most {MAX_ARGS})"));
    assert_eq!(ok("ps"), Command::Ps);
    assert_eq!(error("ps aux"), "shell: ps: usage: ps");
    assert_eq!(ok("kill 5"), Command::Kill { sig: 15, pid: 5 });
    assert_eq!(ok("kill -9 5"), Command::Kill { sig: 9, pid: 5 });
    assert_eq!(ok("kill -KILL 5"), Command::Kill { sig: 9, pid: 5 });
    assert_eq!(ok("kill -SIGINT 5"), Command::Kill { sig: 2, pid: 5 });
    assert_eq!(error("kill -FOO 5"), "shell: kill: '-FOO': not a valid signal");
    assert_eq!(error("kill -65 5"), "shell: kill: '-65': not a valid signal");
    assert_eq!(error("kill 0"), "shell: kill: pid 0 out of range (1-2147483647)");
    assert_eq!(error("kill 9 5"), "shell: kill: usage: kill [-SIGNAL] PID");
}

#[test]
fn selftest_bench_and_poweroff() {
    assert_eq!(ok("selftest"), Command::Selftest(None));
    assert_eq!(ok("selftest timer"), Command::Selftest(Some(TestName { suite: "timer", test: None })));
    assert_eq!(
        ok("selftest pages.zeroing"),
        Command::Selftest(Some(TestName { suite: "pages", test: Some("zeroing") }))
    );
    assert_eq!(error("selftest a.b.c"), "shell: selftest: 'a.b.c': not a valid SUITE or SUITE.TEST name");
    assert_eq!(error("selftest a b"), "shell: selftest: usage: selftest [SUITE[.TEST]]");
    assert_eq!(ok("bench"), Command::Bench(0b11));
    assert_eq!(ok("bench vmalloc"), Command::Bench(0b100));
    assert_eq!(ok("bench pages,smp"), Command::Bench(0b10_0001));
    assert_eq!(error("bench foo"), "shell: bench: no such suite \"foo\"");
    assert_eq!(error("bench pages,"), "shell: bench: no such suite \"\"");
    assert_eq!(ok("sleep 2"), Command::Sleep(2000));
    assert_eq!(ok("sleep 0.25"), Command::Sleep(250));
    assert_eq!(ok("sleep .5"), Command::Sleep(500));
    assert_eq!(ok("sleep 1."), Command::Sleep(1000));
    assert_eq!(error("sleep 0.0001"), "shell: sleep: '0.0001': not a number");
    assert_eq!(error("sleep ."), "shell: sleep: '.': not a number");
    assert_eq!(error("sleep -1"), "shell: sleep: '-1': not a number");
    assert_eq!(error("sleep 1e3"), "shell: sleep: '1e3': not a number");
    assert_eq!(error("sleep 3601"), "shell: sleep: seconds 3601 out of range (0-3600)");
    assert_eq!(ok("poweroff"), Command::Poweroff);
    assert_eq!(error("poweroff now"), "shell: poweroff: usage: poweroff");
}

#[test]
fn help_and_handles() {
    assert_eq!(ok("help"), Command::Help(None));
    assert_eq!(ok("help free"), Command::Help(Some("free")));
    assert_eq!(ok("handles"), Command::Handles);
    assert_eq!(error("handles 1"), "shell: handles: usage: handles");
    // Every command has a usage line, and every usage line starts with its name.
    for (name, u, help) in COMMANDS {
        assert_eq!(usage(name), Some(*u));
        assert!(u.starts_with(name), "{u}");
        assert!(!help.is_empty());
    }
}

#[test]
fn numbers_are_decimal_or_hex() {
    assert_eq!(number("0"), Some(0));
    assert_eq!(number("42"), Some(42));
    assert_eq!(number("0x2a"), Some(42));
    assert_eq!(number("0X2A"), Some(42));
    assert_eq!(number("0x"), None);
    assert_eq!(number(""), None);
    assert_eq!(number("4k"), None);
    assert_eq!(number("+1"), None);
}

#[test]
fn the_parser_never_panics_on_any_line() {
    let words = [
        "alloc_pages",
        "free",
        "kmalloc",
        "echo",
        ">",
        ">>",
        "&",
        "run",
        "kill",
        "-9",
        "0",
        "12",
        "0x",
        "1K",
        "selftest",
        "a.b",
        "bench",
        ",",
        "#",
        "cat",
        "",
        "\t",
        "kmem_cache_create",
        "é",
        "9999999999999999999999",
    ];
    let mut x = 0x9e37_79b9u32;
    for _ in 0..50_000 {
        let mut line = String::new();
        for _ in 0..(x % 7) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            line.push_str(words[x as usize % words.len()]);
            line.push(if x & 0x100 != 0 { ' ' } else { '>' });
        }
        x = x.wrapping_add(1);
        let _ = parse(&line, &LIMITS);
    }
}

#[test]
fn error_kinds_print_as_one_line() {
    let kinds = [ErrorKind::NotFound, ErrorKind::Redirect, ErrorKind::TooManyArgs, ErrorKind::Usage("x")];
    for kind in kinds {
        let e = bootdata::shell::ShellError { cmd: "c", kind };
        let s = e.to_string();
        assert!(s.starts_with("shell: c: ") && !s.contains('\n'), "{s}");
    }
}
