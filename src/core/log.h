/* SPDX-License-Identifier: MIT */
/* Logging: host errors, warnings, and guest errors (rate-limited). */
#ifndef HEARTH_CORE_LOG_H
#define HEARTH_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* log_set_level - messages above this level are dropped (default LOG_WARN). */
void log_set_level(enum log_level level);

/* log_level_enabled - would a message at this level be printed? */
bool log_level_enabled(enum log_level level);

/*
 * log_set_output - write log lines to fd from now on (-1: back to stderr).
 * The caller keeps fd open for as long as it is in use.
 */
void log_set_output(int fd);

/* log_msg - print one line "hearth: LEVEL: msg" to stderr. Thread-safe. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

/*
 * log_guest_error - report something a guest did wrong (QEMU's
 * LOG_GUEST_ERROR). Counted always; printed at most a few times per second
 * so that a hostile guest cannot flood the host's log.
 */
void log_guest_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log_guest_error_count - how many guest errors were reported so far. */
uint64_t log_guest_error_count(void);

#endif
