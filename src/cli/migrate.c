/* SPDX-License-Identifier: MIT */
/* `hearth migrate`: a client of the API's /migrate endpoints over its UNIX socket. */
#include "cli/migrate.h"
#include "core/util.h"
#include "migration/migration.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define MIGRATE_POLL_NS		   100000000L  /* GET /migrate every 100 ms */
#define MIGRATE_REQUEST_TIMEOUT_MS 10000L      /* one request, connect to answer */
#define MIGRATE_MAX_BODY	   (64 * 1024) /* larger answers are an error */
#define MIGRATE_TRANSPORT_RETRIES  3	       /* failed requests in a row before giving up */
#define MIGRATE_NONE_GRACE_MS	   2000	       /* "none" after the start for this long = gone */
#define MIGRATE_CANCEL_WAIT_MS	   5000	       /* after a cancel, wait this long for its outcome */

static volatile sig_atomic_t migrate_interrupted;

static void migrate_usage(FILE *out)
{
	fprintf(out,
		"Usage: hearth migrate --api-sock PATH --to tcp:HOST:PORT [--max-downtime MS]\n"
		"                      [--max-bandwidth MBPS] [--tls-psk FILE |\n"
		"                      --tls-cert FILE --tls-key FILE --tls-ca FILE]\n"
		"\n"
		"Moves the running VM of the hearth whose API socket is PATH to the hearth\n"
		"waiting at HOST:PORT (started there with 'hearth run --incoming tcp:ADDR:PORT'),\n"
		"while the guest runs, and shows the progress: a bar redrawn in place on a\n"
		"terminal, one line per pass or per second otherwise.\n"
		"\n"
		"Options:\n"
		"  --api-sock PATH       the source hearth's API socket (--api-sock of its run)\n"
		"  --to tcp:HOST:PORT    where the destination listens\n"
		"  --max-downtime MS     longest pause of the guest to aim for, 1..60000\n"
		"                        (default: the source's, 300)\n"
		"  --max-bandwidth MBPS  cap on the link, in megabits per second; 0 = unlimited\n"
		"  --tls-psk FILE        TLS 1.3 with the key in FILE (IDENTITY:HEXKEY, at least\n"
		"                        16 bytes, not readable by others), the destination's\n"
		"  --tls-cert FILE --tls-key FILE --tls-ca FILE\n"
		"                        TLS 1.3 with this certificate and key (PEM); the\n"
		"                        destination's certificate must be signed by the CA\n"
		"  -h, --help            this text\n"
		"\n"
		"Ctrl-C (SIGINT) or SIGTERM cancels the migration: before the hand-over the\n"
		"guest goes on running on the source.\n"
		"Exit status: 0 the VM runs on the destination (\"completed\" seen), 1 failed,\n"
		"cancelled, refused or the API socket lost first, 2 usage.\n");
}

bool migrate_check_destination(const char *dest, char *err, size_t errlen)
{
	const char *host, *colon, *p;
	unsigned long port;
	char *end;

	if (strncmp(dest, "tcp:", 4)) {
		snprintf(err, errlen, "destination '%s' is not tcp:HOST:PORT", dest);
		return false;
	}
	host = dest + 4;
	if (*host == '[') {
		p = strchr(host, ']');
		if (!p || p == host + 1 || p[1] != ':') {
			snprintf(err, errlen, "destination '%s': bad [IPv6] host", dest);
			return false;
		}
		colon = p + 1;
	} else {
		colon = strchr(host, ':');
		if (!colon || colon == host) {
			snprintf(err, errlen, "destination '%s' has no HOST:PORT", dest);
			return false;
		}
		if (strchr(colon + 1, ':')) {
			snprintf(err, errlen, "destination '%s': write an IPv6 host in brackets",
				 dest);
			return false;
		}
	}
	errno = 0;
	if (colon[1] < '0' || colon[1] > '9') {
		snprintf(err, errlen, "destination '%s': port is not a number", dest);
		return false;
	}
	port = strtoul(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535) {
		snprintf(err, errlen, "destination '%s': port must be 1..65535", dest);
		return false;
	}
	return true;
}

