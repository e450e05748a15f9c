/* SPDX-License-Identifier: MIT */
/* 16550A UART model, driven through the port-I/O bus as Linux's 8250 driver does. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/irq.h"
#include "devices/legacy/ns16550.h"

#define COM1 LAYOUT_PORT_COM1

enum { RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4 };
enum { LSR = 5, MSR = 6, SCR = 7 };

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
	struct ns16550 uart;
	struct irq_rec irq;
	uint8_t out[4096];
	size_t out_len;
	int tx_calls;
	int rx_ready_calls;
};

static void tx_rec(void *opaque, const uint8_t *buf, size_t len)
{
	struct fixture *f = opaque;

	f->tx_calls++;
	assert_true(f->out_len + len <= sizeof(f->out));
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
}

static void rx_ready_rec(void *opaque)
{
	struct fixture *f = opaque;

	f->rx_ready_calls++;
}

static int setup(void **state)
{
	struct fixture *f = test_calloc(1, sizeof(*f));
	struct irq_line line = {.set = irq_rec_set, .opaque = &f->irq, .gsi = LAYOUT_GSI_COM1};

	bus_init(&f->bus, "pio");
	ns16550_init(&f->uart, line, tx_rec, f);
	ns16550_set_rx_ready(&f->uart, rx_ready_rec);
	assert_int_equal(bus_register(&f->bus, COM1, NS16550_NR_PORTS, &ns16550_bus_ops, &f->uart),
			 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ns16550_destroy(&f->uart);
	bus_destroy(&f->bus);
	test_free(f);
	return 0;
}

static uint8_t in(struct fixture *f, unsigned reg)
{
	uint8_t v = 0;

	assert_true(bus_read(&f->bus, COM1 + reg, &v, 1));
	return v;
}

static void out(struct fixture *f, unsigned reg, uint8_t v)
{
	assert_true(bus_write(&f->bus, COM1 + reg, &v, 1));
}

/* The probe of Linux's 8250 autoconfig(), step by step; it must find a 16550A. */
static void test_autoconfig_16550a(void **state)
{
	struct fixture *f = *state;
	uint8_t scratch, scratch2, scratch3, save_mcr, status1, status2, iersave;

	/* IER test: the upper nibble is not writable. */
	scratch = in(f, IER);
	out(f, IER, 0);
	scratch2 = in(f, IER) & 0x0f;
	out(f, IER, 0x0f);
	scratch3 = in(f, IER) & 0x0f;
	out(f, IER, scratch);
	assert_int_equal(scratch2, 0);
	assert_int_equal(scratch3, 0x0f);
	out(f, IER, 0xff);
	assert_int_equal(in(f, IER), 0x0f);
	out(f, IER, 0);

	/* Loopback test: MCR LOOP|OUT2|RTS shows DCD and CTS in MSR. */
	save_mcr = in(f, MCR);
	out(f, MCR, 0x10 | 0x0a);
	status1 = in(f, MSR) & 0xf0;
	out(f, MCR, save_mcr);
	assert_int_equal(status1, 0x90);

	/* FIFO detection: FCR=1 then IIR bits 7:6 = 3 means 16550A. */
	out(f, LCR, 0xbf);
	out(f, FCR, 0); /* EFR on enhanced parts; FCR here */
	out(f, LCR, 0);
	out(f, FCR, 0x01);
	assert_int_equal(in(f, IIR) >> 6, 3);

	/* No EFR with DLAB set (ST16C650V1) nor with LCR=0xbf (V2). */
	out(f, LCR, 0x80);
	assert_int_not_equal(in(f, IIR), 0);
	out(f, LCR, 0xbf);
	assert_int_not_equal(in(f, IIR), 0);

	/* Not a National Semiconductor SuperIO: EXCR1 does not track MCR LOOP. */
	out(f, LCR, 0);
	status1 = in(f, MCR);
	out(f, LCR, 0xe0);
	status2 = in(f, IIR);
	assert_int_equal((status1 ^ status2) & 0x10, 0);
	out(f, LCR, 0);
	out(f, MCR, status1 ^ 0x10);
	out(f, LCR, 0xe0);
	status2 = in(f, IIR);
	out(f, LCR, 0);
	out(f, MCR, status1);
	assert_int_equal((status2 ^ status1) & 0x10, 0);

	/* Not a 16750: the 64-byte FIFO bit never shows in IIR. */
	out(f, FCR, 0x01 | 0x20);
	status1 = in(f, IIR) >> 5;
	out(f, FCR, 0x01);
	out(f, LCR, 0x80);
	out(f, FCR, 0x01 | 0x20);
	status2 = in(f, IIR) >> 5;
	out(f, FCR, 0x01);
	out(f, LCR, 0);
	assert_int_equal(status1, 6);
	assert_int_equal(status2, 6);

	/* Not an XScale: IER's UUE bit (6) does not stick. */
	iersave = in(f, IER);
	out(f, IER, iersave | 0x40);
	assert_int_equal(in(f, IER) & 0x40, 0);
	out(f, IER, iersave);

	/* Scratch register. */
	out(f, SCR, 0x55);
	assert_int_equal(in(f, SCR), 0x55);
	out(f, SCR, 0xaa);
	assert_int_equal(in(f, SCR), 0xaa);

	/* Divisor latch behind DLAB; IER and RBR come back when it is cleared. */
	out(f, IER, 0x05);
	out(f, LCR, 0x83);
	out(f, DLL, 0x01);
	out(f, DLM, 0x02);
	assert_int_equal(in(f, DLL), 0x01);
	assert_int_equal(in(f, DLM), 0x02);
	out(f, LCR, 0x03);
	assert_int_equal(in(f, IER), 0x05);
	assert_int_equal(in(f, LCR), 0x03);
	out(f, LCR, 0x80);
	assert_int_equal(in(f, DLL), 0x01);
	assert_int_equal(f->tx_calls, 0); /* the DLL write did not transmit */

	/* Power-on LSR: transmitter empty, no data. */
	out(f, LCR, 0x03);
	assert_int_equal(in(f, LSR), 0x60);
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	out(f, FCR, 0x01);
	assert_int_equal(in(f, IIR), 0xc1);
	assert_int_equal(f->irq.level, 0);

	/* Enabling ETBEI with THR empty makes THRE pending at once. */
	out(f, IER, 0x02);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(f->irq.gsi, LAYOUT_GSI_COM1);
	/* Reading IIR that reports it acknowledges it. */
	assert_int_equal(in(f, IIR), 0xc2);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, IIR), 0xc1);

	/* Linux's UART_BUG_THRE test: disable and re-enable reasserts it. */
	out(f, IER, 0);
	out(f, IER, 0x02);
	assert_int_equal(in(f, IIR), 0xc2);
	/* Writing IER without changing ETBEI does not. */
	out(f, IER, 0x02);
	assert_int_equal(in(f, IIR), 0xc1);

	/* A THR write transmits and THR is empty again: THRE pending. */
	out(f, THR, 'h');
	out(f, THR, 'i');
	assert_int_equal(f->out_len, 2);
	assert_memory_equal(f->out, "hi", 2);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, LSR) & 0x60, 0x60);
	/* Disabling ETBEI clears a pending THRE. */
	out(f, IER, 0);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, IIR), 0xc1);
	assert_int_equal(f->irq.raises, 3);
}

