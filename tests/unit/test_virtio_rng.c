/* SPDX-License-Identifier: MIT */
/* virtio-rng: bytes land in the guest's buffers, used lengths, rate limit. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/timerfd.h>

#include <cmocka.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/log.h"
#include "devices/virtio/rng.h"
#include "virtio_fake_driver.h"

#define QSIZE 16

struct fixture {
	struct guest_memory gm;
	struct event_loop loop;
	struct virtio_rng rng;
	struct fake_ring ring;
	int irqs, config_irqs;
	uint64_t now;
};

static void rec_notify_queue(struct virtio_device *dev, unsigned q)
{
	struct fixture *f = dev->transport;
	(void)q;
	f->irqs++;
}

static void rec_notify_config(struct virtio_device *dev)
{
	struct fixture *f = dev->transport;
	f->config_irqs++;
}

static uint64_t fake_clock(void *opaque)
{
	return *(uint64_t *)opaque;
}

static void start(struct fixture *f, uint64_t bps)
{
	assert_int_equal(virtio_rng_init(&f->rng, &f->gm, &f->loop, bps), 0);
	f->rng.dev.transport = f;
	f->rng.dev.notify_queue = rec_notify_queue;
	f->rng.dev.notify_config = rec_notify_config;
	f->now = 1000000000ULL;
	rate_limiter_set_clock(&f->rng.rl, fake_clock, &f->now);
	assert_int_equal(fr_bring_up(&f->rng.dev, &f->ring, 1, 0),
			 VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	gm_set_dirty_tracking(&f->gm, true);
}

static int setup(void **state)
{
	static struct fixture f;
	struct gm_range ranges[] = {{0, 0x100000}};

	memset(&f, 0, sizeof(f));
	assert_int_equal(gm_create(&f.gm, ranges, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(event_loop_init(&f.loop), 0);
	fr_init(&f.ring, &f.gm, QSIZE, 0x1000, 0x2000, 0x3000);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_rng_destroy(&f->rng);
	event_loop_destroy(&f->loop);
	gm_destroy(&f->gm);
	return 0;
}

static bool all_zero(struct fixture *f, uint64_t gpa, uint64_t len)
{
	const uint8_t *p = gm_ptr(&f->gm, gpa, len);

	for (uint64_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static void test_fills_buffers(void **state)
{
	struct fixture *f = *state;
	struct vring_used_elem e;

	start(f, 0);
	assert_int_equal(f->rng.dev.host_features, VIRTIO_TRANSPORT_FEATURES);
	fr_desc(&f->ring, 0, 0x10000, 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	fr_desc(&f->ring, 1, 0x20000, 32, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	assert_true(all_zero(f, 0x10000, 64));
	fr_kick(&f->rng.dev, 0);
	assert_int_equal(fr_used_idx(&f->ring), 1);
	e = fr_used_elem(&f->ring, 0);
	assert_int_equal(e.id, 0);
	assert_int_equal(e.len, 96);
	/* 32 random bytes all zero: probability 2^-256. */
	assert_false(all_zero(f, 0x10000 + 32, 32));
	assert_false(all_zero(f, 0x20000, 32));
	assert_true(all_zero(f, 0x20000 + 32, 64)); /* nothing beyond the buffer */
	assert_true(fr_dirty(&f->gm, 0x10000));
	assert_true(fr_dirty(&f->gm, 0x20000));
	assert_true(fr_dirty(&f->gm, 0x3000));
	assert_int_equal(f->irqs, 1);
	assert_int_equal(f->rng.bytes_served, 96);

	/* Several chains at once: one interrupt. */
	fr_desc(&f->ring, 2, 0x30000, 8, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 2);
	fr_publish(&f->ring, 2);
	fr_publish(&f->ring, 2);
	fr_kick(&f->rng.dev, 0);
	assert_int_equal(fr_used_idx(&f->ring), 4);
	assert_int_equal(fr_used_elem(&f->ring, 3).len, 8);
	assert_int_equal(f->irqs, 2);
}

