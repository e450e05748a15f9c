/* SPDX-License-Identifier: MIT */
/*
 * Per-thread seccomp-BPF filters. One table below says which system calls
 * each kind of thread may make, some with argument checks (ioctl requests,
 * no executable mappings, signals only to hearth's own threads).
 * sandbox_seccomp_init() compiles each kind's filter once with libseccomp into BPF;
 * sandbox_seccomp_apply() only loads that program on the calling thread, so that
 * hundreds of vCPU threads start quickly and no thread runs libseccomp
 * after it is filtered. src/sandbox/allowlist.txt lists the same sets.
 */
#include "sandbox/seccomp.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

/* System call numbers the SIGSYS handler can name (x86-64 has ~460). */
#define SECCOMP_MAX_NR 512

#define K_VCPU	(1u << SANDBOX_THREAD_VCPU)
#define K_VMM	(1u << SANDBOX_THREAD_VMM)
#define K_API	(1u << SANDBOX_THREAD_API)
#define K_BLOCK (1u << SANDBOX_THREAD_BLOCK_IO)
#define K_MIG	(1u << SANDBOX_THREAD_MIGRATION)
#define K_ALL	(K_VCPU | K_VMM | K_API | K_BLOCK | K_MIG)
/* Threads that run device code: a vCPU's exit, or the event loop. */
#define K_DEV (K_VCPU | K_VMM)

/* Argument checks a rule may carry. */
enum seccomp_arg {
	ARG_ANY,     /* any arguments */
	ARG_NO_EXEC, /* mmap/mprotect: never PROT_EXEC */
	ARG_IOCTL,   /* ioctl: only the thread kind's requests (tables below) */
	ARG_TGKILL,  /* tgkill: only hearth's own threads */
	ARG_FSTAT,   /* newfstatat: fstat() on a descriptor (AT_EMPTY_PATH) */
	ARG_LISTEN,  /* accept4: only on the API's listening socket */
	ARG_TCP,     /* socket: only AF_INET or AF_INET6 stream sockets */
};

struct seccomp_rule {
	const char *name;
	unsigned int kinds;
	enum seccomp_arg arg;
};

/*
 * The allow-lists. Device code runs on vCPU threads (port I/O and MMIO
 * exits: config writes, queue notifications without an ioeventfd) and on
 * the event loop (ioeventfd kicks, timers, tap and console input, disk
 * completions): both may move data through taps, disks, eventfds and
 * timers. The event loop also saves and restores state (snapshots) and
 * tears the VM down at exit.
 */
