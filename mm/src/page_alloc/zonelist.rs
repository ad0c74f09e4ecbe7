//! Building the zonelists (build_all_zonelists, find_next_best_node) and
//! what they decide for the fast path.

use crate::config::{MAX_NR_ZONES, MAX_NUMNODES, NR_CPUS, PAGEBLOCK_NR_PAGES};
use crate::hal::{Hal, LogLevel};
use crate::mmzone::{MIGRATE_TYPES, ZoneType};
use crate::zone::AllocFlags;

use super::allocator::{PENALTY_FOR_NODE_WITH_CPUS, PageAllocator};
use super::node::{MAX_ZONELISTS, ZONELIST_FALLBACK, ZONELIST_NOFALLBACK, ZoneRef, Zonelist};

/// A node order as build_zonelists prints it: each node followed by a space.
struct NodeOrder<'a>(&'a [usize]);

impl core::fmt::Display for NodeOrder<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.0.iter().try_for_each(|n| write!(f, "{n} "))
    }
}

impl<H: Hal> PageAllocator<H> {
    /// Build every node's zonelists (build_all_zonelists), each CPU's
    /// nearest node with memory, and decide on mobility grouping.
    pub fn build_all_zonelists(&mut self) {
        let mut node_load = [0i64; MAX_NUMNODES];
        for nid in 0..MAX_NUMNODES {
            if self.nodes[nid].is_none() {
                continue;
            }
            let mut order = [0usize; MAX_NUMNODES];
            let mut nr_nodes = 0;
            let mut used = [false; MAX_NUMNODES];
            let mut prev = nid;
            while let Some(node) = self.find_next_best_node(nid, &mut used, &node_load) {
                if self.node_distance[nid][node] != self.node_distance[nid][prev] {
                    node_load[node] += 1;
                }
                order[nr_nodes] = node;
                nr_nodes += 1;
                prev = node;
            }
            H::log(LogLevel::Info, format_args!("Fallback order for Node {nid}: {}", NodeOrder(&order[..nr_nodes])));
            let mut fallback = Zonelist::EMPTY;
            for &node in &order[..nr_nodes] {
                self.build_zonerefs_node(node, &mut fallback);
            }
            let mut thisnode = Zonelist::EMPTY;
            self.build_zonerefs_node(nid, &mut thisnode);
            if let Some(pgdat) = self.nodes[nid].as_deref_mut() {
                pgdat.node_zonelists[ZONELIST_FALLBACK] = fallback;
                pgdat.node_zonelists[ZONELIST_NOFALLBACK] = thisnode;
            }
        }
        // The preferred zone and ALLOC_NOFRAGMENT for each highest zone.
        for nid in 0..MAX_NUMNODES {
            for which in 0..MAX_ZONELISTS {
                let mut preferred = [None; MAX_NR_ZONES];
                let mut fast_flags = [AllocFlags::empty(); MAX_NR_ZONES];
                if let Some(pgdat) = self.nodes[nid].as_deref() {
                    for zt in ZoneType::ALL {
                        let first = pgdat.node_zonelists[which].zones().iter().copied().find(|z| z.zone <= zt);
                        preferred[zt.idx()] = first;
                        fast_flags[zt.idx()] = self.alloc_flags_nofragment(first);
                    }
                }
                if let Some(pgdat) = self.nodes[nid].as_deref_mut() {
                    pgdat.node_zonelists[which].preferred = preferred;
                    pgdat.node_zonelists[which].fast_flags = fast_flags;
                }
            }
        }
        for cpu in 0..NR_CPUS {
            let nid = self.cpu_to_node[cpu].0 as usize;
            self.numa_mem[cpu] = self.local_memory_node(nid) as u8;
        }
        let vm_total_pages = self.nr_free_zone_pages(ZoneType::Movable, true);
        self.page_group_by_mobility_disabled = vm_total_pages < PAGEBLOCK_NR_PAGES * MIGRATE_TYPES as u64;
        let disabled = self.page_group_by_mobility_disabled;
        for pgdat in self.nodes.iter_mut().flatten() {
            for zone in pgdat.node_zones.iter_mut() {
                zone.page_group_by_mobility_disabled = disabled;
            }
        }
        for cpu in 0..NR_CPUS {
            let fast_flags = match self.nodes[self.numa_mem[cpu] as usize].as_deref() {
                Some(pgdat) => pgdat.node_zonelists[ZONELIST_FALLBACK].fast_flags,
                None => [AllocFlags::empty(); MAX_NR_ZONES],
            };
            let cp = &mut self.cpu_pages[cpu];
            cp.mt_mask = if disabled { 0 } else { 3 };
            cp.fast_flags = fast_flags;
        }
        // The fast paths' tables (filled once the pcps are sized too).
        self.update_fast_off();
        H::log(
            LogLevel::Warning,
            format_args!(
                "Built {} zonelists, mobility grouping {}.  Total pages: {}",
                self.nr_online_nodes,
                if disabled { "off" } else { "on" },
                vm_total_pages
            ),
        );
        // mempolicy's policy_zone: the highest zone below Movable that has
        // memory (check_highest_zone), announced as Linux with NUMA does.
        let policy_zone = self
            .nodes
            .iter()
            .flatten()
            .flat_map(|p| p.node_zones.iter())
            .filter(|z| z.is_populated() && z.zone_type() != ZoneType::Movable)
            .map(|z| z.zone_type())
            .max()
            .unwrap_or(ZoneType::Dma);
        H::log(LogLevel::Info, format_args!("Policy zone: {}", policy_zone.name()));
    }

