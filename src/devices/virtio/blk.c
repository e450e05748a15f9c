/* SPDX-License-Identifier: MIT */
/* virtio-blk over the block back end: see blk.h. */
#include "devices/virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_blk.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define BF(x) VIRTIO_BIT(VIRTIO_BLK_F_##x)

#define SECTOR	    512ULL
#define BLK_HDR_LEN 16 /* struct virtio_blk_outhdr */
#define BLK_SEG_LEN 16 /* struct virtio_blk_discard_write_zeroes */

/* The config space as the driver reads it (virtio 1.2, 5.2.4), little-endian. */
struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp;
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

_Static_assert(sizeof(struct blk_config) == VIRTIO_BLK_CONFIG_SIZE, "config size");
_Static_assert(offsetof(struct blk_config, blk_size) ==
		   offsetof(struct virtio_blk_config, blk_size),
	       "blk_size offset");
_Static_assert(offsetof(struct blk_config, num_queues) ==
		   offsetof(struct virtio_blk_config, num_queues),
	       "num_queues offset");
_Static_assert(offsetof(struct blk_config, write_zeroes_may_unmap) ==
		   offsetof(struct virtio_blk_config, write_zeroes_may_unmap),
	       "write_zeroes_may_unmap offset");

struct blk_hdr {
	uint32_t type;
	uint32_t ioprio;
	uint64_t sector;
};

struct blk_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

_Static_assert(sizeof(struct blk_hdr) == BLK_HDR_LEN, "header size");
_Static_assert(sizeof(struct blk_seg) == BLK_SEG_LEN, "segment size");

static struct virtio_blk *to_blk(struct virtio_device *dev)
{
	return dev->priv;
}

/* Whether completions may still be given to the guest. */
static bool blk_running(const struct virtio_blk *b)
{
	return b->vdev.active && !b->vdev.broken && !b->resetting;
}

static unsigned blk_inflight(const struct virtio_blk *b)
{
	unsigned n = 0;

	for (unsigned i = 0; i < b->num_queues; i++)
		n += b->queues[i].inflight;
	return n;
}

/* ---- completing requests ------------------------------------------------------ */

/* Interrupt the driver for every queue that got used entries (EVENT_IDX rules apply). */
static void blk_notify_pushed(struct virtio_blk *b)
{
	for (unsigned i = 0; i < b->num_queues; i++) {
		struct virtio_blk_queue *q = &b->queues[i];

		if (!q->pushed)
			continue;
		q->pushed = false;
		virtio_notify(&b->vdev, q->index);
	}
}

/*
 * Answer a chain straight away (nothing of it is kept): status into its last
 * writable byte, used entry. The device is running (the caller popped it).
 */
static void blk_answer(struct virtio_blk *b, struct virtio_blk_queue *q, const struct vq_chain *c,
		       uint8_t status)
{
	vq_chain_write(c, c->in_bytes - 1, &status, 1);
	vq_push(&b->vdev.vqs[q->index], c->head, (uint32_t)c->in_bytes);
	q->pushed = true;
	if (status == VIRTIO_BLK_S_IOERR)
		b->stats.bad_requests++;
	else if (status == VIRTIO_BLK_S_UNSUPP)
		b->stats.unsupported++;
}

