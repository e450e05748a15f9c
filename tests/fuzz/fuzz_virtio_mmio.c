/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the virtio-mmio register block (devices/virtio/virtio_mmio.c)
 * on the MMIO bus, with a real device behind it (virtio-rng, virtio-net on
 * a socketpair or virtio-blk on a temporary image).
 *
 * Input:
 *   u8 device (% 3); bit 2: notifications through ioeventfds (a write of
 *      a queue's index to QueueNotify then signals its eventfd, as KVM
 *      does, and the event loop serves it)
 *   then operations (u8 % NR_OPS) until the input ends:
 *     an access: u16 offset (up to twice the slot, so some miss it), u8
 *       size (1, 2, 4, 8) and direction, a value for writes;
 *     a driver's whole initialization through the registers (features
 *       from the input, rings at fixed places, every queue enabled);
 *     a chain made available on a queue of that initialization;
 *     a write into guest memory; an event-loop turn; a frame from the
 *     host (virtio-net); a change of the device's configuration.
 *
 * Checks: the interrupt line is high exactly while InterruptStatus is not
 * zero, InterruptStatus has no bits but VRING and CONFIG, and every
 * ioeventfd bound is unbound again when the transport goes away.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/bus.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/irq.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_mmio.h"
#include "fuzz_devices.h"
#include "fuzz_util.h"

#define BASE	    0xd0000000ULL
#define GSI	    5
#define RAM_SIZE    0x100000ULL
#define RING_BASE   0x1000ULL
#define RING_STRIDE 0x3000ULL
#define DATA_BASE   0x20000ULL
#define DATA_SIZE   (RAM_SIZE - DATA_BASE)
#define MAX_Q	    3

enum op {
	OP_READ,
	OP_WRITE,
	OP_WRITE2,
	OP_INIT,
	OP_CHAIN,
	OP_POKE,
	OP_LOOP,
	OP_FRAME,
	OP_CONFIG_CHANGED,
	NR_OPS
};

static const char *const op_names[NR_OPS] = {"read", "write", "write", "init",		"chain",
					     "poke", "loop",  "frame", "config-changed"};

struct binding {
	int fd;
	uint32_t datamatch;
	bool bound;
};

struct fx {
	struct guest_memory gm;
	struct event_loop loop;
	struct bus bus;
	struct fuzz_device d;
	struct virtio_mmio m;
	int level; /* the interrupt line as driven */
	struct binding bind[VIRTIO_MAX_QUEUES];
	int nbind;
	bool use_ioeventfd;
	struct fuzz_dq q[MAX_Q];
	bool rings; /* OP_INIT laid out q[] */
};

static void irq_set(void *opaque, uint32_t gsi, int level)
{
	struct fx *f = opaque;

	FUZZ_CHECK(gsi == GSI && (level == 0 || level == 1));
	f->level = level;
}

/* KVM's side of an ioeventfd: bindings are unique per (address, data match). */
static int fake_ioeventfd(void *opaque, uint64_t addr, uint32_t datamatch, int fd, bool assign)
{
	struct fx *f = opaque;

	FUZZ_CHECK(addr == BASE + VIRTIO_MMIO_REG_QUEUE_NOTIFY);
	for (int i = 0; i < f->nbind; i++) {
		struct binding *b = &f->bind[i];

		if (!b->bound || b->datamatch != datamatch)
			continue;
		if (assign)
			return -EEXIST;
		if (b->fd != fd)
			return -ENOENT;
		b->bound = false;
		return 0;
	}
	if (!assign)
		return -ENOENT;
	FUZZ_CHECK(f->nbind < VIRTIO_MAX_QUEUES);
	f->bind[f->nbind++] = (struct binding){fd, datamatch, true};
	return 0;
}

/* A guest write: caught by an ioeventfd (as KVM would), else an MMIO exit to the bus. */
static void guest_write(struct fx *f, uint64_t addr, const uint8_t *data, uint32_t len)
{
	if (f->use_ioeventfd && len == 4 && addr == BASE + VIRTIO_MMIO_REG_QUEUE_NOTIFY) {
		uint32_t v;

		memcpy(&v, data, 4);
		for (int i = 0; i < f->nbind; i++) {
			if (f->bind[i].bound && f->bind[i].datamatch == v) {
				uint64_t one = 1;

				FUZZ_CHECK(write(f->bind[i].fd, &one, sizeof(one)) == sizeof(one));
				return;
			}
		}
	}
	bus_write(&f->bus, addr, data, len);
}

