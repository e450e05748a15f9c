/* SPDX-License-Identifier: MIT */
/*
 * The seccomp filters: the checked-in allow-list file (argv[1]) lists what
 * the table allows, the compiled filters allow exactly that, and filters
 * installed in forked children trap what they must (the test process
 * itself is never filtered).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/util.h"
#include "sandbox/seccomp.h"

#include <errno.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_NAMES 256

static const char *allowlist_path;

struct name_set {
	char *names[MAX_NAMES];
	size_t n;
};

static void set_add(struct name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return;
	assert_true(s->n < MAX_NAMES);
	s->names[s->n] = strdup(name);
	assert_non_null(s->names[s->n]);
	s->n++;
}

static bool set_has(const struct name_set *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (!strcmp(s->names[i], name))
			return true;
	return false;
}

static void set_free(struct name_set *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	s->n = 0;
}

/* The table's names for kind, as a set. */
static void table_set(enum sandbox_thread kind, struct name_set *s)
{
	const char *names[MAX_NAMES];
	int n = sandbox_seccomp_allowed_names(kind, names, MAX_NAMES);

	assert_true(n > 0);
	for (int i = 0; i < n; i++)
		set_add(s, names[i]);
}

/* Each set has every name of the other; prints what differs. */
static void assert_same(const struct name_set *a, const char *an, const struct name_set *b,
			const char *bn, const char *kind)
{
	bool same = true;

	for (size_t i = 0; i < a->n; i++)
		if (!set_has(b, a->names[i])) {
			printf("%s: %s allows %s, %s does not\n", kind, an, a->names[i], bn);
			same = false;
		}
	for (size_t i = 0; i < b->n; i++)
		if (!set_has(a, b->names[i])) {
			printf("%s: %s allows %s, %s does not\n", kind, bn, b->names[i], an);
			same = false;
		}
	assert_true(same);
}

/* The file's names for kind: its [kind] section, and in sanitizer builds its sanitizer one. */
static void file_set(enum sandbox_thread kind, struct name_set *s)
{
	char line[2048], base[64], extra[64];
	bool in = false;
	FILE *f = fopen(allowlist_path, "r");

	assert_non_null(f);
	snprintf(base, sizeof(base), "[%s]", sandbox_seccomp_thread_name(kind));
	snprintf(extra, sizeof(extra), "[%s (sanitizer builds)]",
		 sandbox_seccomp_thread_name(kind));
	while (fgets(line, sizeof(line), f)) {
		char name[64];

		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '[') {
#ifdef HEARTH_SANITIZERS
			in = !strcmp(line, base) || !strcmp(line, extra);
#else
			in = !strcmp(line, base);
#endif
			continue;
		}
		if (in && sscanf(line, "%63s", name) == 1)
			set_add(s, name);
	}
	fclose(f);
}

static void test_allowlist_file_matches_table(void **state)
{
	(void)state;
	for (int k = 0; k < SANDBOX_THREAD_KINDS; k++) {
		struct name_set file = {0}, table = {0};

		file_set((enum sandbox_thread)k, &file);
		table_set((enum sandbox_thread)k, &table);
		assert_same(&file, "src/sandbox/allowlist.txt", &table, "seccomp.c",
			    sandbox_seccomp_thread_name((enum sandbox_thread)k));
		set_free(&file);
		set_free(&table);
	}
}

/* Names of the calls the compiled filter has rules for, from libseccomp's PFC. */
static void pfc_set(enum sandbox_thread kind, enum sandbox_seccomp_mode mode, struct name_set *s,
		    char *default_action, size_t dalen)
{
	char line[2048];
	bool next_is_default = false;
	FILE *f = tmpfile();

	assert_non_null(f);
	assert_int_equal(sandbox_seccomp_export_pfc(kind, mode, fileno(f)), 0);
	rewind(f);
	default_action[0] = '\0';
	while (fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, "# filter for syscall \"");
		char name[64];

		if (p && sscanf(p + strlen("# filter for syscall \""), "%63[^\"]", name) == 1)
			set_add(s, name);
		if (next_is_default)
			snprintf(default_action, dalen, "%s", line);
		next_is_default = strstr(line, "# default action") != NULL;
	}
	fclose(f);
}

static void test_compiled_filters_match_table(void **state)
{
	(void)state;
	for (int k = 0; k < SANDBOX_THREAD_KINDS; k++) {
		struct name_set pfc = {0}, table = {0};
		char def[2048];

		pfc_set((enum sandbox_thread)k, SANDBOX_SECCOMP_ON, &pfc, def, sizeof(def));
		table_set((enum sandbox_thread)k, &table);
		assert_same(&pfc, "the compiled filter", &table, "seccomp.c",
			    sandbox_seccomp_thread_name((enum sandbox_thread)k));
		assert_non_null(strstr(def, "TRAP"));
		set_free(&pfc);
		pfc_set((enum sandbox_thread)k, SANDBOX_SECCOMP_LOG, &pfc, def, sizeof(def));
		assert_non_null(strstr(def, "LOG"));
		set_free(&pfc);
		set_free(&table);
	}
}

