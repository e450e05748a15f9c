/* SPDX-License-Identifier: MIT */
/*
 * The KVM GSI routing table, kept whole in user space and pushed to KVM
 * (KVM_SET_GSI_ROUTING) whenever it changes.
 *
 * The initial table is the PC's interrupt wiring: ISA IRQs 0-15 reach both
 * 8259 PICs and the IOAPIC, except that IRQ 0 (the PIT) arrives at IOAPIC
 * pin 2 (the MADT and MP table say so with an interrupt source override)
 * and pin 2 of the master PIC is the cascade; GSIs 16..LAYOUT_IOAPIC_PINS-1
 * are IOAPIC only (PCI INTx).
 *
 * Message-signalled interrupts (MSI, MSI-X) get GSIs of their own,
 * allocated from LAYOUT_IOAPIC_PINS (24) upwards, each with an MSI route
 * (address/data) that is set, changed and cleared as the guest programs
 * it. An eventfd bound to such a GSI with KVM_IRQFD lets any thread inject
 * the interrupt by writing the eventfd, without a vCPU thread.
 *
 * The ioctls go through struct irq_routing_ops so that unit tests can
 * record them instead of calling KVM. Every function is thread-safe (one
 * mutex); the ops are called with it held.
 */
#ifndef HEARTH_CORE_IRQ_ROUTING_H
#define HEARTH_CORE_IRQ_ROUTING_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kvm;

/* The ioctls irq_routing needs; each returns 0 or -errno. */
struct irq_routing_ops {
	/* KVM_SET_GSI_ROUTING with the whole table. */
	int (*set_routing)(void *opaque, const struct kvm_irq_routing *table);
	/* KVM_IRQFD: bind (or, with KVM_IRQFD_FLAG_DEASSIGN, unbind) an eventfd. */
	int (*irqfd)(void *opaque, const struct kvm_irqfd *req);
	/* KVM_SIGNAL_MSI: inject one message directly (may be NULL). */
	int (*signal_msi)(void *opaque, const struct kvm_msi *msi);
};

/* The real thing: opaque is a struct kvm * whose VM exists. */
extern const struct irq_routing_ops irq_routing_kvm_ops;

/* First GSI handed out for MSI routes (the IOAPIC has pins 0-23). */
#define IRQ_ROUTING_MSI_BASE 24
/* Default number of GSIs when KVM does not say (KVM_CAP_IRQ_ROUTING). */
#define IRQ_ROUTING_DEFAULT_GSIS 1024

struct irq_routing {
	pthread_mutex_t lock;
	const struct irq_routing_ops *ops;
	void *opaque;
	uint32_t nr_gsis; /* GSIs 0..nr_gsis-1 exist */
	struct kvm_irq_routing *table;
	uint32_t cap;	    /* entries table->entries[] has room for */
	uint64_t *msi_used; /* bitmap over GSIs: allocated for MSI */
	uint64_t pushes;    /* successful KVM_SET_GSI_ROUTING calls (for tests) */
};

/*
 * irq_routing_init - build the PC's initial table (see above) for a VM
 * with nr_gsis GSIs (what KVM_CHECK_EXTENSION(KVM_CAP_IRQ_ROUTING) says;
 * 0 means IRQ_ROUTING_DEFAULT_GSIS) and push it with ops->set_routing.
 * Returns 0, -EINVAL (nr_gsis not above 24, ops incomplete), -ENOMEM, or
 * the error of the push (nothing is left allocated then).
 */
int irq_routing_init(struct irq_routing *r, const struct irq_routing_ops *ops, void *opaque,
		     uint32_t nr_gsis);

/* irq_routing_destroy - free the table (KVM keeps what it was given). */
void irq_routing_destroy(struct irq_routing *r);

/*
 * irq_routing_msi_alloc - reserve a free GSI >= IRQ_ROUTING_MSI_BASE for an
 * MSI vector; it has no route yet (nothing is pushed). Returns the GSI, or
 * -ENOSPC when all are taken.
 */
int irq_routing_msi_alloc(struct irq_routing *r);

/*
 * irq_routing_msi_free - release a GSI from irq_routing_msi_alloc() and
 * drop its route from the table. KVM is not told at once (its stale entry
 * is harmless: nothing signals that GSI once its irqfd is unbound) but
 * with the next push. Unknown GSIs are ignored.
 */
void irq_routing_msi_free(struct irq_routing *r, uint32_t gsi);

/*
 * irq_routing_msi_valid - whether KVM accepts an MSI route for this
 * message: an address in the local APIC's 0xfee00000-0xfeefffff range with
 * a zero upper half (no extended destination IDs are offered).
 */
bool irq_routing_msi_valid(uint64_t addr, uint32_t data);

/*
 * irq_routing_msi_set - route allocated GSI gsi to the message (addr,
 * data), adding or replacing its entry, and push the table when it
 * changed. On failure the previous route is kept. Returns 0, -EINVAL (gsi
 * not allocated, or a message irq_routing_msi_valid() refuses), -ENOMEM,
 * or the push's error.
 */
int irq_routing_msi_set(struct irq_routing *r, uint32_t gsi, uint64_t addr, uint32_t data);

/*
 * irq_routing_msi_clear - remove gsi's route (it stays allocated) and push
 * the table if there was one. Returns 0, -EINVAL for a GSI not allocated,
 * or the push's error (the route is then kept).
 */
int irq_routing_msi_clear(struct irq_routing *r, uint32_t gsi);

/*
 * irq_routing_irqfd - bind eventfd fd to gsi (KVM_IRQFD), or unbind it
 * when assign is false. Returns 0 or -errno (-EINVAL for a GSI out of
 * range).
 */
int irq_routing_irqfd(struct irq_routing *r, int fd, uint32_t gsi, bool assign);

/*
 * irq_routing_signal_msi - inject one message without a route
 * (KVM_SIGNAL_MSI), for when no GSI is left. Returns 0 (or 1 as KVM does
 * when delivered), -EINVAL for an invalid message, -ENOTSUP without the op.
 */
int irq_routing_signal_msi(struct irq_routing *r, uint64_t addr, uint32_t data);

/*
 * irq_routing_lookup - copy the entry for gsi of the given type
 * (KVM_IRQ_ROUTING_IRQCHIP or _MSI; for IRQCHIP also matching irqchip) into
 * *out. Returns true when found. For tests and diagnostics.
 */
bool irq_routing_lookup(struct irq_routing *r, uint32_t gsi, uint32_t type, uint32_t irqchip,
			struct kvm_irq_routing_entry *out);

/* irq_routing_count - number of entries in the table. */
uint32_t irq_routing_count(struct irq_routing *r);

#endif
