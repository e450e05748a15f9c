/* SPDX-License-Identifier: MIT */
/*
 * The virtio-pci modern transport (virtio 1.2, section 4.1), non-transitional:
 * vendor 0x1af4, device 0x1040 + virtio device id, revision 1, the same ids
 * as subsystem ids (>= 0x40, as the specification asks of non-transitional
 * devices). Legacy (0.9.5) drivers find nothing they know: there is no I/O
 * BAR.
 *
 * Everything lives in one 64-bit memory BAR (VIRTIO_PCI_BAR), each
 * structure in its own 4 KiB page:
 *
 *   0x0000  common configuration (struct virtio_pci_common_cfg)
 *   0x1000  ISR status (one byte, read to clear)
 *   0x2000  device-specific configuration (when the device has one)
 *   0x3000  notifications: queue q at 0x3000 + q * VIRTIO_PCI_NOTIFY_MULT
 *   0x4000  MSI-X table (num_queues + 1 vectors)
 *   0x5000  MSI-X pending bit array
 *
 * The capability list holds one vendor-specific capability (0x09) for each
 * of COMMON, ISR, DEVICE (when present), NOTIFY and PCI_CFG, then MSI-X.
 * PCI_CFG is the configuration-space window onto the BAR: the driver
 * writes bar, offset and length (1, 2 or 4) into it and reads or writes
 * pci_cfg_data to access the BAR there; accesses that do not name
 * VIRTIO_PCI_BAR, a valid length, an aligned offset and a range inside
 * the BAR do nothing.
 *
 * Common configuration: fields are accessed at their natural width (the
 * 64-bit ring addresses also as two 32-bit halves); any other access is a
 * logged guest error (reads see 0, writes are dropped). queue_select may
 * point past num_queues: the queue fields then read 0 and writes to them
 * are ignored. queue_size takes a power of two up to the maximum; ring
 * addresses and sizes cannot change while the queue is enabled;
 * queue_enable takes 1 only (the core validates the rings and puts the
 * device in NEEDS_RESET for bad ones). Writing 0 to device_status resets
 * the device and this transport's registers (every MSI-X vector becomes
 * VIRTIO_PCI_NO_VECTOR); the MSI-X table itself is PCI state and is kept.
 * A vector number beyond the table reads back as VIRTIO_PCI_NO_VECTOR, which
 * is how the driver learns it was refused. VIRTIO_F_RING_RESET,
 * VIRTIO_F_NOTIFICATION_DATA and the admin queue are not offered.
 *
 * Notifications: a driver writes a queue's notify address. Each address
 * gets a KVM ioeventfd (any write length, no data match) while the BAR is
 * mapped: the PCI host tells this transport when the guest maps, moves or
 * unmaps the BAR (pci_device_ops.bar_map) and the ioeventfds follow.
 * The eventfds are served on the device's event loop. A notify write that
 * reaches hearth as an MMIO exit (no ioeventfd) notifies the queue too.
 *
 * Interrupts: with MSI-X enabled, a queue raises the vector the driver
 * chose with queue_msix_vector and a configuration change raises
 * config_msix_vector (VIRTIO_PCI_NO_VECTOR: none); the configuration bit of
 * the ISR is still set. Without MSI-X, the ISR bits (queue, configuration)
 * drive INTA: asserted while the ISR is non-zero, deasserted when the
 * driver reads it (which clears it).
 *
 * Locking: BAR and PCI_CFG accesses and the ioeventfd handlers run under
 * the device's lock (virtio.h); the MSI-X table has its own. The PCI host
 * calls the configuration hooks with its lock held, which is then taken
 * before the device's (never the other way round).
 */
#ifndef HEARTH_DEVICES_VIRTIO_VIRTIO_PCI_H
#define HEARTH_DEVICES_VIRTIO_VIRTIO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "core/irq_routing.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"

#define VIRTIO_PCI_VENDOR_ID	  0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040 /* + virtio device id */
#define VIRTIO_PCI_REVISION	  1	 /* non-transitional */

/* Capability cfg_type values. */
#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5

