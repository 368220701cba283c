// mirrord's launch bootstrap (model b): an LD_PRELOAD object whose
// constructor puts the process under the supervisor of a running mirrord
// session (`mirrord runner`), so programs an IDE or a shell starts with the
// session's env are supervised from before main().
//
// Why it is built this way:
//   - No libc (-nostdlib, raw syscalls): the same object loads into glibc
//     and musl programs, and the constructor cannot take a libc lock or
//     call a hooked function.
//   - The BPF program comes from the runner: the filter is defined once, in
//     Go (layer/internal/supervisor), never duplicated here.
//   - connect() is trapped by the filter, so the socket is connected
//     BEFORE the filter exists. sendmsg may be trapped too (outgoing UDP),
//     so the listener is not sent with SCM_RIGHTS: its fd number is
//     written, and the runner takes it with pidfd_getfd.
//   - A process that is already supervised (a child that inherited
//     LD_PRELOAD) answers the probe syscall with a magic value: nothing to do.
//   - Failing to join is fatal by default (exit 111 with one line on stderr):
//     a program that silently ran on the laptop's files and network while
//     the user believes it runs in the pod's context is worse than a program
//     that does not start. MIRRORD_LAYER_ON_ERROR=continue runs it anyway.
//
// Env: MIRRORD_LAYER_SOCKET (the runner's unix socket), MIRRORD_LAYER_TOKEN
// (the session token the runner checks), MIRRORD_LAYER_ON_ERROR.
// Wire (SOCK_SEQPACKET, one message each):
//   us → runner: "MRD1" token
//   runner → us: 'F' u64 flags, BPF program   | 'E' message
//   us → runner: 'L' u64 flags used, i32 listener fd | 'E' message
//   runner → us: 'A' (serving)                | 'E' message
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>

#define PROBE_NR 1000
#define PROBE_ANSWER 0x5ec
#define EXIT_FAILED 111
#define ENV_MAX (8 << 20)
#define MSG_MAX (4096 * 8 + 64)

#ifndef SECCOMP_FILTER_FLAG_TSYNC_ESRCH
#define SECCOMP_FILTER_FLAG_TSYNC_ESRCH (1UL << 4)
#endif

#if defined(__x86_64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static long sys6(long n, long a, long b, long c, long d, long e, long f) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc 0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
#else
#error "mirrord's bootstrap supports x86_64 and aarch64"
#endif

#define sys3(n, a, b, c) sys6(n, (long)(a), (long)(b), (long)(c), 0, 0, 0)

// gcc may emit calls to these for struct copies and zeroing.
__attribute__((visibility("hidden"))) void *memset(void *d, int c, size_t n) {
    unsigned char *p = d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}
__attribute__((visibility("hidden"))) void *memcpy(void *d, const void *s, size_t n) {
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--) *p++ = *q++;
    return d;
}

static size_t slen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

// say writes one line to stderr (one write, so lines of concurrent
// processes do not interleave).
static void say4(const char *a, const char *b, const char *c, const char *d) {
    char line[1024];
    size_t n = 0;
    const char *parts[] = {"mirrord: ", a, b, c, d};
    for (int i = 0; i < 5; i++)
        for (const char *p = parts[i]; p && *p && n < sizeof line - 1; p++) line[n++] = *p;
    line[n++] = '\n';
    sys3(SYS_write, 2, line, n);
}
#define say(a, b, c) say4(a, b, c, 0)

static const char *errname(long e) {
    switch (-e) {
    case 2: return " (ENOENT: no such socket; the session has ended)";
    case 13: return " (EACCES)";
    case 111: return " (ECONNREFUSED: the session has ended)";
    case 22: return " (EINVAL)";
    case 16: return " (EBUSY: another seccomp supervisor already serves this process)";
    case 1: return " (EPERM)";
    case 38: return " (ENOSYS: seccomp user notification needs Linux 5.14 or newer)";
    default: return "";
    }
}

