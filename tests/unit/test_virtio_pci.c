/* SPDX-License-Identifier: MIT */
/*
 * virtio-pci (modern) driven the way Linux's virtio_pci_modern driver
 * drives it: through a real PCI host's ECAM and the device's BAR on the
 * MMIO bus, with a fake KVM behind the GSI routing (MSI routes, irqfds), a
 * recorder for ioeventfds and INTx, and the device event loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/bus.h"
#include "core/event_loop.h"
#include "core/guest_memory.h"
#include "core/irq_routing.h"
#include "core/log.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"
#include "devices/virtio/virtio.h"
#include "devices/virtio/virtio_pci.h"
#include "virtio_fake_driver.h"

#define QMAX	 64
#define NQUEUES	 2
#define NVEC	 (NQUEUES + 1)
#define RAM_SIZE 0x100000ULL

/* ---- the device behind the transport ----------------------------------------------- */

struct dummy {
	int activated, resets;
	int notified[NQUEUES];
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
    .device_id = VIRTIO_ID_NET,
    .num_queues = NQUEUES,
    .queue_max_size = QMAX,
    .features = VIRTIO_BIT(5) | VIRTIO_BIT(41),
    .config_size = 8,
    .config_read = dummy_config_read,
    .config_write = dummy_config_write,
    .activate = dummy_activate,
    .reset = dummy_reset,
    .queue_notify = dummy_queue_notify,
};

/* ---- fake KVM: routing, irqfds, ioeventfds, INTx ---------------------------------------- */

struct fake_kvm {
	struct kvm_irq_routing *table;
	int pushes;
	struct kvm_irqfd irqfds[64];
	int nirqfd;
	int nmsi;
};

static int fake_set_routing(void *opaque, const struct kvm_irq_routing *t)
{
	struct fake_kvm *k = opaque;
	size_t bytes = sizeof(*t) + t->nr * sizeof(t->entries[0]);

	free(k->table);
	k->table = malloc(bytes);
	assert_non_null(k->table);
	memcpy(k->table, t, bytes);
	k->pushes++;
	return 0;
}

static int fake_irqfd(void *opaque, const struct kvm_irqfd *req)
{
	struct fake_kvm *k = opaque;

	assert_true(k->nirqfd < 64);
	k->irqfds[k->nirqfd++] = *req;
	return 0;
}

static int fake_signal_msi(void *opaque, const struct kvm_msi *msi)
{
	struct fake_kvm *k = opaque;

	(void)msi;
	k->nmsi++;
	return 1;
}

static const struct irq_routing_ops fake_ops = {fake_set_routing, fake_irqfd, fake_signal_msi};

struct ioev {
	uint64_t addr;
	int fd;
	bool bound;
};

struct ioev_rec {
	struct ioev b[256];
	int n;
	int fail; /* refuse bindings with this -errno */
	int assigns, deassigns;
};

static int fake_ioeventfd(void *opaque, uint64_t addr, int fd, bool assign)
{
	struct ioev_rec *r = opaque;

	if (assign) {
		if (r->fail)
			return r->fail;
		for (int i = 0; i < r->n; i++)
			assert_false(r->b[i].bound && r->b[i].addr == addr); /* KVM says EEXIST */
		assert_true(r->n < 256);
		r->b[r->n++] = (struct ioev){addr, fd, true};
		r->assigns++;
		return 0;
	}
	for (int i = 0; i < r->n; i++) {
		if (r->b[i].bound && r->b[i].addr == addr && r->b[i].fd == fd) {
			r->b[i].bound = false;
			r->deassigns++;
			return 0;
		}
	}
	fail_msg("unbinding an ioeventfd that is not bound (%#llx)", (unsigned long long)addr);
	return -ENOENT;
}

/* The eventfd bound at addr, or -1. */
static int ioev_fd_at(const struct ioev_rec *r, uint64_t addr)
{
	for (int i = 0; i < r->n; i++) {
		if (r->b[i].bound && r->b[i].addr == addr)
			return r->b[i].fd;
	}
	return -1;
}

static int ioev_bound(const struct ioev_rec *r)
{
	int n = 0;

	for (int i = 0; i < r->n; i++)
		n += r->b[i].bound;
	return n;
}

struct intx_rec {
	uint32_t gsi;
	int level;
	int raises, lowers;
};

static void intx_set(void *opaque, uint32_t gsi, int level)
{
	struct intx_rec *r = opaque;

	r->gsi = gsi;
	r->level = level;
	if (level)
		r->raises++;
	else
		r->lowers++;
}

/* ---- fixture ---------------------------------------------------------------------------- */

struct fx {
	struct fake_kvm kvm;
	struct irq_routing rt;
	struct ioev_rec ioev;
	struct intx_rec intx;
	struct bus pio, mmio;
	struct machine_layout l;
	struct pci_host h;
	struct event_loop loop;
	struct guest_memory gm;
	struct virtio_device dev;
	struct dummy d;
	struct virtio_pci vp;
	struct fake_ring ring[NQUEUES];
	int slot;

	/* What the driver found. */
	uint64_t bar;
	unsigned cap_off[6]; /* config offset of the capability of each cfg_type */
	uint32_t off[6], len[6];
	uint32_t mult;
	unsigned msix_cap;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct gm_range ranges[] = {{0, RAM_SIZE}};
	char err[128];

