/* SPDX-License-Identifier: MIT */
/*
 * hearth jail: the jail's cgroup. v2 (one unified hierarchy) when it has
 * every controller the --cgroup settings name, else v1 (one hierarchy per
 * controller; on v1 the group is also made in the pids hierarchy so that a
 * jail in use can be seen). The group is <hierarchy>/<parent>/<id>, where
 * <parent> is --parent-cgroup or the jailer's own group plus the exec file's
 * name.
 */
#include "core/util.h"
#include "jail/jail_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXIT_USAGE 2
#define EXIT_HOST  1

/* Whether the comma-separated list has the item. */
static bool list_has(const char *list, const char *item)
{
	size_t n = strlen(item);

	for (const char *p = list; p && *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		if (len == n && !strncmp(p, item, n))
			return true;
		p = comma ? comma + 1 : NULL;
	}
	return false;
}

/*
 * Where the hierarchy is mounted: version 2, or version 1 with controller.
 * point gets the mount point, mroot the hierarchy path the mount shows.
 * Returns 0 or -ENOENT.
 */
static int find_mount(int version, const char *controller, char *point, size_t plen, char *mroot,
		      size_t rlen)
{
	char line[4096], root[PATH_MAX], mnt[PATH_MAX], fstype[64], opts[1024];
	FILE *f = fopen("/proc/self/mountinfo", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
		    sscanf(sep + 3, "%63s %*s %1023s", fstype, opts) != 2)
			continue;
		if (version == 2 ? strcmp(fstype, "cgroup2")
				 : strcmp(fstype, "cgroup") || !list_has(opts, controller))
			continue;
		snprintf(point, plen, "%s", mnt);
		snprintf(mroot, rlen, "%s", root);
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

/* The jailer's own group in a hierarchy (version 2, or 1 with controller), from
 * /proc/self/cgroup. */
static int own_group(int version, const char *controller, char *out, size_t len)
{
	char line[4096];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int r = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		line[strcspn(line, ":")] = '\0';
		c2[1 + strcspn(c2 + 1, "\n")] = '\0';
		if (version == 2 ? strcmp(line, "0") || c1[1] : !list_has(c1 + 1, controller))
			continue;
		snprintf(out, len, "%s", c2 + 1);
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

static int write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, value, strlen(value));
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return 0;
}

/* Read dir/name (up to len - 1 bytes) into buf as a string. Returns its length or -errno. */
static ssize_t read_text(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX + 64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n;
}

/* The first PID in dir/cgroup.procs, 0 when empty, -errno. */
static long first_proc(const char *dir)
{
	char buf[32];
	ssize_t n = read_text(dir, "cgroup.procs", buf, sizeof(buf));

	if (n < 0)
		return (long)n;
	return n ? strtol(buf, NULL, 10) : 0;
}

/* Make the group at dir (under the mount point mnt) fresh: intermediate directories
 * created, a left-over empty group of the same id removed first. */
static int make_group(struct jail *j, const char *mnt, const char *dir)
{
	char path[PATH_MAX];
	long pid;

	pid = first_proc(dir);
	if (pid > 0)
		return jail_error(EXIT_HOST, "jail %s is in use: its cgroup %s holds process %ld",
				  j->id, dir, pid);
	if (pid == 0 && rmdir(dir) < 0)
		return jail_error(EXIT_HOST, "cannot remove the old cgroup %s: %s", dir,
				  strerror(errno));
	snprintf(path, sizeof(path), "%s", dir);
	for (char *p = path + strlen(mnt) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return jail_error(EXIT_HOST, "cannot create cgroup %s: %s", path,
					  strerror(errno));
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0)
		return jail_error(EXIT_HOST, "cannot create cgroup %s: %s", dir, strerror(errno));
	if (j->ncg_dirs < JAIL_MAX_CG_DIRS)
		snprintf(j->cg_dirs[j->ncg_dirs++], PATH_MAX, "%s", dir);
	return 0;
}

