/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk over fake guest memory and a real temporary image file,
 * through the real block back end. The test plays the guest driver: it
 * negotiates features, lays out rings, builds request chains (header,
 * data, status byte) and waits for completions by running the event loop
 * (with a timeout that fails the test), never by sleeping.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/virtio_blk.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/block.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/util.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/virtio.h"

#define MEM_SIZE    (32ULL << 20)
#define RING_SIZE   256
#define RING_BASE   0x10000ULL /* queue q: desc, avail, used at RING_BASE + q * 0x4000 */
#define INDIRECT    0x80000ULL /* indirect tables */
#define HDR_BASE    0x100000ULL
#define STATUS_BASE 0x110000ULL
#define DATA	    0x200000ULL
#define HUGE	    0x400000ULL /* 24 MiB of RAM used by the huge-length test */
#define HUGE_LEN    (24u << 20)
#define DISK_SIZE   (1ULL << 20)
#define SECTORS	    (DISK_SIZE / 512)
#define F(x)	    (1ULL << VIRTIO_BLK_F_##x)
#define NEEDS_RESET VIRTIO_STATUS_DEVICE_NEEDS_RESET
#define SERIAL	    "hearth-disk-0001"

struct seg {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

struct ring {
	uint64_t desc, avail, used;
	uint16_t avail_idx;
	uint16_t next_desc;
};

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	char path[PATH_MAX];
	int fd; /* the image, for checking what landed in it */
	struct block_dev *bdev;
	struct virtio_blk blk;
	bool blk_up;
	struct ring rings[VIRTIO_BLK_MAX_QUEUES];
	unsigned irqs[VIRTIO_BLK_MAX_QUEUES];
	unsigned nq;
	unsigned hdr_slot;
	uint64_t clock_ns;
	uint64_t errors_before;
};

/* ---- guest memory helpers ------------------------------------------------------- */

static void gw(struct fx *f, uint64_t gpa, const void *src, uint64_t len)
{
	assert_int_equal(gm_write(&f->gm, gpa, src, len), 0);
}

static void gr(struct fx *f, uint64_t gpa, void *dst, uint64_t len)
{
	assert_int_equal(gm_read(&f->gm, gpa, dst, len), 0);
}

static uint8_t g8(struct fx *f, uint64_t gpa)
{
	uint8_t v;

	gr(f, gpa, &v, 1);
	return v;
}

static void w16(struct fx *f, uint64_t gpa, uint16_t v)
{
	gw(f, gpa, &v, sizeof(v));
}

static uint16_t r16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	gr(f, gpa, &v, sizeof(v));
	return v;
}

