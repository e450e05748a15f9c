/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: virtio-net transmit, receive and control
 * (devices/virtio/net.c), with a SOCK_SEQPACKET socketpair as the tap (one
 * message per frame, a 12-byte vnet header in front, as a tap speaks).
 *
 * Each input builds a fresh device, brings it up and runs a program:
 *
 *   u8 features (bits 0-7: CSUM, HOST_TSO4, HOST_TSO6, HOST_ECN,
 *      MRG_RXBUF, CTRL_VQ, CTRL_RX, CTRL_MAC_ADDR)
 *   u8 more features (bits 0-4: GUEST_ANNOUNCE, EVENT_IDX, INDIRECT_DESC,
 *      GUEST_CSUM, GUEST_TSO4); bits 5, 6: receive, transmit rate-limited
 *      (a byte bucket that runs dry and does not refill during the run)
 *   u8 queue size (1 << (v % 9)); 0xff with more features 0xff: the back
 *      end refuses the offloads (activation fails)
 *   then operations (u8 % NR_OPS): a transmit chain, receive buffers, a
 *   control command, a frame from the host, a kick, an event-loop turn,
 *   a receive pass, the host reading what was sent, the host hanging up,
 *   a reset and bring-up, a raw status write, a queue disabled and
 *   enabled again, a write into guest memory, a config read, an announce.
 *
 * Everything runs on this thread and the event loop only ever waits 0 ms,
 * so a run depends on nothing but the input. After each operation the
 * used rings are checked: every entry names an outstanding chain, transmit
 * entries report 0 bytes, receive entries at most the chain's writable
 * length, control entries 1 byte. Frames the host receives carry a header
 * with num_buffers 0 and are no longer than a transmit chain may be.
 */
#include <errno.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/rate_limiter.h"
#include "devices/virtio/net.h"
#include "devices/virtio/virtio.h"
#include "fuzz_util.h"

#define RAM_SIZE    0x100000ULL
#define RING_BASE   0x1000ULL /* queue q at RING_BASE + q * 0x3000 */
#define RING_STRIDE 0x3000ULL
#define INDIR_BASE  0x10000ULL /* queue q's indirect tables at INDIR_BASE + q * 0x10000 */
#define DATA_BASE   0x40000ULL
#define DATA_SIZE   (RAM_SIZE - DATA_BASE)
#define MAX_SEGS    8
#define HDR	    VIRTIO_NET_HDR_LEN

enum op {
	OP_TX,
	OP_RXBUF,
	OP_CTRL,
	OP_FRAME,
	OP_KICK,
	OP_LOOP,
	OP_RX,
	OP_HOST_READ,
	OP_HANGUP,
	OP_RESET,
	OP_STATUS,
	OP_REENABLE,
	OP_POKE,
	OP_CONFIG,
	OP_ANNOUNCE,
	NR_OPS
};

static const char *const op_names[NR_OPS] = {
    "tx",     "rxbuf", "ctrl",	 "frame",    "kick", "loop",   "rx",	   "host-read",
    "hangup", "reset", "status", "reenable", "poke", "config", "announce",
};

static const enum fuzz_used_len used_rule[VIRTIO_NET_NUM_QUEUES] = {
    [VIRTIO_NET_RXQ] = FUZZ_USED_AT_MOST,
    [VIRTIO_NET_TXQ] = FUZZ_USED_ZERO,
    [VIRTIO_NET_CTRLQ] = FUZZ_USED_ONE,
};

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	int sp[2]; /* sp[0]: the device's back end; sp[1]: the host network, -1 once hung up */
	struct virtio_net net;
	struct virtio_device *dev;
	uint64_t features;
	uint16_t qsize;
	bool refuse_offload;
	bool up;
	struct fuzz_dq q[VIRTIO_NET_NUM_QUEUES];
	uint64_t clock_ns;
	uint8_t frame[VIRTIO_NET_MAX_TX_BYTES + 64];
};

static uint64_t fake_clock(void *opaque)
{
	return *(const uint64_t *)opaque;
}

static int set_offload(void *opaque, uint64_t features)
{
	const struct fx *f = opaque;

	(void)features;
	return f->refuse_offload ? -EINVAL : 0;
}

static void on_notify(struct virtio_device *dev, unsigned q)
{
	(void)dev;
	FUZZ_CHECK(q < VIRTIO_NET_NUM_QUEUES);
}

static void on_config(struct virtio_device *dev)
{
	(void)dev;
}

