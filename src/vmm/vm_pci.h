/* SPDX-License-Identifier: MIT */
/*
 * The VM's PCI side: the KVM GSI routing table (irq_routing) and the PCI
 * host bridge on the VM's buses, with the ACPI options that describe it.
 * struct vm embeds one struct vm_pci; vm_create() calls vm_pci_setup()
 * once the legacy devices exist, vm_load_guest() builds the ACPI tables
 * with vm_pci_acpi_options(), vm_destroy() calls vm_pci_destroy() while the
 * VM's file descriptor is still open.
 *
 * PCI devices (virtio-pci) are added with pci_add_device(&vm->pci.host, d)
 * and get their MSI-X routes from &vm->pci.routing.
 */
#ifndef HEARTH_VMM_VM_PCI_H
#define HEARTH_VMM_VM_PCI_H

#include <stdbool.h>
#include <stddef.h>

#include "core/irq_routing.h"
#include "devices/pci/pci.h"

struct vm;
struct acpi_options;

struct vm_pci {
	bool routing_ready;
	bool host_ready;
	struct irq_routing routing;
	struct pci_host host;
};

/*
 * vm_pci_setup - push the initial GSI routing table (the PC's IOAPIC and
 * PIC routes; it replaces the one KVM_CREATE_IRQCHIP made) and create the
 * host bridge: ECAM on vm->mmio, ports 0xcf8-0xcff on vm->pio (0xcf9 goes
 * to vm->cf9, which must be initialized and not registered on its own),
 * INTx through KVM_IRQ_LINE. Needs the VM's irqchip. Returns 0, or -errno
 * with one line in err.
 */
int vm_pci_setup(struct vm_pci *p, struct vm *vm, char *err, size_t errlen);

/*
 * vm_pci_acpi_options - fill o for acpi_build_ext(): the PCI0 device and
 * MCFG table for vm's layout (vm must outlive the build).
 */
void vm_pci_acpi_options(struct vm_pci *p, const struct vm *vm, struct acpi_options *o);

/*
 * vm_pci_destroy - remove the host bridge from the buses and free the
 * routing table. Safe on a zeroed or half set-up struct.
 */
void vm_pci_destroy(struct vm_pci *p);

#endif
