// SPDX-License-Identifier: MIT
/* Unit tests for the MP table (src/arch/x86/mptable.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
// cmocka must come after the headers above
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arch/x86/layout.h"
#include "arch/x86/mptable.h"

#define EBDA_LEN (LAYOUT_EBDA_END - LAYOUT_EBDA_START)

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)rd16(p) | (uint32_t)rd16(p + 2) << 16;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
	uint8_t s = 0;

	while (n--)
		s = (uint8_t)(s + *p++);
	return s;
}

/* Parse the table as a guest would and check every entry. */
static void check_table(const uint8_t *buf, int len, unsigned ncpus, uint64_t base)
{
	const uint8_t *cfg, *e, *end;
	unsigned cpus = 0, buses = 0, ioapics = 0, lints = 0, entries = 0;
	uint16_t pin_of[16];
	uint16_t flags_of[16];
	bool seen[16] = {false};
	uint8_t ioapic_id = 0xff;
	unsigned i;

	assert_int_equal(len, MPTABLE_SIZE(ncpus));

	/* Floating pointer. */
	assert_memory_equal(buf, "_MP_", 4);
	assert_int_equal(buf[8], 1);  /* 16 bytes */
	assert_int_equal(buf[9], 4);  /* spec 1.4 */
	assert_int_equal(buf[11], 0); /* a configuration table follows (no default config) */
	assert_int_equal(sum(buf, 16), 0);
	assert_true(rd32(buf + 4) >= base + 16);
	cfg = buf + (rd32(buf + 4) - base);
	assert_true(cfg + 44 <= buf + len);

	/* Configuration table header. */
	assert_memory_equal(cfg, "PCMP", 4);
	assert_int_equal(cfg[6], 4);
	assert_true(cfg + rd16(cfg + 4) <= buf + len);
	assert_int_equal(sum(cfg, rd16(cfg + 4)), 0);
	assert_int_equal(rd32(cfg + 36), LAYOUT_LAPIC_ADDR);
	assert_int_equal(rd16(cfg + 40), 0); /* no extended table */

	end = cfg + rd16(cfg + 4);
	e = cfg + 44;
	int last_type = -1;
	while (e < end) {
		/* entries come sorted by type */
		assert_true(e[0] >= last_type);
		last_type = e[0];
		entries++;
		switch (e[0]) {
		case 0:
			assert_true(e + 20 <= end);
			assert_int_equal(e[1], cpus); /* APIC id */
			assert_int_equal(e[3] & 1, 1);
			assert_int_equal(!!(e[3] & 2), cpus == 0); /* BSP */
			cpus++;
			e += 20;
			break;
		case 1:
			assert_true(e + 8 <= end);
			assert_int_equal(e[1], 0);
			assert_memory_equal(e + 2, "ISA   ", 6);
			buses++;
			e += 8;
			break;
		case 2:
			assert_true(e + 8 <= end);
			ioapic_id = e[1];
			assert_int_equal(e[3] & 1, 1);
			assert_int_equal(rd32(e + 4), LAYOUT_IOAPIC_ADDR);
			ioapics++;
			e += 8;
			break;
		case 3:
			assert_true(e + 8 <= end);
			assert_int_equal(e[1], 0); /* INT */
			assert_int_equal(e[4], 0); /* ISA bus */
			assert_true(e[5] < 16);
			assert_false(seen[e[5]]);
			assert_int_equal(e[6], ioapic_id);
			seen[e[5]] = true;
			pin_of[e[5]] = e[7];
			flags_of[e[5]] = rd16(e + 2);
			e += 8;
			break;
		case 4:
			assert_true(e + 8 <= end);
			assert_int_equal(e[6], 0xff); /* all local APICs */
			if (e[7] == 0)
				assert_int_equal(e[1], 3); /* ExtINT on LINT0 */
			else if (e[7] == 1)
				assert_int_equal(e[1], 1); /* NMI on LINT1 */
			else
				fail_msg("LINT%u", e[7]);
			lints++;
			e += 8;
			break;
		default:
			fail_msg("unexpected entry type %u", e[0]);
		}
	}
	assert_ptr_equal(e, end);
	assert_int_equal(rd16(cfg + 34), entries);
	assert_int_equal(cpus, ncpus);
	assert_int_equal(buses, 1);
	assert_int_equal(ioapics, 1);
	assert_int_equal(lints, 2);
	assert_true(ioapic_id >= ncpus); /* not shared with a processor */

	/* ISA IRQs: 0 -> pin 2, 2 absent (cascade), SCI level/high, rest identity. */
	assert_true(seen[0]);
	assert_int_equal(pin_of[0], 2);
	assert_false(seen[2]);
	for (i = 1; i < 16; i++) {
		if (i == 2)
			continue;
		assert_true(seen[i]);
		assert_int_equal(pin_of[i], i);
		assert_int_equal(flags_of[i], i == LAYOUT_GSI_SCI ? 0x000d : 0);
	}
}

