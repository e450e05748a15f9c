/* SPDX-License-Identifier: MIT */
/* The KVM GSI routing table (see irq_routing.h). */
#include "core/irq_routing.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "arch/x86/layout.h"
#include "core/kvm.h"

#define MSI_ADDR_BASE 0xfee00000ULL
#define MSI_ADDR_MASK 0xfff00000ULL

/* ---- the KVM back-end ---------------------------------------------------- */

static int kvm_set_routing(void *opaque, const struct kvm_irq_routing *table)
{
	struct kvm *kvm = opaque;

	return ioctl(kvm->vm_fd, KVM_SET_GSI_ROUTING, table) < 0 ? -errno : 0;
}

static int kvm_irqfd(void *opaque, const struct kvm_irqfd *req)
{
	struct kvm *kvm = opaque;

	return ioctl(kvm->vm_fd, KVM_IRQFD, req) < 0 ? -errno : 0;
}

static int kvm_signal_msi(void *opaque, const struct kvm_msi *msi)
{
	struct kvm *kvm = opaque;
	int r = ioctl(kvm->vm_fd, KVM_SIGNAL_MSI, msi);

	return r < 0 ? -errno : r;
}

const struct irq_routing_ops irq_routing_kvm_ops = {
    .set_routing = kvm_set_routing,
    .irqfd = kvm_irqfd,
    .signal_msi = kvm_signal_msi,
};

/* ---- the table ------------------------------------------------------------- */

/* Number of entries of the initial PC table: 15 PIC + 23 IOAPIC (no GSI 2). */
#define PC_ENTRIES ((16 - 1) + (LAYOUT_IOAPIC_PINS - 1))

static void add_irqchip(struct kvm_irq_routing *t, uint32_t gsi, uint32_t chip, uint32_t pin)
{
	struct kvm_irq_routing_entry *e = &t->entries[t->nr++];

	memset(e, 0, sizeof(*e));
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_IRQCHIP;
	e->u.irqchip.irqchip = chip;
	e->u.irqchip.pin = pin;
}

static void build_pc_table(struct kvm_irq_routing *t)
{
	uint32_t gsi;

	t->nr = 0;
	t->flags = 0;
	for (gsi = 0; gsi < 16; gsi++) {
		if (gsi == 2)
			continue; /* the cascade */
		add_irqchip(t, gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
			    gsi % 8);
	}
	for (gsi = 0; gsi < LAYOUT_IOAPIC_PINS; gsi++) {
		if (gsi == 2)
			continue; /* GSI 2 is IRQ 0's pin, reached through GSI 0 */
		add_irqchip(t, gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi);
	}
}

static size_t table_bytes(uint32_t n)
{
	return sizeof(struct kvm_irq_routing) + (size_t)n * sizeof(struct kvm_irq_routing_entry);
}

static bool msi_allocated(const struct irq_routing *r, uint32_t gsi)
{
	return gsi >= IRQ_ROUTING_MSI_BASE && gsi < r->nr_gsis &&
	       (r->msi_used[gsi / 64] >> (gsi % 64)) & 1;
}

/* Index of gsi's MSI entry, or -1. */
static int find_msi(const struct irq_routing *r, uint32_t gsi)
{
	for (uint32_t i = PC_ENTRIES; i < r->table->nr; i++) {
		if (r->table->entries[i].gsi == gsi)
			return (int)i;
	}
	return -1;
}

static int push(struct irq_routing *r)
{
	int ret = r->ops->set_routing(r->opaque, r->table);

	if (ret == 0)
		r->pushes++;
	return ret;
}

int irq_routing_init(struct irq_routing *r, const struct irq_routing_ops *ops, void *opaque,
		     uint32_t nr_gsis)
{
	int ret;

	memset(r, 0, sizeof(*r));
	if (nr_gsis == 0)
		nr_gsis = IRQ_ROUTING_DEFAULT_GSIS;
	if (!ops || !ops->set_routing || !ops->irqfd || nr_gsis <= PC_ENTRIES ||
	    nr_gsis <= IRQ_ROUTING_MSI_BASE)
		return -EINVAL;
	r->ops = ops;
	r->opaque = opaque;
	r->nr_gsis = nr_gsis;
	/* Every GSI has at most one MSI entry, so the table never needs more. */
	r->cap = nr_gsis;
	r->table = calloc(1, table_bytes(r->cap));
	r->msi_used = calloc((nr_gsis + 63) / 64, sizeof(uint64_t));
	if (!r->table || !r->msi_used) {
		ret = -ENOMEM;
		goto free_table;
	}
	build_pc_table(r->table);
	ret = push(r);
	if (ret)
		goto free_table;
	pthread_mutex_init(&r->lock, NULL);
	return 0;

free_table:
	free(r->table);
	free(r->msi_used);
	memset(r, 0, sizeof(*r));
	return ret;
}

void irq_routing_destroy(struct irq_routing *r)
{
	if (!r->table)
		return;
	free(r->table);
	free(r->msi_used);
	pthread_mutex_destroy(&r->lock);
	memset(r, 0, sizeof(*r));
}

