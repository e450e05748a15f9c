// SPDX-License-Identifier: MIT
/* Tests for the serial console back-ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/console.h"

#define WAIT_MS 5000 /* upper bound for an event that must come */

static char tmpdir[64];

static int setup_tmpdir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/hearth-console-XXXXXX");
	if (!mkdtemp(tmpdir))
		return -1;
	signal(SIGPIPE, SIG_IGN); /* as the VMM does */
	return 0;
}

static int remove_tmpdir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void tmp_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
}

static bool wait_readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};

	return poll(&p, 1, WAIT_MS) == 1;
}

/* Read exactly len bytes from fd, waiting for each part. */
static void read_exact(int fd, uint8_t *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n;

		assert_true(wait_readable(fd));
		n = read(fd, buf + done, len - done);
		assert_true(n > 0);
		done += (size_t)n;
	}
}

/* Poll the console's input fd and read once; the bytes go to buf. */
static ssize_t console_poll_read(struct console *c, uint8_t *buf, size_t cap,
				 enum console_event *ev)
{
	int fd = console_input_fd(c);

	assert_true(fd >= 0);
	assert_true(wait_readable(fd));
	return console_read_input(c, buf, cap, ev);
}

/* ---- spec parsing ---- */

static void test_parse_good(void **state)
{
	enum console_kind kind;
	const char *path = "x";
	char err[128];
	const char *spec;

	assert_int_equal(console_parse("stdio", &kind, &path, err, sizeof(err)), 0);
	assert_int_equal(kind, CONSOLE_STDIO);
	assert_null(path);
	assert_int_equal(console_parse("pty", &kind, &path, err, sizeof(err)), 0);
	assert_int_equal(kind, CONSOLE_PTY);
	assert_int_equal(console_parse("none", &kind, &path, err, sizeof(err)), 0);
	assert_int_equal(kind, CONSOLE_NONE);
	assert_null(path);
	spec = "file:/var/log/guest.log";
	assert_int_equal(console_parse(spec, &kind, &path, err, sizeof(err)), 0);
	assert_int_equal(kind, CONSOLE_FILE);
	assert_ptr_equal(path, spec + 5);
	assert_string_equal(path, "/var/log/guest.log");
	spec = "socket:rel/console.sock";
	assert_int_equal(console_parse(spec, &kind, &path, err, sizeof(err)), 0);
	assert_int_equal(kind, CONSOLE_SOCKET);
	assert_string_equal(path, "rel/console.sock");
	/* A path may itself contain colons. */
	assert_int_equal(console_parse("file:a:b", &kind, &path, err, sizeof(err)), 0);
	assert_string_equal(path, "a:b");
}