static void test_rx_interrupt_and_trigger(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[14];

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('a' + i);
	out(f, FCR, 0xc7); /* enable, clear both, trigger at 14 */
	out(f, IER, 0x01);
	assert_int_equal(f->irq.level, 0);

	assert_int_equal(ns16550_receive(&f->uart, buf, 3), 3);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, IIR), 0xcc); /* below trigger: timeout */
	assert_int_equal(ns16550_receive(&f->uart, buf + 3, 11), 11);
	assert_int_equal(in(f, IIR), 0xc4); /* at trigger: data available */
	assert_int_equal(in(f, LSR), 0x61);

	for (unsigned i = 0; i < sizeof(buf); i++) {
		assert_int_equal(in(f, LSR) & 0x01, 1);
		assert_int_equal(in(f, RBR), buf[i]);
	}
	assert_int_equal(in(f, LSR), 0x60);
	assert_int_equal(in(f, IIR), 0xc1);
	assert_int_equal(f->irq.level, 0);

	/* Trigger level 1 (FCR=0x01): one byte is "data available". */
	out(f, FCR, 0x01);
	assert_int_equal(ns16550_receive(&f->uart, buf, 1), 1);
	assert_int_equal(in(f, IIR), 0xc4);
	/* FCR clear-RX empties the FIFO and drops the interrupt. */
	out(f, FCR, 0x03);
	assert_int_equal(in(f, LSR) & 0x01, 0);
	assert_int_equal(f->irq.level, 0);
}

