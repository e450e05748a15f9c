/* SPDX-License-Identifier: MIT */
/* Unit tests for the KVM GSI routing table (src/core/irq_routing.c), with a fake KVM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "arch/x86/layout.h"
#include "core/irq_routing.h"

/* What the fake KVM was told. */
struct fake_kvm {
	struct kvm_irq_routing *table; /* copy of the last table pushed */
	int pushes;
	int fail_push; /* return this from the next push, once */
	struct kvm_irqfd irqfds[16];
	int nirqfd;
	struct kvm_msi msis[16];
	int nmsi;
};

static int fake_set_routing(void *opaque, const struct kvm_irq_routing *t)
{
	struct fake_kvm *k = opaque;
	size_t bytes = sizeof(*t) + t->nr * sizeof(t->entries[0]);

	if (k->fail_push) {
		int r = k->fail_push;

		k->fail_push = 0;
		return r;
	}
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

	assert_true(k->nirqfd < 16);
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

static const struct irq_routing_ops fake_ops = {
    .set_routing = fake_set_routing,
    .irqfd = fake_irqfd,
    .signal_msi = fake_signal_msi,
};

/*
 * The table the VMM set before this module existed (vm_setup_gsi_routing
 * in src/vmm/vm.c), written out the same way: the initial table must be
 * exactly this, entry for entry.
 */
static unsigned legacy_table(struct kvm_irq_routing_entry *e)
{
	unsigned n = 0;

	for (uint32_t gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
		e[n].u.irqchip.pin = gsi % 8;
		n++;
	}
	for (uint32_t gsi = 0; gsi < LAYOUT_IOAPIC_PINS; gsi++) {
		if (gsi == 2)
			continue;
		memset(&e[n], 0, sizeof(e[n]));
		e[n].gsi = gsi;
		e[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		e[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e[n].u.irqchip.pin = gsi == 0 ? 2 : gsi;
		n++;
	}
	return n;
}

static const struct kvm_irq_routing_entry *find_pushed(const struct fake_kvm *k, uint32_t gsi,
						       uint32_t type)
{
	for (uint32_t i = 0; i < k->table->nr; i++) {
		if (k->table->entries[i].gsi == gsi && k->table->entries[i].type == type)
			return &k->table->entries[i];
	}
	return NULL;
}

/* The entry, which must exist (a zeroed one after failing, so callers need no check). */
static const struct kvm_irq_routing_entry *must_find(const struct fake_kvm *k, uint32_t gsi)
{
	static const struct kvm_irq_routing_entry none;
	const struct kvm_irq_routing_entry *e = find_pushed(k, gsi, KVM_IRQ_ROUTING_MSI);

	if (!e) {
		fail_msg("GSI %u has no MSI route in the table KVM got", gsi);
		return &none;
	}
	return e;
}

static unsigned count_pushed(const struct fake_kvm *k, uint32_t gsi)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < k->table->nr; i++)
		n += k->table->entries[i].gsi == gsi;
	return n;
}

static void test_initial_table(void **state)
{
	struct kvm_irq_routing_entry want[64];
	struct fake_kvm k = {0};
	struct irq_routing r;
	struct kvm_irq_routing_entry e;
	unsigned n;

	(void)state;
	n = legacy_table(want);
	assert_int_equal(n, 38);
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 4096), 0);
	assert_int_equal(k.pushes, 1);
	assert_int_equal(k.table->nr, n);
	assert_int_equal(k.table->flags, 0);
	assert_memory_equal(k.table->entries, want, n * sizeof(want[0]));
	assert_int_equal(irq_routing_count(&r), n);

	/* Spot checks of the PC wiring. */
	assert_true(irq_routing_lookup(&r, 0, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_IOAPIC, &e));
	assert_int_equal(e.u.irqchip.pin, 2); /* the PIT reaches IOAPIC pin 2 */
	assert_false(irq_routing_lookup(&r, 2, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_IOAPIC, &e));
	assert_false(
	    irq_routing_lookup(&r, 2, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_PIC_MASTER, &e));
	assert_true(irq_routing_lookup(&r, 9, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_PIC_SLAVE, &e));
	assert_int_equal(e.u.irqchip.pin, 1);
	assert_true(irq_routing_lookup(&r, 19, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_IOAPIC, &e));
	assert_int_equal(e.u.irqchip.pin, 19);
	assert_false(
	    irq_routing_lookup(&r, 19, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_PIC_SLAVE, &e));
	assert_false(irq_routing_lookup(&r, 24, KVM_IRQ_ROUTING_IRQCHIP, KVM_IRQCHIP_IOAPIC, &e));
	irq_routing_destroy(&r);
	free(k.table);
}

