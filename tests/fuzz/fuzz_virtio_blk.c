/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: virtio-blk requests (devices/virtio/blk.c) through the real
 * block back end (backends/block.c) on small temporary images.
 *
 * Three disks are opened once per process: read-write with the I/O thread
 * engine, read-write with cache=none and the default engine (io_uring
 * where it works; writeback when the file system has no O_DIRECT), and
 * read-only. Each input builds a fresh device on one of them, brings it
 * up as a driver would and runs a program of operations:
 *
 *   u8 disk (% 3), queues (1 + (v >> 2) % 3), rate limited (bit 4: an
 *      operations bucket that runs dry and never refills during the run)
 *   u8 features the driver accepts, of those offered: FLUSH, DISCARD,
 *      WRITE_ZEROES, EVENT_IDX, INDIRECT_DESC, MQ (bits 0-5)
 *   u8 queue size (1 << (v % 9))
 *   then operations (u8 % NR_OPS) until the input ends: a request chain
 *   (canonical header/data/status, or free-form segments), a kick, a
 *   drain, an event-loop turn, a reset and bring-up, a raw status write,
 *   a queue disabled and enabled again, a write into guest memory, a
 *   config read, a state save.
 *
 * Completions are collected only by draining (virtio_blk_drain() waits
 * for every request in flight), so a run does not depend on timing. After
 * each drain the used rings are checked against what the driver made
 * available: every used entry names a chain that was outstanding and
 * reports its whole writable length (the device's promise in blk.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/block.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/rate_limiter.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/virtio.h"
#include "fuzz_devices.h"
#include "fuzz_util.h"

#define RAM_SIZE    0x100000ULL
#define RING_BASE   0x1000ULL /* queue q: desc, avail, used at RING_BASE + q * 0x3000 */
#define RING_STRIDE 0x3000ULL
#define INDIR_BASE  0x10000ULL /* queue q's indirect tables at INDIR_BASE + q * 0x10000 */
#define DATA_BASE   0x40000ULL
#define DATA_SIZE   (RAM_SIZE - DATA_BASE)
#define MAX_Q	    3
#define MAX_SEGS    8
#define NR_DISKS    3

enum op {
	OP_CHAIN,
	OP_CHAIN2, /* chains are the common case: two codes */
	OP_KICK,
	OP_DRAIN,
	OP_LOOP,
	OP_RESET,
	OP_STATUS,
	OP_REENABLE,
	OP_POKE,
	OP_CONFIG,
	OP_SAVE,
	OP_MANY,
	OP_BIG,
	NR_OPS
};

static const char *const op_names[NR_OPS] = {"chain", "chain",	"kick",	    "drain", "loop",
					     "reset", "status", "reenable", "poke",  "config",
					     "save",  "many",	"big"};

static struct block_dev *disks[NR_DISKS];

static void open_disks(void)
{
	if (disks[0])
		return;
	disks[0] = fuzz_open_disk(false, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_THREADS);
	disks[1] = fuzz_open_disk(false, BLOCK_CACHE_NONE, BLOCK_ENGINE_AUTO);
	if (!disks[1]) /* no O_DIRECT here (tmpfs) */
		disks[1] = fuzz_open_disk(false, BLOCK_CACHE_UNSAFE, BLOCK_ENGINE_AUTO);
	disks[2] = fuzz_open_disk(true, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_THREADS);
	for (unsigned i = 0; i < NR_DISKS; i++) {
		if (!disks[i]) {
			fprintf(stderr, "fuzz_virtio_blk: cannot create a disk image\n");
			abort();
		}
	}
}

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	struct virtio_blk blk;
	struct virtio_device *dev;
	unsigned nq;
	uint16_t qsize;
	uint64_t features;
	bool up; /* rings programmed, DRIVER_OK written */
	struct fuzz_dq q[MAX_Q];
	uint64_t clock_ns;
};

static uint64_t fake_clock(void *opaque)
{
	return *(const uint64_t *)opaque;
}