// env finds NAME=value in the environment block (NUL-separated).
static const char *env(const char *blk, long n, const char *name) {
    size_t l = slen(name);
    for (long i = 0; i < n;) {
        const char *e = blk + i;
        size_t el = slen(e);
        if (el > l && e[l] == '=') {
            size_t k = 0;
            while (k < l && e[k] == name[k]) k++;
            if (k == l) return e + l + 1;
        }
        i += el + 1;
    }
    return 0;
}

static int same(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}

static void fail(const char *onerr, const char *a, const char *b, const char *c) {
    if (onerr && same(onerr, "continue")) {
        say4(a, b, c, "; running WITHOUT mirrord (MIRRORD_LAYER_ON_ERROR=continue): files, network and DNS are this machine's");
        return;
    }
    say4(a, b, c, "; the program was not started (start the mirrord session again, or set MIRRORD_LAYER_ON_ERROR=continue to run it without mirrord)");
    sys3(SYS_exit_group, EXIT_FAILED, 0, 0);
}

static void join(const char *path, const char *token, const char *onerr, char *buf) {
    long s = sys3(SYS_socket, AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0) {
        fail(onerr, "creating a unix socket failed", errname(s), 0);
        return;
    }
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    size_t pl = slen(path);
    if (pl >= sizeof sa.sun_path) {
        sys3(SYS_close, s, 0, 0);
        fail(onerr, "MIRRORD_LAYER_SOCKET is too long for a unix socket path: ", path, 0);
        return;
    }
    memcpy(sa.sun_path, path, pl);
    // Connect before the filter exists: the filter traps connect.
    long r = sys3(SYS_connect, s, &sa, sizeof sa);
    if (r < 0) {
        sys3(SYS_close, s, 0, 0);
        fail(onerr, "cannot reach the mirrord session at ", path, errname(r));
        return;
    }
    // Hello.
    size_t tl = slen(token);
    if (tl > 256) tl = 256;
    memcpy(buf, "MRD1", 4);
    memcpy(buf + 4, token, tl);
    if (sys3(SYS_write, s, buf, 4 + tl) < 0) goto lost;
    long n = sys3(SYS_read, s, buf, MSG_MAX);
    if (n <= 0) goto lost;
    if (buf[0] == 'E') {
        buf[n < MSG_MAX ? n : MSG_MAX - 1] = 0;
        sys3(SYS_close, s, 0, 0);
        fail(onerr, "the mirrord session refused this process: ", buf + 1, 0);
        return;
    }
    if (buf[0] != 'F' || n < 9 + 8 || (n - 9) % 8 != 0) goto lost;

    // Yama ptrace_scope=1 only lets ancestors read our memory; allow the
    // runner (the peer of this socket). Harmless without Yama.
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (sys6(SYS_getsockopt, s, SOL_SOCKET, SO_PEERCRED, (long)&cr, (long)&cl, 0) == 0)
        sys6(SYS_prctl, PR_SET_PTRACER, cr.pid, 0, 0, 0, 0);

    uint64_t want;
    memcpy(&want, buf + 1, 8);
    struct sock_fprog prog = {.len = (unsigned short)((n - 9) / 8), .filter = (struct sock_filter *)(buf + 9)};
    r = sys6(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
    if (r < 0) {
        sys3(SYS_close, s, 0, 0);
        fail(onerr, "prctl(PR_SET_NO_NEW_PRIVS) failed", errname(r), 0);
        return;
    }
    // Other threads may exist already (a library constructor started one):
    // TSYNC puts all of them under the filter.
    uint64_t base = SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_TSYNC | SECCOMP_FILTER_FLAG_TSYNC_ESRCH;
    uint64_t used = base | want;
    long lfd = sys3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, used, &prog);
    if (lfd == -22 && want) { // an older kernel without the extra flags
        used = base;
        lfd = sys3(SYS_seccomp, SECCOMP_SET_MODE_FILTER, used, &prog);
    }
    if (lfd < 0) {
        buf[0] = 'E';
        memcpy(buf + 1, "seccomp install failed", 22);
        sys3(SYS_write, s, buf, 23);
        sys3(SYS_close, s, 0, 0);
        fail(onerr, "installing the seccomp filter failed", errname(lfd), 0);
        return;
    }
    // From here on, no trapped syscall until the runner serves the
    // listener. sendmsg may be trapped (outgoing UDP), so the listener is
    // not passed with SCM_RIGHTS: we write its number, the runner takes it
    // with pidfd_getfd (allowed by the PR_SET_PTRACER above) and answers.
    // write, read and close are never trapped.
    char msg[13];
    msg[0] = 'L';
    memcpy(msg + 1, &used, 8);
    int32_t ifd = (int32_t)lfd;
    memcpy(msg + 9, &ifd, 4);
    r = sys3(SYS_write, s, msg, sizeof msg);
    if (r < 0) {
        sys3(SYS_close, lfd, 0, 0);
        goto lost;
    }
    // The runner has taken its copy when it answers.
    n = sys3(SYS_read, s, buf, MSG_MAX);
    sys3(SYS_close, lfd, 0, 0);
    sys3(SYS_close, s, 0, 0);
    if (n > 0 && buf[0] == 'A') return;
    if (n > 0 && buf[0] == 'E') {
        buf[n < MSG_MAX ? n : MSG_MAX - 1] = 0;
        // The filter is installed and cannot be removed: continuing would
        // make every trapped call fail with ENOSYS.
        say("the mirrord session could not serve this process: ", buf + 1, 0);
        sys3(SYS_exit_group, EXIT_FAILED, 0, 0);
    }
    say("the mirrord session at ", path, " went away while this process joined it");
    sys3(SYS_exit_group, EXIT_FAILED, 0, 0);
    return;
lost:
    sys3(SYS_close, s, 0, 0);
    fail(onerr, "the mirrord session at ", path, " closed the connection while this process joined it");
}