/* The group's path in the hierarchy of (version, controller). */
static int group_path(struct jail *j, int version, const char *controller, char *out, size_t len)
{
	char mnt[PATH_MAX], mroot[PATH_MAX], own[PATH_MAX];
	const char *rel;
	int r;

	r = find_mount(version, controller, mnt, sizeof(mnt), mroot, sizeof(mroot));
	if (r)
		return r;
	if (j->parent_cgroup) {
		return snprintf(out, len, "%s/%s/%s", mnt, j->parent_cgroup, j->id) < (int)len
			   ? 0
			   : -ENAMETOOLONG;
	}
	r = own_group(version, controller, own, sizeof(own));
	if (r)
		return r;
	rel = own;
	if (strcmp(mroot, "/")) {
		size_t n = strlen(mroot);
		if (strncmp(own, mroot, n) || (own[n] && own[n] != '/'))
			return -ENOENT; /* our group is not below this mount */
		rel = own + n;
	}
	if (!strcmp(rel, "/"))
		rel = "";
	return snprintf(out, len, "%s%s/%s/%s", mnt, rel, j->exec_name, j->id) < (int)len
		   ? 0
		   : -ENAMETOOLONG;
}

/* Whether dir/name, a space-separated list, has word. */
static bool word_in_file(const char *dir, const char *name, const char *word)
{
	char buf[512];

	if (read_text(dir, name, buf, sizeof(buf)) <= 0)
		return false;
	for (char *save = NULL, *w = strtok_r(buf, " \n", &save); w;
	     w = strtok_r(NULL, " \n", &save))
		if (!strcmp(w, word))
			return true;
	return false;
}

/* Whether the v2 hierarchy offers controller (its root's cgroup.controllers). */
static bool v2_has(const char *mnt, const char *controller)
{
	return word_in_file(mnt, "cgroup.controllers", controller);
}

static int write_settings(struct jail *j, const char *dir, const char *controller)
{
	for (unsigned i = 0; i < j->ncg; i++) {
		const struct jail_cgroup_setting *s = &j->cg[i];
		int r;

		if (controller && strcmp(s->controller, controller))
			continue;
		r = write_file(dir, s->file, s->value);
		if (r == -ENOENT)
			return jail_error(EXIT_USAGE, "--cgroup %s=%s: %s has no file %s", s->file,
					  s->value, dir, s->file);
		if (r)
			return jail_error(EXIT_USAGE, "--cgroup %s=%s: refused: %s", s->file,
					  s->value, strerror(-r));
	}
	return 0;
}

static int prepare_v2(struct jail *j)
{
	char mnt[PATH_MAX], mroot[PATH_MAX], dir[PATH_MAX], path[PATH_MAX], ctl[40];
	int r;

	if (group_path(j, 2, NULL, dir, sizeof(dir)) ||
	    find_mount(2, NULL, mnt, sizeof(mnt), mroot, sizeof(mroot)))
		return jail_error(EXIT_HOST, "no usable cgroup v2 hierarchy");
	r = make_group(j, mnt, dir);
	if (r)
		return r;
	/* Each controller enabled from the hierarchy's root down to the group's parent. */
	for (unsigned i = 0; i < j->ncg; i++) {
		snprintf(ctl, sizeof(ctl), "+%s", j->cg[i].controller);
		snprintf(path, sizeof(path), "%s", dir);
		for (char *p = path + strlen(mnt);; p++) {
			if (*p && *p != '/')
				continue;
			char c = *p;
			*p = '\0';
			if (strcmp(path, dir) &&
			    !word_in_file(path, "cgroup.subtree_control", ctl + 1) &&
			    (r = write_file(path, "cgroup.subtree_control", ctl)))
				return jail_error(EXIT_HOST,
						  "cannot enable the %s controller in %s: %s",
						  j->cg[i].controller, path, strerror(-r));
			*p = c;
			if (!c)
				break;
		}
	}
	j->cg_used_version = 2;
	return write_settings(j, dir, NULL);
}

