/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for MSI-X (src/devices/pci/msix.c): the capability, table
 * and PBA reached through a real PCI host and buses, with a fake KVM behind
 * irq_routing that records routes and irqfds.
 */
#include <errno.h>
#include <pthread.h>
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
#include "core/irq_routing.h"
#include "core/log.h"
#include "devices/pci/msix.h"
#include "devices/pci/pci.h"

#define NVEC	  70 /* more than 64: the PBA has two qwords */
#define TABLE_OFF 0x0
#define PBA_OFF	  0x2000
#define BAR_SIZE  0x4000

/* ---- fake KVM ----------------------------------------------------------------------- */

struct fake_kvm {
	struct kvm_irq_routing *table;
	int pushes;
	struct kvm_irqfd irqfds[256];
	int nirqfd;
	struct kvm_msi msis[16];
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

	assert_true(k->nirqfd < 256);
	k->irqfds[k->nirqfd++] = *req;
	return 0;
}

static int fake_signal_msi(void *opaque, const struct kvm_msi *msi)
{
	struct fake_kvm *k = opaque;

	assert_true(k->nmsi < 16);
	k->msis[k->nmsi++] = *msi;
	return 1;
}

static const struct irq_routing_ops fake_ops = {fake_set_routing, fake_irqfd, fake_signal_msi};

/* The MSI route KVM holds for gsi; the test fails without one. */
static const struct kvm_irq_routing_entry *kvm_route(const struct fake_kvm *k, int gsi)
{
	static const struct kvm_irq_routing_entry none;

	for (uint32_t i = 0; i < k->table->nr; i++) {
		if (k->table->entries[i].gsi == (uint32_t)gsi &&
		    k->table->entries[i].type == KVM_IRQ_ROUTING_MSI)
			return &k->table->entries[i];
	}
	fail_msg("GSI %d has no MSI route in the table KVM got", gsi);
	return &none;
}

/* ---- a device with MSI-X in BAR 0 ------------------------------------------------------- */

struct tdev {
	struct pci_device pci;
	struct msix msix;
	int other_reads, other_writes;
};

static void tdev_read(void *opaque, uint64_t off, uint8_t *data, uint32_t len)
{
	struct tdev *t = opaque;

	if (msix_bar_read(&t->msix, 0, off, data, len))
		return;
	t->other_reads++;
	memset(data, 0x77, len);
}

static void tdev_write(void *opaque, uint64_t off, const uint8_t *data, uint32_t len)
{
	struct tdev *t = opaque;

	if (msix_bar_write(&t->msix, 0, off, data, len))
		return;
	t->other_writes++;
}

static const struct bus_device_ops tdev_ops = {"msix-dev", tdev_read, tdev_write};

struct fx {
	struct fake_kvm kvm;
	struct irq_routing rt;
	struct bus pio, mmio;
	struct machine_layout l;
	struct pci_host h;
	struct tdev dev;
	uint64_t bar;
	unsigned cap;
};

static int fx_setup_gsis(void **state, uint32_t nr_gsis)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[128];

	assert_non_null(f);
	assert_int_equal(irq_routing_init(&f->rt, &fake_ops, &f->kvm, nr_gsis), 0);
	bus_init(&f->pio, "pio");
	bus_init(&f->mmio, "mmio");
	assert_int_equal(layout_compute(&f->l, 256ULL << 20, 1, 40, err, sizeof(err)), 0);
	assert_int_equal(pci_host_init(&f->h, &f->pio, &f->mmio, &f->l, (struct irq_line){0}, NULL),
			 0);
	pci_device_init(&f->dev.pci, "msix-dev", 0x1af4, 0x1041, 0xff0000, 0, NULL, &f->dev);
	assert_int_equal(
	    pci_device_set_bar(&f->dev.pci, 0, PCI_BAR_MEM32, BAR_SIZE, false, &tdev_ops, &f->dev),
	    0);
	assert_int_equal(
	    msix_init(&f->dev.msix, &f->dev.pci, &f->rt, NVEC, 0, TABLE_OFF, 0, PBA_OFF), 0);
	f->cap = f->dev.msix.cap;
	assert_int_equal(pci_add_device(&f->h, &f->dev.pci), 1);
	assert_int_equal(pci_host_assign_resources(&f->h), 0);
	f->bar = pci_device_bar_address(&f->dev.pci, 0);
	assert_true(pci_device_bar_mapped(&f->dev.pci, 0, NULL));
	*state = f;
	return 0;
}