    /// The next node for `node`'s zonelist (find_next_best_node).
    pub(super) fn find_next_best_node(
        &self,
        node: usize,
        used: &mut [bool; MAX_NUMNODES],
        node_load: &[i64],
    ) -> Option<usize> {
        let has_memory = |n: usize| self.nodes[n].as_ref().is_some_and(|p| p.node_present_pages != 0);
        if !used[node] && has_memory(node) {
            used[node] = true;
            return Some(node);
        }
        let mut best = None;
        let mut min_val = i64::MAX;
        for n in 0..MAX_NUMNODES {
            if used[n] || !has_memory(n) {
                continue;
            }
            let mut val = self.node_distance[node][n] as i64;
            // Prefer the next node up.
            val += (n < node) as i64;
            // Prefer headless nodes.
            if self.cpu_to_node[..self.nr_cpus].iter().any(|c| c.0 as usize == n) {
                val += PENALTY_FOR_NODE_WITH_CPUS;
            }
            val = val * MAX_NUMNODES as i64 + node_load[n];
            if val < min_val {
                min_val = val;
                best = Some(n);
            }
        }
        if let Some(n) = best {
            used[n] = true;
        }
        best
    }

    /// Append `node`'s populated zones, highest first (build_zonerefs_node).
    pub(super) fn build_zonerefs_node(&self, node: usize, list: &mut Zonelist) {
        let Some(pgdat) = self.nodes[node].as_deref() else {
            return;
        };
        for zt in ZoneType::ALL.into_iter().rev() {
            if pgdat.zone(zt).is_populated() {
                list.push(ZoneRef { nid: node as u8, zone: zt });
            }
        }
    }

    /// The first node in `nid`'s fallback zonelist with a zone usable by
    /// GFP_KERNEL (local_memory_node).
    pub(super) fn local_memory_node(&self, nid: usize) -> usize {
        self.nodes
            .get(nid)
            .and_then(|p| p.as_deref())
            .and_then(|p| p.node_zonelists[ZONELIST_FALLBACK].zones().iter().find(|z| z.zone <= ZoneType::Normal))
            .map_or_else(|| self.nodes.iter().position(|n| n.is_some()).unwrap_or(0), |z| z.nid as usize)
    }

    /// Managed pages above the high watermark in the zones up to `highest`
    /// of the boot CPU's zonelist (nr_free_zone_pages). Before any memory
    /// is managed, present pages stand in, as Linux's estimate does.
    pub(super) fn nr_free_zone_pages(&self, highest: ZoneType, estimate: bool) -> u64 {
        let Some(pgdat) = self.node(self.numa_mem[0] as usize) else {
            return 0;
        };
        let mut sum = 0;
        for zref in pgdat.node_zonelists[ZONELIST_FALLBACK].zones().iter().filter(|z| z.zone <= highest) {
            let Some(zone) = self.zone(*zref) else { continue };
            let managed =
                if estimate && zone.managed_pages() == 0 { zone.present_pages() } else { zone.managed_pages() };
            sum += managed.saturating_sub(zone.high_wmark_pages());
        }
        sum
    }

    /// ALLOC_NOFRAGMENT when the preferred zone is Normal and, on NUMA, its
    /// node has a DMA32 zone to fall back to instead (alloc_flags_nofragment;
    /// ALLOC_KSWAPD is added from the gfp by the caller).
    pub(super) fn alloc_flags_nofragment(&self, preferred: Option<ZoneRef>) -> AllocFlags {
        let Some(preferred) = preferred else { return AllocFlags::empty() };
        if preferred.zone != ZoneType::Normal {
            return AllocFlags::empty();
        }
        if self.nr_online_nodes > 1
            && !self.node(preferred.nid as usize).is_some_and(|p| p.zone(ZoneType::Dma32).is_populated())
        {
            return AllocFlags::empty();
        }
        AllocFlags::NOFRAGMENT
    }
}
