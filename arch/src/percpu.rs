//! Per-CPU variables through TPIDR_EL1 (Linux's include/linux/percpu-defs.h
//! over arch/arm64/include/asm/percpu.h).
//!
//! # Static per-CPU variables
//!
//! [`define_per_cpu!`] (Linux's `DEFINE_PER_CPU`) places a static of type
//! [`PerCpuVar<T>`] in the `.data..percpu` section of the image, between
//! the linker symbols `__per_cpu_start` and `__per_cpu_end` (page aligned).
//! That section is only a *template*: at boot the kernel copies it into one
//! unit per possible CPU (kernel/src/memory/percpu.rs) and records
//!
//! ```text
//!   per_cpu_offset(cpu) = unit_base(cpu) - __per_cpu_start
//!
//!   image:  __per_cpu_start [ CPU_AREA | PREEMPT_COUNT | ... ] __per_cpu_end
//!                                 |  + per_cpu_offset(1)
//!   units:  [ unit 0: copy ... ] [ unit 1: copy ... ] ...
//! ```
//!
//! so a variable's link address plus the offset is that CPU's copy.
//! TPIDR_EL1 holds the running CPU's own offset, as on Linux arm64: the
//! head sets it to 0 on the boot CPU (which then runs on the template
//! itself, like Linux before setup_per_cpu_areas) and to the CPU's offset
//! on each secondary; the boot CPU moves onto its unit when the copies are
//! made, before any secondary starts. Every offset is 0 until then, so
//! `per_cpu(var, cpu)` names the template for every CPU.
//!
//! # The CPU area
//!
//! [`CPU_AREA`] is a per-CPU variable like any other; its first word is the
//! top of the CPU's overflow stack, which the vector code loads (as
//! `__cpu_area + TPIDR_EL1`) when the kernel stack is exhausted.
//!
//! SP_EL0 holds the address of the running CPU's copy while the kernel runs
//! (the kernel's own stack is SP_EL1; SP_EL0 is the user stack pointer only
//! in EL0), so [`this_cpu_area`] is one `mrs` and a field one load:
//! `smp_processor_id` is two instructions, where `__cpu_area + TPIDR_EL1`
//! takes five. Linux arm64 keeps `current` there for the same reason. Who
//! writes it: the head (the boot CPU's template area) and
//! `__secondary_switched` (the CPU's unit), [`set_my_cpu_offset`] (the boot
//! CPU moving onto its unit), and the vector code, which saves the user's
//! SP_EL0 on every entry from EL0 and sets it to `__cpu_area + TPIDR_EL1`
//! before any Rust code runs; `__ret_to_user` puts the user's back just
//! before its `eret`. The register belongs to the CPU, not to a task, so a
//! task switch leaves it alone, as it leaves TPIDR_EL1.
//!
//! The area's two [`CpuArea::hot`] words are the kernel's hottest per-CPU
//! pointers (the page allocator's, see kernel/src/memory/page_alloc.rs),
//! read together by [`this_cpu_hot`] with one load pair.
//!
//! # Accessors and the preemption count
//!
//! * [`this_cpu_ptr`], [`per_cpu`] / [`per_cpu_ptr`]: the running CPU's or
//!   another CPU's copy, as a shared reference (`T: Sync`: the owner, its
//!   interrupt handlers and other CPUs may all look at a copy; mutation
//!   goes through atomics or locks in `T`).
//! * [`this_cpu_read`], [`this_cpu_write`], [`this_cpu_add`],
//!   [`this_cpu_inc`], [`this_cpu_dec`] for the atomic integer types
//!   ([`PerCpuAtomic`]): a single load, store, or an atomic read-modify-write
//!   on the own copy (an LDXR/STXR loop on this target: an exception
//!   between the two clears the exclusive monitor and the store retries, so
//!   an interrupt handler's update is never lost), with the preemption
//!   count raised meanwhile.
//! * [`get_cpu`] / [`put_cpu`] and [`get_cpu_var`] / [`put_cpu_var`]:
//!   guards that raise the per-CPU preemption count for as long as they
//!   live (Linux's preempt_disable / preempt_enable) and so pin the caller
//!   to its CPU. There is no scheduler yet: nothing reads the count but the
//!   debug checks ([`preempt_enable`] asserts it never goes below zero, the
//!   self-tests that it comes back balanced). The scheduler of the next
//!   issue must not migrate or preempt a context whose count is nonzero;
//!   it will then move the count into the task (Linux arm64 keeps it in
//!   thread_info), since a per-CPU count is only correct while nothing
//!   migrates.

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::sync::atomic::{
    AtomicI32, AtomicI64, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64, AtomicUsize, Ordering, compiler_fence,
};

