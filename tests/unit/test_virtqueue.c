/* SPDX-License-Identifier: MIT */
/* Split virtqueues over fake guest memory: normal use and hostile drivers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/guest_memory.h"
#include "core/log.h"
#include "core/util.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtqueue.h"
#include "virtio_fake_driver.h"

/* Guest RAM: [0, 1 MiB) and [2 MiB, 3 MiB); the MiB between is a hole. */
#define RAM0_END   0x100000ULL
#define RAM1_START 0x200000ULL
#define RAM1_END   0x300000ULL

#define QSIZE 16
#define DESC  0x1000ULL
#define AVAIL 0x2000ULL
#define USED  0x3000ULL
#define BUF   0x10000ULL
#define INDIR 0x8000ULL

struct fixture {
	struct guest_memory gm;
	struct virtqueue vq;
	struct fake_ring ring;
	struct vq_chain chain;
};

static int setup(void **state)
{
	static struct fixture f;
	struct gm_range ranges[] = {{0, RAM0_END}, {RAM1_START, RAM1_END - RAM1_START}};

	memset(&f, 0, sizeof(f));
	assert_int_equal(gm_create(&f.gm, ranges, 2, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(vq_init(&f.vq, &f.gm, 0, QSIZE), 0);
	fr_init(&f.ring, &f.gm, QSIZE, DESC, AVAIL, USED);
	fr_program(&f.ring, &f.vq);
	assert_int_equal(vq_chain_init(&f.chain, QSIZE), 0);
	gm_set_dirty_tracking(&f.gm, true);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	vq_chain_destroy(&f->chain);
	gm_destroy(&f->gm);
	return 0;
}

/* Enable the queue; a fresh dirty bitmap afterwards. */
static void enable(struct fixture *f)
{
	assert_int_equal(vq_enable(&f->vq), 0);
	gm_set_dirty_tracking(&f->gm, true);
}

static void test_normal_chain(void **state)
{
	struct fixture *f = *state;
	struct vring_used_elem e;
	char msg[] = "hello, device";
	char back[32];

	enable(f);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0); /* empty */

	gm_write(&f->gm, BUF, msg, 6);
	gm_write(&f->gm, BUF + 0x100, msg + 6, sizeof(msg) - 6);
	fr_desc(&f->ring, 3, BUF, 6, VRING_DESC_F_NEXT, 7);
	fr_desc(&f->ring, 7, BUF + 0x100, sizeof(msg) - 6, VRING_DESC_F_NEXT, 1);
	fr_desc(&f->ring, 1, RAM1_START + 0x5000, 100, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 3);
	gm_set_dirty_tracking(&f->gm, true);

	assert_true(vq_has_available(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.head, 3);
	assert_int_equal(f->chain.nr_out, 2);
	assert_int_equal(f->chain.nr_in, 1);
	assert_int_equal(f->chain.out_bytes, sizeof(msg));
	assert_int_equal(f->chain.in_bytes, 100);
	assert_ptr_equal(f->chain.iov[0].iov_base, gm_ptr(&f->gm, BUF, 6));
	assert_ptr_equal(f->chain.iov[2].iov_base, gm_ptr(&f->gm, RAM1_START + 0x5000, 100));
	assert_int_equal(f->chain.gpa[2], RAM1_START + 0x5000);
	assert_int_equal(vq_chain_read(&f->chain, 0, back, sizeof(back)), sizeof(msg));
	assert_string_equal(back, msg);
	assert_int_equal(vq_chain_read(&f->chain, 4, back, 4), 4);
	assert_memory_equal(back, "o, d", 4);
	assert_false(vq_has_available(&f->vq));
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);

	/* Popping alone wrote nothing into guest memory. */
	assert_false(fr_dirty(&f->gm, USED));
	assert_int_equal(vq_chain_write(&f->chain, 10, "abc", 3), 3);
	assert_true(fr_dirty(&f->gm, RAM1_START + 0x5000));
	vq_push_chain(&f->vq, &f->chain, 13);
	assert_int_equal(fr_used_idx(&f->ring), 1);
	e = fr_used_elem(&f->ring, 0);
	assert_int_equal(e.id, 3);
	assert_int_equal(e.len, 13);
	assert_true(fr_dirty(&f->gm, USED));
	assert_memory_equal((char *)gm_ptr(&f->gm, RAM1_START + 0x5000 + 10, 3), "abc", 3);
	/* A device cannot claim more than the writable space. */
	fr_publish(&f->ring, 3);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	vq_push_chain(&f->vq, &f->chain, 5000);
	assert_int_equal(fr_used_elem(&f->ring, 1).len, 100);
}

static void test_not_ready(void **state)
{
	struct fixture *f = *state;

	fr_desc(&f->ring, 0, BUF, 8, 0, 0);
	fr_publish(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
	assert_false(vq_has_available(&f->vq));
	vq_push(&f->vq, 0, 0); /* ignored */
	assert_int_equal(fr_used_idx(&f->ring), 0);
	assert_false(vq_should_notify(&f->vq));
}

static void test_zero_length_buffers_skipped(void **state)
{
	struct fixture *f = *state;

	enable(f);
	fr_desc(&f->ring, 0, BUF, 0, VRING_DESC_F_NEXT, 1);
	fr_desc(&f->ring, 1, 0xdeadbeef000ULL, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	fr_desc(&f->ring, 2, BUF, 4, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.nr_out, 0);
	assert_int_equal(f->chain.nr_in, 1);
	assert_int_equal(f->chain.in_bytes, 4);
}

static void test_indirect(void **state)
{
	struct fixture *f = *state;

	enable(f);
	vq_set_features(&f->vq, false, true);
	fr_desc_at(&f->ring, INDIR, 0, BUF, 10, VRING_DESC_F_NEXT, 2);
	fr_desc_at(&f->ring, INDIR, 2, BUF + 0x20, 20, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	fr_desc_at(&f->ring, INDIR, 1, BUF + 0x40, 30, VRING_DESC_F_WRITE, 0);
	/* The WRITE flag of the descriptor pointing at the table is ignored. */
	fr_desc(&f->ring, 5, INDIR, 3 * 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 5);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.head, 5);
	assert_int_equal(f->chain.nr_out, 1);
	assert_int_equal(f->chain.nr_in, 2);
	assert_int_equal(f->chain.in_bytes, 50);
	assert_int_equal(f->chain.gpa[1], BUF + 0x20);
	assert_int_equal(f->chain.gpa[2], BUF + 0x40);

	/* A direct descriptor, then the table as the chain's last descriptor. */
	fr_desc(&f->ring, 6, BUF + 0x80, 4, VRING_DESC_F_NEXT, 5);
	fr_publish(&f->ring, 6);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(f->chain.nr_out, 2);
	assert_int_equal(f->chain.nr_in, 2);

	/* An indirect table may have more entries than the queue. */
	for (unsigned i = 0; i < 40; i++)
		fr_desc_at(&f->ring, INDIR, i, BUF + i, 1, i < 39 ? VRING_DESC_F_NEXT : 0,
			   (uint16_t)(i + 1));
	fr_desc(&f->ring, 5, INDIR, 40 * 16, VRING_DESC_F_INDIRECT, 0);
	fr_publish(&f->ring, 5);
	{
		struct vq_chain big;
		assert_int_equal(vq_chain_init(&big, 64), 0);
		assert_int_equal(vq_pop(&f->vq, &big), 1);
		assert_int_equal(big.nr_out, 40);
		vq_chain_destroy(&big);
	}
}

/* Expect vq_pop() to fail with err and leave the ring where it was. */
static void expect_pop_error(struct fixture *f, int err, const char *needle)
{
	uint16_t before = f->vq.last_avail_idx;

	assert_int_equal(vq_pop(&f->vq, &f->chain), err);
	assert_int_equal(f->vq.last_avail_idx, before);
	if (needle && !strstr(f->vq.err, needle))
		fail_msg("error \"%s\" does not mention \"%s\"", f->vq.err, needle);
}

static void test_hostile_descriptor_loop(void **state)
{
	struct fixture *f = *state;

	enable(f);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	fr_desc(&f->ring, 1, BUF, 8, VRING_DESC_F_NEXT, 0);
	fr_publish(&f->ring, 0);
	expect_pop_error(f, -EINVAL, "loop");

	/* A descriptor pointing at itself. */
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_NEXT, 0);
	expect_pop_error(f, -EINVAL, "loop");

	/* A loop inside an indirect table. */
	vq_set_features(&f->vq, false, true);
	fr_desc_at(&f->ring, INDIR, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	fr_desc_at(&f->ring, INDIR, 1, BUF, 8, VRING_DESC_F_NEXT, 0);
	fr_desc(&f->ring, 0, INDIR, 32, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EINVAL, "loop");
}

static void test_hostile_indices(void **state)
{
	struct fixture *f = *state;

	enable(f);
	/* next out of range */
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_NEXT, QSIZE);
	fr_publish(&f->ring, 0);
	expect_pop_error(f, -EINVAL, "next index");
	/* head out of range */
	fr_w16(&f->ring, AVAIL + 4, QSIZE + 3);
	expect_pop_error(f, -EINVAL, "head index");
	fr_w16(&f->ring, AVAIL + 4, 0xffff);
	expect_pop_error(f, -EINVAL, "head index");
	/* next out of range inside an indirect table */
	vq_set_features(&f->vq, false, true);
	fr_w16(&f->ring, AVAIL + 4, 0);
	fr_desc_at(&f->ring, INDIR, 0, BUF, 8, VRING_DESC_F_NEXT, 2);
	fr_desc(&f->ring, 0, INDIR, 32, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EINVAL, "next index");
}

static void test_hostile_avail_jump(void **state)
{
	struct fixture *f = *state;

	enable(f);
	fr_desc(&f->ring, 0, BUF, 8, 0, 0);
	fr_set_avail_idx(&f->ring, QSIZE + 1);
	expect_pop_error(f, -EINVAL, "jumped");
	fr_set_avail_idx(&f->ring, 0xffff); /* "behind" the device: also a jump */
	expect_pop_error(f, -EINVAL, "jumped");
	/* Exactly a full ring is fine. */
	for (unsigned i = 0; i < QSIZE; i++)
		fr_w16(&f->ring, AVAIL + 4 + 2 * i, 0);
	fr_set_avail_idx(&f->ring, QSIZE);
	for (unsigned i = 0; i < QSIZE; i++)
		assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 0);
}

static void test_hostile_addresses(void **state)
{
	struct fixture *f = *state;

	enable(f);
	fr_publish(&f->ring, 0);
	/* entirely outside RAM */
	fr_desc(&f->ring, 0, RAM1_END + 0x1000, 8, 0, 0);
	expect_pop_error(f, -EFAULT, "not in guest RAM");
	/* in the hole between the regions (where MMIO lives) */
	fr_desc(&f->ring, 0, RAM0_END + 0x1000, 8, VRING_DESC_F_WRITE, 0);
	expect_pop_error(f, -EFAULT, "not in guest RAM");
	/* straddling a region's end */
	fr_desc(&f->ring, 0, RAM0_END - 4, 8, 0, 0);
	expect_pop_error(f, -EFAULT, "not in guest RAM");
	fr_desc(&f->ring, 0, RAM1_END - 4, 5, 0, 0);
	expect_pop_error(f, -EFAULT, "not in guest RAM");
	/* address + length wrapping around */
	fr_desc(&f->ring, 0, UINT64_MAX - 3, 8, 0, 0);
	expect_pop_error(f, -EFAULT, "not in guest RAM");
	/* the last byte of a region is fine */
	fr_desc(&f->ring, 0, RAM1_END - 4, 4, 0, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
}

static void test_hostile_order(void **state)
{
	struct fixture *f = *state;

	enable(f);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	fr_desc(&f->ring, 1, BUF, 8, 0, 0);
	fr_publish(&f->ring, 0);
	expect_pop_error(f, -EINVAL, "readable buffer after a writable");
}

static void test_hostile_indirect(void **state)
{
	struct fixture *f = *state;

	enable(f);
	fr_desc_at(&f->ring, INDIR, 0, BUF, 8, 0, 0);
	fr_desc(&f->ring, 0, INDIR, 16, VRING_DESC_F_INDIRECT, 0);
	fr_publish(&f->ring, 0);
	/* not negotiated */
	expect_pop_error(f, -EINVAL, "not negotiated");
	vq_set_features(&f->vq, false, true);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);

	fr_publish(&f->ring, 0);
	/* indirect inside indirect */
	fr_desc_at(&f->ring, INDIR, 0, INDIR + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EINVAL, "inside an indirect");
	/* zero-length table */
	fr_desc(&f->ring, 0, INDIR, 0, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EINVAL, "length 0");
	/* length not a multiple of 16 */
	fr_desc(&f->ring, 0, INDIR, 24, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EINVAL, "length 24");
	/* too many entries */
	fr_desc(&f->ring, 0, INDIR, (VQ_MAX_SIZE + 1) * 16, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EINVAL, "length");
	/* table outside RAM, in the hole, across a region end */
	fr_desc(&f->ring, 0, RAM1_END, 16, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EFAULT, "indirect table");
	fr_desc(&f->ring, 0, RAM0_END + 0x40, 16, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EFAULT, "indirect table");
	fr_desc(&f->ring, 0, RAM0_END - 16, 32, VRING_DESC_F_INDIRECT, 0);
	expect_pop_error(f, -EFAULT, "indirect table");
	/* INDIRECT together with NEXT */
	fr_desc_at(&f->ring, INDIR, 0, BUF, 8, 0, 0);
	fr_desc(&f->ring, 0, INDIR, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	expect_pop_error(f, -EINVAL, "NEXT");
}

static void test_hostile_lengths(void **state)
{
	struct fixture *f = *state;
	struct guest_memory big;
	struct gm_range r[] = {{0, RAM0_END}, {4 * GiB, 4 * GiB + 0x1000}};
	struct virtqueue vq;
	struct fake_ring ring;

	(void)f;
	/* Lazily allocated: the big region is never touched beyond a page. */
	assert_int_equal(gm_create(&big, r, 2, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(vq_init(&vq, &big, 0, QSIZE), 0);
	fr_init(&ring, &big, QSIZE, DESC, AVAIL, USED);
	fr_program(&ring, &vq);
	assert_int_equal(vq_enable(&vq), 0);
	/* 0xffffffff + 2 bytes: more than a chain may describe. */
	fr_desc(&ring, 0, 4 * GiB, 0xffffffffu, VRING_DESC_F_NEXT, 1);
	fr_desc(&ring, 1, 4 * GiB, 2, 0, 0);
	fr_publish(&ring, 0);
	assert_int_equal(vq_pop(&vq, &f->chain), -EINVAL);
	assert_non_null(strstr(vq.err, "longer than"));
	/* Exactly the limit is accepted. */
	fr_desc(&ring, 1, 4 * GiB, 0, 0, 0);
	assert_int_equal(vq_pop(&vq, &f->chain), 1);
	assert_int_equal(f->chain.out_bytes, 0xffffffffULL);
	gm_destroy(&big);
}

static void test_chain_longer_than_cap(void **state)
{
	struct fixture *f = *state;
	struct vq_chain small;

	enable(f);
	assert_int_equal(vq_chain_init(&small, 2), 0);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_NEXT, 1);
	fr_desc(&f->ring, 1, BUF, 8, VRING_DESC_F_NEXT, 2);
	fr_desc(&f->ring, 2, BUF, 8, 0, 0);
	fr_publish(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &small), -E2BIG);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	vq_chain_destroy(&small);
	assert_int_equal(vq_chain_init(&small, 0), -EINVAL);
	assert_int_equal(vq_chain_init(&small, VQ_MAX_SIZE + 1), -EINVAL);
}

static void test_ring_validation(void **state)
{
	struct fixture *f = *state;
	struct virtqueue vq;

	assert_int_equal(vq_init(&vq, &f->gm, 0, 0), -EINVAL);
	assert_int_equal(vq_init(&vq, &f->gm, 0, 24), -EINVAL);
	assert_int_equal(vq_init(&vq, &f->gm, 0, 256), 0);

#define EXPECT_ENABLE(sz, d, a, u, res)                                                            \
	do {                                                                                       \
		vq_reset(&vq);                                                                     \
		vq.size = (sz);                                                                    \
		vq.desc_gpa = (d);                                                                 \
		vq.avail_gpa = (a);                                                                \
		vq.used_gpa = (u);                                                                 \
		assert_int_equal(vq_enable(&vq), (res));                                           \
		assert_int_equal(vq.ready, (res) == 0);                                            \
	} while (0)

	EXPECT_ENABLE(16, DESC, AVAIL, USED, 0);
	EXPECT_ENABLE(256, DESC, 0x20000, 0x30000, 0);
	EXPECT_ENABLE(1, DESC, AVAIL, USED, 0);
	/* sizes */
	EXPECT_ENABLE(0, DESC, AVAIL, USED, -EINVAL);
	EXPECT_ENABLE(12, DESC, AVAIL, USED, -EINVAL);
	EXPECT_ENABLE(512, DESC, AVAIL, USED, -EINVAL);
	/* alignment */
	EXPECT_ENABLE(16, DESC + 8, AVAIL, USED, -EINVAL);
	EXPECT_ENABLE(16, DESC, AVAIL + 1, USED, -EINVAL);
	EXPECT_ENABLE(16, DESC, AVAIL, USED + 2, -EINVAL);
	/* rings outside RAM, in the hole, straddling a region's end */
	EXPECT_ENABLE(16, RAM1_END, AVAIL, USED, -EINVAL);
	EXPECT_ENABLE(16, DESC, RAM0_END + 0x100, USED, -EINVAL);
	EXPECT_ENABLE(16, DESC, AVAIL, RAM0_END - 0x40, -EINVAL);
	/* the used ring's avail_event word must fit too: 6 + 8 * 16 bytes */
	EXPECT_ENABLE(16, DESC, AVAIL, RAM0_END - 132, -EINVAL);
	EXPECT_ENABLE(16, DESC, AVAIL, RAM0_END - 136, 0);
	EXPECT_ENABLE(16, DESC, AVAIL, UINT64_MAX - 3, -EINVAL);
#undef EXPECT_ENABLE
}

static void push_n(struct fixture *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		fr_publish(&f->ring, 0);
		assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
		vq_push_chain(&f->vq, &f->chain, 0);
	}
}

static void test_notify_flags(void **state)
{
	struct fixture *f = *state;

	enable(f);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	assert_false(vq_should_notify(&f->vq)); /* nothing pushed yet */
	push_n(f, 1);
	assert_true(vq_should_notify(&f->vq));
	assert_false(vq_should_notify(&f->vq)); /* nothing new */
	fr_set_avail_flags(&f->ring, VRING_AVAIL_F_NO_INTERRUPT);
	push_n(f, 2);
	assert_false(vq_should_notify(&f->vq));
	fr_set_avail_flags(&f->ring, 0);
	push_n(f, 1);
	assert_true(vq_should_notify(&f->vq));

	/* Available-buffer notifications: VRING_USED_F_NO_NOTIFY. */
	assert_false(vq_set_notification(&f->vq, false));
	assert_int_equal(fr_used_flags(&f->ring), VRING_USED_F_NO_NOTIFY);
	assert_false(vq_set_notification(&f->vq, true));
	assert_int_equal(fr_used_flags(&f->ring), 0);
	/* Buffers that arrived while disabled are reported on enabling. */
	vq_set_notification(&f->vq, false);
	fr_publish(&f->ring, 0);
	assert_true(vq_set_notification(&f->vq, true));
}

/* The EVENT_IDX rule, modulo 2^16, starting from used index `start`. */
static void check_event_idx_from(struct fixture *f, uint16_t start)
{
	struct vq_state s;

	vq_save(&f->vq, &s);
	s.last_avail_idx = start;
	s.used_idx = start;
	s.signalled_used = start;
	s.signalled_used_valid = 1;
	assert_int_equal(vq_load(&f->vq, &s), 0);
	f->ring.avail_idx = start;

	/* used_event = start: the first push interrupts. */
	fr_set_used_event(&f->ring, start);
	push_n(f, 1);
	assert_true(vq_should_notify(&f->vq));
	/* used_event behind: no interrupt. */
	push_n(f, 1);
	assert_false(vq_should_notify(&f->vq));
	/* used_event = start+3, pushes bring used from start+2 to start+5: crossed. */
	fr_set_used_event(&f->ring, (uint16_t)(start + 3));
	push_n(f, 3);
	assert_true(vq_should_notify(&f->vq));
	/* used_event = start+7, used from start+5 to start+7: not crossed yet. */
	fr_set_used_event(&f->ring, (uint16_t)(start + 7));
	push_n(f, 2);
	assert_false(vq_should_notify(&f->vq));
	/* ... one more crosses it (used_event = old index). */
	push_n(f, 1);
	assert_true(vq_should_notify(&f->vq));
	/* used_event far ahead: nothing. */
	fr_set_used_event(&f->ring, (uint16_t)(start + 0x8000));
	push_n(f, 4);
	assert_false(vq_should_notify(&f->vq));
}

static void test_event_idx(void **state)
{
	struct fixture *f = *state;

	enable(f);
	vq_set_features(&f->vq, true, false);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	/* Before any decision, the first push always interrupts. */
	fr_set_used_event(&f->ring, 100);
	push_n(f, 1);
	assert_true(vq_should_notify(&f->vq));

	check_event_idx_from(f, 10);
	check_event_idx_from(f, 65533); /* indices wrap past 65535 */
	check_event_idx_from(f, 65535);

	/* With EVENT_IDX the flags are ignored. */
	fr_set_avail_flags(&f->ring, VRING_AVAIL_F_NO_INTERRUPT);
	fr_set_used_event(&f->ring, f->vq.used_idx);
	push_n(f, 1);
	assert_true(vq_should_notify(&f->vq));
}

static void test_event_idx_wrap_exact(void **state)
{
	struct fixture *f = *state;
	struct vq_state s;

	enable(f);
	vq_set_features(&f->vq, true, false);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	vq_save(&f->vq, &s);
	s.last_avail_idx = s.used_idx = s.signalled_used = 65534;
	s.signalled_used_valid = 1;
	assert_int_equal(vq_load(&f->vq, &s), 0);
	f->ring.avail_idx = 65534;
	/* old 65534, new 0: used_event 65535 is inside [65534, 0). */
	fr_set_used_event(&f->ring, 65535);
	push_n(f, 2);
	assert_int_equal(f->vq.used_idx, 0);
	assert_int_equal(fr_used_idx(&f->ring), 0);
	assert_true(vq_should_notify(&f->vq));
	/* old 0, new 2: used_event 65535 is behind. */
	push_n(f, 2);
	assert_false(vq_should_notify(&f->vq));
	/* old 2, new 4: used_event 1 is behind; then old 4, new 6: 5 is inside. */
	fr_set_used_event(&f->ring, 1);
	push_n(f, 2);
	assert_false(vq_should_notify(&f->vq));
	fr_set_used_event(&f->ring, 5);
	push_n(f, 2);
	assert_true(vq_should_notify(&f->vq));
}

static void test_avail_event(void **state)
{
	struct fixture *f = *state;

	enable(f);
	vq_set_features(&f->vq, true, false);
	fr_desc(&f->ring, 0, BUF, 8, 0, 0);
	fr_publish(&f->ring, 0);
	fr_publish(&f->ring, 0);
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	/* Notifications on: avail_event follows the device. */
	assert_int_equal(fr_avail_event(&f->ring), 1);
	assert_true(fr_dirty(&f->gm, USED));
	/* Off: it stays behind, so a kicking driver sees no need to kick. */
	assert_false(vq_set_notification(&f->vq, false));
	assert_int_equal(vq_pop(&f->vq, &f->chain), 1);
	assert_int_equal(fr_avail_event(&f->ring), 1);
	assert_int_equal(fr_used_flags(&f->ring), 0);
	/* On again: caught up; a buffer made available meanwhile is reported. */
	assert_false(vq_set_notification(&f->vq, true));
	assert_int_equal(fr_avail_event(&f->ring), 2);
	vq_set_notification(&f->vq, false);
	fr_publish(&f->ring, 0);
	assert_true(vq_set_notification(&f->vq, true));
}

static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct virtqueue other;
	struct vq_state s, bad;

	enable(f);
	vq_set_features(&f->vq, true, true);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	push_n(f, 3);
	fr_publish(&f->ring, 0);
	vq_save(&f->vq, &s);

	assert_int_equal(vq_init(&other, &f->gm, 0, QSIZE), 0);
	assert_int_equal(vq_load(&other, &s), 0);
	assert_true(other.ready);
	assert_true(other.event_idx);
	assert_int_equal(other.last_avail_idx, 3);
	assert_int_equal(other.used_idx, 3);
	assert_int_equal(vq_pop(&other, &f->chain), 1);
	vq_push_chain(&other, &f->chain, 0);
	assert_int_equal(fr_used_idx(&f->ring), 4);

	/* A state that does not validate is refused and changes nothing. */
	bad = s;
	bad.size = 12;
	assert_int_equal(vq_load(&other, &bad), -EINVAL);
	assert_int_equal(other.size, QSIZE);
	bad = s;
	bad.used_gpa = RAM0_END;
	assert_int_equal(vq_load(&other, &bad), -EINVAL);
	assert_int_equal(other.used_gpa, USED);
}

