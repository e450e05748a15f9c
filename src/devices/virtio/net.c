/* SPDX-License-Identifier: MIT */
/* virtio-net over a tap-like back-end: see net.h. */
#include "devices/virtio/net.h"

#include <errno.h>
#include <linux/virtio_net.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define NF(x) VIRTIO_BIT(VIRTIO_NET_F_##x)

#define NET_FEATURES                                                                               \
	(NF(CSUM) | NF(GUEST_CSUM) | NF(MAC) | NF(GUEST_TSO4) | NF(GUEST_TSO6) | NF(GUEST_ECN) |   \
	 NF(HOST_TSO4) | NF(HOST_TSO6) | NF(HOST_ECN) | NF(MRG_RXBUF) | NF(STATUS) | NF(CTRL_VQ) | \
	 NF(CTRL_RX) | NF(GUEST_ANNOUNCE) | NF(CTRL_MAC_ADDR))

/* Config space: mac[6], status, max_virtqueue_pairs, mtu (little endian). */
#define NET_CONFIG_SIZE 12

/* Offset of num_buffers in struct virtio_net_hdr_v1. */
#define NET_HDR_NUM_BUFFERS 10

_Static_assert(sizeof(struct virtio_net_hdr_v1) == VIRTIO_NET_HDR_LEN, "vnet header size");
_Static_assert(offsetof(struct virtio_net_hdr_v1, num_buffers) == NET_HDR_NUM_BUFFERS,
	       "num_buffers offset");

static struct virtio_net *to_net(struct virtio_device *dev)
{
	return dev->priv;
}

static bool net_running(const struct virtio_net *net)
{
	return net->vdev.active && !net->vdev.broken;
}

/* Watch the back-end for input, or stop. */
static void net_poll_fd(struct virtio_net *net, bool on)
{
	if (!net->loop || net->backend_dead || net->fd_polled == on)
		return;
	if (event_loop_modify(net->loop, net->backend.fd, on ? EPOLLIN : 0) == 0)
		net->fd_polled = on;
}

static void net_arm_timer(int fd, bool *armed, uint64_t ns)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (ns == 0)
		ns = 1;
	its.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
	timerfd_settime(fd, 0, &its, NULL);
	*armed = true;
}

static void net_disarm_timer(int fd, bool *armed)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	timerfd_settime(fd, 0, &its, NULL);
	*armed = false;
}

static void net_backend_gone(struct virtio_net *net, const char *why)
{
	if (net->backend_dead)
		return;
	log_warn("virtio-net: the back-end stopped working (%s); no more frames are received", why);
	if (net->loop)
		event_loop_remove(net->loop, net->backend.fd);
	net->fd_polled = false;
	net->backend_dead = true;
}

/* ---- receive ---------------------------------------------------------------- */

/* Forget the frame in flight and the held chain (after a reset: the ring is gone). */
static void net_rx_forget(struct virtio_net *net)
{
	net->rx_held = false;
	net->rx_pending = false;
	net->rx_charged = false;
	net->rx_nr = 0;
	net->rx_len = net->rx_done = 0;
}

/* The guest has no (more) receive buffers: wait for its notification. Returns true when some
 * arrived meanwhile. */
static bool net_rx_wait_buffers(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vdev.vqs[VIRTIO_NET_RXQ];

	net_poll_fd(net, false);
	if (vq_set_notification(vq, true)) {
		vq_set_notification(vq, false);
		return true;
	}
	return false;
}

/*
 * Pop a receive chain into c and check it is one: writable buffers only,
 * at least min bytes. Returns 1, 0 (none), or -errno (the device broke).
 */