static void blk_refuse(struct virtio_blk *b, struct virtio_blk_queue *q, const struct vq_chain *c,
		       uint8_t status, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Answer a request the device will not carry out, and say why. */
static void blk_refuse(struct virtio_blk *b, struct virtio_blk_queue *q, const struct vq_chain *c,
		       uint8_t status, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_guest_error("virtio-blk: queue %u request %u: %s (%s)", q->index, c->head, msg,
			status == VIRTIO_BLK_S_UNSUPP ? "unsupported" : "I/O error");
	blk_answer(b, q, c, status);
}

/*
 * A request of the table is done (carried out, or refused by the back end):
 * mark what the I/O wrote into guest memory, then give it back to the
 * driver unless the device was reset or broke meanwhile, and free its
 * table entry.
 */
static void blk_finish(struct virtio_blk *b, struct virtio_blk_req *req, uint8_t status)
{
	struct virtio_blk_queue *q = req->q;

	if (req->type == VIRTIO_BLK_T_IN) {
		/* The kernel or an I/O thread wrote these pages, perhaps only in part. */
		for (unsigned i = 0; i < req->niov; i++)
			gm_mark_dirty(b->vdev.gm, req->gpa[i], req->iov[i].iov_len);
	}
	if (blk_running(b)) {
		*req->status = status;
		gm_mark_dirty(b->vdev.gm, req->status_gpa, 1);
		vq_push(&b->vdev.vqs[q->index], req->head, req->used_len);
		q->pushed = true;
	} else {
		b->stats.dropped++;
	}
	req->busy = false;
}

/* Log failures of the host's disk, sparingly: the 1st, 2nd, 4th, 8th... */
static void blk_log_io_error(struct virtio_blk *b, const struct virtio_blk_req *req, int err)
{
	uint64_t n = ++b->stats.io_errors;

	if (n & (n - 1))
		return;
	log_warn("virtio-blk: request type %u on the disk failed: %s (%llu failure%s so far)",
		 req->type, strerror(-err), (unsigned long long)n, n == 1 ? "" : "s");
}

static void blk_count_done(struct virtio_blk *b, const struct virtio_blk_req *req)
{
	struct virtio_blk_stats *st = &b->stats;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
		st->reads++;
		st->bytes_read += req->bytes;
		break;
	case VIRTIO_BLK_T_OUT:
		st->writes++;
		st->bytes_written += req->bytes;
		break;
	case VIRTIO_BLK_T_FLUSH:
		st->flushes++;
		break;
	case VIRTIO_BLK_T_DISCARD:
		st->discards++;
		break;
	case VIRTIO_BLK_T_WRITE_ZEROES:
		st->write_zeroes++;
		break;
	default:
		break;
	}
}

/* The back end's done callback (event loop, or a reset's drain; device lock held). */
static void blk_io_done(struct block_req *io, int result)
{
	struct virtio_blk_req *req = io->opaque;
	struct virtio_blk_queue *q = req->q;
	struct virtio_blk *b = q->blk;

	if (result >= 0 && req->flush_after && !b->resetting) {
		/* Write-through: the write is done, now make it stable. */
		req->flush_after = false;
		memset(io, 0, sizeof(*io));
		io->op = BLOCK_OP_FLUSH;
		io->done = blk_io_done;
		io->opaque = req;
		result = block_submit(b->bdev, io);
		if (result == 0)
			return;
	}
	req->submitted = false;
	q->inflight--;
	if (result < 0)
		blk_log_io_error(b, req, result);
	else
		blk_count_done(b, req);
	blk_finish(b, req, result < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
}

/* Hand a prepared request to the back end. */
static void blk_start(struct virtio_blk *b, struct virtio_blk_req *req)
{
	int r = block_submit(b->bdev, &req->io);

	if (r) {
		/* Refused before any I/O (e.g. no memory for a bounce buffer). */
		blk_log_io_error(b, req, r);
		blk_finish(b, req, VIRTIO_BLK_S_IOERR);
		return;
	}
	req->submitted = true;
	req->q->inflight++;
}

/* ---- parsing requests ------------------------------------------------------------ */

/*
 * Whether [sector, sector + bytes / 512) lies within the capacity and on
 * logical-block boundaries. bytes is a multiple of 512.
 */
static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	if (sector > b->capacity || bytes / SECTOR > b->capacity - sector)
		return false;
	/* sector <= capacity, so sector * 512 cannot overflow. */
	return (sector * SECTOR) % b->blk_size == 0 && bytes % b->blk_size == 0;
}

/*
 * Copy len bytes of the chain's buffers [first, first + count), starting
 * skip bytes in, into req's iovecs. Returns false when they need more than
 * VIRTIO_BLK_SEG_MAX segments.
 */
static bool blk_collect(struct virtio_blk_req *req, const struct vq_chain *c, unsigned first,
			unsigned count, uint64_t skip, uint64_t len)
{
	req->niov = 0;
	for (unsigned i = first; i < first + count && len; i++) {
		uint64_t n = c->iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		n = MIN(n - skip, len);
		if (req->niov == VIRTIO_BLK_SEG_MAX)
			return false;
		req->iov[req->niov].iov_base = (uint8_t *)c->iov[i].iov_base + skip;
		req->iov[req->niov].iov_len = (size_t)n;
		req->gpa[req->niov] = c->gpa[i] + skip;
		req->niov++;
		len -= n;
		skip = 0;
	}
	return true;
}

/* READ (IN) and WRITE (OUT). Returns true when req is ready to start. */
static bool blk_parse_rw(struct virtio_blk *b, struct virtio_blk_queue *q,
			 struct virtio_blk_req *req, const struct vq_chain *c, uint64_t sector)
{
	bool write = req->type == VIRTIO_BLK_T_OUT;
	uint64_t data_out = c->out_bytes - BLK_HDR_LEN, data_in = c->in_bytes - 1;
	uint64_t len = write ? data_out : data_in;
	bool ok;

