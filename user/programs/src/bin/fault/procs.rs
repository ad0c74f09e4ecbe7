//! Processes: pids, many children in sequence and at once, kill (probe,
//! SIGKILL of a spinning child, which needs preemption), FP/SIMD state kept
//! per process across switches, the clocks, and the OOM killer.
use crate::util::{OrFail, Shared, TestResult, expect_errno, expect_exit, expect_signal, spawn, spawn_status};
use crate::{ensure, fail};
use core::hint::black_box;
use ulib::mem::Mapping;
use ulib::sys::{self, PAGE_SIZE, Timespec, clock, sig};
use ulib::{Errno, println};

/// getpid and gettid agree in a single-threaded process; a child's getpid
/// is what fork returned to the parent, and differs from the parent's.
pub fn getpid() -> TestResult {
    let me = sys::getpid();
    ensure!(me > 0, "getpid() = {}", me);
    ensure!(sys::gettid() == me, "gettid() = {} but getpid() = {}", sys::gettid(), me);
    let shared = Shared::new()?;
    let pid = spawn(|| {
        shared.set(0, sys::getpid() as u64);
        shared.set(1, sys::gettid() as u64);
        Ok(())
    })
    .or_fail("fork")?;
    expect_exit(pid, 0, "child")?;
    ensure!(pid != me, "fork returned the parent's own pid {}", pid);
    ensure!(shared.get(0) == pid as u64, "the child's getpid() = {}, fork returned {}", shared.get(0), pid);
    ensure!(shared.get(1) == pid as u64, "the child's gettid() = {}, fork returned {}", shared.get(1), pid);
    Ok(())
}

/// 64 children one after the other, each exiting with its own status.
pub fn fork_64_sequential() -> TestResult {
    let parent = sys::getpid();
    let m = Mapping::anon(4).or_fail("mmap")?;
    for i in 0..64 {
        m.write_u64(0, i as u64);
        let pid = spawn_status(|| {
            if sys::getpid() == parent || m.read_u64(0) != i as u64 {
                return 255;
            }
            m.write_u64(0, 1000);
            i + 1
        })
        .or_fail("fork")?;
        expect_exit(pid, i + 1, "sequential child")?;
        ensure!(m.read_u64(0) == i as u64, "child {}'s write reached the parent", i);
    }
    Ok(())
}

const NR_AT_ONCE: usize = 32;

/// 32 children alive at once, each yielding and computing for a while,
/// reaped in whatever order they end with wait4(-1).
pub fn many_processes() -> TestResult {
    let mut pids = [0i32; NR_AT_ONCE];
    for (i, slot) in pids.iter_mut().enumerate() {
        *slot = spawn_status(|| {
            let mut x: u64 = i as u64 + 1;
            for round in 0..200u64 {
                for _ in 0..1000 {
                    x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(round));
                }
                let _ = sys::sched_yield();
            }
            black_box(x);
            (i % 100) as i32 + 1
        })
        .or_fail("fork")?;
    }
    let mut seen = [false; NR_AT_ONCE];
    for _ in 0..NR_AT_ONCE {
        let (pid, st) = sys::wait4(-1, 0).or_fail("wait4(-1)")?;
        let Some(i) = pids.iter().position(|&p| p == pid) else { fail!("wait4 returned pid {}, not one of ours", pid) };
        ensure!(!seen[i], "child {} (pid {}) reaped twice", i, pid);
        seen[i] = true;
        ensure!(st.exited() && st.exit_status() == (i % 100) as i32 + 1, "child {} (pid {}) {:?}", i, pid, st);
    }
    expect_errno(sys::wait4(-1, 0), Errno::ECHILD, "wait4(-1) after reaping all")
}

/// kill(pid, 0) finds a child until it is reaped, then ESRCH.
pub fn kill_probe() -> TestResult {
    let pid = spawn_status(|| 7).or_fail("fork")?;
    sys::kill(pid, 0).or_fail("kill(child, 0) before reaping")?;
    sys::sleep_ms(20);
    sys::kill(pid, 0).or_fail("kill(zombie child, 0)")?;
    expect_exit(pid, 7, "child")?;
    expect_errno(sys::kill(pid, 0), Errno::ESRCH, "kill(reaped child, 0)")?;
    expect_errno(sys::kill(0x3fff_fff0, 0), Errno::ESRCH, "kill(<no such pid>, 0)")?;
    sys::kill(sys::getpid(), 0).or_fail("kill(self, 0)")
}

