/* SPDX-License-Identifier: MIT */
/*
 * Real virtio devices for the transport fuzz targets to put behind their
 * registers: virtio-rng (unlimited), virtio-net on a socketpair, and
 * virtio-blk on a small temporary image (opened once per process, I/O
 * thread engine). Also the image helper the virtio-blk target uses.
 */
#ifndef HEARTH_TESTS_FUZZ_FUZZ_DEVICES_H
#define HEARTH_TESTS_FUZZ_FUZZ_DEVICES_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/block.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/net.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio.h"
#include "fuzz_util.h"

#define FUZZ_DISK_SIZE (256ULL << 10)

/*
 * A temporary image of FUZZ_DISK_SIZE bytes holding a pattern, opened with
 * cfg's mode and already unlinked (nothing is left behind). NULL on failure.
 */
static inline struct block_dev *fuzz_open_disk(bool readonly, enum block_cache cache,
					       enum block_engine engine)
{
	const char *tmp = getenv("TMPDIR");
	struct block_config cfg = {.readonly = readonly, .cache = cache, .engine = engine};
	char path[512], err[256];
	struct block_dev *d;
	uint8_t buf[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/hearth-fuzz-XXXXXX", tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	if (fd < 0)
		return NULL;
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	for (uint64_t off = 0; off < FUZZ_DISK_SIZE; off += sizeof(buf))
		if (pwrite(fd, buf, sizeof(buf), (off_t)off) != (ssize_t)sizeof(buf))
			break;
	close(fd);
	cfg.path = path;
	d = block_open(&cfg, err, sizeof(err));
	unlink(path);
	return d;
}

enum fuzz_dev_kind {
	FUZZ_DEV_RNG,
	FUZZ_DEV_NET,
	FUZZ_DEV_BLK,
	FUZZ_DEV_NR,
};

struct fuzz_device {
	enum fuzz_dev_kind kind;
	struct virtio_device *dev;
	struct virtio_rng rng;
	struct virtio_net net;
	struct virtio_blk blk;
	int sp[2]; /* virtio-net: the device's end, the host's end */
};

/* Set up a device of kind over gm with its sources on loop. Aborts on host failures. */
static inline void fuzz_device_create(struct fuzz_device *d, enum fuzz_dev_kind kind,
				      struct guest_memory *gm, struct event_loop *loop)
{
	static struct block_dev *disk;
	char err[256];

	memset(d, 0, sizeof(*d));
	d->kind = kind;
	d->sp[0] = d->sp[1] = -1;
	switch (kind) {
	case FUZZ_DEV_NET: {
		struct virtio_net_params p;

		FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
				      d->sp) == 0);
		memset(&p, 0, sizeof(p));
		memcpy(p.mac, "\x52\x54\x00\x12\x34\x56", 6);
		p.backend.fd = d->sp[0];
		FUZZ_CHECK(virtio_net_init(&d->net, &p, gm, loop, err, sizeof(err)) == 0);
		d->dev = &d->net.vdev;
		break;
	}
	case FUZZ_DEV_BLK: {
		struct virtio_blk_params p;

		if (!disk)
			disk = fuzz_open_disk(false, BLOCK_CACHE_WRITEBACK, BLOCK_ENGINE_THREADS);
		FUZZ_CHECK(disk != NULL);
		memset(&p, 0, sizeof(p));
		p.bdev = disk;
		p.num_queues = 2;
		p.serial = "fuzz";
		FUZZ_CHECK(virtio_blk_init(&d->blk, &p, gm, loop, err, sizeof(err)) == 0);
		d->dev = &d->blk.vdev;
		break;
	}
	case FUZZ_DEV_RNG:
	case FUZZ_DEV_NR:
	default:
		d->kind = FUZZ_DEV_RNG;
		FUZZ_CHECK(virtio_rng_init(&d->rng, gm, loop, 0) == 0);
		d->dev = &d->rng.dev;
		break;
	}
}

/*
 * Let the device finish what it started, so that what follows does not
 * depend on timing: virtio-blk waits for its requests in flight.
 */
static inline void fuzz_device_settle(struct fuzz_device *d)
{
	if (d->kind == FUZZ_DEV_BLK)
		virtio_blk_drain(&d->blk);
}

/* virtio-net only: the host sends a frame of len bytes (vnet header included). */
static inline void fuzz_device_frame(struct fuzz_device *d, uint16_t len)
{
	static uint8_t frame[65536];

	if (d->kind != FUZZ_DEV_NET || d->sp[1] < 0)
		return;
	memset(frame, 0x3c, len);
	memset(frame, 0, len < VIRTIO_NET_HDR_LEN ? len : VIRTIO_NET_HDR_LEN);
	(void)!send(d->sp[1], frame, len, MSG_DONTWAIT);
	/* And drops what the device sent meanwhile. */
	while (recv(d->sp[1], frame, sizeof(frame), MSG_DONTWAIT) > 0)
		;
}

/* Reset and free the device (its transport is gone already). */
static inline void fuzz_device_destroy(struct fuzz_device *d)
{
	switch (d->kind) {
	case FUZZ_DEV_NET:
		virtio_net_destroy(&d->net);
		close(d->sp[0]);
		close(d->sp[1]);
		break;
	case FUZZ_DEV_BLK:
		virtio_blk_destroy(&d->blk);
		break;
	case FUZZ_DEV_RNG:
	case FUZZ_DEV_NR:
	default:
		virtio_rng_destroy(&d->rng);
		break;
	}
}

#endif
