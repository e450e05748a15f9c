/* SPDX-License-Identifier: MIT */
/*
 * The VM-wide KVM state outside the vCPUs: the in-kernel irqchip's two
 * 8259 PICs and its IOAPIC, the in-kernel PIT (8254) and kvmclock (the
 * guest's paravirtual clock: KVM_GET/SET_CLOCK). Each vCPU's LAPIC is part
 * of its own state (vmm/vcpu_state.h).
 *
 * A plain, fixed-size struct of KVM's own fixed-layout structures, ready to
 * be written out and read back by the snapshot and migration code.
 */
#ifndef HEARTH_VMM_IRQCHIP_STATE_H
#define HEARTH_VMM_IRQCHIP_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "vmm/vm.h"

#define IRQCHIP_STATE_VERSION 1

struct irqchip_state {
	uint32_t version; /* IRQCHIP_STATE_VERSION */
	uint32_t reserved;
	struct kvm_pic_state pic_master; /* KVM_IRQCHIP_PIC_MASTER */
	struct kvm_pic_state pic_slave;	 /* KVM_IRQCHIP_PIC_SLAVE */
	struct kvm_ioapic_state ioapic;	 /* KVM_IRQCHIP_IOAPIC */
	struct kvm_pit_state2 pit;
	struct kvm_clock_data clock; /* clock: kvmclock's nanoseconds */
};

/*
 * irqchip_state_save - capture vm's PICs, IOAPIC, PIT and kvmclock into s
 * (zeroed first). No vCPU may be running (vm_vcpus_stopped(): the VM is
 * paused, or its vCPU threads are not running). Devices on the event loop
 * may still raise interrupt lines while the VM is paused: call it from the
 * event-loop thread, as part of one handler, to capture a state consistent
 * with theirs. Returns 0, -EBUSY (vCPUs running), or the -errno of the KVM
 * ioctl that failed (logged with its name).
 */
int irqchip_state_save(struct vm *vm, struct irqchip_state *s);

/*
 * irqchip_state_restore - put state s (from irqchip_state_save()) back into
 * vm's irqchip, PIT and kvmclock. The clock is set to the saved value
 * (KVM_SET_CLOCK without flags): the guest's clock does not count the time
 * between saving and restoring. Same conditions as for saving. Returns 0,
 * -EBUSY (vCPUs running), -EINVAL (not a state of this version), or the
 * -errno of the KVM ioctl that failed.
 */
int irqchip_state_restore(struct vm *vm, const struct irqchip_state *s);

#endif