static int net_rx_pop(struct virtio_net *net, struct vq_chain *c, uint64_t min)
{
	int r = virtio_pop(&net->vdev, VIRTIO_NET_RXQ, c);

	if (r <= 0)
		return r;
	if (c->nr_out) {
		virtio_device_error(&net->vdev, "receive chain %u has device-readable buffers",
				    c->head);
		return -EINVAL;
	}
	if (c->in_bytes < min) {
		virtio_device_error(
		    &net->vdev, "receive chain %u holds %llu bytes, less than the %llu needed",
		    c->head, (unsigned long long)c->in_bytes, (unsigned long long)min);
		return -EINVAL;
	}
	return 1;
}

/* Give a frame spread over several chains back with zero lengths (it is dropped). */
static void net_rx_drop_merged(struct virtio_net *net)
{
	struct virtqueue *vq = &net->vdev.vqs[VIRTIO_NET_RXQ];

	virtio_push(&net->vdev, VIRTIO_NET_RXQ, &net->rx_chain, 0);
	for (unsigned i = 0; i < net->rx_nr; i++)
		vq_push(vq, net->rx_heads[i], 0);
	net->stats.rx_dropped++;
	net_rx_forget(net);
}

/* Read the next frame into the held chain (and the spill buffer). Returns 1, 0 (nothing), -1
 * (stop). */
static int net_rx_read(struct virtio_net *net)
{
	const struct vq_chain *c = &net->rx_chain;
	unsigned n = 0;
	ssize_t got;

	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in; i++)
		net->rx_iov[n++] = c->iov[i];
	net->rx_iov[n++] = (struct iovec){net->rx_spill, VIRTIO_NET_RX_SPILL};
	do
		got = readv(net->backend.fd, net->rx_iov, (int)n);
	while (got < 0 && errno == EINTR);
	if (got < 0) {
		if (errno == EAGAIN) {
			net_poll_fd(net, true);
			return 0;
		}
		net->stats.rx_errors++;
		net_backend_gone(net, strerror(errno));
		return -1;
	}
	if (got == 0) {
		net_backend_gone(net, "end of file");
		return -1;
	}
	if ((size_t)got <= VIRTIO_NET_HDR_LEN) {
		net->stats.rx_errors++; /* a runt: nothing to give the guest */
		return 1;
	}
	net->rx_len = (uint32_t)got;
	net->rx_done = (uint32_t)MIN((uint64_t)got, c->in_bytes);
	net->rx_nr = 0;
	net->rx_charged = false;
	net->rx_pending = true;
	if (net->rx_len > net->rx_done && !virtio_has_feature(&net->vdev, VIRTIO_NET_F_MRG_RXBUF)) {
		/* Does not fit one buffer: drop it and keep the chain for the next frame. */
		net->stats.rx_dropped++;
		net->rx_pending = false;
	}
	return 1;
}

/*
 * One step of receiving: take a chain, read a frame, charge it, spread it,
 * deliver it. Returns 1 after progress (a frame delivered or dropped), 0
 * when waiting (no frame, no buffers, throttled), -1 when stopped.
 */
