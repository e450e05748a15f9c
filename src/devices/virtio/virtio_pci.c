/* SPDX-License-Identifier: MIT */
/* The virtio-pci modern transport: see virtio_pci.h. */
#include "devices/virtio/virtio_pci.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

static struct virtio_pci *vp_of(struct virtio_device *dev)
{
	return dev->transport;
}

static void le_put(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le_get(const uint8_t *p, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static bool overlaps(uint64_t off, uint64_t len, uint64_t start, uint64_t end)
{
	return off < end && off + len > start;
}

/* A guest mistake the transport ignores: logged and counted on the device. */
static void vp_guest_error(struct virtio_pci *vp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void vp_guest_error(struct virtio_pci *vp, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vp->dev->errors++;
	log_guest_error("%s (virtio-pci): %s", vp->dev->ops->name, msg);
}

/* ---- interrupts ------------------------------------------------------------------ */

/* INTA follows the ISR while MSI-X is off. Device lock held. */
static void vp_update_intx(struct virtio_pci *vp)
{
	pci_device_set_irq(&vp->pci, vp->isr && !msix_enabled(&vp->msix));
}

/*
 * Raise an interrupt for isr_bit through vector: MSI-X when enabled (a
 * vector of NO_VECTOR then means no interrupt), else the ISR and INTA.
 */
static void vp_interrupt(struct virtio_pci *vp, uint16_t vector, uint8_t isr_bit)
{
	int r = -ENODEV;

	if (isr_bit == VIRTIO_PCI_ISR_CONFIG)
		vp->isr |= VIRTIO_PCI_ISR_CONFIG; /* set whatever the interrupt path */
	if (vector != VIRTIO_PCI_NO_VECTOR)
		r = msix_notify(&vp->msix, vector);
	else if (msix_enabled(&vp->msix))
		r = 0;
	if (r != -ENODEV)
		return;
	vp->isr |= isr_bit;
	vp_update_intx(vp);
}

static void vp_notify_queue(struct virtio_device *dev, unsigned q)
{
	struct virtio_pci *vp = vp_of(dev);

	if (ALWAYS(q < dev->num_queues))
		vp_interrupt(vp, vp->queue_vector[q], VIRTIO_PCI_ISR_QUEUE);
}

static void vp_notify_config(struct virtio_device *dev)
{
	struct virtio_pci *vp = vp_of(dev);

	vp_interrupt(vp, vp->config_vector, VIRTIO_PCI_ISR_CONFIG);
}

/* A vector number the driver writes: kept if the table has it, else refused. */
static uint16_t vp_vector(const struct virtio_pci *vp, uint64_t v)
{
	return v < vp->msix.nvec ? (uint16_t)v : VIRTIO_PCI_NO_VECTOR;
}

/* Transport state a device reset clears. Device lock held. */
static void vp_reset(struct virtio_pci *vp)
{
	vp->device_feature_select = 0;
	vp->driver_feature_select = 0;
	vp->queue_select = 0;
	vp->config_vector = VIRTIO_PCI_NO_VECTOR;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vp->queue_vector[i] = VIRTIO_PCI_NO_VECTOR;
	vp->isr = 0;
	vp_update_intx(vp);
}

/* ---- common configuration -------------------------------------------------------- */

/* Natural width of the field starting at off, 0 when no field starts there. */
static unsigned common_width(uint64_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT:
	case VIRTIO_PCI_COMMON_GF:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT:
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
	case VIRTIO_PCI_COMMON_Q_NDATA:
	case VIRTIO_PCI_COMMON_Q_RESET:
	case VIRTIO_PCI_COMMON_ADM_Q_IDX:
	case VIRTIO_PCI_COMMON_ADM_Q_NUM:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS:
	case VIRTIO_PCI_COMMON_CFGGEN:
		return 1;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		return 8;
	default:
		return 0;
	}
}

/* Is an access of len bytes at off one the common structure takes? */
static bool common_access_ok(uint64_t off, uint32_t len)
{
	bool is64 = off >= VIRTIO_PCI_COMMON_Q_DESCLO && off < VIRTIO_PCI_COMMON_Q_NDATA;

	if (is64)
		return (len == 4 && IS_ALIGNED(off, 4)) || (len == 8 && IS_ALIGNED(off, 8));
	return len == common_width(off);
}

/* The selected queue, or NULL when queue_select is past the last one. */
static struct virtqueue *vp_queue(struct virtio_pci *vp)
{
	if (vp->queue_select < vp->dev->num_queues)
		return &vp->dev->vqs[vp->queue_select];
	return NULL;
}

/* The ring address field a 64-bit register offset names. */
static uint64_t *ring_field(struct virtqueue *vq, uint64_t off)
{
	if (off < VIRTIO_PCI_COMMON_Q_AVAILLO)
		return &vq->desc_gpa;
	if (off < VIRTIO_PCI_COMMON_Q_USEDLO)
		return &vq->avail_gpa;
	return &vq->used_gpa;
}

static uint64_t common_read(struct virtio_pci *vp, uint64_t off, uint32_t len)
{
	struct virtio_device *dev = vp->dev;
	struct virtqueue *vq = vp_queue(vp);
	uint64_t v;

	switch (off & ~7ULL) {
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		v = vq ? *ring_field(vq, off) : 0;
		return off & 4 ? v >> 32 : (len == 4 ? (uint32_t)v : v);
	default:
		break;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return vp->device_feature_select;
	case VIRTIO_PCI_COMMON_DF:
		return virtio_get_device_features(dev, vp->device_feature_select);
	case VIRTIO_PCI_COMMON_GFSELECT:
		return vp->driver_feature_select;
	case VIRTIO_PCI_COMMON_GF:
		if (vp->driver_feature_select > 1)
			return 0;
		return (uint32_t)(dev->driver_features >> (32 * vp->driver_feature_select));
	case VIRTIO_PCI_COMMON_MSIX:
		return vp->config_vector;
	case VIRTIO_PCI_COMMON_NUMQ:
		return dev->num_queues;
	case VIRTIO_PCI_COMMON_STATUS:
		return dev->status;
	case VIRTIO_PCI_COMMON_CFGGEN:
		return (uint8_t)dev->config_generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return vp->queue_select;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return vq ? vq->size : 0;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return vq ? vp->queue_vector[vq->index] : 0;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return vq ? vq->ready : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return vq ? vq->index : 0;
	default: /* notification config data, queue reset, admin queues: not offered */
		return 0;
	}
}

static void set_half(uint64_t *field, bool hi, uint32_t v)
{
	if (hi)
		*field = (*field & 0xffffffffULL) | (uint64_t)v << 32;
	else
		*field = (*field & ~0xffffffffULL) | v;
}

/* A write to a per-queue register: the queue, or NULL when it must be ignored. */
static struct virtqueue *queue_for_write(struct virtio_pci *vp, const char *what)
{
	struct virtqueue *vq = vp_queue(vp);

	if (!vq) {
		vp_guest_error(vp, "%s written for queue %u of %u", what, vp->queue_select,
			       vp->dev->num_queues);
		return NULL;
	}
	if (vq->ready) {
		vp_guest_error(vp, "%s of queue %u written while it is enabled", what, vq->index);
		return NULL;
	}
	return vq;
}

static void queue_size_write(struct virtio_pci *vp, uint64_t v)
{
	struct virtqueue *vq = queue_for_write(vp, "queue_size");

	if (!vq)
		return;
	if (v == 0 || v > vq->max_size || (v & (v - 1))) {
		vp_guest_error(vp, "queue %u: size %" PRIu64 " (a power of two up to %u)",
			       vq->index, v, vq->max_size);
		return;
	}
	vq->size = (uint16_t)v;
}

static void queue_enable_write(struct virtio_pci *vp, uint64_t v)
{
	struct virtqueue *vq = vp_queue(vp);

	if (!vq) {
		vp_guest_error(vp, "queue_enable written for queue %u of %u", vp->queue_select,
			       vp->dev->num_queues);
		return;
	}
	if (v != 1) {
		/* Without VIRTIO_F_RING_RESET a queue is disabled only by a device reset. */
		vp_guest_error(vp, "queue %u: queue_enable = %" PRIu64, vq->index, v);
		return;
	}
	/* Bad rings break the device (NEEDS_RESET) inside the core. */
	virtio_queue_enable(vp->dev, vq->index);
}

static void common_write(struct virtio_pci *vp, uint64_t off, uint32_t len, uint64_t v)
{
	struct virtio_device *dev = vp->dev;
	struct virtqueue *vq;

	switch (off & ~7ULL) {
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
		vq = queue_for_write(vp, "a ring address");
		if (!vq)
			return;
		if (len == 8)
			*ring_field(vq, off) = v;
		else
			set_half(ring_field(vq, off), off & 4, (uint32_t)v);
		return;
	default:
		break;
	}
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		vp->device_feature_select = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		vp->driver_feature_select = (uint32_t)v;
		break;
	case VIRTIO_PCI_COMMON_GF:
		virtio_set_driver_features(dev, vp->driver_feature_select, (uint32_t)v);
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		vp->config_vector = vp_vector(vp, v);
		break;
	case VIRTIO_PCI_COMMON_STATUS:
		virtio_set_status(dev, (uint8_t)v);
		if (v == 0)
			vp_reset(vp);
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		vp->queue_select = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		queue_size_write(vp, v);
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		vq = vp_queue(vp);
		if (vq)
			vp->queue_vector[vq->index] = vp_vector(vp, v);
		else
			vp_guest_error(vp, "queue_msix_vector written for queue %u of %u",
				       vp->queue_select, dev->num_queues);
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		queue_enable_write(vp, v);
		break;
	case VIRTIO_PCI_COMMON_Q_RESET:
		vp_guest_error(vp, "queue_reset written (VIRTIO_F_RING_RESET not offered)");
		break;
	default:
		vp_guest_error(vp, "write of %#" PRIx64 " to read-only common register %#" PRIx64,
			       v, off);
		break;
	}
}

/* ---- the BAR --------------------------------------------------------------------- */

static void notify_write(struct virtio_pci *vp, uint64_t off)
{
	uint64_t q = off / VIRTIO_PCI_NOTIFY_MULT;

	if (q >= vp->dev->num_queues) {
		vp_guest_error(vp, "notify write at %#" PRIx64 " (no such queue)", off);
		return;
	}
	/* The address names the queue; VIRTIO_F_NOTIFICATION_DATA is not offered. */
	vp->exit_kicks++;
	virtio_queue_notify(vp->dev, (unsigned)q);
}

/* BAR accesses outside the MSI-X structures; device lock held. */
static void vp_region_read(struct virtio_pci *vp, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_device *dev = vp->dev;
	uint64_t rel = off % VIRTIO_PCI_REGION_SIZE;

	memset(data, 0, len);
	switch (off - rel) {
	case VIRTIO_PCI_COMMON_OFF:
		if (rel < VIRTIO_PCI_COMMON_LEN && common_access_ok(rel, len)) {
			le_put(data, common_read(vp, rel, len), len);
			return;
		}
		break;
	case VIRTIO_PCI_ISR_OFF:
		if (rel == 0) {
			data[0] = vp->isr;
			vp->isr = 0;
			vp_update_intx(vp);
			return;
		}
		break;
	case VIRTIO_PCI_DEVICE_OFF:
		if (dev->ops->config_size) {
			virtio_config_read(dev, (uint32_t)rel, data, len);
			return;
		}
		break;
	case VIRTIO_PCI_NOTIFY_OFF:
		return; /* notify addresses read 0 */
	default:
		break;
	}
	vp_guest_error(vp, "%u-byte read at BAR offset %#" PRIx64, len, off);
}

static void vp_region_write(struct virtio_pci *vp, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_device *dev = vp->dev;
	uint64_t rel = off % VIRTIO_PCI_REGION_SIZE;

	switch (off - rel) {
	case VIRTIO_PCI_COMMON_OFF:
		if (rel < VIRTIO_PCI_COMMON_LEN && common_access_ok(rel, len)) {
			common_write(vp, rel, len, le_get(data, len));
			return;
		}
		break;
	case VIRTIO_PCI_DEVICE_OFF:
		if (dev->ops->config_size) {
			virtio_config_write(dev, (uint32_t)rel, data, len);
			return;
		}
		break;
	case VIRTIO_PCI_NOTIFY_OFF:
		notify_write(vp, rel);
		return;
	default:
		break;
	}
	vp_guest_error(vp, "%u-byte write of %#" PRIx64 " at BAR offset %#" PRIx64, len,
		       le_get(data, len), off);
}

static void vp_bar_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;

	if (msix_bar_read(&vp->msix, VIRTIO_PCI_BAR, off, data, len))
		return;
	virtio_device_lock(vp->dev);
	vp_region_read(vp, off, data, len);
	virtio_device_unlock(vp->dev);
}

