/* SPDX-License-Identifier: MIT */
/*
 * Disk image back end on real files in a temporary directory, through
 * both engines. Completions are awaited with poll() on the completion fd
 * (with a timeout that fails the test), never with sleeps.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "backends/block.h"
#include "backends/block_priv.h"
#include "core/util.h"

static char tmpdir[PATH_MAX];
static enum block_engine engine_threads = BLOCK_ENGINE_THREADS;
static enum block_engine engine_uring = BLOCK_ENGINE_IO_URING;

struct waiter {
	struct block_req req;
	int result;
	int calls;
};

static int completed;

static void on_done(struct block_req *req, int result)
{
	struct waiter *w = req->opaque;

	w->result = result;
	w->calls++;
	completed++;
}

/* Process completions until `target` requests have completed in total. */
static void run_until(struct block_dev *dev, int target)
{
	while (completed < target) {
		struct pollfd p = {.fd = block_completion_fd(dev), .events = POLLIN};

		assert_int_equal(poll(&p, 1, 10000), 1);
		block_process_completions(dev);
	}
}

static void prep(struct waiter *w, enum block_op op, uint64_t offset, uint64_t len,
		 const struct iovec *iov, unsigned int iovcnt)
{
	memset(w, 0, sizeof(*w));
	w->req.op = op;
	w->req.offset = offset;
	w->req.len = len;
	w->req.iov = iov;
	w->req.iovcnt = iovcnt;
	w->req.done = on_done;
	w->req.opaque = w;
	w->result = 12345;
}

/* Submit one request and wait for it; returns its result. */
static int do_req(struct block_dev *dev, enum block_op op, uint64_t offset, uint64_t len,
		  const struct iovec *iov, unsigned int iovcnt, uint32_t flags)
{
	struct waiter w;
	int before = completed;

	prep(&w, op, offset, len, iov, iovcnt);
	w.req.flags = flags;
	assert_int_equal(block_submit(dev, &w.req), 0);
	/* Never completed inside block_submit(). */
	assert_int_equal(w.calls, 0);
	run_until(dev, before + 1);
	assert_int_equal(w.calls, 1);
	return w.result;
}

static char *path_in_tmp(const char *name)
{
	static char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static uint8_t pattern_byte(uint64_t off)
{
	return (uint8_t)((off * 7) ^ (off >> 9));
}

/* A file of `size` bytes of a known pattern, allocated on disk. */
static char *make_image(const char *name, uint64_t size)
{
	char *path = path_in_tmp(name);
	uint8_t *buf = malloc(size ? size : 1);
	int fd;

	assert_non_null(buf);
	for (uint64_t i = 0; i < size; i++)
		buf[i] = pattern_byte(i);
	unlink(path);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, size, 0), (ssize_t)size);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	free(buf);
	return path;
}

static struct block_dev *open_img(const char *path, bool readonly, enum block_cache cache,
				  enum block_engine engine)
{
	struct block_config cfg = {
	    .path = path, .readonly = readonly, .cache = cache, .engine = engine};
	char err[512] = "";
	struct block_dev *dev = block_open(&cfg, err, sizeof(err));

	if (!dev)
		fail_msg("block_open(%s): %s", path, err);
	return dev;
}

/* block_open() expected to fail; returns the message. */
static const char *open_fails(const char *path, bool readonly, enum block_cache cache)
{
	static char err[512];
	struct block_config cfg = {.path = path, .readonly = readonly, .cache = cache};
	struct block_dev *dev;

	err[0] = '\0';
	dev = block_open(&cfg, err, sizeof(err));
	if (dev) {
		block_close(dev);
		fail_msg("block_open(%s) succeeded", path);
	}
	assert_true(err[0] != '\0');
	assert_null(strchr(err, '\n'));
	return err;
}