static bool page_dirty(const struct guest_memory *gm, uint64_t gpa)
{
	const struct gm_region *g = &gm->regions[0];
	uint64_t p = (gpa - g->gpa) / GM_PAGE_SIZE;

	return g->dirty[p / 64] & (1ULL << (p % 64));
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

/* ---- fixture ------------------------------------------------------------------- */

static void on_notify_queue(struct virtio_device *dev, unsigned q)
{
	struct fx *f = dev->transport;

	assert_true(q < VIRTIO_BLK_MAX_QUEUES);
	f->irqs[q]++;
}

static void on_notify_config(struct virtio_device *dev)
{
	(void)dev;
}

static uint64_t fake_clock(void *opaque)
{
	return *(uint64_t *)opaque;
}

/* A fixture with a DISK_SIZE image filled with a pattern (or size bytes, sparse). */
static struct fx *fx_new_image(uint64_t size)
{
	struct gm_range range = {0, MEM_SIZE};
	struct fx *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	uint8_t *buf;

	assert_non_null(f);
	assert_int_equal(gm_create(&f->gm, &range, 1, GM_BACKING_ANON, NULL), 0);
	gm_set_dirty_tracking(&f->gm, true);
	assert_int_equal(event_loop_init(&f->loop), 0);
	snprintf(f->path, sizeof(f->path), "%s/hearth-blk-XXXXXX", tmp ? tmp : "/tmp");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	if (size == DISK_SIZE) {
		buf = malloc(DISK_SIZE);
		assert_non_null(buf);
		fill(buf, DISK_SIZE, 1);
		assert_int_equal(pwrite(f->fd, buf, DISK_SIZE, 0), (ssize_t)DISK_SIZE);
		free(buf);
	} else {
		assert_int_equal(ftruncate(f->fd, (off_t)size), 0);
	}
	return f;
}

/* The back end's engine for the next fixture (AUTO: io_uring here). */
static enum block_engine engine = BLOCK_ENGINE_AUTO;

static void fx_open_blk(struct fx *f, const struct virtio_blk_params *extra, bool readonly,
			enum block_cache cache)
{
	struct block_config cfg = {
	    .path = f->path, .readonly = readonly, .cache = cache, .engine = engine};
	struct virtio_blk_params p;
	char err[256] = "";

	if (extra)
		p = *extra;
	else
		memset(&p, 0, sizeof(p));
	f->bdev = block_open(&cfg, err, sizeof(err));
	if (!f->bdev)
		fail_msg("block_open: %s", err);
	p.bdev = f->bdev;
	if (!p.serial)
		p.serial = SERIAL;
	if (virtio_blk_init(&f->blk, &p, &f->gm, &f->loop, err, sizeof(err)))
		fail_msg("virtio_blk_init: %s", err);
	f->blk_up = true;
	f->nq = f->blk.num_queues;
	f->blk.vdev.notify_queue = on_notify_queue;
	f->blk.vdev.notify_config = on_notify_config;
	f->blk.vdev.transport = f;
	rate_limiter_set_clock(&f->blk.rl, fake_clock, &f->clock_ns);
	f->errors_before = f->blk.vdev.errors;
}

static struct fx *fx_new_with(const struct virtio_blk_params *p, bool readonly)
{
	struct fx *f = fx_new_image(DISK_SIZE);

	fx_open_blk(f, p, readonly, BLOCK_CACHE_WRITEBACK);
	return f;
}

static struct fx *fx_new(void)
{
	return fx_new_with(NULL, false);
}

static void fx_free(struct fx *f)
{
	if (f->blk_up)
		virtio_blk_destroy(&f->blk);
	block_close(f->bdev);
	close(f->fd);
	unlink(f->path);
	event_loop_destroy(&f->loop);
	gm_destroy(&f->gm);
	free(f);
}

/* Program the rings and negotiate features as a driver does, up to DRIVER_OK. */
static void fx_start(struct fx *f, uint64_t features)
{
	struct virtio_device *dev = &f->blk.vdev;
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	features |= 1ULL << VIRTIO_F_VERSION_1;
	virtio_device_lock(dev);
	virtio_set_status(dev, 0);
	memset(f->irqs, 0, sizeof(f->irqs));
	virtio_set_status(dev, st);
	virtio_set_driver_features(dev, 0, (uint32_t)features);
	virtio_set_driver_features(dev, 1, (uint32_t)(features >> 32));
	st |= VIRTIO_STATUS_FEATURES_OK;
	virtio_set_status(dev, st);
	assert_true(dev->status & VIRTIO_STATUS_FEATURES_OK);
	for (unsigned q = 0; q < f->nq; q++) {
		struct ring *r = &f->rings[q];
		struct virtqueue *vq = &dev->vqs[q];
		static uint8_t zero[0x4000];

		r->desc = RING_BASE + q * 0x4000ULL;
		r->avail = r->desc + 0x1000;
		r->used = r->desc + 0x2000;
		r->avail_idx = r->next_desc = 0;
		gw(f, r->desc, zero, sizeof(zero));
		vq->size = RING_SIZE;
		vq->desc_gpa = r->desc;
		vq->avail_gpa = r->avail;
		vq->used_gpa = r->used;
		assert_int_equal(virtio_queue_enable(dev, q), 0);
	}
	virtio_set_status(dev, st | VIRTIO_STATUS_DRIVER_OK);
	assert_true(dev->active);
	assert_false(dev->broken);
	virtio_device_unlock(dev);
}

/* Everything the device offers. */
static void fx_start_all(struct fx *f)
{
	fx_start(f, f->blk.vdev.host_features);
}

static unsigned blk_inflight_for_test(const struct virtio_blk *b)
{
	unsigned n = 0;

	for (unsigned i = 0; i < b->num_queues; i++)
		n += b->queues[i].inflight;
	return n;
}

static bool fx_broken(struct fx *f)
{
	return (f->blk.vdev.status & NEEDS_RESET) && f->blk.vdev.broken &&
	       f->blk.vdev.errors > f->errors_before;
}

static void fx_kick(struct fx *f, unsigned q)
{
	virtio_device_lock(&f->blk.vdev);
	virtio_queue_notify(&f->blk.vdev, q);
	virtio_device_unlock(&f->blk.vdev);
}

static uint16_t used_idx(struct fx *f, unsigned q)
{
	return r16(f, f->rings[q].used + 2);
}

static struct vring_used_elem used_elem(struct fx *f, unsigned q, uint16_t i)
{
	struct vring_used_elem e;

	gr(f, f->rings[q].used + 4 + 8ULL * (i % RING_SIZE), &e, sizeof(e));
	return e;
}

/*
 * Run the event loop until queue q's used index reaches idx; fails after
 * 10 s. (epoll_wait may return early with EINTR when io_uring delivers its
 * completions as task work: run_once then returns 0.)
 */
static void run_until_used(struct fx *f, unsigned q, uint16_t idx)
{
	uint64_t deadline = now_ns() + 10ULL * 1000000000ULL;

	while (used_idx(f, q) != idx) {
		assert_true(event_loop_run_once(&f->loop, 1000) >= 0);
		assert_true(now_ns() < deadline);
	}
}

/* Make a chain of segments available on queue q (descriptors in the ring's table). */
static uint16_t ring_add(struct fx *f, unsigned q, const struct seg *s, unsigned n)
{
	struct ring *r = &f->rings[q];
	uint16_t head = r->next_desc;

	for (unsigned i = 0; i < n; i++) {
		uint16_t d = (uint16_t)((head + i) % RING_SIZE);
		struct vring_desc desc = {
		    .addr = s[i].gpa,
		    .len = s[i].len,
		    .flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
		    .next = (uint16_t)((d + 1) % RING_SIZE),
		};
		gw(f, r->desc + 16ULL * d, &desc, sizeof(desc));
	}
	r->next_desc = (uint16_t)((head + n) % RING_SIZE);
	w16(f, r->avail + 4 + 2ULL * (r->avail_idx % RING_SIZE), head);
	r->avail_idx++;
	w16(f, r->avail + 2, r->avail_idx);
	return head;
}

/* Make a chain available through one indirect table of n segments. */
static uint16_t ring_add_indirect(struct fx *f, unsigned q, const struct seg *s, unsigned n)
{
	struct ring *r = &f->rings[q];
	uint16_t head = r->next_desc;
	struct vring_desc d = {.addr = INDIRECT, .len = 16 * n, .flags = VRING_DESC_F_INDIRECT};

	for (unsigned i = 0; i < n; i++) {
		struct vring_desc e = {
		    .addr = s[i].gpa,
		    .len = s[i].len,
		    .flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
					(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
		    .next = (uint16_t)(i + 1),
		};
		gw(f, INDIRECT + 16ULL * i, &e, sizeof(e));
	}
	gw(f, r->desc + 16ULL * head, &d, sizeof(d));
	r->next_desc = (uint16_t)((head + 1) % RING_SIZE);
	w16(f, r->avail + 4 + 2ULL * (r->avail_idx % RING_SIZE), head);
	r->avail_idx++;
	w16(f, r->avail + 2, r->avail_idx);
	return head;
}

/* A fresh header slot holding (type, sector); returns its address. */
static uint64_t put_hdr(struct fx *f, uint32_t type, uint64_t sector)
{
	uint64_t gpa = HDR_BASE + 16ULL * (f->hdr_slot++ % 1024);
	struct {
		uint32_t type, ioprio;
		uint64_t sector;
	} h = {type, 0, sector};

	gw(f, gpa, &h, sizeof(h));
	return gpa;
}

/* A fresh status byte preset to 0xee (so a write by the device shows); returns its address. */
static uint64_t put_status(struct fx *f)
{
	uint64_t gpa = STATUS_BASE + (f->hdr_slot++ % 4096);
	uint8_t v = 0xee;

	gw(f, gpa, &v, 1);
	return gpa;
}

struct done {
	uint8_t status;
	uint32_t len;
	uint16_t head;
};

/*
 * Submit (header, data..., status) on queue q, kick, wait for the used
 * entry, return what came back.
 */
static struct done do_req(struct fx *f, unsigned q, uint32_t type, uint64_t sector,
			  const struct seg *data, unsigned n)
{
	struct seg s[16];
	uint64_t st = put_status(f);
	uint16_t before = used_idx(f, q);
	struct vring_used_elem e;
	struct done d;

	assert_true(n + 2 <= 16);
	s[0] = (struct seg){put_hdr(f, type, sector), 16, false};
	for (unsigned i = 0; i < n; i++)
		s[1 + i] = data[i];
	s[n + 1] = (struct seg){st, 1, true};
	d.head = ring_add(f, q, s, n + 2);
	fx_kick(f, q);
	run_until_used(f, q, (uint16_t)(before + 1));
	e = used_elem(f, q, before);
	assert_int_equal(e.id, d.head);
	d.len = e.len;
	d.status = g8(f, st);
	return d;
}

/* Submit a raw chain, kick, and return the status byte at status_gpa once used. */
static uint8_t do_chain(struct fx *f, unsigned q, const struct seg *s, unsigned n,
			uint64_t status_gpa)
{
	uint16_t before = used_idx(f, q);

	ring_add(f, q, s, n);
	fx_kick(f, q);
	run_until_used(f, q, (uint16_t)(before + 1));
	return g8(f, status_gpa);
}

static void file_read(struct fx *f, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(f->fd, buf, len, (off_t)off), (ssize_t)len);
}

static void file_write(struct fx *f, uint64_t off, const void *buf, size_t len)
{
	assert_int_equal(pwrite(f->fd, buf, len, (off_t)off), (ssize_t)len);
}

static uint32_t cfg32(struct fx *f, uint32_t off)
{
	uint32_t v;

	virtio_device_lock(&f->blk.vdev);
	virtio_config_read(&f->blk.vdev, off, (uint8_t *)&v, sizeof(v));
	virtio_device_unlock(&f->blk.vdev);
	return v;
}

static uint64_t cfg64(struct fx *f, uint32_t off)
{
	uint64_t v;

	virtio_device_lock(&f->blk.vdev);
	virtio_config_read(&f->blk.vdev, off, (uint8_t *)&v, sizeof(v));
	virtio_device_unlock(&f->blk.vdev);
	return v;
}

static uint16_t cfg16(struct fx *f, uint32_t off)
{
	uint16_t v;

	virtio_device_lock(&f->blk.vdev);
	virtio_config_read(&f->blk.vdev, off, (uint8_t *)&v, sizeof(v));
	virtio_device_unlock(&f->blk.vdev);
	return v;
}

#define CFG(field) ((uint32_t)offsetof(struct virtio_blk_config, field))

/* ---- tests -------------------------------------------------------------------- */

static void test_config_and_features(void **state)
{
	struct fx *f = fx_new();
	uint64_t hf = f->blk.vdev.host_features;

	(void)state;
	assert_true(hf & F(SIZE_MAX));
	assert_true(hf & F(SEG_MAX));
	assert_true(hf & F(BLK_SIZE));
	assert_true(hf & F(FLUSH));
	assert_true(hf & F(WRITE_ZEROES));
	assert_false(hf & F(RO));
	assert_false(hf & F(MQ)); /* one queue */
	assert_false(hf & F(CONFIG_WCE));
	assert_true(hf & (1ULL << VIRTIO_F_VERSION_1));
	assert_int_equal(f->blk.vdev.ops->device_id, VIRTIO_ID_BLOCK);

	assert_int_equal(cfg64(f, CFG(capacity)), SECTORS);
	assert_int_equal(cfg32(f, CFG(seg_max)), VIRTIO_BLK_SEG_MAX);
	assert_int_equal(cfg32(f, CFG(size_max)), VIRTIO_BLK_SIZE_MAX);
	assert_int_equal(cfg32(f, CFG(blk_size)), 512);
	assert_int_equal(cfg16(f, CFG(num_queues)), 1);
	assert_int_equal(cfg32(f, CFG(max_write_zeroes_seg)), 1);
	assert_int_equal(cfg32(f, CFG(max_write_zeroes_sectors)), VIRTIO_BLK_MAX_DWZ_SECTORS);
	if (hf & F(DISCARD)) {
		assert_int_equal(cfg32(f, CFG(max_discard_seg)), 1);
		assert_int_equal(cfg32(f, CFG(max_discard_sectors)), VIRTIO_BLK_MAX_DWZ_SECTORS);
		assert_int_equal(cfg32(f, CFG(discard_sector_alignment)), 1);
	} else {
		assert_int_equal(cfg32(f, CFG(max_discard_seg)), 0);
	}
	/* Reads beyond the config space are refused (zeros), not a crash. */
	assert_int_equal(cfg32(f, VIRTIO_BLK_CONFIG_SIZE), 0);
	assert_int_equal(virtio_blk_default_queues(0), 1);
	assert_int_equal(virtio_blk_default_queues(4), 4);
	assert_int_equal(virtio_blk_default_queues(64), VIRTIO_BLK_MAX_QUEUES);
	fx_free(f);
}

static void test_write_lands_in_file(void **state)
{
	struct fx *f = fx_new();
	uint8_t src[1536], back[1536];
	struct seg data[2] = {{DATA, 1024, false}, {DATA + 0x3000, 512, false}};
	struct done d;

	(void)state;
	fx_start_all(f);
	fill(src, sizeof(src), 9);
	gw(f, DATA, src, 1024);
	gw(f, DATA + 0x3000, src + 1024, 512);
	d = do_req(f, 0, VIRTIO_BLK_T_OUT, 3, data, 2);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	assert_int_equal(d.len, 1);
	file_read(f, 3 * 512, back, sizeof(back));
	assert_memory_equal(back, src, sizeof(back));
	/* The neighbours are untouched. */
	{
		uint8_t want[512], got[512];
		uint8_t *img = malloc(DISK_SIZE);

		assert_non_null(img);
		fill(img, DISK_SIZE, 1);
		memcpy(want, img + 2 * 512, 512);
		file_read(f, 2 * 512, got, 512);
		assert_memory_equal(got, want, 512);
		memcpy(want, img + 6 * 512, 512);
		file_read(f, 6 * 512, got, 512);
		assert_memory_equal(got, want, 512);
		free(img);
	}
	assert_true(f->irqs[0] >= 1);
	assert_int_equal(f->blk.stats.writes, 1);
	assert_int_equal(f->blk.stats.bytes_written, 1536);
	fx_free(f);
}

static void test_read_lands_in_guest_and_marks_dirty(void **state)
{
	struct fx *f = fx_new();
	uint8_t src[2048], got[2048];
	struct seg data[3] = {
	    {DATA + 0x10000, 512, true}, {DATA + 0x21000, 1024, true}, {DATA + 0x35000, 512, true}};
	struct done d;

	(void)state;
	fx_start_all(f);
	fill(src, sizeof(src), 77);
	file_write(f, 10 * 512, src, sizeof(src));
	gm_set_dirty_tracking(&f->gm, true); /* clears the bitmap */
	assert_false(page_dirty(&f->gm, DATA + 0x21000));
	d = do_req(f, 0, VIRTIO_BLK_T_IN, 10, data, 3);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	assert_int_equal(d.len, 2048 + 1);
	gr(f, DATA + 0x10000, got, 512);
	gr(f, DATA + 0x21000, got + 512, 1024);
	gr(f, DATA + 0x35000, got + 1536, 512);
	assert_memory_equal(got, src, sizeof(src));
	assert_true(page_dirty(&f->gm, DATA + 0x10000));
	assert_true(page_dirty(&f->gm, DATA + 0x21000));
	assert_true(page_dirty(&f->gm, DATA + 0x35000));
	assert_false(page_dirty(&f->gm, DATA + 0x40000));
	assert_true(page_dirty(&f->gm, STATUS_BASE));
	assert_int_equal(f->blk.stats.reads, 1);
	assert_int_equal(f->blk.stats.bytes_read, 2048);
	fx_free(f);
}

/* The status byte may share the last writable buffer with the data. */
static void test_read_status_in_data_buffer(void **state)
{
	struct fx *f = fx_new();
	uint8_t src[512], got[512];
	struct seg s[2];
	uint16_t before;

	(void)state;
	fx_start_all(f);
	fill(src, sizeof(src), 5);
	file_write(f, 0, src, sizeof(src));
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false};
	s[1] = (struct seg){DATA, 513, true};
	before = used_idx(f, 0);
	ring_add(f, 0, s, 2);
	fx_kick(f, 0);
	run_until_used(f, 0, (uint16_t)(before + 1));
	gr(f, DATA, got, 512);
	assert_memory_equal(got, src, 512);
	assert_int_equal(g8(f, DATA + 512), VIRTIO_BLK_S_OK);
	/* And the header and data may share the first readable buffer. */
	{
		uint8_t buf[16 + 512];
		uint64_t st = put_status(f);
		struct {
			uint32_t type, ioprio;
			uint64_t sector;
		} h = {VIRTIO_BLK_T_OUT, 0, 7};

		memcpy(buf, &h, 16);
		fill(buf + 16, 512, 6);
		gw(f, DATA + 0x1000, buf, sizeof(buf));
		s[0] = (struct seg){DATA + 0x1000, sizeof(buf), false};
		s[1] = (struct seg){st, 1, true};
		assert_int_equal(do_chain(f, 0, s, 2, st), VIRTIO_BLK_S_OK);
		file_read(f, 7 * 512, got, 512);
		assert_memory_equal(got, buf + 16, 512);
	}
	fx_free(f);
}

