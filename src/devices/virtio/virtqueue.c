/* SPDX-License-Identifier: MIT */
/* Split virtqueues, device side: see virtqueue.h for the rules enforced. */
#include "devices/virtio/virtqueue.h"
#include "core/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offsets inside the available and used rings. */
#define RING_FLAGS    0
#define RING_IDX      2
#define RING_ENTRIES  4
#define AVAIL_ELEM(i) (RING_ENTRIES + 2ULL * (i))
#define USED_ELEM(i)  (RING_ENTRIES + 8ULL * (i))

static void vq_fail(struct virtqueue *vq, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vq_fail(struct virtqueue *vq, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->err, sizeof(vq->err), fmt, ap);
	va_end(ap);
}

static bool is_pow2(uint32_t n)
{
	return n && !(n & (n - 1));
}

/*
 * Accessors for the shared rings. The guest writes them concurrently, so
 * every load is a single atomic access (never re-read by the compiler) and
 * the stores that publish something use release order.
 */
static uint16_t ring_load16(const void *base, uint64_t off, int order)
{
	const uint16_t *p = (const uint16_t *)((const uint8_t *)base + off);

	return __atomic_load_n(p, order);
}

static void ring_store16(void *base, uint64_t off, uint16_t v, int order)
{
	uint16_t *p = (uint16_t *)((uint8_t *)base + off);

	__atomic_store_n(p, v, order);
}

