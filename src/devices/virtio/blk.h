/* SPDX-License-Identifier: MIT */
/*
 * virtio-blk (virtio 1.2, section 5.2): a disk backed by an image opened
 * through backends/block.h, with one or more request queues.
 *
 * Features offered: SIZE_MAX, SEG_MAX, BLK_SIZE, FLUSH, MQ (more than one
 * queue), RO (read-only image), DISCARD and WRITE_ZEROES (when the back end
 * really supports them), plus the transport's VERSION_1, INDIRECT_DESC and
 * EVENT_IDX. Config space: capacity in 512-byte sectors (the image size
 * rounded down to the logical block size), size_max, seg_max, blk_size
 * (512, or the O_DIRECT alignment with cache=none), num_queues, the
 * discard and write-zeroes limits (one segment each); little-endian,
 * read-only. GET_ID returns the serial, 20 bytes, zero-padded.
 *
 * Requests: a chain is the 16-byte header (type, reserved, sector),
 * device-readable, then the data, then one device-writable status byte,
 * the chain's last byte. Each popped chain is checked strictly:
 *  - no device-writable byte at all (nowhere to put a status), or a head
 *    already in flight (the driver reused a descriptor it gave away):
 *    the device goes to NEEDS_RESET (virtio_device_error());
 *  - otherwise every bad request is answered, never dropped: a header
 *    shorter than 16 bytes, data in the wrong direction for the type,
 *    a read/write length that is not a multiple of 512 (or of blk_size),
 *    sector * 512 + length beyond the capacity (computed without
 *    overflow), more than VIRTIO_BLK_SEG_MAX data segments or more than
 *    BLOCK_MAX_LEN bytes, a discard/write-zeroes payload that is not one
 *    16-byte segment, more sectors than the advertised maxima, or a
 *    write, discard or write-zeroes on a read-only disk: status IOERR; an unknown type, a DISCARD
 * or WRITE_ZEROES that was not negotiated, or unknown segment flags (or the unmap flag on a
 * discard): status UNSUPP. The used length of every chain is its whole writable length (data and
 * status), as QEMU reports it; hearth's writes into the chain (the data
 * of reads, GET_ID, the status byte) are marked in the VMM-side dirty
 * bitmap.
 *
 * I/O is asynchronous: the queue handler only validates, translates the
 * chain's buffers (already host pointers) into the request's iovecs and
 * calls block_submit(); no thread waits for the disk there. Completions
 * come back on the event loop (block_completion_fd()), where the status
 * byte is written, the chain returned and the driver interrupted per the
 * EVENT_IDX rules. A read's data is written by the kernel or an I/O
 * thread, so its guest ranges are marked dirty at completion (even when
 * the read failed: part of it may have landed). Per-request state lives
 * in a table allocated at creation, one entry per descriptor head of each
 * queue, so at most one queue size of requests is in flight per queue.
 *
 * Without a negotiated FLUSH the driver expects a write-through disk:
 * then each write and write-zeroes completes only after a flush of the
 * back end (the back end decides what a flush means for its cache mode).
 *
 * Rate limits: one token bucket for operations and one for bytes (the
 * data of reads and writes) across all queues. A request that does not
 * fit is kept (prepared, not submitted), the device stops taking chains
 * and arms a timerfd for rate_limiter_wait_ns(); when it fires, the held
 * requests go first and every queue is served again. Nothing spins.
 *
 * Reset with requests in flight: the back end may still be writing into
 * guest pages that the driver reuses after the reset, and the request
 * table entries are indexed by descriptor heads that the next driver will
 * use again. So the reset handler (a status write of 0, on whichever
 * thread performs it, with the device lock held) waits for every
 * submitted request to finish; those completions write nothing into the
 * guest (no status, no used entry; read data is only marked dirty) and no
 * interrupt is raised. Only then does the core reset the queues. Held
 * (throttled) requests are simply dropped. The wait is the disk's latency
 * for the requests in flight; a driver resets rarely (probe, shutdown,
 * error recovery).
 *
 * Threads: everything runs with the device lock held (virtio.h). Queue
 * notifications arrive on the event loop (ioeventfd) or on a vCPU thread
 * (MMIO exit); both only submit. Completions, the retry timer and the
 * continuation kick run on the event loop. All calls into the block back
 * end happen with the device lock held, which serializes them.
 */