/* Layout of a virtio capability (struct virtio_pci_cap). */
#define VIRTIO_PCI_CAP_LEN	   16
#define VIRTIO_PCI_CAP_CFG_TYPE	   3
#define VIRTIO_PCI_CAP_BAR	   4
#define VIRTIO_PCI_CAP_ID	   5
#define VIRTIO_PCI_CAP_OFFSET	   8
#define VIRTIO_PCI_CAP_LENGTH	   12
#define VIRTIO_PCI_NOTIFY_CAP_MULT 16 /* notify_off_multiplier, after the cap */
#define VIRTIO_PCI_CFG_CAP_DATA	   16 /* pci_cfg_data, after the cap */
#define VIRTIO_PCI_NOTIFY_CAP_LEN  20
#define VIRTIO_PCI_CFG_CAP_LEN	   20

/* The BAR and where each structure lies in it. */
#define VIRTIO_PCI_BAR	       4
#define VIRTIO_PCI_BAR_SIZE    0x8000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_COMMON_LEN  0x40
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_ISR_LEN     1
#define VIRTIO_PCI_DEVICE_OFF  0x2000
#define VIRTIO_PCI_DEVICE_MAX  0x1000 /* largest device config space */
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_TABLE  0x4000
#define VIRTIO_PCI_MSIX_PBA    0x5000
#define VIRTIO_PCI_REGION_SIZE 0x1000

/* Common configuration registers (offsets in the common structure). */
#define VIRTIO_PCI_COMMON_DFSELECT  0x00
#define VIRTIO_PCI_COMMON_DF	    0x04
#define VIRTIO_PCI_COMMON_GFSELECT  0x08
#define VIRTIO_PCI_COMMON_GF	    0x0c
#define VIRTIO_PCI_COMMON_MSIX	    0x10
#define VIRTIO_PCI_COMMON_NUMQ	    0x12
#define VIRTIO_PCI_COMMON_STATUS    0x14
#define VIRTIO_PCI_COMMON_CFGGEN    0x15
#define VIRTIO_PCI_COMMON_Q_SELECT  0x16
#define VIRTIO_PCI_COMMON_Q_SIZE    0x18
#define VIRTIO_PCI_COMMON_Q_MSIX    0x1a
#define VIRTIO_PCI_COMMON_Q_ENABLE  0x1c
#define VIRTIO_PCI_COMMON_Q_NOFF    0x1e
#define VIRTIO_PCI_COMMON_Q_DESCLO  0x20
#define VIRTIO_PCI_COMMON_Q_DESCHI  0x24
#define VIRTIO_PCI_COMMON_Q_AVAILLO 0x28
#define VIRTIO_PCI_COMMON_Q_AVAILHI 0x2c
#define VIRTIO_PCI_COMMON_Q_USEDLO  0x30
#define VIRTIO_PCI_COMMON_Q_USEDHI  0x34
#define VIRTIO_PCI_COMMON_Q_NDATA   0x38
#define VIRTIO_PCI_COMMON_Q_RESET   0x3a
#define VIRTIO_PCI_COMMON_ADM_Q_IDX 0x3c
#define VIRTIO_PCI_COMMON_ADM_Q_NUM 0x3e

#define VIRTIO_PCI_NO_VECTOR 0xffff

/* ISR status bits. */
#define VIRTIO_PCI_ISR_QUEUE  0x1
#define VIRTIO_PCI_ISR_CONFIG 0x2

/*
 * Binds (assign) or unbinds eventfd fd to guest writes of any length at
 * MMIO address addr. The VMM passes a wrapper of kvm_ioeventfd(); tests
 * pass a recorder. Returns 0 or -errno.
 */
typedef int (*virtio_pci_ioeventfd_fn)(void *opaque, uint64_t addr, int fd, bool assign);

struct virtio_pci;

struct virtio_pci_kick {
	struct virtio_pci *vp;
	unsigned queue;
	int fd;	       /* eventfd, -1 when none */
	bool bound;    /* fd is bound to addr */
	uint64_t addr; /* guest-physical notify address it is bound to */
};

