/* SPDX-License-Identifier: MIT */
/* hearth jail: the command line, the files a VM is granted, and the parent. */
#include "jail/jail.h"
#include "core/util.h"
#include "jail/jail_priv.h"
#include "vmm/config.h"
#include "vmm/console.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

#define EXIT_USAGE 2
#define EXIT_HOST  1

static void jail_usage(void)
{
	printf("Usage: hearth jail --id ID --exec-file PATH --uid UID --gid GID [options]\n"
	       "                  -- run [hearth run options]\n"
	       "\n"
	       "Start as root; runs `hearth run` as UID:GID inside\n"
	       "CHROOT_BASE/EXEC_NAME/ID/root, in new mount, PID, IPC, UTS and cgroup\n"
	       "namespaces, in a cgroup named ID, with no inherited file descriptors, an\n"
	       "empty environment and no_new_privs.\n"
	       "\n"
	       "Options:\n"
	       "  --id ID                 1-%d characters of A-Z a-z 0-9 -; also the VM's id\n"
	       "  --exec-file PATH        the hearth binary to run (bind-mounted read-only as\n"
	       "                          /EXEC_NAME, with the shared libraries it loads)\n"
	       "  --uid UID, --gid GID    the unprivileged user and group (not 0)\n"
	       "  --chroot-base-dir DIR   where jails are built (default %s)\n"
	       "  --netns PATH            join this network namespace (e.g. /run/netns/NAME)\n"
	       "  --cgroup FILE=VALUE     write VALUE to FILE of the jail's cgroup, e.g.\n"
	       "                          memory.max=256M (v2) or pids.max=64 (repeatable)\n"
	       "  --cgroup-version 1|2    cgroup hierarchy (default: 2 when it has every\n"
	       "                          controller the --cgroup options name, else 1)\n"
	       "  --parent-cgroup PATH    the group ID is made in PATH, relative to the\n"
	       "                          hierarchy's root (default: the jailer's own\n"
	       "                          group / EXEC_NAME)\n"
	       "  --resource-limit NAME=VALUE\n"
	       "                          fsize (bytes; default: above the largest disk,\n"
	       "                          file in the root and guest memory) or no-file\n"
	       "                          (default %d) (repeatable)\n"
	       "  --daemonize             detach: new session, standard I/O on /dev/null;\n"
	       "                          the jailer exits once hearth is started\n"
	       "  --new-pid-ns            accepted; a new PID namespace is always made\n"
	       "  -h, --help              this help\n"
	       "\n"
	       "After \"--\": `run` and its options. --kernel, --initrd and --disk path= name\n"
	       "host files: each is bind-mounted into the root under its own name and the\n"
	       "option is rewritten. Other paths (--api-sock, --serial file:, --config-file)\n"
	       "are paths inside the jail: /run belongs to UID:GID.\n"
	       "The child's host PID is written to CHROOT_BASE/EXEC_NAME/ID/EXEC_NAME.pid.\n",
	       JAIL_ID_MAX, JAIL_DEFAULT_BASE, JAIL_DEFAULT_NOFILE);
}

