/* SPDX-License-Identifier: MIT */
/* Token-bucket rate limiting: see rate_limiter.h. */
#include "core/rate_limiter.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define NS_PER_MS 1000000ULL

static uint64_t monotonic_clock(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static uint64_t rl_now(const struct rate_limiter *rl)
{
	return rl->clock(rl->clock_opaque);
}

static bool bucket_unlimited(const struct token_bucket *b)
{
	return b->size == 0;
}

static void bucket_init(struct token_bucket *b, const struct token_bucket_config *cfg, uint64_t now)
{
	memset(b, 0, sizeof(*b));
	if (!cfg || cfg->size == 0 || cfg->refill_time_ms == 0)
		return; /* unlimited */
	b->size = cfg->size;
	b->one_time_burst = cfg->one_time_burst;
	/* Beyond ~584 years a refill time means "never"; clamp instead of wrapping. */
	if (cfg->refill_time_ms > UINT64_MAX / NS_PER_MS)
		b->refill_ns = UINT64_MAX;
	else
		b->refill_ns = cfg->refill_time_ms * NS_PER_MS;
	b->budget = b->size;
	b->anchor = now;
}

/*
 * Tokens refilled between b->anchor and now, counted exactly (no rounding
 * drift): floor((now - anchor) * size / refill_ns).
 */
static uint64_t bucket_credited(const struct token_bucket *b, uint64_t now)
{
	unsigned __int128 t;

	if (now <= b->anchor)
		return 0;
	t = (unsigned __int128)(now - b->anchor) * b->size / b->refill_ns;
	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

/* Bring budget and debt up to date with the clock. */
static void bucket_refill(struct token_bucket *b, uint64_t now)
{
	uint64_t credited, fresh;

	if (bucket_unlimited(b))
		return;
	credited = bucket_credited(b, now);
	if (credited <= b->granted)
		return; /* nothing new (or a clock that went backwards) */
	fresh = credited - b->granted;
	b->granted = credited;
	if (fresh == 0)
		return;
	if (fresh <= b->debt) {
		b->debt -= fresh;
		return;
	}
	fresh -= b->debt;
	b->debt = 0;
	if (fresh >= b->size - b->budget) {
		/* Full: tokens beyond the size are lost; count afresh from now. */
		b->budget = b->size;
		b->anchor = now;
		b->granted = 0;
	} else {
		b->budget += fresh;
	}
}

/* Could `tokens` be taken from an up-to-date bucket right now? */
static bool bucket_can_take(const struct token_bucket *b, uint64_t tokens)
{
	if (bucket_unlimited(b) || tokens == 0)
		return true;
	if (b->debt)
		return false;
	if (tokens <= b->one_time_burst || tokens - b->one_time_burst <= b->budget)
		return true;
	/* Oversized request: admitted only into a full bucket. */
	return tokens > b->size && b->budget == b->size;
}

static void bucket_take(struct token_bucket *b, uint64_t tokens)
{
	uint64_t from_burst;

	if (bucket_unlimited(b) || tokens == 0)
		return;
	from_burst = MIN(tokens, b->one_time_burst);
	b->one_time_burst -= from_burst;
	tokens -= from_burst;
	if (tokens <= b->budget) {
		b->budget -= tokens;
	} else {
		b->debt = tokens - b->budget;
		b->budget = 0;
	}
}

/* Nanoseconds from now until bucket_can_take(tokens) holds. */
static uint64_t bucket_wait(const struct token_bucket *b, uint64_t tokens, uint64_t now)
{
	struct token_bucket v = *b;
	uint64_t avail;
	unsigned __int128 need, target_ns, at;

	if (bucket_unlimited(&v) || tokens == 0)
		return 0;
	bucket_refill(&v, now);
	if (bucket_can_take(&v, tokens))
		return 0;
	/*
	 * Refilled tokens still needed. A debt implies an empty budget and a
	 * spent burst; an oversized request needs the bucket full.
	 */
	avail = v.one_time_burst > UINT64_MAX - v.budget ? UINT64_MAX : v.one_time_burst + v.budget;
	need = v.debt;
	if (tokens > v.size)
		need += v.size - v.budget;
	else
		need += tokens - MIN(tokens, avail);
	/* Smallest t with floor((t - anchor) * size / refill_ns) >= granted + need. */
	need += v.granted;
	if (need > ((unsigned __int128)1 << 64) * ((uint64_t)1 << 62) / v.refill_ns)
		return UINT64_MAX;
	target_ns = need * v.refill_ns;
	target_ns = (target_ns + v.size - 1) / v.size;
	at = (unsigned __int128)v.anchor + target_ns;
	if (at <= now)
		return 0;
	at -= now;
	return at > UINT64_MAX ? UINT64_MAX : (uint64_t)at;
}

void rate_limiter_init(struct rate_limiter *rl, const struct token_bucket_config *ops,
		       const struct token_bucket_config *bytes)
{
	memset(rl, 0, sizeof(*rl));
	rl->clock = monotonic_clock;
	bucket_init(&rl->ops, ops, rl_now(rl));
	bucket_init(&rl->bytes, bytes, rl_now(rl));
}

void rate_limiter_set_clock(struct rate_limiter *rl, rate_limiter_clock_fn clock, void *opaque)
{
	uint64_t now;

	rl->clock = clock ? clock : monotonic_clock;
	rl->clock_opaque = opaque;
	now = rl_now(rl);
	rl->ops.anchor = now;
	rl->ops.granted = 0;
	rl->bytes.anchor = now;
	rl->bytes.granted = 0;
}

void rate_limiter_update(struct rate_limiter *rl, const struct token_bucket_config *ops,
			 const struct token_bucket_config *bytes)
{
	if (ops)
		bucket_init(&rl->ops, ops, rl_now(rl));
	if (bytes)
		bucket_init(&rl->bytes, bytes, rl_now(rl));
}

bool rate_limiter_is_unlimited(const struct rate_limiter *rl)
{
	return bucket_unlimited(&rl->ops) && bucket_unlimited(&rl->bytes);
}

bool rate_limiter_consume(struct rate_limiter *rl, uint64_t ops, uint64_t bytes)
{
	uint64_t now;

	if (rate_limiter_is_unlimited(rl))
		return true;
	now = rl_now(rl);
	bucket_refill(&rl->ops, now);
	bucket_refill(&rl->bytes, now);
	if (!bucket_can_take(&rl->ops, ops) || !bucket_can_take(&rl->bytes, bytes))
		return false;
	bucket_take(&rl->ops, ops);
	bucket_take(&rl->bytes, bytes);
	return true;
}

uint64_t rate_limiter_wait_ns(const struct rate_limiter *rl, uint64_t ops, uint64_t bytes)
{
	uint64_t now;

	if (rate_limiter_is_unlimited(rl))
		return 0;
	now = rl_now(rl);
	return MAX(bucket_wait(&rl->ops, ops, now), bucket_wait(&rl->bytes, bytes, now));
}

int rate_limiter_parse_rate(const char *s, struct token_bucket_config *out)
{
	uint64_t n, mult = 1;
	char *end;

	if (!s || !isdigit((unsigned char)s[0]))
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		switch (*end) {
		case 'k':
		case 'K':
			mult = KiB;
			break;
		case 'm':
		case 'M':
			mult = MiB;
			break;
		case 'g':
		case 'G':
			mult = GiB;
			break;
		default:
			return -1;
		}
		if (end[1])
			return -1;
	}
	if (n > UINT64_MAX / mult)
		return -1;
	out->size = n * mult;
	out->one_time_burst = 0;
	out->refill_time_ms = n ? 1000 : 0;
	return 0;
}