static void file_read(const char *path, uint64_t off, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static uint64_t file_blocks(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_blocks;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void test_open_info(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("info.img", 1 * MiB + 700);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	const struct block_info *info = block_get_info(dev);

	assert_int_equal(info->size, 1 * MiB + 700);
	assert_int_equal(info->sectors, 2049);
	assert_int_equal(info->logical_block_size, 512);
	assert_false(info->readonly);
	assert_false(info->is_block_device);
	assert_int_equal(info->engine, engine);
	/* ext4/xfs/btrfs/tmpfs all punch holes. */
	assert_true(info->discard);
	assert_true(info->write_zeroes);
	assert_true(block_completion_fd(dev) >= 0);
	block_close(dev);

	/* AUTO picks io_uring when it works. */
	dev = open_img(path, true, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_AUTO);
	assert_int_equal(block_get_info(dev)->engine,
			 block_uring_ring(dev) ? BLOCK_ENGINE_IO_URING : BLOCK_ENGINE_THREADS);
	assert_true(block_get_info(dev)->readonly);
	assert_false(block_get_info(dev)->discard);
	block_close(dev);
}

static void test_write_read(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("rw.img", 256 * KiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	static uint8_t a[100], b[5000], c[7188], back[12288], check[12288];
	struct iovec wv[3] = {{a, sizeof(a)}, {b, sizeof(b)}, {c, sizeof(c)}};
	struct iovec rv[2] = {{back, 4000}, {back + 4000, sizeof(back) - 4000}};
	struct block_stats st;

	memset(a, 0xa1, sizeof(a));
	memset(b, 0xb2, sizeof(b));
	memset(c, 0xc3, sizeof(c));
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE, 4096, 12288, wv, 3, 0), 12288);
	/* It is in the file. */
	file_read(path, 4096, check, sizeof(check));
	assert_memory_equal(check, a, sizeof(a));
	assert_memory_equal(check + 100, b, sizeof(b));
	assert_memory_equal(check + 5100, c, sizeof(c));
	/* Bytes around it are untouched. */
	file_read(path, 4095, check, 1);
	assert_int_equal(check[0], pattern_byte(4095));
	file_read(path, 4096 + 12288, check, 1);
	assert_int_equal(check[0], pattern_byte(4096 + 12288));

	/* And it reads back through the engine. */
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 4096, 12288, rv, 2, 0), 12288);
	file_read(path, 4096, check, sizeof(check));
	assert_memory_equal(back, check, sizeof(back));
	/* The last byte of the image is readable. */
	rv[0].iov_len = 1;
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 256 * KiB - 1, 1, rv, 1, 0), 1);
	assert_int_equal(back[0], pattern_byte(256 * KiB - 1));

	block_get_stats(dev, &st);
	assert_int_equal(st.writes, 1);
	assert_int_equal(st.reads, 2);
	assert_int_equal(st.bytes_written, 12288);
	assert_int_equal(st.bytes_read, 12289);
	assert_int_equal(st.errors, 0);
	assert_int_equal(st.syncs, 0);
	block_close(dev);
}

/* More requests than the ring holds, in one batch, callbacks in order of finish. */
static void test_many_in_flight(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	enum { N = 300 };
	char *path = make_image("many.img", N * 4096);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	static struct waiter w[N];
	static uint8_t bufs[N][4096], check[4096];
	static struct iovec iov[N];
	int before = completed;

	block_batch_begin(dev);
	for (int i = 0; i < N; i++) {
		memset(bufs[i], i & 0xff, sizeof(bufs[i]));
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = 4096;
		prep(&w[i], BLOCK_OP_WRITE, (uint64_t)i * 4096, 4096, &iov[i], 1);
		assert_int_equal(block_submit(dev, &w[i].req), 0);
	}
	block_batch_end(dev);
	run_until(dev, before + N);
	for (int i = 0; i < N; i++) {
		assert_int_equal(w[i].calls, 1);
		assert_int_equal(w[i].result, 4096);
		file_read(path, (uint64_t)i * 4096, check, sizeof(check));
		assert_memory_equal(check, bufs[i], sizeof(check));
	}
	block_close(dev);
}