static void test_flush(void **state)
{
	struct fx *f = fx_new();
	struct block_stats bs0, bs1;
	struct done d;

	(void)state;
	fx_start_all(f);
	block_get_stats(f->bdev, &bs0);
	d = do_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	block_get_stats(f->bdev, &bs1);
	assert_int_equal(bs1.flushes, bs0.flushes + 1);
	assert_int_equal(bs1.syncs, bs0.syncs + 1); /* writeback: a real fdatasync */
	assert_int_equal(f->blk.stats.flushes, 1);
	/* A flush carrying data is malformed. */
	{
		struct seg data = {DATA, 512, false};

		d = do_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, &data, 1);
		assert_int_equal(d.status, VIRTIO_BLK_S_IOERR);
	}
	fx_free(f);
}

/* Without a negotiated FLUSH the disk is write-through: each write is synced. */
static void test_write_through_without_flush(void **state)
{
	struct fx *f = fx_new();
	struct block_stats bs0, bs1;
	struct seg data = {DATA, 512, false};
	uint8_t src[512], back[512];

	(void)state;
	fx_start(f, f->blk.vdev.host_features & ~F(FLUSH));
	fill(src, sizeof(src), 3);
	gw(f, DATA, src, sizeof(src));
	block_get_stats(f->bdev, &bs0);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 1, &data, 1).status, VIRTIO_BLK_S_OK);
	block_get_stats(f->bdev, &bs1);
	assert_int_equal(bs1.writes, bs0.writes + 1);
	assert_int_equal(bs1.flushes, bs0.flushes + 1);
	file_read(f, 512, back, sizeof(back));
	assert_memory_equal(back, src, sizeof(src));
	/* With FLUSH negotiated, no sync rides along. */
	fx_start_all(f);
	block_get_stats(f->bdev, &bs0);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 1, &data, 1).status, VIRTIO_BLK_S_OK);
	block_get_stats(f->bdev, &bs1);
	assert_int_equal(bs1.flushes, bs0.flushes);
	fx_free(f);
}

