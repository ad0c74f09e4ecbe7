/*
 * A static AArch64 Linux program with no C library: raw system calls
 * (svc #0, number in x8, arguments in x0-x5, result in x0, -errno on
 * failure). It runs the same on Linux and on mm-kernel.
 *
 *   aarch64-linux-gnu-gcc -static -nostdlib -ffreestanding -fno-stack-protector -O2 \
 *       -o hello user/c/hello.c
 *
 * It prints its arguments, checks that a fresh anonymous page reads zero
 * and keeps a write, and exits with status 0 (1 if the page check fails).
 */
#define __NR_write 64
#define __NR_exit_group 94
#define __NR_getpid 172
#define __NR_mmap 222
#define __NR_munmap 215

#define PROT_READ 1
#define PROT_WRITE 2
#define MAP_PRIVATE 0x02
#define MAP_ANONYMOUS 0x20

static long syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a0;
    register long x1 __asm__("x1") = a1;
    register long x2 __asm__("x2") = a2;
    register long x3 __asm__("x3") = a3;
    register long x4 __asm__("x4") = a4;
    register long x5 __asm__("x5") = a5;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}

static unsigned long length(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static void put(const char *s)
{
    syscall6(__NR_write, 1, (long)s, (long)length(s), 0, 0, 0);
}

static void put_number(long v)
{
    char buf[24];
    int i = sizeof(buf) - 1;
    buf[i] = 0;
    if (v == 0)
        buf[--i] = '0';
    while (v > 0 && i > 0) {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    }
    put(&buf[i]);
}

/* Called by _start with the initial stack pointer: argc, argv[], NULL, envp[], NULL, auxv. */
__attribute__((used)) static void start_c(long *sp)
{
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    long i;

    put("hello from C: pid ");
    put_number(syscall6(__NR_getpid, 0, 0, 0, 0, 0, 0));
    put("\n");
    for (i = 0; i < argc; i++) {
        put("  argv[");
        put_number(i);
        put("] = ");
        put(argv[i]);
        put("\n");
    }

    long page = syscall6(__NR_mmap, 0, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page < 0 && page > -4096) {
        put("hello: mmap failed\n");
        syscall6(__NR_exit_group, 1, 0, 0, 0, 0, 0);
    }
    volatile long *p = (volatile long *)page;
    int ok = p[0] == 0 && p[511] == 0;
    p[7] = 0x1234;
    ok = ok && p[7] == 0x1234;
    syscall6(__NR_munmap, page, 4096, 0, 0, 0, 0);
    put(ok ? "hello: demand-zero page ok\n" : "hello: demand-zero page FAILED\n");
    syscall6(__NR_exit_group, ok ? 0 : 1, 0, 0, 0, 0, 0);
    for (;;)
        ;
}

/* The ELF entry point: sp is 16-byte aligned and points at argc. */
__asm__(".text\n"
        ".global _start\n"
        ".type _start, %function\n"
        "_start:\n"
        "    mov x29, #0\n"
        "    mov x30, #0\n"
        "    mov x0, sp\n"
        "    bl start_c\n"
        "    brk #0\n");
