/* SPDX-License-Identifier: MIT */
#include "core/log.h"
#include "core/util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static enum log_level max_level = LOG_WARN;
static int log_fd = -1; /* -1: stderr */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint_fast64_t guest_errors;

/* Guest errors: at most GUEST_BURST messages per GUEST_WINDOW_NS. */
#define GUEST_BURST	5
#define GUEST_WINDOW_NS 1000000000ULL
static uint64_t guest_window_start;
static unsigned guest_window_count;
static uint64_t guest_suppressed;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

void log_set_level(enum log_level level)
{
	max_level = level;
}

bool log_level_enabled(enum log_level level)
{
	return level <= max_level;
}

void log_set_output(int fd)
{
	pthread_mutex_lock(&log_lock);
	log_fd = fd;
	pthread_mutex_unlock(&log_lock);
}

static void log_vprint(const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "hearth: %s: ", prefix);
	if (n < 0)
		return;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	pthread_mutex_lock(&log_lock);
	if (log_fd >= 0) {
		dprintf(log_fd, "%s\n", line);
	} else {
		/* \r keeps lines readable when the terminal is in raw mode. */
		fprintf(stderr, "%s%s\n", line, isatty(STDERR_FILENO) ? "\r" : "");
		fflush(stderr);
	}
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > max_level)
		return;
	va_start(ap, fmt);
	log_vprint(level_names[level], fmt, ap);
	va_end(ap);
}

void log_guest_error(const char *fmt, ...)
{
	uint64_t now = now_ns(), suppressed = 0;
	bool print = false;
	va_list ap;

	atomic_fetch_add(&guest_errors, 1);
	pthread_mutex_lock(&log_lock);
	if (now - guest_window_start >= GUEST_WINDOW_NS) {
		guest_window_start = now;
		guest_window_count = 0;
		suppressed = guest_suppressed;
		guest_suppressed = 0;
	}
	if (guest_window_count < GUEST_BURST) {
		guest_window_count++;
		print = true;
	} else {
		guest_suppressed++;
	}
	pthread_mutex_unlock(&log_lock);
	if (suppressed)
		log_msg(LOG_WARN, "guest error: %llu more suppressed",
			(unsigned long long)suppressed);
	if (!print || max_level < LOG_WARN)
		return;
	va_start(ap, fmt);
	log_vprint("guest error", fmt, ap);
	va_end(ap);
}

uint64_t log_guest_error_count(void)
{
	return atomic_load(&guest_errors);
}
