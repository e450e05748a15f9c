/* SPDX-License-Identifier: MIT */
/*
 * Host side of a disk: a raw image file (or block device) opened for one
 * VM, with asynchronous requests completed on the caller's event loop.
 *
 * Threads: block_open(), block_submit(), block_process_completions() and
 * block_close() are called from one thread (the device's event loop). I/O
 * runs in the kernel (io_uring) or in a few worker threads, never on the
 * calling thread; done callbacks run only inside
 * block_process_completions() (or block_close()), never inside
 * block_submit().
 *
 * Cache modes, and what a host crash (power loss, kernel panic) can lose;
 * a crash of hearth alone loses nothing that completed, in any mode:
 *   BLOCK_CACHE_WRITEBACK  writes go through the host page cache; FLUSH
 *       completes after fdatasync(). Loses writes completed since the
 *       guest's last FLUSH, as a real disk with a volatile write cache does.
 *   BLOCK_CACHE_NONE  O_DIRECT, bypassing the host page cache; FLUSH
 *       completes after fdatasync() (the device's own cache and file
 *       metadata still need it). Same loss as writeback. Requests must be
 *       aligned to logical_block_size (see block_submit()).
 *   BLOCK_CACHE_UNSAFE  page cache, FLUSH completes at once without
 *       syncing. A host crash can lose any write ever made, including ones
 *       the guest flushed, and leave the guest's filesystem corrupt. For
 *       scratch disks and tests only.
 *
 * Locking: the image gets an OFD lock over the whole file, a write lock
 * when read-write, a read lock when read-only, so that two VMs (or QEMU,
 * which locks byte ranges of the same file) cannot write one image at once.
 */
#ifndef HEARTH_BACKENDS_BLOCK_H
#define HEARTH_BACKENDS_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

enum block_cache {
	BLOCK_CACHE_WRITEBACK,
	BLOCK_CACHE_NONE,
	BLOCK_CACHE_UNSAFE,
};

enum block_engine {
	BLOCK_ENGINE_AUTO,     /* io_uring when it works, else threads */
	BLOCK_ENGINE_IO_URING, /* io_uring or fail */
	BLOCK_ENGINE_THREADS,  /* a small pool of worker threads */
};

struct block_config {
	const char *path;
	bool readonly;
	enum block_cache cache;
	enum block_engine engine;
	/*
	 * Open the image without locking it (an incoming migration: the
	 * source still holds the lock); block_lock() takes it later.
	 */
	bool defer_lock;
};

/* What block_open() found out about the image. */
struct block_info {
	uint64_t size;		     /* bytes */
	uint64_t sectors;	     /* size / 512, rounded down */
	uint32_t logical_block_size; /* 512, or the O_DIRECT offset alignment */
	bool readonly;
	bool discard;		  /* DISCARD really frees space (punch hole works) */
	bool write_zeroes;	  /* WRITE_ZEROES is done without writing data */
	bool is_block_device;	  /* the image is a block device, not a file */
	enum block_engine engine; /* the engine in use: IO_URING or THREADS */
};

enum block_op {
	BLOCK_OP_READ,
	BLOCK_OP_WRITE,
	BLOCK_OP_FLUSH,
	BLOCK_OP_DISCARD,
	BLOCK_OP_WRITE_ZEROES,
};

/* WRITE_ZEROES may deallocate the range (virtio-blk's "unmap" flag). */
#define BLOCK_REQ_MAY_UNMAP (1u << 0)

struct block_req;
typedef void (*block_done_fn)(struct block_req *req, int result);

/*
 * One request. The caller owns the memory (embed it in its own request
 * structure and use container_of, or use opaque) and keeps it, and the
 * iovec array and buffers it points to, untouched until done is called.
 */
struct block_req {
	enum block_op op;
	uint32_t flags;		 /* BLOCK_REQ_* */
	uint64_t offset;	 /* bytes from the start of the image */
	uint64_t len;		 /* bytes; for READ/WRITE the sum of the iov lengths */
	const struct iovec *iov; /* READ/WRITE: host buffers */
	unsigned int iovcnt;	 /* at most BLOCK_MAX_IOV */
	/*
	 * Called once, on the event-loop thread, with len (READ/WRITE) or 0
	 * (others) on success, or -errno: -EIO, -ENOSPC, -EROFS ...
	 */
	block_done_fn done;
	void *opaque; /* free for the caller */

