/* SPDX-License-Identifier: MIT */
/*
 * The seccomp filters the kernel holds for each thread of a running hearth
 * (2 vCPUs, the event loop, the API server, a disk's I/O workers, on the
 * echo guest) are read back with PTRACE_SECCOMP_GET_FILTER and compared,
 * instruction for instruction, with the program libseccomp builds for that
 * kind of thread from the checked-in allow-list file alone (its names and
 * its argument checks, not hearth's table). Each thread must hold exactly
 * one filter.
 * Usage: seccomp_installed HEARTH ECHO_GUEST ALLOWLIST
 * Exit 0 on success, 1 on failure, 77 (skip) without /dev/kvm, without
 * root, or when the kernel refuses PTRACE_SECCOMP_GET_FILTER.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SKIP 77

struct named_value {
	const char *name;
	unsigned long value;
};

#define REQ(x)                                                                                     \
	{                                                                                          \
#x, (unsigned long)(x)                                                             \
	}
/* Every ioctl request the allow-list file may name. */
static const struct named_value requests[] = {
    REQ(KVM_RUN),
    REQ(KVM_KVMCLOCK_CTRL),
    REQ(KVM_GET_REGS),
    REQ(KVM_SET_REGS),
    REQ(KVM_GET_SREGS),
    REQ(KVM_SET_SREGS),
    REQ(KVM_IRQ_LINE),
    REQ(KVM_SIGNAL_MSI),
    REQ(KVM_SET_GSI_ROUTING),
    REQ(KVM_IRQFD),
    REQ(KVM_IOEVENTFD),
    REQ(KVM_CHECK_EXTENSION),
    REQ(KVM_SET_USER_MEMORY_REGION),
    REQ(KVM_GET_DIRTY_LOG),
    REQ(KVM_RESET_DIRTY_RINGS),
    REQ(KVM_GET_MP_STATE),
    REQ(KVM_SET_MP_STATE),
    REQ(KVM_GET_FPU),
    REQ(KVM_SET_FPU),
    REQ(KVM_GET_XSAVE),
    REQ(KVM_GET_XSAVE2),
    REQ(KVM_SET_XSAVE),
    REQ(KVM_GET_XCRS),
    REQ(KVM_SET_XCRS),
    REQ(KVM_GET_DEBUGREGS),
    REQ(KVM_SET_DEBUGREGS),
    REQ(KVM_GET_LAPIC),
    REQ(KVM_SET_LAPIC),
    REQ(KVM_GET_MSRS),
    REQ(KVM_SET_MSRS),
    REQ(KVM_GET_MSR_INDEX_LIST),
    REQ(KVM_GET_VCPU_EVENTS),
    REQ(KVM_SET_VCPU_EVENTS),
    REQ(KVM_GET_TSC_KHZ),
    REQ(KVM_SET_TSC_KHZ),
    REQ(KVM_GET_IRQCHIP),
    REQ(KVM_SET_IRQCHIP),
    REQ(KVM_GET_PIT2),
    REQ(KVM_SET_PIT2),
    REQ(KVM_GET_CLOCK),
    REQ(KVM_SET_CLOCK),
    REQ(TUNSETOFFLOAD),
    REQ(TCGETS),
    REQ(TCSETS),
    REQ(TCSETSW),
    REQ(TCSETSF),
    REQ(TIOCGWINSZ),
};

static int failures;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failures++;
}

/* What the running hearth's filters were built with. */
struct facts {
	pid_t pid;     /* tgkill's allowed target */
	int listen_fd; /* the API's listening socket, or -1 */
};

