/* SPDX-License-Identifier: MIT */
/*
 * virtio-net over fake guest memory, with a SOCK_SEQPACKET socketpair
 * standing in for the tap (one message per frame, as a tap reads and
 * writes them). The test plays the guest driver: it lays out the rings,
 * negotiates features and fills descriptor chains.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/tap.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"

#define MEM_SIZE    (4ULL << 20)
#define RING_SIZE   128
#define RING_BASE   0x10000ULL /* queue q's rings at RING_BASE + q * 0x10000 */
#define BUF_BASE    0x100000ULL
#define HDR	    VIRTIO_NET_HDR_LEN
#define F(x)	    (1ULL << VIRTIO_NET_F_##x)
#define VERSION_1   (1ULL << VIRTIO_F_VERSION_1)
#define NEEDS_RESET VIRTIO_STATUS_DEVICE_NEEDS_RESET

/* ---- a minimal driver side of a split ring ------------------------------- */

struct ring {
	struct guest_memory *gm;
	uint64_t desc, avail, used;
	uint16_t avail_idx;
	uint16_t next_desc;
};

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
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

/* Make a chain of n buffers available; returns its head. */
static uint16_t ring_add(struct ring *r, const struct buf *b, unsigned n)
{
	uint16_t head = r->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % RING_SIZE);
		struct vring_desc desc = {
		    .addr = b[i].gpa,
		    .len = b[i].len,
		    .flags = (uint16_t)((b[i].write ? VRING_DESC_F_WRITE : 0) |
					(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
		    .next = (uint16_t)((d + 1) % RING_SIZE),
		};
		assert_int_equal(gm_write(r->gm, r->desc + 16ULL * d, &desc, sizeof(desc)), 0);
	}
	r->next_desc = (uint16_t)((head + n) % RING_SIZE);
	w16(r->gm, r->avail + 4 + 2ULL * (r->avail_idx % RING_SIZE), head);
	r->avail_idx++;
	w16(r->gm, r->avail + 2, r->avail_idx);
	return head;
}

static uint16_t ring_used_idx(struct ring *r)
{
	return r16(r->gm, r->used + 2);
}

static struct vring_used_elem ring_used(struct ring *r, uint16_t i)
{
	struct vring_used_elem e;

	assert_int_equal(gm_read(r->gm, r->used + 4 + 8ULL * (i % RING_SIZE), &e, sizeof(e)), 0);
	return e;
}

static bool page_dirty(const struct guest_memory *gm, uint64_t gpa)
{
	const struct gm_region *g = &gm->regions[0];
	uint64_t p = (gpa - g->gpa) / GM_PAGE_SIZE;

	return g->dirty[p / 64] & (1ULL << (p % 64));
}

/* ---- fixture ------------------------------------------------------------------ */

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	int sp[2]; /* sp[0]: the device's back-end, sp[1]: the "host network" */
	struct virtio_net net;
	struct ring rings[VIRTIO_NET_NUM_QUEUES];
	unsigned irqs[VIRTIO_NET_NUM_QUEUES];
	unsigned config_irqs;
	unsigned offload_calls;
	uint64_t offload_features;
	uint64_t clock_ns;
	uint64_t errors_before;
};

static void on_notify_queue(struct virtio_device *dev, unsigned q)
{
	struct fx *f = dev->transport;

	assert_true(q < VIRTIO_NET_NUM_QUEUES);
	f->irqs[q]++;
}

static void on_notify_config(struct virtio_device *dev)
{
	struct fx *f = dev->transport;

	f->config_irqs++;
}

static int record_offload(void *opaque, uint64_t features)
{
	struct fx *f = opaque;

	f->offload_calls++;
	f->offload_features = features;
	return 0;
}

static uint64_t fake_clock(void *opaque)
{
	return *(uint64_t *)opaque;
}

static struct fx *fx_new_backend(const struct token_bucket_config *rx,
				 const struct token_bucket_config *tx,
				 const struct virtio_net_backend *backend)
{
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct gm_range range = {0, MEM_SIZE};
	struct virtio_net_params p;
	char err[128];
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(gm_create(&f->gm, &range, 1, GM_BACKING_ANON, NULL), 0);
	gm_set_dirty_tracking(&f->gm, true);
	assert_int_equal(event_loop_init(&f->loop), 0);
	assert_int_equal(
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->sp), 0);
	memset(&p, 0, sizeof(p));
	memcpy(p.mac, mac, 6);
	p.backend.fd = f->sp[0];
	p.backend.set_offload = record_offload;
	p.backend.opaque = f;
	if (backend)
		p.backend = *backend;
	p.rx_bps = rx;
	p.tx_bps = tx;
	assert_int_equal(virtio_net_init(&f->net, &p, &f->gm, &f->loop, err, sizeof(err)), 0);
	f->net.vdev.notify_queue = on_notify_queue;
	f->net.vdev.notify_config = on_notify_config;
	f->net.vdev.transport = f;
	rate_limiter_set_clock(&f->net.rx_rl, fake_clock, &f->clock_ns);
	rate_limiter_set_clock(&f->net.tx_rl, fake_clock, &f->clock_ns);
	f->errors_before = f->net.vdev.errors;
	return f;
}

