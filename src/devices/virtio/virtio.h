/* SPDX-License-Identifier: MIT */
/*
 * The virtio core: what every virtio device has in common, independent of
 * the transport (virtio-mmio, virtio-pci). A device model fills a
 * struct virtio_device_ops and calls virtio_device_init(); a transport
 * decodes its registers and calls the virtio_* functions below for feature
 * negotiation, status changes, queue programming, notifications and config
 * space; the device takes and returns buffers with virtio_pop()/
 * virtio_push() and raises interrupts with virtio_notify().
 *
 * Only modern (VIRTIO_F_VERSION_1) drivers are supported: a driver that
 * does not accept VERSION_1 never gets FEATURES_OK.
 *
 * Guest errors: a malformed ring, a bad register value that leaves the
 * device unusable, and so on, go through virtio_device_error(): the device
 * sets DEVICE_NEEDS_RESET in its status, raises a configuration-change
 * interrupt, logs through log_guest_error() (rate-limited and counted) and
 * stops processing its queues until the driver resets it. hearth itself
 * never aborts.
 *
 * Threads and locking: dev->lock serializes everything about one device.
 * Transports take it around every register access and around their
 * ioeventfd handlers; the device's own event handlers (back-end
 * completions, timers) take it with virtio_device_lock(). Every function
 * below, and every ops callback, runs with dev->lock held. The transport's
 * notify_queue/notify_config callbacks are called with the lock held and
 * must not take it again.
 */
#ifndef HEARTH_DEVICES_VIRTIO_VIRTIO_H
#define HEARTH_DEVICES_VIRTIO_VIRTIO_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "devices/virtio/virtqueue.h"

/* Feature bit numbers (device-independent ones). */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX	    29
#define VIRTIO_F_VERSION_1	    32
#define VIRTIO_F_ACCESS_PLATFORM    33
#define VIRTIO_F_RING_PACKED	    34
#define VIRTIO_F_IN_ORDER	    35

#define VIRTIO_BIT(n) (1ULL << (n))

/* What every transport offers on top of the device's own features. */
#define VIRTIO_TRANSPORT_FEATURES                                                                  \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_RING_INDIRECT_DESC) |                \
	 VIRTIO_BIT(VIRTIO_F_RING_EVENT_IDX))

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE	 0x01
#define VIRTIO_STATUS_DRIVER		 0x02
#define VIRTIO_STATUS_DRIVER_OK		 0x04
#define VIRTIO_STATUS_FEATURES_OK	 0x08
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED		 0x80

/* Device ids. */
#define VIRTIO_ID_NET	  1
#define VIRTIO_ID_BLOCK	  2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG	  4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_SCSI	  8
#define VIRTIO_ID_9P	  9
#define VIRTIO_ID_VSOCK	  19
#define VIRTIO_ID_FS	  26

/* Vendor id in virtio-mmio's VendorID register (virtio-pci uses 0x1af4). */
#define VIRTIO_VENDOR_ID 0x48525448 /* "HRTH" */

#define VIRTIO_MAX_QUEUES 64

struct virtio_device;

/* What a device model provides. All callbacks run with dev->lock held. */
struct virtio_device_ops {
	const char *name;	 /* "virtio-rng", for messages */
	uint32_t device_id;	 /* VIRTIO_ID_* */
	unsigned num_queues;	 /* 1..VIRTIO_MAX_QUEUES */
	uint16_t queue_max_size; /* power of two, 1..VQ_MAX_SIZE */
	uint64_t features;	 /* device-specific features offered */
	size_t config_size;	 /* bytes of device config space (may be 0) */

