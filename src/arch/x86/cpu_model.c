/* SPDX-License-Identifier: MIT */
#include "arch/x86/cpu_model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CPUID_1_ECX_HYPERVISOR (1U << 31)
#define CPUID_1_EDX_HTT	       (1U << 28)

const struct kvm_cpuid_entry2 *cpu_model_find(const struct kvm_cpuid_entry2 *entries, unsigned nent,
					      uint32_t function, uint32_t index)
{
	for (unsigned i = 0; i < nent; i++) {
		const struct kvm_cpuid_entry2 *e = &entries[i];
		if (e->function != function)
			continue;
		if ((e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) && e->index != index)
			continue;
		return e;
	}
	return NULL;
}

int cpu_model_from_supported(struct cpu_model *m, const struct kvm_cpuid_entry2 *entries,
			     unsigned nent)
{
	const struct kvm_cpuid_entry2 *e;

	if (nent == 0 || nent > CPU_MODEL_MAX_ENTRIES)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	memcpy(m->entries, entries, nent * sizeof(*entries));
	m->nent = nent;
	for (unsigned i = 0; i < nent; i++) {
		struct kvm_cpuid_entry2 *x = &m->entries[i];
		switch (x->function) {
		case 0:
			memcpy(m->vendor, &x->ebx, 4);
			memcpy(m->vendor + 4, &x->edx, 4);
			memcpy(m->vendor + 8, &x->ecx, 4);
			break;
		case 1:
			x->ecx |= CPUID_1_ECX_HYPERVISOR;
			break;
		case 0xd:
			/*
			 * XSAVE area size for the features XCR0 enables: give the
			 * size for all of them (Linux enables every one offered),
			 * as KVM does not always refresh it when the guest sets XCR0.
			 */
			if (x->index == 0)
				x->ebx = x->ecx;
			break;
		case 0xa:
			/* No virtual PMU: counters are host specific and not migratable. */
			x->eax = x->ebx = x->ecx = x->edx = 0;
			break;
		default:
			break;
		}
	}
	e = cpu_model_find(m->entries, m->nent, 0xd, 0);
	if (e)
		m->xsave_size = e->ecx;
	e = cpu_model_find(m->entries, m->nent, 0x80000008, 0);
	m->phys_bits = e ? (uint8_t)(e->eax & 0xff) : 36;
	if (m->phys_bits < 32 || m->phys_bits > 52)
		m->phys_bits = 36;
	return 0;
}

int cpu_model_probe(struct cpu_model *m, int kvm_fd)
{
	struct kvm_cpuid2 *c;
	int r;

	c = calloc(1, sizeof(*c) + CPU_MODEL_MAX_ENTRIES * sizeof(c->entries[0]));
	if (!c)
		return -ENOMEM;
	c->nent = CPU_MODEL_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		r = -errno;
		free(c);
		return r;
	}
	r = cpu_model_from_supported(m, c->entries, c->nent);
	free(c);
	if (r)
		return r;
	r = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_GET_TSC_KHZ);
	(void)r; /* the TSC frequency is read per vCPU (KVM_GET_TSC_KHZ) by the VMM */
	return 0;
}

static unsigned order_base_2(unsigned n)
{
	unsigned s = 0;

	while ((1U << s) < n)
		s++;
	return s;
}

unsigned cpu_model_vcpu_cpuid(const struct cpu_model *m, unsigned index, unsigned ncpus,
			      struct kvm_cpuid_entry2 *out)
{
	unsigned shift = order_base_2(ncpus);
	uint32_t apic_id = index;

	memcpy(out, m->entries, m->nent * sizeof(*out));
	for (unsigned i = 0; i < m->nent; i++) {
		struct kvm_cpuid_entry2 *e = &out[i];
		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffffU) | (apic_id << 24) |
				 ((ncpus > 255 ? 255 : ncpus) << 16);
			if (ncpus > 1)
				e->edx |= CPUID_1_EDX_HTT;
			else
				e->edx &= ~CPUID_1_EDX_HTT;
			break;
		case 4:
			/* Cores per package - 1 in 31:26; caches shared by one thread. */
			e->eax = (e->eax & 0x3fffU) | (((ncpus - 1) & 0x3f) << 26);
			break;
		case 0xb:
		case 0x1f:
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1U << 8) | 0;
			} else if (e->index == 1) {
				e->eax = shift;
				e->ebx = ncpus;
				e->ecx = (2U << 8) | 1;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000001:
			/* CmpLegacy: one core per logical processor. */
			if (ncpus > 1)
				e->ecx |= 1U << 1;
			break;
		case 0x80000008:
			e->ecx = (e->ecx & ~0xf0ffU) | (shift << 12) | ((ncpus - 1) & 0xff);
			break;
		case 0x8000001e:
			e->eax = apic_id;
			e->ebx = apic_id & 0xff; /* core id, one thread per core */
			e->ecx = 0;
			break;
		default:
			break;
		}
	}
	return m->nent;
}
