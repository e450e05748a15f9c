/* SPDX-License-Identifier: MIT */
/*
 * virtio-console (virtio 1.2 section 5.3) with a single port and no
 * multiport support: receiveq (0) carries bytes to the guest (hvc0 in
 * Linux), transmitq (1) bytes from it. VIRTIO_CONSOLE_F_EMERG_WRITE is
 * offered: a driver write to the config field emerg_wr sends one byte at
 * once (Linux uses it for early output). The terminal size is not offered.
 *
 * Connected like the UART (ns16550.h): output goes to a tx callback (the
 * VMM's struct console); input is offered with virtio_console_receive(),
 * which takes what the guest has room for; when it took less than offered,
 * the rx_ready callback says when to offer the rest (the driver added
 * receive buffers, or the device started).
 *
 * Threads: everything runs under the device lock. tx is called with the
 * lock held from the thread of the guest's kick (the event loop with
 * ioeventfds, else a vCPU thread); rx_ready is called with the lock held
 * too and must not call back into the device (signal the event loop, and
 * call virtio_console_receive() from there).
 */
#ifndef HEARTH_DEVICES_VIRTIO_CONSOLE_H
#define HEARTH_DEVICES_VIRTIO_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_CONSOLE_F_SIZE	     0
#define VIRTIO_CONSOLE_F_MULTIPORT   1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

#define VIRTIO_CONSOLE_RXQ	  0
#define VIRTIO_CONSOLE_TXQ	  1
#define VIRTIO_CONSOLE_QUEUE_SIZE 256

/* Config space: cols (2), rows (2), max_nr_ports (4), emerg_wr (4). */
#define VIRTIO_CONSOLE_CONFIG_SIZE     12
#define VIRTIO_CONSOLE_CONFIG_EMERG_WR 8

typedef void (*virtio_console_tx_fn)(void *opaque, const uint8_t *buf, size_t len);
typedef void (*virtio_console_rx_ready_fn)(void *opaque);

struct virtio_console {
	struct virtio_device dev;
	virtio_console_tx_fn tx;
	virtio_console_rx_ready_fn rx_ready;
	void *opaque;
	bool rx_blocked; /* receive() refused bytes: rx_ready owed */
	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
	uint64_t rx_bytes, tx_bytes; /* atomic adds; metrics read them with atomic loads */
};

/*
 * virtio_console_init - set up the device over gm (loop may be NULL: the
 * device registers no sources of its own). tx(opaque, ...) receives the
 * guest's output; rx_ready may be set with virtio_console_set_rx_ready().
 * Returns 0 or -ENOMEM.
 */
int virtio_console_init(struct virtio_console *con, struct guest_memory *gm,
			struct event_loop *loop, virtio_console_tx_fn tx, void *opaque);

/* virtio_console_set_rx_ready - set the callback for room to receive. */
void virtio_console_set_rx_ready(struct virtio_console *con, virtio_console_rx_ready_fn fn);

/*
 * virtio_console_receive - give the guest up to len bytes of input.
 * Returns how many it took (0 when the driver is not running or has no
 * receive buffers posted); rx_ready follows once it can take more.
 * Takes the device lock.
 */
size_t virtio_console_receive(struct virtio_console *con, const uint8_t *buf, size_t len);

/* virtio_console_destroy - reset the device and free everything. */
void virtio_console_destroy(struct virtio_console *con);

#endif
