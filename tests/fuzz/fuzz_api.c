/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the control API's request handling, without a socket. Each
 * input is a session of requests against a fresh API (api_start() with no
 * socket), each handed to api_route(), the function the HTTP server calls
 * for every request, so routing, JSON parsing and the validation of every
 * body run exactly as for a client. The input is text:
 *
 *   METHOD SP URL LF BODY, requests separated by a line "%%" (LF "%%" LF).
 *
 * Files: paths in bodies are opened (logger, metrics, serial output) or
 * looked at (kernel, drives). The target works in a private temporary
 * directory, skips requests whose body names anything outside it (a '/'
 * in any spelling), and empties the directory after each input; it holds
 * two files requests may name, "vmlinux" and "disk.img". Requests
 * that would hand work to the VMM thread (InstanceStart, snapshot load)
 * reach it through a closed channel and get their 500 answer at once.
 *
 * Oracles: the status is a valid HTTP code; an error status comes with a
 * JSON body holding a fault_message; a success carries no fault; GET / and
 * GET /vm/config always answer 200 with JSON.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api/api.h"
#include "api/api_priv.h"
#include "fuzz_util.h"

#define MAX_REQUESTS 32

static char workdir[256];
static int home_fd = -1; /* the directory the fuzzer runs in (its corpus paths are relative) */

/* At exit: the directory goes (it is empty between inputs). */
static void remove_workdir(void)
{
	rmdir(workdir);
}

/*
 * Work in a private directory while requests run: the bodies' relative
 * paths land there. leave_workdir() goes back.
 */
static void enter_workdir(void)
{
	const char *tmp = getenv("TMPDIR");

	if (!workdir[0]) {
		snprintf(workdir, sizeof(workdir), "%s/hearth-fuzz-api-XXXXXX", tmp ? tmp : "/tmp");
		FUZZ_CHECK(mkdtemp(workdir) != NULL);
		home_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		FUZZ_CHECK(home_fd >= 0);
		atexit(remove_workdir);
	}
	FUZZ_CHECK(chdir(workdir) == 0);
}

static void leave_workdir(void)
{
	FUZZ_CHECK(fchdir(home_fd) == 0);
}

/* Remove what the requests created (the directory is flat: only files). */
static void empty_workdir(void)
{
	DIR *d = opendir(".");
	struct dirent *e;

	FUZZ_CHECK(d != NULL);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(e->d_name);
	closedir(d);
}

/* A file of len bytes starting with head, for requests to name (a kernel, a disk image). */
static void make_file(const char *name, const char *head, off_t len)
{
	int fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, head, strlen(head)) == (ssize_t)strlen(head));
	FUZZ_CHECK(ftruncate(fd, len) == 0);
	close(fd);
}

/* Whether body[0, len) could name a path outside the working directory. */
static bool names_outside(const char *body, size_t len)
{
	if (memchr(body, '/', len))
		return true;
	for (size_t i = 0; i + 1 < len; i++) {
		if (body[i] != '\\')
			continue;
		if (i + 5 < len && body[i + 1] == 'u' && !strncasecmp(body + i + 2, "002f", 4))
			return true;
	}
	return false;
}

static void check_answer(const char *method, const char *url, int status, const char *out)
{
	FUZZ_CHECK(status >= 200 && status <= 599);
	if (status >= 400) {
		FUZZ_CHECK(out != NULL);
		FUZZ_CHECK(strstr(out, "\"fault_message\"") != NULL);
	} else if (status == 204) {
		FUZZ_CHECK(out == NULL);
	} else {
		FUZZ_CHECK(out != NULL && out[0] == '{');
	}
	if (!strcmp(method, "GET") && (!strcmp(url, "/") || !strcmp(url, "/vm/config")))
		FUZZ_CHECK(status == 200);
}

/* One request: "METHOD URL\nBODY" in req[0, len) (a writable copy). */
static void one_request(struct api *api, char *req, size_t len)
{
	char *nl = memchr(req, '\n', len), *sp, *body, *out = NULL;
	size_t body_len;
	int status;

	if (!nl)
		nl = req + len;
	body = nl < req + len ? nl + 1 : nl;
	body_len = (size_t)(req + len - body);
	*nl = '\0';
	sp = strchr(req, ' ');
	if (!sp || strlen(req) != (size_t)(nl - req))
		return;
	*sp = '\0';
	if (names_outside(body, body_len))
		return;
	body[body_len] = '\0'; /* the server NUL-terminates the body it collected */
	status = api_route(api, req, sp + 1, body, body_len, &out);
	FUZZ_TRACE("%s %s (%zu bytes) -> %d %s\n", req, sp + 1, body_len, status, out ? out : "");
	check_answer(req, sp + 1, status, out);
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vm_config cfg;
	struct api *api;
	char err[256], *copy;
	size_t pos = 0;
	unsigned n = 0;

	fuzz_quiet();
	if (size > API_MAX_BODY * 4)
		return 0;
	enter_workdir();
	make_file("vmlinux",
		  "\x7f"
		  "ELF",
		  4096);
	make_file("disk.img", "", 65536);
	memset(&cfg, 0, sizeof(cfg));
	api = api_start(NULL, &cfg, err, sizeof(err));
	FUZZ_CHECK(api != NULL);
	/* No VMM thread here: whatever needs it fails at once (500) instead of waiting. */
	close(api->efd);
	api->efd = -1;
	copy = malloc(size + 1);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, data, size);

	pthread_mutex_lock(&api->lock);
	while (pos < size && n++ < MAX_REQUESTS) {
		char *start = copy + pos, *sep = NULL;
		size_t len;

		for (size_t i = pos; i + 3 < size; i++)
			if (copy[i] == '\n' && copy[i + 1] == '%' && copy[i + 2] == '%' &&
			    copy[i + 3] == '\n') {
				sep = copy + i;
				break;
			}
		len = sep ? (size_t)(sep - start) : size - pos;
		pos = sep ? (size_t)(sep - copy) + 4 : size;
		one_request(api, start, len);
	}
	pthread_mutex_unlock(&api->lock);

	api_stop(api);
	free(copy);
	empty_workdir();
	leave_workdir();
	/* The logger may have been pointed at a file: back to quiet stderr. */
	log_set_output(-1);
	log_set_level(LOG_ERROR);
	return 0;
}