static void on_notify(struct virtio_device *dev, unsigned q)
{
	(void)dev;
	FUZZ_CHECK(q < MAX_Q);
}

static void on_config(struct virtio_device *dev)
{
	(void)dev;
}

/* Reset the device and bring it up again on fresh rings, as a driver's probe does. */
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
	for (unsigned i = 0; i < f->nq; i++) {
		fuzz_dq_init(&f->q[i], &f->gm, f->qsize, RING_BASE + i * RING_STRIDE,
			     INDIR_BASE + i * FUZZ_DQ_INDIRECT_BYTES);
		fuzz_dq_program(&f->q[i], &f->dev->vqs[i]);
		FUZZ_CHECK(virtio_queue_enable(f->dev, i) == 0);
	}
	virtio_set_status(f->dev, st | VIRTIO_STATUS_DRIVER_OK);
	FUZZ_CHECK(f->dev->active && !f->dev->broken);
	virtio_device_unlock(f->dev);
	f->up = true;
}

/* Every new used entry names an outstanding chain and its whole writable length. */
static void check_used(struct fx *f)
{
	for (unsigned i = 0; i < f->nq && f->up; i++)
		fuzz_dq_check(&f->q[i], FUZZ_USED_ALL);
}

static void drain(struct fx *f)
{
	virtio_blk_drain(&f->blk);
	check_used(f);
}

/* Data segment lengths worth trying. */
static uint32_t seg_len(struct fuzz_in *in, uint8_t sel)
{
	static const uint32_t lens[] = {0,   1,	   15,	 16,	17,    511,	512,
					513, 1024, 4096, 65536, 16384, 0x80000, 3584};

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

/* Write n bytes of src into the chain's readable segments from byte off on. */
static void fill_readable(struct fx *f, const struct fuzz_seg *s, unsigned n, uint64_t off,
			  const uint8_t *src, size_t len)
{
	for (unsigned i = 0; i < n && len; i++) {
		uint64_t k;

		if (s[i].write)
			continue;
		if (off >= s[i].len) {
			off -= s[i].len;
			continue;
		}
		k = s[i].len - off < len ? s[i].len - off : len;
		gm_write(&f->gm, s[i].gpa + off, src, k);
		src += k;
		len -= k;
		off = 0;
	}
}

static uint32_t pick_type(struct fuzz_in *in)
{
	static const uint32_t types[] = {VIRTIO_BLK_T_IN,      VIRTIO_BLK_T_OUT,
					 VIRTIO_BLK_T_FLUSH,   VIRTIO_BLK_T_GET_ID,
					 VIRTIO_BLK_T_DISCARD, VIRTIO_BLK_T_WRITE_ZEROES,
					 VIRTIO_BLK_T_IN,      VIRTIO_BLK_T_OUT};
	uint8_t t = fi_u8(in);

	return t >= 0xf0 ? fi_u32(in) : types[t % 8];
}

/* One request chain on queue q, canonical or free-form. */
static void op_chain(struct fx *f, struct fuzz_in *in)
{
	struct fuzz_dq *d = &f->q[fi_u8(in) % f->nq];
	struct fuzz_seg s[MAX_SEGS + 2];
	uint8_t shape = fi_u8(in);
	unsigned n = 0, ndata = 1 + shape % MAX_SEGS;
	uint32_t type = pick_type(in);
	uint64_t sector;
	uint8_t hdr[16], seg[16];

	sector = fi_u16(in);
	if (sector & 0x8000)
		sector = fi_u64(in);
	memcpy(hdr, &type, 4);
	memset(hdr + 4, 0, 4);
	memcpy(hdr + 8, &sector, 8);

	if (shape & 0x10) {
		/* Free-form: the segments as the input says, the header at the front. */
		for (unsigned i = 0; i < ndata; i++) {
			uint8_t sel = fi_u8(in);

			s[n].len = seg_len(in, sel);
			s[n].write = sel & 0x80;
			s[n].gpa = seg_gpa(in);
			n++;
		}
	} else {
		/* Canonical: header, data in the direction of the type, status byte. */
		bool write_data = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;

		s[n++] = (struct fuzz_seg){seg_gpa(in), 16, false};
		if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES)
			s[n++] = (struct fuzz_seg){seg_gpa(in), 16, false};
		else if (type != VIRTIO_BLK_T_FLUSH)
			for (unsigned i = 0; i < ndata && !(shape & 0x40); i++)
				s[n++] = (struct fuzz_seg){seg_gpa(in), seg_len(in, fi_u8(in)),
							   write_data};
		s[n++] = (struct fuzz_seg){seg_gpa(in), 1, true};
	}
	fill_readable(f, s, n, 0, hdr, sizeof(hdr));
	if (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES) {
		uint64_t ssec = fi_u16(in);
		uint32_t num = fi_u16(in), flags = fi_u8(in) % 4;

		memcpy(seg, &ssec, 8);
		memcpy(seg + 8, &num, 4);
		memcpy(seg + 12, &flags, 4);
		fill_readable(f, s, n, sizeof(hdr), seg, sizeof(seg));
	}
	fuzz_dq_add(d, s, n, shape & 0x20);
}

