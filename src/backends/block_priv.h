/* SPDX-License-Identifier: MIT */
/*
 * Internals of the block back end shared by block.c and its two engines
 * (block_uring.c, block_threads.c). Not for device models.
 *
 * A request runs as a sequence of primitives (one preadv, pwritev,
 * fdatasync or fallocate each): block_prim_next() says which one comes
 * next, an engine carries it out anywhere (kernel, worker thread) and
 * block_prim_done() takes its result and says whether the request is
 * finished. Short transfers, WRITE_ZEROES fallbacks and retries after
 * EINTR live there, once, for both engines. block_finish() then runs on
 * the event-loop thread and calls the request's done callback.
 */
#ifndef HEARTH_BACKENDS_BLOCK_PRIV_H
#define HEARTH_BACKENDS_BLOCK_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "backends/block.h"

enum block_prim_kind {
	BLOCK_PRIM_READV,
	BLOCK_PRIM_WRITEV,
	BLOCK_PRIM_FDATASYNC,
	BLOCK_PRIM_FALLOCATE,
};

struct block_prim {
	enum block_prim_kind kind;
	uint64_t offset;
	const struct iovec *iov; /* READV/WRITEV */
	unsigned int iovcnt;
	uint64_t len; /* FALLOCATE */
	int mode;     /* FALLOCATE */
};

struct block_engine_ops {
	/* Set up the engine on dev->fd and dev->efd; 0 or -errno with err filled. */
	int (*start)(struct block_dev *dev, char *err, size_t errlen);
	/* Start a validated request; never fails (queues when full). */
	void (*submit)(struct block_dev *dev, struct block_req *req);
	/* Push queued submissions to the kernel (end of a batch). */
	void (*kick)(struct block_dev *dev);
	/* Call block_finish() for every finished request. Never blocks. */
	void (*process)(struct block_dev *dev);
	/* Stop the engine; nothing is in flight any more. */
	void (*stop)(struct block_dev *dev);
};

extern const struct block_engine_ops block_uring_ops;
extern const struct block_engine_ops block_threads_ops;

struct block_dev {
	char *path;
	int fd;
	int efd; /* completion eventfd */
	bool direct;
	bool unsafe;
	uint32_t mem_align; /* O_DIRECT buffer alignment */
	struct block_info info;
	struct block_stats stats;
	/* Methods found not to work; written by worker threads (atomics). */
	bool no_punch;
	bool no_zero_range;
	void *zero_buf;		    /* BLOCK_ZERO_BUF bytes of zeroes (read-only mapping) */
	uint64_t inflight;	    /* accepted and not yet finished */
	struct block_req *imm_head; /* finished without I/O, to deliver */
	struct block_req **imm_tail;
	unsigned int batch_depth;
	const struct block_engine_ops *ops;
	void *engine; /* the engine's own state */
};

#define BLOCK_ZERO_BUF (1024 * 1024)
/* Bounced O_DIRECT transfers move through a buffer of at most this size. */
#define BLOCK_BOUNCE_MAX (1024 * 1024)

/* block_prim_next - the next primitive of an unfinished request. */
void block_prim_next(struct block_dev *dev, struct block_req *req, struct block_prim *p);

/*
 * block_prim_done - record the result of the primitive block_prim_next()
 * gave (bytes or -errno). Returns true when the request is finished
 * (req->priv.result set), false when another primitive must run. Safe on
 * any thread.
 */
bool block_prim_done(struct block_dev *dev, struct block_req *req, int64_t res);

/* block_prim_exec - carry out a primitive with plain system calls. */
int64_t block_prim_exec(const struct block_dev *dev, const struct block_prim *p);

/* block_finish - on the event-loop thread: tidy up, count, call done. */
void block_finish(struct block_dev *dev, struct block_req *req);

/* block_signal - make the completion fd readable. */
void block_signal(struct block_dev *dev);

struct io_uring;
/* block_uring_ring - the ring of an io_uring engine (tests), else NULL. */
struct io_uring *block_uring_ring(struct block_dev *dev);

#endif