	if (write ? data_in : data_out) {
		blk_refuse(
		    b, q, c, VIRTIO_BLK_S_IOERR, "%s with %llu data bytes in the wrong direction",
		    write ? "write" : "read", (unsigned long long)(write ? data_in : data_out));
		return false;
	}
	if (write && b->info.readonly) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR, "write to a read-only disk");
		return false;
	}
	if (len % SECTOR || len > BLOCK_MAX_LEN) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR, "data length %llu",
			   (unsigned long long)len);
		return false;
	}
	if (!blk_range_ok(b, sector, len)) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR,
			   "sector %llu + %llu bytes outside a disk of %llu sectors "
			   "(or not on %u-byte blocks)",
			   (unsigned long long)sector, (unsigned long long)len,
			   (unsigned long long)b->capacity, b->blk_size);
		return false;
	}
	if (write)
		ok = blk_collect(req, c, 0, c->nr_out, BLK_HDR_LEN, len);
	else
		ok = blk_collect(req, c, c->nr_out, c->nr_in, 0, len);
	if (!ok) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR, "more than %u data segments",
			   VIRTIO_BLK_SEG_MAX);
		return false;
	}
	req->bytes = len;
	req->io.op = write ? BLOCK_OP_WRITE : BLOCK_OP_READ;
	req->io.offset = sector * SECTOR;
	req->io.len = len;
	req->io.iov = req->iov;
	req->io.iovcnt = req->niov;
	req->flush_after = write && !virtio_has_feature(&b->vdev, VIRTIO_BLK_F_FLUSH);
	return true;
}

/* DISCARD and WRITE_ZEROES. Returns true when req is ready to start. */
static bool blk_parse_dwz(struct virtio_blk *b, struct virtio_blk_queue *q,
			  struct virtio_blk_req *req, const struct vq_chain *c)
{
	bool wz = req->type == VIRTIO_BLK_T_WRITE_ZEROES;
	const char *what = wz ? "write-zeroes" : "discard";
	uint64_t payload = c->out_bytes - BLK_HDR_LEN;
	uint32_t flags, num;
	struct blk_seg seg;
	uint64_t sector;

	/* A write of any kind to a read-only disk fails, negotiated or not. */
	if (b->info.readonly) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR, "%s on a read-only disk", what);
		return false;
	}
	if (!virtio_has_feature(&b->vdev, wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD)) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_UNSUPP, "%s was not negotiated", what);
		return false;
	}
	if (c->in_bytes != 1) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR, "%s with %llu writable bytes (needs 1)",
			   what, (unsigned long long)c->in_bytes);
		return false;
	}
	if (payload != BLK_SEG_LEN) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR,
			   "%s with %llu payload bytes (one %u-byte segment)", what,
			   (unsigned long long)payload, BLK_SEG_LEN);
		return false;
	}
	vq_chain_read(c, BLK_HDR_LEN, &seg, sizeof(seg));
	sector = le64toh(seg.sector);
	num = le32toh(seg.num_sectors);
	flags = le32toh(seg.flags);
	if ((flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
	    (!wz && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_UNSUPP, "%s flags %#x", what, flags);
		return false;
	}
	if (num > VIRTIO_BLK_MAX_DWZ_SECTORS || !blk_range_ok(b, sector, num * SECTOR)) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR,
			   "%s of %u sectors at %llu outside a disk of %llu sectors "
			   "(or too long, or not on %u-byte blocks)",
			   what, num, (unsigned long long)sector, (unsigned long long)b->capacity,
			   b->blk_size);
		return false;
	}
	req->niov = 0;
	req->io.op = wz ? BLOCK_OP_WRITE_ZEROES : BLOCK_OP_DISCARD;
	req->io.offset = sector * SECTOR;
	req->io.len = num * SECTOR;
	if (wz && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP))
		req->io.flags = BLOCK_REQ_MAY_UNMAP;
	req->flush_after = wz && !virtio_has_feature(&b->vdev, VIRTIO_BLK_F_FLUSH);
	return true;
}

/*
 * Check the chain just popped into q->chain. Returns its table entry,
 * prepared and marked busy, when there is I/O to do; NULL when the chain
 * was answered at once (GET_ID, refusals) or the device broke.
 */
