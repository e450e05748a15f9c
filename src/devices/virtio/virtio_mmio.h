/* SPDX-License-Identifier: MIT */
/*
 * The virtio-mmio transport, version 2 (virtio 1.2, section 4.2): a
 * register block at the start of a 4 KiB slot on the MMIO bus, the device's
 * config space at offset 0x100, and one interrupt line.
 *
 * Registers are 32 bits wide and must be accessed as such (other accesses
 * are guest errors: reads see 0, writes are dropped); the config space
 * takes 1, 2, 4 and 8-byte accesses. Legacy (version 1) drivers are not
 * supported: Version reads 2.
 *
 * Interrupt: InterruptStatus bit 0 (used buffer) and bit 1 (configuration
 * change) drive the line: high while any bit is set, low once the driver
 * acknowledged them all (InterruptACK). When an acknowledgement leaves a
 * bit set, the line is lowered and raised again, so that an edge-triggered
 * pin (ISA IRQs as Linux sets them up) sees a new edge and nothing is lost.
 *
 * Notifications: QueueNotify writes reach the device through
 * virtio_mmio_bus_ops.write (a vCPU exit), or, after
 * virtio_mmio_setup_ioeventfds(), through one eventfd per queue that KVM
 * signals in the kernel and the event loop serves: a guest kick then never
 * stops a vCPU in user space.
 *
 * Locking: every register access and ioeventfd handler runs under the
 * device's lock (virtio.h); the interrupt state is protected by it too.
 */
#ifndef HEARTH_DEVICES_VIRTIO_VIRTIO_MMIO_H
#define HEARTH_DEVICES_VIRTIO_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/bus.h"
#include "core/event_loop.h"
#include "core/irq.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_MMIO_MAGIC	  0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION	  2
#define VIRTIO_MMIO_SLOT_SIZE	  0x1000 /* bus range of one device */
#define VIRTIO_MMIO_CONFIG_OFFSET 0x100

/* Register offsets. */
#define VIRTIO_MMIO_REG_MAGIC		  0x000
#define VIRTIO_MMIO_REG_VERSION		  0x004
#define VIRTIO_MMIO_REG_DEVICE_ID	  0x008
#define VIRTIO_MMIO_REG_VENDOR_ID	  0x00c
#define VIRTIO_MMIO_REG_DEVICE_FEATURES	  0x010
#define VIRTIO_MMIO_REG_DEVICE_FEAT_SEL	  0x014
#define VIRTIO_MMIO_REG_DRIVER_FEATURES	  0x020
#define VIRTIO_MMIO_REG_DRIVER_FEAT_SEL	  0x024
#define VIRTIO_MMIO_REG_QUEUE_SEL	  0x030
#define VIRTIO_MMIO_REG_QUEUE_NUM_MAX	  0x034
#define VIRTIO_MMIO_REG_QUEUE_NUM	  0x038
#define VIRTIO_MMIO_REG_QUEUE_READY	  0x044
#define VIRTIO_MMIO_REG_QUEUE_NOTIFY	  0x050
#define VIRTIO_MMIO_REG_INTERRUPT_STATUS  0x060
#define VIRTIO_MMIO_REG_INTERRUPT_ACK	  0x064
#define VIRTIO_MMIO_REG_STATUS		  0x070
#define VIRTIO_MMIO_REG_QUEUE_DESC_LOW	  0x080
#define VIRTIO_MMIO_REG_QUEUE_DESC_HIGH	  0x084
#define VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW  0x090
#define VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW  0x0a0
#define VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_REG_SHM_SEL		  0x0ac
#define VIRTIO_MMIO_REG_SHM_LEN_LOW	  0x0b0
#define VIRTIO_MMIO_REG_SHM_LEN_HIGH	  0x0b4
#define VIRTIO_MMIO_REG_SHM_BASE_LOW	  0x0b8
#define VIRTIO_MMIO_REG_SHM_BASE_HIGH	  0x0bc
#define VIRTIO_MMIO_REG_QUEUE_RESET	  0x0c0
#define VIRTIO_MMIO_REG_CONFIG_GEN	  0x0fc

/* InterruptStatus bits. */
#define VIRTIO_MMIO_INT_VRING  0x1
#define VIRTIO_MMIO_INT_CONFIG 0x2

/*
 * Binds (assign) or unbinds an eventfd to 4-byte guest writes of datamatch
 * at MMIO address addr. The VMM passes a wrapper of kvm_ioeventfd(); tests
 * pass a recorder. Returns 0 or -errno.
 */
typedef int (*virtio_mmio_ioeventfd_fn)(void *opaque, uint64_t addr, uint32_t datamatch, int fd,
					bool assign);

struct virtio_mmio;

struct virtio_mmio_kick {
	struct virtio_mmio *mmio;
	unsigned queue;
	int fd;
};

struct virtio_mmio {
	struct virtio_device *dev;
	uint64_t base; /* guest-physical address of the slot */
	struct irq_line irq;
	int irq_level; /* last level driven, -1 before the first */

	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t interrupt_status;

	struct event_loop *loop;
	virtio_mmio_ioeventfd_fn ioeventfd;
	void *ioeventfd_opaque;
	unsigned nr_kicks; /* ioeventfds registered (0: notifications by exits) */
	struct virtio_mmio_kick kicks[VIRTIO_MAX_QUEUES];
};

/* Bus callbacks; opaque is the struct virtio_mmio. Register VIRTIO_MMIO_SLOT_SIZE bytes. */
extern const struct bus_device_ops virtio_mmio_bus_ops;

/*
 * virtio_mmio_init - attach transport m at guest-physical base to dev
 * (initialized with virtio_device_init()), interrupting through irq. Sets
 * dev's notify_queue/notify_config callbacks. The caller registers m on
 * the MMIO bus with virtio_mmio_bus_ops.
 */
void virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		      struct irq_line irq);

/*
 * virtio_mmio_setup_ioeventfds - create one eventfd per queue, bind each to
 * QueueNotify writes of its queue index with fn, and serve them on loop.
 * Returns 0, or -errno after undoing everything (notifications then keep
 * arriving as MMIO writes, which still work).
 */
int virtio_mmio_setup_ioeventfds(struct virtio_mmio *m, struct event_loop *loop,
				 virtio_mmio_ioeventfd_fn fn, void *opaque);

/*
 * virtio_mmio_destroy - unbind and close the ioeventfds. The caller
 * unregisters the bus range and destroys the device.
 */
void virtio_mmio_destroy(struct virtio_mmio *m);

/* The transport's registers, saved next to the device's virtio_state. */
struct virtio_mmio_state {
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint32_t queue_sel;
	uint32_t interrupt_status;
};

/* virtio_mmio_save - record m's registers in s (device lock held). */
void virtio_mmio_save(const struct virtio_mmio *m, struct virtio_mmio_state *s);

/*
 * virtio_mmio_load - restore m's registers from s and drive the interrupt
 * line to match InterruptStatus. Unknown interrupt bits are dropped.
 */
void virtio_mmio_load(struct virtio_mmio *m, const struct virtio_mmio_state *s);

/*
 * virtio_mmio_cmdline - write the kernel command-line fragment that tells
 * Linux about the device, "virtio_mmio.device=4K@0xBASE:GSI", into buf.
 * Returns the length it has (as snprintf), or -1 on an encoding error.
 */
int virtio_mmio_cmdline(const struct virtio_mmio *m, char *buf, size_t len);

#endif