static void vp_bar_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct virtio_pci *vp = opaque;

	if (msix_bar_write(&vp->msix, VIRTIO_PCI_BAR, off, data, len))
		return;
	virtio_device_lock(vp->dev);
	vp_region_write(vp, off, data, len);
	virtio_device_unlock(vp->dev);
}

static const struct bus_device_ops vp_bar_ops = {
    .name = "virtio-pci",
    .read = vp_bar_read,
    .write = vp_bar_write,
};

/* ---- notifications by ioeventfd ---------------------------------------------------- */

static void vp_on_kick(void *opaque, uint32_t events)
{
	struct virtio_pci_kick *k = opaque;
	struct virtio_device *dev = k->vp->dev;
	uint64_t cnt;

	(void)events;
	if (read(k->fd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return;
	virtio_device_lock(dev);
	virtio_queue_notify(dev, k->queue);
	virtio_device_unlock(dev);
}

/* Bind every kick to its notify address in a BAR mapped at base. Device lock held. */
static void vp_bind_kicks(struct virtio_pci *vp, uint64_t base)
{
	for (unsigned i = 0; i < vp->dev->num_queues; i++) {
		struct virtio_pci_kick *k = &vp->kicks[i];
		uint64_t addr = base + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)i * VIRTIO_PCI_NOTIFY_MULT;
		int r;

		if (k->fd < 0 || k->bound)
			continue;
		r = vp->ioeventfd(vp->ioeventfd_opaque, addr, k->fd, true);
		if (r) {
			if (!vp->bind_failed_logged)
				log_warn("%s: no ioeventfd at %#" PRIx64 " (%s); its kicks go "
					 "through MMIO exits",
					 vp->dev->ops->name, addr, strerror(-r));
			vp->bind_failed_logged = true;
			continue;
		}
		k->bound = true;
		k->addr = addr;
	}
}

static void vp_unbind_kicks(struct virtio_pci *vp)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		struct virtio_pci_kick *k = &vp->kicks[i];
		int r;

		if (!k->bound)
			continue;
		r = vp->ioeventfd(vp->ioeventfd_opaque, k->addr, k->fd, false);
		if (r)
			log_error("%s: cannot unbind the ioeventfd at %#" PRIx64 ": %s",
				  vp->dev->ops->name, k->addr, strerror(-r));
		k->bound = false;
	}
}