static struct virtio_blk_req *blk_parse(struct virtio_blk *b, struct virtio_blk_queue *q)
{
	struct virtio_device *dev = &b->vdev;
	const struct vq_chain *c = &q->chain;
	const struct iovec *last;
	struct virtio_blk_req *req;
	struct blk_hdr hdr;
	uint64_t sector;
	bool ok;

	if (c->nr_in == 0) {
		virtio_device_error(dev, "queue %u: request %u has no writable status byte",
				    q->index, c->head);
		return NULL;
	}
	if (NEVER(c->head >= VIRTIO_BLK_QUEUE_SIZE)) {
		virtio_device_error(dev, "queue %u: descriptor head %u out of range", q->index,
				    c->head);
		return NULL;
	}
	req = &q->reqs[c->head];
	if (req->busy) {
		virtio_device_error(dev,
				    "queue %u: descriptor %u made available again while the device "
				    "still owns it",
				    q->index, c->head);
		return NULL;
	}
	if (c->out_bytes < BLK_HDR_LEN) {
		blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR,
			   "%llu readable bytes, less than the 16-byte header",
			   (unsigned long long)c->out_bytes);
		return NULL;
	}
	/* One copy of the header: the guest may change its memory meanwhile. */
	vq_chain_read(c, 0, &hdr, sizeof(hdr));
	sector = le64toh(hdr.sector);

	memset(&req->io, 0, sizeof(req->io));
	req->io.done = blk_io_done;
	req->io.opaque = req;
	req->head = c->head;
	req->type = le32toh(hdr.type);
	req->used_len = (uint32_t)c->in_bytes;
	req->bytes = 0;
	req->niov = 0;
	req->flush_after = false;
	last = &c->iov[c->nr_out + c->nr_in - 1];
	req->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	req->status_gpa = c->gpa[c->nr_out + c->nr_in - 1] + last->iov_len - 1;

	switch (req->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		ok = blk_parse_rw(b, q, req, c, sector);
		break;
	case VIRTIO_BLK_T_FLUSH:
		ok = c->out_bytes == BLK_HDR_LEN && c->in_bytes == 1;
		if (!ok)
			blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR, "flush with data buffers");
		req->io.op = BLOCK_OP_FLUSH;
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (c->out_bytes != BLK_HDR_LEN) {
			blk_refuse(b, q, c, VIRTIO_BLK_S_IOERR, "GET_ID with readable data");
			return NULL;
		}
		vq_chain_write(c, 0, b->id, (size_t)MIN(c->in_bytes - 1, sizeof(b->id)));
		b->stats.get_ids++;
		blk_answer(b, q, c, VIRTIO_BLK_S_OK);
		return NULL;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		ok = blk_parse_dwz(b, q, req, c);
		break;
	default:
		/* Not a guest error: drivers probe optional commands this way. */
		log_debug("virtio-blk: queue %u: request type %u is not supported", q->index,
			  req->type);
		blk_answer(b, q, c, VIRTIO_BLK_S_UNSUPP);
		return NULL;
	}
	if (!ok)
		return NULL;
	req->busy = true;
	return req;
}

/* ---- serving queues ------------------------------------------------------------- */

static void blk_arm_timer(struct virtio_blk *b, uint64_t ns)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (ns == 0)
		ns = 1;
	its.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
	if (b->timer_fd >= 0)
		timerfd_settime(b->timer_fd, 0, &its, NULL);
}

static void blk_disarm_timer(struct virtio_blk *b)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (b->timer_fd >= 0)
		timerfd_settime(b->timer_fd, 0, &its, NULL);
}

/* Take the tokens req costs; false when the rate limiter says wait. */
static bool blk_admit(struct virtio_blk *b, const struct virtio_blk_req *req)
{
	return !b->rate_limited || rate_limiter_consume(&b->rl, 1, req->bytes);
}

/* Keep req until the rate limiter lets it pass; stop serving until the timer fires. */
static void blk_throttle(struct virtio_blk *b, struct virtio_blk_queue *q,
			 struct virtio_blk_req *req)
{
	q->held = req;
	b->throttled = true;
	b->throttled_since = now_ns();
	b->stats.throttled++;
	blk_arm_timer(b, rate_limiter_wait_ns(&b->rl, 1, req->bytes));
}

/* The rate limiter lets requests pass again: count the time they were held. */
static void blk_unthrottle(struct virtio_blk *b)
{
	if (b->throttled)
		b->stats.throttled_ns += now_ns() - b->throttled_since;
	b->throttled = false;
}