static void test_parse_bad(void **state)
{
	static const char *const bad[] = {
	    "",	     "bogus",	"stdio2", "STDIO",  " pty",
	    "file:", "socket:", "file",	  "socket", "tcp:1234",
	};
	char longpath[300];
	enum console_kind kind;
	const char *path;
	char err[160];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(console_parse(bad[i], &kind, &path, err, sizeof(err)), -1);
		assert_true(strlen(err) > 0);
		assert_null(strchr(err, '\n'));
	}
	assert_int_equal(console_parse(NULL, &kind, &path, err, sizeof(err)), -1);
	/* sun_path holds 107 bytes and a NUL. */
	memset(longpath, 'a', sizeof(longpath));
	memcpy(longpath, "socket:", 7);
	longpath[7 + 108] = '\0';
	assert_int_equal(console_parse(longpath, &kind, &path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	longpath[7 + 107] = '\0';
	assert_int_equal(console_parse(longpath, &kind, &path, err, sizeof(err)), 0);
	/* A truncated message is still terminated. */
	assert_int_equal(console_parse("bogus", &kind, &path, err, 8), -1);
	assert_int_equal(strlen(err), 7);
}

/* ---- escape keys ---- */

static size_t filter(struct console_escape *esc, const char *in, size_t len, char *out,
		     unsigned int *actions)
{
	size_t n;

	memcpy(out, in, len);
	n = console_escape_filter(esc, (uint8_t *)out, len, actions);
	out[n] = '\0';
	return n;
}

static void test_escape_filter(void **state)
{
	struct console_escape esc = {0};
	unsigned int act;
	char out[64];

	assert_int_equal(filter(&esc, "hello\r", 6, out, &act), 6);
	assert_string_equal(out, "hello\r");
	assert_int_equal(act, 0);

	/* Ctrl-A x quits; bytes before it still go to the guest, after it not. */
	assert_int_equal(filter(&esc, "ab\001xcd", 6, out, &act), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(act, CONSOLE_ESC_QUIT);
	assert_false(esc.pending);

	/* Ctrl-A Ctrl-A is one Ctrl-A; a following x is a plain x. */
	assert_int_equal(filter(&esc, "\001\001x", 3, out, &act), 2);
	assert_memory_equal(out, "\001x", 2);
	assert_int_equal(act, 0);

	/* Help: h and ?, not sent to the guest. */
	assert_int_equal(filter(&esc, "1\001h2\001?3", 7, out, &act), 3);
	assert_string_equal(out, "123");
	assert_int_equal(act, CONSOLE_ESC_HELP);

	/* Other keys after Ctrl-A are swallowed with it. */
	assert_int_equal(filter(&esc, "\001c\001z\001\r.", 7, out, &act), 1);
	assert_string_equal(out, ".");
	assert_int_equal(act, 0);

	/* An escape split across two reads. */
	assert_int_equal(filter(&esc, "ab\001", 3, out, &act), 2);
	assert_true(esc.pending);
	assert_int_equal(act, 0);
	assert_int_equal(filter(&esc, "x", 1, out, &act), 0);
	assert_int_equal(act, CONSOLE_ESC_QUIT);
	assert_int_equal(filter(&esc, "\001", 1, out, &act), 0);
	assert_int_equal(filter(&esc, "\001q", 2, out, &act), 2);
	assert_memory_equal(out, "\001q", 2);

	/* Empty input keeps the state. */
	assert_int_equal(filter(&esc, "\001", 1, out, &act), 0);
	assert_int_equal(filter(&esc, "", 0, out, &act), 0);
	assert_true(esc.pending);
	assert_int_equal(filter(&esc, "h", 1, out, &act), 0);
	assert_int_equal(act, CONSOLE_ESC_HELP);

	assert_non_null(strstr(console_escape_help(), "Ctrl-A x"));
}

/* ---- none ---- */

static void test_none(void **state)
{
	enum console_event ev = CONSOLE_EV_QUIT;
	char err[128];
	uint8_t buf[8];
	struct console *c = console_open(CONSOLE_NONE, NULL, err, sizeof(err));

	assert_non_null(c);
	assert_int_equal(console_input_fd(c), -1);
	assert_null(console_path(c));
	console_write(c, (const uint8_t *)"discard", 7);
	assert_int_equal(console_read_input(c, buf, sizeof(buf), &ev), 0);
	assert_int_equal(ev, CONSOLE_EV_NONE);
	console_close(c);
	console_close(NULL);
}

/* ---- file: ---- */

/* Redirect stderr into a file while fn runs; returns what was written. */
static char *capture_stderr_begin(int *saved)
{
	char path[128];
	int fd;

	tmp_path(path, sizeof(path), "stderr.txt");
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	*saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
	return strdup(path);
}

static char *capture_stderr_end(int saved, char *path)
{
	char *text = calloc(1, 65536);
	FILE *f;

	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(text);
	if (fread(text, 1, 65535, f) == 0)
		text[0] = '\0';
	fclose(f);
	free(path);
	return text;
}

static size_t count_substr(const char *s, const char *sub)
{
	size_t n = 0;

	for (const char *p = strstr(s, sub); p; p = strstr(p + 1, sub))
		n++;
	return n;
}

static void test_file_truncates_and_caps(void **state)
{
	const size_t chunk = 64 * 1024 + 3;
	char path[128], err[256], *cap_path, *log;
	uint8_t *buf = malloc(chunk);
	struct console *c;
	struct stat st;
	size_t total = 0;
	int fd, saved;

	assert_non_null(buf);
	memset(buf, 'g', chunk);
	tmp_path(path, sizeof(path), "serial.log");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "old contents", 12), 12);
	close(fd);

	c = console_open(CONSOLE_FILE, path, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(console_path(c), path);
	assert_int_equal(console_input_fd(c), -1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 0); /* truncated */

	console_write(c, (const uint8_t *)"boot\n", 5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);

	cap_path = capture_stderr_begin(&saved);
	total = 5;
	while (total < CONSOLE_FILE_MAX_BYTES + 3 * chunk) {
		console_write(c, buf, chunk);
		total += chunk;
	}
	console_write(c, (const uint8_t *)"late", 4);
	log = capture_stderr_end(saved, cap_path);

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, CONSOLE_FILE_MAX_BYTES);
	assert_int_equal(console_dropped_bytes(c), total + 4 - CONSOLE_FILE_MAX_BYTES);
	assert_int_equal(count_substr(log, "limit"), 1);
	assert_non_null(strstr(log, path));
	free(log);
	console_close(c);
	free(buf);

	/* A new file is created with mode 0600. */
	unlink(path);
	c = console_open(CONSOLE_FILE, path, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	console_close(c);

	/* A file that cannot be created: NULL and a message. */
	tmp_path(path, sizeof(path), "no/such/dir/log");
	err[0] = '\0';
	assert_null(console_open(CONSOLE_FILE, path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
	assert_null(console_open(CONSOLE_FILE, NULL, err, sizeof(err)));
}

struct writer_arg {
	struct console *c;
	char ch;
};

#define WRITER_LEN    1000
#define WRITER_ROUNDS 200
#define WRITERS	      4

static void *writer(void *opaque)
{
	struct writer_arg *a = opaque;
	uint8_t buf[WRITER_LEN];

	memset(buf, a->ch, sizeof(buf));
	for (int i = 0; i < WRITER_ROUNDS; i++)
		console_write(a->c, buf, sizeof(buf));
	return NULL;
}

/* Writes from several threads do not interleave inside one buffer. */
static void test_writes_do_not_interleave(void **state)
{
	pthread_t th[WRITERS];
	struct writer_arg args[WRITERS];
	char path[128], err[256];
	uint8_t *data;
	size_t counts[WRITERS] = {0};
	struct console *c;
	FILE *f;
	size_t n;

	tmp_path(path, sizeof(path), "threads.log");
	c = console_open(CONSOLE_FILE, path, err, sizeof(err));
	assert_non_null(c);
	for (int i = 0; i < WRITERS; i++) {
		args[i].c = c;
		args[i].ch = (char)('A' + i);
		assert_int_equal(pthread_create(&th[i], NULL, writer, &args[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(th[i], NULL);
	console_close(c);

	data = malloc(WRITERS * WRITER_ROUNDS * WRITER_LEN + 1);
	assert_non_null(data);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(data, 1, WRITERS * WRITER_ROUNDS * WRITER_LEN + 1, f);
	fclose(f);
	assert_int_equal(n, WRITERS * WRITER_ROUNDS * WRITER_LEN);
	for (size_t off = 0; off < n; off += WRITER_LEN) {
		uint8_t ch = data[off];

		assert_true(ch >= 'A' && ch < 'A' + WRITERS);
		for (size_t i = 1; i < WRITER_LEN; i++)
			assert_int_equal(data[off + i], ch);
		counts[ch - 'A']++;
	}
	for (int i = 0; i < WRITERS; i++)
		assert_int_equal(counts[i], WRITER_ROUNDS);
	free(data);
}

/* ---- socket: ---- */

static int connect_client(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void test_socket_roundtrip(void **state)
{
	char path[128], err[256];
	enum console_event ev;
	uint8_t buf[64];
	struct console *c;
	struct stat st;
	int a, b, fd;
	ssize_t n;

	tmp_path(path, sizeof(path), "console.sock");
	c = console_open(CONSOLE_SOCKET, path, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	fd = console_input_fd(c);
	assert_true(fd >= 0);

	/* Output with no client is dropped without trouble. */
	console_write(c, (const uint8_t *)"lost", 4);

	a = connect_client(path);
	n = console_poll_read(c, buf, sizeof(buf), &ev); /* accepts */
	assert_int_equal(n, 0);
	assert_int_equal(ev, CONSOLE_EV_NONE);

	assert_int_equal(write(a, "ls\r", 3), 3);
	n = console_poll_read(c, buf, sizeof(buf), &ev);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, "ls\r", 3);
	assert_int_equal(ev, CONSOLE_EV_NONE);

	/* Escapes are not interpreted on a socket. */
	assert_int_equal(write(a, "\001x", 2), 2);
	n = console_poll_read(c, buf, sizeof(buf), &ev);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, "\001x", 2);
	assert_int_equal(ev, CONSOLE_EV_NONE);

	console_write(c, (const uint8_t *)"guest says hi", 13);
	read_exact(a, buf, 13);
	assert_memory_equal(buf, "guest says hi", 13);

	/* A second client is refused while the first is attached. */
	b = connect_client(path);
	n = console_poll_read(c, buf, sizeof(buf), &ev);
	assert_int_equal(n, 0);
	assert_true(wait_readable(b));
	assert_int_equal(read(b, buf, sizeof(buf)), 0); /* closed by hearth */
	close(b);
	console_write(c, (const uint8_t *)"still a", 7);
	read_exact(a, buf, 7);
	assert_memory_equal(buf, "still a", 7);

	/* The first one leaves; a new one may attach. */
	close(a);
	n = console_poll_read(c, buf, sizeof(buf), &ev);
	assert_int_equal(n, 0);
	assert_int_equal(ev, CONSOLE_EV_NONE);
	console_write(c, (const uint8_t *)"nobody", 6);
	b = connect_client(path);
	n = console_poll_read(c, buf, sizeof(buf), &ev);
	assert_int_equal(n, 0);
	console_write(c, (const uint8_t *)"to b", 4);
	read_exact(b, buf, 4);
	assert_memory_equal(buf, "to b", 4); /* nothing from before b attached */
	assert_int_equal(console_input_fd(c), fd);

	console_close(c);
	assert_int_equal(lstat(path, &st), -1); /* removed */
	assert_true(wait_readable(b));
	assert_int_equal(read(b, buf, sizeof(buf)), 0);
	close(b);
}

/* A client that never reads does not stop console_write(). */
static void test_socket_stalled_client(void **state)
{
	char path[128], err[256], want[128], *cap_path, *log;
	enum console_event ev;
	uint8_t buf[4096];
	struct console *c;
	uint64_t dropped;
	size_t got;
	ssize_t n;
	int a, saved;

	tmp_path(path, sizeof(path), "stall.sock");
	c = console_open(CONSOLE_SOCKET, path, err, sizeof(err));
	assert_non_null(c);
	a = connect_client(path);
	assert_int_equal(console_poll_read(c, buf, sizeof(buf), &ev), 0);
	memset(buf, 'z', sizeof(buf));
	cap_path = capture_stderr_begin(&saved);
	for (int i = 0; i < 2048; i++) /* 8 MiB: far more than a socket buffer */
		console_write(c, buf, sizeof(buf));
	/* The client still gets what fit and the connection is intact. */
	assert_true(wait_readable(a));
	assert_int_equal(read(a, buf, 1), 1);
	assert_int_equal(buf[0], 'z');
	got = 1;
	while ((n = recv(a, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
		got += (size_t)n;
	/* Every byte is either delivered or counted as dropped. */
	dropped = console_dropped_bytes(c);
	assert_int_equal(dropped, 2048 * sizeof(buf) - got);
	/* The reader drained: the next write goes through and the stall's end is logged. */
	console_write(c, (const uint8_t *)"end", 3);
	log = capture_stderr_end(saved, cap_path);
	assert_int_equal(count_substr(log, "took no output"), 1);
	snprintf(want, sizeof(want), "the reader is back; %llu bytes of output were dropped",
		 (unsigned long long)dropped);
	assert_non_null(strstr(log, want));
	assert_int_equal(console_dropped_bytes(c), dropped);
	free(log);
	assert_true(wait_readable(a));
	assert_int_equal(read(a, buf, sizeof(buf)), 3);
	assert_memory_equal(buf, "end", 3);
	close(a);
	console_close(c);
}

#define SOCK_CHUNK   (48 * 1024)
#define SOCK_ROUNDS  16
#define SOCK_WRITERS 3

struct sock_writer_arg {
	struct console *c;
	char ch;
};

static void *sock_writer(void *opaque)
{
	struct sock_writer_arg *a = opaque;
	uint8_t *buf = malloc(SOCK_CHUNK);

	if (!buf)
		return NULL;
	memset(buf, a->ch, SOCK_CHUNK);
	buf[0] = '<';
	buf[SOCK_CHUNK - 1] = '>';
	for (int i = 0; i < SOCK_ROUNDS; i++)
		console_write(a->c, buf, SOCK_CHUNK);
	free(buf);
	return NULL;
}

struct sock_reader_arg {
	int fd;
	uint8_t *data;
	size_t len, cap;
};

static void *sock_reader(void *opaque)
{
	struct sock_reader_arg *a = opaque;
	ssize_t n;

	while (a->len < a->cap && (n = read(a->fd, a->data + a->len, a->cap - a->len)) > 0)
		a->len += (size_t)n;
	return NULL;
}

/*
 * Writes bigger than the socket's buffer go out in pieces; pieces of two
 * threads' buffers must not interleave. Each buffer is "<" + body + ">";
 * output dropped by a stall may cut a buffer short, but what follows a cut
 * is always the start of another buffer.
 */
static void test_socket_writes_do_not_interleave(void **state)
{
	char path[128], err[256];
	pthread_t th[SOCK_WRITERS], rd;
	struct sock_writer_arg args[SOCK_WRITERS];
	struct sock_reader_arg ra = {0};
	enum console_event ev;
	uint8_t tmp[8];
	struct console *c;
	size_t i, complete = 0;
	int rcvbuf = 4096;

	tmp_path(path, sizeof(path), "interleave.sock");
	c = console_open(CONSOLE_SOCKET, path, err, sizeof(err));
	assert_non_null(c);
	ra.fd = connect_client(path);
	setsockopt(ra.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	assert_int_equal(console_poll_read(c, tmp, sizeof(tmp), &ev), 0);
	ra.cap = (size_t)SOCK_CHUNK * SOCK_ROUNDS * SOCK_WRITERS;
	ra.data = malloc(ra.cap);
	assert_non_null(ra.data);
	assert_int_equal(pthread_create(&rd, NULL, sock_reader, &ra), 0);
	for (int t = 0; t < SOCK_WRITERS; t++) {
		args[t].c = c;
		args[t].ch = (char)('a' + t);
		assert_int_equal(pthread_create(&th[t], NULL, sock_writer, &args[t]), 0);
	}
	for (int t = 0; t < SOCK_WRITERS; t++)
		pthread_join(th[t], NULL);
	console_close(c); /* the reader sees the end */
	pthread_join(rd, NULL);
	close(ra.fd);

	assert_true(ra.len > 0);
	for (i = 0; i < ra.len;) {
		size_t start = i;
		uint8_t ch;

		assert_int_equal(ra.data[i], '<');
		i++;
		if (i == ra.len)
			break;
		ch = ra.data[i];
		assert_true(ch >= 'a' && ch < 'a' + SOCK_WRITERS);
		while (i < ra.len && ra.data[i] == ch && i - start < SOCK_CHUNK - 1)
			i++;
		if (i < ra.len && ra.data[i] == '>') {
			assert_int_equal(i - start, SOCK_CHUNK - 1);
			complete++;
			i++;
		}
	}
	assert_true(complete > 0);
	free(ra.data);
}

static void test_socket_path_rules(void **state)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	char path[128], err[256];
	struct console *c, *c2;
	struct stat st;
	int fd;

	/* An existing regular file is not replaced. */
	tmp_path(path, sizeof(path), "precious");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "keep", 4), 4);
	close(fd);
	err[0] = '\0';
	assert_null(console_open(CONSOLE_SOCKET, path, err, sizeof(err)));
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 4);

	/* A stale socket (nobody listens) is replaced. */
	tmp_path(path, sizeof(path), "stale.sock");
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	assert_int_equal(lstat(path, &st), 0);
	c = console_open(CONSOLE_SOCKET, path, err, sizeof(err));
	assert_non_null(c);

	/* A socket in use is not taken over, and its file stays. */
	c2 = console_open(CONSOLE_SOCKET, path, err, sizeof(err));
	assert_null(c2);
	assert_non_null(strstr(err, "in use"));
	assert_int_equal(lstat(path, &st), 0);
	close(connect_client(path)); /* the first console still listens */
	console_close(c);
	assert_int_equal(lstat(path, &st), -1);

	/* A directory that does not exist. */
	tmp_path(path, sizeof(path), "no/such/dir.sock");
	assert_null(console_open(CONSOLE_SOCKET, path, err, sizeof(err)));
	assert_non_null(strstr(err, path));
}

/* ---- pty ---- */

static void test_pty_roundtrip(void **state)
{
	char err[256];
	enum console_event ev;
	struct termios t;
	uint8_t buf[256];
	struct console *c;
	const char *name;
	int s;
	ssize_t n;

	c = console_open(CONSOLE_PTY, NULL, err, sizeof(err));
	assert_non_null(c);
	name = console_path(c);
	assert_non_null(name);
	assert_memory_equal(name, "/dev/pts/", 9);

	s = open(name, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	assert_int_equal(tcgetattr(s, &t), 0);
	assert_int_equal(t.c_lflag & (ECHO | ICANON | ISIG), 0); /* raw */
	assert_int_equal(t.c_oflag & OPOST, 0);

	assert_int_equal(write(s, "in\r\003", 4), 4);
	n = console_poll_read(c, buf, sizeof(buf), &ev);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "in\r\003", 4);
	assert_int_equal(ev, CONSOLE_EV_NONE);

	console_write(c, (const uint8_t *)"out\n", 4);
	read_exact(s, buf, 4);
	assert_memory_equal(buf, "out\n", 4); /* no \n -> \r\n translation */

	/* The client leaves and comes back: no end of input, still works. */
	close(s);
	console_write(c, (const uint8_t *)"x", 1);
	s = open(name, O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	assert_int_equal(write(s, "again", 5), 5);
	n = console_poll_read(c, buf, sizeof(buf), &ev);
	assert_int_equal(ev, CONSOLE_EV_NONE);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, "again", 5);
	close(s);
	console_close(c);
}

/* Nobody reads the pty: output neither blocks nor piles up; the newest stays. */
static void test_pty_unread_output_bounded(void **state)
{
	static uint8_t big[1 << 20];
	char err[256];
	uint8_t buf[4096];
	struct console *c;
	size_t total = 0, n_read;
	int s, fl;
	ssize_t n;

	c = console_open(CONSOLE_PTY, NULL, err, sizeof(err));
	assert_non_null(c);
	memset(big, '.', sizeof(big));
	for (int i = 0; i < 8; i++)
		console_write(c, big, sizeof(big));
	console_write(c, (const uint8_t *)"END", 3);

	s = open(console_path(c), O_RDWR | O_NOCTTY);
	assert_true(s >= 0);
	fl = fcntl(s, F_GETFL);
	fcntl(s, F_SETFL, fl | O_NONBLOCK);
	n_read = 0;
	buf[0] = 0;
	for (;;) {
		n = read(s, buf, sizeof(buf));
		if (n <= 0)
			break;
		total += (size_t)n;
		n_read = (size_t)n;
		if (n_read >= 3 && memcmp(buf + n_read - 3, "END", 3) == 0)
			break;
	}
	/* What waited for us is bounded by the kernel's buffer and ends with the newest. */
	assert_true(total >= 3);
	assert_true(total < 1 << 20);
	assert_true(n_read >= 3);
	assert_memory_equal(buf + n_read - 3, "END", 3);
	close(s);
	console_close(c);
}

/* ---- stdio ---- */

struct fake_tty {
	int master, slave;
	struct termios orig;
	int saved_in, saved_out;
};

/* Put a new pty's slave on stdin and stdout, as a terminal would be. */
static void fake_tty_attach(struct fake_tty *t)
{
	struct termios cooked;

	assert_int_equal(openpty(&t->master, &t->slave, NULL, NULL, NULL), 0);
	assert_int_equal(tcgetattr(t->slave, &cooked), 0);
	cooked.c_lflag |= ECHO | ICANON | ISIG | IEXTEN;
	cooked.c_iflag |= ICRNL;
	cooked.c_oflag |= OPOST;
	assert_int_equal(tcsetattr(t->slave, TCSANOW, &cooked), 0);
	assert_int_equal(tcgetattr(t->slave, &t->orig), 0);
	fflush(stdout);
	t->saved_in = dup(STDIN_FILENO);
	t->saved_out = dup(STDOUT_FILENO);
	dup2(t->slave, STDIN_FILENO);
	dup2(t->slave, STDOUT_FILENO);
}

static void fake_tty_detach(struct fake_tty *t)
{
	dup2(t->saved_in, STDIN_FILENO);
	dup2(t->saved_out, STDOUT_FILENO);
	close(t->saved_in);
	close(t->saved_out);
}

static void fake_tty_close(struct fake_tty *t)
{
	close(t->slave);
	close(t->master);
}

static bool same_termios(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc)) == 0;
}

/* Drain and return what hearth wrote to the terminal. */
static size_t tty_output(int master, char *buf, size_t cap)
{
	size_t done = 0;
	struct pollfd p = {.fd = master, .events = POLLIN};

	while (done + 1 < cap && poll(&p, 1, done ? 50 : WAIT_MS) == 1) {
		ssize_t n = read(master, buf + done, cap - 1 - done);

		if (n <= 0)
			break;
		done += (size_t)n;
		if (done >= 5 && strstr(buf, "quit"))
			break;
	}
	buf[done] = '\0';
	return done;
}

static void test_stdio_terminal(void **state)
{
	struct fake_tty t;
	struct termios during, after;
	enum console_event ev1 = CONSOLE_EV_NONE, ev2 = CONSOLE_EV_NONE, ev3 = CONSOLE_EV_NONE;
	char err[256], out[4096], help[4096];
	uint8_t in1[64], in2[64], in3[64];
	ssize_t n1, n2, n3;
	struct console *c, *second;
	int infd;

	fake_tty_attach(&t);
	c = console_open(CONSOLE_STDIO, NULL, err, sizeof(err));
	second = console_open(CONSOLE_STDIO, NULL, err, sizeof(err));
	tcgetattr(t.slave, &during);
	infd = c ? console_input_fd(c) : -2;
	if (c) {
		console_write(c, (const uint8_t *)"guest>", 6);
		/* Input: plain bytes, Ctrl-A Ctrl-A, help, then quit. */
		if (write(t.master, "ls\001\001\001h", 6) == 6) {
			struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};

			poll(&p, 1, WAIT_MS);
			n1 = console_read_input(c, in1, sizeof(in1), &ev1);
		} else {
			n1 = -1;
		}
		tty_output(t.master, help, sizeof(help));
		if (write(t.master, "q\001x", 3) == 3) {
			struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};

			poll(&p, 1, WAIT_MS);
			n2 = console_read_input(c, in2, sizeof(in2), &ev2);
		} else {
			n2 = -1;
		}
		/* Nothing pending: returns at once with nothing. */
		n3 = console_read_input(c, in3, sizeof(in3), &ev3);
	}
	console_close(c);
	tcgetattr(t.slave, &after);
	fake_tty_detach(&t);

	assert_non_null(c);
	assert_null(second);
	assert_non_null(strstr(err, "only one"));
	assert_int_equal(infd, STDIN_FILENO);
	/* Raw while open: no echo, no line editing, no signals, no CR->NL. */
	assert_int_equal(during.c_lflag & (ECHO | ICANON | ISIG | IEXTEN), 0);
	assert_int_equal(during.c_iflag & (ICRNL | IXON), 0);
	assert_int_equal(during.c_cc[VMIN], 1);
	assert_true(same_termios(&after, &t.orig));

	assert_int_equal(n1, 3);
	assert_memory_equal(in1, "ls\001", 3);
	assert_int_equal(ev1, CONSOLE_EV_NONE);
	assert_non_null(strstr(help, "guest>"));
	assert_non_null(strstr(help, "Ctrl-A x"));
	assert_int_equal(n2, 1);
	assert_memory_equal(in2, "q", 1);
	assert_int_equal(ev2, CONSOLE_EV_QUIT);
	assert_int_equal(n3, 0);
	assert_int_equal(ev3, CONSOLE_EV_NONE);
	(void)out;
	fake_tty_close(&t);
}

/* stdin a pipe: bytes pass untouched, end of input is reported once. */
static void test_stdio_pipe(void **state)
{
	enum console_event ev1, ev2, ev3;
	int p[2], saved_in;
	char err[256];
	uint8_t buf[64];
	ssize_t n1, n2, n3;
	struct console *c;
	int fd_after;

	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], "a\001xb", 4), 4);
	close(p[1]);
	saved_in = dup(STDIN_FILENO);
	dup2(p[0], STDIN_FILENO);
	close(p[0]);
	c = console_open(CONSOLE_STDIO, NULL, err, sizeof(err));
	assert_non_null(c);
	assert_int_equal(console_input_fd(c), STDIN_FILENO);
	n1 = console_read_input(c, buf, sizeof(buf), &ev1);
	n2 = console_read_input(c, buf + 8, sizeof(buf) - 8, &ev2);
	fd_after = console_input_fd(c);
	n3 = console_read_input(c, buf + 8, sizeof(buf) - 8, &ev3);
	console_close(c);
	dup2(saved_in, STDIN_FILENO);
	close(saved_in);

	assert_int_equal(n1, 4);
	assert_memory_equal(buf, "a\001xb", 4);
	assert_int_equal(ev1, CONSOLE_EV_NONE);
	assert_int_equal(n2, 0);
	assert_int_equal(ev2, CONSOLE_EV_EOF);
	assert_int_equal(fd_after, -1);
	assert_int_equal(n3, 0);
	assert_int_equal(ev3, CONSOLE_EV_NONE);
}