static void vp_close_kicks(struct virtio_pci *vp)
{
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		struct virtio_pci_kick *k = &vp->kicks[i];

		if (k->fd < 0)
			continue;
		if (vp->kicks_on_loop)
			event_loop_remove(vp->loop, k->fd);
		close(k->fd);
		k->fd = -1;
	}
	vp->kicks_on_loop = false;
}

static int vp_open_kicks(struct virtio_pci *vp)
{
	int r;

	for (unsigned i = 0; i < vp->dev->num_queues; i++) {
		struct virtio_pci_kick *k = &vp->kicks[i];

		k->vp = vp;
		k->queue = i;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0)
			return -errno;
	}
	for (unsigned i = 0; i < vp->dev->num_queues; i++) {
		r = event_loop_add(vp->loop, vp->kicks[i].fd, EPOLLIN, vp_on_kick, &vp->kicks[i]);
		if (r) {
			while (i--)
				event_loop_remove(vp->loop, vp->kicks[i].fd);
			return r;
		}
	}
	vp->kicks_on_loop = true;
	return 0;
}

/* ---- configuration space hooks ----------------------------------------------------- */

/* The BAR range the PCI_CFG capability names, false when it names none. */
static bool cfg_window(struct virtio_pci *vp, uint32_t *off, uint32_t *len)
{
	unsigned c = vp->cfg_cap;
	uint8_t bar = pci_cfg_get8(&vp->pci, c + VIRTIO_PCI_CAP_BAR);

	*off = pci_cfg_get32(&vp->pci, c + VIRTIO_PCI_CAP_OFFSET);
	*len = pci_cfg_get32(&vp->pci, c + VIRTIO_PCI_CAP_LENGTH);
	return bar == VIRTIO_PCI_BAR && (*len == 1 || *len == 2 || *len == 4) &&
	       IS_ALIGNED(*off, *len) && *off <= VIRTIO_PCI_BAR_SIZE - *len;
}

