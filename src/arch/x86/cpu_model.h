/* SPDX-License-Identifier: MIT */
/*
 * The CPU model a VM is given: the CPUID table derived from what KVM
 * supports on this host, the XSAVE area size and the TSC frequency. It is
 * part of the VM's machine description: snapshots and migration check it
 * against the destination host.
 */
#ifndef HEARTH_ARCH_X86_CPU_MODEL_H
#define HEARTH_ARCH_X86_CPU_MODEL_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_MODEL_MAX_ENTRIES 256

struct cpu_model {
	unsigned nent;
	struct kvm_cpuid_entry2 entries[CPU_MODEL_MAX_ENTRIES]; /* the VM's base table */
	uint32_t xsave_size; /* bytes of XSAVE state (CPUID.0xD.0:ECX), 0 without XSAVE */
	uint32_t tsc_khz;    /* guest TSC frequency, 0 when unknown */
	uint8_t phys_bits;   /* guest physical address width */
	char vendor[13];
};

/*
 * cpu_model_from_supported - build the base CPU model from the table that
 * KVM_GET_SUPPORTED_CPUID returned (entries, nent): hypervisor bit set, PMU
 * hidden, KVM paravirtual leaves kept. Returns 0 or -EINVAL.
 */
int cpu_model_from_supported(struct cpu_model *m, const struct kvm_cpuid_entry2 *entries,
			     unsigned nent);

/*
 * cpu_model_probe - query KVM (kvm_fd = /dev/kvm) for the supported CPUID
 * and fill m. Returns 0 or -errno.
 */
int cpu_model_probe(struct cpu_model *m, int kvm_fd);

/*
 * cpu_model_vcpu_cpuid - the CPUID table for vCPU index of ncpus: APIC IDs
 * and topology leaves (1, 4, 0xB, 0x1F, 0x80000008, 0x8000001E) describe
 * ncpus cores of one socket, one thread each. out must hold
 * CPU_MODEL_MAX_ENTRIES entries; returns the entry count.
 */
unsigned cpu_model_vcpu_cpuid(const struct cpu_model *m, unsigned index, unsigned ncpus,
			      struct kvm_cpuid_entry2 *out);

/* cpu_model_find - the entry for (function, index), or NULL. */
const struct kvm_cpuid_entry2 *cpu_model_find(const struct kvm_cpuid_entry2 *entries, unsigned nent,
					      uint32_t function, uint32_t index);

#endif