/* stdout a pipe nobody drains: console_write() returns anyway. */
static void test_stdio_stuck_stdout(void **state)
{
	static uint8_t big[256 * 1024];
	int p[2], saved_out, fl;
	char err[256];
	struct console *c;
	uint8_t first;

	assert_int_equal(pipe(p), 0);
	fflush(stdout);
	saved_out = dup(STDOUT_FILENO);
	dup2(p[1], STDOUT_FILENO);
	close(p[1]);
	c = console_open(CONSOLE_STDIO, NULL, err, sizeof(err));
	memset(big, 's', sizeof(big));
	for (int i = 0; i < 16 && c; i++)
		console_write(c, big, sizeof(big));
	console_close(c);
	/* Our stdout is untouched: still blocking. */
	fl = fcntl(STDOUT_FILENO, F_GETFL);
	dup2(saved_out, STDOUT_FILENO);
	close(saved_out);

	assert_non_null(c);
	assert_int_equal(fl & O_NONBLOCK, 0);
	assert_int_equal(read(p[0], &first, 1), 1);
	assert_int_equal(first, 's');
	close(p[0]);
}

/* The terminal comes back on every way out of a child process. */
enum exit_way {
	EXIT_ATEXIT,
	EXIT_SIGTERM,
	EXIT_ABORT,
	EXIT_SEGV,
	EXIT_SEGV_CHAINED,
	EXIT_RESTORE_FN,
};

