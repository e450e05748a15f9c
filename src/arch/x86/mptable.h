/* SPDX-License-Identifier: MIT */
/*
 * Intel MultiProcessor Specification 1.4 tables, for guest kernels that
 * look for their CPUs and interrupt routing there rather than in ACPI
 * (older kernels, kernels booted with acpi=off). ACPI (acpi.h) is the
 * primary description; this one mirrors it: processors with APIC ids
 * 0..ncpus-1 (cpu 0 the bootstrap processor), one ISA bus, the IOAPIC, ISA
 * IRQs 0-15 routed to IOAPIC pins (IRQ 0 to pin 2, IRQ 2 (the cascade)
 * left out, the others to the pin of the same number, IRQ 9 (the ACPI SCI)
 * level-triggered active-high), ExtINT on LINT0 and NMI on LINT1.
 *
 * The floating pointer structure comes first, the configuration table
 * right after it. hearth places both at LAYOUT_EBDA_START, the first
 * kilobyte of the last KiB of base memory, where kernels scan for them.
 * That kilobyte holds up to MPTABLE_MAX_CPUS_EBDA vCPUs; with more,
 * mptable_build() returns -ENOSPC and hearth boots the guest without an MP
 * table (ACPI alone describes the machine; a kernel that only reads MP
 * tables then runs on one CPU, as it would on hardware without one).
 */
#ifndef HEARTH_ARCH_X86_MPTABLE_H
#define HEARTH_ARCH_X86_MPTABLE_H

#include <stddef.h>
#include <stdint.h>

/* Bytes needed for ncpus vCPUs. */
#define MPTABLE_SIZE(ncpus) (16 + 44 + 20 * (size_t)(ncpus) + 8 + 8 + 15 * 8 + 2 * 8)

/* The most vCPUs whose table fits in the 1 KiB at LAYOUT_EBDA_START. */
#define MPTABLE_MAX_CPUS_EBDA 40

/*
 * mptable_build - write the MP floating pointer and configuration table
 * for ncpus vCPUs into buf[0..cap), to be placed at guest-physical
 * base_gpa. Returns the number of bytes used (MPTABLE_SIZE(ncpus)).
 * Errors: -EINVAL for ncpus 0 or above LAYOUT_MAX_CPUS, a base_gpa not
 * 16-byte aligned or a table that would reach 4 GiB; -ENOSPC when cap is
 * too small (nothing is written then).
 */
int mptable_build(unsigned ncpus, uint8_t *buf, size_t cap, uint64_t base_gpa);

#endif