static struct fx *fx_new(const struct token_bucket_config *rx, const struct token_bucket_config *tx)
{
	return fx_new_backend(rx, tx, NULL);
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

/* Program the rings and negotiate features as a driver does, up to DRIVER_OK. */
static void fx_start(struct fx *f, uint64_t features)
{
	struct virtio_device *dev = &f->net.vdev;
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	features |= VERSION_1;
	virtio_set_status(dev, 0);
	memset(f->irqs, 0, sizeof(f->irqs));
	virtio_set_status(dev, st);
	virtio_set_driver_features(dev, 0, (uint32_t)features);
	virtio_set_driver_features(dev, 1, (uint32_t)(features >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	virtio_set_status(dev, st);
	assert_true(dev->status & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < VIRTIO_NET_NUM_QUEUES; q++) {
		struct ring *r = &f->rings[q];
		struct virtqueue *vq = &dev->vqs[q];
		static uint8_t zero[0x10000];

		r->gm = &f->gm;
		r->desc = RING_BASE + q * 0x10000ULL;
		r->avail = r->desc + 0x1000;
		r->used = r->desc + 0x2000;
		r->avail_idx = r->next_desc = 0;
		assert_int_equal(gm_write(&f->gm, r->desc, zero, sizeof(zero)), 0);
		vq->size = RING_SIZE;
		vq->desc_gpa = r->desc;
		vq->avail_gpa = r->avail;
		vq->used_gpa = r->used;
		assert_int_equal(virtio_queue_enable(dev, q), 0);
	}
	virtio_set_status(dev, st | VIRTIO_STATUS_DRIVER_OK);
	assert_true(dev->active);
	assert_false(dev->broken);
}

static bool fx_broken(struct fx *f)
{
	return (f->net.vdev.status & NEEDS_RESET) && f->net.vdev.broken &&
	       f->net.vdev.errors > f->errors_before;
}

static void fx_notify(struct fx *f, unsigned q)
{
	virtio_device_lock(&f->net.vdev);
	virtio_queue_notify(&f->net.vdev, q);
	virtio_device_unlock(&f->net.vdev);
}

static void fx_rx(struct fx *f)
{
	virtio_device_lock(&f->net.vdev);
	virtio_net_process_rx(&f->net);
	virtio_device_unlock(&f->net.vdev);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Nothing waiting on the host side of the back-end. */
static void assert_no_frame(struct fx *f)
{
	uint8_t b[16];

	assert_int_equal(recv(f->sp[1], b, sizeof(b), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
}

/* ---- features and config ------------------------------------------------------- */

static void test_features_and_config(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct virtio_device *dev = &f->net.vdev;
	uint64_t host = dev->host_features;
	uint8_t cfg[12];
	const uint64_t want = F(CSUM) | F(GUEST_CSUM) | F(MAC) | F(GUEST_TSO4) | F(GUEST_TSO6) |
			      F(GUEST_ECN) | F(HOST_TSO4) | F(HOST_TSO6) | F(HOST_ECN) |
			      F(MRG_RXBUF) | F(STATUS) | F(CTRL_VQ) | F(CTRL_RX) |
			      F(GUEST_ANNOUNCE) | F(CTRL_MAC_ADDR) | VERSION_1;

	(void)state;
	assert_int_equal(host & want, want);
	assert_false(host & F(MQ));
	assert_false(host & F(GUEST_UFO));
	assert_int_equal(dev->ops->device_id, VIRTIO_ID_NET);
	assert_int_equal(dev->num_queues, 3);

	virtio_config_read(dev, 0, cfg, sizeof(cfg));
	assert_memory_equal(cfg, "\x52\x54\x00\x12\x34\x56", 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(cfg[8] | cfg[9] << 8, 1);
	/* Partial reads and writes: writes are ignored. */
	virtio_config_read(dev, 4, cfg, 2);
	assert_int_equal(cfg[0], 0x34);
	virtio_config_write(dev, 0, (const uint8_t *)"\x02\x00\x00\x00\x00\x01", 6);
	virtio_config_read(dev, 0, cfg, 6);
	assert_memory_equal(cfg, "\x52\x54\x00\x12\x34\x56", 6);

	/* Activation hands the negotiated features to the back-end's offload hook. */
	fx_start(f, F(GUEST_CSUM) | F(GUEST_TSO4) | F(MRG_RXBUF));
	assert_int_equal(f->offload_calls, 1);
	assert_int_equal(f->offload_features,
			 VERSION_1 | F(GUEST_CSUM) | F(GUEST_TSO4) | F(MRG_RXBUF));
	fx_free(f);
}

/* ---- transmit --------------------------------------------------------------------- */

static void test_tx_frames(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *tx;
	struct virtio_net_hdr_v1 hdr = {0};
	uint8_t frame[100], got[256];
	struct virtio_net_stats st;
	ssize_t n;

	(void)state;
	fx_start(f, F(CSUM) | F(HOST_TSO4));
	tx = &f->rings[VIRTIO_NET_TXQ];
	fill(frame, sizeof(frame), 1);

	/* Header in its own buffer, frame split in two. */
	hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr.csum_start = 34;
	hdr.csum_offset = 16;
	hdr.num_buffers = 7; /* ignored on transmit */
	gm_write(&f->gm, BUF_BASE, &hdr, sizeof(hdr));
	gm_write(&f->gm, BUF_BASE + 0x1000, frame, 30);
	gm_write(&f->gm, BUF_BASE + 0x2000, frame + 30, 70);
	ring_add(tx,
		 (struct buf[]){{BUF_BASE, HDR, false},
				{BUF_BASE + 0x1000, 30, false},
				{BUF_BASE + 0x2000, 70, false}},
		 3);
	/* Header and frame in one buffer, header split across two. */
	memset(&hdr, 0, sizeof(hdr));
	gm_write(&f->gm, BUF_BASE + 0x3000, &hdr, sizeof(hdr));
	gm_write(&f->gm, BUF_BASE + 0x3000 + HDR, frame, 60);
	ring_add(
	    tx,
	    (struct buf[]){{BUF_BASE + 0x3000, 5, false}, {BUF_BASE + 0x3005, HDR - 5 + 60, false}},
	    2);
	fx_notify(f, VIRTIO_NET_TXQ);

	n = recv(f->sp[1], got, sizeof(got), MSG_DONTWAIT);
	assert_int_equal(n, HDR + 100);
	memcpy(&hdr, got, HDR);
	assert_int_equal(hdr.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	assert_int_equal(hdr.csum_start, 34);
	assert_int_equal(hdr.csum_offset, 16);
	assert_int_equal(hdr.num_buffers, 0);
	assert_memory_equal(got + HDR, frame, 100);

	n = recv(f->sp[1], got, sizeof(got), MSG_DONTWAIT);
	assert_int_equal(n, HDR + 60);
	assert_memory_equal(got + HDR, frame, 60);
	assert_no_frame(f);

	/* Both returned with nothing written, one interrupt for the batch. */
	assert_int_equal(ring_used_idx(tx), 2);
	assert_int_equal(ring_used(tx, 0).id, 0);
	assert_int_equal(ring_used(tx, 0).len, 0);
	assert_int_equal(ring_used(tx, 1).id, 3);
	assert_int_equal(f->irqs[VIRTIO_NET_TXQ], 1);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.tx_packets, 2);
	assert_int_equal(st.tx_bytes, 160);
	assert_false(fx_broken(f));
	fx_free(f);
}

static void test_tx_offload_not_negotiated(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *tx;
	struct virtio_net_hdr_v1 hdr = {0};
	struct virtio_net_stats st;
	uint8_t got[256];

	(void)state;
	fx_start(f, 0); /* no CSUM, no HOST_TSO4 */
	tx = &f->rings[VIRTIO_NET_TXQ];
	hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
	hdr.gso_size = 1400;
	gm_write(&f->gm, BUF_BASE, &hdr, sizeof(hdr));
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR + 80, false}}, 1);
	hdr.gso_type = 0;
	hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	gm_write(&f->gm, BUF_BASE + 0x1000, &hdr, sizeof(hdr));
	ring_add(tx, (struct buf[]){{BUF_BASE + 0x1000, HDR + 80, false}}, 1);
	hdr.flags = 0;
	gm_write(&f->gm, BUF_BASE + 0x2000, &hdr, sizeof(hdr));
	ring_add(tx, (struct buf[]){{BUF_BASE + 0x2000, HDR + 80, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);

	/* The two frames asking for offloads are dropped, the plain one goes. */
	assert_int_equal(recv(f->sp[1], got, sizeof(got), MSG_DONTWAIT), HDR + 80);
	assert_no_frame(f);
	assert_int_equal(ring_used_idx(tx), 3);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.tx_dropped, 2);
	assert_int_equal(st.tx_packets, 1);
	assert_false(fx_broken(f));
	fx_free(f);
}

static void test_tx_backend_refuses(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *tx;
	struct virtio_net_stats st;

	(void)state;
	fx_start(f, 0);
	tx = &f->rings[VIRTIO_NET_TXQ];
	/* The host end is gone: writes fail, frames are counted and returned. */
	close(f->sp[1]);
	f->sp[1] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR + 60, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_int_equal(ring_used_idx(tx), 1);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.tx_errors, 1);
	assert_false(fx_broken(f));
	fx_free(f);
}

static unsigned drain_frames(struct fx *f)
{
	uint8_t got[2048];
	unsigned n = 0;

	while (recv(f->sp[1], got, sizeof(got), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

/* More chains than one batch: the rest is sent from the event loop. */
static void test_tx_batch_continues(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *tx;

	(void)state;
	_Static_assert(RING_SIZE > VIRTIO_NET_TX_BATCH, "the test needs a ring over one batch");
	fx_start(f, 0);
	tx = &f->rings[VIRTIO_NET_TXQ];
	for (unsigned i = 0; i < RING_SIZE; i++)
		ring_add(tx, (struct buf[]){{BUF_BASE + i * 0x100, HDR + 60, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_int_equal(drain_frames(f), VIRTIO_NET_TX_BATCH);
	assert_int_equal(ring_used_idx(tx), VIRTIO_NET_TX_BATCH);
	assert_int_equal(f->irqs[VIRTIO_NET_TXQ], 1);
	/* Continued from the loop (the kick eventfd), not left for the next notification. */
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(drain_frames(f), RING_SIZE - VIRTIO_NET_TX_BATCH);
	assert_int_equal(ring_used_idx(tx), RING_SIZE);
	assert_int_equal(f->irqs[VIRTIO_NET_TXQ], 2);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 0);
	fx_free(f);
}

/* ---- receive ------------------------------------------------------------------------ */

static void send_frame(struct fx *f, size_t frame_len, uint8_t seed)
{
	static uint8_t pkt[70000];
	struct virtio_net_hdr_v1 hdr = {0};

	assert_true(frame_len + HDR <= sizeof(pkt));
	hdr.flags = VIRTIO_NET_HDR_F_DATA_VALID;
	memcpy(pkt, &hdr, HDR);
	fill(pkt + HDR, frame_len, seed);
	assert_int_equal(send(f->sp[1], pkt, HDR + frame_len, 0), (ssize_t)(HDR + frame_len));
}

static void check_frame(struct fx *f, uint64_t gpa, size_t off, size_t len, uint8_t seed)
{
	uint8_t want[4096], got[4096];

	assert_true(len <= sizeof(got));
	fill(want, off + len, seed);
	assert_int_equal(gm_read(&f->gm, gpa, got, len), 0);
	assert_memory_equal(got, want + off, len);
}

static void test_rx_mergeable(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *rx;
	struct virtio_net_hdr_v1 hdr;
	struct virtio_net_stats st;

	(void)state;
	fx_start(f, F(MRG_RXBUF));
	rx = &f->rings[VIRTIO_NET_RXQ];
	for (unsigned i = 0; i < 4; i++)
		ring_add(rx, (struct buf[]){{BUF_BASE + i * 0x1000, 1000, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	assert_true(f->net.fd_polled);

	/* 12 + 2500 bytes: three buffers, num_buffers = 3. */
	send_frame(f, 2500, 9);
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(ring_used_idx(rx), 3);
	assert_int_equal(ring_used(rx, 0).id, 0);
	assert_int_equal(ring_used(rx, 0).len, 1000);
	assert_int_equal(ring_used(rx, 1).id, 1);
	assert_int_equal(ring_used(rx, 1).len, 1000);
	assert_int_equal(ring_used(rx, 2).id, 2);
	assert_int_equal(ring_used(rx, 2).len, 512);
	gm_read(&f->gm, BUF_BASE, &hdr, HDR);
	assert_int_equal(hdr.num_buffers, 3);
	assert_int_equal(hdr.flags, VIRTIO_NET_HDR_F_DATA_VALID);
	check_frame(f, BUF_BASE + HDR, 0, 1000 - HDR, 9);
	check_frame(f, BUF_BASE + 0x1000, 1000 - HDR, 1000, 9);
	check_frame(f, BUF_BASE + 0x2000, 2000 - HDR, 512, 9);
	assert_true(page_dirty(&f->gm, BUF_BASE));
	assert_true(page_dirty(&f->gm, BUF_BASE + 0x1000));
	assert_true(page_dirty(&f->gm, BUF_BASE + 0x2000));
	assert_false(page_dirty(&f->gm, BUF_BASE + 0x3000));
	assert_int_equal(f->irqs[VIRTIO_NET_RXQ], 1);

	/* A small frame in the last buffer: num_buffers = 1. */
	send_frame(f, 100, 3);
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(ring_used_idx(rx), 4);
	assert_int_equal(ring_used(rx, 3).id, 3);
	assert_int_equal(ring_used(rx, 3).len, HDR + 100);
	gm_read(&f->gm, BUF_BASE + 0x3000, &hdr, HDR);
	assert_int_equal(hdr.num_buffers, 1);
	check_frame(f, BUF_BASE + 0x3000 + HDR, 0, 100, 3);

	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.rx_packets, 2);
	assert_int_equal(st.rx_bytes, 2600);
	assert_int_equal(st.rx_dropped, 0);
	assert_false(fx_broken(f));
	fx_free(f);
}

/* A frame waits in its first buffers until the guest gives enough more. */
static void test_rx_mergeable_waits_for_buffers(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *rx;
	struct virtio_net_hdr_v1 hdr;

	(void)state;
	fx_start(f, F(MRG_RXBUF));
	rx = &f->rings[VIRTIO_NET_RXQ];
	ring_add(rx, (struct buf[]){{BUF_BASE, 1000, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	send_frame(f, 1500, 5);
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	/* Nothing delivered yet, and the back-end is not read meanwhile. */
	assert_int_equal(ring_used_idx(rx), 0);
	assert_false(f->net.fd_polled);
	send_frame(f, 60, 6);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 0);

	ring_add(rx, (struct buf[]){{BUF_BASE + 0x1000, 400, true}, {BUF_BASE + 0x2000, 400, true}},
		 2);
	ring_add(rx, (struct buf[]){{BUF_BASE + 0x3000, 1000, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	assert_int_equal(ring_used_idx(rx), 3);
	assert_int_equal(ring_used(rx, 0).len, 1000);
	assert_int_equal(ring_used(rx, 1).id, 1);
	assert_int_equal(ring_used(rx, 1).len, 512);
	gm_read(&f->gm, BUF_BASE, &hdr, HDR);
	assert_int_equal(hdr.num_buffers, 2);
	check_frame(f, BUF_BASE + 0x1000, 1000 - HDR, 400, 5);
	check_frame(f, BUF_BASE + 0x2000, 1400 - HDR, 112, 5);
	/* The second frame went into the last buffer. */
	assert_int_equal(ring_used(rx, 2).id, 3);
	assert_int_equal(ring_used(rx, 2).len, HDR + 60);
	check_frame(f, BUF_BASE + 0x3000 + HDR, 0, 60, 6);
	assert_false(fx_broken(f));
	fx_free(f);
}

static void test_rx_nonmergeable_drop(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *rx;
	struct virtio_net_hdr_v1 hdr;
	struct virtio_net_stats st;

	(void)state;
	fx_start(f, 0);
	rx = &f->rings[VIRTIO_NET_RXQ];
	ring_add(rx, (struct buf[]){{BUF_BASE, 8, true}, {BUF_BASE + 0x1000, 992, true}}, 2);
	fx_notify(f, VIRTIO_NET_RXQ);

	/* Too big for the only buffer: dropped, counted, the buffer kept. */
	send_frame(f, 1500, 1);
	send_frame(f, 200, 2);
	fx_rx(f);
	assert_int_equal(ring_used_idx(rx), 1);
	assert_int_equal(ring_used(rx, 0).id, 0);
	assert_int_equal(ring_used(rx, 0).len, HDR + 200);
	gm_read(&f->gm, BUF_BASE, &hdr, 8);
	gm_read(&f->gm, BUF_BASE + 0x1000, (uint8_t *)&hdr + 8, 4);
	assert_int_equal(hdr.num_buffers, 1); /* VERSION_1 without MRG_RXBUF: always 1 */
	check_frame(f, BUF_BASE + 0x1000 + 4, 0, 200, 2);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(st.rx_packets, 1);
	assert_false(fx_broken(f));
	fx_free(f);
}

/* No buffers: stop reading the back-end until the guest's next notification. */
static void test_rx_no_buffers(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *rx;

	(void)state;
	fx_start(f, 0);
	rx = &f->rings[VIRTIO_NET_RXQ];
	assert_false(f->net.fd_polled);
	send_frame(f, 64, 4);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 0);
	/* The driver sees that the device wants a notification. */
	assert_int_equal(r16(&f->gm, rx->used) & VRING_USED_F_NO_NOTIFY, 0);

	ring_add(rx, (struct buf[]){{BUF_BASE, 2048, true}}, 1);
	ring_add(rx, (struct buf[]){{BUF_BASE + 0x1000, 2048, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	assert_int_equal(ring_used_idx(rx), 1);
	assert_int_equal(ring_used(rx, 0).len, HDR + 64);
	/* A buffer left and the back-end empty: it is polled. */
	assert_true(f->net.fd_polled);
	send_frame(f, 64, 5);
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(ring_used_idx(rx), 2);
	/* The last buffer used: polling stops again. */
	assert_false(f->net.fd_polled);
	send_frame(f, 64, 6);
	assert_int_equal(event_loop_run_once(&f->loop, 0), 0);
	assert_int_equal(ring_used_idx(rx), 2);
	fx_free(f);
}

/* A reset drops a half-delivered frame and the held buffers without touching the ring. */
static void test_rx_reset_forgets(void **state)
{
	struct fx *f = fx_new(NULL, NULL);

	(void)state;
	fx_start(f, F(MRG_RXBUF));
	ring_add(&f->rings[VIRTIO_NET_RXQ], (struct buf[]){{BUF_BASE, 1000, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	send_frame(f, 3000, 1);
	fx_rx(f);
	assert_true(f->net.rx_pending);
	virtio_set_status(&f->net.vdev, 0);
	assert_false(f->net.rx_pending);
	assert_false(f->net.rx_held);
	assert_false(f->net.fd_polled);
	/* A new driver starts clean. */
	fx_start(f, 0);
	ring_add(&f->rings[VIRTIO_NET_RXQ], (struct buf[]){{BUF_BASE, 2048, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	send_frame(f, 50, 8);
	fx_rx(f);
	assert_int_equal(ring_used_idx(&f->rings[VIRTIO_NET_RXQ]), 1);
	check_frame(f, BUF_BASE + HDR, 0, 50, 8);
	fx_free(f);
}

/* ---- control queue ----------------------------------------------------------------- */

#define CTRL_FEATURES (F(CTRL_VQ) | F(CTRL_RX) | F(CTRL_MAC_ADDR) | F(GUEST_ANNOUNCE) | F(STATUS))

/* Send one control command; returns the ack byte the device wrote. */
static uint8_t ctrl(struct fx *f, uint8_t class, uint8_t cmd, const void *data, uint32_t len)
{
	static uint64_t slot;
	uint64_t base = BUF_BASE + 0x10000 + (slot++ % 8) * 0x1000;
	uint8_t hdr[2] = {class, cmd}, ack = 0xee;
	struct ring *r = &f->rings[VIRTIO_NET_CTRLQ];
	uint16_t before = ring_used_idx(r);
	struct buf b[3];
	unsigned n = 0;

	gm_write(&f->gm, base, hdr, 2);
	gm_write(&f->gm, base + 0x800, &ack, 1);
	b[n++] = (struct buf){base, 2, false};
	if (len) {
		gm_write(&f->gm, base + 0x100, data, len);
		b[n++] = (struct buf){base + 0x100, len, false};
	}
	b[n++] = (struct buf){base + 0x800, 1, true};
	ring_add(r, b, n);
	fx_notify(f, VIRTIO_NET_CTRLQ);
	assert_int_equal(ring_used_idx(r), (uint16_t)(before + 1));
	assert_int_equal(ring_used(r, before).len, 1);
	gm_read(&f->gm, base + 0x800, &ack, 1);
	return ack;
}

static void test_ctrl_commands(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	uint8_t on = 1, off = 0, cfg[8];
	const uint8_t mac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
	uint8_t tables[4 + 6 + 4 + 12] = {0};
	struct virtio_net_stats st;

	(void)state;
	fx_start(f, CTRL_FEATURES);

	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &off, 1),
			 VIRTIO_NET_OK);
	assert_false(f->net.promisc);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1),
			 VIRTIO_NET_OK);
	assert_true(f->net.promisc);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &on, 1),
			 VIRTIO_NET_OK);
	assert_true(f->net.allmulti);
	/* Wrong payload size, or a command of CTRL_RX_EXTRA (not offered). */
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, NULL, 0),
			 VIRTIO_NET_ERR);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, &on, 1),
			 VIRTIO_NET_ERR);

	/* MAC tables: one unicast, two multicast entries. */
	tables[0] = 1;
	tables[10] = 2;
	assert_int_equal(
	    ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, tables, sizeof(tables)),
	    VIRTIO_NET_OK);
	tables[10] = 3; /* claims more entries than sent */
	assert_int_equal(
	    ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, tables, sizeof(tables)),
	    VIRTIO_NET_ERR);
	tables[0] = 0xff;
	tables[3] = 0xff; /* a huge count must not overflow */
	assert_int_equal(
	    ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, tables, sizeof(tables)),
	    VIRTIO_NET_ERR);

	/* MAC_ADDR_SET changes the config space's MAC. */
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, 6),
			 VIRTIO_NET_OK);
	virtio_config_read(&f->net.vdev, 0, cfg, 8);
	assert_memory_equal(cfg, mac, 6);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac, 5),
			 VIRTIO_NET_ERR);

	/* Unknown classes and commands: ERR, the device keeps working. */
	assert_int_equal(ctrl(f, 0x7f, 0, NULL, 0), VIRTIO_NET_ERR);
	assert_int_equal(
	    ctrl(f, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\x01\x00", 2),
	    VIRTIO_NET_ERR);

	/* Announce: the status bit and a config interrupt, cleared by the ack. */
	f->config_irqs = 0;
	virtio_net_announce(&f->net);
	assert_int_equal(f->config_irqs, 1);
	virtio_config_read(&f->net.vdev, 6, cfg, 2);
	assert_int_equal(cfg[0], VIRTIO_NET_S_LINK_UP | VIRTIO_NET_S_ANNOUNCE);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
			 VIRTIO_NET_OK);
	virtio_config_read(&f->net.vdev, 6, cfg, 2);
	assert_int_equal(cfg[0], VIRTIO_NET_S_LINK_UP);

	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.ctrl_commands, 13);
	assert_int_equal(st.ctrl_errors, 7);
	assert_false(fx_broken(f));

	/* A reset brings the configured MAC back. */
	fx_start(f, CTRL_FEATURES);
	virtio_config_read(&f->net.vdev, 0, cfg, 6);
	assert_memory_equal(cfg, "\x52\x54\x00\x12\x34\x56", 6);
	fx_free(f);
}

static void test_ctrl_without_features(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	uint8_t on = 1;

	(void)state;
	fx_start(f, F(CTRL_VQ));
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1),
			 VIRTIO_NET_ERR);
	assert_int_equal(
	    ctrl(f, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, "\x02\0\0\0\0\1", 6),
	    VIRTIO_NET_ERR);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_ANNOUNCE, VIRTIO_NET_CTRL_ANNOUNCE_ACK, NULL, 0),
			 VIRTIO_NET_ERR);
	/* Without GUEST_ANNOUNCE nothing is announced. */
	virtio_net_announce(&f->net);
	assert_int_equal(f->config_irqs, 0);
	fx_free(f);
}

/* ---- hostile guests ------------------------------------------------------------------- */

static void test_hostile_tx(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *tx;

	(void)state;
	/* A transmit chain that is all device-writable. */
	fx_start(f, 0);
	tx = &f->rings[VIRTIO_NET_TXQ];
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR + 60, true}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_true(fx_broken(f));
	assert_no_frame(f);
	assert_int_equal(ring_used_idx(tx), 0);
	assert_int_equal(f->config_irqs, 1);

	/* Readable buffers after a writable one. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, 0);
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR, true}, {BUF_BASE + 0x1000, 60, false}}, 2);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_true(fx_broken(f));
	assert_no_frame(f);

	/* A readable header followed by a writable buffer. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, 0);
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR + 60, false}, {BUF_BASE + 0x1000, 60, true}}, 2);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_true(fx_broken(f));
	assert_no_frame(f);

	/* No complete header. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, 0);
	ring_add(tx, (struct buf[]){{BUF_BASE, 4, false}, {BUF_BASE + 0x1000, 4, false}}, 2);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_true(fx_broken(f));
	assert_no_frame(f);

	/* Longer than any frame. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, 0);
	ring_add(tx, (struct buf[]){{BUF_BASE, 0x20000, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_true(fx_broken(f));
	assert_no_frame(f);

	/* A buffer far outside guest memory, and one wrapping the address space. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, 0);
	ring_add(tx, (struct buf[]){{MEM_SIZE * 16, HDR + 60, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_true(fx_broken(f));
	f->errors_before = f->net.vdev.errors;
	fx_start(f, 0);
	ring_add(tx, (struct buf[]){{UINT64_MAX - 8, 0xffffffffu, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_true(fx_broken(f));

	/* Broken stays broken until reset: further notifications do nothing. */
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR + 60, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_no_frame(f);

	/* And a reset brings it back. */
	fx_start(f, 0);
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR + 60, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_false(f->net.vdev.broken);
	assert_int_equal(ring_used_idx(tx), 1);
	fx_free(f);
}

static void test_hostile_rx_and_ctrl(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *rx, *cq;

	(void)state;
	/* A receive chain with a device-readable buffer. */
	fx_start(f, 0);
	rx = &f->rings[VIRTIO_NET_RXQ];
	ring_add(rx, (struct buf[]){{BUF_BASE, 2048, false}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	assert_true(fx_broken(f));

	/* A receive chain too small for the header. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, 0);
	ring_add(rx, (struct buf[]){{BUF_BASE, 6, true}, {BUF_BASE + 0x1000, 5, true}}, 2);
	fx_notify(f, VIRTIO_NET_RXQ);
	assert_true(fx_broken(f));

	/* Mergeable: a further chain with a readable buffer. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, F(MRG_RXBUF));
	ring_add(rx, (struct buf[]){{BUF_BASE, 100, true}}, 1);
	ring_add(rx, (struct buf[]){{BUF_BASE + 0x1000, 100, false}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	send_frame(f, 500, 1);
	fx_rx(f);
	assert_true(fx_broken(f));
	assert_int_equal(ring_used_idx(rx), 0);
	{
		uint8_t drain[1024];
		while (recv(f->sp[0], drain, sizeof(drain), MSG_DONTWAIT) > 0)
			;
	}

	/* Control command without a status byte, and one without a header. */
	f->errors_before = f->net.vdev.errors;
	fx_start(f, F(CTRL_VQ));
	cq = &f->rings[VIRTIO_NET_CTRLQ];
	ring_add(cq, (struct buf[]){{BUF_BASE, 3, false}}, 1);
	fx_notify(f, VIRTIO_NET_CTRLQ);
	assert_true(fx_broken(f));
	f->errors_before = f->net.vdev.errors;
	fx_start(f, F(CTRL_VQ));
	ring_add(cq, (struct buf[]){{BUF_BASE, 1, false}, {BUF_BASE + 0x1000, 1, true}}, 2);
	fx_notify(f, VIRTIO_NET_CTRLQ);
	assert_true(fx_broken(f));
	assert_int_equal(ring_used_idx(cq), 0);
	fx_free(f);
}

/* Every buffer of the ring is too small for a mergeable frame: dropped, not deadlocked. */
static void test_rx_tiny_mergeable_buffers(void **state)
{
	struct fx *f = fx_new(NULL, NULL);
	struct ring *rx;
	struct virtio_net_stats st;

	(void)state;
	fx_start(f, F(MRG_RXBUF));
	rx = &f->rings[VIRTIO_NET_RXQ];
	for (unsigned i = 0; i < RING_SIZE; i++)
		ring_add(rx, (struct buf[]){{BUF_BASE + i * 0x100, 16, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	send_frame(f, 16 * RING_SIZE, 1);
	fx_rx(f);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.rx_dropped, 1);
	assert_int_equal(st.rx_packets, 0);
	/* All buffers came back empty. */
	assert_int_equal(ring_used_idx(rx), RING_SIZE);
	for (unsigned i = 0; i < RING_SIZE; i++)
		assert_int_equal(ring_used(rx, (uint16_t)i).len, 0);
	assert_false(fx_broken(f));
	fx_free(f);
}

/* ---- rate limiting --------------------------------------------------------------------- */

static uint64_t timer_left_ns(int fd)
{
	struct itimerspec its;

	assert_int_equal(timerfd_gettime(fd, &its), 0);
	return (uint64_t)its.it_value.tv_sec * 1000000000ULL + (uint64_t)its.it_value.tv_nsec;
}

static void test_tx_rate_limit(void **state)
{
	/* 1000 bytes per 10 ms: 100 bytes per millisecond. */
	struct token_bucket_config tb = {.size = 1000, .refill_time_ms = 10};
	struct fx *f = fx_new(NULL, &tb);
	struct ring *tx;
	struct virtio_net_stats st;
	uint8_t got[1024];

	(void)state;
	fx_start(f, 0);
	tx = &f->rings[VIRTIO_NET_TXQ];
	for (unsigned i = 0; i < 3; i++)
		ring_add(tx, (struct buf[]){{BUF_BASE + i * 0x1000, HDR + 400, false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);

	/* Two frames fit the bucket; the third waits for 200 more bytes (2 ms). */
	assert_int_equal(recv(f->sp[1], got, sizeof(got), MSG_DONTWAIT), HDR + 400);
	assert_int_equal(recv(f->sp[1], got, sizeof(got), MSG_DONTWAIT), HDR + 400);
	assert_no_frame(f);
	assert_int_equal(ring_used_idx(tx), 2);
	assert_true(f->net.tx_held);
	assert_true(f->net.tx_timer_armed);
	assert_true(timer_left_ns(f->net.tx_timer_fd) > 0);
	assert_true(timer_left_ns(f->net.tx_timer_fd) <= 2000000);
	/* While throttled the device asks for no notifications, and a kick changes nothing. */
	assert_int_equal(r16(&f->gm, tx->used) & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_no_frame(f);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.tx_throttled, 1);

	/* The timer fires with no time passed on the limiter's clock: re-armed, nothing sent. */
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	assert_no_frame(f);
	assert_true(f->net.tx_timer_armed);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.tx_throttled, 2);

	/* 2 ms later on the limiter's clock the frame goes. */
	f->clock_ns += 2000000;
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(recv(f->sp[1], got, sizeof(got), MSG_DONTWAIT), HDR + 400);
	assert_int_equal(ring_used_idx(tx), 3);
	assert_false(f->net.tx_timer_armed);
	assert_false(f->net.tx_held);
	/* Notifications are wanted again. */
	assert_int_equal(r16(&f->gm, tx->used) & VRING_USED_F_NO_NOTIFY, 0);
	virtio_net_get_stats(&f->net, &st);
	assert_int_equal(st.tx_packets, 3);
	fx_free(f);
}

static void test_rx_rate_limit(void **state)
{
	struct token_bucket_config tb = {.size = 1000, .refill_time_ms = 10};
	struct fx *f = fx_new(&tb, NULL);
	struct ring *rx;

	(void)state;
	fx_start(f, 0);
	rx = &f->rings[VIRTIO_NET_RXQ];
	for (unsigned i = 0; i < 4; i++)
		ring_add(rx, (struct buf[]){{BUF_BASE + i * 0x1000, 2048, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	for (unsigned i = 0; i < 3; i++)
		send_frame(f, 400, (uint8_t)i);
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);

	/* Two delivered; the third held, the back-end no longer polled, a timer armed. */
	assert_int_equal(ring_used_idx(rx), 2);
	assert_true(f->net.rx_pending);
	assert_false(f->net.fd_polled);
	assert_true(f->net.rx_timer_armed);
	/* A notification while throttled does not bypass the limit. */
	fx_notify(f, VIRTIO_NET_RXQ);
	assert_int_equal(ring_used_idx(rx), 2);

	f->clock_ns += 2000000;
	assert_int_equal(event_loop_run_once(&f->loop, 1000), 1);
	assert_int_equal(ring_used_idx(rx), 3);
	assert_int_equal(ring_used(rx, 2).len, HDR + 400);
	check_frame(f, BUF_BASE + 0x2000 + HDR, 0, 400, 2);
	assert_false(f->net.rx_timer_armed);
	assert_true(f->net.fd_polled);
	fx_free(f);
}

/* ---- a real tap ---------------------------------------------------------------------- */

#define TEST_ETHERTYPE 0x88b5

/* The device on a real tap: offloads reach it, frames pass both ways with the header contract. */
static void test_real_tap(void **state)
{
	struct virtio_net_backend be;
	struct tap tap;
	struct fx *f;
	struct ring *rx, *tx;
	struct sockaddr_ll sll;
	struct virtio_net_hdr_v1 hdr = {0};
	char name[IFNAMSIZ], err[256], path[96];
	uint8_t frame[80], got[256];
	bool found = false;
	int ps, fd;

	(void)state;
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0) {
		print_message("skipped: needs root and /dev/net/tun\n");
		skip();
	}
	snprintf(name, sizeof(name), "htn%u", (unsigned)getpid() % 10000000u);
	assert_int_equal(tap_open(&tap, name, err, sizeof(err)), 0);
	/* Keep the host's IPv6 chatter off this link (best effort). */
	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		assert_int_equal(write(fd, "1", 1), 1);
		close(fd);
	}
	assert_int_equal(tap_set_up(&tap, true, err, sizeof(err)), 0);
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(TEST_ETHERTYPE));
	assert_true(ps >= 0);
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_protocol = htons(TEST_ETHERTYPE);
	sll.sll_ifindex = (int)if_nametoindex(name);
	assert_int_equal(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	be = (struct virtio_net_backend){tap.fd, tap_offload_hook, &tap};
	f = fx_new_backend(NULL, NULL, &be);
	fx_start(f, F(CSUM) | F(GUEST_CSUM) | F(GUEST_TSO4) | F(GUEST_TSO6) | F(MRG_RXBUF));
	assert_int_equal(tap.offload, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6);
	rx = &f->rings[VIRTIO_NET_RXQ];
	tx = &f->rings[VIRTIO_NET_TXQ];

	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x52\x54\x00\x00\x00\x02", 6);
	frame[12] = TEST_ETHERTYPE >> 8;
	frame[13] = TEST_ETHERTYPE & 0xff;
	fill(frame + 14, sizeof(frame) - 14, 42);

	/* Guest -> host. */
	gm_write(&f->gm, BUF_BASE, &hdr, HDR);
	gm_write(&f->gm, BUF_BASE + HDR, frame, sizeof(frame));
	ring_add(tx, (struct buf[]){{BUF_BASE, HDR + sizeof(frame), false}}, 1);
	fx_notify(f, VIRTIO_NET_TXQ);
	assert_int_equal(recv(ps, got, sizeof(got), 0), (ssize_t)sizeof(frame));
	assert_memory_equal(got, frame, sizeof(frame));

	/* Host -> guest: look for the test frame among what arrives. */
	for (unsigned i = 0; i < 8; i++)
		ring_add(rx, (struct buf[]){{BUF_BASE + 0x10000 + i * 0x1000, 2048, true}}, 1);
	fx_notify(f, VIRTIO_NET_RXQ);
	assert_int_equal(sendto(ps, frame, sizeof(frame), 0, (struct sockaddr *)&sll, sizeof(sll)),
			 (ssize_t)sizeof(frame));
	for (int tries = 0; tries < 50; tries++) {
		for (uint16_t u = 0; u < ring_used_idx(rx) && !found; u++) {
			struct vring_used_elem e = ring_used(rx, u);
			uint64_t gpa = BUF_BASE + 0x10000 + e.id * 0x1000ULL;

			if (e.len != HDR + sizeof(frame))
				continue;
			gm_read(&f->gm, gpa, got, e.len);
			if (memcmp(got + HDR, frame, sizeof(frame)) == 0) {
				memcpy(&hdr, got, HDR);
				assert_int_equal(hdr.num_buffers, 1);
				assert_int_equal(hdr.gso_type, VIRTIO_NET_HDR_GSO_NONE);
				found = true;
			}
		}
		if (found || ring_used_idx(rx) >= 8 || event_loop_run_once(&f->loop, 2000) <= 0)
			break;
	}
	assert_true(found);
	assert_false(fx_broken(f));

	fx_free(f);
	close(ps);
	tap_close(&tap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_features_and_config),
	    cmocka_unit_test(test_tx_frames),
	    cmocka_unit_test(test_tx_offload_not_negotiated),
	    cmocka_unit_test(test_tx_backend_refuses),
	    cmocka_unit_test(test_tx_batch_continues),
	    cmocka_unit_test(test_rx_mergeable),
	    cmocka_unit_test(test_rx_mergeable_waits_for_buffers),
	    cmocka_unit_test(test_rx_nonmergeable_drop),
	    cmocka_unit_test(test_rx_no_buffers),
	    cmocka_unit_test(test_rx_reset_forgets),
	    cmocka_unit_test(test_ctrl_commands),
	    cmocka_unit_test(test_ctrl_without_features),
	    cmocka_unit_test(test_hostile_tx),
	    cmocka_unit_test(test_hostile_rx_and_ctrl),
	    cmocka_unit_test(test_rx_tiny_mergeable_buffers),
	    cmocka_unit_test(test_tx_rate_limit),
	    cmocka_unit_test(test_rx_rate_limit),
	    cmocka_unit_test(test_real_tap),
	};

	signal(SIGPIPE, SIG_IGN); /* a back-end whose peer is gone fails with EPIPE */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
