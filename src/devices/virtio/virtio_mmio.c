/* SPDX-License-Identifier: MIT */
/* The virtio-mmio (version 2) transport: see virtio_mmio.h. */
#include "devices/virtio/virtio_mmio.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static struct virtio_mmio *mmio_of(struct virtio_device *dev)
{
	return dev->transport;
}

static void mmio_set_level(struct virtio_mmio *m, int level)
{
	if (m->irq_level == level)
		return;
	m->irq_level = level;
	irq_line_set(&m->irq, level);
}

static void mmio_raise(struct virtio_mmio *m, uint32_t bits)
{
	m->interrupt_status |= bits;
	mmio_set_level(m, 1);
}

static void mmio_notify_queue(struct virtio_device *dev, unsigned q)
{
	(void)q;
	mmio_raise(mmio_of(dev), VIRTIO_MMIO_INT_VRING);
}

static void mmio_notify_config(struct virtio_device *dev)
{
	mmio_raise(mmio_of(dev), VIRTIO_MMIO_INT_CONFIG);
}

static void mmio_ack(struct virtio_mmio *m, uint32_t bits)
{
	uint32_t cleared = m->interrupt_status & bits;

	m->interrupt_status &= ~bits;
	if (!m->interrupt_status) {
		mmio_set_level(m, 0);
	} else if (cleared) {
		/* Causes remain: give an edge-triggered pin a new edge. */
		mmio_set_level(m, 0);
		mmio_set_level(m, 1);
	}
}

/* Transport state a device reset clears. */
static void mmio_reset(struct virtio_mmio *m)
{
	m->device_features_sel = m->driver_features_sel = m->queue_sel = 0;
	m->interrupt_status = 0;
	mmio_set_level(m, 0);
}

void virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		      struct irq_line irq)
{
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->base = base;
	m->irq = irq;
	m->irq_level = -1;
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		m->kicks[i].fd = -1;
	dev->transport = m;
	dev->notify_queue = mmio_notify_queue;
	dev->notify_config = mmio_notify_config;
}

/* The queue QueueSel points at, or NULL (a guest error when why is given). */
static struct virtqueue *mmio_queue(struct virtio_mmio *m, const char *why)
{
	if (m->queue_sel < m->dev->num_queues)
		return &m->dev->vqs[m->queue_sel];
	if (why)
		log_guest_error("%s: %s for queue %u of %u", m->dev->ops->name, why, m->queue_sel,
				m->dev->num_queues);
	return NULL;
}

static uint32_t mmio_reg_read(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_device *dev = m->dev;
	struct virtqueue *vq;

	switch (off) {
	case VIRTIO_MMIO_REG_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case VIRTIO_MMIO_REG_VERSION:
		return VIRTIO_MMIO_VERSION;
	case VIRTIO_MMIO_REG_DEVICE_ID:
		return dev->ops->device_id;
	case VIRTIO_MMIO_REG_VENDOR_ID:
		return VIRTIO_VENDOR_ID;
	case VIRTIO_MMIO_REG_DEVICE_FEATURES:
		return virtio_get_device_features(dev, m->device_features_sel);
	case VIRTIO_MMIO_REG_QUEUE_NUM_MAX:
		vq = mmio_queue(m, NULL);
		return vq ? vq->max_size : 0;
	case VIRTIO_MMIO_REG_QUEUE_NUM:
		vq = mmio_queue(m, NULL);
		return vq ? vq->size : 0;
	case VIRTIO_MMIO_REG_QUEUE_READY:
		vq = mmio_queue(m, NULL);
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_REG_INTERRUPT_STATUS:
		return m->interrupt_status;
	case VIRTIO_MMIO_REG_STATUS:
		return dev->status;
	case VIRTIO_MMIO_REG_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH: {
		uint64_t v;

		vq = mmio_queue(m, NULL);
		if (!vq)
			return 0;
		v = off < VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW   ? vq->desc_gpa
		    : off < VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW ? vq->avail_gpa
							     : vq->used_gpa;
		return (uint32_t)(off & 4 ? v >> 32 : v);
	}
	case VIRTIO_MMIO_REG_SHM_LEN_LOW:
	case VIRTIO_MMIO_REG_SHM_LEN_HIGH:
	case VIRTIO_MMIO_REG_SHM_BASE_LOW:
	case VIRTIO_MMIO_REG_SHM_BASE_HIGH:
		return 0xffffffff; /* no shared memory regions: length -1 */
	case VIRTIO_MMIO_REG_QUEUE_RESET:
		return 0;
	case VIRTIO_MMIO_REG_CONFIG_GEN:
		return dev->config_generation;
	default:
		log_guest_error("%s: read of register %#" PRIx64, dev->ops->name, off);
		return 0;
	}
}

