/* SPDX-License-Identifier: MIT */
/* MC146818 RTC model, driven through the port-I/O bus as Linux's mc146818 code reads it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/irq.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/legacy/mc146818.h"

#define IDX  LAYOUT_PORT_RTC
#define DATA (LAYOUT_PORT_RTC + 1)

enum { SEC = 0, SEC_ALARM, MIN, MIN_ALARM, HOUR, HOUR_ALARM, WDAY, MDAY, MON, YEAR };
enum { REG_A = 0x0a, REG_B, REG_C, REG_D, CENTURY = 0x32 };

#define NS 1000000000LL

struct irq_rec {
	int level;
	int raises;
};

static void irq_rec_set(void *opaque, uint32_t gsi, int level)
{
	struct irq_rec *r = opaque;

	if (level && !r->level)
		r->raises++;
	r->level = level;
}

struct fixture {
	struct bus bus;
	struct mc146818 rtc;
	struct irq_rec irq;
	int64_t fake_ns; /* used once mc146818_set_clock(fake_clock) */
	int timer_changes;
};

static int64_t fake_clock(void *opaque)
{
	struct fixture *f = opaque;

	return f->fake_ns;
}

static void on_timer_changed(void *opaque)
{
	struct fixture *f = opaque;

	f->timer_changes++;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct irq_line line = {.set = irq_rec_set, .opaque = &f->irq, .gsi = LAYOUT_GSI_RTC};

	bus_init(&f->bus, "pio");
	mc146818_init(&f->rtc, line, 2 * GiB, 0);
	mc146818_set_timer_changed(&f->rtc, on_timer_changed, f);
	assert_int_equal(
	    bus_register(&f->bus, LAYOUT_PORT_RTC, MC146818_NR_PORTS, &mc146818_bus_ops, &f->rtc),
	    0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mc146818_destroy(&f->rtc);
	bus_destroy(&f->bus);
	test_free(f);
	return 0;
}

static uint8_t rd(struct fixture *f, uint8_t reg)
{
	uint8_t v = 0;

	assert_true(bus_write(&f->bus, IDX, &reg, 1));
	assert_true(bus_read(&f->bus, DATA, &v, 1));
	return v;
}

static void wr(struct fixture *f, uint8_t reg, uint8_t v)
{
	assert_true(bus_write(&f->bus, IDX, &reg, 1));
	assert_true(bus_write(&f->bus, DATA, &v, 1));
}

static unsigned from_bcd(uint8_t v)
{
	assert_true((v & 0x0f) <= 9 && (v >> 4) <= 9);
	return (v >> 4) * 10 + (v & 0x0f);
}

/* Set the fake clock to a UTC date and time plus ns. */
static void set_fake(struct fixture *f, int y, int mon, int d, int h, int m, int s, int64_t ns)
{
	struct tm tm = {.tm_year = y - 1900,
			.tm_mon = mon - 1,
			.tm_mday = d,
			.tm_hour = h,
			.tm_min = m,
			.tm_sec = s};

	f->fake_ns = (int64_t)timegm(&tm) * NS + ns;
}

static void use_fake_clock(struct fixture *f)
{
	mc146818_set_clock(&f->rtc, fake_clock, f);
}

/* Linux's mc146818_get_time(): wait out UIP, read, re-check; returns epoch seconds. */
static time_t linux_get_time(struct fixture *f, bool binary)
{
	uint8_t r[10], century, sec;
	unsigned v[10], cent;
	struct tm tm;
	int tries = 0;

	for (;;) {
		assert_true(tries++ < 100000);
		sec = rd(f, SEC);
		if (rd(f, REG_A) & 0x80)
			continue;
		if (sec != rd(f, SEC))
			continue;
		for (unsigned i = 0; i < 10; i++)
			r[i] = rd(f, (uint8_t)i);
		century = rd(f, CENTURY);
		if (rd(f, REG_A) & 0x80)
			continue;
		if (r[SEC] == sec)
			break;
	}
	for (unsigned i = 0; i < 10; i++)
		v[i] = binary ? r[i] : from_bcd(r[i]);
	cent = binary ? century : from_bcd(century);
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)(cent * 100 + v[YEAR]) - 1900;
	tm.tm_mon = (int)v[MON] - 1;
	tm.tm_mday = (int)v[MDAY];
	tm.tm_hour = (int)v[HOUR];
	tm.tm_min = (int)v[MIN];
	tm.tm_sec = (int)v[SEC];
	assert_in_range(v[WDAY], 1, 7);
	return timegm(&tm);
}