static const struct seccomp_rule rules[] = {
    /* memory and threads: malloc, glibc's locks, a thread's exit */
    {"brk", K_ALL, ARG_ANY},
    {"mmap", K_ALL, ARG_NO_EXEC},
    {"mprotect", K_ALL, ARG_NO_EXEC},
    {"munmap", K_ALL, ARG_ANY},
    {"mremap", K_ALL, ARG_ANY},
    {"madvise", K_ALL, ARG_ANY},
    {"futex", K_ALL, ARG_ANY},
    {"sched_yield", K_ALL, ARG_ANY},
    {"exit", K_ALL, ARG_ANY},
    {"exit_group", K_ALL, ARG_ANY},
    {"restart_syscall", K_ALL, ARG_ANY},
    {"getpid", K_ALL, ARG_ANY},
    {"gettid", K_ALL, ARG_ANY},
    /*
     * signals: the vCPU kick, pthread_sigmask; the handler of a fatal
     * signal (the console's) restores the terminal, puts the previous
     * action back and raises the signal again
     */
    {"rt_sigreturn", K_ALL, ARG_ANY},
    {"rt_sigprocmask", K_ALL, ARG_ANY},
    {"rt_sigaction", K_ALL, ARG_ANY},
    {"tgkill", K_ALL, ARG_TGKILL},
    /* time (the vDSO's fallbacks) */
    {"clock_gettime", K_ALL, ARG_ANY},
    {"gettimeofday", K_ALL, ARG_ANY},
    {"clock_nanosleep", K_ALL, ARG_ANY},
    {"nanosleep", K_ALL, ARG_ANY},
    /* logs, console output, eventfd signals */
    {"write", K_ALL, ARG_ANY},
    {"writev", K_ALL, ARG_ANY},
    {"close", K_DEV | K_API | K_MIG, ARG_ANY},
    /* KVM, taps, terminals: each kind's own requests */
    {"ioctl", K_ALL, ARG_IOCTL},
    /* device data: taps, eventfds, timers, the entropy device */
    {"read", K_DEV | K_API | K_MIG, ARG_ANY},
    {"readv", K_DEV, ARG_ANY},
    /* json-c's hash seed; the migration stream's TLS (its random values and keys) */
    {"getrandom", K_DEV | K_API | K_MIG, ARG_ANY},
    {"timerfd_settime", K_DEV, ARG_ANY},
    {"timerfd_gettime", K_DEV, ARG_ANY},
    {"epoll_ctl", K_DEV | K_API, ARG_ANY},
    {"fcntl", K_DEV | K_API | K_MIG, ARG_ANY},
    /* disk images (synchronous paths, the thread pool, io_uring) */
    {"pread64", K_DEV | K_BLOCK, ARG_ANY},
    {"pwrite64", K_DEV | K_BLOCK, ARG_ANY},
    {"preadv", K_DEV | K_BLOCK, ARG_ANY},
    {"pwritev", K_DEV | K_BLOCK, ARG_ANY},
    {"preadv2", K_DEV | K_BLOCK, ARG_ANY},
    {"pwritev2", K_DEV | K_BLOCK, ARG_ANY},
    {"fdatasync", K_DEV | K_BLOCK, ARG_ANY},
    {"fsync", K_DEV | K_BLOCK, ARG_ANY},
    {"fallocate", K_DEV | K_BLOCK, ARG_ANY},
    {"io_uring_enter", K_DEV, ARG_ANY},
    {"lseek", K_DEV | K_API, ARG_ANY},
    /* the event loop; console and API sockets */
    {"epoll_wait", K_VMM | K_API, ARG_ANY},
    {"epoll_pwait", K_VMM | K_API, ARG_ANY},
    /* vCPUs too: a device reset waits there for the disk's requests in flight */
    {"poll", K_DEV | K_API | K_MIG, ARG_ANY},
    {"ppoll", K_DEV | K_API | K_MIG, ARG_ANY},
    {"accept4", K_VMM, ARG_ANY},
    {"accept4", K_API, ARG_LISTEN},
    {"recvfrom", K_VMM | K_API, ARG_ANY},
    {"sendto", K_DEV | K_API, ARG_ANY},
    {"shutdown", K_VMM | K_API, ARG_ANY},
    {"setsockopt", K_API, ARG_ANY},
    {"sendmsg", K_API, ARG_ANY},
    {"recvmsg", K_API, ARG_ANY},
    {"getsockopt", K_API | K_MIG, ARG_ANY},
    /* live migration: its connection to the destination */
    {"socket", K_MIG, ARG_TCP},
    {"connect", K_MIG, ARG_ANY},
    {"setsockopt", K_MIG, ARG_ANY},
    {"recvfrom", K_MIG, ARG_ANY},
    {"sendto", K_MIG, ARG_ANY},
    {"readv", K_MIG, ARG_ANY},
    {"pread64", K_MIG, ARG_ANY}, /* /proc/self/pagemap: which pages were never touched */
    /* files: snapshots (event loop); the API's checks of host paths */
    {"openat", K_VMM | K_API, ARG_ANY},
    {"newfstatat", K_VMM | K_API, ARG_ANY},
    {"access", K_API, ARG_ANY},
    {"faccessat", K_API, ARG_ANY},
    {"faccessat2", K_API, ARG_ANY},
    {"newfstatat", K_VCPU | K_BLOCK, ARG_FSTAT},
    {"fstat", K_VMM | K_API, ARG_ANY},
    {"statx", K_VMM | K_API, ARG_ANY},
    {"ftruncate", K_VMM, ARG_ANY},
    {"unlink", K_VMM, ARG_ANY},
    {"rename", K_VMM, ARG_ANY},
    {"eventfd2", K_VMM, ARG_ANY},
#ifdef HEARTH_SANITIZERS
    /*
     * Sanitizer builds only: ASan/UBSan reports (symbolizing reads
     * /proc/self/maps) and LeakSanitizer's check at exit, which stops
     * the world from a helper thread with ptrace.
     */
    {"read", K_ALL, ARG_ANY},
    {"open", K_ALL, ARG_ANY},
    {"openat", K_ALL, ARG_ANY},
    {"getdents", K_ALL, ARG_ANY},
    {"close", K_ALL, ARG_ANY},
    {"readlink", K_ALL, ARG_ANY},
    {"newfstatat", K_ALL, ARG_ANY},
    {"getdents64", K_ALL, ARG_ANY},
    {"sigaltstack", K_ALL, ARG_ANY},
    {"prctl", K_ALL, ARG_ANY},
    {"sched_getaffinity", K_ALL, ARG_ANY},
    {"getppid", K_ALL, ARG_ANY},
    {"clone", K_VMM, ARG_ANY},
    {"ptrace", K_VMM, ARG_ANY},
    {"wait4", K_VMM, ARG_ANY},
    {"pipe2", K_VMM, ARG_ANY},
#endif
};

