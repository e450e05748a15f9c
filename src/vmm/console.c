// SPDX-License-Identifier: MIT
/* Serial console back-ends: stdio, pty, file, UNIX socket, none. */
#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

struct console {
	enum console_kind kind;
	pthread_mutex_t lock; /* serializes output, the client fd and the stall state */
	char *path;	      /* file or socket path, or the pty's slave path */

	/* output */
	int out_fd;		/* -1: output is dropped */
	bool own_out_fd;	/* out_fd is closed by console_close() */
	bool out_is_socket;	/* use send(MSG_NOSIGNAL | MSG_DONTWAIT) */
	bool stalled;		/* a write timed out: drop instead of waiting */
	uint64_t dropped;	/* output bytes dropped for a stalled reader, an error or the cap */
	uint64_t stall_dropped; /* of those, dropped in the current stall */
	bool warned_error;	/* a write error was logged */
	int help_fd;		/* where Ctrl-A h prints (stdio only) */

	/* input */
	int in_fd;	 /* descriptor read by console_read_input(), -1 if none */
	bool tty;	 /* stdio: stdin is a raw terminal, escapes active */
	bool owns_stdio; /* this is the one stdio console */
	bool eof;	 /* CONSOLE_EV_EOF was reported */
	struct console_escape esc;

	/* file: */
	uint64_t file_written;
	bool cap_warned;

	/* pty */
	int pty_master;
	int pty_slave; /* held open so that clients may come and go */

	/* socket: */
	int listen_fd;
	int client_fd; /* -1 while no client is attached; protected by lock */
	int epoll_fd;
	bool sock_created; /* the socket file at path is ours to remove */
	dev_t sock_dev;
	ino_t sock_ino;
};

/* ---- terminal state (stdio), shared with signal handlers ---- */

static struct termios term_orig;
static volatile sig_atomic_t term_saved;
static volatile sig_atomic_t term_fd = -1;
static bool stdio_in_use;
static bool atexit_registered;

static const int fatal_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static const int term_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
static struct sigaction old_actions[NSIG];
static bool sig_installed[NSIG];

void console_restore_terminal(void)
{
	int saved_errno = errno;

	if (term_saved && term_fd >= 0)
		tcsetattr(term_fd, TCSANOW, &term_orig);
	errno = saved_errno;
}

static void restore_at_exit(void)
{
	console_restore_terminal();
}

static bool is_fault_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE;
}

/*
 * Restore the terminal, put back whatever handled the signal before us and
 * let it act: a fault raised by the CPU happens again when we return; a
 * signal sent by someone (kill, raise, abort) is raised again.
 */
static void console_signal_handler(int sig, siginfo_t *si, void *uctx)
{
	int saved_errno = errno;

	console_restore_terminal();
	if (sig > 0 && sig < NSIG) {
		sigaction(sig, &old_actions[sig], NULL);
		sig_installed[sig] = false;
	}
	if (!is_fault_signal(sig) || !si || si->si_code <= 0)
		raise(sig);
	errno = saved_errno;
}

static void install_handler(int sig, bool only_if_default)
{
	struct sigaction sa, old;

	if (sig_installed[sig] || sigaction(sig, NULL, &old) < 0)
		return;
	if (only_if_default && (old.sa_flags & SA_SIGINFO || old.sa_handler != SIG_DFL))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = console_signal_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, &old_actions[sig]) == 0)
		sig_installed[sig] = true;
}

static void install_signal_handlers(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(fatal_signals); i++)
		install_handler(fatal_signals[i], false);
	for (size_t i = 0; i < ARRAY_SIZE(term_signals); i++)
		install_handler(term_signals[i], true);
}

/* Put back the previous handlers where ours is still the one installed. */
static void uninstall_signal_handlers(void)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction cur;

		if (!sig_installed[sig])
			continue;
		sig_installed[sig] = false;
		if (sigaction(sig, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
		    cur.sa_sigaction == console_signal_handler)
			sigaction(sig, &old_actions[sig], NULL);
	}
}

/* Raw input; output processing is left alone (see console.h). */
static void make_raw_input(struct termios *t)
{
	t->c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
	t->c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t->c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t->c_cflag |= CS8;
	t->c_cc[VMIN] = 1;
	t->c_cc[VTIME] = 0;
}