	/*
	 * Read len bytes at offset of the config space into data; the core
	 * has checked offset + len <= config_size. NULL reads zeros.
	 */
	void (*config_read)(struct virtio_device *dev, uint32_t offset, uint8_t *data,
			    uint32_t len);
	/*
	 * A driver write into the config space (bounds checked as above).
	 * NULL ignores writes (read-only config space).
	 */
	void (*config_write)(struct virtio_device *dev, uint32_t offset, const uint8_t *data,
			     uint32_t len);
	/*
	 * The driver set DRIVER_OK: dev->features holds the negotiated
	 * features, the ready queues are valid. Start working (register
	 * event sources...). Return 0, or -errno to put the device in
	 * NEEDS_RESET (a host-side failure, logged). May be NULL.
	 */
	int (*activate)(struct virtio_device *dev);
	/*
	 * The driver reset the device (or the VMM does): stop all work,
	 * complete or drop in-flight requests without touching the rings,
	 * unregister event sources. The core resets the queues after this.
	 * May be NULL.
	 */
	void (*reset)(struct virtio_device *dev);
	/*
	 * The driver notified queue q (q < num_queues, the queue is ready, the
	 * device is active and not broken: the core checks). May be NULL.
	 */
	void (*queue_notify)(struct virtio_device *dev, unsigned q);
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	void *priv; /* the device model's state */
	struct guest_memory *gm;
	struct event_loop *loop; /* where the device registers its event sources */
	pthread_mutex_t lock;

	uint64_t host_features;	  /* offered: ops->features | VIRTIO_TRANSPORT_FEATURES */
	uint64_t driver_features; /* as the driver writes them, before FEATURES_OK */
	uint64_t features;	  /* negotiated: valid once FEATURES_OK is set */
	uint8_t status;
	uint32_t config_generation;
	bool active; /* DRIVER_OK accepted and activate() succeeded */
	bool broken; /* DEVICE_NEEDS_RESET: no queue processing until reset */

	unsigned num_queues;
	struct virtqueue *vqs;

	/*
	 * Set by the transport: raise a used-buffer interrupt for queue q, and
	 * a configuration-change interrupt. Called with dev->lock held.
	 */
	void (*notify_queue)(struct virtio_device *dev, unsigned q);
	void (*notify_config)(struct virtio_device *dev);
	void *transport; /* the transport's own state */

	uint64_t errors; /* guest errors this device reported */
};

/*
 * virtio_device_init - set up dev for a device model: ops (must outlive
 * dev), priv, the guest memory its queues live in, and the event loop for
 * its sources (may be NULL in tests that never activate event sources).
 * Returns 0, -EINVAL for inconsistent ops (queue counts or sizes out of
 * range), or -ENOMEM.
 */
int virtio_device_init(struct virtio_device *dev, const struct virtio_device_ops *ops, void *priv,
		       struct guest_memory *gm, struct event_loop *loop);

/* virtio_device_destroy - free the queues and the lock (after a reset). */
void virtio_device_destroy(struct virtio_device *dev);

/* virtio_device_lock / virtio_device_unlock - take and drop dev->lock. */
void virtio_device_lock(struct virtio_device *dev);
void virtio_device_unlock(struct virtio_device *dev);

/*
 * virtio_device_reset - the device reset (status write of 0, or the VMM):
 * ops->reset, then every queue reset, features and status cleared, the
 * device no longer broken. The config generation is kept.
 */
void virtio_device_reset(struct virtio_device *dev);

/*
 * virtio_device_error - the guest broke the device: log fmt (through
 * log_guest_error, prefixed with the device name), count it, set
 * DEVICE_NEEDS_RESET and raise a configuration-change interrupt when the
 * driver had set DRIVER_OK; processing stops until reset. Repeated errors
 * while broken are counted but not re-signalled.
 */