/// Most CPUs the kernel brings up (Linux's NR_CPUS), defined once in `mm`.
pub use mm::config::NR_CPUS;
/// Bytes of overflow stack per CPU (the vector code's `OVERFLOW_STACK_SIZE`).
pub const OVERFLOW_STACK_SIZE: usize = 8192;

/// Declare static per-CPU variables (Linux's `DEFINE_PER_CPU(type, name)`):
///
/// ```ignore
/// define_per_cpu! {
///     /// Interrupts taken on this CPU.
///     pub static IRQ_COUNT: AtomicU64 = AtomicU64::new(0);
/// }
/// ```
///
/// Each item becomes a `static NAME: PerCpuVar<Type>` in `.data..percpu`,
/// reached only through this module's accessors. The type must be `Sync`
/// (every CPU may read another's copy) and is copied bytewise into each
/// CPU's unit at boot, so it must not point into its own copy.
#[macro_export]
macro_rules! define_per_cpu {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $ty:ty = $init:expr;)+) => {$(
        $(#[$attr])*
        #[allow(unsafe_code)] // the section attribute and PerCpuVar's constructor
        #[unsafe(link_section = ".data..percpu")]
        $vis static $name: $crate::percpu::PerCpuVar<$ty> = {
            let init: $ty = $init;
            // SAFETY: 1. the attribute above places this static in
            // .data..percpu, inside the template every unit copies.
            unsafe { $crate::percpu::PerCpuVar::new_in_section(init) }
        };
    )+};
}

/// A static per-CPU variable: the template of every CPU's copy.
///
/// # Invariants
/// The value lives in `.data..percpu` (only [`define_per_cpu!`] builds one),
/// so its address plus any CPU's per-CPU offset is that CPU's copy.
#[repr(transparent)]
pub struct PerCpuVar<T>(UnsafeCell<T>);

// SAFETY: the copies are only ever reached as `&T`, and T: Sync makes
// sharing them between CPUs and interrupt handlers sound.
unsafe impl<T: Sync> Sync for PerCpuVar<T> {}

impl<T> PerCpuVar<T> {
    /// The template's value; use [`define_per_cpu!`].
    ///
    /// # Safety
    /// 1. The resulting value is a static placed in `.data..percpu`.
    #[doc(hidden)]
    pub const unsafe fn new_in_section(v: T) -> Self {
        PerCpuVar(UnsafeCell::new(v))
    }

    fn copy_at(&self, offset: u64) -> &'static T {
        let addr = (self.0.get().expose_provenance() as u64).wrapping_add(offset);
        // SAFETY: by the type's invariant the template is in .data..percpu;
        // `offset` is 0 (the template itself, in the image) or an offset
        // set_per_cpu_offset recorded, whose caller promised a copy of the
        // whole section there that lives for ever. The copy holds a valid T
        // (a bytewise copy of the template's, see define_per_cpu!), and is
        // only ever reached as a shared reference.
        unsafe { &*core::ptr::with_exposed_provenance::<T>(addr as usize) }
    }
}

/// The running CPU's per-CPU offset (Linux's __my_cpu_offset: TPIDR_EL1).
#[inline(always)]
pub fn my_cpu_offset() -> u64 {
    let off: u64;
    // SAFETY: reading TPIDR_EL1 has no side effect. Not `nomem`: the value
    // changes when the boot CPU moves onto its unit, and a read must not be
    // hoisted across that.
    unsafe { core::arch::asm!("mrs {}, tpidr_el1", out(reg) off, options(nostack, preserves_flags)) };
    off
}

/// Every CPU's per-CPU offset (Linux's __per_cpu_offset[]); 0 until the
/// kernel makes the copies.
static PER_CPU_OFFSET: [AtomicU64; NR_CPUS] = [const { AtomicU64::new(0) }; NR_CPUS];

/// CPU `cpu`'s per-CPU offset (Linux's per_cpu_offset).
#[inline]
pub fn per_cpu_offset(cpu: usize) -> u64 {
    PER_CPU_OFFSET[cpu].load(Ordering::Acquire)
}