/// A child that spins without a system call is preempted and killed by
/// SIGKILL from its parent.
pub fn kill_infinite_loop() -> TestResult {
    let flag = Shared::new()?;
    let pid = spawn_status(|| {
        flag.set(0, 1);
        loop {
            core::hint::spin_loop();
        }
    })
    .or_fail("fork")?;
    flag.wait_for(0, 1)?;
    sys::sleep_ms(50);
    sys::kill(pid, sig::SIGKILL).or_fail("kill(child, SIGKILL)")?;
    expect_signal(pid, sig::SIGKILL, "spinning child")
}

macro_rules! fill_and_store {
    ($($n:literal)*) => {
        concat!(
            $("add w10, w9, #", $n, "\n", "dup v", $n, ".16b, w10\n",)*
            "mov x8, #124\n",
            "svc #0\n",
            "st1 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [x11], #64\n",
            "st1 {{v4.16b, v5.16b, v6.16b, v7.16b}}, [x11], #64\n",
            "st1 {{v8.16b, v9.16b, v10.16b, v11.16b}}, [x11], #64\n",
            "st1 {{v12.16b, v13.16b, v14.16b, v15.16b}}, [x11], #64\n",
            "st1 {{v16.16b, v17.16b, v18.16b, v19.16b}}, [x11], #64\n",
            "st1 {{v20.16b, v21.16b, v22.16b, v23.16b}}, [x11], #64\n",
            "st1 {{v24.16b, v25.16b, v26.16b, v27.16b}}, [x11], #64\n",
            "st1 {{v28.16b, v29.16b, v30.16b, v31.16b}}, [x11], #64\n",
        )
    };
}

/// Loads v0-v31 with `seed + n` in every byte, yields, and returns what
/// the registers hold afterwards.
fn simd_across_yield(seed: u8) -> [[u8; 16]; 32] {
    let mut out = [[0u8; 16]; 32];
    // SAFETY: the asm writes 512 bytes at out (exactly its size) and
    // clobbers only the registers it names; `svc` sched_yield touches no
    // memory and returns in x0 (declared clobbered).
    unsafe {
        core::arch::asm!(
            fill_and_store!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31),
            in("w9") seed as u32,
            inout("x11") out.as_mut_ptr() => _,
            out("x10") _, out("x8") _, out("x0") _,
            out("v0") _, out("v1") _, out("v2") _, out("v3") _, out("v4") _, out("v5") _, out("v6") _, out("v7") _,
            out("v8") _, out("v9") _, out("v10") _, out("v11") _, out("v12") _, out("v13") _, out("v14") _, out("v15") _,
            out("v16") _, out("v17") _, out("v18") _, out("v19") _, out("v20") _, out("v21") _, out("v22") _, out("v23") _,
            out("v24") _, out("v25") _, out("v26") _, out("v27") _, out("v28") _, out("v29") _, out("v30") _, out("v31") _,
            options(nostack),
        );
    }
    out
}

fn check_simd(seed: u8, rounds: usize) -> TestResult {
    for round in 0..rounds {
        let regs = simd_across_yield(seed);
        for (n, reg) in regs.iter().enumerate() {
            let want = seed.wrapping_add(n as u8);
            if reg.iter().any(|&b| b != want) {
                fail!("round {}: v{} = {:02x?} after sched_yield, expected {:#04x} in every byte", round, n, reg, want);
            }
        }
    }
    Ok(())
}

/// Parent and child fill all 32 SIMD registers with different values and
/// yield to each other many times: each must get its own registers back.
pub fn fpsimd_registers() -> TestResult {
    let pid = spawn(|| check_simd(0x80, 500)).or_fail("fork")?;
    let mine = check_simd(0x10, 500);
    expect_exit(pid, 0, "child")?;
    mine
}

const N: usize = 4096;

/// Float work the compiler vectorises, checked against exact closed forms
/// (every value is an integer or half-integer well inside f32/f64 range).
fn float_work(scale: f32, rounds: usize) -> TestResult {
    let mut a = [0f32; N];
    let mut b = [0f32; N];
    for (i, v) in b.iter_mut().enumerate() {
        *v = i as f32;
    }
    for round in 0..rounds {
        let scale = black_box(scale);
        for (x, y) in a.iter_mut().zip(b.iter()) {
            *x = *y * scale + 0.5;
        }
        let sum: f64 = a.iter().map(|&x| x as f64).sum();
        let n = N as f64;
        let want = scale as f64 * n * (n - 1.0) / 2.0 + 0.5 * n;
        ensure!(sum == want, "round {}: vector sum {} != {} (scale {})", round, sum, want, scale);
        for (i, &x) in a.iter().enumerate() {
            ensure!(x == i as f32 * scale + 0.5, "round {}: a[{}] = {}", round, i, x);
        }
        // Newton's square root, checked by squaring.
        let target = black_box(2.0f64 + round as f64);
        let mut r = target;
        for _ in 0..60 {
            r = 0.5 * (r + target / r);
        }
        ensure!((r * r - target).abs() < 1e-12, "round {}: sqrt({}) = {}", round, target, r);
        let _ = sys::sched_yield();
    }
    Ok(())
}

