// The arm64 kernel head: entered with the MMU off, as
// Documentation/arch/arm64/booting.rst describes:
//   x0 = physical address of the device tree blob, x1 = x2 = x3 = 0,
//   at EL2 or EL1, MMU off, D-cache off (or the image cleaned to the PoC),
//   interrupts masked, loaded at a 2 MiB-aligned base + text_offset.
// Only PC-relative addressing is used until the MMU is on: the image runs
// wherever the loader put it.

.set SCTLR_EL1_RES1,  (1 << 11) | (1 << 20) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29)
.set SCTLR_EL1_M,     (1 << 0)      // MMU
.set SCTLR_EL1_C,     (1 << 2)      // data cache
.set SCTLR_EL1_SA,    (1 << 3)      // SP alignment check at EL1
.set SCTLR_EL1_SA0,   (1 << 4)      // SP alignment check at EL0
.set SCTLR_EL1_I,     (1 << 12)     // instruction cache
.set SCTLR_EL1_WXN,   (1 << 19)     // writable implies execute-never
.set INIT_SCTLR_EL1_MMU_OFF, SCTLR_EL1_RES1
.set INIT_SCTLR_EL1_MMU_ON,  SCTLR_EL1_RES1 | SCTLR_EL1_M | SCTLR_EL1_C | SCTLR_EL1_I | SCTLR_EL1_SA | SCTLR_EL1_SA0 | SCTLR_EL1_WXN

.set HCR_EL2_RW,      (1 << 31)     // EL1 is AArch64
// SCTLR_EL2 with the MMU off: its RES1 bits, little-endian (Linux's INIT_SCTLR_EL2_MMU_OFF).
.set INIT_SCTLR_EL2_MMU_OFF, (1 << 4) | (1 << 5) | (1 << 11) | (1 << 16) | (1 << 18) | (1 << 22) | (1 << 23) | (1 << 28) | (1 << 29)
.set HCR_EL2_E2H,     (1 << 34)
.set SPSR_EL1H_MASKED, 0x3c5        // EL1h, D, A, I, F masked

.set BOOT_STATUS_OK, 0
.set OVERFLOW_STACK_SIZE, 8192      // arch::percpu::OVERFLOW_STACK_SIZE

// struct SecondaryData (kernel/src/smp/bringup.rs), filled and cleaned to
// the PoC by the boot CPU before it releases each secondary.
.set SD_MAIR,       0
.set SD_TCR,        8
.set SD_TTBR0,      16
.set SD_TTBR1,      24
.set SD_STACK_TOP,  32
.set SD_PERCPU_OFFSET, 40          // the CPU's per-CPU offset, for TPIDR_EL1
.set SD_ENTRY,      48
.set SD_RESERVED_PA, 56             // physical address of reserved_pg_dir
.set SD_TOKEN,      64              // this attempt: seq << 40 | MPIDR affinity; bit 63 = taken
.set TOKEN_TAKEN_BIT, 63
.set TOKEN_SEQ_SHIFT, 40

.section .head.text, "ax"
.global _head
_head:
    b       primary_entry           // code0: branch to the entry
    .long   0                       // code1
    .quad   0                       // text_offset
    .quad   _kernel_size_le         // image_size: the whole image including bss
    .quad   0xa                     // flags: LE, 4 KiB pages, 2 MiB base anywhere
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5: no PE/COFF header

.section .idmap.text, "ax"

// Early vectors: an exception before the kernel's vectors are live cannot
// print (no console yet). Try to end the run through semihosting with code 2;
// if that HLT is itself undefined (no host), stop.
.balign 0x800
__early_vectors:
    .rept 16
    .balign 0x80
    b       __early_fault
    .endr

__early_fault:
    mrs     x0, esr_el1
    ubfx    x0, x0, #26, #6
    cbz     x0, 9f                  // undefined instruction: maybe our HLT
    adr     x1, __early_exit_block
    mov     x0, #0x18               // SYS_EXIT
    hlt     #0xf000
9:  wfe
    b       9b
.balign 8
__early_exit_block:
    .quad   0x20026                 // ADP_Stopped_ApplicationExit
    .quad   2