/* ---- spec parsing ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int console_parse(const char *spec, enum console_kind *kind, const char **path, char *err,
		  size_t errlen)
{
	static const struct {
		const char *name;
		enum console_kind kind;
	} simple[] = {
	    {"stdio", CONSOLE_STDIO},
	    {"pty", CONSOLE_PTY},
	    {"none", CONSOLE_NONE},
	};
	struct sockaddr_un sun;
	const char *p;

	if (!spec || !*spec) {
		set_err(err, errlen,
			"empty serial console spec (stdio, pty, file:PATH, "
			"socket:PATH or none)");
		return -1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(simple); i++) {
		if (strcmp(spec, simple[i].name) == 0) {
			*kind = simple[i].kind;
			*path = NULL;
			return 0;
		}
	}
	if (strncmp(spec, "file:", 5) == 0) {
		p = spec + 5;
		if (!*p) {
			set_err(err, errlen, "serial console 'file:' needs a path (file:PATH)");
			return -1;
		}
		*kind = CONSOLE_FILE;
		*path = p;
		return 0;
	}
	if (strncmp(spec, "socket:", 7) == 0) {
		p = spec + 7;
		if (!*p) {
			set_err(err, errlen, "serial console 'socket:' needs a path (socket:PATH)");
			return -1;
		}
		if (strlen(p) >= sizeof(sun.sun_path)) {
			set_err(err, errlen,
				"serial console socket path is too long (%zu bytes, at most %zu)",
				strlen(p), sizeof(sun.sun_path) - 1);
			return -1;
		}
		*kind = CONSOLE_SOCKET;
		*path = p;
		return 0;
	}
	set_err(err, errlen,
		"unknown serial console '%s' (expected stdio, pty, file:PATH, socket:PATH or none)",
		spec);
	return -1;
}

/* ---- escape keys ---- */

static const char escape_help[] = "\r\n"
				  "hearth console escape keys:\r\n"
				  "  Ctrl-A x        quit hearth (the VM is stopped)\r\n"
				  "  Ctrl-A h, ?     print this help\r\n"
				  "  Ctrl-A Ctrl-A   send Ctrl-A to the guest\r\n"
				  "  any other key after Ctrl-A is ignored\r\n";

const char *console_escape_help(void)
{
	return escape_help;
}

size_t console_escape_filter(struct console_escape *esc, uint8_t *buf, size_t len,
			     unsigned int *actions)
{
	size_t out = 0;

	*actions = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = buf[i];

		if (!esc->pending) {
			if (ch == CONSOLE_ESCAPE_CHAR)
				esc->pending = true;
			else
				buf[out++] = ch;
			continue;
		}
		esc->pending = false;
		switch (ch) {
		case CONSOLE_ESCAPE_CHAR:
			buf[out++] = ch;
			break;
		case 'x':
		case 'X':
			*actions |= CONSOLE_ESC_QUIT;
			return out;
		case 'h':
		case 'H':
		case '?':
			*actions |= CONSOLE_ESC_HELP;
			break;
		default:
			break; /* unknown escape: both bytes are dropped */
		}
	}
	return out;
}

/* ---- output ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static ssize_t out_once(struct console *c, int fd, const uint8_t *buf, size_t len)
{
	if (c->out_is_socket)
		return send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	return write(fd, buf, len);
}

/*
 * Write buf to fd; called with c->lock held. Waits for a slow reader at most
 * CONSOLE_WRITE_TIMEOUT_MS (never for the pty, whose unread output is
 * flushed instead). Returns how many bytes were written.
 */