	assert_non_null(f);
	assert_int_equal(irq_routing_init(&f->rt, &fake_ops, &f->kvm, 1024), 0);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	assert_int_equal(layout_compute(&f->l, 256ULL << 20, 1, 40, err, sizeof(err)), 0);
	assert_int_equal(pci_host_init(&f->h, &f->pio, &f->mmio, &f->l,
				       (struct irq_line){.set = intx_set, .opaque = &f->intx},
				       NULL),
			 0);
	assert_int_equal(event_loop_init(&f->loop), 0);
	assert_int_equal(gm_create(&f->gm, ranges, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(vq_chain_init(&f->d.chain, QMAX), 0);
	memcpy(f->d.config, "\x11\x22\x33\x44\x55\x66\x77\x88", 8);
	assert_int_equal(virtio_device_init(&f->dev, &dummy_ops, &f->d, &f->gm, &f->loop), 0);
	f->slot = virtio_pci_init(&f->vp, &f->dev, &f->h, &f->rt, fake_ioeventfd, &f->ioev);
	assert_int_equal(f->slot, 1);
	fr_init(&f->ring[0], &f->gm, 16, 0x10000, 0x11000, 0x12000);
	fr_init(&f->ring[1], &f->gm, 8, 0x14000, 0x15000, 0x16000);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	virtio_pci_destroy(&f->vp);
	assert_int_equal(ioev_bound(&f->ioev), 0); /* every ioeventfd unbound */
	assert_int_equal(f->ioev.assigns, f->ioev.deassigns);
	virtio_device_lock(&f->dev);
	virtio_device_reset(&f->dev);
	virtio_device_unlock(&f->dev);
	virtio_device_destroy(&f->dev);
	vq_chain_destroy(&f->d.chain);
	gm_destroy(&f->gm);
	event_loop_destroy(&f->loop);
	pci_host_destroy(&f->h);
	assert_int_equal(irq_routing_count(&f->rt), 38); /* every MSI route gone */
	irq_routing_destroy(&f->rt);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f->kvm.table);
	free(f);
	return 0;
}

/* ---- the driver's accessors ------------------------------------------------------------ */

static uint64_t get(const uint8_t *p, unsigned len)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < len; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put(uint8_t *p, uint64_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t ecam(const struct fx *f)
{
	return LAYOUT_ECAM_BASE + ((uint64_t)f->slot << 15);
}

static uint32_t cfg_read(struct fx *f, unsigned reg, unsigned len)
{
	uint8_t d[4];

	assert_true(bus_read(&f->mmio, ecam(f) + reg, d, len));
	return (uint32_t)get(d, len);
}

static void cfg_write(struct fx *f, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t d[4];

	put(d, v, len);
	assert_true(bus_write(&f->mmio, ecam(f) + reg, d, len));
}

static uint64_t bar_read(struct fx *f, uint64_t off, unsigned len)
{
	uint8_t d[8];

	assert_true(bus_read(&f->mmio, f->bar + off, d, len));
	return get(d, len);
}

static void bar_write(struct fx *f, uint64_t off, unsigned len, uint64_t v)
{
	uint8_t d[8];

	put(d, v, len);
	assert_true(bus_write(&f->mmio, f->bar + off, d, len));
}

/* Common configuration, as ioread/iowrite at the natural width. */
static uint64_t common_read(struct fx *f, unsigned reg, unsigned len)
{
	return bar_read(f, f->off[VIRTIO_PCI_CAP_COMMON_CFG] + reg, len);
}

static void common_write(struct fx *f, unsigned reg, unsigned len, uint64_t v)
{
	bar_write(f, f->off[VIRTIO_PCI_CAP_COMMON_CFG] + reg, len, v);
}

/* vp_iowrite64_twopart: low half, then high half. */
static void common_write64(struct fx *f, unsigned reg, uint64_t v)
{
	common_write(f, reg, 4, (uint32_t)v);
	common_write(f, reg + 4, 4, (uint32_t)(v >> 32));
}

static uint8_t status(struct fx *f)
{
	return (uint8_t)common_read(f, VIRTIO_PCI_COMMON_STATUS, 1);
}

static void set_status(struct fx *f, uint8_t s)
{
	common_write(f, VIRTIO_PCI_COMMON_STATUS, 1, s);
}

/*
 * Firmware assigns the BARs; the driver then finds the device the way
 * vp_modern_probe() does: ids, then the capability list.
 */
static void probe(struct fx *f)
{
	unsigned pos, ttl = 48;

	assert_int_equal(pci_host_assign_resources(&f->h), 0);
	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfg_read(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_NET);
	assert_true(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	memset(f->cap_off, 0, sizeof(f->cap_off));
	for (pos = cfg_read(f, PCI_CAPABILITY_LIST, 1); pos && ttl--;
	     pos = cfg_read(f, pos + PCI_CAP_LIST_NEXT, 1)) {
		unsigned id = cfg_read(f, pos, 1), type;

		assert_true(pos >= 0x40 && (pos & 3) == 0);
		if (id == PCI_CAP_ID_MSIX) {
			f->msix_cap = pos;
			continue;
		}
		assert_int_equal(id, PCI_CAP_ID_VNDR);
		type = cfg_read(f, pos + VIRTIO_PCI_CAP_CFG_TYPE, 1);
		assert_true(type >= 1 && type <= 5);
		if (f->cap_off[type])
			continue; /* the first of each type counts */
		f->cap_off[type] = pos;
		f->off[type] = cfg_read(f, pos + VIRTIO_PCI_CAP_OFFSET, 4);
		f->len[type] = cfg_read(f, pos + VIRTIO_PCI_CAP_LENGTH, 4);
		if (type == VIRTIO_PCI_CAP_NOTIFY_CFG)
			f->mult = cfg_read(f, pos + VIRTIO_PCI_NOTIFY_CAP_MULT, 4);
	}
	assert_true(ttl > 0);
	for (unsigned t = 1; t <= 5; t++)
		assert_true(f->cap_off[t] != 0);
	assert_true(f->msix_cap != 0);
	f->bar = (cfg_read(f, PCI_BASE_ADDRESS_4, 4) & ~0xfULL) |
		 (uint64_t)cfg_read(f, PCI_BASE_ADDRESS_5, 4) << 32;
	assert_true(f->bar != 0);
	assert_true(cfg_read(f, PCI_COMMAND, 2) & PCI_COMMAND_MEMORY);
}

/* The address the driver kicks queue q at. */
static uint64_t notify_addr(struct fx *f, unsigned q)
{
	uint32_t noff;

	common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	noff = (uint32_t)common_read(f, VIRTIO_PCI_COMMON_Q_NOFF, 2);
	return f->bar + f->off[VIRTIO_PCI_CAP_NOTIFY_CFG] + (uint64_t)noff * f->mult;
}

/*
 * The guest writes the queue index at q's notify address: KVM signals the
 * ioeventfd bound there (the event loop serves it), or the write exits to
 * the MMIO bus.
 */
static void kick(struct fx *f, unsigned q)
{
	uint64_t a = notify_addr(f, q);
	int fd = ioev_fd_at(&f->ioev, a);
	uint8_t d[2];

	if (fd >= 0) {
		uint64_t one = 1;

		assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
		assert_true(event_loop_run_once(&f->loop, 0) >= 1);
		return;
	}
	put(d, q, 2);
	assert_true(bus_write(&f->mmio, a, d, 2));
}

static void msix_control(struct fx *f, uint16_t v)
{
	cfg_write(f, f->msix_cap + PCI_MSIX_FLAGS, 2, v);
}

/* Program and unmask MSI-X vector v with a valid local-APIC message. */
static void msix_vector(struct fx *f, unsigned v, uint32_t data)
{
	uint64_t e = VIRTIO_PCI_MSIX_TABLE + v * 16ULL;

	bar_write(f, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4, 0xfee00000);
	bar_write(f, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0);
	bar_write(f, e + PCI_MSIX_ENTRY_DATA, 4, data);
	bar_write(f, e + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
}

/* How many times MSI-X vector v was sent since the last call. */
static uint64_t fired(struct fx *f, unsigned v)
{
	uint64_t n = 0;
	ssize_t r = read(msix_vector_eventfd(&f->vp.msix, v), &n, sizeof(n));

	return r == (ssize_t)sizeof(n) ? n : 0;
}

/* Set up queue q on f->ring[q] with vector vec, as setup_vq() does. */
static void setup_queue(struct fx *f, unsigned q, uint16_t vec)
{
	struct fake_ring *r = &f->ring[q];

	common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	common_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, r->size);
	common_write64(f, VIRTIO_PCI_COMMON_Q_DESCLO, r->desc);
	common_write64(f, VIRTIO_PCI_COMMON_Q_AVAILLO, r->avail);
	common_write64(f, VIRTIO_PCI_COMMON_Q_USEDLO, r->used);
	common_write(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, vec);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), vec);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_NOFF, 2), q);
}

