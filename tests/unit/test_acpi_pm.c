/* SPDX-License-Identifier: MIT */
/* ACPI PM1a event/control blocks and the 0xcf9 reset register, driven through the bus. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/irq.h"
#include "core/log.h"
#include "devices/legacy/acpi_pm.h"
#include "devices/legacy/cf9_reset.h"

#define EVT LAYOUT_PORT_PM1A_EVT
#define CNT LAYOUT_PORT_PM1A_CNT

#define SLP_EN	     0x2000
#define SLP_TYP(typ) ((uint16_t)((typ) << 10))

struct irq_rec {
	int level;
	int raises;
	int lowers;
	uint32_t gsi;
};

static void irq_rec_set(void *opaque, uint32_t gsi, int level)
{
	struct irq_rec *r = opaque;

	r->gsi = gsi;
	if (level && !r->level)
		r->raises++;
	if (!level && r->level)
		r->lowers++;
	r->level = level;
}

struct fixture {
	struct bus bus;
	struct acpi_pm pm;
	struct cf9_reset cf9;
	struct irq_rec sci;
	int poweroffs;
	int resets;
};

static void on_poweroff(void *opaque)
{
	struct fixture *f = opaque;

	f->poweroffs++;
}

static void on_reset(void *opaque)
{
	struct fixture *f = opaque;

	f->resets++;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct irq_line sci = {.set = irq_rec_set, .opaque = &f->sci, .gsi = LAYOUT_GSI_SCI};

	bus_init(&f->bus, "pio");
	acpi_pm_init(&f->pm, sci, on_poweroff, f);
	cf9_reset_init(&f->cf9, on_reset, f);
	assert_int_equal(bus_register(&f->bus, EVT, ACPI_PM1_EVT_LEN, &acpi_pm_evt_bus_ops, &f->pm),
			 0);
	assert_int_equal(bus_register(&f->bus, CNT, ACPI_PM1_CNT_LEN, &acpi_pm_cnt_bus_ops, &f->pm),
			 0);
	assert_int_equal(bus_register(&f->bus, LAYOUT_PORT_RESET, 1, &cf9_reset_bus_ops, &f->cf9),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	acpi_pm_destroy(&f->pm);
	cf9_reset_destroy(&f->cf9);
	bus_destroy(&f->bus);
	test_free(f);
	return 0;
}

static uint32_t in(struct fixture *f, uint16_t port, uint32_t len)
{
	uint8_t d[4] = {0};
	uint32_t v = 0;

	assert_true(bus_read(&f->bus, port, d, len));
	for (uint32_t i = 0; i < len; i++)
		v |= (uint32_t)d[i] << (8 * i);
	return v;
}

static void out(struct fixture *f, uint16_t port, uint32_t v, uint32_t len)
{
	uint8_t d[4];

	for (uint32_t i = 0; i < len; i++)
		d[i] = (uint8_t)(v >> (8 * i));
	assert_true(bus_write(&f->bus, port, d, len));
}

static void test_power_button_sci(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(in(f, EVT, 2), 0);
	assert_int_equal(in(f, EVT + 2, 2), 0);
	assert_int_equal(f->sci.level, 0);

	/* Linux enables the fixed power button event. */
	out(f, EVT + 2, ACPI_PM1_EN_PWRBTN, 2);
	assert_int_equal(in(f, EVT + 2, 2), ACPI_PM1_EN_PWRBTN);
	assert_int_equal(f->sci.level, 0);

	acpi_pm_press_power_button(&f->pm);
	assert_int_equal(f->sci.level, 1);
	assert_int_equal(f->sci.gsi, LAYOUT_GSI_SCI);
	assert_int_equal(in(f, EVT, 2), ACPI_PM1_STS_PWRBTN);

	/* Writing 0 leaves status alone; writing 1 clears it and drops the SCI. */
	out(f, EVT, 0, 2);
	assert_int_equal(in(f, EVT, 2), ACPI_PM1_STS_PWRBTN);
	assert_int_equal(f->sci.level, 1);
	out(f, EVT, ACPI_PM1_STS_PWRBTN, 2);
	assert_int_equal(in(f, EVT, 2), 0);
	assert_int_equal(f->sci.level, 0);
	assert_int_equal(f->sci.raises, 1);
	assert_int_equal(f->sci.lowers, 1);
}

