//! kmap and friends (Linux's include/linux/highmem.h) for a 64-bit kernel.
//!
//! On a 32-bit kernel, RAM above what the kernel's address space can map
//! permanently ("high memory") has no kernel address of its own: `kmap`
//! maps such a page into a small window for a while and `kunmap` tears the
//! mapping down again. A 64-bit kernel has no high memory: every page of
//! RAM is in the linear map for the whole run, so these functions return
//! the page's linear-map address (`page_address`) and the unmaps have
//! nothing to undo, exactly as Linux's `!CONFIG_HIGHMEM` versions do. They
//! exist so code written against the Linux API reads the same here, and
//! they keep Linux's rules anyway: a `kmap_local_page` address is for the
//! calling context only, and unmaps pair with maps, in reverse order for
//! the local ones.
//!
//! A page unmapped from the linear map (NOMAP memory; debug_pagealloc's
//! freed pages) has no address to return; callers map only pages they own.

use super::linear_map::{linear_map_covers, page_address, virt_to_pfn};
use super::pages::page_to_pfn;
use mm::page::Page;
use mm::{PAGE_SIZE, Pfn, VirtAddr};

fn linear_address(pfn: Pfn) -> VirtAddr {
    debug_assert!(linear_map_covers(pfn.phys(), PAGE_SIZE), "kmap of a page outside the linear map");
    page_address(pfn)
}

/// The kernel address of `page` for as long as the caller likes (Linux's
/// kmap): its linear-map address, since no page is high memory here.
pub fn kmap(page: &Page) -> VirtAddr {
    linear_address(page_to_pfn(page))
}

/// End a [`kmap`] (Linux's kunmap): nothing to undo without high memory.
pub fn kunmap(page: &Page) {
    debug_assert!(linear_map_covers(page_to_pfn(page).phys(), PAGE_SIZE));
}

/// The kernel address of `page` for the calling context (Linux's
/// kmap_local_page): its linear-map address.
pub fn kmap_local_page(page: &Page) -> VirtAddr {
    linear_address(page_to_pfn(page))
}

/// [`kmap_local_page`] by frame number (Linux's kmap_local_pfn).
pub fn kmap_local_pfn(pfn: Pfn) -> VirtAddr {
    linear_address(pfn)
}

/// End a [`kmap_local_page`] given any address inside the page (Linux's
/// kunmap_local): nothing to undo without high memory.
pub fn kunmap_local(addr: VirtAddr) {
    debug_assert!(linear_map_covers(virt_to_pfn(addr).phys(), PAGE_SIZE), "kunmap_local of a non-kmap address");
}