/* Negotiate features: reset, ACKNOWLEDGE, DRIVER, features in halves, FEATURES_OK. */
static void negotiate(struct fx *f, uint64_t want)
{
	uint64_t offered;
	uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;

	set_status(f, 0);
	assert_int_equal(status(f), 0);
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE);
	set_status(f, st);
	common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	offered = common_read(f, VIRTIO_PCI_COMMON_DF, 4);
	common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	offered |= common_read(f, VIRTIO_PCI_COMMON_DF, 4) << 32;
	assert_true((offered & want) == want);
	common_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	common_write(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)want);
	common_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	common_write(f, VIRTIO_PCI_COMMON_GF, 4, (uint32_t)(want >> 32));
	set_status(f, st | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(status(f), st | VIRTIO_STATUS_FEATURES_OK);
}

#define ST_ALL                                                                                     \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |            \
	 VIRTIO_STATUS_DRIVER_OK)

/*
 * The whole of Linux's bring-up: probe, features, MSI-X (when msix) with
 * vector 0 for configuration changes and 1 + q for queue q, queues,
 * enable them all, DRIVER_OK.
 */
static void bring_up(struct fx *f, bool msix)
{
	int activated = f->d.activated;

	probe(f);
	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(5));
	if (msix) {
		msix_control(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
		for (unsigned v = 0; v < NVEC; v++)
			msix_vector(f, v, 0x4020 + v);
		msix_control(f, PCI_MSIX_FLAGS_ENABLE);
		common_write(f, VIRTIO_PCI_COMMON_MSIX, 2, 0);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_MSIX, 2), 0);
	}
	for (unsigned q = 0; q < NQUEUES; q++)
		setup_queue(f, q, msix ? (uint16_t)(1 + q) : VIRTIO_PCI_NO_VECTOR);
	for (unsigned q = 0; q < NQUEUES; q++) {
		common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	}
	set_status(f, ST_ALL);
	assert_int_equal(status(f), ST_ALL);
	assert_int_equal(f->d.activated, activated + 1);
}

/* Put one 64-byte writable buffer on queue q's ring. */
static void offer_buffer(struct fx *f, unsigned q)
{
	struct fake_ring *r = &f->ring[q];
	uint16_t head = r->avail_idx % r->size;

	fr_desc(r, head, 0x20000 + 0x100 * head, 64, VRING_DESC_F_WRITE, 0);
	fr_publish(r, head);
}

static bool intx_asserted(struct fx *f)
{
	return f->intx.level == 1 && f->intx.gsi == pci_slot_gsi((unsigned)f->slot, 0);
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_identity(void **state)
{
	struct fx *f = *state;
	uint32_t lo;

	assert_int_equal(cfg_read(f, PCI_VENDOR_ID, 2), VIRTIO_PCI_VENDOR_ID);
	assert_int_equal(cfg_read(f, PCI_DEVICE_ID, 2), 0x1041);
	assert_int_equal(cfg_read(f, PCI_REVISION_ID, 1), 1);
	assert_int_equal(cfg_read(f, PCI_CLASS_REVISION, 4) >> 8, 0x020000);
	assert_int_equal(cfg_read(f, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_true(cfg_read(f, PCI_SUBSYSTEM_ID, 2) >= 0x40);
	assert_int_equal(cfg_read(f, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	assert_int_equal(cfg_read(f, PCI_INTERRUPT_PIN, 1), 1);
	assert_ptr_equal(virtio_pci_of(&f->dev), &f->vp);
	/* No I/O BAR, nothing legacy: BAR 0-3 are empty. */
	for (unsigned b = 0; b < 4; b++) {
		cfg_write(f, PCI_BASE_ADDRESS_0 + 4 * b, 4, 0xffffffff);
		assert_int_equal(cfg_read(f, PCI_BASE_ADDRESS_0 + 4 * b, 4), 0);
	}
	/* BAR 4 is 64-bit memory of VIRTIO_PCI_BAR_SIZE: size it as firmware does. */
	lo = cfg_read(f, PCI_BASE_ADDRESS_4, 4);
	assert_int_equal(lo & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64);
	cfg_write(f, PCI_BASE_ADDRESS_4, 4, 0xffffffff);
	cfg_write(f, PCI_BASE_ADDRESS_5, 4, 0xffffffff);
	assert_int_equal(cfg_read(f, PCI_BASE_ADDRESS_4, 4),
			 (uint32_t) ~(VIRTIO_PCI_BAR_SIZE - 1) | 4);
	assert_int_equal(cfg_read(f, PCI_BASE_ADDRESS_5, 4), 0xffffffff);
	cfg_write(f, PCI_BASE_ADDRESS_4, 4, 0);
	cfg_write(f, PCI_BASE_ADDRESS_5, 4, 0);
	/* Other device types get their classes. */
	assert_int_equal(virtio_pci_class(VIRTIO_ID_BLOCK), 0x010000);
	assert_int_equal(virtio_pci_class(VIRTIO_ID_CONSOLE), 0x078000);
	assert_int_equal(virtio_pci_class(VIRTIO_ID_RNG), 0xff0000);
}

static void test_capabilities(void **state)
{
	struct fx *f = *state;
	unsigned c;

	probe(f);
	for (unsigned t = 1; t <= 4; t++) {
		c = f->cap_off[t];
		assert_int_equal(cfg_read(f, c + VIRTIO_PCI_CAP_BAR, 1), VIRTIO_PCI_BAR);
		assert_int_equal(cfg_read(f, c + 2, 1),
				 t == VIRTIO_PCI_CAP_NOTIFY_CFG ? 20 : 16); /* cap_len */
		/* Each structure lies inside the BAR. */
		assert_true(f->off[t] + f->len[t] <= VIRTIO_PCI_BAR_SIZE);
	}
	assert_true(f->len[VIRTIO_PCI_CAP_COMMON_CFG] >= 0x38);
	assert_true(f->len[VIRTIO_PCI_CAP_ISR_CFG] >= 1);
	assert_int_equal(f->len[VIRTIO_PCI_CAP_DEVICE_CFG], 8);
	assert_int_equal(f->mult, 4);
	/* One notify address per queue, all inside the notify structure. */
	assert_true(f->len[VIRTIO_PCI_CAP_NOTIFY_CFG] >= (NQUEUES - 1) * f->mult + 2);
	assert_int_not_equal(notify_addr(f, 0), notify_addr(f, 1));
	/* PCI_CFG: 20 bytes; bar, offset, length and data writable, the type not. */
	c = f->cap_off[VIRTIO_PCI_CAP_PCI_CFG];
	assert_int_equal(cfg_read(f, c + 2, 1), 20);
	cfg_write(f, c + VIRTIO_PCI_CAP_CFG_TYPE, 1, 1);
	assert_int_equal(cfg_read(f, c + VIRTIO_PCI_CAP_CFG_TYPE, 1), VIRTIO_PCI_CAP_PCI_CFG);
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, 0x1234);
	assert_int_equal(cfg_read(f, c + VIRTIO_PCI_CAP_OFFSET, 4), 0x1234);
	/* MSI-X: num_queues + 1 vectors, table and PBA in the same BAR. */
	assert_int_equal(cfg_read(f, f->msix_cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE,
			 NVEC - 1);
	assert_int_equal(cfg_read(f, f->msix_cap + PCI_MSIX_TABLE, 4),
			 VIRTIO_PCI_MSIX_TABLE | VIRTIO_PCI_BAR);
	assert_int_equal(cfg_read(f, f->msix_cap + PCI_MSIX_PBA, 4),
			 VIRTIO_PCI_MSIX_PBA | VIRTIO_PCI_BAR);
	/* Reset values of the common structure. */
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_NUMQ, 2), NQUEUES);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_PCI_NO_VECTOR);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_PCI_NO_VECTOR);
	assert_int_equal(status(f), 0);
	/* Device config reads through its structure at any width. */
	assert_int_equal(bar_read(f, f->off[VIRTIO_PCI_CAP_DEVICE_CFG], 4), 0x44332211);
	assert_int_equal(bar_read(f, f->off[VIRTIO_PCI_CAP_DEVICE_CFG] + 6, 1), 0x77);
	assert_int_equal(bar_read(f, f->off[VIRTIO_PCI_CAP_DEVICE_CFG], 8), 0x8877665544332211ULL);
	bar_write(f, f->off[VIRTIO_PCI_CAP_DEVICE_CFG] + 2, 2, 0xabcd);
	assert_memory_equal(f->d.written + 2, "\xcd\xab", 2);
}

static void test_features(void **state)
{
	struct fx *f = *state;
	uint64_t all = dummy_ops.features | VIRTIO_TRANSPORT_FEATURES;

	probe(f);
	common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_DF, 4), (uint32_t)all);
	common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_DF, 4), (uint32_t)(all >> 32));
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_DFSELECT, 4), 1);
	common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 7);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_DF, 4), 0);

	/* Without VERSION_1 FEATURES_OK does not stick. */
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	common_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	common_write(f, VIRTIO_PCI_COMMON_GF, 4, VIRTIO_BIT(5));
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_false(status(f) & VIRTIO_STATUS_FEATURES_OK);

	/* Features in halves, read back per half. */
	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(41) | VIRTIO_BIT(5));
	common_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_GF, 4), VIRTIO_BIT(5));
	common_write(f, VIRTIO_PCI_COMMON_GFSELECT, 4, 1);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_GF, 4), VIRTIO_BIT(0) | VIRTIO_BIT(9));
	assert_int_equal(f->dev.features,
			 VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(41) | VIRTIO_BIT(5));

	/* Features written after FEATURES_OK are ignored, the device keeps running. */
	common_write(f, VIRTIO_PCI_COMMON_GF, 4, 0xffffffff);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_GF, 4), VIRTIO_BIT(0) | VIRTIO_BIT(9));
	assert_int_equal(f->dev.features,
			 VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(41) | VIRTIO_BIT(5));
	assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* Linux's bring-up with MSI-X; kicks by ioeventfd and by MMIO exit; vectors fire. */
