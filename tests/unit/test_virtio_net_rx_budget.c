/* SPDX-License-Identifier: MIT */
/*
 * virtio-net's receive batch limit (VIRTIO_NET_RX_BATCH steps per turn):
 * when more frames wait in the back-end than one turn takes, receiving must
 * go on by itself, also when the turn began with the guest's notification
 * while the back-end was not watched and ended with guest notifications
 * off. Fake guest memory; a SOCK_SEQPACKET socketpair stands in for the tap
 * (one message per frame). The test plays the guest driver.
 */
#include <errno.h>
#include <linux/virtio_net.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"

#define MEM_SIZE  (4ULL << 20)
#define RING_SIZE VIRTIO_NET_QUEUE_SIZE
#define RING_BASE 0x10000ULL /* queue q's rings at RING_BASE + q * 0x10000 */
#define BUF_BASE  0x100000ULL
#define BUF_SIZE  2048ULL
#define HDR	  VIRTIO_NET_HDR_LEN

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	int sp[2]; /* sp[0]: the device's back-end, sp[1]: the "host network" */
	struct virtio_net net;
	uint64_t desc, avail, used; /* the receive queue's rings */
	uint16_t avail_idx;
};

static void w16(struct guest_memory *gm, uint64_t gpa, uint16_t v)
{
	assert_int_equal(gm_write(gm, gpa, &v, sizeof(v)), 0);
}

static uint16_t r16(struct guest_memory *gm, uint64_t gpa)
{
	uint16_t v = 0;

	assert_int_equal(gm_read(gm, gpa, &v, sizeof(v)), 0);
	return v;
}

static void on_notify_queue(struct virtio_device *dev, unsigned q)
{
	(void)dev;
	(void)q;
}

static struct fx *fx_new(void)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct gm_range range = {0, MEM_SIZE};
	struct virtio_net_params p;
	char err[128];
	int sndbuf = 1 << 20;
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(gm_create(&f->gm, &range, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(event_loop_init(&f->loop), 0);
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->sp), 0);
	/* Room for a few hundred small frames queued at once. */
	assert_int_equal(setsockopt(f->sp[1], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	memset(&p, 0, sizeof(p));
	memcpy(p.mac, mac, 6);
	p.backend.fd = f->sp[0];
	assert_int_equal(virtio_net_init(&f->net, &p, &f->gm, &f->loop, err, sizeof(err)), 0);
	f->net.vdev.notify_queue = on_notify_queue;
	f->net.vdev.transport = f;
	return f;
}

static void fx_free(struct fx *f)
{
	virtio_net_destroy(&f->net);
	close(f->sp[0]);
	close(f->sp[1]);
	event_loop_destroy(&f->loop);
	gm_destroy(&f->gm);
	free(f);
}

/* Program every queue (256 entries) and negotiate VERSION_1 only, up to DRIVER_OK. */
static void fx_start(struct fx *f)
{
	struct virtio_device *dev = &f->net.vdev;
	uint64_t features = 1ULL << VIRTIO_F_VERSION_1;
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	virtio_set_status(dev, st);
	virtio_set_driver_features(dev, 0, (uint32_t)features);
	virtio_set_driver_features(dev, 1, (uint32_t)(features >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	virtio_set_status(dev, st);
	assert_true(dev->status & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < VIRTIO_NET_NUM_QUEUES; q++) {
		struct virtqueue *vq = &dev->vqs[q];
		uint64_t desc = RING_BASE + q * 0x10000ULL;

		vq->size = RING_SIZE;
		vq->desc_gpa = desc;
		vq->avail_gpa = desc + 0x1000;
		vq->used_gpa = desc + 0x2000;
		assert_int_equal(virtio_queue_enable(dev, q), 0);
	}
	f->desc = RING_BASE + VIRTIO_NET_RXQ * 0x10000ULL;
	f->avail = f->desc + 0x1000;
	f->used = f->desc + 0x2000;
	virtio_set_status(dev, st | VIRTIO_STATUS_DRIVER_OK);
	assert_true(dev->active);
}

/* Make n one-buffer receive chains of BUF_SIZE available (descriptor i uses buffer i). */
static void rx_add(struct fx *f, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		uint16_t d = (uint16_t)(f->avail_idx % RING_SIZE);
		struct vring_desc desc = {
		    .addr = BUF_BASE + BUF_SIZE * d,
		    .len = (uint32_t)BUF_SIZE,
		    .flags = VRING_DESC_F_WRITE,
		};

		assert_int_equal(gm_write(&f->gm, f->desc + 16ULL * d, &desc, sizeof(desc)), 0);
		w16(&f->gm, f->avail + 4 + 2ULL * d, d);
		f->avail_idx++;
	}
	w16(&f->gm, f->avail + 2, f->avail_idx);
}

static uint16_t rx_used_idx(struct fx *f)
{
	return r16(&f->gm, f->used + 2);
}

static void rx_notify(struct fx *f)
{
	virtio_device_lock(&f->net.vdev);
	virtio_queue_notify(&f->net.vdev, VIRTIO_NET_RXQ);
	virtio_device_unlock(&f->net.vdev);
}

/* The host sends one message of len bytes: a vnet header and len - HDR bytes of frame. */
static void host_send(struct fx *f, size_t len)
{
	uint8_t pkt[HDR + 64];

	assert_true(len <= sizeof(pkt));
	memset(pkt, 0, sizeof(pkt));
	memset(pkt + HDR, 0xa5, sizeof(pkt) - HDR);
	assert_int_equal(send(f->sp[1], pkt, len, 0), (ssize_t)len);
}

/* Run the event loop until nothing is ready; returns how many turns handled something. */
static unsigned run_loop(struct fx *f)
{
	unsigned turns = 0;

	while (event_loop_run_once(&f->loop, 0) > 0 && turns < 1000)
		turns++;
	return turns;
}

/*
 * The whole ring is posted and more frames than the ring holds are waiting:
 * the turn the guest's notification starts fills every buffer and spends
 * its budget. The guest, told not to notify, refills quietly; the rest of
 * the frames must still arrive.
 */
static void test_rx_backlog_outlasts_ring(void **state)
{
	struct fx *f = fx_new();
	const unsigned frames = RING_SIZE + 44;

	(void)state;
	fx_start(f);
	for (unsigned i = 0; i < frames; i++)
		host_send(f, HDR + 64);
	rx_add(f, RING_SIZE);
	rx_notify(f);
	assert_int_equal(rx_used_idx(f), RING_SIZE);
	/* Notifications are off: a driver would not kick for the refill. */
	assert_true(r16(&f->gm, f->used) & VRING_USED_F_NO_NOTIFY);
	rx_add(f, 64);
	run_loop(f);
	assert_int_equal(rx_used_idx(f), frames);
	fx_free(f);
}

/*
 * Runts (messages no longer than the header) count as steps but use no
 * buffer: more of them than one turn's budget, then a real frame, with a
 * single buffer posted. The frame must arrive without another notification.
 */
static void test_rx_runts_outlast_budget(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_start(f);
	assert_false(f->net.fd_polled);
	for (unsigned i = 0; i < VIRTIO_NET_RX_BATCH + 10; i++)
		host_send(f, HDR);
	host_send(f, HDR + 64);
	rx_add(f, 1);
	rx_notify(f);
	assert_int_equal(rx_used_idx(f), 0);
	run_loop(f);
	assert_int_equal(rx_used_idx(f), 1);
	assert_int_equal(f->net.stats.rx_packets, 1);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rx_backlog_outlasts_ring),
	    cmocka_unit_test(test_rx_runts_outlast_budget),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
