/* SPDX-License-Identifier: MIT */
/* The VM's virtio devices on virtio-pci (see vm_virtio_pci.h). */
#include "vmm/vm_virtio_pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/kvm.h"
#include "core/log.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/vm.h"
#include "vmm/vm_pci.h"

/* Notify writes of any length at addr signal fd in the kernel. */
static int vm_virtio_pci_ioeventfd(void *opaque, uint64_t addr, int fd, bool assign)
{
	struct vm *vm = opaque;

	return kvm_ioeventfd(&vm->kvm, addr, 0, false, false, 0, fd, assign);
}

int vm_add_virtio_pci(struct vm *vm, struct vm_pci *pci, struct virtio_device *dev, char *err,
		      size_t errlen)
{
	struct virtio_pci *vp;
	int slot;

	if (!pci->host_ready || !pci->routing_ready) {
		snprintf(err, errlen, "internal error: %s added before the PCI host exists",
			 dev->ops->name);
		return -EINVAL;
	}
	vp = calloc(1, sizeof(*vp));
	if (!vp) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	slot = virtio_pci_init(vp, dev, &pci->host, &pci->routing, vm_virtio_pci_ioeventfd, vm);
	if (slot < 0) {
		free(vp);
		if (slot == -ENOSPC)
			snprintf(err, errlen, "%s: no free PCI slot (at most %d devices)",
				 dev->ops->name, PCI_MAX_SLOTS - 1);
		else
			snprintf(err, errlen, "cannot create the virtio-pci function of %s: %s",
				 dev->ops->name, strerror(-slot));
		return slot;
	}
	log_info("%s: virtio-pci at 00:%02x.0", dev->ops->name, (unsigned)slot);
	return slot;
}

void vm_remove_virtio_pci(struct virtio_device *dev)
{
	struct virtio_pci *vp = virtio_pci_of(dev);

	if (!vp)
		return;
	virtio_pci_destroy(vp);
	free(vp);
}