/* ---- the device core on top: errors break the device, hearth goes on ---- */

struct dummy {
	int activated, resets, notified;
	int config_irqs, queue_irqs;
	struct vq_chain chain;
};

static int dummy_activate(struct virtio_device *dev)
{
	struct dummy *d = dev->priv;
	d->activated++;
	return 0;
}

static void dummy_reset(struct virtio_device *dev)
{
	struct dummy *d = dev->priv;
	d->resets++;
}

static void dummy_queue_notify(struct virtio_device *dev, unsigned q)
{
	struct dummy *d = dev->priv;
	int r;

	d->notified++;
	while ((r = virtio_pop(dev, q, &d->chain)) > 0)
		virtio_push(dev, q, &d->chain, 0);
	virtio_notify(dev, q);
}

static void dummy_notify_queue(struct virtio_device *dev, unsigned q)
{
	struct dummy *d = dev->priv;
	(void)q;
	d->queue_irqs++;
}

static void dummy_notify_config(struct virtio_device *dev)
{
	struct dummy *d = dev->priv;
	d->config_irqs++;
}

static const struct virtio_device_ops dummy_ops = {
    .name = "dummy",
    .device_id = 99,
    .num_queues = 2,
    .queue_max_size = QSIZE,
    .activate = dummy_activate,
    .reset = dummy_reset,
    .queue_notify = dummy_queue_notify,
};

