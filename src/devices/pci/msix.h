/* SPDX-License-Identifier: MIT */
/*
 * MSI-X for a PCI device: the capability, the vector table and the
 * pending bit array (PBA), both in memory BARs of the device's choosing.
 *
 * Each vector owns an eventfd. The first time a vector is unmasked (MSI-X
 * enabled, function not masked, vector not masked) it gets a GSI from
 * irq_routing with an MSI route for its message and the eventfd is bound to
 * that GSI (KVM_IRQFD); later message changes update the route. Writing the
 * eventfd, from any thread, makes KVM deliver the message: no vCPU thread
 * and no lock of hearth is involved.
 *
 * msix_notify() is how a device raises a vector: when the vector is
 * masked it sets the vector's PBA bit instead, and the message goes out
 * when the guest unmasks the vector (the bit is then cleared). A message
 * whose address KVM would refuse (not 0xfeexxxxx) is not routed: it is
 * reported once with log_guest_error() and notifications are dropped until
 * the guest writes a valid one. When no GSI is left, the vector falls back
 * to KVM_SIGNAL_MSI for each notification.
 *
 * The eventfd of a vector (msix_vector_eventfd()) may also be handed to
 * the kernel (vhost): such writers bypass the mask (KVM delivers the last
 * routed message), which is why hearth's own devices use msix_notify().
 *
 * Table and PBA accesses: the device's BAR callbacks pass every access to
 * msix_bar_read()/msix_bar_write() first; those return true when the
 * access touched the table or the PBA (they then served it). Any width and
 * alignment is handled byte by byte (the spec asks guests for aligned
 * dword/qword accesses); bits 31:1 of Vector Control read 0, the PBA is
 * read-only.
 *
 * Locking: one mutex per struct msix; the PCI host calls into it from
 * configuration writes (host lock held, msix lock taken inside), devices
 * from their BAR callbacks and any thread for msix_notify().
 */
#ifndef HEARTH_DEVICES_PCI_MSIX_H
#define HEARTH_DEVICES_PCI_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/irq_routing.h"
#include "devices/pci/pci.h"

#define MSIX_MAX_VECTORS 2048
#define MSIX_CAP_LEN	 12

struct msix_vector {
	uint32_t addr_lo;
	uint32_t addr_hi;
	uint32_t data;
	uint32_t ctrl; /* bit 0: masked */
	int efd;       /* eventfd */
	int gsi;       /* -1 until the vector was first unmasked */
	bool irqfd;    /* efd is bound to gsi */
	bool routed;   /* gsi's route holds this message: efd delivers it */
	bool bad_logged;
};

struct msix {
	pthread_mutex_t lock;
	struct pci_device *dev;
	struct irq_routing *routing;
	unsigned nvec;
	unsigned cap; /* offset of the capability in config space */
	unsigned table_bar, pba_bar;
	uint32_t table_off, pba_off;
	struct msix_vector *vec;
	uint64_t *pba;
	bool enabled;	 /* Message Control bit 15 */
	bool masked_all; /* Message Control bit 14 (function mask) */
	uint64_t sent;	 /* notifications delivered */
	uint64_t pended; /* notifications that set a PBA bit */
	uint64_t dropped;
};

/*
 * msix_init - give device d nvec (1-2048) MSI-X vectors: add the capability
 * to d's list, with the table at table_off in BAR table_bar and the PBA at
 * pba_off in BAR pba_bar (both BARs already declared as memory BARs,
 * offsets 8-byte aligned, regions inside the BARs and not overlapping).
 * Every vector starts masked with a zero message. routes receives the MSI
 * routes. Call before pci_add_device(). Returns 0, -EINVAL, -ENOSPC (no
 * room for the capability), -ENOMEM or -errno from eventfd().
 */
int msix_init(struct msix *m, struct pci_device *d, struct irq_routing *routes, unsigned nvec,
	      unsigned table_bar, uint32_t table_off, unsigned pba_bar, uint32_t pba_off);

/*
 * msix_destroy - unbind the eventfds, release the GSIs, close the
 * eventfds. The VM (its fd) must still exist.
 */
void msix_destroy(struct msix *m);

/*
 * msix_notify - raise vector: sent (returns 0), or, while the vector or the
 * function is masked, recorded in the PBA (returns 1). -EINVAL for a
 * vector out of range, -ENODEV while MSI-X is disabled (the device should
 * use INTx). Thread-safe.
 */
int msix_notify(struct msix *m, unsigned vector);

/* msix_vector_eventfd - the eventfd of vector (see above), or -EINVAL. */
int msix_vector_eventfd(struct msix *m, unsigned vector);

/* msix_enabled - the guest has set MSI-X Enable. */
bool msix_enabled(struct msix *m);

/* msix_vector_masked - vector would not be delivered now (any mask, or disabled). */
bool msix_vector_masked(struct msix *m, unsigned vector);

/* msix_pending - the vector's PBA bit. */
bool msix_pending(struct msix *m, unsigned vector);

/*
 * msix_bar_read, msix_bar_write - serve a guest access at offset off of
 * BAR bar when it touches the table or the PBA; return false (and do
 * nothing) otherwise.
 */
bool msix_bar_read(struct msix *m, unsigned bar, uint64_t off, uint8_t *data, uint32_t len);
bool msix_bar_write(struct msix *m, unsigned bar, uint64_t off, const uint8_t *data, uint32_t len);

/*
 * msix_config_written - the PCI host calls this after a configuration
 * write touched the capability's Message Control (host lock held).
 */
void msix_config_written(struct msix *m);

/*
 * msix_reset - a device reset: MSI-X disabled, function unmasked, every
 * vector masked with a zero message, the PBA cleared (GSIs and eventfds
 * are kept).
 */
void msix_reset(struct msix *m);

/* ---- snapshots ----------------------------------------------------------- */

/* Most vectors struct msix_state holds (virtio-pci uses num_queues + 1). */
#define MSIX_STATE_MAX_VECTORS 128

/* The vector table and PBA as the guest left them (snapshots). */
struct msix_state {
	uint32_t nvec; /* checked on load */
	uint32_t reserved;
	struct {
		uint32_t addr_lo, addr_hi, data, ctrl;
	} vec[MSIX_STATE_MAX_VECTORS];
	uint64_t pba[MSIX_STATE_MAX_VECTORS / 64];
};

/*
 * msix_save - copy m's vector table and PBA into s (enable and function
 * mask live in config space: pci_device_save()). Returns 0, or -E2BIG
 * when m has more than MSIX_STATE_MAX_VECTORS vectors.
 */
int msix_save(struct msix *m, struct msix_state *s);

/*
 * msix_load - give m the table and PBA of s, after the function's config
 * space was restored (pci_device_load(), which sets enable and function
 * mask): every vector the guest left deliverable gets its GSI, its MSI
 * route and its eventfd bound again (KVM_SET_GSI_ROUTING, KVM_IRQFD), and
 * a pending bit of such a vector is delivered. Returns 0, or -EINVAL when
 * s's vector count is not m's or a PBA bit lies past the last vector.
 */
int msix_load(struct msix *m, const struct msix_state *s);

#endif