static void test_init_errors(void **state)
{
	struct irq_routing_ops no_irqfd = {.set_routing = fake_set_routing};
	struct fake_kvm k = {0};
	struct irq_routing r;

	(void)state;
	assert_int_equal(irq_routing_init(&r, NULL, &k, 0), -EINVAL);
	assert_int_equal(irq_routing_init(&r, &no_irqfd, &k, 0), -EINVAL);
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 24), -EINVAL);
	assert_int_equal(k.pushes, 0);
	k.fail_push = -EINVAL;
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 0), -EINVAL);
	assert_int_equal(k.pushes, 0);
	irq_routing_destroy(&r); /* harmless after a failed init */
	/* 0 GSIs means the default. */
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 0), 0);
	assert_int_equal(r.nr_gsis, IRQ_ROUTING_DEFAULT_GSIS);
	irq_routing_destroy(&r);
	free(k.table);
}

static void test_msi_routes(void **state)
{
	struct fake_kvm k = {0};
	struct irq_routing r;
	const struct kvm_irq_routing_entry *e;
	struct kvm_irq_routing_entry got;
	int g1, g2;

	(void)state;
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 1024), 0);
	g1 = irq_routing_msi_alloc(&r);
	g2 = irq_routing_msi_alloc(&r);
	assert_int_equal(g1, IRQ_ROUTING_MSI_BASE);
	assert_int_equal(g2, IRQ_ROUTING_MSI_BASE + 1);
	assert_int_equal(k.pushes, 1); /* allocating pushes nothing */
	assert_null(find_pushed(&k, (uint32_t)g1, KVM_IRQ_ROUTING_MSI));

	/* Added. */
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g1, 0xfee01000, 0x4041), 0);
	assert_int_equal(k.pushes, 2);
	assert_int_equal(k.table->nr, 39);
	e = must_find(&k, (uint32_t)g1);
	assert_int_equal(e->u.msi.address_lo, 0xfee01000);
	assert_int_equal(e->u.msi.address_hi, 0);
	assert_int_equal(e->u.msi.data, 0x4041);
	assert_true(irq_routing_lookup(&r, (uint32_t)g1, KVM_IRQ_ROUTING_MSI, 0, &got));

	/* Unchanged: no push. Updated: one push, still one entry. */
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g1, 0xfee01000, 0x4041), 0);
	assert_int_equal(k.pushes, 2);
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g1, 0xfee02000, 0x4052), 0);
	assert_int_equal(k.pushes, 3);
	assert_int_equal(count_pushed(&k, (uint32_t)g1), 1);
	e = must_find(&k, (uint32_t)g1);
	assert_int_equal(e->u.msi.address_lo, 0xfee02000);
	assert_int_equal(e->u.msi.data, 0x4052);

	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g2, 0xfee00000, 0x30), 0);
	assert_int_equal(k.table->nr, 40);

	/* Removed. */
	assert_int_equal(irq_routing_msi_clear(&r, (uint32_t)g1), 0);
	assert_int_equal(k.pushes, 5);
	assert_int_equal(k.table->nr, 39);
	assert_null(find_pushed(&k, (uint32_t)g1, KVM_IRQ_ROUTING_MSI));
	assert_non_null(find_pushed(&k, (uint32_t)g2, KVM_IRQ_ROUTING_MSI));
	assert_int_equal(irq_routing_msi_clear(&r, (uint32_t)g1), 0); /* nothing to clear */
	assert_int_equal(k.pushes, 5);

	/* Freed GSIs are handed out again; their route is gone from the table. */
	irq_routing_msi_free(&r, (uint32_t)g2);
	assert_int_equal(irq_routing_count(&r), 38);
	assert_false(irq_routing_lookup(&r, (uint32_t)g2, KVM_IRQ_ROUTING_MSI, 0, &got));
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g2, 0xfee00000, 0x30), -EINVAL);
	assert_int_equal(irq_routing_msi_alloc(&r), g2);

	/* GSIs that are not allocated MSI GSIs are refused. */
	assert_int_equal(irq_routing_msi_set(&r, 5, 0xfee00000, 0x30), -EINVAL);
	assert_int_equal(irq_routing_msi_set(&r, 500, 0xfee00000, 0x30), -EINVAL);
	assert_int_equal(irq_routing_msi_clear(&r, 9), -EINVAL);
	irq_routing_msi_free(&r, 4); /* ignored */
	assert_int_equal(irq_routing_count(&r), 38);
	irq_routing_destroy(&r);
	free(k.table);
}

/* Messages KVM would refuse never reach it (they would fail the whole table). */
static void test_msi_validation(void **state)
{
	struct fake_kvm k = {0};
	struct irq_routing r;
	int g;

	(void)state;
	assert_true(irq_routing_msi_valid(0xfee00000, 0));
	assert_true(irq_routing_msi_valid(0xfeeff00c, 0xffffffff));
	assert_false(irq_routing_msi_valid(0xfef00000, 0));
	assert_false(irq_routing_msi_valid(0xfed00000, 0));
	assert_false(irq_routing_msi_valid(0, 0));
	assert_false(irq_routing_msi_valid(0x1fee00000ULL, 0));
	assert_false(irq_routing_msi_valid(0xff000000fee00000ULL, 0));

	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 64), 0);
	g = irq_routing_msi_alloc(&r);
	assert_true(g >= 24);
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g, 0x100fee00000ULL, 1), -EINVAL);
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g, 0xdead0000, 1), -EINVAL);
	assert_int_equal(k.pushes, 1);
	assert_int_equal(irq_routing_signal_msi(&r, 0xdead0000, 1), -EINVAL);
	assert_int_equal(k.nmsi, 0);
	irq_routing_destroy(&r);
	free(k.table);
}