static bool touches_cfg_data(struct virtio_pci *vp, unsigned off, unsigned len)
{
	unsigned data = vp->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA;

	return overlaps(off, len, data, data + 4);
}

static void vp_config_read(struct pci_device *d, unsigned off, unsigned len)
{
	struct virtio_pci *vp = d->opaque;
	uint32_t boff, blen;
	uint8_t buf[4];

	/* Reading pci_cfg_data reads the BAR; a window naming nothing reads as is. */
	if (!touches_cfg_data(vp, off, len) || !cfg_window(vp, &boff, &blen))
		return;
	vp_bar_read(vp, boff, buf, blen);
	memcpy(d->config + vp->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA, buf, blen);
}

static void vp_config_write(struct pci_device *d, unsigned off, unsigned len)
{
	struct virtio_pci *vp = d->opaque;
	uint32_t boff, blen;

	if (touches_cfg_data(vp, off, len)) {
		if (cfg_window(vp, &boff, &blen)) {
			vp_bar_write(vp, boff, d->config + vp->cfg_cap + VIRTIO_PCI_CFG_CAP_DATA,
				     blen);
		} else {
			virtio_device_lock(vp->dev);
			vp_guest_error(vp, "pci_cfg_data written with a window outside BAR %u",
				       VIRTIO_PCI_BAR);
			virtio_device_unlock(vp->dev);
		}
	}
	/* MSI-X switched on: INTx must be quiet from now on. */
	if (d->msix && overlaps(off, len, d->msix->cap + PCI_MSIX_FLAGS, d->msix->cap + 4)) {
		virtio_device_lock(vp->dev);
		vp_update_intx(vp);
		virtio_device_unlock(vp->dev);
	}
}