static void test_msix_bring_up(void **state)
{
	struct fx *f = *state;
	const struct msix_vector *v1 = &f->vp.msix.vec[1];
	bool found;

	bring_up(f, true);
	/* The ioeventfds sit at the notify addresses of the mapped BAR. */
	assert_int_equal(ioev_bound(&f->ioev), NQUEUES);
	for (unsigned q = 0; q < NQUEUES; q++)
		assert_true(ioev_fd_at(&f->ioev, notify_addr(f, q)) >= 0);

	/* A buffer on queue 0, kicked through the ioeventfd: used, vector 1 fires. */
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(f->d.notified[0], 1);
	assert_int_equal(fr_used_idx(&f->ring[0]), 1);
	assert_int_equal(fr_used_elem(&f->ring[0], 0).len, 4);
	assert_int_equal(fired(f, 1), 1);
	assert_int_equal(fired(f, 0), 0);
	assert_int_equal(fired(f, 2), 0);
	assert_int_equal(f->vp.exit_kicks, 0);
	/* KVM got the vector's message as an MSI route with the eventfd bound to it. */
	assert_true(v1->irqfd && v1->routed);
	found = false;
	for (int i = 0; i < f->kvm.nirqfd; i++)
		found |= f->kvm.irqfds[i].gsi == (uint32_t)v1->gsi &&
			 f->kvm.irqfds[i].fd == (uint32_t)v1->efd;
	assert_true(found);
	assert_false(f->intx.raises);

	/* A kick that exits to hearth (no ioeventfd there) works the same. */
	offer_buffer(f, 1);
	bar_write(f, notify_addr(f, 1) - f->bar, 2, 1);
	assert_int_equal(f->d.notified[1], 1);
	assert_int_equal(f->vp.exit_kicks, 1);
	assert_int_equal(fr_used_idx(&f->ring[1]), 1);
	assert_int_equal(fired(f, 2), 1);

	/* A configuration change: vector 0, the ISR's config bit, no INTx. */
	virtio_device_lock(&f->dev);
	virtio_config_changed(&f->dev);
	virtio_device_unlock(&f->dev);
	assert_int_equal(fired(f, 0), 1);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_CFGGEN, 1), 1);
	assert_int_equal(bar_read(f, f->off[VIRTIO_PCI_CAP_ISR_CFG], 1), VIRTIO_PCI_ISR_CONFIG);
	assert_false(f->intx.raises);

	/* A masked vector keeps the message pending until it is unmasked. */
	bar_write(f, VIRTIO_PCI_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 1);
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(fired(f, 1), 0);
	assert_true(bar_read(f, VIRTIO_PCI_MSIX_PBA, 8) & 2);
	bar_write(f, VIRTIO_PCI_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	assert_int_equal(fired(f, 1), 1);

	/* A queue without a vector interrupts nobody while MSI-X is on. */
	set_status(f, 0);
	bring_up(f, true);
	common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), 1);
	common_write(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, VIRTIO_PCI_NO_VECTOR);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_PCI_NO_VECTOR);
	fr_init(&f->ring[0], &f->gm, 16, 0x10000, 0x11000, 0x12000);
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(fr_used_idx(&f->ring[0]), 1);
	for (unsigned v = 0; v < NVEC; v++)
		assert_int_equal(fired(f, v), 0);
	assert_false(f->intx.raises);
	assert_int_equal(bar_read(f, f->off[VIRTIO_PCI_CAP_ISR_CFG], 1), 0);
	assert_int_equal(f->dev.errors, 0);
}