/* Adds name's rule with the argument check the file spells as check; false if unknown. */
static bool add_rule(scmp_filter_ctx ctx, const char *name, const char *check,
		     const struct facts *f)
{
	int nr = seccomp_syscall_resolve_name(name);
	int r = 0;

	if (nr == __NR_SCMP_ERROR) {
		fail("allow-list: unknown system call %s", name);
		return false;
	}
	if (!*check) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
	} else if (!strcmp(check, "never PROT_EXEC")) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	} else if (!strcmp(check, "only to hearth's own threads (its process id)")) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)f->pid));
	} else if (!strcmp(check, "only on a descriptor (AT_EMPTY_PATH): fstat()")) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
				     SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH, AT_EMPTY_PATH));
	} else if (!strcmp(check, "only AF_INET or AF_INET6, SOCK_STREAM")) {
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_A0(SCMP_CMP_EQ, AF_INET),
				     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
		if (!r)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2,
					     SCMP_A0(SCMP_CMP_EQ, AF_INET6),
					     SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, SOCK_STREAM));
	} else if (!strcmp(check, "only on the API's listening socket")) {
		if (f->listen_fd < 0) {
			fail("allow-list: %s: hearth has no listening API socket", name);
			return false;
		}
		r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
				     SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)f->listen_fd));
	} else if (!strncmp(check, "requests:", 9)) {
		char *list = strdup(check + 9), *save = NULL;

		for (char *t = strtok_r(list, " ", &save); t && !r;
		     t = strtok_r(NULL, " ", &save)) {
			size_t i = 0;

			while (i < sizeof(requests) / sizeof(requests[0]) &&
			       strcmp(requests[i].name, t))
				i++;
			if (i == sizeof(requests) / sizeof(requests[0])) {
				fail("allow-list: %s: unknown request %s", name, t);
				free(list);
				return false;
			}
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1,
					     SCMP_A1(SCMP_CMP_EQ, (scmp_datum_t)requests[i].value));
		}
		free(list);
	} else {
		fail("allow-list: %s: unknown argument check '%s'", name, check);
		return false;
	}
	if (r) {
		fail("libseccomp refused the rule for %s: %s", name, strerror(-r));
		return false;
	}
	return true;
}

/*
 * The program libseccomp builds for kind from the file: the [kind] section,
 * and in sanitizer builds [kind (sanitizer builds)] too. NULL on failure.
 */
static struct sock_filter *program_from_file(const char *path, const char *kind,
					     const struct facts *f, size_t *len)
{
	char line[4096], base[64], extra[96];
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	struct sock_filter *prog = NULL;
	FILE *in = fopen(path, "r"), *out = NULL;
	bool in_section = false, ok = true;
	size_t rules = 0;
	long size;

	if (!ctx || !in) {
		fail("%s: %s", path, strerror(errno));
		goto out;
	}
	snprintf(base, sizeof(base), "[%s]", kind);
	snprintf(extra, sizeof(extra), "[%s (sanitizer builds)]", kind);
	while (ok && fgets(line, sizeof(line), in)) {
		char *name = line, *check, *end;

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '[') {
#ifdef HEARTH_SANITIZERS
			in_section = !strcmp(line, base) || !strcmp(line, extra);
#else
			in_section = !strcmp(line, base);
#endif
			continue;
		}
		if (!in_section)
			continue;
		check = name + strcspn(name, " \t");
		if (*check)
			*check++ = '\0';
		check += strspn(check, " \t");
		end = check + strlen(check);
		while (end > check && isspace((unsigned char)end[-1]))
			*--end = '\0';
		ok = add_rule(ctx, name, check, f);
		rules++;
	}
	if (!ok)
		goto out;
	if (!rules) {
		fail("%s: no section [%s]", path, kind);
		goto out;
	}
	out = tmpfile();
	if (!out || seccomp_export_bpf(ctx, fileno(out)) || fseek(out, 0, SEEK_END) ||
	    (size = ftell(out)) <= 0 || size % (long)sizeof(*prog)) {
		fail("exporting the %s program failed", kind);
		goto out;
	}
	prog = malloc((size_t)size);
	rewind(out);
	if (!prog || fread(prog, 1, (size_t)size, out) != (size_t)size) {
		fail("reading back the %s program failed", kind);
		free(prog);
		prog = NULL;
		goto out;
	}
	*len = (size_t)size / sizeof(*prog);
out:
	if (out)
		fclose(out);
	if (in)
		fclose(in);
	if (ctx)
		seccomp_release(ctx);
	return prog;
}

/* ---- the running hearth ------------------------------------------------------ */

static char dir[] = "/tmp/hearth-seccomp-XXXXXX";
static pid_t hearth = -1;
static int to_guest = -1, from_guest = -1;

