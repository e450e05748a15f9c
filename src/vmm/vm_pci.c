/* SPDX-License-Identifier: MIT */
/* The VM's GSI routing and PCI host bridge (see vm_pci.h). */
#include "vmm/vm_pci.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "core/log.h"
#include "vmm/vm.h"

int vm_pci_setup(struct vm_pci *p, struct vm *vm, char *err, size_t errlen)
{
	int nr_gsis = kvm_vm_check_extension(&vm->kvm, KVM_CAP_IRQ_ROUTING);
	int r;

	r = irq_routing_init(&p->routing, &irq_routing_kvm_ops, &vm->kvm,
			     nr_gsis > 0 ? (uint32_t)nr_gsis : 0);
	if (r) {
		snprintf(err, errlen, "cannot set the interrupt routing: %s", strerror(-r));
		return r;
	}
	p->routing_ready = true;
	r = pci_host_init(&p->host, &vm->pio, &vm->mmio, &vm->layout, vm_irq(vm, 0), &vm->cf9);
	if (r) {
		snprintf(err, errlen,
			 "internal error: the PCI configuration ranges (ECAM, ports 0xcf8-0xcff) "
			 "are taken: %s",
			 strerror(-r));
		return r;
	}
	p->host_ready = true;
	return 0;
}

void vm_pci_acpi_options(struct vm_pci *p, const struct vm *vm, struct acpi_options *o)
{
	(void)p;
	memset(o, 0, sizeof(*o));
	pci_acpi_options(o, &vm->layout);
}

void vm_pci_destroy(struct vm_pci *p)
{
	if (p->host_ready)
		pci_host_destroy(&p->host);
	if (p->routing_ready)
		irq_routing_destroy(&p->routing);
	p->host_ready = p->routing_ready = false;
}
