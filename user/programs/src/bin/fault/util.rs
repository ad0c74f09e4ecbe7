//! The suite's helpers: failing with a reason, running code in a child and
//! checking how it ended, and a shared page for parent-child handshakes.
use ulib::mem::Mapping;
use ulib::sys::{self, Fork, PAGE_SIZE, WaitStatus};
use ulib::{Errno, eprintln};

/// A test's verdict; the reason was printed where it was found.
pub type TestResult = Result<(), Failed>;

/// A test failed (its reason is already on stderr).
#[derive(Debug)]
pub struct Failed;

/// Fails the test with a message unless `cond` holds.
#[macro_export]
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        let ok: bool = $cond;
        if !ok {
            ulib::eprintln!("fault: pid {}: {} (at line {})", ulib::sys::getpid(), format_args!($($fmt)*), line!());
            return Err($crate::util::Failed);
        }
    };
}

/// Fails the test with a message.
#[macro_export]
macro_rules! fail {
    ($($fmt:tt)*) => {{
        ulib::eprintln!("fault: pid {}: {} (at line {})", ulib::sys::getpid(), format_args!($($fmt)*), line!());
        return Err($crate::util::Failed);
    }};
}

/// Unwraps a system call's result or fails the test naming the call.
pub trait OrFail<T> {
    fn or_fail(self, what: &str) -> Result<T, Failed>;
}

impl<T> OrFail<T> for Result<T, Errno> {
    fn or_fail(self, what: &str) -> Result<T, Failed> {
        self.map_err(|e| {
            eprintln!("fault: pid {}: {}: {}", sys::getpid(), what, e);
            Failed
        })
    }
}

/// How a test's child ended when it did not pass.
pub enum Why {
    Status(WaitStatus),
    TimedOut,
    Fork(Errno),
    Wait(Errno),
    Setup(Errno),
}

impl core::fmt::Debug for Why {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Why::Status(s) => write!(f, "{:?}", s),
            Why::TimedOut => write!(f, "no verdict after {} s: killed by the watchdog", TIMEOUT_S),
            Why::Setup(e) => write!(f, "mmap of the watchdog page: {}", e),
            Why::Fork(e) => write!(f, "fork: {}", e),
            Why::Wait(e) => write!(f, "wait4: {}", e),
        }
    }
}

/// How long a test may run before the watchdog kills it.
pub const TIMEOUT_S: u64 = 120;

/// Runs `test` in a child; passes when the child exits with status 0.
///
/// A second child, the watchdog, sleeps [`TIMEOUT_S`] and then kills the
/// test with SIGKILL, noting it in a shared page, so a hanging test is
/// one failure and the run goes on. Once the test is reaped the watchdog is
/// killed and reaped too, before anything else is forked (so its kill can
/// only reach the test's pid while that is still ours).
pub fn run_in_child(test: fn() -> TestResult) -> Result<(), Why> {
    let fired = Mapping::new(PAGE_SIZE, sys::prot::RW, sys::map::SHARED | sys::map::ANONYMOUS).map_err(Why::Setup)?;
    let pid = spawn(test).map_err(Why::Fork)?;
    let watchdog = spawn_status(|| {
        let _ = sys::nanosleep(&sys::Timespec { tv_sec: TIMEOUT_S as i64, tv_nsec: 0 });
        fired.write_u64(0, 1);
        let _ = sys::kill(pid, sys::sig::SIGKILL);
        0
    });
    let reaped = sys::wait4(pid, 0);
    if let Ok(w) = watchdog {
        let _ = sys::kill(w, sys::sig::SIGKILL);
        let _ = sys::wait4_nostatus(w, 0);
    }
    let (_, status) = reaped.map_err(Why::Wait)?;
    if fired.read_u64(0) != 0 {
        return Err(Why::TimedOut);
    }
    if status.exited() && status.exit_status() == 0 { Ok(()) } else { Err(Why::Status(status)) }
}

/// Forks a child that runs `f` and exits 0 if it returned Ok, 1 if not.
pub fn spawn(f: impl FnOnce() -> TestResult) -> Result<i32, Errno> {
    match sys::fork()? {
        Fork::Child => sys::exit_group(if f().is_ok() { 0 } else { 1 }),
        Fork::Parent(pid) => Ok(pid),
    }
}