/* vCPU threads: running the vCPU, interrupts and eventfds its devices set up. */
static const unsigned long vcpu_ioctls[] = {
    KVM_RUN,
    KVM_KVMCLOCK_CTRL,	   /* running, parking (vm_pause) */
    KVM_RESET_DIRTY_RINGS, /* its dirty ring is full (vmm/dirty_ring.c) */
    KVM_GET_REGS,
    KVM_GET_SREGS, /* the register dump after a fatal exit */
    KVM_IRQ_LINE,
    KVM_SIGNAL_MSI,
    KVM_SET_GSI_ROUTING,
    KVM_IRQFD,
    KVM_IOEVENTFD,
    KVM_CHECK_EXTENSION,
    TUNSETOFFLOAD, /* a virtio-net driver's features */
    TCGETS,
    TCSETS, /* isatty(); the terminal restored on a fatal signal */
};

/*
 * Every other thread: isatty() (the log asks whether stderr is a
 * terminal); the terminal restored on a fatal signal.
 */
static const unsigned long tty_ioctls[] = {TCGETS, TCSETS};

/* The migration thread: dirty logging on and off, the dirty log; isatty(). */
static const unsigned long migration_ioctls[] = {
    KVM_SET_USER_MEMORY_REGION,
    KVM_GET_DIRTY_LOG,
    KVM_RESET_DIRTY_RINGS, /* where the VM has dirty rings */
    TCGETS,
    TCSETS,
};

/* The event loop: devices, vCPU and irqchip state (snapshots), the terminal at exit. */
static const unsigned long vmm_ioctls[] = {
    KVM_IRQ_LINE,
    KVM_SIGNAL_MSI,
    KVM_SET_GSI_ROUTING,
    KVM_IRQFD,
    KVM_IOEVENTFD,
    KVM_CHECK_EXTENSION,
    KVM_SET_USER_MEMORY_REGION,
    KVM_GET_DIRTY_LOG,	   /* diff snapshots (snapshot.c) */
    KVM_RESET_DIRTY_RINGS, /* the same with dirty rings */
    TUNSETOFFLOAD,
    /* vCPU state (vcpu_state.c), saved and restored while the vCPUs are parked */
    KVM_GET_MP_STATE,
    KVM_SET_MP_STATE,
    KVM_GET_REGS,
    KVM_SET_REGS,
    KVM_GET_SREGS,
    KVM_SET_SREGS,
    KVM_GET_FPU,
    KVM_SET_FPU,
    KVM_GET_XSAVE,
    KVM_GET_XSAVE2,
    KVM_SET_XSAVE,
    KVM_GET_XCRS,
    KVM_SET_XCRS,
    KVM_GET_DEBUGREGS,
    KVM_SET_DEBUGREGS,
    KVM_GET_LAPIC,
    KVM_SET_LAPIC,
    KVM_GET_MSRS,
    KVM_SET_MSRS,
    KVM_GET_MSR_INDEX_LIST,
    KVM_GET_VCPU_EVENTS,
    KVM_SET_VCPU_EVENTS,
    KVM_GET_TSC_KHZ,
    KVM_SET_TSC_KHZ,
    /* irqchip, PIT and kvmclock state (irqchip_state.c) */
    KVM_GET_IRQCHIP,
    KVM_SET_IRQCHIP,
    KVM_GET_PIT2,
    KVM_SET_PIT2,
    KVM_GET_CLOCK,
    KVM_SET_CLOCK,
    /* the terminal: isatty(), restoring it at exit */
    TCGETS,
    TCSETS,
    TCSETSW,
    TCSETSF,
    TIOCGWINSZ,
};

