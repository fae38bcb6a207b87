/* Hide instruction-set extensions from this process's CPUID, so that every library in it (ONNX
 * Runtime's MLAS, oneDNN, ATen, numpy) picks the kernels it would pick on a CPU without them.
 *
 * Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID, flag `cpuid_fault` in /proc/cpuinfo) makes
 * the CPUID instruction raise SIGSEGV; the handler runs the real CPUID, clears the bits of the
 * level named in ROSETTA_ISA_MASK (avx2 | avx512 | avx512-bf16) and steps over the instruction.
 * The setting is per thread and inherited by threads created later, so it is set in a constructor
 * before the libraries start theirs. The kernels then run on this CPU's cores: a stand-in for
 * another CPU's instruction set, not for its clock, caches or core count.
 *
 * Build: gcc -O2 -shared -fPIC -o cpuid_mask.so cpuid_mask.c -ldl  (bench/isa_mask.py does it). */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#define BIT(n) (1u << (n))

/* What each level clears: leaf 7.0 EBX/ECX/EDX and leaf 7.1 EAX/EDX. */
struct mask {
    uint32_t l7_ebx, l7_ecx, l7_edx, l71_eax, l71_edx;
};

/* AMX tiles (EDX 22 bf16, 24 tile, 25 int8), AVX512-FP16 (EDX 23), AMX-FP16 (7.1 EAX 21). */
#define AMX_FP16 (BIT(22) | BIT(23) | BIT(24) | BIT(25))
/* AVX512-BF16 (7.1 EAX 5). */
#define BF16_71 BIT(5)
/* AVX512 F/DQ/IFMA/PF/ER/CD/BW/VL (EBX), VBMI/VBMI2/VNNI/BITALG/VPOPCNTDQ (ECX), 4VNNIW/4FMAPS/VP2INTERSECT (EDX). */
#define AVX512_EBX (BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31))
#define AVX512_ECX (BIT(1) | BIT(6) | BIT(11) | BIT(12) | BIT(14))
#define AVX512_EDX (BIT(2) | BIT(3) | BIT(8))
/* AVX-VNNI (7.1 EAX 4), AVX-IFMA (7.1 EAX 23); AVX-VNNI-INT8 and AVX-NE-CONVERT (7.1 EDX 4, 5):
 * 256-bit extensions of Alder Lake and later that an AVX2-only CPU (Haswell..Zen 3) lacks. */
#define AVX_NEW_71_EAX (BIT(4) | BIT(23))
#define AVX_NEW_71_EDX (BIT(4) | BIT(5))
/* AVX10 (7.1 EDX 19): its 256/512-bit forms are AVX512 under a new name; every level below has none. */
#define AVX10_71_EDX BIT(19)

static struct mask active;

static void apply(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d) {
    if (leaf == 7 && sub == 0) {
        *b &= ~active.l7_ebx;
        *c &= ~active.l7_ecx;
        *d &= ~active.l7_edx;
    } else if (leaf == 7 && sub == 1) {
        *a &= ~active.l71_eax;
        *d &= ~active.l71_edx;
    }
}

static long set_cpuid(unsigned long enabled) { return syscall(SYS_arch_prctl, ARCH_SET_CPUID, enabled); }

/* The program's own SIGSEGV disposition. sigaction() and signal() are interposed below, so a
 * handler installed later (Python's faulthandler, a JIT) lands here instead of replacing on_segv,
 * which would make the next CPUID fatal; real faults are handed to it. */
static struct sigaction previous;
static int masking;
static int (*real_sigaction)(int, const struct sigaction *, struct sigaction *);

static int call_sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    if (!real_sigaction)
        real_sigaction = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
    return real_sigaction(sig, act, old);
}

static void on_segv(int sig, siginfo_t *info, void *raw) {
    ucontext_t *ctx = raw;
    greg_t *r = ctx->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    /* A faulting CPUID is a general-protection fault (SI_KERNEL); check that before reading ip,
     * which may itself be the bad address. */
    if (info->si_code != SI_KERNEL || ip[0] != 0x0f || ip[1] != 0xa2) {
        if (previous.sa_flags & SA_SIGINFO && previous.sa_sigaction) {
            previous.sa_sigaction(sig, info, raw);
            return;
        }
        if (!(previous.sa_flags & SA_SIGINFO) && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
            previous.sa_handler(sig);
            return;
        }
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        call_sigaction(SIGSEGV, &dfl, NULL);
        return; /* re-executes the faulting instruction, now fatal as usual */
    }
    uint32_t leaf = (uint32_t)r[REG_RAX], sub = (uint32_t)r[REG_RCX], a, b, c, d;
    set_cpuid(1);
    __cpuid_count(leaf, sub, a, b, c, d);
    set_cpuid(0);
    apply(leaf, sub, &a, &b, &c, &d);
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2;
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old) {
    if (sig != SIGSEGV || !masking)
        return call_sigaction(sig, act, old);
    struct sigaction was = previous;
    if (act)
        previous = *act;
    if (old)
        *old = was;
    return 0;
}

sighandler_t signal(int sig, sighandler_t handler) {
    struct sigaction act, old;
    memset(&act, 0, sizeof act);
    act.sa_handler = handler;
    act.sa_flags = SA_RESTART;
    if (sigaction(sig, &act, &old) != 0)
        return SIG_ERR;
    return old.sa_flags & SA_SIGINFO ? (sighandler_t)old.sa_sigaction : old.sa_handler;
}

__attribute__((constructor)) static void install(void) {
    const char *level = getenv("ROSETTA_ISA_MASK");
    if (!level || !*level || !strcmp(level, "native"))
        return;
    memset(&active, 0, sizeof active);
    if (!strcmp(level, "avx512-bf16")) { /* Cooper Lake, Zen 4: AVX512 with BF16, no AMX */
        active.l7_edx = AMX_FP16;
        active.l71_eax = BIT(21) | AVX_NEW_71_EAX;
        active.l71_edx = AVX_NEW_71_EDX | AVX10_71_EDX;
    } else if (!strcmp(level, "avx512")) { /* Skylake-SP, Cascade Lake, Ice Lake: AVX512 (VNNI), no BF16 */
        active.l7_edx = AMX_FP16;
        active.l71_eax = BIT(21) | BF16_71 | AVX_NEW_71_EAX;
        active.l71_edx = AVX_NEW_71_EDX | AVX10_71_EDX;
    } else if (!strcmp(level, "avx2")) { /* Haswell .. Zen 3: AVX2 + FMA, nothing newer */
        active.l7_ebx = AVX512_EBX;
        active.l7_ecx = AVX512_ECX;
        active.l7_edx = AMX_FP16 | AVX512_EDX;
        active.l71_eax = BIT(21) | BF16_71 | AVX_NEW_71_EAX;
        active.l71_edx = AVX_NEW_71_EDX | AVX10_71_EDX;
    } else {
        fprintf(stderr, "cpuid_mask: ROSETTA_ISA_MASK=%s: expected native, avx2, avx512 or avx512-bf16\n", level);
        _exit(2);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    /* NODEFER: a handler that runs CPUID itself faults again inside ours. Everything else is
     * blocked meanwhile, so no other handler runs CPUID while faulting is off for this thread. */
    sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigfillset(&sa.sa_mask);
    sigdelset(&sa.sa_mask, SIGSEGV);
    call_sigaction(SIGSEGV, &sa, &previous);
    masking = 1;
    if (set_cpuid(0) != 0) {
        fprintf(stderr, "cpuid_mask: this CPU or kernel has no CPUID faulting (cpuid_fault); cannot mask %s\n", level);
        _exit(2);
    }
}
