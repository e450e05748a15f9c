/* SPDX-License-Identifier: MIT */
/* i8042 PS/2 controller model, driven through the port-I/O bus as Linux probes it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/irq.h"
#include "devices/legacy/i8042.h"

#define DATA 0x60
#define CMD  0x64

#define STS_OBF	    0x01
#define STS_SYS	    0x04
#define STS_CMD	    0x08
#define STS_UNLOCK  0x10
#define STS_AUXDATA 0x20
#define STS_TIMEOUT 0x40

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
	struct i8042 kbd;
	struct irq_rec irq1, irq12;
	int resets;
};

static void on_reset(void *opaque)
{
	struct fixture *f = opaque;

	f->resets++;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct irq_line l1 = {.set = irq_rec_set, .opaque = &f->irq1, .gsi = LAYOUT_GSI_KEYBOARD};
	struct irq_line l12 = {.set = irq_rec_set, .opaque = &f->irq12, .gsi = LAYOUT_GSI_MOUSE};

	bus_init(&f->bus, "pio");
	i8042_init(&f->kbd, l1, l12, on_reset, f);
	assert_int_equal(bus_register(&f->bus, LAYOUT_PORT_I8042, 1, &i8042_data_bus_ops, &f->kbd),
			 0);
	assert_int_equal(bus_register(&f->bus, CMD, 1, &i8042_cmd_bus_ops, &f->kbd), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	i8042_destroy(&f->kbd);
	bus_destroy(&f->bus);
	test_free(f);
	return 0;
}

static uint8_t in(struct fixture *f, uint16_t port)
{
	uint8_t v = 0;

	assert_true(bus_read(&f->bus, port, &v, 1));
	return v;
}

static void out(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_true(bus_write(&f->bus, port, &v, 1));
}

/* Linux's i8042_wait_read + read: the byte must be there at once. */
static uint8_t read_reply(struct fixture *f)
{
	assert_true(in(f, CMD) & STS_OBF);
	return in(f, DATA);
}

static uint8_t command(struct fixture *f, uint8_t cmd)
{
	out(f, CMD, cmd);
	return read_reply(f);
}

/* Linux's i8042_flush(): reads at most 16 bytes, else "No controller found". */
static int flush(struct fixture *f)
{
	int n = 0;

	while (in(f, CMD) & STS_OBF) {
		if (n++ >= 16)
			return -1;
		in(f, DATA);
	}
	return n;
}

static void write_ctr(struct fixture *f, uint8_t ctr)
{
	out(f, CMD, 0x60);
	out(f, DATA, ctr);
}

/* i8042_controller_check, _selftest, _init, i8042_check_aux/_mux and the port enables. */
static void test_linux_probe(void **state)
{
	struct fixture *f = *state;
	uint8_t sts, ctr, ctr2, param;

	assert_int_equal(flush(f), 0);
	sts = in(f, CMD);
	assert_int_not_equal(sts, 0xff);
	assert_true(sts & STS_UNLOCK); /* no "Keylock active" warning */

	assert_int_equal(command(f, 0xaa), 0x55);
	assert_true(in(f, CMD) & STS_SYS);
	assert_true(in(f, CMD) & STS_CMD);

	ctr = command(f, 0x20);
	ctr2 = command(f, 0x20);
	assert_int_equal(ctr, ctr2);
	assert_int_equal(ctr, 0x45); /* translated set 2, keyboard interrupt */
	ctr = (uint8_t)((ctr | 0x10) & ~0x01);
	write_ctr(f, ctr);
	assert_int_equal(command(f, 0x20), ctr);
	assert_int_equal(flush(f), 0);

	/* AUX loopback answers with the AUX data bit. */
	out(f, CMD, 0xd3);
	out(f, DATA, 0x5a);
	assert_true(in(f, CMD) & STS_AUXDATA);
	assert_int_equal(read_reply(f), 0x5a);
	/* No AUX interrupt: AUXINT is clear. */
	assert_int_equal(f->irq12.raises, 0);

	/* Bit assignment test. */
	out(f, CMD, 0xa7);
	assert_true(command(f, 0x20) & 0x20);
	out(f, CMD, 0xa8);
	assert_false(command(f, 0x20) & 0x20);

	/* AUX IRQ delivery test: loopback with AUXINT set raises IRQ 12. */
	ctr = (uint8_t)((ctr & ~0x20) | 0x02);
	write_ctr(f, ctr);
	out(f, CMD, 0xd3);
	out(f, DATA, 0xa5);
	assert_int_equal(f->irq12.level, 1);
	assert_int_equal(f->irq1.level, 0);
	sts = in(f, CMD);
	assert_true(sts & STS_OBF);
	assert_true(sts & STS_AUXDATA);
	assert_int_equal(in(f, DATA), 0xa5);
	assert_int_equal(f->irq12.level, 0);

	/* MUX detection: the third loop byte comes back unchanged, so no MUX. */
	for (unsigned i = 0; i < 3; i++) {
		static const uint8_t seq[3] = {0xf0, 0x56, 0xa4};

		out(f, CMD, 0xd3);
		out(f, DATA, seq[i]);
		param = read_reply(f);
		assert_int_equal(param, seq[i]);
	}

	assert_int_equal(command(f, 0xa9), 0x00);
	assert_int_equal(command(f, 0xab), 0x00);

	/* Enable the keyboard port. */
	ctr = (uint8_t)((ctr & ~0x10) | 0x01);
	write_ctr(f, ctr);
	assert_int_equal(command(f, 0x20), ctr);
	assert_int_equal(f->resets, 0);
}

