/* SPDX-License-Identifier: MIT */
/*
 * The host bridge as ACPI describes it (see pci_acpi_dsdt() in pci.h).
 *
 * I/O window: [PCI_IO_WINDOW_START, PCI_IO_WINDOW_END) = 0x1000-0xefff.
 * Every fixed port of the machine (COM1, i8042, RTC, ACPI PM1, 0xcf8-0xcff)
 * lies below 0x1000, so a BAR placed in the window can never cover one;
 * 0xf000-0xffff stays out of it for fixed platform ports added later, so
 * that they cannot collide with a BAR a guest has placed either. 56 KiB of
 * ports is far more than I/O BARs (at most 256 bytes each) need.
 */
#include "arch/x86/acpi.h"
#include "arch/x86/aml.h"
#include "devices/pci/pci.h"

#include <errno.h>

#define ECAM_BUS_END 255

/* _PRT: INTA-INTD of every slot, straight to IOAPIC GSIs (Source 0). */
static void dsdt_prt(struct aml *t)
{
	size_t prt, entry;

	aml_name_decl(t, "_PRT");
	prt = aml_package_begin(t, PCI_MAX_SLOTS * 4);
	for (unsigned slot = 0; slot < PCI_MAX_SLOTS; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			entry = aml_package_begin(t, 4);
			aml_integer(t, (uint64_t)slot << 16 | 0xffff); /* any function */
			aml_integer(t, pin);
			aml_integer(t, 0); /* Source: none, SourceIndex is a GSI */
			aml_integer(t, pci_slot_gsi(slot, pin));
			aml_end(t, entry);
		}
	}
	aml_end(t, prt);
}

static void dsdt_crs(struct aml *t, const struct machine_layout *l)
{
	size_t crs;

	aml_name_decl(t, "_CRS");
	crs = aml_resource_template_begin(t);
	aml_word_bus_number(t, 0, ECAM_BUS_END);
	aml_io(t, true, PCI_CFG_PORT_BASE, PCI_CFG_PORT_BASE, 1, PCI_CFG_PORT_LEN);
	aml_dword_io(t, PCI_IO_WINDOW_START, PCI_IO_WINDOW_END - 1);
	aml_dword_memory(t, (uint32_t)LAYOUT_MMIO32_START,
			 (uint32_t)(LAYOUT_MMIO32_START + LAYOUT_MMIO32_SIZE - 1), false);
	if (l->mmio64_size)
		aml_qword_memory(t, l->mmio64_base, l->mmio64_base + l->mmio64_size - 1, false);
	aml_resource_template_end(t, crs);
}

/* PNP0C02 "motherboard resources" holding the ECAM: where Linux checks it is reserved. */
static void dsdt_ecam_reservation(struct aml *t)
{
	struct aml_addr_space ecam = {
	    .type = AML_AS_MEMORY,
	    .consumer = true,
	    .min_fixed = true,
	    .max_fixed = true,
	    .type_flags = AML_MEM_READ_WRITE | AML_MEM_NON_CACHEABLE,
	    .min = LAYOUT_ECAM_BASE,
	    .max = LAYOUT_ECAM_BASE + LAYOUT_ECAM_SIZE - 1,
	    .length = LAYOUT_ECAM_SIZE,
	};
	size_t dev, crs;

	dev = aml_device_begin(t, "MRES");
	aml_name_eisaid(t, "_HID", "PNP0C02");
	aml_name_integer(t, "_UID", 0);
	aml_name_decl(t, "_CRS");
	crs = aml_resource_template_begin(t);
	aml_dword_space(t, &ecam);
	aml_resource_template_end(t, crs);
	aml_end(t, dev);
}

void pci_acpi_dsdt(struct aml *t, const struct machine_layout *l)
{
	size_t dev = aml_device_begin(t, "PCI0");

	aml_name_eisaid(t, "_HID", "PNP0A08");
	aml_name_eisaid(t, "_CID", "PNP0A03");
	aml_name_integer(t, "_SEG", 0);
	aml_name_integer(t, "_BBN", 0);
	aml_name_integer(t, "_UID", 0);
	dsdt_crs(t, l);
	dsdt_prt(t);
	aml_end(t, dev);
	dsdt_ecam_reservation(t);
}

int pci_acpi_dsdt_hook(struct aml *t, void *opaque)
{
	if (!opaque)
		return -EINVAL;
	pci_acpi_dsdt(t, opaque);
	return aml_error(t);
}

void pci_acpi_options(struct acpi_options *o, const struct machine_layout *l)
{
	o->dsdt_sb_hook = pci_acpi_dsdt_hook;
	o->opaque = (void *)l;
	o->mcfg = true;
	o->ecam_base = LAYOUT_ECAM_BASE;
	o->ecam_bus_start = 0;
	o->ecam_bus_end = ECAM_BUS_END;
}
