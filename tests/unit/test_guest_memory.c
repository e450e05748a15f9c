/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/guest_memory.h"
#include "core/util.h"

static const struct gm_range two_ranges[] = {
    {0, 16 * MiB},
    {4 * GiB, 8 * MiB},
};

static void test_read_write_bounds(void **state)
{
	struct guest_memory gm;
	uint8_t buf[16], out[16];

	(void)state;
	assert_int_equal(gm_create(&gm, two_ranges, 2, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(gm_total_size(&gm), 24 * MiB);
	memset(buf, 0xab, sizeof(buf));
	assert_int_equal(gm_write(&gm, 16 * MiB - 16, buf, 16), 0);
	assert_int_equal(gm_read(&gm, 16 * MiB - 16, out, 16), 0);
	assert_memory_equal(buf, out, 16);
	/* Crossing the end of a region, in the hole, past everything. */
	assert_int_equal(gm_write(&gm, 16 * MiB - 8, buf, 16), -EFAULT);
	assert_int_equal(gm_read(&gm, 1 * GiB, out, 1), -EFAULT);
	assert_int_equal(gm_write(&gm, 4 * GiB + 8 * MiB, buf, 1), -EFAULT);
	assert_null(gm_ptr(&gm, UINT64_MAX - 2, 8));
	assert_non_null(gm_ptr(&gm, 4 * GiB, 8 * MiB));
	assert_null(gm_ptr(&gm, 4 * GiB, 8 * MiB + 1));
	gm_destroy(&gm);
}

static void test_dirty_tracking(void **state)
{
	struct guest_memory gm;
	uint8_t b = 1;

	(void)state;
	assert_int_equal(gm_create(&gm, two_ranges, 2, GM_BACKING_MEMFD, NULL), 0);
	assert_true(gm.fd >= 0);
	assert_int_equal(gm_write(&gm, 0x1000, &b, 1), 0);
	assert_int_equal(gm.regions[0].dirty[0], 0); /* not tracking yet */
	gm_set_dirty_tracking(&gm, true);
	assert_int_equal(gm_write(&gm, 0x1fff, &b, 1), 0);
	assert_int_equal(gm.regions[0].dirty[0], 1ULL << 1);
	/* A write across a page boundary dirties both pages. */
	assert_int_equal(gm_write(&gm, 4 * GiB + 65 * 4096 - 1, "ab", 2), 0);
	assert_int_equal(gm.regions[1].dirty[1], 3ULL);
	gm_set_dirty_tracking(&gm, false);
	assert_int_equal(gm.regions[1].dirty[1], 0);
	gm_destroy(&gm);
}

static void test_bad_ranges(void **state)
{
	struct guest_memory gm;
	const struct gm_range unaligned[] = {{0, 4097}};
	const struct gm_range overlap[] = {{0, 8192}, {4096, 4096}};

	(void)state;
	assert_int_equal(gm_create(&gm, unaligned, 1, GM_BACKING_ANON, NULL), -EINVAL);
	assert_int_equal(gm_create(&gm, overlap, 2, GM_BACKING_ANON, NULL), -EINVAL);
	assert_int_equal(gm_create(&gm, overlap, 0, GM_BACKING_ANON, NULL), -EINVAL);
	assert_int_equal(gm_create(&gm, two_ranges, 2, GM_BACKING_FILE, "/nonexistent/file"),
			 -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_read_write_bounds),
	    cmocka_unit_test(test_dirty_tracking),
	    cmocka_unit_test(test_bad_ranges),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