void virtio_device_error(struct virtio_device *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* virtio_has_feature - whether feature bit `bit` was negotiated. */
static inline bool virtio_has_feature(const struct virtio_device *dev, unsigned bit)
{
	return bit < 64 && (dev->features & VIRTIO_BIT(bit));
}

/* ---- for transports ------------------------------------------------------ */

/* virtio_get_device_features - 32-bit word `sel` (0 or 1; others 0) of host_features. */
uint32_t virtio_get_device_features(const struct virtio_device *dev, uint32_t sel);

/*
 * virtio_set_driver_features - the driver writes 32-bit word sel (0 or 1)
 * of the features it accepts. Writes to other words must be zero (else a
 * logged guest error, ignored); writes after FEATURES_OK are ignored.
 */
void virtio_set_driver_features(struct virtio_device *dev, uint32_t sel, uint32_t value);

/*
 * virtio_set_status - the driver writes the status register:
 *  0: reset (virtio_device_reset);
 *  FEATURES_OK newly set: accepted only when driver_features is a subset of
 *    host_features and includes VERSION_1 (else the bit stays clear, which
 *    the driver sees when it reads the status back);
 *  DRIVER_OK newly set: needs FEATURES_OK; every ready queue is set up
 *    with the negotiated ring features, then ops->activate;
 *  clearing a bit other than by reset is a guest error (ignored).
 * NEEDS_RESET stays set while broken.
 */
void virtio_set_status(struct virtio_device *dev, uint8_t status);

/*
 * virtio_queue_enable - the driver marks queue q ready (QueueReady = 1,
 * queue_enable = 1): validate its size and addresses. A bad value breaks
 * the device (virtio_device_error). Returns 0 or -EINVAL. q out of range
 * is a guest error too.
 */
int virtio_queue_enable(struct virtio_device *dev, unsigned q);

/*
 * virtio_queue_notify - the driver notified queue q: ops->queue_notify
 * when q is valid and ready and the device active and not broken; an
 * invalid q is a logged guest error, otherwise ignored.
 */
void virtio_queue_notify(struct virtio_device *dev, unsigned q);

/*
 * virtio_config_read / virtio_config_write - an access to the device config
 * space. Out-of-range accesses are guest errors: reads return zeros, writes
 * are dropped.
 */
void virtio_config_read(struct virtio_device *dev, uint32_t offset, uint8_t *data, uint32_t len);
void virtio_config_write(struct virtio_device *dev, uint32_t offset, const uint8_t *data,
			 uint32_t len);

/* ---- for devices --------------------------------------------------------- */

/*
 * virtio_pop - vq_pop() on queue q of an active, unbroken device. Returns 1
 * with a chain in c, 0 when there is nothing (or the device may not
 * process), or a negative errno after breaking the device with
 * virtio_device_error() for a malformed chain.
 */
int virtio_pop(struct virtio_device *dev, unsigned q, struct vq_chain *c);

/*
 * virtio_push - return chain c to queue q with `written` bytes written
 * into its writable buffers (marked dirty). Does not interrupt: call
 * virtio_notify() after a batch. Nothing happens when the device was reset
 * or broken since the chain was popped (the queue is gone then).
 */
void virtio_push(struct virtio_device *dev, unsigned q, const struct vq_chain *c, uint32_t written);

/*
 * virtio_notify - raise queue q's used-buffer interrupt through the
 * transport if the driver wants one (vq_should_notify()).
 */
void virtio_notify(struct virtio_device *dev, unsigned q);

/*
 * virtio_config_changed - the device changed its config space: bump the
 * config generation and raise a configuration-change interrupt (when the
 * driver has set DRIVER_OK).
 */
void virtio_config_changed(struct virtio_device *dev);

/* ---- snapshots ----------------------------------------------------------- */

/*
 * The transport-independent state of a device (snapshots, migration). The
 * device model saves its own state (config space contents, back-end
 * position) next to it, the transport its registers.
 */
struct virtio_state {
	uint32_t device_id;  /* checked on load */
	uint32_t num_queues; /* checked on load */
	uint64_t host_features;
	uint64_t driver_features;
	uint64_t features;
	uint32_t config_generation;
	uint8_t status;
	uint8_t active;
	uint8_t broken;
	uint8_t reserved;
	struct vq_state queues[VIRTIO_MAX_QUEUES];
};

/* virtio_device_save - record dev's state in s (lock held, device quiesced). */
void virtio_device_save(const struct virtio_device *dev, struct virtio_state *s);

/*
 * virtio_device_load - restore dev (initialized with the same ops, over the
 * target guest memory, reset) from s: the device id and queue count must
 * match, the features must be ones this build offers, every queue must
 * validate (vq_load()). Does not call ops->activate: the device model
 * restores its own state and restarts itself when s->active. Returns 0, or
 * -EINVAL leaving dev reset.
 */
int virtio_device_load(struct virtio_device *dev, const struct virtio_state *s);

#endif