int irq_routing_msi_alloc(struct irq_routing *r)
{
	uint32_t used = 0, gsi;
	int ret = -ENOSPC;

	pthread_mutex_lock(&r->lock);
	for (gsi = IRQ_ROUTING_MSI_BASE; gsi < r->nr_gsis; gsi++)
		used += msi_allocated(r, gsi);
	/* KVM takes at most nr_gsis entries in all, the PC ones included. */
	if (PC_ENTRIES + used < r->nr_gsis) {
		for (gsi = IRQ_ROUTING_MSI_BASE; gsi < r->nr_gsis; gsi++) {
			if (!msi_allocated(r, gsi)) {
				r->msi_used[gsi / 64] |= 1ULL << (gsi % 64);
				ret = (int)gsi;
				break;
			}
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void remove_entry(struct irq_routing *r, int idx)
{
	struct kvm_irq_routing *t = r->table;

	memmove(&t->entries[idx], &t->entries[idx + 1],
		(t->nr - (uint32_t)idx - 1) * sizeof(t->entries[0]));
	t->nr--;
}

void irq_routing_msi_free(struct irq_routing *r, uint32_t gsi)
{
	int idx;

	pthread_mutex_lock(&r->lock);
	if (msi_allocated(r, gsi)) {
		idx = find_msi(r, gsi);
		if (idx >= 0)
			remove_entry(r, idx);
		r->msi_used[gsi / 64] &= ~(1ULL << (gsi % 64));
	}
	pthread_mutex_unlock(&r->lock);
}

bool irq_routing_msi_valid(uint64_t addr, uint32_t data)
{
	(void)data; /* KVM takes any data: vector and delivery mode */
	return (addr >> 32) == 0 && (addr & MSI_ADDR_MASK) == MSI_ADDR_BASE;
}

int irq_routing_msi_set(struct irq_routing *r, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct kvm_irq_routing_entry old, *e;
	int idx, ret = 0;
	bool added = false;

	if (!irq_routing_msi_valid(addr, data))
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (!msi_allocated(r, gsi)) {
		ret = -EINVAL;
		goto unlock;
	}
	idx = find_msi(r, gsi);
	if (idx < 0) {
		if (r->table->nr >= r->cap) { /* cannot happen: one entry per GSI */
			ret = -ENOMEM;
			goto unlock;
		}
		idx = (int)r->table->nr++;
		added = true;
		memset(&r->table->entries[idx], 0, sizeof(r->table->entries[idx]));
	}
	e = &r->table->entries[idx];
	if (!added && e->u.msi.address_lo == (uint32_t)addr &&
	    e->u.msi.address_hi == (uint32_t)(addr >> 32) && e->u.msi.data == data)
		goto unlock; /* unchanged: nothing to push */
	old = *e;
	e->gsi = gsi;
	e->type = KVM_IRQ_ROUTING_MSI;
	e->u.msi.address_lo = (uint32_t)addr;
	e->u.msi.address_hi = (uint32_t)(addr >> 32);
	e->u.msi.data = data;
	ret = push(r);
	if (ret) {
		if (added)
			remove_entry(r, idx);
		else
			*e = old;
	}
unlock:
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_routing_msi_clear(struct irq_routing *r, uint32_t gsi)
{
	struct kvm_irq_routing_entry old;
	int idx, ret = 0;

	pthread_mutex_lock(&r->lock);
	if (!msi_allocated(r, gsi)) {
		ret = -EINVAL;
		goto unlock;
	}
	idx = find_msi(r, gsi);
	if (idx < 0)
		goto unlock;
	old = r->table->entries[idx];
	remove_entry(r, idx);
	ret = push(r);
	if (ret) /* put it back where it was */
		r->table->entries[r->table->nr++] = old;
unlock:
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_routing_irqfd(struct irq_routing *r, int fd, uint32_t gsi, bool assign)
{
	struct kvm_irqfd req;
	int ret;

	if (fd < 0 || gsi >= r->nr_gsis)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.fd = (uint32_t)fd;
	req.gsi = gsi;
	req.flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN;
	pthread_mutex_lock(&r->lock);
	ret = r->ops->irqfd(r->opaque, &req);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int irq_routing_signal_msi(struct irq_routing *r, uint64_t addr, uint32_t data)
{
	struct kvm_msi msi;

	if (!irq_routing_msi_valid(addr, data))
		return -EINVAL;
	if (!r->ops->signal_msi)
		return -ENOTSUP;
	memset(&msi, 0, sizeof(msi));
	msi.address_lo = (uint32_t)addr;
	msi.address_hi = (uint32_t)(addr >> 32);
	msi.data = data;
	/* No lock: KVM_SIGNAL_MSI does not touch the table. */
	return r->ops->signal_msi(r->opaque, &msi);
}

bool irq_routing_lookup(struct irq_routing *r, uint32_t gsi, uint32_t type, uint32_t irqchip,
			struct kvm_irq_routing_entry *out)
{
	bool found = false;

	pthread_mutex_lock(&r->lock);
	for (uint32_t i = 0; i < r->table->nr; i++) {
		const struct kvm_irq_routing_entry *e = &r->table->entries[i];

		if (e->gsi != gsi || e->type != type)
			continue;
		if (type == KVM_IRQ_ROUTING_IRQCHIP && e->u.irqchip.irqchip != irqchip)
			continue;
		*out = *e;
		found = true;
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return found;
}

uint32_t irq_routing_count(struct irq_routing *r)
{
	uint32_t n;

	pthread_mutex_lock(&r->lock);
	n = r->table->nr;
	pthread_mutex_unlock(&r->lock);
	return n;
}