bool migrate_state_terminal(enum migrate_state state)
{
	return state == MIGRATE_STATE_COMPLETED || state == MIGRATE_STATE_FAILED ||
	       state == MIGRATE_STATE_CANCELLED;
}

static enum migrate_state migrate_state_from_name(const char *name)
{
	static const struct {
		const char *name;
		enum migrate_state state;
	} names[] = {
	    {"none", MIGRATE_STATE_NONE},	{"setup", MIGRATE_STATE_SETUP},
	    {"precopy", MIGRATE_STATE_PRECOPY}, {"stop_copy", MIGRATE_STATE_STOP_COPY},
	    {"ready", MIGRATE_STATE_READY},	{"completed", MIGRATE_STATE_COMPLETED},
	    {"failed", MIGRATE_STATE_FAILED},	{"cancelled", MIGRATE_STATE_CANCELLED},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i].name, name))
			return names[i].state;
	return MIGRATE_STATE_UNKNOWN;
}

int migrate_parse_status(const char *json, size_t len, struct migrate_status *st, char *err,
			 size_t errlen)
{
	static const struct {
		const char *key;
		size_t offset;
	} numbers[] = {
	    {"pass", offsetof(struct migrate_status, pass)},
	    {"total_bytes", offsetof(struct migrate_status, total_bytes)},
	    {"bytes_sent", offsetof(struct migrate_status, bytes_sent)},
	    {"remaining_bytes", offsetof(struct migrate_status, remaining_bytes)},
	    {"dirty_rate_bps", offsetof(struct migrate_status, dirty_rate_bps)},
	    {"bandwidth_bps", offsetof(struct migrate_status, bandwidth_bps)},
	    {"expected_downtime_ms", offsetof(struct migrate_status, expected_downtime_ms)},
	    {"throttle_percent", offsetof(struct migrate_status, throttle_percent)},
	    {"downtime_ms", offsetof(struct migrate_status, downtime_ms)},
	    {"total_time_ms", offsetof(struct migrate_status, total_time_ms)},
	};
	struct json_tokener *tok;
	struct json_object *root, *v;
	int ret = -1;

	memset(st, 0, sizeof(*st));
	if (len > INT_MAX) {
		snprintf(err, errlen, "answer too large");
		return -1;
	}
	tok = json_tokener_new();
	if (!tok) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	root = json_tokener_parse_ex(tok, json, (int)len);
	if (!root || json_tokener_get_error(tok) != json_tokener_success) {
		snprintf(err, errlen, "answer is not JSON");
		goto put_root;
	}
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (json[i] != ' ' && json[i] != '\t' && json[i] != '\r' && json[i] != '\n') {
			snprintf(err, errlen, "answer has text after the JSON");
			goto put_root;
		}
	}
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(err, errlen, "answer is not a JSON object");
		goto put_root;
	}
	if (!json_object_object_get_ex(root, "state", &v) ||
	    !json_object_is_type(v, json_type_string)) {
		snprintf(err, errlen, "answer has no \"state\" string");
		goto put_root;
	}
	snprintf(st->state_name, sizeof(st->state_name), "%s", json_object_get_string(v));
	st->state = migrate_state_from_name(json_object_get_string(v));
	for (size_t i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		uint64_t *field = (uint64_t *)(void *)((char *)st + numbers[i].offset);

		if (!json_object_object_get_ex(root, numbers[i].key, &v) ||
		    json_object_is_type(v, json_type_null))
			continue;
		if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0) {
			snprintf(err, errlen, "\"%s\" is not a non-negative integer",
				 numbers[i].key);
			goto put_root;
		}
		*field = json_object_get_uint64(v);
	}
	if (json_object_object_get_ex(root, "error", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(st->error, sizeof(st->error), "%s", json_object_get_string(v));
	ret = 0;
put_root:
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

/* @bytes as "512.0 MiB"-style text. */
static void migrate_fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
}

/* A rate in bytes per second as "12.3 MB/s" (decimal megabytes). */
static void migrate_fmt_rate(uint64_t bps, char *buf, size_t len)
{
	if (bps >= 1000000000ULL)
		snprintf(buf, len, "%.2f GB/s", (double)bps / 1e9);
	else
		snprintf(buf, len, "%.1f MB/s", (double)bps / 1e6);
}

/* Percent of the guest's memory sent, 0..100 (later passes count as done). */
static unsigned int migrate_percent(const struct migrate_status *st)
{
	if (st->state == MIGRATE_STATE_COMPLETED)
		return 100;
	if (!st->total_bytes)
		return 0;
	if (st->bytes_sent >= st->total_bytes)
		return 99;
	return (unsigned int)(st->bytes_sent * 100 / st->total_bytes);
}

void migrate_format_line(const struct migrate_status *st, char *buf, size_t len)
{
	char sent[24], total[24], remaining[24], dirty[24], bw[24];

	migrate_fmt_bytes(st->bytes_sent, sent, sizeof(sent));
	migrate_fmt_bytes(st->total_bytes, total, sizeof(total));
	migrate_fmt_bytes(st->remaining_bytes, remaining, sizeof(remaining));
	migrate_fmt_rate(st->dirty_rate_bps, dirty, sizeof(dirty));
	migrate_fmt_rate(st->bandwidth_bps, bw, sizeof(bw));
	snprintf(buf, len,
		 "migrate: %s pass %" PRIu64 ": sent %s of %s, remaining %s, dirty %s, "
		 "link %s, expected downtime %" PRIu64 " ms, throttle %" PRIu64 "%%",
		 st->state_name, st->pass, sent, total, remaining, dirty, bw,
		 st->expected_downtime_ms, st->throttle_percent);
}

void migrate_format_bar(const struct migrate_status *st, int width, char *buf, size_t len)
{
	char sent[24], total[24], remaining[24], dirty[24], tail[200], bar[64];
	unsigned int pct = migrate_percent(st);
	int room, bar_len, filled, n;

	migrate_fmt_bytes(st->bytes_sent, sent, sizeof(sent));
	migrate_fmt_bytes(st->total_bytes, total, sizeof(total));
	migrate_fmt_bytes(st->remaining_bytes, remaining, sizeof(remaining));
	migrate_fmt_rate(st->dirty_rate_bps, dirty, sizeof(dirty));
	n = snprintf(tail, sizeof(tail),
		     " %3u%% %s/%s pass %" PRIu64 " dirty %s left %s downtime ~%" PRIu64 " ms", pct,
		     sent, total, st->pass, dirty, remaining, st->expected_downtime_ms);
	if (st->throttle_percent && n > 0 && (size_t)n < sizeof(tail))
		snprintf(tail + n, sizeof(tail) - (size_t)n, " throttle %" PRIu64 "%%",
			 st->throttle_percent);
	if (width < 2)
		width = 2;
	/* A bar of a fixed length for the terminal, then the figures cut to fit. */
	bar_len = (width - 1) / 5;
	if (bar_len > 20)
		bar_len = 20;
	if (bar_len < 5) {
		/* Too narrow for a bar: the figures alone. */
		snprintf(buf, len, "%.*s", width - 1, tail + 1);
		return;
	}
	room = width - 1 - bar_len - 2;
	if (room >= 0 && (size_t)room < strlen(tail))
		tail[room] = '\0';
	filled = bar_len * (int)pct / 100;
	memset(bar, '#', (size_t)filled);
	memset(bar + filled, '.', (size_t)(bar_len - filled));
	bar[bar_len] = '\0';
	snprintf(buf, len, "[%s]%s", bar, tail);
}

static void migrate_on_signal(int sig)
{
	(void)sig;
	migrate_interrupted = 1;
}

/* One connection to the API socket and what its last request returned. */
struct migrate_client {
	CURL *curl;
	const char *sock;
	char body[MIGRATE_MAX_BODY + 1];
	size_t body_len;
	bool overflow;
	long http_status;
	char curl_err[CURL_ERROR_SIZE];
};

static size_t migrate_write_cb(char *data, size_t size, size_t nmemb, void *opaque)
{
	struct migrate_client *c = opaque;
	size_t n = size * nmemb;

	if (n > MIGRATE_MAX_BODY - c->body_len) {
		c->overflow = true;
		return 0;
	}
	memcpy(c->body + c->body_len, data, n);
	c->body_len += n;
	c->body[c->body_len] = '\0';
	return n;
}

/*
 * One request: @method on @path with the JSON @body (NULL: none). Returns 0
 * when an HTTP answer came (its status in c->http_status, its body in
 * c->body), -1 when the socket failed (reason in c->curl_err).
 */
static int migrate_request(struct migrate_client *c, const char *method, const char *path,
			   const char *body)
{
	char url[128];
	struct curl_slist *headers = NULL;
	CURLcode rc;

	c->body_len = 0;
	c->body[0] = '\0';
	c->overflow = false;
	c->http_status = 0;
	c->curl_err[0] = '\0';
	snprintf(url, sizeof(url), "http://localhost%s", path);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->sock);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, MIGRATE_REQUEST_TIMEOUT_MS);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->curl_err);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, migrate_write_cb);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	if (strcmp(method, "GET")) {
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
		headers = curl_slist_append(headers, "Content-Type: application/json");
		/* No "Expect: 100-continue" round trip. */
		headers = curl_slist_append(headers, "Expect:");
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body ? body : "");
	}
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(headers);
	if (rc != CURLE_OK) {
		if (c->overflow)
			snprintf(c->curl_err, sizeof(c->curl_err), "answer larger than %d bytes",
				 MIGRATE_MAX_BODY);
		else if (!c->curl_err[0])
			snprintf(c->curl_err, sizeof(c->curl_err), "%s", curl_easy_strerror(rc));
		return -1;
	}
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &c->http_status);
	return 0;
}