/* Many small requests at once on one queue (more than a batch), then a kick. */
static void op_many(struct fx *f, struct fuzz_in *in)
{
	unsigned q = fi_u8(in) % f->nq, n = fi_u8(in);
	struct fuzz_dq *d = &f->q[q];

	for (unsigned i = 0; i < n; i++) {
		uint64_t gpa = DATA_BASE + 0x1000ULL * (i % 192);
		uint8_t hdr[16] = {(uint8_t)(i % 3 ? VIRTIO_BLK_T_IN : VIRTIO_BLK_T_FLUSH)};
		struct fuzz_seg s[3] = {
		    {gpa, 16, false}, {gpa + 0x200, 512, true}, {gpa + 0x400, 1, true}};

		hdr[8] = (uint8_t)i; /* the sector */
		gm_write(&f->gm, gpa, hdr, sizeof(hdr));
		if (i % 3)
			fuzz_dq_add(d, s, 3, false);
		else
			fuzz_dq_add(d, (struct fuzz_seg[]){s[0], s[2]}, 2, false);
	}
	virtio_device_lock(f->dev);
	virtio_queue_notify(f->dev, q);
	virtio_device_unlock(f->dev);
}

/* A read or write with more data segments than the device takes (or just fewer). */
static void op_big(struct fx *f, struct fuzz_in *in)
{
	static struct fuzz_seg s[VIRTIO_BLK_SEG_MAX + 40];
	unsigned q = fi_u8(in) % f->nq, n = VIRTIO_BLK_SEG_MAX - 8 + fi_u8(in) % 40;
	bool write = fi_u8(in) & 1;
	uint8_t hdr[16] = {write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN};

	s[0] = (struct fuzz_seg){DATA_BASE, 16, false};
	for (unsigned i = 0; i < n; i++)
		s[1 + i] = (struct fuzz_seg){DATA_BASE + 0x1000 + 512ULL * i, 512, !write};
	s[n + 1] = (struct fuzz_seg){DATA_BASE + 0x800, 1, true};
	gm_write(&f->gm, DATA_BASE, hdr, sizeof(hdr));
	fuzz_dq_add(&f->q[q], s, n + 2, false);
}

static void op_kick(struct fx *f, struct fuzz_in *in)
{
	unsigned q = fi_u8(in) % (f->nq + 1); /* one past the last: a guest error */

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
	if (st == 0) {
		/* A reset: every queue is gone until the next bring-up. */
		f->up = false;
	} else {
		for (unsigned i = 0; i < f->nq; i++)
			f->q[i].tainted = true;
	}
}

/* Disable a queue and enable it again (what a virtio-mmio driver may do), maybe resized. */
static void op_reenable(struct fx *f, struct fuzz_in *in)
{
	unsigned q = fi_u8(in) % f->nq;
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
		for (unsigned i = 0; i < f->nq; i++)
			f->q[i].tainted = true;
}