static void test_get_id(void **state)
{
	struct fx *f = fx_new();
	uint8_t id[20], want[20] = {0};
	struct seg data = {DATA, 20, true};
	struct done d;

	(void)state;
	fx_start_all(f);
	memset(id, 0xaa, sizeof(id));
	gw(f, DATA, id, sizeof(id));
	d = do_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, &data, 1);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	gr(f, DATA, id, sizeof(id));
	memcpy(want, SERIAL, strlen(SERIAL));
	assert_memory_equal(id, want, sizeof(want)); /* zero-padded */
	assert_true(page_dirty(&f->gm, DATA));

	/* A shorter buffer gets what fits. */
	memset(id, 0xaa, sizeof(id));
	gw(f, DATA, id, sizeof(id));
	data.len = 6;
	d = do_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, &data, 1);
	assert_int_equal(d.status, VIRTIO_BLK_S_OK);
	gr(f, DATA, id, sizeof(id));
	assert_memory_equal(id, SERIAL, 6);
	assert_int_equal(id[6], 0xaa);
	fx_free(f);

	/* A 20-character serial fills the ID exactly; longer ones are cut. */
	{
		struct virtio_blk_params p = {.serial = "0123456789abcdefghijKLMN"};

		f = fx_new_with(&p, false);
		fx_start_all(f);
		data.len = 20;
		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, &data, 1).status,
				 VIRTIO_BLK_S_OK);
		gr(f, DATA, id, sizeof(id));
		assert_memory_equal(id, "0123456789abcdefghij", 20);
		fx_free(f);
	}
}

struct dwz {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

static struct done do_dwz(struct fx *f, uint32_t type, uint64_t sector, uint32_t num,
			  uint32_t flags)
{
	struct dwz seg = {sector, num, flags};
	struct seg s = {DATA + 0x80000, sizeof(seg), false};

	gw(f, s.gpa, &seg, sizeof(seg));
	return do_req(f, 0, type, 0, &s, 1);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_write_zeroes_and_discard(void **state)
{
	struct fx *f = fx_new();
	uint8_t buf[4096];
	uint8_t *img = malloc(DISK_SIZE);

	(void)state;
	assert_non_null(img);
	fill(img, DISK_SIZE, 1);
	fx_start_all(f);
	/* Write-zeroes of sectors 8..15 zeroes exactly those. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 0).status, VIRTIO_BLK_S_OK);
	file_read(f, 8 * 512, buf, 4096);
	assert_true(all_zero(buf, 4096));
	file_read(f, 7 * 512, buf, 512);
	assert_memory_equal(buf, img + 7 * 512, 512);
	file_read(f, 16 * 512, buf, 512);
	assert_memory_equal(buf, img + 16 * 512, 512);
	/* With the unmap flag too. */
	assert_int_equal(
	    do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 64, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP).status,
	    VIRTIO_BLK_S_OK);
	file_read(f, 64 * 512, buf, 4096);
	assert_true(all_zero(buf, 4096));
	assert_int_equal(f->blk.stats.write_zeroes, 2);

	/* Unknown flags: UNSUPP. Beyond the end or too long: IOERR. */
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 2).status, VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, SECTORS - 4, 8, 0).status,
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, UINT32_MAX, 0).status,
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, UINT64_MAX - 3, 8, 0).status,
			 VIRTIO_BLK_S_IOERR);

	if (f->blk.vdev.host_features & F(DISCARD)) {
		assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 128, 8, 0).status,
				 VIRTIO_BLK_S_OK);
		assert_int_equal(f->blk.stats.discards, 1);
		/* The unmap flag is not for discards. */
		assert_int_equal(
		    do_dwz(f, VIRTIO_BLK_T_DISCARD, 128, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)
			.status,
		    VIRTIO_BLK_S_UNSUPP);
		assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, SECTORS, 1, 0).status,
				 VIRTIO_BLK_S_IOERR);
	} else {
		print_message("note: the file system cannot punch holes; DISCARD not offered\n");
	}

	/* Two segments where one is allowed; half a segment: IOERR. */
	{
		struct dwz two[2] = {{0, 1, 0}, {2, 1, 0}};
		struct seg s = {DATA + 0x80000, sizeof(two), false};

		gw(f, s.gpa, two, sizeof(two));
		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, &s, 1).status,
				 VIRTIO_BLK_S_IOERR);
		s.len = 8;
		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, &s, 1).status,
				 VIRTIO_BLK_S_IOERR);
	}
	/* Not negotiated: UNSUPP. */
	fx_start(f, f->blk.vdev.host_features & ~(F(WRITE_ZEROES) | F(DISCARD)));
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 8, 8, 0).status, VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 8, 8, 0).status, VIRTIO_BLK_S_UNSUPP);
	free(img);
	fx_free(f);
}