static void ring_store32(void *base, uint64_t off, uint32_t v)
{
	uint32_t *p = (uint32_t *)((uint8_t *)base + off);

	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

int vq_init(struct virtqueue *vq, struct guest_memory *gm, uint16_t index, uint16_t max_size)
{
	memset(vq, 0, sizeof(*vq));
	if (!is_pow2(max_size) || max_size > VQ_MAX_SIZE)
		return -EINVAL;
	vq->gm = gm;
	vq->index = index;
	vq->max_size = max_size;
	vq_reset(vq);
	return 0;
}

void vq_reset(struct virtqueue *vq)
{
	vq->size = vq->max_size;
	vq->desc_gpa = vq->avail_gpa = vq->used_gpa = 0;
	vq->ready = false;
	vq->event_idx = vq->indirect = false;
	vq->notify_enabled = true;
	vq->last_avail_idx = vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->desc = vq->avail = vq->used = NULL;
	vq->err[0] = '\0';
}

/* Validate the programmed size and addresses; cache host pointers in *_out. */
static int vq_check_rings(struct virtqueue *vq, void **desc, void **avail, void **used)
{
	uint32_t n = vq->size;

	if (!is_pow2(n) || n > vq->max_size) {
		vq_fail(vq, "queue size %u is not a power of two in 1..%u", n, vq->max_size);
		return -EINVAL;
	}
	if (!IS_ALIGNED(vq->desc_gpa, 16) || !IS_ALIGNED(vq->avail_gpa, 2) ||
	    !IS_ALIGNED(vq->used_gpa, 4)) {
		vq_fail(vq, "misaligned ring (desc %#llx, avail %#llx, used %#llx)",
			(unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			(unsigned long long)vq->used_gpa);
		return -EINVAL;
	}
	*desc = gm_ptr(vq->gm, vq->desc_gpa, VRING_DESC_BYTES(n));
	*avail = gm_ptr(vq->gm, vq->avail_gpa, VRING_AVAIL_BYTES(n));
	*used = gm_ptr(vq->gm, vq->used_gpa, VRING_USED_BYTES(n));
	if (!*desc || !*avail || !*used) {
		vq_fail(vq, "ring outside guest RAM (desc %#llx, avail %#llx, used %#llx, size %u)",
			(unsigned long long)vq->desc_gpa, (unsigned long long)vq->avail_gpa,
			(unsigned long long)vq->used_gpa, n);
		return -EINVAL;
	}
	return 0;
}

int vq_enable(struct virtqueue *vq)
{
	void *desc, *avail, *used;
	int r = vq_check_rings(vq, &desc, &avail, &used);

	if (r)
		return r;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->ready = true;
	vq->signalled_used = vq->used_idx;
	vq->signalled_used_valid = false;
	return 0;
}

void vq_disable(struct virtqueue *vq)
{
	vq->ready = false;
	vq->desc = vq->avail = vq->used = NULL;
}

void vq_set_features(struct virtqueue *vq, bool event_idx, bool indirect)
{
	vq->event_idx = event_idx;
	vq->indirect = indirect;
}

int vq_chain_init(struct vq_chain *c, unsigned cap)
{
	memset(c, 0, sizeof(*c));
	if (cap == 0 || cap > VQ_MAX_SIZE)
		return -EINVAL;
	c->iov = calloc(cap, sizeof(*c->iov));
	c->gpa = calloc(cap, sizeof(*c->gpa));
	if (!c->iov || !c->gpa) {
		vq_chain_destroy(c);
		return -ENOMEM;
	}
	c->cap = cap;
	return 0;
}

void vq_chain_destroy(struct vq_chain *c)
{
	free(c->iov);
	free(c->gpa);
	c->iov = NULL;
	c->gpa = NULL;
	c->cap = 0;
}

/* Copy descriptor i of a table of host memory (the guest may change it meanwhile). */
static struct vring_desc desc_load(const void *table, uint32_t i)
{
	struct vring_desc d;

	memcpy(&d, (const uint8_t *)table + 16ULL * i, sizeof(d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST); /* use the copy, never re-read */
	return d;
}

/* Add one buffer of descriptor d to c. */
static int chain_add(struct virtqueue *vq, struct vq_chain *c, const struct vring_desc *d,
		     uint64_t *total, bool *seen_write)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	void *hva;

	if (!write && *seen_write) {
		vq_fail(vq, "chain %u: device-readable buffer after a writable one", c->head);
		return -EINVAL;
	}
	*seen_write |= write;
	if (d->len == 0)
		return 0;
	*total += d->len; /* at most 2^16 + 2^15 lengths of < 2^32: no overflow */
	if (*total > VQ_CHAIN_MAX_BYTES) {
		vq_fail(vq, "chain %u: buffers longer than %llu bytes in total", c->head,
			(unsigned long long)VQ_CHAIN_MAX_BYTES);
		return -EINVAL;
	}
	hva = gm_ptr(vq->gm, d->addr, d->len);
	if (!hva) {
		vq_fail(vq, "chain %u: buffer %#llx+%u is not in guest RAM", c->head,
			(unsigned long long)d->addr, d->len);
		return -EFAULT;
	}
	if (c->nr_out + c->nr_in >= c->cap) {
		vq_fail(vq, "chain %u: more than %u buffers", c->head, c->cap);
		return -E2BIG;
	}
	c->iov[c->nr_out + c->nr_in] = (struct iovec){.iov_base = hva, .iov_len = d->len};
	c->gpa[c->nr_out + c->nr_in] = d->addr;
	if (write) {
		c->nr_in++;
		c->in_bytes += d->len;
	} else {
		c->nr_out++;
		c->out_bytes += d->len;
	}
	return 0;
}

/* Walk the chain starting at head into c. */
static int chain_walk(struct virtqueue *vq, struct vq_chain *c, uint16_t head)
{
	const void *table = vq->desc;
	uint32_t table_size = vq->size;
	uint32_t i = head, visited = 0;
	bool indirect = false, seen_write = false;
	uint64_t total = 0;
	int r;

	c->gm = vq->gm;
	c->head = head;
	c->nr_out = c->nr_in = 0;
	c->out_bytes = c->in_bytes = 0;

	for (;;) {
		struct vring_desc d;

		if (++visited > table_size) {
			vq_fail(vq, "chain %u: more than %u descriptors (a loop?)", head,
				table_size);
			return -EINVAL;
		}
		d = desc_load(table, i);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			if (indirect) {
				vq_fail(vq,
					"chain %u: indirect descriptor inside an indirect table",
					head);
				return -EINVAL;
			}
			if (!vq->indirect) {
				vq_fail(vq, "chain %u: indirect descriptor not negotiated", head);
				return -EINVAL;
			}
			if (d.flags & VRING_DESC_F_NEXT) {
				vq_fail(vq, "chain %u: indirect descriptor with NEXT set", head);
				return -EINVAL;
			}
			if (d.len == 0 || d.len % 16 || d.len / 16 > VQ_MAX_SIZE) {
				vq_fail(vq, "chain %u: bad indirect table length %u", head, d.len);
				return -EINVAL;
			}
			table = gm_ptr(vq->gm, d.addr, d.len);
			if (!table) {
				vq_fail(vq, "chain %u: indirect table %#llx+%u is not in guest RAM",
					head, (unsigned long long)d.addr, d.len);
				return -EFAULT;
			}
			table_size = d.len / 16;
			indirect = true;
			visited = 0;
			i = 0;
			continue;
		}
		r = chain_add(vq, c, &d, &total, &seen_write);
		if (r)
			return r;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
		if (i >= table_size) {
			vq_fail(vq, "chain %u: next index %u out of range (%u descriptors)", head,
				i, table_size);
			return -EINVAL;
		}
	}
}

int vq_pop(struct virtqueue *vq, struct vq_chain *c)
{
	uint16_t avail_idx, pending, head;
	int r;

	if (!vq->ready)
		return 0;
	avail_idx = ring_load16(vq->avail, RING_IDX, __ATOMIC_ACQUIRE);
	pending = (uint16_t)(avail_idx - vq->last_avail_idx);
	if (pending == 0)
		return 0;
	if (pending > vq->size) {
		vq_fail(vq, "available index jumped from %u to %u (queue size %u)",
			vq->last_avail_idx, avail_idx, vq->size);
		return -EINVAL;
	}
	head = ring_load16(vq->avail, AVAIL_ELEM(vq->last_avail_idx & (vq->size - 1)),
			   __ATOMIC_RELAXED);
	if (head >= vq->size) {
		vq_fail(vq, "head index %u out of range (queue size %u)", head, vq->size);
		return -EINVAL;
	}
	r = chain_walk(vq, c, head);
	if (r)
		return r;
	vq->last_avail_idx++;
	if (vq->event_idx && vq->notify_enabled) {
		ring_store16(vq->used, USED_ELEM(vq->size), vq->last_avail_idx, __ATOMIC_RELAXED);
		gm_mark_dirty(vq->gm, vq->used_gpa + USED_ELEM(vq->size), 2);
	}
	return 1;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	uint64_t off;

	if (!vq->ready)
		return;
	off = USED_ELEM(vq->used_idx & (vq->size - 1));
	ring_store32(vq->used, off, head);
	ring_store32(vq->used, off + 4, written);
	gm_mark_dirty(vq->gm, vq->used_gpa + off, 8);
	vq->used_idx++;
	/* The element must be visible before the index that publishes it. */
	ring_store16(vq->used, RING_IDX, vq->used_idx, __ATOMIC_RELEASE);
	gm_mark_dirty(vq->gm, vq->used_gpa + RING_IDX, 2);
}

void vq_push_chain(struct virtqueue *vq, const struct vq_chain *c, uint32_t written)
{
	uint64_t left = MIN((uint64_t)written, c->in_bytes);

	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && left; i++) {
		uint64_t n = MIN(left, (uint64_t)c->iov[i].iov_len);
		gm_mark_dirty(c->gm, c->gpa[i], n);
		left -= n;
	}
	vq_push(vq, c->head, (uint32_t)MIN((uint64_t)written, c->in_bytes));
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old, new, event;
	bool valid;

	if (!vq->ready)
		return false;
	/* Order our used-index store before reading the driver's wishes. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	old = vq->signalled_used;
	new = vq->used_idx;
	valid = vq->signalled_used_valid;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (old == new)
		return false; /* nothing pushed since the last decision */
	if (!vq->event_idx)
		return !(ring_load16(vq->avail, RING_FLAGS, __ATOMIC_RELAXED) &
			 VRING_AVAIL_F_NO_INTERRUPT);
	if (!valid)
		return true;
	event = ring_load16(vq->avail, AVAIL_ELEM(vq->size), __ATOMIC_RELAXED);
	/* Interrupt when used_event lies in [old, new), modulo 2^16. */
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

bool vq_set_notification(struct virtqueue *vq, bool enable)
{
	vq->notify_enabled = enable;
	if (!vq->ready)
		return false;
	if (vq->event_idx) {
		/* Disabled: avail_event stays behind, so the driver does not kick. */
		if (!enable)
			return false;
		ring_store16(vq->used, USED_ELEM(vq->size), vq->last_avail_idx, __ATOMIC_RELAXED);
		gm_mark_dirty(vq->gm, vq->used_gpa + USED_ELEM(vq->size), 2);
	} else {
		ring_store16(vq->used, RING_FLAGS, enable ? 0 : VRING_USED_F_NO_NOTIFY,
			     __ATOMIC_RELAXED);
		gm_mark_dirty(vq->gm, vq->used_gpa + RING_FLAGS, 2);
	}
	if (!enable)
		return false;
	/* Publish the flag before looking for buffers added meanwhile. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vq_has_available(vq);
}

bool vq_has_available(struct virtqueue *vq)
{
	if (!vq->ready)
		return false;
	return ring_load16(vq->avail, RING_IDX, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

size_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len)
{
	size_t done = 0;

	for (unsigned i = 0; i < c->nr_out && done < len; i++) {
		const struct iovec *v = &c->iov[i];
		size_t n;

		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		n = MIN(len - done, v->iov_len - (size_t)off);
		memcpy((uint8_t *)dst + done, (const uint8_t *)v->iov_base + off, n);
		done += n;
		off = 0;
	}
	return done;
}

size_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len)
{
	size_t done = 0;

	for (unsigned i = c->nr_out; i < c->nr_out + c->nr_in && done < len; i++) {
		const struct iovec *v = &c->iov[i];
		size_t n;

		if (off >= v->iov_len) {
			off -= v->iov_len;
			continue;
		}
		n = MIN(len - done, v->iov_len - (size_t)off);
		memcpy((uint8_t *)v->iov_base + off, (const uint8_t *)src + done, n);
		gm_mark_dirty(c->gm, c->gpa[i] + off, n);
		done += n;
		off = 0;
	}
	return done;
}

void vq_save(const struct virtqueue *vq, struct vq_state *s)
{
	memset(s, 0, sizeof(*s));
	s->size = vq->size;
	s->ready = vq->ready;
	s->signalled_used_valid = vq->signalled_used_valid;
	s->last_avail_idx = vq->last_avail_idx;
	s->used_idx = vq->used_idx;
	s->signalled_used = vq->signalled_used;
	s->event_idx = vq->event_idx;
	s->indirect = vq->indirect;
	s->notify_enabled = vq->notify_enabled;
	s->desc_gpa = vq->desc_gpa;
	s->avail_gpa = vq->avail_gpa;
	s->used_gpa = vq->used_gpa;
}

int vq_load(struct virtqueue *vq, const struct vq_state *s)
{
	void *desc = NULL, *avail = NULL, *used = NULL;
	uint16_t saved_size = vq->size;
	uint64_t saved[3] = {vq->desc_gpa, vq->avail_gpa, vq->used_gpa};

	vq->size = s->size;
	vq->desc_gpa = s->desc_gpa;
	vq->avail_gpa = s->avail_gpa;
	vq->used_gpa = s->used_gpa;
	if (s->ready && vq_check_rings(vq, &desc, &avail, &used)) {
		vq->size = saved_size;
		vq->desc_gpa = saved[0];
		vq->avail_gpa = saved[1];
		vq->used_gpa = saved[2];
		return -EINVAL;
	}
	if (!s->ready && (s->size > vq->max_size)) {
		vq_fail(vq, "saved queue size %u above the maximum %u", s->size, vq->max_size);
		vq->size = saved_size;
		return -EINVAL;
	}
	vq->ready = s->ready;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	vq->last_avail_idx = s->last_avail_idx;
	vq->used_idx = s->used_idx;
	vq->signalled_used = s->signalled_used;
	vq->signalled_used_valid = s->signalled_used_valid;
	vq->event_idx = s->event_idx;
	vq->indirect = s->indirect;
	vq->notify_enabled = s->notify_enabled;
	return 0;
}