static const char *const kind_names[SANDBOX_THREAD_KINDS] = {
    [SANDBOX_THREAD_VCPU] = "vcpu",
    [SANDBOX_THREAD_VMM] = "vmm",
    [SANDBOX_THREAD_API] = "api",
    [SANDBOX_THREAD_BLOCK_IO] = "block-io",
    [SANDBOX_THREAD_MIGRATION] = "migration",
};

static enum sandbox_seccomp_mode seccomp_mode = SANDBOX_SECCOMP_OFF;
static bool seccomp_ready;
static pid_t seccomp_pid;
static int api_listen_fd = -1;
static struct sock_fprog seccomp_progs[SANDBOX_THREAD_KINDS];
static const char *syscall_names[SECCOMP_MAX_NR];
static void (*trap_hook)(void);
static volatile int trap_exit_status; /* non-zero: the SIGSYS handler exits with it */
static __thread char thread_label[16];
static __thread pid_t thread_tid;

int sandbox_seccomp_parse_mode(const char *s, enum sandbox_seccomp_mode *mode)
{
	if (!strcmp(s, "on"))
		*mode = SANDBOX_SECCOMP_ON;
	else if (!strcmp(s, "off"))
		*mode = SANDBOX_SECCOMP_OFF;
	else if (!strcmp(s, "log"))
		*mode = SANDBOX_SECCOMP_LOG;
	else
		return -EINVAL;
	return 0;
}

const char *sandbox_seccomp_thread_name(enum sandbox_thread kind)
{
	return kind < SANDBOX_THREAD_KINDS ? kind_names[kind] : "?";
}

bool sandbox_seccomp_enabled(void)
{
	return seccomp_ready;
}

/* ---- building the filters --------------------------------------------------- */

static int add_ioctls(scmp_filter_ctx ctx, int nr, const unsigned long *reqs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					 SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)reqs[i]));
		if (r)
			return r;
	}
	return 0;
}

static int add_rule(scmp_filter_ctx ctx, enum sandbox_thread kind, pid_t pid,
		    const struct seccomp_rule *rule)
{
	int nr = seccomp_syscall_resolve_name(rule->name);

	if (nr == __NR_SCMP_ERROR)
		return -ENOENT;
	switch (rule->arg) {
	case ARG_ANY:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	case ARG_NO_EXEC:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	case ARG_IOCTL:
		if (kind == SANDBOX_THREAD_VCPU)
			return add_ioctls(ctx, nr, vcpu_ioctls, ARRAY_SIZE(vcpu_ioctls));
		if (kind == SANDBOX_THREAD_VMM)
			return add_ioctls(ctx, nr, vmm_ioctls, ARRAY_SIZE(vmm_ioctls));
		if (kind == SANDBOX_THREAD_MIGRATION)
			return add_ioctls(ctx, nr, migration_ioctls, ARRAY_SIZE(migration_ioctls));
		return add_ioctls(ctx, nr, tty_ioctls, ARRAY_SIZE(tty_ioctls));
	case ARG_FSTAT:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	case ARG_TGKILL:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)pid));
	case ARG_LISTEN:
		return seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)api_listen_fd));
	case ARG_TCP:
		/* The type's low bits; SOCK_CLOEXEC and SOCK_NONBLOCK may be added. */
		for (int i = 0, r; i < 2; i++) {
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2,
					     SCMP_A0(SCMP_CMP_EQ, i ? AF_INET6 : AF_INET),
					     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
			if (r)
				return r;
		}
		return 0;
	}
	return -EINVAL;
}