static size_t out_write(struct console *c, int fd, const uint8_t *buf, size_t len)
{
	uint64_t deadline = 0;
	bool flushed = false, waited = false;
	size_t done = 0;

	while (done < len) {
		ssize_t n = out_once(c, fd, buf + done, len - done);
		uint64_t now;
		struct pollfd pfd;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN)) {
			if (c->kind == CONSOLE_PTY) {
				/* Nobody reads: drop the oldest output, keep the newest. */
				if (flushed || c->pty_slave < 0)
					break;
				tcflush(c->pty_slave, TCIFLUSH);
				flushed = true;
				continue;
			}
			if (c->stalled)
				break;
			now = mono_ms();
			if (!deadline)
				deadline = now + CONSOLE_WRITE_TIMEOUT_MS;
			if (now >= deadline) {
				c->stalled = true;
				log_warn(
				    "serial console: the reader took no output for %d ms; output "
				    "is dropped until it reads again",
				    CONSOLE_WRITE_TIMEOUT_MS);
				break;
			}
			pfd.fd = fd;
			pfd.events = POLLOUT;
			pfd.revents = 0;
			poll(&pfd, 1, (int)(deadline - now));
			waited = true;
			continue;
		}
		/* A real error (EPIPE, EIO, ENOSPC, ...): drop, say so once. */
		if (c->kind != CONSOLE_SOCKET && !c->warned_error) {
			c->warned_error = true;
			log_warn("serial console output failed (%s); output is dropped",
				 n < 0 ? strerror(errno) : "short write");
		}
		break;
	}
	if (done == len && !waited && c->stalled) {
		c->stalled = false;
		log_warn("serial console: the reader is back; %llu bytes of output were dropped",
			 (unsigned long long)c->stall_dropped);
		c->stall_dropped = 0;
	}
	if (c->stalled)
		c->stall_dropped += len - done;
	c->dropped += len - done;
	return done;
}

void console_write(struct console *c, const uint8_t *buf, size_t len)
{
	size_t room;

	if (!c || !len)
		return;
	pthread_mutex_lock(&c->lock);
	switch (c->kind) {
	case CONSOLE_NONE:
		break;
	case CONSOLE_FILE:
		room = c->file_written < CONSOLE_FILE_MAX_BYTES
			   ? CONSOLE_FILE_MAX_BYTES - (size_t)c->file_written
			   : 0;
		if (len > room && !c->cap_warned) {
			c->cap_warned = true;
			log_warn(
			    "serial output file %s reached its %u MiB limit; further output is "
			    "dropped",
			    c->path, CONSOLE_FILE_MAX_BYTES / (1024 * 1024));
		}
		if (len > room)
			c->dropped += len - room;
		if (room && c->out_fd >= 0)
			c->file_written += out_write(c, c->out_fd, buf, MIN(len, room));
		break;
	case CONSOLE_SOCKET:
		if (c->client_fd >= 0)
			out_write(c, c->client_fd, buf, len);
		break;
	case CONSOLE_STDIO:
	case CONSOLE_PTY:
		if (c->out_fd >= 0)
			out_write(c, c->out_fd, buf, len);
		break;
	}
	pthread_mutex_unlock(&c->lock);
}

uint64_t console_dropped_bytes(struct console *c)
{
	uint64_t n;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	n = c->dropped;
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* ---- input ---- */

int console_input_fd(const struct console *c)
{
	if (!c || c->eof)
		return -1;
	switch (c->kind) {
	case CONSOLE_STDIO:
	case CONSOLE_PTY:
		return c->in_fd;
	case CONSOLE_SOCKET:
		return c->epoll_fd;
	case CONSOLE_FILE:
	case CONSOLE_NONE:
		break;
	}
	return -1;
}

static void print_help(struct console *c)
{
	const char *h = console_escape_help();

	pthread_mutex_lock(&c->lock);
	if (c->help_fd == c->out_fd && c->out_fd >= 0) {
		out_write(c, c->out_fd, (const uint8_t *)h, strlen(h));
	} else if (c->help_fd >= 0) {
		ssize_t n = write(c->help_fd, h, strlen(h));
		(void)n;
	}
	pthread_mutex_unlock(&c->lock);
}

/* Read from a descriptor that poll() may not have reported; returns -errno, 0 = EOF. */
static ssize_t read_available(int fd, uint8_t *buf, size_t cap, bool check_first)
{
	ssize_t n;

	if (check_first) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};

		if (poll(&pfd, 1, 0) <= 0)
			return -EAGAIN;
	}
	do {
		n = read(fd, buf, cap);
	} while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static void input_ended(struct console *c, enum console_event *ev, int err)
{
	if (c->eof)
		return;
	if (err && err != EIO)
		log_warn("serial console input failed (%s); input ends", strerror(err));
	c->eof = true;
	*ev = CONSOLE_EV_EOF;
}

static ssize_t read_stdio(struct console *c, uint8_t *buf, size_t cap, enum console_event *ev)
{
	unsigned int actions = 0;
	ssize_t n = read_available(c->in_fd, buf, cap, true);
	size_t kept;

	if (n == -EAGAIN)
		return 0;
	if (n <= 0) {
		input_ended(c, ev, n < 0 ? (int)-n : 0);
		return 0;
	}
	if (!c->tty)
		return n;
	kept = console_escape_filter(&c->esc, buf, (size_t)n, &actions);
	if (actions & CONSOLE_ESC_HELP)
		print_help(c);
	if (actions & CONSOLE_ESC_QUIT)
		*ev = CONSOLE_EV_QUIT;
	return (ssize_t)kept;
}

