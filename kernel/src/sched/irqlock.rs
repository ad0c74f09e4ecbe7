//! A spin lock that masks interrupts on this CPU while held (Linux's
//! spin_lock_irqsave / spin_unlock_irqrestore).
//!
//! The run queues and wait queues are touched from interrupt context (the
//! tick, wake-ups from interrupt handlers once the GIC is wired), so a CPU
//! must never take an interrupt while it holds one of their locks: the
//! handler would spin on a lock its own CPU holds. The guard restores the
//! interrupt state the lock found, so locks nest.

use arch::irqflags::{IrqFlags, local_irq_restore, local_irq_save};
use core::ops::{Deref, DerefMut};
use spin::{Mutex, MutexGuard};

/// A spin lock whose guard masks IRQs on this CPU.
pub struct IrqSpinLock<T> {
    inner: Mutex<T>,
}

/// The held lock; dropping it unlocks, then restores the interrupt state.
pub struct IrqSpinLockGuard<'a, T> {
    guard: Option<MutexGuard<'a, T>>,
    flags: IrqFlags,
}

impl<T> IrqSpinLock<T> {
    /// An unlocked lock.
    pub const fn new(v: T) -> Self {
        IrqSpinLock { inner: Mutex::new(v) }
    }

    /// Mask IRQs, then take the lock.
    pub fn lock(&self) -> IrqSpinLockGuard<'_, T> {
        let flags = local_irq_save();
        IrqSpinLockGuard { guard: Some(self.inner.lock()), flags }
    }
}

impl<T> Deref for IrqSpinLockGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.guard.as_ref().expect("guard is held until drop")
    }
}

impl<T> DerefMut for IrqSpinLockGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.guard.as_mut().expect("guard is held until drop")
    }
}

impl<T> Drop for IrqSpinLockGuard<'_, T> {
    fn drop(&mut self) {
        drop(self.guard.take());
        local_irq_restore(self.flags);
    }
}
