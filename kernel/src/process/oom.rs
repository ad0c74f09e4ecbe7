//! The OOM killer, minimal (Linux's mm/oom_kill.c out_of_memory with the
//! badness of oom_badness reduced to RSS plus page tables, no
//! oom_score_adj, no memory cgroups): when a user fault cannot get a page,
//! the process with the largest footprint is killed and the fault retried
//! once it is gone.

use super::pid::{self, ProcState, Process};
use super::signal;
use crate::sched;
use alloc::sync::Arc;
use core::sync::atomic::Ordering;

/// Pages a process would give back (oom_badness: rss + page tables).
fn badness(p: &Process) -> u64 {
    match p.mm() {
        Some(mm) => mm.rss() + mm.inner.lock().pgtable.table_pages(),
        None => 0,
    }
}

/// Kill the biggest process. Returns true if the caller may retry its
/// allocation (a victim other than the caller died and let go of its
/// memory), false if the caller itself was chosen or nothing could be
/// killed (then the caller is killed: never a hang).
pub fn out_of_memory() -> bool {
    let me = pid::current_process();
    let victim: Option<Arc<Process>> = pid::all_processes()
        .into_iter()
        .filter(|p| !p.is_init && matches!(*p.state.lock(), ProcState::Running) && p.mm().is_some())
        .filter(|p| !p.fatal_signal_pending())
        .max_by_key(|p| badness(p));
    let victim = match (victim, &me) {
        (Some(v), _) => v,
        // Only init is left: kill whoever asked (Linux panics here).
        (None, Some(me)) => me.clone(),
        (None, None) => return false,
    };
    let (comm, vpid) = (victim.comm(), victim.pid);
    if let Some(mm) = victim.mm() {
        let total_vm_kb = mm.inner.lock().aspace.total_vm() * 4;
        let pt_kb = mm.inner.lock().pgtable.table_pages() * 4;
        let (anon_kb, shmem_kb) = (mm.rss_anon.load(Ordering::Relaxed) * 4, mm.rss_shmem.load(Ordering::Relaxed) * 4);
        if let Some(me) = &me {
            crate::pr_warn!(
                "{} invoked oom-killer: gfp_mask=0x140dca(GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_ZERO), order=0, oom_score_adj=0",
                me.comm()
            );
        }
        crate::pr_err!(
            "Out of memory: Killed process {vpid} ({comm}) total-vm:{total_vm_kb}kB, anon-rss:{anon_kb}kB, file-rss:0kB, shmem-rss:{shmem_kb}kB, UID:0 pgtables:{pt_kb}kB oom_score_adj:0"
        );
    }
    signal::kill_process(&victim);
    if me.as_ref().is_some_and(|m| m.pid == vpid) {
        return false;
    }
    drop(me);
    // Wait (bounded) for the victim to let go of its address space.
    let deadline = arch::timer::uptime_ns() + 5_000_000_000;
    let gone = |v: &Process| matches!(*v.state.lock(), ProcState::Zombie(_));
    while !gone(&victim) && arch::timer::uptime_ns() < deadline {
        sched::yield_now();
        if signal::fatal_signal_pending() {
            return false;
        }
    }
    gone(&victim)
}