/// Parent and child run vectorised float loops at the same time.
pub fn fpsimd_loops() -> TestResult {
    let pid = spawn(|| float_work(3.0, 200)).or_fail("fork")?;
    let mine = float_work(0.25, 200);
    expect_exit(pid, 0, "child")?;
    mine
}

/// CLOCK_MONOTONIC never goes back, nanosleep sleeps at least as long as
/// asked (and not absurdly longer), bad timespecs are EINVAL.
pub fn clock_nanosleep() -> TestResult {
    let mut last = sys::now_ns();
    for _ in 0..1000 {
        let t = sys::now_ns();
        ensure!(t >= last, "CLOCK_MONOTONIC went back: {} after {}", t, last);
        last = t;
    }
    sys::clock_gettime(clock::REALTIME).or_fail("clock_gettime(CLOCK_REALTIME)")?;
    let t0 = sys::now_ns();
    sys::nanosleep(&Timespec::from_nanos(20_000_000)).or_fail("nanosleep(20 ms)")?;
    let slept = sys::now_ns() - t0;
    ensure!(slept >= 20_000_000, "nanosleep(20 ms) returned after {} ns", slept);
    ensure!(slept < 5_000_000_000, "nanosleep(20 ms) took {} ns", slept);
    let bad = Timespec { tv_sec: 0, tv_nsec: 1_000_000_000 };
    expect_errno(sys::nanosleep(&bad), Errno::EINVAL, "nanosleep(tv_nsec = 1e9)")?;
    let neg = Timespec { tv_sec: -1, tv_nsec: 0 };
    expect_errno(sys::nanosleep(&neg), Errno::EINVAL, "nanosleep(tv_sec = -1)")?;
    expect_errno(sys::clock_gettime(0x7fff), Errno::EINVAL, "clock_gettime(<bad clock>)")?;
    Ok(())
}

const CHUNK: usize = 64 * 1024 * 1024;
const MAX_CHUNKS: usize = 1024;

/// A runaway child maps and touches 64 MiB chunks until the OOM killer
/// stops it with SIGKILL; the parent, small, goes on and can still
/// allocate.
pub fn oom_runaway_child() -> TestResult {
    let pid = spawn_status(|| {
        for _ in 0..MAX_CHUNKS {
            let Ok(addr) = sys::mmap(0, CHUNK, sys::prot::RW, sys::map::ANON) else { return 3 };
            // SAFETY: fresh mapping no Rust object uses; never unmapped.
            let m = unsafe { Mapping::from_raw(addr, CHUNK) };
            for page in 0..CHUNK / PAGE_SIZE {
                m.write_u8(page * PAGE_SIZE, 1);
            }
            m.forget();
        }
        4
    })
    .or_fail("fork")?;
    let (got, st) = sys::wait4(pid, 0).or_fail("wait4")?;
    ensure!(got == pid, "wait4 returned {}", got);
    match (st.signaled(), st.term_sig(), st.exit_status()) {
        (true, sig::SIGKILL, _) => {}
        (false, _, 3) => fail!("the runaway child got ENOMEM from mmap instead of being OOM-killed"),
        (false, _, 4) => fail!("the runaway child touched {} GiB and was never killed", (MAX_CHUNKS * CHUNK) >> 30),
        _ => fail!("the runaway child {:?}, expected SIGKILL", st),
    }
    let m = Mapping::anon(4096).or_fail("mmap(16 MiB) after the OOM kill")?;
    m.fill_pages(|p| p as u64);
    ensure!(m.check_pages(|p| p as u64).is_ok(), "memory after the OOM kill does not keep data");
    println!("fault: oom_runaway_child: the runaway child was killed by SIGKILL");
    Ok(())
}

/// ulib's panic handler prints the message and exits with status 101.
pub fn panic_exit_status() -> TestResult {
    let pid = spawn_status(|| panic!("a deliberate panic (fault test panic_exit_status)")).or_fail("fork")?;
    expect_exit(pid, 101, "panicking child")
}