static void blk_kick_later(struct virtio_blk *b)
{
	uint64_t one = 1;
	ssize_t r;

	if (b->kick_fd < 0)
		return;
	r = write(b->kick_fd, &one, sizeof(one));
	(void)r;
}

/*
 * Take, check and start the requests of queue q until its ring is empty,
 * the rate limiter says wait, or a batch is done (the rest continues from
 * the event loop). Available-buffer notifications are off meanwhile.
 */
static void blk_serve_queue(struct virtio_blk *b, struct virtio_blk_queue *q)
{
	struct virtio_device *dev = &b->vdev;
	struct virtqueue *vq = &dev->vqs[q->index];
	unsigned budget = VIRTIO_BLK_BATCH;

	if (!blk_running(b) || !vq->ready)
		return;
	if (b->throttled) {
		q->pending = true; /* the timer serves it */
		return;
	}
	q->pending = false;
	block_batch_begin(b->bdev);
	vq_set_notification(vq, false);
	for (;;) {
		struct virtio_blk_req *req = q->held;
		int r;

		if (req) {
			if (!blk_admit(b, req)) {
				blk_throttle(b, q, req);
				break;
			}
			q->held = NULL;
			blk_start(b, req);
			continue;
		}
		if (budget == 0) {
			if (vq_has_available(vq)) {
				q->pending = true;
				blk_kick_later(b);
				break;
			}
		} else {
			budget--;
		}
		r = virtio_pop(dev, q->index, &q->chain);
		if (r < 0)
			break;
		if (r == 0) {
			if (vq_set_notification(vq, true)) {
				vq_set_notification(vq, false);
				continue;
			}
			break;
		}
		req = blk_parse(b, q);
		if (!req) {
			if (dev->broken)
				break;
			continue;
		}
		if (!blk_admit(b, req)) {
			blk_throttle(b, q, req);
			break;
		}
		blk_start(b, req);
	}
	block_batch_end(b->bdev);
	blk_notify_pushed(b);
}

/* Serve every queue with held or deferred work, round robin. */
static void blk_serve_pending(struct virtio_blk *b)
{
	unsigned start = b->next_queue;

	b->next_queue = (start + 1) % b->num_queues;
	for (unsigned i = 0; i < b->num_queues && !b->throttled; i++) {
		struct virtio_blk_queue *q = &b->queues[(start + i) % b->num_queues];

		if (q->held || q->pending)
			blk_serve_queue(b, q);
	}
}

/* ---- draining ------------------------------------------------------------------- */

/* Wait for every submitted request's completion (device lock held). */
static void blk_drain_locked(struct virtio_blk *b)
{
	while (blk_inflight(b)) {
		struct pollfd p = {.fd = block_completion_fd(b->bdev), .events = POLLIN};

		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			/* Only a broken fd could do this; waiting on would hang. */
			log_error("virtio-blk: waiting for the disk: %s", strerror(errno));
			break;
		}
		block_process_completions(b->bdev);
	}
}

/* ---- virtio_device_ops ---------------------------------------------------------- */

static void blk_config_read(struct virtio_device *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_blk *b = to_blk(dev);
	struct blk_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.capacity = htole64(b->capacity);
	cfg.size_max = htole32(VIRTIO_BLK_SIZE_MAX);
	cfg.seg_max = htole32(VIRTIO_BLK_SEG_MAX);
	cfg.blk_size = htole32(b->blk_size);
	cfg.num_queues = htole16((uint16_t)b->num_queues);
	if (dev->host_features & BF(DISCARD)) {
		cfg.max_discard_sectors = htole32(VIRTIO_BLK_MAX_DWZ_SECTORS);
		cfg.max_discard_seg = htole32(1);
		cfg.discard_sector_alignment = htole32(b->blk_size / (uint32_t)SECTOR);
	}
	if (dev->host_features & BF(WRITE_ZEROES)) {
		cfg.max_write_zeroes_sectors = htole32(VIRTIO_BLK_MAX_DWZ_SECTORS);
		cfg.max_write_zeroes_seg = htole32(1);
		cfg.write_zeroes_may_unmap = b->info.discard ? 1 : 0;
	}
	memcpy(data, (const uint8_t *)&cfg + offset, len);
}

static void blk_forget_queues(struct virtio_blk *b)
{
	for (unsigned i = 0; i < b->num_queues; i++) {
		struct virtio_blk_queue *q = &b->queues[i];

		if (q->held) {
			q->held->busy = false;
			q->held = NULL;
		}
		q->pending = false;
		q->pushed = false;
	}
	blk_unthrottle(b);
	blk_disarm_timer(b);
}

