/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/util.h"

static uint64_t e820_ram(const struct e820_entry *e, int n)
{
	uint64_t total = 0;
	for (int i = 0; i < n; i++)
		if (e[i].type == E820_RAM)
			total += e[i].size;
	return total;
}

static void check_sorted(const struct e820_entry *e, int n)
{
	for (int i = 1; i < n; i++)
		assert_true(e[i - 1].addr + e[i - 1].size <= e[i].addr);
}

static void test_small_memory(void **state)
{
	struct machine_layout l;
	struct e820_entry e[LAYOUT_MAX_E820];
	char err[128];
	int n;

	(void)state;
	assert_int_equal(layout_compute(&l, 512 * MiB, 2, 40, err, sizeof(err)), 0);
	assert_int_equal(l.low_ram_end, 512 * MiB);
	assert_int_equal(l.high_ram_size, 0);
	assert_int_equal(l.mmio64_base, 4 * GiB);
	assert_int_equal(l.mmio64_size, LAYOUT_MMIO64_SIZE);
	n = layout_e820(&l, e, LAYOUT_MAX_E820);
	check_sorted(e, n);
	assert_int_equal(e820_ram(e, n), 512 * MiB - 0x60400);
	assert_int_equal(e820_ram(e, n), layout_ram_bytes(&l));
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].size, LAYOUT_EBDA_START);
}

static void test_memory_above_4g(void **state)
{
	struct machine_layout l;
	struct e820_entry e[LAYOUT_MAX_E820];
	char err[128];
	int n;

	(void)state;
	assert_int_equal(layout_compute(&l, 6 * GiB, 4, 40, err, sizeof(err)), 0);
	assert_int_equal(l.low_ram_end, LAYOUT_MMIO32_START);
	assert_int_equal(l.high_ram_size, 3 * GiB);
	assert_int_equal(l.mmio64_base, 7 * GiB);
	n = layout_e820(&l, e, LAYOUT_MAX_E820);
	check_sorted(e, n);
	assert_int_equal(e[n - 1].addr, 4 * GiB);
	assert_int_equal(e[n - 1].type, E820_RAM);
	assert_int_equal(e820_ram(e, n), 6 * GiB - 0x60400);
	/* The ECAM is reserved, and no RAM overlaps the 32-bit MMIO hole. */
	for (int i = 0; i < n; i++) {
		if (e[i].type == E820_RAM)
			assert_true(e[i].addr + e[i].size <= LAYOUT_MMIO32_START ||
				    e[i].addr >= LAYOUT_4G);
		if (e[i].addr == LAYOUT_ECAM_BASE)
			assert_int_equal(e[i].type, E820_RESERVED);
	}
}

static void test_deterministic(void **state)
{
	struct machine_layout a, b;
	char err[128];

	(void)state;
	memset(&a, 0x11, sizeof(a));
	memset(&b, 0x22, sizeof(b));
	assert_int_equal(layout_compute(&a, 3 * GiB + 4 * MiB, 8, 39, err, sizeof(err)), 0);
	assert_int_equal(layout_compute(&b, 3 * GiB + 4 * MiB, 8, 39, err, sizeof(err)), 0);
	assert_int_equal(a.low_ram_end, b.low_ram_end);
	assert_int_equal(a.high_ram_size, b.high_ram_size);
	assert_int_equal(a.mmio64_base, b.mmio64_base);
	assert_int_equal(a.mmio64_size, b.mmio64_size);
}

static void test_rejects(void **state)
{
	struct machine_layout l;
	char err[128];

	(void)state;
	assert_int_equal(layout_compute(&l, 512 * MiB, 0, 40, err, sizeof(err)), -EINVAL);
	assert_int_equal(layout_compute(&l, 512 * MiB, 255, 40, err, sizeof(err)), -EINVAL);
	assert_int_equal(layout_compute(&l, 4 * MiB, 1, 40, err, sizeof(err)), -EINVAL);
	assert_int_equal(layout_compute(&l, 512 * MiB + 1, 1, 40, err, sizeof(err)), -EINVAL);
	/* 1 TiB does not fit a 36-bit (64 GiB) address space. */
	assert_int_equal(layout_compute(&l, 1 * TiB, 1, 36, err, sizeof(err)), -ERANGE);
	assert_non_null(strstr(err, "36-bit"));
	assert_int_equal(layout_compute(&l, 254 * MiB, 254, 36, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_small_memory),
	    cmocka_unit_test(test_memory_above_4g),
	    cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