static void test_flush_modes(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("flush.img", 64 * KiB);
	static uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	struct block_stats st;
	struct block_dev *dev;

	/* writeback: FLUSH waits for fdatasync. */
	dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE, 0, 4096, &iov, 1, 0), 4096);
	assert_int_equal(do_req(dev, BLOCK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);
	block_get_stats(dev, &st);
	assert_int_equal(st.flushes, 1);
	assert_int_equal(st.syncs, 1);
	block_close(dev);

	/* unsafe: FLUSH completes without any sync. */
	dev = open_img(path, false, BLOCK_CACHE_UNSAFE, engine);
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE, 0, 4096, &iov, 1, 0), 4096);
	assert_int_equal(do_req(dev, BLOCK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);
	assert_int_equal(do_req(dev, BLOCK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);
	block_get_stats(dev, &st);
	assert_int_equal(st.flushes, 2);
	assert_int_equal(st.syncs, 0);
	block_close(dev);

	/* none (O_DIRECT): FLUSH still syncs. */
	{
		struct block_config cfg = {
		    .path = path, .cache = BLOCK_CACHE_NONE, .engine = engine};
		char err[512];

		dev = block_open(&cfg, err, sizeof(err));
		if (!dev) {
			assert_non_null(strstr(err, "O_DIRECT"));
			return;
		}
	}
	assert_int_equal(do_req(dev, BLOCK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);
	block_get_stats(dev, &st);
	assert_int_equal(st.syncs, 1);
	block_close(dev);
}

static void test_readonly(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("ro.img", 64 * KiB);
	struct block_dev *dev = open_img(path, true, BLOCK_CACHE_WRITEBACK, engine);
	static uint8_t buf[4096], check[4096];
	struct iovec iov = {buf, sizeof(buf)};
	struct waiter w;
	struct block_stats st;

	memset(buf, 0xee, sizeof(buf));
	prep(&w, BLOCK_OP_WRITE, 0, 4096, &iov, 1);
	assert_int_equal(block_submit(dev, &w.req), -EROFS);
	prep(&w, BLOCK_OP_DISCARD, 0, 4096, NULL, 0);
	assert_int_equal(block_submit(dev, &w.req), -EROFS);
	prep(&w, BLOCK_OP_WRITE_ZEROES, 0, 4096, NULL, 0);
	assert_int_equal(block_submit(dev, &w.req), -EROFS);
	/* Refused requests are never completed. */
	block_process_completions(dev);
	assert_int_equal(w.calls, 0);

	assert_int_equal(do_req(dev, BLOCK_OP_READ, 0, 4096, &iov, 1, 0), 4096);
	file_read(path, 0, check, sizeof(check));
	assert_memory_equal(buf, check, sizeof(buf));
	/* Nothing to flush. */
	assert_int_equal(do_req(dev, BLOCK_OP_FLUSH, 0, 0, NULL, 0, 0), 0);
	block_get_stats(dev, &st);
	assert_int_equal(st.syncs, 0);
	assert_int_equal(st.writes, 0);
	block_close(dev);
}

static void test_discard_punches_hole(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("discard.img", 4 * MiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	static uint8_t check[MiB];
	uint64_t before = file_blocks(path), after;

	assert_true(before >= 4 * MiB / 512);
	assert_int_equal(do_req(dev, BLOCK_OP_DISCARD, 1 * MiB, 1 * MiB, NULL, 0, 0), 0);
	after = file_blocks(path);
	assert_true(before - after + 64 >= MiB / 512);
	file_read(path, 1 * MiB, check, MiB);
	assert_true(all_zero(check, MiB));
	/* Around it the data is intact. */
	file_read(path, 1 * MiB - 1, check, 1);
	assert_int_equal(check[0], pattern_byte(1 * MiB - 1));
	file_read(path, 2 * MiB, check, 1);
	assert_int_equal(check[0], pattern_byte(2 * MiB));
	block_close(dev);
}

static void test_write_zeroes(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("wz.img", 4 * MiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	static uint8_t back[MiB];
	struct iovec iov = {back, MiB};
	uint64_t before = file_blocks(path), after;

	/* Without unmap (ZERO_RANGE): zeroes, space stays allocated. */
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE_ZEROES, 512 * KiB, MiB, NULL, 0, 0), 0);
	memset(back, 0xff, sizeof(back));
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 512 * KiB, MiB, &iov, 1, 0), (int)MiB);
	assert_true(all_zero(back, MiB));
	after = file_blocks(path);
	assert_true(after + 8 >= before);

	/* With unmap (PUNCH_HOLE first): zeroes and space freed. */
	assert_int_equal(
	    do_req(dev, BLOCK_OP_WRITE_ZEROES, 2 * MiB, MiB, NULL, 0, BLOCK_REQ_MAY_UNMAP), 0);
	memset(back, 0xff, sizeof(back));
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 2 * MiB, MiB, &iov, 1, 0), (int)MiB);
	assert_true(all_zero(back, MiB));
	/* Give or take a block of extent tree for the split extent. */
	assert_true(after - file_blocks(path) + 64 >= MiB / 512);
	file_read(path, 3 * MiB, back, 1);
	assert_int_equal(back[0], pattern_byte(3 * MiB));
	block_close(dev);
}

/* When neither fallocate mode works, zeroes are written (in chunks). */
static void test_write_zeroes_by_writing(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	uint64_t len = 3 * MiB + 4096 + 512;
	char *path = make_image("wzw.img", 8 * MiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	uint8_t *check = malloc(len + 2);
	struct block_stats st;
	uint64_t before = file_blocks(path);

	assert_non_null(check);
	dev->no_punch = true;
	dev->no_zero_range = true;
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE_ZEROES, 512, len, NULL, 0, 0), 0);
	assert_int_equal(
	    do_req(dev, BLOCK_OP_WRITE_ZEROES, 6 * MiB, 4096, NULL, 0, BLOCK_REQ_MAY_UNMAP), 0);
	file_read(path, 511, check, len + 2);
	assert_int_equal(check[0], pattern_byte(511));
	assert_true(all_zero(check + 1, len));
	assert_int_equal(check[len + 1], pattern_byte(512 + len));
	/* Written, not deallocated. */
	assert_true(file_blocks(path) + 8 >= before);
	/* A discard that cannot punch is a successful no-op. */
	assert_int_equal(do_req(dev, BLOCK_OP_DISCARD, 0, 4096, NULL, 0, 0), 0);
	file_read(path, 0, check, 1);
	assert_int_equal(check[0], pattern_byte(0));
	block_get_stats(dev, &st);
	assert_int_equal(st.write_zeroes, 2);
	assert_int_equal(st.discards, 1);
	assert_int_equal(st.errors, 0);
	block_close(dev);
	free(check);
}

