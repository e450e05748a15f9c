/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/bus.h"

struct fake_dev {
	uint64_t last_offset;
	uint32_t last_len;
	uint8_t last_data[8];
	int reads, writes;
};

static void fake_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct fake_dev *d = opaque;
	d->reads++;
	d->last_offset = offset;
	d->last_len = len;
	memset(data, 0x5a, len);
}

static void fake_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct fake_dev *d = opaque;
	d->writes++;
	d->last_offset = offset;
	d->last_len = len;
	memcpy(d->last_data, data, len);
}

static const struct bus_device_ops fake_ops = {"fake", fake_read, fake_write};

static void test_register_overlap(void **state)
{
	struct bus bus;
	struct fake_dev a = {0}, b = {0};

	(void)state;
	bus_init(&bus, "pio");
	assert_int_equal(bus_register(&bus, 0x3f8, 8, &fake_ops, &a), 0);
	assert_int_equal(bus_register(&bus, 0x60, 1, &fake_ops, &b), 0);
	assert_int_equal(bus_register(&bus, 0x3f0, 9, &fake_ops, &b), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3ff, 1, &fake_ops, &b), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x3f8, 1, &fake_ops, &b), -EEXIST);
	assert_int_equal(bus_register(&bus, 0x400, 1, &fake_ops, &b), 0);
	assert_int_equal(bus_register(&bus, 0x3f7, 1, &fake_ops, &b), 0);
	assert_int_equal(bus_register(&bus, 0x10, 0, &fake_ops, &b), -EINVAL);
	assert_int_equal(bus_register(&bus, UINT64_MAX, 2, &fake_ops, &b), -EINVAL);
	assert_int_equal(bus.nr, 4);
	for (size_t i = 1; i < bus.nr; i++)
		assert_true(bus.ranges[i - 1].base < bus.ranges[i].base);
	bus_destroy(&bus);
}

static void test_dispatch(void **state)
{
	struct bus bus;
	struct fake_dev a = {0};
	uint8_t data[4] = {1, 2, 3, 4};

	(void)state;
	bus_init(&bus, "mmio");
	for (uint64_t i = 0; i < 64; i++)
		assert_int_equal(bus_register(&bus, 0x10000 + i * 0x100, 0x10, &fake_ops, &a), 0);
	assert_true(bus_write(&bus, 0x10000 + 7 * 0x100 + 4, data, 4));
	assert_int_equal(a.last_offset, 4);
	assert_int_equal(a.last_len, 4);
	assert_memory_equal(a.last_data, data, 4);
	assert_true(bus_read(&bus, 0x10000 + 63 * 0x100 + 0xc, data, 4));
	assert_int_equal(a.last_offset, 0xc);
	assert_int_equal(data[0], 0x5a);
	/* Straddling the end of a range: refused, reads see all ones. */
	assert_false(bus_read(&bus, 0x10000 + 0xe, data, 4));
	assert_int_equal(data[0], 0xff);
	assert_int_equal(data[3], 0xff);
	/* Gap between ranges. */
	assert_false(bus_write(&bus, 0x10000 + 0x80, data, 1));
	assert_false(bus_read(&bus, 0x5, data, 1));
	assert_int_equal(a.reads, 1);
	assert_int_equal(a.writes, 1);
	assert_int_equal(bus_unregister(&bus, 0x10000 + 7 * 0x100), 0);
	assert_int_equal(bus_unregister(&bus, 0x10000 + 7 * 0x100), -ENOENT);
	assert_false(bus_write(&bus, 0x10000 + 7 * 0x100, data, 1));
	bus_destroy(&bus);
}

/* A device whose write moves its own range (as a PCI BAR write does). */
struct moving_dev {
	struct bus *bus;
	uint64_t base;
};

static void moving_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct moving_dev *d = opaque;
	static const struct bus_device_ops ops = {"moving", NULL, moving_write};

	(void)offset;
	(void)len;
	assert_int_equal(bus_unregister(d->bus, d->base), 0);
	d->base = 0x1000ULL * data[0];
	assert_int_equal(bus_register(d->bus, d->base, 0x10, &ops, d), 0);
}

static void test_callback_may_change_bus(void **state)
{
	static const struct bus_device_ops ops = {"moving", NULL, moving_write};
	struct bus bus;
	struct moving_dev d = {&bus, 0x1000};
	uint8_t v = 5, r;

	(void)state;
	bus_init(&bus, "mmio");
	assert_int_equal(bus_register(&bus, 0x1000, 0x10, &ops, &d), 0);
	assert_true(bus_write(&bus, 0x1004, &v, 1));
	assert_int_equal(d.base, 0x5000);
	assert_false(bus_write(&bus, 0x1004, &v, 1));
	/* No read callback: the range answers all ones. */
	assert_true(bus_read(&bus, 0x5000, &r, 1));
	assert_int_equal(r, 0xff);
	bus_destroy(&bus);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_register_overlap),
	    cmocka_unit_test(test_dispatch),
	    cmocka_unit_test(test_callback_may_change_bus),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