static int net_rx_step(struct virtio_net *net, bool *pushed)
{
	struct virtio_device *dev = &net->vdev;
	uint16_t nb;
	int r;

	if (!net_running(net) || net->backend_dead)
		return -1;
	if (!net->rx_pending) {
		if (!net->rx_held) {
			r = net_rx_pop(net, &net->rx_chain, VIRTIO_NET_HDR_LEN);
			if (r < 0)
				return -1;
			if (r == 0)
				return net_rx_wait_buffers(net) ? 1 : 0;
			net->rx_held = true;
		}
		r = net_rx_read(net);
		if (r <= 0 || !net->rx_pending)
			return r;
	}
	if (!net->rx_charged) {
		uint64_t bytes = net->rx_len - VIRTIO_NET_HDR_LEN;

		if (!rate_limiter_consume(&net->rx_rl, 1, bytes)) {
			net->stats.rx_throttled++;
			net_poll_fd(net, false);
			net_arm_timer(net->rx_timer_fd, &net->rx_timer_armed,
				      rate_limiter_wait_ns(&net->rx_rl, 1, bytes));
			return 0;
		}
		net->rx_charged = true;
	}
	while (net->rx_done < net->rx_len) {
		uint64_t first = net->rx_chain.in_bytes;
		size_t want, w;

		if (net->rx_nr + 1 >= dev->vqs[VIRTIO_NET_RXQ].size) {
			/* Every buffer of the ring is held and the frame still does not fit. */
			net_rx_drop_merged(net);
			*pushed = true;
			return 1;
		}
		r = net_rx_pop(net, &net->rx_more, 1);
		if (r < 0)
			return -1;
		if (r == 0) {
			if (net_rx_wait_buffers(net))
				continue;
			return 0;
		}
		want = MIN((uint64_t)(net->rx_len - net->rx_done), net->rx_more.in_bytes);
		w = vq_chain_write(&net->rx_more, 0, net->rx_spill + (net->rx_done - first), want);
		net->rx_heads[net->rx_nr] = net->rx_more.head;
		net->rx_lens[net->rx_nr] = (uint32_t)w;
		net->rx_nr++;
		net->rx_done += (uint32_t)w;
	}

	nb = (uint16_t)(1 + net->rx_nr);
	vq_chain_write(&net->rx_chain, NET_HDR_NUM_BUFFERS, &nb, sizeof(nb));
	virtio_push(dev, VIRTIO_NET_RXQ, &net->rx_chain,
		    (uint32_t)MIN((uint64_t)net->rx_len, net->rx_chain.in_bytes));
	for (unsigned i = 0; i < net->rx_nr; i++)
		vq_push(&dev->vqs[VIRTIO_NET_RXQ], net->rx_heads[i], net->rx_lens[i]);
	net->stats.rx_packets++;
	net->stats.rx_bytes += net->rx_len - VIRTIO_NET_HDR_LEN;
	net_rx_forget(net);
	*pushed = true;
	return 1;
}

void virtio_net_process_rx(struct virtio_net *net)
{
	bool pushed = false;
	unsigned budget;

	for (budget = VIRTIO_NET_RX_BATCH; budget; budget--)
		if (net_rx_step(net, &pushed) <= 0)
			break;
	/*
	 * Budget spent: frames may still wait. Watch the back-end so that the
	 * (level-triggered) loop calls again; this turn may have started from
	 * a guest notification with the fd unwatched and notifications off,
	 * and then nothing else would.
	 */
	if (!budget)
		net_poll_fd(net, true);
	if (pushed)
		virtio_notify(&net->vdev, VIRTIO_NET_RXQ);
}

/* ---- transmit ---------------------------------------------------------------- */

/* Whether the guest's header asks only for what was negotiated. */
static bool net_tx_header_ok(struct virtio_net *net, const struct virtio_net_hdr_v1 *h)
{
	struct virtio_device *dev = &net->vdev;
	uint8_t gso = h->gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;

	if ((h->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !virtio_has_feature(dev, VIRTIO_NET_F_CSUM))
		return false;
	if ((h->gso_type & VIRTIO_NET_HDR_GSO_ECN) &&
	    !virtio_has_feature(dev, VIRTIO_NET_F_HOST_ECN))
		return false;
	switch (gso) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return !(h->gso_type & VIRTIO_NET_HDR_GSO_ECN);
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return virtio_has_feature(dev, VIRTIO_NET_F_HOST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return virtio_has_feature(dev, VIRTIO_NET_F_HOST_TSO6);
	default:
		return false;
	}
}

/* Write the held transmit chain to the back-end. */
static void net_tx_send(struct virtio_net *net)
{
	const struct vq_chain *c = &net->tx_chain;
	struct virtio_net_hdr_v1 hdr;
	uint64_t skip = VIRTIO_NET_HDR_LEN;
	unsigned n = 0;
	ssize_t w;

	/* Our own copy of the header: the guest may change its memory meanwhile. */
	vq_chain_read(c, 0, &hdr, sizeof(hdr));
	if (!net_tx_header_ok(net, &hdr)) {
		net->stats.tx_dropped++;
		log_guest_error("virtio-net: transmit header flags %#x gso_type %#x ask for an "
				"offload that was not negotiated; frame dropped",
				hdr.flags, hdr.gso_type);
		return;
	}
	hdr.num_buffers = 0;
	net->tx_iov[n++] = (struct iovec){&hdr, sizeof(hdr)};
	for (unsigned i = 0; i < c->nr_out; i++) {
		const struct iovec *v = &c->iov[i];

		if (skip >= v->iov_len) {
			skip -= v->iov_len;
			continue;
		}
		net->tx_iov[n++] =
		    (struct iovec){(uint8_t *)v->iov_base + skip, v->iov_len - (size_t)skip};
		skip = 0;
	}
	do
		w = writev(net->backend.fd, net->tx_iov, (int)n);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		net->stats.tx_errors++;
		return;
	}
	net->stats.tx_packets++;
	net->stats.tx_bytes += c->out_bytes - VIRTIO_NET_HDR_LEN;
}