/* The "fault_message" of an error answer, or its start when it has none. */
static void migrate_fault(const struct migrate_client *c, char *buf, size_t len)
{
	struct json_object *root, *v;

	root = json_tokener_parse(c->body);
	if (root && json_object_object_get_ex(root, "fault_message", &v) &&
	    json_object_is_type(v, json_type_string))
		snprintf(buf, len, "%s", json_object_get_string(v));
	else if (c->body_len)
		snprintf(buf, len, "%.200s", c->body);
	else
		snprintf(buf, len, "(no message)");
	json_object_put(root);
	/* Keep the report on one line. */
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
}

static uint64_t migrate_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Sleep until @deadline (CLOCK_MONOTONIC); a signal ends it early. */
static void migrate_sleep_until(const struct timespec *deadline)
{
	if (!migrate_interrupted)
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, deadline, NULL);
}

static int migrate_term_width(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* The state of the running display. */
struct migrate_view {
	bool tty;
	bool bar_shown;		 /* a bar is on the current line */
	bool throttle_told;	 /* the user was told about throttling */
	uint64_t last_line_ms;	 /* when the last plain line was printed */
	uint64_t last_pass;	 /* pass number of the last plain line */
	enum migrate_state last; /* state of the last plain line */
};

/* End the bar's line so that the next output starts on a fresh one. */
static void migrate_view_break(struct migrate_view *view)
{
	if (view->bar_shown) {
		fputs("\n", stdout);
		view->bar_shown = false;
	}
}

static void migrate_view_show(struct migrate_view *view, const struct migrate_status *st)
{
	char line[512];
	uint64_t now = migrate_now_ms();

	if (st->throttle_percent && !view->throttle_told) {
		migrate_view_break(view);
		printf("migrate: the guest dirties memory faster than the link carries it: "
		       "its vCPUs are throttled (%" PRIu64 "%%)\n",
		       st->throttle_percent);
		view->throttle_told = true;
	}
	if (view->tty) {
		migrate_format_bar(st, migrate_term_width(), line, sizeof(line));
		printf("\r%s\033[K", line);
		view->bar_shown = true;
	} else if (st->state != view->last || st->pass != view->last_pass ||
		   now - view->last_line_ms >= 1000) {
		migrate_format_line(st, line, sizeof(line));
		printf("%s\n", line);
		view->last = st->state;
		view->last_pass = st->pass;
		view->last_line_ms = now;
	}
	fflush(stdout);
}

static int migrate_parse_u32(const char *name, const char *arg, unsigned long min,
			     unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	if (arg[0] < '0' || arg[0] > '9') {
		fprintf(stderr, "hearth migrate: %s '%s' is not a number\n", name, arg);
		return -1;
	}
	*out = strtoul(arg, &end, 10);
	if (errno || *end || *out < min || *out > max) {
		fprintf(stderr, "hearth migrate: %s '%s' must be %lu..%lu\n", name, arg, min, max);
		return -1;
	}
	return 0;
}

/*
 * Ask the source to cancel and wait a little for the outcome. Returns the
 * exit status: 0 only when the hand-over had already completed.
 */
static int migrate_cancel(struct migrate_client *c, struct migrate_view *view)
{
	char msg[256], err[128];
	struct migrate_status st;
	uint64_t until = migrate_now_ms() + MIGRATE_CANCEL_WAIT_MS;
	struct timespec pause = {0, MIGRATE_POLL_NS};

	migrate_view_break(view);
	if (migrate_request(c, "PUT", "/migrate/cancel", "{}")) {
		fprintf(stderr, "hearth migrate: interrupted; cancel not sent: %s\n", c->curl_err);
		return 1;
	}
	if (c->http_status / 100 != 2) {
		/* Most likely the migration ended just now: say how. */
		migrate_fault(c, msg, sizeof(msg));
		if (!migrate_request(c, "GET", "/migrate", NULL) && c->http_status == 200 &&
		    !migrate_parse_status(c->body, c->body_len, &st, err, sizeof(err)) &&
		    st.state == MIGRATE_STATE_COMPLETED) {
			printf("hearth migrate: interrupted too late: the migration completed in "
			       "%" PRIu64 " ms (downtime %" PRIu64 " ms)\n",
			       st.total_time_ms, st.downtime_ms);
			return 0;
		}
		fprintf(stderr, "hearth migrate: interrupted; cancel refused: %s\n", msg);
		return 1;
	}
	while (migrate_now_ms() < until) {
		if (migrate_request(c, "GET", "/migrate", NULL) || c->http_status != 200 ||
		    migrate_parse_status(c->body, c->body_len, &st, err, sizeof(err)))
			break;
		if (st.state == MIGRATE_STATE_COMPLETED) {
			printf("hearth migrate: interrupted too late: the migration completed in "
			       "%" PRIu64 " ms (downtime %" PRIu64 " ms)\n",
			       st.total_time_ms, st.downtime_ms);
			return 0;
		}
		if (st.state == MIGRATE_STATE_CANCELLED || st.state == MIGRATE_STATE_FAILED)
			break;
		nanosleep(&pause, NULL);
	}
	fprintf(stderr, "hearth migrate: cancelled by the user; the guest runs on at the source\n");
	return 1;
}

/* Poll GET /migrate until a terminal state. Returns the exit status. */
static int migrate_follow(struct migrate_client *c)
{
	struct migrate_view view = {.tty = isatty(STDOUT_FILENO), .last = MIGRATE_STATE_UNKNOWN};
	struct migrate_status st = {.state = MIGRATE_STATE_SETUP};
	uint64_t none_since = 0;
	const char *last_state = "setup";
	char last_state_buf[24] = "setup";
	char err[256];
	struct timespec next;
	int failures = 0;

	clock_gettime(CLOCK_MONOTONIC, &next);
	view.last_line_ms = migrate_now_ms();
	for (;;) {
		if (migrate_interrupted)
			return migrate_cancel(c, &view);
		if (migrate_request(c, "GET", "/migrate", NULL)) {
			if (++failures < MIGRATE_TRANSPORT_RETRIES)
				goto wait;
			migrate_view_break(&view);
			fprintf(stderr,
				"hearth migrate: lost the API socket %s before the migration "
				"completed (last state %s): %s\n",
				c->sock, last_state, c->curl_err);
			return 1;
		}
		failures = 0;
		if (c->http_status != 200) {
			migrate_fault(c, err, sizeof(err));
			migrate_view_break(&view);
			fprintf(stderr, "hearth migrate: GET /migrate answered %ld: %s\n",
				c->http_status, err);
			return 1;
		}
		if (migrate_parse_status(c->body, c->body_len, &st, err, sizeof(err))) {
			migrate_view_break(&view);
			fprintf(stderr, "hearth migrate: bad GET /migrate answer: %s\n", err);
			return 1;
		}
		snprintf(last_state_buf, sizeof(last_state_buf), "%s", st.state_name);
		last_state = last_state_buf;
		switch (st.state) {
		case MIGRATE_STATE_COMPLETED:
			migrate_view_show(&view, &st);
			migrate_view_break(&view);
			migrate_fmt_bytes(st.bytes_sent, err, sizeof(err));
			printf("hearth migrate: completed in %" PRIu64 " ms, downtime %" PRIu64
			       " ms (%s sent, last pass %" PRIu64 ")\n",
			       st.total_time_ms, st.downtime_ms, err, st.pass);
			return 0;
		case MIGRATE_STATE_FAILED:
		case MIGRATE_STATE_CANCELLED:
			migrate_view_break(&view);
			fprintf(stderr, "hearth migrate: %s: %s; the guest runs on at the source\n",
				st.state_name, st.error[0] ? st.error : "(no reason given)");
			return 1;
		case MIGRATE_STATE_NONE:
			/* Not started yet, or gone: give the source a moment. */
			if (!none_since)
				none_since = migrate_now_ms();
			else if (migrate_now_ms() - none_since >= MIGRATE_NONE_GRACE_MS) {
				migrate_view_break(&view);
				fprintf(stderr, "hearth migrate: the source reports no migration "
						"in progress\n");
				return 1;
			}
			break;
		case MIGRATE_STATE_UNKNOWN:
		case MIGRATE_STATE_SETUP:
		case MIGRATE_STATE_PRECOPY:
		case MIGRATE_STATE_STOP_COPY:
		case MIGRATE_STATE_READY:
			none_since = 0;
			migrate_view_show(&view, &st);
			break;
		}
	wait:
		next.tv_nsec += MIGRATE_POLL_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		migrate_sleep_until(&next);
	}
}

int cli_migrate(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"api-sock", required_argument, NULL, 's'},
	    {"to", required_argument, NULL, 't'},
	    {"max-downtime", required_argument, NULL, 'd'},
	    {"max-bandwidth", required_argument, NULL, 'b'},
	    {"tls-psk", required_argument, NULL, 'P'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"tls-ca", required_argument, NULL, 'A'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static struct mig_tls_opts tls;
	const char *sock = NULL, *to = NULL, *tls_args[MIG_TLS_FILES] = {NULL};
	struct mig_tls_creds *creds;
	unsigned long downtime = 0, bandwidth = 0;
	bool have_downtime = false, have_bandwidth = false;
	struct migrate_client *c;
	struct json_object *req;
	struct sigaction sa;
	char err[256];
	int opt, ret = 1;

	optind = 0; /* full getopt reset */
	while ((opt = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 't':
			to = optarg;
			break;
		case 'd':
			if (migrate_parse_u32("--max-downtime", optarg, 1, 60000, &downtime))
				return 2;
			have_downtime = true;
			break;
		case 'b':
			if (migrate_parse_u32("--max-bandwidth", optarg, 0, 1000000, &bandwidth))
				return 2;
			have_bandwidth = true;
			break;
		case 'P':
		case 'C':
		case 'K':
		case 'A':
			tls_args[strchr("PCKA", opt) - "PCKA"] = optarg;
			break;
		case 'h':
			migrate_usage(stdout);
			return 0;
		case ':':
			fprintf(stderr, "hearth migrate: %s needs a value\n", argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "hearth migrate: unknown option '%s'\n", argv[optind - 1]);
			migrate_usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "hearth migrate: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!sock || !to) {
		fprintf(stderr, "hearth migrate: %s is required\n", !sock ? "--api-sock" : "--to");
		migrate_usage(stderr);
		return 2;
	}
	if (!sock[0]) {
		fprintf(stderr, "hearth migrate: --api-sock is empty\n");
		return 2;
	}
	if (!migrate_check_destination(to, err, sizeof(err))) {
		fprintf(stderr, "hearth migrate: %s\n", err);
		return 2;
	}
	/* The source reads the files itself: absolute paths, checked here first. */
	memset(&tls, 0, sizeof(tls));
	for (unsigned i = 0; i < MIG_TLS_FILES; i++) {
		char *abs;

		if (!tls_args[i])
			continue;
		abs = realpath(tls_args[i], NULL);
		snprintf(mig_tls_opts_path(&tls, i), MIG_TLS_PATH, "%s", abs ? abs : tls_args[i]);
		free(abs);
	}
	if (mig_tls_load(&tls, false, &creds, err, sizeof(err))) {
		fprintf(stderr, "hearth migrate: %s\n", err);
		return 2;
	}
	mig_tls_creds_free(creds);

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "hearth migrate: cannot initialise libcurl\n");
		return 1;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		fprintf(stderr, "hearth migrate: out of memory\n");
		goto cleanup_global;
	}
	c->sock = sock;
	c->curl = curl_easy_init();
	if (!c->curl) {
		fprintf(stderr, "hearth migrate: cannot initialise libcurl\n");
		goto free_client;
	}
	req = json_object_new_object();
	if (!req) {
		fprintf(stderr, "hearth migrate: out of memory\n");
		goto cleanup_curl;
	}
	json_object_object_add(req, "destination", json_object_new_string(to));
	if (have_downtime)
		json_object_object_add(req, "max_downtime_ms",
				       json_object_new_int64((int64_t)downtime));
	if (have_bandwidth)
		json_object_object_add(req, "max_bandwidth_mbps",
				       json_object_new_int64((int64_t)bandwidth));
	for (unsigned i = 0; i < MIG_TLS_FILES; i++)
		if (mig_tls_opts_path(&tls, i)[0])
			json_object_object_add(req, mig_tls_fields[i],
					       json_object_new_string(mig_tls_opts_path(&tls, i)));

	/* Ctrl-C and SIGTERM cancel through the API; no SA_RESTART: sleeps end at once. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = migrate_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (migrate_request(c, "PUT", "/migrate",
			    json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN))) {
		fprintf(stderr, "hearth migrate: cannot reach the API socket %s: %s\n", sock,
			c->curl_err);
		goto put_req;
	}
	if (c->http_status / 100 != 2) {
		migrate_fault(c, err, sizeof(err));
		fprintf(stderr, "hearth migrate: refused (%ld): %s\n", c->http_status, err);
		goto put_req;
	}
	ret = migrate_follow(c);
put_req:
	json_object_put(req);
cleanup_curl:
	curl_easy_cleanup(c->curl);
free_client:
	free(c);
cleanup_global:
	curl_global_cleanup();
	return ret;
}