/* A handler installed before the console's: must still run after it. */
static void earlier_segv_handler(int sig)
{
	_exit(42);
}

/* Global, so that a leak checker at exit() finds the deliberately unclosed console reachable. */
static struct console *volatile child_console;

static void child_run(int slave, enum exit_way way)
{
	char err[256];
	struct console *c;
	volatile uint8_t *page;

	/* The test framework's own handlers would take the child back into it. */
	signal(SIGSEGV, way == EXIT_SEGV_CHAINED ? earlier_segv_handler : SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	dup2(slave, STDIN_FILENO);
	c = console_open(CONSOLE_STDIO, NULL, err, sizeof(err));
	if (!c)
		_exit(99);
	child_console = c;
	switch (way) {
	case EXIT_ATEXIT:
		exit(0); /* without console_close() */
	case EXIT_SIGTERM:
		raise(SIGTERM);
		break;
	case EXIT_ABORT:
		abort();
	case EXIT_SEGV:
	case EXIT_SEGV_CHAINED:
		page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (page == MAP_FAILED)
			_exit(98);
		page[0] = 1;
		break;
	case EXIT_RESTORE_FN:
		/* What the VMM's own signal handler does before _exit(). */
		console_restore_terminal();
		_exit(7);
	}
	_exit(97);
}

static void check_exit_way(enum exit_way way)
{
	struct termios orig, after;
	int master, slave, status;
	pid_t pid;

	assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
	assert_int_equal(tcgetattr(slave, &orig), 0);
	assert_true((orig.c_lflag & ICANON) != 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_run(slave, way);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(tcgetattr(slave, &after), 0);
	assert_true(same_termios(&orig, &after));
	switch (way) {
	case EXIT_ATEXIT:
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		break;
	case EXIT_SIGTERM:
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGTERM);
		break;
	case EXIT_ABORT:
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGABRT);
		break;
	case EXIT_SEGV:
		assert_true(WIFSIGNALED(status));
		assert_int_equal(WTERMSIG(status), SIGSEGV);
		break;
	case EXIT_SEGV_CHAINED:
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 42);
		break;
	case EXIT_RESTORE_FN:
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 7);
		break;
	}
	close(slave);
	close(master);
}

