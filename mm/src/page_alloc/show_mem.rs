//! show_mem (mm/show_mem.c): the memory report warn_alloc prints after an
//! allocation failure, also available to callers as text.

use core::fmt::{self, Write};
use core::marker::PhantomData;

use crate::addr::PAGE_SHIFT;
use crate::hal::{Hal, LogLevel};
use crate::mmzone::{MigrateType, ZoneType};
use crate::zone::Zone;

use super::allocator::PageAllocator;

/// Pages to kB (Linux's K()).
const fn k(pages: u64) -> u64 {
    pages << (PAGE_SHIFT - 10)
}

impl<H: Hal> PageAllocator<H> {
    /// show_mem (__show_mem and show_free_areas) for zones up to
    /// `max_zone_idx`, as `cpu` sees it (`local_pcp`).
    pub fn show_mem(&self, cpu: usize, out: &mut impl Write, max_zone_idx: ZoneType) -> fmt::Result {
        let shown = || self.all_zones().filter(move |z| z.is_populated() && z.zone_type() <= max_zone_idx);
        writeln!(out, "Mem-Info:")?;
        let free_pcp: u64 = shown().map(Zone::pcp_count).sum();
        let free_cma: u64 = self.all_zones().map(Zone::free_cma_pages).sum();
        writeln!(out, "free:{} free_pcp:{} free_cma:{}", self.nr_free_pages(), free_pcp, free_cma)?;
        for zone in shown() {
            writeln!(
                out,
                "Node {} {} free:{}kB min:{}kB low:{}kB high:{}kB reserved_highatomic:{}KB present:{}kB \
                 managed:{}kB free_pcp:{}kB local_pcp:{}kB free_cma:{}kB",
                zone.node(),
                zone.name(),
                k(zone.free_pages()),
                k(zone.min_wmark_pages()),
                k(zone.low_wmark_pages()),
                k(zone.high_wmark_pages()),
                k(zone.nr_reserved_highatomic()),
                k(zone.present_pages()),
                k(zone.managed_pages()),
                k(zone.pcp_count()),
                k(zone.pcp_stats(cpu).count as u64),
                k(zone.free_cma_pages()),
            )?;
            write!(out, "lowmem_reserve[]:")?;
            for zt in ZoneType::ALL {
                write!(out, " {}", zone.lowmem_reserve(zt))?;
            }
            out.write_char('\n')?;
        }
        for zone in shown() {
            let snap = zone.free_snapshot();
            write!(out, "Node {} {}: ", zone.node(), zone.name())?;
            let mut total = 0;
            for (order, by_type) in snap.by_type.iter().enumerate() {
                let nr = snap.nr_free[order];
                total += nr << order;
                write!(out, "{}*{}kB ", nr, k(1) << order)?;
                if nr != 0 {
                    out.write_char('(')?;
                    for mt in MigrateType::ALL.iter().filter(|mt| by_type[**mt as usize] != 0) {
                        out.write_char(mt.letter())?;
                    }
                    out.write_str(") ")?;
                }
            }
            writeln!(out, "= {}kB", k(total))?;
        }
        let (mut total, mut reserved) = (0, 0);
        for zone in self.all_zones().filter(|z| z.is_populated()) {
            total += zone.present_pages();
            reserved += zone.present_pages().saturating_sub(zone.managed_pages());
        }
        writeln!(out, "{total} pages RAM")?;
        writeln!(out, "{reserved} pages reserved")?;
        let cma: u64 = self.all_zones().map(Zone::cma_pages).sum();
        if cma != 0 {
            writeln!(out, "{cma} pages cma reserved")?;
        }
        Ok(())
    }

    /// Print show_mem through [`Hal::log`], a line per call.
    pub fn show_mem_log(&self, cpu: usize, max_zone_idx: ZoneType) {
        struct Lines<H: Hal>([u8; 256], usize, PhantomData<fn() -> H>);
        impl<H: Hal> Lines<H> {
            fn flush(&mut self) {
                let bytes = &self.0[..self.1];
                let text = core::str::from_utf8(bytes).unwrap_or("");
                H::log(LogLevel::Warning, format_args!("{text}"));
                self.1 = 0;
            }
        }
        impl<H: Hal> Write for Lines<H> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                for &b in s.as_bytes() {
                    if b == b'\n' || self.1 == self.0.len() {
                        self.flush();
                        if b == b'\n' {
                            continue;
                        }
                    }
                    self.0[self.1] = b;
                    self.1 += 1;
                }
                Ok(())
            }
        }
        let mut lines = Lines::<H>([0; 256], 0, PhantomData);
        let _ = self.show_mem(cpu, &mut lines, max_zone_idx);
        if lines.1 != 0 {
            lines.flush();
        }
    }
}