static void bring_up(struct virtio_device *dev, struct fake_ring *ring)
{
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	virtio_set_driver_features(dev, 0, 0);
	virtio_set_driver_features(dev, 1, 1); /* VERSION_1 */
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK);
	assert_true(dev->status & VIRTIO_STATUS_FEATURES_OK);
	fr_program(ring, &dev->vqs[0]);
	assert_int_equal(virtio_queue_enable(dev, 0), 0);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
}

static void test_device_error_needs_reset(void **state)
{
	struct fixture *f = *state;
	struct virtio_device dev;
	struct dummy d = {0};
	uint64_t errors_before = log_guest_error_count();

	assert_int_equal(vq_chain_init(&d.chain, QSIZE), 0);
	assert_int_equal(virtio_device_init(&dev, &dummy_ops, &d, &f->gm, NULL), 0);
	dev.notify_queue = dummy_notify_queue;
	dev.notify_config = dummy_notify_config;
	bring_up(&dev, &f->ring);
	assert_int_equal(d.activated, 1);
	assert_true(dev.active);

	/* A good chain is processed and interrupts. */
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	virtio_queue_notify(&dev, 0);
	assert_int_equal(d.notified, 1);
	assert_int_equal(fr_used_idx(&f->ring), 1);
	assert_int_equal(d.queue_irqs, 1);

	/* A loop: the device breaks, says so, and stops. */
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_NEXT, 0);
	fr_publish(&f->ring, 0);
	virtio_queue_notify(&dev, 0);
	assert_int_equal(d.notified, 2);
	assert_true(dev.broken);
	assert_true(dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(d.config_irqs, 1);
	assert_int_equal(dev.errors, 1);
	assert_true(log_guest_error_count() > errors_before);
	assert_int_equal(fr_used_idx(&f->ring), 1);
	/* Further kicks do nothing, even with a good chain. */
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	virtio_queue_notify(&dev, 0);
	assert_int_equal(d.notified, 2);
	assert_int_equal(virtio_pop(&dev, 0, &d.chain), 0);
	/* The driver cannot clear NEEDS_RESET by writing the status. */
	virtio_set_status(&dev, dev.status & (uint8_t)~VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_true(dev.status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	/* Reset, and the device works again. */
	virtio_set_status(&dev, 0);
	assert_int_equal(d.resets, 1);
	assert_int_equal(dev.status, 0);
	assert_false(dev.broken);
	assert_false(dev.vqs[0].ready);
	fr_init(&f->ring, &f->gm, QSIZE, DESC, AVAIL, USED);
	bring_up(&dev, &f->ring);
	fr_desc(&f->ring, 0, BUF, 8, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring, 0);
	virtio_queue_notify(&dev, 0);
	assert_int_equal(fr_used_idx(&f->ring), 1);

	virtio_device_reset(&dev);
	virtio_device_destroy(&dev);
	vq_chain_destroy(&d.chain);
}

static void test_device_negotiation(void **state)
{
	struct fixture *f = *state;
	struct virtio_device dev;
	struct dummy d = {0};
	const uint8_t base = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	assert_int_equal(virtio_device_init(&dev, &dummy_ops, &d, &f->gm, NULL), 0);
	dev.notify_config = dummy_notify_config;
	assert_int_equal(virtio_get_device_features(&dev, 0), (uint32_t)VIRTIO_TRANSPORT_FEATURES);
	assert_int_equal(virtio_get_device_features(&dev, 1), 1);
	assert_int_equal(virtio_get_device_features(&dev, 2), 0);

	/* Legacy driver (no VERSION_1): FEATURES_OK does not stick. */
	virtio_set_status(&dev, base);
	virtio_set_driver_features(&dev, 0, VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX));
	virtio_set_status(&dev, base | VIRTIO_STATUS_FEATURES_OK);
	assert_false(dev.status & VIRTIO_STATUS_FEATURES_OK);
	/* A feature that was not offered: refused too. */
	virtio_set_driver_features(&dev, 1, 1 | 4); /* bit 34: RING_PACKED */
	virtio_set_status(&dev, base | VIRTIO_STATUS_FEATURES_OK);
	assert_false(dev.status & VIRTIO_STATUS_FEATURES_OK);
	/* DRIVER_OK without FEATURES_OK breaks the device. */
	virtio_set_status(&dev, base | VIRTIO_STATUS_DRIVER_OK);
	assert_true(dev.broken);
	assert_int_equal(d.activated, 0);
	virtio_set_status(&dev, 0);

	/* Proper negotiation. */
	virtio_set_status(&dev, base);
	virtio_set_driver_features(
	    &dev, 0, VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC));
	virtio_set_driver_features(&dev, 1, 1);
	virtio_set_driver_features(&dev, 2, 0); /* harmless */
	virtio_set_status(&dev, base | VIRTIO_STATUS_FEATURES_OK);
	assert_true(dev.status & VIRTIO_STATUS_FEATURES_OK);
	assert_true(virtio_has_feature(&dev, VIRTIO_F_VERSION_1));
	assert_true(virtio_has_feature(&dev, VIRTIO_F_RING_EVENT_IDX));
	assert_false(virtio_has_feature(&dev, 70));
	/* Features cannot change after FEATURES_OK. */
	virtio_set_driver_features(&dev, 0, 0);
	assert_true(virtio_has_feature(&dev, VIRTIO_F_RING_EVENT_IDX));
	/* Bad queue programming breaks the device at enable. */
	dev.vqs[1].size = 3;
	assert_int_equal(virtio_queue_enable(&dev, 1), -EINVAL);
	assert_true(dev.broken);
	/* A queue number out of range is only logged. */
	virtio_set_status(&dev, 0);
	assert_int_equal(virtio_queue_enable(&dev, 7), -EINVAL);
	virtio_queue_notify(&dev, 9);
	assert_false(dev.broken);
	/* Config accesses beyond the (empty) config space read zeros. */
	{
		uint8_t b[4] = {1, 2, 3, 4};
		virtio_config_read(&dev, 0, b, 4);
		assert_memory_equal(b, "\0\0\0\0", 4);
		virtio_config_write(&dev, 0, b, 4);
	}
	virtio_device_destroy(&dev);

	/* Inconsistent ops are refused. */
	{
		struct virtio_device_ops bad = dummy_ops;
		bad.queue_max_size = 100;
		assert_int_equal(virtio_device_init(&dev, &bad, NULL, &f->gm, NULL), -EINVAL);
		bad = dummy_ops;
		bad.num_queues = 0;
		assert_int_equal(virtio_device_init(&dev, &bad, NULL, &f->gm, NULL), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_normal_chain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_ready, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_zero_length_buffers_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_indirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_descriptor_loop, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_indices, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_avail_jump, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_addresses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_indirect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_lengths, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chain_longer_than_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ring_validation, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_flags, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_idx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_event_idx_wrap_exact, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_avail_event, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_error_needs_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_device_negotiation, setup, teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
