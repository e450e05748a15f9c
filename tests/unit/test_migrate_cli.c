// SPDX-License-Identifier: MIT
/* Tests for `hearth migrate`'s pure parts: destinations, GET /migrate bodies, progress text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "cli/migrate.h"

static bool dest_ok(const char *d)
{
	char err[128];

	return migrate_check_destination(d, err, sizeof(err));
}

static void test_destination(void **state)
{
	(void)state;
	assert_true(dest_ok("tcp:169.254.1.2:4444"));
	assert_true(dest_ok("tcp:host.example:1"));
	assert_true(dest_ok("tcp:[fe80::1]:65535"));
	assert_false(dest_ok("tcp:[fe80::1]"));
	assert_false(dest_ok("tcp:[]:5"));
	assert_false(dest_ok("tcp:fe80::1")); /* bare IPv6: the port is ambiguous, ":1" is taken */
	assert_false(dest_ok("udp:1.2.3.4:5"));
	assert_false(dest_ok("tcp:1.2.3.4"));
	assert_false(dest_ok("tcp::5"));
	assert_false(dest_ok("tcp:h:0"));
	assert_false(dest_ok("tcp:h:65536"));
	assert_false(dest_ok("tcp:h:+5"));
	assert_false(dest_ok("tcp:h:5x"));
	assert_false(dest_ok("tcp:h:"));
	assert_false(dest_ok("tcp:h:99999999999999999999999"));
	assert_false(dest_ok(""));
}

static int parse(const char *json, struct migrate_status *st)
{
	char err[128];

	return migrate_parse_status(json, strlen(json), st, err, sizeof(err));
}

static void test_parse_full(void **state)
{
	struct migrate_status st;

	(void)state;
	assert_int_equal(parse("{\"state\":\"completed\",\"pass\":4,\"total_bytes\":1073741824,"
			       "\"bytes_sent\":1100000000,\"remaining_bytes\":0,"
			       "\"dirty_rate_bps\":50000000,\"bandwidth_bps\":900000000,"
			       "\"expected_downtime_ms\":3,\"throttle_percent\":20,"
			       "\"downtime_ms\":7,\"total_time_ms\":1234}",
			       &st),
			 0);
	assert_int_equal(st.state, MIGRATE_STATE_COMPLETED);
	assert_true(migrate_state_terminal(st.state));
	assert_int_equal(st.pass, 4);
	assert_int_equal(st.total_bytes, 1073741824ULL);
	assert_int_equal(st.bytes_sent, 1100000000ULL);
	assert_int_equal(st.dirty_rate_bps, 50000000);
	assert_int_equal(st.bandwidth_bps, 900000000);
	assert_int_equal(st.expected_downtime_ms, 3);
	assert_int_equal(st.throttle_percent, 20);
	assert_int_equal(st.downtime_ms, 7);
	assert_int_equal(st.total_time_ms, 1234);
	assert_string_equal(st.error, "");
}

static void test_parse_states(void **state)
{
	static const struct {
		const char *name;
		enum migrate_state st;
		bool terminal;
	} cases[] = {
	    {"none", MIGRATE_STATE_NONE, false},
	    {"setup", MIGRATE_STATE_SETUP, false},
	    {"precopy", MIGRATE_STATE_PRECOPY, false},
	    {"stop_copy", MIGRATE_STATE_STOP_COPY, false},
	    {"ready", MIGRATE_STATE_READY, false},
	    {"failed", MIGRATE_STATE_FAILED, true},
	    {"cancelled", MIGRATE_STATE_CANCELLED, true},
	    {"postcopy", MIGRATE_STATE_UNKNOWN, false},
	};
	struct migrate_status st;
	char json[128];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(json, sizeof(json), "{\"state\":\"%s\",\"error\":\"boom\"}",
			 cases[i].name);
		assert_int_equal(parse(json, &st), 0);
		assert_int_equal(st.state, cases[i].st);
		assert_string_equal(st.state_name, cases[i].name);
		assert_int_equal(migrate_state_terminal(st.state), cases[i].terminal);
		assert_string_equal(st.error, "boom");
		assert_int_equal(st.pass, 0);
	}
}