/// Record CPU `cpu`'s per-CPU offset.
///
/// # Safety
/// 1. `__per_cpu_start + offset` is a copy of the whole `.data..percpu`
///    section (`__per_cpu_start..__per_cpu_end`), mapped read-write, used
///    for nothing else, and never freed.
/// 2. CPU `cpu` is not running with another offset (it is not up yet, or it
///    is the caller, which then calls [`set_my_cpu_offset`] with it).
pub unsafe fn set_per_cpu_offset(cpu: usize, offset: u64) {
    PER_CPU_OFFSET[cpu].store(offset, Ordering::Release);
}

/// Move the running CPU onto the copy at `offset` (Linux's
/// set_my_cpu_offset).
///
/// # Safety
/// 1. `offset` satisfies [`set_per_cpu_offset`]'s obligation 1.
/// 2. The copy at `offset` holds the current values of every per-CPU
///    variable of this CPU (nothing changed the template since it was
///    copied), and no guard of this module is alive across the call.
pub unsafe fn set_my_cpu_offset(offset: u64) {
    compiler_fence(Ordering::SeqCst);
    // SP_EL0 follows: it names this CPU's area in the new copy.
    let area = core::ptr::addr_of!(CPU_AREA) as u64 + offset;
    // SAFETY: writing TPIDR_EL1 and SP_EL0 changes only where this CPU's
    // per-CPU accesses go, which obligations 1 and 2 make the same values
    // (the kernel runs on SP_EL1; SP_EL0 is no stack here).
    unsafe {
        core::arch::asm!(
            "msr tpidr_el1, {off}",
            "msr sp_el0, {area}",
            off = in(reg) offset,
            area = in(reg) area,
            options(nostack, preserves_flags)
        )
    };
    compiler_fence(Ordering::SeqCst);
}

unsafe extern "C" {
    static __per_cpu_start: u8;
    static __per_cpu_end: u8;
}

/// The template's first byte (Linux's __per_cpu_start).
pub fn per_cpu_start() -> u64 {
    core::ptr::addr_of!(__per_cpu_start) as u64
}

/// Bytes of static per-CPU variables (the template's size).
pub fn per_cpu_static_size() -> usize {
    (core::ptr::addr_of!(__per_cpu_end) as u64 - per_cpu_start()) as usize
}