static void test_readonly_refuses_writes(void **state)
{
	struct fx *f = fx_new_with(NULL, true);
	uint64_t hf = f->blk.vdev.host_features;
	uint8_t before[1024], after[1024], src[1024];
	struct seg w = {DATA, 1024, false}, r = {DATA + 0x1000, 1024, true};

	(void)state;
	assert_true(hf & F(RO));
	assert_false(hf & F(DISCARD));
	assert_false(hf & F(WRITE_ZEROES));
	fx_start_all(f);
	file_read(f, 4 * 512, before, sizeof(before));
	fill(src, sizeof(src), 42);
	gw(f, DATA, src, sizeof(src));
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 4, &w, 1).status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, 4, 2, 0).status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_dwz(f, VIRTIO_BLK_T_DISCARD, 4, 2, 0).status, VIRTIO_BLK_S_IOERR);
	file_read(f, 4 * 512, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	/* Reads and flushes work. */
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 4, &r, 1).status, VIRTIO_BLK_S_OK);
	gr(f, DATA + 0x1000, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0).status, VIRTIO_BLK_S_OK);
	assert_false(fx_broken(f));
	fx_free(f);
}

static void test_out_of_range(void **state)
{
	struct fx *f = fx_new();
	struct seg r = {DATA, 1024, true}, one = {DATA, 512, true};

	(void)state;
	fx_start_all(f);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, SECTORS, &one, 1).status,
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, SECTORS - 1, &r, 1).status,
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, SECTORS - 2, &r, 1).status, VIRTIO_BLK_S_OK);
	/* sector * 512 overflows 64 bits; sector + length wraps. */
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 1ULL << 55, &one, 1).status,
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, UINT64_MAX, &r, 1).status,
			 VIRTIO_BLK_S_IOERR);
	r.write = false;
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, &r, 1).status,
			 VIRTIO_BLK_S_IOERR);
	/* A zero-length read at the very end is in range. */
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, SECTORS, NULL, 0).status, VIRTIO_BLK_S_OK);
	assert_false(fx_broken(f));
	fx_free(f);
}

static void test_unknown_type_unsupp(void **state)
{
	struct fx *f = fx_new();
	struct seg d = {DATA, 512, true};

	(void)state;
	fx_start_all(f);
	assert_int_equal(do_req(f, 0, 0x55, 0, &d, 1).status, VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(f, 0, 10 /* GET_LIFETIME */, 0, &d, 1).status, VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(do_req(f, 0, 14 /* SECURE_ERASE */, 0, NULL, 0).status,
			 VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(f->blk.stats.unsupported, 3);
	assert_false(fx_broken(f));
	fx_free(f);
}

static void test_hostile_chains_answered(void **state)
{
	struct fx *f = fx_new();
	struct seg s[4];
	uint64_t st;
	uint8_t before[512], after[512];

	(void)state;
	fx_start_all(f);
	file_read(f, 0, before, sizeof(before));

	/* Header of 8 bytes. */
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 8, false};
	s[1] = (struct seg){st, 1, true};
	assert_int_equal(do_chain(f, 0, s, 2, st), VIRTIO_BLK_S_IOERR);

	/* Header in a writable buffer (nothing readable). */
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, true};
	s[1] = (struct seg){st, 1, true};
	assert_int_equal(do_chain(f, 0, s, 2, st), VIRTIO_BLK_S_IOERR);

	/* A read with readable data; a write with writable data. */
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false};
	s[1] = (struct seg){DATA, 512, false};
	s[2] = (struct seg){st, 1, true};
	assert_int_equal(do_chain(f, 0, s, 3, st), VIRTIO_BLK_S_IOERR);
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_OUT, 0), 16, false};
	s[1] = (struct seg){DATA, 512, true};
	s[2] = (struct seg){st, 1, true};
	assert_int_equal(do_chain(f, 0, s, 3, st), VIRTIO_BLK_S_IOERR);
	/* A write with data both ways. */
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_OUT, 0), 16, false};
	s[1] = (struct seg){DATA, 512, false};
	s[2] = (struct seg){DATA + 512, 512, true};
	s[3] = (struct seg){st, 1, true};
	assert_int_equal(do_chain(f, 0, s, 4, st), VIRTIO_BLK_S_IOERR);

	/* Lengths that are not whole sectors. */
	{
		struct seg d = {DATA, 100, true};

		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 0, &d, 1).status,
				 VIRTIO_BLK_S_IOERR);
		d.write = false;
		d.len = 513;
		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 0, &d, 1).status,
				 VIRTIO_BLK_S_IOERR);
	}
	/* GET_ID with readable data. */
	{
		struct seg d[2] = {{DATA, 4, false}, {DATA + 64, 20, true}};

		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_GET_ID, 0, d, 2).status,
				 VIRTIO_BLK_S_IOERR);
	}
	file_read(f, 0, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_false(fx_broken(f));
	assert_int_equal(f->blk.stats.bad_requests, 8);
	fx_free(f);
}