static void test_out_of_range(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("range.img", 64 * KiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	static uint8_t buf[8192];
	struct iovec iov = {buf, 1024};
	struct iovec two[2] = {{buf, 512}, {buf + 512, 256}};
	struct waiter w;

	prep(&w, BLOCK_OP_READ, 64 * KiB - 512, 1024, &iov, 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_WRITE, 64 * KiB - 512, 1024, &iov, 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_READ, UINT64_MAX - 100, 1024, &iov, 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_READ, 64 * KiB + 1, 0, NULL, 0);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_DISCARD, 60 * KiB, 8 * KiB, NULL, 0);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_WRITE_ZEROES, 0, 64 * KiB + 1, NULL, 0);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	/* iov lengths must add up to len. */
	prep(&w, BLOCK_OP_READ, 0, 1024, two, 2);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_READ, 0, 512, two, 2);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_READ, 0, 1024, NULL, 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_READ, 0, 1024, &iov, BLOCK_MAX_IOV + 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	/* Unknown op, flags, or no callback. */
	prep(&w, (enum block_op)99, 0, 512, &iov, 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_WRITE, 0, 1024, &iov, 1);
	w.req.flags = BLOCK_REQ_MAY_UNMAP;
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_READ, 0, 1024, &iov, 1);
	w.req.flags = 0x80;
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_READ, 0, 1024, &iov, 1);
	w.req.done = NULL;
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	block_process_completions(dev);
	assert_int_equal(w.calls, 0);

	/* The exact end is fine; so is an empty request at the end. */
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 64 * KiB - 1024, 1024, &iov, 1, 0), 1024);
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 64 * KiB, 0, NULL, 0, 0), 0);
	block_close(dev);
}

/* Short transfers continue where they stopped (primitives driven by hand). */
static void test_short_transfer(void **state)
{
	char *path = make_image("short.img", 64 * KiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_THREADS);
	static uint8_t a[100], b[200], c[300];
	struct iovec iov[3] = {{a, 100}, {b, 200}, {c, 300}};
	struct block_prim p;
	struct waiter w;

	(void)state;
	prep(&w, BLOCK_OP_READ, 4096, 600, iov, 3);
	memset(&w.req.priv, 0, sizeof(w.req.priv));
	w.req.priv.cur_iov = iov;
	w.req.priv.cur_cnt = 3;

	block_prim_next(dev, &w.req, &p);
	assert_int_equal(p.kind, BLOCK_PRIM_READV);
	assert_int_equal(p.offset, 4096);
	assert_ptr_equal(p.iov, iov);
	assert_int_equal(p.iovcnt, 3);

	assert_false(block_prim_done(dev, &w.req, 150));
	block_prim_next(dev, &w.req, &p);
	assert_int_equal(p.offset, 4096 + 150);
	assert_int_equal(p.iovcnt, 2);
	assert_ptr_equal(p.iov[0].iov_base, b + 50);
	assert_int_equal(p.iov[0].iov_len, 150);
	assert_ptr_equal(p.iov[1].iov_base, c);
	assert_int_equal(p.iov[1].iov_len, 300);
	/* The caller's array is left alone. */
	assert_ptr_equal(iov[1].iov_base, b);
	assert_int_equal(iov[1].iov_len, 200);

	/* Interrupted: the same primitive again. */
	assert_false(block_prim_done(dev, &w.req, -EINTR));
	block_prim_next(dev, &w.req, &p);
	assert_int_equal(p.offset, 4096 + 150);
	assert_int_equal(p.iovcnt, 2);

	assert_false(block_prim_done(dev, &w.req, 160));
	block_prim_next(dev, &w.req, &p);
	assert_int_equal(p.offset, 4096 + 310);
	assert_int_equal(p.iovcnt, 1);
	assert_ptr_equal(p.iov[0].iov_base, c + 10);
	assert_int_equal(p.iov[0].iov_len, 290);

	assert_true(block_prim_done(dev, &w.req, 290));
	assert_int_equal(w.req.priv.result, 600);
	free(w.req.priv.iov_copy);

	/* An error ends it with that error. */
	prep(&w, BLOCK_OP_WRITE, 0, 600, iov, 3);
	memset(&w.req.priv, 0, sizeof(w.req.priv));
	w.req.priv.cur_iov = iov;
	w.req.priv.cur_cnt = 3;
	assert_false(block_prim_done(dev, &w.req, 100));
	assert_true(block_prim_done(dev, &w.req, -ENOSPC));
	assert_int_equal(w.req.priv.result, -ENOSPC);
	free(w.req.priv.iov_copy);
	block_close(dev);
}