static void cleanup(void)
{
	char cmd[64];

	if (hearth > 0) {
		kill(hearth, SIGKILL);
		waitpid(hearth, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {
		/* left behind: nothing more to do */
	}
}

/* hearth on the echo guest, 2 vCPUs, an I/O-thread disk and the API socket. */
static bool start_hearth(const char *exe, const char *guest)
{
	char cfg[PATH_MAX + 32], sock[PATH_MAX + 32], err[PATH_MAX + 32], img[PATH_MAX + 32];
	int in[2], out[2];
	FILE *f;

	snprintf(cfg, sizeof(cfg), "%s/vm.json", dir);
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	snprintf(err, sizeof(err), "%s/err", dir);
	snprintf(img, sizeof(img), "%s/disk.img", dir);
	f = fopen(img, "w");
	if (!f || ftruncate(fileno(f), 1 << 20)) {
		fail("cannot make %s", img);
		return false;
	}
	fclose(f);
	f = fopen(cfg, "w");
	if (!f)
		return false;
	fprintf(f,
		"{\"boot-source\": {\"kernel_image_path\": \"%s\"},\n"
		" \"drives\": [{\"drive_id\": \"d0\", \"path_on_host\": \"%s\",\n"
		"              \"is_root_device\": false, \"io_engine\": \"Sync\"}],\n"
		" \"machine-config\": {\"vcpu_count\": 2, \"mem_size_mib\": 64}}\n",
		guest, img);
	fclose(f);
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
		return false;
	hearth = fork();
	if (hearth == 0) {
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(in[0], 0);
		dup2(out[1], 1);
		if (e >= 0)
			dup2(e, 2);
		execl(exe, exe, "run", "--serial", "stdio", "--config-file", cfg, "--api-sock",
		      sock, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	to_guest = in[1];
	from_guest = out[0];
	return hearth > 0;
}

/* Until the guest printed its prompt (30 s at most) or hearth's output ended. */
static bool wait_ready(void)
{
	char buf[4096] = "";
	size_t have = 0;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd p = {.fd = from_guest, .events = POLLIN};
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 30)
			break;
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = read(from_guest, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "echo ready"))
			return true;
		if (have == sizeof(buf) - 1)
			have = 0;
	}
	fail("the guest did not start; hearth's stderr is in %s/err", dir);
	return false;
}

/* The descriptor of hearth's listening socket bound to path, or -1. */
static int find_listen_fd(pid_t pid, const char *path)
{
	char line[PATH_MAX + 256], fdpath[64], target[64];
	unsigned long inode = 0;
	FILE *f = fopen("/proc/net/unix", "r");
	DIR *d;
	struct dirent *e;
	int fd = -1;

	while (f && fgets(line, sizeof(line), f)) {
		unsigned long ino, flags;
		char p[PATH_MAX];

		/* Num RefCount Protocol Flags Type St Inode Path; 0x10000 is __SO_ACCEPTCON. */
		if (sscanf(line, "%*s %*s %*s %lx %*s %*s %lu %4095s", &flags, &ino, p) == 3 &&
		    !strcmp(p, path) && (flags & 0x10000))
			inode = ino;
	}
	if (f)
		fclose(f);
	snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd", pid);
	d = opendir(fdpath);
	while (inode && d && (e = readdir(d))) {
		char link[PATH_MAX + 64];
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", fdpath, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (!strncmp(target, "socket:[", 8) && strtoul(target + 8, NULL, 10) == inode)
			fd = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return fd;
}

/* ---- reading a thread's filters ---------------------------------------------- */

/*
 * Filter index (0: the newest) of stopped thread tid into *prog; its length,
 * or -errno (ENOENT: no such filter).
 */
static long get_filter(pid_t tid, unsigned long index, struct sock_filter **prog)
{
	long n = ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)index, NULL);

	*prog = NULL;
	if (n < 0)
		return -errno;
	*prog = calloc((size_t)n, sizeof(**prog));
	if (!*prog)
		return -ENOMEM;
	if (ptrace(PTRACE_SECCOMP_GET_FILTER, tid, (void *)index, *prog) != n) {
		free(*prog);
		*prog = NULL;
		return -EIO;
	}
	return n;
}

/*
 * Whether tid is a kernel worker living in hearth's thread group (KVM's
 * kvm-nx-lpage-recovery): it runs no user code, so no filter applies.
 */
static bool kernel_worker(pid_t tid)
{
	char path[64], line[1024];
	unsigned long flags = 0;
	const char *p;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", hearth, tid);
	f = fopen(path, "r");
	if (!f)
		return false;
	if (fgets(line, sizeof(line), f) && (p = strrchr(line, ')')))
		sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %lu", &flags);
	fclose(f);
	/* PF_KTHREAD, PF_USER_WORKER */
	return flags & (0x00200000 | 0x00004000);
}

#define MAX_KINDS 16

/* A kind of thread: a section of the allow-list file. */
struct kind {
	char name[32];
	struct sock_filter *prog; /* built from the file on first use */
	size_t len;
	int threads;
};
static struct kind kinds[MAX_KINDS];
static int nkinds;

/* The kinds: the file's section names (not the sanitizer additions). */
static void read_kinds(const char *path)
{
	char line[4096];
	FILE *f = fopen(path, "r");

	while (f && fgets(line, sizeof(line), f) && nkinds < MAX_KINDS) {
		size_t n = strcspn(line, "]");

		if (line[0] != '[' || strstr(line, "(sanitizer builds)") || n < 2 ||
		    n - 1 >= sizeof(kinds[0].name))
			continue;
		memcpy(kinds[nkinds].name, line + 1, n - 1);
		kinds[nkinds++].name[n - 1] = '\0';
	}
	if (f)
		fclose(f);
}

static struct kind *kind_named(const char *name)
{
	for (int k = 0; k < nkinds; k++)
		if (!strcmp(kinds[k].name, name))
			return &kinds[k];
	return NULL;
}

/*
 * The kind of thread tid (named comm) of hearth: the main thread runs the
 * event loop (vmm), vcpuN a vCPU, any other thread the kind it is named
 * after; NULL when the file has no such section.
 */
static struct kind *kind_of(pid_t tid, const char *comm)
{
	unsigned int n;
	char rest;

	if (tid == hearth)
		return kind_named("vmm");
	if (sscanf(comm, "vcpu%u%c", &n, &rest) == 1)
		return kind_named("vcpu");
	return kind_named(comm);
}

/* The Seccomp field of thread tid's status (2: filtered), or -1. */
static int seccomp_mode(pid_t tid)
{
	char path[64], line[256];
	int mode = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", hearth, tid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	if (f)
		fclose(f);
	return mode;
}

/*
 * Until every thread of hearth but kernel workers shows Seccomp: 2 (10 s at
 * most): a disk's I/O worker installs its filter first thing, but on a busy
 * machine it may not have run yet when the guest is ready.
 */
static void wait_all_filtered(void)
{
	struct timespec start, now;
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task", hearth);
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		DIR *d = opendir(path);
		struct dirent *e;
		pid_t late = 0;

		while (d && (e = readdir(d)) && !late) {
			pid_t tid = (pid_t)atoi(e->d_name);

			if (tid > 0 && !kernel_worker(tid) && seccomp_mode(tid) != 2)
				late = tid;
		}
		if (d)
			closedir(d);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!late || now.tv_sec - start.tv_sec > 10)
			return;
		sched_yield();
	}
}

