//! Setting the watermarks, lowmem reserves and pcp sizes
//! (init_per_zone_wmark_min, __setup_per_zone_wmarks, zone_pcp_update).

use core::sync::atomic::Ordering::Relaxed;

use crate::addr::{PAGE_SHIFT, PAGE_SIZE};
use crate::config::MAX_NR_ZONES;
use crate::error::Error;
use crate::hal::{Hal, LogLevel};
use crate::mmzone::ZoneType;
use crate::pcp::{zone_batchsize, zone_highsize};
use crate::zone::{LOWMEM_RESERVE_RATIO, SWAP_CLUSTER_MAX, int_sqrt, mult_frac};

use super::allocator::{MIN_FREE_KBYTES_RANGE, PageAllocator};

impl<H: Hal> PageAllocator<H> {
    // ----- watermarks and pcp sizes --------------------------------------

    /// Compute min_free_kbytes, the watermarks and the lowmem reserves
    /// (init_per_zone_wmark_min). Call after the memory has been freed.
    pub fn init_per_zone_wmark_min(&self) {
        self.calculate_min_free_kbytes();
        self.setup_per_zone_wmarks();
        self.setup_per_zone_lowmem_reserve();
    }

    /// min_free_kbytes = int_sqrt(lowmem_kbytes * 16), clamped to
    /// [128, 262144], unless the user set a larger value
    /// (calculate_min_free_kbytes).
    pub fn calculate_min_free_kbytes(&self) {
        let lowmem_kbytes = self.nr_free_zone_pages(ZoneType::Normal, false) * (PAGE_SIZE >> 10);
        let new = int_sqrt(lowmem_kbytes * 16);
        let user = self.user_min_free_kbytes.load(Relaxed);
        if new > user {
            self.min_free_kbytes.store(new.clamp(MIN_FREE_KBYTES_RANGE.0, MIN_FREE_KBYTES_RANGE.1), Relaxed);
        } else {
            H::log(
                LogLevel::Warning,
                format_args!("min_free_kbytes is not updated to {new} because user defined value {user} is preferred"),
            );
        }
    }

    /// The current min_free_kbytes.
    #[inline]
    pub fn min_free_kbytes(&self) -> u64 {
        self.min_free_kbytes.load(Relaxed)
    }

    /// Set min_free_kbytes as the vm.min_free_kbytes sysctl does, and
    /// recompute the watermarks.
    pub fn set_min_free_kbytes(&self, kbytes: u64) {
        self.min_free_kbytes.store(kbytes, Relaxed);
        self.user_min_free_kbytes.store(kbytes, Relaxed);
        self.setup_per_zone_wmarks();
    }

    /// Set vm.watermark_scale_factor (1..=3000) and recompute the watermarks.
    pub fn set_watermark_scale_factor(&self, factor: u64) -> Result<(), Error> {
        if !(1..=3000).contains(&factor) {
            return Err(Error::InvalidArgument);
        }
        self.watermark_scale_factor.store(factor, Relaxed);
        self.setup_per_zone_wmarks();
        Ok(())
    }

    /// Set every zone's watermarks from min_free_kbytes (__setup_per_zone_wmarks):
    ///
    /// ```text
    ///   share = (min_free_kbytes / 4) * managed / lowmem_managed   (lowmem: all but Movable)
    ///   min   = share, or for Movable clamp(managed / 1024, 32, 128)
    ///   step  = max(share / 4, managed * watermark_scale_factor / 10000)
    ///   low   = min + step;   high = low + step
    /// ```
    pub fn setup_per_zone_wmarks(&self) {
        let _guard = self.setup_lock.lock();
        let pages_min = self.min_free_kbytes() >> (PAGE_SHIFT - 10);
        let scale = self.watermark_scale_factor.load(Relaxed);
        let lowmem_pages: u64 =
            self.all_zones().filter(|z| z.zone_type() != ZoneType::Movable).map(|z| z.managed_pages()).sum();
        for zone in self.all_zones() {
            let managed = zone.managed_pages();
            let share =
                if lowmem_pages == 0 { 0 } else { (pages_min as u128 * managed as u128 / lowmem_pages as u128) as u64 };
            let min = if zone.zone_type() == ZoneType::Movable {
                (managed / 1024).clamp(SWAP_CLUSTER_MAX, 128)
            } else {
                share
            };
            let step = (share >> 2).max(mult_frac(managed, scale, 10_000));
            zone.watermark_boost.store(0, Relaxed);
            zone.watermark[0].store(min, Relaxed);
            zone.watermark[1].store(min + step, Relaxed);
            zone.watermark[2].store(min + 2 * step, Relaxed);
        }
        self.calculate_totalreserve_pages();
    }

    /// Set each zone's reserve against allocations that could have used a
    /// higher zone (setup_per_zone_lowmem_reserve): for zone `i` and each
    /// higher zone `j`, `lowmem_reserve[j]` is the managed pages of zones
    /// `i+1..=j` divided by the ratio of zone `i` (256, 256, 32, 0), or 0 if
    /// the ratio is 0 or zone `i` manages nothing.
    pub fn setup_per_zone_lowmem_reserve(&self) {
        let _guard = self.setup_lock.lock();
        for pgdat in self.nodes.iter().flatten() {
            for (i, &ratio) in LOWMEM_RESERVE_RATIO.iter().enumerate().take(MAX_NR_ZONES - 1) {
                let zone = &pgdat.node_zones[i];
                let clear = ratio == 0 || zone.managed_pages() == 0;
                let mut managed = 0;
                for j in i + 1..MAX_NR_ZONES {
                    managed += pgdat.node_zones[j].managed_pages();
                    zone.lowmem_reserve[j].store(if clear { 0 } else { managed / ratio }, Relaxed);
                }
            }
        }
        self.calculate_totalreserve_pages();
    }

    /// totalreserve_pages: per zone, its largest lowmem reserve plus its high
    /// watermark, at most its managed pages (calculate_totalreserve_pages).
    pub(super) fn calculate_totalreserve_pages(&self) {
        let mut total = 0;
        for pgdat in self.nodes.iter().flatten() {
            let mut node_total = 0;
            for (i, zone) in pgdat.node_zones.iter().enumerate() {
                let max = (i..MAX_NR_ZONES).map(|j| zone.lowmem_reserve[j].load(Relaxed)).max().unwrap_or(0);
                node_total += (max + zone.high_wmark_pages()).min(zone.managed_pages());
                // Both callers changed an input of the fast path's cached
                // watermark decision.
                zone.refresh_wmark_cache();
            }
            pgdat.totalreserve_pages.store(node_total, Relaxed);
            total += node_total;
        }
        self.totalreserve_pages.store(total, Relaxed);
    }

    /// Size every zone's pcp lists (zone_pcp_update): batch from
    /// zone_batchsize (at least 1), high from zone_highsize over the CPUs of
    /// the zone's node. Call after the watermarks are set.
    pub fn setup_pcp(&self) {
        let _guard = self.setup_lock.lock();
        for zone in self.all_zones() {
            let batch = zone_batchsize(zone.managed_pages()).max(1);
            let node_cpus = self.cpu_to_node[..self.nr_cpus].iter().filter(|&&n| n == zone.node()).count();
            let split = if node_cpus == 0 { self.nr_cpus } else { node_cpus };
            let high = zone_highsize(zone.low_wmark_pages(), batch, split);
            zone.set_pageset_high_and_batch(&self.map, high, batch);
        }
        self.pcp_ready.store(true, Relaxed);
        self.update_fast_off();
    }
}