#ifndef HEARTH_DEVICES_VIRTIO_BLK_H
#define HEARTH_DEVICES_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/block.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/rate_limiter.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_MAX_QUEUES 16
/* Data segments per request (the header and the status byte come on top). */
#define VIRTIO_BLK_SEG_MAX 126
/* Largest single data segment the driver may use (size_max). */
#define VIRTIO_BLK_SIZE_MAX (4u << 20)
/* Sectors per discard or write-zeroes segment: what one back-end request takes. */
#define VIRTIO_BLK_MAX_DWZ_SECTORS (BLOCK_MAX_LEN / 512)
/* Bytes of the ID string GET_ID returns. */
#define VIRTIO_BLK_ID_BYTES 20
/* Chains taken from one queue before the event loop gets a turn. */
#define VIRTIO_BLK_BATCH 64
/* Bytes of config space (through write_zeroes_may_unmap and its padding). */
#define VIRTIO_BLK_CONFIG_SIZE 60

struct virtio_blk_params {
	/*
	 * The disk: an image the caller opened (it stays the caller's, who
	 * closes it after virtio_blk_destroy()), or NULL to have the device
	 * open `config` itself (and close it in virtio_blk_destroy()).
	 */
	struct block_dev *bdev;
	const struct block_config *config;
	const char *serial;  /* GET_ID; at most 20 bytes are used; NULL: empty */
	unsigned num_queues; /* request queues, 1..VIRTIO_BLK_MAX_QUEUES; 0: 1 */
	uint64_t iops;	     /* operations per second, 0: unlimited */
	uint64_t bps;	     /* bytes per second, 0: unlimited */
	/* Finer control than iops/bps (size, one-time burst); override them when set. */
	const struct token_bucket_config *ops_bucket;
	const struct token_bucket_config *bytes_bucket;
};

struct virtio_blk_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes, get_ids;
	uint64_t bytes_read, bytes_written;
	uint64_t io_errors;    /* the back end failed a request */
	uint64_t bad_requests; /* answered IOERR for a malformed or refused request */
	uint64_t unsupported;  /* answered UNSUPP */
	uint64_t throttled;    /* times the rate limiter held a request */
	uint64_t throttled_ns; /* time requests spent held by the rate limiter */
	uint64_t dropped;      /* completions discarded because the device was reset */
};

struct virtio_blk;
struct virtio_blk_queue;

/* One request: the entry of its descriptor head in its queue's table. */
struct virtio_blk_req {
	struct block_req io; /* what the back end sees; io.opaque = this */
	struct virtio_blk_queue *q;
	uint16_t head;
	bool busy;	  /* popped, not yet returned (held or in flight) */
	bool submitted;	  /* the back end owns io until its done callback */
	bool flush_after; /* write-through: a flush follows the write */
	uint32_t type;	  /* VIRTIO_BLK_T_* */
	uint8_t *status;  /* host address of the status byte */
	uint64_t status_gpa;
	uint32_t used_len; /* the chain's writable length */
	uint64_t bytes;	   /* data bytes (rate limit, statistics) */
	unsigned niov;
	struct iovec *iov; /* VIRTIO_BLK_SEG_MAX entries in the queue's pool */
	uint64_t *gpa;	   /* guest address of each iov (dirty marking of reads) */
};

struct virtio_blk_queue {
	struct virtio_blk *blk;
	unsigned index;
	struct vq_chain chain;	     /* scratch for the chain being parsed */
	struct virtio_blk_req *reqs; /* [VIRTIO_BLK_QUEUE_SIZE], by descriptor head */
	struct iovec *iov_pool;	     /* VIRTIO_BLK_SEG_MAX per request */
	uint64_t *gpa_pool;
	unsigned inflight;	     /* requests the back end owns */
	struct virtio_blk_req *held; /* prepared, waiting for the rate limiter */
	bool pushed;		     /* used entries not yet considered for an interrupt */
	bool pending;		     /* to be served when the device may work again */
};

struct virtio_blk {
	struct virtio_device vdev;
	struct virtio_device_ops ops; /* per device: queue count and features vary */
	struct block_dev *bdev;
	bool owns_bdev;
	struct block_info info;
	struct event_loop *loop;
	uint64_t capacity; /* 512-byte sectors offered to the guest */
	uint32_t blk_size; /* logical block size offered */
	uint8_t id[VIRTIO_BLK_ID_BYTES];
	unsigned num_queues;
	struct virtio_blk_queue *queues;

	struct rate_limiter rl;
	bool rate_limited; /* not unlimited: consult rl */
	int timer_fd;	   /* armed while throttled */
	bool throttled;
	uint64_t throttled_since; /* now_ns() when throttled was set */
	int kick_fd;		  /* eventfd: continue a queue after a full batch */
	bool resetting;		  /* draining in-flight requests for a reset */
	unsigned next_queue;	  /* where the next round of serving starts (fairness) */