/* A libseccomp context holding kind's filter; NULL on failure (*err set). */
static scmp_filter_ctx build_filter(enum sandbox_thread kind, enum sandbox_seccomp_mode mode,
				    pid_t pid, int *err)
{
	scmp_filter_ctx ctx =
	    seccomp_init(mode == SANDBOX_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP);

	if (!ctx) {
		*err = -ENOMEM;
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		int r;

		if (!(rules[i].kinds & (1u << kind)))
			continue;
		r = add_rule(ctx, kind, pid, &rules[i]);
		if (r) {
			log_error("seccomp: %s filter: rule for %s: %s", kind_names[kind],
				  rules[i].name, strerror(-r));
			seccomp_release(ctx);
			*err = r;
			return NULL;
		}
	}
	return ctx;
}

/* Compile ctx into a BPF program (libseccomp 2.5 exports only to a file descriptor). */
static int export_bpf(scmp_filter_ctx ctx, struct sock_fprog *prog)
{
	int fd = memfd_create("hearth-seccomp", MFD_CLOEXEC);
	struct stat st;
	void *buf = NULL;
	int r;

	if (fd < 0)
		return -errno;
	r = seccomp_export_bpf(ctx, fd);
	if (r)
		goto out_close;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 ||
	    st.st_size % (off_t)sizeof(struct sock_filter) != 0 ||
	    st.st_size / (off_t)sizeof(struct sock_filter) > BPF_MAXINSNS) {
		r = -EINVAL;
		goto out_close;
	}
	buf = malloc((size_t)st.st_size);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		free(buf);
		r = -EIO;
		goto out_close;
	}
	prog->filter = buf;
	prog->len = (unsigned short)(st.st_size / (off_t)sizeof(struct sock_filter));
out_close:
	close(fd);
	return r;
}

int sandbox_seccomp_export_pfc(enum sandbox_thread kind, enum sandbox_seccomp_mode mode, int fd)
{
	scmp_filter_ctx ctx;
	int r = 0;

	if (kind >= SANDBOX_THREAD_KINDS)
		return -EINVAL;
	ctx = build_filter(kind, mode, getpid(), &r);
	if (!ctx)
		return r;
	r = seccomp_export_pfc(ctx, fd);
	seccomp_release(ctx);
	return r;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int sandbox_seccomp_allowed_names(enum sandbox_thread kind, const char **names, size_t max)
{
	size_t n = 0, out = 0;

	if (kind >= SANDBOX_THREAD_KINDS)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		if (!(rules[i].kinds & (1u << kind)))
			continue;
		if (n == max)
			return -E2BIG;
		names[n++] = rules[i].name;
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++)
		if (out == 0 || strcmp(names[out - 1], names[i]))
			names[out++] = names[i];
	return (int)out;
}

/* ---- the trap ---------------------------------------------------------------- */

static size_t put_str(char *buf, size_t pos, size_t size, const char *s)
{
	while (*s && pos + 1 < size)
		buf[pos++] = *s++;
	return pos;
}

static size_t put_uint(char *buf, size_t pos, size_t size, unsigned long v)
{
	char digits[24];
	size_t n = 0;

	do {
		digits[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v && n < sizeof(digits));
	while (n && pos + 1 < size)
		buf[pos++] = digits[--n];
	return pos;
}

static size_t put_hex(char *buf, size_t pos, size_t size, unsigned long v)
{
	char digits[24];
	size_t n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v && n < sizeof(digits));
	while (n && pos + 1 < size)
		buf[pos++] = digits[--n];
	return pos;
}

/*
 * SIGSYS from a filter (async-signal-safe: one write(2), then tgkill). The
 * handler is installed with SA_RESETHAND: SIGSYS is back to its default
 * action, and the SIGSYS re-raised here (blocked while the handler runs)
 * ends hearth as soon as it returns.
 */