/* atkbd's probe: reset, get ID (translated), set LEDs, enable. */
static void test_keyboard_commands(void **state)
{
	struct fixture *f = *state;

	out(f, DATA, 0xff);
	assert_int_equal(f->irq1.level, 1);
	assert_int_equal(in(f, DATA), 0xfa);
	assert_int_equal(f->irq1.level, 1); /* next byte arrived: a new edge */
	assert_int_equal(f->irq1.raises, 2);
	assert_int_equal(in(f, DATA), 0xaa);
	assert_int_equal(f->irq1.level, 0);
	assert_false(in(f, CMD) & STS_OBF);

	out(f, DATA, 0xf2);
	assert_int_equal(in(f, DATA), 0xfa);
	assert_int_equal(in(f, DATA), 0xab);
	assert_int_equal(in(f, DATA), 0x41); /* 0x83 through the translator */

	out(f, DATA, 0xed);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0x07);
	assert_int_equal(in(f, DATA), 0xfa);
	assert_int_equal(f->kbd.kbd_leds, 7);

	out(f, DATA, 0xee);
	assert_int_equal(in(f, DATA), 0xee);
	out(f, DATA, 0xf3);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0x20);
	assert_int_equal(in(f, DATA), 0xfa);

	/* Scancode set query and refusal of set 3. */
	out(f, DATA, 0xf0);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0x00);
	assert_int_equal(in(f, DATA), 0xfa);
	assert_int_equal(in(f, DATA), 0x41); /* set 2, translated */
	out(f, DATA, 0xf0);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0x03);
	assert_int_equal(in(f, DATA), 0xfe);

	out(f, DATA, 0xf5);
	assert_int_equal(in(f, DATA), 0xfa);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, (const uint8_t *)"\x1c", 1), 0);
	assert_false(in(f, CMD) & STS_OBF);
	out(f, DATA, 0xf4);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0xf6);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0x01); /* not a command */
	assert_int_equal(in(f, DATA), 0xfe);
	out(f, DATA, 0xee);
	assert_int_equal(in(f, DATA), 0xee);
	out(f, DATA, 0xfe); /* resend */
	assert_int_equal(in(f, DATA), 0xee);

	/* Without translation the ID is the keyboard's own. */
	write_ctr(f, 0x05);
	out(f, DATA, 0xf2);
	assert_int_equal(in(f, DATA), 0xfa);
	assert_int_equal(in(f, DATA), 0xab);
	assert_int_equal(in(f, DATA), 0x83);
	assert_int_equal(f->resets, 0);
}

