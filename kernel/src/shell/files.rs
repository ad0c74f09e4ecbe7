//! The files `cat`, `ls` and `echo >` reach: a small fixed tree in the
//! shape of Linux's procfs and debugfs, each file's text made by the
//! kernel's existing report code (the same writers `mminfo` and `ptdump`
//! log), printed raw. A path Linux has and this kernel does not (say
//! /proc/cpuinfo) is "No such file or directory", as it would be on a
//! kernel built without it; nothing is made up.
//!
//! ```text
//!   /proc/{buddyinfo,pagetypeinfo,zoneinfo,meminfo,vmstat,slabinfo,vmallocinfo,iomem}
//!   /proc/<pid>/{maps,smaps_rollup}
//!   /proc/sys/vm/{min_free_kbytes,extfrag_threshold}      read and write
//!   /proc/sys/vm/{compact_memory,drop_caches}             write only (0200)
//!   /sys/kernel/debug/kernel_page_tables
//!   /sys/kernel/debug/extfrag/{unusable_index,extfrag_index}
//!   /sys/kernel/debug/cma/<area>/{base_pfn,count,used,maxchunk,order_per_bit,bitmap}
//! ```
//!
//! /proc/vmstat has every counter of Linux's, those this kernel does not
//! keep at 0 (see mm::vmstat).

use super::handles::Handles;
use super::out::{self, say};
use crate::memory::page_alloc::allocator;
use crate::memory::{cma, ptdump, report, slab, vmalloc};
use crate::process::{pid, report as proc_report};
use alloc::string::String;
use alloc::vec::Vec;
use bootdata::shell::number;
use core::fmt::{self, Write};
use mm::cma::{Cma, CmaDebugfsFile};
use mm::mmap::Errno;
use mm::mmap::maps::{show_maps, show_smaps_rollup};

/// The files under /proc made by one report writer.
const PROC_REPORTS: &[&str] =
    &["buddyinfo", "pagetypeinfo", "zoneinfo", "meminfo", "vmstat", "slabinfo", "vmallocinfo", "iomem"];
/// /proc/sys/vm's files: (name, readable).
const SYSCTL_VM: &[(&str, bool)] =
    &[("compact_memory", false), ("drop_caches", false), ("extfrag_threshold", true), ("min_free_kbytes", true)];
/// A process's files.
const PID_FILES: &[&str] = &["maps", "smaps_rollup"];

/// What a path names.
enum Node {
    /// A directory: its entries (a `/` after those that are directories).
    Dir(Vec<String>),
    /// A file one can read.
    File(File),
    /// A file one may only write.
    WriteOnly,
}

