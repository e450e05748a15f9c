/* SPDX-License-Identifier: MIT */
/*
 * `hearth migrate`: drives a live migration through a running hearth's API
 * socket (PUT /migrate, GET /migrate, PUT /migrate/cancel) and shows its
 * progress. The parsing and formatting helpers are pure so that they can be
 * tested without a server.
 */
#ifndef HEARTH_CLI_MIGRATE_H
#define HEARTH_CLI_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a migration is, as GET /migrate reports it. */
enum migrate_state {
	MIGRATE_STATE_UNKNOWN, /* a state name this client does not know */
	MIGRATE_STATE_NONE,
	MIGRATE_STATE_SETUP,
	MIGRATE_STATE_PRECOPY,
	MIGRATE_STATE_STOP_COPY,
	MIGRATE_STATE_READY,
	MIGRATE_STATE_COMPLETED,
	MIGRATE_STATE_FAILED,
	MIGRATE_STATE_CANCELLED,
};

/* One GET /migrate answer. Absent numbers are 0, an absent error is "". */
struct migrate_status {
	enum migrate_state state;
	char state_name[24];
	uint64_t pass;
	uint64_t total_bytes;
	uint64_t bytes_sent;
	uint64_t remaining_bytes;
	uint64_t dirty_rate_bps;
	uint64_t bandwidth_bps;
	uint64_t expected_downtime_ms;
	uint64_t throttle_percent;
	uint64_t downtime_ms;
	uint64_t total_time_ms;
	char error[256];
};

/*
 * migrate_check_destination - is @dest of the form tcp:HOST:PORT (HOST not
 * empty, PORT a number in 1..65535; an IPv6 HOST is written in brackets)?
 * On false, writes the reason into @err (@errlen bytes).
 */
bool migrate_check_destination(const char *dest, char *err, size_t errlen);

/*
 * migrate_parse_status - fill @st from the JSON body @json (@len bytes) of
 * GET /migrate. Returns 0, or -1 with the reason in @err when the body is
 * not a JSON object, has no "state" string, or a number field is not a
 * non-negative integer.
 */
int migrate_parse_status(const char *json, size_t len, struct migrate_status *st, char *err,
			 size_t errlen);

/* migrate_state_terminal - true for completed, failed and cancelled. */
bool migrate_state_terminal(enum migrate_state state);

/*
 * migrate_format_bar - the one-line progress bar for a terminal @width
 * columns wide (bytes sent / total, dirty rate, pass, remaining, expected
 * downtime, throttle), without newline, into @buf (@len bytes, always
 * terminated). The text never exceeds @width - 1 columns.
 */
void migrate_format_bar(const struct migrate_status *st, int width, char *buf, size_t len);

/*
 * migrate_format_line - one plain progress line for logs (no newline) into
 * @buf (@len bytes, always terminated).
 */
void migrate_format_line(const struct migrate_status *st, char *buf, size_t len);

/*
 * cli_migrate - `hearth migrate --api-sock PATH --to tcp:HOST:PORT
 * [--max-downtime MS] [--max-bandwidth MBPS]`. argv[0] is "migrate".
 * Returns 0 once the source reported "completed", 1 when the migration
 * failed, was cancelled (also by SIGINT/SIGTERM, which cancel it through
 * the API) or the API socket was lost first, 2 on usage errors.
 */
int cli_migrate(int argc, char **argv);

#endif