static void test_reset_pulse(void **state)
{
	struct fixture *f = *state;

	out(f, CMD, 0xff); /* pulses nothing */
	assert_int_equal(f->resets, 0);
	out(f, CMD, 0xfe);
	assert_int_equal(f->resets, 1);
	out(f, CMD, 0xf0); /* all four lines, reset included */
	assert_int_equal(f->resets, 2);
	out(f, CMD, 0xfd); /* bit 1 only (A20) */
	assert_int_equal(f->resets, 2);

	/* Output port: bit 0 low resets, A20-only writes do not. */
	assert_int_equal(command(f, 0xd0), 0x03);
	out(f, CMD, 0xd1);
	out(f, DATA, 0xdf);
	assert_int_equal(f->resets, 2);
	out(f, CMD, 0xd1);
	out(f, DATA, 0xde);
	assert_int_equal(f->resets, 3);
	assert_int_equal(command(f, 0xd0) & 0x01, 0x01);
	assert_false(in(f, CMD) & STS_OBF);
}

static void test_injection_irq_enable(void **state)
{
	struct fixture *f = *state;
	static const uint8_t a_press_release[] = {0x1c, 0xf0, 0x1c};

	/* Interrupt disabled in the command byte: data but no IRQ 1. */
	write_ctr(f, 0x44);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, a_press_release, 3), 3);
	assert_true(in(f, CMD) & STS_OBF);
	assert_false(in(f, CMD) & STS_AUXDATA);
	assert_int_equal(f->irq1.raises, 0);
	/* Enabling it raises the line for the waiting byte. */
	write_ctr(f, 0x45);
	assert_int_equal(f->irq1.level, 1);
	assert_int_equal(in(f, DATA), 0x1e); /* 'A' make, set 1 */
	assert_int_equal(f->irq1.level, 1);
	assert_int_equal(in(f, DATA), 0x9e); /* 'A' break */
	assert_int_equal(f->irq1.level, 0);
	assert_int_equal(f->irq1.raises, 2);
	assert_int_equal(f->irq12.raises, 0);

	/* Keyboard interface disabled: bytes wait in the keyboard. */
	out(f, CMD, 0xad);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, a_press_release, 3), 3);
	assert_false(in(f, CMD) & STS_OBF);
	assert_int_equal(f->irq1.level, 0);
	out(f, CMD, 0xae);
	assert_int_equal(f->irq1.level, 1);
	assert_int_equal(in(f, DATA), 0x1e);
	assert_int_equal(in(f, DATA), 0x9e);

	/* Translation off: raw set 2. */
	write_ctr(f, 0x05);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, a_press_release, 3), 3);
	assert_int_equal(in(f, DATA), 0x1c);
	assert_int_equal(in(f, DATA), 0xf0);
	assert_int_equal(in(f, DATA), 0x1c);

	/* Keyboard in set 1 (translation off): the keyboard converts. */
	out(f, DATA, 0xf0);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0x01);
	assert_int_equal(in(f, DATA), 0xfa);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, a_press_release, 3), 3);
	assert_int_equal(in(f, DATA), 0x1e);
	assert_int_equal(in(f, DATA), 0x9e);
	assert_false(in(f, CMD) & STS_OBF);
}

static void test_ctrl_alt_del(void **state)
{
	struct fixture *f = *state;
	static const uint8_t set1[] = {0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d};
	static const uint8_t set2[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
				       0x71, 0xf0, 0x11, 0xf0, 0x14};

	assert_true(i8042_send_ctrl_alt_del(&f->kbd));
	for (unsigned i = 0; i < sizeof(set1); i++)
		assert_int_equal(read_reply(f), set1[i]);
	assert_false(in(f, CMD) & STS_OBF);

	write_ctr(f, 0x05);
	assert_true(i8042_send_ctrl_alt_del(&f->kbd));
	for (unsigned i = 0; i < sizeof(set2); i++)
		assert_int_equal(read_reply(f), set2[i]);
	assert_false(in(f, CMD) & STS_OBF);

	/* All or nothing when the keyboard's buffer is short of room. */
	assert_int_equal(i8042_inject_scancodes(&f->kbd, set2, 8), 8);
	assert_false(i8042_send_ctrl_alt_del(&f->kbd));
	assert_int_equal(flush(f), 8);
}

