//! Commit accounting: `vm_committed_as` and the overcommit policy
//! (mm/util.c `__vm_enough_memory`).
//!
//! A private writable mapping promises the program that every page it
//! may write will exist, so its pages are *charged* when it is made
//! (VM_ACCOUNT) and *uncharged* when it goes; read-only, PROT_NONE,
//! MAP_NORESERVE and (per mm) shared mappings are not charged. The
//! shmem object behind a shared anonymous mapping is charged once, for
//! its whole size, when it is created, and uncharged when it dies.

use super::errno::Errno;
use core::sync::atomic::{AtomicU64, Ordering};

/// The system-wide side of commit accounting, as the kernel provides it.
pub trait Commit {
    /// security_vm_enough_memory_mm: charge `pages`, or refuse with
    /// ENOMEM (and charge nothing).
    fn vm_enough_memory(&self, pages: u64) -> Result<(), Errno>;
    /// vm_unacct_memory: give back `pages` charged earlier.
    fn vm_unacct_memory(&self, pages: u64);
    /// Whether MAP_NORESERVE is honoured (Linux: unless
    /// vm.overcommit_memory is 2).
    fn honours_noreserve(&self) -> bool {
        true
    }
}

/// vm.overcommit_memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overcommit {
    /// 0, OVERCOMMIT_GUESS (the default): refuse a single request larger
    /// than all of RAM plus swap; everything else is allowed.
    Guess,
    /// 1, OVERCOMMIT_ALWAYS: never refuse.
    Always,
    /// 2, OVERCOMMIT_NEVER: refuse when the total commit would pass
    /// swap + RAM * ratio / 100 (no admin or user reserve here).
    Never {
        /// vm.overcommit_ratio (Linux's default is 50).
        ratio_percent: u64,
    },
}

/// The kernel's vm_committed_as with its policy.
///
/// Shared by every address space (a `static` in the kernel); the counter
/// is atomic, so a charge needs no lock. Linux's is a per-CPU counter
/// whose sum is only approximate; this one is exact.
#[derive(Debug)]
pub struct VmCommit {
    totalram_pages: AtomicU64,
    total_swap_pages: AtomicU64,
    committed_pages: AtomicU64,
    policy: Overcommit,
}

impl VmCommit {
    /// A commit counter for `totalram_pages` of RAM and
    /// `total_swap_pages` of swap under `policy`.
    pub const fn new(totalram_pages: u64, total_swap_pages: u64, policy: Overcommit) -> Self {
        Self {
            totalram_pages: AtomicU64::new(totalram_pages),
            total_swap_pages: AtomicU64::new(total_swap_pages),
            committed_pages: AtomicU64::new(0),
            policy,
        }
    }

    /// Set the RAM size once the page allocator knows it.
    pub fn set_totalram_pages(&self, pages: u64) {
        self.totalram_pages.store(pages, Ordering::Relaxed);
    }

    /// Committed_AS of /proc/meminfo, in pages.
    pub fn committed_pages(&self) -> u64 {
        self.committed_pages.load(Ordering::Relaxed)
    }

    /// CommitLimit of /proc/meminfo, in pages (computed as for mode 2
    /// whatever the mode, as Linux does).
    pub fn commit_limit_pages(&self) -> u64 {
        let ratio = match self.policy {
            Overcommit::Never { ratio_percent } => ratio_percent,
            _ => 50,
        };
        self.totalram_pages.load(Ordering::Relaxed) * ratio / 100 + self.total_swap_pages.load(Ordering::Relaxed)
    }
}

impl Commit for VmCommit {
    fn vm_enough_memory(&self, pages: u64) -> Result<(), Errno> {
        // Charged first, as vm_acct_memory does, then judged.
        let after = self.committed_pages.fetch_add(pages, Ordering::Relaxed) + pages;
        let ok = match self.policy {
            Overcommit::Always => true,
            Overcommit::Guess => {
                pages <= self.totalram_pages.load(Ordering::Relaxed) + self.total_swap_pages.load(Ordering::Relaxed)
            }
            Overcommit::Never { .. } => after <= self.commit_limit_pages(),
        };
        if ok {
            Ok(())
        } else {
            self.committed_pages.fetch_sub(pages, Ordering::Relaxed);
            Err(Errno::ENOMEM)
        }
    }

    fn honours_noreserve(&self) -> bool {
        !matches!(self.policy, Overcommit::Never { .. })
    }

    fn vm_unacct_memory(&self, pages: u64) {
        let old = self.committed_pages.fetch_sub(pages, Ordering::Relaxed);
        debug_assert!(old >= pages, "commit underflow: {old} - {pages}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guess_refuses_only_single_requests_over_ram_plus_swap() {
        let c = VmCommit::new(1000, 24, Overcommit::Guess);
        assert_eq!(c.vm_enough_memory(1025), Err(Errno::ENOMEM));
        assert_eq!(c.committed_pages(), 0);
        for _ in 0..10 {
            c.vm_enough_memory(1024).unwrap();
        }
        assert_eq!(c.committed_pages(), 10240);
        c.vm_unacct_memory(10240);
        assert_eq!(c.committed_pages(), 0);
    }

    #[test]
    fn never_refuses_past_the_limit() {
        let c = VmCommit::new(1000, 0, Overcommit::Never { ratio_percent: 50 });
        assert_eq!(c.commit_limit_pages(), 500);
        c.vm_enough_memory(400).unwrap();
        assert_eq!(c.vm_enough_memory(101), Err(Errno::ENOMEM));
        c.vm_enough_memory(100).unwrap();
        assert_eq!(c.committed_pages(), 500);
        let a = VmCommit::new(1, 0, Overcommit::Always);
        a.vm_enough_memory(1 << 40).unwrap();
    }
}