static void op_config(struct fx *f, struct fuzz_in *in)
{
	static const uint32_t lens[] = {1, 2, 4, 8};
	uint8_t off = fi_u8(in), buf[8];

	virtio_device_lock(f->dev);
	virtio_config_read(f->dev, off % 72, buf, lens[off % 4]);
	virtio_device_unlock(f->dev);
}

static void op_save(struct fx *f)
{
	struct virtio_blk_state s;
	char err[256];

	drain(f);
	if (virtio_blk_save(&f->blk, &s) == 0)
		FUZZ_CHECK(virtio_blk_check_state(&f->blk, &s, err, sizeof(err)) == 0);
	/* Held requests went back to their rings: they will be popped again. */
	for (unsigned i = 0; i < f->nq; i++)
		f->q[i].tainted = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned feature_bits[] = {
	    VIRTIO_BLK_F_FLUSH,	     VIRTIO_BLK_F_DISCARD,	  VIRTIO_BLK_F_WRITE_ZEROES,
	    VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_RING_INDIRECT_DESC, VIRTIO_BLK_F_MQ};
	struct gm_range range = {0, RAM_SIZE};
	struct fuzz_in in = {data, size};
	struct token_bucket_config ops_bucket = {.size = 1, .refill_time_ms = 3600000};
	struct virtio_blk_params p;
	struct fx *f;
	char err[256];
	uint8_t sel, feat;
	unsigned steps = 0;

	fuzz_quiet();
	open_disks();
	f = calloc(1, sizeof(*f));
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fuzz_gm_create(&f->gm, &range, 1) == 0);
	FUZZ_CHECK(event_loop_init(&f->loop) == 0);

	sel = fi_u8(&in);
	memset(&p, 0, sizeof(p));
	p.bdev = disks[sel % NR_DISKS];
	p.num_queues = 1 + (sel >> 2) % MAX_Q;
	p.serial = "fuzz-disk";
	if (sel & 0x10) {
		ops_bucket.size = 1 + (sel >> 5);
		p.ops_bucket = &ops_bucket;
	}
	FUZZ_CHECK(virtio_blk_init(&f->blk, &p, &f->gm, &f->loop, err, sizeof(err)) == 0);
	f->dev = &f->blk.vdev;
	f->dev->notify_queue = on_notify;
	f->dev->notify_config = on_config;
	f->dev->transport = f;
	rate_limiter_set_clock(&f->blk.rl, fake_clock, &f->clock_ns);
	f->nq = f->blk.num_queues;

	feat = fi_u8(&in);
	f->features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	for (unsigned i = 0; i < sizeof(feature_bits) / sizeof(feature_bits[0]); i++)
		if (feat & (1u << i))
			f->features |= VIRTIO_BIT(feature_bits[i]);
	f->features &= f->dev->host_features;
	f->qsize = (uint16_t)(1u << (fi_u8(&in) % 9));
	bring_up(f);

	while (!fi_empty(&in) && steps++ < 512) {
		enum op op = (enum op)(fi_u8(&in) % NR_OPS);

		FUZZ_TRACE("op %s\n", op_names[op]);
		switch (op) {
		case OP_CHAIN:
		case OP_CHAIN2:
			if (f->up)
				op_chain(f, &in);
			break;
		case OP_KICK:
			op_kick(f, &in);
			break;
		case OP_DRAIN:
			drain(f);
			break;
		case OP_LOOP:
			drain(f);
			event_loop_run_once(&f->loop, 0);
			drain(f);
			break;
		case OP_RESET:
			drain(f);
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
		case OP_SAVE:
			op_save(f);
			break;
		case OP_MANY:
			if (f->up)
				op_many(f, &in);
			break;
		case OP_BIG:
			if (f->up)
				op_big(f, &in);
			break;
		case NR_OPS:
		default:
			break;
		}
	}
	drain(f);
	virtio_blk_destroy(&f->blk);
	event_loop_destroy(&f->loop);
	fuzz_gm_destroy(&f->gm);
	free(f);
	return 0;
}