static void vp_bar_map(struct pci_device *d, unsigned idx, uint64_t addr, bool mapped)
{
	struct virtio_pci *vp = d->opaque;

	if (idx != VIRTIO_PCI_BAR || !vp->ioeventfd)
		return;
	virtio_device_lock(vp->dev);
	if (mapped)
		vp_bind_kicks(vp, addr);
	else
		vp_unbind_kicks(vp);
	virtio_device_unlock(vp->dev);
}

static const struct pci_device_ops vp_pci_ops = {
    .config_read = vp_config_read,
    .config_write = vp_config_write,
    .bar_map = vp_bar_map,
};

struct virtio_pci *virtio_pci_of(struct virtio_device *dev)
{
	return dev->notify_queue == vp_notify_queue ? dev->transport : NULL;
}

/* ---- set-up ------------------------------------------------------------------------- */

uint32_t virtio_pci_class(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return 0x020000; /* network controller, ethernet */
	case VIRTIO_ID_BLOCK:
	case VIRTIO_ID_SCSI:
		return 0x010000; /* mass storage, SCSI */
	case VIRTIO_ID_FS:
		return 0x018000; /* mass storage, other */
	case VIRTIO_ID_CONSOLE:
	case VIRTIO_ID_VSOCK:
		return 0x078000; /* communication controller, other */
	case VIRTIO_ID_9P:
		return 0x028000; /* network controller, other */
	default:
		return 0xff0000; /* unassigned class */
	}
}