/*
 * Stops thread tid, reads its filters, compares the newest with want and
 * checks there is no other, lets it go. Returns false when the kernel
 * refuses to show filters at all (*refused set to its errno).
 */
static void check_thread(pid_t tid, const char *comm, const char *kind,
			 const struct sock_filter *want, size_t want_len, int *refused)
{
	struct sock_filter *got = NULL, *older = NULL;
	int status, sig = 0;
	long n, m;

	if (ptrace(PTRACE_SEIZE, tid, NULL, NULL) || ptrace(PTRACE_INTERRUPT, tid, NULL, NULL)) {
		fail("%s (%d): cannot attach: %s", comm, tid, strerror(errno));
		return;
	}
	if (waitpid(tid, &status, __WALL) != tid || !WIFSTOPPED(status)) {
		fail("%s (%d): did not stop", comm, tid);
		return;
	}
	/* A signal-delivery stop (a vCPU kick): deliver it on the way out. */
	if (status >> 16 != PTRACE_EVENT_STOP)
		sig = WSTOPSIG(status);
	n = get_filter(tid, 0, &got);
	m = get_filter(tid, 1, &older);
	ptrace(PTRACE_DETACH, tid, NULL, (void *)(long)sig);
	if (n == -EINVAL && seccomp_mode(tid) != 2) {
		fail("%s (%d): no filter (Seccomp: %d)", comm, tid, seccomp_mode(tid));
	} else if (n == -EINVAL || n == -EACCES || n == -EPERM || n == -EIO) {
		printf("    %s (%d): PTRACE_SECCOMP_GET_FILTER: %s\n", comm, tid,
		       strerror((int)-n));
		*refused = (int)-n;
	} else if (n < 0) {
		fail("%s (%d): no filter: %s", comm, tid, strerror((int)-n));
	} else if ((size_t)n != want_len || memcmp(got, want, want_len * sizeof(*want))) {
		size_t i = 0;

		while (i < (size_t)n && i < want_len && !memcmp(&got[i], &want[i], sizeof(*want)))
			i++;
		fail("%s (%d): the installed filter (%ld instructions) is not the %s program "
		     "built from the allow-list file (%zu instructions); first difference at "
		     "instruction %zu",
		     comm, tid, n, kind, want_len, i);
	} else {
		printf("    %-9s %-6d %-8s %ld instructions, the same as the file's\n", comm, tid,
		       kind, n);
	}
	if (m >= 0)
		fail("%s (%d): holds more than one filter (an inherited one too)", comm, tid);
	free(got);
	free(older);
}