/* Translation of common keys, set 2 -> set 1, as the 8042 does it. */
static void test_translation_table(void **state)
{
	struct fixture *f = *state;
	static const uint8_t pairs[][2] = {
	    {0x76, 0x01}, /* Esc */
	    {0x16, 0x02}, /* 1 */
	    {0x45, 0x0b}, /* 0 */
	    {0x66, 0x0e}, /* Backspace */
	    {0x0d, 0x0f}, /* Tab */
	    {0x15, 0x10}, /* Q */
	    {0x4d, 0x19}, /* P */
	    {0x5a, 0x1c}, /* Enter */
	    {0x14, 0x1d}, /* left Ctrl */
	    {0x1c, 0x1e}, /* A */
	    {0x4b, 0x26}, /* L */
	    {0x0e, 0x29}, /* backtick */
	    {0x12, 0x2a}, /* left Shift */
	    {0x5d, 0x2b}, /* backslash */
	    {0x1a, 0x2c}, /* Z */
	    {0x3a, 0x32}, /* M */
	    {0x59, 0x36}, /* right Shift */
	    {0x7c, 0x37}, /* keypad * */
	    {0x11, 0x38}, /* left Alt */
	    {0x29, 0x39}, /* Space */
	    {0x58, 0x3a}, /* Caps Lock */
	    {0x05, 0x3b}, /* F1 */
	    {0x09, 0x44}, /* F10 */
	    {0x77, 0x45}, /* Num Lock */
	    {0x7e, 0x46}, /* Scroll Lock */
	    {0x6c, 0x47}, /* keypad 7 */
	    {0x70, 0x52}, /* keypad 0 */
	    {0x71, 0x53}, /* keypad . */
	    {0x78, 0x57}, /* F11 */
	    {0x07, 0x58}, /* F12 */
	    {0x83, 0x41}, /* F7 */
	    {0x61, 0x56}, /* 102nd key */
	};

	for (unsigned i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		uint8_t press_release[3] = {pairs[i][0], 0xf0, pairs[i][0]};

		assert_int_equal(i8042_inject_scancodes(&f->kbd, press_release, 3), 3);
		assert_int_equal(read_reply(f), pairs[i][1]);
		assert_int_equal(read_reply(f), pairs[i][1] | 0x80);
		assert_false(in(f, CMD) & STS_OBF);
	}
}

static void test_buffer_limit(void **state)
{
	struct fixture *f = *state;
	uint8_t codes[20];

	for (unsigned i = 0; i < sizeof(codes); i++)
		codes[i] = (uint8_t)(0x15 + i % 8);
	write_ctr(f, 0x05);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, codes, sizeof(codes)), I8042_KBD_BUFFER);
	/* Linux's flush must see at most 16 bytes. */
	assert_int_equal(flush(f), I8042_KBD_BUFFER);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, codes, 1), 1);
}

static void test_aux_no_device(void **state)
{
	struct fixture *f = *state;
	uint8_t sts;

	write_ctr(f, 0x47);
	out(f, CMD, 0xa7);
	out(f, CMD, 0xd4);
	out(f, DATA, 0xf2); /* mouse: get ID */
	sts = in(f, CMD);
	assert_true(sts & STS_OBF);
	assert_true(sts & STS_AUXDATA);
	assert_true(sts & STS_TIMEOUT);
	assert_int_equal(f->irq12.level, 1);
	assert_int_equal(in(f, DATA), 0xfe);
	assert_int_equal(f->irq12.level, 0);
	assert_int_equal(in(f, CMD) & (STS_OBF | STS_AUXDATA | STS_TIMEOUT), 0);
	assert_false(command(f, 0x20) & 0x20); /* 0xd4 enabled the AUX interface */
}

