//! The task: what the scheduler knows about one thread of execution
//! (Linux's task_struct with arm64's thread_struct folded in).
//!
//! A task is shared (`Arc<Task>`): its run queue, a wait queue it sleeps
//! on, the CPU it runs on and whoever spawned it all hold references. The
//! fields are atomics or immutable after creation, except the
//! [`ThreadState`] (saved registers, thread registers, FP/SIMD state),
//! which only the switch path and the task itself touch, with IRQs masked
//! (see [`Task::thread_state`]).
//!
//! A kernel thread's stack is a vmalloc'd `THREAD_SIZE` area with guards
//! (`vmalloc::alloc_kernel_stack`, the same as the secondaries' boot
//! stacks), freed when the last reference to the task goes: the switch
//! path holds one until the task is off its CPU, so a dead task's stack is
//! never freed under it. The idle tasks ("swapper/N") run on the stacks
//! their CPUs booted on and own none.
//!
//! A user task has more: the process it runs (`owner`), its mm, its first
//! user frame, and a pending exit request (from exit, a fatal signal or
//! the OOM killer), which `process::entry` acts on.

use crate::memory::user::mm::Mm;
use crate::memory::vmalloc::{self, VmallocBuf};
use alloc::boxed::Box;
use alloc::sync::Arc;
use arch::context::{CpuContext, ThreadRegs};
use arch::exception::TrapFrame;
use arch::fpsimd::FpState;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use spin::Mutex;

/// A process or thread id (Linux's pid_t).
pub type Pid = i32;

/// Bytes of a task's name, NUL included (Linux's TASK_COMM_LEN).
pub const TASK_COMM_LEN: usize = 16;

/// Round-robin time slice, in ticks (at HZ = 250: 12 ms... 3 ticks).
pub const SLICE_TICKS: u32 = 3;

/// Where a task is in its life (Linux's __state and exit_state).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    /// On a CPU now (the run queue's `curr`).
    Running = 0,
    /// Waiting on a run queue for a CPU.
    Runnable = 1,
    /// Asleep; a signal may wake it (TASK_INTERRUPTIBLE).
    Interruptible = 2,
    /// Asleep until what it waits for happens (TASK_UNINTERRUPTIBLE).
    Uninterruptible = 3,
    /// Exited; its exit code is kept until it is reaped (EXIT_ZOMBIE).
    Zombie = 4,
}

impl TaskState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Running,
            1 => Self::Runnable,
            2 => Self::Interruptible,
            3 => Self::Uninterruptible,
            _ => Self::Zombie,
        }
    }

    /// Whether the task sleeps (either kind).
    pub fn is_sleeping(self) -> bool {
        matches!(self, Self::Interruptible | Self::Uninterruptible)
    }
}

bitflags::bitflags! {
    /// Per-task flags (Linux's TIF_* and PF_* bits that apply here).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct TaskFlags: u32 {
        /// Call schedule() at the next chance (TIF_NEED_RESCHED).
        const NEED_RESCHED = 1 << 0;
        /// The task has FP/SIMD state: saved and restored at every switch
        /// (the inverse of Linux's TIF_FOREIGN_FPSTATE bookkeeping, eager).
        const FP_USED = 1 << 1;
        /// The CPU's idle task (PF_IDLE): never on a run queue.
        const IDLE = 1 << 2;
        /// A kernel thread (PF_KTHREAD): no user address space.
        const KTHREAD = 1 << 3;
    }
}

/// The registers a task owns while it is off the CPU.
#[repr(C)]
pub struct ThreadState {
    /// x19-x28, fp, sp, pc.
    pub cpu_context: CpuContext,
    /// TPIDR_EL0 and TPIDRRO_EL0.
    pub tls: ThreadRegs,
    /// V0-V31, FPSR, FPCR (valid while `TaskFlags::FP_USED` is set and the
    /// task is off the CPU).
    pub fpsimd: FpState,
}

/// What a new kernel thread runs.
pub type Entry = Box<dyn FnOnce() + Send>;