static void reg_write(struct fx *f, uint64_t off, uint32_t v)
{
	guest_write(f, BASE + off, (const uint8_t *)&v, 4);
}

static uint32_t reg_read(struct fx *f, uint64_t off)
{
	uint32_t v = 0;

	bus_read(&f->bus, BASE + off, (uint8_t *)&v, 4);
	return v;
}

static uint64_t value(struct fuzz_in *in)
{
	uint8_t sel = fi_u8(in);

	switch (sel >> 6) {
	case 0:
		return sel; /* small values: indices, sizes, status bits */
	case 1:
		return fi_u16(in);
	case 2:
		return fi_u32(in);
	default:
		return fi_u64(in);
	}
}

static void op_access(struct fx *f, struct fuzz_in *in, bool write)
{
	static const uint32_t sizes[] = {4, 1, 2, 8};
	uint64_t off = fi_u16(in) % (2 * VIRTIO_MMIO_SLOT_SIZE);
	uint32_t len = sizes[fi_u8(in) % 4];
	uint8_t data[8];

	if (write) {
		uint64_t v = value(in);

		memcpy(data, &v, sizeof(data));
		guest_write(f, BASE + off, data, len);
	} else {
		bus_read(&f->bus, BASE + off, data, len);
	}
}

/* What Linux's virtio_mmio driver does from reset to DRIVER_OK. */
static void op_init(struct fx *f, struct fuzz_in *in)
{
	uint32_t accept[2], qsize = 1u << (fi_u8(in) % 9);
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
	unsigned nq;

	accept[0] = fi_u32(in);
	accept[1] = fi_u32(in) | 1; /* VERSION_1 */
	reg_write(f, VIRTIO_MMIO_REG_STATUS, 0);
	reg_write(f, VIRTIO_MMIO_REG_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	reg_write(f, VIRTIO_MMIO_REG_STATUS, st);
	for (uint32_t sel = 0; sel < 2; sel++) {
		uint32_t have;

		reg_write(f, VIRTIO_MMIO_REG_DEVICE_FEAT_SEL, sel);
		have = reg_read(f, VIRTIO_MMIO_REG_DEVICE_FEATURES);
		reg_write(f, VIRTIO_MMIO_REG_DRIVER_FEAT_SEL, sel);
		reg_write(f, VIRTIO_MMIO_REG_DRIVER_FEATURES, have & accept[sel]);
	}
	st |= VIRTIO_STATUS_FEATURES_OK;
	reg_write(f, VIRTIO_MMIO_REG_STATUS, st);
	if (!(reg_read(f, VIRTIO_MMIO_REG_STATUS) & VIRTIO_STATUS_FEATURES_OK))
		return;
	nq = f->d.dev->num_queues < MAX_Q ? f->d.dev->num_queues : MAX_Q;
	for (unsigned i = 0; i < nq; i++) {
		struct fuzz_dq *d = &f->q[i];
		uint32_t max;

		reg_write(f, VIRTIO_MMIO_REG_QUEUE_SEL, i);
		max = reg_read(f, VIRTIO_MMIO_REG_QUEUE_NUM_MAX);
		fuzz_dq_init(d, &f->gm, (uint16_t)(qsize < max ? qsize : max),
			     RING_BASE + i * RING_STRIDE, 0);
		d->tainted = true; /* the program may move the rings under the driver */
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_NUM, d->ring.size);
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_DESC_LOW, (uint32_t)d->ring.desc);
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_DESC_HIGH, 0);
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_DRIVER_LOW, (uint32_t)d->ring.avail);
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_DRIVER_HIGH, 0);
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_DEVICE_LOW, (uint32_t)d->ring.used);
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_DEVICE_HIGH, 0);
		reg_write(f, VIRTIO_MMIO_REG_QUEUE_READY, 1);
	}
	reg_write(f, VIRTIO_MMIO_REG_STATUS, st | VIRTIO_STATUS_DRIVER_OK);
	f->rings = true;
}

