/* SPDX-License-Identifier: MIT */
/* The transport-independent virtio device core (see virtio.h). */
#include "devices/virtio/virtio.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int virtio_device_init(struct virtio_device *dev, const struct virtio_device_ops *ops, void *priv,
		       struct guest_memory *gm, struct event_loop *loop)
{
	memset(dev, 0, sizeof(*dev));
	if (!ops || ops->num_queues == 0 || ops->num_queues > VIRTIO_MAX_QUEUES ||
	    ops->queue_max_size == 0 || ops->queue_max_size > VQ_MAX_SIZE ||
	    (ops->queue_max_size & (ops->queue_max_size - 1)))
		return -EINVAL;
	dev->vqs = calloc(ops->num_queues, sizeof(*dev->vqs));
	if (!dev->vqs)
		return -ENOMEM;
	for (unsigned i = 0; i < ops->num_queues; i++)
		vq_init(&dev->vqs[i], gm, (uint16_t)i, ops->queue_max_size);
	dev->ops = ops;
	dev->priv = priv;
	dev->gm = gm;
	dev->loop = loop;
	dev->num_queues = ops->num_queues;
	dev->host_features = ops->features | VIRTIO_TRANSPORT_FEATURES;
	pthread_mutex_init(&dev->lock, NULL);
	return 0;
}

void virtio_device_destroy(struct virtio_device *dev)
{
	if (!dev->vqs)
		return;
	free(dev->vqs);
	dev->vqs = NULL;
	pthread_mutex_destroy(&dev->lock);
}

void virtio_device_lock(struct virtio_device *dev)
{
	pthread_mutex_lock(&dev->lock);
}

void virtio_device_unlock(struct virtio_device *dev)
{
	pthread_mutex_unlock(&dev->lock);
}

void virtio_device_reset(struct virtio_device *dev)
{
	if (dev->ops->reset)
		dev->ops->reset(dev);
	for (unsigned i = 0; i < dev->num_queues; i++)
		vq_reset(&dev->vqs[i]);
	dev->driver_features = 0;
	dev->features = 0;
	dev->status = 0;
	dev->active = false;
	dev->broken = false;
}

static void virtio_vguest_error(struct virtio_device *dev, const char *fmt, va_list ap)
{
	char msg[256];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	__atomic_fetch_add(&dev->errors, 1, __ATOMIC_RELAXED);
	log_guest_error("%s: %s", dev->ops->name, msg);
}