	/* Private to the block layer. */
	struct {
		struct block_req *next;
		const struct iovec *cur_iov; /* what is left to transfer */
		unsigned int cur_cnt;
		struct iovec *iov_copy; /* writable copy after a short transfer */
		struct iovec one;	/* single-buffer transfers (bounce, zeroes) */
		void *bounce;		/* aligned copy for O_DIRECT */
		uint64_t done;		/* bytes transferred so far */
		int result;
		uint8_t stage; /* which method WRITE_ZEROES/DISCARD is trying */
		bool synced;   /* an fdatasync() was issued */
	} priv;
};

#define BLOCK_MAX_IOV 1024
#define BLOCK_MAX_LEN 0x7ffff000u /* the largest single transfer Linux does */

struct block_dev;

/*
 * block_open - open, lock and probe the image described by cfg. On failure
 * returns NULL and writes a one-line reason to err (errlen bytes), e.g.
 * "disk image /x.img: No such file or directory", "... is a directory",
 * "... is not a regular file or block device", "... is in use by process
 * 1234 (hearth)", "... the filesystem does not support O_DIRECT
 * (cache=none)", "... io_uring is not available: ...".
 */
struct block_dev *block_open(const struct block_config *cfg, char *err, size_t errlen);

/*
 * block_lock - take the image's lock (shared for a read-only image, else
 * exclusive) after block_open() with defer_lock, or again after
 * block_unlock(). Returns 0, or -EBUSY with one line in err naming the
 * process that holds it.
 */
int block_lock(struct block_dev *dev, char *err, size_t errlen);

/*
 * block_unlock - flush the image (fdatasync) and let go of its lock, so
 * that another process may open it (a migration's commit). Nothing may be
 * in flight. Returns 0 or the flush's -errno (the lock is released anyway).
 */
int block_unlock(struct block_dev *dev);

/*
 * block_sync - write the image's data to stable storage (fdatasync), e.g.
 * while a migration's destination loads the state, so that the flush at
 * the commit has little left to do. Nothing may be in flight. Returns 0
 * or -errno.
 */
int block_sync(struct block_dev *dev);

/* block_get_info - size, block size and capabilities of an open image. */
const struct block_info *block_get_info(const struct block_dev *dev);

/*
 * block_submit - start a request. Returns 0 when accepted: done will be
 * called exactly once, later, from block_process_completions(). Returns
 * -errno when refused, and then done is never called:
 *   -EROFS  WRITE, DISCARD or WRITE_ZEROES on a read-only image;
 *   -EINVAL beyond the end of the image, len > BLOCK_MAX_LEN, iovcnt >
 *           BLOCK_MAX_IOV, iov lengths not summing to len, unknown op or
 *           flags, or (cache=none) offset or len of READ/WRITE/WRITE_ZEROES
 *           not a multiple of logical_block_size;
 *   -ENOMEM no memory for a bounce buffer.
 * Buffers not aligned for O_DIRECT are bounced (through at most 1 MiB of
 * aligned memory per request, however long), not refused. DISCARD on a
 * file system that cannot punch holes succeeds doing nothing (a discard is
 * a hint). WRITE_ZEROES uses fallocate(ZERO_RANGE), then PUNCH_HOLE, then
 * writes zeroes, whichever works first (PUNCH_HOLE first with
 * BLOCK_REQ_MAY_UNMAP). READ into guest memory: the caller marks the pages
 * dirty.
 */
int block_submit(struct block_dev *dev, struct block_req *req);

/*
 * block_batch_begin/block_batch_end - requests submitted between the two
 * reach the kernel together in one system call at block_batch_end()
 * (io_uring), instead of one call each. Optional.
 */
void block_batch_begin(struct block_dev *dev);
void block_batch_end(struct block_dev *dev);

/*
 * block_completion_fd - a file descriptor that becomes readable when
 * completions are ready; add it to the event loop (EPOLLIN) and call
 * block_process_completions() when it fires. Owned by dev.
 */
int block_completion_fd(const struct block_dev *dev);

/*
 * block_process_completions - call done for every finished request. Never
 * blocks. done may call block_submit() again.
 */
void block_process_completions(struct block_dev *dev);

/* Counters, for metrics and tests. Read on the event-loop thread. */
struct block_stats {
	uint64_t reads, writes, flushes, discards, write_zeroes;
	uint64_t bytes_read, bytes_written;
	uint64_t syncs;	  /* fdatasync() calls issued */
	uint64_t errors;  /* requests completed with an error */
	uint64_t bounced; /* requests that needed an aligned bounce buffer */
};

/* block_get_stats - copy the counters. */
void block_get_stats(const struct block_dev *dev, struct block_stats *out);

/*
 * block_close - wait for every in-flight request and call its done
 * callback (on this thread), stop the engine, release the lock and close
 * the image. NULL is accepted.
 */
void block_close(struct block_dev *dev);

#endif
