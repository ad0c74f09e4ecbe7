//! One console line parsed into a [`Command`], or the one-line error that
//! says why not ([`ShellError`], printed as `shell: CMD: why`).
//!
//! Words are separated by blanks; there is no quoting, no globbing and no
//! variables. A line whose first word starts with `#` is a comment. `>`
//! (or `>>`, the same here) redirects only `echo`, to a file the kernel
//! lets one write (`echo 1 > /proc/sys/vm/compact_memory`); a trailing `&`
//! runs a program in the background (`run memtouch 64 &`).
//!
//! What can be checked without the kernel is checked here: the number and
//! form of the arguments, numbers and sizes (`4096`, `0x1000`, `64K`), an
//! order against [`Limits::max_order`], self-test and benchmark names.
//! Whether a handle, a node, a cache, a process or a file exists, and GFP
//! names (the `mm` crate's), the kernel checks when it runs the command.

use crate::cmdline::{BENCH_SUITES, TestName, memparse};
use core::fmt;
use heapless::Vec;

/// Most words a command takes after its name.
pub const MAX_ARGS: usize = 16;

/// The words after a command's name.
pub type Args<'a> = Vec<&'a str, MAX_ARGS>;

/// The kernel's limits the parser checks against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest order the page allocator hands out (Linux's MAX_PAGE_ORDER).
    pub max_order: u32,
}