static void test_request_cap_and_readable(void **state)
{
	struct fixture *f = *state;

	start(f, 0);
	fr_desc(&f->ring, 0, 0x40000, 100000, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	fr_kick(&f->rng.dev, 0);
	assert_int_equal(fr_used_elem(&f->ring, 0).len, VIRTIO_RNG_MAX_REQUEST);
	assert_false(all_zero(f, 0x40000 + VIRTIO_RNG_MAX_REQUEST - 32, 32));
	assert_true(all_zero(f, 0x40000 + VIRTIO_RNG_MAX_REQUEST, 100000 - VIRTIO_RNG_MAX_REQUEST));

	/* Device-readable buffers are ignored (and not written). */
	gm_write(&f->gm, 0x10000, "keep", 4);
	fr_desc(&f->ring, 1, 0x10000, 4, 0, 0);
	fr_publish(&f->ring, 1);
	fr_kick(&f->rng.dev, 0);
	assert_int_equal(fr_used_idx(&f->ring), 2);
	assert_int_equal(fr_used_elem(&f->ring, 1).len, 0);
	assert_memory_equal(gm_ptr(&f->gm, 0x10000, 4), "keep", 4);
}

static void test_rate_limit(void **state)
{
	struct fixture *f = *state;
	struct itimerspec its;

	start(f, 10000); /* 10000 bytes per second */
	fr_desc(&f->ring, 0, 0x10000, 9990, VRING_DESC_F_WRITE, 0);
	fr_desc(&f->ring, 1, 0x20000, 20, VRING_DESC_F_WRITE, 0);
	fr_desc(&f->ring, 2, 0x30000, 50000, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	fr_publish(&f->ring, 1);
	fr_kick(&f->rng.dev, 0);
	/* 9990 bytes pass; 20 more do not fit in the 10 left. */
	assert_int_equal(fr_used_idx(&f->ring), 1);
	assert_true(f->rng.timer_armed);
	assert_int_equal(timerfd_gettime(f->rng.timer_fd, &its), 0);
	assert_true(its.it_value.tv_sec == 0 && its.it_value.tv_nsec > 0);
	assert_true(its.it_value.tv_nsec <= 1000000); /* 10 bytes: 1 ms */
	/* Kicks meanwhile change nothing. */
	fr_kick(&f->rng.dev, 0);
	assert_int_equal(fr_used_idx(&f->ring), 1);

	/* Time passes (the limiter's clock), the timer fires: served. */
	f->now += 1000000;
	assert_int_equal(event_loop_run_once(&f->loop, 5000), 1);
	assert_false(f->rng.timer_armed);
	assert_int_equal(fr_used_idx(&f->ring), 2);
	assert_int_equal(fr_used_elem(&f->ring, 1).len, 20);
	assert_int_equal(f->irqs, 2);

	/* A chain bigger than a second's worth gets a second's worth at most. */
	f->now += 2000000000ULL;
	fr_publish(&f->ring, 2);
	fr_kick(&f->rng.dev, 0);
	assert_int_equal(fr_used_elem(&f->ring, 2).len, 10000);
	assert_int_equal(f->rng.bytes_served, 9990 + 20 + 10000);
}

static void test_reset_drops_waiting_chain(void **state)
{
	struct fixture *f = *state;
	struct itimerspec its;

	start(f, 100);
	fr_desc(&f->ring, 0, 0x10000, 100, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	fr_publish(&f->ring, 0);
	fr_kick(&f->rng.dev, 0);
	assert_true(f->rng.timer_armed);
	assert_true(f->rng.have_chain);
	virtio_device_lock(&f->rng.dev);
	virtio_set_status(&f->rng.dev, 0);
	virtio_device_unlock(&f->rng.dev);
	assert_false(f->rng.timer_armed);
	assert_false(f->rng.have_chain);
	assert_int_equal(timerfd_gettime(f->rng.timer_fd, &its), 0);
	assert_true(its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0);
}

static void test_hostile_chain(void **state)
{
	struct fixture *f = *state;

	start(f, 0);
	fr_desc(&f->ring, 0, 0x10000, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 0);
	fr_publish(&f->ring, 0);
	fr_kick(&f->rng.dev, 0);
	assert_true(f->rng.dev.broken);
	assert_true(f->rng.dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(f->config_irqs, 1);
	assert_int_equal(fr_used_idx(&f->ring), 0);
	/* A buffer in no RAM at all. */
	fr_init(&f->ring, &f->gm, QSIZE, 0x1000, 0x2000, 0x3000);
	fr_bring_up(&f->rng.dev, &f->ring, 1, 0);
	assert_false(f->rng.dev.broken);
	fr_desc(&f->ring, 0, 0xfee00000, 8, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	fr_kick(&f->rng.dev, 0);
	assert_true(f->rng.dev.broken);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_fills_buffers, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_request_cap_and_readable, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rate_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset_drops_waiting_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_chain, setup, teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