/* A push KVM refuses leaves the previous route in place. */
static void test_push_failure(void **state)
{
	struct fake_kvm k = {0};
	struct irq_routing r;
	struct kvm_irq_routing_entry e;
	int g;

	(void)state;
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 64), 0);
	g = irq_routing_msi_alloc(&r);
	k.fail_push = -ENOMEM;
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g, 0xfee00000, 0x21), -ENOMEM);
	assert_false(irq_routing_lookup(&r, (uint32_t)g, KVM_IRQ_ROUTING_MSI, 0, &e));
	assert_int_equal(irq_routing_count(&r), 38);

	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g, 0xfee00000, 0x21), 0);
	k.fail_push = -EFAULT;
	assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g, 0xfee01000, 0x22), -EFAULT);
	assert_true(irq_routing_lookup(&r, (uint32_t)g, KVM_IRQ_ROUTING_MSI, 0, &e));
	assert_int_equal(e.u.msi.address_lo, 0xfee00000);
	assert_int_equal(e.u.msi.data, 0x21);

	k.fail_push = -EFAULT;
	assert_int_equal(irq_routing_msi_clear(&r, (uint32_t)g), -EFAULT);
	assert_true(irq_routing_lookup(&r, (uint32_t)g, KVM_IRQ_ROUTING_MSI, 0, &e));
	assert_int_equal(e.u.msi.data, 0x21);
	assert_int_equal(irq_routing_count(&r), 39);
	irq_routing_destroy(&r);
	free(k.table);
}

/* KVM takes at most nr_gsis entries: the 38 PC entries count. */
static void test_exhaustion(void **state)
{
	struct fake_kvm k = {0};
	struct irq_routing r;
	int g[4];

	(void)state;
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 41), 0);
	g[0] = irq_routing_msi_alloc(&r);
	g[1] = irq_routing_msi_alloc(&r);
	g[2] = irq_routing_msi_alloc(&r);
	assert_int_equal(g[0], 24);
	assert_int_equal(g[1], 25);
	assert_int_equal(g[2], 26);
	assert_int_equal(irq_routing_msi_alloc(&r), -ENOSPC);
	for (int i = 0; i < 3; i++)
		assert_int_equal(irq_routing_msi_set(&r, (uint32_t)g[i], 0xfee00000, (uint32_t)i),
				 0);
	assert_int_equal(k.table->nr, 41);
	for (uint32_t i = 0; i < k.table->nr; i++)
		assert_true(k.table->entries[i].gsi < 41);
	irq_routing_msi_free(&r, (uint32_t)g[1]);
	assert_int_equal(irq_routing_msi_alloc(&r), g[1]);
	irq_routing_destroy(&r);
	free(k.table);
}

static void test_irqfd_and_signal(void **state)
{
	struct fake_kvm k = {0};
	struct irq_routing r;
	struct irq_routing_ops no_signal = fake_ops;

	(void)state;
	assert_int_equal(irq_routing_init(&r, &fake_ops, &k, 64), 0);
	assert_int_equal(irq_routing_irqfd(&r, 17, 30, true), 0);
	assert_int_equal(irq_routing_irqfd(&r, 17, 30, false), 0);
	assert_int_equal(irq_routing_irqfd(&r, -1, 30, true), -EINVAL);
	assert_int_equal(irq_routing_irqfd(&r, 17, 64, true), -EINVAL);
	assert_int_equal(k.nirqfd, 2);
	assert_int_equal(k.irqfds[0].fd, 17);
	assert_int_equal(k.irqfds[0].gsi, 30);
	assert_int_equal(k.irqfds[0].flags, 0);
	assert_int_equal(k.irqfds[1].flags, KVM_IRQFD_FLAG_DEASSIGN);

	assert_int_equal(irq_routing_signal_msi(&r, 0xfee01000, 0x4031), 1);
	assert_int_equal(k.nmsi, 1);
	assert_int_equal(k.msis[0].address_lo, 0xfee01000);
	assert_int_equal(k.msis[0].address_hi, 0);
	assert_int_equal(k.msis[0].data, 0x4031);
	irq_routing_destroy(&r);

	no_signal.signal_msi = NULL;
	assert_int_equal(irq_routing_init(&r, &no_signal, &k, 64), 0);
	assert_int_equal(irq_routing_signal_msi(&r, 0xfee01000, 0x4031), -ENOTSUP);
	irq_routing_destroy(&r);
	free(k.table);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_initial_table),    cmocka_unit_test(test_init_errors),
	    cmocka_unit_test(test_msi_routes),	     cmocka_unit_test(test_msi_validation),
	    cmocka_unit_test(test_push_failure),     cmocka_unit_test(test_exhaustion),
	    cmocka_unit_test(test_irqfd_and_signal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