	struct virtio_blk_stats stats;
};

/*
 * virtio_blk_default_queues - the default number of request queues for a
 * VM with ncpus vCPUs: one per vCPU, at least 1, at most
 * VIRTIO_BLK_MAX_QUEUES.
 */
unsigned virtio_blk_default_queues(unsigned ncpus);

/*
 * virtio_blk_init - set up b (memory the caller owns) as a virtio-blk
 * device over mem, with its completion fd, retry timer and continuation
 * eventfd registered on loop (NULL only in tests that drive completions
 * with virtio_blk_process_completions() and never get throttled). The
 * disk is p->bdev, or p->config opened here. Returns 0, or -errno with
 * one line in err: -EINVAL (bad queue count, neither bdev nor config),
 * -ENOMEM, or -EIO when block_open() fails (the message is its own). The transport then takes
 * &b->vdev.
 */
int virtio_blk_init(struct virtio_blk *b, const struct virtio_blk_params *p,
		    struct guest_memory *mem, struct event_loop *loop, char *err, size_t errlen);

/*
 * virtio_blk_destroy - reset the device (waiting for requests in flight),
 * take its sources off the event loop, close the image if the device
 * opened it, free everything. Call it after the transport is gone and
 * while the event loop runs none of the device's handlers (loop thread
 * stopped, or from that thread). Safe on a zeroed struct.
 */
void virtio_blk_destroy(struct virtio_blk *b);

/*
 * virtio_blk_process_completions - deliver finished back-end requests to
 * the guest and interrupt it (what the completion fd's handler does).
 * Takes the device lock. For tests and loop-less use.
 */
void virtio_blk_process_completions(struct virtio_blk *b);

/*
 * virtio_blk_drain - wait until no request is in flight, completing each
 * one normally (status, used entry, interrupt). Takes the device lock and
 * blocks on the disk: for pausing before a snapshot, never on a hot path.
 * Held (throttled) requests stay held.
 */
void virtio_blk_drain(struct virtio_blk *b);

/* virtio_blk_get_stats - copy the counters (takes the device lock). */
void virtio_blk_get_stats(struct virtio_blk *b, struct virtio_blk_stats *out);

/*
 * virtio_blk_set_rate_limits - replace the operations and bytes buckets at
 * run time (NULL leaves one alone; size 0 makes it unlimited); a replaced
 * bucket starts full. Requests already held wait for their timer. Takes
 * the device lock.
 */
void virtio_blk_set_rate_limits(struct virtio_blk *b, const struct token_bucket_config *ops,
				const struct token_bucket_config *bytes);

/*
 * Saved device-specific state (snapshots, migration), next to the core's
 * (status, features) and each queue's struct vq_state (saved after this,
 * see virtio_blk_save()). Saved only with no request in flight
 * (virtio_blk_drain() with the vCPUs paused). The image itself is not
 * part of it: the restoring side opens the same disk, and the capacity,
 * block size, queue count and feature set recorded here must match what
 * the new device offers, else the restore is refused. The rate limiter's
 * buckets are not saved: a restored device starts with full buckets.
 */
#define VIRTIO_BLK_STATE_VERSION 1
struct virtio_blk_state {
	uint32_t version; /* VIRTIO_BLK_STATE_VERSION */
	uint16_t num_queues;
	uint16_t reserved0;
	uint64_t capacity; /* 512-byte sectors */
	uint32_t blk_size;
	uint32_t reserved1;
	uint64_t host_features; /* what the device offered */
	uint8_t id[VIRTIO_BLK_ID_BYTES];
	uint32_t reserved2;
};

/*
 * virtio_blk_save - record b's state in s. Requests held by the rate
 * limiter are given back to their available rings (the queue's
 * last_avail_idx steps back; they are taken again later, here or on the
 * restored device), so save the queues after this. Takes the device lock.
 * Returns 0, or -EBUSY when requests are in flight (drain first).
 */
int virtio_blk_save(struct virtio_blk *b, struct virtio_blk_state *s);

/*
 * virtio_blk_check_state - whether s was saved by a device offering the
 * same disk geometry, queue count and features as b. Returns 0, or
 * -EINVAL with one line in err.
 */
int virtio_blk_check_state(const struct virtio_blk *b, const struct virtio_blk_state *s, char *err,
			   size_t errlen);

#endif