static int blk_activate(struct virtio_device *dev)
{
	struct virtio_blk *b = to_blk(dev);

	blk_forget_queues(b);
	/* Serve what the driver queued before DRIVER_OK (it may not kick again). */
	for (unsigned i = 0; i < b->num_queues; i++)
		b->queues[i].pending = true;
	blk_serve_pending(b);
	return 0;
}

static void blk_reset(struct virtio_device *dev)
{
	struct virtio_blk *b = to_blk(dev);

	/*
	 * Nothing may reach guest memory after this returns, and the table
	 * entries are about to be reused by the next driver: wait for the
	 * back end. Completions during the wait write nothing (resetting).
	 */
	b->resetting = true;
	blk_forget_queues(b);
	blk_drain_locked(b);
	b->resetting = false;
}

static void blk_queue_notify(struct virtio_device *dev, unsigned q)
{
	struct virtio_blk *b = to_blk(dev);

	if (q < b->num_queues)
		blk_serve_queue(b, &b->queues[q]);
}

/* ---- event handlers -------------------------------------------------------------- */

static bool blk_read_counter(int fd)
{
	uint64_t cnt;

	return read(fd, &cnt, sizeof(cnt)) == (ssize_t)sizeof(cnt);
}

static void blk_on_completion(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;

	(void)events;
	virtio_blk_process_completions(b);
}

static void blk_on_timer(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;

	(void)events;
	virtio_device_lock(&b->vdev);
	if (blk_read_counter(b->timer_fd) && b->throttled) {
		blk_unthrottle(b);
		blk_serve_pending(b);
	}
	virtio_device_unlock(&b->vdev);
}

static void blk_on_kick(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;

	(void)events;
	virtio_device_lock(&b->vdev);
	if (blk_read_counter(b->kick_fd))
		blk_serve_pending(b);
	virtio_device_unlock(&b->vdev);
}

/* ---- life cycle ------------------------------------------------------------------- */

unsigned virtio_blk_default_queues(unsigned ncpus)
{
	return MIN(MAX(ncpus, 1u), (unsigned)VIRTIO_BLK_MAX_QUEUES);
}

static void blk_free_queues(struct virtio_blk *b)
{
	if (!b->queues)
		return;
	for (unsigned i = 0; i < b->num_queues; i++) {
		struct virtio_blk_queue *q = &b->queues[i];

		vq_chain_destroy(&q->chain);
		free(q->reqs);
		free(q->iov_pool);
		free(q->gpa_pool);
	}
	free(b->queues);
	b->queues = NULL;
}

static int blk_alloc_queues(struct virtio_blk *b)
{
	b->queues = calloc(b->num_queues, sizeof(*b->queues));
	if (!b->queues)
		return -ENOMEM;
	for (unsigned i = 0; i < b->num_queues; i++) {
		struct virtio_blk_queue *q = &b->queues[i];

		q->blk = b;
		q->index = i;
		/* Room for any chain the ring rules allow, so oversized ones get IOERR. */
		if (vq_chain_init(&q->chain, VQ_MAX_SIZE))
			return -ENOMEM;
		q->reqs = calloc(VIRTIO_BLK_QUEUE_SIZE, sizeof(*q->reqs));
		q->iov_pool = calloc((size_t)VIRTIO_BLK_QUEUE_SIZE * VIRTIO_BLK_SEG_MAX,
				     sizeof(*q->iov_pool));
		q->gpa_pool = calloc((size_t)VIRTIO_BLK_QUEUE_SIZE * VIRTIO_BLK_SEG_MAX,
				     sizeof(*q->gpa_pool));
		if (!q->reqs || !q->iov_pool || !q->gpa_pool)
			return -ENOMEM;
		for (unsigned h = 0; h < VIRTIO_BLK_QUEUE_SIZE; h++) {
			q->reqs[h].q = q;
			q->reqs[h].head = (uint16_t)h;
			q->reqs[h].iov = q->iov_pool + (size_t)h * VIRTIO_BLK_SEG_MAX;
			q->reqs[h].gpa = q->gpa_pool + (size_t)h * VIRTIO_BLK_SEG_MAX;
		}
	}
	return 0;
}

static void blk_bucket(uint64_t rate, const struct token_bucket_config *given,
		       struct token_bucket_config *out)
{
	if (given) {
		*out = *given;
		return;
	}
	out->size = rate;
	out->one_time_burst = 0;
	out->refill_time_ms = rate ? 1000 : 0;
}

