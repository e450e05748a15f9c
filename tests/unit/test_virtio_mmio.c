/* SPDX-License-Identifier: MIT */
/* virtio-mmio driven the way Linux's virtio_mmio driver drives it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/log.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_mmio.h"
#include "virtio_fake_driver.h"

#define BASE 0xf0000000ULL
#define GSI  5
#define QMAX 64

struct dummy {
	int activated, resets;
	int notified[4];
	uint8_t config[8];
	uint8_t written[8];
	struct vq_chain chain;
};

static void dummy_config_read(struct virtio_device *dev, uint32_t off, uint8_t *data, uint32_t len)
{
	struct dummy *d = dev->priv;
	memcpy(data, d->config + off, len);
}

static void dummy_config_write(struct virtio_device *dev, uint32_t off, const uint8_t *data,
			       uint32_t len)
{
	struct dummy *d = dev->priv;
	memcpy(d->written + off, data, len);
}

static int dummy_activate(struct virtio_device *dev)
{
	struct dummy *d = dev->priv;
	d->activated++;
	return 0;
}

static void dummy_reset(struct virtio_device *dev)
{
	struct dummy *d = dev->priv;
	d->resets++;
}

/* Complete everything available with 4 bytes written, then interrupt. */
static void dummy_queue_notify(struct virtio_device *dev, unsigned q)
{
	struct dummy *d = dev->priv;

	d->notified[q]++;
	while (virtio_pop(dev, q, &d->chain) > 0)
		virtio_push(dev, q, &d->chain, 4);
	virtio_notify(dev, q);
}

static const struct virtio_device_ops dummy_ops = {
    .name = "dummy",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 2,
    .queue_max_size = QMAX,
    .features = VIRTIO_BIT(3) | VIRTIO_BIT(40),
    .config_size = 8,
    .config_read = dummy_config_read,
    .config_write = dummy_config_write,
    .activate = dummy_activate,
    .reset = dummy_reset,
    .queue_notify = dummy_queue_notify,
};

/* The interrupt line's history. */
struct irq_rec {
	int level;
	int raises, lowers;
	char log[64];
	size_t n;
};

static void irq_rec_set(void *opaque, uint32_t gsi, int level)
{
	struct irq_rec *r = opaque;

	assert_int_equal(gsi, GSI);
	r->level = level;
	if (level)
		r->raises++;
	else
		r->lowers++;
	if (r->n + 1 < sizeof(r->log))
		r->log[r->n++] = level ? '1' : '0';
}

struct fixture {
	struct guest_memory gm;
	struct virtio_device dev;
	struct virtio_mmio mmio;
	struct dummy d;
	struct irq_rec irq;
	struct fake_ring ring[2];
};

static int setup(void **state)
{
	static struct fixture f;
	struct gm_range ranges[] = {{0, 0x100000}};

	memset(&f, 0, sizeof(f));
	assert_int_equal(gm_create(&f.gm, ranges, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(vq_chain_init(&f.d.chain, QMAX), 0);
	memcpy(f.d.config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	assert_int_equal(virtio_device_init(&f.dev, &dummy_ops, &f.d, &f.gm, NULL), 0);
	virtio_mmio_init(&f.mmio, &f.dev, BASE,
			 (struct irq_line){.set = irq_rec_set, .opaque = &f.irq, .gsi = GSI});
	fr_init(&f.ring[0], &f.gm, 16, 0x1000, 0x2000, 0x3000);
	fr_init(&f.ring[1], &f.gm, 8, 0x4000, 0x5000, 0x6000);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_mmio_destroy(&f->mmio);
	virtio_device_reset(&f->dev);
	virtio_device_destroy(&f->dev);
	vq_chain_destroy(&f->d.chain);
	gm_destroy(&f->gm);
	return 0;
}

static uint32_t readl(struct fixture *f, uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	virtio_mmio_bus_ops.read(&f->mmio, off, (uint8_t *)&v, 4);
	return v;
}

static void writel(struct fixture *f, uint64_t off, uint32_t v)
{
	virtio_mmio_bus_ops.write(&f->mmio, off, (const uint8_t *)&v, 4);
}

static uint64_t read_features(struct fixture *f)
{
	uint64_t feat;

	writel(f, VIRTIO_MMIO_REG_DEVICE_FEAT_SEL, 1);
	feat = (uint64_t)readl(f, VIRTIO_MMIO_REG_DEVICE_FEATURES) << 32;
	writel(f, VIRTIO_MMIO_REG_DEVICE_FEAT_SEL, 0);
	feat |= readl(f, VIRTIO_MMIO_REG_DEVICE_FEATURES);
	return feat;
}

static void write_features(struct fixture *f, uint64_t feat)
{
	writel(f, VIRTIO_MMIO_REG_DRIVER_FEAT_SEL, 1);
	writel(f, VIRTIO_MMIO_REG_DRIVER_FEATURES, (uint32_t)(feat >> 32));
	writel(f, VIRTIO_MMIO_REG_DRIVER_FEAT_SEL, 0);
	writel(f, VIRTIO_MMIO_REG_DRIVER_FEATURES, (uint32_t)feat);
}

/* vm_setup_vq() of Linux's driver. */
static void setup_queue(struct fixture *f, unsigned q)
{
	struct fake_ring *r = &f->ring[q];

	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, q);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_READY), 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_NUM_MAX), QMAX);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NUM, r->size);
	writel(f, VIRTIO_MMIO_REG_QUEUE_DESC_LOW, (uint32_t)r->desc);
	writel(f, VIRTIO_MMIO_REG_QUEUE_DESC_HIGH, (uint32_t)(r->desc >> 32));
	writel(f, VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW, (uint32_t)r->avail);
	writel(f, VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH, (uint32_t)(r->avail >> 32));
	writel(f, VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW, (uint32_t)r->used);
	writel(f, VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH, (uint32_t)(r->used >> 32));
	writel(f, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_READY), 1);
}