static void sigsys_handler(int sig, siginfo_t *si, void *ucontext)
{
	char line[192];
	size_t n = 0;
	int nr = si->si_syscall;
	int saved = errno;

	const ucontext_t *uc = ucontext;
	n = put_str(line, n, sizeof(line), "hearth: seccomp: thread ");
	n = put_str(line, n, sizeof(line), thread_label[0] ? thread_label : "?");
	n = put_str(line, n, sizeof(line), " made a forbidden system call ");
	n = put_uint(line, n, sizeof(line), (unsigned long)(unsigned int)nr);
	n = put_str(line, n, sizeof(line), " (");
	n = put_str(line, n, sizeof(line),
		    nr >= 0 && nr < SECCOMP_MAX_NR && syscall_names[nr] ? syscall_names[nr] : "?");
	n = put_str(line, n, sizeof(line), ")");
	if (nr == __NR_ioctl && uc) {
		/* Which request: the second argument. */
		n = put_str(line, n, sizeof(line), " request 0x");
		n = put_hex(line, n, sizeof(line), (unsigned long)uc->uc_mcontext.gregs[REG_RSI]);
	}
	n = put_str(line, n, sizeof(line), ": stopping\n");
	if (write(STDERR_FILENO, line, n) < 0) {
		/* nothing more to say */
	}
	if (trap_hook)
		trap_hook();
	if (trap_exit_status)
		syscall(SYS_exit_group, trap_exit_status);
	syscall(SYS_tgkill, seccomp_pid, thread_tid ? thread_tid : seccomp_pid, sig);
	errno = saved;
}

/* ---- set-up and installation ------------------------------------------------- */

int sandbox_seccomp_init(enum sandbox_seccomp_mode mode, char *err, size_t errlen)
{
	struct sigaction sa;
	int r = 0;

	seccomp_mode = mode;
	if (mode == SANDBOX_SECCOMP_OFF || seccomp_ready)
		return 0;
	seccomp_pid = getpid();
	for (int kind = 0; kind < SANDBOX_THREAD_KINDS; kind++) {
		scmp_filter_ctx ctx =
		    build_filter((enum sandbox_thread)kind, mode, seccomp_pid, &r);

		if (ctx) {
			r = export_bpf(ctx, &seccomp_progs[kind]);
			seccomp_release(ctx);
		}
		if (r) {
			snprintf(err, errlen, "seccomp: cannot build the %s filter: %s",
				 kind_names[kind], strerror(-r));
			return r;
		}
	}
	/* Resolved now: the handler cannot call into libseccomp. */
	for (int nr = 0; nr < SECCOMP_MAX_NR; nr++)
		syscall_names[nr] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigsys_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		r = -errno;
		snprintf(err, errlen, "seccomp: cannot handle SIGSYS: %s", strerror(errno));
		return r;
	}
	seccomp_ready = true;
	return 0;
}

int sandbox_seccomp_set_api_socket(int fd)
{
	struct sock_fprog prog;
	scmp_filter_ctx ctx;
	int r = 0;

	api_listen_fd = fd;
	if (!seccomp_ready)
		return 0;
	ctx = build_filter(SANDBOX_THREAD_API, seccomp_mode, seccomp_pid, &r);
	if (!ctx)
		return r;
	r = export_bpf(ctx, &prog);
	seccomp_release(ctx);
	if (r)
		return r;
	free(seccomp_progs[SANDBOX_THREAD_API].filter);
	seccomp_progs[SANDBOX_THREAD_API] = prog;
	return 0;
}

void sandbox_seccomp_set_trap_hook(void (*fn)(void))
{
	trap_hook = fn;
}

void sandbox_seccomp_set_trap_exit(int status)
{
	trap_exit_status = status;
}

int sandbox_seccomp_apply(enum sandbox_thread kind, const char *name)
{
	static const char *test_trap;
	static bool test_trap_read;
	sigset_t sys;

	if (!seccomp_ready || seccomp_mode == SANDBOX_SECCOMP_OFF)
		return 0;
	if (kind >= SANDBOX_THREAD_KINDS)
		return -EINVAL;
	snprintf(thread_label, sizeof(thread_label), "%s", name ? name : kind_names[kind]);
	thread_tid = (pid_t)syscall(SYS_gettid);
	if (!test_trap_read) {
		/* Racy but benign: every thread reads the same environment. */
		test_trap = getenv("HEARTH_TEST_SECCOMP_TRAP");
		test_trap_read = true;
	}
	/* A blocked SIGSYS would kill without the handler's line. */
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &seccomp_progs[kind]) < 0)
		return -errno;
	/*
	 * Tests only: HEARTH_TEST_SECCOMP_TRAP=KIND makes the first thread of
	 * that kind make a call no list allows, right after its filter is in.
	 */
	if (test_trap && !strcmp(test_trap, kind_names[kind])) {
		test_trap = NULL;
		syscall(SYS_getpgrp);
	}
	return 0;
}
