//! Which /cpus entries become logical CPUs (Linux's `of_parse_and_init_cpus`
//! and `smp_init_cpus`, arch/arm64/kernel/smp.c).
//!
//! The boot CPU is logical CPU 0 whatever its place in /cpus; the other
//! entries are numbered 1, 2, ... in tree order, skipping an entry whose
//! `reg` has bits outside the MPIDR affinity fields ("invalid reg") and one
//! whose MPIDR an earlier entry already has ("duplicate cpu reg properties
//! in the DT"). If no entry is the boot CPU the tree does not describe the
//! machine we run on, and, as Linux does ("missing boot CPU MPIDR, not
//! enabling secondaries"), no secondary is brought up. The bring-up and the
//! per-CPU node table both number CPUs through [`logical_cpus`], so they
//! agree.

use super::parse::{CpuNode, DtInfo, MAX_CPUS};
use heapless::Vec;

/// The MPIDR affinity fields a `reg` may hold: Aff3 (39..32), Aff2..Aff0 (23..0).
pub const MPIDR_HWID_MASK: u64 = 0xff_00ff_ffff;

/// Why a /cpus entry was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuSkip {
    /// `reg` has bits outside [`MPIDR_HWID_MASK`].
    InvalidReg,
    /// An earlier entry has the same MPIDR.
    Duplicate,
}

/// The logical CPUs a tree describes.
#[derive(Clone, Debug, Default)]
pub struct LogicalCpus<'a> {
    /// The boot CPU's entry, if /cpus lists it.
    pub boot: Option<&'a CpuNode>,
    /// Logical CPUs 1, 2, ...: empty when the boot CPU is missing.
    pub secondaries: Vec<&'a CpuNode, MAX_CPUS>,
    /// Entries skipped: (index in /cpus, why).
    pub skipped: Vec<(usize, CpuSkip), MAX_CPUS>,
    /// Secondaries listed but left off because the boot CPU is missing.
    pub left_off: usize,
}

/// Number the CPUs of `dt` for a boot CPU whose MPIDR is `boot_mpidr`.
pub fn logical_cpus(dt: &DtInfo, boot_mpidr: u64) -> LogicalCpus<'_> {
    let boot_mpidr = boot_mpidr & MPIDR_HWID_MASK;
    let mut out = LogicalCpus::default();
    for (i, c) in dt.cpus.iter().enumerate() {
        let skip = if c.mpidr & !MPIDR_HWID_MASK != 0 {
            Some(CpuSkip::InvalidReg)
        } else if dt.cpus[..i].iter().any(|e| e.mpidr == c.mpidr) {
            Some(CpuSkip::Duplicate)
        } else {
            None
        };
        if let Some(why) = skip {
            let _ = out.skipped.push((i, why));
        } else if c.mpidr == boot_mpidr {
            out.boot = Some(c);
        } else {
            let _ = out.secondaries.push(c);
        }
    }
    if out.boot.is_none() {
        out.left_off = out.secondaries.len();
        out.secondaries.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devicetree::EnableMethod;

    fn dt(mpidrs: &[u64]) -> DtInfo {
        let mut d = DtInfo::default();
        for &m in mpidrs {
            d.cpus.push(CpuNode { mpidr: m, enable: EnableMethod::Psci, nid: None }).unwrap();
        }
        d
    }

    fn mpidrs(l: &LogicalCpus<'_>) -> Vec<u64, MAX_CPUS> {
        l.secondaries.iter().map(|c| c.mpidr).collect()
    }

    #[test]
    fn boot_cpu_anywhere_is_cpu0_and_the_rest_keep_tree_order() {
        let d = dt(&[3, 1, 0, 2]);
        let l = logical_cpus(&d, 1);
        assert_eq!(l.boot.map(|c| c.mpidr), Some(1));
        assert_eq!(mpidrs(&l)[..], [3, 0, 2]);
        assert!(l.skipped.is_empty());
        assert_eq!(l.left_off, 0);
    }

    #[test]
    fn duplicates_and_invalid_regs_are_skipped() {
        let d = dt(&[0, 1, 1, 0, 0x1_0000_0000_0001, 2]);
        let l = logical_cpus(&d, 0);
        assert_eq!(l.boot.map(|c| c.mpidr), Some(0));
        assert_eq!(mpidrs(&l)[..], [1, 2]);
        assert_eq!(&l.skipped[..], &[(2, CpuSkip::Duplicate), (3, CpuSkip::Duplicate), (4, CpuSkip::InvalidReg)]);
    }

    #[test]
    fn missing_boot_cpu_enables_no_secondary() {
        let d = dt(&[1, 2, 3]);
        let l = logical_cpus(&d, 0);
        assert!(l.boot.is_none());
        assert!(l.secondaries.is_empty());
        assert_eq!(l.left_off, 3);
    }

    #[test]
    fn boot_mpidr_is_compared_on_affinity_only() {
        // MPIDR_EL1 bit 31 (RES1) and MT/U bits are not part of the reg.
        let d = dt(&[0x100, 0x101]);
        let l = logical_cpus(&d, 0x8000_0100);
        assert_eq!(l.boot.map(|c| c.mpidr), Some(0x100));
        assert_eq!(mpidrs(&l)[..], [0x101]);
    }
}