/// One thread of execution.
pub struct Task {
    /// Thread id (Linux's task->pid).
    pub tid: Pid,
    /// Thread-group id (Linux's tgid, what getpid returns).
    pub pid: Pid,
    comm: [u8; TASK_COMM_LEN],
    state: AtomicU8,
    flags: AtomicU32,
    /// The CPU whose run queue the task belongs to.
    cpu: AtomicUsize,
    /// CPUs the task may run on (bit n: CPU n).
    pub cpus_allowed: AtomicU64,
    /// On its run queue or its CPU's `curr` (protected by that run queue's
    /// lock; an atomic so others can look).
    pub(super) on_rq: AtomicBool,
    /// Its registers are live on a CPU: set when switched in, cleared once
    /// it is switched out (Linux's on_cpu).
    pub(super) on_cpu: AtomicBool,
    /// Ticks left in the time slice.
    pub(super) slice: AtomicU32,
    /// Generic-counter value a timed sleep ends at (0: none).
    pub(super) wake_at: AtomicU64,
    exit_code: AtomicI32,
    /// `[lo, hi)` of the kernel stack.
    pub stack_lo: u64,
    /// One past the top of the kernel stack.
    pub stack_hi: u64,
    /// The stack's pages (None for the idle tasks' boot stacks).
    _stack: Option<VmallocBuf>,
    /// What a new kernel thread runs, taken on its first run.
    pub(super) entry: Mutex<Option<Entry>>,
    /// The user process this task runs (its pid), 0 for a kernel thread.
    pub owner: AtomicI32,
    /// The user address space it runs on (None for a kernel thread, and
    /// once its process let go of it at exit).
    mm: Mutex<Option<Arc<Mm>>>,
    /// Why the task must end at its next return to user space: 0 for no
    /// reason, else `process::signal`'s encoding (an exit code or a signal).
    exit_req: AtomicU64,
    /// The registers of a user task's first return to EL0, taken then.
    pub(super) user_frame: Mutex<Option<TrapFrame>>,
    thread: UnsafeCell<ThreadState>,
}

// SAFETY: every field but `thread` is Sync on its own. `thread` is only
// reached through `thread_state`, whose callers (the switch path on the
// task's CPU, or the task itself) hold IRQs masked and are the only ones
// to touch it at that moment: a task's state is written when it is
// switched out and read when it is switched in, which its one run queue
// serialises.
unsafe impl Sync for Task {}
// SAFETY: as above; nothing in a Task is tied to the CPU that made it.
unsafe impl Send for Task {}

fn comm_from(name: &str) -> [u8; TASK_COMM_LEN] {
    let mut comm = [0; TASK_COMM_LEN];
    let n = name.len().min(TASK_COMM_LEN - 1);
    comm[..n].copy_from_slice(&name.as_bytes()[..n]);
    comm
}

impl Task {
    #[allow(clippy::too_many_arguments)] // one private constructor behind three public ones
    fn build(
        tid: Pid,
        name: &str,
        flags: TaskFlags,
        cpu: usize,
        stack: (u64, u64),
        buf: Option<VmallocBuf>,
        entry: Option<Entry>,
        ctx: CpuContext,
    ) -> Self {
        Task {
            tid,
            pid: tid,
            comm: comm_from(name),
            state: AtomicU8::new(TaskState::Running as u8),
            flags: AtomicU32::new(flags.bits()),
            cpu: AtomicUsize::new(cpu),
            cpus_allowed: AtomicU64::new(u64::MAX),
            on_rq: AtomicBool::new(false),
            on_cpu: AtomicBool::new(false),
            slice: AtomicU32::new(SLICE_TICKS),
            wake_at: AtomicU64::new(0),
            exit_code: AtomicI32::new(0),
            stack_lo: stack.0,
            stack_hi: stack.1,
            _stack: buf,
            entry: Mutex::new(entry),
            owner: AtomicI32::new(0),
            mm: Mutex::new(None),
            exit_req: AtomicU64::new(0),
            user_frame: Mutex::new(None),
            thread: UnsafeCell::new(ThreadState {
                cpu_context: ctx,
                tls: ThreadRegs::default(),
                fpsimd: FpState::ZERO,
            }),
        }
    }