int jail_error(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("hearth jail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

bool jail_valid_id(const char *id)
{
	size_t n = strlen(id);

	if (n == 0 || n > JAIL_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-'))
			return false;
	}
	return true;
}

/* Whether uid:gid (no supplementary groups) may read, or read and write, st's file. */
static bool jail_may_access(const struct jail *j, const struct stat *st, bool write)
{
	mode_t r, w;

	if (st->st_uid == j->uid) {
		r = S_IRUSR;
		w = S_IWUSR;
	} else if (st->st_gid == j->gid) {
		r = S_IRGRP;
		w = S_IWGRP;
	} else {
		r = S_IROTH;
		w = S_IWOTH;
	}
	return (st->st_mode & r) && (!write || (st->st_mode & w));
}

/* First component of an absolute path inside the jail ("/a/b" -> "a"), into buf. */
static void top_name(const char *inside, char *buf, size_t len)
{
	const char *p = inside + 1, *slash = strchr(p, '/');
	size_t n = slash ? (size_t)(slash - p) : strlen(p);

	snprintf(buf, len, "%.*s", (int)MIN(n, len - 1), p);
}

/* Names the jail itself makes at the top of its root. */
static bool reserved_name(const struct jail *j, const char *name)
{
	return !strcmp(name, "dev") || !strcmp(name, "run") || !strcmp(name, "proc") ||
	       !strcmp(name, j->exec_name);
}

static int add_file(struct jail *j, const char *host, const char *inside, bool writable, bool exec)
{
	struct jail_file *f;

	if (j->nfiles == JAIL_MAX_FILES)
		return jail_error(EXIT_USAGE, "more than %d files to grant", JAIL_MAX_FILES);
	f = &j->files[j->nfiles++];
	f->host = strdup(host);
	f->inside = strdup(inside);
	f->writable = writable;
	f->exec = exec;
	if (!f->host || !f->inside)
		return jail_error(EXIT_HOST, "out of memory");
	return 0;
}

/*
 * Grant a VM's file (kernel, initrd, disk) given by its host path: it must be
 * a regular file uid:gid may read (and write, for a writable disk). It is
 * bind-mounted as /NAME; *inside gets that path. Returns 0 or an exit status.
 */
static int grant_vm_file(struct jail *j, const char *what, const char *path, bool writable,
			 bool disk, char **inside)
{
	char real[PATH_MAX], name[NAME_MAX + 2], top[NAME_MAX + 1];
	const char *base;
	struct stat st;
	int r;

	if (!realpath(path, real) || stat(real, &st) < 0)
		return jail_error(EXIT_USAGE, "%s %s: %s", what, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return jail_error(EXIT_USAGE, "%s %s: not a regular file", what, path);
	if (!jail_may_access(j, &st, writable))
		return jail_error(EXIT_USAGE, "%s %s: uid %u gid %u may not %s it", what, path,
				  (unsigned)j->uid, (unsigned)j->gid,
				  writable ? "read and write" : "read");
	base = strrchr(real, '/') + 1;
	snprintf(name, sizeof(name), "/%s", base);
	if (reserved_name(j, base))
		return jail_error(EXIT_USAGE, "%s %s: the name '%s' is taken inside the jail", what,
				  path, base);
	for (unsigned i = 0; i < j->nfiles; i++) {
		top_name(j->files[i].inside, top, sizeof(top));
		if (!strcmp(top, base))
			return jail_error(EXIT_USAGE,
					  "%s %s: the name '%s' is taken inside the jail", what,
					  path, base);
	}
	r = add_file(j, real, name, writable, false);
	if (r)
		return r;
	if (disk)
		j->largest_disk = MAX(j->largest_disk, (uint64_t)st.st_size);
	j->largest = MAX(j->largest, (uint64_t)st.st_size);
	*inside = j->files[j->nfiles - 1].inside;
	return 0;
}

/* Whether the ELF file at path names a program interpreter (is dynamically linked). */
static int elf_is_dynamic(const char *path, bool *dynamic)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*dynamic = false;
	if (fd < 0)
		return -errno;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(ph)) {
		close(fd);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
		    (ssize_t)sizeof(ph))
			break;
		if (ph.p_type == PT_INTERP)
			*dynamic = true;
	}
	close(fd);
	return 0;
}

/*
 * The shared libraries a dynamically linked exec file loads, as its dynamic
 * loader resolves them (LD_TRACE_LOADED_OBJECTS, run as uid:gid): each is
 * granted read-only at the same path inside the jail.
 */
