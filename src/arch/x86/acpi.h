/* SPDX-License-Identifier: MIT */
/*
 * ACPI tables for an x86 guest: RSDP (revision 2), XSDT and RSDT, FADT
 * (revision 6, full hardware model, not hardware-reduced), FACS, DSDT and
 * MADT, optionally MCFG. They let a kernel without MP-table support find
 * every vCPU (MADT), power off (\_S5 and PM1a control) and reset (FADT
 * reset register) the machine.
 *
 * The tables are laid out in one caller-provided buffer which the caller
 * copies to guest-physical address base_gpa (hearth: LAYOUT_ACPI_START,
 * the region up to LAYOUT_ACPI_END is reserved in the e820 map). The RSDP
 * comes first, so a guest that scans 0xe0000..0xfffff finds it.
 */
#ifndef HEARTH_ARCH_X86_ACPI_H
#define HEARTH_ARCH_X86_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86/layout.h"

struct aml;

#define ACPI_OEM_ID	 "HEARTH" /* 6 characters */
#define ACPI_CREATOR_ID	 "HRTH"
#define ACPI_RSDP_SIZE	 36
#define ACPI_HEADER_SIZE 36
#define ACPI_FADT_SIZE	 276 /* revision 6 */
#define ACPI_FACS_SIZE	 64

/* Optional extras; a zeroed struct (or NULL) means none. */
struct acpi_options {
	/*
	 * Called while the DSDT's Scope (\_SB) is open, to append more devices
	 * (e.g. a PNP0A08 PCI host bridge with its _CRS and _PRT). Return 0,
	 * or a negative errno that acpi_build_ext() then returns.
	 */
	int (*dsdt_sb_hook)(struct aml *aml, void *opaque);
	void *opaque;
	/*
	 * When mcfg is set, add an MCFG table: PCI segment 0, buses
	 * ecam_bus_start..ecam_bus_end of the ECAM area whose bus 0 starts at
	 * ecam_base (1 MiB per bus; hearth: LAYOUT_ECAM_BASE, buses 0-255).
	 * The DSDT hook then adds the matching PNP0A08 host bridge.
	 */
	bool mcfg;
	uint64_t ecam_base;
	uint8_t ecam_bus_start;
	uint8_t ecam_bus_end;
};

/*
 * acpi_build - build the ACPI tables for layout l (l->ncpus vCPUs, APIC ids
 * 0..ncpus-1) into buf[0..cap), to be placed at guest-physical base_gpa.
 * Returns the number of bytes used and stores the guest address of the RSDP
 * (base_gpa itself) in *rsdp_gpa. Errors: -EINVAL (ncpus 0 or above
 * LAYOUT_MAX_CPUS, base_gpa not 16-byte aligned, tables not below 4 GiB),
 * -ENOSPC when cap is too small (buf is then left untouched), -ENOMEM.
 * Up to LAYOUT_MAX_CPUS vCPUs fit in LAYOUT_ACPI_END - LAYOUT_ACPI_START.
 */
int acpi_build(const struct machine_layout *l, uint8_t *buf, size_t cap, uint64_t base_gpa,
	       uint64_t *rsdp_gpa);

/*
 * acpi_build_ext - acpi_build() with extras (opts may be NULL). Also
 * returns -EINVAL for an MCFG bus range with end < start, and whatever the
 * DSDT hook returns.
 */
int acpi_build_ext(const struct machine_layout *l, const struct acpi_options *opts, uint8_t *buf,
		   size_t cap, uint64_t base_gpa, uint64_t *rsdp_gpa);

/*
 * acpi_checksum - the 8-bit sum of len bytes. A table with a correct
 * checksum byte sums to 0.
 */
uint8_t acpi_checksum(const void *data, size_t len);

#endif