/* An image that shrinks under us gives -EIO, not a hang or stale data. */
static void test_shrunk_image(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("shrink.img", 64 * KiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	static uint8_t buf[16384];
	struct iovec iov[2] = {{buf, 8192}, {buf + 8192, 8192}};

	assert_int_equal(truncate(path, 40 * KiB), 0);
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 32 * KiB, 16384, iov, 2, 0), -EIO);
	block_close(dev);
}

static void test_lock_conflict(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("lock.img", 64 * KiB);
	struct block_dev *a, *b;
	char expect[PATH_MAX + 128];
	const char *err;

	snprintf(expect, sizeof(expect), "disk image %s is in use by process %d (%s)", path,
		 (int)getpid(), program_invocation_short_name);
	a = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	err = open_fails(path, false, BLOCK_CACHE_WRITEBACK);
	assert_string_equal(err, expect);
	/* A read-only user conflicts with a writer too. */
	err = open_fails(path, true, BLOCK_CACHE_WRITEBACK);
	assert_string_equal(err, expect);
	block_close(a);

	/* Closing released the lock. */
	a = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	block_close(a);

	/* Readers share; a writer is refused while any reader holds it. */
	a = open_img(path, true, BLOCK_CACHE_WRITEBACK, engine);
	b = open_img(path, true, BLOCK_CACHE_WRITEBACK, engine);
	err = open_fails(path, false, BLOCK_CACHE_WRITEBACK);
	assert_string_equal(err, expect);
	block_close(a);
	block_close(b);
}

/*
 * A child process that opens path (read-write) and holds it until go_fd
 * (its read end) gives a byte or ends; returns once the open succeeded.
 */
static pid_t fork_holder(const char *path, int go_fd)
{
	int ready[2];
	pid_t child;
	char c = 'n';

	assert_int_equal(pipe(ready), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct block_config cfg = {.path = path};
		char err[256];
		struct block_dev *dev = block_open(&cfg, err, sizeof(err));

		c = dev ? 'y' : 'n';
		if (write(ready[1], &c, 1) != 1 || read(go_fd, &c, 1) < 0)
			_exit(2);
		block_close(dev);
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	close(ready[0]);
	return child;
}

/* Another process's lock: named when visible, else "another process". */
static void test_lock_other_process(void **state)
{
	char *path = make_image("lock2.img", 64 * KiB);
	char expect[PATH_MAX + 128];
	int go[2];
	pid_t child;

	(void)state;
	assert_int_equal(pipe(go), 0);
	child = fork_holder(path, go[0]);
	close(go[0]);
	snprintf(expect, sizeof(expect), "disk image %s is in use by process %d (%s)", path,
		 (int)child, program_invocation_short_name);
	assert_string_equal(open_fails(path, false, BLOCK_CACHE_WRITEBACK), expect);
	assert_int_equal(write(go[1], "x", 1), 1);
	assert_int_equal(waitpid(child, NULL, 0), child);
	close(go[1]);
	block_close(open_img(path, false, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_AUTO));
}

/*
 * A holder killed a moment ago: its io_uring keeps the image open (and
 * locked) until the kernel tears the ring down, after the process is
 * reaped; the next open waits for that rather than failing.
 */
static void test_lock_killed_holder(void **state)
{
	char *path = strdup(make_image("lock3.img", 64 * KiB));

	(void)state;
	for (int i = 0; i < 5; i++) {
		int go[2];
		pid_t child;

		assert_int_equal(pipe(go), 0);
		child = fork_holder(path, go[0]);
		close(go[0]);
		assert_int_equal(kill(child, SIGKILL), 0);
		assert_int_equal(waitpid(child, NULL, 0), child);
		close(go[1]);
		block_close(open_img(path, false, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_AUTO));
	}
	free(path);
}

static void test_open_errors(void **state)
{
	char *missing = strdup(path_in_tmp("missing.img"));
	char expect[PATH_MAX + 128];
	char *fifo = strdup(path_in_tmp("fifo"));

	(void)state;
	snprintf(expect, sizeof(expect), "disk image %s: No such file or directory", missing);
	assert_string_equal(open_fails(missing, false, BLOCK_CACHE_WRITEBACK), expect);

	snprintf(expect, sizeof(expect), "disk image %s is a directory", tmpdir);
	assert_string_equal(open_fails(tmpdir, false, BLOCK_CACHE_WRITEBACK), expect);
	assert_string_equal(open_fails(tmpdir, true, BLOCK_CACHE_WRITEBACK), expect);

	/* A FIFO must not hang the open. */
	assert_int_equal(mkfifo(fifo, 0644), 0);
	snprintf(expect, sizeof(expect), "disk image %s is not a regular file or block device",
		 fifo);
	assert_string_equal(open_fails(fifo, true, BLOCK_CACHE_WRITEBACK), expect);
	snprintf(expect, sizeof(expect),
		 "disk image /dev/null is not a regular file or block device");
	assert_string_equal(open_fails("/dev/null", true, BLOCK_CACHE_WRITEBACK), expect);
	assert_non_null(strstr(open_fails("", false, BLOCK_CACHE_WRITEBACK), "no path"));
	free(missing);
	free(fifo);
}

/* Permission errors, seen by an unprivileged process. */
static void test_open_permission(void **state)
{
	char *secret = strdup(make_image("secret.img", 4096));
	char *shared = strdup(make_image("shared.img", 4096));
	int pipefd[2];
	char msg[2][600];
	pid_t child;

	(void)state;
	if (geteuid() != 0) {
		/* Not root: a file we cannot read at all is enough. */
		assert_int_equal(chmod(secret, 0), 0);
	}
	assert_int_equal(chmod(secret, 0600), 0);
	assert_int_equal(chmod(shared, 0644), 0);
	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct block_config cfg = {.path = secret};
		char err[2][600] = {"", ""};
		struct block_dev *dev;

		if (geteuid() == 0 && setresuid(65534, 65534, 65534) != 0)
			_exit(2);
		dev = block_open(&cfg, err[0], sizeof(err[0]));
		if (dev)
			_exit(3);
		cfg.path = shared;
		dev = block_open(&cfg, err[1], sizeof(err[1]));
		if (dev)
			_exit(4);
		close(pipefd[0]);
		if (write(pipefd[1], err, sizeof(err)) != sizeof(err))
			_exit(5);
		_exit(0);
	}
	close(pipefd[1]);
	assert_int_equal(read(pipefd[0], msg, sizeof(msg)), sizeof(msg));
	{
		int status;

		assert_int_equal(waitpid(child, &status, 0), child);
		assert_int_equal(status, 0);
	}
	{
		char expect[PATH_MAX + 128];

		snprintf(expect, sizeof(expect), "disk image %s: Permission denied", secret);
		assert_string_equal(msg[0], expect);
		snprintf(expect, sizeof(expect),
			 "disk image %s cannot be opened for writing: Permission denied (add "
			 "readonly to use it read-only)",
			 shared);
		assert_string_equal(msg[1], expect);
	}
	close(pipefd[0]);
	free(secret);
	free(shared);
}