    /// The idle task of `cpu`, for the context running now on the stack
    /// `[lo, hi)` (Linux's init_idle): "swapper/<cpu>", pid 0.
    pub(super) fn new_idle(cpu: usize, lo: u64, hi: u64) -> Self {
        let mut name = heapless::String::<TASK_COMM_LEN>::new();
        let _ = core::fmt::write(&mut name, format_args!("swapper/{cpu}"));
        let t = Self::build(
            0,
            &name,
            TaskFlags::IDLE | TaskFlags::KTHREAD,
            cpu,
            (lo, hi),
            None,
            None,
            CpuContext::default(),
        );
        t.cpus_allowed.store(1 << cpu, Ordering::Relaxed);
        t.on_rq.store(true, Ordering::Relaxed);
        t.on_cpu.store(true, Ordering::Relaxed);
        t
    }

    /// A kernel thread that will run `entry` on `cpu`, on a fresh stack
    /// from vmalloc (node `nid`), beginning at `start(arg)` where `arg` is
    /// filled in by the caller through [`Task::set_start_arg`].
    pub(super) fn new_kthread(
        tid: Pid,
        name: &str,
        cpu: usize,
        nid: i32,
        entry: Entry,
        start: extern "C" fn(u64) -> !,
    ) -> Result<Self, mm::Error> {
        let (buf, lo, hi) = Self::new_stack(nid)?;
        let ctx = CpuContext::new_task(hi, start, 0);
        let t = Self::build(tid, name, TaskFlags::KTHREAD, cpu, (lo, hi), Some(buf), Some(entry), ctx);
        t.state.store(TaskState::Runnable as u8, Ordering::Relaxed);
        Ok(t)
    }

    /// A fresh painted kernel stack from vmalloc on node `nid`: the area,
    /// its bottom and its top.
    fn new_stack(nid: i32) -> Result<(VmallocBuf, u64, u64), mm::Error> {
        let buf = vmalloc::alloc_kernel_stack(mm::memblock::NodeId(nid))?;
        let lo = buf.addr().as_u64();
        let hi = lo + arch::exception::STACK_SIZE;
        // SAFETY: [lo, hi) is the fresh area's mapping, read-write and page
        // aligned, and nothing runs on it yet.
        unsafe { arch::stack::paint(lo, hi) };
        Ok((buf, lo, hi))
    }

    /// Set the argument a never-run task's start function receives.
    pub(super) fn set_start_arg(&self, arg: u64) {
        debug_assert!(self.entry.lock().is_some(), "the task has run");
        // SAFETY: the task has never run and is on no run queue yet (the
        // caller is spawn, before enqueueing), so nothing else reaches its
        // thread state.
        unsafe { (*self.thread.get()).cpu_context.x19_x28[1] = arg };
    }

    /// A task that will enter EL0 with `frame` (through `start(arg)`) on
    /// `cpu`, on a fresh stack from vmalloc (node `nid`) whose top
    /// `FRAME_SIZE` bytes are reserved for the user frame (Linux's
    /// pt_regs at the top of a task's stack).
    pub(super) fn new_user(
        tid: Pid,
        name: &str,
        cpu: usize,
        nid: i32,
        frame: TrapFrame,
        start: extern "C" fn(u64) -> !,
    ) -> Result<Self, mm::Error> {
        let (buf, lo, hi) = Self::new_stack(nid)?;
        let ctx = CpuContext::new_task(hi - arch::exception::FRAME_SIZE as u64, start, 0);
        let t = Self::build(tid, name, TaskFlags::empty(), cpu, (lo, hi), Some(buf), None, ctx);
        *t.user_frame.lock() = Some(frame);
        t.state.store(TaskState::Runnable as u8, Ordering::Relaxed);
        Ok(t)
    }

    /// The user address space it runs on.
    pub fn mm(&self) -> Option<Arc<Mm>> {
        self.mm.lock().clone()
    }

    /// Run `f` on the task's mm without taking a reference (the switch
    /// path: no reference may be dropped there).
    pub fn with_mm<R>(&self, f: impl FnOnce(Option<&Mm>) -> R) -> R {
        f(self.mm.lock().as_deref())
    }