/* Probe and bring the device up as Linux does; returns the features taken. */
static uint64_t linux_probe(struct fixture *f, uint64_t want)
{
	uint64_t feat;
	uint32_t status;

	assert_int_equal(readl(f, VIRTIO_MMIO_REG_MAGIC), VIRTIO_MMIO_MAGIC);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_VERSION), 2);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_DEVICE_ID), VIRTIO_ID_RNG);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_VENDOR_ID), VIRTIO_VENDOR_ID);
	writel(f, VIRTIO_MMIO_REG_STATUS, 0);
	writel(f, VIRTIO_MMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	writel(f, VIRTIO_MMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	feat = read_features(f) & want;
	write_features(f, feat);
	status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	writel(f, VIRTIO_MMIO_REG_STATUS, status);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_STATUS), status);
	setup_queue(f, 0);
	setup_queue(f, 1);
	writel(f, VIRTIO_MMIO_REG_STATUS, status | VIRTIO_STATUS_DRIVER_OK);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_STATUS), status | VIRTIO_STATUS_DRIVER_OK);
	return feat;
}

static void test_probe_and_features(void **state)
{
	struct fixture *f = *state;
	uint64_t feat;

	feat = read_features(f);
	assert_int_equal(feat, VIRTIO_BIT(3) | VIRTIO_BIT(40) | VIRTIO_TRANSPORT_FEATURES);
	feat = linux_probe(f, ~0ULL);
	assert_int_equal(f->d.activated, 1);
	assert_int_equal(f->dev.features, feat);
	assert_true(f->dev.vqs[0].event_idx);
	assert_true(f->dev.vqs[1].indirect);
	assert_int_equal(f->dev.vqs[1].size, 8);
	assert_int_equal(f->dev.vqs[0].used_gpa, 0x3000);
	/* The queue registers read back. */
	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, 1);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_NUM), 8);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_DESC_LOW), 0x4000);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH), 0);
	/* No such queue. */
	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, 2);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_NUM_MAX), 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_READY), 0);
	/* No shared memory regions: length -1. */
	writel(f, VIRTIO_MMIO_REG_SHM_SEL, 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_SHM_LEN_LOW), 0xffffffff);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_SHM_LEN_HIGH), 0xffffffff);
}

static void test_legacy_driver_refused(void **state)
{
	struct fixture *f = *state;
	uint32_t status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	writel(f, VIRTIO_MMIO_REG_STATUS, status);
	write_features(f, VIRTIO_BIT(3)); /* no VERSION_1 */
	writel(f, VIRTIO_MMIO_REG_STATUS, status | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_STATUS), status);
}