/* Without MSI-X: the ISR and INTA, read to clear. */
static void test_intx(void **state)
{
	struct fx *f = *state;
	unsigned isr;

	bring_up(f, false);
	isr = f->off[VIRTIO_PCI_CAP_ISR_CFG];
	assert_false(f->intx.raises);
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(fr_used_idx(&f->ring[0]), 1);
	assert_true(intx_asserted(f));
	assert_true(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(bar_read(f, isr, 1), VIRTIO_PCI_ISR_QUEUE);
	assert_int_equal(f->intx.level, 0);
	assert_false(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	assert_int_equal(bar_read(f, isr, 1), 0); /* cleared by the read */

	/* Configuration change: bit 1. Both causes accumulate until read. */
	virtio_device_lock(&f->dev);
	virtio_config_changed(&f->dev);
	virtio_device_unlock(&f->dev);
	offer_buffer(f, 1);
	kick(f, 1);
	assert_true(intx_asserted(f));
	assert_int_equal(bar_read(f, isr, 1), VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(f->intx.level, 0);

	/* The command register's INTx disable masks the line, not the ISR. */
	cfg_write(f, PCI_COMMAND, 2, cfg_read(f, PCI_COMMAND, 2) | PCI_COMMAND_INTX_DISABLE);
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(f->intx.level, 0);
	cfg_write(f, PCI_COMMAND, 2, cfg_read(f, PCI_COMMAND, 2) & ~PCI_COMMAND_INTX_DISABLE);
	assert_true(intx_asserted(f));

	/* Enabling MSI-X silences INTx. */
	msix_control(f, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(f->intx.level, 0);
	assert_int_equal(bar_read(f, isr, 1), VIRTIO_PCI_ISR_QUEUE);
	for (unsigned v = 0; v < NVEC; v++)
		assert_int_equal(fired(f, v), 0);
}

/* A device reset: the device, the queues and the transport's registers; MSI-X table kept. */
static void test_reset(void **state)
{
	struct fx *f = *state;
	int resets;

	bring_up(f, true);
	offer_buffer(f, 0);
	kick(f, 0);
	virtio_device_lock(&f->dev);
	virtio_config_changed(&f->dev);
	virtio_device_unlock(&f->dev);
	common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);

	resets = f->d.resets;
	set_status(f, 0);
	assert_int_equal(status(f), 0);
	assert_int_equal(f->d.resets, resets + 1);
	assert_false(f->dev.active);
	assert_int_equal(f->dev.features, 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SELECT, 2), 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_DFSELECT, 4), 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_PCI_NO_VECTOR);
	for (unsigned q = 0; q < NQUEUES; q++) {
		common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_PCI_NO_VECTOR);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0);
	}
	assert_int_equal(bar_read(f, f->off[VIRTIO_PCI_CAP_ISR_CFG], 1), 0);
	/* MSI-X is PCI state: still enabled, messages kept. */
	assert_true(msix_enabled(&f->vp.msix));
	assert_int_equal(bar_read(f, VIRTIO_PCI_MSIX_TABLE + 16 + PCI_MSIX_ENTRY_DATA, 4), 0x4021);
	/* Kicks after the reset do nothing; the ioeventfds stay bound. */
	fired(f, 1);
	kick(f, 0);
	assert_int_equal(f->d.notified[0], 1);
	assert_int_equal(fired(f, 1), 0);
	assert_int_equal(ioev_bound(&f->ioev), NQUEUES);

	/* A second bring-up works. */
	fr_init(&f->ring[0], &f->gm, 16, 0x10000, 0x11000, 0x12000);
	fr_init(&f->ring[1], &f->gm, 8, 0x14000, 0x15000, 0x16000);
	bring_up(f, true);
	assert_int_equal(f->d.activated, 2);
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(fr_used_idx(&f->ring[0]), 1);
	assert_int_equal(fired(f, 1), 1);
}

/* The ioeventfds follow the BAR as the guest turns decoding off, moves it, turns it on. */
static void test_bar_moves(void **state)
{
	struct fx *f = *state;
	uint16_t cmd;
	uint64_t old, moved = LAYOUT_MMIO32_START + 0x100000;
	uint8_t d[2] = {0, 0};

	/* Nothing is bound before the BAR has an address. */
	assert_int_equal(ioev_bound(&f->ioev), 0);
	bring_up(f, true);
	old = f->bar;
	assert_int_equal(ioev_bound(&f->ioev), NQUEUES);

	cmd = (uint16_t)cfg_read(f, PCI_COMMAND, 2);
	cfg_write(f, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
	assert_int_equal(ioev_bound(&f->ioev), 0);
	assert_false(bus_write(&f->mmio, old + VIRTIO_PCI_NOTIFY_OFF, d, 2));

	/* The 64-bit BAR moves into the 32-bit window, as a kernel may do. */
	cfg_write(f, PCI_BASE_ADDRESS_4, 4, (uint32_t)moved);
	cfg_write(f, PCI_BASE_ADDRESS_5, 4, 0);
	assert_int_equal(ioev_bound(&f->ioev), 0); /* still not decoding */
	cfg_write(f, PCI_COMMAND, 2, cmd);
	f->bar = moved;
	assert_int_equal(ioev_bound(&f->ioev), NQUEUES);
	for (unsigned q = 0; q < NQUEUES; q++) {
		assert_true(ioev_fd_at(&f->ioev, moved + VIRTIO_PCI_NOTIFY_OFF + 4 * q) >= 0);
		assert_int_equal(ioev_fd_at(&f->ioev, old + VIRTIO_PCI_NOTIFY_OFF + 4 * q), -1);
	}
	/* The device works at its new place. */
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(f->d.notified[0], 1);
	assert_int_equal(fired(f, 1), 1);

	/* Moving it while decoding: unbound at the old place, bound at the new. */
	cfg_write(f, PCI_BASE_ADDRESS_4, 4, (uint32_t)(moved + VIRTIO_PCI_BAR_SIZE));
	f->bar = moved + VIRTIO_PCI_BAR_SIZE;
	assert_int_equal(ioev_bound(&f->ioev), NQUEUES);
	assert_true(ioev_fd_at(&f->ioev, f->bar + VIRTIO_PCI_NOTIFY_OFF) >= 0);
	assert_int_equal(ioev_fd_at(&f->ioev, moved + VIRTIO_PCI_NOTIFY_OFF), -1);

	/* A placement the host refuses (over RAM) maps nothing and binds nothing. */
	cfg_write(f, PCI_BASE_ADDRESS_4, 4, 0x10000);
	assert_int_equal(ioev_bound(&f->ioev), 0);
	assert_false(pci_device_bar_mapped(&f->vp.pci, VIRTIO_PCI_BAR, NULL));
	assert_int_equal(f->d.activated, 1);
}

/* KVM refuses the ioeventfds: kicks still arrive, as MMIO writes. */
static void test_ioeventfd_refused(void **state)
{
	struct fx *f = *state;

	f->ioev.fail = -ENOSPC;
	bring_up(f, true);
	assert_int_equal(ioev_bound(&f->ioev), 0);
	offer_buffer(f, 0);
	kick(f, 0);
	offer_buffer(f, 1);
	kick(f, 1);
	assert_int_equal(f->d.notified[0], 1);
	assert_int_equal(f->d.notified[1], 1);
	assert_int_equal(f->vp.exit_kicks, 2);
	assert_int_equal(fired(f, 1), 1);
	assert_int_equal(fired(f, 2), 1);
}

/* The PCI_CFG capability reaches the BAR from configuration space. */
static void test_pci_cfg_window(void **state)
{
	struct fx *f = *state;
	unsigned c, data;
	uint64_t errors;

	probe(f);
	c = f->cap_off[VIRTIO_PCI_CAP_PCI_CFG];
	data = c + VIRTIO_PCI_CFG_CAP_DATA;

	/* num_queues through the window (2 bytes). */
	cfg_write(f, c + VIRTIO_PCI_CAP_BAR, 1, VIRTIO_PCI_BAR);
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4,
		  f->off[VIRTIO_PCI_CAP_COMMON_CFG] + VIRTIO_PCI_COMMON_NUMQ);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 2);
	assert_int_equal(cfg_read(f, data, 2), NQUEUES);

	/* A status write through it (1 byte). */
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4,
		  f->off[VIRTIO_PCI_CAP_COMMON_CFG] + VIRTIO_PCI_COMMON_STATUS);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 1);
	cfg_write(f, data, 1, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(cfg_read(f, data, 1), VIRTIO_STATUS_ACKNOWLEDGE);

	/* The device config (4 bytes) and the MSI-X table behind it. */
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, f->off[VIRTIO_PCI_CAP_DEVICE_CFG] + 4);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 4);
	assert_int_equal(cfg_read(f, data, 4), 0x88776655);
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, VIRTIO_PCI_MSIX_TABLE + PCI_MSIX_ENTRY_DATA);
	cfg_write(f, data, 4, 0x4077);
	assert_int_equal(bar_read(f, VIRTIO_PCI_MSIX_TABLE + PCI_MSIX_ENTRY_DATA, 4), 0x4077);

	/* Windows naming nothing valid do nothing. */
	errors = f->dev.errors;
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4,
		  f->off[VIRTIO_PCI_CAP_COMMON_CFG] + VIRTIO_PCI_COMMON_STATUS);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 1);
	cfg_write(f, c + VIRTIO_PCI_CAP_BAR, 1, 0); /* another BAR */
	cfg_write(f, data, 1, 0);
	assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
	cfg_write(f, c + VIRTIO_PCI_CAP_BAR, 1, 9); /* no such BAR */
	cfg_write(f, data, 1, 0);
	cfg_write(f, c + VIRTIO_PCI_CAP_BAR, 1, VIRTIO_PCI_BAR);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 3); /* bad length */
	cfg_write(f, data, 1, 0);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 8);
	cfg_write(f, data, 4, 0);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 4); /* unaligned offset */
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, f->off[VIRTIO_PCI_CAP_DEVICE_CFG] + 2);
	cfg_write(f, data, 4, 0xffffffff);
	assert_memory_equal(f->d.written, "\0\0\0\0\0\0\0\0", 8);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 4); /* beyond the BAR */
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, VIRTIO_PCI_BAR_SIZE);
	cfg_write(f, data, 4, 0);
	cfg_read(f, data, 4);
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, 0xfffffffc);
	cfg_write(f, data, 4, 0);
	cfg_read(f, data, 4);
	assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(f->dev.errors, errors + 7);
	/* Reading the whole capability (lspci) with the window at rest touches nothing. */
	cfg_write(f, c + VIRTIO_PCI_CAP_BAR, 1, 0);
	for (unsigned i = 0; i < VIRTIO_PCI_CFG_CAP_LEN; i += 4)
		cfg_read(f, c + i, 4);
	assert_int_equal(f->dev.errors, errors + 7);

	/* A kick through the window, after bring-up. */
	bring_up(f, true);
	offer_buffer(f, 1);
	cfg_write(f, c + VIRTIO_PCI_CAP_BAR, 1, VIRTIO_PCI_BAR);
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, f->off[VIRTIO_PCI_CAP_NOTIFY_CFG] + 1 * f->mult);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 2);
	cfg_write(f, data, 2, 1);
	assert_int_equal(f->d.notified[1], 1);
	assert_int_equal(fired(f, 2), 1);
	/* And the ISR, read to clear through it. */
	virtio_device_lock(&f->dev);
	virtio_config_changed(&f->dev);
	virtio_device_unlock(&f->dev);
	cfg_write(f, c + VIRTIO_PCI_CAP_OFFSET, 4, f->off[VIRTIO_PCI_CAP_ISR_CFG]);
	cfg_write(f, c + VIRTIO_PCI_CAP_LENGTH, 4, 1);
	assert_int_equal(cfg_read(f, data, 1), VIRTIO_PCI_ISR_CONFIG);
	assert_int_equal(bar_read(f, f->off[VIRTIO_PCI_CAP_ISR_CFG], 1), 0);
}