/* A guest mistake that does not break the device (the access is ignored). */
static void virtio_guest_error(struct virtio_device *dev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void virtio_guest_error(struct virtio_device *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	virtio_vguest_error(dev, fmt, ap);
	va_end(ap);
}

void virtio_device_error(struct virtio_device *dev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	virtio_vguest_error(dev, fmt, ap);
	va_end(ap);
	if (dev->broken)
		return;
	dev->broken = true;
	dev->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if ((dev->status & VIRTIO_STATUS_DRIVER_OK) && dev->notify_config)
		dev->notify_config(dev);
}

uint32_t virtio_get_device_features(const struct virtio_device *dev, uint32_t sel)
{
	if (sel > 1)
		return 0;
	return (uint32_t)(dev->host_features >> (32 * sel));
}

void virtio_set_driver_features(struct virtio_device *dev, uint32_t sel, uint32_t value)
{
	if (dev->status & VIRTIO_STATUS_FEATURES_OK) {
		virtio_guest_error(dev, "driver features written after FEATURES_OK");
		return;
	}
	if (sel > 1) {
		if (value)
			virtio_guest_error(dev, "driver features word %u = %#x (no such features)",
					   sel, value);
		return;
	}
	dev->driver_features &= ~(0xffffffffULL << (32 * sel));
	dev->driver_features |= (uint64_t)value << (32 * sel);
}

static void virtio_apply_ring_features(struct virtio_device *dev, struct virtqueue *vq)
{
	vq_set_features(vq, virtio_has_feature(dev, VIRTIO_F_RING_EVENT_IDX),
			virtio_has_feature(dev, VIRTIO_F_RING_INDIRECT_DESC));
}

/* The driver sets FEATURES_OK: accept or refuse what it wrote. */
static bool virtio_features_ok(struct virtio_device *dev)
{
	uint64_t extra = dev->driver_features & ~dev->host_features;

	if (extra) {
		virtio_guest_error(dev, "driver accepted features %#llx that were not offered",
				   (unsigned long long)extra);
		return false;
	}
	if (!(dev->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		virtio_guest_error(dev, "driver without VIRTIO_F_VERSION_1 (legacy) refused");
		return false;
	}
	dev->features = dev->driver_features;
	return true;
}

/* The driver sets DRIVER_OK: start the device. */
static void virtio_activate(struct virtio_device *dev)
{
	int r;

	if (!(dev->status & VIRTIO_STATUS_FEATURES_OK)) {
		virtio_device_error(dev, "DRIVER_OK without FEATURES_OK");
		return;
	}
	for (unsigned i = 0; i < dev->num_queues; i++)
		virtio_apply_ring_features(dev, &dev->vqs[i]);
	if (dev->broken)
		return;
	dev->active = true;
	r = dev->ops->activate ? dev->ops->activate(dev) : 0;
	if (r) {
		dev->active = false;
		log_error("%s: cannot start: %s", dev->ops->name, strerror(-r));
		virtio_device_error(dev, "device failed to start");
	}
}

void virtio_set_status(struct virtio_device *dev, uint8_t status)
{
	uint8_t old = dev->status & (uint8_t)~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	uint8_t set;

	if (status == 0) {
		virtio_device_reset(dev);
		return;
	}
	status &= (uint8_t)~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	if (old & ~status) {
		virtio_guest_error(dev, "status %#x clears bits of %#x without a reset", status,
				   old);
		return;
	}
	set = status & ~old;
	if ((set & VIRTIO_STATUS_FEATURES_OK) && !virtio_features_ok(dev)) {
		status &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
		set &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	dev->status = status | (dev->broken ? VIRTIO_STATUS_DEVICE_NEEDS_RESET : 0);
	if ((set & VIRTIO_STATUS_DRIVER_OK) && !dev->broken)
		virtio_activate(dev);
}

int virtio_queue_enable(struct virtio_device *dev, unsigned q)
{
	struct virtqueue *vq;
	int r;

	if (q >= dev->num_queues) {
		virtio_guest_error(dev, "enabling queue %u of %u", q, dev->num_queues);
		return -EINVAL;
	}
	vq = &dev->vqs[q];
	if (vq->ready)
		return 0;
	r = vq_enable(vq);
	if (r) {
		virtio_device_error(dev, "queue %u: %s", q, vq->err);
		return r;
	}
	if (dev->status & VIRTIO_STATUS_FEATURES_OK)
		virtio_apply_ring_features(dev, vq);
	return 0;
}

void virtio_queue_notify(struct virtio_device *dev, unsigned q)
{
	if (q >= dev->num_queues) {
		virtio_guest_error(dev, "notify for queue %u of %u", q, dev->num_queues);
		return;
	}
	if (!dev->active || dev->broken || !dev->vqs[q].ready)
		return;
	if (dev->ops->queue_notify)
		dev->ops->queue_notify(dev, q);
}

static bool config_range_ok(const struct virtio_device *dev, uint32_t offset, uint32_t len)
{
	return offset <= dev->ops->config_size && len <= dev->ops->config_size - offset;
}

void virtio_config_read(struct virtio_device *dev, uint32_t offset, uint8_t *data, uint32_t len)
{
	memset(data, 0, len);
	if (!config_range_ok(dev, offset, len)) {
		virtio_guest_error(dev, "config read at %u+%u beyond %zu bytes", offset, len,
				   dev->ops->config_size);
		return;
	}
	if (dev->ops->config_read)
		dev->ops->config_read(dev, offset, data, len);
}

void virtio_config_write(struct virtio_device *dev, uint32_t offset, const uint8_t *data,
			 uint32_t len)
{
	if (!config_range_ok(dev, offset, len)) {
		virtio_guest_error(dev, "config write at %u+%u beyond %zu bytes", offset, len,
				   dev->ops->config_size);
		return;
	}
	if (dev->ops->config_write)
		dev->ops->config_write(dev, offset, data, len);
}

int virtio_pop(struct virtio_device *dev, unsigned q, struct vq_chain *c)
{
	int r;

	if (!dev->active || dev->broken || q >= dev->num_queues)
		return 0;
	r = vq_pop(&dev->vqs[q], c);
	if (r < 0)
		virtio_device_error(dev, "queue %u: %s", q, dev->vqs[q].err);
	return r;
}

void virtio_push(struct virtio_device *dev, unsigned q, const struct vq_chain *c, uint32_t written)
{
	if (!dev->active || dev->broken || q >= dev->num_queues)
		return;
	vq_push_chain(&dev->vqs[q], c, written);
}

void virtio_notify(struct virtio_device *dev, unsigned q)
{
	if (!dev->active || dev->broken || q >= dev->num_queues)
		return;
	if (vq_should_notify(&dev->vqs[q]) && dev->notify_queue)
		dev->notify_queue(dev, q);
}

void virtio_config_changed(struct virtio_device *dev)
{
	dev->config_generation++;
	if ((dev->status & VIRTIO_STATUS_DRIVER_OK) && dev->notify_config)
		dev->notify_config(dev);
}

void virtio_device_save(const struct virtio_device *dev, struct virtio_state *s)
{
	memset(s, 0, sizeof(*s));
	s->device_id = dev->ops->device_id;
	s->num_queues = dev->num_queues;
	s->host_features = dev->host_features;
	s->driver_features = dev->driver_features;
	s->features = dev->features;
	s->config_generation = dev->config_generation;
	s->status = dev->status;
	s->active = dev->active;
	s->broken = dev->broken;
	for (unsigned i = 0; i < dev->num_queues; i++)
		vq_save(&dev->vqs[i], &s->queues[i]);
}

int virtio_device_load(struct virtio_device *dev, const struct virtio_state *s)
{
	if (s->device_id != dev->ops->device_id || s->num_queues != dev->num_queues) {
		log_error("%s: saved state is of device %u with %u queues", dev->ops->name,
			  s->device_id, s->num_queues);
		return -EINVAL;
	}
	if ((s->features | s->driver_features) & ~dev->host_features) {
		log_error("%s: saved features %#llx are not offered by this build", dev->ops->name,
			  (unsigned long long)(s->features | s->driver_features));
		return -EINVAL;
	}
	for (unsigned i = 0; i < dev->num_queues; i++) {
		if (vq_load(&dev->vqs[i], &s->queues[i])) {
			log_error("%s: saved queue %u: %s", dev->ops->name, i, dev->vqs[i].err);
			for (unsigned j = 0; j < dev->num_queues; j++)
				vq_reset(&dev->vqs[j]);
			return -EINVAL;
		}
	}
	dev->driver_features = s->driver_features;
	dev->features = s->features;
	dev->config_generation = s->config_generation;
	dev->status = s->status;
	dev->active = s->active;
	dev->broken = s->broken;
	return 0;
}
