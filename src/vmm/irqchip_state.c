/* SPDX-License-Identifier: MIT */
/* Capturing and restoring the in-kernel irqchip, PIT and kvmclock. */
#include "vmm/irqchip_state.h"
#include "core/log.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

static int vm_ioctl(struct vm *vm, unsigned long req, void *arg, const char *name)
{
	if (ioctl(vm->kvm.vm_fd, req, arg) < 0) {
		int e = errno;

		log_error("%s: %s", name, strerror(e));
		return -e;
	}
	return 0;
}

static int chip_get(struct vm *vm, uint32_t id, void *out, size_t len)
{
	struct kvm_irqchip chip = {.chip_id = id};
	int r = vm_ioctl(vm, KVM_GET_IRQCHIP, &chip, "KVM_GET_IRQCHIP");

	if (!r)
		memcpy(out, &chip.chip, len);
	return r;
}

static int chip_set(struct vm *vm, uint32_t id, const void *in, size_t len)
{
	struct kvm_irqchip chip = {.chip_id = id};

	memcpy(&chip.chip, in, len);
	return vm_ioctl(vm, KVM_SET_IRQCHIP, &chip, "KVM_SET_IRQCHIP");
}

int irqchip_state_save(struct vm *vm, struct irqchip_state *s)
{
	int r;

	if (!vm_vcpus_stopped(vm))
		return -EBUSY;
	memset(s, 0, sizeof(*s));
	s->version = IRQCHIP_STATE_VERSION;
	r = chip_get(vm, KVM_IRQCHIP_PIC_MASTER, &s->pic_master, sizeof(s->pic_master));
	r = r ?: chip_get(vm, KVM_IRQCHIP_PIC_SLAVE, &s->pic_slave, sizeof(s->pic_slave));
	r = r ?: chip_get(vm, KVM_IRQCHIP_IOAPIC, &s->ioapic, sizeof(s->ioapic));
	r = r ?: vm_ioctl(vm, KVM_GET_PIT2, &s->pit, "KVM_GET_PIT2");
	r = r ?: vm_ioctl(vm, KVM_GET_CLOCK, &s->clock, "KVM_GET_CLOCK");
	return r;
}

int irqchip_state_restore(struct vm *vm, const struct irqchip_state *s)
{
	struct kvm_clock_data clock;
	int r;

	if (!vm_vcpus_stopped(vm))
		return -EBUSY;
	if (s->version != IRQCHIP_STATE_VERSION)
		return -EINVAL;
	/* Only the value: older kernels refuse any flag, and REALTIME would add the time since. */
	clock = (struct kvm_clock_data){.clock = s->clock.clock};
	r = chip_set(vm, KVM_IRQCHIP_PIC_MASTER, &s->pic_master, sizeof(s->pic_master));
	r = r ?: chip_set(vm, KVM_IRQCHIP_PIC_SLAVE, &s->pic_slave, sizeof(s->pic_slave));
	r = r ?: chip_set(vm, KVM_IRQCHIP_IOAPIC, &s->ioapic, sizeof(s->ioapic));
	r = r ?: vm_ioctl(vm, KVM_SET_PIT2, (void *)&s->pit, "KVM_SET_PIT2");
	r = r ?: vm_ioctl(vm, KVM_SET_CLOCK, &clock, "KVM_SET_CLOCK");
	return r;
}