static uint64_t blk_features(const struct virtio_blk *b)
{
	uint64_t f = BF(SIZE_MAX) | BF(SEG_MAX) | BF(BLK_SIZE) | BF(FLUSH);

	if (b->num_queues > 1)
		f |= BF(MQ);
	if (b->info.readonly) {
		f |= BF(RO);
		return f;
	}
	if (b->info.discard)
		f |= BF(DISCARD);
	/* The back end always carries it out (zeroing or punching when it can). */
	f |= BF(WRITE_ZEROES);
	return f;
}

static void blk_unregister(struct virtio_blk *b)
{
	if (!b->loop)
		return;
	event_loop_remove(b->loop, block_completion_fd(b->bdev));
	event_loop_remove(b->loop, b->timer_fd);
	event_loop_remove(b->loop, b->kick_fd);
	b->loop = NULL;
}

static void blk_release(struct virtio_blk *b)
{
	blk_free_queues(b);
	if (b->timer_fd >= 0)
		close(b->timer_fd);
	if (b->kick_fd >= 0)
		close(b->kick_fd);
	b->timer_fd = b->kick_fd = -1;
	if (b->owns_bdev)
		block_close(b->bdev);
	b->bdev = NULL;
	b->owns_bdev = false;
}

int virtio_blk_init(struct virtio_blk *b, const struct virtio_blk_params *p,
		    struct guest_memory *mem, struct event_loop *loop, char *err, size_t errlen)
{
	struct token_bucket_config ops, bytes;
	size_t idlen;
	int r;

	memset(b, 0, sizeof(*b));
	b->timer_fd = b->kick_fd = -1;
	b->num_queues = p->num_queues ? p->num_queues : 1;
	if (b->num_queues > VIRTIO_BLK_MAX_QUEUES) {
		snprintf(err, errlen, "virtio-blk: %u queues (at most %u)", b->num_queues,
			 VIRTIO_BLK_MAX_QUEUES);
		return -EINVAL;
	}
	if (p->bdev) {
		b->bdev = p->bdev;
	} else if (p->config) {
		b->bdev = block_open(p->config, err, errlen);
		if (!b->bdev)
			return -EIO;
		b->owns_bdev = true;
	} else {
		snprintf(err, errlen, "virtio-blk: no disk image");
		return -EINVAL;
	}
	b->info = *block_get_info(b->bdev);
	b->blk_size = b->info.logical_block_size;
	if (NEVER(b->blk_size < SECTOR || (b->blk_size & (b->blk_size - 1))))
		b->blk_size = SECTOR;
	b->capacity = ALIGN_DOWN(b->info.size, (uint64_t)b->blk_size) / SECTOR;
	if (p->serial) {
		idlen = strnlen(p->serial, sizeof(b->id));
		memcpy(b->id, p->serial, idlen);
	}

	blk_bucket(p->iops, p->ops_bucket, &ops);
	blk_bucket(p->bps, p->bytes_bucket, &bytes);
	rate_limiter_init(&b->rl, &ops, &bytes);
	b->rate_limited = !rate_limiter_is_unlimited(&b->rl);

	r = blk_alloc_queues(b);
	if (r) {
		snprintf(err, errlen, "virtio-blk: out of memory");
		goto release;
	}
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	b->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->timer_fd < 0 || b->kick_fd < 0) {
		r = -errno;
		snprintf(err, errlen, "virtio-blk: cannot create its timer: %s", strerror(-r));
		goto release;
	}

	b->ops = (struct virtio_device_ops){
	    .name = "virtio-blk",
	    .device_id = VIRTIO_ID_BLOCK,
	    .num_queues = b->num_queues,
	    .queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
	    .features = blk_features(b),
	    .config_size = VIRTIO_BLK_CONFIG_SIZE,
	    .config_read = blk_config_read,
	    .config_write = NULL, /* no CONFIG_WCE: the config space is read-only */
	    .activate = blk_activate,
	    .reset = blk_reset,
	    .queue_notify = blk_queue_notify,
	};
	r = virtio_device_init(&b->vdev, &b->ops, b, mem, loop);
	if (r) {
		snprintf(err, errlen, "virtio-blk: cannot set up the device: %s", strerror(-r));
		goto release;
	}
	if (loop) {
		b->loop = loop;
		r = event_loop_add(loop, block_completion_fd(b->bdev), EPOLLIN, blk_on_completion,
				   b);
		if (r) {
			b->loop = NULL;
			snprintf(err, errlen, "virtio-blk: cannot watch the disk: %s",
				 strerror(-r));
			goto destroy_device;
		}
		r = event_loop_add(loop, b->timer_fd, EPOLLIN, blk_on_timer, b);
		r = r ?: event_loop_add(loop, b->kick_fd, EPOLLIN, blk_on_kick, b);
		if (r) {
			snprintf(err, errlen, "virtio-blk: cannot set up the event loop: %s",
				 strerror(-r));
			goto unregister;
		}
	}
	return 0;