/* Take a transmit chain and check it. Returns 1, 0 (none) or -errno (the device broke). */
static int net_tx_pop(struct virtio_net *net)
{
	struct vq_chain *c = &net->tx_chain;
	int r = virtio_pop(&net->vdev, VIRTIO_NET_TXQ, c);

	if (r <= 0)
		return r;
	if (c->nr_in) {
		virtio_device_error(&net->vdev, "transmit chain %u has device-writable buffers",
				    c->head);
		return -EINVAL;
	}
	if (c->out_bytes < VIRTIO_NET_HDR_LEN) {
		virtio_device_error(&net->vdev,
				    "transmit chain %u of %llu bytes has no complete header",
				    c->head, (unsigned long long)c->out_bytes);
		return -EINVAL;
	}
	if (c->out_bytes > VIRTIO_NET_MAX_TX_BYTES) {
		virtio_device_error(&net->vdev, "transmit chain %u of %llu bytes is too long",
				    c->head, (unsigned long long)c->out_bytes);
		return -EINVAL;
	}
	return 1;
}

static void net_tx_kick_later(struct virtio_net *net)
{
	uint64_t one = 1;
	ssize_t r;

	if (net->tx_kick_fd < 0)
		return;
	r = write(net->tx_kick_fd, &one, sizeof(one));
	(void)r;
}

void virtio_net_process_tx(struct virtio_net *net)
{
	struct virtio_device *dev = &net->vdev;
	struct virtqueue *vq = &dev->vqs[VIRTIO_NET_TXQ];
	unsigned budget = VIRTIO_NET_TX_BATCH;
	bool pushed = false;

	if (!net_running(net) || net->tx_timer_armed)
		return;
	vq_set_notification(vq, false);
	for (;;) {
		uint64_t bytes;

		if (!net->tx_held) {
			int r;

			if (budget == 0 && vq_has_available(vq)) {
				/* Let other sources run; continue from the loop. */
				net_tx_kick_later(net);
				break;
			}
			if (budget)
				budget--;
			r = net_tx_pop(net);
			if (r < 0)
				break;
			if (r == 0) {
				if (vq_set_notification(vq, true)) {
					vq_set_notification(vq, false);
					continue;
				}
				break;
			}
			net->tx_held = true;
		}
		bytes = net->tx_chain.out_bytes - VIRTIO_NET_HDR_LEN;
		if (!rate_limiter_consume(&net->tx_rl, 1, bytes)) {
			/* Notifications stay off: the timer resumes transmitting. */
			net->stats.tx_throttled++;
			net_arm_timer(net->tx_timer_fd, &net->tx_timer_armed,
				      rate_limiter_wait_ns(&net->tx_rl, 1, bytes));
			break;
		}
		net_tx_send(net);
		virtio_push(dev, VIRTIO_NET_TXQ, &net->tx_chain, 0);
		net->tx_held = false;
		pushed = true;
	}
	if (pushed)
		virtio_notify(dev, VIRTIO_NET_TXQ);
}