static void test_host_time_bcd_and_binary(void **state)
{
	struct fixture *f = *state;
	time_t t;

	assert_int_equal(rd(f, REG_B), 0x02); /* BCD, 24-hour */
	assert_int_equal(rd(f, REG_D), 0x80);
	t = linux_get_time(f, false);
	assert_true(llabs((long long)(t - time(NULL))) <= 2);

	wr(f, REG_B, 0x06);
	t = linux_get_time(f, true);
	assert_true(llabs((long long)(t - time(NULL))) <= 2);
	assert_true(rd(f, YEAR) < 100);
}

static void test_uip_never_stays_set(void **state)
{
	struct fixture *f = *state;
	int reads = 0;

	/* Real clock: UIP clears within a bounded number of reads. */
	while (rd(f, REG_A) & 0x80)
		assert_true(++reads < 1000000);
	assert_int_equal(rd(f, REG_A) & 0x7f, 0x26);

	use_fake_clock(f);
	set_fake(f, 2024, 2, 29, 23, 59, 59, 500000000);
	assert_int_equal(rd(f, REG_A), 0x26);
	f->fake_ns += 499800000; /* 200 us before the second ends */
	assert_int_equal(rd(f, REG_A), 0xa6);
	assert_int_equal(rd(f, SEC), 0x59);
	f->fake_ns += 200000;
	assert_int_equal(rd(f, REG_A), 0x26);
	assert_int_equal(rd(f, SEC), 0x00);
	/* While SET holds the clock there is no update cycle. */
	f->fake_ns += 999900000;
	wr(f, REG_B, 0x82);
	assert_int_equal(rd(f, REG_A), 0x26);
}

static void test_calendar_fields(void **state)
{
	struct fixture *f = *state;

	use_fake_clock(f);
	set_fake(f, 2024, 2, 29, 23, 59, 59, 500000000);
	assert_int_equal(rd(f, SEC), 0x59);
	assert_int_equal(rd(f, MIN), 0x59);
	assert_int_equal(rd(f, HOUR), 0x23);
	assert_int_equal(rd(f, WDAY), 5); /* Thursday */
	assert_int_equal(rd(f, MDAY), 0x29);
	assert_int_equal(rd(f, MON), 0x02);
	assert_int_equal(rd(f, YEAR), 0x24);
	assert_int_equal(rd(f, CENTURY), 0x20);

	f->fake_ns += NS;
	assert_int_equal(rd(f, SEC), 0x00);
	assert_int_equal(rd(f, HOUR), 0x00);
	assert_int_equal(rd(f, WDAY), 6);
	assert_int_equal(rd(f, MDAY), 0x01);
	assert_int_equal(rd(f, MON), 0x03);

	set_fake(f, 1999, 12, 31, 23, 59, 59, 0);
	wr(f, REG_B, 0x06);
	assert_int_equal(rd(f, YEAR), 99);
	assert_int_equal(rd(f, CENTURY), 19);
	assert_int_equal(rd(f, WDAY), 6); /* Friday */
	f->fake_ns += NS;
	assert_int_equal(rd(f, YEAR), 0);
	assert_int_equal(rd(f, CENTURY), 20);
	assert_int_equal(rd(f, MDAY), 1);
	assert_int_equal(rd(f, WDAY), 7); /* Saturday */
}