static void test_direct(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	char *path = make_image("direct.img", 8 * MiB);
	struct block_config cfg = {.path = path, .cache = BLOCK_CACHE_NONE, .engine = engine};
	char err[512];
	struct block_dev *dev = block_open(&cfg, err, sizeof(err));
	uint32_t lbs;
	uint8_t *aligned = NULL, *raw;
	static uint8_t check[8192];
	struct iovec iov;
	struct block_stats st;
	struct waiter w;

	if (!dev) {
		assert_non_null(strstr(err, "does not support O_DIRECT"));
		skip();
	}
	lbs = block_get_info(dev)->logical_block_size;
	assert_true(lbs >= 512 && lbs <= 4096 && (lbs & (lbs - 1)) == 0);
	assert_int_equal(posix_memalign((void **)&aligned, 4096, 16384), 0);
	if (!aligned)
		abort();
	raw = aligned + 8192 + 1; /* deliberately misaligned */

	/* Aligned buffers go straight through. */
	memset(aligned, 0x5a, 8192);
	iov = (struct iovec){aligned, 8192};
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE, 8192, 8192, &iov, 1, 0), 8192);
	file_read(path, 8192, check, 8192);
	assert_memory_equal(check, aligned, 8192);
	block_get_stats(dev, &st);
	assert_int_equal(st.bounced, 0);

	/* Misaligned buffers are bounced, both ways. */
	memset(raw, 0x3c, 4096);
	iov = (struct iovec){raw, 4096};
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE, 0, 4096, &iov, 1, 0), 4096);
	file_read(path, 0, check, 4096);
	assert_memory_equal(check, raw, 4096);
	memset(raw, 0, 4096);
	iov = (struct iovec){raw, 4096};
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 8192, 4096, &iov, 1, 0), 4096);
	assert_memory_equal(raw, aligned, 4096);
	block_get_stats(dev, &st);
	assert_int_equal(st.bounced, 2);

	/* A bounced transfer longer than the bounce window, over odd iovecs. */
	{
		size_t big = 3 * MiB + 8192;
		uint8_t *src = malloc(big + 1), *dst = malloc(big + 3), *file = malloc(big);
		struct iovec wv[3], rv[2];

		assert_non_null(src);
		assert_non_null(dst);
		assert_non_null(file);
		for (size_t i = 0; i < big; i++)
			src[i + 1] = (uint8_t)(i * 13 + (i >> 12));
		wv[0] = (struct iovec){src + 1, 1000};
		wv[1] = (struct iovec){src + 1001, 2 * MiB};
		wv[2] = (struct iovec){src + 1001 + 2 * MiB, big - 1000 - 2 * MiB};
		assert_int_equal(do_req(dev, BLOCK_OP_WRITE, 2 * MiB, big, wv, 3, 0), (int)big);
		file_read(path, 2 * MiB, file, big);
		assert_memory_equal(file, src + 1, big);
		rv[0] = (struct iovec){dst + 3, MiB + 77};
		rv[1] = (struct iovec){dst + 3 + MiB + 77, big - MiB - 77};
		assert_int_equal(do_req(dev, BLOCK_OP_READ, 2 * MiB, big, rv, 2, 0), (int)big);
		assert_memory_equal(dst + 3, src + 1, big);
		free(src);
		free(dst);
		free(file);
		block_get_stats(dev, &st);
		assert_int_equal(st.bounced, 4);
	}

	/* Offsets and lengths must be block aligned. */
	iov = (struct iovec){aligned, lbs};
	prep(&w, BLOCK_OP_READ, lbs / 2, lbs, &iov, 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	iov = (struct iovec){aligned, lbs / 2};
	prep(&w, BLOCK_OP_READ, 0, lbs / 2, &iov, 1);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	prep(&w, BLOCK_OP_WRITE_ZEROES, 0, lbs + 1, NULL, 0);
	assert_int_equal(block_submit(dev, &w.req), -EINVAL);
	/* Write-zeroes and discard still work. */
	assert_int_equal(do_req(dev, BLOCK_OP_WRITE_ZEROES, 8192, 4096, NULL, 0, 0), 0);
	file_read(path, 8192, check, 4096);
	assert_true(all_zero(check, 4096));
	block_close(dev);
	free(aligned);
}