/* ---- control queue -------------------------------------------------------------- */

/* Check a VIRTIO_NET_CTRL_MAC_TABLE_SET payload: two tables of le32 count + 6-byte entries. */
static bool net_mac_tables_ok(const struct vq_chain *c, uint64_t off, uint64_t len)
{
	for (int t = 0; t < 2; t++) {
		uint32_t entries;

		if (len < sizeof(entries) ||
		    vq_chain_read(c, off, &entries, sizeof(entries)) != sizeof(entries))
			return false;
		off += sizeof(entries);
		len -= sizeof(entries);
		if ((uint64_t)entries * 6 > len)
			return false;
		off += (uint64_t)entries * 6;
		len -= (uint64_t)entries * 6;
	}
	return len == 0;
}

/* Carry out one control command; returns VIRTIO_NET_OK or VIRTIO_NET_ERR. */
static uint8_t net_ctrl_command(struct virtio_net *net, uint8_t class, uint8_t cmd,
				const struct vq_chain *c)
{
	struct virtio_device *dev = &net->vdev;
	uint64_t off = 2, len = c->out_bytes - 2;

	switch (class) {
	case VIRTIO_NET_CTRL_RX: {
		uint8_t on;

		if (!virtio_has_feature(dev, VIRTIO_NET_F_CTRL_RX) || len != 1)
			return VIRTIO_NET_ERR;
		vq_chain_read(c, off, &on, 1);
		if (cmd == VIRTIO_NET_CTRL_RX_PROMISC)
			net->promisc = on != 0;
		else if (cmd == VIRTIO_NET_CTRL_RX_ALLMULTI)
			net->allmulti = on != 0;
		else
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	}
	case VIRTIO_NET_CTRL_MAC:
		if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET) {
			/* Accepted and checked; the tap sees every frame anyway. */
			if (!virtio_has_feature(dev, VIRTIO_NET_F_CTRL_RX) ||
			    !net_mac_tables_ok(c, off, len))
				return VIRTIO_NET_ERR;
			return VIRTIO_NET_OK;
		}
		if (cmd == VIRTIO_NET_CTRL_MAC_ADDR_SET) {
			uint8_t mac[6];

			if (!virtio_has_feature(dev, VIRTIO_NET_F_CTRL_MAC_ADDR) ||
			    len != sizeof(mac))
				return VIRTIO_NET_ERR;
			vq_chain_read(c, off, mac, sizeof(mac));
			memcpy(net->mac, mac, sizeof(mac));
			return VIRTIO_NET_OK;
		}
		return VIRTIO_NET_ERR;
	case VIRTIO_NET_CTRL_ANNOUNCE:
		if (cmd != VIRTIO_NET_CTRL_ANNOUNCE_ACK ||
		    !virtio_has_feature(dev, VIRTIO_NET_F_GUEST_ANNOUNCE))
			return VIRTIO_NET_ERR;
		net->status &= (uint16_t)~VIRTIO_NET_S_ANNOUNCE;
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

static void net_process_ctrl(struct virtio_net *net)
{
	struct virtio_device *dev = &net->vdev;
	struct vq_chain *c = &net->ctrl_chain;
	bool pushed = false;

	for (unsigned budget = VIRTIO_NET_QUEUE_SIZE; budget; budget--) {
		uint8_t hdr[2], ack;
		int r = virtio_pop(dev, VIRTIO_NET_CTRLQ, c);

		if (r <= 0)
			break;
		if (c->out_bytes < sizeof(hdr) || c->in_bytes < 1) {
			virtio_device_error(dev,
					    "control command %u: %llu readable and %llu writable "
					    "bytes (needs a 2-byte header and a status byte)",
					    c->head, (unsigned long long)c->out_bytes,
					    (unsigned long long)c->in_bytes);
			break;
		}
		vq_chain_read(c, 0, hdr, sizeof(hdr));
		ack = net_ctrl_command(net, hdr[0], hdr[1], c);
		net->stats.ctrl_commands++;
		if (ack != VIRTIO_NET_OK)
			net->stats.ctrl_errors++;
		vq_chain_write(c, 0, &ack, 1);
		virtio_push(dev, VIRTIO_NET_CTRLQ, c, 1);
		pushed = true;
	}
	if (pushed)
		virtio_notify(dev, VIRTIO_NET_CTRLQ);
}

/* ---- virtio_device_ops -------------------------------------------------------- */

static void net_config_read(struct virtio_device *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_net *net = to_net(dev);
	uint8_t cfg[NET_CONFIG_SIZE] = {0};

	memcpy(cfg, net->mac, 6);
	cfg[6] = (uint8_t)net->status;
	cfg[7] = (uint8_t)(net->status >> 8);
	cfg[8] = 1; /* max_virtqueue_pairs */
	/* mtu (offset 10) stays 0: VIRTIO_NET_F_MTU is not offered. */
	memcpy(data, cfg + offset, len);
}

static int net_activate(struct virtio_device *dev)
{
	struct virtio_net *net = to_net(dev);
	int r;

	if (net->backend.set_offload) {
		r = net->backend.set_offload(net->backend.opaque, dev->features);
		if (r)
			return r;
	}
	net_rx_forget(net);
	net->tx_held = false;
	virtio_net_process_tx(net);
	virtio_net_process_rx(net);
	return 0;
}

static void net_reset(struct virtio_device *dev)
{
	struct virtio_net *net = to_net(dev);

	net_poll_fd(net, false);
	net_disarm_timer(net->rx_timer_fd, &net->rx_timer_armed);
	net_disarm_timer(net->tx_timer_fd, &net->tx_timer_armed);
	net_rx_forget(net);
	net->tx_held = false;
	net->promisc = true;
	net->allmulti = false;
	memcpy(net->mac, net->cfg_mac, sizeof(net->mac));
	net->status = VIRTIO_NET_S_LINK_UP;
}

static void net_queue_notify(struct virtio_device *dev, unsigned q)
{
	struct virtio_net *net = to_net(dev);

	switch (q) {
	case VIRTIO_NET_RXQ:
		if (net->rx_timer_armed)
			return; /* throttled: the timer resumes */
		vq_set_notification(&dev->vqs[VIRTIO_NET_RXQ], false);
		virtio_net_process_rx(net);
		break;
	case VIRTIO_NET_TXQ:
		virtio_net_process_tx(net);
		break;
	case VIRTIO_NET_CTRLQ:
		if (virtio_has_feature(dev, VIRTIO_NET_F_CTRL_VQ))
			net_process_ctrl(net);
		break;
	default:
		break;
	}
}

static const struct virtio_device_ops net_ops = {
    .name = "virtio-net",
    .device_id = VIRTIO_ID_NET,
    .num_queues = VIRTIO_NET_NUM_QUEUES,
    .queue_max_size = VIRTIO_NET_QUEUE_SIZE,
    .features = NET_FEATURES,
    .config_size = NET_CONFIG_SIZE,
    .config_read = net_config_read,
    .config_write = NULL, /* the MAC is changed with VIRTIO_NET_CTRL_MAC_ADDR_SET */
    .activate = net_activate,
    .reset = net_reset,
    .queue_notify = net_queue_notify,
};

/* ---- event handlers --------------------------------------------------------------- */

static void net_on_backend(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	virtio_device_lock(&net->vdev);
	if (events & EPOLLIN)
		virtio_net_process_rx(net);
	else if (events & (EPOLLERR | EPOLLHUP))
		net_backend_gone(net, "hang-up");
	virtio_device_unlock(&net->vdev);
}

static bool net_read_counter(int fd)
{
	uint64_t cnt;

	return read(fd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt);
}

static void net_on_rx_timer(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	(void)events;
	virtio_device_lock(&net->vdev);
	if (net_read_counter(net->rx_timer_fd)) {
		net->rx_timer_armed = false;
		virtio_net_process_rx(net);
	}
	virtio_device_unlock(&net->vdev);
}

static void net_on_tx_timer(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	(void)events;
	virtio_device_lock(&net->vdev);
	if (net_read_counter(net->tx_timer_fd)) {
		net->tx_timer_armed = false;
		virtio_net_process_tx(net);
	}
	virtio_device_unlock(&net->vdev);
}

static void net_on_tx_kick(void *opaque, uint32_t events)
{
	struct virtio_net *net = opaque;

	(void)events;
	virtio_device_lock(&net->vdev);
	if (net_read_counter(net->tx_kick_fd))
		virtio_net_process_tx(net);
	virtio_device_unlock(&net->vdev);
}

/* ---- life cycle ------------------------------------------------------------------ */

static void net_free(struct virtio_net *net)
{
	vq_chain_destroy(&net->tx_chain);
	vq_chain_destroy(&net->rx_chain);
	vq_chain_destroy(&net->rx_more);
	vq_chain_destroy(&net->ctrl_chain);
	free(net->tx_iov);
	free(net->rx_iov);
	free(net->rx_spill);
	free(net->rx_heads);
	free(net->rx_lens);
	if (net->rx_timer_fd >= 0)
		close(net->rx_timer_fd);
	if (net->tx_timer_fd >= 0)
		close(net->tx_timer_fd);
	if (net->tx_kick_fd >= 0)
		close(net->tx_kick_fd);
	net->rx_timer_fd = net->tx_timer_fd = net->tx_kick_fd = -1;
}

static void net_unregister(struct virtio_net *net)
{
	if (!net->loop)
		return;
	if (!net->backend_dead)
		event_loop_remove(net->loop, net->backend.fd);
	event_loop_remove(net->loop, net->rx_timer_fd);
	event_loop_remove(net->loop, net->tx_timer_fd);
	event_loop_remove(net->loop, net->tx_kick_fd);
}

int virtio_net_init(struct virtio_net *net, const struct virtio_net_params *p,
		    struct guest_memory *gm, struct event_loop *loop, char *err, size_t errlen)
{
	int r;

	memset(net, 0, sizeof(*net));
	net->rx_timer_fd = net->tx_timer_fd = net->tx_kick_fd = -1;
	net->backend = p->backend;
	memcpy(net->cfg_mac, p->mac, sizeof(net->cfg_mac));
	memcpy(net->mac, p->mac, sizeof(net->mac));
	net->status = VIRTIO_NET_S_LINK_UP;
	net->promisc = true;
	rate_limiter_init(&net->rx_rl, NULL, p->rx_bps);
	rate_limiter_init(&net->tx_rl, NULL, p->tx_bps);

	r = vq_chain_init(&net->tx_chain, VIRTIO_NET_QUEUE_SIZE);
	r = r ?: vq_chain_init(&net->rx_chain, VIRTIO_NET_QUEUE_SIZE);
	r = r ?: vq_chain_init(&net->rx_more, VIRTIO_NET_QUEUE_SIZE);
	r = r ?: vq_chain_init(&net->ctrl_chain, VIRTIO_NET_QUEUE_SIZE);
	net->tx_iov = calloc(VIRTIO_NET_QUEUE_SIZE + 1, sizeof(*net->tx_iov));
	net->rx_iov = calloc(VIRTIO_NET_QUEUE_SIZE + 1, sizeof(*net->rx_iov));
	net->rx_spill = malloc(VIRTIO_NET_RX_SPILL);
	net->rx_heads = calloc(VIRTIO_NET_QUEUE_SIZE, sizeof(*net->rx_heads));
	net->rx_lens = calloc(VIRTIO_NET_QUEUE_SIZE, sizeof(*net->rx_lens));
	if (r || !net->tx_iov || !net->rx_iov || !net->rx_spill || !net->rx_heads ||
	    !net->rx_lens) {
		snprintf(err, errlen, "virtio-net: out of memory");
		r = -ENOMEM;
		goto free_net;
	}
	net->rx_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	net->tx_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	net->tx_kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (net->rx_timer_fd < 0 || net->tx_timer_fd < 0 || net->tx_kick_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "virtio-net: cannot create timers: %s", strerror(-r));
		goto free_net;
	}
	r = virtio_device_init(&net->vdev, &net_ops, net, gm, loop);
	if (r) {
		snprintf(err, errlen, "virtio-net: cannot set up the device: %s", strerror(-r));
		goto free_net;
	}
	if (loop) {
		/* The back-end is watched only while the guest can take frames. */
		r = event_loop_add(loop, net->backend.fd, 0, net_on_backend, net);
		if (r) {
			snprintf(err, errlen, "virtio-net: cannot watch the back-end: %s",
				 strerror(-r));
			goto destroy_device;
		}
		net->loop = loop;
		r = event_loop_add(loop, net->rx_timer_fd, EPOLLIN, net_on_rx_timer, net);
		r = r ?: event_loop_add(loop, net->tx_timer_fd, EPOLLIN, net_on_tx_timer, net);
		r = r ?: event_loop_add(loop, net->tx_kick_fd, EPOLLIN, net_on_tx_kick, net);
		if (r) {
			snprintf(err, errlen, "virtio-net: cannot set up the event loop: %s",
				 strerror(-r));
			goto unregister;
		}
	}
	return 0;

unregister:
	net_unregister(net);
destroy_device:
	virtio_device_destroy(&net->vdev);
free_net:
	net_free(net);
	return r;
}