static void test_lists_are_minimal(void **state)
{
	/* No thread creates processes or sockets; vCPUs and I/O workers open nothing. */
	struct name_set vcpu = {0}, api = {0}, blk = {0};

	(void)state;
	table_set(SANDBOX_THREAD_VCPU, &vcpu);
	table_set(SANDBOX_THREAD_API, &api);
	table_set(SANDBOX_THREAD_BLOCK_IO, &blk);
	static const char *const never[] = {"execve",  "fork",	 "vfork", "socket",
					    "connect", "clone3", "bind"};

	for (size_t i = 0; i < ARRAY_SIZE(never); i++) {
		assert_false(set_has(&vcpu, never[i]));
		assert_false(set_has(&blk, never[i]));
		assert_false(set_has(&api, never[i]));
	}
#ifndef HEARTH_SANITIZERS
	assert_false(set_has(&vcpu, "openat"));
	assert_false(set_has(&blk, "openat"));
	assert_false(set_has(&vcpu, "ptrace"));
#endif
	set_free(&vcpu);
	set_free(&api);
	set_free(&blk);
}

/* What a terminal restore would do: a write after the trap's line. */
static void trap_hook(void)
{
	if (write(STDERR_FILENO, "hook ran\n", 9) != 9)
		_exit(106);
}

/*
 * In a forked child: install kind's filter, run fn; returns the child's
 * wait status and its stderr (the trap's line) in out.
 */
static int run_filtered(enum sandbox_thread kind, const char *name, void (*fn)(void), char *out,
			size_t outlen)
{
	int pfd[2], status;
	ssize_t got;
	size_t len = 0;
	pid_t pid;

	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];

		dup2(pfd[1], STDERR_FILENO);
		close(pfd[0]);
		sandbox_seccomp_set_trap_hook(trap_hook);
		if (sandbox_seccomp_init(SANDBOX_SECCOMP_ON, err, sizeof(err)) ||
		    sandbox_seccomp_apply(kind, name))
			_exit(100);
		fn();
		_exit(0);
	}
	close(pfd[1]);
	while (len + 1 < outlen && (got = read(pfd[0], out + len, outlen - 1 - len)) > 0)
		len += (size_t)got;
	out[len] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/*
 * Run fn under kind's filter in a child: it must die by SIGSYS, the trap's
 * line on its stderr holding text.
 */
static void expect_trap(enum sandbox_thread kind, const char *name, void (*fn)(void),
			const char *text)
{
	char out[512];
	int status = run_filtered(kind, name, fn, out, sizeof(out));

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
	assert_non_null(strstr(out, text));
}

static void allowed_calls(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED || munmap(p, 4096) || write(STDERR_FILENO, "ok\n", 3) != 3)
		_exit(101);
	/* A listed ioctl passes the filter (and fails on the bad descriptor). */
	if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF)
		_exit(102);
}

static void exec_mapping(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	_exit(103); /* not reached: the filter traps it */
}

static void unlisted_ioctl(void)
{
	ioctl(-1, KVM_CREATE_VM, 0);
	_exit(104);
}

static void open_file(void)
{
	syscall(SYS_openat, -100, "/etc/hostname", 0);
	_exit(105);
}

static void test_installed_filter_allows_and_traps(void **state)
{
	char out[512];
	int status;

	(void)state;
	status = run_filtered(SANDBOX_THREAD_VCPU, "vcpu0", allowed_calls, out, sizeof(out));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(out, "ok\n");

	expect_trap(SANDBOX_THREAD_VCPU, "vcpu3", exec_mapping,
		    "thread vcpu3 made a forbidden system call 9 (mmap): stopping\n"
		    "hook ran\n");

	expect_trap(SANDBOX_THREAD_VCPU, "vcpu1", unlisted_ioctl,
		    "thread vcpu1 made a forbidden system call 16 (ioctl)");

#ifndef HEARTH_SANITIZERS
	expect_trap(SANDBOX_THREAD_BLOCK_IO, "block-io", open_file,
		    "thread block-io made a forbidden system call 257 (openat)");
#else
	(void)open_file;
#endif
}

/* A virtio-blk reset on a vCPU thread (the guest's status write) polls for the disk. */
static void vcpu_polls(void)
{
	struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};

	if (poll(&p, 1, 0) < 0 || ppoll(&p, 1, &(struct timespec){0, 0}, NULL) < 0)
		_exit(106);
}

