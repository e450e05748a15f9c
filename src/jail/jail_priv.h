/* SPDX-License-Identifier: MIT */
/* hearth jail: what its parts share. */
#ifndef HEARTH_JAIL_JAIL_PRIV_H
#define HEARTH_JAIL_JAIL_PRIV_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_ID_MAX	    64
#define JAIL_MAX_FILES	    64 /* the exec file, its libraries, kernel, initrd, disks */
#define JAIL_MAX_CGROUPS    16 /* --cgroup settings */
#define JAIL_MAX_CG_DIRS    8  /* hierarchies a jail's group is created in */
#define JAIL_DEFAULT_BASE   "/srv/jailer"
#define JAIL_DEFAULT_NOFILE 2048

/* A host file made visible inside the jail by a bind mount. */
struct jail_file {
	char *host;   /* absolute path on the host */
	char *inside; /* absolute path inside the jail */
	bool writable;
	bool exec; /* the exec file or one of its shared libraries */
};

struct jail_cgroup_setting {
	const char *file;  /* e.g. "memory.max" */
	const char *value; /* written as given */
	char controller[32];
};

struct jail {
	const char *id;
	const char *exec_file;
	const char *exec_name; /* last component of exec_file */
	uid_t uid;
	gid_t gid;
	const char *base;
	const char *netns;
	const char *parent_cgroup; /* relative to the hierarchy's root, or NULL */
	int cgroup_version;	   /* 1, 2, or 0: v2 when it has the controllers */
	struct jail_cgroup_setting cg[JAIL_MAX_CGROUPS];
	unsigned ncg;
	bool have_fsize, have_nofile;
	uint64_t fsize, nofile;
	bool daemonize;

	char dir[PATH_MAX];  /* <base>/<exec_name>/<id> */
	char root[PATH_MAX]; /* <dir>/root */
	struct jail_file files[JAIL_MAX_FILES];
	unsigned nfiles;
	uint64_t largest_disk; /* bytes: fsize may not be set below it */
	uint64_t largest;      /* of disks, other files in the root, guest memory */

	char **argv; /* what the jailed hearth is started with */

	/* Created groups (one per hierarchy) and where they were found. */
	char cg_dirs[JAIL_MAX_CG_DIRS][PATH_MAX];
	unsigned ncg_dirs;
	int cg_used_version;
};

/* jail_cgroup_prepare - create the jail's group(s) and write the settings.
 * Returns 0, or 2 (bad --cgroup) / 1 (host failure, jail in use) after one
 * line on stderr. */
int jail_cgroup_prepare(struct jail *j);

/* jail_cgroup_join - move pid into the jail's group(s). 0 or -errno. */
int jail_cgroup_join(struct jail *j, pid_t pid, char *err, size_t errlen);

/* jail_cgroup_remove - remove the (empty) groups jail_cgroup_prepare made. */
void jail_cgroup_remove(struct jail *j);

/*
 * jail_child - in the child forked into the new PID namespace: wait for
 * sync_fd to say the cgroups are joined, build the jail, drop privileges and
 * exec. On failure writes one line to err_fd and exits 1; never returns.
 */
__attribute__((noreturn)) void jail_child(struct jail *j, int sync_fd, int err_fd, int netns_fd);

/*
 * jail_init - PID 1 of the jail's PID namespace: closes everything but
 * parent_fd, becomes the jail's user, reads one byte from parent_fd (hearth,
 * PID 2, exists), then exits when hearth has ended or, without --daemonize,
 * when parent_fd reads EOF (the jailer is done or gone). Its exit ends every
 * process left in the namespace.
 */
__attribute__((noreturn)) void jail_init(const struct jail *j, int parent_fd);

/* jail_error - print "hearth jail: MSG" on stderr and return status. */
int jail_error(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
