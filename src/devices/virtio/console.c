/* SPDX-License-Identifier: MIT */
/* virtio-console, one port: see console.h. */
#include "devices/virtio/console.h"
#include "core/util.h"

#include <string.h>

static struct virtio_console *to_con(struct virtio_device *dev)
{
	return dev->priv;
}

/* Room for input again: tell whoever holds the rest of it. Lock held. */
static void con_rx_unblock(struct virtio_console *con)
{
	if (!con->rx_blocked)
		return;
	con->rx_blocked = false;
	if (con->rx_ready)
		con->rx_ready(con->opaque);
}

static void con_process_tx(struct virtio_console *con)
{
	struct virtio_device *dev = &con->dev;
	bool pushed = false;

	while (virtio_pop(dev, VIRTIO_CONSOLE_TXQ, &con->tx_chain) > 0) {
		const struct vq_chain *c = &con->tx_chain;

		/* Writable buffers in a transmit chain are left untouched. */
		for (unsigned i = 0; i < c->nr_out; i++) {
			if (con->tx)
				con->tx(con->opaque, c->iov[i].iov_base, c->iov[i].iov_len);
		}
		__atomic_fetch_add(&con->tx_bytes, c->out_bytes, __ATOMIC_RELAXED);
		virtio_push(dev, VIRTIO_CONSOLE_TXQ, c, 0);
		pushed = true;
	}
	if (pushed)
		virtio_notify(dev, VIRTIO_CONSOLE_TXQ);
}

static void con_queue_notify(struct virtio_device *dev, unsigned q)
{
	struct virtio_console *con = to_con(dev);

	if (q == VIRTIO_CONSOLE_TXQ)
		con_process_tx(con);
	else
		con_rx_unblock(con); /* the driver posted receive buffers */
}

static int con_activate(struct virtio_device *dev)
{
	struct virtio_console *con = to_con(dev);

	con_rx_unblock(con);
	/* Output queued before DRIVER_OK is not lost. */
	con_process_tx(con);
	return 0;
}

static void con_config_read(struct virtio_device *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE] = {0};
	uint32_t one = 1;

	(void)dev;
	memcpy(cfg + 4, &one, sizeof(one)); /* max_nr_ports */
	memcpy(data, cfg + off, len);
}

static void con_config_write(struct virtio_device *dev, uint32_t off, const uint8_t *data,
			     uint32_t len)
{
	struct virtio_console *con = to_con(dev);

	/* emerg_wr: its first byte is a character to print now. */
	if (off == VIRTIO_CONSOLE_CONFIG_EMERG_WR && len >= 1 &&
	    virtio_has_feature(dev, VIRTIO_CONSOLE_F_EMERG_WRITE) && con->tx) {
		con->tx(con->opaque, data, 1);
		__atomic_fetch_add(&con->tx_bytes, 1, __ATOMIC_RELAXED);
	}
}

static void con_reset(struct virtio_device *dev)
{
	(void)dev;
}

static const struct virtio_device_ops con_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .num_queues = 2,
    .queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE,
    .features = VIRTIO_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE),
    .config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
    .config_read = con_config_read,
    .config_write = con_config_write,
    .activate = con_activate,
    .reset = con_reset,
    .queue_notify = con_queue_notify,
};

int virtio_console_init(struct virtio_console *con, struct guest_memory *gm,
			struct event_loop *loop, virtio_console_tx_fn tx, void *opaque)
{
	int r;

	memset(con, 0, sizeof(*con));
	con->tx = tx;
	con->opaque = opaque;
	r = vq_chain_init(&con->rx_chain, VIRTIO_CONSOLE_QUEUE_SIZE);
	if (r)
		return r;
	r = vq_chain_init(&con->tx_chain, VIRTIO_CONSOLE_QUEUE_SIZE);
	if (r)
		goto free_rx;
	r = virtio_device_init(&con->dev, &con_ops, con, gm, loop);
	if (r)
		goto free_tx;
	return 0;

free_tx:
	vq_chain_destroy(&con->tx_chain);
free_rx:
	vq_chain_destroy(&con->rx_chain);
	return r;
}

void virtio_console_set_rx_ready(struct virtio_console *con, virtio_console_rx_ready_fn fn)
{
	virtio_device_lock(&con->dev);
	con->rx_ready = fn;
	virtio_device_unlock(&con->dev);
}

size_t virtio_console_receive(struct virtio_console *con, const uint8_t *buf, size_t len)
{
	struct virtio_device *dev = &con->dev;
	bool pushed = false;
	size_t done = 0;

	virtio_device_lock(dev);
	while (done < len && virtio_pop(dev, VIRTIO_CONSOLE_RXQ, &con->rx_chain) > 0) {
		size_t n = vq_chain_write(&con->rx_chain, 0, buf + done, len - done);

		/* A chain without writable room is returned empty. */
		virtio_push(dev, VIRTIO_CONSOLE_RXQ, &con->rx_chain, (uint32_t)n);
		pushed = true;
		done += n;
	}
	if (done < len)
		con->rx_blocked = true;
	__atomic_fetch_add(&con->rx_bytes, done, __ATOMIC_RELAXED);
	if (pushed)
		virtio_notify(dev, VIRTIO_CONSOLE_RXQ);
	virtio_device_unlock(dev);
	return done;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (!con->dev.vqs)
		return;
	virtio_device_lock(&con->dev);
	virtio_device_reset(&con->dev);
	virtio_device_unlock(&con->dev);
	virtio_device_destroy(&con->dev);
	vq_chain_destroy(&con->tx_chain);
	vq_chain_destroy(&con->rx_chain);
}