static void test_12_hour(void **state)
{
	struct fixture *f = *state;

	use_fake_clock(f);
	wr(f, REG_B, 0x00); /* BCD, 12-hour */
	set_fake(f, 2023, 7, 1, 13, 5, 9, 0);
	assert_int_equal(rd(f, HOUR), 0x81);
	set_fake(f, 2023, 7, 1, 0, 30, 0, 0);
	assert_int_equal(rd(f, HOUR), 0x12);
	set_fake(f, 2023, 7, 1, 12, 0, 0, 0);
	assert_int_equal(rd(f, HOUR), 0x92);
	set_fake(f, 2023, 7, 1, 11, 0, 0, 0);
	assert_int_equal(rd(f, HOUR), 0x11);
	wr(f, REG_B, 0x04); /* binary, 12-hour */
	set_fake(f, 2023, 7, 1, 23, 0, 0, 0);
	assert_int_equal(rd(f, HOUR), 0x80 | 11);
	set_fake(f, 2023, 7, 1, 0, 0, 0, 0);
	assert_int_equal(rd(f, HOUR), 12);

	/* Setting 1 PM in 12-hour BCD and reading it back in 24-hour mode. */
	wr(f, REG_B, 0x80);
	wr(f, HOUR, 0x81);
	wr(f, REG_B, 0x00);
	wr(f, REG_B, 0x02);
	assert_int_equal(rd(f, HOUR), 0x13);
}

static void test_set_bit_offset(void **state)
{
	struct fixture *f = *state;
	int64_t host;

	use_fake_clock(f);
	set_fake(f, 2024, 5, 6, 7, 8, 9, 0);
	host = f->fake_ns;

	/* Linux's mc146818_set_time: SET, write the fields, clear SET. */
	wr(f, REG_B, 0x82);
	wr(f, YEAR, 0x01);
	wr(f, MON, 0x02);
	wr(f, MDAY, 0x03);
	wr(f, HOUR, 0x04);
	wr(f, MIN, 0x05);
	wr(f, SEC, 0x06);
	wr(f, CENTURY, 0x20);
	/* Frozen while SET: reads return what was written. */
	f->fake_ns += 5 * NS;
	assert_int_equal(rd(f, SEC), 0x06);
	assert_int_equal(rd(f, YEAR), 0x01);
	wr(f, REG_B, 0x02);
	assert_int_equal(rd(f, SEC), 0x06);
	assert_int_equal(rd(f, WDAY), 7); /* 2001-02-03 was a Saturday */

	/* The guest clock runs on from there with the host clock. */
	f->fake_ns += 10 * NS;
	assert_int_equal(rd(f, SEC), 0x16);
	assert_int_equal(rd(f, MIN), 0x05);
	assert_int_equal(rd(f, MDAY), 0x03);
	assert_int_equal(rd(f, YEAR), 0x01);
	assert_int_equal(f->fake_ns, host + 15 * NS); /* host time untouched */

	/* Real host clock: the guest's setting moves only the guest's time. */
	mc146818_set_clock(&f->rtc, NULL, NULL);
	assert_true(llabs((long long)(time(NULL) - linux_get_time(f, false))) > 365LL * 86400);
}

static void test_invalid_set_and_field_write(void **state)
{
	struct fixture *f = *state;
	uint64_t errors = log_guest_error_count();

	use_fake_clock(f);
	set_fake(f, 2024, 5, 6, 7, 8, 9, 0);
	wr(f, REG_B, 0x82);
	wr(f, MON, 0x02);
	wr(f, MDAY, 0x30); /* February 30th */
	wr(f, REG_B, 0x02);
	assert_int_equal(log_guest_error_count(), errors + 1);
	assert_int_equal(rd(f, MON), 0x05);
	assert_int_equal(rd(f, MDAY), 0x06);

	wr(f, REG_B, 0x82);
	wr(f, SEC, 0x6a); /* not BCD */
	wr(f, REG_B, 0x02);
	assert_int_equal(log_guest_error_count(), errors + 2);
	assert_int_equal(rd(f, SEC), 0x09);
	wr(f, CENTURY, 0x07); /* year 724: outside the supported range */
	assert_int_equal(log_guest_error_count(), errors + 3);
	assert_int_equal(rd(f, CENTURY), 0x20);

	/* A field written while the clock runs changes just that field. */
	f->fake_ns += 300000000;
	wr(f, MIN, 0x30);
	assert_int_equal(rd(f, MIN), 0x30);
	assert_int_equal(rd(f, HOUR), 0x07);
	assert_int_equal(rd(f, SEC), 0x09);
	f->fake_ns += 700000000; /* the second's fraction was kept */
	assert_int_equal(rd(f, SEC), 0x10);
	/* Day of week is derived; writes are ignored while running. */
	wr(f, WDAY, 0x03);
	assert_int_equal(rd(f, WDAY), 2); /* Monday */
}

