/* SPDX-License-Identifier: MIT */
/* The vCPU threads: the KVM_RUN loop and exit dispatch. */
#include "core/log.h"
#include "vmm/dirty_ring.h"
#include "vmm/vm.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

/* One more in a counter only this vCPU's thread writes (others read it). */
static void count(uint64_t *c)
{
	__atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

static int handle_io(struct vcpu *vcpu, struct kvm_run *run)
{
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	uint32_t size = run->io.size;

	if ((size != 1 && size != 2 && size != 4) || run->io.count == 0 ||
	    run->io.data_offset > vcpu->vm->kvm.run_size ||
	    (uint64_t)size * run->io.count > vcpu->vm->kvm.run_size - run->io.data_offset) {
		log_guest_error("malformed port I/O exit (port %#x size %u count %u)", run->io.port,
				size, run->io.count);
		count(&vcpu->exit_counts.guest_errors);
		return 0;
	}
	for (uint32_t i = 0; i < run->io.count; i++, data += size) {
		if (run->io.direction == KVM_EXIT_IO_OUT) {
			if (!bus_write(&vcpu->vm->pio, run->io.port, data, size))
				log_debug("unhandled port write %#x size %u", run->io.port, size);
		} else {
			if (!bus_read(&vcpu->vm->pio, run->io.port, data, size))
				log_debug("unhandled port read %#x size %u", run->io.port, size);
		}
	}
	return 0;
}

static int handle_mmio(struct vcpu *vcpu, struct kvm_run *run)
{
	uint32_t len = run->mmio.len;

	if (len == 0 || len > sizeof(run->mmio.data)) {
		log_guest_error("malformed MMIO exit at %#llx len %u",
				(unsigned long long)run->mmio.phys_addr, len);
		count(&vcpu->exit_counts.guest_errors);
		return 0;
	}
	if (run->mmio.is_write) {
		if (!bus_write(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len))
			log_debug("unhandled MMIO write %#llx len %u",
				  (unsigned long long)run->mmio.phys_addr, len);
	} else {
		if (!bus_read(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len))
			log_debug("unhandled MMIO read %#llx len %u",
				  (unsigned long long)run->mmio.phys_addr, len);
	}
	return 0;
}

int vcpu_handle_exit(struct vcpu *vcpu, struct kvm_run *run)
{
	struct vcpu_exit_counts *c = &vcpu->exit_counts;
	int r;

	count(&vcpu->exits);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		count(run->io.direction == KVM_EXIT_IO_OUT ? &c->io_out : &c->io_in);
		return handle_io(vcpu, run);
	case KVM_EXIT_MMIO:
		count(run->mmio.is_write ? &c->mmio_write : &c->mmio_read);
		return handle_mmio(vcpu, run);
	case KVM_EXIT_INTR:
		count(&c->intr);
		return 0;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; hearth always has one. */
		count(&c->hlt);
		return 0;
	case KVM_EXIT_SHUTDOWN:
		count(&c->shutdown);
		log_error("vCPU %u: the guest triple-faulted (KVM_EXIT_SHUTDOWN)", vcpu->index);
		/* SVM leaves the VMCB undefined on shutdown; KVM INITs the vCPU. */
		if (vcpu->vm && strcmp(vcpu->vm->cpu.vendor, "AuthenticAMD") == 0)
			log_error("vCPU %u: on AMD hosts KVM resets a vCPU that shuts down: the "
				  "registers below are its reset state, not where it faulted",
				  vcpu->index);
		return VM_EXIT_TRIPLE_FAULT;
	case KVM_EXIT_SYSTEM_EVENT:
		count(&c->system_event);
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
		case KVM_SYSTEM_EVENT_RESET:
			return VM_EXIT_OK;
		default:
			log_error("vCPU %u: unhandled system event %u", vcpu->index,
				  run->system_event.type);
			return VM_EXIT_UNHANDLED;
		}
	case KVM_EXIT_DIRTY_RING_FULL:
		/* The ring is full of pages written while dirty logging is on. */
		count(&c->dirty_ring_full);
		if (c->dirty_ring_full == 1)
			log_info("vCPU %u: its dirty ring filled up: the vCPU harvests it itself",
				 vcpu->index);
		r = dirty_ring_full(vcpu);
		if (r) {
			log_error("vCPU %u: cannot harvest its dirty ring: %s", vcpu->index,
				  strerror(-r));
			return VM_EXIT_HOST_ERROR;
		}
		return 0;
	case KVM_EXIT_INTERNAL_ERROR:
		count(&c->internal_error);
		log_error("vCPU %u: KVM internal error, suberror %u", vcpu->index,
			  run->internal.suberror);
		return VM_EXIT_INTERNAL_ERROR;
	case KVM_EXIT_FAIL_ENTRY:
		count(&c->fail_entry);
		log_error("vCPU %u: KVM could not enter the guest (hardware reason %#llx)",
			  vcpu->index,
			  (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return VM_EXIT_INTERNAL_ERROR;
	default:
		count(&c->other);
		log_error("vCPU %u: unhandled exit %u (%s)", vcpu->index, run->exit_reason,
			  kvm_exit_reason_name(run->exit_reason));
		return VM_EXIT_UNHANDLED;
	}
}

void vcpu_dump_registers(const struct vcpu *vcpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0) {
		fprintf(stderr, "vCPU %u: registers unavailable: %s\n", vcpu->index,
			strerror(errno));
		return;
	}
	fprintf(stderr,
		"vCPU %u registers:\n"
		" rip %016llx rflags %016llx\n"
		" rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		" rsi %016llx rdi %016llx rsp %016llx rbp %016llx\n"
		" r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
		" r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
		" cs %04x (base %llx dpl %u l %u) ss %04x ds %04x\n"
		" cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx efer %llx\n"
		" gdt %llx/%x idt %llx/%x\n",
		vcpu->index, r.rip, r.rflags, r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp,
		r.rbp, r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, s.cs.selector,
		s.cs.base, s.cs.dpl, s.cs.l, s.ss.selector, s.ds.selector, s.cr0, s.cr2, s.cr3,
		s.cr4, s.efer, s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit);
}