/// Forks a child that runs `f` and exits with the status it returns.
pub fn spawn_status(f: impl FnOnce() -> i32) -> Result<i32, Errno> {
    match sys::fork()? {
        Fork::Child => sys::exit_group(f()),
        Fork::Parent(pid) => Ok(pid),
    }
}

/// Waits for `pid` and checks that it exited with `status`.
pub fn expect_exit(pid: i32, status: i32, what: &str) -> TestResult {
    let (got, st) = sys::wait4(pid, 0).or_fail("wait4")?;
    ensure!(got == pid, "{}: wait4 returned pid {}, expected {}", what, got, pid);
    ensure!(st.exited() && st.exit_status() == status, "{}: child {:?}, expected exit status {}", what, st, status);
    Ok(())
}

/// Waits for `pid` and checks that signal `sig` killed it.
pub fn expect_signal(pid: i32, sig: i32, what: &str) -> TestResult {
    let (got, st) = sys::wait4(pid, 0).or_fail("wait4")?;
    ensure!(got == pid, "{}: wait4 returned pid {}, expected {}", what, got, pid);
    ensure!(st.signaled() && st.term_sig() == sig, "{}: child {:?}, expected to be killed by signal {}", what, st, sig);
    Ok(())
}

/// Runs `f` in a child that must die of SIGSEGV doing it (and exits 0,
/// failing the check, if `f` returns).
pub fn expect_segv(what: &str, f: impl FnOnce()) -> TestResult {
    let pid = spawn_status(|| {
        f();
        0
    })
    .or_fail("fork")?;
    expect_signal(pid, sys::sig::SIGSEGV, what)
}

/// A page shared between parent and child (`MAP_SHARED | MAP_ANONYMOUS`)
/// for handshakes: word slots written and polled with volatile accesses.
pub struct Shared(Mapping);

impl Shared {
    pub fn new() -> Result<Shared, Failed> {
        let m = Mapping::new(PAGE_SIZE, sys::prot::RW, sys::map::SHARED | sys::map::ANONYMOUS)
            .or_fail("mmap(MAP_SHARED|MAP_ANONYMOUS)")?;
        Ok(Shared(m))
    }

    pub fn set(&self, slot: usize, v: u64) {
        self.0.write_u64(slot * 8, v);
    }

    pub fn get(&self, slot: usize) -> u64 {
        self.0.read_u64(slot * 8)
    }

    /// Yields until slot holds `v`, for at most ~10 s.
    pub fn wait_for(&self, slot: usize, v: u64) -> TestResult {
        let deadline = sys::now_ns() + 10_000_000_000;
        while self.get(slot) != v {
            ensure!(
                sys::now_ns() < deadline,
                "timed out waiting for the other process (slot {} = {})",
                slot,
                self.get(slot)
            );
            let _ = sys::sched_yield();
        }
        Ok(())
    }
}

/// A pattern that differs per page and per `seed`.
pub fn pattern(seed: u64) -> impl Fn(usize) -> u64 {
    move |page| seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (page as u64).wrapping_mul(0x0100_0000_01b3) ^ 0x5a5a
}

/// Checks that `m` holds `pattern(seed)`.
pub fn check_pattern(m: &Mapping, seed: u64, what: &str) -> TestResult {
    match m.check_pages(pattern(seed)) {
        Ok(()) => Ok(()),
        Err((page, word)) => fail!("{}: page {} holds {:#x}, not pattern {}", what, page, word, seed),
    }
}

/// Checks that `[off, off + len)` of `m` is all zero.
pub fn check_zero(m: &Mapping, off: usize, len: usize, what: &str) -> TestResult {
    match m.find_nonzero(off, len) {
        None => Ok(()),
        Some((o, v)) => fail!("{}: offset {:#x} holds {:#x}, expected 0", what, o, v),
    }
}

/// Checks that a system call failed with `want`.
pub fn expect_errno<T: core::fmt::Debug>(r: Result<T, Errno>, want: Errno, what: &str) -> TestResult {
    match r {
        Err(e) if e == want => Ok(()),
        Err(e) => fail!("{}: got {}, expected {}", what, e, want),
        Ok(v) => fail!("{}: succeeded ({:?}), expected {}", what, v, want),
    }
}
