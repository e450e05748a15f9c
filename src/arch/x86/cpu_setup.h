/* SPDX-License-Identifier: MIT */
/*
 * Putting a vCPU into the state an x86 kernel expects at its entry point:
 * CPUID, MSRs, FPU, local APIC, and for the boot vCPU the registers, the boot
 * GDT and the identity page tables.
 */
#ifndef HEARTH_ARCH_X86_CPU_SETUP_H
#define HEARTH_ARCH_X86_CPU_SETUP_H

#include <linux/kvm.h>
#include <stdint.h>

#include "core/guest_memory.h"

enum x86_entry_mode {
	X86_ENTRY_LONG64, /* 64-bit Linux boot protocol: paging on, rsi = boot_params */
	X86_ENTRY_PROT32, /* PVH: 32-bit protected mode, paging off, rbx = start_info */
};

/* Boot GDT selectors. */
#define X86_BOOT_CS64 0x10
#define X86_BOOT_DS   0x18
#define X86_BOOT_TSS  0x20
#define X86_BOOT_CS32 0x28

/*
 * x86_write_boot_tables - write the boot GDT, an empty IDT and page tables
 * identity-mapping the first 4 GiB (2 MiB pages) into guest memory at the
 * fixed low addresses of the machine layout. Returns 0 or -EFAULT.
 */
int x86_write_boot_tables(struct guest_memory *gm);

/*
 * x86_vcpu_setup_cpu - give a vCPU its CPUID table, the MSRs Linux expects
 * (SYSENTER/SYSCALL cleared, fast strings, MTRRs write-back by default),
 * a reset FPU and a local APIC with LINT0 = ExtINT and LINT1 = NMI.
 * Returns 0 or -errno.
 */
int x86_vcpu_setup_cpu(int vcpu_fd, const struct kvm_cpuid_entry2 *cpuid, unsigned nent);

/*
 * x86_vcpu_setup_regs - registers and segment state of the boot vCPU for
 * the given entry mode. rip is the entry point; boot_info goes to rsi
 * (LONG64, zero page) or rbx (PROT32, PVH start_info). Returns 0 or -errno.
 */
int x86_vcpu_setup_regs(int vcpu_fd, enum x86_entry_mode mode, uint64_t rip, uint64_t boot_info);

#endif