static ssize_t read_pty(struct console *c, uint8_t *buf, size_t cap, enum console_event *ev)
{
	ssize_t n = read_available(c->pty_master, buf, cap, false);

	if (n == -EAGAIN)
		return 0;
	if (n <= 0) {
		input_ended(c, ev, n < 0 ? (int)-n : 0);
		return 0;
	}
	return n;
}

static void socket_drop_client(struct console *c)
{
	pthread_mutex_lock(&c->lock);
	epoll_ctl(c->epoll_fd, EPOLL_CTL_DEL, c->client_fd, NULL);
	close(c->client_fd);
	c->client_fd = -1;
	pthread_mutex_unlock(&c->lock);
	log_info("serial console client on %s disconnected", c->path);
}

static void socket_accept(struct console *c)
{
	struct epoll_event ee = {.events = EPOLLIN};
	int fd;

	for (;;) {
		fd = accept4(c->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("serial console socket %s: accept failed: %s", c->path,
					 strerror(errno));
			return;
		}
		if (c->client_fd >= 0) {
			log_info("serial console socket %s: refused a second client", c->path);
			close(fd);
			continue;
		}
		ee.data.fd = fd;
		if (epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, fd, &ee) < 0) {
			log_warn("serial console socket %s: cannot watch client: %s", c->path,
				 strerror(errno));
			close(fd);
			return;
		}
		pthread_mutex_lock(&c->lock);
		c->client_fd = fd;
		c->stalled = false;
		pthread_mutex_unlock(&c->lock);
		log_info("serial console client connected on %s", c->path);
	}
}

static ssize_t read_socket(struct console *c, uint8_t *buf, size_t cap, enum console_event *ev)
{
	struct epoll_event events[2];
	bool client_ready = false;
	ssize_t n;
	int nev;

	do {
		nev = epoll_wait(c->epoll_fd, events, (int)ARRAY_SIZE(events), 0);
	} while (nev < 0 && errno == EINTR);
	for (int i = 0; i < nev; i++) {
		if (events[i].data.fd == c->listen_fd)
			socket_accept(c);
		else if (events[i].data.fd == c->client_fd)
			client_ready = true;
	}
	if (!client_ready || c->client_fd < 0)
		return 0;
	n = read_available(c->client_fd, buf, cap, false);
	if (n == -EAGAIN)
		return 0;
	if (n <= 0) {
		socket_drop_client(c);
		return 0;
	}
	return n;
}

ssize_t console_read_input(struct console *c, uint8_t *buf, size_t cap, enum console_event *ev)
{
	*ev = CONSOLE_EV_NONE;
	if (!c || !cap || c->eof)
		return 0;
	switch (c->kind) {
	case CONSOLE_STDIO:
		return c->in_fd >= 0 ? read_stdio(c, buf, cap, ev) : 0;
	case CONSOLE_PTY:
		return read_pty(c, buf, cap, ev);
	case CONSOLE_SOCKET:
		return read_socket(c, buf, cap, ev);
	case CONSOLE_FILE:
	case CONSOLE_NONE:
		break;
	}
	return 0;
}

const char *console_path(const struct console *c)
{
	return c ? c->path : NULL;
}

/* ---- opening ---- */

static struct console *console_alloc(enum console_kind kind)
{
	struct console *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kind = kind;
	c->out_fd = -1;
	c->help_fd = -1;
	c->in_fd = -1;
	c->pty_master = -1;
	c->pty_slave = -1;
	c->listen_fd = -1;
	c->client_fd = -1;
	c->epoll_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

/*
 * Our own non-blocking description of stdout when it is a terminal or a
 * pipe (setting O_NONBLOCK on fd 1 itself would change it for the shell
 * too); fd 1 itself otherwise.
 */
static void stdio_setup_output(struct console *c)
{
	struct stat st;
	int fd;

	c->out_fd = STDOUT_FILENO;
	if (fstat(STDOUT_FILENO, &st) < 0) {
		c->out_fd = -1;
		return;
	}
	if (S_ISSOCK(st.st_mode)) {
		c->out_is_socket = true;
		return;
	}
	if (!isatty(STDOUT_FILENO) && !S_ISFIFO(st.st_mode))
		return;
	fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd >= 0) {
		c->out_fd = fd;
		c->own_out_fd = true;
	}
}