/* 126 data segments work; 127 are refused with IOERR. */
static void test_too_many_segments(void **state)
{
	struct fx *f = fx_new();
	struct seg s[VIRTIO_BLK_SEG_MAX + 3];
	uint8_t src[512], back[512];
	uint64_t st;
	unsigned n;

	(void)state;
	fx_start_all(f);
	fill(src, sizeof(src), 8);
	for (n = VIRTIO_BLK_SEG_MAX; n <= VIRTIO_BLK_SEG_MAX + 1; n++) {
		uint16_t before = used_idx(f, 0);

		st = put_status(f);
		s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_OUT, 20), 16, false};
		for (unsigned i = 0; i < n; i++) {
			gw(f, DATA + 512ULL * i, src, sizeof(src));
			s[1 + i] = (struct seg){DATA + 512ULL * i, 512, false};
		}
		s[n + 1] = (struct seg){st, 1, true};
		ring_add_indirect(f, 0, s, n + 2);
		fx_kick(f, 0);
		run_until_used(f, 0, (uint16_t)(before + 1));
		assert_int_equal(g8(f, st),
				 n <= VIRTIO_BLK_SEG_MAX ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR);
	}
	file_read(f, (20 + VIRTIO_BLK_SEG_MAX - 1) * 512ULL, back, sizeof(back));
	assert_memory_equal(back, src, sizeof(src));
	assert_false(fx_broken(f));
	fx_free(f);
}

/* A read longer than one back-end request can take: IOERR, nothing submitted. */
static void test_huge_length(void **state)
{
	struct fx *f = fx_new_image(4ULL << 30); /* sparse 4 GiB: the range is fine */
	struct seg s[102];
	struct block_stats bs;
	uint64_t st;

	(void)state;
	fx_open_blk(f, NULL, false, BLOCK_CACHE_WRITEBACK);
	fx_start_all(f);
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false};
	for (unsigned i = 0; i < 100; i++)
		s[1 + i] = (struct seg){HUGE, HUGE_LEN, true}; /* 2.4 GB in all */
	s[101] = (struct seg){st, 1, true};
	{
		uint16_t before = used_idx(f, 0);

		ring_add_indirect(f, 0, s, 102);
		fx_kick(f, 0);
		run_until_used(f, 0, (uint16_t)(before + 1));
	}
	assert_int_equal(g8(f, st), VIRTIO_BLK_S_IOERR);
	block_get_stats(f->bdev, &bs);
	assert_int_equal(bs.reads, 0);
	assert_false(fx_broken(f));
	fx_free(f);
}

/* No writable byte at all: nowhere to answer, the device needs a reset. */
static void test_no_status_byte_breaks_device(void **state)
{
	struct fx *f = fx_new();
	struct seg s[2];
	struct seg one = {DATA, 512, true};

	(void)state;
	fx_start_all(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_OUT, 0), 16, false};
	s[1] = (struct seg){DATA, 512, false};
	ring_add(f, 0, s, 2);
	fx_kick(f, 0);
	assert_true(fx_broken(f));
	assert_int_equal(used_idx(f, 0), 0);
	/* Further kicks do nothing; after a reset the device works again. */
	fx_kick(f, 0);
	fx_start_all(f);
	assert_false(f->blk.vdev.broken);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 0, &one, 1).status, VIRTIO_BLK_S_OK);
	fx_free(f);
}

/* The driver makes a head available twice while the first is still in flight. */
static void test_duplicate_head_breaks_device(void **state)
{
	struct fx *f = fx_new();
	struct ring *r;
	struct seg s[3];
	uint64_t st = 0;
	uint16_t head;

	(void)state;
	fx_start_all(f);
	r = &f->rings[0];
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false};
	s[1] = (struct seg){DATA, 512, true};
	s[2] = (struct seg){st, 1, true};
	head = ring_add(f, 0, s, 3);
	/* The same head again in the next available slot. */
	w16(f, r->avail + 4 + 2ULL * (r->avail_idx % RING_SIZE), head);
	r->avail_idx++;
	w16(f, r->avail + 2, r->avail_idx);
	fx_kick(f, 0); /* the first is submitted, completions not yet processed */
	assert_true(fx_broken(f));
	/* Its completion is not given to a broken device; reset waits for it. */
	virtio_device_lock(&f->blk.vdev);
	virtio_set_status(&f->blk.vdev, 0);
	virtio_device_unlock(&f->blk.vdev);
	assert_int_equal(blk_inflight_for_test(&f->blk), 0);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(g8(f, st), 0xee);
	fx_free(f);
}

/* Reset with a read in flight: the reset waits, nothing is written into the rings. */
static void test_reset_drains_in_flight(void **state)
{
	struct fx *f = fx_new();
	struct seg s[3];
	uint8_t src[4096], got[4096];
	uint64_t st;

	(void)state;
	fx_start_all(f);
	fill(src, sizeof(src), 21);
	file_write(f, 0, src, sizeof(src));
	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false};
	s[1] = (struct seg){DATA + 0x50000, 4096, true};
	s[2] = (struct seg){st, 1, true};
	ring_add(f, 0, s, 3);
	fx_kick(f, 0);
	assert_int_equal(blk_inflight_for_test(&f->blk), 1);
	gm_set_dirty_tracking(&f->gm, true);
	virtio_device_lock(&f->blk.vdev);
	virtio_set_status(&f->blk.vdev, 0);
	virtio_device_unlock(&f->blk.vdev);
	assert_int_equal(blk_inflight_for_test(&f->blk), 0);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(g8(f, st), 0xee);
	assert_int_equal(f->blk.stats.dropped, 1);
	/* The data did land (the kernel wrote it) and is marked dirty. */
	gr(f, DATA + 0x50000, got, sizeof(got));
	assert_memory_equal(got, src, sizeof(src));
	assert_true(page_dirty(&f->gm, DATA + 0x50000));
	/* Nothing shows up later either. */
	event_loop_run_once(&f->loop, 0);
	event_loop_run_once(&f->loop, 0);
	assert_int_equal(used_idx(f, 0), 0);
	assert_int_equal(g8(f, st), 0xee);
	/* And the device works after the driver sets it up again. */
	fx_start_all(f);
	{
		struct seg d = {DATA, 512, true};

		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 0, &d, 1).status, VIRTIO_BLK_S_OK);
	}
	fx_free(f);
}