struct virtio_pci {
	struct virtio_device *dev;
	struct pci_device pci;
	struct msix msix;
	bool msix_ready;
	unsigned cfg_cap; /* offset of the PCI_CFG capability */

	/* Transport registers (under dev->lock). */
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;

	/* Notifications (under dev->lock). */
	virtio_pci_ioeventfd_fn ioeventfd;
	void *ioeventfd_opaque;
	struct event_loop *loop; /* where the kicks are served, NULL for none */
	bool kicks_on_loop;
	bool bind_failed_logged;
	struct virtio_pci_kick kicks[VIRTIO_MAX_QUEUES];
	uint64_t exit_kicks; /* notifications that arrived as MMIO writes */
};

/*
 * virtio_pci_init - give dev (initialized with virtio_device_init(); its
 * config space at most VIRTIO_PCI_DEVICE_MAX bytes) a virtio-pci function
 * on host: the BAR, the capabilities, MSI-X with num_queues + 1 vectors
 * routed through routing, INTA, and one eventfd per queue served on
 * dev->loop and bound with ioeventfd(opaque, ...) whenever the BAR is
 * mapped (ioeventfd or dev->loop NULL: notifications arrive as MMIO
 * writes only). Sets dev's notify_queue/notify_config callbacks. vp and
 * dev must stay where they are until virtio_pci_destroy(). Returns the
 * slot (1-31), or -EINVAL (config space too large), -ENOSPC (no free
 * slot), -ENOMEM or another -errno; nothing is left behind on failure.
 */
int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *dev, struct pci_host *host,
		    struct irq_routing *routing, virtio_pci_ioeventfd_fn ioeventfd, void *opaque);

/*
 * virtio_pci_destroy - take the function off its host (unbinding the
 * ioeventfds), close the eventfds and free MSI-X. Safe after a failed
 * init, on a zeroed struct and after the host itself was destroyed; the
 * VM's file descriptor must still be open. The caller then resets and
 * destroys the device.
 */
void virtio_pci_destroy(struct virtio_pci *vp);

/*
 * The transport's state in a snapshot: its common-configuration registers
 * (the device's status, features, queue addresses, sizes, enables and
 * config generation are the core's: struct virtio_state), the function's
 * configuration space and its MSI-X table and PBA.
 */
struct virtio_pci_state {
	uint32_t device_feature_select;
	uint32_t driver_feature_select;
	uint16_t queue_select;
	uint16_t config_vector;
	uint16_t queue_vector[VIRTIO_MAX_QUEUES];
	uint8_t isr;
	uint8_t reserved[7];
	struct pci_device_state pci;
	struct msix_state msix;
};

/*
 * virtio_pci_save - record vp's state in s. Takes the PCI host's, the
 * MSI-X table's and the device's locks in turn: call it with none of them
 * held, the device quiesced. Returns 0 or -E2BIG (too many vectors).
 */
int virtio_pci_save(struct virtio_pci *vp, struct virtio_pci_state *s);

/*
 * virtio_pci_load - restore vp from s, after the device's core state was
 * loaded (virtio_device_load()) and before it is activated: the function's
 * configuration space (BARs mapped where the guest had them, the
 * ioeventfds following), the MSI-X table with its KVM routes and irqfds
 * re-created, then the transport registers, and INTA from the ISR. Called
 * with no lock held. Returns 0, or -EINVAL for a state that does not fit
 * vp (vector count, a vector number past the table, an unknown ISR bit);
 * nothing is changed then.
 */
int virtio_pci_load(struct virtio_pci *vp, const struct virtio_pci_state *s);

/*
 * virtio_pci_of - dev's virtio-pci transport, or NULL when dev has none
 * (or is on another transport).
 */
struct virtio_pci *virtio_pci_of(struct virtio_device *dev);

/*
 * virtio_pci_class - the PCI class code hearth gives a virtio device id
 * (network controller for net, storage for block and fs, and so on).
 */
uint32_t virtio_pci_class(uint32_t device_id);

#endif
