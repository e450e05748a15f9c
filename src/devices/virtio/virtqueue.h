/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueues (virtio 1.2, section 2.7) over guest memory, as the
 * device side sees them. Transport independent: the transports (MMIO, PCI)
 * fill in the size and ring addresses the driver programs and call
 * vq_enable(); devices take buffers with vq_pop() and return them with
 * vq_push()/vq_push_chain().
 *
 * Everything in the rings is written by a hostile guest, concurrently with
 * the device reading it. The rules this file enforces:
 *  - queue size: a power of two, 1..max_size (max_size <= VQ_MAX_SIZE);
 *  - ring addresses: descriptor table 16-byte aligned, available ring
 *    2-byte aligned, used ring 4-byte aligned, each ring (including the
 *    event-index word) wholly inside one guest RAM region; checked by
 *    vq_enable()/vq_load(); the host pointers are then cached (guest RAM
 *    never moves while a VM exists) and every ring index is reduced modulo
 *    the queue size before use;
 *  - descriptors are copied out of guest memory once, then validated: the
 *    head and every `next` index < size; a chain visits at most `size`
 *    descriptors (which ends loops); an indirect table has a length that is
 *    a non-zero multiple of 16 and at most VQ_MAX_SIZE entries, lies inside
 *    RAM, is not chained to other descriptors (NEXT with INDIRECT) and holds
 *    no indirect descriptors itself (so a chain is at most `size` ring
 *    descriptors, the last of which may point at one indirect table);
 *    INDIRECT is refused unless VIRTIO_F_RING_INDIRECT_DESC was negotiated;
 *  - a buffer lies wholly inside one RAM region (not in an MMIO hole, not
 *    across a region's end); device-readable buffers come before
 *    device-writable ones; the sum of a chain's buffer lengths must not
 *    exceed VQ_CHAIN_MAX_BYTES (computed without overflow);
 *  - the available index may run ahead of the device by at most `size`
 *    entries; a larger jump is an error.
 * A violation makes vq_pop() return a negative errno with a message in
 * vq->err; the caller then breaks the device (virtio_device_error() in
 * virtio.h, which virtio_pop() does for it). Nothing here aborts.
 *
 * Every write into guest memory (used ring entries, the used index, the
 * used flags, avail_event, and the device's writes into writable buffers)
 * is recorded in the VMM-side dirty bitmap: the ring writes through
 * gm_mark_dirty(), buffer writes by vq_chain_write() or vq_push_chain().
 *
 * Threads: a virtqueue is not locked; its device serializes all calls
 * (virtio_device's lock). The guest's vCPUs run concurrently; the needed
 * memory barriers are inside these functions.
 */
#ifndef HEARTH_DEVICES_VIRTIO_VIRTQUEUE_H
#define HEARTH_DEVICES_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/guest_memory.h"

/* Largest split queue size the specification allows. */
#define VQ_MAX_SIZE 32768u

/* Most bytes all buffers of one chain may describe together (4 GiB - 1). */
#define VQ_CHAIN_MAX_BYTES 0xffffffffULL

/* Descriptor flags. */
#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

/* Available ring flags: the driver asks for no used-buffer interrupts. */
#define VRING_AVAIL_F_NO_INTERRUPT 1
/* Used ring flags: the device asks for no available-buffer notifications. */
#define VRING_USED_F_NO_NOTIFY 1

/* Ring layout (little-endian, as x86 hosts and guests are). */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

/* Bytes of each ring for a queue of n entries (with the event-index word). */
#define VRING_DESC_BYTES(n)  (16ULL * (n))
#define VRING_AVAIL_BYTES(n) (6ULL + 2ULL * (n))
#define VRING_USED_BYTES(n)  (6ULL + 8ULL * (n))

struct virtqueue {
	struct guest_memory *gm;
	uint16_t index;	   /* the queue's number within its device */
	uint16_t max_size; /* QueueNumMax offered to the driver */

	/* Programmed by the driver through the transport while !ready. */
	uint16_t size;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;

	bool ready;	     /* vq_enable() accepted the programming above */
	bool event_idx;	     /* VIRTIO_F_RING_EVENT_IDX negotiated (set at activation) */
	bool indirect;	     /* VIRTIO_F_RING_INDIRECT_DESC negotiated */
	bool notify_enabled; /* the device wants available-buffer notifications */

	/* Device-side indices (free-running, modulo 2^16). */
	uint16_t last_avail_idx; /* next available entry to take */
	uint16_t used_idx;	 /* next used entry to fill */
	uint16_t signalled_used; /* used_idx at the last interrupt decision */
	bool signalled_used_valid;

	/* Host views of the rings, valid while ready. */
	void *desc;  /* struct vring_desc[size] */
	void *avail; /* flags, idx, ring[size], used_event */
	void *used;  /* flags, idx, ring[size], avail_event */

	char err[160]; /* why the last vq_* call failed */
};

/*
 * A descriptor chain taken from the available ring, translated to host
 * memory. iov[0 .. nr_out) are the device-readable buffers in chain order,
 * iov[nr_out .. nr_out + nr_in) the device-writable ones; gpa[i] is the
 * guest address of iov[i]. Zero-length buffers are left out. The arrays
 * hold `cap` entries; a chain needing more is refused (-E2BIG, a device
 * limit rather than a guest error: see vq_pop()).
 */
struct vq_chain {
	struct guest_memory *gm;
	uint16_t head; /* descriptor index to give back with vq_push() */
	unsigned nr_out;
	unsigned nr_in;
	uint64_t out_bytes; /* total of the readable buffers */
	uint64_t in_bytes;  /* total of the writable buffers */
	unsigned cap;
	struct iovec *iov;
	uint64_t *gpa;
};

/*
 * vq_init - set up vq as queue number index of a device over gm, offering
 * max_size entries (a power of two, 1..VQ_MAX_SIZE). The queue starts
 * reset (not ready). Returns 0 or -EINVAL for a bad max_size.
 */
int vq_init(struct virtqueue *vq, struct guest_memory *gm, uint16_t index, uint16_t max_size);

/*
 * vq_reset - forget the driver's programming: size = max_size, addresses 0,
 * indices 0, not ready, notifications enabled, features off.
 */
void vq_reset(struct virtqueue *vq);

/*
 * vq_enable - validate size and ring addresses (rules above) and make the
 * queue ready. Returns 0, or -EINVAL with a message in vq->err (the queue
 * stays not ready).
 */
int vq_enable(struct virtqueue *vq);

/* vq_disable - stop using the rings (ready = false); indices are kept. */
void vq_disable(struct virtqueue *vq);

/*
 * vq_set_features - record which ring features the driver negotiated
 * (VIRTIO_F_RING_EVENT_IDX, VIRTIO_F_RING_INDIRECT_DESC). Call before use.
 */
void vq_set_features(struct virtqueue *vq, bool event_idx, bool indirect);

/*
 * vq_chain_init - allocate room for cap buffers (1..VQ_MAX_SIZE; a device
 * usually passes its queue's max_size). Returns 0, -EINVAL or -ENOMEM.
 */
int vq_chain_init(struct vq_chain *c, unsigned cap);

/* vq_chain_destroy - free what vq_chain_init() allocated. */
void vq_chain_destroy(struct vq_chain *c);

/*
 * vq_pop - take the next available chain into c. Returns 1 (a chain),
 * 0 (the ring is empty, or the queue is not ready), or a negative errno for
 * a malformed ring or chain (message in vq->err): -EINVAL for a rule above,
 * -EFAULT for memory outside RAM, -E2BIG when the chain has more buffers
 * than c->cap. On error the chain is consumed neither from the ring nor
 * otherwise; the device must stop using the queue (NEEDS_RESET).
 */
int vq_pop(struct virtqueue *vq, struct vq_chain *c);

/*
 * vq_push - put chain head back on the used ring saying the device wrote
 * `written` bytes into its writable buffers, and publish the new used index
 * (release order). The caller has already marked those bytes dirty (use
 * vq_push_chain() when the device wrote through c->iov). head is not
 * checked against the ring: pass only heads vq_pop() returned.
 */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);

/*
 * vq_push_chain - mark the first `written` bytes of c's writable buffers
 * dirty (capped at c->in_bytes) and vq_push() c->head with that length.
 */
void vq_push_chain(struct virtqueue *vq, const struct vq_chain *c, uint32_t written);

/*
 * vq_should_notify - whether the driver wants a used-buffer interrupt for
 * what was pushed since the last call: with EVENT_IDX, when used_event lies
 * in [old used index, new used index) (modulo 2^16); otherwise unless the
 * driver set VRING_AVAIL_F_NO_INTERRUPT. Returns false when nothing was
 * pushed since the last call. Updates the "last signalled" position, so
 * call it once per interrupt decision.
 */
bool vq_should_notify(struct virtqueue *vq);

/*
 * vq_set_notification - ask the driver for available-buffer notifications
 * (enable) or to stop sending them while the device is polling (disable):
 * with EVENT_IDX through avail_event, otherwise VRING_USED_F_NO_NOTIFY.
 * Returns true when, after enabling, buffers are already available (the
 * caller must process them: a kick for them may not come); always false
 * when disabling.
 */
bool vq_set_notification(struct virtqueue *vq, bool enable);

/*
 * vq_has_available - whether the driver has made chains available that
 * vq_pop() has not taken yet (false when not ready).
 */
bool vq_has_available(struct virtqueue *vq);

/*
 * vq_chain_read - copy up to len bytes starting at byte off of c's readable
 * buffers into dst. Returns the number of bytes copied (less when the
 * buffers end first).
 */
size_t vq_chain_read(const struct vq_chain *c, uint64_t off, void *dst, size_t len);

/*
 * vq_chain_write - copy up to len bytes from src into c's writable buffers
 * starting at byte off of them, marking the guest pages dirty. Returns the
 * number of bytes copied (less when the buffers end first).
 */
size_t vq_chain_write(const struct vq_chain *c, uint64_t off, const void *src, size_t len);

/*
 * Saved state of one queue (snapshots, migration). In-flight chains are not
 * part of it: a device completes or stops its requests before saving.
 */
struct vq_state {
	uint16_t size;
	uint8_t ready;
	uint8_t signalled_used_valid;
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used;
	uint8_t event_idx;
	uint8_t indirect;
	uint8_t notify_enabled;
	uint8_t reserved[3];
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;
};

/* vq_save - record vq's state in s. */
void vq_save(const struct virtqueue *vq, struct vq_state *s);

/*
 * vq_load - restore vq (initialized with vq_init() over the target guest
 * memory) from s, validating it as vq_enable() would. Returns 0, or
 * -EINVAL with a message in vq->err.
 */
int vq_load(struct virtqueue *vq, const struct vq_state *s);

#endif