static int grant_libraries(struct jail *j)
{
	char buf[16384], *line, *save = NULL;
	char *const argv[] = {(char *)j->exec_file, NULL};
	static char trace_env[] = "LD_TRACE_LOADED_OBJECTS=1";
	char *const envp[] = {trace_env, NULL};
	size_t got = 0;
	bool dynamic;
	int pfd[2], status, r;
	pid_t pid;

	r = elf_is_dynamic(j->exec_file, &dynamic);
	if (r)
		return jail_error(EXIT_USAGE, "--exec-file %s: not an ELF executable",
				  j->exec_file);
	if (!dynamic)
		return 0;
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return jail_error(EXIT_HOST, "pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		return jail_error(EXIT_HOST, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		if (null < 0 || dup2(null, STDIN_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0 ||
		    dup2(pfd[1], STDOUT_FILENO) < 0 || setgroups(0, NULL) < 0 ||
		    setresgid(j->gid, j->gid, j->gid) < 0 || setresuid(j->uid, j->uid, j->uid) < 0)
			_exit(127);
		execve(j->exec_file, argv, envp);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof(buf) - 1)
			break;
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	buf[got] = '\0';
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return jail_error(EXIT_USAGE,
				  "--exec-file %s: its dynamic loader cannot list its libraries "
				  "as uid %u",
				  j->exec_file, (unsigned)j->uid);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = strstr(line, "=> "), *end, real[PATH_MAX];
		struct stat st;

		if (strstr(line, "not found"))
			return jail_error(EXIT_USAGE, "--exec-file %s: library %s", j->exec_file,
					  line + strspn(line, " \t"));
		p = p ? p + 3 : line + strspn(line, " \t");
		if (*p != '/')
			continue; /* the vDSO */
		end = strstr(p, " (");
		if (end)
			*end = '\0';
		if (!realpath(p, real) || stat(real, &st) < 0 || !S_ISREG(st.st_mode))
			return jail_error(EXIT_USAGE, "--exec-file %s: library %s: %s",
					  j->exec_file, p, strerror(errno ? errno : EINVAL));
		r = add_file(j, real, p, false, true);
		if (r)
			return r;
	}
	return 0;
}

/* Options of `hearth run` that take a value (the others are flags). */
static bool run_option_has_value(const char *name)
{
	static const char *const with_value[] = {
	    "kernel",	 "initrd",	     "cmdline",	    "cpus",    "memory", "id",
	    "serial",	 "shutdown-timeout", "disk",	    "net",     "rng",	 "console",
	    "transport", "api-sock",	     "config-file", "seccomp", NULL,
	};
	for (unsigned i = 0; with_value[i]; i++)
		if (!strcmp(name, with_value[i]))
			return true;
	return false;
}

/* --disk path=FILE,...: grant FILE and return the option with its path rewritten. */
static int rewrite_disk(struct jail *j, const char *value, char **out)
{
	char *copy = strdup(value), *item, *save = NULL, *inside = NULL;
	const char *path = NULL;
	bool readonly = false;
	size_t len;
	int r;

	if (!copy)
		return jail_error(EXIT_HOST, "out of memory");
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if (!strncmp(item, "path=", 5))
			path = item + 5;
		else if (!strcmp(item, "readonly=on"))
			readonly = true;
	}
	if (!path || !*path) {
		free(copy);
		return jail_error(EXIT_USAGE, "--disk %s: no path=FILE", value);
	}
	r = grant_vm_file(j, "--disk", path, !readonly, true, &inside);
	free(copy);
	if (r)
		return r;
	/* Rebuild: every item as given, path= replaced. */
	len = strlen(value) + strlen(inside) + 8;
	*out = malloc(len);
	copy = strdup(value);
	if (!*out || !copy) {
		free(copy);
		return jail_error(EXIT_HOST, "out of memory");
	}
	(*out)[0] = '\0';
	save = NULL;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		if ((*out)[0])
			strcat(*out, ",");
		if (!strncmp(item, "path=", 5)) {
			strcat(*out, "path=");
			strcat(*out, inside);
		} else if (strlen(*out) + strlen(item) + 1 < len) {
			strcat(*out, item);
		}
	}
	free(copy);
	return 0;
}

/*
 * Build the jailed hearth's argv from "run ARGS...": grant and rewrite the
 * host files, find the guest memory size, add --id when it is not given.
 */
