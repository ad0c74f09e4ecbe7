//! The head: from the loader's jump to the kernel running in the upper half.
//!
//! ```text
//!  loader ──► _head (Image header, branch) ──► primary_entry     [MMU off, PA]
//!               init_kernel_el: EL2 → EL1h (HCR_EL2.RW, timers, no traps)
//!               early vectors; stack at its physical address
//!               __create_page_tables (Rust, below):
//!                   TTBR0: identity map of .idmap.text
//!                   TTBR1: the image at KIMAGE_VADDR, per-section permissions
//!                   MAIR, TCR, TTBRs, local TLB invalidate
//!               __enable_mmu (identity mapped): SCTLR_EL1.M/C/I, ic iallu
//!           ──► __primary_switched                               [MMU on, VA]
//!               stack and vectors by VA, TTBR0 → empty table, clear .bss
//!           ──► kernel_main(&BootInfo)
//! ```
//!
//! The Rust part runs with the MMU and data cache off. It must only use
//! PC-relative addresses (the target's static relocation model and small code
//! model produce `adrp`/`add`), no statics holding pointers, no formatting,
//! and only aligned accesses (the target sets `+strict-align`: with the MMU
//! off every access is Device memory, where unaligned accesses fault).
//!
//! Tables written with the cache off are invalidated to the PoC before they
//! are written (so no dirty line from the loader is evicted over them later)
//! and after (so no line fetched in between hides them from the cacheable
//! table walker), as Linux's head.S does.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]

use arch::pte::Arm64;
use mm::pgtable::{MapFlags, PageProt, PageTable, PgtableMem};
use mm::{Error, PAGE_SIZE, PhysAddr, VirtAddr};

core::arch::global_asm!(include_str!("head.S"));

/// Pages reserved in the image for page tables (linker.ld PGTABLE_POOL_PAGES).
pub const PGTABLE_POOL_PAGES: u64 = 64;

/// What the head hands to `kernel_main` (built on the stack by head.S).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct BootInfo {
    /// x0 at entry: physical address of the device tree (0 if none).
    pub dtb_pa: u64,
    /// Physical address the image was loaded at (its header).
    pub phys_base: u64,
    /// Link-time virtual address of the image (KIMAGE_VADDR).
    pub kimage_vaddr: u64,
    /// Exception level the kernel was entered at (1 or 2).
    pub boot_el: u64,
    /// x1..x3 at entry: booting.rst says they are zero.
    pub boot_args: [u64; 3],
    /// Pages of the page-table pool the head used.
    pub pgtable_pool_used: u64,
    /// The identity map's L0 table (retired once in the upper half).
    pub idmap_root: u64,
    /// The kernel's L0 table (TTBR1_EL1).
    pub kernel_root: u64,
}

impl BootInfo {
    /// `virt - phys` for addresses inside the image (Linux's kimage_voffset).
    pub fn kimage_voffset(&self) -> u64 {
        self.kimage_vaddr.wrapping_sub(self.phys_base)
    }
}

/// Linker-script symbols: section boundaries of the image.
pub mod sections {
    unsafe extern "C" {
        pub static _text: u8;
        pub static _stext: u8;
        pub static __idmap_text_start: u8;
        pub static __idmap_text_end: u8;
        pub static _etext: u8;
        pub static __start_rodata: u8;
        pub static __end_rodata: u8;
        pub static _sdata: u8;
        pub static _edata: u8;
        pub static __bss_start: u8;
        pub static __bss_end: u8;
        pub static __pgtable_pool_start: u8;
        pub static __pgtable_pool_end: u8;
        pub static __stack_guard_start: u8;
        pub static __stack_guard_end: u8;
        pub static __boot_stack_bottom: u8;
        pub static __boot_stack_top: u8;
        pub static __stack_trailing_guard_end: u8;
        pub static _end: u8;
        pub static __kallsyms_start: u8;
        pub static __kallsyms_end: u8;
        pub static reserved_pg_dir: u8;
    }

    /// The address of a linker symbol: its physical address while the MMU is
    /// off (PC-relative), its virtual address afterwards.
    #[macro_export]
    macro_rules! sym {
        ($s:ident) => {
            core::ptr::addr_of!($crate::sections::$s) as u64
        };
    }
}

/// Results passed back to head.S through memory on the MMU-off stack.
#[repr(C)]
pub struct EarlyTables {
    status: u64,
    idmap_root: u64,
    kernel_root: u64,
    pool_used: u64,
}

