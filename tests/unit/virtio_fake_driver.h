/* SPDX-License-Identifier: MIT */
/*
 * The driver side of a split virtqueue, for unit tests: builds descriptor
 * tables and the available ring in (fake) guest memory and reads the used
 * ring, as a guest's virtio driver would.
 */
#ifndef HEARTH_TESTS_UNIT_VIRTIO_FAKE_DRIVER_H
#define HEARTH_TESTS_UNIT_VIRTIO_FAKE_DRIVER_H

#include <stdint.h>
#include <string.h>

#include "core/guest_memory.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtqueue.h"

struct fake_ring {
	struct guest_memory *gm;
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx; /* the driver's next available entry */
};

static inline void fr_w16(struct fake_ring *r, uint64_t gpa, uint16_t v)
{
	gm_write(r->gm, gpa, &v, sizeof(v));
}

static inline uint16_t fr_r16(struct fake_ring *r, uint64_t gpa)
{
	uint16_t v = 0;
	gm_read(r->gm, gpa, &v, sizeof(v));
	return v;
}

/* Lay out a ring of size entries at desc/avail/used and zero it. */
static inline void fr_init(struct fake_ring *r, struct guest_memory *gm, uint16_t size,
			   uint64_t desc, uint64_t avail, uint64_t used)
{
	static uint8_t zero[VRING_DESC_BYTES(1024)];

	r->gm = gm;
	r->size = size;
	r->desc = desc;
	r->avail = avail;
	r->used = used;
	r->avail_idx = 0;
	gm_write(gm, desc, zero, VRING_DESC_BYTES(size));
	gm_write(gm, avail, zero, VRING_AVAIL_BYTES(size));
	gm_write(gm, used, zero, VRING_USED_BYTES(size));
}

/* Point vq (already vq_init()ed over the same memory) at r. */
static inline void fr_program(struct fake_ring *r, struct virtqueue *vq)
{
	vq->size = r->size;
	vq->desc_gpa = r->desc;
	vq->avail_gpa = r->avail;
	vq->used_gpa = r->used;
}

/* Write descriptor i of a table at table_gpa. */
static inline void fr_desc_at(struct fake_ring *r, uint64_t table_gpa, uint32_t i, uint64_t addr,
			      uint32_t len, uint16_t flags, uint16_t next)
{
	struct vring_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
	gm_write(r->gm, table_gpa + 16ULL * i, &d, sizeof(d));
}

static inline void fr_desc(struct fake_ring *r, uint32_t i, uint64_t addr, uint32_t len,
			   uint16_t flags, uint16_t next)
{
	fr_desc_at(r, r->desc, i, addr, len, flags, next);
}

/* Make head available and publish the new available index. */
static inline void fr_publish(struct fake_ring *r, uint16_t head)
{
	fr_w16(r, r->avail + 4 + 2ULL * (r->avail_idx % r->size), head);
	r->avail_idx++;
	fr_w16(r, r->avail + 2, r->avail_idx);
}

/* Set the available index to an arbitrary value (hostile tests). */
static inline void fr_set_avail_idx(struct fake_ring *r, uint16_t idx)
{
	r->avail_idx = idx;
	fr_w16(r, r->avail + 2, idx);
}

static inline void fr_set_avail_flags(struct fake_ring *r, uint16_t flags)
{
	fr_w16(r, r->avail, flags);
}

static inline void fr_set_used_event(struct fake_ring *r, uint16_t v)
{
	fr_w16(r, r->avail + 4 + 2ULL * r->size, v);
}

static inline uint16_t fr_used_idx(struct fake_ring *r)
{
	return fr_r16(r, r->used + 2);
}

static inline uint16_t fr_used_flags(struct fake_ring *r)
{
	return fr_r16(r, r->used);
}

static inline uint16_t fr_avail_event(struct fake_ring *r)
{
	return fr_r16(r, r->used + 4 + 8ULL * r->size);
}

static inline struct vring_used_elem fr_used_elem(struct fake_ring *r, uint16_t i)
{
	struct vring_used_elem e = {0, 0};
	gm_read(r->gm, r->used + 4 + 8ULL * (i % r->size), &e, sizeof(e));
	return e;
}

/* Whether the VMM-side dirty bitmap has the page holding gpa. */
static inline bool fr_dirty(const struct guest_memory *gm, uint64_t gpa)
{
	for (unsigned i = 0; i < gm->nr; i++) {
		const struct gm_region *g = &gm->regions[i];
		if (gpa >= g->gpa && gpa - g->gpa < g->size) {
			uint64_t p = (gpa - g->gpa) / GM_PAGE_SIZE;
			return g->dirty[p / 64] & (1ULL << (p % 64));
		}
	}
	return false;
}

/*
 * Bring dev up as a driver would, through the core (no transport): reset,
 * ACKNOWLEDGE, DRIVER, the features (VERSION_1 is added), FEATURES_OK,
 * queue i on rings[i] for i < n, DRIVER_OK. Returns the status read back.
 */
static inline uint8_t fr_bring_up(struct virtio_device *dev, struct fake_ring *rings, unsigned n,
				  uint64_t features)
{
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	virtio_device_lock(dev);
	virtio_set_status(dev, 0);
	virtio_set_status(dev, VIRTIO_STATUS_ACKNOWLEDGE);
	virtio_set_status(dev, st);
	features |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	virtio_set_driver_features(dev, 0, (uint32_t)features);
	virtio_set_driver_features(dev, 1, (uint32_t)(features >> 32));
	virtio_set_status(dev, st | VIRTIO_STATUS_FEATURES_OK);
	for (unsigned i = 0; i < n; i++) {
		fr_program(&rings[i], &dev->vqs[i]);
		virtio_queue_enable(dev, i);
	}
	virtio_set_status(dev, st | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK);
	st = dev->status;
	virtio_device_unlock(dev);
	return st;
}

/* The driver kicks queue q (as a transport would deliver it). */
static inline void fr_kick(struct virtio_device *dev, unsigned q)
{
	virtio_device_lock(dev);
	virtio_queue_notify(dev, q);
	virtio_device_unlock(dev);
}

#endif