static void test_update_interrupt(void **state)
{
	struct fixture *f = *state;
	int64_t next;
	int changes;

	use_fake_clock(f);
	set_fake(f, 2024, 1, 1, 0, 0, 0, 250000000);
	rd(f, REG_C);
	assert_int_equal(mc146818_next_event(&f->rtc), -1);

	/* Flags set without their enable: no IRQF, no interrupt (PF ticks at 1024 Hz). */
	f->fake_ns += NS;
	assert_int_equal(rd(f, REG_C), 0x50);
	assert_int_equal(rd(f, REG_C), 0x00);
	assert_int_equal(f->irq.raises, 0);

	changes = f->timer_changes;
	wr(f, REG_B, 0x12); /* UIE */
	assert_true(f->timer_changes > changes);
	next = mc146818_next_event(&f->rtc);
	assert_int_equal(next, f->fake_ns - 250000000 + NS);
	f->fake_ns = next - 1;
	mc146818_timer(&f->rtc);
	assert_int_equal(f->irq.level, 0);
	f->fake_ns = next;
	mc146818_timer(&f->rtc);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(mc146818_next_event(&f->rtc), -1); /* up until C is read */
	assert_int_equal(rd(f, REG_C), 0xd0);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(mc146818_next_event(&f->rtc), next + NS);

	/* Setting SET clears UIE. */
	wr(f, REG_B, 0x92);
	assert_int_equal(rd(f, REG_B), 0x82);
}

static void test_periodic_interrupt(void **state)
{
	struct fixture *f = *state;
	int64_t next, period = NS / 1024;

	use_fake_clock(f);
	set_fake(f, 2024, 1, 1, 0, 0, 0, 0);
	rd(f, REG_C);
	wr(f, REG_B, 0x42); /* PIE, rate 6 (1024 Hz) from register A */
	next = mc146818_next_event(&f->rtc);
	assert_true(next > f->fake_ns && next <= f->fake_ns + period + 1);
	f->fake_ns = next;
	mc146818_timer(&f->rtc);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, REG_C), 0xc0);
	assert_int_equal(f->irq.level, 0);

	/* Rate 0 turns the periodic interrupt off. */
	wr(f, REG_A, 0x20);
	assert_int_equal(mc146818_next_event(&f->rtc), -1);
	f->fake_ns += NS;
	assert_int_equal(rd(f, REG_C) & 0x40, 0);
	/* Rate 15 is 2 Hz. */
	wr(f, REG_A, 0x2f);
	next = mc146818_next_event(&f->rtc);
	assert_int_equal(next % (NS / 2), 0);
	assert_true(next > f->fake_ns && next <= f->fake_ns + NS / 2);
}

static void test_alarm_interrupt(void **state)
{
	struct fixture *f = *state;

	use_fake_clock(f);
	set_fake(f, 2024, 1, 1, 10, 20, 30, 0);
	rd(f, REG_C);
	wr(f, SEC_ALARM, 0x35);
	wr(f, MIN_ALARM, 0x20);
	wr(f, HOUR_ALARM, 0x10);
	wr(f, REG_B, 0x22); /* AIE */
	assert_int_equal(mc146818_next_event(&f->rtc), f->fake_ns + NS);
	f->fake_ns += 4 * NS;
	mc146818_timer(&f->rtc);
	assert_int_equal(f->irq.level, 0);
	f->fake_ns += NS;
	mc146818_timer(&f->rtc);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(rd(f, REG_C), 0xf0); /* IRQF, PF, AF, UF */

	/* Don't-care bytes: every second matches. Missed seconds are found too. */
	wr(f, SEC_ALARM, 0xc0);
	wr(f, MIN_ALARM, 0xff);
	wr(f, HOUR_ALARM, 0xc0);
	f->fake_ns += 3 * NS;
	assert_int_equal(rd(f, REG_C), 0xf0);
	/* An alarm long past in a jump: found within the last day. */
	wr(f, SEC_ALARM, 0x00);
	wr(f, MIN_ALARM, 0x00);
	wr(f, HOUR_ALARM, 0x03);
	f->fake_ns += 20 * 3600 * NS;
	assert_int_equal(rd(f, REG_C), 0xf0);
}