static void test_multiqueue(void **state)
{
	struct virtio_blk_params p = {.num_queues = 4};
	struct fx *f = fx_new_with(&p, false);
	uint8_t src[512], got[512];

	(void)state;
	assert_true(f->blk.vdev.host_features & F(MQ));
	assert_int_equal(f->blk.vdev.num_queues, 4);
	assert_int_equal(cfg16(f, CFG(num_queues)), 4);
	fx_start_all(f);
	for (unsigned q = 0; q < 4; q++) {
		struct seg w = {DATA + 0x1000 * q, 512, false};

		fill(src, sizeof(src), 100 + q);
		gw(f, w.gpa, src, sizeof(src));
		assert_int_equal(do_req(f, q, VIRTIO_BLK_T_OUT, 100 + q, &w, 1).status,
				 VIRTIO_BLK_S_OK);
		assert_int_equal(used_idx(f, q), 1);
		assert_int_equal(f->irqs[q], 1);
	}
	/* Each queue's request landed where it said. */
	for (unsigned q = 0; q < 4; q++) {
		fill(src, sizeof(src), 100 + q);
		file_read(f, (100 + q) * 512ULL, got, sizeof(got));
		assert_memory_equal(got, src, sizeof(src));
	}
	/* Requests on several queues at once, one kick each, completions mixed. */
	{
		uint64_t st[4];

		for (unsigned q = 0; q < 4; q++) {
			struct seg s[3];

			st[q] = put_status(f);
			s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 100 + q), 16, false};
			s[1] = (struct seg){DATA + 0x10000 + 0x1000 * q, 512, true};
			s[2] = (struct seg){st[q], 1, true};
			ring_add(f, q, s, 3);
			fx_kick(f, q);
		}
		for (unsigned q = 0; q < 4; q++) {
			run_until_used(f, q, 2);
			assert_int_equal(g8(f, st[q]), VIRTIO_BLK_S_OK);
			fill(src, sizeof(src), 100 + q);
			gr(f, DATA + 0x10000 + 0x1000 * q, got, sizeof(got));
			assert_memory_equal(got, src, sizeof(src));
		}
	}
	/* Too many queues are refused. */
	{
		struct virtio_blk b;
		struct virtio_blk_params bad = {.bdev = f->bdev, .num_queues = 17};
		char err[128];

		assert_int_equal(virtio_blk_init(&b, &bad, &f->gm, NULL, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, "queues"));
	}
	fx_free(f);
}

/* One operation per 20 ms (bucket of 1): the second request waits for the timer. */
static void test_rate_limit_throttles_and_resumes(void **state)
{
	struct token_bucket_config ops = {.size = 1, .refill_time_ms = 20};
	struct virtio_blk_params p = {.ops_bucket = &ops};
	struct fx *f = fx_new_with(&p, false);
	struct itimerspec its;
	struct seg s[3];
	uint64_t st[3];

	(void)state;
	fx_start_all(f);
	for (unsigned i = 0; i < 3; i++) {
		st[i] = put_status(f);
		s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, i), 16, false};
		s[1] = (struct seg){DATA + 0x1000 * i, 512, true};
		s[2] = (struct seg){st[i], 1, true};
		ring_add(f, 0, s, 3);
	}
	fx_kick(f, 0);
	/* The first passes; the second is held, the third not even taken. */
	assert_true(f->blk.throttled);
	assert_int_equal(f->blk.stats.throttled, 1);
	assert_int_equal(blk_inflight_for_test(&f->blk), 1);
	assert_int_equal(f->blk.vdev.vqs[0].last_avail_idx, 2);
	assert_int_equal(timerfd_gettime(f->blk.timer_fd, &its), 0);
	assert_true(its.it_value.tv_sec != 0 || its.it_value.tv_nsec != 0);
	run_until_used(f, 0, 1);
	assert_int_equal(g8(f, st[0]), VIRTIO_BLK_S_OK);
	assert_int_equal(g8(f, st[1]), 0xee);
	/* Kicks while throttled change nothing. */
	fx_kick(f, 0);
	assert_int_equal(blk_inflight_for_test(&f->blk), 0);
	/* 20 ms later one token is back: the timer lets the second through. */
	f->clock_ns += 20 * 1000000ULL;
	run_until_used(f, 0, 2);
	assert_int_equal(g8(f, st[1]), VIRTIO_BLK_S_OK);
	assert_int_equal(g8(f, st[2]), 0xee);
	f->clock_ns += 20 * 1000000ULL;
	run_until_used(f, 0, 3);
	assert_int_equal(g8(f, st[2]), VIRTIO_BLK_S_OK);
	assert_int_equal(f->blk.stats.throttled, 2);
	fx_free(f);
}

/* Bytes: 4 KiB per 50 ms. A held request is dropped by a reset, not run. */
static void test_rate_limit_bytes_and_reset(void **state)
{
	struct token_bucket_config bytes = {.size = 4096, .refill_time_ms = 50};
	struct virtio_blk_params p = {.bytes_bucket = &bytes};
	struct fx *f = fx_new_with(&p, false);
	struct seg s[3];
	uint64_t st[2];
	struct block_stats bs;

	(void)state;
	fx_start_all(f);
	for (unsigned i = 0; i < 2; i++) {
		st[i] = put_status(f);
		s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 0), 16, false};
		s[1] = (struct seg){DATA + 0x1000 * i, 4096, true};
		s[2] = (struct seg){st[i], 1, true};
		ring_add(f, 0, s, 3);
	}
	fx_kick(f, 0);
	assert_true(f->blk.throttled);
	run_until_used(f, 0, 1);
	/* Save gives the held request back to the ring. */
	{
		struct virtio_blk_state vs;
		char err[160];

		assert_int_equal(virtio_blk_save(&f->blk, &vs), 0);
		assert_int_equal(f->blk.vdev.vqs[0].last_avail_idx, 1);
		assert_null(f->blk.queues[0].held);
		assert_int_equal(virtio_blk_check_state(&f->blk, &vs, err, sizeof(err)), 0);
		vs.capacity++;
		assert_int_equal(virtio_blk_check_state(&f->blk, &vs, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "sectors"));
	}
	virtio_device_lock(&f->blk.vdev);
	virtio_set_status(&f->blk.vdev, 0);
	virtio_device_unlock(&f->blk.vdev);
	assert_false(f->blk.throttled);
	block_get_stats(f->bdev, &bs);
	assert_int_equal(bs.reads, 1);
	assert_int_equal(g8(f, st[1]), 0xee);
	fx_free(f);
}

/* Interrupts follow EVENT_IDX: none while used_event says not yet. */
static void test_event_idx_suppresses_interrupts(void **state)
{
	struct fx *f = fx_new();
	struct seg d = {DATA, 512, true};

	(void)state;
	fx_start_all(f);
	assert_true(virtio_has_feature(&f->blk.vdev, VIRTIO_F_RING_EVENT_IDX));
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 0, &d, 1).status, VIRTIO_BLK_S_OK);
	assert_int_equal(f->irqs[0], 1);
	/* used_event = 2: no interrupt for the used index going 1 -> 2, one for 2 -> 3. */
	w16(f, f->rings[0].avail + 4 + 2ULL * RING_SIZE, 2);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 0, &d, 1).status, VIRTIO_BLK_S_OK);
	assert_int_equal(f->irqs[0], 1);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 0, &d, 1).status, VIRTIO_BLK_S_OK);
	assert_int_equal(f->irqs[0], 2);
	fx_free(f);
}