/* Set the low (hi = false) or high half of *addr. */
static void set_half(uint64_t *addr, bool hi, uint32_t v)
{
	if (hi)
		*addr = (*addr & 0xffffffffULL) | ((uint64_t)v << 32);
	else
		*addr = (*addr & ~0xffffffffULL) | v;
}

static void mmio_queue_addr_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtqueue *vq = mmio_queue(m, "ring address written");
	bool hi = off & 4;

	if (!vq)
		return;
	if (vq->ready) {
		log_guest_error("%s: queue %u address changed while ready", m->dev->ops->name,
				vq->index);
		return;
	}
	if (off < VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW)
		set_half(&vq->desc_gpa, hi, v);
	else if (off < VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW)
		set_half(&vq->avail_gpa, hi, v);
	else
		set_half(&vq->used_gpa, hi, v);
}

static void mmio_reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtio_device *dev = m->dev;
	struct virtqueue *vq;

	switch (off) {
	case VIRTIO_MMIO_REG_DEVICE_FEAT_SEL:
		m->device_features_sel = v;
		break;
	case VIRTIO_MMIO_REG_DRIVER_FEATURES:
		virtio_set_driver_features(dev, m->driver_features_sel, v);
		break;
	case VIRTIO_MMIO_REG_DRIVER_FEAT_SEL:
		m->driver_features_sel = v;
		break;
	case VIRTIO_MMIO_REG_QUEUE_SEL:
		m->queue_sel = v;
		break;
	case VIRTIO_MMIO_REG_QUEUE_NUM:
		vq = mmio_queue(m, "QueueNum written");
		if (!vq)
			break;
		if (vq->ready) {
			log_guest_error("%s: queue %u size changed while ready", dev->ops->name,
					vq->index);
			break;
		}
		/* Checked when the queue is enabled; 0 stands for "too big". */
		vq->size = v > 0xffff ? 0 : (uint16_t)v;
		break;
	case VIRTIO_MMIO_REG_QUEUE_READY:
		vq = mmio_queue(m, "QueueReady written");
		if (!vq)
			break;
		if (v == 1)
			virtio_queue_enable(dev, vq->index);
		else if (v == 0)
			vq_disable(vq);
		else
			log_guest_error("%s: QueueReady = %u", dev->ops->name, v);
		break;
	case VIRTIO_MMIO_REG_QUEUE_NOTIFY:
		/* Only the queue index: VIRTIO_F_NOTIFICATION_DATA is not offered. */
		virtio_queue_notify(dev, v);
		break;
	case VIRTIO_MMIO_REG_INTERRUPT_ACK:
		mmio_ack(m, v);
		break;
	case VIRTIO_MMIO_REG_STATUS:
		if (v > 0xff) {
			log_guest_error("%s: status %#x", dev->ops->name, v);
			break;
		}
		virtio_set_status(dev, (uint8_t)v);
		if (v == 0)
			mmio_reset(m);
		break;
	case VIRTIO_MMIO_REG_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH:
	case VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW:
	case VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH:
		mmio_queue_addr_write(m, off, v);
		break;
	case VIRTIO_MMIO_REG_SHM_SEL:
		break; /* no regions; the lengths read -1 whatever is selected */
	case VIRTIO_MMIO_REG_QUEUE_RESET:
		/* VIRTIO_F_RING_RESET is not offered. */
		log_guest_error("%s: QueueReset written (not offered)", dev->ops->name);
		break;
	default:
		log_guest_error("%s: write of %#x to register %#" PRIx64, dev->ops->name, v, off);
		break;
	}
}

static void mmio_read(void *opaque, uint64_t offset, uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	struct virtio_device *dev = m->dev;

	virtio_device_lock(dev);
	if (offset >= VIRTIO_MMIO_CONFIG_OFFSET) {
		virtio_config_read(dev, (uint32_t)(offset - VIRTIO_MMIO_CONFIG_OFFSET), data, len);
	} else if (len == 4 && IS_ALIGNED(offset, 4)) {
		uint32_t v = mmio_reg_read(m, offset);
		memcpy(data, &v, 4);
	} else {
		memset(data, 0, len);
		log_guest_error("%s: %u-byte read of register %#" PRIx64, dev->ops->name, len,
				offset);
	}
	virtio_device_unlock(dev);
}