static void test_layouts(void **state)
{
	static const unsigned cpus[] = {1, 2, 4, 16, MPTABLE_MAX_CPUS_EBDA};
	uint8_t buf[EBDA_LEN];
	unsigned i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(cpus) / sizeof(cpus[0]); i++) {
		memset(buf, 0xcc, sizeof(buf));
		n = mptable_build(cpus[i], buf, sizeof(buf), LAYOUT_EBDA_START);
		assert_true(n > 0);
		assert_true((size_t)n <= EBDA_LEN);
		check_table(buf, n, cpus[i], LAYOUT_EBDA_START);
	}
}

/* Up to MPTABLE_MAX_CPUS_EBDA fit the EBDA kilobyte; one more does not. */
static void test_ebda_limit(void **state)
{
	uint8_t *buf;
	int n;

	(void)state;
	assert_true(MPTABLE_SIZE(MPTABLE_MAX_CPUS_EBDA) <= EBDA_LEN);
	assert_true(MPTABLE_SIZE(MPTABLE_MAX_CPUS_EBDA + 1) > EBDA_LEN);

	/* Exact-size heap buffers: ASan sees any write past the end. */
	buf = malloc(EBDA_LEN);
	assert_non_null(buf);
	memset(buf, 0xa5, EBDA_LEN);
	n = mptable_build(MPTABLE_MAX_CPUS_EBDA + 1, buf, EBDA_LEN, LAYOUT_EBDA_START);
	assert_int_equal(n, -ENOSPC);
	n = mptable_build(LAYOUT_MAX_CPUS, buf, EBDA_LEN, LAYOUT_EBDA_START);
	assert_int_equal(n, -ENOSPC);
	for (size_t i = 0; i < EBDA_LEN; i++)
		assert_int_equal(buf[i], 0xa5); /* untouched */
	free(buf);

	/* 254 vCPUs fit a larger area (e.g. the top of the ACPI region). */
	buf = malloc(MPTABLE_SIZE(LAYOUT_MAX_CPUS));
	assert_non_null(buf);
	n = mptable_build(LAYOUT_MAX_CPUS, buf, MPTABLE_SIZE(LAYOUT_MAX_CPUS), 0xf0000);
	assert_int_equal(n, (int)MPTABLE_SIZE(LAYOUT_MAX_CPUS));
	check_table(buf, n, LAYOUT_MAX_CPUS, 0xf0000);
	free(buf);
}

static void test_small_buffers(void **state)
{
	size_t need = MPTABLE_SIZE(4), cap;

	(void)state;
	for (cap = 0; cap < need; cap++) {
		uint8_t *buf = malloc(cap ? cap : 1);

		assert_non_null(buf);
		assert_int_equal(mptable_build(4, buf, cap, LAYOUT_EBDA_START), -ENOSPC);
		free(buf);
	}
}

static void test_invalid(void **state)
{
	uint8_t buf[EBDA_LEN];

	(void)state;
	assert_int_equal(mptable_build(0, buf, sizeof(buf), LAYOUT_EBDA_START), -EINVAL);
	assert_int_equal(mptable_build(LAYOUT_MAX_CPUS + 1, buf, sizeof(buf), LAYOUT_EBDA_START),
			 -EINVAL);
	assert_int_equal(mptable_build(1, buf, sizeof(buf), LAYOUT_EBDA_START + 4), -EINVAL);
	assert_int_equal(mptable_build(1, buf, sizeof(buf), LAYOUT_4G - 64), -EINVAL);
	assert_int_equal(mptable_build(1, NULL, sizeof(buf), LAYOUT_EBDA_START), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_layouts),
	    cmocka_unit_test(test_ebda_limit),
	    cmocka_unit_test(test_small_buffers),
	    cmocka_unit_test(test_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
