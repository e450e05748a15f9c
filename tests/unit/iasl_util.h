/* SPDX-License-Identifier: MIT */
/*
 * Helpers for unit tests that check ACPI tables with ACPICA's iasl
 * (package acpica-tools): disassemble a table, compile the result again
 * and compare the bytes. Included by one test file each (static functions).
 */
#ifndef HEARTH_TESTS_IASL_UTIL_H
#define HEARTH_TESTS_IASL_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* iasl_path - the iasl executable found on PATH, or NULL. */
static const char *iasl_path(void)
{
	static char found[4096];
	const char *path = getenv("PATH");
	char *copy, *dir, *save = NULL;

	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	copy = strdup(path);
	if (!copy)
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(found, sizeof(found), "%s/iasl", dir);
		if (access(found, X_OK) == 0) {
			free(copy);
			return found;
		}
	}
	free(copy);
	return NULL;
}

/*
 * iasl_run - run iasl with args in dir; its stdout and stderr go to
 * out[0..outlen) (NUL-terminated). Returns the exit status, or -1.
 */
static int iasl_run(const char *dir, const char *const args[], char *out, size_t outlen)
{
	const char *iasl = iasl_path();
	const char *argv[16];
	int pipefd[2], status;
	size_t n = 0, i;
	ssize_t r;
	pid_t pid;

	if (!iasl || outlen == 0)
		return -1;
	argv[0] = iasl;
	for (i = 0; args[i] && i < 14; i++)
		argv[i + 1] = args[i];
	argv[i + 1] = NULL;
	if (pipe(pipefd) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		close(pipefd[0]);
		close(pipefd[1]);
		if (chdir(dir) < 0)
			_exit(126);
		execv(iasl, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	while ((r = read(pipefd[0], out + n, outlen - 1 - n)) > 0) {
		n += (size_t)r;
		if (n == outlen - 1) {
			char sink[256];

			while (read(pipefd[0], sink, sizeof(sink)) > 0)
				;
			break;
		}
	}
	out[n] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* iasl_write - write len bytes to dir/name. Returns 0 or -errno. */
static int iasl_write(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *f;
	size_t w;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f)
		return -errno;
	w = fwrite(data, 1, len, f);
	if (fclose(f) != 0 || w != len)
		return -EIO;
	return 0;
}

/* iasl_read - read dir/name into a new NUL-terminated buffer; NULL on error. */
static char *iasl_read(const char *dir, const char *name, size_t *len)
{
	char path[4096];
	struct stat st;
	char *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fstat(fileno(f), &st) < 0 || !(buf = malloc((size_t)st.st_size + 1))) {
		fclose(f);
		return NULL;
	}
	*len = fread(buf, 1, (size_t)st.st_size, f);
	buf[*len] = '\0';
	fclose(f);
	return buf;
}

static int iasl_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* iasl_rm_tree - remove a temporary directory and everything in it. */
static void iasl_rm_tree(const char *dir)
{
	nftw(dir, iasl_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