static void test_rx_fifo_full(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[100];
	size_t n, got = 0;

	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	out(f, FCR, 0x01);
	assert_int_equal(ns16550_rx_space(&f->uart), NS16550_RX_FIFO_SIZE);
	n = ns16550_receive(&f->uart, buf, sizeof(buf));
	assert_int_equal(n, NS16550_RX_FIFO_SIZE);
	assert_int_equal(ns16550_rx_space(&f->uart), 0);
	assert_int_equal(ns16550_receive(&f->uart, buf + n, 1), 0);
	assert_int_equal(in(f, LSR) & 0x02, 0); /* refused, not overrun */

	/* rx_ready comes once the guest drained the FIFO to half. */
	for (; got < NS16550_RX_FIFO_SIZE / 2 - 1; got++)
		assert_int_equal(in(f, RBR), buf[got]);
	assert_int_equal(f->rx_ready_calls, 0);
	assert_int_equal(in(f, RBR), buf[got++]);
	assert_int_equal(f->rx_ready_calls, 1);
	assert_int_equal(ns16550_rx_space(&f->uart), NS16550_RX_FIFO_SIZE / 2);

	/* The host retries the rest as space frees up; order is kept. */
	n += ns16550_receive(&f->uart, buf + n, sizeof(buf) - n);
	assert_int_equal(n, NS16550_RX_FIFO_SIZE + NS16550_RX_FIFO_SIZE / 2);
	while (in(f, LSR) & 0x01)
		assert_int_equal(in(f, RBR), buf[got++]);
	assert_int_equal(f->rx_ready_calls, 2);
	assert_int_equal(ns16550_receive(&f->uart, buf + n, sizeof(buf) - n), sizeof(buf) - n);
	while (in(f, LSR) & 0x01)
		assert_int_equal(in(f, RBR), buf[got++]);
	assert_int_equal(got, sizeof(buf));
	assert_int_equal(f->rx_ready_calls, 2); /* nothing refused since */

	/* 16450 mode (FIFO off) holds one byte. */
	out(f, FCR, 0x00);
	assert_int_equal(ns16550_rx_space(&f->uart), 1);
	out(f, IER, 0x01);
	assert_int_equal(ns16550_receive(&f->uart, buf, 2), 1);
	assert_int_equal(in(f, IIR), 0x04);
	assert_int_equal(in(f, RBR), buf[0]);
	assert_int_equal(f->rx_ready_calls, 3);
	assert_int_equal(in(f, IIR), 0x01);
}