static void test_power_button_disabled(void **state)
{
	struct fixture *f = *state;

	acpi_pm_press_power_button(&f->pm);
	assert_int_equal(in(f, EVT, 2), ACPI_PM1_STS_PWRBTN);
	assert_int_equal(f->sci.level, 0);
	/* Enabling later delivers the pending event. */
	out(f, EVT + 3, 0x01, 1);
	assert_int_equal(f->sci.level, 1);
	/* Disabling drops the line; status stays. */
	out(f, EVT + 3, 0x00, 1);
	assert_int_equal(f->sci.level, 0);
	assert_int_equal(in(f, EVT + 1, 1), 0x01);
	/* Byte-wide write-1-to-clear of the high status byte. */
	out(f, EVT + 1, 0x01, 1);
	assert_int_equal(in(f, EVT, 2), 0);
	/* Undefined enable bits do not stick. */
	out(f, EVT + 2, 0xffff, 2);
	assert_int_equal(in(f, EVT + 2, 2), 0x4721);
}

static void test_four_byte_event_block(void **state)
{
	struct fixture *f = *state;

	out(f, EVT, (uint32_t)ACPI_PM1_EN_PWRBTN << 16, 4);
	acpi_pm_press_power_button(&f->pm);
	assert_int_equal(in(f, EVT, 4), ((uint32_t)ACPI_PM1_EN_PWRBTN << 16) | ACPI_PM1_STS_PWRBTN);
	assert_int_equal(f->sci.level, 1);
	/* One dword write clears the status and keeps the enable. */
	out(f, EVT, ((uint32_t)ACPI_PM1_EN_PWRBTN << 16) | 0xffff, 4);
	assert_int_equal(in(f, EVT, 4), (uint32_t)ACPI_PM1_EN_PWRBTN << 16);
	assert_int_equal(f->sci.level, 0);
}

static void *press_thread(void *arg)
{
	acpi_pm_press_power_button(arg);
	return NULL;
}

static void test_power_button_from_thread(void **state)
{
	struct fixture *f = *state;
	pthread_t t;

	out(f, EVT + 2, ACPI_PM1_EN_PWRBTN, 2);
	assert_int_equal(pthread_create(&t, NULL, press_thread, &f->pm), 0);
	pthread_join(t, NULL);
	assert_int_equal(f->sci.level, 1);
	assert_int_equal(in(f, EVT, 2), ACPI_PM1_STS_PWRBTN);
}

static void test_sleep_states(void **state)
{
	struct fixture *f = *state;
	uint64_t errors = log_guest_error_count();

	/* SCI_EN always reads 1. */
	assert_int_equal(in(f, CNT, 2), 0x0001);
	out(f, CNT, 0, 2);
	assert_int_equal(in(f, CNT, 2) & 1, 1);

	/* SLP_TYP alone does nothing; it reads back. SLP_EN reads 0. */
	out(f, CNT, SLP_TYP(LAYOUT_SLP_TYP_S5), 2);
	assert_int_equal(f->poweroffs, 0);
	assert_int_equal(in(f, CNT, 2), SLP_TYP(LAYOUT_SLP_TYP_S5) | 1);

	/* Other sleep types: logged and ignored. */
	for (unsigned typ = 0; typ < 8; typ++) {
		if (typ == LAYOUT_SLP_TYP_S5)
			continue;
		out(f, CNT, SLP_TYP(typ) | SLP_EN, 2);
	}
	assert_int_equal(f->poweroffs, 0);
	assert_int_equal(log_guest_error_count(), errors + 7);

	/* S5 as Linux's acpi_hw_legacy_sleep writes it. */
	out(f, CNT, SLP_TYP(LAYOUT_SLP_TYP_S5), 2);
	out(f, CNT, SLP_TYP(LAYOUT_SLP_TYP_S5) | SLP_EN, 2);
	assert_int_equal(f->poweroffs, 1);
	assert_int_equal(in(f, CNT, 2) & SLP_EN, 0);

	/* The high byte alone carries both SLP_TYP and SLP_EN. */
	out(f, CNT + 1, (SLP_TYP(LAYOUT_SLP_TYP_S5) | SLP_EN) >> 8, 1);
	assert_int_equal(f->poweroffs, 2);
	/* A write to the low byte cannot trigger it. */
	out(f, CNT, 0xff, 1);
	assert_int_equal(f->poweroffs, 2);
	assert_int_equal(in(f, CNT, 1), 0x03); /* SCI_EN, BM_RLD */

	/* Beyond the 2-byte block the bus refuses the access. */
	{
		uint8_t d[4];

		assert_false(bus_read(&f->bus, CNT, d, 4));
	}
}