/* A controller reply takes the output buffer; the keyboard byte it found there follows. */
static void test_reply_displaces_key(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(i8042_inject_scancodes(&f->kbd, (const uint8_t *)"\x1c\x32", 2), 2);
	assert_true(in(f, CMD) & STS_OBF);
	assert_int_equal(command(f, 0x20), 0x45);
	assert_int_equal(read_reply(f), 0x1e);
	assert_int_equal(read_reply(f), 0x30);
	assert_false(in(f, CMD) & STS_OBF);

	/* Internal RAM bytes beyond the command byte. */
	out(f, CMD, 0x65);
	out(f, DATA, 0x99);
	assert_int_equal(command(f, 0x25), 0x99);
	/* Controller-written keyboard output buffer (0xd2): IRQ 1, no translation. */
	out(f, CMD, 0xd2);
	out(f, DATA, 0x1c);
	assert_int_equal(f->irq1.level, 1);
	assert_int_equal(in(f, DATA), 0x1c);
}

static void test_wide_and_reset(void **state)
{
	struct fixture *f = *state;
	uint8_t d[4];

	memset(d, 0, sizeof(d));
	i8042_cmd_bus_ops.read(&f->kbd, 0, d, 4);
	assert_int_equal(d[0], STS_SYS | STS_UNLOCK);
	assert_int_equal(d[1], 0xff);
	assert_int_equal(d[3], 0xff);
	d[0] = 0xaa;
	d[1] = 0xfe; /* ignored: only byte 0 is written */
	i8042_cmd_bus_ops.write(&f->kbd, 0, d, 2);
	assert_int_equal(f->resets, 0);
	i8042_data_bus_ops.read(&f->kbd, 0, d, 2);
	assert_int_equal(d[0], 0x55);
	assert_int_equal(d[1], 0xff);

	/* Unknown controller commands are ignored. */
	out(f, CMD, 0x90);
	assert_false(in(f, CMD) & STS_OBF);

	write_ctr(f, 0x00);
	assert_true(i8042_inject_scancodes(&f->kbd, (const uint8_t *)"\x1c", 1));
	i8042_reset(&f->kbd);
	assert_false(in(f, CMD) & STS_OBF);
	assert_int_equal(command(f, 0x20), 0x45);
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct i8042_state st;
	struct i8042 other;
	struct irq_rec r1 = {0}, r12 = {0};
	struct irq_line l1 = {.set = irq_rec_set, .opaque = &r1, .gsi = 1};
	struct irq_line l12 = {.set = irq_rec_set, .opaque = &r12, .gsi = 12};
	uint8_t v;

	out(f, DATA, 0xf0);
	assert_int_equal(in(f, DATA), 0xfa);
	out(f, DATA, 0x01);
	assert_int_equal(in(f, DATA), 0xfa);
	write_ctr(f, 0x05);
	assert_int_equal(i8042_inject_scancodes(&f->kbd, (const uint8_t *)"\x1c\xf0\x1c\x32", 4),
			 4);
	out(f, CMD, 0x20); /* a reply holds the output buffer, keys wait */
	i8042_save(&f->kbd, &st);

	i8042_init(&other, l1, l12, NULL, NULL);
	assert_int_equal(i8042_load(&other, &st), 0);
	assert_int_equal(r1.level, 1);
	assert_int_equal(r12.level, 0);
	{
		static const uint8_t want[] = {0x05, 0x1e, 0x9e, 0x30};

		for (unsigned i = 0; i < sizeof(want); i++) {
			i8042_data_bus_ops.read(&other, 0, &v, 1);
			assert_int_equal(v, want[i]);
		}
	}
	i8042_cmd_bus_ops.read(&other, 0, &v, 1);
	assert_false(v & STS_OBF);
	assert_int_equal(r1.level, 0);

	st.kbd_count = I8042_KBD_BUFFER; /* plus the held byte: too many */
	assert_int_equal(i8042_load(&other, &st), -EINVAL);
	st.kbd_count = 0;
	st.kbd_set = 3;
	assert_int_equal(i8042_load(&other, &st), -EINVAL);
	st.kbd_set = 2;
	st.pending_cmd = 0xaa;
	assert_int_equal(i8042_load(&other, &st), -EINVAL);
	st.pending_cmd = 0;
	st.obf = 2;
	assert_int_equal(i8042_load(&other, &st), -EINVAL);
	i8042_destroy(&other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_linux_probe, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_pulse, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_injection_irq_enable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ctrl_alt_del, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_translation_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_buffer_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_aux_no_device, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reply_displaces_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wide_and_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