static void test_loopback_and_overrun(void **state)
{
	struct fixture *f = *state;
	uint8_t msr;

	out(f, FCR, 0x01);
	out(f, IER, 0x0d); /* RX data, line status, modem status */
	out(f, MCR, 0x1f); /* loop with DTR, RTS, OUT1, OUT2 */
	msr = in(f, MSR);
	assert_int_equal(msr & 0xf0, 0xf0);	/* CTS, DSR, RI, DCD */
	assert_int_equal(in(f, MSR) & 0x0f, 0); /* deltas cleared by the read */

	/* Host input is refused in loopback. */
	assert_int_equal(ns16550_receive(&f->uart, (const uint8_t *)"x", 1), 0);
	assert_int_equal(ns16550_rx_space(&f->uart), 0);

	out(f, THR, 0x42);
	assert_int_equal(f->tx_calls, 0);
	assert_int_equal(in(f, IIR), 0xc4);
	assert_int_equal(in(f, RBR), 0x42);

	/* Overrun: 65 bytes into a 64-byte FIFO. */
	for (unsigned i = 0; i <= NS16550_RX_FIFO_SIZE; i++)
		out(f, THR, (uint8_t)i);
	assert_int_equal(in(f, IIR), 0xc6); /* line status has priority */
	assert_int_equal(in(f, LSR), 0x63);
	assert_int_equal(in(f, LSR), 0x61); /* OE cleared by the read */
	assert_int_equal(in(f, IIR), 0xc4);
	for (unsigned i = 0; i < NS16550_RX_FIFO_SIZE; i++)
		assert_int_equal(in(f, RBR), i);

	/* Modem status interrupt: RI's trailing edge and DCD change. */
	assert_int_equal(in(f, IIR), 0xc1);
	out(f, MCR, 0x13); /* drop OUT1 and OUT2 */
	assert_int_equal(in(f, IIR), 0xc0);
	msr = in(f, MSR);
	assert_int_equal(msr, 0x30 | 0x08 | 0x04);
	assert_int_equal(in(f, IIR), 0xc1);

	/* Leaving loopback: rx_ready for the refused input; real lines again. */
	assert_int_equal(f->rx_ready_calls, 0);
	out(f, MCR, 0x0b);
	assert_int_equal(f->rx_ready_calls, 1);
	assert_int_equal(in(f, MSR) & 0xf0, 0xb0);
	assert_int_equal(ns16550_receive(&f->uart, (const uint8_t *)"x", 1), 1);
	out(f, THR, 'y');
	assert_int_equal(f->out_len, 1);
	assert_int_equal(f->out[0], 'y');
}

static void test_priority(void **state)
{
	struct fixture *f = *state;

	out(f, FCR, 0x01);
	out(f, MCR, 0x10);
	out(f, IER, 0x0f);
	for (unsigned i = 0; i <= NS16550_RX_FIFO_SIZE; i++)
		out(f, THR, 'z');
	out(f, MCR, 0x11); /* DSR changes: modem status pending too */
	assert_int_equal(in(f, IIR), 0xc6);
	in(f, LSR);
	assert_int_equal(in(f, IIR), 0xc4);
	out(f, FCR, 0x03);
	assert_int_equal(in(f, IIR), 0xc2);
	assert_int_equal(in(f, IIR), 0xc0);
	in(f, MSR);
	assert_int_equal(in(f, IIR), 0xc1);
	assert_int_equal(f->irq.level, 0);
}

