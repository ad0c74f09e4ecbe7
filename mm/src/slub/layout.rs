//! The object layout of a cache (calculate_sizes, calculate_order).

use crate::addr::PAGE_SIZE;
use crate::config::PAGE_ALLOC_COSTLY_ORDER;
use crate::error::Error;
use crate::page_alloc::get_order;

use super::cache::{CACHE_LINE_BYTES, MAX_OBJS_PER_PAGE, PTR, SlabFlags, TRACK_BYTES};

/// The slab layout of an object (calculate_sizes, calculate_order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlabLayout {
    /// Requested size.
    pub object_size: usize,
    /// Slot size.
    pub size: usize,
    /// Alignment.
    pub align: usize,
    /// Free pointer offset.
    pub offset: usize,
    /// object_size plus right red zone.
    pub inuse: usize,
    /// Left red zone.
    pub red_left_pad: usize,
    /// Slab order.
    pub order: u32,
    /// Objects per slab.
    pub objects: u32,
}

/// calculate_alignment.
pub(super) fn calculate_alignment(flags: SlabFlags, align: usize, size: usize) -> usize {
    let mut align = align.max(1);
    if flags.contains(SlabFlags::HWCACHE_ALIGN) {
        let mut ralign = CACHE_LINE_BYTES;
        while size <= ralign / 2 {
            ralign /= 2;
        }
        align = align.max(ralign);
    }
    align.next_multiple_of(PTR)
}

/// Objects of `size` bytes in a slab of `order` (order_objects).
pub(super) fn order_objects(order: u32, size: usize) -> u32 {
    ((PAGE_SIZE as usize) << order).checked_div(size).unwrap_or(0) as u32
}

/// calc_slab_order: the lowest order in `min_order..=max_order` leaving at
/// most `1/fract_leftover` of the slab unused.
pub(super) fn calc_slab_order(size: usize, min_order: u32, max_order: u32, fract_leftover: usize) -> u32 {
    let mut order = min_order;
    while order <= max_order {
        let slab_size = (PAGE_SIZE as usize) << order;
        if slab_size % size <= slab_size / fract_leftover {
            break;
        }
        order += 1;
    }
    order
}

/// calculate_order for `nr_cpus` CPUs.
pub fn calculate_order(size: usize, nr_cpus: usize) -> Result<u32, Error> {
    let max_order = PAGE_ALLOC_COSTLY_ORDER;
    let fls = usize::BITS - nr_cpus.max(1).leading_zeros();
    let mut min_objects = 4 * (fls as usize + 1);
    let max_objects = (order_objects(max_order, size) as usize).max(1);
    min_objects = min_objects.min(max_objects);
    let min_order = get_order((min_objects * size) as u64);
    if order_objects(min_order, size) > MAX_OBJS_PER_PAGE {
        return Ok(get_order((size * MAX_OBJS_PER_PAGE as usize) as u64) - 1);
    }
    let mut fraction = 16;
    while fraction > 1 {
        let order = calc_slab_order(size, min_order, max_order, fraction);
        if order <= max_order {
            return Ok(order);
        }
        fraction /= 2;
    }
    let order = get_order(size as u64);
    if order <= crate::zone::MAX_PAGE_ORDER { Ok(order) } else { Err(Error::InvalidArgument) }
}

/// calculate_sizes: the layout of a cache of `object_size` bytes.
pub fn calculate_sizes(
    object_size: usize,
    align: usize,
    flags: SlabFlags,
    has_ctor: bool,
    nr_cpus: usize,
) -> Result<SlabLayout, Error> {
    if object_size == 0 || object_size > (PAGE_SIZE as usize) << crate::zone::MAX_PAGE_ORDER || !align.is_power_of_two()
    {
        return Err(Error::InvalidArgument);
    }
    let align = calculate_alignment(flags, align, object_size);
    let mut size = object_size.next_multiple_of(PTR);
    if flags.contains(SlabFlags::RED_ZONE) && size == object_size {
        size += PTR;
    }
    let inuse = size;
    let orig = flags.contains(SlabFlags::KMALLOC | SlabFlags::RED_ZONE);
    let offset;
    if flags.contains(SlabFlags::POISON)
        || has_ctor
        || (flags.contains(SlabFlags::RED_ZONE) && (object_size < PTR || orig))
    {
        offset = size;
        size += PTR;
    } else {
        offset = (object_size / 2) / PTR * PTR;
    }
    if flags.contains(SlabFlags::STORE_USER) {
        size += 2 * TRACK_BYTES;
    }
    if orig {
        size += 4;
    }
    let mut red_left_pad = 0;
    if flags.contains(SlabFlags::RED_ZONE) {
        size += PTR;
        red_left_pad = PTR.next_multiple_of(align);
        size += red_left_pad;
    }
    let size = size.next_multiple_of(align);
    let order = calculate_order(size, nr_cpus)?;
    let objects = order_objects(order, size);
    if objects == 0 {
        return Err(Error::InvalidArgument);
    }
    Ok(SlabLayout { object_size, size, align, offset, inuse, red_left_pad, order, objects })
}
