//! SMP: bringing up the CPUs the device tree lists, and running work on them.
//!
//! ```text
//!   cpumask   which logical CPUs are online; how many failed to come up
//!   call      on_each_cpu: a mailbox per CPU, the secondaries' idle loop
//!   bringup   per-CPU areas, __secondary_data, PSCI CPU_ON or the spin
//!             table, waiting for each CPU to come online
//!   stack     kernel stacks: allocation, guards, painting, high-water marks
//! ```
//!
//! Bring-up is one CPU at a time, as Linux's __cpu_up; a CPU that does not
//! come online within a second is reported and left alone. Online
//! secondaries wait in `wfe` for work posted by [`call::on_each_cpu`].
//! `bringup` looks down at `call` and `cpumask`, and at the memory wiring
//! (stacks from memblock, mapped in the page tables) and `init::platform`
//! (the PSCI conduit). No lock is held across a wait; the mailboxes'
//! locks are taken one at a time.

#[allow(unsafe_code)] // __secondary_data, the spin table, PSCI CPU_ON
pub mod bringup;
pub mod call;
pub mod cpumask;
#[allow(unsafe_code)] // paints kernel stacks and reads them back
pub mod stack;
