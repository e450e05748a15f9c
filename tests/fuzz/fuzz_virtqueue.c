/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the split virtqueue walk (devices/virtio/virtqueue.c) over
 * guest memory whose contents and ring parameters come from the input.
 *
 * Input (every field reads as zero past the end):
 *   u8  max_size as a shift (1 << (v % 11))
 *   u16 queue size as the driver programmed it (not checked here)
 *   u64 descriptor table, available ring and used ring addresses
 *   u8  flags: 1 EVENT_IDX, 2 INDIRECT_DESC, 4 program through vq_load()
 *       (the indices below) instead of vq_enable(), 8 start with
 *       notifications disabled; bits 4-5: rounds - 1
 *   u16 last_avail_idx, used_idx, signalled_used (for vq_load())
 *   u8  chain capacity (0: max_size)
 *   u16 length of the memory image, then the image: guest memory from
 *       address 0
 *   then per round: every available chain is popped, checked, read,
 *   written (a pattern) and pushed with a used length taken from the input
 *   (u32 each); then the state is saved and loaded into a second queue;
 *   then a patch of guest memory (u32 address, u8 length, bytes) as the
 *   driver adding buffers, before the next round.
 *
 * Guest RAM is [0, 64 KiB) and [128 KiB, 192 KiB) with a hole between
 * them and guard pages around each (fuzz_util.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/guest_memory.h"
#include "devices/virtio/virtqueue.h"
#include "fuzz_util.h"

#define RAM0_SIZE  0x10000ULL
#define RAM1_START 0x20000ULL
#define RAM1_SIZE  0x10000ULL

static uint8_t scratch[RAM0_SIZE + RAM1_SIZE];

/* Pop everything available, as a device would. Returns false once the queue must stop. */
static bool pop_all(struct virtqueue *vq, struct vq_chain *c, struct fuzz_in *in, bool *notify_on)
{
	unsigned limit = 2u * vq->size + 2;

	while (limit--) {
		uint16_t used_before = vq->used_idx;
		size_t n, want;
		uint32_t written;
		int r = vq_pop(vq, c);

		if (r < 0) {
			FUZZ_CHECK(vq->err[0] != '\0');
			return false;
		}
		if (r == 0) {
			/* Re-arm notifications; true means buffers arrived meanwhile. */
			if (!*notify_on) {
				*notify_on = true;
				if (vq_set_notification(vq, true))
					continue;
			}
			return true;
		}
		fuzz_check_chain(vq->gm, c);
		FUZZ_CHECK(c->head < vq->size);

		want = (size_t)(c->out_bytes < sizeof(scratch) ? c->out_bytes : sizeof(scratch));
		n = vq_chain_read(c, 0, scratch, want);
		FUZZ_CHECK(n == want);
		if (c->out_bytes > 3)
			FUZZ_CHECK(vq_chain_read(c, c->out_bytes - 3, scratch, 8) == 3);

		want = (size_t)(c->in_bytes < sizeof(scratch) ? c->in_bytes : sizeof(scratch));
		memset(scratch, 0xa5, want);
		n = vq_chain_write(c, 0, scratch, want);
		FUZZ_CHECK(n == want);

		written = fi_empty(in) ? (uint32_t)c->in_bytes : fi_u32(in);
		if (written & 1) {
			vq_push_chain(vq, c, written);
		} else {
			vq_push(vq, c->head,
				written < c->in_bytes ? written : (uint32_t)c->in_bytes);
		}
		FUZZ_CHECK(vq->used_idx == (uint16_t)(used_before + 1));
		FUZZ_CHECK(fuzz_r16(vq->gm, vq->used_gpa + 2) == vq->used_idx);
		if (written & 2)
			vq_should_notify(vq);
		if (written & 4) {
			*notify_on = !*notify_on;
			vq_set_notification(vq, *notify_on);
		}
	}
	return true;
}

/* What was saved loads again into a fresh queue over the same memory, and means the same. */
static void check_save_load(struct virtqueue *vq)
{
	struct virtqueue copy;
	struct vq_state s;

	vq_save(vq, &s);
	FUZZ_CHECK(vq_init(&copy, vq->gm, vq->index, vq->max_size) == 0);
	FUZZ_CHECK(vq_load(&copy, &s) == 0);
	FUZZ_CHECK(copy.ready == vq->ready);
	FUZZ_CHECK(copy.last_avail_idx == vq->last_avail_idx && copy.used_idx == vq->used_idx);
	FUZZ_CHECK(vq_has_available(&copy) == vq_has_available(vq));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_range ranges[] = {{0, RAM0_SIZE}, {RAM1_START, RAM1_SIZE}};
	struct fuzz_in in = {data, size};
	struct guest_memory gm;
	struct virtqueue vq;
	struct vq_chain chain;
	uint16_t max_size, image_len;
	unsigned cap, rounds;
	bool notify_on;
	uint8_t flags;
	int r;

	fuzz_quiet();
	if (fuzz_gm_create(&gm, ranges, 2))
		abort();
	max_size = (uint16_t)(1u << (fi_u8(&in) % 11));
	FUZZ_CHECK(vq_init(&vq, &gm, 0, max_size) == 0);
	vq.size = fi_u16(&in);
	vq.desc_gpa = fi_u64(&in);
	vq.avail_gpa = fi_u64(&in);
	vq.used_gpa = fi_u64(&in);
	flags = fi_u8(&in);
	if (flags & 4) {
		struct vq_state s = {
		    .size = vq.size,
		    .ready = 1,
		    .desc_gpa = vq.desc_gpa,
		    .avail_gpa = vq.avail_gpa,
		    .used_gpa = vq.used_gpa,
		    .event_idx = flags & 1,
		    .indirect = (flags >> 1) & 1,
		    .notify_enabled = !(flags & 8),
		};
		s.last_avail_idx = fi_u16(&in);
		s.used_idx = fi_u16(&in);
		s.signalled_used = fi_u16(&in);
		s.signalled_used_valid = s.signalled_used & 1;
		r = vq_load(&vq, &s);
	} else {
		fi_u16(&in);
		fi_u16(&in);
		fi_u16(&in);
		r = vq_enable(&vq);
		vq_set_features(&vq, flags & 1, flags & 2);
	}
	cap = fi_u8(&in);
	cap = cap ? cap : max_size;
	FUZZ_CHECK(vq_chain_init(&chain, cap) == 0);
	image_len = fi_u16(&in); /* at most 64 KiB - 1: inside RAM0 */
	{
		size_t n = fi_bytes(&in, scratch, image_len);
		FUZZ_CHECK(gm_write(&gm, 0, scratch, n) == 0);
	}
	if (r) {
		FUZZ_CHECK(!vq.ready && vq.err[0] != '\0');
		goto out;
	}
	FUZZ_CHECK(vq.ready);
	notify_on = !(flags & 8);
	if (!(flags & 4))
		vq_set_notification(&vq, notify_on);

	rounds = 1 + ((flags >> 4) & 3);
	for (unsigned i = 0; i < rounds; i++) {
		uint32_t gpa;
		uint8_t len;

		if (!pop_all(&vq, &chain, &in, &notify_on))
			break;
		check_save_load(&vq);
		/* The driver writes more (new buffers, a new available index). */
		gpa = fi_u32(&in);
		len = fi_u8(&in);
		fi_bytes(&in, scratch, len);
		gm_write(&gm, gpa, scratch, len);
	}
	vq_should_notify(&vq);
	vq_has_available(&vq);
out:
	vq_chain_destroy(&chain);
	fuzz_gm_destroy(&gm);
	return 0;
}