static void test_wide_access(void **state)
{
	struct fixture *f = *state;
	uint8_t d[4];

	out(f, MCR, 0x10);
	out(f, FCR, 0x00);
	out(f, THR, 1);
	out(f, THR, 2); /* overrun in 16450 mode */
	/* A 4-byte read at MCR returns MCR and 0xff above; LSR is not consumed. */
	memset(d, 0, sizeof(d));
	assert_true(bus_read(&f->bus, COM1 + MCR, d, 4));
	assert_int_equal(d[0], 0x10);
	assert_int_equal(d[1], 0xff);
	assert_int_equal(d[2], 0xff);
	assert_int_equal(d[3], 0xff);
	assert_int_equal(in(f, LSR), 0x63);
	assert_int_equal(in(f, RBR), 2); /* the new byte overwrote RBR */

	/* A 2-byte write at LCR writes LCR only. */
	d[0] = 0x1b;
	d[1] = 0x00;
	assert_true(bus_write(&f->bus, COM1 + LCR, d, 2));
	assert_int_equal(in(f, LCR), 0x1b);
	assert_int_equal(in(f, MCR), 0x10);
	/* Beyond the 8 ports the bus refuses the access. */
	assert_false(bus_read(&f->bus, COM1 + SCR, d, 2));
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct ns16550_state st;
	struct ns16550 other;
	struct irq_rec rec = {0};
	struct irq_line line = {.set = irq_rec_set, .opaque = &rec, .gsi = 4};

	out(f, FCR, 0x81);
	out(f, IER, 0x01);
	out(f, LCR, 0x80);
	out(f, DLL, 0x03);
	out(f, LCR, 0x03);
	out(f, SCR, 0x77);
	assert_int_equal(ns16550_receive(&f->uart, (const uint8_t *)"abc", 3), 3);
	assert_int_equal(in(f, RBR), 'a'); /* move the ring's head */
	assert_int_equal(ns16550_receive(&f->uart, (const uint8_t *)"de", 2), 2);
	ns16550_save(&f->uart, &st);
	assert_int_equal(st.rx_count, 4);

	ns16550_init(&other, line, NULL, NULL);
	assert_int_equal(ns16550_load(&other, &st), 0);
	assert_int_equal(rec.level, 1); /* RX interrupt pending in the copy */
	assert_int_equal(ns16550_bus_ops.read != NULL, 1);
	{
		uint8_t v;
		const char *want = "bcde";

		for (unsigned i = 0; i < 4; i++) {
			ns16550_bus_ops.read(&other, RBR, &v, 1);
			assert_int_equal(v, want[i]);
		}
		ns16550_bus_ops.read(&other, SCR, &v, 1);
		assert_int_equal(v, 0x77);
		ns16550_bus_ops.read(&other, IIR, &v, 1);
		assert_int_equal(v, 0xc1);
	}
	assert_int_equal(rec.level, 0);

	st.rx_count = NS16550_RX_FIFO_SIZE + 1;
	assert_int_equal(ns16550_load(&other, &st), -EINVAL);
	st.rx_count = 2;
	st.fcr = 0; /* 16450 mode holds one byte */
	assert_int_equal(ns16550_load(&other, &st), -EINVAL);
	st.fcr = 0x81;
	st.version = 99;
	assert_int_equal(ns16550_load(&other, &st), -EINVAL);
	ns16550_destroy(&other);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;

	out(f, FCR, 0x01);
	out(f, IER, 0x03);
	assert_int_equal(ns16550_receive(&f->uart, (const uint8_t *)"q", 1), 1);
	assert_int_equal(f->irq.level, 1);
	ns16550_reset(&f->uart);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, IER), 0);
	assert_int_equal(in(f, IIR), 0x01);
	assert_int_equal(in(f, LSR), 0x60);
}

struct feeder {
	struct ns16550 *uart;
	unsigned total;
};

static void *feed(void *arg)
{
	struct feeder *fd = arg;
	unsigned sent = 0;

	while (sent < fd->total) {
		uint8_t b = (uint8_t)(sent * 7);

		if (ns16550_receive(fd->uart, &b, 1))
			sent++;
		else
			sched_yield();
	}
	return NULL;
}

/* Host input from another thread while a vCPU thread drains: nothing lost or reordered. */
static void test_concurrent_rx(void **state)
{
	struct fixture *f = *state;
	struct feeder fd = {.uart = &f->uart, .total = 20000};
	pthread_t t;
	unsigned got = 0;

	out(f, FCR, 0x01);
	out(f, IER, 0x01);
	assert_int_equal(pthread_create(&t, NULL, feed, &fd), 0);
	while (got < fd.total) {
		if (in(f, LSR) & 0x01) {
			assert_int_equal(in(f, RBR), (uint8_t)(got * 7));
			got++;
		} else {
			sched_yield();
		}
	}
	pthread_join(t, NULL);
	assert_int_equal(in(f, LSR) & 0x01, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_autoconfig_16550a, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_interrupt_and_trigger, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx_fifo_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loopback_and_overrun, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_priority, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_wide_access, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_rx, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