/* The same through the thread-pool engine: round trip, and a reset that waits for a worker. */
static void test_threads_engine(void **state)
{
	struct fx *f;
	uint8_t src[4096], got[4096];
	struct seg w = {DATA, 4096, false}, s[3];
	uint64_t st;

	(void)state;
	engine = BLOCK_ENGINE_THREADS;
	f = fx_new();
	engine = BLOCK_ENGINE_AUTO;
	assert_int_equal(f->blk.info.engine, BLOCK_ENGINE_THREADS);
	fx_start_all(f);
	fill(src, sizeof(src), 60);
	gw(f, DATA, src, sizeof(src));
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_OUT, 40, &w, 1).status, VIRTIO_BLK_S_OK);
	file_read(f, 40 * 512, got, sizeof(got));
	assert_memory_equal(got, src, sizeof(src));

	st = put_status(f);
	s[0] = (struct seg){put_hdr(f, VIRTIO_BLK_T_IN, 40), 16, false};
	s[1] = (struct seg){DATA + 0x60000, 4096, true};
	s[2] = (struct seg){st, 1, true};
	ring_add(f, 0, s, 3);
	fx_kick(f, 0);
	virtio_device_lock(&f->blk.vdev);
	virtio_set_status(&f->blk.vdev, 0);
	virtio_device_unlock(&f->blk.vdev);
	assert_int_equal(blk_inflight_for_test(&f->blk), 0);
	assert_int_equal(g8(f, st), 0xee);
	gr(f, DATA + 0x60000, got, sizeof(got));
	assert_memory_equal(got, src, sizeof(src));
	fx_free(f);
}

/* The host's disk fails a request (the image shrank under the VM): IOERR, counted. */
static void test_backend_error_is_ioerr(void **state)
{
	struct fx *f = fx_new();
	struct seg d = {DATA, 512, true};

	(void)state;
	fx_start_all(f);
	assert_int_equal(ftruncate(f->fd, 0), 0);
	assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 4, &d, 1).status, VIRTIO_BLK_S_IOERR);
	assert_int_equal(f->blk.stats.io_errors, 1);
	assert_int_equal(f->blk.stats.reads, 0);
	assert_false(fx_broken(f));
	fx_free(f);
}

/* A long run of requests is taken in batches; the rest continues from the event loop. */
static void test_batch_continues_from_loop(void **state)
{
	struct fx *f = fx_new();
	uint64_t st = put_status(f);
	struct seg s[2] = {{put_hdr(f, 0x77, 0), 16, false}, {st, 1, true}};

	(void)state;
	fx_start_all(f);
	for (unsigned i = 0; i < 100; i++)
		ring_add(f, 0, s, 2);
	fx_kick(f, 0);
	assert_int_equal(used_idx(f, 0), VIRTIO_BLK_BATCH);
	assert_true(f->blk.queues[0].pending);
	run_until_used(f, 0, 100);
	assert_int_equal(f->blk.stats.unsupported, 100);
	assert_int_equal(g8(f, st), VIRTIO_BLK_S_UNSUPP);
	fx_free(f);
}

/* The device opens the image itself from a block_config, and says why it cannot. */
static void test_open_from_config(void **state)
{
	struct fx *f = fx_new_image(DISK_SIZE);
	struct block_config cfg = {.path = f->path, .cache = BLOCK_CACHE_UNSAFE};
	struct virtio_blk_params p = {.config = &cfg, .serial = "x"};
	struct block_config missing = {.path = "/nonexistent/disk.img"};
	struct virtio_blk b;
	char err[256];

	(void)state;
	assert_int_equal(virtio_blk_init(&f->blk, &p, &f->gm, &f->loop, err, sizeof(err)), 0);
	f->blk_up = true;
	f->nq = 1;
	f->blk.vdev.notify_queue = on_notify_queue;
	f->blk.vdev.transport = f;
	assert_true(f->blk.owns_bdev);
	fx_start_all(f);
	{
		struct seg d = {DATA, 512, true};

		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 1, &d, 1).status, VIRTIO_BLK_S_OK);
		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_FLUSH, 0, NULL, 0).status,
				 VIRTIO_BLK_S_OK);
	}
	p.config = &missing;
	assert_true(virtio_blk_init(&b, &p, &f->gm, &f->loop, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "/nonexistent/disk.img"));
	p.config = NULL;
	assert_int_equal(virtio_blk_init(&b, &p, &f->gm, &f->loop, err, sizeof(err)), -EINVAL);
	fx_free(f);
}

/* cache=none: blk_size is the O_DIRECT alignment, and misaligned requests get IOERR. */
static void test_direct_block_size(void **state)
{
	struct fx *f = fx_new_image(DISK_SIZE);
	struct block_config cfg = {.path = f->path, .cache = BLOCK_CACHE_NONE};
	struct block_dev *probe;
	char err[256];
	uint32_t lbs;

	(void)state;
	probe = block_open(&cfg, err, sizeof(err));
	if (!probe) {
		print_message("skipped: %s\n", err);
		fx_free(f);
		skip();
	}
	block_close(probe);
	fx_open_blk(f, NULL, false, BLOCK_CACHE_NONE);
	lbs = f->blk.info.logical_block_size;
	assert_int_equal(cfg32(f, CFG(blk_size)), lbs);
	fx_start_all(f);
	{
		struct seg d = {DATA, lbs, true};
		uint8_t src[4096], got[4096];

		fill(src, lbs, 50);
		file_write(f, 2 * lbs, src, lbs);
		assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 2 * lbs / 512, &d, 1).status,
				 VIRTIO_BLK_S_OK);
		gr(f, DATA, got, lbs);
		assert_memory_equal(got, src, lbs);
		if (lbs > 512) {
			d.len = 512;
			assert_int_equal(do_req(f, 0, VIRTIO_BLK_T_IN, 1, &d, 1).status,
					 VIRTIO_BLK_S_IOERR);
		}
	}
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_and_features),
	    cmocka_unit_test(test_write_lands_in_file),
	    cmocka_unit_test(test_read_lands_in_guest_and_marks_dirty),
	    cmocka_unit_test(test_read_status_in_data_buffer),
	    cmocka_unit_test(test_flush),
	    cmocka_unit_test(test_write_through_without_flush),
	    cmocka_unit_test(test_get_id),
	    cmocka_unit_test(test_write_zeroes_and_discard),
	    cmocka_unit_test(test_readonly_refuses_writes),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_unknown_type_unsupp),
	    cmocka_unit_test(test_hostile_chains_answered),
	    cmocka_unit_test(test_too_many_segments),
	    cmocka_unit_test(test_huge_length),
	    cmocka_unit_test(test_no_status_byte_breaks_device),
	    cmocka_unit_test(test_duplicate_head_breaks_device),
	    cmocka_unit_test(test_reset_drains_in_flight),
	    cmocka_unit_test(test_multiqueue),
	    cmocka_unit_test(test_rate_limit_throttles_and_resumes),
	    cmocka_unit_test(test_rate_limit_bytes_and_reset),
	    cmocka_unit_test(test_event_idx_suppresses_interrupts),
	    cmocka_unit_test(test_threads_engine),
	    cmocka_unit_test(test_backend_error_is_ioerr),
	    cmocka_unit_test(test_batch_continues_from_loop),
	    cmocka_unit_test(test_open_from_config),
	    cmocka_unit_test(test_direct_block_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
