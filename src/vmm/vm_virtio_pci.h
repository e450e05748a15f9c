/* SPDX-License-Identifier: MIT */
/*
 * The VM's virtio devices on virtio-pci: each device gets a function on
 * the VM's PCI host (vm->pci.host, set up by vm_pci_setup()), MSI-X routes
 * from vm->pci.routing, INTx through the host's KVM_IRQ_LINE wiring, and
 * one KVM ioeventfd per queue at its notify address (any write length, no
 * data match) that follows the BAR wherever the guest maps it; the
 * eventfds are served on vm->loop.
 *
 * Order: add every device with vm_add_virtio_pci() after vm_pci_setup(),
 * then give the BARs addresses once with pci_host_assign_resources()
 * (what firmware would do) before the guest starts. On teardown, call
 * vm_remove_virtio_pci() for each of them after the vCPU threads have
 * stopped and before the device itself is destroyed, vm_pci_destroy(),
 * kvm_close() and event_loop_destroy().
 */
#ifndef HEARTH_VMM_VM_VIRTIO_PCI_H
#define HEARTH_VMM_VM_VIRTIO_PCI_H

#include <stddef.h>

#include "devices/virtio/virtio.h"

struct vm;
struct vm_pci;

/*
 * vm_add_virtio_pci - put dev (initialized with virtio_device_init() over
 * vm->mem and vm->loop) on pci's host as a virtio-pci function. When KVM
 * refuses the ioeventfds, guest kicks arrive as MMIO exits instead (a
 * warning says so). dev must stay until vm_remove_virtio_pci(). Returns the
 * PCI slot (1-31), or -errno with one line in err (-ENOSPC: no free slot).
 */
int vm_add_virtio_pci(struct vm *vm, struct vm_pci *pci, struct virtio_device *dev, char *err,
		      size_t errlen);

/*
 * vm_remove_virtio_pci - take dev's virtio-pci function off its host,
 * unbind and close its ioeventfds, free its MSI-X vectors and the
 * transport. dev must have been added with vm_add_virtio_pci(); nothing
 * happens for a device without a transport.
 */
void vm_remove_virtio_pci(struct virtio_device *dev);

#endif
