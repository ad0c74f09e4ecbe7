//! memtouch <pages> [<seed> [hold]]: a user-space memory load whose data
//! anyone can check, for the self-tests that move user pages under a
//! running process (CMA, compaction; the kernel's selftest/userload.rs).
//!
//! It maps one private anonymous region at a fixed address, a control page
//! followed by <pages> data pages, fills every word of every data page,
//! publishes the control page, then loops forever: check every word of
//! every data page, rewrite them all with the next generation. On the
//! first word that does not hold what it should, it prints the address,
//! the expected and the found value on stdout and exits with status 3. It
//! never ends otherwise: the kernel stops it with SIGKILL. With `hold` it
//! keeps generation 1 and only checks (a page the kernel corrupts on
//! purpose then stays corrupted until this program sees it).
//!
//! # The region (the kernel's userload.rs reads it, keep the two in step)
//!
//! ```text
//!   REGION_BASE                control page (words, little-endian u64):
//!     [0] READY_MAGIC, stored after the first fill (a release fence
//!         before it, so a reader that sees it sees the filled pages)
//!     [1] the generation every data page holds at least (stored after
//!         each complete rewrite, with a release fence before it)
//!     [2] <pages>     [3] <seed>     [4] checking passes completed
//!   REGION_BASE + 4096 * (1 + p), p < <pages>: data page p; each word
//!     at address va holds word_value(va, g, seed) for the page's
//!     generation g: (g mod 2^24) in bits 63..40, a hash of (va, g, seed)
//!     in bits 39..0
//! ```
//!
//! Each word carries its own generation, so a reader racing with the
//! rewrite (the kernel's check) can still check every word on its own:
//! the hash of its address and the generation it names must match. The
//! program's own check is exact (it is the only writer).
//!
//! Exit statuses: 3 corrupted data seen, 1 the region could not be
//! mapped, 64 bad arguments.
#![no_std]
#![no_main]

use core::sync::atomic::{Ordering, fence};
use ulib::mem::Mapping;
use ulib::sys::{self, PAGE_SIZE};
use ulib::{eprintln, println};

ulib::entry!(main);

/// Where the region starts: 64 GiB, far above the program's segments and
/// brk (from 4 MiB) and below the mmap area (under the stack, near 2^48).
const REGION_BASE: usize = 0x10_0000_0000;
/// The control page's word 0 once the data pages are filled ("memtouch").
const READY_MAGIC: u64 = 0x6d65_6d74_6f75_6368;
const WORDS_PER_PAGE: usize = PAGE_SIZE / 8;
/// Bits of the generation a word carries.
const GEN_BITS: u32 = 24;
const HASH_MASK: u64 = (1 << (64 - GEN_BITS)) - 1;

/// A 64-bit mixer (the splitmix64 finaliser).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The word at `va` in generation `generation` (only its low GEN_BITS
/// count).
fn word_value(va: u64, generation: u64, seed: u64) -> u64 {
    let g = generation & ((1 << GEN_BITS) - 1);
    (g << (64 - GEN_BITS)) | (mix(va ^ seed.rotate_left(17) ^ g.wrapping_mul(0x9e37_79b9_7f4a_7c15)) & HASH_MASK)
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn usage(why: &str) -> i32 {
    eprintln!("memtouch: {why}; usage: memtouch <pages> [<seed> [hold]]");
    64
}

fn main(args: &ulib::Args) -> i32 {
    let Some(nr_pages) = args.arg_str(1).and_then(parse_u64) else {
        return usage("<pages> missing or not a number");
    };
    if nr_pages == 0 || nr_pages > (1 << 24) {
        return usage("<pages> must be 1 to 16777216");
    }
    let nr_pages = nr_pages as usize;
    let seed = match args.arg_str(2) {
        None => 0x5eed,
        Some(s) => match parse_u64(s) {
            Some(v) => v,
            None => return usage("<seed> is not a number"),
        },
    };
    let hold = match args.arg_str(3) {
        None => false,
        Some("hold") => true,
        Some(_) => return usage("the third argument can only be 'hold'"),
    };
    let len = (1 + nr_pages) * PAGE_SIZE;
    let addr = match sys::mmap(REGION_BASE, len, sys::prot::RW, sys::map::ANON | sys::map::FIXED_NOREPLACE) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("memtouch: mmap of {nr_pages} pages at {REGION_BASE:#x}: {e}");
            return 1;
        }
    };
    // SAFETY: mmap just returned this range to this program; no Rust
    // reference points into it, and no other Mapping owns it.
    let region = unsafe { Mapping::from_raw(addr, len) };
    let data_va = |page: usize, word: usize| (addr + (1 + page) * PAGE_SIZE + word * 8) as u64;
    let data_off = |page: usize, word: usize| (1 + page) * PAGE_SIZE + word * 8;

    let fill = |generation: u64| {
        for page in 0..nr_pages {
            for word in 0..WORDS_PER_PAGE {
                region.write_u64(data_off(page, word), word_value(data_va(page, word), generation, seed));
            }
        }
    };
    let mut generation = 1u64;
    fill(generation);
    region.write_u64(8, generation);
    region.write_u64(16, nr_pages as u64);
    region.write_u64(24, seed);
    fence(Ordering::Release);
    region.write_u64(0, READY_MAGIC);

    let mut passes = 0u64;
    loop {
        for page in 0..nr_pages {
            for word in 0..WORDS_PER_PAGE {
                let va = data_va(page, word);
                let expected = word_value(va, generation, seed);
                let found = region.read_u64(data_off(page, word));
                if found != expected {
                    println!(
                        "memtouch[{}]: corrupted word at {:#x} (page {} of {}, generation {}): expected {:#018x}, found {:#018x}",
                        sys::getpid(),
                        va,
                        page,
                        nr_pages,
                        generation,
                        expected,
                        found
                    );
                    return 3;
                }
            }
        }
        passes += 1;
        region.write_u64(32, passes);
        if !hold {
            generation += 1;
            fill(generation);
            fence(Ordering::Release);
            region.write_u64(8, generation);
        }
    }
}
