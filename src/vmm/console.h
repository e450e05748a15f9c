/* SPDX-License-Identifier: MIT */
/*
 * Serial console back-ends: where the guest's serial output goes and where
 * its input comes from (`hearth run --serial stdio|pty|file:PATH|socket:PATH|none`).
 *
 * Threads: console_write() may be called from any thread (vCPU threads);
 * writes are serialized by a mutex, so one call's bytes never interleave
 * with another's. console_read_input() is called by the event-loop thread
 * when console_input_fd() is readable. console_open() and console_close()
 * run while no other thread uses the console.
 *
 * Output never stops the VM: a reader that does not keep up makes
 * console_write() wait at most CONSOLE_WRITE_TIMEOUT_MS per call (the pty
 * back-end never waits, see below); after such a timeout the back-end is
 * "stalled" and further output is dropped at once until a write goes through
 * without waiting again; the stall and its end are logged (with the bytes
 * dropped meanwhile) and console_dropped_bytes() counts every byte dropped.
 * Write errors (EPIPE, EIO, ...) drop the output and are logged once. The caller ignores SIGPIPE (a
 * file: PATH may be a FIFO).
 *
 * Back-ends:
 *  stdio        Output to stdout, input from stdin. When stdin is a terminal
 *               (and hearth is its foreground process) it is put in raw
 *               mode (no echo, no line editing, no signals: Ctrl-C and Ctrl-Z
 *               go to the guest; output post-processing is left as it was so
 *               hearth's own messages on stderr stay readable) and the escape
 *               keys below are active (Ctrl-A h prints on stdout if it is a
 *               terminal, else on stderr). The terminal's settings are restored
 *               by console_close(), by an atexit() handler, by
 *               console_restore_terminal() (for the VMM's signal handlers),
 *               and by handlers console_open() installs for fatal signals
 *               (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT: chained to any
 *               previous handler) and for SIGTERM, SIGINT, SIGHUP, SIGQUIT
 *               when those still have their default action. Only SIGKILL
 *               leaves the terminal raw (`stty sane` repairs it).
 *               When stdin is not a terminal, its bytes go to the guest
 *               untouched and its end yields CONSOLE_EV_EOF once; the VM keeps
 *               running. Only one stdio console may be open at a time.
 *  pty          A new pseudo-terminal in raw mode; its path is printed on
 *               stderr as "hearth: serial console on /dev/pts/N" and returned
 *               by console_path(). hearth keeps the slave side open itself,
 *               so clients may come and go. While nobody reads, output
 *               collects in the kernel's pty buffer (a few KiB); when that
 *               is full it is flushed, so memory stays bounded and a client
 *               that attaches later first reads the most recent output (at
 *               most one buffer's worth). No escape keys: bytes pass through.
 *  file:PATH    Output only. PATH is created or truncated (mode 0600 when
 *               created), as QEMU's file chardev does. At most
 *               CONSOLE_FILE_MAX_BYTES are written; later output is dropped
 *               and one warning is logged.
 *  socket:PATH  hearth listens on a new UNIX stream socket at PATH (mode
 *               0600). An existing socket nobody listens on is replaced; any
 *               other existing file, or a socket in use, is an error. One
 *               client at a time: a client connecting while another is
 *               attached is accepted and closed at once (refused), so nobody
 *               can take over a session. The client's bytes go to the guest
 *               untouched; output goes to the client while one is attached
 *               and is dropped otherwise. The socket file is removed by
 *               console_close().
 *  none         Output discarded, no input.
 *
 * Escape keys (stdio on a terminal only; as QEMU's -nographic):
 *  Ctrl-A x          quit: console_read_input() reports CONSOLE_EV_QUIT
 *  Ctrl-A h, Ctrl-A ?  print this list on the terminal (not to the guest)
 *  Ctrl-A Ctrl-A     send one Ctrl-A to the guest
 *  Ctrl-A c and any other key after Ctrl-A: ignored, both bytes are
 *                    discarded (hearth has no monitor to switch to).
 */
#ifndef HEARTH_VMM_CONSOLE_H
#define HEARTH_VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Most bytes a file: console writes; later output is dropped (one warning). */
#define CONSOLE_FILE_MAX_BYTES (16u * 1024 * 1024)

/* Longest time one console_write() call waits for a slow reader. */
#define CONSOLE_WRITE_TIMEOUT_MS 100

/* The escape key: Ctrl-A. */
#define CONSOLE_ESCAPE_CHAR 0x01