__attribute__((constructor)) static void mirrord_bootstrap(void) {
    // Already supervised (this is a child of a supervised process, or the
    // program runs under mirrord exec): the supervisor answers the probe.
    if (sys3(PROBE_NR, 0, 0, 0) == PROBE_ANSWER) {
        // Yama's ptrace_scope=1 lets only ancestors, or a process named
        // here, read this process's memory; the supervisor is neither.
        // Harmless (EINVAL) without Yama.
        long sup = sys3(PROBE_NR, 1, 0, 0);
        if (sup > 0) sys6(SYS_prctl, PR_SET_PTRACER, sup, 0, 0, 0, 0);
        return;
    }
    // The environment this image started with; no libc to ask.
    char *blk = (char *)sys6(SYS_mmap, 0, ENV_MAX + MSG_MAX, 3 /* PROT_READ|WRITE */, 0x22 /* MAP_PRIVATE|ANONYMOUS */, -1, 0);
    if ((unsigned long)blk > (unsigned long)-4096) return;
    long n = 0;
    long fd = sys6(SYS_openat, -100 /* AT_FDCWD */, (long)"/proc/self/environ", 0x80000 /* O_RDONLY|O_CLOEXEC */, 0, 0, 0);
    if (fd >= 0) {
        long r;
        while (n < ENV_MAX - 1 && (r = sys3(SYS_read, fd, blk + n, ENV_MAX - 1 - n)) > 0) n += r;
        sys3(SYS_close, fd, 0, 0);
    }
    blk[n] = 0;
    const char *path = env(blk, n, "MIRRORD_LAYER_SOCKET");
    const char *onerr = env(blk, n, "MIRRORD_LAYER_ON_ERROR");
    if (fd < 0)
        say("cannot read /proc/self/environ, so this process cannot join its mirrord session", 0, 0);
    else if (path && *path)
        join(path, env(blk, n, "MIRRORD_LAYER_TOKEN") ?: "", onerr, blk + ENV_MAX);
    sys3(SYS_munmap, blk, ENV_MAX + MSG_MAX, 0);
}