/* Append a virtio capability of type for [off, off+len) of the BAR, plus extra bytes. */
static int vp_add_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len,
		      const uint8_t *extra, size_t extra_len)
{
	uint8_t cap[VIRTIO_PCI_CFG_CAP_LEN];
	size_t n = VIRTIO_PCI_CAP_LEN + extra_len;

	if (NEVER(n > sizeof(cap)))
		return -EINVAL;
	memset(cap, 0, sizeof(cap));
	cap[PCI_CAP_LIST_ID] = PCI_CAP_ID_VNDR;
	cap[PCI_CAP_FLAGS] = (uint8_t)n; /* cap_len */
	cap[VIRTIO_PCI_CAP_CFG_TYPE] = type;
	cap[VIRTIO_PCI_CAP_BAR] = type == VIRTIO_PCI_CAP_PCI_CFG ? 0 : VIRTIO_PCI_BAR;
	le_put(cap + VIRTIO_PCI_CAP_OFFSET, off, 4);
	le_put(cap + VIRTIO_PCI_CAP_LENGTH, len, 4);
	if (extra_len)
		memcpy(cap + VIRTIO_PCI_CAP_LEN, extra, extra_len);
	return pci_device_add_cap(&vp->pci, cap, n);
}

static int vp_add_caps(struct virtio_pci *vp)
{
	struct virtio_device *dev = vp->dev;
	uint8_t mult[4], ones[VIRTIO_PCI_CFG_CAP_LEN];
	int r;

	r = vp_add_cap(vp, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN,
		       NULL, 0);
	if (r >= 0)
		r = vp_add_cap(vp, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_ISR_LEN,
			       NULL, 0);
	if (r >= 0 && dev->ops->config_size)
		r = vp_add_cap(vp, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
			       (uint32_t)dev->ops->config_size, NULL, 0);
	le_put(mult, VIRTIO_PCI_NOTIFY_MULT, 4);
	if (r >= 0)
		r = vp_add_cap(vp, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_PCI_NOTIFY_OFF,
			       dev->num_queues * VIRTIO_PCI_NOTIFY_MULT, mult, sizeof(mult));
	if (r >= 0)
		r = vp_add_cap(vp, VIRTIO_PCI_CAP_PCI_CFG, 0, 0, (const uint8_t[4]){0}, 4);
	if (r < 0)
		return r;
	vp->cfg_cap = (unsigned)r;
	/* The driver writes bar, offset, length and pci_cfg_data of the window. */
	memset(ones, 0xff, sizeof(ones));
	pci_device_set_wmask(&vp->pci, vp->cfg_cap + VIRTIO_PCI_CAP_BAR, ones, 1);
	pci_device_set_wmask(&vp->pci, vp->cfg_cap + VIRTIO_PCI_CAP_OFFSET, ones, 12);
	return 0;
}

int virtio_pci_init(struct virtio_pci *vp, struct virtio_device *dev, struct pci_host *host,
		    struct irq_routing *routing, virtio_pci_ioeventfd_fn ioeventfd, void *opaque)
{
	uint16_t id = (uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + dev->ops->device_id);
	int r, slot;

	memset(vp, 0, sizeof(*vp));
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vp->kicks[i].fd = -1;
	if (dev->ops->config_size > VIRTIO_PCI_DEVICE_MAX || dev->ops->device_id > 0x3f ||
	    dev->num_queues == 0 || dev->num_queues > VIRTIO_MAX_QUEUES)
		return -EINVAL;
	vp->dev = dev;
	vp->ioeventfd = ioeventfd;
	vp->ioeventfd_opaque = opaque;
	vp->loop = ioeventfd ? dev->loop : NULL;
	if (!vp->loop)
		vp->ioeventfd = NULL;
	vp->config_vector = VIRTIO_PCI_NO_VECTOR;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		vp->queue_vector[i] = VIRTIO_PCI_NO_VECTOR;