/* A file system without O_DIRECT (procfs here) gets a clear message. */
static void test_direct_unsupported(void **state)
{
	struct block_config cfg = {
	    .path = "/proc/version", .readonly = true, .cache = BLOCK_CACHE_NONE};
	char err[512] = "";
	struct block_dev *dev;

	(void)state;
	dev = block_open(&cfg, err, sizeof(err));
	if (dev) {
		/* Kernels before 6.5 let procfs files open with O_DIRECT. */
		block_close(dev);
		skip();
	}
	assert_string_equal(err, "disk image /proc/version: the filesystem does not support "
				 "O_DIRECT (cache=none); use cache=writeback");
}

/*
 * Without io_uring (a seccomp filter makes io_uring_setup fail, as
 * container runtimes do), AUTO falls back to threads and IO_URING says why.
 */
static int child_without_io_uring(const char *path, int out)
{
	struct sock_filter filter[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = ARRAY_SIZE(filter), .filter = filter};
	struct block_config cfg = {.path = path, .engine = BLOCK_ENGINE_AUTO};
	static uint8_t buf[4096], back[4096];
	struct iovec iov = {buf, sizeof(buf)}, riov = {back, sizeof(back)};
	char err[512] = "";
	struct block_dev *dev;
	struct waiter w;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog))
		return 10;
	dev = block_open(&cfg, err, sizeof(err));
	if (!dev || block_get_info(dev)->engine != BLOCK_ENGINE_THREADS)
		return 11;
	memset(buf, 0x42, sizeof(buf));
	prep(&w, BLOCK_OP_WRITE, 0, 4096, &iov, 1);
	if (block_submit(dev, &w.req))
		return 12;
	run_until(dev, completed + 1);
	prep(&w, BLOCK_OP_READ, 0, 4096, &riov, 1);
	if (block_submit(dev, &w.req))
		return 13;
	run_until(dev, completed + 1);
	if (w.result != 4096 || memcmp(buf, back, sizeof(buf)))
		return 14;
	block_close(dev);

	cfg.engine = BLOCK_ENGINE_IO_URING;
	dev = block_open(&cfg, err, sizeof(err));
	if (dev)
		return 15;
	if (write(out, err, sizeof(err)) != sizeof(err))
		return 16;
	return 0;
}

static void test_fallback_to_threads(void **state)
{
	char *path = make_image("fallback.img", 64 * KiB);
	char expect[PATH_MAX + 128], msg[512];
	int pipefd[2], status;
	pid_t child;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(pipefd[0]);
		_exit(child_without_io_uring(path, pipefd[1]));
	}
	close(pipefd[1]);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(read(pipefd[0], msg, sizeof(msg)), sizeof(msg));
	close(pipefd[0]);
	snprintf(expect, sizeof(expect),
		 "disk image %s: io_uring is not available: io_uring_setup: Function not "
		 "implemented",
		 path);
	assert_string_equal(msg, expect);
}