/* queue_select beyond num_queues: reads 0, writes ignored. */
static void test_hostile_queue_select(void **state)
{
	struct fx *f = *state;
	static const unsigned sel[] = {NQUEUES, 63, 64, 0x7fff, 0xffff};

	probe(f);
	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	for (unsigned i = 0; i < sizeof(sel) / sizeof(sel[0]); i++) {
		common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, sel[i]);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SELECT, 2), sel[i]);
		common_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 8);
		common_write(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, 1);
		common_write64(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x1000);
		common_write(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x1000);
		common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 0);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), 0);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_NOFF, 2), 0);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_USEDHI, 4), 0);
	}
	/* The real queues were not touched. */
	for (unsigned q = 0; q < NQUEUES; q++) {
		assert_int_equal(f->dev.vqs[q].size, QMAX);
		assert_int_equal(f->dev.vqs[q].desc_gpa, 0);
		assert_false(f->dev.vqs[q].ready);
	}
	assert_int_equal(status(f), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
					VIRTIO_STATUS_FEATURES_OK);
}

/* Accesses at the wrong width or place, writes to read-only registers. */
static void test_hostile_accesses(void **state)
{
	struct fx *f = *state;
	uint64_t errors;
	unsigned common, isr, dcfg, notify;

	probe(f);
	common = f->off[VIRTIO_PCI_CAP_COMMON_CFG];
	isr = f->off[VIRTIO_PCI_CAP_ISR_CFG];
	dcfg = f->off[VIRTIO_PCI_CAP_DEVICE_CFG];
	notify = f->off[VIRTIO_PCI_CAP_NOTIFY_CFG];
	errors = f->dev.errors;

	/* Odd sizes and misaligned accesses read 0 and write nothing. */
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_DF, 1), 0);
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_DF, 2), 0);
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_DFSELECT, 8), 0);
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_NUMQ, 4), 0);
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_STATUS, 4), 0);
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_Q_DESCLO + 2, 4), 0);
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_Q_DESCHI, 8), 0);
	assert_int_equal(bar_read(f, common + VIRTIO_PCI_COMMON_Q_SIZE + 1, 1), 0);
	bar_write(f, common + VIRTIO_PCI_COMMON_STATUS, 2, VIRTIO_STATUS_ACKNOWLEDGE);
	bar_write(f, common + VIRTIO_PCI_COMMON_STATUS, 4, VIRTIO_STATUS_ACKNOWLEDGE);
	bar_write(f, common + VIRTIO_PCI_COMMON_Q_SELECT, 4, 1);
	bar_write(f, common + VIRTIO_PCI_COMMON_Q_SIZE, 1, 8);
	bar_write(f, common + VIRTIO_PCI_COMMON_DFSELECT, 2, 1);
	assert_int_equal(status(f), 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SELECT, 2), 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_DFSELECT, 4), 0);
	assert_int_equal(f->dev.vqs[0].size, QMAX);

	/* Read-only registers. */
	common_write(f, VIRTIO_PCI_COMMON_NUMQ, 2, 9);
	common_write(f, VIRTIO_PCI_COMMON_DF, 4, 0);
	common_write(f, VIRTIO_PCI_COMMON_CFGGEN, 1, 9);
	common_write(f, VIRTIO_PCI_COMMON_Q_NOFF, 2, 9);
	common_write(f, VIRTIO_PCI_COMMON_Q_NDATA, 2, 9);
	common_write(f, VIRTIO_PCI_COMMON_Q_RESET, 2, 1);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_NUMQ, 2), NQUEUES);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_NOFF, 2), 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_RESET, 2), 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_ADM_Q_NUM, 2), 0);

	/* Holes of the BAR, the ISR beyond its byte, config beyond its end. */
	assert_int_equal(bar_read(f, common + 0x100, 4), 0);
	assert_int_equal(bar_read(f, isr + 1, 1), 0);
	assert_int_equal(bar_read(f, dcfg + 8, 4), 0);
	assert_int_equal(bar_read(f, dcfg + 6, 4), 0);
	assert_int_equal(bar_read(f, 0x6000, 8), 0);
	assert_int_equal(bar_read(f, VIRTIO_PCI_BAR_SIZE - 8, 8), 0);
	bar_write(f, 0x6000, 4, 1);
	bar_write(f, isr, 1, 1);
	bar_write(f, dcfg + 7, 2, 0xffff);
	bar_write(f, notify + NQUEUES * 4, 2, 0); /* no such queue */
	assert_int_equal(f->vp.exit_kicks, 0);
	bar_write(f, VIRTIO_PCI_MSIX_PBA, 8, ~0ULL); /* read-only (the msix module's) */
	assert_int_equal(bar_read(f, VIRTIO_PCI_MSIX_PBA, 8), 0);
	assert_memory_equal(f->d.written, "\0\0\0\0\0\0\0\0", 8);
	assert_true(f->dev.errors > errors);

	/* Kicks before DRIVER_OK reach nobody. */
	kick(f, 0);
	assert_int_equal(f->d.notified[0], 0);
	assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* queue_size, queue_enable, vectors and ring addresses checked. */