static int build_argv(struct jail *j, int argc, char **argv)
{
	static char run_word[] = "run", id_option[] = "--id";
	uint64_t mem = CONFIG_DEFAULT_MEMORY, v;
	bool have_id = false, no_more_options = false;
	char path[NAME_MAX + 2];
	int n = 0, r;

	if (argc < 1 || strcmp(argv[0], "run"))
		return jail_error(EXIT_USAGE, "after '--' give 'run' and its options (see 'hearth "
					      "jail --help')");
	j->argv = calloc(2 * (size_t)argc + 4, sizeof(char *)); /* --opt=V: two entries */
	if (!j->argv)
		return jail_error(EXIT_HOST, "out of memory");
	snprintf(path, sizeof(path), "/%s", j->exec_name);
	j->argv[n++] = strdup(path);
	j->argv[n++] = run_word;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *eq, *value;
		char name[64], *inside = NULL;
		bool joined;

		if (no_more_options || strncmp(a, "--", 2) || !a[2]) {
			no_more_options = no_more_options || !strcmp(a, "--");
			j->argv[n++] = argv[i];
			continue;
		}
		eq = strchr(a, '=');
		snprintf(name, sizeof(name), "%.*s", (int)(eq ? eq - a - 2 : (long)strlen(a + 2)),
			 a + 2);
		if (!run_option_has_value(name)) {
			j->argv[n++] = argv[i];
			continue;
		}
		joined = eq != NULL;
		if (!joined && i + 1 >= argc) {
			j->argv[n++] = argv[i]; /* hearth run says what is missing */
			continue;
		}
		value = joined ? eq + 1 : argv[i + 1];
		if (!strcmp(name, "kernel") || !strcmp(name, "initrd")) {
			r = grant_vm_file(j, a, value, false, false, &inside);
			if (r)
				return r;
		} else if (!strcmp(name, "disk")) {
			r = rewrite_disk(j, value, &inside);
			if (r)
				return r;
		} else if (!strcmp(name, "memory") && parse_size(value, &v) == 0) {
			mem = v;
		} else if (!strcmp(name, "id")) {
			have_id = true;
		}
		j->argv[n++] = joined ? strndup(a, (size_t)(eq - a)) : argv[i];
		j->argv[n++] = inside ? inside : (char *)value;
		if (!joined)
			i++;
	}
	if (!have_id) {
		j->argv[n++] = id_option;
		j->argv[n++] = (char *)j->id;
	}
	j->argv[n] = NULL;
	j->largest = MAX(j->largest, mem);
	return 0;
}

/* mkdir that accepts an existing directory (not a symbolic link). */
static int mkdir_one(const char *path)
{
	struct stat st;

	if (mkdir(path, 0755) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (lstat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Create <base>/<exec_name>/<id>/root (and the base, if missing). */
static int make_dirs(struct jail *j)
{
	char path[PATH_MAX];
	int r;

	snprintf(path, sizeof(path), "%s", j->base);
	for (char *p = path + 1;; p++) {
		if (*p == '/' || !*p) {
			char c = *p;
			*p = '\0';
			r = mkdir_one(path);
			if (r)
				return jail_error(EXIT_HOST, "cannot create %s: %s", path,
						  strerror(-r));
			*p = c;
			if (!c)
				break;
		}
	}
	snprintf(path, sizeof(path), "%s/%s", j->base, j->exec_name);
	r = mkdir_one(path);
	if (!r && snprintf(j->dir, sizeof(j->dir), "%s/%s", path, j->id) < (int)sizeof(j->dir))
		r = mkdir_one(j->dir);
	if (!r && snprintf(j->root, sizeof(j->root), "%s/root", j->dir) < (int)sizeof(j->root))
		r = mkdir_one(j->root);
	if (r)
		return jail_error(EXIT_HOST, "cannot create the jail directory under %s: %s", path,
				  strerror(-r));
	if (chmod(j->root, 0755) < 0 || chown(j->root, 0, 0) < 0)
		return jail_error(EXIT_HOST, "%s: %s", j->root, strerror(errno));
	return 0;
}

/* Regular files a user placed at the top of the root (API-configured VMs): their sizes count
 * for fsize. */
static void scan_root(struct jail *j)
{
	DIR *d = opendir(j->root);
	struct dirent *e;
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d)))
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode))
			j->largest = MAX(j->largest, (uint64_t)st.st_size);
	closedir(d);
}