enum console_kind { CONSOLE_STDIO, CONSOLE_PTY, CONSOLE_FILE, CONSOLE_SOCKET, CONSOLE_NONE };

enum console_event {
	CONSOLE_EV_NONE, /* nothing special happened */
	CONSOLE_EV_QUIT, /* the user typed Ctrl-A x */
	CONSOLE_EV_EOF,	 /* input ended (reported once); stop polling the input fd */
};

struct console;

/*
 * console_parse - parse a --serial value: "stdio", "pty", "none",
 * "file:PATH" or "socket:PATH". On success stores the kind in *kind and, for
 * file and socket, a pointer into spec at PATH in *path (NULL otherwise) and
 * returns 0. A bad spec (unknown kind, empty PATH, socket PATH longer than a
 * UNIX socket address holds) returns -1 with a one-line message in err.
 */
int console_parse(const char *spec, enum console_kind *kind, const char **path, char *err,
		  size_t errlen);

/*
 * console_open - create a console of the given kind; path is the PATH of
 * file: and socket: (copied) and is ignored otherwise. Returns NULL with a
 * one-line message in err when the back-end cannot be set up (cannot create
 * the file or socket, no pty, a stdio console already open).
 */
struct console *console_open(enum console_kind kind, const char *path, char *err, size_t errlen);

/*
 * console_write - send guest output to the console. Never fails and never
 * waits longer than CONSOLE_WRITE_TIMEOUT_MS; output that cannot be
 * delivered is dropped (see above). Safe to call from several threads.
 */
void console_write(struct console *c, const uint8_t *buf, size_t len);

/*
 * console_dropped_bytes - output bytes dropped so far: for a stalled reader,
 * after a write error, beyond a file's cap (not what a pty's flush discards
 * or a socket without a client never had). Any thread.
 */
uint64_t console_dropped_bytes(struct console *c);

/*
 * console_input_fd - the descriptor the event loop polls for readability
 * before calling console_read_input(), or -1 when the console has no input
 * (file:, none, stdio with stdin a background terminal, after EOF). The value
 * does not change while the console is open (socket: is an internal epoll
 * descriptor covering the listening socket and the attached client).
 */
int console_input_fd(const struct console *c);

/*
 * console_read_input - read what is available without blocking and return
 * the bytes meant for the guest in buf (at most cap). Escape keys are
 * handled and removed; the socket back-end accepts or refuses clients here.
 * *ev is set to CONSOLE_EV_QUIT when the user asked to quit (bytes before
 * the escape are still returned), to CONSOLE_EV_EOF once when input ended,
 * and to CONSOLE_EV_NONE otherwise. Returns the number of bytes stored
 * (0 when there are none); never fails: read errors end the input
 * (CONSOLE_EV_EOF) and are logged.
 */
ssize_t console_read_input(struct console *c, uint8_t *buf, size_t cap, enum console_event *ev);

/*
 * console_path - the pty's slave path for pty, PATH for file: and socket:,
 * NULL for stdio and none.
 */
const char *console_path(const struct console *c);

/*
 * console_close - restore the terminal (stdio), remove the socket file
 * (socket:), close every descriptor and free c. c may be NULL.
 */
void console_close(struct console *c);

/*
 * console_restore_terminal - put the terminal a stdio console made raw back
 * as it was. Async-signal-safe and idempotent: the VMM calls it from its own
 * signal handlers before terminating. Does nothing when no terminal is raw.
 */
void console_restore_terminal(void);

/* The escape-key state machine, separate so that it can be tested alone. */
struct console_escape {
	bool pending; /* the last byte seen was an unconsumed Ctrl-A */
};

#define CONSOLE_ESC_QUIT (1u << 0) /* Ctrl-A x seen */
#define CONSOLE_ESC_HELP (1u << 1) /* Ctrl-A h or Ctrl-A ? seen */

/*
 * console_escape_filter - run len bytes of terminal input through the escape
 * keys, in place: buf keeps the bytes for the guest and the new length is
 * returned. *actions gets CONSOLE_ESC_* bits for the escapes seen. Processing
 * stops after Ctrl-A x (the rest is discarded). State carries across calls,
 * so an escape split between two reads works.
 */
size_t console_escape_filter(struct console_escape *esc, uint8_t *buf, size_t len,
			     unsigned int *actions);

/* console_escape_help - the text Ctrl-A h prints (lines end in "\r\n"). */
const char *console_escape_help(void);

#endif