static int open_stdio(struct console *c, char *err, size_t errlen)
{
	struct termios raw;
	pid_t fg;

	if (stdio_in_use) {
		set_err(err, errlen, "only one serial console can use stdio");
		return -1;
	}
	stdio_setup_output(c);
	c->help_fd = isatty(STDOUT_FILENO) ? c->out_fd : STDERR_FILENO;
	if (fcntl(STDIN_FILENO, F_GETFL) < 0) {
		c->owns_stdio = stdio_in_use = true;
		return 0; /* stdin closed: no input */
	}
	c->in_fd = STDIN_FILENO;
	if (!isatty(STDIN_FILENO)) {
		c->owns_stdio = stdio_in_use = true;
		return 0;
	}
	fg = tcgetpgrp(STDIN_FILENO);
	if (fg >= 0 && fg != getpgrp()) {
		log_warn("stdin is a terminal but hearth is not its foreground job: serial input "
			 "is disabled");
		c->in_fd = -1;
		c->owns_stdio = stdio_in_use = true;
		return 0;
	}
	if (tcgetattr(STDIN_FILENO, &term_orig) < 0) {
		set_err(err, errlen, "cannot read the terminal settings: %s", strerror(errno));
		return -1;
	}
	if (!atexit_registered) {
		atexit(restore_at_exit);
		atexit_registered = true;
	}
	term_fd = STDIN_FILENO;
	term_saved = 1;
	install_signal_handlers();
	raw = term_orig;
	make_raw_input(&raw);
	if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) < 0) {
		set_err(err, errlen, "cannot put the terminal in raw mode: %s", strerror(errno));
		term_saved = 0;
		uninstall_signal_handlers();
		return -1;
	}
	c->tty = true;
	c->owns_stdio = stdio_in_use = true;
	return 0;
}

static int open_pty(struct console *c, char *err, size_t errlen)
{
	struct termios t;
	char name[128];
	int fl;

	c->pty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (c->pty_master < 0) {
		set_err(err, errlen, "cannot open a pseudo-terminal: %s", strerror(errno));
		return -1;
	}
	if (grantpt(c->pty_master) < 0 || unlockpt(c->pty_master) < 0 ||
	    ptsname_r(c->pty_master, name, sizeof(name)) != 0) {
		set_err(err, errlen, "cannot set up the pseudo-terminal: %s", strerror(errno));
		return -1;
	}
	fl = fcntl(c->pty_master, F_GETFL);
	if (fl < 0 || fcntl(c->pty_master, F_SETFL, fl | O_NONBLOCK) < 0) {
		set_err(err, errlen, "cannot make the pseudo-terminal non-blocking: %s",
			strerror(errno));
		return -1;
	}
	c->pty_slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (c->pty_slave < 0) {
		set_err(err, errlen, "cannot open %s: %s", name, strerror(errno));
		return -1;
	}
	if (tcgetattr(c->pty_slave, &t) < 0) {
		set_err(err, errlen, "cannot read the settings of %s: %s", name, strerror(errno));
		return -1;
	}
	cfmakeraw(&t);
	if (tcsetattr(c->pty_slave, TCSANOW, &t) < 0) {
		set_err(err, errlen, "cannot put %s in raw mode: %s", name, strerror(errno));
		return -1;
	}
	c->path = strdup(name);
	if (!c->path) {
		set_err(err, errlen, "out of memory");
		return -1;
	}
	c->out_fd = c->pty_master;
	c->in_fd = c->pty_master;
	fprintf(stderr, "hearth: serial console on %s\n", name);
	return 0;
}

static int open_file(struct console *c, char *err, size_t errlen)
{
	const char *path = c->path;
	struct stat st;
	int fd, fl;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		set_err(err, errlen, "cannot open serial output file %s: %s", path,
			strerror(errno));
		return -1;
	}
	/* Regular files do not know O_NONBLOCK; FIFOs and devices keep it. */
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
		fl = fcntl(fd, F_GETFL);
		if (fl >= 0)
			fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	}
	c->out_fd = fd;
	c->own_out_fd = true;
	return 0;
}

