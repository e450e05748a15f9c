/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/rate_limiter.h"
#include "core/util.h"

#define MS 1000000ULL
#define S  (1000 * MS)

static uint64_t fake_now;

static uint64_t fake_clock(void *opaque)
{
	(void)opaque;
	return fake_now;
}

static void setup_rl(struct rate_limiter *rl, const struct token_bucket_config *ops,
		     const struct token_bucket_config *bytes)
{
	fake_now = 1000 * S;
	rate_limiter_init(rl, ops, bytes);
	rate_limiter_set_clock(rl, fake_clock, NULL);
}

static void test_unlimited(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config zero_size = {.size = 0, .refill_time_ms = 1000};
	struct token_bucket_config zero_time = {.size = 10, .refill_time_ms = 0};

	(void)state;
	setup_rl(&rl, NULL, NULL);
	assert_true(rate_limiter_is_unlimited(&rl));
	for (int i = 0; i < 1000; i++)
		assert_true(rate_limiter_consume(&rl, 1000, 1 << 30));
	assert_int_equal(rate_limiter_wait_ns(&rl, UINT64_MAX, UINT64_MAX), 0);

	setup_rl(&rl, &zero_size, &zero_time);
	assert_true(rate_limiter_is_unlimited(&rl));
	assert_true(rate_limiter_consume(&rl, 1000000, 1000000));
}

static void test_ops_bucket_refill(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config ops = {.size = 10, .refill_time_ms = 1000};

	(void)state;
	setup_rl(&rl, &ops, NULL);
	assert_false(rate_limiter_is_unlimited(&rl));
	for (int i = 0; i < 10; i++)
		assert_true(rate_limiter_consume(&rl, 1, 4096));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	/* One token per 100 ms. */
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 0), 100 * MS);
	assert_int_equal(rate_limiter_wait_ns(&rl, 3, 0), 300 * MS);
	fake_now += 100 * MS - 1;
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 0), 1);
	assert_false(rate_limiter_consume(&rl, 1, 0));
	fake_now += 1;
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 0), 0);
	assert_true(rate_limiter_consume(&rl, 1, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	/* Zero tokens always pass. */
	assert_true(rate_limiter_consume(&rl, 0, 123456));
}

static void test_full_bucket_caps(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config bytes = {.size = 1000, .refill_time_ms = 100};

	(void)state;
	setup_rl(&rl, NULL, &bytes);
	assert_true(rate_limiter_consume(&rl, 1, 1000));
	fake_now += 3600 * S; /* an idle hour refills no more than the size */
	assert_true(rate_limiter_consume(&rl, 1, 1000));
	assert_false(rate_limiter_consume(&rl, 1, 1));
	assert_int_equal(rate_limiter_wait_ns(&rl, 0, 1000), 100 * MS);
}

static void test_all_or_nothing(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config ops = {.size = 5, .refill_time_ms = 1000};
	struct token_bucket_config bytes = {.size = 1000, .refill_time_ms = 1000};

	(void)state;
	setup_rl(&rl, &ops, &bytes);
	assert_true(rate_limiter_consume(&rl, 1, 900));
	/* Bytes refuse: the op token must stay. */
	for (int i = 0; i < 10; i++)
		assert_false(rate_limiter_consume(&rl, 1, 200));
	assert_true(rate_limiter_consume(&rl, 4, 100));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	/* Ops refuse: the bytes must stay (1000 ms refill, both empty). */
	fake_now += 500 * MS; /* 2 ops, 500 bytes */
	assert_false(rate_limiter_consume(&rl, 3, 10));
	assert_true(rate_limiter_consume(&rl, 2, 500));
	/*
	 * Half an op token has accrued (one per 200 ms); the wait is the
	 * longer of the two buckets' waits.
	 */
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 0), 100 * MS);
	assert_int_equal(rate_limiter_wait_ns(&rl, 0, 500), 500 * MS);
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 500), 500 * MS);
	assert_int_equal(rate_limiter_wait_ns(&rl, 4, 500), 700 * MS);
}

