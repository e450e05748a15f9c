/* SPDX-License-Identifier: MIT */
/*
 * Token-bucket rate limiting for device I/O (the model Firecracker's
 * rate_limiter uses): one bucket counts operations, one counts bytes.
 *
 * A bucket holds up to `size` tokens and starts full. It refills
 * continuously at size tokens per refill_time_ms. `one_time_burst` is an
 * extra allowance available once, spent before the bucket itself and never
 * refilled. A bucket whose size or refill_time_ms is 0 is unlimited.
 *
 * A request larger than a bucket's size can never fit; it is admitted when
 * that bucket is full, empties it and leaves a debt that refilling must
 * pay back before anything else passes, so the long-run rate still holds.
 *
 * Not thread-safe: one rate limiter belongs to one device on one thread.
 */
#ifndef HEARTH_CORE_RATE_LIMITER_H
#define HEARTH_CORE_RATE_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

struct token_bucket_config {
	uint64_t size;		 /* tokens; 0 = unlimited */
	uint64_t one_time_burst; /* extra tokens usable once, at the start */
	uint64_t refill_time_ms; /* time to refill `size` tokens; 0 = unlimited */
};

struct token_bucket {
	uint64_t size;
	uint64_t one_time_burst; /* what is left of it */
	uint64_t refill_ns;
	uint64_t budget;  /* tokens available now, <= size */
	uint64_t debt;	  /* tokens owed by an oversized request */
	uint64_t anchor;  /* clock value refills are counted from */
	uint64_t granted; /* tokens refilled since anchor */
};

/* A clock returning nanoseconds on a monotonic scale; tests inject one. */
typedef uint64_t (*rate_limiter_clock_fn)(void *opaque);

struct rate_limiter {
	struct token_bucket ops;
	struct token_bucket bytes;
	rate_limiter_clock_fn clock;
	void *clock_opaque;
};

/*
 * rate_limiter_init - set up both buckets, full, on the monotonic clock.
 * ops or bytes may be NULL for an unlimited bucket.
 */
void rate_limiter_init(struct rate_limiter *rl, const struct token_bucket_config *ops,
		       const struct token_bucket_config *bytes);

/*
 * rate_limiter_set_clock - use clock(opaque) instead of the monotonic clock
 * (tests) and restart refill accounting at its current value.
 */
void rate_limiter_set_clock(struct rate_limiter *rl, rate_limiter_clock_fn clock, void *opaque);

/*
 * rate_limiter_update - replace one or both bucket configurations at run
 * time (NULL leaves that bucket alone). A replaced bucket starts full.
 */
void rate_limiter_update(struct rate_limiter *rl, const struct token_bucket_config *ops,
			 const struct token_bucket_config *bytes);

/* rate_limiter_is_unlimited - true when neither bucket limits anything. */
bool rate_limiter_is_unlimited(const struct rate_limiter *rl);

/*
 * rate_limiter_consume - take `ops` operation tokens and `bytes` byte tokens
 * at once. All or nothing: returns true and takes both, or returns false
 * and takes neither.
 */
bool rate_limiter_consume(struct rate_limiter *rl, uint64_t ops, uint64_t bytes);

/*
 * rate_limiter_wait_ns - nanoseconds from now until the same
 * rate_limiter_consume() call would succeed (0: it would succeed now), if
 * nothing else consumes meanwhile. A device arms a timerfd with it rather
 * than polling.
 */
uint64_t rate_limiter_wait_ns(const struct rate_limiter *rl, uint64_t ops, uint64_t bytes);

/*
 * rate_limiter_parse_rate - parse a per-second rate as given on the command
 * line (`--disk ...,iops=N,bps=N`, `--net ...,rx_bps=N,tx_bps=N`): a
 * decimal N, optionally followed by K, M or G (x1024, x1024^2, x1024^3).
 * The bucket gets size N, refill_time_ms 1000 and no one-time burst, so up
 * to one second's worth (N) may pass at once after an idle second. N = 0
 * means unlimited. Returns 0, or -1 for malformed input or overflow.
 */
int rate_limiter_parse_rate(const char *s, struct token_bucket_config *out);

#endif
