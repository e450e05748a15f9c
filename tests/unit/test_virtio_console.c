/* SPDX-License-Identifier: MIT */
/* virtio-console: output reaches the tx callback, input lands in the guest. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/guest_memory.h"
#include "core/log.h"
#include "devices/virtio/console.h"
#include "virtio_fake_driver.h"

#define QSIZE 16
#define RXBUF 0x10000ULL
#define TXBUF 0x20000ULL

struct fixture {
	struct guest_memory gm;
	struct virtio_console con;
	struct fake_ring ring[2];
	char out[256];
	size_t out_len;
	int tx_calls;
	int rx_ready;
	int irqs[2];
};

static void rec_tx(void *opaque, const uint8_t *buf, size_t len)
{
	struct fixture *f = opaque;

	assert_true(f->out_len + len <= sizeof(f->out));
	memcpy(f->out + f->out_len, buf, len);
	f->out_len += len;
	f->tx_calls++;
}

static void rec_rx_ready(void *opaque)
{
	struct fixture *f = opaque;
	f->rx_ready++;
}

static void rec_notify_queue(struct virtio_device *dev, unsigned q)
{
	struct fixture *f = dev->transport;
	f->irqs[q]++;
}

static int setup(void **state)
{
	static struct fixture f;
	struct gm_range ranges[] = {{0, 0x100000}};

	memset(&f, 0, sizeof(f));
	assert_int_equal(gm_create(&f.gm, ranges, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(virtio_console_init(&f.con, &f.gm, NULL, rec_tx, &f), 0);
	virtio_console_set_rx_ready(&f.con, rec_rx_ready);
	f.con.dev.transport = &f;
	f.con.dev.notify_queue = rec_notify_queue;
	fr_init(&f.ring[0], &f.gm, QSIZE, 0x1000, 0x2000, 0x3000);
	fr_init(&f.ring[1], &f.gm, QSIZE, 0x4000, 0x5000, 0x6000);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_console_destroy(&f->con);
	gm_destroy(&f->gm);
	return 0;
}

static void test_config(void **state)
{
	struct fixture *f = *state;
	uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE];
	uint32_t ports;

	assert_int_equal(f->con.dev.ops->device_id, VIRTIO_ID_CONSOLE);
	assert_true(f->con.dev.host_features & VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE));
	assert_false(f->con.dev.host_features & VIRTIO_BIT(VIRTIO_CONSOLE_F_MULTIPORT));
	assert_false(f->con.dev.host_features & VIRTIO_BIT(VIRTIO_CONSOLE_F_SIZE));
	virtio_config_read(&f->con.dev, 0, cfg, sizeof(cfg));
	memcpy(&ports, cfg + 4, 4);
	assert_int_equal(ports, 1);

	/* Emergency write: only once negotiated. */
	virtio_config_write(&f->con.dev, VIRTIO_CONSOLE_CONFIG_EMERG_WR, (const uint8_t *)"A\0\0\0",
			    4);
	assert_int_equal(f->out_len, 0);
	fr_bring_up(&f->con.dev, f->ring, 2, VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE));
	virtio_config_write(&f->con.dev, VIRTIO_CONSOLE_CONFIG_EMERG_WR, (const uint8_t *)"B\0\0\0",
			    4);
	assert_int_equal(f->out_len, 1);
	assert_int_equal(f->out[0], 'B');
}