static void mmio_write(void *opaque, uint64_t offset, const uint8_t *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	struct virtio_device *dev = m->dev;

	virtio_device_lock(dev);
	if (offset >= VIRTIO_MMIO_CONFIG_OFFSET) {
		virtio_config_write(dev, (uint32_t)(offset - VIRTIO_MMIO_CONFIG_OFFSET), data, len);
	} else if (len == 4 && IS_ALIGNED(offset, 4)) {
		uint32_t v;
		memcpy(&v, data, 4);
		mmio_reg_write(m, offset, v);
	} else {
		log_guest_error("%s: %u-byte write to register %#" PRIx64, dev->ops->name, len,
				offset);
	}
	virtio_device_unlock(dev);
}

const struct bus_device_ops virtio_mmio_bus_ops = {
    .name = "virtio-mmio",
    .read = mmio_read,
    .write = mmio_write,
};

static void mmio_on_kick(void *opaque, uint32_t events)
{
	struct virtio_mmio_kick *k = opaque;
	struct virtio_device *dev = k->mmio->dev;
	uint64_t cnt;

	(void)events;
	if (read(k->fd, &cnt, sizeof(cnt)) != (ssize_t)sizeof(cnt))
		return;
	virtio_device_lock(dev);
	virtio_queue_notify(dev, k->queue);
	virtio_device_unlock(dev);
}

static void mmio_teardown_kicks(struct virtio_mmio *m)
{
	uint64_t addr = m->base + VIRTIO_MMIO_REG_QUEUE_NOTIFY;

	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
		struct virtio_mmio_kick *k = &m->kicks[i];

		if (k->fd < 0)
			continue;
		if (i < m->nr_kicks) {
			m->ioeventfd(m->ioeventfd_opaque, addr, k->queue, k->fd, false);
			event_loop_remove(m->loop, k->fd);
		}
		close(k->fd);
		k->fd = -1;
	}
	m->nr_kicks = 0;
}

int virtio_mmio_setup_ioeventfds(struct virtio_mmio *m, struct event_loop *loop,
				 virtio_mmio_ioeventfd_fn fn, void *opaque)
{
	uint64_t addr = m->base + VIRTIO_MMIO_REG_QUEUE_NOTIFY;
	int r = 0;

	if (m->nr_kicks)
		return -EBUSY;
	m->loop = loop;
	m->ioeventfd = fn;
	m->ioeventfd_opaque = opaque;
	for (unsigned i = 0; i < m->dev->num_queues; i++) {
		struct virtio_mmio_kick *k = &m->kicks[i];

		k->mmio = m;
		k->queue = i;
		k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (k->fd < 0) {
			r = -errno;
			break;
		}
		r = event_loop_add(loop, k->fd, EPOLLIN, mmio_on_kick, k);
		if (r)
			break;
		r = fn(opaque, addr, i, k->fd, true);
		if (r) {
			event_loop_remove(loop, k->fd);
			break;
		}
		m->nr_kicks = i + 1;
	}
	if (r)
		mmio_teardown_kicks(m);
	return r;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	mmio_teardown_kicks(m);
}

void virtio_mmio_save(const struct virtio_mmio *m, struct virtio_mmio_state *s)
{
	memset(s, 0, sizeof(*s));
	s->device_features_sel = m->device_features_sel;
	s->driver_features_sel = m->driver_features_sel;
	s->queue_sel = m->queue_sel;
	s->interrupt_status = m->interrupt_status;
}

void virtio_mmio_load(struct virtio_mmio *m, const struct virtio_mmio_state *s)
{
	m->device_features_sel = s->device_features_sel;
	m->driver_features_sel = s->driver_features_sel;
	m->queue_sel = s->queue_sel;
	m->interrupt_status =
	    s->interrupt_status & (VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	mmio_set_level(m, m->interrupt_status ? 1 : 0);
}

int virtio_mmio_cmdline(const struct virtio_mmio *m, char *buf, size_t len)
{
	return snprintf(buf, len, "virtio_mmio.device=4K@%#" PRIx64 ":%" PRIu32, m->base,
			m->irq.gsi);
}
