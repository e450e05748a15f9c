/* SPDX-License-Identifier: MIT */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/util.h"

static void test_parse_size_units(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("512", &v), 0);
	assert_int_equal(v, 512 * MiB);
	assert_int_equal(parse_size("64K", &v), 0);
	assert_int_equal(v, 64 * KiB);
	assert_int_equal(parse_size("2g", &v), 0);
	assert_int_equal(v, 2 * GiB);
	assert_int_equal(parse_size("1T", &v), 0);
	assert_int_equal(v, TiB);
	assert_int_equal(parse_size("256MiB", &v), 0);
	assert_int_equal(v, 256 * MiB);
	assert_int_equal(parse_size("3GB", &v), 0);
	assert_int_equal(v, 3 * GiB);
}

static void test_parse_size_rejects(void **state)
{
	uint64_t v = 7;

	(void)state;
	assert_int_equal(parse_size("", &v), -1);
	assert_int_equal(parse_size("abc", &v), -1);
	assert_int_equal(parse_size("-5", &v), -1);
	assert_int_equal(parse_size("12X", &v), -1);
	assert_int_equal(parse_size("12MX", &v), -1);
	assert_int_equal(parse_size("1.5G", &v), -1);
	assert_int_equal(parse_size("99999999999999999999", &v), -1);
	assert_int_equal(parse_size("20000000000T", &v), -1);
	assert_int_equal(v, 7);
}

static void test_parse_uint(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_uint("4", 1, 254, &v), 0);
	assert_int_equal(v, 4);
	assert_int_equal(parse_uint("0", 1, 254, &v), -1);
	assert_int_equal(parse_uint("255", 1, 254, &v), -1);
	assert_int_equal(parse_uint("4x", 1, 254, &v), -1);
	assert_int_equal(parse_uint(" 4", 1, 254, &v), -1);
}

static void test_hex_digit_value(void **state)
{
	(void)state;
	assert_int_equal(hex_digit_value('0'), 0);
	assert_int_equal(hex_digit_value('9'), 9);
	assert_int_equal(hex_digit_value('a'), 10);
	assert_int_equal(hex_digit_value('F'), 15);
	assert_int_equal(hex_digit_value('g'), -1);
	assert_int_equal(hex_digit_value('/'), -1);
	assert_int_equal(hex_digit_value(':'), -1);
	assert_int_equal(hex_digit_value('@'), -1);
	assert_int_equal(hex_digit_value(0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_size_units),
	    cmocka_unit_test(test_parse_size_rejects),
	    cmocka_unit_test(test_parse_uint),
	    cmocka_unit_test(test_hex_digit_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