/* A chain of segments on queue q, then QueueNotify. */
static void op_chain(struct fx *f, struct fuzz_in *in)
{
	static const uint32_t lens[] = {1, 12, 16, 17, 512, 1514, 4096, 65536};
	unsigned q = fi_u8(in) % MAX_Q, n = 1 + fi_u8(in) % 4;
	struct fuzz_seg s[4];
	uint8_t content[32];

	if (!f->rings || q >= f->d.dev->num_queues)
		return;
	for (unsigned i = 0; i < n; i++) {
		uint8_t sel = fi_u8(in);

		s[i].gpa = DATA_BASE + (fi_u16(in) * 16ULL) % DATA_SIZE;
		s[i].len = lens[sel % 8];
		s[i].write = sel & 0x80;
		/* Readable buffers start with bytes from the input (a request header). */
		if (!s[i].write) {
			fi_bytes(in, content, sizeof(content));
			gm_write(&f->gm, s[i].gpa, content,
				 s[i].len < sizeof(content) ? s[i].len : sizeof(content));
		}
	}
	fuzz_ring_add(&f->q[q].ring, s, n, 0);
	reg_write(f, VIRTIO_MMIO_REG_QUEUE_NOTIFY, q);
}

static void op_poke(struct fx *f, struct fuzz_in *in)
{
	uint8_t buf[256];
	uint64_t gpa = fi_u32(in) % RAM_SIZE;
	uint8_t len = fi_u8(in);

	fi_bytes(in, buf, len);
	gm_write(&f->gm, gpa, buf, len);
}

static void check_irq(const struct fx *f)
{
	FUZZ_CHECK((f->m.interrupt_status & ~(uint32_t)3) == 0);
	FUZZ_CHECK(f->level == (f->m.interrupt_status != 0));
	FUZZ_CHECK(reg_read((struct fx *)f, VIRTIO_MMIO_REG_INTERRUPT_STATUS) ==
		   f->m.interrupt_status);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gm_range range = {0, RAM_SIZE};
	struct fuzz_in in = {data, size};
	unsigned steps = 0;
	struct fx *f;
	uint8_t sel;

	fuzz_quiet();
	f = calloc(1, sizeof(*f));
	FUZZ_CHECK(f != NULL);
	FUZZ_CHECK(fuzz_gm_create(&f->gm, &range, 1) == 0);
	FUZZ_CHECK(event_loop_init(&f->loop) == 0);
	bus_init(&f->bus, "mmio");
	sel = fi_u8(&in);
	fuzz_device_create(&f->d, (enum fuzz_dev_kind)(sel % FUZZ_DEV_NR), &f->gm, &f->loop);
	virtio_mmio_init(&f->m, f->d.dev, BASE,
			 (struct irq_line){.set = irq_set, .opaque = f, .gsi = GSI});
	FUZZ_CHECK(
	    bus_register(&f->bus, BASE, VIRTIO_MMIO_SLOT_SIZE, &virtio_mmio_bus_ops, &f->m) == 0);
	f->use_ioeventfd = sel & 4;
	if (f->use_ioeventfd)
		FUZZ_CHECK(virtio_mmio_setup_ioeventfds(&f->m, &f->loop, fake_ioeventfd, f) == 0);

	while (!fi_empty(&in) && steps++ < 1024) {
		enum op op = (enum op)(fi_u8(&in) % NR_OPS);

		FUZZ_TRACE("op %s\n", op_names[op]);
		switch (op) {
		case OP_READ:
			op_access(f, &in, false);
			break;
		case OP_WRITE:
		case OP_WRITE2:
			op_access(f, &in, true);
			break;
		case OP_INIT:
			op_init(f, &in);
			break;
		case OP_CHAIN:
			op_chain(f, &in);
			break;
		case OP_POKE:
			op_poke(f, &in);
			break;
		case OP_LOOP:
			fuzz_device_settle(&f->d);
			event_loop_run_once(&f->loop, 0);
			fuzz_device_settle(&f->d);
			break;
		case OP_FRAME:
			fuzz_device_frame(&f->d, fi_u16(&in));
			break;
		case OP_CONFIG_CHANGED:
			/* The device's configuration changed (a disk resized, a link went down). */
			virtio_device_lock(f->d.dev);
			virtio_config_changed(f->d.dev);
			virtio_device_unlock(f->d.dev);
			break;
		case NR_OPS:
		default:
			break;
		}
		check_irq(f);
	}
	fuzz_device_settle(&f->d);
	bus_unregister(&f->bus, BASE);
	virtio_mmio_destroy(&f->m);
	for (int i = 0; i < f->nbind; i++)
		FUZZ_CHECK(!f->bind[i].bound);
	fuzz_device_destroy(&f->d);
	bus_destroy(&f->bus);
	event_loop_destroy(&f->loop);
	fuzz_gm_destroy(&f->gm);
	free(f);
	return 0;
}
