/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the fuzz targets: the libFuzzer entry point's
 * prototype, a reader that turns the input into numbers (zeros once it
 * runs out, so every input is a valid program), guest memory with
 * inaccessible guard pages around each region (a device that strays past
 * a region's end crashes at once instead of reading its neighbour), the
 * driver side of a split ring, and the result checks ("oracles") whose
 * failure is a finding.
 *
 * Everything here is deterministic: no clocks, no randomness, no sleeps.
 */
#ifndef HEARTH_TESTS_FUZZ_FUZZ_UTIL_H
#define HEARTH_TESTS_FUZZ_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/guest_memory.h"
#include "core/log.h"
#include "devices/virtio/virtqueue.h"

/* The libFuzzer entry point every target defines (replay_main.c calls it too). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- reading the input ------------------------------------------------------------- */

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline bool fi_empty(const struct fuzz_in *in)
{
	return in->n == 0;
}

static inline uint8_t fi_u8(struct fuzz_in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t fi_u16(struct fuzz_in *in)
{
	uint16_t lo = fi_u8(in);

	return (uint16_t)(lo | fi_u8(in) << 8);
}

static inline uint32_t fi_u32(struct fuzz_in *in)
{
	uint32_t lo = fi_u16(in);

	return lo | (uint32_t)fi_u16(in) << 16;
}

static inline uint64_t fi_u64(struct fuzz_in *in)
{
	uint64_t lo = fi_u32(in);

	return lo | (uint64_t)fi_u32(in) << 32;
}

/* Copy len bytes of input to dst (zeros past its end); returns how many were input. */
static inline size_t fi_bytes(struct fuzz_in *in, void *dst, size_t len)
{
	size_t n = len < in->n ? len : in->n;

	memcpy(dst, in->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	in->p += n;
	in->n -= n;
	return n;
}

/* ---- process-wide set-up ---------------------------------------------------------- */

/*
 * Keep hearth's log quiet: guest errors are expected by the thousand and
 * printing them would slow fuzzing down (they are still counted).
 */
static inline void fuzz_quiet(void)
{
	static bool done;

	if (!done) {
		log_set_level(LOG_ERROR);
		done = true;
	}
}

/* A finding of a target's own checks: say what, then crash (the fuzzer keeps the input). */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz check failed: %s at %s:%d\n", #cond, __FILE__,       \
				__LINE__);                                                         \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* With FUZZ_TRACE set in the environment, targets say what each step does (to debug a finding). */
static inline bool fuzz_tracing(void)
{
	static int on = -1;

	if (on < 0)
		on = getenv("FUZZ_TRACE") != NULL;
	return on;
}

#define FUZZ_TRACE(...)                                                                            \
	do {                                                                                       \
		if (fuzz_tracing())                                                                \
			fprintf(stderr, __VA_ARGS__);                                              \
	} while (0)

/* ---- guest memory with guard pages ------------------------------------------------- */

/*
 * gm_create() over ranges, then move each region's mapping between two
 * PROT_NONE pages. Returns 0 or -1.
 */
static inline int fuzz_gm_create(struct guest_memory *gm, const struct gm_range *ranges,
				 unsigned nr)
{
	if (gm_create(gm, ranges, nr, GM_BACKING_ANON, NULL))
		return -1;
	for (unsigned i = 0; i < gm->nr; i++) {
		struct gm_region *r = &gm->regions[i];
		uint8_t *area = mmap(NULL, r->size + 2 * GM_PAGE_SIZE, PROT_NONE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		void *mid;

		if (area == MAP_FAILED)
			goto fail;
		mid = mmap(area + GM_PAGE_SIZE, r->size, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
		if (mid == MAP_FAILED) {
			munmap(area, r->size + 2 * GM_PAGE_SIZE);
			goto fail;
		}
		munmap(r->hva, r->size);
		r->hva = mid;
	}
	gm_set_dirty_tracking(gm, true);
	return 0;
fail:
	gm_destroy(gm);
	return -1;
}

/* Undo fuzz_gm_create(): the regions, then their guard pages. */
static inline void fuzz_gm_destroy(struct guest_memory *gm)
{
	uint8_t *guards[GM_MAX_REGIONS][2];
	unsigned nr = gm->nr;

	for (unsigned i = 0; i < nr; i++) {
		guards[i][0] = gm->regions[i].hva - GM_PAGE_SIZE;
		guards[i][1] = gm->regions[i].hva + gm->regions[i].size;
	}
	gm_destroy(gm);
	for (unsigned i = 0; i < nr; i++) {
		munmap(guards[i][0], GM_PAGE_SIZE);
		munmap(guards[i][1], GM_PAGE_SIZE);
	}
}

/* Zero every region (cheaper than a new mapping: the pages go back to the kernel). */
static inline void fuzz_gm_clear(struct guest_memory *gm)
{
	for (unsigned i = 0; i < gm->nr; i++)
		madvise(gm->regions[i].hva, gm->regions[i].size, MADV_DONTNEED);
}

/* ---- oracles ---------------------------------------------------------------------- */

/*
 * What vq_pop() promises about a chain it returned: buffer counts within
 * the capacity, totals that add up, every buffer the host view of its
 * guest range (so inside RAM).
 */
static inline void fuzz_check_chain(const struct guest_memory *gm, const struct vq_chain *c)
{
	uint64_t out = 0, in = 0;

	FUZZ_CHECK(c->nr_out + c->nr_in <= c->cap);
	for (unsigned i = 0; i < c->nr_out + c->nr_in; i++) {
		FUZZ_CHECK(c->iov[i].iov_len > 0);
		FUZZ_CHECK(gm_ptr(gm, c->gpa[i], c->iov[i].iov_len) == c->iov[i].iov_base);
		if (i < c->nr_out)
			out += c->iov[i].iov_len;
		else
			in += c->iov[i].iov_len;
	}
	FUZZ_CHECK(out == c->out_bytes && in == c->in_bytes);
	FUZZ_CHECK(out + in <= VQ_CHAIN_MAX_BYTES);
}

/* ---- the driver side of a split ring ----------------------------------------------- */

/*
 * A ring as a fuzzed driver fills it: descriptors are handed out round
 * robin from the table, chains are published in the available ring.
 */
struct fuzz_ring {
	struct guest_memory *gm;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;
	uint16_t next_desc;
};

struct fuzz_seg {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static inline void fuzz_ring_init(struct fuzz_ring *r, struct guest_memory *gm, uint16_t size,
				  uint64_t desc, uint64_t avail, uint64_t used)
{
	r->gm = gm;
	r->size = size;
	r->desc = desc;
	r->avail = avail;
	r->used = used;
	r->avail_idx = 0;
	r->next_desc = 0;
}

static inline void fuzz_w16(struct guest_memory *gm, uint64_t gpa, uint16_t v)
{
	gm_write(gm, gpa, &v, sizeof(v));
}

static inline uint16_t fuzz_r16(struct guest_memory *gm, uint64_t gpa)
{
	uint16_t v = 0;

	gm_read(gm, gpa, &v, sizeof(v));
	return v;
}

/* Make head available and publish the new index. */
static inline void fuzz_ring_publish(struct fuzz_ring *r, uint16_t head)
{
	fuzz_w16(r->gm, r->avail + 4 + 2ULL * (r->avail_idx % r->size), head);
	r->avail_idx++;
	fuzz_w16(r->gm, r->avail + 2, r->avail_idx);
}

/*
 * Put a chain of n segments into the ring: directly (n descriptors of the
 * table), or through an indirect table of n entries at indirect_gpa (one
 * descriptor of the ring). Returns the head.
 */
static inline uint16_t fuzz_ring_add(struct fuzz_ring *r, const struct fuzz_seg *s, unsigned n,
				     uint64_t indirect_gpa)
{
	uint16_t head = r->next_desc;

	if (indirect_gpa) {
		struct vring_desc d = {
		    .addr = indirect_gpa, .len = 16 * n, .flags = VRING_DESC_F_INDIRECT};

		for (unsigned i = 0; i < n; i++) {
			struct vring_desc e = {
			    .addr = s[i].gpa,
			    .len = s[i].len,
			    .flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
						(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			    .next = (uint16_t)(i + 1),
			};
			gm_write(r->gm, indirect_gpa + 16ULL * i, &e, sizeof(e));
		}
		gm_write(r->gm, r->desc + 16ULL * head, &d, sizeof(d));
		r->next_desc = (uint16_t)((head + 1) % r->size);
	} else {
		for (unsigned i = 0; i < n; i++) {
			uint16_t di = (uint16_t)((head + i) % r->size);
			struct vring_desc d = {
			    .addr = s[i].gpa,
			    .len = s[i].len,
			    .flags = (uint16_t)((s[i].write ? VRING_DESC_F_WRITE : 0) |
						(i + 1 < n ? VRING_DESC_F_NEXT : 0)),
			    .next = (uint16_t)((di + 1) % r->size),
			};
			gm_write(r->gm, r->desc + 16ULL * di, &d, sizeof(d));
		}
		r->next_desc = (uint16_t)((head + n) % r->size);
	}
	fuzz_ring_publish(r, head);
	return head;
}

/* ---- the driver's bookkeeping of one queue ------------------------------------------ */

#define FUZZ_DQ_MAX 256 /* largest ring a target programs */
/* Room for the indirect tables of one queue: 16 descriptors for each head. */
#define FUZZ_DQ_INDIRECT_BYTES (FUZZ_DQ_MAX * 256ULL)

/* What a used entry's length must be, per device and queue. */
enum fuzz_used_len {
	FUZZ_USED_ALL,	   /* the chain's whole writable length (virtio-blk) */
	FUZZ_USED_AT_MOST, /* at most the writable length (receive queues) */
	FUZZ_USED_ZERO,	   /* nothing written (transmit queues) */
	FUZZ_USED_ONE,	   /* one status byte (control queues) */
};

/*
 * Which chains the driver made available and has not seen come back. The
 * checks are dropped (tainted) once the driver broke its own rules: reused
 * a descriptor still owned by the device, wrote into its rings by hand,
 * or the device was disturbed in a way that may legitimately lose entries.
 */
struct fuzz_dq {
	struct fuzz_ring ring;
	uint64_t indirect; /* FUZZ_DQ_INDIRECT_BYTES of indirect tables, one slot per head */
	uint16_t used_seen;
	bool tainted;
	bool outstanding[FUZZ_DQ_MAX];
	uint32_t in_bytes[FUZZ_DQ_MAX];
};

/*
 * Fresh, zeroed rings for a queue of size entries (desc, avail, used in a
 * 0x3000 block at base), indirect tables at indirect (0 for none).
 */
static inline void fuzz_dq_init(struct fuzz_dq *d, struct guest_memory *gm, uint16_t size,
				uint64_t base, uint64_t indirect)
{
	static const uint8_t zero[0x3000];

	gm_write(gm, base, zero, sizeof(zero));
	fuzz_ring_init(&d->ring, gm, size, base, base + 0x1000, base + 0x2000);
	d->indirect = indirect;
	memset(d->outstanding, 0, sizeof(d->outstanding));
	d->used_seen = 0;
	d->tainted = false;
}

/* Point vq at d's rings (the caller then enables it). */
static inline void fuzz_dq_program(const struct fuzz_dq *d, struct virtqueue *vq)
{
	vq->size = d->ring.size;
	vq->desc_gpa = d->ring.desc;
	vq->avail_gpa = d->ring.avail;
	vq->used_gpa = d->ring.used;
}

/*
 * fuzz_ring_add() plus the bookkeeping; an indirect chain (n <= 16) gets
 * the table of its head, which nobody else uses while it is outstanding.
 */
static inline uint16_t fuzz_dq_add(struct fuzz_dq *d, const struct fuzz_seg *s, unsigned n,
				   bool indirect)
{
	uint64_t in = 0, indirect_gpa = 0;
	uint16_t head;

	if (indirect && d->indirect && n <= 16)
		indirect_gpa = d->indirect + 256ULL * d->ring.next_desc;
	for (unsigned i = 0; i < n; i++)
		if (s[i].write)
			in += s[i].len;
	if (!indirect_gpa && n > d->ring.size)
		d->tainted = true; /* the chain overwrites itself */
	head = fuzz_ring_add(&d->ring, s, n, indirect_gpa);
	if (head >= FUZZ_DQ_MAX || d->outstanding[head] || in > UINT32_MAX) {
		FUZZ_TRACE("  ring %#llx: head %u reused: no more checks\n",
			   (unsigned long long)d->ring.desc, head);
		d->tainted = true; /* a descriptor the device still owns */
		return head;
	}
	/* Descriptors of other outstanding chains overwritten by this one. */
	for (unsigned i = 1; !indirect_gpa && i < n; i++)
		if (d->outstanding[(head + i) % d->ring.size])
			d->tainted = true;
	d->outstanding[head] = true;
	d->in_bytes[head] = (uint32_t)in;
	FUZZ_TRACE("  ring %#llx: head %u, %u descriptors%s, %llu writable bytes\n",
		   (unsigned long long)d->ring.desc, head, n, indirect_gpa ? " (indirect)" : "",
		   (unsigned long long)in);
	return head;
}

/* Check every used entry the device added since the last call. */
static inline void fuzz_dq_check(struct fuzz_dq *d, enum fuzz_used_len rule)
{
	uint16_t idx = fuzz_r16(d->ring.gm, d->ring.used + 2);

	if (d->tainted)
		return;
	FUZZ_CHECK((uint16_t)(idx - d->used_seen) <= d->ring.size);
	while (d->used_seen != idx) {
		struct vring_used_elem e;

		gm_read(d->ring.gm, d->ring.used + 4 + 8ULL * (d->used_seen % d->ring.size), &e,
			sizeof(e));
		FUZZ_TRACE("  ring %#llx: used id %u len %u (writable %u)\n",
			   (unsigned long long)d->ring.desc, e.id, e.len,
			   e.id < FUZZ_DQ_MAX ? d->in_bytes[e.id] : 0);
		FUZZ_CHECK(e.id < d->ring.size && d->outstanding[e.id]);
		switch (rule) {
		case FUZZ_USED_ALL:
			FUZZ_CHECK(e.len == d->in_bytes[e.id]);
			break;
		case FUZZ_USED_AT_MOST:
			FUZZ_CHECK(e.len <= d->in_bytes[e.id]);
			break;
		case FUZZ_USED_ZERO:
			FUZZ_CHECK(e.len == 0);
			break;
		case FUZZ_USED_ONE:
			FUZZ_CHECK(e.len == 1);
			break;
		default:
			break;
		}
		d->outstanding[e.id] = false;
		d->used_seen++;
	}
}

#endif