static void test_vcpu_may_wait_for_disk(void **state)
{
	char out[512];
	int status;

	(void)state;
	status = run_filtered(SANDBOX_THREAD_VCPU, "vcpu0", vcpu_polls, out, sizeof(out));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(out, "");
}

/* Two non-blocking listening UNIX sockets: the API's (fds[0]) and another. */
static int api_fds[2] = {-1, -1};

static void accept_on_api_socket(void)
{
	/* Allowed, and nobody is connecting: EAGAIN. */
	if (accept4(api_fds[0], NULL, NULL, SOCK_CLOEXEC) != -1 || errno != EAGAIN)
		_exit(107);
}

static void accept_on_other_socket(void)
{
	accept4(api_fds[1], NULL, NULL, SOCK_CLOEXEC);
	_exit(108);
}

static void test_api_accepts_only_on_its_socket(void **state)
{
	char out[512];
	int status;

	(void)state;
	for (int i = 0; i < 2; i++) {
		api_fds[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		assert_true(api_fds[i] >= 0);
		/* An abstract address: nothing to clean up. */
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		int len = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "hearth-test-%d-%d",
				   getpid(), i);
		assert_int_equal(
		    bind(api_fds[i], (struct sockaddr *)&a,
			 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len)),
		    0);
		assert_int_equal(listen(api_fds[i], 1), 0);
	}
	/* Set before the children's sandbox_seccomp_init() builds the filters. */
	assert_int_equal(sandbox_seccomp_set_api_socket(api_fds[0]), 0);
	status = run_filtered(SANDBOX_THREAD_API, "api", accept_on_api_socket, out, sizeof(out));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect_trap(SANDBOX_THREAD_API, "api", accept_on_other_socket,
		    "thread api made a forbidden system call 288 (accept4)");
	/* The event loop's accept4 (console sockets) is not limited. */
	status = run_filtered(SANDBOX_THREAD_VMM, "vmm", accept_on_other_socket, out, sizeof(out));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 108);
	sandbox_seccomp_set_api_socket(-1);
	close(api_fds[0]);
	close(api_fds[1]);
}

/* The migration thread's own connection: TCP over IPv4 or IPv6. */
static void tcp_sockets(void)
{
	int a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int b = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* The filter let them through (an IPv6-less host answers EAFNOSUPPORT). */
	if (a < 0 || (b < 0 && errno != EAFNOSUPPORT))
		_exit(109);
}

static void unix_socket(void)
{
	socket(AF_UNIX, SOCK_STREAM, 0);
	_exit(110);
}

static void udp_socket(void)
{
	socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	_exit(111);
}

static void test_migration_makes_only_tcp_sockets(void **state)
{
	char out[512];
	int status;

	(void)state;
	status = run_filtered(SANDBOX_THREAD_MIGRATION, "migration", tcp_sockets, out, sizeof(out));
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	expect_trap(SANDBOX_THREAD_MIGRATION, "migration", unix_socket,
		    "thread migration made a forbidden system call 41 (socket)");
	expect_trap(SANDBOX_THREAD_MIGRATION, "migration", udp_socket,
		    "thread migration made a forbidden system call 41 (socket)");
}

static void test_parse_mode(void **state)
{
	enum sandbox_seccomp_mode m = SANDBOX_SECCOMP_OFF;

	(void)state;
	assert_int_equal(sandbox_seccomp_parse_mode("on", &m), 0);
	assert_int_equal(m, SANDBOX_SECCOMP_ON);
	assert_int_equal(sandbox_seccomp_parse_mode("log", &m), 0);
	assert_int_equal(m, SANDBOX_SECCOMP_LOG);
	assert_int_equal(sandbox_seccomp_parse_mode("off", &m), 0);
	assert_int_equal(m, SANDBOX_SECCOMP_OFF);
	assert_int_equal(sandbox_seccomp_parse_mode("yes", &m), -EINVAL);
	/* Without sandbox_seccomp_init(), applying installs nothing. */
	assert_false(sandbox_seccomp_enabled());
	assert_int_equal(sandbox_seccomp_apply(SANDBOX_THREAD_VCPU, "vcpu0"), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_mode),
	    cmocka_unit_test(test_allowlist_file_matches_table),
	    cmocka_unit_test(test_compiled_filters_match_table),
	    cmocka_unit_test(test_lists_are_minimal),
	    cmocka_unit_test(test_installed_filter_allows_and_traps),
	    cmocka_unit_test(test_vcpu_may_wait_for_disk),
	    cmocka_unit_test(test_api_accepts_only_on_its_socket),
	    cmocka_unit_test(test_migration_makes_only_tcp_sockets),
	};

	if (argc < 2) {
		fprintf(stderr, "usage: %s ALLOWLIST_FILE\n", argv[0]);
		return 2;
	}
	allowlist_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