static void test_parse_bad(void **state)
{
	struct migrate_status st;
	char err[128];

	(void)state;
	assert_int_equal(parse("", &st), -1);
	assert_int_equal(parse("not json", &st), -1);
	assert_int_equal(parse("[1,2]", &st), -1);
	assert_int_equal(parse("{}", &st), -1);
	assert_int_equal(parse("{\"state\":3}", &st), -1);
	assert_int_equal(parse("{\"state\":\"precopy\",\"pass\":-1}", &st), -1);
	assert_int_equal(parse("{\"state\":\"precopy\",\"pass\":\"2\"}", &st), -1);
	assert_int_equal(parse("{\"state\":\"precopy\",\"bytes_sent\":1.5}", &st), -1);
	assert_int_equal(parse("{\"state\":\"precopy\"} trailing", &st), -1);
	/* Not terminated: only the given length is read. */
	assert_int_equal(
	    migrate_parse_status("{\"state\":\"ready\"}xxxx", 17, &st, err, sizeof(err)), 0);
	assert_int_equal(st.state, MIGRATE_STATE_READY);
	/* A long state name is cut, and unknown. */
	assert_int_equal(
	    parse("{\"state\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", &st), 0);
	assert_int_equal(st.state, MIGRATE_STATE_UNKNOWN);
	assert_true(strlen(st.state_name) < sizeof(st.state_name));
}

static void test_line(void **state)
{
	struct migrate_status st;
	char line[512];

	(void)state;
	assert_int_equal(parse("{\"state\":\"precopy\",\"pass\":2,\"total_bytes\":1073741824,"
			       "\"bytes_sent\":536870912,\"remaining_bytes\":4194304,"
			       "\"dirty_rate_bps\":200000000,\"bandwidth_bps\":1500000000,"
			       "\"expected_downtime_ms\":3,\"throttle_percent\":40}",
			       &st),
			 0);
	migrate_format_line(&st, line, sizeof(line));
	assert_string_equal(line, "migrate: precopy pass 2: sent 512.0 MiB of 1.0 GiB, remaining "
				  "4.0 MiB, dirty 200.0 MB/s, link 1.50 GB/s, expected downtime 3 "
				  "ms, throttle 40%");
}

static void test_bar_widths(void **state)
{
	struct migrate_status st;
	char bar[512];

	(void)state;
	assert_int_equal(parse("{\"state\":\"precopy\",\"pass\":1,\"total_bytes\":1000,"
			       "\"bytes_sent\":500,\"remaining_bytes\":500,\"throttle_percent\":9}",
			       &st),
			 0);
	for (int w = -5; w < 300; w++) {
		migrate_format_bar(&st, w, bar, sizeof(bar));
		assert_true((int)strlen(bar) <= (w < 2 ? 1 : w - 1));
	}
	migrate_format_bar(&st, 200, bar, sizeof(bar));
	assert_string_equal(bar, "[##########..........]  50% 500 B/1000 B pass 1 dirty 0.0 MB/s "
				 "left 500 B downtime ~0 ms throttle 9%");
	/* Small buffers are always terminated. */
	migrate_format_bar(&st, 200, bar, 8);
	assert_int_equal(strlen(bar), 7);
	/* Sent more than the total (later passes): 99% until completed, then 100%. */
	st.bytes_sent = 5000;
	migrate_format_bar(&st, 200, bar, sizeof(bar));
	assert_non_null(strstr(bar, "]  99% "));
	st.state = MIGRATE_STATE_COMPLETED;
	migrate_format_bar(&st, 200, bar, sizeof(bar));
	assert_non_null(strstr(bar, "[####################] 100% "));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_destination),	 cmocka_unit_test(test_parse_full),
	    cmocka_unit_test(test_parse_states), cmocka_unit_test(test_parse_bad),
	    cmocka_unit_test(test_line),	 cmocka_unit_test(test_bar_widths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