static int parse_ugid(const char *opt, const char *s, uint32_t *out)
{
	uint64_t v;

	if (parse_uint(s, 0, UINT32_MAX - 1, &v))
		return jail_error(EXIT_USAGE, "%s must be a number, not '%s'", opt, s);
	if (v == 0)
		return jail_error(EXIT_USAGE, "%s 0 is root: give an unprivileged one", opt);
	*out = (uint32_t)v;
	return 0;
}

static int parse_cgroup(struct jail *j, const char *arg)
{
	const char *eq = strchr(arg, '='), *dot;
	struct jail_cgroup_setting *s;
	char *file;

	if (j->ncg == JAIL_MAX_CGROUPS)
		return jail_error(EXIT_USAGE, "at most %d --cgroup options", JAIL_MAX_CGROUPS);
	if (!eq || eq == arg || !eq[1])
		return jail_error(EXIT_USAGE,
				  "--cgroup takes FILE=VALUE (e.g. pids.max=64), not '%s'", arg);
	file = strndup(arg, (size_t)(eq - arg));
	if (!file)
		return jail_error(EXIT_HOST, "out of memory");
	dot = strchr(file, '.');
	if (!dot || dot == file || !dot[1] || (size_t)(dot - file) >= sizeof(s->controller) ||
	    strspn(file, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") !=
		strlen(file) ||
	    strstr(file, "..") || !strncmp(file, "cgroup.", 7) || !strcmp(file, "tasks")) {
		jail_error(EXIT_USAGE, "--cgroup %s: '%s' is not a controller's file", arg, file);
		free(file);
		return EXIT_USAGE;
	}
	s = &j->cg[j->ncg++];
	s->file = file;
	s->value = eq + 1;
	snprintf(s->controller, sizeof(s->controller), "%.*s", (int)(dot - file), file);
	return 0;
}

static int parse_rlimit(struct jail *j, const char *arg)
{
	const char *eq = strchr(arg, '=');
	uint64_t v;

	if (!eq || parse_uint(eq + 1, 0, UINT64_MAX - 1, &v))
		return jail_error(EXIT_USAGE,
				  "--resource-limit takes fsize=BYTES or no-file=N, not '%s'", arg);
	if (!strncmp(arg, "fsize=", 6)) {
		j->have_fsize = true;
		j->fsize = v;
	} else if (!strncmp(arg, "no-file=", 8)) {
		if (v < 1 || v > (1u << 20))
			return jail_error(EXIT_USAGE, "--resource-limit no-file must be 1-%u",
					  1u << 20);
		j->have_nofile = true;
		j->nofile = v;
	} else {
		return jail_error(
		    EXIT_USAGE, "--resource-limit: unknown resource in '%s' (fsize, no-file)", arg);
	}
	return 0;
}

enum {
	OPT_ID = 256,
	OPT_EXEC_FILE,
	OPT_UID,
	OPT_GID,
	OPT_CHROOT_BASE,
	OPT_NETNS,
	OPT_CGROUP,
	OPT_CGROUP_VERSION,
	OPT_PARENT_CGROUP,
	OPT_RLIMIT,
	OPT_DAEMONIZE,
	OPT_NEW_PID_NS,
};

static const struct option jail_options[] = {
    {"id", required_argument, NULL, OPT_ID},
    {"exec-file", required_argument, NULL, OPT_EXEC_FILE},
    {"uid", required_argument, NULL, OPT_UID},
    {"gid", required_argument, NULL, OPT_GID},
    {"chroot-base-dir", required_argument, NULL, OPT_CHROOT_BASE},
    {"netns", required_argument, NULL, OPT_NETNS},
    {"cgroup", required_argument, NULL, OPT_CGROUP},
    {"cgroup-version", required_argument, NULL, OPT_CGROUP_VERSION},
    {"parent-cgroup", required_argument, NULL, OPT_PARENT_CGROUP},
    {"resource-limit", required_argument, NULL, OPT_RLIMIT},
    {"daemonize", no_argument, NULL, OPT_DAEMONIZE},
    {"new-pid-ns", no_argument, NULL, OPT_NEW_PID_NS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_options(struct jail *j, int argc, char **argv)
{
	bool have_uid = false, have_gid = false;
	uint32_t v32;
	int opt, r;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:h", jail_options, NULL)) != -1) {
		switch (opt) {
		case OPT_ID:
			if (!jail_valid_id(optarg))
				return jail_error(
				    EXIT_USAGE,
				    "--id '%s' must be 1-%d characters of A-Z a-z 0-9 -", optarg,
				    JAIL_ID_MAX);
			j->id = optarg;
			break;
		case OPT_EXEC_FILE:
			j->exec_file = optarg;
			break;
		case OPT_UID:
			r = parse_ugid("--uid", optarg, &v32);
			if (r)
				return r;
			j->uid = v32;
			have_uid = true;
			break;
		case OPT_GID:
			r = parse_ugid("--gid", optarg, &v32);
			if (r)
				return r;
			j->gid = v32;
			have_gid = true;
			break;
		case OPT_CHROOT_BASE:
			if (optarg[0] != '/' || strstr(optarg, "/../") || strlen(optarg) > 1024)
				return jail_error(
				    EXIT_USAGE,
				    "--chroot-base-dir must be an absolute path, not '%s'", optarg);
			j->base = optarg;
			break;
		case OPT_NETNS:
			j->netns = optarg;
			break;
		case OPT_CGROUP:
			r = parse_cgroup(j, optarg);
			if (r)
				return r;
			break;
		case OPT_CGROUP_VERSION:
			if (strcmp(optarg, "1") && strcmp(optarg, "2"))
				return jail_error(
				    EXIT_USAGE, "--cgroup-version takes 1 or 2, not '%s'", optarg);
			j->cgroup_version = optarg[0] - '0';
			break;
		case OPT_PARENT_CGROUP:
			if (optarg[0] == '/' || !optarg[0] || strstr(optarg, "..") ||
			    strlen(optarg) > 512)
				return jail_error(EXIT_USAGE,
						  "--parent-cgroup must be a relative path without "
						  "'..', not '%s'",
						  optarg);
			j->parent_cgroup = optarg;
			break;
		case OPT_RLIMIT:
			r = parse_rlimit(j, optarg);
			if (r)
				return r;
			break;
		case OPT_DAEMONIZE:
			j->daemonize = true;
			break;
		case OPT_NEW_PID_NS:
			break; /* always */
		case 'h':
			jail_usage();
			return -1;
		case ':':
			return jail_error(EXIT_USAGE, "option '%s' needs a value",
					  argv[optind - 1]);
		default:
			return jail_error(EXIT_USAGE,
					  "unknown option '%s' (see 'hearth jail --help')",
					  argv[optind - 1]);
		}
	}
	if (!j->id || !j->exec_file || !have_uid || !have_gid)
		return jail_error(EXIT_USAGE,
				  "--id, --exec-file, --uid and --gid are required (see "
				  "'hearth jail --help')");
	if (optind >= argc || strcmp(argv[optind - 1], "--"))
		return jail_error(EXIT_USAGE, "give '--' and then 'run' and its options (see "
					      "'hearth jail --help')");
	return 0;
}

static int check_exec_file(struct jail *j)
{
	const char *slash = strrchr(j->exec_file, '/');
	char inside[NAME_MAX + 2];
	struct stat st;

	j->exec_name = slash ? slash + 1 : j->exec_file;
	if (stat(j->exec_file, &st) < 0)
		return jail_error(EXIT_USAGE, "--exec-file %s: %s", j->exec_file, strerror(errno));
	if (!S_ISREG(st.st_mode) || !*j->exec_name || !strcmp(j->exec_name, "..") ||
	    !strcmp(j->exec_name, "."))
		return jail_error(EXIT_USAGE, "--exec-file %s: not a regular file", j->exec_file);
	if (!jail_may_access(j, &st, false) || !(st.st_mode & (st.st_uid == j->uid   ? S_IXUSR
							       : st.st_gid == j->gid ? S_IXGRP
										     : S_IXOTH)))
		return jail_error(EXIT_USAGE,
				  "--exec-file %s: uid %u gid %u may not read and run it",
				  j->exec_file, (unsigned)j->uid, (unsigned)j->gid);
	if (!strcmp(j->exec_name, "dev") || !strcmp(j->exec_name, "run") ||
	    !strcmp(j->exec_name, "proc"))
		return jail_error(EXIT_USAGE, "--exec-file %s: its name is taken inside the jail",
				  j->exec_file);
	snprintf(inside, sizeof(inside), "/%s", j->exec_name);
	return add_file(j, j->exec_file, inside, false, true);
}

static pid_t child_pid;

/* SIGTERM, SIGINT, SIGHUP sent to the jailer by another process reach hearth too; the
 * terminal's own signals reach both already. */
static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child_pid > 0 && si->si_code != SI_KERNEL)
		kill(child_pid, sig);
}