/// The running CPU's copy of `var` (Linux's this_cpu_ptr). The reference
/// stays valid for ever; it names *this* CPU's copy only while the caller
/// cannot migrate (a guard of [`get_cpu`] held, or no scheduler).
#[inline(always)]
pub fn this_cpu_ptr<T>(var: &'static PerCpuVar<T>) -> &'static T {
    var.copy_at(my_cpu_offset())
}

/// CPU `cpu`'s copy of `var` (Linux's per_cpu_ptr(&var, cpu)).
pub fn per_cpu_ptr<T>(var: &'static PerCpuVar<T>, cpu: usize) -> &'static T {
    var.copy_at(per_cpu_offset(cpu))
}

/// CPU `cpu`'s copy of `var` (Linux's per_cpu(var, cpu); the same as
/// [`per_cpu_ptr`] here, since copies are reached by reference).
pub fn per_cpu<T>(var: &'static PerCpuVar<T>, cpu: usize) -> &'static T {
    per_cpu_ptr(var, cpu)
}

/// Atomic integers usable with `this_cpu_read` and friends.
pub trait PerCpuAtomic: Sync {
    /// The integer type.
    type Value: Copy;
    /// One, for `this_cpu_inc`.
    const ONE: Self::Value;
    /// A relaxed load.
    fn load_relaxed(&self) -> Self::Value;
    /// A relaxed store.
    fn store_relaxed(&self, v: Self::Value);
    /// A relaxed wrapping fetch-add; the old value.
    fn fetch_add_relaxed(&self, v: Self::Value) -> Self::Value;
    /// A relaxed wrapping fetch-sub; the old value.
    fn fetch_sub_relaxed(&self, v: Self::Value) -> Self::Value;
}

macro_rules! per_cpu_atomic {
    ($($a:ty => $v:ty),+) => {$(
        impl PerCpuAtomic for $a {
            type Value = $v;
            const ONE: $v = 1;
            fn load_relaxed(&self) -> $v { self.load(Ordering::Relaxed) }
            fn store_relaxed(&self, v: $v) { self.store(v, Ordering::Relaxed) }
            fn fetch_add_relaxed(&self, v: $v) -> $v { self.fetch_add(v, Ordering::Relaxed) }
            fn fetch_sub_relaxed(&self, v: $v) -> $v { self.fetch_sub(v, Ordering::Relaxed) }
        }
    )+};
}

per_cpu_atomic!(AtomicU32 => u32, AtomicU64 => u64, AtomicUsize => usize, AtomicI32 => i32, AtomicI64 => i64,
    AtomicIsize => isize);

/// The running CPU's value of `var` (Linux's this_cpu_read).
pub fn this_cpu_read<A: PerCpuAtomic>(var: &'static PerCpuVar<A>) -> A::Value {
    let _pin = get_cpu();
    this_cpu_ptr(var).load_relaxed()
}

/// Set the running CPU's value of `var` (Linux's this_cpu_write).
pub fn this_cpu_write<A: PerCpuAtomic>(var: &'static PerCpuVar<A>, v: A::Value) {
    let _pin = get_cpu();
    this_cpu_ptr(var).store_relaxed(v);
}

/// Add `v` to the running CPU's copy of `var`, as one atomic step that an
/// interrupt cannot tear (Linux's this_cpu_add); the old value.
pub fn this_cpu_add<A: PerCpuAtomic>(var: &'static PerCpuVar<A>, v: A::Value) -> A::Value {
    let _pin = get_cpu();
    this_cpu_ptr(var).fetch_add_relaxed(v)
}

/// Subtract `v` from the running CPU's copy of `var` (Linux's this_cpu_sub).
pub fn this_cpu_sub<A: PerCpuAtomic>(var: &'static PerCpuVar<A>, v: A::Value) -> A::Value {
    let _pin = get_cpu();
    this_cpu_ptr(var).fetch_sub_relaxed(v)
}

/// Add one (Linux's this_cpu_inc); the old value.
pub fn this_cpu_inc<A: PerCpuAtomic>(var: &'static PerCpuVar<A>) -> A::Value {
    this_cpu_add(var, A::ONE)
}

/// Subtract one (Linux's this_cpu_dec); the old value.
pub fn this_cpu_dec<A: PerCpuAtomic>(var: &'static PerCpuVar<A>) -> A::Value {
    this_cpu_sub(var, A::ONE)
}

/// What each CPU finds in its copy of [`CPU_AREA`].
#[repr(C)]
pub struct CpuArea {
    /// Top of this CPU's overflow stack. Offset 0: the vector code reads it.
    pub overflow_stack_top: AtomicU64,
    /// Logical CPU number (smp_processor_id).
    pub cpu: AtomicU64,
    /// MPIDR_EL1 affinity of the CPU.
    pub mpidr: AtomicU64,
    /// Lowest address of the CPU's kernel stack.
    pub stack_lo: AtomicU64,
    /// One past the highest address of the CPU's kernel stack.
    pub stack_hi: AtomicU64,
    /// Two pointers the kernel keeps for its hottest per-CPU state, read
    /// together by [`this_cpu_hot`] (null until the kernel stores them).
    pub hot: [AtomicPtr<()>; 2],
}

/// Byte offset of [`CpuArea::hot`] (the load pair's immediate).
const HOT_OFFSET: usize = core::mem::offset_of!(CpuArea, hot);
const _: () = assert!(HOT_OFFSET.is_multiple_of(8) && HOT_OFFSET < 504);

define_per_cpu! {
    /// Each CPU's area; the head and the vector code know it as `__cpu_area`.
    #[unsafe(export_name = "__cpu_area")]
    pub static CPU_AREA: CpuArea = CpuArea {
        overflow_stack_top: AtomicU64::new(0),
        cpu: AtomicU64::new(0),
        mpidr: AtomicU64::new(0),
        stack_lo: AtomicU64::new(0),
        stack_hi: AtomicU64::new(0),
        hot: [const { AtomicPtr::new(core::ptr::null_mut()) }; 2],
    };

    /// Each CPU's preemption count (Linux's preempt_count, per CPU while
    /// there are no tasks).
    static PREEMPT_COUNT: AtomicU32 = AtomicU32::new(0);
}

/// The calling CPU's area, from SP_EL0 (see the module documentation).
#[inline(always)]
pub fn this_cpu_area() -> &'static CpuArea {
    let area: u64;
    // SAFETY: reading SP_EL0 has no side effect. Not `nomem`: the value
    // changes when the boot CPU moves onto its unit, and a read must not be
    // hoisted across that.
    unsafe { core::arch::asm!("mrs {}, sp_el0", out(reg) area, options(nostack, preserves_flags)) };
    // SAFETY: while the kernel runs, SP_EL0 holds this CPU's copy of
    // CPU_AREA (every writer is listed in the module documentation): a
    // CpuArea in a unit that is mapped and never freed, reached only as a
    // shared reference.
    unsafe { &*core::ptr::with_exposed_provenance::<CpuArea>(area as usize) }
}

/// The running CPU's two [`CpuArea::hot`] words, with one load pair.
/// Each word is read with a single-copy atomic 64-bit access (LDP of two
/// aligned doublewords is two of them), as a relaxed load of each would.
#[inline(always)]
pub fn this_cpu_hot() -> (*mut (), *mut ()) {
    let (a, b): (usize, usize);
    // SAFETY: SP_EL0 is this CPU's area (see this_cpu_area), and HOT_OFFSET
    // is the offset of its `hot` words, 8-byte aligned: the load pair reads
    // those two words and nothing else.
    unsafe {
        core::arch::asm!(
            "mrs {a}, sp_el0",
            "ldp {a}, {b}, [{a}, #{off}]",
            a = out(reg) a,
            b = out(reg) b,
            off = const HOT_OFFSET,
            options(nostack, readonly, preserves_flags)
        )
    };
    (core::ptr::with_exposed_provenance_mut(a), core::ptr::with_exposed_provenance_mut(b))
}

/// The calling CPU's logical number (Linux's smp_processor_id).
#[inline(always)]
pub fn smp_processor_id() -> usize {
    this_cpu_area().cpu.load(Ordering::Relaxed) as usize
}

/// The area of logical CPU `cpu`.
pub fn cpu_area(cpu: usize) -> &'static CpuArea {
    per_cpu_ptr(&CPU_AREA, cpu)
}

/// The running CPU's preemption count (Linux's preempt_count).
#[inline]
pub fn preempt_count() -> u32 {
    this_cpu_ptr(&PREEMPT_COUNT).load(Ordering::Relaxed)
}

/// Raise the preemption count (Linux's preempt_disable); prefer [`get_cpu`].
#[inline]
pub fn preempt_disable() {
    this_cpu_ptr(&PREEMPT_COUNT).fetch_add(1, Ordering::Relaxed);
    compiler_fence(Ordering::SeqCst);
}

/// Lower the preemption count raised by [`preempt_disable`] (Linux's
/// preempt_enable); debug builds assert it was raised.
#[inline]
pub fn preempt_enable() {
    compiler_fence(Ordering::SeqCst);
    let old = this_cpu_ptr(&PREEMPT_COUNT).fetch_sub(1, Ordering::Relaxed);
    debug_assert!(old > 0, "preempt_enable without preempt_disable");
}

/// The caller pinned to its CPU (Linux's get_cpu): the preemption count is
/// raised until the guard is dropped or given to [`put_cpu`]. Not `Send`.
pub struct CpuGuard {
    cpu: usize,
    _not_send: PhantomData<*const ()>,
}

impl CpuGuard {
    /// The CPU the caller is pinned to.
    pub fn cpu(&self) -> usize {
        self.cpu
    }
}

impl Drop for CpuGuard {
    #[inline]
    fn drop(&mut self) {
        debug_assert_eq!(smp_processor_id(), self.cpu, "put_cpu on another CPU than get_cpu");
        preempt_enable();
    }
}

/// Pin the caller to its CPU; the guard says which (Linux's get_cpu).
#[inline]
pub fn get_cpu() -> CpuGuard {
    preempt_disable();
    CpuGuard { cpu: smp_processor_id(), _not_send: PhantomData }
}

/// Unpin (Linux's put_cpu): the same as dropping the guard.
pub fn put_cpu(guard: CpuGuard) {
    drop(guard);
}

/// The running CPU's copy of a per-CPU variable with the caller pinned to
/// the CPU (Linux's get_cpu_var); dereferences to the copy.
pub struct CpuVarGuard<T: 'static> {
    var: &'static T,
    pin: CpuGuard,
}

impl<T> CpuVarGuard<T> {
    /// The CPU the caller is pinned to.
    pub fn cpu(&self) -> usize {
        self.pin.cpu()
    }
}

impl<T> core::ops::Deref for CpuVarGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.var
    }
}

/// Pin the caller and give it this CPU's copy of `var` (Linux's get_cpu_var).
pub fn get_cpu_var<T>(var: &'static PerCpuVar<T>) -> CpuVarGuard<T> {
    let pin = get_cpu();
    CpuVarGuard { var: this_cpu_ptr(var), pin }
}

/// Unpin (Linux's put_cpu_var): the same as dropping the guard.
pub fn put_cpu_var<T>(guard: CpuVarGuard<T>) {
    drop(guard);
}