unregister:
	blk_unregister(b);
destroy_device:
	virtio_device_destroy(&b->vdev);
release:
	blk_release(b);
	return r;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
	if (!b->vdev.vqs)
		return;
	virtio_device_lock(&b->vdev);
	virtio_device_reset(&b->vdev);
	virtio_device_unlock(&b->vdev);
	blk_unregister(b);
	virtio_device_destroy(&b->vdev);
	blk_release(b);
}

void virtio_blk_process_completions(struct virtio_blk *b)
{
	virtio_device_lock(&b->vdev);
	block_process_completions(b->bdev);
	blk_notify_pushed(b);
	virtio_device_unlock(&b->vdev);
}

void virtio_blk_drain(struct virtio_blk *b)
{
	virtio_device_lock(&b->vdev);
	blk_drain_locked(b);
	blk_notify_pushed(b);
	virtio_device_unlock(&b->vdev);
}

void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out)
{
	virtio_device_lock(&b->vdev);
	*out = b->stats;
	virtio_device_unlock(&b->vdev);
}

void virtio_blk_set_rate_limits(struct virtio_blk *b, const struct token_bucket_config *ops,
				const struct token_bucket_config *bytes)
{
	virtio_device_lock(&b->vdev);
	rate_limiter_update(&b->rl, ops, bytes);
	b->rate_limited = !rate_limiter_is_unlimited(&b->rl);
	virtio_device_unlock(&b->vdev);
}

int virtio_blk_save(struct virtio_blk *b, struct virtio_blk_state *s)
{
	virtio_device_lock(&b->vdev);
	if (blk_inflight(b)) {
		virtio_device_unlock(&b->vdev);
		return -EBUSY;
	}
	for (unsigned i = 0; i < b->num_queues; i++) {
		struct virtio_blk_queue *q = &b->queues[i];

		if (!q->held)
			continue;
		/* It was the queue's last pop: nothing was taken after a held request. */
		q->held->busy = false;
		q->held = NULL;
		b->vdev.vqs[i].last_avail_idx--;
		q->pending = true;
	}
	memset(s, 0, sizeof(*s));
	s->version = VIRTIO_BLK_STATE_VERSION;
	s->num_queues = (uint16_t)b->num_queues;
	s->capacity = b->capacity;
	s->blk_size = b->blk_size;
	s->host_features = b->vdev.host_features;
	memcpy(s->id, b->id, sizeof(s->id));
	virtio_device_unlock(&b->vdev);
	return 0;
}

int virtio_blk_check_state(const struct virtio_blk *b, const struct virtio_blk_state *s, char *err,
			   size_t errlen)
{
	if (s->version != VIRTIO_BLK_STATE_VERSION) {
		snprintf(err, errlen, "virtio-blk: state version %u (expected %u)", s->version,
			 VIRTIO_BLK_STATE_VERSION);
		return -EINVAL;
	}
	if (s->num_queues != b->num_queues || s->capacity != b->capacity ||
	    s->blk_size != b->blk_size) {
		snprintf(err, errlen,
			 "virtio-blk: saved disk of %llu sectors (%u-byte blocks, %u queues), "
			 "this one has %llu (%u-byte blocks, %u queues)",
			 (unsigned long long)s->capacity, s->blk_size, s->num_queues,
			 (unsigned long long)b->capacity, b->blk_size, b->num_queues);
		return -EINVAL;
	}
	if (s->host_features != b->vdev.host_features) {
		snprintf(err, errlen, "virtio-blk: saved features %#llx, this device offers %#llx",
			 (unsigned long long)s->host_features,
			 (unsigned long long)b->vdev.host_features);
		return -EINVAL;
	}
	if (memcmp(s->id, b->id, sizeof(s->id))) {
		snprintf(err, errlen, "virtio-blk: the disk serial differs from the saved one");
		return -EINVAL;
	}
	return 0;
}