static void test_cmos_memory(void **state)
{
	struct fixture *f = *state;
	struct mc146818 small;
	struct irq_line none = {0};
	uint8_t v[2];

	/* 2 GiB below 4 GiB (the fixture). */
	assert_int_equal(rd(f, 0x30) | rd(f, 0x31) << 8, 0xffff);
	assert_int_equal(rd(f, 0x17) | rd(f, 0x18) << 8, 0xffff);
	assert_int_equal(rd(f, 0x34) | rd(f, 0x35) << 8, (2 * GiB - 16 * MiB) / (64 * KiB));
	assert_int_equal(rd(f, 0x5b) | rd(f, 0x5c) << 8 | rd(f, 0x5d) << 16, 0);
	assert_int_equal(rd(f, 0x15) | rd(f, 0x16) << 8, 640);

	mc146818_init(&small, none, 32 * MiB, 6 * GiB);
	assert_int_equal(small.cmos[0x30] | small.cmos[0x31] << 8, 31 * 1024);
	assert_int_equal(small.cmos[0x34] | small.cmos[0x35] << 8, 256);
	assert_int_equal(small.cmos[0x5b] | small.cmos[0x5c] << 8 | small.cmos[0x5d] << 16,
			 6 * GiB / (64 * KiB));
	{
		unsigned sum = 0;

		for (unsigned i = 0x10; i <= 0x2d; i++)
			sum += small.cmos[i];
		assert_int_equal(small.cmos[0x2e] << 8 | small.cmos[0x2f], sum);
	}
	mc146818_destroy(&small);

	/* Plain RAM, the NMI-disable bit masked from the index. */
	wr(f, 0x40, 0x5a);
	assert_int_equal(rd(f, 0x40), 0x5a);
	assert_int_equal(rd(f, 0x80 | 0x40), 0x5a);
	assert_int_equal(rd(f, 0x80 | REG_D), 0x80);
	wr(f, REG_D, 0x00); /* read-only */
	assert_int_equal(rd(f, REG_D), 0x80);

	/* The index port reads 0xff; wider accesses reach one port only. */
	assert_true(bus_read(&f->bus, IDX, v, 1));
	assert_int_equal(v[0], 0xff);
	v[0] = 0x41;
	v[1] = 0x77;
	assert_true(bus_write(&f->bus, IDX, v, 2)); /* index only */
	assert_true(bus_read(&f->bus, DATA, v, 1));
	assert_int_equal(v[0], 0x00);
	assert_true(bus_read(&f->bus, IDX, v, 2));
	assert_int_equal(v[0], 0xff);
	assert_int_equal(v[1], 0xff);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct mc146818_state st;
	struct mc146818 other;
	struct irq_rec rec = {0};
	struct irq_line line = {.set = irq_rec_set, .opaque = &rec, .gsi = 8};

	use_fake_clock(f);
	set_fake(f, 2024, 5, 6, 7, 8, 9, 0);
	wr(f, REG_B, 0x82);
	wr(f, YEAR, 0x10);
	wr(f, REG_B, 0x12);
	wr(f, 0x50, 0xab);
	f->fake_ns += NS;
	mc146818_timer(&f->rtc);
	assert_int_equal(f->irq.level, 1);
	mc146818_save(&f->rtc, &st);

	mc146818_init(&other, line, 0, 0);
	mc146818_set_clock(&other, fake_clock, f);
	assert_int_equal(mc146818_load(&other, &st), 0);
	assert_int_equal(rec.level, 1);
	assert_int_equal(other.cmos[0x50], 0xab);
	{
		uint8_t reg = YEAR, v;

		mc146818_bus_ops.write(&other, 0, &reg, 1);
		mc146818_bus_ops.read(&other, 1, &v, 1);
		assert_int_equal(v, 0x10);
	}
	st.offset_ns = INT64_MAX;
	assert_int_equal(mc146818_load(&other, &st), -EINVAL);
	st.offset_ns = 0;
	st.index = 0x80;
	assert_int_equal(mc146818_load(&other, &st), -EINVAL);
	mc146818_destroy(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_host_time_bcd_and_binary, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_uip_never_stays_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_calendar_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_12_hour, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_set_bit_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_invalid_set_and_field_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_update_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_periodic_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_alarm_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cmos_memory, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