static int write_pid_file(const struct jail *j, pid_t pid)
{
	char path[PATH_MAX + 64], text[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/%s.pid", j->dir, j->exec_name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(text, sizeof(text), "%d\n", (int)pid);
	if (write(fd, text, (size_t)n) != n) {
		close(fd);
		return -EIO;
	}
	close(fd);
	return 0;
}

/* Fork the jailed child into a new PID namespace and see it to its exec. */
/* The namespace's init stops once init_fd closes; wait for it. */
static void end_init(int init_fd, pid_t init)
{
	if (init_fd >= 0)
		close(init_fd);
	while (waitpid(init, NULL, 0) < 0 && errno == EINTR)
		;
}

/*
 * Fork the namespace's init (PID 1) and the jailed child (PID 2) into a new
 * PID namespace and see the child to its exec. hearth is not PID 1, so its
 * signals behave as anywhere else and sanitizers can stop its threads.
 */
static int start(struct jail *j, int netns_fd)
{
	int sync_pipe[2], err_pipe[2], init_pipe[2], status = 0, r = 0, self_ns;
	char msg[1024], cgerr[512] = "";
	struct sigaction sa;
	size_t got = 0;
	pid_t pid, init;

	if (pipe2(sync_pipe, O_CLOEXEC) < 0 || pipe2(err_pipe, O_CLOEXEC) < 0 ||
	    pipe2(init_pipe, O_CLOEXEC) < 0)
		return jail_error(EXIT_HOST, "pipe: %s", strerror(errno));
	self_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (self_ns < 0 || unshare(CLONE_NEWPID) < 0)
		return jail_error(EXIT_HOST, "cannot create a PID namespace: %s", strerror(errno));
	fflush(NULL);
	init = fork();
	if (init == 0)
		jail_init(j, init_pipe[0]);
	close(init_pipe[0]);
	pid = init < 0 ? -1 : fork();
	if (pid == 0) {
		close(init_pipe[1]);
		close(sync_pipe[1]);
		close(err_pipe[0]);
		jail_child(j, sync_pipe[0], err_pipe[1], netns_fd);
	}
	/* The jailer's own later children (none but a sanitizer's helper) stay in its namespace. */
	if (setns(self_ns, CLONE_NEWPID) < 0)
		jail_error(EXIT_HOST, "warning: cannot return to the PID namespace: %s",
			   strerror(errno));
	close(self_ns);
	if (pid < 0) {
		r = errno;
		if (init > 0)
			end_init(init_pipe[1], init);
		return jail_error(EXIT_HOST, "fork: %s", strerror(r));
	}
	child_pid = pid;
	if (write(init_pipe[1], "h", 1) != 1)
		r = -EPIPE;
	close(sync_pipe[0]);
	close(err_pipe[1]);
	if (!r)
		r = jail_cgroup_join(j, init, cgerr, sizeof(cgerr));
	if (!r)
		r = jail_cgroup_join(j, pid, cgerr, sizeof(cgerr));
	if (!r)
		r = write_pid_file(j, pid);
	if (!r && write(sync_pipe[1], "g", 1) != 1)
		r = -EPIPE;
	close(sync_pipe[1]);
	if (r) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		end_init(init_pipe[1], init);
		jail_cgroup_remove(j);
		return jail_error(EXIT_HOST, "%s", cgerr[0] ? cgerr : strerror(-r));
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* The child's setup errors come through err_pipe; its exec closes it. */
	for (;;) {
		ssize_t n = read(err_pipe[0], msg + got, sizeof(msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (got += (size_t)n) == sizeof(msg) - 1)
			break;
	}
	close(err_pipe[0]);
	msg[got] = '\0';
	if (got) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		end_init(init_pipe[1], init);
		jail_cgroup_remove(j);
		return jail_error(EXIT_HOST, "%s", msg);
	}
	if (j->daemonize)
		return 0; /* init reaps hearth once this process is gone */
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return jail_error(EXIT_HOST, "waitpid: %s", strerror(errno));
	}
	end_init(init_pipe[1], init);
	jail_cgroup_remove(j);
	if (WIFSIGNALED(status)) {
		jail_error(EXIT_HOST, "%s was killed by signal %d (%s)", j->exec_name,
			   WTERMSIG(status), strsignal(WTERMSIG(status)));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}

int jail_main(int argc, char **argv)
{
	/* static: what the parsers allocate stays reachable until exit */
	static struct jail j = {.base = JAIL_DEFAULT_BASE};
	struct statfs sfs;
	int r, netns_fd = -1, lock_fd;

	r = parse_options(&j, argc, argv);
	if (r)
		return r < 0 ? 0 : r;
	if (geteuid() != 0)
		return jail_error(EXIT_USAGE, "must be started as root");
	r = check_exec_file(&j);
	if (r)
		return r;
	r = grant_libraries(&j);
	if (!r)
		r = build_argv(&j, argc - optind, argv + optind);
	if (r)
		return r;
	if (j.netns) {
		netns_fd = open(j.netns, O_RDONLY | O_CLOEXEC);
		if (netns_fd < 0)
			return jail_error(EXIT_USAGE, "--netns %s: %s", j.netns, strerror(errno));
		if (fstatfs(netns_fd, &sfs) < 0 || sfs.f_type != NSFS_MAGIC)
			return jail_error(EXIT_USAGE, "--netns %s: not a namespace file", j.netns);
	}
	if (j.have_fsize && j.fsize < j.largest_disk)
		return jail_error(EXIT_USAGE,
				  "--resource-limit fsize=%llu is below the largest disk image "
				  "(%llu bytes): the guest's writes would fail",
				  (unsigned long long)j.fsize, (unsigned long long)j.largest_disk);
	r = make_dirs(&j);
	if (r)
		return r;
	scan_root(&j);
	if (!j.have_fsize)
		j.fsize = MAX(j.largest, (uint64_t)CONSOLE_FILE_MAX_BYTES) + (1ULL << 20);
	if (!j.have_nofile)
		j.nofile = JAIL_DEFAULT_NOFILE;

	/* One jailer at a time per jail: held until the child sits in its cgroup. */
	lock_fd = open(j.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lock_fd < 0 || flock(lock_fd, LOCK_EX | LOCK_NB) < 0)
		return jail_error(EXIT_HOST, "jail %s is in use (%s is locked)", j.id, j.dir);
	r = jail_cgroup_prepare(&j);
	if (r)
		return r;
	r = start(&j, netns_fd);
	close(lock_fd);
	return r;
}