/// A readable file.
enum File {
    Proc(&'static str),
    Pid(i32, &'static str),
    SysctlVm(&'static str),
    KernelPageTables,
    Extfrag(&'static str),
    Cma(&'static Cma, CmaDebugfsFile),
}

fn dir(entries: &[&str]) -> Node {
    Node::Dir(entries.iter().map(|s| String::from(*s)).collect())
}

/// `path` without `.` parts, repeated and trailing slashes; relative to /.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

fn cma_area(name: &str) -> Option<&'static Cma> {
    cma::areas().find(|c| c.name() == name)
}

/// What `path` names, if anything.
fn lookup(path: &str) -> Option<Node> {
    let c = components(path);
    Some(match c.as_slice() {
        [] => dir(&["proc/", "sys/"]),
        ["proc"] => {
            let mut e: Vec<String> = pid::all_processes().iter().map(|p| alloc::format!("{}/", p.pid)).collect();
            e.extend(PROC_REPORTS.iter().map(|s| String::from(*s)));
            e.push(String::from("sys/"));
            Node::Dir(e)
        }
        ["proc", "sys"] => dir(&["vm/"]),
        ["proc", "sys", "vm"] => dir(&SYSCTL_VM.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
        ["proc", "sys", "vm", f] => match SYSCTL_VM.iter().find(|(n, _)| n == f)? {
            (n, true) => Node::File(File::SysctlVm(n)),
            (_, false) => Node::WriteOnly,
        },
        ["proc", f] if number(f).is_none() => Node::File(File::Proc(PROC_REPORTS.iter().find(|n| *n == f)?)),
        ["proc", p, rest @ ..] => {
            let pid = i32::try_from(number(p)?).ok()?;
            pid::find_process(pid)?;
            match rest {
                [] => dir(PID_FILES),
                [f] => Node::File(File::Pid(pid, PID_FILES.iter().find(|n| *n == f)?)),
                _ => return None,
            }
        }
        ["sys"] => dir(&["kernel/"]),
        ["sys", "kernel"] => dir(&["debug/"]),
        ["sys", "kernel", "debug"] => dir(&["cma/", "extfrag/", "kernel_page_tables"]),
        ["sys", "kernel", "debug", "kernel_page_tables"] => Node::File(File::KernelPageTables),
        ["sys", "kernel", "debug", "extfrag"] => dir(&["extfrag_index", "unusable_index"]),
        ["sys", "kernel", "debug", "extfrag", f @ ("extfrag_index" | "unusable_index")] => {
            Node::File(File::Extfrag(if *f == "extfrag_index" { "extfrag_index" } else { "unusable_index" }))
        }
        ["sys", "kernel", "debug", "cma"] => Node::Dir(cma::areas().map(|c| alloc::format!("{}/", c.name())).collect()),
        ["sys", "kernel", "debug", "cma", area] => {
            cma_area(area)?;
            dir(&CmaDebugfsFile::ALL.iter().map(|f| f.name()).collect::<Vec<_>>())
        }
        ["sys", "kernel", "debug", "cma", area, f] => {
            let cma = cma_area(area)?;
            Node::File(File::Cma(cma, *CmaDebugfsFile::ALL.iter().find(|x| x.name() == *f)?))
        }
        _ => return None,
    })
}

/// The text of a readable file; `Err` for a process that went away.
fn read(file: &File, out: &mut String) -> Result<(), Errno> {
    let pa = allocator();
    let r: fmt::Result = match *file {
        File::Proc("buddyinfo") => pa.buddyinfo(out),
        File::Proc("pagetypeinfo") => pa.pagetypeinfo(out),
        File::Proc("zoneinfo") => report::zoneinfo(out),
        File::Proc("meminfo") => report::meminfo(out),
        File::Proc("vmstat") => report::vmstat(out),
        File::Proc("iomem") => crate::memory::memblock::iomem(out),
        File::Proc("slabinfo") => match slab::slub() {
            Some(s) => s.slabinfo(out),
            None => Ok(()),
        },
        File::Proc("vmallocinfo") => vmalloc::vmallocinfo(out),
        File::Proc(_) => Ok(()),
        File::Pid(p, f) => {
            let proc = pid::find_process(p).ok_or(Errno::ESRCH)?;
            // A zombie has no address space left: its files are empty.
            let Some(mm) = proc.mm() else { return Ok(()) };
            if f == "maps" {
                show_maps(out, &mm.inner.lock().aspace)
            } else {
                let sums = proc_report::smaps_rollup(&mm);
                show_smaps_rollup(out, &mm.inner.lock().aspace, &sums)
            }
        }
        File::SysctlVm("min_free_kbytes") => writeln!(out, "{}", pa.min_free_kbytes()),
        File::SysctlVm(_) => writeln!(out, "{}", mm::compaction::extfrag_threshold()),
        File::KernelPageTables => Ok(()),
        File::Extfrag("extfrag_index") => mm::compaction::extfrag_index_show(pa, out),
        File::Extfrag(_) => mm::compaction::unusable_index_show(pa, out),
        File::Cma(cma, f) => cma.debugfs_read(f, out),
    };
    r.map_err(|_| Errno::ENOMEM)
}

/// `cat FILE...`.
#[inline(never)]
pub fn cat(paths: &[&str]) {
    for path in paths {
        match lookup(path) {
            None => say!("cat: {path}: No such file or directory"),
            Some(Node::Dir(_)) => say!("cat: {path}: Is a directory"),
            Some(Node::WriteOnly) => say!("cat: {path}: Permission denied"),
            // Printed as the walk goes: the walk must not hold the
            // page-table lock while the console prints.
            Some(Node::File(File::KernelPageTables)) => {
                if let Err(e) = ptdump::kernel_page_tables(&mut |line| out::line(line)) {
                    say!("cat: {path}: {}", out::mm_strerror(e));
                }
            }
            Some(Node::File(f)) => {
                let mut text = String::new();
                match read(&f, &mut text) {
                    Ok(()) => out::text(&text),
                    Err(e) => say!("cat: {path}: {}", out::strerror(e)),
                }
            }
        }
    }
}

/// `ls [DIR]`.
#[inline(never)]
pub fn ls(path: Option<&str>) {
    let path = path.unwrap_or("/");
    match lookup(path) {
        None => say!("ls: cannot access '{path}': No such file or directory"),
        Some(Node::Dir(entries)) => {
            for e in entries {
                say!("{e}");
            }
        }
        Some(_) => say!("{path}"),
    }
}

/// `echo TEXT > FILE`: the writable /proc/sys/vm files.
#[inline(never)]
pub fn write(path: &str, text: &str, handles: &Handles) {
    let c = components(path);
    let name = match c.as_slice() {
        ["proc", "sys", "vm", f] if SYSCTL_VM.iter().any(|(n, _)| n == f) => *f,
        _ => {
            match lookup(path) {
                None => say!("shell: {path}: No such file or directory"),
                Some(Node::Dir(_)) => say!("shell: {path}: Is a directory"),
                Some(_) => say!("shell: {path}: Permission denied"),
            }
            return;
        }
    };
    // The sysctl's integer, as proc_dointvec takes it: decimal, blanks around.
    let value = number(text.trim()).filter(|_| !text.trim().starts_with("0x"));
    let invalid = || say!("shell: echo: write error: Invalid argument");
    let pa = allocator();
    match (name, value) {
        ("compact_memory", Some(1)) => crate::memory::compaction::compact_memory(),
        ("min_free_kbytes", Some(v)) if v <= i32::MAX as u64 => pa.set_min_free_kbytes(v),
        ("extfrag_threshold", Some(v)) if v <= 1000 => {
            if mm::compaction::set_extfrag_threshold(v as u32).is_err() {
                invalid();
            }
        }
        ("drop_caches", Some(v @ 1..=4)) => drop_caches(v, handles),
        _ => invalid(),
    }
}

/// drop_caches: 1 the page cache (there is none), 2 the slab caches (each
/// kmalloc cache and those the shell made give their empty slabs back),
/// 3 both; 4 only keeps Linux's line quiet. Then the pcp lists are drained
/// (so freed pages reach the buddy lists) and the lazily freed vmap areas
/// purged. Says what it did and how many pages came free.
fn drop_caches(v: u64, handles: &Handles) {
    let pa = allocator();
    let before = pa.nr_free_pages();
    if v & 4 == 0 {
        crate::pr_info!("shell (0): drop_caches: {v}");
    }
    if v & 1 != 0 {
        say!("drop_caches: page cache: none in this kernel, nothing to drop");
    }
    if v & 2 != 0 {
        slab::shrink_kmalloc_caches();
        let n = handles.shrink_caches();
        say!("drop_caches: slab: kmem_cache_shrink of every kmalloc cache and the {n} made here");
    }
    vmalloc::vm_unmap_aliases();
    pa.drain_all_pages();
    let after = pa.nr_free_pages();
    say!(
        "drop_caches: per-CPU page lists drained, lazy vmap areas purged: {} pages free, {} more than before",
        after,
        after.saturating_sub(before)
    );
}
