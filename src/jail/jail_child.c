/* SPDX-License-Identifier: MIT */
/*
 * hearth jail: the child, PID 2 of a new PID namespace (after a small init). It joins the network
 * namespace, makes new mount, IPC, UTS and cgroup namespaces, builds the
 * root (bind mounts of the granted files, a small /dev, /run, a /proc that
 * shows only processes), pivots into it, sets the limits, closes what it
 * inherited, becomes the unprivileged user and execs hearth.
 */
#include "core/util.h"
#include "jail/jail_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static int child_err_fd = -1;

/* Report one line to the parent and end the child. */
__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n > 0 && write(child_err_fd, msg, MIN((size_t)n, sizeof(msg) - 1)) < 0)
		_exit(1);
	_exit(1);
}

/* mkdir -p below the root (path is absolute, inside the jail). */
static void make_parents(const char *root, const char *inside)
{
	char path[PATH_MAX * 2];
	size_t rlen = strlen(root);
	struct stat st;

	snprintf(path, sizeof(path), "%s%s", root, inside);
	for (char *p = path + rlen + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 &&
		    (errno != EEXIST || lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)))
			fail("cannot create %s in the jail: %s", path + rlen,
			     errno == EEXIST ? "not a directory" : strerror(errno));
		*p = '/';
	}
}

/* Bind-mount one granted file over an empty file at its place in the root. */
static void bind_file(const char *root, const struct jail_file *f)
{
	unsigned long flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV;
	char dst[PATH_MAX * 2];
	struct stat st;
	int fd;

	make_parents(root, f->inside);
	snprintf(dst, sizeof(dst), "%s%s", root, f->inside);
	fd = open(dst, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		fail("cannot create %s in the jail: %s", f->inside,
		     fd < 0 ? strerror(errno) : "not a regular file");
	close(fd);
	if (mount(f->host, dst, NULL, MS_BIND, NULL) < 0)
		fail("cannot bind-mount %s: %s", f->host, strerror(errno));
	if (!f->writable)
		flags |= MS_RDONLY;
	if (!f->exec)
		flags |= MS_NOEXEC;
	if (mount(NULL, dst, NULL, flags, NULL) < 0)
		fail("cannot remount %s: %s", f->inside, strerror(errno));
}

/* A device node like the host's (same major and minor). */
static void make_node(const char *root, const char *host, const char *inside, mode_t mode,
		      uid_t uid, gid_t gid, bool required)
{
	char dst[PATH_MAX * 2];
	struct stat st;

	if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode)) {
		if (required)
			fail("%s: %s", host, errno ? strerror(errno) : "not a character device");
		return;
	}
	snprintf(dst, sizeof(dst), "%s%s", root, inside);
	if (mknod(dst, S_IFCHR | mode, st.st_rdev) < 0 || chown(dst, uid, gid) < 0 ||
	    chmod(dst, mode) < 0)
		fail("cannot create %s in the jail: %s", inside, strerror(errno));
}