static void test_one_time_burst(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config ops = {.size = 10, .one_time_burst = 5, .refill_time_ms = 1000};

	(void)state;
	setup_rl(&rl, &ops, NULL);
	assert_true(rate_limiter_consume(&rl, 15, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	fake_now += 10 * S;
	/* The burst is spent for good; only the size refills. */
	assert_true(rate_limiter_consume(&rl, 10, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));

	/* Burst is spent before the budget. */
	setup_rl(&rl, &ops, NULL);
	assert_true(rate_limiter_consume(&rl, 5, 0));
	assert_true(rate_limiter_consume(&rl, 10, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
}

static void test_oversized_request(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config bytes = {.size = 1000, .refill_time_ms = 1000};

	(void)state;
	setup_rl(&rl, NULL, &bytes);
	assert_true(rate_limiter_consume(&rl, 1, 1));
	/* Not full: an oversized request waits until the bucket is full. */
	assert_false(rate_limiter_consume(&rl, 1, 3000));
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 3000), 1 * MS);
	fake_now += 1 * MS;
	assert_true(rate_limiter_consume(&rl, 1, 3000));
	/* 2000 bytes of debt: one byte more needs 2.001 s. */
	assert_false(rate_limiter_consume(&rl, 1, 1));
	assert_int_equal(rate_limiter_wait_ns(&rl, 0, 1), 2001 * MS);
	assert_int_equal(rate_limiter_wait_ns(&rl, 0, 5000), 3000 * MS);
	fake_now += 2000 * MS;
	assert_false(rate_limiter_consume(&rl, 1, 1));
	fake_now += 1 * MS;
	assert_true(rate_limiter_consume(&rl, 1, 1));
}

static void test_no_drift(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config ops = {.size = 3, .refill_time_ms = 1000};
	unsigned passed = 0;

	(void)state;
	setup_rl(&rl, &ops, NULL);
	/* 3 per second, polled every 7 ms for 100 s: 3 up front + 300. */
	for (uint64_t t = 0; t <= 100 * S; t += 7 * MS) {
		fake_now = 1000 * S + t;
		while (rate_limiter_consume(&rl, 1, 0))
			passed++;
	}
	assert_int_equal(passed, 3 + 299);
	fake_now = 1000 * S + 100 * S;
	while (rate_limiter_consume(&rl, 1, 0))
		passed++;
	assert_int_equal(passed, 3 + 300);
}

/* Property: after waiting wait_ns the call passes; one ns earlier it does not. */
static void test_wait_is_exact(void **state)
{
	struct rate_limiter rl, copy;
	struct token_bucket_config ops = {.size = 7, .one_time_burst = 3, .refill_time_ms = 13};
	struct token_bucket_config bytes = {.size = 5000, .refill_time_ms = 333};
	uint64_t seed = 12345;
	unsigned waited = 0;

	(void)state;
	setup_rl(&rl, &ops, &bytes);
	for (int i = 0; i < 20000; i++) {
		uint64_t o, b, w;

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		o = (seed >> 33) % 9;
		b = (seed >> 13) % 7000;
		w = rate_limiter_wait_ns(&rl, o, b);
		if (w) {
			waited++;
			copy = rl;
			fake_now += w - 1;
			assert_false(rate_limiter_consume(&copy, o, b));
			fake_now += 1;
		}
		assert_int_equal(rate_limiter_wait_ns(&rl, o, b), 0);
		assert_true(rate_limiter_consume(&rl, o, b));
		fake_now += (seed >> 40) % (5 * MS);
	}
	assert_true(waited > 1000);
}

static void test_update(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config ops = {.size = 2, .refill_time_ms = 1000};
	struct token_bucket_config more = {.size = 100, .refill_time_ms = 1000};
	struct token_bucket_config none = {0};

	(void)state;
	setup_rl(&rl, &ops, NULL);
	assert_true(rate_limiter_consume(&rl, 2, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	rate_limiter_update(&rl, &more, NULL);
	assert_true(rate_limiter_consume(&rl, 100, 1 << 20));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	rate_limiter_update(&rl, &none, NULL);
	assert_true(rate_limiter_is_unlimited(&rl));
	assert_true(rate_limiter_consume(&rl, 1000, 0));
}

static void test_parse_rate(void **state)
{
	struct token_bucket_config c;

	(void)state;
	assert_int_equal(rate_limiter_parse_rate("1000", &c), 0);
	assert_int_equal(c.size, 1000);
	assert_int_equal(c.one_time_burst, 0);
	assert_int_equal(c.refill_time_ms, 1000);
	assert_int_equal(rate_limiter_parse_rate("10M", &c), 0);
	assert_int_equal(c.size, 10 * MiB);
	assert_int_equal(rate_limiter_parse_rate("64k", &c), 0);
	assert_int_equal(c.size, 64 * KiB);
	assert_int_equal(rate_limiter_parse_rate("2G", &c), 0);
	assert_int_equal(c.size, 2 * GiB);
	assert_int_equal(rate_limiter_parse_rate("0", &c), 0);
	assert_int_equal(c.size, 0);
	assert_int_equal(c.refill_time_ms, 0);

	c.size = 77;
	assert_int_equal(rate_limiter_parse_rate("", &c), -1);
	assert_int_equal(rate_limiter_parse_rate(NULL, &c), -1);
	assert_int_equal(rate_limiter_parse_rate("-1", &c), -1);
	assert_int_equal(rate_limiter_parse_rate(" 1", &c), -1);
	assert_int_equal(rate_limiter_parse_rate("1.5", &c), -1);
	assert_int_equal(rate_limiter_parse_rate("10X", &c), -1);
	assert_int_equal(rate_limiter_parse_rate("10MB", &c), -1);
	assert_int_equal(rate_limiter_parse_rate("99999999999999999999", &c), -1);
	assert_int_equal(rate_limiter_parse_rate("99999999999G", &c), -1);
	assert_int_equal(c.size, 77);
}

/* A parsed rate admits one second's worth, then N per second. */
static void test_parsed_rate_behaviour(void **state)
{
	struct rate_limiter rl;
	struct token_bucket_config iops;

	(void)state;
	assert_int_equal(rate_limiter_parse_rate("100", &iops), 0);
	setup_rl(&rl, &iops, NULL);
	for (int i = 0; i < 100; i++)
		assert_true(rate_limiter_consume(&rl, 1, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
	assert_int_equal(rate_limiter_wait_ns(&rl, 1, 0), 10 * MS);
	fake_now += S;
	for (int i = 0; i < 100; i++)
		assert_true(rate_limiter_consume(&rl, 1, 0));
	assert_false(rate_limiter_consume(&rl, 1, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_unlimited),
	    cmocka_unit_test(test_ops_bucket_refill),
	    cmocka_unit_test(test_full_bucket_caps),
	    cmocka_unit_test(test_all_or_nothing),
	    cmocka_unit_test(test_one_time_burst),
	    cmocka_unit_test(test_oversized_request),
	    cmocka_unit_test(test_no_drift),
	    cmocka_unit_test(test_wait_is_exact),
	    cmocka_unit_test(test_update),
	    cmocka_unit_test(test_parse_rate),
	    cmocka_unit_test(test_parsed_rate_behaviour),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