static void test_stdio_restore_on_exit(void **state)
{
	check_exit_way(EXIT_ATEXIT);
	check_exit_way(EXIT_RESTORE_FN);
}

static void test_stdio_restore_on_signals(void **state)
{
	check_exit_way(EXIT_SIGTERM);
	check_exit_way(EXIT_ABORT);
	check_exit_way(EXIT_SEGV);
	check_exit_way(EXIT_SEGV_CHAINED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_escape_filter),
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_file_truncates_and_caps),
	    cmocka_unit_test(test_writes_do_not_interleave),
	    cmocka_unit_test(test_socket_roundtrip),
	    cmocka_unit_test(test_socket_stalled_client),
	    cmocka_unit_test(test_socket_writes_do_not_interleave),
	    cmocka_unit_test(test_socket_path_rules),
	    cmocka_unit_test(test_pty_roundtrip),
	    cmocka_unit_test(test_pty_unread_output_bounded),
	    cmocka_unit_test(test_stdio_terminal),
	    cmocka_unit_test(test_stdio_pipe),
	    cmocka_unit_test(test_stdio_stuck_stdout),
	    cmocka_unit_test(test_stdio_restore_on_exit),
	    cmocka_unit_test(test_stdio_restore_on_signals),
	};
	return cmocka_run_group_tests(tests, setup_tmpdir, remove_tmpdir);
}
