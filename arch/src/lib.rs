//! AArch64: the only crate that names system registers and descriptor bits.
//!
//! One file per concern:
//!
//! | module        | what                                                          |
//! |---------------|---------------------------------------------------------------|
//! | `pte`         | stage-1 descriptor bits; implements `mm::pgtable::PteFormat`   |
//! | `ptdump`      | the descriptor bits by the names Linux's ptdump prints; W+X   |
//! | `mmu`         | MAIR/TCR values, TTBR access, address translation (AT)        |
//! | `cache`       | data/instruction cache maintenance to the PoC                 |
//! | `tlb`         | TLB invalidation, local and inner-shareable                   |
//! | `exception`   | the vector table, the trap frame, fixups for expected faults; EL0 entry and return |
//! | `uaccess`     | copies to and from user memory (LDTR/STTR) and their fault fixups |
//! | `gic/`        | the interrupt controller: GICv2 and GICv3 behind one interface |
//! | `irq_stack`   | running the IRQ handler on its own per-CPU stack              |
//! | `irqflags`    | masking IRQs on this CPU (PSTATE.I)                           |
//! | `semihosting` | Arm semihosting, detected at run time                         |
//! | `uart/`       | the console UARTs: PL011 and BCM2835 mini UART, bounded waits |
//! | `timer`       | the counter, the EL1 virtual/physical timers, the event stream |
//! | `psci`        | PSCI calls over HVC or SMC                                    |
//! | `bcm2835_pm`  | the Raspberry Pi's PM watchdog: reset and power off without PSCI |
//! | `cpu`         | identification, exception level, parking; what EL0 may use    |
//! | `context`     | the register switch between tasks, the thread registers       |
//! | `fpsimd`      | FP/SIMD state save and restore, CPACR_EL1.FPEN                |
//! | `percpu`      | per-CPU areas through TPIDR_EL1                                |
//! | `stack`       | kernel stack painting and high-water marks                    |
//! | `pmu`         | the PMU cycle and instruction counters (benchmarks)            |
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod bcm2835_pm;
pub mod cache;
pub mod context;
pub mod cpu;
pub mod exception;
pub mod fpsimd;
pub mod gic;
pub mod irq_stack;
pub mod irqflags;
pub mod mmu;
pub mod percpu;
pub mod pmu;
pub mod psci;
pub mod ptdump;
pub mod pte;
pub mod semihosting;
pub mod stack;
pub mod timer;
pub mod tlb;
pub mod uaccess;
pub mod uart;