void virtio_net_destroy(struct virtio_net *net)
{
	if (!net->vdev.vqs)
		return;
	virtio_device_lock(&net->vdev);
	virtio_device_reset(&net->vdev);
	virtio_device_unlock(&net->vdev);
	net_unregister(net);
	virtio_device_destroy(&net->vdev);
	net_free(net);
}

void virtio_net_announce(struct virtio_net *net)
{
	virtio_device_lock(&net->vdev);
	if (net->vdev.active && virtio_has_feature(&net->vdev, VIRTIO_NET_F_GUEST_ANNOUNCE)) {
		net->status |= VIRTIO_NET_S_ANNOUNCE;
		virtio_config_changed(&net->vdev);
	}
	virtio_device_unlock(&net->vdev);
}

void virtio_net_set_rate_limits(struct virtio_net *net, const struct token_bucket_config *rx,
				const struct token_bucket_config *tx)
{
	virtio_device_lock(&net->vdev);
	if (rx)
		rate_limiter_update(&net->rx_rl, NULL, rx);
	if (tx)
		rate_limiter_update(&net->tx_rl, NULL, tx);
	virtio_device_unlock(&net->vdev);
}

void virtio_net_get_stats(struct virtio_net *net, struct virtio_net_stats *out)
{
	virtio_device_lock(&net->vdev);
	*out = net->stats;
	virtio_device_unlock(&net->vdev);
}

void virtio_net_save(struct virtio_net *net, struct virtio_net_state *s)
{
	memset(s, 0, sizeof(*s));
	virtio_device_lock(&net->vdev);
	memcpy(s->mac, net->mac, sizeof(net->mac));
	s->status = net->status;
	s->promisc = net->promisc;
	s->allmulti = net->allmulti;
	virtio_device_unlock(&net->vdev);
}

int virtio_net_load(struct virtio_net *net, const struct virtio_net_state *s)
{
	if ((s->status & ~(VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE)) || s->promisc > 1 ||
	    s->allmulti > 1)
		return -EINVAL;
	memcpy(net->mac, s->mac, sizeof(net->mac));
	net->status = s->status;
	net->promisc = s->promisc;
	net->allmulti = s->allmulti;
	return 0;
}