/// Page-table pages from the pool, reached by physical address (MMU off).
struct EarlyPool {
    next: u64,
    end: u64,
}

// SAFETY: pages come from the `.pgtables` section, which only the head uses
// at this point; each page is handed out once and zeroed before use; with
// the MMU off a physical address is a valid pointer (obligations 1 and 2).
unsafe impl PgtableMem for EarlyPool {
    fn alloc_table(&mut self) -> Result<PhysAddr, Error> {
        if self.next >= self.end {
            return Err(Error::NoMemory);
        }
        let pa = self.next;
        self.next += PAGE_SIZE;
        let p = pa as *mut u64;
        for i in 0..512 {
            // SAFETY: `p` is a whole pool page, unused so far (see above).
            unsafe { p.add(i).write_volatile(0) };
        }
        Ok(PhysAddr(pa))
    }
    fn table_ptr(&self, pa: PhysAddr) -> *mut u64 {
        pa.as_u64() as *mut u64
    }
}

/// Build the identity map and the kernel image map, then program the MMU
/// registers (not SCTLR). Called once by head.S, MMU off.
///
/// # Safety
/// 1. The MMU is off and only the boot CPU runs.
/// 2. `phys_base` is where the image starts, `kimage_vaddr` where it is linked.
/// 3. `out` points to 32 writable bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __create_page_tables(phys_base: u64, kimage_vaddr: u64, out: *mut EarlyTables) {
    let res = build(phys_base, kimage_vaddr);
    let (status, idmap, kernel, used) = match res {
        Ok((i, k, u)) => (0, i, k, u),
        Err(_) => (1, 0, 0, 0),
    };
    // SAFETY: obligation 3.
    unsafe { out.write_volatile(EarlyTables { status, idmap_root: idmap, kernel_root: kernel, pool_used: used }) };
}

fn build(phys_base: u64, kimage_vaddr: u64) -> Result<(u64, u64, u64), Error> {
    let pool_start = sym!(__pgtable_pool_start);
    let pool_end = sym!(__pgtable_pool_end);
    // SAFETY: the pool is RAM inside the image; nothing in it is needed.
    unsafe { arch::cache::dcache_inval_poc(pool_start, pool_end) };

    let va = |pa: u64| VirtAddr(kimage_vaddr + (pa - phys_base));
    let page = |a: u64| a & !(PAGE_SIZE - 1);

    // TTBR0: the page(s) of .idmap.text at VA == PA.
    let mut idmap = PageTable::<Arm64, _>::new(EarlyPool { next: pool_start, end: pool_end })?;
    let id_start = page(sym!(__idmap_text_start));
    let id_end = sym!(__idmap_text_end).next_multiple_of(PAGE_SIZE);
    idmap.map_range(
        VirtAddr(id_start),
        PhysAddr(id_start),
        id_end - id_start,
        PageProt::KERNEL_ROX,
        MapFlags::NO_BLOCKS,
    )?;
    let idmap_root = idmap.root().as_u64();
    let pool = EarlyPool { next: idmap.mem().next, end: pool_end };

    // TTBR1: the image, one permission per section, 4 KiB pages.
    let mut kernel = PageTable::<Arm64, _>::new(pool)?;
    let regions: [(u64, u64, PageProt); 4] = [
        (phys_base, sym!(_etext), PageProt::KERNEL_ROX),
        (sym!(__start_rodata), sym!(__end_rodata), PageProt::KERNEL_RO),
        (sym!(_sdata), sym!(__stack_guard_start), PageProt::KERNEL_RW),
        // (the guard between __stack_guard_start and __stack_guard_end stays
        // unmapped, and so does the page from __boot_stack_top to _end)
        (sym!(__stack_guard_end), sym!(__boot_stack_top), PageProt::KERNEL_RW),
    ];
    for (start, end, prot) in regions {
        kernel.map_range(va(start), PhysAddr(start), end - start, prot, MapFlags::NO_BLOCKS)?;
    }
    let kernel_root = kernel.root().as_u64();
    let used = (kernel.mem().next - pool_start) / PAGE_SIZE;

    // SAFETY: as above; the tables are complete in memory, drop any line the
    // cache may have fetched meanwhile.
    unsafe { arch::cache::dcache_inval_poc(pool_start, pool_end) };
    // SAFETY: the MMU is off (obligation 1 of the caller) and both roots are
    // the complete tables built above.
    unsafe { arch::mmu::configure(PhysAddr(idmap_root), PhysAddr(kernel_root)) };
    Ok((idmap_root, kernel_root, used))
}