static void bring_up(struct fx *f)
{
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	virtio_device_lock(f->dev);
	virtio_set_status(f->dev, 0);
	virtio_set_status(f->dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(f->dev, st);
	virtio_set_driver_features(f->dev, 0, (uint32_t)f->features);
	virtio_set_driver_features(f->dev, 1, (uint32_t)(f->features >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	virtio_set_status(f->dev, st);
	FUZZ_CHECK(f->dev->status & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned i = 0; i < VIRTIO_NET_NUM_QUEUES; i++) {
		fuzz_dq_init(&f->q[i], &f->gm, f->qsize, RING_BASE + i * RING_STRIDE,
			     INDIR_BASE + i * FUZZ_DQ_INDIRECT_BYTES);
		fuzz_dq_program(&f->q[i], &f->dev->vqs[i]);
		FUZZ_CHECK(virtio_queue_enable(f->dev, i) == 0);
	}
	virtio_set_status(f->dev, st | VIRTIO_STATUS_DRIVER_OK);
	FUZZ_CHECK(f->dev->active == !f->refuse_offload);
	virtio_device_unlock(f->dev);
	f->up = true;
}

static void check_used(struct fx *f)
{
	for (unsigned i = 0; i < VIRTIO_NET_NUM_QUEUES && f->up; i++)
		fuzz_dq_check(&f->q[i], used_rule[i]);
}

static uint32_t seg_len(struct fuzz_in *in, uint8_t sel)
{
	static const uint32_t lens[] = {0,    1,    11,	  12,	13,   60,    100,
					1500, 1514, 1526, 2048, 4096, 65562, 70000};

	switch (sel % 16) {
	case 14:
		return fi_u16(in);
	case 15:
		return fi_u32(in);
	default:
		return lens[sel % 16 % (sizeof(lens) / sizeof(lens[0]))];
	}
}

static uint64_t seg_gpa(struct fuzz_in *in)
{
	return DATA_BASE + (fi_u16(in) * 16ULL) % DATA_SIZE;
}

/* Free-form segments: direction, length and place as the input says. */
static unsigned free_segs(struct fuzz_in *in, struct fuzz_seg *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		uint8_t sel = fi_u8(in);

		s[i].len = seg_len(in, sel);
		s[i].write = sel & 0x80;
		s[i].gpa = seg_gpa(in);
	}
	return n;
}

static void add_chain(struct fx *f, unsigned q, const struct fuzz_seg *s, unsigned n, bool indirect)
{
	fuzz_dq_add(&f->q[q], s, n, indirect);
}

/* A frame to send: the vnet header (flags, gso_type from the input) and its segments. */
static void op_tx(struct fx *f, struct fuzz_in *in)
{
	struct fuzz_seg s[MAX_SEGS + 1];
	uint8_t shape = fi_u8(in);
	unsigned n = 0, nseg = 1 + shape % MAX_SEGS;
	struct virtio_net_hdr_v1 h;

	memset(&h, 0, sizeof(h));
	h.flags = fi_u8(in);
	h.gso_type = fi_u8(in);
	h.num_buffers = 0x5a5a; /* the device must not pass it on */
	if (shape & 0x10) {
		n = free_segs(in, s, nseg);
	} else {
		s[n++] = (struct fuzz_seg){seg_gpa(in), HDR, false};
		for (unsigned i = 0; i < nseg - 1; i++)
			s[n++] = (struct fuzz_seg){seg_gpa(in), seg_len(in, fi_u8(in)), false};
	}
	if (s[0].len >= HDR)
		gm_write(&f->gm, s[0].gpa, &h, sizeof(h));
	add_chain(f, VIRTIO_NET_TXQ, s, n, shape & 0x20);
}

/* Receive buffers: a few chains of writable segments (or free-form ones). */
static void op_rxbuf(struct fx *f, struct fuzz_in *in)
{
	uint8_t shape = fi_u8(in);
	unsigned chains = 1 + (shape >> 6);

	for (unsigned c = 0; c < chains; c++) {
		struct fuzz_seg s[4];
		unsigned n = 1 + shape % 4;

		if (shape & 0x10) {
			free_segs(in, s, n);
		} else {
			for (unsigned i = 0; i < n; i++)
				s[i] = (struct fuzz_seg){seg_gpa(in), seg_len(in, fi_u8(in)), true};
		}
		add_chain(f, VIRTIO_NET_RXQ, s, n, shape & 0x20);
	}
}

/* A control command: class, command, payload, status byte. */
static void op_ctrl(struct fx *f, struct fuzz_in *in)
{
	struct fuzz_seg s[MAX_SEGS];
	uint8_t shape = fi_u8(in), cmd[2], payload[64];
	uint8_t plen = fi_u8(in) % sizeof(payload);
	unsigned n = 0;

	cmd[0] = fi_u8(in) % 5;
	cmd[1] = fi_u8(in) % 4;
	fi_bytes(in, payload, plen);
	if (shape & 0x10) {
		n = free_segs(in, s, 1 + shape % 4);
		if (s[0].len >= 2)
			gm_write(&f->gm, s[0].gpa, cmd, 2);
	} else {
		s[n++] = (struct fuzz_seg){seg_gpa(in), 2, false};
		gm_write(&f->gm, s[0].gpa, cmd, 2);
		if (plen) {
			s[n] = (struct fuzz_seg){seg_gpa(in), plen, false};
			gm_write(&f->gm, s[n].gpa, payload, plen);
			n++;
		}
		s[n++] = (struct fuzz_seg){seg_gpa(in), 1, true};
	}
	add_chain(f, VIRTIO_NET_CTRLQ, s, n, shape & 0x20);
}

/* The host sends a frame of the given length (header included) to the guest. */
static void op_frame(struct fx *f, struct fuzz_in *in)
{
	uint32_t len = fi_u16(in);
	struct virtio_net_hdr_v1 h;

	if (len & 0x8000)
		len = (len & 0x7fff) * 2 + HDR; /* up to 64 KiB of frame */
	if (f->sp[1] < 0 || len > sizeof(f->frame))
		return;
	memset(&h, 0, sizeof(h));
	h.flags = fi_u8(in) & 3;
	h.num_buffers = 0x5a5a; /* a tap leaves it 0; the device must overwrite it */
	memset(f->frame, 0x3c, len);
	memcpy(f->frame, &h, len < sizeof(h) ? len : sizeof(h));
	/* The socket may be full: the frame is then lost, as on a real network. */
	(void)!send(f->sp[1], f->frame, len, MSG_DONTWAIT);
}

/* The host reads every frame the device sent and checks its header. */
static void op_host_read(struct fx *f)
{
	ssize_t n;

	if (f->sp[1] < 0)
		return;
	while ((n = recv(f->sp[1], f->frame, sizeof(f->frame), MSG_DONTWAIT)) >= 0) {
		struct virtio_net_hdr_v1 h;

		FUZZ_CHECK(n >= HDR && n <= VIRTIO_NET_MAX_TX_BYTES);
		memcpy(&h, f->frame, sizeof(h));
		FUZZ_CHECK(h.num_buffers == 0);
	}
}

static void op_kick(struct fx *f, struct fuzz_in *in)
{
	unsigned q = fi_u8(in) % (VIRTIO_NET_NUM_QUEUES + 1);

	virtio_device_lock(f->dev);
	virtio_queue_notify(f->dev, q);
	virtio_device_unlock(f->dev);
}

static void op_status(struct fx *f, struct fuzz_in *in)
{
	uint8_t st = fi_u8(in);

	virtio_device_lock(f->dev);
	virtio_set_status(f->dev, st);
	virtio_device_unlock(f->dev);
	if (st == 0)
		f->up = false;
}

static void op_reenable(struct fx *f, struct fuzz_in *in)
{
	unsigned q = fi_u8(in) % VIRTIO_NET_NUM_QUEUES;
	uint8_t v = fi_u8(in);
	struct virtqueue *vq = &f->dev->vqs[q];

	virtio_device_lock(f->dev);
	vq_disable(vq);
	if (v & 0x80) {
		vq->size = (uint16_t)(1u << (v % 9));
		f->q[q].ring.size = vq->size;
	}
	virtio_queue_enable(f->dev, q);
	virtio_device_unlock(f->dev);
	f->q[q].tainted = true;
}

static void op_poke(struct fx *f, struct fuzz_in *in)
{
	uint8_t buf[256];
	uint64_t gpa = fi_u32(in) % RAM_SIZE;
	uint8_t len = fi_u8(in);

	fi_bytes(in, buf, len);
	gm_write(&f->gm, gpa, buf, len);
	if (gpa < DATA_BASE)
		for (unsigned i = 0; i < VIRTIO_NET_NUM_QUEUES; i++)
			f->q[i].tainted = true;
}

static void op_config(struct fx *f, struct fuzz_in *in)
{
	static const uint32_t lens[] = {1, 2, 4, 8};
	uint8_t off = fi_u8(in), buf[8];

	virtio_device_lock(f->dev);
	virtio_config_read(f->dev, off % 16, buf, lens[off % 4]);
	virtio_device_unlock(f->dev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned bits0[] = {VIRTIO_NET_F_CSUM,	 VIRTIO_NET_F_HOST_TSO4,
					 VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_HOST_ECN,
					 VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CTRL_VQ,
					 VIRTIO_NET_F_CTRL_RX,	 VIRTIO_NET_F_CTRL_MAC_ADDR};
	static const unsigned bits1[] = {VIRTIO_NET_F_GUEST_ANNOUNCE, VIRTIO_F_RING_EVENT_IDX,
					 VIRTIO_F_RING_INDIRECT_DESC, VIRTIO_NET_F_GUEST_CSUM,
					 VIRTIO_NET_F_GUEST_TSO4};
	static const uint8_t mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
	struct gm_range range = {0, RAM_SIZE};
	struct fuzz_in in = {data, size};
	struct token_bucket_config bucket = {.size = 3000, .refill_time_ms = 3600000};
	struct virtio_net_params p;
	uint8_t feat0, feat1, sel;
	unsigned steps = 0;
	char err[256];
	struct fx *f;

	fuzz_quiet();
	f = calloc(1, sizeof(*f));
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fuzz_gm_create(&f->gm, &range, 1) == 0);
	FUZZ_CHECK(event_loop_init(&f->loop) == 0);
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f->sp) ==
		   0);
	memset(&p, 0, sizeof(p));
	memcpy(p.mac, mac, sizeof(mac));
	p.backend.fd = f->sp[0];
	p.backend.set_offload = set_offload;
	p.backend.opaque = f;
	feat0 = fi_u8(&in);
	feat1 = fi_u8(&in);
	if (feat1 & 0x20 && feat1 != 0xff)
		p.rx_bps = &bucket;
	if (feat1 & 0x40 && feat1 != 0xff)
		p.tx_bps = &bucket;
	FUZZ_CHECK(virtio_net_init(&f->net, &p, &f->gm, &f->loop, err, sizeof(err)) == 0);
	f->dev = &f->net.vdev;
	f->dev->notify_queue = on_notify;
	f->dev->notify_config = on_config;
	f->dev->transport = f;
	/* Time stands still: a throttled direction stays throttled for the whole run. */
	rate_limiter_set_clock(&f->net.rx_rl, fake_clock, &f->clock_ns);
	rate_limiter_set_clock(&f->net.tx_rl, fake_clock, &f->clock_ns);

	f->features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	for (unsigned i = 0; i < 8; i++)
		if (feat0 & (1u << i))
			f->features |= VIRTIO_BIT(bits0[i]);
	for (unsigned i = 0; i < 5; i++)
		if (feat1 & (1u << i))
			f->features |= VIRTIO_BIT(bits1[i]);
	sel = fi_u8(&in);
	f->refuse_offload = feat1 == 0xff && sel == 0xff;
	f->qsize = (uint16_t)(1u << (sel % 9));
	bring_up(f);

	while (!fi_empty(&in) && steps++ < 512) {
		enum op op = (enum op)(fi_u8(&in) % NR_OPS);

		FUZZ_TRACE("op %s\n", op_names[op]);
		switch (op) {
		case OP_TX:
			if (f->up)
				op_tx(f, &in);
			break;
		case OP_RXBUF:
			if (f->up)
				op_rxbuf(f, &in);
			break;
		case OP_CTRL:
			if (f->up)
				op_ctrl(f, &in);
			break;
		case OP_FRAME:
			op_frame(f, &in);
			break;
		case OP_KICK:
			op_kick(f, &in);
			break;
		case OP_LOOP:
			event_loop_run_once(&f->loop, 0);
			break;
		case OP_RX:
			virtio_device_lock(f->dev);
			virtio_net_process_rx(&f->net);
			virtio_device_unlock(f->dev);
			break;
		case OP_HOST_READ:
			op_host_read(f);
			break;
		case OP_HANGUP:
			if (f->sp[1] >= 0)
				close(f->sp[1]);
			f->sp[1] = -1;
			break;
		case OP_RESET:
			bring_up(f);
			break;
		case OP_STATUS:
			op_status(f, &in);
			break;
		case OP_REENABLE:
			if (f->up)
				op_reenable(f, &in);
			break;
		case OP_POKE:
			op_poke(f, &in);
			break;
		case OP_CONFIG:
			op_config(f, &in);
			break;
		case OP_ANNOUNCE:
			virtio_net_announce(&f->net);
			break;
		case NR_OPS:
		default:
			break;
		}
		check_used(f);
	}
	op_host_read(f);
	virtio_net_destroy(&f->net);
	close(f->sp[0]);
	if (f->sp[1] >= 0)
		close(f->sp[1]);
	event_loop_destroy(&f->loop);
	fuzz_gm_destroy(&f->gm);
	free(f);
	return 0;
}