static void test_tx(void **state)
{
	struct fixture *f = *state;
	struct fake_ring *tx = &f->ring[VIRTIO_CONSOLE_TXQ];

	fr_bring_up(&f->con.dev, f->ring, 2, 0);
	gm_write(&f->gm, TXBUF, "hello ", 6);
	gm_write(&f->gm, TXBUF + 0x100, "world\n", 6);
	fr_desc(tx, 0, TXBUF, 6, VRING_DESC_F_NEXT, 1);
	fr_desc(tx, 1, TXBUF + 0x100, 6, 0, 0);
	fr_desc(tx, 2, TXBUF + 0x200, 0, 0, 0);
	fr_publish(tx, 0);
	fr_publish(tx, 2);
	fr_kick(&f->con.dev, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(f->out_len, 12);
	assert_memory_equal(f->out, "hello world\n", 12);
	assert_int_equal(fr_used_idx(tx), 2);
	assert_int_equal(fr_used_elem(tx, 0).len, 0);
	assert_int_equal(fr_used_elem(tx, 0).id, 0);
	assert_int_equal(fr_used_elem(tx, 1).id, 2);
	assert_int_equal(f->irqs[VIRTIO_CONSOLE_TXQ], 1);
	assert_int_equal(f->con.tx_bytes, 12);
}

static void test_tx_before_driver_ok(void **state)
{
	struct fixture *f = *state;
	struct fake_ring *tx = &f->ring[VIRTIO_CONSOLE_TXQ];

	/* Output queued, then DRIVER_OK: it goes out at activation. */
	gm_write(&f->gm, TXBUF, "early", 5);
	fr_desc(tx, 0, TXBUF, 5, 0, 0);
	fr_publish(tx, 0);
	fr_kick(&f->con.dev, VIRTIO_CONSOLE_TXQ); /* not running: ignored */
	assert_int_equal(f->out_len, 0);
	fr_bring_up(&f->con.dev, f->ring, 2, 0);
	assert_int_equal(f->out_len, 5);
	assert_memory_equal(f->out, "early", 5);
}

static void test_rx(void **state)
{
	struct fixture *f = *state;
	struct fake_ring *rx = &f->ring[VIRTIO_CONSOLE_RXQ];
	const uint8_t input[] = "ls -l\nexit\n";

	/* Not running yet: nothing taken, rx_ready once it is. */
	assert_int_equal(virtio_console_receive(&f->con, input, 3), 0);
	assert_int_equal(f->rx_ready, 0);
	fr_desc(rx, 0, RXBUF, 4, VRING_DESC_F_WRITE, 0);
	fr_desc(rx, 1, RXBUF + 0x100, 4, VRING_DESC_F_WRITE, 0);
	fr_publish(rx, 0);
	fr_publish(rx, 1);
	fr_bring_up(&f->con.dev, f->ring, 2, 0);
	assert_int_equal(f->rx_ready, 1);
	gm_set_dirty_tracking(&f->gm, true);

	/* Two 4-byte buffers take 8 of the 11 bytes. */
	assert_int_equal(virtio_console_receive(&f->con, input, 11), 8);
	assert_int_equal(fr_used_idx(rx), 2);
	assert_int_equal(fr_used_elem(rx, 0).len, 4);
	assert_int_equal(fr_used_elem(rx, 1).len, 4);
	assert_memory_equal(gm_ptr(&f->gm, RXBUF, 4), "ls -", 4);
	assert_memory_equal(gm_ptr(&f->gm, RXBUF + 0x100, 4), "l\nex", 4);
	assert_true(fr_dirty(&f->gm, RXBUF));
	assert_int_equal(f->irqs[VIRTIO_CONSOLE_RXQ], 1);
	assert_int_equal(f->rx_ready, 1);

	/* The driver posts a buffer and kicks: rx_ready, then the rest fits. */
	fr_desc(rx, 2, RXBUF + 0x200, 64, VRING_DESC_F_WRITE, 0);
	fr_publish(rx, 2);
	fr_kick(&f->con.dev, VIRTIO_CONSOLE_RXQ);
	assert_int_equal(f->rx_ready, 2);
	fr_kick(&f->con.dev, VIRTIO_CONSOLE_RXQ); /* nothing owed: no call */
	assert_int_equal(f->rx_ready, 2);
	assert_int_equal(virtio_console_receive(&f->con, input + 8, 3), 3);
	assert_int_equal(fr_used_elem(rx, 2).len, 3);
	assert_memory_equal(gm_ptr(&f->gm, RXBUF + 0x200, 3), "it\n", 3);
	assert_int_equal(f->con.rx_bytes, 11);
	assert_int_equal(f->irqs[VIRTIO_CONSOLE_RXQ], 2);
}

static void test_hostile(void **state)
{
	struct fixture *f = *state;
	struct fake_ring *rx = &f->ring[VIRTIO_CONSOLE_RXQ];
	struct fake_ring *tx = &f->ring[VIRTIO_CONSOLE_TXQ];

	fr_bring_up(&f->con.dev, f->ring, 2, 0);
	/* Receive buffer in the MMIO hole: the device breaks, takes nothing. */
	fr_desc(rx, 0, 0xfec00000, 4, VRING_DESC_F_WRITE, 0);
	fr_publish(rx, 0);
	assert_int_equal(virtio_console_receive(&f->con, (const uint8_t *)"x", 1), 0);
	assert_true(f->con.dev.broken);
	fr_kick(&f->con.dev, VIRTIO_CONSOLE_TXQ);
	assert_int_equal(f->out_len, 0);

	/* After a reset, a transmit chain with a loop breaks it again. */
	fr_init(&f->ring[0], &f->gm, QSIZE, 0x1000, 0x2000, 0x3000);
	fr_init(&f->ring[1], &f->gm, QSIZE, 0x4000, 0x5000, 0x6000);
	fr_bring_up(&f->con.dev, f->ring, 2, 0);
	assert_false(f->con.dev.broken);
	fr_desc(tx, 0, TXBUF, 1, VRING_DESC_F_NEXT, 1);
	fr_desc(tx, 1, TXBUF, 1, VRING_DESC_F_NEXT, 0);
	fr_publish(tx, 0);
	fr_kick(&f->con.dev, VIRTIO_CONSOLE_TXQ);
	assert_true(f->con.dev.broken);
	assert_int_equal(f->out_len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_config, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tx_before_driver_ok, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile, setup, teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