static int fx_setup(void **state)
{
	return fx_setup_gsis(state, 1024);
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	pci_host_destroy(&f->h);
	msix_destroy(&f->dev.msix);
	assert_int_equal(irq_routing_count(&f->rt), 38); /* every MSI route gone */
	irq_routing_destroy(&f->rt);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
	free(f->kvm.table);
	free(f);
	return 0;
}

/* ---- access helpers ------------------------------------------------------------------ */

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

static uint64_t cfg_read(struct fx *f, unsigned reg, unsigned len)
{
	uint8_t d[4];

	assert_true(bus_read(&f->mmio, LAYOUT_ECAM_BASE + (1u << 15) + reg, d, len));
	return get(d, len);
}

static void cfg_write(struct fx *f, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t d[4];

	put(d, v, len);
	assert_true(bus_write(&f->mmio, LAYOUT_ECAM_BASE + (1u << 15) + reg, d, len));
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

static void set_control(struct fx *f, uint16_t ctl)
{
	cfg_write(f, f->cap + PCI_MSIX_FLAGS, 2, ctl);
}

/* Program vector v's message with dword writes, as Linux does. */
static void program(struct fx *f, unsigned v, uint64_t addr, uint32_t data)
{
	uint64_t e = TABLE_OFF + (uint64_t)v * 16;

	bar_write(f, e + PCI_MSIX_ENTRY_LOWER_ADDR, 4, (uint32_t)addr);
	bar_write(f, e + PCI_MSIX_ENTRY_UPPER_ADDR, 4, (uint32_t)(addr >> 32));
	bar_write(f, e + PCI_MSIX_ENTRY_DATA, 4, data);
}

static void set_vector_mask(struct fx *f, unsigned v, bool masked)
{
	bar_write(f, TABLE_OFF + (uint64_t)v * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, masked);
}

/* How many times the vector's eventfd was written since the last call. */
static uint64_t fired(struct fx *f, unsigned v)
{
	uint64_t n = 0;
	ssize_t r = read(msix_vector_eventfd(&f->dev.msix, v), &n, sizeof(n));

	return r == (ssize_t)sizeof(n) ? n : 0;
}

static bool pba_bit(struct fx *f, unsigned v)
{
	return (bar_read(f, PBA_OFF + v / 64 * 8, 8) >> (v % 64)) & 1;
}

/* ---- tests --------------------------------------------------------------------------- */

static void test_capability(void **state)
{
	struct fx *f = *state;
	unsigned cap = f->cap;

	assert_true(cfg_read(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(cfg_read(f, PCI_CAPABILITY_LIST, 1), cap);
	assert_int_equal(cfg_read(f, cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(cfg_read(f, cap + 1, 1), 0);
	assert_int_equal(cfg_read(f, cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	assert_int_equal(cfg_read(f, cap + PCI_MSIX_TABLE, 4), TABLE_OFF | 0);
	assert_int_equal(cfg_read(f, cap + PCI_MSIX_PBA, 4), PBA_OFF | 0);
	/* Enable and function mask are writable; the table size and offsets are not. */
	set_control(f, 0xffff);
	assert_int_equal(cfg_read(f, cap + PCI_MSIX_FLAGS, 2), 0xc000 | (NVEC - 1));
	assert_true(msix_enabled(&f->dev.msix));
	cfg_write(f, cap + PCI_MSIX_TABLE, 4, 0xfffffff0);
	assert_int_equal(cfg_read(f, cap + PCI_MSIX_TABLE, 4), TABLE_OFF);
	set_control(f, 0);
	assert_false(msix_enabled(&f->dev.msix));
	/* A dword write covering the capability header reaches Message Control too. */
	cfg_write(f, cap, 4, 0x80000000);
	assert_true(msix_enabled(&f->dev.msix));
}

static void test_table_reset_state(void **state)
{
	struct fx *f = *state;

	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(bar_read(f, v * 16 + 0, 4), 0);
		assert_int_equal(bar_read(f, v * 16 + 8, 4), 0);
		assert_int_equal(bar_read(f, v * 16 + 12, 4), 1);
		assert_true(msix_vector_masked(&f->dev.msix, v));
	}
	/* Reserved vector-control bits read 0. */
	bar_write(f, 12, 4, 0xfffffffe);
	assert_int_equal(bar_read(f, 12, 4), 0);
	bar_write(f, 12, 4, 0xffffffff);
	assert_int_equal(bar_read(f, 12, 4), 1);
	/* Qword accesses. */
	bar_write(f, 16, 8, 0x00000000fee01000ULL);
	assert_int_equal(bar_read(f, 16, 8), 0xfee01000ULL);
	bar_write(f, 24, 8, 0x0000000100004021ULL);
	assert_int_equal(bar_read(f, 24, 8), 0x0000000100004021ULL);
	/* Byte access to a data byte. */
	bar_write(f, 25, 1, 0x45);
	assert_int_equal(bar_read(f, 24, 4), 0x4521);
	/* PBA is read-only; the rest of the BAR belongs to the device. */
	bar_write(f, PBA_OFF, 8, ~0ULL);
	assert_int_equal(bar_read(f, PBA_OFF, 8), 0);
	assert_int_equal(bar_read(f, PBA_OFF + 8, 8), 0);
	assert_int_equal(f->dev.other_writes, 0);
	assert_int_equal(bar_read(f, 0x1000, 4), 0x77777777);
	bar_write(f, 0x1000, 4, 1);
	assert_int_equal(f->dev.other_reads, 1);
	assert_int_equal(f->dev.other_writes, 1);
	/* Nothing was routed: all vectors masked, MSI-X off. */
	assert_int_equal(f->kvm.pushes, 1);
	assert_int_equal(f->kvm.nirqfd, 0);
}

static void test_route_and_notify(void **state)
{
	struct fx *f = *state;
	struct msix_vector *v3 = &f->dev.msix.vec[3];
	const struct kvm_irq_routing_entry *e;
	int pushes;

	/* Linux: enable with the function masked, program, unmask the function. */
	set_control(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	program(f, 3, 0xfee01000, 0x4023);
	set_vector_mask(f, 3, false);
	assert_int_equal(f->kvm.pushes, 1); /* still masked by the function mask */
	assert_int_equal(msix_notify(&f->dev.msix, 3), 1);
	assert_true(pba_bit(f, 3));
	assert_int_equal(fired(f, 3), 0);

	set_control(f, PCI_MSIX_FLAGS_ENABLE);
	/* Routed: a GSI above the IOAPIC's, its MSI route, the eventfd bound. */
	assert_true(v3->gsi >= IRQ_ROUTING_MSI_BASE);
	e = kvm_route(&f->kvm, v3->gsi);
	assert_int_equal(e->u.msi.address_lo, 0xfee01000);
	assert_int_equal(e->u.msi.address_hi, 0);
	assert_int_equal(e->u.msi.data, 0x4023);
	assert_int_equal(f->kvm.nirqfd, 1);
	assert_int_equal(f->kvm.irqfds[0].fd, msix_vector_eventfd(&f->dev.msix, 3));
	assert_int_equal(f->kvm.irqfds[0].gsi, v3->gsi);
	assert_int_equal(f->kvm.irqfds[0].flags, 0);
	/* The pending message went out on unmask; the bit is clear. */
	assert_false(pba_bit(f, 3));
	assert_int_equal(fired(f, 3), 1);

	/* Unmasked: notify writes the eventfd. */
	assert_int_equal(msix_notify(&f->dev.msix, 3), 0);
	assert_int_equal(msix_notify(&f->dev.msix, 3), 0);
	assert_int_equal(fired(f, 3), 2);
	assert_int_equal(fired(f, 4), 0);

	/* The message changed while live: the route follows, no new irqfd. */
	pushes = f->kvm.pushes;
	bar_write(f, 3 * 16 + PCI_MSIX_ENTRY_DATA, 4, 0x4031);
	assert_int_equal(f->kvm.pushes, pushes + 1);
	assert_int_equal(kvm_route(&f->kvm, v3->gsi)->u.msi.data, 0x4031);
	assert_int_equal(f->kvm.nirqfd, 1);

	/* Masked: pending instead; changing the message pushes nothing. */
	set_vector_mask(f, 3, true);
	assert_int_equal(msix_notify(&f->dev.msix, 3), 1);
	assert_true(msix_pending(&f->dev.msix, 3));
	assert_int_equal(fired(f, 3), 0);
	pushes = f->kvm.pushes;
	program(f, 3, 0xfee02000, 0x4041);
	assert_int_equal(f->kvm.pushes, pushes);
	/* Unmasked: the route is updated first, then the message goes out. */
	set_vector_mask(f, 3, false);
	assert_int_equal(f->kvm.pushes, pushes + 1);
	e = kvm_route(&f->kvm, v3->gsi);
	assert_int_equal(e->u.msi.address_lo, 0xfee02000);
	assert_int_equal(e->u.msi.data, 0x4041);
	assert_false(msix_pending(&f->dev.msix, 3));
	assert_int_equal(fired(f, 3), 1);
	/* Unmasking with nothing pending sends nothing. */
	set_vector_mask(f, 3, true);
	set_vector_mask(f, 3, false);
	assert_int_equal(fired(f, 3), 0);

	/* Disabled: the device must use INTx. The PBA keeps nothing. */
	set_control(f, 0);
	assert_int_equal(msix_notify(&f->dev.msix, 3), -ENODEV);
	assert_false(msix_pending(&f->dev.msix, 3));
	assert_int_equal(msix_notify(&f->dev.msix, NVEC), -EINVAL);
	assert_int_equal(msix_vector_eventfd(&f->dev.msix, NVEC), -EINVAL);
}

/* Vectors above 64 use the PBA's second qword; several vectors get distinct GSIs. */
static void test_many_vectors(void **state)
{
	struct fx *f = *state;

	set_control(f, PCI_MSIX_FLAGS_ENABLE);
	for (unsigned v = 0; v < NVEC; v++)
		program(f, v, 0xfee00000, 0x4000 + v);
	for (unsigned v = 0; v < NVEC; v++)
		assert_int_equal(msix_notify(&f->dev.msix, v), 1);
	assert_int_equal(bar_read(f, PBA_OFF, 8), ~0ULL);
	assert_int_equal(bar_read(f, PBA_OFF + 8, 8), (1ULL << (NVEC - 64)) - 1);
	/* Unmask 65 only. */
	set_vector_mask(f, 65, false);
	assert_false(pba_bit(f, 65));
	assert_true(pba_bit(f, 64));
	assert_int_equal(fired(f, 65), 1);
	for (unsigned v = 0; v < NVEC; v++)
		set_vector_mask(f, v, false);
	assert_int_equal(bar_read(f, PBA_OFF, 8), 0);
	assert_int_equal(bar_read(f, PBA_OFF + 8, 8), 0);
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(fired(f, v), v == 65 ? 0 : 1);
		for (unsigned w = 0; w < v; w++)
			assert_int_not_equal(f->dev.msix.vec[v].gsi, f->dev.msix.vec[w].gsi);
		assert_int_equal(kvm_route(&f->kvm, f->dev.msix.vec[v].gsi)->u.msi.data,
				 0x4000 + v);
	}
	assert_int_equal(irq_routing_count(&f->rt), 38 + NVEC);
}

/* A message KVM would refuse is never routed; its notifications are dropped. */
static void test_bad_message(void **state)
{
	struct fx *f = *state;
	uint64_t errors = log_guest_error_count();
	int pushes = f->kvm.pushes;

	set_control(f, PCI_MSIX_FLAGS_ENABLE);
	program(f, 0, 0xdead0000, 0x4021);
	set_vector_mask(f, 0, false);
	assert_int_equal(f->kvm.pushes, pushes);
	assert_int_equal(f->kvm.nirqfd, 0);
	assert_int_equal(log_guest_error_count(), errors + 1);
	assert_int_equal(msix_notify(&f->dev.msix, 0), 0);
	assert_int_equal(fired(f, 0), 0);
	assert_int_equal(f->kvm.nmsi, 0);
	assert_int_equal(f->dev.msix.dropped, 1);
	/* An upper address half KVM would refuse too. */
	bar_write(f, PCI_MSIX_ENTRY_UPPER_ADDR, 4, 1);
	bar_write(f, PCI_MSIX_ENTRY_LOWER_ADDR, 4, 0xfee00000);
	assert_int_equal(f->kvm.pushes, pushes);
	assert_int_equal(log_guest_error_count(), errors + 1); /* once until fixed */
	/* Fixed: routed, delivered. */
	bar_write(f, PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0);
	assert_int_equal(f->kvm.pushes, pushes + 1);
	assert_int_equal(msix_notify(&f->dev.msix, 0), 0);
	assert_int_equal(fired(f, 0), 1);
	/* Broken again while live: the stale route is not used. */
	bar_write(f, PCI_MSIX_ENTRY_LOWER_ADDR, 4, 0x12340000);
	assert_int_equal(msix_notify(&f->dev.msix, 0), 0);
	assert_int_equal(fired(f, 0), 0);
	assert_int_equal(f->dev.msix.dropped, 2);
}

static void test_reset(void **state)
{
	struct fx *f = *state;

	set_control(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	program(f, 1, 0xfee00000, 0x4022);
	set_vector_mask(f, 1, false);
	assert_int_equal(msix_notify(&f->dev.msix, 1), 1);
	msix_reset(&f->dev.msix);
	assert_false(msix_enabled(&f->dev.msix));
	assert_int_equal(cfg_read(f, f->cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	assert_false(msix_pending(&f->dev.msix, 1));
	assert_true(msix_vector_masked(&f->dev.msix, 1));
	assert_int_equal(bar_read(f, 16, 4), 0);
	assert_int_equal(bar_read(f, 16 + 12, 4), 1);
	assert_int_equal(msix_notify(&f->dev.msix, 1), -ENODEV);
}

/* Every bound eventfd is unbound and every GSI released on destroy (teardown checks the table). */
static void test_destroy(void **state)
{
	struct fx *f = *state;
	int n;

	set_control(f, PCI_MSIX_FLAGS_ENABLE);
	for (unsigned v = 0; v < 3; v++) {
		program(f, v, 0xfee00000, 0x4000 + v);
		set_vector_mask(f, v, false);
	}
	assert_int_equal(f->kvm.nirqfd, 3);
	assert_int_equal(irq_routing_count(&f->rt), 41);
	n = f->kvm.nirqfd;
	pci_remove_device(&f->h, &f->dev.pci);
	msix_destroy(&f->dev.msix);
	assert_int_equal(f->kvm.nirqfd, n + 3);
	for (int i = n; i < n + 3; i++)
		assert_int_equal(f->kvm.irqfds[i].flags, KVM_IRQFD_FLAG_DEASSIGN);
	assert_null(f->dev.pci.msix);
	msix_destroy(&f->dev.msix); /* twice is harmless */
}

/* With no GSI left, a vector still works through KVM_SIGNAL_MSI. */
static void test_no_gsi_left(void **state)
{
	struct fx *f;

	fx_setup_gsis(state, 39); /* 38 PC entries + one MSI GSI */
	f = *state;
	set_control(f, PCI_MSIX_FLAGS_ENABLE);
	program(f, 0, 0xfee00000, 0x4030);
	program(f, 1, 0xfee01000, 0x4031);
	set_vector_mask(f, 0, false);
	set_vector_mask(f, 1, false);
	assert_true(f->dev.msix.vec[0].gsi >= 24);
	assert_int_equal(f->dev.msix.vec[1].gsi, -1);
	assert_int_equal(msix_notify(&f->dev.msix, 0), 0);
	assert_int_equal(fired(f, 0), 1);
	assert_int_equal(msix_notify(&f->dev.msix, 1), 0);
	assert_int_equal(fired(f, 1), 0);
	assert_int_equal(f->kvm.nmsi, 1);
	assert_int_equal(f->kvm.msis[0].address_lo, 0xfee01000);
	assert_int_equal(f->kvm.msis[0].data, 0x4031);
	/* A pending message takes the same path on unmask. */
	set_vector_mask(f, 1, true);
	assert_int_equal(msix_notify(&f->dev.msix, 1), 1);
	set_vector_mask(f, 1, false);
	assert_int_equal(f->kvm.nmsi, 2);
	fx_teardown(state);
	*state = NULL;
}

static void test_init_errors(void **state)
{
	struct fake_kvm k = {0};
	struct irq_routing rt;
	struct pci_device d;
	struct msix m, m2;
	struct tdev t;

	(void)state;
	assert_int_equal(irq_routing_init(&rt, &fake_ops, &k, 0), 0);
	pci_device_init(&d, "d", 1, 2, 0, 0, NULL, NULL);
	assert_int_equal(pci_device_set_bar(&d, 0, PCI_BAR_MEM32, 4096, false, &tdev_ops, &t), 0);
	assert_int_equal(pci_device_set_bar(&d, 1, PCI_BAR_IO, 64, false, &tdev_ops, &t), 0);
	assert_int_equal(msix_init(&m, &d, &rt, 0, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(&m, &d, &rt, 2049, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(&m, &d, NULL, 4, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(&m, &d, &rt, 4, 0, 4, 0, 0x800), -EINVAL);	/* unaligned */
	assert_int_equal(msix_init(&m, &d, &rt, 4, 1, 0, 0, 0x800), -EINVAL);	/* I/O BAR */
	assert_int_equal(msix_init(&m, &d, &rt, 4, 2, 0, 0, 0x800), -EINVAL);	/* no BAR */
	assert_int_equal(msix_init(&m, &d, &rt, 4, 0, 0, 0, 0x20), -EINVAL);	/* overlap */
	assert_int_equal(msix_init(&m, &d, &rt, 4, 0, 0, 0, 0x1000), -EINVAL);	/* PBA outside */
	assert_int_equal(msix_init(&m, &d, &rt, 257, 0, 0, 0, 0xff8), -EINVAL); /* table outside */
	assert_int_equal(msix_init(&m, &d, &rt, 4, 0, 0, 0, 0xff8), 0);
	assert_int_equal(msix_init(&m2, &d, &rt, 4, 0, 0, 0, 0xff8), -EINVAL); /* already has one */
	msix_destroy(&m);
	irq_routing_destroy(&rt);
	free(k.table);
}

/* Threads notifying while the guest masks and unmasks: nothing is lost or stuck. */
struct notifier_arg {
	struct msix *m;
	int count;
	int sent, pended;
};

static void *notifier(void *opaque)
{
	struct notifier_arg *a = opaque;

	for (int i = 0; i < a->count; i++) {
		int r = msix_notify(a->m, 2);

		if (r == 0)
			a->sent++;
		else if (r == 1)
			a->pended++;
	}
	return NULL;
}

static void test_concurrent_notify(void **state)
{
	struct fx *f = *state;
	struct notifier_arg a[2] = {{&f->dev.msix, 20000, 0, 0}, {&f->dev.msix, 20000, 0, 0}};
	pthread_t th[2];
	uint64_t got = 0;

	set_control(f, PCI_MSIX_FLAGS_ENABLE);
	program(f, 2, 0xfee00000, 0x4022);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, notifier, &a[i]), 0);
	for (int i = 0; i < 2000; i++) {
		set_vector_mask(f, 2, i % 2 == 0 ? false : true);
		got += fired(f, 2);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	set_vector_mask(f, 2, false);
	got += fired(f, 2);
	assert_int_equal(a[0].sent + a[0].pended + a[1].sent + a[1].pended, 40000);
	/* Every direct send reached the eventfd; pended ones collapse into one per unmask. */
	assert_true(got >= (uint64_t)(a[0].sent + a[1].sent));
	assert_true(got <= (uint64_t)(a[0].sent + a[1].sent + a[0].pended + a[1].pended));
	assert_false(msix_pending(&f->dev.msix, 2));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_capability, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_table_reset_state, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_route_and_notify, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_many_vectors, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_message, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_reset, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_destroy, fx_setup, fx_teardown),
	    cmocka_unit_test(test_no_gsi_left),
	    cmocka_unit_test(test_init_errors),
	    cmocka_unit_test_setup_teardown(test_concurrent_notify, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