static void test_cf9_reset(void **state)
{
	struct fixture *f = *state;
	uint8_t d[2];

	/* Linux's reboot=pci: 0x02 then 0x06. */
	out(f, LAYOUT_PORT_RESET, 0x02, 1);
	assert_int_equal(f->resets, 0);
	assert_int_equal(in(f, LAYOUT_PORT_RESET, 1), 0x02);
	out(f, LAYOUT_PORT_RESET, 0x06, 1);
	assert_int_equal(f->resets, 1);
	assert_int_equal(in(f, LAYOUT_PORT_RESET, 1), 0x02); /* RST_CPU reads 0 */
	/* ACPI reset register value 0x06 again, and a soft reset (0x04). */
	out(f, LAYOUT_PORT_RESET, 0x06, 1);
	out(f, LAYOUT_PORT_RESET, 0x04, 1);
	assert_int_equal(f->resets, 3);
	out(f, LAYOUT_PORT_RESET, 0x0a, 1);
	assert_int_equal(f->resets, 3);
	assert_int_equal(cf9_reset_read(&f->cf9), 0x0a);

	/* Direct entry points, for a PCI host bridge that owns 0xcf8-0xcfb. */
	cf9_reset_write(&f->cf9, 0x0e);
	assert_int_equal(f->resets, 4);
	/* Wider accesses: byte 0 only. */
	d[0] = 0x00;
	d[1] = 0x04;
	cf9_reset_bus_ops.write(&f->cf9, 0, d, 2);
	assert_int_equal(f->resets, 4);
	cf9_reset_bus_ops.read(&f->cf9, 0, d, 2);
	assert_int_equal(d[0], 0x00);
	assert_int_equal(d[1], 0xff);
}

static void test_save_load_reset(void **state)
{
	struct fixture *f = *state;
	struct acpi_pm_state st;
	struct acpi_pm other;
	struct irq_rec rec = {0};
	struct irq_line line = {.set = irq_rec_set, .opaque = &rec, .gsi = 9};

	out(f, EVT + 2, ACPI_PM1_EN_PWRBTN, 2);
	acpi_pm_press_power_button(&f->pm);
	out(f, CNT, SLP_TYP(3), 2);
	acpi_pm_save(&f->pm, &st);

	acpi_pm_init(&other, line, NULL, NULL);
	assert_int_equal(acpi_pm_load(&other, &st), 0);
	assert_int_equal(rec.level, 1);
	{
		uint8_t d[2];

		acpi_pm_cnt_bus_ops.read(&other, 0, d, 2);
		assert_int_equal(d[0] | d[1] << 8, SLP_TYP(3) | 1);
	}
	st.sts = 0x0001; /* a status bit this model never sets */
	assert_int_equal(acpi_pm_load(&other, &st), -EINVAL);
	st.sts = 0;
	st.version = 7;
	assert_int_equal(acpi_pm_load(&other, &st), -EINVAL);
	acpi_pm_destroy(&other);

	acpi_pm_reset(&f->pm);
	assert_int_equal(f->sci.level, 0);
	assert_int_equal(in(f, EVT, 4), 0);
	assert_int_equal(in(f, CNT, 2), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_power_button_sci, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_button_disabled, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_four_byte_event_block, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_power_button_from_thread, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sleep_states, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cf9_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load_reset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