	pci_device_init(&vp->pci, dev->ops->name, VIRTIO_PCI_VENDOR_ID, id,
			virtio_pci_class(dev->ops->device_id), VIRTIO_PCI_REVISION, &vp_pci_ops,
			vp);
	pci_device_set_subsystem(&vp->pci, VIRTIO_PCI_VENDOR_ID, id);
	pci_device_set_intx_pin(&vp->pci, 1);
	r = pci_device_set_bar(&vp->pci, VIRTIO_PCI_BAR, PCI_BAR_MEM64, VIRTIO_PCI_BAR_SIZE, false,
			       &vp_bar_ops, vp);
	if (!r)
		r = vp_add_caps(vp);
	if (r)
		return r;
	r = msix_init(&vp->msix, &vp->pci, routing, dev->num_queues + 1, VIRTIO_PCI_BAR,
		      VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_PBA);
	if (r)
		return r;
	vp->msix_ready = true;
	if (vp->loop) {
		r = vp_open_kicks(vp);
		if (r)
			goto close_kicks;
	}
	dev->transport = vp;
	dev->notify_queue = vp_notify_queue;
	dev->notify_config = vp_notify_config;
	slot = pci_add_device(host, &vp->pci);
	if (slot < 0) {
		r = slot;
		goto detach;
	}
	return slot;

detach:
	dev->transport = NULL;
	dev->notify_queue = NULL;
	dev->notify_config = NULL;
close_kicks:
	vp_close_kicks(vp);
	msix_destroy(&vp->msix);
	vp->msix_ready = false;
	return r;
}

void virtio_pci_destroy(struct virtio_pci *vp)
{
	if (!vp->dev)
		return;
	/* Unmapping the BAR unbinds the ioeventfds (vp_bar_map). */
	if (vp->pci.host)
		pci_remove_device(vp->pci.host, &vp->pci);
	if (vp->ioeventfd) {
		virtio_device_lock(vp->dev);
		vp_unbind_kicks(vp);
		virtio_device_unlock(vp->dev);
	}
	vp_close_kicks(vp);
	if (vp->msix_ready)
		msix_destroy(&vp->msix);
	vp->msix_ready = false;
	if (vp->dev->transport == vp) {
		vp->dev->transport = NULL;
		vp->dev->notify_queue = NULL;
		vp->dev->notify_config = NULL;
	}
	vp->dev = NULL;
}

/* ---- snapshots ------------------------------------------------------------------------ */

int virtio_pci_save(struct virtio_pci *vp, struct virtio_pci_state *s)
{
	int r;

	memset(s, 0, sizeof(*s));
	pci_device_save(&vp->pci, &s->pci);
	r = msix_save(&vp->msix, &s->msix);
	if (r)
		return r;
	virtio_device_lock(vp->dev);
	s->device_feature_select = vp->device_feature_select;
	s->driver_feature_select = vp->driver_feature_select;
	s->queue_select = vp->queue_select;
	s->config_vector = vp->config_vector;
	memcpy(s->queue_vector, vp->queue_vector, sizeof(s->queue_vector));
	s->isr = vp->isr;
	virtio_device_unlock(vp->dev);
	return 0;
}

static bool vp_vector_ok(const struct virtio_pci *vp, uint16_t v)
{
	return v == VIRTIO_PCI_NO_VECTOR || v < vp->msix.nvec;
}

int virtio_pci_load(struct virtio_pci *vp, const struct virtio_pci_state *s)
{
	int r;

	if (s->msix.nvec != vp->msix.nvec || !vp_vector_ok(vp, s->config_vector) ||
	    (s->isr & ~(VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG)))
		return -EINVAL;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (!vp_vector_ok(vp, s->queue_vector[i]))
			return -EINVAL;
	for (unsigned i = vp->msix.nvec; i < MSIX_STATE_MAX_VECTORS; i++)
		if ((s->msix.pba[i / 64] >> (i % 64)) & 1)
			return -EINVAL;
	r = pci_device_load(&vp->pci, &s->pci);
	if (!r)
		r = msix_load(&vp->msix, &s->msix);
	if (r)
		return r;
	virtio_device_lock(vp->dev);
	vp->device_feature_select = s->device_feature_select;
	vp->driver_feature_select = s->driver_feature_select;
	vp->queue_select = s->queue_select;
	vp->config_vector = s->config_vector;
	memcpy(vp->queue_vector, s->queue_vector, sizeof(vp->queue_vector));
	vp->isr = s->isr;
	vp_update_intx(vp);
	virtio_device_unlock(vp->dev);
	return 0;
}