.global primary_entry
primary_entry:
    mov     x19, x0                 // the device tree
    mov     x20, x1                 // x1..x3 are reserved: kept for the log
    mov     x21, x2
    mov     x22, x3
    msr     daifset, #0xf
    bl      init_kernel_el          // now at EL1h; w0 = the EL we entered at
    mov     x23, x0

    adr     x0, __early_vectors
    msr     vbar_el1, x0
    isb

    // Stack for the MMU-off Rust code, addressed by its physical address.
    adrp    x0, __boot_stack_top
    add     x0, x0, :lo12:__boot_stack_top
    mov     sp, x0
    mov     x29, xzr
    mov     x30, xzr

    adrp    x24, _head              // physical base of the image
    ldr     x25, =_head             // its link-time virtual address
    sub     sp, sp, #32
    mov     x0, x24
    mov     x1, x25
    mov     x2, sp
    bl      __create_page_tables    // also programs MAIR, TCR, TTBR0/1
    ldp     x0, x26, [sp]           // status, idmap root
    ldp     x27, x28, [sp, #16]     // kernel root, pool pages used
    add     sp, sp, #32
    cbnz    x0, __early_fault_bad_tables

    bl      __enable_mmu
    ldr     x8, =__primary_switched
    br      x8

__early_fault_bad_tables:
    // Could not build the tables (pool too small: a build bug). No console.
    b       __early_fault

// Secondary CPUs enter here (PSCI CPU_ON or a spin-table release) with the
// MMU off, at EL2 or EL1, one at a time: __secondary_data describes the CPU.
.global secondary_entry
secondary_entry:
    msr     daifset, #0xf
    bl      init_kernel_el
    adr     x0, __early_vectors
    msr     vbar_el1, x0
    isb
    adrp    x19, __secondary_data   // physical, MMU off: the boot CPU cleaned it to the PoC
    add     x19, x19, :lo12:__secondary_data
    // Is this attempt ours? The token names the MPIDR the boot CPU is
    // waiting for; a CPU released for an attempt that was given up (or by a
    // release address shared with another CPU) finds another CPU's token,
    // or none, and parks before touching anything the attempt describes.
    ldr     x23, [x19, #SD_TOKEN]
    mrs     x0, mpidr_el1
    movz    x1, #0xffff             // affinity mask: Aff3 (39..32), Aff2..Aff0 (23..0)
    movk    x1, #0x00ff, lsl #16
    movk    x1, #0x00ff, lsl #32
    eor     x0, x0, x23
    tst     x0, x1
    b.ne    __secondary_park        // another CPU's attempt
    lsr     x0, x23, #TOKEN_SEQ_SHIFT
    cbz     x0, __secondary_park    // no attempt (given up, or never made)
    tbnz    x23, #TOKEN_TAKEN_BIT, __secondary_park // already taken by a CPU
    ldr     x0, [x19, #SD_MAIR]
    msr     mair_el1, x0
    ldr     x0, [x19, #SD_TCR]
    msr     tcr_el1, x0
    ldr     x0, [x19, #SD_TTBR0]
    msr     ttbr0_el1, x0
    ldr     x0, [x19, #SD_TTBR1]
    msr     ttbr1_el1, x0
    ldr     x20, [x19, #SD_STACK_TOP]
    ldr     x21, [x19, #SD_PERCPU_OFFSET]
    ldr     x22, [x19, #SD_ENTRY]
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    bl      __enable_mmu
    ldr     x8, =__secondary_switched
    br      x8

// A CPU that must not run this attempt: wait forever with the MMU off,
// touching nothing (a sev from a later release only wakes it to wait again).
__secondary_park:
    wfe
    b       __secondary_park

// Configure the CPU for an EL1 kernel. Returns w0 = 1 or 2, the entry EL.
init_kernel_el:
    // CPACR_EL1 resets to an UNKNOWN value: make FP/SIMD and SVE trap at EL1
    // (FPEN = ZEN = 0), so the kernel cannot use them by accident.
    msr     cpacr_el1, xzr
    mrs     x0, CurrentEL
    cmp     x0, #(2 << 2)
    b.eq    1f
    cmp     x0, #(1 << 2)
    b.ne    __early_fault           // EL3 or EL0 entry is not supported
    ldr     x0, =INIT_SCTLR_EL1_MMU_OFF
    msr     sctlr_el1, x0
    isb
    mov     w0, #1
    ret

1:  // At EL2: host an AArch64 EL1 kernel, trapping nothing it does not need
    // to. Every EL2 register that affects EL1 gets an exact value, never an
    // OR into its UNKNOWN reset value (as Linux's init_el2 does).
    ldr     x0, =INIT_SCTLR_EL2_MMU_OFF
    msr     sctlr_el2, x0
    isb
    adrp    x0, __hyp_stub_vectors  // an HVC from EL1 returns NOT_SUPPORTED
    add     x0, x0, :lo12:__hyp_stub_vectors
    msr     vbar_el2, x0
    ldr     x0, =HCR_EL2_RW
    msr     hcr_el2, x0
    isb
    mrs     x1, hcr_el2             // E2H may be RES1 (no FEAT_E2H0)
    mov     x0, #3                  // CNTHCTL_EL2: EL1PCTEN | EL1PCEN (E2H = 0 layout)
    tbz     x1, #34, 2f
    mov     x0, #(3 << 10)          // the same bits in the E2H = 1 layout
2:  msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mov     x0, #0x32ff             // CPTR_EL2: RES1 bits only (Linux's CPTR_EL2_DEFAULT): no traps to EL2
    msr     cptr_el2, x0
    msr     hstr_el2, xzr
    msr     vttbr_el2, xzr          // no stage 2
    mrs     x0, midr_el1
    msr     vpidr_el2, x0
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    // MDCR_EL2: no debug or PMU traps; EL1 gets every PMU counter
    // (HPMN = PMCR_EL0.N), or HPMN = 0 without a PMU.
    mov     x1, xzr
    mrs     x0, id_aa64dfr0_el1
    ubfx    x0, x0, #8, #4          // PMUVer
    cbz     x0, 3f
    cmp     x0, #0xf                // IMPLEMENTATION DEFINED PMU: leave HPMN 0
    b.eq    3f
    mrs     x0, pmcr_el0
    ubfx    x1, x0, #11, #5
3:  msr     mdcr_el2, x1
    // GICv3 CPU interface: system-register access for EL1, no virtual
    // interface traps (ICH_HCR_EL2 = 0), as Linux's __init_el2_gicv3.
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4
    cbz     x0, 4f
    mrs     x0, s3_4_c12_c9_5       // ICC_SRE_EL2
    orr     x0, x0, #1              // SRE
    orr     x0, x0, #8              // Enable: EL1 may write ICC_SRE_EL1
    msr     s3_4_c12_c9_5, x0
    isb
    msr     s3_4_c12_c11_0, xzr     // ICH_HCR_EL2
4:  // Fine-grained traps (FEAT_FGT, ID_AA64MMFR0_EL1.FGT): none. The kernel
    // uses none of the features whose negative-polarity bits would need a 1.
    mrs     x0, id_aa64mmfr0_el1
    ubfx    x0, x0, #56, #4
    cbz     x0, 5f
    msr     s3_4_c3_c1_4, xzr       // HDFGRTR_EL2
    msr     s3_4_c3_c1_5, xzr       // HDFGWTR_EL2
    msr     s3_4_c1_c1_4, xzr       // HFGRTR_EL2
    msr     s3_4_c1_c1_5, xzr       // HFGWTR_EL2
    msr     s3_4_c1_c1_6, xzr       // HFGITR_EL2
5:  // HCRX_EL2 (FEAT_HCX, ID_AA64MMFR1_EL1.HCX): 0, none of its features used.
    mrs     x0, id_aa64mmfr1_el1
    ubfx    x0, x0, #40, #4
    cbz     x0, 6f
    msr     s3_4_c1_c2_2, xzr       // HCRX_EL2
6:  ldr     x0, =INIT_SCTLR_EL1_MMU_OFF
    msr     sctlr_el1, x0
    mov     x0, #SPSR_EL1H_MASKED
    msr     spsr_el2, x0
    adr     x0, 7f
    msr     elr_el2, x0
    isb                             // every EL2 write above before the exception return
    eret
7:  mov     w0, #2
    ret

// Turn the MMU on. Runs from the identity map; returns to identity-mapped code.
__enable_mmu:
    ldr     x0, =INIT_SCTLR_EL1_MMU_ON
    dsb     ish                     // table writes complete before the walker runs
    isb
    msr     sctlr_el1, x0
    isb
    // Drop instructions fetched speculatively from the PoC with the MMU off.
    ic      iallu
    dsb     nsh
    isb
    ret

// EL2 vectors while the kernel runs at EL1 (outside .idmap.text, which must
// fit a page; EL2 runs with its MMU off, so VBAR_EL2 holds the physical
// address the head computes): nothing lives at EL2, so an HVC
// (PSCI over hvc named by a device tree on a machine where we are the
// hypervisor) returns PSCI's NOT_SUPPORTED (-1) in x0 instead of jumping
// through an unset VBAR_EL2. Anything else taken to EL2 returns as well.
.pushsection .text.hyp_stub, "ax"
.balign 0x800
__hyp_stub_vectors:
    .rept 16
    .balign 0x80
    mov     x0, #-1
    eret
    .endr
.popsection

.ltorg

.section .text.head, "ax"
// Now at the link-time virtual address, through TTBR1.
__primary_switched:
    adrp    x0, __boot_stack_top
    add     x0, x0, :lo12:__boot_stack_top
    mov     sp, x0
    mov     x29, xzr
    mov     x30, xzr
    adrp    x0, __vectors
    add     x0, x0, :lo12:__vectors
    msr     vbar_el1, x0
    isb

    // Retire the identity map: TTBR0 -> the empty reserved table.
    adrp    x0, reserved_pg_dir
    add     x0, x0, :lo12:reserved_pg_dir
    sub     x0, x0, x25             // - link address of the image
    add     x0, x0, x24             // + its physical base
    msr     ttbr0_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb

    // Clear .bss, now through the cache.
    adrp    x0, __bss_start
    add     x0, x0, :lo12:__bss_start
    adrp    x1, __bss_end
    add     x1, x1, :lo12:__bss_end
1:  cmp     x0, x1
    b.hs    2f
    stp     xzr, xzr, [x0], #16
    b       1b
2:
    // TPIDR_EL1 = per-CPU offset 0: the boot CPU runs on the per-CPU
    // template until the kernel has made its copy (arch/src/percpu.rs).
    // Its CPU area is the template's; its overflow stack is the first one.
    msr     tpidr_el1, xzr
    adrp    x0, __cpu_area
    add     x0, x0, :lo12:__cpu_area
    msr     sp_el0, x0              // this CPU's area while the kernel runs
    adrp    x1, __overflow_stacks
    add     x1, x1, :lo12:__overflow_stacks
    add     x1, x1, #OVERFLOW_STACK_SIZE
    str     x1, [x0]

    // struct BootInfo on the stack.
    sub     sp, sp, #80
    stp     x19, x24, [sp, #0]      // dtb_pa, phys_base
    stp     x25, x23, [sp, #16]     // kimage_vaddr, boot_el
    stp     x20, x21, [sp, #32]     // x1, x2
    stp     x22, x28, [sp, #48]     // x3, pgtable_pool_used
    stp     x26, x27, [sp, #64]     // idmap_root, kernel_root
    mov     x0, sp
    bl      kernel_main
3:  wfe
    b       3b

// A secondary, now in the upper half: x20 = stack top, x21 = its per-CPU
// offset, x22 = the Rust function to run (never returns).
__secondary_switched:
    // Claim the attempt before using anything it describes (the stack, the
    // per-CPU unit): token -> token | taken. The boot CPU, giving up, swaps the
    // token for 0 first, and then this fails: too late, park (Linux's
    // __secondary_too_slow). x23 = the token read with the MMU off.
    adrp    x1, __secondary_data
    add     x1, x1, :lo12:__secondary_data
    add     x1, x1, #SD_TOKEN
    orr     x3, x23, #(1 << TOKEN_TAKEN_BIT)
1:  ldaxr   x2, [x1]
    cmp     x2, x23
    b.ne    __secondary_too_slow
    stlxr   w4, x3, [x1]
    cbnz    w4, 1b
    mov     sp, x20
    mov     x29, xzr
    mov     x30, xzr
    adrp    x0, __vectors
    add     x0, x0, :lo12:__vectors
    msr     vbar_el1, x0
    msr     tpidr_el1, x21
    adrp    x1, __cpu_area          // SP_EL0 = this CPU's area (arch/src/percpu.rs)
    add     x1, x1, :lo12:__cpu_area
    add     x1, x1, x21
    msr     sp_el0, x1
    isb
    adrp    x1, __secondary_data    // retire the identity map here too
    add     x1, x1, :lo12:__secondary_data
    ldr     x1, [x1, #SD_RESERVED_PA]
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    mov     x0, x21
    blr     x22
4:  wfe
    b       4b

// The boot CPU gave up on this attempt before this CPU claimed it: the
// stack and per-CPU offset may already belong to the next CPU. Park, MMU on,
// touching no memory.
__secondary_too_slow:
    clrex
5:  wfe
    b       5b

.section .data.secondary_data, "aw"
.balign 64
.global __secondary_data
__secondary_data:
    .space  128

.section .rodata.reserved_pg_dir, "a"
.balign 4096
.global reserved_pg_dir
reserved_pg_dir:
    .space  4096