/* Is a UNIX socket at path accepting connections? */
static bool socket_is_live(const char *path)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd, r;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true; /* cannot tell: do not remove it */
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	r = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return r == 0 || (errno != ECONNREFUSED && errno != ENOENT);
}

static int open_socket(struct console *c, char *err, size_t errlen)
{
	const char *path = c->path;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct epoll_event ee = {.events = EPOLLIN};
	struct stat st;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		set_err(err, errlen, "serial console socket path is too long: %s", path);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			set_err(err, errlen, "%s exists and is not a socket; not replacing it",
				path);
			return -1;
		}
		if (socket_is_live(path)) {
			set_err(err, errlen, "socket %s is in use by another process", path);
			return -1;
		}
		if (unlink(path) < 0 && errno != ENOENT) {
			set_err(err, errlen, "cannot remove stale socket %s: %s", path,
				strerror(errno));
			return -1;
		}
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->listen_fd < 0) {
		set_err(err, errlen, "cannot create a socket: %s", strerror(errno));
		return -1;
	}
	if (bind(c->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		set_err(err, errlen, "cannot bind %s: %s", path, strerror(errno));
		return -1;
	}
	/* Nobody can connect before listen(): tighten the mode first. */
	if (chmod(path, 0600) < 0 || lstat(path, &st) < 0) {
		set_err(err, errlen, "cannot make %s private: %s", c->path, strerror(errno));
		unlink(path);
		return -1;
	}
	c->sock_dev = st.st_dev;
	c->sock_ino = st.st_ino;
	c->sock_created = true;
	if (listen(c->listen_fd, 4) < 0) {
		set_err(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		return -1;
	}
	c->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	ee.data.fd = c->listen_fd;
	if (c->epoll_fd < 0 || epoll_ctl(c->epoll_fd, EPOLL_CTL_ADD, c->listen_fd, &ee) < 0) {
		set_err(err, errlen, "cannot watch %s: %s", path, strerror(errno));
		return -1;
	}
	c->out_is_socket = true;
	return 0;
}

/* Remove the socket file if it is still the one we created. */
static void socket_unlink(struct console *c)
{
	struct stat st;

	if (c->sock_created && lstat(c->path, &st) == 0 && st.st_dev == c->sock_dev &&
	    st.st_ino == c->sock_ino)
		unlink(c->path);
}

static void console_free(struct console *c)
{
	if (c->kind == CONSOLE_STDIO && c->tty) {
		console_restore_terminal();
		term_saved = 0;
		term_fd = -1;
		uninstall_signal_handlers();
	}
	if (c->owns_stdio)
		stdio_in_use = false;
	if (c->client_fd >= 0)
		close(c->client_fd);
	if (c->epoll_fd >= 0)
		close(c->epoll_fd);
	if (c->listen_fd >= 0)
		close(c->listen_fd);
	socket_unlink(c);
	if (c->pty_slave >= 0)
		close(c->pty_slave);
	if (c->pty_master >= 0)
		close(c->pty_master);
	if (c->own_out_fd && c->out_fd >= 0)
		close(c->out_fd);
	pthread_mutex_destroy(&c->lock);
	free(c->path);
	free(c);
}

struct console *console_open(enum console_kind kind, const char *path, char *err, size_t errlen)
{
	struct console *c = console_alloc(kind);
	int r = 0;

	if (!c) {
		set_err(err, errlen, "out of memory");
		return NULL;
	}
	switch (kind) {
	case CONSOLE_STDIO:
		r = open_stdio(c, err, errlen);
		break;
	case CONSOLE_PTY:
		r = open_pty(c, err, errlen);
		break;
	case CONSOLE_FILE:
	case CONSOLE_SOCKET:
		if (!path || !*path) {
			set_err(err, errlen, "serial console %s needs a path",
				kind == CONSOLE_FILE ? "file:" : "socket:");
			r = -1;
			break;
		}
		c->path = strdup(path);
		if (!c->path) {
			set_err(err, errlen, "out of memory");
			r = -1;
		} else if (kind == CONSOLE_FILE) {
			r = open_file(c, err, errlen);
		} else {
			r = open_socket(c, err, errlen);
		}
		break;
	case CONSOLE_NONE:
		break;
	}
	if (r < 0) {
		console_free(c);
		return NULL;
	}
	return c;
}

void console_close(struct console *c)
{
	if (c)
		console_free(c);
}
