/* SPDX-License-Identifier: MIT */
/*
 * virtio-rng (the entropy device, virtio 1.2 section 5.4): one request
 * queue whose device-writable buffers the device fills with bytes from the
 * host's getrandom(2).
 *
 * Each chain gets at most VIRTIO_RNG_MAX_REQUEST bytes (the used length
 * says how many; the driver asks again for more). The bytes handed out are
 * rate-limited by a token bucket (core/rate_limiter.h): by default
 * VIRTIO_RNG_DEFAULT_BPS bytes per second, with bursts of up to one
 * second's worth; a chain that does not fit waits (a timerfd on the event
 * loop retries it) so that a guest draining the device cannot make hearth
 * burn the host's CPU. Device-readable buffers in a chain are ignored.
 *
 * Threads: the queue is served under the device lock, on the thread of the
 * kick (the event loop with ioeventfds, else a vCPU thread) and on the
 * event loop for the retry timer.
 */
#ifndef HEARTH_DEVICES_VIRTIO_RNG_H
#define HEARTH_DEVICES_VIRTIO_RNG_H

#include <stdbool.h>
#include <stdint.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/rate_limiter.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_RNG_QUEUE_SIZE  256
#define VIRTIO_RNG_MAX_REQUEST (64u * 1024)   /* bytes per chain at most */
#define VIRTIO_RNG_DEFAULT_BPS (1024u * 1024) /* default cap: 1 MiB/s */

struct virtio_rng {
	struct virtio_device dev;
	struct rate_limiter rl;
	uint64_t bps;	  /* bytes per second, 0: unlimited */
	int timer_fd;	  /* retry timer, -1 without an event loop */
	bool timer_armed; /* a chain waits for the rate limiter */
	bool have_chain;  /* `chain` was popped and waits to be filled */
	struct vq_chain chain;
	/* Counters, updated under the device lock with atomic adds (metrics read them). */
	uint64_t bytes_served;
	uint64_t requests;    /* chains answered */
	uint64_t throttled;   /* times the rate limiter held a chain */
	uint64_t short_fills; /* the host's generator gave less than asked */
};

/*
 * virtio_rng_init - set up the device over gm with its retry timer on loop
 * (NULL: retries happen only on the next kick, for tests), handing out at
 * most bps bytes per second (0: unlimited). Returns 0 or -errno (-ENOMEM,
 * or timerfd/event-loop failures).
 */
int virtio_rng_init(struct virtio_rng *rng, struct guest_memory *gm, struct event_loop *loop,
		    uint64_t bps);

/*
 * virtio_rng_destroy - reset the device, remove its timer from the event
 * loop and free everything (the transport is destroyed first).
 */
void virtio_rng_destroy(struct virtio_rng *rng);

#endif