static void test_hostile_queue_setup(void **state)
{
	struct fx *f = *state;
	static const uint16_t bad_sizes[] = {0, 3, 48, 2 * QMAX, 0xffff};

	probe(f);
	negotiate(f, VIRTIO_BIT(VIRTIO_F_VERSION_1));
	common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	for (unsigned i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		common_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, bad_sizes[i]);
		assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), QMAX);
	}
	common_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 1);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 1);
	common_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 16);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 16);

	/* Vectors the table does not have read back as NO_VECTOR. */
	common_write(f, VIRTIO_PCI_COMMON_Q_MSIX, 2, NVEC);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_MSIX, 2), VIRTIO_PCI_NO_VECTOR);
	common_write(f, VIRTIO_PCI_COMMON_MSIX, 2, 0x7ff);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_MSIX, 2), VIRTIO_PCI_NO_VECTOR);
	common_write(f, VIRTIO_PCI_COMMON_MSIX, 2, NVEC - 1);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_MSIX, 2), NVEC - 1);

	/* 64-bit addresses: halves and whole, read back both ways. */
	common_write64(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x123456789abcdef0ULL);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x123456789abcdef0ULL);
	common_write(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4, 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_DESCLO, 4), 0x9abcdef0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_DESCHI, 4), 0);

	/* queue_enable = 0 or 2: ignored. */
	common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 2);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_false(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);

	/* Rings outside RAM: enabling breaks the device (NEEDS_RESET), nothing else. */
	common_write(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8, 0x1000000000ULL);
	common_write(f, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, 0x11000);
	common_write(f, VIRTIO_PCI_COMMON_Q_USEDLO, 8, RAM_SIZE - 8);
	common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 0);
	assert_true(status(f) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_true(f->dev.broken);
	/* DRIVER_OK on a broken device does not start it. */
	set_status(f, ST_ALL);
	assert_int_equal(f->d.activated, 0);
	kick(f, 0);
	assert_int_equal(f->d.notified[0], 0);

	/* A reset recovers; a proper bring-up works. */
	fr_init(&f->ring[0], &f->gm, 16, 0x10000, 0x11000, 0x12000);
	bring_up(f, true);
	assert_false(f->dev.broken);

	/* Enabled queues keep their size and addresses. */
	common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 0);
	common_write(f, VIRTIO_PCI_COMMON_Q_SIZE, 2, 8);
	common_write64(f, VIRTIO_PCI_COMMON_Q_DESCLO, 0x40000);
	common_write(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 0);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_SIZE, 2), 16);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_DESCLO, 8), 0x10000);
	assert_int_equal(common_read(f, VIRTIO_PCI_COMMON_Q_ENABLE, 2), 1);
	/* Status bits cleared without a reset: ignored. */
	set_status(f, VIRTIO_STATUS_ACKNOWLEDGE);
	assert_int_equal(status(f), ST_ALL);
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(fr_used_idx(&f->ring[0]), 1);
	assert_int_equal(fired(f, 1), 1);
}

/* A device the transport cannot carry, and a full host. */
static void test_init_errors(void **state)
{
	struct fx *f = *state;
	static struct virtio_device_ops big;
	struct virtio_device dev;
	struct virtio_pci *vp = calloc(1, sizeof(*vp));
	struct virtio_pci *many = calloc(PCI_MAX_SLOTS, sizeof(*many));
	int n = 0, r;

	assert_non_null(vp);
	assert_non_null(many);
	big = dummy_ops;
	big.config_size = VIRTIO_PCI_DEVICE_MAX + 1;
	assert_int_equal(virtio_device_init(&dev, &big, &f->d, &f->gm, &f->loop), 0);
	assert_int_equal(virtio_pci_init(vp, &dev, &f->h, &f->rt, fake_ioeventfd, &f->ioev),
			 -EINVAL);
	virtio_pci_destroy(vp);
	virtio_device_destroy(&dev);

	/* Fill the host: slots 2..31, then -ENOSPC with nothing left behind. */
	assert_int_equal(virtio_device_init(&dev, &dummy_ops, &f->d, &f->gm, &f->loop), 0);
	for (;;) {
		r = virtio_pci_init(&many[n], &dev, &f->h, &f->rt, NULL, NULL);
		if (r < 0)
			break;
		assert_int_equal(r, n + 2);
		n++;
	}
	assert_int_equal(r, -ENOSPC);
	assert_int_equal(n, PCI_MAX_SLOTS - 2);
	assert_null(dev.transport);
	assert_null(virtio_pci_of(&dev));
	for (int i = 0; i < n; i++)
		virtio_pci_destroy(&many[i]);
	virtio_device_destroy(&dev);
	free(many);
	free(vp);
}

/* Save f's device (core and transport) into core/ps, as a snapshot does. */
static void save_device(struct fx *f, struct virtio_state *core, struct virtio_pci_state *ps)
{
	virtio_device_lock(&f->dev);
	virtio_device_save(&f->dev, core);
	virtio_device_unlock(&f->dev);
	assert_int_equal(virtio_pci_save(&f->vp, ps), 0);
}