/* block_close() completes what is still in flight. */
static void test_close_drains(void **state)
{
	enum block_engine engine = *(enum block_engine *)*state;
	enum { N = 40 };
	char *path = make_image("drain.img", N * 4096);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, engine);
	static struct waiter w[N];
	static uint8_t buf[4096], check[4096];
	struct iovec iov = {buf, sizeof(buf)};
	int before = completed;

	memset(buf, 0x77, sizeof(buf));
	for (int i = 0; i < N; i++) {
		prep(&w[i], i == N - 1 ? BLOCK_OP_FLUSH : BLOCK_OP_WRITE, (uint64_t)i * 4096,
		     i == N - 1 ? 0 : 4096, i == N - 1 ? NULL : &iov, i == N - 1 ? 0 : 1);
		assert_int_equal(block_submit(dev, &w[i].req), 0);
	}
	block_close(dev);
	assert_int_equal(completed, before + N);
	for (int i = 0; i < N - 1; i++) {
		assert_int_equal(w[i].calls, 1);
		assert_int_equal(w[i].result, 4096);
		file_read(path, (uint64_t)i * 4096, check, sizeof(check));
		assert_memory_equal(check, buf, sizeof(buf));
	}
	assert_int_equal(w[N - 1].result, 0);
}

static struct io_uring_sqe *get_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	if (!sqe)
		fail_msg("no SQE");
	if (!sqe)
		abort();
	return sqe;
}

/* The ring runs only the image's own operations, only on the image. */
static void test_uring_restricted(void **state)
{
	char *path = make_image("ring.img", 64 * KiB);
	struct block_dev *dev = open_img(path, false, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_IO_URING);
	struct io_uring *ring = block_uring_ring(dev);
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	static uint8_t buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	int other = open("/etc/hostname", O_RDONLY);
	int fds[1] = {other};

	(void)state;
	assert_non_null(ring);
	assert_true(other >= 0);

	/* An opcode outside the list. */
	sqe = get_sqe(ring);
	io_uring_prep_openat(sqe, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
	io_uring_sqe_set_data64(sqe, 1);
	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	assert_int_equal(cqe->user_data, 1);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(ring, cqe);

	/* An allowed opcode on a file that is not registered. */
	sqe = get_sqe(ring);
	io_uring_prep_readv(sqe, other, &iov, 1, 0);
	io_uring_sqe_set_data64(sqe, 2);
	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	assert_int_equal(cqe->res, -EACCES);
	io_uring_cqe_seen(ring, cqe);

	/* The same with the fixed-file flag on the image works. */
	sqe = get_sqe(ring);
	io_uring_prep_readv(sqe, 0, &iov, 1, 0);
	sqe->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(sqe, 3);
	assert_int_equal(io_uring_submit(ring), 1);
	assert_int_equal(io_uring_wait_cqe(ring, &cqe), 0);
	assert_int_equal(cqe->res, 512);
	io_uring_cqe_seen(ring, cqe);

	/* No more files can be registered. */
	assert_int_equal(io_uring_register_files_update(ring, 0, fds, 1), -EACCES);

	/* The block layer still works (and ignores nothing of its own). */
	block_process_completions(dev);
	assert_int_equal(do_req(dev, BLOCK_OP_READ, 0, 512, &iov, 1, 0), 512);
	close(other);
	block_close(dev);
}

static int setup_tmpdir(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/hearth-block-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir))
		return -1;
	/* The permission test's unprivileged child must reach its files. */
	return chmod(tmpdir, 0755);
}

static int remove_tmpdir(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

#define BOTH(fn)                                                                                   \
	cmocka_unit_test_prestate(fn, &engine_uring), cmocka_unit_test_prestate(fn, &engine_threads)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BOTH(test_open_info),
	    BOTH(test_write_read),
	    BOTH(test_many_in_flight),
	    BOTH(test_flush_modes),
	    BOTH(test_readonly),
	    BOTH(test_discard_punches_hole),
	    BOTH(test_write_zeroes),
	    BOTH(test_write_zeroes_by_writing),
	    BOTH(test_out_of_range),
	    BOTH(test_shrunk_image),
	    BOTH(test_lock_conflict),
	    BOTH(test_direct),
	    BOTH(test_close_drains),
	    cmocka_unit_test(test_lock_other_process),
	    cmocka_unit_test(test_lock_killed_holder),
	    cmocka_unit_test(test_open_errors),
	    cmocka_unit_test(test_open_permission),
	    cmocka_unit_test(test_uring_restricted),
	    cmocka_unit_test(test_short_transfer),
	    cmocka_unit_test(test_direct_unsupported),
	    cmocka_unit_test(test_fallback_to_threads),
	};

	return cmocka_run_group_tests(tests, setup_tmpdir, remove_tmpdir);
}