int main(int argc, char **argv)
{
	char path[PATH_MAX + 32], sock[PATH_MAX + 32];
	int refused = 0, status;
	struct kind *vmm, *vcpu, *api, *blk;
	struct facts facts;
	struct dirent *e;
	DIR *d;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 4) {
		fprintf(stderr, "usage: %s HEARTH ECHO_GUEST ALLOWLIST\n", argv[0]);
		return 2;
	}
	if (access("/dev/kvm", R_OK | W_OK)) {
		printf("SKIP: /dev/kvm is missing or not accessible\n");
		return SKIP;
	}
	if (geteuid() != 0) {
		printf("SKIP: reading another process's seccomp filters needs root\n");
		return SKIP;
	}
	if (!mkdtemp(dir))
		return 1;
	atexit(cleanup);
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	if (!start_hearth(argv[1], argv[2]) || !wait_ready())
		return 1;
	facts.pid = hearth;
	facts.listen_fd = find_listen_fd(hearth, sock);
	read_kinds(argv[3]);
	vmm = kind_named("vmm");
	vcpu = kind_named("vcpu");
	api = kind_named("api");
	blk = kind_named("block-io");
	if (!vmm || !vcpu || !api || !blk) {
		fail("%s lacks a section for vmm, vcpu, api or block-io", argv[3]);
		return 1;
	}

	wait_all_filtered();
	snprintf(path, sizeof(path), "/proc/%d/task", hearth);
	d = opendir(path);
	while (d && (e = readdir(d)) && !refused) {
		char comm_path[PATH_MAX + 64], comm[32] = "";
		pid_t tid = (pid_t)atoi(e->d_name);
		struct kind *kind;
		FILE *f;

		if (tid <= 0)
			continue;
		snprintf(comm_path, sizeof(comm_path), "%s/%d/comm", path, tid);
		f = fopen(comm_path, "r");
		if (!f || !fgets(comm, sizeof(comm), f))
			fail("thread %d: no name", tid);
		if (f)
			fclose(f);
		comm[strcspn(comm, "\n")] = '\0';
		if (kernel_worker(tid)) {
			printf("    %-9s %-6d a kernel worker (no user code): not checked\n", comm,
			       tid);
			continue;
		}
		kind = kind_of(tid, comm);
		if (!kind) {
			fail("thread %d (%s): not a kind of thread the allow-list knows", tid,
			     comm);
			continue;
		}
		if (!kind->prog)
			kind->prog = program_from_file(argv[3], kind->name, &facts, &kind->len);
		if (!kind->prog)
			continue;
		kind->threads++;
		check_thread(tid, comm, kind->name, kind->prog, kind->len, &refused);
	}
	if (d)
		closedir(d);
	if (refused) {
		printf("SKIP: the kernel refuses PTRACE_SECCOMP_GET_FILTER: %s\n",
		       strerror(refused));
		return SKIP;
	}
	if (vmm->threads != 1 || vcpu->threads != 2 || api->threads != 1 || blk->threads < 1)
		fail("threads: %d event loop, %d vCPU, %d API, %d block-io; expected 1, 2, 1, "
		     "at least 1",
		     vmm->threads, vcpu->threads, api->threads, blk->threads);

	/* The guest and hearth still work after the stops: echo, then quit. */
	if (write(to_guest, "q", 1) != 1 || waitpid(hearth, &status, 0) != hearth)
		fail("cannot stop the guest");
	else if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail("hearth ended with status 0x%x after the read-back, expected exit 0", status);
	hearth = -1;
	for (int k = 0; k < nkinds; k++)
		free(kinds[k].prog);
	if (failures) {
		printf("%d failure(s)\n", failures);
		return 1;
	}
	printf("PASS\n");
	return 0;
}