/*
 * A snapshot round trip of the transport: the function's config space
 * (a BAR the guest moved, the command register, MSI-X enabled), the MSI-X
 * table with a masked vector and its pending bit, the common-config
 * registers; restored into a second, fresh function whose guest memory
 * is a copy of the first's. It then holds the same state, its MSI routes
 * and irqfds exist again and it keeps working.
 */
static void test_snapshot_round_trip(void **state)
{
	struct fx *f = *state, *g;
	void *gstate = NULL;
	struct virtio_state *core = calloc(1, sizeof(*core));
	struct virtio_pci_state *ps = calloc(1, sizeof(*ps)), *after = calloc(1, sizeof(*after));
	uint64_t moved = LAYOUT_MMIO32_START + 0x200000, addr = 0;
	struct kvm_irq_routing_entry e;
	uint16_t cmd;

	assert_non_null(core);
	assert_non_null(ps);
	assert_non_null(after);
	bring_up(f, true);
	/* The guest moves the BAR, as a kernel may. */
	cmd = (uint16_t)cfg_read(f, PCI_COMMAND, 2);
	cfg_write(f, PCI_COMMAND, 2, cmd & ~PCI_COMMAND_MEMORY);
	cfg_write(f, PCI_BASE_ADDRESS_4, 4, (uint32_t)moved);
	cfg_write(f, PCI_BASE_ADDRESS_5, 4, 0);
	cfg_write(f, PCI_COMMAND, 2, cmd | PCI_COMMAND_MASTER);
	f->bar = moved;
	offer_buffer(f, 0);
	kick(f, 0);
	assert_int_equal(fired(f, 1), 1);
	/* Vector 2 masked with a notification pending; odd register values. */
	bar_write(f, VIRTIO_PCI_MSIX_TABLE + 2 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 1);
	offer_buffer(f, 1);
	kick(f, 1);
	assert_int_equal(fired(f, 2), 0);
	assert_true(msix_pending(&f->vp.msix, 2));
	common_write(f, VIRTIO_PCI_COMMON_Q_SELECT, 2, 1);
	common_write(f, VIRTIO_PCI_COMMON_DFSELECT, 4, 1);
	save_device(f, core, ps);
	assert_int_equal(ps->queue_select, 1);
	assert_int_equal(ps->queue_vector[0], 1);
	assert_int_equal(ps->config_vector, 0);

	/* A fresh function, given resources as at VM creation, over a copy of the memory. */
	assert_int_equal(setup(&gstate), 0);
	g = gstate;
	assert_int_equal(pci_host_assign_resources(&g->h), 0);
	memcpy(g->gm.regions[0].hva, f->gm.regions[0].hva, RAM_SIZE);
	for (unsigned q = 0; q < NQUEUES; q++) {
		g->ring[q] = f->ring[q];
		g->ring[q].gm = &g->gm;
	}
	memcpy(g->off, f->off, sizeof(g->off));
	memcpy(g->cap_off, f->cap_off, sizeof(g->cap_off));
	g->mult = f->mult;
	g->msix_cap = f->msix_cap;
	g->bar = moved;

	/* Hostile states are refused and change nothing. */
	ps->queue_vector[1] = NVEC;
	assert_int_equal(virtio_pci_load(&g->vp, ps), -EINVAL);
	ps->queue_vector[1] = 2;
	ps->msix.nvec = NVEC + 1;
	assert_int_equal(virtio_pci_load(&g->vp, ps), -EINVAL);
	ps->msix.nvec = NVEC;
	ps->msix.pba[0] |= 1ULL << NVEC;
	assert_int_equal(virtio_pci_load(&g->vp, ps), -EINVAL);
	ps->msix.pba[0] &= ~(1ULL << NVEC);
	assert_int_equal(irq_routing_count(&g->rt), 38);
	assert_false(msix_enabled(&g->vp.msix));

	virtio_device_lock(&g->dev);
	assert_int_equal(virtio_device_load(&g->dev, core), 0);
	virtio_device_unlock(&g->dev);
	assert_int_equal(virtio_pci_load(&g->vp, ps), 0);
	virtio_device_lock(&g->dev);
	if (g->dev.active)
		assert_int_equal(g->dev.ops->activate(&g->dev), 0);
	virtio_device_unlock(&g->dev);

	/* The same state, saved again. */
	{
		struct virtio_state *core2 = calloc(1, sizeof(*core2));

		assert_non_null(core2);
		save_device(g, core2, after);
		assert_memory_equal(core2, core, sizeof(*core));
		assert_memory_equal(after, ps, sizeof(*ps));
		free(core2);
	}
	/* The BAR is mapped where the guest had put it; the ioeventfds follow it. */
	assert_true(pci_device_bar_mapped(&g->vp.pci, VIRTIO_PCI_BAR, &addr));
	assert_int_equal(addr, moved);
	for (unsigned q = 0; q < NQUEUES; q++)
		assert_true(ioev_fd_at(&g->ioev, moved + VIRTIO_PCI_NOTIFY_OFF + 4 * q) >= 0);
	assert_int_equal(ioev_bound(&g->ioev), NQUEUES);
	/* MSI-X is on; the unmasked vectors have their MSI routes and irqfds again. */
	assert_true(msix_enabled(&g->vp.msix));
	for (unsigned v = 0; v < NVEC; v++) {
		const struct msix_vector *mv = &g->vp.msix.vec[v];
		bool bound = false;

		if (v == 2) {
			assert_false(mv->routed);
			continue;
		}
		assert_true(mv->routed && mv->irqfd);
		assert_true(
		    irq_routing_lookup(&g->rt, (uint32_t)mv->gsi, KVM_IRQ_ROUTING_MSI, 0, &e));
		assert_int_equal(e.u.msi.address_lo, 0xfee00000);
		assert_int_equal(e.u.msi.data, 0x4020 + v);
		for (int i = 0; i < g->kvm.nirqfd; i++)
			bound |= g->kvm.irqfds[i].gsi == (uint32_t)mv->gsi &&
				 g->kvm.irqfds[i].fd == (uint32_t)mv->efd &&
				 !(g->kvm.irqfds[i].flags & KVM_IRQFD_FLAG_DEASSIGN);
		assert_true(bound);
	}
	/* It keeps working: the pending vector fires on unmask, queue 0 on a kick. */
	assert_true(msix_pending(&g->vp.msix, 2));
	bar_write(g, VIRTIO_PCI_MSIX_TABLE + 2 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	assert_int_equal(fired(g, 2), 1);
	assert_false(msix_pending(&g->vp.msix, 2));
	offer_buffer(g, 0);
	kick(g, 0);
	assert_int_equal(fr_used_idx(&g->ring[0]), 2);
	assert_int_equal(fired(g, 1), 1);
	assert_int_equal(common_read(g, VIRTIO_PCI_COMMON_Q_SELECT, 2), 0); /* kick() selects */
	assert_int_equal(status(g), ST_ALL);
	assert_false(g->intx.raises);
	assert_int_equal(g->dev.errors, 0);

	teardown(&gstate);
	free(core);
	free(ps);
	free(after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_capabilities, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_features, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_msix_bring_up, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_intx, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_bar_moves, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ioeventfd_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_queue_select, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_accesses, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hostile_queue_setup, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_init_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_snapshot_round_trip, setup, teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
