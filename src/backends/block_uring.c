/* SPDX-License-Identifier: MIT */
/*
 * io_uring engine for disk images. The ring is created disabled, given the
 * image as its only registered file and a restriction list (the four
 * opcodes disks use, each on a registered file only), then enabled: even
 * a caller that got hold of the ring could not open, read or write
 * anything else through it.
 */
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/block_priv.h"
#include "core/log.h"
#include "core/util.h"

#define URING_ENTRIES 128

struct uring_engine {
	struct io_uring ring;
	unsigned int inflight; /* SQEs handed out and not yet completed */
	bool in_process;       /* submissions wait for the end of process() */
	struct block_req *backlog_head, **backlog_tail;
};

static struct uring_engine *engine_of(struct block_dev *dev)
{
	return dev->engine;
}

static int uring_setup(struct uring_engine *e, int fd, int efd, char *why, size_t whylen)
{
	static const uint8_t ops[] = {IORING_OP_READV, IORING_OP_WRITEV, IORING_OP_FSYNC,
				      IORING_OP_FALLOCATE};
	struct io_uring_restriction res[ARRAY_SIZE(ops) + 1];
	unsigned int n = 0;
	int ret;

	ret = io_uring_queue_init(URING_ENTRIES, &e->ring, IORING_SETUP_R_DISABLED);
	if (ret < 0) {
		snprintf(why, whylen, "io_uring_setup: %s", strerror(-ret));
		return ret;
	}
	ret = io_uring_register_files(&e->ring, &fd, 1);
	if (ret < 0) {
		snprintf(why, whylen, "registering the image: %s", strerror(-ret));
		goto fail_registered;
	}
	ret = io_uring_register_eventfd(&e->ring, efd);
	if (ret < 0) {
		snprintf(why, whylen, "registering the eventfd: %s", strerror(-ret));
		goto fail_registered;
	}
	memset(res, 0, sizeof(res));
	for (unsigned int i = 0; i < ARRAY_SIZE(ops); i++) {
		res[n].opcode = IORING_RESTRICTION_SQE_OP;
		res[n++].sqe_op = ops[i];
	}
	res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
	res[n++].sqe_flags = IOSQE_FIXED_FILE;
	/*
	 * Through io_uring_register(): Debian's liburing 2.3 declares
	 * io_uring_register_restrictions() and io_uring_enable_rings() but
	 * does not export them.
	 */
	ret =
	    io_uring_register((unsigned int)e->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
	if (ret < 0) {
		snprintf(why, whylen, "registering restrictions: %s", strerror(-ret));
		goto fail_registered;
	}
	ret =
	    io_uring_register((unsigned int)e->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret < 0) {
		snprintf(why, whylen, "enabling the ring: %s", strerror(-ret));
		goto fail_registered;
	}
	return 0;

fail_registered:
	io_uring_queue_exit(&e->ring);
	return ret;
}

static int uring_start(struct block_dev *dev, char *why, size_t whylen)
{
	struct uring_engine *e = calloc(1, sizeof(*e));
	int ret;

	if (!e) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	ret = uring_setup(e, dev->fd, dev->efd, why, whylen);
	if (ret) {
		free(e);
		return ret;
	}
	e->backlog_tail = &e->backlog_head;
	dev->engine = e;
	return 0;
}

static void uring_kick(struct block_dev *dev)
{
	struct uring_engine *e = engine_of(dev);
	int ret;

	if (!io_uring_sq_ready(&e->ring))
		return;
	ret = io_uring_submit(&e->ring);
	if (ret >= 0)
		return;
	if (ret == -EAGAIN || ret == -EBUSY || ret == -EINTR) {
		/* The kernel is short of resources: try again on the next round. */
		block_signal(dev);
		return;
	}
	log_error("block %s: io_uring_submit: %s", dev->path, strerror(-ret));
}

/* Queue the request's next primitive; false when the ring has no room. */
static bool uring_issue(struct block_dev *dev, struct block_req *req)
{
	struct uring_engine *e = engine_of(dev);
	struct io_uring_sqe *sqe;
	struct block_prim p;

	if (e->inflight >= URING_ENTRIES)
		return false;
	sqe = io_uring_get_sqe(&e->ring);
	if (!sqe) {
		io_uring_submit(&e->ring);
		sqe = io_uring_get_sqe(&e->ring);
		if (!sqe)
			return false;
	}
	block_prim_next(dev, req, &p);
	/* File index 0 of the registered files: the image. */
	switch (p.kind) {
	case BLOCK_PRIM_READV:
		io_uring_prep_readv(sqe, 0, p.iov, p.iovcnt, p.offset);
		break;
	case BLOCK_PRIM_WRITEV:
		io_uring_prep_writev(sqe, 0, p.iov, p.iovcnt, p.offset);
		break;
	case BLOCK_PRIM_FDATASYNC:
		io_uring_prep_fsync(sqe, 0, IORING_FSYNC_DATASYNC);
		break;
	case BLOCK_PRIM_FALLOCATE:
		io_uring_prep_fallocate(sqe, 0, p.mode, (off_t)p.offset, (off_t)p.len);
		break;
	}
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data(sqe, req);
	e->inflight++;
	return true;
}

static void backlog_push(struct uring_engine *e, struct block_req *req)
{
	req->priv.next = NULL;
	*e->backlog_tail = req;
	e->backlog_tail = &req->priv.next;
}

static void uring_submit(struct block_dev *dev, struct block_req *req)
{
	struct uring_engine *e = engine_of(dev);

	if (e->backlog_head || !uring_issue(dev, req)) {
		backlog_push(e, req); /* keeps order; the next completion frees room */
		return;
	}
	if (!dev->batch_depth && !e->in_process)
		uring_kick(dev);
}

static void uring_process(struct block_dev *dev)
{
	struct uring_engine *e = engine_of(dev);
	struct io_uring_cqe *cqe;
	struct block_req *req;
	int res;

	e->in_process = true;
	while (io_uring_peek_cqe(&e->ring, &cqe) == 0) {
		req = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&e->ring, cqe);
		if (NEVER(!req))
			continue;
		e->inflight--;
		if (block_prim_done(dev, req, res))
			block_finish(dev, req);
		else if (!uring_issue(dev, req))
			backlog_push(e, req);
	}
	while ((req = e->backlog_head) && uring_issue(dev, req)) {
		e->backlog_head = req->priv.next;
		if (!e->backlog_head)
			e->backlog_tail = &e->backlog_head;
	}
	e->in_process = false;
	if (!dev->batch_depth)
		uring_kick(dev);
}

static void uring_stop(struct block_dev *dev)
{
	struct uring_engine *e = engine_of(dev);

	io_uring_queue_exit(&e->ring);
	free(e);
	dev->engine = NULL;
}

struct io_uring *block_uring_ring(struct block_dev *dev)
{
	if (dev->ops != &block_uring_ops)
		return NULL;
	return &engine_of(dev)->ring;
}

const struct block_engine_ops block_uring_ops = {
    .start = uring_start,
    .submit = uring_submit,
    .kick = uring_kick,
    .process = uring_process,
    .stop = uring_stop,
};