static void build_root(const struct jail *j)
{
	const char *root = j->root;
	char path[PATH_MAX * 2];
	struct stat st;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		fail("cannot make the mounts private: %s", strerror(errno));
	if (mount(root, root, NULL, MS_BIND, NULL) < 0 ||
	    mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV, NULL) < 0)
		fail("cannot bind-mount %s: %s", root, strerror(errno));

	for (unsigned i = 0; i < j->nfiles; i++)
		bind_file(root, &j->files[i]);

	/* /dev: a small tmpfs with the four nodes hearth may use. */
	snprintf(path, sizeof(path), "%s/dev", root);
	if ((mkdir(path, 0755) < 0 && errno != EEXIST) ||
	    mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=64k,nr_inodes=16") <
		0)
		fail("cannot mount /dev in the jail: %s", strerror(errno));
	snprintf(path, sizeof(path), "%s/dev/net", root);
	if (mkdir(path, 0755) < 0)
		fail("cannot create /dev/net in the jail: %s", strerror(errno));
	make_node(root, "/dev/kvm", "/dev/kvm", 0600, j->uid, j->gid, true);
	make_node(root, "/dev/net/tun", "/dev/net/tun", 0600, j->uid, j->gid, false);
	make_node(root, "/dev/null", "/dev/null", 0666, 0, 0, true);
	make_node(root, "/dev/urandom", "/dev/urandom", 0666, 0, 0, true);
	snprintf(path, sizeof(path), "%s/dev", root);
	if (mount(NULL, path, NULL, MS_REMOUNT | MS_NOSUID | MS_NOEXEC | MS_RDONLY,
		  "mode=755,size=64k,nr_inodes=16") < 0)
		fail("cannot make /dev read-only in the jail: %s", strerror(errno));

	/* /run: the user's, for the API socket and serial files. */
	snprintf(path, sizeof(path), "%s/run", root);
	if ((mkdir(path, 0750) < 0 && errno != EEXIST) || lstat(path, &st) < 0 ||
	    !S_ISDIR(st.st_mode) || lchown(path, j->uid, j->gid) < 0 || chmod(path, 0750) < 0)
		fail("cannot prepare /run in the jail: %s",
		     errno ? strerror(errno) : "not a directory");

	/* /proc: process directories only (no /proc/sys, no kcore), of this PID namespace. */
	snprintf(path, sizeof(path), "%s/proc", root);
	if ((mkdir(path, 0555) < 0 && errno != EEXIST) ||
	    mount("proc", path, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid") < 0)
		fail("cannot mount /proc in the jail: %s", strerror(errno));

	/* pivot_root(".", ".") puts the old root on top of the new one; detach it. */
	if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root into %s: %s", root, strerror(errno));
	if (umount2(".", MNT_DETACH) < 0 || chroot(".") < 0 || chdir("/") < 0)
		fail("cannot detach the old root: %s", strerror(errno));
}

static void set_limits(const struct jail *j)
{
	struct rlimit fsize = {j->fsize, j->fsize}, nofile = {j->nofile, j->nofile};

	if (setrlimit(RLIMIT_FSIZE, &fsize) < 0)
		fail("--resource-limit fsize=%llu: %s", (unsigned long long)j->fsize,
		     strerror(errno));
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
		fail("--resource-limit no-file=%llu: %s", (unsigned long long)j->nofile,
		     strerror(errno));
}

static void drop_privileges(const struct jail *j)
{
	/* No capability survives, even through a later setuid program. */
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			fail("cannot drop capability %d: %s", cap, strerror(errno));
	if (setgroups(0, NULL) < 0 || setresgid(j->gid, j->gid, j->gid) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0)
		fail("cannot become uid %u gid %u: %s", (unsigned)j->uid, (unsigned)j->gid,
		     strerror(errno));
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
}

void jail_init(const struct jail *j, int parent_fd)
{
	struct pollfd pfd[2];
	ssize_t n;
	char c;

	if ((parent_fd > 0 && close_range(0, (unsigned)parent_fd - 1, 0) < 0) ||
	    close_range((unsigned)parent_fd + 1, ~0U, 0) < 0 || chdir("/") < 0)
		_exit(1);
	prctl(PR_SET_NAME, "hearth-init", 0, 0, 0);
	for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
	if (setgroups(0, NULL) < 0 || setresgid(j->gid, j->gid, j->gid) < 0 ||
	    setresuid(j->uid, j->uid, j->uid) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(1);
	/* The jailer writes one byte once hearth's process (PID 2 here) exists. */
	while ((n = read(parent_fd, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);
	pfd[0].fd = parent_fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = (int)syscall(SYS_pidfd_open, 2, 0);
	pfd[1].events = POLLIN;
	if (pfd[1].fd < 0)
		_exit(0);
	/*
	 * Exit, which ends every process of the namespace, when hearth is gone,
	 * or without --daemonize when the jailer is (its end of parent_fd closed).
	 */
	for (;;) {
		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			_exit(1);
		if (pfd[1].revents)
			_exit(0);
		if (pfd[0].revents) {
			if (!j->daemonize)
				_exit(0);
			pfd[0].fd = -1;
		}
	}
}

void jail_child(struct jail *j, int sync_fd, int err_fd, int netns_fd)
{
	static char *const empty_env[] = {NULL};
	sigset_t none;
	char go;

	child_err_fd = err_fd;
	/* The parent says go once this process sits in the jail's cgroup. */
	if (read(sync_fd, &go, 1) != 1)
		_exit(1);
	close(sync_fd);
	if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0)
		fail("cannot join the network namespace %s: %s", j->netns, strerror(errno));
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0)
		fail("cannot create mount, IPC, UTS and cgroup namespaces: %s", strerror(errno));
	if (sethostname(j->id, strlen(j->id)) < 0)
		fail("sethostname: %s", strerror(errno));
	build_root(j);
	set_limits(j);
	if (j->daemonize) {
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null < 0 || setsid() < 0 || dup2(null, STDIN_FILENO) < 0 ||
		    dup2(null, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0)
			fail("cannot daemonize: %s", strerror(errno));
	}
	/* Nothing inherited beyond standard I/O reaches hearth (err_fd included, at exec). */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		fail("close_range: %s", strerror(errno));
	/* Writes past RLIMIT_FSIZE fail with EFBIG rather than killing hearth. */
	signal(SIGXFSZ, SIG_IGN);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	drop_privileges(j);
	execve(j->argv[0], j->argv, empty_env);
	fail("cannot run %s in the jail: %s", j->argv[0], strerror(errno));
}