static int prepare_v1(struct jail *j)
{
	char dirs[JAIL_MAX_CGROUPS + 1][PATH_MAX];
	char mnt[PATH_MAX], mroot[PATH_MAX];
	const char *ctls[JAIL_MAX_CGROUPS + 1];
	unsigned n = 0;
	int r;

	for (unsigned i = 0; i <= j->ncg; i++) {
		const char *c = i < j->ncg ? j->cg[i].controller : "pids";
		bool seen = false;
		if (group_path(j, 1, c, dirs[n], sizeof(dirs[n]))) {
			if (i == j->ncg)
				continue; /* no pids hierarchy: no group there */
			return jail_error(EXIT_USAGE,
					  "--cgroup %s=%s: no cgroup v1 hierarchy has the %s "
					  "controller",
					  j->cg[i].file, j->cg[i].value, c);
		}
		for (unsigned k = 0; k < n; k++)
			seen = seen || !strcmp(dirs[k], dirs[n]);
		if (seen)
			continue;
		ctls[n++] = c;
	}
	for (unsigned k = 0; k < n; k++) {
		if (find_mount(1, ctls[k], mnt, sizeof(mnt), mroot, sizeof(mroot)))
			return jail_error(EXIT_HOST, "the %s hierarchy vanished", ctls[k]);
		r = make_group(j, mnt, dirs[k]);
		if (r)
			return r;
	}
	/* Settings go to the group in their controller's hierarchy. */
	for (unsigned i = 0; i < j->ncg; i++) {
		char dir[PATH_MAX];
		if (group_path(j, 1, j->cg[i].controller, dir, sizeof(dir)))
			return jail_error(EXIT_HOST, "the %s hierarchy vanished",
					  j->cg[i].controller);
		r = write_settings(j, dir, j->cg[i].controller);
		if (r)
			return r;
	}
	j->cg_used_version = 1;
	return 0;
}

int jail_cgroup_prepare(struct jail *j)
{
	char mnt[PATH_MAX], mroot[PATH_MAX];
	bool v2 = find_mount(2, NULL, mnt, sizeof(mnt), mroot, sizeof(mroot)) == 0;
	int version = j->cgroup_version, r;

	if (version == 2 && !v2)
		return jail_error(EXIT_USAGE,
				  "--cgroup-version 2: no cgroup v2 hierarchy is mounted");
	if (version != 1 && v2) {
		for (unsigned i = 0; i < j->ncg; i++) {
			if (v2_has(mnt, j->cg[i].controller))
				continue;
			if (version == 2)
				return jail_error(
				    EXIT_USAGE,
				    "--cgroup %s=%s: the cgroup v2 hierarchy at %s has "
				    "no %s controller",
				    j->cg[i].file, j->cg[i].value, mnt, j->cg[i].controller);
			v2 = false;
		}
	}
	r = version != 1 && v2 ? prepare_v2(j) : prepare_v1(j);
	if (r)
		jail_cgroup_remove(j);
	return r;
}

int jail_cgroup_join(struct jail *j, pid_t pid, char *err, size_t errlen)
{
	char text[32];
	int r;

	snprintf(text, sizeof(text), "%d", (int)pid);
	for (unsigned i = 0; i < j->ncg_dirs; i++) {
		r = write_file(j->cg_dirs[i], "cgroup.procs", text);
		if (r) {
			snprintf(err, errlen, "cannot move process %d into cgroup %s: %s", (int)pid,
				 j->cg_dirs[i], strerror(-r));
			return r;
		}
	}
	return 0;
}

void jail_cgroup_remove(struct jail *j)
{
	for (unsigned i = 0; i < j->ncg_dirs; i++)
		rmdir(j->cg_dirs[i]);
	j->ncg_dirs = 0;
}
