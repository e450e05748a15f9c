/* SPDX-License-Identifier: MIT */
/* virtio-rng: see rng.h. */
#include "devices/virtio/rng.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/timerfd.h>
#include <unistd.h>

static struct virtio_rng *to_rng(struct virtio_device *dev)
{
	return dev->priv;
}

/* Fill up to want bytes of c's writable buffers from getrandom(2). */
static uint64_t rng_fill(const struct vq_chain *c, uint64_t want)
{
	uint64_t done = 0;

	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && done < want; i++) {
		uint8_t *p = c->iov[i].iov_base;
		size_t left = (size_t)MIN((uint64_t)c->iov[i].iov_len, want - done);

		while (left) {
			ssize_t n = getrandom(p, left, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				log_warn("virtio-rng: getrandom: %s", strerror(errno));
				return done;
			}
			p += n;
			left -= (size_t)n;
			done += (uint64_t)n;
		}
	}
	return done;
}

static void rng_arm_timer(struct virtio_rng *rng, uint64_t ns)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (rng->timer_fd < 0)
		return;
	if (ns == 0)
		ns = 1;
	its.it_value.tv_sec = (time_t)(ns / 1000000000ULL);
	its.it_value.tv_nsec = (long)(ns % 1000000000ULL);
	timerfd_settime(rng->timer_fd, 0, &its, NULL);
	rng->timer_armed = true;
}

static void rng_disarm_timer(struct virtio_rng *rng)
{
	struct itimerspec its = {{0, 0}, {0, 0}};

	if (rng->timer_fd >= 0)
		timerfd_settime(rng->timer_fd, 0, &its, NULL);
	rng->timer_armed = false;
}

/* Serve the request queue as far as the rate limit allows. Lock held. */
static void rng_process(struct virtio_rng *rng)
{
	struct virtio_device *dev = &rng->dev;
	bool pushed = false;

	while (!rng->timer_armed) {
		uint64_t want, got;

		if (!rng->have_chain) {
			if (virtio_pop(dev, 0, &rng->chain) <= 0)
				break;
			rng->have_chain = true;
		}
		want = MIN(rng->chain.in_bytes, (uint64_t)VIRTIO_RNG_MAX_REQUEST);
		if (rng->bps)
			want = MIN(want, rng->bps);
		if (want && !rate_limiter_consume(&rng->rl, 0, want)) {
			__atomic_fetch_add(&rng->throttled, 1, __ATOMIC_RELAXED);
			rng_arm_timer(rng, rate_limiter_wait_ns(&rng->rl, 0, want));
			break;
		}
		got = rng_fill(&rng->chain, want);
		if (got < want)
			__atomic_fetch_add(&rng->short_fills, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&rng->bytes_served, got, __ATOMIC_RELAXED);
		__atomic_fetch_add(&rng->requests, 1, __ATOMIC_RELAXED);
		virtio_push(dev, 0, &rng->chain, (uint32_t)got);
		rng->have_chain = false;
		pushed = true;
	}
	if (pushed)
		virtio_notify(dev, 0);
}

static void rng_on_timer(void *opaque, uint32_t events)
{
	struct virtio_rng *rng = opaque;
	uint64_t cnt;

	(void)events;
	if (read(rng->timer_fd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return;
	virtio_device_lock(&rng->dev);
	rng->timer_armed = false;
	rng_process(rng);
	virtio_device_unlock(&rng->dev);
}

static void rng_queue_notify(struct virtio_device *dev, unsigned q)
{
	(void)q;
	rng_process(to_rng(dev));
}

static void rng_reset(struct virtio_device *dev)
{
	struct virtio_rng *rng = to_rng(dev);

	rng->have_chain = false;
	rng_disarm_timer(rng);
}

static const struct virtio_device_ops rng_ops = {
    .name = "virtio-rng",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 1,
    .queue_max_size = VIRTIO_RNG_QUEUE_SIZE,
    .features = 0,
    .config_size = 0,
    .reset = rng_reset,
    .queue_notify = rng_queue_notify,
};

int virtio_rng_init(struct virtio_rng *rng, struct guest_memory *gm, struct event_loop *loop,
		    uint64_t bps)
{
	struct token_bucket_config bytes = {.size = bps, .refill_time_ms = 1000};
	int r;

	memset(rng, 0, sizeof(*rng));
	rng->timer_fd = -1;
	rng->bps = bps;
	rate_limiter_init(&rng->rl, NULL, bps ? &bytes : NULL);
	r = vq_chain_init(&rng->chain, VIRTIO_RNG_QUEUE_SIZE);
	if (r)
		return r;
	r = virtio_device_init(&rng->dev, &rng_ops, rng, gm, loop);
	if (r)
		goto free_chain;
	if (loop) {
		rng->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		if (rng->timer_fd < 0) {
			r = -errno;
			goto destroy_dev;
		}
		r = event_loop_add(loop, rng->timer_fd, EPOLLIN, rng_on_timer, rng);
		if (r)
			goto close_timer;
	}
	return 0;

close_timer:
	close(rng->timer_fd);
	rng->timer_fd = -1;
destroy_dev:
	virtio_device_destroy(&rng->dev);
free_chain:
	vq_chain_destroy(&rng->chain);
	return r;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng->dev.vqs)
		return;
	virtio_device_lock(&rng->dev);
	virtio_device_reset(&rng->dev);
	virtio_device_unlock(&rng->dev);
	if (rng->timer_fd >= 0) {
		event_loop_remove(rng->dev.loop, rng->timer_fd);
		close(rng->timer_fd);
		rng->timer_fd = -1;
	}
	virtio_device_destroy(&rng->dev);
	vq_chain_destroy(&rng->chain);
}