/// A parsed line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// A blank line or a comment.
    Empty,
    /// `help [CMD]`.
    Help(Option<&'a str>),
    /// `cat FILE...`.
    Cat(Args<'a>),
    /// `ls [DIR]`.
    Ls(Option<&'a str>),
    /// `echo [TEXT] [> FILE]`: the text as typed (from its first word to its
    /// last; the kernel joins its words by one blank), the file.
    Echo { text: &'a str, to: Option<&'a str> },
    /// `alloc_pages ORDER [GFP [NODE]]`.
    AllocPages { order: u32, gfp: Option<&'a str>, node: Option<u32> },
    /// `free HANDLE...` (numbers) or `free all`.
    Free(FreeWhat),
    /// `kmalloc SIZE [GFP]`.
    Kmalloc { size_bytes: u64, gfp: Option<&'a str> },
    /// `kmem_cache_create NAME SIZE`.
    KmemCacheCreate { name: &'a str, size_bytes: u64 },
    /// `kmem_cache_alloc NAME`.
    KmemCacheAlloc { name: &'a str },
    /// `kmem_cache_destroy NAME`.
    KmemCacheDestroy { name: &'a str },
    /// `vmalloc SIZE`.
    Vmalloc { size_bytes: u64 },
    /// `cma_alloc PAGES [AREA]`.
    CmaAlloc { nr_pages: u64, area: Option<&'a str> },
    /// `fragment ZONE [NODE]`.
    Fragment { zone: &'a str, node: Option<u32> },
    /// `handles`.
    Handles,
    /// `run PROGRAM [ARGS...] [&]`: argv (the program first).
    Run { argv: Args<'a>, background: bool },
    /// `ps`.
    Ps,
    /// `kill [-SIG] PID`.
    Kill { sig: u32, pid: i32 },
    /// `selftest [SUITE[.TEST]]`.
    Selftest(Option<TestName<'a>>),
    /// `bench [SUITE[,SUITE...]]`: bit i is `BENCH_SUITES[i]`.
    Bench(u32),
    /// `sleep SECONDS` (`0.25` too): milliseconds.
    Sleep(u64),
    /// `poweroff`.
    Poweroff,
}

/// What `free` frees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FreeWhat {
    /// These handles, in order.
    Handles(Vec<u32, MAX_ARGS>),
    /// Every handle.
    All,
}

/// The commands, their usage and a line of help, in `help`'s order.
pub const COMMANDS: &[(&str, &str, &str)] = &[
    ("help", "help [COMMAND]", "this list, or one command's usage"),
    ("cat", "cat FILE...", "print /proc and debugfs files (ls / lists them)"),
    ("ls", "ls [DIR]", "list a directory of /proc and /sys/kernel/debug"),
    ("echo", "echo [TEXT] [> FILE]", "print TEXT, or write it to a /proc/sys/vm file"),
    ("alloc_pages", "alloc_pages ORDER [GFP [NODE]]", "2^ORDER pages (GFP like GFP_KERNEL|__GFP_ZERO)"),
    ("free", "free HANDLE...|all", "give back what handles hold"),
    ("kmalloc", "kmalloc SIZE [GFP]", "a zeroed kmalloc object (kzalloc)"),
    ("kmem_cache_create", "kmem_cache_create NAME SIZE", "a slab cache of SIZE-byte objects"),
    ("kmem_cache_alloc", "kmem_cache_alloc NAME", "an object of a cache made here"),
    ("kmem_cache_destroy", "kmem_cache_destroy NAME", "destroy a cache made here (no objects left)"),
    ("vmalloc", "vmalloc SIZE", "SIZE bytes of vmalloc space, backed by pages"),
    ("cma_alloc", "cma_alloc PAGES [AREA]", "PAGES contiguous pages from a CMA area (default: the default area)"),
    ("fragment", "fragment ZONE [NODE]", "take every free page of a zone, give back every other one"),
    ("handles", "handles", "list what the handles hold"),
    ("run", "run PROGRAM [ARGS...] [&]", "run a built-in or initramfs program (& : in the background)"),
    ("ps", "ps", "list user processes"),
    ("kill", "kill [-SIGNAL] PID", "send a signal (default SIGTERM) to a process"),
    ("selftest", "selftest [SUITE[.TEST]]", "run self-tests (default: those selftest=all runs)"),
    ("bench", "bench [SUITE[,SUITE...]]", "run benchmarks (default: pages,slab)"),
    ("sleep", "sleep SECONDS", "wait (a script's pause: 0.5 is half a second)"),
    ("poweroff", "poweroff", "end the run; the exit code is the self-tests' verdict"),
];

/// The usage line of `cmd`.
pub fn usage(cmd: &str) -> Option<&'static str> {
    COMMANDS.iter().find(|(name, _, _)| *name == cmd).map(|&(_, u, _)| u)
}

/// Why a line is not a command, as `shell: CMD: why` says it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellError<'a> {
    /// The command's name (the line's first word).
    pub cmd: &'a str,
    /// What is wrong.
    pub kind: ErrorKind<'a>,
}

/// What is wrong with a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind<'a> {
    /// No such command.
    NotFound,
    /// Wrong number or form of arguments: the usage line.
    Usage(&'static str),
    /// An argument that should be a number (or a size: `64K`).
    NotANumber(&'a str),
    /// A number outside its range: what it is, the value, the range.
    OutOfRange { what: &'static str, value: u64, min: u64, max: u64 },
    /// A name of the wrong form: what it should be, the name.
    BadName { what: &'static str, name: &'a str },
    /// A well-formed name of nothing that exists: what, the name.
    NoSuch { what: &'static str, name: &'a str },
    /// `>` on a command other than `echo`.
    Redirect,
    /// More than [`MAX_ARGS`] words.
    TooManyArgs,
}

impl fmt::Display for ShellError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cmd = self.cmd;
        match &self.kind {
            ErrorKind::NotFound => write!(f, "shell: {cmd}: command not found"),
            ErrorKind::Usage(u) => write!(f, "shell: {cmd}: usage: {u}"),
            ErrorKind::NotANumber(s) => write!(f, "shell: {cmd}: '{s}': not a number"),
            ErrorKind::OutOfRange { what, value, min, max } => {
                write!(f, "shell: {cmd}: {what} {value} out of range ({min}-{max})")
            }
            ErrorKind::BadName { what, name } => write!(f, "shell: {cmd}: '{name}': not a valid {what}"),
            ErrorKind::NoSuch { what, name } => write!(f, "shell: {cmd}: no such {what} \"{name}\""),
            ErrorKind::Redirect => write!(f, "shell: {cmd}: output redirection works only with echo"),
            ErrorKind::TooManyArgs => write!(f, "shell: {cmd}: too many arguments (at most {MAX_ARGS})"),
        }
    }
}

/// A plain number: decimal, or hex after `0x`.
pub fn number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) if !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()) => u64::from_str_radix(h, 16).ok(),
        Some(_) => None,
        None if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => s.parse().ok(),
        None => None,
    }
}

/// Seconds with up to three decimals (`2`, `0.25`), in milliseconds.
fn seconds_ms(s: &str) -> Option<u64> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if frac.len() > 3 || !digits(whole) || !digits(frac) || (whole.is_empty() && frac.is_empty()) {
        return None;
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut ms = 0;
    for (i, b) in frac.bytes().enumerate() {
        ms += u64::from(b - b'0') * [100, 10, 1][i];
    }
    whole.checked_mul(1000)?.checked_add(ms)
}

/// A signal by number (`9`) or name (`KILL`, `SIGKILL`).
fn signal(s: &str) -> Option<u32> {
    const NAMES: &[(&str, u32)] =
        &[("HUP", 1), ("INT", 2), ("QUIT", 3), ("KILL", 9), ("SEGV", 11), ("TERM", 15), ("CHLD", 17), ("CONT", 18)];
    if let Some(n) = number(s) {
        return (n <= 64).then_some(n as u32);
    }
    let name = s.strip_prefix("SIG").unwrap_or(s);
    NAMES.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

/// Parse one line.
pub fn parse<'a>(line: &'a str, limits: &Limits) -> Result<Command<'a>, ShellError<'a>> {
    let mut words = line.split_ascii_whitespace();
    let Some(cmd) = words.next() else { return Ok(Command::Empty) };
    if cmd.starts_with('#') {
        return Ok(Command::Empty);
    }
    let err = |kind| ShellError { cmd, kind };
    if cmd == "echo" {
        return parse_echo(line, cmd);
    }
    let mut args: Args<'a> = Vec::new();
    for w in words {
        if w.starts_with('>') {
            return Err(err(ErrorKind::Redirect));
        }
        args.push(w).map_err(|_| err(ErrorKind::TooManyArgs))?;
    }
    let bad_usage = || err(ErrorKind::Usage(usage(cmd).unwrap_or("")));
    let num = |s: &'a str| number(s).ok_or(err(ErrorKind::NotANumber(s)));
    let size = |s: &'a str| memparse(s).ok_or(err(ErrorKind::NotANumber(s)));
    let node = |s: Option<&&'a str>| -> Result<Option<u32>, ShellError<'a>> {
        s.map(|s| {
            let n = num(s)?;
            u32::try_from(n)
                .map_err(|_| err(ErrorKind::OutOfRange { what: "node", value: n, min: 0, max: u32::MAX as u64 }))
        })
        .transpose()
    };
    let at_least_1 = |what: &'static str, v: u64, max: u64| {
        if v == 0 || v > max { Err(err(ErrorKind::OutOfRange { what, value: v, min: 1, max })) } else { Ok(v) }
    };
    let n = args.len();
    let a = args.as_slice();
    Ok(match (cmd, n) {
        ("help", 0 | 1) => Command::Help(a.first().copied()),
        ("cat", 1..) => Command::Cat(args),
        ("ls", 0 | 1) => Command::Ls(a.first().copied()),
        ("alloc_pages", 1..=3) => {
            let order = num(a[0])?;
            if order > limits.max_order as u64 {
                return Err(err(ErrorKind::OutOfRange {
                    what: "order",
                    value: order,
                    min: 0,
                    max: limits.max_order as u64,
                }));
            }
            Command::AllocPages { order: order as u32, gfp: a.get(1).copied(), node: node(a.get(2))? }
        }
        ("free", 1..) if a == ["all"] => Command::Free(FreeWhat::All),
        ("free", 1..) => {
            let mut handles = Vec::new();
            for s in a {
                let h = num(s)?;
                let h = u32::try_from(h).map_err(|_| {
                    err(ErrorKind::OutOfRange { what: "handle", value: h, min: 1, max: u32::MAX as u64 })
                })?;
                // Fits: as many handles as words.
                let _ = handles.push(h);
            }
            Command::Free(FreeWhat::Handles(handles))
        }
        ("kmalloc", 1 | 2) => {
            Command::Kmalloc { size_bytes: at_least_1("size", size(a[0])?, 1 << 40)?, gfp: a.get(1).copied() }
        }
        ("kmem_cache_create", 2) => {
            let name = a[0];
            let ok = name.len() <= 32 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !ok {
                return Err(err(ErrorKind::BadName { what: "cache name (letters, digits, _ - ., 32 at most)", name }));
            }
            Command::KmemCacheCreate { name, size_bytes: at_least_1("size", size(a[1])?, 1 << 20)? }
        }
        ("kmem_cache_alloc", 1) => Command::KmemCacheAlloc { name: a[0] },
        ("kmem_cache_destroy", 1) => Command::KmemCacheDestroy { name: a[0] },
        ("vmalloc", 1) => Command::Vmalloc { size_bytes: at_least_1("size", size(a[0])?, 1 << 40)? },
        ("cma_alloc", 1 | 2) => {
            Command::CmaAlloc { nr_pages: at_least_1("page count", num(a[0])?, 1 << 28)?, area: a.get(1).copied() }
        }
        ("fragment", 1 | 2) => Command::Fragment { zone: a[0], node: node(a.get(1))? },
        ("handles", 0) => Command::Handles,
        ("run", 1..) => {
            let mut argv = args;
            let mut background = false;
            if let Some(last) = argv.last_mut() {
                if *last == "&" {
                    argv.pop();
                    background = true;
                } else if let Some(s) = last.strip_suffix('&') {
                    *last = s;
                    background = true;
                }
            }
            if argv.is_empty() {
                return Err(bad_usage());
            }
            Command::Run { argv, background }
        }
        ("ps", 0) => Command::Ps,
        ("kill", 1 | 2) => {
            let (sig, pid) = match a {
                [pid] => (15, *pid),
                [s, pid] => match s.strip_prefix('-') {
                    Some(name) => (signal(name).ok_or(err(ErrorKind::BadName { what: "signal", name: s }))?, *pid),
                    None => return Err(bad_usage()),
                },
                _ => return Err(bad_usage()),
            };
            let p = num(pid)?;
            if p == 0 || p > i32::MAX as u64 {
                return Err(err(ErrorKind::OutOfRange { what: "pid", value: p, min: 1, max: i32::MAX as u64 }));
            }
            Command::Kill { sig, pid: p as i32 }
        }
        ("selftest", 0) => Command::Selftest(None),
        ("selftest", 1) => match TestName::parse(a[0]) {
            Some(t) => Command::Selftest(Some(t)),
            None => return Err(err(ErrorKind::BadName { what: "SUITE or SUITE.TEST name", name: a[0] })),
        },
        ("bench", 0) => Command::Bench(0b11),
        ("bench", 1) => {
            let mut mask = 0;
            for name in a[0].split(',') {
                match BENCH_SUITES.iter().position(|&s| s == name) {
                    Some(i) => mask |= 1 << i,
                    None => return Err(err(ErrorKind::NoSuch { what: "suite", name })),
                }
            }
            Command::Bench(mask)
        }
        ("sleep", 1) => {
            let ms = seconds_ms(a[0]).ok_or(err(ErrorKind::NotANumber(a[0])))?;
            if ms > 3_600_000 {
                return Err(err(ErrorKind::OutOfRange { what: "seconds", value: ms / 1000, min: 0, max: 3600 }));
            }
            Command::Sleep(ms)
        }
        ("poweroff", 0) => Command::Poweroff,
        _ if usage(cmd).is_some() => return Err(bad_usage()),
        _ => return Err(err(ErrorKind::NotFound)),
    })
}

/// `echo [TEXT] [> FILE]`: the text from its first word to its last.
fn parse_echo<'a>(line: &'a str, cmd: &'a str) -> Result<Command<'a>, ShellError<'a>> {
    let rest = line.trim_start();
    let rest = rest[cmd.len()..].trim();
    let Some(at) = rest.find('>') else { return Ok(Command::Echo { text: rest, to: None }) };
    let text = rest[..at].trim_end();
    let target = rest[at..].trim_start_matches('>').trim();
    let mut words = target.split_ascii_whitespace();
    match (words.next(), words.next()) {
        (Some(file), None) if !file.contains('>') => Ok(Command::Echo { text, to: Some(file) }),
        _ => Err(ShellError { cmd, kind: ErrorKind::Usage(usage(cmd).unwrap_or("")) }),
    }
}
