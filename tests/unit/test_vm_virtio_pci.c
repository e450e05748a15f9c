/* SPDX-License-Identifier: MIT */
/*
 * vm_virtio_pci over a real KVM VM (the local /dev/kvm; skipped without
 * one): the function appears on the VM's PCI host, its ioeventfds are
 * registered with KVM at the notify addresses of the mapped BAR and follow
 * it, and removal leaves nothing behind. KVM says whether an ioeventfd is
 * registered: binding the same address again fails with EEXIST.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/log.h"
#include "devices/virtio/virtio_pci.h"
#include "vmm/vm.h"
#include "vmm/vm_pci.h"
#include "vmm/vm_virtio_pci.h"

static const struct virtio_device_ops dummy_ops = {
    .name = "dummy",
    .device_id = VIRTIO_ID_RNG,
    .num_queues = 3,
    .queue_max_size = 16,
};

struct fixture {
	struct vm *vm;
	struct virtio_device dev;
	int probe_fd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct gm_range ranges[] = {{0, 0x100000}};
	char err[256];
	struct vm *vm;

	assert_non_null(f);
	f->vm = vm = calloc(1, sizeof(*vm));
	assert_non_null(vm);
	if (kvm_open(&vm->kvm, err, sizeof(err)) || kvm_create_vm(&vm->kvm) ||
	    ioctl(vm->kvm.vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		if (vm->kvm.fd > 0)
			kvm_close(&vm->kvm);
		free(vm);
		free(f);
		skip();
	}
	assert_int_equal(layout_compute(&vm->layout, 256ULL << 20, 1, 40, err, sizeof(err)), 0);
	bus_init(&vm->pio, "pio");
	bus_init(&vm->mmio, "mmio");
	cf9_reset_init(&vm->cf9, NULL, NULL);
	assert_int_equal(gm_create(&vm->mem, ranges, 1, GM_BACKING_ANON, NULL), 0);
	assert_int_equal(event_loop_init(&vm->loop), 0);
	assert_int_equal(vm_pci_setup(&vm->pci, vm, err, sizeof(err)), 0);
	assert_int_equal(virtio_device_init(&f->dev, &dummy_ops, NULL, &vm->mem, &vm->loop), 0);
	f->probe_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(f->probe_fd >= 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	struct vm *vm = f->vm;

	vm_remove_virtio_pci(&f->dev);
	virtio_device_destroy(&f->dev);
	vm_pci_destroy(&vm->pci);
	event_loop_destroy(&vm->loop);
	gm_destroy(&vm->mem);
	cf9_reset_destroy(&vm->cf9);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	kvm_close(&vm->kvm);
	close(f->probe_fd);
	free(vm);
	free(f);
	return 0;
}

/* Whether KVM has an any-length MMIO ioeventfd at addr (ours, or it would take the probe). */
static bool kvm_has_ioeventfd(struct fixture *f, uint64_t addr)
{
	int r = kvm_ioeventfd(&f->vm->kvm, addr, 0, false, false, 0, f->probe_fd, true);

	if (r == 0) {
		assert_int_equal(
		    kvm_ioeventfd(&f->vm->kvm, addr, 0, false, false, 0, f->probe_fd, false), 0);
		return false;
	}
	assert_int_equal(r, -EEXIST);
	return true;
}

static void test_add_assign_remove(void **state)
{
	struct fixture *f = *state;
	struct pci_host *h = &f->vm->pci.host;
	struct virtio_pci *vp;
	uint64_t bar, moved = LAYOUT_MMIO32_START + 0x200000;
	char err[256] = "";
	uint16_t cmd;
	int slot;

	slot = vm_add_virtio_pci(f->vm, &f->vm->pci, &f->dev, err, sizeof(err));
	assert_int_equal(slot, 1);
	vp = virtio_pci_of(&f->dev);
	assert_non_null(vp);
	assert_ptr_equal(h->slots[1], &vp->pci);
	assert_int_equal(pci_cfg_get16(&vp->pci, PCI_DEVICE_ID), 0x1040 + VIRTIO_ID_RNG);

	/* Firmware's assignment maps the BAR: one ioeventfd per queue in KVM. */
	assert_false(kvm_has_ioeventfd(f, VIRTIO_PCI_NOTIFY_OFF));
	assert_int_equal(pci_host_assign_resources(h), 0);
	assert_true(pci_device_bar_mapped(&vp->pci, VIRTIO_PCI_BAR, &bar));
	for (unsigned q = 0; q < 3; q++)
		assert_true(kvm_has_ioeventfd(f, bar + VIRTIO_PCI_NOTIFY_OFF + 4 * q));
	assert_false(kvm_has_ioeventfd(f, bar + VIRTIO_PCI_NOTIFY_OFF + 4 * 3));

	/* The guest moves the BAR: KVM follows. */
	pthread_mutex_lock(&h->lock);
	cmd = pci_cfg_get16(&vp->pci, PCI_COMMAND);
	pthread_mutex_unlock(&h->lock);
	{
		uint64_t ecam = LAYOUT_ECAM_BASE + ((uint64_t)slot << 15);
		uint8_t d[4];

		d[0] = (uint8_t)(cmd & ~PCI_COMMAND_MEMORY);
		d[1] = (uint8_t)(cmd >> 8);
		assert_true(bus_write(&f->vm->mmio, ecam + PCI_COMMAND, d, 2));
		assert_false(kvm_has_ioeventfd(f, bar + VIRTIO_PCI_NOTIFY_OFF));
		memcpy(d, &(uint32_t){(uint32_t)moved}, 4);
		assert_true(bus_write(&f->vm->mmio, ecam + PCI_BASE_ADDRESS_4, d, 4));
		memset(d, 0, 4);
		assert_true(bus_write(&f->vm->mmio, ecam + PCI_BASE_ADDRESS_5, d, 4));
		d[0] = (uint8_t)cmd;
		d[1] = (uint8_t)(cmd >> 8);
		assert_true(bus_write(&f->vm->mmio, ecam + PCI_COMMAND, d, 2));
	}
	assert_true(kvm_has_ioeventfd(f, moved + VIRTIO_PCI_NOTIFY_OFF + 8));
	assert_false(kvm_has_ioeventfd(f, bar + VIRTIO_PCI_NOTIFY_OFF + 8));

	/* Removal: the slot is free, KVM holds no ioeventfd of ours. */
	vm_remove_virtio_pci(&f->dev);
	assert_null(virtio_pci_of(&f->dev));
	assert_null(h->slots[1]);
	for (unsigned q = 0; q < 3; q++)
		assert_false(kvm_has_ioeventfd(f, moved + VIRTIO_PCI_NOTIFY_OFF + 4 * q));
	vm_remove_virtio_pci(&f->dev); /* nothing left: no effect */
}

static void test_errors(void **state)
{
	struct fixture *f = *state;
	struct vm_pci none;
	char err[256] = "";

	memset(&none, 0, sizeof(none));
	assert_int_equal(vm_add_virtio_pci(f->vm, &none, &f->dev, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "before the PCI host"));
	assert_null(virtio_pci_of(&f->dev));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_add_assign_remove, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
	};

	log_set_level(LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