static void test_notify_and_interrupt(void **state)
{
	struct fixture *f = *state;
	struct fake_ring *r = &f->ring[0];

	linux_probe(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	fr_desc(r, 0, 0x10000, 16, VRING_DESC_F_WRITE, 0);
	fr_publish(r, 0);
	assert_int_equal(f->irq.raises, 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_int_equal(f->d.notified[0], 1);
	assert_int_equal(f->d.notified[1], 0);
	assert_int_equal(fr_used_idx(r), 1);
	assert_int_equal(fr_used_elem(r, 0).len, 4);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	/* Linux's vm_interrupt: read the status, acknowledge it. */
	writel(f, VIRTIO_MMIO_REG_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 0);

	/* The driver asks for no interrupts: none. */
	fr_set_avail_flags(r, VRING_AVAIL_F_NO_INTERRUPT);
	fr_publish(r, 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_int_equal(fr_used_idx(r), 2);
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(f->irq.raises, 1);

	/* Notifying queue 1 reaches queue 1; an absent queue nothing. */
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 1);
	assert_int_equal(f->d.notified[1], 1);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 7);
	assert_int_equal(f->d.notified[0] + f->d.notified[1], 3);
	assert_false(f->dev.broken);
}

static void test_interrupt_edges(void **state)
{
	struct fixture *f = *state;

	linux_probe(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	assert_string_equal(f->irq.log, "0"); /* the probe's reset drove the line low */
	memset(&f->irq, 0, sizeof(f->irq));
	virtio_device_lock(&f->dev);
	f->dev.notify_queue(&f->dev, 0);
	f->dev.notify_queue(&f->dev, 0); /* already high: no new call */
	virtio_config_changed(&f->dev);
	virtio_device_unlock(&f->dev);
	assert_string_equal(f->irq.log, "1");
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 3);
	/* Acknowledging one cause leaves the other: a fresh edge. */
	writel(f, VIRTIO_MMIO_REG_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_string_equal(f->irq.log, "101");
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	/* Acknowledging what is not pending changes nothing. */
	writel(f, VIRTIO_MMIO_REG_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	assert_string_equal(f->irq.log, "101");
	writel(f, VIRTIO_MMIO_REG_INTERRUPT_ACK, VIRTIO_MMIO_INT_CONFIG);
	assert_string_equal(f->irq.log, "1010");
	assert_int_equal(f->irq.level, 0);
}

static void test_config_space(void **state)
{
	struct fixture *f = *state;
	uint8_t b[8];
	uint16_t w;
	uint32_t gen;

	linux_probe(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	virtio_mmio_bus_ops.read(&f->mmio, 0x100 + 1, b, 1);
	assert_int_equal(b[0], 0x22);
	virtio_mmio_bus_ops.read(&f->mmio, 0x100 + 2, (uint8_t *)&w, 2);
	assert_int_equal(w, 0x4433);
	virtio_mmio_bus_ops.read(&f->mmio, 0x100, b, 8);
	assert_memory_equal(b, f->d.config, 8);
	virtio_mmio_bus_ops.write(&f->mmio, 0x100 + 4, (const uint8_t *)"\xaa\xbb", 2);
	assert_memory_equal(f->d.written + 4, "\xaa\xbb", 2);
	/* Beyond the config space: zeros, and writes go nowhere. */
	memset(b, 0xff, sizeof(b));
	virtio_mmio_bus_ops.read(&f->mmio, 0x100 + 6, b, 4);
	assert_memory_equal(b, "\0\0\0\0", 4);
	virtio_mmio_bus_ops.read(&f->mmio, 0xffc, b, 4);
	assert_memory_equal(b, "\0\0\0\0", 4);

	/* A change bumps the generation and raises the config interrupt. */
	gen = readl(f, VIRTIO_MMIO_REG_CONFIG_GEN);
	virtio_device_lock(&f->dev);
	virtio_config_changed(&f->dev);
	virtio_device_unlock(&f->dev);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_CONFIG_GEN), gen + 1);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(f->irq.level, 1);
}

static void test_bad_accesses(void **state)
{
	struct fixture *f = *state;
	uint8_t b[2] = {0xff, 0xff};
	uint64_t errs = log_guest_error_count();

	/* Registers are 32-bit only. */
	virtio_mmio_bus_ops.read(&f->mmio, VIRTIO_MMIO_REG_MAGIC, b, 2);
	assert_memory_equal(b, "\0\0", 2);
	virtio_mmio_bus_ops.write(&f->mmio, VIRTIO_MMIO_REG_STATUS, (const uint8_t *)"\x01", 1);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_STATUS), 0);
	assert_int_equal(readl(f, 0x0a8), 0); /* unassigned */
	writel(f, 0x0a8, 5);
	writel(f, VIRTIO_MMIO_REG_MAGIC, 5);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_MAGIC), VIRTIO_MMIO_MAGIC);
	/* Queue registers of a queue that does not exist. */
	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, 99);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NUM, 16);
	writel(f, VIRTIO_MMIO_REG_QUEUE_DESC_LOW, 0x1000);
	writel(f, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	assert_true(log_guest_error_count() >= errs + 7);
	assert_false(f->dev.broken);

	/* A queue size that is too big or not a power of two breaks the device. */
	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NUM, 0x10010);
	writel(f, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_READY), 0);
	assert_true(readl(f, VIRTIO_MMIO_REG_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	writel(f, VIRTIO_MMIO_REG_STATUS, 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NUM, 48);
	writel(f, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	assert_true(f->dev.broken);
	writel(f, VIRTIO_MMIO_REG_STATUS, 0);
	assert_false(f->dev.broken);

	/* Ring addresses cannot change under a ready queue. */
	linux_probe(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_DESC_LOW, 0x8000);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NUM, 4);
	assert_int_equal(f->dev.vqs[0].desc_gpa, 0x1000);
	assert_int_equal(f->dev.vqs[0].size, 16);
	/* A broken ring raises the config interrupt with NEEDS_RESET. */
	fr_desc(&f->ring[0], 0, 0x10000, 16, VRING_DESC_F_NEXT, 0);
	fr_publish(&f->ring[0], 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_true(readl(f, VIRTIO_MMIO_REG_STATUS) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	assert_int_equal(f->irq.level, 1);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;

	linux_probe(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	fr_desc(&f->ring[0], 0, 0x10000, 16, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring[0], 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_int_equal(f->irq.level, 1);

	writel(f, VIRTIO_MMIO_REG_STATUS, 0);
	assert_int_equal(f->d.resets, 2); /* the probe's reset and this one */
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_STATUS), 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_INTERRUPT_STATUS), 0);
	assert_int_equal(f->irq.level, 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_READY), 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_NUM), QMAX);
	assert_int_equal(f->dev.features, 0);
	/* Kicks after the reset reach nobody. */
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_int_equal(f->d.notified[0], 1);

	/* And it comes back up. */
	fr_init(&f->ring[0], &f->gm, 16, 0x1000, 0x2000, 0x3000);
	fr_init(&f->ring[1], &f->gm, 8, 0x4000, 0x5000, 0x6000);
	linux_probe(f, ~0ULL);
	assert_int_equal(f->d.activated, 2);
	fr_desc(&f->ring[0], 0, 0x10000, 16, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring[0], 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_int_equal(fr_used_idx(&f->ring[0]), 1);
	/* Writing 0 to QueueReady disables the queue (Linux's vm_del_vq). */
	writel(f, VIRTIO_MMIO_REG_QUEUE_READY, 0);
	assert_int_equal(readl(f, VIRTIO_MMIO_REG_QUEUE_READY), 0);
}

/* ---- ioeventfds ---------------------------------------------------------- */

struct ioev_rec {
	int assigned, unassigned;
	int fail_at; /* fail the n-th assignment (1-based), 0: never */
	uint64_t addr[4];
	uint32_t match[4];
	int fd[4];
};

static int ioev_fn(void *opaque, uint64_t addr, uint32_t datamatch, int fd, bool assign)
{
	struct ioev_rec *r = opaque;

	if (!assign) {
		r->unassigned++;
		return 0;
	}
	if (r->fail_at && r->assigned + 1 == r->fail_at)
		return -ENOSYS;
	r->addr[r->assigned] = addr;
	r->match[r->assigned] = datamatch;
	r->fd[r->assigned] = fd;
	r->assigned++;
	return 0;
}

static void test_ioeventfd(void **state)
{
	struct fixture *f = *state;
	struct event_loop loop;
	struct ioev_rec rec = {0};
	uint64_t one = 1;

	assert_int_equal(event_loop_init(&loop), 0);
	assert_int_equal(virtio_mmio_setup_ioeventfds(&f->mmio, &loop, ioev_fn, &rec), 0);
	assert_int_equal(rec.assigned, 2);
	assert_int_equal(rec.addr[0], BASE + VIRTIO_MMIO_REG_QUEUE_NOTIFY);
	assert_int_equal(rec.match[0], 0);
	assert_int_equal(rec.match[1], 1);
	assert_int_equal(virtio_mmio_setup_ioeventfds(&f->mmio, &loop, ioev_fn, &rec), -EBUSY);

	linux_probe(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	fr_desc(&f->ring[1], 0, 0x10000, 16, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring[1], 0);
	/* What KVM does on the guest's write of 1 to QueueNotify. */
	assert_int_equal(write(rec.fd[1], &one, sizeof(one)), sizeof(one));
	assert_int_equal(event_loop_run_once(&loop, 0), 1);
	assert_int_equal(f->d.notified[1], 1);
	assert_int_equal(f->d.notified[0], 0);
	assert_int_equal(fr_used_idx(&f->ring[1]), 1);
	assert_int_equal(f->irq.level, 1);
	/* Nothing more to do. */
	assert_int_equal(event_loop_run_once(&loop, 0), 0);

	virtio_mmio_destroy(&f->mmio);
	assert_int_equal(rec.unassigned, 2);
	assert_int_equal(f->mmio.nr_kicks, 0);
	event_loop_destroy(&loop);
}

static void test_ioeventfd_failure_falls_back(void **state)
{
	struct fixture *f = *state;
	struct event_loop loop;
	struct ioev_rec rec = {.fail_at = 2};

	assert_int_equal(event_loop_init(&loop), 0);
	assert_int_equal(virtio_mmio_setup_ioeventfds(&f->mmio, &loop, ioev_fn, &rec), -ENOSYS);
	assert_int_equal(rec.assigned, 1);
	assert_int_equal(rec.unassigned, 1); /* the first one undone */
	assert_int_equal(f->mmio.nr_kicks, 0);
	for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++)
		assert_int_equal(f->mmio.kicks[i].fd, -1);
	assert_int_equal(event_loop_remove(&loop, rec.fd[0]), -ENOENT);
	/* Kicks by MMIO write still work. */
	linux_probe(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	assert_int_equal(f->d.notified[0], 1);
	event_loop_destroy(&loop);
}

/* Save a running device and its transport, load them into fresh ones. */
static void test_save_load(void **state)
{
	struct fixture *f = *state;
	struct virtio_state *vs = calloc(1, sizeof(*vs));
	struct virtio_mmio_state ms;
	struct virtio_device dev2;
	struct virtio_mmio mmio2;
	struct irq_rec irq2 = {0};

	assert_non_null(vs);
	linux_probe(f, ~0ULL);
	fr_desc(&f->ring[0], 0, 0x10000, 16, VRING_DESC_F_WRITE, 0);
	fr_publish(&f->ring[0], 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, 0);
	writel(f, VIRTIO_MMIO_REG_QUEUE_SEL, 1);
	virtio_device_lock(&f->dev);
	virtio_device_save(&f->dev, vs);
	virtio_mmio_save(&f->mmio, &ms);
	virtio_device_unlock(&f->dev);

	assert_int_equal(virtio_device_init(&dev2, &dummy_ops, &f->d, &f->gm, NULL), 0);
	virtio_mmio_init(&mmio2, &dev2, BASE,
			 (struct irq_line){.set = irq_rec_set, .opaque = &irq2, .gsi = GSI});
	assert_int_equal(virtio_device_load(&dev2, vs), 0);
	virtio_mmio_load(&mmio2, &ms);
	assert_int_equal(irq2.level, 1); /* the pending interrupt is still asserted */
	assert_int_equal(dev2.status, f->dev.status);
	assert_int_equal(dev2.features, f->dev.features);
	assert_true(dev2.active);
	assert_int_equal(dev2.vqs[0].used_idx, 1);
	assert_true(dev2.vqs[0].event_idx);
	assert_int_equal(mmio2.queue_sel, 1);
	/* The restored device carries on with the same rings. */
	fr_publish(&f->ring[0], 0);
	virtio_mmio_bus_ops.write(&mmio2, VIRTIO_MMIO_REG_QUEUE_NOTIFY, (const uint8_t *)"\0\0\0\0",
				  4);
	assert_int_equal(fr_used_idx(&f->ring[0]), 2);

	/* Mismatches are refused and leave the queues reset. */
	vs->device_id = 99;
	assert_int_equal(virtio_device_load(&dev2, vs), -EINVAL);
	vs->device_id = VIRTIO_ID_RNG;
	vs->features |= VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	assert_int_equal(virtio_device_load(&dev2, vs), -EINVAL);
	vs->features &= ~VIRTIO_BIT(VIRTIO_F_RING_PACKED);
	vs->queues[1].size = 3;
	assert_int_equal(virtio_device_load(&dev2, vs), -EINVAL);
	assert_false(dev2.vqs[0].ready);

	virtio_device_reset(&dev2);
	virtio_device_destroy(&dev2);
	free(vs);
}

static void test_cmdline(void **state)
{
	struct fixture *f = *state;
	char buf[64];

	assert_int_equal(virtio_mmio_cmdline(&f->mmio, buf, sizeof(buf)),
			 (int)strlen("virtio_mmio.device=4K@0xf0000000:5"));
	assert_string_equal(buf, "virtio_mmio.device=4K@0xf0000000:5");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_probe_and_features, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_legacy_driver_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_notify_and_interrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_interrupt_edges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_config_space, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bad_accesses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ioeventfd, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ioeventfd_failure_falls_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cmdline, setup, teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