    /// Set (or clear) the user address space.
    pub fn set_mm(&self, mm: Option<Arc<Mm>>) {
        *self.mm.lock() = mm;
    }

    /// Ask the task to end at its next return to user space (the first
    /// request wins: a fatal signal after an exit call changes nothing).
    pub fn request_exit(&self, why: u64) {
        let _ = self.exit_req.compare_exchange(0, why, Ordering::AcqRel, Ordering::Acquire);
    }

    /// The pending exit request (0: none).
    pub fn exit_request(&self) -> u64 {
        self.exit_req.load(Ordering::Acquire)
    }

    /// Give a never-run task the thread registers and FP/SIMD state of the
    /// current task `from` (fork).
    pub(super) fn inherit_thread(&self, from: &Task) {
        let flags = arch::irqflags::local_irq_save();
        // SAFETY: `self` has never run and is on no run queue (spawn_user,
        // before enqueueing): nothing else reaches its thread state. `from`
        // is the current task (the caller's contract), whose live
        // registers are read with IRQs masked, so no switch runs meanwhile.
        let ts = unsafe { self.thread_state() };
        ts.tls = ThreadRegs::read();
        if from.flags().contains(TaskFlags::FP_USED) {
            arch::fpsimd::save(&mut ts.fpsimd);
            self.set_flags(TaskFlags::FP_USED);
        }
        arch::irqflags::local_irq_restore(flags);
    }

    /// The task's name (Linux's comm), up to 15 bytes.
    pub fn comm(&self) -> &str {
        let n = self.comm.iter().position(|&b| b == 0).unwrap_or(TASK_COMM_LEN);
        core::str::from_utf8(&self.comm[..n]).unwrap_or("?")
    }

    /// Where the task is in its life.
    pub fn state(&self) -> TaskState {
        TaskState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Set the state (the task itself, or the scheduler under its run
    /// queue's lock). SeqCst: a sleeper's store of a sleeping state is
    /// ordered before its check of the condition it sleeps on (Linux's
    /// set_current_state, smp_store_mb).
    pub(super) fn set_state(&self, s: TaskState) {
        self.state.store(s as u8, Ordering::SeqCst);
    }

    /// The flags.
    pub fn flags(&self) -> TaskFlags {
        TaskFlags::from_bits_truncate(self.flags.load(Ordering::Acquire))
    }

    /// Set `f`.
    pub fn set_flags(&self, f: TaskFlags) {
        self.flags.fetch_or(f.bits(), Ordering::AcqRel);
    }

    /// Clear `f`.
    pub fn clear_flags(&self, f: TaskFlags) {
        self.flags.fetch_and(!f.bits(), Ordering::AcqRel);
    }

    /// Whether this is a CPU's idle task.
    pub fn is_idle(&self) -> bool {
        self.flags().contains(TaskFlags::IDLE)
    }

    /// The CPU whose run queue the task is on.
    pub fn cpu(&self) -> usize {
        self.cpu.load(Ordering::Acquire)
    }

    /// The exit code (meaningful once the state is Zombie).
    pub fn exit_code(&self) -> i32 {
        self.exit_code.load(Ordering::Acquire)
    }

    pub(super) fn set_exit_code(&self, code: i32) {
        self.exit_code.store(code, Ordering::Release);
    }

    /// Whether the task's registers are live on some CPU.
    pub fn on_cpu(&self) -> bool {
        self.on_cpu.load(Ordering::Acquire)
    }

    /// The task's saved registers.
    ///
    /// # Safety
    /// 1. The caller is the switch path switching this task in or out, or
    ///    the task itself on its CPU, with IRQs masked.
    /// 2. No other reference from this function is alive.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn thread_state(&self) -> &mut ThreadState {
        // SAFETY: obligations 1 and 2 make this the only access.
        unsafe { &mut *self.thread.get() }
    }
}

impl core::fmt::Debug for Task {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}[{}/{}] {:?} on CPU{}", self.comm(), self.pid, self.tid, self.state(), self.cpu())
    }
}
